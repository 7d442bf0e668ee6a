"""Read SNIRF files: this project's session files (:func:`read_session`, layout versions 1
and 2, docs/snirf.md) and, as :class:`host.recording.Recording` objects, any SNIRF file
(:func:`read_snirf_recordings`; other tools' files: :mod:`host.snirf_other`)."""

from __future__ import annotations

import json
import math
import os
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from host.recording import Recording
from host.session import DEFAULT_DPF, UNKNOWN, DatasetError, MetadataValue, SessionRecord
from host.snirf_layout import (
    AUX_BORG,
    AUX_DARK,
    AUX_FLAGS,
    AUX_LEVEL,
    BLOCKS,
    HB_COPY_RTOL,
    HB_DATA_UNIT,
    HB_MOLAR_UNIT,
    LABEL_DOD,
    LABEL_HBO,
    LABEL_HBR,
    MOLAR_PER_MICROMOLAR,
    PROJECT_FORMAT,
    PROJECT_FORMAT_VERSION,
    SNIRF_CW_AMPLITUDE,
    STIM_COLUMNS,
    TAG_DPF,
    TAG_TIME_OFFSET,
)

__all__ = ["read_session", "read_snirf_recordings"]


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
    path = _existing(path)
    h5 = _open(path)
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


def read_snirf_recordings(path: str | os.PathLike) -> list[Recording]:
    """Every recording in a SNIRF file: this project's session files and other tools'.

    Parameters
    ----------
    path : path-like
        The ``.snirf`` file.

    Returns
    -------
    list of host.recording.Recording
        For this project's files (``ProjectFormat`` tag): one,
        ``Recording.from_session(read_session(path), path)``. For any other SNIRF file: one
        per source–detector pair of each ``/nirs{i}`` group and time base, as
        :func:`host.snirf_other.read_other_snirf` reads them.

    Raises
    ------
    DatasetError
        Naming the file and, for a malformed file, the field and what is allowed.
    """
    from host.snirf_other import read_other_snirf  # builds on this module's helpers

    path = _existing(path)
    try:
        with _open(path) as h5:
            if not _is_project_file(h5):
                return read_other_snirf(h5, path)
    except _FormatError as exc:
        raise DatasetError(path, str(exc)) from exc
    except (OSError, KeyError, TypeError) as exc:
        raise DatasetError(path, f"damaged or unreadable HDF5 content ({exc})") from exc
    return [Recording.from_session(read_session(path), path)]


def _is_project_file(h5: h5py.File) -> bool:
    for name in ("nirs", "nirs1"):
        tags = h5.get(f"{name}/metaDataTags")
        if isinstance(tags, h5py.Group) and "ProjectFormat" in tags:
            return _read_str(tags, "ProjectFormat") == PROJECT_FORMAT
    return False


