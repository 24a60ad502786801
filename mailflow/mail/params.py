"""A compat32 ``Message`` whose header parameters (charset, boundary, filename) never crash.

The stdlib reads parameters with ``email.message._parseparam`` and ``email.utils.decode_params``.
Both have failure modes that any sender can trigger:

- RFC 2231 continuations mixed with other forms (``filename*0*=utf-8''a; filename*=utf-8''b``,
  a lone ``filename*1=``) make ``decode_params`` sort ``None`` against ``int`` and raise
  ``TypeError``, from ``get_param``, ``get_filename``, ``get_boundary`` and so from inside the
  parser itself;
- a long header full of ``;`` inside quotes costs quadratic time (each ``;`` recounts the
  quotes before it).

``SafeMessage`` reads at most ``MAX_PARAMS_CHARS`` of a header's parameters, and when the
stdlib still fails, retries with one parameter per name in its simplest form; if that fails
too, the header has no parameters. Every ``Message`` mailflow parses is one of these (the
parser is given it as its factory). Imports nothing of storage/sources/jobs.
"""

from __future__ import annotations

import re
from email.message import Message
from typing import Any

__all__ = ["MAX_PARAMS_CHARS", "SafeMessage"]

MAX_PARAMS_CHARS = 8192  # a real Content-Type or Content-Disposition is a few hundred
# what the stdlib's parameter code raises on hostile input
_STDLIB_FAILURES = (TypeError, ValueError, IndexError, LookupError, UnicodeError, AttributeError)
_PARAM = re.compile(r"\s*([^=\s;]+)\s*=(.*)", re.DOTALL)


class SafeMessage(Message):
    """A compat32 message whose parameter accessors never raise and stay linear in time."""

    # the decoded size of a base64 body the parser was spared (``large_parts``), else None
    elided_size: int | None = None

    def _get_params_preserve(self, failobj: Any, header: str) -> Any:
        # the one private hook behind get_param, get_params, get_filename, get_boundary and
        # get_content_charset; the stdlib's own version runs on a bounded, repaired copy
        value = self.get(header)
        if value is None:
            return failobj
        text = str(value)[:MAX_PARAMS_CHARS]
        for simplify in (False, True):  # the simplified copy only when the stdlib failed
            holder = Message()
            holder[header] = simplified(text) if simplify else text
            try:
                return holder.get_params(failobj, header, unquote=False)
            except _STDLIB_FAILURES:
                continue
        return failobj


def simplified(value: str) -> str:
    """Return a parameter list with one parameter per name, each in its simplest form.

    The first of ``filename*0*=…``, ``filename*=…``, ``filename=…`` wins; a continuation
    becomes the whole value (``filename*0*=`` → ``filename*=``, ``filename*1=`` →
    ``filename=``), so ``decode_params`` has nothing left to sort.
    """
    head, *params = value.split(";")
    seen: set[str] = set()
    out = [head]
    for param in params:
        found = _PARAM.match(param)
        if found is None:
            continue
        name, text = found.groups()
        base, star, rest = name.partition("*")
        if base.lower() in seen:
            continue
        seen.add(base.lower())
        encoded = bool(star) and (not rest or rest.endswith("*"))
        out.append(f" {base}{'*' if encoded else ''}={text.strip()}")
    return ";".join(out)
