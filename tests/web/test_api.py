"""The JSON API: every endpoint, with the rights of administrators, managers and staff, and
the refusals for missing or foreign rights."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from mailflow.service.runtime import Runtime
from mailflow.store.models import ApiToken
from mailflow.web.auth import create_api_token, digest, utcnow

MINUTES = "<000001d9f9c6$2b3c4d50$81b6e7f0$@example.com>"


def bearer(runtime: Runtime, address: str) -> dict[str, str]:
    """Headers carrying a fresh API token for ``address``."""
    token = create_api_token(runtime.sessions, address, "tests", utcnow())
    return {"Authorization": f"Bearer {token}"}


def ids(rows: list[dict[str, Any]]) -> set[int]:
    """The ids in a list answer."""
    return {r["id"] for r in rows}


def test_openapi_describes_every_api_path(client: TestClient) -> None:
    """/openapi.json is served without signing in and names each /api/ path, and no page."""
    doc = client.get("/openapi.json").json()
    assert set(doc["paths"]) == {
        "/api/me",
        "/api/items",
        "/api/thread",
        "/api/outbox",
        "/api/items/{item_id}/close",
        "/api/thread/close",
        "/api/search",
    }


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/api/me", "get"),
        ("/api/items", "get"),
        (f"/api/thread?message_id={MINUTES}", "get"),
        ("/api/outbox", "get"),
        ("/api/items/1/close", "post"),
        ("/api/thread/close", "post"),
    ],
)
def test_every_endpoint_refuses_a_caller_without_rights(
    client: TestClient, path: str, method: str
) -> None:
    """No token or a made-up one gets 401 from every endpoint, reads and writes alike."""
    body = {"message_id": MINUTES} if method == "post" else None
    for headers in ({}, {"Authorization": "Bearer mft_not-a-token"}):
        answer = client.request(method, path, headers=headers, json=body)
        assert answer.status_code == 401, (path, headers)


@pytest.mark.parametrize(
    ("address", "role", "visible"),
    [
        ("admin@example.com", "administrator", {1, 2, 3, 4, 5, 6, 7}),
        ("li.si@example.com", "manager", {1, 2, 3, 4}),  # 技术部: its minutes and its people
        ("he.jun@example.com", "manager", {5, 6, 7}),  # 销售部: its launch meeting
        ("zhou.qiang@example.com", "manager", set()),  # 售后部: its complaint assigns no item
        ("wang.wu@example.com", "staff", {2, 5}),  # only the items 王五 owns
        ("chen.jing@example.com", "staff", set()),
        ("gao.jie@example.com", "manager", set()),  # 法务部 has nothing here
    ],
)
def test_items_follow_the_rights_of_each_role(
    client: TestClient, runtime: Runtime, address: str, role: str, visible: set[int]
) -> None:
    """Administrators see every item, managers their departments', staff their own."""
    headers = bearer(runtime, address)
    assert client.get("/api/me", headers=headers).json()["role"] == role
    answer = client.get("/api/items", headers=headers)
    assert answer.status_code == 200
    assert ids(answer.json()) == visible


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=done", {5}),
        ("status=open", {1, 2, 3, 4, 6, 7}),
        ("status=overdue", {1, 2, 3, 4, 7}),
        ("owner=赵六", {3, 7}),
        ("owner=wang.wu@", {2, 5}),
        ("department=技术部", {1, 2, 3, 4}),
        ("due_before=2023-10-16", {1, 3, 5}),
        ("due_after=2023-10-18&due_before=2023-10-20", {2, 7}),
        ("status=overdue&owner=王五", {2}),
    ],
)
def test_item_filters(client: TestClient, runtime: Runtime, query: str, expected: set[int]) -> None:
    """Status, owner (name or address), department and deadline days filter the list."""
    answer = client.get(f"/api/items?{query}", headers=bearer(runtime, "admin@example.com"))
    assert answer.status_code == 200, answer.text
    assert ids(answer.json()) == expected


def test_a_bad_filter_is_a_clear_422(client: TestClient, runtime: Runtime) -> None:
    """An unknown status or a date that is no date is refused, not ignored."""
    headers = bearer(runtime, "admin@example.com")
    assert client.get("/api/items?status=later", headers=headers).status_code == 422
    assert client.get("/api/items?due_before=friday", headers=headers).status_code == 422


