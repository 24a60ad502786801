"""Every real-world mail of the shared corpus parses or is rejected with a reason; CJK mail reads right."""

from __future__ import annotations

import pytest

from mailflow.errors import MessageRejected
from mailflow.mail.message import parse_message, to_contract
from mailflow.mail.model import ParseContext
from tests.corpus import CORPUS, corpus_files, needs_corpus

pytestmark = needs_corpus


def test_corpus_is_there() -> None:
    """The corpus folder exists and holds the mails the other tests read."""
    assert CORPUS.is_dir(), f"corpus folder {CORPUS} is missing (set MAILFLOW_CORPUS_DIR)"
    assert len(corpus_files()) >= 140


def test_every_corpus_file_parses_or_is_rejected_with_a_reason() -> None:
    """No corpus file makes the parser raise anything but MessageRejected with a reason."""
    files = corpus_files()
    assert files, f"no corpus files under {CORPUS}"
    failures = []
    for path in files:
        try:
            to_contract(parse_message(path.read_bytes(), ParseContext()))
        except MessageRejected as e:
            if not e.reason.strip():
                failures.append(f"{path}: rejected without a reason")
        except Exception as e:  # the point of the test: any other exception is a bug
            failures.append(f"{path}: {type(e).__name__}: {e}")
    assert not failures, "\n".join(failures)


# file -> (decoded subject, a distinctive piece of the body)
CJK = [
    ("demisto-parse-emails/chinese_big5_encoding.eml", "Hello from China", "圖形碼"),
    (
        "demisto-parse-emails/chinese_email_test.eml",
        "示例邮件",
        "这是一个示例邮件，用于演示指定的条件。",
    ),
    (
        "demisto-parse-emails/chinese_gb2312_encoding.eml",
        "Greeting in Chinese",
        "你好，我是程序员，很高兴认识你",
    ),
    ("demisto-parse-emails/chinese_gbk_encoding.eml", "Hello from China", "你好，中国"),
    ("demisto-parse-emails/chinese_iso_2022_jp_encoding.eml", "Hello from China", "中文字"),
    (
        "discourse/big5.eml",
        "Re: [Discourse] new reply to your post in 'Crystal Blue'",
        "媽！我上電視了！",
    ),
    ("discourse/chinese_reply.eml", "", "您好！ 你今天好吗？"),
    ("enmime/parts/chardet-success-big-5.raw", "", "夫九州之人，言語不同，生民已來，固常然矣。"),
    ("kopano-core/big5.eml", "養樂多線上訂購", "body"),
    ("kopano-core/gb2312_18030.eml", "讀取: ??排??生?a", "bodytext"),
    ("kopano-core/zcp-11713.eml", "開封 : BB.jp domain", "送信日時:  2013/07/31 21:04"),
    (
        "mikel-mail/error_emails/content_transfer_encoding_empty.eml",
        "4d8119\u3000(大補泡麵專賣) 大家說英語 每日聽MP3 (2004年6月份) 繁體中文光碟版 (英語教學)\u30008afb90",
        "9bbf38a544f990e73cd12f3c56c60e6180",
    ),
    ("mikel-mail/multi_charset/japanese_attachment_long_name.eml", "まみむめも" * 10, ""),
    ("mikel-mail/multi_charset/japanese_iso_2022.eml", "まみむめも", "すみません。"),
    (
        "mikel-mail/multi_charset/japanese_shift_jis.eml",
        "test",
        "このメールはテスト用のメールです。",
    ),
    (
        "mikel-mail/plain_emails/raw_email_with_partially_quoted_subject.eml",
        'Re: Test: "漢字" mid "漢字" tail',
        "제 이름은 Jamis입니다.",
    ),
    ("php-imap/gbk_charset.eml", "Nuu", "Hi"),
    (
        "php-imap/issue-410.eml",
        "☆第132号\u3000「ガーデン&エクステリア」専門店のためのＱ&Ａサロン\u3000【月刊エクステリア・ワーク】",
        "",
    ),
    (
        "php-imap/ks_c_5601-1987_headers.eml",
        "RE: 회원님께 Ersi님이 메시지를 보냈습니다.",
        "Content",
    ),
    ("php-mime-mail-parser/failure.eml", "", "次の受信者またはグループへの配信に失敗しました"),
    (
        "php-mime-mail-parser/issue212",
        "Automatyczna odpowiedź: Piotrze, test z 6 miesięcy nauki ciągle na Cie",
        "toto",
    ),
    ("php-mime-mail-parser/m0018", "[Korea] Name", "My traveling companions!"),
    ("rt/new-ticket-from-gb18030", "测试", "测试"),
    (
        "rt/rfc2231-attachment-filename-continuations",
        "Client ? Japanese Attachment Name issue",
        "Some data in a file",
    ),
    (
        "sisimai-set-of-emails/bsd/lhost-googlegroups-13.eml",
        "Delivery Status Notification (Failure)",
        "我們謹此通知，您試圖聯絡的「libsisimai」群組可能不存在",
    ),
    (
        "spamscope-mail-parser/mail_test_12",
        "代开各地增值税发票",
        "你好！我公司可代开各类增值税发票，17%专用发票",
    ),
    (
        "spamscope-mail-parser/mail_test_9",
        "我把镜头拉近些，你们看看这个是什么屄，这种场合自然少不了内射",
        "http://go2buy.com.cn/ 9065",
    ),
    ("stalwart-mail-parser/thirdparty/005.eml", "", "『世界人権宣言』"),
]


