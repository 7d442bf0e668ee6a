"""The measurement chain: light frames in, haemoglobin signals out, live or in batch.

Steps, after seed 003 §3.2.2–3.2.3 and DESIGN.md:

1. Dark subtraction per frame: ``I_λ = V_λ − V_dark`` (seed eq. 5), with the dark
   phase measured in the same 23 ms frame, so ambient light cancels.
2. Block average to ``output_rate_hz`` (10 Hz) by timestamp: block ``k`` holds the
   frames with ``k ≤ t·rate < k+1``. A block with no frame is still emitted, as NaN
   flagged :data:`FLAG_NO_DATA`: a gap is shown, never closed up.
3. Optional causal moving average over ``smoothing_samples`` blocks (the seed's
   smoothing step; 1 = off, the default).
4. Baseline ``I0``: mean intensity over the first ``baseline_s`` seconds at rest.
5. ΔOD = −ln(I/I0), the 3-wavelength least-squares MBLL (:mod:`device.mbll`),
   ΔtHb, OI and the SmO2 estimate.
6. Quality flags per sample (:func:`quality_flags`).

:class:`MeasurementChain` runs it sample by sample with bounded memory (the
baseline buffer holds ``baseline_s × rate`` samples, released once the baseline
is known); :func:`process_recording` runs it on a whole recording at once. Both
share every numerical step, so they agree to rounding (the tests hold 1e-9).
"""

from __future__ import annotations

import math
import warnings
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from device.acquisition import Frame
from device.errors import DeviceError
from device.mbll import MbllSolver, delta_od, smo2_percent

#: Quality flags (bits). Any of them set means "check sensor" rather than a fatigue level.
FLAG_SATURATED = 1  # a conversion reached the saturation level
FLAG_AMBIENT = 2  # the dark phase is too bright: ambient light leaks in
FLAG_LOW_LIGHT = 4  # too little LED light returns: the sensor is off the skin
FLAG_RESIDUAL = 8  # ΔOD not explained by haemoglobin alone: motion or coupling change
FLAG_NO_DATA = 16  # no frame in this block (bus down, loop stalled)
FLAG_NAMES = {
    FLAG_SATURATED: "saturated",
    FLAG_AMBIENT: "ambient light",
    FLAG_LOW_LIGHT: "low light",
    FLAG_RESIDUAL: "motion",
    FLAG_NO_DATA: "no data",
}


class ChainError(DeviceError):
    """The chain cannot go on, e.g. the resting baseline is unusable."""


