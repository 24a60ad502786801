"""`mailflow web token create` and what the web view makes of hostile mail content."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from mailflow.cli import app as cli
from mailflow.service.runtime import Runtime
from mailflow.web.app import COOKIE, WebContext

HOSTILE = """\
From: =?utf-8?b?5byg5LiJ?= <zhang.san@example.com>
To: coord@example.com
Cc: li.si@example.com
Subject: =?utf-8?b?44CQ5bel5L2c5rGH5oql44CR5oqA5pyv6YOoLeaOpeWPo+iBlOiwg+WRqOaKpQ==?=
Date: Mon, 16 Oct 2023 09:12:00 +0800
Message-ID: <weekly-7781@example.com>
MIME-Version: 1.0
Content-Type: text/html; charset=utf-8

<html><body><p>李经理：本周接口联调进度见下表。</p>
<script>document.title='pwned'</script>
<img src="https://tracker.example.net/open.gif?u=li.si">
<p>&lt;b&gt;加粗&lt;/b&gt; 与 <a href="javascript:alert(1)">链接</a></p>
</body></html>
"""


def test_token_create_prints_a_token_that_the_api_takes(
    runtime: Runtime, client: TestClient
) -> None:
    """The token is printed once and acts with the address's rights."""
    result = CliRunner().invoke(cli, ["web", "token", "create", "--for", "Li.Si@example.com"])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    me = client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["address"] == "li.si@example.com" and me.json()["role"] == "manager"


def test_token_create_refuses_an_address_outside_the_directory(runtime: Runtime) -> None:
    """An unknown address is a user error with a one-line reason, and no token."""
    result = CliRunner().invoke(cli, ["web", "token", "create", "--for", "eve@example.net"])
    assert result.exit_code == 1
    assert "not in the directory" in result.output and "mft_" not in result.stdout


def test_mail_content_is_shown_inert(
    runtime: Runtime, client: TestClient, web: WebContext, tmp_path: Path
) -> None:
    """A mail with a script, a tracking image and a javascript: link shows as plain escaped
    text: no element of it reaches the page."""
    inbox = tmp_path / "hostile"
    for sub in ("new", "cur", "tmp"):
        (inbox / sub).mkdir(parents=True)
    (inbox / "new" / "1697418720.M1P1.host").write_text(HOSTILE, encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(cli, ["run", "--once"], env={"MAILFLOW_SOURCE": f"maildir://{inbox}"})
    assert result.exit_code == 0, result.output
    token = runner.invoke(cli, ["web", "token", "create", "--for", "li.si@example.com"])
    headers = {"Authorization": f"Bearer {token.stdout.strip()}"}
    view = client.get(
        "/api/thread", params={"message_id": "<weekly-7781@example.com>"}, headers=headers
    )
    assert view.status_code == 200 and "联调进度" in view.json()["messages"][0]["new_text"]
    client.cookies.set(COOKIE, web.signer.issue("li.si@example.com"))
    page = client.get("/thread", params={"id": "<weekly-7781@example.com>"})
    assert page.status_code == 200
    assert "联调进度" in page.text and "&lt;b&gt;加粗&lt;/b&gt;" in page.text
    body = page.text.split("<main>", 1)[1]
    for element in ("<script", "<img", "<b>", "javascript:", "tracker.example.net"):
        assert element not in body, element
