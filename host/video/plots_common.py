"""What every figure of :mod:`host.video.plots` shares: sizes, colours, units and titles.

Features are chosen by their names' units (:data:`UNIT_SUFFIXES`): a joint angle is a
feature in ° (or rad) naming a shoulder, elbow or wrist; a head tilt one in ° naming "tilt".
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib.axes import Axes

from host.video.track import (
    IMPLAUSIBLE_SKELETON,
    MULTIPLE_PEOPLE,
    NO_POSE,
    UNREADABLE,
    PoseTrack,
)

#: Resolution of every PNG, dots per inch (the project's other figures use 110).
DPI = 110
#: Figure sizes, inches (width, height); the matrix and the bar chart grow with n_features.
FEATURES_SIZE_IN = (11.0, 9.0)
#: The windowed features figure of a long track (seven panels instead of four).
WINDOWED_SIZE_IN = (11.0, 14.0)
VOXELS_SIZE_IN = (11.0, 5.5)
WAVELET_WIDTH_IN = 13.0
ROW_HEIGHT_IN = 0.13
#: Height of the wavelet figure's time series, inches (the matrix beside it may be taller).
SERIES_HEIGHT_IN = 5.5
#: Font size of the feature names on the matrix's and the bar chart's y axis, pt (one
#: row is ROW_HEIGHT_IN = 9.4 pt high).
LABEL_FONT_PT = 6.5
#: Unit suffixes of feature names (longest first) and how an axis shows them; both the
#: kinematics file's spelling (``_px_per_s``, host.video.kinematics.FEATURE_NAMES) and the
#: short one (``_px_s``).
UNIT_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("_deg_per_s2", "°/s²"),
    ("_deg_per_s", "°/s"),
    ("_rad_per_s2", "rad/s²"),
    ("_rad_per_s", "rad/s"),
    ("_px_per_s2", "px/s²"),
    ("_px_per_s", "px/s"),
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
    "simulated": "SIMULATED person",
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


def split_unit(name: str) -> tuple[str, str]:
    """A feature name without its unit suffix, and the unit as shown (``""`` if none)."""
    for suffix, shown in UNIT_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)], shown
    return name, ""


def title(track: PoseTrack, what: str) -> str:
    """``what`` on one line; the source file, its provenance and length on the next."""
    prov = PROVENANCE_TEXT.get(track.provenance, track.provenance)
    return (
        f"{what}\n{Path(track.source).name} · {prov} · "
        f"{track.n_frames} frames at {track.fps:g} frames/s ({track.duration_s:.1f} s)"
    )


def angle_columns(names: Sequence[str]) -> list[tuple[int, str, str]]:
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


def tilt_columns(names: Sequence[str]) -> list[int]:
    """Columns of the head-tilt features (° or rad, naming "tilt")."""
    return [j for j, n in enumerate(names) if "tilt" in n and split_unit(n)[1] in ("°", "rad")]


def no_data(ax: Axes, text: str) -> None:
    """``text`` in the middle of an empty axis."""
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=9)
