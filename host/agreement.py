"""Agreement statistics of paired measurements by two devices: Bland–Altman bias and
limits of agreement with their confidence intervals, ICC for absolute agreement, Lin's
concordance, and a two one-sided tests equivalence check.

Differences are device − reference. The values must be paired and, for the confidence
intervals to hold, independent pairs (:func:`host.validate.validate` passes block means
for that). Library code is used where a maintained one exists (scipy, pingouin); Lin's
CI, which none gives, is written here from its source.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = [
    "Z_975",
    "Agreement",
    "agreement",
    "bland_altman",
    "icc_absolute",
    "lin_ccc",
    "tost_paired",
]

#: Two-sided 95 % normal quantile, z_0.975 (the "1.96" of Bland & Altman's limits).
Z_975 = float(stats.norm.ppf(0.975))
#: A proportional bias is reported when the difference changes across the measured levels
#: by more than this many SDs of the differences (and the slope's CI excludes 0): then one
#: band of limits no longer describes the differences at every level.
PROPORTIONAL_SD = 1.0


@dataclass(frozen=True)
class Agreement:
    """Statistics of n paired values (device, reference); differences device − reference.

    Bland–Altman: ``bias`` and its 95 % CI (t interval); ``sd`` of the differences;
    ``loa`` = bias ∓ z_0.975·sd with each limit's exact 95 % CI; ``slope`` of the
    differences on the means with its 95 % CI, ``trend`` and ``proportional``
    (proportional bias) (:func:`bland_altman`).
    ``icc`` absolute agreement, single measurement, with its 95 % CI (:func:`icc_absolute`);
    ``ccc`` Lin's concordance with its 95 % CI (:func:`lin_ccc`); ``pearson_r``;
    ``tost``: None when no bound was stated, else (:func:`tost_paired`).
    ``lag1_autocorr``: correlation of consecutive differences (near 0 if independent).
    """

    n: int
    bias: float
    bias_ci: tuple[float, float]
    sd: float
    loa: tuple[float, float]
    loa_low_ci: tuple[float, float]
    loa_high_ci: tuple[float, float]
    slope: float
    slope_ci: tuple[float, float]
    trend: float
    proportional: bool
    icc: float
    icc_ci: tuple[float, float]
    icc_label: str
    ccc: float
    ccc_ci: tuple[float, float]
    pearson_r: float
    tost: dict | None
    lag1_autocorr: float


def bland_altman(device: np.ndarray, reference: np.ndarray) -> dict:
    """Bias and 95 % limits of agreement of device − reference, with 95 % CIs.

    Bias CI: the t interval of the mean difference (Bland & Altman 1986, Lancet
    i:307-310). Limits: bias ∓ z_0.975·s (s: SD of the differences, n − 1). Their CIs are
    the exact parametric ones of Carkeet (2015, Optom Vis Sci 92:e71-e80): for the upper
    limit d̄ + z·s, d̄ + s·t'/√n with t' the 2.5 and 97.5 % quantiles of the noncentral t
    distribution with n − 1 degrees of freedom and noncentrality z·√n (symmetrically for
    the lower limit); they are close to Bland & Altman's (1999, Stat Methods Med Res
    8:135-160) approximate d ± t·s·√(1/n + z²/(2(n − 1))) for large n, and wider and
    asymmetric for small n.

    Returns
    -------
    dict with ``bias``, ``bias_ci``, ``sd``, ``loa`` (low, high), ``loa_low_ci``,
    ``loa_high_ci``; values in the signals' unit. ``slope``, ``slope_ci``: least-squares
    slope of the differences on the means of the pair, with its 95 % t interval (Bland &
    Altman 1999 §3.2: a slope away from 0 is a proportional bias, which the limits, one
    band for every level, do not describe); ``trend``: slope × the range of the means
    (2.5th to 97.5th percentile), the change of the difference across the measured levels;
    ``proportional``: the slope's CI excludes 0 and ``|trend|`` exceeds the SD of the
    differences (:data:`PROPORTIONAL_SD`). The size criterion is there because the slope is
    biased away from 0 whenever the two devices' noise differs (the mean holds half of each
    device's noise; Bland & Altman 1999 §3.2): over thousands of samples such a slope has a
    narrow CI but moves the difference by far less than its scatter.
    """
    d = np.asarray(device, dtype=float) - np.asarray(reference, dtype=float)
    n = d.size
    bias = float(d.mean())
    sd = float(d.std(ddof=1))
    bias_ci = stats.ttest_1samp(d, 0.0).confidence_interval(0.95)
    t_lo, t_hi = stats.nct.ppf([0.025, 0.975], n - 1, Z_975 * math.sqrt(n))
    k = sd / math.sqrt(n)
    mean = (np.asarray(device, dtype=float) + np.asarray(reference, dtype=float)) / 2
    fit = stats.linregress(mean, d)
    half = float(stats.t.ppf(0.975, n - 2) * fit.stderr)
    slope_ci = (float(fit.slope - half), float(fit.slope + half))
    low, high = np.percentile(mean, [2.5, 97.5])
    trend = float(fit.slope * (high - low))
    return {
        "bias": bias,
        "bias_ci": (float(bias_ci.low), float(bias_ci.high)),
        "sd": sd,
        "loa": (bias - Z_975 * sd, bias + Z_975 * sd),
        "loa_low_ci": (float(bias - k * t_hi), float(bias - k * t_lo)),
        "loa_high_ci": (float(bias + k * t_lo), float(bias + k * t_hi)),
        "slope": float(fit.slope),
        "slope_ci": slope_ci,
        "trend": trend,
        "proportional": bool(
            not slope_ci[0] <= 0.0 <= slope_ci[1] and abs(trend) > PROPORTIONAL_SD * sd
        ),
    }


def lin_ccc(x: np.ndarray, y: np.ndarray) -> tuple[float, tuple[float, float]]:
    """Lin's concordance correlation coefficient with its 95 % CI.

    ρc = 2·s_xy / (s_x² + s_y² + (x̄ − ȳ)²), moments with divisor n (Lin 1989, Biometrics
    45:255-268, eq. 2-3). CI from the inverse hyperbolic tangent Z = atanh(ρc), whose
    standard error is σ/(1 − ρc²) with σ² = [(1 − r²)ρc²(1 − ρc²)/r² + 2ρc³(1 − ρc)u²/r
    − ρc⁴u⁴/(2r²)] / (n − 2), r Pearson's r and u = (x̄ − ȳ)/(s_x·s_y)^½ (Lin 1989 §3 as
    corrected in Lin 2000, Biometrics 56:324-325; the same as R's epiR::epi.ccc
    "z-transform"). No maintained Python library gives this interval, so it is here.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    n = x.size
    sx2, sy2 = float(x.var()), float(y.var())
    sxy = float(np.mean((x - x.mean()) * (y - y.mean())))
    shift2 = float(x.mean() - y.mean()) ** 2
    rc = 2.0 * sxy / (sx2 + sy2 + shift2)
    r = sxy / math.sqrt(sx2 * sy2)
    u2 = shift2 / math.sqrt(sx2 * sy2)
    if abs(rc) >= 1.0 - 1e-12 or r == 0:
        return rc, (rc, rc)
    var = (
        (1 - r**2) * rc**2 * (1 - rc**2) / r**2
        + 2 * rc**3 * (1 - rc) * u2 / r
        - rc**4 * u2**2 / (2 * r**2)
    ) / (n - 2)
    se_z = math.sqrt(max(var, 0.0)) / (1 - rc**2)
    z = math.atanh(rc)
    return rc, (math.tanh(z - Z_975 * se_z), math.tanh(z + Z_975 * se_z))


