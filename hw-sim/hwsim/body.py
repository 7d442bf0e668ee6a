"""The main job's simulated subject gets a body: the elbow hold seen by a camera.

:mod:`hwsim.physiology` plays one trial of seed 003's upper-limb protocol for a simulated
subject (:class:`~hwsim.physiology.SessionTruth`: phases, endurance, the time of task
failure). This module makes what a camera beside that person would see during the same
trial, as the :class:`host.video.track.PoseTrack` a pose estimator would give (provenance
``"simulated"``, :data:`host.video.keypoints.REFERENCE_FPS`), so that the hold's elbow
angle, its drift and tremor as fatigue rises, and the moment of failure come from the same
virtual person as the muscle signals. Seed 003 §3.3.1.1 (:mod:`hwsim.protocols`):

- **Baseline**: seated upright, upper arm hanging, forearm at 90° to it (90° of flexion;
  the convention is :mod:`host.video.task_failure`'s: 0° = elbow straight).
- **Hold**: the dumbbell taken up and the elbow brought to 45° of flexion (interior angle
  135°) in :data:`TAKE_POSTURE_S`; then the forearm sinks slowly as fatigue rises (a mean
  sink growing as (t / endurance)^:data:`SINK_EXPONENT` to the person's
  :data:`SINK_AT_FAILURE_DEG`), wanders (:data:`WANDER_SD_DEG`, growing with fatigue) and
  trembles (:data:`TREMOR_HZ`, RMS growing tenfold to failure). Everything stays inside
  :data:`host.video.task_failure.TOLERANCE_DEG` of the target until the hold ends.
- **Task failure** (``truth.task_failure_s``, the physiology's, never redrawn): the arm gives
  way and is lowered (minimum-jerk, :data:`LOWERING_S`), timed so that the angle without
  its tremor crosses the band's edge exactly at the failure time. A hold that lasts is
  lowered the same way from its planned end. The arm then hangs
  (:data:`LOWERED_FLEXION_DEG`) through the rest.

The fatigue of a hold is ``(t − hold start) / endurance`` (0 → 1 at failure), the relative
time hwsim.physiology and hwsim.borg drive the muscle and the ratings with.

The camera: hwsim.workers' pinhole (:data:`hwsim.workers.CAMERAS`, ``HFOV_DEG``,
``CAMERA_DISTANCE_M`` to the shoulders' midpoint), placed on the side of the trial's arm
with its axis across the person (a side view): the elbow flexes in the sagittal plane, which
then is the image plane, so the angle is measured from x, y, where the estimator is precise
(seen from the front the forearm of this hold points at the camera and its angle would rest
on MediaPipe's depth, its noisiest coordinate). The far arm is hidden behind the trunk (its
visibility drawn from hwsim.pose_estimator_view.OCCLUDED_VISIBILITY). The person's
anthropometry is hwsim.workers'. The estimator's jitter is
:func:`hwsim.pose_estimator_view.estimator_view`'s, drawn for the same person seen from the
front (where it was measured and scaled to the shoulder width) and added to the side view.

Not simulated: the estimator's own temporal smoothing of real motion (MediaPipe's filter
would damp some of the 8–12 Hz tremor), sway of the trunk, and people leaning or shrugging
to keep a sinking dumbbell up.

The main job's use (the same seed as its subject)::

    truth, board = wear_board(subject=7, side="left", seed=2025)
    track = body_track(truth, seed=2025)  # 30 fps, t = 0 at the trial's start
    (hold_start_s, hold_end_s), = hold_windows(truth)
    failure = detect_task_failure(track.time_s, elbow_flexion_deg(track, "left"),
                                  hold_start_s, hold_end_s)  # host.video.task_failure

Everything here is simulated: none of it is measured on a person.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from host.video.keypoints import INDEX, REFERENCE_FPS
from host.video.task_failure import TARGET_FLEXION_DEG, TOLERANCE_DEG
from host.video.track import PoseTrack
from hwsim.physiology import SessionTruth, derive_rng
from hwsim.pose_estimator_view import OCCLUDED_VISIBILITY, estimator_view, simulated_track
from hwsim.worker_tasks import ARM_DOFS, body_points, project
from hwsim.workers import CAMERA_DISTANCE_M, CAMERAS, HFOV_DEG, Worker, draw_worker

__all__ = [
    "BodySession",
    "body_track",
    "hold_windows",
    "simulate_body",
    "true_flexion_deg",
]

# ---- Posture (seed 003 §3.3.1.1 unless marked) ----------------------------------------------
#: Baseline and the other arm throughout: forearm at 90° to the upper arm, deg of flexion.
BASELINE_FLEXION_DEG = 90.0
#: The arm hanging relaxed after the hold, deg of flexion (assumption: a relaxed elbow keeps
#: a little flexion).
LOWERED_FLEXION_DEG = 10.0
#: Time to take the dumbbell up into the hold's angle, s (assumption).
TAKE_POSTURE_S = 1.5
#: Time the arm takes to go down when it gives way or the hold ends, s (assumption).
LOWERING_S = 1.0
#: Forearm pronation of the trial arm (−π/2: palm up, as in a dumbbell curl) and of the
#: other arm resting on the thigh (+π/2: palm down), rad (hwsim.worker_tasks' convention;
#: assumptions).
HOLD_PRONATION_RAD = -0.5 * math.pi
RESTING_PRONATION_RAD = 0.5 * math.pi

# ---- Fatigue's effects on the held angle (all: assumptions unless a source is given) --------
#: Mean sink of the forearm at task failure, deg of flexion lost, per person uniform. The
#: forearm of a tiring position hold drifts down before the person gives up (seed 003: "if
#: 45° can no longer be kept"); the size is an assumption, kept inside the band.
SINK_AT_FAILURE_DEG = (3.0, 6.0)
#: The sink grows as (relative time)^this: slow at first, fastest near failure.
SINK_EXPONENT = 2.0
#: Slow wander of the held angle (Ornstein–Uhlenbeck), SD at the start and at failure,
#: deg; its correlation time, s; and its bound, deg (a tanh keeps it inside the band):
#: fluctuations of a position task grow with fatigue (Hunter et al. 2002, J. Neurophysiol.
#: 88:3087, "fluctuations in motor output"); sizes are assumptions.
WANDER_SD_DEG = (0.5, 1.2)
WANDER_TAU_S = 1.5
WANDER_MAX_DEG = 2.0
#: Physiological tremor frequency, Hz, per person uniform (8–12 Hz: Lippold 1981, "The
#: tremor in fatigue", Ciba Found. Symp. 82:234; Elble 2003, Handbook of Clinical
#: Neurophysiology vol. 1 ch. 22).
TREMOR_HZ = (8.0, 12.0)
#: Tremor RMS at the elbow when rested, deg (assumption: "barely visible", Elble 2003), and
#: its factor at task failure, growing linearly with the relative time (Lippold 1981: tremor
#: up to an order of magnitude larger after fatiguing effort).
TREMOR_RMS_REST_DEG = 0.1
TREMOR_GAIN_AT_FAILURE = 10.0
#: Phase wander of the tremor, rad/√s (assumption: a narrow band, not a line).
TREMOR_PHASE_WANDER = 2.0

# ---- Camera ---------------------------------------------------------------------------------
#: The shoulders above the camera's axis, m (assumption: the camera at about elbow height of
#: the seated person, so the hanging arm and the head both stay in frame).
SHOULDER_ABOVE_AXIS_M = 0.25

#: Largest distance from the target the held angle reaches before failure, deg: the sum of
#: the bounds above, which must stay below host.video.task_failure.TOLERANCE_DEG (tested).
MAX_HOLD_DEVIATION_DEG = (
    SINK_AT_FAILURE_DEG[1]
    + WANDER_MAX_DEG
    + math.sqrt(2.0) * TREMOR_RMS_REST_DEG * TREMOR_GAIN_AT_FAILURE
)


@dataclass
class BodySession:
    """A simulated trial's video side with its ground truth.

    Attributes:
        track: What the pose estimator would give (jitter, visibility, missing frames).
        flexion_deg: True elbow flexion of the trial arm per frame, deg, shape (n,).
        fatigue: Relative time to failure of the hold per frame, 0–1 (0 outside holds).
        clean_px: Keypoints before the estimator's noise, px, shape (n, 11, 3).
    """

    track: PoseTrack
    flexion_deg: np.ndarray
    fatigue: np.ndarray
    clean_px: np.ndarray


def hold_windows(truth: SessionTruth) -> list[tuple[float, float]]:
    """(start, planned end) of each hold of the trial, s: what a detector is given.

    The planned end is the protocol's (seed: start + 90 s), not the shortened phase of
    ``truth``, which already knows the failure.
    """
    return [
        (start, start + planned.duration_s)
        for phase, planned, start in zip(truth.phases, truth.protocol.phases, truth.phase_start_s)
        if phase.kind == "hold"
    ]


def _min_jerk(tau: np.ndarray) -> np.ndarray:
    """Flash & Hogan 1985's 10τ³ − 15τ⁴ + 6τ⁵ on τ clipped to [0, 1] (as hwsim.worker_tasks)."""
    tau = np.clip(tau, 0.0, 1.0)
    return tau**3 * (10.0 - 15.0 * tau + 6.0 * tau**2)


