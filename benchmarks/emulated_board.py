"""The deployed device app measured on the emulated board: memory and ARM instructions.

Every figure is from the emulated board (qemu-user, Debian armhf, Cortex-A7 model):
tests/emulated_board (its README says how memory and instructions are measured). The
bundle is what ``deploy.sh --target-dir`` lays out, with the stand-in NPU runtime built
for armhf (tests/rknn_standin) and a stand-in model (tests/test_deploy.py), its bytecode
compiled by the board's python3 as deploy.sh does on a board. The simulator, which needs
numpy, runs on the host (``python -m hwsim.remote --serve-only``) and serves the board's
bus, lines and clock over a Unix socket bound into the guest; the device process is
``python -m device --sim-socket ...`` (benchmarks/emulated_board_guest.py calls its main
and marks each once-a-second line). Figures, not pass/fail; issue 13, items 2, 3 and 5.

1. imports: memory (total, anonymous, file-backed) and instructions, import by import, in
   the order the app imports them, with the bundle's PYTHONPATH (vendored packages first);
2. session: the app's peak memory over a live session of --seconds of signal, and its
   memory at the end against the middle (growth); the ten longest pieces of work between
   two ADC conversions (a gap mark at each pass of the acquisition loop);
   parts: instructions per second of signal part by part (acquisition, OLED, chain, model,
   ...), from the entry and exit of each part's calls marked over --parts-seconds;
3. CPU: ARM instructions per second of signal of the whole device process, from two
   sessions of different lengths (--short-seconds and --seconds): start-up cancels; and
   (io) instructions per call of the simulator's socket client (device.simboard), which
   the emulated session uses where the board uses i2c-dev and the GPIO character device,
   and of the board's own I/O path (device.i2c_dev, device.gpio_line) on stand-in file
   descriptors, which turns the session's rate into an estimate for the board;
4. a Markdown table with the issue's "before" figures and the goals.

Needs root (chroot, binfmt_misc) and the emulated board's host packages (./dev test installs
them); the root filesystem is built once and cached in .venv. With the defaults it takes
some minutes here (2 shared cores): every session runs its seconds of signal under qemu.

    sudo .venv/host/bin/python benchmarks/emulated_board.py [--seconds 120]
        [--short-seconds 40] [--io-calls 2000] [--only imports|session|io ...]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from emulated_board import (  # noqa: E402 (tests/ is put on sys.path just above)
    Bind,
    GuestMemory,
    Measurement,
    measure,
    rootfs,
    rootfs_info,
    run,
    unavailable_reason,
)
from emulated_board.board import GUEST_ENV  # noqa: E402
from standin_npu import (  # noqa: E402
    SIGNAL_NORMALISATION,
    CompilerMissingError,
    build_standin_runtime,
    write_standin_bundle,
)

LABEL = "emulated board (qemu-user, Debian armhf, Cortex-A7 model)"
GUEST_SCRIPT = Path(__file__).resolve().with_name("emulated_board_guest.py")
APP = "/opt/nirs-wearable"  # the bundle on the board
GUEST_BENCH = "/opt/bench/emulated_board_guest.py"
GUEST_IO_SCRIPT = GUEST_SCRIPT.with_name("emulated_board_guest_io.py")
GUEST_IO_BENCH = "/opt/bench/emulated_board_guest_io.py"
GUEST_PARTS_SCRIPT = GUEST_SCRIPT.with_name("emulated_board_guest_parts.py")
GUEST_PARTS_BENCH = "/opt/bench/emulated_board_guest_parts.py"
GUEST_SOCKET_DIR = "/run/sim"
GUEST_CONFIG = "/etc/nirs/wearable.toml"
GUEST_PYTHONPATH = f"{APP}/vendor:{APP}"
#: Mark ids of benchmarks/emulated_board_guest.py.
APP_START_MARK, APP_LINE_MARK = 999, 1000
#: ADS1114 conversions per second (860 SPS, continuous) and LED writes per second
#: (6 per 20-conversion frame: dark→750 on, 750→810 off+on, 810→870 off+on, 870→dark off).
CONVERSIONS_PER_S = 860
LED_WRITES_PER_S = 6 * CONVERSIONS_PER_S / 20

#: Issue 13's figures, measured on the same emulated board before the work (with numpy),
#: and its goals.
BEFORE = {
    "peak_total": "30.6–31.6 MB",
    "peak_anon": "14.3–14.9 MB",
    "peak_file": "16.3–16.7 MB (total − anonymous)",
    "cpython": "7.2 MB total in the app's run; 5.7 / 1.8 MB bare",
    "insns": "61 M = acquisition 22.1 M + board I/O 30.6 M + 10 Hz chain 8.3 M",
    "io_conversion": "33.9 k: smbus2 read_i2c_block_data 17.5 k + periphery poll+read_event 16.4 k",
    "led_write": "5.0 k (periphery)",
    "piece": "9.0 M (one live OLED frame), 8.9 M (a full garbage collection)",
    "board_io": "30.6 M (smbus2 + periphery, issue 13)",
}
GOALS = {
    "peak_total": "≤ 18 MB",
    "peak_anon": "≤ 9 MB",
    "growth": "nothing that grows with session length",
    "insns": "≤ 60 M",
    "piece": "≤ 3 M",
}
#: Issue 13, before this work: the Python side of the board's I/O (smbus2, periphery) per
#: second of signal. The estimate now uses the board path measured here (measure_board_io).
BOARD_IO_PER_S_BEFORE = 30.6e6

_T0 = time.monotonic()


def progress(message: str) -> None:
    print(f"[{time.monotonic() - _T0:7.1f} s] {message}", flush=True)


def mb(kb: float) -> str:
    return f"{kb / 1024:.1f}"


def signed_mb(kb: float) -> str:
    return f"{kb / 1024:+.2f}"


def millions(n: float) -> str:
    return f"{n / 1e6:.1f} M"


def thousands(n: float) -> str:
    return f"{n / 1e3:.1f} k"


# --- the bundle ------------------------------------------------------------------------------


@dataclass
class Board:
    """What a guest run needs: the deployed root, the config folder, the socket folder."""

    target: Path  # deploy.sh --target-dir: TARGET/opt/nirs-wearable, TARGET/oem/usr/lib
    etc: Path  # bound at /etc/nirs: wearable.toml
    sockets: Path  # bound read-write at /run/sim

    @property
    def app(self) -> Path:
        return self.target / APP.lstrip("/")

    def binds(self) -> list[Bind]:
        return [
            Bind(self.app, APP),
            Bind(self.target / "oem", "/oem"),
            Bind(self.etc, "/etc/nirs"),
            Bind(self.sockets, GUEST_SOCKET_DIR, writable=True),
            Bind(GUEST_SCRIPT, GUEST_BENCH),
            Bind(GUEST_IO_SCRIPT, GUEST_IO_BENCH),
            Bind(GUEST_PARTS_SCRIPT, GUEST_PARTS_BENCH),
        ]


def prepare(work: Path, *, bytecode: bool) -> Board:
    """Deploy the bundle into work/board as deploy.sh --target-dir does; the config; .pyc."""
    models = write_standin_bundle(
        work / "models", normalisation=SIGNAL_NORMALISATION, used_by="benchmarks/emulated_board.py"
    )
    target = work / "board"
    try:
        build_standin_runtime(target / "oem/usr/lib/librknnmrt.so", "arm-linux-gnueabihf-gcc")
    except CompilerMissingError as exc:
        raise SystemExit(f"emulated_board.py: {exc}") from None
    env = {**os.environ, "PYTHON": sys.executable}
    result = subprocess.run(
        ["bash", str(REPO / "deploy.sh"), "--target-dir", str(target), "--models", str(models)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        raise SystemExit(
            f"deploy.sh failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    etc = work / "etc"
    etc.mkdir()
    (etc / "wearable.toml").write_text(
        f'[model]\ndir = "{APP}/models"\nbackend = "rknn"\nlibrary = "/oem/usr/lib/librknnmrt.so"\n'
        '[recording]\ndir = "/tmp/sessions"\n',
        encoding="utf-8",
    )
    sockets = Path(tempfile.mkdtemp(prefix="emulated-sock-"))
    os.chmod(sockets, 0o755)
    board = Board(target, etc, sockets)
    if bytecode:  # as deploy.sh does on a board after the copy
        app = board.app
        compiled = run(
            ["python3", "-m", "compileall", "-q", f"{APP}/device", f"{APP}/vendor"],
            binds=[Bind(app, APP, writable=True)],
            timeout=900,
        )
        if compiled.returncode != 0:
            raise SystemExit(f"compileall on the board failed:\n{compiled.stdout}{compiled.stderr}")
    return board


def guest_env() -> dict[str, str]:
    return {**GUEST_ENV, "PYTHONPATH": GUEST_PYTHONPATH}


# --- the simulator on the host ----------------------------------------------------------------


@contextlib.contextmanager
def simulator(board: Board, *, subject: int, seed: int, timeout_s: float):
    """``python -m hwsim.remote --serve-only`` on board.sockets/board.sock, for one device.

    Yields a list that receives the server's output lines once it has exited."""
    path = board.sockets / "board.sock"
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    command = [
        sys.executable, "-m", "hwsim.remote", "--serve-only", "--socket", str(path),
        "--subject", str(subject), "--seed", str(seed), "--timeout", str(timeout_s),
    ]  # fmt: skip
    proc = subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    out: list[str] = []
    try:
        deadline = time.monotonic() + 120
        while not path.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the simulator did not start: {proc.stdout.read()}")
            time.sleep(0.05)
        yield out
        try:
            text, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            text, _ = proc.communicate()
        out.extend(text.splitlines())
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def server_summary(lines: list[str]) -> str:
    for line in lines:
        if line.startswith("SIMULATED board:"):
            return line.removeprefix("SIMULATED board:").strip()
    return "(no summary from the simulator)"


