"""The last good rules live in the database: archived exactly, unpacked whole, recorded with
their version and the last error; a good reload is news (INFO), not a warning."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from mailflow.errors import RuleFileError
from mailflow.outbound.render import TemplateSet
from mailflow.service import rulestore
from mailflow.service.live import LiveRules, Rules
from mailflow.service.runtime import build_runtime, load_rules
from mailflow.settings import load_settings
from mailflow.store import service_state
from mailflow.store.db import make_engine, make_session_factory

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    """Copies of the shipped rules and templates a test may edit."""
    shutil.copytree(REPO / "rules", tmp_path / "rules")
    shutil.copytree(REPO / "templates", tmp_path / "templates")
    return tmp_path / "rules", tmp_path / "templates"


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def test_archive_is_the_same_for_the_same_files(folders: tuple[Path, Path]) -> None:
    """Touching a file changes nothing; changing a byte changes the archive."""
    rules, templates = folders
    first = rulestore.archive(rules, templates)
    (rules / "rules.yaml").touch()
    assert rulestore.archive(rules, templates) == first
    (rules / "rules.yaml").write_bytes((rules / "rules.yaml").read_bytes() + b"\n")
    assert rulestore.archive(rules, templates) != first


def test_remembered_rules_unpack_whole(sqlite_url: str, folders: tuple[Path, Path]) -> None:
    """Every file of both folders comes back byte for byte, under the version recorded."""
    rules, templates = folders
    engine = make_engine(sqlite_url)
    sessions = make_session_factory(engine)
    try:
        version = rulestore.remember(sessions, rules, templates, "files")
        unpacked = rulestore.unpack_newest(sessions)
        assert unpacked is not None and unpacked.version == version
        try:
            assert _files(unpacked.rules_dir) == _files(rules)
            assert _files(unpacked.templates_dir) == _files(templates)
        finally:
            unpacked.discard()
        assert not unpacked.root.exists()
        with sessions() as s:
            state = service_state.state(s, rulestore.RULES_STATE)
        assert state is not None and state["version"] == version and state["broken"] is False
    finally:
        engine.dispose()


def test_reload_is_info_and_recorded(
    sqlite_url: str, folders: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    """A good edit logs at INFO with the new version; a broken one is recorded with its
    problems for `mailflow status` while the version in force stays."""
    rules, templates = folders
    settings = load_settings(database_url=sqlite_url, rules_dir=rules, templates_dir=templates)
    runtime = build_runtime(settings, last_good=True)
    try:
        live = LiveRules(settings, Rules(runtime.rulebook, runtime.templates, runtime.context))
        rules_file = rules / "rules.yaml"
        text = rules_file.read_text(encoding="utf-8")
        rules_file.write_text(text.replace("name: 行动项回执", "name: 行动项回执单", 1), "utf-8")
        with caplog.at_level(logging.INFO, logger="mailflow"):
            live.refresh(runtime.sessions)
        [record] = [r for r in caplog.records if "reloaded" in r.getMessage()]
        assert record.levelno == logging.INFO
        with runtime.sessions() as s:
            good = service_state.state(s, rulestore.RULES_STATE)
        assert good is not None and good["version"] == (runtime.rules_version or 0) + 1
        rules_file.write_text(text.replace("reply: receipt", "reply: recipt", 1), "utf-8")
        live.refresh(runtime.sessions)
        with runtime.sessions() as s:
            bad = service_state.state(s, rulestore.RULES_STATE)
        assert bad is not None and bad["broken"] is True and bad["version"] == good["version"]
        assert "rules.yaml:" in bad["last_error"] and "recipt" in bad["last_error"]
    finally:
        runtime.close()


def test_templates_that_passed_are_not_checked_again_until_a_byte_changes(
    sqlite_url: str, folders: tuple[Path, Path]
) -> None:
    """A start records the verdict key of the templates that passed their check; the next
    start on the same files finds it and does not check them again. The key is a digest of
    the files, so any edit, a broken one too, is checked again and caught."""
    rules, templates = folders
    settings = load_settings(database_url=sqlite_url, rules_dir=rules, templates_dir=templates)
    runtime = build_runtime(settings, last_good=True)
    try:
        passed = rulestore.templates_passed(runtime.sessions)
        assert passed is not None and passed == runtime.templates.verdict_key
        assert TemplateSet(templates).verdict_key == passed  # the same files, the same key
        receipt = templates / "zh-CN" / "receipt.txt"
        receipt.write_text(receipt.read_text("utf-8") + "{% if %}\n", "utf-8")
        broken = TemplateSet(templates).verdict_key
        assert broken is not None and broken != passed
        with pytest.raises(RuleFileError, match=r"receipt\.txt"):
            load_rules(settings, passed)
        load_rules(settings, broken)  # what the key stands for is not checked again
        again = build_runtime(settings, last_good=True)  # checked, and the last good set runs
        try:
            assert any("receipt.txt" in p for p in again.rule_problems)
            assert rulestore.templates_passed(again.sessions) == passed
        finally:
            again.close()
    finally:
        runtime.close()


def test_templates_checked_in_this_process_are_not_checked_again_until_a_byte_changes(
    folders: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second runtime of the same process on the same templates (a reload, the web view's
    beside the CLI's) skips the check that passed; an edited file is checked again."""
    rules, templates = folders
    (templates / "zh-CN" / "receipt.txt").write_text(
        (templates / "zh-CN" / "receipt.txt").read_text("utf-8") + "\n", "utf-8"
    )  # a key no other test of this process has checked
    settings = load_settings(rules_dir=rules, templates_dir=templates)
    load_rules(settings)
    checked: list[str] = []
    real_check = TemplateSet.check

    def counted(self: TemplateSet) -> list[str]:
        checked.append(str(self.root))
        return real_check(self)

    monkeypatch.setattr(TemplateSet, "check", counted)
    load_rules(settings)
    assert checked == []
    receipt = templates / "zh-CN" / "receipt.txt"
    receipt.write_text(receipt.read_text("utf-8") + "{% if %}\n", "utf-8")
    with pytest.raises(RuleFileError, match=r"receipt\.txt"):
        load_rules(settings)
    assert checked == [str(templates)]


def test_the_verdict_key_covers_every_file_and_what_was_refused(tmp_path: Path) -> None:
    """A new file, a renamed one, a changed byte and a file refused while reading each give
    another key; reading the same folder again gives the same one."""
    folder = tmp_path / "templates"
    shutil.copytree(REPO / "templates", folder)
    keys = {TemplateSet(folder).verdict_key}
    assert TemplateSet(folder).verdict_key in keys
    (folder / "en" / "_extra.txt").write_text("x\n", "utf-8")
    keys.add(TemplateSet(folder).verdict_key)
    (folder / "en" / "_extra.txt").rename(folder / "en" / "_other.txt")
    keys.add(TemplateSet(folder).verdict_key)
    (folder / "en" / "_other.txt").write_text("y\n", "utf-8")
    keys.add(TemplateSet(folder).verdict_key)
    (folder / "en" / "_other.txt").write_bytes(b"\xff\xfe not UTF-8\n")
    refused = TemplateSet(folder)
    keys.add(refused.verdict_key)
    assert refused.check()  # refused while reading: a problem the key must cover
    assert len(keys) == 5 and None not in keys
