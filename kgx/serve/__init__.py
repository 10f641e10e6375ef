"""`kgx serve`, `kgx mcp` and `kgx viz`: the graph over HTTP, to agents, and as a shareable page.

Needs the `serve` extra (`pip install 'kgx-graph[serve]'`): FastAPI, uvicorn and the MCP SDK.
Nothing here is imported by `import kgx`.
"""

from importlib.resources import files

STATIC = files("kgx.serve") / "static"
"""The explorer page, its script and the vendored cytoscape.js (package data)."""
