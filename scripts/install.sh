#!/usr/bin/env bash
# Create .venv (or reuse it) and install queuekit, every sibling backend, the example plugin
# and the test tools, all in ONE pip call so pip resolves siblings from this checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
editables=(-e ".[test,lint]" -e tests/plugin)
for backend in backends/*/; do
    [ -f "$backend/pyproject.toml" ] && editables+=(-e "$backend")
done
.venv/bin/python -m pip install -q "${editables[@]}" 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import queuekit, queuekit_spool" 