def server_signal_s(lines: list[str]) -> float | None:
    summary = server_summary(lines)
    with contextlib.suppress(ValueError, IndexError):
        return float(summary.split(" s of signal")[0])
    return None


def round_trips_per_s(lines: list[str]) -> float | None:
    summary = server_summary(lines)
    with contextlib.suppress(ValueError, IndexError):
        return float(summary.split("round trips (")[1].split(" per second")[0])
    return None


# --- 1. imports ---------------------------------------------------------------------------------


def measure_imports(board: Board, *, list_modules: bool = False) -> dict:
    progress("imports: the device's modules step by step (one guest run)")
    m = measure(
        ["python3", GUEST_BENCH, "imports"],
        binds=board.binds(),
        env=guest_env(),
        cwd=APP,
        timeout=900,
    )
    report = next(line for line in m.stdout.splitlines() if line.startswith("IMPORTS "))
    steps = json.loads(report.removeprefix("IMPORTS "))
    rows = []
    previous = None
    for i, step in enumerate(steps):
        mark = m.mark(i)
        insns = mark.insns - (previous.insns if previous else 0)
        rows.append(
            (step["label"], mark.memory, previous.memory if previous else None, insns, step)
        )
        previous = mark
    print()
    print(f"Memory import by import, {LABEL}")
    print(f"(guest memory at each mark, MB = 2^20 bytes; PYTHONPATH={GUEST_PYTHONPATH})")
    head = f"{'step':40s} {'total':>6s} {'anon':>6s} {'file':>6s}  {'+total':>6s} {'+anon':>6s}"
    print(head + f" {'instructions':>13s}  new modules")
    for label, mem, before, insns, step in rows:
        d_total = mem.rss_kb - before.rss_kb if before else mem.rss_kb
        d_anon = mem.anon_kb - before.anon_kb if before else mem.anon_kb
        new = step["new"]
        shown = ", ".join(n for n in new if not n.startswith("_"))
        if len(shown) > 70:
            shown = shown[:67] + "..."
        names = f"{len(new)}: {shown}" if label != "CPython alone" else f"{len(new)} at start-up"
        print(
            f"{label:40s} {mb(mem.rss_kb):>6s} {mb(mem.anon_kb):>6s} {mb(mem.file_kb):>6s}  "
            f"{signed_mb(d_total):>6s} {signed_mb(d_anon):>6s} {millions(insns):>13s}  {names}"
        )
    print(f"peak of the run: {m.peak}; wall {m.wall_s:.1f} s")
    if list_modules:
        for label, _, _, _, step in rows:
            print(f"  {label}: {', '.join(step['new']) or '-'}")
    heaviest = max(rows[1:], key=lambda r: r[1].rss_kb - r[2].rss_kb)
    heaviest_anon = max(rows[1:], key=lambda r: r[1].anon_kb - r[2].anon_kb)
    print(
        f"costliest step: {heaviest[0]} (+{mb(heaviest[1].rss_kb - heaviest[2].rss_kb)} MB total); "
        f"in anonymous memory: {heaviest_anon[0]} "
        f"(+{mb(heaviest_anon[1].anon_kb - heaviest_anon[2].anon_kb)} MB)"
    )
    hashlib_step = next((r for r in rows if "_hashlib" in r[4]["new"]), None)
    if hashlib_step is not None:
        print(f"OpenSSL's _hashlib comes in with: {hashlib_step[0]}")
    return {"cpython": rows[0][1], "board_imports": rows[-2][1], "measurement": m}


