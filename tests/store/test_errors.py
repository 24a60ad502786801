"""No SQLAlchemy exception leaves the store: a unique key another writer took first is a
ConcurrentWrite, one of mailflow's own errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mailflow.errors import ConcurrentWrite, MailflowError
from mailflow.store.db import make_engine, make_session_factory, writing
from mailflow.store.messages import add_message
from mailflow.store.models import Message


def _message() -> Message:
    return Message(
        message_id="<shift-roster-0412@clinic.example>",
        status="stored",
        source="t",
        folder="INBOX",
        source_key="1",
        received_at=datetime.now(UTC),
        automated=False,
        conforms=False,
    )


def test_a_key_taken_first_is_a_concurrent_write(database_url: str) -> None:
    """Storing a Message-ID a writer stored first raises ConcurrentWrite, and the first row stays."""
    sessions = make_session_factory(make_engine(database_url))
    with writing(sessions) as s:
        add_message(s, message=_message(), raw=b"x", sha256="0" * 64)
    with pytest.raises(ConcurrentWrite) as caught, writing(sessions) as s:
        add_message(s, message=_message(), raw=b"x", sha256="0" * 64)
    assert isinstance(caught.value, MailflowError)
    with sessions() as s:
        assert s.query(Message).count() == 1
