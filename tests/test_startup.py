"""Start-up: a command loads only the libraries its work needs.

The poller and the all-in-one process start often (``--once`` from cron, every restart), and
each library they import costs every start time and memory: LDAP, spreadsheets, calendars,
MSAL, Exchange and Alembic are for the commands and settings that use them. Operators run
``--help`` and ``status`` by hand and from health checks, and the listings (``messages list``,
``items list``, ``outbox list``, ``thread``) by hand, where the database layer, templates and
the service layer are most of the wait. Each case runs the real command in a fresh
interpreter, on the example inbox and a migrated SQLite file.
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
# prints the top-level modules loaded at the end, and each of mailflow's own by its full name
LOADED = (
    "print('LOADED', *sorted({m.split('.')[0] for m in sys.modules}),\n"
    "      *sorted(m for m in sys.modules if m.startswith('mailflow.')), file=sys.stderr)\n"
)
PROBE = (
    "import sys\n"
    "from mailflow.cli import main\n"
    "try:\n"
    "    main()\n"
    "finally:\n"
    "    " + LOADED
)  # fmt: skip
# ``--help`` of the app and of every command and group under it, one after the other
EVERY_HELP = (
    "import sys\n"
    "import typer\n"
    "from mailflow.cli import app, main\n"
    "def walk(command, path):\n"
    "    yield path\n"
    "    for name, sub in getattr(command, 'commands', {}).items():\n"
    "        yield from walk(sub, [*path, name])\n"
    "paths = list(walk(typer.main.get_command(app), []))\n"
    "assert ['web', 'token', 'create'] in paths, paths\n"
    "for path in paths:\n"
    "    sys.argv = ['mailflow', *path, '--help']\n"
    "    try:\n"
    "        main()\n"
    "    except SystemExit as e:\n"
    "        assert e.code == 0, (path, e.code)\n" + LOADED
)
# what the code of a layer below the command line would load (the layer rules in pyproject)
BELOW_THE_COMMAND_LINE = ["jobs", "service", "store", "sources", "outbound", "directories",
                          "rulebook", "oauth", "ews", "tracking", "mail"]  # fmt: skip


def _loaded(
    tmp_path: Path,
    command: list[str],
    *,
    example: bool = True,
    probe: str = PROBE,
    exit_code: int = 0,
) -> set[str]:
    """Run ``mailflow COMMAND`` (or ``probe``) on the example inbox (or an empty one), check its
    exit code, and return the top-level modules it had loaded at its end, and mailflow's own by
    their full names."""
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
        # the mailflow of this checkout, also when the interpreter's is installed from another
        "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])]),
    }
    done = subprocess.run(
        [sys.executable, "-c", probe, *command],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == exit_code, done.stderr
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


def _layers(loaded: set[str]) -> list[str]:
    """Return the layers below the command line that ``loaded`` holds modules of."""
    return [
        x for x in BELOW_THE_COMMAND_LINE if any(m.startswith(f"mailflow.{x}.") for m in loaded)
    ]


def test_help_loads_no_database_template_or_service_code(tmp_path: Path) -> None:
    """``--help`` of the app and of every command and group: no SQLAlchemy, Jinja2, Dramatiq,
    YAML or web server, and none of mailflow's layers below the command line (commands import
    them when they run)."""
    loaded = _loaded(tmp_path, [], probe=EVERY_HELP)
    assert "mailflow.cli.web" in loaded  # the probe saw the command modules
    libraries = {"sqlalchemy", "jinja2", "dramatiq", "yaml", "fastapi", "uvicorn"}
    assert sorted(loaded & libraries) == []
    assert _layers(loaded) == []


def test_the_app_help_reads_no_settings(tmp_path: Path) -> None:
    """``mailflow --help`` runs no command, and so loads neither the settings nor
    pydantic-settings (a command's ``--help`` reads them: the app's callback runs first)."""
    loaded = _loaded(tmp_path, ["--help"])
    assert "typer" in loaded
    assert sorted(loaded & {"pydantic_settings", "pydantic", "mailflow.settings"}) == []


# what ``status`` has no use for: templates (Jinja2), the queue (Dramatiq), the mail clients,
# and mailflow's rule engine, sources, transports and the runtime that composes them
NOT_FOR_STATUS = ["jinja2", "dramatiq", "imapclient", "aiosmtplib", "mailflow.rulebook.loader",
                  "mailflow.service.runtime", "mailflow.service.rulestore",
                  "mailflow.service.deliver", "mailflow.mail.message"]  # fmt: skip


def test_status_loads_what_it_shows_and_no_more(tmp_path: Path) -> None:
    """``status`` reads the database, the broker's URL and the rules' timezone: no templates,
    queue, mail clients, rule engine, sources or transports (it exits 1 here: no poller runs)."""
    loaded = _loaded(tmp_path, ["status"], exit_code=1)
    assert {"sqlalchemy", "mailflow.service.health"} <= loaded  # the probe saw the check
    assert sorted(loaded.intersection(NOT_FOR_STATUS)) == []
    assert [m for m in loaded if m.startswith(("mailflow.outbound.", "mailflow.sources."))] == []


# the read-only commands operators run by hand, each in a fresh interpreter; the thread is the
# example inbox's meeting minutes
READ_ONLY = [["messages", "list"], ["messages", "list", "--json"], ["items", "list"],
             ["items", "list", "--json"], ["outbox", "list"],
             ["thread", "000001d9f9c6$2b3c4d50$81b6e7f0$@example.com"]]  # fmt: skip
# what showing stored rows has no use for: templates (Jinja2), HTML and the mail parser's
# libraries, the parse workers' multiprocessing, and mailflow's ingest, decisions, clocks and
# repairs (a thread is closed by ``thread close``)
NOT_FOR_READING = ["jinja2", "lxml", "inscriptis", "ahocorasick", "multiprocessing",
                   "dramatiq", "imapclient", "aiosmtplib", "mailflow.rulebook.loader",
                   "mailflow.service.runtime", "mailflow.service.ingest",
                   "mailflow.service.parsing", "mailflow.service.decide",
                   "mailflow.service.clock_mail", "mailflow.service.repair",
                   "mailflow.mail.message", "mailflow.mail.subject",
                   "mailflow.tracking.tracker"]  # fmt: skip


def test_the_read_only_commands_load_what_they_show_and_no_more(tmp_path: Path) -> None:
    """``messages list``, ``items list``, ``outbox list`` and ``thread`` (tables and ``--json``)
    on the stored example inbox read the database and the rules' timezone: no templates, mail
    parser, rule engine, clocks, sources or transports."""
    _loaded(tmp_path, ["poll", "--once"])  # stores the example inbox in tmp_path's database
    for command in READ_ONLY:
        loaded = _loaded(tmp_path, command, example=False)
        assert {"sqlalchemy", "mailflow.service.reader"} <= loaded, command  # it read the rows
        assert sorted(loaded.intersection(NOT_FOR_READING)) == [], command
        prefixes = ("mailflow.outbound.", "mailflow.sources.")
        assert [m for m in loaded if m.startswith(prefixes)] == [], command


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
