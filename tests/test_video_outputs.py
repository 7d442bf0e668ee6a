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
from host.video.kinematics import (
    MAX_HIGH_BAND_POWER_FRACTION,
    NYQUIST_MIN_FRAMES,
    compute_features,
)
from host.video.overlay import (
    GIF_EVERY,
    GIF_MAX_WIDTH_PX,
    INTERPOLATED_RGB,
    MEASURED_RGB,
    write_overlay,
)
from host.video.plots import (
    DPI,
    WINDOW_S,
    WINDOWED_SIZE_IN,
    features_figure,
    nyquist_figure,
    plot_features,
    plot_nyquist,
    plot_voxels,
    plot_wavelet_matrix,
    voxels_figure,
    wavelet_figure,
    window_summary,
)
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
    n_frames_used: int = 100
    reason: str = ""


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


# --- plots of a long track: per-window summaries ---------------------------------------------

#: The long synthetic track: minutes, the elbow's excursion (°) and cycle period (s) at its
#: start and end, how far the shoulders rise over it (px), upper arm and forearm (px).
TREND_MINUTES = 10.0
EXCURSION_DEG = (60.0, 30.0)
PERIOD_S = (4.0, 5.0)
SHOULDER_RISE_PX = 16.0
UPPER_ARM_PX, FOREARM_PX = 80.0, 70.0
#: Frames of window 3 without a pose (10 % of it).
NO_POSE_FRAMES = slice(3 * 900 + 100, 3 * 900 + 190)


