"""A serial port device that goes away and comes back: the link comes back by itself, and says so.

Issue 14 ("the general kinds"): a USB-UART unplugged, or the USB gadget serial port
re-enumerating, leaves the writer a file descriptor that fails forever, even once a port of
the same name is back. Before, the writer dropped every frame for the rest of the session. A
writer that opened its port by name (``LinkWriter.open``) must open the name again while the
link is down (not more than every ``reopen_interval_s``), start the new port with a header,
and tell the wearer once when the link goes down and once when it is back. Only after errors
of the port: writes that time out (a host not reading) never close it. A writer handed a port
object cannot reopen it, and only tells.

Checked with a fake device whose ports fail from the moment it is unplugged (opening it then
fails too) and, end to end, with pyserial on a pty reached through a symlink, as udev's
``/dev/serial/by-id`` names reach a USB-UART: the pty is closed (unplugged), and a new one
takes the name (plugged in again).
"""

from __future__ import annotations

import math
import os
import select
import tempfile
import tty
from collections.abc import Iterator

import pytest
import serial
from test_link import FakeClock

from device import link as link_module
from device.chain import ChainSample
from device.codec import HEADER_EVENT, Record, RecordKind
from device.link import LinkError, LinkReader, LinkWriter

SAMPLE = ChainSample(
    12.6, 4, 0.012, (1.2, 2.4, 3.3), (0.0, -0.02, 0.03), -10.0, 8.0, -2.0, -18.0, 63.0, 0.002, 0
)
RATE_HZ = 10
EIO_MESSAGE = "write failed: [Errno 5] Input/output error"  # pyserial's, on a hung-up tty


class NamedPort:
    """Only a name: what a LinkReader decoding bytes with ``feed`` needs of its port."""

    name = "host"

    def close(self) -> None:
        pass


def records_in(wire: bytes) -> list[Record]:
    return LinkReader(NamedPort()).feed(wire)


class FakeDevice:
    """A serial device that can be unplugged; its ports fail once it has been.

    ``open`` stands for ``device.link._open_serial``: it raises :class:`LinkError` while the
    device is unplugged, as pyserial's open of a missing device node does.
    """

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.plugged = True
        self.plug_count = 0  # which plugging-in a port belongs to
        self.ports: list[FakePort] = []
        self.open_times_s: list[float] = []

    def open(self, name: str, **settings: object) -> FakePort:
        self.open_times_s.append(self.clock.monotonic())
        if not self.plugged:
            raise LinkError(name, "cannot open: [Errno 2] No such file or directory")
        port = FakePort(self, name)
        self.ports.append(port)
        return port

    def unplug(self) -> None:
        self.plugged = False
        self.plug_count += 1

    def plug(self) -> None:
        self.plugged = True


class FakePort:
    def __init__(self, device: FakeDevice, name: str) -> None:
        self.device = device
        self.port = name
        self.plug_count = device.plug_count
        self.data = bytearray()
        self.closed = False
        self.stalled = False  # the host does not read: writes time out

    def write(self, data: bytes) -> int:
        if self.closed:
            raise serial.PortNotOpenError()
        if self.plug_count != self.device.plug_count:  # its device went away: EIO for ever
            raise serial.SerialException(EIO_MESSAGE)
        if self.stalled:
            raise serial.SerialTimeoutException("Write timeout")
        self.data += data
        return len(data)

    def close(self) -> None:
        self.closed = True


def unplugged_from_5_to_10_s(monkeypatch, on_step=None) -> tuple[LinkWriter, FakeDevice]:
    """20 s of samples at 10 Hz through ``LinkWriter.open``; the device is away from 5 to 10 s.

    ``on_step(writer, t_s)`` runs after each send.
    """
    clock = FakeClock()
    device = FakeDevice(clock)
    monkeypatch.setattr(link_module, "_open_serial", device.open)
    writer = LinkWriter.open("/dev/ttyGS0", clock=clock)
    for i in range(20 * RATE_HZ):
        clock.t_s = i / RATE_HZ
        if clock.t_s == 5.0:
            device.unplug()
        if clock.t_s == 10.0:
            device.plug()
        writer.send(SAMPLE._replace(t_s=clock.t_s))
        if on_step is not None:
            on_step(writer, clock.t_s)
    return writer, device