# --- 2, 3. sessions -----------------------------------------------------------------------------


@dataclass
class Session:
    seconds: float
    m: Measurement
    server: list[str]

    @property
    def signal_s(self) -> float:
        return server_signal_s(self.server) or self.seconds

    @property
    def line_marks(self):
        return [mk for mk in self.m.marks if mk.id > APP_LINE_MARK]

    @property
    def lines(self) -> list[str]:
        return [line for line in self.m.stdout.splitlines() if line.startswith("t=")]


def run_session(board: Board, seconds: float, *, subject: int, seed: int) -> Session:
    timeout = 600 + 60 * seconds
    progress(f"session: {seconds:g} s of signal (simulator on the host, the app in the guest)")
    with simulator(board, subject=subject, seed=seed, timeout_s=timeout) as server:
        m = measure(
            [
                "python3", GUEST_BENCH, "app", "--", "--sim-socket",
                f"{GUEST_SOCKET_DIR}/board.sock", "--config", GUEST_CONFIG,
                "--seconds", repr(float(seconds)),
            ],
            binds=board.binds(),
            env=guest_env(),
            cwd=APP,
            timeout=timeout,
            check=False,
            gap_marks=True,
        )  # fmt: skip
    session = Session(seconds, m, server)
    if m.returncode != 0 or m.insns is None:
        raise SystemExit(
            f"the device exited with {m.returncode}:\n{m.stdout[-2000:]}\n{m.stderr[-3000:]}"
        )
    progress(
        f"  {len(session.lines)} console lines, {m.insns / 1e9:.2f} G instructions, "
        f"peak {m.peak}, wall {m.wall_s:.0f} s; simulator: {server_summary(server)}"
    )
    return session


