"""The simulated workers' arms: joint angles, forward kinematics, and the seed's two tasks.

Seed 000 §IV: participants assemble a medicine bottle and an air pump. Each task here is a
cycle of postures of both arms (where each wrist goes, how the forearm is turned, how the
wrist is bent), solved to joint angles for the person's arm lengths, joined by minimum-jerk
movements in joint space (Flash & Hogan 1985, J. Neurosci. 5:1688–1703: the minimum-jerk
profile ``s(τ) = 10τ³ − 15τ⁴ + 6τ⁵`` between rest postures), and turned back into 3D
positions by forward kinematics. Fatigue enters through :class:`CycleMods` (how much slower,
how variable, how much smaller the elbow's excursion), decided per cycle by
:mod:`hwsim.workers`.

Coordinates: metres, the camera's frame (x to the image's right, y down, z away from the
camera); the worker faces the camera, so the person's left is +x. Arm joint angles, in the
person's "left-arm" frame (the right arm is the same with x mirrored):

- ``elev``: elevation of the upper arm from hanging (0) towards horizontal (π/2), rad;
- ``plane``: plane of elevation, 0 = straight forward, π/2 = out to the side, rad;
- ``rot``: humeral internal rotation (forearm swings towards the midline), rad;
- ``elbow``: elbow flexion, 0 = straight, rad;
- ``pron``: forearm pronation from thumb-up (palm down at π/2), rad;
- ``wflex``: wrist flexion towards the palm, rad.

(The elevation / plane-of-elevation / rotation order is the ISB's recommendation for the
humerus, Wu et al. 2005, J. Biomech. 38:981–992.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from host.video.keypoints import INDEX, NAMES

#: Joint-angle names of one arm, in the order of every arm angle axis here.
ARM_DOFS = ("elev", "plane", "rot", "elbow", "pron", "wflex")
#: The seed's two tasks (§IV).
TASKS = ("medicine_bottle", "air_pump")

#: Wrist positions of the task postures, relative to the shoulders' midpoint, in units of
#: the person's reach (upper arm + forearm); x towards the arm's own side for "own", the
#: other arm's side being negative. Bench at about elbow height, parts trays to each side,
#: assembly at the midline: the layout is an assumption of this simulator.
_REST = (0.30, 0.62, -0.55)  # hand resting on the bench in front of its shoulder
_TRAY = (0.75, 0.55, -0.60)  # parts tray on the arm's own side
_MID = (-0.32, 0.50, -0.70)  # the midline, where parts are joined
_MID_HIGH = (-0.30, 0.38, -0.70)  # above the midline (cap on the bottle, pump handle up)
_OUT = (0.55, 0.60, -0.80)  # finished part placed forward on the own side

#: Forearm pronation of a grasp from above (palm down), rad: assumption.
PRON_GRASP = np.deg2rad(70.0)
#: Half-amplitude of the screwing pronation/supination about the grasp, rad (assumption;
#: the forearm's range is about ±80° from neutral, so ±45° leaves room).
SCREW_HALF_RAD = np.deg2rad(45.0)
#: Half turns per cap, and their duration, s (assumption).
SCREW_HALF_TURNS = 6
SCREW_HALF_S = 0.45
#: Push strokes per pump, their vertical travel (units of reach) and duration, s (assumption).
PUMP_STROKES = 5
PUMP_STROKE_REACH = 0.16
PUMP_STROKE_S = 0.55


@dataclass(frozen=True)
class Arm:
    """One person's arm (metres): upper arm, forearm, hand length, hand breadth."""

    upper_m: float
    forearm_m: float
    hand_m: float
    hand_breadth_m: float

    @property
    def reach_m(self) -> float:
        """Shoulder to wrist with the elbow straight, m."""
        return self.upper_m + self.forearm_m


@dataclass(frozen=True)
class Body:
    """One person's upper body (metres): both arms alike, the shoulders' breadth, the trunk
    (hips to shoulders), and the nose above and in front of the shoulders' midpoint."""

    arm: Arm
    biacromial_m: float
    trunk_m: float
    nose_up_m: float
    nose_forward_m: float


