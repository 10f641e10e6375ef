"""The command line of the local test Neo4j: `python -m kgx.testing.neo4j_server start|stop|…`."""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from kgx.testing.neo4j_server import (
    DEFAULT_DIR,
    LIB_DIR,
    PLUGINS_DIR,
    START_TIMEOUT_S,
    STOP_TIMEOUT_S,
    Neo4jServerError,
    fetch_jars,
    pinned_version,
    server_status,
    start_server,
    stop_server,
)


def _log(message: str) -> None:
    """Progress for humans, on stderr."""
    print(f"neo4j_server: {message}", file=sys.stderr, flush=True)



def _cmd_fetch(args: argparse.Namespace) -> int:
    """Download the jars unless present (what `start` does first when they are missing)."""
    fetch_jars()
    _log(f"Neo4j {pinned_version()} jars are in {LIB_DIR} and {PLUGINS_DIR}")
    return 0


def _cmd_start(args: argparse.Namespace) -> int:
    """Start the server in the background and wait until it answers."""
    started = time.monotonic()
    server = start_server(args.dir, port=args.port, timeout=args.timeout, detach=True,
                          keep_data=args.keep_data)
    _log(f"Neo4j is up at {server.uri} (pid {server.pid}, {time.monotonic() - started:.1f} s); "
         f"log: {server.log_path}")
    where = shlex.quote(str(args.dir))
    _log(f'credentials: eval "$(python -m kgx.testing.neo4j_server env --dir {where})"')
    return 0


def _cmd_stop(args: argparse.Namespace) -> int:
    """Stop the server; succeeds also when none is running."""
    stopped = stop_server(args.dir, timeout=args.timeout)
    _log("Neo4j stopped" if stopped else "Neo4j was not running")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    """Say whether the server is running (exit 0) or not (exit 1)."""
    server = server_status(args.dir)
    if server is None:
        print("not running")
        return 1
    print(f"running at {server.uri} (pid {server.pid})")
    return 0


def _cmd_env(args: argparse.Namespace) -> int:
    """Print `export NEO4J_...` lines (password included) for `eval` in a shell."""
    server = server_status(args.dir)
    if server is None:
        _log(f"no Neo4j is running from {args.dir}; run `python -m kgx.testing.neo4j_server start` "
             "first")
        return 1
    for key, value in server.env().items():
        print(f"export {key}={shlex.quote(value)}")
    return 0


def _parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        prog="python -m kgx.testing.neo4j_server",
        description="A local Neo4j Community 5.26 (Bolt + APOC) on 127.0.0.1 for tests and CI. "
                    "`env` prints the password (for eval); nothing else does.")
    parser.add_argument("command", choices=["fetch", "start", "stop", "status", "env"])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR,
                        help="state, config, log and database directory (default: %(default)s)")
    parser.add_argument("--port", type=int, default=None,
                        help="Bolt port for `start` (default: a free one)")
    parser.add_argument("--keep-data", action="store_true",
                        help="`start` on the databases already in DIR/home (e.g. after `kgx "
                             "load EXPORT --bulk --neo4j-home DIR/home --neo4j-conf DIR`)")
    parser.add_argument("--timeout", type=float, default=None,
                        help=f"seconds to wait for start ({START_TIMEOUT_S:.0f}) / stop "
                             f"({STOP_TIMEOUT_S:.0f})")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one CLI command; errors are printed with what to do next, exit code 1."""
    args = _parser().parse_args(argv)
    if args.timeout is None:
        args.timeout = START_TIMEOUT_S if args.command == "start" else STOP_TIMEOUT_S
    commands = {"fetch": _cmd_fetch, "start": _cmd_start, "stop": _cmd_stop,
                "status": _cmd_status, "env": _cmd_env}
    try:
        return commands[args.command](args)
    except Neo4jServerError as exc:
        print(f"neo4j_server: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
