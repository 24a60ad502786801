"""Keeping PostgreSQL's planner statistics current while mailflow fills its own tables.

psycopg prepares a statement on the server after its fifth run on a connection, and PostgreSQL
then keeps a generic plan for it until the table's statistics change. A poller keeps its
connection for hours: the plan it made in its first minute, when ``messages`` held a few
hundred rows, was a sequential scan, and stayed one at 30,000 rows (measured: the Message-ID
lookup of a 200-mail batch went from 9 to 345 ms). Autovacuum's ANALYZE is what normally
replaces such plans, but it runs at most once a minute per database, not at all when it is
switched off (as on our test machine), and may lag a bulk import by far more.

So the writers check after their work whether a table has changed by more than its own size
(and 500 rows) since its last ANALYZE, and analyse it then. A plan made at half today's size is
still the right plan; what goes wrong is a plan made at a hundredth of it. Autovacuum analyses
at a tenth (its default scale factor), but ANALYZE of ``messages`` reads a sample of up to
30,000 rows and computes the statistics of the search index's expression on each (1.8 s at
30,000 mails), so analysing at every doubling costs a bulk import about twice one last
ANALYZE, where every tenth would cost eleven times that. ANALYZE also makes PostgreSQL discard
the cached plans of the table in every connection. Where autovacuum keeps up, the check finds
nothing to do. SQLite has no cached generic plans and is left alone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from mailflow.store.models import Base

log = logging.getLogger(__name__)

# a table is analysed once it changed by ANALYZE_THRESHOLD rows + ANALYZE_SCALE times its size
ANALYZE_THRESHOLD = 500
ANALYZE_SCALE = 1.0
# how often the writers look: the check is one catalogue query
CHECK_INTERVAL_S = 5.0

_STALE = text(
    "SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid"
    " WHERE s.schemaname = current_schema() AND s.relname = ANY(:tables)"
    " AND s.n_mod_since_analyze > :threshold + :scale * greatest(c.reltuples, 0)"
    " ORDER BY s.relname"
)


def stale_tables(session: Session) -> list[str]:
    """Return mailflow's tables that changed by more than ``ANALYZE_THRESHOLD`` rows plus
    ``ANALYZE_SCALE`` times their size since their last ANALYZE (PostgreSQL)."""
    tables = sorted(Base.metadata.tables)
    found = session.scalars(
        _STALE, {"tables": tables, "threshold": ANALYZE_THRESHOLD, "scale": ANALYZE_SCALE}
    )
    return list(found)


def analyze(session: Session, tables: list[str]) -> None:
    """ANALYZE ``tables``, skipping any another session is analysing or altering right now."""
    if not tables:
        return
    quote = session.get_bind().dialect.identifier_preparer.quote
    session.execute(text(f"ANALYZE (SKIP_LOCKED) {', '.join(quote(t) for t in tables)}"))


class PlannerStatistics:
    """Refreshes the statistics of the tables a long-running writer changes, at most once
    every ``interval_s`` seconds (``clock`` is monotonic seconds). Does nothing on SQLite."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        interval_s: float = CHECK_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions, self._interval, self._clock = sessions, interval_s, clock
        self._postgres = sessions.kw["bind"].dialect.name == "postgresql"
        self._next = float("-inf")

    def refresh(self) -> list[str]:
        """Analyse the tables that need it when the interval has passed; return their names.

        A failure is logged and left for the next check: statistics are an optimisation, and
        the work that called this has already been committed."""
        if not self._postgres or self._clock() < self._next:
            return []
        self._next = self._clock() + self._interval
        try:
            with self._sessions() as session, session.begin():
                tables = stale_tables(session)
                analyze(session, tables)
        except SQLAlchemyError as e:
            log.warning("could not refresh the planner statistics: %s", e)
            return []
        if tables:
            log.debug("analysed %s: changed since their last ANALYZE", ", ".join(tables))
        return tables
