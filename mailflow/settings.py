"""Frozen settings from the ``MAILFLOW_*`` environment and an optional ``mailflow.toml``.

The environment wins over the file, setting by setting: a value and its ``*_FILE`` are one
setting, so ``MAILFLOW_SOURCE_PASSWORD`` in the environment overrides a ``source_password_file``
in the file (and the other way round) instead of clashing with it. Only both halves of a pair
in one place are refused. Secrets are ``SecretStr`` so they never print; a ``*_FILE`` variable
names a file holding the secret (Docker/systemd credentials style); the URLs that may hold a
password (``database_url``, ``broker_url``) can come from a file too. Imports nothing of
mailflow but ``errors``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from mailflow.errors import ConfigurationError

CONFIG_FILE_VARIABLE = "MAILFLOW_CONFIG"
DEFAULT_CONFIG_FILE = "mailflow.toml"
FILE_SUFFIX = "_file"
# settings whose value may be read from the file their ``*_FILE`` names when the process starts
URL_FILES = ("database_url", "broker_url")
# how many bytes of raw mail one ingest batch holds at most (one bigger mail is a batch alone):
# many big mails never add up in memory, and ordinary batches of 200 mails stay far below it
DEFAULT_BATCH_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Invariant 13: a message over any of these is quarantined, not parsed half-way."""

    max_message_bytes: int = 25 * 1024 * 1024
    max_headers: int = 1000
    max_attachments: int = 100
    max_nesting: int = 20
    # the stdlib MIME parser reads line by line (~0.5 µs a line): a million lines is ~0.5 s
    max_lines: int = 1_000_000
    # CPU seconds one message may cost to parse (invariant 13); ordinary mail takes a few ms
    max_parse_cpu_s: float = 2.0


def _config_file() -> Path:
    return Path(os.environ.get(CONFIG_FILE_VARIABLE, DEFAULT_CONFIG_FILE))


class Settings(BaseSettings):
    """Everything an operator configures; the names are the contract of DESIGN.md §3."""

    model_config = SettingsConfigDict(
        env_prefix="MAILFLOW_", frozen=True, extra="ignore", case_sensitive=False
    )

    database_url: str = "sqlite:///var/mailflow.db"
    database_url_file: Path | None = None
    broker_url: str | None = None
    broker_url_file: Path | None = None
    source: str = "maildir://examples/inbox"
    source_password: SecretStr | None = None
    source_password_file: Path | None = None
    transport: str = "file://var/outbox"
    transport_password: SecretStr | None = None
    transport_password_file: Path | None = None
    # the bind password of directory_sync's LDAP server (organization.yaml)
    directory_password: SecretStr | None = None
    directory_password_file: Path | None = None
    rules_dir: Path = Path("rules")
    templates_dir: Path = Path("templates")
    timezone: str | None = None
    # text (ISO timestamps) or json (one object per line, for log collectors)
    log_format: Literal["text", "json"] = "text"
    # Prometheus metrics of poll, worker, scheduler and run: off unless a port is given
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"

    # OAuth2 for ?auth=xoauth2|oauthbearer (mailflow.oauth reads and checks these)
    oauth_provider: str | None = None  # microsoft, google or generic
    oauth_grant: str = "refresh_token"  # or client_credentials
    oauth_client_id: str | None = None
    oauth_client_secret: SecretStr | None = None
    oauth_client_secret_file: Path | None = None
    oauth_refresh_token: SecretStr | None = None
    oauth_refresh_token_file: Path | None = None
    oauth_tenant: str | None = None
    oauth_authority: str | None = None
    oauth_token_url: str | None = None
    oauth_scope: str | None = None
    oauth_cafile: Path | None = None

    # the web view (`mailflow web`): where it listens, the address people reach it at (the
    # sign-in links point there), the key that signs its session cookies, and their lifetime
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=8080, ge=0, le=65535)
    web_url: str | None = None
    web_secret: SecretStr | None = None
    web_secret_file: Path | None = None
    web_session_hours: float = Field(default=12.0, gt=0)
    poll_interval_s: float = Field(default=60.0, gt=0)
    # processes that parse a backlog while the poller stores; None: one per CPU, 0: none
    parse_workers: int | None = Field(default=None, ge=0)
    batch_bytes: int = Field(default=DEFAULT_BATCH_BYTES, gt=0)
    max_message_bytes: int = Field(default=Limits.max_message_bytes, gt=0)
    max_headers: int = Field(default=Limits.max_headers, gt=0)
    max_attachments: int = Field(default=Limits.max_attachments, ge=0)
    max_nesting: int = Field(default=Limits.max_nesting, gt=0)
    max_lines: int = Field(default=Limits.max_lines, gt=0)
    max_parse_cpu_s: float = Field(default=Limits.max_parse_cpu_s, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _one_place_per_setting(cls, data: Any) -> Any:
        """Refuse a value and its ``*_FILE`` given together; read the URL files."""
        if not isinstance(data, dict):
            return data
        given = {str(k).lower(): v for k, v in data.items() if v is not None}
        for name in _paired_names():
            if name in given and name + FILE_SUFFIX in given:
                variable = _variable(name)
                raise ValueError(f"set {variable} or {variable}_FILE, not both")
        for name in URL_FILES:
            file = given.get(name + FILE_SUFFIX)
            if file is not None:
                data = {**data, name: _read_secret_file(Path(str(file)), name)}
        return data

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=_config_file())
        return (
            init_settings,
            _Below(settings_cls, env_settings, (init_settings,)),
            _Below(settings_cls, toml, (init_settings, env_settings)),
        )

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        """Show the URLs without the password they may hold (SecretStr hides the others)."""
        for name, value in super().__repr_args__():
            yield name, _without_password(value) if name in URL_FILES and value else value

    @property
    def limits(self) -> Limits:
        """The parser limits of invariant 13."""
        return Limits(
            max_message_bytes=self.max_message_bytes,
            max_headers=self.max_headers,
            max_attachments=self.max_attachments,
            max_nesting=self.max_nesting,
            max_lines=self.max_lines,
            max_parse_cpu_s=self.max_parse_cpu_s,
        )

    def source_secret(self) -> str | None:
        """Return the mailbox password from the variable or its file; raise ConfigurationError."""
        return _secret(self.source_password, self.source_password_file, "SOURCE")

    def transport_secret(self) -> str | None:
        """Return the transport password from the variable or its file; raise ConfigurationError."""
        return _secret(self.transport_password, self.transport_password_file, "TRANSPORT")

    def web_secret_key(self) -> str | None:
        """Return the key that signs the web view's cookies, from the variable or its file."""
        return _secret(self.web_secret, self.web_secret_file, "WEB_SECRET")

    def directory_secret(self) -> str | None:
        """Return the directory's bind password from the variable or its file."""
        return _secret(self.directory_password, self.directory_password_file, "DIRECTORY")


