"""Validation against a reference device (host.validate, host.agreement,
host.validate_report, host.validate_cli): on pairs made here with a known lag, bias and
noise, the lag, the bias and the limits of agreement come back; the statistics are
cross-checked against independent implementations (statsmodels' TOST, the approximate
Bland–Altman 1999 CI, Monte Carlo coverage); bad inputs are one line and exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from host.agreement import Z_975, bland_altman, lin_ccc, tost_paired
from host.alignment import resample
from host.recording import Channel, Recording
from host.session import DatasetError, SessionRecord
from host.snirf_writer import write_session
from host.validate import ValidationError, validate
from host.validate_cli import main_args
from host.validate_report import markdown, to_json, write_report

REPO = Path(__file__).resolve().parent.parent
RATE_HZ = 10.0


def reference_signal(t_s: np.ndarray) -> np.ndarray:
    """A made-up SmO2-like trace, %: slow waves and a 60 s exercise bout every 120 s
    (falls with τ = 8 s), so the cross-correlation has one clear peak."""
    phase = t_s % 120.0
    work = (phase > 60.0) * (1.0 - np.exp(-np.clip(phase - 60.0, 0, None) / 8.0))
    return (
        60.0
        + 8.0 * np.sin(2 * np.pi * t_s / 97.0)
        + 5.0 * np.sin(2 * np.pi * t_s / 31.0 + 1.0)
        - 15.0 * work
    )


def make_pair(
    *,
    lag_s: float = 3.7,
    bias: float = 2.5,
    noise_sd: float = 1.0,
    seconds: float = 300.0,
    seed: int = 1,
    quantity: str = "smo2",
    unit: str = "%",
    device_relative: bool = False,
    reference_offset: float = 0.0,
    device_provenance: str = "simulated",
    reference_provenance: str = "human",
    device_metadata: dict | None = None,
    reference_metadata: dict | None = None,
    starts: tuple[datetime | None, datetime | None] = (None, None),
) -> tuple[Recording, Recording]:
    """(device, reference): device(t) = reference(t − lag_s) + bias + N(0, noise_sd²)."""
    n = int(seconds * RATE_HZ)
    t = np.arange(n) / RATE_HZ
    rng = np.random.default_rng(seed)
    ref_values = reference_signal(t) + reference_offset
    dev_values = reference_signal(t - lag_s) + bias + rng.normal(0.0, noise_sd, n)
    reference = Recording(
        Path("reference.csv"),
        "moxy-csv",
        "1",
        t,
        (Channel("SmO2 Live" if quantity == "smo2" else "HHb", quantity, unit, ref_values),),
        provenance=reference_provenance,
        start_utc=starts[1],
        metadata=dict(reference_metadata or {}),
    )
    device = Recording(
        Path("device.snirf"),
        "nirs-fatigue-session",
        "1",
        t,
        (Channel("device " + quantity, quantity, unit, dev_values, relative=device_relative),),
        provenance=device_provenance,
        start_utc=starts[0],
        metadata=dict(device_metadata or {}),
    )
    return device, reference


# -- known lag, bias and noise ----------------------------------------------------------


@pytest.mark.parametrize("lag_s", [3.73, -12.34])
def test_known_lag_bias_and_noise_come_back_sample_by_sample(lag_s):
    noise_sd, bias = 1.0, 2.5
    device, reference = make_pair(lag_s=lag_s, bias=bias, noise_sd=noise_sd, seconds=200)
    v = validate(device, reference, quantity="smo2", block_s=0)
    assert abs(v.alignment.lag_s - lag_s) <= 1 / RATE_HZ  # within one sample
    g = v.agreement
    assert g.bias_ci[0] < bias < g.bias_ci[1]
    # LoA close to bias ± 1.96·SD of the noise (SD's sampling error is ~1.6 % at n ≈ 1900)
    assert g.loa[0] == pytest.approx(bias - Z_975 * noise_sd, abs=0.1 * noise_sd)
    assert g.loa[1] == pytest.approx(bias + Z_975 * noise_sd, abs=0.1 * noise_sd)
    assert g.loa_low_ci[0] < bias - Z_975 * noise_sd < g.loa_low_ci[1]
    assert g.loa_high_ci[0] < bias + Z_975 * noise_sd < g.loa_high_ci[1]
    assert g.n > 1800
    # the device's noise is in the means too, which tilts the slope a little (Bland &
    # Altman 1999 §3.2); that is not reported as a proportional bias
    assert not g.proportional and abs(g.trend) < 0.5 * noise_sd
    assert any("too narrow" in w for w in v.warnings)  # samples are said not independent


def test_block_means_are_the_default_and_their_limits_are_those_of_means():
    noise_sd, bias = 1.0, -1.5
    device, reference = make_pair(bias=bias, noise_sd=noise_sd, seconds=600, seed=3)
    v = validate(device, reference, quantity="smo2")  # block_s = 10 s
    assert v.block_s == 10.0
    assert v.agreement.n in (59, 60)
    sd_of_means = noise_sd / np.sqrt(10 * RATE_HZ)  # white noise averaged over 100 samples
    assert v.agreement.bias_ci[0] < bias < v.agreement.bias_ci[1]
    assert v.agreement.sd == pytest.approx(sd_of_means, rel=0.25)
    assert not any("too narrow" in w for w in v.warnings)
    text = markdown(v)
    assert "means of" in text and "10 s blocks" in text and "autocorrelated" in text


def test_a_gain_difference_is_reported_as_proportional_bias():
    device, reference = make_pair(bias=0.0, noise_sd=0.5, seconds=600)
    gain = 1.2
    scaled = Recording(
        device.source,
        device.format,
        "1",
        device.t_s,
        (Channel("SmO2", "smo2", "%", 60.0 + gain * (device.channels[0].values - 60.0)),),
    )
    v = validate(scaled, reference, quantity="smo2")
    # d = (g − 1)(x − 60), mean = ((g + 1)x − 60(g − 1))/2 → slope 2(g − 1)/(g + 1)
    assert v.agreement.slope == pytest.approx(2 * (gain - 1) / (gain + 1), rel=0.02)
    assert v.agreement.proportional
    assert any(w.startswith("proportional bias") for w in v.warnings)
    plain = validate(device, reference, quantity="smo2")
    assert plain.agreement.slope_ci[0] < 0.0 < plain.agreement.slope_ci[1]
    assert not plain.agreement.proportional


def test_tost_equivalent_with_a_wide_bound_and_not_with_a_tight_one():
    device, reference = make_pair(bias=2.5, noise_sd=1.0, seconds=400)
    wide = validate(device, reference, quantity="smo2", equivalence_bound=4.0).agreement.tost
    tight = validate(device, reference, quantity="smo2", equivalence_bound=2.0).agreement.tost
    assert wide["equivalent"] and wide["p"] < 0.05
    assert wide["ci90"][0] > -4.0 and wide["ci90"][1] < 4.0
    assert not tight["equivalent"] and tight["p"] > 0.05


def test_tost_p_value_matches_statsmodels():
    from statsmodels.stats.weightstats import ttost_paired

    rng = np.random.default_rng(7)
    ref = rng.normal(50, 5, 40)
    dev = ref + 0.8 + rng.normal(0, 1.5, 40)
    for bound in (0.5, 1.0, 2.0):
        ours = tost_paired(dev, ref, bound)
        p_statsmodels = ttost_paired(dev, ref, -bound, bound)[0]
        assert ours["p"] == pytest.approx(p_statsmodels, rel=1e-9)


def test_icc_and_ccc_high_for_low_noise_and_lower_for_high_noise():
    low = validate(*make_pair(noise_sd=0.3, bias=0.5), quantity="smo2", block_s=2).agreement
    high = validate(*make_pair(noise_sd=25.0, bias=0.5), quantity="smo2", block_s=2).agreement
    assert low.icc > 0.95 and low.ccc > 0.95
    assert high.icc < low.icc - 0.1 and high.ccc < low.ccc - 0.1
    assert low.icc_ci[0] < low.icc < low.icc_ci[1]
    assert low.ccc_ci[0] < low.ccc < low.ccc_ci[1]
    assert low.icc_label in ("ICC(A,1)", "ICC2")


# -- the statistics against independent implementations ---------------------------------


def test_loa_ci_exact_is_close_to_the_approximate_formula_for_large_n():
    rng = np.random.default_rng(0)
    d = rng.normal(1.0, 2.0, 2000)
    ba = bland_altman(d, np.zeros_like(d))
    n, s = d.size, d.std(ddof=1)
    # Bland & Altman 1999, §4.2: SE of a limit ≈ s·√(1/n + z²/(2(n − 1)))
    half = stats.t.ppf(0.975, n - 1) * s * np.sqrt(1 / n + Z_975**2 / (2 * (n - 1)))
    assert ba["loa_high_ci"] == pytest.approx((ba["loa"][1] - half, ba["loa"][1] + half), rel=3e-3)
    assert ba["loa_low_ci"] == pytest.approx((ba["loa"][0] - half, ba["loa"][0] + half), rel=3e-3)


def test_loa_ci_covers_the_true_limit_95_percent_of_the_time_at_small_n():
    rng = np.random.default_rng(11)
    true_high = 1.0 + Z_975 * 2.0
    hits = 0
    runs = 2000
    for _ in range(runs):
        d = rng.normal(1.0, 2.0, 12)
        lo, hi = bland_altman(d, np.zeros_like(d))["loa_high_ci"]
        hits += lo < true_high < hi
    assert 0.935 < hits / runs < 0.965  # binomial SD at 2000 runs: 0.5 %


def test_lin_ccc_matches_its_msd_form_and_its_ci_covers_95_percent():
    rng = np.random.default_rng(5)
    x = rng.normal(10, 2, 300)
    y = 0.9 * x + 1.5 + rng.normal(0, 1, 300)
    rc, _ = lin_ccc(x, y)
    # Lin 1989 eq. 1: ρc = 1 − E[(x − y)²] / (σx² + σy² + (μx − μy)²), an independent form
    msd = np.mean((x - y) ** 2)
    assert rc == pytest.approx(1 - msd / (x.var() + y.var() + (x.mean() - y.mean()) ** 2))
    # Coverage of the CI: the population ρc of (x, 0.9x + 1.5 + e) with σx = 2, σe = 1
    sx2, sy2, sxy, shift = 4.0, 0.81 * 4 + 1, 0.9 * 4, 10 - (0.9 * 10 + 1.5)
    true = 2 * sxy / (sx2 + sy2 + shift**2)
    hits, runs = 0, 1000
    for _ in range(runs):
        x = rng.normal(10, 2, 100)
        y = 0.9 * x + 1.5 + rng.normal(0, 1, 100)
        lo, hi = lin_ccc(x, y)[1]
        hits += lo < true < hi
    assert 0.93 < hits / runs < 0.97


# -- resampling, baseline, clock, labels ---------------------------------------------------


def test_resample_keeps_gaps_out_and_bridges_one_lost_sample():
    # 0.3 lost (bridged); 0.6 NaN; 0.7 → 1.7 a dropout between two valid samples
    t = np.array([0.0, 0.1, 0.2, 0.4, 0.5, 0.6, 0.7, 1.7, 1.8, 1.9])
    v = np.array([0.0, 1.0, 2.0, 4.0, 5.0, np.nan, 7.0, 17.0, 18.0, 19.0])
    k0, out = resample(t, v, 10.0)
    assert k0 == 0 and out.size == 20
    assert out[3] == pytest.approx(3.0)  # one lost sample: interpolated
    assert np.isnan(out[6])  # NaN stays NaN
    assert out[5] == 5.0 and out[7] == 7.0  # valid samples next to a NaN keep their value
    assert np.all(np.isnan(out[8:17]))  # the dropout: nothing made up
    assert out[17:].tolist() == pytest.approx([17.0, 18.0, 19.0])
    k0, shifted = resample(t, v, 10.0, offset_s=0.05)  # half a step later: between samples
    assert k0 == 1 and shifted[0] == pytest.approx(0.5)


def test_relative_channels_are_compared_as_changes_from_a_common_baseline():
    # the reference reads absolute µM 40 above; the device gives changes: offsets not compared
    device, reference = make_pair(
        quantity="hhb", unit="uM", device_relative=True, reference_offset=40.0, bias=0.0
    )
    v = validate(device, reference)  # hhb is the default quantity
    assert v.quantity == "hhb" and v.changes
    assert v.reference.baseline == pytest.approx(40.0 + 60.0, abs=8.0)
    # No true bias, but each baseline mean is an estimate: the device's noise over its 300
    # baseline samples (SD 1/√300 ≈ 0.06) shifts every difference alike
    assert abs(v.agreement.bias) < 3 / np.sqrt(300)
    assert "changes from each device's own mean over the first 30 s" in markdown(v)


def test_clock_offset_from_start_times_then_lag():
    """The device was started 100 s after the reference (beyond ±30 s): the files' start
    times put it on the reference's time base, then the lag is found."""
    start = datetime(2026, 5, 4, 10, 0, tzinfo=timezone.utc)
    t_ref = np.arange(4000) / RATE_HZ
    t_dev = np.arange(2500) / RATE_HZ
    values = reference_signal(t_dev + 100.0 - (-2.0))  # device(t) = reference(t + 2 s)
    reference = Recording(
        Path("ref.csv"),
        "moxy-csv",
        "1",
        t_ref,
        (Channel("SmO2", "smo2", "%", reference_signal(t_ref)),),
        start_utc=start,
    )
    device = Recording(
        Path("dev.snirf"),
        "x",
        "1",
        t_dev,
        (Channel("SmO2", "smo2", "%", values),),
        start_utc=start + timedelta(seconds=100),
    )
    v = validate(device, reference)
    assert v.alignment.clock_known and v.alignment.clock_offset_s == 100.0
    assert v.alignment.lag_s == pytest.approx(-2.0, abs=1 / RATE_HZ)
    assert v.alignment.overlap_start_s == pytest.approx(102.0, abs=0.2)  # 100 s + 2 s
    assert v.agreement.bias == pytest.approx(0.0, abs=1e-9)
    unknown = Recording(device.source, "x", "1", t_dev, device.channels)  # no start time
    assert abs(validate(unknown, reference).alignment.lag_s - (-2.0)) > 1


