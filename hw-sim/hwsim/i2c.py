"""A simulated Linux I²C adapter with the ``smbus2.SMBus`` methods the device uses.

Chips attach at 7-bit addresses and see whole I²C messages: ``i2c_write(data)``
for a write message (the bytes after the address) and ``i2c_read(length)`` for a
read message. An SMBus "block" write of ``data`` to ``register`` is one write
message ``[register, *data]``; a block read is a write of ``[register]``
followed, after a repeated start, by a read; :meth:`SimI2CBus.read_bytes` is one
read message alone (what ``os.read`` on the board's i2c-dev file sends), which a chip
answers from its own state (the ADS1114: the register its pointer holds).

Faults behave as on the board's adapter (Rockchip ``i2c-rk3x``): a transfer whose
address is not acknowledged fails with ``OSError(ENXIO)`` before any byte reaches
a chip. That is what an empty address gives, what a chip that stopped answering
gives, and what :attr:`SimI2CBus.fault_rate` injects at random.

Each transfer also takes simulated time: 9 bit-times per byte (8 data bits and
an acknowledge) plus start/stop, at ``bus_hz`` (400 kHz Fast-mode by default).
"""

from __future__ import annotations

import collections
import ctypes
import errno
import os
import random
from typing import Protocol

from hwsim.clock import VirtualClock

#: errno of a NACK at the address phase, as the rk3x adapter driver reports it
#: (drivers/i2c/busses/i2c-rk3x.c: ``rk3x_i2c_stop(i2c, -ENXIO)`` on NAKRCV).
NACK_ERRNO = errno.ENXIO

#: smbus2 / Linux limit of an SMBus block transfer, bytes (I2C_SMBUS_BLOCK_MAX).
SMBUS_BLOCK_MAX = 32

_I2C_M_RD = 0x0001  # linux/i2c.h: read message flag
_BITS_PER_BYTE = 9  # 8 data bits + ACK/NACK
_START_STOP_BITS = 2


class I2CChip(Protocol):
    """What a simulated chip offers the bus."""

    def i2c_write(self, data: bytes) -> None: ...

    def i2c_read(self, length: int) -> bytes: ...


