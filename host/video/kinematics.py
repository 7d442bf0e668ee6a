"""Kinematic features of a pose track (seed 000 §III-A): velocities, angles, head tilts.

Every feature has its unit in its name (:data:`FEATURE_NAMES`). Coordinates are the
track's pixels (seed eqs. 1–3): x right, y down, z MediaPipe's depth scaled by
``PoseTrack.depth_px`` (smaller is nearer the camera), so z velocities are in those depth
pixels. Time derivatives are central differences at ``track.fps`` (``numpy.gradient``:
second-order central differences inside a run, first-order one-sided at its two ends).

Smoothing (the seed's "Adjacent-Averaging ... with reflective boundary conditions", §III-A,
Fig. 2): a centred moving average over :data:`SMOOTHING_WINDOW_FRAMES` frames. The ends of
a run are extended by *odd* (point) reflection, ``x[-k] = 2·x[0] − x[k]``
(``numpy.pad(mode="reflect", reflect_type="odd")``), then averaged with
``scipy.ndimage.uniform_filter1d``. Odd rather than scipy's own ``mode="reflect"`` (an even,
mirror reflection): a mirror bends a linear ramp at both ends of every run, so a keypoint
moving at constant speed would show 40 % of its speed at the first frame of each run;
the odd reflection keeps constants and ramps exactly. Every reported feature is smoothed
once, as the seed does; derivatives are taken of the smoothed signal below them
(velocity from smoothed positions, acceleration from the smoothed velocity, angular
velocity from the smoothed angle, ...), so noise is not amplified twice.

Gaps: nothing is computed across an unknown frame. Each contiguous run of frames where a
signal is known is smoothed and differentiated on its own, with the reflection at its own
two ends; a derivative needs a run of at least :data:`MIN_RUN_FRAMES_FOR_DERIVATIVE`
frames, else it is NaN. Interpolated keypoints (``track.INTERPOLATED``) are known values.

Nyquist check (seed eq. 4 and Fig. 3): :func:`nyquist_check`. The seed checks the original
(unsmoothed) signal; ``compute_features(track, smooth_features=False)`` gives it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import uniform_filter1d

from host.video.gaps import runs
from host.video.keypoints import INDEX, NAMES
from host.video.track import PoseTrack

__all__ = [
    "FEATURE_NAMES",
    "JOINT_ANGLE_NAMES",
    "SMOOTHING_WINDOW_FRAMES",
    "NyquistReport",
    "compute_features",
    "finite_runs",
    "head_tilts",
    "joint_angles",
    "nyquist_check",
    "smooth",
]

#: Moving-average length, frames (odd, centred). Assumption, from the filter's own response
#: at the reference 30 fps: a 5-frame mean (167 ms) has its −3 dB point at 0.443·fs/5 =
#: 2.7 Hz and its first zero at fs/5 = 6 Hz (the Dirichlet kernel), so it keeps the slow
#: (< 2 Hz) reaching and assembly movements and removes most frame-to-frame landmark
#: jitter (gain 0.83 at 2 Hz, 0.20 at 15 Hz). Counted in frames: tracks arrive at the
#: reference 30 fps (host.video.keypoints.REFERENCE_FPS; other rates are resampled).
SMOOTHING_WINDOW_FRAMES = 5
#: Shortest run of known frames a time derivative is taken over: the 3-point central
#: difference stencil (numpy.gradient). From 2 frames one difference would stand for both
#: and their acceleration come out 0, a value nobody measured; so they give NaN.
MIN_RUN_FRAMES_FOR_DERIVATIVE = 3
#: The Nyquist check's high band starts at this fraction of fs/2 (assumption: the top 20 %
#: of the band, where aliased content and white noise show and smooth movement does not).
HIGH_BAND_START_OF_NYQUIST = 0.8
#: A feature passes when less than this share of its (mean-removed) power lies in the high
#: band. A flat (white) spectrum puts 1 − 0.8 = 20 % there; 5 % is a quarter of that
#: (assumption).
MAX_HIGH_BAND_POWER_FRACTION = 0.05
#: Fewest frames the check runs on: 2 s at 30 fps, so the high band holds ≥ 6 FFT bins.
NYQUIST_MIN_FRAMES = 60

_AXES = ("x", "y", "z")
_SIDES = ("left", "right")
_JOINTS = ("shoulder", "elbow", "wrist")
#: Names returned by :func:`joint_angles`, in feature order.
JOINT_ANGLE_NAMES: tuple[str, ...] = tuple(
    f"{side}_{joint}_angle_deg" for side in _SIDES for joint in _JOINTS
)
_HEAD_TILT_NAMES = (
    "forward_head_tilt_deg",
    "lateral_head_tilt_left_deg",
    "lateral_head_tilt_right_deg",
)

#: Every feature, in column order: per keypoint its velocity and acceleration per axis;
#: per joint its angle, angular velocity and angular acceleration; the three head tilts.
FEATURE_NAMES: tuple[str, ...] = (
    *(
        name
        for kp in NAMES
        for name in (
            *(f"{kp}_v{a}_px_per_s" for a in _AXES),
            *(f"{kp}_a{a}_px_per_s2" for a in _AXES),
        )
    ),
    *(
        name
        for angle in JOINT_ANGLE_NAMES
        for name in (
            angle,
            angle.replace("_angle_deg", "_angular_velocity_deg_per_s"),
            angle.replace("_angle_deg", "_angular_acceleration_deg_per_s2"),
        )
    ),
    *_HEAD_TILT_NAMES,
)


def finite_runs(values: np.ndarray) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` of the contiguous runs where ``values`` (1-D) is finite."""
    return runs(np.isfinite(values))


