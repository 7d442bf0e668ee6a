"""The pose estimator's view of a simulated worker: what MediaPipe would report.

:func:`estimator_view` turns a simulated person's true keypoints into MediaPipe's output:
its own jitter, measured on a still real photograph (:data:`JITTER_SD_SHW`), visibility
lower where a hand is hidden, and short runs of frames without a pose. Used by
:mod:`hwsim.workers` and :mod:`hwsim.body`, which make their tracks with
:func:`simulated_track`; apart from them so the measured figures live in one short module.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

from host.video.keypoints import INDEX
from host.video.track import NO_POSE, OUT_OF_FRAME, PoseTrack
from hwsim.worker_tasks import shoulder_width_px

__all__ = ["JITTER_LAG1", "JITTER_SD_SHW", "estimator_view", "simulated_track"]

#: MediaPipe Pose's jitter on a still photograph, SD of x, y, z per keypoint (NAMES order) as a
#: fraction of the shoulder width. Measured 2026-11-30 with
#: ``PYTHONPATH=$PWD:$PWD/hw-sim python benchmarks/mediapipe_jitter.py`` (mediapipe 0.10.14,
#: static_image_mode=False, model_complexity=1, smoothing on, 95 frames after 5 warm-up,
#: sensor noise σ = 2 DN) on skimage.data.astronaut() (512 × 512, shoulder width 192 px, the
#: person nearest this camera's scale), left and right averaged (the photograph's
#: asymmetry is its pose, not the model's). camera() (shoulder width 93 px, hands holding a
#: camera) gave 2–10 × more: see the benchmark's output in docs.
_MEASURED = np.array(
    [  # x/shw, y/shw, z/shw, astronaut(), as printed
        [0.00385, 0.00308, 0.11586],  # nose
        [0.01233, 0.01050, 0.08554],
        [0.01235, 0.02803, 0.09198],  # shoulders L, R
        [0.01489, 0.02489, 0.15016],
        [0.00382, 0.03264, 0.08632],  # elbows
        [0.02240, 0.09968, 0.36609],
        [0.02642, 0.05000, 0.13109],  # wrists
        [0.03052, 0.12145, 0.39897],
        [0.03220, 0.02654, 0.14333],  # pinkies
        [0.02559, 0.13768, 0.38065],
        [0.03168, 0.02816, 0.14660],  # index fingers
    ]
)
_PAIRS = [(0,)] + [(k, k + 1) for k in range(1, 11, 2)]
JITTER_SD_SHW = np.empty_like(_MEASURED)
for _pair in _PAIRS:
    JITTER_SD_SHW[list(_pair)] = _MEASURED[list(_pair)].mean(axis=0)
#: Lag-1 autocorrelation of the jitter frame to frame (same run: median 0.93 in x, 0.95 in
#: y; z taken as x's: assumption). The jitter is simulated as an AR(1) process.
JITTER_LAG1 = (0.93, 0.95, 0.93)
#: Visibility of an unhidden keypoint, per keypoint (camera(): nose 0.997, shoulders ≥ 0.995,
#: a fully visible arm's elbow 0.95, wrist 0.92, fingers 0.86; rounded: assumption), ± 0.02.
VISIBLE = np.array([0.997, 0.995, 0.995, 0.95, 0.95, 0.92, 0.92, 0.86, 0.86, 0.86, 0.86])
#: A hand behind the other hand (wrists closer than this × shoulder width in the image, this
#: one further from the camera) has its wrist and fingers' visibility drawn from this range.
OCCLUSION_DISTANCE_SHW = 0.35
OCCLUDED_VISIBILITY = (0.3, 0.7)
#: Runs of frames without a pose: start probability per frame, mean run length, frames
#: (assumption).
NO_POSE_RATE = 0.002
NO_POSE_RUN_FRAMES = 4.0


def estimator_view(
    clean_px: np.ndarray, depth_m: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What MediaPipe would report for the true keypoints ``clean_px`` (n, 11, 3).

    Jitter: AR(1) per keypoint and axis with SD :data:`JITTER_SD_SHW` × the frame's shoulder
    width and lag-1 correlation :data:`JITTER_LAG1`. Visibility: :data:`VISIBLE` ± 0.02, a
    hand behind the other hand drawn from :data:`OCCLUDED_VISIBILITY`. Runs of frames
    without a pose (:data:`NO_POSE_RATE`): NaN keypoints and visibility.

    Returns
    -------
    xyz_px : ndarray, shape (n, 11, 3)
    visibility : ndarray, shape (n, 11)
    no_pose : ndarray, shape (n,), bool
    """
    n, k, _ = clean_px.shape
    shw = shoulder_width_px(clean_px)
    noise = np.empty((n, k, 3))
    burn = 200
    for axis, r in enumerate(JITTER_LAG1):
        e = rng.standard_normal((n + burn, k))
        noise[:, :, axis] = lfilter([np.sqrt(1.0 - r * r)], [1.0, -r], e, axis=0)[burn:]
    xyz = clean_px + noise * JITTER_SD_SHW[None] * shw[:, None, None]
    vis = np.clip(VISIBLE + rng.uniform(-0.02, 0.02, (n, k)), 0.0, 1.0)
    wrists = [INDEX["left_wrist"], INDEX["right_wrist"]]
    close = np.linalg.norm(clean_px[:, wrists[0], :2] - clean_px[:, wrists[1], :2], axis=-1)
    close = close < OCCLUSION_DISTANCE_SHW * shw
    for side, name in enumerate(("left_", "right_")):
        behind = close & (depth_m[:, wrists[side]] > depth_m[:, wrists[1 - side]])
        for part in ("wrist", "index", "pinky"):
            j = INDEX[name + part]
            vis[behind, j] = rng.uniform(*OCCLUDED_VISIBILITY, int(behind.sum()))
    starts = rng.random(n) < NO_POSE_RATE
    runs = rng.geometric(1.0 / NO_POSE_RUN_FRAMES, n)
    no_pose = np.zeros(n, bool)
    for i in np.flatnonzero(starts):
        no_pose[i : i + runs[i]] = True
    xyz[no_pose] = np.nan
    vis[no_pose] = np.nan
    return xyz, vis, no_pose


