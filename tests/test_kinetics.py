"""Kinetics of work intervals (issue 17, point 2): host.kinetics, its table, figure and command.

Two ways to a known recovery time constant: a synthetic recording whose recovery is the
model itself plus independent noise (τ, delay, amplitude known exactly), and simulated
sessions recorded through the device's chain by the cohort's simulator. The simulator's
SmO2 recovers as ``s0 + (s_end − s0)·exp(−u/τ_reperfusion)`` plus a hyperaemic overshoot
(a difference of exponentials), and HbO2 = SmO2·tHb with tHb refilling on its own time
constant (hw-sim/hwsim/hemodynamics.py); so ΔHbO2, what the device records, is
mono-exponential with τ = ``reperfusion_tau_s`` and no delay only when the overshoot,
the tHb changes and the motion excursions and dropouts are switched off. Those subjects
are compared with ``reperfusion_tau_s``; the unmodified simulator is compared with the
same analysis run on the simulator's own HbO2, before the optics, ADC and the device's
chain.
"""

from __future__ import annotations

import dataclasses
import io
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from test_cli_help import entries

from host.kinetics import KineticsSettings, analyse, pick_channel, work_intervals
from host.kinetics_cli import main_args, table_rows
from host.kinetics_fit import fit_recovery, recovery_model, rolling_slopes, smooth
from host.kinetics_plot import build_figure
from host.recording import Channel, Interval, Recording
from host.session import DatasetError
from host.snirf_writer import write_session
from hwsim import cohort, physiology
from hwsim.protocols import Phase, Protocol

RATE_HZ = 10.0
DESAT_TAU_S = 5.0


def curve(t, holds, *, base, nadir, tau, delay, recover_to=None):
    """Noise-free signal: ``base`` at rest, an exponential fall towards ``nadir`` during
    each hold (time constant DESAT_TAU_S), then the recovery model from the end value to
    ``recover_to`` (default ``base``) with ``tau`` and ``delay``."""
    recover_to = base if recover_to is None else recover_to
    y = np.full_like(t, base, dtype=float)
    level = base
    for i, (on, off) in enumerate(holds):
        work = (t >= on) & (t <= off)
        y[work] = nadir + (level - nadir) * np.exp(-(t[work] - on) / DESAT_TAU_S)
        end = nadir + (level - nadir) * math.exp(-(off - on) / DESAT_TAU_S)
        nxt = holds[i + 1][0] if i + 1 < len(holds) else np.inf
        rec = (t > off) & (t < nxt)
        u = t[rec] - off
        y[rec] = end + (recover_to - end) * -np.expm1(-np.maximum(u - delay, 0.0) / tau)
        level = recover_to
    return y


def synthetic(
    holds=((30.0, 90.0),),
    *,
    tau=8.0,
    delay=2.0,
    base=70.0,
    nadir=40.0,
    noise=1.0,
    seed=1,
    quantity="smo2",
    unit="%",
    tail_s=90.0,
    recover_to=None,
    intervals=None,
):
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, holds[-1][1] + tail_s, 1.0 / RATE_HZ) + 0.05
    y = curve(t, holds, base=base, nadir=nadir, tau=tau, delay=delay, recover_to=recover_to)
    y = y + rng.normal(0.0, noise, t.size)
    if intervals is None:
        intervals = tuple(Interval("hold", a, b - a) for a, b in holds)
    return Recording(
        source=Path("synthetic.csv"),
        format="test",
        sensor="1",
        t_s=t,
        channels=(Channel(quantity.upper(), quantity, unit, y),),
        intervals=intervals,
        provenance="simulated",
    )


# ------------------------------------------------------------------ a known recovery


