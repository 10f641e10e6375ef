"""The `kgx` command line end to end on the embedded store, with the real spaCy extractor."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from kgx.cli import app
from kgx.cli.query import parse_params
from kgx.errors import ConfigError

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def store(tmp_path_factory, runner):
    """A store extracted from 50 passages plus one good, one empty and one binary file."""
    corpus = tmp_path_factory.mktemp("corpus")
    (corpus / "passages.jsonl").write_text((FIXTURES / "multihop_50.jsonl").read_text())
    (corpus / "note.md").write_text("# Note\n\nMarie Curie discovered polonium in Paris.\n")
    (corpus / "empty.txt").write_text("   \n")
    (corpus / "blob.txt").write_bytes(b"\x00\x01binary")
    path = str(tmp_path_factory.mktemp("store") / "g")
    result = runner.invoke(app, ["extract", str(corpus), "--store", path])
    assert result.exit_code == 0, result.output
    assert "51 documents written" in result.output
    assert "2 inputs skipped" in result.output
    return path


def _invoke(runner, *args: str):
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_cli_query_json_returns_entities_and_relations(runner, store):
    out = _invoke(runner, "query", "MATCH (a:Entity)-[r:RELATION]->(b:Entity) "
                  "RETURN a.name AS s, r.predicate AS p, b.name AS o LIMIT 5",
                  "--store", store, "--format", "json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 5
    assert all(row["s"] and row["p"] and row["o"] for row in rows)


def test_cli_query_binds_parameters(runner, store):
    out = _invoke(runner, "query", "MATCH (e:Entity) WHERE e.name = $name RETURN e.type AS t",
                  "--store", store, "-p", "name=Marie Curie", "--format", "csv")
    assert list(csv.reader(io.StringIO(out))) == [["t"], ["PERSON"]]


def test_cli_query_is_read_only_unless_write(runner, store):
    result = runner.invoke(app, ["query", "MATCH (e:Entity) DETACH DELETE e", "--store", store])
    assert result.exit_code != 0
    assert "read-only" in str(result.exception) or "read-only" in result.output
    count = _invoke(runner, "query", "MATCH (e:Entity) RETURN count(e) AS n", "--store", store,
                    "--format", "json")
    assert json.loads(count)["n"] > 100


def test_cli_query_write_opt_in(runner, tmp_path):
    path = str(tmp_path / "w")
    _invoke(runner, "query", "CREATE (:Entity {id: $id, name: $id, type: 'X', aliases: []})",
            "--store", path, "--write", "-p", "id=e1")
    out = _invoke(runner, "query", "MATCH (e:Entity) RETURN e.name AS n", "--store", path,
                  "--format", "json")
    assert json.loads(out) == {"n": "e1"}


def test_cli_stats_lists_every_kind(runner, store):
    out = _invoke(runner, "stats", "--store", store)
    for kind in ("Document", "Chunk", "Entity", "RELATION", "MENTIONS", "HAS_CHUNK"):
        assert kind in out


def test_cli_export_jsonl_and_graphml(runner, store, tmp_path):
    _invoke(runner, "export", str(tmp_path / "g.jsonl"), "--format", "jsonl", "--store", store)
    records = [json.loads(x) for x in (tmp_path / "g.jsonl").read_text().splitlines()]
    kinds = {(r["kind"], r.get("label") or r.get("type")) for r in records}
    assert ("node", "Entity") in kinds and ("edge", "RELATION") in kinds
    _invoke(runner, "export", str(tmp_path / "g.graphml"), "--format", "graphml",
            "--store", store)
    root = ET.parse(tmp_path / "g.graphml").getroot()
    ns = {"g": "http://graphml.graphdrawing.org/xmlns"}
    assert len(root.findall(".//g:node", ns)) == sum(r["kind"] == "node" for r in records)
    assert len(root.findall(".//g:edge", ns)) == sum(r["kind"] == "edge" for r in records)


def test_cli_export_neo4j_import_headers(runner, store, tmp_path):
    out = tmp_path / "import"
    _invoke(runner, "export", str(out), "--format", "neo4j-import", "--store", store)
    with (out / "nodes_Entity.csv").open() as f:
        header = next(csv.reader(f))
    assert header == ["id:ID", "name:string", "type:string", "aliases:string[]", ":LABEL"]
    with (out / "relationships_RELATION.csv").open() as f:
        rows = list(csv.reader(f))
    assert rows[0][:2] == [":START_ID", ":END_ID"] and rows[0][-1] == ":TYPE"
    assert len(rows) > 1 and all(row[-1] == "RELATION" for row in rows[1:])
    assert "neo4j-admin database import full" in (out / "import.sh").read_text()


def test_cli_missing_store_is_a_clear_error(runner, tmp_path):
    result = runner.invoke(app, ["stats", "--store", str(tmp_path / "none")])
    assert result.exit_code != 0
    assert "kgx extract" in str(result.exception)


def test_cli_parse_params_decodes_json_values():
    assert parse_params(["n=3", "xs=[1, 2]", "s=Ada Lovelace", "t=true"]) == \
        {"n": 3, "xs": [1, 2], "s": "Ada Lovelace", "t": True}
    with pytest.raises(ConfigError, match="name=value"):
        parse_params(["novalue"])


def test_cli_errors_are_one_line_with_exit_code_1(tmp_path):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "kgx.cli", "stats", "--store",
                             str(tmp_path / "none")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.startswith("error: no kgx store at")
    assert "Traceback" not in result.stderr


def test_cli_extract_with_no_readable_input_fails_clearly(runner, tmp_path):
    (tmp_path / "empty.txt").write_text("")
    result = runner.invoke(app, ["extract", str(tmp_path / "empty.txt"), str(tmp_path / "nope"),
                                 "--store", str(tmp_path / "g")])
    assert result.exit_code != 0
    assert "no readable documents" in str(result.exception)
    flat = "".join(result.output.split())  # the table folds long paths over lines
    assert "empty.txt" in flat and "nope" in flat
