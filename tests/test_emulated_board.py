"""The emulated 32-bit ARM board (tests/emulated_board): what it is and what it measures.

Debian bookworm armhf with python3 and Pillow and no numpy, as the Luckfox image has, run
under qemu-user. The rootfs is built once (a few minutes) and cached under .venv/. These
tests need root (chroot, mounts, binfmt_misc); without it they are skipped with one line
saying so (and under CI=true, where ./dev test runs as root, a skip fails).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from emulated_board import (
    ROOT_NEEDED,
    Bind,
    count_instructions,
    measure,
    rootfs,
    run,
)

MiB = 1024  # kB


def board() -> Path:
    """The board's rootfs (built the first time), or a skip saying root is needed. Called in
    each test rather than used as a fixture, so that pytest -ra folds the four skips into
    one line."""
    if os.geteuid() != 0:
        pytest.skip(ROOT_NEEDED)
    return rootfs()


def test_the_board_is_32_bit_arm_with_pillow_and_without_numpy():
    board()
    program = """
import json, platform, struct, sys
try:
    import numpy
    numpy_error = None
except ImportError as error:
    numpy_error = type(error).__name__
import PIL, PIL.Image, PIL.ImageDraw, PIL.ImageFont
print(json.dumps({"machine": platform.machine(), "maxsize": sys.maxsize,
                  "pointer_bits": struct.calcsize("P") * 8, "python": sys.version_info[:2],
                  "pillow": PIL.__version__, "numpy_error": numpy_error}))
"""
    proc = run(["python3", "-c", program], timeout=120)
    assert proc.returncode == 0, proc.stderr
    facts = json.loads(proc.stdout)
    assert facts["machine"] == "armv7l"
    assert facts["maxsize"] == 2**31 - 1
    assert facts["pointer_bits"] == 32
    assert facts["python"] == [3, 11]
    assert facts["pillow"].startswith("9.")
    assert facts["numpy_error"] == "ModuleNotFoundError"


def test_host_folders_bind_in_and_the_rootfs_stays_as_built(tmp_path):
    root = board()
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "app.py").write_text("print('hello from', __file__)\n")
    out = tmp_path / "out"
    out.mkdir()
    program = """
import os, sys
sys.path.insert(0, "/opt/app")
import app
open("/out/result.txt", "w").write("written in the guest")
for path in ("/usr/lib/stray", "/opt/app/stray"):
    try:
        open(path, "w")
        print("writable", path)
    except OSError:
        print("read-only", path)
open("/tmp/scratch", "w").write("tmp is writable")
"""
    proc = run(
        ["python3", "-B", "-c", program],
        binds=[Bind(bundle, "/opt/app"), Bind(out, "/out", writable=True)],
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "hello from /opt/app/app.py" in proc.stdout
    assert "read-only /usr/lib/stray" in proc.stdout
    assert "read-only /opt/app/stray" in proc.stdout
    assert (out / "result.txt").read_text() == "written in the guest"
    assert not (root / "usr/lib/stray").exists()
    assert not (root / "proc/self").exists()  # /proc was mounted in the run only


LOOP = "import sys\nfor i in range(int(sys.argv[1])):\n    pass\n"


def test_instruction_counts_are_exact_and_repeatable():
    board()

    def insns(n: int) -> int:
        return count_instructions(["python3", "-c", LOOP, str(n)], timeout=300)

    base = insns(1000)
    assert base == insns(1000)  # the same program, the same count
    assert 10_000_000 < base < 200_000_000  # CPython starting up and leaving
    more = insns(11_000) - base
    twice = insns(21_000) - base
    assert more > 10_000 * 50  # a bytecode loop costs tens of instructions an iteration
    assert abs(twice - 2 * more) <= 0.01 * more, (more, twice)


GAPS = """
import os, sys
sys.path.insert(0, "/opt/emulated-board/guest")
from board_mark import mark
mark(7)  # an ordinary mark, kept
for n in map(int, sys.argv[1:]):  # gap marks around loops of n passes
    os.sched_yield()
    for i in range(n):
        pass
