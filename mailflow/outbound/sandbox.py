"""The Jinja2 sandbox mail templates render in (DESIGN.md §7 invariant 10, LIBRARIES §6).

Two environments share one loader: ``text`` (subjects and text parts, no autoescape) and
``html`` (HTML parts, autoescape on). Both are ``ImmutableSandboxedEnvironment`` with
``StrictUndefined``, a short list of filters and globals, intercepted ``*``, ``**``, ``+`` and
``%`` (repetition, power and numbers over ``MAX_INT_BITS`` are refused, concatenation is
size-checked, wide ``%`` padding is refused), a cap on template source size, and a loader that
serves only the sources it was given (the validated snapshot of the templates folder; nothing is
read from disk at render time).

Work is bounded per render (invariant 11): ``range`` yields at most ``MAX_RANGE`` numbers; every
loop iteration (nested loops and loops in included files too) and every call (macros included)
spends one step of a ``RenderBudget`` of ``MAX_STEPS`` steps, which also carries a deadline;
recursive loops are refused when a template compiles. What can grow text or lists in one step is
capped too: ``~``, ``join`` and the output a ``{% set %}`` block or a macro captures at the
output cap, ``batch``/``slice`` at ``MAX_RANGE``, and the str methods that pad or repeat
(``center``, ``ljust``, ``zfill``, ``replace`` …) are refused.

Mail content is never template source here: nothing in this module compiles a string that did not
come from the templates folder. Imports nothing of mailflow.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from copy import copy
from dataclasses import dataclass, field
from typing import Any

from jinja2 import BaseLoader, StrictUndefined, nodes, pass_eval_context
from jinja2.compiler import CodeGenerator, Frame
from jinja2.environment import Environment
from jinja2.exceptions import SecurityError, TemplateNotFound
from jinja2.filters import do_batch, sync_do_join, sync_do_slice
from jinja2.nodes import EvalContext
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_TEMPLATE_CHARS = 32_000
MAX_OUTPUT_CHARS = 256_000
MAX_RANGE = 1_000
# loop iterations plus calls in one render: a digest of a few hundred items needs a few thousand
MAX_STEPS = 50_000
RENDER_TIME_S = 2.0
# repeated squaring ({% set n = n * n %}) would otherwise spend minutes in one multiplication
MAX_INT_BITS = 4_096
_WIDE_FORMAT = re.compile(r"%[-#0 +]*(?:\*|\d{4,})|%[-#0 +]*\d*\.(?:\*|\d{4,})")
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
# str methods that pad, repeat or rewrite text to a size the template chooses
_AMPLIFYING_METHODS = frozenset(
    {"center", "ljust", "rjust", "zfill", "expandtabs", "join", "replace", "format", "format_map"}
)
_TEMPLATE_PATH = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})?/[A-Za-z0-9_.-]+$")


@dataclass
class RenderBudget:
    """The work one render may still do: steps (loop iterations and calls) and a deadline."""

    steps: int = MAX_STEPS
    seconds: float = RENDER_TIME_S
    deadline: float = field(default=0.0)

    def __post_init__(self) -> None:
        self.deadline = time.monotonic() + self.seconds

    def spend(self) -> None:
        """Spend one step; raise SecurityError when the steps or the time run out."""
        self.steps -= 1
        if self.steps < 0:
            raise SecurityError(f"the template does more than {MAX_STEPS} loop steps and calls")
        self.check_time()

    def check_time(self) -> None:
        """Raise SecurityError when the render has run past its deadline."""
        if time.monotonic() > self.deadline:
            raise SecurityError(f"the template takes longer than {self.seconds:g} s to render")


# the budget of the render under way in this thread (set by ``bounded``)
_BUDGET: ContextVar[RenderBudget | None] = ContextVar("mailflow_render_budget", default=None)


def bounded(parts: Iterable[str], budget: RenderBudget) -> Iterator[str]:
    """Yield rendered pieces with ``budget`` in force, stopping at the output cap or deadline."""
    token = _BUDGET.set(budget)
    try:
        total = 0
        for part in parts:
            total += len(part)
            if total > MAX_OUTPUT_CHARS:
                raise SecurityError(f"output is over {MAX_OUTPUT_CHARS} characters")
            budget.check_time()
            yield part
    finally:
        _BUDGET.reset(token)


def _spend() -> None:
    budget = _BUDGET.get()
    if budget is not None:  # every render of ``TemplateSet`` runs inside ``bounded``
        budget.spend()


def _guarded(iterable: Iterable[Any]) -> Iterator[Any]:
    for value in iterable:
        _spend()
        yield value


def _sized(value: Any) -> Any:
    """Return ``value``, refusing text longer than the output cap (what ``~`` built)."""
    if isinstance(value, str) and len(value) > MAX_OUTPUT_CHARS:
        raise SecurityError(f"~ would build more than {MAX_OUTPUT_CHARS} characters")
    return value


@pass_eval_context
def _join(eval_ctx: EvalContext, value: Iterable[Any], d: str = "", attribute: Any = None) -> str:
    """``join``, refused before it builds more than the output cap."""
    items = list(value)
    size = sum(len(str(x)) for x in items) + len(str(d)) * max(len(items) - 1, 0)
    if size > MAX_OUTPUT_CHARS:
        raise SecurityError(f"join would build more than {MAX_OUTPUT_CHARS} characters")
    return sync_do_join(eval_ctx, items, d, attribute)


def _batch(value: Iterable[Any], linecount: int, fill_with: Any = None) -> Iterator[list[Any]]:
    """``batch`` with at most ``MAX_RANGE`` items a batch (its filler cannot amplify)."""
    if not 0 < linecount <= MAX_RANGE:
        raise SecurityError(f"batch() takes 1 to {MAX_RANGE} items a batch")
    return do_batch(value, linecount, fill_with)


def _slice(value: Any, slices: int, fill_with: Any = None) -> Iterator[list[Any]]:
    """``slice`` into at most ``MAX_RANGE`` columns."""
    if not 0 < slices <= MAX_RANGE:
        raise SecurityError(f"slice() takes 1 to {MAX_RANGE} columns")
    return sync_do_slice(value, slices, fill_with)


class _CappedBuffer(list[Any]):
    """The output a ``{% set %}`` block, macro or filter block captures, capped like output."""

    size = 0

    def append(self, item: Any) -> None:
        self._count(item)
        super().append(item)

    def extend(self, items: Iterable[Any]) -> None:
        items = list(items)
        for item in items:
            self._count(item)
        super().extend(items)

    def _count(self, item: Any) -> None:
        self.size += len(item) if isinstance(item, str) else 0
        if self.size > MAX_OUTPUT_CHARS:
            raise SecurityError(f"captured output is over {MAX_OUTPUT_CHARS} characters")


def _capped_range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise SecurityError(f"range() of more than {MAX_RANGE} numbers is not allowed")
    return numbers


class _GuardedCodeGenerator(CodeGenerator):
    """Jinja2's code generator with every for loop counted and recursive loops refused."""

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        if node.recursive:
            self.fail("recursive loops are not allowed in mail templates", node.lineno)
        guarded = copy(node)
        # `for x in environment.guard_loop(<iter>)`: each iteration spends a budget step
        guard = nodes.EnvironmentAttribute("guard_loop", lineno=node.lineno)
        guarded.iter = nodes.Call(guard, [node.iter], [], None, None, lineno=node.lineno)
        super().visit_For(guarded, frame)

    def buffer(self, frame: Frame) -> None:
        # what blocks, macros and filter blocks capture never reaches ``bounded``: cap it here
        frame.buffer = self.temporary_identifier()
        self.writeline(f"{frame.buffer} = environment.capped_buffer()")

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        # `a ~ b` is no binary operator the sandbox intercepts: cap what it built
        self.write("environment.sized(")
        super().visit_Concat(node, frame)
        self.write(")")


