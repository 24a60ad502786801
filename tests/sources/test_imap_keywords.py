"""A server that keeps no custom keywords (as Exchange and Microsoft 365 do), imitated with
Dovecot's ACL plugin withholding the right to write flags in INBOX: processed=flag is refused
with a clear reason instead of marking nothing silently, and processed=move works there."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailflow.errors import ConfigurationError
from mailflow.sources.imap import ImapSource
from mailflow.sources.url import ImapUrl, parse_source_url
from tests.servers.dovecot import DovecotServer, running_dovecot
from tests.sources.test_imap import DictCursor, ingest, raw_mail

pytestmark = pytest.mark.dovecot

USER, PASSWORD = "desk@keywordless.test", "desk-secret"
# no "w" in INBOX: STORE of keywords is answered OK and dropped, PERMANENTFLAGS (\Deleted \Seen)
ACL = "INBOX owner lrsitekxa\n"
CONFIG = """\
mail_plugins = $mail_plugins acl
protocol imap {{
  mail_plugins = $mail_plugins acl imap_acl
}}
plugin {{
  acl = vfile:{path}
}}
"""


@pytest.fixture(scope="module")
def server() -> Iterator[DovecotServer]:
    """A Dovecot whose INBOX keeps no keywords."""
    folder = Path(tempfile.mkdtemp(prefix="mailflow-acl-"))
    os.chmod(folder, 0o755)
    (folder / "global-acl").write_text(ACL)
    os.chmod(folder / "global-acl", 0o644)
    try:
        with running_dovecot(
            {USER: PASSWORD}, CONFIG.format(path=folder / "global-acl")
        ) as dovecot:
            yield dovecot
    finally:
        (folder / "global-acl").unlink()
        folder.rmdir()


def _source(server: DovecotServer, **query: str) -> ImapSource:
    url = parse_source_url(server.source_url(USER, **query))
    assert isinstance(url, ImapUrl)
    return ImapSource(url, PASSWORD)


def test_flag_marking_is_refused_with_the_reason(server: DovecotServer) -> None:
    """processed=flag on a keyword-less folder is a ConfigurationError that says what to use."""
    server.reset_mailbox(USER)
    server.append(USER, raw_mail(1))
    source = _source(server)
    try:
        with pytest.raises(ConfigurationError, match=r"keeps no custom keywords.*processed=move"):
            ingest(source, DictCursor())
    finally:
        source.close()


def test_move_marking_works_there(server: DovecotServer) -> None:
    """processed=move:Processed reads and moves the mail on the same server."""
    server.reset_mailbox(USER)
    server.append(USER, raw_mail(2))
    source = _source(server, processed="move:Processed")
    try:
        assert ingest(source, DictCursor()) == ["<2@test>"]
    finally:
        source.close()
    with server.client(USER) as client:
        assert client.select_folder("INBOX")[b"EXISTS"] == 0
        assert client.select_folder("Processed")[b"EXISTS"] == 1


def test_none_marking_is_not_affected(server: DovecotServer) -> None:
    """processed=none needs no keywords and reads as before."""
    server.reset_mailbox(USER)
    server.append(USER, raw_mail(3))
    source = _source(server, processed="none")
    try:
        assert ingest(source, DictCursor()) == ["<3@test>"]
    finally:
        source.close()
