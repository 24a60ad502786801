"""Parse-cost benchmark: well-formed mail of adversarial shapes, CPU time per mail and outcome.

Run from the repository root::

    .venv/bin/python benchmarks/parse_shapes.py                    # every shape, three sizes
    .venv/bin/python benchmarks/parse_shapes.py --people 2000 --only html --save /tmp/slow

Byte mutation of real mail (``parse_fuzz.py``) rarely builds *structure*: a multipart nested
19 levels, 9,000 parts, 900 header fields, thousands of encoded-words in a dozen charsets, an
RFC 2231 name in 500 segments, an address list of thousands of groups and comments, a body of
two thousand distinct task sentences, an HTML table of 5,000 cells. Each shape here is built
at ``--sizes`` (a scale factor: 1 is a large real mail, the biggest a few megabytes, all under
the default limits) and parsed with the default ``ParseContext`` or one with a directory of
``--people`` (as ``ingest.py`` builds it). The table gives each shape's outcome and CPU time
(``time.thread_time``); anything over ``--slow`` seconds, quarantined as too much work, or
raising anything but ``MessageRejected`` is marked. See ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mail_shapes import SHAPES
from parse_fuzz import outcome, percentile

from mailflow.mail.model import ParseContext


def directory_context(people: int) -> ParseContext:
    """Return the parse context of the default rules with a directory of ``people`` people."""
    from ingest import write_rules

    from mailflow.rulebook.organization import load_organization
    from mailflow.rulebook.parse_settings import parse_context
    from mailflow.settings import load_settings

    with tempfile.TemporaryDirectory() as work:
        ctx = parse_context(load_organization(write_rules(Path(work), people)), load_settings())
    ctx.name_index  # noqa: B018  built once per rulebook version, as the service does
    return ctx


def main() -> None:
    """Run every shape at every size and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,8,40", help="scale factors, comma-separated")
    parser.add_argument("--people", type=int, default=0, help="directory size (0: none)")
    parser.add_argument("--only", default="", help="run the shapes whose name contains this")
    parser.add_argument("--slow", type=float, default=1.0, help="seconds of CPU that count as slow")
    parser.add_argument("--save", type=Path, help="folder for slow and failing cases")
    args = parser.parse_args()
    ctx = directory_context(args.people) if args.people else ParseContext()
    sizes = [int(s) for s in args.sizes.split(",")]
    shapes: dict[str, Callable[[int], bytes]] = {
        name: build for name, build in SHAPES.items() if args.only in name
    }
    outcomes: Counter[str] = Counter()
    spent_all: list[float] = []
    marked: list[tuple[float, str, int, int, str]] = []
    print(f"{'shape':<40} {'size':>5} {'KB':>7} {'CPU ms':>9}  outcome")
    for name, build in shapes.items():
        for size in sizes:
            raw = build(size)
            started = time.thread_time()
            result = outcome(raw, ctx)
            spent = time.thread_time() - started
            spent_all.append(spent)
            outcomes[result] += 1
            bad = spent > args.slow or result.startswith("BUG") or "too much work" in result
            flag = " <<<" if bad else ""
            print(
                f"{name:<40} {size:>5} {len(raw) // 1024:>7} {spent * 1000:>9.1f}  {result}{flag}"
            )
            if bad:
                marked.append((spent, name, size, len(raw), result))
                if args.save:
                    args.save.mkdir(parents=True, exist_ok=True)
                    (args.save / f"{name}-{size}.eml").write_bytes(raw)
    people = f"{args.people} people" if args.people else "default context"
    print(f"\n{len(spent_all)} mails of {len(shapes)} shapes, sizes {args.sizes}, {people}\n")
    print(f"{'outcome':<60} {'mails':>7}")
    for result, count in outcomes.most_common():
        print(f"{result:<60} {count:>7}")
    print(f"\n{'CPU ms per mail':<20} {'p50':>8} {'p99':>8} {'max':>8}")
    row = [percentile(spent_all, 0.5), percentile(spent_all, 0.99), max(spent_all)]
    print(f"{'parse_message':<20} " + " ".join(f"{v * 1000:>8.1f}" for v in row))
    print(f"\nmarked (over {args.slow:g} s, too much work, or a bug): {len(marked)}")
    for spent, name, size, length, result in sorted(marked, reverse=True):
        print(f"{spent:>8.2f} s  {name} x{size} ({length // 1024} KB)  {result}")


if __name__ == "__main__":
    main()
