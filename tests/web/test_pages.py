"""Signing in by a mailed one-time link, the pages' rights, CSRF and inert content."""

from __future__ import annotations

import re
from datetime import UTC, timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select, text

from mailflow.service.runtime import Runtime
from mailflow.store import outbox
from mailflow.store.db import writing
from mailflow.store.models import OutboxMail, SignInLink
from mailflow.store.outbox import SCRUBBED
from mailflow.web.actions import mail_sign_in_link
from mailflow.web.auth import digest, use_link, utcnow

MINUTES = "<000001d9f9c6$2b3c4d50$81b6e7f0$@example.com>"


def mailed_link(runtime: Runtime, outbox_id: int) -> str:
    """Send the sign-in mail through the real courier (file transport) and read the link."""
    runtime.courier().deliver(outbox_id)
    folder = Path(runtime.settings.transport.removeprefix("file://"))
    [eml] = list(folder.glob("*.eml"))
    mail = BytesParser(policy=policy.default).parsebytes(eml.read_bytes())
    body = mail.get_body(("plain",))
    assert body is not None
    found = re.search(r"http://testserver(/sign-in/[\w-]+)", body.get_content())
    assert found, body.get_content()
    return found.group(1)


def sign_in(client: TestClient, runtime: Runtime, sent_ids: list[int], address: str) -> None:
    """Ask for a link, open it from the mail and confirm it."""
    client.post("/sign-in", data={"address": address})
    path = mailed_link(runtime, sent_ids[-1])
    assert client.post(path).status_code == 303


def test_a_mailed_link_signs_in_once(
    client: TestClient, runtime: Runtime, sent_ids: list[int]
) -> None:
    """The link goes by mail to the directory address, is stored hashed, shows a button, signs
    in once, and is dead afterwards."""
    page = client.post("/sign-in", data={"address": "Zhao.Liu@example.com"})
    assert page.status_code == 200 and len(sent_ids) == 1
    with runtime.sessions() as session:
        row = session.get(OutboxMail, sent_ids[0])
        assert (
            row is not None
            and row.kind == "sign_in_link"
            and row.to_addrs == ["zhao.liu@example.com"]
        )
    path = mailed_link(runtime, sent_ids[0])
    secret = path.rsplit("/", 1)[1]
    with runtime.sessions() as session:
        stored = session.scalars(select(SignInLink.token_hash)).all()
    assert stored == [digest(secret)]
    assert client.get("/items").status_code == 303  # not yet signed in
    assert client.get(path).status_code == 200  # opening it (a mail scanner) spends nothing
    spent = client.post(path)
    assert spent.status_code == 303 and spent.headers["location"] == "/items"
    assert "httponly" in spent.headers["set-cookie"].lower()
    assert "samesite=strict" in spent.headers["set-cookie"].lower()
    items = client.get("/items")
    assert items.status_code == 200 and "赵六" in items.text
    assert client.post(path).status_code == 410
    assert client.get(path).status_code == 410


def test_unknown_addresses_get_the_same_page_and_no_mail(
    client: TestClient, sent_ids: list[int]
) -> None:
    """An address outside the directory is told the same as a known one, and nothing is sent."""
    known = client.post("/sign-in", data={"address": "li.si@example.com"})
    unknown = client.post("/sign-in", data={"address": "mallory@evil.example.net"})
    assert len(sent_ids) == 1
    assert known.text.replace("li.si@example.com", "X") == unknown.text.replace(
        "mallory@evil.example.net", "X"
    )


def test_links_expire_after_fifteen_minutes_and_are_rate_limited(
    client: TestClient, runtime: Runtime, sent_ids: list[int]
) -> None:
    """A link older than 15 minutes signs nobody in; a sixth request within them mails nothing."""
    for _ in range(6):
        client.post("/sign-in", data={"address": "wu.min@example.com"})
    assert len(sent_ids) == 5
    secret = mailed_link(runtime, sent_ids[0]).rsplit("/", 1)[1]
    assert use_link(runtime.sessions, secret, utcnow() + timedelta(minutes=15, seconds=1)) is None
    assert use_link(runtime.sessions, secret, utcnow()) == "wu.min@example.com"


