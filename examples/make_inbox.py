"""Generate the bundled example inbox ``examples/inbox/`` (a Maildir) from the guide's scenarios.

Run ``python examples/make_inbox.py``: it rewrites ``examples/inbox/new/`` byte for byte the same
every time (fixed dates, Message-IDs, boundaries; attachments are stored, not deflated, so zlib
versions do not matter). Each message is written the way a real client writes it: header order,
quoting style, signature lines, charsets and transfer encodings, so the parsers meet the mail they
will meet in production. ``examples/README.md`` lists the mails and what mailflow should do.

Uses the standard library only. The people and addresses are the directory in the README.
"""

# ruff: noqa: E501  (mail text is data: wrapping its lines would change the mails)

from __future__ import annotations

import base64
import io
import quopri
import shutil
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

CST = timezone(timedelta(hours=8), "CST")
HERE = Path(__file__).resolve().parent
INBOX = HERE / "inbox"

# --------------------------------------------------------------------------------------------
# The directory (same as examples/README.md)
# --------------------------------------------------------------------------------------------

PEOPLE = {
    "张三": "zhang.san@example.com",
    "郑浩": "zheng.hao@example.com",
    "李四": "li.si@example.com",
    "王五": "wang.wu@example.com",
    "刘洋": "liu.yang@example.com",
    "赵六": "zhao.liu@example.com",
    "孙丽": "sun.li@example.com",
    "陈静": "chen.jing@example.com",
    "周强": "zhou.qiang@example.com",
    "吴敏": "wu.min@example.com",
    "何军": "he.jun@example.com",
    "杨明": "yang.ming@kehu-a.com.cn",
    "徐建国": "xu.jianguo@kehu-b.com",
}
COORD = "coord@example.com"

# Message-IDs: the threads refer to each other, so they are fixed here once.
MID = {
    "minutes": "<000001d9f9c6$2b3c4d50$81b6e7f0$@example.com>",
    "minutes_ack": "<000c01d9f9cb$1f2e3d40$5d6c7b8a$@example.com>",
    "minutes_iphone": "<5E7A1C2B-3D4F-4A6B-9C8D-0E1F2A3B4C5D@example.com>",
    "minutes_objection": "<2023100909120932164818@example.com>",
    "tasks": "<001201d9fa7e$6a5b4c30$3f2e1d0c$@example.com>",
    "progress": "<tencent_8C2F0E6A4B1D9E3F7A5C2B10@exmail.qq.com>",
    "complaint": "<6a1f3c2d.2b4e.18b17c9d3a1.Coremail.yang.ming@kehu-a.com.cn>",
    "bounce": "<20231011010001.4S5C2d0Q1Tz9vr@mx.example.com>",
    "ooo": "<3b9f2c7e1d4a4e0b8c5f6a7d2e1b0c9f@example.com>",
    "complaint_answer": "<003a01d9fbe4$7c6d5e40$7447dac0$@example.com>",
    "change_request": "<CAK7x9vNq3bH2mW8rT5yJ4uE1oP6sD0fG9hK2lZ3xC7vB8nM4aQ@mail.gmail.com>",
    "complaint_ack": "<1c7e9a4b.3d5f.18b1c2e4f07.Coremail.yang.ming@kehu-a.com.cn>",
    "done": "<2023101216403518733921@example.com>",
    "newsletter": "<20231012120000.0a1b2c3d4e5f@edm.yunzhan-cloud.example>",
    "warning": "<7d3e0b5a.1f2c.18b2269a5c4.Coremail.zheng.hao@example.com>",
    # Mail that mailflow itself would have sent (not in the inbox); only referred to.
    "chase_deadline": "<mailflow.outbox.12@example.com>",
    "chase_minutes": "<mailflow.outbox.11@example.com>",
    "earlier_sales": "<004f01d9f8a1$0b1c2d30$2152d3e0$@example.com>",
}


def at(day: int, hour: int, minute: int, second: int = 0) -> datetime:
    """October 2023 in China Standard Time."""
    return datetime(2023, 10, day, hour, minute, second, tzinfo=CST)


def rfc_date(when: datetime) -> str:
    return format_datetime(when)


# --------------------------------------------------------------------------------------------
# Encoding helpers: RFC 2047 words, bodies, addresses
# --------------------------------------------------------------------------------------------

_Q_SAFE = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/")


def _word(data: bytes, charset: str, mode: str) -> str:
    if mode == "B":
        return f"=?{charset}?B?{base64.b64encode(data).decode()}?="
    text = "".join("_" if b == 0x20 else chr(b) if b in _Q_SAFE else f"={b:02X}" for b in data)
    return f"=?{charset}?Q?{text}?="


def ew(text: str, charset: str = "utf-8", mode: str = "B", split_bytes: bool = False) -> str:
    """RFC 2047 encoded words of at most 75 characters, folded onto continuation lines.

    Words break between characters, as RFC 2047 section 5 requires, unless ``split_bytes``:
    then every word carries a fixed number of bytes and a character may straddle two words,
    which some webmail does and which a robust decoder must repair.
    """
    if split_bytes:
        data = text.encode(charset)
        return "\n ".join(_word(data[i : i + 29], charset, mode) for i in range(0, len(data), 29))
    words: list[str] = []
    chunk = ""
    for ch in text:
        if chunk and len(_word((chunk + ch).encode(charset), charset, mode)) > 75:
            words.append(_word(chunk.encode(charset), charset, mode))
            chunk = ch
        else:
            chunk += ch
    words.append(_word(chunk.encode(charset), charset, mode))
    return "\n ".join(words)


def person(name: str, charset: str = "utf-8", quoted: bool = False) -> str:
    """``=?cs?B?..?= <addr>``; ``quoted`` puts the encoded word in quotes, as Foxmail does."""
    word = ew(name, charset)
    return f'"{word}" <{PEOPLE[name]}>' if quoted else f"{word} <{PEOPLE[name]}>"


def people(names: list[str], charset: str = "utf-8", quoted: bool = False, extra=()) -> str:
    items = [person(n, charset, quoted) for n in names] + list(extra)
    return ",\n\t".join(items)


@dataclass(frozen=True)
class Part:
    """One MIME entity: its header lines and its already encoded body."""

    headers: list[tuple[str, str]]
    body: bytes


def _encode_body(data: bytes, cte: str) -> bytes:
    if cte == "base64":
        return base64.encodebytes(data)
    if cte == "quoted-printable":
        out = quopri.encodestring(data)
        return out if out.endswith(b"\n") else out + b"\n"
    return data if data.endswith(b"\n") else data + b"\n"


def text(
    content: str,
    subtype: str = "plain",
    charset: str = "utf-8",
    cte: str = "base64",
    quote_charset: bool = True,
    extra: list[tuple[str, str]] | None = None,
) -> Part:
    # Clients encode text in canonical form (CRLF) before base64; QP and 8bit keep file lines.
    raw = content.replace("\n", "\r\n") if cte == "base64" else content
    cs = f'"{charset}"' if quote_charset else charset
    headers = [
        ("Content-Type", f"text/{subtype}; charset={cs}"),
        ("Content-Transfer-Encoding", cte),
        *(extra or []),
    ]
    return Part(headers, _encode_body(raw.encode(charset), cte))


def attachment(
    filename: str, content_type: str, data: bytes, style: str, charset: str = "utf-8"
) -> Part:
    """An attachment; ``style`` 'rfc2047' (quoted encoded word, most Chinese clients) or 'rfc2231'."""
    if style == "rfc2231":
        from urllib.parse import quote

        enc = quote(filename.encode(charset), safe="")
        ctype = f"{content_type};\n\tname*={charset}''{enc}"
        disp = f"attachment;\n\tfilename*={charset}''{enc}"
    else:
        word = ew(filename, charset).replace("\n ", "\n\t")
        ctype = f'{content_type};\n\tname="{word}"'
        disp = f'attachment;\n\tfilename="{word}"'
    headers = [
        ("Content-Type", ctype),
        ("Content-Transfer-Encoding", "base64"),
        ("Content-Disposition", disp),
    ]
    return Part(headers, base64.encodebytes(data))


