"""The board's GPIO lines: python-periphery opens them, the hot path runs on their descriptors.

python-periphery opens and configures every line (direction, edge); this module then does
the three things the acquisition loop repeats, straight on periphery's line file descriptor,
because periphery's own calls cost more ARM instructions than the work they do (issue 13:
``poll`` + ``read_event`` 16.4 k per conversion, an LED ``write`` 5.0 k):

- :meth:`EventLine.poll`: one ``select.poll`` object registered once (periphery builds and
  registers a new one on every call);
- :meth:`EventLine.read_event`: one ``os.read`` of one event record and one
  ``struct.unpack`` (periphery goes through a ctypes structure);
- :meth:`OutputLine.write`: one ``fcntl.ioctl`` with a prebuilt argument (periphery builds
  a ctypes structure per call).

Behaviour is periphery's: the same timeout rule for ``poll`` (seconds; None or negative
waits for ever, 0 does not wait), the same ``EdgeEvent(edge, timestamp ns)``, the same
``GPIOError`` (errno kept) and ``TypeError`` texts. Everything else (``read``, ``edge``,
``close``) goes through periphery.

Why the version-1 character-device ABI (``periphery.gpio_cdev1.Cdev1GPIO``), not the
version 2 that ``periphery.GPIO`` picks on Linux >= 5.10: for an edge-detecting line,
periphery 2.4.3's v2 request sets ``GPIO_V2_LINE_FLAG_EVENT_CLOCK_REALTIME``. That flag came
with Linux 5.11 (commit 26d060e47e25), so on the Luckfox SDK's 5.10 kernel setting the edge
fails with EINVAL (python-periphery issue 70; openhop_core PR 43 on Rockchip boards), and on
newer kernels the timestamps are wall-clock time, not the ``CLOCK_MONOTONIC`` that
:meth:`device.ads1114.ADS1114.wait_ready` compares with ``time.monotonic``. Version-1 event
timestamps are ``CLOCK_MONOTONIC`` since Linux 5.7 (commit f8850206e160), and the v1 ABI is
in every kernel built with ``CONFIG_GPIO_CDEV_V1`` (its default).

Record layouts (include/uapi/linux/gpio.h, ABI v1):

- ``struct gpioevent_data``: u64 timestamp (ns), u32 id (1 rising, 2 falling): 16 bytes
  where a u64 is 8-byte aligned (32-bit ARM EABI, x86-64);
- ``struct gpiohandle_data``: u8 values[64], for ``GPIOHANDLE_SET_LINE_VALUES_IOCTL``.
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import struct
from typing import Any

from periphery.gpio import EdgeEvent, GPIOError

#: ``struct gpioevent_data`` (ABI v1): u64 timestamp ns, u32 id, 4 bytes of tail padding.
EVENT_RECORD = struct.Struct("=QI4x")
#: periphery's edge name by gpioevent_data.id (GPIOEVENT_EVENT_RISING_EDGE = 1,
#: GPIOEVENT_EVENT_FALLING_EDGE = 2); any other id is "none", as periphery says.
EVENT_EDGES = ("none", "rising", "falling")
#: GPIOHANDLE_SET_LINE_VALUES_IOCTL = _IOWR(0xB4, 0x09, struct gpiohandle_data).
GPIOHANDLE_SET_LINE_VALUES_IOCTL = 0xC040B409
#: GPIOHANDLES_MAX: the length of gpiohandle_data.values.
GPIOHANDLES_MAX = 64
#: What ``poll`` waits for on the line's descriptor, as periphery.
POLL_EVENTS = select.POLLIN | select.POLLPRI | select.POLLERR

_new_tuple = tuple.__new__  # EdgeEvent without its Python-level __new__: the same tuple


class EventLine:
    """An input line with edge events: periphery's ``GPIO`` with a cheaper wait and read.

    Args:
        gpio: An open input line (``periphery.gpio_cdev1.Cdev1GPIO``, or anything with
            periphery's ``fd``, ``edge``, ``read`` and ``close`` whose ``fd`` yields
            ``struct gpioevent_data`` records). The EventLine owns and closes it.
    """

    def __init__(self, gpio: Any) -> None:
        self.gpio = gpio
        self._poller = select.poll()
        self._fd: int | None = None
        self._edge = "none"
        self._closed = False
        self._rebind()

    def _rebind(self) -> None:
        """Wait on the line's current descriptor (periphery reopens the line on an edge change)."""
        if self._fd is not None:
            self._poller.unregister(self._fd)
            self._fd = None
        fd = self.gpio.fd
        if fd is not None:
            self._poller.register(fd, POLL_EVENTS)
            self._fd = fd
        self._edge = self.gpio.edge

    @property
    def fd(self) -> int | None:
        """The line's file descriptor (None once closed)."""
        return self._fd

    @property
    def edge(self) -> str:
        return self._edge

    @edge.setter
    def edge(self, value: str) -> None:
        try:
            self.gpio.edge = value  # periphery checks the value and reopens the line
        finally:
            self._rebind()

    def read(self) -> bool:
        """The line's level now (periphery)."""
        return self.gpio.read()

    def poll(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds for an edge event; True if one is queued.

        None or a negative timeout waits for ever, 0 returns at once (as periphery).

        Raises:
            TypeError: ``timeout`` is not a number or None.
            GPIOError: The line is closed.
        """
        if timeout is not None:
            if timeout.__class__ is not float and not isinstance(timeout, int):
                raise TypeError("Invalid timeout type, should be integer, float, or None.")
            if timeout > 0:
                timeout *= 1000
        if self._fd is None:
            raise GPIOError(None, "Invalid operation: GPIO line is closed")
        return len(self._poller.poll(timeout)) > 0

    def read_event(self) -> EdgeEvent:
        """The oldest queued edge event, waiting for one if none is queued.

        Returns:
            ``EdgeEvent(edge, timestamp)``: edge "rising", "falling" (or "none" for an id
            the ABI does not define), timestamp in ns of ``CLOCK_MONOTONIC``.

        Raises:
            GPIOError: No edge set, the line is closed, or the read failed (errno kept).
        """
        if self._edge == "none" or self._fd is None:
            raise GPIOError(None, "Invalid operation: GPIO edge not set")
        try:
            record = os.read(self._fd, EVENT_RECORD.size)
        except OSError as exc:
            raise GPIOError(exc.errno, "Reading GPIO event: " + exc.strerror) from None
        try:
            timestamp, event_id = EVENT_RECORD.unpack(record)
            edge = EVENT_EDGES[event_id]
        except struct.error:
            raise GPIOError(
                errno.EIO, f"Reading GPIO event: {len(record)} bytes, not {EVENT_RECORD.size}"
            ) from None
        except IndexError:
            edge = "none"
        return _new_tuple(EdgeEvent, (edge, timestamp))

    def close(self) -> None:
        """Release the line; harmless to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._fd is not None:
            self._poller.unregister(self._fd)
            self._fd = None
        self._edge = "none"
        self.gpio.close()

    def __enter__(self) -> EventLine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class OutputLine:
    """An output line: periphery's ``GPIO`` with a cheaper ``write``.

    Args:
        gpio: An open output line (``periphery.gpio_cdev1.Cdev1GPIO``: its ``fd`` takes
            ``GPIOHANDLE_SET_LINE_VALUES_IOCTL``). The OutputLine owns and closes it.
        request: The ioctl request a write sends; the ABI v1 one unless a benchmark stands
            in for the kernel.
    """

    def __init__(self, gpio: Any, *, request: int = GPIOHANDLE_SET_LINE_VALUES_IOCTL) -> None:
        self.gpio = gpio
        self._fd = gpio.fd
        self._request = request
        # struct gpiohandle_data for each level, values[0] = 0 / 1. Writable buffers: fcntl
        # takes them at its first try (for bytes it fails one parse first, ~4 k ARM
        # instructions more); passed with mutate_flag=False, so they stay as built.
        self._low = bytearray(GPIOHANDLES_MAX)
        self._high = bytearray(GPIOHANDLES_MAX)
        self._high[0] = 1

    def write(self, value: bool) -> None:
        """Set the line's level.

        Raises:
            TypeError: ``value`` is not a bool.
            GPIOError: The line is closed or the ioctl failed (errno kept).
        """
        if value is True:
            data = self._high
        elif value is False:
            data = self._low
        else:
            raise TypeError("Invalid value type, should be bool.")
        if self._fd is None:
            raise GPIOError(None, "Invalid operation: GPIO line is closed")
        try:
            fcntl.ioctl(self._fd, self._request, data, False)
        except OSError as exc:
            raise GPIOError(exc.errno, "Setting line value: " + exc.strerror) from None

    def read(self) -> bool:
        """The line's level (periphery)."""
        return self.gpio.read()

    def close(self) -> None:
        """Release the line; harmless to call twice."""
        if self._fd is not None:
            self._fd = None
            self.gpio.close()

    def __enter__(self) -> OutputLine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_line(chip: str, line: int, direction: str) -> EventLine | OutputLine:
    """Open ``line`` of ``chip`` as ``periphery.GPIO(chip, line, direction)`` does, ABI v1.

    Args:
        chip: The GPIO character device, e.g. "/dev/gpiochip1".
        line: The line offset on that chip.
        direction: "in" (an :class:`EventLine`; set its ``edge`` to get events), or "out",
            "low", "high" (an :class:`OutputLine`).

    Raises:
        GPIOError: periphery could not open the line (errno kept).
        ValueError: Another direction.
    """
    from periphery.gpio_cdev1 import Cdev1GPIO

    if direction not in ("in", "out", "low", "high"):
        raise ValueError(f'direction must be "in", "out", "low" or "high", got {direction!r}')
    gpio = Cdev1GPIO(chip, line, direction)
    return EventLine(gpio) if direction == "in" else OutputLine(gpio)
