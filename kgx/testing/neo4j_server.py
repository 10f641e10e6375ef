"""A real Neo4j Community 5.26 server (Bolt + APOC) on 127.0.0.1 for tests, CI and benchmarks.

No Docker needed: Maven fetches the jars (``kgx/testing/neo4j/pom.xml``, package data, so this
works from an installed wheel too) and ``kgx/testing/neo4j/Launcher.java`` runs Neo4j embedded
with its Bolt connector, on a free port, with a fresh database on every start. The jars go to
``tools/neo4j/{lib,plugins}`` in a checkout, else to ``$KGX_NEO4J_HOME`` or the kgx cache folder
(``~/.cache/kgx/neo4j``).

CLI (also ``kgx neo4j fetch|start|stop|status|env``; ``--dir`` defaults to ``.neo4j/`` in a
checkout, else the ``server`` folder beside the jars)::

    python -m kgx.testing.neo4j_server fetch                  # get the jars if missing (Maven)
    python -m kgx.testing.neo4j_server start [--dir D] [--port N]
    eval "$(python -m kgx.testing.neo4j_server env)"          # NEO4J_URI/USERNAME/PASSWORD
    python -m kgx.testing.neo4j_server status
    python -m kgx.testing.neo4j_server stop

The password is ``$NEO4J_PASSWORD`` if set, else a random one. It is kept only in
``DIR/state.json`` (mode 0600) and printed only by ``env``, whose output is meant for ``eval``.

Python API::

    with running_server() as server:      # temporary directory, stopped and removed afterwards
        driver = neo4j.GraphDatabase.driver(server.uri, auth=server.auth)

    server = start_server(path)           # ... server.stop(); also stops if this process dies

The server listens only on 127.0.0.1 (Bolt, no TLS, no HTTP). ``KGX_NEO4J_HEAP`` (default
``1g``) and ``KGX_NEO4J_PAGECACHE`` (default ``512m``) size its memory.

Only the standard library is imported at module level; the ``neo4j`` driver, if installed,
is imported lazily for the readiness check.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from kgx.errors import KgxError

SOURCE_DIR = Path(__file__).resolve().parent / "neo4j"
"""pom.xml and Launcher.java, shipped as package data of kgx.testing."""
REPO_ROOT = Path(__file__).resolve().parents[2]


def _home() -> tuple[Path, Path]:
    """(where the jars go, the default server directory): in a checkout its tools/neo4j and
    .neo4j, as before; installed from a wheel, $KGX_NEO4J_HOME or the kgx cache folder."""
    if os.environ.get("KGX_NEO4J_HOME"):
        home = Path(os.environ["KGX_NEO4J_HOME"]).expanduser()
        return home, home / "server"
    if (REPO_ROOT / "pyproject.toml").is_file() and (REPO_ROOT / ".git").exists():
        return REPO_ROOT / "tools" / "neo4j", REPO_ROOT / ".neo4j"
    cache = Path(os.environ.get("KGX_CACHE_DIR")
                 or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kgx")
    return cache / "neo4j", cache / "neo4j" / "server"


JARS_DIR, DEFAULT_DIR = _home()
LIB_DIR = JARS_DIR / "lib"
PLUGINS_DIR = JARS_DIR / "plugins"

USERNAME = "neo4j"
HOST = "127.0.0.1"
STATE_FILE = "state.json"
LOG_FILE = "neo4j.log"
CONF_FILE = "neo4j.conf"
HOME_DIR = "home"
READY_MARKER = "kgx-neo4j: ready"
START_TIMEOUT_S = 300.0
STOP_TIMEOUT_S = 30.0
MIN_PASSWORD_LENGTH = 8

# Flags the Neo4j server scripts pass to the JVM; without them the page cache and the
# transaction log fall back to slower code paths and log warnings.
JVM_FLAGS = [
    "-XX:+UseG1GC",
    "-XX:-OmitStackTraceInFastThrow",
    "-XX:+UnlockExperimentalVMOptions",
    "-XX:+TrustFinalNonStaticFields",
    "-XX:+DisableExplicitGC",
    "-Djdk.nio.maxCachedBufferSize=1024",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Dlog4j2.disable.jmx=true",
    "-Dfile.encoding=UTF-8",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--add-opens=java.base/java.util=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
    "--add-exports=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-exports=jdk.unsupported/sun.misc=ALL-UNNAMED",
]


class Neo4jServerError(KgxError):
    """The local Neo4j server could not be fetched, started or stopped; the message says why."""


@dataclass
class Neo4jServer:
    """A running local Neo4j server: where it listens, how to log in, and how to stop it."""

    uri: str
    username: str
    password: str = field(repr=False)
    pid: int
    directory: Path
    _process: subprocess.Popen | None = field(default=None, repr=False, compare=False)

    @property
    def auth(self) -> tuple[str, str]:
        """(username, password) for ``neo4j.GraphDatabase.driver(uri, auth=...)``."""
        return (self.username, self.password)

    @property
    def log_path(self) -> Path:
        """The server's console log (the JVM's stdout and stderr)."""
        return self.directory / LOG_FILE

    def env(self) -> dict[str, str]:
        """NEO4J_URI / NEO4J_USERNAME / NEO4J_PASSWORD for this server."""
        return {"NEO4J_URI": self.uri, "NEO4J_USERNAME": self.username,
                "NEO4J_PASSWORD": self.password}

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Stop the server (SIGTERM, then SIGKILL after ``timeout`` s); safe to call twice."""
        _terminate(self.pid, timeout, self._process)
        _state_path(self.directory).unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------
