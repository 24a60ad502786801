"""Fuzzing: any mail costs a bounded amount of work and raises nothing but MessageRejected.

Hypothesis mutates real mail (the shared corpus and the example inbox) the way broken clients,
truncation and attackers do: flipped bytes, cut spans, spliced parts of other mail, and tokens
repeated thousands of times (where regex backtracking and quadratic layout hide). Every
mutant must parse or be quarantined with a reason, within the parser's own CPU-time budget.
The examples are derandomized, so CI sees the same ones on every run; set
MAILFLOW_FUZZ_RANDOM=1 (and MAILFLOW_FUZZ_EXAMPLES=N) to explore new ones locally.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailflow.errors import MessageRejected
from mailflow.mail.message import parse_message
from mailflow.mail.model import ParseContext
from tests.mail.test_corpus import corpus_files

INBOX = Path(__file__).resolve().parents[2] / "examples" / "inbox" / "new"
BUDGET_S = 0.5  # the parser's own CPU-time budget in these tests
# the longest one step may run between two budget checks; CPU time, so machine load is not in it
SLACK_S = 3.0
EXAMPLES = int(os.environ.get("MAILFLOW_FUZZ_EXAMPLES", "250"))
CONTEXT = ParseContext(limits=replace(ParseContext().limits, max_parse_cpu_s=BUDGET_S))

SEEDS = sorted([*corpus_files(), *INBOX.glob("*")])
TOKENS = [
    b"=?utf-8?b?",
    b"=?gb2312?q?=B2=E2?=",
    b"filename*0*=utf-8''a; filename*=utf-8''b",
    b"; name*1=x; name*=''y",
    b'; boundary="',
    b"\r\n--",
    b"\r\nContent-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\n",
    b"<table><tr><td>",
    b"<blockquote>",
    b"&#x4e2d;",
    b"> ",
    "发件人：".encode(),
    "责任人：张三；完成时限：10月15日前；交付标准：".encode(),
    "在 2023年10月8日 写道：\n".encode(),
    " 上午 ".encode(),
    "月".encode(),
    "请李四于周五前提交".encode(),
    b"a@b@",
    b'"',
    b"(",
    b";",
    b" ",
    b"\t",
    b"\r\n",
    b"\xff\xfe",
    b"\x1b$B",
]


@st.composite
def mutants(draw: st.DrawFn) -> bytes:
    """Return a seed mail changed by one to five mutations."""
    data = bytearray(draw(st.sampled_from(SEEDS)).read_bytes())
    for _ in range(draw(st.integers(1, 5))):
        at = draw(st.integers(0, max(0, len(data) - 1)))
        kind = draw(st.sampled_from(["flip", "cut", "token", "repeat", "splice"]))
        if kind == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "cut":
            del data[at : at + draw(st.integers(1, 2000))]
        elif kind == "token":
            data[at:at] = draw(st.sampled_from(TOKENS)) * draw(st.sampled_from([1, 50, 5000]))
        elif kind == "repeat":
            chunk = bytes(data[at : at + draw(st.integers(1, 80))]) or b" "
            data[at:at] = chunk * draw(st.sampled_from([10, 1000, 20000]))
        else:
            other = draw(st.sampled_from(SEEDS)).read_bytes()
            start = draw(st.integers(0, max(0, len(other) - 1)))
            data[at:at] = other[start : start + draw(st.integers(1, 5000))]
    return bytes(data)


def parse_within_budget(raw: bytes) -> None:
    """Parse ``raw``; fail unless it ends in a result or MessageRejected, within the budget."""
    started = time.thread_time()
    try:
        parse_message(raw, CONTEXT)
    except MessageRejected as e:
        assert e.reason.strip(), "a quarantine reason must say why"
    spent = time.thread_time() - started
    assert spent < BUDGET_S + SLACK_S, f"parsing took {spent:.1f} s of CPU time"


@pytest.mark.skipif(not SEEDS, reason="no seed mail found")
@settings(
    max_examples=EXAMPLES,
    deadline=None,  # wall-clock deadlines are flaky on a loaded machine; the budget is CPU time
    derandomize=not os.environ.get("MAILFLOW_FUZZ_RANDOM"),
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(mutants())
def test_mutated_mail_is_parsed_or_quarantined_within_the_budget(raw: bytes) -> None:
    """A mutated real mail parses or is rejected with a reason, within the CPU-time budget."""
    parse_within_budget(raw)


PARAM_PIECES = ["filename", "name", "charset", "boundary", "*", "*0", "*1", "*0*", "*1*", "="]
VALUE_PIECES = [
    "utf-8''",
    "gbk''%D6%D0",
    "''",
    "'",
    "a",
    '"',
    '"x;y"',
    "%E4%B8",
    "=?utf-8?b?5Lit?=",
]


@st.composite
def parameter_lists(draw: st.DrawFn) -> str:
    """Return a Content-Type/Content-Disposition parameter list of arbitrary RFC 2231 pieces."""
    params = []
    for _ in range(draw(st.integers(1, 6))):
        name = "".join(draw(st.lists(st.sampled_from(PARAM_PIECES), min_size=1, max_size=4)))
        value = "".join(draw(st.lists(st.sampled_from(VALUE_PIECES), max_size=4)))
        params.append(f"{name}={value}")
    return "; ".join(params)


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None)
@given(
    st.sampled_from(["Content-Type: multipart/mixed", "Content-Type: application/pdf"]),
    parameter_lists(),
    parameter_lists(),
)
def test_any_header_parameters_parse(content_type: str, type_params: str, disposition: str) -> None:
    """RFC 2231 parameters in any mix (continuations, charsets, quotes) never crash the parser."""
    raw = (
        "From: a@example.com\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n"
        f"{content_type}; {type_params}\r\nContent-Disposition: attachment; {disposition}\r\n"
        "\r\nAAAA\r\n--B--\r\n"
    ).encode()
    parse_within_budget(raw)


def test_the_fuzzing_benchmark_runs() -> None:
    """benchmarks/parse_fuzz.py runs at a tiny size and prints its tables."""
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "benchmarks/parse_fuzz.py", "--cases", "3"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "3 mutants of" in done.stdout and "parse_message" in done.stdout
