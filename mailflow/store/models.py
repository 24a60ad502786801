"""The tables mailflow keeps: messages with their raw bytes, attachments, checkpoints, leases.

Knows models, not protocols: nothing here imports sources, jobs or the mail parser. A
``MetaData`` naming convention keeps constraint names equal on SQLite and PostgreSQL, which
Alembic's batch mode on SQLite needs to drop or alter them later.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy import Date as SqlDate
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

STATUS_STORED = "stored"
STATUS_QUARANTINED = "quarantined"
MESSAGE_STATUSES = (STATUS_STORED, STATUS_QUARANTINED)

# RFC 5322 caps a line at 998 characters; Message-IDs longer than this are not real mail.
MESSAGE_ID_LENGTH = 998


class UtcDateTime(TypeDecorator[datetime]):
    """An aware datetime stored as UTC; SQLite would otherwise hand back naive values."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a timezone-aware column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 (SQLAlchemy reads this class attribute by name)
        datetime: UtcDateTime(),
        date: SqlDate(),
        dict[str, Any]: JSON(),
    }


class Message(Base):
    """One mail as received: Message-ID unique (invariant 2), parsed fields, status."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(MESSAGE_ID_LENGTH), unique=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(500))
    folder: Mapped[str] = mapped_column(String(500))
    source_key: Mapped[str] = mapped_column(String(500))
    received_at: Mapped[datetime]
    date: Mapped[datetime | None] = mapped_column(index=True)
    subject: Mapped[str | None] = mapped_column(Text)
    from_name: Mapped[str | None] = mapped_column(String(500))
    from_address: Mapped[str | None] = mapped_column(String(500), index=True)
    in_reply_to: Mapped[str | None] = mapped_column(String(MESSAGE_ID_LENGTH), index=True)
    automated: Mapped[bool] = mapped_column(default=False)
    automated_reason: Mapped[str | None] = mapped_column(String(200))
    subject_reason: Mapped[str | None] = mapped_column(String(200), index=True)
    department: Mapped[str | None] = mapped_column(String(200))
    topic: Mapped[str | None] = mapped_column(Text)
    conforms: Mapped[bool] = mapped_column(default=False)
    body_text: Mapped[str | None] = mapped_column(Text)
    # the whole `mailflow parse --json` document, so later features need no re-parse
    parsed: Mapped[dict[str, Any] | None]
    thread_id: Mapped[int | None] = mapped_column(ForeignKey("threads.id"))
    subject_key: Mapped[str | None] = mapped_column(String(500))

    raw: Mapped[RawMessage] = relationship(
        back_populates="message", cascade="all, delete-orphan", lazy="raise"
    )
    attachments: Mapped[list[AttachmentRecord]] = relationship(
        back_populates="message", cascade="all, delete-orphan", order_by="AttachmentRecord.id"
    )
    addresses: Mapped[list[MessageAddress]] = relationship(
        back_populates="message", cascade="all, delete-orphan", order_by="MessageAddress.id"
    )

    @hybrid_property
    def written_at(self) -> datetime:
        """When the mail was written: its Date, else when it was received (in queries too)."""
        return self.date or self.received_at

    @written_at.inplace.expression
    @classmethod
    def _written_at(cls) -> ColumnElement[datetime]:
        return func.coalesce(cls.date, cls.received_at)


# A thread's mail without In-Reply-To by when it was written: ingest reads only what was
# written since the batch's oldest mail, not the whole thread (migration 0013, which replaces
# the index on thread_id alone). With in_reply_to second, SQLite prefers it to the index on
# in_reply_to alone, which would read every headerless mail stored.
Index(
    "ix_messages_thread_id_in_reply_to_written_at",
    Message.thread_id,
    Message.in_reply_to,
    Message.written_at,
)


class RawMessage(Base):
    """The bytes as received, kept apart so listing messages never loads them."""

    __tablename__ = "raw_messages"

    message_pk: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
    )
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    content: Mapped[bytes] = mapped_column(LargeBinary)

    message: Mapped[Message] = relationship(back_populates="raw")


class AttachmentRecord(Base):
    """An attachment's metadata; the content stays in the raw message."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_pk: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str | None] = mapped_column(String(1000))
    content_type: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(BigInteger)
    version: Mapped[str | None] = mapped_column(String(50))
    date: Mapped[date | None]

    message: Mapped[Message] = relationship(back_populates="attachments")


