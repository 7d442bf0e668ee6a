"""Read a session file written by :mod:`host.snirf_writer` (layout: :mod:`host.snirf_layout`)."""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from host.session import UNKNOWN, DatasetError, MetadataValue, SessionRecord
from host.snirf_layout import (
    AUX_BORG,
    AUX_DARK,
    AUX_FLAGS,
    AUX_LEVEL,
    HB_DATA_UNIT,
    PROJECT_FORMAT,
    PROJECT_FORMAT_VERSION,
    SNIRF_CW_AMPLITUDE,
    STIM_COLUMNS,
)


class _FormatError(Exception):
    """Something wrong inside a file; :func:`read_session` adds the file name."""


def read_session(path: str | os.PathLike) -> SessionRecord:
    """Read a session written by :func:`write_session`.

    Parameters
    ----------
    path : path-like
        The ``.snirf`` file.

    Returns
    -------
    SessionRecord
        The session, equal field by field to the one written (float arrays as
        float64, integer arrays as int64).

    Raises
    ------
    DatasetError
        Naming the file and the problem: it does not exist, is not HDF5, is not one of
        this project's session files (a foreign SNIRF file), lacks a part, or holds
        arrays of inconsistent lengths or invalid values.
    """
    path = Path(path)
    if not path.exists():
        raise DatasetError(path, "no such file")
    if not path.is_file():
        raise DatasetError(path, "not a file")
    try:
        h5 = h5py.File(path, "r")
    except OSError as exc:
        raise DatasetError(path, f"not a readable HDF5 (SNIRF) file ({exc})") from exc
    try:
        with h5:
            record = _read_layout(h5)
        record.validate()
    except _FormatError as exc:
        raise DatasetError(path, str(exc)) from exc
    except (ValueError, TypeError) as exc:
        raise DatasetError(path, f"invalid session: {exc}") from exc
    except (OSError, KeyError) as exc:
        raise DatasetError(path, f"damaged or unreadable HDF5 content ({exc})") from exc
    return record


def _node(group: h5py.Group, name: str) -> Any:
    if name not in group:
        raise _FormatError(f"lacks {group.name.rstrip('/')}/{name}")
    return group[name]


def _dataset(group: h5py.Group, name: str) -> h5py.Dataset:
    node = _node(group, name)
    if not isinstance(node, h5py.Dataset):
        raise _FormatError(f"{node.name} is a group, expected a dataset")
    return node


def _read_str(group: h5py.Group, name: str) -> str:
    ds = _dataset(group, name)
    if ds.dtype.kind not in "OS" or ds.shape not in ((), (1,)):
        raise _FormatError(f"{ds.name} must be one string, got dtype {ds.dtype} shape {ds.shape}")
    value = ds.asstr()[()]
    return str(value if ds.shape == () else value[0])


def _read_strs(group: h5py.Group, name: str) -> tuple[str, ...]:
    ds = _dataset(group, name)
    if ds.dtype.kind not in "OS" or ds.ndim != 1:
        raise _FormatError(f"{ds.name} must be a list of strings, got dtype {ds.dtype}")
    return tuple(str(s) for s in ds.asstr()[()])


def _read_number(group: h5py.Group, name: str) -> Any:
    ds = _dataset(group, name)
    if ds.dtype.kind not in "iuf" or ds.size != 1:
        raise _FormatError(f"{ds.name} must be one number, got dtype {ds.dtype} shape {ds.shape}")
    return ds[()].reshape(-1)[0] if ds.shape else ds[()]


def _read_floats(group: h5py.Group, name: str, ndim: int) -> np.ndarray:
    ds = _dataset(group, name)
    if ds.dtype.kind not in "iuf" or ds.ndim != ndim:
        raise _FormatError(
            f"{ds.name} must be a {ndim}-D numeric array, got dtype {ds.dtype} shape {ds.shape}"
        )
    return np.asarray(ds[()], dtype=np.float64)


def _as_ints(values: np.ndarray, where: str) -> np.ndarray:
    if not np.all(np.isfinite(values)) or np.any(values != np.round(values)):
        raise _FormatError(f"{where} must hold whole numbers")
    return values.astype(np.int64)


