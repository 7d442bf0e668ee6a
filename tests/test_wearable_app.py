"""The wearable app on the simulated board: states, alerts, recording, config."""

from __future__ import annotations

import dataclasses
import errno
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from device import config as cfg
from device import screens
from device.app import SelfTestError, State, Wearable
from device.codec import RecordKind
from device.errors import ConfigError
from device.fatigue import PATTERN_EXHAUSTED, PATTERN_HIGH, AlertPolicy, LevelSmoother, argmax
from device.features import CHANNELS, SEQUENCE_SHAPE
from device.inference import FatigueModel
from device.labels import DEFAULT_MAPPING
from device.recorder import SessionRecorder
from device.session_reader import read_session_file
from hwsim.board import build_board
from hwsim.optics import REST_HBO2_UM, REST_HHB_UM, Tissue
from hwsim.rig import wire

HHB = CHANNELS.index("d_hhb_um")


class HhbBackend:
    """A stand-in model: level = ΔHHb / 4 µM at the window's end (for app logic only)."""

    def __init__(self):
        self.calls = 0

    def predict(self, sequence, statistics):
        self.calls += 1
        window = np.asarray(sequence, dtype=float).reshape(SEQUENCE_SHAPE)  # rows of any kind
        level = int(np.clip(window[-1, HHB] // 4, 0, 4))
        return np.eye(5)[level] * 0.9 + 0.02

    def close(self):
        pass


class IdentityNormaliser:
    def apply(self, seq, st):
        return seq, st


def stand_in_model(backend=None) -> FatigueModel:
    return FatigueModel(
        backend or HhbBackend(),
        "stand-in",
        IdentityNormaliser(),
        DEFAULT_MAPPING.names,
        DEFAULT_MAPPING,
        {},
    )


def ramp(t, t0, t1, a, b):
    return a if t < t0 else b if t > t1 else a + (b - a) * (t - t0) / (t1 - t0)


def make_app(
    *,
    with_oled=True,
    recorder=None,
    hhb_rise_um=20.0,
    own_process=False,
    config=None,
    model=None,
    **board_kwargs,
):
    tissue = Tissue(
        lambda t: ramp(t, 30, 50, REST_HBO2_UM, REST_HBO2_UM - hhb_rise_um),
        lambda t: ramp(t, 30, 50, REST_HHB_UM, REST_HHB_UM + hhb_rise_um),
    )
    board = build_board(tissue=tissue, with_oled=with_oled, **board_kwargs)
    rig = wire(board)
    hw = rig.hardware(rig.display() if with_oled else None)
    reports = []
    app = Wearable(
        hw,
        config or cfg.WearableConfig(),
        model or stand_in_model(),
        recorder=recorder,
        on_second=reports.append,
        own_process=own_process,
    )
    return board, app, reports


def test_calibrates_then_shows_levels_and_sounds_the_buzzer_once_per_alert(tmp_path):
    recorder = SessionRecorder(tmp_path / "s.nrec")
    board, app, reports = make_app(recorder=recorder)
    app.run(60.0)
    app.close()
    recorder.close()
    states = [r.state for r in reports if r.t_s > 0]
    assert set(states[:19]) == {State.CALIBRATING}
    assert states[25] == State.LIVE
    levels = [r.level for r in reports if r.level is not None]
    assert levels[0] == 0 and max(levels) == 4
    assert levels == sorted(levels)  # a rising ΔHHb never makes the shown level drop
    # Two alerts: "high" (2 beeps) then "exhausted" (3 beeps): five buzzer onsets in all.
    onsets = [t for t, on in board.buzzer_line.history if on]
    assert len(onsets) == len(PATTERN_HIGH) + len(PATTERN_EXHAUSTED)

    records = read_session_file(tmp_path / "s.nrec").records
    kinds = [r.kind for r in records]
    # Each alert is in the record, with the level it was for and when.
    alerts = [r.fields for r in records if r.kind == RecordKind.EVENT and r.fields.name == "alert"]
    assert [dict(a.data) for a in alerts] == [{"level": "high"}, {"level": "exhausted"}]
    starts = (onsets[0], onsets[len(PATTERN_HIGH)])  # of each pattern
    assert [round(a.t_s - t, 3) for a, t in zip(alerts, starts)] == [0.0, 0.0]
    assert kinds.count(RecordKind.PREDICTION) == len(levels)
    assert kinds.count(RecordKind.SAMPLE) == pytest.approx(600, abs=2)
    assert kinds.count(RecordKind.FRAME) == pytest.approx(60 * 860 / 20, abs=3)
    assert RecordKind.EVENT in kinds


def test_check_sensor_instead_of_a_level_when_light_leaks_in():
    _, app, reports = make_app(ambient_v=lambda t: 0.0 if t < 35 else 0.6)
    app.run(45.0)
    after = [r for r in reports if r.t_s > 36]
    assert after and all(r.state == State.CHECK_SENSOR and r.level is None for r in after)
    assert all(r.flags for r in after)


def test_headless_without_an_oled_and_a_dead_led_fails_the_self_test():
    _, app, reports = make_app(with_oled=False)
    app.run(25.0)
    assert any("headless" in m for r in reports for m in r.messages)
    assert reports[-1].level is not None

    _, app, _ = make_app(led_drift=lambda t: 0.0)  # no LED light reaches the detector
    with pytest.raises(SelfTestError, match="no light above dark from the 750 nm, 810 nm, 870 nm"):
        app.run(5.0)
    assert app.state == State.ERROR


class FullDisk(io.RawIOBase):
    def __init__(self, capacity):
        self.capacity, self.size = capacity, 0

    def writable(self):
        return True

    def write(self, b):
        if self.size + len(b) > self.capacity:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.size += len(b)
        return len(b)


def test_a_full_disk_stops_recording_but_not_the_levels(tmp_path):
    recorder = SessionRecorder(tmp_path / "full.nrec", file=FullDisk(20_000), buffer_bytes=1024)
    _, app, reports = make_app(recorder=recorder)
    app.run(40.0)
    assert recorder.stopped and "ENOSPC" in recorder.stop_reason
    assert any("recording stopped" in m for r in reports for m in r.messages)
    assert reports[-1].state == State.LIVE and reports[-1].level is not None


def test_smoother_and_alert_hysteresis():
    smoother = LevelSmoother(3)
    assert smoother.push(np.eye(5)[1]) == 1
    assert smoother.push(np.eye(5)[4]) in (1, 4)
    alerts = AlertPolicy(rearm_drop=2)
    fired = [alerts.update(level) for level in (2, 3, 2, 3, 2, 3, 4, 3, 4, 1, 3)]
    assert fired[1] == PATTERN_HIGH and fired[6] == PATTERN_EXHAUSTED
    assert fired[3] is fired[5] is fired[8] is None  # chatter at a boundary stays quiet
    assert fired[10] == PATTERN_HIGH  # re-armed after falling to "none"+1


class ScriptedBackend:
    """A stand-in model showing ``levels[k]`` at its k-th prediction (the last one after)."""

    def __init__(self, levels):
        self.levels, self.calls = levels, 0

    def predict(self, sequence, statistics):
        level = self.levels[min(self.calls, len(self.levels) - 1)]
        self.calls += 1
        return np.eye(5)[level] * 0.9 + 0.02

    def close(self):
        pass


def test_a_level_shown_for_one_second_does_not_sound_a_held_one_does():
    # Issue 20, point 5: the main job sounded "high" for a level shown one second (t = 50 s)
    # and "exhausted" for another (t = 80 s). An alert needs [alerts] hold_s seconds in a row.
    config = cfg.WearableConfig()
    config = dataclasses.replace(config, alerts=dataclasses.replace(config.alerts, smoothing_s=1))
    hold_s = 3  # [alerts] hold_s by default
    blips = [2] * 5 + [3] + [2] * 4 + [4] + [2] * 3  # one second of "high", one of "exhausted"
    levels = blips + [3] * hold_s + [4] * (hold_s + 5)
    board, app, reports = make_app(config=config, model=stand_in_model(ScriptedBackend(levels)))
    app.run(70.0)
    live = [r for r in reports if r.level is not None]
    assert [r.level for r in live[: len(levels)]] == levels  # as scripted, one a second
    high_s, exhausted_s = (live[len(blips) + k].t_s for k in (hold_s - 1, 2 * hold_s - 1))
    onsets = [t - app._t0 for t, on in board.buzzer_line.history if on]
    assert high_s <= onsets[0] < high_s + 1  # nothing for the blips
    assert len(onsets) == len(PATTERN_HIGH) + len(PATTERN_EXHAUSTED)
    assert [(r.t_s, r.alert) for r in reports if r.alert] == [
        (high_s, "high"),
        (exhausted_s, "exhausted"),
    ]
    assert config.alerts.hold_s == hold_s


def test_the_devices_console_shows_the_countdown_while_calibrating():
    # Issue 20, point 5: "SmO2~  nan %" for the 20 s of calibration, on the board's console too.
    from device.__main__ import console_line

    _, app, reports = make_app()
    app.run(25.0)
    lines = {round(r.t_s): console_line(r) for r in reports if r.t_s > 0}
    assert "nan" not in "\n".join(lines.values())
    assert lines[5].endswith("calibrating   calibrating baseline, 15 s left")
    assert "SmO2~" in lines[24]


def test_an_alert_sounds_only_for_a_level_held_without_a_gap():
    alerts = AlertPolicy(rearm_drop=2, hold_s=3)
    fired = [alerts.update(level) for level in (2, 3, 2, 4, 3, 2, 4, 4, 2)]
    assert fired == [None] * 9  # at most two seconds in a row at "high" or above
    fired = [alerts.update(level) for level in (4, 3, 4, 4, 4)]
    assert fired == [None, None, PATTERN_HIGH, None, PATTERN_EXHAUSTED]
    alerts = AlertPolicy(rearm_drop=2, hold_s=2)
    assert alerts.update(3) is None
    alerts.reset()  # no level shown for a while ("check sensor"): the hold starts again
    assert alerts.update(3) is None and alerts.update(3) == PATTERN_HIGH


def test_argmax_takes_the_first_maximum_as_numpy_does():
    assert argmax([0.2, 0.4, 0.4]) == 1 and argmax((3,)) == 0 and argmax([-1.0, -1.0]) == 0
    assert argmax([0.1, float("nan"), 0.9, float("nan")]) == 1  # NaN wins, the first one
    rng = np.random.default_rng(4)
    for _ in range(300):
        probs = rng.integers(0, 4, size=5) / 4  # many ties
        assert argmax(probs) == int(np.argmax(probs))
    with pytest.raises(ValueError, match="empty"):
        argmax([])


def test_smoother_equals_the_numpy_mean_and_argmax():
    rng = np.random.default_rng(5)
    smoother, recent = LevelSmoother(4), []
    for k in range(200):
        probs = rng.integers(0, 3, size=5) / 3 if k % 2 else rng.dirichlet(np.ones(5))
        recent = [*recent, probs][-4:]
        assert smoother.push(list(probs)) == int(np.argmax(np.mean(recent, axis=0)))
    with pytest.raises(ValueError, match="must all have 5 values"):
        smoother.push([0.5, 0.5])
    smoother.reset()
    assert smoother.push([0.5, 0.5]) == 0


def test_config_from_toml_and_clear_errors(tmp_path):
    assert cfg.load(None).i2c.adc_address == 0x48
    good = tmp_path / "w.toml"
    good.write_text(
        "[i2c]\nbus = 4\n[chain]\ndpf = [4.0, 4.2, 4.4]\nbaseline_s = 30.0\n"
        "[alerts]\nmuted = true\n"
    )
    c = cfg.load(good)
    assert c.i2c.bus == 4 and c.chain.dpf == (4.0, 4.2, 4.4) and c.alerts.muted
    cases = [
        ("[i2c]\nbuss = 4\n", r"unknown key\(s\) \['buss'\] in \[i2c\]"),
        ("[leds]\n", r"unknown section\(s\) \['leds'\]"),
        ("[i2c]\nbus = 'three'\n", r"i2c.bus must be an integer"),
        ("[gpio]\nled_750 = 5\nled_810 = 5\n", r"GPIO lines must all differ"),
        ("[chain]\nbaseline_s = -1.0\n", r"chain.baseline_s must be a number from 5 to 120 s"),
        ("[model]\nbackend = 'tpu'\n", r"model.backend must be auto, rknn or onnx"),
        ("[i2c\n", r"not valid TOML"),
    ]
    for text, message in cases:
        bad = tmp_path / "bad.toml"
        bad.write_text(text)
        with pytest.raises(ConfigError, match=message) as info:
            cfg.load(bad)
        assert str(bad) in str(info.value)
    with pytest.raises(ConfigError, match="config file not found"):
        cfg.load(tmp_path / "missing.toml")


def test_big_text_without_freetype_still_draws(monkeypatch):
    monkeypatch.setattr(screens, "_scalable_font", lambda size: None)
    image = Image.new("1", (128, 64))
    screens.live(
        ImageDraw.Draw(image),
        level_name="high",
        level=3,
        smo2_pct=40.0,
        hbo2_trend=[0.0, -1.0],
        hhb_trend=[0.0, 1.0],
        recording=True,
    )
    top = np.array(image, dtype=bool)[:20]
    assert top.sum() > 40  # the scaled bitmap word is there


GC_PROBE = """
import gc, json, sys
sys.path.insert(0, {tests!r})
import test_wearable_app as t
from device.app import FULL_GC_NEVER

board, app, reports = t.make_app(own_process={own!r})
gc.freeze()  # generation 2 starts (nearly) empty: CPython then collects it as soon as its
gc.collect()  # threshold is reached, not only once it has grown by a quarter
freezes = []
gc.freeze = (lambda freeze: lambda: (freezes.append(looping[:]), freeze()))(gc.freeze)
looping = []
collections = []
gc.callbacks.append(lambda phase, info: phase == "stop" and looping and collections.append(
    info["generation"]))
app._second = (lambda second: lambda t_s: looping.append(1) or second(t_s))(app._second)
gc.set_threshold(5, 1, 1)  # a full collection every few allocations, if nothing stops it
app.run(3.0)
print(json.dumps(dict(threshold=gc.get_threshold(), freezes=freezes,
                      collections=collections, never=FULL_GC_NEVER)))
"""


@pytest.mark.parametrize("own_process", [True, False])
def test_the_app_process_keeps_full_collections_out_of_its_loop(own_process):
    # gc is process-wide: a process of its own, with thresholds that would collect all of
    # generation 2 every few allocations if the app left them alone.
    script = GC_PROBE.format(tests=os.path.dirname(__file__), own=own_process)
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout.splitlines()[-1])
    if own_process:  # start-up frozen, no automatic full collection once the loop runs
        assert probe["freezes"] == [[]]  # once, before the loop
        assert probe["threshold"] == [5, 1, probe["never"]]
        assert probe["collections"] and 2 not in probe["collections"]
    else:  # an app inside another program leaves that program's collector alone
        assert probe["freezes"] == [] and probe["threshold"] == [5, 1, 1]
        assert 2 in probe["collections"]


def with_baseline(baseline_s: float) -> cfg.WearableConfig:
    defaults = cfg.WearableConfig()
    return dataclasses.replace(
        defaults, chain=dataclasses.replace(defaults.chain, baseline_s=baseline_s)
    )


@pytest.mark.parametrize("baseline_s", [20.0, 20.9, 60.0])
def test_the_first_live_second_shows_this_seconds_data_not_the_baselines(baseline_s):
    # The chain hands the baseline's samples over a few a frame; until they are all in,
    # the app stays "calibrating" (a 60 s baseline: 600 samples, 1.7 s), so a level or an
    # SmO2 is never one of the past, and a baseline ending just as a second starts is
    # no crash (found by trying baselines that end at every phase of the 0.1 s grid).
    board, app, reports = make_app(config=with_baseline(baseline_s))
    seen = []

    def on_second(report):
        reports.append(report)
        if report.state != State.CALIBRATING:
            seen.append(app.clock_now_s() - app._latest.t_s)

    app.on_second = on_second
    app.clock_now_s = board.clock.monotonic
    app.run(baseline_s + 8.0)
    app.close()
    live = [r for r in reports if r.state != State.CALIBRATING]
    assert len(live) >= 4 and seen
    assert max(seen) < 0.25  # the latest sample is at most two 0.1 s blocks old
    assert all(r.smo2_pct == r.smo2_pct for r in live)  # not NaN


def test_a_session_stopped_as_the_baseline_closes_records_every_baseline_sample(tmp_path):
    recorder = SessionRecorder(tmp_path / "s.nrec")
    board, app, _ = make_app(recorder=recorder)
    app.run(20.3)
    app.close()
    recorder.close()
    records = read_session_file(tmp_path / "s.nrec").records
    samples = [r for r in records if r.kind == RecordKind.SAMPLE]
    assert len(samples) >= 200  # 20 s at 10 Hz, all of them, though handed over 8 a frame


class FailingOnceBackend(HhbBackend):
    """A model whose third prediction fails as an NPU run that times out would."""

    def predict(self, sequence, statistics):
        self.calls += 1
        if self.calls == 3:
            from device.errors import DeviceError

            raise DeviceError("rknn_run failed: -2 RKNN_ERR_TIMEOUT")
        return super().predict(sequence, statistics)


def test_a_failed_prediction_costs_one_second_not_the_session():
    board, app, reports = make_app(model=stand_in_model(FailingOnceBackend()))
    app.run(30.0)
    app.close()
    failed = [r for r in reports if any("no level this second" in m for m in r.messages)]
    assert len(failed) == 1 and failed[0].level is None
    assert "RKNN_ERR_TIMEOUT" in failed[0].messages[0]
    after = [r for r in reports if r.t_s > failed[0].t_s]
    assert after and all(r.level is not None for r in after[1:])


def test_a_hardware_error_mid_session_is_one_line_and_exit_3(monkeypatch, tmp_path, capsys):
    # A GPIO line that fails for good (an LED write, the ready line's event read) used to
    # end `python -m device` with a traceback; the init script restarts the app either way.
    import gc

    import device.__main__ as entry
    from hwsim.board import build_board

    board = build_board()
    line = board.led_lines[810]
    write, calls = line.write, [0]

    def failing_write(value):
        calls[0] += 1
        if calls[0] == 500:  # about 2 s into the session (6 LED writes a 23 ms frame)
            raise OSError(errno.EIO, "Setting line value: Input/output error")
        return write(value)

    line.write = failing_write

    def open_hardware(config, stack, sim_socket=None):
        return wire(board).hardware()

    monkeypatch.setattr(entry, "_open_hardware", open_hardware)
    config = tmp_path / "wearable.toml"
    models = json.dumps(str(Path(__file__).resolve().parent.parent / "models"))
    config.write_text(f'[model]\ndir = {models}\nbackend = "onnx"\n[recording]\nenabled = false\n')
    thresholds = gc.get_threshold()
    try:
        code = entry.main(["--config", str(config), "--seconds", "30"])
    finally:  # the app freezes the collector of its own process: this one's is restored
        gc.unfreeze()
        gc.set_threshold(*thresholds)
    err = [x for x in capsys.readouterr().err.splitlines() if x.strip()]
    assert code == 3
    assert err == [
        "note: no OLED found: running headless",  # the app's notes go to stderr too
        "error: hardware failed mid-session: [Errno 5] Setting line value: Input/output error",
    ]


def test_a_sample_rate_other_than_the_models_is_refused_at_start():
    # Found by a breaker (issue 19): chain.output_rate_hz may be 1-20 Hz, but the model's
    # windows (100 samples) and the context channels' time constant assume 10 Hz samples.
    defaults = cfg.WearableConfig()
    fast = dataclasses.replace(
        defaults, chain=dataclasses.replace(defaults.chain, output_rate_hz=20.0)
    )
    with pytest.raises(ConfigError, match=r"chain.output_rate_hz = 20 Hz: the fatigue model"):
        make_app(config=fast)
