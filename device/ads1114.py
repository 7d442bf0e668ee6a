"""Driver for the TI ADS1114 16-bit ADC (datasheet SBAS444).

Register pointers, config fields and the PGA/data-rate tables are named as in
the datasheet. One function packs the config word (:func:`config_word`), one
register read and one register write do the big-endian, two's-complement work,
and conversion-ready waiting lives in :meth:`ADS1114.wait_ready` alone, either
on the ALERT/RDY line (a GPIO edge per conversion) or paced by the clock.

The address pointer: every write message to the chip starts with the pointer byte, and a
read message returns the register it points to; the chip keeps the pointer until the next
write (datasheet, "Address Pointer Register" and "Reading From the ADS111x": "If repeated
reads from the same register are desired, there is no need to continually send Pointer
register bytes"). The driver tracks it: a register read that finds the pointer already at
its register is one plain 2-byte read (``bus.read_bytes``), the conversion reads of
continuous mode among them; any other read writes the pointer first
(``read_i2c_block_data``), and every register write moves it. After a failed transfer the
pointer is taken as unknown, so the next read writes it again.
"""

from __future__ import annotations

import contextlib
import math
import struct
from typing import Protocol

from device.clock import Clock
from device.errors import ConfigError, ReadyTimeoutError
from device.i2c import SMBusLike

DEFAULT_ADDRESS = 0x48  # ADDR pin to GND

REG_CONVERSION = 0x00
REG_CONFIG = 0x01
REG_LO_THRESH = 0x02
REG_HI_THRESH = 0x03

CFG_OS_SINGLE = 0x8000  # write: start a single conversion; read: 1 = idle
CFG_MODE_SINGLE = 0x0100  # 0 = continuous conversion
CFG_PGA_SHIFT = 9
CFG_DR_SHIFT = 5
CFG_COMP_QUE_ONE = 0b00  # assert ALERT/RDY after one conversion
CFG_COMP_QUE_DISABLE = 0b11  # ALERT/RDY high-impedance

#: Full-scale range (V) → PGA field.
PGA = {6.144: 0b000, 4.096: 0b001, 2.048: 0b010, 1.024: 0b011, 0.512: 0b100, 0.256: 0b101}
#: Data rate (samples/s) → DR field.
DATA_RATE = {
    8: 0b000,
    16: 0b001,
    32: 0b010,
    64: 0b011,
    128: 0b100,
    250: 0b101,
    475: 0b110,
    860: 0b111,
}

#: The conversion register on the wire: big-endian two's complement (datasheet, "Conversion
#: Register").
_CODE = struct.Struct(">h")

#: Thresholds that turn ALERT/RDY into a conversion-ready pin (Hi_thresh MSB = 1,
#: Lo_thresh MSB = 0; datasheet "Conversion Ready Pin").
RDY_HI_THRESH = 0x8000
RDY_LO_THRESH = 0x0000


def config_word(
    *,
    full_scale_v: float,
    data_rate_sps: int,
    continuous: bool,
    ready_pin: bool,
    start: bool = False,
) -> int:
    """Pack the config register.

    Args:
        full_scale_v: PGA range, volts (one of :data:`PGA`).
        data_rate_sps: Samples per second (one of :data:`DATA_RATE`).
        continuous: Continuous conversion (else single-shot / power-down).
        ready_pin: Enable ALERT/RDY (COMP_QUE = 00), else disable it (11).
        start: Set OS to start a single-shot conversion.

    Returns:
        The 16-bit config word. Comparator: traditional, active low, non-latching.
    """
    if full_scale_v not in PGA:
        raise ConfigError(f"full_scale_v must be one of {sorted(PGA)} V, got {full_scale_v!r}")
    if data_rate_sps not in DATA_RATE:
        raise ConfigError(
            f"data_rate_sps must be one of {sorted(DATA_RATE)} SPS, got {data_rate_sps!r}"
        )
    word = (PGA[full_scale_v] << CFG_PGA_SHIFT) | (DATA_RATE[data_rate_sps] << CFG_DR_SHIFT)
    word |= CFG_COMP_QUE_ONE if ready_pin else CFG_COMP_QUE_DISABLE
    if not continuous:
        word |= CFG_MODE_SINGLE
    if start:
        word |= CFG_OS_SINGLE
    return word


