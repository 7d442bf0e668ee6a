"""The camera beside a session record: which files, whose clock, and pose put on it.

A session's camera is found by name beside its ``.nrec`` record (docs/video_session.md):
``<stem>.kin.h5``, a kinematics file whose times are on the device's clock, or
``<stem>.video.avi`` with its frame table ``<stem>.frames.csv`` (``host collect --video``).
A kinematics file says whose it is in its metadata (:func:`session_identity`): times on
the device's clock, and the record it belongs to by the record's start (the Unix time in
its header event, :func:`device.recorder`), so a renamed pair still matches and a file
left beside another session's record is refused (:func:`check_belongs`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from host.video.track import VideoError

if TYPE_CHECKING:
    from host.session import SessionRecord
    from host.video.pipeline import VideoFeatures
    from host.video.sync import FrameTable

__all__ = [
    "RECORD_SUFFIX",
    "beside",
    "check_belongs",
    "frame_table_beside",
    "on_device_clock",
    "pose_on_device_clock",
    "session_identity",
]

RECORD_SUFFIX = ".nrec"
#: The kinematics metadata keys :func:`session_identity` writes.
_CLOCK, _RECORD, _START = "clock", "session_record", "session_unix_time_s"


def beside(record_path: Path, suffix: str) -> Path:
    """``<stem><suffix>`` beside the record ``<stem>.nrec``."""
    record_path = Path(record_path)
    return record_path.with_name(record_path.name.removesuffix(RECORD_SUFFIX) + suffix)


def _record_start_unix_s(record_path: Path) -> float | None:
    """The Unix time in the record's header event (when the recording began), or None.
    Read up to that event only (the recorder writes it first), not the whole record."""
    from device.codec import HEADER_EVENT, RecordKind
    from device.session_reader import SessionReader

    with SessionReader(record_path) as reader:
        for record in reader:
            if record.kind is RecordKind.EVENT and record.fields.name == HEADER_EVENT:
                value = record.fields.data.get("unix_time_s")
                return float(value) if isinstance(value, int | float) else None
    return None


def session_identity(record_path: Path) -> dict[str, Any]:
    """Metadata for a kinematics file whose times are on the device clock of the session
    recorded in ``record_path``: ``clock`` = ``"device"``, the record's file name, and its
    start (Unix time, s, from its header event; absent if the header holds none).

    Raises:
        device.session_format.SessionFileError: Not a session record.
    """
    identity: dict[str, Any] = {_CLOCK: "device", _RECORD: Path(record_path).name}
    start = _record_start_unix_s(Path(record_path))
    if start is not None:
        identity[_START] = start
    return identity


def check_belongs(kin_path: Path, metadata: dict[str, Any], record_path: Path) -> None:
    """Refuse a kinematics file that is not on the device's clock or whose metadata names
    another recording than ``record_path`` (by its start; its name may differ).

    Raises:
        VideoError: Names the file, what it says and what to do.
    """
    if metadata.get(_CLOCK) != "device":
        raise VideoError(
            kin_path,
            "its times are not on the wearable's clock (a kinematics file of "
            "'host video extract' is on the video's): move it away; this command makes one "
            f"from {beside(record_path, '.video.avi').name} and its frame table",
        )
    theirs, ours = metadata.get(_START), _record_start_unix_s(record_path)
    if isinstance(theirs, int | float) and ours is not None and abs(theirs - ours) > 1e-3:
        raise VideoError(
            kin_path,
            f"belongs to another session ({metadata.get(_RECORD, '?')}, begun at Unix time "
            f"{theirs:.3f} s; {Path(record_path).name} began at {ours:.3f} s): move it away",
        )


def frame_table_beside(
    record_path: Path, log: Callable[[str], None]
) -> tuple[FrameTable | None, Path | None]:
    """The frame table beside the record, and the path written if it was made from the
    record as ``collect --recover`` does; (None, None) when the record holds no frame times.

    Raises:
        VideoError: The table is not a frame table (:func:`host.video.sync.read_frame_table`).
    """
    from host.collect_video import FRAMES_SUFFIX, recover_frame_table
    from host.video.sync import read_frame_table

    path = beside(record_path, FRAMES_SUFFIX)
    made = None
    if not path.exists():
        made = recover_frame_table(record_path, path, log)
        if made is None:
            return None, None
    return read_frame_table(path), made


def on_device_clock(t_s: np.ndarray, table: FrameTable) -> np.ndarray:
    """Times ``t_s`` (s from the first frame, the host's clock) on the device's clock, s:
    linear between the table's frames, and beyond them along the table's own line (the
    clock map is a line; a resampled track can reach a little past the last frame)."""
    video, device, rate = table.video_s, table.device_s, table.rate
    inside = np.interp(t_s, video, device)
    before, after = t_s < video[0], t_s > video[-1]
    inside[before] = device[0] + rate * (t_s[before] - video[0])
    inside[after] = device[-1] + rate * (t_s[after] - video[-1])
    return inside


def pose_on_device_clock(
    avi: Path,
    table: FrameTable,
    record_path: Path,
    record: SessionRecord,
    origin_s: float,
    log: Callable[[str], None],
) -> tuple[VideoFeatures, list[str]]:
    """Pose on a session's video seen from the side, its times on the device's clock, the
    record's Borg ratings added, features extracted (progress on stderr); and the notes a
    reader should see (a video and a table of different lengths).

    Raises:
        VideoError: The video cannot be read, or its table has fewer than 2 frames.
    """
    from host.collect_video import session_pose_track
    from host.video.camera_record import LENGTH_NOTE
    from host.video.pipeline import extract_features
    from host.video.progress import Progress
    from host.video.sync import MAX_RATE_ERROR

    if table.n_frames < 2:
        raise VideoError(avi, f"its frame table holds {table.n_frames} frame(s); pose needs 2")
    log(f"{avi.name}: pose on {table.n_frames} frames (slower than real time)")
    track = session_pose_track(avi, table, name=str(avi), progress=Progress("pose"))
    notes = [n for n in track.notes if LENGTH_NOTE in n]
    rate = table.rate
    if abs(rate - 1.0) > MAX_RATE_ERROR:
        notes.append(
            f"{avi.name}'s frame table puts {rate:.4g} s of the wearable's clock in each "
            "second of video: not two crystals' drift (a device on a simulated clock, or a "
            "damaged table); the camera's rows may not line up with the NIRS"
        )
    track = replace(
        track,
        time_s=on_device_clock(track.time_s, table),
        borg_time_s=np.asarray(record.borg_t_s, dtype=np.float64) + origin_s,
        borg_rating=np.asarray(record.borg, dtype=np.float64),
        notes=[*track.notes, "times on the wearable's clock through the session's frame table"],
        metadata={**track.metadata, **session_identity(record_path)},
    )
    return extract_features(track, progress=log), notes