def test_tau_delay_amplitude_and_half_recovery_of_a_known_mono_exponential():
    """τ 8 s, delay 2 s, from the end value back to a 70 % baseline, noise 1 % (sd);
    over 200 noise draws τ's error had sd 0.10 s and half-recovery's 0.12 s: the
    tolerances are about four of those."""
    tau, delay = 8.0, 2.0
    rec = synthetic(tau=tau, delay=delay)
    (k,) = analyse(rec).intervals
    f = k.fit
    end_true = 40.0 + 30.0 * math.exp(-60.0 / DESAT_TAU_S)
    assert f.tau_ci[0] <= tau <= f.tau_ci[1]
    assert abs(f.tau_s - tau) < 0.4
    assert abs(f.delay_s - delay) < 0.4
    assert f.delay_ci[0] <= delay <= f.delay_ci[1]
    assert abs(f.amplitude - (70.0 - end_true)) < 0.6
    assert abs(k.half_recovery_s - (delay + tau * math.log(2))) < 0.4
    assert abs(f.half_time_s - (delay + tau * math.log(2))) < 0.4
    assert abs(k.baseline - 70.0) < 0.6 and abs(k.end - end_true) < 1.0
    assert k.extreme_kind == "nadir" and abs(k.extreme - 40.0) < 1.0
    # Desaturation slope against numpy's own line through the noise-free first 10 s.
    t = rec.t_s
    sel = (t >= 30.0) & (t <= 40.0)
    clean = curve(t, ((30.0, 90.0),), base=70.0, nadir=40.0, tau=tau, delay=delay)
    assert k.desat_slope_per_s == pytest.approx(np.polyfit(t[sel], clean[sel], 1)[0], abs=0.15)
    assert abs(k.overshoot) < 1.0  # none in the model; the smoothed noise only
    assert "simulated" in table_rows(analyse(rec))[0]["provenance"]


def test_peak_reoxygenation_slope_against_a_brute_force_rolling_fit():
    """The steepest 5 s least-squares slope of the recovery: rolling_slopes' cumulative
    sums against np.polyfit on every window, and the analysis' value against both."""
    rec = synthetic(noise=0.3, seed=4)
    (k,) = analyse(rec).intervals
    t, y = rec.t_s, rec.channels[0].values
    lo, hi, w = 90.0, 150.0, 5.0
    centres, slopes = rolling_slopes(t, y, w, lo, hi)
    brute = []
    for c in centres:
        sel = (t >= c - w / 2) & (t <= c + w / 2)
        brute.append(np.polyfit(t[sel], y[sel], 1)[0])
    np.testing.assert_allclose(slopes, brute, rtol=1e-9, atol=1e-9)
    assert k.peak_reox_slope_per_s == pytest.approx(max(brute), rel=1e-9)
    # For the noise-free model the steepest window lies just after the delay, with a
    # slope below the model's largest derivative A/τ (a 5 s window averages it).
    assert 0.5 * 30.0 / 8.0 < k.peak_reox_slope_per_s < 30.0 / 8.0 * 1.1


def test_the_confidence_interval_of_tau_covers_it_about_95_percent_of_the_time():
    """100 independent noise draws; binomial sd of the coverage at 95 % is 2.2 %."""
    inside = 0
    for seed in range(100):
        f = analyse(synthetic(seed=seed, tail_s=60.0)).intervals[0].fit
        inside += f.tau_ci[0] <= 8.0 <= f.tau_ci[1]
    assert 88 <= inside <= 99


def test_slow_irregular_samples_with_a_dropout_as_real_exports_have():
    """A Moxy-like 1 Hz export: stamps 0.6–1.4 s apart, and 4 s of 'sensor off' (NaN)
    early in the recovery. τ 8 s and half-recovery still within 1 s."""
    rng = np.random.default_rng(3)
    t = np.cumsum(rng.uniform(0.6, 1.4, 300))
    y = curve(t, ((60.0, 120.0),), base=70.0, nadir=40.0, tau=8.0, delay=2.0)
    y = y + rng.normal(0.0, 1.0, t.size)
    y[(t > 130.0) & (t < 134.0)] = np.nan
    rec = Recording(
        Path("moxy.csv"),
        "test",
        "1",
        t,
        (Channel("SmO2", "smo2", "%", y),),
        (Interval("hold", 60.0, 60.0),),
    )
    (k,) = analyse(rec).intervals
    assert k.fit.tau_ci[0] <= 8.0 <= k.fit.tau_ci[1] and abs(k.fit.tau_s - 8.0) < 1.0
    assert abs(k.half_recovery_s - (2.0 + 8.0 * math.log(2))) < 1.0