def _existing(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.exists():
        raise DatasetError(path, "no such file")
    if not path.is_file():
        raise DatasetError(path, "not a file")
    return path


def _open(path: Path) -> h5py.File:
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise DatasetError(path, _unreadable(path, str(exc))) from exc


#: Below this size a truncated file's header may be cut too: the whole size it states is
#: not trusted (a breaker's 41-byte file claimed 88 bytes).
_WHOLE_HEADER_BYTES = 1024


def _unreadable(path: Path, h5py_message: str) -> str:
    """Why an HDF5 file did not open, in the user's words (h5py's are for developers)."""
    size = path.stat().st_size
    if size == 0:
        return "an empty file (0 bytes): copy or export it again"
    if "file signature not found" in h5py_message:
        return "not a readable HDF5 (SNIRF) file: it lacks HDF5's signature"
    expected = re.search(r"stored_eof = (\d+)", h5py_message)
    if "truncated file" in h5py_message and expected and size >= _WHOLE_HEADER_BYTES:
        return (
            f"a truncated HDF5 (SNIRF) file ({size:,} bytes of {int(expected.group(1)):,} "
            "bytes present): an interrupted copy or download; copy it again"
        )
    if "errno" in h5py_message or "Permission denied" in h5py_message:
        return f"not a readable HDF5 (SNIRF) file ({h5py_message})"  # the system's reason
    # A file cut inside its first bytes: h5py's words (a "bad byte number in an address",
    # a size read from a header cut in two) would say nothing true to a user.
    return (
        f"a truncated or damaged HDF5 (SNIRF) file ({size:,} bytes): an interrupted copy "
        "or download; copy it again"
    )


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


def _project_nirs(h5: h5py.File) -> h5py.Group:
    """The /nirs group of a project file (``/nirs`` or ``/nirs1``)."""
    for name in ("nirs", "nirs1"):
        if name in h5 and isinstance(h5[name], h5py.Group):
            return h5[name]
    raise _FormatError("lacks /nirs: not a SNIRF file")


def _read_layout(h5: h5py.File) -> SessionRecord:
    nirs = _project_nirs(h5)
    tags = _node(nirs, "metaDataTags")
    if "ProjectFormat" not in tags or _read_str(tags, "ProjectFormat") != PROJECT_FORMAT:
        raise _FormatError(
            f"not a {PROJECT_FORMAT} file: a SNIRF file without this project's tags "
            f"({tags.name}/ProjectFormat = {PROJECT_FORMAT!r})"
        )
    _read_str(h5, "formatVersion")
    version = _read_number(tags, "ProjectFormatVersion")
    if version not in BLOCKS:
        newer = " (newer than this reader)" if version > PROJECT_FORMAT_VERSION else ""
        raise _FormatError(
            f"{tags.name}/ProjectFormatVersion is {version}{newer}; this reader reads "
            f"layout versions {', '.join(map(str, BLOCKS))}"
        )
    blocks = BLOCKS[int(version)]
    # Version 1 wrote session times; version 2 counts from the first sample.
    offset_s = float(_read_number(tags, TAG_TIME_OFFSET)) if version >= 2 else 0.0
    probe = _node(nirs, "probe")
    probe_nm = tuple(float(w) for w in _read_floats(probe, "wavelengths", 1))
    raw = _node(nirs, blocks.raw)
    time, intensity, raw_index = _read_raw(raw, probe_nm)
    # The record's wavelengths are in column order: column k of intensity_v (and of
    # d_od, put in the same order below) holds the light of wavelengths[k].
    wavelengths = tuple(probe_nm[i] for i in raw_index)
    d_od, d_hbo2, d_hhb = _read_processed(
        _node(nirs, blocks.processed), raw, time, probe_nm, raw_index
    )
    if blocks.hb_molar is not None:
        _check_hb_molar(_node(nirs, blocks.hb_molar), raw, time, d_hbo2, d_hhb)
    aux = _read_aux(nirs)
    for name in (AUX_DARK, AUX_LEVEL, AUX_FLAGS):
        if not np.array_equal(aux[name][0], time):
            raise _FormatError(
                f"aux {name!r} has {aux[name][0].size} samples at other times than the "
                f"{time.size} of {raw.name}/time: arrays of inconsistent lengths"
            )
    borg_t_s, borg = aux[AUX_BORG]
    return SessionRecord(
        subject_id=_read_str(tags, "SubjectID"),
        protocol=_read_str(tags, "Protocol"),
        side=_read_str(tags, "Side"),
        provenance=_read_str(tags, "Provenance"),
        wavelengths_nm=wavelengths,
        t_s=time + offset_s,
        intensity_v=intensity,
        dark_v=aux[AUX_DARK][1],
        d_od=d_od,
        d_hbo2_um=d_hbo2,
        d_hhb_um=d_hhb,
        flags=_as_ints(aux[AUX_FLAGS][1], f"aux {AUX_FLAGS!r}"),
        borg_t_s=borg_t_s + offset_s,
        borg=_as_ints(borg, f"aux {AUX_BORG!r}"),
        level=_as_ints(aux[AUX_LEVEL][1], f"aux {AUX_LEVEL!r}"),
        level_names=_read_strs(tags, "FatigueLevelNames"),
        borg_thresholds=tuple(
            int(b) for b in _as_ints(_read_floats(tags, "BorgLevelMaxima", 1), "BorgLevelMaxima")
        ),
        phases=_read_phases(nirs, offset_s),
        task_failure_s=float(_read_number(tags, "TaskFailureTime")) + offset_s,
        metadata=_read_metadata(tags),
        start_utc=_read_start(tags, offset_s),
        dpf=_read_dpf(tags, probe_nm, raw_index) if version >= 2 else DEFAULT_DPF,
        distance_cm=_read_distance(tags, probe),
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
    data: h5py.Group,
    raw: h5py.Group,
    t_s: np.ndarray,
    probe_nm: tuple[float, ...],
    raw_index: list[int],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ΔOD (n, n_wl) with column k at the wavelength of raw column k (``raw_index``), ΔHbO2
    and ΔHHb (n,) in µM."""
    n_wl = len(probe_nm)
    time = _read_floats(data, "time", 1)
    if not np.array_equal(time, t_s):
        raise _FormatError(
            f"{data.name}/time ({time.size} samples) differs from {raw.name}/time "
            f"({t_s.size} samples)"
        )
    series = _read_floats(data, "dataTimeSeries", 2)
    _check_columns(data, series, time, n_wl + 2)
    _check_labels(data, [LABEL_DOD] * n_wl + [LABEL_HBO, LABEL_HBR], HB_DATA_UNIT)
    # The HbO/HbR wavelengthIndex is a placeholder (see _hb_measurement): not read.
    od_index = _wavelength_indices(data, n_wl, probe_nm)
    columns = [od_index.index(i) for i in raw_index]
    return series[:, columns], series[:, n_wl].copy(), series[:, n_wl + 1].copy()


def _check_labels(data: h5py.Group, labels: list[str], hb_unit: str) -> None:
    for k, label in enumerate(labels, start=1):
        ml = _node(data, f"measurementList{k}")
        got = _read_str(ml, "dataTypeLabel")
        if got != label:
            raise _FormatError(f"{ml.name}/dataTypeLabel is {got!r}, expected {label!r}")
        if label != LABEL_DOD and _read_str(ml, "dataUnit") != hb_unit:
            raise _FormatError(f"{ml.name}/dataUnit must be {hb_unit!r}")


def _check_hb_molar(
    data: h5py.Group, raw: h5py.Group, t_s: np.ndarray, hbo2_um: np.ndarray, hhb_um: np.ndarray
) -> None:
    """The haemoglobin in M for other tools (layout 2's first block) must be the device's
    µM values × 1e-6: a file edited in one place only is refused, not half believed."""
    time = _read_floats(data, "time", 1)
    if not np.array_equal(time, t_s):
        raise _FormatError(
            f"{data.name}/time ({time.size} samples) differs from {raw.name}/time "
            f"({t_s.size} samples)"
        )
    series = _read_floats(data, "dataTimeSeries", 2)
    _check_columns(data, series, time, 2)
    _check_labels(data, [LABEL_HBO, LABEL_HBR], HB_MOLAR_UNIT)
    expected = np.column_stack([hbo2_um, hhb_um]) * MOLAR_PER_MICROMOLAR
    same = np.isclose(series, expected, rtol=HB_COPY_RTOL, atol=0.0, equal_nan=True)
    if not same.all():
        row, col = np.argwhere(~same)[0]
        raise _FormatError(
            f"{data.name}/dataTimeSeries[{row}, {col}] is {series[row, col]!r} M but the "
            f"device's value is {expected[row, col]!r} M (µM × {MOLAR_PER_MICROMOLAR:g}): "
            "the haemoglobin was edited in one block only"
        )


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


def _read_phases(nirs: h5py.Group, offset_s: float) -> list[tuple[str, float, float]]:
    rows: list[tuple[int, str, float, float]] = []
    for stim in _indexed(nirs, "stim"):
        name = _read_str(stim, "name")
        if _read_strs(stim, "dataLabels") != STIM_COLUMNS:
            raise _FormatError(f"{stim.name}/dataLabels must be {list(STIM_COLUMNS)}")
        data = _read_floats(stim, "data", 2)
        if data.shape[1] != len(STIM_COLUMNS):
            raise _FormatError(f"{stim.name}/data must have {len(STIM_COLUMNS)} columns")
        index = _as_ints(data[:, 3], f"{stim.name}/data PhaseIndex")
        rows += [(int(i), name, float(r[0] + offset_s), float(r[1])) for i, r in zip(index, data)]
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


def _read_start(tags: h5py.Group, offset_s: float) -> datetime | None:
    """``start_utc``: the wall-clock time of session time 0, from the first sample's
    (MeasurementDate/MeasurementTime) less the session time of that sample."""
    date, time = _read_str(tags, "MeasurementDate"), _read_str(tags, "MeasurementTime")
    if date == UNKNOWN and time == UNKNOWN:
        return None
    try:
        first = datetime.strptime(f"{date}T{time}", "%Y-%m-%dT%H:%M:%S.%fZ")
    except ValueError as exc:
        raise _FormatError(
            f"MeasurementDate/MeasurementTime {date!r} {time!r} are not "
            "YYYY-MM-DD and hh:mm:ss.ffffffZ (or both 'unknown')"
        ) from exc
    return first.replace(tzinfo=timezone.utc) - timedelta(seconds=offset_s)


def _read_dpf(
    tags: h5py.Group, probe_nm: tuple[float, ...], raw_index: list[int]
) -> float | tuple[float, ...]:
    """One DPF, or one per wavelength put in column order (the tag follows the probe's)."""
    ds = _dataset(tags, TAG_DPF)
    if ds.dtype.kind not in "iuf" or ds.shape not in ((), (len(probe_nm),)):
        raise _FormatError(
            f"{ds.name} must be one number or one per /nirs/probe/wavelengths entry "
            f"({len(probe_nm)}), got dtype {ds.dtype} shape {ds.shape}"
        )
    values = np.asarray(ds[()], dtype=np.float64)
    if ds.ndim == 0:
        return float(values)
    return tuple(float(values[i]) for i in raw_index)


#: cm in one LengthUnit (SNIRF 1.1 LengthUnit examples: "mm", "cm", "m").
_CM_PER_LENGTH_UNIT = {"mm": 0.1, "cm": 1.0, "m": 100.0}


def _read_distance(tags: h5py.Group, probe: h5py.Group) -> float:
    """The source–detector distance, cm, from the probe's 3-D positions."""
    unit = _read_str(tags, "LengthUnit")
    if unit not in _CM_PER_LENGTH_UNIT:
        raise _FormatError(
            f"{tags.name}/LengthUnit is {unit!r}; allowed: {', '.join(_CM_PER_LENGTH_UNIT)}"
        )
    source = _read_floats(probe, "sourcePos3D", 2)
    detector = _read_floats(probe, "detectorPos3D", 2)
    if source.shape != (1, 3) or detector.shape != (1, 3):
        raise _FormatError(
            f"{probe.name} must place one source and one detector (sourcePos3D and "
            f"detectorPos3D of shape (1, 3)), got {source.shape} and {detector.shape}"
        )
    return math.hypot(*(detector[0] - source[0])) * _CM_PER_LENGTH_UNIT[unit]
