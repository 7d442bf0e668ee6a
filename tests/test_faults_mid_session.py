"""The ADC stopping mid-session (issue 14, point 4): the wearer is told within a second, and
the multiplexer mends what it can (a reset ADC is restarted, a silent ALERT/RDY line is
replaced by clock-paced reads).

Faults are scheduled on the simulator's clock (``VirtualClock.at``): an ADS1114 reset (its
power-on config stops the conversions and the ALERT/RDY pulse), a power loss (reset, and no
answer on the bus until power returns), a ready line that never pulses (a wrong
``[gpio] adc_ready``).
"""

from __future__ import annotations

import pytest
from PIL import Image, ImageDraw
from test_wearable_app import make_app

from device import screens
from device.acquisition import PACE_AFTER_TIMEOUTS, READY_TIMEOUT_PERIODS
from device.app import NO_DATA_S, State, StopError
from device.codec import RecordKind
from device.recorder import SessionRecorder
from device.session_reader import read_session_file
from hwsim.board import ADS1114_ADDRESS, build_board
from hwsim.gpio import SimGPIO
from hwsim.rig import wire

FAULT_S = 40.0


def power_loss(board, t_off: float, t_on: float) -> None:
    """The ADC loses power at ``t_off`` (registers gone, no answer) until ``t_on``."""

    def off() -> None:
        board.adc.general_call_reset()  # back at power-on values when power returns
        board.bus.set_responding(ADS1114_ADDRESS, False)

    board.clock.at(t_off, off)
    board.clock.at(t_on, lambda: board.bus.set_responding(ADS1114_ADDRESS, True))


def events(path) -> list[tuple[float, str, dict]]:
    data = read_session_file(path)
    return [
        (r.fields.t_s, r.fields.name, dict(r.fields.data))
        for r in data.records
        if r.kind == RecordKind.EVENT
    ]


def test_an_adc_reset_mid_session_is_restarted_and_the_levels_go_on(tmp_path):
    # Before: the reset stopped the conversions, the once-a-second work (driven by frames)
    # stopped with them and the screen stayed on the last level for the rest of the session.
    recorder = SessionRecorder(tmp_path / "s.nrec")
    board, app, reports = make_app(recorder=recorder)
    board.clock.at(FAULT_S, board.adc.general_call_reset)
    app.run(60.0)
    app.close()
    recorder.close()
    after = [r for r in reports if r.t_s > FAULT_S]
    assert len(after) >= 19  # a report every second to the end
    assert max(r.level for r in after if r.level is not None) == 4  # the HHb rise is seen
    assert app.mux.stats.adc_restarts == 1
    restarted = [e for e in events(tmp_path / "s.nrec") if e[1] == "adc"]
    assert len(restarted) == 1 and "reset or lost power: restarted" in restarted[0][2]["message"]
    assert FAULT_S < restarted[0][0] < FAULT_S + 1.0


def test_an_adc_without_power_says_no_data_within_a_second_then_comes_back(tmp_path):
    recorder = SessionRecorder(tmp_path / "s.nrec")
    board, app, reports = make_app(recorder=recorder)
    power_loss(board, FAULT_S, FAULT_S + 5.0)
    shown = {}

    def look(report) -> None:  # what the panel shows at each second
        shown[round(report.t_s)] = (report.state, report.messages)

    app.on_second = lambda r: (reports.append(r), look(r))
    board.clock.at(FAULT_S + 3.0, lambda: shown.__setitem__("panel", board.oled.image().copy()))
    app.run(60.0)
    app.close()
    recorder.close()
    by_second = {round(r.t_s): r for r in reports}
    # Told within about a second: the first report more than NO_DATA_S after the fault.
    first = min(t for t, r in by_second.items() if r.state == State.NO_DATA)
    assert FAULT_S < first <= FAULT_S + NO_DATA_S + 1.0
    cause = "ADC not answering on I2C: check its wiring and power"
    assert by_second[first].messages == [f"no data: {cause}"]
    assert all(by_second[t].state == State.NO_DATA for t in range(first, int(FAULT_S) + 5))
    expected = Image.new("1", (screens.WIDTH, screens.HEIGHT))
    screens.no_data(ImageDraw.Draw(expected), cause=cause)
    assert shown["panel"].convert("1").tobytes() == expected.tobytes()
    # Back by itself when power returns: restarted, levels again before the end.
    assert app.mux.stats.adc_restarts == 1
    assert by_second[60].state == State.LIVE and by_second[60].level == 4
    names = [(name, data) for _, name, data in events(tmp_path / "s.nrec")]
    (no_data,) = [data for name, data in names if name == "no_data"]  # by name: alerts follow
    assert no_data == {"cause": cause, "detail": no_data["detail"]}
    assert "errno 6" in no_data["detail"]
    back = [data for name, data in names if name == "data_back"]
    assert len(back) == 1 and 4.5 < back[0]["gap_s"] < 6.0


