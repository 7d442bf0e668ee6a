"""The main job, for now: the device's light monitor running on the simulated bench.

Usage::

    python -m hwsim.bench [--seconds 20] [--fault-rate 0.0] [--out out/]

The device code (drivers, multiplexer, monitor, OLED) runs unchanged against the
simulated board; the last OLED frame is saved as a PNG.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from device.acquisition import AcquisitionStats, Multiplexer
from device.ads1114 import ADS1114
from device.argtypes import fraction, non_negative_int, positive_float
from device.i2c import RetryingBus
from device.leds import LedBank
from device.oled import Display, open_oled
from hwsim.board import SSD1306_ADDRESS, SimBoard, build_board
from hwsim.monitor import SecondSummary, run_monitor


@dataclass
class BenchRun:
    """What a bench run produced."""

    summaries: list[SecondSummary]
    stats: AcquisitionStats
    bus_failures_counted: int
    board: SimBoard
    png: Path
    wall_s: float


def run_bench(
    seconds: float, *, out: Path, fault_rate: float = 0.0, seed: int = 0, emit=print
) -> BenchRun:
    """Run the light monitor on a simulated board and save the last OLED frame."""
    board = build_board(fault_rate=fault_rate, seed=seed)
    bus = RetryingBus(board.bus, bus_name="sim:/dev/i2c-3")
    adc = ADS1114(bus, clock=board.clock, ready_line=board.ready_line)
    leds = LedBank(board.led_lines)
    display = Display(open_oled(bus, SSD1306_ADDRESS), clock=board.clock)
    # The OLED shares the bus: its frames go out in the gaps between conversions.
    mux = Multiplexer(adc, leds, clock=board.clock, idle=display.pump)

    wall0 = time.perf_counter()
    summaries = run_monitor(mux, clock=board.clock, duration_s=seconds, display=display, emit=emit)
    wall = time.perf_counter() - wall0

    display.flush()
    out.mkdir(parents=True, exist_ok=True)
    png = out / "oled.png"
    board.oled.save_png(png, scale=4)
    mux.close()
    display.close()
    leds.close()
    return BenchRun(summaries, mux.stats, sum(bus.failures.values()), board, png, wall)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hwsim.bench", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--seconds", type=positive_float, default=20.0, help="simulated seconds (default 20)"
    )
    parser.add_argument(
        "--fault-rate", type=fraction, default=0.0, help="fraction of I2C transfers that fail"
    )
    parser.add_argument("--seed", type=non_negative_int, default=0)
    parser.add_argument("--out", type=Path, default=Path("out"), help="folder for oled.png")
    args = parser.parse_args(argv)

    run = run_bench(args.seconds, out=args.out, fault_rate=args.fault_rate, seed=args.seed)
    s = run.stats
    print(
        f"done: {s.conversions} conversions ({s.read} read, {s.discarded} discarded after "
        f"{s.led_switches} LED switches, {s.lost} lost), {run.board.bus.faults_injected} bus "
        f"faults injected, {run.bus_failures_counted} counted; OLED frame -> {run.png}"
    )
    speed = args.seconds / run.wall_s
    print(f"simulated {args.seconds:.0f} s in {run.wall_s:.2f} s wall: {speed:.0f}x real time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
