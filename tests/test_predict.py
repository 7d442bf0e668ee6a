"""The fatigue model on recordings from other devices (issue 17, point 4).

A recording with ΔHbO2 and ΔHHb in µM is resampled to 10 Hz, its ΔOD are rebuilt with the
device's own MBLL and the device's own window code and model run on it. Checked on an
Artinis-like recording made here (O2Hb/HHb in µM at about 10 Hz with irregular times and
a dropout) and on a simulated session of this project read back from its SNIRF file,
whose levels from its own ΔOD and from ΔOD rebuilt from its haemoglobin agree closely
(the MBLL is linear: the two ΔOD differ only by the least-squares residual, which the
chain's solver projects out). Every output says that the model was trained on simulated
sessions of this device only. A recording without µM haemoglobin, one shorter than a
window and one with no clean window are one line each, exit 2.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from device.inference import load_model
from device.mbll import DEFAULT_DISTANCE_CM, DEFAULT_DPF
from host import importers, predict_cli
from host.predict import TRAINING_CHAIN, predict_recording, rebuild_d_od, resample
from host.recording import Channel, Interval, Recording
from host.session import DatasetError
from host.snirf_writer import write_session
from hwsim.cohort import SessionSpec, record_session

MODELS = Path(__file__).resolve().parent.parent / "models"
META = json.loads((MODELS / "model.json").read_text(encoding="utf-8"))
#: What every output must say (the facts from models/model.json's provenance).
TRAINED_ON = (
    f"trained on {META['provenance']['data'][0].upper()} sessions of this device only "
    f"({META['provenance']['sessions']} sessions of {META['provenance']['subjects']} subjects"
)
REBUILT = "ΔOD at 750, 810, 870 nm were rebuilt from ΔHbO2 and ΔHHb"


@pytest.fixture(scope="module")
def model():
    m = load_model(MODELS, backend="onnx")
    yield m
    m.close()


def artinis_like(
    *,
    duration_s: float = 150.0,
    absolute: bool = False,
    offset_um: tuple[float, float] = (0.0, 0.0),
    dropout_s: tuple[float, float] | None = (60.0, 63.0),
    seed: int = 3,
) -> Recording:
    """An OxySoft-like export: O2Hb, HHb and tHb in µM, TSI % and its fit factor, at about
    10 Hz with ±20 ms jitter; 30 s rest, a 90 s hold (O2Hb falls, HHb rises), recovery;
    events as intervals; no samples in ``dropout_s``. ``absolute``: O2Hb/HHb as absolute
    values (60 and 30 µM at rest), not changes; ``offset_um`` is added to them."""
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, duration_s, 0.1) + rng.uniform(-0.02, 0.02, int(round(duration_s * 10)))
    t[0], t[-1] = 0.0, round(duration_s - 0.1, 6)
    if dropout_s is not None:
        t = t[(t < dropout_s[0]) | (t >= dropout_s[1])]
    hold = np.clip((t - 30.0) / 90.0, 0.0, 1.0) * (t < 120.0)
    after = np.where(t >= 120.0, np.exp(-(t - 120.0) / 8.0), 0.0)
    depth = hold + after * 1.0
    noise = rng.normal(0.0, 0.3, (2, t.size))
    hbo2 = -18.0 * depth + noise[0] + offset_um[0] + (60.0 if absolute else 0.0)
    hhb = 14.0 * depth + noise[1] + offset_um[1] + (30.0 if absolute else 0.0)
    tsi = 100 * (60 - 18 * depth) / (90 - 4 * depth)
    channels = (
        Channel("O2Hb", "hbo2", "uM", hbo2, relative=not absolute),
        Channel("HHb", "hhb", "uM", hhb, relative=not absolute),
        Channel("tHb", "thb", "uM", hbo2 + hhb, relative=not absolute),
        Channel("TSI", "smo2", "%", tsi),
        Channel("TSI Fit Factor", "other", "%", np.full(t.size, 99.5)),
    )
    return Recording(
        source=Path("portamon_sample.txt"),
        format="oxysoft-txt",
        sensor="1",
        t_s=t,
        channels=channels,
        intervals=tuple(
            Interval(label, onset, min(length, duration_s - onset))
            for label, onset, length in (("A rest", 0, 30), ("B hold", 30, 90), ("C rec", 120, 30))
            if onset < duration_s
        ),
        provenance="human",
        metadata={"device": "PortaMon"},
        notes=("made by tests/test_predict.py, not by OxySoft",),
    )


def moxy_like() -> Recording:
    t = np.arange(0.0, 120.0, 0.5)
    return Recording(
        source=Path("moxy_export.csv"),
        format="moxy-csv",
        sensor="1",
        t_s=t,
        channels=(
            Channel("SmO2 Live", "smo2", "%", np.full(t.size, 60.0)),
            Channel("THb", "thb", "a.u.", np.full(t.size, 12.5)),
        ),
    )


@pytest.fixture(scope="module")
def session_file(tmp_path_factory) -> Path:
    """A simulated session of this project, as its SNIRF file."""
    record, _ = record_session(SessionSpec(2025, 0, "upper_limb", "left"))
    path = tmp_path_factory.mktemp("session") / "S01_upper_limb_left.snirf"
    write_session(path, record)
    return path


def test_rebuilt_od_is_the_mbll_by_hand():
    """ΔOD = ε_nat·Δc·DPF·d with the Prahl table's decadic ε (cm⁻¹/M) at 750 and 870 nm
    (518 and 1405.24 for HbO2 and HHb at 750; 1128 and 705.84 at 870), by hand."""
    hand = math.log(10) / 1e6 * DEFAULT_DPF * DEFAULT_DISTANCE_CM  # per µM, per (cm⁻¹/M)
    d_od = rebuild_d_od(np.array([10.0, 0.0, 2.0]), np.array([0.0, 10.0, -3.0]))
    assert d_od.shape == (3, 3)
    np.testing.assert_allclose(d_od[0, [0, 2]], [518 * 10 * hand, 1128 * 10 * hand], rtol=1e-12)
    np.testing.assert_allclose(
        d_od[1, [0, 2]], [1405.24 * 10 * hand, 705.84 * 10 * hand], rtol=1e-12
    )
    # The chain's own solver takes it back to the haemoglobin, with no residual.
    back = TRAINING_CHAIN.solver().solve_many(d_od)
    np.testing.assert_allclose(back.d_hbo2_um, [10.0, 0.0, 2.0], atol=1e-9)
    np.testing.assert_allclose(back.d_hhb_um, [0.0, 10.0, -3.0], atol=1e-9)
    np.testing.assert_allclose(back.residual_od, 0.0, atol=1e-12)


def test_resample_interpolates_irregular_times_and_leaves_gaps_empty():
    t = np.array([0.0, 0.13, 0.19, 0.32, 0.41, 1.5, 1.62])
    grid, (v,) = resample(t, [2.0 * t + 1.0], rate_hz=10.0, max_gap_s=0.5)
    np.testing.assert_allclose(grid, np.arange(17) / 10.0, atol=1e-12)
    np.testing.assert_allclose(v[:5], 2.0 * grid[:5] + 1.0, rtol=1e-12)
    assert np.all(np.isnan(v[5:15])), "0.41 → 1.5 s is a gap over 0.5 s"
    np.testing.assert_allclose(v[15:], 2.0 * grid[15:] + 1.0, rtol=1e-12)


def test_resample_averages_a_faster_source_per_block():
    """50 Hz of +1, -1, +1...: five samples a block, whose mean is ±0.2; an interpolation
    at the block's centre would give ±1."""
    t = np.arange(0.0, 2.0, 0.02)
    grid, (v,) = resample(t, [np.where(np.arange(t.size) % 2, 1.0, -1.0)], rate_hz=10.0)
    assert grid.size == 20
    np.testing.assert_allclose(np.abs(v[1:-1]), 0.2, rtol=1e-12)


