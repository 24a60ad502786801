"""The work one mail costs is bounded: the budget stops a parse, and the shapes that cost seconds
before (found by fuzzing) now parse quickly or are quarantined with a reason."""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from dataclasses import replace

import pytest

from mailflow.errors import LimitExceeded, WorkBudgetExceeded
from mailflow.mail.body import MAX_BODY_PARTS, MAX_LAYOUT_CHARS, html_to_text, strip_tags
from mailflow.mail.budget import TOO_MUCH_WORK, WorkBudget, can_stop_steps
from mailflow.mail.message import MAX_ITEM_TEXT_CHARS, parse_message
from mailflow.mail.mime import MAX_PARTS
from mailflow.mail.model import ParseContext
from mailflow.mail.params import simplified
from tests.mail.test_fuzz import parse_within_budget


class TickingClock:
    """A real clock stand-in: each reading returns the next of the given CPU times."""

    def __init__(self, *readings: float) -> None:
        self.readings = list(readings)

    def __call__(self) -> float:
        return self.readings.pop(0)


@pytest.mark.parametrize(
    ("readings", "over"), [((0.0, 0.5), False), ((0.0, 1.0), False), ((0.0, 1.01), True)]
)
def test_budget_raises_only_once_spent(readings: tuple[float, ...], over: bool) -> None:
    """A check raises WorkBudgetExceeded only once more CPU time than allowed is spent."""
    budget = WorkBudget(1.0, clock=TickingClock(*readings))
    if not over:
        budget.check("reading action items")
        return
    with pytest.raises(WorkBudgetExceeded) as caught:
        budget.check("reading action items")
    assert caught.value.stage == "reading action items"
    assert caught.value.reason.startswith(TOO_MUCH_WORK)
    assert "reading action items" in caught.value.reason and "1 s" in caught.value.reason


def test_spent_budget_quarantines_the_mail_with_a_reason() -> None:
    """With no CPU time allowed, a mail is rejected as too much work, not parsed half-way."""
    ctx = ParseContext(limits=replace(ParseContext().limits, max_parse_cpu_s=1e-9))
    raw = "From: a@example.com\r\nSubject: 周报\r\n\r\n请张三于周五前提交周报。\r\n".encode()
    with pytest.raises(WorkBudgetExceeded, match=f"^{TOO_MUCH_WORK}: "):
        parse_message(raw, ctx)


# steps that run away inside themselves, each for seconds of CPU time, and then end: without
# the stop inside a step they return normally and the tests below fail
def runaway_pattern() -> object:
    """A pattern that backtracks exponentially: about 4 s of CPU inside one call to ``re``."""
    return re.match(r"(a+)+$", "a" * 27 + "!")


def runaway_loop() -> int:
    """A Python loop of about 2 s of CPU."""
    n = 0
    for _ in range(100_000_000):
        n += 1
    return n


def runaway_in_the_kernel() -> str:
    """About 1 s of CPU, nearly all of it system time: zeros read into new 16 MB buffers."""
    fd = os.open("/dev/zero", os.O_RDONLY)
    try:
        end = time.thread_time() + 1.0
        while time.thread_time() < end:
            os.read(fd, 1 << 24)
    finally:
        os.close(fd)
    return "read"


