"""LED multiplexing and ADC acquisition on the simulated board."""

from __future__ import annotations

import pytest

from device.acquisition import Multiplexer
from hwsim.board import build_board
from hwsim.rig import wire

RATE_SPS = 860


def lit_intervals(board):
    """Every (start, end, wavelength) during which an LED was lit, from the GPIO histories."""
    out = []
    end_of_time = board.clock.monotonic()
    for wl, line in board.led_lines.items():
        hist = [*line.history, (end_of_time, False)]
        out += [(t, t_next, wl) for (t, lv), (t_next, _) in zip(hist, hist[1:]) if lv]
    return sorted(out)


def switch_times(board):
    return sorted({t for line in board.led_lines.values() for t, _ in line.history[1:]})


def test_ten_seconds_reads_every_conversion_and_discards_one_per_switch(rig_factory):
    rig = rig_factory(trace=True, with_oled=False)
    rig.mux.start()
    t0 = rig.board.clock.monotonic()
    frames = list(rig.mux.run(10.0))
    stats = rig.mux.stats
    assert abs(stats.conversions - 10.0 * RATE_SPS) <= 1
    assert stats.read == stats.conversions == rig.board.adc.conversions_completed
    assert stats.lost == 0
    assert stats.discarded == stats.led_switches == rig.leds.switches
    assert len(frames) == stats.frames == pytest.approx(10.0 * RATE_SPS / 20, abs=1)

    # Each discarded conversion is exactly the one whose window holds an LED switch.
    period = 1 / RATE_SPS
    switches = [t for t in switch_times(rig.board) if t > t0]
    for rec in rig.trace:
        window = (rec.t_s - period, rec.t_s)
        holds_switch = any(window[0] < t < window[1] for t in switches)
        assert rec.discarded == holds_switch, rec
    assert sum(r.discarded for r in rig.trace) == len(switches)


def test_gpio_history_never_has_two_leds_lit(rig_factory):
    rig = rig_factory(with_oled=False)
    rig.mux.start()
    list(rig.mux.run(2.0))
    intervals = lit_intervals(rig.board)
    assert len(intervals) > 200
    for (_, a1, wa), (b0, _, wb) in zip(intervals, intervals[1:]):
        assert b0 >= a1, f"{wa} nm lit until {a1} while {wb} nm lit from {b0}"


def test_optics_shows_two_lit_leds_so_exclusivity_is_observable():
    board = build_board(with_oled=False)
    t = board.clock.monotonic()
    one = board.optics.mean_voltage(t, t + 1e-3)
    board.led_lines[750].write(True)
    board.led_lines[870].write(True)
    both = board.optics.mean_voltage(t + 1e-3, t + 2e-3)
    expected = board.optics.light_v(750, t) + board.optics.light_v(870, t)
    assert both - one == pytest.approx(expected, rel=1e-6)


def test_frames_measure_each_leds_light_above_dark(rig_factory):
    rig = rig_factory(with_oled=False, ambient_v=lambda t: 0.2)
    rig.mux.start()
    frames = list(rig.mux.run(1.0))
    optics = rig.board.optics
    for frame in frames[1:]:
        dark, *lights = frame.volts
        assert dark == pytest.approx(0.2 + 0.0075, abs=0.5e-3)
        for wl, v in zip((750, 810, 870), lights):
            assert v - dark == pytest.approx(optics.light_v(wl, frame.t_s), abs=0.5e-3)
        assert frame.kept == (4, 4, 4, 4)


def test_one_percent_bus_faults_for_sixty_seconds_are_all_counted(rig_factory):
    rig = rig_factory(with_oled=False, fault_rate=0.01, seed=7)
    rig.mux.start()
    frames = list(rig.mux.run(60.0))
    stats = rig.mux.stats
    injected = rig.board.bus.faults_injected
    assert injected > 300  # ~1 % of ~52 000 transfers
    assert sum(rig.bus.failures.values()) == injected  # every failure counted
    assert abs(stats.conversions - 60 * RATE_SPS) <= 1
    assert stats.conversions == stats.read + stats.lost  # every lost conversion accounted for
    assert stats.lost_read_error == sum(rig.bus.gave_up.values())
    assert len(frames) == pytest.approx(60 * RATE_SPS / 20, abs=2)


