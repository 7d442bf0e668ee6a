"""A PNG of any recording (:class:`host.recording.Recording`), whatever device made it.

:func:`plot_recording` draws each quantity on its own axis with its unit (all the
channels of one quantity and unit together: SmO2 Live and SmO2 Averaged, the ΔOD of
every wavelength), shades and labels the recording's intervals on every axis, leaves
gaps as gaps (a NaN value, or a time step much longer than the recording's usual one,
breaks the line), and says in the title the file, the sensor, the format and the
provenance (SIMULATED when so), with the importer's notes in small text below.
:func:`recording_figure` returns the figure without saving it (the tests read it).

This project's own sessions have a figure of their own (:func:`host.plots.plot_session`:
raw light, haemoglobin, the SmO2 estimate and the Borg ratings).
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state

from host.recording import Channel, Interval, Recording

__all__ = ["axis_label", "break_gaps", "plot_recording", "recording_figure", "shade_intervals"]

#: How a quantity is named on its axis (the field's usual short names).
QUANTITY_NAMES = {
    "smo2": "SmO2",
    "hbo2": "HbO2",
    "hhb": "HHb",
    "thb": "tHb",
    "d_od": "OD",
    "intensity": "light",
}
#: How :attr:`host.recording.Channel.unit` spellings are shown.
UNIT_TEXT = {"uM": "µM", "1": "dimensionless"}
#: How the title says :attr:`host.recording.Recording.provenance`.
PROVENANCE_TEXT = {"simulated": "SIMULATED data", "human": "human data"}
#: A time step longer than this many times the median step is a gap: the line breaks.
GAP_STEPS = 5.0
#: Interval shading, in turn (light, so the signals stay readable).
INTERVAL_COLOURS = ("#fde7e7", "#e8f0fe", "#e6f4ea", "#fff4d6", "#f1e6fa")
#: Inches per axis, and the figure's width, inches.
AXIS_HEIGHT_IN = 1.9
FIGURE_WIDTH_IN = 11.0
#: Characters per line of the notes below the axes.
NOTE_WIDTH = 150


def axis_label(channel: Channel) -> str:
    """The y label of a channel's axis: quantity and unit, e.g. ``"ΔHbO2 (µM)"``,
    ``"SmO2 (%)"``, ``"ΔOD (dimensionless)"``; an ``other`` channel by its own name."""
    name = QUANTITY_NAMES.get(channel.quantity, channel.name)
    if channel.relative and not name.startswith("Δ"):
        name = f"Δ{name}"
    return f"{name} ({UNIT_TEXT.get(channel.unit, channel.unit)})"


def _groups(recording: Recording) -> list[list[Channel]]:
    """Channels grouped by (quantity, unit, relative), in the file's order; every
    ``other`` channel alone (it is not one quantity)."""
    groups: dict[tuple, list[Channel]] = {}
    for i, c in enumerate(recording.channels):
        key = ("other", i) if c.quantity == "other" else (c.quantity, c.unit, c.relative)
        groups.setdefault(key, []).append(c)
    return list(groups.values())


def break_gaps(
    t: np.ndarray, v: np.ndarray, *, max_step_s: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``t`` and ``v`` (shape (n,) or (n, k)) with a NaN row inserted in every time step
    longer than ``max_step_s`` (default :data:`GAP_STEPS` median steps), so that a line
    breaks there as it does at a NaN value."""
    t, v = np.asarray(t, dtype=float), np.asarray(v, dtype=float)
    if t.size < 2 or (max_step_s is None and t.size < 3):
        return t, v
    steps = np.diff(t)
    limit = GAP_STEPS * np.median(steps) if max_step_s is None else max_step_s
    long = np.flatnonzero(steps > limit)
    if long.size == 0:
        return t, v
    return np.insert(t, long + 1, t[long] + steps[long] / 2), np.insert(v, long + 1, np.nan, 0)


