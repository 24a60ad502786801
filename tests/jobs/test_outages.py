"""Long-running commands live through their database and broker going away: private
PostgreSQL and Redis servers are killed and started again under a running `mailflow run`
and `mailflow worker`; the processes say so at once and while it lasts, resume, and every
mail is answered exactly once."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from mailflow.store.db import make_engine, make_session_factory
from mailflow.store.migrate import upgrade
from mailflow.store.models import OUTBOX_PENDING, OUTBOX_SENT, Message, OutboxMail
from tests.servers.private import PrivatePostgres, PrivateRabbitmq, PrivateRedis
from tests.servers.smtp import free_port

REPO = Path(__file__).resolve().parents[2]
WAIT_S = 120.0  # the machine is shared and loaded: generous, and only reached on failure


def _mail(message_id: str, subject_b64: str, body: str) -> bytes:
    head = (
        "From: =?utf-8?b?6ams5Li9?= <ma.li@example.com>\r\n"
        "To: =?utf-8?b?6ZKx56OK?= <qian.lei@example.com>\r\n"
        "Cc: coord@example.com\r\n"
        f"Subject: =?utf-8?b?{subject_b64}?=\r\n"
        f"Message-ID: {message_id}\r\n"
        "Date: Tue, 17 Oct 2023 09:12:00 +0800\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
    )
    return head.encode() + body.encode()


# 【任务分配】采购部-冷链包材供应商复检 / 【任务分配】采购部-第四季度钢材询价
INSPECTION = _mail(
    "<coldchain-recheck-1017@example.com>",
    "44CQ5Lu75Yqh5YiG6YWN44CR6YeH6LSt6YOoLeWGt+mTvuWMheadkOS+m+W6lOWVhuWkjeajgA==",
    "钱磊：\r\n\r\n上批保温箱有两箱密封条开裂，请安排复检。\r\n"
    "任务：抽检供应商新到批次保温箱；责任人：钱磊；完成时限：2023-10-20；"
    "交付标准：复检报告（含照片）\r\n\r\n马丽\r\n采购部\r\n",
)
QUOTES = _mail(
    "<steel-rfq-q4-1017@example.com>",
    "44CQ5Lu75Yqh5YiG6YWN44CR6YeH6LSt6YOoLeesrOWbm+Wto+W6pumSouadkOivouS7tw==",
    "钱磊：\r\n\r\n1. 钱磊负责在10月24日前收齐三家钢厂报价，交付询价对比表\r\n\r\n马丽\r\n",
)


class Mailflow:
    """One `mailflow` process with its own environment; its log goes to a file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._out = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mailflow", *args],
            env=env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            cwd=env["MAILFLOW_WORK"],
        )

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=60)
        finally:
            self._out.close()


def _until(what: str, check: Callable[[], bool], *processes: Mailflow) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        for p in processes:
            assert p.proc.poll() is None, f"mailflow exited while waiting for {what}:\n{p.text()}"
        if check():
            return
        time.sleep(0.2)
    logs = "\n---\n".join(p.text()[-4000:] for p in processes)
    raise AssertionError(f"timed out waiting for {what}\n{logs}")


@pytest.fixture
def site(tmp_path: Path) -> dict[str, str]:
    """The environment of a mailflow installation in ``tmp_path``: the example inbox as a
    Maildir, .eml files as transport, the shipped rules."""
    shutil.copytree(REPO / "examples" / "inbox", tmp_path / "inbox")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILFLOW_")}
    env |= {
        "MAILFLOW_WORK": str(tmp_path),
        "MAILFLOW_SOURCE": f"maildir://{tmp_path / 'inbox'}",
        "MAILFLOW_TRANSPORT": f"file://{tmp_path / 'sent'}",
        "MAILFLOW_RULES_DIR": str(REPO / "rules"),
        "MAILFLOW_TEMPLATES_DIR": str(REPO / "templates"),
        "MAILFLOW_POLL_INTERVAL_S": "1",
        "MAILFLOW_PARSE_WORKERS": "0",
        "PYTHONPATH": str(REPO),
    }
    return env


