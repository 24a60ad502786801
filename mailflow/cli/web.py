"""``mailflow web [--host H] [--port P]`` serves the web view; ``mailflow web token create
--for ADDRESS`` makes an API token for scripts (printed once, stored hashed)."""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from mailflow.service.runtime import Runtime
    from mailflow.web.app import WebContext

log = logging.getLogger(__name__)

web_app = typer.Typer(
    help="The web view and its JSON API (OpenAPI at /openapi.json).",
    invoke_without_command=True,
)
token_app = typer.Typer(help="API tokens for scripts.", no_args_is_help=True)
web_app.add_typer(token_app, name="token")


@web_app.callback()
def web(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Listen here (MAILFLOW_WEB_HOST).")] = None,
    port: Annotated[
        int | None, typer.Option(help="Listen on this port (MAILFLOW_WEB_PORT).")
    ] = None,
) -> None:
    """Serve the web view: items, threads and who confirmed, the outbox; sign-in by mailed link."""
    if ctx.invoked_subcommand is not None:
        return
    import uvicorn

    from mailflow.cli.common import open_runtime
    from mailflow.web.app import create_app

    with open_runtime(last_good=True) as runtime:
        settings = runtime.settings
        bind_host, bind_port = host or settings.web_host, port or settings.web_port
        app = create_app(web_context(runtime, f"http://{bind_host}:{bind_port}"))
        uvicorn.run(app, host=bind_host, port=bind_port, proxy_headers=True, log_level="warning")


def web_context(runtime: Runtime, default_url: str) -> WebContext:
    """Return the web view's context from a runtime: its database, rules and delivery."""
    from mailflow.mail.calendar import BusinessCalendar
    from mailflow.web.app import WebContext
    from mailflow.web.auth import CookieSigner

    settings = runtime.settings
    secret = settings.web_secret_key()
    if not secret:
        log.warning("MAILFLOW_WEB_SECRET is not set: sessions end when this process stops")
        secret = secrets.token_urlsafe(32)
    base_url = settings.web_url or default_url
    return WebContext(
        sessions=runtime.sessions,
        organization=lambda: runtime.organization,
        timezone=runtime.context.timezone,
        signer=CookieSigner(secret, timedelta(hours=settings.web_session_hours)),
        base_url=base_url,
        send=lambda ids: _send(runtime, ids),
        secure_cookies=base_url.startswith("https://"),
        clocks=lambda: (runtime.rulebook, BusinessCalendar.from_context(runtime.context)),
    )


def _send(runtime: Runtime, ids: Sequence[int]) -> None:
    """Hand new mail to the broker's workers; in-process, send it now in a thread (the sweep
    of `mailflow run` would find it anyway)."""
    if runtime.settings.broker_url:
        from mailflow.cli.repair import _enqueue

        _enqueue(runtime.settings.broker_url, runtime.courier(), list(ids))
        return

    def deliver() -> None:
        courier = runtime.courier()
        for outbox_id in ids:
            try:
                courier.deliver(outbox_id)
            except Exception:  # the row stays pending; the sweep retries it
                log.exception("sending outgoing mail %s failed", outbox_id)

    threading.Thread(target=deliver, name="web-send", daemon=True).start()


@token_app.command("create")
def token_create(
    address: Annotated[str, typer.Option("--for", help="The directory address it acts for.")],
    label: Annotated[str | None, typer.Option(help="What it is for (kept with it).")] = None,
) -> None:
    """Create an API token acting with ADDRESS's rights; it is printed once, stored hashed."""
    from mailflow.cli.common import err, fail, open_reader
    from mailflow.rulebook.organization import load_organization
    from mailflow.web.access import viewer_for
    from mailflow.web.auth import create_api_token, utcnow

    with open_reader() as reader:
        org = load_organization(reader.settings.rules_dir)
        viewer = viewer_for(org, address)
        if viewer is None:
            fail(f"{address} is not in the directory (organization.yaml)")
        token = create_api_token(reader.sessions, viewer.address, label, utcnow())
    print(token)
    err.print(f"token for {viewer.address} ({viewer.role}); send it as Authorization: Bearer")