@pytest.mark.parametrize(("name", "subject", "body"), CJK)
def test_cjk_corpus_mail_decodes(name: str, subject: str, body: str) -> None:
    """A CJK-charset corpus mail yields its real subject and body text, not mojibake."""
    parsed = parse_message((CORPUS / name).read_bytes(), ParseContext())
    assert (
        parsed.subject.raw.startswith(subject)
        if len(subject) > 40
        else parsed.subject.raw == subject
    )
    assert body in parsed.body_text
    assert "\ufffd" not in parsed.subject.raw + parsed.body_text


# file -> attachment names it must yield
ATTACHMENT_NAMES = [
    (
        "mikel-mail/multi_charset/japanese_attachment_long_name.eml",
        ["かきくけこかきくけこかきくけこかきくけこかきくけこ.txt"],
    ),
    ("rt/rfc2231-attachment-filename-continuations", ["新しいテキスト ドキュメント.txt"]),
    ("mikel-mail/attachment_emails/attachment_nonascii_filename.eml", ["ciële.txt"]),
    (
        "mikel-mail/attachment_emails/attachment_with_base64_encoded_name.eml",
        ["This is a test.pdf"],
    ),
    ("php-mime-mail-parser/m0018", ["사진.JPG", "ATT00001.txt"]),
]


@pytest.mark.parametrize(("name", "filenames"), ATTACHMENT_NAMES)
def test_corpus_attachment_names_decode(name: str, filenames: list[str]) -> None:
    """Attachment names in RFC 2231, RFC 2047 and raw 8-bit form decode to the real name."""
    parsed = parse_message((CORPUS / name).read_bytes(), ParseContext())
    assert [a.filename for a in parsed.attachments] == filenames


AUTOMATED = [
    ("chatwoot/non_utf_encoded_mail.eml", "Auto-Submitted: auto-replied"),
    ("discourse/auto_reply.eml", "Auto-Submitted: auto-generated"),
    ("flanker/disposition-notification.eml", "read receipt"),
    ("nodemailer-mailparser/delivery-status.eml", "delivery report"),
    ("sisimai-set-of-emails/bsd/lhost-qmail-01.eml", "empty Return-Path"),
    ("sisimai-set-of-emails/bsd/rfc3834-03.eml", "out-of-office"),
    ("php-mime-mail-parser/issue212", "out-of-office"),
    ("flanker/bounce/broken-mime.eml", "sender is postmaster"),
    ("sisimai-set-of-emails/not/is-not-bounce-02.eml", None),
    ("talon/standard_replies/gmail.eml", None),
]


@pytest.mark.parametrize(("name", "reason"), AUTOMATED)
def test_corpus_automated_mail_is_recognised(name: str, reason: str | None) -> None:
    """Auto-replies, reports and bounces are automated; ordinary mail (even with a message attached) is not."""
    parsed = parse_message((CORPUS / name).read_bytes(), ParseContext())
    assert parsed.automated_reason == reason
    assert parsed.automated is (reason is not None)


def test_text_before_headers_is_skipped() -> None:
    """Garbage before the header block is skipped and the real headers are read."""
    parsed = parse_message(
        (CORPUS / "demisto-parse-emails/test_text_before_headers.eml").read_bytes(), ParseContext()
    )
    assert parsed.subject.raw == "test bcc"
    assert (
        parsed.message_id == "<CACVXskAdihOUNQYeLaeCOx7xiDnJ2W55Q2GQmX2G_UV115D4Dw@mail.gmail.com>"
    )
    assert any("before the headers" in d for d in parsed.defects)


def test_bom_file_reads_headers() -> None:
    """A file starting with a UTF-8 BOM still has its Subject read as a header."""
    parsed = parse_message(
        (CORPUS / "demisto-parse-emails/utf_8_with_bom.eml").read_bytes(), ParseContext()
    )
    assert parsed.subject.raw == "Test UTF Email"
    assert "עברית" in parsed.body_text
