"""Start a real `kgx serve` (uvicorn) on a free loopback port for tests and benchmarks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

SAMPLE_CORPUS = Path(__file__).resolve().parents[2] / "samples" / "corpus"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ServeProcess:
    """A running `kgx serve`; `url` has no trailing slash."""

    url: str
    process: subprocess.Popen
    log: Path

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_serve(store: str, *args: str, tokens: str | None = None, log_dir: Path,
                command: str = "serve", timeout_s: float = 120.0) -> ServeProcess:
    """`kgx serve --store STORE ARGS` (or `kgx mcp --transport http`) on a free port, once up."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "KGX_API_TOKENS"}
    if tokens is not None:
        env["KGX_API_TOKENS"] = tokens
    log = log_dir / f"kgx-{command}-{port}.log"
    cmd = [sys.executable, "-m", "kgx.cli", command, "--store", store, "--port", str(port), *args]
    with log.open("wb") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    server = ServeProcess(f"http://127.0.0.1:{port}", process, log)
    _wait_until_up(server, timeout_s, "/health" if command == "serve" else "/mcp")
    return server


def _wait_until_up(server: ServeProcess, timeout_s: float, path: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"kgx exited with {server.process.returncode}:\n"
                               + server.log.read_text(errors="replace")[-3000:])
        try:
            httpx.get(server.url + path, timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"kgx did not answer within {timeout_s} s; log: {server.log}")


def build_sample_store(uri: str) -> None:
    """Extract the bundled sample corpus into `uri` with the spaCy extractor."""
    from kgx.graphdb import open_store
    from kgx.pipeline import ExtractConfig, extract_corpus

    with open_store(uri) as store:
        extract_corpus([SAMPLE_CORPUS], store, ExtractConfig(extractor="spacy"))
