"""``EwsTransport`` with exchangelib against a local EWS endpoint: the CreateItem it sends keeps
mailflow's headers byte for byte, and failures map to the send errors. Protocol-level only."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from mailflow.errors import PermanentSendError, TransientSendError
from mailflow.ews import EwsUrl
from mailflow.outbound.compose import compose, outgoing_message_id
from mailflow.outbound.render import RenderedMail
from mailflow.outbound.transports import (
    EwsTransport,
    SendConfigurationError,
    open_transport,
    parse_transport_url,
)
from mailflow.settings import load_settings
from tests.servers.ews import EwsServer, running_ews
from tests.servers.smtp import free_port

USER, PASSWORD = "coord@corp.example.cn", "Exchange-密码-2026"
TO, CC, BCC = "zhang.san@corp.example.cn", "li.si@corp.example.cn", "audit@corp.example.cn"


def reply() -> bytes:
    """A composed receipt in a thread, as the outbox sends it."""
    rendered = RenderedMail(
        "【回执】生产部-注塑车间设备保养", "已收到，责任人：王工。\n", "<p>已收到</p>"
    )
    return compose(
        rendered, from_addr=USER, from_name="示例制造 协调平台", to=[TO], cc=[CC],
        message_id=outgoing_message_id("receipt-42", "corp.example.cn"),
        in_reply_to="<maint-7@corp.example.cn>",
        references=["<plan-1@corp.example.cn>", "<maint-7@corp.example.cn>"],
        date=datetime(2026, 12, 7, 9, 30, tzinfo=timezone(timedelta(hours=8))),
    )  # fmt: skip


@pytest.fixture(scope="module")
def _server() -> Iterator[EwsServer]:
    with running_ews(USER, PASSWORD) as server:
        yield server


@pytest.fixture
def server(_server: EwsServer) -> EwsServer:
    """The HTTPS EWS endpoint, emptied."""
    _server.reset()
    return _server


def url_for(server: EwsServer, port: int | None = None) -> str:
    """Return the ``MAILFLOW_TRANSPORT`` for the server (Basic auth, its CA trusted)."""
    port = port or int(server.url.split(":")[2].split("/")[0])
    return f"ews://coord%40corp.example.cn@127.0.0.1:{port}/EWS/Exchange.asmx?auth=basic&cafile={server.cafile}"


def transport(server: EwsServer, password: str = PASSWORD, port: int | None = None) -> EwsTransport:
    """Return an EwsTransport for the server."""
    url = parse_transport_url(url_for(server, port))
    assert isinstance(url, EwsUrl)
    return EwsTransport(url, password)


def test_send_and_save_keeps_the_mime_and_its_threading_headers(server: EwsServer) -> None:
    """CreateItem carries the exact bytes (Message-ID, In-Reply-To, References) with
    SendAndSaveCopy into Sent Items; a Bcc envelope recipient becomes a BccRecipient."""
    raw = reply()
    with transport(server) as t:
        t.send(raw, USER, [TO, CC, BCC])
    create = server.of("CreateItem")[-1]
    assert create.body.get("MessageDisposition") == "SendAndSaveCopy"
    saved = create.find("m:SavedItemFolderId/t:DistinguishedFolderId")
    assert saved is not None and saved.get("Id") == "sentitems"
    mime = create.find("m:Items/t:Message/t:MimeContent")
    assert mime is not None and base64.b64decode(mime.text or "") == raw
    for header in (
        b"Message-ID: <",
        b"In-Reply-To: <maint-7@corp.example.cn>",
        b"References: <plan-1@",
    ):
        assert header in raw
    bcc = [
        e.text for e in create.findall("m:Items/t:Message/t:BccRecipients/t:Mailbox/t:EmailAddress")
    ]
    assert bcc == [BCC]
    assert [i.disposition for i in server.in_folder("Sent Items")] == ["SendAndSaveCopy"]


def test_refused_credentials_are_a_configuration_error(server: EwsServer) -> None:
    """A wrong password stops sending as a configuration error that does not show it."""
    with pytest.raises(SendConfigurationError) as raised:
        transport(server, password="wrong-password-x").send(reply(), USER, [TO])
    assert "wrong-password-x" not in str(raised.value)


def test_unreachable_server_is_transient(server: EwsServer) -> None:
    """Nothing listening: a TransientSendError, worth a retry."""
    with pytest.raises(TransientSendError):
        transport(server, port=free_port()).send(reply(), USER, [TO])


def test_a_refused_mail_is_permanent(server: EwsServer) -> None:
    """Exchange refusing the item (invalid recipients) is a PermanentSendError."""
    t = transport(server)
    t.send(reply(), USER, [TO])  # connected; the next CreateItem is refused
    server.fail_next.append("ErrorInvalidRecipients")
    with pytest.raises(PermanentSendError, match="ErrorInvalidRecipients"):
        t.send(reply(), USER, [TO])
    t.close()


def test_open_transport_reads_the_password_file(server: EwsServer, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """open_transport builds an EwsTransport from MAILFLOW_TRANSPORT and its password file."""
    (tmp_path / "pw").write_text(PASSWORD + "\n")
    settings = load_settings(transport=url_for(server), transport_password_file=tmp_path / "pw")
    with open_transport(settings) as t:
        assert isinstance(t, EwsTransport)
        t.send(reply(), USER, [TO])
    assert len(server.in_folder("Sent Items")) == 1
