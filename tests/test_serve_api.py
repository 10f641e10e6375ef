"""`kgx serve`: real HTTP against a real uvicorn on a free loopback port, over both stores."""

from __future__ import annotations

import http.client
import time

import httpx
import pytest

from kgx.testing.serve import build_sample_store, start_serve

pytestmark = pytest.mark.slow

READ, WRITE = "read-token-1", "write-token-2"
TOKENS = f"{READ}:read,{WRITE}:write"
# Ordered 4-way products: far beyond the 1 s limit on any machine (3-way counts of a few hundred
# entities finish in under 0.5 s on a quiet one).
HEAVY = ("MATCH (a:Entity), (b:Entity), (c:Entity), (d:Entity) WHERE a.name < b.name "
         "AND b.name < c.name AND c.name < d.name RETURN count(*) AS n")
TYPED_TRIPLES = ("MATCH (a:Entity), (b:Entity), (c:Entity), (d:Entity) WHERE a.type = $t AND "
                 "a.name < b.name AND b.name < c.name AND c.name < d.name RETURN count(*) AS n")
CORS_ORIGIN = "http://explorer.example"
JSON = "application/json"


@pytest.fixture(scope="module", params=["ladybug", "neo4j"])
def server(request, tmp_path_factory):
    """`kgx serve` with tokens over the sample corpus, once per store (module scope)."""
    folder = tmp_path_factory.mktemp(f"serve-{request.param}")
    if request.param == "ladybug":
        uri = str(folder / "store")
    else:
        from kgx.graphdb import open_store

        uri = request.getfixturevalue("neo4j_uri")
        with open_store(uri) as store:
            store.query("MATCH (n) DETACH DELETE n", write=True)
    build_sample_store(uri)
    process = start_serve(uri, "--max-rows", "50", "--query-timeout", "1", "--rate-limit", "0",
                          tokens=TOKENS, log_dir=folder)
    yield process
    process.stop()


def client(server, token: str | None = READ) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=server.url, headers=headers, timeout=60)


def entity_id(server, name: str) -> str:
    hits = client(server).get("/entities", params={"q": name}).json()["hits"]
    return next(hit["id"] for hit in hits if hit["name"] == name)


def test_serve_health_needs_no_token(server):
    reply = httpx.get(server.url + "/health")
    assert reply.status_code == 200
    assert reply.json()["auth_required"] is True and reply.json()["writable"] is True


def test_serve_openapi_docs_list_typed_responses(server):
    docs = httpx.get(server.url + "/docs")
    assert docs.status_code == 200 and "/static/swagger/swagger-ui-bundle.js" in docs.text
    assert "cdn" not in docs.text.lower()  # offline: Swagger UI comes from the package
    assert httpx.get(server.url + "/static/swagger/swagger-ui-bundle.js").status_code == 200
    spec = httpx.get(server.url + "/openapi.json").json()
    assert {"/query", "/entities/{entity_id}/neighbourhood", "/documents/{doc_id}",
            "/jobs/{job_id}", "/ask"} <= set(spec["paths"])
    ok = spec["paths"]["/query"]["post"]["responses"]["200"]["content"]["application/json"]
    assert ok["schema"]["$ref"].endswith("/QueryResponse")
    assert {"400", "401", "403", "413", "422", "429", "504"} <= set(
        spec["paths"]["/query"]["post"]["responses"])
    assert "ErrorBody" in spec["components"]["schemas"]


def test_serve_stats_and_schema(server):
    api = client(server)
    assert api.get("/stats").json()["counts"]["Document"] >= 61
    schema = api.get("/schema").json()
    assert "Entity" in [n["label"] for n in schema["nodes"]]
    assert {"PERSON", "ORG"} <= {t["value"] for t in schema["entity_types"]}
    assert schema["predicates"] and schema["predicates"][0]["count"] >= 1


def test_serve_entity_search_is_fuzzy(server):
    hits = client(server).get("/entities", params={"q": "ada lovelac"}).json()["hits"]
    assert "Ada Lovelace" in [hit["name"] for hit in hits[:3]]
    by_alias = client(server).get("/entities", params={"q": "Lovelace"}).json()["hits"]
    ada = next(hit for hit in by_alias if hit["name"] == "Ada Lovelace")
    assert ada["matched"] == "Lovelace"