def test_simulated_data_is_labelled_and_metadata_printed_or_said_missing():
    device, reference = make_pair(
        device_metadata={"adipose_tissue_thickness_mm": 4.5},
        reference_metadata={"probe_pressure_mmhg": 20},
    )
    v = validate(device, reference, quantity="smo2")
    text, data = markdown(v), to_json(v)
    assert "SIMULATED" in text.splitlines()[0] and data["label"] == "SIMULATED data"
    assert "| adipose tissue thickness (mm) | 4.5 | missing" in text
    assert "| probe pressure (mmHg) | missing (no `probe_pressure_mmhg` in the file) | 20 |" in text
    assert data["device"]["metadata"]["adipose_tissue_thickness_mm"] == 4.5
    assert data["reference"]["metadata"]["adipose_tissue_thickness_mm"] is None
    human = validate(*make_pair(device_provenance="human"), quantity="smo2")
    assert "SIMULATED" not in markdown(human) and to_json(human)["simulated"] is False


def test_report_files_and_json_hold_every_figure(tmp_path):
    v = validate(*make_pair(), quantity="smo2", equivalence_bound=4.0)
    paths = write_report(v, tmp_path / "pair")
    data = json.loads(paths["json"].read_text())
    ba = data["bland_altman"]
    assert ba["bias"] == pytest.approx(v.agreement.bias)
    assert len(ba["loa_low_ci95"]) == 2 and "Carkeet" in ba["loa_ci_method"]
    assert data["alignment"]["lag_sign"].startswith("positive: device late")
    assert data["tost"]["run"] and data["tost"]["equivalent"]
    for key in ("bland_altman", "overlay"):
        assert paths[key].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(DatasetError, match="exists"):
        write_report(v, tmp_path / "pair")


