"""Bounded retries and failure counts for any ``smbus2.SMBus``-like bus.

:class:`RetryingBus` offers the same methods as the bus it wraps, so it can be
handed to the ADS1114 driver and to the OLED's queue alike. A failed transfer (an
``OSError``, as the Linux adapter reports a NACK or a timeout) is retried up to
``retries`` more times; every failed attempt is counted per address, and a
transfer that fails every attempt raises :class:`device.errors.I2CError`.

Per address, :attr:`RetryingBus.failures` counts failed attempts, :attr:`~RetryingBus.recovered`
transfers that failed and then went through on a retry, :attr:`~RetryingBus.gave_up` transfers
lost after every attempt failed. So ``failures - gave_up`` attempts were retried, and
``recovered + gave_up`` transfers met a failure (``hwsim.wearable`` prints them per chip).
"""

from __future__ import annotations

import collections
from typing import Any, Protocol

from device.errors import I2CError

#: Extra attempts after a failed transfer. A transient NACK clears on the next try
#: (about 50 µs later at 400 kHz); three failures in a row mean the chip is gone.
DEFAULT_RETRIES = 2


class SMBusLike(Protocol):
    """What the device's drivers use of a bus: two ``smbus2.SMBus`` block methods and a
    plain read (one read message, no register byte first), which the board's
    :class:`device.i2c_dev.I2CDev`, ``hwsim.i2c.SimI2CBus`` and
    :class:`device.simboard.SimBus` all offer."""

    def read_i2c_block_data(self, i2c_addr: int, register: int, length: int) -> list[int]: ...

    def read_bytes(self, i2c_addr: int, length: int) -> bytes: ...

    def write_i2c_block_data(self, i2c_addr: int, register: int, data: list[int]) -> None: ...


class RetryingBus:
    """Wrap ``bus`` with bounded retries and per-address failure counters.

    Args:
        bus: An opened :class:`SMBusLike` bus (:class:`device.i2c_dev.I2CDev`,
            ``hwsim.i2c.SimI2CBus``, :class:`device.simboard.SimBus`); the caller closes it.
        retries: Extra attempts after a failure (0 = no retry).
        bus_name: Used in error messages, e.g. "/dev/i2c-3".
    """

    def __init__(self, bus: SMBusLike, *, retries: int = DEFAULT_RETRIES, bus_name: str = "i2c"):
        if retries < 0:
            raise ValueError(f"retries must be >= 0, got {retries!r}")
        self.bus = bus
        self.retries = retries
        self.bus_name = bus_name
        #: Failed attempts per address (every one, retried or not).
        self.failures: collections.Counter[int] = collections.Counter()
        #: Transfers that failed all attempts, per address.
        self.gave_up: collections.Counter[int] = collections.Counter()
        #: Transfers that failed, then went through on a retry, per address.
        self.recovered: collections.Counter[int] = collections.Counter()

    def _failed(self, address: int, exc: OSError, attempt: int, what: str) -> None:
        """Count a failed attempt; after the last one, raise :class:`I2CError`."""
        self.failures[address] += 1
        if attempt == self.retries:
            self.gave_up[address] += 1
            raise I2CError(exc.errno, address, self.bus_name, attempt + 1, what) from exc

    # The transfers below are on the acquisition hot path (860 per second on a Cortex-A7): no
    # closures, and the error text is built only on failure. Each makes its first attempt
    # outside the retry loop, so a transfer that goes through costs no counting at all.

    def read_bytes(self, i2c_addr: int, length: int) -> bytes:
        try:
            return self.bus.read_bytes(i2c_addr, length)
        except OSError as exc:
            self._failed(i2c_addr, exc, 0, f"plain read of {length} bytes")
        for attempt in range(1, self.retries + 1):
            try:
                data = self.bus.read_bytes(i2c_addr, length)
            except OSError as exc:
                self._failed(i2c_addr, exc, attempt, f"plain read of {length} bytes")
            else:
                self.recovered[i2c_addr] += 1
                return data
        raise AssertionError("unreachable")  # pragma: no cover

    def read_i2c_block_data(self, i2c_addr: int, register: int, length: int) -> list[int]:
        try:
            return self.bus.read_i2c_block_data(i2c_addr, register, length)
        except OSError as exc:
            what = f"read of {length} bytes from register {register:#04x}"
            self._failed(i2c_addr, exc, 0, what)
        for attempt in range(1, self.retries + 1):
            try:
                data = self.bus.read_i2c_block_data(i2c_addr, register, length)
            except OSError as exc:
                self._failed(i2c_addr, exc, attempt, what)
            else:
                self.recovered[i2c_addr] += 1
                return data
        raise AssertionError("unreachable")  # pragma: no cover

    def write_i2c_block_data(self, i2c_addr: int, register: int, data: list[int]) -> None:
        try:
            self.bus.write_i2c_block_data(i2c_addr, register, data)
            return
        except OSError as exc:
            what = f"write of {len(data)} bytes to register {register:#04x}"
            self._failed(i2c_addr, exc, 0, what)
        for attempt in range(1, self.retries + 1):
            try:
                self.bus.write_i2c_block_data(i2c_addr, register, data)
            except OSError as exc:
                self._failed(i2c_addr, exc, attempt, what)
            else:
                self.recovered[i2c_addr] += 1
                return

    def __getattr__(self, name: str) -> Any:  # other SMBus methods pass straight through
        return getattr(self.bus, name)
