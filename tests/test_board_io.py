"""The board's own I/O path (device.i2c_dev, device.gpio_line) on stand-in file descriptors.

There is no /dev/i2c-N or /dev/gpiochipN here: the transports run on descriptors that behave
as the kernel's do for what is tested (a FIFO takes whole write messages and gives back
reads, /dev/full refuses writes, a pipe holds GPIO event records), and periphery's own
Cdev1GPIO (python-periphery is in the test extra only, as this reference) is held beside
device.gpio_line: the same request bytes to the chip, the same events from the same pipe, the
same errors. The kernel's side of an ioctl is played by a stand-in for ``fcntl.ioctl``.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import struct
import termios

import periphery.gpio
import pytest
from periphery.gpio_cdev1 import (
    Cdev1GPIO,
    _CGpioeventData,
    _CGpioeventRequest,
    _CGpiohandleData,
    _CGpiohandleRequest,
)

from device import gpio_line
from device.gpio_line import (
    CONSUMER_LABEL,
    EVENT_RECORD,
    CdevLine,
    EdgeEvent,
    EventLine,
    GPIOError,
    OutputLine,
    open_line,
)
from device.i2c import RetryingBus
from device.i2c_dev import I2C_SLAVE, I2CDev, I2CDevError
from device.leds import LedBank

# ---------------------------------------------------------------------------------------------
# I²C: device.i2c_dev
# ---------------------------------------------------------------------------------------------


class UnboundI2CDev(I2CDev):
    """I2CDev on a file that is not an adapter: records the binds instead of sending them."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.binds: list[int] = []

    def _bind(self, fd: int, address: int) -> None:
        self.binds.append(address)


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "i2c-fifo"
    os.mkfifo(path)
    return str(path)


def test_each_transfer_is_one_message_and_each_address_is_bound_once(fifo):
    bus = UnboundI2CDev(fifo)  # a FIFO opened read-write: what is written is read back
    bus.write_i2c_block_data(0x48, 0x01, [0x02, 0xE0])
    assert bus.read_bytes(0x48, 3) == b"\x01\x02\xe0"  # [register, *data], one write
    bus.write_i2c_block_data(0x3C, 0x40, [0xFF] * 32)
    assert bus.read_bytes(0x3C, 33) == bytes([0x40] + [0xFF] * 32)
    bus.write_bytes(0x48, b"\x00")
    assert bus.read_i2c_block_data(0x48, 0x7E, 2) == [0x00, 0x7E]  # [reg] out, then 2 in
    assert bus.binds == [0x48, 0x3C]
    with pytest.raises(ValueError, match="cannot exceed 32"):
        bus.write_i2c_block_data(0x48, 0, [0] * 33)
    with pytest.raises(ValueError, match="over 32"):
        bus.read_i2c_block_data(0x48, 0, 33)
    bus.close()
    bus.close()
    with pytest.raises(ValueError, match="closed I2CDev"):
        bus.read_bytes(0x48, 2)


def test_the_bind_is_the_i2c_slave_ioctl_and_its_failure_names_file_and_address():
    assert I2C_SLAVE == 0x0703  # linux/i2c-dev.h
    with pytest.raises(I2CDevError) as raised, I2CDev("/dev/zero") as bus:
        bus.read_bytes(0x48, 2)  # /dev/zero takes no I2C_SLAVE: ENOTTY, as a non-adapter
    assert raised.value.errno == errno.ENOTTY
    assert "cannot bind /dev/zero to address 0x48" in str(raised.value)
    assert isinstance(raised.value, OSError)
    with pytest.raises(I2CDevError, match=r"cannot open /dev/i2c-99: No such file") as raised:
        I2CDev(99).read_bytes(0x48, 2)
    assert raised.value.errno == errno.ENOENT
    with pytest.raises(ValueError, match="7-bit"):
        UnboundI2CDev("/dev/zero").read_bytes(0x80, 2)