# -- bad inputs ----------------------------------------------------------------------------


def test_bad_inputs_are_one_clear_line():
    device, reference = make_pair()
    with pytest.raises(ValidationError, match=r"cannot compare hhb: device.snirf .* has smo2"):
        validate(device, reference, quantity="hhb")
    flat = Recording(
        reference.source,
        "moxy-csv",
        "1",
        reference.t_s,
        (Channel("SmO2", "smo2", "%", np.full(reference.n_samples, 55.0)),),
    )
    with pytest.raises(ValidationError, match="constant .*nothing to align"):
        validate(device, flat)
    later = Recording(device.source, device.format, "1", device.t_s + 1000.0, device.channels)
    with pytest.raises(ValidationError, match="no overlap after alignment"):
        validate(later, reference)
    for bound in (0.0, -1.0, float("nan")):
        with pytest.raises(
            ValidationError,
            match=r"equivalence_bound \(--equivalence-bound\) must be a finite number > 0",
        ):
            validate(device, reference, equivalence_bound=bound)
    with pytest.raises(
        ValidationError, match=r"block_s \(--block-s\) must be .* 0, or >= 1/rate_hz"
    ):
        validate(device, reference, block_s=0.05)
    with pytest.raises(ValidationError, match=r"rate_hz \(--rate-hz\) must be .* to 100"):
        validate(device, reference, rate_hz=1e7)  # ~30 GB for an hour: refused up front
    with pytest.raises(ValidationError, match=r"rate_hz \(--rate-hz\) must be .*from 0.1"):
        validate(device, reference, rate_hz=1e-9)  # it blamed --block-s
    # A lag search longer than the recordings stops at their length (it crashed from about
    # 200 s, and 1e9 s tried to allocate 149 GiB), and finds the same lag.
    short = validate(device, reference, max_lag_s=30.0)
    for far in (3600.0, 1e9):
        v = validate(device, reference, max_lag_s=far)
        assert v.alignment.lag_s == short.alignment.lag_s and not v.alignment.at_bound
    other_unit = Recording(
        reference.source,
        "x",
        "1",
        reference.t_s,
        (Channel("SmO2", "smo2", "a.u.", reference.channels[0].values),),
    )
    with pytest.raises(ValidationError, match="in different units"):
        validate(device, other_unit)


