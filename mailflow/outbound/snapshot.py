"""A templates folder read once into memory: what is checked is exactly what renders.

``read_snapshot`` reads every ``<lang>/<file>`` under the folder, refusing files that resolve
outside it (a symlink to /etc/passwd, a language folder linked elsewhere), files that are not
UTF-8 text and files over the size cap, each with a ``file:1: message`` problem. Rendering then
serves only these sources (``sandbox.SnapshotLoader``), so an edit on disk takes effect only when
a new snapshot has been read and validated (DESIGN.md §7 invariant 11). Imports nothing of
mailflow but its own package.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mailflow.outbound.sandbox import MAX_TEMPLATE_CHARS

LANG = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})?$")
IGNORED = frozenset({"README.md", "README.txt"})
# bytes read at most per file: a UTF-8 character is at most 4 bytes
_MAX_BYTES = MAX_TEMPLATE_CHARS * 4 + 4


@dataclass(frozen=True)
class TemplateSnapshot:
    """The readable templates of one folder: ``sources`` maps ``lang/file`` to its text."""

    root: Path
    languages: tuple[str, ...] = ()
    sources: Mapping[str, str] = field(default_factory=dict)
    problems: tuple[str, ...] = ()

    def path_of(self, key: str) -> Path:
        """Return the file a ``lang/file`` key was read from, for messages."""
        return self.root / key

    def keys_of(self, lang: str) -> list[str]:
        """Return the ``lang/file`` keys of one language folder, sorted."""
        return sorted(k for k in self.sources if k.split("/", 1)[0] == lang)


def read_snapshot(root: Path) -> TemplateSnapshot:
    """Return the snapshot of ``root``; unreadable or escaping files become problems."""
    if not root.is_dir():
        return TemplateSnapshot(root)
    real_root = root.resolve()
    languages: list[str] = []
    sources: dict[str, str] = {}
    problems: list[str] = []
    for folder in sorted(root.iterdir()):
        if not (LANG.match(folder.name) and folder.is_dir()):
            continue
        languages.append(folder.name)
        for path in sorted(folder.iterdir()):
            if path.name.startswith(".") or path.name in IGNORED or path.is_dir():
                continue
            text = _read(path, real_root, problems)
            if text is not None:
                sources[f"{folder.name}/{path.name}"] = text
    return TemplateSnapshot(root, tuple(languages), sources, tuple(problems))


def _read(path: Path, real_root: Path, problems: list[str]) -> str | None:
    """Return the text of one template file, or None after noting why it was refused."""
    target = path.resolve()
    if not target.is_relative_to(real_root):
        problems.append(f"{path}:1: resolves outside the templates folder; refused")
        return None
    if not target.is_file():  # a dangling link, a device or a pipe
        problems.append(f"{path}:1: not a regular file; refused")
        return None
    try:
        with target.open("rb") as f:
            data = f.read(_MAX_BYTES)
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        problems.append(f"{path}:1: cannot read as UTF-8 text: {e}")
        return None
    if len(data) >= _MAX_BYTES or len(text) > MAX_TEMPLATE_CHARS:
        problems.append(f"{path}:1: template is over {MAX_TEMPLATE_CHARS} characters")
        return None
    return text
