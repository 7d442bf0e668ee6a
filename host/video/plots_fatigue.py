"""The timeline figure of ``python -m host video analyse``: fatigue probability along a clip.

Two panels on one time axis (s, or min for a clip longer than :data:`MINUTES_AFTER_S`):

1. the video model's probability that each window is fatigued: a dot at each window's
   centre, and the step the overlay's bar follows (at each time, the covering window whose
   centre is nearest: :meth:`host.video.analyse.FatigueTimeline.values_at`); the decision
   threshold (:data:`host.video.analyse.FATIGUE_THRESHOLD`) as a dashed line;
2. the Borg CR10 ratings (each holds until the next) with the seed's fatigue line at 7
   (seed 000 §IV), or a note that the clip has none.

Frames the pose pipeline flagged (no pose, two people, implausible skeleton, unreadable:
:data:`host.video.plots_common.FLAG_SHADES`) and frames with some keypoint unknown are
shaded on both. The title names the clip, its provenance and the model, and says
SIMULATED when the poses or the model's training data are simulated.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from host.video.analyse import FATIGUE_THRESHOLD
from host.video.model_spec import FATIGUE_BORG, MODEL_FPS, STRIDE_FRAMES, WINDOW_FRAMES
from host.video.plots_common import DPI, FLAG_SHADES, no_data, title

if TYPE_CHECKING:
    from host.video.analyse import FatigueTimeline

__all__ = ["MINUTES_AFTER_S", "TIMELINE_SIZE_IN", "plot_timeline", "timeline_figure"]

#: Figure size, inches (width, height).
TIMELINE_SIZE_IN = (11.0, 6.5)
#: A clip longer than this is drawn in minutes (a 30-min simulated session in seconds
#: would read 0–1800).
MINUTES_AFTER_S = 600.0
#: Shade of frames where some keypoint is unknown but the frame is not flagged.
UNKNOWN_SHADE = "#dcdcf0"
#: Points per window's time grid drawn for the step (enough for a 30-min session's steps
#: of 6.7 s to be sharp: 4000 points over 1800 s is one each 0.45 s).
STEP_POINTS = 4000


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) index of each run of True in ``mask``."""
    m = np.concatenate([[False], np.asarray(mask, bool), [False]])
    edges = np.flatnonzero(np.diff(m.astype(np.int8)))
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _shade(axes: list, timeline: FatigueTimeline, scale: float) -> list[Patch]:
    """Shade flagged and partly unknown frames on every axis; legend handles of those shown."""
    track = timeline.track
    t = track.time_s
    half = 0.5 / track.fps
    flagged = track.frame_flags != 0
    unknown = ~track.known().all(axis=1) & ~flagged
    shades = [(track.frame_flags & bit).astype(bool) for bit, _, _ in FLAG_SHADES]
    kinds = [(text, colour) for _, text, colour in FLAG_SHADES]
    shades.append(unknown)
    kinds.append(("some keypoint unknown", UNKNOWN_SHADE))
    handles = []
    for mask, (text, colour) in zip(shades, kinds, strict=True):
        runs = _runs(mask)
        if not runs:
            continue
        handles.append(Patch(color=colour, label=text))
        for a, b in runs:
            for ax in axes:
                lo, hi = (t[a] - half) / scale, (t[b] + half) / scale
                ax.axvspan(lo, hi, color=colour, lw=0, zorder=0)
    return handles


def timeline_figure(timeline: FatigueTimeline) -> Figure:
    """The figure :func:`plot_timeline` saves (see the module docstring)."""
    track = timeline.track
    w = timeline.windows
    long = track.duration_s > MINUTES_AFTER_S
    scale, unit = (60.0, "min") if long else (1.0, "s")
    fig = Figure(figsize=TIMELINE_SIZE_IN, layout="constrained")
    ax, borg_ax = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
    stride_s = STRIDE_FRAMES / MODEL_FPS
    tags = []
    if track.provenance == "simulated":
        tags.append("SIMULATED person")
    if timeline.model_provenance == "simulated":
        tags.append("model trained on SIMULATED data")
    what = (
        f"Fatigue probability of each {WINDOW_FRAMES / MODEL_FPS:g}-s window (every "
        f"{stride_s:.3g} s), {len(w.p_fatigued)} window{'s' if len(w.p_fatigued) != 1 else ''}"
        + (f" [{', '.join(tags)}]" if tags else "")
    )
    fig.suptitle(f"{title(track, what)}\n{timeline.model_text}", fontsize=9)
    shaded = _shade([ax, borg_ax], timeline, scale)

    t0 = float(track.time_s[0]) if track.n_frames else 0.0
    t1 = float(track.time_s[-1]) if track.n_frames else 0.0
    grid = np.linspace(t0, t1, STEP_POINTS)
    ax.plot(grid / scale, timeline.values_at(grid), color="tab:red", lw=1.2, label="p at each time")
    ax.plot(
        w.centre_s / scale,
        w.p_fatigued,
        "o",
        color="tab:red",
        mec="k",
        ms=4,
        label="window (at its centre)",
    )
    ax.axhline(
        FATIGUE_THRESHOLD, color="k", ls="--", lw=1, label=f"threshold {FATIGUE_THRESHOLD:g}"
    )
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel("p(fatigued)")
    ax.set_title(
        "video model: probability each window is fatigued (Borg ≥ 7); the step is what the "
        "overlay's bar shows",
        fontsize=8,
        loc="left",
    )
    handles = ax.get_legend_handles_labels()[0] + shaded
    ax.legend(handles=handles, fontsize=7, loc="upper left", ncol=3, framealpha=0.85)

    borg_ax.set_ylabel("Borg CR10 (0–10)")
    borg_ax.set_ylim(0, 10.5)
    if track.borg_rating.size:
        bt = np.append(track.borg_time_s, max(t1, track.borg_time_s[-1]))
        br = np.append(track.borg_rating, track.borg_rating[-1])
        borg_ax.step(bt / scale, br, where="post", color="k", lw=1.2)
        borg_ax.plot(track.borg_time_s / scale, track.borg_rating, "ko", ms=3, label="rating")
        borg_ax.axhline(
            FATIGUE_BORG, color="tab:red", ls=":", lw=1.2, label=f"fatigued: ≥ {FATIGUE_BORG}"
        )
        borg_ax.legend(fontsize=7, loc="upper left")
        borg_ax.set_title("Borg CR10 ratings (each holds until the next)", fontsize=8, loc="left")
    else:
        no_data(borg_ax, "no Borg ratings in this clip")
    borg_ax.set_xlabel(f"time ({unit})")
    borg_ax.set_xlim(t0 / scale, max(t1, t0 + 1e-6) / scale)
    return fig


def plot_timeline(timeline: FatigueTimeline, out: Path) -> None:
    """Save :func:`timeline_figure` as a PNG at :data:`host.video.plots_common.DPI`.

    Raises
    ------
    OSError
        ``out`` cannot be written.
    """
    timeline_figure(timeline).savefig(out, dpi=DPI, format="png")
