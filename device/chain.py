"""The measurement chain: light frames in, haemoglobin signals out, live or in batch.

Steps, after seed 003 §3.2.2–3.2.3 and the design brief (docs/architecture.md):

1. Dark subtraction per frame: ``I_λ = V_λ − V_dark`` (seed eq. 5), with the dark
   phase measured in the same 23 ms frame, so ambient light cancels.
2. Block average to ``output_rate_hz`` (10 Hz) by timestamp: block ``k`` holds the
   frames with ``k ≤ t·rate < k+1``. A block with no frame is still emitted, as NaN
   flagged :data:`FLAG_NO_DATA`: a gap is shown, never closed up.
3. Optional causal moving average over ``smoothing_samples`` blocks (the seed's
   smoothing step; 1 = off, the default).
4. Baseline ``I0``: mean intensity per wavelength over the clean samples of the first
   ``baseline_s`` seconds at rest (:func:`rest_baseline`); too few clean samples restart
   the calibration with a reason the wearer is shown.
5. ΔOD = −ln(I/I0), the 3-wavelength least-squares MBLL (:mod:`device.mbll`),
   ΔtHb, OI and the SmO2 estimate.
6. Quality flags per sample (:func:`quality_flags`).

:class:`MeasurementChain` runs it sample by sample with bounded memory (the
baseline buffer holds ``baseline_s × rate`` samples, released once the baseline
is known); :func:`process_recording` runs a whole recording through the same
code, frame by frame, so live and batch results are identical.

Pure Python (standard library only), because the board has no numpy (issue 13):
samples are :class:`ChainSample` tuples of Python floats, and a whole recording
(:class:`ChainResult`) is a set of lists that hosts wrap with ``numpy.asarray``.
"""

from __future__ import annotations

import math
import warnings
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import compress
from typing import NamedTuple

from device.acquisition import Frame
from device.errors import DeviceError
from device.mbll import MbllSolver, delta_od, smo2_percent

#: Quality flags (bits). Any of them set means "check sensor" rather than a fatigue level.
FLAG_SATURATED = 1  # a conversion reached the saturation level
FLAG_AMBIENT = 2  # the dark phase is too bright: ambient light leaks in
FLAG_LOW_LIGHT = 4  # too little LED light returns: the sensor is off the skin
FLAG_RESIDUAL = 8  # ΔOD not explained by haemoglobin alone: motion or coupling change
FLAG_NO_DATA = 16  # no frame in this block, or none with one wavelength (bus down, stall)
FLAG_NAMES = {
    FLAG_SATURATED: "saturated",
    FLAG_AMBIENT: "ambient light",
    FLAG_LOW_LIGHT: "low light",
    FLAG_RESIDUAL: "motion",
    FLAG_NO_DATA: "no data",
}

#: A rest sample that passed the flags is left out of the baseline as "moved" when its light
#: at any wavelength is off the clean samples' median by more than this, |ln(I/median)| in
#: ln units (a ΔOD). It sits between two figures. Below it, resting physiology: Mayer waves,
#: breathing, the pulse and slow drift reached at most 0.091 from the median in 600 simulated
#: rest periods (hwsim.cohort sessions, seeds 2025, 7 and 11, 50 subjects each; the simulator's
#: sources: hwsim.physiology), which this leaves in. Above it, the motion flag: a uniform
#: coupling change of 0.17 is what ``residual_max_od`` = 0.02 flags (0.119 per unit ΔOD), and a
#: sample that far from rest is not rest. Motion spikes (up to 0.15 in the simulator) and a
#: strap that slips are cut; a saturated or lifted sensor is cut by the flags before this.
BASELINE_OUTLIER_OD = 0.1
#: The baseline needs at least this fraction of its period's samples clean (flags passed and
#: within :data:`BASELINE_OUTLIER_OD`), or calibration restarts. Half of the 20 s period is
#: 10 s, a full cycle of the slowest resting oscillation (Mayer waves, 0.08–0.12 Hz, Julien
#: 2006), so the mean is not one phase of it; and it leaves a wide margin: the worst of the
#: 600 simulated rest periods above kept 95 % of its samples.
BASELINE_MIN_CLEAN_FRACTION = 0.5
_LOW, _HIGH = math.exp(-BASELINE_OUTLIER_OD), math.exp(BASELINE_OUTLIER_OD)
#: Why a rest sample was left out → (cause, what to check), for the restart message; the
#: hint is also the calibrating screen's line (at most 21 characters, the OLED's width). An
#: outlier ("moved") takes the motion flag's bit: the residual is not computed before a baseline.
_CAUSES = {
    FLAG_LOW_LIGHT: ("low light", "sensor on the skin?"),
    FLAG_SATURATED: ("saturated", "sensor on the skin?"),
    FLAG_AMBIENT: ("ambient light", "shade from room light"),
    FLAG_NO_DATA: ("no data", "is the ADC answering?"),
    FLAG_RESIDUAL: ("moved", "keep still"),
}