class Ledger:
    """The database and the sent folder, as a test reads them."""

    def __init__(self, url: str, sent: Path) -> None:
        self.engine = make_engine(url)
        self.sessions = make_session_factory(engine=self.engine)
        self.sent = sent

    def count(self, *where: object) -> int:
        try:
            with self.sessions() as s:
                return int(
                    s.scalar(select(func.count()).select_from(OutboxMail).where(*where)) or 0
                )
        except Exception:
            return -1  # the database is away

    def stored(self, message_id: str) -> bool:
        try:
            with self.sessions() as s:
                return (
                    s.scalar(select(Message.id).where(Message.message_id == message_id)) is not None
                )
        except Exception:
            return False

    def all_sent(self) -> bool:
        return self.count() > 0 and self.count(OutboxMail.status == OUTBOX_PENDING) == 0

    def answered(self, message_id: str) -> bool:
        answers = self.count(OutboxMail.in_reply_to == message_id, OutboxMail.status == OUTBOX_SENT)
        return answers > 0 and self.all_sent()

    def check_once_each(self) -> None:
        """Every sent row is one .eml file, and no Message-ID was sent twice."""
        with self.sessions() as s:
            rows = list(
                s.scalars(select(OutboxMail.message_id).where(OutboxMail.status == OUTBOX_SENT))
            )
        files = [message_from_bytes(p.read_bytes())["Message-ID"] for p in self.sent.glob("*.eml")]
        assert sorted(files) == sorted(rows)
        assert len(set(files)) == len(files)

    def close(self) -> None:
        self.engine.dispose()


@pytest.fixture
def postgres_site(
    site: dict[str, str], private_postgres: PrivatePostgres, tmp_path: Path
) -> Iterator[tuple[dict[str, str], Ledger]]:
    """The site on the private PostgreSQL, migrated."""
    upgrade(private_postgres.url)
    ledger = Ledger(private_postgres.url, tmp_path / "sent")
    yield site | {"MAILFLOW_DATABASE_URL": private_postgres.url}, ledger
    ledger.close()


def _status(env: dict[str, str]) -> tuple[int, dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-m", "mailflow", "status", "--json"],
        env=env,
        cwd=env["MAILFLOW_WORK"],
        capture_output=True,
        timeout=120,
    )
    return done.returncode, json.loads(done.stdout)


def _metrics(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=60) as answer:
        text = answer.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _serving(port: int) -> bool:
    try:
        _metrics(port)
    except OSError:
        return False
    return True


def _events(log: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.splitlines() if line.startswith("{")]


