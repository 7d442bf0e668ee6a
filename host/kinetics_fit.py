"""The numerical pieces of :mod:`host.kinetics`: window means and slopes, a centred running
mean, rolling least-squares slopes, a threshold crossing and the mono-exponential recovery
fit with its confidence intervals. Arrays are 1-D, times in s (finite, increasing), values
in the signal's unit with NaN for no value. Where each definition comes from: the
docstring of :mod:`host.kinetics`.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

__all__ = [
    "CI_LEVEL",
    "MIN_WINDOW_SAMPLES",
    "RecoveryFit",
    "crossing",
    "fit_recovery",
    "mean_in",
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


def smooth(t: np.ndarray, y: np.ndarray, width_s: float) -> np.ndarray:
    """Centred running mean of the finite samples within ``width_s``; shape of ``y``."""
    ok = np.isfinite(y)
    csum = np.concatenate(([0.0], np.cumsum(np.where(ok, y, 0.0))))
    cnt = np.concatenate(([0], np.cumsum(ok)))
    lo = np.searchsorted(t, t - width_s / 2, side="left")
    hi = np.searchsorted(t, t + width_s / 2, side="right")
    n = cnt[hi] - cnt[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, (csum[hi] - csum[lo]) / np.maximum(n, 1), np.nan)


def rolling_slopes(
    t: np.ndarray, y: np.ndarray, width_s: float, lo: float, hi: float
) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares slope over ``[t_i − w/2, t_i + w/2]`` for each sample whose window
    lies in ``[lo, hi]`` and holds ≥ MIN_WINDOW_SAMPLES finite samples: (times, slopes)."""
    ok = np.isfinite(y)
    tc = np.where(ok, t - lo, 0.0)
    yc = np.where(ok, y, 0.0)
    sums = [np.concatenate(([0.0], np.cumsum(v))) for v in (ok * 1.0, tc, yc, tc * tc, tc * yc)]
    centre = np.flatnonzero((t - width_s / 2 >= lo) & (t + width_s / 2 <= hi))
    a = np.searchsorted(t, t[centre] - width_s / 2, side="left")
    b = np.searchsorted(t, t[centre] + width_s / 2, side="right")
    n, st, sy, stt, sty = (s[b] - s[a] for s in sums)
    den = n * stt - st * st
    good = (n >= MIN_WINDOW_SAMPLES) & (den > 0)
    slopes = (n * sty - st * sy)[good] / den[good]
    return t[centre][good], slopes


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


def fit_recovery(u: np.ndarray, y: np.ndarray, half_s: float) -> RecoveryFit:
    """Fit :func:`recovery_model` to ``y`` at ``u`` (s after the end of work, finite)."""
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
        nan2 = (math.nan, math.nan)
        return RecoveryFit(
            math.nan,
            math.nan,
            nan2,
            math.nan,
            nan2,
            math.nan,
            nan2,
            window,
            u.size,
            math.nan,
            math.nan,
            f"recovery fit failed: {last}",
        )
    p, cov, sse = best
    dof = u.size - p.size
    se = np.sqrt(np.diag(cov)) if np.all(np.isfinite(cov)) else np.full(p.size, np.nan)
    half = float(student_t.ppf(0.5 + CI_LEVEL / 2, dof)) * se
    ci = [(float(p[i] - half[i]), float(p[i] + half[i])) for i in range(p.size)]
    sst = float(np.sum((y - np.mean(y)) ** 2))
    note = "" if np.all(np.isfinite(se)) else "fit covariance undefined: no confidence intervals"
    if p[3] >= upper[3] * 0.999 or p[2] >= upper[2] * 0.999:
        note = "a fitted parameter sits at its bound (delay ≤ half, τ ≤ 10× the fit window)"
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
        rmse=math.sqrt(sse / u.size),
        r2=1.0 - sse / sst if sst > 0 else math.nan,
        note=note,
    )