def test_transfer_errors_keep_the_errno_and_retrying_bus_counts_them(tmp_path):
    full = UnboundI2CDev("/dev/full")  # writes fail with ENOSPC, as a NACK fails with ENXIO
    with pytest.raises(I2CDevError) as raised:
        full.write_i2c_block_data(0x48, 0x01, [0x85, 0x83])
    assert raised.value.errno == errno.ENOSPC
    assert "/dev/full: write of 3 bytes at address 0x48: No space left" in str(raised.value)
    retrying = RetryingBus(full, retries=2, bus_name="/dev/full")
    with pytest.raises(OSError, match="failed after 3 attempt"):
        retrying.write_i2c_block_data(0x48, 0x01, [0x85, 0x83])
    assert retrying.failures[0x48] == 3 and retrying.gave_up[0x48] == 1

    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    short = UnboundI2CDev(str(empty))
    with pytest.raises(I2CDevError, match="read of 2 bytes at address 0x48 returned 0"):
        short.read_bytes(0x48, 2)
    zero = UnboundI2CDev("/dev/zero")
    assert zero.read_bytes(0x48, 2) == b"\x00\x00"
    os.close(zero._fds[0x48])  # the file gone underneath: EBADF, wrapped with the context
    with pytest.raises(I2CDevError) as raised:
        zero.read_bytes(0x48, 2)
    assert raised.value.errno == errno.EBADF
    assert "/dev/zero: read of 2 bytes at address 0x48" in str(raised.value)
    zero._fds.clear()


def test_retrying_bus_plain_read_retries_then_counts(fifo):
    bus = UnboundI2CDev(fifo)
    calls = {"n": 0}
    real = bus.read_bytes

    def flaky(address, length):
        calls["n"] += 1
        if calls["n"] <= 2:
            raise I2CDevError(errno.ENXIO, "NACK")
        return real(address, length)

    bus.read_bytes = flaky
    bus.write_bytes(0x48, b"\x12\x34")
    retrying = RetryingBus(bus, retries=2)
    assert retrying.read_bytes(0x48, 2) == b"\x124"
    assert retrying.failures[0x48] == 2 and retrying.gave_up[0x48] == 0
    calls["n"] = -10
    with pytest.raises(OSError, match=r"plain read of 2 bytes at address 0x48 .* 1 attempt"):
        RetryingBus(bus, retries=0).read_bytes(0x48, 2)


# ---------------------------------------------------------------------------------------------
# GPIO: device.gpio_line against periphery's Cdev1GPIO on the same descriptors
# ---------------------------------------------------------------------------------------------


class PipeLine:
    """A stand-in for periphery's line: ``fd`` is a pipe's read end; an edge change "reopens"
    the line on a fresh pipe, as periphery's ``_reopen`` does."""

    def __init__(self, edge: str = "none") -> None:
        self._edge = "none"
        self.fd: int | None = None
        self.write_fd: int | None = None
        self.closed = False
        self.edge = edge

    @property
    def edge(self) -> str:
        return self._edge

    @edge.setter
    def edge(self, value: str) -> None:
        if value not in ("none", "rising", "falling", "both"):
            raise ValueError("Invalid edge")
        new = os.pipe()  # before the old one closes: the reopened line has a new number
        self._close_pipe()
        self.fd, self.write_fd = new
        self._edge = value

    def push(self, timestamp_ns: int, event_id: int) -> None:
        os.write(self.write_fd, EVENT_RECORD.pack(timestamp_ns, event_id))

    def read(self) -> bool:
        return True

    def _close_pipe(self) -> None:
        for fd in (self.fd, self.write_fd):
            if fd is not None:
                os.close(fd)
        self.fd = self.write_fd = None

    def close(self) -> None:
        self._close_pipe()
        self.closed = True