def icc_absolute(device: np.ndarray, reference: np.ndarray) -> tuple[float, tuple, str]:
    """ICC for absolute agreement, two-way, single measurement, with its 95 % CI.

    McGraw & Wong (1996, Psychol Methods 1:30-46) ICC(A,1), = Shrout & Fleiss ICC(2,1),
    from pingouin's ``intraclass_corr`` (targets: the paired units; raters: the two
    devices). pingouin labels the row ``ICC2`` before 0.7 in some releases and
    ``ICC(A,1)`` after; both are accepted.

    Returns
    -------
    icc, (ci_low, ci_high), the row label pingouin used.
    """
    import pandas as pd
    import pingouin

    n = len(device)
    frame = pd.DataFrame(
        {
            "unit": np.tile(np.arange(n), 2),
            "device": ["device"] * n + ["reference"] * n,
            "value": np.concatenate([device, reference]),
        }
    )
    saved = dict(pingouin.options)
    pingouin.options.update({"round.column.CI95": None, "round.column.CI95%": None})
    try:  # pingouin rounds the CI to 2 decimals by default
        with warnings.catch_warnings():  # F = inf when the two agree exactly: ICC 1
            warnings.simplefilter("ignore", RuntimeWarning)
            table = pingouin.intraclass_corr(
                frame, targets="unit", raters="device", ratings="value"
            )
    finally:
        pingouin.options.clear()
        pingouin.options.update(saved)
    rows = table[table["Type"].isin(["ICC(A,1)", "ICC2"])]
    if rows.empty:
        raise RuntimeError(f"pingouin's ICC table has no ICC(A,1)/ICC2 row: {list(table.Type)}")
    row = rows.iloc[0]
    ci = row["CI95%"] if "CI95%" in row.index else row["CI95"]
    return float(row["ICC"]), (float(ci[0]), float(ci[1])), str(row["Type"])


