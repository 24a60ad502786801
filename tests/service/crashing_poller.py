"""Runs `mailflow poll --once` and SIGKILLs itself at a chosen point (a crash-safety driver).

Usage: python crashing_poller.py after_commit|before_commit

- after_commit: dies when the first batch is committed, before the mailbox marks it processed
  (at the source's acknowledge).
- before_commit: dies inside the first batch's transaction, after the rows were written and
  before the commit.

Fault injection only: the code under test runs unchanged up to the kill.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from mailflow import cli
from mailflow.service import ingest
from mailflow.sources.imap import ImapSource


def _die(*_args: Any, **_kwargs: Any) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    phase = sys.argv[1]
    if phase == "after_commit":
        ImapSource.acknowledge = _die  # type: ignore[method-assign]
    elif phase == "before_commit":
        ingest._advance = _die
    else:
        raise SystemExit(f"unknown phase {phase!r}")
    sys.argv = ["mailflow", "poll", "--once"]
    cli.main()


if __name__ == "__main__":
    main()