def periphery_on(line: PipeLine) -> Cdev1GPIO:
    """periphery's own ABI-v1 line object, put on the same descriptor."""
    gpio = object.__new__(Cdev1GPIO)
    gpio._line_fd, gpio._chip_fd, gpio._direction, gpio._edge = line.fd, None, "in", line.edge
    gpio._line = 0
    return gpio


def test_the_event_record_is_the_kernel_v1_layout():
    # struct gpioevent_data {__u64 timestamp; __u32 id;}: 16 bytes on 32-bit ARM EABI and
    # x86-64 (the u64 aligns the struct to 8), as periphery's ctypes structure says.
    assert EVENT_RECORD.size == ctypes.sizeof(_CGpioeventData) == 16
    assert EVENT_RECORD.pack(0x0102030405060708, 2) == bytes(_CGpioeventData(0x0102030405060708, 2))


@pytest.mark.parametrize(("event_id", "edge"), [(1, "rising"), (2, "falling"), (7, "none")])
def test_read_event_gives_what_periphery_gives(event_id, edge):
    line = PipeLine("falling")
    fast, reference = EventLine(line), periphery_on(line)
    stamp = 1_234_567_890_123
    results = []
    for reader in (fast, reference):
        line.push(stamp, event_id)
        assert reader.poll(1.0) is True
        results.append(reader.read_event())
        assert reader.poll(0) is False  # the one record was taken
    reference._line_fd = None  # the pipe stays the PipeLine's to close
    assert results[0] == results[1] == (edge, stamp)
    assert type(results[0]) is EdgeEvent and results[0].timestamp == stamp
    fast.close()


def test_poll_timeouts_follow_periphery():
    line = PipeLine("falling")
    fast = EventLine(line)
    assert fast.poll(0) is False  # nothing queued: returns at once
    assert fast.poll(0.001) is False
    line.push(5, 2)
    for timeout in (None, -1, 0, 0.5, 2):  # None or negative: for ever; an event is queued
        assert fast.poll(timeout) is True
    with pytest.raises(TypeError, match="Invalid timeout type"):
        fast.poll("1")
    assert fast.read_event() == ("falling", 5)


def test_an_edge_change_moves_the_wait_to_the_reopened_descriptor():
    line = PipeLine("none")
    fast = EventLine(line)
    with pytest.raises(GPIOError, match="edge not set"):
        fast.read_event()
    old_fd = fast.fd
    fast.edge = "falling"  # periphery reopens the line: a new descriptor
    assert fast.edge == "falling" and fast.fd == line.fd != old_fd
    line.push(42, 2)
    assert fast.poll(0.5) and fast.read_event() == ("falling", 42)
    with pytest.raises(ValueError):
        fast.edge = "sideways"  # periphery refuses; the line keeps waiting where it was
    assert fast.edge == "falling" and fast.fd == line.fd
    line.push(43, 1)
    assert fast.poll(0.5) and fast.read_event() == ("rising", 43)


def test_read_errors_keep_errno_and_periphery_text():
    line = PipeLine("falling")
    fast = EventLine(line)
    os.write(line.write_fd, b"\x00" * 8)  # half a record
    with pytest.raises(GPIOError, match="8 bytes, not 16") as raised:
        fast.read_event()
    assert raised.value.errno == errno.EIO
    os.close(line.fd)  # the line's descriptor gone: EBADF, as periphery reports it
    with pytest.raises(GPIOError, match="Reading GPIO event: Bad file descriptor") as raised:
        fast.read_event()
    assert raised.value.errno == errno.EBADF
    line.fd = None
    fast.close()
    fast.close()
    assert line.closed
    with pytest.raises(GPIOError, match="closed"):
        fast.poll(0)