def test_serve_entity_has_facts_with_provenance(server):
    detail = client(server).get(f"/entities/{entity_id(server, 'Ada Lovelace')}").json()
    assert detail["entity"]["aliases"] == ["Lovelace"]
    fact = next(f for f in detail["facts"] if f["object"]["name"] == "William King")
    prov = fact["provenance"]
    assert fact["predicate"] == "marry" and prov["document_title"] == "ada_lovelace"
    assert prov["extractor"] == "spacy.svo.v1" and prov["run_id"].startswith("run_")
    span = prov["chunk_text"][prov["span_start"]:prov["span_end"]]
    assert span == fact["evidence"] == "Lovelace married William King in 1835."
    assert detail["mentions"] and detail["mentions"][0]["title"] == "ada_lovelace"
    one = client(server).get(f"/facts/{fact['id']}").json()
    assert one["provenance"]["span_start"] == prov["span_start"]


def test_serve_neighbourhood_grows_with_hops(server):
    api, ada = client(server), entity_id(server, "Ada Lovelace")
    one = api.get(f"/entities/{ada}/neighbourhood", params={"hops": 1}).json()
    two = api.get(f"/entities/{ada}/neighbourhood", params={"hops": 2}).json()
    assert {"William King", "1835"} <= {n["name"] for n in one["nodes"]}
    assert len(two["nodes"]) >= len(one["nodes"]) and not one["truncated"]
    assert all(e["source"] == ada or e["target"] == ada for e in one["edges"])
    capped = api.get(f"/entities/{ada}/neighbourhood", params={"hops": 1, "limit": 1}).json()
    assert len(capped["edges"]) == 1 and capped["truncated"]


def test_serve_documents(server):
    api = client(server)
    listing = api.get("/documents", params={"limit": 5}).json()
    assert listing["total"] >= 61 and len(listing["documents"]) == 5
    doc = api.get(f"/documents/{listing['documents'][0]['id']}").json()
    assert doc["text"] and doc["chunks"][0]["start_char"] == 0


def test_serve_query_binds_params_caps_rows_and_times_out(server):
    api = client(server)
    reply = api.post("/query", json={
        "cypher": "MATCH (e:Entity) WHERE e.name = $name RETURN e.type AS type",
        "params": {"name": "Ada Lovelace"}}).json()
    assert reply["rows"] == [["PERSON"]] and not reply["truncated"]
    capped = api.post("/query", json={"cypher": "MATCH (e:Entity) RETURN e.id AS id"}).json()
    assert len(capped["rows"]) == 50 and capped["truncated"] and capped["row_cap"] == 50
    slow = api.post("/query", json={"cypher": HEAVY})
    assert slow.status_code == 504 and "longer than 1 s" in slow.json()["error"]


def test_serve_query_refuses_writes_whatever_the_token(server):
    for token in (READ, WRITE):
        reply = client(server, token).post("/query", json={
            "cypher": "CREATE (e:Entity {id: 'x', name: 'x'}) RETURN e"})
        assert reply.status_code == 403
        assert "read-only" in reply.json()["error"]
    assert client(server).post("/query", json={
        "cypher": "MATCH (e:Entity {id: 'x'}) RETURN count(e) AS n"}).json()["rows"] == [[0]]


def test_serve_ask_returns_passages_and_paths(server):
    # The first /ask embeds the store's chunks and facts: 30-90 s at load average 7-9.
    reply = client(server).post("/ask", json={
        "question": "Whom did Ada Lovelace marry?", "retriever": "graph", "top_k": 3,
        "answer": False}, timeout=300)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["answer"] is None and len(body["passages"]) == 3
    assert body["answerer"] is None
    assert body["passages"][0]["title"] == "ada_lovelace"
    assert any("William King" in path for p in body["passages"] for path in p["paths"]
               + p["evidence"])
    # With the bundled model configured, the graph answers: no LLM is loaded.
    reply = client(server).post("/ask", json={
        "question": "Whom did Ada Lovelace marry?", "retriever": "graph", "top_k": 3},
        timeout=300)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["answerer"] == "graph" and body["answer"] == "William King", body
    assert "William King" in body["answer_path"] and body["confidence"] > 0


def test_serve_auth_errors(server):
    assert client(server, None).get("/stats").status_code == 401
    bad = client(server, "not-a-token").get("/stats")
    assert bad.status_code == 401 and "unknown token" in bad.json()["error"]
    for token, says in ((None, "needs a token"), ("not-a-token", "unknown token")):
        query = client(server, token).post("/query", json={"cypher": "RETURN 1 AS one"})
        assert query.status_code == 401 and says in query.json()["error"]
        assert query.headers["WWW-Authenticate"] == "Bearer"
    upload = client(server, READ).post("/documents", files={"file": ("a.txt", b"Hello.")})
    assert upload.status_code == 403 and "write scope" in upload.json()["error"]
    assert client(server, READ).get("/jobs/job_x").status_code == 403


