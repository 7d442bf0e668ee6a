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
import os
import signal
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, as_completed, wait
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
            f"error: {out}: already holds {len(taken)} kinematics file(s) ({taken[0].name}, ...); "
            "give an empty or new folder",
            file=sys.stderr,
        )
        return 2
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(w, t) for w in range(args.workers) for t in args.tasks]
    start = time.perf_counter()
    written: list[tuple[Path, int, int, float]] = []
    # Sessions run in worker processes that ignore Ctrl-C: the parent decides. It hands out
    # no more sessions than there are workers, so that Ctrl-C cancels every session not yet
    # started and lets the ones being written finish (each is written under a temporary
    # name and renamed: no file is ever half there); every file in the folder is then one
    # that was reported. A second Ctrl-C stops the workers at once.
    pool = ProcessPoolExecutor(max_workers=args.jobs, initializer=_ignore_ctrl_c)
    todo = list(jobs)
    running: set = set()
    try:
        try:
            while todo or running:
                while todo and len(running) < args.jobs:
                    w, t = todo[0]
                    session = (out, w, t, args.seed, args.minutes, args.camera, args.posture)
                    running.add(pool.submit(run_session, *session))
                    todo.pop(0)
                finished, running = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    written.append(future.result())
                    _report(written[-1], len(written), len(jobs))
        except KeyboardInterrupt:
            print(
                f"Ctrl-C: {len(todo)} session(s) not started; finishing the {len(running)} "
                "being written (Ctrl-C again abandons them)",
                file=sys.stderr,
                flush=True,
            )
            for future in as_completed(running):
                written.append(future.result())
                _report(written[-1], len(written), len(jobs))
            pool.shutdown()
            # A session handed out in the instant Ctrl-C came finished untracked: say so.
            reported = {item[0] for item in written}
            for w, t in jobs:
                path = session_path(out, w, t)
                if path.exists() and path not in reported:
                    written.append((path, 0, path.stat().st_size, 0.0))
                    print(f"[{len(written)}/{len(jobs)}] {path.name} (simulated)", flush=True)
            _summary(written, out, start, stopped=True)
            return 130
    except KeyboardInterrupt:  # the second Ctrl-C: stop the workers now
        for process in list(getattr(pool, "_processes", {}).values()):
            process.kill()
        for stray in out.glob(".*.part"):
            stray.unlink(missing_ok=True)
        _summary(written, out, start, stopped=True)
        sys.stdout.flush()
        os._exit(130)  # the pool's manager thread would wait for the killed workers
    pool.shutdown()
    _summary(written, out, start, stopped=False)
    return 0


def _ignore_ctrl_c() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _report(item: tuple[Path, int, int, float], done: int, of: int) -> None:
    path, frames, size, seconds = item
    print(
        f"[{done}/{of}] {path.name}: {frames} frames, {size / 1e6:.1f} MB, {seconds:.0f} s "
        "(simulated)",
        flush=True,
    )


def _summary(
    written: list[tuple[Path, int, int, float]], out: Path, start: float, *, stopped: bool
) -> None:
    total = sum(item[2] for item in written)
    what = "stopped by Ctrl-C: " if stopped else ""
    print(
        f"{what}{len(written)} file(s), {total / 1e6:.1f} MB, "
        f"{time.perf_counter() - start:.0f} s in {out} (simulated)"
    )


if __name__ == "__main__":
    sys.exit(main())
