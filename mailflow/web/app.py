"""The web application: pages for people, a JSON API under ``/api/`` for scripts, one set of
rights for both (``access.py``). FastAPI writes the OpenAPI document at ``/openapi.json``; its
documentation pages are off because they load scripts from the internet.

Every answer carries a strict Content-Security-Policy: nothing runs, nothing loads from
elsewhere. Mail content is only ever escaped text in the pages.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import PlainTextResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.orm import Session, sessionmaker

from mailflow.mail.calendar import BusinessCalendar
from mailflow.rulebook.loader import Rulebook
from mailflow.rulebook.organization import Organization
from mailflow.web.access import Viewer, viewer_for
from mailflow.web.auth import CookieSigner, WebSession, token_address

COOKIE = "mailflow_session"
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
STATIC = Path(__file__).parent / "static"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass
class WebContext:
    """What the application needs, built once by ``mailflow web`` (or a test)."""

    sessions: sessionmaker[Session]
    organization: Callable[[], Organization]
    timezone: tzinfo
    signer: CookieSigner
    base_url: str  # where people reach the view; sign-in links point here
    send: Callable[[Sequence[int]], None]  # hands new outbox ids to delivery
    secure_cookies: bool = False
    # the rules in force and the business calendar, for the complaints' clocks
    clocks: Callable[[], tuple[Rulebook, BusinessCalendar]] | None = None


def create_app(ctx: WebContext) -> FastAPI:
    """Return the application for ``ctx``."""
    from mailflow.web import api, complaints, pages, record, search

    app = FastAPI(
        title="mailflow",
        summary="Threads, action items, confirmations and the outbox of the coordination desk.",
        version="1",
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.ctx = ctx
    app.include_router(api.router)
    app.include_router(pages.router)
    app.include_router(record.router)
    app.include_router(complaints.router)
    app.include_router(search.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.middleware("http")
    async def _headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if request.method not in SAFE_METHODS and not same_origin(request):
            response: Response = PlainTextResponse("cross-site request refused", status_code=403)
        else:
            response = await call_next(request)
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        # a sign-in link never leaks to another site; same-origin (not no-referrer) so that
        # browsers send our own Origin with our forms, which same_origin() checks
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    return app


def same_origin(request: Request) -> bool:
    """Whether a writing request comes from our own pages, or from a script (no ``Origin``).
    Browsers send ``Origin`` with every cross-site POST: this also stops a forged form from
    signing a victim in with someone else's link (login CSRF)."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc.lower() == request.headers.get("host", "").lower()


def context_of(request: Request) -> WebContext:
    """The application's context."""
    ctx: WebContext = request.app.state.ctx
    return ctx


def session_of(request: Request) -> WebSession | None:
    """The signed-in session of a browser, or None."""
    return context_of(request).signer.read(request.cookies.get(COOKIE))


def bearer_of(request: Request) -> str | None:
    """The API token in ``Authorization: Bearer``, or None."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def viewer_of(request: Request) -> Viewer | None:
    """Who asks: the API token's person, else the session's; None when neither, or when the
    directory no longer knows them (a person who left loses access at once)."""
    ctx = context_of(request)
    token = bearer_of(request)
    address = token_address(ctx.sessions, token) if token else None
    if address is None and token is None:
        session = session_of(request)
        address = session.address if session else None
    return viewer_for(ctx.organization(), address) if address else None


def require_viewer(request: Request) -> Viewer:
    """The viewer, or 401 for the API."""
    viewer = viewer_of(request)
    if viewer is None:
        raise HTTPException(401, "sign in, or send an API token as Authorization: Bearer")
    return viewer
