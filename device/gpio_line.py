"""The board's GPIO lines: opened on the kernel's character device (ABI v1) and driven
through their descriptors, with the standard library alone.

:class:`CdevLine` opens a line as python-periphery 2.4.3's ``Cdev1GPIO`` does (one
``GPIO_GET_LINEHANDLE_IOCTL`` or ``GPIO_GET_LINEEVENT_IOCTL`` on the chip, the request
structures packed with ``struct`` instead of ctypes); :class:`EventLine` and
:class:`OutputLine` do the three things the acquisition loop repeats straight on the line's
descriptor, because periphery's own calls cost more ARM instructions than the work they do
(issue 13: ``poll`` + ``read_event`` 16.4 k per conversion, an LED ``write`` 5.0 k):

- :meth:`EventLine.poll`: one ``select.poll`` object registered once (periphery builds and
  registers a new one on every call);
- :meth:`EventLine.read_event`: one ``os.read`` of one event record and one
  ``struct.unpack`` (periphery goes through a ctypes structure);
- :meth:`OutputLine.write`: one ``fcntl.ioctl`` with a prebuilt argument (periphery builds
  a ctypes structure per call).

Why not python-periphery itself: its package ``__init__`` imports every peripheral (serial
and termios, mmio and mmap, spi, pwm, led, i2c) and ``periphery.gpio`` all three GPIO
back-ends with their ctypes structures, for two ioctls per line. On the emulated board
(``benchmarks/emulated_board.py --only imports``) the transport's import step cost +0.58 MB
anonymous and 27.0 M ARM instructions with periphery, +0.03 MB and 1.9 M without; over all
the app's imports, 0.3 MB anonymous and 10 M instructions less (ctypes still comes in, later,
for the NPU binding). Behaviour is periphery's, and
tests/test_board_io.py holds it to periphery (still installed in the test environment as
the reference): the same request bytes, the same timeout rule for ``poll`` (seconds; None
or negative waits for ever, 0 does not wait), ``EdgeEvent(edge, timestamp ns)``, and
``GPIOError`` (an ``OSError``, errno kept) with periphery's texts.

Why the version-1 character-device ABI, not the version 2 that ``periphery.GPIO`` picks on
Linux >= 5.10: for an edge-detecting line, periphery 2.4.3's v2 request sets
``GPIO_V2_LINE_FLAG_EVENT_CLOCK_REALTIME``. That flag came with Linux 5.11 (commit
26d060e47e25), so on the Luckfox SDK's 5.10 kernel setting the edge fails with EINVAL
(python-periphery issue 70; openhop_core PR 43 on Rockchip boards), and on newer kernels the
timestamps are wall-clock time, not the ``CLOCK_MONOTONIC`` that
:meth:`device.ads1114.ADS1114.wait_ready` compares with ``time.monotonic``. Version-1 event
timestamps are ``CLOCK_MONOTONIC`` since Linux 5.7 (commit f8850206e160), and the v1 ABI is
in every kernel built with ``CONFIG_GPIO_CDEV_V1`` (its default).

Layouts and numbers (include/uapi/linux/gpio.h, ABI v1; every field naturally aligned, so
``struct``'s "=" layout is the C one on 32-bit ARM EABI and x86-64 alike):

- ``struct gpiohandle_request``: u32 lineoffsets[64], u32 flags, u8 default_values[64],
  char consumer_label[32], u32 lines, int fd: 364 bytes;
- ``struct gpioevent_request``: u32 lineoffset, u32 handleflags, u32 eventflags,
  char consumer_label[32], int fd: 48 bytes;
- ``struct gpiohandle_data``: u8 values[64], for ``GPIOHANDLE_GET/SET_LINE_VALUES_IOCTL``;
- ``struct gpioevent_data``: u64 timestamp (ns), u32 id (1 rising, 2 falling): 16 bytes
  where a u64 is 8-byte aligned;
- the ioctl numbers are ``_IOWR(0xB4, nr, struct)``: (3 << 30) | size << 16 | 0xB4 << 8 | nr.
"""

from __future__ import annotations

import collections
import errno
import fcntl
import os
import select
import struct
from typing import Any

#: As ``periphery.EdgeEvent``: ``edge`` "rising", "falling" (or "none"); ``timestamp`` in ns.
EdgeEvent = collections.namedtuple("EdgeEvent", "edge timestamp")


class GPIOError(OSError):
    """A GPIO line could not be opened, set up, read or written (errno kept, or None for a
    misuse), with python-periphery's texts: ``GPIOError(errno, "Opening GPIO chip: ...")``."""


