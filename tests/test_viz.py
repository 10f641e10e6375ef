"""`kgx viz`: a self-contained HTML file that draws the subgraph in a real headless Chromium."""

from __future__ import annotations

import re

import pytest

from kgx.errors import ConfigError
from kgx.testing.browser import start_chromium, wait_for
from kgx.testing.cli import fails, invoke
from kgx.testing.serve import build_sample_store

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    uri = str(tmp_path_factory.mktemp("viz") / "store")
    build_sample_store(uri)
    return uri


@pytest.fixture(scope="module")
def browser():
    driver = start_chromium(1200, 800)
    yield driver
    driver.quit()


def drawn(browser, page) -> tuple[int, int]:
    browser.get(page.as_uri())
    wait_for(browser, lambda d: d.execute_script("return !!window.kgxViz"))
    return tuple(browser.execute_script(
        "return [window.kgxViz.cy.nodes().length, window.kgxViz.cy.edges().length]"))


def test_viz_entity_neighbourhood_draws_offline(store, browser, runner, tmp_path):
    from kgx.graphdb import open_store
    from kgx.serve.graph import GraphService

    with open_store(store, read_only=True) as graph:
        service = GraphService(graph)
        ada = service.entity_by_name("Ada Lovelace")
        hood = service.neighbourhood(ada.id, hops=2, limit=300)
    page = tmp_path / "ada.html"
    output = invoke(runner, "viz", str(page), "--store", store, "--entity", "Ada Lovelace",
                    "--hops", "2")
    assert f"{len(hood.nodes)} nodes, {len(hood.edges)} edges" in output
    text = page.read_text()
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=\"http", text)  # nothing fetched
    assert "The Cytoscape Consortium" in text
    assert drawn(browser, page) == (len(hood.nodes), len(hood.edges))
    names = browser.execute_script("return window.kgxViz.cy.nodes().map(n => n.data('name'))")
    assert {"Ada Lovelace", "William King"} <= set(names)
    browser.save_screenshot(str(tmp_path / "viz.png"))


def test_viz_query_draws_paths(store, browser, runner, tmp_path):
    page = tmp_path / "paths.html"
    invoke(runner, "viz", str(page), "--store", store, "--query",
           "MATCH p = (s:Entity)-[:RELATION]->(o:Entity) WHERE s.type = 'PERSON' "
           "RETURN p LIMIT 6")
    nodes, edges = drawn(browser, page)
    assert edges == 6 and 2 <= nodes <= 12


def test_viz_needs_one_source(store, runner, tmp_path):
    error = fails(runner, "viz", str(tmp_path / "x.html"), "--store", store)
    assert isinstance(error, ConfigError) and "--entity" in str(error)
    missing = fails(runner, "viz", str(tmp_path / "x.html"), "--store", store,
                    "--entity", "zzzzqqqq")
    assert "no entity matches" in str(missing)
