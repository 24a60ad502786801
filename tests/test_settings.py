"""Settings come from MAILFLOW_* variables and mailflow.toml; the environment wins."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailflow.errors import ConfigurationError
from mailflow.settings import load_settings


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("MAILFLOW_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_defaults_are_the_embedded_mode() -> None:
    """With nothing configured mailflow uses SQLite, the example Maildir and the file outbox."""
    s = load_settings()
    assert s.database_url == "sqlite:///var/mailflow.db"
    assert s.source == "maildir://examples/inbox"
    assert s.transport == "file://var/outbox"
    assert s.broker_url is None


def test_toml_file_is_read_and_environment_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Values in mailflow.toml apply unless the same MAILFLOW_* variable is set."""
    (tmp_path / "mailflow.toml").write_text(
        'database_url = "sqlite:///from-file.db"\nmax_headers = 50\n', encoding="utf-8"
    )
    monkeypatch.setenv("MAILFLOW_DATABASE_URL", "sqlite:///from-env.db")
    s = load_settings()
    assert s.database_url == "sqlite:///from-env.db"
    assert s.limits.max_headers == 50


def test_password_file_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """MAILFLOW_SOURCE_PASSWORD_FILE supplies the secret, trimmed of its newline."""
    (tmp_path / "pw").write_text("s3cret\n", encoding="utf-8")
    monkeypatch.setenv("MAILFLOW_SOURCE_PASSWORD_FILE", str(tmp_path / "pw"))
    assert load_settings().source_secret() == "s3cret"


def test_secret_never_prints(monkeypatch: pytest.MonkeyPatch) -> None:
    """A password given in the environment does not appear in the settings' repr."""
    monkeypatch.setenv("MAILFLOW_SOURCE_PASSWORD", "hunter2")
    s = load_settings()
    assert "hunter2" not in repr(s)
    assert s.source_secret() == "hunter2"


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        ("MAILFLOW_MAX_HEADERS", "many", "MAILFLOW_MAX_HEADERS"),
        ("MAILFLOW_POLL_INTERVAL_S", "0", "MAILFLOW_POLL_INTERVAL_S"),
        ("MAILFLOW_PARSE_WORKERS", "-1", "MAILFLOW_PARSE_WORKERS"),
    ],
)
def test_bad_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, words: str
) -> None:
    """A value of the wrong type is reported with the variable's name."""
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError, match=words):
        load_settings()


def test_missing_password_file_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A password file that cannot be read names the variable and the file."""
    monkeypatch.setenv("MAILFLOW_SOURCE_PASSWORD_FILE", str(tmp_path / "absent"))
    with pytest.raises(ConfigurationError, match="MAILFLOW_SOURCE_PASSWORD_FILE"):
        load_settings().source_secret()
