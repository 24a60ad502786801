"""Memory settings for the long-running commands and the parse workers: a fixed size from
which glibc's malloc maps memory of its own, and a garbage collector that leaves start-up's
objects alone.

glibc serves an allocation of 128 KiB or more with its own ``mmap`` and returns it to the
system when freed, but after such a block is freed it raises that threshold to the block's
size (up to 32 MiB), so that later blocks as large come from the heap. A poller allocates
blocks of every size from kilobytes to megabytes (raw mail, its attachments, database rows),
and with a moving threshold they fragment the heap: the poller's peak RSS grew with the
mailbox, 136 → 144 MiB from 5,000 to 20,000 mails, while what Python held stayed flat. With
the threshold fixed (``mallopt(M_MMAP_THRESHOLD)``, which also stops the adjusting) it was
130 → 133 MiB. An operator's ``MALLOC_MMAP_THRESHOLD_`` in the environment wins; other C
libraries are left alone.

Python's cyclic garbage collector walks every object it tracks on each full collection, and a
poller's start-up leaves about 110,000 of them (modules, the rules, a directory of 2,000
people) that live as long as it does. Moving them out of its reach (``gc.freeze``) once start-up
is over cut the poller's collection time from 0.52-0.59 s to 0.17-0.19 s over 5,000 mails
(docs/benchmarks.md). Objects made later are collected as before, and start-up's own objects
are still freed when nothing refers to them; only a cycle among them is never collected.
"""

from __future__ import annotations

import functools
import gc
import os

M_MMAP_THRESHOLD = -3  # glibc's malloc.h
THRESHOLD = 128 * 1024  # glibc's default, kept fixed


def fix_mmap_threshold() -> bool:
    """Fix glibc's mmap threshold at its default; return whether it was set here."""
    if not _glibc() or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None)
        return bool(libc.mallopt(M_MMAP_THRESHOLD, THRESHOLD))
    except (OSError, AttributeError):
        return False


def _glibc() -> bool:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION") is not None
    except (ValueError, OSError, AttributeError):  # not a glibc system
        return False


@functools.cache
def freeze_start_up() -> None:
    """Collect once, then keep every object alive now out of later collections (once per
    process: objects of later passes and their garbage are left to the collector)."""
    gc.collect()
    gc.freeze()
