"""Mail of adversarial shapes for ``parse_shapes.py``: well-formed structure, hostile content.

``SHAPES`` maps a name to a builder ``scale -> bytes``. At scale 1 a shape is the size of a
large real mail; every shape stays under the default limits (25 MiB, 1,000 header fields,
nesting 20, 10,000 parts, 100 attachments, 1,000,000 lines) at the scales ``parse_shapes.py``
uses, so the parser has to read it rather than refuse it for size. A library of that script.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Callable

from mailgen import directory

NAMES = [name for name, _, _ in directory(400)]
HEAD = (
    "From: 王芳 <wang.fang@example.com>\r\nTo: 张三 <zhang.san@example.com>\r\n"
    "Subject: 【技术部】接口联调安排\r\nDate: Mon, 9 Oct 2023 10:00:00 +0800\r\n"
    "Message-ID: <shape@example.com>\r\nMIME-Version: 1.0\r\n"
)


def mail(body: str | bytes, headers: str = "", ctype: str = "text/plain; charset=utf-8") -> bytes:
    """Return a mail of ``body`` with the usual headers, ``headers`` and a content type."""
    data = body.encode() if isinstance(body, str) else body
    return (HEAD + headers + f"Content-Type: {ctype}\r\n\r\n").encode() + data


def html(body: str) -> bytes:
    """Return an HTML-only mail."""
    return mail(f"<html><body>{body}</body></html>", ctype="text/html; charset=utf-8")


def multipart(parts: list[bytes], subtype: str = "mixed", boundary: str = "b") -> bytes:
    """Return the body of a multipart of ``parts`` (each with its own headers)."""
    inner = b"".join(b"--" + boundary.encode() + b"\r\n" + p + b"\r\n" for p in parts)
    return inner + b"--" + boundary.encode() + b"--\r\n"


def part(body: str | bytes, ctype: str = "text/plain; charset=utf-8", extra: str = "") -> bytes:
    """Return one MIME part: its headers and body."""
    data = body.encode() if isinstance(body, str) else body
    return f"Content-Type: {ctype}\r\n{extra}\r\n".encode() + data


def top(parts: list[bytes], subtype: str = "mixed") -> bytes:
    """Return a mail whose body is a multipart of ``parts``."""
    return mail(multipart(parts), ctype=f"multipart/{subtype}; boundary=b")


def nested(depth: int, subtype: str) -> bytes:
    """Return a mail of multiparts nested ``depth`` deep, text at the bottom."""
    body = part("请张三周五前提交报告。")
    for level in range(depth):
        body = f"Content-Type: multipart/{subtype}; boundary=n{level}\r\n\r\n".encode() + multipart(
            [body], boundary=f"n{level}"
        )
    return (HEAD.encode()) + body


def rfc822_nested(depth: int) -> bytes:
    """Return a mail that attaches a mail that attaches a mail ... ``depth`` deep."""
    inner = mail("最里面的邮件：请李四周五前回复。")
    for _ in range(depth):
        inner = (
            mail(
                multipart([part("见附件。"), part(inner, "message/rfc822")]),
                ctype="multipart/mixed; boundary=b",
            )
            .replace(b"boundary=b", b"boundary=b" + str(len(inner)).encode())
            .replace(b"--b", b"--b" + str(len(inner)).encode())
        )
    return inner


def encoded_words(n: int, valid: bool) -> str:
    """Return ``n`` encoded-words in many charsets, broken ones mixed in when not ``valid``."""
    rng = random.Random(n)
    words = []
    for i in range(n):
        charset = rng.choice(
            ["utf-8", "gb2312", "gbk", "gb18030", "big5", "utf-7", "iso-2022-jp", "x-unknown"]
        )
        text = "联调进度" if charset != "iso-2022-jp" else "進捗"
        try:
            data = text.encode(charset)
        except (LookupError, UnicodeEncodeError):
            data = text.encode("utf-8")
        word = f"=?{charset}?B?{base64.b64encode(data).decode()}?="
        if not valid and i % 3 == 0:
            word = rng.choice([word[:-2], word[:9] + "%%%" + word[9:], "=?utf-8?Q?=E4=B8?=", "=?"])
        words.append(word)
    return "\r\n ".join(words)


def addresses(n: int) -> str:
    """Return an address list of ``n`` entries: groups, comments, quotes and bare addresses."""
    out = []
    for i in range(n):
        name = NAMES[i % len(NAMES)]
        out.append(
            [
                f'"{name}, 部门\\"{i}\\"" <p{i}@example.com>',
                f"p{i}@example.com ({name} (技术部 (二组)))",
                f"组{i}: a{i}@example.com, b{i}@example.com;",
                f"=?utf-8?B?{base64.b64encode(name.encode()).decode()}?= <q{i}@example.com>",
            ][i % 4]
        )
    return ",\r\n ".join(out)


def task_sentences(n: int) -> str:
    """Return ``n`` distinct task sentences naming people, dates and deliverables."""
    rng = random.Random(n)
    forms = [
        "请{a}于{m}月{d}日前提交{w}第{i}版。",
        "{a}负责{w}{i}，下午3点前完成，{b}配合。",
        "{a}、{b}和{c}本周五前完成{w}{i}的评审，交付评审纪要。",
        "{a}在2026-12-31前把{w}{i}发给{b}。",
        "@{a} 明天上午10点前确认{w}{i}。",
    ]
    return "\n".join(
        rng.choice(forms).format(
            a=rng.choice(NAMES),
            b=rng.choice(NAMES),
            c=rng.choice(NAMES),
            i=i,
            m=rng.randint(1, 12),
            d=rng.randint(1, 28),
            w=rng.choice(["接口文档", "测试报告", "报价单"]),
        )
        for i in range(n)
    )


def labels(n: int) -> str:
    """Return ``n`` labelled items (责任人：/完成时限：/交付标准：)."""
    return "\n".join(
        f"{i}. 任务：整理第{i}批数据\n责任人：{NAMES[i % len(NAMES)]}\n"
        f"完成时限：12月{i % 28 + 1}日\n交付标准：数据表{i}"
        for i in range(n)
    )


def table(rows: int, cols: int = 4) -> str:
    """Return an HTML table of ``rows`` task rows (owner, task, deadline, deliverable)."""
    head = "<tr><th>责任人</th><th>任务</th><th>完成时限</th><th>交付标准</th></tr>"
    body = "".join(
        f"<tr><td>{NAMES[i % len(NAMES)]}</td><td>任务{i}</td><td>12月{i % 28 + 1}日</td>"
        f"<td>报告{i}</td>" + "<td>x</td>" * (cols - 4) + "</tr>"
        for i in range(rows)
    )
    return f"<table>{head}{body}</table>"


def _shapes() -> dict[str, Callable[[int], bytes]]:
    s: dict[str, Callable[[int], bytes]] = {
        # structure
        "nested_mixed_19": lambda k: nested(19, "mixed"),
        "nested_alternative_19": lambda k: nested(19, "alternative"),
        "rfc822_in_rfc822_9": lambda k: rfc822_nested(9),
        "parts_text_many": lambda k: top([part(f"第{i}段") for i in range(min(9000, 200 * k))]),
        "parts_html_many": lambda k: top(
            [part(f"<p>第{i}段</p>", "text/html") for i in range(min(9000, 200 * k))]
        ),
        "parts_inline_images_many": lambda k: top(
            [part(b"AAAA", "image/png", "Content-ID: <i@x>\r\n") for i in range(min(9000, 200 * k))]
        ),
        "parts_alternative_html_100": lambda k: top(
            [part("<p>" + "项目进度正常。" * 2000 * k + "</p>", "text/html") for _ in range(100)]
        ),
        "parts_html_100_big": lambda k: top(
            [part("<div>" + "<p>进度</p>" * (1000 * k) + "</div>", "text/html") for _ in range(100)]
        ),
        "attachments_99_odd_names": lambda k: top(
            [
                part(
                    b"QUJD",
                    "application/octet-stream",
                    f"Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; "
                    f'filename="{"../" * 50 * k}报价单_v{i}.{i}_2023年10月{i % 28 + 1}日'
                    f'{"　" * 100 * k}.pdf"\r\n',
                )
                for i in range(99)
            ]
        ),
        "rfc2231_500_segments": lambda k: top(
            [
                part(
                    b"QUJD",
                    "application/pdf",
                    "Content-Disposition: attachment;"
                    + "".join(f"\r\n filename*{i}*=utf-8''%E6%8A%A5{i};" for i in range(500 * k)),
                )
            ]
        ),
        "rfc2231_boundary_segments": lambda k: mail(
            b"--abc\r\n\r\nx\r\n--abc--\r\n",
            ctype="multipart/mixed;"
            + "".join(f"\r\n boundary*{i}={'abc' if i == 0 else ''}" for i in range(300 * k)),
        ),
        # headers
        "headers_999": lambda k: mail(
            "hi", "".join(f"X-H{i}: {'v' * 40 * k}\r\n" for i in range(990))
        ),
        "header_one_line_huge": lambda k: mail("hi", "X-Long: " + "a" * 100_000 * k + "\r\n"),
        "subject_folded_huge": lambda k: mail(
            "hi", "Subject: " + "\r\n ".join(["联调"] * 20_000 * k) + "\r\n"
        ),
        "subject_encoded_words_valid": lambda k: mail(
            "hi", "Subject: " + encoded_words(2000 * k, True) + "\r\n"
        ),
        "subject_encoded_words_broken": lambda k: mail(
            "hi", "Subject: " + encoded_words(2000 * k, False) + "\r\n"
        ),
        "from_encoded_words": lambda k: mail(
            "hi", "Sender: " + encoded_words(2000 * k, False) + " <a@b.c>\r\n"
        ).replace(
            b"From: ",
            b"From: " + encoded_words(1000 * k, True).encode() + b" <x@y.z>\r\nX-Old-From: ",
        ),
        "references_long": lambda k: mail(
            "hi",
            "References: "
            + "\r\n ".join(f"<id{i}@example.com>" for i in range(20_000 * k))
            + "\r\n"
            "In-Reply-To: " + " ".join(f"<r{i}@example.com>" for i in range(5000 * k)) + "\r\n",
        ),
        "references_unbalanced": lambda k: mail(
            "hi", "References: " + "<" * 100_000 * k + ">" * 100_000 * k + "\r\n"
        ),
        "to_many_addresses": lambda k: mail(
            "请各位周五前回复。", "Cc: " + addresses(2000 * k) + "\r\n"
        ),
        "to_fields_many": lambda k: mail(
            "hi", "".join(f"To: {addresses(60 * k)}\r\n" for _ in range(900))
        ),
        "to_nested_comments": lambda k: mail(
            "hi", "To: a@b.c " + "(" * 20_000 * k + ")" * 20_000 * k + "\r\n"
        ),
        "to_unclosed_quotes": lambda k: mail("hi", "To: " + '"a, ' * 30_000 * k + "<x@y.z>\r\n"),
        "to_backslashes": lambda k: mail("hi", 'To: "' + "\\" * 100_001 * k + '" <x@y.z>\r\n'),
        "to_angle_runs": lambda k: mail("hi", "To: " + "<a@b.c" * 20_000 * k + "\r\n"),
        "to_groups_nested": lambda k: mail(
            "hi", "To: " + "g:" * 20_000 * k + "a@b.c" + ";" * 20_000 * k + "\r\n"
        ),
        "date_garbage": lambda k: mail("hi", "X-D: 1\r\n").replace(
            b"Date: Mon, 9 Oct 2023 10:00:00 +0800", b"Date: " + b"Mon, 9 Oct " * 20_000 * k
        ),
        "content_type_params_many": lambda k: mail(
            "hi",
            ctype="text/plain; charset=utf-8;"
            + "".join(f' p{i}="v;{i}";' for i in range(10_000 * k)),
        ),
        # plain bodies
        "body_one_line_megabytes": lambda k: mail(
            "请张三周五前提交。" + "项目进度正常" * 40_000 * k
        ),
        "body_only_whitespace": lambda k: mail(" \t\u3000" * 100_000 * k),
        "body_only_punctuation": lambda k: mail(
            "，。；：！？、…—（）【】<>\"'-_=+*&^%$#@!~`" * 10_000 * k
        ),
        "body_cjk_no_punctuation": lambda k: mail("".join(NAMES) * 200 * k),
        "body_short_lines": lambda k: mail("好\n" * 50_000 * k),
        "body_quote_markers": lambda k: mail(
            "收到。\n"
            + "> 上一封\n>\n-----原始邮件-----\n发件人: 张三\nOn Mon, 9 Oct 2023, 张三 wrote:\n"
            * 5000
            * k
        ),
        "body_quote_deep": lambda k: mail(
            "收到。\n" + "\n".join(">" * (i % 500) + " 旧" for i in range(10_000 * k))
        ),
        "body_headers_repeated": lambda k: mail(
            "收到。\n" + "发件人：张三\n收件人：李四\n" * 10_000 * k
        ),
        "body_dates_many": lambda k: mail(
            "".join(
                f"下午{i % 12}点前，12月{i % 31 + 1}日，本周五，2026-12-31，"
                f"{i % 9 + 1}天内，下周{'一二三四五'[i % 5]}前；"
                for i in range(5000 * k)
            )
        ),
        "body_dates_one_line_each": lambda k: mail(
            "\n".join(f"请于12月{i % 31 + 1}日下午{i % 12}点前回复" for i in range(20_000 * k))
        ),
        "body_task_sentences": lambda k: mail(task_sentences(400 * k)),
        "body_task_one_line": lambda k: mail(task_sentences(400 * k).replace("\n", "")),
        "body_task_many_people": lambda k: mail(
            "请" + "、".join(NAMES * k) + "于周五前提交周报。\n" * 10
        ),
        "body_labels": lambda k: mail(labels(500 * k)),
        "body_labels_one_line": lambda k: mail(labels(500 * k).replace("\n", "；")),
        "body_label_only": lambda k: mail("责任人：\n" * 20_000 * k),
        "body_text_table": lambda k: mail(
            "责任人 | 任务 | 完成时限 | 交付标准\n"
            + "\n".join(
                f"{NAMES[i % 400]} | 任务{i} | 12月{i % 28 + 1}日 | 报告{i}"
                for i in range(3000 * k)
            )
        ),
        "body_signature_many": lambda k: mail("收到\n" + "-- \n发自我的iPhone\n" * 20_000 * k),
        "body_notice_many": lambda k: mail(
            "收到\n"
            + "本邮件及其附件含有保密信息，仅限于发送给上面地址中列出的个人或群组。\n" * 10_000 * k
        ),
        "body_confirm_words": lambda k: mail("收到，好的，没问题，已完成，不同意，" * 20_000 * k),
        "body_english_tasks": lambda k: mail(
            "\n".join(
                f"Bob, please send the report v{i} by Friday 5pm. On Mon wrote:"
                for i in range(5000 * k)
            )
        ),
        "body_mixed_digits": lambda k: mail("1" * 200_000 * k + "月"),
        "body_long_numbers_dates": lambda k: mail("2026-" * 100_000 * k + "12-31"),
        # HTML
        "html_table_rows": lambda k: html(table(1000 * k)),
        "html_table_wide": lambda k: html(table(50 * k, 100)),
        "html_table_spans": lambda k: html(
            "<table>"
            + '<tr><td rowspan="50" colspan="50">张三周五前</td></tr>' * 100 * k
            + "</table>"
        ),
        "html_tables_nested": lambda k: html(
            "<table><tr><td>" * 1000 * k + "张三" + "</td></tr></table>" * 1000 * k
        ),
        "html_nested_divs": lambda k: html(
            "<div>" * 5000 * k + "请张三周五前提交" + "</div>" * 5000 * k
        ),
        "html_nested_unclosed": lambda k: html(
            "<div><span><b><i><font>" * 2000 * k + "请张三周五前提交"
        ),
        "html_nested_lists": lambda k: html("<ul><li>" * 3000 * k + "任务"),
        "html_huge_attribute": lambda k: html(
            '<p title="' + "a" * 150_000 * k + '">请张三周五前提交</p>'
        ),
        "html_many_attributes": lambda k: html(
            "<p " + " ".join(f"a{i}=x" for i in range(20_000 * k)) + ">x</p>"
        ),
        "html_unclosed_comment": lambda k: html("请张三周五前提交<!--" + "注释" * 50_000 * k),
        "html_comments_many": lambda k: html("<!-- a -->" * 30_000 * k),
        "html_unclosed_cdata": lambda k: html("正文<![CDATA[" + "x" * 100_000 * k),
        "html_unclosed_style": lambda k: html("正文<style>" + "p{}" * 50_000 * k),
        "html_script_many": lambda k: html("<script>x</script>正文" * 10_000 * k),
        "html_entities": lambda k: html("&#x4e2d;&amp;&nbsp;&#99999999;&bogus;" * 20_000 * k),
        "html_blockquotes_nested": lambda k: html("<blockquote type=cite>" * 3000 * k + "旧"),
        "html_outlook_headers_many": lambda k: html(
            '<div style="border:none;border-top:solid #E1E1E1 1.0pt">x</div>' * 5000 * k
        ),
        "html_meta_charset_odd": lambda k: mail(
            b'<meta charset="x-mac-chinesetrad"><p>' + "进度".encode("gbk") * 50_000 * k,
            ctype="text/html",
        ),
        "html_pre_huge": lambda k: html("<pre>" + "a b\n" * 40_000 * k + "</pre>"),
        "html_br_many": lambda k: html("<br>" * 60_000 * k),
        # encodings
        "base64_broken": lambda k: mail(
            "====\r\n" * 10_000 * k + "5Lit5paH!!!\r\n" * 10_000 * k,
            "Content-Transfer-Encoding: base64\r\n",
        ),
        "base64_one_line": lambda k: mail(
            base64.b64encode(("请张三周五前提交。" * 20_000 * k).encode()),
            "Content-Transfer-Encoding: base64\r\n",
        ),
        "qp_broken": lambda k: mail(
            "=E4=B8=\r\n=ZZ=\r\n" * 20_000 * k, "Content-Transfer-Encoding: quoted-printable\r\n"
        ),
        "qp_soft_breaks": lambda k: mail(
            "=\r\n" * 100_000 * k + "x", "Content-Transfer-Encoding: quoted-printable\r\n"
        ),
        "uuencode_broken": lambda k: mail(
            "begin 644 a.txt\r\n" + "M" + "!" * 60 + "\r\n" * 1 + ("Mxyz\r\n" * 10_000 * k),
            "Content-Transfer-Encoding: x-uuencode\r\n",
        ),
        "uuencode_begin_many": lambda k: mail(
            "begin 644 a\r\n`\r\nend\r\n" * 10_000 * k, "Content-Transfer-Encoding: uuencode\r\n"
        ),
        "charset_utf7_body": lambda k: mail(
            ("请张三周五前提交。" * 10_000 * k).encode("utf-7"), ctype="text/plain; charset=utf-7"
        ),
        "charset_iso2022jp_body": lambda k: mail(
            ("進捗を確認してください。" * 10_000 * k).encode("iso-2022-jp"),
            ctype="text/plain; charset=iso-2022-jp",
        ),
        "charset_unknown_label": lambda k: mail(
            ("进度" * 50_000 * k).encode("gbk"), ctype="text/plain; charset=x-foo-bar"
        ),
        "charset_wrong_label_big5": lambda k: mail(
            ("进度正常" * 50_000 * k).encode("gb18030"), ctype="text/plain; charset=big5"
        ),
        "charset_mixed_bytes": lambda k: mail(
            ("进度".encode("gbk") + "進度".encode("big5") + "进度".encode() + b"\xff\xfe")
            * 30_000
            * k,
            ctype="text/plain",
        ),
        # calendar, TNEF
        "ics_many_events": lambda k: top(
            [
                part("请查看日程"),
                part(
                    "BEGIN:VCALENDAR\r\n"
                    + (
                        "BEGIN:VEVENT\r\nSUMMARY:联调\r\nDTSTART:20231010T100000Z\r\n"
                        "RRULE:FREQ=SECONDLY\r\nEND:VEVENT\r\n"
                    )
                    * (5000 * k)
                    + "END:VCALENDAR\r\n",
                    "text/calendar; method=REQUEST; charset=utf-8",
                ),
            ]
        ),
        "ics_as_body": lambda k: mail(
            "BEGIN:VCALENDAR\r\n"
            + "DESCRIPTION:请张三周五前提交\\n" * 10_000 * k
            + "\r\nEND:VCALENDAR\r\n",
            ctype="text/calendar; charset=utf-8",
        ),
        "tnef_winmail": lambda k: top(
            [
                part("见附件"),
                part(
                    base64.encodebytes(b"\x78\x9f\x3e\x22" + b"\x00\xff" * 50_000 * k),
                    "application/ms-tnef; name=winmail.dat",
                    "Content-Transfer-Encoding: base64\r\n"
                    "Content-Disposition: attachment; filename=winmail.dat\r\n",
                ),
            ]
        ),
        "delivery_report": lambda k: top(
            [
                part("Delivery failed"),
                part(
                    "Reporting-MTA: dns; x\r\n\r\n"
                    + "Final-Recipient: rfc822; a@b.c\r\nAction: failed\r\n\r\n" * 500 * k,
                    "message/delivery-status",
                ),
                part(mail("原始邮件"), "message/rfc822"),
            ],
            "report",
        ),
    }
    return s


SHAPES = _shapes()
