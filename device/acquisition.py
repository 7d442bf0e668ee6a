"""LED multiplexing and ADC acquisition: conversions in, light frames out.

The three LEDs and a dark phase take turns, ``conversions_per_phase`` ADC
conversions each (860 SPS continuous). After every LED switch the conversion in
flight mixes two light levels and is discarded. Each conversion is identified
by its index in the ADC's stream, worked out from the ALERT/RDY timestamps, so
a conversion that is never read (a failed transfer, a late loop, a dropped edge
event) is counted as lost rather than silently shifting the phases.

Accounting, which the tests hold to: ``conversions == read + lost_read_error +
lost_late + lost_gap`` and the discarded conversions are a subset of those.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from device.ads1114 import ADS1114
from device.clock import Clock
from device.errors import I2CError, ReadyTimeoutError
from device.leds import LedBank

#: Conversions per phase: 1 discarded after the switch + 4 kept. A frame
#: (dark, 750, 810, 870) then takes 20 conversions, 23.3 ms at 860 SPS.
DEFAULT_CONVERSIONS_PER_PHASE = 5
#: Seed 003 §3.1: the three LEDs, nm.
DEFAULT_WAVELENGTHS_NM = (750, 810, 870)
#: A wait longer than this many conversion periods is a timeout (the ADC stopped).
READY_TIMEOUT_PERIODS = 20


@dataclass
class AcquisitionStats:
    """Counts of everything that happened to the ADC's conversions."""

    conversions: int = 0  # completed by the ADC since start, by index
    read: int = 0
    discarded: int = 0  # in flight during an LED switch (read or not)
    lost_read_error: int = 0  # read failed after its retries
    lost_late: int = 0  # handled after a newer conversion had replaced it
    lost_gap: int = 0  # no ready event seen (dropped edge event or missed pulse)
    ready_timeouts: int = 0
    led_switches: int = 0
    frames: int = 0

    @property
    def lost(self) -> int:
        return self.lost_read_error + self.lost_late + self.lost_gap


@dataclass(frozen=True)
class Frame:
    """One multiplex cycle.

    Attributes:
        t_s: Clock time at the end of the frame's last conversion, seconds.
        volts: Mean detector voltage per phase, in the order (dark, λ1, λ2, λ3), V;
            NaN for a phase with no kept conversion.
        kept: Conversions averaged per phase.
        peak_v: Highest kept conversion per phase, V (saturation shows here first).
    """

    t_s: float
    volts: tuple[float, ...]
    kept: tuple[int, ...]
    peak_v: tuple[float, ...]


@dataclass
class ConversionRecord:
    """One conversion as the multiplexer saw it (kept only when tracing)."""

    index: int
    t_s: float
    phase: int  # 0 = dark, 1.. = LED by position in wavelengths
    volts: float | None  # None when lost
    discarded: bool


