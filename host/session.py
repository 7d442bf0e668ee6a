"""A recorded session in memory: :class:`SessionRecord`, its checks and its error type.

A session (one limb, one side, one subject: baseline, hold, rest) is kept as a
:class:`SessionRecord` in memory and as one SNIRF file on disk (:mod:`host.snirf_writer`,
:mod:`host.snirf_reader`; the layout in :mod:`host.snirf_layout`). :mod:`host.dataset`
loads a folder of them for training.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Union

import numpy as np

from device.chain import ChainConfig
from device.features import OD_WAVELENGTHS_NM

__all__ = [
    "DEFAULT_DISTANCE_CM",
    "DEFAULT_DPF",
    "MODEL_WAVELENGTHS_NM",
    "PROTOCOLS",
    "PROVENANCES",
    "SIDES",
    "DatasetError",
    "SessionRecord",
    "training_problems",
]

#: The origins a session may have; training records which ones it used (the design brief:
#: results on simulated subjects are labelled as such everywhere).
PROVENANCES = ("simulated", "human")
#: Seed 003 §3.3.1.1 (elbow hold, biceps) and §3.3.1.2 (squat hold, vastus lateralis),
#: then sessions in which nobody tires (issue 19): a passive cuff occlusion at rest (vastus
#: lateralis), quiet sitting with movement and light dynamic elbow-flexor work (biceps).
FATIGUE_PROTOCOLS = ("upper_limb", "lower_limb")
NON_FATIGUE_PROTOCOLS = ("cuff_occlusion", "quiet_sitting", "light_work")
PROTOCOLS = (*FATIGUE_PROTOCOLS, *NON_FATIGUE_PROTOCOLS)
#: The limb the sensor was on.
SIDES = ("left", "right")
#: The wavelengths the model's ΔOD inputs are named after (``d_od_750``... in
#: :data:`device.features.CHANNELS`), nm, in channel order: what :func:`load_dataset`
#: requires of every file, and the column order it gives ``intensity_v`` and ``d_od``.
MODEL_WAVELENGTHS_NM: tuple[float, ...] = OD_WAVELENGTHS_NM
#: The DPF and source–detector distance (cm) the device's chain computes haemoglobin with
#: unless configured otherwise: :class:`device.chain.ChainConfig`'s defaults (the design
#: brief's, sourced in :mod:`device.mbll`). A session that does not say them used these.
DEFAULT_DPF: float | tuple[float, ...] = ChainConfig().dpf
DEFAULT_DISTANCE_CM: float = ChainConfig().distance_cm
#: Borg CR10 range (0–10).
BORG_MIN = 0
BORG_MAX = 10

#: Largest quality-flag word stored: 31 bits, so it stays exact and positive anywhere.
MAX_FLAGS = 2**31 - 1
#: MeasurementDate / MeasurementTime when the start time is unknown (SNIRF 1.1 allows it);
#: also the subject, protocol, side or provenance of a session whose record does not say
#: them (``python -m host export``): such a file is for reading, not for training
#: (:func:`training_problems`).
UNKNOWN = "unknown"
#: Facts about the measurement site that validation studies ask for, as session metadata
#: keys -> what each is, with its unit. Adipose tissue over the muscle shifts and damps
#: NIRS values (van Beekvelt et al. 2001, Clin Sci 101:21-28); probe pressure changes the
#: blood volume under the probe. ``host collect --adipose-mm/--probe-pressure-mmhg``
#: records them; ``host validate`` reports them.
MEASUREMENT_SITE = {
    "adipose_tissue_thickness_mm": "adipose tissue thickness (mm)",
    "probe_pressure_mmhg": "probe pressure (mmHg)",
}
#: Metadata key under which a session file says why it cannot be used for training.
NOT_FOR_TRAINING_KEY = "not_for_training"

MetadataValue = Union[str, float, int]


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
    dpf : float or tuple of float
        Differential pathlength factor ``d_hbo2_um`` and ``d_hhb_um`` were computed with
        (dimensionless): one for every wavelength, or one per wavelength in column order.
        Default :data:`DEFAULT_DPF`.
    distance_cm : float
        Source–detector distance they were computed with, cm. Default
        :data:`DEFAULT_DISTANCE_CM`.
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
    dpf: float | tuple[float, ...] = DEFAULT_DPF
    distance_cm: float = DEFAULT_DISTANCE_CM

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
        _check_optics(self.dpf, self.distance_cm, n_wl)
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


def _check_optics(dpf: Any, distance_cm: Any, n_wl: int) -> None:
    values = dpf if isinstance(dpf, tuple) else (dpf,)
    if (isinstance(dpf, tuple) and len(dpf) != n_wl) or not all(
        _is_real(v) and math.isfinite(v) and v > 0 for v in values
    ):
        raise ValueError(
            f"dpf must be one number > 0 or a tuple of one per wavelength ({n_wl}), " f"got {dpf!r}"
        )
    if not (_is_real(distance_cm) and math.isfinite(distance_cm) and distance_cm > 0):
        raise ValueError(f"distance_cm must be a positive number of cm, got {distance_cm!r}")


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
