"""The features-over-time figure of :func:`host.video.plots.plot_features` (seed 000 Fig. 2).

A short track is drawn frame by frame (:func:`frames_figure`); a track longer than
:data:`host.video.plots_windows.LONG_TRACK_S` as per-window summaries
(:func:`windowed_figure`, numbers from :func:`host.video.plots_windows.window_summary`),
where the slow changes of fatigue show and single movements do not.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from host.video.keypoints import INDEX
from host.video.plots_common import (
    DPI,
    FEATURES_SIZE_IN,
    FLAG_SHADES,
    JOINT_COLOURS,
    WINDOWED_SIZE_IN,
    angle_columns,
    no_data,
    split_unit,
    tilt_columns,
    title,
)
from host.video.plots_windows import LONG_TRACK_S, PERCENTILES, WindowTable, window_summary
from host.video.track import INTERPOLATED, PoseTrack

if TYPE_CHECKING:
    from host.video.pipeline import VideoFeatures

__all__ = ["features_figure", "frames_figure", "plot_features", "windowed_figure"]

#: Seconds per minute: the windowed figure's time axis is in minutes.
S_PER_MIN = 60.0
#: The windowed figure's joint whose p5–p95 band is drawn around its median (the others'
#: bands would cover each other; every joint's band width is on the range-of-motion panel).
BAND_JOINT = "elbow"


def _legend_above(ax: Axes, handles: list | None = None, ncol: int = 6) -> None:
    """A one-line legend right-aligned above ``ax``, beside its left-aligned title, where it
    covers no data."""
    kw = {"handles": handles} if handles is not None else {}
    ax.legend(
        **kw,
        loc="lower right",
        bbox_to_anchor=(1.0, 1.0),
        fontsize=7,
        ncol=ncol,
        frameon=False,
        borderaxespad=0.1,
    )


def _shade_flags(axes: Sequence[Axes], track: PoseTrack) -> list[str]:
    """Shade the flagged frames on every axis (labelled for the legend on the last one);
    the flags present."""
    present = []
    t = track.time_s
    half = 0.5 / track.fps
    for bit, text, colour in FLAG_SHADES:
        mask = (track.frame_flags & bit).astype(bool)
        if not mask.any():
            continue
        present.append(text)
        # Each frame covers its time ± half a frame: edges at the midpoints between frames.
        tt = np.repeat(t, 2) + np.tile([-half, half], len(t))
        mm = np.repeat(mask, 2)
        for k, ax in enumerate(axes):
            ax.fill_between(
                tt,
                0,
                1,
                where=mm,
                transform=ax.get_xaxis_transform(),
                color=colour,
                lw=0,
                zorder=0,
                label=text if k == len(axes) - 1 else "_nolegend_",
            )
    return present


def _wrist_speed_px_s(track: PoseTrack) -> np.ndarray:
    """Shape (n_frames, 2): left and right wrist speed in the image plane, px/s
    (backward difference of x, y times fps; NaN where a wrist is unknown)."""
    speed = np.full((track.n_frames, 2), np.nan)
    for c, name in enumerate(("left_wrist", "right_wrist")):
        xy = track.xyz_px[:, INDEX[name], :2]
        if track.n_frames > 1:
            speed[1:, c] = np.hypot(*np.diff(xy, axis=0).T) * track.fps
    return speed


def _borg(ax: Axes, track: PoseTrack, t_end: float, scale: float = 1.0) -> None:
    """The Borg ratings as a step line on ``ax`` (times / ``scale``), 0–10.5."""
    # Each rating holds until the next one, the last until the end of the track.
    bt = np.append(track.borg_time_s, max(t_end, track.borg_time_s[-1])) / scale
    br = np.append(track.borg_rating, track.borg_rating[-1])
    ax.step(bt, br, where="post", color="k", lw=1.2)
    ax.plot(track.borg_time_s / scale, track.borg_rating, "ko", ms=2, label="Borg CR10 rating")
    ax.set_ylim(0, 10.5)
    ax.set_ylabel("Borg CR10 rating (0–10)")


def frames_figure(vf: VideoFeatures) -> Figure:
    """Frame by frame: four panels on one time axis, s.

    Panels: joint angles (° as in the feature names; Borg CR10 on a second axis when the
    track has ratings), head tilts, image-plane wrist speed (px/s, from the keypoints,
    unsmoothed), and the share of keypoints interpolated and unknown per frame (%).
    Frames flagged no pose / two people / implausible / unreadable are shaded on all four.
    """
    track = vf.track
    t = track.time_s
    fig = Figure(figsize=FEATURES_SIZE_IN, layout="constrained")
    axes = fig.subplots(4, 1, sharex=True)
    fig.suptitle(title(track, "Kinematic features, frame by frame"), fontsize=10)
    present = _shade_flags(axes, track)
    empty: list[str] = []

    ax = axes[0]
    angles = angle_columns(vf.feature_names)
    units = {split_unit(vf.feature_names[j])[1] for j, _, _ in angles}
    for j, joint, side in angles:
        values = vf.features[:, j]
        if not np.isfinite(values).any():
            empty.append(vf.feature_names[j])
        ls = "-" if side == "left" else "--"
        ax.plot(t, values, ls, color=JOINT_COLOURS[joint], lw=0.9, label=f"{side} {joint}")
    ax.set_ylabel(f"joint angle ({'/'.join(sorted(units)) or '°'})")
    if angles:
        ax.legend(loc="upper left", fontsize=7, ncol=3)
    else:
        no_data(ax, "no joint-angle feature in this file")
    if track.borg_rating.size:
        twin = ax.twinx()
        _borg(twin, track, t[-1])
        twin.legend(loc="upper right", fontsize=7)

    ax = axes[1]
    tilts = tilt_columns(vf.feature_names)
    for j in tilts:
        base, unit = split_unit(vf.feature_names[j])
        if not np.isfinite(vf.features[:, j]).any():
            empty.append(vf.feature_names[j])
        ax.plot(t, vf.features[:, j], lw=0.9, label=base.replace("_", " "))
    tilt_units = {split_unit(vf.feature_names[j])[1] for j in tilts}
    ax.set_ylabel(f"head tilt ({'/'.join(sorted(tilt_units)) or '°'})")
    if tilts:
        ax.legend(loc="upper left", fontsize=7, ncol=3)
    else:
        no_data(ax, "no head-tilt feature in this file")

    ax = axes[2]
    speed = _wrist_speed_px_s(track)
    ax.plot(t, speed[:, 0], "-", color=JOINT_COLOURS["wrist"], lw=0.8, label="left wrist")
    ax.plot(t, speed[:, 1], "--", color=JOINT_COLOURS["wrist"], lw=0.8, label="right wrist")
    ax.set_ylabel("wrist speed,\nimage plane (px/s)")
    ax.legend(loc="upper left", fontsize=7, ncol=2)
    if not np.isfinite(speed).any():
        no_data(ax, "no wrist known in two frames in a row")

    ax = axes[3]
    n_kp = track.xyz_px.shape[1]
    interp = (track.keypoint_flags & INTERPOLATED).astype(bool).sum(axis=1) / n_kp * 100
    unknown = (~track.known()).sum(axis=1) / n_kp * 100
    ax.plot(t, interp, color="tab:orange", lw=0.9, label="keypoints interpolated")
    ax.plot(t, unknown, color="0.2", lw=0.9, label="keypoints unknown")
    ax.set_ylim(-3, 103)
    ax.set_ylabel("share of the 11\nkeypoints (%)")
    ax.set_xlabel("time (s)")
    handles, labels = ax.get_legend_handles_labels()
    shown = dict(zip(labels, handles))  # one legend entry per flag (shaded on every axis)
    ax.legend(shown.values(), shown.keys(), loc="upper left", fontsize=7, ncol=3 + len(present))
    if empty:
        fig.text(0.01, 0.005, "no valid value: " + ", ".join(empty), fontsize=7, color="0.25")
    return fig


def windowed_figure(vf: VideoFeatures, table: WindowTable | None = None) -> Figure:
    """Per-window summaries (``table``, default :func:`window_summary` of ``vf``): seven
    panels on one time axis, min, one point per window at its middle.

    Panels: Borg CR10 ratings; each joint angle's median with its p5–p95 band (°);
    range of motion, p95 − p5 (°); forward and lateral head tilt medians (°) with the
    shoulder line's rise (% of shoulder width) on a second axis; wrist peak speed (p95,
    px/s); cycle period (s) with cycle repeatability (autocorrelation, dimensionless) on
    a second axis; share of frames flagged and of keypoints interpolated / unknown (%).
    """
    track = vf.track
    table = window_summary(vf) if table is None else table
    x = table.mid_s / S_PER_MIN
    lo_q, hi_q = (f"p{q:g}" for q in PERCENTILES)
    fig = Figure(figsize=WINDOWED_SIZE_IN, layout="constrained")
    axes = fig.subplots(7, 1, sharex=True)
    fig.suptitle(
        title(track, f"Kinematic features, {table.window_s:g} s windows ({table.n_windows})"),
        fontsize=10,
    )
    mark = {"marker": ".", "ms": 4, "lw": 1.0}

    ax = axes[0]
    ax.set_title("Borg CR10 ratings (each holds until the next)", fontsize=8, loc="left")
    if track.borg_rating.size:
        _borg(ax, track, track.time_s[-1], S_PER_MIN)
        _legend_above(ax)
    else:
        ax.set_ylabel("Borg CR10 rating (0–10)")
        no_data(ax, "no Borg ratings in this file")

    names = vf.feature_names
    angles = angle_columns(names)
    units = "/".join(sorted({split_unit(names[j])[1] for j, _, _ in angles})) or "°"
    ax, rom = axes[1], axes[2]
    ax.set_title(
        f"joint angles: median of each window, {BAND_JOINT}s with their {lo_q}–{hi_q} band",
        fontsize=8,
        loc="left",
    )
    rom.set_title(f"range of motion ({hi_q} − {lo_q} of each window)", fontsize=8, loc="left")
    for j, joint, side in angles:
        name, colour = names[j], JOINT_COLOURS[joint]
        ls = "-" if side == "left" else "--"
        label = f"{side} {joint}"
        ax.plot(x, table.angle_median_deg[name], ls, color=colour, label=label, **mark)
        if joint == BAND_JOINT:
            low, high = table.angle_low_deg[name], table.angle_high_deg[name]
            ax.fill_between(x, low, high, color=colour, alpha=0.15 if side == "left" else 0.08)
        span = table.angle_high_deg[name] - table.angle_low_deg[name]
        rom.plot(x, span, ls, color=colour, label=label, **mark)
    ax.set_ylabel(f"joint angle ({units})")
    rom.set_ylabel(f"range of motion ({units})")
    for a in (ax, rom):
        if angles:
            _legend_above(a, ncol=3)
        else:
            no_data(a, "no joint-angle feature in this file")

    ax = axes[3]
    ax.set_title("posture: head tilt medians; shoulder line rise", fontsize=8, loc="left")
    for name, values in table.tilt_median_deg.items():
        ax.plot(x, values, label=split_unit(name)[0].replace("_", " "), **mark)
    ax.set_ylabel("head tilt, median (°)")
    if not table.tilt_median_deg:
        no_data(ax, "no head-tilt feature in this file")
    twin = ax.twinx()
    twin.plot(x, table.shoulder_rise_pct, color="tab:purple", label="shoulder line rise", **mark)
    twin.set_ylabel("shoulder rise\n(% shoulder width)", color="tab:purple")
    handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    _legend_above(ax, handles)

    ax = axes[4]
    ax.set_title(f"wrist peak speed ({hi_q} of each window, smoothed)", fontsize=8, loc="left")
    for side, values in table.wrist_peak_speed_px_s.items():
        ls = "-" if side == "left" else "--"
        ax.plot(x, values, ls, color=JOINT_COLOURS["wrist"], label=f"{side} wrist", **mark)
    ax.set_ylabel("wrist peak speed,\nimage plane (px/s)")
    _legend_above(ax)

    ax = axes[5]
    ax.set_title(
        "work cycle: period and repeatability (autocorrelation of the wrists' x)",
        fontsize=8,
        loc="left",
    )
    ax.plot(x, table.cycle_period_s, color="tab:brown", label="cycle period", **mark)
    ax.set_ylabel("cycle period (s)", color="tab:brown")
    twin = ax.twinx()
    twin.plot(x, table.cycle_repeatability, color="tab:cyan", label="repeatability", **mark)
    twin.set_ylabel("repeatability\n(autocorrelation, 1 = identical)", color="tab:cyan")
    handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    _legend_above(ax, handles)

    ax = axes[6]
    ax.set_title("data quality per window", fontsize=8, loc="left")
    for _bit, text, colour in FLAG_SHADES:
        share = table.flagged_pct[text]
        if share.any():
            ax.plot(x, share, color=colour, label=f"frames: {text}", **mark)
    ax.plot(x, table.interpolated_pct, color="tab:orange", label="keypoints interpolated", **mark)
    ax.plot(x, table.unknown_pct, color="0.2", label="keypoints unknown", **mark)
    ax.set_ylabel("share of frames /\nkeypoints (%)")
    ax.set_ylim(bottom=0)
    _legend_above(ax)
    ax.set_xlabel("time (min)")
    return fig


def features_figure(vf: VideoFeatures) -> Figure:
    """The figure :func:`plot_features` saves: :func:`windowed_figure` for a track longer
    than :data:`LONG_TRACK_S`, else :func:`frames_figure`."""
    if vf.track.duration_s > LONG_TRACK_S:
        return windowed_figure(vf)
    return frames_figure(vf)


def plot_features(vf: VideoFeatures, out: Path) -> None:
    """Save :func:`features_figure` as a PNG at :data:`DPI` (:data:`FEATURES_SIZE_IN`
    frame by frame, :data:`WINDOWED_SIZE_IN` windowed).

    Raises
    ------
    OSError
        ``out`` cannot be written.
    """
    features_figure(vf).savefig(out, dpi=DPI)