def simulated_track(
    time_s: np.ndarray,
    xyz_px: np.ndarray,
    visibility: np.ndarray,
    no_pose: np.ndarray,
    *,
    fps: float,
    width: int,
    height: int,
    source: str,
    notes: list[str],
    metadata: dict,
    borg_time_s: np.ndarray,
    borg_rating: np.ndarray,
) -> PoseTrack:
    """A simulated camera's :class:`~host.video.track.PoseTrack` from :func:`estimator_view`'s
    output: keypoints outside the ``width`` × ``height`` picture flagged ``OUT_OF_FRAME``,
    frames without a pose ``NO_POSE``, depth in px of the picture's width (MediaPipe's z
    scale), provenance ``"simulated"``. Shapes as :class:`~host.video.track.PoseTrack`:
    ``time_s`` (n,) s, ``xyz_px`` (n, 11, 3), ``visibility`` (n, 11), ``no_pose`` (n,)."""
    x, y = xyz_px[..., 0], xyz_px[..., 1]
    outside = (x < 0) | (x >= width) | (y < 0) | (y >= height)
    return PoseTrack(
        time_s=time_s,
        xyz_px=xyz_px,
        visibility=visibility,
        keypoint_flags=np.where(outside, OUT_OF_FRAME, 0).astype(np.uint8),
        frame_flags=np.where(no_pose, NO_POSE, 0).astype(np.uint8),
        fps=fps,
        width=width,
        height=height,
        depth_px=float(width),
        source=source,
        provenance="simulated",
        notes=notes,
        metadata=metadata,
        borg_time_s=borg_time_s,
        borg_rating=borg_rating,
    )