def test_a_writer_that_opened_its_port_reopens_it_when_the_device_is_back(monkeypatch) -> None:
    writer, device = unplugged_from_5_to_10_s(monkeypatch)
    first, *others = device.ports
    assert len(others) == 1, "the port of the device plugged in again was never opened"
    back = records_in(others[0].data)
    # The new port starts with a header; frames flow from the first reopen after the plug.
    assert back[0].kind is RecordKind.EVENT and back[0].fields.name == HEADER_EVENT
    assert [r.fields.t_s for r in back[1:]] == [i / RATE_HZ for i in range(105, 200)]
    assert first.closed and not others[0].closed
    # Reopened while down only (three failures in a row: 5.0, 5.5 and 6.0 s, the back-off
    # between them), at most every reopen_interval_s: at 6.5, 8.5 and 10.5 s.
    assert device.open_times_s == [0.0, 6.5, 8.5, 10.5]
    assert (writer.stats.reopen_attempts, writer.stats.reopens) == (3, 1)
    writer.close()
    assert others[0].closed
    writer.close()


def test_a_link_that_goes_down_is_told_once_and_its_return_once(monkeypatch) -> None:
    notices: dict[float, list[str]] = {}

    def step(writer: LinkWriter, t_s: float) -> None:
        notices[t_s] = writer.take_notices()
        assert writer.down == (6.0 <= t_s < 10.5), f"at {t_s} s"
        assert writer.down_since_s == (5.0 if writer.down else None)

    writer, _ = unplugged_from_5_to_10_s(monkeypatch, step)
    assert notices.pop(6.0) == [
        "serial link on /dev/ttyGS0 down for 1.0 s "
        f"(3 failures in a row, the last: SerialException: {EIO_MESSAGE})"
    ]
    assert notices.pop(10.5) == ["serial link on /dev/ttyGS0 back after 5.5 s"]
    assert all(lines == [] for lines in notices.values())
    writer.close()


def test_a_device_that_never_comes_back_costs_a_failed_open_every_interval(monkeypatch) -> None:
    clock = FakeClock()
    device = FakeDevice(clock)
    monkeypatch.setattr(link_module, "_open_serial", device.open)
    writer = LinkWriter.open("/dev/ttyUSB0", clock=clock)
    device.unplug()
    for i in range(60 * RATE_HZ):  # a minute of frames
        clock.t_s = i / RATE_HZ
        assert writer.send(SAMPLE) is False
    # Down at 1.0 s (failures at 0.0, 0.5 and 1.0 s); then one open every 2 s from 1.5 s.
    assert device.open_times_s == [0.0] + [1.5 + 2.0 * k for k in range(30)]
    assert (writer.stats.reopen_attempts, writer.stats.reopens) == (30, 0)
    assert "No such file or directory" in writer.stats.last_error
    # A frame is tried once per back-off, as with any failing port; the rest are dropped.
    assert writer.stats.write_failures == 60 / writer.retry_after_s
    assert writer.stats.dropped_frames == 60 * RATE_HZ + 5  # and the headers of 10 to 50 s
    writer.close()


def test_a_host_that_stops_reading_is_told_but_its_port_is_never_closed(monkeypatch) -> None:
    """Writes that time out: the port is there, its reader is not. Reopening would not help,
    and closing could stall the loop (u_serial's gs_close waits up to 15 s for unsent
    output to drain while the USB link is up)."""
    clock = FakeClock()
    device = FakeDevice(clock)
    monkeypatch.setattr(link_module, "_open_serial", device.open)
    writer = LinkWriter.open("/dev/ttyGS0", clock=clock)
    (port,) = device.ports
    lines = []
    for i in range(30 * RATE_HZ):
        clock.t_s = i / RATE_HZ
        port.stalled = 2.0 <= clock.t_s < 22.0
        writer.send(SAMPLE._replace(t_s=clock.t_s))
        lines += writer.take_notices()
    assert lines == [
        "serial link on /dev/ttyGS0 down for 1.0 s "
        "(3 failures in a row, the last: SerialTimeoutException: Write timeout)",
        "serial link on /dev/ttyGS0 back after 20.0 s",
    ]
    assert device.open_times_s == [0.0] and not port.closed
    assert writer.stats.reopen_attempts == 0
    writer.close()


