"""``python -m host video analyse``: the video model's fatigue probability along a clip.

A clip is a video file (pose and features extracted as ``host video extract`` does) or a
kinematics file (``.kin.h5``: from ``extract``, or a simulated worker of
``python -m hwsim.worker_dataset``). The video model (:mod:`host.video.model_file`) gives
each window of 450 frames at 15 frames/s (30 s, every 100 frames: seed 000 §III-C) the
probability that it is fatigued; this module turns that into

- a :class:`FatigueTimeline`: the windows, their probabilities, the share of each window's
  frames with every keypoint known, the Borg rating given by each window's end when the
  clip has ratings, and the probability at any time (the window covering it whose centre
  is nearest, the rule the overlay's bar and the timeline's step follow);
- the CSV of the windows (:func:`write_windows_csv`) and the summary lines
  (:func:`summary_lines`).

The timeline figure is :mod:`host.video.plots_fatigue`; the overlay's bar
:mod:`host.video.overlay_bar`; the command :mod:`host.video.analyse_cli`. The window's
constants come from :mod:`host.video.fatigue_net`, imported where used: it imports Keras
(4 s), which the parser of ``host video extract`` and ``plot`` must not wait for.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from host.model_folder import BUNDLED_MODELS
from host.video.features_file import SUFFIX
from host.video.track import PoseTrack, VideoError

if TYPE_CHECKING:
    from host.video.model_file import VideoModel, WindowProbabilities
    from host.video.pipeline import VideoFeatures

__all__ = [
    "BUNDLED_VIDEO_MODEL",
    "FATIGUE_THRESHOLD",
    "FatigueTimeline",
    "check_kinematics",
    "check_length",
    "clip_kind",
    "fatigue_timeline",
    "load_model",
    "summary_lines",
    "write_windows_csv",
]

#: The bundled video model (``python -m host video analyse``'s default ``--model``).
BUNDLED_VIDEO_MODEL = BUNDLED_MODELS / "video"
#: How to get a video model, said when there is none (host.video.train_video trains one
#: on the simulated workers' kinematics files).
TRAIN_HINT = (
    "train one with python -m host video train --data DIR --out RUN on the kinematics "
    "files of python -m hwsim.worker_dataset --out DIR, then give --model RUN"
)
#: A window counts as fatigued when its probability is at least this: the sigmoid's
#: midpoint, the decision rule behind the accuracy the seed reports (seed 000 §IV gives no
#: other threshold; assumption that it used the usual 0.5).
FATIGUE_THRESHOLD = 0.5
#: Windows whose share of frames with all 11 keypoints known is below this rest on too
#: little pose to be assessed: their probability is kept (CSV, timeline) but they are
#: called neither fatigued nor rested (assumption: half the window; a clip that never shows
#: the arms must not be called fatigued by what a network makes of empty inputs).
LOW_KNOWN_SHARE = 0.5
#: The CSV's columns, in order.
CSV_COLUMNS = (
    "start_s",
    "end_s",
    "p_fatigued",
    "fatigued",
    "borg_at_end",
    "known_share",
    "track_provenance",
    "model",
    "model_provenance",
)

KINEMATICS = "kinematics"
VIDEO = "video"


def clip_kind(path: Path) -> str:
    """:data:`KINEMATICS` for an HDF5 file (read as a kinematics file), :data:`VIDEO` for a
    file OpenCV opens as a video.

    Raises
    ------
    VideoError
        No such file, or neither: one line naming the file and what is allowed.
    """
    import h5py

    from host.video.video_io import open_video

    path = Path(path)
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "no such file"
        raise VideoError(path, f"{what}; give a video (e.g. .mp4) or a kinematics file ({SUFFIX})")
    if h5py.is_hdf5(str(path)):
        return KINEMATICS
    try:
        open_video(path).close()
    except VideoError as exc:
        import cv2

        capture = cv2.VideoCapture(str(path))
        opened = capture.isOpened()
        capture.release()
        if opened:  # a video, but not one this can use (one frame, no frame rate, ...)
            raise
        raise VideoError(
            path,
            f"is neither a kinematics file ({SUFFIX}, HDF5) nor a video: "
            f"{exc.problem.split(';')[0]}; give a video (e.g. MP4/H.264, AVI/MJPG) or a "
            f"{SUFFIX} file from host video extract or python -m hwsim.worker_dataset",
        ) from None
    return VIDEO


def _too_short(source: str | Path, duration_s: float) -> VideoError:
    from host.video.model_spec import MODEL_FPS, WINDOW_FRAMES

    window_s = WINDOW_FRAMES / MODEL_FPS
    return VideoError(
        source,
        f"{duration_s:.2f} s long, shorter than one window of the video model "
        f"({window_s:g} s = {WINDOW_FRAMES} frames at {MODEL_FPS:g} frames/s); give a "
        f"clip of at least {window_s:g} s",
    )


def check_length(source: str | Path, duration_s: float) -> None:
    """Raise a one-line VideoError if a video of ``duration_s`` (its header's frame count
    / frame rate) is shorter than one window: before any pose work. The model's rule on
    the 30-fps track: a window is 450 model frames, every second frame, so 899 frames
    (29.97 s) hold one and 898 none. The model checks again on the frames themselves
    (:meth:`host.video.model_file.VideoModel.window_probabilities`)."""
    from host.video.keypoints import REFERENCE_FPS
    from host.video.model_spec import WINDOW_SPAN_S

    if duration_s < WINDOW_SPAN_S + 1 / REFERENCE_FPS - 1e-9:  # frames × their period
        raise _too_short(source, duration_s)


def check_kinematics(path: Path, track: PoseTrack) -> None:
    """Raise a one-line VideoError naming ``path`` if the video model cannot take
    ``track``: a frame rate that is not a whole multiple of 15 frames/s
    (:func:`host.video.model_inputs.frame_step`'s error), or no whole window (the model's
    own rule, :func:`host.video.model_inputs.window_starts`). Before the model loads."""
    from host.video.model_inputs import frame_step, window_starts

    step = frame_step(track.fps, str(path))
    if len(window_starts(-(-track.n_frames // step))) == 0:
        raise _too_short(path, track.duration_s)


def load_model(folder: Path) -> VideoModel:
    """The video model in ``folder``, or one line saying how to get one.

    Raises
    ------
    host.video.model_file.ModelFileError
        No model there (the folder or its ``video_model.json`` missing: with
        :data:`TRAIN_HINT`), or :func:`host.video.model_file.load_video_model`'s refusals
        (hash, inputs, format).
    """
    from host.video.model_file import META_FILE, ModelFileError, load_video_model

    folder = Path(folder)
    if not (folder / META_FILE).is_file():
        what = "no such folder" if not folder.exists() else f"no {META_FILE} in it"
        raise ModelFileError(folder, f"no video model here ({what}); {TRAIN_HINT}")
    return load_video_model(folder)


@dataclass(frozen=True)
class FatigueTimeline:
    """The video model's answer along a clip, with what is needed to judge it.

    Attributes
    ----------
    windows : WindowProbabilities
        Each window's first and last frame's time (s) and its probability of fatigue.
    known_share : ndarray (n_windows,), float64
        Share (0–1) of the frames the model saw in each window with all 11 keypoints known.
    borg_at_end : ndarray (n_windows,), float64
        The latest Borg CR10 rating given by each window's end; NaN if none by then (or
        the clip has no ratings).
    track : PoseTrack
        The poses the windows came from (times, flags, ratings, provenance).
    model_name, model_provenance, model_text : str
        The model's architecture, its training data's provenance, and its one-line
        description (:meth:`host.video.model_file.VideoModel.describe`).
    """

    windows: WindowProbabilities
    known_share: np.ndarray
    borg_at_end: np.ndarray
    track: PoseTrack
    model_name: str
    model_provenance: str
    model_text: str

    @property
    def assessed(self) -> np.ndarray:
        """(n_windows,) bool: all keypoints known in at least :data:`LOW_KNOWN_SHARE` of
        the window's frames."""
        return self.known_share >= LOW_KNOWN_SHARE

    @property
    def fatigued(self) -> np.ndarray:
        """(n_windows,) bool: assessed and probability ≥ :data:`FATIGUE_THRESHOLD`."""
        return self.assessed & (self.windows.p_fatigued >= FATIGUE_THRESHOLD)

    @property
    def simulated(self) -> bool:
        """Whether the poses or the model's training data are simulated."""
        return "simulated" in (self.track.provenance, self.model_provenance)

    def values_at(self, time_s: np.ndarray) -> np.ndarray:
        """Probability at each time (s): the covering window whose centre is nearest; NaN
        where no window covers the time (before the first, after the last one's end).

        Windows are of equal length, so the nearest centre's window covers a time whenever
        any window does.
        """
        t = np.atleast_1d(np.asarray(time_s, dtype=np.float64))
        w = self.windows
        centre = w.centre_s
        k = np.clip(np.searchsorted(centre, t), 1, len(centre) - 1) if len(centre) > 1 else None
        if k is None:
            nearest = np.zeros(len(t), dtype=np.int64)
        else:
            left_nearer = np.abs(t - centre[k - 1]) <= np.abs(centre[k] - t)
            nearest = np.where(left_nearer, k - 1, k)
        covered = (t >= w.start_s[nearest] - 1e-9) & (t <= w.end_s[nearest] + 1e-9)
        return np.where(covered, w.p_fatigued[nearest], np.nan)

    def value_at(self, time_s: float) -> float | None:
        """:meth:`values_at` of one time; None where no window covers it."""
        value = float(self.values_at(np.array([time_s]))[0])
        return None if math.isnan(value) else value