def burn(seconds: float) -> None:
    """Spend ``seconds`` of this thread's CPU time."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


@pytest.mark.parametrize("step", [runaway_pattern, runaway_loop, runaway_in_the_kernel])
def test_a_step_that_runs_away_is_stopped_inside_it(step: object) -> None:
    """On the main thread the budget stops a step once it is spent, not when the step ends:
    a backtracking pattern (the engine looks for signals), a Python loop, and a step whose
    time is system time (a user-time timer never fired for it)."""
    assert callable(step)
    budget = WorkBudget(0.05)
    budget.check("reading the headers")
    with pytest.raises(WorkBudgetExceeded) as caught:
        budget.enforce(step)
    assert caught.value.stage == "after reading the headers"
    assert caught.value.reason.startswith(f"{TOO_MUCH_WORK}: ")
    assert "was stopped after reading the headers" in caught.value.reason
    assert signal.getitimer(signal.ITIMER_PROF) == (0.0, 0.0)  # the timer is off again


def test_work_done_in_time_is_returned_and_leaves_no_timer_behind() -> None:
    """A parse within its budget returns its result, and CPU spent after it stops nothing."""
    assert WorkBudget(0.05).enforce(lambda n: n * 2, 21) == 42
    assert signal.getitimer(signal.ITIMER_PROF) == (0.0, 0.0)
    burn(0.1)  # past the budget, after it: no stop may come now


def test_a_budget_inside_another_leaves_the_outer_one_in_charge() -> None:
    """An enforced budget inside another runs its work with the outer one's stop."""
    inner = WorkBudget(100)
    with pytest.raises(WorkBudgetExceeded, match="was stopped in its first step"):
        WorkBudget(0.05).enforce(inner.enforce, runaway_loop)


def test_off_the_main_thread_only_the_checks_between_steps_apply() -> None:
    """Signals reach the main thread only: elsewhere ``enforce`` runs the work as it is."""
    seen: list[object] = []

    def elsewhere() -> None:
        seen.extend([can_stop_steps(), WorkBudget(0.01).enforce(lambda: "read")])

    thread = threading.Thread(target=elsewhere)
    thread.start()
    thread.join()
    assert seen == [False, "read"]


def test_someone_elses_cpu_timer_is_left_alone() -> None:
    """With another handler on the CPU-time signal, a budget does not take it over."""
    ticks: list[int] = []
    previous = signal.signal(signal.SIGPROF, lambda signum, frame: ticks.append(signum))
    try:
        assert not can_stop_steps()
        assert WorkBudget(0.01).enforce(lambda: "read") == "read"
        assert signal.getsignal(signal.SIGPROF) is not None and ticks == []
    finally:
        signal.signal(signal.SIGPROF, previous)


def mail(body: str | bytes, headers: str = "", content_type: str = "text/plain") -> bytes:
    """Return a UTF-8 mail with ``body`` and extra header lines."""
    data = body.encode() if isinstance(body, str) else body
    head = (
        "From: 王芳 <wang.fang@example.com>\r\nTo: coord@example.com\r\nSubject: 通知\r\n"
        f"Date: Mon, 9 Oct 2023 10:00:00 +0800\r\n{headers}"
        f"Content-Type: {content_type}; charset=utf-8\r\n\r\n"
    )
    return head.encode() + data


