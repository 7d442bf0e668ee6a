"""The acquisition bench: the device's light monitor on a simulated board, no model.

The device's drivers, LED multiplexer and OLED run unchanged against the simulated
board (no subject, no model: the main job is python -m hwsim.wearable). Printed: each
LED's dark-subtracted light once a second, then the ADC's conversion counts (read,
discarded after an LED switch, lost) and, with --fault-rate, what the injected I2C
faults did to each chip. Written: the last OLED frame as oled.png in --out.
Everything here is SIMULATED.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from device.acquisition import AcquisitionStats
from device.argtypes import non_negative_int, output_dir, positive_float
from device.errors import DeviceError
from hwsim.board import SimBoard, build_board
from hwsim.cli import add_fault_rate
from hwsim.faults import explain, fault_summary
from hwsim.monitor import SecondSummary, run_monitor
from hwsim.rig import wire


@dataclass
class BenchRun:
    """What a bench run produced."""

    summaries: list[SecondSummary]
    stats: AcquisitionStats
    bus_failures_counted: int
    board: SimBoard
    png: Path
    wall_s: float
    faults: str = ""  # the one-line I2C fault summary (hwsim.faults), "" without faults


def run_bench(
    seconds: float, *, out: Path, fault_rate: float = 0.0, seed: int = 0, emit=print
) -> BenchRun:
    """Run the light monitor on a simulated board and save the last OLED frame."""
    board = build_board(fault_rate=fault_rate, seed=seed)
    rig = wire(board)
    try:
        display = rig.display()
    except DeviceError as exc:  # the bench needs its OLED; say when --fault-rate was the cause
        if not fault_rate:
            raise
        raise DeviceError(explain(exc, board.bus, rig.bus.retries)) from exc
    # The OLED shares the bus: its frames go out in the gaps between conversions.
    mux = rig.multiplexer(idle=display.pump)

    wall0 = time.perf_counter()
    summaries = run_monitor(mux, clock=board.clock, duration_s=seconds, display=display, emit=emit)
    wall = time.perf_counter() - wall0

    display.flush()
    out.mkdir(parents=True, exist_ok=True)
    png = out / "oled.png"
    board.oled.save_png(png, scale=4)
    mux.close()
    display.close()
    rig.leds.close()
    faults = fault_summary(board.bus, rig.bus) if fault_rate else ""
    return BenchRun(summaries, mux.stats, sum(rig.bus.failures.values()), board, png, wall, faults)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hwsim.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--seconds",
        type=positive_float,
        default=20.0,
        help="simulated seconds to run (default: %(default)s)",
    )
    add_fault_rate(parser)
    parser.add_argument(
        "--seed",
        type=non_negative_int,
        default=0,
        help="seed of the ADC noise and the bus faults (default: %(default)s)",
    )
    parser.add_argument(
        "--out",
        type=output_dir,
        default=Path("out"),
        help="folder for oled.png, made if missing (default: %(default)s)",
    )
    args = parser.parse_args(argv)

    try:
        run = run_bench(args.seconds, out=args.out, fault_rate=args.fault_rate, seed=args.seed)
    except (DeviceError, OSError) as exc:  # OSError: --out is a file, not writable, full
        print(f"error: {exc}", file=sys.stderr)
        return 2
    s = run.stats
    print(
        f"done: {s.conversions} conversions ({s.read} read, {s.discarded} discarded after "
        f"{s.led_switches} LED switches, {s.lost} lost), {run.board.bus.faults_injected} bus "
        f"faults injected, {run.bus_failures_counted} counted; OLED frame -> {run.png}"
    )
    if run.faults:
        print(run.faults)
    speed = args.seconds / run.wall_s
    print(f"simulated {args.seconds:.0f} s in {run.wall_s:.2f} s wall: {speed:.0f}x real time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