def report_sessions(short: Session, long: Session, *, per_second_table: bool = False) -> dict:
    m = long.m
    marks = long.line_marks
    n = len(marks)
    half = n // 2  # the mid point: console line `half` (1-based)
    mid = marks[half - 1].memory
    end = marks[-1].memory
    first_half = max(mk.memory.anon_kb for mk in marks[:half])
    second_half = max(mk.memory.anon_kb for mk in marks[half:])
    delta_s = long.signal_s - short.signal_s
    rate = (long.m.insns - short.m.insns) / delta_s
    startup = short.m.insns - rate * short.signal_s
    per_second = [b.insns - a.insns for a, b in zip(marks, marks[1:])]
    steady = per_second[half - 1 :]
    slope = (marks[-1].insns - marks[half - 1].insns) / (n - half)
    first_line = long.m.mark(APP_LINE_MARK + 1).insns
    # Start-up, directly: up to the first console line, less that first second of signal
    # (taken at the rate of the next one).
    startup_direct = first_line - per_second[0]

    print()
    print(f"The app over a live session, {LABEL}")
    print("(python3 -m device --sim-socket ... --seconds N; MB = 2^20 bytes)")
    print(f"{'':34s} {'total':>7s} {'anon':>7s} {'file':>7s}")

    def row(label: str, mem: GuestMemory) -> None:
        print(f"{label:34s} {mb(mem.rss_kb):>7s} {mb(mem.anon_kb):>7s} {mb(mem.file_kb):>7s}")

    row(f"peak, {long.seconds:g} s session (exact)", m.peak)
    print(f"{'  (in KiB: total / anonymous)':34s} {m.peak.rss_kb} / {m.peak.anon_kb}")
    if m.sampled_peak:
        row("  (host's 20 ms samples of it)", m.sampled_peak)
    row(f"peak, {short.seconds:g} s session", short.m.peak)
    row(f"at line {half} (mid point)", mid)
    row(f"at line {n} (end)", end)
    row("at exit", m.final)
    print(
        f"growth, mid point to end ({n - half} s of signal): {signed_mb(end.rss_kb - mid.rss_kb)} "
        f"MB total, {signed_mb(end.anon_kb - mid.anon_kb)} MB anonymous; highest anonymous in "
        f"the first half {mb(first_half)} MB, in the second {mb(second_half)} MB"
    )
    print()
    print(f"ARM instructions of the whole device process, {LABEL}")
    print(f"  {short.seconds:g} s session: {short.m.insns:,} ({short.signal_s:.2f} s of signal)")
    print(f"  {long.seconds:g} s session: {long.m.insns:,} ({long.signal_s:.2f} s of signal)")
    print(
        f"  per second of signal: ({long.seconds:g} s − {short.seconds:g} s) / {delta_s:.2f} s = "
        f"{millions(rate)} (I/O through the simulator's socket client)"
    )
    print(
        f"  start-up (the short session less {short.signal_s:.1f} s at that rate): "
        f"{millions(startup)}"
    )
    print(
        f"  start-up, directly: {millions(startup_direct)} (up to the first console line, "
        f"{millions(first_line)}, less one second at the next second's rate; the intercept above "
        "is lower when the first seconds, calibration, run cheaper than the rest)"
    )
    print(
        f"  second by second in the second half of the long session: median "
        f"{millions(statistics.median(steady))}, min {millions(min(steady))}, max "
        f"{millions(max(steady))}; slope {millions(slope)} per line"
    )
    if per_second_table:
        print(f"  console line by line ({long.seconds:g} s session): instructions since the last")
        print("  line, M; guest memory at the line, total / anonymous MB")
        previous = 0
        for i, mk in enumerate(marks, start=1):
            print(
                f"    {i:4d} {(mk.insns - previous) / 1e6:8.1f} "
                f"{mb(mk.memory.rss_kb):>6s} {mb(mk.memory.anon_kb):>6s}"
            )
            previous = mk.insns
    gap = long.m.gap

    def second_of(end: int) -> int:
        return sum(mk.insns < end for mk in marks) + 1

    piece_line = second_of(gap.end)
    print(
        f"  longest pieces of work between two conversions (one pass of the acquisition loop: "
        f"Multiplexer.step and what the app does before the next; {gap.count:,} passes, each "
        "with a gap mark): "
        + ", ".join(f"{millions(n)} (second {second_of(e)})" for n, e in gap.top)
    )
    rtps = round_trips_per_s(long.server)
    if rtps is not None:
        print(f"  socket round trips per second of signal: {rtps:.0f}")
    return {
        "peak": m.peak,
        "short_peak": short.m.peak,
        "mid": mid,
        "end": end,
        "n_lines": n,
        "rate": rate,
        "startup": startup,
        "first_line": first_line,
        "startup_direct": startup_direct,
        "piece": gap.max,
        "piece_second": piece_line,
    }


# --- 3. the parts of the device's work ----------------------------------------------------------

PART_MARK = 4000


