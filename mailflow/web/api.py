"""The JSON API under ``/api/``: the pages' data with the pages' rights.

Scripts send ``Authorization: Bearer <token>`` (``mailflow web token create``). A browser's
session works too; its writing calls must then carry the session's CSRF token in
``X-CSRF-Token``. A thread the caller may not see answers 404, like one that does not exist.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field

from mailflow.web import data
from mailflow.web.access import Viewer
from mailflow.web.actions import close_item_as, close_thread_as, may_close_thread
from mailflow.web.app import bearer_of, context_of, require_viewer, session_of
from mailflow.web.auth import same_token, utcnow

router = APIRouter(prefix="/api", tags=["api"])
ViewerDep = Annotated[Viewer, Depends(require_viewer)]


class CloseItem(BaseModel):
    """Why the item is closed (recorded like ``items close --note``)."""

    note: str | None = Field(default=None, max_length=2000)


class CloseThread(BaseModel):
    """Which thread (any Message-ID in it) and why (``thread close --note``)."""

    message_id: str = Field(max_length=998)
    note: str | None = Field(default=None, max_length=2000)


def _csrf_checked(request: Request) -> None:
    """A cookie-signed-in browser must prove the call comes from our page."""
    if bearer_of(request):
        return
    session = session_of(request)
    if session is None or not same_token(request.headers.get("x-csrf-token"), session.csrf):
        raise HTTPException(403, "missing or wrong X-CSRF-Token")


@router.get("/me", summary="Who the caller is and what they may see")
def me(viewer: ViewerDep) -> dict[str, Any]:
    return {
        "address": viewer.address,
        "name": viewer.name,
        "role": viewer.role,
        "departments": sorted(viewer.departments),
    }


@router.get("/items", summary="Action items the caller may see, soonest deadline first")
def items(
    request: Request,
    viewer: ViewerDep,
    status: Annotated[str | None, Query(pattern="^(open|due_soon|overdue|done)$")] = None,
    owner: Annotated[str | None, Query(max_length=200)] = None,
    department: Annotated[str | None, Query(max_length=200)] = None,
    due_before: date | None = None,
    due_after: date | None = None,
) -> list[dict[str, Any]]:
    ctx = context_of(request)
    wanted = data.ItemFilter(status, owner, department, due_before, due_after)
    return data.items_for(ctx.sessions, ctx.organization(), viewer, wanted, ctx.timezone)


@router.get("/thread", summary="A thread: messages, items, confirmation ledger, mail sent")
def thread(
    request: Request, viewer: ViewerDep, message_id: Annotated[str, Query(max_length=998)]
) -> dict[str, Any]:
    ctx = context_of(request)
    view = data.thread_for(
        ctx.sessions, ctx.organization(), viewer, _bracketed(message_id), ctx.timezone
    )
    if view is None:
        raise HTTPException(404, "no thread you may see holds this Message-ID")
    return view


@router.get("/outbox", summary="Outgoing mail the caller may see, newest first")
def outbox(
    request: Request,
    viewer: ViewerDep,
    status: Annotated[str | None, Query(pattern="^(pending|failed|sent|cancelled)$")] = None,
) -> list[dict[str, Any]]:
    ctx = context_of(request)
    return data.outbox_for(ctx.sessions, ctx.organization(), viewer, status, ctx.timezone)


@router.post("/items/{item_id}/close", summary="Mark an item done, recording who and why")
def close_item(
    request: Request, viewer: ViewerDep, item_id: int, body: CloseItem
) -> dict[str, Any]:
    _csrf_checked(request)
    ctx = context_of(request)
    visible = data.items_for(
        ctx.sessions, ctx.organization(), viewer, data.ItemFilter(), ctx.timezone
    )
    if item_id not in {i["id"] for i in visible}:
        raise HTTPException(404, "no item you may close has this id")
    task = close_item_as(ctx.sessions, viewer, item_id, body.note, utcnow())
    return {"id": item_id, "task": task, "status": "done"}


@router.post("/thread/close", summary="Close a thread: no more reminders about it")
def close_thread(request: Request, viewer: ViewerDep, body: CloseThread) -> dict[str, Any]:
    _csrf_checked(request)
    ctx = context_of(request)
    mid = _bracketed(body.message_id)
    if data.thread_for(ctx.sessions, ctx.organization(), viewer, mid, ctx.timezone) is None:
        raise HTTPException(404, "no thread you may see holds this Message-ID")
    if not may_close_thread(viewer):
        raise HTTPException(403, "only administrators and department managers close threads")
    count = close_thread_as(ctx.sessions, viewer, mid, body.note, utcnow())
    return {"message_id": mid, "messages": count, "closed": True}


def _bracketed(message_id: str) -> str:
    text = message_id.strip()
    return text if text.startswith("<") else f"<{text}>"
