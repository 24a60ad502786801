"""A mailflow installation on a copy of the example inbox, for tests that build a runtime."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from mailflow.settings import Settings, load_settings

REPO = Path(__file__).resolve().parents[1]


def example_settings(tmp_path: Path, database_url: str, **overrides: Any) -> Settings:
    """Return the settings of mailflow reading a copy of the example inbox in ``tmp_path``
    (a Maildir), with the shipped rules and templates and parsing in this process; the
    database must be migrated. ``overrides`` are further settings (transport, OAuth2…)."""
    shutil.copytree(REPO / "examples" / "inbox", tmp_path / "inbox")
    return load_settings(
        database_url=database_url,
        source=f"maildir://{tmp_path / 'inbox'}",
        rules_dir=REPO / "rules",
        templates_dir=REPO / "templates",
        parse_workers=0,
        **overrides,
    )