os.sched_yield()
"""


def test_gap_marks_give_the_longest_piece_of_work_between_two_of_them():
    board()

    def gaps(*loops: int):
        m = measure(["python3", "-c", GAPS, *map(str, loops)], gap_marks=True, timeout=300)
        return m, m.gap

    _, short = gaps(1000, 1000, 1000)
    m, one_long = gaps(1000, 30_000, 1000)
    _, longest_last = gaps(1000, 1000, 30_000)
    assert [g.count for g in (short, one_long, longest_last)] == [4, 4, 4]
    # The same program, the same largest gap; a loop 30 times longer, a gap about 30 times
    # the loop's own cost longer (each gap also holds a mark's and a pass's fixed costs).
    per_pass = (one_long.max - short.max) / 29_000
    assert 20 < per_pass < 1000  # a module-level bytecode loop: a few hundred a pass
    # Wherever the long loop is, the largest gap is its gap (to a pass, the outer loop's
    # own steps differ a little between the middle and the end).
    assert abs(one_long.max - longest_last.max) < 0.001 * one_long.max
    # Where the largest gap ended: after the ordinary mark, before the run's end.
    assert m.mark(7).insns < one_long.end < m.insns
    assert one_long.end < longest_last.end
    assert [mk.id for mk in m.marks] == [7]  # gap marks are counted, not kept
    # The three gaps, largest first, each with where it ended.
    assert len(one_long.top) == 3 and one_long.top[0] == (one_long.max, one_long.end)
    assert one_long.top[0][0] > one_long.top[1][0] >= one_long.top[2][0]
    assert one_long.top[1][0] == pytest.approx(short.max, rel=0.01)


def test_memory_sees_a_16_mb_bytearray_in_the_guest():
    board()
    program = """
import sys, time
sys.path.insert(0, "/opt/emulated-board/guest")
from board_mark import mark, memory
before = memory()
mark(0)
if sys.argv[1] == "yes":
    block = bytearray(16 * 1024 * 1024)
time.sleep(1.0)
mark(1)
held = memory()
block = None
mark(2)
print(held[1] - before[1])
"""
    without = measure(["python3", "-c", program, "no"], timeout=300)
    with_block = measure(["python3", "-c", program, "yes"], timeout=300)
    # At the marked point where the block is held: 16 MiB more anonymous memory, to the page.
    # (Totals are compared within one run: the file-backed pages two runs touch can differ.)
    held = with_block.mark(1).memory
    assert held.anon_kb - without.mark(1).memory.anon_kb >= 16 * MiB
    assert held.anon_kb - with_block.mark(0).memory.anon_kb >= 16 * MiB
    assert held.rss_kb - with_block.mark(0).memory.rss_kb >= 16 * MiB
    # Given back once dropped (glibc unmaps a block that large).
    assert with_block.mark(2).memory.anon_kb < held.anon_kb - 15 * MiB
    # The guest's own reading of the same figure (board_mark.memory()).
    assert int(with_block.stdout) >= 16 * MiB
    assert int(without.stdout) < MiB
    # The peaks, each a maximum over its own run: at least 16 MB (10**6 bytes) apart; not
    # quite 16 MiB, as the run without the block peaks a few kB higher elsewhere.
    assert (with_block.peak.anon_kb - without.peak.anon_kb) * 1024 >= 16 * 10**6
    assert (with_block.peak.rss_kb - without.peak.rss_kb) * 1024 >= 16 * 10**6
    assert with_block.peak.anon_kb >= held.anon_kb
    # The host's periodic samples of the same figure see the second the block is held.
    assert (with_block.sampled_peak.anon_kb - without.sampled_peak.anon_kb) * 1024 >= 16 * 10**6
    # CPython alone: about 6 MB of its own, under 2 MB anonymous; not qemu's ~30 MB.
    assert 3 * MiB < without.peak.rss_kb < 10 * MiB
    assert without.peak.anon_kb < 4 * MiB
    assert with_block.mark(0).insns < with_block.mark(1).insns < with_block.mark(2).insns
