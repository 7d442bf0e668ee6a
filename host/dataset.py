"""Host datasets: one SNIRF file per recorded session, and a loader for training.

A session (one limb, one side, one subject: baseline, hold, rest) is kept as a
:class:`SessionRecord` in memory and as one SNIRF file on disk. SNIRF is the fNIRS
community's HDF5 layout (https://github.com/fNIRS/snirf), so Homer3, the ``snirf``
package and other tools can open the optical data; the fatigue labels and the
project's own facts go in the places SNIRF has for them (``aux``, ``stim`` and custom
``metaDataTags``), so a file stays valid under the SNIRF validator.

Layout written by :func:`write_session` (every time in seconds, lengths in cm)::

    /formatVersion                 "1.1"
    /nirs/metaDataTags/            SubjectID, MeasurementDate, MeasurementTime ("unknown"
                                   when the start time is not known), LengthUnit "cm",
                                   TimeUnit "s", FrequencyUnit "Hz", and the project's tags:
                                   ProjectFormat, ProjectFormatVersion, Provenance, Protocol,
                                   Side, TaskFailureTime (s, NaN: no task failure),
                                   FatigueLevelNames, BorgLevelMaxima, SessionMetadata (JSON)
    /nirs/data1                    raw CW amplitude: dark-subtracted detected light, V
        dataTimeSeries (n, n_wl), time (n,)
        measurementList{k}         dataType 1, sourceIndex 1, detectorIndex 1,
                                   wavelengthIndex k, dataUnit "V"
    /nirs/data2                    processed (dataType 99999), same time base
        dataTimeSeries (n, n_wl + 2): ΔOD per wavelength, then ΔHbO2 and ΔHHb in µM
        measurementList{k}         dataTypeLabel "dOD" (wavelengthIndex k), "HbO", "HbR"
                                   (dataUnit "uM")
    /nirs/probe                    wavelengths (nm), one source and one detector
                                   DEFAULT_DISTANCE_CM apart (3-D positions, cm), labels
    /nirs/stim{i}                  one per phase name: rows [onset, duration, amplitude 1,
                                   phase index] (dataLabels say so)
    /nirs/aux{i}                   "dark" (V, every sample), "borg_cr10" (at the report
                                   times), "fatigue_level" and "quality_flags" (every sample)

:func:`read_session` also reads files whose measurement lists point into
``/nirs/probe/wavelengths`` in another order (SNIRF allows any: column k holds the light
of ``wavelengths[wavelengthIndex - 1]``); the record's ``wavelengths_nm`` is then the
wavelength of each column, in column order.

A file is written to a temporary name beside its destination and renamed over it
(:func:`os.replace`), so a crash never leaves a half-written file under the final name.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Union

import h5py
import numpy as np

from device.features import OD_WAVELENGTHS_NM
from device.mbll import DEFAULT_DISTANCE_CM
from device.recorder import fsync_directory

__all__ = [
    "MODEL_WAVELENGTHS_NM",
    "PROTOCOLS",
    "PROVENANCES",
    "SIDES",
    "Dataset",
    "DatasetError",
    "SessionRecord",
    "load_dataset",
    "read_session",
    "training_problems",
    "write_session",
]

#: The origins a session may have; training records which ones it used (the design brief:
#: results on simulated subjects are labelled as such everywhere).
PROVENANCES = ("simulated", "human")
#: Seed 003 §3.3.1.1 (elbow hold, biceps) and §3.3.1.2 (squat hold, vastus lateralis).
PROTOCOLS = ("upper_limb", "lower_limb")
#: The limb the sensor was on.
SIDES = ("left", "right")
#: The wavelengths the model's ΔOD inputs are named after (``d_od_750``... in
#: :data:`device.features.CHANNELS`), nm, in channel order: what :func:`load_dataset`
#: requires of every file, and the column order it gives ``intensity_v`` and ``d_od``.
MODEL_WAVELENGTHS_NM: tuple[float, ...] = OD_WAVELENGTHS_NM
#: Borg CR10 range (0–10).
BORG_MIN = 0
BORG_MAX = 10

#: Largest quality-flag word stored: 31 bits, so it stays exact and positive anywhere.
MAX_FLAGS = 2**31 - 1

#: SNIRF version written. The fields used (measurementList/dataUnit, aux/dataUnit,
#: stim/dataLabels) are in SNIRF 1.1.
SNIRF_FORMAT_VERSION = "1.1"
#: Tags that mark a file as this project's session record, and the layout version.
PROJECT_FORMAT = "nirs-fatigue-session"
PROJECT_FORMAT_VERSION = 1
#: SNIRF appendix: data type codes.
SNIRF_CW_AMPLITUDE = 1
SNIRF_PROCESSED = 99999
#: Haemoglobin unit string (SNIRF 1.1 measurementList/dataUnit). What MNE-Python expects:
#: its ``read_raw_snirf`` source with unit support (mne/io/snirf/_snirf.py,
#: ``_get_dataunit_scaling``) reads ``measurementList1/dataUnit`` of HbO/HbR data, takes
#: "M" when it is absent, accepts exactly "M" and "uM" (ASCII u, scaled by 1e-6) and raises
#: on anything else ("µM", "umol/L"). The released MNE 1.12.1 ignores dataUnit and takes
#: HbO/HbR as M, and reads only /nirs/data1 (our raw amplitudes, which it opens). We store
#: µM, so the label is "uM"; an MNE user reading data2 by hand scales by 1e-6.
HB_DATA_UNIT = "uM"
#: Unit of the raw amplitudes and of the dark level.
VOLT_UNIT = "V"
#: Columns of each stim row.
STIM_COLUMNS = ("Onset", "Duration", "Amplitude", "PhaseIndex")
#: Names of the aux channels.
AUX_DARK = "dark"
AUX_BORG = "borg_cr10"
AUX_LEVEL = "fatigue_level"
AUX_FLAGS = "quality_flags"
#: MeasurementDate / MeasurementTime when the start time is unknown (SNIRF 1.1 allows it);
#: also the subject, protocol, side or provenance of a session whose record does not say
#: them (``python -m host export``): such a file is for reading, not for training
#: (:func:`training_problems`).
UNKNOWN = "unknown"
#: Metadata key under which a session file says why it cannot be used for training.
NOT_FOR_TRAINING_KEY = "not_for_training"

MetadataValue = Union[str, float, int]
Progress = Callable[[int, int, Path], None]

_STR = h5py.string_dtype("utf-8")


class DatasetError(Exception):
    """A session file or dataset folder that cannot be read or written as asked.

    Parameters
    ----------
    path : path-like
        The file or folder concerned.
    problem : str
        What is wrong with it.

    Attributes
    ----------
    path : pathlib.Path
        The file or folder concerned.
    problem : str
        What is wrong with it.
    """

    def __init__(self, path: str | os.PathLike, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


@dataclass(eq=False)
class SessionRecord:
    """One recorded session: optical signals, haemoglobin, labels and facts about it.

    Sample arrays share the 10 Hz time base ``t_s`` (n samples); Borg reports have
    their own times (m reports). :meth:`validate` says whether the record is complete
    and consistent; :func:`write_session` refuses a record that is not.

    Attributes
    ----------
    subject_id : str
        Who was measured (a code, never a name).
    protocol : str
        One of :data:`PROTOCOLS`.
    side : str
        One of :data:`SIDES`.
    provenance : str
        ``"simulated"`` or ``"human"`` (:data:`PROVENANCES`).

        Each of these four may be :data:`UNKNOWN` when the session's record does not say
        it; such a session is not for training (:func:`training_problems`).
    wavelengths_nm : tuple of float
        LED wavelengths, nm, in column order of ``intensity_v`` and ``d_od``.
    t_s : ndarray, shape (n,)
        Sample times, s, strictly increasing (10 Hz).
    intensity_v : ndarray, shape (n, n_wl)
        Dark-subtracted detected light per wavelength, V (NaN where no data).
    dark_v : ndarray, shape (n,)
        Detector output with every LED off, V.
    d_od : ndarray, shape (n, n_wl)
        Change in optical density per wavelength (natural log), dimensionless.
    d_hbo2_um, d_hhb_um : ndarray, shape (n,)
        Changes in oxy- and deoxyhaemoglobin, µM.
    flags : ndarray of int, shape (n,)
        Quality bit flags per sample (``device.chain.FLAG_*``), 0 … 2**31 − 1.
    borg_t_s : ndarray, shape (m,)
        Times of the Borg reports, s, non-decreasing.
    borg : ndarray of int, shape (m,)
        Borg CR10 ratings as reported, 0–10.
    level : ndarray of int, shape (n,)
        Fatigue level at each sample, 0 … ``len(level_names) - 1``.
    level_names : tuple of str
        Level names, lowest first (e.g. none, light, moderate, high, exhausted).
    borg_thresholds : tuple of int
        The Borg → level mapping used: highest Borg rating of each level, lowest level
        first, strictly increasing and ending at 10 (``hwsim.borg.FatigueMapping``'s
        ``max_borg``).
    phases : list of (str, float, float)
        ``(name, onset_s, duration_s)`` of each phase (baseline, hold, rest), in order.
    task_failure_s : float
        Time of task failure, s, or NaN if the hold lasted its planned time.
    metadata : dict of str to str, int or float
        Free facts: seed, simulator version, subject parameters, …
    start_utc : datetime or None
        Wall-clock time of ``t_s = 0`` (timezone-aware), or None if unknown
        (simulated sessions).
    """

    subject_id: str
    protocol: str
    side: str
    provenance: str
    wavelengths_nm: tuple[float, ...]
    t_s: np.ndarray
    intensity_v: np.ndarray
    dark_v: np.ndarray
    d_od: np.ndarray
    d_hbo2_um: np.ndarray
    d_hhb_um: np.ndarray
    flags: np.ndarray
    borg_t_s: np.ndarray
    borg: np.ndarray
    level: np.ndarray
    level_names: tuple[str, ...]
    borg_thresholds: tuple[int, ...]
    phases: list[tuple[str, float, float]]
    task_failure_s: float
    metadata: dict[str, MetadataValue] = field(default_factory=dict)
    start_utc: datetime | None = None

    @property
    def n_samples(self) -> int:
        """Number of samples on the 10 Hz time base."""
        return int(np.shape(self.t_s)[0]) if np.ndim(self.t_s) else 0

    def validate(self) -> None:
        """Check that the record is complete and consistent.

        Raises
        ------
        ValueError
            Naming the field and what was expected and found: an unknown provenance,
            protocol or side, arrays whose lengths differ from ``t_s``, ratings or levels
            out of range, times that go backwards, …
        TypeError
            If a field has the wrong type (e.g. float flags, a boolean metadata value).
        """
        _check_labels(self)
        n = _check_times("t_s", self.t_s, strict=True, allow_empty=False)
        n_wl = _check_wavelengths(self.wavelengths_nm)
        for name in ("intensity_v", "d_od"):
            _check_real(name, getattr(self, name), (n, n_wl), "(samples, wavelengths)")
        for name in ("dark_v", "d_hbo2_um", "d_hhb_um"):
            _check_real(name, getattr(self, name), (n,), "(samples,)")
        flags = _check_int("flags", self.flags, n)
        if flags.size and (flags.min() < 0 or flags.max() > MAX_FLAGS):
            raise ValueError(
                f"flags must be within 0–{MAX_FLAGS} (32-bit flags), "
                f"found {flags.min()}–{flags.max()}"
            )
        n_levels = _check_mapping(self.level_names, self.borg_thresholds)
        level = _check_int("level", self.level, n)
        if level.size and (level.min() < 0 or level.max() >= n_levels):
            raise ValueError(
                f"level must be within 0–{n_levels - 1} ({n_levels} level names), "
                f"found {level.min()}–{level.max()}"
            )
        m = _check_times("borg_t_s", self.borg_t_s, strict=False, allow_empty=True)
        borg = _check_int("borg", self.borg, m, length_of="borg_t_s")
        if borg.size and (borg.min() < BORG_MIN or borg.max() > BORG_MAX):
            raise ValueError(
                f"borg ratings must be within {BORG_MIN}–{BORG_MAX} (Borg CR10), "
                f"found {borg.min()}–{borg.max()}"
            )
        _check_phases(self.phases)
        _check_task_failure(self.task_failure_s)
        _check_metadata(self.metadata)
        if self.start_utc is not None and (
            not isinstance(self.start_utc, datetime) or self.start_utc.utcoffset() is None
        ):
            raise TypeError(
                f"start_utc must be a timezone-aware datetime or None, got {self.start_utc!r}"
            )


# -- record checks --------------------------------------------------------------------


def _check_choice(name: str, value: object, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")


def _check_labels(record: SessionRecord) -> None:
    if not isinstance(record.subject_id, str) or not record.subject_id.strip():
        raise ValueError(f"subject_id must be a non-empty string, got {record.subject_id!r}")
    _check_choice("provenance", record.provenance, (*PROVENANCES, UNKNOWN))
    _check_choice("protocol", record.protocol, (*PROTOCOLS, UNKNOWN))
    _check_choice("side", record.side, (*SIDES, UNKNOWN))


def training_problems(record: SessionRecord) -> list[str]:
    """Why a session cannot be used for training or statistics; empty if it can.

    A session whose subject, protocol, side or provenance is :data:`UNKNOWN`, or that
    holds no Borg rating (so no fatigue level: its ``level`` is only the default of
    Borg 0), is readable and plottable but unlabelled. :func:`load_dataset` refuses it.
    """
    facts = (
        ("subject", record.subject_id),
        ("protocol", record.protocol),
        ("side", record.side),
        ("provenance", record.provenance),
    )
    problems = [f"its {name} is unknown" for name, value in facts if value == UNKNOWN]
    if np.size(record.borg) == 0:
        problems.append("it holds no Borg rating, so no fatigue label")
    return problems


def _check_times(name: str, values: Any, *, strict: bool, allow_empty: bool) -> int:
    arr = np.asarray(values)
    if arr.ndim != 1 or arr.dtype.kind not in "iuf":
        raise ValueError(f"{name} must be a 1-D array of seconds, got shape {arr.shape}")
    if arr.size == 0 and not allow_empty:
        raise ValueError(f"{name} is empty: a session needs at least one sample")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite (seconds), found NaN or infinity")
    steps = np.diff(arr)
    bad = np.flatnonzero(steps <= 0 if strict else steps < 0)
    if bad.size:
        order = "strictly increasing" if strict else "non-decreasing"
        raise ValueError(f"{name} must be {order}, but is not at index {bad[0] + 1}")
    return int(arr.size)


def _check_wavelengths(wavelengths: Any) -> int:
    if not isinstance(wavelengths, tuple) or not wavelengths:
        raise TypeError(f"wavelengths_nm must be a non-empty tuple, got {wavelengths!r}")
    for w in wavelengths:
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not 0 < w < math.inf:
            raise ValueError(f"wavelengths_nm must hold positive numbers (nm), got {wavelengths}")
    return len(wavelengths)


def _check_real(name: str, values: Any, shape: tuple[int, ...], meaning: str) -> None:
    arr = np.asarray(values)
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape} {meaning} to match t_s, got {arr.shape}")


def _check_int(name: str, values: Any, n: int, *, length_of: str = "t_s") -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integers, got dtype {arr.dtype}")
    if arr.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) to match {length_of}, got {arr.shape}")
    return arr


def _check_mapping(names: Any, thresholds: Any) -> int:
    if not isinstance(names, tuple) or len(names) < 2:
        raise TypeError(f"level_names must be a tuple of at least 2 names, got {names!r}")
    if not all(isinstance(s, str) and s for s in names) or len(set(names)) != len(names):
        raise ValueError(f"level_names must be distinct non-empty strings, got {names!r}")
    if not isinstance(thresholds, tuple) or not all(
        isinstance(b, (int, np.integer)) and not isinstance(b, bool) for b in thresholds
    ):
        raise TypeError(f"borg_thresholds must be a tuple of integers, got {thresholds!r}")
    if len(thresholds) != len(names):
        raise ValueError(
            f"borg_thresholds needs one value per level: {len(names)} level names, "
            f"{len(thresholds)} thresholds"
        )
    if (
        thresholds[0] < BORG_MIN
        or thresholds[-1] != BORG_MAX
        or any(b <= a for a, b in zip(thresholds, thresholds[1:]))
    ):
        raise ValueError(
            f"borg_thresholds must increase strictly from ≥ {BORG_MIN} to {BORG_MAX}, "
            f"got {thresholds}"
        )
    return len(names)


def _check_phases(phases: Any) -> None:
    if not isinstance(phases, (list, tuple)):
        raise TypeError(f"phases must be a list of (name, onset_s, duration_s), got {phases!r}")
    for i, phase in enumerate(phases):
        ok = isinstance(phase, tuple) and len(phase) == 3
        ok = ok and isinstance(phase[0], str) and bool(phase[0])
        ok = ok and all(_is_real(v) and math.isfinite(v) for v in phase[1:])
        if not ok or phase[2] < 0:
            raise ValueError(
                f"phases[{i}] must be (name, onset_s, duration_s) with a non-empty name, "
                f"finite times and duration ≥ 0, got {phase!r}"
            )


def _check_task_failure(value: Any) -> None:
    if not _is_real(value) or math.isinf(value):
        raise ValueError(f"task_failure_s must be a finite number of seconds or NaN, got {value!r}")


def _check_metadata(metadata: Any) -> None:
    if not isinstance(metadata, Mapping):
        raise TypeError(f"metadata must be a dict, got {type(metadata).__name__}")
    for key, value in metadata.items():
        if not isinstance(key, str) or not key:
            raise TypeError(f"metadata keys must be non-empty strings, got {key!r}")
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise TypeError(
                f"metadata[{key!r}] must be a str, int or float, got {type(value).__name__}"
            )


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


# -- writing --------------------------------------------------------------------------


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
    _put_str(h5, "formatVersion", SNIRF_FORMAT_VERSION)
    nirs = h5.create_group("nirs")
    _write_tags(nirs.create_group("metaDataTags"), record)
    _write_raw(nirs.create_group("data1"), record)
    _write_processed(nirs.create_group("data2"), record)
    _write_probe(nirs.create_group("probe"), record)
    _write_stims(nirs, record)
    _write_aux(nirs, record)


def _put_str(group: h5py.Group, name: str, text: str) -> None:
    group.create_dataset(name, data=text, dtype=_STR)


def _put_int(group: h5py.Group, name: str, value: int) -> None:
    # SNIRF limits integers to 32 bits.
    group.create_dataset(name, data=np.int32(value))


def _put_floats(group: h5py.Group, name: str, values: Any) -> None:
    group.create_dataset(name, data=np.asarray(values, dtype=np.float64))


def _write_tags(tags: h5py.Group, record: SessionRecord) -> None:
    _put_str(tags, "SubjectID", record.subject_id)
    if record.start_utc is None:
        date, time = UNKNOWN, UNKNOWN
    else:
        start = record.start_utc.astimezone(timezone.utc)
        date, time = start.strftime("%Y-%m-%d"), start.strftime("%H:%M:%S.%fZ")
    _put_str(tags, "MeasurementDate", date)
    _put_str(tags, "MeasurementTime", time)
    _put_str(tags, "LengthUnit", "cm")
    _put_str(tags, "TimeUnit", "s")
    _put_str(tags, "FrequencyUnit", "Hz")
    _put_str(tags, "ProjectFormat", PROJECT_FORMAT)
    _put_int(tags, "ProjectFormatVersion", PROJECT_FORMAT_VERSION)
    _put_str(tags, "Provenance", record.provenance)
    _put_str(tags, "Protocol", record.protocol)
    _put_str(tags, "Side", record.side)
    tags.create_dataset("TaskFailureTime", data=np.float64(record.task_failure_s))
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


def _write_raw(data: h5py.Group, record: SessionRecord) -> None:
    _put_floats(data, "dataTimeSeries", record.intensity_v)
    _put_floats(data, "time", record.t_s)
    for k in range(1, len(record.wavelengths_nm) + 1):
        _measurement(data, k, data_type=SNIRF_CW_AMPLITUDE, wavelength_index=k, unit=VOLT_UNIT)


def _write_processed(data: h5py.Group, record: SessionRecord) -> None:
    columns = np.column_stack(
        [np.asarray(record.d_od, dtype=np.float64), record.d_hbo2_um, record.d_hhb_um]
    )
    _put_floats(data, "dataTimeSeries", columns)
    _put_floats(data, "time", record.t_s)
    n_wl = len(record.wavelengths_nm)
    for k in range(1, n_wl + 1):
        # ΔOD is dimensionless: no dataUnit.
        _measurement(data, k, data_type=SNIRF_PROCESSED, wavelength_index=k, label="dOD")
    for k, label in enumerate(("HbO", "HbR"), start=n_wl + 1):
        # SNIRF requires a wavelengthIndex on every channel, but ΔHbO2/ΔHHb come from
        # all wavelengths together: 1 is a placeholder that keeps 1-based readers in
        # range (0 draws a validator warning); readers go by dataTypeLabel here.
        _measurement(
            data,
            k,
            data_type=SNIRF_PROCESSED,
            wavelength_index=1,
            label=label,
            unit=HB_DATA_UNIT,
        )


def _write_probe(probe: h5py.Group, record: SessionRecord) -> None:
    _put_floats(probe, "wavelengths", record.wavelengths_nm)
    # One LED package (the source) at the origin, the OPT101 (the detector) along x.
    _put_floats(probe, "sourcePos3D", [[0.0, 0.0, 0.0]])
    _put_floats(probe, "detectorPos3D", [[DEFAULT_DISTANCE_CM, 0.0, 0.0]])
    probe.create_dataset("sourceLabels", data=["S1"], dtype=_STR)
    probe.create_dataset("detectorLabels", data=["D1"], dtype=_STR)


def _write_stims(nirs: h5py.Group, record: SessionRecord) -> None:
    by_name: dict[str, list[list[float]]] = {}
    for index, (name, onset_s, duration_s) in enumerate(record.phases):
        by_name.setdefault(name, []).append([onset_s, duration_s, 1.0, float(index)])
    for i, (name, rows) in enumerate(by_name.items(), start=1):
        stim = nirs.create_group(f"stim{i}")
        _put_str(stim, "name", name)
        _put_floats(stim, "data", rows)
        stim.create_dataset("dataLabels", data=list(STIM_COLUMNS), dtype=_STR)


def _write_aux(nirs: h5py.Group, record: SessionRecord) -> None:
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
        _put_floats(aux, "time", times)
        if unit is not None:
            _put_str(aux, "dataUnit", unit)


# -- reading --------------------------------------------------------------------------


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


# -- datasets -------------------------------------------------------------------------


@dataclass(eq=False)
class Dataset:
    """Sessions read from a folder, concatenated for training.

    Per-sample arrays (N = total samples) are the sessions' arrays one after the other,
    in file-name order; ``session_index[i]`` says which record sample ``i`` came from.

    Attributes
    ----------
    records : list of SessionRecord
        The sessions, in file-name order, their wavelength columns in the order
        :func:`load_dataset` was asked for (the model's, by default).
    paths : list of pathlib.Path
        The file each record came from.
    wavelengths_nm, level_names, borg_thresholds : tuple
        Shared by every session (the loader checks it).
    t_s : ndarray, shape (N,)
        Time within its session, s.
    intensity_v, d_od : ndarray, shape (N, n_wl)
        Dark-subtracted light (V) and ΔOD per wavelength.
    dark_v, d_hbo2_um, d_hhb_um : ndarray, shape (N,)
        Dark level (V), ΔHbO2 and ΔHHb (µM).
    flags, level : ndarray of int64, shape (N,)
        Quality flags and fatigue level.
    session_index : ndarray of int64, shape (N,)
        Index into ``records``.
    subject_id : ndarray of str, shape (N,)
        Subject of each sample (for subject-wise splits).
    borg_t_s : ndarray, shape (M,)
        Borg report times within their session, s.
    borg : ndarray of int64, shape (M,)
        Borg CR10 ratings.
    borg_session_index : ndarray of int64, shape (M,)
        Index into ``records`` of each report.
    """

    records: list[SessionRecord]
    paths: list[Path]
    wavelengths_nm: tuple[float, ...]
    level_names: tuple[str, ...]
    borg_thresholds: tuple[int, ...]
    t_s: np.ndarray
    intensity_v: np.ndarray
    dark_v: np.ndarray
    d_od: np.ndarray
    d_hbo2_um: np.ndarray
    d_hhb_um: np.ndarray
    flags: np.ndarray
    level: np.ndarray
    session_index: np.ndarray
    subject_id: np.ndarray
    borg_t_s: np.ndarray
    borg: np.ndarray
    borg_session_index: np.ndarray

    def __len__(self) -> int:
        return int(self.t_s.size)

    @property
    def provenance(self) -> frozenset[str]:
        """The provenances of the sessions (``{"simulated"}``, ``{"human"}`` or both).

        Whatever is trained on this dataset must record it.
        """
        return frozenset(r.provenance for r in self.records)

    @property
    def subjects(self) -> tuple[str, ...]:
        """Distinct subject IDs, sorted."""
        return tuple(sorted({r.subject_id for r in self.records}))


def load_dataset(
    folder: str | os.PathLike,
    *,
    pattern: str = "*.snirf",
    progress: bool | Progress = False,
    wavelengths_nm: Sequence[float] | None = MODEL_WAVELENGTHS_NM,
) -> Dataset:
    """Read every session file in a folder and concatenate them.

    Files are read in sorted name order, so the result is the same on every machine.
    Nothing is skipped: a file that cannot be read stops the load with an error naming
    it, rather than a dataset that silently lacks it.

    Parameters
    ----------
    folder : path-like
        The dataset folder.
    pattern : str, optional
        Glob pattern of the session files in ``folder`` (not recursive unless the
        pattern says ``**``).
    progress : bool or callable, optional
        True prints ``load_dataset: i/n name`` to stderr per file; a callable is called
        as ``progress(i, n, path)`` after each file (i from 1). False: silent.
    wavelengths_nm : sequence of float or None, optional
        The wavelengths (nm) every file must hold, each once, and the column order the
        result has them in: by default :data:`MODEL_WAVELENGTHS_NM`, those the model's
        inputs are named after. A file that holds them in another order (a device
        configured ``wavelengths_nm = [870, 810, 750]`` writes them so) is matched by
        wavelength: its ``intensity_v`` and ``d_od`` columns and its ``wavelengths_nm`` are
        put in this order (columns at other wavelengths are left out); nothing else in
        its record changes. None: the files' own columns, as long as all files agree.

    Returns
    -------
    Dataset
        The concatenated sessions.

    Raises
    ------
    DatasetError
        If the folder does not exist or holds no matching file (naming the folder and
        the pattern), if a file cannot be read (naming the file), if a file lacks one of
        ``wavelengths_nm`` or holds it twice (naming the file, the wavelengths found and
        those needed), or if its wavelengths or Borg → level mapping differ from the first
        file's, or if a file is unlabelled (:func:`training_problems`: an unknown subject,
        protocol, side or provenance, or no Borg rating).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(folder, "no such dataset folder")
    paths = sorted(p for p in folder.glob(pattern) if p.is_file())
    if not paths:
        raise DatasetError(folder, f"no session files matching {pattern!r} in this folder")
    report = _progress_reporter(progress)
    records: list[SessionRecord] = []
    for i, path in enumerate(paths, start=1):
        record = read_session(path)
        problems = training_problems(record)
        if problems:
            raise DatasetError(
                path,
                f"not usable for training: {'; '.join(problems)} (a session file for "
                "reading and plotting, e.g. from 'python -m host export'; move it out of "
                "the dataset folder)",
            )
        if wavelengths_nm is not None:
            record = _in_wavelength_order(path, record, tuple(float(w) for w in wavelengths_nm))
        if records:
            _check_compatible(path, records[0], paths[0], record)
        records.append(record)
        report(i, len(paths), path)
    return _concatenate(records, paths)


