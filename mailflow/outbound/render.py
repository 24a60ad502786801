"""Render administrator-edited mail templates in the sandbox (DESIGN.md §7 invariant 10).

Layout under the templates folder (templates/README.md explains it to administrators)::

    <lang>/<name>.subject.txt   the subject, one line (required)
    <lang>/<name>.txt           the plain-text part (required)
    <lang>/<name>.html          the HTML part (optional, autoescaped)
    <lang>/_<partial>.txt|html  pieces shared through {% include %}

``zh-CN`` is the default language; a template missing in the asked language falls back to it.
A ``TemplateSet`` reads its folder once (``snapshot``); ``check`` validates that snapshot and
renders every template against representative contexts (``specimen``) within the render budget,
and ``render`` serves the same snapshot, so an edit on disk changes nothing until a new set has
been read and checked (invariant 11). Mail content only ever reaches a template as context data.
This module never decides who gets mail or when, and imports nothing of mailflow but ``errors``
and its own package.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import jinja2
from jinja2 import TemplateNotFound, TemplateSyntaxError

from mailflow.errors import TemplateError
from mailflow.outbound.sandbox import (
    RENDER_TIME_S,
    MailSandbox,
    RenderBudget,
    SnapshotLoader,
    bounded,
    make_environment,
)
from mailflow.outbound.snapshot import LANG, read_snapshot
from mailflow.outbound.specimen import specimens
from mailflow.outbound.template_check import check_templates, template_files
from mailflow.outbound.template_variables import with_defaults

DEFAULT_LANG = "zh-CN"
MAX_SUBJECT_CHARS = 200
SUBJECT_SUFFIX = ".subject.txt"
TEXT_SUFFIX = ".txt"
HTML_SUFFIX = ".html"
_SUFFIXES = (SUBJECT_SUFFIX, TEXT_SUFFIX, HTML_SUFFIX)
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
# every line break Unicode knows, tabs and other C0/C1 controls: a subject is one header line
_BREAKS = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")
_SPACES = re.compile(r" {2,}")


@dataclass(frozen=True)
class RenderedMail:
    """A rendered template: a one-line subject, a text part and an optional HTML part."""

    subject: str
    text: str
    html: str | None


class Renderer(Protocol):
    """What delivery renders with: a validated ``TemplateSet`` or the live one in force."""

    def render(
        self, name: str, context: Mapping[str, Any], lang: str = DEFAULT_LANG
    ) -> RenderedMail: ...


class TemplateSet:
    """The templates of one folder, read once, rendered in a text sandbox and an HTML one."""

    def __init__(
        self,
        templates_dir: Path,
        default_lang: str = DEFAULT_LANG,
        *,
        render_time_s: float = RENDER_TIME_S,
    ) -> None:
        self.root = Path(templates_dir)
        self.default_lang = default_lang
        self.render_time_s = render_time_s
        self._snapshot = read_snapshot(self.root)
        sources = self._snapshot.sources
        self._filenames = {k: str(self.root / k) for k in sources}
        loader = SnapshotLoader(sources, self._filenames)
        self._text: MailSandbox = make_environment(loader, html=False)
        self._html: MailSandbox = make_environment(loader, html=True)

    def __repr__(self) -> str:
        return f"TemplateSet({str(self.root)!r})"

    def languages(self) -> list[str]:
        """Return the language folders present, sorted."""
        return list(self._snapshot.languages)

    def names(self) -> set[str]:
        """Return every template name that has at least a subject or a text part."""
        names: set[str] = set()
        for lang in self.languages():
            names.update(name for name, _part in template_files(self._snapshot, lang).values())
        names.discard("")
        return names

    def check(self) -> list[str]:
        """Return every problem as ``file:line: message``; an empty list means all is well.

        Beyond the static checks, every template of every language is rendered against each
        representative context of its kind, within the render's time, step and size budget.
        """
        problems = check_templates(self._snapshot, self._text, self._html)
        if self.root.is_dir() and self.languages():
            problems.extend(self._trial(problems))
        return list(dict.fromkeys(problems))

    @cached_property
    def verdict_key(self) -> str | None:
        """Return a digest of everything ``check``'s verdict depends on: the files read (names
        and text), what was refused while reading them, the render budget, and the code that
        checks and renders (this package's modules and Jinja2's version). A set whose key
        passed before passes again, so a process that starts on unchanged templates need not
        check them again (``runtime.load_rules``). None when that code cannot be read: the
        check then always runs."""
        digest = hashlib.sha256()
        try:
            for module in sorted(Path(__file__).parent.glob("*.py")):
                digest.update(module.name.encode() + b"\0" + module.read_bytes() + b"\0")
        except OSError:
            return None
        snapshot = self._snapshot
        head = [jinja2.__version__, str(self.root), self.default_lang, repr(self.render_time_s)]
        for part in [*head, *snapshot.languages, "", *snapshot.problems, ""]:
            digest.update(part.encode("utf-8", "surrogateescape") + b"\0")
        for key in sorted(snapshot.sources):
            text = snapshot.sources[key]
            digest.update(f"{key}\0{len(text)}\0{text}\0".encode("utf-8", "surrogateescape"))
        return digest.hexdigest()

    def _trial(self, known: list[str]) -> list[str]:
        """Render each template whose own files passed the static checks; return failures."""
        problems: list[str] = []
        for lang in self.languages():
            for name in sorted(self._names_in(lang)):
                own = [self._filenames.get(f"{lang}/{name}{s}", "") + ":" for s in _SUFFIXES]
                if any(p.startswith(tuple(own)) for p in known):
                    continue
                for context in specimens(name):
                    try:
                        self.render(name, context, lang)
                    except TemplateError as e:
                        problems.append(str(e))
                        break
        return problems

    def _names_in(self, lang: str) -> set[str]:
        files = template_files(self._snapshot, lang)
        return {n for n, part in files.values() if n and part == "text"}

    def _has(self, lang: str, filename: str) -> bool:
        return f"{lang}/{filename}" in self._snapshot.sources

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
        if self._has(lang, f"{name}{HTML_SUFFIX}"):
            html = self._render(self._html, f"{lang}/{name}{HTML_SUFFIX}", data)
        return RenderedMail(subject=subject, text=text, html=html)

    def _language_of(self, name: str, lang: str) -> str:
        for candidate in (lang, self.default_lang):
            if LANG.match(candidate) and self._has(candidate, f"{name}{TEXT_SUFFIX}"):
                return candidate
        raise TemplateError(
            f"no template {name!r} in {self.root / lang} or {self.root / self.default_lang}"
        )

    def _render(self, env: MailSandbox, path: str, data: Mapping[str, Any]) -> str:
        where = str(self.root / path)
        try:
            template = env.get_template(path)
            budget = RenderBudget(seconds=self.render_time_s)
            return _tidy("".join(bounded(template.generate(data), budget)))
        except TemplateError:
            raise
        except TemplateNotFound as e:
            if e.name == path:
                raise TemplateError(f"{where}: file not found") from None
            at = _template_line(e.__traceback__, set(self._filenames.values())) or f"{where}:1"
            raise TemplateError(f"{at}: included file {e.name!r} not found") from None
        except TemplateSyntaxError as e:
            raise TemplateError(f"{e.filename or where}:{e.lineno}: {e.message}") from e
        except Exception as e:  # any failure of admin-written template code is a template error
            at = _template_line(e.__traceback__, set(self._filenames.values())) or f"{where}:1"
            raise TemplateError(f"{at}: {type(e).__name__}: {e}") from e


def _tidy(text: str) -> str:
    return text.strip("\n") + "\n"


def _one_line(subject: str) -> str:
    """Return ``subject`` on one line: breaks and controls become spaces, length is capped."""
    line = _SPACES.sub(" ", _BREAKS.sub(" ", subject)).strip()
    if len(line) > MAX_SUBJECT_CHARS:
        line = line[: MAX_SUBJECT_CHARS - 1].rstrip() + "…"
    return line


def _template_line(tb: TracebackType | None, filenames: set[str]) -> str | None:
    """Return ``file:line`` of the innermost template frame in the traceback (an included
    piece names itself), or None when no template frame is there."""
    found = None
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename in filenames:
            found = f"{filename}:{tb.tb_lineno}"
        tb = tb.tb_next
    return found
