"""The complaints page: the example customer's complaint, its handler and its clock, seen by
the after-sales manager and the administrators only."""

from __future__ import annotations

from fastapi.testclient import TestClient

from mailflow.service.runtime import Runtime
from mailflow.web.auth import create_api_token, utcnow


def bearer(runtime: Runtime, address: str) -> dict[str, str]:
    """Headers carrying a fresh API token for ``address``."""
    return {
        "Authorization": f"Bearer {create_api_token(runtime.sessions, address, None, utcnow())}"
    }


def test_the_after_sales_manager_sees_the_complaint_and_its_clock(
    client: TestClient, runtime: Runtime
) -> None:
    """售后部's manager and the administrator see the customer's complaint once (its follow-ups
    are the same thread) with who answered; a 销售部 staff member off the thread sees none."""
    for address in ("zhou.qiang@example.com", "admin@example.com"):
        page = client.get("/complaints", headers=bearer(runtime, address))
        assert page.status_code == 200
        rows = page.text.split("<tbody>")[1].split("</tbody>")[0]
        assert rows.count("<tr") == 1 and "/thread?id=" in rows
        assert "kehu-a.com" in rows  # the customer
        assert "chen.jing@example.com（2023-10-11 10:30）" in rows  # who answered, and when
        assert "已答复 answered" in rows and "status-overdue" not in rows
    staff = client.get("/complaints", headers=bearer(runtime, "wu.min@example.com"))
    assert staff.status_code == 200 and "无 none" in staff.text
    assert client.get("/complaints").status_code == 303