def measure_parts(board: Board, from_s: float, seconds: float, *, subject: int, seed: int) -> dict:
    """ARM instructions per second of signal of each part of the device's work: one guest run
    (emulated_board_guest.py parts) with the entry and exit of each part's calls marked for
    `seconds` of signal from `from_s` on; each part's own instructions (less the parts it
    calls and the marks' own cost, measured on empty regions in the same run)."""
    first = round(from_s * CONVERSIONS_PER_S)
    passes = round(seconds * CONVERSIONS_PER_S)
    total_s = from_s + seconds + 2
    progress(f"parts: {seconds:g} s of signal from second {from_s:g} marked part by part")
    with simulator(board, subject=subject, seed=seed, timeout_s=600 + 60 * total_s):
        m = measure(
            [
                "python3", GUEST_PARTS_BENCH, "parts", str(first), str(passes), "--",
                "--sim-socket",
                f"{GUEST_SOCKET_DIR}/board.sock", "--config", GUEST_CONFIG,
                "--seconds", repr(float(total_s)),
            ],
            binds=board.binds(), env=guest_env(), cwd=APP, timeout=600 + 60 * total_s,
            exact_peak=False, sample_interval=None, check=False,
        )  # fmt: skip
    if m.returncode != 0:
        raise SystemExit(f"parts: the device exited with {m.returncode}:\n{m.stderr[-3000:]}")
    labels = eval_labels(m.stdout)
    empty = [b.insns - a.insns for a, b in zip(m.marks, m.marks[1:]) if a.id == PART_MARK - 2]
    mark_cost = statistics.median(empty)
    own = [0.0] * len(labels)
    calls = [0] * len(labels)
    largest = [0.0] * len(labels)  # the largest single call, its own instructions
    stack: list[list] = []  # [part, entry insns, instructions of its children incl. marks]
    window = [None, None]
    for mk in m.marks:
        if mk.id < PART_MARK:
            continue
        part, leaving = divmod(mk.id - PART_MARK, 2)
        window[0] = mk.insns if window[0] is None else window[0]
        window[1] = mk.insns
        if not leaving:
            stack.append([part, mk.insns, 0.0])
            continue
        entered, start, children = stack.pop()
        if entered != part:
            raise SystemExit(f"parts: marks out of order ({entered} left as {part})")
        raw = mk.insns - start
        own[part] += raw - mark_cost - children
        largest[part] = max(largest[part], raw - mark_cost - children)
        calls[part] += 1
        if stack:
            stack[-1][2] += raw + mark_cost
    signal_s = seconds
    print()
    print(f"ARM instructions per second of signal by part, {LABEL}")
    print(
        f"(seconds {from_s:g} to {from_s + seconds:g} of a live session, each part's own "
        f"instructions; a mark's own cost, {thousands(mark_cost)}, taken off each call)"
    )
    for label, n, c, big in sorted(zip(labels, own, calls, largest), key=lambda r: -r[1]):
        print(
            f"  {label:58s} {millions(n / signal_s):>9s}  ({c / signal_s:7.1f} calls/s, "
            f"the largest {millions(big)})"
        )
    span = window[1] - window[0]
    marks_total = sum(calls) * mark_cost * 2
    rest = span - sum(own) - marks_total
    other = "everything else (the loop, the console line, ...)"
    print(f"  {other:58s} {millions(rest / signal_s):>9s}")
    print(f"  {'total, less the marks':58s} {millions((span - marks_total) / signal_s):>9s}")
    return {"labels": labels, "own": own, "calls": calls, "seconds": signal_s, "rest": rest}


def measure_oled(board: Board) -> None:
    """ARM instructions of OLED frames as the app draws, packs and queues them."""
    progress("oled: frames drawn, packed and queued on a bus that does nothing")
    m = measure(
        ["python3", GUEST_PARTS_BENCH, "oled"], binds=board.binds(), env=guest_env(), cwd=APP,
        timeout=900, exact_peak=False, sample_interval=None,
    )  # fmt: skip
    sys.path.insert(0, str(GUEST_PARTS_SCRIPT.parent))
    from emulated_board_guest_parts import OLED_MARKS

    print()
    print(f"OLED frames, ARM instructions, {LABEL}")
    previous = m.mark(100).insns
    for mark_id, label in OLED_MARKS.items():
        if mark_id == 100:
            continue
        insns = m.mark(mark_id).insns
        print(f"  {label:62s} {millions(insns - previous):>9s}")
        previous = insns


def eval_labels(stdout: str) -> list[str]:
    import ast

    line = next(line for line in stdout.splitlines() if line.startswith("PARTS "))
    return ast.literal_eval(line.removeprefix("PARTS "))


# --- 4. the socket client's cost per call --------------------------------------------------------


