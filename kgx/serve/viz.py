"""`kgx viz`: a subgraph as one self-contained HTML file (cytoscape.js inlined), or in a notebook.

    with open_store("./kgx-store", read_only=True) as store:
        graph = subgraph_from_entity(store, "Ada Lovelace", hops=2)
    write_html("ada.html", graph)      # or just `graph` as a notebook cell's last line
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import STATIC
from .graph import GraphService


@dataclass
class Subgraph:
    """Nodes and edges to draw (API shapes), plus Cypher rows whose nodes and paths the page draws.
    """

    title: str
    nodes: list[dict[str, Any]] = field(default_factory=list)
    edges: list[dict[str, Any]] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)

    def to_html(self) -> str:
        """The page: the data, cytoscape.js and the kgx graph view inlined; no network needed."""
        data = json.dumps({"title": self.title, "nodes": self.nodes, "edges": self.edges,
                           "rows": self.rows}, ensure_ascii=False, default=str)
        return _PAGE.format(title=html.escape(self.title),
                            cytoscape=_inline_script(STATIC / "cytoscape.min.js"),
                            graph_view=_inline_script(STATIC / "graph-view.js"),
                            data=_script_safe(data))

    def summary(self) -> str:
        """What the page draws, in words."""
        if self.rows:
            return f"the nodes and paths of {len(self.rows)} rows"
        return f"{len(self.nodes)} nodes, {len(self.edges)} edges"

    def _repr_html_(self) -> str:
        """Jupyter shows the page in a sandboxed frame."""
        return (f'<iframe title="{html.escape(self.title)}" sandbox="allow-scripts" '
                f'style="width:100%;height:520px;border:1px solid #ddd" '
                f'srcdoc="{html.escape(self.to_html(), quote=True)}"></iframe>')


def subgraph_from_entity(store, name: str, *, hops: int = 2, limit: int = 300) -> Subgraph:
    """The neighbourhood of the entity best matching `name`, at most `limit` edges."""
    graph = GraphService(store)
    entity = graph.entity_by_name(name)
    hood = graph.neighbourhood(entity.id, hops=hops, limit=limit)
    title = f"{entity.name} ({entity.type or 'entity'}), {hops} hops"
    return Subgraph(title=title + (", cut at the edge limit" if hood.truncated else ""),
                    nodes=[n.model_dump() for n in hood.nodes],
                    edges=[e.model_dump() for e in hood.edges])


def subgraph_from_query(store, cypher: str, *, limit: int = 300,
                        params: dict[str, Any] | None = None) -> Subgraph:
    """The nodes, relationships and paths in the rows of a read-only query (at most `limit`)."""
    result = GraphService(store, max_rows=limit).query(cypher, params or {})
    return Subgraph(title=cypher if len(cypher) <= 120 else cypher[:117] + "…", rows=result.rows)


def write_html(path: str | Path, subgraph: Subgraph) -> Path:
    """Write the page to `path`; returns it."""
    path = Path(path)
    path.write_text(subgraph.to_html(), encoding="utf-8")
    return path


def _inline_script(resource) -> str:
    return _script_safe(resource.read_text(encoding="utf-8"))


def _script_safe(text: str) -> str:
    """Text that cannot close the <script> element it is inlined in."""
    return text.replace("</", "<\\/")


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · kgx</title>
<style>
  html, body {{ margin: 0; height: 100%; font-family: system-ui, sans-serif; }}
  header {{ padding: 8px 14px; border-bottom: 1px solid #ddd; font-size: 14px; }}
  #cy {{ position: absolute; top: 40px; bottom: 0; left: 0; right: 0; }}
  #legend {{ position: absolute; left: 8px; bottom: 8px; font-size: 12px; z-index: 2;
            background: rgba(255,255,255,.85); padding: 4px 6px; }}
  #legend span {{ margin-right: 10px; }}
  .swatch {{ display: inline-block; width: 10px; height: 10px; border-radius: 50%;
            margin-right: 4px; }}
</style>
</head>
<body>
<header><strong>kgx</strong> · <span id="title">{title}</span> · <span id="count"></span></header>
<div id="cy" role="img" aria-label="{title}"></div>
<div id="legend"></div>
<!-- cytoscape.js, MIT licence, Copyright (c) 2016-2026 The Cytoscape Consortium -->
<script>{cytoscape}</script>
<script>{graph_view}</script>
<script>
(function () {{
  var data = {data};
  var cy = kgxGraph.create(document.getElementById("cy"));
  var fromRows = kgxGraph.fromRows(data.rows);
  kgxGraph.add(cy, data.nodes.concat(fromRows.nodes), data.edges.concat(fromRows.edges));
  kgxGraph.relayout(cy);
  document.getElementById("count").textContent =
    cy.nodes().length + " nodes, " + cy.edges().length + " edges";
  kgxGraph.legend(cy, document.getElementById("legend"));
  window.kgxViz = {{ cy: cy }};
}})();
</script>
</body>
</html>
"""
