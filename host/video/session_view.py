"""``python -m host video session SESSION.nrec``: a session's NIRS and its camera on one timeline.

Issue 16 point 4: "a session view puts the NIRS signals, the NIRS model's level, the video
model's probability, the elbow angle and the Borg ratings on one timeline". Each source,
and where it comes from:

- **The session record** (``SESSION.nrec``: collect's, or the wearable's own), read as
  :func:`host.recover.read_record` reads it (damage costs only the records it touches):
  ΔHbO2, ΔHHb, ΔtHb (µM) and the SmO2 estimate (:func:`device.mbll.smo2_percent`, as
  ``host plot`` draws it); the Borg ratings, phases and task-failure key collect recorded;
  the device's fatigue level and probabilities from its PREDICTION records.
- **The camera beside it**, found by name: ``<stem>.kin.h5``, a kinematics file whose
  times are on the device's clock (the main job's, or one this command wrote); else
  ``<stem>.video.avi`` and its frame table ``<stem>.frames.csv`` (``host collect
  --video``; a missing table is made from the record, as ``collect --recover`` does):
  pose on the video seen from the side (:func:`host.collect_video.session_pose_track`,
  slower than real time, progress on stderr), every pose frame put on the device's clock
  through the table, the features extracted and written to ``<stem>.kin.h5`` (never
  replaced) so the next view needs no pose; else no camera: the figure without the video
  rows, and a note.
- **The elbow** (:mod:`host.video.task_failure`): flexion of the wearable's arm in the
  image plane; task failure detected in the hold the record's phase keys mark
  (:func:`host.collect_video.hold_phase`), or in ``--hold``. A record without phase keys
  (the wearable's own, the simulator's main job's) is said so, and nothing is detected.
- **The video model** (:mod:`host.video.model_file`): the fatigue probability of every
  30-s window, when the video holds one.

Every time is on the wearable's clock, s: the record's ``t_s``, which is the SNIRF file's
time plus its ``device_time_origin_s``. The figure is :mod:`host.video.plots_session`'s.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from host.session import SIDES, DatasetError, SessionRecord
from host.video.analyse import BUNDLED_VIDEO_MODEL
from host.video.session_camera import RECORD_SUFFIX, beside
from host.video.track import VideoError

if TYPE_CHECKING:
    from host.video.model_file import VideoModel, WindowProbabilities
    from host.video.pipeline import VideoFeatures
    from host.video.sync import FrameTable
    from host.video.task_failure import TaskFailure

__all__ = [
    "DEFAULT_MODEL",
    "PNG_SUFFIX",
    "TOP_LEVELS",
    "NirsLevels",
    "SessionView",
    "add_session_parser",
    "build_view",
    "main",
    "nirs_levels",
    "run",
]

#: The bundled video model (issue 16 point 3: it ships in ``models/``).
DEFAULT_MODEL = BUNDLED_VIDEO_MODEL  # the repository's models/video, from any folder
#: The figure's default name: the record's stem + this, beside it.
PNG_SUFFIX = ".session.png"
#: How many of the NIRS model's highest levels its "top levels" probability adds up. A
#: choice of this view (assumption): with the default mapping (device.labels) the two are
#: "high" (Borg 6–7) and "exhausted" (8–10), the levels nearest the video model's Borg ≥ 7.
TOP_LEVELS = 2


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class NirsLevels:
    """The device's fatigue level once a second, from the record's PREDICTION records.

    Attributes:
        t_s: Time of each prediction, s on the device's clock, shape (n,).
        level: Smoothed level shown to the wearer (index into ``names``), float, shape
            (n,); NaN where the device showed none ("check sensor").
        p_top: Probability of the :data:`TOP_LEVELS` highest levels, 0–1, shape (n,);
            None when the predictions do not carry one probability per level.
        names: The level names, lowest first (the record's mapping).
    """

    t_s: np.ndarray
    level: np.ndarray
    p_top: np.ndarray | None
    names: tuple[str, ...]

    @property
    def top_names(self) -> tuple[str, ...]:
        return self.names[-TOP_LEVELS:]


@dataclass
class SessionView:
    """Everything the session view draws and prints; every time s on the device's clock.

    Attributes:
        record_path: The ``.nrec`` file.
        record: The session as :func:`host.recover.read_record` gives it (its own times
            start at ``origin_s``).
        origin_s: The record's t = 0 on the device's clock, s.
        nirs: The device's levels.
        borg_t_s, borg: Borg CR10 ratings and their times, shape (m,); ``borg_source``
            says whence (the record, or the kinematics file of a simulated subject).
        phases: (name, start_s, end_s) of each phase the record's keys mark (or --hold's).
        hold_s: The hold task failure is looked for in, or None.
        side: The arm the elbow is measured on.
        kinematics: The camera's features (times on the device's clock), or None.
        kinematics_path: Where they were read from or written to.
        flexion_deg: Elbow flexion per kinematics frame, deg, or None.
        failure: Task failure from the elbow angle (``t_s`` on the device's clock) or None.
        failure_note: Why there is none (not looked for, or the elbow held).
        key_s: The experimenter's task-failure key, s, or None.
        simulated_failure_s: The simulated subject's task failure (their physiology, from
            the kinematics file's metadata), s, or None.
        windows: The video model's windows, or None; ``windows_note`` says why not.
        assessed: (n_windows,) bool, the windows with enough pose to be assessed
            (:attr:`host.video.analyse.FatigueTimeline.assessed`); None exactly when
            ``windows`` is.
        model: The video model used, in a few words ("" if none).
        notes: Lines for the figure and the summary.
        written: Files this run wrote, in order.
    """

    record_path: Path
    record: SessionRecord
    origin_s: float
    nirs: NirsLevels
    side: str
    borg_t_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    borg: np.ndarray = field(default_factory=lambda: np.zeros(0))
    borg_source: str = "none recorded"
    phases: list[tuple[str, float, float]] = field(default_factory=list)
    hold_s: tuple[float, float] | None = None
    kinematics: VideoFeatures | None = None
    kinematics_path: Path | None = None
    flexion_deg: np.ndarray | None = None
    failure: TaskFailure | None = None
    failure_note: str = ""
    key_s: float | None = None
    simulated_failure_s: float | None = None
    windows: WindowProbabilities | None = None
    assessed: np.ndarray | None = None
    windows_note: str = ""
    model: str = ""
    notes: list[str] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)

    @property
    def simulated(self) -> bool:
        """Whether any part of what is drawn is simulated."""
        track = self.kinematics.track if self.kinematics is not None else None
        return self.record.provenance == "simulated" or (
            track is not None and track.provenance == "simulated"
        )


# -- reading ----------------------------------------------------------------------------------


def nirs_levels(record_path: Path, names: tuple[str, ...]) -> NirsLevels:
    """The device's levels from the PREDICTION records of ``record_path`` (each once,
    in time order; a record written twice counts once, as :func:`read_record` does)."""
    from device.codec import NO_LEVEL, RecordKind
    from device.session_reader import read_session_file

    by_t = {
        r.fields.t_s: r.fields
        for r in read_session_file(record_path).records
        if r.kind is RecordKind.PREDICTION and math.isfinite(r.fields.t_s)
    }
    preds = [by_t[t] for t in sorted(by_t)]
    t = np.array([p.t_s for p in preds], dtype=np.float64)
    level = np.array(
        [np.nan if p.smoothed_level == NO_LEVEL else p.smoothed_level for p in preds], dtype=float
    )
    p_top = None
    if preds and all(len(p.probabilities) == len(names) for p in preds):
        p_top = np.array([sum(p.probabilities[-TOP_LEVELS:]) for p in preds], dtype=np.float64)
    return NirsLevels(t, level, p_top, names)


def _kinematics_from_video(
    avi: Path, table: FrameTable, view: SessionView, out: Path, log: Callable[[str], None]
) -> VideoFeatures:
    """Pose on the session's video (:func:`host.video.session_camera.pose_on_device_clock`),
    written to ``out`` (never replaced; a folder that cannot be written is a note: the view
    goes on without the file)."""
    from host.outputs import write_all
    from host.video.features_file import write_features
    from host.video.session_camera import pose_on_device_clock

    vf, notes = pose_on_device_clock(avi, table, view.record_path, view.record, view.origin_s, log)
    view.notes += notes
    try:
        write_all({out: lambda p: write_features(p, vf)})
        view.written.append(out)
    except (DatasetError, OSError) as exc:
        view.notes.append(f"{out.name} not written ({exc}): the next view runs pose again")
    return vf


def _hold(
    view: SessionView, given: tuple[float, float] | None
) -> tuple[tuple[float, float] | None, str]:
    """The hold (device clock, s) and, when there is none, why."""
    from host.collect_video import hold_phase

    record = view.record
    if given is not None:
        from host.video.task_failure import END_GRACE_S, MIN_OUT_S, SMOOTHING_S

        t0, t1 = (float(record.t_s[i]) + view.origin_s for i in (0, -1))
        if given[0] < t0 or given[1] > t1:
            raise VideoError(
                "--hold",
                f"{given[0]:g}–{given[1]:g} s is not within the record's {t0:.3f}–{t1:.3f} s: "
                "give the hold in s on the device clock (the figure's time axis)",
            )
        shortest = MIN_OUT_S + END_GRACE_S + SMOOTHING_S
        if given[1] - given[0] < shortest:
            raise VideoError(
                "--hold",
                f"{given[1] - given[0]:g} s is shorter than the {shortest:g} s the task-failure "
                f"detector needs ({MIN_OUT_S:g} s out of the band, {SMOOTHING_S:g} s of "
                f"smoothing, the hold's last {END_GRACE_S:g} s ignored)",
            )
        return (float(given[0]), float(given[1])), ""
    if "phase_note" in record.metadata:  # no phase key: the wearable's own record
        return None, (
            f"{record.metadata['phase_note']}: no hold to look for task failure in (give "
            "--hold START END, s on the device clock)"
        )
    onsets = [(name, onset + view.origin_s) for name, onset, _ in record.phases]
    hold = hold_phase(onsets, float(record.t_s[-1]) + view.origin_s)
    if hold is None:
        names = ", ".join(sorted({name for name, _ in onsets}))
        return None, f"the record's phases ({names}) hold no 'hold': task failure not detected"
    return hold, ""


def _borg(view: SessionView) -> None:
    record, vf = view.record, view.kinematics
    if record.borg.size:
        view.borg_t_s = np.asarray(record.borg_t_s, dtype=np.float64) + view.origin_s
        view.borg, view.borg_source = np.asarray(record.borg, dtype=np.float64), "the record"
    elif vf is not None and vf.track.borg_rating.size:
        track = vf.track
        whose = "the SIMULATED subject" if track.provenance == "simulated" else "the video"
        view.borg_t_s, view.borg = track.borg_time_s, track.borg_rating
        view.borg_source = f"{whose}, in {view.kinematics_path.name} (the record holds none)"


def _long_enough(vf: VideoFeatures) -> tuple[bool, str]:
    """Whether ``vf`` holds one window of the video model; if not, the note."""
    from host.video.model_inputs import frame_step
    from host.video.model_spec import MODEL_FPS, WINDOW_FRAMES

    track = vf.track
    step = frame_step(track.fps, track.source)
    if -(-track.n_frames // step) >= WINDOW_FRAMES:
        return True, ""
    return False, (
        f"the video is {track.duration_s:.1f} s long, shorter than one window of the video "
        f"model ({WINDOW_FRAMES / MODEL_FPS:.0f} s): no fatigue probability"
    )


def build_view(
    record_path: Path,
    *,
    model_dir: Path = DEFAULT_MODEL,
    side: str | None = None,
    hold_s: tuple[float, float] | None = None,
    log: Callable[[str], None] = _stderr,
) -> SessionView:
    """Read a session record and its camera, measure the elbow, run the video model.

    Args:
        record_path: The ``.nrec`` session record.
        model_dir: The video model's folder (loaded only if there is a video of at least
            one window).
        side: The arm to measure (default: the record's side).
        hold_s: (start, end) of the hold, s on the device clock (default: the record's
            phase keys).
        log: Where the read report, notes and progress lines go.

    Raises:
        device.session_format.SessionFileError: Not a session record.
        host.collect_records.CollectError: No sample survives its damage.
        host.video.model_file.ModelFileError: The model folder is missing or does not
            match its metadata.
        VideoError: The camera's files cannot be read, or a kinematics file beside the
            record is not on its device clock (:func:`host.video.session_camera.check_belongs`);
            the side is unknown; ``hold_s`` is outside the record.
        ValueError: A fact in the record the dataset rejects.
    """
    from host.collect_video import VIDEO_SUFFIX
    from host.recover import read_record
    from host.video.features_file import SUFFIX, read_features
    from host.video.session_camera import check_belongs, frame_table_beside

    record_path = Path(record_path)
    record = read_record(record_path, log=log, unknown_ok=True).record
    origin = float(record.metadata.get("device_time_origin_s", 0.0))
    levels = nirs_levels(record_path, tuple(record.level_names))
    view = SessionView(record_path, record, origin, levels, side or record.side)
    if "record_damage" in record.metadata:
        view.notes.append(f"record damaged: {record.metadata['record_damage']}")
    if math.isfinite(record.task_failure_s):
        view.key_s = float(record.task_failure_s) + origin
    view.hold_s, view.failure_note = _hold(view, hold_s)
    if "phase_note" not in record.metadata:
        view.phases = [(n, t0 + origin, t0 + d + origin) for n, t0, d in record.phases]
    elif view.hold_s is not None:
        view.phases = [("hold (--hold)", *view.hold_s)]

    kin, avi = beside(record_path, SUFFIX), beside(record_path, VIDEO_SUFFIX)
    if (kin.exists() or avi.exists()) and view.side not in SIDES:  # before any pose work
        raise VideoError(record_path, f"its side is {view.side!r}: give --side left or right")
    model: VideoModel | None = None
    if kin.exists():
        view.kinematics = read_features(kin)
        check_belongs(kin, view.kinematics.track.metadata, record_path)
        view.kinematics_path = kin
        log(f"camera: {kin.name} (times on the device's clock)")
    elif avi.exists():
        table, made = frame_table_beside(record_path, log)
        view.written += [made] if made is not None else []
        if table is None:
            view.notes.append(f"{avi.name}: no frame table, none in the record: video left out")
        else:
            from host.video.model_spec import WINDOW_SPAN_S

            if table.video_s[-1] >= WINDOW_SPAN_S - 1e-6:  # the model before the pose
                model = _load_model(model_dir, log)
            view.kinematics = _kinematics_from_video(avi, table, view, kin, log)
            view.kinematics_path = kin
    else:
        view.notes.append(f"no camera beside the record ({kin.name} or {avi.name}): no video rows")
    _borg(view)
    if view.kinematics is not None:
        _camera_rows(view, model, model_dir, log)
    return view


def _load_model(model_dir: Path, log: Callable[[str], None]) -> VideoModel:
    from host.video.model_file import load_video_model

    model = load_video_model(model_dir)
    log(model.describe())
    return model


def _camera_rows(
    view: SessionView, model: VideoModel | None, model_dir: Path, log: Callable[[str], None]
) -> None:
    """Elbow flexion, task failure and the video model's windows of ``view.kinematics``."""
    from host.video.analyse import fatigue_timeline
    from host.video.progress import Progress
    from host.video.task_failure import detect_task_failure, elbow_flexion_deg

    vf = view.kinematics
    track = vf.track
    t0, t1 = float(view.record.t_s[0]) + view.origin_s, float(view.record.t_s[-1]) + view.origin_s
    if track.n_frames and (track.time_s[-1] < t0 or track.time_s[0] > t1):
        view.notes.append(
            f"the video's times {track.time_s[0]:.1f}–{track.time_s[-1]:.1f} s miss the "
            f"record's {t0:.1f}–{t1:.1f} s: is {view.kinematics_path.name} on the device clock?"
        )
    if track.provenance == "simulated" and "task_failure_s" in track.metadata:
        view.simulated_failure_s = float(track.metadata["task_failure_s"])
    view.flexion_deg = elbow_flexion_deg(track, view.side)
    if view.hold_s is not None:
        try:
            view.failure = detect_task_failure(track.time_s, view.flexion_deg, *view.hold_s)
        except ValueError as exc:
            view.failure_note = f"it could not be looked for ({exc})"
        else:
            if view.failure is None:
                view.failure_note = "the elbow was held in its band to the hold's end"
    try:  # the model's checks name the track's source; the user knows the file
        long_enough, view.windows_note = _long_enough(vf)
        if long_enough:
            model = model or _load_model(model_dir, log)
            meta = model.meta
            view.model = (
                f"video model {meta['architecture']} ({model.folder}), trained on "
                f"{str(meta['provenance']).upper()} data"
            )
            timeline = fatigue_timeline(model, vf, Progress("video model", unit="window"))
            view.windows, view.assessed = timeline.windows, timeline.assessed
    except VideoError as exc:
        if exc.source != track.source:
            raise
        raise VideoError(view.kinematics_path, exc.problem) from None


# -- the command ------------------------------------------------------------------------------


def _check_out(out: Path) -> None:
    """Refuse an existing figure, or one whose folder cannot be written, before any work."""
    from host.video.cli import _writable_folder

    if out.exists():
        raise VideoError(out, "exists; move it away or give --out another name")
    if out.suffix.lower() != ".png":
        raise VideoError(out, "--out must name a .png file")
    _writable_folder(out, "--out")


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("record", type=Path, help="the session record (.nrec) (required)")
    p.add_argument(
        "--model",
        type=Path,
        default=DEFAULT_MODEL,
        metavar="DIR",
        help="the video model's folder (video_model.json and its Keras file), used when "
        "the video holds a 30-s window (default: %(default)s)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="PNG",
        help=f"the figure, never replaced (default: the record's name with {PNG_SUFFIX})",
    )
    p.add_argument(
        "--side",
        choices=SIDES,
        default=None,
        help="the arm whose elbow is measured (default: the record's side)",
    )
    p.add_argument(
        "--hold",
        type=float,
        nargs=2,
        default=None,
        metavar=("START", "END"),
        help="the hold to look for task failure in, s on the device clock, for a record "
        "without phase keys (default: the record's 'h' key to the next phase key or its "
        "planned 90 s, whichever is later)",
    )
    p.set_defaults(func=run)


_DESCRIPTION = (
    "One PNG of a session on the wearable's clock: ΔHbO2/ΔHHb/ΔtHb and SmO2, the NIRS "
    "model's level, the video model's fatigue probability per 30-s window, the elbow "
    "flexion with the task failure it shows, and the Borg ratings. The camera is found "
    "beside the record: <stem>.kin.h5, else <stem>.video.avi and <stem>.frames.csv "
    "(pose runs once and its <stem>.kin.h5 is kept), else the figure has no video rows "
    "(docs/video_session.md)."
)


def add_session_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``session`` on ``python -m host video``'s subparsers; returns its parser."""
    p = subparsers.add_parser(
        "session",
        help="a session's NIRS, the video model, the elbow angle and the Borg ratings on "
        "one timeline (PNG)",
        description=_DESCRIPTION,
    )
    _add_arguments(p)
    return p


def run(args: argparse.Namespace) -> int:
    """The command with parsed ``args``; returns the exit status (2: one line on stderr)."""
    from device.errors import DeviceError
    from host.collect_records import CollectError
    from host.video.plots_session import save_session_png, summary

    record = Path(args.record)
    out = Path(args.out) if args.out is not None else beside(record, PNG_SUFFIX)
    try:
        if record.suffix != RECORD_SUFFIX or not record.is_file():
            what = "no such file" if not record.exists() else "not a .nrec session record"
            raise VideoError(record, f"{what} (a session record is the .nrec file the "
                             "wearable and 'python -m host collect' write)")  # fmt: skip
        _check_out(out)
        if args.hold is not None and not (
            math.isfinite(args.hold[0]) and math.isfinite(args.hold[1])
        ):
            raise VideoError("--hold", "START and END must be finite numbers of seconds")
        if args.hold is not None and not args.hold[0] < args.hold[1]:
            start, end = args.hold
            raise VideoError(
                "--hold", f"START {start:g} s is not before END {end:g} s: give the hold's "
                "start, then its end, s on the device clock",
            )  # fmt: skip
        view = build_view(
            record,
            model_dir=args.model,
            side=args.side,
            hold_s=tuple(args.hold) if args.hold is not None else None,
        )
        save_session_png(view, out)
        view.written.append(out)
    except (VideoError, DatasetError, CollectError, DeviceError, OSError, ValueError) as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    if view.windows is None and Path(args.model) != DEFAULT_MODEL:
        view.notes.append(f"--model {args.model} not used: {view.windows_note or 'no video'}")
    for note in view.notes:
        _stderr(f"note: {note}")
    for line in summary(view):
        print(line)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m host video session ...`` on its own; returns the exit status."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # as host.video.cli does
    parser = argparse.ArgumentParser(prog="python -m host video session", description=_DESCRIPTION)
    _add_arguments(parser)
    args = parser.parse_args(argv)
    return args.func(args)
