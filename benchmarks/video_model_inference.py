"""The video model's inference per 30 s window on ONE core, and its training time.

Scores windows of a simulated worker (SIMULATED, ``hwsim.workers``) with the video model
(the bundled ``models/video/`` unless ``--model``) and prints the median and spread of the
time per window, split into building the window's inputs (voxels and wavelet matrices)
and the network itself, and how that compares with the window's stride (6.7 s): the
ratio says how many wearers one core could follow live. The training time is the one the
model's metadata records (``training.seconds``, measured by ``host video train`` on the
machine that trained it). It prints figures; it asserts none.

    .venv/host/bin/python benchmarks/video_model_inference.py [--model DIR] [--windows N]

One core as in ``benchmarks/video_extraction.py`` (pinned, thread pools of 1, checked).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# Importing it pins this process to one core before numpy or TensorFlow start their pools.
from video_extraction import CPU, cpu_time_s, threads_allowed

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", type=Path, default=ROOT / "models" / "video", help="(default: %(default)s)"
    )
    parser.add_argument(
        "--windows", type=int, default=20, help="windows to score (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    wall0, cpu0 = time.perf_counter(), cpu_time_s()

    import numpy as np

    from host.video.model_file import load_video_model
    from host.video.model_inputs import window_arrays, window_starts
    from host.video.model_spec import MODEL_FPS, STRIDE_FRAMES, WINDOW_FRAMES
    from host.video.pipeline import extract_features
    from hwsim.workers import simulate_worker

    model = load_video_model(args.model)
    minutes = (WINDOW_FRAMES + STRIDE_FRAMES * args.windows) / MODEL_FPS / 60 + 0.1
    vf = extract_features(simulate_worker(0, "air_pump", seed=11, minutes=minutes))
    starts = window_starts(vf.track.n_frames // 2)[: args.windows]
    inputs_s, network_s = [], []
    model.network.predict_on_batch(
        dict(zip(("voxels", "wavelets"), window_arrays(vf, starts[:1], model.standardiser)))
    )  # fmt: skip  (first call builds the graph)
    for start in starts:
        t0 = time.perf_counter()
        voxels, wavelets = window_arrays(vf, np.array([start]), model.standardiser)
        t1 = time.perf_counter()
        model.network.predict_on_batch({"voxels": voxels, "wavelets": wavelets})
        t2 = time.perf_counter()
        inputs_s.append(t1 - t0)
        network_s.append(t2 - t1)
    total = np.add(inputs_s, network_s)
    stride_s = STRIDE_FRAMES / MODEL_FPS
    print(f"video model {model.meta['architecture']} ({args.model}), one core (CPU {CPU})")
    print(
        f"per window ({len(starts)} windows of {WINDOW_FRAMES} frames): median "
        f"{np.median(total) * 1e3:.0f} ms (inputs {np.median(inputs_s) * 1e3:.0f} ms, "
        f"network {np.median(network_s) * 1e3:.0f} ms), range "
        f"{total.min() * 1e3:.0f}–{total.max() * 1e3:.0f} ms"
    )
    print(
        f"a window every {stride_s:.1f} s: one core keeps up with "
        f"{stride_s / np.median(total):.0f} wearers"
    )
    training = model.meta.get("training", {})
    if "seconds" in training:
        print(
            f"training ({training.get('split')} split, {training.get('epochs')} epochs of "
            f"{training.get('windows_per_epoch')} windows): {training['seconds'] / 60:.1f} min "
            "on the machine that trained it (model metadata)"
        )
    wall_s, cpu_s = time.perf_counter() - wall0, cpu_time_s() - cpu0
    allowed = threads_allowed()
    pinned = all(cpus == str(CPU) for cpus in allowed.values())
    print(
        f"one-core check: {len(allowed)} threads, all allowed only CPU {CPU}: {pinned}; "
        f"CPU time {cpu_s:.1f} s for {wall_s:.1f} s of wall time (ratio {cpu_s / wall_s:.2f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
