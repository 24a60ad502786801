"""Start-up: a command loads only the libraries its work needs.

The poller and the all-in-one process start often (``--once`` from cron, every restart), and
each library they import costs every start time and memory: LDAP, spreadsheets, calendars,
MSAL, Exchange and Alembic are for the commands and settings that use them. Each case runs
the real command in a fresh interpreter, on the example inbox and a migrated SQLite file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from mailflow.store.migrate import upgrade

REPO = Path(__file__).resolve().parents[1]
# what a mailbox on IMAP or Maildir, a file or SMTP transport and no directory sync never need
NEVER = ["alembic", "ldap3", "openpyxl", "icalendar", "msal", "requests", "exchangelib"]
PROBE = (
    "import sys\n"
    "from mailflow.cli import main\n"
    "try:\n"
    "    main()\n"
    "finally:\n"
    "    print('LOADED', *sorted({m.split('.')[0] for m in sys.modules}), file=sys.stderr)\n"
)


def _loaded(tmp_path: Path, command: list[str], *, example: bool = True) -> set[str]:
    """Run ``mailflow COMMAND`` on the example inbox (or an empty one) and return the
    top-level modules it had loaded at its end."""
    inbox = tmp_path / "inbox"
    if example:
        shutil.copytree(REPO / "examples" / "inbox", inbox)
    for sub in ("cur", "new", "tmp"):
        (inbox / sub).mkdir(parents=True, exist_ok=True)
    database = f"sqlite:///{tmp_path / 'mf.db'}"
    upgrade(database)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILFLOW_")}
    env |= {
        "MAILFLOW_DATABASE_URL": database,
        "MAILFLOW_RULES_DIR": str(REPO / "rules"),
        "MAILFLOW_TEMPLATES_DIR": str(REPO / "templates"),
        "MAILFLOW_SOURCE": f"maildir://{inbox}",
        "MAILFLOW_TRANSPORT": f"file://{tmp_path / 'outbox'}",
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *command],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    [line] = [x for x in done.stderr.splitlines() if x.startswith("LOADED ")]
    return set(line.split()[1:])


def test_the_poller_loads_no_library_it_does_not_use(tmp_path: Path) -> None:
    """Storing the example inbox and deciding about it loads none of them, nor does the
    check of the schema revision."""
    loaded = _loaded(tmp_path, ["poll", "--once"])
    assert "sqlalchemy" in loaded  # the probe saw the command's work
    assert sorted(loaded.intersection(NEVER)) == []


def test_the_calendar_is_loaded_for_the_mail_that_carries_one(tmp_path: Path) -> None:
    """``run --once`` on an empty mailbox loads none of them; answering the example inbox
    sends a deadline's .ics, and only then is the calendar library loaded."""
    assert sorted(_loaded(tmp_path / "empty", ["run", "--once"], example=False) & set(NEVER)) == []
    assert sorted(_loaded(tmp_path / "full", ["run", "--once"]) & set(NEVER)) == ["icalendar"]


def test_the_poller_without_a_shared_broker_loads_no_queue(tmp_path: Path) -> None:
    """``poll --once`` hands mail to a shared broker only when there is one: without
    MAILFLOW_BROKER_URL, Dramatiq stays unloaded."""
    assert "dramatiq" not in _loaded(tmp_path, ["poll", "--once"])


# the script pip writes for a console entry point, with ``{module}`` and ``{function}`` filled
# in; ``{run}`` is what it does when run (pip's own calls the function)
CONSOLE_SCRIPT = (
    "import re\n"
    "import sys\n"
    "from {module} import {function}\n"
    "if __name__ == '__main__':\n"
    "    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n"
    "{run}"
)
# instead of the command: start a worker as the poller starts its parse workers, and print
# which of mailflow's packages the worker had loaded before its first task
ASK_A_WORKER = (
    "    from concurrent.futures import ProcessPoolExecutor\n"
    "    from mailflow.service.parsing import _worker_context\n"
    "    with ProcessPoolExecutor(1, mp_context=_worker_context()) as pool:\n"
    "        task = pool.submit(eval, \"sorted(__import__('sys').modules)\")\n"
    "        print(*[m for m in task.result() if m.startswith('mailflow.')])\n"
)


def _console_script(tmp_path: Path, run: str) -> Path:
    """Write the ``mailflow`` script as pip does for pyproject.toml's entry point."""
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    module, function = project["project"]["scripts"]["mailflow"].split(":")
    script = tmp_path / "mailflow"
    script.write_text(CONSOLE_SCRIPT.format(module=module, function=function, run=run))
    return script


def test_the_mailflow_command_is_the_command_line(tmp_path: Path) -> None:
    """The console script's entry point runs the command line, exit codes included."""
    script = _console_script(tmp_path, "    sys.exit(main())\n")
    done = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "poll" in done.stdout and "status" in done.stdout
    usage = subprocess.run([sys.executable, str(script), "no-such-command"],
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    assert usage.returncode == 2, usage.stderr


def test_a_parse_worker_of_the_mailflow_command_does_not_load_the_command_line(
    tmp_path: Path,
) -> None:
    """multiprocessing runs the main file again in every worker; for the console script that
    must not import the command line (0.16 s of CPU a worker, at every big pass)."""
    script = _console_script(tmp_path, ASK_A_WORKER)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    loaded = done.stdout.split()
    assert "mailflow.service.parsing" in loaded  # the worker was asked, after its start-up
    assert [m for m in loaded if m.startswith("mailflow.cli")] == []
