"""Parse-cost benchmark: mutation fuzzing of real mail, CPU time per mail and every outcome.

Run from the repository root::

    .venv/bin/python benchmarks/parse_fuzz.py                  # 2,000 mutants, seed 1
    .venv/bin/python benchmarks/parse_fuzz.py --cases 20000 --seed 7 --save /tmp/slow

Each case is a mail of the shared corpus (``../shared/corpus``) or the example inbox, changed
by one to six mutations: flipped bytes, cut spans, spans spliced from other mail, and the
tokens of ``tests/mail/test_fuzz.py`` (encoded-words, RFC 2231 parameters, quote headers,
deadlines, HTML) inserted once or repeated up to 20,000 times, where backtracking and
quadratic layout hide. Each mutant goes through ``parse_message`` with the default limits
(``max_parse_cpu_s`` 2 s) and the CPU time of the parsing thread is measured.

The table gives the outcomes (parsed, quarantined by the first words of the reason, and any
other exception, which is a bug), the CPU-time percentiles against the stdlib's own parse of
the same bytes (``BytesParser``, the raw baseline), and the slowest cases. ``--save DIR``
writes each case over ``--slow`` seconds or that raised to DIR for a closer look. See
``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import random
import re
import time
from collections import Counter
from email.parser import BytesParser
from email.policy import compat32
from pathlib import Path

from mailflow.errors import MessageRejected
from mailflow.mail.message import parse_message
from mailflow.mail.model import ParseContext
from tests.mail.test_fuzz import SEEDS, TOKENS


def mutate(rng: random.Random, data: bytes, mails: list[bytes]) -> bytes:
    """Return ``data`` changed by one to six random mutations."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        at = rng.randrange(max(1, len(out)))
        kind = rng.choice(["flip", "cut", "token", "repeat", "splice"])
        if kind == "flip" and out:
            out[at] = rng.randrange(256)
        elif kind == "cut":
            del out[at : at + rng.randint(1, 2000)]
        elif kind == "token":
            out[at:at] = rng.choice(TOKENS) * rng.choice([1, 50, 5000])
        elif kind == "repeat":
            chunk = bytes(out[at : at + rng.randint(1, 80)]) or b" "
            out[at:at] = chunk * rng.choice([10, 1000, 20000])
        else:
            other = rng.choice(mails)
            start = rng.randrange(max(1, len(other)))
            out[at:at] = other[start : start + rng.randint(1, 5000)]
    return bytes(out)


def outcome(raw: bytes, ctx: ParseContext) -> str:
    """Return how parsing ``raw`` ended: parsed, the reason's first words, or the exception."""
    try:
        parse_message(raw, ctx)
    except MessageRejected as e:
        return "quarantined: " + " ".join(re.sub(r"\d+(?:\.\d+)?", "N", e.reason).split()[:7])
    except Exception as e:  # a bug: the benchmark reports it rather than stopping
        return f"BUG {type(e).__name__}"
    return "parsed"


def percentile(values: list[float], q: float) -> float:
    """Return the nearest-rank ``q`` percentile of ``values``."""
    ranked = sorted(values)
    return ranked[min(len(ranked) - 1, max(0, round(q * len(ranked)) - 1))]


def main() -> None:
    """Run the benchmark and print its tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--slow", type=float, default=0.5, help="seconds of CPU that count as slow")
    parser.add_argument("--save", type=Path, help="folder for slow and failing cases")
    args = parser.parse_args()
    mails = [path.read_bytes() for path in SEEDS]
    names = [path.name for path in SEEDS]
    rng, ctx = random.Random(args.seed), ParseContext()
    outcomes: Counter[str] = Counter()
    stdlib_failures: Counter[str] = Counter()
    ours: list[float] = []
    stdlib: list[float] = []
    slowest: list[tuple[float, str, str]] = []
    for case in range(args.cases):
        base = rng.randrange(len(mails))
        raw = mutate(rng, mails[base], mails)
        started = time.thread_time()
        try:
            BytesParser(policy=compat32).parsebytes(raw)
        except Exception as e:  # the stdlib alone crashes on some mail; mailflow must not
            stdlib_failures[type(e).__name__] += 1
        stdlib.append(time.thread_time() - started)
        started = time.thread_time()
        result = outcome(raw, ctx)
        spent = time.thread_time() - started
        ours.append(spent)
        outcomes[result] += 1
        slowest.append((spent, names[base], result))
        if args.save and (spent > args.slow or result.startswith("BUG")):
            args.save.mkdir(parents=True, exist_ok=True)
            (args.save / f"case-{args.seed}-{case}.eml").write_bytes(raw)
    print(f"{args.cases} mutants of {len(mails)} mails, seed {args.seed}\n")
    print(f"{'outcome':<60} {'cases':>7}")
    for result, count in outcomes.most_common():
        print(f"{result:<60} {count:>7}")
    for name, count in stdlib_failures.most_common():
        print(f"{'(stdlib BytesParser alone raised ' + name + ')':<60} {count:>7}")
    print(f"\n{'CPU ms per mail':<20} {'p50':>8} {'p99':>8} {'max':>8}")
    for label, values in (("parse_message", ours), ("stdlib BytesParser", stdlib)):
        row = [percentile(values, 0.5), percentile(values, 0.99), max(values)]
        print(f"{label:<20} " + " ".join(f"{v * 1000:>8.1f}" for v in row))
    print(f"\n{'slowest (CPU s)':<16} {'seed mail':<40} outcome")
    for spent, name, result in sorted(slowest, reverse=True)[:8]:
        print(f"{spent:<16.2f} {name[:40]:<40} {result}")


if __name__ == "__main__":
    main()