def test_a_ready_line_that_never_pulses_falls_back_to_clock_paced_reads(tmp_path):
    # Before: a wrong [gpio] adc_ready gave 60 s of nothing, a blank screen and exit 0.
    recorder = SessionRecorder(tmp_path / "s.nrec")
    board, app, reports = make_app(recorder=recorder)
    app.hw.adc.ready_line = SimGPIO(board.clock, 9, "in", name="not connected")
    app.run(60.0)
    app.close()
    recorder.close()
    assert reports[-1].state == State.LIVE and reports[-1].level == 4
    stats = app.mux.stats
    assert stats.paced and stats.ready_timeouts == PACE_AFTER_TIMEOUTS
    notes = [data["message"] for _, name, data in events(tmp_path / "s.nrec") if name == "adc"]
    assert notes == [
        "no ALERT/RDY pulses: reading paced by the clock "
        "(check the ALERT/RDY wire and [gpio] adc_ready)"
    ]
    assert "adc_ready" in reports[0].messages[0]


def test_a_reset_while_paced_by_the_clock_is_found_by_the_config_check():
    # Paced reads never time out: without the once-a-second config check, a reset ADC would
    # be read as 0 V forever.
    board = build_board(with_oled=False)
    mux = wire(board, ready=False).multiplexer()
    mux.start()
    board.clock.at(2.0, board.adc.general_call_reset)
    mux.stats.paced = True  # as after the fallback
    frames = list(mux.run(4.0))
    assert mux.stats.adc_restarts == 1
    assert mux.take_notices() == ["ADC was reset or lost power: restarted it"]
    late = [f for f in frames if f.t_s > 3.2]
    assert late and all(min(f.volts[1:]) > 0.1 for f in late)  # light again, not 0 V


@pytest.mark.parametrize("fault", ["reset", "power"])
def test_conversions_are_still_accounted_for_after_a_restart(fault):
    board = build_board(with_oled=False)
    trace = []
    mux = wire(board).multiplexer(trace=trace)
    mux.start()
    if fault == "reset":
        board.clock.at(1.0, board.adc.general_call_reset)
    else:
        power_loss(board, 1.0, 1.5)
    frames = list(mux.run(3.0))
    s = mux.stats
    assert s.adc_restarts == 1
    assert s.conversions == s.read + s.lost_read_error + s.lost_late + s.lost_gap
    # Frames after the restart have all four phases, each with its kept conversions.
    after = [f for f in frames if f.t_s > 1.6]
    assert after and all(f.kept == (4, 4, 4, 4) for f in after)
    # No wait longer than the timeout went unnoticed.
    assert s.ready_timeouts >= 1 and mux.fault is None
    assert READY_TIMEOUT_PERIODS * mux.adc.period_s < 0.05


def test_a_stalled_loop_skips_the_missed_seconds_instead_of_a_burst():
    # The whole loop frozen for 3.5 s (a slow SD card, the kernel busy): before, the missed
    # seconds came out afterwards as a burst of reports with one time stamp.
    board, app, reports = make_app()
    board.clock.at(FAULT_S, lambda: board.clock.sleep(3.5))
    app.run(50.0)
    times = [r.t_s for r in reports if r.t_s > 0]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert min(gaps) > 0.5  # one report when the loop wakes, then the second grid again
    assert 4.0 < max(gaps) < 4.6  # the last report before the 3.5 s stall, the one after
    assert times[-1] == pytest.approx(50.0, abs=0.05)
    assert all(r.state != State.NO_DATA for r in reports)  # the ADC had data all along
    # The blocks of the stall come out of the chain a few per frame: not "calibrating".
    assert all(r.state != State.CALIBRATING for r in reports if r.t_s > 30.0)


def test_a_failing_chain_is_shown_and_recorded_like_a_failed_self_test(tmp_path, monkeypatch):
    from device.chain import ChainError, MeasurementChain

    recorder = SessionRecorder(tmp_path / "s.nrec")
    board, app, reports = make_app(recorder=recorder)
    push = MeasurementChain.push

    def failing_push(chain, frame):
        if frame.t_s > 5.0:
            raise ChainError("a failure the chain cannot go on from")
        return push(chain, frame)

    monkeypatch.setattr(MeasurementChain, "push", failing_push)
    with pytest.raises(StopError, match="measurement chain: a failure the chain cannot go on"):
        app.run(10.0)
    panel = board.oled.image()  # before close() blanks it
    app.close()
    recorder.close()
    assert app.state == State.ERROR
    message = "measurement chain: a failure the chain cannot go on from"
    assert ("error", {"message": message}) in [(n, d) for _, n, d in events(tmp_path / "s.nrec")]
    expected = Image.new("1", (screens.WIDTH, screens.HEIGHT))
    screens.error(ImageDraw.Draw(expected), message=message)
    assert panel.convert("1").tobytes() == expected.tobytes()


