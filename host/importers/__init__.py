"""Read any supported recording file into :class:`host.recording.Recording` objects.

:func:`read_recordings` detects the format from the file's first bytes and header, not its
name, and returns one recording per sensor. Supported: this project's session files
(SNIRF). Each importer lives in a module of its own beside this one.
"""

from __future__ import annotations

import os
from pathlib import Path

from host.recording import Recording
from host.session import DatasetError

__all__ = ["pick_sensor", "read_recordings"]

#: The first bytes of every HDF5 file (SNIRF is HDF5).
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def read_recordings(path: str | os.PathLike) -> list[Recording]:
    """Every sensor's recording in ``path``, whatever the supported format.

    Raises
    ------
    DatasetError
        The file cannot be read, or is in no supported format (the error names the
        formats that are), or is malformed (naming the line or field).
    """
    path = Path(path)
    try:
        with path.open("rb") as f:
            head = f.read(8)
    except OSError as exc:
        raise DatasetError(path, f"cannot read: {exc.strerror or exc}") from exc
    if head == _HDF5_SIGNATURE:
        from host.snirf_reader import read_snirf_recordings

        return read_snirf_recordings(path)
    raise DatasetError(path, "not a recording in a supported format (this project's SNIRF)")


def pick_sensor(recordings: list[Recording], sensor: str | None) -> Recording:
    """The recording of ``sensor`` (its label, or its number from 1) or, when ``sensor`` is
    None, the only one.

    Raises
    ------
    DatasetError
        ``sensor`` matches none, or None was given and the file has several (naming them).
    """
    if not recordings:
        raise ValueError("no recordings")
    labels = [r.sensor for r in recordings]
    source = recordings[0].source
    if sensor is None:
        if len(recordings) == 1:
            return recordings[0]
        raise DatasetError(
            source,
            f"holds {len(recordings)} sensors ({', '.join(labels)}): choose one with --sensor",
        )
    if sensor in labels:
        return recordings[labels.index(sensor)]
    if sensor.isdigit() and 1 <= int(sensor) <= len(recordings):
        return recordings[int(sensor) - 1]
    raise DatasetError(
        source,
        f"has no sensor {sensor!r}; its sensors: {', '.join(labels)} (or 1–{len(recordings)})",
    )
