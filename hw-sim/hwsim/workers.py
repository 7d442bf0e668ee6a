"""Simulated workers for seed 000: people assembling at a bench, seen by a camera, tiring.

Seed 000 §IV recorded three participants assembling a medicine bottle and an air pump,
their upper bodies on video, with Borg CR10 ratings; a rating of 7 split each video into
fatigued and non-fatigued parts. No such video can be downloaded here, so this module makes
its keypoints: :func:`simulate_worker` gives the :class:`host.video.track.PoseTrack` a pose
estimator would give for one person doing one task for ``minutes``, with
provenance ``"simulated"``.

The person (:func:`draw_worker`): stature, then segment lengths as proportions of stature
(:data:`SEGMENT_FRACTIONS`), each proportion varied per person. The movement: repeated task
cycles (:mod:`hwsim.worker_tasks`: minimum-jerk joint-angle movements, forward kinematics).
The camera: a pinhole (:data:`CAMERAS`, :data:`HFOV_DEG`) facing the worker across the bench
at :data:`CAMERA_DISTANCE_M`, so the pixels are what an 854 × 480 (the seed's grid) or
1280 × 720 video would show; z is MediaPipe's (depth from the hips' midpoint on the scale of
x, times ``depth_px`` = width).

Fatigue: a latent value 0..1 per frame, ``(t / endurance)^γ`` (hwsim.borg's model of a hold
to task failure); the Borg ratings are reported from it by :func:`hwsim.borg.simulate_borg`
(integers 0–10 every :data:`REPORT_INTERVAL_S`, never decreasing within the work). Each
effect of fatigue on the movement is one named constant below, driven by the latent fatigue
and scaled per person by a factor in :data:`EFFECT_SPREAD`.

The pose estimator's view (:mod:`hwsim.pose_estimator_view`): MediaPipe's own jitter,
measured on a still photograph, visibility lower where a hand is hidden, and short runs of
frames without a pose.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from host.video.keypoints import REFERENCE_FPS
from host.video.track import PoseTrack
from hwsim.borg import BorgProfile, Segment, latent_borg, simulate_borg
from hwsim.pose_estimator_view import estimator_view, simulated_track
from hwsim.worker_tasks import (
    TASKS,
    Arm,
    Body,
    CycleMods,
    body_points,
    project,
    session_angles,
)

__all__ = ["TASKS", "Worker", "WorkerSession", "draw_worker", "simulate_session", "simulate_worker"]

# ---- Anthropometry ------------------------------------------------------------------------
#: Stature, m: mean and SD of a mixed adult workforce (assumption, between the 50th
#: percentiles 1.759 m of men and 1.618 m of women in R. L. Huston, Principles of
#: Biomechanics, CRC 2009, as tabulated by URI BME 207), clipped to ±2.5 SD.
STATURE_M = (1.69, 0.09)
#: Segment lengths / stature (Drillis & Contini 1966 as given in D. A. Winter, Biomechanics
#: and Motor Control of Human Movement; figures as in the brief, the book not read here).
#: Cross-check read: upper arm (acromion–olecranon) / height = 0.19 ± 0.01 in adults 21–60
#: (Han et al. 2004, J. Korean Acad. Rehabil. Med. 28:458). Nose above / in front of the
#: acromia, hand breadth: assumptions.
SEGMENT_FRACTIONS = {
    "upper_arm": 0.186,
    "forearm": 0.146,
    "hand": 0.108,
    "biacromial": 0.259,
    "trunk": 0.288,  # greater trochanter 0.530 H to acromion 0.818 H (same figure)
    "nose_up": 0.088,  # eye height 0.936 H less ~0.03 H to the nose tip: assumption
    "nose_forward": 0.06,
    "hand_breadth": 0.050,
}
#: Per-person coefficient of variation of each fraction (Han et al. 2004: 0.19 ± 0.01 → ~5 %).
FRACTION_CV = 0.04

# ---- Camera and bench (assumptions of this simulator unless stated) -----------------------
#: Frame sizes offered, px: the seed's 854 × 480 grid (§III-B) and 720p.
CAMERAS = {"854x480": (854, 480), "1280x720": (1280, 720)}
#: Horizontal field of view of the pinhole, degrees (a typical webcam: assumption).
HFOV_DEG = 65.0
#: Camera to the shoulders' midpoint, m, and how far the shoulders sit above the optical axis.
CAMERA_DISTANCE_M = 1.5
SHOULDER_ABOVE_AXIS_M = 0.15
#: Bench lower relative to the shoulders when standing, units of reach (assumption).
BENCH_DROP = {"seated": 0.0, "standing": 0.10}

# ---- Fatigue and the Borg ratings ----------------------------------------------------------
#: Time to exhaustion of the task, min, per person (assumption, chosen so that most workers
#: report ≥ 7 within a 30-minute session and both of the seed's classes exist).
ENDURANCE_MIN = (18.0, 45.0)
#: Borg rating at the start of light assembly work (assumption) and at exhaustion
#: (9–10 as in hwsim.borg.draw_borg_profile).
ONSET_BORG = (1.0, 2.5)
AT_EXHAUSTION_BORG = (9.0, 10.0)
#: Seconds between Borg reports (hwsim.borg's default).
REPORT_INTERVAL_S = 5.0
#: Default session length, min.
DEFAULT_MINUTES = 30.0

# ---- Fatigue's effects on the movement, each at latent fatigue 1 ----------------------------
#: Movement durations longer by this fraction: slower cycles and (minimum-jerk: peak speed ∝
#: amplitude / duration) lower peak speeds. Direction: movement speed fell after a
#: repetitive-reaching fatigue protocol (Dupuis et al. 2021, PLoS ONE 16:e0249403); elbow peak
#: velocity fell in fatigued hammering (Côté et al. 2005, Clin. Biomech. 20:581). Magnitude:
#: assumption.
CYCLE_SLOWING = 0.20
#: Cycle-to-cycle variability (timing CV, target scatter) grows by this factor. Direction:
#: kinematic variability increased with repetitive-sawing fatigue (Gates & Dingwell 2011,
#: Exp. Brain Res.) and repetitive pointing to exhaustion (Savin et al. 2021); review:
#: Srinivasan & Mathiassen 2012, Clin. Biomech. Magnitude: assumption.
VARIABILITY_INCREASE = 1.0
#: Rested variability: movement-duration CV and wrist-target SD, units of reach (assumption).
BASE_TIMING_CV = 0.05
BASE_TARGET_SD = 0.012
#: Shoulder girdle elevation (shrug), degrees of sternoclavicular elevation; the acromion
#: rises by half the biacromial breadth × sin(angle). Direction: more sternoclavicular
#: elevation after fatigue (Dupuis et al. 2021); elbow held ~1.3 cm higher after repetitive
#: pointing fatigue (Emery & Côté 2012, Exp. Brain Res. 216:553). Magnitude: assumption.
SHOULDER_ELEVATION_DEG = 6.0
#: Forward head posture: head-neck flexion, degrees, and protraction, m. Direction: the
#: craniovertebral angle fell over 30 min of desk work (Healthcare 2024, 12:2436); scale:
#: 43.9° with neck pain vs 50.6° without (Lau et al. 2009, Man. Ther. 14:363). Magnitude:
#: assumption.
HEAD_FLEXION_DEG = 8.0
HEAD_PROTRACTION_M = 0.02
#: Trunk flexion towards the bench, degrees. Direction: increased trunk flexion after fatigue
#: (Dupuis et al. 2021). Magnitude: assumption.
TRUNK_FLEXION_DEG = 4.0
#: Elbow excursion about its cycle mean smaller by this fraction. Direction: decreased elbow
#: range of motion in fatigued hammering (Côté et al. 2005). Magnitude: assumption.
ELBOW_ROM_REDUCTION = 0.15
#: Each person's factor on every effect above, uniform in this range (assumption).
EFFECT_SPREAD = (0.7, 1.3)


@dataclass(frozen=True)
class Worker:
    """One simulated person.

    Attributes
    ----------
    worker_id : int
    stature_m : float
    body : hwsim.worker_tasks.Body
        Segment lengths, m.
    swivel_rad : float
        How far out the person carries the elbows (see :func:`hwsim.worker_tasks.arm_ik`).
    borg : hwsim.borg.BorgProfile
        How the person rates exertion.
    endurance_s : float
        Time to exhaustion at the task, s.
    effect_scale : dict of str to float
        Per-person factor on each fatigue effect.
    """

    worker_id: int
    stature_m: float
    body: Body
    swivel_rad: float
    borg: BorgProfile
    endurance_s: float
    effect_scale: dict[str, float]


_EFFECTS = ("slowing", "variability", "shoulder", "head", "trunk", "elbow")


def session_rng(seed: int, worker_id: int, task: str | None = None) -> np.random.Generator:
    """The one place random streams come from: per (seed, worker) for the person, per
    (seed, worker, task) for a session."""
    key = [seed, worker_id] if task is None else [seed, worker_id, 1 + TASKS.index(task)]
    return np.random.default_rng(key)


def draw_worker(worker_id: int, *, seed: int) -> Worker:
    """Draw person ``worker_id`` of seed ``seed`` (the same person in every task)."""
    rng = session_rng(seed, worker_id)
    mean, sd = STATURE_M
    stature = float(np.clip(rng.normal(mean, sd), mean - 2.5 * sd, mean + 2.5 * sd))
    length = {
        k: stature * f * float(rng.normal(1.0, FRACTION_CV)) for k, f in SEGMENT_FRACTIONS.items()
    }
    borg = BorgProfile(
        onset=float(rng.uniform(*ONSET_BORG)),
        at_failure=float(rng.uniform(*AT_EXHAUSTION_BORG)),
        curvature=float(rng.uniform(0.8, 1.3)),
        noise_sd=float(rng.uniform(0.25, 0.6)),
        rest_level=float(rng.uniform(0.0, 0.7)),
        recovery_tau_s=10.0,
    )
    return Worker(
        worker_id=worker_id,
        stature_m=stature,
        body=Body(
            arm=Arm(length["upper_arm"], length["forearm"], length["hand"], length["hand_breadth"]),
            biacromial_m=length["biacromial"],
            trunk_m=length["trunk"],
            nose_up_m=length["nose_up"],
            nose_forward_m=length["nose_forward"],
        ),
        swivel_rad=float(np.deg2rad(rng.uniform(15.0, 35.0))),
        borg=borg,
        endurance_s=60.0 * float(rng.uniform(*ENDURANCE_MIN)),
        effect_scale={k: float(rng.uniform(*EFFECT_SPREAD)) for k in _EFFECTS},
    )


@dataclass
class WorkerSession:
    """A simulated session with its ground truth.

    Attributes
    ----------
    track : PoseTrack
        What the pose estimator would give (noise, visibility, missing frames).
    worker : Worker
    fatigue : ndarray, shape (n_frames,)
        Latent fatigue 0..1 per frame (ground truth).
    clean_px : ndarray, shape (n_frames, 11, 3)
        The keypoints before the estimator's noise and dropped frames, px.
    points_m : ndarray, shape (n_frames, 11, 3)
        The keypoints in the camera's frame, m (x right, y down, z away from the camera).
    cycle_start_s : ndarray, shape (n_cycles,)
        When each task cycle began, s.
    """

    track: PoseTrack
    worker: Worker
    fatigue: np.ndarray
    clean_px: np.ndarray
    points_m: np.ndarray
    cycle_start_s: np.ndarray


def _fatigue_and_borg(
    worker: Worker, t_s: np.ndarray, duration_s: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Latent fatigue per frame and the Borg reports (hwsim.borg's hold-to-failure model)."""
    seg = [Segment("hold", 0.0, duration_s, mvc_fraction=0.5, endurance_s=worker.endurance_s)]
    p = worker.borg
    fatigue = (latent_borg(t_s, seg, p) - p.onset) / (p.at_failure - p.onset)
    trace = simulate_borg(seg, p, rng, report_interval_s=REPORT_INTERVAL_S)
    return np.clip(fatigue, 0.0, 1.0), trace.t_s.astype(float), trace.rating.astype(float)


