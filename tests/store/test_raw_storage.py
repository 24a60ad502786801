"""Raw mail is stored byte for byte, big or small, in the batch's one transaction."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from mailflow.store import messages
from mailflow.store.db import make_engine, make_session_factory, writing
from mailflow.store.messages import STREAMED_RAW_BYTES, NewMessage, add_messages, raw_bytes
from mailflow.store.models import RawMessage


def _new(n: int, raw: bytes) -> NewMessage:
    row = {"message_id": f"<raw-{n}@example.com>", "status": "stored", "source": "s",
           "folder": "INBOX", "source_key": str(n), "received_at": datetime.now(UTC),
           "automated": False, "conforms": False}  # fmt: skip
    return NewMessage(row, raw, f"{n:064d}")


@pytest.mark.parametrize("piece", [messages.BLOB_PIECE, 1000])  # whole pieces and a ragged end
def test_big_and_small_raw_mail_read_back_exactly(
    database_url: str, piece: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mails under and over the streaming threshold, in one batch, read back byte for byte
    with their sizes (SQLite writes the big ones in pieces, PostgreSQL copies them)."""
    monkeypatch.setattr(messages, "BLOB_PIECE", piece)
    rng = random.Random(piece)
    raws = [rng.randbytes(size) for size in (10, STREAMED_RAW_BYTES + 12345, 3000,
                                             STREAMED_RAW_BYTES)]  # fmt: skip
    sessions = make_session_factory(engine := make_engine(database_url))
    with writing(sessions) as session:
        add_messages(session, [_new(n, raw) for n, raw in enumerate(raws)])
    with sessions() as session:
        for n, raw in enumerate(raws):
            assert raw_bytes(session, f"<raw-{n}@example.com>") == raw
        sizes = sorted(session.scalars(select(RawMessage.size)))
    assert sizes == sorted(len(r) for r in raws)
    engine.dispose()


def test_a_failed_batch_leaves_no_big_raw_behind(database_url: str) -> None:
    """A big mail written in pieces is rolled back with the rest of its transaction."""
    sessions = make_session_factory(engine := make_engine(database_url))
    with pytest.raises(RuntimeError), writing(sessions) as session:
        add_messages(session, [_new(1, b"x" * (STREAMED_RAW_BYTES + 1))])
        raise RuntimeError("the batch failed after the insert")
    with sessions() as session:
        assert session.scalars(select(RawMessage.message_pk)).all() == []
    engine.dispose()