class ChainError(DeviceError):
    """The chain cannot go on: a whole recording without a usable resting baseline."""


@dataclass(frozen=True)
class ChainConfig:
    """Settings of the measurement chain, with units in the names.

    Defaults: the design brief (3.0 cm, DPF 4.0, 20 s baseline, 10 Hz) and the seed's LEDs.
    Thresholds are choices for the simulated hardware (OPT101 at 5 V, ADS1114 at
    ±4.096 V); revisit them on the bench. The flag thresholds also decide which rest samples
    the baseline averages (:func:`rest_baseline`).
    """

    wavelengths_nm: tuple[float, ...] = (750.0, 810.0, 870.0)
    dpf: float | tuple[float, ...] = 4.0
    distance_cm: float = 3.0
    #: LED emission FWHM for band-weighted ε (None: nominal peak wavelengths).
    led_fwhm_nm: float | tuple[float, ...] | None = None
    output_rate_hz: float = 10.0
    smoothing_samples: int = 1
    baseline_s: float = 20.0
    #: Assumed resting concentrations for the SmO2 estimate, µM.
    hbo2_rest_um: float = 60.0
    hhb_rest_um: float = 30.0
    #: Just under the OPT101's output swing (V_S − 1.3 V = 3.7 V at 5 V).
    saturation_v: float = 3.6
    #: Dark level above which ambient light is "too high" (about 10 % of the range).
    ambient_max_v: float = 0.3
    #: Dark-subtracted light below which the sensor is taken to be off the skin.
    light_min_v: float = 0.02
    #: MBLL residual norm above which a sample is flagged as motion, ln units. A uniform
    #: coupling change c (ΔOD = c at every λ) leaves a residual of 0.119·c with the
    #: default ε, DPF and distance, so 0.02 flags coupling changes above about 17 %
    #: (the sensor has moved or lifted). Smaller shifts pass as haemoglobin: at 0.008
    #: (7 %) a third of the simulated sessions stayed flagged for most of their length
    #: after a few small strap shifts. The simulated noise floor reached 0.004 with
    #: heavy 100 Hz room-light flicker (tests/test_chain.py, realistic-noise case).
    residual_max_od: float = 0.02

    def __post_init__(self) -> None:
        positive = {
            "distance_cm": self.distance_cm,
            "output_rate_hz": self.output_rate_hz,
            "baseline_s": self.baseline_s,
            "saturation_v": self.saturation_v,
            "light_min_v": self.light_min_v,  # > 0: a baseline above it has a logarithm
            "residual_max_od": self.residual_max_od,
        }
        for name, value in positive.items():
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"ChainConfig.{name} must be a positive number, got {value!r}")
        if not (isinstance(self.smoothing_samples, int) and self.smoothing_samples >= 1):
            raise ValueError(
                f"ChainConfig.smoothing_samples must be an integer >= 1 (1 = off), "
                f"got {self.smoothing_samples!r}"
            )

    def solver(self) -> MbllSolver:
        return MbllSolver(
            self.wavelengths_nm,
            dpf=self.dpf,
            distance_cm=self.distance_cm,
            fwhm_nm=self.led_fwhm_nm,
        )


class ChainSample(NamedTuple):
    """One output sample (10 Hz). Concentrations in µM, voltages in V, SmO2 in %."""

    t_s: float
    n_frames: int
    dark_v: float
    intensity_v: tuple[float, ...]  # dark-subtracted, per wavelength
    d_od: tuple[float, ...]
    d_hbo2_um: float
    d_hhb_um: float
    d_thb_um: float
    oi_um: float
    smo2_pct: float  # an ESTIMATE relative to the assumed resting baseline
    residual_od: float
    flags: int


