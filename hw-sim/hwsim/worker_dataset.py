"""The simulated workers' dataset: one features file per (worker, task) session.

    python -m hwsim.worker_dataset --out DIR [--workers 3] [--tasks medicine_bottle air_pump]
        [--minutes 30] [--seed 2025] [--jobs 1] [--camera 854x480] [--posture seated]

Each session is :func:`hwsim.workers.simulate_worker` (provenance ``simulated``), run through
:func:`host.video.pipeline.extract_features` and written by
:func:`host.video.features_file.write_features` to ``DIR/worker<NN>_<task>.kin.h5``. ``DIR`` must
be empty or new (nothing is overwritten); a file appears only once complete. One line per
session as it finishes, a summary (files, MB, seconds) at the end.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from device.argtypes import non_negative_int, output_dir, positive_float, positive_int
from host.video.features_file import SUFFIX
from hwsim.workers import BENCH_DROP, CAMERAS, DEFAULT_MINUTES, TASKS, simulate_worker

#: Seed 000 §IV had three participants.
DEFAULT_WORKERS = 3


def session_path(out: Path, worker_id: int, task: str) -> Path:
    """Where the session of ``worker_id`` doing ``task`` is written."""
    return out / f"worker{worker_id:02d}_{task}{SUFFIX}"


def run_session(
    out: Path, worker_id: int, task: str, seed: int, minutes: float, camera: str, posture: str
) -> tuple[Path, int, int, float]:
    """Simulate one session, extract its features, write its file.

    Returns
    -------
    path, n_frames, size in bytes, seconds taken
    """
    from host.video.features_file import write_features
    from host.video.pipeline import extract_features
    from host.video.pose import clean_track

    start = time.perf_counter()
    track = simulate_worker(
        worker_id, task, seed=seed, minutes=minutes, camera=camera, posture=posture
    )
    # The checks and gap filling a video's track goes through (the same pipeline).
    features = extract_features(clean_track(track))
    final = session_path(out, worker_id, task)
    write_features(final, features)  # all or nothing: a temporary file renamed
    return final, track.n_frames, final.stat().st_size, time.perf_counter() - start


def build_parser() -> argparse.ArgumentParser:
    """The command's options, each with its default in its help line."""
    parser = argparse.ArgumentParser(
        prog="python -m hwsim.worker_dataset",
        description="Simulated workers (seed 000 §IV) doing the assembly tasks until tired: "
        "one features file per session, provenance 'simulated'.",
    )
    parser.add_argument(
        "--out",
        type=output_dir,
        required=True,
        help="folder to write into, empty or new (required)",
    )
    parser.add_argument(
        "--workers",
        type=positive_int,
        default=DEFAULT_WORKERS,
        help="number of simulated people, ids 0..N-1 (default: %(default)s)",
    )
    parser.add_argument(
        "--tasks",
        nargs="+",
        choices=TASKS,
        default=list(TASKS),
        help="tasks each person does, one session each (default: %(default)s)",
    )
    parser.add_argument(
        "--minutes",
        type=positive_float,
        default=DEFAULT_MINUTES,
        help="length of each session, min (default: %(default)s)",
    )
    parser.add_argument(
        "--seed",
        type=non_negative_int,
        default=2025,
        help="seed of the people and their sessions (default: %(default)s)",
    )
    parser.add_argument(
        "--jobs",
        type=positive_int,
        default=1,
        help="sessions simulated at once, one process each " "(default: %(default)s)",
    )
    parser.add_argument(
        "--camera",
        choices=sorted(CAMERAS),
        default="854x480",
        help="frame size of the simulated camera, px (default: %(default)s)",
    )
    parser.add_argument(
        "--posture",
        choices=tuple(BENCH_DROP),
        default="seated",
        help="the workers' posture at the bench (default: %(default)s)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns the exit status (0 done, 2 refused)."""
    args = build_parser().parse_args(argv)
    out: Path = args.out
    # Only sessions block a folder: the figures `host video plot` writes beside them do not.
    taken = sorted(out.glob(f"*{SUFFIX}")) if out.exists() else []
    if taken:
        print(
            f"{out}: already holds {len(taken)} kinematics file(s) ({taken[0].name}, ...); "
            "give an empty or new folder",
            file=sys.stderr,
        )
        return 2
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(w, t) for w in range(args.workers) for t in args.tasks]
    start = time.perf_counter()
    total = 0
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = [
            pool.submit(run_session, out, w, t, args.seed, args.minutes, args.camera, args.posture)
            for w, t in jobs
        ]
        for done, future in enumerate(futures, start=1):
            path, frames, size, seconds = future.result()
            total += size
            print(
                f"[{done}/{len(jobs)}] {path.name}: {frames} frames, "
                f"{size / 1e6:.1f} MB, {seconds:.0f} s (simulated)",
                flush=True,
            )
    print(
        f"{len(jobs)} file(s), {total / 1e6:.1f} MB, {time.perf_counter() - start:.0f} s "
        f"in {out} (simulated)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
