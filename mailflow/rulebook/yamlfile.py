"""Safe YAML loading that remembers where each value was written.

Pydantic reports a problem as a path (``departments.技术部.managers.0``); administrators need
``organization.yaml:12``. ``load_yaml`` returns the data together with a ``Locator`` that maps
such paths back to line numbers of the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mailflow.errors import RuleFileError


@dataclass(frozen=True)
class Locator:
    """Maps a path of keys and indexes in a YAML document to the 1-based line it starts on."""

    path: Path
    root: yaml.Node | None

    def line(self, loc: Sequence[str | int]) -> int:
        """Return the line of the deepest node along ``loc`` that exists in the file."""
        node = self.root
        line = node.start_mark.line + 1 if node is not None else 1
        for part in loc:
            node = _child(node, part)
            if node is None:
                break
            line = node.start_mark.line + 1
        return line

    def problem(self, loc: Sequence[str | int], message: str) -> str:
        """Return ``file:line: message`` for the value at ``loc``."""
        return f"{self.path}:{self.line(loc)}: {message}"


def _child(node: yaml.Node | None, part: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if str(key.value) == str(part):
                return value  # type: ignore[no-any-return]
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        return node.value[part]  # type: ignore[no-any-return]
    return None


class _BadValue(yaml.constructor.ConstructorError):
    """Raised when a scalar has the form of a value but is none (2027-02-30)."""


def _timestamp(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    """A timestamp, with an impossible date an error at its line instead of a ValueError."""
    try:
        return yaml.constructor.SafeConstructor.construct_yaml_timestamp(loader, node)
    except ValueError as e:
        raise _BadValue(None, None, f"{node.value!r} is not a date ({e})", node.start_mark) from e


# libyaml's parser when PyYAML was built with it: the pure-Python one takes about 2.5 s for a
# 2,000-person organization.yaml, at every start of every command (docs/benchmarks.md, Ingest).
# Either way a safe loader: no arbitrary objects.
_LOADER: type[yaml.SafeLoader] = type(
    "_Loader", (getattr(yaml, "CSafeLoader", yaml.SafeLoader),), {}
)
_LOADER.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)


def load_yaml(path: Path) -> tuple[Any, Locator]:
    """Return the document in ``path`` and its locator; raise RuleFileError naming the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RuleFileError([f"{path}:1: file not found"]) from None
    except UnicodeDecodeError as e:
        raise RuleFileError([f"{path}:1: not UTF-8 text ({e.reason}); save it as UTF-8"]) from e
    loader = _LOADER(text)
    try:  # one parse: the document is constructed from the node tree the locator keeps
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except _BadValue as e:
        line = e.problem_mark.line + 1 if e.problem_mark else 1
        raise RuleFileError([f"{path}:{line}: {e.problem}"]) from e
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else 1
        raise RuleFileError([f"{path}:{line}: YAML syntax error: {e.problem or e}"]) from e
    finally:
        loader.dispose()
    return data, Locator(path, root)


def scalar_at(path: Path, keys: Sequence[str]) -> str | None:
    """Return the scalar written at ``keys`` (mapping keys from the top) of the YAML file at
    ``path``, reading events only as far as needed: a directory of thousands of people after it
    is never parsed. None when the file cannot be read or parsed up to it, or has no such
    scalar there. Nothing is validated; ``load_yaml`` reads the whole file."""
    wanted = tuple(keys)
    frames: list[list[Any]] = []  # per open collection: [is a mapping, key awaiting its value]
    try:
        with path.open(encoding="utf-8") as stream:
            for event in yaml.parse(stream, Loader=_LOADER):
                if isinstance(event, yaml.CollectionStartEvent):
                    frames.append([isinstance(event, yaml.MappingStartEvent), None])
                    continue
                if isinstance(event, yaml.CollectionEndEvent):
                    ended = tuple(f[1] for f in frames[:-1])
                    frames.pop()
                    if ended == wanted[:-1]:  # the mapping that would hold it has ended
                        return None
                elif isinstance(event, yaml.ScalarEvent) and frames:
                    if frames[-1][0] and frames[-1][1] is None:
                        frames[-1][1] = event.value  # a key; its value comes next
                        continue
                    if tuple(f[1] for f in frames) == wanted:
                        return str(event.value)
                elif not isinstance(event, yaml.AliasEvent):
                    continue  # stream and document boundaries
                if frames and frames[-1][0]:
                    frames[-1][1] = None  # a value ended: the mapping's next key comes
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    return None
