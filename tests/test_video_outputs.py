"""The video pipeline's outputs (host/video/overlay.py, host/video/plots.py) on fake tracks.

No MediaPipe: the tracks and features are built here, with known keypoints, so the test can
say where the skeleton must be drawn and where it must not.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
import pytest
from PIL import Image

from host.video.keypoints import INDEX, NAMES
from host.video.overlay import (
    GIF_EVERY,
    GIF_MAX_WIDTH_PX,
    INTERPOLATED_RGB,
    MEASURED_RGB,
    write_overlay,
)
from host.video.plots import DPI, plot_features, plot_nyquist, plot_voxels, plot_wavelet_matrix
from host.video.track import INTERPOLATED, MULTIPLE_PEOPLE, NO_POSE, PoseTrack, VideoError

WIDTH, HEIGHT, FPS = 640, 360, 30.0
#: A front view of an upper body, px (x right, y down), in NAMES order.
BODY = {
    "nose": (320, 80),
    "left_shoulder": (400, 150),
    "right_shoulder": (240, 150),
    "left_elbow": (440, 230),
    "right_elbow": (200, 230),
    "left_wrist": (450, 310),
    "right_wrist": (190, 310),
    "left_pinky": (470, 335),
    "right_pinky": (170, 335),
    "left_index": (455, 340),
    "right_index": (185, 340),
}


def make_track(
    n: int = 40,
    *,
    provenance: str = "video",
    borg: bool = True,
    unknown: str | None = None,
    interpolated: str | None = None,
) -> PoseTrack:
    """A still skeleton (:data:`BODY`) for ``n`` frames at 30 fps; ``unknown`` NaN
    throughout, ``interpolated`` flagged INTERPOLATED throughout; frames 10-14 flagged
    NO_POSE (keypoints NaN), 20-24 MULTIPLE_PEOPLE."""
    t = np.arange(n) / FPS
    xyz = np.zeros((n, len(NAMES), 3))
    xyz[:, :, :2] = [BODY[name] for name in NAMES]
    flags = np.zeros((n, len(NAMES)), np.uint8)
    frame_flags = np.zeros(n, np.uint8)
    frame_flags[10:15] = NO_POSE
    xyz[10:15] = np.nan
    frame_flags[20:25] = MULTIPLE_PEOPLE
    if unknown:
        xyz[:, INDEX[unknown]] = np.nan
    if interpolated:
        flags[:, INDEX[interpolated]] = INTERPOLATED
    return PoseTrack(
        time_s=t,
        xyz_px=xyz,
        visibility=np.where(np.isfinite(xyz[..., 0]), 0.9, np.nan),
        keypoint_flags=flags,
        frame_flags=frame_flags,
        fps=FPS,
        width=WIDTH,
        height=HEIGHT,
        depth_px=float(WIDTH),
        source="clips/still_person.mp4",
        provenance=provenance,
        borg_time_s=np.array([0.0, 0.5]) if borg else np.zeros(0),
        borg_rating=np.array([2.0, 3.0]) if borg else np.zeros(0),
    )


def video_frames(n: int, fps: float = 25.0) -> list[tuple[float, np.ndarray]]:
    """``n`` dark grey frames (time_s, rgb) at ``fps``."""
    return [(i / fps, np.full((HEIGHT, WIDTH, 3), 40, np.uint8)) for i in range(n)]


def midpoint(a: str, b: str, scale: float = 1.0) -> tuple[int, int]:
    (xa, ya), (xb, yb) = BODY[a], BODY[b]
    return round((xa + xb) / 2 * scale), round((ya + yb) / 2 * scale)


def near(pixel: np.ndarray, rgb: tuple[int, int, int], tol: int = 12) -> bool:
    return bool(np.all(np.abs(pixel.astype(int) - rgb) <= tol))


def gif_frames(path: Path) -> list[np.ndarray]:
    with Image.open(path) as im:
        out = []
        for k in range(im.n_frames):
            im.seek(k)
            out.append(np.asarray(im.convert("RGB")))
    return out


# --- overlay -------------------------------------------------------------------------------


def test_gif_frame_count_size_and_skeleton_where_the_keypoints_are(tmp_path):
    track = make_track(unknown="right_elbow", interpolated="left_wrist")
    out = tmp_path / "o.gif"
    frames = video_frames(30)  # 25 fps video, 30 fps track: matched by time
    written = write_overlay(track, out, frames=frames)
    assert written == 15, "every 2nd of 30 frames (GIF_EVERY)"
    assert GIF_EVERY == 2
    images = gif_frames(out)
    assert len(images) == written
    assert images[0].shape == (HEIGHT * GIF_MAX_WIDTH_PX // WIDTH, GIF_MAX_WIDTH_PX, 3)


def test_gif_is_downscaled_and_draws_measured_interpolated_and_not_unknown(tmp_path):
    track = make_track(unknown="right_elbow", interpolated="left_wrist")
    out = tmp_path / "o.gif"
    write_overlay(track, out, frames=video_frames(4), every=1)
    image = gif_frames(out)[0]
    scale = GIF_MAX_WIDTH_PX / WIDTH
    assert image.shape == (round(HEIGHT * scale), GIF_MAX_WIDTH_PX, 3)

    def at(a: str, b: str) -> np.ndarray:
        x, y = midpoint(a, b, scale)
        return image[y, x]

    assert near(at("left_shoulder", "right_shoulder"), MEASURED_RGB)
    assert near(at("left_shoulder", "left_elbow"), MEASURED_RGB)
    # A segment touching an interpolated keypoint is drawn in the interpolated colour.
    assert near(at("left_elbow", "left_wrist"), INTERPOLATED_RGB)
    # Segments touching the unknown right elbow are not drawn: the background is there.
    for a, b in (("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist")):
        assert near(at(a, b), (40, 40, 40)), f"{a}-{b} drawn though right_elbow is unknown"


def test_flagged_frames_have_no_skeleton_and_a_banner(tmp_path):
    track = make_track()
    out = tmp_path / "o.gif"
    # Frame 12 of the track (t = 0.4 s) is NO_POSE: no skeleton, a red banner at the top.
    write_overlay(track, out, frames=[(12 / FPS, np.full((HEIGHT, WIDTH, 3), 40, np.uint8))])
    image = gif_frames(out)[0]
    scale = GIF_MAX_WIDTH_PX / WIDTH
    x, y = midpoint("left_shoulder", "right_shoulder", scale)
    assert near(image[y, x], (40, 40, 40))
    top = image[: image.shape[0] // 8]
    assert (np.abs(top.astype(int) - (200, 20, 20)).max(axis=2) <= 12).sum() > 200


def test_simulated_track_on_a_canvas_to_mp4_read_back_by_opencv(tmp_path):
    track = make_track(n=40, provenance="simulated", borg=False)
    out = tmp_path / "o.mp4"
    written = write_overlay(track, out)
    assert written == 40, "an MP4 writes every frame by default"
    cap = cv2.VideoCapture(str(out))
    try:
        assert cap.isOpened()
        assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 40
        assert int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)) == WIDTH
        assert int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == HEIGHT
        assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(FPS, rel=0.01)
        ok, bgr = cap.read()
    finally:
        cap.release()
    assert ok
    x, y = midpoint("left_shoulder", "left_elbow")
    assert near(bgr[y, x, ::-1], MEASURED_RGB, tol=40), "lossy codec: a loose tolerance"


def test_max_frames_and_width_limit_what_is_written(tmp_path):
    out = tmp_path / "o.gif"
    n = write_overlay(make_track(), out, max_frames=3, every=1, width=160)
    assert n == 3
    images = gif_frames(out)
    assert len(images) == 3 and images[0].shape == (90, 160, 3)


@pytest.mark.parametrize("name", ["o.avi", "o.png", "o"])
def test_a_bad_suffix_is_refused_naming_it_and_the_allowed_ones(tmp_path, name):
    with pytest.raises(VideoError, match=r"allowed: \.gif, \.mp4") as err:
        write_overlay(make_track(), tmp_path / name)
    assert name in str(err.value)
    assert not (tmp_path / name).exists()


def test_a_frame_that_is_not_rgb_uint8_is_refused(tmp_path):
    with pytest.raises(VideoError, match=r"\(H, W, 3\) uint8"):
        write_overlay(make_track(), tmp_path / "o.gif", frames=[(0.0, np.zeros((4, 4)))])


# --- plots ---------------------------------------------------------------------------------


class FakeReport(NamedTuple):
    name: str
    high_band_power_fraction: float
    ok: bool


class FakeVoxels:
    """The SparseVoxels interface the plots use: frame(i) -> (20, 20, 20) uint8."""

    def __init__(self, n_frames: int) -> None:
        self.n_frames = n_frames

    def frame(self, i: int) -> np.ndarray:
        grid = np.zeros((20, 20, 20), np.uint8)
        grid[5:15, 10, 10] = 1  # shoulders
        grid[5, 10:18, 10] = 1  # an arm
        return grid


@dataclass
class FakeFeatures:
    """The VideoFeatures attributes the plots use (host/video/pipeline.py)."""

    track: PoseTrack
    feature_names: tuple[str, ...]
    features: np.ndarray
    nyquist: list[FakeReport]
    wavelets: np.ndarray
    voxels: FakeVoxels


FEATURE_NAMES = (
    "left_shoulder_angle_deg",
    "right_shoulder_angle_deg",
    "left_elbow_angle_deg",
    "right_elbow_angle_deg",
    "left_wrist_angle_deg",
    "right_wrist_angle_deg",
    "forward_head_tilt_deg",
    "lateral_head_tilt_left_deg",
    "left_wrist_vx_px_s",
    "left_wrist_ax_px_s2",
)


def make_features(track: PoseTrack, *, all_nan: str | None = None) -> FakeFeatures:
    n, k, levels = track.n_frames, len(FEATURE_NAMES), 4
    t = track.time_s
    rng = np.random.default_rng(0)
    features = 90 + 20 * np.sin(2 * np.pi * 0.5 * t)[:, None] + rng.normal(size=(n, k))
    features[10:15] = np.nan
    if all_nan:
        features[:, FEATURE_NAMES.index(all_nan)] = np.nan
    wavelets = np.repeat(features[:, :, None], levels, axis=2) * (1 + 0.1 * np.arange(levels))
    reports = [
        FakeReport(name, 10.0 ** -(j % 5 + 1), j != 3) for j, name in enumerate(FEATURE_NAMES)
    ]
    if all_nan:
        reports[FEATURE_NAMES.index(all_nan)] = FakeReport(all_nan, float("nan"), False)
    return FakeFeatures(
        track=track,
        feature_names=FEATURE_NAMES,
        features=features.astype(np.float32),
        nyquist=reports,
        wavelets=wavelets.astype(np.float32),
        voxels=FakeVoxels(n),
    )


PLOTS = {
    "features": lambda vf, p: plot_features(vf, p),
    "wavelets": lambda vf, p: plot_wavelet_matrix(vf, p, frame=5),
    "voxels": lambda vf, p: plot_voxels(vf, p, frame=5),
    "nyquist": lambda vf, p: plot_nyquist(vf, p),
}
#: Expected PNG sizes, px at DPI (the matrix and bar chart's heights grow with n_features).
SIZES = {
    "features": (11.0, 9.0),
    "wavelets": (13.0, 5.5),
    "voxels": (11.0, 5.5),
    "nyquist": (10.0, 4.0),
}


@pytest.mark.parametrize("kind", PLOTS)
@pytest.mark.parametrize(
    "variant", ["borg", "no borg, simulated", "all-NaN feature"], ids=lambda v: v.replace(" ", "")
)
def test_each_plot_writes_a_png_of_its_size(tmp_path, kind, variant):
    track = make_track(
        borg=variant == "borg", provenance="simulated" if "simulated" in variant else "video"
    )
    vf = make_features(track, all_nan="left_elbow_angle_deg" if "NaN" in variant else None)
    out = tmp_path / f"{kind}.png"
    PLOTS[kind](vf, out)
    with Image.open(out) as im:
        assert im.format == "PNG"
        w, h = SIZES[kind]
        assert im.size == (round(w * DPI), round(h * DPI))
        pixels = np.asarray(im.convert("L"))
    assert pixels.std() > 5, "the figure is not blank"


def test_a_frame_outside_the_track_is_one_clear_error(tmp_path):
    vf = make_features(make_track(n=40))
    with pytest.raises(VideoError, match=r"frame 40 is outside 0\.\.39"):
        plot_voxels(vf, tmp_path / "v.png", frame=40)