# shapes that took seconds or crashed before (each from a fuzzing find, written anew here)
COSTLY = {
    "spaces_before_a_clock": mail("请于" + " " * 60_000 + "下午3点前回复"),
    "thousands_of_at_signs_in_from": mail("hi", headers="Cc: x" + "@x" * 20_000 + "\r\n"),
    "at_signs_inside_angle_brackets": mail("hi", headers="To: <" + "a@" * 20_000 + ">\r\n"),
    "spaces_after_commas_in_to": mail("hi", headers="To: a," + " " * 30_000 + "b\r\n"),
    "quoted_semicolons_in_parameters": mail(
        "hi", headers='Content-Disposition: inline; filename="' + "a;" * 40_000 + '"\r\n'
    ),
    "rfc2231_continuation_mix": mail(
        "hi",
        headers="Content-Disposition: attachment; filename*0*=utf-8''a; filename*=utf-8''b\r\n",
    ),
    "one_huge_html_paragraph": mail(
        "<p>" + "项目 <b>进度</b> 正常 " * 40_000 + "</p>", content_type="text/html"
    ),
    "unclosed_angle_brackets_in_huge_html": mail(
        "<div>" + "<p 报价单" * 60_000 + "</div>", content_type="text/html"
    ),
    "thousands_of_unclosed_start_tags": mail(
        "<div>已收到，周四前回复。</div>" + "<fa5605d 1" * 12_000, content_type="text/html"
    ),
    "unclosed_start_tags_after_a_table": mail(
        "<table><tr><td>张三</td><td>周五前提交报表</td></tr></table>" + "<fa5605d 1" * 12_000,
        content_type="text/html",
    ),
    "unclosed_script_tags": mail("<script>" * 30_000 + "x" * 300_000, content_type="text/html"),
    "words_glued_to_one_address": mail(
        "请张三周五前回复。",
        headers="To: " + "王 工, " * 10_000 + "周强 <zhou.qiang@example.com>\r\n",
    ),
    "thousands_of_reply_prefixes": mail(
        "hi", headers="Subject: " + "Re: " * 50_000 + "【通知】\r\n"
    ),
    "holiday_words_repeated": mail("请十一后交，春节前交，节后第一个工作日交。" * 3_000),
    "a_megabyte_of_task_sentences": mail("请张三于10月15日前提交测试报告。\n" * 60_000),
    # the client-footer pattern backtracked over a run of spaces: minutes (parse_fuzz, spam.eml)
    "a_line_of_twenty_thousand_spaces": mail("已阅\n" + " " * 20_000 + "\n谢谢"),
    "spaces_and_dashes_alternating": mail("收到\n" + " -" * 10_000 + "\n"),
    # each word a quote container needs sent the container scan back to the markup's start
    "a_megabyte_of_container_words": mail("<p>" + "cite " * 200_000, content_type="text/html"),
    # a tag holding a container's word was read in quadratic time: its attribute names tried
    # from every letter of a long run without "=", its name given back letter by letter
    "a_long_word_in_a_container_tag": mail(
        "<p>已收到</p><div cite " + "a" * 40_000 + ">", content_type="text/html"
    ),
    "a_long_unclosed_tag_name": mail(
        "<p>已收到</p><cite" + "a" * 40_000 + " x<p>", content_type="text/html"
    ),
    # the table reader, fed 64 KB at a time, read an unclosed start tag again from its start
    # with each chunk: quadratic (1 MB 1.6 s, 4 MB 20 s)
    "an_unclosed_start_tag_after_a_table": mail(
        "<table><tr><td>张三</td><td>周五前提交报表</td></tr></table><p 说明 " + "a=1 " * 300_000,
        content_type="text/html",
    ),
}


@pytest.mark.parametrize("raw", COSTLY.values(), ids=COSTLY.keys())
def test_costly_shapes_stay_within_the_budget(raw: bytes) -> None:
    """Each shape that once cost seconds or crashed parses or is rejected within the budget,
    and not because the budget stopped it: its step is cheap now, not merely cut short."""
    parse_within_budget(raw)
    try:
        parse_message(raw, ParseContext())
    except WorkBudgetExceeded as e:
        pytest.fail(f"stopped by the budget, not read: {e.reason}")
    except LimitExceeded:
        pass


def test_the_rfc2231_mix_keeps_the_first_name() -> None:
    """``filename*0*=…; filename*=…`` (a TypeError in the stdlib) gives the first form's name."""
    parsed = parse_message(COSTLY["rfc2231_continuation_mix"], ParseContext())
    assert [a.filename for a in parsed.attachments] == ["a"]


def test_long_text_reads_items_from_its_start_and_says_so() -> None:
    """Items come from the first MAX_ITEM_TEXT_CHARS of a long mail, and a defect says so."""
    parsed = parse_message(COSTLY["a_megabyte_of_task_sentences"], ParseContext())
    assert len(parsed.new_text) > MAX_ITEM_TEXT_CHARS
    assert any(
        f"action items read from the first {MAX_ITEM_TEXT_CHARS}" in d for d in parsed.defects
    )


