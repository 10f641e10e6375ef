#!/usr/bin/env bash
# The README's first command: set up this machine with what the main job needs (kgx[spacy]:
# spaCy, its small English model and the embedded store; no torch, no llama.cpp), extract a
# graph from the bundled sample corpus into the embedded store, and query it with Cypher.
# scripts/test.sh (the test command) installs everything else.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh spacy
STORE=${KGX_STORE:-./kgx-store}
.venv/bin/kgx extract samples/corpus --store "$STORE"
.venv/bin/kgx stats --store "$STORE"
.venv/bin/kgx query --store "$STORE" \
  "MATCH (a:Entity)-[r:RELATION]->(b:Entity) WHERE a.type = \$type
   RETURN a.name, r.predicate, b.name, r.confidence ORDER BY r.confidence DESC, a.name LIMIT 15" \
  -p type=PERSON