def test_thread_shows_messages_ledger_and_sent_mail(client: TestClient, runtime: Runtime) -> None:
    """A participant sees the minutes' thread: new text apart from quotes, who said 已阅, who
    objected in what words, who is silent since when, and the mail mailflow sent in it."""
    answer = client.get(
        "/api/thread",
        params={"message_id": MINUTES},
        headers=bearer(runtime, "zhao.liu@example.com"),
    )
    assert answer.status_code == 200
    view = answer.json()
    reply = next(m for m in view["messages"] if m["from"] == "li.si@example.com")
    assert reply["new_text"].startswith("已阅") and reply["quoted"]
    ledger = {a["address"]: a for c in view["confirmations"] for a in c["answers"]}
    assert ledger["li.si@example.com"]["status"] == "ack"
    assert ledger["wang.wu@example.com"]["status"] == "objection"
    assert "偏紧" in ledger["wang.wu@example.com"]["text"]
    assert [s["address"] for s in view["silent"]] == ["liu.yang@example.com"]
    assert view["silent"][0]["since"].startswith("2023-10-08T17:30")
    assert [o["kind"] for o in view["sent"]] == ["minutes_received"]


@pytest.mark.parametrize("address", ["chen.jing@example.com", "gao.jie@example.com"])
def test_a_foreign_thread_answers_404_like_a_missing_one(
    client: TestClient, runtime: Runtime, address: str
) -> None:
    """Staff not on the thread and managers of other departments cannot tell it exists."""
    headers = bearer(runtime, address)
    foreign = client.get("/api/thread", params={"message_id": MINUTES}, headers=headers)
    missing = client.get("/api/thread", params={"message_id": "<nope@x>"}, headers=headers)
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json()


def test_outbox_by_status_and_rights(client: TestClient, runtime: Runtime) -> None:
    """Administrators see all outgoing mail; others only mail to them or in their threads."""
    admin = client.get("/api/outbox", headers=bearer(runtime, "admin@example.com")).json()
    staff = client.get("/api/outbox", headers=bearer(runtime, "chen.jing@example.com")).json()
    assert ids(staff) < ids(admin)
    sent = client.get("/api/outbox?status=sent", headers=bearer(runtime, "admin@example.com"))
    assert {r["status"] for r in sent.json()} <= {"sent"}
    assert all("recipients" in r for r in admin)
    assert (
        client.get(
            "/api/outbox?status=gone", headers=bearer(runtime, "admin@example.com")
        ).status_code
        == 422
    )


def test_closing_an_item_records_who_and_why(client: TestClient, runtime: Runtime) -> None:
    """The owner closes an item; the thread's history names them and their note. Someone
    else's item is refused as unknown."""
    headers = bearer(runtime, "zhao.liu@example.com")
    foreign = client.post("/api/items/1/close", headers=headers, json={"note": "x"})
    assert foreign.status_code == 404
    done = client.post("/api/items/3/close", headers=headers, json={"note": "设计稿已交付"})
    assert done.status_code == 200 and done.json()["status"] == "done"
    view = client.get("/api/thread", params={"message_id": MINUTES}, headers=headers).json()
    [record] = [h for h in view["history"] if h["item_id"] == 3]
    assert "zhao.liu@example.com" in record["by"] and record["note"] == "设计稿已交付"


def test_closing_a_thread_needs_a_manager(client: TestClient, runtime: Runtime) -> None:
    """Staff on the thread may read it but not close it; its department's manager may."""
    body = {"message_id": MINUTES, "note": "会议事项已全部跟进"}
    staff = client.post(
        "/api/thread/close", headers=bearer(runtime, "zhao.liu@example.com"), json=body
    )
    assert staff.status_code == 403
    foreign = client.post(
        "/api/thread/close", headers=bearer(runtime, "gao.jie@example.com"), json=body
    )
    assert foreign.status_code == 404
    manager = client.post(
        "/api/thread/close", headers=bearer(runtime, "li.si@example.com"), json=body
    )
    assert manager.status_code == 200 and manager.json()["closed"] is True


def test_tokens_are_stored_hashed_and_die_with_the_directory_entry(
    client: TestClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the token's SHA-256 is stored; a person the directory no longer lists is refused."""
    token = create_api_token(runtime.sessions, "wang.wu@example.com", None, utcnow())
    with runtime.sessions() as session:
        stored = set(session.scalars(select(ApiToken.token_hash)))
    assert digest(token) in stored and token not in stored
    org = runtime.organization
    gone = org.model_copy(
        update={"people": [p for p in org.people if p.email != "wang.wu@example.com"]}
    )
    client.app.state.ctx.organization = lambda: gone  # type: ignore[attr-defined]
    answer = client.get("/api/items", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 401