def test_model_runs_on_an_artinis_like_recording(model):
    rec = artinis_like()
    run = predict_recording(rec, model)
    assert run.od_source == "rebuilt"
    n = run.t_s.size
    assert n == 1500 and np.allclose(np.diff(run.t_s), 0.1)
    gap = ~np.isfinite(run.d_hbo2_um)
    assert 25 <= gap.sum() <= 35, "the 3 s dropout, less what 0.5 s interpolation bridges"
    ends = np.arange(99, n, 10)
    with_gap = [e for e in ends if gap[e - 99 : e + 1].any()]
    assert run.skipped_windows == len(with_gap) > 0
    assert run.level.size == len(ends) - len(with_gap)
    np.testing.assert_allclose(run.t_end_s - run.t_start_s, 9.9)
    np.testing.assert_allclose(run.probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert run.level.min() >= 0 and run.shown_level.max() < len(run.classes)
    # The ΔOD fed to the model are the device's MBLL of the haemoglobin it saw.
    np.testing.assert_allclose(run.d_od, rebuild_d_od(run.d_hbo2_um, run.d_hhb_um))
    assert TRAINED_ON in run.trained_on and REBUILT in run.od_note


def test_absolute_haemoglobin_becomes_changes_from_the_baseline_window(model):
    relative = predict_recording(artinis_like(offset_um=(5.0, -2.0)), model, rezero=True)
    absolute = artinis_like(absolute=True, offset_um=(5.0, -2.0))
    run = predict_recording(absolute, model)
    np.testing.assert_allclose(run.d_hbo2_um, relative.d_hbo2_um, atol=1e-9, equal_nan=True)
    np.testing.assert_allclose(run.probabilities, relative.probabilities, atol=1e-5)
    assert any("absolute values made changes from their mean over 0–30 s" in n for n in run.notes)
    base = run.d_hbo2_um[(run.t_s <= 30.0) & np.isfinite(run.d_hbo2_um)]
    assert abs(base.mean()) < 0.05
    # Kept as the file gives them without --rezero: the 5 µM offset stays.
    kept = predict_recording(artinis_like(offset_um=(5.0, -2.0)), model)
    assert abs(kept.d_hbo2_um[:300].mean() - 5.0) < 0.1
    # Another window, another zero: the mean over 130–150 s.
    later = predict_recording(absolute, model, baseline_s=(130.0, 150.0))
    values = absolute.channel("hbo2").values
    zero = values[absolute.t_s >= 130.0].mean()
    np.testing.assert_allclose(later.d_hbo2_um[:300].mean(), values[:300].mean() - zero, atol=0.05)


def test_a_session_read_back_agrees_with_its_own_od(model, session_file):
    """Own ΔOD vs ΔOD rebuilt from its ΔHbO2/ΔHHb: they differ by the MBLL residual
    (I − A·A⁺)·ΔOD only; measured on this session: every level equal, probabilities within
    0.004 (over 20 sessions of ``plan(7, 5)``: 99.3 % of 2411 windows, max 0.042)."""
    (rec,) = importers.read_recordings(session_file)
    own = predict_recording(rec, model)
    rebuilt = predict_recording(rec, model, od="rebuild")
    assert own.od_source == "recorded" and rebuilt.od_source == "rebuilt"
    projector = np.asarray(TRAINING_CHAIN.solver().residual_projector)
    np.testing.assert_allclose(own.d_od - rebuilt.d_od, own.d_od @ projector.T, atol=1e-12)
    assert own.level.size == rebuilt.level.size > 80
    assert np.mean(own.level == rebuilt.level) >= 0.95
    assert np.mean(own.shown_level == rebuilt.shown_level) >= 0.95
    assert np.abs(own.probabilities - rebuilt.probabilities).max() < 0.05


def test_windows_with_a_quality_flag_are_skipped_as_the_wearable_skips_them(model, session_file):
    """A project session's quality flags reach the model's windows: samples flagged for
    5 s make every window holding one skipped (the wearable shows "check sensor" there)."""
    (recorded,) = importers.read_recordings(session_file)

    def with_flags(flags: np.ndarray) -> Recording:  # the session's own flags replaced
        channels = tuple(
            replace(c, values=flags) if c.quantity == "quality" else c for c in recorded.channels
        )
        return replace(recorded, channels=channels)

    rec = with_flags(np.zeros(recorded.n_samples))  # its motion flags cleared
    assert predict_recording(recorded, model).skipped_windows > 0  # they count as well
    clean = predict_recording(rec, model)
    assert clean.skipped_windows == 0
    flags = np.zeros(rec.n_samples)
    flagged = (rec.t_s >= 40.0) & (rec.t_s < 45.0)
    flags[flagged] = 4
    run = predict_recording(with_flags(flags), model)
    # Windows of 10 s every 1 s: the 14 or 15 whose span meets 40–45 s hold a flagged sample.
    holding = (clean.t_end_s >= rec.t_s[flagged][0]) & (clean.t_start_s <= rec.t_s[flagged][-1])
    assert run.skipped_windows == np.count_nonzero(holding) >= 14
    assert not np.any((run.t_end_s >= 40.0) & (run.t_start_s < 45.0))


def cli(capsys, monkeypatch, recording: Recording | None, path: Path, *args: str):
    if recording is not None:
        monkeypatch.setattr(importers, "read_recordings", lambda p: [recording])
    status = predict_cli.main_args([str(path), *map(str, args)])
    out, err = capsys.readouterr()
    return status, out, err


def test_every_output_says_simulated_only_and_rebuilt(model, tmp_path, capsys, monkeypatch):
    source = tmp_path / "portamon_sample.txt"
    source.write_text("stand-in: the reader is replaced\n")
    status, out, err = cli(capsys, monkeypatch, artinis_like(), source, "--out", tmp_path / "o")
    assert status == 0, err
    assert TRAINED_ON in out and REBUILT in out
    assert "windows of 10 s run" in out.splitlines()[0]
    csv_path = tmp_path / "o" / "portamon_sample.levels.csv"
    lines = csv_path.read_text(encoding="utf-8").splitlines()
    comments = [x for x in lines if x.startswith("#")]
    assert any(TRAINED_ON in x for x in comments) and any(REBUILT in x for x in comments)
    header = lines[len(comments)].split(",")
    assert header == ["t_start_s", "t_end_s", "level", "shown_level"] + [
        f"p_{c}" for c in META["classes"]
    ]
    run = predict_recording(artinis_like(), model)
    assert len(lines) - len(comments) - 1 == run.level.size
    fig = predict_cli.level_figure(run)
    title = " ".join(fig._suptitle.get_text().split())
    assert TRAINED_ON in title and REBUILT in title and "HUMAN data" in title
    for line in fig.axes[1].get_lines():  # the skipped windows break each probability line
        assert np.count_nonzero(np.isnan(line.get_ydata())) == 1
    png = (tmp_path / "o" / "portamon_sample.levels.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_project_session_through_the_command(session_file, tmp_path, capsys, monkeypatch):
    status, out, err = cli(capsys, monkeypatch, None, session_file, "--out", tmp_path)
    assert status == 0, err
    assert TRAINED_ON in out and "ΔOD at 750, 810, 870 nm are this device's own" in out
    assert "SIMULATED data" in out
    assert (tmp_path / "S01_upper_limb_left.levels.png").stat().st_size > 10_000
    # A second run replaces nothing: one line, exit 2, the first outputs as they were.
    before = (tmp_path / "S01_upper_limb_left.levels.csv").read_bytes()
    status, out, err = cli(capsys, monkeypatch, None, session_file, "--out", tmp_path)
    assert status == 2 and "levels.csv: exists" in err and len(err.splitlines()) == 1
    assert (tmp_path / "S01_upper_limb_left.levels.csv").read_bytes() == before


@pytest.mark.parametrize(
    ("recording", "said"),
    [
        (
            moxy_like(),
            "moxy_export.csv: sensor 1 has SmO2 Live (%), THb (a.u.); the fatigue model "
            "needs oxy- and deoxyhaemoglobin in µM",
        ),
        (
            artinis_like(duration_s=8.0, dropout_s=None),
            "portamon_sample.txt: sensor 1 lasts 7.9 s; the model needs at least one window "
            "of 10 s (100 samples at 10 Hz)",
        ),
        (
            artinis_like(absolute=True, dropout_s=(0.0, 40.0)),
            "channel 'O2Hb' has no valid value in the baseline window 0–30 s",
        ),
        (
            artinis_like(duration_s=20.0, dropout_s=(9.0, 11.0)),
            "windows of 10 s is free of gaps longer than 1 s or invalid values",
        ),
    ],
    ids=["moxy", "short", "empty-baseline", "no-clean-window"],
)
def test_bad_recordings_are_one_line_exit_2(recording, said, tmp_path, capsys, monkeypatch):
    source = tmp_path / recording.source.name
    source.write_text("stand-in\n")
    status, out, err = cli(capsys, monkeypatch, recording, source, "--out", tmp_path / "o")
    assert status == 2
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert said in err
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_haemoglobin_in_other_units_is_named(model):
    rec = artinis_like()
    au = Recording(
        source=rec.source,
        format=rec.format,
        sensor="2",
        t_s=rec.t_s,
        channels=tuple(
            Channel(
                c.name, c.quantity, "a.u." if c.quantity == "hbo2" else c.unit, c.values, c.relative
            )
            for c in rec.channels
        ),
    )
    with pytest.raises(DatasetError, match=r"sensor 2 has O2Hb \(a\.u\.\), HHb \(uM\)"):
        predict_recording(au, model)


class StepModel:
    """A stand-in model: "none" for sure while the window's last ΔHbO2 is below 10 µM,
    then "light" by a little; keeps the windows it was given."""

    classes = tuple(META["classes"])
    meta = META

    def __init__(self) -> None:
        self.windows: list = []

    def predict(self, sequence, statistics):
        self.windows.append((sequence, statistics))
        return (1.0, 0.0, 0.0, 0.0, 0.0) if sequence[-1][3] < 10.0 else (0.4, 0.6, 0.0, 0.0, 0.0)

    def describe(self) -> str:
        return "model: stand-in"


def test_windows_every_second_and_the_smoothing_restarts_after_a_gap():
    """As the wearable: a window every 10 samples once 100 are in; one with a gap is not
    run, and the level shown after it is not averaged with the ones before it (with
    them, the first "light" window would still show "none")."""
    t = np.arange(0.0, 60.0, 0.1)
    keep = (t < 30.0) | (t >= 33.0)
    t = t[keep]
    hbo2 = np.where(t < 40.0, 0.0, 20.0)
    rec = Recording(
        Path("step.txt"),
        "oxysoft-txt",
        "1",
        t,
        (Channel("O2Hb", "hbo2", "uM", hbo2, True), Channel("HHb", "hhb", "uM", -hbo2 / 4, True)),
    )
    model = StepModel()
    run = predict_recording(rec, model)  # type: ignore[arg-type]
    np.testing.assert_allclose(np.diff(run.t_end_s)[np.diff(run.t_end_s) < 1.5], 1.0)
    assert run.skipped_windows == 12  # windows ending 30.9 … 41.9 s hold 30.0–32.9 s
    after = int(np.argmax(run.t_end_s > 33.0))
    assert run.t_end_s[after] == pytest.approx(42.9)
    assert list(run.level[after : after + 2]) == [1, 1]
    assert list(run.shown_level[after : after + 2]) == [1, 1]
    # Before the gap: three "none" windows in a row, then "light": the mean still says none.
    sequence, statistics = model.windows[after]
    row = sequence[-1]
    assert row[3] == 20.0 and row[4] == -5.0 and row[5] == 15.0 and row[7] == 25.0
    assert row[6] == pytest.approx(100 * 80.0 / (80.0 + 25.0))
    np.testing.assert_allclose(row[:3], rebuild_d_od(np.array([20.0]), np.array([-5.0]))[0])
    assert len(row) == 12 and len(statistics) == 60  # with the context channels


def test_the_train_red_sample_runs_through_its_bursts(model):
    """The Train.Red app delivers samples in bursts up to 0.9 s apart, which are not
    dropouts (docs/importers.md): the default --max-gap-s bridges them, so only the
    windows holding the sample's real 3 s dropout are skipped."""
    path = Path(__file__).parent / "data" / "imports" / "trainred_two_sensors.csv"
    rec = importers.pick_sensor(importers.read_recordings(path), "1")
    run = predict_recording(rec, model)
    assert run.level.size > 80 and run.skipped_windows <= 15
