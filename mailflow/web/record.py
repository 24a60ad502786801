"""The week's 内部沟通记录表 in the web view, and its XLSX download: the rows `mailflow report`
writes, for administrators (any department or all) and managers (their departments)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response

from mailflow.errors import UnknownDepartmentError
from mailflow.outbound.record_format import COLUMNS, to_xlsx
from mailflow.service.comm_record import record_rows
from mailflow.web.access import Viewer
from mailflow.web.app import context_of, viewer_of
from mailflow.web.pages import page, to_sign_in

TITLE = "内部沟通记录表"
router = APIRouter(include_in_schema=False)
Day = Annotated[date | None, Query()]


def week_of(day: date) -> tuple[date, date]:
    """Return the Monday and Sunday of ``day``'s week."""
    start = day - timedelta(days=day.weekday())
    return start, start + timedelta(days=6)


def _period(request: Request, start: date | None, end: date | None) -> tuple[date, date]:
    today = datetime.now(UTC).astimezone(context_of(request).timezone).date()
    monday, sunday = week_of(start or today)
    return start or monday, end or (sunday if start is None else start + timedelta(days=6))


def _department(viewer: Viewer, department: str | None) -> str | None:
    """The department shown: any (or all) for administrators; one of their own for managers."""
    if viewer.admin:
        return department or None
    if not viewer.departments:
        raise HTTPException(403, "the record is for administrators and department managers")
    if department in viewer.departments:
        return department
    if department:
        raise HTTPException(403, "not a department you manage")
    return sorted(viewer.departments)[0]


def _rows(request: Request, viewer: Viewer, start: date, end: date, dept: str | None) -> Any:
    ctx = context_of(request)
    try:
        return record_rows(
            ctx.sessions, start=start, end=end, department=dept,
            org=ctx.organization(), tz=ctx.timezone,
        )  # fmt: skip
    except UnknownDepartmentError as e:
        raise HTTPException(404, str(e)) from e


@router.get("/record")
def record_page(
    request: Request, start: Day = None, end: Day = None, department: str | None = None
) -> Response:
    viewer = viewer_of(request)
    if viewer is None:
        return to_sign_in()
    dept = _department(viewer, department)
    first, last = _period(request, start, end)
    rows = _rows(request, viewer, first, last, dept)
    departments = sorted(context_of(request).organization().departments)
    choices = departments if viewer.admin else sorted(viewer.departments)
    return page(
        request, "record.html", viewer=viewer, rows=[r.labelled() for r in rows],
        columns=COLUMNS, start=first, end=last, department=dept, departments=choices,
    )  # fmt: skip


@router.get("/record.xlsx")
def record_xlsx(
    request: Request, start: Day = None, end: Day = None, department: str | None = None
) -> Response:
    viewer = viewer_of(request)
    if viewer is None:
        return to_sign_in()
    dept = _department(viewer, department)
    first, last = _period(request, start, end)
    title = f"{TITLE}-{dept}" if dept else TITLE
    data = to_xlsx(_rows(request, viewer, first, last, dept), title)
    name = f"{title}_{first:%Y%m%d}-{last:%Y%m%d}.xlsx"
    return Response(
        data,
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"},
    )
