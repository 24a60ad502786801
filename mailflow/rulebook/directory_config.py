"""How the directory follows the company's own: ``directory_sync`` in organization.yaml.

Pure settings, validated with pydantic like the rest of organization.yaml: where people come
from (LDAP / Active Directory, or the HR department's spreadsheet), which attributes or columns
carry what, how often the scheduler syncs, and how large a removal a sync may make on its own.
The bind password is not here: secrets live in the settings (``MAILFLOW_DIRECTORY_PASSWORD``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mailflow.rulebook.duration import Duration, parse_duration

DEFAULT_EVERY = "24h"
DEFAULT_MAX_REMOVED_SHARE = 0.10


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LdapAttributes(_Strict):
    """Which LDAP attribute carries what; the defaults are Active Directory's names."""

    name: str = "displayName"
    email: str = "mail"
    aliases: str | None = "proxyAddresses"
    department: str = "department"
    manager: str = "manager"
    account_control: str | None = "userAccountControl"


class LdapSource(_Strict):
    """An LDAP or Active Directory server read with paged searches."""

    url: str = Field(pattern=r"^ldaps?://[^/\s]+/?$")
    starttls: bool = False
    cafile: str | None = None
    bind_dn: str | None = None
    base_dn: str
    filter: str = "(&(objectClass=person)(mail=*))"
    page_size: int = Field(default=500, ge=1, le=5000)
    timeout_s: float = Field(default=30.0, gt=0)
    attributes: LdapAttributes = LdapAttributes()
    # where a person's department comes from: an attribute, or the first OU of the entry's DN
    departments_from: Literal["attribute", "ou"] = "attribute"
    # department managers: from people's manager attribute, or from one group per department
    managers_from: Literal["manager", "groups"] = "manager"
    manager_groups: dict[str, str] = {}

    @model_validator(mode="after")
    def _groups_when_needed(self) -> LdapSource:
        if self.managers_from == "groups" and not self.manager_groups:
            raise ValueError("managers_from: groups needs manager_groups (department: group DN)")
        if self.starttls and self.url.startswith("ldaps://"):
            raise ValueError("starttls is for ldap:// URLs; ldaps:// is TLS already")
        return self


class SheetColumns(_Strict):
    """The column headers of the HR sheet that carry each field (matched ignoring spaces)."""

    name: str = "姓名"
    email: str = "邮箱"
    department: str = "部门"
    manager: str | None = "直属上级"
    aliases: str | None = None
    status: str | None = None


class SheetSource(_Strict):
    """An XLSX or CSV file kept by the HR department."""

    path: str  # relative to the rules folder, or absolute
    sheet: str | None = None  # XLSX: the worksheet's name; default the first
    columns: SheetColumns = SheetColumns()
    # values of the status column that mean the person has left or is disabled
    left_values: list[str] = ["离职", "停用", "disabled", "left"]


class DirectorySync(_Strict):
    """``directory_sync`` in organization.yaml."""

    source: Literal["ldap", "sheet"] = Field(alias="from")
    every: str = DEFAULT_EVERY
    max_removed_share: float = Field(default=DEFAULT_MAX_REMOVED_SHARE, gt=0, le=1)
    ldap: LdapSource | None = None
    sheet: SheetSource | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("every")
    @classmethod
    def _duration(cls, value: str) -> str:
        duration = parse_duration(value)
        if duration.business:
            raise ValueError(f"every: {value!r} must be a plain span such as 24h or 6h")
        return value

    @model_validator(mode="after")
    def _source_given(self) -> DirectorySync:
        if getattr(self, self.source) is None:
            raise ValueError(f"from: {self.source} needs a '{self.source}:' section")
        return self

    def interval(self) -> Duration:
        """Return how often the scheduler syncs."""
        return parse_duration(self.every)