def multipart(
    subtype: str, boundary: str, parts: list[Part], preamble: str = "", params: str = ""
) -> Part:
    out = preamble.encode() + b"\n" if preamble else b""
    for p in parts:
        # The line break before a boundary belongs to the delimiter, so bodies end with one.
        out += f"--{boundary}\n".encode() + _headers(p.headers) + b"\n" + p.body
    out += f"--{boundary}--\n".encode()
    ctype = f'multipart/{subtype};{params}\n\tboundary="{boundary}"'
    return Part([("Content-Type", ctype)], out)


def _headers(headers: list[tuple[str, str]]) -> bytes:
    return "".join(f"{k}: {v}\n" for k, v in headers).encode("utf-8")


def trace(sender: str, when: datetime, client_ip: str, helo: str, auth: str) -> list:
    """What the receiving MTA and delivery agent prepend: Return-Path, Received, auth results."""
    rcv = when + timedelta(seconds=2)
    rdns = "unknown" if helo.startswith("[") else helo
    return [
        ("Return-Path", f"<{sender}>"),
        ("Delivered-To", COORD),
        (
            "Received",
            f"from mx.example.com (mx.example.com [192.0.2.25])\n\tby mailstore.example.com "
            f"(Dovecot) with LMTP id kQ3bN2f1J2U6FwAA0J78UA\n\tfor <{COORD}>; {rfc_date(rcv)}",
        ),
        ("Authentication-Results", f"mx.example.com;\n\t{auth}"),
        (
            "Received",
            f"from {helo} ({rdns} [{client_ip}])\n\tby mx.example.com (Postfix) with ESMTPS "
            f"id 4S{when:%d%H%M}Xq9z\n\tfor <{COORD}>; {rfc_date(rcv)}",
        ),
    ]


def internal_auth(addr: str, ip: str = "192.0.2.10") -> str:
    return (
        "dkim=pass header.d=example.com header.s=s2023;\n\t"
        f"spf=pass (mx.example.com: domain of {addr} designates {ip} as permitted sender)"
        f" smtp.mailfrom={addr};\n\tdmarc=pass (p=QUARANTINE) header.from=example.com"
    )


def external_auth(addr: str, domain: str, ip: str) -> str:
    return (
        f"dkim=pass header.d={domain} header.s=default;\n\t"
        f"spf=pass (mx.example.com: domain of {addr} designates {ip} as permitted sender)"
        f" smtp.mailfrom={addr};\n\tdmarc=pass (p=NONE) header.from={domain}"
    )


def message(headers: list[tuple[str, str]], body: Part, mime_version: str | None = "1.0") -> bytes:
    """Header lines, then MIME-Version (unless the client wrote it earlier), then the body."""
    version = [("MIME-Version", mime_version)] if mime_version else []
    top = [*headers, *version, *body.headers]
    return _headers(top) + b"\n" + body.body


# --------------------------------------------------------------------------------------------
# Tiny but real Office files (stored zips, fixed timestamps)
# --------------------------------------------------------------------------------------------


