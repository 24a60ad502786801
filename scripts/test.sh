#!/usr/bin/env bash
# Quick start, command 2: install the test dependencies and services, then run lint, types,
# the architecture check and the whole test suite against real servers. CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

echo "==> Debian packages (Dovecot for the real IMAP server the tests start)"
if ! command -v dovecot >/dev/null 2>&1; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd >/dev/null
fi

echo "==> services (PostgreSQL on 127.0.0.1:5432)"
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi

echo "==> Python environment (.venv)"
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -e '.[test]'

echo "==> ruff"
.venv/bin/ruff check mailflow tests migrations benchmarks examples
.venv/bin/ruff format --check mailflow tests migrations benchmarks examples
echo "==> mypy"
.venv/bin/mypy
echo "==> import-linter (layers point one way)"
.venv/bin/lint-imports
echo "==> pytest"
.venv/bin/pytest "$@"