#: GPIOHANDLES_MAX: the length of lineoffsets, default_values and gpiohandle_data.values.
GPIOHANDLES_MAX = 64
#: ``struct gpiohandle_request`` with one line: lineoffsets[0], 63 more (zero), flags,
#: default_values[0], 63 more (zero), consumer_label, lines, fd.
HANDLE_REQUEST = struct.Struct("=I252xIB63x32sIi")
#: ``struct gpioevent_request``: lineoffset, handleflags, eventflags, consumer_label, fd.
EVENT_REQUEST = struct.Struct("=III32si")
#: ``struct gpioevent_data`` (ABI v1): u64 timestamp ns, u32 id, 4 bytes of tail padding.
EVENT_RECORD = struct.Struct("=QI4x")

GPIO_GET_LINEHANDLE_IOCTL = 0xC16CB403  # _IOWR(0xB4, 0x03, struct gpiohandle_request)
GPIO_GET_LINEEVENT_IOCTL = 0xC030B404  # _IOWR(0xB4, 0x04, struct gpioevent_request)
GPIOHANDLE_GET_LINE_VALUES_IOCTL = 0xC040B408  # _IOWR(0xB4, 0x08, struct gpiohandle_data)
GPIOHANDLE_SET_LINE_VALUES_IOCTL = 0xC040B409  # _IOWR(0xB4, 0x09, struct gpiohandle_data)
GPIOHANDLE_REQUEST_INPUT = 0x1
GPIOHANDLE_REQUEST_OUTPUT = 0x2
#: GPIOEVENT_REQUEST_RISING_EDGE (1), _FALLING_EDGE (2), _BOTH_EDGES (3), by edge name.
EVENT_FLAGS = {"rising": 0x1, "falling": 0x2, "both": 0x3}
#: The line's consumer label (what ``gpioinfo`` shows for a line in use); < 32 bytes.
CONSUMER_LABEL = b"nirs-wearable"

#: periphery's edge name by gpioevent_data.id (GPIOEVENT_EVENT_RISING_EDGE = 1,
#: GPIOEVENT_EVENT_FALLING_EDGE = 2); any other id is "none", as periphery says.
EVENT_EDGES = ("none", "rising", "falling")
#: What ``poll`` waits for on the line's descriptor, as periphery.
POLL_EVENTS = select.POLLIN | select.POLLPRI | select.POLLERR

_new_tuple = tuple.__new__  # EdgeEvent without its Python-level __new__: the same tuple
_DIRECTIONS = ("in", "out", "low", "high")
_EDGES = ("none", "rising", "falling", "both")


