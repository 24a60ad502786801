"""Each provider's documented settings (docs/sources.md), tried as far as loopback servers can
imitate them: the URL forms parse to the provider's ports and TLS, and the same forms, pointed at
a real Dovecot and aiosmtpd, log in (password or OAuth2), read, move processed mail to the
documented folder, and send."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import pytest

from mailflow.outbound.transports import SmtpUrl, open_transport, parse_transport_url
from mailflow.settings import Settings, load_settings
from mailflow.sources.imap import ImapSource
from mailflow.sources.url import ImapUrl, Processed, parse_source_url
from mailflow.urls import Auth, Security
from tests.outbound.test_smtp_oauth import TokenSink
from tests.servers.dovecot import DovecotServer, running_dovecot
from tests.servers.oauth import AuthorizationServer, running_authorization_server
from tests.servers.smtp import PASSWORD as SMTP_PASSWORD
from tests.servers.smtp import USER as SMTP_USER
from tests.servers.smtp import SmtpServer, running_smtp
from tests.sources.test_imap import DictCursor, ingest
from tests.sources.test_imap_oauth import INTROSPECTION, OAUTH_CONFIG

MAILBOX = "coord@corp.example.cn"
MAILBOX_PASSWORD = "客户端专用密码-Xq7Lm2Pz"  # Tencent/Alibaba/NetEase issue such client passwords
CLIENT, SECRET = "mailflow-desk", "provider-test-client-secret"


@dataclass(frozen=True)
class Provider:
    """A provider's documented source and transport URLs and what they must mean."""

    name: str
    source: str
    transport: str
    imap: tuple[str, int, Security]
    smtp: tuple[str, int, Security]
    folder: str | None  # where processed mail goes; None: the keyword

    @property
    def auth(self) -> Auth:
        """The login the documented URLs ask for."""
        url = parse_source_url(self.source.format(user=quote(MAILBOX, safe="")))
        assert isinstance(url, ImapUrl)
        return url.auth


PROVIDERS = [
    Provider(
        "tencent-exmail",
        "imaps://{user}@imap.exmail.qq.com/INBOX?processed=move:已处理",
        "smtps://{user}@smtp.exmail.qq.com",
        ("imap.exmail.qq.com", 993, Security.TLS), ("smtp.exmail.qq.com", 465, Security.TLS),
        "已处理",
    ),
    Provider(
        "alibaba-mail",
        "imaps://{user}@imap.qiye.aliyun.com/INBOX?processed=move:mailflow/已处理",
        "smtps://{user}@smtp.qiye.aliyun.com",
        ("imap.qiye.aliyun.com", 993, Security.TLS), ("smtp.qiye.aliyun.com", 465, Security.TLS),
        "mailflow/已处理",
    ),
    Provider(
        "netease-qiye",
        "imaps://{user}@imap.qiye.163.com/INBOX?processed=move:已处理",
        "smtps://{user}@smtp.qiye.163.com",
        ("imap.qiye.163.com", 993, Security.TLS), ("smtp.qiye.163.com", 465, Security.TLS),
        "已处理",
    ),
    Provider(
        "gmail",
        "imaps://{user}@imap.gmail.com/INBOX?processed=move:mailflow-processed&auth=xoauth2",
        "smtp://{user}@smtp.gmail.com:587?security=starttls&auth=xoauth2",
        ("imap.gmail.com", 993, Security.TLS), ("smtp.gmail.com", 587, Security.STARTTLS),
        "mailflow-processed",
    ),
    Provider(
        "microsoft-365",
        "imaps://{user}@outlook.office365.com/INBOX?processed=move:Processed&auth=xoauth2",
        "smtp://{user}@smtp.office365.com:587?security=starttls&auth=xoauth2",
        ("outlook.office365.com", 993, Security.TLS), ("smtp.office365.com", 587, Security.STARTTLS),
        "Processed",
    ),
    Provider(
        "exchange-on-premises-imap",
        "imap://{user}@mail.corp.example.cn/INBOX?security=starttls&processed=move:Processed",
        "smtp://{user}@mail.corp.example.cn:587?security=starttls",
        ("mail.corp.example.cn", 143, Security.STARTTLS),
        ("mail.corp.example.cn", 587, Security.STARTTLS),
        "Processed",
    ),
]  # fmt: skip
IDS = [p.name for p in PROVIDERS]


@pytest.mark.parametrize("provider", PROVIDERS, ids=IDS)
def test_documented_urls_mean_the_documented_ports_and_tls(provider: Provider) -> None:
    """Each provider's URLs give its host, port and TLS mode without writing the port."""
    user = quote(MAILBOX, safe="")
    source = parse_source_url(provider.source.format(user=user))
    transport = parse_transport_url(provider.transport.format(user=user))
    assert isinstance(source, ImapUrl) and isinstance(transport, SmtpUrl)
    assert (source.host, source.port, source.security) == provider.imap
    assert (transport.host, transport.port, transport.security) == provider.smtp
    assert source.username == MAILBOX == transport.username
    assert transport.auth is source.auth
    expected = Processed.MOVE if provider.folder else Processed.FLAG
    assert (source.processed, source.processed_folder) == (expected, provider.folder)