def _progress_reporter(progress: bool | Progress) -> Progress:
    if callable(progress):
        return progress
    if progress:
        return lambda i, n, path: print(f"load_dataset: {i}/{n} {path.name}", file=sys.stderr)
    return lambda i, n, path: None


def _in_wavelength_order(
    path: Path, record: SessionRecord, needed: tuple[float, ...]
) -> SessionRecord:
    """``record`` with column k of ``intensity_v`` and ``d_od`` its column at ``needed[k]``
    nm, and ``wavelengths_nm`` = ``needed`` (the record itself when it is so already)."""
    found = tuple(record.wavelengths_nm)
    if found == needed:
        return record
    counts = [found.count(w) for w in needed]
    if counts != [1] * len(needed):
        text = ", ".join(f"{w:g}" for w in found)
        want = ", ".join(f"{w:g}" for w in needed)
        twice = ", each once" if max(counts) > 1 else ""
        raise DatasetError(
            path, f"holds wavelengths {text} nm; training and the model need {want} nm{twice}"
        )
    columns = [found.index(w) for w in needed]
    return replace(
        record,
        wavelengths_nm=needed,
        intensity_v=np.asarray(record.intensity_v)[:, columns],
        d_od=np.asarray(record.d_od)[:, columns],
    )


def _check_compatible(
    path: Path, first: SessionRecord, first_path: Path, rec: SessionRecord
) -> None:
    for name in ("wavelengths_nm", "level_names", "borg_thresholds"):
        if getattr(rec, name) != getattr(first, name):
            raise DatasetError(
                path,
                f"{name} {getattr(rec, name)} differs from {getattr(first, name)} in "
                f"{first_path.name}: one dataset needs one set of wavelengths and one "
                "Borg → level mapping",
            )


