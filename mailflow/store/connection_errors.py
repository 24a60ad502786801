"""Turn a database driver's connection failure into one secret-free line (CLI exit code 1).

A missing PostgreSQL database, a wrong role, a server that is down and an SQLite file that
cannot be opened all arrive as SQLAlchemy ``OperationalError``/``InterfaceError`` with a long
driver message; the operator needs the server, the database and the driver's one reason.
Imports nothing of mailflow but ``errors``.
"""

from __future__ import annotations

import re

from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    ArgumentError,
    DatabaseError,
    DBAPIError,
    InterfaceError,
    OperationalError,
)

from mailflow.errors import DatabaseUnavailable

# libpq prefixes the server's own words with a severity: that part is the reason
_SEVERITY = re.compile(r"\b(?:FATAL|ERROR|PANIC):\s+(.*)")
_SPACE = re.compile(r"\s+")
_DRIVER_PREFIX = re.compile(r"^\([\w.]+\)\s*")  # "(psycopg.OperationalError) "


def unusable_database(error: BaseException, url: str) -> DatabaseUnavailable | None:
    """Return a DatabaseUnavailable naming the database and the driver's reason when ``error``
    is a failure to connect or to use the connection, else None. The password is never shown."""
    if isinstance(error, OSError):  # the SQLite file's folder cannot be made
        reason = f"{error.strerror or type(error).__name__}: {error.filename}"
    elif isinstance(error, OperationalError | InterfaceError) or type(error) is DatabaseError:
        reason = _reason(error)  # DatabaseError itself: SQLite's "file is not a database"
    else:  # integrity and programming errors are bugs, not an unusable database
        return None
    return DatabaseUnavailable(f"the database {_shown(url)} cannot be used: {reason}")


def _reason(error: DBAPIError) -> str:
    text = str(error.orig) if error.orig is not None else str(error)
    text = _DRIVER_PREFIX.sub("", text.strip())
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        match = _SEVERITY.search(line)
        if match:
            return _SPACE.sub(" ", match.group(1))
    return _SPACE.sub(" ", lines[0]) if lines else type(error.orig or error).__name__


def _shown(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(MAILFLOW_DATABASE_URL)"