def code_to_volts(code: int, full_scale_v: float) -> float:
    """Signed 16-bit code → volts (1 LSB = FSR / 2¹⁵)."""
    return code * full_scale_v / 0x8000


class ReadyLine(Protocol):
    """The subset of a GPIO line used for ALERT/RDY (:class:`device.gpio_line.EventLine`:
    periphery's ``GPIO`` API)."""

    edge: str

    def poll(self, timeout: float | None = None) -> bool: ...

    def read_event(self) -> object: ...


class ADS1114:
    """One ADS1114 on an I²C bus.

    Args:
        bus: SMBus-like bus (wrap it in :class:`device.i2c.RetryingBus` for retries).
        address: 7-bit address.
        clock: Time source (``monotonic``/``sleep``).
        full_scale_v: PGA range, volts; ±4.096 V by default.
        data_rate_sps: 860 by default, the fastest rate.
        ready_line: GPIO input wired to ALERT/RDY, or None to pace reads by the clock.
    """

    def __init__(
        self,
        bus: SMBusLike,
        address: int = DEFAULT_ADDRESS,
        *,
        clock: Clock,
        full_scale_v: float = 4.096,
        data_rate_sps: int = 860,
        ready_line: ReadyLine | None = None,
    ) -> None:
        config_word(
            full_scale_v=full_scale_v, data_rate_sps=data_rate_sps, continuous=True, ready_pin=False
        )
        self.bus = bus
        self.address = address
        self.clock = clock
        self.full_scale_v = full_scale_v
        self.data_rate_sps = data_rate_sps
        self.period_s = 1.0 / data_rate_sps
        self.ready_line = ready_line
        self._next_due_s = math.inf  # paced mode: when the next conversion completes
        self._running_word: int | None = None  # the config word of the continuous run
        self._volts_per_code = code_to_volts(1, full_scale_v)
        #: The register the chip's address pointer holds, or None when unknown (at start:
        #: another program may have moved it since power-up).
        self.pointer: int | None = None

    # -- registers ----------------------------------------------------------------------

    def read_register(self, register: int) -> int:
        """Read a 16-bit register (big-endian), unsigned; writes the pointer only if needed."""
        if register == self.pointer:
            msb, lsb = self.bus.read_bytes(self.address, 2)
            return (msb << 8) | lsb
        self.pointer = None  # a failed transfer may or may not have moved it
        msb, lsb = self.bus.read_i2c_block_data(self.address, register, 2)
        self.pointer = register
        return (msb << 8) | lsb

    def write_register(self, register: int, value: int) -> None:
        """Write a 16-bit register (big-endian); the pointer moves to ``register``."""
        self.pointer = None
        self.bus.write_i2c_block_data(self.address, register, [(value >> 8) & 0xFF, value & 0xFF])
        self.pointer = register

    # -- operation ------------------------------------------------------------------------

    def start_continuous(self) -> None:
        """Start continuous conversion; with a ready line, set ALERT/RDY to pulse per conversion."""
        use_pin = self.ready_line is not None
        if use_pin:
            self.write_register(REG_HI_THRESH, RDY_HI_THRESH)
            self.write_register(REG_LO_THRESH, RDY_LO_THRESH)
            self.ready_line.edge = "falling"  # COMP_POL = 0: the pulse is active low
        word = config_word(
            full_scale_v=self.full_scale_v,
            data_rate_sps=self.data_rate_sps,
            continuous=True,
            ready_pin=use_pin,
        )
        self.write_register(REG_CONFIG, word)
        self._running_word = word
        self._next_due_s = self.clock.monotonic() + self.period_s

    def still_configured(self) -> bool:
        """Whether the chip still holds the config :meth:`start_continuous` wrote.

        False after a reset or a power loss: the chip comes back with its power-on config
        (single-shot, powered down, ALERT/RDY disabled; datasheet, "Config Register", reset
        value 8583h) and stops converting without a word on the bus. One register read; the
        OS bit (read: conversion in progress) is left out of the comparison.

        Raises:
            I2CError: The chip does not answer.
        """
        if self._running_word is None:
            return False
        return (self.read_register(REG_CONFIG) ^ self._running_word) & ~CFG_OS_SINGLE == 0

    def pace_by_clock(self) -> None:
        """Stop waiting for ALERT/RDY and pace reads by the clock from now on (a ready line
        that gives no edges: a wrong ``[gpio] adc_ready``, a broken wire); restarts the
        continuous run with the pin disabled."""
        self.ready_line = None
        self.start_continuous()

    def wait_ready(self, timeout_s: float) -> float:
        """Wait for the next conversion to complete; return when it did (clock seconds).

        With a ready line this is the ALERT/RDY falling edge's kernel timestamp
        (CLOCK_MONOTONIC, the same clock as ``time.monotonic``, on the ABI-v1 lines of
        :mod:`device.gpio_line`); otherwise the
        conversion's scheduled completion, after sleeping until then.

        Raises:
            ReadyTimeoutError: No conversion within ``timeout_s`` seconds.
        """
        if self.ready_line is not None:
            if not self.ready_line.poll(timeout_s):
                raise ReadyTimeoutError(
                    f"ADS1114 at {self.address:#04x}: no ALERT/RDY edge within {timeout_s} s"
                )
            return self.ready_line.read_event().timestamp * 1e-9
        if self._next_due_s == math.inf:
            raise ReadyTimeoutError("ADS1114: paced wait before start_continuous()")
        due = self._next_due_s
        now = self.clock.monotonic()
        if due - now > timeout_s:
            self.clock.sleep(timeout_s)
            raise ReadyTimeoutError(
                f"ADS1114 at {self.address:#04x}: next conversion beyond timeout"
            )
        if due > now:
            self.clock.sleep(due - now)
        self._next_due_s = due + self.period_s
        return due

    def read_code(self) -> int:
        """The conversion register as a signed 16-bit code."""
        if self.pointer == REG_CONVERSION:  # continuous mode's reads: one plain read each
            return _CODE.unpack(self.bus.read_bytes(self.address, 2))[0]
        word = self.read_register(REG_CONVERSION)
        return word - 0x10000 if word & 0x8000 else word

    def read_volts(self) -> float:
        """The latest conversion, volts (:func:`code_to_volts`)."""
        if self.pointer == REG_CONVERSION:  # read_code's plain read, one call fewer (hot path)
            return _CODE.unpack(self.bus.read_bytes(self.address, 2))[0] * self._volts_per_code
        return self.read_code() * self._volts_per_code

    def single_shot_volts(self, timeout_s: float = 0.1) -> float:
        """One single-shot conversion, polling OS until done; leaves the ADC powered down."""
        word = config_word(
            full_scale_v=self.full_scale_v,
            data_rate_sps=self.data_rate_sps,
            continuous=False,
            ready_pin=False,
            start=True,
        )
        self.write_register(REG_CONFIG, word)
        self._next_due_s = math.inf
        self._running_word = None
        deadline = self.clock.monotonic() + timeout_s
        while not self.read_register(REG_CONFIG) & CFG_OS_SINGLE:
            if self.clock.monotonic() > deadline:
                raise ReadyTimeoutError(f"ADS1114 at {self.address:#04x}: single shot timed out")
            self.clock.sleep(self.period_s / 4)
        return self.read_volts()

    def power_down(self) -> None:
        """Stop converting (single-shot mode without a start)."""
        word = config_word(
            full_scale_v=self.full_scale_v,
            data_rate_sps=self.data_rate_sps,
            continuous=False,
            ready_pin=False,
        )
        self.write_register(REG_CONFIG, word)
        self._next_due_s = math.inf
        self._running_word = None

    def close(self) -> None:
        """Power the ADC down; harmless to call twice. The bus and line belong to the caller."""
        with contextlib.suppress(OSError):
            self.power_down()
