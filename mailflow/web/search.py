"""Full-text search: the page ``/search`` (a plain GET form) and ``/api/search``.

A query is up to eight terms separated by spaces; a thread is found when one of its messages
holds every term in its subject or new text (``store/search.py`` says how each database does
it). One result per thread, its latest stored matching message, latest first, and only threads the
viewer may see (``access.py``): a staff member finds nothing of a thread they are not on.
"""

from __future__ import annotations

import re
from datetime import tzinfo
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session, sessionmaker

from mailflow.rulebook.organization import Organization
from mailflow.store.search import Found, first_subjects, matching_messages, search_terms
from mailflow.web.access import Viewer, may_see_thread, thread_facts
from mailflow.web.app import COOKIE, context_of, require_viewer, viewer_of
from mailflow.web.pages import page, to_sign_in

MAX_RESULTS = 50
BATCH = 200  # matching messages read at a time, newest first, until enough threads are found
MAX_SCANNED = 5000  # matching messages looked at, at most, for one query
SNIPPET_CHARS = 120
MAX_QUERY = 200

router = APIRouter()


def search_for(
    sessions: sessionmaker[Session], org: Organization, viewer: Viewer, query: str, tz: tzinfo
) -> dict[str, Any]:
    """Return ``{"query", "terms", "results", "complete"}``: the threads ``viewer`` may see
    that a message matching ``query`` is in, latest stored match first, at most ``MAX_RESULTS``.
    ``complete`` is False when more may match than were looked at (a narrower query helps)."""
    terms = search_terms(query)
    hits: list[Found] = []
    seen: set[int] = set()
    scanned, complete = 0, True
    with sessions() as session:
        while terms and len(hits) < MAX_RESULTS:
            batch = matching_messages(session, terms, limit=BATCH, offset=scanned)
            scanned += len(batch)
            new = [h for h in batch if h.thread_id not in seen]
            facts = thread_facts(session, {h.thread_id for h in new}, org)
            for hit in new:
                if hit.thread_id in seen or len(hits) >= MAX_RESULTS:
                    continue
                seen.add(hit.thread_id)
                if may_see_thread(viewer, facts.get(hit.thread_id)):
                    hits.append(hit)
            if len(batch) < BATCH:
                break
            if scanned >= MAX_SCANNED:
                complete = False
                break
        subjects = first_subjects(session, [h.thread_id for h in hits])
    results = [_result(h, subjects.get(h.thread_id, h.subject), terms, tz) for h in hits]
    if len(hits) >= MAX_RESULTS:
        complete = False
    return {"query": query, "terms": terms, "results": results, "complete": complete}


def _result(hit: Found, thread_subject: str, terms: list[str], tz: tzinfo) -> dict[str, Any]:
    text, marks = snippet(hit.new_text, terms)
    if not marks:  # the subject matched: show it, marked, rather than an unmarked beginning
        subject_text, subject_marks = snippet(hit.subject, terms)
        if subject_marks:
            text, marks = subject_text, subject_marks
    return {
        "thread_id": hit.thread_id,
        "thread_subject": thread_subject,
        "message_id": hit.message_id,
        "subject": hit.subject,
        "date": hit.written_at.astimezone(tz).isoformat(),
        "snippet": text,
        "highlights": marks,
        "url": f"/thread?id={quote(hit.message_id, safe='')}",
    }


def snippet(text: str, terms: list[str], width: int = SNIPPET_CHARS) -> tuple[str, list[list[int]]]:
    """Return a piece of ``text`` (white space collapsed) around the first term found, at most
    ``width`` characters plus ellipses, and the [start, end) of each term in it."""
    flat = " ".join(text.split())
    if not terms:
        return flat[:width], []
    pattern = re.compile("|".join(re.escape(t) for t in terms), re.IGNORECASE)
    first = pattern.search(flat)
    start = max(0, first.start() - width // 3) if first else 0
    piece = flat[start : start + width]
    head = "…" if start > 0 else ""
    tail = "…" if start + width < len(flat) else ""
    marks = [[m.start() + len(head), m.end() + len(head)] for m in pattern.finditer(piece)]
    return f"{head}{piece}{tail}", marks


def snippet_parts(result: dict[str, Any]) -> list[tuple[str, bool]]:
    """Split a result's snippet into (text, is a match) pieces, for the page to mark."""
    parts, at = [], 0
    text = result["snippet"]
    for start, end in result["highlights"]:
        parts += [(text[at:start], False), (text[start:end], True)]
        at = end
    return [p for p in [*parts, (text[at:], False)] if p[0]]


@router.get("/api/search", tags=["api"], summary="Threads whose mail holds every term")
def api_search(
    request: Request,
    viewer: Annotated[Viewer, Depends(require_viewer)],
    q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY, pattern=r"\S")],
) -> dict[str, Any]:
    ctx = context_of(request)
    return search_for(ctx.sessions, ctx.organization(), viewer, q, ctx.timezone)


@router.get("/search", include_in_schema=False)
def search_page(request: Request, q: str = "") -> Response:
    viewer = viewer_of(request) if request.cookies.get(COOKIE) else None
    if viewer is None:
        return to_sign_in()
    ctx = context_of(request)
    query = q.strip()[:MAX_QUERY]
    found = search_for(ctx.sessions, ctx.organization(), viewer, query, ctx.timezone)
    for result in found["results"]:
        result["parts"] = snippet_parts(result)
    return page(request, "search.html", viewer=viewer, q=query, found=found)
