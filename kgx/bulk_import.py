"""Bulk load an exported graph into a new Neo4j database with `neo4j-admin database import full`.

`kgx export --format neo4j-import` writes one CSV per label and relationship type; this runs
Neo4j's offline importer on them, which writes the store files directly instead of running
transactions (how big graphs get into Neo4j fast). The importer needs the database offline: on
Neo4j Community (one user database) stop the server, import, start it again. kgx then creates
its constraints and indexes the first time it connects, so `kgx query` and `kgx ask` work at once.

    bulk_import(Path("export/"), Neo4jHome(Path("/var/lib/neo4j")))   # server stopped

Only a new database is filled: one that does not exist yet, or the empty one a server creates
on its first start. A database holding any node is refused; the online writer (`kgx extract
--store bolt://...`) adds to an existing graph.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kgx.errors import ConfigError, StoreError
from kgx.export import IMPORT_MANIFEST, multiline_options
from kgx.graphdb.neo4j_queries import BULK_IMPORT_LABEL

ADMIN_MAIN_CLASS = "org.neo4j.cli.AdminTool"
QUICK_START_BYTES = 300 << 20
"""CSVs below this size (300 MiB) are imported with `jvm_flags`' quick start. Measured here
(2 busy cores): the 100k-relation graph (31 MB) took 7.7 s with it against 17.2 s without,
the same relations ten times over (291 MB) 21.5 s against 24.4 s, with C1's relationship
stage already 42% slower there; the crossover is near 400 MB."""
ARRAY_DELIMITER = ";"


@dataclass(frozen=True)
class Neo4jHome:
    """Where a Neo4j server keeps its configuration and data, and how to run its neo4j-admin.

    `conf` is the folder holding neo4j.conf (default HOME/conf); `admin` the neo4j-admin
    command (default: HOME/bin/neo4j-admin, neo4j-admin on PATH, else the jars Maven fetched for
    kgx's test server, run as `java -cp 'lib/*' org.neo4j.cli.AdminTool`).
    """

    home: Path
    conf: Path | None = None
    admin: tuple[str, ...] = ()

    @property
    def conf_dir(self) -> Path:
        return self.conf or self.home / "conf"

    def data_dir(self) -> Path:
        """server.directories.data of neo4j.conf, else HOME/data."""
        conf = self.conf_dir / "neo4j.conf"
        text = conf.read_text() if conf.is_file() else ""
        found = re.search(r"^\s*server\.directories\.data\s*=\s*(.+?)\s*$", text, re.M)
        path = Path(found.group(1)) if found else Path("data")
        return path if path.is_absolute() else self.home / path

    def database_dir(self, database: str) -> Path:
        return self.data_dir() / "databases" / database

    def admin_command(self, jvm_flags: Sequence[str] = ()) -> list[str]:
        """The command; `jvm_flags` go to the JVM only where kgx starts it itself (the jars),
        since neo4j-admin's script takes its own from neo4j-admin.conf."""
        if self.admin:
            return list(self.admin)
        script = self.home / "bin" / "neo4j-admin"
        if script.is_file():
            return [str(script)]
        if found := shutil.which("neo4j-admin"):
            return [found]
        return maven_admin_command(jvm_flags)


def maven_admin_command(jvm_flags: Sequence[str] = ()) -> list[str]:
    """neo4j-admin from the Neo4j jars that tools/neo4j/pom.xml fetches (kgx's test server)."""
    from kgx.testing.neo4j_server import LIB_DIR, _java, fetch_jars

    fetch_jars()
    return [_java(), *jvm_flags, "-cp", admin_classpath(LIB_DIR), ADMIN_MAIN_CLASS]


def admin_classpath(lib: Path) -> str:
    """The jars of `lib`, with an unsigned copy in place of each signed one. A JVM checks a
    signed jar's digests as it loads it, twice for neo4j-admin (its class loader, then a
    service scan): profiled here, most of a second of its start went to the two signed
    eclipse-collections jars. The check guards nothing these jars need: they come from the
    same Maven fetch, into the same folder, as the 200-odd unsigned jars beside them. The
    copies are made once (JARS_DIR/admin-lib, about a second) and made again when `lib`
    changes; the test server keeps the jars as fetched."""
    copies = lib.parent / "admin-lib"
    version = lib.stat().st_mtime_ns  # fetch_jars writes a new lib folder
    try:
        made = json.loads((copies / SIGNED_LIST).read_text())
        signed = made["signed"] if made["lib"] == version else None
    except (OSError, ValueError, KeyError, TypeError):
        signed = None
    if signed is None:
        signed = _unsigned_copies(lib, copies, version)
    if not signed:
        return str(lib / "*")
    return os.pathsep.join([str(copies / "*"), *(str(jar) for jar in sorted(lib.glob("*.jar"))
                                                if jar.name not in signed)])


SIGNED_LIST = "signed.json"
_SIGNATURE = re.compile(r"META-INF/[^/]+\.(SF|RSA|DSA|EC)$", re.IGNORECASE)


def _unsigned_copies(lib: Path, copies: Path, version: int) -> list[str]:
    """Write an unsigned copy of each signed jar of `lib` into `copies`; their names."""
    import zipfile

    work = Path(tempfile.mkdtemp(prefix="admin-lib-", dir=lib.parent))
    work.chmod(0o755)
    signed = []
    for jar in sorted(lib.glob("*.jar")):
        with zipfile.ZipFile(jar) as source:
            entries = source.infolist()
            if not any(_SIGNATURE.match(entry.filename) for entry in entries):
                continue
            with zipfile.ZipFile(work / jar.name, "w") as copy:
                for entry in entries:
                    if not _SIGNATURE.match(entry.filename):
                        copy.writestr(entry, source.read(entry))
        signed.append(jar.name)
    (work / SIGNED_LIST).write_text(json.dumps({"lib": version, "signed": signed}))
    shutil.rmtree(copies, ignore_errors=True)
    try:
        work.rename(copies)
    except OSError:  # another import made them meanwhile: use those
        shutil.rmtree(work, ignore_errors=True)
    return signed


def jvm_flags(files: Sequence[Path]) -> list[str]:
    """HotSpot's quick-start setting for a small import: only its fast C1 compiler
    (`-XX:TieredStopAtLevel=1`), which saves the seconds the C2 compiler threads spend on a
    short run; a large import keeps C2, whose code is faster once the run is long."""
    size = sum(path.stat().st_size for path in files)
    return ["-XX:TieredStopAtLevel=1"] if size < QUICK_START_BYTES else []


@dataclass(frozen=True)
class ImportResult:
    """What the importer wrote, as it reported it."""

    nodes: int
    relationships: int
    properties: int
    seconds: float
    """The importer's own time (its IMPORT DONE line)."""
    log: str
    wall_seconds: float = 0.0
    """The whole neo4j-admin process: JVM start, checks, the import, closing the store."""


def bulk_import(export_dir: Path, target: Neo4jHome, database: str = "neo4j") -> ImportResult:
    """Load the CSVs of `kgx export --format neo4j-import` into a new database of `target`."""
    nodes, relationships = import_files(export_dir)
    overwrite = check_new_database(target, database)
    with tempfile.TemporaryDirectory(prefix="kgx-bulk-") as tmp:
        marker = Path(tmp) / "nodes_marker.csv"
        marker.write_text(f'id:ID,:LABEL\n"kgx-bulk-import","{BULK_IMPORT_LABEL}"\n')
        return _run_import(export_dir, [*nodes, marker], relationships, target, database,
                           overwrite)


def _run_import(export_dir: Path, nodes: list[Path], relationships: list[Path],
                target: Neo4jHome, database: str, overwrite: bool) -> ImportResult:
    files = [path.resolve() for path in (*nodes, *relationships)]
    command = [*target.admin_command(jvm_flags(files)), "database", "import", "full", database,
               f"--array-delimiter={ARRAY_DELIMITER}",
               *multiline_options([str(p) for p in files if _multiline(export_dir, p)]),
               f"--overwrite-destination={'true' if overwrite else 'false'}",
               f"--report-file={export_dir.resolve() / 'import.report'}",
               *(f"--nodes={path.resolve()}" for path in nodes),
               *(f"--relationships={path.resolve()}" for path in relationships)]
    env = {**os.environ, "NEO4J_HOME": str(target.home), "NEO4J_CONF": str(target.conf_dir)}
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - started
    output = done.stdout + done.stderr
    if done.returncode != 0 or "IMPORT DONE" not in output:
        raise StoreError(_import_failure(output, done.returncode, database))
    result = _parse_result(output)
    return dataclasses.replace(result, nodes=result.nodes - 1,  # less the marker
                               wall_seconds=round(wall, 3))


def _multiline(export_dir: Path, path: Path) -> bool:
    """Whether `path` may hold values spanning lines: as the export's manifest says, and for
    every file of an export without one (written by an older kgx, or by hand)."""
    manifest = export_dir / IMPORT_MANIFEST
    if not manifest.is_file():
        return True
    try:
        listed = json.loads(manifest.read_text())["multiline_files"]
    except (ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"{manifest} is not the manifest `kgx export --format neo4j-import` "
                          f"writes ({e}); export again, or delete it to parse every file as "
                          "multi-line") from e
    return path.name in listed


def import_files(export_dir: Path) -> tuple[list[Path], list[Path]]:
    """The node and relationship CSVs of an export folder; an error if it is not one."""
    nodes = sorted(export_dir.glob("nodes_*.csv"))
    relationships = sorted(export_dir.glob("relationships_*.csv"))
    if not nodes:
        raise ConfigError(f"{export_dir} holds no nodes_*.csv: give the folder written by "
                          "`kgx export --format neo4j-import --out FOLDER`")
    return nodes, [path for path in relationships if _has_rows(path)]


def check_new_database(target: Neo4jHome, database: str) -> bool:
    """Whether the importer must replace an existing, empty database; an error if the
    database holds a graph or its store format cannot be read."""
    folder = target.database_dir(database)
    if not folder.exists():
        return False
    nodes = folder / "neostore.nodestore.db"
    if not nodes.exists():
        raise StoreError(f"cannot tell whether the database {database!r} in {folder} is empty "
                         "(not a record-format store); bulk import fills new databases only. "
                         f"Drop it first (DROP DATABASE {database}, or delete {folder} on "
                         "Community), or add to it with the online writer")
    if nodes.stat().st_size > 0 or (folder / "neostore.relationshipstore.db").stat().st_size:
        raise StoreError(f"the database {database!r} in {folder} already holds a graph; bulk "
                         "import only fills a new, empty database. Add documents to it with "
                         "the online writer (`kgx extract ... --store bolt://...`), or load "
                         "into a new database (another Neo4j home, or delete this one first)")
    return True


def _has_rows(path: Path) -> bool:
    with path.open("rb") as f:
        f.readline()
        return bool(f.readline())


def _import_failure(output: str, code: int, database: str) -> str:
    if "is in use" in output:
        return (f"the database {database!r} is in use: stop the Neo4j server (`neo4j stop`, "
                "or stop its container) before a bulk import, then start it again after")
    lines = [line for line in output.splitlines() if line.strip()
             and not line.lstrip().startswith("at ")]
    return (f"neo4j-admin database import failed (exit {code}):\n" + "\n".join(lines[-15:]))


def _parse_result(output: str) -> ImportResult:
    def number(label: str) -> int:
        found = re.search(rf"(\d[\d,]*)\s+{label}", output)
        return int(found.group(1).replace(",", "")) if found else 0

    took = re.search(r"IMPORT DONE in\s+(?:(\d+)m\s*)?(?:(\d+)s\s*)?(\d+)ms", output)
    seconds = 0.0
    if took:
        minutes, secs, millis = (int(g or 0) for g in took.groups())
        seconds = minutes * 60 + secs + millis / 1000
    return ImportResult(number("nodes"), number("relationships"), number("properties"),
                        seconds, output)