# -- the command ---------------------------------------------------------------------------


def session(hhb_um: np.ndarray, *, provenance: str = "simulated", start=None) -> SessionRecord:
    """A project session file's record with ``hhb_um`` as its ΔHHb, 10 Hz."""
    n = hhb_um.size
    wl = (750.0, 810.0, 870.0)
    return SessionRecord(
        subject_id="S01",
        protocol="upper_limb",
        side="left",
        provenance=provenance,
        wavelengths_nm=wl,
        t_s=np.arange(n) / RATE_HZ,
        intensity_v=np.ones((n, 3)),
        dark_v=np.zeros(n),
        d_od=np.zeros((n, 3)),
        d_hbo2_um=-hhb_um,
        d_hhb_um=hhb_um,
        flags=np.zeros(n, dtype=np.int64),
        borg_t_s=np.array([0.0]),
        borg=np.array([0], dtype=np.int64),
        level=np.zeros(n, dtype=np.int64),
        level_names=("none", "light", "moderate", "high", "exhausted"),
        borg_thresholds=(1, 3, 5, 7, 10),
        phases=[("baseline", 0.0, 30.0), ("hold", 30.0, n / RATE_HZ - 30.0)],
        task_failure_s=float("nan"),
        start_utc=start,
    )


@pytest.fixture
def files(tmp_path):
    t = np.arange(3000) / RATE_HZ
    rng = np.random.default_rng(2)
    ref = write_session(tmp_path / "ref.snirf", session(reference_signal(t) - 60.0))
    dev_hhb = reference_signal(t - 4.0) - 60.0 + rng.normal(0, 0.5, t.size)
    dev = write_session(tmp_path / "dev.snirf", session(dev_hhb))
    return dev, ref