# Jars


def pinned_version() -> str:
    """The Neo4j (and APOC) version that kgx/testing/neo4j/pom.xml pins."""
    pom = SOURCE_DIR / "pom.xml"
    try:
        text = pom.read_text()
    except OSError as exc:
        raise Neo4jServerError(f"{pom} is missing: the local Neo4j server runs from a checkout "
                               "of the kgx repository (pip install -e .).") from exc
    match = re.search(r"<neo4j\.version>([^<]+)</neo4j\.version>", text)
    if match is None:
        raise Neo4jServerError(f"{pom} has no <neo4j.version> property; restore it from git.")
    return match.group(1).strip()


def jars_present() -> bool:
    """Whether ``JARS_DIR/lib`` and ``plugins`` hold the pinned Neo4j and APOC jars."""
    version = pinned_version()
    return all(path.exists() for path in (LIB_DIR / f"neo4j-{version}.jar",
                                          PLUGINS_DIR / f"apoc-core-{version}.jar",
                                          PLUGINS_DIR / f"apoc-common-{version}.jar"))


def fetch_jars(force: bool = False) -> None:
    """Download Neo4j and APOC from Maven Central into JARS_DIR/{lib,plugins} unless there."""
    if jars_present() and not force:
        return
    # Start clean so jars of another version never share the classpath.
    shutil.rmtree(LIB_DIR, ignore_errors=True)
    shutil.rmtree(PLUGINS_DIR, ignore_errors=True)
    mvn = shutil.which("mvn")
    if mvn is None:
        raise Neo4jServerError("Maven (`mvn`) is not installed; it fetches the Neo4j jars. Install "
                               "it (e.g. `apt-get install maven`) and run this again.")
    # Maven puts lib/ and plugins/ beside the pom it runs: a copy in JARS_DIR, since the
    # installed package's folder may be read-only.
    JARS_DIR.mkdir(parents=True, exist_ok=True)
    pom = JARS_DIR / "pom.xml"
    shutil.copyfile(SOURCE_DIR / "pom.xml", pom)
    cmd = [mvn, "-q", "-B", "-f", str(pom), "generate-resources"]
    _log(f"fetching Neo4j jars: {shlex.join(cmd)}")
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not jars_present():
        tail = _tail((done.stdout + done.stderr).splitlines(), 40)
        raise Neo4jServerError(f"Maven could not fetch the Neo4j jars (exit {done.returncode}). "
                               f"Check that Maven Central is reachable, then run "
                               f"`{shlex.join(cmd)}` to see the full output.\n{tail}")


# ---------------------------------------------------------------------------------------------
# Starting