def test_an_oled_that_loses_power_is_told_and_shows_the_screen_again(tmp_path):
    recorder = SessionRecorder(tmp_path / "s.nrec")
    board, app, reports = make_app(recorder=recorder)
    board.clock.at(FAULT_S, board.oled.power_off)
    board.clock.at(FAULT_S + 5.0, board.oled.power_on)
    panel = {}
    board.clock.at(59.9, lambda: panel.setdefault("end", board.oled.image().copy()))
    app.run(60.0)
    recorder.close()
    notes = [data["message"] for _, name, data in events(tmp_path / "s.nrec") if name == "oled"]
    assert len(notes) == 2
    assert notes[0].startswith("OLED not answering") and notes[1].startswith("OLED back after")
    assert [m for r in reports for m in r.messages if "OLED" in m] == notes
    # The panel came back on, showing a live screen (the level's bar), not noise or black.
    assert board.oled.power_ups == 1 and board.oled.display_on
    assert panel["end"].convert("1").getbbox() is not None
    assert reports[-1].state == State.LIVE


def test_a_sensor_lifted_during_calibration_restarts_it_with_a_message(tmp_path):
    # Issue 14, point 5: before, the lifted sensor's microvolts became the baseline (or a
    # ChainError traceback ended the app with no error screen).
    recorder = SessionRecorder(tmp_path / "s.nrec")
    lifted = (0.5, 22.0)  # after the self-test, through the first baseline period
    board, app, reports = make_app(
        recorder=recorder, led_drift=lambda t: 0.001 if lifted[0] < t < lifted[1] else 1.0
    )
    panel = {}
    board.clock.at(21.5, lambda: panel.setdefault("again", board.oled.image().copy()))
    app.run(70.0)
    recorder.close()
    restarts = [d for _, n, d in events(tmp_path / "s.nrec") if n == "calibration_restart"]
    assert len(restarts) == 1 and "low light" in restarts[0]["reason"]
    assert app.chain.calibration_restarts == 1
    assert [m for r in reports for m in r.messages if "calibration" in m] == [
        f"calibration restarted: {restarts[0]['reason']}"
    ]
    expected = Image.new("1", (screens.WIDTH, screens.HEIGHT))
    screens.calibrating(
        ImageDraw.Draw(expected), progress=0.0, seconds_left=20.0, note="sensor on the skin?"
    )
    again = panel["again"].convert("1")
    assert again.crop((0, 0, 128, 40)).tobytes() == expected.crop((0, 0, 128, 40)).tobytes()
    # Calibrated on the second period: at rest afterwards, ΔHHb ≈ 0, then the rise is seen.
    assert reports[-1].state == State.LIVE and reports[-1].level == 4


def test_leds_lit_in_another_order_feed_each_wavelength_to_its_own_model_input():
    # Issue 14, point 2: with [chain] wavelengths_nm = [870, 810, 750] the model's d_od_750
    # input received 870 nm light; the same subject showed other levels in half the seconds.
    import dataclasses

    from device import config as cfg
    from device.features import CHANNELS

    windows = {}
    for order in ((750.0, 810.0, 870.0), (870.0, 810.0, 750.0)):
        config = cfg.WearableConfig(
            chain=dataclasses.replace(cfg.WearableConfig().chain, wavelengths_nm=order)
        )
        board, app, reports = make_app(config=config)
        app.run(45.0)
        assert reports[-1].state == State.LIVE
        windows[order] = app.window.window()[0][-50:]  # the last 5 s: HHb rising
        latest = app._latest
    od = [CHANNELS.index(f"d_od_{wl}") for wl in (750, 810, 870)]
    ours, theirs = windows[(750.0, 810.0, 870.0)], windows[(870.0, 810.0, 750.0)]
    for a, b in zip(ours, theirs):
        for k in od:  # the same light in the same input (the LEDs' timing differs a little)
            assert b[k] == pytest.approx(a[k], rel=0.05, abs=2e-4)
    # And the inputs differ from one another: the check above could not pass by accident.
    assert abs(ours[-1][od[0]] - ours[-1][od[2]]) > 0.01
    # The chain's own sample keeps its LED order (870 nm first): only the inputs are matched.
    assert latest.d_od[0] == pytest.approx(theirs[-1][od[2]], rel=1e-9)
