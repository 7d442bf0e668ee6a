"""LED multiplexing and ADC acquisition: conversions in, light frames out.

The three LEDs and a dark phase take turns, ``conversions_per_phase`` ADC
conversions each (860 SPS continuous). After every LED switch the conversion in
flight mixes two light levels and is discarded. Each conversion is identified
by its index in the ADC's stream, worked out from the ALERT/RDY timestamps, so
a conversion that is never read (a failed transfer, a late loop, a dropped edge
event) is counted as lost rather than silently shifting the phases.

Accounting, which the tests hold to: ``conversions == read + lost_read_error +
lost_late + lost_gap`` and the discarded conversions are a subset of those.

When conversions stop coming (a wait times out), the multiplexer finds out why and
mends what it can (:meth:`Multiplexer.step`): an ADC that was reset or lost power
(its config is back to the power-on value) is restarted; an ADC that runs but whose
ALERT/RDY pulses never arrive (a wrong ``[gpio] adc_ready`` line, a broken wire) is read
paced by the clock instead; an ADC that does not answer on I²C is tried again at the
next timeout. :attr:`Multiplexer.fault` says what is wrong while no conversion comes, and
:attr:`Multiplexer.notices` what was done about it, for the wearer and the record.
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
#: Timeouts in a row from an ADC that holds its config before the ready line is given up
#: for clock pacing: 3 × 20 periods, 70 ms at 860 SPS (one timeout can be a late loop).
PACE_AFTER_TIMEOUTS = 3
#: The notice (and the fault, until a conversion comes) after a reset ADC is restarted.
RESTARTED = "ADC was reset or lost power: restarted it"
#: Clock-paced reads cannot see the ADC stop: its config is checked this often, seconds.
PACED_CHECK_S = 1.0
#: Bus time given to other work (the OLED) after each timeout, in conversion periods:
#: while no conversion comes, the screen must still say so.
IDLE_AFTER_TIMEOUT_PERIODS = 5


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
    adc_restarts: int = 0  # the ADC was found reset or powered down and restarted
    paced: bool = False  # reads are paced by the clock: ALERT/RDY gave no pulses
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
        #: What stops the conversions, while none comes (None once one does): one short
        #: line for the screen; :attr:`fault_detail` holds the error behind it, if any.
        self.fault: str | None = None
        self.fault_detail = ""
        #: What was done about a fault (ADC restarted, reads paced by the clock), oldest
        #: first; the app takes them (:meth:`take_notices`) to tell the wearer and record.
        self.notices: list[str] = []
        #: Clock time of the latest conversion event or timeout, seconds.
        self.now_s = math.nan
        self._period_s = adc.period_s
        self._last_index = -1
        # NaN: the next event is the next conversion (at start, and after a restart).
        self._last_event_s = math.nan
        self._timeouts_in_a_row = 0
        self._next_check_s = math.inf
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
        self.now_s = self.clock.monotonic()
        self._next_check_s = self.now_s + PACED_CHECK_S

    @property
    def waiting(self) -> bool:
        """True while the latest wait for a conversion timed out (the ADC, not the loop, is
        late)."""
        return self._timeouts_in_a_row > 0

    def take_notices(self) -> list[str]:
        """The notices since the last call, oldest first."""
        notices, self.notices = self.notices, []
        return notices

    def _restart(self) -> None:
        """Dark phase and a new continuous run; the unfinished frame is dropped and the next
        conversion is the first of a new stream (as after :meth:`start`)."""
        self.leds.select(None)
        self._phase = 0
        self._reset_sums()
        self._last_event_s = math.nan
        # The conversion indices go on from the last one; as at start, the first
        # conversion of the new run is kept (nothing was in flight at the switch).
        self._switch_index = self._last_index - 1
        self.adc.start_continuous()
        self._next_check_s = self.clock.monotonic() + PACED_CHECK_S

    def _on_timeout(self) -> None:
        """No conversion within the timeout: find out why, mend what can be mended."""
        self.stats.ready_timeouts += 1
        self._timeouts_in_a_row += 1
        self.now_s = self.clock.monotonic()
        try:
            configured = self.adc.still_configured()
            if not configured:
                self._restart_reset_adc()
                self.fault = RESTARTED
            elif self._timeouts_in_a_row >= PACE_AFTER_TIMEOUTS and not self.stats.paced:
                self.adc.pace_by_clock()
                self.stats.paced = True
                self._restart()
                self.fault = "no ALERT/RDY pulses: reading paced by the clock"
                self.notices.append(f"{self.fault} (check the ALERT/RDY wire and [gpio] adc_ready)")
        except I2CError as exc:
            self.fault = "ADC not answering on I2C: check its wiring and power"
            self.fault_detail = str(exc)
        if self.idle is not None:
            self.idle(IDLE_AFTER_TIMEOUT_PERIODS * self._period_s)

    def _check_paced(self) -> None:
        """Clock-paced reads go on whether the ADC converts or not: check it still does."""
        self._next_check_s = self.now_s + PACED_CHECK_S
        try:
            configured = self.adc.still_configured()
        except I2CError:
            return  # its reads fail too: the frames say "no data"
        if not configured:
            self._restart_reset_adc()

    def _restart_reset_adc(self) -> None:
        """The ADC holds its power-on config: start it again, count it and say so."""
        self.stats.adc_restarts += 1
        self._restart()
        self.notices.append(RESTARTED)

    def _index_of(self, t_event_s: float) -> int:
        if self._last_event_s != self._last_event_s:  # NaN: the first of a run
            return self._last_index + 1
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
            self._on_timeout()
            return None
        if self._timeouts_in_a_row:
            self._timeouts_in_a_row = 0
            self.fault, self.fault_detail = None, ""
        index = self._index_of(t_event)
        self._last_index, self._last_event_s = index, t_event
        self.stats.conversions = index + 1
        volts: float | None = None
        self.now_s = now = self.clock.monotonic()
        if now - t_event > self._period_s:
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
            if self.stats.paced and now >= self._next_check_s:
                self._check_paced()
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