class _Below(PydanticBaseSettingsSource):
    """A source whose settings yield, pair by pair, to those the sources above it give.

    ``MAILFLOW_SOURCE_PASSWORD`` in the environment hides both ``source_password`` and
    ``source_password_file`` of mailflow.toml, so the environment wins per setting.
    """

    def __init__(
        self,
        settings_cls: type[BaseSettings],
        source: PydanticBaseSettingsSource,
        above: tuple[PydanticBaseSettingsSource, ...],
    ) -> None:
        super().__init__(settings_cls)
        self._source, self._above = source, above

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """Unused: ``__call__`` delegates to the wrapped source."""
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        """Return the wrapped source's values less the settings a higher source gives."""
        hidden = {
            name
            for source in self._above
            for key, value in source().items()
            if value is not None
            for name in _setting_names(key.lower())
        }
        return {k: v for k, v in self._source().items() if k.lower() not in hidden}


def _without_password(url: str) -> str:
    """Return ``url`` with any password replaced by ``***``."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
    except ValueError:  # not a URL we can take apart: show nothing of it
        return "***"
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def _paired_names() -> list[str]:
    """Return the settings that also have a ``*_FILE`` form."""
    fields = Settings.model_fields
    return [n for n in fields if not n.endswith(FILE_SUFFIX) and n + FILE_SUFFIX in fields]


def _setting_names(key: str) -> set[str]:
    """Return ``key`` with its pair: ``x`` and ``x_file`` are one setting."""
    base = key.removesuffix(FILE_SUFFIX)
    return {key, base, base + FILE_SUFFIX} if base in _paired_names() else {key}


def _variable(name: str) -> str:
    return f"MAILFLOW_{name.upper()}"


def _read_secret_file(file: Path, name: str) -> str:
    """Return the file's text without its trailing newline; the error names only the file."""
    try:
        return file.read_text(encoding="utf-8").strip()
    except OSError as e:
        raise ConfigurationError(f"{_variable(name)}_FILE: cannot read {file}: {e.strerror}") from e
    except UnicodeDecodeError:
        raise ConfigurationError(f"{_variable(name)}_FILE: {file} is not UTF-8 text") from None


def _secret(value: SecretStr | None, file: Path | None, name: str) -> str | None:
    if value is not None:
        return value.get_secret_value()
    if file is None:
        return None
    return _read_secret_file(file, f"{name.lower()}_password")


def load_settings(**overrides: Any) -> Settings:
    """Return the settings; raise ConfigurationError naming the variable that is wrong."""
    try:
        return Settings(**overrides)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            where = ".".join(str(p) for p in err["loc"]) or "settings"
            variable = f"MAILFLOW_{where.upper()}" if err["loc"] else where
            message = str(err["msg"]).removeprefix("Value error, ")
            problems.append(message if not err["loc"] else f"{variable}: {message}")
        raise ConfigurationError("; ".join(problems)) from None
