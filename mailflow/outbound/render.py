"""Render administrator-edited mail templates in the sandbox (DESIGN.md §7 invariant 10).

Layout under the templates folder (templates/README.md explains it to administrators)::

    <lang>/<name>.subject.txt   the subject, one line (required)
    <lang>/<name>.txt           the plain-text part (required)
    <lang>/<name>.html          the HTML part (optional, autoescaped)
    <lang>/_<partial>.txt|html  pieces shared through {% include %}

``zh-CN`` is the default language; a template missing in the asked language falls back to it.
Mail content only ever reaches a template as context data. This module never decides who gets
mail or when, and imports nothing of mailflow but ``errors`` and its own package.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from jinja2 import TemplateNotFound, TemplateSyntaxError

from mailflow.errors import TemplateError
from mailflow.outbound.sandbox import MAX_OUTPUT_CHARS, MailSandbox, make_environment
from mailflow.outbound.template_check import check_templates, template_files
from mailflow.outbound.template_variables import with_defaults

DEFAULT_LANG = "zh-CN"
MAX_SUBJECT_CHARS = 200
SUBJECT_SUFFIX = ".subject.txt"
TEXT_SUFFIX = ".txt"
HTML_SUFFIX = ".html"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_LANG = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})?$")
# every line break Unicode knows, tabs and other C0/C1 controls: a subject is one header line
_BREAKS = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")
_SPACES = re.compile(r" {2,}")


@dataclass(frozen=True)
class RenderedMail:
    """A rendered template: a one-line subject, a text part and an optional HTML part."""

    subject: str
    text: str
    html: str | None


class TemplateSet:
    """The templates of one folder, rendered in a text sandbox and an autoescaping HTML one."""

    def __init__(self, templates_dir: Path, default_lang: str = DEFAULT_LANG) -> None:
        self.root = Path(templates_dir)
        self.default_lang = default_lang
        self._text: MailSandbox = make_environment(self.root, html=False)
        self._html: MailSandbox = make_environment(self.root, html=True)

    def __repr__(self) -> str:
        return f"TemplateSet({str(self.root)!r})"

    def languages(self) -> list[str]:
        """Return the language folders present, sorted."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and _LANG.match(p.name))

    def names(self) -> set[str]:
        """Return every template name that has at least a subject or a text part."""
        names: set[str] = set()
        for lang in self.languages():
            names.update(name for name, _part in template_files(self.root / lang).values())
        names.discard("")
        return names

    def check(self) -> list[str]:
        """Return every problem as ``file:line: message``; an empty list means all is well."""
        return check_templates(self.root, self.languages(), self._text, self._html)

    def render(
        self, name: str, context: Mapping[str, Any], lang: str = DEFAULT_LANG
    ) -> RenderedMail:
        """Return the rendered mail; raise TemplateError naming the file and line at fault."""
        if not _NAME.match(name):
            raise TemplateError(f"{name!r} is not a template name (lower-case letters, _, digits)")
        lang = self._language_of(name, lang)
        data = with_defaults(context)
        subject = _one_line(self._render(self._text, f"{lang}/{name}{SUBJECT_SUFFIX}", data))
        if not subject:
            raise TemplateError(f"{self.root / lang / (name + SUBJECT_SUFFIX)}: subject is empty")
        text = self._render(self._text, f"{lang}/{name}{TEXT_SUFFIX}", data)
        html = None
        if (self.root / lang / f"{name}{HTML_SUFFIX}").is_file():
            html = self._render(self._html, f"{lang}/{name}{HTML_SUFFIX}", data)
        return RenderedMail(subject=subject, text=text, html=html)

    def _language_of(self, name: str, lang: str) -> str:
        for candidate in (lang, self.default_lang):
            if (
                _LANG.match(candidate)
                and (self.root / candidate / f"{name}{TEXT_SUFFIX}").is_file()
            ):
                return candidate
        raise TemplateError(
            f"no template {name!r} in {self.root / lang} or {self.root / self.default_lang}"
        )

    def _render(self, env: MailSandbox, path: str, data: Mapping[str, Any]) -> str:
        where = str(self.root / path)
        try:
            template = env.get_template(path)
            return _tidy("".join(_chunks(template.generate(data), where)))
        except TemplateError:
            raise
        except TemplateNotFound:
            raise TemplateError(f"{where}: file not found") from None
        except TemplateSyntaxError as e:
            raise TemplateError(f"{where}:{e.lineno}: {e.message}") from e
        except Exception as e:  # any failure of admin-written template code is a template error
            line = _template_line(e.__traceback__, where)
            raise TemplateError(f"{where}:{line}: {type(e).__name__}: {e}") from e


def _chunks(parts: Any, where: str) -> Any:
    """Yield rendered pieces, stopping as soon as the output passes the size cap."""
    total = 0
    for part in parts:
        total += len(part)
        if total > MAX_OUTPUT_CHARS:
            raise TemplateError(f"{where}: output is over {MAX_OUTPUT_CHARS} characters")
        yield part


def _tidy(text: str) -> str:
    return text.strip("\n") + "\n"


def _one_line(subject: str) -> str:
    """Return ``subject`` on one line: breaks and controls become spaces, length is capped."""
    line = _SPACES.sub(" ", _BREAKS.sub(" ", subject)).strip()
    if len(line) > MAX_SUBJECT_CHARS:
        line = line[: MAX_SUBJECT_CHARS - 1].rstrip() + "…"
    return line


def _template_line(tb: TracebackType | None, filename: str) -> int:
    """Return the template line Jinja2 put in the traceback for ``filename`` (1 if none)."""
    line = 1
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
