"""CPU cost of the device's own code per second of signal, as a fraction of one core.

Two parts, both device code only:

- acquisition: the ADS1114 driver, retrying bus wrapper and LED multiplexer handling
  860 conversions, fed by trivial replay stand-ins (a list lookup per call) instead
  of the simulator, whose cost is not the device's;
- processing: the measurement chain (decimation, ΔOD, MBLL, flags) on frames
  recorded beforehand from the simulated board.

It prints figures for this machine; the board's Cortex-A7 is slower, so read them
as a floor, not as the board's load.

    python benchmarks/chain_cost.py [--seconds 60]
"""

from __future__ import annotations

import argparse
import time

from device.acquisition import Multiplexer
from device.ads1114 import ADS1114
from device.chain import MeasurementChain
from device.i2c import RetryingBus
from device.leds import LedBank
from hwsim.board import build_board
from hwsim.rig import wire

PERIOD_S = 1 / 860


class ReplayClock:
    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class ReplayEvent:
    __slots__ = ("timestamp",)

    def __init__(self, timestamp: int) -> None:
        self.timestamp = timestamp


class ReplayReadyLine:
    """A conversion-ready event every period; the clock jumps to it."""

    edge = "none"

    def __init__(self, clock: ReplayClock) -> None:
        self.clock = clock
        self.n = 0

    def poll(self, timeout: float | None = None) -> bool:
        self.n += 1
        self.clock.now = self.n * PERIOD_S
        return True

    def read_event(self) -> ReplayEvent:
        return ReplayEvent(round(self.n * PERIOD_S * 1e9))


class ReplayBus:
    """Answers every read with a fixed 1.5 V conversion and accepts every write."""

    def read_i2c_block_data(self, addr: int, register: int, length: int) -> list[int]:
        return [0x2E, 0xE0]

    def read_bytes(self, addr: int, length: int) -> bytes:  # the driver's plain read
        return bytes([0x2E, 0xE0])

    def write_i2c_block_data(self, addr: int, register: int, data: list[int]) -> None:
        pass


class NullLine:
    def write(self, value: bool) -> None:
        pass

    def close(self) -> None:
        pass


def acquisition_cost_s(seconds: float) -> float:
    clock = ReplayClock()
    adc = ADS1114(RetryingBus(ReplayBus()), clock=clock, ready_line=ReplayReadyLine(clock))
    mux = Multiplexer(adc, LedBank({wl: NullLine() for wl in (750, 810, 870)}), clock=clock)
    mux.start()
    n = round(seconds * 860)
    t0 = time.process_time()
    for _ in range(n):
        mux.step()
    return time.process_time() - t0


def processing_cost_s(seconds: float) -> float:
    mux = wire(build_board(with_oled=False)).multiplexer()
    mux.start()
    frames = list(mux.run(seconds))
    chain = MeasurementChain()
    t0 = time.process_time()
    for frame in frames:
        chain.push(frame)
    chain.flush()
    return time.process_time() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    acq = acquisition_cost_s(args.seconds) / args.seconds
    proc = processing_cost_s(args.seconds) / args.seconds
    print(f"per second of signal, CPU time of device code on this machine ({args.seconds:.0f} s):")
    rows = [
        ("acquisition (860 conversions, LED switching)", acq),
        ("processing (43 frames -> 10 samples, MBLL)", proc),
        ("total", acq + proc),
    ]
    for label, cost in rows:
        print(f"  {label:46s} {cost * 1e3:7.2f} ms = {cost:6.2%} of a core")


if __name__ == "__main__":
    main()