def test_hhb_rises_during_work_so_its_peak_and_a_falling_recovery_are_found():
    rec = synthetic(
        base=5.0,
        nadir=25.0,
        tau=6.0,
        delay=1.0,
        noise=0.3,
        quantity="hhb",
        unit="uM",
        recover_to=3.0,
    )
    result = analyse(rec, quantity="hhb")
    (k,) = result.intervals
    assert result.quantity == "hhb" and k.extreme_kind == "peak"
    assert abs(k.extreme - 25.0) < 0.5
    assert k.desat_slope_per_s > 0 and k.peak_reox_slope_per_s < 0
    assert abs(k.fit.tau_s - 6.0) < 0.3 and k.fit.amplitude < 0
    assert abs(k.overshoot - 2.0) < 0.5  # 2 µM below the baseline: past it, in recovery
    row = table_rows(result)[0]
    assert row["nadir_or_peak"] == "peak" and "baseline_uM" in row and "fit_tau_s" in row
    assert "desat_slope_uM_per_s" in row and "overshoot_uM" in row


def test_default_quantity_is_smo2_when_present_else_hbo2():
    rec = synthetic()
    assert pick_channel(rec, None)[0] == "smo2"
    hb = synthetic(quantity="hbo2", unit="uM")
    assert pick_channel(hb, None)[0] == "hbo2"
    row = table_rows(analyse(rec))[0]
    assert "baseline_pct" in row and "desat_slope_pct_per_s" in row


# ------------------------------------------------------------------------ ensemble


def test_ensemble_is_the_mean_of_the_intervals_aligned_at_their_ends():
    """Noise-free repeats of different depth and length: the ensemble at each grid time
    is the mean of the three model curves there (computed here from the model, not from
    the recording), and a 2 s dropout in one repeat is not interpolated across."""
    holds = ((30.0, 90.0), (200.0, 250.0), (360.0, 430.0))
    rec = synthetic(holds, noise=0.0, tail_s=110.0)
    y = rec.channels[0].values.copy()
    gap = (rec.t_s > 205.0) & (rec.t_s < 207.0)  # 45–43 s before the end of hold 2
    y[gap] = np.nan
    rec = dataclasses.replace(rec, channels=(dataclasses.replace(rec.channels[0], values=y),))
    result = analyse(rec)
    ens = result.ensemble
    u, mean = result.ensemble_u_s, result.ensemble_mean
    assert ens.n_averaged == 3 and ens.number == "ensemble"
    assert u[0] == pytest.approx(-50.0, abs=0.1)  # the shortest work: 50 s
    assert u[-1] == pytest.approx(min(110.0 - 0.05, 60.0), abs=0.11)  # the recovery window
    expected = []
    for _on, off in holds:
        tt = off + u
        model = curve(tt, holds, base=70.0, nadir=40.0, tau=8.0, delay=2.0)
        expected.append(model)
    expected = np.vstack(expected)
    dropped = np.isnan(result.ensemble_reps[1])
    assert dropped.any() and np.all((u[dropped] > -45.1) & (u[dropped] < -42.9))
    expected[1, dropped] = np.nan
    # Hold 2 starts (u = -50 s) and the recovery sets off (u = 2 s) between two samples:
    # interpolating across those kinks differs from the model by up to 0.1 %.
    inside = (np.abs(u + 50.0) > 0.1) & (np.abs(u - 2.0) > 0.1)
    np.testing.assert_allclose(mean[inside], np.nanmean(expected, axis=0)[inside], atol=0.02)
    assert abs(ens.fit.tau_s - 8.0) < 0.05 and abs(ens.fit.delay_s - 2.0) < 0.05
    assert any("work lengths differ" in n for n in ens.notes)
    assert ens.baseline == pytest.approx(np.mean([k.baseline for k in result.intervals]))
    rows = table_rows(result)
    assert [r["number"] for r in rows] == ["1", "2", "3", "ensemble"]