def smooth(values: np.ndarray, window: int = SMOOTHING_WINDOW_FRAMES) -> np.ndarray:
    """Centred moving average of a 1-D signal, run by run, odd reflection at run ends.

    A run shorter than ``window`` is averaged over the largest odd window it holds (1 for
    runs of one or two frames: left as is). NaN stays NaN. Raises ValueError for an even
    or non-positive window.
    """
    if window < 1 or window % 2 == 0:
        raise ValueError(f"smoothing window must be an odd number of frames ≥ 1, got {window}")
    out = np.full(values.shape, np.nan)
    for start, stop in finite_runs(values):
        run = values[start:stop]
        w = min(window, len(run) if len(run) % 2 else len(run) - 1)
        half = w // 2
        padded = np.pad(run, half, mode="reflect", reflect_type="odd") if half else run
        out[start:stop] = uniform_filter1d(padded, w, mode="nearest")[half : half + len(run)]
    return out


def _derivative(values: np.ndarray, fps: float) -> np.ndarray:
    """d/dt of a 1-D signal, unit/s, run by run (numpy.gradient); NaN on short runs."""
    out = np.full(values.shape, np.nan)
    for start, stop in finite_runs(values):
        if stop - start >= MIN_RUN_FRAMES_FOR_DERIVATIVE:
            out[start:stop] = np.gradient(values[start:stop], 1.0 / fps)
    return out


