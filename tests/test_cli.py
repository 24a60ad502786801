"""The command line keeps its contract: JSON shapes, exit codes, one-line reasons."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mailflow.cli import app

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples" / "inbox"
MINUTES = EXAMPLES / "new" / "1696757414.M1017P4101.example"

PARSE_KEYS = {
    "message_id",
    "date",
    "from",
    "to",
    "cc",
    "in_reply_to",
    "references",
    "automated",
    "automated_reason",
    "subject",
    "body_text",
    "new_text",
    "attachments",
    "action_items",
    "confirmation",
}
SUBJECT_KEYS = {"raw", "prefixes", "conforms", "reason", "department", "topic", "problems"}
LIST_KEYS = {"message_id", "subject", "from", "date", "status", "reason"}


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    """A runner in an empty working directory with the shipped rules and a fresh SQLite file."""
    for name in list(os.environ):
        if name.startswith("MAILFLOW_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    inbox = tmp_path / "inbox"
    shutil.copytree(EXAMPLES, inbox)
    monkeypatch.setenv("MAILFLOW_RULES_DIR", str(REPO / "rules"))
    monkeypatch.setenv("MAILFLOW_TEMPLATES_DIR", str(REPO / "templates"))
    monkeypatch.setenv("MAILFLOW_SOURCE", f"maildir://{inbox}")
    monkeypatch.setenv("MAILFLOW_DATABASE_URL", f"sqlite:///{tmp_path / 'mf.db'}")
    return CliRunner()


def test_parse_json_follows_the_contract(runner: CliRunner) -> None:
    """`parse --json` prints one document with the contract's keys and the decoded subject."""
    result = runner.invoke(app, ["parse", str(MINUTES), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert set(doc) == PARSE_KEYS
    assert set(doc["subject"]) == SUBJECT_KEYS
    assert doc["subject"]["raw"] == "【会议纪要】技术部-Q4产品迭代进度同步"
    assert doc["subject"]["conforms"] is True
    assert doc["from"] == {"name": "张三", "address": "zhang.san@example.com"}
    assert doc["date"].endswith("+08:00")


def test_parse_human_output_shows_the_convention(runner: CliRunner) -> None:
    """Without --json the subject's 事由, 部门 and 主题 are shown to people."""
    result = runner.invoke(app, ["parse", str(MINUTES)])
    assert result.exit_code == 0, result.output
    assert "会议纪要" in result.stdout and "Q4产品迭代进度同步" in result.stdout


def test_parse_missing_file_is_a_user_error(runner: CliRunner) -> None:
    """A file that cannot be read exits 1 with a one-line reason on stderr."""
    result = runner.invoke(app, ["parse", "no-such.eml"])
    assert result.exit_code == 1
    assert "cannot read no-such.eml" in result.stderr


def test_usage_error_exits_2(runner: CliRunner) -> None:
    """A command without its argument is a usage error."""
    assert runner.invoke(app, ["parse"]).exit_code == 2


def test_run_needs_a_migrated_database(runner: CliRunner) -> None:
    """Before `db upgrade` the run command says what to do instead of failing obscurely."""
    result = runner.invoke(app, ["run", "--once"])
    assert result.exit_code == 1
    assert "mailflow db upgrade" in result.stderr


def test_run_once_stores_the_example_inbox_once(runner: CliRunner) -> None:
    """`run --once` stores every example mail, a second run stores none, the list shows them."""
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    first = runner.invoke(app, ["run", "--once"])
    assert first.exit_code == 0, first.output
    assert "15 stored, 0 quarantined" in first.stderr
    again = runner.invoke(app, ["run", "--once"])
    assert "0 stored" in again.stderr
    listed = runner.invoke(app, ["messages", "list", "--json"])
    rows = json.loads(listed.stdout)
    assert len(rows) == 15
    assert all(set(r) >= LIST_KEYS for r in rows)
    automated = sorted(r["message_id"] for r in rows if r["automated"])
    assert len(automated) == 3  # the bounce, the out-of-office reply, the newsletter


def test_messages_list_rejects_unknown_status(runner: CliRunner) -> None:
    """A status that does not exist is named in the error."""
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    result = runner.invoke(app, ["messages", "list", "--status", "sent"])
    assert result.exit_code == 1
    assert "stored, quarantined" in result.stderr


def test_rules_check_reports_file_and_line(runner: CliRunner, tmp_path: Path) -> None:
    """`rules check` prints file:line: message per problem and exits 1."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "organization.yaml").write_text(
        "organization:\n  name: x\n  shared_address: coord\n  internal_domains: [x.cn]\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["rules", "check"], env={"MAILFLOW_RULES_DIR": str(rules)})
    assert result.exit_code == 1
    assert f"{rules / 'organization.yaml'}:3: " in result.stderr
    assert runner.invoke(app, ["rules", "check"]).exit_code == 0


def test_rules_check_renders_templates_and_refuses_links_out(
    runner: CliRunner, tmp_path: Path
) -> None:
    """`rules check` names a template that fails when rendered and a link out of the folder."""
    templates = tmp_path / "templates"
    shutil.copytree(REPO / "templates", templates)
    (templates / "zh-CN" / "receipt.txt").write_text(
        "您好\n{% for i in range(900) %}{% for j in range(900) %}{% endfor %}{% endfor %}\n",
        encoding="utf-8",
    )
    (tmp_path / "passwd").write_text("root:x:0:0\n", encoding="utf-8")
    (templates / "en" / "_sig.txt").symlink_to(tmp_path / "passwd")
    result = runner.invoke(app, ["rules", "check"], env={"MAILFLOW_TEMPLATES_DIR": str(templates)})
    assert result.exit_code == 1
    assert f"{templates / 'zh-CN' / 'receipt.txt'}:2: SecurityError" in result.stderr
    assert f"{templates / 'en' / '_sig.txt'}:1: resolves outside" in result.stderr
    assert "root:x" not in result.output


def test_imap_password_never_shown(runner: CliRunner, dovecot) -> None:  # type: ignore[no-untyped-def]
    """A refused IMAP login exits 1 and the error does not repeat the password."""
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    env = {
        "MAILFLOW_SOURCE": dovecot.source_url("alice@example.test"),
        "MAILFLOW_SOURCE_PASSWORD": "wrong-Pa55word",
    }
    result = runner.invoke(app, ["poll", "--once"], env=env)
    assert result.exit_code == 1
    assert "wrong-Pa55word" not in result.output
    assert "wrong-Pa55word" not in result.stderr


def test_rules_test_dry_run_sends_and_stores_nothing(runner: CliRunner, tmp_path: Path) -> None:
    """`rules test --json` shows the hits, the misses and the mail that would go; no file appears."""
    result = runner.invoke(app, ["rules", "test", str(MINUTES), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert [h["rule"] for h in doc["hits"]] == ["会议纪要确认"]
    assert any("said stop" in m["why"] for m in doc["misses"])
    [mail] = doc["mails"]
    assert mail["template"] == "minutes_received"
    assert mail["to"] == ["zhang.san@example.com"]
    assert mail["subject"] == "【纪要确认】技术部-Q4产品迭代进度同步"
    assert "已阅" in mail["text"]
    assert doc["confirmation_requests"][0]["within"] == "24 hours"
    assert not (tmp_path / "var").exists()


OUTSIDER_MINUTES = """\
From: =?utf-8?b?6ZmI5pmT5bOw?= <chen.xiaofeng@yuntong-wuliu.cn>
To: =?utf-8?b?6ams5Li9?= <ma.li@example.com>, coord@example.com
Cc: ops@cangchu-partner.com, zhang.wei@yuntong-wuliu.cn
Subject: =?utf-8?b?44CQ5Lya6K6u57qq6KaB44CR6YeH6LSt6YOoLeS7k+mFjeWvueaOpeS8mg==?=
Date: Tue, 10 Oct 2023 16:20:00 +0800
Message-ID: <20231010.ytwl.0412@yuntong-wuliu.cn>
Authentication-Results: mx.example.com; spf=pass smtp.mailfrom=yuntong-wuliu.cn
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

马经理好，

今天仓配对接会的纪要如下，请各位确认：
1. 十月第三周起改为每日两班配送。
2. 退货入库单据由仓储方统一扫描回传。

陈晓峰
运通物流 客户经理
"""


def test_rules_test_lists_the_recipients_an_outsider_could_not_choose(
    runner: CliRunner, tmp_path: Path
) -> None:
    """`rules test` names every address the recipient policy drops from an outsider's mail, and why."""
    eml = tmp_path / "outsider.eml"
    eml.write_bytes(OUTSIDER_MINUTES.encode("utf-8"))
    doc = json.loads(runner.invoke(app, ["rules", "test", str(eml), "--json"]).stdout)
    assert doc["sender_internal"] is False
    [mail] = doc["mails"]
    assert (mail["to"], mail["cc"]) == (
        ["chen.xiaofeng@yuntong-wuliu.cn"],
        ["zhang.wei@yuntong-wuliu.cn"],
    )
    dropped = {(d["address"], d["reason"]) for d in doc["dropped_recipients"]}
    assert dropped == {
        ("ma.li@example.com", "outsider_named_staff"),
        ("ops@cangchu-partner.com", "outsider_third_domain"),
    }
    human = runner.invoke(app, ["rules", "test", str(eml)], terminal_width=200)
    assert human.exit_code == 0, human.output
    assert "recipients left out" in human.stdout
    assert "ops@cangchu-partner.com" in human.stdout
    assert "sender: external" in human.stdout


TICKET_ECHO = """\
From: Helpdesk <helpdesk@saas-tickets.example>
To: coord@example.com
Subject: =?utf-8?b?44CQ5Lu75Yqh5YiG6YWN44CR5biC5Zy66YOoLeWxleS8muWHhuWkhw==?=
Date: Wed, 11 Oct 2023 09:00:05 +0800
Message-ID: <t-99120@saas-tickets.example>
References: <mailflow.0f1e2d3c4b5a69788796a5b4c3d2e1f0@example.com>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Ticket 99120 updated.
任务：准备展会物料；责任人：王五；完成时限：10月20日；交付标准：物料清单
"""


def test_rules_test_says_a_reply_to_our_own_mail_is_never_answered(
    runner: CliRunner, tmp_path: Path
) -> None:
    """A mail whose References hold one of mailflow's Message-IDs gets no answer, and rules test says why."""
    eml = tmp_path / "echo.eml"
    eml.write_bytes(TICKET_ECHO.encode("utf-8"))
    doc = json.loads(runner.invoke(app, ["rules", "test", str(eml), "--json"]).stdout)
    assert "answers mailflow's own mail" in doc["answers_own_mail"]
    assert doc["mails"] == [] and doc["hits"] == []
    human = runner.invoke(app, ["rules", "test", str(eml)], terminal_width=200)
    assert "never answered" in human.stdout


def test_run_once_writes_replies_as_eml_and_lists_them(runner: CliRunner, tmp_path: Path) -> None:
    """The embedded default answers the example inbox with .eml files and lists them as sent."""
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    result = runner.invoke(app, ["run", "--once"])
    assert result.exit_code == 0, result.output
    emls = sorted((tmp_path / "var" / "outbox").glob("*.eml"))
    listed = json.loads(runner.invoke(app, ["outbox", "list", "--json"]).stdout)
    assert len(emls) == len(listed) > 0
    assert {r["status"] for r in listed} == {"sent"}
    contract = {
        "id",
        "kind",
        "to",
        "cc",
        "subject",
        "status",
        "in_reply_to",
        "due_at",
        "sent_at",
        "message_id",
    }
    assert all(set(r) >= contract for r in listed)
    kinds = {r["kind"] for r in listed}
    assert {"minutes_received", "subject_help", "complaint_ack"} <= kinds


def test_worker_needs_a_shared_broker(runner: CliRunner) -> None:
    """`mailflow worker` without MAILFLOW_BROKER_URL says to use `run` instead, and exits 1."""
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    result = runner.invoke(app, ["worker"])
    assert result.exit_code == 1
    assert "MAILFLOW_BROKER_URL" in result.stderr


HR_SHEET = "姓名,邮箱,部门,直属上级\n罗红,luo.hong@example.com,行政部,\n方舟,fang.zhou@example.com,行政部,罗红\n"


def test_directory_sync_from_an_hr_sheet(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`directory sync --dry-run --json` shows who would be added and writes nothing; without
    --dry-run the synced file appears and the new person is in the directory `rules check` sees."""
    rules = tmp_path / "rules"
    shutil.copytree(REPO / "rules", rules)
    (rules / "hr.csv").write_text(HR_SHEET, encoding="utf-8")
    with (rules / "organization.yaml").open("a", encoding="utf-8") as f:
        f.write("\ndirectory_sync:\n  from: sheet\n  sheet: {path: hr.csv}\n")
    monkeypatch.setenv("MAILFLOW_RULES_DIR", str(rules))
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    dry = runner.invoke(app, ["directory", "sync", "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    doc = json.loads(dry.stdout)
    assert [p["email"] for p in doc["added"]] == ["luo.hong@example.com", "fang.zhou@example.com"]
    assert doc["applied"] is False and not (rules / "organization.synced.yaml").exists()
    done = runner.invoke(app, ["directory", "sync"])
    assert done.exit_code == 0, done.output
    assert "2 added" in done.stdout and (rules / "organization.synced.yaml").is_file()
    assert runner.invoke(app, ["rules", "check"]).exit_code == 0


def test_directory_sync_without_a_source_is_a_user_error(runner: CliRunner) -> None:
    """Without directory_sync in organization.yaml the command says where to look, exit 1."""
    result = runner.invoke(app, ["directory", "sync", "--dry-run"])
    assert result.exit_code == 1
    assert "no directory_sync section" in result.output


HOMONYM_TASK = """\
From: 高洁 <gao.jie@example.com>
To: coord@example.com
Subject: =?utf-8?b?44CQ5Lu75Yqh5YiG6YWN44CR5rOV5Yqh6YOoLeWQiOWQjOWuoeaguA==?=
Date: Mon, 07 Dec 2026 10:00:00 +0800
Message-ID: <homonym-cli@example.com>
Content-Type: text/plain; charset=utf-8

王五负责在12月11日前提交合同审核意见。
"""


def test_rules_test_asks_which_of_two_people_of_one_name(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With two 王五 in the directory and nothing in the mail to tell them apart, the dry run
    shows the sender being asked which one, naming both addresses."""
    rules = tmp_path / "rules"
    shutil.copytree(REPO / "rules", rules)
    org = rules / "organization.yaml"
    org.write_text(
        org.read_text(encoding="utf-8")
        + "  - {name: 王五, email: wang.wu2@example.com, department: 技术部}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("MAILFLOW_RULES_DIR", str(rules))
    mail = tmp_path / "task.eml"
    mail.write_text(HOMONYM_TASK, encoding="utf-8")
    result = runner.invoke(app, ["rules", "test", str(mail)])
    assert result.exit_code == 0, result.output
    assert "missing_fields" in result.stdout
    assert "wang.wu@example.com" in result.stdout and "wang.wu2@example.com" in result.stdout
