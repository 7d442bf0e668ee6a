"""The wavelet matrix, voxel and Nyquist figures of :mod:`host.video.plots` (seed 000
Figs. 3, 4, 5): one frame's matrix or grid, or one bar per feature."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from host.video.keypoints import SEGMENTS
from host.video.kinematics import MAX_HIGH_BAND_POWER_FRACTION, NYQUIST_MIN_FRAMES
from host.video.plots_common import (
    DPI,
    LABEL_FONT_PT,
    ROW_HEIGHT_IN,
    SERIES_HEIGHT_IN,
    VOXELS_SIZE_IN,
    WAVELET_WIDTH_IN,
    no_data,
    split_unit,
    title,
)
from host.video.plots_windows import WINDOW_S
from host.video.track import INTERPOLATED, VideoError

if TYPE_CHECKING:
    from host.video.pipeline import VideoFeatures

__all__ = [
    "not_checked_summary",
    "nyquist_figure",
    "nyquist_headline",
    "plot_nyquist",
    "plot_voxels",
    "plot_wavelet_matrix",
    "time_window",
    "voxels_figure",
    "wavelet_figure",
]

#: The feature whose reconstructions :func:`plot_wavelet_matrix` shows by default.
DEFAULT_WAVELET_FEATURE = ("left_elbow", "°")
#: Length of the time window the wavelet figure's right panel shows, centred on the frame,
#: s: the seed's 30 s sliding window (host.video.plots_windows.WINDOW_S, seed 000 §IV), so a
#: 10-30 min session is not drawn as a solid block.
TIME_WINDOW_S = WINDOW_S
#: A standardised wavelet value is drawn in the colour map's range ±this (z).
Z_RANGE = 3.0


def _frame(vf: VideoFeatures, frame: int | None) -> int:
    n = vf.track.n_frames
    if n == 0:
        raise VideoError(vf.track.source, "has no frame to plot")
    frame = n // 2 if frame is None else frame
    if not 0 <= frame < n:
        raise VideoError(vf.track.source, f"frame {frame} is outside 0..{n - 1}")
    return frame


def time_window(time_s: np.ndarray, t_frame: float) -> tuple[float, float]:
    """Start and end, s, of the wavelet figure's time panel: ``t_frame`` ± TIME_WINDOW_S / 2,
    cut to the track's first and last time (``time_s``, shape (n_frames,), s)."""
    half = TIME_WINDOW_S / 2
    return max(t_frame - half, float(time_s[0])), min(t_frame + half, float(time_s[-1]))


