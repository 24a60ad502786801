"""Tests for the SMTP transport against a real aiosmtpd server with STARTTLS and AUTH."""

from __future__ import annotations

import socket
import threading
from datetime import datetime, timedelta, timezone

import pytest

from mailflow.errors import ConfigurationError, PermanentSendError, TransientSendError
from mailflow.outbound.compose import compose, outgoing_message_id
from mailflow.outbound.render import RenderedMail
from mailflow.outbound.transports import (
    RecipientsRefused,
    SendConfigurationError,
    SmtpTransport,
    open_transport,
    parse_transport_url,
)
from mailflow.settings import Settings
from tests.servers.smtp import PASSWORD, SmtpServer

SENDER = "coord@example.com"
TO = "zhang.san@example.com"


def mail(n: int = 1) -> bytes:
    """Return a composed Chinese receipt with a dot-led line, numbered ``n``."""
    rendered = RenderedMail(
        "【回执】技术部-Q4产品迭代进度同步", f"第{n}封\n.以点开头的行\n", "<p>好</p>"
    )
    return compose(
        rendered,
        from_addr=SENDER,
        from_name="示例科技 协调平台",
        to=[TO],
        message_id=outgoing_message_id(f"k{n}", "example.com"),
        in_reply_to="<orig@example.com>",
        date=datetime(2023, 10, 8, 10, tzinfo=timezone(timedelta(hours=8))),
    )


def transport(server: SmtpServer, password: str = PASSWORD) -> SmtpTransport:
    """Return a transport for ``server`` as MAILFLOW_TRANSPORT would configure it."""
    return SmtpTransport(parse_transport_url(server.url()), password)


def test_starttls_auth_delivers_exact_bytes(smtp_server: SmtpServer) -> None:
    """A mail goes through STARTTLS and AUTH and arrives byte for byte with its envelope."""
    raw = mail()
    with transport(smtp_server) as t:
        t.send(raw, SENDER, [TO, "li.si@example.com"])
    [got] = smtp_server.sink.received
    assert got.data == raw
    assert got.mail_from == SENDER and got.rcpt_tos == (TO, "li.si@example.com")
    assert got.message["X-Auto-Response-Suppress"] == "All"
    assert smtp_server.authenticator.failures == 0


def test_implicit_tls_delivers(smtps_server: SmtpServer) -> None:
    """smtps:// delivers over implicit TLS."""
    with transport(smtps_server) as t:
        t.send(mail(), SENDER, [TO])
    assert [m.data for m in smtps_server.sink.received] == [mail()]


def test_batch_reuses_one_connection(smtp_server: SmtpServer) -> None:
    """Five sends in a batch use one SMTP session; with no keep-alive, sends outside use one each."""
    t = SmtpTransport(parse_transport_url(smtp_server.url()), PASSWORD, keepalive_s=0)
    with t.batch():
        for n in range(5):
            t.send(mail(n), SENDER, [TO])
    assert len(smtp_server.sink.sessions) == 1
    t.send(mail(6), SENDER, [TO])
    t.send(mail(7), SENDER, [TO])
    t.close()
    assert len(smtp_server.sink.sessions) == 3
    assert len(smtp_server.sink.received) == 7


def test_sends_outside_a_batch_keep_the_session_alive(smtp_server: SmtpServer) -> None:
    """One mail at a time, as a worker thread sends: the session is reused after a NOOP."""
    t = transport(smtp_server)
    for n in range(4):
        t.send(mail(n), SENDER, [TO])
    t.close()
    assert len(smtp_server.sink.received) == 4
    assert len(smtp_server.sink.sessions) == 1


def test_a_session_dropped_unseen_is_replaced_for_the_same_mail(smtp_server: SmtpServer) -> None:
    """Mail after mail, the session is reused without a NOOP; when the server has dropped it
    (it closes at the next MAIL), the mail goes out at once on a fresh session, once."""
    t = transport(smtp_server)
    t.send(mail(1), SENDER, [TO])
    smtp_server.sink.drop_next(1)
    t.send(mail(2), SENDER, [TO])
    t.close()
    assert [m.data for m in smtp_server.sink.received] == [mail(1), mail(2)]
    assert t.connections_opened == 2


def test_a_second_drop_is_a_transient_error(smtp_server: SmtpServer) -> None:
    """The fresh session is tried once: dropped again, the send fails for a later retry."""
    t = transport(smtp_server)
    t.send(mail(1), SENDER, [TO])
    smtp_server.sink.drop_next(2)
    with pytest.raises(TransientSendError):
        t.send(mail(2), SENDER, [TO])
    t.send(mail(3), SENDER, [TO])
    t.close()
    assert [m.data for m in smtp_server.sink.received] == [mail(1), mail(3)]


