"""Read any supported recording file into :class:`host.recording.Recording` objects.

:func:`read_recordings` detects the format from the file's first bytes and header, not
its name, and returns one recording per sensor. Supported (:data:`SUPPORTED`): SNIRF,
this project's session files and other tools'
(:func:`host.snirf_reader.read_snirf_recordings`); Moxy CSV exports (:mod:`.moxy`);
Train.Red app CSV exports (:mod:`.trainred`); Artinis OxySoft .txt and .xlsx exports
(:mod:`.oxysoft`). Each importer lives in a module of its own beside this one; what they
share is in :mod:`._common`. docs/importers.md says which export versions are covered.
"""

from __future__ import annotations

import os
from pathlib import Path

from device.session_format import MAGIC as NREC_MAGIC
from host.recording import Recording
from host.session import DatasetError

__all__ = ["SUPPORTED", "pick_sensor", "read_recordings"]

#: What :func:`read_recordings` reads, as its errors name it.
SUPPORTED = (
    "SNIRF (this project's sessions and other tools' files), Moxy CSV (MoxyPC), "
    "Train.Red app CSV, "
    "Artinis OxySoft .txt or .xlsx export"
)
#: The first bytes of every HDF5 file (SNIRF is HDF5).
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
#: The first bytes of a ZIP archive, which an .xlsx workbook is (ECMA-376 part 2).
_ZIP_SIGNATURE = b"PK\x03\x04"
#: How much of a text file's start is searched for a format's header, characters:
#: Train.Red's header blocks grow with laps and sensors (16 lines per lap and sensor in
#: mnirs' train.red-mre.csv), far below this.
_HEAD_CHARS = 1 << 20


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
    if not head:
        raise DatasetError(path, "an empty file (0 bytes): copy or export it again")
    if len(head) < len(_HDF5_SIGNATURE) and _HDF5_SIGNATURE.startswith(head):
        raise DatasetError(
            path,
            f"a truncated HDF5 (SNIRF) file ({len(head)} bytes, cut inside its signature): "
            "an interrupted copy or download; copy it again",
        )
    if head == _HDF5_SIGNATURE:
        from host.snirf_reader import read_snirf_recordings

        return read_snirf_recordings(path)
    if head == NREC_MAGIC:
        raise DatasetError(
            path,
            "a session record (.nrec) of the wearable: make its SNIRF file first with "
            f"'python -m host export {path}', then give that file",
        )
    if head[:4] == _ZIP_SIGNATURE:
        from host.importers import oxysoft

        rows = oxysoft.xlsx_rows(path)
        if oxysoft.is_oxysoft(rows[:20]):
            return oxysoft.read_oxysoft_xlsx(path, rows)
        raise DatasetError(
            path,
            "a workbook whose first sheet is not an OxySoft export (only the first sheet is "
            f"read: move the export there); supported: {SUPPORTED}",
        )
    if path.suffix.lower() in (".snirf", ".h5", ".hdf5"):
        raise DatasetError(path, "not a readable HDF5 (SNIRF) file: it lacks HDF5's signature")
    return _read_text(path)


def _read_text(path: Path) -> list[Recording]:
    """A text export, its format told by its first lines."""
    from host.importers import _common, moxy, oxysoft, trainred

    text = _common.read_text(path)
    if not text.strip():
        raise DatasetError(path, f"empty file; supported: {SUPPORTED}")
    head = text[:_HEAD_CHARS].splitlines()
    if oxysoft.is_oxysoft(oxysoft.text_rows("\n".join(head[:20]))):
        return oxysoft.read_oxysoft_text(path, text)
    if trainred.is_trainred(head):
        return trainred.read_trainred(path, text)
    if moxy.is_moxy(head):
        return moxy.read_moxy(path, text)
    raise DatasetError(path, f"not a recording in a supported format; supported: {SUPPORTED}")


def pick_sensor(
    recordings: list[Recording], sensor: str | None, option: str = "--sensor"
) -> Recording:
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
            f"holds {len(recordings)} sensors ({', '.join(labels)}): choose one with {option}",
        )
    if sensor in labels:
        return recordings[labels.index(sensor)]
    if sensor.isdigit() and 1 <= int(sensor) <= len(recordings):
        return recordings[int(sensor) - 1]
    raise DatasetError(
        source,
        f"has no sensor {sensor!r}; its sensors: {', '.join(labels)}"
        + (f" (or 1–{len(recordings)})" if len(recordings) > 1 else " (or 1)"),
    )