def test_output_write_sends_periphery_gpiohandle_data():
    sent: list[tuple[int, int, bytes]] = []
    read_fd, write_fd = os.pipe()

    class Gpio:
        fd = write_fd
        closes = 0

        def close(self):
            self.closes += 1

    out = OutputLine(Gpio())
    original = gpio_line.fcntl.ioctl
    try:
        gpio_line.fcntl.ioctl = lambda fd, request, arg, mutate: sent.append(
            (fd, request, bytes(arg), mutate)
        )
        out.write(True)
        out.write(False)
    finally:
        gpio_line.fcntl.ioctl = original
    high, low = _CGpiohandleData(), _CGpiohandleData()
    high.values[0] = 1
    assert sent == [
        (write_fd, Cdev1GPIO._GPIOHANDLE_SET_LINE_VALUES_IOCTL, bytes(high), False),
        (write_fd, Cdev1GPIO._GPIOHANDLE_SET_LINE_VALUES_IOCTL, bytes(low), False),
    ]
    with pytest.raises(TypeError, match="should be bool"):
        out.write(1)
    with pytest.raises(GPIOError, match="Setting line value") as raised:
        out.write(True)  # a pipe takes no GPIO ioctl: ENOTTY, as from a non-GPIO file
    assert raised.value.errno == errno.ENOTTY
    out.close()
    out.close()
    assert out.gpio.closes == 1
    with pytest.raises(GPIOError, match="closed"):
        out.write(False)
    os.close(read_fd)
    os.close(write_fd)


def test_the_led_bank_runs_on_output_lines():
    read_fd, write_fd = os.pipe()

    class Gpio:
        fd = read_fd
        closed = False

        def close(self):
            self.closed = True

    # FIONREAD stands in for the kernel's SET_LINE_VALUES: a real ioctl a pipe answers.
    lines = {wl: OutputLine(Gpio(), request=termios.FIONREAD) for wl in (750, 810, 870)}
    bank = LedBank(lines)
    bank.select(810)
    bank.select(None)
    # FIONREAD writes the count into its argument: not into the line's prebuilt buffers.
    assert bytes(lines[810]._high) == bytes([1]) + bytes(63)
    assert bytes(lines[810]._low) == bytes(64)
    bank.close()
    assert all(line.gpio.closed for line in lines.values())
    os.close(read_fd)
    os.close(write_fd)


def test_open_line_opens_a_cdev_line_per_direction(monkeypatch):
    opened = []

    class Recording(PipeLine):
        def __init__(self, chip, line, direction):
            opened.append((chip, line, direction))
            super().__init__()

    monkeypatch.setattr(gpio_line, "CdevLine", Recording)
    ready = open_line("/dev/gpiochip1", 4, "in")
    led = open_line("/dev/gpiochip1", 5, "low")
    assert opened == [("/dev/gpiochip1", 4, "in"), ("/dev/gpiochip1", 5, "low")]
    assert isinstance(ready, EventLine) and isinstance(led, OutputLine)
    ready.close()
    led.close()


# ---------------------------------------------------------------------------------------------
# GPIO: device.gpio_line.CdevLine requests lines as periphery's Cdev1GPIO does
# ---------------------------------------------------------------------------------------------