def test_sends_from_many_threads_share_the_transport(smtp_server: SmtpServer) -> None:
    """Worker threads may share one transport; each mail arrives once."""
    t = transport(smtp_server)
    with t.batch():
        threads = [threading.Thread(target=t.send, args=(mail(n), SENDER, [TO])) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    t.close()
    assert len(smtp_server.sink.received) == 8 and len(smtp_server.sink.sessions) == 1


def test_wrong_password_is_a_configuration_error(smtp_server: SmtpServer) -> None:
    """A rejected password (535) is a configuration error, not a permanent failure of the
    mail, and the message never shows the password."""
    with pytest.raises(SendConfigurationError) as caught, transport(smtp_server, "wrong-pw") as t:
        t.send(mail(), SENDER, [TO])
    assert not isinstance(caught.value, PermanentSendError)  # retried, never failed at once
    assert caught.value.code == 535
    assert "wrong-pw" not in str(caught.value) and PASSWORD not in repr(t)
    assert smtp_server.sink.received == []


def test_421_is_transient_then_delivers(smtp_server: SmtpServer) -> None:
    """A 421 reply is a TransientSendError; the retry on the same transport delivers once."""
    smtp_server.sink.fail_next(2)
    t = transport(smtp_server)
    with t.batch():
        for _ in range(2):
            with pytest.raises(TransientSendError) as caught:
                t.send(mail(), SENDER, [TO])
            assert caught.value.code == 421
        t.send(mail(), SENDER, [TO])
    t.close()
    assert len(smtp_server.sink.received) == 1


def test_550_is_permanent(smtp_server: SmtpServer) -> None:
    """A recipient refused with 550 fails permanently, naming the address."""
    smtp_server.sink.refuse(TO)
    with pytest.raises(RecipientsRefused) as caught, transport(smtp_server) as t:
        t.send(mail(), SENDER, [TO])
    assert isinstance(caught.value, PermanentSendError) and caught.value.code == 550
    assert TO in str(caught.value) and caught.value.accepted == ()


def test_all_recipients_deferred_is_transient(smtp_server: SmtpServer) -> None:
    """Every recipient answered 4xx: nobody got the mail, so the whole send is retried."""
    smtp_server.sink.refuse(TO, "450 4.2.1 Mailbox busy")
    with pytest.raises(TransientSendError) as caught, transport(smtp_server) as t:
        t.send(mail(), SENDER, [TO])
    assert caught.value.code == 450


def test_partial_refusal_names_refused_and_accepted(smtp_server: SmtpServer) -> None:
    """Some recipients accepted, one refused: permanent, with who got it and who did not."""
    smtp_server.sink.refuse("nobody@example.com")
    with pytest.raises(RecipientsRefused) as caught, transport(smtp_server) as t:
        t.send(mail(), SENDER, [TO, "nobody@example.com"])
    assert caught.value.accepted == (TO,)
    assert caught.value.refused["nobody@example.com"][0] == 550
    assert smtp_server.sink.received[0].rcpt_tos == (TO,)


def test_connection_refused_is_transient() -> None:
    """Nobody listening is a TransientSendError."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t = SmtpTransport(parse_transport_url(f"smtp://127.0.0.1:{port}?timeout=2"))
    with pytest.raises(TransientSendError), t:
        t.send(mail(), SENDER, [TO])


def test_untrusted_certificate_is_a_configuration_error(smtp_server: SmtpServer) -> None:
    """Without the test CA the server's certificate does not verify: no silent plain text."""
    url = f"smtp://coord%40example.com@{smtp_server.host}:{smtp_server.port}?timeout=5"
    with (
        pytest.raises(SendConfigurationError, match="certificate"),
        SmtpTransport(parse_transport_url(url), PASSWORD) as t,
    ):
        t.send(mail(), SENDER, [TO])
    assert smtp_server.sink.received == []


def test_open_transport_reads_password_from_settings(smtp_server: SmtpServer) -> None:
    """open_transport builds the SMTP transport from MAILFLOW_TRANSPORT and its password."""
    settings = Settings(transport=smtp_server.url(), transport_password=PASSWORD)
    with open_transport(settings) as t:
        t.send(mail(), SENDER, [TO])
    assert len(smtp_server.sink.received) == 1
    with pytest.raises(ConfigurationError, match="needs MAILFLOW_TRANSPORT_PASSWORD"):
        open_transport(Settings(transport=smtp_server.url()))
