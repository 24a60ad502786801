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
echo "The replies are in var/outbox/*.eml (open them in any mail client). Try next:"
echo "  .venv/bin/mailflow items list                      # action items and their deadlines"
echo "  .venv/bin/mailflow outbox list --json              # what was sent, to whom, in which thread"
echo "  .venv/bin/mailflow rules test examples/inbox/new/1696757414.M1017P4101.example"
echo "  .venv/bin/mailflow parse --json examples/inbox/new/1696757414.M1017P4101.example"