def _zip(files: dict[str, str], stamp: tuple[int, int, int, int, int, int]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for name, content in files.items():
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.create_system = 0
            z.writestr(info, content.encode("utf-8"))
    return buf.getvalue()


def xlsx(rows: list[list[str]], stamp: tuple[int, int, int, int, int, int]) -> bytes:
    """A one-sheet workbook with inline strings; opens in Excel, WPS and openpyxl."""
    xml_rows = []
    for r, row in enumerate(rows, 1):
        cells = "".join(
            f'<c r="{chr(65 + c)}{r}" t="inlineStr"><is><t>{escape(v)}</t></is></c>'
            for c, v in enumerate(row)
        )
        xml_rows.append(f'<row r="{r}">{cells}</row>')
    ns = "http://schemas.openxmlformats.org"
    return _zip(
        {
            "[Content_Types].xml": (
                '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                f'<Types xmlns="{ns}/package/2006/content-types">'
                '<Default Extension="rels" '
                'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                '<Default Extension="xml" ContentType="application/xml"/>'
                '<Override PartName="/xl/workbook.xml" ContentType="application/'
                'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
                '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/'
                'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>'
            ),
            "_rels/.rels": (
                '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                f'<Relationships xmlns="{ns}/package/2006/relationships">'
                f'<Relationship Id="rId1" Type="{ns}/officeDocument/2006/relationships/'
                'officeDocument" Target="xl/workbook.xml"/></Relationships>'
            ),
            "xl/workbook.xml": (
                '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                f'<workbook xmlns="{ns}/spreadsheetml/2006/main" '
                f'xmlns:r="{ns}/officeDocument/2006/relationships">'
                '<sheets><sheet name="进度跟踪" sheetId="1" r:id="rId1"/></sheets></workbook>'
            ),
            "xl/_rels/workbook.xml.rels": (
                '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                f'<Relationships xmlns="{ns}/package/2006/relationships">'
                f'<Relationship Id="rId1" Type="{ns}/officeDocument/2006/relationships/'
                'worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
            ),
            "xl/worksheets/sheet1.xml": (
                '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                f'<worksheet xmlns="{ns}/spreadsheetml/2006/main"><sheetData>'
                + "".join(xml_rows)
                + "</sheetData></worksheet>"
            ),
        },
        stamp,
    )


def docx(paragraphs: list[str], stamp: tuple[int, int, int, int, int, int]) -> bytes:
    """A minimal Word document; opens in Word, WPS and python-docx."""
    ns = "http://schemas.openxmlformats.org"
    body = "".join(f"<w:p><w:r><w:t>{escape(p)}</w:t></w:r></w:p>" for p in paragraphs)
    return _zip(
        {
            "[Content_Types].xml": (
                '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                f'<Types xmlns="{ns}/package/2006/content-types">'
                '<Default Extension="rels" '
                'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                '<Default Extension="xml" ContentType="application/xml"/>'
                '<Override PartName="/word/document.xml" ContentType="application/'
                'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
            ),
            "_rels/.rels": (
                '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                f'<Relationships xmlns="{ns}/package/2006/relationships">'
                f'<Relationship Id="rId1" Type="{ns}/officeDocument/2006/relationships/'
                'officeDocument" Target="word/document.xml"/></Relationships>'
            ),
            "word/document.xml": (
                '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                f'<w:document xmlns:w="{ns}/wordprocessingml/2006/main"><w:body>'
                + body
                + "</w:body></w:document>"
            ),
        },
        stamp,
    )


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

# --------------------------------------------------------------------------------------------
# Thread 1: 会议纪要 and its confirmations
# --------------------------------------------------------------------------------------------

MINUTES_SUBJECT = "【会议纪要】技术部-Q4产品迭代进度同步"
MINUTES_SENT = at(8, 17, 30, 12)
MINUTES_TO = ["李四", "王五", "刘洋", "赵六"]

MINUTES_ITEMS = [  # 行动项, 负责人, 计划完成时间, 实际完成时间, 备注
    ("订单接口与CRM系统联调", "张三（技术部）", "2023-10-16", "", "交付联调测试报告"),
    ("X300上线宣传物料", "王五（市场部）", "2023-10-20", "", "含目标用户群体说明"),
    ("新版首页及活动页高保真设计稿", "赵六（设计部）", "2023-10-13", "", "Figma高保真稿及切图"),
    ("上线公告发布渠道确认", "刘洋（市场部）", "2023-10-24", "", "渠道清单及排期表"),
]

MINUTES_TEXT = """各位好：

10月8日（周日，调休工作日）下午召开了Q4产品迭代进度同步会（项目例会），会议纪要如下。请各位参会人员在24小时内回复“已阅”，如有异议请在纪要中标注。

一、会议信息
会议时间：2023年10月8日 14:00-15:30
会议地点：3号楼502会议室 + 腾讯会议（线上）
主持人：李四（技术部）
记录人：张三（技术部）
参会人员：李四、张三（技术部）；刘洋、王五（市场部）；赵六（设计部）
抄送：孙丽（设计部）、协调台

二、核心内容摘要
1. X300新版本功能冻结时间定为10月13日，10月20日提测，10月27日正式上线。
2. 市场部需在上线前3天完成宣传物料准备，技术部同步目标用户群体画像。
3. 设计部确认新版首页及活动页视觉方案，10月13日前交付高保真设计稿。

三、行动项
1. 张三负责在10月16日前完成订单接口与CRM系统联调，交付联调测试报告。
2. 任务：X300上线宣传物料；责任人：王五；完成时限：10月20日；交付标准：宣传物料初稿（含目标用户群体说明）。
3. 任务：新版首页及活动页高保真设计稿；责任人：赵六；完成时限：10月13日 18:00；交付标准：Figma高保真稿及切图。
4. 任务：上线公告发布渠道确认；责任人：刘洋；完成时限：10月24日；交付标准：渠道清单及排期表。

四、行动项跟踪表
行动项\t负责人\t计划完成时间\t实际完成时间\t备注
{table}

五、下次会议
10月16日（周一）14:00，地点同上。

张三
技术部 | 示例科技有限公司
电话：0571-8888 6601  手机：138 0000 0001
"""


def minutes_plain() -> str:
    rows = "\n".join("\t".join(r) for r in MINUTES_ITEMS)
    return MINUTES_TEXT.format(table=rows)


def minutes_html() -> str:
    """Outlook's Word-flavoured HTML, trimmed: MsoNormal paragraphs and a bordered table."""
    paras = []
    for line in MINUTES_TEXT.split("四、行动项跟踪表")[0].splitlines():
        paras.append(f"<p class=MsoNormal>{escape(line) or '<o:p>&nbsp;</o:p>'}</p>")
    head = ("行动项", "负责人", "计划完成时间", "实际完成时间", "备注")
    cells = "".join(
        f'<td style="border:solid windowtext 1.0pt;padding:0cm 5.4pt"><p class=MsoNormal>'
        f"<b>{h}</b></p></td>"
        for h in head
    )
    rows = [f"<tr>{cells}</tr>"]
    for item in MINUTES_ITEMS:
        tds = "".join(
            f'<td style="border:solid windowtext 1.0pt;padding:0cm 5.4pt"><p class=MsoNormal>'
            f"{escape(v) or '<o:p>&nbsp;</o:p>'}</p></td>"
            for v in item
        )
        rows.append(f"<tr>{tds}</tr>")
    tail = MINUTES_TEXT.split("{table}\n")[1]
    tail_html = "".join(
        f"<p class=MsoNormal>{escape(line) or '<o:p>&nbsp;</o:p>'}</p>"
        for line in tail.splitlines()
    )
    return (
        '<html xmlns:v="urn:schemas-microsoft-com:vml" '
        'xmlns:o="urn:schemas-microsoft-com:office:office" '
        'xmlns:w="urn:schemas-microsoft-com:office:word" '
        'xmlns:m="http://schemas.microsoft.com/office/2004/12/omml" '
        'xmlns="http://www.w3.org/TR/REC-html40">'
        '<head><meta http-equiv=Content-Type content="text/html; charset=gb2312">'
        '<meta name=Generator content="Microsoft Word 15 (filtered medium)">'
        "<style><!--p.MsoNormal{margin:0cm;font-size:10.5pt;font-family:等线}--></style>"
        '</head><body lang=ZH-CN link="#0563C1" vlink="#954F72" style="word-wrap:break-word;'
        'text-justify-trim:punctuation"><div class=WordSection1>\n'
        + "\n".join(paras)
        + "\n<p class=MsoNormal><b>四、行动项跟踪表</b></p>\n"
        "<table class=MsoTableGrid border=1 cellspacing=0 cellpadding=0 "
        'style="border-collapse:collapse;border:none">\n'
        + "\n".join(rows)
        + "\n</table>\n"
        + tail_html
        + "\n</div></body></html>"
    )


def mail_minutes() -> tuple[datetime, bytes]:
    """Outlook 2016 zh-CN: gb2312, base64 text, quoted-printable HTML, a table."""
    boundary = "----=_NextPart_000_0001_01D9F9C6.2B3C4D50"
    body = multipart(
        "alternative",
        boundary,
        [
            text(minutes_plain(), charset="gb2312", cte="base64"),
            text(minutes_html(), "html", charset="gb2312", cte="quoted-printable"),
        ],
        preamble="This is a multipart message in MIME format.\n",
    )
    headers = [
        *trace(
            PEOPLE["张三"],
            MINUTES_SENT,
            "198.51.100.23",
            "[192.168.10.23]",
            internal_auth(PEOPLE["张三"]),
        ),
        ("From", person("张三", "gb2312")),
        ("To", people(MINUTES_TO, "gb2312")),
        ("Cc", people(["孙丽"], "gb2312", extra=[COORD])),
        ("Subject", ew(MINUTES_SUBJECT, "gb2312")),
        ("Date", rfc_date(MINUTES_SENT)),
        ("Message-ID", MID["minutes"]),
        ("X-Mailer", "Microsoft Outlook 16.0"),
        ("Thread-Index", "AdnxxRwYqL1cF3mYQ0uJd2k8v5a1Hw=="),
        ("Content-Language", "zh-cn"),
    ]
    return MINUTES_SENT, message(headers, body)


def _outlook_quote_header(full_width: bool, sender: str, when: str, to: str, cc: str, subj: str):
    c = "：" if full_width else ": "
    lines = [f"发件人{c}{sender}", f"发送时间{c}{when}", f"收件人{c}{to}"]
    if cc:
        lines.append(f"抄送{c}{cc}")
    lines.append(f"主题{c}{subj}")
    return "\n".join(lines)


def mail_minutes_ack() -> tuple[datetime, bytes]:
    """李四 answers 已阅 from Outlook; the history follows a -----原始邮件----- separator."""
    sent = at(8, 18, 5, 41)
    quote = _outlook_quote_header(
        False,
        "张三 <zhang.san@example.com> ",
        "2023年10月8日 17:30",
        "李四 <li.si@example.com>; 王五 <wang.wu@example.com>; 刘洋 <liu.yang@example.com>; "
        "赵六 <zhao.liu@example.com>",
        "孙丽 <sun.li@example.com>; coord@example.com",
        MINUTES_SUBJECT,
    )
    plain = f"已阅。\n\n李四\n技术部经理 | 示例科技有限公司\n\n-----原始邮件-----\n{quote}\n\n{minutes_plain()}"
    html = (
        '<html><head><meta http-equiv=Content-Type content="text/html; charset=gb2312"></head>'
        "<body lang=ZH-CN><div class=WordSection1><p class=MsoNormal>已阅。</p>"
        "<p class=MsoNormal>&nbsp;</p><p class=MsoNormal>李四<br>技术部经理 | 示例科技有限公司</p>"
        '<div><div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm">'
        "<p class=MsoNormal><b>发件人:</b> 张三 &lt;zhang.san@example.com&gt; <br><b>发送时间:</b> "
        "2023年10月8日 17:30<br><b>主题:</b> " + MINUTES_SUBJECT + "</p></div></div>"
        "<p class=MsoNormal>各位好：</p><p class=MsoNormal>（原邮件内容略）</p></div></body></html>"
    )
    body = multipart(
        "alternative",
        "----=_NextPart_000_000D_01D9F9CB.1F2E3D40",
        [
            text(plain, charset="gb2312", cte="base64"),
            text(html, "html", charset="gb2312", cte="base64"),
        ],
        preamble="This is a multipart message in MIME format.\n",
    )
    headers = [
        *trace(
            PEOPLE["李四"], sent, "198.51.100.31", "[192.168.10.31]", internal_auth(PEOPLE["李四"])
        ),
        ("From", person("李四", "gb2312")),
        ("To", person("张三", "gb2312")),
        ("Cc", people(["王五", "刘洋", "赵六", "孙丽"], "gb2312", extra=[COORD])),
        ("References", MID["minutes"]),
        ("In-Reply-To", MID["minutes"]),
        ("Subject", ew("答复: " + MINUTES_SUBJECT, "gb2312")),
        ("Date", rfc_date(sent)),
        ("Message-ID", MID["minutes_ack"]),
        ("X-Mailer", "Microsoft Outlook 16.0"),
        ("Thread-Index", "AdnxxRwYqL1cF3mYQ0uJd2k8v5a1HwABDj7g"),
        ("Content-Language", "zh-cn"),
    ]
    return sent, message(headers, body)


def mail_minutes_iphone() -> tuple[datetime, bytes]:
    """赵六 answers 已阅，无异议 from iPhone Mail: UTF-8 quoted-printable, Q-encoded subject."""
    sent = at(8, 21, 47, 3)
    quoted = "\n".join(f"> {line}".rstrip() for line in minutes_plain().splitlines())
    plain = (
        "已阅，无异议\n\n发自我的iPhone\n\n"
        "> 在 2023年10月8日，17:30，张三 <zhang.san@example.com> 写道：\n>\n" + quoted + "\n"
    )
    body = text(plain, charset="utf-8", cte="quoted-printable", quote_charset=False)
    headers = [
        *trace(
            PEOPLE["赵六"],
            sent,
            "203.0.113.77",
            "smtpclient.apple",
            internal_auth(PEOPLE["赵六"], "203.0.113.77"),
        ),
        ("From", person("赵六")),
        ("Subject", ew("Re: " + MINUTES_SUBJECT, "utf-8", "Q")),
        ("Date", rfc_date(sent)),
        ("Message-Id", MID["minutes_iphone"]),
        ("References", MID["minutes"]),
        ("Cc", people(["李四", "王五", "刘洋", "孙丽"], extra=[COORD])),
        ("In-Reply-To", MID["minutes"]),
        ("To", person("张三")),
        ("X-Mailer", "iPhone Mail (20H115)"),
    ]
    return sent, message(headers, body, mime_version="1.0 (1.0)")


def mail_minutes_objection() -> tuple[datetime, bytes]:
    """王五 objects from Foxmail: GB18030 base64, quoted display names, NBSP 原始邮件 separator."""
    sent = at(9, 9, 12, 9)
    nb = "\u00a0"
    reply = (
        "张三：\n\n有异议：第2项“X300上线宣传物料”的完成时限10月20日偏紧。设计稿10月13日才交付，"
        "物料制作和审批至少需要7个工作日，建议调整为10月24日（上线前3天）。\n"
        "其余内容无异议。\n\n王五\n市场部 | 示例科技有限公司\n"
    )
    quote = (
        f"------------------{nb}原始邮件{nb}------------------\n"
        '发件人: "张三"<zhang.san@example.com>;\n'
        "发送时间: 2023年10月8日(星期天) 下午5:30\n"
        '收件人: "李四"<li.si@example.com>;"王五"<wang.wu@example.com>;'
        '"刘洋"<liu.yang@example.com>;"赵六"<zhao.liu@example.com>;\n'
        '抄送: "孙丽"<sun.li@example.com>;"coord"<coord@example.com>;\n'
        f"主题: {MINUTES_SUBJECT}\n\n"
    )
    plain = reply + "\n\n" + quote + minutes_plain()
    html = (
        '<meta http-equiv="Content-Type" content="text/html; charset=GB18030">'
        "<div>张三：</div><div><br></div><div>有异议：第2项“X300上线宣传物料”的完成时限10月20日偏紧。"
        "设计稿10月13日才交付，物料制作和审批至少需要7个工作日，建议调整为10月24日（上线前3天）。</div>"
        "<div>其余内容无异议。</div><div><br></div><div>王五</div><div>市场部 | 示例科技有限公司</div>"
        '<div><br></div><div style="font-size: 12px;font-family: Arial Narrow;padding:2px 0 2px 0;">'
        "------------------&nbsp;原始邮件&nbsp;------------------</div>"
        '<div style="font-size: 12px;background:#efefef;padding:8px;"><div><b>发件人:</b>&nbsp;"张三"'
        "&lt;zhang.san@example.com&gt;;</div><div><b>发送时间:</b>&nbsp;2023年10月8日(星期天) 下午5:30"
        f"</div><div><b>主题:</b>&nbsp;{MINUTES_SUBJECT}</div></div><div><br></div>"
        "<div>各位好：</div><div>（原邮件内容）</div>"
    )
    body = multipart(
        "alternative",
        "----=_NextPart_6523541C_0C4E1A38_2F5D7B61",
        [
            text(plain, charset="gb18030", cte="base64"),
            text(html, "html", charset="gb18030", cte="base64"),
        ],
        preamble="This is a multi-part message in MIME format.\n",
    )
    headers = [
        *trace(PEOPLE["王五"], sent, "198.51.100.44", "DESKTOP-WW5", internal_auth(PEOPLE["王五"])),
        ("Date", rfc_date(sent)),
        ("From", person("王五", "gb18030", quoted=True)),
        ("To", person("张三", "gb18030", quoted=True)),
        ("Cc", people(["李四", "刘洋", "赵六", "孙丽"], "gb18030", quoted=True, extra=[COORD])),
        ("Subject", ew("回复：" + MINUTES_SUBJECT, "gb18030")),
        ("References", MID["minutes"]),
        ("In-Reply-To", MID["minutes"]),
        ("X-Priority", "3"),
        ("X-GUID", "5A1C0E2B-7D3F-4B6A-9E8C-1F2A3B4C5D6E"),
        ("X-Has-Attach", "no"),
        ("X-Mailer", "Foxmail 7.2.25.228[cn]"),
        ("Message-ID", MID["minutes_objection"]),
    ]
    return sent, message(headers, body)


# --------------------------------------------------------------------------------------------
# Thread 2: 任务分配, 已完成; a progress update with the 项目进度跟踪表
# --------------------------------------------------------------------------------------------

TASKS_SUBJECT = "【任务分配】市场部-X300新品上市推广筹备"
TASKS_SENT = at(9, 14, 20, 37)
TASKS_TEXT = """王五、吴敏、赵六：

根据10月8日项目例会决议，X300新品将于10月27日正式上线。现分配上市推广筹备任务如下：

1. 任务：X300上市推广方案；责任人：王五；完成时限：10月12日 18:00；交付标准：推广方案Word文档（含渠道、预算、排期）。
2. 任务：重点客户邀约名单；责任人：吴敏（销售部）；交付标准：不少于30家重点客户的名单及联系人。
3. 任务：活动主视觉海报；责任人：赵六（设计部）；完成时限：10月18日；交付标准：主视觉海报终稿（PSD+JPG）。

第2项请吴敏评估后尽快回复完成时间。执行中如有困难请及时反馈。

刘洋
市场部经理 | 示例科技有限公司
手机：139 0000 0002
"""


def mail_tasks() -> tuple[datetime, bytes]:
    """刘洋 assigns tasks from Outlook: GBK quoted-printable, Q-encoded GBK subject; item 2 has no deadline."""
    html = (
        '<html><head><meta http-equiv=Content-Type content="text/html; charset=gbk"></head>'
        "<body lang=ZH-CN><div class=WordSection1>"
        + "".join(
            f"<p class=MsoNormal>{escape(line) or '<o:p>&nbsp;</o:p>'}</p>"
            for line in TASKS_TEXT.splitlines()
        )
        + "</div></body></html>"
    )
    body = multipart(
        "alternative",
        "----=_NextPart_000_0013_01D9FA7E.6A5B4C30",
        [
            text(TASKS_TEXT, charset="gbk", cte="quoted-printable"),
            text(html, "html", charset="gbk", cte="quoted-printable"),
        ],
        preamble="This is a multipart message in MIME format.\n",
    )
    headers = [
        *trace(
            PEOPLE["刘洋"],
            TASKS_SENT,
            "198.51.100.52",
            "[192.168.10.52]",
            internal_auth(PEOPLE["刘洋"]),
        ),
        ("From", person("刘洋", "gbk")),
        ("To", people(["王五", "吴敏", "赵六"], "gbk")),
        ("Cc", people(["何军", "孙丽"], "gbk", extra=[COORD])),
        ("Subject", ew(TASKS_SUBJECT, "gbk", "Q")),
        ("Date", rfc_date(TASKS_SENT)),
        ("Message-ID", MID["tasks"]),
        ("X-Mailer", "Microsoft Outlook 16.0"),
        ("Thread-Index", "AdnafmpbTDA/Lh0MQ8mZ3sV2bq8YzQ=="),
        ("Content-Language", "zh-cn"),
    ]
    return TASKS_SENT, message(headers, body)


def mail_task_done() -> tuple[datetime, bytes]:
    """王五 reports 已完成 from Foxmail with the deliverable attached (RFC 2047 file name)."""
    sent = at(12, 16, 40, 35)
    nb = "\u00a0"
    reply = "刘总：\n\n第1项“X300上市推广方案”已完成，方案见附件，请审阅。\n\n王五\n市场部 | 示例科技有限公司\n"
    quote = (
        f"------------------{nb}原始邮件{nb}------------------\n"
        '发件人: "刘洋"<liu.yang@example.com>;\n'
        "发送时间: 2023年10月9日(星期一) 下午2:20\n"
        '收件人: "王五"<wang.wu@example.com>;"吴敏"<wu.min@example.com>;"赵六"<zhao.liu@example.com>;\n'
        '抄送: "何军"<he.jun@example.com>;"孙丽"<sun.li@example.com>;"coord"<coord@example.com>;\n'
        f"主题: {TASKS_SUBJECT}\n\n"
    )
    plain = reply + "\n\n" + quote + TASKS_TEXT
    html = (
        '<meta http-equiv="Content-Type" content="text/html; charset=GB18030">'
        "<div>刘总：</div><div><br></div><div>第1项“X300上市推广方案”已完成，方案见附件，请审阅。</div>"
        "<div><br></div><div>王五</div><div>市场部 | 示例科技有限公司</div><div><br></div>"
        '<div style="font-size: 12px;font-family: Arial Narrow;padding:2px 0 2px 0;">'
        "------------------&nbsp;原始邮件&nbsp;------------------</div>"
        '<div style="font-size: 12px;background:#efefef;padding:8px;"><div><b>发件人:</b>&nbsp;"刘洋"'
        "&lt;liu.yang@example.com&gt;;</div><div><b>发送时间:</b>&nbsp;2023年10月9日(星期一) 下午2:20</div>"
        f"<div><b>主题:</b>&nbsp;{TASKS_SUBJECT}</div></div><div><br></div>"
        + "".join(f"<div>{escape(line) or '<br>'}</div>" for line in TASKS_TEXT.splitlines())
    )
    plan = docx(
        [
            "X300上市推广方案 v1.0",
            "一、目标：上线首月新增注册用户2万。",
            "二、渠道：官网、公众号、行业媒体、重点客户线下沙龙。",
            "三、预算：人民币18万元。",
            "四、排期：10月20日物料定稿，10月24日预热，10月27日上线发布。",
        ],
        (2023, 10, 12, 16, 30, 0),
    )
    alternative = multipart(
        "alternative",
        "----=_NextPart_6527B1E3_0D8E2F50_4A6B7C81",
        [
            text(plain, charset="gb18030", cte="base64"),
            text(html, "html", charset="gb18030", cte="base64"),
        ],
    )
    body = multipart(
        "mixed",
        "----=_NextPart_6527B1E3_0D8E2F50_1C3D5E72",
        [
            alternative,
            attachment("X300上市推广方案_v1.0_20231012.docx", DOCX, plan, "rfc2047", "gb18030"),
        ],
        preamble="This is a multi-part message in MIME format.\n",
    )
    headers = [
        *trace(PEOPLE["王五"], sent, "198.51.100.44", "DESKTOP-WW5", internal_auth(PEOPLE["王五"])),
        ("Date", rfc_date(sent)),
        ("From", person("王五", "gb18030", quoted=True)),
        ("To", person("刘洋", "gb18030", quoted=True)),
        ("Cc", people(["吴敏", "赵六", "何军", "孙丽"], "gb18030", quoted=True, extra=[COORD])),
        ("Subject", ew("回复：" + TASKS_SUBJECT, "gb18030")),
        ("References", MID["tasks"]),
        ("In-Reply-To", MID["tasks"]),
        ("X-Priority", "3"),
        ("X-GUID", "0B7E3C1A-5F2D-4E8B-A6C9-3D1E0F2A4B5C"),
        ("X-Has-Attach", "yes"),
        ("X-Mailer", "Foxmail 7.2.25.228[cn]"),
        ("Message-ID", MID["done"]),
    ]
    return sent, message(headers, body)


PROGRESS_TEXT = """王五、赵六：

Q4产品迭代第2周进度汇报如下，详见附件《项目进度跟踪表_v1.2_20231008.xlsx》。

1. 订单接口与CRM系统联调：完成率70%，计划10月16日完成；
2. 新版首页前端开发：完成率50%，依赖设计稿（10月13日交付）；
3. 风险点：CRM测试环境不稳定，10月7日起多次中断，可能影响联调进度，已请IT协调。

如有问题请随时联系。

张三
技术部 | 示例科技有限公司
"""


def mail_progress() -> tuple[datetime, bytes]:
    """张三 reports progress from 企业微信 (Tencent Exmail): UTF-8 base64, xlsx with an RFC 2231 name."""
    sent = at(9, 18, 10, 4)
    sheet = xlsx(
        [
            ["任务", "负责人", "计划完成时间", "完成率", "风险点"],
            ["订单接口与CRM系统联调", "张三", "2023-10-16", "70%", "CRM测试环境不稳定"],
            ["新版首页前端开发", "郑浩", "2023-10-20", "50%", "依赖设计稿"],
            ["高保真设计稿", "赵六", "2023-10-13", "80%", ""],
            ["X300上线宣传物料", "王五", "2023-10-20", "10%", ""],
        ],
        (2023, 10, 8, 16, 0, 0),
    )
    html = (
        "<div>"
        + "</div><div>".join(escape(line) or "<br>" for line in PROGRESS_TEXT.splitlines())
        + "</div>"
    )
    body = multipart(
        "mixed",
        "----=_Part_1696846204_7c1d2e3f",
        [
            multipart(
                "alternative",
                "----=_Part_1696846204_4a5b6c7d",
                [text(PROGRESS_TEXT), text(html, "html")],
            ),
            attachment("项目进度跟踪表_v1.2_20231008.xlsx", XLSX, sheet, "rfc2231"),
        ],
    )
    headers = [
        *trace(
            PEOPLE["张三"],
            sent,
            "203.0.113.15",
            "smtpbg.qq.com",
            internal_auth(PEOPLE["张三"], "203.0.113.15"),
        ),
        ("X-QQ-mid", "bizesmtp71t1696846204tq8x1y2z"),
        ("X-QQ-SSF", "01400000000000F0"),
        ("From", person("张三")),
        ("To", people(["王五", "赵六"])),
        ("Cc", people(["李四", "刘洋"], extra=[COORD])),
        ("Subject", ew("【进度汇报】技术部-Q4产品迭代第2周进度")),
        ("Date", rfc_date(sent)),
        ("Message-ID", MID["progress"]),
    ]
    return sent, message(headers, body)


# --------------------------------------------------------------------------------------------
# External: a customer complaint answered within 48 hours, a change request
# --------------------------------------------------------------------------------------------

COMPLAINT_SUBJECT = "【客户投诉】X200智能终端批量死机，严重影响产线"
COMPLAINT_SENT = at(10, 8, 52, 13)
COMPLAINT_TEXT = """陈经理您好：

我司9月20日采购的贵司X200智能终端（合同号：SL-2023-0918，共50台），自10月7日起已有12台在运行中死机，重启后无法联网，严重影响我司产线数据采集。10月9日已电话报修，至今未有工程师到场。

请贵司在48小时内给出书面处理方案，并安排工程师到现场排查。如问题持续，我司将按合同第8条要求退换货。

故障设备序列号：X200-2309-0012、X200-2309-0017、X200-2309-0021 等12台（清单可另行提供）。

杨明
设备部经理
客户甲精密制造有限公司
电话：0571-8765 4321
"""
COREMAIL_MAILER = (
    "Coremail Webmail Server Version XT5.0.14 build 20230109 Copyright (c) 2002-2023"
    " www.mailtech.cn qiye163"
)


def mail_complaint() -> tuple[datetime, bytes]:
    """A customer on NetEase enterprise mail (Coremail): GBK base64; subject words split mid-character."""
    html = (
        "<div>"
        + "</div><div>".join(escape(line) or "<br>" for line in COMPLAINT_TEXT.splitlines())
        + "</div>"
    )
    body = multipart(
        "alternative",
        "----=_Part_218306_1467582634.1696899133527",
        [
            text(COMPLAINT_TEXT, charset="GBK", cte="base64", quote_charset=False),
            text(html, "html", charset="GBK", cte="base64", quote_charset=False),
        ],
    )
    addr = PEOPLE["杨明"]
    headers = [
        *trace(
            addr,
            COMPLAINT_SENT,
            "203.0.113.45",
            "mail-m12745.qiye.163.com",
            external_auth(addr, "kehu-a.com.cn", "203.0.113.45"),
        ),
        ("X-Originating-IP", "[203.0.113.45]"),
        ("Date", rfc_date(COMPLAINT_SENT)),
        ("From", f"{ew('杨明', 'GBK')} <{addr}>"),
        ("To", person("陈静", "GBK")),
        ("Cc", COORD),
        ("Subject", ew(COMPLAINT_SUBJECT, "GBK", split_bytes=True)),
        ("X-Priority", "1"),
        ("X-Mailer", COREMAIL_MAILER),
        ("X-Coremail-Locale", "zh_CN"),
        ("X-CM-TRANSID", "_____wD3n5Lx0yRl3H0BAA--.31275S2"),
        ("Message-ID", MID["complaint"]),
    ]
    return COMPLAINT_SENT, message(headers, body)


COMPLAINT_ANSWER_TEXT = """杨经理您好：

非常抱歉给贵司生产带来影响。针对X200智能终端死机问题，我司问题处理方案如下：

1. 10月11日下午，售后工程师孔伟到贵司现场排查，随身携带5台备机，优先替换产线关键工位设备；
2. 初步判断为固件v2.3.1的网络模块缺陷，已发布修复固件v2.3.5，现场为全部50台设备升级；
3. 升级后仍无法恢复的设备，我司在48小时内免费更换新机；
4. 问题解决后3天内，我们将回访贵司确认使用情况。

如有其他问题请随时与我联系。

陈静
售后部 | 示例科技有限公司
服务热线：400-000-0000
"""


def mail_complaint_answer() -> tuple[datetime, bytes]:
    """陈静 answers with a 问题处理方案 within 48 h; Outlook quote with full-width colons."""
    sent = at(11, 10, 30, 5)
    quote = _outlook_quote_header(
        True,
        "杨明 <yang.ming@kehu-a.com.cn>",
        "2023年10月10日 8:52",
        "陈静 <chen.jing@example.com>",
        "coord@example.com",
        COMPLAINT_SUBJECT,
    )
    plain = (
        COMPLAINT_ANSWER_TEXT
        + "\n________________________________\n"
        + quote
        + "\n\n"
        + COMPLAINT_TEXT
    )
    html = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"></head>'
        '<body><div dir="ltr">'
        + "".join(
            f"<div>{escape(line) or '<br>'}</div>" for line in COMPLAINT_ANSWER_TEXT.splitlines()
        )
        + '</div><hr style="display:inline-block;width:98%" tabindex="-1">'
        '<div id="divRplyFwdMsg" dir="ltr"><font face="Calibri, sans-serif" style="font-size:11pt">'
        "<b>发件人：</b> 杨明 &lt;yang.ming@kehu-a.com.cn&gt;<br><b>发送时间：</b> 2023年10月10日 8:52<br>"
        "<b>收件人：</b> 陈静 &lt;chen.jing@example.com&gt;<br><b>抄送：</b> coord@example.com<br>"
        f"<b>主题：</b> {COMPLAINT_SUBJECT}</font><div>&nbsp;</div></div>"
        + "".join(f"<div>{escape(line) or '<br>'}</div>" for line in COMPLAINT_TEXT.splitlines())
        + "</body></html>"
    )
    body = multipart(
        "alternative",
        "_000_SG2PR06MB5311A1B2C3D4E5F6A7B8C9D0SG2PR06MB5311apcp_",
        [text(plain, cte="base64"), text(html, "html", cte="base64")],
    )
    headers = [
        *trace(
            PEOPLE["陈静"], sent, "198.51.100.61", "[192.168.10.61]", internal_auth(PEOPLE["陈静"])
        ),
        ("From", person("陈静")),
        ("To", f"{ew('杨明')} <{PEOPLE['杨明']}>"),
        ("Cc", people(["周强"], extra=[COORD])),
        ("Subject", ew("回复: " + COMPLAINT_SUBJECT)),
        ("Thread-Topic", ew(COMPLAINT_SUBJECT)),
        ("Thread-Index", "AQHZ+2Fd3k9xQ7bK0EytlN8vXx1cWrBB4eKA"),
        ("Date", rfc_date(sent)),
        ("Message-ID", MID["complaint_answer"]),
        ("References", MID["complaint"]),
        ("In-Reply-To", MID["complaint"]),
        ("Accept-Language", "zh-CN, en-US"),
        ("Content-Language", "zh-CN"),
        ("X-MS-Has-Attach", ""),
    ]
    return sent, message(headers, body)


