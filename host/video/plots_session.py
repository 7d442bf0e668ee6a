"""The session view's output: the figure of a session's NIRS and its camera on the
wearable's clock, and the lines printed with it (:func:`summary`).

One row each, top to bottom, sharing the time axis (s on the device's clock):

- ``haemoglobin``: ΔHbO2, ΔHHb, ΔtHb, µM;
- ``smo2``: the SmO2 estimate, % (:func:`device.mbll.smo2_percent`, as ``host plot``);
- ``nirs_level``: the device's smoothed level, and on the right axis its probability of
  the top levels;
- ``video_p``: the video model's fatigue probability per 30-s window, at the window's
  centre, the window's span as a bar, and the 0.5 line (only with a video);
- ``elbow``: elbow flexion with the 45 ± 10° band, the task failure it shows (only with a
  video);
- ``borg``: Borg CR10 ratings with the line at 7.

The task failure from the video (red) and the experimenter's key (black, dashed) are drawn
on every row; phases shaded as ``host plot`` shades them.
"""

from __future__ import annotations

import math
import textwrap
import warnings
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from device.mbll import smo2_percent
from host.plots import PHASE_COLOURS
from host.video.analyse import FATIGUE_THRESHOLD
from host.video.plots_common import DPI, no_data
from host.video.session_view import SessionView

__all__ = ["FATIGUE_P", "ROWS", "save_session_png", "session_figure", "summary"]

#: A window is fatigued when the model's sigmoid gives at least this: the threshold of its
#: two classes (seed 000 §IV trains a binary classifier, fatigued at Borg ≥ 7).
FATIGUE_P = FATIGUE_THRESHOLD  # host.video.analyse's, one place
#: Row name -> relative height.
ROWS = {
    "haemoglobin": 1.3,
    "smo2": 0.8,
    "nirs_level": 1.0,
    "video_p": 0.9,
    "elbow": 1.2,
    "borg": 0.9,
}
#: Rows drawn only when there is a camera.
VIDEO_ROWS = ("video_p", "elbow")
WIDTH_IN = 11.0
ROW_IN = 1.75
FAILURE_VIDEO = {"color": "tab:red", "lw": 1.4}
FAILURE_KEY = {"color": "k", "ls": "--", "lw": 1.2}
FAILURE_SIMULATED = {"color": "0.35", "ls": ":", "lw": 1.4}
#: y range of the elbow row, deg: straight arm to well past the 90° baseline (raised, up to
#: 180°, when the angle goes higher).
ELBOW_YLIM_DEG = (0.0, 120.0)
#: A gap in a series longer than this many of its median sample intervals is left blank
#: (assumption: jitter in a healthy record is far below 1.5 intervals; lost records are
#: whole intervals).
GAP_FACTOR = 1.5
#: Notes under the time axis are wrapped at this many characters; a row's caption is cut
#: at CAPTION_CHARS (about the figure's width at 7 pt).
NOTE_WIDTH_CHARS = 160
CAPTION_CHARS = 200


def _title(view: SessionView) -> str:
    r = view.record
    sim = "SIMULATED " if r.provenance == "simulated" else ""
    first = (
        f"{sim}session {view.record_path.name}: subject {r.subject_id}, {r.protocol}, "
        f"sensor on the {r.side} arm"
    )
    vf = view.kinematics
    if vf is None:
        second = "no camera"
    else:
        kind = {"simulated": "SIMULATED body", "camera": "camera", "video": "video file"}
        second = (
            f"camera: {view.kinematics_path.name} ({kind.get(vf.track.provenance, '?')}, "
            f"{vf.track.n_frames} frames at {vf.track.fps:g} frames/s), {view.side} elbow"
        )
    return f"{first}\n{second}; time on the wearable's clock"