def test_serve_bad_requests_get_clear_422_and_404(server):
    api = client(server)
    hops = api.get(f"/entities/{entity_id(server, 'Ada Lovelace')}/neighbourhood",
                   params={"hops": 9})
    assert hops.status_code == 422 and "hops" in hops.json()["error"]
    missing = api.post("/query", json={"params": {}})
    assert missing.status_code == 422 and "cypher" in missing.json()["error"]
    unknown = api.get("/entities/ent_nope")
    assert unknown.status_code == 404 and "GET /entities?q=" in unknown.json()["error"]
    syntax = api.post("/query", json={"cypher": "MATCH (e RETURN e"})
    assert syntax.status_code == 400 and syntax.json()["error"]
    form = api.post("/query", data={"cypher": "RETURN 1 AS one"})
    assert form.status_code == 422 and "Content-Type: application/json" in form.json()["error"]
    broken = api.post("/query", content=b'{"cypher": ', headers={"Content-Type": JSON})
    assert broken.status_code == 422 and "JSON" in broken.json()["error"]
    extra = api.post("/query", json={"cypher": "RETURN 1 AS one", "limit": 5})
    assert extra.status_code == 422 and "body.limit" in extra.json()["error"]
    assert api.post("/query", json={"cypher": "RETURN 1 AS one"}).json()["rows"] == [[1]]


def test_serve_query_quick_then_slow_keeps_its_full_time_limit(server):
    """A Cypher text that ran quickly runs on the event loop next time (embedded store); a slow
    turn of it (other parameters) still runs to the full 1 s limit, then 504."""
    if httpx.get(server.url + "/health").json()["backend"] != "ladybug":
        pytest.skip("only the embedded store runs quick queries on the event loop (Neo4j's "
                    "planner also makes the 'quick' turn here slow)")
    api = client(server)
    for _ in range(3):
        quick = api.post("/query", json={"cypher": TYPED_TRIPLES, "params": {"t": "NONE"}})
        assert quick.status_code == 200 and quick.json()["rows"] == [[0]]
    slow = api.post("/query", json={"cypher": TYPED_TRIPLES, "params": {"t": "PERSON"}})
    assert slow.status_code == 504 and "longer than 1 s" in slow.json()["error"]
    assert httpx.get(server.url + "/health").status_code == 200


def test_serve_static_files_cannot_escape(server):
    host, port = server.url.removeprefix("http://").split(":")
    for path in ("/static/../pyproject.toml", "/static/..%2f..%2fapp.py",
                 "/static/%2e%2e/app.py", "/static//etc/passwd"):
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        conn.request("GET", path)
        reply = conn.getresponse()
        body = reply.read()
        assert reply.status == 404, (path, reply.status)
        assert b"create_app" not in body and b"root:" not in body
    assert httpx.get(server.url + "/static/cytoscape.min.js").status_code == 200
    page = httpx.get(server.url + "/")
    assert page.status_code == 200 and "/static/cytoscape.min.js" in page.text


def test_serve_upload_job_extracts_shows_in_stats_and_deletes(server):
    api = client(server, WRITE)
    before = api.get("/stats").json()["counts"]["Document"]
    text = b"# Grace Hopper\n\nGrace Hopper developed the first compiler at Remington Rand."
    reply = api.post("/documents", files=[("file", ("hopper.md", text)),
                                          ("file", ("notes.xyz", b"not a supported kind"))])
    assert reply.status_code == 202, reply.text
    job = reply.json()
    assert job["status"] in ("queued", "running") and job["files"] == ["hopper.md", "notes.xyz"]
    deadline = time.monotonic() + 120
    while job["status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.3)
        job = api.get(f"/jobs/{job['id']}").json()
    assert job["status"] == "complete", job
    assert job["documents_written"] == 1 and job["chunks"] == 1
    assert [s["source"] for s in job["skipped"]] == ["notes.xyz"]
    assert api.get("/stats").json()["counts"]["Document"] == before + 1
    hits = api.get("/entities", params={"q": "Grace Hopper"}).json()["hits"]
    assert hits[0]["name"] == "Grace Hopper"

    listing = api.get("/documents", params={"limit": 500}).json()["documents"]
    hopper = next(d for d in listing if d["title"] == "hopper")
    assert client(server, READ).delete(f"/documents/{hopper['id']}").status_code == 403
    deleted = api.delete(f"/documents/{hopper['id']}")
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["chunks"] == 1 and deleted.json()["entities"] >= 1
    assert api.get("/stats").json()["counts"]["Document"] == before
    assert "Grace Hopper" not in [h["name"] for h in api.get(
        "/entities", params={"q": "Grace Hopper"}).json()["hits"]]
    again = api.delete(f"/documents/{hopper['id']}")
    assert again.status_code == 404 and "GET /documents" in again.json()["error"]


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory):
    """No tokens, an empty embedded store, a tiny body limit and rate limit."""
    folder = tmp_path_factory.mktemp("serve-strict")
    process = start_serve(str(folder / "store"), "--rate-limit", "8", "--max-body-mb", "0.001",
                          "--cors-origin", CORS_ORIGIN, log_dir=folder)
    yield process
    process.stop()