def _cycle_mods(worker: Worker, fatigue: float) -> CycleMods:
    """Fatigue's changes to one cycle (the effect constants × the person's factors)."""
    s = worker.effect_scale
    vary = 1.0 + VARIABILITY_INCREASE * s["variability"] * fatigue
    return CycleMods(
        slow=1.0 + CYCLE_SLOWING * s["slowing"] * fatigue,
        timing_cv=BASE_TIMING_CV * vary,
        target_sd=BASE_TARGET_SD * vary,
        elbow_scale=1.0 - ELBOW_ROM_REDUCTION * s["elbow"] * fatigue,
    )


def _body_points(worker: Worker, angles: np.ndarray, fatigue: np.ndarray) -> np.ndarray:
    """The 11 keypoints in the camera's frame, m, shape (n, 11, 3): the posture effects
    (shoulder elevation, forward head, trunk flexion) at each frame's fatigue, the
    shoulders' midpoint :data:`CAMERA_DISTANCE_M` in front of the camera and
    :data:`SHOULDER_ABOVE_AXIS_M` above its axis."""
    s = worker.effect_scale
    points = body_points(
        worker.body,
        angles,
        shoulder_lift_m=0.5
        * worker.body.biacromial_m
        * np.sin(np.deg2rad(SHOULDER_ELEVATION_DEG * s["shoulder"] * fatigue)),
        head_flex_rad=np.deg2rad(HEAD_FLEXION_DEG * s["head"] * fatigue),
        head_protraction_m=HEAD_PROTRACTION_M * s["head"] * fatigue,
        trunk_flex_rad=np.deg2rad(TRUNK_FLEXION_DEG * s["trunk"] * fatigue),
    )
    return points + np.array([0.0, -SHOULDER_ABOVE_AXIS_M, CAMERA_DISTANCE_M])


