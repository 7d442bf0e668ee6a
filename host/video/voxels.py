"""3D posture voxels (seed 000 §III-B, eq. 7): the skeleton drawn in a grid, cropped, pooled.

Per frame (seed §III-B): the keypoints are placed in a blank 854 × 480 × 500 grid
(:data:`GRID_SHAPE`, axes x, y, z) and the cells at their rounded coordinates set to 1;
each segment of :data:`host.video.keypoints.SEGMENTS` is filled by linear interpolation
P(t) = P1 + t·(P2 − P1), t ∈ [0, 1] (eq. 7); the grid is cropped around the mean keypoint
position and reduced to 20 × 20 × 20 (:data:`VOXEL_SIZE`).

Grid coordinates (the seed's frame is W × H × D = 854 × 480 × 500, eqs. 1–3):

- x_grid = x_px · 854 / W and y_grid = y_px · 480 / H (the frame stretched onto the grid);
- z_grid = 250 + (z_px / depth_px) · 500: MediaPipe's normalised depth (0 at the hip
  midpoint, negative towards the camera) times the grid's depth D = 500, offset so depth 0
  sits mid-grid. Coordinates outside the grid are clipped onto its faces and counted
  (:attr:`SparseVoxels.n_clipped`).

Rounding is half up, floor(p + 0.5), so grid cell c holds the points [c − 0.5, c + 0.5).
"No cell skipped": every grid cell that the straight segment passes through is set (its
supercover), not only the cells at a finite set of t. Since only the pooled cells are
kept, this is computed exactly in the pooled grid: the values of t where P(t) crosses a
block boundary (a plane at a block's first cell − 0.5) split [0, 1] into intervals, each
inside one block; the block of each interval's midpoint is set. That is the limit of
eq. 7 stepped ever more finely, and costs at most 3·21 + 1 samples per segment.

Crop (:data:`CROP_SIZE_PX`): a cube of 480 grid px per side, placed once per track with its
centre on the mean of every known keypoint over the whole track (so a drifting posture
moves within the crop). 480 is the grid's whole height (assumption: a worker framed from
the head to the work surface fills at most the frame's height, so nothing in view is cut
vertically wherever the mean sits); the same 480 px sideways hold the arms to ±240 px of
the body's mean, enough for work done in front of the body (arms spread wide in a T-pose
at full frame height would be cut, and counted in ``n_outside_crop``); and 480 of the
grid's 500 depth cells. A cube keeps the voxels isotropic, so the 3D-CNN's kernels span
the same length on every axis.

Reduction: each output voxel is a 24 × 24 × 24 block of the crop (480 / 20), occupied when
any grid cell in it is (max pooling). A one-cell-wide skeleton fills about 1/24 of a
block, so averaging would leave almost nothing; max pooling keeps every limb present and
26-connected. Stored sparse (CSR by frame). The dense 854 × 480 × 500 grid (205 MB) is
never built: the blocks are found from the segments directly (above).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from host.video.keypoints import SEGMENTS
from host.video.track import PoseTrack

__all__ = [
    "CROP_SIZE_PX",
    "GRID_SHAPE",
    "VOXEL_SIZE",
    "SparseVoxels",
    "grid_coordinates",
    "voxelize",
]

#: The seed's blank matrix, cells along x, y, z (seed 000 §III-B: "854 × 480 × 500").
GRID_SHAPE: tuple[int, int, int] = (854, 480, 500)
#: Cells per side of the reduced grid (seed 000 §III-B: "a final matrix size of 20 × 20 × 20").
VOXEL_SIZE = 20
#: Side of the cubic crop, grid px (module docstring: the grid's height; an assumption).
CROP_SIZE_PX = 480
#: Grid px per output voxel along each axis.
POOL_PX = CROP_SIZE_PX // VOXEL_SIZE
#: Frames drawn together (bounds the temporary arrays to a few tens of MB).
_CHUNK_FRAMES = 256


@dataclass
class SparseVoxels:
    """Occupied voxels of each frame, CSR by frame.

    Attributes
    ----------
    offsets : ndarray, shape (n_frames + 1,), int64
        Frame i's cells are ``cells[offsets[i]:offsets[i + 1]]``.
    cells : ndarray, shape (n_cells,), uint16
        Flat C-order index into the 20 × 20 × 20 grid, axes (x, y, z):
        ``(ix · 20 + iy) · 20 + iz``; sorted within a frame.
    crop_origin_px : ndarray, shape (3,), int64
        Grid coordinates (x, y, z) of the crop's first cell: voxel (ix, iy, iz) covers grid
        cells ``crop_origin_px + POOL_PX · (ix, iy, iz)`` up to ``+ POOL_PX − 1``.
    crop_size_px : int
        Side of the cubic crop, grid px.
    n_clipped : int
        Keypoints (over all frames) whose grid coordinates fell outside the grid and were
        clipped onto its faces.
    n_outside_crop : int
        Keypoints (over all frames) outside the crop: not drawn, nor the segment parts there.
    notes : list of str
        The two counts above as sentences, when not zero.
    """

    offsets: np.ndarray
    cells: np.ndarray
    crop_origin_px: np.ndarray
    crop_size_px: int = CROP_SIZE_PX
    n_clipped: int = 0
    n_outside_crop: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def n_frames(self) -> int:
        """Number of frames."""
        return len(self.offsets) - 1

    def dense(self, start: int, stop: int) -> np.ndarray:
        """Frames ``start``..``stop - 1`` as ndarray (n, 20, 20, 20) uint8, 1 = occupied.

        Raises IndexError unless 0 ≤ start ≤ stop ≤ n_frames.
        """
        if not 0 <= start <= stop <= self.n_frames:
            raise IndexError(
                f"SparseVoxels: frames {start}..{stop} asked, 0 ≤ start ≤ stop ≤ {self.n_frames}"
            )
        out = np.zeros((stop - start, VOXEL_SIZE**3), dtype=np.uint8)
        lo, hi = self.offsets[start], self.offsets[stop]
        rows = np.repeat(np.arange(stop - start), np.diff(self.offsets[start : stop + 1]))
        out[rows, self.cells[lo:hi]] = 1
        return out.reshape(stop - start, VOXEL_SIZE, VOXEL_SIZE, VOXEL_SIZE)

    def frame(self, i: int) -> np.ndarray:
        """Frame ``i`` as ndarray (20, 20, 20) uint8. Raises IndexError outside 0..n_frames−1."""
        if not 0 <= i < self.n_frames:
            raise IndexError(f"SparseVoxels: frame {i} asked, 0 ≤ i < {self.n_frames}")
        return self.dense(i, i + 1)[0]


def grid_coordinates(track: PoseTrack) -> tuple[np.ndarray, int]:
    """Keypoints in the seed's grid (module docstring), clipped onto it.

    Returns ``(xyz_grid, n_clipped)``: ndarray (n_frames, 11, 3) float64 in grid px, NaN
    where unknown, and how many known keypoints were clipped.
    """
    scale = np.array(
        [GRID_SHAPE[0] / track.width, GRID_SHAPE[1] / track.height, GRID_SHAPE[2] / track.depth_px]
    )
    grid = np.asarray(track.xyz_px, dtype=np.float64) * scale
    grid[..., 2] += GRID_SHAPE[2] / 2
    upper = np.array(GRID_SHAPE, dtype=np.float64) - 1
    known = np.isfinite(grid).all(axis=2)
    outside = known & ((grid < 0) | (grid > upper)).any(axis=2)
    return np.clip(grid, 0.0, upper), int(outside.sum())


def _block_coordinates(points: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """Grid px → crop block coordinates u: grid cell floor(p + 0.5) is in block floor(u)."""
    return (points - origin + 0.5) / POOL_PX


def _flat_blocks(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Block coordinates (nf, m, 3) → (frame index, flat voxel index) of those in the crop."""
    block = np.floor(u)
    inside = np.isfinite(block).all(axis=2) & ((block >= 0) & (block < VOXEL_SIZE)).all(axis=2)
    frame_idx = np.broadcast_to(np.arange(u.shape[0])[:, None], inside.shape)[inside]
    cell = block[inside].astype(np.int64)
    return frame_idx, (cell[:, 0] * VOXEL_SIZE + cell[:, 1]) * VOXEL_SIZE + cell[:, 2]


