"""A local Exchange Web Services endpoint on loopback, answering SOAP written from the EWS schema.

``running_ews()`` serves ``/EWS/Exchange.asmx`` over HTTP or HTTPS with Basic authentication (or
NTLM's three-message handshake, checking the user name in the Authenticate message) and keeps a
tiny mailbox: folders (root, msgfolderroot, inbox, sentitems and folders created over EWS) and
items with their MIME content and categories. It answers GetFolder, FindFolder, CreateFolder,
SyncFolderItems (sync states that page with MaxChangesReturned; item:Size when asked for: the
MIME size, which a real server approximates), GetItem (MimeContent), MoveItem,
UpdateItem (categories), CreateItem (MessageDisposition SendOnly/SaveOnly/SendAndSaveCopy),
Subscribe (pull) and GetEvents. Every request is kept (operation and XML) so tests can check
what exchangelib sent. This is protocol-level imitation, not Exchange: throttling, real sync
state semantics and server-side rules are beyond it. Importable without pytest.
"""

from __future__ import annotations

import base64
import itertools
import ssl
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

from tests.servers.smtp import HOST, make_certificate

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"
PATH = "/EWS/Exchange.asmx"
DISTINGUISHED = {
    "root": ("root-id", None, "Root", ""),
    "msgfolderroot": ("msgroot-id", "root-id", "Top of Information Store", "IPF.Note"),
    "inbox": ("inbox-id", "msgroot-id", "Inbox", "IPF.Note"),
    "sentitems": ("sent-id", "msgroot-id", "Sent Items", "IPF.Note"),
}
HEADER = (
    f'<s:Header><h:ServerVersionInfo xmlns:h="{T}" MajorVersion="15" MinorVersion="1"'
    ' MajorBuildNumber="2507" MinorBuildNumber="6" Version="V2017_07_11"/></s:Header>'
)


@dataclass
class Item:
    """A message in the mailbox."""

    id: str
    folder: str
    mime: bytes
    sequence: int  # order of arrival, which sync states count
    categories: list[str] = field(default_factory=list)
    disposition: str | None = None  # CreateItem's MessageDisposition for sent mail


@dataclass
class Request:
    """One SOAP request as received."""

    operation: str
    body: ET.Element
    authorization: str

    def find(self, path: str) -> ET.Element | None:
        """Return the first element at ``path`` (``m:``/``t:`` prefixes) in the operation."""
        return self.body.find(path, {"m": M, "t": T})

    def findall(self, path: str) -> list[ET.Element]:
        """Return every element at ``path`` in the operation."""
        return self.body.findall(path, {"m": M, "t": T})


