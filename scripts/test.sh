#!/usr/bin/env bash
# The README's test command: install what the tests need (scripts/setup.sh: every extra but
# vllm), unless this .venv already has it, then run pytest with any arguments given.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(cat .venv/kgx-full-setup 2>/dev/null)" != "$(cat pyproject.toml scripts/setup.sh | sha256sum)" ]; then
  scripts/setup.sh
fi
exec .venv/bin/python -m pytest "$@"
