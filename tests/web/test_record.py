"""The week's 内部沟通记录表 page and its XLSX download, with the same rights."""

from __future__ import annotations

import io
from urllib.parse import unquote

from fastapi.testclient import TestClient
from openpyxl import load_workbook

from mailflow.service.runtime import Runtime
from mailflow.web.auth import create_api_token, utcnow

WEEK = {"start": "2023-10-09", "end": "2023-10-15"}


def bearer(runtime: Runtime, address: str) -> dict[str, str]:
    """Headers carrying a fresh API token for ``address``."""
    return {
        "Authorization": f"Bearer {create_api_token(runtime.sessions, address, None, utcnow())}"
    }


def test_a_manager_sees_and_downloads_their_departments_week(
    client: TestClient, runtime: Runtime
) -> None:
    """李四 gets 技术部's rows by default; the XLSX has the guide's columns and the same rows."""
    headers = bearer(runtime, "li.si@example.com")
    page = client.get("/record", params=WEEK, headers=headers)
    assert page.status_code == 200 and "<option selected>技术部</option>" in page.text
    assert "订单接口与CRM系统联调" in page.text
    download = client.get("/record.xlsx", params=WEEK | {"department": "技术部"}, headers=headers)
    assert download.status_code == 200
    assert "内部沟通记录表-技术部_20231009-20231015.xlsx" in unquote(
        download.headers["content-disposition"]
    )
    sheet = load_workbook(io.BytesIO(download.content)).active
    assert sheet is not None
    header = [c.value for c in next(sheet.iter_rows(max_row=1))]
    assert header[:3] == ["沟通日期", "沟通类型", "参与部门/人员"]
    assert sheet.max_row - 1 == page.text.count("<tr><td>")


def test_the_record_refuses_staff_and_foreign_departments(
    client: TestClient, runtime: Runtime
) -> None:
    """Staff have no record page; a manager cannot read another department's; an administrator
    reads any, and the whole company's."""
    assert (
        client.get(
            "/record", params=WEEK, headers=bearer(runtime, "wang.wu@example.com")
        ).status_code
        == 403
    )
    foreign = client.get(
        "/record.xlsx",
        params=WEEK | {"department": "市场部"},
        headers=bearer(runtime, "li.si@example.com"),
    )
    assert foreign.status_code == 403
    admin = bearer(runtime, "admin@example.com")
    assert (
        client.get("/record", params=WEEK | {"department": "市场部"}, headers=admin).status_code
        == 200
    )
    whole = client.get("/record", params=WEEK, headers=admin)
    assert whole.status_code == 200 and whole.text.count("<tr><td>") > 0
    assert client.get("/record", params=WEEK).status_code == 303  # nobody signed in