def fatigue_timeline(
    model: VideoModel,
    vf: VideoFeatures,
    progress: Callable[[int, int], None] | None = None,
) -> FatigueTimeline:
    """The model's probability for every window of ``vf``, with each window's known share
    and Borg rating.

    Raises
    ------
    VideoError
        From the model: the track shorter than one window, at a frame rate it cannot take
        (:func:`host.video.model_inputs.frame_step`), or with other features.
    """
    from host.video.model_inputs import frame_step
    from host.video.model_spec import WINDOW_FRAMES

    windows = model.window_probabilities(vf, progress)
    track = vf.track
    step = frame_step(track.fps, track.source)
    all_known = track.known().all(axis=1)
    first = np.searchsorted(track.time_s, windows.start_s - 1e-9)
    known = np.array(
        [all_known[f : f + WINDOW_FRAMES * step : step].mean() for f in first], dtype=np.float64
    )
    borg = np.full(len(first), np.nan)
    if track.borg_rating.size:
        k = np.searchsorted(track.borg_time_s, windows.end_s + 1e-9, side="right") - 1
        given = k >= 0
        borg[given] = np.asarray(track.borg_rating, dtype=np.float64)[k[given]]
    meta = model.meta
    return FatigueTimeline(
        windows=windows,
        known_share=known,
        borg_at_end=borg,
        track=track,
        model_name=str(meta.get("architecture", "video model")),
        model_provenance=str(meta.get("provenance", "unknown")),
        model_text=model.describe(),
    )


