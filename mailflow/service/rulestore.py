"""The last good rules, kept in the database (invariant 11 across restarts).

Every set of rule files and templates that validates is archived (one tar of both folders)
in ``rule_sets``; a process that starts while an edit is broken unpacks the newest one into
a private folder and runs on it, and reports the broken files. The state called ``rules``
says which version is in force and the last reload error, for ``mailflow status``.
"""

from __future__ import annotations

import hashlib
import io
import logging
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from mailflow.store import service_state
from mailflow.store.db import writing
from mailflow.store.service_state import RULES_STATE

log = logging.getLogger(__name__)

RULES_FOLDER, TEMPLATES_FOLDER = "rules", "templates"
# in the ``rules`` state: the verdict key of the templates that last passed their check
TEMPLATES_PASSED = "templates_passed"


@dataclass(frozen=True)
class Unpacked:
    """A stored rule set unpacked into a private folder (``root``, removed by ``discard``)."""

    version: int
    root: Path

    @property
    def rules_dir(self) -> Path:
        return self.root / RULES_FOLDER

    @property
    def templates_dir(self) -> Path:
        return self.root / TEMPLATES_FOLDER

    def discard(self) -> None:
        """Remove the private folder."""
        shutil.rmtree(self.root, ignore_errors=True)


def archive(rules_dir: Path, templates_dir: Path) -> bytes:
    """Return one tar of both folders; equal files give equal bytes (sorted, no times)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, folder in ((RULES_FOLDER, rules_dir), (TEMPLATES_FOLDER, templates_dir)):
            for path in sorted(folder.rglob("*")) if folder.is_dir() else []:
                if not path.is_file():
                    continue
                data = path.read_bytes()
                info = tarfile.TarInfo(f"{name}/{path.relative_to(folder).as_posix()}")
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def remember(
    sessions: sessionmaker[Session],
    rules_dir: Path,
    templates_dir: Path,
    source: str,
    templates_key: str | None = None,
) -> int:
    """Keep the folders, which just validated, as the last good set and record that they are
    in force; return the set's version. ``source`` names the folder they were read from;
    ``templates_key`` is the ``verdict_key`` of the templates that passed their check, kept
    for ``templates_passed``."""
    blob = archive(rules_dir, templates_dir)
    now = datetime.now(UTC)
    with writing(sessions) as session:
        version = service_state.save_rule_set(session, hashlib.sha256(blob).hexdigest(), blob, now)
        changes = {"version": version, "loaded_at": now.isoformat(), "source": source}
        if templates_key is not None:
            changes[TEMPLATES_PASSED] = templates_key
        service_state.update_state(session, RULES_STATE, changes | {"broken": False}, now)
    return version


def templates_passed(sessions: sessionmaker[Session]) -> str | None:
    """Return the ``verdict_key`` of the templates that last passed their check here (None
    when none is recorded): templates with the same key need not be checked again."""
    with sessions() as session:
        found = service_state.state(session, RULES_STATE) or {}
    key = found.get(TEMPLATES_PASSED)
    return key if isinstance(key, str) else None


def record_error(
    sessions: sessionmaker[Session], problems: list[str], running: int | None = None
) -> None:
    """Record the problems of rule files that do not validate (the last reload error) and,
    when given, the stored version running instead."""
    now = datetime.now(UTC)
    changes: dict[str, object] = {
        "broken": True,
        "last_error": "\n".join(problems),
        "last_error_at": now.isoformat(),
    }
    if running is not None:
        changes |= {"version": running, "loaded_at": now.isoformat(), "source": "database"}
    with writing(sessions) as session:
        service_state.update_state(session, RULES_STATE, changes, now)


def unpack_newest(sessions: sessionmaker[Session]) -> Unpacked | None:
    """Unpack the newest stored rule set into a private folder; None when none is stored."""
    with sessions() as session:
        row = service_state.newest_rule_set(session)
        if row is None:
            return None
        version, blob = row.id, row.archive
    root = Path(tempfile.mkdtemp(prefix=f"mailflow-rules-v{version}-"))
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r") as tar:
        tar.extractall(root, filter="data")  # our own archive; the filter refuses escapes anyway
    for folder in (RULES_FOLDER, TEMPLATES_FOLDER):
        (root / folder).mkdir(exist_ok=True)
    return Unpacked(version, root)
