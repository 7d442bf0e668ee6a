"""``python -m host video extract|plot``: kinematics from a video or a camera, and its figures.

``extract`` runs the seed's first two modules on a clip or a camera (pose, kinematic
features, db4 wavelet matrices, 3D posture voxels) and writes the kinematics file
(:mod:`host.video.features_file`) and the video with the skeleton drawn on it (GIF or MP4).
``plot`` draws a kinematics file, from a clip or from the simulated workers: the features
over time with the flags and Borg ratings, one frame's wavelet matrix (seed Fig. 4), its
posture voxels (seed Fig. 5) and the Nyquist check of every feature.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from host.session import DatasetError
from host.video.track import VideoError

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


class _Progress:
    """One line per second of work: frames done, of how many, and the rate."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.t0 = time.perf_counter()
        self.last = 0.0

    def __call__(self, done: int, total: int | None) -> None:
        now = time.perf_counter()
        if now - self.last < 1.0 and done != total:
            return
        self.last = now
        rate = done / max(now - self.t0, 1e-9)
        of = f"/{total}" if total else ""
        print(f"{self.what}: frame {done}{of} ({rate:.0f} frames/s)", file=sys.stderr, flush=True)


class _UntilCtrlC:
    """A camera's frames until Ctrl-C: the frames so far are kept, not lost.

    SIGINT only sets a flag while the camera records; the next frame ends the stream, so
    the pose track ends cleanly wherever MediaPipe was when the key was pressed.
    """

    def __init__(self, source: object) -> None:
        self.source = source
        self.stopped = False

    def __getattr__(self, name: str) -> object:  # fps, width, height, frame_count
        return getattr(self.source, name)

    def __str__(self) -> str:
        return str(self.source)

    def frames(self) -> Iterator[tuple[int, float, object]]:
        import signal

        def stop(_signum: int, _frame: object) -> None:
            self.stopped = True

        previous = signal.signal(signal.SIGINT, stop)
        try:
            for item in self.source.frames():
                if self.stopped:
                    print("Ctrl-C: recording stopped, keeping what was recorded", file=sys.stderr)
                    return
                yield item
        finally:
            signal.signal(signal.SIGINT, previous)


def _extract(args: argparse.Namespace) -> int:
    from host.outputs import write_all
    from host.video.features_file import SUFFIX, write_features
    from host.video.overlay import write_overlay
    from host.video.pipeline import extract_features
    from host.video.pose import estimate_poses
    from host.video.video_io import open_camera, open_video

    if args.clip is None and args.camera is None:
        raise VideoError("extract", "give a video file, or --camera N for a camera")
    if args.clip is not None and args.camera is not None:
        raise VideoError("extract", "give a video file or --camera, not both")
    out = args.out
    if out is None:
        if args.clip is None:
            raise VideoError("--camera", "give --out FILE for a camera's kinematics file")
        out = args.clip.with_name(args.clip.stem + SUFFIX)
    if not out.name.endswith(".h5"):
        raise VideoError(out, f"--out must be an HDF5 file ending in {SUFFIX}")
    overlay = None if args.no_overlay else (args.overlay or _stem(out).with_suffix(".gif"))
    if overlay is not None and overlay.suffix.lower() not in (".gif", ".mp4"):
        raise VideoError(overlay, "--overlay must end in .gif or .mp4")
    from host.outputs import refuse_existing

    refuse_existing([p for p in (out, overlay) if p is not None])

    t0 = time.perf_counter()
    opener = (
        (lambda: open_camera(args.camera)) if args.clip is None else lambda: open_video(args.clip)
    )
    with opener() as source:
        print(
            f"{source}: {source.width}×{source.height} px at {source.fps:g} frames/s",
            file=sys.stderr,
        )
        frames = source if args.clip is not None else _UntilCtrlC(source)
        track = estimate_poses(frames, max_frames=args.max_frames, progress=_Progress("pose"))
    vf = extract_features(track, progress=lambda step: print(step, file=sys.stderr))
    writers = {out: lambda p: write_features(p, vf)}
    if overlay is not None:

        def draw(path: Path) -> None:
            if args.clip is None:
                write_overlay(track, path)
                return
            with open_video(args.clip) as again:
                frames = ((t, rgb) for _, t, rgb in again.frames())
                write_overlay(track, path, frames=frames)

        writers[overlay] = draw
    write_all(writers)
    known = track.known().all(axis=1).mean() if track.n_frames else 0.0
    print(
        f"{track.n_frames} frames at {track.fps:g} frames/s ({track.duration_s:.1f} s), "
        f"all 11 keypoints known in {100 * known:.0f} %, "
        f"{len(vf.feature_names)} features × {vf.n_levels} wavelet levels, "
        f"in {time.perf_counter() - t0:.0f} s"
    )
    for note in track.notes:
        print(f"note: {note}")
    for path in writers:
        print(f"wrote {path}")
    return 0


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

    parser = argparse.ArgumentParser(
        prog="python -m host video",
        description="Fatigue from video kinematics (seed 000), part 1: pose, kinematic "
        "features, db4 wavelet matrices and 3D posture voxels. docs/video.md.",
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
        help="record from camera N instead of a file; Ctrl-C stops and keeps what was "
        "recorded (default: none)",
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
        help="the video with the skeleton drawn on it, .gif or .mp4 "
        "(default: --out's name with .gif)",
    )
    p.add_argument(
        "--no-overlay", action="store_true", help="do not write the overlay (default: write it)"
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
    return parser


def main_args(argv: list[str] | None = None) -> int:
    """``python -m host video ...``; returns the exit status (2: one line on stderr)."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (VideoError, DatasetError, OSError) as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main_args())
