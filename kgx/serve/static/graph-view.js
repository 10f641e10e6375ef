/* kgx graph view: cytoscape set-up shared by the explorer (kgx serve) and `kgx viz` pages. */
(function (global) {
  "use strict";
  var PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
                 "#ff9da7", "#9c755f", "#bab0ac", "#2f4b7c", "#a05195"];

  function colorFor(type) {
    var text = String(type || "?"), hash = 0;
    for (var i = 0; i < text.length; i++) hash = (hash * 31 + text.charCodeAt(i)) >>> 0;
    return PALETTE[hash % PALETTE.length];
  }

  function create(container, onNode, onEdge) {
    var cy = cytoscape({
      container: container,
      maxZoom: 1.6,
      style: [
        { selector: "node", style: {
            "background-color": "data(color)", "label": "data(name)", "font-size": 11,
            "text-valign": "bottom", "text-margin-y": 3, "width": 22, "height": 22,
            "text-wrap": "ellipsis", "text-max-width": 120, "border-width": 1,
            "border-color": "#ffffff" } },
        { selector: "node.center", style: { "width": 32, "height": 32, "font-weight": "bold" } },
        { selector: "node:selected", style: { "border-width": 4, "border-color": "#f0a500" } },
        { selector: "edge", style: {
            "width": 1.5, "line-color": "#9aa3b5", "target-arrow-color": "#9aa3b5",
            "target-arrow-shape": "triangle", "curve-style": "bezier", "label": "data(label)",
            "font-size": 9, "color": "#39404f", "text-rotation": "autorotate",
            "text-background-color": "#ffffff", "text-background-opacity": 0.8,
            "text-background-padding": 1 } },
        { selector: "edge:selected", style: { "width": 3, "line-color": "#f0a500",
                                              "target-arrow-color": "#f0a500" } }
      ]
    });
    if (onNode) cy.on("tap", "node", function (event) { onNode(event.target.id(), event.target); });
    if (onEdge) cy.on("tap", "edge", function (event) { onEdge(event.target.id(), event.target); });
    return cy;
  }

  function nodeElement(node) {
    return { group: "nodes", data: { id: node.id, name: node.name || node.id,
                                     type: node.type || "", color: colorFor(node.type) } };
  }

  function edgeElement(edge) {
    return { group: "edges", data: { id: edge.id, source: edge.source, target: edge.target,
                                     label: edge.predicate || edge.type || "" } };
  }

  /* Add nodes and edges (API shapes) that are not drawn yet; returns how many were new. */
  function add(cy, nodes, edges) {
    var fresh = [];
    nodes.forEach(function (n) { if (cy.getElementById(n.id).empty()) fresh.push(nodeElement(n)); });
    cy.add(fresh);
    var links = [];
    edges.forEach(function (e) {
      if (cy.getElementById(e.id).empty() && !cy.getElementById(e.source).empty()
          && !cy.getElementById(e.target).empty()) links.push(edgeElement(e));
    });
    cy.add(links);
    return fresh.length + links.length;
  }

  function relayout(cy) {
    if (cy.edges().empty()) {  // lone nodes: a grid keeps their labels apart
      cy.layout({ name: "grid", padding: 40, avoidOverlapPadding: 40 }).run();
      return;
    }
    cy.layout({ name: "cose", animate: false, nodeRepulsion: 9000, idealEdgeLength: 90,
                padding: 30 }).run();
  }

  /* Nodes and edges in rows of a Cypher result: nodes, relationships between the nodes of
     their row, and paths. Values are the API's plain shapes (`_labels`, `_type`). */
  function fromRows(rows) {
    var nodes = {}, edges = {}, counter = 0;
    function nodeOf(value) {
      var id = value.id || JSON.stringify(value);
      nodes[id] = { id: id, name: value.name || value.title || value.text || id,
                    type: value.type || (value._labels || [])[0] };
      return id;
    }
    function isNode(v) { return v && typeof v === "object" && Array.isArray(v._labels); }
    function isEdge(v) { return v && typeof v === "object" && typeof v._type === "string"; }
    function isPath(v) { return v && typeof v === "object" && Array.isArray(v.nodes)
                                && Array.isArray(v.relationships); }
    rows.forEach(function (row) {
      var rowNodes = [], rowEdges = [];
      row.forEach(function (value) {
        if (isPath(value)) {
          var ids = value.nodes.map(nodeOf);
          value.relationships.forEach(function (rel, i) {
            if (ids[i + 1] === undefined) return;
            var id = rel.id || "path-" + (counter++);
            edges[id] = { id: id, source: ids[i], target: ids[i + 1],
                          predicate: rel.predicate || rel._type };
          });
        } else if (isNode(value)) {
          rowNodes.push(nodeOf(value));
        } else if (isEdge(value)) {
          rowEdges.push(value);
        }
      });
      rowEdges.forEach(function (rel) {
        if (rowNodes.length < 2) return;
        var id = rel.id || "row-" + (counter++);
        edges[id] = { id: id, source: rowNodes[0], target: rowNodes[rowNodes.length - 1],
                      predicate: rel.predicate || rel._type };
      });
    });
    return { nodes: Object.values(nodes), edges: Object.values(edges) };
  }

  /* One coloured dot per entity type drawn, in `element`. */
  function legend(cy, element) {
    var types = {};
    cy.nodes().forEach(function (n) { types[n.data("type") || "?"] = n.data("color"); });
    element.replaceChildren();
    Object.keys(types).sort().forEach(function (type) {
      var item = document.createElement("span"), dot = document.createElement("span");
      dot.className = "swatch";
      dot.style.background = types[type];
      item.appendChild(dot);
      item.appendChild(document.createTextNode(" " + type));
      element.appendChild(item);
    });
  }

  global.kgxGraph = { colorFor: colorFor, create: create, add: add, relayout: relayout,
                      fromRows: fromRows, legend: legend };
})(window);
