"""Long-running commands fix glibc's mmap threshold (``mailflow.service.heap``), so that memory
freed after big mail goes back to the system instead of staying in a fragmented heap."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

# In a fresh interpreter: free one 4 MiB block (which, left alone, raises glibc's threshold
# to 4 MiB), allocate and free 64 blocks of 256 KiB (a mail with its attachment), and print
# how much of their 16 MiB is still resident afterwards.
PROBE = """
import sys
from mailflow.service.heap import fix_mmap_threshold
if sys.argv[1] == "fixed":
    assert fix_mmap_threshold()
def resident():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096
big = bytearray(4 << 20)
del big
before = resident()
blocks = [bytearray(256 << 10) for _ in range(64)]
for b in blocks:
    b[::4096] = b"x" * len(b[::4096])  # touch every page
del blocks
print((resident() - before) / 2**20)
"""

needs_glibc = pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.confstr("CS_GNU_LIBC_VERSION") is None,
    reason="mallopt(M_MMAP_THRESHOLD) is glibc's; other C libraries are left alone",
)


def _kept_mib(mode: str, **env: str) -> float:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, mode],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return float(done.stdout)


@needs_glibc
def test_freed_big_blocks_go_back_to_the_system_with_the_threshold_fixed() -> None:
    assert _kept_mib("moving") > 4  # glibc's own behaviour: most of the 16 MiB stays
    assert _kept_mib("fixed") < 1


@needs_glibc
def test_an_operators_setting_wins() -> None:
    code = "from mailflow.service.heap import fix_mmap_threshold; print(fix_mmap_threshold())"
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "False"


# In a fresh interpreter: start-up made long-lived objects and left a garbage cycle; after
# freeze_start_up the cycle is gone (collected first, not kept forever), the long-lived objects
# are out of the collector's reach, and a cycle made later is still collected.
FREEZE_PROBE = """
import gc, weakref
from mailflow.service.heap import freeze_start_up
class Node:
    pass
def cycle():
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)
gc.disable()  # no collection but those asked for
kept = [Node() for _ in range(20000)]
before = cycle()
freeze_start_up()
frozen = gc.get_freeze_count()
freeze_start_up()  # once per process
after = cycle()
gc.collect()
print(before() is None, frozen >= 20000, gc.get_freeze_count() == frozen, after() is None)
"""


def test_start_up_objects_are_frozen_once_and_later_garbage_is_collected() -> None:
    probe = subprocess.run(
        [sys.executable, "-c", FREEZE_PROBE], capture_output=True, text=True, check=True
    )
    assert probe.stdout.split() == ["True", "True", "True", "True"]
