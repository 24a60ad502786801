"""Turn bytes labelled with a MIME charset into text without silent mojibake.

Mail labels lie: ``gb2312`` holds GBK-only characters, ``Big5`` holds UTF-8, ``us-ascii`` holds
Big5. ``decode_bytes`` maps each label to the superset codec real clients use, decodes strictly,
and falls back in a fixed order when the label is wrong, saying so in ``Decoded.defect``.
Imports nothing of storage/sources/jobs; only the standard library and charset-normalizer.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

import charset_normalizer

GB18030 = "gb18030"
BIG5 = "big5hkscs"
UTF8 = "utf-8"

# label (lower case) -> the superset codec clients actually encode with (WHATWG practice)
_SUPERSETS = {
    **dict.fromkeys(
        (
            "gb2312",
            "gbk",
            "x-gbk",
            "cp936",
            "ms936",
            "windows-936",
            "euc-cn",
            "x-euc-cn",
            "csgb2312",
            "gb_2312-80",
            "chinese",
            "gb18030",
        ),
        GB18030,
    ),
    **dict.fromkeys(("big5", "big-5", "cn-big5", "x-x-big5", "csbig5", "big5-hkscs"), BIG5),
    **dict.fromkeys(("ks_c_5601-1987", "ks_c_5601", "ksc5601", "euc-kr", "korean"), "cp949"),
    **dict.fromkeys(
        ("shift_jis", "shift-jis", "sjis", "x-sjis", "ms_kanji", "windows-31j"), "cp932"
    ),
    "iso-8859-8-i": "iso-8859-8",
    "iso-8859-6-i": "iso-8859-6",
    "utf8": UTF8,
}
# labels that promise ASCII or Latin-1; non-ASCII bytes under them are read as windows-1252
_LATIN = frozenset(
    (
        "us-ascii",
        "ascii",
        "ansi_x3.4-1968",
        "us",
        "iso-8859-1",
        "iso8859-1",
        "iso_8859-1",
        "latin1",
        "latin-1",
        "l1",
        "cp819",
        "iso-ir-100",
    )
)
# codecs whose text may be pure 7-bit bytes that still need the codec (not plain ASCII)
_STATEFUL = ("iso2022", "iso-2022", "utf-7", "utf_7", "utf-16", "utf_16", "utf-32", "utf_32", "hz")
# what charset-normalizer may answer: the charsets mail in and around China is written in
_GUESSABLE = [
    "gb18030",
    "big5hkscs",
    "cp932",
    "euc_jp",
    "cp949",
    "cp1251",
    "koi8_r",
    "cp1252",
    "cp1250",
    "iso8859_15",
    "cp1253",
    "cp1254",
    "cp1255",
    "cp1256",
    "cp1257",
    "cp874",
    "cp1258",
]
# a known codec name at the start of a polluted label (``windows-1252http-equivContent-Type``)
_KNOWN_PREFIX = re.compile(
    r"(utf-?8|windows-125\d|iso-?8859-\d{1,2}|gb18030|gbk|gb2312|big5|shift_jis|euc-(?:jp|kr|cn)"
    r"|koi8-[ru]|iso-2022-jp)",
    re.IGNORECASE,
)


_HAN_PAIR = re.compile(r"[\u4e00-\u9fff\u3000-\u303f\uff00-\uffef]{2}")
_HAN_IN_LATIN = re.compile(r"[A-Za-z][\u4e00-\u9fff]|[\u4e00-\u9fff][A-Za-z]")


MAX_GUESS_BYTES = 65_536  # a charset is guessed from this much of a part's bytes


@dataclass(frozen=True)
class Decoded:
    """Text decoded from bytes, and what was worked around to get it (None when nothing)."""

    text: str
    defect: str | None = None


def codec_for(label: str | None) -> str | None:
    """Return the Python codec to read ``label`` with (superset-mapped), or None when unknown."""
    if not label:
        return None
    name = label.strip().strip("\"'").lower()
    if name in _LATIN:
        return "cp1252"
    name = _SUPERSETS.get(name, name)
    try:
        return codecs.lookup(name).name
    except (LookupError, ValueError):
        match = _KNOWN_PREFIX.match(name)
        return codec_for(match.group(1)) if match and match.group(1) != name else None


def decode_bytes(data: bytes, label: str | None) -> Decoded:
    """Return ``data`` decoded per ``label``; never raises, records a defect on any fallback."""
    codec = codec_for(label)
    if data.isascii() and not (codec and codec.startswith(_STATEFUL)):
        return Decoded(data.decode("ascii"))
    utf8 = _strict(data, UTF8) if not (codec and codec.startswith(_STATEFUL)) else None
    if utf8 is not None and (repaired := undo_latin1_mojibake(utf8)) is not None:
        return Decoded(repaired, "CJK bytes re-encoded as Latin-1 (double encoding); repaired")
    if codec is None:
        text, how = guess(data)
        known = f"unknown charset {label!r}" if label else "no charset label"
        return Decoded(text, None if how == UTF8 and not label else f"{known}: read as {how}")
    if codec == UTF8 or codec.startswith(_STATEFUL):
        return _decode_trusting(data, codec, label or "")
    own = _strict(data, codec)
    if utf8 is not None and (own is None or codec == "cp1252" or max(utf8) >= "\u0800"):
        return Decoded(utf8, f"labelled {label} but is UTF-8")
    if own is not None and not (codec == "cp1252" and han_reading(data) is not None):
        return Decoded(own)
    text, how = guess(data)
    return Decoded(text, f"labelled {label} but is not; read as {how}")


def _decode_trusting(data: bytes, codec: str, label: str) -> Decoded:
    """Decode with a label that other encodings rarely pass for (UTF-8, ISO-2022, UTF-16)."""
    text = _strict(data, codec)
    if text is not None:
        return Decoded(text)
    text, how = guess(data)
    return Decoded(text, f"labelled {label} but is not; read as {how}")


def guess(data: bytes) -> tuple[str, str]:
    """Return ``data`` decoded without a trustworthy label, and the codec name used.

    Order: strict UTF-8; UTF-8 with a few bad bytes replaced; for runs of high bytes (CJK),
    GB18030 or Big5, whichever yields common Han characters; charset-normalizer among the
    usual mail charsets; windows-1252 (isolated accented letters), replacing what is left.
    Over ``MAX_GUESS_BYTES`` the choice is made on the leading lines (guessing costs far more
    than decoding) and the whole is decoded with it, bad bytes replaced.
    """
    if len(data) > MAX_GUESS_BYTES:
        return _guess_from_sample(data)
    text = _strict(data, UTF8)
    if text is not None:
        return text, UTF8
    text = data.decode(UTF8, errors="replace")
    high = sum(1 for c in text if c >= "\x80")
    if high and text.count("\ufffd") * 10 <= high and text.count("\ufffd") < high:
        return text, "utf-8 with invalid bytes replaced"
    han = han_reading(data)
    if han is not None:
        return han
    best = charset_normalizer.from_bytes(data, cp_isolation=_GUESSABLE).best()
    if _looks_double_byte(data) and best is not None:
        return str(best), best.encoding
    text = _strict(data, "cp1252")
    if text is not None:
        return text, "cp1252"
    return data.decode("cp1252", errors="replace"), "cp1252 with undecodable bytes replaced"


def _guess_from_sample(data: bytes) -> tuple[str, str]:
    """Return ``data`` decoded with the codec guessed from its first ``MAX_GUESS_BYTES``."""
    sample = data[:MAX_GUESS_BYTES]
    # a newline byte is never inside a UTF-8, GB18030 or Big5 character: a safe place to cut
    end = sample.rfind(b"\n")
    _, how = guess(sample[: end + 1] if end > 0 else sample)
    codec = how.split(" with ")[0]
    try:
        text = data.decode(codec, errors="replace")
    except LookupError:
        codec, text = "cp1252", data.decode("cp1252", errors="replace")
    return text, codec if "\ufffd" not in text else f"{codec} with invalid bytes replaced"


def han_reading(data: bytes) -> tuple[str, str] | None:
    """Return (text, codec) when ``data`` reads as Chinese in GB18030 or Big5, else None."""
    han = [(t, c) for c in (GB18030, BIG5) if (t := _strict(data, c)) is not None]
    han.sort(key=lambda tc: -_common_han_ratio(tc[0]))
    if han and _common_han_ratio(han[0][0]) >= 0.6 and _reads_as_han(han[0][0]):
        return han[0]
    return None


def undo_latin1_mojibake(text: str) -> str | None:
    """Return the CJK text hidden in ``text`` when it is GBK/Big5 bytes shown as Latin-1.

    Relays that re-encode 8-bit headers as if they were Latin-1 turn 你好 into ``ÄãºÃ``.
    Returns None unless the repair gives common Han characters.
    """
    if not text or max(text) > "\xff" or max(text) < "\x80":
        return None
    data = text.encode("latin-1")
    if not _looks_double_byte(data):
        return None
    for codec in (GB18030, BIG5):
        repaired = _strict(data, codec)
        if repaired is not None and _common_han_ratio(repaired) >= 0.8:
            return repaired
    return None


def _strict(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def _common_han_ratio(text: str) -> float:
    """Return the share of Han characters that are in the frequent tier of GB2312 or Big5.

    Correctly decoded Chinese is nearly all frequent characters; Big5 read as GBK (or the
    reverse) scatters into rare ones, so this tells the two apart on a few dozen characters.
    """
    han = [c for c in text if "\u4e00" <= c <= "\u9fff"]
    if not han:
        return 0.0
    return sum(1 for c in han if _is_common_han(c)) / len(han)


def _reads_as_han(text: str) -> bool:
    """Return True unless Han characters sit alone between Latin letters (``L黷kebohle``).

    Latin-1 accented letters read as GBK/Big5 give one ideograph wedged inside a Latin word;
    real Chinese has ideographs next to each other or stands apart from Latin words.
    """
    if _HAN_PAIR.search(text):
        return True
    return _HAN_IN_LATIN.search(text) is None


def _is_common_han(char: str) -> bool:
    try:
        if 0xB0 <= char.encode("gb2312")[0] <= 0xD7:  # GB2312 level 1: the 3,755 frequent
            return True
    except UnicodeEncodeError:
        pass
    try:
        return 0xA4 <= char.encode("big5")[0] <= 0xC6  # Big5 frequent tier (A440-C67E)
    except UnicodeEncodeError:
        return False


def _looks_double_byte(data: bytes) -> bool:
    """Return True when most high bytes come in long runs: CJK bytes, not accented Latin."""
    runs = re.findall(rb"[\x80-\xff]+", data)
    high = sum(len(r) for r in runs)
    return high >= 4 and sum(len(r) for r in runs if len(r) >= 4) * 2 > high