@pytest.fixture(scope="module")
def authorization() -> Iterator[AuthorizationServer]:
    """The OAuth2 authorization server for the providers that log in with tokens."""
    with running_authorization_server() as server:
        server.register(CLIENT, SECRET)
        yield server


@pytest.fixture(scope="module")
def dovecot(authorization: AuthorizationServer) -> Iterator[DovecotServer]:
    """A Dovecot taking the mailbox's password and bearer tokens checked at ``authorization``."""
    with tempfile.TemporaryDirectory(prefix="mailflow-providers-") as d:
        conf = Path(d) / "dovecot-oauth2.conf.ext"
        conf.write_text(INTROSPECTION.format(url=authorization.base_url))
        conf.chmod(0o644)
        Path(d).chmod(0o755)
        extra = OAUTH_CONFIG.format(conf=conf) + "imap_id_log = *\n"
        with running_dovecot({MAILBOX: MAILBOX_PASSWORD}, extra) as server:
            yield server


@pytest.fixture(scope="module")
def token_smtp(authorization: AuthorizationServer) -> Iterator[SmtpServer]:
    """A STARTTLS SMTP server taking bearer tokens (Gmail's and Microsoft's submission)."""
    with running_smtp(sink=TokenSink(authorization=authorization)) as server:
        yield server


def _on_loopback(url: str, port: int, cafile: Path) -> str:
    """Return ``url`` with only its host and port replaced by a loopback server's, and the
    server's CA trusted; scheme, user, folder and options stay as documented."""
    parts = urlsplit(url)
    netloc = f"{parts.netloc.rpartition('@')[0]}@127.0.0.1:{port}"
    query = "&".join(q for q in (parts.query, f"cafile={cafile}") if q)
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def _oauth(settings: dict[str, object], authorization: AuthorizationServer, user: str) -> None:
    settings.update(
        oauth_provider="generic", oauth_token_url=authorization.token_url(),
        oauth_client_id=CLIENT, oauth_client_secret=SECRET,
        oauth_refresh_token=authorization.consent(CLIENT, user),
    )  # fmt: skip


def _mail(provider: Provider) -> bytes:
    message = EmailMessage()
    message["From"] = "王磊 <wang.lei@corp.example.cn>"
    message["To"] = MAILBOX
    message["Subject"] = f"【通知】物流部-{provider.name}仓库盘点安排"
    message["Message-ID"] = f"<stocktake-{provider.name}@corp.example.cn>"
    message.set_content("各位同事：\n本周六上午九点盘点华东仓，请仓储组提前整理货位。\n")
    return bytes(message)


@pytest.mark.dovecot
@pytest.mark.parametrize("provider", PROVIDERS, ids=IDS)
def test_documented_source_reads_and_moves_processed_mail(
    provider: Provider, dovecot: DovecotServer, authorization: AuthorizationServer
) -> None:
    """The provider's source URL, on loopback, logs in as documented, reads the mail and moves
    it to the documented folder (Chinese folder names included)."""
    dovecot.reset_mailbox(MAILBOX)
    dovecot.append(MAILBOX, _mail(provider))
    implicit = provider.imap[2] is Security.TLS
    url = _on_loopback(
        provider.source.format(user=quote(MAILBOX, safe="")),
        dovecot.port_tls if implicit else dovecot.port, dovecot.cafile,
    )  # fmt: skip
    values: dict[str, object] = {"source": url}
    if provider.auth.uses_token:
        _oauth(values, authorization, MAILBOX)
    else:
        values["source_password"] = MAILBOX_PASSWORD
    source = ImapSource.from_settings(load_settings(**values))  # type: ignore[arg-type]
    try:
        assert ingest(source, DictCursor()) == [f"<stocktake-{provider.name}@corp.example.cn>"]
    finally:
        source.close()
    with dovecot.client(MAILBOX) as client:
        assert client.select_folder("INBOX")[b"EXISTS"] == 0
        assert client.select_folder(provider.folder or "INBOX")[b"EXISTS"] == 1
    assert "name=mailflow" in dovecot.log()  # the ID NetEase asks for was sent


@pytest.mark.parametrize("provider", PROVIDERS, ids=IDS)
def test_documented_transport_sends(
    provider: Provider,
    smtp_server: SmtpServer,
    smtps_server: SmtpServer,
    token_smtp: SmtpServer,
    authorization: AuthorizationServer,
) -> None:
    """The provider's transport URL, on loopback, uses its TLS mode and login, and delivers."""
    token = Auth.XOAUTH2.value in provider.transport
    server = (
        token_smtp if token else smtps_server if "smtps://" in provider.transport else smtp_server
    )
    server.sink.reset()
    url = _on_loopback(
        provider.transport.format(user=quote(SMTP_USER, safe="")), server.port, server.cafile
    )
    values: dict[str, object] = {"transport": url}
    if token:
        _oauth(values, authorization, SMTP_USER)
    else:
        values["transport_password"] = SMTP_PASSWORD
    settings: Settings = load_settings(**values)  # type: ignore[arg-type]
    with open_transport(settings) as transport:
        transport.send(_mail(provider), SMTP_USER, ["wang.lei@corp.example.cn"])
    assert [m.rcpt_tos for m in server.sink.received] == [("wang.lei@corp.example.cn",)]
