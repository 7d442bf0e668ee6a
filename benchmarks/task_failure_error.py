"""Task failure from the video against the simulated one: how far off, how often wrong.

For simulated subjects of the main job (hwsim.wearable.wear_board's truth: the same subject,
seed and keys), on each side: the simulated body's pose track (hwsim.body.simulate_body,
a side view with MediaPipe-like jitter), its elbow flexion
(host.video.task_failure.elbow_flexion_deg) and the failure detected from it
(detect_task_failure, the hold's planned window) against the SessionTruth's task_failure_s.
Printed: trials, simulated failures, detections; the absolute error of matched detections
(mean, median, max; s and frames at 30 fps); misses (a simulated failure with no detection
within --match-s) and false alarms (a detection with no simulated failure within --match-s);
the time to simulate one body track. Figures only, never a pass/fail. Everything SIMULATED.

    python benchmarks/task_failure_error.py [--subjects 20] [--seed 2025] [--verbose]
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

from device.argtypes import positive_float, positive_int
from host.video.keypoints import REFERENCE_FPS
from host.video.task_failure import (
    END_GRACE_S,
    MIN_OUT_S,
    SMOOTHING_S,
    TOLERANCE_DEG,
    detect_task_failure,
    elbow_flexion_deg,
)
from hwsim.body import body_track, hold_windows, simulate_body
from hwsim.physiology import derive_rng, simulate_session, typical_subject
from hwsim.protocols import SEED_BASELINE_S, SEED_REST_S, upper_limb_protocol
from hwsim.wearable import wear_board

#: A trial as long as the main job's longest, s, for the cost line.
LONG_TRIAL_S = 260.0
#: A detection this close to the simulated failure is the same event, s (assumption: well
#: beyond the errors seen, well below a hold).
MATCH_S = 5.0


def trial(
    subject: int, side: str, seed: int, **detector: float
) -> tuple[float | None, float | None, float, float]:
    """(simulated failure s, detected failure s, seconds to simulate the body, planned end s)."""
    truth, _board = wear_board(subject=subject, side=side, seed=seed)
    start = time.perf_counter()
    body = simulate_body(truth, seed=seed)
    spent = time.perf_counter() - start
    (hold_start, hold_end), *_ = hold_windows(truth)
    flexion = elbow_flexion_deg(body.track, side)
    found = detect_task_failure(body.track.time_s, flexion, hold_start, hold_end, **detector)
    return truth.task_failure_s, None if found is None else found.t_s, spent, hold_end


def long_trial_cost(seed: int) -> float:
    """Seconds body_track takes for one trial of LONG_TRIAL_S (median of 5 runs)."""
    protocol = upper_limb_protocol(hold_s=LONG_TRIAL_S - SEED_BASELINE_S - SEED_REST_S)
    subject = typical_subject()
    subject = dataclasses.replace(
        subject, upper=dataclasses.replace(subject.upper, endurance_50_s=300.0)
    )
    truth = simulate_session(subject, protocol, "left", derive_rng(seed, "long"))
    costs = []
    for _ in range(5):
        start = time.perf_counter()
        body_track(truth, seed=seed)
        costs.append(time.perf_counter() - start)
    return float(np.median(costs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--subjects", type=positive_int, default=20, help="subjects 0..N-1 (default: %(default)s)"
    )
    parser.add_argument(
        "--seed", type=int, default=2025, help="main job seed (default: %(default)s)"
    )
    parser.add_argument(
        "--sides",
        nargs="+",
        choices=("left", "right"),
        default=["left", "right"],
        help="sides (default: %(default)s)",
    )
    parser.add_argument(
        "--tolerance-deg",
        type=positive_float,
        default=TOLERANCE_DEG,
        help="band half-width, deg (default: %(default)s)",
    )
    parser.add_argument(
        "--min-duration-s",
        type=positive_float,
        default=MIN_OUT_S,
        help="time out of the band, s (default: %(default)s)",
    )
    parser.add_argument(
        "--smoothing-s",
        type=positive_float,
        default=SMOOTHING_S,
        help="running-median window, s (default: %(default)s)",
    )
    parser.add_argument(
        "--match-s",
        type=positive_float,
        default=MATCH_S,
        help="a detection within this of the simulated failure matches it (default: %(default)s)",
    )
    parser.add_argument("--verbose", action="store_true", help="one line per trial (default: off)")
    args = parser.parse_args()
    detector = {
        "tolerance_deg": args.tolerance_deg,
        "min_duration_s": args.min_duration_s,
        "smoothing_s": args.smoothing_s,
    }
    errors, misses, late_misses, false_alarms, held, costs = [], 0, 0, 0, 0, []
    n_trials = n_failures = n_detected = 0
    for subject in range(args.subjects):
        for side in args.sides:
            simulated, detected, spent, hold_end = trial(subject, side, args.seed, **detector)
            costs.append(spent)
            n_trials += 1
            n_failures += simulated is not None
            n_detected += detected is not None
            if simulated is not None and detected is not None:
                if abs(detected - simulated) <= args.match_s:
                    errors.append(detected - simulated)
                else:
                    misses += 1
                    false_alarms += 1
            elif simulated is not None:
                misses += 1
                late_misses += simulated >= hold_end - END_GRACE_S
            elif detected is not None:
                false_alarms += 1
            else:
                held += 1
            if args.verbose:
                sim = "held" if simulated is None else f"{simulated:7.2f} s"
                det = "none" if detected is None else f"{detected:7.2f} s"
                print(f"subject {subject:3d} {side:5s}  simulated {sim:>9s}  detected {det:>9s}")
    err = np.abs(np.asarray(errors))
    frame = 1.0 / REFERENCE_FPS
    print(
        f"SIMULATED: {n_trials} trials ({args.subjects} subjects × {len(args.sides)} sides, "
        f"seed {args.seed}), {n_failures} simulated failures, {n_detected} detections, "
        f"{held} holds that lasted and were called so"
    )
    print(
        f"detector: tolerance ±{args.tolerance_deg:g}°, out ≥ {args.min_duration_s:g} s, "
        f"median over {args.smoothing_s:g} s"
    )
    if len(err):
        signed = np.asarray(errors)
        print(
            f"|error| of {len(err)} matched: mean {err.mean():.3f} s ({err.mean() / frame:.1f} "
            f"frames), median {np.median(err):.3f} s ({np.median(err) / frame:.1f} frames), "
            f"max {err.max():.3f} s ({err.max() / frame:.1f} frames); signed mean "
            f"{signed.mean():+.3f} s (− = detected early)"
        )
    print(
        f"misses {misses} ({late_misses} of them failed in the last {END_GRACE_S:g} s of the "
        f"planned hold, which the detector counts as its end), false alarms {false_alarms} "
        f"(match window ±{args.match_s:g} s)"
    )
    print(
        f"body track: {np.mean(costs) * 1e3:.0f} ms per trial on average "
        f"(max {np.max(costs) * 1e3:.0f} ms)"
    )
    print(f"body track of a {LONG_TRIAL_S:.0f} s trial: {long_trial_cost(args.seed) * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