def _feature_stats(wavelets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per feature: mean and standard deviation of ``wavelets`` (n_frames, n_features,
    n_levels) over frames and levels, ignoring NaN; NaN for a feature with no valid value
    or no spread."""
    n_feat = wavelets.shape[1]
    mean, std = np.full(n_feat, np.nan), np.full(n_feat, np.nan)
    for j in range(n_feat):
        values = wavelets[:, j, :]
        values = values[np.isfinite(values)]
        if values.size:
            mean[j], std[j] = values.mean(), values.std()
    return mean, np.where(std > 0, std, np.nan)


def _wavelet_feature(names: Sequence[str]) -> int:
    """Column of :data:`DEFAULT_WAVELET_FEATURE` (first feature if there is none)."""
    key, unit = DEFAULT_WAVELET_FEATURE
    for j, name in enumerate(names):
        base, u = split_unit(name)
        if key in base and u == unit:
            return j
    return 0


def wavelet_figure(
    vf: VideoFeatures, frame: int | None = None, feature: int | None = None
) -> Figure:
    """The figure :func:`plot_wavelet_matrix` saves.

    Left: ``vf.wavelets[frame]``, shape (n_features, n_levels), as an image: features on y,
    levels 1..l on x, each feature standardised over the whole recording (its mean and
    standard deviation over all frames and levels: z, dimensionless) so that features of
    different units share one colour scale; NaN grey. Right: feature ``feature`` (default
    :data:`DEFAULT_WAVELET_FEATURE`) and its reconstruction at every level in the window
    :func:`time_window` (±TIME_WINDOW_S / 2 around the frame, s), the frame's time marked;
    only levels with a value in the window are drawn and listed.
    """
    track = vf.track
    frame = _frame(vf, frame)
    names = vf.feature_names
    n_feat, n_lev = vf.wavelets.shape[1], vf.wavelets.shape[2]
    feature = _wavelet_feature(names) if feature is None else feature
    height = max(5.5, ROW_HEIGHT_IN * n_feat + 1.8)
    fig = Figure(figsize=(WAVELET_WIDTH_IN, height), layout="constrained")
    # Room between the colour bar's label and the time panel's y label (inches).
    fig.get_layout_engine().set(w_pad=0.12)
    # The time series keeps a readable height however many features the matrix has; the
    # colour bar sits in its own narrow column right beside the matrix, as tall as the series.
    spare_in = max(height - SERIES_HEIGHT_IN, 0.0)
    grid = fig.add_gridspec(
        2,
        3,
        width_ratios=[1, 0.04, 1.6],
        height_ratios=[SERIES_HEIGHT_IN, spare_in or 1e-3],
    )
    left, right = fig.add_subplot(grid[:, 0]), fig.add_subplot(grid[0, 2])
    cax = fig.add_subplot(grid[0, 1])
    t_frame = track.time_s[frame]
    fig.suptitle(
        title(track, f"db4 wavelet matrix, frame {frame} (t = {t_frame:.2f} s)"), fontsize=10
    )
    mean, std = _feature_stats(vf.wavelets)
    z = (vf.wavelets[frame] - mean[:, None]) / std[:, None]
    cmap = colormaps["RdBu_r"].with_extremes(bad="0.8")
    image = left.imshow(
        np.ma.masked_invalid(z),
        aspect="auto",
        cmap=cmap,
        vmin=-Z_RANGE,
        vmax=Z_RANGE,
        interpolation="nearest",
        extent=(0.5, n_lev + 0.5, n_feat - 0.5, -0.5),
    )
    left.set_xticks(range(1, n_lev + 1))
    left.set_xlabel("wavelet level (approximation, 1 = finest)")
    left.set_yticks(range(n_feat))
    left.set_yticklabels(names, fontsize=LABEL_FONT_PT)
    left.set_ylabel("feature (unit in its name)")
    bar = fig.colorbar(image, cax=cax)
    bar.set_label("z (dimensionless)")
    left.set_title("each row standardised over the recording; grey: no value", fontsize=8)

    lo, hi = time_window(track.time_s, t_frame)
    inside = (track.time_s >= lo) & (track.time_s <= hi)
    t = track.time_s[inside]
    base, unit = split_unit(names[feature]) if n_feat else ("", "")
    if n_feat:
        series = vf.features[inside, feature]
        if np.isfinite(series).any():
            right.plot(t, series, color="0.6", lw=1.5, label="feature (smoothed)")
        colours = colormaps["viridis"](np.linspace(0, 0.9, max(n_lev, 1)))
        for lev in range(n_lev):
            values = vf.wavelets[inside, feature, lev]
            if np.isfinite(values).any():  # a level without data here stays off the legend
                right.plot(t, values, color=colours[lev], lw=0.9, label=f"level {lev + 1}")
        if not np.isfinite(vf.wavelets[inside, feature, :]).any():
            no_data(right, f"{names[feature]}: no valid value in this window")
    right.axvline(t_frame, color="k", lw=0.8, ls=":", label=f"frame {frame}")
    if hi > lo:  # a one-frame track has no span
        right.set_xlim(lo, hi)
    right.set_xlabel("time (s)")
    right.set_ylabel(f"{base.replace('_', ' ')} ({unit or 'as named'})")
    right.set_title(
        f"{names[feature] if n_feat else 'no feature'}: db4 approximation at each level\n"
        f"window {lo:.1f}–{hi:.1f} s: ±{TIME_WINDOW_S / 2:g} s around frame {frame}"
        f"{', cut to the track' if hi - lo < TIME_WINDOW_S else ''}",
        fontsize=9,
    )
    right.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7)
    return fig


def plot_wavelet_matrix(vf: VideoFeatures, out: Path, *, frame: int | None = None) -> None:
    """Save :func:`wavelet_figure` as a PNG (seed 000 Fig. 4).

    ``frame``: the frame whose matrix is drawn, 0..n_frames-1 (default the middle one).

    Raises
    ------
    VideoError
        ``frame`` is outside the track, or the track has no frame.
    OSError
        ``out`` cannot be written.
    """
    wavelet_figure(vf, frame).savefig(out, dpi=DPI)


def voxels_figure(vf: VideoFeatures, frame: int | None = None) -> Figure:
    """The figure :func:`plot_voxels` saves.

    Left: ``vf.voxels.frame(frame)``, shape (20, 20, 20) indexed x, y, z, its occupied
    cells as cubes, drawn with image-y pointing up and depth going away from the camera
    (cells, dimensionless: the grid is cropped around the mean keypoint and reduced, seed
    000 §III-B). The ticks sit at cell centres and show the index stored in the file; the
    stored iy counts image-down (0 = top of the image), so on the upward axis its labels
    run from 0 at the top. Right: the same frame's keypoints and segments in the image, px, measured
    in green, interpolated in orange, unknown ones absent.
    """
    track = vf.track
    frame = _frame(vf, frame)
    grid = np.asarray(vf.voxels.frame(frame)).astype(bool)
    fig = Figure(figsize=VOXELS_SIZE_IN)  # placed by hand: 3D axes and constrained layout clash
    fig.suptitle(
        title(track, f"3D posture voxels, frame {frame} (t = {track.time_s[frame]:.2f} s)"),
        fontsize=10,
    )
    ax3 = fig.add_axes((0.0, 0.02, 0.55, 0.86), projection="3d")
    # Matplotlib's axes: x = image x, y = depth z, z = image y flipped (up).
    shown = np.transpose(grid[:, ::-1, :], (0, 2, 1))
    if shown.any():
        ax3.voxels(shown, facecolors="tab:blue", edgecolor="k", linewidth=0.2, alpha=0.9)
    else:
        ax3.text2D(0.5, 0.5, "no occupied cell", transform=ax3.transAxes, ha="center")
    nx, nz, ny = shown.shape
    # Ticks at cell centres, labelled with the index stored in the file (ix, iy, iz). The
    # stored iy counts image-down; it is drawn image-up, so its labels run top to bottom.
    stored = (0, 5, 10, 15)
    for set_lim, set_ticks, size, flipped in (
        (ax3.set_xlim, ax3.set_xticks, nx, False),
        (ax3.set_ylim, ax3.set_yticks, nz, False),
        (ax3.set_zlim, ax3.set_zticks, ny, True),
    ):
        set_lim(0, size)
        index = [i for i in (*stored, size - 1) if i < size]
        place = [(size - 1 - i if flipped else i) + 0.5 for i in index]
        set_ticks(place, [str(i) for i in index])
    ax3.set_xlabel("x cell ix (0 = left of the image)", fontsize=8)
    ax3.set_ylabel("z cell iz (0 = nearest the camera)", fontsize=8)
    ax3.set_zlabel("y cell iy (0 = top of the image)", fontsize=8)
    ax3.text2D(
        0.5,
        0.98,
        f"{int(grid.sum())} of {grid.size} cells occupied",
        transform=ax3.transAxes,
        ha="center",
        fontsize=9,
    )
    ax3.view_init(elev=15, azim=-65)

    ax = fig.add_axes((0.62, 0.12, 0.36, 0.72))
    xy = track.xyz_px[frame, :, :2]
    known = np.isfinite(xy).all(axis=1)
    interp = (track.keypoint_flags[frame] & INTERPOLATED).astype(bool)
    for a, b in SEGMENTS:
        if known[a] and known[b]:
            colour = "tab:orange" if interp[a] or interp[b] else "tab:green"
            ax.plot(xy[[a, b], 0], xy[[a, b], 1], color=colour, lw=2)
    ax.scatter(
        xy[known & ~interp, 0],
        xy[known & ~interp, 1],
        c="tab:green",
        s=18,
        zorder=3,
        label="measured",
    )
    ax.scatter(
        xy[known & interp, 0],
        xy[known & interp, 1],
        c="tab:orange",
        s=18,
        zorder=3,
        label="interpolated",
    )
    if not known.any():
        no_data(ax, "no keypoint known in this frame")
    ax.set_xlim(0, track.width)
    ax.set_ylim(track.height, 0)
    ax.set_aspect("equal")
    ax.set_xlabel("x (px)")
    ax.set_ylabel("y (px, down)")
    ax.set_title(f"keypoints in the {track.width} × {track.height} px frame", fontsize=9)
    ax.legend(loc="lower right", fontsize=7)
    return fig


def plot_voxels(vf: VideoFeatures, out: Path, *, frame: int | None = None) -> None:
    """Save :func:`voxels_figure` as a PNG (seed 000 Fig. 5).

    ``frame``: 0..n_frames-1 (default the middle one).

    Raises
    ------
    VideoError
        ``frame`` is outside the track, or the track has no frame.
    OSError
        ``out`` cannot be written.
    """
    voxels_figure(vf, frame).savefig(out, dpi=DPI)


def _checked(report: object) -> bool:
    """Whether the Nyquist check measured ``report`` (a NyquistReport): its ``reason`` is
    empty and its share a number."""
    share = float(getattr(report, "high_band_power_fraction", np.nan))
    return not getattr(report, "reason", "") and bool(np.isfinite(share))


def _why_not(report: object) -> str:
    """Why ``report`` was not checked, in words shared by all features of the same cause."""
    used = getattr(report, "n_frames_used", None)
    reason = getattr(report, "reason", "")
    if (used is not None and used < NYQUIST_MIN_FRAMES) or "needs at least" in reason:
        return f"no run of {NYQUIST_MIN_FRAMES} known frames in a row"
    return reason or "no value"


def not_checked_summary(reports: Sequence[object]) -> str:
    """The causes of the reports not checked, most common first, with the longest run of
    known frames among them (e.g. "no run of 60 known frames in a row (longest: 42)");
    ``""`` when every report was checked."""
    causes: dict[str, list[int]] = {}
    for r in reports:
        if not _checked(r):
            causes.setdefault(_why_not(r), []).append(int(getattr(r, "n_frames_used", 0)))
    parts = []
    for cause, used in sorted(causes.items(), key=lambda kv: -len(kv[1])):
        longest = f" (longest: {max(used)})" if cause.startswith("no run of") else ""
        parts.append(cause + longest)
    return "; ".join(parts)


def nyquist_headline(reports: Sequence[object]) -> str:
    """The first title line of :func:`nyquist_figure`: how many features pass, counted
    among the checked ones only (a NyquistReport with an empty ``reason``), and how many
    were not checked and why (:func:`not_checked_summary`)."""
    n = len(reports)
    checked = [r for r in reports if _checked(r)]
    passed = sum(bool(r.ok) for r in checked)  # type: ignore[attr-defined]
    head = "Nyquist check (seed eq. 4): "
    if n == 0:
        return head + "no feature"
    if len(checked) == n:
        return head + f"{passed} of {n} features pass"
    why = not_checked_summary(reports)
    if not checked:
        return head + f"{n} of {n} features not checked: {why}"
    return (
        head + f"{passed} of {len(checked)} checked features pass; "
        f"{n - len(checked)} not checked ({why})"
    )


def nyquist_figure(
    vf: VideoFeatures, *, threshold: float | None = MAX_HIGH_BAND_POWER_FRACTION
) -> Figure:
    """The figure :func:`plot_nyquist` saves: one horizontal bar per checked feature, its
    ``NyquistReport.high_band_power_fraction`` (dimensionless, log scale), green if the
    report passes, red if not; ``threshold`` as a dashed line (default the check's own,
    :data:`host.video.kinematics.MAX_HIGH_BAND_POWER_FRACTION`; ``None``: no line).

    A feature not checked (``reason`` set: its longest run of known frames is shorter than
    :data:`host.video.kinematics.NYQUIST_MIN_FRAMES`) has no bar: its row says "not
    checked" and its run's length. When no feature was checked the figure is a text panel
    saying why. The title counts passes among the checked features only
    (:func:`nyquist_headline`).
    """
    track = vf.track
    reports = list(vf.nyquist)
    names = [r.name for r in reports]
    share = np.array([r.high_band_power_fraction for r in reports], dtype=float)
    ok = np.array([bool(r.ok) for r in reports], dtype=bool)
    checked = np.array([_checked(r) for r in reports], dtype=bool)
    n = len(names)
    fig_height = max(4.0, ROW_HEIGHT_IN * n + 1.6) if checked.any() else 4.0
    fig = Figure(figsize=(10.0, fig_height), layout="constrained")
    ax = fig.subplots()
    fig.suptitle(title(track, nyquist_headline(reports)), fontsize=10)
    if not checked.any():
        ax.set_axis_off()
        min_s = NYQUIST_MIN_FRAMES / track.fps if track.fps > 0 else float("nan")
        lines = [
            f"No feature was checked ({n} features).",
            "",
            f"Why: {not_checked_summary(reports) or 'the track has no feature'}.",
            "",
            f"The check (host.video.kinematics.nyquist_check) needs each feature known in "
            f"at least {NYQUIST_MIN_FRAMES} frames in a row",
            f"({min_s:.1f} s at {track.fps:g} frames/s): a longer clip or fewer frames "
            "without a pose would let it run.",
        ]
        ax.text(0.5, 0.5, "\n".join(lines), transform=ax.transAxes, ha="center", va="center")
        return fig
    floor = max(np.min(share[checked & (share > 0)], initial=1.0) / 10, 1e-12)
    shown = np.maximum(np.where(checked, share, floor), floor)
    colours = np.where(ok, "tab:green", "tab:red")
    y = np.arange(n)
    ax.barh(y[checked], shown[checked], color=colours[checked], height=0.8)
    ax.set_xscale("log")
    if threshold is not None:
        ax.axvline(threshold, color="k", ls="--", lw=1)
        ax.text(threshold, -0.8, f" threshold {threshold:g}", fontsize=7, va="bottom")
    ax.set_yticks(y)
    ax.set_yticklabels(names, fontsize=LABEL_FONT_PT)
    for label, is_checked in zip(ax.get_yticklabels(), checked):
        if not is_checked:
            label.set_color("0.5")
    # Unchecked rows: a grey note at the axis' left edge (x in axes units, y in data units).
    note = ax.get_yaxis_transform()
    for j in np.flatnonzero(~checked):
        used = getattr(reports[j], "n_frames_used", None)
        run = f": {used} known frames in a row" if used is not None else ""
        ax.text(
            0.005, j, f"not checked{run}", transform=note, va="center", fontsize=5.5, color="0.4"
        )
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_xlabel(
        "share of the feature's power in the high band "
        "(dimensionless; green pass, red fail, grey name: not checked)"
    )
    return fig


def plot_nyquist(
    vf: VideoFeatures, out: Path, *, threshold: float | None = MAX_HIGH_BAND_POWER_FRACTION
) -> None:
    """Save :func:`nyquist_figure` as a PNG.

    Raises
    ------
    OSError
        ``out`` cannot be written.
    """
    nyquist_figure(vf, threshold=threshold).savefig(out, dpi=DPI)