def mail_complaint_ack() -> tuple[datetime, bytes]:
    """The customer accepts the plan: Coremail, NetEase's 在…写道： quote with > lines."""
    sent = at(11, 16, 48, 22)
    new = "陈经理：\n\n收到，方案可以接受，请工程师按时到场。\n\n杨明\n"
    quoted = "\n".join(f">{line}" for line in COMPLAINT_ANSWER_TEXT.splitlines())
    plain = (
        new
        + '\n\n\n\n在 2023-10-11 10:30:05，"陈静" <chen.jing@example.com> 写道：\n'
        + quoted
        + "\n"
    )
    html = (
        "<div>陈经理：</div><div><br></div><div>收到，方案可以接受，请工程师按时到场。</div>"
        "<div><br></div><div>杨明</div><br><br><br>"
        '<div style="position:relative;zoom:1">在 2023-10-11 10:30:05，"陈静" '
        "&lt;chen.jing@example.com&gt; 写道：<br>"
        '<blockquote id="isReplyContent" style="PADDING-LEFT: 1ex; MARGIN: 0px 0px 0px 0.8ex; '
        'BORDER-LEFT: #ccc 1px solid">'
        + "".join(
            f"<div>{escape(line) or '<br>'}</div>" for line in COMPLAINT_ANSWER_TEXT.splitlines()
        )
        + "</blockquote></div>"
    )
    body = multipart(
        "alternative",
        "----=_Part_301442_1873021554.1697014102381",
        [
            text(plain, charset="GBK", cte="base64", quote_charset=False),
            text(html, "html", charset="GBK", cte="base64", quote_charset=False),
        ],
    )
    addr = PEOPLE["杨明"]
    headers = [
        *trace(
            addr,
            sent,
            "203.0.113.45",
            "mail-m12745.qiye.163.com",
            external_auth(addr, "kehu-a.com.cn", "203.0.113.45"),
        ),
        ("X-Originating-IP", "[203.0.113.45]"),
        ("Date", rfc_date(sent)),
        ("From", f"{ew('杨明', 'GBK')} <{addr}>"),
        ("To", person("陈静", "GBK")),
        ("Cc", people(["周强"], "GBK", extra=[COORD])),
        ("Subject", ew("Re:" + COMPLAINT_SUBJECT, "GBK")),
        ("In-Reply-To", MID["complaint_answer"]),
        ("References", f"{MID['complaint']}\n\t{MID['complaint_answer']}"),
        ("X-Mailer", COREMAIL_MAILER),
        ("X-Coremail-Locale", "zh_CN"),
        ("X-CM-TRANSID", "_____wC3n8V21CZlq4cCAA--.40211S2"),
        ("Message-ID", MID["complaint_ack"]),
    ]
    return sent, message(headers, body)


