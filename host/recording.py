"""One sensor's recording from any muscle-oxygen device: channels with their units on one
time base, and the intervals marked in it.

:class:`Recording` is what the analysis commands take (``plot``, ``kinetics``,
``validate``, ``predict``), whatever made the file: this project's own session files
(:meth:`Recording.from_session`) and what other devices and tools export
(:mod:`host.importers`: Moxy, Train.Red, Artinis OxySoft, SNIRF). A file with two sensors
gives two recordings. Every value keeps the unit the file gives it; nothing is rescaled
on import, and what an importer had to do to the data (repeated time stamps merged,
"sensor off" values blanked, ...) is said in :attr:`Recording.notes`.

Quantities (:data:`QUANTITIES`) name what a channel measures in the field's terms, so an
analysis can ask for "SmO2" without knowing that Artinis calls it TSI.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from host.session import UNKNOWN, DatasetError, MetadataValue, SessionRecord
from host.snirf_layout import PROJECT_FORMAT

__all__ = [
    "QUANTITIES",
    "Channel",
    "Interval",
    "Recording",
]

#: Quantity name -> what it is. ``smo2``: tissue (muscle) oxygen saturation, % (Moxy and
#: Train.Red call it SmO2, Artinis TSI); ``hbo2``/``hhb``/``thb``: oxy-, deoxy- and total
#: haemoglobin, µM or the device's arbitrary units (a change from a reference when
#: :attr:`Channel.relative`); ``d_od``: change in optical density at one wavelength;
#: ``intensity``: detected light; ``quality``: this device's flags; ``other``: anything
#: else a file holds (kept, not used).
QUANTITIES: dict[str, str] = {
    "smo2": "muscle oxygen saturation (SmO2, TSI), %",
    "hbo2": "oxyhaemoglobin (O2Hb, HbO2)",
    "hhb": "deoxyhaemoglobin (HHb, HbR)",
    "thb": "total haemoglobin (tHb)",
    "d_od": "change in optical density (ΔOD) at one wavelength",
    "intensity": "detected light at one wavelength",
    "quality": "the device's quality flag word per sample (device.chain.FLAG_*; 0: clean)",
    "other": "another channel of the file, kept with its unit",
}
#: Where a recording came from (as :data:`host.session.PROVENANCES`, or not known).
RECORDING_PROVENANCES = ("simulated", "human", UNKNOWN)


@dataclass(frozen=True, eq=False)
class Channel:
    """One signal of a recording.

    Attributes
    ----------
    name : str
        As the file calls it (``"SmO2 Live"``, ``"O2Hb"``, ``"S1_D1 760"``).
    quantity : str
        One of :data:`QUANTITIES`.
    unit : str
        As the file gives it, spelled plainly: ``"%"``, ``"uM"``, ``"a.u."``, ``"V"``,
        ``"1"`` (dimensionless).
    values : ndarray of float, shape (n,)
        On the recording's time base; NaN where the device gave no valid value.
    relative : bool
        True for a change from a reference (ΔHbO2, ΔOD), False for an absolute value.
    wavelength_nm : float or None
        For ``d_od`` and ``intensity`` channels.
    """

    name: str
    quantity: str
    unit: str
    values: np.ndarray
    relative: bool = False
    wavelength_nm: float | None = None


@dataclass(frozen=True)
class Interval:
    """A marked stretch of a recording: a lap, an event to the next event, a phase.

    Attributes
    ----------
    label : str
        The marker's text or number as the file gives it (``"Lap 2"``, ``"hold"``).
    onset_s : float
        Start, s on the recording's time base.
    duration_s : float
        Length, s (0 for a single instant).
    """

    label: str
    onset_s: float
    duration_s: float

    @property
    def end_s(self) -> float:
        """End, s."""
        return self.onset_s + self.duration_s


@dataclass(eq=False)
class Recording:
    """One sensor's signals on one time base.

    Attributes
    ----------
    source : pathlib.Path
        The file read.
    format : str
        What it was read as (``"nirs-fatigue-session"``, ``"moxy-csv"``,
        ``"trainred-csv"``, ``"oxysoft-txt"``, ``"oxysoft-xlsx"``, ``"snirf"``).
    sensor : str
        Which sensor of the file (its label or number as the file says; ``"1"`` when the
        file has one).
    t_s : ndarray of float, shape (n,)
        Sample times, s from the start of the recording, finite and strictly increasing
        (importers merge repeated stamps and say so in :attr:`notes`). Not necessarily
        regular: real exports are not.
    channels : tuple of Channel
        Every signal the file holds for this sensor, each of shape (n,).
    intervals : tuple of Interval
        Marked stretches, in onset order.
    provenance : str
        ``"simulated"``, ``"human"`` or ``"unknown"`` (:data:`RECORDING_PROVENANCES`).
    start_utc : datetime or None
        Wall-clock time of ``t_s = 0`` (timezone-aware), or None if the file does not say.
    metadata : dict of str to str, int or float
        Facts the file states: device, software and export version, body position, and
        what validation needs (``adipose_tissue_thickness_mm``, ``probe_pressure_mmhg``).
    notes : tuple of str
        What the importer did to the data, one sentence each.
    """

    source: Path
    format: str
    sensor: str
    t_s: np.ndarray
    channels: tuple[Channel, ...]
    intervals: tuple[Interval, ...] = ()
    provenance: str = UNKNOWN
    start_utc: datetime | None = None
    metadata: dict[str, MetadataValue] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.validate()

    @property
    def n_samples(self) -> int:
        """Number of samples."""
        return int(np.size(self.t_s))

    @property
    def duration_s(self) -> float:
        """Last minus first sample time, s (0 for one sample)."""
        return float(self.t_s[-1] - self.t_s[0]) if self.n_samples else 0.0

    @property
    def rate_hz(self) -> float:
        """Median sample rate, Hz (NaN with fewer than two samples)."""
        if self.n_samples < 2:
            return math.nan
        return float(1.0 / np.median(np.diff(self.t_s)))

    def has(self, quantity: str) -> bool:
        """Whether a channel measures ``quantity`` (one of :data:`QUANTITIES`)."""
        return any(c.quantity == quantity for c in self.channels)

    def channel(self, quantity: str, *, unit: str | None = None) -> Channel:
        """The first channel measuring ``quantity`` (in ``unit``, if given).

        Raises
        ------
        DatasetError
            Naming the file, the sensor, what was asked and what channels it has.
        """
        if quantity not in QUANTITIES:
            raise ValueError(f"quantity must be one of {', '.join(QUANTITIES)}; got {quantity!r}")
        for c in self.channels:
            if c.quantity == quantity and (unit is None or c.unit == unit):
                return c
        have = ", ".join(f"{c.name} ({c.unit})" for c in self.channels) or "none"
        want = quantity + (f" in {unit}" if unit else "")
        raise DatasetError(
            self.source, f"sensor {self.sensor} has no {want} channel; its channels: {have}"
        )

    def validate(self) -> None:
        """Check shapes, times and names.

        Raises
        ------
        DatasetError
            Naming the file and what is wrong (a time that is not finite or goes back, a
            channel of another length, an unknown quantity, an interval outside the
            recording's times).
        """
        t = np.asarray(self.t_s, dtype=float)
        if t.ndim != 1 or t.size == 0:
            raise DatasetError(self.source, f"sensor {self.sensor}: no samples")
        if not np.all(np.isfinite(t)):
            raise DatasetError(self.source, f"sensor {self.sensor}: a sample time is not finite")
        if t.size > 1 and np.any(np.diff(t) <= 0):
            k = int(np.argmax(np.diff(t) <= 0))
            raise DatasetError(
                self.source,
                f"sensor {self.sensor}: sample times must increase strictly; "
                f"sample {k + 1} at {t[k + 1]:g} s follows {t[k]:g} s",
            )
        if self.provenance not in RECORDING_PROVENANCES:
            raise DatasetError(
                self.source,
                f"provenance must be one of {', '.join(RECORDING_PROVENANCES)}; "
                f"got {self.provenance!r}",
            )
        for c in self.channels:
            if c.quantity not in QUANTITIES:
                raise DatasetError(
                    self.source, f"channel {c.name!r}: unknown quantity {c.quantity!r}"
                )
            if np.shape(c.values) != t.shape:
                raise DatasetError(
                    self.source,
                    f"channel {c.name!r} has shape {np.shape(c.values)}, "
                    f"expected {t.shape} (one value per sample)",
                )
        for iv in self.intervals:
            if not (math.isfinite(iv.onset_s) and iv.duration_s >= 0):
                raise DatasetError(self.source, f"interval {iv.label!r}: bad onset or duration")

    def describe(self) -> str:
        """One line: file, format, sensor, length, rate, channels."""
        chans = ", ".join(f"{c.name} ({c.unit})" for c in self.channels)
        return (
            f"{self.source.name} [{self.format}] sensor {self.sensor}: {self.n_samples} samples "
            f"over {self.duration_s:.1f} s (about {self.rate_hz:.3g} Hz), {self.provenance} data; "
            f"channels: {chans}; {len(self.intervals)} interval(s)"
        )

    def output_stem(self, n_sensors: int) -> str:
        """Stem for files made from this recording: the source's stem, and for a file of
        ``n_sensors`` > 1 sensors ``_sensor<label>`` after it (characters other than
        letters, digits, '-' and '.' as '_')."""
        stem = self.source.stem
        if n_sensors > 1:
            label = "".join(ch if ch.isalnum() or ch in "-." else "_" for ch in self.sensor)
            stem += f"_sensor{label}"
        return stem

    @classmethod
    def from_session(cls, record: SessionRecord, source: str | os.PathLike) -> Recording:
        """This project's session (:class:`host.session.SessionRecord`) as a recording.

        Channels: ΔHbO2, ΔHHb and ΔtHb (µM, relative), ΔOD and the detected light (V) per
        wavelength, and the quality flags (``device.chain.FLAG_*`` as floats); intervals:
        the session's phases (baseline, hold, rest). The SmO2
        estimate is not a channel: it needs the assumed baseline of
        :func:`host.plots.smo2_estimate` and is said so where it is shown.
        """
        hbo2 = np.asarray(record.d_hbo2_um, dtype=float)
        hhb = np.asarray(record.d_hhb_um, dtype=float)
        channels = [
            Channel("ΔHbO2", "hbo2", "uM", hbo2, relative=True),
            Channel("ΔHHb", "hhb", "uM", hhb, relative=True),
            Channel("ΔtHb", "thb", "uM", hbo2 + hhb, relative=True),
        ]
        for k, wl in enumerate(record.wavelengths_nm):
            d_od = np.asarray(record.d_od, dtype=float)[:, k]
            light = np.asarray(record.intensity_v, dtype=float)[:, k]
            channels.append(Channel(f"ΔOD {wl:g}", "d_od", "1", d_od, True, float(wl)))
            channels.append(Channel(f"light {wl:g}", "intensity", "V", light, False, float(wl)))
        flags = np.asarray(record.flags, dtype=float)
        channels.append(Channel("quality flags", "quality", "flags", flags))
        return cls(
            source=Path(source),
            format=PROJECT_FORMAT,
            sensor="1",
            t_s=np.asarray(record.t_s, dtype=float),
            channels=tuple(channels),
            intervals=tuple(Interval(n, float(a), float(d)) for n, a, d in record.phases),
            provenance=record.provenance,
            start_utc=record.start_utc,
            metadata=dict(record.metadata),
        )


def merge_repeated_stamps(
    t_s: np.ndarray, columns: Sequence[np.ndarray]
) -> tuple[np.ndarray, list[np.ndarray], int]:
    """Merge samples that share a time stamp into one (the mean of their finite values).

    Real exports repeat stamps (Train.Red's app writes several samples per stamp when its
    Bluetooth link delivers them late). Samples are first put in time order (stable).

    Parameters
    ----------
    t_s : ndarray, shape (n,)
        Times, s, finite.
    columns : sequence of ndarray, each shape (n,)
        Values per sample (NaN for no value).

    Returns
    -------
    t_s : ndarray, shape (k,)
        Distinct times, strictly increasing.
    columns : list of ndarray, each shape (k,)
        Mean of the finite values at each time (NaN if none).
    merged : int
        How many samples were merged away (n - k).
    """
    t = np.asarray(t_s, dtype=float)
    order = np.argsort(t, kind="stable")
    t = t[order]
    uniq, inverse = np.unique(t, return_inverse=True)
    out = []
    for col in columns:
        v = np.asarray(col, dtype=float)[order]
        ok = np.isfinite(v)
        sums = np.bincount(inverse, weights=np.where(ok, v, 0.0), minlength=uniq.size)
        counts = np.bincount(inverse, weights=ok.astype(float), minlength=uniq.size)
        with np.errstate(invalid="ignore", divide="ignore"):
            out.append(np.where(counts > 0, sums / np.maximum(counts, 1), np.nan))
    return uniq, out, int(t.size - uniq.size)


def intervals_from_markers(
    times_s: Sequence[float], labels: Sequence[str], end_s: float
) -> tuple[Interval, ...]:
    """Intervals from markers: each runs from its marker to the next one (the last to
    ``end_s``), as laps and event marks split a recording.

    Parameters
    ----------
    times_s : sequence of float
        Marker times, s (any order; sorted here).
    labels : sequence of str
        The marker texts, same length.
    end_s : float
        End of the recording, s.
    """
    pairs = sorted(zip(times_s, labels), key=lambda p: p[0])
    out = []
    for i, (t, label) in enumerate(pairs):
        nxt = pairs[i + 1][0] if i + 1 < len(pairs) else end_s
        out.append(Interval(str(label), float(t), max(0.0, float(nxt) - float(t))))
    return tuple(out)