def tost_paired(device: np.ndarray, reference: np.ndarray, bound: float) -> dict:
    """Two one-sided tests (Schuirmann 1987, J Pharmacokinet Biopharm 15:657-680) that the
    mean difference lies within ±bound, paired, by pingouin's ``tost``.

    Equivalent when p < 0.05, i.e. when the 90 % CI of the mean difference lies inside
    ±bound (also given).

    Raises
    ------
    ValueError
        ``bound`` is not a finite number > 0.
    """
    import pingouin

    if not (isinstance(bound, (int, float)) and math.isfinite(bound) and bound > 0):
        raise ValueError(f"equivalence bound must be a finite number > 0; got {bound!r}")
    table = pingouin.tost(device, reference, bound=float(bound), paired=True)
    p = float(table["pval" if "pval" in table.columns else "p_val"].iloc[0])
    d = np.asarray(device, dtype=float) - np.asarray(reference, dtype=float)
    ci = stats.ttest_1samp(d, 0.0).confidence_interval(0.90)
    return {
        "bound": float(bound),
        "p": p,
        "equivalent": bool(p < 0.05),
        "ci90": (float(ci.low), float(ci.high)),
    }


def agreement(device: np.ndarray, reference: np.ndarray, bound: float | None) -> Agreement:
    """Every statistic on paired values (n ≥ 3, neither constant)."""
    ba = bland_altman(device, reference)
    icc, icc_ci, label = icc_absolute(device, reference)
    ccc, ccc_ci = lin_ccc(device, reference)
    d = device - reference
    lag1 = float(np.corrcoef(d[:-1], d[1:])[0, 1]) if d.size > 2 and np.ptp(d) > 0 else 0.0
    return Agreement(
        n=int(device.size),
        icc=icc,
        icc_ci=icc_ci,
        icc_label=label,
        ccc=ccc,
        ccc_ci=ccc_ci,
        pearson_r=float(stats.pearsonr(device, reference)[0]),
        tost=None if bound is None else tost_paired(device, reference, bound),
        lag1_autocorr=lag1,
        **ba,
    )
