"""The file transport: one ``.eml`` per mail in a folder (the embedded default's outbox).

Each file is named from the mail's Message-ID and written atomically (temporary file, fsync,
rename), so a resend of the same mail after a crash replaces the same file instead of adding a
second one. Imports nothing of mailflow but ``errors`` and its own package.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from email import policy
from email.parser import BytesHeaderParser
from pathlib import Path

from mailflow.errors import PermanentSendError, TransientSendError

SUFFIX = ".eml"
_UNSAFE = re.compile(r"[^A-Za-z0-9._@+=-]")
_MAX_STEM = 120


class FileTransport:
    """Writes each mail to ``<folder>/<Message-ID>.eml``; the same mail again overwrites it."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def __repr__(self) -> str:
        return f"FileTransport({str(self.folder)!r})"

    def __enter__(self) -> FileTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def path_for(self, raw: bytes) -> Path:
        """Return the file ``raw`` is written to: its Message-ID made safe, or its hash."""
        return self.folder / f"{file_stem(raw)}{SUFFIX}"

    def send(
        self,
        raw: bytes,
        sender: str,
        recipients: Sequence[str],
        on_accepted: Callable[[], None] | None = None,
    ) -> None:
        """Write ``raw`` atomically; raise TransientSendError when the disk refuses."""
        if not recipients:
            raise PermanentSendError("a mail needs at least one recipient")
        target = self.path_for(raw)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            _write_atomically(target, raw)
        except OSError as e:  # a full or read-only disk may mend; the row is retried
            raise TransientSendError(f"cannot write {target}: {e.strerror}") from e
        if on_accepted is not None:
            on_accepted()

    @contextmanager
    def batch(self) -> Iterator[FileTransport]:
        """Return a context for several sends; files need no connection, so it only yields."""
        yield self

    def close(self) -> None:
        """Nothing to release."""


def file_stem(raw: bytes) -> str:
    """Return a file-name-safe stem from the Message-ID of ``raw`` (a hash of ``raw`` if none)."""
    headers = BytesHeaderParser(policy=policy.compat32).parsebytes(raw, headersonly=True)
    message_id = str(headers.get("Message-ID", "")).strip().strip("<>").strip()
    if not message_id:
        return "sha256-" + hashlib.sha256(raw).hexdigest()[:32]
    stem = _UNSAFE.sub("_", message_id)
    if stem != message_id or len(stem) > _MAX_STEM:  # keep distinct ids distinct once cleaned
        digest = hashlib.sha256(message_id.encode("utf-8", "replace")).hexdigest()[:12]
        stem = f"{stem[:_MAX_STEM]}-{digest}"
    return stem.lstrip(".") or "message"


def _write_atomically(target: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=SUFFIX)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_folder(target.parent)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); skipped where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
