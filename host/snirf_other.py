"""SNIRF files from other devices and tools, as :class:`host.recording.Recording` objects.

:func:`read_other_snirf` takes any valid SNIRF file (https://github.com/fNIRS/snirf, 1.0,
1.1 and the 1.2 draft's ``measurementLists``): raw continuous-wave light (dataType 1) at
any number of wavelengths, and processed data (dataType 99999) labelled dOD, HbO, HbR,
HbT or StO2; other data types and labels are kept as "other" channels. It gives one
recording per source–detector pair of each ``/nirs{i}`` group and time base (data blocks
sharing one ``time`` merge), every channel with its unit and wavelength, the stims as
intervals, MeasurementDate/MeasurementTime as ``start_utc``. Times stay as the file has
them (in s; a file whose first sample is not at 0 keeps its offset). What it had to
assume is said in each recording's notes; what each tool writes, and what is taken from
it, is in docs/snirf.md ("Files from other tools").

:func:`host.snirf_reader.read_snirf_recordings` is the entry point (it also reads this
project's own files); this module is its half for everyone else's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import h5py
import numpy as np

from host.importers._common import blank_implausible, check_times
from host.recording import Channel, Interval, Recording, merge_repeated_stamps
from host.session import UNKNOWN, MetadataValue
from host.snirf_layout import LABEL_DOD, LABEL_HBO, LABEL_HBR, SNIRF_CW_AMPLITUDE, SNIRF_PROCESSED
from host.snirf_reader import _FormatError, _indexed, _node, _read_floats, _read_number, _read_str
from host.snirf_tags import metadata_tags, start_time, time_scale

__all__ = ["read_other_snirf"]

#: SNIRF 1.1 appendix: processed dataTypeLabel -> quantity (:data:`host.recording.QUANTITIES`),
#: relative (a change from a baseline, as continuous-wave NIRS gives them).
_PROCESSED = {
    LABEL_DOD: ("d_od", True),
    LABEL_HBO: ("hbo2", True),
    LABEL_HBR: ("hhb", True),
    "HbT": ("thb", True),
    "StO2": ("smo2", False),
}
#: Unit when a channel has no dataUnit (SNIRF 1.1: optional), by quantity. Haemoglobin:
#: M, as MNE-Python's reader takes it (mne/io/snirf/_snirf.py) and SNIRF recommends
#: unscaled units; raw light: arbitrary units; ΔOD: dimensionless.
_DEFAULT_UNIT = {"intensity": "a.u.", "d_od": "1", "hbo2": "M", "hhb": "M", "thb": "M"}
#: dataUnit spellings written plainly (SNIRF asks for CMIXF-12, which has no µ sign).
_PLAIN_UNITS = {
    "µM": "uM",
    "μM": "uM",
    "umol/L": "uM",
    "µmol/L": "uM",
    "μmol/L": "uM",
    "mol/L": "M",
    "mmol/L": "mM",
    "nmol/L": "nM",
    "µV": "uV",
    "μV": "uV",
}
#: cm in one LengthUnit (SNIRF 1.1 LengthUnit: "mm", "cm", "m"; "um" is µm).
_CM_PER_LENGTH_UNIT = {"um": 1e-4, "mm": 0.1, "cm": 1.0, "m": 100.0}


@dataclass(frozen=True)
class _Column:
    """What one measurement list says about one column of a data block."""

    where: str  # the measurement list, for messages
    source: int
    detector: int
    wavelength_index: int
    data_type: int
    label: str | None
    unit: str | None
    offset: float = 0.0  # SNIRF 1.2 dataOffset added to the column's values


def read_other_snirf(h5: h5py.File, path: Path) -> list[Recording]:
    """One recording per source–detector pair, ``/nirs{i}`` group and time base.

    Parameters
    ----------
    h5 : h5py.File
        The open file.
    path : pathlib.Path
        Its name, for the recordings' ``source`` and for messages.

    Raises
    ------
    host.snirf_reader._FormatError
        Naming the field that is missing or malformed (the caller adds the file name).
    """
    groups = _nirs_groups(h5)
    out: list[Recording] = []
    for name, nirs in groups:
        prefix = f"{name} " if len(groups) > 1 else ""
        out += _read_nirs(nirs, path, prefix)
    return out


def _nirs_groups(h5: h5py.File) -> list[tuple[str, h5py.Group]]:
    found = [(1, "nirs")] if "nirs" in h5 else []
    found += [(int(k[4:]), k) for k in h5 if k.startswith("nirs") and k[4:].isdigit()]
    if not found:
        raise _FormatError("lacks /nirs (or /nirs1): not a SNIRF file")
    for _, name in found:
        if not isinstance(h5[name], h5py.Group):
            raise _FormatError(f"/{name} is a dataset, expected a group")
    return [(name, h5[name]) for _, name in sorted(found)]


def _read_nirs(nirs: h5py.Group, path: Path, prefix: str) -> list[Recording]:
    tags = _node(nirs, "metaDataTags")
    notes: list[str] = []
    s_per_unit = time_scale(tags, notes)
    start_utc = start_time(tags, notes)
    probe = nirs.get("probe")
    if probe is not None and not isinstance(probe, h5py.Group):
        raise _FormatError(f"{probe.name} is a dataset, expected a group")
    wavelengths = _wavelengths(probe)
    sources, detectors = _labels(probe, "sourceLabels"), _labels(probe, "detectorLabels")
    distances = _distances(tags, probe, notes)
    intervals = _intervals(nirs)
    metadata = metadata_tags(tags, notes)
    blocks = _indexed(nirs, "data")
    if not blocks:
        raise _FormatError(f"lacks {nirs.name}/data1")
    bases: list[tuple[np.ndarray, list[str]]] = []  # time base, blocks on it
    pairs: dict[tuple[int, int, int], tuple[list[Channel], list[str]]] = {}
    for data in blocks:
        time, series, columns = _read_block(data, s_per_unit, notes, path)
        base = next((i for i, (t, _) in enumerate(bases) if np.array_equal(t, time)), None)
        if base is None:
            base = len(bases)
            bases.append((time, []))
        bases[base][1].append(data.name.rsplit("/", 1)[-1])
        for col, values in zip(columns, series.T):
            channels, pair_notes = pairs.setdefault((base, col.source, col.detector), ([], []))
            name = f"{_label(sources, col.source, 'S')}_{_label(detectors, col.detector, 'D')}"
            channels.append(_channel(col, values, wavelengths, name, pair_notes))
    if "aux1" in nirs:
        names = [_read_str(a, "name") if "name" in a else a.name for a in _indexed(nirs, "aux")]
        notes.append(f"aux channels not read (own time bases): {', '.join(names)}")
    recordings = []
    for (base, src, det), (channels, pair_notes) in pairs.items():
        time, block_names = bases[base]
        sensor = f"{prefix}{_label(sources, src, 'S')}-{_label(detectors, det, 'D')}"
        if sum(1 for b, s, d in pairs if (s, d) == (src, det)) > 1:  # on several time bases
            sensor += f" ({', '.join(block_names)})"
        meta = dict(metadata)
        meta["snirf_data_blocks"] = ", ".join(block_names)
        if (src, det) in distances:
            meta["source_detector_distance_cm"] = distances[(src, det)]
        said = list(dict.fromkeys(notes + pair_notes))  # one note per kind of assumption
        recordings.append(
            _recording(path, sensor, time, channels, intervals, start_utc, meta, said)
        )
    return recordings


def _recording(
    path: Path,
    sensor: str,
    time: np.ndarray,
    channels: list[Channel],
    intervals: tuple[Interval, ...],
    start_utc: datetime | None,
    metadata: dict[str, MetadataValue],
    notes: list[str],
) -> Recording:
    notes = list(notes)
    channels = _unique_names(channels, notes)
    step = float(np.median(np.abs(np.diff(time)))) if time.size > 1 else 0.0
    intervals = _within(intervals, float(np.min(time)), float(np.max(time)), step, notes)
    if time.size > 1 and np.any(np.diff(time) <= 0):
        time, columns, merged = merge_repeated_stamps(time, [c.values for c in channels])
        channels = [
            Channel(c.name, c.quantity, c.unit, v, c.relative, c.wavelength_nm)
            for c, v in zip(channels, columns)
        ]
        notes.append(
            f"time stamps out of order or repeated: samples put in time order, "
            f"{merged} sharing a stamp merged (mean)"
        )
    return Recording(
        source=path,
        format="snirf",
        sensor=sensor,
        t_s=time,
        channels=tuple(channels),
        intervals=intervals,
        provenance=UNKNOWN,
        start_utc=start_utc,
        metadata=metadata,
        notes=tuple(notes),
    )


def _unique_names(channels: list[Channel], notes: list[str]) -> list[Channel]:
    """Channels named alike (two measurement lists with the same source, detector, type
    and wavelength) numbered ``"S1_D1 HbO (2)"``, each said in ``notes``: a valid SNIRF
    file may hold them, and every channel is kept, but none may hide another by name."""
    seen: dict[str, int] = {}
    out = []
    for c in channels:
        seen[c.name] = seen.get(c.name, 0) + 1
        if seen[c.name] > 1:
            name = f"{c.name} ({seen[c.name]})"
            notes.append(f"a second channel named {c.name!r} in one recording: named {name!r}")
            c = Channel(name, c.quantity, c.unit, c.values, c.relative, c.wavelength_nm)
        out.append(c)
    return out


def _within(
    intervals: tuple[Interval, ...], t0: float, t1: float, step: float, notes: list[str]
) -> tuple[Interval, ...]:
    """The stims inside the recording ``t0``–``t1`` s (give or take ``step``, one sample
    interval): one wholly outside is dropped, one partly outside clipped to ``t0``–``t1``,
    each said in ``notes``."""
    out = []
    for iv in intervals:
        span = f"stim {iv.label!r} {iv.onset_s:g}–{iv.end_s:g} s"
        if iv.end_s < t0 - step or iv.onset_s > t1 + step:
            notes.append(f"{span} lies outside the recording ({t0:g}–{t1:g} s): dropped")
            continue
        if iv.onset_s < t0 - step or iv.end_s > t1 + step:
            lo, hi = max(iv.onset_s, t0), min(iv.end_s, t1)
            notes.append(
                f"{span} runs outside the recording ({t0:g}–{t1:g} s): clipped to "
                f"{lo:g}–{hi:g} s"
            )
            iv = Interval(iv.label, lo, hi - lo)
        out.append(iv)
    return tuple(out)


# -- probe --------------------------------------------------------------------------------


def _wavelengths(probe: h5py.Group | None) -> tuple[float, ...]:
    if probe is None or "wavelengths" not in probe:
        return ()
    values = np.ravel(_read_floats(probe, "wavelengths", 1))
    bad = values[~(np.isfinite(values) & (values > 0))]
    if bad.size:
        raise _FormatError(
            f"{probe.name}/wavelengths holds {bad[0]:g}; allowed: finite wavelengths > 0 nm"
        )
    return tuple(float(w) for w in values)


def _labels(probe: h5py.Group | None, name: str) -> list[str]:
    """Source or detector labels (SNIRF: n × 1 or n × wavelengths; the first column)."""
    if probe is None or name not in probe:
        return []
    ds = probe[name]
    if not isinstance(ds, h5py.Dataset) or ds.dtype.kind not in "OS" or ds.ndim not in (1, 2):
        raise _FormatError(f"{ds.name} must be an array of strings")
    values = ds.asstr()[()]
    return [str(v[0] if ds.ndim == 2 else v) for v in values]


def _label(labels: list[str], index: int, letter: str) -> str:
    return labels[index - 1] if index <= len(labels) else f"{letter}{index}"


def _distances(
    tags: h5py.Group, probe: h5py.Group | None, notes: list[str]
) -> dict[tuple[int, int], float]:
    """Source–detector distance of every pair, cm (3-D positions, else 2-D)."""
    if probe is None:
        return {}
    for dims in ("3D", "2D"):
        if f"sourcePos{dims}" in probe and f"detectorPos{dims}" in probe:
            src = _read_floats(probe, f"sourcePos{dims}", 2)
            det = _read_floats(probe, f"detectorPos{dims}", 2)
            break
    else:
        return {}
    unit = _read_str(tags, "LengthUnit") if "LengthUnit" in tags else None
    if unit not in _CM_PER_LENGTH_UNIT:
        notes.append(f"LengthUnit {unit!r} unknown: source–detector distances not given")
        return {}
    scale = _CM_PER_LENGTH_UNIT[unit]
    return {
        (i + 1, j + 1): float(np.linalg.norm(d - s)) * scale
        for i, s in enumerate(src)
        for j, d in enumerate(det)
    }


def _intervals(nirs: h5py.Group) -> tuple[Interval, ...]:
    """Every stim row as an interval: [onset, duration, amplitude, ...], onset in seconds
    (SNIRF 1.1 /nirs(i)/stim(j)/data; a MATLAB writer's single row may be 1-D)."""
    out = []
    for stim in _indexed(nirs, "stim"):
        name = _read_str(stim, "name") if "name" in stim else stim.name.rsplit("/", 1)[-1]
        ds = _node(stim, "data")
        if not isinstance(ds, h5py.Dataset) or ds.dtype.kind not in "iuf" or ds.ndim > 2:
            raise _FormatError(f"{ds.name} must be a numeric 2-D array")
        rows = np.asarray(ds[()], dtype=np.float64)
        if rows.size == 0:
            continue
        rows = rows.reshape(1, -1) if rows.ndim < 2 else rows
        if rows.shape[1] < 3:
            raise _FormatError(
                f"{ds.name} has {rows.shape[1]} columns; SNIRF stim rows are "
                "[onset, duration, value, ...] (at least 3)"
            )
        if not np.all(np.isfinite(rows[:, :2])) or np.any(rows[:, 1] < 0):
            raise _FormatError(f"{ds.name} holds an onset or duration that is not a time")
        out += [Interval(name, float(r[0]), float(r[1])) for r in rows]
    return tuple(sorted(out, key=lambda iv: iv.onset_s))


# -- data blocks --------------------------------------------------------------------------


def _read_block(
    data: h5py.Group, s_per_unit: float, notes: list[str], path: Path
) -> tuple[np.ndarray, np.ndarray, list[_Column]]:
    """Time (n,) in s, values (n, k) and the k columns' measurement lists.

    Raises
    ------
    host.session.DatasetError
        Times that cannot be a recording's, by the CSV importers' rule
        (:func:`host.importers._common.check_times`, naming the index in ``time``): a
        step back by more than 2 median periods and 1 s (time restarting), fewer distinct
        times than half the samples, a time more than 7 days from the others.
    """
    ds = _node(data, "dataTimeSeries")
    if not isinstance(ds, h5py.Dataset) or ds.dtype.kind not in "iuf" or ds.ndim not in (1, 2):
        raise _FormatError(f"{ds.name} must be a real 2-D array (time points × channels)")
    series = np.asarray(ds[()], dtype=np.float64)
    columns = _columns(data)
    if series.ndim == 1:
        series = series[:, None]
    time = _read_time(data, series.shape[0], s_per_unit)
    if time.size > 1:
        where = f"{data.name}/time"
        cells = _LazyCells(time)
        check_times(path, time, range(time.size), cells, column=where, line_word="index")
    if series.shape[0] != time.size and series.shape == (len(columns), time.size):
        series = series.T
        notes.append(f"{ds.name} was stored channels × time points: read transposed")
    if series.shape[0] != time.size:
        raise _FormatError(
            f"{ds.name} has {series.shape[0]} rows but {data.name}/time has {time.size} "
            "samples: arrays of inconsistent lengths"
        )
    if series.shape[1] != len(columns):
        raise _FormatError(
            f"{ds.name} has {series.shape[1]} columns but {data.name} describes "
            f"{len(columns)} (measurementList1…{len(columns)})"
        )
    if "dataOffset" in data:  # SNIRF 1.2 draft: added, it gives absolute values
        offset = _read_floats(data, "dataOffset", 1)
        if offset.size != series.shape[1]:
            raise _FormatError(f"{data.name}/dataOffset must hold one value per column")
        if not np.all(np.isfinite(offset)):
            raise _FormatError(f"{data.name}/dataOffset holds a value that is not finite")
        series = series + offset
        columns = [replace(c, offset=float(o)) for c, o in zip(columns, offset)]
    return time, series, columns


class _LazyCells:
    """The times as text (``"29.9 s"``), made only for the one an error names."""

    def __init__(self, time: np.ndarray) -> None:
        self._time = time

    def __getitem__(self, i: int) -> str:
        return f"{self._time[i]:g} s"

    def __len__(self) -> int:
        return self._time.size


def _read_time(data: h5py.Group, rows: int, s_per_unit: float) -> np.ndarray:
    ds = _node(data, "time")
    if not isinstance(ds, h5py.Dataset) or ds.dtype.kind not in "iuf" or ds.size == 0:
        raise _FormatError(f"{ds.name} must be a numeric 1-D array of times")
    if ds.ndim != 1 and not (ds.ndim == 2 and 1 in ds.shape):
        raise _FormatError(f"{ds.name} must be 1-D, got shape {ds.shape}")
    time = np.ravel(np.asarray(ds[()], dtype=np.float64))
    if time.size == 2 and rows != 2:  # SNIRF: [start, spacing] for regular sampling
        time = time[0] + time[1] * np.arange(rows)
    if not np.all(np.isfinite(time)):
        raise _FormatError(f"{ds.name} holds a time that is not finite")
    return time * s_per_unit


def _columns(data: h5py.Group) -> list[_Column]:
    if "measurementList1" in data:
        return [_column(ml) for ml in _indexed(data, "measurementList")]
    if "measurementLists" in data:
        return _columns_from_arrays(data["measurementLists"])
    raise _FormatError(f"lacks {data.name}/measurementList1 (or measurementLists)")


def _whole(value: float, where: str, *, low: int) -> int:
    if not (np.isfinite(value) and value == int(value) and value >= low):
        raise _FormatError(f"{where} is {value}; allowed: a whole number ≥ {low}")
    return int(value)


def _column(ml: h5py.Group) -> _Column:
    def number(name: str, low: int) -> int:
        return _whole(_read_number(ml, name), f"{ml.name}/{name}", low=low)

    return _Column(
        where=ml.name,
        source=number("sourceIndex", 1),
        detector=number("detectorIndex", 1),
        wavelength_index=number("wavelengthIndex", 0) if "wavelengthIndex" in ml else 0,
        data_type=number("dataType", 1),
        label=_read_str(ml, "dataTypeLabel") if "dataTypeLabel" in ml else None,
        unit=_read_str(ml, "dataUnit") if "dataUnit" in ml else None,
    )


def _columns_from_arrays(mls: h5py.Group) -> list[_Column]:
    """SNIRF 1.2 draft ``measurementLists``: one array per field, one entry per column."""

    def numbers(name: str, low: int, n: int | None) -> list[int]:
        values = np.ravel(_read_floats(mls, name, _node(mls, name).ndim))
        if n is not None and values.size != n:
            raise _FormatError(f"{mls.name}/{name} has {values.size} entries, expected {n}")
        return [_whole(v, f"{mls.name}/{name}[{i}]", low=low) for i, v in enumerate(values)]

    def strings(name: str, n: int) -> list[str | None]:
        if name not in mls:
            return [None] * n
        values = [str(v) for v in np.ravel(mls[name].asstr()[()])]
        if len(values) != n:
            raise _FormatError(f"{mls.name}/{name} has {len(values)} entries, expected {n}")
        return list(values)

    src = numbers("sourceIndex", 1, None)
    n = len(src)
    det = numbers("detectorIndex", 1, n)
    wl = numbers("wavelengthIndex", 0, n) if "wavelengthIndex" in mls else [0] * n
    kind = numbers("dataType", 1, n)
    labels, units = strings("dataTypeLabel", n), strings("dataUnit", n)
    return [
        _Column(f"{mls.name}[{i}]", src[i], det[i], wl[i], kind[i], labels[i], units[i])
        for i in range(n)
    ]


def _channel(
    col: _Column, values: np.ndarray, wavelengths: tuple[float, ...], pair: str, notes: list[str]
) -> Channel:
    if col.data_type == SNIRF_CW_AMPLITUDE:
        quantity, relative, what = "intensity", False, ""
    elif col.data_type == SNIRF_PROCESSED and col.label in _PROCESSED:
        quantity, relative = _PROCESSED[col.label]
        what = f"{col.label} "
    else:
        quantity, relative = "other", False
        what = f"{col.label} " if col.label else f"dataType {col.data_type} "
    # Haemoglobin and saturation come from all wavelengths: their wavelengthIndex (required
    # by SNIRF) is a placeholder. Light and ΔOD must name one of the probe's.
    per_wavelength = quantity in ("intensity", "d_od", "other")
    in_range = 1 <= col.wavelength_index <= len(wavelengths)
    if quantity in ("intensity", "d_od") and not in_range:
        raise _FormatError(
            f"{col.where}/wavelengthIndex is {col.wavelength_index}; allowed: 1 to "
            f"{len(wavelengths)} (an entry of the probe's wavelengths)"
        )
    wavelength = wavelengths[col.wavelength_index - 1] if in_range and per_wavelength else None
    name = f"{pair} {what}".strip()
    if wavelength is not None:
        name += f" {wavelength:g}"
    infinite = int(np.count_nonzero(np.isinf(values)))
    if infinite:  # as the text importers read them: no value
        values = np.where(np.isinf(values), np.nan, values)
        notes.append(f"{col.where}: {infinite} infinite value(s) read as no value (NaN)")
    if relative and col.offset != 0.0:  # SNIRF 1.2: the offset makes the values absolute
        relative = False
        notes.append(
            f"{col.label} with a non-zero dataOffset: the offset added, values absolute "
            "(not changes from a baseline)"
        )
    if col.unit is not None:
        unit = _PLAIN_UNITS.get(col.unit, col.unit)
    else:
        unit = _DEFAULT_UNIT.get(quantity, "unknown")
        if quantity in ("hbo2", "hhb", "thb"):
            notes.append("haemoglobin without dataUnit: taken as M (as MNE-Python does)")
    # The CSV importers' plausible ranges (µM ranges scaled to M, mM, nM): 1e308 is no value.
    values = np.array(values, dtype=np.float64)
    note = blank_implausible(values, quantity, unit, name)
    if note:
        notes.append(f"{col.where}: {note}")
    return Channel(name, quantity, unit, values, relative, wavelength)
