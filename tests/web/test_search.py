"""Search over the example inbox: the page (a plain GET form) and /api/search, Chinese and
English, with the rights of each role."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from mailflow.service.runtime import Runtime
from mailflow.web.auth import create_api_token, utcnow
from mailflow.web.search import snippet, snippet_parts

MINUTES_SUBJECT = "【会议纪要】技术部-Q4产品迭代进度同步"
COMPLAINT_SUBJECT = "【客户投诉】X200智能终端批量死机，严重影响产线"


def bearer(runtime: Runtime, address: str) -> dict[str, str]:
    """Headers carrying a fresh API token for ``address``."""
    return {"Authorization": f"Bearer {create_api_token(runtime.sessions, address, 't', utcnow())}"}


def subjects(client: TestClient, runtime: Runtime, address: str, q: str) -> list[str]:
    """The thread subjects /api/search answers ``address`` for ``q``."""
    answer = client.get("/api/search", params={"q": q}, headers=bearer(runtime, address))
    assert answer.status_code == 200, answer.text
    return [r["thread_subject"] for r in answer.json()["results"]]


@pytest.mark.parametrize(
    ("address", "query", "expected"),
    [
        # 联调 (two characters) is in three threads of 技术部's
        ("admin@example.com", "联调", 3),
        ("li.si@example.com", "联调", 3),
        ("wang.wu@example.com", "联调", 3),
        ("chen.jing@example.com", "联调", 0),  # 售后部: on none of them
        ("gao.jie@example.com", "联调", 0),
        ("admin@example.com", "合同号", 1),  # the complaint's new text
        ("chen.jing@example.com", "合同号", 1),  # she is on the complaint
        ("li.si@example.com", "合同号", 0),
        ("admin@example.com", "PostgreSQL 商用", 1),  # English letter case aside, two terms
        ("admin@example.com", "postgresql 不存在", 0),
    ],
)
def test_search_follows_the_rights_of_each_role(
    client: TestClient, runtime: Runtime, address: str, query: str, expected: int
) -> None:
    """Everyone finds only threads they may see; administrators find every match."""
    assert len(subjects(client, runtime, address, query)) == expected


def test_a_result_has_thread_subject_snippet_date_and_link(
    client: TestClient, runtime: Runtime
) -> None:
    """A result names its thread's first subject, marks the term in the newest matching
    message's snippet, dates it, and links to the thread; following the link shows it."""
    headers = bearer(runtime, "zhou.qiang@example.com")
    found = client.get("/api/search", params={"q": "合同号"}, headers=headers).json()
    [result] = found["results"]
    assert result["thread_subject"] == COMPLAINT_SUBJECT and found["complete"] is True
    assert [result["snippet"][a:b] for a, b in result["highlights"]] == ["合同号"]
    assert result["date"].startswith("2023-10-") and result["date"].endswith("+08:00")
    thread = client.get("/api/thread", params={"message_id": result["message_id"]}, headers=headers)
    assert thread.status_code == 200 and thread.json()["subject"] == COMPLAINT_SUBJECT
    assert result["url"] == f"/thread?id={quote(result['message_id'], safe='')}"


def test_a_subject_match_shows_the_subject(client: TestClient, runtime: Runtime) -> None:
    """When the newest matching message holds the term only in its subject, the snippet is
    the subject, marked."""
    found = client.get(
        "/api/search", params={"q": "死机"}, headers=bearer(runtime, "admin@example.com")
    ).json()
    [result] = found["results"]
    assert "死机" in result["snippet"] and result["highlights"]


def test_search_api_refuses_without_rights_and_without_terms(
    client: TestClient, runtime: Runtime
) -> None:
    """No token: 401. An empty or blank query: 422. It is in the OpenAPI document."""
    assert client.get("/api/search", params={"q": "联调"}).status_code == 401
    bad = {"Authorization": "Bearer mft_not-a-token"}
    assert client.get("/api/search", params={"q": "联调"}, headers=bad).status_code == 401
    headers = bearer(runtime, "admin@example.com")
    for q in ("", "   ", "x" * 201):
        assert client.get("/api/search", params={"q": q}, headers=headers).status_code == 422
    assert client.get("/api/search", headers=headers).status_code == 422
    assert "/api/search" in client.get("/openapi.json").json()["paths"]


def test_the_search_page_works_as_a_plain_form(client: TestClient, runtime: Runtime) -> None:
    """Signed in by cookie, GET /search?q= lists results with the match marked and mail
    text escaped; signed out, it sends people to sign in."""
    assert client.get("/search", params={"q": "联调"}).headers["location"] == "/sign-in"
    client.cookies.set(
        "mailflow_session",
        client.app.state.ctx.signer.issue("li.si@example.com"),  # type: ignore[attr-defined]
    )
    empty = client.get("/search")
    assert (
        empty.status_code == 200 and 'name="q"' in empty.text and 'id="results"' not in empty.text
    )
    page = client.get("/search", params={"q": "联调"})
    assert page.status_code == 200
    assert page.text.count("<mark>联调</mark>") >= 3
    assert MINUTES_SUBJECT in page.text and 'value="联调"' in page.text
    hostile = client.get("/search", params={"q": '<script>alert(1)</script>"'})
    assert "<script>alert" not in hostile.text and "&lt;script&gt;" in hostile.text


@pytest.mark.parametrize(
    ("text", "terms", "shown", "marked"),
    [
        ("请确认合同审批流程", ["合同"], "请确认合同审批流程", ["合同"]),
        ("a" * 100 + " Contract " + "b" * 100, ["contract"], None, ["Contract"]),
        ("<b>x</b>  y", ["<b>"], "<b>x</b> y", ["<b>"]),
        ("没有匹配", ["合同"], "没有匹配", []),
    ],
)
def test_snippets_cut_around_the_first_match(
    text: str, terms: list[str], shown: str | None, marked: list[str]
) -> None:
    """A snippet collapses white space, cuts around the first match with ellipses, and says
    where each match is; its pieces keep the text as it is (the page escapes it)."""
    piece, marks = snippet(text, terms, width=60)
    if shown is not None:
        assert piece == shown
    else:
        assert piece.startswith("…") and piece.endswith("…") and len(piece) == 62
    assert [piece[a:b] for a, b in marks] == marked
    parts = snippet_parts({"snippet": piece, "highlights": marks})
    assert "".join(p for p, _ in parts) == piece
    assert [p for p, hit in parts if hit] == marked