def _segment_samples(u1: np.ndarray, u2: np.ndarray) -> np.ndarray:
    """(nf, 3) ends in block coordinates → (nf, m, 3): one point inside each block crossed.

    The crossings of the planes u = 0..VOXEL_SIZE on each axis (outside the crop nothing
    is kept, and a straight segment leaves the convex crop at most once) cut t ∈ [0, 1];
    the midpoints of the cuts and both ends are returned.
    """
    planes = np.arange(VOXEL_SIZE + 1, dtype=np.float64)
    d = (u2 - u1)[:, :, None]  # (nf, 3, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (planes - u1[:, :, None]) / d  # (nf, 3, 21)
    t = np.where(np.isfinite(t) & (t > 0) & (t < 1), t, 1.0).reshape(len(u1), -1)
    n = len(u1)
    t = np.sort(np.concatenate([np.zeros((n, 1)), t, np.ones((n, 1))], axis=1), axis=1)
    samples = np.concatenate([t[:, :1], 0.5 * (t[:, 1:] + t[:, :-1]), t[:, -1:]], axis=1)
    return u1[:, None] + samples[:, :, None] * (u2 - u1)[:, None]


def voxelize(track: PoseTrack) -> SparseVoxels:
    """The 20 × 20 × 20 posture voxels of every frame of ``track`` (seed §III-B, eq. 7).

    A segment with an unknown end is not drawn; a known keypoint is drawn even when its
    segments are not; a frame with no known keypoint is empty. See the module docstring
    for the grid, the crop and the pooling.
    """
    grid, n_clipped = grid_coordinates(track)
    known = np.isfinite(grid).all(axis=2)
    centre = grid[known].mean(axis=0) if known.any() else np.array(GRID_SHAPE) / 2
    origin = np.floor(centre + 0.5).astype(np.int64) - CROP_SIZE_PX // 2
    rel = np.floor(grid[known] + 0.5) - origin
    n_outside = int(((rel < 0) | (rel >= CROP_SIZE_PX)).any(axis=1).sum())

    keys: list[np.ndarray] = []
    n_cells_total = VOXEL_SIZE**3
    for first in range(0, track.n_frames, _CHUNK_FRAMES):
        chunk = grid[first : first + _CHUNK_FRAMES]
        u = _block_coordinates(chunk, origin)
        parts = [_flat_blocks(u)]
        for a, b in SEGMENTS:
            both = np.isfinite(u[:, a]).all(axis=1) & np.isfinite(u[:, b]).all(axis=1)
            if both.any():
                frame_idx, cell = _flat_blocks(_segment_samples(u[both, a], u[both, b]))
                parts.append((np.flatnonzero(both)[frame_idx], cell))
        for frame_idx, cell in parts:
            keys.append((frame_idx + first) * n_cells_total + cell)
    flat = np.unique(np.concatenate(keys)) if keys else np.zeros(0, dtype=np.int64)
    counts = np.bincount(flat // n_cells_total, minlength=track.n_frames)
    offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    notes = []
    if n_clipped:
        notes.append(
            f"{n_clipped} keypoint positions outside the {GRID_SHAPE} grid clipped onto its faces"
        )
    if n_outside:
        notes.append(
            f"{n_outside} keypoint positions outside the {CROP_SIZE_PX}-px crop: "
            "the skeleton is drawn up to the crop's edge"
        )
    return SparseVoxels(
        offsets=offsets,
        cells=(flat % n_cells_total).astype(np.uint16),
        crop_origin_px=origin,
        crop_size_px=CROP_SIZE_PX,
        n_clipped=n_clipped,
        n_outside_crop=n_outside,
        notes=notes,
    )
