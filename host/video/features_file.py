"""The video kinematics file: one HDF5 file per clip or simulated session.

Written by ``python -m host video extract`` and by the simulated workers' dataset command
(``python -m hwsim.worker_dataset``); read by ``python -m host video plot`` and by training.
Reader apart from writer (the MNE-Python habit); the layout's facts live here only.

Layout (``format`` = :data:`FORMAT`, ``format_version`` = :data:`VERSION`)::

    /                attrs: format, format_version, provenance, source, fps, width, height,
                            depth_px, created_utc, software (JSON), notes (JSON list),
                            metadata (JSON object)
    /pose/time_s            (n_frames,) float64, s
    /pose/xyz_px            (n_frames, 11, 3) float32, px (seed 000 eqs. 1–3); NaN unknown
    /pose/visibility        (n_frames, 11) float32, 0–1
    /pose/keypoint_flags    (n_frames, 11) uint8, bits named in attr flag_names (JSON)
    /pose/frame_flags       (n_frames,) uint8, bits named in attr flag_names (JSON)
    /pose                   attrs: keypoints (JSON list of the 11 names)
    /borg/time_s, /borg/rating   (n_ratings,) float64: Borg CR10 ratings
    /features/values        (n_frames, n_features) float32; attr names (JSON list)
    /features               attrs: wavelet ("db4"), wavelet_levels (l)
    /features/nyquist/<field>   one array per field of NyquistReport, one row per feature
    /voxels/<field>         one dataset (array) or attr (scalar, tuple) per SparseVoxels field

The wavelet matrices are not stored: they are a function of ``/features/values`` (seed
eqs. 5–6, :func:`host.video.wavelets.wavelet_matrices`) and are made again on reading,
identical to the extraction's (it computes them from the same float32 values). Stored,
they were 112 of a 30-minute session's 123 MB; made again, they take about 0.5 s.
The big arrays are chunked by frames and compressed (gzip with the shuffle filter).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import fields
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np

from host.video.keypoints import NAMES
from host.video.kinematics import NyquistReport
from host.video.pipeline import VideoFeatures
from host.video.track import FRAME_FLAGS, KEYPOINT_FLAGS, PoseTrack, VideoError
from host.video.voxels import VOXEL_SIZE, SparseVoxels
from host.video.wavelets import WAVELET, wavelet_matrices

__all__ = ["FORMAT", "SUFFIX", "VERSION", "read_features", "write_features"]

#: The root ``format`` attribute that says a file is one of these.
FORMAT = "nirs-fatigue video kinematics"
#: Layout version written; a reader refuses newer ones.
VERSION = 1
#: File name suffix the commands write and propose.
SUFFIX = ".kin.h5"
#: How far a step of pose/time_s may be from 1/fps, as a fraction of it: tracks are
#: written at a steady rate (extract resamples to 30 fps; a session's times carry the
#: device clock's drift, at most 1 %, host.video.sync.MAX_RATE_ERROR); a wrong fps, a jump
#: or stretched times in a damaged file are far outside.
FRAME_INTERVAL_TOLERANCE = 0.05
#: Frames per HDF5 chunk of the big arrays (30 s at 30 fps, the seed's window length).
CHUNK_FRAMES = 900
#: Packages whose versions are written with every file (what made its numbers).
_SOFTWARE = ("mediapipe", "PyWavelets", "numpy", "opencv-contrib-python", "h5py")


def _versions(provenance: str) -> dict[str, str]:
    out = {}
    # Simulated keypoints never met a camera: MediaPipe and OpenCV made none of their numbers.
    pose_software = {"mediapipe", "opencv-contrib-python"}
    for name in _SOFTWARE:
        if provenance == "simulated" and name in pose_software:
            continue
        try:
            out[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            continue
    return out


def _big(group: Any, name: str, array: np.ndarray) -> None:
    chunks = (min(len(array), CHUNK_FRAMES),) + array.shape[1:] if len(array) else None
    group.create_dataset(
        name,
        data=array,
        chunks=chunks,
        compression="gzip" if chunks else None,
        shuffle=bool(chunks),
    )


def write_features(path: Path, vf: VideoFeatures) -> None:
    """Write ``vf`` to ``path`` (all or nothing: a temporary file renamed into place).

    Raises
    ------
    OSError
        The folder does not exist or cannot be written.
    """
    import h5py

    path = Path(path)
    track = vf.track
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o644)  # mkstemp makes it 0600; a dataset is meant to be shared
    try:
        with h5py.File(tmp, "w") as f:
            attrs = {
                "format": FORMAT,
                "format_version": VERSION,
                "provenance": track.provenance,
                "source": track.source,
                "fps": float(track.fps),
                "width": int(track.width),
                "height": int(track.height),
                "depth_px": float(track.depth_px),
                "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
                "software": json.dumps(_versions(track.provenance)),
                "notes": json.dumps(list(track.notes)),
                "metadata": json.dumps(track.metadata),
            }
            f.attrs.update(attrs)
            pose = f.create_group("pose")
            pose.attrs["keypoints"] = json.dumps(list(NAMES))
            pose.create_dataset("time_s", data=np.asarray(track.time_s, np.float64))
            _big(pose, "xyz_px", np.asarray(track.xyz_px, np.float32))
            _big(pose, "visibility", np.asarray(track.visibility, np.float32))
            _big(pose, "keypoint_flags", np.asarray(track.keypoint_flags, np.uint8))
            pose["keypoint_flags"].attrs["flag_names"] = json.dumps(KEYPOINT_FLAGS)
            _big(pose, "frame_flags", np.asarray(track.frame_flags, np.uint8))
            pose["frame_flags"].attrs["flag_names"] = json.dumps(FRAME_FLAGS)
            borg = f.create_group("borg")
            borg.create_dataset("time_s", data=np.asarray(track.borg_time_s, np.float64))
            borg.create_dataset("rating", data=np.asarray(track.borg_rating, np.float64))
            feats = f.create_group("features")
            feats.attrs["names"] = json.dumps(list(vf.feature_names))
            _big(feats, "values", np.asarray(vf.features, np.float32))
            nyq = feats.create_group("nyquist")
            for fld in fields(NyquistReport):
                nyq.create_dataset(fld.name, data=[getattr(r, fld.name) for r in vf.nyquist])
            feats.attrs["wavelet"] = WAVELET
            feats.attrs["wavelet_levels"] = vf.n_levels
            vox = f.create_group("voxels")
            for fld in fields(SparseVoxels):
                value = getattr(vf.voxels, fld.name)
                if isinstance(value, np.ndarray):
                    vox.create_dataset(fld.name, data=value)
                else:
                    vox.attrs[fld.name] = json.dumps(value)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _dataset(f: Any, key: str, path: Path) -> np.ndarray:
    import h5py

    if key not in f:
        raise VideoError(path, f"has no {key!r}: not a complete {FORMAT} file")
    if not isinstance(f[key], h5py.Dataset):
        raise VideoError(path, f"{key!r} is a group, expected an array")
    return f[key][()]


def _attr(obj: Any, key: str, path: Path, where: str = "/") -> Any:
    if key not in obj.attrs:
        raise VideoError(path, f"has no attribute {key!r} on {where}")
    value = obj.attrs[key]
    return value.decode() if isinstance(value, bytes) else value


def _json(obj: Any, key: str, path: Path, where: str = "/") -> Any:
    text = _attr(obj, key, path, where)
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        raise VideoError(path, f"attribute {key!r} on {where} is not JSON") from None


def _number(obj: Any, key: str, path: Path, kind: type, where: str = "/") -> Any:
    value = _attr(obj, key, path, where)
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise VideoError(path, f"attribute {key!r} on {where} is {value!r}, not a number") from None
    if not np.isfinite(number) or number <= 0:
        raise VideoError(path, f"attribute {key!r} on {where} is {number}; allowed: > 0")
    return number


def _validate(vf: VideoFeatures, path: Path) -> None:
    """Values a written file cannot hold: a damaged or hand-edited file, named by key."""
    track = vf.track
    n, n_feat = track.n_frames, len(vf.feature_names)
    problems = []
    t = track.time_s
    steps = np.diff(t)
    off = np.abs(steps * track.fps - 1.0)  # each step's distance from 1/fps, fraction of it
    if not np.isfinite(t).all() or not (steps > 0).all():
        problems.append("pose/time_s is not finite and strictly increasing")
    elif n > 1 and off.max() > FRAME_INTERVAL_TOLERANCE:
        worst = float(steps[np.argmax(off)])
        problems.append(
            f"pose/time_s steps by {worst:.6g} s where fps {track.fps:g} says "
            f"{1 / track.fps:.6g} s (every track is written at a steady rate)"
        )
    vis = track.visibility[np.isfinite(track.visibility)]
    if ((vis < 0) | (vis > 1)).any():
        problems.append("pose/visibility has values outside 0..1")
    for key, flags, names in (
        ("pose/keypoint_flags", track.keypoint_flags, KEYPOINT_FLAGS),
        ("pose/frame_flags", track.frame_flags, FRAME_FLAGS),
    ):
        if (flags & ~np.uint8(sum(names.values()))).any():
            problems.append(f"{key} has bits no flag is named for")
    rating = track.borg_rating
    if (
        not np.isfinite(track.borg_time_s).all()
        or not np.isfinite(rating).all()
        or ((rating < 0) | (rating > 10)).any()
        or (np.diff(track.borg_time_s) < 0).any()
    ):
        problems.append(
            "borg/rating is not on the Borg CR10 scale 0..10, or its times are not finite "
            "and in order"
        )
    if vf.features.shape != (n, n_feat):
        problems.append(
            f"features/values has shape {vf.features.shape}, expected {n} frames × {n_feat} "
            "feature names"
        )
    elif np.isinf(vf.features).any():
        problems.append("features/values holds infinite values")
    offsets, cells = vf.voxels.offsets, vf.voxels.cells
    if (
        len(offsets) != n + 1
        or offsets[0] != 0
        or (np.diff(offsets) < 0).any()
        or offsets[-1] != len(cells)
    ):
        problems.append(f"voxels/offsets is not {n + 1} rising entries from 0 to len(cells)")
    elif len(cells) and int(cells.max()) >= VOXEL_SIZE**3:
        problems.append(f"voxels/cells has an index beyond the {VOXEL_SIZE}³ grid")
    if problems:
        raise VideoError(path, f"is damaged: {problems[0]}")


def read_features(path: Path) -> VideoFeatures:
    """Read a file written by :func:`write_features`.

    Raises
    ------
    VideoError
        The file is missing, not HDF5, not this format, of a newer layout version, or a
        part is missing or of the wrong shape (the message names the key).
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise VideoError(path, "no such file")
    try:
        f = h5py.File(path, "r")
    except OSError:
        raise VideoError(path, f"is not an HDF5 file: not a {FORMAT} file ({SUFFIX})") from None
    try:
        with f:
            vf = _read(f, path)
    except (KeyError, OSError) as exc:  # h5py on a damaged object or chunk
        raise VideoError(path, f"is damaged: {' '.join(str(exc).split())}") from None
    _validate(vf, path)
    vf.wavelets = wavelet_matrices(vf.features.astype(np.float64), levels=vf.n_levels).astype(
        np.float32
    )
    return vf