def write_windows_csv(timeline: FatigueTimeline, path: Path) -> None:
    """One row per window, columns :data:`CSV_COLUMNS`: times s (3 decimals), probability
    0–1 (4 decimals), fatigued 0/1 (p ≥ :data:`FATIGUE_THRESHOLD`; empty for a window
    resting on too little pose to be assessed, :data:`LOW_KNOWN_SHARE`), Borg CR10 at the
    window's end (empty when none), known share 0–1, the poses' and the model's provenance
    ("simulated" on every row of a simulated result)."""
    w = timeline.windows
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_COLUMNS)
        for i in range(len(w.p_fatigued)):
            borg = timeline.borg_at_end[i]
            writer.writerow(
                [
                    f"{w.start_s[i]:.3f}",
                    f"{w.end_s[i]:.3f}",
                    f"{w.p_fatigued[i]:.4f}",
                    int(timeline.fatigued[i]) if timeline.assessed[i] else "",
                    "" if math.isnan(borg) else f"{borg:g}",
                    f"{timeline.known_share[i]:.3f}",
                    timeline.track.provenance,
                    timeline.model_name,
                    timeline.model_provenance,
                ]
            )


def summary_lines(timeline: FatigueTimeline) -> list[str]:
    """What the command prints at the end: windows, share of the assessed ones fatigued,
    the windows not assessed (too little pose), the first fatigued window, when the Borg
    rating reached 7."""
    from host.video.model_spec import FATIGUE_BORG, MODEL_FPS, STRIDE_FRAMES, WINDOW_FRAMES

    w = timeline.windows
    n = len(w.p_fatigued)
    fatigued = timeline.fatigued
    from host.video.plots_common import PROVENANCE_TEXT

    stride_s = STRIDE_FRAMES / MODEL_FPS
    track = timeline.track
    what = PROVENANCE_TEXT.get(track.provenance, track.provenance)
    assessed = int(timeline.assessed.sum())
    lines = [
        f"{n} window{'s' if n != 1 else ''} of {WINDOW_FRAMES / MODEL_FPS:g} s every "
        f"{stride_s:.3g} s of {Path(track.source).name} ({what}); {timeline.model_text}",
        f"fatigued (p ≥ {FATIGUE_THRESHOLD:g}) in {int(fatigued.sum())} of {assessed} "
        f"assessed window{'s' if assessed != 1 else ''}"
        + (f" ({100 * fatigued.sum() / assessed:.0f} %)" if assessed else ""),
    ]
    if assessed < n:
        lines.append(
            f"not assessed: {n - assessed} of {n} windows have all 11 keypoints known in "
            f"under {100 * LOW_KNOWN_SHARE:.0f} % of their frames (too little pose: is the "
            "upper body in view?); their p is in the CSV and the timeline, not counted"
        )
    if fatigued.any():
        i = int(np.flatnonzero(fatigued)[0])
        lines.append(
            f"first window with p ≥ {FATIGUE_THRESHOLD:g}: {w.start_s[i]:.1f}–{w.end_s[i]:.1f} s "
            f"(p {w.p_fatigued[i]:.2f})"
        )
    elif assessed:
        lines.append(f"no assessed window with p ≥ {FATIGUE_THRESHOLD:g}")
    if track.borg_rating.size:
        reached = np.flatnonzero(np.asarray(track.borg_rating) >= FATIGUE_BORG)
        lines.append(
            f"Borg CR10 first reached {FATIGUE_BORG} at {track.borg_time_s[reached[0]]:.1f} s"
            if reached.size
            else f"Borg CR10 never reached {FATIGUE_BORG} (highest {np.max(track.borg_rating):g})"
        )
    return lines
