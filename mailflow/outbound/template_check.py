"""Check a templates folder the way ``mailflow rules check`` reports: ``file:line: message``.

Finds unreadable or oversized files, syntax errors, unknown filters, variables outside the
documented context (``context.STANDARD_CONTEXT``), includes of missing files, stray file names
and templates without a subject or a text part. Generates templates' code but renders nothing.
Imports nothing of mailflow but ``errors`` and its own package.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from jinja2 import TemplateSyntaxError, meta, nodes

from mailflow.errors import TemplateError
from mailflow.outbound.sandbox import MAX_TEMPLATE_CHARS, MailSandbox
from mailflow.outbound.template_variables import STANDARD_CONTEXT

SUBJECT, TEXT, HTML, PARTIAL = "subject", "text", "html", "partial"
_SUFFIXES = ((".subject.txt", SUBJECT), (".txt", TEXT), (".html", HTML))
_IGNORED = frozenset({"README.md", "README.txt"})


def template_files(folder: Path) -> dict[Path, tuple[str, str]]:
    """Return each template file of a language folder -> (template name, part).

    Partials (``_name.txt``) have the name ``""``; a file of no known kind has the part ``""``.
    """
    found: dict[Path, tuple[str, str]] = {}
    for path in sorted(folder.iterdir()) if folder.is_dir() else ():
        if path.name.startswith(".") or path.name in _IGNORED or not path.is_file():
            continue
        found[path] = _classify(path.name)
    return found


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
    root: Path, languages: list[str], text_env: MailSandbox, html_env: MailSandbox
) -> list[str]:
    """Return every problem of the templates under ``root`` as ``file:line: message``."""
    if not root.is_dir():
        return [f"{root}:1: templates folder not found"]
    if not languages:
        return [f"{root}:1: no language folder (expected zh-CN/ and en/)"]
    problems: list[str] = []
    for lang in languages:
        files = template_files(root / lang)
        problems.extend(_missing_parts(root / lang, files))
        for path, (_name, part) in files.items():
            if not part:
                problems.append(
                    f"{path}:1: unknown file name; expected NAME.subject.txt, NAME.txt,"
                    " NAME.html or _piece.txt / _piece.html"
                )
                continue
            env = html_env if path.suffix == ".html" else text_env
            problems.extend(_check_file(root, path, lang, env))
    return problems


def _missing_parts(folder: Path, files: dict[Path, tuple[str, str]]) -> Iterator[str]:
    parts: dict[str, set[str]] = {}
    for name, part in files.values():
        if name and part in (SUBJECT, TEXT, HTML):
            parts.setdefault(name, set()).add(part)
    for name, have in sorted(parts.items()):
        for needed, suffix in ((SUBJECT, ".subject.txt"), (TEXT, ".txt")):
            if needed not in have:
                some = sorted(p for p, (n, _) in files.items() if n == name)[0]
                yield f"{some}:1: template {name!r} has no {needed} part ({name}{suffix})"


def _check_file(root: Path, path: Path, lang: str, env: MailSandbox) -> Iterator[str]:
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        yield f"{path}:1: cannot read as UTF-8 text: {e}"
        return
    if len(source) > MAX_TEMPLATE_CHARS:
        yield f"{path}:1: template is over {MAX_TEMPLATE_CHARS} characters"
        return
    name = f"{lang}/{path.name}"
    try:
        tree = env.parse(source, name, str(path))
        # finding the undeclared variables runs Jinja2's code generator over the whole tree,
        # which fails on what compiling fails on (unknown filters and tests, misplaced
        # blocks), so the template is not compiled a second time
        found = [*_unknown_variables(path, tree, env), *_missing_includes(root, path, tree)]
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


def _missing_includes(root: Path, path: Path, tree: nodes.Template) -> Iterator[str]:
    for node in tree.find_all((nodes.Include, nodes.Extends, nodes.Import, nodes.FromImport)):
        target = getattr(node, "template", None)
        name = target.value if isinstance(target, nodes.Const) else None
        if isinstance(name, str) and not (root / name).is_file():
            yield f"{path}:{node.lineno}: included file {name!r} not found"
