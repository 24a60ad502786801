"""Shared fixtures: real servers started per session, real databases per test.

``scripts/test.sh`` runs the suite in one process per core (pytest-xdist, ``--dist
loadgroup``). Each process starts its own servers on free ports and makes its own databases;
what the processes share is grouped below so that one process runs it.
"""

from __future__ import annotations

import pytest

pytest_plugins = [
    "tests.servers.dovecot",
    "tests.servers.databases",
    "tests.servers.smtp",
    "tests.servers.slapd",
    "tests.servers.private",
]

# Module-scoped fixtures that take seconds to build: a module using one runs in one process,
# so the fixture is built once, not once in each process that got some of its tests.
BUILT_ONCE_PER_MODULE = frozenset({"example_db", "slapd_company", "ingested", "finished"})


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("xdist_group") is not None:
            continue
        if BUILT_ONCE_PER_MODULE.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))
