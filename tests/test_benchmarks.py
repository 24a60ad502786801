"""Every script in benchmarks/ still runs: each at a tiny size, as a subprocess, and prints its
table. Timings are not checked (benchmarks stay benchmarks); the scripts run side by side so
that the whole module costs about as long as the slowest of them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
TIMEOUT_S = 600.0
# delivery.py flushes the machine's Redis database, as tests/jobs/test_end_to_end.py does: the
# two run in one process (pytest-xdist), never at the same time
pytestmark = pytest.mark.xdist_group("machine-brokers")


def _redis_db() -> str:
    """The Redis database this checkout's tests may flush (MAILFLOW_TEST_REDIS_URL's)."""
    url = os.environ.get("MAILFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    return urlparse(url).path.strip("/") or "0"


# script, tiny arguments, a line of the table it must print
RUNS: dict[str, tuple[str, list[str], str]] = {
    "ingest": (
        "ingest.py",
        ["--messages", "10", "--skip-postgres", "--statements", "--cpu"],
        # the result table, then the CPU of each process of the 10-mail run: its wall time and
        # the poller's CPU, which cannot be nothing
        r"│ mailflow poll --once → sqlite [\s\S]*"
        r"^sqlite-10-0@example\.test +\d+\.\d\d +(?!0\.00 )\d+\.\d\d ",
    ),
    "ingest-parse-only": (
        "ingest.py",
        ["--parse-only", "--messages", "20", "--people", "40"],
        r"│ parse_message, 40 people ",
    ),
    "delivery": (
        "delivery.py",
        # --kills 2: the kill -9 path (delivery_kills.py) runs too: nothing lost, all rows sent;
        # --sent-copies: with the server filing copies in Dovecot and the sweep looking there;
        # --server-sessions 2: the server refuses a third session, the workers share two
        [
            *("--rows", "20", "--workers", "1", "--redis-db", _redis_db()),
            *("--timeout", "300", "--kills", "2", "--sent-copies", "--server-sessions", "2"),
        ],
        r"^server limit 2 sessions: at most [12] at once, 0 refused$[\s\S]*mails/s[\s\S]*"
        r"^cut-short deliveries found in the Sent folder by the sweep",
    ),
    "latency": (
        "latency.py",
        ["--mails", "2", "--warmup", "1", "--baseline", "2", "--timeout", "60"],
        r"\bp50\b",
    ),
    "items_eval": ("items_eval.py", [], r"checks hold"),
    "parse_fuzz": ("parse_fuzz.py", ["--cases", "30"], r"^parse_message\s+[\d.]+"),
    "parse_shapes": (
        "parse_shapes.py",
        ["--sizes", "1", "--only", "nested"],
        r"^parse_message\s+[\d.]+",
    ),
    "sweep": (
        "sweep.py",
        ["--items", "300", "--ledgers", "30", "--thread", "30"],
        r"^\+5 s\s+[\d.]+",
    ),
    "search": ("search.py", ["--messages", "30", "--repeat", "1"], r"^\s*联调\s+\d+"),
    "imap_folder": (
        "imap_folder.py",
        ["--messages", "300", "--batch", "50"],
        r"^mailflow first start\s+[\d.]+",
    ),
}


def test_every_benchmark_script_has_a_tiny_run() -> None:
    """A script added to benchmarks/ gets its line in RUNS (mailgen.py, statement_times.py,
    process_cpu.py, delivery_kills.py and mail_shapes.py are libraries of ingest.py,
    delivery.py and parse_shapes.py)."""
    libraries = {"mailgen.py", "statement_times.py", "process_cpu.py", "delivery_kills.py"}
    libraries.add("mail_shapes.py")
    scripts = {p.name for p in BENCHMARKS.glob("*.py")} - libraries
    assert scripts == {script for script, _, _ in RUNS.values()}


@dataclass
class Finished:
    command: list[str]
    code: int
    output: str
    seconds: float


@pytest.fixture(scope="module")
def finished() -> Iterator[dict[str, Finished]]:
    """Start every tiny run at once; wait for them all."""
    env = {**os.environ, "MAILFLOW_BENCH_NO_WAIT": "1", "PYTHONUNBUFFERED": "1"}
    started: dict[str, tuple[list[str], subprocess.Popen[str], float]] = {}
    for name, (script, args, _) in RUNS.items():
        command = [sys.executable, str(BENCHMARKS / script), *args]
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        started[name] = (command, process, time.monotonic())
    done: dict[str, Finished] = {}
    try:
        for name, (command, process, at) in started.items():
            try:
                output, _ = process.communicate(timeout=max(1.0, at + TIMEOUT_S - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                output, _ = process.communicate()
                output += f"\n(killed after {TIMEOUT_S:.0f} s)"
            done[name] = Finished(command, process.returncode, output, time.monotonic() - at)
        yield done
    finally:
        for _, process, _ in started.values():
            if process.poll() is None:
                process.kill()
                process.wait()


@pytest.mark.parametrize("name", list(RUNS))
def test_a_tiny_run_exits_0_and_prints_its_table(name: str, finished: dict[str, Finished]) -> None:
    run = finished[name]
    shown = f"{' '.join(run.command)} (exit {run.code}, {run.seconds:.0f} s):\n{run.output[-4000:]}"
    assert run.code == 0, shown
    assert re.search(RUNS[name][2], run.output, re.MULTILINE), shown


_BUSY_WORKER = """
import multiprocessing, sys, time

def spin(seconds):
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass

if __name__ == "__main__":
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([])
    with context.Pool(1) as pool:
        pool.apply(spin, (0.3,))
    spin(0.2)
"""


def test_the_cpu_of_a_command_and_of_the_workers_its_forkserver_forks_is_told_apart(
    tmp_path: Path,
) -> None:
    """``process_cpu`` (``ingest.py --cpu``) gives the command's own CPU to ``poller`` and the
    CPU of the processes its forkserver forks to ``parse workers``."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from process_cpu import Sampler
    finally:
        sys.path.remove(str(BENCHMARKS))
    sampler = Sampler()
    sampler.start()
    script = tmp_path / "busy.py"  # a file: the workers find ``spin`` in it
    script.write_text(_BUSY_WORKER)
    process = subprocess.Popen([sys.executable, str(script)])
    sampler.wait(process)
    assert process.wait() == 0
    seconds = sampler.result(None, None).seconds
    assert seconds["poller"] >= 0.2
    assert 0.2 <= seconds["parse workers"] < 0.6  # 0.3 s, up to one reading interval missed
    assert seconds["forkserver"] < 0.3  # a started interpreter, nothing more
