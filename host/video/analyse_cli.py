"""``python -m host video analyse CLIP``: what the command does, in order (parser in
:mod:`host.video.cli`, the numbers in :mod:`host.video.analyse`).

1. The outputs: each refused if it exists or is the clip, its folder tried now.
2. The clip: a kinematics file is read, a video opened; one shorter than one window (30 s),
   a kinematics file at a frame rate the model cannot take, a video at a rate that cannot
   be brought to 30 frames/s, or a file that is neither: one line, before the model loads.
3. The model (``--model``): missing, or not matching its metadata: one line.
4. A video: pose and features as ``host video extract`` does (the same functions).
5. The windows predicted, progress on stderr; the outputs written all or none; the summary.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from host.video.cli import _features, _overlay_writer, _poses, _stem, _writable_folder
from host.video.track import VideoError

#: What each output is, its option, its default name's ending and the suffixes allowed.
OUTPUTS = {
    "csv": ("--csv", "_fatigue.csv", (".csv",)),
    "timeline": ("--timeline", "_fatigue.png", (".png",)),
    "overlay": ("--overlay", "_fatigue.gif", (".gif", ".mp4")),
}


def outputs(args: argparse.Namespace) -> dict[str, Path]:
    """The files to write, by kind (``csv``, ``timeline``, ``overlay``, ``kinematics``),
    checked before any work.

    Raises
    ------
    VideoError
        A wrong suffix, a file that exists or is the clip, a folder that cannot be written;
        one line naming the option.
    """
    from host.video.features_file import SUFFIX

    clip: Path = args.clip
    stem = _stem(clip)
    chosen: dict[str, tuple[str, Path]] = {}
    for kind, (option, ending, suffixes) in OUTPUTS.items():
        if kind == "overlay" and args.no_overlay:
            continue
        path = getattr(args, kind) or stem.with_name(stem.name + ending)
        if path.suffix.lower() not in suffixes:
            raise VideoError(path, f"{option} must end in {' or '.join(suffixes)}")
        chosen[kind] = (option, path)
    if args.kinematics is not None:
        if not args.kinematics.name.endswith(SUFFIX):
            raise VideoError(args.kinematics, f"--kinematics must end in {SUFFIX}")
        chosen["kinematics"] = ("--kinematics", args.kinematics)
    # Their suffixes differ (.csv, .png, .gif/.mp4, .kin.h5): no two can be one file.
    for option, path in chosen.values():
        if clip.exists() and path.exists() and path.resolve() == clip.resolve():
            raise VideoError(path, f"is the clip itself: give {option} another file")
        if path.exists():
            raise VideoError(path, f"exists; move it away or give {option} another name")
        _writable_folder(path, option)
    return {kind: path for kind, (_option, path) in chosen.items()}


def run(args: argparse.Namespace) -> int:
    """The command; returns 0 (errors are raised, one line each, for ``main_args``)."""
    from host.outputs import write_all
    from host.video.analyse import (
        KINEMATICS,
        check_kinematics,
        check_length,
        clip_kind,
        fatigue_timeline,
        load_model,
        summary_lines,
        write_windows_csv,
    )
    from host.video.features_file import read_features, write_features
    from host.video.overlay_bar import ProbabilityBar
    from host.video.plots_fatigue import plot_timeline
    from host.video.resample import check_rate
    from host.video.video_io import open_video

    t0 = time.perf_counter()
    files = outputs(args)
    clip: Path = args.clip
    kind = clip_kind(clip)
    source = None
    if kind == KINEMATICS:
        if "kinematics" in files:
            raise VideoError(clip, "is a kinematics file already: --kinematics is for a video")
        vf = read_features(clip)
        check_kinematics(clip, vf.track)
    else:
        source = open_video(clip)
        try:
            check_rate(source.fps, str(clip))
            if source.frame_count:
                check_length(clip, source.frame_count / source.fps)
        except BaseException:
            source.close()
            raise
    try:
        model = load_model(args.model)
    except BaseException:
        if source is not None:
            source.close()
        raise
    print(model.describe(), file=sys.stderr)
    if source is not None:
        vf = _features(_poses(source, None))
        for note in [*vf.track.notes, *vf.voxels.notes]:
            print(f"note: {note}", file=sys.stderr)

    def progress(done: int, total: int) -> None:
        print(f"predicting: window {done}/{total}", file=sys.stderr, flush=True)

    timeline = fatigue_timeline(model, vf, progress)
    writers = {
        files["csv"]: lambda p: write_windows_csv(timeline, p),
        files["timeline"]: lambda p: plot_timeline(timeline, p),
    }
    if "overlay" in files:
        sim = ", simulated" if timeline.simulated else ""
        bar = ProbabilityBar(
            timeline.value_at, f"fatigue ({timeline.model_name}{sim})", none_text="no window"
        )
        writers[files["overlay"]] = _overlay_writer(
            vf.track, None if kind == KINEMATICS else clip, bar=bar
        )
    if "kinematics" in files:
        writers[files["kinematics"]] = lambda p: write_features(p, vf)
    write_all(writers)
    for line in summary_lines(timeline):
        print(line)
    print(f"in {time.perf_counter() - t0:.0f} s")
    for path in writers:
        print(f"wrote {path}")
    return 0
