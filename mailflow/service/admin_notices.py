"""The mails that tell the administrators something went wrong: a mail that could not be sent,
recipients refused for good, a rule edit refused. Each is an outbox row with a key derived
from what it reports, so it is written once however often the cause recurs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from mailflow.service.outmail import key_of, outbox_row
from mailflow.store.models import OutboxMail

ADMIN_NOTICE = "delivery_failed_admin"
RULES_NOTICE = "rules_error_admin"
NOTICES = frozenset({ADMIN_NOTICE, RULES_NOTICE})


def admin_notice(
    failed: OutboxMail,
    administrators: Sequence[str],
    sender: str,
    now: datetime,
    org_name: str = "",
) -> OutboxMail:
    """Return the one outbox row that tells the administrators ``failed`` could not be sent."""
    problem = (
        f"{failed.kind} to {', '.join([*failed.to_addrs, *failed.cc_addrs])}"
        f" ({failed.message_id}), {failed.attempts} attempt(s): {failed.last_error or ''}"
    )
    seed = f"admin-notice:{failed.key}"
    return _notice(ADMIN_NOTICE, seed, [problem], administrators, (org_name, sender), now)


def refusal_notice(
    row: OutboxMail,
    refused: Mapping[str, tuple[int, str]],
    administrators: Sequence[str],
    sender: str,
    now: datetime,
) -> OutboxMail:
    """Return the outbox row telling the administrators that some recipients of ``row`` were
    refused for good (once per mail and set of addresses); the others got it."""
    problems = [
        f"{row.kind} ({row.message_id}) was refused for {address}: {code} {text}"
        for address, (code, text) in sorted(refused.items())
    ]
    seed = f"admin-notice:{row.key}:" + ",".join(sorted(a.lower() for a in refused))
    org_name = str((row.context.get("organization") or {}).get("name") or "")
    return _notice(ADMIN_NOTICE, seed, problems, administrators, (org_name, sender), now)


def rules_error_notice(
    problems: Sequence[str],
    administrators: Sequence[str],
    sender: str,
    now: datetime,
    org_name: str = "",
) -> OutboxMail:
    """Return the outbox row telling the administrators a rule edit was refused (once per set)."""
    seed = "rules-error:" + "\n".join(problems)
    return _notice(RULES_NOTICE, seed, list(problems), administrators, (org_name, sender), now)


def _notice(
    kind: str,
    seed: str,
    problems: list[str],
    administrators: Sequence[str],
    org: tuple[str, str],
    now: datetime,
) -> OutboxMail:
    name, sender = org
    context = {
        "organization": {"name": name, "shared_address": sender},
        "recipient": {"name": "", "address": administrators[0]},
        "rule": {"name": kind},
        "message": None,
        "problems": problems,
    }
    return outbox_row(
        key=key_of(seed),
        kind=kind,
        rule=None,
        to=administrators,
        cc=(),
        context=context,
        domain=sender.rpartition("@")[2],
        now=now,
    )