@dataclass(frozen=True)
class ChainConfig:
    """Settings of the measurement chain, with units in the names.

    Defaults: DESIGN.md (3.0 cm, DPF 4.0, 20 s baseline, 10 Hz) and the seed's LEDs.
    Thresholds are choices for the simulated hardware (OPT101 at 5 V, ADS1114 at
    ±4.096 V); revisit them on the bench.
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
    """A whole recording through the chain: one row per output sample."""

    t_s: np.ndarray
    n_frames: np.ndarray
    dark_v: np.ndarray
    intensity_v: np.ndarray  # (n, n_wavelengths)
    d_od: np.ndarray  # (n, n_wavelengths)
    d_hbo2_um: np.ndarray
    d_hhb_um: np.ndarray
    d_thb_um: np.ndarray
    oi_um: np.ndarray
    smo2_pct: np.ndarray
    residual_od: np.ndarray
    flags: np.ndarray
    baseline_v: np.ndarray = field(default_factory=lambda: np.empty(0))

    def __len__(self) -> int:
        return len(self.t_s)


# -- shared numerical steps -------------------------------------------------------------------


def quality_flags(
    config: ChainConfig,
    *,
    dark_v: np.ndarray,
    peak_v: np.ndarray,
    intensity_v: np.ndarray,
    residual_od: np.ndarray,
    n_frames: np.ndarray,
) -> np.ndarray:
    """Flags per sample (see the ``FLAG_*`` constants); arrays with one row per sample."""
    peak = np.where(np.isnan(peak_v), -np.inf, peak_v).max(axis=1)
    with np.errstate(invalid="ignore"):
        flags = np.where(peak >= config.saturation_v, FLAG_SATURATED, 0)
        flags |= np.where(dark_v > config.ambient_max_v, FLAG_AMBIENT, 0)
        flags |= np.where(np.any(intensity_v < config.light_min_v, axis=1), FLAG_LOW_LIGHT, 0)
        flags |= np.where(residual_od > config.residual_max_od, FLAG_RESIDUAL, 0)
    flags |= np.where(n_frames == 0, FLAG_NO_DATA, 0)
    return flags.astype(np.int64)


def _finish(
    config: ChainConfig,
    solver: MbllSolver,
    baseline_v: np.ndarray,
    t_s: np.ndarray,
    n_frames: np.ndarray,
    dark_v: np.ndarray,
    intensity_v: np.ndarray,
    peak_v: np.ndarray,
) -> ChainResult:
    """Steps 5–6 on rows of decimated (and smoothed) samples."""
    d_od = delta_od(intensity_v, baseline_v, invalid="nan")
    conc = solver.solve(d_od)
    d_hbo2, d_hhb = conc.d_hbo2_um, conc.d_hhb_um
    with np.errstate(invalid="ignore"):
        smo2 = np.full(d_hbo2.shape, np.nan)
        ok = np.isfinite(d_hbo2) & np.isfinite(d_hhb)
        if ok.any():
            smo2[ok] = _smo2_quiet(config, d_hbo2[ok], d_hhb[ok])
    flags = quality_flags(
        config,
        dark_v=dark_v,
        peak_v=peak_v,
        intensity_v=intensity_v,
        residual_od=conc.residual_od,
        n_frames=n_frames,
    )
    return ChainResult(
        t_s=t_s,
        n_frames=n_frames,
        dark_v=dark_v,
        intensity_v=intensity_v,
        d_od=d_od,
        d_hbo2_um=d_hbo2,
        d_hhb_um=d_hhb,
        d_thb_um=d_hbo2 + d_hhb,
        oi_um=d_hbo2 - d_hhb,
        smo2_pct=smo2,
        residual_od=conc.residual_od,
        flags=flags,
        baseline_v=baseline_v,
    )


def _smo2_quiet(config: ChainConfig, d_hbo2: np.ndarray, d_hhb: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # impossible values → NaN, flagged
        return smo2_percent(
            d_hbo2, d_hhb, hbo2_rest_um=config.hbo2_rest_um, hhb_rest_um=config.hhb_rest_um
        )


def _baseline(config: ChainConfig, intensity_v: np.ndarray) -> np.ndarray:
    """Mean rest intensity per wavelength; a clear error if it cannot be used."""
    with np.errstate(invalid="ignore"):
        usable = intensity_v[np.all(np.isfinite(intensity_v), axis=1)]
    if len(usable) == 0:
        raise ChainError(
            f"no usable sample in the {config.baseline_s:g} s baseline: check the sensor"
        )
    base = usable.mean(axis=0)
    low = [f"{wl:g} nm" for wl, v in zip(config.wavelengths_nm, base) if not v > 0]
    if low:
        raise ChainError(
            f"resting light at {', '.join(low)} is not above dark ({base.tolist()} V): "
            "the sensor is off the skin or the LED is dead"
        )
    return base


def _frame_rows(frames: Sequence[Frame]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    volts = np.array([f.volts for f in frames], dtype=float)
    peaks = np.array([f.peak_v for f in frames], dtype=float)
    t = np.array([f.t_s for f in frames], dtype=float)
    return t, volts, peaks


# -- batch ------------------------------------------------------------------------------------


def decimate(
    t_s: np.ndarray, volts: np.ndarray, peak_v: np.ndarray, *, rate_hz: float
) -> tuple[np.ndarray, ...]:
    """Block-average frames (rows of dark, λ1, λ2, ...) to ``rate_hz`` by timestamp.

    Returns:
        (t_s, n_frames, dark_v, intensity_v, peak_v) per block, from the first frame's
        block to the last one's, empty blocks included (NaN, n_frames = 0).
    """
    block = np.floor(np.asarray(t_s) * rate_hz).astype(np.int64)
    if np.any(np.diff(block) < 0):
        raise ValueError("frame timestamps must not go backwards")
    first, last = int(block[0]), int(block[-1])
    n = last - first + 1
    idx = block - first
    light = volts[:, 1:] - volts[:, :1]  # seed eq. 5, per frame
    n_frames = np.bincount(idx, minlength=n)
    sums = np.zeros((n, volts.shape[1]))
    peaks = np.full((n, volts.shape[1] - 1), -np.inf)
    for i in range(len(idx)):  # sequential, in the stream's order, for identical sums
        row = sums[idx[i]]
        row[0] += volts[i, 0]
        row[1:] += light[i]
        np.maximum(peaks[idx[i]], peak_v[i, 1:], out=peaks[idx[i]])
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / n_frames[:, None]
    peaks[n_frames == 0] = np.nan
    t_out = (np.arange(first, last + 1) + 0.5) / rate_hz
    return t_out, n_frames, means[:, 0], means[:, 1:], peaks


def smooth(intensity_v: np.ndarray, samples: int) -> np.ndarray:
    """Causal moving average over ``samples`` rows (fewer at the start); 1 = unchanged."""
    if samples == 1:
        return intensity_v
    out = np.empty_like(intensity_v)
    for i in range(len(intensity_v)):
        out[i] = intensity_v[max(0, i - samples + 1) : i + 1].sum(axis=0) / min(i + 1, samples)
    return out


def process_recording(frames: Sequence[Frame], config: ChainConfig | None = None) -> ChainResult:
    """Run a whole recording of frames through the chain at once.

    Raises:
        ChainError: If the baseline period has no usable light.
        ValueError: If there are no frames or the timestamps go backwards.
    """
    config = config or ChainConfig()
    if not frames:
        raise ValueError("process_recording needs at least one frame")
    t, volts, peaks = _frame_rows(frames)
    t_s, n_frames, dark, light, peak = decimate(t, volts, peaks, rate_hz=config.output_rate_hz)
    light = smooth(light, config.smoothing_samples)
    in_baseline = t_s < t_s[0] + config.baseline_s
    base = _baseline(config, light[in_baseline])
    return _finish(config, config.solver(), base, t_s, n_frames, dark, light, peak)


# -- stream -----------------------------------------------------------------------------------


class MeasurementChain:
    """The chain, fed frame by frame, with bounded memory.

    Samples of the baseline period come out together once the baseline is known
    (``baseline_s`` after the first sample); after that each block comes out as soon
    as a frame of a later block arrives (or at :meth:`flush`).
    """

    def __init__(self, config: ChainConfig | None = None) -> None:
        self.config = config or ChainConfig()
        self.solver = self.config.solver()
        self.baseline_v: np.ndarray | None = None
        n_wl = len(self.config.wavelengths_nm)
        self._rate = self.config.output_rate_hz
        self._block: int | None = None
        self._sums = np.zeros(n_wl + 1)
        self._peaks = np.full(n_wl, -np.inf)
        self._n = 0
        self._window: deque[np.ndarray] = deque(maxlen=self.config.smoothing_samples)
        limit = int(math.ceil(self.config.baseline_s * self._rate)) + 1
        self._pending: deque[tuple] = deque(maxlen=limit)  # the baseline period only
        self._t_first: float | None = None

    @property
    def calibrating(self) -> bool:
        """True until the baseline is known."""
        return self.baseline_v is None

    def push(self, frame: Frame) -> list[ChainSample]:
        """Add one frame; return the samples it completes (often none)."""
        block = math.floor(frame.t_s * self._rate)
        out: list[ChainSample] = []
        if self._block is None:
            self._block = block
        elif block < self._block:
            raise ValueError(f"frame at {frame.t_s} s is older than the block being built")
        while block > self._block:
            out += self._close_block()
        volts = frame.volts
        self._sums[0] += volts[0]
        self._sums[1:] += np.subtract(volts[1:], volts[0])
        np.maximum(self._peaks, frame.peak_v[1:], out=self._peaks)
        self._n += 1
        return out

    def flush(self) -> list[ChainSample]:
        """Close the block being built (end of a recording)."""
        if self._block is None or self._n == 0:
            return []
        return self._close_block()

    def _close_block(self) -> list[ChainSample]:
        n = self._n
        with np.errstate(invalid="ignore", divide="ignore"):
            means = self._sums / n if n else np.full_like(self._sums, np.nan)
        peaks = self._peaks.copy() if n else np.full_like(self._peaks, np.nan)
        t_s = (self._block + 0.5) / self._rate
        self._block += 1
        self._sums[:] = 0.0
        self._peaks[:] = -np.inf
        self._n = 0
        self._window.append(means[1:])
        light = (
            means[1:]
            if self.config.smoothing_samples == 1
            else np.sum(self._window, axis=0) / len(self._window)
        )
        row = (t_s, n, means[0], light, peaks)
        if self.baseline_v is not None:
            return [self._emit([row])[0]]
        if self._t_first is None:
            self._t_first = t_s
        if t_s < self._t_first + self.config.baseline_s:
            self._pending.append(row)
            return []
        rows = [*self._pending, row]
        self._pending.clear()
        light_rows = np.array([r[3] for r in rows[:-1]])
        self.baseline_v = _baseline(self.config, light_rows)
        return self._emit(rows)

    def _emit(self, rows: list[tuple]) -> list[ChainSample]:
        res = _finish(
            self.config,
            self.solver,
            self.baseline_v,
            np.array([r[0] for r in rows]),
            np.array([r[1] for r in rows]),
            np.array([r[2] for r in rows]),
            np.array([r[3] for r in rows]),
            np.array([r[4] for r in rows]),
        )
        return [
            ChainSample(
                float(res.t_s[i]),
                int(res.n_frames[i]),
                float(res.dark_v[i]),
                tuple(res.intensity_v[i].tolist()),
                tuple(res.d_od[i].tolist()),
                float(res.d_hbo2_um[i]),
                float(res.d_hhb_um[i]),
                float(res.d_thb_um[i]),
                float(res.oi_um[i]),
                float(res.smo2_pct[i]),
                float(res.residual_od[i]),
                int(res.flags[i]),
            )
            for i in range(len(rows))
        ]


def samples_to_result(samples: Sequence[ChainSample], baseline_v: np.ndarray) -> ChainResult:
    """Stack stream samples into a :class:`ChainResult` (for comparison and recording)."""
    cols = list(zip(*samples))
    return ChainResult(*(np.array(c) for c in cols), baseline_v=np.asarray(baseline_v))
