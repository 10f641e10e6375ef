"""A real OpenAI-compatible server on 127.0.0.1: llama-cpp-python's, serving a GGUF model.

Tests, CI and benchmarks use it as the stand-in for vLLM and OpenAI. It serves the bundled
SmolLM2-135M-Instruct by default, with ``logits_all`` on so that ``/v1/completions`` returns
prompt log-probs (``echo``).

    with running_llama_server() as server:
        backend = OpenAICompatibleLLM(server.model, server.url)
        server.pause()     # SIGSTOP: a server that stops answering (timeouts)
        server.resume()    # SIGCONT

    python -m kgx.testing.llama_server [--port N] [--model PATH.gguf]   # runs until Ctrl-C
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from kgx.errors import KgxError
from kgx.testing.neo4j_server import HOST, free_port

MODEL_ALIAS = "smollm2"
START_TIMEOUT_S = 120.0


class LlamaServerError(KgxError):
    """The llama.cpp server could not start; the message says why."""


@dataclass
class LlamaServer:
    """A running llama-cpp-python server."""

    url: str
    model: str
    process: subprocess.Popen = field(repr=False)
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections open, nothing answers."""
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """Unfreeze the server (SIGCONT)."""
        os.kill(self.pid, signal.SIGCONT)

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the server; safe to call twice."""
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.resume()
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_llama_server(model_path: str | Path | None = None, *, port: int | None = None,
                       n_ctx: int = 4096, n_threads: int | None = None,
                       log_dir: Path | None = None,
                       timeout: float = START_TIMEOUT_S) -> LlamaServer:
    """Start the server on 127.0.0.1 and wait until ``/v1/models`` answers."""
    try:
        import llama_cpp.server  # noqa: F401  (checked here, run in a child process)
    except ImportError as e:
        raise LlamaServerError("llama-cpp-python's server is not installed; run "
                               "pip install 'llama-cpp-python[server]'.") from e
    from kgx.llm.llamacpp import default_threads

    if model_path is None:
        from kgx.llm.spec import bundled_gguf

        model_path = bundled_gguf()
    port = port or free_port()
    log_dir = Path(log_dir or tempfile.mkdtemp(prefix="kgx-llama-"))
    log_path = log_dir / "llama-server.log"
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model_path),
           "--model_alias", MODEL_ALIAS, "--host", HOST, "--port", str(port),
           "--n_ctx", str(n_ctx), "--n_threads", str(n_threads or default_threads()),
           "--logits_all", "true", "--verbose", "false"]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    server = LlamaServer(f"http://{HOST}:{port}/v1", MODEL_ALIAS, process, log_path)
    try:
        _wait_until_ready(server, timeout)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_until_ready(server: LlamaServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            tail = server.log_path.read_text(errors="replace")[-2000:]
            raise LlamaServerError(f"llama.cpp server exited with {server.process.returncode}; "
                                   f"log {server.log_path}:\n{tail}")
        try:
            with urllib.request.urlopen(server.url + "/models", timeout=2) as reply:
                if json.load(reply).get("data"):
                    return
        except (urllib.error.URLError, OSError, ValueError):
            pass
        time.sleep(0.3)
    raise LlamaServerError(f"llama.cpp server did not answer within {timeout:.0f} s; log: "
                           f"{server.log_path}")


@contextlib.contextmanager
def running_llama_server(model_path: str | Path | None = None,
                         **kwargs) -> Iterator[LlamaServer]:
    """A server for the ``with`` block."""
    server = start_llama_server(model_path, **kwargs)
    try:
        yield server
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    """Run a server in the foreground until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m kgx.testing.llama_server",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="GGUF file (default: the bundled SmolLM2)")
    parser.add_argument("--port", type=int)
    args = parser.parse_args(argv)
    with running_llama_server(args.model, port=args.port) as server:
        print(f"llama.cpp server at {server.url} (model {server.model!r}); Ctrl-C stops it",
              file=sys.stderr, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            server.process.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