class FlakyPort:
    """A port object (not opened by the writer) that fails while ``down``."""

    name = "/dev/ttyS3"

    def __init__(self) -> None:
        self.down = False
        self.data = bytearray()

    def write(self, data: bytes) -> int:
        if self.down:
            raise serial.SerialTimeoutException("Write timeout")
        self.data += data
        return len(data)

    def close(self) -> None:
        pass


def test_a_writer_given_a_port_object_never_reopens_it_but_tells_the_outage() -> None:
    clock, port = FakeClock(), FlakyPort()
    writer = LinkWriter(port, clock=clock)
    lines = []
    for i in range(10 * RATE_HZ):
        clock.t_s = i / RATE_HZ
        port.down = 2.0 <= clock.t_s < 6.0
        writer.send(SAMPLE)
        lines += writer.take_notices()
    assert writer.port is port
    assert (writer.stats.reopen_attempts, writer.stats.reopens) == (0, 0)
    assert lines == [
        "serial link on /dev/ttyS3 down for 1.0 s "
        "(3 failures in a row, the last: SerialTimeoutException: Write timeout)",
        "serial link on /dev/ttyS3 back after 4.0 s",
    ]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"reopen_interval_s": -1.0}, "reopen_interval_s must be a number of seconds >= 0"),
        ({"reopen_interval_s": math.nan}, "reopen_interval_s must be a number of seconds >= 0"),
        ({"down_after": 0}, "down_after must be an integer >= 1, got 0"),
    ],
)
def test_writer_rejects_bad_recovery_settings(kwargs, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        LinkWriter(FlakyPort(), **kwargs)


# -- end to end: pyserial on a pty that is unplugged and plugged in again ----------------------


def read_all(fd: int, quiet_s: float = 0.2) -> bytes:
    """What the master end holds, once nothing more arrives for ``quiet_s``."""
    out = bytearray()
    while select.select([fd], [], [], quiet_s)[0]:
        out += os.read(fd, 65536)
    return bytes(out)


class PluggablePty:
    """A pty reached through a symlink; ``unplug`` hangs it up, ``plug`` makes a new one."""

    def __init__(self, folder: str) -> None:
        self.name = os.path.join(folder, "ttyLINK")
        self.master = self.slave = -1
        self.plug()

    def plug(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        os.symlink(os.ttyname(self.slave), self.name)

    def unplug(self) -> None:
        os.unlink(self.name)
        os.close(self.master)  # the slave's open file descriptors now fail with EIO
        os.close(self.slave)
        self.master = self.slave = -1

    def close(self) -> None:
        if self.master >= 0:
            self.unplug()


@pytest.fixture
def pty_device() -> Iterator[PluggablePty]:
    with tempfile.TemporaryDirectory() as folder:
        device = PluggablePty(folder)
        try:
            yield device
        finally:
            device.close()


def test_a_pty_unplugged_and_plugged_in_again_gets_the_stream_back(pty_device) -> None:
    clock = FakeClock()
    writer = LinkWriter.open(pty_device.name, clock=clock)
    try:
        for i in range(12 * RATE_HZ):
            clock.t_s = i / RATE_HZ
            if clock.t_s == 3.0:
                assert len(records_in(read_all(pty_device.master))) == 1 + 30  # header, 0-2.9 s
                pty_device.unplug()
            if clock.t_s == 6.0:
                pty_device.plug()
            writer.send(SAMPLE._replace(t_s=clock.t_s))
        back = records_in(read_all(pty_device.master))
    finally:
        writer.close()
    assert back, "nothing reached the pty plugged in again: the writer kept the dead one"
    assert back[0].kind is RecordKind.EVENT and back[0].fields.name == HEADER_EVENT
    # Down at 4.0 s (failures at 3.0, 3.5, 4.0 s); the reopen at 4.5 s fails, the one at
    # 6.5 s opens the new pty.
    assert [r.fields.t_s for r in back[1:]] == [i / RATE_HZ for i in range(65, 120)]
    assert (writer.stats.reopen_attempts, writer.stats.reopens) == (2, 1)
