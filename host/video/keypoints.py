"""The seed's 11 upper-body keypoints, their MediaPipe indices and the skeleton's segments.

Seed 000 §III-A: "the index finger, pinky finger, wrist, elbow, shoulder, and nose,
totaling 11 key points". The indices are MediaPipe Pose's 33-landmark topology
(``mediapipe.solutions.pose.PoseLandmark``, BlazePose, Bazarevsky et al. 2020).
The segments are MediaPipe's ``POSE_CONNECTIONS`` among these 11 keypoints, plus the two
lines from the nose to each shoulder that the seed's lateral head tilt is measured on.
This module is the one place these facts live.
"""

from __future__ import annotations

#: (name, MediaPipe Pose landmark index), in the order of every keypoint axis in this package.
KEYPOINTS: tuple[tuple[str, int], ...] = (
    ("nose", 0),
    ("left_shoulder", 11),
    ("right_shoulder", 12),
    ("left_elbow", 13),
    ("right_elbow", 14),
    ("left_wrist", 15),
    ("right_wrist", 16),
    ("left_pinky", 17),
    ("right_pinky", 18),
    ("left_index", 19),
    ("right_index", 20),
)
#: Keypoint names, in order.
NAMES: tuple[str, ...] = tuple(name for name, _ in KEYPOINTS)
#: Position of each name on the keypoint axis.
INDEX: dict[str, int] = {name: i for i, name in enumerate(NAMES)}
#: MediaPipe landmark index of each keypoint, in order.
MEDIAPIPE_INDEX: tuple[int, ...] = tuple(mp for _, mp in KEYPOINTS)

#: Skeleton segments as pairs of keypoint names (MediaPipe's connections + nose–shoulders).
SEGMENT_NAMES: tuple[tuple[str, str], ...] = (
    ("left_shoulder", "right_shoulder"),
    ("left_shoulder", "left_elbow"),
    ("left_elbow", "left_wrist"),
    ("left_wrist", "left_pinky"),
    ("left_wrist", "left_index"),
    ("left_pinky", "left_index"),
    ("right_shoulder", "right_elbow"),
    ("right_elbow", "right_wrist"),
    ("right_wrist", "right_pinky"),
    ("right_wrist", "right_index"),
    ("right_pinky", "right_index"),
    ("nose", "left_shoulder"),
    ("nose", "right_shoulder"),
)
#: The same segments as pairs of positions on the keypoint axis.
SEGMENTS: tuple[tuple[int, int], ...] = tuple((INDEX[a], INDEX[b]) for a, b in SEGMENT_NAMES)

#: The seed's frame rate (§III-A: "a frame rate of 30 fps was chosen"), frames/s.
REFERENCE_FPS = 30.0