def _broken(t: np.ndarray, *ys: np.ndarray) -> tuple[np.ndarray, ...]:
    """``t`` and ``ys`` with a NaN put in every gap longer than :data:`GAP_FACTOR` sample
    intervals (records lost to damage), so lines are not drawn across it."""
    if t.size < 3:
        return (t, *ys)
    at = np.flatnonzero(np.diff(t) > GAP_FACTOR * np.median(np.diff(t))) + 1
    return tuple(np.insert(np.asarray(a, dtype=float), at, np.nan) for a in (t, *ys))


def _caption(ax: Axes, text: str) -> None:
    """A small grey line of explanation above ``ax``, at its left."""
    ax.set_title(textwrap.shorten(text, CAPTION_CHARS), loc="left", fontsize=7, color="0.3", pad=2)


def _mark_failures(ax: Axes, view: SessionView) -> None:
    if view.failure is not None:
        ax.axvline(view.failure.t_s, **FAILURE_VIDEO)
    if view.key_s is not None:
        ax.axvline(view.key_s, **FAILURE_KEY)


def _haemoglobin(ax: Axes, view: SessionView) -> None:
    r = view.record
    t, hbo2, hhb = _broken(r.t_s + view.origin_s, r.d_hbo2_um, r.d_hhb_um)
    ax.plot(t, hbo2, color="tab:red", lw=0.8, label="ΔHbO2")
    ax.plot(t, hhb, color="tab:blue", lw=0.8, label="ΔHHb")
    ax.plot(t, hbo2 + hhb, color="tab:green", lw=0.8, label="ΔtHb")
    ax.set_ylabel("Δ haemoglobin (µM)")
    ax.legend(loc="upper left", fontsize=8, ncol=3)


def _smo2(ax: Axes, view: SessionView) -> None:
    r = view.record
    with warnings.catch_warnings():  # undefined where the fall exceeds the resting value
        warnings.simplefilter("ignore", RuntimeWarning)
        smo2 = np.asarray(smo2_percent(np.nan_to_num(r.d_hbo2_um), np.nan_to_num(r.d_hhb_um)))
    ax.plot(*_broken(r.t_s + view.origin_s, smo2), color="tab:purple", lw=0.8)
    ax.set_ylabel("SmO2 estimate (%)")


def _nirs_level(ax: Axes, view: SessionView) -> None:
    n = view.nirs
    names = n.names
    ax.set_ylim(-0.5, len(names) - 0.5)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_ylabel("NIRS model level")
    if not n.t_s.size:
        no_data(ax, "no PREDICTION record: the device ran without a model")
        return
    t, level = _broken(n.t_s, n.level)
    ax.step(t, level, where="post", color="tab:orange", lw=1.6, label="level (smoothed)")
    handles = ax.get_legend_handles_labels()
    if n.p_top is not None:
        right = ax.twinx()
        right.plot(*_broken(n.t_s, n.p_top), color="tab:brown", lw=0.9, alpha=0.8)
        right.set_ylim(0, 1.02)
        right.set_ylabel(f"p({' or '.join(n.top_names)})", fontsize=8, color="tab:brown")
        right.tick_params(axis="y", labelsize=8, colors="tab:brown")
        line = right.get_lines()[0]
        handles = (
            [*handles[0], line],
            [*handles[1], f"p({' or '.join(n.top_names)}), right axis"],
        )
    ax.legend(*handles, loc="upper left", fontsize=8)


def _video_p(ax: Axes, view: SessionView) -> None:
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel("video model\np(fatigued)")
    ax.axhline(FATIGUE_P, color="0.4", ls="--", lw=0.8)
    w = view.windows
    if w is None:
        _caption(ax, view.windows_note or "no video model")
        return
    assessed = view.assessed  # set with the windows (session_view._camera_rows)
    fatigued = assessed & (w.p_fatigued >= FATIGUE_P)
    ax.hlines(
        w.p_fatigued, w.start_s, w.end_s, color=np.where(fatigued, "tab:red", "tab:blue"),
        lw=0.6, alpha=0.35,
    )  # fmt: skip
    ax.plot(w.centre_s, w.p_fatigued, color="k", lw=0.8)
    colour = np.where(fatigued, "tab:red", "tab:blue")
    ax.scatter(w.centre_s[assessed], w.p_fatigued[assessed], c=colour[assessed], s=16, zorder=3)
    ax.scatter(  # too little pose: hollow, not a verdict
        w.centre_s[~assessed], w.p_fatigued[~assessed], facecolors="none", edgecolors="0.5",
        s=16, zorder=3,
    )  # fmt: skip
    hollow = ", hollow: too little pose, not assessed" if (~assessed).any() else ""
    _caption(
        ax, f"{view.model}; 30-s windows: dot at the centre, bar the span, ≥ {FATIGUE_P:g} "
        f"fatigued (red){hollow}"
    )  # fmt: skip