CHANGE_TEXT = """吴经理，您好：

根据我司仓库运营部的反馈，智慧仓储项目的报表模块需要做以下调整：

1. 库存日报增加“库龄”字段，按30/60/90天分段统计；
2. 出库报表支持按客户维度导出Excel；
3. 原定10月20日交付的报表模块，相应顺延，最晚不晚于10月31日上线。

详细内容见附件《需求变更申请表》。请贵司评估工作量及对整体进度的影响，书面确认后我们安排签字盖章。

谢谢！

徐建国
信息部
客户乙物流有限公司
"""


def mail_change_request() -> tuple[datetime, bytes]:
    """A customer on Google Workspace (Gmail): UTF-8 base64, 需求变更申请表 attached."""
    sent = at(11, 15, 6, 48)
    form = xlsx(
        [
            ["需求变更申请表", "", ""],
            ["项目名称", "智慧仓储项目", ""],
            ["申请方", "客户乙物流有限公司 信息部 徐建国", ""],
            ["申请日期", "2023-10-11", ""],
            ["序号", "变更内容", "期望完成时间"],
            ["1", "库存日报增加库龄字段（30/60/90天分段）", "2023-10-31"],
            ["2", "出库报表按客户维度导出Excel", "2023-10-31"],
            ["甲方确认", "", ""],
            ["乙方确认", "", ""],
        ],
        (2023, 10, 11, 14, 50, 0),
    )
    html = (
        '<div dir="ltr">'
        + "".join(f"<div>{escape(line) or '<br>'}</div>" for line in CHANGE_TEXT.splitlines())
        + "</div>"
    )
    body = multipart(
        "mixed",
        "000000000000f1a2b30607a1c4d5",
        [
            multipart(
                "alternative",
                "000000000000f1a2ae0607a1c4d3",
                [
                    text(CHANGE_TEXT, charset="UTF-8", quote_charset=False),
                    text(html, "html", charset="UTF-8", quote_charset=False),
                ],
            ),
            attachment("需求变更申请表_v1.0_20231011.xlsx", XLSX, form, "rfc2047", "UTF-8"),
        ],
    )
    addr = PEOPLE["徐建国"]
    headers = [
        *trace(
            addr,
            sent,
            "198.51.100.209",
            "mail-pj1-f41.google.com",
            external_auth(addr, "kehu-b.com", "198.51.100.209"),
        ),
        ("MIME-Version", "1.0"),
        ("From", f"{ew('徐建国', 'UTF-8')} <{addr}>"),
        ("Date", rfc_date(sent)),
        ("Message-ID", MID["change_request"]),
        ("Subject", ew("需求变更申请：智慧仓储项目报表模块调整", "UTF-8")),
        ("To", person("吴敏", "UTF-8")),
        ("Cc", people(["郑浩"], "UTF-8", extra=[COORD])),
    ]
    return sent, message(headers, body, mime_version=None)  # Gmail writes it first


