"""Muscle-oxygen kinetics of work intervals (holds, laps), as physiologists report them.

:func:`analyse` takes one :class:`host.recording.Recording`, one quantity (SmO2 in %, or
ΔHbO2/ΔHHb/ΔtHb in µM) and the work intervals, and gives per interval (and for their
ensemble average) the numbers below; :func:`host.kinetics_cli.table_rows` turns them into
rows whose column names carry the unit. Times ``u`` are seconds after the end of work.

Definitions (each window is a setting of :class:`KineticsSettings`, stated in the table):

- **Resting baseline**: mean of the samples in the ``baseline_s`` before the work onset
  (not reaching back into an earlier work interval or before the recording).
- **Nadir** (the lowest value) for SmO2, HbO2 and tHb, which fall during work; **peak**
  (the highest) for HHb, which rises: the extreme of the signal smoothed by a centred
  ``smooth_s`` running mean, during work; time to it from the work onset.
- **Desaturation slope**: least-squares line through the first ``desat_s`` of work,
  units per s (negative when the quantity falls).
- **End-of-exercise value**: mean of the last ``end_s`` of work.
- **Half-recovery time**: from the end of work to when the smoothed signal first comes
  half-way back from the end value to the baseline (linear interpolation between
  samples; not across a gap, :data:`host.kinetics_fit.GAP_SAMPLE_INTERVALS`: NaN and a
  note). Chance et al. 1992 (Am. J. Physiol. 262:C766–C775) introduced the
  half-recovery time of muscle reoxygenation. mnirs' ``response_time()`` measures the
  fraction of the way to the recovery's extreme instead; here it is to the baseline.
- **Peak reoxygenation slope**: the steepest least-squares slope in the direction of
  recovery over a centred ``slope_window_s`` window lying wholly inside the recovery
  window (mnirs' ``peak_slope()``: rolling least-squares slope, ``span`` in s).
- **Recovery fit**: ``y(u) = start + A·(1 − exp(−(u − TD)/τ))`` for ``u ≥ TD`` and
  ``start`` before, with ``start`` free (mnirs' ``A``; near the end value, which is
  reported apart, unless the release itself moves the signal), fitted
  (:func:`scipy.optimize.curve_fit`, trust-region reflective, TD ≥ 0) from the end of
  work to ``fit_after_peak_s`` after the recovery's extreme (or the end of the recovery
  window); the four-parameter mono-exponential with time delay
  of DeLorey, Kowalchuk & Paterson 2003 (J. Appl. Physiol. 95:113–120) and of mnirs'
  ``monoexponential()``, whose ``end_fit_span`` (20 s) is ``fit_after_peak_s``. The 95 %
  confidence intervals are ``estimate ± t(0.975, n − 4)·√diag(cov)`` from the fit's
  covariance: they assume independent errors, and NIRS noise (pulse, breathing, drift)
  is not, so they are too narrow on real traces. The fitted half time is TD + τ·ln 2.
- **Overshoot**: how far the smoothed signal goes past the baseline in the direction of
  recovery (above it for SmO2/HbO2/tHb, below it for HHb), the hyperaemic overshoot
  (Barstow 2019, J. Appl. Physiol. 126:1360–1376); negative when it never gets back.
- **Recovery window**: from the end of work for ``recovery_s``, or to the next work
  interval or the end of the recording if sooner; shorter than ``min_recovery_s`` is an
  error.
- **Ensemble**: the intervals aligned at their ends, each interpolated linearly onto one
  grid at the recording's median sample interval, from the shortest work's length before
  the end to the shortest recovery window after it (not across a dropout longer than three
  sample intervals), and averaged (Lamarra et al. 1987, J. Appl. Physiol.
  62:2003–2012, for gas-exchange transitions; mnirs ``extract_intervals(event_groups =
  "ensemble")``). Its baseline is the mean of the intervals' baselines; when the works'
  lengths differ its work part is the last (shortest work) seconds of each, so its
  desaturation slope and time to nadir are not measured from each onset (said in notes).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace

import numpy as np

from host.kinetics_fit import (
    GROSS_SPREADS,
    MIN_AMPLITUDE_SDS,
    MIN_WINDOW_SAMPLES,
    RecoveryFit,
    crossing,
    fit_recovery,
    gap_at,
    gap_bound_s,
    gap_spanned,
    gross_outliers,
    judged_across_gaps,
    mean_in,
    no_fit,
    rolling_slopes,
    slope_in,
    smooth,
)
from host.kinetics_intervals import QUANTITY_CHOICES, pick_channel, work_intervals
from host.recording import Channel, Interval, Recording
from host.session import DatasetError

__all__ = [
    "QUANTITY_CHOICES",
    "Kinetics",
    "KineticsResult",
    "KineticsSettings",
    "RecoveryFit",
    "analyse",
    "pick_channel",
    "work_intervals",
]

#: Quantities that rise during work (deoxyhaemoglobin); the others fall.
RISES_DURING_WORK = frozenset({"hhb"})
#: Fewest samples for the four-parameter recovery fit (five per parameter: a choice).
MIN_FIT_SAMPLES = 20
#: The longest centred running mean, as a share of the work and of the recovery window: a
#: wider one smears the nadir into the recovery and the recovery into the work (a choice:
#: the default 2 s passes for holds and recovery windows of 10 s or more).
MAX_SMOOTH_SHARE = 0.2


@dataclass(frozen=True)
class KineticsSettings:
    """The stated windows, s (see the module docstring for where each is used).

    Defaults: ``baseline_s`` 20 s (the seed protocol's resting baseline), ``desat_s``
    10 s, ``end_s`` 2 s, ``smooth_s`` 2 s (spans one to three heart beats),
    ``slope_window_s`` 5 s, ``recovery_s`` 60 s, ``fit_after_peak_s`` 20 s (mnirs'
    ``end_fit_span``), ``min_recovery_s`` 10 s: choices; the table states the windows.
    """

    baseline_s: float = 20.0
    desat_s: float = 10.0
    end_s: float = 2.0
    smooth_s: float = 2.0
    slope_window_s: float = 5.0
    recovery_s: float = 60.0
    fit_after_peak_s: float = 20.0
    min_recovery_s: float = 10.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{f.name} must be a finite number of seconds > 0, got {value!r}")
        if self.min_recovery_s > self.recovery_s:
            raise ValueError(
                f"min_recovery_s ({self.min_recovery_s:g} s) must not exceed recovery_s "
                f"({self.recovery_s:g} s)"
            )


@dataclass(frozen=True)
class Kinetics:
    """One work interval's kinetics (or the ensemble's), in the signal's unit.

    Times ending ``_at_s`` are on the analysed time base (the recording's, or for the
    ensemble s from the end of work); ``label``/``number`` name the interval.
    """

    label: str
    number: str
    work_on_s: float
    work_off_s: float
    baseline: float
    baseline_from_s: float
    baseline_to_s: float
    extreme_kind: str
    extreme: float
    extreme_at_s: float
    desat_slope_per_s: float
    end: float
    half_recovery_target: float
    half_recovery_s: float
    peak_reox_slope_per_s: float
    peak_reox_slope_at_s: float
    overshoot: float
    overshoot_at_s: float
    recovery_to_s: float
    fit: RecoveryFit
    n_averaged: int = 1
    notes: tuple[str, ...] = ()
    baseline_sd: float = math.nan


@dataclass
class KineticsResult:
    """What :func:`analyse` found in one recording.

    ``ensemble_u_s`` (shape (k,)), ``ensemble_reps`` (shape (n_intervals, k)) and
    ``ensemble_mean`` (shape (k,)) are the aligned curves (None with one interval).
    """

    recording: Recording
    quantity: str
    channel: Channel
    settings: KineticsSettings
    intervals: list[Kinetics]
    ensemble: Kinetics | None = None
    ensemble_u_s: np.ndarray | None = None
    ensemble_reps: np.ndarray | None = None
    ensemble_mean: np.ndarray | None = None


# -------------------------------------------------------------------------- one interval


def interval_kinetics(
    t: np.ndarray,
    y: np.ndarray,
    work: Interval,
    number: str,
    *,
    falls: bool,
    settings: KineticsSettings,
    after_previous_s: float,
    before_next_s: float,
    where: Recording,
    baseline: float | None = None,
    baseline_sd: float = math.nan,
) -> Kinetics:
    """Kinetics of one work interval of ``y`` (shape (n,), on times ``t``, s).

    ``falls``: the quantity falls during work (all but HHb). ``after_previous_s``: the
    baseline window does not reach before this (the previous work's end or the first
    sample); ``before_next_s``: the recovery window ends here at the latest. ``baseline``:
    a given baseline value (the ensemble's) instead of a window's mean, and ``baseline_sd``
    its noise (the SD of the baseline window's samples otherwise).

    Raises:
        DatasetError: (naming the file and sensor of ``where``, the recording ``t`` and
            ``y`` come from) a window without enough samples, or a recovery window
            shorter than ``settings.min_recovery_s``, a ``smooth_s`` longer than
            MAX_SMOOTH_SHARE of the work or of the recovery window, or an ``end_s`` longer
            than the work.
    """
    s = settings
    on, off = work.onset_s, work.end_s
    name = f"work interval {number} {work.label!r} ({on:g}–{off:g} s)"
    notes: list[str] = []

    def bad(problem: str) -> DatasetError:
        return DatasetError(where.source, f"sensor {where.sensor}: {name}: {problem}")

    if baseline is None:
        b_lo = max(on - s.baseline_s, after_previous_s)
        baseline, n = mean_in(t, y, b_lo, on)
        if n < MIN_WINDOW_SAMPLES:
            raise bad(
                f"only {n} sample(s) in the baseline window {b_lo:g}–{on:g} s before it "
                f"(at least {MIN_WINDOW_SAMPLES} needed): the work starts too close to the "
                "start of the recording or to the previous work interval"
            )
        if on - b_lo < s.baseline_s - float(np.median(np.diff(t))):
            notes.append(f"baseline window cut to {on - b_lo:.1f} s")
        b_from, b_to = b_lo, on
        in_base = (t >= b_lo) & (t <= on) & np.isfinite(y)
        baseline_sd = float(np.std(y[in_base], ddof=1))
    else:
        b_from = b_to = math.nan
    rec_hi = min(off + s.recovery_s, before_next_s, float(t[-1]))
    if rec_hi - off < s.min_recovery_s:
        until = "the end of the recording" if rec_hi >= float(t[-1]) else "the next work interval"
        raise bad(
            f"only {max(rec_hi - off, 0.0):.1f} s of recovery after it before {until}; "
            f"recovery kinetics need at least {s.min_recovery_s:g} s (--min-recovery-s)"
        )
    if b_to == b_to:  # an interval's own windows (the ensemble's were checked in these)
        for what, length in (("work", off - on), ("recovery window", rec_hi - off)):
            if s.smooth_s > MAX_SMOOTH_SHARE * length:
                raise bad(
                    f"--smooth-s {s.smooth_s:g} s is longer than {MAX_SMOOTH_SHARE:g} × its "
                    f"{what} ({length:.1f} s): allowed up to {MAX_SMOOTH_SHARE * length:.3g} s"
                )
        if s.end_s > off - on:
            raise bad(
                f"--end-s {s.end_s:g} s is longer than the work ({off - on:.1f} s): allowed "
                f"up to {off - on:.3g} s"
            )
    ys = smooth(t, y, s.smooth_s)
    tv = t[np.isfinite(y)]  # the samples with a value, for gaps
    gap_s = gap_bound_s(tv)
    in_work = (t >= on) & (t <= off) & np.isfinite(ys)
    if np.count_nonzero(in_work) < MIN_WINDOW_SAMPLES:
        raise bad(f"fewer than {MIN_WINDOW_SAMPLES} samples with a value during it")
    kind = "nadir" if falls else "peak"
    pick = np.argmin if falls else np.argmax
    k = pick(np.where(in_work, ys, np.inf if falls else -np.inf))
    i, j = np.searchsorted(tv, t[k], side="left"), np.searchsorted(tv, t[k], side="right")
    before = float(tv[i - 1]) if i > 0 else float(t[k])
    after = float(tv[j]) if j < tv.size else float(t[k])
    if max(t[k] - before, after - t[k]) > gap_s:
        notes.append(
            f"the {'nadir' if falls else 'peak'} at {t[k]:.1f} s lies beside or in a gap "
            f"({before:.1f}–{after:.1f} s): the true extreme may lie in it"
        )
    d_hi = min(on + s.desat_s, off)
    if d_hi < on + s.desat_s:
        notes.append(f"work shorter than the desaturation window: slope over {d_hi - on:.1f} s")
    desat, _ = slope_in(t, y, on, d_hi)
    on_gap = gap_at(tv, on, gap_s)
    if on_gap is not None:
        desat = math.nan
        notes.append(
            f"the work's start ({on:.1f} s) lies in a {on_gap[1] - on_gap[0]:.1f}-s gap "
            f"({on_gap[0]:.1f}–{on_gap[1]:.1f} s): the true start is unknown, so no "
            "desaturation slope, and the time to the nadir/peak is from the first sample after it"
        )
    end, n_end = mean_in(t, y, off - s.end_s, off)
    if n_end == 0:
        raise bad(f"no sample with a value in its last {s.end_s:g} s (--end-s)")
    off_gap = gap_at(tv, off, gap_s)
    if off_gap is not None:
        end = math.nan
        notes.append(
            f"the work's end ({off:.1f} s) lies in a {off_gap[1] - off_gap[0]:.1f}-s gap "
            f"({off_gap[0]:.1f}–{off_gap[1]:.1f} s; a gap: valid samples more than "
            f"{gap_s:.2g} s apart): the true end is unknown, so no end-of-work value, "
            "half-recovery or recovery fit"
        )

    in_rec = (t >= off) & (t <= rec_hi) & np.isfinite(ys)
    tr, yr = t[in_rec], ys[in_rec]
    if tr.size < MIN_WINDOW_SAMPLES:
        raise bad(f"fewer than {MIN_WINDOW_SAMPLES} samples with a value in its recovery")
    rises = falls  # the recovery goes back the other way
    target = end + 0.5 * (baseline - end)
    half = math.nan
    # The response must stand out of the resting noise (the fit's rule, MIN_AMPLITUDE_SDS);
    # where the end is unknown (a gap), the nadir/peak stands for it.
    response = (baseline - (end if off_gap is None else float(ys[k]))) * (1 if rises else -1)
    threshold = MIN_AMPLITUDE_SDS * baseline_sd if math.isfinite(baseline_sd) else 0.0
    responded = response > threshold
    if not responded:
        notes.append(
            f"the {'end value' if off_gap is None else kind} differs from the baseline "
            f"by {response:.3g} in the direction of work, not more than {MIN_AMPLITUDE_SDS:g}"
            f" × the baseline's SD {baseline_sd:.3g} ({threshold:.3g}): no response to recover "
            "from, so no half-recovery, peak reoxygenation slope or overshoot"
        )
    elif off_gap is None:
        half = crossing(tr, yr, target, rises) - off
        gap = gap_spanned(tv, off + half, gap_s) if math.isfinite(half) else None
        if not math.isfinite(half):
            notes.append("not half-way back to baseline within the recovery window")
        elif gap is not None:
            notes.append(
                f"half-way crossed during a {gap[1] - gap[0]:.1f}-s gap ({gap[0]:.1f}–"
                f"{gap[1]:.1f} s; a gap: valid samples more than {gap_s:.2g} s apart): "
                "half-recovery not given"
            )
            half = math.nan
    st, sl = rolling_slopes(t, y, s.slope_window_s, off, rec_hi, gap_s)
    j = (np.argmax(sl) if rises else np.argmin(sl)) if sl.size and responded else -1
    if j < 0 and responded:
        notes.append(
            f"no {s.slope_window_s:g}-s slope window in the recovery without a gap (valid "
            f"samples more than {gap_s:.2g} s apart): no peak reoxygenation slope"
        )
    m = int(np.argmax(yr) if rises else np.argmin(yr))
    over = (yr[m] - baseline) * (1 if rises else -1) if responded else math.nan

    fit_hi = min(rec_hi, float(tr[m]) + s.fit_after_peak_s)
    sel = (t >= off) & (t <= fit_hi) & np.isfinite(y)
    if np.count_nonzero(sel) < MIN_FIT_SAMPLES:
        raise bad(
            f"only {np.count_nonzero(sel)} samples in its recovery fit window "
            f"{off:g}–{fit_hi:g} s; the fit needs at least {MIN_FIT_SAMPLES}"
        )
    fit = fit_recovery(t[sel] - off, y[sel], half, rises)
    if off_gap is not None:
        fit = no_fit(fit.window_s, fit.n, fit.rmse, "")
    else:
        fit = judged_across_gaps(fit, t[sel], ys[sel], abs(float(yr[m]) - end), gap_s)
    if fit.note:
        notes.append(fit.note)
    return Kinetics(
        label=work.label,
        number=number,
        work_on_s=on,
        work_off_s=off,
        baseline=float(baseline),
        baseline_from_s=b_from,
        baseline_to_s=b_to,
        baseline_sd=baseline_sd,
        extreme_kind="nadir" if falls else "peak",
        extreme=float(ys[k]),
        extreme_at_s=float(t[k]),
        desat_slope_per_s=desat,
        end=end,
        half_recovery_target=target,
        half_recovery_s=half,
        peak_reox_slope_per_s=float(sl[j]) if j >= 0 else math.nan,
        peak_reox_slope_at_s=float(st[j]) if j >= 0 else math.nan,
        overshoot=float(over),
        overshoot_at_s=float(tr[m]),
        recovery_to_s=rec_hi,
        fit=fit,
        notes=tuple(notes),
    )


# ------------------------------------------------------------------------- a recording


_MAX_GAP_SAMPLES = 3


def _aligned(t: np.ndarray, y: np.ndarray, at_s: np.ndarray, dt: float) -> np.ndarray:
    """``y`` interpolated linearly at ``at_s``; NaN outside it and across dropouts."""
    ok = np.isfinite(y)
    tf, yf = t[ok], y[ok]
    out = np.interp(at_s, tf, yf, left=np.nan, right=np.nan)
    k = np.clip(np.searchsorted(tf, at_s), 1, tf.size - 1)
    out[(tf[k] - tf[k - 1]) > _MAX_GAP_SAMPLES * dt] = np.nan
    return out


def _ensemble(
    recording: Recording, y: np.ndarray, kin: list[Kinetics], falls: bool, s: KineticsSettings
) -> tuple[Kinetics, np.ndarray, np.ndarray, np.ndarray]:
    """The intervals aligned at their ends and averaged, and the average's kinetics."""
    t = recording.t_s
    dt = float(np.median(np.diff(t)))
    works = [k.work_off_s - k.work_on_s for k in kin]
    w_min = min(works)
    r_min = min(k.recovery_to_s - k.work_off_s for k in kin)
    u = np.arange(-math.floor(w_min / dt + 1e-9), math.floor(r_min / dt + 1e-9) + 1) * dt
    reps = np.vstack([_aligned(t, y, k.work_off_s + u, dt) for k in kin])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a column with no value → NaN
        mean = np.nanmean(reps, axis=0)
    notes = [f"mean of {len(kin)} intervals aligned at their ends; times from the end"]
    if max(works) - w_min > dt:
        notes.append(
            f"work lengths differ ({w_min:.1f}–{max(works):.1f} s): the ensemble's work part "
            f"is the last {w_min:.1f} s of each"
        )
    iv = Interval(f"ensemble of {len(kin)}", float(u[0]), float(-u[0]))
    ens = interval_kinetics(
        u,
        mean,
        iv,
        "ensemble",
        falls=falls,
        settings=replace(s, min_recovery_s=min(s.min_recovery_s, float(u[-1]))),
        after_previous_s=float(u[0]),
        before_next_s=float(u[-1]),
        where=recording,
        baseline=float(np.mean([k.baseline for k in kin])),
        # The mean of n baselines: its noise is their RMS SD over √n.
        baseline_sd=math.sqrt(float(np.mean([k.baseline_sd**2 for k in kin])) / len(kin)),
    )
    notes.append("baseline: the mean of the intervals' baselines")
    ens = replace(ens, n_averaged=len(kin), notes=(*notes, *ens.notes))
    return ens, u, reps, mean


def analyse(
    recording: Recording,
    *,
    quantity: str | None = None,
    select: Sequence[str] | None = None,
    work: Sequence[tuple[float, float]] | None = None,
    settings: KineticsSettings | None = None,
) -> KineticsResult:
    """Kinetics of each work interval of ``recording``, and of their ensemble average.

    Args:
        recording: One sensor's recording (not modified).
        quantity: See :func:`pick_channel` (default: SmO2 if present, else HbO2).
        select, work: Which intervals are work (:func:`work_intervals`).
        settings: The windows (default :class:`KineticsSettings`).

    Raises:
        DatasetError: No usable channel, no or bad work interval, too little data in a
            window, a recovery too short to fit (one line naming file, sensor, interval).
    """
    s = settings or KineticsSettings()
    quantity, channel = pick_channel(recording, quantity)
    chosen = work_intervals(recording, select=select, work=work)
    t = np.asarray(recording.t_s, dtype=float)
    y = np.asarray(channel.values, dtype=float)
    corrupt = gross_outliers(y)
    said: tuple[str, ...] = ()
    if corrupt.any():
        worst = float(y[corrupt][np.argmax(np.abs(y[corrupt]))])
        said = (
            f"{int(corrupt.sum())} value(s) (e.g. {worst:.3g}) farther from the median than "
            f"{GROSS_SPREADS:g}× the 1st–99th percentile spread left out as corrupted",
        )
        y = np.where(corrupt, np.nan, y)
    falls = quantity not in RISES_DURING_WORK
    kin = []
    for i, (number, iv) in enumerate(chosen):
        previous = chosen[i - 1][1].end_s if i else float(t[0])
        following = chosen[i + 1][1].onset_s if i + 1 < len(chosen) else float(t[-1])
        kin.append(
            interval_kinetics(
                t,
                y,
                iv,
                number,
                falls=falls,
                settings=s,
                after_previous_s=previous,
                before_next_s=following,
                where=recording,
            )
        )
    kin = [replace(k, notes=(*said, *k.notes)) for k in kin]
    result = KineticsResult(recording, quantity, channel, s, kin)
    if len(kin) > 1:
        result.ensemble, result.ensemble_u_s, result.ensemble_reps, result.ensemble_mean = (
            _ensemble(recording, y, kin, falls, s)
        )
        result.ensemble = replace(result.ensemble, notes=(*said, *result.ensemble.notes))
    return result