def _read_layout(h5: h5py.File) -> SessionRecord:
    if "nirs" in h5:
        nirs = h5["nirs"]
    elif "nirs1" in h5:
        nirs = h5["nirs1"]
    else:
        raise _FormatError("lacks /nirs: not a SNIRF file")
    tags = _node(nirs, "metaDataTags")
    if "ProjectFormat" not in tags or _read_str(tags, "ProjectFormat") != PROJECT_FORMAT:
        raise _FormatError(
            f"not a {PROJECT_FORMAT} file: a SNIRF file without this project's tags "
            f"({tags.name}/ProjectFormat = {PROJECT_FORMAT!r})"
        )
    _read_str(h5, "formatVersion")
    version = int(_read_number(tags, "ProjectFormatVersion"))
    if version > PROJECT_FORMAT_VERSION:
        raise _FormatError(
            f"layout version {version} is newer than this reader's ({PROJECT_FORMAT_VERSION})"
        )
    probe_nm = tuple(float(w) for w in _read_floats(_node(nirs, "probe"), "wavelengths", 1))
    t_s, intensity, raw_index = _read_raw(_node(nirs, "data1"), probe_nm)
    # The record's wavelengths are in column order: column k of intensity_v (and of
    # d_od, put in the same order below) holds the light of wavelengths[k].
    wavelengths = tuple(probe_nm[i] for i in raw_index)
    d_od, d_hbo2, d_hhb = _read_processed(_node(nirs, "data2"), t_s, probe_nm, raw_index)
    aux = _read_aux(nirs)
    for name in (AUX_DARK, AUX_LEVEL, AUX_FLAGS):
        if not np.array_equal(aux[name][0], t_s):
            raise _FormatError(
                f"aux {name!r} has {aux[name][0].size} samples at other times than the "
                f"{t_s.size} of /nirs/data1/time: arrays of inconsistent lengths"
            )
    borg_t_s, borg = aux[AUX_BORG]
    return SessionRecord(
        subject_id=_read_str(tags, "SubjectID"),
        protocol=_read_str(tags, "Protocol"),
        side=_read_str(tags, "Side"),
        provenance=_read_str(tags, "Provenance"),
        wavelengths_nm=wavelengths,
        t_s=t_s,
        intensity_v=intensity,
        dark_v=aux[AUX_DARK][1],
        d_od=d_od,
        d_hbo2_um=d_hbo2,
        d_hhb_um=d_hhb,
        flags=_as_ints(aux[AUX_FLAGS][1], f"aux {AUX_FLAGS!r}"),
        borg_t_s=borg_t_s,
        borg=_as_ints(borg, f"aux {AUX_BORG!r}"),
        level=_as_ints(aux[AUX_LEVEL][1], f"aux {AUX_LEVEL!r}"),
        level_names=_read_strs(tags, "FatigueLevelNames"),
        borg_thresholds=tuple(
            int(b) for b in _as_ints(_read_floats(tags, "BorgLevelMaxima", 1), "BorgLevelMaxima")
        ),
        phases=_read_phases(nirs),
        task_failure_s=float(_read_number(tags, "TaskFailureTime")),
        metadata=_read_metadata(tags),
        start_utc=_read_start(tags),
    )


def _check_columns(data: h5py.Group, series: np.ndarray, t_s: np.ndarray, n_cols: int) -> None:
    if series.shape[0] != t_s.size:
        raise _FormatError(
            f"{data.name}/dataTimeSeries has {series.shape[0]} rows but {data.name}/time has "
            f"{t_s.size} samples: arrays of inconsistent lengths"
        )
    if series.shape[1] != n_cols:
        raise _FormatError(
            f"{data.name}/dataTimeSeries has {series.shape[1]} columns, expected {n_cols}"
        )


def _wavelength_indices(data: h5py.Group, columns: int, probe_nm: tuple[float, ...]) -> list[int]:
    """The 0-based index into ``probe_nm`` of the light in each of the first ``columns``
    columns of ``data``: measurementList{k}/wavelengthIndex - 1 (SNIRF 1.1, "measurementList":
    column k of dataTimeSeries is described by measurementList{k}, whose 1-based
    wavelengthIndex points into /nirs/probe/wavelengths, in any order).

    Raises _FormatError for an index that is not a whole number from 1 to len(probe_nm), or
    two columns with the same index. (Two probe entries of the same value are read; the
    loader refuses them for training, :func:`_in_wavelength_order`.)
    """
    n_wl = len(probe_nm)
    allowed = f"allowed: 1 to {n_wl} (an entry of /nirs/probe/wavelengths), each once"
    indices: list[int] = []
    for k in range(1, columns + 1):
        ml = _node(data, f"measurementList{k}")
        value = _read_number(ml, "wavelengthIndex")
        if not (1 <= value <= n_wl and value == int(value)):
            raise _FormatError(f"{ml.name}/wavelengthIndex is {value}; {allowed}")
        index = int(value) - 1
        if index in indices:
            raise _FormatError(
                f"{ml.name}/wavelengthIndex is {index + 1} ({probe_nm[index]:g} nm), the "
                f"wavelength of {data.name}/measurementList{indices.index(index) + 1} too; "
                f"{allowed}"
            )
        indices.append(index)
    return indices