# --------------------------------------------------------------------------------------------
# Badly formed subject; mail that must never get an automatic answer
# --------------------------------------------------------------------------------------------

WARNING_TEXT = """王五、刘总：

CRM测试环境自10月7日起多次中断，订单接口联调目前完成率75%。原定10月16日完成联调的里程碑预计延期2天，至10月18日。

已协调IT部门今天下班前恢复测试环境。若10月16日仍无法完成，建议召开专项协调会调整上线计划。

郑浩
技术部

发自网易邮箱大师
"""


def mail_warning() -> tuple[datetime, bytes]:
    """A milestone warning 3 days ahead, but the subject uses [] and names no department."""
    sent = at(13, 11, 20, 16)
    html = (
        '<div style="line-height:1.7;color:#000000;font-size:14px;font-family:Arial">'
        + "".join(f"<div>{escape(line) or '<br>'}</div>" for line in WARNING_TEXT.splitlines())
        + "</div>"
    )
    body = multipart(
        "alternative",
        "----=_Part_122310_503911432.1697167216270",
        [
            text(WARNING_TEXT, charset="GB18030", cte="quoted-printable", quote_charset=False),
            text(html, "html", charset="GB18030", cte="quoted-printable", quote_charset=False),
        ],
    )
    headers = [
        *trace(
            PEOPLE["郑浩"],
            sent,
            "203.0.113.90",
            "[10.8.0.5]",
            internal_auth(PEOPLE["郑浩"], "203.0.113.90"),
        ),
        ("Date", rfc_date(sent)),
        ("From", f"{ew('郑浩', 'GB18030')} <{PEOPLE['郑浩']}>"),
        ("To", people(["王五", "刘洋"], "GB18030")),
        ("Cc", people(["李四", "张三"], "GB18030", extra=[COORD])),
        ("Subject", ew("[进度预警] Q4迭代订单接口联调可能延期", "GB18030")),
        ("X-Priority", "3"),
        ("X-Mailer", "NetEase Mail Master Mobile 7.17.5"),
        ("Message-ID", MID["warning"]),
    ]
    return sent, message(headers, body)