def measure_io(board: Board, calls: int, *, subject: int, seed: int) -> dict:
    progress(f"io: device.simboard's bus and line calls, {calls} each (one guest run)")
    with simulator(board, subject=subject, seed=seed, timeout_s=3600) as server:
        m = measure(
            ["python3", GUEST_IO_BENCH, "io", f"{GUEST_SOCKET_DIR}/board.sock", str(calls)],
            binds=board.binds(),
            env=guest_env(),
            cwd=APP,
            timeout=3600,
        )
    ins = {mk.id: mk.insns for mk in m.marks}
    loop = (ins[11] - ins[10]) / calls
    toggle = (ins[51] - ins[50]) / calls
    poll = (ins[21] - ins[11]) / calls - loop
    read = (ins[31] - ins[21]) / calls - loop
    write = (ins[41] - ins[31]) / calls - loop
    led = (ins[50] - ins[41] - read) / calls - toggle
    block_conversion = (ins[61] - ins[51]) / calls - loop
    driver = (ins[71] - ins[61]) / calls - loop
    plain = (ins[81] - ins[71]) / calls - loop
    conversion = (ins[91] - ins[81]) / calls - loop
    print()
    print(f"device.simboard (the simulator's socket client), instructions per call, {LABEL}")
    print(f"  bus.read_i2c_block_data (2 bytes)         {thousands(read):>9s}")
    print(f"  bus.read_bytes (2 bytes, plain read)      {thousands(plain):>9s}")
    print(f"  bus.write_i2c_block_data (2 bytes)        {thousands(write):>9s}")
    print(f"  line.poll + line.read_event (ALERT/RDY)   {thousands(poll):>9s}")
    print(f"  line.write (LED; posted with the next)    {thousands(led):>9s}")
    print(f"  one conversion: poll + read_event + read_bytes  {thousands(conversion):>9s}")
    print(f"    (with read_i2c_block_data instead: {thousands(block_conversion)})")
    print(f"  the same through ADS1114 + RetryingBus    {thousands(driver):>9s}")
    print(
        f"  ({calls} calls each, the loop's own {loop:.0f} instructions taken off; "
        f"simulator: {server_summary(server)})"
    )
    print(f"I/O through the simulator's socket client: {thousands(conversion)} per conversion")
    return {
        "read": read,
        "plain": plain,
        "write": write,
        "poll": poll,
        "led": led,
        "conversion": conversion,
        "driver": driver,
    }


def measure_board_io(board: Board, calls: int) -> dict:
    """The board's own I/O path (device.i2c_dev, device.gpio_line) on stand-in descriptors."""
    progress(f"io: the board's I/O path on stand-in descriptors, {calls} calls each (one run)")
    # periphery's own wait and read is the reference (marks 162..171); it is no longer in the
    # bundle, so the test environment's copy (pure Python) is put after the bundle's path.
    import importlib.util

    reference = Path(importlib.util.find_spec("periphery").origin).parent
    env = guest_env()
    m = measure(
        ["python3", GUEST_IO_BENCH, "boardio", str(calls)],
        binds=[*board.binds(), Bind(reference, "/opt/bench-reference/periphery")],
        env={**env, "PYTHONPATH": env["PYTHONPATH"] + ":/opt/bench-reference"},
        cwd=APP,
        timeout=3600,
    )
    ins = {mk.id: mk.insns for mk in m.marks}
    loop = (ins[111] - ins[110]) / calls
    toggle = (ins[141] - ins[140]) / calls
    wait = (ins[121] - ins[112]) / calls - loop
    read = (ins[131] - ins[121]) / calls - loop
    led = (ins[140] - ins[131]) / calls - toggle
    conversion = (ins[151] - ins[142]) / calls - loop
    driver = (ins[161] - ins[152]) / calls - loop
    periphery_wait = (ins[171] - ins[162]) / calls - loop
    write = (ins[181] - ins[171]) / calls - loop
    block_read = (ins[191] - ins[181]) / calls - loop
    print()
    print(f"The board's I/O path on stand-in descriptors, instructions per call, {LABEL}")
    print("(i2c-dev on /dev/zero without the I2C_SLAVE ioctl; ALERT/RDY on a pipe of ABI-v1")
    print("event records; LED writes a real ioctl, FIONREAD on a pipe, with the 64-byte argument)")
    print(f"  EventLine.poll + read_event (ALERT/RDY)   {thousands(wait):>9s}")
    print(f"    periphery 2.4.3's own poll + read_event {thousands(periphery_wait):>9s}")
    print(f"  I2CDev.read_bytes (2 bytes)               {thousands(read):>9s}")
    print(f"  I2CDev.read_i2c_block_data (2 bytes)      {thousands(block_read):>9s}")
    print(f"  I2CDev.write_i2c_block_data (2 bytes)     {thousands(write):>9s}")
    print(f"  OutputLine.write (LED)                    {thousands(led):>9s}")
    print(f"  one conversion: poll + read_event + read_bytes  {thousands(conversion):>9s}")
    print(f"  the same through ADS1114 + RetryingBus    {thousands(driver):>9s}")
    print(f"  ({calls} calls each, the loop's own {loop:.0f} instructions taken off)")
    print(
        f"The board's I/O: {thousands(conversion)} per conversion, {thousands(led)} per LED "
        f"write: {millions(board_io_per_s(conversion, led))} per second of signal (issue 13, "
        f"before: smbus2 + periphery {BEFORE['io_conversion']}; LED {BEFORE['led_write']})"
    )
    return {
        "wait": wait,
        "periphery_wait": periphery_wait,
        "read": read,
        "block_read": block_read,
        "write": write,
        "led": led,
        "conversion": conversion,
        "driver": driver,
    }


def board_io_per_s(conversion: float, led: float) -> float:
    """I/O instructions per second of signal: conversions and LED writes at nominal rates."""
    return conversion * CONVERSIONS_PER_S + led * LED_WRITES_PER_S


