"""The grammar of a confirmation: heads that carry one, their negations, and the noise around them.

Kept apart from ``confirmation`` so the tables read as data. A reply is read as
``[greeting] head [tail]``: the head is the confirming phrase (已阅, 收到, 有异议, 已完成, Noted,
Done …), the tail is noise that changes nothing (punctuation, emoji, particles such as 了/哈/哦,
politeness such as 谢谢/辛苦了/thanks), and the scope words before a head (请, 如, 是否, 没说,
谁说 …) or a question at the end of its sentence take the confirmation away. Each pattern is
applied to one clause (text between commas, colons and sentence ends) after ``TAIL`` noise is
trimmed. Negated and hedged forms are matched first and masked, so 无异议 never reads as 有异议
and 不同意 never as 同意. Traditional characters are read as simplified (``TRADITIONAL``: 已閱,
無異議), and an English echo after a Chinese head (收到 noted) is tail. Patterns whose pieces
overlap match possessively, so no reply can make them backtrack exponentially.
Imports nothing of storage/sources/jobs.
"""

from __future__ import annotations

import re

from mailflow.mail.model import ACK, DONE, OBJECTION

_NEG = r"(?:还|尚|仍|并|暂|都|均)?(?:未能|未|没有|没|无法|不能|不会|不)"
_SPEAKER = r"我|本人|我们|我方|我司|我部|我这边|这边"
_WHO = rf"(?:{_SPEAKER})?"
_TASK = r"(?:完成|提交|交付|上线|处理|办结|解决|修复|做完|发送|发出|上传|整改|落实|办理|归档)"
# What was received, said before 收到: 纪要收到 / 邮件已收到 / 资料都收到了
_THING = r"(?:(?:会议)?纪要|邮件|通知|附件|资料|文件|材料|方案|报告|信息|消息|内容|货物?|样品)?"
# Assent that may open a clause before the head: 好的，收到 / 好的收到 / OK noted / 嗯嗯已阅.
_LEAD = r"(?:(?:好的?|好嘞|行|嗯+|哦+|噢|ok(?:ay)?|ok的)\s*)?"
# What may follow a head inside its clause without changing it: particles and politeness.
_PARTICLES = r"了|啦|哈|啊|呀|哦|喔|噢|嗯|咯|哒|滴|啰|哟"
_THANKS = (
    r"谢谢(?:你|您|了|啦)?|多谢|感谢|辛苦(?:了|啦)?|劳驾|"
    r"thanks?(?:\s+a\s+lot)?|thank\s+you|thx|ty|many\s+thanks|with\s+thanks"
)
# an English echo after a Chinese head (收到 noted, 已阅 OK) changes nothing either
_ECHO = r"ok(?:ay)?|noted|received|well\s+received"
# possessive (*+): the pieces overlap (谢谢了 / 谢谢 + 了), and backtracking over them would be
# exponential in the length of a run such as 哈哈哈…
TAIL = rf"(?:\s*(?:{_PARTICLES}|{_THANKS}|{_ECHO}|[!！~～。.…]))*+"

# Forms that carry nothing: a negated task, a double negation, a pending confirmation.
NEUTRAL = re.compile(
    rf"{_NEG}(?:全部|完全|按时|及时|能)?{_TASK}"
    rf"|{_TASK}不了|(?:不是|并非|并不是)不同意|(?:未|无法|尚未|还没|没有?)(?:确认|阅读?|查阅|收到)"
    r"|待确认|未读"
    # a receipt of "your mail" is how autoresponders answer, not a reading of the minutes
    r"|收到(?:您|你|贵方|阁下)的(?:邮件|来信|信件|消息|来函)|(?:您|你)的(?:邮件|来信|来函)(?:已|我已)收到"
    r"|\b(?:i|we)(?:'ve|\s+have)?\s+received\s+your\s+(?:e-?mail|message)"
    r"|\b(?:not|n't|never|yet to)\b[\w\s]{0,20}"
    r"\b(?:done|completed?|finished|delivered|agree[ds]?|received|noted)\b",
    re.IGNORECASE,
)

