#!/usr/bin/env bash
# Quick start, command 1: install mailflow in .venv and run it once on the embedded default
# (SQLite under var/, the bundled example inbox in examples/inbox), then show what it stored.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  python3 -m venv .venv
fi
echo "==> installing mailflow into .venv"
.venv/bin/pip install --quiet --disable-pip-version-check -e .

echo "==> mailflow db upgrade"
.venv/bin/mailflow db upgrade
echo "==> mailflow run --once   (source: ${MAILFLOW_SOURCE:-maildir://examples/inbox})"
.venv/bin/mailflow run --once
echo
echo "Try next:  .venv/bin/mailflow messages list --json"
echo "           .venv/bin/mailflow parse examples/inbox/new/<file> "
