"""The deployed app on the emulated board holds issue 13's budgets: memory, instructions
per second of signal, and the longest piece of work between two ADC conversions.

One live session of SIGNAL_S seconds against the simulator (benchmarks/emulated_board.py's
session, the same bundle deploy.sh lays out, a stand-in NPU runtime built for armhf),
measured by the insn_count plugin: the guest's exact peak memory, its instructions at each
console line, and a gap mark at each pass of the acquisition loop. Instruction counts
under emulation are deterministic (two runs agree to a few hundred instructions in
billions), so these are budgets, not timings: the figures hold on any machine.

The I/O in this session is the simulator's socket client (device.simboard). The board's
own I/O path (device.i2c_dev, device.gpio_line) is measured on stand-in descriptors, and the
socket client's per call, in two more guest runs; the instruction budget holds the session's
figure with the one in the other's place, as benchmarks/emulated_board.py translates it.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
from emulated_board import unavailable_reason

REPO = Path(__file__).resolve().parent.parent
SIGNAL_S = 90.0  # 20 s of calibration, then 70 s live
#: The rate is taken from this console line (second) on: live, after the baseline's samples.
STEADY_FROM = 25
MiB = 1024  # kB

#: Issue 13's budgets for the device process on the board (point 2 and point 3), held with
#: the 10 % slack the issue allows (point 5): counts are deterministic on one machine, but
#: a fresh clone measured 0.5 MB more file-backed memory than this checkout, and the
#: emulated session also holds the simulator's socket client (+0.3 MB anonymous), which a
#: board does not load. The figures against the budgets themselves: README, benchmarks.
SLACK = 1.10
PEAK_TOTAL_MB = 18.0
PEAK_ANON_MB = 9.0
INSNS_PER_S = 60e6  # about 10 % of the Cortex-A7
PIECE_INSNS = 3e6  # about 5 ms: the GPIO event queue (16) and the ADC's one register
#: Anonymous memory may not grow by more than this from console line GROWTH_FROM (every
#: bounded buffer is full by then: the 30 s trend on the screen fills from second 20 to 50)
#: to the end of the session; Python's allocator keeps a few pages more now and then.
GROWTH_FROM = 55
#: Calls of each I/O operation measured per guest run (counts are exact: few are needed).
IO_CALLS = 500
GROWTH_ANON_KB = 128


def _bench():
    """benchmarks/emulated_board.py as a module (its session is the one measured here)."""
    path = REPO / "benchmarks" / "emulated_board.py"
    spec = importlib.util.spec_from_file_location("emulated_board_bench", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    return _bench()


@pytest.fixture(scope="module")
def board(bench):
    """The bundle deployed into a folder bound into the emulated board."""
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    work = Path(tempfile.mkdtemp(prefix="emulated-board-budget-"))
    prepared = None
    try:
        prepared = bench.prepare(work, bytecode=True)
        yield prepared
    finally:
        if prepared is not None:
            shutil.rmtree(prepared.sockets, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="module")
def session(bench, board):
    return bench.run_session(board, SIGNAL_S, subject=7, seed=2025)


def test_peak_memory_fits_the_board(session):
    peak = session.m.peak
    assert peak.rss_kb <= PEAK_TOTAL_MB * MiB * SLACK, f"peak {peak}"
    assert peak.anon_kb <= PEAK_ANON_MB * MiB * SLACK, f"peak {peak}"


def test_memory_does_not_grow_with_the_session(session):
    lines = session.line_marks
    assert len(lines) >= SIGNAL_S - 2
    mid, end = lines[GROWTH_FROM - 1].memory, lines[-1].memory
    assert end.anon_kb - mid.anon_kb <= GROWTH_ANON_KB, (mid, end)


def test_instructions_per_second_of_signal(bench, board, session):
    steady = session.line_marks[STEADY_FROM - 1 :]
    assert len(steady) >= 30
    rate = (steady[-1].insns - steady[0].insns) / (len(steady) - 1)
    socket_io = bench.measure_io(board, IO_CALLS, subject=7, seed=2025)
    board_io = bench.measure_board_io(board, IO_CALLS)
    socket_per_s, board_per_s, on_board = bench.board_estimate(rate, socket_io, board_io)
    # The translation is worth making: the board's path is the cheaper one.
    assert board_per_s < socket_per_s
    # The gap marks (a few k a conversion) stay counted in, and the OLED's bus writes at
    # the socket client's cost: both make this the stricter test.
    assert on_board <= INSNS_PER_S * SLACK, (
        f"{on_board / 1e6:.1f} M ARM instructions per second of signal with the board's I/O "
        f"({rate / 1e6:.1f} M through the socket client, whose I/O is {socket_per_s / 1e6:.1f} M;"
        f" the board's {board_per_s / 1e6:.1f} M)"
    )


def test_no_piece_of_work_between_two_conversions_is_long(session):
    gap = session.m.gap
    assert gap.count >= 860 * (SIGNAL_S - 1)  # a pass per conversion, each marked
    assert gap.max <= PIECE_INSNS * SLACK, [(n / 1e6, end) for n, end in gap.top]
