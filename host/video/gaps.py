"""Short gaps in a keypoint's track filled by linear interpolation; long gaps left as gaps.

A pose estimator loses a keypoint for a frame or two when its visibility flickers around
the threshold, motion blurs the hand, or a finger crosses the body; a real occlusion (a hand
behind the body, an arm leaving the frame) lasts longer. Only gaps bounded by known
positions on both sides and no longer than :data:`MAX_GAP_S` are filled; gaps at the start
or end of a track are never extrapolated.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from host.video.track import INTERPOLATED, PoseTrack

__all__ = ["MAX_GAP_S", "fill_short_gaps", "runs"]

#: Longest gap filled, s: 0.2 s = 6 frames at the seed's 30 fps. Assumption: MediaPipe's
#: dropouts on a visible limb last 1–3 frames in the clips looked at here (bikes.mp4), a real
#: occlusion longer; over 0.2 s an arm in assembly work moves along a nearly straight path, so
#: a straight line between the known ends is a fair guess and longer ones are not.
MAX_GAP_S = 0.2


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Half-open ``(start, stop)`` index ranges where the 1-D bool ``mask`` is True."""
    padded = np.concatenate([[False], np.asarray(mask, bool), [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def fill_short_gaps(track: PoseTrack, max_gap_s: float = MAX_GAP_S) -> PoseTrack:
    """A copy of ``track`` with each keypoint's interior gaps of ≤ ``max_gap_s`` interpolated.

    Each of x, y, z is interpolated linearly in time between the last known frame before
    the gap and the first after it; the filled keypoint-frames get INTERPOLATED (their other
    flags, e.g. NOT_VISIBLE, stay to say why they were missing). Visibility stays as the
    estimator gave it. Gaps longer than ``max_gap_s`` (i.e. more than
    ``floor(max_gap_s · fps)`` frames) and gaps touching the start or end stay NaN. The
    input is not modified; a note says how many gaps were filled and how many left.
    """
    max_frames = int(np.floor(max_gap_s * track.fps + 1e-9))
    xyz = track.xyz_px.copy()
    kflags = track.keypoint_flags.copy()
    known = track.known()
    t = track.time_s
    filled = left = filled_frames = 0
    for k in range(xyz.shape[1]):
        for start, stop in runs(~known[:, k]):
            if start == 0 or stop == len(t):
                left += 1
                continue
            if stop - start > max_frames:
                left += 1
                continue
            before, after = start - 1, stop
            w = ((t[start:stop] - t[before]) / (t[after] - t[before]))[:, None]
            xyz[start:stop, k] = (1 - w) * xyz[before, k] + w * xyz[after, k]
            kflags[start:stop, k] |= INTERPOLATED
            filled += 1
            filled_frames += stop - start
    out = dataclasses.replace(
        track, xyz_px=xyz, keypoint_flags=kflags, notes=[*track.notes], metadata={**track.metadata}
    )
    out.notes.append(
        f"gaps: {filled} keypoint gap(s) of up to {max_frames} frames ({max_gap_s:g} s) "
        f"filled by interpolation ({filled_frames} keypoint-frames); {left} longer or at "
        "the ends left empty"
    )
    return out