class CdevLine:
    """One line of a GPIO chip, requested through the ABI-v1 character device.

    As ``periphery.gpio_cdev1.Cdev1GPIO(chip, line, direction)`` with its default bias,
    drive, polarity and edge; the line is found by offset only (no names).

    Args:
        chip: The GPIO character device, e.g. "/dev/gpiochip1".
        line: The line offset on that chip.
        direction: "in", or "out" / "low" (an output at 0) or "high" (at 1).
        label: The consumer label the kernel records (bytes, under 32).

    Raises:
        TypeError: ``direction`` is not a str or ``line`` not an int.
        ValueError: Another direction.
        GPIOError: The chip could not be opened or the line not requested (errno kept).
    """

    def __init__(
        self, chip: str, line: int, direction: str, *, label: bytes = CONSUMER_LABEL
    ) -> None:
        self._line_fd: int | None = None
        self._chip_fd: int | None = None
        if not isinstance(direction, str):
            raise TypeError("Invalid direction type, should be string.")
        if direction not in _DIRECTIONS:
            raise ValueError(
                f'Invalid direction, can be: "in", "out", "high", "low". Got: {direction!r}.'
            )
        if line.__class__ is bool or not isinstance(line, int):
            raise TypeError(f"Invalid line type, should be integer (a line offset), got {line!r}.")
        try:
            self._chip_fd = os.open(chip, os.O_RDONLY)  # as periphery: os.open(path, 0)
        except OSError as exc:
            raise GPIOError(exc.errno, f"Opening GPIO chip {chip}: {exc.strerror}") from None
        self.chip = chip
        self.line = line
        self._label = label
        self.direction = "in" if direction == "in" else "out"
        self._edge = "none"
        try:
            self._request(direction, "none")
        except BaseException:
            self.close()
            raise

    def _request(self, direction: str, edge: str) -> None:
        """Release the line's descriptor, if any, and request the line again (periphery's
        ``_reopen``: the v1 ABI has no reconfiguration of an event line).

        Raises:
            GPIOError: The kernel refused the request (errno kept).
        """
        if self._line_fd is not None:
            fd, self._line_fd = self._line_fd, None
            try:
                os.close(fd)
            except OSError as exc:
                raise GPIOError(exc.errno, "Closing existing GPIO line: " + exc.strerror) from None
        if direction == "in" and edge != "none":
            layout, request, what = EVENT_REQUEST, GPIO_GET_LINEEVENT_IOCTL, "input line event"
            fields = (self.line, GPIOHANDLE_REQUEST_INPUT, EVENT_FLAGS[edge], self._label, 0)
        elif direction == "in":
            layout, request, what = HANDLE_REQUEST, GPIO_GET_LINEHANDLE_IOCTL, "input line"
            fields = (self.line, GPIOHANDLE_REQUEST_INPUT, 0, self._label, 1, 0)
        else:
            layout, request, what = HANDLE_REQUEST, GPIO_GET_LINEHANDLE_IOCTL, "output line"
            high = 1 if direction == "high" else 0
            fields = (self.line, GPIOHANDLE_REQUEST_OUTPUT, high, self._label, 1, 0)
        buffer = bytearray(layout.pack(*fields))
        try:
            fcntl.ioctl(self._chip_fd, request, buffer)  # the kernel writes the fd back
        except OSError as exc:
            raise GPIOError(exc.errno, f"Opening {what} handle: " + exc.strerror) from None
        self._line_fd = layout.unpack(buffer)[-1]
        self._edge = edge

    @property
    def fd(self) -> int | None:
        """The line's file descriptor (None once closed)."""
        return self._line_fd

    @property
    def edge(self) -> str:
        """ "none", "rising", "falling" or "both"; setting another one re-requests the line.

        Raises:
            TypeError, ValueError: Not one of those (periphery's texts).
            GPIOError: An output line, or the kernel refused the request (errno kept).
        """
        return self._edge

    @edge.setter
    def edge(self, edge: str) -> None:
        if not isinstance(edge, str):
            raise TypeError("Invalid edge type, should be string.")
        if edge not in _EDGES:
            raise ValueError(
                f'Invalid edge, can be: "none", "rising", "falling", "both". Got: {edge!r}.'
            )
        if self.direction != "in":
            raise GPIOError(None, "Invalid operation: cannot set edge on output GPIO")
        if self._line_fd is None:
            raise GPIOError(None, "Invalid operation: GPIO line is closed")
        if edge != self._edge:
            self._request("in", edge)

    def read(self) -> bool:
        """The line's level (``GPIOHANDLE_GET_LINE_VALUES_IOCTL``, values[0]).

        Raises:
            GPIOError: The line is closed or the ioctl failed (errno kept).
        """
        if self._line_fd is None:
            raise GPIOError(None, "Invalid operation: GPIO line is closed")
        data = bytearray(GPIOHANDLES_MAX)
        try:
            fcntl.ioctl(self._line_fd, GPIOHANDLE_GET_LINE_VALUES_IOCTL, data)
        except OSError as exc:
            raise GPIOError(exc.errno, "Getting line value: " + exc.strerror) from None
        return bool(data[0])

    def close(self) -> None:
        """Release the line and the chip; harmless to call twice.

        Raises:
            GPIOError: A descriptor would not close (errno kept); both are released anyway.
        """
        fds = ((self._line_fd, "Closing GPIO line: "), (self._chip_fd, "Closing GPIO chip: "))
        self._line_fd = self._chip_fd = None
        self._edge = "none"
        failed = None
        for fd, what in fds:
            if fd is not None:
                try:
                    os.close(fd)
                except OSError as exc:
                    failed = failed or GPIOError(exc.errno, what + exc.strerror)
        if failed is not None:
            raise failed

    def __enter__(self) -> CdevLine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventLine:
    """An input line with edge events: periphery's ``GPIO`` API with a cheaper wait and read.

    Args:
        gpio: An open input line (a :class:`CdevLine`, or anything with its ``fd``,
            ``edge``, ``read`` and ``close`` whose ``fd`` yields ``struct gpioevent_data``
            records, such as periphery's ``Cdev1GPIO``). The EventLine owns and closes it.
    """

    def __init__(self, gpio: Any) -> None:
        self.gpio = gpio
        self._poller = select.poll()
        self._fd: int | None = None
        self._edge = "none"
        self._closed = False
        self._rebind()

    def _rebind(self) -> None:
        """Wait on the line's current descriptor (an edge change re-requests the line)."""
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
            self.gpio.edge = value  # the line checks the value and re-requests itself
        finally:
            self._rebind()

    def read(self) -> bool:
        """The line's level now (the line's ``read``)."""
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
    """An output line: periphery's ``GPIO`` API with a cheaper ``write``.

    Args:
        gpio: An open output line (a :class:`CdevLine`: its ``fd`` takes
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
        """The line's level (the line's ``read``)."""
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
        GPIOError: The chip could not be opened or the line not requested (errno kept).
        ValueError: Another direction.
    """
    gpio = CdevLine(chip, line, direction)
    return EventLine(gpio) if direction == "in" else OutputLine(gpio)