def _elbow(ax: Axes, view: SessionView) -> None:
    from host.video.task_failure import TARGET_FLEXION_DEG, TOLERANCE_DEG

    vf = view.kinematics
    with warnings.catch_warnings():  # an all-NaN angle (the arm never seen) is drawn empty
        warnings.simplefilter("ignore", RuntimeWarning)
        highest = float(np.nanmax(view.flexion_deg, initial=-np.inf))
    low, high = ELBOW_YLIM_DEG
    ax.set_ylim(low, max(high, min(180.0, highest + 5.0)))
    ax.set_ylabel(f"{view.side} elbow\nflexion (°)")
    ax.axhspan(
        TARGET_FLEXION_DEG - TOLERANCE_DEG, TARGET_FLEXION_DEG + TOLERANCE_DEG,
        color="tab:green", alpha=0.15, lw=0,
        label=f"{TARGET_FLEXION_DEG:g} ± {TOLERANCE_DEG:g}° (the hold)",
    )  # fmt: skip
    ax.plot(vf.track.time_s, view.flexion_deg, color="tab:brown", lw=0.6, label="flexion")
    if view.failure is not None:
        ax.plot(
            [], [], **FAILURE_VIDEO, label=f"task failure from the video {view.failure.t_s:.1f} s"
        )
        _caption(ax, view.failure.why)
    else:
        _caption(ax, f"no task failure from the video: {view.failure_note}")
    if view.key_s is not None:
        ax.plot([], [], **FAILURE_KEY, label=f"task failure key {view.key_s:.1f} s")
    if view.simulated_failure_s is not None and math.isfinite(view.simulated_failure_s):
        ax.axvline(view.simulated_failure_s, **FAILURE_SIMULATED)
        ax.plot(
            [], [], **FAILURE_SIMULATED,
            label=f"SIMULATED subject's failure {view.simulated_failure_s:.1f} s",
        )  # fmt: skip
    ax.legend(loc="upper right", fontsize=7, ncol=2)


def _borg(ax: Axes, view: SessionView) -> None:
    from host.video.model_spec import FATIGUE_BORG

    ax.set_ylim(-0.5, 10.5)
    ax.set_yticks(range(0, 11, 2))
    ax.set_ylabel("Borg CR10")
    ax.axhline(FATIGUE_BORG, color="tab:red", ls="--", lw=0.8)
    if not view.borg.size:
        no_data(ax, "no Borg rating recorded")
        return
    end = max(float(view.record.t_s[-1] + view.origin_s), float(view.borg_t_s[-1]))
    held_t = np.append(view.borg_t_s, end)  # each rating holds until the next, the last to the end
    ax.step(held_t, np.append(view.borg, view.borg[-1]), where="post", color="k", lw=1.2)
    ax.plot(view.borg_t_s, view.borg, "o", color="k", ms=3)
    _caption(
        ax, f"ratings: {view.borg_source}; dashed: Borg {FATIGUE_BORG} (the video model's "
        "'fatigued')"
    )  # fmt: skip


_DRAW = {
    "haemoglobin": _haemoglobin,
    "smo2": _smo2,
    "nirs_level": _nirs_level,
    "video_p": _video_p,
    "elbow": _elbow,
    "borg": _borg,
}


