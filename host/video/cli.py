"""``python -m host video extract|plot|analyse``: kinematics from a video or a camera, figures,
the video model along a clip.

``extract`` runs the seed's first two modules on a clip or a camera (pose, kinematic
features, db4 wavelet matrices, 3D posture voxels) and writes the kinematics file
(:mod:`host.video.features_file`) and the video with the skeleton drawn on it (GIF or MP4).
``plot`` draws a kinematics file, from a clip or from the simulated workers: the features
over time with the flags and Borg ratings, one frame's wavelet matrix (seed Fig. 4), its
posture voxels (seed Fig. 5) and the Nyquist check of every feature. ``analyse`` runs the
video model along a video or a kinematics file (:mod:`host.video.analyse_cli`).
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from host.session import DatasetError
from host.video.progress import Progress
from host.video.session_view import add_session_parser
from host.video.track import PoseTrack, VideoError
from host.video.train_cli import add_train_parsers

if TYPE_CHECKING:
    from host.video.overlay_bar import ProbabilityBar
    from host.video.pipeline import VideoFeatures
    from host.video.video_io import VideoSource

#: Figures ``plot`` writes: suffix added to the kinematics file's stem -> what it shows.
FIGURES = {
    "_features.png": "features over time, flags and Borg ratings",
    "_wavelets.png": "one frame's wavelet matrix and one feature at every level",
    "_voxels.png": "one frame's 3D posture voxels",
    "_nyquist.png": "each feature's power near the Nyquist frequency",
}


def _stem(path: Path) -> Path:
    """``clip.kin.h5`` -> ``clip`` beside it (the name the figures and GIF take)."""
    name = path.name
    for suffix in (".kin.h5", ".h5"):
        if name.endswith(suffix):
            return path.with_name(name[: -len(suffix)])
    return path.with_suffix("")


class _CtrlC:
    """While the camera records, Ctrl-C (SIGINT) only asks the recording to stop.

    The recording ends at the next frame and is kept; the extraction goes on from it.
    """

    def __init__(self) -> None:
        self.pressed = False

    def __call__(self) -> bool:
        return self.pressed

    def __enter__(self) -> _CtrlC:
        import signal

        def stop(_signum: int, _frame: object) -> None:
            if not self.pressed:
                print("Ctrl-C: recording stopped, keeping what was recorded", file=sys.stderr)
            self.pressed = True

        self._previous = signal.signal(signal.SIGINT, stop)
        return self

    def __exit__(self, *_exc: object) -> None:
        import signal

        signal.signal(signal.SIGINT, self._previous)


def _outputs(args: argparse.Namespace) -> tuple[Path, Path | None, Path | None]:
    """The kinematics file, the overlay and (a camera's) recording, checked before work."""
    from host.video.features_file import SUFFIX

    if args.clip is None and args.camera is None:
        raise VideoError("extract", "give a video file, or --camera N for a camera")
    if args.clip is not None and args.camera is not None:
        raise VideoError("extract", "give a video file or --camera, not both")
    out = args.out
    if out is None:
        if args.clip is None:
            raise VideoError("--camera", "give --out FILE for a camera's kinematics file")
        out = args.clip.with_name(args.clip.stem + SUFFIX)
    if not out.name.endswith(SUFFIX):
        raise VideoError(out, f"--out must name a kinematics file ending in {SUFFIX}")
    stem = _stem(out)
    overlay = None if args.no_overlay else (args.overlay or stem.with_name(stem.name + ".gif"))
    if overlay is not None and overlay.suffix.lower() not in (".gif", ".mp4"):
        raise VideoError(overlay, "--overlay must end in .gif or .mp4")
    recording = None
    if args.record is not None and args.camera is None:
        raise VideoError(args.record, "--record is for --camera: a clip is already a recording")
    if args.camera is not None:
        recording = args.record or stem.with_name(stem.name + ".avi")
        if recording.suffix.lower() != ".avi":
            raise VideoError(recording, "--record must end in .avi (an MJPG recording)")
    # Their suffixes differ (.kin.h5, .gif/.mp4, .avi): no two can be one file.
    given = {"--out": out, "--overlay": overlay, "--record": recording}
    named = [(option, path) for option, path in given.items() if path is not None]
    for option, path in named:
        if args.clip is not None and path.resolve() == args.clip.resolve():
            raise VideoError(path, f"is the clip itself: give {option} another file")
        if path.exists():
            raise VideoError(path, f"exists; move it away or give {option} another name")
        _writable_folder(path, option)
    return out, overlay, recording


def _writable_folder(path: Path, option: str) -> None:
    """Try a file in ``path``'s folder now, not after minutes of pose work: in the folder,
    or, if it is still to be made, in the nearest folder above it that exists. Nothing is
    made here (the writers make the folder when they write), so a refused run leaves no
    empty folders behind."""
    import tempfile

    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise VideoError(path, f"cannot be written: {folder} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise VideoError(
            path, f"cannot be written ({reason}); give {option} a file in a writable folder"
        ) from None


def _extract(args: argparse.Namespace) -> int:
    from host.outputs import write_all
    from host.video.features_file import write_features
    from host.video.video_io import open_video

    out, overlay, recording = _outputs(args)
    t0 = time.perf_counter()
    if recording is not None:
        from host.video.camera_record import ReplayedCamera, record_camera

        counter = Progress("camera")

        def progress(done: int, total: int | None) -> None:
            if done == 1:  # the camera opened and gave a frame
                print(
                    f"camera {args.camera}: recording to {recording}; Ctrl-C stops", file=sys.stderr
                )
            counter(done, total)

        with _CtrlC() as pressed:
            done = record_camera(
                args.camera,
                recording,
                max_frames=args.max_frames,
                should_stop=pressed,
                progress=progress,
            )
        print(f"recorded {len(done.times_s)} frames to {recording}", file=sys.stderr)
        clip: Path = recording
        source = ReplayedCamera(done)
    else:
        clip = args.clip
        source = open_video(clip)
    vf = _features(_poses(source, args.max_frames))
    writers = {out: lambda p: write_features(p, vf)}
    if overlay is not None:
        writers[overlay] = _overlay_writer(vf.track, clip, args.max_frames)
    write_all(writers)
    _summary(vf, time.perf_counter() - t0)
    for path in writers:
        print(f"wrote {path}")
    return 0


def _poses(source: VideoSource, max_frames: int | None) -> PoseTrack:
    """MediaPipe on ``source`` (closed after), progress on stderr: the track at 30 fps."""
    from host.video.pose import estimate_poses

    with source:
        print(
            f"{source}: {source.width}×{source.height} px at {source.fps:.3g} frames/s",
            file=sys.stderr,
        )
        return estimate_poses(source, max_frames=max_frames, progress=Progress("pose"))


def _features(track: PoseTrack) -> VideoFeatures:
    """The kinematic features, wavelet matrices and voxels of ``track``, steps on stderr."""
    from host.video.pipeline import extract_features

    return extract_features(track, progress=lambda step: print(step, file=sys.stderr))


def _overlay_writer(
    track: PoseTrack,
    clip: Path | None,
    max_frames: int | None = None,
    bar: ProbabilityBar | None = None,
) -> Callable[[Path], None]:
    """A writer of the overlay: ``track``'s skeleton on ``clip``'s frames read again (up
    to the track's end, so nothing past ``--max-frames``), or on a plain canvas when
    ``clip`` is None; a GIF takes one frame in :func:`host.video.overlay.gif_stride`."""
    from host.video.overlay import gif_stride, write_overlay
    from host.video.video_io import open_video

    def draw(path: Path) -> None:
        gif = path.suffix.lower() == ".gif"
        if clip is None:
            every = gif_stride(track.n_frames) if gif else 1
            n = write_overlay(track, path, every=every, bar=bar)
            print(f"overlay: {n} frames, one in every {every} of the track", file=sys.stderr)
            return
        end_s = track.time_s[-1] + 1.0 / track.fps if track.n_frames else 0.0
        with open_video(clip) as again:
            count = again.frame_count or 0
            if max_frames is not None:
                count = min(count, max_frames)
            # The overlay shows what was extracted: no frame past --max-frames.
            frames = itertools.takewhile(
                lambda item: item[0] < end_s, ((t, rgb) for _, t, rgb in again.frames())
            )
            every = gif_stride(count) if gif else 1
            n = write_overlay(track, path, frames=frames, every=every, bar=bar)
        print(f"overlay: {n} frames, one in every {every} of the video", file=sys.stderr)

    return draw


def _summary(vf: object, seconds: float) -> None:
    """What the extraction found: frames, keypoints known, the Nyquist check, the notes."""
    track = vf.track
    known = track.known().all(axis=1).mean() if track.n_frames else 0.0
    print(
        f"{track.n_frames} frames at {track.fps:g} frames/s ({track.duration_s:.1f} s), "
        f"all 11 keypoints known in {100 * known:.0f} %, "
        f"{len(vf.feature_names)} features × {vf.n_levels} wavelet levels, in {seconds:.0f} s"
    )
    from host.video.plots_matrix import nyquist_headline

    print(nyquist_headline(vf.nyquist))
    for note in [*track.notes, *vf.voxels.notes]:
        print(f"note: {note}")


def _plot(args: argparse.Namespace) -> int:
    from host.outputs import write_all
    from host.video.features_file import read_features
    from host.video.plots import plot_features, plot_nyquist, plot_voxels, plot_wavelet_matrix

    vf = read_features(args.file)
    n = vf.track.n_frames
    frame = args.frame if args.frame is not None else n // 2
    if not 0 <= frame < max(n, 1):
        raise VideoError(args.file, f"--frame {frame} is outside 0..{n - 1}")
    stem = _stem(args.file)
    plotters = {
        "_features.png": lambda p: plot_features(vf, p),
        "_wavelets.png": lambda p: plot_wavelet_matrix(vf, p, frame=frame),
        "_voxels.png": lambda p: plot_voxels(vf, p, frame=frame),
        "_nyquist.png": lambda p: plot_nyquist(vf, p),
    }
    folder = args.out or stem.parent
    written = write_all(
        {folder / (stem.name + suffix): fn for suffix, fn in plotters.items()}, replace=True
    )
    for path in written:
        print(f"wrote {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``video`` command's parser (its own: two subcommands with many options)."""
    from device.argtypes import existing_file, non_negative_int, output_dir, positive_int
    from host.video.overlay import GIF_EVERY, GIF_MAX_FRAMES

    parser = argparse.ArgumentParser(
        prog="python -m host video",
        description="Fatigue from video kinematics (seed 000): pose, kinematic features, "
        "db4 wavelet matrices and 3D posture voxels (docs/video.md); the video model along "
        "a clip (docs/video_model.md).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser(
        "extract",
        help="a video file or a camera -> kinematics file and the video with its skeleton",
        description="MediaPipe pose on every frame, the seed's 11 upper-body keypoints, "
        "kinematic features, db4 wavelet matrices and 3D posture voxels: a kinematics file "
        "(.kin.h5) and the video with the skeleton drawn on it (GIF or MP4).",
    )
    p.add_argument("clip", nargs="?", type=existing_file, help="a video file (default: none)")
    p.add_argument(
        "--camera",
        type=non_negative_int,
        default=None,
        metavar="N",
        help="record camera N to a video file (see --record), then extract from it; Ctrl-C "
        "stops the recording and keeps it (default: none)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="the kinematics file to write, *.kin.h5 (default: the clip's name with .kin.h5)",
    )
    p.add_argument(
        "--overlay",
        type=Path,
        default=None,
        help="the video with the skeleton drawn on it: .gif (the whole clip in at most "
        f"{GIF_MAX_FRAMES} frames, one in every {GIF_EVERY} or more) or .mp4 (every frame) "
        "(default: --out's name with .gif)",
    )
    p.add_argument(
        "--no-overlay", action="store_true", help="do not write the overlay (default: write it)"
    )
    p.add_argument(
        "--record",
        type=Path,
        default=None,
        help="with --camera: the recording (MJPG .avi) written first, pose estimated after "
        "(default: --out's name with .avi)",
    )
    p.add_argument(
        "--max-frames",
        type=positive_int,
        default=None,
        help="stop after this many frames (default: the whole clip; a camera until Ctrl-C)",
    )
    p.set_defaults(func=_extract)

    p = sub.add_parser(
        "plot",
        help="figures of a kinematics file",
        description="Figures of a kinematics file (from a clip, a camera or the simulated "
        "workers): "
        + "; ".join(f"NAME{suffix}: {what}" for suffix, what in FIGURES.items())
        + ". Figures of the same name are replaced.",
    )
    p.add_argument("file", type=existing_file, help="a kinematics file (.kin.h5)")
    p.add_argument(
        "--frame",
        type=non_negative_int,
        default=None,
        help="the frame whose wavelet matrix and voxels are drawn (default: the middle one)",
    )
    p.add_argument(
        "--out",
        type=output_dir,
        default=None,
        metavar="DIR",
        help="folder for the figures (default: beside the file)",
    )
    p.set_defaults(func=_plot)
    _analyse_parser(sub)
    add_session_parser(sub)
    add_train_parsers(sub)
    return parser


def _analyse(args: argparse.Namespace) -> int:
    from host.video.analyse_cli import run

    return run(args)


def _analyse_parser(sub: argparse._SubParsersAction) -> None:
    """``analyse``: the video model along a clip (:mod:`host.video.analyse_cli`)."""
    from host.video.analyse import BUNDLED_VIDEO_MODEL, FATIGUE_THRESHOLD  # no Keras
    from host.video.overlay import GIF_MAX_FRAMES

    p = sub.add_parser(
        "analyse",
        help="a video or kinematics file -> fatigue probability per 30-s window, its "
        "timeline and the video with the skeleton and a fatigue bar",
        description="The video model (seed 000's CNN-Bi-LSTM) on every 30-s window "
        "(every 100 frames at 15 frames/s) of a video (pose and features extracted as "
        "'extract' does) or a kinematics file (.kin.h5, from 'extract' or the simulated "
        "workers): a CSV of the windows, a timeline PNG and the video with the skeleton "
        f"and a fatigue bar (a window is fatigued at p >= {FATIGUE_THRESHOLD:g}). Outputs "
        "are never overwritten.",
    )
    p.add_argument(
        "clip", type=Path, help="a video file, or a kinematics file (.kin.h5) (required)"
    )
    p.add_argument(
        "--model",
        type=Path,
        default=BUNDLED_VIDEO_MODEL,
        metavar="DIR",
        help="the video model's folder (video_model.json and its Keras file) "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--csv",
        type=Path,
        default=None,
        help="the windows: start_s, end_s, p_fatigued, fatigued, borg_at_end, known_share "
        "and provenance (default: the clip's name with _fatigue.csv)",
    )
    p.add_argument(
        "--timeline",
        type=Path,
        default=None,
        help="the timeline PNG: probability per window, Borg ratings, flagged frames "
        "(default: the clip's name with _fatigue.png)",
    )
    p.add_argument(
        "--overlay",
        type=Path,
        default=None,
        help="the video (a simulated worker: a plain canvas) with the skeleton and the "
        f"fatigue bar: .gif (the whole clip in at most {GIF_MAX_FRAMES} frames) or .mp4 "
        "(every frame) (default: the clip's name with _fatigue.gif)",
    )
    p.add_argument(
        "--no-overlay", action="store_true", help="do not write the overlay (default: write it)"
    )
    p.add_argument(
        "--kinematics",
        type=Path,
        default=None,
        metavar="FILE",
        help="for a video: also keep its kinematics file (.kin.h5), to analyse again "
        "without the pose work (default: not kept)",
    )
    p.set_defaults(func=_analyse)


def _quiet_libraries() -> None:
    """No TensorFlow, absl or protobuf chatter around the progress lines (set before
    MediaPipe, which loads TensorFlow, is imported; a user's own setting wins)."""
    import warnings

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ INFO/WARNING
    os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe's glog/absl warnings
    warnings.filterwarnings("ignore", message="SymbolDatabase.GetPrototype", category=UserWarning)


def main_args(argv: list[str] | None = None) -> int:
    """``python -m host video ...``; returns the exit status (2: one line on stderr)."""
    _quiet_libraries()
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (VideoError, DatasetError, OSError) as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main_args())