# Negated objections are acknowledgements: 无异议, 没有异议, 并无异议, 无需修改.
NEGATED_OBJECTION = re.compile(
    r"(?:无|没有|没|并无|并没有|毫无|暂无|没有任何|无任何)(?:其他|其它|别的|任何)?"
    r"(?:异议|不同意见|不同意|反对意见|意见|修改意见|补充意见|补充)"
    r"|(?:无需|无须|不需要|不需|不用)(?:修改|调整|改动|延期|推迟)"
    r"|\bno\s+(?:objections?|comments?|concerns?|issues?|further\s+comments?)\b",
    re.IGNORECASE,
)

OBJECTION_PHRASE = re.compile(
    r"有异议|异议如下|^异议|不同意|不太同意|不赞同|不认可|不太认可|有不同意见|有不同看法|反对"
    rf"|保留意见|(?:^|{_SPEAKER}|对[^，,。；;]{{1,20}}?)有(?:几点|两点|一点|些|一些)?(?:意见|顾虑)(?!的)"
    r"|修改意见|需要?(?:修改|调整|更正|改动|延期|推迟|顺延|延后)|应(?:改为|调整为|修改为)"
    r"|暂不确认|不予确认"
    r"|(?:有误|写错|不对|不准确|不正确)(?:了)?$"
    r"|建议(?:修改|调整|更改|改为|改成)"
    r"|建议(?:将|把)[^，,。；;]{1,20}?(?:修改|调整|改为|改成|延后|推迟|顺延|提前)"
    r"|\b(?:i|we)\s+(?:object|disagree|do\s+not\s+agree|don'?t\s+agree|cannot\s+agree"
    r"|can'?t\s+agree|have\s+(?:some\s+)?(?:concerns?|objections?|reservations?))\b"
    r"|^objection\b|\bnot\s+agreed\b|\bnot\s+ok(?:ay)?\s+with\b"
    r"|\b(?:needs?|should)\s+(?:to\s+)?be\s+(?:changed|revised|amended|corrected|updated)\b"
    r"|\bneeds?\s+(?:revision|changes?|correction)\b|\bis\s+(?:wrong|incorrect)\b"
    r"|\b(?:propose|suggest|request)\s+(?:a\s+|some\s+|two\s+)?(?:small\s+|minor\s+)?"
    r"(?:changes?|amendments?|corrections?|revisions?)\b",
    re.IGNORECASE,
)

# A percentage or a part is progress, not a finished task (已完成70%, 已完成大部分), and
# 已完成的 describes a thing rather than reporting work done.
_PARTIAL = r"(?!\s*了?\s*(?:的|\d|百分之|部分|一半|大部分|大半))"
_EN_DONE = r"(?:done|completed|finished|submitted|sent|delivered|uploaded|fixed|resolved)"
DONE_PHRASE = re.compile(
    rf"(?:已经?|均已|都已|全部已)(?:全部|按时|顺利|如期)?{_TASK}(?:完毕|完成|好|了)?{_PARTIAL}"
    rf"|(?:完成|做完|搞定|弄好|改好|办好)了{_PARTIAL}|^(?:已经?)?搞定{TAIL}$"
    r"|(?:修改|修订|更新|整理|准备|编写|撰写|核对|整改)(?:完毕|完成|好了)"
    r"|(?:附件|附上|随附|附件中)(?:为|是|即为|即是)?(?:最终版|终版|定稿|终稿|正式版|最终稿)"
    r"|(?:最终版|终版|定稿|终稿|正式版|最终稿)(?:已|请|详|见)[^，,。]{0,4}附件"
    rf"|^(?:all\s+|it'?s\s+|it\s+is\s+|task\s+|item\s+\d+\s+)?{_EN_DONE}"
    rf"(?:\s+(?:already|now|today|as\s+requested|as\s+agreed))?{TAIL}$"
    # Report submitted. / Already sent to the client. / Completed and uploaded to SharePoint.
    rf"|^(?:the\s+)?(?:[a-z]+\s+){{0,2}}?(?:already\s+)?{_EN_DONE}(?:\s+(?:and|&)\s+{_EN_DONE})?"
    rf"(?:\s+(?:to|on|in|via|into)\s+[^.,;]{{1,40}})?{TAIL}$"
    r"|\b(?:has|have)\s+(?:now\s+)?been\s+(?:completed|done|delivered|submitted|finished"
    r"|resolved|sent|uploaded|fixed)\b"
    r"|\b(?:is|are)\s+(?:now\s+)?(?:done|completed|finished)\b"
    r"|\b(?:i|we)(?:'ve|\s+have)?\s+(?:just\s+|already\s+)?(?:completed|finished|submitted"
    r"|delivered|uploaded)\b"
    r"|\b(?:attached|enclosed)\s+(?:is\s+)?the\s+final\s+(?:version|draft)"
    r"|\bfinal\s+(?:version|draft)\s+(?:is\s+)?(?:attached|enclosed)",
    re.IGNORECASE,
)