def mail_out_of_office() -> tuple[datetime, bytes]:
    """吴敏's Exchange out-of-office answer to mailflow's own request for a 完成时限."""
    sent = at(11, 9, 0, 2)
    content = (
        "您好，我于10月9日至10月13日休年假，期间无法及时回复邮件。"
        "紧急事务请联系销售部何军（he.jun@example.com）。\n\n吴敏\n销售部\n"
    )
    body = text(content, charset="utf-8", cte="base64")
    original = "【提醒】市场部-X300新品上市推广筹备：请补充完成时限"
    headers = [
        *trace(
            PEOPLE["吴敏"],
            sent,
            "192.0.2.30",
            "exch01.example.com",
            internal_auth(PEOPLE["吴敏"], "192.0.2.30"),
        ),
        ("From", person("吴敏")),
        ("To", f"{ew('协调台')} <{COORD}>"),
        ("Subject", ew("自动回复: " + original)),
        ("Thread-Topic", ew(original)),
        ("Date", rfc_date(sent)),
        ("Message-ID", MID["ooo"]),
        ("References", f"{MID['tasks']}\n\t{MID['chase_deadline']}"),
        ("In-Reply-To", MID["chase_deadline"]),
        ("Auto-Submitted", "auto-replied"),
        ("X-Auto-Response-Suppress", "All"),
        ("X-MS-Exchange-Inbox-Rules-Loop", PEOPLE["吴敏"]),
        ("X-MS-Exchange-Generated-Message-Source", "Mailbox Rules Agent"),
        ("Content-Language", "zh-CN"),
    ]
    return sent, message(headers, body)


NEWSLETTER_TEXT = """云栈技术周刊 第42期（2023年10月12日）

本期要点：
1. 云数据库 PostgreSQL 15 正式商用，支持逻辑复制增强；
2. 对象存储新增深度归档类型，存储成本降低60%；
3. 10月19日线上直播：企业邮件系统迁移上云最佳实践。

立即报名：https://edm.yunzhan-cloud.example/live/1019

您收到此邮件是因为您订阅了云栈技术周刊。退订：https://edm.yunzhan-cloud.example/u/coord
"""