@dataclass
class ChainResult:
    """A whole recording through the chain: one item per output sample in every list.

    The fields are the :class:`ChainSample` fields as lists of Python numbers (the device has
    no numpy): floats, ints for ``n_frames`` and ``flags``, and for ``intensity_v`` and
    ``d_od`` one tuple per sample of one float per wavelength. Hosts that want arrays wrap a
    field with ``numpy.asarray`` (``intensity_v`` then has shape (n, n_wavelengths)).
    """

    t_s: list[float]
    n_frames: list[int]
    dark_v: list[float]
    intensity_v: list[tuple[float, ...]]  # per sample, one value per wavelength
    d_od: list[tuple[float, ...]]  # per sample, one value per wavelength
    d_hbo2_um: list[float]
    d_hhb_um: list[float]
    d_thb_um: list[float]
    oi_um: list[float]
    smo2_pct: list[float]
    residual_od: list[float]
    flags: list[int]
    baseline_v: tuple[float, ...] = ()  # I0 per wavelength, V

    def __len__(self) -> int:
        return len(self.t_s)


# -- numerical steps of one sample ------------------------------------------------------------


def quality_flags(
    config: ChainConfig,
    *,
    dark_v: float,
    peak_v: Sequence[float],
    intensity_v: Sequence[float],
    residual_od: float,
    n_frames: int,
) -> int:
    """Flags of one sample (an int of ``FLAG_*`` bits).

    ``peak_v`` and ``intensity_v`` hold one value per wavelength. A NaN compares as "not
    over the limit": an empty block is flagged :data:`FLAG_NO_DATA` only.
    """
    peak = max((p for p in peak_v if not math.isnan(p)), default=-math.inf)
    flags = 0
    if peak >= config.saturation_v:
        flags |= FLAG_SATURATED
    if dark_v > config.ambient_max_v:
        flags |= FLAG_AMBIENT
    if any(v < config.light_min_v for v in intensity_v):
        flags |= FLAG_LOW_LIGHT
    if residual_od > config.residual_max_od:
        flags |= FLAG_RESIDUAL
    if n_frames == 0 or any(v != v for v in intensity_v):  # a wavelength without light
        flags |= FLAG_NO_DATA
    return flags


def _smo2_quiet(config: ChainConfig, d_hbo2: float, d_hhb: float) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # impossible values → NaN, flagged
        return smo2_percent(
            d_hbo2, d_hhb, hbo2_rest_um=config.hbo2_rest_um, hhb_rest_um=config.hhb_rest_um
        )


def rest_baseline(
    config: ChainConfig, rows: Sequence[tuple], flags: Sequence[int]
) -> tuple[tuple[float, ...] | None, str, str]:
    """The resting baseline ``I0`` from one baseline period, or why there is none.

    The rule, so that the baseline averages the samples the flags would pass: a rest sample
    is clean when :func:`quality_flags` gives it none of its flags (``flags``, computed with
    no residual: finite light >= ``light_min_v`` at every wavelength, peak < ``saturation_v``,
    dark <= ``ambient_max_v``, a frame in the block) and its light at every wavelength is
    within :data:`BASELINE_OUTLIER_OD` of the median of those samples. ``I0`` is the mean of
    the clean samples per wavelength, when they are at least
    :data:`BASELINE_MIN_CLEAN_FRACTION` of ``rows``.

    Args:
        config: The chain's settings (thresholds and wavelengths).
        rows: The period's rows, oldest first, ``(t_s, n_frames, dark_v, light_v, peak_v)``
            with ``light_v`` a tuple of one dark-subtracted value per wavelength, V.
        flags: One int per row: its :func:`quality_flags` without the residual.

    Returns:
        ``(I0, "", "")`` with ``I0`` one float per wavelength, V; or
        ``(None, reason, hint)``: one line naming the dominant cause(s) of the samples left
        out (console and record), and what to check about the first (the OLED's line).
    """
    n_wl = len(config.wavelengths_nm)
    lights = [row[3] for row, f in zip(rows, flags) if not f]
    columns = list(zip(*lights))  # one tuple per wavelength (none if no row passed)
    keep = [True] * len(lights)
    for col in columns:
        ranked = sorted(col)
        m = len(ranked) // 2
        median = ranked[m] if len(ranked) % 2 else 0.5 * (ranked[m - 1] + ranked[m])
        low, high = median * _LOW, median * _HIGH
        keep = [k and low <= v <= high for k, v in zip(keep, col)]
    n = sum(keep)
    if n and n >= BASELINE_MIN_CLEAN_FRACTION * len(rows):
        return tuple([math.fsum(compress(col, keep)) / n for col in columns]), "", ""
    # Not enough: name what most of the rejected samples had (a rare path, not the cheap one).
    counts = {bit: sum(1 for f in flags if f & bit) for bit in _CAUSES if bit != FLAG_RESIDUAL}
    counts[FLAG_RESIDUAL] = len(lights) - n
    top = max(counts.values())
    causes = sorted(
        (bit for bit in counts if counts[bit] and 2 * counts[bit] >= top),
        key=lambda bit: -counts[bit],
    )
    names = []
    for bit in causes:
        name = _CAUSES[bit][0]
        if bit == FLAG_LOW_LIGHT:  # at which wavelengths
            per_wl = [sum(1 for row in rows if row[3][k] < config.light_min_v) for k in range(n_wl)]
            wls = [
                f"{wl:g}" for wl, c in zip(config.wavelengths_nm, per_wl) if 2 * c >= max(per_wl)
            ]
            name += f" at {', '.join(wls)} nm"
        names.append(name)
    hint = _CAUSES[causes[0]][1] if causes else "check the sensor"
    reason = (
        f"only {n} of {len(rows)} rest samples usable: "
        f"{', '.join(names) or 'none left'} ({hint})"
    )
    return None, reason, hint


