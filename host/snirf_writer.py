"""Write a :class:`host.session.SessionRecord` as one SNIRF file, atomically.

The layout is described in docs/snirf.md (its facts: :mod:`host.snirf_layout`).
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from device.recorder import fsync_directory
from host.session import UNKNOWN, DatasetError, SessionRecord
from host.snirf_layout import (
    _STR,
    AUX_BORG,
    AUX_DARK,
    AUX_FLAGS,
    AUX_LEVEL,
    BLOCKS,
    HB_DATA_UNIT,
    HB_MOLAR_UNIT,
    LABEL_DOD,
    LABEL_HBO,
    LABEL_HBR,
    MOLAR_PER_MICROMOLAR,
    PROJECT_FORMAT,
    PROJECT_FORMAT_VERSION,
    SNIRF_CW_AMPLITUDE,
    SNIRF_FORMAT_VERSION,
    SNIRF_PROCESSED,
    STIM_COLUMNS,
    TAG_DPF,
    TAG_TIME_OFFSET,
    VOLT_UNIT,
)


def write_session(path: str | os.PathLike, record: SessionRecord) -> Path:
    """Write one session as a SNIRF file, atomically.

    The file is written under a temporary name in the destination folder, flushed to
    disk and renamed over ``path``; if anything fails the temporary file is removed
    and an existing file at ``path`` is left as it was.

    Parameters
    ----------
    path : path-like
        Destination, ending in ``.snirf``. Its folder must exist.
    record : SessionRecord
        The session; checked with :meth:`SessionRecord.validate` first.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError, TypeError
        If the record is invalid (see :meth:`SessionRecord.validate`) or the name does
        not end in ``.snirf``.
    DatasetError
        If the folder does not exist or the file cannot be written (naming it).
    """
    path = Path(path)
    if path.suffix != ".snirf":
        raise ValueError(f"{path}: a SNIRF file name must end in '.snirf'")
    record.validate()
    folder = path.parent
    if not folder.is_dir():
        raise DatasetError(path, f"cannot write: folder {folder} does not exist")
    try:
        fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise DatasetError(path, f"cannot write: {exc.strerror or exc}") from exc
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with h5py.File(tmp, "w") as h5:
            _write_layout(h5, record)
        _fsync_path(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; a dataset is meant to be shared
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise DatasetError(path, f"cannot write: {exc}") from exc
        raise
    fsync_directory(folder)
    return path


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_layout(h5: h5py.File, record: SessionRecord) -> None:
    # The file's time axis starts at the first sample (MNE-Python puts it at 0 s whatever
    # time[0] says, so its annotations would otherwise sit time[0] late).
    offset_s = float(record.t_s[0])
    _put_str(h5, "formatVersion", SNIRF_FORMAT_VERSION)
    nirs = h5.create_group("nirs")
    blocks = BLOCKS[PROJECT_FORMAT_VERSION]
    _write_tags(nirs.create_group("metaDataTags"), record, offset_s)
    time = np.asarray(record.t_s, dtype=np.float64) - offset_s
    _write_hb_molar(nirs.create_group(blocks.hb_molar), record, time)
    _write_raw(nirs.create_group(blocks.raw), record, time)
    _write_processed(nirs.create_group(blocks.processed), record, time)
    _write_probe(nirs.create_group("probe"), record)
    _write_stims(nirs, record, offset_s)
    _write_aux(nirs, record, offset_s)


def _put_str(group: h5py.Group, name: str, text: str) -> None:
    group.create_dataset(name, data=text, dtype=_STR)


def _put_int(group: h5py.Group, name: str, value: int) -> None:
    # SNIRF limits integers to 32 bits.
    group.create_dataset(name, data=np.int32(value))


def _put_floats(group: h5py.Group, name: str, values: Any) -> None:
    group.create_dataset(name, data=np.asarray(values, dtype=np.float64))


def _write_tags(tags: h5py.Group, record: SessionRecord, offset_s: float) -> None:
    _put_str(tags, "SubjectID", record.subject_id)
    if record.start_utc is None:
        date, time = UNKNOWN, UNKNOWN
    else:
        # The wall-clock time of the file's time 0: the first sample.
        first = record.start_utc.astimezone(timezone.utc) + timedelta(seconds=offset_s)
        date, time = first.strftime("%Y-%m-%d"), first.strftime("%H:%M:%S.%fZ")
    _put_str(tags, "MeasurementDate", date)
    _put_str(tags, "MeasurementTime", time)
    _put_str(tags, "LengthUnit", "cm")
    _put_str(tags, "TimeUnit", "s")
    _put_str(tags, "FrequencyUnit", "Hz")
    _put_str(tags, "ProjectFormat", PROJECT_FORMAT)
    _put_int(tags, "ProjectFormatVersion", PROJECT_FORMAT_VERSION)
    tags.create_dataset(TAG_TIME_OFFSET, data=np.float64(offset_s))
    tags.create_dataset(TAG_DPF, data=np.asarray(record.dpf, dtype=np.float64))
    _put_str(tags, "Provenance", record.provenance)
    _put_str(tags, "Protocol", record.protocol)
    _put_str(tags, "Side", record.side)
    tags.create_dataset("TaskFailureTime", data=np.float64(record.task_failure_s - offset_s))
    tags.create_dataset("FatigueLevelNames", data=list(record.level_names), dtype=_STR)
    tags.create_dataset("BorgLevelMaxima", data=np.asarray(record.borg_thresholds, dtype=np.int32))
    # JSON keeps int and float apart and round-trips floats exactly (repr); NaN is
    # written as the non-standard token NaN, which Python's json reads back.
    _put_str(tags, "SessionMetadata", json.dumps(dict(record.metadata)))


def _measurement(
    data: h5py.Group,
    k: int,
    *,
    data_type: int,
    wavelength_index: int,
    label: str | None = None,
    unit: str | None = None,
) -> None:
    ml = data.create_group(f"measurementList{k}")
    _put_int(ml, "sourceIndex", 1)
    _put_int(ml, "detectorIndex", 1)
    _put_int(ml, "wavelengthIndex", wavelength_index)
    _put_int(ml, "dataType", data_type)
    _put_int(ml, "dataTypeIndex", 1)
    if label is not None:
        _put_str(ml, "dataTypeLabel", label)
    if unit is not None:
        _put_str(ml, "dataUnit", unit)


def _write_hb_molar(data: h5py.Group, record: SessionRecord, time: np.ndarray) -> None:
    """ΔHbO2 and ΔHHb in M: what tools that read only the first block (MNE-Python) get."""
    columns = np.column_stack([record.d_hbo2_um, record.d_hhb_um]).astype(np.float64)
    _put_floats(data, "dataTimeSeries", columns * MOLAR_PER_MICROMOLAR)
    _put_floats(data, "time", time)
    for k, label in enumerate((LABEL_HBO, LABEL_HBR), start=1):
        _hb_measurement(data, k, label, HB_MOLAR_UNIT)


def _hb_measurement(data: h5py.Group, k: int, label: str, unit: str) -> None:
    # SNIRF requires a wavelengthIndex on every channel, but ΔHbO2/ΔHHb come from all
    # wavelengths together: 1 is a placeholder that keeps 1-based readers in range (0
    # draws a validator warning); readers go by dataTypeLabel here.
    _measurement(data, k, data_type=SNIRF_PROCESSED, wavelength_index=1, label=label, unit=unit)


def _write_raw(data: h5py.Group, record: SessionRecord, time: np.ndarray) -> None:
    _put_floats(data, "dataTimeSeries", record.intensity_v)
    _put_floats(data, "time", time)
    for k in range(1, len(record.wavelengths_nm) + 1):
        _measurement(data, k, data_type=SNIRF_CW_AMPLITUDE, wavelength_index=k, unit=VOLT_UNIT)


def _write_processed(data: h5py.Group, record: SessionRecord, time: np.ndarray) -> None:
    """ΔOD per wavelength, then ΔHbO2 and ΔHHb in µM exactly as the record holds them."""
    columns = np.column_stack(
        [np.asarray(record.d_od, dtype=np.float64), record.d_hbo2_um, record.d_hhb_um]
    )
    _put_floats(data, "dataTimeSeries", columns)
    _put_floats(data, "time", time)
    n_wl = len(record.wavelengths_nm)
    for k in range(1, n_wl + 1):
        # ΔOD is dimensionless: no dataUnit.
        _measurement(data, k, data_type=SNIRF_PROCESSED, wavelength_index=k, label=LABEL_DOD)
    for k, label in enumerate((LABEL_HBO, LABEL_HBR), start=n_wl + 1):
        _hb_measurement(data, k, label, HB_DATA_UNIT)


def _write_probe(probe: h5py.Group, record: SessionRecord) -> None:
    _put_floats(probe, "wavelengths", record.wavelengths_nm)
    # One LED package (the source) at the origin, the OPT101 (the detector) along x, at
    # the distance the haemoglobin was computed with (LengthUnit cm).
    _put_floats(probe, "sourcePos3D", [[0.0, 0.0, 0.0]])
    _put_floats(probe, "detectorPos3D", [[record.distance_cm, 0.0, 0.0]])
    probe.create_dataset("sourceLabels", data=["S1"], dtype=_STR)
    probe.create_dataset("detectorLabels", data=["D1"], dtype=_STR)


def _write_stims(nirs: h5py.Group, record: SessionRecord, offset_s: float) -> None:
    by_name: dict[str, list[list[float]]] = {}
    for index, (name, onset_s, duration_s) in enumerate(record.phases):
        row = [onset_s - offset_s, duration_s, 1.0, float(index)]
        by_name.setdefault(name, []).append(row)
    for i, (name, rows) in enumerate(by_name.items(), start=1):
        stim = nirs.create_group(f"stim{i}")
        _put_str(stim, "name", name)
        _put_floats(stim, "data", rows)
        stim.create_dataset("dataLabels", data=list(STIM_COLUMNS), dtype=_STR)


def _write_aux(nirs: h5py.Group, record: SessionRecord, offset_s: float) -> None:
    channels = (
        (AUX_DARK, record.dark_v, record.t_s, VOLT_UNIT),
        (AUX_BORG, record.borg, record.borg_t_s, None),
        (AUX_LEVEL, record.level, record.t_s, None),
        (AUX_FLAGS, record.flags, record.t_s, None),
    )
    for i, (name, values, times, unit) in enumerate(channels, start=1):
        aux = nirs.create_group(f"aux{i}")
        _put_str(aux, "name", name)
        # SNIRF aux series are 2-D floats; the integers here (< 2**53) stay exact.
        _put_floats(aux, "dataTimeSeries", np.asarray(values, dtype=np.float64)[:, None])
        _put_floats(aux, "time", np.asarray(times, dtype=np.float64) - offset_s)
        if unit is not None:
            _put_str(aux, "dataUnit", unit)