def mail_newsletter() -> tuple[datetime, bytes]:
    """A newsletter whose subject looks like the convention: List-Id and Precedence: bulk."""
    sent = at(12, 20, 0, 0)
    html = (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>云栈技术周刊</title></head>'
        '<body style="margin:0;background:#f4f5f7"><table width="100%" cellpadding="0" '
        'cellspacing="0"><tr><td align="center"><table width="600" style="background:#fff">'
        + "".join(
            f'<tr><td style="padding:4px 24px;font-size:14px">{escape(line) or "&nbsp;"}</td></tr>'
            for line in NEWSLETTER_TEXT.splitlines()
        )
        + '</table><img src="https://edm.yunzhan-cloud.example/o/8f3a2c.gif" width="1" height="1">'
        "</td></tr></table></body></html>"
    )
    body = multipart(
        "alternative",
        "=_edm_8f3a2c6d1e0b4f5a9c7e",
        [
            text(NEWSLETTER_TEXT, cte="quoted-printable"),
            text(html, "html", cte="quoted-printable"),
        ],
    )
    sender = "bounce+8f3a2c.coord=example.com@edm.yunzhan-cloud.example"
    headers = [
        *trace(
            sender,
            sent,
            "198.51.100.150",
            "edm-out3.yunzhan-cloud.example",
            external_auth(sender, "yunzhan-cloud.example", "198.51.100.150"),
        ),
        ("From", f"{ew('云栈科技')} <newsletter@yunzhan-cloud.example>"),
        ("Reply-To", "no-reply@yunzhan-cloud.example"),
        ("To", COORD),
        ("Subject", ew("【技术周刊】第42期：PostgreSQL 15正式商用，深度归档存储降价60%")),
        ("Date", rfc_date(sent)),
        ("Message-ID", MID["newsletter"]),
        ("List-Id", f"{ew('云栈技术周刊')} <weekly.yunzhan-cloud.example>"),
        (
            "List-Unsubscribe",
            "<https://edm.yunzhan-cloud.example/u/coord>,\n"
            "\t<mailto:unsubscribe@edm.yunzhan-cloud.example?subject=coord>",
        ),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ("Precedence", "bulk"),
        ("Feedback-ID", "weekly42:edm:yunzhan-cloud"),
    ]
    return sent, message(headers, body)


def mail_bounce() -> tuple[datetime, bytes]:
    """Postfix returns mailflow's chase to a departed employee: multipart/report, empty Return-Path."""
    sent = at(11, 9, 0, 1)
    queued = at(11, 8, 59, 58)
    boundary = "4S5C2d0Q1Tz9vr.1696986001/mx.example.com"
    notice = Part(
        [
            ("Content-Description", "Notification"),
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Transfer-Encoding", "8bit"),
        ],
        b"""This is the mail system at host mx.example.com.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

For further assistance, please send mail to postmaster.

If you do so, please include this problem report. You can
delete your own text from the attached returned message.

                   The mail system

<wang.qiang@example.com>: host mailstore.example.com[192.0.2.26] said: 550
    5.1.1 <wang.qiang@example.com>: Recipient address rejected: User unknown
    in virtual mailbox table (in reply to RCPT TO command)
""",
    )
    status = Part(
        [("Content-Description", "Delivery report"), ("Content-Type", "message/delivery-status")],
        f"""Reporting-MTA: dns; mx.example.com
X-Postfix-Queue-ID: 4S5C2d0Q1Tz9vr
X-Postfix-Sender: rfc822; {COORD}
Arrival-Date: {rfc_date(queued)} (CST)

Final-Recipient: rfc822; wang.qiang@example.com
Original-Recipient: rfc822;wang.qiang@example.com
Action: failed
Status: 5.1.1
Remote-MTA: dns; mailstore.example.com
Diagnostic-Code: smtp; 550 5.1.1 <wang.qiang@example.com>: Recipient address
    rejected: User unknown in virtual mailbox table
""".encode(),
    )
    original = "【提醒】技术部-Q4产品迭代进度同步：请确认会议纪要"
    returned = Part(
        [
            ("Content-Description", "Undelivered Message Headers"),
            ("Content-Type", "text/rfc822-headers"),
            ("Content-Transfer-Encoding", "8bit"),
        ],
        _headers(
            [
                ("Return-Path", f"<{COORD}>"),
                (
                    "Received",
                    "from mailflow.example.com (mailflow.example.com [192.0.2.40])\n"
                    f"\tby mx.example.com (Postfix) with ESMTPS id 4S5C2d0Q1Tz9vr;\n"
                    f"\t{rfc_date(queued)} (CST)",
                ),
                ("From", f"{ew('协调台')} <{COORD}>"),
                ("To", "wang.qiang@example.com"),
                ("Subject", ew(original)),
                ("Date", rfc_date(queued)),
                ("Message-ID", MID["chase_minutes"]),
                ("In-Reply-To", MID["minutes"]),
                ("References", MID["minutes"]),
                ("Auto-Submitted", "auto-generated"),
                ("X-Auto-Response-Suppress", "All"),
                ("MIME-Version", "1.0"),
                ("Content-Type", 'text/plain; charset="utf-8"'),
                ("Content-Transfer-Encoding", "base64"),
            ]
        ),
    )
    body = multipart(
        "report",
        boundary,
        [notice, status, returned],
        preamble="This is a MIME-encapsulated message.\n",
        params=" report-type=delivery-status;",
    )
    headers = [
        ("Return-Path", "<>"),
        ("Delivered-To", COORD),
        (
            "Received",
            "from mx.example.com (mx.example.com [192.0.2.25])\n\tby mailstore.example.com "
            f"(Dovecot) with LMTP id pV8cM2H1J2UxGAAA0J78UA\n\tfor <{COORD}>; {rfc_date(sent)}",
        ),
        ("Received", f"by mx.example.com (Postfix)\n\tid 4S5C2d0Q1Tz9vs; {rfc_date(sent)} (CST)"),
        ("Date", f"{rfc_date(sent)} (CST)"),
        ("From", "MAILER-DAEMON@mx.example.com (Mail Delivery System)"),
        ("Subject", "Undelivered Mail Returned to Sender"),
        ("To", COORD),
        ("Auto-Submitted", "auto-replied"),
        ("Message-Id", MID["bounce"]),
    ]
    return sent, message(headers, body)


# --------------------------------------------------------------------------------------------
# Writing the Maildir
# --------------------------------------------------------------------------------------------

MAILS = [
    mail_minutes,
    mail_minutes_ack,
    mail_minutes_iphone,
    mail_minutes_objection,
    mail_tasks,
    mail_progress,
    mail_complaint,
    mail_bounce,
    mail_out_of_office,
    mail_complaint_answer,
    mail_change_request,
    mail_complaint_ack,
    mail_task_done,
    mail_newsletter,
    mail_warning,
]


def maildir_name(received: datetime, seq: int) -> str:
    """``time.MusecPpid.host``: the unique name Maildir delivery agents use (no info in new/)."""
    return f"{int(received.timestamp()) + 2}.M{seq * 1000 + 17}P{4100 + seq}.example"


def build() -> dict[str, bytes]:
    """Return the inbox as {file name in new/: raw bytes}, in delivery order."""
    mails = sorted((make() for make in MAILS), key=lambda m: m[0])
    return {maildir_name(when, i): raw for i, (when, raw) in enumerate(mails, 1)}


def main() -> None:
    new = INBOX / "new"
    if new.exists():
        shutil.rmtree(new)
    for sub in ("new", "cur", "tmp"):
        (INBOX / sub).mkdir(parents=True, exist_ok=True)
    for sub in ("cur", "tmp"):
        (INBOX / sub / ".gitkeep").touch()
    for name, raw in build().items():
        (new / name).write_bytes(raw)
        print(f"new/{name}  {len(raw):6d} bytes")


if __name__ == "__main__":
    main()