def test_ensemble_of_noisy_repeats_narrows_the_confidence_interval():
    holds = ((30.0, 90.0), (180.0, 240.0), (330.0, 390.0), (480.0, 540.0))
    result = analyse(synthetic(holds, noise=2.0, seed=9))
    widths = [k.fit.tau_ci[1] - k.fit.tau_ci[0] for k in result.intervals]
    ens = result.ensemble.fit
    assert ens.tau_ci[0] <= 8.0 <= ens.tau_ci[1] and abs(ens.tau_s - 8.0) < 0.4
    assert ens.tau_ci[1] - ens.tau_ci[0] < 0.7 * min(widths)


# --------------------------------------------------------------- simulated sessions

#: Three 45 s holds at 50 % MVC with a minute's rest after each: long enough a recovery
#: for the fit, the seed's load (hwsim.protocols.SEED_MVC_FRACTION).
REPEATED_HOLDS = Protocol(
    "repeated_holds",
    "upper",
    (Phase("baseline", "baseline", 30.0),
     *[p for _ in range(3) for p in (Phase("hold", "hold", 45.0, 0.5),
                                     Phase("rest", "rest", 60.0))]),
    sides=("left",),
)  # fmt: skip


def recorded(truth, spec, monkeypatch) -> tuple[Recording, physiology.SessionTruth]:
    """``truth`` played on the simulated board and recorded by the device's chain, as
    the cohort records its sessions (hwsim.cohort.record_session)."""
    monkeypatch.setattr(cohort, "simulate_truth", lambda _spec: truth)
    record, truth = cohort.record_session(spec)
    return Recording.from_session(record, f"{spec.subject_id}.snirf"), truth


@pytest.mark.parametrize("seed", [0, 2])
def test_simulated_mono_exponential_recovery_tau_and_half_time(seed, monkeypatch):
    """A drawn subject with the hyperaemic overshoot, the tHb changes, the slow drift and
    the motion excursions switched off: recorded ΔHbO2 recovers mono-exponentially with
    τ = reperfusion_tau_s, no delay. Over 20 such subjects (seeds 0–19, after issue 19's
    recalibration made the holds shallower) the ensemble's τ was within 17 % of it
    (median 2.7 %; 6.4 % at most in 19 of 20), its half-recovery time within 0.81 s of
    τ·ln 2, each interval's τ within 39 % (the shallowest subject); the tolerances for
    seeds 0 and 2: 10 %, 1.0 s, 25 %."""
    spec = cohort.SessionSpec(seed, 0, "upper_limb", "left")
    subject = physiology.draw_subject(physiology.derive_rng(seed, "subject", 0), "S01")
    muscle = dataclasses.replace(
        subject.upper,
        hyper_smo2=0.0,
        hyper_thb=0.0,
        thb_drop=0.0,
        early_hyper_thb=0.0,
        fatigue_thb=0.0,
    )
    subject = dataclasses.replace(subject, upper=muscle, motion_factor=0.0, drift_sd_um=0.0)
    truth = physiology.simulate_session(
        subject, REPEATED_HOLDS, "left", physiology.derive_rng(seed, "session")
    )
    rec, truth = recorded(truth, spec, monkeypatch)
    tau = truth.muscle.reperfusion_tau_s
    result = analyse(rec)
    assert result.quantity == "hbo2" and len(result.intervals) == 3
    ens = result.ensemble
    assert abs(ens.fit.tau_s / tau - 1) < 0.10
    assert abs(ens.half_recovery_s - tau * math.log(2)) < 1.0
    for k in result.intervals:
        assert abs(k.fit.tau_s / tau - 1) < 0.25


