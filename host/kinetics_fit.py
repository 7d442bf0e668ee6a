"""The numerical pieces of :mod:`host.kinetics`: window means and slopes, a centred running
mean, rolling least-squares slopes, a threshold crossing and the mono-exponential recovery
fit with its confidence intervals. Arrays are 1-D, times in s (finite, increasing), values
in the signal's unit with NaN for no value. Where each definition comes from: the
docstring of :mod:`host.kinetics`.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace

import numpy as np

__all__ = [
    "CI_LEVEL",
    "FIT_GAP_MAX_SHARE",
    "GAP_MIN_S",
    "GAP_SAMPLE_INTERVALS",
    "GROSS_SPREADS",
    "MIN_AMPLITUDE_SDS",
    "MIN_WINDOW_SAMPLES",
    "RecoveryFit",
    "crossing",
    "fit_recovery",
    "gap_at",
    "gap_bound_s",
    "gap_spanned",
    "gross_outliers",
    "judged_across_gaps",
    "mean_in",
    "no_fit",
    "recovery_model",
    "rolling_slopes",
    "slope_in",
    "smooth",
]

#: Fewest finite samples in a mean or slope window.
MIN_WINDOW_SAMPLES = 3
#: Confidence level of the fit's intervals.
CI_LEVEL = 0.95
LN2 = math.log(2.0)
#: A gap (dropout): consecutive valid samples farther apart than this many median sample
#: intervals, and than GAP_MIN_S (Train.Red writes bursts up to 0.9 s apart, which
#: host.predict bridges too). Nothing is interpolated or fitted across one: a choice,
#: the rule of the ensemble's alignment in host.kinetics.
GAP_SAMPLE_INTERVALS = 3
GAP_MIN_S = 1.0
#: A recovery fit whose |amplitude| is at most this many residual SDs is no recovery
#: (reported NaN): a choice (about a 3-sigma detection of a step in white noise).
MIN_AMPLITUDE_SDS = 3.0
#: A value farther from the recording's median than this many times the spread of its
#: 1st–99th percentiles (or, when that is 0, than this many hundredths of the median) is
#: taken for a corrupted sample, not a measurement: a choice far beyond any physiological
#: swing, which catches e.g. a 1e308 in an export (fewer than 1 % of the samples).
GROSS_SPREADS = 100.0

#: A gap in the recovery fit's window across which the smoothed signal moves by more than
#: this share of the recovery (|recovery extreme − end value|) hides the shape that sets
#: TD and τ: no fit is reported (a choice; docs/kinetics.md says why).
FIT_GAP_MAX_SHARE = 0.25


def recovery_model(
    u_s: np.ndarray, start: float, amplitude: float, tau_s: float, delay_s: float
) -> np.ndarray:
    """``start + amplitude·(1 − exp(−(u − delay)/τ))`` for ``u ≥ delay``, ``start`` before.

    ``u_s``: s after the end of work, any shape; returns the same shape, in the signal's
    unit. Source: see the module docstring (DeLorey et al. 2003; mnirs).
    """
    u = np.asarray(u_s, dtype=float)
    return start + amplitude * -np.expm1(-np.maximum(u - delay_s, 0.0) / tau_s)


@dataclass(frozen=True)
class RecoveryFit:
    """The mono-exponential recovery fit (:func:`recovery_model`); NaN where it failed.

    ``*_ci``: (low, high) 95 % confidence interval. ``window_s``: the fit ran over
    ``0 ≤ u ≤ window_s``; ``rmse`` in the signal's unit; ``note``: why it failed or what
    to know, or "".
    """

    start: float
    amplitude: float
    amplitude_ci: tuple[float, float]
    tau_s: float
    tau_ci: tuple[float, float]
    delay_s: float
    delay_ci: tuple[float, float]
    window_s: float
    n: int
    rmse: float
    r2: float
    note: str = ""

    @property
    def half_time_s(self) -> float:
        """TD + τ·ln 2, s after the end of work (mnirs' fitted HRT)."""
        return self.delay_s + self.tau_s * LN2

    def curve(self, u_s: np.ndarray) -> np.ndarray:
        """The fitted curve at ``u_s`` (s after the end of work)."""
        return recovery_model(u_s, self.start, self.amplitude, self.tau_s, self.delay_s)


def mean_in(t: np.ndarray, y: np.ndarray, lo: float, hi: float) -> tuple[float, int]:
    sel = (t >= lo) & (t <= hi) & np.isfinite(y)
    n = int(np.count_nonzero(sel))
    return (float(np.mean(y[sel])) if n else math.nan), n


def slope_in(t: np.ndarray, y: np.ndarray, lo: float, hi: float) -> tuple[float, int]:
    sel = (t >= lo) & (t <= hi) & np.isfinite(y)
    n = int(np.count_nonzero(sel))
    if n < 2 or np.ptp(t[sel]) == 0:
        return math.nan, n
    return float(np.polyfit(t[sel] - lo, y[sel], 1)[0]), n


def gap_bound_s(t: np.ndarray) -> float:
    """The longest step between valid samples that is not a gap, s (GAP_SAMPLE_INTERVALS
    median steps of ``t``, shape (n,), at least GAP_MIN_S)."""
    step = float(np.median(np.diff(t))) if t.size > 1 else 0.0
    return max(GAP_SAMPLE_INTERVALS * step, GAP_MIN_S)


def gap_at(tv: np.ndarray, at_s: float, bound_s: float) -> tuple[float, float] | None:
    """The gap (from, to) s, valid samples ``tv`` (shape (n,), increasing) more than
    ``bound_s`` apart, with from < ``at_s`` ≤ to: a boundary inside a dropout or at the
    first sample after it (where a lap change inside the dropout is stamped); else None."""
    k = int(np.searchsorted(tv, at_s, side="left"))
    if k == 0 or k >= tv.size or tv[k] - tv[k - 1] <= bound_s:
        return None
    return float(tv[k - 1]), float(tv[k])


def gap_spanned(t: np.ndarray, at_s: float, bound_s: float) -> tuple[float, float] | None:
    """The gap (from, to) s between the valid samples ``t`` (shape (n,), increasing) on
    either side of ``at_s`` when they are more than ``bound_s`` apart, else None."""
    k = int(np.searchsorted(t, at_s, side="left"))
    if t.size < 2 or (k < t.size and t[k] == at_s):  # on a sample: in no gap
        return None
    lo, hi = float(t[max(k - 1, 0)]), float(t[min(k, t.size - 1)])
    if hi - lo <= bound_s:
        return None
    return lo, hi


def gross_outliers(y: np.ndarray) -> np.ndarray:
    """True where a finite value of ``y`` (shape (n,)) lies more than GROSS_SPREADS times
    its 1st–99th percentile spread from its median (when that spread is 0, GROSS_SPREADS %
    of the median; when that is 0 too, nothing is flagged); shape (n,)."""
    ok = np.isfinite(y)
    if not ok.any():
        return np.zeros(y.shape, dtype=bool)
    with np.errstate(over="ignore", invalid="ignore"):
        p1, med, p99 = (float(v) for v in np.percentile(y[ok], [1.0, 50.0, 99.0]))
        spread = p99 - p1 if p99 - p1 > 0 else 0.01 * abs(med)
        if not (math.isfinite(spread) and spread > 0):
            return np.zeros(y.shape, dtype=bool)
        return ok & (np.abs(y - med) > GROSS_SPREADS * spread)


def _window_sums(v: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``v[a_i:b_i].sum()`` for each i, each summed on its own (no running sum, so one
    huge value cannot spoil the others' precision); 0 for an empty window."""
    if a.size == 0:
        return np.zeros(0)
    padded = np.append(v, 0.0)  # b may equal v.size
    idx = np.empty(2 * a.size, dtype=np.intp)
    idx[0::2], idx[1::2] = a, b
    with np.errstate(over="ignore", invalid="ignore"):
        sums = np.add.reduceat(padded, idx)[0::2]
    return np.where(b > a, sums, 0.0)


def smooth(t: np.ndarray, y: np.ndarray, width_s: float) -> np.ndarray:
    """Centred running mean of the finite samples within ``width_s``; shape of ``y``.

    Each window is summed on its own (:func:`_window_sums`): a huge or non-finite value
    touches only the windows that hold it (a non-finite one none)."""
    ok = np.isfinite(y)
    lo = np.searchsorted(t, t - width_s / 2, side="left")
    hi = np.searchsorted(t, t + width_s / 2, side="right")
    n = _window_sums(ok * 1.0, lo, hi)
    total = _window_sums(np.where(ok, y, 0.0), lo, hi)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        return np.where(n > 0, total / np.maximum(n, 1), np.nan)


def rolling_slopes(
    t: np.ndarray, y: np.ndarray, width_s: float, lo: float, hi: float, max_gap_s: float = np.inf
) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares slope over ``[c − w/2, c + w/2]`` for each finite sample time ``c``
    whose window lies in ``[lo, hi]``, holds ≥ MIN_WINDOW_SAMPLES finite samples and no
    stretch without one longer than ``max_gap_s`` (its edges included): (times, slopes).
    Each window is summed on its own (:func:`_window_sums`)."""
    ok = np.isfinite(y)
    tv, yv = t[ok], y[ok]
    centre = np.flatnonzero((tv - width_s / 2 >= lo) & (tv + width_s / 2 <= hi))
    c = tv[centre]
    a = np.searchsorted(tv, c - width_s / 2, side="left")
    b = np.searchsorted(tv, c + width_s / 2, side="right")
    tc = tv - lo
    with np.errstate(over="ignore", invalid="ignore"):
        parts = (np.ones(tv.size), tc, yv, tc * tc, tc * yv)
    n, st, sy, stt, sty = (_window_sums(v, a, b) for v in parts)
    steps = np.diff(tv)
    widest = np.zeros(c.size)
    inner = b - a >= 2
    if steps.size and inner.any():
        idx = np.empty(2 * int(inner.sum()), dtype=np.intp)
        idx[0::2], idx[1::2] = a[inner], b[inner] - 1
        widest[inner] = np.maximum.reduceat(np.append(steps, 0.0), idx)[0::2]
    edges = np.maximum(tv[a] - (c - width_s / 2), (c + width_s / 2) - tv[b - 1])
    with np.errstate(over="ignore", invalid="ignore"):
        den = n * stt - st * st
        good = (n >= MIN_WINDOW_SAMPLES) & (den > 0) & (np.maximum(widest, edges) <= max_gap_s)
        slopes = (n * sty - st * sy)[good] / den[good]
    return c[good], slopes


def crossing(t: np.ndarray, y: np.ndarray, target: float, rising: bool) -> float:
    """First time ``y`` reaches ``target`` (from below if ``rising``), interpolated; NaN
    if it never does. ``t``, ``y`` shape (n,), finite."""
    past = y >= target if rising else y <= target
    k = int(np.argmax(past)) if past.any() else -1
    if k < 0:
        return math.nan
    if k == 0 or y[k] == y[k - 1]:
        return float(t[k])
    return float(t[k - 1] + (target - y[k - 1]) / (y[k] - y[k - 1]) * (t[k] - t[k - 1]))


def no_fit(window: float, n: int, rmse: float, note: str) -> RecoveryFit:
    """A fit not reported: every estimate NaN, ``note`` saying why."""
    nan2 = (math.nan, math.nan)
    nan = math.nan
    return RecoveryFit(nan, nan, nan2, nan, nan2, nan, nan2, window, n, rmse, nan, note)


def fit_recovery(u: np.ndarray, y: np.ndarray, half_s: float, rises: bool = True) -> RecoveryFit:
    """Fit :func:`recovery_model` to ``y`` at ``u`` (s after the end of work, finite).

    ``rises``: the recovery goes up (SmO2, HbO2, tHb; False for HHb). The fit is reported
    as NaN, with a note saying why, when its covariance is not finite, its amplitude has
    the wrong sign for ``rises``, or the amplitude is not clearly above the noise
    (|A| ≤ MIN_AMPLITUDE_SDS × the residual SD), or τ sits at its upper bound (10× the fit
    window: a straight line, no exponential recovery within it). A τ CI reaching below 0
    is not given (NaN, with a note)."""
    from scipy.optimize import curve_fit
    from scipy.stats import t as student_t

    window = float(u[-1])
    head = y[u <= max(1.0, u[min(2, u.size - 1)])]
    start0 = float(np.mean(head))
    amp0 = float(np.mean(y[u >= 0.8 * window])) - start0
    tau0 = half_s / LN2 if math.isfinite(half_s) and half_s > 0 else window / 4
    tau0 = min(max(tau0, 0.05), 5 * window)
    lower = [-np.inf, -np.inf, 1e-3, 0.0]
    upper = [np.inf, np.inf, 10.0 * window, 0.5 * window]
    best, last = None, ""
    for delay0 in (0.01 * window, min(0.3 * tau0, 0.25 * window)):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                p, cov = curve_fit(
                    recovery_model,
                    u,
                    y,
                    p0=[start0, amp0, tau0, delay0],
                    bounds=(lower, upper),
                    max_nfev=4000,
                )
        except (RuntimeError, ValueError) as exc:
            last = str(exc).splitlines()[0]
            continue
        sse = float(np.sum((y - recovery_model(u, *p)) ** 2))
        if best is None or sse < best[2]:
            best = (p, cov, sse)
    if best is None:
        return no_fit(window, u.size, math.nan, f"recovery fit failed: {last}")
    p, cov, sse = best
    rmse = math.sqrt(sse / u.size)
    dof = u.size - p.size
    with np.errstate(invalid="ignore"):
        var = np.diag(cov)
        if not (np.all(np.isfinite(cov)) and np.all(var >= 0)):
            return no_fit(
                window, u.size, rmse, "no recovery fit: its covariance is undefined (flat data?)"
            )
        se = np.sqrt(var)
    half = float(student_t.ppf(0.5 + CI_LEVEL / 2, dof)) * se
    ci = [(float(p[i] - half[i]), float(p[i] + half[i])) for i in range(p.size)]
    amp = float(p[1])
    if abs(amp) <= MIN_AMPLITUDE_SDS * rmse:
        return no_fit(
            window,
            u.size,
            rmse,
            f"no recovery fit: amplitude {amp:.3g} not clearly above the noise (|A| ≤ "
            f"{MIN_AMPLITUDE_SDS:g} × the residual SD {rmse:.3g})",
        )
    if (amp > 0) != rises or amp == 0:
        return no_fit(
            window,
            u.size,
            rmse,
            f"no recovery fit: amplitude {amp:.3g} {'≤' if rises else '≥'} 0 (away from "
            "the baseline, not a recovery)",
        )
    if p[2] >= upper[2] * 0.999:
        return no_fit(
            window,
            u.size,
            rmse,
            f"no recovery fit: τ at its bound ({upper[2]:.3g} s, 10× the fit window): no "
            "exponential recovery within the window",
        )
    sst = float(np.sum((y - np.mean(y)) ** 2))
    notes = []
    if ci[2][0] < 0:
        notes.append(f"τ's 95 % CI reaches below 0 ({ci[2][0]:.3g} s): not given")
        ci[2] = (math.nan, math.nan)
    if p[3] >= upper[3] * 0.999:
        notes.append("the fitted delay sits at its bound (half the fit window)")
    note = "; ".join(notes)
    return RecoveryFit(
        start=float(p[0]),
        amplitude=float(p[1]),
        amplitude_ci=ci[1],
        tau_s=float(p[2]),
        tau_ci=ci[2],
        delay_s=float(p[3]),
        delay_ci=ci[3],
        window_s=window,
        n=int(u.size),
        rmse=rmse,
        r2=1.0 - sse / sst if sst > 0 else math.nan,
        note=note,
    )


def judged_across_gaps(
    fit: RecoveryFit, t: np.ndarray, ys: np.ndarray, rise: float, gap_s: float
) -> RecoveryFit:
    """``fit`` as reported given the gaps among its samples at ``t`` (s, shape (n,),
    increasing, the valid samples of its window), where ``ys`` (shape (n,)) is the smoothed
    signal and ``rise`` the recovery's size (|recovery extreme − end value|).

    A gap (steps longer than ``gap_s``) across which ``ys`` moves more than
    FIT_GAP_MAX_SHARE × ``rise`` hides the shape that sets TD and τ: the fit becomes
    :func:`no_fit` with a note. Smaller gaps: the fit stands, its note says it was fitted
    across them. Judged from the data, not from the fitted τ, so a bad fit cannot vouch
    for itself.
    """
    steps = np.diff(t)
    wide = np.flatnonzero(steps > gap_s)
    if not wide.size:
        return fit
    moved = np.abs(ys[wide + 1] - ys[wide])
    g = int(wide[np.argmax(moved)])
    a, b = float(t[g]), float(t[g + 1])
    share = float(moved.max()) / rise if rise > 0 else math.inf
    if share > FIT_GAP_MAX_SHARE:
        return no_fit(
            fit.window_s,
            fit.n,
            fit.rmse,
            f"no recovery fit: the signal moves {100 * share:.0f} % of the recovery across "
            f"the {b - a:.1f}-s gap {a:.1f}–{b:.1f} s in its window (more than "
            f"{100 * FIT_GAP_MAX_SHARE:g} %): the gap hides the shape that sets TD and τ",
        )
    extra = (
        f"fitted across {wide.size} gap(s) in its window, the longest "
        f"{float(steps[wide].max()):.1f} s"
    )
    return replace(fit, note=f"{fit.note}; {extra}" if fit.note else extra)
