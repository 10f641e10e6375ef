"""The graph explorer in a real headless Chromium (Debian's chromium + chromium-driver)."""

from __future__ import annotations

import contextlib
import time

import httpx
import pytest

from kgx.testing.browser import start_chromium, wait_for
from kgx.testing.serve import build_sample_store, start_serve

pytestmark = [pytest.mark.slow, pytest.mark.browser]

TOKEN = "browser-read-token"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("explorer")
    store = str(folder / "store")
    build_sample_store(store)
    process = start_serve(store, "--rate-limit", "0", tokens=f"{TOKEN}:read", log_dir=folder)
    yield process
    process.stop()


@pytest.fixture
def browser():
    driver = start_chromium()
    yield driver
    driver.quit()


def click_element(driver, element_id: str, along: float = 0.5) -> None:
    """A real mouse click on a node's centre, or on an edge `along` the way from its source,
    once the page has no request in flight (a late neighbourhood would move the graph)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    wait_for(driver, lambda d: d.execute_script("return window.kgx.pending === 0"))
    settled = []  # a layout still animating would move the element between reading and clicking

    def still(d) -> bool:
        settled.append(d.execute_script(
            "var e = window.kgx.cy.getElementById(arguments[0]);"
            "var p = e.isNode() ? e.renderedPosition() : e.renderedMidpoint();"
            "return [Math.round(p.x), Math.round(p.y)];", element_id))
        time.sleep(0.2)
        return len(settled) > 1 and settled[-1] == settled[-2]

    wait_for(driver, still)
    x, y, width, height = driver.execute_script(
        "var e = window.kgx.cy.getElementById(arguments[0]), t = arguments[1];"
        "var p = e.isNode() ? e.renderedPosition() : {"
        "  x: e.source().renderedPosition().x * (1 - t) + e.target().renderedPosition().x * t,"
        "  y: e.source().renderedPosition().y * (1 - t) + e.target().renderedPosition().y * t};"
        "var box = document.getElementById('cy');"
        "return [p.x, p.y, box.clientWidth, box.clientHeight];", element_id, along)
    canvas = driver.find_element(By.ID, "cy")
    ActionChains(driver).move_to_element_with_offset(
        canvas, int(x - width / 2), int(y - height / 2)).click().perform()


def test_explorer_search_expand_provenance_and_cypher(server, browser, tmp_path):
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By

    api = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"})
    ada = next(h["id"] for h in api.get("/entities", params={"q": "Ada Lovelace"}).json()["hits"]
               if h["name"] == "Ada Lovelace")
    hood = api.get(f"/entities/{ada}/neighbourhood", params={"hops": 1, "limit": 60}).json()

    browser.get(server.url + "/")
    token_box = wait_for(browser, lambda d: d.find_element(By.ID, "token-input"))
    wait_for(browser, lambda d: token_box.is_displayed())  # the page asks for the token
    token_box.send_keys(TOKEN + "\n")
    wait_for(browser, lambda d: "entities" in d.find_element(By.ID, "counts").text)
    assert not browser.find_element(By.ID, "empty-state").is_displayed()

    browser.find_element(By.ID, "search-input").send_keys("Ada Lovelace\n")
    drawn = lambda d: d.execute_script("return window.kgx.cy.nodes().length")  # noqa: E731
    wait_for(browser, lambda d: drawn(d) == len(hood["nodes"]))
    names = browser.execute_script("return window.kgx.cy.nodes().map(n => n.data('name'))")
    assert {"Ada Lovelace", "William King"} <= set(names)
    assert browser.execute_script("return window.kgx.cy.edges().length") == len(hood["edges"])

    king = next(n["id"] for n in hood["nodes"] if n["name"] == "William King")
    click_element(browser, king)
    wait_for(browser, lambda d: d.find_element(By.ID, "entity-name").text == "William King")
    mark = wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#details mark.evidence"))
    evidence = mark.text
    assert evidence == "Lovelace married William King in 1835."
    assert "spacy.svo.v1" in browser.find_element(By.ID, "details").text

    married = next(e["id"] for e in hood["edges"] if e["target"] == king)
    panel_text = ("var h = document.querySelector('#details h2'), m = "
                  "document.querySelector('#details mark.evidence');"
                  "return [h && h.textContent, m && m.textContent];")
    for along in (0.5, 0.35, 0.65):  # a label or another node may lie over one point
        click_element(browser, married, along)  # an edge opens its fact
        with contextlib.suppress(TimeoutException):
            wait_for(browser, lambda d: d.execute_script(panel_text) == ["Fact", evidence], 10)
            break
    assert browser.execute_script(panel_text) == ["Fact", evidence]

    query = browser.find_element(By.ID, "cypher-input")
    query.clear()
    query.send_keys("MATCH (e:Entity) WHERE e.type = $t RETURN e.name AS name, e LIMIT 7")
    params = browser.find_element(By.ID, "cypher-params")
    params.clear()
    params.send_keys('{"t": "PERSON"}')
    browser.find_element(By.CSS_SELECTOR, "#cypher-form button[type=submit]").click()
    rows = wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#cypher-table tbody tr"))
    assert len(rows) == 7
    assert browser.find_element(By.ID, "cypher-status").text.startswith("7 rows")
    wait_for(browser, lambda d: drawn(d) == 7)  # the nodes of the result are drawn

    browser.find_element(By.ID, "tab-ask").click()
    browser.find_element(By.ID, "ask-input").send_keys("Whom did Ada Lovelace marry?")
    browser.find_element(By.ID, "ask-retriever").send_keys("graph")
    # The default answerer is the graph's: no LLM in this test.
    browser.find_element(By.CSS_SELECTOR, "#ask-form button[type=submit]").click()
    passages = wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#ask-result .passage"))
    assert len(passages) == 5 and "ada_lovelace" in passages[0].text
    answer = browser.find_element(By.CSS_SELECTOR, "#ask-result .answer").text
    assert answer.startswith("Answer: William King") and "graph answerer" in answer
    assert "path: " in browser.find_element(By.CSS_SELECTOR, "#ask-result .answer-evidence").text

    shot = tmp_path / "explorer.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    print(f"screenshot: {shot}")


def test_explorer_empty_store_shows_empty_state(browser, tmp_path):
    process = start_serve(str(tmp_path / "empty"), log_dir=tmp_path)
    try:
        from selenium.webdriver.common.by import By

        browser.get(process.url + "/")
        empty = wait_for(browser, lambda d: d.find_element(By.ID, "empty-state"))
        wait_for(browser, lambda d: empty.is_displayed())
        assert "This graph is empty" in empty.text and "kgx extract" in empty.text
    finally:
        process.stop()


def test_api_docs_render_offline(server, browser):
    """/docs is Swagger UI from the package: it draws every endpoint without a CDN."""
    from selenium.webdriver.common.by import By

    browser.get(server.url + "/docs")
    wait_for(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock")) >= 12)
    paths = browser.execute_script(
        "return [...document.querySelectorAll('.opblock-summary-path')].map(e => e.textContent)")
    assert "/query" in paths and "/entities/{entity_id}/neighbourhood" in paths