_EN_ACK = (
    r"(?:well\s+)?noted|acknowledged|received|well\s+received|got\s+it|understood|will\s+do|roger"
    r"|copy\s+that|confirmed|agreed?|(?:i|we)\s+(?:fully\s+)?agree"
    r"|(?:i|we)(?:'ve|\s+have)\s+(?:read|received)"
    r"|sounds\s+good|looks\s+good|lgtm|fine\s+(?:with|by)\s+(?:me|us)|all\s+good"
)
ACK_PHRASE = re.compile(
    r"已阅|阅悉|已查阅|已经?知悉|^知悉|收悉|^已读(?!回执)|^阅$"
    rf"|^{_LEAD}{_WHO}{_THING}(?:已经?|均已|都已|全部|全都|都|均|也)?(?:收到)+{TAIL}$"
    rf"|^{_LEAD}{_WHO}(?:已经?|均已|都已)收到"
    rf"|^{_LEAD}{_WHO}(?:完全|均|都|也|原则上|表示)?(?:同意|赞同|认同)"
    rf"|^{_LEAD}{_WHO}(?:已经?(?:看|看过|看完)|看过|看完)了?{TAIL}$"
    rf"|^{_LEAD}(?:已经?)?确认(?:无误|收到)?{TAIL}$|^{_LEAD}{_WHO}已经?确认|确认无误"
    rf"|^{_LEAD}(?:知道了|了解|明白|清楚)(?:了|啦)?{TAIL}$"
    rf"|^{_LEAD}(?:{_EN_ACK})\b"
    # 没问题 / OK said of something (我这边没问题, 纪要内容没有问题); alone it is bare assent
    rf"|^{_LEAD}(?:{_SPEAKER}|纪要|内容|方案|以上|上述)[^，,。]{{0,6}}?(?:都|均|也|全部)?"
    rf"(?:ok|没问题|没有问题|无问题){TAIL}$"
    r"|^(?:i'?m|we'?re|i\s+am|we\s+are|all)\s+(?:ok(?:ay)?|fine|good)\s+with\b",
    re.IGNORECASE,
)

# A whole reply of nothing but assent (好的 / OK / 👌 / 👍 / [强]) acknowledges what it answers.
BARE_ASSENT = re.compile(
    r"^(?:\s|[,，.。!！~～…]|好的?|好嘞|嗯|行|可以|没问题|ok(?:ay)?|ok的|sure|yes|yep"
    r"|sounds\s+good|perfect|great|👌|👍|🙆|🆗|✔|✅|\[(?:ok|强|赞|好的|OK|握手|抱拳)\]"
    rf"|\ufe0f|[\U0001f3fb-\U0001f3ff]|{_THANKS})++$",
    re.IGNORECASE,
)
# ... and carries at least one word of assent: a bare 谢谢 / Thanks! is politeness only.
ASSENT_WORD = re.compile(
    r"好|嗯|行|可以|没问题|ok|sure|yes|yep|sounds\s+good|perfect|great|👌|👍|🙆|🆗|✔|✅|\[[^\]]+\]",
    re.IGNORECASE,
)

# Said before the phrase in its clause, these make it a condition, request, question or a
# report of someone else's words rather than the sender's own statement.
NOT_A_STATEMENT = re.compile(
    r"(?<![例比])如(?!下|此|今|期|实|同|何)|倘若|若|假如|是否|有无|有没有|能否|可否|请|烦请|麻烦"
    r"|回复|(?:没|没有|并没有?|从没|从来没有?|未曾|不曾)(?:说|讲|写|回|表示|答应|讲过|说过)"
    r"|谁说|谁讲|哪里|哪儿|不是|并非|不算|不等于|不代表|何时"
    r"|\b(?:if|when|whether|once|please(?!\s+(?:find|see))|let\s+me\s+know|until|unless|before"
    r"|never\s+said|didn'?t\s+say)\b",
    re.IGNORECASE,
)
QUESTION_END = re.compile(
    r"(?:吗|么|呢|了没有?|没有?[?？]?|与否|是不是|对不对|行不行|好不好|[?？])\s*$"
)
QUESTION_START = re.compile(
    r"^(?:did|do|does|have|has|is|are|can|could|would|will|should|shall)\s+"
    r"(?:you|they|we|it|he|she|everyone|all|anyone|this|that)\b",
    re.IGNORECASE,
)
QUOTE_PAIRS = (("“", "”"), ("「", "」"), ("『", "』"), ("《", "》"))

