"""The TI ADS1114 16-bit delta-sigma ADC, simulated at register level.

What is modelled, from the ADS111x datasheet (TI SBAS444):

- the 2-bit address pointer and four 16-bit registers, big-endian on the wire:
  conversion (0x00), config (0x01), Lo_thresh (0x02), Hi_thresh (0x03). Every write
  message sets the pointer with its first byte ("every write operation requires the
  Pointer register to be written"); a read message returns the register the pointer
  holds, however long ago it was written, and leaves it there ("Reading From the
  ADS111x": the chip stores the pointer until a write modifies it). The pointer is 00
  (conversion) after power-up and a general-call reset ("Address Pointer Register":
  reset 0h). A driver that writes Lo_thresh/Hi_thresh/config and then reads without
  re-pointing reads that register, not the conversion;
- power-on values: conversion 0x0000, config 0x8583, Lo_thresh 0x8000, Hi_thresh 0x7FFF;
- every config field: OS, MUX (no function on the ADS1114, kept as written),
  PGA, MODE, DR, COMP_MODE, COMP_POL, COMP_LAT, COMP_QUE;
- single-shot (OS starts one conversion, reads 0 while it runs) and continuous mode;
  a conversion completes 1/DR after it starts (times ``1 + rate_error``: the
  datasheet allows ±10 % data-rate variation);
- each result is the mean of the analog input over the conversion window (a
  delta-sigma converter integrates) plus Gaussian input-referred noise,
  rounded to the LSB of the PGA range, two's complement, clipped at full scale;
- the ALERT/RDY pin: as conversion-ready signal when Hi_thresh[15] = 1 and
  Lo_thresh[15] = 0 (an ~8 µs pulse per conversion in continuous mode, a level
  that asserts at the end of a single-shot conversion), as a traditional or
  window comparator otherwise, with polarity, latching and queue; disabled
  (high impedance, pulled high) when COMP_QUE = 11.

The analog input is a function ``analog_input(t0_s, t1_s) -> volts`` giving the
mean differential input AIN0 − AIN1 over a window of simulated time.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from hwsim.clock import VirtualClock

REG_CONVERSION = 0x00
REG_CONFIG = 0x01
REG_LO_THRESH = 0x02
REG_HI_THRESH = 0x03

POWER_ON = {
    REG_CONVERSION: 0x0000,
    REG_CONFIG: 0x8583,
    REG_LO_THRESH: 0x8000,
    REG_HI_THRESH: 0x7FFF,
}

OS_BIT = 1 << 15
MODE_BIT = 1 << 8
COMP_MODE_BIT = 1 << 4
COMP_POL_BIT = 1 << 3
COMP_LAT_BIT = 1 << 2
PGA_SHIFT, PGA_MASK = 9, 0b111
DR_SHIFT, DR_MASK = 5, 0b111
QUE_MASK = 0b11
QUE_DISABLED = 0b11

#: PGA field → full-scale range, volts (codes 110 and 111 repeat ±0.256 V).
FULL_SCALE_V = (6.144, 4.096, 2.048, 1.024, 0.512, 0.256, 0.256, 0.256)
#: DR field → data rate, samples per second.
DATA_RATE_SPS = (8, 16, 32, 64, 128, 250, 475, 860)
#: COMP_QUE field → conversions beyond threshold before ALERT asserts.
QUEUE_LENGTH = (1, 2, 4)

#: Width of the conversion-ready pulse in continuous mode, seconds (datasheet: ~8 µs).
RDY_PULSE_S = 8e-6

#: Default input-referred noise, V rms. An assumption: TI quotes about 30 µV rms at
#: ±2.048 V and 860 SPS (datasheet noise figure, TI E2E thread 442080); twice that is
#: taken for the ±4.096 V range. Replace it with a bench measurement when one exists.
DEFAULT_NOISE_V_RMS = 60e-6

CODE_MAX = 0x7FFF
CODE_MIN = -0x8000


def _to_signed(word: int) -> int:
    return word - 0x10000 if word & 0x8000 else word


class SimADS1114:
    """A simulated ADS1114 for :class:`hwsim.i2c.SimI2CBus`.

    Args:
        clock: The virtual clock shared with the bus.
        analog_input: Mean input voltage over a window, ``f(t0_s, t1_s) -> V``.
        noise_v_rms: Input-referred Gaussian noise per conversion, volts rms.
        rate_error: Relative data-rate error of the internal oscillator (±0.1 allowed).
        seed: Seed of the noise generator.
    """

    def __init__(
        self,
        clock: VirtualClock,
        analog_input: Callable[[float, float], float] = lambda t0, t1: 0.0,
        *,
        noise_v_rms: float = DEFAULT_NOISE_V_RMS,
        rate_error: float = 0.0,
        seed: int = 0,
    ) -> None:
        if not -0.1 <= rate_error <= 0.1:
            raise ValueError(f"rate_error must be within ±0.1 (datasheet), got {rate_error!r}")
        self.clock = clock
        self.analog_input = analog_input
        self.noise_v_rms = noise_v_rms
        self._rate_factor = 1.0 + rate_error
        self._rng = random.Random(seed)
        self.errors: list[str] = []  # protocol misuse seen on the bus
        self.conversions_completed = 0
        self._reset()

    def _reset(self) -> None:
        self._pointer = REG_CONVERSION
        self._config = POWER_ON[REG_CONFIG]
        self._lo = POWER_ON[REG_LO_THRESH]
        self._hi = POWER_ON[REG_HI_THRESH]
        self._conversion = POWER_ON[REG_CONVERSION]
        self._running = False  # a conversion sequence is under way
        self._t_start = 0.0  # start of conversion number 0 of the current run
        self._period_s = 1.0
        self._n_done = 0  # conversions of the current run already committed
        self._single_end = math.inf  # completion time of a single-shot conversion
        # ALERT/RDY: explicit level changes, plus analytic pulses while continuous-RDY runs.
        self._pin_changes: list[tuple[float, bool]] = []
        self._pin_level = True  # pulled high while disabled
        self._comparator_count = 0
        self._crdy = False  # cached _continuous_rdy()

    # -- derived settings ---------------------------------------------------------------

    @property
    def full_scale_v(self) -> float:
        return FULL_SCALE_V[(self._config >> PGA_SHIFT) & PGA_MASK]

    @property
    def data_rate_sps(self) -> int:
        return DATA_RATE_SPS[(self._config >> DR_SHIFT) & DR_MASK]

    @property
    def pointer(self) -> int:
        """The address pointer: the register the next read message returns."""
        return self._pointer

    @property
    def continuous(self) -> bool:
        return not self._config & MODE_BIT

    def _rdy_mode(self) -> bool:
        return bool(self._hi & 0x8000) and not self._lo & 0x8000

    def _pin_enabled(self) -> bool:
        return (self._config & QUE_MASK) != QUE_DISABLED

    def _asserted_level(self) -> bool:
        return bool(self._config & COMP_POL_BIT)  # COMP_POL = 0: active low

    def _continuous_rdy(self) -> bool:
        return self._running and self.continuous and self._rdy_mode() and self._pin_enabled()

    # -- conversions --------------------------------------------------------------------

    def _convert(self, t0_s: float, t1_s: float) -> int:
        volts = self.analog_input(t0_s, t1_s)
        if self.noise_v_rms:
            volts += self._rng.gauss(0.0, self.noise_v_rms)
        fs = self.full_scale_v
        code = round(volts * 0x8000 / fs)
        return CODE_MAX if code > CODE_MAX else CODE_MIN if code < CODE_MIN else code

    def _catch_up(self, now_s: float) -> None:
        """Commit every conversion that has completed by ``now_s``."""
        if not self._running:
            return
        if not self.continuous:
            if now_s >= self._single_end:
                t1 = self._single_end
                self._store(self._convert(t1 - self._period_s, t1), t1)
                self.conversions_completed += 1
                self._running = False
                self._single_end = math.inf
                if self._rdy_mode() and self._pin_enabled():
                    self._set_pin(t1, self._asserted_level())
            return
        n_total = int((now_s - self._t_start) / self._period_s)
        if n_total <= self._n_done:
            return
        comparator = self._pin_enabled() and not self._rdy_mode()
        first = self._n_done if comparator else n_total - 1
        for n in range(first, n_total):
            t1 = self._t_start + (n + 1) * self._period_s
            self._store(self._convert(t1 - self._period_s, t1), t1, comparator)
        self.conversions_completed += n_total - self._n_done
        self._n_done = n_total

    def _store(self, code: int, t_s: float, comparator: bool = False) -> None:
        self._conversion = code & 0xFFFF
        if comparator:
            self._compare(code, t_s)

    def _compare(self, code: int, t_s: float) -> None:
        lo, hi = _to_signed(self._lo), _to_signed(self._hi)
        window = bool(self._config & COMP_MODE_BIT)
        beyond = (code > hi or code < lo) if window else code > hi
        needed = QUEUE_LENGTH[self._config & QUE_MASK]
        self._comparator_count = self._comparator_count + 1 if beyond else 0
        asserted = self._pin_level == self._asserted_level()
        if self._comparator_count >= needed:
            self._set_pin(t_s, self._asserted_level())
        elif asserted and not self._config & COMP_LAT_BIT:
            back = lo <= code <= hi if window else code < lo
            if back:
                self._set_pin(t_s, not self._asserted_level())

    def _set_pin(self, t_s: float, level: bool) -> None:
        if level != self._pin_level:
            self._pin_changes.append((t_s, level))
            self._pin_level = level

    # -- register access ----------------------------------------------------------------

    def _write_register(self, reg: int, value: int, now_s: float) -> None:
        self._catch_up(now_s)
        self._write_register_value(reg, value, now_s)
        self._crdy = self._continuous_rdy()

    def _write_register_value(self, reg: int, value: int, now_s: float) -> None:
        if reg == REG_CONVERSION:
            self.errors.append(f"write to read-only conversion register ({value:#06x})")
        elif reg == REG_LO_THRESH:
            self._lo = value
        elif reg == REG_HI_THRESH:
            self._hi = value
        else:
            self._write_config(value, now_s)

    def _write_config(self, value: int, now_s: float) -> None:
        was_continuous_rdy = self._continuous_rdy()
        was_continuous = self._running and self.continuous
        self._config = value & ~OS_BIT | (self._config & OS_BIT)
        self._period_s = self._rate_factor / self.data_rate_sps
        self._comparator_count = 0
        if was_continuous_rdy:  # the analytic pulses stop here
            self._pin_level = not self._asserted_level()
        if not self._pin_enabled():
            self._set_pin(now_s, True)
        if self.continuous:
            self._running, self._t_start, self._n_done = True, now_s, 0
            self._single_end = math.inf
            return
        if was_continuous:  # MODE = 1 powers down after a continuous run
            self._running = False
        if value & OS_BIT and not self._running:  # OS = 1 while idle starts one conversion
            self._running, self._single_end = True, now_s + self._period_s
            if self._rdy_mode() and self._pin_enabled():
                self._set_pin(now_s, not self._asserted_level())

    def _read_register(self, reg: int, now_s: float) -> int:
        self._catch_up(now_s)
        if reg == REG_CONVERSION:
            if self._config & COMP_LAT_BIT and not self._rdy_mode() and self._pin_enabled():
                self._set_pin(now_s, not self._asserted_level())  # latched ALERT clears
            return self._conversion
        if reg == REG_CONFIG:
            busy = self._running  # continuous mode is always converting
            return (self._config & ~OS_BIT) | (0 if busy else OS_BIT)
        return self._lo if reg == REG_LO_THRESH else self._hi

    # -- the bus side (hwsim.i2c.I2CChip) ---------------------------------------------------

    def i2c_write(self, data: bytes) -> None:
        """One I²C write message: pointer byte, then optionally a 16-bit value MSB first."""
        if not data:
            return
        if data[0] & ~0b11:
            self.errors.append(f"pointer byte {data[0]:#04x} has reserved bits set")
        self._pointer = data[0] & 0b11
        if len(data) == 1:
            return
        if len(data) != 3:
            self.errors.append(f"register write of {len(data) - 1} bytes (expected 2) ignored")
            return
        self._write_register(self._pointer, (data[1] << 8) | data[2], self.clock.monotonic())

    def i2c_read(self, length: int) -> bytes:
        """One I²C read message: the pointed register, MSB first, repeated."""
        word = self._read_register(self._pointer, self.clock.monotonic())
        pair = bytes((word >> 8, word & 0xFF))
        return (pair * (length // 2 + 1))[:length]

    # -- general call reset (datasheet: general-call address with 0x06) -----------------

    def general_call_reset(self) -> None:
        """Return every register to its power-on value."""
        self._reset()

    # -- ALERT/RDY as an hwsim.gpio.EdgeSource ------------------------------------------------

    def _pulse_times(self, t0_s: float, t1_s: float) -> range:
        """Indices n of continuous conversions that may complete in (t0, t1].

        One extra index each side: callers compare the exact completion time
        ``t_start + (n + 1) * period``, so float rounding here cannot lose an edge.
        """
        p, ts = self._period_s, self._t_start
        first = max(math.floor((t0_s - ts) / p) - 1, 0)
        last = math.floor((t1_s - ts) / p) + 1
        return range(first, last)

    def level_at(self, t_s: float) -> bool:
        self._catch_up(t_s)
        if self._crdy and t_s > self._t_start:
            n = int((t_s - self._t_start) / self._period_s)
            since = t_s - (self._t_start + n * self._period_s)
            if n >= 1 and since < RDY_PULSE_S:
                return self._asserted_level()
            return not self._asserted_level()
        level = True
        for t, lv in self._pin_changes:
            if t > t_s:
                break
            level = lv
        return level

    def edges(self, t0_s: float, t1_s: float, limit: int) -> list[tuple[float, bool]]:
        out: list[tuple[float, bool]] = []
        if not self._crdy:
            self._catch_up(t1_s)  # comparator and single-shot edges come from conversions
        changes = self._pin_changes
        if changes and changes[-1][0] > t0_s:
            out = [(t, lv) for t, lv in changes if t0_s < t <= t1_s][:limit]
        if not self._crdy:
            return out
        active = self._asserted_level()
        ts, p = self._t_start, self._period_s
        for n in self._pulse_times(t0_s - RDY_PULSE_S, t1_s):
            t_end = ts + (n + 1) * p
            if t0_s < t_end <= t1_s:
                out.append((t_end, active))
            t_up = t_end + RDY_PULSE_S
            if t0_s < t_up <= t1_s:
                out.append((t_up, not active))
            if len(out) >= limit:
                return out[:limit]
        return out

    def next_edge(self, t_s: float) -> tuple[float, bool] | None:
        if self._crdy:
            ts, p = self._t_start, self._period_s
            n = max(math.floor((t_s - ts) / p), 0)
            while ts + n * p > t_s and n > 0:  # float rounding: n conversions done by t_s
                n -= 1
            while ts + (n + 1) * p <= t_s:
                n += 1
            prev_end = ts + n * p
            if n >= 1 and t_s < prev_end + RDY_PULSE_S:
                return prev_end + RDY_PULSE_S, not self._asserted_level()
            return ts + (n + 1) * p, self._asserted_level()
        if self._running and not self.continuous and self._rdy_mode() and self._pin_enabled():
            return self._single_end, self._asserted_level()
        for t, level in self._pin_changes:
            if t > t_s:
                return t, level
        return None