# -- the chain --------------------------------------------------------------------------------


class MeasurementChain:
    """The chain, fed frame by frame, with bounded memory.

    Samples of the baseline period are ready together once the baseline is known
    (``baseline_s`` after the first sample); after that each block is ready as soon
    as a frame of a later block arrives (or at :meth:`flush`).

    A baseline period without enough clean samples (:func:`rest_baseline`) restarts the
    calibration, never raises: its samples are dropped (the app records the frames), the
    row that closed it opens the next period (so the periods tile the clock), and
    :attr:`calibration_restarts` and :attr:`restart_reason` tell the app what to show.

    Args:
        config: The chain's settings.
        max_samples_per_push: At most this many samples come out of one :meth:`push`
            (None: all that are ready). The live app passes a few, so that the baseline
            period's 200 samples, ready at once, are computed over the next frames'
            pushes rather than in one piece of work that would hold up the ADC's
            conversions; the rest wait in order and come out first from the next push. The
            push that closes the baseline, which does the baseline's own work, then hands
            over none. :meth:`flush` always returns everything.
    """

    def __init__(
        self, config: ChainConfig | None = None, *, max_samples_per_push: int | None = None
    ) -> None:
        if max_samples_per_push is not None and not (
            isinstance(max_samples_per_push, int) and max_samples_per_push >= 1
        ):
            raise ValueError(
                "max_samples_per_push must be an integer >= 1 or None, "
                f"got {max_samples_per_push!r}"
            )
        self.config = config or ChainConfig()
        self.max_samples_per_push = max_samples_per_push
        self.solver = self.config.solver()
        #: I0 per wavelength, V (a tuple), once the rest period is over; None before.
        self.baseline_v: tuple[float, ...] | None = None
        #: Baseline periods that failed and restarted the calibration.
        self.calibration_restarts = 0
        #: Why the last one failed, one short line for the screen ("" before any), e.g.
        #: "only 3 of 200 rest samples usable: low light at 750 nm (sensor on the skin?)".
        self.restart_reason = ""
        #: What the wearer can do about it, at most 21 characters ("" before any restart).
        self.restart_hint = ""
        self._n_wl = len(self.config.wavelengths_nm)
        self._rate = self.config.output_rate_hz
        self._block: int | None = None
        self._sums = [0.0] * (self._n_wl + 1)  # dark, then dark-subtracted light per λ, V
        self._counts = [0] * (self._n_wl + 1)  # the frames each sum holds
        self._peaks = [-math.inf] * self._n_wl
        self._n = 0
        self._window: deque[tuple[float, ...]] = deque(maxlen=self.config.smoothing_samples)
        limit = int(math.ceil(self.config.baseline_s * self._rate)) + 1
        self._pending: deque[tuple] = deque(maxlen=limit)  # the baseline period only
        self._pending_flags: deque[int] = deque(maxlen=limit)  # their flags (no residual)
        #: Rows ready to become samples (after the baseline is known), oldest first.
        self._ready: deque[tuple] = deque()
        self._t_first: float | None = None
        self._calibrated_now = False  # in the push being made

    @property
    def calibrating(self) -> bool:
        """True until the baseline is known."""
        return self.baseline_v is None

    @property
    def calibration_start_s(self) -> float | None:
        """Frame-clock time the current baseline period began (the successful one once
        calibrated), s; None before the first block closes. A restart moves it on."""
        return None if self._t_first is None else self._t_first - 0.5 / self._rate

    def push(self, frame: Frame) -> list[ChainSample]:
        """Add one frame; return the samples ready (often none; at most
        ``max_samples_per_push``, oldest first).

        Raises:
            ValueError: If the frame belongs to a block before the one being built, or
                does not have one phase for dark plus one per wavelength.
        """
        n_wl = self._n_wl
        volts, peak_v = frame.volts, frame.peak_v
        if len(volts) != n_wl + 1 or len(peak_v) != n_wl + 1:
            raise ValueError(
                f"a frame must have {n_wl + 1} phases (dark + {n_wl} wavelengths), "
                f"got {len(volts)} volts and {len(peak_v)} peaks"
            )
        block = math.floor(frame.t_s * self._rate)
        self._calibrated_now = False
        if self._block is None:
            self._block = block
        elif block < self._block:
            raise ValueError(
                f"frame timestamps must not go backwards: frame at {frame.t_s} s is older "
                "than the block being built"
            )
        while block > self._block:
            self._close_block()
        # A phase with no kept conversion is NaN in its frame: the block averages the
        # frames that have it (a single lost conversion must not spoil 100 ms of light);
        # a phase no frame of the block has stays NaN and flags the sample "no data".
        dark = volts[0]
        sums, counts, peaks = self._sums, self._counts, self._peaks
        if dark == dark:
            sums[0] += dark
            counts[0] += 1
            for k in range(n_wl):
                light = volts[k + 1]
                if light == light:
                    sums[k + 1] += light - dark  # seed eq. 5, per frame
                    counts[k + 1] += 1
        for k in range(n_wl):
            p = peak_v[k + 1]
            if p > peaks[k]:  # a NaN peak (no kept conversion) compares False: skipped
                peaks[k] = p
        self._n += 1
        limit = self.max_samples_per_push
        return self._take(0 if limit is not None and self._calibrated_now else limit)

    @property
    def backlog(self) -> int:
        """Samples ready but not yet handed over (the baseline period's, for a while after
        it closes, when ``max_samples_per_push`` is set)."""
        return len(self._ready)

    def take_ready(self) -> list[ChainSample]:
        """Every sample ready now, without closing the block being built (a live chain
        that stops: what it has measured is recorded)."""
        return self._take(None)

    def flush(self) -> list[ChainSample]:
        """Close the block being built (end of a recording); return every sample ready."""
        if self._block is not None and self._n:
            self._close_block()
        return self._take(None)

    def _take(self, limit: int | None) -> list[ChainSample]:
        """Up to ``limit`` (None: all) ready rows, oldest first, as samples."""
        ready = self._ready
        n = len(ready) if limit is None else min(limit, len(ready))
        return [self._sample(ready.popleft()) for _ in range(n)]

    def _close_block(self) -> None:
        n = self._n
        n_wl = self._n_wl
        # No frame (a gap), or no frame with this phase: NaN, flagged "no data".
        means = [s / c if c else math.nan for s, c in zip(self._sums, self._counts)]
        peaks = tuple(p if p > -math.inf else math.nan for p in self._peaks)
        t_s = (self._block + 0.5) / self._rate
        self._block += 1
        self._sums = [0.0] * (n_wl + 1)
        self._counts = [0] * (n_wl + 1)
        self._peaks = [-math.inf] * n_wl
        self._n = 0
        light = tuple(means[1:])
        self._window.append(light)
        if self.config.smoothing_samples != 1:  # causal moving average (fewer at the start)
            sums = [0.0] * n_wl
            for past in self._window:  # oldest first
                for k in range(n_wl):
                    sums[k] += past[k]
            light = tuple(s / len(self._window) for s in sums)
        row = (t_s, n, means[0], light, peaks)
        if self.baseline_v is not None:
            self._ready.append(row)
            return
        flags = quality_flags(  # without the residual, unknown before a baseline
            self.config,
            dark_v=means[0],
            peak_v=peaks,
            intensity_v=light,
            residual_od=0.0,
            n_frames=n,
        )
        if self._t_first is None:
            self._t_first = t_s
        if t_s < self._t_first + self.config.baseline_s:
            self._pending.append(row)
            self._pending_flags.append(flags)
            return
        rest, rest_flags = list(self._pending), list(self._pending_flags)
        self._pending.clear()
        self._pending_flags.clear()
        if not self._calibrate(rest, rest_flags, [*rest, row]):
            self._t_first = t_s  # this row opens the next period
            self._pending.append(row)
            self._pending_flags.append(flags)

    def _calibrate(self, rest: list[tuple], flags: list[int], rows: list[tuple]) -> bool:
        """Set the baseline from the ``rest`` rows; ``rows`` are then ready to become
        samples. Without enough clean rows: count a restart, keep its reason, False."""
        baseline, reason, hint = rest_baseline(self.config, rest, flags)
        if baseline is None:
            self.calibration_restarts += 1
            self.restart_reason, self.restart_hint = reason, hint
            return False
        self.baseline_v = baseline
        self._ready.extend(rows)
        self._calibrated_now = True
        return True

    def _calibrate_on_all_pending(self) -> list[ChainSample]:
        """End of a recording shorter than the rest period (or than the period a restart
        opened): all of what is left is the rest period, under the same rule.

        Only :func:`process_recording` does this; a live chain that stops before it is
        calibrated has no samples to show.

        Raises:
            ChainError: If this last attempt fails too, with every attempt's count and the
                last reason.
        """
        if self.baseline_v is not None or not self._pending:
            return []
        rows, flags = list(self._pending), list(self._pending_flags)
        self._pending.clear()
        self._pending_flags.clear()
        if not self._calibrate(rows, flags, rows):
            raise ChainError(
                f"no usable resting baseline in the recording ({self.calibration_restarts} "
                f"attempt(s) of up to {self.config.baseline_s:g} s): {self.restart_reason}"
            )
        return self._take(None)

    def _sample(self, row: tuple) -> ChainSample:
        """Steps 5–6 on one decimated (and smoothed) block."""
        t_s, n_frames, dark_v, light, peaks = row
        d_od = delta_od(light, self.baseline_v, invalid="nan")
        d_hbo2, d_hhb, residual_od = self.solver.solve(d_od)
        smo2 = (
            _smo2_quiet(self.config, d_hbo2, d_hhb)
            if math.isfinite(d_hbo2) and math.isfinite(d_hhb)
            else math.nan
        )
        flags = quality_flags(
            self.config,
            dark_v=dark_v,
            peak_v=peaks,
            intensity_v=light,
            residual_od=residual_od,
            n_frames=n_frames,
        )
        return ChainSample(
            t_s,
            n_frames,
            dark_v,
            light,
            d_od,
            d_hbo2,
            d_hhb,
            d_hbo2 + d_hhb,
            d_hbo2 - d_hhb,
            smo2,
            residual_od,
            flags,
        )


