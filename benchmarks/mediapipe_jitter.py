"""MediaPipe Pose's own jitter on a still real photograph: the simulated workers' noise level.

A still photograph of a person is shown to ``mediapipe.solutions.pose.Pose`` (video mode,
``static_image_mode=False``, ``model_complexity=1``, the only model in the 0.10.14 wheel)
frame after frame, each frame with fresh camera sensor noise (Gaussian, ``--sensor-sd``
digital numbers of 0–255, clipped; default 2 DN, a typical webcam's temporal noise in a lit
room: assumption). Nothing moves, so every change of a landmark from frame to frame is the
estimator's. Printed per keypoint of :data:`host.video.keypoints.NAMES`: the standard
deviation over frames of x and y in px at the image's size and as a fraction of the mean
shoulder width (the distance between the two shoulder landmarks, px), of z (MediaPipe's
normalised z times the image width, px, i.e. seed 000 eq. 3 with D = width, and as a
fraction of shoulder width), the lag-1 autocorrelation of x and y (MediaPipe's landmark
smoothing filter makes the jitter slow) and the mean visibility. The first ``--warmup``
frames (detection, then the tracker settling) are left out. Figures only, never a pass/fail:
``hwsim.workers`` keeps them as constants with the command that measured them.

    python benchmarks/mediapipe_jitter.py [--frames 100] [--sensor-sd 2] [--warmup 5]
        [--images camera astronaut] [--no-smoothing] [--seed 0]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from device.argtypes import non_negative_float, non_negative_int, positive_int
from host.video.keypoints import INDEX, MEDIAPIPE_INDEX, NAMES

#: The photographs of people scikit-image ships (skimage.data), by name.
IMAGES = ("camera", "astronaut")


def load_image(name: str) -> np.ndarray:
    """``skimage.data.<name>()`` as an RGB uint8 array, shape (height, width, 3)."""
    import skimage.data

    image = getattr(skimage.data, name)()
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return np.ascontiguousarray(image[:, :, :3])


def run_pose(
    image: np.ndarray, frames: int, sensor_sd: float, seed: int, smooth: bool
) -> tuple[np.ndarray, np.ndarray, float]:
    """MediaPipe on ``frames`` noisy copies of ``image``.

    Returns
    -------
    xyz_px : ndarray, shape (frames, 11, 3)
        x, y in px of the image, z = normalised z × width (px); NaN where no pose.
    visibility : ndarray, shape (frames, 11)
    ms_per_frame : float
    """
    import mediapipe as mp

    rng = np.random.default_rng(seed)
    height, width = image.shape[:2]
    xyz = np.full((frames, len(NAMES), 3), np.nan)
    vis = np.full((frames, len(NAMES)), np.nan)
    start = time.perf_counter()
    with mp.solutions.pose.Pose(
        static_image_mode=False, model_complexity=1, smooth_landmarks=smooth
    ) as pose:
        for f in range(frames):
            noisy = image.astype(np.float64) + rng.normal(0.0, sensor_sd, image.shape)
            frame = np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
            result = pose.process(frame)
            if result.pose_landmarks is None:
                continue
            marks = result.pose_landmarks.landmark
            for k, mp_index in enumerate(MEDIAPIPE_INDEX):
                m = marks[mp_index]
                xyz[f, k] = (m.x * width, m.y * height, m.z * width)
                vis[f, k] = m.visibility
    return xyz, vis, 1000.0 * (time.perf_counter() - start) / frames


def lag1(x: np.ndarray) -> float:
    """Lag-1 autocorrelation of a 1-D series (NaN-free), or NaN if it does not vary."""
    d = x - x.mean()
    denom = float(np.dot(d, d))
    return float(np.dot(d[:-1], d[1:]) / denom) if denom > 0 else float("nan")


def report(name: str, xyz: np.ndarray, vis: np.ndarray, warmup: int, ms: float) -> None:
    """Print the jitter table of one photograph."""
    xyz, vis = xyz[warmup:], vis[warmup:]
    found = np.isfinite(xyz[:, 0, 0])
    print(
        f"\n{name}: pose in {found.sum()} of {len(found)} frames (after {warmup} warm-up), "
        f"{ms:.1f} ms/frame"
    )
    if found.sum() < 3:
        return
    xyz, vis = xyz[found], vis[found]
    shoulder_px = float(
        np.linalg.norm(
            xyz[:, INDEX["left_shoulder"], :2] - xyz[:, INDEX["right_shoulder"], :2], axis=1
        ).mean()
    )
    print(f"mean shoulder width {shoulder_px:.1f} px")
    header = (
        f"{'keypoint':15s} {'sd_x_px':>8s} {'sd_y_px':>8s} {'sd_z_px':>8s} "
        f"{'x/shw':>8s} {'y/shw':>8s} {'z/shw':>8s} {'r1_x':>6s} {'r1_y':>6s} {'vis':>6s}"
    )
    print(header)
    sds = []
    for k, kp in enumerate(NAMES):
        sd = xyz[:, k].std(axis=0, ddof=1)
        sds.append(sd / shoulder_px)
        print(
            f"{kp:15s} {sd[0]:8.3f} {sd[1]:8.3f} {sd[2]:8.3f} "
            f"{sd[0] / shoulder_px:8.5f} {sd[1] / shoulder_px:8.5f} {sd[2] / shoulder_px:8.5f} "
            f"{lag1(xyz[:, k, 0]):6.2f} {lag1(xyz[:, k, 1]):6.2f} {vis[:, k].mean():6.3f}"
        )
    med = np.median(np.array(sds), axis=0)
    print(f"{'median':15s} {'':8s} {'':8s} {'':8s} {med[0]:8.5f} {med[1]:8.5f} {med[2]:8.5f}")


def main(argv: list[str] | None = None) -> None:
    """Parse the options, run MediaPipe on each photograph, print its jitter."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--frames",
        type=positive_int,
        default=100,
        help="frames per photograph (default: %(default)s)",
    )
    parser.add_argument(
        "--sensor-sd",
        type=non_negative_float,
        default=2.0,
        help="camera sensor noise added per frame, DN of 0-255 " "(default: %(default)s)",
    )
    parser.add_argument(
        "--warmup",
        type=non_negative_int,
        default=5,
        help="first frames left out of the figures (default: %(default)s)",
    )
    parser.add_argument(
        "--images",
        nargs="+",
        choices=IMAGES,
        default=list(IMAGES),
        help="skimage.data photographs (default: %(default)s)",
    )
    parser.add_argument(
        "--no-smoothing",
        action="store_true",
        help="turn MediaPipe's landmark smoothing off (default: on, as "
        "mediapipe.solutions.pose.Pose has it)",
    )
    parser.add_argument(
        "--seed",
        type=non_negative_int,
        default=0,
        help="seed of the sensor noise (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    print(
        f"MediaPipe Pose, static_image_mode=False, model_complexity=1, "
        f"smooth_landmarks={not args.no_smoothing}, {args.frames} frames, "
        f"sensor noise sd {args.sensor_sd} DN"
    )
    for name in args.images:
        image = load_image(name)
        xyz, vis, ms = run_pose(
            image, args.frames, args.sensor_sd, args.seed, not args.no_smoothing
        )
        report(
            f"skimage.data.{name}() {image.shape[1]}x{image.shape[0]}", xyz, vis, args.warmup, ms
        )


if __name__ == "__main__":
    main()
