"""Agreement of this wearable with a reference device (a Moxy, a Train.Red, an Artinis
PortaMon...): time alignment, then Bland–Altman, ICC, Lin's concordance and an
equivalence test, on one quantity both measure.

:func:`validate` takes two :class:`host.recording.Recording` objects and

1. picks the quantity (``hhb``, ``hbo2``, ``thb`` or ``smo2``) both hold, in one unit;
2. resamples both to a common rate (linear interpolation; a dropout is never bridged)
   and 3. finds the lag by cross-correlation within ``±max_lag_s``
   (:func:`host.alignment.align`);
4. when either channel is relative (a change, e.g. this project's ΔHHb), expresses both
   as changes from their means over a common baseline window: the first ``baseline_s`` of
   the aligned overlap (absolute offsets between the devices are then not compared);
5. reduces the aligned pairs to means of non-overlapping windows of ``block_s`` (the
   default; 10 Hz samples are autocorrelated, so statistics that treat them as
   independent give confidence intervals that are too narrow), or keeps every sample
   (``block_s=0``, and the report says the intervals are too narrow);
6. computes the statistics of :mod:`host.agreement` on those pairs.

Differences are always device − reference. The report (Markdown, JSON and the plots) is
written by :mod:`host.validate_report`; the command is :mod:`host.validate_cli`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from host.agreement import Agreement, agreement
from host.alignment import MIN_PAIRS, Alignment, ValidationError, align
from host.recording import Channel, Recording
from host.session import MEASUREMENT_SITE, UNKNOWN

__all__ = [
    "COMPARABLE",
    "Side",
    "Validation",
    "ValidationError",
    "validate",
]

#: Quantities that can be compared, in the order tried when none is asked for.
COMPARABLE = ("hhb", "hbo2", "thb", "smo2")
#: Fewest paired values (blocks or samples) the statistics are computed on.
MIN_UNITS = MIN_PAIRS
#: Highest common rate, Hz: muscle haemodynamics lie below 1 Hz and the devices read here
#: record at 50 Hz at most, so a finer grid adds nothing but memory (a 1 h pair at 10 MHz
#: would need about 30 GB).
MAX_RATE_HZ = 100.0
#: Lowest common rate, Hz: the slowest export read here (a Moxy at 0.5 Hz) sampled at
#: least every 10 s, the default block length.
MIN_RATE_HZ = 0.1
#: Above this lag-1 autocorrelation of consecutive differences, the report warns that the
#: units are not independent.
AUTOCORR_WARN = 0.2


@dataclass(frozen=True)
class Side:
    """What one device contributed.

    ``baseline`` is the value subtracted (its mean over the baseline window), in ``unit``,
    or None when compared as absolute values. ``metadata`` holds the keys of
    :data:`host.session.MEASUREMENT_SITE` (None where the recording does not say).
    ``notes``: what its importer did to the data (:attr:`host.recording.Recording.notes`).
    """

    source: Path
    format: str
    sensor: str
    channel: str
    unit: str
    relative: bool
    provenance: str
    rate_hz: float
    baseline: float | None
    metadata: dict[str, float | None]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Validation:
    """Everything :func:`validate` found; arrays are for the plots.

    ``t_s``/``device_values``/``reference_values``: the aligned overlap at the common rate
    (reference time base, s; values in ``unit``, after the baseline subtraction when
    ``changes``; NaN where the two are not both valid). ``n_paired``: how many are.
    ``unit_t_s``/``unit_device``/``unit_reference``: what the statistics used (block
    centres and block means, or the samples when ``block_s`` is 0).
    """

    quantity: str
    unit: str
    changes: bool
    baseline_s: float
    rate_hz: float
    block_s: float
    device: Side
    reference: Side
    alignment: Alignment
    agreement: Agreement
    simulated: bool
    warnings: tuple[str, ...]
    t_s: np.ndarray
    device_values: np.ndarray
    reference_values: np.ndarray
    unit_t_s: np.ndarray
    unit_device: np.ndarray
    unit_reference: np.ndarray

    @property
    def n_paired(self) -> int:
        """Aligned samples where both devices have a value."""
        return int(np.count_nonzero(np.isfinite(self.device_values)))


# -- the whole comparison --------------------------------------------------------------


def pick_channels(
    device: Recording, reference: Recording, quantity: str | None
) -> tuple[str, Channel, Channel]:
    """The quantity compared and each recording's channel for it.

    ``quantity`` None: the first of :data:`COMPARABLE` both hold.

    Raises
    ------
    ValidationError
        One line naming what each recording has: no quantity in common, the one asked for
        missing, or the two in different units.
    """
    if quantity is not None and quantity not in COMPARABLE:
        raise ValidationError(f"quantity must be one of {', '.join(COMPARABLE)}; got {quantity!r}")
    if quantity is None:
        common = [q for q in COMPARABLE if device.has(q) and reference.has(q)]
        if not common:
            raise ValidationError(f"no quantity in common: {_holds(device)}; {_holds(reference)}")
        quantity = common[0]
    if not (device.has(quantity) and reference.has(quantity)):
        raise ValidationError(f"cannot compare {quantity}: {_holds(device)}; {_holds(reference)}")
    dev, ref = device.channel(quantity), reference.channel(quantity)
    if _unit(dev.unit) != _unit(ref.unit):
        raise ValidationError(
            f"{quantity} is in {dev.unit} in {device.source.name} ({dev.name}) but in "
            f"{ref.unit} in {reference.source.name} ({ref.name}): values in different units "
            "cannot be compared"
        )
    return quantity, dev, ref


def _unit(unit: str) -> str:
    return unit.replace("µ", "u").replace("μ", "u").strip()


def _holds(rec: Recording) -> str:
    have = [q for q in COMPARABLE if rec.has(q)]
    chans = ", ".join(f"{c.name} ({c.unit})" for c in rec.channels if c.quantity in COMPARABLE)
    what = f"{'/'.join(have)} [{chans}]" if have else "none of " + "/".join(COMPARABLE)
    return f"{rec.source.name} sensor {rec.sensor} has {what}"


def validate(
    device: Recording,
    reference: Recording,
    *,
    quantity: str | None = None,
    rate_hz: float = 10.0,
    max_lag_s: float = 30.0,
    baseline_s: float = 30.0,
    block_s: float = 10.0,
    equivalence_bound: float | None = None,
    changes: bool = False,
) -> Validation:
    """Align ``device`` on ``reference`` and measure their agreement (steps 1-6 of the
    module's description).

    Parameters
    ----------
    quantity : {"hhb", "hbo2", "thb", "smo2"} or None
        None: the first of these both hold.
    rate_hz : float
        Common rate both are resampled to, Hz (> 0).
    max_lag_s : float
        The lag searched is within ±max_lag_s, s (≥ 0), after the clock offset.
    baseline_s : float
        Baseline window, s from the start of the aligned overlap (> 0), used when either
        channel is relative or ``changes``.
    block_s : float
        Length of the non-overlapping windows whose means are compared, s; 0 compares
        every sample (confidence intervals then too narrow). A window with fewer than half
        its samples paired is left out.
    equivalence_bound : float or None
        ±bound of the TOST, in the quantity's unit, stated before the analysis; None: no
        TOST (a bound chosen after seeing the results would not test equivalence).
    changes : bool
        Compare changes from the baseline window even when both channels are absolute.

    Raises
    ------
    ValidationError
        One line: a quantity not in both, different units, a constant or empty signal,
        no overlap after alignment, too few paired values, a bad option value.
    """
    _check_options(rate_hz, max_lag_s, baseline_s, block_s, equivalence_bound)
    quantity, dev_ch, ref_ch = pick_channels(device, reference, quantity)
    alignment, t_s, dev_v, ref_v = align(
        device, dev_ch, reference, ref_ch, rate_hz=rate_hz, max_lag_s=max_lag_s
    )
    ok = np.isfinite(dev_v) & np.isfinite(ref_v)
    as_changes = changes or dev_ch.relative or ref_ch.relative
    base_d = base_r = None
    if as_changes:
        base_d, base_r = _baselines(t_s, dev_v, ref_v, ok, baseline_s, device, reference)
        dev_v, ref_v = dev_v - base_d, ref_v - base_r
    unit_t, unit_d, unit_r = _units(t_s, dev_v, ref_v, ok, block_s, rate_hz)
    what = f"blocks of {block_s:g} s" if block_s > 0 else "paired samples"
    if unit_t.size < MIN_UNITS:
        raise ValidationError(
            f"only {unit_t.size} {what} with paired values after alignment "
            f"({t_s[-1] - t_s[0]:.1f} s of overlap); at least {MIN_UNITS} are needed: "
            "a longer overlap" + (" or a shorter --block-s" if block_s > 0 else "")
        )
    for rec, values in ((device, unit_d), (reference, unit_r)):
        if np.ptp(values) == 0:
            raise ValidationError(
                f"{rec.source.name}: the compared {quantity} values are all {values[0]:g} "
                f"over the overlap ({what}): agreement cannot be measured on a constant"
            )
    result = agreement(unit_d, unit_r, equivalence_bound)
    return Validation(
        quantity=quantity,
        unit=ref_ch.unit,
        changes=as_changes,
        baseline_s=float(baseline_s),
        rate_hz=float(rate_hz),
        block_s=float(block_s),
        device=_side(device, dev_ch, base_d),
        reference=_side(reference, ref_ch, base_r),
        alignment=alignment,
        agreement=result,
        simulated="simulated" in (device.provenance, reference.provenance),
        warnings=_warnings(alignment, result, block_s),
        t_s=t_s,
        device_values=np.where(ok, dev_v, np.nan),
        reference_values=np.where(ok, ref_v, np.nan),
        unit_t_s=unit_t,
        unit_device=unit_d,
        unit_reference=unit_r,
    )


def _check_options(rate_hz, max_lag_s, baseline_s, block_s, bound) -> None:
    for name, value, ok, allowed in (
        (
            "rate_hz",
            rate_hz,
            lambda v: MIN_RATE_HZ <= v <= MAX_RATE_HZ,
            f"from {MIN_RATE_HZ:g} to {MAX_RATE_HZ:g}",
        ),
        ("max_lag_s", max_lag_s, lambda v: v >= 0, ">= 0"),
        ("baseline_s", baseline_s, lambda v: v > 0, "> 0"),
        (
            "block_s",
            block_s,
            lambda v: v == 0 or v * rate_hz >= 1,
            "0, or >= 1/rate_hz (one grid step)",
        ),
        ("equivalence_bound", bound, lambda v: v > 0, "> 0 (or None: no TOST)"),
    ):
        if name == "equivalence_bound" and value is None:
            continue
        if not (isinstance(value, (int, float)) and math.isfinite(value) and ok(value)):
            option = "--" + name.replace("_", "-")
            raise ValidationError(
                f"{name} ({option}) must be a finite number {allowed}; got {value!r}"
            )


def _baselines(t_s, dev_v, ref_v, ok, baseline_s, device, reference) -> tuple[float, float]:
    if t_s[-1] - t_s[0] < baseline_s:
        raise ValidationError(
            f"the aligned overlap of {device.source.name} and {reference.source.name} is "
            f"{t_s[-1] - t_s[0]:.1f} s, shorter than the baseline window ({baseline_s:g} s)"
        )
    window = ok & (t_s < t_s[0] + baseline_s)
    return float(dev_v[window].mean()), float(ref_v[window].mean())


def _units(t_s, dev_v, ref_v, ok, block_s, rate_hz):
    if block_s == 0:
        return t_s[ok], dev_v[ok], ref_v[ok]
    per = int(round(block_s * rate_hz))
    n_blocks = t_s.size // per
    shape = (n_blocks, per)
    cut = n_blocks * per
    okb = ok[:cut].reshape(shape)
    keep = okb.sum(axis=1) * 2 >= per
    with np.errstate(invalid="ignore"):
        means = [
            np.nanmean(np.where(okb, v[:cut].reshape(shape), np.nan), axis=1)[keep]
            for v in (dev_v, ref_v)
        ]
    centres = t_s[:cut].reshape(shape).mean(axis=1)[keep]
    return centres, means[0], means[1]


def _side(rec: Recording, ch: Channel, baseline: float | None) -> Side:
    meta: dict[str, float | None] = {}
    for key in MEASUREMENT_SITE:
        value = rec.metadata.get(key)
        try:
            meta[key] = None if value in (None, "", UNKNOWN) else float(value)
        except (TypeError, ValueError):
            meta[key] = None
    return Side(
        source=rec.source,
        format=rec.format,
        sensor=rec.sensor,
        channel=ch.name,
        unit=ch.unit,
        relative=ch.relative,
        provenance=rec.provenance,
        rate_hz=rec.rate_hz,
        baseline=baseline,
        metadata=meta,
        notes=tuple(rec.notes),
    )


def _warnings(al: Alignment, ag: Agreement, block_s: float) -> tuple[str, ...]:
    out = []
    if al.at_bound:
        out.append(
            f"the best lag is at the ±{al.max_lag_s:g} s bound: the true lag may lie beyond "
            "it; raise --max-lag-s or check the recordings' start times"
        )
    if al.peak_r < 0.5:
        out.append(
            f"weak alignment: the best correlation is r = {al.peak_r:.2f}; the two signals "
            "may not show the same events"
        )
    if ag.proportional:
        out.append(
            f"proportional bias: the difference changes by {ag.trend:.3g} across the measured "
            f"levels, more than its SD {ag.sd:.3g} (slope {ag.slope:.3g} per unit of the "
            f"mean, 95 % CI {ag.slope_ci[0]:.3g} to {ag.slope_ci[1]:.3g}); the limits of "
            "agreement assume a constant difference"
        )
    if block_s == 0:
        out.append(
            "every sample is compared as if independent: samples at this rate are "
            "autocorrelated, so every confidence interval here is too narrow"
        )
    elif ag.lag1_autocorr > AUTOCORR_WARN:
        out.append(
            f"consecutive block differences still correlate (r = {ag.lag1_autocorr:.2f}): "
            "the confidence intervals are too narrow; use a longer --block-s"
        )
    return tuple(out)
