"""The report of a validation (:class:`host.validate.Validation`): a Markdown summary, a
JSON file with every figure, a Bland–Altman plot and an overlay of the aligned signals.

Everything from simulated data says "SIMULATED" (title, first line, JSON ``label``).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state

from host.outputs import write_all
from host.recording import QUANTITIES
from host.session import MEASUREMENT_SITE
from host.validate import Side, Validation

__all__ = ["SUFFIXES", "markdown", "plot_bland_altman", "plot_overlay", "to_json", "write_report"]

#: What :func:`write_report` writes, after the common stem.
SUFFIXES = {
    "markdown": ".validation.md",
    "json": ".validation.json",
    "bland_altman": ".bland_altman.png",
    "overlay": ".overlay.png",
}
#: Sources named in the report, one place.
SOURCES = {
    "bias_ci": "t interval of the mean difference (Bland & Altman 1986, Lancet i:307-310)",
    "loa_ci": "exact parametric CI, noncentral t (Carkeet 2015, Optom Vis Sci 92:e71-e80)",
    "icc": "two-way, absolute agreement, single measurement (McGraw & Wong 1996 ICC(A,1)); "
    "pingouin intraclass_corr, F-based CI",
    "ccc": "Lin 1989 (Biometrics 45:255-268), CI by Fisher z as corrected in Lin 2000",
    "tost": "two one-sided paired t tests (Schuirmann 1987), pingouin tost, alpha 0.05",
}


def data_label(v: Validation) -> str:
    """What the data are, said on every output: SIMULATED if either recording is, human
    if both files say so, else that the files do not say."""
    if v.simulated:
        return "SIMULATED data"
    if v.device.provenance == v.reference.provenance == "human":
        return "human data"
    return "data whose files do not say whether simulated or human"


def _what(v: Validation) -> str:
    return QUANTITIES[v.quantity].split(" (")[0] if v.quantity != "smo2" else "SmO2"


def _units_text(v: Validation) -> str:
    n = v.agreement.n
    if v.block_s > 0:
        return (
            f"means of {n} non-overlapping {v.block_s:g} s blocks of the paired samples "
            "(a block with fewer than half its samples paired is left out). Why: samples "
            f"at {v.rate_hz:g} Hz are autocorrelated, and statistics that treat them as "
            "independent give confidence intervals that are too narrow; the limits of "
            f"agreement here are those of {v.block_s:g} s means, not of single samples"
        )
    return (
        f"every one of the {n} paired samples, treated as independent. They are not "
        f"(samples at {v.rate_hz:g} Hz are autocorrelated), so every confidence interval "
        "and p value below is too narrow / too small"
    )


def _baseline_text(v: Validation) -> str:
    if not v.changes:
        return "absolute values (both channels are absolute); offsets between the devices count"
    rel = [name for name, s in (("device", v.device), ("reference", v.reference)) if s.relative]
    why = {0: "asked with --changes", 1: f"the {''.join(rel)}'s channel is relative"}.get(
        len(rel), "both channels are relative"
    )
    return (
        f"changes from each device's own mean over the first {v.baseline_s:g} s of the "
        f"aligned overlap ({why}): a constant offset between the devices is not compared, "
        "and each baseline mean is itself an estimate whose error moves every difference "
        "alike (it is not in the bias CI)"
    )


def _ci(ci: tuple[float, float], digits: int = 3) -> str:
    return f"{ci[0]:.{digits}g} to {ci[1]:.{digits}g}"


def _meta(side: Side, key: str) -> str:
    value = side.metadata.get(key)
    return f"{value:g}" if value is not None else f"missing (no `{key}` in the file)"


def markdown(v: Validation) -> str:
    """The summary a person reads: what was compared, how, and every figure with its
    source and caveats."""
    a, g, u = v.alignment, v.agreement, v.unit
    dev, ref = v.device, v.reference
    lines = [
        f"# Validation of {dev.source.name} against {ref.source.name} ({data_label(v)})",
        "",
        f"Compared: {_what(v)} in {u}, differences device − reference, on " + _units_text(v) + ".",
        "",
        f"- device: {dev.source} ({dev.format}, sensor {dev.sensor}), channel "
        f"{dev.channel} ({'relative' if dev.relative else 'absolute'}), {dev.provenance} data, "
        f"about {dev.rate_hz:.3g} Hz",
        f"- reference: {ref.source} ({ref.format}, sensor {ref.sensor}), channel "
        f"{ref.channel} ({'relative' if ref.relative else 'absolute'}), {ref.provenance} data, "
        f"about {ref.rate_hz:.3g} Hz",
        f"- values: {_baseline_text(v)}",
        *(
            f"- note ({name}): {n}"
            for name, side in (("device", dev), ("reference", ref))
            for n in side.notes
        ),
        "",
        "## Alignment",
        "",
        f"- both resampled to {v.rate_hz:g} Hz by linear interpolation; no value is made "
        "across a dropout",
        "- clock: "
        + (
            f"device start − reference start = {a.clock_offset_s:+.1f} s (files' start times)"
            if a.clock_known
            else "the files do not both give a start time: both taken to start together"
        ),
        f"- lag found by cross-correlation: {a.lag_s:+.2f} s (positive: the device is late, "
        f"device(t) ≈ reference(t − lag)); searched within ±{a.max_lag_s:g} s in steps of "
        f"{1 / v.rate_hz:g} s (a lag between steps leaves up to half a step, which shows as "
        "a small bias where the signal changes; a finer --rate-hz resolves it); "
        f"correlation there r = {a.peak_r:.3f}",
        f"- aligned overlap: {a.overlap_start_s:.1f}–{a.overlap_end_s:.1f} s on the "
        f"reference's time base, {v.n_paired} paired samples",
        "",
        "## Agreement",
        "",
        f"n = {g.n} ({'blocks' if v.block_s > 0 else 'samples'}); 95 % confidence intervals.",
        "",
        "| statistic | value | 95 % CI | method |",
        "| --- | --- | --- | --- |",
        f"| bias (device − reference) | {g.bias:.3g} {u} | {_ci(g.bias_ci)} | "
        f"{SOURCES['bias_ci']} |",
        f"| SD of the differences | {g.sd:.3g} {u} | | n − 1 |",
        f"| lower limit of agreement | {g.loa[0]:.3g} {u} | {_ci(g.loa_low_ci)} | "
        f"bias − 1.96 SD; {SOURCES['loa_ci']} |",
        f"| upper limit of agreement | {g.loa[1]:.3g} {u} | {_ci(g.loa_high_ci)} | "
        f"bias + 1.96 SD; same |",
        f"| ICC, {g.icc_label} | {g.icc:.3f} | {_ci(g.icc_ci)} | {SOURCES['icc']} |",
        f"| Lin's concordance (CCC) | {g.ccc:.3f} | {_ci(g.ccc_ci)} | {SOURCES['ccc']} |",
        f"| slope of the differences on the means | {g.slope:.3g} | {_ci(g.slope_ci)} | "
        "least squares, t interval (Bland & Altman 1999) |",
        f"| change of the difference across the levels | {g.trend:.3g} {u} | | slope × "
        "2.5–97.5 percentile range of the means; above 1 SD: proportional bias |",
        f"| Pearson r | {g.pearson_r:.3f} | | |",
        f"| lag-1 autocorrelation of the differences | {g.lag1_autocorr:.2f} | | "
        "near 0 if the units are independent |",
        "",
        "## Equivalence (two one-sided tests)",
        "",
        _tost_text(v),
        "",
        "## Measurement conditions",
        "",
        "| | device | reference |",
        "| --- | --- | --- |",
    ]
    for key in MEASUREMENT_SITE:
        lines.append(f"| {MEASUREMENT_SITE[key]} | {_meta(dev, key)} | {_meta(ref, key)} |")
    lines += ["", "## Warnings", ""]
    lines += [f"- {w}" for w in v.warnings] or ["- none"]
    return "\n".join(lines) + "\n"


def _tost_text(v: Validation) -> str:
    t = v.agreement.tost
    if t is None:
        return (
            "Not run: no equivalence bound was stated (--equivalence-bound). A bound must "
            "be chosen before the analysis, from what matters in use; this tool never "
            "derives one from the data."
        )
    verdict = (
        "equivalent within the bound"
        if t["equivalent"]
        else "equivalence not shown (this is not evidence of a difference)"
    )
    return (
        f"Bound ±{t['bound']:g} {v.unit}, stated before the analysis. p = {t['p']:.3g}; "
        f"90 % CI of the mean difference {_ci(t['ci90'])} {v.unit}: {verdict} "
        f"({SOURCES['tost']})."
    )


def _side_json(side: Side) -> dict:
    return {
        "source": str(side.source),
        "format": side.format,
        "sensor": side.sensor,
        "channel": side.channel,
        "unit": side.unit,
        "relative": side.relative,
        "provenance": side.provenance,
        "rate_hz": side.rate_hz,
        "baseline_subtracted": side.baseline,
        "metadata": dict(side.metadata),
        "notes": list(side.notes),
    }


def to_json(v: Validation) -> dict:
    """Every figure of the report, JSON-ready (NaN as null)."""
    a, g = v.alignment, v.agreement
    out = {
        "label": data_label(v),
        "simulated": v.simulated,
        "quantity": v.quantity,
        "unit": v.unit,
        "difference": "device - reference",
        "values": "changes from baseline" if v.changes else "absolute",
        "baseline_s": v.baseline_s if v.changes else None,
        "device": _side_json(v.device),
        "reference": _side_json(v.reference),
        "alignment": {
            "rate_hz": v.rate_hz,
            "clock_offset_s": a.clock_offset_s,
            "clock_known": a.clock_known,
            "lag_s": a.lag_s,
            "lag_sign": "positive: device late, device(t) = reference(t - lag)",
            "lag_resolution_s": 1.0 / v.rate_hz,
            "max_lag_s": a.max_lag_s,
            "at_bound": a.at_bound,
            "peak_r": a.peak_r,
            "overlap_s": [a.overlap_start_s, a.overlap_end_s],
            "paired_samples": v.n_paired,
        },
        "units": {
            "kind": f"{v.block_s:g} s block means" if v.block_s > 0 else "samples",
            "block_s": v.block_s,
            "n": g.n,
            "independent": v.block_s > 0,
            "lag1_autocorr": g.lag1_autocorr,
        },
        "bland_altman": {
            "bias": g.bias,
            "bias_ci95": list(g.bias_ci),
            "bias_ci_method": SOURCES["bias_ci"],
            "sd": g.sd,
            "loa_low": g.loa[0],
            "loa_high": g.loa[1],
            "loa_low_ci95": list(g.loa_low_ci),
            "loa_high_ci95": list(g.loa_high_ci),
            "loa_ci_method": SOURCES["loa_ci"],
            "slope_on_mean": g.slope,
            "slope_on_mean_ci95": list(g.slope_ci),
            "trend_across_levels": g.trend,
            "proportional_bias": g.proportional,
        },
        "icc": {
            "type": g.icc_label,
            "value": g.icc,
            "ci95": list(g.icc_ci),
            "method": SOURCES["icc"],
        },
        "ccc": {"value": g.ccc, "ci95": list(g.ccc_ci), "method": SOURCES["ccc"]},
        "pearson_r": g.pearson_r,
        "tost": (
            {"run": False, "reason": "no equivalence bound stated before the analysis"}
            if g.tost is None
            else {"run": True, **g.tost, "ci90": list(g.tost["ci90"]), "method": SOURCES["tost"]}
        ),
        "warnings": list(v.warnings),
    }
    return _clean(out)


def _clean(x):
    if isinstance(x, dict):
        return {k: _clean(val) for k, val in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(val) for val in x]
    if isinstance(x, (float, np.floating)):
        return float(x) if math.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    return x


def plot_bland_altman(v: Validation, path: Path) -> Path:
    """Mean of the two against their difference, with the bias and the limits of agreement
    as lines and their 95 % CIs as bands."""
    g = v.agreement
    mean = (v.unit_device + v.unit_reference) / 2
    diff = v.unit_device - v.unit_reference
    fig = Figure(figsize=(7.5, 5.5), constrained_layout=True)
    ax = fig.subplots()
    ax.scatter(mean, diff, s=14, color="tab:blue", alpha=0.7, lw=0)
    for value, ci, colour, name in (
        (g.bias, g.bias_ci, "k", "bias"),
        (g.loa[0], g.loa_low_ci, "tab:red", "−1.96 SD"),
        (g.loa[1], g.loa_high_ci, "tab:red", "+1.96 SD"),
    ):
        ax.axhspan(*ci, color=colour, alpha=0.15, lw=0)
        ax.axhline(value, color=colour, lw=1.2, ls="-" if name == "bias" else "--")
        ax.annotate(
            f"{name} {value:.3g} ({_ci(ci)})",
            (1.0, value),
            xycoords=("axes fraction", "data"),
            xytext=(-4, 3),
            textcoords="offset points",
            ha="right",
            fontsize=8,
            color=colour,
            bbox={"facecolor": "white", "alpha": 0.75, "lw": 0, "pad": 1},
        )
    ax.axhline(0.0, color="grey", lw=0.6, ls=":")
    if g.proportional:  # show the trend
        slope, intercept = np.polyfit(mean, diff, 1)
        xs = np.array([mean.min(), mean.max()])
        ax.plot(xs, intercept + slope * xs, color="tab:orange", lw=1, ls="-.")
        ax.annotate(
            f"proportional bias: slope {slope:.3g}",
            (0.01, 0.02),
            xycoords="axes fraction",
            fontsize=8,
            color="tab:orange",
        )
    what = f"{_what(v)}{' change' if v.changes else ''} ({v.unit})"
    ax.set_xlabel(f"mean of device and reference, {what}")
    ax.set_ylabel(f"device − reference ({v.unit})")
    units = f"{g.n} means of {v.block_s:g} s blocks" if v.block_s > 0 else f"{g.n} samples"
    fig.suptitle(
        f"Bland–Altman: {v.device.source.name} vs {v.reference.source.name} " f"({data_label(v)})",
        fontsize=10,
    )
    ax.set_title(f"{units}; bands: 95 % CIs (bias: t; limits: exact, Carkeet 2015)", fontsize=8)
    return _save(fig, path)


def plot_overlay(v: Validation, path: Path) -> Path:
    """The aligned signals against time, and the cross-correlation against lag."""
    a = v.alignment
    fig = Figure(figsize=(10, 6.5), constrained_layout=True)
    top, bottom = fig.subplots(2, 1, gridspec_kw={"height_ratios": [2, 1]})
    if v.changes:
        top.axvspan(
            a.overlap_start_s,
            a.overlap_start_s + v.baseline_s,
            color="#eee",
            lw=0,
            label="baseline window",
        )
    top.plot(v.t_s, v.device_values, ".", ms=1.5, color="tab:blue", label="device (aligned)")
    top.plot(v.t_s, v.reference_values, "-", lw=0.8, color="k", label="reference", zorder=3)
    top.plot(v.unit_t_s, v.unit_reference, "o", ms=3, color="k", label="reference, units", zorder=4)
    top.plot(
        v.unit_t_s, v.unit_device, "o", ms=3, mfc="none", color="tab:blue", label="device, units"
    )
    top.set_xlabel("time on the reference's time base (s)")
    top.set_ylabel(f"{_what(v)}{' change' if v.changes else ''} ({v.unit})")
    top.legend(loc="best", fontsize=8, ncol=2)
    bottom.plot(a.lags_s, a.r, color="tab:purple", lw=1)
    bottom.axvline(a.lag_s, color="k", lw=1, ls="--")
    bottom.set_xlabel("lag (s; positive: device late)")
    bottom.set_ylabel("correlation r")
    bottom.set_title(f"lag {a.lag_s:+.2f} s, r = {a.peak_r:.3f}", fontsize=8)
    fig.suptitle(
        f"{v.device.source.name} aligned on {v.reference.source.name} ({data_label(v)})",
        fontsize=10,
    )
    return _save(fig, path)


def _save(fig: Figure, path: Path) -> Path:
    path = Path(path)
    fig.savefig(path, dpi=110)
    return path


def write_report(v: Validation, stem: str | os.PathLike) -> dict[str, Path]:
    """Write the four files ``<stem>`` + :data:`SUFFIXES`, all or none; none is replaced.

    Raises
    ------
    DatasetError
        One of them exists (nothing written).
    """
    stem = str(stem)
    paths = {key: Path(stem + suffix) for key, suffix in SUFFIXES.items()}
    write_all(
        {
            paths["markdown"]: lambda p: p.write_text(markdown(v), encoding="utf-8"),
            paths["json"]: lambda p: p.write_text(
                json.dumps(to_json(v), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
            ),
            paths["bland_altman"]: lambda p: plot_bland_altman(v, p),
            paths["overlay"]: lambda p: plot_overlay(v, p),
        }
    )
    return paths
