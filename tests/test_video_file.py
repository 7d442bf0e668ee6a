"""The kinematics file (host/video/features_file.py) and ``python -m host video``: a file
read back is the file written; a file that is not one, is damaged or newer is one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from host.video.features_file import FORMAT, VERSION, read_features, write_features
from host.video.keypoints import INDEX, NAMES
from host.video.pipeline import extract_features
from host.video.track import INTERPOLATED, NO_POSE, PoseTrack, VideoError

REPO = Path(__file__).resolve().parent.parent
ENV = {
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "hw-sim")]),
    "MPLBACKEND": "Agg",
}

#: A seated person facing the camera, px in a 854 × 480 frame (x right, y down, z depth).
_REST = {
    "nose": (427, 120, -60),
    "left_shoulder": (500, 200, 0),
    "right_shoulder": (354, 200, 0),
    "left_elbow": (520, 300, 10),
    "right_elbow": (334, 300, 10),
    "left_wrist": (540, 380, -40),
    "right_wrist": (314, 380, -40),
    "left_pinky": (548, 410, -45),
    "right_pinky": (306, 410, -45),
    "left_index": (540, 415, -50),
    "right_index": (314, 415, -50),
}


def synthetic_track(n: int = 300, fps: float = 30.0) -> PoseTrack:
    """The rest pose with the left forearm swinging at 0.5 Hz, a 10-frame hole, one
    interpolated keypoint and Borg ratings: every part of the file has something in it."""
    t = np.arange(n) / fps
    xyz = np.tile(np.array([_REST[k] for k in NAMES], float), (n, 1, 1))
    swing = 40 * np.sin(2 * np.pi * 0.5 * t)
    for name in ("left_wrist", "left_pinky", "left_index"):
        xyz[:, INDEX[name], 0] += swing
    xyz += np.random.default_rng(1).normal(0, 0.5, xyz.shape)
    vis = np.full((n, len(NAMES)), 0.95)
    kflags = np.zeros((n, len(NAMES)), np.uint8)
    fflags = np.zeros(n, np.uint8)
    xyz[100:110] = np.nan
    vis[100:110] = np.nan
    fflags[100:110] = NO_POSE
    kflags[50, INDEX["left_wrist"]] = INTERPOLATED
    return PoseTrack(
        time_s=t,
        xyz_px=xyz,
        visibility=vis,
        keypoint_flags=kflags,
        frame_flags=fflags,
        fps=fps,
        width=854,
        height=480,
        depth_px=854.0,
        source="synthetic test track",
        provenance="simulated",
        notes=["a note"],
        metadata={"worker": 3, "task": "medicine_bottle", "stature_m": 1.72},
        borg_time_s=np.array([0.0, 5.0, 9.0]),
        borg_rating=np.array([1.0, 3.0, 4.0]),
    )


@pytest.fixture(scope="module")
def features():
    return extract_features(synthetic_track())


def test_file_read_back_is_the_file_written(tmp_path, features):
    path = tmp_path / "clip.kin.h5"
    write_features(path, features)
    back = read_features(path)
    a, b = features.track, back.track
    np.testing.assert_array_equal(a.time_s, b.time_s)
    np.testing.assert_allclose(b.xyz_px, a.xyz_px.astype(np.float32), equal_nan=True)
    np.testing.assert_array_equal(a.keypoint_flags, b.keypoint_flags)
    np.testing.assert_array_equal(a.frame_flags, b.frame_flags)
    np.testing.assert_array_equal(a.borg_rating, b.borg_rating)
    assert (b.fps, b.width, b.height, b.provenance, b.source) == (
        a.fps,
        a.width,
        a.height,
        "simulated",
        a.source,
    )
    assert b.notes == a.notes and b.metadata == a.metadata
    with h5py.File(path) as f:
        software = json.loads(f.attrs["software"])
    assert "PyWavelets" in software and "mediapipe" not in software, "simulated: no pose step"
    assert back.feature_names == features.feature_names
    np.testing.assert_array_equal(back.features, features.features)
    np.testing.assert_array_equal(back.wavelets, features.wavelets)
    assert back.nyquist == features.nyquist
    for i in (0, 50, 105, 299):
        np.testing.assert_array_equal(back.voxels.frame(i), features.voxels.frame(i))
    assert np.isnan(back.features[105]).all(), "the hole stays a hole"
    assert not list(tmp_path.glob("*.part")), "no temporary file left"


def test_a_failed_write_leaves_nothing(tmp_path, features, monkeypatch):
    def boom(*_args, **_kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(h5py.Group, "create_dataset", boom)
    with pytest.raises(OSError, match="disk full"):
        write_features(tmp_path / "x.kin.h5", features)
    assert list(tmp_path.iterdir()) == []


def _damaged(tmp_path: Path, features, edit) -> Path:
    path = tmp_path / "d.kin.h5"
    write_features(path, features)
    with h5py.File(path, "a") as f:
        edit(f)
    return path


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda f: f.attrs.__setitem__("format", "something else"), "its format attribute"),
        (lambda f: f.attrs.__setitem__("format_version", VERSION + 1), "update the project"),
        (lambda f: f.__delitem__("features/values"), "'features/values'"),
        (lambda f: f["features"].attrs.__setitem__("wavelet", "haar"), "makes 'db4' matrices only"),
        (
            lambda f: f["features"].attrs.__delitem__("wavelet_levels"),
            "'wavelet_levels' on /features",
        ),
        (lambda f: f.__delitem__("features/nyquist"), "'features/nyquist'"),
        (lambda f: f.attrs.__delitem__("fps"), "'fps'"),
        (lambda f: f.attrs.__setitem__("notes", "not json ["), "'notes' on / is not JSON"),
        (lambda f: f.__delitem__("voxels"), "has no 'voxels'"),
        (lambda f: f["voxels/cells"].__setitem__(0, 9000), "index beyond the 20³ grid"),
        (lambda f: f["pose/time_s"].__setitem__(slice(None), np.arange(300)[::-1]), "time_s"),
        (lambda f: f["pose/visibility"].__setitem__(0, 7.0), "visibility has values outside"),
        (lambda f: f["pose/frame_flags"].__setitem__(0, 255), "bits no flag is named for"),
        (lambda f: f["borg/rating"].__setitem__(0, 50), "Borg CR10 scale"),
        (lambda f: f["borg/rating"].__setitem__(0, np.nan), "Borg CR10 scale"),
        # Frame times that are not the fps's (breaker: 60 fps on a 30-fps file, a jump).
        (lambda f: f.attrs.__setitem__("fps", 60.0), "fps 60 says 0.0166667 s"),
        (
            lambda f: f["pose/time_s"].__setitem__(
                slice(100, None), f["pose/time_s"][100:] + 500.0
            ),
            r"pose/time_s steps by 500\.0",
        ),
        (lambda f: f["features/values"].__setitem__(0, np.inf), "infinite values"),
        (lambda f: f.attrs.__setitem__("width", 0), "'width' on / is 0; allowed: > 0"),
        (lambda f: f.attrs.__setitem__("format_version", 0), "'format_version' on / is 0"),
        (
            lambda f: (f["pose"].__delitem__("xyz_px"), f["pose"].create_group("xyz_px")),
            "'pose/xyz_px' is a group",
        ),
        (
            lambda f: (
                f.__delitem__("pose/frame_flags"),
                f["pose"].create_dataset("frame_flags", data=np.zeros(3, np.uint8)),
            ),
            "frame_flags has shape",
        ),
    ],
)
def test_a_damaged_file_is_one_line_naming_the_key(tmp_path, features, edit, message):
    path = _damaged(tmp_path, features, edit)
    with pytest.raises(VideoError, match=message) as caught:
        read_features(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_not_a_kinematics_file(tmp_path):
    text = tmp_path / "notes.kin.h5"
    text.write_text("hello")
    with pytest.raises(VideoError, match="is not an HDF5 file"):
        read_features(text)
    with pytest.raises(VideoError, match="no such file"):
        read_features(tmp_path / "missing.kin.h5")
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = [1, 2]
    with pytest.raises(VideoError, match=f"is not a {FORMAT} file"):
        read_features(other)


def run_host(*argv: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "host", *argv],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_video_plot_writes_every_figure(tmp_path, features):
    path = tmp_path / "worker.kin.h5"
    write_features(path, features)
    done = run_host("video", "plot", str(path), "--frame", "20")
    assert done.returncode == 0, done.stderr
    for suffix in ("_features.png", "_wavelets.png", "_voxels.png", "_nyquist.png"):
        png = tmp_path / f"worker{suffix}"
        assert png.stat().st_size > 10_000, png
        assert str(png) in done.stdout
    again = run_host("video", "plot", str(path), "--frame", "300")
    assert again.returncode == 2
    assert again.stderr.strip() == f"error: {path}: --frame 300 is outside 0..299"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("video", "extract"), "error: extract: give a video file, or --camera N for a camera"),
        (("video", "extract", "--camera", "0"), "error: --camera: give --out FILE"),
        (
            ("video", "extract", "README.md", "--out", "x.h5"),
            "error: x.h5: --out must name a kinematics file ending in .kin.h5",
        ),
        (
            ("video", "extract", "README.md", "--overlay", "x.avi", "--out", "x.kin.h5"),
            "error: x.avi: --overlay must end in .gif or .mp4",
        ),
        (("video", "plot", "README.md"), "error: README.md: is not an HDF5 file"),
        (
            ("video", "extract", "README.md", "--out", "/proc/no/x.kin.h5"),
            "error: /proc/no/x.kin.h5: cannot be written (",
        ),
    ],
)
def test_video_command_bad_arguments_are_one_line(argv, message):
    done = run_host(*argv)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(message), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_extract_refuses_an_output_that_exists_or_is_the_clip(tmp_path):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"not read: the outputs are checked first")
    taken = tmp_path / "taken.gif"
    taken.write_bytes(b"a user's file")
    cases = {
        ("--overlay", str(clip)): f"error: {clip}: is the clip itself: give --overlay another",
        ("--overlay", str(taken)): f"error: {taken}: exists; move it away or give --overlay",
        ("--out", str(taken.with_suffix(".kin.h5")), "--overlay", str(taken)): f"error: {taken}",
    }
    for extra, message in cases.items():
        done = run_host("video", "extract", str(clip), *extra)
        assert done.returncode == 2 and done.stderr.startswith(message), done.stderr
    assert taken.read_bytes() == b"a user's file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "taken.gif"]