def start_server(directory: Path | None = None, port: int | None = None,
                 timeout: float = START_TIMEOUT_S, detach: bool = False,
                 keep_data: bool = False) -> Neo4jServer:
    """Start a server with a fresh database in ``directory`` (or return the one running there).

    Unless ``detach`` is true (as for the CLI), the server also stops when this process ends,
    even if it is killed before calling ``stop()``. With ``keep_data`` it starts on the
    databases already in ``directory`` (e.g. after a `neo4j-admin database import` into
    ``directory/home``, whose configuration folder is ``directory``).
    """
    directory = Path(directory or DEFAULT_DIR).resolve()
    running = _running_server(directory)
    if running is not None and port in (None, _port_of(running.uri)) and _bolt_answers(running):
        _log(f"Neo4j is already running at {running.uri} (pid {running.pid})")
        return running
    if running is not None:  # hung, half-started by a killed `start`, or on another port
        _log(f"restarting the Neo4j server in {directory} (pid {running.pid})")
        running.stop()
    password = _password()
    fetch_jars()
    java = _java()
    owner_pid = None if detach else os.getpid()
    for attempt in range(3):
        try:
            return _start_fresh(java, directory, port or free_port(), password, timeout, owner_pid,
                                keep_data)
        except _PortTaken:  # another process took the free port before Neo4j bound it
            if port or attempt == 2:
                raise
    raise AssertionError("unreachable")


class _PortTaken(Neo4jServerError):
    """Neo4j could not bind its Bolt port."""


def _start_fresh(java: str, directory: Path, port: int, password: str, timeout: float,
                 owner_pid: int | None, keep_data: bool = False) -> Neo4jServer:
    """Launch a server with an empty database on ``port`` and wait until it answers."""
    _check_port(port)
    _prepare_directory(directory, port, keep_data)
    process = _launch(java, directory, password, owner_pid)
    server = Neo4jServer(f"bolt://{HOST}:{port}", USERNAME, password, process.pid, directory,
                         process)
    _write_state(directory, server, status="starting")
    try:
        _wait_until_ready(server, process, timeout)
    except BaseException:
        server.stop()
        raise
    _write_state(directory, server, status="running")
    return server


def stop_server(directory: Path | None = None, timeout: float = STOP_TIMEOUT_S) -> bool:
    """Stop the server recorded in ``directory``; False if none was running (stale state too)."""
    directory = Path(directory or DEFAULT_DIR).resolve()
    state = _read_state(directory)
    if state is None:
        return False
    alive = _is_launcher(state.get("pid"))
    if alive:
        _terminate(state["pid"], timeout)
    _state_path(directory).unlink(missing_ok=True)
    return alive


def server_status(directory: Path | None = None) -> Neo4jServer | None:
    """The server recorded in ``directory`` if its process is alive (stale state is dropped)."""
    return _running_server(Path(directory or DEFAULT_DIR).resolve())


