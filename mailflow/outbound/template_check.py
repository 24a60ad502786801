"""Check a templates folder the way ``mailflow rules check`` reports: ``file:line: message``.

Works on the snapshot that will render (``snapshot.TemplateSnapshot``), never on the disk again.
Finds files refused while reading (outside the folder, unreadable, oversized), syntax errors,
unknown filters, recursive loops, variables outside the documented context
(``context.STANDARD_CONTEXT``), includes of missing files, stray file names and templates without
a subject or a text part. Generates templates' code but renders nothing; ``TemplateSet.check``
renders them afterwards. Imports nothing of mailflow but ``errors`` and its own package.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from jinja2 import TemplateSyntaxError, meta, nodes

from mailflow.errors import TemplateError
from mailflow.outbound.sandbox import MailSandbox
from mailflow.outbound.snapshot import TemplateSnapshot
from mailflow.outbound.template_variables import STANDARD_CONTEXT

SUBJECT, TEXT, HTML, PARTIAL = "subject", "text", "html", "partial"
_SUFFIXES = ((".subject.txt", SUBJECT), (".txt", TEXT), (".html", HTML))


def template_files(snapshot: TemplateSnapshot, lang: str) -> dict[str, tuple[str, str]]:
    """Return each ``lang/file`` key of a language folder -> (template name, part).

    Partials (``_name.txt``) have the name ``""``; a file of no known kind has the part ``""``.
    """
    return {key: _classify(PurePosixPath(key).name) for key in snapshot.keys_of(lang)}


def _classify(filename: str) -> tuple[str, str]:
    for suffix, part in _SUFFIXES:
        if filename.endswith(suffix) and len(filename) > len(suffix):
            stem = filename[: -len(suffix)]
            if stem.startswith("_") and part != SUBJECT:
                return "", PARTIAL
            if stem.isidentifier() and stem == stem.lower() and not stem.startswith("_"):
                return stem, part
    return filename, ""


def check_templates(
    snapshot: TemplateSnapshot, text_env: MailSandbox, html_env: MailSandbox
) -> list[str]:
    """Return every problem of the snapshot's templates as ``file:line: message``."""
    root = snapshot.root
    if not root.is_dir():
        return [f"{root}:1: templates folder not found"]
    if not snapshot.languages:
        return [f"{root}:1: no language folder (expected zh-CN/ and en/)"]
    problems: list[str] = list(snapshot.problems)
    for lang in snapshot.languages:
        files = template_files(snapshot, lang)
        problems.extend(_missing_parts(snapshot, files))
        for key, (_name, part) in files.items():
            path = snapshot.path_of(key)
            if not part:
                problems.append(
                    f"{path}:1: unknown file name; expected NAME.subject.txt, NAME.txt,"
                    " NAME.html or _piece.txt / _piece.html"
                )
                continue
            env = html_env if key.endswith(".html") else text_env
            problems.extend(_check_file(snapshot, key, env))
    return problems


def _missing_parts(snapshot: TemplateSnapshot, files: dict[str, tuple[str, str]]) -> Iterator[str]:
    parts: dict[str, set[str]] = {}
    for name, part in files.values():
        if name and part in (SUBJECT, TEXT, HTML):
            parts.setdefault(name, set()).add(part)
    for name, have in sorted(parts.items()):
        for needed, suffix in ((SUBJECT, ".subject.txt"), (TEXT, ".txt")):
            if needed not in have:
                some = sorted(k for k, (n, _) in files.items() if n == name)[0]
                yield (
                    f"{snapshot.path_of(some)}:1: template {name!r} has no {needed} part"
                    f" ({name}{suffix})"
                )


def _check_file(snapshot: TemplateSnapshot, key: str, env: MailSandbox) -> Iterator[str]:
    path = snapshot.path_of(key)
    try:
        tree = env.parse(snapshot.sources[key], key, str(path))
        # finding the undeclared variables runs Jinja2's code generator over the whole tree,
        # which fails on what compiling fails on (unknown filters and tests, misplaced
        # blocks, recursive loops), so the template is not compiled a second time
        found = [*_unknown_variables(path, tree, env), *_missing_includes(snapshot, path, tree)]
    except TemplateSyntaxError as e:
        yield f"{path}:{e.lineno}: {e.message}"
        return
    except TemplateError as e:
        yield f"{path}:1: {e}"
        return
    yield from found


def _unknown_variables(path: Path, tree: nodes.Template, env: MailSandbox) -> Iterator[str]:
    unknown = meta.find_undeclared_variables(tree) - set(STANDARD_CONTEXT) - set(env.globals)
    first_line: dict[str, int] = {}
    for node in tree.find_all(nodes.Name):
        if node.name in unknown and node.ctx == "load":
            first_line.setdefault(node.name, node.lineno)
    for name in sorted(unknown):
        yield (
            f"{path}:{first_line.get(name, 1)}: unknown variable {name!r}"
            " (see templates/README.md for the variables a template may use)"
        )


def _missing_includes(
    snapshot: TemplateSnapshot, path: Path, tree: nodes.Template
) -> Iterator[str]:
    for node in tree.find_all((nodes.Include, nodes.Extends, nodes.Import, nodes.FromImport)):
        target = getattr(node, "template", None)
        name = target.value if isinstance(target, nodes.Const) else None
        if isinstance(name, str) and name not in snapshot.sources:
            yield f"{path}:{node.lineno}: included file {name!r} not found"
