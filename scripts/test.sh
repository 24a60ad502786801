#!/usr/bin/env bash
# Quick start, command 2: install the test dependencies and services, then run lint, types,
# the architecture check and the whole test suite against real servers. CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

echo "==> Debian packages (Dovecot and OpenLDAP for the real IMAP and LDAP servers the tests start, Chromium for the web view)"
packages=()
command -v dovecot >/dev/null 2>&1 || packages+=(dovecot-imapd)
[ -x /usr/sbin/slapd ] || packages+=(slapd)
command -v ldapmodify >/dev/null 2>&1 || packages+=(ldap-utils)
# the web view's browser tests drive Debian's headless Chromium; nothing is downloaded at run time
[ -x /usr/bin/chromium ] || packages+=(chromium)
[ -x /usr/bin/chromedriver ] || packages+=(chromium-driver)
if [ ${#packages[@]} -gt 0 ]; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
fi

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() { for _ in $(seq 1 60); do port_open "$1" && return 0; sleep 1; done; echo "$2 did not start" >&2; return 1; }

echo "==> services (PostgreSQL :5432, Redis :6379, RabbitMQ :5672; started when not running)"
if ! port_open 5432; then
  as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
  wait_port 5432 PostgreSQL
fi
if ! port_open 6379; then
  as_root redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  wait_port 6379 Redis
fi
if ! port_open 5672; then
  as_root rabbitmq-server -detached
  wait_port 5672 RabbitMQ
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
if [ $# -gt 0 ]; then
  echo "==> pytest $*"
  exec .venv/bin/pytest "$@"
fi
# The whole suite: one process per core (pytest-xdist), then the tiny benchmark runs in one
# process of their own: under an xdist process delivery.py's kill -9 run failed every time
# (docs/benchmarks.md, "Test suite time"), in a plain one it passes.
echo "==> pytest, one process per core"
.venv/bin/pytest -n auto --dist loadgroup --ignore=tests/test_benchmarks.py
echo "==> pytest tests/test_benchmarks.py (the benchmark scripts at a tiny size)"
.venv/bin/pytest tests/test_benchmarks.py