class SimI2CBus:
    """A simulated I²C bus offering the ``smbus2.SMBus`` methods the drivers use, and a plain
    read (:meth:`read_bytes`, as :class:`device.i2c_dev.I2CDev`).

    Args:
        clock: Virtual clock that transfers advance; a private one if omitted.
        bus_hz: SCL frequency, Hz.
        fault_rate: Probability (0–1) that any transfer fails with a NACK.
        seed: Seed of the fault-injection random generator.
        bus_number: Only used in messages (``/dev/i2c-N``).
    """

    def __init__(
        self,
        clock: VirtualClock | None = None,
        *,
        bus_hz: float = 400_000.0,
        fault_rate: float = 0.0,
        seed: int = 0,
        bus_number: int = 3,
    ) -> None:
        if bus_hz <= 0:
            raise ValueError(f"bus_hz must be positive, got {bus_hz!r}")
        self.clock = clock if clock is not None else VirtualClock()
        self.bus_number = bus_number
        self._bit_s = 1.0 / bus_hz
        self._chips: dict[int, I2CChip] = {}
        self._silent: set[int] = set()
        self._rng = random.Random(seed)
        self.fault_rate = fault_rate
        self.transfers = 0
        self.faults_injected = 0
        #: Transfers started, and those failed by :attr:`fault_rate`, per 7-bit address.
        self.transfers_to: collections.Counter[int] = collections.Counter()
        self.injected_to: collections.Counter[int] = collections.Counter()
        self.closed = False

    # -- simulator side ---------------------------------------------------------

    @property
    def fault_rate(self) -> float:
        """Probability that a transfer fails with a NACK (0–1)."""
        return self._fault_rate

    @fault_rate.setter
    def fault_rate(self, value: float) -> None:
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"fault_rate must be within [0, 1], got {value!r}")
        self._fault_rate = float(value)

    def attach(self, address: int, chip: I2CChip) -> None:
        """Attach ``chip`` at 7-bit ``address``."""
        if not 0x03 <= address <= 0x77:
            raise ValueError(f"7-bit I2C address must be within 0x03..0x77, got {address:#x}")
        if address in self._chips:
            raise ValueError(f"address {address:#04x} is already taken")
        self._chips[address] = chip

    def set_responding(self, address: int, responding: bool) -> None:
        """Make the chip at ``address`` stop (or resume) acknowledging its address."""
        if responding:
            self._silent.discard(address)
        else:
            self._silent.add(address)

    # -- transfer core ----------------------------------------------------------

    def _chip(self, address: int, n_bytes: int) -> I2CChip:
        """Start a transfer: take its bus time, then NACK or return the chip."""
        if self.closed:
            raise ValueError("I/O operation on closed SimI2CBus")
        self.transfers += 1
        self.transfers_to[address] += 1
        self.clock.sleep((_START_STOP_BITS + _BITS_PER_BYTE * n_bytes) * self._bit_s)
        chip = self._chips.get(address)
        injected = self._fault_rate > 0.0 and self._rng.random() < self._fault_rate
        if injected:
            self.faults_injected += 1
            self.injected_to[address] += 1
        if chip is None or injected or address in self._silent:
            raise OSError(NACK_ERRNO, os.strerror(NACK_ERRNO))
        return chip

    # -- smbus2.SMBus subset ------------------------------------------------------

    def write_i2c_block_data(
        self, i2c_addr: int, register: int, data: list[int], force: bool | None = None
    ) -> None:
        """Write ``data`` after the command byte ``register`` (one write message)."""
        if len(data) > SMBUS_BLOCK_MAX:
            raise ValueError(f"Data length cannot exceed {SMBUS_BLOCK_MAX} bytes")
        chip = self._chip(i2c_addr, 2 + len(data))
        chip.i2c_write(bytes([register, *data]))

    def read_i2c_block_data(
        self, i2c_addr: int, register: int, length: int, force: bool | None = None
    ) -> list[int]:
        """Write ``register`` then read ``length`` bytes after a repeated start."""
        if length > SMBUS_BLOCK_MAX:
            raise ValueError(f"Desired block length over {SMBUS_BLOCK_MAX} bytes")
        chip = self._chip(i2c_addr, 3 + length)
        chip.i2c_write(bytes([register]))
        return list(chip.i2c_read(length))

    def read_bytes(self, i2c_addr: int, length: int) -> bytes:
        """One read message of ``length`` bytes: no register byte is written first."""
        chip = self._chip(i2c_addr, 1 + length)
        return bytes(chip.i2c_read(length))

    def write_byte_data(
        self, i2c_addr: int, register: int, value: int, force: bool | None = None
    ) -> None:
        """Write one byte after the command byte ``register``."""
        self.write_i2c_block_data(i2c_addr, register, [value])

    def read_byte_data(self, i2c_addr: int, register: int, force: bool | None = None) -> int:
        """Read one byte from ``register``."""
        return self.read_i2c_block_data(i2c_addr, register, 1)[0]

    def i2c_rdwr(self, *i2c_msgs: object) -> None:
        """Combined transfer of ``smbus2.i2c_msg`` messages, with repeated starts.

        All messages must address the same chip, which is all the device does.
        """
        if not i2c_msgs:
            return
        addresses = {msg.addr for msg in i2c_msgs}  # type: ignore[attr-defined]
        if len(addresses) != 1:
            raise ValueError(f"i2c_rdwr to several addresses is not simulated: {addresses}")
        n_bytes = sum(1 + msg.len for msg in i2c_msgs)  # type: ignore[attr-defined]
        chip = self._chip(addresses.pop(), n_bytes)
        for msg in i2c_msgs:
            if msg.flags & _I2C_M_RD:  # type: ignore[attr-defined]
                data = chip.i2c_read(msg.len)  # type: ignore[attr-defined]
                ctypes.memmove(msg.buf, data, len(data))  # type: ignore[attr-defined]
            else:
                chip.i2c_write(ctypes.string_at(msg.buf, msg.len))  # type: ignore[attr-defined]

    def close(self) -> None:
        """Close the bus; harmless to call twice."""
        self.closed = True

    def __enter__(self) -> SimI2CBus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