class MailSandbox(ImmutableSandboxedEnvironment):
    """A sandbox that also refuses resource abuse through operators, loops and calls."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})
    code_generator_class = _GuardedCodeGenerator

    @staticmethod
    def guard_loop(iterable: Iterable[Any]) -> Iterator[Any]:
        """Return ``iterable`` spending one budget step per item (the compiled loops call it)."""
        return _guarded(iterable)

    @staticmethod
    def capped_buffer() -> list[Any]:
        """Return a buffer for captured output (the compiled code calls it)."""
        return _CappedBuffer()

    @staticmethod
    def sized(value: Any) -> Any:
        """Return what ``~`` built, refusing it over the output cap (the compiled code calls it)."""
        return _sized(value)

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        """Refuse the str methods that pad or repeat text, besides what the sandbox refuses."""
        if isinstance(obj, str) and attr in _AMPLIFYING_METHODS:
            return False
        return super().is_safe_attribute(obj, attr, value)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        """Spend one budget step, then call as the sandbox does."""
        _spend()
        return super().call(__context, __obj, *args, **kwargs)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """Refuse ``**``, sequence repetition and wide ``%`` padding; cap what ``+`` builds."""
        if operator == "**":
            raise SecurityError("the ** operator is not allowed in mail templates")
        if operator == "*":
            if isinstance(left, str | list | tuple) or isinstance(right, str | list | tuple):
                raise SecurityError("repeating text or lists with * is not allowed")
            ints = isinstance(left, int) and isinstance(right, int)
            if ints and left.bit_length() + right.bit_length() > MAX_INT_BITS:
                raise SecurityError(f"* would build a number of more than {MAX_INT_BITS} bits")
            return left * right
        if operator == "%":
            if isinstance(left, str) and _WIDE_FORMAT.search(left):
                raise SecurityError("% formatting wider than 999 characters is not allowed")
            return left % right
        sequences = isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple)
        if sequences and len(left) + len(right) > MAX_OUTPUT_CHARS:
            raise SecurityError(f"+ would build more than {MAX_OUTPUT_CHARS} characters")
        return left + right


class SnapshotLoader(BaseLoader):
    """Serve ``<lang>/<file>`` from sources read once, never from disk (invariant 11)."""

    def __init__(self, sources: Mapping[str, str], filenames: Mapping[str, str]) -> None:
        self.sources = sources
        self.filenames = filenames

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        """Return the source, its file name and an always-true up-to-date check."""
        if not _TEMPLATE_PATH.match(template) or ".." in template:
            raise TemplateNotFound(template)
        source = self.sources.get(template)
        if source is None:
            raise TemplateNotFound(template)
        return source, self.filenames.get(template, template), lambda: True


def _blank_none(value: Any) -> Any:
    """Print a missing optional value (None) as nothing rather than the word ``None``."""
    return "" if value is None else value


def make_environment(loader: BaseLoader, *, html: bool) -> MailSandbox:
    """Return the sandbox for HTML parts (``html=True``, autoescaped) or text and subjects."""
    env = MailSandbox(
        loader=loader,
        undefined=StrictUndefined,
        autoescape=html,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        finalize=_blank_none,
        auto_reload=False,
    )
    env.filters = {k: v for k, v in env.filters.items() if k in ALLOWED_FILTERS}
    env.globals = {k: v for k, v in env.globals.items() if k in ALLOWED_GLOBALS}
    env.globals["range"] = _capped_range
    env.filters.update(join=_join, batch=_batch, slice=_slice)
    return env