def test_run_waits_out_postgresql_killed_and_restarted(
    postgres_site: tuple[dict[str, str], Ledger], private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    """`mailflow run` says at once that the database is away and again while it stays away,
    keeps running, and after the restart stores and answers the mail that came meanwhile:
    every answer sent once. `status` and the metrics show the outage as it happens."""
    env, ledger = postgres_site
    port = free_port()
    env = env | {"MAILFLOW_METRICS_PORT": str(port), "MAILFLOW_LOG_FORMAT": "json"}
    run = Mailflow(["run"], env, tmp_path / "run.log")
    try:
        _until("the example inbox answered", ledger.all_sent, run)
        code, doc = _status(env)
        assert (code, doc["healthy"]) == (0, True), doc
        [poller] = doc["pollers"]
        assert poller["active"] and poller["fetched_at"].endswith("+08:00")
        metrics = _metrics(port)
        assert metrics[("mailflow_up", (("server", "database"),))] == 1.0
        assert metrics[("mailflow_messages", (("status", "stored"),))] == 15.0
        assert metrics[("mailflow_poller_active", (("source", poller["source"]),))] == 1.0
        assert metrics[("mailflow_events_total", (("event", "stored"),))] == 15.0
        assert metrics[("mailflow_events_total", (("event", "sent"),))] >= 7.0
        private_postgres.kill()
        _until("the outage reported", lambda: "cannot reach the database" in run.text(), run)
        code, doc = _status(env)
        assert code == 1 and doc["database"]["reachable"] is False
        assert _metrics(port)[("mailflow_up", (("server", "database"),))] == 0.0
        (tmp_path / "inbox" / "new" / "1697505120.M1P1.coldchain").write_bytes(INSPECTION)
        _until(
            "the outage reported again",
            lambda: "still cannot reach the database after" in run.text(),
            run,
        )
        private_postgres.start()
        _until(
            "the new mail answered",
            lambda: ledger.answered("<coldchain-recheck-1017@example.com>"),
            run,
        )
        _until("the recovery reported", lambda: "database is reachable again" in run.text(), run)
        (tmp_path / "inbox" / "new" / "1697505180.M2P1.steel").write_bytes(QUOTES)
        _until(
            "mail after the outage answered",
            lambda: ledger.answered("<steel-rfq-q4-1017@example.com>"),
            run,
        )
    finally:
        code = run.stop()
    assert code == 0, run.text()
    ledger.check_once_each()
    events = _events(run.text())
    assert all(e["time"].endswith("+08:00") for e in events)
    for kind, least in (("stored", 17), ("decided", 15), ("sent", 8)):
        said = [e for e in events if e.get("event") == kind]
        assert len(said) >= least and all(e["message_id"].startswith("<") for e in said), kind


def test_worker_and_run_wait_out_the_broker_killed_and_restarted(
    site: dict[str, str], private_broker: PrivateRedis | PrivateRabbitmq, tmp_path: Path
) -> None:
    """With the broker (Redis, RabbitMQ) killed, the worker and the poller say so at once and
    while it lasts, and `status` is unhealthy; mail decided meanwhile waits in the outbox and
    goes out once the broker is back, each answer once."""
    url = f"sqlite:///{tmp_path / 'mailflow.db'}"
    upgrade(url)
    ledger = Ledger(url, tmp_path / "sent")
    env = site | {"MAILFLOW_DATABASE_URL": url, "MAILFLOW_BROKER_URL": private_broker.url}
    port = free_port()
    run = Mailflow(["run"], env, tmp_path / "run.log")
    worker = Mailflow(["worker"], env | {"MAILFLOW_METRICS_PORT": str(port)}, tmp_path / "w.log")
    try:
        _until("the example inbox answered", ledger.all_sent, run, worker)
        private_broker.kill()
        for p in (run, worker):
            _until(
                "the outage reported",
                lambda p=p: "cannot reach the broker" in p.text(),
                run,
                worker,
            )  # type: ignore[misc]
        (tmp_path / "inbox" / "new" / "1697505120.M1P1.coldchain").write_bytes(INSPECTION)
        _until(
            "the new mail stored",
            lambda: ledger.stored("<coldchain-recheck-1017@example.com>"),
            run,
            worker,
        )
        _until(
            "the outage reported again",
            lambda: "still cannot reach the broker after" in worker.text(),
            run,
            worker,
        )
        assert ledger.count(OutboxMail.status == OUTBOX_PENDING) > 0
        code, doc = _status(env)
        assert code == 1 and doc["broker"]["reachable"] is False
        assert _metrics(port)[("mailflow_up", (("server", "broker"),))] == 0.0
        private_broker.start()
        assert (
            _metrics(port)[
                (
                    "mailflow_process_info",
                    (
                        (
                            "broker",
                            "redis" if "redis" in env["MAILFLOW_BROKER_URL"] else "rabbitmq",
                        ),
                        ("command", "worker"),
                    ),
                )
            ]
            == 1.0
        )
        _until(
            "the new mail answered",
            lambda: ledger.answered("<coldchain-recheck-1017@example.com>"),
            run,
            worker,
        )
        for p in (run, worker):
            _until(
                "the recovery reported",
                lambda p=p: "broker is reachable again" in p.text(),
                run,
                worker,
            )  # type: ignore[misc]
        # the outage is told by mailflow, not by every reconnect of Dramatiq's and pika's
        assert "Consumer encountered a connection error" not in worker.text()
        assert " pika." not in worker.text() and " pika." not in run.text()
    finally:
        codes = (run.stop(), worker.stop())
        ledger.close()
    assert codes == (0, 0), run.text() + worker.text()
    ledger.check_once_each()


def test_scheduler_started_while_postgresql_is_down_waits_for_it(
    postgres_site: tuple[dict[str, str], Ledger], private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    """A scheduler started during an outage does not exit: it says it waits for the database,
    keeps saying so, and starts (keeping the rules as version 1) once the database is back."""
    env, _ = postgres_site
    private_postgres.kill()
    port = free_port()
    env = env | {"MAILFLOW_METRICS_PORT": str(port)}
    scheduler = Mailflow(["scheduler"], env, tmp_path / "scheduler.log")
    try:
        _until(
            "the outage reported",
            lambda: "start-up: cannot reach the database" in scheduler.text(),
            scheduler,
        )
        _until(
            "the outage reported again",
            lambda: "start-up: still cannot reach the database after" in scheduler.text(),
            scheduler,
        )
        private_postgres.start()
        _until(
            "the scheduler started",
            lambda: "database is reachable again" in scheduler.text() and _status(env)[1]["rules"],
            scheduler,
        )
        assert _status(env)[1]["rules"]["version"] == 1
        _until("metrics served", lambda: _serving(port), scheduler)
        assert _metrics(port)[("mailflow_rules_version", ())] == 1.0
    finally:
        code = scheduler.stop()
    assert code == 0, scheduler.text()
