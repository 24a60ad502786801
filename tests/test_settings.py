"""Settings come from MAILFLOW_* variables and mailflow.toml; the environment wins."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailflow.errors import ConfigurationError
from mailflow.service.runtime import open_source
from mailflow.settings import load_settings
from tests.sources.test_maildir import DictCursor


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
        ("MAILFLOW_BATCH_BYTES", "0", "MAILFLOW_BATCH_BYTES"),
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


@pytest.mark.parametrize(
    ("in_file", "in_environment", "expected"),
    [
        ('source_password_file = "{pw}"', ("MAILFLOW_SOURCE_PASSWORD", "from-env"), "from-env"),
        ('source_password = "from-toml"', ("MAILFLOW_SOURCE_PASSWORD_FILE", "{pw}"), "from-file"),
        ('source_password = "from-toml"', ("MAILFLOW_SOURCE_PASSWORD", "from-env"), "from-env"),
        ('source_password_file = "{pw}"', ("MAILFLOW_TRANSPORT_PASSWORD", "x"), "from-file"),
    ],
)
def test_environment_wins_per_setting_over_the_toml_pair(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    in_file: str,
    in_environment: tuple[str, str],
    expected: str,
) -> None:
    """A value and its *_FILE are one setting: whichever the environment gives wins, no clash."""
    (tmp_path / "pw").write_text("from-file\n", encoding="utf-8")
    pw = str(tmp_path / "pw")
    (tmp_path / "mailflow.toml").write_text(in_file.format(pw=pw) + "\n", encoding="utf-8")
    monkeypatch.setenv(in_environment[0], in_environment[1].format(pw=pw))
    assert load_settings().source_secret() == expected


@pytest.mark.parametrize("setting", ["source_password", "transport_password", "database_url"])
def test_both_halves_in_one_place_are_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, setting: str
) -> None:
    """A value and its *_FILE in the same place are ambiguous: refused, naming both variables."""
    (tmp_path / "secret").write_text("x\n", encoding="utf-8")
    variable = f"MAILFLOW_{setting.upper()}"
    monkeypatch.setenv(variable, "sqlite:///x.db")
    monkeypatch.setenv(f"{variable}_FILE", str(tmp_path / "secret"))
    with pytest.raises(ConfigurationError, match=f"set {variable} or {variable}_FILE, not both"):
        load_settings()


@pytest.mark.parametrize("setting", ["database_url", "broker_url"])
def test_url_is_read_from_its_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, setting: str
) -> None:
    """MAILFLOW_DATABASE_URL_FILE / MAILFLOW_BROKER_URL_FILE give a URL that holds a password."""
    url = "postgresql+psycopg://mailflow:pa55-秘密@db.internal/mailflow"
    (tmp_path / "url").write_text(url + "\n", encoding="utf-8")
    (tmp_path / "mailflow.toml").write_text(f'{setting} = "sqlite:///toml.db"\n', encoding="utf-8")
    monkeypatch.setenv(f"MAILFLOW_{setting.upper()}_FILE", str(tmp_path / "url"))
    assert getattr(load_settings(), setting) == url


def test_unreadable_url_file_names_the_file_not_a_secret(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A URL file that cannot be read is a clear error naming the variable and the path."""
    monkeypatch.setenv("MAILFLOW_DATABASE_URL_FILE", str(tmp_path / "absent"))
    with pytest.raises(ConfigurationError, match="MAILFLOW_DATABASE_URL_FILE: cannot read"):
        load_settings()


def test_secrets_stay_out_of_errors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An error about other settings never repeats a password or a URL's password."""
    monkeypatch.setenv("MAILFLOW_SOURCE_PASSWORD", "hunter2")
    monkeypatch.setenv("MAILFLOW_DATABASE_URL", "postgresql+psycopg://u:hunter3@h/db")
    monkeypatch.setenv("MAILFLOW_MAX_HEADERS", "many")
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    assert "hunter2" not in str(caught.value) and "hunter3" not in str(caught.value)


@pytest.mark.parametrize(
    "url", ["postgresql+psycopg://u:hunter4@db:notaport/x", "://u:hunter4@nowhere", "hunter4"]
)
def test_malformed_database_url_error_hides_the_url(url: str) -> None:
    """A database URL that does not parse is refused without repeating it (it may hold a password)."""
    from mailflow.store.db import parse_database_url

    with pytest.raises(ConfigurationError, match="MAILFLOW_DATABASE_URL") as caught:
        parse_database_url(url)
    assert "hunter4" not in str(caught.value)


@pytest.mark.parametrize(
    ("variable", "url"),
    [
        ("MAILFLOW_DATABASE_URL", "postgresql+psycopg://mailflow:hunter5@db.internal/mailflow"),
        ("MAILFLOW_BROKER_URL", "redis://:hunter5@redis.internal:6379/0"),
        ("MAILFLOW_BROKER_URL", "amqp://mailflow:hunter5@mq.internal:5672/prod"),
    ],
)
def test_url_passwords_never_print(
    monkeypatch: pytest.MonkeyPatch, variable: str, url: str
) -> None:
    """The settings' repr masks the password of the database and broker URLs, and only that."""
    monkeypatch.setenv(variable, url)
    shown = repr(load_settings())
    assert "hunter5" not in shown and ":***@" in shown
    assert url.rpartition("@")[2] in shown


def test_batch_bytes_reaches_the_maildir_source(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """MAILFLOW_BATCH_BYTES is the byte budget of the source the service opens."""
    for sub in ("new", "cur", "tmp"):
        (tmp_path / sub).mkdir()
    for n in range(3):
        (tmp_path / "new" / f"{100 + n}.M{n}.host").write_bytes(b"Subject: x\n\n" + b"x" * 400)
    monkeypatch.setenv("MAILFLOW_SOURCE", f"maildir://{tmp_path}")
    monkeypatch.setenv("MAILFLOW_BATCH_BYTES", "1000")
    source = open_source(load_settings())
    assert [len(batch) for batch in source.fetch(DictCursor())] == [2, 1]