@contextlib.contextmanager
def running_server(directory: Path | None = None,
                   port: int | None = None) -> Iterator[Neo4jServer]:
    """A server for the ``with`` block; by default in a temporary directory removed afterwards."""
    tmp = None if directory else Path(tempfile.mkdtemp(prefix="kgx-neo4j-"))
    try:
        server = start_server(directory or tmp, port=port)
        try:
            yield server
        finally:
            server.stop()
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _check_port(port: int) -> int:
    """``port`` if it can be bound on 127.0.0.1, else an error naming the way out."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError as exc:
            raise _PortTaken(f"Port {port} on {HOST} is in use ({exc.strerror}); pick "
                                   "another with --port, or leave --port out for a free one."
                                   ) from exc
    return port


def _password() -> str:
    """$NEO4J_PASSWORD if set (checked against Neo4j's minimum length), else a random one."""
    password = os.environ.get("NEO4J_PASSWORD")
    if password is None or password == "":
        return secrets.token_urlsafe(24)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Neo4jServerError(f"NEO4J_PASSWORD is shorter than {MIN_PASSWORD_LENGTH} "
                               "characters, which Neo4j refuses; set a longer one or unset it "
                               "for a random one.")
    return password


def _java() -> str:
    """The java executable (JAVA_HOME first, then PATH)."""
    home = os.environ.get("JAVA_HOME")
    candidate = Path(home, "bin", "java") if home else None
    java = str(candidate) if candidate and candidate.exists() else shutil.which("java")
    if java is None:
        raise Neo4jServerError("Java 17 or 21 is needed to run Neo4j 5.26 and was not found; "
                               "install it (e.g. `apt-get install openjdk-17-jre-headless`) or "
                               "set JAVA_HOME.")
    return java


def _prepare_directory(directory: Path, port: int, keep_data: bool = False) -> None:
    """Create ``directory`` with an empty server home (unless ``keep_data``) and a neo4j.conf
    for ``port``."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    home = directory / HOME_DIR
    if not keep_data:
        shutil.rmtree(home, ignore_errors=True)
    home.mkdir(exist_ok=True)
    (directory / CONF_FILE).write_text(_config(port))


def _config(port: int) -> str:
    """neo4j.conf settings: Bolt on 127.0.0.1:port without TLS, auth on, APOC, modest memory."""
    settings = {
        "server.bolt.enabled": "true",
        "server.bolt.listen_address": f"{HOST}:{port}",
        "server.bolt.advertised_address": f"{HOST}:{port}",
        "server.bolt.tls_level": "DISABLED",
        "dbms.security.auth_enabled": "true",
        "server.directories.plugins": str(PLUGINS_DIR),
        "dbms.security.procedures.unrestricted": "apoc.*",
        "server.memory.pagecache.size": os.environ.get("KGX_NEO4J_PAGECACHE", "512m"),
        # No usage-report pings (the machines here are offline anyway).
        "internal.dbms.usage_report.udc_network_enabled": "false",
        # Stop in ~1 s instead of ~12 s: Bolt's defaults wait for idle clients and netty.
        "internal.dbms.bolt.netty_server_shutdown_quiet_period": "0",
        "internal.dbms.bolt.netty_server_shutdown_timeout": "1s",
        "internal.server.bolt.thread_pool_shutdown_wait_time": "1s",
        "internal.server.bolt.connection_shutdown_wait_time": "1s",
    }
    return "".join(f"{key}={value}\n" for key, value in settings.items())


def _launch(java: str, directory: Path, password: str,
            owner_pid: int | None = None) -> subprocess.Popen:
    """Start Launcher.java in its own session, console output going to DIR/neo4j.log."""
    heap = os.environ.get("KGX_NEO4J_HEAP", "1g")
    classpath = os.pathsep.join([str(LIB_DIR / "*"), str(PLUGINS_DIR / "*")])
    cmd = [java, f"-Xms{heap}", f"-Xmx{heap}", *JVM_FLAGS, "-cp", classpath,
           str(SOURCE_DIR / "Launcher.java"), str(directory / HOME_DIR),
           str(directory / CONF_FILE)]
    env = {**os.environ, "NEO4J_PASSWORD": password,  # not on the command line, where ps shows it
           "KGX_NEO4J_OWNER_PID": str(owner_pid or "")}
    with open(directory / LOG_FILE, "wb") as log:
        return subprocess.Popen(cmd, cwd=directory, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)


def _wait_until_ready(server: Neo4jServer, process: subprocess.Popen, timeout: float) -> None:
    """Block until Bolt answers ``RETURN 1`` with the password; error with the log tail if not."""
    deadline = time.monotonic() + timeout
    log = server.directory / LOG_FILE
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = _log_tail(server.directory)
            error = _PortTaken if "Address already in use" in tail else Neo4jServerError
            raise error(f"Neo4j exited with code {process.returncode} while starting.{tail}")
        # Wait for the launcher's marker first: logging in before the password is set would
        # fail and trip Neo4j's lock-out after 3 failed attempts.
        if READY_MARKER in _read_text(log) and _bolt_answers(server):
            return
        time.sleep(0.25)
    raise Neo4jServerError(f"Neo4j did not answer on {server.uri} within {timeout:.0f} s."
                           f"{_log_tail(server.directory)}")


def _bolt_answers(server: Neo4jServer) -> bool:
    """Whether ``RETURN 1`` succeeds over Bolt (a TCP connect if the driver is not installed)."""
    try:
        import neo4j
    except ImportError:
        with contextlib.suppress(OSError), socket.create_connection(
                (HOST, _port_of(server.uri)), timeout=2):
            return True
        return False
    driver = neo4j.GraphDatabase.driver(server.uri, auth=server.auth, connection_timeout=5)
    try:  # a plain session run: execute_query would retry for up to 30 s
        with driver, driver.session() as session:
            return session.run("RETURN 1 AS ok").single()["ok"] == 1
    except (neo4j.exceptions.Neo4jError, neo4j.exceptions.DriverError, OSError):
        return False


# ---------------------------------------------------------------------------------------------
# Stopping and state


def _terminate(pid: int, timeout: float, process: subprocess.Popen | None = None) -> None:
    """SIGTERM ``pid`` (the JVM flushes the store), SIGKILL if still alive after ``timeout`` s."""
    if not _is_launcher(pid):
        _reap(process)
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(process)
        if not _is_launcher(pid):
            return
        time.sleep(0.1)
    _log(f"Neo4j (pid {pid}) did not stop within {timeout:.0f} s; killing it")
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    if process is not None:
        process.wait()


def _reap(process: subprocess.Popen | None) -> None:
    """Collect our own child's exit status so it does not linger as a zombie."""
    if process is not None:
        process.poll()


def _is_launcher(pid: object) -> bool:
    """Whether ``pid`` is a live (non-zombie) process of our Launcher, not a recycled pid."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    proc = Path("/proc", str(pid))
    if not Path("/proc/self").exists():  # no procfs (macOS): trust the pid
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    try:
        state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        cmdline = (proc / "cmdline").read_bytes()
    except OSError:
        return False
    return state not in ("Z", "X") and b"Launcher.java" in cmdline


def _running_server(directory: Path) -> Neo4jServer | None:
    """The server in ``directory``'s state file if alive; a stale state file is removed."""
    state = _read_state(directory)
    if state is None:
        return None
    if not _is_launcher(state.get("pid")):
        _log(f"removing stale Neo4j state in {directory} (pid {state.get('pid')} is gone)")
        _state_path(directory).unlink(missing_ok=True)
        return None
    return Neo4jServer(state["uri"], state["username"], state["password"], state["pid"], directory)


def _state_path(directory: Path) -> Path:
    """Where the state of the server in ``directory`` is kept."""
    return directory / STATE_FILE


def _read_state(directory: Path) -> dict | None:
    """The parsed state file, or None if missing or unreadable."""
    try:
        return json.loads(_state_path(directory).read_text())
    except (OSError, ValueError):
        return None


def _write_state(directory: Path, server: Neo4jServer, status: str) -> None:
    """Write state.json (pid, uri, credentials) atomically with mode 0600."""
    state = {"pid": server.pid, "uri": server.uri, "username": server.username,
             "password": server.password, "status": status, "log": str(server.log_path)}
    tmp = directory / f".{STATE_FILE}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        os.fchmod(out.fileno(), 0o600)
        json.dump(state, out, indent=2)
    os.replace(tmp, _state_path(directory))


# ---------------------------------------------------------------------------------------------
# Small helpers


def _port_of(uri: str) -> int:
    """The port of a ``bolt://host:port`` URI."""
    return int(uri.rsplit(":", 1)[1])


def _read_text(path: Path) -> str:
    """A file's text, or "" if it does not exist yet."""
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _tail(lines: list[str], count: int) -> str:
    """The last ``count`` lines, joined."""
    return "\n".join(lines[-count:])


def _log_tail(directory: Path, count: int = 40) -> str:
    """The end of the console log and of Neo4j's debug.log, for error messages."""
    parts = []
    for path in (directory / LOG_FILE, directory / HOME_DIR / "logs" / "debug.log"):
        text = _read_text(path)
        if text:
            parts.append(f"\n--- last lines of {path} ---\n{_tail(text.splitlines(), count)}")
    return "".join(parts) or f"\n(no log was written in {directory})"


def _log(message: str) -> None:
    """Progress for humans, on stderr."""
    print(f"neo4j_server: {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    from kgx.testing.neo4j_server_cli import main

    sys.exit(main())