def _read_raw(
    data: h5py.Group, probe_nm: tuple[float, ...]
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Time (n,), amplitudes (n, n_wl) in file column order, and each column's index into
    ``probe_nm`` (see :func:`_wavelength_indices`)."""
    t_s = _read_floats(data, "time", 1)
    series = _read_floats(data, "dataTimeSeries", 2)
    _check_columns(data, series, t_s, len(probe_nm))
    for k in range(1, len(probe_nm) + 1):
        ml = _node(data, f"measurementList{k}")
        data_type = _read_number(ml, "dataType")
        if data_type != SNIRF_CW_AMPLITUDE:
            raise _FormatError(
                f"{ml.name}/dataType is {data_type}; this reader reads only dataType "
                f"{SNIRF_CW_AMPLITUDE} (continuous-wave amplitude) in {data.name}"
            )
    return t_s, series, _wavelength_indices(data, len(probe_nm), probe_nm)


def _read_processed(
    data: h5py.Group, t_s: np.ndarray, probe_nm: tuple[float, ...], raw_index: list[int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ΔOD (n, n_wl) with column k at the wavelength of raw column k (``raw_index``), ΔHbO2
    and ΔHHb (n,) in µM."""
    n_wl = len(probe_nm)
    time = _read_floats(data, "time", 1)
    if not np.array_equal(time, t_s):
        raise _FormatError(
            f"{data.name}/time ({time.size} samples) differs from /nirs/data1/time "
            f"({t_s.size} samples)"
        )
    series = _read_floats(data, "dataTimeSeries", 2)
    _check_columns(data, series, time, n_wl + 2)
    labels = ["dOD"] * n_wl + ["HbO", "HbR"]
    for k, label in enumerate(labels, start=1):
        ml = _node(data, f"measurementList{k}")
        got = _read_str(ml, "dataTypeLabel")
        if got != label:
            raise _FormatError(f"{ml.name}/dataTypeLabel is {got!r}, expected {label!r}")
        if label != "dOD" and _read_str(ml, "dataUnit") != HB_DATA_UNIT:
            raise _FormatError(f"{ml.name}/dataUnit must be {HB_DATA_UNIT!r}")
    # The HbO/HbR wavelengthIndex is a placeholder (see _write_processed): not read.
    od_index = _wavelength_indices(data, n_wl, probe_nm)
    columns = [od_index.index(i) for i in raw_index]
    return series[:, columns], series[:, n_wl].copy(), series[:, n_wl + 1].copy()


def _indexed(nirs: h5py.Group, prefix: str) -> list[h5py.Group]:
    """``stim1, stim2, …`` (or ``aux…``) in numeric order."""
    keys = [k for k in nirs if k.startswith(prefix) and k[len(prefix) :].isdigit()]
    return [nirs[k] for k in sorted(keys, key=lambda k: int(k[len(prefix) :]))]


def _read_aux(nirs: h5py.Group) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    found: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for aux in _indexed(nirs, "aux"):
        name = _read_str(aux, "name")
        series = _read_floats(aux, "dataTimeSeries", 2)
        time = _read_floats(aux, "time", 1)
        if series.shape != (time.size, 1):
            raise _FormatError(
                f"{aux.name} ({name!r}) has {series.shape[0]} values but {time.size} times: "
                "arrays of inconsistent lengths"
            )
        found[name] = (time, series[:, 0].copy())
    missing = [n for n in (AUX_DARK, AUX_BORG, AUX_LEVEL, AUX_FLAGS) if n not in found]
    if missing:
        raise _FormatError(f"lacks the aux channel(s) {', '.join(map(repr, missing))}")
    return found


def _read_phases(nirs: h5py.Group) -> list[tuple[str, float, float]]:
    rows: list[tuple[int, str, float, float]] = []
    for stim in _indexed(nirs, "stim"):
        name = _read_str(stim, "name")
        if _read_strs(stim, "dataLabels") != STIM_COLUMNS:
            raise _FormatError(f"{stim.name}/dataLabels must be {list(STIM_COLUMNS)}")
        data = _read_floats(stim, "data", 2)
        if data.shape[1] != len(STIM_COLUMNS):
            raise _FormatError(f"{stim.name}/data must have {len(STIM_COLUMNS)} columns")
        index = _as_ints(data[:, 3], f"{stim.name}/data PhaseIndex")
        rows += [(int(i), name, float(r[0]), float(r[1])) for i, r in zip(index, data)]
    rows.sort()
    if [r[0] for r in rows] != list(range(len(rows))):
        raise _FormatError("stim PhaseIndex values are not 0, 1, 2, … without gaps or repeats")
    return [(name, onset, duration) for _, name, onset, duration in rows]


def _read_metadata(tags: h5py.Group) -> dict[str, MetadataValue]:
    text = _read_str(tags, "SessionMetadata")
    try:
        metadata = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _FormatError(f"{tags.name}/SessionMetadata is not valid JSON ({exc})") from exc
    if not isinstance(metadata, dict):
        raise _FormatError(f"{tags.name}/SessionMetadata must be a JSON object")
    return metadata


def _read_start(tags: h5py.Group) -> datetime | None:
    date, time = _read_str(tags, "MeasurementDate"), _read_str(tags, "MeasurementTime")
    if date == UNKNOWN and time == UNKNOWN:
        return None
    try:
        start = datetime.strptime(f"{date}T{time}", "%Y-%m-%dT%H:%M:%S.%fZ")
    except ValueError as exc:
        raise _FormatError(
            f"MeasurementDate/MeasurementTime {date!r} {time!r} are not "
            "YYYY-MM-DD and hh:mm:ss.ffffffZ (or both 'unknown')"
        ) from exc
    return start.replace(tzinfo=timezone.utc)