def _title(recording: Recording) -> str:
    r = recording
    parts = [f"{r.source.name}", f"sensor {r.sensor}", f"format {r.format}"]
    parts.append(PROVENANCE_TEXT.get(r.provenance, f"provenance {r.provenance}"))
    if r.start_utc is not None:
        parts.append(f"started {r.start_utc.isoformat(timespec='seconds')}")
    device = r.metadata.get("device")
    if device:
        parts.append(f"device {device}")
    return " · ".join(parts)


def shade_intervals(axes: Sequence[Axes], intervals: Sequence[Interval]) -> None:
    """Shade each interval on every axis (a dotted line for one of no duration), and write
    its label above the first axis at its onset. A phase of this project's sessions
    (baseline, hold, ...) takes its colour of :data:`host.plots.PHASE_COLOURS`, as in
    every plot of a session; other intervals take colours in turn."""
    from host.plots import PHASE_COLOURS

    for k, iv in enumerate(intervals):
        colour = PHASE_COLOURS.get(iv.label, INTERVAL_COLOURS[k % len(INTERVAL_COLOURS)])
        for ax in axes:
            if iv.duration_s > 0:
                ax.axvspan(iv.onset_s, iv.end_s, color=colour, lw=0, zorder=0)
            else:
                ax.axvline(iv.onset_s, color="0.4", lw=0.8, ls=":", zorder=0)
        axes[0].text(
            iv.onset_s,
            1.01,
            iv.label,
            transform=axes[0].get_xaxis_transform(),
            fontsize=7,
            rotation=30 if len(intervals) > 8 else 0,
            va="bottom",
            ha="left",
        )


def recording_figure(recording: Recording) -> Figure:
    """The figure :func:`plot_recording` saves (see the module docstring).

    Returns
    -------
    matplotlib.figure.Figure
        One axis per channel group (shared time axis, s); the intervals' labels are texts
        on the top axis; the notes a text below the axes.

    Raises
    ------
    ValueError
        The recording has no channel.
    """
    groups = _groups(recording)
    if not groups:
        raise ValueError(f"{recording.source}: sensor {recording.sensor} has no channel to plot")
    notes = "\n".join(
        textwrap.fill(f"• {n}", NOTE_WIDTH, subsequent_indent="  ") for n in recording.notes
    )
    n_note_lines = notes.count("\n") + 1 if notes else 0
    height = AXIS_HEIGHT_IN * len(groups) + 1.0 + 0.16 * n_note_lines
    fig = Figure(figsize=(FIGURE_WIDTH_IN, height), layout="constrained")
    axes = np.atleast_1d(fig.subplots(len(groups), 1, sharex=True, squeeze=False)[:, 0])
    fig.suptitle(_title(recording), fontsize=10)
    t = np.asarray(recording.t_s, dtype=float)
    shade_intervals(axes, recording.intervals)
    for ax, group in zip(axes, groups):
        for c in group:
            tt, vv = break_gaps(t, c.values)
            ax.plot(tt, vv, lw=0.8, label=c.name)
            if not np.any(np.isfinite(c.values)):
                ax.text(
                    0.5,
                    0.5,
                    f"{c.name}: no valid value",
                    transform=ax.transAxes,
                    ha="center",
                    va="center",
                    fontsize=8,
                )
        ax.set_ylabel(axis_label(group[0]), fontsize=9)
        ax.legend(loc="upper right", fontsize=7, ncol=min(len(group), 4))
    axes[-1].set_xlabel("time (s)")
    if notes:
        bottom = (0.16 * n_note_lines + 0.1) / height  # room for the notes below the axes
        fig.get_layout_engine().set(rect=(0, bottom, 1, 1 - bottom))
        fig.text(0.01, 0.01, notes, fontsize=7, va="bottom", ha="left", color="0.25")
    return fig


def plot_recording(recording: Recording, out_png: str | os.PathLike) -> Path:
    """Draw ``recording`` (:func:`recording_figure`) into ``out_png``; its folder is made
    if missing. Returns the path written.

    Raises
    ------
    OSError
        The file cannot be written.
    ValueError
        The recording has no channel.
    """
    path = Path(out_png)
    fig = recording_figure(recording)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path
