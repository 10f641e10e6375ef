#!/usr/bin/env bash
# Set up a fresh machine for kgx: a virtualenv in .venv with kgx and its test/demo extras.
# torch, when a later feature needs it, comes from ../shared/wheels (CPU build), never from the
# multi-GB CUDA build on PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip

FIND_LINKS=()
if [ -d ../shared/wheels ]; then
  FIND_LINKS=(--find-links ../shared/wheels)
fi
# KGX_EXTRAS picks the extras (the Dockerfile installs local,formats,neo4j,serve with this script).
EXTRAS=${KGX_EXTRAS:-local,formats,neo4j,distill,dev}
.venv/bin/python -m pip install --quiet "${FIND_LINKS[@]}" -e ".[${EXTRAS}]"
echo "kgx is installed in .venv ($(.venv/bin/kgx --help >/dev/null && echo ok))" >&2