def test_pages_keep_each_role_to_its_rights(
    client: TestClient, runtime: Runtime, sent_ids: list[int]
) -> None:
    """A staff member sees their own items and not a thread they are not on; every page carries
    the strict Content-Security-Policy."""
    sign_in(client, runtime, sent_ids, "chen.jing@example.com")
    items = client.get("/items")
    assert "0 项" in items.text
    assert "default-src 'none'" in items.headers["content-security-policy"]
    assert client.get("/thread", params={"id": MINUTES}).status_code == 404


def test_thread_page_shows_the_ledger_and_folds_quotes(
    client: TestClient, runtime: Runtime, sent_ids: list[int]
) -> None:
    """The minutes' page names who confirmed, the objection's words and who is silent, with
    quoted history inside <details>."""
    sign_in(client, runtime, sent_ids, "li.si@example.com")
    page = client.get("/thread", params={"id": MINUTES}).text
    assert "<details>" in page and "偏紧" in page and "liu.yang@example.com" in page
    assert 'id="close-thread"' in page


def test_writing_forms_need_the_csrf_token(
    client: TestClient, runtime: Runtime, sent_ids: list[int]
) -> None:
    """Closing without the session's token is refused; with it, the item is done and the
    history names who closed it."""
    sign_in(client, runtime, sent_ids, "li.si@example.com")
    forged = client.post("/items/1/close", data={"csrf": "guess", "note": "x"})
    assert forged.status_code == 403
    page = client.get("/items").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf
    done = client.post("/items/1/close", data={"csrf": csrf.group(1), "note": "联调完成"})
    assert done.status_code == 303
    thread = client.get("/thread", params={"id": MINUTES}).text
    assert "联调完成" in thread and "li.si@example.com" in thread
    api = client.post("/api/thread/close", json={"message_id": MINUTES})
    assert api.status_code == 403  # a browser session's API write needs X-CSRF-Token
    ok = client.post(
        "/api/thread/close", json={"message_id": MINUTES}, headers={"X-CSRF-Token": csrf.group(1)}
    )
    assert ok.status_code == 200


def test_a_cross_site_form_is_refused(
    client: TestClient, runtime: Runtime, sent_ids: list[int]
) -> None:
    """A page elsewhere cannot post our forms: not a close, and not someone else's sign-in
    link (login CSRF); the link stays usable for its owner."""
    client.post("/sign-in", data={"address": "he.jun@example.com"})
    path = mailed_link(runtime, sent_ids[0])
    evil = {"Origin": "https://evil.example.net"}
    refused = client.post(path, headers=evil)
    assert refused.status_code == 403 and "mailflow_session" not in refused.headers.get(
        "set-cookie", ""
    )
    assert "default-src 'none'" in refused.headers["content-security-policy"]
    assert client.post(path, headers={"Origin": "http://testserver"}).status_code == 303
    assert client.post("/items/6/close", data={"csrf": "x"}, headers=evil).status_code == 403


def test_a_sent_link_is_not_kept_readable(
    client: TestClient, runtime: Runtime, sent_ids: list[int]
) -> None:
    """Once the sign-in mail is sent, its outbox row no longer holds the link: not in the
    database, not in the outbox an administrator reads."""
    client.post("/sign-in", data={"address": "zhao.liu@example.com"})
    secret = mailed_link(runtime, sent_ids[0]).rsplit("/", 1)[1]
    with runtime.sessions() as session:
        row = session.get(OutboxMail, sent_ids[0])
        assert row is not None and row.status == "sent"
        assert row.context["sign_in"]["url"] == SCRUBBED
        stored = session.execute(text("SELECT * FROM outbox")).all()
    assert secret not in repr(stored)
    client.cookies.set("mailflow_session", client.app.state.ctx.signer.issue("admin@example.com"))  # type: ignore[attr-defined]
    page = client.get("/outbox")
    assert page.status_code == 200 and "sign_in_link" in page.text and secret not in page.text
    assert client.post(f"/sign-in/{secret}").status_code == 303  # the mailed copy still works


def test_a_failed_sign_in_mail_forgets_its_link(runtime: Runtime) -> None:
    """A sign-in mail given up for good does not keep its link either."""
    [new_id] = mail_sign_in_link(
        runtime.sessions, runtime.organization, "li.si@example.com", "http://x", UTC, utcnow()
    )
    with writing(runtime.sessions) as session:
        outbox.mark_failed(session, new_id, "permanent: 550 no such user", utcnow())
    with runtime.sessions() as session:
        row = session.get(OutboxMail, new_id)
        assert row is not None and row.status == "failed"
        assert row.context["sign_in"]["url"] == SCRUBBED
