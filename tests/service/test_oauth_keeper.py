"""OAuth2 refresh tokens kept in the database, for every process and after a restart.

The authorization server rotates refresh tokens and refuses an old one, as Keycloak, Okta or
Auth0 with rotation do (Entra ID rotates too, and its tokens expire 90 days after they were
issued). Each mailflow process here is a real one, started as the poller, a worker or the
scheduler start, and asks for an access token the way each of them does at its first connect.
Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers.oauth import AuthorizationServer, running_authorization_server

REPO = Path(__file__).resolve().parents[2]
MAILBOX = "coord@example.com"
CLIENT, SECRET = "mailflow-desk", "client-secret-do-not-print"
# what a process does at its first connect: build its runtime, ask for a token, say whose
FIRST_CONNECT = (
    "from mailflow.oauth import open_tokens\n"
    "from mailflow.service.runtime import build_runtime\n"
    "from mailflow.settings import load_settings\n"
    "settings = load_settings()\n"
    "runtime = build_runtime(settings)\n"
    "try:\n"
    "    print('TOKEN', open_tokens(settings).token())\n"
    "finally:\n"
    "    runtime.close()\n"
)


@pytest.fixture(scope="module")
def _server() -> Iterator[AuthorizationServer]:
    with running_authorization_server(tls=True) as server:
        yield server


@pytest.fixture
def server(_server: AuthorizationServer) -> AuthorizationServer:
    """The authorization server, rotating refresh tokens, with mailflow's client registered."""
    server = _server.forget(rotate=True)
    server.register(CLIENT, SECRET)
    return server


def _site(url: str, server: AuthorizationServer, tmp_path: Path, token: str) -> dict[str, str]:
    (tmp_path / "refresh_token").write_text(token + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILFLOW_")}
    return env | {
        "MAILFLOW_DATABASE_URL": url,
        "MAILFLOW_RULES_DIR": str(REPO / "rules"),
        "MAILFLOW_TEMPLATES_DIR": str(REPO / "templates"),
        "MAILFLOW_TRANSPORT": f"file://{tmp_path / 'sent'}",
        "MAILFLOW_OAUTH_PROVIDER": "generic",
        "MAILFLOW_OAUTH_TOKEN_URL": server.token_url(),
        "MAILFLOW_OAUTH_CLIENT_ID": CLIENT,
        "MAILFLOW_OAUTH_CLIENT_SECRET": SECRET,
        "MAILFLOW_OAUTH_REFRESH_TOKEN_FILE": str(tmp_path / "refresh_token"),
        "MAILFLOW_OAUTH_CAFILE": str(server.cafile),
        "PYTHONPATH": str(REPO),
    }


def _start(env: dict[str, str], tmp_path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", FIRST_CONNECT], env=env, cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _token(process: subprocess.Popen[str]) -> str:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert "rt-" not in out + err and SECRET not in out + err  # no refresh token, no secret
    [line] = [x for x in out.splitlines() if x.startswith("TOKEN ")]
    return line.split()[1]


@pytest.fixture
def database(database_url: str) -> str:
    return database_url


def test_processes_starting_together_and_after_a_restart_each_get_a_token(
    database: str, server: AuthorizationServer, tmp_path: Path
) -> None:
    """The poller, a worker and the scheduler start at once from the configured token, then
    one restarts: none is refused, and no refresh token is ever sent twice."""
    env = _site(database, server, tmp_path, server.consent(CLIENT, MAILBOX))
    together = [_start(env, tmp_path) for _ in range(3)]
    tokens = [_token(p) for p in together]
    tokens.append(_token(_start(env, tmp_path)))  # a restart, after the configured token is gone
    assert all(server.user_of(token) == MAILBOX for token in tokens)
    sent = [g["refresh_token"] for g in server.grants]
    assert len(sent) == 4 and len(set(sent)) == 4
    status = subprocess.run(
        [sys.executable, "-m", "mailflow", "status", "--json"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert "rt-" not in status.stdout + status.stderr  # the kept token is never shown
    [kept] = json.loads(status.stdout)["oauth"]["refresh_tokens"]
    assert kept["grant"] == f"generic {server.token_url()} {CLIENT}"
    assert kept["rotated_at"] is not None


def test_a_new_configured_token_starts_a_new_chain(
    database: str, server: AuthorizationServer, tmp_path: Path
) -> None:
    """An administrator who puts a new refresh token in the file (a new consent): it is the
    one used, not the newest of the old chain, which the server may have revoked meanwhile."""
    env = _site(database, server, tmp_path, server.consent(CLIENT, MAILBOX))
    _token(_start(env, tmp_path))
    with server.lock:
        server.refresh_tokens.clear()  # the old consent revoked
    fresh = server.consent(CLIENT, MAILBOX)
    env = _site(database, server, tmp_path, fresh)
    assert server.user_of(_token(_start(env, tmp_path))) == MAILBOX
    assert server.grants[-1]["refresh_token"] == fresh
    assert server.user_of(_token(_start(env, tmp_path))) == MAILBOX  # and its chain is kept
