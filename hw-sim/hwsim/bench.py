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
from pathlib import Path

from device.acquisition import Multiplexer
from device.ads1114 import ADS1114
from device.i2c import RetryingBus
from device.leds import LedBank
from device.monitor import run_monitor
from device.oled import Display, open_oled
from hwsim.board import SSD1306_ADDRESS, build_board


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hwsim.bench", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--seconds", type=float, default=20.0, help="simulated seconds (default 20)"
    )
    parser.add_argument(
        "--fault-rate", type=float, default=0.0, help="fraction of I2C transfers that fail"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out", type=Path, default=Path("out"), help="folder for oled.png (default out/)"
    )
    args = parser.parse_args(argv)
    if args.seconds <= 0:
        parser.error(f"--seconds must be positive, got {args.seconds}")

    board = build_board(fault_rate=args.fault_rate, seed=args.seed)
    bus = RetryingBus(board.bus, bus_name="sim:/dev/i2c-3")
    adc = ADS1114(bus, clock=board.clock, ready_line=board.ready_line)
    leds = LedBank(board.led_lines)
    display = Display(open_oled(bus, SSD1306_ADDRESS))
    mux = Multiplexer(adc, leds, clock=board.clock)

    wall0 = time.perf_counter()
    run_monitor(mux, clock=board.clock, duration_s=args.seconds, display=display)
    wall = time.perf_counter() - wall0

    args.out.mkdir(parents=True, exist_ok=True)
    png = args.out / "oled.png"
    board.oled.save_png(png, scale=4)
    mux.close()
    display.close()
    leds.close()
    s = mux.stats
    print(
        f"done: {s.conversions} conversions ({s.read} read, {s.discarded} discarded after "
        f"{s.led_switches} LED switches, {s.lost} lost), {board.bus.faults_injected} bus faults "
        f"injected, {sum(bus.failures.values())} counted; OLED frame -> {png}"
    )
    print(
        f"simulated {args.seconds:.0f} s in {wall:.2f} s wall: {args.seconds / wall:.0f}x real time"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
