"""hwsim.rig: the device's drivers on a simulated board, wired in one place."""

from __future__ import annotations

import pytest

from device.app import Hardware
from hwsim.board import build_board
from hwsim.rig import SIM_BUS_NAME, wire


def test_wire_puts_the_boards_drivers_on_its_bus_and_lines():
    board = build_board()
    rig = wire(board, retries=5)
    assert rig.bus.bus is board.bus and rig.bus.retries == 5
    assert rig.bus.bus_name == SIM_BUS_NAME
    assert rig.adc.ready_line is board.ready_line
    assert wire(board, ready=False).adc.ready_line is None  # read on the clock
    hw = rig.hardware(rig.display())
    assert isinstance(hw, Hardware) and hw.adc is rig.adc and hw.leds is rig.leds
    assert hw.buzzer is not None and hw.display is not None and hw.clock is board.clock


def test_the_rigs_multiplexer_gives_frames_of_every_led():
    rig = wire(build_board(with_oled=False))
    trace: list = []
    mux = rig.multiplexer(trace=trace)
    mux.start()
    frames = list(mux.run(1.0))
    assert len(frames) == pytest.approx(860 / 20, abs=2)  # 4 phases × 5 conversions
    assert trace and mux.stats.lost == 0