def board_estimate(rate: float, io: dict, board_io: dict) -> tuple[float, float, float]:
    """(the socket client's I/O per second of signal, the board path's, the session's rate
    with the board's I/O in the socket client's place)."""
    socket_io = board_io_per_s(io["conversion"], io["led"])
    board = board_io_per_s(board_io["conversion"], board_io["led"])
    return socket_io, board, rate - socket_io + board


def report_translation(sessions: dict, io: dict, board_io: dict) -> None:
    socket_io, board, estimate = board_estimate(sessions["rate"], io, board_io)
    print()
    print(
        f"Translation ({LABEL}): the session's {millions(sessions['rate'])} per second of signal "
        f"holds the socket client's I/O, {millions(socket_io)} ({thousands(io['conversion'])} x "
        f"{CONVERSIONS_PER_S} conversions + {thousands(io['led'])} x {LED_WRITES_PER_S:.0f} LED "
        f"writes); with the board's I/O path measured on stand-in descriptors "
        f"({millions(board)}: {thousands(board_io['conversion'])} and "
        f"{thousands(board_io['led'])}) in its place: about {millions(estimate)} per second of "
        "signal (an estimate; the OLED's bus writes stay at the socket client's cost)"
    )


# --- 4. the table ---------------------------------------------------------------------------------


def md_row(*cells: str) -> None:
    print("| " + " | ".join(cells) + " |")


#: The issue's "before" figures by part (its parts were drawn differently: it counted the
#: acquisition code and the board's I/O apart, and the 10 Hz chain as one).
BEFORE_PARTS = {
    "acquisition": "52.7 M (acquisition code 22.1 M + board I/O 30.6 M)",
    "chain": "8.3 M (the whole 10 Hz chain)",
    "OLED: drawing": "9.0 M a frame, in one piece",
}


def markdown(
    args,
    command: str,
    imports: dict | None,
    sessions: dict | None,
    io: dict | None,
    info,
    by_part: dict | None = None,
    board_io: dict | None = None,
) -> None:
    print()
    print(f"Summary ({LABEL}), Markdown:")
    print()
    md_row(LABEL, "before (issue 13, with numpy)", "now", "goal (issue 13)")
    md_row("---", "---", "---", "---")
    if imports:
        c, b = imports["cpython"], imports["board_imports"]
        md_row(
            "CPython alone (total / anonymous)",
            BEFORE["cpython"],
            f"{mb(c.rss_kb)} / {mb(c.anon_kb)} MB",
            "",
        )
        md_row(
            "after every import of the table but device.simboard (total / anonymous)",
            "",
            f"{mb(b.rss_kb)} / {mb(b.anon_kb)} MB",
            "",
        )
    if sessions:
        p = sessions["peak"]
        md_row(
            f"peak memory, total ({args.seconds:g} s session)",
            BEFORE["peak_total"],
            f"{mb(p.rss_kb)} MB",
            GOALS["peak_total"],
        )
        md_row(
            "peak memory, anonymous", BEFORE["peak_anon"], f"{mb(p.anon_kb)} MB", GOALS["peak_anon"]
        )
        md_row("peak memory, file-backed", BEFORE["peak_file"], f"{mb(p.file_kb)} MB", "")
        mid, end, n = sessions["mid"], sessions["end"], sessions["n_lines"]
        md_row(
            f"memory growth, console line {n // 2} → {n} (total / anonymous)",
            "",
            f"{signed_mb(end.rss_kb - mid.rss_kb)} / {signed_mb(end.anon_kb - mid.anon_kb)} MB",
            GOALS["growth"],
        )
        md_row(
            "ARM instructions per second of signal, whole device process",
            BEFORE["insns"],
            f"{millions(sessions['rate'])} (I/O through the simulator's socket client)",
            GOALS["insns"],
        )
        if io and board_io:
            socket_io, board, estimate = board_estimate(sessions["rate"], io, board_io)
            md_row(
                f"the same with the board's I/O instead (estimate: − socket client "
                f"{millions(socket_io)} + the board's I/O path {millions(board)}, measured on "
                "stand-in descriptors)",
                f"about 75 M (socket-client session − its I/O + "
                f"{millions(BOARD_IO_PER_S_BEFORE)} smbus2/periphery)",
                millions(estimate),
                GOALS["insns"],
            )
        md_row(
            "longest piece of work between two conversions (ARM instructions)",
            BEFORE["piece"],
            f"{millions(sessions['piece'])} (second {sessions['piece_second']})",
            GOALS["piece"],
        )
        md_row(
            "start-up instructions (to the first second of signal)",
            "",
            f"{millions(sessions['startup_direct'])} (intercept of the two sessions: "
            f"{millions(sessions['startup'])})",
            "",
        )
    if by_part:
        n_s = by_part["seconds"]
        for label, own in sorted(zip(by_part["labels"], by_part["own"]), key=lambda r: -r[1]):
            before = next((v for k, v in BEFORE_PARTS.items() if label.startswith(k)), "")
            md_row(f"by part, per second of signal: {label}", before, millions(own / n_s), "")
        md_row("by part: everything else", "", millions(by_part["rest"] / n_s), "")
    if board_io:
        md_row(
            "board I/O per conversion (ALERT/RDY wait + event + conversion read)",
            BEFORE["io_conversion"],
            f"{thousands(board_io['conversion'])} (EventLine + I2CDev.read_bytes)",
            "",
        )
        md_row(
            "board LED write", BEFORE["led_write"], f"{thousands(board_io['led'])} (OutputLine)", ""
        )
        md_row(
            "board I/O per second of signal",
            BEFORE["board_io"],
            millions(board_io_per_s(board_io["conversion"], board_io["led"])),
            "",
        )
    if io:
        md_row(
            "socket-client I/O per conversion (the emulated session's)",
            "41.0 k (poll + read_event + read_i2c_block_data)",
            f"{thousands(io['conversion'])} (poll + read_event + read_bytes)",
            "",
        )
        md_row("socket-client LED write", "3.5 k", f"{thousands(io['led'])}", "")
    print()
    print(
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d} with `{command}` "
        f"(rootfs python {info.get('python', '?')}, packages {info.get('packages', '?')}; "
        f"source {git_describe()}). MB = 2^20 bytes."
    )