# Wording only autoresponders use: a reply carrying it confirms nothing at all.
AUTORESPONDER = re.compile(
    r"自动回复|自動回覆|自动答复|自动应答|系统自动发送|请勿直接回复|(?:无法|不能)及时(?:回复|处理|查看)"
    r"|(?:返回|回来|回到公司|上班)后(?:尽快|再|会|将)*(?:回复|处理|联系)"
    r"|\bauto(?:matic|mated)?[- ]?(?:reply|response|generated)\b|\bautoreply\b"
    r"|\bout\s+of\s+(?:the\s+)?office\b|\bdo\s+not\s+reply\b|\blimited\s+access\s+to\b"
    r"|\b(?:upon|on)\s+my\s+return\b|\bwhen\s+i\s+(?:am\s+back|return)\b",
    re.IGNORECASE,
)

# Lines that end what the sender wrote: a sign-off, the signature delimiter, a client's footer.
SIGN_OFF = re.compile(
    r"^\s*(?:--|——+|__+|-{3,}"
    r"|(?:best|kind|warm|many)\s+regards|regards|br|cheers|thanks\s*(?:&|and)\s*regards"
    r"|此致|顺颂商祺|顺祝商祺|祝好|顺祝|敬礼)[\s,，!！.。]*$",
    re.IGNORECASE,
)
# A line that opens quoted history the client left in: the reply ends there.
REPLY_HEADER = re.compile(
    r"^\s*(?:-{2,}\s*(?:原始邮件|original message|回复的原邮件|转发的邮件|forwarded message)"
    r"\s*-{2,}|(?:发件人|from)\s*[:：].+|在.{4,60}写道\s*[:：]"
    r"|on\s.{4,80}wrote\s*:|.{4,60}于.{4,40}写道\s*[:：])\s*$",
    re.IGNORECASE,
)
_DEVICE = (
    r"iphone|ipad|android|huawei|华为|mate|荣耀|honor|小米|xiaomi|redmi|oppo|vivo|一加|oneplus"
    r"|outlook|企业微信|wecom|钉钉|dingtalk|网易|qq|foxmail|mail|手机|移动|mobile|phone|客户端|邮箱"
)
# A whole short line such as 发自我的iPhone, ——来自企业微信, Sent from my Huawei phone. The
# leading run of spaces and dashes is possessive: given back, it only tries the same words again,
# and a line of 20,000 spaces cost minutes of backtracking (benchmarks/parse_fuzz.py found it).
CLIENT_FOOTER = re.compile(
    rf"^\s*+[-—–_~]*+\s*+(?=.{{0,60}}$)(?=.*(?:{_DEVICE}))"
    r"(?:发自|来自|從|从|寄自|sent\s+(?:from|via|with|using)|get\b|获取|envoy[ée]\s+de)"
    r"[\w .\-()（）']*$",
    re.IGNORECASE,
)

# Traditional characters of this grammar, read as their simplified forms (已閱, 無異議, 請查收).
TRADITIONAL = str.maketrans(
    "閱異議無沒確認們這邊謝見對經處決復發請問題調須嗎麼還並暫過說誰裡寫應該與將為於會時間緊項點"
    "貨資檔報傳達訊滿後幾辦畢顧慮誤錯準讀補覆動稱檢驗現總條釐規劃務員導層級實際進",
    "阅异议无没确认们这边谢见对经处决复发请问题调须吗么还并暂过说谁里写应该与将为于会时间紧项点"
    "货资档报传达讯满后几办毕顾虑误错准读补复动称检验现总条厘规划务员导层级实际进",
)

# Strongest first: an objection outranks a report of work done, which outranks an ack.
KINDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (OBJECTION, OBJECTION_PHRASE),
    (DONE, DONE_PHRASE),
    (ACK, ACK_PHRASE),
)
RANK = {OBJECTION: 3, DONE: 2, ACK: 1}
