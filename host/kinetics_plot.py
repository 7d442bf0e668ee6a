"""The kinetics figure of one recording (matplotlib, no display needed).

Top: the analysed signal against time, work intervals shaded, and for each interval the
resting baseline (over its window, dotted on through the recovery), the nadir (or HHb's
peak), the end-of-exercise value, the half-recovery point and the fitted mono-exponential
recovery (:mod:`host.kinetics` defines each). Bottom, with two or more intervals: the
intervals aligned at the end of work (grey), their ensemble average (black) and its
kinetics drawn the same way. The title says the data's provenance ("SIMULATED data").
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state

from host.kinetics import Kinetics, KineticsResult
from host.kinetics_fit import gross_outliers

__all__ = ["build_figure", "plot_kinetics"]

_WORK_COLOUR = "#fde7e7"


def _draw_kinetics(ax: Axes, k: Kinetics, unit: str, *, first: bool) -> None:
    """Baseline, extreme, end value, half-recovery point and the fit of ``k`` on ``ax``."""

    def lab(text: str) -> str | None:  # each entry once in the legend
        return text if first else None

    off = k.work_off_s
    if math.isfinite(k.baseline_from_s):
        ax.plot(
            [k.baseline_from_s, k.baseline_to_s],
            [k.baseline] * 2,
            color="tab:green",
            lw=2,
            label=lab("baseline (its window)"),
        )
    ax.plot([k.work_on_s, k.recovery_to_s], [k.baseline] * 2, color="tab:green", lw=0.8, ls=":")
    ax.plot(
        k.extreme_at_s,
        k.extreme,
        "v" if k.extreme_kind == "nadir" else "^",
        color="tab:blue",
        ms=8,
        label=lab(k.extreme_kind),
    )
    ax.plot(off, k.end, "s", color="tab:orange", ms=6, label=lab("end of work"))
    if math.isfinite(k.half_recovery_s):
        ax.plot(
            off + k.half_recovery_s,
            k.half_recovery_target,
            "o",
            color="tab:purple",
            ms=7,
            label=lab("half recovery"),
        )
    f = k.fit
    if math.isfinite(f.tau_s):
        u = np.linspace(0.0, f.window_s, 300)
        ax.plot(off + u, f.curve(u), color="tab:red", lw=1.6, label=lab("mono-exponential fit"))
        ax.annotate(
            f"τ {f.tau_s:.1f} s ({f.tau_ci[0]:.1f}–{f.tau_ci[1]:.1f})\n"
            f"TD {f.delay_s:.1f} s, A {f.amplitude:.3g} {unit}",
            (off + f.window_s, f.curve(np.asarray(f.window_s))),
            textcoords="offset points",
            xytext=(-4, 6),
            ha="right",
            fontsize=7,
        )


def build_figure(result: KineticsResult) -> Figure:
    """The figure of ``result`` (one or two panels)."""
    rec, ch = result.recording, result.channel
    two = result.ensemble is not None
    fig = Figure(figsize=(11, 7.5 if two else 4.5), constrained_layout=True)
    axes = fig.subplots(2 if two else 1, 1, squeeze=False)[:, 0]
    fig.suptitle(
        f"{rec.source.name} sensor {rec.sensor}: {ch.name} kinetics "
        f"({rec.provenance.upper()} data)"
    )
    ylabel = f"{ch.name} ({ch.unit})"
    ax = axes[0]
    for k in result.intervals:
        ax.axvspan(k.work_on_s, k.work_off_s, color=_WORK_COLOUR, lw=0)
        ax.text(
            k.work_on_s,
            1.0,
            f" {k.number} {k.label}",
            transform=ax.get_xaxis_transform(),
            va="top",
            fontsize=7,
        )
    shown = np.where(gross_outliers(ch.values), np.nan, ch.values)  # as analysed
    ax.plot(rec.t_s, shown, color="0.35", lw=0.6, label=ylabel)
    for i, k in enumerate(result.intervals):
        _draw_kinetics(ax, k, ch.unit, first=i == 0)
    ax.set_xlabel("time (s)")
    ax.set_ylabel(ylabel)
    ax.legend(loc="best", fontsize=7, ncol=3)
    if two:
        ax = axes[1]
        ens = result.ensemble
        ax.axvspan(ens.work_on_s, ens.work_off_s, color=_WORK_COLOUR, lw=0)
        for rep in result.ensemble_reps:
            ax.plot(result.ensemble_u_s, rep, color="0.7", lw=0.6)
        ax.plot(
            result.ensemble_u_s,
            result.ensemble_mean,
            color="k",
            lw=1.0,
            label=f"ensemble of {ens.n_averaged}",
        )
        _draw_kinetics(ax, ens, ch.unit, first=True)
        ax.set_xlabel("time from the end of work (s)")
        ax.set_ylabel(ylabel)
        ax.set_title("intervals aligned at the end of work (grey) and their mean", fontsize=9)
        ax.legend(loc="best", fontsize=7, ncol=3)
    return fig


def plot_kinetics(result: KineticsResult, path: str | Path) -> Path:
    """Write the figure of ``result`` as a PNG at ``path``; returns the path."""
    path = Path(path)
    build_figure(result).savefig(path, dpi=110, format="png")
    return path
