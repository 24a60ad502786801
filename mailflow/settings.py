"""Frozen settings from the ``MAILFLOW_*`` environment and an optional ``mailflow.toml``.

The environment wins over the file. Secrets are ``SecretStr`` so they never print; a
``*_FILE`` variable names a file holding the secret (Docker/systemd credentials style).
Imports nothing of mailflow but ``errors``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from mailflow.errors import ConfigurationError

CONFIG_FILE_VARIABLE = "MAILFLOW_CONFIG"
DEFAULT_CONFIG_FILE = "mailflow.toml"


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
    broker_url: str | None = None
    source: str = "maildir://examples/inbox"
    source_password: SecretStr | None = None
    source_password_file: Path | None = None
    transport: str = "file://var/outbox"
    transport_password: SecretStr | None = None
    transport_password_file: Path | None = None
    rules_dir: Path = Path("rules")
    templates_dir: Path = Path("templates")
    timezone: str | None = None

    poll_interval_s: float = Field(default=60.0, gt=0)
    # processes that parse a backlog while the poller stores; None: one per CPU, 0: none
    parse_workers: int | None = Field(default=None, ge=0)
    max_message_bytes: int = Field(default=Limits.max_message_bytes, gt=0)
    max_headers: int = Field(default=Limits.max_headers, gt=0)
    max_attachments: int = Field(default=Limits.max_attachments, ge=0)
    max_nesting: int = Field(default=Limits.max_nesting, gt=0)
    max_lines: int = Field(default=Limits.max_lines, gt=0)
    max_parse_cpu_s: float = Field(default=Limits.max_parse_cpu_s, gt=0)

    @model_validator(mode="after")
    def _one_secret_source(self) -> Settings:
        for name in ("source", "transport"):
            if getattr(self, f"{name}_password") and getattr(self, f"{name}_password_file"):
                variable = f"MAILFLOW_{name.upper()}_PASSWORD"
                raise ValueError(f"set {variable} or {variable}_FILE, not both")
        return self

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
        return (init_settings, env_settings, toml)

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


def _secret(value: SecretStr | None, file: Path | None, name: str) -> str | None:
    if value is not None:
        return value.get_secret_value()
    if file is None:
        return None
    try:
        return file.read_text(encoding="utf-8").strip()
    except OSError as e:
        raise ConfigurationError(
            f"MAILFLOW_{name}_PASSWORD_FILE: cannot read {file}: {e.strerror}"
        ) from e


def load_settings(**overrides: Any) -> Settings:
    """Return the settings; raise ConfigurationError naming the variable that is wrong."""
    try:
        return Settings(**overrides)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            where = ".".join(str(p) for p in err["loc"]) or "settings"
            variable = f"MAILFLOW_{where.upper()}" if err["loc"] else where
            problems.append(f"{variable}: {err['msg']}")
        raise ConfigurationError("; ".join(problems)) from None