@pytest.mark.parametrize("seed", [5])
def test_simulated_session_kinetics_match_those_of_the_simulated_muscle(seed):
    """The seed's upper-limb protocol, simulator unchanged: the kinetics of what the
    device recorded equal those of the simulator's own HbO2 (the truth, scaled by the
    subject's DPF over the device's 4.0) within 10 % for τ and 0.5 s for half-recovery
    (16 subjects: 5.6 % and 0.37 s at most). Both τ are shorter than reperfusion_tau_s:
    tHb refills faster than SmO2 recovers, and the overshoot adds a rise."""
    spec = cohort.SessionSpec(seed, 0, "upper_limb", "left")
    record, truth = cohort.record_session(spec)
    got = analyse(Recording.from_session(record, "s.snirf")).intervals[0]
    rest = truth.t_s < truth.phases[0].duration_s
    hbo2 = (truth.hbo2_um - truth.hbo2_um[rest].mean()) * truth.dpf / 4.0
    phases = tuple(
        Interval(p.kind, float(a), float(p.duration_s))
        for p, a in zip(truth.phases, truth.phase_start_s)
    )
    truth_rec = Recording(
        Path("truth"),
        "hwsim",
        "1",
        truth.t_s,
        (Channel("HbO2", "hbo2", "uM", hbo2, relative=True),),
        phases,
    )
    want = analyse(truth_rec).intervals[0]
    assert abs(got.fit.tau_s / want.fit.tau_s - 1) < 0.10
    assert abs(got.half_recovery_s - want.half_recovery_s) < 0.5
    assert got.fit.tau_s < truth.muscle.reperfusion_tau_s


# ------------------------------------------------------------------------ the command


@pytest.fixture(scope="module")
def session_file(tmp_path_factory) -> Path:
    record, _ = cohort.record_session(cohort.SessionSpec(3, 0, "upper_limb", "left"))
    path = tmp_path_factory.mktemp("kin") / "S01_upper_limb_left.snirf"
    write_session(path, record)
    return path


