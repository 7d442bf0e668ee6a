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
from host.video.kinematics import MAX_HIGH_BAND_POWER_FRACTION
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
from host.video.track import INTERPOLATED, VideoError

if TYPE_CHECKING:
    from host.video.pipeline import VideoFeatures

__all__ = [
    "nyquist_figure",
    "plot_nyquist",
    "plot_voxels",
    "plot_wavelet_matrix",
    "voxels_figure",
    "wavelet_figure",
]

#: The feature whose reconstructions :func:`plot_wavelet_matrix` shows by default.
DEFAULT_WAVELET_FEATURE = ("left_elbow", "°")
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
    :data:`DEFAULT_WAVELET_FEATURE`) over time with its reconstruction at every level, the
    frame's time marked.
    """
    track = vf.track
    frame = _frame(vf, frame)
    names = vf.feature_names
    n_feat, n_lev = vf.wavelets.shape[1], vf.wavelets.shape[2]
    feature = _wavelet_feature(names) if feature is None else feature
    height = max(5.5, ROW_HEIGHT_IN * n_feat + 1.8)
    fig = Figure(figsize=(WAVELET_WIDTH_IN, height), layout="constrained")
    # The time series keeps a readable height however many features the matrix has.
    spare_in = max(height - SERIES_HEIGHT_IN, 0.0)
    grid = fig.add_gridspec(
        2, 2, width_ratios=[1, 1.6], height_ratios=[SERIES_HEIGHT_IN, spare_in or 1e-3]
    )
    left, right = fig.add_subplot(grid[:, 0]), fig.add_subplot(grid[0, 1])
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
    bar = fig.colorbar(image, ax=left, shrink=0.6, pad=0.01)
    bar.set_label("z (dimensionless)")
    left.set_title("each row standardised over the recording; grey: no value", fontsize=8)

    t = track.time_s
    base, unit = split_unit(names[feature]) if n_feat else ("", "")
    if n_feat:
        right.plot(t, vf.features[:, feature], color="0.6", lw=1.5, label="feature (smoothed)")
        colours = colormaps["viridis"](np.linspace(0, 0.9, max(n_lev, 1)))
        for lev in range(n_lev):
            right.plot(
                t,
                vf.wavelets[:, feature, lev],
                color=colours[lev],
                lw=0.9,
                label=f"level {lev + 1}",
            )
        if not np.isfinite(vf.wavelets[:, feature, :]).any():
            no_data(right, f"{names[feature]}: no valid value")
    right.axvline(t_frame, color="k", lw=0.8, ls=":", label=f"frame {frame}")
    right.set_xlabel("time (s)")
    right.set_ylabel(f"{base.replace('_', ' ')} ({unit or 'as named'})")
    right.set_title(
        f"{names[feature] if n_feat else 'no feature'}: db4 approximation at each level", fontsize=9
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
    000 §III-B). Right: the same frame's keypoints and segments in the image, px, measured
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
    for set_lim, set_ticks, size in (
        (ax3.set_xlim, ax3.set_xticks, nx),
        (ax3.set_ylim, ax3.set_yticks, nz),
        (ax3.set_zlim, ax3.set_zticks, ny),
    ):
        set_lim(0, size)
        set_ticks(range(0, size + 1, 5))
    ax3.set_xlabel("x (cell, image right)", fontsize=8)
    ax3.set_ylabel("z (cell, away from camera)", fontsize=8)
    ax3.set_zlabel("y (cell, image up)", fontsize=8)
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


def nyquist_figure(
    vf: VideoFeatures, *, threshold: float | None = MAX_HIGH_BAND_POWER_FRACTION
) -> Figure:
    """The figure :func:`plot_nyquist` saves: one horizontal bar per feature, its
    ``NyquistReport.high_band_power_fraction`` (dimensionless, log scale), green if the
    report passes, red if not, hatched grey "no data" where NaN; ``threshold`` as a
    dashed line (default the check's own,
    :data:`host.video.kinematics.MAX_HIGH_BAND_POWER_FRACTION`; ``None``: no line)."""
    track = vf.track
    names = [r.name for r in vf.nyquist]
    share = np.array([r.high_band_power_fraction for r in vf.nyquist], dtype=float)
    ok = np.array([bool(r.ok) for r in vf.nyquist])
    n = len(names)
    fig = Figure(figsize=(10.0, max(4.0, ROW_HEIGHT_IN * n + 1.6)), layout="constrained")
    ax = fig.subplots()
    fails = int((~ok).sum())
    fig.suptitle(
        title(track, f"Nyquist check (seed eq. 4): {n - fails} of {n} features pass"),
        fontsize=10,
    )
    finite = np.isfinite(share)
    floor = max(np.min(share[finite & (share > 0)], initial=1.0) / 10, 1e-12)
    shown = np.where(finite, np.maximum(share, floor), floor)
    colours = np.where(ok, "tab:green", "tab:red")
    y = np.arange(n)
    ax.barh(y[finite], shown[finite], color=colours[finite], height=0.8)
    if (~finite).any():
        ax.barh(y[~finite], shown[~finite], color="0.85", hatch="///", height=0.8, label="no data")
        ax.legend(loc="lower right", fontsize=7)
    if threshold is not None:
        ax.axvline(threshold, color="k", ls="--", lw=1)
        ax.text(threshold, -0.8, f" threshold {threshold:g}", fontsize=7, va="bottom")
    ax.set_xscale("log")
    ax.set_yticks(y)
    ax.set_yticklabels(names, fontsize=LABEL_FONT_PT)
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_xlabel(
        "share of the feature's power in the high band (dimensionless; green pass, red fail)"
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
