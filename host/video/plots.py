"""PNG figures of a :class:`host.video.pipeline.VideoFeatures` (seed 000 Figs. 2, 4, 5).

- :func:`plot_features`: joint angles, head tilts, wrist speed and the data's quality over
  time, the flagged frames shaded on every panel, Borg ratings on a second axis;
- :func:`plot_wavelet_matrix`: one frame's n-features × l-levels matrix (seed Fig. 4) and
  one feature's reconstruction at every level over time;
- :func:`plot_voxels`: one frame's 20 × 20 × 20 posture grid (seed Fig. 5) beside its
  keypoints in the image;
- :func:`plot_nyquist`: each feature's share of power in the high band (seed eq. 4's check).

Every title names the source file and its provenance ("SIMULATED" for simulated workers);
every axis has its unit. Features are chosen by their names' units
(:data:`UNIT_SUFFIXES`): a joint angle is a feature in ° (or rad) naming a shoulder, elbow
or wrist; a head tilt one in ° naming "tilt". matplotlib without pyplot (no GUI backend).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from host.video.keypoints import INDEX, SEGMENTS
from host.video.track import (
    IMPLAUSIBLE_SKELETON,
    INTERPOLATED,
    MULTIPLE_PEOPLE,
    NO_POSE,
    UNREADABLE,
    PoseTrack,
    VideoError,
)

if TYPE_CHECKING:
    from host.video.pipeline import VideoFeatures

__all__ = ["plot_features", "plot_nyquist", "plot_voxels", "plot_wavelet_matrix"]

#: Resolution of every PNG, dots per inch (the project's other figures use 110).
DPI = 110
#: Figure sizes, inches (width, height); the matrix and the bar chart grow with n_features.
FEATURES_SIZE_IN = (11.0, 9.0)
VOXELS_SIZE_IN = (11.0, 5.5)
WAVELET_WIDTH_IN = 13.0
ROW_HEIGHT_IN = 0.13
#: Height of the wavelet figure's time series, inches (the matrix beside it may be taller).
SERIES_HEIGHT_IN = 5.5
#: Font size of the feature names on the matrix's and the bar chart's y axis, pt (one
#: row is ROW_HEIGHT_IN = 9.4 pt high).
LABEL_FONT_PT = 6.5
#: Unit suffixes of feature names (longest first) and how an axis shows them.
UNIT_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("_deg_s2", "°/s²"),
    ("_deg_s", "°/s"),
    ("_deg", "°"),
    ("_rad_s2", "rad/s²"),
    ("_rad_s", "rad/s"),
    ("_rad", "rad"),
    ("_px_s2", "px/s²"),
    ("_px_s", "px/s"),
    ("_px", "px"),
)
#: How the title says the provenance.
PROVENANCE_TEXT = {
    "simulated": "SIMULATED worker",
    "video": "video file",
    "camera": "camera",
}
#: Frame flags shaded on the time panels: (bit, legend text, colour).
FLAG_SHADES: tuple[tuple[int, str, str], ...] = (
    (NO_POSE, "no pose", "0.75"),
    (MULTIPLE_PEOPLE, "two people?", "#f4a6a6"),
    (IMPLAUSIBLE_SKELETON, "implausible skeleton", "#f8d49a"),
    (UNREADABLE, "unreadable frame", "#b39ddb"),
)
#: One colour per joint (the same on every figure), left solid, right dashed.
JOINT_COLOURS = {"shoulder": "tab:blue", "elbow": "tab:green", "wrist": "tab:red"}
#: The feature whose reconstructions :func:`plot_wavelet_matrix` shows by default.
DEFAULT_WAVELET_FEATURE = ("left_elbow", "°")
#: A standardised wavelet value is drawn in the colour map's range ±this (z).
Z_RANGE = 3.0


def split_unit(name: str) -> tuple[str, str]:
    """A feature name without its unit suffix, and the unit as shown (``""`` if none)."""
    for suffix, shown in UNIT_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)], shown
    return name, ""


def _title(track: PoseTrack, what: str) -> str:
    prov = PROVENANCE_TEXT.get(track.provenance, track.provenance)
    return (
        f"{what} · {Path(track.source).name} · {prov} · "
        f"{track.n_frames} frames at {track.fps:g} frames/s ({track.duration_s:.1f} s)"
    )


def _angles(names: Sequence[str]) -> list[tuple[int, str, str]]:
    """(column, joint, side) of each joint-angle feature (° or rad, naming a joint)."""
    out = []
    for j, name in enumerate(names):
        base, unit = split_unit(name)
        if unit not in ("°", "rad") or "tilt" in base:
            continue
        for joint in JOINT_COLOURS:
            if joint in base:
                side = "right" if "right" in base else "left"
                out.append((j, joint, side))
                break
    return out


def _tilts(names: Sequence[str]) -> list[int]:
    return [j for j, n in enumerate(names) if "tilt" in n and split_unit(n)[1] in ("°", "rad")]


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


def _no_data(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=9)


def _wrist_speed_px_s(track: PoseTrack) -> np.ndarray:
    """Shape (n_frames, 2): left and right wrist speed in the image plane, px/s
    (backward difference of x, y times fps; NaN where a wrist is unknown)."""
    speed = np.full((track.n_frames, 2), np.nan)
    for c, name in enumerate(("left_wrist", "right_wrist")):
        xy = track.xyz_px[:, INDEX[name], :2]
        if track.n_frames > 1:
            speed[1:, c] = np.hypot(*np.diff(xy, axis=0).T) * track.fps
    return speed


def features_figure(vf: VideoFeatures) -> Figure:
    """The figure :func:`plot_features` saves: four panels on one time axis, s.

    Panels: joint angles (° as in the feature names; Borg CR10 on a second axis when the
    track has ratings), head tilts, image-plane wrist speed (px/s, from the keypoints,
    unsmoothed), and the share of keypoints interpolated and unknown per frame (%).
    Frames flagged no pose / two people / implausible / unreadable are shaded on all four.
    """
    track = vf.track
    t = track.time_s
    fig = Figure(figsize=FEATURES_SIZE_IN, layout="constrained")
    axes = fig.subplots(4, 1, sharex=True)
    fig.suptitle(_title(track, "Kinematic features"), fontsize=10)
    present = _shade_flags(axes, track)
    empty: list[str] = []

    ax = axes[0]
    angles = _angles(vf.feature_names)
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
        _no_data(ax, "no joint-angle feature in this file")
    if track.borg_rating.size:
        twin = ax.twinx()
        # Each rating holds until the next one, the last until the end of the track.
        bt = np.append(track.borg_time_s, max(t[-1], track.borg_time_s[-1]))
        br = np.append(track.borg_rating, track.borg_rating[-1])
        twin.step(bt, br, where="post", color="k", lw=1.2)
        twin.plot(track.borg_time_s, track.borg_rating, "ko", ms=3, label="Borg CR10 rating")
        twin.legend(loc="upper right", fontsize=7)
        twin.set_ylim(0, 10.5)
        twin.set_ylabel("Borg CR10 rating (0–10)")

    ax = axes[1]
    tilts = _tilts(vf.feature_names)
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
        _no_data(ax, "no head-tilt feature in this file")

    ax = axes[2]
    speed = _wrist_speed_px_s(track)
    ax.plot(t, speed[:, 0], "-", color=JOINT_COLOURS["wrist"], lw=0.8, label="left wrist")
    ax.plot(t, speed[:, 1], "--", color=JOINT_COLOURS["wrist"], lw=0.8, label="right wrist")
    ax.set_ylabel("wrist speed,\nimage plane (px/s)")
    ax.legend(loc="upper left", fontsize=7, ncol=2)
    if not np.isfinite(speed).any():
        _no_data(ax, "no wrist known in two frames in a row")

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


def plot_features(vf: VideoFeatures, out: Path) -> None:
    """Save :func:`features_figure` as a PNG (:data:`FEATURES_SIZE_IN` at :data:`DPI`).

    Raises
    ------
    OSError
        ``out`` cannot be written.
    """
    features_figure(vf).savefig(out, dpi=DPI)


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
        _title(track, f"db4 wavelet matrix, frame {frame} (t = {t_frame:.2f} s)"), fontsize=10
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
            _no_data(right, f"{names[feature]}: no valid value")
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
        _title(track, f"3D posture voxels, frame {frame} (t = {track.time_s[frame]:.2f} s)"),
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
        _no_data(ax, "no keypoint known in this frame")
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


def nyquist_figure(vf: VideoFeatures, *, threshold: float | None = None) -> Figure:
    """The figure :func:`plot_nyquist` saves: one horizontal bar per feature, its
    ``NyquistReport.high_band_power_fraction`` (dimensionless, log scale), green if the
    report passes, red if not, hatched grey "no data" where NaN; ``threshold`` as a
    dashed line when given."""
    track = vf.track
    names = [r.name for r in vf.nyquist]
    share = np.array([r.high_band_power_fraction for r in vf.nyquist], dtype=float)
    ok = np.array([bool(r.ok) for r in vf.nyquist])
    n = len(names)
    fig = Figure(figsize=(10.0, max(4.0, ROW_HEIGHT_IN * n + 1.6)), layout="constrained")
    ax = fig.subplots()
    fails = int((~ok).sum())
    fig.suptitle(
        _title(track, f"Nyquist check (seed eq. 4): {n - fails} of {n} features pass"),
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


def plot_nyquist(vf: VideoFeatures, out: Path, *, threshold: float | None = None) -> None:
    """Save :func:`nyquist_figure` as a PNG.

    Raises
    ------
    OSError
        ``out`` cannot be written.
    """
    nyquist_figure(vf, threshold=threshold).savefig(out, dpi=DPI)