def test_serve_empty_store_and_413(strict_server):
    api = httpx.Client(base_url=strict_server.url, timeout=30)
    assert set(api.get("/stats").json()["counts"].values()) == {0}
    assert api.get("/entities", params={"q": "anything"}).json()["hits"] == []
    big = api.post("/documents", files={"file": ("big.txt", b"x" * 5000)})
    assert big.status_code == 413 and "--max-body-mb" in big.json()["error"]
    long_query = api.post("/query", json={"cypher": "RETURN 1 AS one", "params": {"x": "y" * 5000}})
    assert long_query.status_code == 413 and "--max-body-mb" in long_query.json()["error"]
    streamed = api.post("/query", content=iter([b'{"cypher": "RETURN 1 AS one", "params": {"x": "',
                                                 b"y" * 5000, b'"}}']),
                        headers={"Content-Type": JSON})  # no Content-Length
    assert streamed.status_code == 413 and "--max-body-mb" in streamed.json()["error"]


def test_serve_cors_only_for_the_allowed_origin(strict_server, server):
    origin = {"Origin": CORS_ORIGIN}
    query = httpx.post(strict_server.url + "/query", json={"cypher": "RETURN 1 AS one"},
                       headers=origin)
    assert query.headers["access-control-allow-origin"] == CORS_ORIGIN
    other = httpx.post(strict_server.url + "/query", json={"cypher": "RETURN 1 AS one"},
                       headers={"Origin": "http://elsewhere.example"})
    assert "access-control-allow-origin" not in other.headers
    default = client(server).post("/query", json={"cypher": "RETURN 1 AS one"}, headers=origin)
    assert default.status_code == 200 and "access-control-allow-origin" not in default.headers


def test_serve_rate_limit_429_with_retry_after(strict_server):
    api = httpx.Client(base_url=strict_server.url, timeout=30)
    codes = [api.get("/stats") for _ in range(12)]
    limited = [r for r in codes if r.status_code == 429]
    assert limited and int(limited[0].headers["Retry-After"]) >= 1
    assert "retry in" in limited[0].json()["error"]
    query = api.post("/query", json={"cypher": "RETURN 1 AS one"})
    assert query.status_code == 429 and int(query.headers["Retry-After"]) >= 1
    assert api.get("/health").status_code == 200  # health stays open to probes


def test_serve_ask_answers_with_a_real_llm(llama_server, tmp_path):
    """POST /ask with answer=true through the real llama.cpp server and the bundled SmolLM2."""
    from kgx.graphdb import open_store
    from kgx.pipeline import ExtractConfig, extract_corpus
    from kgx.testing.serve import SAMPLE_CORPUS

    store = str(tmp_path / "store")
    with open_store(store) as graph:
        extract_corpus([SAMPLE_CORPUS / "ada_lovelace.md"], graph, ExtractConfig())
    spec = f"openai:{llama_server.model}@{llama_server.url}"
    process = start_serve(store, "--llm", spec, log_dir=tmp_path)
    try:
        reply = httpx.post(process.url + "/ask", timeout=600, json={
            "question": "Whom did Ada Lovelace marry?", "retriever": "bm25", "top_k": 1})
    finally:
        process.stop()
    assert reply.status_code == 200, reply.text
    body = reply.json()
    # A capable-looking --llm (an OpenAI-compatible server) makes the grounded LLM the default.
    assert body["grounding"] is not None and len(body["passages"]) == 1
    assert body["answerer"] == "llm" or "graph" in body["grounding"] or \
        "abstained" in body["grounding"]
    assert all(n == 1 for n in body["citations"])
    assert body["passages"][0]["cited"] == (1 in body["citations"])


def test_serve_refuses_public_host_without_tokens(runner, tmp_path):
    from kgx.errors import ConfigError
    from kgx.testing.cli import fails

    error = fails(runner, "serve", "--store", str(tmp_path / "s"), "--host", "0.0.0.0")
    assert isinstance(error, ConfigError) and "--insecure" in str(error)
