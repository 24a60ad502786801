"""deploy/ holds what it says, checked without a container engine: the compose file against
the compose-spec JSON schema, the systemd units with `systemd-analyze verify`, and every
command they start exists in the CLI."""

from __future__ import annotations

import configparser
import json
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from mailflow.cli import app

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
UNITS = sorted([*DEPLOY.glob("*.service"), *DEPLOY.glob("*.target")])
SERVICES = [u for u in UNITS if u.suffix == ".service"]
BINARY = "/opt/mailflow/bin/mailflow"
HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "CapabilityBoundingSet": "",
    "RestrictSUIDSGID": "yes",
}
MAILFLOW_ROLES = ("migrate", "poll", "worker", "scheduler")


def _commands() -> set[tuple[str, ...]]:
    """Return every command path the CLI offers: ('poll',), ('db', 'upgrade'), …"""
    found: set[tuple[str, ...]] = {(c.name or "",) for c in app.registered_commands}
    for group in app.registered_groups:
        found |= {
            (group.name or "", c.name or "") for c in group.typer_instance.registered_commands
        }
        if group.typer_instance.info.invoke_without_command:  # `mailflow web` runs on its own
            found.add((group.name or "",))
    return found


def _names_a_command(argv: list[str]) -> bool:
    return tuple(argv[:1]) in _commands() or tuple(argv[:2]) in _commands()


def _compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def _compose_errors(doc: dict[str, Any]) -> list[str]:
    """Validate against the compose-spec schema check-jsonschema ships (no network)."""
    vendored = resources.files("check_jsonschema.builtin_schemas.vendor")
    schema = json.loads(vendored.joinpath("compose-spec.json").read_text(encoding="utf-8"))
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(doc)]


def _unit(path: Path) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, delimiters=("=",), interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(path.read_text(encoding="utf-8"))
    return parser


def test_compose_file_follows_the_compose_spec() -> None:
    """deploy/compose.yaml validates against the compose-spec schema, and a broken copy does not."""
    doc = _compose()
    assert _compose_errors(doc) == []
    doc["services"]["poll"]["depends_on"]["migrate"]["condition"] = "when_it_feels_like_it"
    doc["services"]["worker"]["restart_policy"] = "always"
    assert len(_compose_errors(doc)) >= 2


def test_compose_runs_every_role_after_the_one_shot_migration() -> None:
    """PostgreSQL, Redis, `db upgrade` once, then the poller, two workers and the scheduler."""
    services = _compose()["services"]
    assert set(services) == {"postgres", "redis", *MAILFLOW_ROLES}
    migrate = services["migrate"]
    assert migrate["command"] == ["db", "upgrade"] and migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["worker"]["deploy"]["replicas"] == 2
    for role in ("poll", "worker", "scheduler"):
        after = services[role]["depends_on"]
        assert after["migrate"]["condition"] == "service_completed_successfully"
        assert {"postgres", "redis"} <= set(after)
    for role in MAILFLOW_ROLES:
        assert _names_a_command(services[role]["command"]), services[role]["command"]
        environment = services[role]["environment"]
        assert "MAILFLOW_DATABASE_URL" not in environment  # the URL holds a password: a file
        assert environment["MAILFLOW_DATABASE_URL_FILE"].startswith("/run/secrets/")


def test_containerfile_is_small_non_root_and_copies_what_exists() -> None:
    """A slim base, a final USER that is not root, `mailflow` as entrypoint, real COPY sources."""
    lines = [
        line.strip()
        for line in (DEPLOY / "Containerfile").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    bases = [line.split()[1] for line in lines if line.startswith("FROM ")]
    assert bases and all("slim" in base or "alpine" in base for base in bases)
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert 'ENTRYPOINT ["mailflow"]' in lines
    for line in lines:
        words = line.split()
        if words[0] == "COPY" and not words[1].startswith("--from"):
            for source in words[1:-1]:
                assert (REPO / source).exists(), source
    cmd = next(line for line in lines if line.startswith("CMD "))
    assert _names_a_command(json.loads(cmd.removeprefix("CMD ")))


def test_wheel_carries_the_migrations() -> None:
    """The image installs a wheel: pyproject maps migrations/ to where migrate.py looks."""
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    included = project["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    assert included["migrations"] == "mailflow/_migrations"
    assert (REPO / "migrations" / "env.py").is_file()


@pytest.mark.parametrize("unit", SERVICES, ids=lambda p: p.name)
def test_every_unit_is_hardened_and_starts_a_real_command(unit: Path) -> None:
    """Each service runs as mailflow, sandboxed, a command the CLI has, after what it needs."""
    service = _unit(unit)["Service"]
    for key, value in HARDENING.items():
        assert service.get(key) == value, f"{unit.name}: {key}={value} missing"
    assert service["User"] == "mailflow"
    starts = [service["ExecStart"]] + (
        [service["ExecStartPre"]] if "ExecStartPre" in service else []
    )
    for line in starts:
        binary, *argv = line.split()
        assert binary == BINARY and _names_a_command(argv), line
    after = _unit(unit)["Unit"]["After"].split()
    assert "network-online.target" in after
    if unit.name not in ("mailflow-run.service", "mailflow-db-upgrade.service"):
        assert {"postgresql.service", "redis-server.service", "mailflow-db-upgrade.service"} <= set(
            after
        )


def test_target_starts_the_production_roles() -> None:
    """mailflow.target wants the poller, two workers and the scheduler."""
    wants = _unit(DEPLOY / "mailflow.target")["Unit"]["Wants"].split()
    assert wants == [
        "mailflow-poll.service",
        "mailflow-worker@1.service",
        "mailflow-worker@2.service",
        "mailflow-scheduler.service",
    ]


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is not installed (apt-get install systemd); the units are unverified",
)
def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    """`systemd-analyze verify` accepts every unit, with no warning about any of them; the
    installed binary is this environment's `mailflow` so the command's existence is checked."""
    here = str(Path(sys.executable).with_name("mailflow"))
    for unit in UNITS:
        text = unit.read_text(encoding="utf-8").replace(BINARY, here)
        (tmp_path / unit.name).write_text(text, encoding="utf-8")
    done = subprocess.run(
        ["systemd-analyze", "verify", *sorted(str(p) for p in tmp_path.iterdir())],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    complaints = [
        line
        for line in (done.stdout + done.stderr).splitlines()
        if str(tmp_path) in line or any(u.name in line for u in UNITS)
    ]
    assert done.returncode == 0 and complaints == [], done.stdout + done.stderr