def _ou_unit(rng: np.random.Generator, n: int, tau_s: float, fps: float) -> np.ndarray:
    """Unit-variance Ornstein–Uhlenbeck process at ``fps``, settled from the start."""
    a = math.exp(-1.0 / (tau_s * fps))
    x = lfilter([math.sqrt(1.0 - a * a)], [1.0, -a], rng.standard_normal(n + 200))
    return x[200:]


def _person_rng(truth: SessionTruth, seed: int) -> np.random.Generator:
    return derive_rng(seed, "body", truth.subject.subject_id)


def _flexion(truth: SessionTruth, seed: int, t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """True elbow flexion of the trial arm (deg) and the hold's fatigue (0–1) at ``t_s``."""
    fps = 1.0 / float(t_s[1] - t_s[0]) if len(t_s) > 1 else REFERENCE_FPS
    person = _person_rng(truth, seed)
    sink_max = float(person.uniform(*SINK_AT_FAILURE_DEG))
    tremor_hz = float(person.uniform(*TREMOR_HZ))
    rng = derive_rng(seed, "body", truth.subject.subject_id, truth.side)
    n = len(t_s)
    ou = _ou_unit(rng, n, WANDER_TAU_S, fps)
    phase = 2 * math.pi * tremor_hz * t_s + float(rng.uniform(0, 2 * math.pi))
    phase += np.cumsum(rng.normal(0.0, TREMOR_PHASE_WANDER / math.sqrt(fps), n))

    flexion = np.full(n, BASELINE_FLEXION_DEG)
    fatigue = np.zeros(n)
    previous = BASELINE_FLEXION_DEG
    holds = [(p, s) for p, s in zip(truth.phases, truth.phase_start_s) if p.kind == "hold"]
    for (hold, start), endurance in zip(holds, truth.endurance_s):
        end = start + hold.duration_s
        failed = truth.task_failure_s is not None and abs(end - truth.task_failure_s) < 1e-6
        u = np.clip((t_s - start) / endurance, 0.0, 1.0)
        wander_sd = WANDER_SD_DEG[0] + (WANDER_SD_DEG[1] - WANDER_SD_DEG[0]) * u
        wander = WANDER_MAX_DEG * np.tanh(wander_sd * ou / WANDER_MAX_DEG)
        smooth = TARGET_FLEXION_DEG - sink_max * u**SINK_EXPONENT - wander
        rms = TREMOR_RMS_REST_DEG * (1.0 + (TREMOR_GAIN_AT_FAILURE - 1.0) * u)
        tremor = math.sqrt(2.0) * rms * np.sin(phase)
        # Lowering: from the planned end, or timed so the smooth angle crosses the band's
        # edge at the failure: solve s(τ*) = (edge − h) / (lowered − h) on the monotone s.
        lower_start = end
        if failed:
            h = float(np.interp(end, t_s, smooth))
            share = (TARGET_FLEXION_DEG - TOLERANCE_DEG - h) / (LOWERED_FLEXION_DEG - h)
            grid = np.linspace(0.0, 1.0, 10001)
            lower_start = end - float(np.interp(share, _min_jerk(grid), grid)) * LOWERING_S
        take = _min_jerk((t_s - start) / TAKE_POSTURE_S)
        drop = _min_jerk((t_s - lower_start) / LOWERING_S)
        held = previous + (smooth - previous) * take
        angle = held + (LOWERED_FLEXION_DEG - held) * drop + tremor * take * (1.0 - drop)
        sel = t_s >= start
        flexion[sel] = angle[sel]
        fatigue[(t_s >= start) & (t_s < end)] = u[(t_s >= start) & (t_s < end)]
        previous = LOWERED_FLEXION_DEG
    return flexion, fatigue


def _frame_times(truth: SessionTruth, fps: float) -> np.ndarray:
    return np.arange(int(round(truth.duration_s * fps))) / fps


def true_flexion_deg(
    truth: SessionTruth, *, seed: int, fps: float = REFERENCE_FPS
) -> tuple[np.ndarray, np.ndarray]:
    """Ground truth: the trial arm's elbow flexion per frame, as :func:`simulate_body` has it.

    Returns:
        ``(t_s, flexion_deg)``, each shape (n,): frame times from 0 s at ``fps`` and the
        flexion, deg (0 = straight; :mod:`host.video.task_failure`'s convention).
    """
    t_s = _frame_times(truth, fps)
    return t_s, _flexion(truth, seed, t_s)[0]


def _keypoints_m(worker: Worker, truth: SessionTruth, flexion_deg: np.ndarray) -> np.ndarray:
    """The 11 keypoints from the shoulders' midpoint, person facing −z, m, shape (n, 11, 3)."""
    n = len(flexion_deg)
    angles = np.zeros((n, 2, len(ARM_DOFS)))
    trial, other = (0, 1) if truth.side == "left" else (1, 0)
    elbow, pron = ARM_DOFS.index("elbow"), ARM_DOFS.index("pron")
    angles[:, trial, elbow] = np.deg2rad(flexion_deg)
    angles[:, trial, pron] = HOLD_PRONATION_RAD
    angles[:, other, elbow] = np.deg2rad(BASELINE_FLEXION_DEG)
    angles[:, other, pron] = RESTING_PRONATION_RAD
    zero = np.zeros(n)
    return body_points(
        worker.body,
        angles,
        shoulder_lift_m=zero,
        head_flex_rad=zero,
        head_protraction_m=zero,
        trunk_flex_rad=zero,
    )


def simulate_body(truth: SessionTruth, *, seed: int, camera: str = "854x480") -> BodySession:
    """What a camera beside the trial's arm sees of ``truth``'s subject, and the truth.

    Args:
        truth: One upper-limb trial (:func:`hwsim.physiology.simulate_session`).
        seed: The main job's seed; the body depends only on it, the subject's id and the
            side (:func:`hwsim.physiology.derive_rng` keys ``"body"``), so the same person
            has the same arms in both trials.
        camera: A key of :data:`hwsim.workers.CAMERAS`.

    Returns:
        A :class:`BodySession`; its track starts at the trial's 0 s, 30 fps, provenance
        ``"simulated"``, the truth's Borg ratings, its failure time in ``metadata``.

    Raises:
        ValueError: A protocol other than the upper limb's, or an unknown camera.
    """
    if truth.protocol.limb != "upper":
        raise ValueError(
            f"simulate_body: protocol {truth.protocol.name!r} is for the {truth.protocol.limb} "
            "limb; only the upper limb's elbow hold has a body"
        )
    if camera not in CAMERAS:
        raise ValueError(f"simulate_body: camera {camera!r} is not one of {', '.join(CAMERAS)}")
    width, height = CAMERAS[camera]
    fps = REFERENCE_FPS
    t_s = _frame_times(truth, fps)
    flexion, fatigue = _flexion(truth, seed, t_s)
    # The same person in every trial: hwsim.workers' anthropometry, keyed by the subject.
    worker = draw_worker(zlib.crc32(f"body {truth.subject.subject_id}".encode()), seed=seed)
    body_m = _keypoints_m(worker, truth, flexion)
    place = np.array([0.0, -SHOULDER_ABOVE_AXIS_M, CAMERA_DISTANCE_M])
    # Side view: the camera on the trial arm's side, looking across the person.
    sign = 1.0 if truth.side == "left" else -1.0
    side_m = np.stack([sign * body_m[..., 2], body_m[..., 1], -sign * body_m[..., 0]], -1)
    clean = project(side_m + place, width, height, CAMERA_DISTANCE_M, HFOV_DEG)
    # The estimator's jitter as measured (seen from the front), added to the side view.
    front_m = body_m + place
    front = project(front_m, width, height, CAMERA_DISTANCE_M, HFOV_DEG)
    rng = derive_rng(seed, "body-estimator", truth.subject.subject_id, truth.side)
    noisy_front, vis, no_pose = estimator_view(front, front_m[..., 2], rng)
    xyz = clean + (noisy_front - front)
    far = "right_" if truth.side == "left" else "left_"
    for part in ("elbow", "wrist", "index", "pinky"):
        j = INDEX[far + part]
        vis[~no_pose, j] = rng.uniform(*OCCLUDED_VISIBILITY, int((~no_pose).sum()))
    failure = truth.task_failure_s
    track = simulated_track(
        t_s,
        xyz,
        vis,
        no_pose,
        fps=fps,
        width=width,
        height=height,
        source=f"simulated subject {truth.subject.subject_id}, {truth.side} arm, seed {seed}",
        notes=[
            f"simulated body, side view of the {truth.side} arm: {int(no_pose.sum())} frames "
            "without a pose"
        ],
        metadata={
            "subject": truth.subject.subject_id,
            "side": truth.side,
            "seed": seed,
            "camera": camera,
            "view": f"side ({truth.side})",
            "hfov_deg": HFOV_DEG,
            "camera_distance_m": CAMERA_DISTANCE_M,
            "stature_m": worker.stature_m,
            "target_flexion_deg": TARGET_FLEXION_DEG,
            "task_failure_s": float("nan") if failure is None else float(failure),
        },
        borg_time_s=np.asarray(truth.borg.t_s, dtype=float),
        borg_rating=np.asarray(truth.borg.rating, dtype=float),
    )
    return BodySession(track, flexion, fatigue, clean)


def body_track(truth: SessionTruth, *, seed: int, camera: str = "854x480") -> PoseTrack:
    """The pose track of :func:`simulate_body` (the main job's call; see there)."""
    return simulate_body(truth, seed=seed, camera=camera).track