class StandInKernel:
    """``fcntl.ioctl`` as the GPIO character device answers it, for both implementations.

    A line request records (request, the argument's bytes) and hands back a pipe's read end
    as the line's descriptor (written into the request's last field, ``int fd``), keeping the
    write end: a closed line shows as EPIPE on its write end. GET_LINE_VALUES sets values[0]
    to ``level``.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[int, bytes]] = []
        self.pipes: list[tuple[int, int]] = []
        self.level = 0

    def ioctl(self, fd, request, arg=0, mutate=True):
        self.calls.append((request, bytes(arg)))
        view = memoryview(arg).cast("B")  # a bytearray or a ctypes structure, written in place
        if request == Cdev1GPIO._GPIOHANDLE_GET_LINE_VALUES_IOCTL:
            view[0] = self.level
        else:
            pipe = os.pipe()
            self.pipes.append(pipe)
            struct.pack_into("=i", view, view.nbytes - 4, pipe[0])
        return 0

    def released(self, index: int) -> bool:
        """Whether the line handed out by request ``index`` was closed by its owner."""
        try:
            os.write(self.pipes[index][1], b"x")
        except BrokenPipeError:
            return True
        return False

    def close(self) -> None:
        for _, write_end in self.pipes:
            os.close(write_end)


@pytest.fixture
def kernel(monkeypatch):
    stand_in = StandInKernel()
    monkeypatch.setattr(fcntl, "ioctl", stand_in.ioctl)  # both modules call fcntl.ioctl
    yield stand_in
    stand_in.close()


@pytest.fixture
def chip(tmp_path):
    path = tmp_path / "gpiochip0"  # any file opens as a chip; its ioctls go to the stand-in
    path.write_bytes(b"")
    return str(path)


def _iowr(nr: int, size: int) -> int:
    """_IOWR(0xB4, nr, size) (include/uapi/asm-generic/ioctl.h: dir 3 << 30, size << 16)."""
    return (3 << 30) | (size << 16) | (0xB4 << 8) | nr


def test_request_layouts_and_ioctl_numbers_are_the_kernel_v1_abi():
    assert gpio_line.HANDLE_REQUEST.size == ctypes.sizeof(_CGpiohandleRequest) == 364
    assert gpio_line.EVENT_REQUEST.size == ctypes.sizeof(_CGpioeventRequest) == 48
    for name, nr, size in (
        ("GPIO_GET_LINEHANDLE_IOCTL", 0x03, 364),
        ("GPIO_GET_LINEEVENT_IOCTL", 0x04, 48),
        ("GPIOHANDLE_GET_LINE_VALUES_IOCTL", 0x08, 64),
        ("GPIOHANDLE_SET_LINE_VALUES_IOCTL", 0x09, 64),
    ):
        assert getattr(gpio_line, name) == getattr(Cdev1GPIO, "_" + name) == _iowr(nr, size)
    assert gpio_line.GPIOHANDLE_REQUEST_INPUT == Cdev1GPIO._GPIOHANDLE_REQUEST_INPUT
    assert gpio_line.GPIOHANDLE_REQUEST_OUTPUT == Cdev1GPIO._GPIOHANDLE_REQUEST_OUTPUT
    assert gpio_line.EVENT_FLAGS == {
        "rising": Cdev1GPIO._GPIOEVENT_REQUEST_RISING_EDGE,
        "falling": Cdev1GPIO._GPIOEVENT_REQUEST_FALLING_EDGE,
        "both": Cdev1GPIO._GPIOEVENT_REQUEST_BOTH_EDGES,
    }
    assert len(CONSUMER_LABEL) < 32  # char consumer_label[32], NUL-terminated
    assert EdgeEvent._fields == periphery.gpio.EdgeEvent._fields == ("edge", "timestamp")


@pytest.mark.parametrize(
    ("direction", "edge"),
    [
        ("in", None),
        ("in", "rising"),
        ("in", "falling"),
        ("in", "both"),
        ("out", None),
        ("low", None),
        ("high", None),
    ],
)
def test_line_requests_are_the_bytes_periphery_sends(kernel, chip, direction, edge):
    sent = []
    for make in (
        lambda: CdevLine(chip, 7, direction),
        lambda: Cdev1GPIO(chip, 7, direction, label=CONSUMER_LABEL.decode()),
    ):
        kernel.calls.clear()
        line = make()
        if edge is not None:
            line.edge = edge  # a handle first, then (after closing it) an event request
        assert line.fd == kernel.pipes[-1][0]  # the descriptor the kernel wrote back
        sent.append(list(kernel.calls))
        line.close()
    ours, reference = sent
    assert ours == reference
    expected = [gpio_line.GPIO_GET_LINEHANDLE_IOCTL]
    if edge is not None:
        expected.append(gpio_line.GPIO_GET_LINEEVENT_IOCTL)
    assert [request for request, _ in ours] == expected
    offset, flags, default, label, lines, fd = gpio_line.HANDLE_REQUEST.unpack(ours[0][1])
    assert (offset, default, lines, fd) == (7, int(direction == "high"), 1, 0)
    assert label.rstrip(b"\0") == CONSUMER_LABEL
    assert flags == (1 if direction == "in" else 2)


def test_an_edge_change_re_requests_the_line_and_close_releases_both(kernel, chip):
    line = CdevLine(chip, 3, "in")
    line.edge = "falling"
    assert kernel.released(0) and not kernel.released(1)  # the handle closed, the events open
    assert line.fd == kernel.pipes[1][0] and line.edge == "falling"
    line.edge = "falling"  # unchanged: no new request
    assert len(kernel.calls) == 2
    line.edge = "none"  # back to a plain handle, as periphery: the event line released
    assert kernel.released(1) and line.fd == kernel.pipes[2][0]
    assert gpio_line.HANDLE_REQUEST.unpack(kernel.calls[2][1])[1] == 1  # an input handle
    chip_fd = line._chip_fd
    line.close()
    assert kernel.released(2) and line.fd is None
    with pytest.raises(OSError) as raised:
        os.fstat(chip_fd)
    assert raised.value.errno == errno.EBADF
    line.close()  # harmless twice
    with pytest.raises(GPIOError, match="closed"):
        line.read()


@pytest.mark.parametrize("level", [0, 1])
def test_read_decodes_the_values_buffer_as_periphery(kernel, chip, level):
    kernel.level = level
    values = []
    for line in (CdevLine(chip, 2, "low"), Cdev1GPIO(chip, 2, "low")):
        kernel.calls.clear()
        values.append(line.read())
        assert kernel.calls == [(gpio_line.GPIOHANDLE_GET_LINE_VALUES_IOCTL, bytes(64))]
        line.close()
    assert values == [bool(level)] * 2


def test_errors_keep_errno_and_periphery_texts(tmp_path, chip):
    missing = str(tmp_path / "gpiochip9")
    for direction in ("in", "high"):
        raised = []
        for make in (CdevLine, Cdev1GPIO):
            with pytest.raises(OSError) as error:
                make(missing, 3, direction)
            raised.append(error.value)
        assert isinstance(raised[0], GPIOError)
        assert raised[0].errno == raised[1].errno == errno.ENOENT
        # periphery's text, with the chip's path added: "Opening GPIO chip PATH: No such ..."
        assert str(raised[0]) == str(raised[1]).replace("chip:", f"chip {missing}:")
    # The real kernel refuses a line request on a file that is not a chip: ENOTTY.
    for direction, what in (("in", "input line"), ("low", "output line")):
        with pytest.raises(GPIOError, match=f"Opening {what} handle: Inappropriate") as ours:
            CdevLine(chip, 3, direction)
        with pytest.raises(periphery.gpio.GPIOError) as reference:
            Cdev1GPIO(chip, 3, direction)
        assert ours.value.errno == reference.value.errno == errno.ENOTTY
        assert str(ours.value) == str(reference.value)
    for make in (CdevLine, Cdev1GPIO):  # periphery checks the direction before the chip
        with pytest.raises(ValueError) as error:
            make(missing, 3, "preserve")
        raised.append(str(error.value))
    assert raised[-2].startswith(raised[-1]) and "'preserve'" in raised[-2]


def test_edge_errors_keep_periphery_texts(kernel, chip):
    line, reference = CdevLine(chip, 3, "in"), Cdev1GPIO(chip, 3, "in")
    texts = []
    for target in (line, reference):
        with pytest.raises(ValueError) as error:
            target.edge = "sideways"
        texts.append(str(error.value))
    assert texts[0].startswith(texts[1]) and "'sideways'" in texts[0]
    assert line.edge == "none" and line.fd == kernel.pipes[0][0]  # left as it was
    out = CdevLine(chip, 4, "high")
    with pytest.raises(GPIOError, match="cannot set edge on output GPIO"):
        out.edge = "rising"
    for target in (line, reference, out):
        target.close()