def test_command_writes_the_report(files, tmp_path, capsys):
    dev, ref = files
    out = tmp_path / "report"
    assert main_args([str(dev), str(ref), "--equivalence-bound", "1", "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "lag +4.00 s" in said and "SIMULATED data" in said and "equivalent" in said
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "dev_vs_ref_hhb.bland_altman.png",
        "dev_vs_ref_hhb.overlay.png",
        "dev_vs_ref_hhb.validation.json",
        "dev_vs_ref_hhb.validation.md",
    ]


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("error: ")
    return err[0]


def test_command_bad_inputs_are_one_line_and_exit_2(files, tmp_path, capsys):
    dev, ref = files
    assert main_args([str(dev), str(ref), "--quantity", "smo2"]) == 2
    line = _one_line_error(capsys)
    assert "cannot compare smo2" in line and "dev.snirf" in line and "ref.snirf" in line
    assert "hhb/hbo2/thb" in line
    flat = write_session(tmp_path / "flat.snirf", session(np.full(3000, 1.0)))
    assert main_args([str(dev), str(flat)]) == 2
    assert "constant" in _one_line_error(capsys)
    start = datetime(2026, 5, 4, 10, 0, tzinfo=timezone.utc)
    early = write_session(
        tmp_path / "early.snirf", session(np.sin(np.arange(3000) / 50), start=start)
    )
    late = write_session(
        tmp_path / "late.snirf",
        session(np.sin(np.arange(3000) / 50), start=start + timedelta(hours=1)),
    )
    assert main_args([str(late), str(early)]) == 2
    assert "no overlap after alignment" in _one_line_error(capsys)
    for bound in ("0", "-2", "nan", "x"):
        with pytest.raises(SystemExit) as stop:
            main_args([str(dev), str(ref), "--equivalence-bound", bound])
        assert stop.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert "argument --equivalence-bound: must be a finite number > 0" in err[-1]


def test_help_gives_every_option_its_default():
    from tests.test_cli_help import ENV, entries

    done = subprocess.run(
        [sys.executable, "-m", "host.validate_cli", "--help"],
        cwd=REPO,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    listed = entries(done.stdout)
    assert len(listed) >= 10
    for invocation, help_line in listed:
        assert help_line, invocation
        if invocation.startswith("--") and " " in invocation:
            assert "default" in help_line, invocation
