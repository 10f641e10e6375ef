"""How many cores a timed run got on a shared machine: its own processes against everyone else's.

A speed-up from more workers needs free cores. On a machine shared with other jobs, a ratio of
throughputs alone cannot tell a slow engine from a busy machine, so the benchmarks sample, every
`interval` seconds, the machine's busy CPU time (/proc/stat) and the CPU time of this process
and all its descendants (a local Ray's raylet and actors included), and report the cores each
used over a window. Linux only; elsewhere nothing is sampled and the figures are left out.

    with CpuSampler() as cpu:
        run()
    cpu.cores(since=start_seconds)   # {"cores_busy": 2.0, "cores_run": 1.1, "cores_others": 0.9}
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

PROC = Path("/proc")


def _machine_jiffies() -> tuple[int, int]:
    """(busy, total) CPU time of the machine since boot, in clock ticks."""
    values = [int(v) for v in (PROC / "stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle and iowait
    return sum(values) - idle, sum(values)


def _tree_jiffies(root: int) -> int:
    """CPU time of `root` and every live descendant, with their waited-for children."""
    parents: dict[int, int] = {}
    used: dict[int, int] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone since the listing
            continue
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        used[pid] = sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    tree, frontier = set(), {root}
    while frontier:
        tree |= frontier
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - tree
    return sum(used.get(pid, 0) for pid in tree)


class CpuSampler:
    """Samples machine and own-process-tree CPU in a thread while the block runs."""

    def __init__(self, interval: float = 0.25) -> None:
        self.interval = interval
        self.samples: list[tuple[float, int, int, int]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = 0.0

    def __enter__(self) -> CpuSampler:
        if (PROC / "stat").is_file():
            self._started = time.perf_counter()
            self._sample()
            self._thread = threading.Thread(target=self._loop, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._sample()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _sample(self) -> None:
        busy, total = _machine_jiffies()
        self.samples.append((time.perf_counter() - self._started, busy, total,
                             _tree_jiffies(os.getpid())))

    def cores(self, since: float = 0.0) -> dict[str, float]:
        """Cores in use on average from `since` seconds into the block to its end: the whole
        machine's, this run's processes' and the difference (other jobs); empty off Linux."""
        window = [s for s in self.samples if s[0] >= since] or self.samples[-1:]
        if len(window) < 2 or window[-1][0] <= window[0][0]:
            return {}
        seconds = window[-1][0] - window[0][0]
        ticks = os.sysconf("SC_CLK_TCK") * seconds
        cpus = os.cpu_count() or 1
        busy = (window[-1][1] - window[0][1]) / (window[-1][2] - window[0][2]) * cpus
        run = min(busy, (window[-1][3] - window[0][3]) / ticks)
        return {"cores_busy": round(busy, 2), "cores_run": round(run, 2),
                "cores_others": round(busy - run, 2)}