class MessageAddress(Base):
    """Who a message came from and went to, one row per address and role."""

    __tablename__ = "message_addresses"
    __table_args__ = (Index("ix_message_addresses_address_role", "address", "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_pk: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(10))  # from, to, cc, reply_to
    name: Mapped[str] = mapped_column(String(500))
    address: Mapped[str] = mapped_column(String(500))

    message: Mapped[Message] = relationship(back_populates="addresses")


class SeenKey(Base):
    """A mailbox entry already committed, for sources without UIDs (Maildir)."""

    __tablename__ = "seen_keys"
    __table_args__ = (UniqueConstraint("source", "folder", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(500))
    folder: Mapped[str] = mapped_column(String(500))
    key: Mapped[str] = mapped_column(String(500))


class MailboxCheckpoint(Base):
    """How far an IMAP folder has been committed: (UIDVALIDITY, last UID)."""

    __tablename__ = "mailbox_checkpoints"
    __table_args__ = (UniqueConstraint("source", "folder"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(500))
    folder: Mapped[str] = mapped_column(String(500))
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime]


class MailboxSyncState(Base):
    """How far an Exchange folder has been committed: the opaque EWS SyncFolderItems state."""

    __tablename__ = "mailbox_sync_states"
    __table_args__ = (UniqueConstraint("source", "folder"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(500))
    folder: Mapped[str] = mapped_column(String(500))
    state: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime]


class MailboxLease(Base):
    """Invariant 12: the one poller allowed to read a mailbox, fenced by ``epoch``."""

    __tablename__ = "mailbox_leases"

    source: Mapped[str] = mapped_column(String(500), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200))
    epoch: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[datetime]


class RuleSet(Base):
    """A validated set of rule files and templates (a tar archive of both folders), kept so
    that a process starting during a broken edit runs on the last good set (invariant 11).
    Its ``id`` is the version ``mailflow status`` shows."""

    __tablename__ = "rule_sets"

    id: Mapped[int] = mapped_column(primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 of the archive
    archive: Mapped[bytes] = mapped_column(LargeBinary)
    stored_at: Mapped[datetime]


class ServiceState(Base):
    """What a running part of mailflow last said about itself (the rules in force and the last
    reload error, a poller's last fetch, a worker's broker), for ``mailflow status``."""

    __tablename__ = "service_states"

    name: Mapped[str] = mapped_column(String(300), primary_key=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime]


class SmtpSessionSlot(Base):
    """One of the SMTP sessions a mailbox allows at once (``sessions=`` on MAILFLOW_TRANSPORT),
    held by a delivery thread of any worker process while its session is open, until
    ``held_until`` unless renewed (``store.session_slots``)."""

    __tablename__ = "smtp_session_slots"

    account: Mapped[str] = mapped_column(String(500), primary_key=True)  # smtp://user@host:port
    slot: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    holder: Mapped[str | None] = mapped_column(String(200))
    held_until: Mapped[datetime | None]


class OAuthRefreshToken(Base):
    """The newest refresh token of an OAuth2 grant (``oauth.refresh``): a server that rotates
    them refuses the old one, so every process, and each after a restart, starts from this
    one. ``seed`` names the configured token it grew from; ``turn_by`` holds the grant's turn
    to refresh until ``turn_until`` (``store.oauth_tokens``)."""

    __tablename__ = "oauth_refresh_tokens"

    grant_name: Mapped[str] = mapped_column(String(700), primary_key=True)
    seed: Mapped[str | None] = mapped_column(String(64))
    refresh_token: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime | None]
    turn_by: Mapped[str | None] = mapped_column(String(200))
    turn_until: Mapped[datetime | None]


ITEM_OPEN, ITEM_DONE = "open", "done"
ITEM_STATUSES = (ITEM_OPEN, ITEM_DONE)
ANSWER_PENDING = "pending"


class Thread(Base):
    """A conversation: messages linked by In-Reply-To/References or, failing that, by subject."""

    __tablename__ = "threads"
    __table_args__ = (
        # ingest reads a subject's threads active lately, not all it ever had (migration 0013)
        Index("ix_threads_subject_key_last_message_at", "subject_key", "last_message_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_key: Mapped[str] = mapped_column(String(500))
    started_at: Mapped[datetime]
    last_message_at: Mapped[datetime] = mapped_column(index=True)
    closed_at: Mapped[datetime | None]


class ThreadParticipant(Base):
    """An address on one of a thread's messages (From, To, Cc, Reply-To), once per thread:
    what threading by subject and the web view's rights ask, without reading every message
    of the thread (``mailflow.store.participants``, migration 0014)."""

    __tablename__ = "thread_participants"

    thread_id: Mapped[int] = mapped_column(
        ForeignKey("threads.id", ondelete="CASCADE"), primary_key=True
    )
    address: Mapped[str] = mapped_column(String(500), primary_key=True)


class ActionItemRecord(Base):
    """A task a message assigned: 责任人 + 完成时限 + 交付标准, planned and actual completion."""

    __tablename__ = "action_items"
    __table_args__ = (
        UniqueConstraint("message_pk", "position"),
        # ingest reads a thread's open items of a few owners, not all its items (migration 0013)
        Index("ix_action_items_thread_id_status_owner_email", "thread_id", "status", "owner_email"),
        # the sweep reads open items by deadline (migration 0012)
        Index(
            "ix_action_items_open_due_at",
            "due_at",
            postgresql_where=text("status = 'open'"),
            sqlite_where=text("status = 'open'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    message_pk: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    thread_id: Mapped[int | None] = mapped_column(ForeignKey("threads.id"))
    position: Mapped[int]  # 1-based order in the message, as people refer to it (第2项)
    task: Mapped[str] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(String(200))
    owner_email: Mapped[str | None] = mapped_column(String(500), index=True)
    deadline: Mapped[str | None] = mapped_column(String(40))  # ISO date or datetime, as parsed
    due_at: Mapped[datetime | None] = mapped_column(index=True)  # the instant it is late after
    deliverable: Mapped[str | None] = mapped_column(Text)
    missing: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(10), index=True)
    completed_at: Mapped[datetime | None]
    completed_by_pk: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    created_at: Mapped[datetime]


class ConfirmationRequest(Base):
    """A message (minutes, say) that every recipient must confirm with 已阅 or an objection."""

    __tablename__ = "confirmation_requests"
    __table_args__ = (
        # a thread's requests newest first: ingest finds the newest that asked someone by
        # reading back only until it (migration 0013)
        Index("ix_confirmation_requests_thread_id_requested_at", "thread_id", "requested_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    message_pk: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), unique=True
    )
    thread_id: Mapped[int | None] = mapped_column(ForeignKey("threads.id"))
    requested_at: Mapped[datetime]
    due_at: Mapped[datetime | None] = mapped_column(index=True)

    answers: Mapped[list[ConfirmationAnswer]] = relationship(
        back_populates="request", cascade="all, delete-orphan", order_by="ConfirmationAnswer.id"
    )


class ConfirmationAnswer(Base):
    """One recipient's line in the ledger: asked as To or Cc; pending, ack, objection or done."""

    __tablename__ = "confirmation_answers"
    __table_args__ = (
        UniqueConstraint("request_id", "address"),
        Index("ix_confirmation_answers_status_answered_at", "status", "answered_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("confirmation_requests.id", ondelete="CASCADE"), index=True
    )
    address: Mapped[str] = mapped_column(String(500))
    name: Mapped[str] = mapped_column(String(500))
    role: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(20))
    answered_at: Mapped[datetime | None]
    answer_message_pk: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    answer_text: Mapped[str | None] = mapped_column(Text)

    request: Mapped[ConfirmationRequest] = relationship(back_populates="answers")


OUTBOX_PENDING, OUTBOX_SENT, OUTBOX_FAILED = "pending", "sent", "failed"
OUTBOX_CANCELLED = "cancelled"  # an administrator stopped it (`outbox cancel`)
OUTBOX_STATUSES = (OUTBOX_PENDING, OUTBOX_SENT, OUTBOX_FAILED, OUTBOX_CANCELLED)


class OutboxMail(Base):
    """A mail mailflow has decided to send (invariant 3): written with the decision, sent by a job.

    ``key`` is the idempotency key (message, rule, action, recipients): deciding twice about the
    same mail adds no second row. ``message_id`` is fixed at decision time, so a retry or a
    rare resend after a crash carries the same Message-ID and recipients can recognise it.
    """

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(100), index=True)  # the template
    rule: Mapped[str | None] = mapped_column(String(200))
    message_pk: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"), index=True
    )
    thread_id: Mapped[int | None] = mapped_column(ForeignKey("threads.id"), index=True)
    to_addrs: Mapped[list[str]] = mapped_column(JSON)
    cc_addrs: Mapped[list[str]] = mapped_column(JSON)
    lang: Mapped[str] = mapped_column(String(20))
    context: Mapped[dict[str, Any]] = mapped_column(JSON)
    message_id: Mapped[str] = mapped_column(String(MESSAGE_ID_LENGTH), unique=True)
    in_reply_to: Mapped[str | None] = mapped_column(String(MESSAGE_ID_LENGTH))
    references: Mapped[list[str]] = mapped_column(JSON)
    auto_submitted: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str | None] = mapped_column(Text)  # as rendered when sent
    status: Mapped[str] = mapped_column(String(10), index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    due_at: Mapped[datetime] = mapped_column(index=True)
    next_attempt_at: Mapped[datetime] = mapped_column(index=True)
    claimed_until: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(index=True)  # the rate limit counts by it


# one recipient of an outbox row: still to get it (a 4xx is retried alone), got it, or refused (5xx)
RECIPIENT_PENDING, RECIPIENT_SENT, RECIPIENT_FAILED = "pending", "sent", "failed"
RECIPIENT_CANCELLED = OUTBOX_CANCELLED
RECIPIENT_STATUSES = (RECIPIENT_PENDING, RECIPIENT_SENT, RECIPIENT_FAILED, RECIPIENT_CANCELLED)


class OutboxRecipient(Base):
    """What the next hop answered for one recipient of an outbox row (To or Cc).

    Written from the first answer that concerned single recipients on: until then every
    recipient shares the row's status. ``code`` and ``reply`` are the server's last answer for
    this address (451 means it is tried again, alone, with the same Message-ID).
    """

    __tablename__ = "outbox_recipients"
    __table_args__ = (UniqueConstraint("outbox_id", "address"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"), index=True)
    address: Mapped[str] = mapped_column(String(500))
    field: Mapped[str] = mapped_column(String(2))  # to or cc
    status: Mapped[str] = mapped_column(String(10))
    code: Mapped[int | None]
    reply: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime]


class AdminAction(Base):
    """Something an administrator did by hand, who did it and why: closing an item or a
    thread, retrying or cancelling outgoing mail. ``thread`` shows a thread's history."""

    __tablename__ = "admin_actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    action: Mapped[str] = mapped_column(String(40))
    by: Mapped[str] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(index=True)
    thread_id: Mapped[int | None] = mapped_column(
        ForeignKey("threads.id", ondelete="SET NULL"), index=True
    )
    item_id: Mapped[int | None] = mapped_column(ForeignKey("action_items.id", ondelete="SET NULL"))
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id", ondelete="SET NULL"))


class SignInLink(Base):
    """A one-time sign-in link mailed to someone in the directory (the web view): only the
    SHA-256 of its secret is kept; it works once, until ``expires_at``."""

    __tablename__ = "web_sign_in_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    address: Mapped[str] = mapped_column(String(500), index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class ApiToken(Base):
    """A token a script uses with the web view's JSON API, acting for ``address`` with its
    rights; only the SHA-256 of the token is kept."""

    __tablename__ = "web_api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    address: Mapped[str] = mapped_column(String(500), index=True)
    label: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
