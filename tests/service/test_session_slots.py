"""The SMTP sessions a mailbox allows, shared through the database by every delivery thread.

Each case runs on SQLite and PostgreSQL. Holders are told apart as the workers of a
deployment are: by machine, process and a token of their own; a process of this machine that
no longer runs is a real one that has exited.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from mailflow.errors import SessionsBusy
from mailflow.service.session_slots import LEASE, SessionSlots
from mailflow.store import session_slots
from mailflow.store.db import make_engine, make_session_factory, writing

ACCOUNT = "smtp://coord%40example.com@smtp.office365.com:587"
# a hold by another machine's worker: alive as far as this machine can tell
ELSEWHERE = "worker-2.example.com:4242:0badf00d"


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()


def _gate(sessions: sessionmaker[Session], count: int, patience_s: float = 0.0) -> SessionSlots:
    return SessionSlots(sessions, ACCOUNT, count, patience_s=patience_s)


def _hold(sessions: sessionmaker[Session], slot: int, holder: str, until: datetime) -> None:
    with writing(sessions) as session:
        session_slots.ensure(session, ACCOUNT, slot + 1)
        now = datetime.now(UTC)
        assert (
            session_slots.take(session, ACCOUNT, slot + 1, holder, now, until, _never) is not None
        )


def _never(holder: str) -> bool:
    return False


def _holders(sessions: sessionmaker[Session]) -> list[tuple[int, str]]:
    with sessions() as session:
        return session_slots.held(session, ACCOUNT, datetime.now(UTC))


def _exited_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return int(done.stdout)


def test_no_more_holders_than_sessions_and_one_given_back_is_taken_again(
    sessions: sessionmaker[Session],
) -> None:
    gates = [_gate(sessions, 3) for _ in range(4)]
    for gate in gates[:3]:
        gate.enter()
    assert sorted(g.slot for g in gates[:3] if g.slot is not None) == [0, 1, 2]
    with pytest.raises(SessionsBusy) as busy:
        gates[3].enter()
    assert "all 3 SMTP sessions the mailbox allows (sessions=3)" in str(busy.value)
    assert ACCOUNT in str(busy.value)
    gates[1].leave()
    gates[3].enter()
    assert gates[3].slot == 1
    assert sorted(holder for _slot, holder in _holders(sessions)) == sorted(
        g.holder for g in (gates[0], gates[2], gates[3])
    )


def test_a_hold_that_ran_out_is_taken_and_its_old_holder_holds_another(
    sessions: sessionmaker[Session],
) -> None:
    """A worker that stopped renewing (a hung send, a paused machine) loses its session to
    the next thread; when it comes back, its next send holds a free one, never a taken one."""
    late = _gate(sessions, 2)
    late.enter()
    assert late.slot == 0
    with writing(sessions) as session:  # its hold runs out: as if three minutes had passed
        past = datetime.now(UTC) - timedelta(seconds=1)
        assert session_slots.renew(session, ACCOUNT, 0, late.holder, past)
    other = _gate(sessions, 2)
    other.enter()
    assert other.slot == 0
    late._renew_at = 0.0  # its next send renews the hold it had
    assert late.due()
    late.enter()
    assert late.slot == 1
    assert {holder for _slot, holder in _holders(sessions)} == {late.holder, other.holder}


def test_a_session_held_by_a_process_of_this_machine_that_is_gone_is_free_at_once(
    sessions: sessionmaker[Session],
) -> None:
    """kill -9 of a worker: its holds are not given back; a worker of the same machine sees
    that the process is gone and takes them without waiting for the hold to run out."""
    until = datetime.now(UTC) + LEASE
    _hold(sessions, 0, f"{socket.gethostname()}:{_exited_pid()}:deadbeef", until)
    gate = _gate(sessions, 1)
    gate.enter()
    assert gate.slot == 0


def test_a_session_held_by_a_killed_process_not_yet_reaped_is_free_at_once(
    sessions: sessionmaker[Session],
) -> None:
    """A worker killed with kill -9 whose parent has not reaped it (a zombie: a slow
    supervisor, or a script that never waits) has ended though its pid still answers."""
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        worker.kill()
        os.waitid(os.P_PID, worker.pid, os.WEXITED | os.WNOWAIT)  # ended, and left unreaped
        until = datetime.now(UTC) + LEASE
        _hold(sessions, 0, f"{socket.gethostname()}:{worker.pid}:deadbeef", until)
        gate = _gate(sessions, 1)
        gate.enter()
        assert gate.slot == 0
    finally:
        worker.wait()


def test_a_session_held_elsewhere_is_waited_for_until_its_hold_runs_out(
    sessions: sessionmaker[Session],
) -> None:
    _hold(sessions, 0, ELSEWHERE, datetime.now(UTC) + LEASE)
    with pytest.raises(SessionsBusy):
        _gate(sessions, 1).enter()
    _hold(sessions, 0, ELSEWHERE, datetime.now(UTC) - timedelta(seconds=1))  # ran out
    gate = _gate(sessions, 1)
    gate.enter()
    assert gate.slot == 0


def test_a_lower_limit_leaves_the_sessions_above_it_unused(
    sessions: sessionmaker[Session],
) -> None:
    """An administrator who lowers ``sessions=`` from 3 to 1: the rows above it stay, unused."""
    for _ in range(3):
        _gate(sessions, 3).enter()
    first = _gate(sessions, 1)
    with pytest.raises(SessionsBusy):
        first.enter()


def test_giving_back_twice_or_with_nothing_held_does_nothing(
    sessions: sessionmaker[Session],
) -> None:
    gate = _gate(sessions, 1)
    gate.leave()
    gate.enter()
    gate.leave()
    gate.leave()
    assert _holders(sessions) == []
    assert gate.due()