def git_describe() -> str:
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        return subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Figures only; nothing is asserted. See the module's docstring.",
    )  # fmt: skip
    parser.add_argument(
        "--seconds", type=float, default=120.0,
        help="signal of the long session, s (default 120; 600 is issue 13's 10 minutes)",
    )  # fmt: skip
    parser.add_argument(
        "--short-seconds", type=float, default=40.0,
        help="signal of the short session, s, for instructions per second (default 40)",
    )  # fmt: skip
    parser.add_argument(
        "--io-calls", type=int, default=2000, help="calls per operation in io (default 2000)"
    )
    parser.add_argument(
        "--parts-from", type=float, default=30.0,
        help="parts: the second of signal the marked window starts at (default 30)",
    )  # fmt: skip
    parser.add_argument(
        "--parts-seconds", type=float, default=5.0,
        help="parts: seconds of signal marked part by part (default 5)",
    )  # fmt: skip
    parser.add_argument(
        "--only", action="append", choices=("imports", "session", "parts", "oled", "io"),
        help="run only this part (repeatable; default: all)",
    )  # fmt: skip
    parser.add_argument("--subject", type=int, default=7, help="simulated subject (default 7)")
    parser.add_argument("--seed", type=int, default=2025, help="simulator seed (default 2025)")
    parser.add_argument(
        "--no-bytecode", action="store_true",
        help="leave the bundle without .pyc (deploy.sh compiles it on a board; default: compile)",
    )  # fmt: skip
    parser.add_argument(
        "--list-modules", action="store_true", help="imports: list every module each step adds"
    )
    parser.add_argument(
        "--per-second",
        action="store_true",
        help="session: print instructions and memory console line by line",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args(argv)
    parts = set(args.only or ("imports", "session", "parts", "oled", "io"))
    if "session" in parts and not 0 < args.short_seconds < args.seconds:
        parser.error("--short-seconds must be above 0 and below --seconds")
    reason = unavailable_reason()
    if reason is not None:
        print(reason, file=sys.stderr)
        return 1
    command = shlex.join(
        ["python", "benchmarks/emulated_board.py", *(sys.argv[1:] if argv is None else argv)]
    )
    progress(f"{LABEL}: rootfs")
    info = rootfs_info(rootfs())
    work = Path(tempfile.mkdtemp(prefix="emulated-board-bench-"))
    try:
        return run_parts(args, parts, work, command, info)
    except subprocess.CalledProcessError as exc:  # a guest run failed: say how, not where
        said = (exc.stderr or exc.stdout or "").strip().splitlines() or ["(nothing on stderr)"]
        print(f"emulated_board.py: {shlex.join(exc.cmd)} exited {exc.returncode}:", file=sys.stderr)
        # (the guest's own last lines follow)
        print("\n".join(said[-15:]), file=sys.stderr)
        return 1


def run_parts(args, parts: set[str], work: Path, command: str, info) -> int:
    """Deploy into ``work``, run the chosen parts, print their figures and the table."""
    board = None
    try:
        progress(f"deploy.sh --target-dir {work / 'board'} (stand-in runtime and model)")
        board = prepare(work, bytecode=not args.no_bytecode)
        imports = None
        if "imports" in parts:
            imports = measure_imports(board, list_modules=args.list_modules)
        sessions = None
        if "session" in parts:
            short = run_session(board, args.short_seconds, subject=args.subject, seed=args.seed)
            long = run_session(board, args.seconds, subject=args.subject, seed=args.seed)
            sessions = report_sessions(short, long, per_second_table=args.per_second)
        if "oled" in parts:
            measure_oled(board)
        by_part = None
        if "parts" in parts:
            by_part = measure_parts(
                board, args.parts_from, args.parts_seconds, subject=args.subject, seed=args.seed
            )
        io = board_io = None
        if "io" in parts:
            io = measure_io(board, args.io_calls, subject=args.subject, seed=args.seed)
            board_io = measure_board_io(board, args.io_calls)
        if sessions and io and board_io:
            report_translation(sessions, io, board_io)
        markdown(args, command, imports, sessions, io, info, by_part, board_io)
    finally:
        if board is not None:
            shutil.rmtree(board.sockets, ignore_errors=True)
        if args.keep:
            progress(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    progress("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
