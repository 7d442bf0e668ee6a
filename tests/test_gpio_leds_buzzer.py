"""Simulated GPIO lines, the LED bank and the buzzer."""

from __future__ import annotations

import pytest

from device.buzzer import Buzzer
from device.leds import LedBank
from hwsim.clock import VirtualClock
from hwsim.gpio import EVENT_QUEUE_DEPTH, SimGPIO, SimGPIOError


def test_output_line_history_and_periphery_semantics():
    clock = VirtualClock()
    line = SimGPIO(clock, 7, "low", name="led")
    line.write(True)
    clock.sleep(0.5)
    line.write(True)  # no change, no new history entry
    line.write(False)
    assert line.history == [(0.0, False), (0.0, True), (0.5, False)]
    assert line.read() is False and line.level_at(0.25) is True
    with pytest.raises(TypeError, match="should be bool"):
        line.write(1)
    line.close()
    line.close()
    with pytest.raises(SimGPIOError, match="closed"):
        line.read()


def test_input_line_edges_queue_and_overflow_like_the_kernel():
    clock = VirtualClock()
    line = SimGPIO(clock, 4, "in")
    line.edge = "rising"
    assert line.poll(0.1) is False and clock.monotonic() == pytest.approx(0.1)
    for _ in range(EVENT_QUEUE_DEPTH + 4):
        clock.sleep(0.001)
        line.drive(True)
        clock.sleep(0.001)
        line.drive(False)
    assert line.events_dropped == 4
    events = [line.read_event() for _ in range(EVENT_QUEUE_DEPTH)]
    assert all(e.edge == "rising" for e in events)
    assert events[1].timestamp - events[0].timestamp == 2_000_000  # ns
    with pytest.raises(SimGPIOError, match="wait forever"):
        line.poll(None)
    with pytest.raises(SimGPIOError, match="cannot write an input"):
        line.write(True)


def test_led_bank_lights_at_most_one_and_switches_off_first():
    clock = VirtualClock()
    lines = {wl: SimGPIO(clock, i, "low") for i, wl in enumerate((750, 810, 870))}
    bank = LedBank(lines)
    order: list[tuple[int, bool]] = []
    for wl, line in lines.items():
        original = line.write
        line.write = lambda v, wl=wl, original=original: (order.append((wl, v)), original(v))
    bank.select(750)
    bank.select(810)
    assert order == [(750, True), (750, False), (810, True)]  # off before on
    assert [lines[w].read() for w in (750, 810, 870)] == [False, True, False]
    bank.select(None)
    assert not any(line.read() for line in lines.values())
    with pytest.raises(ValueError, match=r"no LED at 940 nm; have \[750, 810, 870\]"):
        bank.select(940)
    bank.select(870)
    bank.close()
    bank.close()
    assert all(line.closed and line.history[-1][1] is False for line in lines.values())


def test_buzzer_plays_a_pattern_without_blocking_and_can_be_muted():
    clock = VirtualClock()
    line = SimGPIO(clock, 5, "low")
    buzzer = Buzzer(line, clock)
    buzzer.play([(0.125, 0.125), (0.25, 0.0)])  # binary-exact times, 1/64 s loop below
    assert clock.monotonic() == 0.0  # play() returns at once
    for _ in range(64):
        clock.sleep(1 / 64)
        buzzer.update()
    assert line.history == [(0.0, False), (0.0, True), (0.125, False), (0.25, True), (0.5, False)]
    assert not buzzer.playing

    muted_line = SimGPIO(clock, 6, "low")
    muted = Buzzer(muted_line, clock, muted=True)
    muted.play([(0.1, 0.0)])
    clock.sleep(0.2)
    muted.update()
    assert len(muted_line.history) == 1  # never sounded
    with pytest.raises(ValueError, match="durations must be >= 0"):
        buzzer.play([(-1.0, 0.0)])
    buzzer.close()
    assert line.closed