# -- a whole recording ------------------------------------------------------------------------


def process_recording(frames: Iterable[Frame], config: ChainConfig | None = None) -> ChainResult:
    """Run a whole recording of frames through the chain.

    The frames go one by one through a :class:`MeasurementChain`, so the result is
    exactly what the live chain gives, sample for sample, restarts of the calibration
    included (the samples of a failed baseline period are not in the result). The one
    difference: a recording that ends before a baseline period is over takes all of what is
    left as the rest period, under the same clean-sample rule (the live chain would still be
    calibrating).

    Returns:
        A :class:`ChainResult` (lists, one item per 10 Hz sample).

    Raises:
        ChainError: If no baseline period of the recording has enough clean samples
            (:func:`rest_baseline`); the message names the last period's reason.
        ValueError: If there are no frames or the timestamps go backwards.
    """
    chain = MeasurementChain(config or ChainConfig())
    samples: list[ChainSample] = []
    n_frames = 0
    for frame in frames:
        samples += chain.push(frame)
        n_frames += 1
    if not n_frames:
        raise ValueError("process_recording needs at least one frame")
    samples += chain.flush()
    samples += chain._calibrate_on_all_pending()
    return samples_to_result(samples, chain.baseline_v or ())


def samples_to_result(samples: Iterable[ChainSample], baseline_v: Iterable[float]) -> ChainResult:
    """Gather stream samples into a :class:`ChainResult` (for comparison and recording)."""
    columns = list(zip(*samples)) or [()] * len(ChainSample._fields)
    return ChainResult(*(list(c) for c in columns), baseline_v=tuple(baseline_v))