def trend_at(t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Excursion (°), period (s) and shoulder rise (px) at ``t_s``: each linear in time."""
    frac = t_s / (TREND_MINUTES * 60.0)
    excursion = EXCURSION_DEG[0] + (EXCURSION_DEG[1] - EXCURSION_DEG[0]) * frac
    period = PERIOD_S[0] + (PERIOD_S[1] - PERIOD_S[0]) * frac
    return excursion, period, SHOULDER_RISE_PX * frac


def make_trend_track() -> PoseTrack:
    """A worker tiring over :data:`TREND_MINUTES` at 30 fps, in the image plane (z = 0).

    Both upper arms hang from the shoulders; each forearm swings out from hanging
    straight down by φ(t) = excursion/2 · (1 + sin ψ(t)), so the elbow angle is 180° − φ:
    its range shrinks from 60° to 30°, its median is 180° − excursion/2; the cycle
    period P(t) grows from 4 to 5 s (ψ = 2π ∫ dt / P); the whole body rises by 16 px
    (10 % of the 160 px shoulder width). Borg ratings 1..10, one per minute.
    """
    n = int(TREND_MINUTES * 60 * FPS)
    t = np.arange(n) / FPS
    excursion, period, rise = trend_at(t)
    slope = (PERIOD_S[1] - PERIOD_S[0]) / (TREND_MINUTES * 60.0)
    psi = 2 * np.pi / slope * np.log(period / PERIOD_S[0])
    phi = np.deg2rad(excursion / 2 * (1 + np.sin(psi)))
    xyz = np.zeros((n, len(NAMES), 3))
    xyz[:, :, :2] = [BODY[name] for name in NAMES]
    xyz[:, :, 1] -= rise[:, None]
    for side, sign in (("left", 1.0), ("right", -1.0)):
        shoulder = xyz[:, INDEX[f"{side}_shoulder"], :2]
        elbow = shoulder + np.array([0.0, UPPER_ARM_PX])
        wrist = elbow + FOREARM_PX * np.stack([sign * np.sin(phi), np.cos(phi)], axis=1)
        hand = wrist + 20.0 * np.stack([sign * np.sin(phi), np.cos(phi)], axis=1)
        xyz[:, INDEX[f"{side}_elbow"], :2] = elbow
        xyz[:, INDEX[f"{side}_wrist"], :2] = wrist
        for part in ("pinky", "index"):
            xyz[:, INDEX[f"{side}_{part}"], :2] = hand
    frame_flags = np.zeros(n, np.uint8)
    frame_flags[NO_POSE_FRAMES] = NO_POSE
    xyz[NO_POSE_FRAMES] = np.nan
    return PoseTrack(
        time_s=t,
        xyz_px=xyz,
        visibility=np.where(np.isfinite(xyz[..., 0]), 0.9, np.nan),
        keypoint_flags=np.zeros((n, len(NAMES)), np.uint8),
        frame_flags=frame_flags,
        fps=FPS,
        width=WIDTH,
        height=HEIGHT,
        depth_px=float(WIDTH),
        source="worker 0, synthetic trend",
        provenance="simulated",
        borg_time_s=np.arange(10) * 60.0,
        borg_rating=np.arange(1.0, 11.0),
    )


@pytest.fixture(scope="module")
def trend_features() -> FakeFeatures:
    """:func:`make_trend_track` with its real kinematic features (host.video.kinematics)."""
    track = make_trend_track()
    features, names = compute_features(track)
    vf = make_features(make_track())  # wavelets, voxels and Nyquist reports are not drawn
    return FakeFeatures(track, tuple(names), features, vf.nyquist, vf.wavelets, vf.voxels)


def test_window_summary_recovers_the_tracks_trend(trend_features):
    table = window_summary(trend_features)
    n_windows = int(TREND_MINUTES * 60 / WINDOW_S)
    assert table.n_windows == n_windows
    np.testing.assert_allclose(table.start_s, np.arange(n_windows) * WINDOW_S)
    excursion, period, rise = trend_at(table.mid_s)
    # p5..p95 of excursion/2 · (1 + sin ψ), ψ uniform: excursion · sin(0.45 π).
    for side in ("left", "right"):
        name = f"{side}_elbow_angle_deg"
        rom = table.angle_high_deg[name] - table.angle_low_deg[name]
        np.testing.assert_allclose(rom, excursion * np.sin(0.45 * np.pi), atol=1.0)
        # The median, 180° − excursion/2, moves with where the window cuts the last of its
        # 6–7.5 cycles (up to ±3° here); its trend over the track does not.
        median = table.angle_median_deg[name]
        slope_deg_s = np.polyfit(table.mid_s, median, 1)[0]
        np.testing.assert_allclose(slope_deg_s * 600, -np.diff(EXCURSION_DEG)[0] / 2, atol=1.0)
        np.testing.assert_allclose(median, 180 - excursion / 2, atol=3.5)
        # Forearm tip speed 70 px · dφ/dt; its p95 over a cycle is 0.997 of its peak.
        peak = FOREARM_PX * np.deg2rad(excursion / 2) * 2 * np.pi / period
        np.testing.assert_allclose(table.wrist_peak_speed_px_s[side], peak, rtol=0.03)
    np.testing.assert_allclose(table.cycle_period_s, period, atol=0.1)
    assert np.all(table.cycle_repeatability > 0.98)
    width = BODY["left_shoulder"][0] - BODY["right_shoulder"][0]
    np.testing.assert_allclose(table.shoulder_rise_pct, (rise - rise[0]) / width * 100, atol=0.2)
    flagged = np.zeros(n_windows)
    flagged[3] = 10.0
    np.testing.assert_allclose(table.flagged_pct["no pose"], flagged)
    np.testing.assert_allclose(table.unknown_pct, flagged)
    # One rating a minute, two windows a minute: the window holding minute m's rating.
    borg = np.where(np.arange(n_windows) % 2 == 0, np.arange(n_windows) // 2 + 1.0, np.nan)
    np.testing.assert_allclose(table.borg_median, borg)


def axis_texts(fig) -> str:
    return " | ".join(
        f"{ax.get_title(loc='left')} / {ax.get_ylabel()} / {ax.get_xlabel()}" for ax in fig.axes
    )


def test_a_long_track_is_drawn_by_window_a_short_one_frame_by_frame(tmp_path, trend_features):
    fig = features_figure(trend_features)
    texts = axis_texts(fig)
    for shown in (
        "Borg CR10 rating (0–10)",
        "joint angle (°)",
        "range of motion (°)",
        "head tilt, median (°)",
        "shoulder rise",
        "wrist peak speed",
        "cycle period (s)",
        "share of frames",
        "time (min)",
    ):
        assert shown in texts
    assert "30 s windows (20)" in fig.get_suptitle()
    assert "SIMULATED" in fig.get_suptitle()
    out = tmp_path / "long.png"
    plot_features(trend_features, out)
    with Image.open(out) as im:
        assert im.size == tuple(round(v * DPI) for v in WINDOWED_SIZE_IN)

    short = features_figure(make_features(make_track(n=40)))
    texts = axis_texts(short)
    assert "time (s)" in texts and "range of motion" not in texts
    assert "frame by frame" in short.get_suptitle()


def test_the_nyquist_figure_draws_the_checks_threshold():
    fig = nyquist_figure(make_features(make_track()))
    lines = [line.get_xdata() for line in fig.axes[0].get_lines()]
    assert any(np.allclose(x, MAX_HIGH_BAND_POWER_FRACTION) for x in lines)


def unchecked(name: str, run: int = 35) -> FakeReport:
    """A report the Nyquist check could not measure (host.video.kinematics.nyquist_check)."""
    why = f"{run} known frames in a row, the check needs at least {NYQUIST_MIN_FRAMES}"
    return FakeReport(name, float("nan"), False, run, why)


def test_a_track_where_no_feature_was_checked_says_not_checked_not_failed(tmp_path):
    vf = make_features(make_track())
    vf.nyquist = [unchecked(name, run=20 + j) for j, name in enumerate(FEATURE_NAMES)]
    fig = nyquist_figure(vf)
    headline = fig.get_suptitle().splitlines()[0]
    n = len(FEATURE_NAMES)
    assert f"{n} of {n} features not checked" in headline
    assert f"no run of {NYQUIST_MIN_FRAMES} known frames in a row (longest: {20 + n - 1})" in (
        headline
    )
    assert "pass" not in headline
    assert not any(ax.patches for ax in fig.axes), "no bar for a feature that was not checked"
    plot_nyquist(vf, tmp_path / "n.png")  # and it still saves


def test_nyquist_counts_passes_among_checked_features_only():
    vf = make_features(make_track(), all_nan=None)
    # 10 features: 3 not checked; of the 7 checked, FakeReport j = 3 fails.
    for j in (0, 5, 9):
        vf.nyquist[j] = unchecked(FEATURE_NAMES[j])
    fig = nyquist_figure(vf)
    headline = fig.get_suptitle().splitlines()[0]
    why = f"no run of {NYQUIST_MIN_FRAMES} known frames in a row"
    assert f"6 of 7 checked features pass; 3 not checked ({why}" in headline
    assert len(fig.axes[0].patches) == 7, "one bar per checked feature"
    assert "SIMULATED" not in fig.get_suptitle()
    sim = make_features(make_track(provenance="simulated"))
    sim.nyquist[0] = unchecked(FEATURE_NAMES[0])
    assert "SIMULATED" in nyquist_figure(sim).get_suptitle()


def test_the_wavelet_time_panel_shows_a_window_around_the_frame_of_a_long_track():
    minutes = 10
    track = make_track(n=int(minutes * 60 * FPS), provenance="simulated")
    vf = make_features(track)
    frame = track.n_frames // 2
    t_frame = track.time_s[frame]
    feature = FEATURE_NAMES.index("left_elbow_angle_deg")
    # Level 4 has data only far from the frame: it must not be listed.
    near = np.abs(track.time_s - t_frame) <= WINDOW_S
    vf.wavelets[near, feature, 3] = np.nan
    fig = wavelet_figure(vf, frame)
    (panel,) = [ax for ax in fig.axes if "db4 approximation" in ax.get_title()]
    lo, hi = panel.get_xlim()
    assert (lo, hi) == pytest.approx((t_frame - WINDOW_S / 2, t_frame + WINDOW_S / 2))
    assert f"±{WINDOW_S / 2:g} s around frame {frame}" in panel.get_title()
    labels = [t.get_text() for t in panel.get_legend().get_texts()]
    assert labels == ["feature (smoothed)", "level 1", "level 2", "level 3", f"frame {frame}"]
    assert "SIMULATED" in fig.get_suptitle()


def test_the_voxel_figure_labels_y_cells_with_the_stored_image_down_index():
    ax3 = voxels_figure(make_features(make_track()), frame=5).axes[0]
    assert "0 = top of the image" in ax3.get_zlabel()
    ticks = dict(zip((t.get_text() for t in ax3.get_zticklabels()), ax3.get_zticks()))
    assert ticks["0"] == pytest.approx(19.5), "stored iy 0 is drawn at the top"
    assert ticks["19"] == pytest.approx(0.5)