def test_command_writes_table_and_figure_of_a_simulated_session(session_file, tmp_path, capsys):
    assert main_args([str(session_file), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    csv_path = tmp_path / "S01_upper_limb_left_kinetics_hbo2.csv"
    png_path = tmp_path / "S01_upper_limb_left_kinetics_hbo2.png"
    assert f"wrote {csv_path}" in out and f"wrote {png_path}" in out
    assert "SIMULATED data" in out
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import csv

    with csv_path.open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1 and rows[0]["provenance"] == "simulated"
    assert rows[0]["interval"] == "hold" and float(rows[0]["fit_tau_s"]) > 0
    assert float(rows[0]["fit_tau_ci95_low_s"]) < float(rows[0]["fit_tau_s"])
    # The same again would overwrite: refused, one line.
    assert main_args([str(session_file), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "exists" in err and csv_path.name in err


def test_the_figure_says_simulated_and_draws_the_fit():
    result = analyse(synthetic(((30.0, 90.0), (180.0, 240.0))))
    fig = build_figure(result)
    assert "SIMULATED" in fig._suptitle.get_text()
    labels = [line.get_label() for line in fig.axes[0].lines]
    assert "mono-exponential fit" in labels and "half recovery" in labels
    assert len(fig.axes) == 2  # the ensemble panel


def bad(argv, capsys) -> str:
    assert main_args(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


def test_bad_input_is_one_line_and_exit_2(session_file, tmp_path, capsys):
    f = str(session_file)
    out = ["--out", str(tmp_path)]
    err = bad([f, "--quantity", "smo2", *out], capsys)  # no usable channel
    assert "no smo2 channel" in err and session_file.name in err and "--quantity" in err
    err = bad([f, "--work", "200", "300", *out], capsys)
    assert "outside the recording, which runs 0.05–137.95 s" in err
    err = bad([f, "--work", "20", "135", *out], capsys)
    assert "only 2.9 s of recovery" in err and "at least 10 s" in err
    err = bad([f, "--work", "60", "40", *out], capsys)
    assert "the end must come after the start" in err
    err = bad([f, "--interval", "Lap 3", *out], capsys)
    assert "no interval labelled or numbered 'Lap 3'" in err and "2 'hold' (20–108.011 s)" in err
    err = bad([f, "--work", "0.2", "60", *out], capsys)
    assert "only 2 sample(s) in the baseline window 0.05–0.2 s" in err
    err = bad([f, "--work", "20", "60", "--work", "50", "80", *out], capsys)
    assert "overlaps" in err
    err = bad([f, "--min-recovery-s", "90", *out], capsys)
    assert "min_recovery_s" in err
    assert not list(tmp_path.iterdir())  # nothing written by a failed run


def test_recordings_without_a_usable_channel_or_interval_are_refused():
    rec = synthetic()
    blank = dataclasses.replace(rec.channels[0], values=np.full(rec.n_samples, np.nan))
    with pytest.raises(DatasetError, match="holds no value"):
        analyse(dataclasses.replace(rec, channels=(blank,)))
    other = dataclasses.replace(rec.channels[0], quantity="other", name="Lap")
    with pytest.raises(DatasetError, match="no hbo2 channel"):
        analyse(dataclasses.replace(rec, channels=(other,)))
    with pytest.raises(DatasetError, match=r"no marked interval .* --work START END"):
        analyse(dataclasses.replace(rec, intervals=()))
    laps = (Interval("Lap 1", 0.05, 30.0), Interval("Lap 2", 30.0, 60.0))
    with pytest.raises(DatasetError, match=r"no interval is labelled 'hold'.*'Lap 2'.*--interval"):
        analyse(dataclasses.replace(rec, intervals=laps))
    assert analyse(dataclasses.replace(rec, intervals=laps), select=["2"]).intervals[0].label == (
        "Lap 2"
    )
    mark = (Interval("event", 30.0, 0.0),)
    with pytest.raises(DatasetError, match="has no length"):
        work_intervals(dataclasses.replace(rec, intervals=mark), select=["event"])
    with pytest.raises(ValueError, match="desat_s must be a finite number of seconds > 0"):
        KineticsSettings(desat_s=0)


def test_every_option_says_its_default():
    import subprocess
    import sys

    repo = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-m", "host.kinetics_cli", "--help"],
        cwd=repo,
        env={"PYTHONPATH": f"{repo}:{repo / 'hw-sim'}", "COLUMNS": "100"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    listed = entries(done.stdout)
    assert len(listed) >= 12
    for invocation, help_line in listed:
        if invocation.startswith("-"):
            assert "default" in help_line.lower(), invocation


# ------------------------------------------ what the data cannot tell (tester's issue 17 b)


def _one_recovery(noise: float = 0.3, seed: int = 5, **kwargs) -> Recording:
    """Work 60–120 s; recovery with delay 2 s and τ 8 s (half-recovery 7.55 s)."""
    return synthetic(((60.0, 120.0),), noise=noise, seed=seed, tail_s=120.0, **kwargs)


@pytest.mark.parametrize("how", ["rows removed", "NaN"])
def test_nothing_is_interpolated_across_a_dropout(how):
    """The half-way crossing falls in a 19 s dropout (121–140 s): no half-recovery, a note;
    no peak-slope window holds a gap. Before the fix: 11.7 s, no note."""
    rec = _one_recovery()
    t, y = rec.t_s, rec.channels[0].values.copy()
    gone = (t > 121.0) & (t < 140.0)
    if how == "NaN":
        y[gone] = np.nan
        rec = dataclasses.replace(rec, channels=(dataclasses.replace(rec.channels[0], values=y),))
    else:
        channel = dataclasses.replace(rec.channels[0], values=y[~gone])
        rec = dataclasses.replace(rec, t_s=t[~gone], channels=(channel,))
    (k,) = analyse(rec).intervals
    assert math.isnan(k.half_recovery_s)
    assert any(n.startswith("half-way crossed during a 19.") for n in k.notes), k.notes
    c, w = k.peak_reox_slope_at_s, KineticsSettings().slope_window_s
    # Its window reaches into the gap no farther than a stretch that is not a gap (1 s).
    assert c + w / 2 <= 121.05 + 1.0 or c - w / 2 >= 140.05 - 1.0
    # The gap hides most of the rise: no fit (test_no_fit_across_a_gap_that_hides_the_rise).
    assert math.isnan(k.fit.tau_s)


@pytest.mark.parametrize(
    ("kind", "why"),
    [
        ("flat", "not clearly above the noise"),
        # Pure noise fails two of the checks; which one the optimiser meets first varied
        # between two installs of the same pinned packages (CI, issue 19): either is right.
        ("noise only", ("τ at its bound", "not clearly above the noise")),
        ("never returns", "≤ 0 (away from the baseline"),
    ],
)
def test_no_recovery_fit_is_reported_where_there_is_no_recovery(kind, why):
    """Before the fix: a flat signal gave τ 5.00 s (CI 5.00–5.00), noise τ 1.4 s with a
    CI from −8.8 s, a recovery that never comes a wrong-signed amplitude."""
    if kind == "flat":
        rec = _one_recovery(noise=0.0, nadir=70.0)
    elif kind == "noise only":
        rec = _one_recovery(noise=1.0, nadir=70.0)
    else:
        rec = _one_recovery(noise=0.2, recover_to=38.0)
    (k,) = analyse(rec).intervals
    f = k.fit
    values = (f.amplitude, f.tau_s, f.delay_s, *f.tau_ci, *f.amplitude_ci)
    assert all(math.isnan(v) for v in values), f
    reasons = (why,) if isinstance(why, str) else why
    assert any(
        n.startswith("no recovery fit") and any(r in n for r in reasons) for n in k.notes
    ), k.notes
    assert math.isnan(f.half_time_s)


def test_a_tau_confidence_interval_is_never_negative():
    """A fast (τ 0.3 s), small recovery in noise: the fit stands, but τ's CI (before the
    fix from below 0) is not given, and a note says so. Seeds 3, 4, 6: the first three
    of 40 whose CI reached below 0."""
    u = np.arange(0.0, 20.0, 0.1) + 0.05
    for seed in (3, 4, 6):
        noise = np.random.default_rng(seed).normal(0.0, 0.8, u.size)
        f = fit_recovery(u, recovery_model(u, 40.0, 3.0, 0.3, 0.5) + noise, 1.0)
        assert not f.tau_ci[0] < 0, (seed, f)
        assert math.isnan(f.tau_ci[0]) and "τ's 95 % CI reaches below 0" in f.note
        assert math.isfinite(f.tau_s) and f.amplitude > 0


def test_one_huge_value_neither_spoils_the_analysis_nor_warns():
    """SmO2 1e308 in the work (an export's corrupted cell): left out with a note; every
    number as without it; no numpy warning. Before: nadir 0 %, slopes ~1e305 %/s."""
    rec = _one_recovery()
    clean = analyse(rec).intervals[0]
    y = rec.channels[0].values.copy()
    y[np.searchsorted(rec.t_s, 70.0)] = 1e308
    bad = dataclasses.replace(rec, channels=(dataclasses.replace(rec.channels[0], values=y),))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = analyse(bad)
        build_figure(result).savefig(io.BytesIO(), format="png")  # its axes: no overflow
    (k,) = result.intervals
    for field in ("extreme", "desat_slope_per_s", "end", "half_recovery_s"):
        assert getattr(k, field) == pytest.approx(getattr(clean, field), abs=0.05), field
    assert k.peak_reox_slope_per_s == pytest.approx(clean.peak_reox_slope_per_s, rel=1e-6)
    assert k.notes[0].startswith("1 value(s) (e.g. 1e+308) farther from the median")
    # The running mean itself: a huge value touches only the windows that hold it.
    t = np.arange(0.0, 20.0, 0.1)
    y = np.sin(t)
    y[50] = 1e308
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = smooth(t, y, 2.0)
    ref = smooth(t, np.sin(t), 2.0)
    far = np.abs(t - t[50]) > 1.0 + 1e-9
    np.testing.assert_allclose(got[far], ref[far], rtol=0, atol=1e-12)


# ------------------------------------- gaps, noise and windows (re-tester's issue 17 c)


def _without(rec: Recording, lo: float, hi: float, intervals=None) -> Recording:
    """``rec`` with the rows lo < t < hi removed (a dropout), and ``intervals`` if given."""
    keep = ~((rec.t_s > lo) & (rec.t_s < hi))
    channel = dataclasses.replace(rec.channels[0], values=rec.channels[0].values[keep])
    return dataclasses.replace(
        rec, t_s=rec.t_s[keep], channels=(channel,), intervals=intervals or rec.intervals
    )


def test_a_work_boundary_inside_a_dropout_gives_no_number_from_the_other_side():
    """A lap change at 120 s inside a 115–125 s dropout is stamped at the first sample after
    it (125.05 s): before the fix the end value 49 % (truth ≈ 40) came from the recovery,
    half-recovery 5.4 s, delay 0, and no note. A start inside a dropout: a slope was given."""
    rec = _one_recovery()
    (k,) = analyse(_without(rec, 115.0, 125.0, (Interval("hold", 60.0, 65.05),))).intervals
    assert math.isnan(k.end) and math.isnan(k.half_recovery_s), k
    assert math.isnan(k.fit.tau_s) and math.isnan(k.fit.delay_s)
    assert any("the work's end (125.0 s) lies in a 10.1-s gap (115.0–125.0 s" in n for n in k.notes)
    (k,) = analyse(_without(rec, 55.0, 65.0, (Interval("hold", 65.05, 54.95),))).intervals
    assert math.isnan(k.desat_slope_per_s)
    assert any("the work's start (65.0 s) lies in a 10.1-s gap" in n for n in k.notes), k.notes
    assert abs(k.end - 40.0) < 1.0 and math.isfinite(k.fit.tau_s)  # the end is not in it


def test_no_fit_across_a_gap_that_hides_the_rise():
    """120.5–150 s of the recovery missing: before the fix delay 0.24 s (CI 0.03–0.46; truth
    2 s) was reported silently. A 2-s gap late in the recovery is fitted across, and said."""
    rec = _one_recovery(noise=0.5, seed=11)
    (k,) = analyse(_without(rec, 120.5, 150.0)).intervals
    assert math.isnan(k.fit.delay_s) and math.isnan(k.fit.tau_s), k.fit
    assert any(n.startswith("no recovery fit: the signal moves") for n in k.notes), k.notes
    (k,) = analyse(_without(rec, 135.0, 137.0)).intervals
    assert abs(k.fit.tau_s - 8.0) < 1.0
    assert "fitted across 1 gap(s) in its window, the longest 2.1 s" in k.fit.note, k.notes


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
def test_noise_only_gets_no_half_recovery_slope_or_overshoot(seed):
    """SmO2 65 % ± 0.01 and no response (the tester's flatnoise.csv): before the fix a
    half-recovery (0.28 s there) whenever the end fell below the baseline by any amount."""
    (k,) = analyse(_one_recovery(noise=0.01, seed=seed, base=65.0, nadir=65.0)).intervals
    got = (k.half_recovery_s, k.peak_reox_slope_per_s, k.overshoot)
    assert all(math.isnan(v) for v in got), got
    assert any("no response to recover from" in n for n in k.notes), k.notes


def test_windows_longer_than_the_work_or_recovery_allow_are_refused(session_file, tmp_path, capsys):
    """--smooth-s 1e9 gave a nadir above the end value and half-recovery 0.0 s; an --end-s
    longer than the work averaged the rest before it. Now one line, exit 2."""
    out = ["--out", str(tmp_path)]
    err = bad([str(session_file), "--smooth-s", "1e9", *out], capsys)
    assert "--smooth-s 1e+09 s is longer than 0.2 × its work (88.0 s): allowed up to 17.6 s" in err
    err = bad([str(session_file), "--smooth-s", "7", *out], capsys)
    assert "0.2 × its recovery window (29.9 s): allowed up to 5.99 s" in err
    err = bad([str(session_file), "--end-s", "100", *out], capsys)
    assert "--end-s 100 s is longer than the work (88.0 s)" in err
    assert not list(tmp_path.iterdir())
