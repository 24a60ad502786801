"""Tests for the file transport: one .eml per mail, atomic and idempotent."""

from __future__ import annotations

from pathlib import Path

from mailflow.outbound.transports import FileTransport, open_transport
from mailflow.settings import Settings

RAW = b"Message-ID: <mailflow.abc@example.com>\r\nSubject: x\r\n\r\nbody\r\n"


def test_send_writes_one_file_named_from_the_message_id(tmp_path: Path) -> None:
    """A mail lands as <Message-ID>.eml with exactly the bytes given and no temporary file left."""
    transport = FileTransport(tmp_path / "outbox")
    transport.send(RAW, "coord@example.com", ["a@example.com"])
    files = list((tmp_path / "outbox").iterdir())
    assert [f.name for f in files] == ["mailflow.abc@example.com.eml"]
    assert files[0].read_bytes() == RAW


def test_resend_overwrites_the_same_file(tmp_path: Path) -> None:
    """Sending the same mail again (a retry after a crash) leaves one file, not two."""
    transport = FileTransport(tmp_path)
    with transport.batch():
        transport.send(RAW, "coord@example.com", ["a@example.com"])
        transport.send(RAW, "coord@example.com", ["a@example.com"])
    assert len(list(tmp_path.iterdir())) == 1


def test_unsafe_and_missing_ids_get_safe_distinct_names(tmp_path: Path) -> None:
    """Slashes in an id cannot escape the folder; a mail without an id is named by its hash."""
    transport = FileTransport(tmp_path)
    transport.send(b"Message-ID: <../../etc/x@y>\r\n\r\n1", "s@example.com", ["a@example.com"])
    transport.send(b"Message-ID: <..__..__etc_x@y>\r\n\r\n2", "s@example.com", ["a@example.com"])
    transport.send(b"Subject: none\r\n\r\n3", "s@example.com", ["a@example.com"])
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) == 3 and all("/" not in n and not n.startswith(".") for n in names)
    assert any(n.startswith("sha256-") for n in names)


def test_relative_file_url_opens_a_file_transport(tmp_path: Path) -> None:
    """The default file://var/outbox is a folder relative to the working directory."""
    transport = open_transport(Settings(transport="file://var/outbox"))
    assert isinstance(transport, FileTransport) and transport.folder == Path("var/outbox")
    absolute = open_transport(Settings(transport=f"file://{tmp_path}"))
    assert isinstance(absolute, FileTransport) and absolute.folder == tmp_path