def _angle_deg(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Angle between vectors (..., 3), deg in [0, 180]: atan2(|u×v|, u·v) (exact near 0°)."""
    cross = np.linalg.norm(np.cross(u, v), axis=-1)
    return np.degrees(np.arctan2(cross, (u * v).sum(axis=-1)))


def joint_angles(xyz_px: np.ndarray) -> dict[str, np.ndarray]:
    """Shoulder, elbow and wrist angles of both arms, deg, 3-D, unsmoothed.

    Parameters
    ----------
    xyz_px : ndarray, shape (n_frames, 11, 3)
        Keypoints in :data:`host.video.keypoints.NAMES` order, px; NaN where unknown.

    Returns
    -------
    dict
        :data:`JOINT_ANGLE_NAMES` → ndarray (n_frames,), deg in [0, 180]; NaN where a
        keypoint it needs is unknown. Definitions (S shoulder, E elbow, W wrist, H the
        hand point = mean of index finger and pinky, S' the other shoulder):

        - elbow: angle at E between E→S and E→W (180° = arm straight);
        - wrist: angle at W between W→E and W→H (180° = hand in line with forearm);
        - shoulder: angle at S between the upper arm S→E and the shoulder line S→S'
          (90° = arm hanging down or pointing at the camera, 180° = arm out sideways in
          line with the shoulders). The seed's 11 keypoints hold no hip, so the usual
          arm-to-trunk elevation angle cannot be formed; this angle mixes abduction with
          horizontal adduction and does not tell flexion from hanging.

        All three depend only on distances between keypoints, so they are unchanged by any
        rotation or shift of the whole skeleton. Source: seed §III-A ("the angles formed by
        the shoulder, elbow, and wrist joints"); the vertex choices are ours.
    """
    xyz = np.asarray(xyz_px, dtype=np.float64)
    if xyz.ndim != 3 or xyz.shape[1:] != (len(NAMES), 3):
        raise ValueError(f"joint_angles: xyz_px has shape {xyz.shape}, expected (n, 11, 3)")
    out: dict[str, np.ndarray] = {}
    for side in _SIDES:
        other = "right" if side == "left" else "left"
        s, e, w = (xyz[:, INDEX[f"{side}_{j}"]] for j in _JOINTS)
        s_other = xyz[:, INDEX[f"{other}_shoulder"]]
        hand = 0.5 * (xyz[:, INDEX[f"{side}_index"]] + xyz[:, INDEX[f"{side}_pinky"]])
        out[f"{side}_shoulder_angle_deg"] = _angle_deg(e - s, s_other - s)
        out[f"{side}_elbow_angle_deg"] = _angle_deg(s - e, w - e)
        out[f"{side}_wrist_angle_deg"] = _angle_deg(e - w, hand - w)
    return {name: out[name] for name in JOINT_ANGLE_NAMES}


def head_tilts(xyz_px: np.ndarray) -> dict[str, np.ndarray]:
    """Forward and lateral head tilt, deg, unsmoothed (seed §III-A).

    Parameters
    ----------
    xyz_px : ndarray, shape (n_frames, 11, 3)
        Keypoints, px (x right, y down, z away from the camera); NaN where unknown.

    Returns
    -------
    dict
        ``forward_head_tilt_deg``: the angle between the plane through the nose N and both
        shoulders and the camera (x-y) plane, i.e. between the plane's normal
        (L−N)×(R−N) and the camera axis z, magnitude in [0, 90], signed + when the nose is nearer
        the camera than the shoulder midpoint (head bent towards the camera), − when
        farther. A person facing the camera with the head upright gives ≈ 0 (plus the
        nose's own offset in front of the shoulders).
        ``lateral_head_tilt_left_deg`` / ``_right_deg``: in the image plane, the angle of
        the line from the nose to that shoulder below the image horizontal,
        atan2(y_S − y_N, |x_S − x_N|), in (−90, 90] (45° each for a nose 100 px above the
        middle of shoulders 200 px apart). Bending the head sideways towards the left
        shoulder brings the nose over it and raises the left angle (90° with the nose right
        above that shoulder) while the right one falls; their difference is the sideways
        bend, their mean falls as the head drops. Both change with a rotation of the whole
        image: they are measured against the image horizontal (the seed names the lines, not
        what their angle is measured against; the horizontal is our choice).
    """
    xyz = np.asarray(xyz_px, dtype=np.float64)
    nose = xyz[:, INDEX["nose"]]
    left, right = xyz[:, INDEX["left_shoulder"]], xyz[:, INDEX["right_shoulder"]]
    normal = np.cross(left - nose, right - nose)
    tilt = _angle_deg(normal, np.broadcast_to([0.0, 0.0, 1.0], normal.shape))
    tilt = np.minimum(tilt, 180.0 - tilt)  # a plane has no direction: fold into [0, 90]
    nearer = nose[:, 2] < 0.5 * (left[:, 2] + right[:, 2])
    out = {"forward_head_tilt_deg": np.where(nearer, tilt, -tilt)}
    for side, shoulder in (("left", left), ("right", right)):
        dy = shoulder[:, 1] - nose[:, 1]
        dx = np.abs(shoulder[:, 0] - nose[:, 0])
        out[f"lateral_head_tilt_{side}_deg"] = np.degrees(np.arctan2(dy, dx))
    return out


def compute_features(
    track: PoseTrack, *, smooth_features: bool = True
) -> tuple[np.ndarray, list[str]]:
    """All kinematic features of ``track``, frame by frame.

    Parameters
    ----------
    track : PoseTrack
        Keypoints in px at ``track.fps``.
    smooth_features : bool
        False gives the original (unsmoothed) features, for the seed's Nyquist check.

    Returns
    -------
    features : ndarray, shape (n_frames, len(FEATURE_NAMES)), float64
        Columns in :data:`FEATURE_NAMES` order; NaN where a keypoint a feature needs is
        unknown, or a derivative's run is too short (module docstring).
    names : list of str
        :data:`FEATURE_NAMES`.
    """
    fps = float(track.fps)
    sm = smooth if smooth_features else (lambda v: np.asarray(v, dtype=np.float64))
    columns: list[np.ndarray] = []
    for k in range(len(NAMES)):
        velocities = [sm(_derivative(sm(track.xyz_px[:, k, a]), fps)) for a in range(3)]
        accelerations = [sm(_derivative(v, fps)) for v in velocities]
        columns += velocities + accelerations
    for angle in joint_angles(track.xyz_px).values():
        angle_s = sm(angle)
        velocity = sm(_derivative(angle_s, fps))
        columns += [angle_s, velocity, sm(_derivative(velocity, fps))]
    columns += [sm(t) for t in head_tilts(track.xyz_px).values()]
    features = np.column_stack(columns) if columns else np.zeros((track.n_frames, 0))
    return features.reshape(track.n_frames, len(FEATURE_NAMES)), list(FEATURE_NAMES)


@dataclass
class NyquistReport:
    """One feature's spectrum check (seed eq. 4, f_s ≥ 2·f_max, and Fig. 3).

    Attributes
    ----------
    name : str
        The feature.
    high_band_power_fraction : float
        Share of the mean-removed power above HIGH_BAND_START_OF_NYQUIST · fs/2, 0–1;
        NaN when not measured (``reason`` says why).
    ok : bool
        True when the share is below MAX_HIGH_BAND_POWER_FRACTION.
    n_frames_used : int
        Length of the run the FFT ran on (the feature's longest run of finite values).
    reason : str
        Empty when measured; otherwise why not (too few frames).
    """

    name: str
    high_band_power_fraction: float
    ok: bool
    n_frames_used: int = 0
    reason: str = ""


def nyquist_check(
    features: np.ndarray, fps: float, names: list[str] | tuple[str, ...]
) -> list[NyquistReport]:
    """Per feature, whether its content stays clear of the Nyquist frequency fs/2.

    FFT (``numpy.fft.rfft``) of the feature's longest run of finite values, mean removed,
    Hann-windowed (so the leakage of strong slow content does not spill into the high
    band); power |X(f)|² summed above HIGH_BAND_START_OF_NYQUIST · fs/2 over the power of
    all non-zero frequencies. A run shorter than NYQUIST_MIN_FRAMES: fraction NaN, not ok,
    ``reason`` set. A constant run has no power at all: fraction 0, ok.

    Raises ValueError when ``names`` does not match ``features``' columns.
    """
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or features.shape[1] != len(names):
        raise ValueError(
            f"nyquist_check: features has shape {features.shape}, expected (n, {len(names)})"
        )
    reports = []
    for column, name in zip(features.T, names):
        column_runs = finite_runs(column)
        start, stop = max(column_runs, key=lambda r: r[1] - r[0]) if column_runs else (0, 0)
        n = stop - start
        if n < NYQUIST_MIN_FRAMES:
            why = f"{n} known frames in a row, the check needs at least {NYQUIST_MIN_FRAMES}"
            reports.append(NyquistReport(name, float("nan"), False, n, why))
            continue
        run = column[start:stop] - column[start:stop].mean()
        power = np.abs(np.fft.rfft(run * np.hanning(n))) ** 2
        freq_hz = np.fft.rfftfreq(n, 1.0 / fps)
        total = power[1:].sum()
        high = power[freq_hz > HIGH_BAND_START_OF_NYQUIST * fps / 2].sum()
        fraction = float(high / total) if total > 0 else 0.0
        reports.append(NyquistReport(name, fraction, fraction < MAX_HIGH_BAND_POWER_FRACTION, n))
    return reports