@dataclass(frozen=True)
class CycleMods:
    """How one cycle differs from the rested ideal (decided by :mod:`hwsim.workers`).

    Attributes
    ----------
    slow : float
        Factor on every movement's duration (1 = rested).
    timing_cv : float
        Coefficient of variation of each movement's duration.
    target_sd : float
        Standard deviation of each wrist target, units of reach.
    elbow_scale : float
        Factor on the elbow's excursion about its mean over the cycle (1 = rested).
    """

    slow: float = 1.0
    timing_cv: float = 0.0
    target_sd: float = 0.0
    elbow_scale: float = 1.0


def rx(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack(
        [np.stack([o, z, z], -1), np.stack([z, c, -s], -1), np.stack([z, s, c], -1)], -2
    )


def _ry(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack(
        [np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2
    )


def _rotate(v: np.ndarray, axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rodrigues: vectors ``v`` (..., 3) about unit ``axis`` (..., 3) by ``angle`` (...)."""
    c, s = np.cos(angle)[..., None], np.sin(angle)[..., None]
    dot = np.sum(axis * v, -1, keepdims=True)
    return v * c + np.cross(axis, v) * s + axis * dot * (1.0 - c)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def arm_points(angles: np.ndarray, arm: Arm) -> dict[str, np.ndarray]:
    """Forward kinematics of a left arm from its shoulder (mirror x for a right arm).

    Parameters
    ----------
    angles : ndarray, shape (n, 6)
        :data:`ARM_DOFS`, rad.
    arm : Arm

    Returns
    -------
    dict of ndarray, shape (n, 3)
        ``elbow``, ``wrist``, ``index``, ``pinky`` relative to the shoulder, m. Index and
        pinky are placed 0.55 hand lengths along the hand from the wrist (the knuckles,
        MediaPipe's landmarks 19/17 sit near them: assumption), half a hand breadth to
        either side.
    """
    elev, plane, rot, elbow, pron, wflex = angles.T
    r = _ry(-plane) @ rx(-elev) @ _ry(rot)
    down = np.array([0.0, 1.0, 0.0])
    upper = r @ down
    fore = np.einsum("nij,nj->ni", r, np.stack([0 * elbow, np.cos(elbow), -np.sin(elbow)], -1))
    e = upper * arm.upper_m
    w = e + fore * arm.forearm_m
    # Thumb-up direction: in the arm's plane, across the forearm, away from the upper arm
    # (straight arm: the forward direction rotated by the humerus).
    across = -upper + np.sum(upper * fore, -1, keepdims=True) * fore
    straight = np.linalg.norm(across, axis=-1) < 1e-6
    if straight.any():
        across[straight] = r[straight] @ np.array([0.0, 0.0, -1.0])
    across = _unit(across)
    radial = _rotate(across, fore, pron)
    palm = np.cross(fore, radial)
    hand = np.cos(wflex)[:, None] * fore + np.sin(wflex)[:, None] * palm
    knuckles = w + 0.55 * arm.hand_m * hand
    half = 0.5 * arm.hand_breadth_m * radial
    return {"elbow": e, "wrist": w, "index": knuckles + half, "pinky": knuckles - half}


def arm_ik(wrist: np.ndarray, arm: Arm, swivel: float) -> tuple[float, float, float, float]:
    """Shoulder and elbow angles that put a left arm's wrist at ``wrist`` (m, from shoulder).

    The elbow lies on the circle of positions the two segments allow; ``swivel`` (rad)
    turns it from the lowest point of that circle outwards (assumption: people keep the
    elbow low and a little out). Targets beyond 97 % of the reach are pulled in to it.

    Returns
    -------
    elev, plane, rot, elbow : float, rad
    """
    l1, l2 = arm.upper_m, arm.forearm_m
    d = float(np.linalg.norm(wrist))
    d = min(max(d, abs(l1 - l2) + 1e-3), 0.97 * (l1 + l2))
    axis = wrist / np.linalg.norm(wrist)
    cos_a = (l1 * l1 + d * d - l2 * l2) / (2 * l1 * d)
    sin_a = np.sqrt(max(0.0, 1.0 - cos_a * cos_a))
    low = np.array([0.0, 1.0, 0.0]) - axis[1] * axis
    low = low / np.linalg.norm(low)
    out = np.cross(axis, low)
    out = out if out[0] > 0 else -out
    radial = np.cos(swivel) * low + np.sin(swivel) * out
    elbow_pos = axis * l1 * cos_a + radial * l1 * sin_a
    wrist_pos = axis * d
    u = elbow_pos / l1
    f = (wrist_pos - elbow_pos) / np.linalg.norm(wrist_pos - elbow_pos)
    elev = float(np.arccos(np.clip(u[1], -1.0, 1.0)))
    plane = float(np.arctan2(u[0], -u[2]))
    g = (rx(np.array(elev)) @ _ry(np.array(plane))) @ f
    flex = float(np.arccos(np.clip(g[1], -1.0, 1.0)))
    rot = float(np.arctan2(-g[0], -g[2])) if flex > 1e-6 else 0.0
    return elev, plane, rot, flex


@dataclass(frozen=True)
class _Phase:
    """One movement of both arms: its nominal duration, s, and each arm's goal posture."""

    duration_s: float
    left: tuple[tuple[float, float, float], float, float]  # (wrist target, pron, wflex)
    right: tuple[tuple[float, float, float], float, float]


def _phases(task: str) -> list[_Phase]:
    """The nominal postures of one cycle of ``task`` (durations are assumptions chosen so a
    cycle lasts 8–10 s, a short-cycle assembly task)."""
    g, n = PRON_GRASP, 0.0
    flat = np.deg2rad(-10.0)  # wrist a little extended when resting: assumption
    rest = (_REST, g, flat)
    if task == "medicine_bottle":
        # Right hand: bottle from its tray to the midline, holds it, places it out.
        # Left hand: cap from its tray, screws it on with pronation/supination.
        phases = [
            _Phase(0.9, rest, (_TRAY, g, n)),  # right reaches for a bottle
            _Phase(0.3, rest, (_TRAY, g, n)),  # grasp
            _Phase(0.8, (_TRAY, g, n), (_MID, n, n)),  # bottle to the midline, left reaches
            _Phase(0.3, (_TRAY, g, n), (_MID, n, n)),  # left grasps a cap
            _Phase(0.8, (_MID_HIGH, g, n), (_MID, n, n)),  # cap onto the bottle
        ]
        for k in range(SCREW_HALF_TURNS):
            sign = 1.0 if k % 2 == 0 else -1.0
            phases.append(
                _Phase(SCREW_HALF_S, (_MID_HIGH, g + sign * SCREW_HALF_RAD, n), (_MID, n, n))
            )
        phases += [
            _Phase(0.6, rest, (_MID, n, n)),  # left lets go and rests
            _Phase(0.8, rest, (_OUT, g, n)),  # right places the bottle
            _Phase(0.7, rest, rest),  # right back to rest
        ]
        return phases
    if task == "air_pump":
        # Left hand: pump body from its tray to the midline, holds it, sets it aside.
        # Right hand: a part from its tray, inserted with a press, then push strokes.
        phases = [
            _Phase(0.9, (_TRAY, g, n), rest),  # left reaches for a pump body
            _Phase(0.3, (_TRAY, g, n), (_TRAY, g, n)),  # grasp; right reaches for a part
            _Phase(0.8, (_MID, n, n), (_TRAY, g, n)),  # body to the midline
            _Phase(0.8, (_MID, n, n), (_MID_HIGH, g, np.deg2rad(20.0))),  # part over it
            _Phase(0.5, (_MID, n, n), (_MID, g, np.deg2rad(20.0))),  # press it in
        ]
        down = (_MID_HIGH[0], _MID_HIGH[1] + PUMP_STROKE_REACH, _MID_HIGH[2])
        for k in range(2 * PUMP_STROKES):
            target = _MID_HIGH if k % 2 == 0 else down
            phases.append(_Phase(PUMP_STROKE_S, (_MID, n, n), (target, g, flat)))
        phases += [
            _Phase(0.6, (_MID, n, n), rest),  # right back
            _Phase(0.8, (_OUT, g, n), rest),  # left sets the pump aside
            _Phase(0.7, rest, rest),  # left back
        ]
        return phases
    raise ValueError(f"task {task!r} is not one of {', '.join(TASKS)}")


def nominal_cycle_s(task: str) -> float:
    """Duration of one rested cycle of ``task``, s."""
    return float(sum(p.duration_s for p in _phases(task)))


def cycle_keyframes(
    task: str,
    arms: tuple[Arm, Arm],
    shoulder_offset_m: float,
    mods: CycleMods,
    swivel: float,
    rng: np.random.Generator,
    *,
    bench_drop: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Durations and goal joint angles of one cycle, both arms.

    Parameters
    ----------
    task : str
        One of :data:`TASKS`.
    arms : (Arm, Arm)
        Left and right arm.
    shoulder_offset_m : float
        Half the distance between the shoulders, m (targets are given from their midpoint).
    mods : CycleMods
        Fatigue's changes to this cycle.
    swivel : float
        The person's elbow swivel, rad (see :func:`arm_ik`).
    rng : numpy.random.Generator
    bench_drop : float
        How much lower the bench is than the seated layout, units of reach.

    Returns
    -------
    durations_s : ndarray, shape (n_phases,)
    angles : ndarray, shape (n_phases, 2, 6)
        Goal angles (:data:`ARM_DOFS`) of the left and right arm at the end of each phase.
    """
    phases = _phases(task)
    sigma = np.sqrt(np.log1p(mods.timing_cv**2))
    durations = np.array([p.duration_s for p in phases]) * mods.slow
    durations *= rng.lognormal(-0.5 * sigma**2, sigma, len(phases))
    angles = np.empty((len(phases), 2, len(ARM_DOFS)))
    noise = rng.normal(0.0, mods.target_sd, (len(phases), 2, 3))
    for i, phase in enumerate(phases):
        for side, (goal, arm) in enumerate(zip((phase.left, phase.right), arms, strict=True)):
            (tx, ty, tz), pron, wflex = goal
            reach = arm.reach_m
            target = np.array([tx, ty, tz]) + noise[i, side]
            # From the shoulders' midpoint (x towards this arm's side) to this shoulder.
            wrist = np.array(
                [
                    target[0] * reach - shoulder_offset_m,
                    (target[1] + bench_drop) * reach,
                    target[2] * reach,
                ]
            )
            angles[i, side, :4] = arm_ik(wrist, arm, swivel)
            angles[i, side, 4:] = (pron, wflex)
    mean = angles[:, :, 3].mean(axis=0)
    angles[:, :, 3] = mean + mods.elbow_scale * (angles[:, :, 3] - mean)
    return durations, angles


def minimum_jerk(t_s: np.ndarray, knot_s: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Minimum-jerk movements between postures (Flash & Hogan 1985).

    Parameters
    ----------
    t_s : ndarray, shape (n,)
        Times to evaluate, s, within ``[knot_s[0], knot_s[-1]]`` (clipped to it).
    knot_s : ndarray, shape (m,)
        Times the postures are reached, s, increasing.
    values : ndarray, shape (m, ...)
        The postures.

    Returns
    -------
    ndarray, shape (n, ...)
        Each value moves from one posture to the next along ``10τ³ − 15τ⁴ + 6τ⁵``, at rest
        (zero velocity and acceleration) at every knot.
    """
    t = np.clip(t_s, knot_s[0], knot_s[-1])
    i = np.clip(np.searchsorted(knot_s, t, side="right") - 1, 0, len(knot_s) - 2)
    tau = (t - knot_s[i]) / (knot_s[i + 1] - knot_s[i])
    s = tau**3 * (10.0 - 15.0 * tau + 6.0 * tau**2)
    s = s.reshape(s.shape + (1,) * (values.ndim - 1))
    return values[i] + s * (values[i + 1] - values[i])


def session_angles(
    task: str,
    body: Body,
    swivel: float,
    t_s: np.ndarray,
    mods_at: Callable[[float], CycleMods],
    rng: np.random.Generator,
    *,
    bench_drop: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Both arms' joint angles at ``t_s`` (s), cycle after cycle from rest at t = 0.

    ``mods_at(t)`` gives the changes of the cycle starting at ``t`` s (fatigue's).

    Returns
    -------
    angles : ndarray, shape (n, 2, 6)
        Left and right arm, :data:`ARM_DOFS`, rad.
    cycle_start_s : ndarray, shape (n_cycles,)
    """
    end = t_s[-1] + 1.0
    knots, values, starts = [0.0], [], []
    t = 0.0
    while t < end:
        durations, angles = cycle_keyframes(
            task,
            (body.arm, body.arm),
            0.5 * body.biacromial_m,
            mods_at(t),
            swivel,
            rng,
            bench_drop=bench_drop,
        )
        if not values:
            values.append(angles[-1])  # start at rest
        starts.append(t)
        knots.extend(t + np.cumsum(durations))
        values.extend(angles)
        t = knots[-1]
    return minimum_jerk(t_s, np.array(knots), np.array(values)), np.array(starts)


def body_points(
    body: Body,
    angles: np.ndarray,
    *,
    shoulder_lift_m: np.ndarray,
    head_flex_rad: np.ndarray,
    head_protraction_m: np.ndarray,
    trunk_flex_rad: np.ndarray,
) -> np.ndarray:
    """The 11 keypoints (:data:`host.video.keypoints.NAMES`) from the shoulders' midpoint, m.

    Parameters
    ----------
    body : Body
    angles : ndarray, shape (n, 2, 6)
        Left and right arm angles (:func:`session_angles`).
    shoulder_lift_m, head_flex_rad, head_protraction_m, trunk_flex_rad : ndarray, shape (n,)
        Both acromia raised (m); the nose turned forward-down about the shoulders' midpoint
        (rad) and moved forward (m); everything turned forward about the hips, which lie
        ``body.trunk_m`` below the shoulders (rad).

    Returns
    -------
    ndarray, shape (n, 11, 3)
    """
    n = len(angles)
    out = np.zeros((n, len(NAMES), 3))
    half = 0.5 * body.biacromial_m
    for side, sign in ((0, 1.0), (1, -1.0)):  # person's left is +x
        name = ("left_", "right_")[side]
        shoulder = np.stack([np.full(n, sign * half), -shoulder_lift_m, np.zeros(n)], -1)
        out[:, INDEX[name + "shoulder"]] = shoulder
        pts = arm_points(angles[:, side], body.arm)
        for part in ("elbow", "wrist", "index", "pinky"):
            p = pts[part].copy()
            p[:, 0] *= sign
            out[:, INDEX[name + part]] = shoulder + p
    nose0 = np.array([0.0, -body.nose_up_m, -body.nose_forward_m])
    nose = np.einsum("nij,j->ni", rx(head_flex_rad), nose0)
    nose[:, 2] -= head_protraction_m
    out[:, INDEX["nose"]] = nose
    hip = np.array([0.0, body.trunk_m, 0.0])
    return hip + np.einsum("nij,nkj->nki", rx(trunk_flex_rad), out - hip)


def project(
    points_m: np.ndarray, width: int, height: int, hip_z_m: float, hfov_deg: float
) -> np.ndarray:
    """Pinhole projection to px (seed 000 eqs. 1–3 with D = width), shape (..., 3).

    Focal length ``(width / 2) / tan(hfov / 2)``, principal point at the frame's centre.
    z: MediaPipe's normalised depth (from the hips' midpoint, "roughly the same scale as x",
    MediaPipe Pose docs) times the width, i.e. ``(Z − Z_hips) · f / Z_hips`` px.
    """
    f = 0.5 * width / np.tan(np.deg2rad(hfov_deg) / 2.0)
    x, y, z = points_m[..., 0], points_m[..., 1], points_m[..., 2]
    return np.stack(
        [0.5 * width + f * x / z, 0.5 * height + f * y / z, (z - hip_z_m) * f / hip_z_m], -1
    )


def shoulder_width_px(xyz_px: np.ndarray) -> np.ndarray:
    """Image distance between the shoulders, px, shape (n,)."""
    d = xyz_px[:, INDEX["left_shoulder"], :2] - xyz_px[:, INDEX["right_shoulder"], :2]
    return np.linalg.norm(d, axis=-1)