def simulate_session(
    worker_id: int,
    task: str,
    *,
    seed: int,
    minutes: float = DEFAULT_MINUTES,
    camera: str = "854x480",
    posture: str = "seated",
    endurance_min: float | None = None,
) -> WorkerSession:
    """One simulated session with its ground truth (see :func:`simulate_worker`)."""
    if task not in TASKS:
        raise ValueError(f"task {task!r} is not one of {', '.join(TASKS)}")
    if camera not in CAMERAS:
        raise ValueError(f"camera {camera!r} is not one of {', '.join(CAMERAS)}")
    if posture not in BENCH_DROP:
        raise ValueError(f"posture {posture!r} is not one of {', '.join(BENCH_DROP)}")
    if not minutes > 0:
        raise ValueError(f"minutes must be > 0, got {minutes!r}")
    worker = draw_worker(worker_id, seed=seed)
    if endurance_min is not None:
        if not endurance_min > 0:
            raise ValueError(f"endurance_min must be > 0, got {endurance_min!r}")
        worker = replace(worker, endurance_s=60.0 * endurance_min)
    rng = session_rng(seed, worker_id, task)
    fps = REFERENCE_FPS
    n = int(round(minutes * 60.0 * fps))
    t_s = np.arange(n) / fps
    duration_s = n / fps
    fatigue, borg_t, borg_r = _fatigue_and_borg(worker, t_s, duration_s, rng)

    def fatigue_at(t: float) -> float:
        return float(np.interp(t, t_s, fatigue))

    angles, starts = session_angles(
        task,
        worker.body,
        worker.swivel_rad,
        t_s,
        lambda t: _cycle_mods(worker, fatigue_at(t)),
        rng,
        bench_drop=BENCH_DROP[posture],
    )
    points = _body_points(worker, angles, fatigue)
    width, height = CAMERAS[camera]
    clean = project(points, width, height, CAMERA_DISTANCE_M, HFOV_DEG)
    xyz, vis, no_pose = estimator_view(clean, points[..., 2], rng)
    metadata: dict[str, str | int | float] = {
        "worker_id": worker_id,
        "task": task,
        "seed": seed,
        "camera": camera,
        "posture": posture,
        "hfov_deg": HFOV_DEG,
        "camera_distance_m": CAMERA_DISTANCE_M,
        "stature_m": worker.stature_m,
        "upper_arm_m": worker.body.arm.upper_m,
        "forearm_m": worker.body.arm.forearm_m,
        "hand_m": worker.body.arm.hand_m,
        "biacromial_m": worker.body.biacromial_m,
        "trunk_m": worker.body.trunk_m,
        "endurance_s": worker.endurance_s,
        "borg_onset": worker.borg.onset,
        "borg_at_exhaustion": worker.borg.at_failure,
        "fatigue_at_end": float(fatigue[-1]),
        "cycle_slowing": CYCLE_SLOWING * worker.effect_scale["slowing"],
        "variability_increase": VARIABILITY_INCREASE * worker.effect_scale["variability"],
        "shoulder_elevation_deg": SHOULDER_ELEVATION_DEG * worker.effect_scale["shoulder"],
        "head_flexion_deg": HEAD_FLEXION_DEG * worker.effect_scale["head"],
        "trunk_flexion_deg": TRUNK_FLEXION_DEG * worker.effect_scale["trunk"],
        "elbow_rom_reduction": ELBOW_ROM_REDUCTION * worker.effect_scale["elbow"],
    }
    track = simulated_track(
        t_s,
        xyz,
        vis,
        no_pose,
        fps=fps,
        width=width,
        height=height,
        source=f"worker {worker_id}, {task}, seed {seed}",
        notes=[
            f"simulated worker: {len(starts)} cycles, {int(no_pose.sum())} frames " "without a pose"
        ],
        metadata=metadata,
        borg_time_s=borg_t,
        borg_rating=borg_r,
    )
    return WorkerSession(track, worker, fatigue, clean, points, starts)


