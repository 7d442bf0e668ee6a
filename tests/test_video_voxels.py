"""3D posture voxels (issue 15, point 4): host.video.voxels on hand-placed skeletons.

The tracks use a 854 × 480 frame and depth_px = 500, so grid x, y are the pixels
themselves and grid z = 250 + z_px. The expected cells are computed here another way:
each segment stepped 20 001 times (a step far below one grid cell), rounded half up, kept as a
Python set of grid cells, then pooled by integer division into the crop's 24-px blocks.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from host.video.keypoints import INDEX, NAMES, SEGMENTS
from host.video.track import PoseTrack
from host.video.voxels import (
    CROP_SIZE_PX,
    GRID_SHAPE,
    VOXEL_SIZE,
    SparseVoxels,
    grid_coordinates,
    voxelize,
)

POOL = CROP_SIZE_PX // VOXEL_SIZE
#: grid z = 250 + z_px with depth_px = 500 (x, y unchanged on a 854 × 480 frame).
TO_GRID = np.array([0.0, 0.0, 250.0])


def make_track(xyz: np.ndarray, width: int = 854, height: int = 480, depth_px: float = 500.0):
    return PoseTrack.from_keypoints(
        xyz,
        fps=30.0,
        width=width,
        height=height,
        depth_px=depth_px,
        source="hand-built",
        provenance="simulated",
    )


def t_pose() -> np.ndarray:
    """Arms straight out sideways at shoulder height, hands open flat; z_px = 0."""
    pose = {
        "nose": (427, 120, 0),
        "left_shoulder": (507, 200, 0),
        "right_shoulder": (347, 200, 0),
        "left_elbow": (567, 200, 0),
        "right_elbow": (287, 200, 0),
        "left_wrist": (627, 200, 0),
        "right_wrist": (227, 200, 0),
        "left_pinky": (647, 208, 0),
        "right_pinky": (207, 208, 0),
        "left_index": (647, 192, 0),
        "right_index": (207, 192, 0),
    }
    return np.array([pose[name] for name in NAMES], dtype=np.float64)


def expected_cells(grid_pose: np.ndarray, origin: np.ndarray) -> set[tuple[int, int, int]]:
    """Occupied 20³ voxels of one pose given in grid px, by dense stepping and pooling."""
    points: set[tuple[int, int, int]] = set()
    known = np.isfinite(grid_pose).all(axis=1)
    for k in np.flatnonzero(known):
        points.add(tuple(int(v) for v in np.floor(grid_pose[k] + 0.5)))
    for a, b in SEGMENTS:
        if known[a] and known[b]:
            t = np.linspace(0, 1, 20001)[:, None]
            for p in np.floor(grid_pose[a] + t * (grid_pose[b] - grid_pose[a]) + 0.5):
                points.add(tuple(int(v) for v in p))
    cells = set()
    for p in points:
        rel = np.array(p) - origin
        if (rel >= 0).all() and (rel < CROP_SIZE_PX).all():
            cells.add(tuple(int(v) for v in rel // POOL))
    return cells


def occupied(volume: np.ndarray) -> set[tuple[int, int, int]]:
    return {tuple(int(v) for v in idx) for idx in np.argwhere(volume)}


def test_grid_is_the_seeds_and_keypoints_map_onto_it() -> None:
    assert GRID_SHAPE == (854, 480, 500) and VOXEL_SIZE == 20
    assert CROP_SIZE_PX % VOXEL_SIZE == 0
    xyz = np.full((1, 11, 3), np.nan)
    xyz[0, 0] = (640.0, 360.0, -640.0)  # centre of a 1280 × 720 frame, z_norm = −0.5
    xyz[0, 1] = (1280.0, 0.0, 2000.0)  # beyond the right edge and the back of the grid
    grid, n_clipped = grid_coordinates(make_track(xyz, 1280, 720, 1280.0))
    np.testing.assert_allclose(grid[0, 0], (427.0, 240.0, 0.0))
    np.testing.assert_allclose(grid[0, 1], (853.0, 0.0, 499.0))
    assert n_clipped == 1 and np.isnan(grid[0, 2:]).all()


def test_t_pose_occupies_exactly_the_expected_cells() -> None:
    pose = t_pose()
    voxels = voxelize(make_track(pose[None]))
    grid = pose + TO_GRID
    origin = np.floor(grid.mean(axis=0) + 0.5).astype(int) - CROP_SIZE_PX // 2
    np.testing.assert_array_equal(voxels.crop_origin_px, origin)
    got = occupied(voxels.frame(0))
    assert got == expected_cells(grid, origin)
    # By hand: the arms are one straight row at grid y = 200, z = 250, x 207..647.
    iy, iz = (200 - origin[1]) // POOL, (250 - origin[2]) // POOL
    row = {(ix, iy, iz) for ix in range((207 - origin[0]) // POOL, (647 - origin[0]) // POOL + 1)}
    assert row <= got
    assert voxels.n_clipped == 0 and voxels.n_outside_crop == 0 and voxels.notes == []


def test_long_3d_segments_are_continuous_and_match_dense_stepping() -> None:
    pose = t_pose()
    pose[INDEX["left_wrist"]] = (640, 420, -230)  # reaching down, right and towards the camera
    pose[INDEX["left_index"]] = (650, 440, -240)
    pose[INDEX["left_pinky"]] = (640, 445, -235)
    pose[INDEX["right_elbow"]] = (300, 330, 200)
    voxels = voxelize(make_track(pose[None]))
    grid = pose + TO_GRID
    volume = voxels.frame(0)
    assert occupied(volume) == expected_cells(grid, voxels.crop_origin_px)
    _, n_parts = ndimage.label(volume, structure=np.ones((3, 3, 3)))
    assert n_parts == 1  # the whole skeleton is one 26-connected piece


def test_unknown_keypoint_removes_its_segments_only() -> None:
    pose = t_pose()
    frames = np.array([pose, pose, np.full_like(pose, np.nan)])
    frames[1, INDEX["left_elbow"]] = np.nan
    voxels = voxelize(make_track(frames))
    origin = voxels.crop_origin_px
    whole, no_elbow = occupied(voxels.frame(0)), occupied(voxels.frame(1))
    assert no_elbow == expected_cells(frames[1] + TO_GRID, origin)
    assert no_elbow < whole
    # The upper arm and forearm (x 507..627 at y 200) are gone; the hand is still there.
    iy, iz = (200 - origin[1]) // POOL, (250 - origin[2]) // POOL
    assert ((567 - origin[0]) // POOL, iy, iz) in whole - no_elbow
    assert ((647 - origin[0]) // POOL, iy, iz) in no_elbow
    _, n_parts = ndimage.label(voxels.frame(1), structure=np.ones((3, 3, 3)))
    assert n_parts == 2  # the body and the detached hand
    assert voxels.frame(2).sum() == 0  # no known keypoint: an empty frame


def test_sparse_storage_round_trips() -> None:
    rng = np.random.default_rng(8)
    frames = t_pose()[None] + rng.normal(0, 15, (12, 11, 3))
    frames[4] = np.nan
    voxels = voxelize(make_track(frames))
    assert isinstance(voxels, SparseVoxels) and voxels.n_frames == 12
    assert voxels.offsets.dtype == np.int64 and voxels.offsets.shape == (13,)
    assert voxels.cells.dtype == np.uint16 and voxels.offsets[-1] == len(voxels.cells)
    dense = voxels.dense(0, 12)
    assert dense.shape == (12, 20, 20, 20) and dense.dtype == np.uint8
    for i in range(12):
        np.testing.assert_array_equal(voxels.frame(i), dense[i])
        cells = voxels.cells[voxels.offsets[i] : voxels.offsets[i + 1]]
        assert (np.diff(cells.astype(int)) > 0).all()
        np.testing.assert_array_equal(np.flatnonzero(dense[i].ravel()), cells)
    np.testing.assert_array_equal(voxels.dense(3, 7), dense[3:7])
    assert dense[4].sum() == 0 and dense.sum() == len(voxels.cells)
    with pytest.raises(IndexError, match="0 ≤ i < 12"):
        voxels.frame(12)
    with pytest.raises(IndexError):
        voxels.dense(5, 13)


def test_points_off_the_grid_or_crop_are_counted() -> None:
    pose = t_pose()
    pose[INDEX["left_index"]] = (847, 192, -400)  # z_grid −150: clipped onto the front face
    frames = np.array([pose, t_pose()])
    frames[1, INDEX["right_wrist"]] = (-300, 200, 0)  # off the frame to the left
    voxels = voxelize(make_track(frames))
    assert voxels.n_clipped == 2
    # Both clipped points end up beyond the crop's x range (about 186..665): not drawn.
    assert voxels.n_outside_crop == 2
    assert len(voxels.notes) == 2 and "clipped" in voxels.notes[0]
    # The segments towards them are drawn up to the crop's edge: one piece each frame.
    for i in range(2):
        assert ndimage.label(voxels.frame(i), structure=np.ones((3, 3, 3)))[1] == 1
