"""The phrases that carry a confirmation, their negations, and what makes a phrase not count.

Kept apart from ``confirmation`` so the tables read as data. Each pattern is applied to one
clause (text between commas, colons and sentence ends). Negated and hedged forms are
matched first and masked, so 无异议 never reads as 有异议 and 不同意 never as 同意.
Imports nothing of storage/sources/jobs.
"""

from __future__ import annotations

import re

from mailflow.mail.model import ACK, DONE, OBJECTION

_NEG = r"(?:还|尚|仍|并|暂|都|均)?(?:未能|未|没有|没|无法|不能|不会|不)"
_WHO = r"(?:我|本人|我们|我方|我司|我部|我这边|这边)?"
_TASK = r"(?:完成|提交|交付|上线|处理|办结|解决|修复|做完)"

# Forms that carry nothing: a negated task, a double negation, a pending confirmation.
NEUTRAL = re.compile(
    rf"{_NEG}(?:全部|完全|按时|及时|能)?{_TASK}"
    rf"|{_TASK}不了|(?:不是|并非|并不是)不同意|(?:未|无法|尚未|还没|没有?)(?:确认|阅读?|查阅)|待确认"
    r"|\b(?:not|n't|never|yet to)\b[\w\s]{0,20}"
    r"\b(?:done|completed?|finished|delivered|agree[ds]?)\b",
    re.IGNORECASE,
)

# Negated objections are acknowledgements: 无异议, 没有异议, 并无异议, 无需修改.
NEGATED_OBJECTION = re.compile(
    r"(?:无|没有|没|并无|并没有|毫无|暂无|没有任何|无任何)(?:异议|不同意见|不同意|反对意见|意见|修改意见)"
    r"|(?:无需|无须|不需要|不需|不用)(?:修改|调整|改动)"
    r"|\bno objections?\b",
    re.IGNORECASE,
)

OBJECTION_PHRASE = re.compile(
    r"有异议|异议如下|^异议|不同意|不赞同|不认可|有不同意见|有不同看法|反对"
    r"|需要?(?:修改|调整)|暂不确认|不予确认"
    r"|建议(?:修改|调整|更改|改为|改成)"
    r"|建议(?:将|把)[^，,。；;]{1,20}?(?:修改|调整|改为|改成|延后|推迟|顺延|提前)"
    r"|\b(?:i|we)\s+(?:object|disagree|do\s+not\s+agree|don't\s+agree|cannot\s+agree|can't\s+agree)\b"
    r"|^objection\b|\bnot\s+agreed\b",
    re.IGNORECASE,
)

# A percentage or a part is progress, not a finished task (已完成70%, 已完成大部分), and
# 已完成的 describes a thing rather than reporting work done.
_PARTIAL = r"(?!\s*了?\s*(?:的|\d|百分之|部分|一半|大部分|大半))"
DONE_PHRASE = re.compile(
    rf"(?:已经?|均已|都已|全部已)(?:全部|按时|顺利|如期)?{_TASK}(?:完毕|完成|好|了)?{_PARTIAL}"
    rf"|(?:完成|做完|搞定)了{_PARTIAL}"
    r"|^(?:all\s+|it'?s\s+|it\s+is\s+)?(?:done|completed|finished)\s*[.!]*$"
    r"|\b(?:has|have)\s+been\s+(?:completed|done|delivered|submitted|finished|resolved)\b"
    r"|\b(?:is|are)\s+(?:now\s+)?(?:done|completed|finished)\b"
    r"|\b(?:i|we)\s+(?:have\s+)?(?:completed|finished|submitted|delivered)\b",
    re.IGNORECASE,
)

ACK_PHRASE = re.compile(
    r"已阅|阅悉|已查阅|已经?知悉|^知悉|收悉"
    rf"|^{_WHO}(?:已经?|均已|都已|全部)?收到(?:了|啦|哈|啊|谢谢|感谢|！|!|~)*$"
    rf"|^{_WHO}(?:已经?|均已|都已)收到"
    rf"|^{_WHO}(?:完全|均|都|也|原则上|表示)?同意"
    rf"|^(?:已经?)?确认(?:无误|收到)?$|^{_WHO}已经?确认|确认无误"
    r"|^(?:acknowledged|noted|agreed|(?:i|we)\s+agree)\b",
    re.IGNORECASE,
)

# Said before the phrase in its clause, these make it a condition, request or question.
NOT_A_STATEMENT = re.compile(
    r"(?<![例比])如(?!下|此|今|期|实|同|何)|倘若|若|是否|有无|有没有|能否|可否|请|烦请|麻烦|回复"
    r"|\b(?:if|when|whether|once|please|let me know|until|unless|before)\b",
    re.IGNORECASE,
)
QUESTION_END = re.compile(r"(?:吗|么|呢|[?？])\s*$")
QUOTE_PAIRS = (("“", "”"), ("「", "」"), ("『", "』"), ("《", "》"))

# Strongest first: an objection outranks a report of work done, which outranks an ack.
KINDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (OBJECTION, OBJECTION_PHRASE),
    (DONE, DONE_PHRASE),
    (ACK, ACK_PHRASE),
)
RANK = {OBJECTION: 3, DONE: 2, ACK: 1}
