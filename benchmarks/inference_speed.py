"""Time per prediction of the bundled model with ONNX Runtime on this machine.

Measures ``FatigueModel.predict`` (normalisation + ONNX Runtime, one thread, one
window of 100 × 12 plus 60 statistics), as the wearable calls it once a second.

    python benchmarks/inference_speed.py [--models-dir models] [--n 2000]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from device.features import SEQUENCE_SHAPE, STATISTICS_SHAPE
from device.inference import load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models-dir", default="models")
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()
    model = load_model(args.models_dir, backend="onnx")
    rng = np.random.default_rng(0)
    # Lists, as the device passes its window (device.features): no numpy on the board.
    seq, st = rng.normal(size=SEQUENCE_SHAPE).tolist(), rng.normal(size=STATISTICS_SHAPE).tolist()
    for _ in range(50):  # warm-up
        model.predict(seq, st)
    times = []
    for _ in range(args.n):
        t0 = time.perf_counter()
        model.predict(seq, st)
        times.append(time.perf_counter() - t0)
    times.sort()
    print(
        f"ONNX Runtime, {args.n} predictions: median {statistics.median(times) * 1e6:.0f} µs, "
        f"95th percentile {times[int(0.95 * len(times))] * 1e6:.0f} µs per prediction "
        "(this machine, 1 thread)"
    )


if __name__ == "__main__":
    main()
