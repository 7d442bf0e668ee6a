"""How many times faster than real time the simulated acquisition loop runs.

Runs the device's multiplexer (drivers + LED switching + every conversion read)
against the simulated board for a stretch of simulated time, a few times, and
prints the wall time and the speed-up of each run and their median. A figure,
not a pass/fail: the machine may be shared.

    python benchmarks/acquisition_speed.py [--seconds 30] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

from hwsim.board import build_board
from hwsim.rig import wire


def one_run(seconds: float) -> float:
    mux = wire(build_board(with_oled=False)).multiplexer()
    mux.start()
    wall0 = time.perf_counter()
    for _ in mux.run(seconds):
        pass
    wall = time.perf_counter() - wall0
    if mux.stats.lost:
        raise RuntimeError(f"benchmark run lost conversions: {mux.stats}")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    speedups = []
    for i in range(args.repeats):
        wall = one_run(args.seconds)
        speedups.append(args.seconds / wall)
        print(f"run {i + 1}: {args.seconds:.0f} s simulated in {wall:.3f} s wall", end=" ")
        print(f"= {speedups[-1]:.0f}x")
    print(f"median speed-up: {statistics.median(speedups):.0f}x real time (target >= 50x)")


if __name__ == "__main__":
    main()