def _read(f: Any, path: Path) -> VideoFeatures:
    """The file's parts as they are (:func:`read_features` checks and completes them)."""
    if f.attrs.get("format") != FORMAT:
        raise VideoError(
            path,
            f"is not a {FORMAT} file ({SUFFIX}): its format attribute "
            f"is {f.attrs.get('format')!r}",
        )
    version = _number(f, "format_version", path, int)
    if version > VERSION:
        raise VideoError(
            path,
            f"is layout version {version}; this reader reads up to "
            f"{VERSION}: update the project",
        )
    names = _json(f["pose"], "keypoints", path, "/pose") if "pose" in f else None
    if names != list(NAMES):
        raise VideoError(path, f"/pose keypoints are {names}, expected {list(NAMES)}")
    if "features/nyquist" not in f:
        raise VideoError(path, "has no 'features/nyquist'")
    nyquist_group = f["features/nyquist"]
    columns = {fld.name: _dataset(nyquist_group, fld.name, path) for fld in fields(NyquistReport)}
    nyquist = [
        NyquistReport(
            **{
                k: (v[i].decode() if isinstance(v[i], bytes) else v[i].item())
                for k, v in columns.items()
            }
        )
        for i in range(len(columns["name"]))
    ]
    if "voxels" not in f:
        raise VideoError(path, f"has no 'voxels': not a complete {FORMAT} file")
    voxel_args = {}
    for fld in fields(SparseVoxels):
        if f"voxels/{fld.name}" in f:
            voxel_args[fld.name] = f[f"voxels/{fld.name}"][()]
        else:
            value = _json(f["voxels"], fld.name, path, "/voxels")
            voxel_args[fld.name] = tuple(value) if isinstance(value, list) else value
    try:
        track = PoseTrack(
            time_s=_dataset(f, "pose/time_s", path),
            xyz_px=_dataset(f, "pose/xyz_px", path).astype(np.float64),
            visibility=_dataset(f, "pose/visibility", path).astype(np.float64),
            keypoint_flags=_dataset(f, "pose/keypoint_flags", path),
            frame_flags=_dataset(f, "pose/frame_flags", path),
            fps=_number(f, "fps", path, float),
            width=_number(f, "width", path, int),
            height=_number(f, "height", path, int),
            depth_px=_number(f, "depth_px", path, float),
            source=str(_attr(f, "source", path)),
            provenance=str(_attr(f, "provenance", path)),
            notes=list(_json(f, "notes", path)),
            metadata=dict(_json(f, "metadata", path)),
            borg_time_s=_dataset(f, "borg/time_s", path),
            borg_rating=_dataset(f, "borg/rating", path),
        )
        features = _dataset(f, "features/values", path)
        wavelet = _attr(f["features"], "wavelet", path, "/features")
        if wavelet != WAVELET:
            raise VideoError(
                path,
                f"/features wavelet is {wavelet!r}; this reader makes "
                f"{WAVELET!r} matrices only",
            )
        levels = _number(f["features"], "wavelet_levels", path, int, "/features")
        vf = VideoFeatures(
            track=track,
            feature_names=tuple(_json(f["features"], "names", path, "/features")),
            features=features,
            nyquist=nyquist,
            wavelets=np.zeros((0, 0, levels), np.float32),  # made below, once checked
            voxels=SparseVoxels(**voxel_args),
        )
    except (ValueError, TypeError) as exc:  # PoseTrack's shape checks, wrong dtypes
        raise VideoError(path, f"is damaged: {' '.join(str(exc).split())}") from None
    return vf
