"""The pages people read: server-rendered HTML (Jinja2, autoescaped), no script needed.

Writing forms (sign out, close an item, close a thread) carry the session's CSRF token; the
cookie is also ``SameSite=Strict``. Sign-in is two steps: the mailed link shows a button, and
only pressing it spends the link, so a mail scanner that opens links signs nobody in.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader

from mailflow.web import data
from mailflow.web.access import Viewer
from mailflow.web.actions import close_item_as, close_thread_as, mail_sign_in_link
from mailflow.web.actions import may_close_thread as _may_close_thread
from mailflow.web.app import COOKIE, context_of, session_of, viewer_of
from mailflow.web.auth import link_is_usable, same_token, use_link, utcnow

router = APIRouter(include_in_schema=False)
_env = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _when(value: object) -> str:
    """Show an ISO 8601 time as people read it: ``2023-10-13 18:00`` (a bare day stays)."""
    text = str(value or "")
    return text[:16].replace("T", " ") if len(text) > 10 and text[10] == "T" else text


_env.filters["when"] = _when


def page(request: Request, name: str, status: int = 200, **values: Any) -> HTMLResponse:
    session = session_of(request)
    html = _env.get_template(name).render(
        viewer=values.pop("viewer", None), csrf=session.csrf if session else "", **values
    )
    return HTMLResponse(html, status_code=status)


def _signed_in(request: Request) -> Viewer | None:
    return viewer_of(request) if request.cookies.get(COOKIE) else None


def to_sign_in() -> RedirectResponse:
    return RedirectResponse("/sign-in", status_code=303)


def _check_csrf(request: Request, token: str) -> None:
    session = session_of(request)
    if session is None or not same_token(token, session.csrf):
        raise HTTPException(403, "this form has expired; reload the page")


@router.get("/")
def home() -> Response:
    return RedirectResponse("/items", status_code=303)


@router.get("/sign-in")
def sign_in_form(request: Request) -> Response:
    return page(request, "sign_in.html", sent=False)


@router.post("/sign-in")
def sign_in_request(request: Request, address: Annotated[str, Form(max_length=500)]) -> Response:
    ctx = context_of(request)
    ids = mail_sign_in_link(
        ctx.sessions, ctx.organization(), address, ctx.base_url, ctx.timezone, utcnow()
    )
    if ids:
        ctx.send(ids)
    return page(request, "sign_in.html", sent=True, address=address)


@router.get("/sign-in/{secret}")
def sign_in_confirm(request: Request, secret: str) -> Response:
    ok = link_is_usable(context_of(request).sessions, secret, utcnow())
    return page(request, "sign_in_confirm.html", 200 if ok else 410, secret=secret, ok=ok)


@router.post("/sign-in/{secret}")
def sign_in_spend(request: Request, secret: str) -> Response:
    ctx = context_of(request)
    address = use_link(ctx.sessions, secret, utcnow())
    if address is None:
        return page(request, "sign_in_confirm.html", 410, secret=secret, ok=False)
    response = RedirectResponse("/items", status_code=303)
    response.set_cookie(
        COOKIE,
        ctx.signer.issue(address),
        max_age=int(ctx.signer.lifetime.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=ctx.secure_cookies,
    )
    return response


@router.post("/sign-out")
def sign_out(request: Request, csrf: Annotated[str, Form()]) -> Response:
    _check_csrf(request, csrf)
    response = to_sign_in()
    response.delete_cookie(COOKIE)
    return response


@router.get("/items")
def itemspage(
    request: Request,
    status: str | None = None,
    owner: str | None = None,
    department: str | None = None,
    due_before: str | None = None,
    due_after: str | None = None,
) -> Response:
    viewer = _signed_in(request)
    if viewer is None:
        return to_sign_in()
    ctx = context_of(request)
    wanted = data.ItemFilter(
        status if status in data.ITEM_STATUSES else None,
        owner or None,
        department or None,
        _day(due_before),
        _day(due_after),
    )
    rows = data.items_for(ctx.sessions, ctx.organization(), viewer, wanted, ctx.timezone)
    departments = sorted(ctx.organization().departments)
    return page(
        request, "items.html", viewer=viewer, items=rows, wanted=wanted,
        statuses=data.ITEM_STATUSES, departments=departments,
    )  # fmt: skip


@router.get("/thread")
def threadpage(request: Request, id: Annotated[str, Query(max_length=998)]) -> Response:
    viewer = _signed_in(request)
    if viewer is None:
        return to_sign_in()
    ctx = context_of(request)
    mid = id.strip() if id.strip().startswith("<") else f"<{id.strip()}>"
    view = data.thread_for(ctx.sessions, ctx.organization(), viewer, mid, ctx.timezone)
    if view is None:
        return page(request, "missing.html", 404, viewer=viewer, what=mid)
    return page(
        request, "thread.html", viewer=viewer, t=view, message_id=mid,
        may_close=_may_close_thread(viewer),
    )  # fmt: skip


@router.get("/outbox")
def outboxpage(request: Request, status: str | None = None) -> Response:
    viewer = _signed_in(request)
    if viewer is None:
        return to_sign_in()
    ctx = context_of(request)
    wanted = status if status in data.OUTBOX_STATUSES else None
    rows = data.outbox_for(ctx.sessions, ctx.organization(), viewer, wanted, ctx.timezone)
    return page(
        request, "outbox.html", viewer=viewer, rows=rows, wanted=wanted,
        statuses=data.OUTBOX_STATUSES,
    )  # fmt: skip


@router.post("/items/{item_id}/close")
def close_item_form(
    request: Request,
    item_id: int,
    csrf: Annotated[str, Form()],
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    viewer = _signed_in(request)
    if viewer is None:
        return to_sign_in()
    _check_csrf(request, csrf)
    ctx = context_of(request)
    visible = data.items_for(
        ctx.sessions, ctx.organization(), viewer, data.ItemFilter(), ctx.timezone
    )
    if item_id not in {i["id"] for i in visible}:
        raise HTTPException(404, "no item you may close has this id")
    close_item_as(ctx.sessions, viewer, item_id, note, utcnow())
    return RedirectResponse("/items", status_code=303)


@router.post("/thread/close")
def close_thread_form(
    request: Request,
    csrf: Annotated[str, Form()],
    id: Annotated[str, Form(max_length=998)],
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    viewer = _signed_in(request)
    if viewer is None:
        return to_sign_in()
    _check_csrf(request, csrf)
    ctx = context_of(request)
    if data.thread_for(ctx.sessions, ctx.organization(), viewer, id, ctx.timezone) is None:
        raise HTTPException(404, "no thread you may see holds this Message-ID")
    if not _may_close_thread(viewer):
        raise HTTPException(403, "only administrators and department managers close threads")
    close_thread_as(ctx.sessions, viewer, id, note, utcnow())
    return RedirectResponse(f"/thread?id={quote(id)}", status_code=303)


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None
