"""The Jinja2 sandbox mail templates render in (DESIGN.md §7 invariant 10, LIBRARIES §6).

Two environments share one loader: ``text`` (subjects and text parts, no autoescape) and
``html`` (HTML parts, autoescape on). Both are ``ImmutableSandboxedEnvironment`` with
``StrictUndefined``, a short list of filters and globals, intercepted ``*``, ``**`` and ``+``
(repetition and power are refused, concatenation is size-checked), a cap on template source
size, and a loader that only serves ``<lang>/<file>`` under the templates folder.

Mail content is never template source here: nothing in this module compiles a string that did not
come from the templates folder. Imports nothing of mailflow but ``errors``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jinja2 import BaseLoader, StrictUndefined
from jinja2.environment import Environment
from jinja2.exceptions import SecurityError, TemplateNotFound
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from mailflow.errors import TemplateError

MAX_TEMPLATE_CHARS = 32_000
MAX_OUTPUT_CHARS = 256_000
# Filters an administrator needs for mail; amplifiers (center, indent, wordwrap, format, replace),
# escape hatches (safe, attr, xmlattr) and nondeterminism (random) are left out on purpose.
ALLOWED_FILTERS = frozenset(
    {
        "abs", "batch", "capitalize", "count", "d", "default", "dictsort", "e", "escape",
        "first", "float", "groupby", "int", "items", "join", "last", "length", "list", "lower",
        "map", "max", "min", "reject", "rejectattr", "reverse", "round", "select", "selectattr",
        "slice", "sort", "string", "striptags", "sum", "title", "trim", "truncate", "unique",
        "upper", "wordcount",
    }
)  # fmt: skip
# namespace() would let a loop accumulate state; lipsum/cycler/joiner serve no mail.
ALLOWED_GLOBALS = frozenset({"range", "dict"})
_TEMPLATE_PATH = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})?/[A-Za-z0-9_.-]+$")


class MailSandbox(ImmutableSandboxedEnvironment):
    """A sandbox that also refuses resource abuse through operators."""

    intercepted_binops = frozenset({"*", "**", "+"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """Refuse ``**`` and sequence repetition; cap what ``+`` may build."""
        if operator == "**":
            raise SecurityError("the ** operator is not allowed in mail templates")
        if operator == "*":
            if isinstance(left, str | list | tuple) or isinstance(right, str | list | tuple):
                raise SecurityError("repeating text or lists with * is not allowed")
            return left * right
        sequences = isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple)
        if sequences and len(left) + len(right) > MAX_OUTPUT_CHARS:
            raise SecurityError(f"+ would build more than {MAX_OUTPUT_CHARS} characters")
        return left + right


class FolderLoader(BaseLoader):
    """Serve ``<lang>/<file>`` from one folder, refusing oversized files and other paths."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        """Return the source, its file name and an up-to-date check, as Jinja2 expects."""
        if not _TEMPLATE_PATH.match(template) or ".." in template:
            raise TemplateNotFound(template)
        path = self.root / template
        try:
            source = path.read_text(encoding="utf-8")
            mtime = path.stat().st_mtime
        except FileNotFoundError:
            raise TemplateNotFound(template) from None
        except (OSError, UnicodeDecodeError) as e:
            raise TemplateError(f"{path}: cannot read template: {e}") from e
        if len(source) > MAX_TEMPLATE_CHARS:
            raise TemplateError(f"{path}:1: template is over {MAX_TEMPLATE_CHARS} characters")
        return source, str(path), lambda: _unchanged(path, mtime)


def _unchanged(path: Path, mtime: float) -> bool:
    try:
        return path.stat().st_mtime == mtime
    except OSError:
        return False


def _blank_none(value: Any) -> Any:
    """Print a missing optional value (None) as nothing rather than the word ``None``."""
    return "" if value is None else value


def make_environment(root: Path, *, html: bool) -> MailSandbox:
    """Return the sandbox for HTML parts (``html=True``, autoescaped) or text and subjects."""
    env = MailSandbox(
        loader=FolderLoader(root),
        undefined=StrictUndefined,
        autoescape=html,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        finalize=_blank_none,
        auto_reload=True,
    )
    env.filters = {k: v for k, v in env.filters.items() if k in ALLOWED_FILTERS}
    env.globals = {k: v for k, v in env.globals.items() if k in ALLOWED_GLOBALS}
    return env