class Multiplexer:
    """Cycle dark → λ1 → λ2 → λ3 and read every conversion of a continuous ADC.

    Args:
        adc: The ADS1114 driver (its bus should retry; see :class:`device.i2c.RetryingBus`).
        leds: The LED bank, keyed by wavelength.
        clock: Time source.
        wavelengths_nm: LED order after the dark phase.
        conversions_per_phase: Conversions per phase, the first of which is discarded.
        trace: If given, every conversion is appended to it as a :class:`ConversionRecord`
            (for tests and diagnostics; unbounded, so not for long runs).
        idle: Called after each conversion with the seconds left before the next one
            completes, for other bus work (the OLED) that must not delay the ADC.
    """

    def __init__(
        self,
        adc: ADS1114,
        leds: LedBank,
        *,
        clock: Clock,
        wavelengths_nm: Sequence[int] = DEFAULT_WAVELENGTHS_NM,
        conversions_per_phase: int = DEFAULT_CONVERSIONS_PER_PHASE,
        trace: list[ConversionRecord] | None = None,
        idle: Callable[[float], object] | None = None,
    ) -> None:
        if conversions_per_phase < 2:
            raise ValueError(
                "conversions_per_phase must be >= 2 (one is discarded), "
                f"got {conversions_per_phase}"
            )
        self.adc = adc
        self.leds = leds
        self.clock = clock
        self.phases: tuple[int | None, ...] = (None, *wavelengths_nm)
        self.per_phase = conversions_per_phase
        self.trace = trace
        self.idle = idle
        self.stats = AcquisitionStats()
        self._period_s = adc.period_s
        self._last_index = -1
        self._last_event_s = math.nan
        self._phase = 0
        # Index of the last conversion completed before the latest LED switch. The LEDs
        # are set before the ADC starts, so nothing is in flight at start: as if the
        # switch came before conversion −1, whose successor (0) is then kept.
        self._switch_index = -2
        self._reset_sums()

    def _reset_sums(self) -> None:
        n = len(self.phases)
        self._sums, self._counts, self._peaks = [0.0] * n, [0] * n, [-math.inf] * n

    @property
    def period_s(self) -> float:
        """The conversion period as measured from ready events, seconds."""
        return self._period_s

    def start(self) -> None:
        """Dark phase, then start the ADC converting continuously."""
        self.leds.select(None)
        self.adc.start_continuous()

    def _index_of(self, t_event_s: float) -> int:
        if self._last_index < 0:
            return 0
        gap_s = t_event_s - self._last_event_s
        steps = max(1, round(gap_s / self._period_s))
        # Follow the ADC oscillator (±10 % from nominal, datasheet) on gaps of one period
        # only: a time stamp that does not move forward by at least half a period (a
        # stale or repeated event, a clock stepped back) counts as the next conversion and
        # teaches the period nothing, so the period stays positive and near the truth.
        if steps == 1 and gap_s >= 0.5 * self._period_s:
            self._period_s += 0.01 * (gap_s - self._period_s)
        self.stats.lost_gap += steps - 1
        return self._last_index + steps

    def step(self) -> Frame | None:
        """Handle one conversion; return a frame when one completes."""
        try:
            t_event = self.adc.wait_ready(READY_TIMEOUT_PERIODS * self._period_s)
        except ReadyTimeoutError:
            self.stats.ready_timeouts += 1
            return None
        index = self._index_of(t_event)
        self._last_index, self._last_event_s = index, t_event
        self.stats.conversions = index + 1
        volts: float | None = None
        if self.clock.monotonic() - t_event > self._period_s:
            self.stats.lost_late += 1  # the register already holds a newer conversion
        else:
            try:
                volts = self.adc.read_volts()
                self.stats.read += 1
            except I2CError:
                self.stats.lost_read_error += 1
        discarded = index == self._switch_index + 1
        if discarded:
            self.stats.discarded += 1
        elif volts is not None and index > self._switch_index:
            self._sums[self._phase] += volts
            self._counts[self._phase] += 1
            if volts > self._peaks[self._phase]:
                self._peaks[self._phase] = volts
        if self.trace is not None:
            self.trace.append(ConversionRecord(index, t_event, self._phase, volts, discarded))
        frame = None
        if index >= self._switch_index + self.per_phase:
            frame = self._next_phase(t_event)
        if self.idle is not None:
            budget_s = t_event + self._period_s - self.clock.monotonic()
            if budget_s > 0:
                self.idle(budget_s)
        return frame

    def _next_phase(self, t_event: float) -> Frame | None:
        finished = self._phase
        self._phase = (self._phase + 1) % len(self.phases)
        self.leds.select(self.phases[self._phase])
        self.stats.led_switches += 1
        # The conversion in flight at the switch is the one to discard.
        in_flight = math.floor((self.clock.monotonic() - t_event) / self._period_s)
        self._switch_index = self._last_index + in_flight
        if finished != len(self.phases) - 1:
            return None
        volts = tuple(s / c if c else math.nan for s, c in zip(self._sums, self._counts))
        peaks = tuple(p if c else math.nan for p, c in zip(self._peaks, self._counts))
        frame = Frame(t_event, volts, tuple(self._counts), peaks)
        self._reset_sums()
        self.stats.frames += 1
        return frame

    def run(self, duration_s: float) -> Iterator[Frame]:
        """Yield frames for ``duration_s`` seconds of clock time (after :meth:`start`)."""
        end = self.clock.monotonic() + duration_s
        while self.clock.monotonic() < end:
            frame = self.step()
            if frame is not None:
                yield frame

    def close(self) -> None:
        """LEDs dark and ADC powered down; the bank and ADC stay usable for a restart."""
        self.leds.select(None)
        self.adc.close()
