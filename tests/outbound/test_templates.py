"""Every shipped template checks clean and renders in both languages with a realistic context."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailflow.outbound.render import TemplateSet
from tests.outbound.samples import sample_context
from tests.rulebook.builders import TEMPLATES as TEMPLATES_THE_RULES_NAME

TEMPLATES = TemplateSet(Path("templates"))
DEFAULT_RULE_TEMPLATES = TEMPLATES_THE_RULES_NAME  # one list, kept by the rulebook tests
# what each template must say in each language, given sample_context()
MUST_SAY = {
    ("subject_help", "zh-CN"): ["【事由】部门-主题", "建议改为：【进度】技术部-Q4产品迭代进度同步"],
    ("receipt", "zh-CN"): [
        "准备宣传物料",
        "责任人：市场部",
        "请回复补充：完成时限、交付标准",
        "进度表.xlsx",
    ],
    ("minutes_received", "zh-CN"): ["24小时内", "已阅", "有异议", "张三、李四"],
    ("missing_fields", "zh-CN"): ["准备宣传物料：缺少完成时限、交付标准"],
    ("attachment_required", "zh-CN"): ["《项目进度跟踪表》"],
    ("managers_copy", "zh-CN"): ["摘要", "接口联调存在一周延期风险"],
    ("complaint_ack", "zh-CN"): ["24小时内", "问题处理方案"],
    ("change_request_ack", "zh-CN"): ["双方书面确认"],
    ("rules_error_admin", "zh-CN"): ["rules/rules.yaml:12: unknown template 'reciept'"],
    ("receipt", "en"): ["Owner: 市场部", "missing deadline, deliverable"],
    ("minutes_received", "en"): ["within 24 hours", "已阅"],
}


def test_shipped_templates_check_clean() -> None:
    """templates/ has no problem and holds a template for every default rule."""
    assert TEMPLATES.check() == []
    assert TEMPLATES.names() >= DEFAULT_RULE_TEMPLATES
    assert TEMPLATES.languages() == ["en", "zh-CN"]


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
@pytest.mark.parametrize("name", sorted(DEFAULT_RULE_TEMPLATES))
def test_every_template_renders(name: str, lang: str) -> None:
    """Each template renders a one-line subject and a non-empty text in each language."""
    assert (Path("templates") / lang / f"{name}.txt").is_file()
    mail = TEMPLATES.render(name, sample_context(), lang=lang)
    assert mail.subject.startswith("【") and "\n" not in mail.subject
    assert "None" not in mail.text and "  \n" not in mail.text
    assert "coord@example.com" in mail.text
    for phrase in MUST_SAY.get((name, lang), []):
        assert phrase in mail.text, (phrase, mail.text)
    if mail.html is not None:
        assert "coord@example.com" in mail.html


def test_subjects_keep_the_convention() -> None:
    """Replies derive 【事由】部门-主题 from the original's department and topic."""
    ctx = sample_context()
    assert TEMPLATES.render("receipt", ctx).subject == "【回执】技术部-Q4产品迭代进度同步"
    assert TEMPLATES.render("receipt", ctx, "en").subject == "【Receipt】技术部-Q4产品迭代进度同步"
    bare = sample_context(department=None)
    bare["message"] = bare["message"] | {"department": None, "topic": None, "subject": "问题反馈"}
    assert TEMPLATES.render("complaint_ack", bare).subject == "【投诉受理】问题反馈"


def test_minimal_context_renders() -> None:
    """With only the required variables, every template still renders (optional ones default)."""
    ctx = sample_context()
    minimal = {k: ctx[k] for k in ("organization", "message", "recipient", "rule")}
    for name in sorted(DEFAULT_RULE_TEMPLATES):
        for lang in ("zh-CN", "en"):
            assert TEMPLATES.render(name, minimal, lang).text