@dataclass
class EwsServer:
    """The mailbox, the account and the requests seen."""

    user: str
    password: str
    url: str = ""
    cafile: Path | None = None
    ntlm: bool = False  # ask for NTLM instead of Basic
    folders: dict[str, tuple[str | None, str, str]] = field(default_factory=dict)
    items: dict[str, Item] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    fail_next: list[str] = field(default_factory=list)  # ResponseCodes for the next messages
    lock: threading.Lock = field(default_factory=threading.Lock)
    _counter: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _subscriptions: dict[str, int] = field(default_factory=dict)  # id -> last sequence seen

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget mail, requests, folders made over EWS and programmed failures."""
        with self.lock:
            self.folders = {
                fid: (parent, name, cls) for fid, parent, name, cls in DISTINGUISHED.values()
            }
            self.items.clear()
            self.requests.clear()
            self.fail_next.clear()
            self._subscriptions.clear()

    def deliver(
        self, mime: bytes, folder: str = "inbox-id", categories: tuple[str, ...] = ()
    ) -> str:
        """Put a message into ``folder`` as if it had arrived; return its ItemId."""
        with self.lock:
            n = next(self._counter)
            item = Item(f"item-{n}", folder, mime, n, list(categories))
            self.items[item.id] = item
        return item.id

    def in_folder(self, name: str) -> list[Item]:
        """Return the items of the folder called ``name``, oldest first."""
        with self.lock:
            ids = {fid for fid, (_p, n, _c) in self.folders.items() if n == name}
            return sorted(
                (i for i in self.items.values() if i.folder in ids), key=lambda i: i.sequence
            )

    def operations(self) -> list[str]:
        """Return the operations received, in order."""
        return [r.operation for r in self.requests]

    def of(self, operation: str) -> list[Request]:
        """Return the requests of one operation."""
        return [r for r in self.requests if r.operation == operation]

    # ---- answering ----

    def answer(self, operation: str, request: Request) -> str:
        """Return the body of the SOAP response to ``request``."""
        handler = getattr(self, f"_{operation}", None)
        if handler is None:
            return _fault("ErrorInvalidRequest", f"{operation} is not imitated")
        with self.lock:
            return str(handler(request))

    def _message(self, operation: str, inner: str = "") -> str:
        code = self.fail_next.pop(0) if self.fail_next else "NoError"
        kind = "Success" if code == "NoError" else "Error"
        text = "" if code == "NoError" else f"<m:MessageText>{code}</m:MessageText>"
        inner = inner if code == "NoError" else ""
        return (
            f'<m:{operation}ResponseMessage ResponseClass="{kind}">{text}'
            f"<m:ResponseCode>{code}</m:ResponseCode>{inner}</m:{operation}ResponseMessage>"
        )

    def _folder_xml(self, fid: str) -> str:
        parent, name, cls = self.folders[fid]
        count = sum(1 for i in self.items.values() if i.folder == fid)
        children = sum(1 for p, _n, _c in self.folders.values() if p == fid)
        parent_xml = f'<t:ParentFolderId Id="{parent}" ChangeKey="ck"/>' if parent else ""
        return (
            f'<t:Folder><t:FolderId Id="{fid}" ChangeKey="ck"/>{parent_xml}'
            f"<t:FolderClass>{cls}</t:FolderClass><t:DisplayName>{escape(name)}</t:DisplayName>"
            f"<t:TotalCount>{count}</t:TotalCount><t:ChildFolderCount>{children}</t:ChildFolderCount>"
            "<t:UnreadCount>0</t:UnreadCount></t:Folder>"
        )

    def _folder_ids(self, request: Request, path: str) -> list[str]:
        ids = []
        for e in request.findall(path):
            if e.tag == f"{{{T}}}DistinguishedFolderId":
                known = DISTINGUISHED.get(e.get("Id", ""))  # others (calendar…) are not imitated
                ids.append(known[0] if known else f"missing-{e.get('Id')}")
            else:
                ids.append(e.get("Id", ""))
        return ids

    def _GetFolder(self, request: Request) -> str:
        messages = []
        for fid in self._folder_ids(request, "m:FolderIds/*"):
            if fid in self.folders:
                messages.append(
                    self._message("GetFolder", f"<m:Folders>{self._folder_xml(fid)}</m:Folders>")
                )
            else:
                messages.append(_error("GetFolder", "ErrorFolderNotFound"))
        return _response("GetFolder", messages)

    def _FindFolder(self, request: Request) -> str:
        parents = self._folder_ids(request, "m:ParentFolderIds/*")
        deep = request.body.get("Traversal") == "Deep"
        found: list[str] = []
        frontier = list(parents)
        while frontier:
            parent = frontier.pop(0)
            children = [f for f, (p, _n, _c) in self.folders.items() if p == parent]
            found += children
            if deep:
                frontier += children
        folders = "".join(self._folder_xml(f) for f in found)
        inner = (
            f'<m:RootFolder TotalItemsInView="{len(found)}" IncludesLastItemInRange="true">'
            f"<t:Folders>{folders}</t:Folders></m:RootFolder>"
        )
        return _response("FindFolder", [self._message("FindFolder", inner) for _ in parents])

    def _CreateFolder(self, request: Request) -> str:
        parent = self._folder_ids(request, "m:ParentFolderId/*")[0]
        messages = []
        for folder in request.findall("m:Folders/t:Folder"):
            name = folder.findtext(f"{{{T}}}DisplayName") or ""
            fid = f"folder-{next(self._counter)}"
            self.folders[fid] = (parent, name, folder.findtext(f"{{{T}}}FolderClass") or "IPF.Note")
            inner = f'<m:Folders><t:Folder><t:FolderId Id="{fid}" ChangeKey="ck"/></t:Folder></m:Folders>'
            messages.append(self._message("CreateFolder", inner))
        return _response("CreateFolder", messages)

    def _SyncFolderItems(self, request: Request) -> str:
        fid = self._folder_ids(request, "m:SyncFolderId/*")[0]
        state = request.find("m:SyncState")
        after = int((state.text or "s0")[1:]) if state is not None and state.text else 0
        limit = int(request.find("m:MaxChangesReturned").text or 100)  # type: ignore[union-attr]
        new = sorted(
            (i for i in self.items.values() if i.folder == fid and i.sequence > after),
            key=lambda i: i.sequence,
        )
        page, last = new[:limit], len(new) <= limit
        upto = page[-1].sequence if page else after
        asked = {e.get("FieldURI") for e in request.findall("m:ItemShape/t:AdditionalProperties/*")}
        creates = "".join(
            f'<t:Create><t:Message><t:ItemId Id="{i.id}" ChangeKey="ck{i.sequence}"/>'
            + (f"<t:Size>{len(i.mime)}</t:Size>" if "item:Size" in asked else "")
            + "</t:Message></t:Create>"
            for i in page
        )
        inner = (
            f"<m:SyncState>s{upto}</m:SyncState>"
            f"<m:IncludesLastItemInRange>{'true' if last else 'false'}</m:IncludesLastItemInRange>"
            f"<m:Changes>{creates}</m:Changes>"
        )
        return _response("SyncFolderItems", [self._message("SyncFolderItems", inner)])

    def _FindItem(self, request: Request) -> str:
        """All items of the folder (restrictions are not imitated), paged by IndexedPageItemView."""
        fid = self._folder_ids(request, "m:ParentFolderIds/*")[0]
        view = request.find("m:IndexedPageItemView")
        offset = int(view.get("Offset", "0")) if view is not None else 0
        limit = int(view.get("MaxEntriesReturned", "1000")) if view is not None else 1000
        items = sorted(
            (i for i in self.items.values() if i.folder == fid), key=lambda i: i.sequence
        )
        page = items[offset : offset + limit]
        last = offset + len(page) >= len(items)
        xml = "".join(
            f'<t:Message><t:ItemId Id="{i.id}" ChangeKey="ck{i.sequence}"/>'
            + _categories_xml(i.categories)
            + f"<t:InternetMessageId>{escape(_message_id(i.mime))}</t:InternetMessageId></t:Message>"
            for i in page
        )
        inner = (
            f'<m:RootFolder IndexedPagingOffset="{offset + len(page)}" TotalItemsInView="{len(items)}"'
            f' IncludesLastItemInRange="{"true" if last else "false"}"><t:Items>{xml}</t:Items></m:RootFolder>'
        )
        return _response("FindItem", [self._message("FindItem", inner)])

    def _GetItem(self, request: Request) -> str:
        messages = []
        for e in request.findall("m:ItemIds/t:ItemId"):
            item = self.items.get(e.get("Id", ""))
            if item is None:
                messages.append(_error("GetItem", "ErrorItemNotFound"))
                continue
            mime = base64.b64encode(item.mime).decode()
            categories = "".join(f"<t:String>{escape(c)}</t:String>" for c in item.categories)
            inner = (
                f'<m:Items><t:Message><t:MimeContent CharacterSet="UTF-8">{mime}</t:MimeContent>'
                f'<t:ItemId Id="{item.id}" ChangeKey="ck{item.sequence}"/>'
                f"{f'<t:Categories>{categories}</t:Categories>' if categories else ''}"
                f"<t:InternetMessageId>{escape(_message_id(item.mime))}</t:InternetMessageId>"
                "</t:Message></m:Items>"
            )
            messages.append(self._message("GetItem", inner))
        return _response("GetItem", messages)

    def _MoveItem(self, request: Request) -> str:
        target = self._folder_ids(request, "m:ToFolderId/*")[0]
        messages = []
        for e in request.findall("m:ItemIds/t:ItemId"):
            item = self.items.pop(e.get("Id", ""), None)
            if item is None:
                messages.append(_error("MoveItem", "ErrorItemNotFound"))
                continue
            n = next(self._counter)  # a moved item gets a new id, as in Exchange
            moved = Item(f"item-{n}", target, item.mime, n, item.categories)
            self.items[moved.id] = moved
            inner = f'<m:Items><t:Message><t:ItemId Id="{moved.id}" ChangeKey="ck{n}"/></t:Message></m:Items>'
            messages.append(self._message("MoveItem", inner))
        return _response("MoveItem", messages)

    def _UpdateItem(self, request: Request) -> str:
        messages = []
        for change in request.findall("m:ItemChanges/t:ItemChange"):
            item_id = change.find(f"{{{T}}}ItemId")
            item = self.items.get(item_id.get("Id", "") if item_id is not None else "")
            if item is None:
                messages.append(_error("UpdateItem", "ErrorItemNotFound"))
                continue
            strings = change.findall(f".//{{{T}}}Categories/{{{T}}}String")
            if strings:
                item.categories = [s.text or "" for s in strings]
            inner = (
                f'<m:Items><t:Message><t:ItemId Id="{item.id}" ChangeKey="ck{item.sequence}"/>'
                "</t:Message></m:Items><m:ConflictResults><t:Count>0</t:Count></m:ConflictResults>"
            )
            messages.append(self._message("UpdateItem", inner))
        return _response("UpdateItem", messages)

    def _CreateItem(self, request: Request) -> str:
        disposition = request.body.get("MessageDisposition")
        messages = []
        for message in request.findall("m:Items/t:Message"):
            mime = message.findtext(f"{{{T}}}MimeContent") or ""
            n = next(self._counter)
            item = Item(f"item-{n}", "sent-id", base64.b64decode(mime), n, disposition=disposition)
            self.items[item.id] = item
            messages.append(self._message("CreateItem", "<m:Items/>"))
        return _response("CreateItem", messages)

    def _Subscribe(self, request: Request) -> str:
        sid = f"sub-{next(self._counter)}"
        self._subscriptions[sid] = max((i.sequence for i in self.items.values()), default=0)
        inner = f"<m:SubscriptionId>{sid}</m:SubscriptionId><m:Watermark>w0</m:Watermark>"
        return _response("Subscribe", [self._message("Subscribe", inner)])

    def _GetEvents(self, request: Request) -> str:
        sid = request.find("m:SubscriptionId")
        key = sid.text if sid is not None and sid.text else ""
        if key not in self._subscriptions:
            return _response("GetEvents", [_error("GetEvents", "ErrorSubscriptionNotFound")])
        seen = self._subscriptions[key]
        new = sorted((i for i in self.items.values() if i.folder == "inbox-id" and i.sequence > seen),
                     key=lambda i: i.sequence)  # fmt: skip
        self._subscriptions[key] = max([seen, *(i.sequence for i in new)])
        events = (
            "".join(
                f"<t:NewMailEvent><t:Watermark>w{i.sequence}</t:Watermark>"
                f"<t:TimeStamp>2026-12-06T10:00:00Z</t:TimeStamp>"
                f'<t:ItemId Id="{i.id}" ChangeKey="ck"/><t:ParentFolderId Id="inbox-id" ChangeKey="ck"/>'
                "</t:NewMailEvent>"
                for i in new
            )
            or "<t:StatusEvent><t:Watermark>w0</t:Watermark></t:StatusEvent>"
        )
        inner = (
            f"<m:Notification><t:SubscriptionId>{key}</t:SubscriptionId>"
            f"<t:PreviousWatermark>w0</t:PreviousWatermark><t:MoreEvents>false</t:MoreEvents>"
            f"{events}</m:Notification>"
        )
        return _response("GetEvents", [self._message("GetEvents", inner)])


def _categories_xml(categories: list[str]) -> str:
    strings = "".join(f"<t:String>{escape(c)}</t:String>" for c in categories)
    return f"<t:Categories>{strings}</t:Categories>" if strings else ""


def _message_id(mime: bytes) -> str:
    for line in mime.split(b"\n"):
        if line.lower().startswith(b"message-id:"):
            return line.split(b":", 1)[1].strip().decode()
    return ""


def _response(operation: str, messages: list[str]) -> str:
    return (
        f'<m:{operation}Response xmlns:m="{M}" xmlns:t="{T}">'
        f"<m:ResponseMessages>{''.join(messages)}</m:ResponseMessages></m:{operation}Response>"
    )


def _error(operation: str, code: str) -> str:
    return (
        f'<m:{operation}ResponseMessage ResponseClass="Error"><m:MessageText>{code}</m:MessageText>'
        f"<m:ResponseCode>{code}</m:ResponseCode></m:{operation}ResponseMessage>"
    )


def _fault(code: str, text: str) -> str:
    return (
        f"<s:Fault><faultcode>s:Client</faultcode><faultstring>{escape(text)}</faultstring>"
        f'<detail><e:ResponseCode xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">'
        f'{code}</e:ResponseCode><e:Message xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">'
        f"{escape(text)}</e:Message></detail></s:Fault>"
    )


def _envelope(body: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="{SOAP}">{HEADER}'
        f"<s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


# a minimal NTLM Challenge (MS-NLMP 2.2.1.2): flags for Unicode, NTLM, extended security
_NTLM_CHALLENGE = base64.b64encode(
    b"NTLMSSP\x00\x02\x00\x00\x00" + b"\x00\x00\x00\x00\x38\x00\x00\x00"
    + (0x628A8235).to_bytes(4, "little") + b"\x01\x23\x45\x67\x89\xab\xcd\xef" + b"\x00" * 8
    + b"\x00\x00\x00\x00\x38\x00\x00\x00" + b"\x0a\x00\x63\x45\x00\x00\x00\x0f"
).decode()  # fmt: skip


def _ntlm_user(token: bytes) -> str | None:
    """Return the user name in an NTLM Authenticate message (domain\\user), or None."""
    if not token.startswith(b"NTLMSSP\x00\x03"):
        return None

    def field_at(offset: int) -> str:
        length = int.from_bytes(token[offset : offset + 2], "little")
        start = int.from_bytes(token[offset + 4 : offset + 8], "little")
        return token[start : start + length].decode("utf-16-le", "replace")

    domain, user = field_at(28), field_at(36)
    return f"{domain}\\{user}" if domain else user


def _handler(server: EwsServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # NTLM authenticates the connection, so keep it open

        def log_message(self, format: str, *args: object) -> None:
            """Stay quiet: tests read ``server.requests``."""

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            authorization = self.headers.get("Authorization", "")
            if not self._authorized(authorization):
                return
            if self.path != PATH:
                self._send(HTTPStatus.NOT_FOUND, b"")
                return
            root = ET.fromstring(body)
            operation = root.find(f"{{{SOAP}}}Body")[0]  # type: ignore[index]
            name = operation.tag.split("}")[1]
            request = Request(name, operation, authorization)
            server.requests.append(request)
            self._send(
                HTTPStatus.OK, _envelope(server.answer(name, request)), "text/xml; charset=utf-8"
            )

        def _authorized(self, authorization: str) -> bool:
            scheme, _, value = authorization.partition(" ")
            if server.ntlm:
                if scheme == "NTLM" and value:
                    token = base64.b64decode(value)
                    if token.startswith(b"NTLMSSP\x00\x01"):
                        self._send(
                            HTTPStatus.UNAUTHORIZED,
                            b"",
                            extra={"WWW-Authenticate": f"NTLM {_NTLM_CHALLENGE}"},
                        )
                        return False
                    if _ntlm_user(token) == server.user:
                        return True
                self._send(HTTPStatus.UNAUTHORIZED, b"", extra={"WWW-Authenticate": "NTLM"})
                return False
            expected = base64.b64encode(f"{server.user}:{server.password}".encode()).decode()
            if scheme == "Basic" and value == expected:
                return True
            self._send(
                HTTPStatus.UNAUTHORIZED, b"", extra={"WWW-Authenticate": 'Basic realm="ews"'}
            )
            return False

        def _send(self, status: int, data: bytes, content_type: str = "text/plain",
                  extra: dict[str, str] | None = None) -> None:  # fmt: skip
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

    return Handler


@contextmanager
def running_ews(
    user: str, password: str, *, tls: bool = True, ntlm: bool = False
) -> Iterator[EwsServer]:
    """Serve an EWS endpoint for ``user`` on a free loopback port until the block ends."""
    server = EwsServer(user, password, ntlm=ntlm)
    with tempfile.TemporaryDirectory(prefix="mailflow-ews-") as tmp:
        httpd = ThreadingHTTPServer((HOST, 0), _handler(server))
        httpd.daemon_threads = True
        if tls:
            cert, key = make_certificate(Path(tmp))
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(cert, key)
            httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
            server.cafile = cert
        server.url = f"{'https' if tls else 'http'}://{HOST}:{httpd.server_address[1]}{PATH}"
        thread = threading.Thread(target=httpd.serve_forever, name="ews-server", daemon=True)
        thread.start()
        try:
            yield server
        finally:
            httpd.shutdown()
            httpd.server_close()
            thread.join()