def _concatenate(records: list[SessionRecord], paths: list[Path]) -> Dataset:
    def cat(name: str, dtype: Any) -> np.ndarray:
        return np.concatenate([np.asarray(getattr(r, name), dtype=dtype) for r in records])

    counts = [r.n_samples for r in records]
    borg_counts = [int(np.size(r.borg)) for r in records]
    first = records[0]
    return Dataset(
        records=list(records),
        paths=list(paths),
        wavelengths_nm=first.wavelengths_nm,
        level_names=first.level_names,
        borg_thresholds=first.borg_thresholds,
        t_s=cat("t_s", np.float64),
        intensity_v=cat("intensity_v", np.float64),
        dark_v=cat("dark_v", np.float64),
        d_od=cat("d_od", np.float64),
        d_hbo2_um=cat("d_hbo2_um", np.float64),
        d_hhb_um=cat("d_hhb_um", np.float64),
        flags=cat("flags", np.int64),
        level=cat("level", np.int64),
        session_index=np.repeat(np.arange(len(records), dtype=np.int64), counts),
        subject_id=np.repeat(np.array([r.subject_id for r in records], dtype=np.str_), counts),
        borg_t_s=cat("borg_t_s", np.float64),
        borg=cat("borg", np.int64),
        borg_session_index=np.repeat(np.arange(len(records), dtype=np.int64), borg_counts),
    )