def test_without_retries_failed_reads_are_lost_and_accounted(rig_factory):
    rig = rig_factory(retries=0, with_oled=False, fault_rate=0.05, seed=11)
    rig.mux.start()
    list(rig.mux.run(10.0))
    stats = rig.mux.stats
    assert stats.lost_read_error > 200
    assert stats.lost_read_error == rig.bus.gave_up[0x48] == rig.board.bus.faults_injected
    assert stats.conversions == stats.read + stats.lost
    assert abs(stats.conversions - 10 * RATE_SPS) <= 1


def test_a_late_loop_counts_conversions_it_missed(rig_factory):
    rig = rig_factory(with_oled=False)
    rig.mux.start()
    for _ in range(100):
        rig.mux.step()
    rig.board.clock.sleep(0.050)  # the loop stalls for 50 ms: 43 conversions go by
    end = rig.board.clock.monotonic() + 1.0
    while rig.board.clock.monotonic() < end:
        rig.mux.step()
    stats = rig.mux.stats
    assert stats.lost >= 40
    assert stats.conversions == stats.read + stats.lost
    assert stats.conversions == pytest.approx(rig.board.adc.conversions_completed, abs=1)
    assert rig.board.ready_line.events_dropped > 0  # the kernel's 16-event queue overflowed


def test_a_chip_that_stops_answering_is_survived(rig_factory):
    rig = rig_factory(with_oled=False)
    rig.mux.start()
    list(rig.mux.run(1.0))
    rig.board.bus.set_responding(0x48, False)
    list(rig.mux.run(0.5))
    lost_while_silent = rig.mux.stats.lost_read_error
    rig.board.bus.set_responding(0x48, True)
    frames = list(rig.mux.run(1.0))
    assert lost_while_silent == pytest.approx(0.5 * RATE_SPS, abs=2)
    assert frames and all(k > 0 for k in frames[-1].kept)


def test_conversions_per_phase_is_validated():
    board = build_board(with_oled=False)
    with pytest.raises(ValueError, match="conversions_per_phase must be >= 2"):
        Multiplexer(None, None, clock=board.clock, conversions_per_phase=1)


def test_paced_mode_without_the_ready_line_reads_every_conversion():
    board = build_board(with_oled=False)
    mux = wire(board, ready=False).multiplexer()  # no ALERT/RDY: paced by the clock
    mux.start()
    frames = list(mux.run(2.0))
    assert mux.stats.conversions == mux.stats.read == pytest.approx(2 * RATE_SPS, abs=1)
    assert board.adc.conversions_completed == pytest.approx(2 * RATE_SPS, abs=1)
    assert frames[-1].kept == (4, 4, 4, 4)
    light_750 = frames[-1].volts[1] - frames[-1].volts[0]
    assert light_750 == pytest.approx(board.optics.light_v(750, frames[-1].t_s), abs=1e-3)


class _StampedAdc:
    """An ADC whose ready events carry given time stamps (a fake, for the period logic)."""

    period_s = 1 / 860

    def __init__(self, stamps):
        self.stamps = list(stamps)
        self.now = 0.0
        self.timeouts = []

    def start_continuous(self):
        pass

    def wait_ready(self, timeout_s):
        self.timeouts.append(timeout_s)
        self.now = self.stamps.pop(0)
        return self.now

    def read_volts(self):
        return 1.0

    def close(self):
        pass


class _Leds:
    def select(self, wavelength):
        pass


def test_time_stamps_that_step_back_or_repeat_do_not_spoil_the_period():
    # A stale event, a repeated stamp or a clock stepped back by 1 s used to teach the
    # period a negative gap: the wait's timeout went negative (poll waits for ever) and
    # every later conversion counted as late, never read.
    p = 1 / 860
    stamps = [i * p for i in range(200)]
    stamps += [stamps[-1]]  # repeated
    stamps += [stamps[-1] - 1.0 + i * p for i in range(1, 2001)]  # stepped back 1 s
    adc = _StampedAdc(stamps)
    clock = type("Clock", (), {"monotonic": lambda self: adc.now})()
    mux = Multiplexer(adc, _Leds(), clock=clock)
    mux.start()
    for _ in range(len(stamps)):
        mux.step()
    assert 0.9 * p < mux.period_s < 1.1 * p
    assert min(adc.timeouts) > 0
    assert mux.stats.lost_late == 0 and mux.stats.read == len(stamps)
