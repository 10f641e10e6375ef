/* kgx graph explorer: search, expand neighbourhoods, facts with provenance, Cypher, Ask. */
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var state = { token: sessionStorage.getItem("kgx-token") || "", retry: null };
  var cy = kgxGraph.create($("cy"), selectEntity, selectFact);
  // For people poking at the page, and for the browser tests (`pending`: requests in flight).
  window.kgx = { cy: cy, pending: 0 };

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "class") node.className = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }

  function api(path, options) {
    options = options || {};
    var headers = Object.assign({}, options.headers || {});
    if (state.token) headers.Authorization = "Bearer " + state.token;
    if (options.json !== undefined) {
      headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(options.json);
    }
    window.kgx.pending++;
    var done = function () { window.kgx.pending--; };
    return fetch(path, { method: options.method || "GET", headers: headers, body: options.body })
      .finally(done)
      .then(function (reply) {
        return reply.json().catch(function () { return {}; }).then(function (body) {
          if (reply.status === 401) {
            askForToken(body.error);
            state.retry = function () { return api(path, options); };
          }
          if (!reply.ok) throw new Error(body.error || ("HTTP " + reply.status));
          return body;
        });
      });
  }

  /* -- token ------------------------------------------------------------------------------ */
  function askForToken(message) {
    $("token-error").textContent = state.token ? (message || "") : "";
    $("token-dialog").hidden = false;
    $("token-input").focus();
  }
  $("token-form").addEventListener("submit", function (event) {
    event.preventDefault();
    state.token = $("token-input").value.trim();
    sessionStorage.setItem("kgx-token", state.token);
    $("token-dialog").hidden = true;
    start();
  });
  $("token-button").addEventListener("click", function () { askForToken(""); });

  /* -- start: health, counts, empty state --------------------------------------------------- */
  function start() {
    api("/health").then(function (health) {
      $("store-name").textContent = health.backend + " · " + health.store;
      $("token-button").hidden = !health.auth_required;
      if (health.auth_required && !state.token) { askForToken(""); return null; }
      return api("/stats").then(showCounts);
    }).catch(function (e) { $("counts").textContent = e.message; });
  }

  function showCounts(stats) {
    var c = stats.counts;
    $("counts").textContent = c.Entity + " entities · " + c.RELATION + " facts · "
      + c.Document + " documents";
    $("empty-state").hidden = c.Entity > 0 || c.Document > 0;
  }

  /* -- search and the drawn graph ----------------------------------------------------------- */
  $("search-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var text = $("search-input").value.trim();
    if (!text) return;
    $("results").replaceChildren();
    api("/entities?q=" + encodeURIComponent(text) + "&limit=20").then(function (found) {
      $("results-hint").textContent = found.hits.length
        ? found.hits.length + " entities match “" + text + "”."
        : "No entity matches “" + text + "”. Try another spelling.";
      found.hits.forEach(function (hit) { $("results").appendChild(entityButton(hit)); });
      if (found.hits.length) {
        selectEntity(found.hits[0].id);
        $("results").querySelector("button").focus();
      }
    }).catch(showError("results-hint"));
  });

  function entityButton(entity) {
    var button = el("button", { type: "button", "data-id": entity.id,
                                title: (entity.aliases || []).join(", ") }, [
      el("span", { class: "swatch", style: "background:" + kgxGraph.colorFor(entity.type) }),
      el("span", { text: entity.name }), el("span", { class: "type", text: entity.type || "" })]);
    button.addEventListener("click", function () { selectEntity(entity.id); });
    return el("li", {}, [button]);
  }

  function expand(id) {
    return api("/entities/" + encodeURIComponent(id) + "/neighbourhood?hops=1&limit=60")
      .then(function (hood) {
        var added = kgxGraph.add(cy, hood.nodes, hood.edges);
        cy.getElementById(id).addClass("center");
        if (added) kgxGraph.relayout(cy);
        listDrawn();
        return hood;
      });
  }

  function listDrawn() {
    kgxGraph.legend(cy, $("legend"));
    var list = $("drawn");
    list.replaceChildren();
    cy.nodes().sort(function (a, b) { return a.data("name").localeCompare(b.data("name")); })
      .forEach(function (node) {
        list.appendChild(entityButton({ id: node.id(), name: node.data("name"),
                                        type: node.data("type") }));
      });
  }

  $("clear-graph").addEventListener("click", function () {
    cy.elements().remove();
    listDrawn();
  });

  /* -- side panel: entity and fact details with provenance ---------------------------------- */
  function selectEntity(id) {
    cy.elements().unselect();
    expand(id).then(function () { cy.getElementById(id).select(); });
    $("details").replaceChildren(el("p", { class: "muted", text: "Loading…" }));
    api("/entities/" + encodeURIComponent(id)).then(showEntity).catch(showError("details"));
  }

  function selectFact(id) {
    api("/facts/" + encodeURIComponent(id)).then(function (fact) {
      $("details").replaceChildren(el("h2", { text: "Fact" }), factCard(fact));
    }).catch(showError("details"));
  }

  function showEntity(detail) {
    var e = detail.entity, panel = $("details");
    panel.replaceChildren();
    [ el("h2", { text: e.type || "entity" }),
      el("h3", { id: "entity-name", text: e.name }),
      e.aliases.length ? el("p", { class: "muted", text: "Also: " + e.aliases.join(", ") }) : null,
      el("p", { class: "muted", text: detail.facts.length + " facts"
        + (detail.facts_truncated ? " (first shown)" : "") + " · mentioned in "
        + detail.mentions.length + " chunks" })
    ].forEach(function (child) { if (child) panel.appendChild(child); });
    detail.facts.forEach(function (fact) { panel.appendChild(factCard(fact)); });
    detail.propositions.forEach(function (p) {
      panel.appendChild(provenanceCard(el("div", { class: "triple", text: p.text }), p.provenance,
                                       null));
    });
    if (!detail.facts.length && detail.mentions.length) {
      panel.appendChild(el("h2", { text: "Mentioned in" }));
      detail.mentions.forEach(function (m) {
        panel.appendChild(el("p", { text: (m.title || m.doc_id) + " · " + m.chunk_id }));
      });
    }
  }

  function factCard(fact) {
    var triple = el("div", { class: "triple" }, [
      el("span", { text: fact.subject.name + " " }),
      el("span", { class: "pred", text: "—" + fact.predicate + "→" }),
      el("span", { text: " " + fact.object.name })]);
    return provenanceCard(triple, fact.provenance, fact.confidence);
  }

  function provenanceCard(head, prov, confidence) {
    var rows = [["document", prov.document_title || prov.doc_id],
                ["page", prov.page == null ? null : "p. " + prov.page], ["extractor", prov.extractor],
                ["version", prov.extractor_version], ["model", prov.model],
                ["prompt", prov.prompt_version], ["run", prov.run_id],
                ["confidence", confidence == null ? null : String(confidence)],
                ["span", prov.start_char == null ? null : prov.start_char + "–" + prov.end_char]];
    var dl = el("dl", { class: "prov" });
    rows.forEach(function (r) {
      if (r[1] == null || r[1] === "") return;
      dl.appendChild(el("dt", { text: r[0] }));
      dl.appendChild(el("dd", { text: r[1] }));
    });
    return el("div", { class: "fact" }, [head, dl, chunkWithSpan(prov)]);
  }

  function chunkWithSpan(prov) {
    if (!prov.chunk_text) return null;
    var text = prov.chunk_text, box = el("div", { class: "chunk", tabindex: "0",
                                                 "aria-label": "source chunk" });
    if (prov.span_start == null) { box.textContent = text; return box; }
    box.appendChild(document.createTextNode(text.slice(0, prov.span_start)));
    box.appendChild(el("mark", { class: "evidence", text: text.slice(prov.span_start, prov.span_end) }));
    box.appendChild(document.createTextNode(text.slice(prov.span_end)));
    setTimeout(function () {
      var mark = box.querySelector("mark");
      if (mark) box.scrollTop = Math.max(0, mark.offsetTop - box.offsetTop - 40);
    }, 0);
    return box;
  }

  function showError(target) {
    return function (error) {
      $(target).replaceChildren(el("p", { class: "error", role: "alert", text: error.message }));
    };
  }

  /* -- tools: tabs, Cypher console, Ask ----------------------------------------------------- */
  var tabs = [$("tab-cypher"), $("tab-ask")];
  function selectTab(tab) {
    tabs.forEach(function (t) {
      var on = t === tab;
      t.setAttribute("aria-selected", String(on));
      t.tabIndex = on ? 0 : -1;
      $(t.getAttribute("aria-controls")).hidden = !on;
    });
    tab.focus();
  }
  tabs.forEach(function (tab, i) {
    tab.addEventListener("click", function () { selectTab(tab); });
    tab.addEventListener("keydown", function (event) {
      if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
        selectTab(tabs[(i + (event.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length]);
      }
    });
  });

  $("cypher-input").addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      $("cypher-form").requestSubmit();
    }
  });

  $("cypher-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var params;
    try { params = JSON.parse($("cypher-params").value || "{}"); }
    catch (e) { $("cypher-status").textContent = "Parameters are not JSON: " + e.message; return; }
    $("cypher-status").textContent = "Running…";
    api("/query", { method: "POST", json: { cypher: $("cypher-input").value, params: params } })
      .then(function (result) {
        $("cypher-status").textContent = result.rows.length + " rows"
          + (result.truncated ? " (cut at the row cap of " + result.row_cap + ")" : "")
          + " in " + result.elapsed_ms.toFixed(0) + " ms";
        $("cypher-result").replaceChildren(table(result.columns, result.rows));
        if ($("cypher-draw").checked) {
          var graph = kgxGraph.fromRows(result.rows);
          if (graph.nodes.length) {
            cy.elements().remove();
            kgxGraph.add(cy, graph.nodes, graph.edges);
            kgxGraph.relayout(cy);
            listDrawn();
          }
        }
      }).catch(function (e) {
        $("cypher-status").textContent = "";
        showError("cypher-result")(e);
      });
  });

  function table(columns, rows) {
    var head = el("tr", {}, columns.map(function (c) { return el("th", { scope: "col", text: c }); }));
    var body = rows.map(function (row) {
      return el("tr", {}, row.map(function (v) {
        return el("td", { text: v !== null && typeof v === "object" ? JSON.stringify(v)
                                                                     : String(v) });
      }));
    });
    return el("table", { id: "cypher-table" }, [el("thead", {}, [head]), el("tbody", {}, body)]);
  }

  $("ask-form").addEventListener("submit", function (event) {
    event.preventDefault();
    $("ask-status").textContent = "Thinking… (the first question loads the retriever)";
    $("ask-result").replaceChildren();
    api("/ask", { method: "POST", json: { question: $("ask-input").value,
                                           retriever: $("ask-retriever").value,
                                           answerer: $("ask-answerer").value || null,
                                           answer: $("ask-answer").checked, top_k: 5 } })
      .then(showAnswer).catch(function (e) {
        $("ask-status").textContent = "";
        showError("ask-result")(e);
      });
  });

  function showAnswer(reply) {
    $("ask-status").textContent = reply.passages.length + " passages from the "
      + reply.retriever + " retriever";
    var out = $("ask-result");
    if (reply.answerer !== null) {
      var who = reply.answerer + " answerer" + (reply.confidence !== null
        ? ", confidence " + reply.confidence.toFixed(2) : "");
      out.appendChild(el("p", { class: "answer", text: "Answer: "
        + (reply.answer === null ? "not found in the graph" : reply.answer)
        + reply.citations.map(function (n) { return " [" + n + "]"; }).join("")
        + " (" + who + ")" }));
      var why = [];
      if (reply.answer_path) why.push(el("li", { text: "path: " + reply.answer_path }));
      reply.answer_facts.forEach(function (f) { why.push(el("li", { text: "fact: " + f })); });
      if (reply.grounding) why.push(el("li", { text: "grounding: " + reply.grounding }));
      if (reply.answer_reason) why.push(el("li", { text: "how: " + reply.answer_reason }));
      if (why.length) out.appendChild(el("ul", { class: "answer-evidence" }, why));
    }
    if (reply.answer_error) out.appendChild(el("p", { class: "error", text: reply.answer_error }));
    if (reply.retrieval_error) out.appendChild(el("p", { class: "error", text: reply.retrieval_error }));
    if (reply.cypher) out.appendChild(el("pre", { text: "Cypher (ran read-only): " + reply.cypher }));
    reply.passages.forEach(function (p, i) {
      var facts = p.paths.concat(p.evidence).map(function (t) { return el("li", { text: t }); });
      out.appendChild(el("div", { class: "passage" + (p.cited ? " cited" : "") }, [
        el("strong", { text: "[" + (i + 1) + "]" + (p.cited ? " cited · " : " ")
                              + (p.title || p.doc_id) }),
        el("p", { text: p.text.length > 400 ? p.text.slice(0, 400) + "…" : p.text }),
        facts.length ? el("ul", {}, facts) : null]));
    });
  }

  start();
})();