def test_huge_html_is_stripped_not_laid_out() -> None:
    """HTML over MAX_LAYOUT_CHARS is read by the linear stripper, and a defect says so."""
    defects: list[str] = []
    text = html_to_text("<div>第一段</div><p>" + "x" * MAX_LAYOUT_CHARS + "</p>", defects)
    assert text.startswith("第一段\n") and "too large to lay out" in defects[0]


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        ("<p>a</p><p>b</p>", "\na\n\nb\n"),
        ("<table><tr><td>谁</td><td>何时</td></tr></table>", "\n\n 谁 |  何时 | \n\n"),
        ("<head><title>t</title></head>正文<script>var x;</script>完", "正文完"),
        ("前<style>p{}", "前"),
        ("a &amp; b<br>c", "a & b\nc"),
    ],
)
def test_strip_tags(markup: str, expected: str) -> None:
    """The fallback stripper keeps blocks on their own lines and drops scripts and styles."""
    assert strip_tags(markup) == expected


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ("attachment; filename*0*=utf-8''a; filename*=utf-8''b", "attachment; filename*=utf-8''a"),
        ("attachment; filename*1=b; filename=c", "attachment; filename=b"),
        ("text/plain; charset=gbk; name*0=a; name*1=b", "text/plain; charset=gbk; name=a"),
        ("inline; broken; size=3", "inline; size=3"),
    ],
)
def test_simplified_parameters(params: str, expected: str) -> None:
    """The fallback keeps one parameter per name in its simplest form."""
    assert simplified(params) == expected


@pytest.mark.parametrize("encoding", ["utf-8", "gb18030"])
def test_megabytes_of_text_parse_without_a_label(encoding: str) -> None:
    """Megabytes of unlabelled text are guessed from their start and parsed, not quarantined."""
    line = "仓库盘点：请各库管员于周五前核对A区货位，差异写入附表。Stock check: zone A.\n"
    raw = b"From: a@example.com\r\nSubject: stock\r\nContent-Type: text/plain\r\n\r\n" + (
        line * 60_000
    ).encode(encoding)
    parsed = parse_message(raw, ParseContext())
    assert parsed.body_text.startswith(line) and parsed.body_text.count(line) == 60_000
    assert any("new_text read from the first" in d for d in parsed.defects)


# shapes that make the stdlib parser itself slow: refused before or while it runs
REFUSED = {
    "delivery_status_of_blank_lines": (
        b"From: MAILER-DAEMON@mx.example.net\r\nContent-Type: multipart/report; boundary=r\r\n\r\n"
        b"--r\r\nContent-Type: message/delivery-status\r\n\r\n" + b"\n" * 50_000 + b"--r--\r\n",
        f"more than {MAX_PARTS} MIME parts",
    ),
    "tens_of_thousands_of_empty_parts": (
        b"From: a@example.com\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
        + b"--b\r\n\r\nx\r\n" * 20_000
        + b"--b--\r\n",
        f"more than {MAX_PARTS} MIME parts",
    ),
    "millions_of_lines": (
        b"From: a@example.com\r\nSubject: log\r\n\r\n" + b"ok\n" * 1_500_000,
        "lines, over the limit of 1000000",
    ),
}


@pytest.mark.parametrize(("raw", "reason"), REFUSED.values(), ids=REFUSED.keys())
def test_parser_heavy_shapes_are_refused_quickly(raw: bytes, reason: str) -> None:
    """Too many lines or parts is a quarantine reason given before the cost is paid."""
    with pytest.raises(LimitExceeded, match=reason):
        parse_message(raw, ParseContext())


def test_a_display_name_of_thousands_of_words_is_dropped() -> None:
    """Words glued to one address by unquoted commas make no name, and a defect says so."""
    parsed = parse_message(COSTLY["words_glued_to_one_address"], ParseContext())
    assert parsed.to[-1].address == "zhou.qiang@example.com" and parsed.to[-1].name == ""
    assert any("display name of" in d for d in parsed.defects)


def test_only_the_first_body_parts_are_read() -> None:
    """Thousands of inline text parts are read up to MAX_BODY_PARTS, and a defect says so."""
    parts = b"".join(
        b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + f"第{i}段\r\n".encode()
        for i in range(MAX_BODY_PARTS + 50)
    )
    raw = b"From: a@example.com\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" + parts
    parsed = parse_message(raw + b"--b--\r\n", ParseContext())
    assert parsed.body_text.startswith("第0段") and f"第{MAX_BODY_PARTS - 1}段" in parsed.body_text
    assert f"第{MAX_BODY_PARTS}段" not in parsed.body_text
    assert any(f"more than {MAX_BODY_PARTS} body parts" in d for d in parsed.defects)