def simulate_worker(
    worker_id: int,
    task: str,
    *,
    seed: int,
    minutes: float = DEFAULT_MINUTES,
    camera: str = "854x480",
    posture: str = "seated",
    endurance_min: float | None = None,
) -> PoseTrack:
    """The keypoints a pose estimator would give of simulated worker ``worker_id``.

    Parameters
    ----------
    worker_id : int
        Which person of ``seed`` (the same person in both tasks).
    task : str
        One of :data:`TASKS` (seed 000 §IV).
    seed : int
        Seed of the people and their sessions; same arguments, same track.
    minutes : float
        Session length, min (> 0).
    camera : str
        A key of :data:`CAMERAS`.
    posture : str
        ``"seated"`` or ``"standing"`` at the bench.
    endurance_min : float, optional
        Override the person's time to exhaustion, min (tests: fatigue within a short run).

    Returns
    -------
    PoseTrack
        30 fps, provenance ``"simulated"``, ``depth_px`` = width, Borg ratings filled,
        the person's anthropometry and effect sizes in ``metadata``. For the latent
        fatigue (ground truth) use :func:`simulate_session`.

    Raises
    ------
    ValueError
        An unknown task, camera or posture, or a non-positive length.
    """
    return simulate_session(
        worker_id,
        task,
        seed=seed,
        minutes=minutes,
        camera=camera,
        posture=posture,
        endurance_min=endurance_min,
    ).track
