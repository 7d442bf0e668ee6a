"""The board's I²C adapter through Linux i2c-dev: one plain ``read``/``write`` per transfer.

The acquisition loop reads the ADS1114's conversion register 860 times a second. Through
smbus2 each read is an ``I2C_SMBUS`` ioctl built from ctypes structures (17.5 k ARM
instructions per call on the emulated board, issue 13); through i2c-dev it is one
``os.read`` of 2 bytes: the ADS1114 keeps its address pointer between transfers (datasheet
SBAS444, "Address Pointer Register" and "Reading From the ADS111x": the register last
pointed to is read until a write changes the pointer), so once the pointer is at the
conversion register a plain read returns it (:class:`device.ads1114.ADS1114` tracks the
pointer).

:class:`I2CDev` opens the adapter's character device once per 7-bit address and binds each
file to its address with the ``I2C_SLAVE`` ioctl (linux/i2c-dev.h), once; every transfer is
then a single ``os.read`` or ``os.write`` on that file (Documentation/i2c/dev-interface.rst:
``read()``/``write()`` are plain I²C messages to the bound address, START ... STOP). It
offers the ``smbus2.SMBus`` block methods the drivers use (:class:`device.i2c.SMBusLike`)
plus :meth:`I2CDev.read_bytes`:

- ``write_i2c_block_data(address, register, data)``: one write message
  ``[register, *data]``, byte for byte what smbus2's I²C-block write puts on the wire;
- ``read_i2c_block_data(address, register, n)``: a write message ``[register]`` then a read
  message of ``n`` bytes, with a STOP between them where smbus2 uses a repeated START. The
  ADS1114 datasheet's own read sequence has the STOP ("Reading From the ADS111x"); the
  SSD1306 is only written. Only another bus master could come between the two, and the
  board has none;
- ``read_bytes(address, n)``: one read message of ``n`` bytes.

A failed transfer raises :class:`I2CDevError`, an ``OSError`` with the kernel's errno (the
rk3x adapter reports a NACK as ``ENXIO``) and a message naming the file, the address and
the transfer, so :class:`device.i2c.RetryingBus` retries and counts it as before.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os

#: ioctl binding an i2c-dev file to a 7-bit target address (linux/i2c-dev.h: I2C_SLAVE).
I2C_SLAVE = 0x0703
#: The most bytes of an SMBus block transfer (linux/i2c.h: I2C_SMBUS_BLOCK_MAX), kept for
#: the ``*_i2c_block_data`` methods so they refuse what smbus2 refuses.
SMBUS_BLOCK_MAX = 32


class I2CDevError(OSError):
    """An i2c-dev open, bind or transfer failed; keeps the errno, names file and address."""


class I2CDev:
    """One Linux I²C adapter, ``/dev/i2c-N``, with one open file per target address.

    Args:
        bus: The adapter number N, or the path of its character device.

    Attributes:
        path: The character device, e.g. "/dev/i2c-3".

    Files are opened on an address's first transfer; :meth:`close` closes them all. The
    block methods take smbus2's ``force`` argument and ignore it (files are bound with
    ``I2C_SLAVE``, as smbus2 binds them by default).
    """

    def __init__(self, bus: int | str) -> None:
        self.path = f"/dev/i2c-{bus}" if isinstance(bus, int) else str(bus)
        self._fds: dict[int, int] = {}
        self.closed = False

    # -- files ---------------------------------------------------------------------------

    def _open(self, address: int) -> int:
        """The file bound to ``address``, opened and bound now.

        Raises:
            I2CDevError: The adapter cannot be opened or the address bound (EBUSY: a kernel
                driver owns it).
            ValueError: Not a 7-bit address, or the bus is closed.
        """
        if self.closed:
            raise ValueError(f"I/O operation on closed I2CDev {self.path}")
        if not 0 <= address <= 0x7F:
            raise ValueError(f"7-bit I2C address must be within 0x00..0x7f, got {address!r}")
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CLOEXEC)
        except OSError as exc:
            raise I2CDevError(exc.errno, f"cannot open {self.path}: {exc.strerror}") from None
        try:
            self._bind(fd, address)
        except OSError as exc:
            os.close(fd)
            raise I2CDevError(
                exc.errno, f"cannot bind {self.path} to address {address:#04x}: {exc.strerror}"
            ) from None
        self._fds[address] = fd
        return fd

    def _bind(self, fd: int, address: int) -> None:
        """Bind ``fd`` to ``address`` (the ``I2C_SLAVE`` ioctl); once per file."""
        fcntl.ioctl(fd, I2C_SLAVE, address)

    def _error(self, exc: OSError, address: int, what: str) -> I2CDevError:
        return I2CDevError(
            exc.errno, f"{self.path}: {what} at address {address:#04x}: {exc.strerror}"
        )

    # -- transfers -------------------------------------------------------------------------

    def read_bytes(self, address: int, length: int) -> bytes:
        """One read message of ``length`` bytes from ``address`` (no register byte first).

        Raises:
            I2CDevError: The transfer failed (errno kept) or returned fewer bytes.
        """
        fd = self._fds.get(address)
        if fd is None:
            fd = self._open(address)
        try:
            data = os.read(fd, length)
        except OSError as exc:
            raise self._error(exc, address, f"read of {length} bytes") from None
        if len(data) != length:
            raise I2CDevError(
                errno.EIO,
                f"{self.path}: read of {length} bytes at address {address:#04x} "
                f"returned {len(data)}",
            )
        return data

    def write_bytes(self, address: int, data: bytes) -> None:
        """One write message of ``data`` to ``address``.

        Raises:
            I2CDevError: The transfer failed (errno kept) or sent fewer bytes.
        """
        fd = self._fds.get(address)
        if fd is None:
            fd = self._open(address)
        try:
            sent = os.write(fd, data)
        except OSError as exc:
            raise self._error(exc, address, f"write of {len(data)} bytes") from None
        if sent != len(data):
            raise I2CDevError(
                errno.EIO,
                f"{self.path}: write of {len(data)} bytes at address {address:#04x} sent {sent}",
            )

    def write_i2c_block_data(
        self, i2c_addr: int, register: int, data: list[int], force: bool | None = None
    ) -> None:
        """Write ``data`` after the command byte ``register``: one write message."""
        if len(data) > SMBUS_BLOCK_MAX:
            raise ValueError(f"Data length cannot exceed {SMBUS_BLOCK_MAX} bytes")
        self.write_bytes(i2c_addr, bytes((register, *data)))

    def read_i2c_block_data(
        self, i2c_addr: int, register: int, length: int, force: bool | None = None
    ) -> list[int]:
        """Write the command byte ``register``, then read ``length`` bytes (two messages)."""
        if length > SMBUS_BLOCK_MAX:
            raise ValueError(f"Desired block length over {SMBUS_BLOCK_MAX} bytes")
        self.write_bytes(i2c_addr, bytes((register,)))
        return list(self.read_bytes(i2c_addr, length))

    # -- lifetime -------------------------------------------------------------------------------

    def close(self) -> None:
        """Close every file; harmless to call twice."""
        self.closed = True
        fds, self._fds = self._fds, {}
        for fd in fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> I2CDev:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