def session_figure(view: SessionView) -> tuple[Figure, dict[str, Axes]]:
    """The figure of ``view`` and its rows by name (:data:`ROWS`; without a camera the
    :data:`VIDEO_ROWS` are left out and the title says so)."""
    names = [n for n in ROWS if view.kinematics is not None or n not in VIDEO_ROWS]
    fig = Figure(figsize=(WIDTH_IN, ROW_IN * sum(ROWS[n] for n in names) + 1.2))
    fig.set_layout_engine("constrained")
    axes = fig.subplots(
        len(names), 1, sharex=True, gridspec_kw={"height_ratios": [ROWS[n] for n in names]}
    )
    rows = dict(zip(names, np.atleast_1d(axes)))
    fig.suptitle(_title(view), fontsize=10)
    for name, ax in rows.items():
        for phase, start, end in view.phases:
            ax.axvspan(start, end, color=PHASE_COLOURS.get(phase.split()[0], "#f6f6f6"), lw=0)
        _DRAW[name](ax, view)
        _mark_failures(ax, view)
        ax.grid(axis="x", color="0.85", lw=0.5)
    top = rows["haemoglobin"]
    for phase, start, end in view.phases:
        top.text((start + end) / 2, 1.01, phase, transform=top.get_xaxis_transform(),
                 ha="center", va="bottom", fontsize=7, color="0.3")  # fmt: skip
    bottom = rows[names[-1]]
    legend = ["time on the wearable's clock (s)"]
    if view.failure is not None:
        legend.append("red: task failure from the video")
    if view.key_s is not None:
        legend.append("black dashed: the experimenter's task-failure key")
    if view.phases:
        legend.append("shading: phases")
    notes = [textwrap.fill(f"note: {n}", NOTE_WIDTH_CHARS) for n in view.notes]
    bottom.set_xlabel("\n".join(["; ".join(legend), *notes]))
    t = view.record.t_s + view.origin_s
    bottom.set_xlim(float(t[0]), float(t[-1]))
    return fig, rows


def save_session_png(view: SessionView, path: Path) -> Path:
    """Draw ``view`` and write it to ``path`` (all or nothing, never replacing a file)."""
    from host.outputs import write_all

    fig, _ = session_figure(view)
    write_all({Path(path): lambda p: fig.savefig(p, dpi=DPI)})
    return Path(path)


def summary(view: SessionView) -> list[str]:
    """The lines printed at the end: task failure (video, key, simulated), the windows,
    the files written."""
    lines = []
    sim = "SIMULATED " if view.simulated else ""
    if view.failure is not None:
        seen = f"{view.failure.t_s:.2f} s ({view.failure.why})"
    elif view.kinematics is None:
        seen = "no video"
    else:
        seen = f"none ({view.failure_note})"
    parts = [f"{sim}task failure from the video: {seen}"]
    others = {"experimenter's key": view.key_s}
    if view.simulated_failure_s is not None:
        others["simulated (the subject's physiology)"] = view.simulated_failure_s
    for what, t in others.items():
        if t is None:
            parts.append(f"{what}: none")
            continue
        if math.isnan(t):  # a simulated subject who held to the planned end
            parts.append(f"{what}: none, held to the end")
            continue
        diff = f", video {view.failure.t_s - t:+.2f} s" if view.failure is not None else ""
        parts.append(f"{what}: {t:.2f} s{diff}")
    lines.append("; ".join(parts) + " (device clock)")
    w = view.windows
    if w is not None:
        assessed = view.assessed
        n, m = int(np.count_nonzero(assessed & (w.p_fatigued >= FATIGUE_P))), int(assessed.sum())
        line = f"video model: {n} of {m} assessed windows fatigued (p ≥ {FATIGUE_P:g})"
        line += f", {n / m:.0%}" if m else ""
        if m < w.p_fatigued.size:
            line += (
                f"; {w.p_fatigued.size - m} of {w.p_fatigued.size} not assessed (all keypoints "
                "known in under half their frames: too little pose)"
            )
        lines.append(line)
    elif view.kinematics is not None:
        lines.append(f"video model: {view.windows_note}")
    lines.append("wrote " + ", ".join(str(p) for p in view.written))
    return lines
