"""Where the real-world mail corpus is, and the mark that skips the tests needing it without it.

The corpus (145 mails from the test suites of 17 public mail projects, listed with their
licences in its MANIFEST.md) is not part of this repository: CI and the development machines lay
it beside the clone as ``../shared/corpus``; ``MAILFLOW_CORPUS_DIR`` names another folder. In a
clone with nothing beside it the tests marked ``needs_corpus`` are skipped, saying where to get
it, and everything else still runs.
"""

from __future__ import annotations

import os
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import pytest

CORPUS_VARIABLE = "MAILFLOW_CORPUS_DIR"
REPO = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get(CORPUS_VARIABLE) or REPO.parent / "shared" / "corpus")
NOT_MAIL = {"MANIFEST.md", "manifest.json"}
EXAMPLE_INBOX = REPO / "examples" / "inbox"

WHERE_TO_GET_IT = (
    f"the real-world mail corpus is not at {CORPUS}: it is the shared/corpus folder laid"
    " beside the repository on CI and development machines (MANIFEST.md in it lists the public"
    f" projects it comes from); copy it to {REPO.parent / 'shared' / 'corpus'} or set"
    f" {CORPUS_VARIABLE} to the folder that holds it"
)

needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason=WHERE_TO_GET_IT)


def corpus_files() -> list[Path]:
    """Return every mail file of the corpus (none when the folder is missing)."""
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.name not in NOT_MAIL)


def varied_mail(at_least: int) -> list[bytes]:
    """Return at least ``at_least`` mails: the corpus where present, the example inbox, and
    made-up mail in several charsets, for tests about throughput rather than the corpus."""
    raws = [p.read_bytes() for p in corpus_files()]
    raws += [p.read_bytes() for p in sorted(EXAMPLE_INBOX.rglob("*")) if p.is_file()]
    n = 0
    while len(raws) < at_least:
        raws.append(_made_up(n))
        n += 1
    return raws


_SUBJECTS = (
    "【周报】物流部-第{n}周车辆调度汇总",
    "【报价】采购部-钢材询价第{n}轮",
    "Re: 会议安排 {n}",
)
_CHARSETS = ("utf-8", "gb18030", "big5")


def _made_up(n: int) -> bytes:
    m = EmailMessage()
    m["From"] = f"同事{n} <staff{n}@example.com>"
    m["To"] = "示例协调台 <coord@example.com>"
    m["Subject"] = _SUBJECTS[n % len(_SUBJECTS)].format(n=n)
    m["Message-ID"] = f"<varied-{n}@example.com>"
    m["Date"] = "Mon, 09 Oct 2023 09:30:00 +0800"
    m.set_content(f"各位：\n\n第{n}项请于本周五前完成。\n", charset=_CHARSETS[n % len(_CHARSETS)])
    return m.as_bytes(policy=SMTP)
