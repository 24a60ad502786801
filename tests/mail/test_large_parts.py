"""Big base64 attachment bodies are measured, not parsed, and the parse reads exactly the same."""

from __future__ import annotations

import base64
import random

import pytest

from mailflow.mail import mime
from mailflow.mail.large_parts import MIN_ELIDED_BYTES, Skeleton, skeleton
from mailflow.mail.message import parse_message, to_contract
from mailflow.mail.model import ParseContext
from mailflow.mail.prelude import prepare
from mailflow.settings import Limits
from tests.corpus import corpus_files, needs_corpus

CTX = ParseContext()
BIG = MIN_ELIDED_BYTES * 3


def b64_lines(data: bytes, newline: bytes = b"\r\n") -> bytes:
    return base64.encodebytes(data).replace(b"\n", newline)


def mail_with(parts: list[tuple[str, bytes]], newline: bytes = b"\r\n") -> bytes:
    """Return a multipart/mixed mail of (header lines, encoded body) parts."""
    out = [b"From: a@example.com", b"To: coord@example.com", b"Subject: big",
           b"Message-ID: <big@example.com>", b"MIME-Version: 1.0",
           b'Content-Type: multipart/mixed; boundary="B"', b""]  # fmt: skip
    for headers, body in parts:
        out += [b"--B", *headers.encode().split(b"\n"), b""]
        out.append(body.rstrip(b"\r\n"))
    out += [b"--B--", b""]
    return newline.join(out)


def attachment(name: str, data: bytes, newline: bytes = b"\r\n") -> tuple[str, bytes]:
    headers = (f'Content-Type: application/octet-stream; name="{name}"\n'
               f'Content-Disposition: attachment; filename="{name}"\n'
               "Content-Transfer-Encoding: base64")  # fmt: skip
    return headers, b64_lines(data, newline)


TEXT = ("Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64",
        b64_lines(("各位好，附件请查收。" + "好" * 20000 + "\n").encode()))  # fmt: skip


def full_parse(monkeypatch: pytest.MonkeyPatch, raw: bytes) -> dict[str, object]:
    """Return the contract of ``raw`` parsed without sparing any body."""
    with monkeypatch.context() as m:
        m.setattr(mime, "skeleton", lambda data: Skeleton(data))
        return to_contract(parse_message(raw, CTX))


@pytest.mark.parametrize("size", [BIG, BIG + 1, BIG + 2])  # the three paddings
@pytest.mark.parametrize("newline", [b"\r\n", b"\n"])
def test_big_attachment_size_is_counted_without_parsing_it(
    size: int, newline: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An attachment over the threshold is spared, and its size is its decoded byte count."""
    data = random.Random(size).randbytes(size)
    raw = mail_with([TEXT, attachment("表_v1.2_20231008.bin", data, newline)], newline)
    spared = skeleton(raw)
    assert list(spared.sizes.values()) == [size]  # the base64 text body is not spared
    assert len(spared.data) < len(raw) - size
    parsed = to_contract(parse_message(raw, CTX))
    assert parsed["attachments"][0]["size"] == size
    assert parsed["attachments"][0]["version"] == "v1.2"
    assert "各位好" in parsed["body_text"]
    assert parsed == full_parse(monkeypatch, raw)


def test_small_attachments_are_parsed_as_before() -> None:
    """Bodies under the threshold are left in the bytes the parser reads."""
    raw = mail_with([TEXT, attachment("a.bin", b"x" * 1000)])
    assert skeleton(raw).sizes == {}
    assert to_contract(parse_message(raw, CTX))["attachments"][0]["size"] == 1000


@pytest.mark.parametrize(
    "tail",
    [b"\r\nnot base64!\r\n", b"\r\n\r\nAAAA\r\n"],  # more body after the run, in the same part
)
def test_a_run_that_is_not_the_whole_body_falls_back_to_the_full_parse(
    tail: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the spared lines were only part of a body, the result is still the full parse's."""
    headers, body = attachment("a.bin", bytes(BIG))
    raw = mail_with([TEXT, (headers, body + tail)])
    assert skeleton(raw).sizes  # it was spared, and restore must refuse it
    parsed = to_contract(parse_message(raw, CTX))
    assert parsed == full_parse(monkeypatch, raw)
    assert parsed["attachments"][0]["size"] >= BIG


def test_base64_inside_a_text_part_is_never_spared(monkeypatch: pytest.MonkeyPatch) -> None:
    """A raw MIME part pasted into a text body stays text: the body reads the same."""
    inner = attachment("inner.bin", bytes(BIG))
    pasted = b"--X\r\n" + inner[0].replace("\n", "\r\n").encode() + b"\r\n\r\n" + inner[1]
    raw = mail_with([("Content-Type: text/plain; charset=us-ascii", pasted)])
    parsed = to_contract(parse_message(raw, CTX))
    assert parsed == full_parse(monkeypatch, raw)
    assert "inner.bin" in parsed["body_text"]


def test_a_placeholder_written_in_the_mail_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    """Text that looks like a placeholder is not one: each parse uses a new random token."""
    raw = mail_with([("Content-Type: application/pdf\nContent-Transfer-Encoding: base64",
                      b"mailflow-elided-0000000000000000-0\r\n"),
                     attachment("a.bin", bytes(BIG))])  # fmt: skip
    parsed = to_contract(parse_message(raw, CTX))
    assert [a["size"] for a in parsed["attachments"]] == [
        a["size"] for a in full_parse(monkeypatch, raw)["attachments"]
    ]
    assert parsed["attachments"][1]["size"] == BIG


def test_a_single_part_attachment_mail_is_spared() -> None:
    """A mail that is one base64 PDF (no multipart) has its body measured too."""
    data = bytes(range(256)) * (BIG // 256)
    raw = (b"From: a@example.com\r\nSubject: scan\r\nContent-Type: application/pdf\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\n" + b64_lines(data))  # fmt: skip
    assert list(skeleton(raw).sizes.values()) == [len(data)]
    assert to_contract(parse_message(raw, CTX))["attachments"][0]["size"] == len(data)


def test_clean_mail_reaches_the_parser_uncopied() -> None:
    """prepare passes clean bytes on as the same object: no copy of a 25 MB mail."""
    raw = mail_with([TEXT, attachment("a.bin", bytes(BIG))])
    assert prepare(raw, Limits()).data is raw


@pytest.mark.parametrize("garbage", [b"", b"\r\n\r\n", b"garbage line\r\n" * 3])
def test_prepare_reads_only_the_start_but_keeps_the_whole_mail(garbage: bytes) -> None:
    """Cleaning the start keeps every byte after the headers, whatever the body's size."""
    raw = mail_with([TEXT, attachment("a.bin", bytes(BIG))])
    cleaned = prepare(garbage + raw, Limits()).data
    assert cleaned == raw


@needs_corpus
def test_corpus_reads_the_same_with_and_without_sparing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every corpus mail with a spared body parses exactly as the full parse reads it."""
    checked = 0
    for path in corpus_files():
        raw = path.read_bytes()
        if not skeleton(raw, 1024).sizes:
            continue
        with monkeypatch.context() as m:
            m.setattr(mime, "skeleton", lambda data: skeleton(data, 1024))
            try:
                spared = to_contract(parse_message(raw, CTX))
            except Exception as e:  # the full parse must fail the same way
                spared = {"error": type(e).__name__}
        try:
            full = full_parse(monkeypatch, raw)
        except Exception as e:
            full = {"error": type(e).__name__}
        assert spared == full, path
        checked += 1
    assert checked >= 5
