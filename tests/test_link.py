"""The serial link: COBS framing, sequence numbers and CRC, over a real pseudo-terminal.

A pty pair is a real tty: the slave end is opened with pyserial exactly as the
board opens its UART (raw mode, write timeout), the master end is read and written
through its file descriptor. Tests run both directions, inject garbage, corrupt
and tear frames on the wire, and hold the reader to what it must count.
"""

from __future__ import annotations

import errno
import fcntl
import math
import os
import select
import struct
import termios
import threading
import time
import tty
import zlib
from typing import NamedTuple

import pytest
import serial

from device.acquisition import Frame
from device.chain import ChainSample
from device.codec import HEADER_EVENT, Prediction, Record, RecordKind, encode
from device.link import (
    LinkError,
    LinkReader,
    LinkWriter,
    cobs_decode,
    cobs_encode,
    frame_bytes,
    max_encoded_frame_bytes,
)

FRAME = Frame(12.5, (0.0125, 1.25, 2.5, 3.5), (4, 4, 4, 4), (0.013, 1.3, 3.75, 3.6))
SAMPLE = ChainSample(
    12.6, 4, 0.012, (1.2, 2.4, 3.3), (0.0, -0.02, 0.03), -10.0, 8.0, -2.0, -18.0, 63.0, 0.002, 0
)
PREDICTION = Prediction(13.0, (0.1, 0.2, 0.4, 0.2, 0.1), 2, 1)


def stream(n: int, start: int = 0) -> list[Record]:
    """``n`` records of all kinds; record i has t_s = start + i."""
    out = []
    for i in range(start, start + n):
        kind = i % 4
        if kind == 0:
            out.append(
                Record.of(
                    Frame(float(i), *[getattr(FRAME, f) for f in ("volts", "kept", "peak_v")])
                )
            )
        elif kind == 1:
            out.append(Record.of(SAMPLE._replace(t_s=float(i))))
        elif kind == 2:
            out.append(Record.of(PREDICTION._replace(t_s=float(i))))
        else:
            out.append(Record.event(float(i), "note", i=i, text="x\x00y" * (i % 5)))
    return out


def same(a: Record, b: Record) -> bool:
    return encode(a) == encode(b)  # the float32 fields compare after one round trip


# -- ports --------------------------------------------------------------------------------------


class MasterPort:
    """The master end of a pty as a port (``write``, ``read``, ``in_waiting``, ``close``)."""

    def __init__(self, fd: int, timeout_s: float = 1.0) -> None:
        self.fd = fd
        self.timeout_s = timeout_s
        self.name = "pty-master"
        self.corrupt_next = False  # flip one payload byte of the next write
        self.tear_next = False  # write half of the next write, then time out

    def write(self, data: bytes) -> int:
        if self.corrupt_next:
            self.corrupt_next = False
            data = corrupt_payload_byte(data)
        if self.tear_next:
            self.tear_next = False
            self._write_all(data[: len(data) // 2])
            raise serial.SerialTimeoutException("Write timeout")
        self._write_all(data)
        return len(data)

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            select.select([], [self.fd], [], self.timeout_s)
            view = view[os.write(self.fd, view) :]

    def read(self, size: int = 1) -> bytes:
        ready, _, _ = select.select([self.fd], [], [], self.timeout_s)
        if not ready:
            return b""
        try:
            return os.read(self.fd, size)
        except OSError as exc:  # EIO once the slave end is closed
            if exc.errno == errno.EIO:
                return b""
            raise

    @property
    def in_waiting(self) -> int:
        return struct.unpack("I", fcntl.ioctl(self.fd, termios.FIONREAD, b"\0\0\0\0"))[0]

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class FaultySerial:
    """A pyserial port whose next write can be corrupted or torn on the wire."""

    def __init__(self, port: serial.Serial) -> None:
        self.port = port
        self.corrupt_next = False
        self.tear_next = False

    def write(self, data: bytes) -> int:
        if self.corrupt_next:
            self.corrupt_next = False
            data = corrupt_payload_byte(data)
        if self.tear_next:
            self.tear_next = False
            self.port.write(data[: len(data) // 2])
            raise serial.SerialTimeoutException("Write timeout")
        return self.port.write(data)

    def read(self, size: int = 1) -> bytes:
        return self.port.read(size)

    @property
    def in_waiting(self) -> int:
        return self.port.in_waiting

    def close(self) -> None:
        self.port.close()


def corrupt_payload_byte(wire: bytes) -> bytes:
    """Flip a bit of a *data* byte in the middle of a frame (not a COBS code byte), so
    the frame still unstuffs and only its CRC can tell."""
    start = wire.index(b"\x00", 0) + 1 if wire[0] == 0 else 0
    end = wire.index(b"\x00", start)
    codes, i = set(), start
    while i < end:
        codes.add(i)
        i += wire[i]
    middle = (start + end) // 2
    target = next(j for j in range(middle, end) if j not in codes and wire[j] not in (0, 1))
    out = bytearray(wire)
    out[target] ^= 0x01
    return bytes(out)


@pytest.fixture
def pty_pair():
    """(pyserial port on the slave end, MasterPort on the master end)."""
    master, slave = os.openpty()
    tty.setraw(slave)
    port = serial.Serial(os.ttyname(slave), baudrate=115200, timeout=1.0, write_timeout=0.05)
    master_port = MasterPort(master)
    try:
        yield port, master_port
    finally:
        port.close()
        os.close(slave)
        master_port.close()


# -- framing ------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 2, 253, 254, 255, 507, 508, 509, 1000])
@pytest.mark.parametrize("fill", [b"\x00", b"\x01", b"\xff", b"\x00\x11\x22"])
def test_cobs_round_trip_and_no_zero_bytes(n, fill):
    data = (fill * n)[:n]
    encoded = cobs_encode(data)
    assert b"\x00" not in encoded
    assert len(encoded) <= n + n // 254 + 1
    assert cobs_decode(encoded) == data


def test_cobs_known_vectors_and_errors():
    assert cobs_encode(b"") == b"\x01"
    assert cobs_encode(b"\x00") == b"\x01\x01"
    assert cobs_encode(b"\x11\x22\x00\x33") == b"\x03\x11\x22\x02\x33"
    assert cobs_encode(bytes(range(1, 255))) == b"\xff" + bytes(range(1, 255)) + b"\x01"
    with pytest.raises(ValueError, match="needs 4 bytes"):
        cobs_decode(b"\x05\x11")
    with pytest.raises(ValueError, match="zero byte"):
        cobs_decode(b"\x02\x00")


def test_frame_bytes_exactly():
    record = encode(PREDICTION)
    body = struct.pack("<H", 0x1234) + record
    wire = frame_bytes(0x1234, record)
    assert wire[0] == 0 and wire[-1] == 0 and b"\x00" not in wire[1:-1]
    assert cobs_decode(wire[1:-1]) == body + struct.pack("<I", zlib.crc32(body))
    assert len(wire) <= max_encoded_frame_bytes(len(record)) + 2


# -- reader, fed bytes directly -----------------------------------------------------------------


def wire_for(records, start_seq: int = 0) -> bytes:
    return b"".join(frame_bytes(start_seq + i, encode(r)) for i, r in enumerate(records))


def test_sequence_wraps_without_a_gap_and_a_restart_is_not_a_gap():
    reader = LinkReader(MasterPort(-1))
    records = stream(6)
    got = reader.feed(wire_for(records, start_seq=65533))  # 65533 .. 65535, 0, 1, 2
    assert all(same(a, b) for a, b in zip(got, records)) and len(got) == 6
    assert reader.stats.gaps == 0 and reader.stats.lost_frames == 0
    header = Record.event(0.0, HEADER_EVENT, format_version=1)
    reader.feed(frame_bytes(0, encode(header)) + frame_bytes(1, encode(records[0])))
    assert reader.stats.restarts == 1 and reader.stats.gaps == 0
    reader.feed(frame_bytes(5, encode(records[1])))  # 2, 3, 4 lost
    assert reader.stats.gaps == 1 and reader.stats.lost_frames == 3
    assert reader.gap_log[-1].expected_seq == 2 and reader.gap_log[-1].received_seq == 5


def test_joining_mid_frame_and_overlong_runs_are_discarded_in_bounded_memory():
    reader = LinkReader(MasterPort(-1), max_record_bytes=200)
    records = stream(4)
    wire = wire_for(records)
    got = reader.feed(wire[7:])  # joined in the middle of the first frame
    assert len(got) == 3 and reader.stats.sync_bytes == len(frame_bytes(0, encode(records[0]))) - 8
    assert reader.stats.crc_errors == 0 and reader.stats.framing_errors == 0
    noise = bytes(range(1, 256)) * 8  # 2 kB with no delimiter
    for i in range(0, len(noise), 100):
        assert reader.feed(noise[i : i + 100]) == []
        assert len(reader._pending) <= reader.max_frame_bytes
    got = reader.feed(wire_for(stream(2, start=4), start_seq=4))
    assert len(got) == 2 and reader.stats.framing_errors == 1
    assert reader.stats.discarded_bytes == len(noise)


def test_unknown_format_version_raises_naming_the_port():
    reader = LinkReader(MasterPort(-1))
    header = Record.event(0.0, HEADER_EVENT, format_version=99)
    with pytest.raises(LinkError, match="pty-master: .*version 99"):
        reader.feed(frame_bytes(0, encode(header)))


class BrokenPort:
    name = "/dev/ttyS9"

    def __init__(self) -> None:
        self.calls = 0

    def write(self, data: bytes) -> int:
        self.calls += 1
        raise serial.SerialException("write failed: [Errno 5] Input/output error")

    def close(self) -> None:
        pass


class FakeClock:
    def __init__(self) -> None:
        self.t_s = 0.0

    def monotonic(self) -> float:
        return self.t_s

    def sleep(self, seconds: float) -> None:
        self.t_s += seconds


def test_writer_counts_and_backs_off_on_a_broken_port_never_raising():
    port, clock = BrokenPort(), FakeClock()
    writer = LinkWriter(port, clock=clock, retry_after_s=0.5, header_interval_s=None)
    assert port.calls == 1 and writer.stats.dropped_frames == 1  # the header
    for _ in range(100):  # 1 s of frames at 100 Hz
        assert writer.send(FRAME) is False
        clock.sleep(0.01)
    assert writer.stats.dropped_frames == 101
    assert port.calls == 2  # at 0 s and 0.5 s: one try per back-off, not one per frame
    assert writer.stats.write_failures == 2 and "Input/output error" in writer.stats.last_error
    assert writer.next_seq == 101
    writer.close()
    writer.close()
    with pytest.raises(LinkError, match="/dev/ttyS9: send after close"):
        writer.send(FRAME)


class MemoryPort:
    name = "memory"

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data: bytes) -> int:
        self.data += data
        return len(data)

    def close(self) -> None:
        pass


def test_header_event_repeats_so_a_late_host_learns_the_format():
    port, clock = MemoryPort(), FakeClock()
    writer = LinkWriter(port, clock=clock, header_interval_s=10.0, header_info={"id": 7})
    for _ in range(250):  # 25 s at 10 Hz
        writer.send(SAMPLE)
        clock.sleep(0.1)
    late = bytes(port.data[len(port.data) // 2 + 3 :])  # joins mid-frame, halfway through
    reader = LinkReader(MasterPort(-1))
    got = reader.feed(late)
    headers = [r for r in got if r.kind is RecordKind.EVENT]
    assert [h.fields.name for h in headers] == [HEADER_EVENT]
    data = headers[0].fields.data
    assert data == {"format_version": 1, "id": 7, "stream": data["stream"]}
    assert isinstance(data["stream"], int)
    assert reader.format_version == 1
    assert reader.stats.gaps == 0 and reader.stats.crc_errors == 0
    assert writer.next_seq == 250 + 3  # headers at 0 s, 10 s and 20 s


def test_opening_a_missing_port_names_it():
    with pytest.raises(LinkError, match="/dev/ttyNOPE0: cannot open"):
        LinkWriter.open("/dev/ttyNOPE0")
    with pytest.raises(LinkError, match="/dev/ttyNOPE0: cannot open"):
        LinkReader.open("/dev/ttyNOPE0")


# -- over a real pty ----------------------------------------------------------------------------


def collect(reader: LinkReader, until_t_s: float, timeout_s: float = 120.0) -> list[Record]:
    got: list[Record] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for record in reader:
            got.append(record)
            if record.t_s == until_t_s and record.kind is RecordKind.EVENT:
                return got
    raise AssertionError(f"no end record after {timeout_s} s; got {len(got)} records")


@pytest.mark.parametrize("direction", ["device-on-pyserial", "host-on-pyserial"])
def test_round_trip_with_garbage_corruption_and_a_torn_frame(pty_pair, direction):
    slave_port, master_port = pty_pair
    if direction == "device-on-pyserial":
        wire_port, raw_write, read_port = FaultySerial(slave_port), slave_port.write, master_port
    else:
        wire_port, raw_write, read_port = master_port, master_port._write_all, slave_port
    reader = LinkReader(read_port)
    batches = [stream(40, 0), stream(40, 100), stream(40, 200), stream(40, 300)]
    end = Record.event(999.0, "end")
    sent: list[Record] = []
    lost: list[Record] = []

    def device() -> None:
        writer = LinkWriter(wire_port, retry_after_s=0.0, header_info={"board": "sim"})
        for r in batches[0]:
            writer.send(r)
        raw_write(b"U-Boot 2017.09 login: \r\n\xff\xfe")  # console noise, no delimiter
        for r in batches[1]:
            writer.send(r)
        raw_write(b"\x00\x13\x37\x00\x00")  # noise with delimiters in it
        wire_port.corrupt_next = True  # one frame damaged in transit: CRC error
        writer.send(batches[2][0])
        for r in batches[2][1:]:
            writer.send(r)
        wire_port.tear_next = True  # half a frame, then a write timeout
        assert writer.send(batches[3][0]) is False
        for r in batches[3][1:]:
            writer.send(r)
        writer.send(end)
        sent.extend([*batches[0], *batches[1], *batches[2][1:], *batches[3][1:], end])
        lost.extend([batches[2][0], batches[3][0]])
        writer.close()

    thread = threading.Thread(target=device)
    thread.start()
    got = collect(reader, until_t_s=999.0)
    thread.join(5.0)
    header, *records = got
    assert header.fields.name == HEADER_EVENT and header.fields.data["board"] == "sim"
    assert len(records) == len(sent)
    assert all(same(a, b) for a, b in zip(records, sent))
    stats = reader.stats
    assert stats.crc_errors >= 1  # the corrupted frame (the torn one may count here too)
    assert stats.crc_errors + stats.framing_errors == 4  # + console noise, noise, torn frame
    assert stats.decode_errors == 0 and stats.sync_bytes == 0
    assert stats.gaps == 2 and stats.lost_frames == 2
    seq_of_corrupted = 1 + 80  # header, then 80 frames
    assert [(g.expected_seq, g.lost) for g in reader.gap_log] == [
        (seq_of_corrupted, 1),
        (seq_of_corrupted + 40, 1),
    ]


#: A raw pty's line discipline holds 4096 bytes less one; once it holds that many and the
#: pty's own buffer refuses more, nothing moves until the other end reads.
N_TTY_FULL = 4095


def fill(fd: int, other_end: MasterPort) -> int:
    """Write zero bytes (link delimiters: never a frame) to a pty end until it takes no
    more and the other end's line discipline is full, so nothing the kernel moves later
    makes room. Returns how many bytes went in."""
    total = 0
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_NONBLOCK)
    try:
        for _ in range(3000):  # a minute at most, however loaded the machine
            wrote = 0
            for chunk in (bytes(1 << 16), bytes(256), bytes(1)):  # a pty takes big writes
                while True:  # in pieces of its own size: end with single bytes
                    try:
                        wrote += os.write(fd, chunk)
                    except BlockingIOError:
                        break
            total += wrote
            if not wrote and other_end.in_waiting >= N_TTY_FULL:
                return total
            time.sleep(0.02)
    finally:
        fcntl.fcntl(fd, fcntl.F_SETFL, flags)
    raise AssertionError(f"the pty never filled ({total} bytes in, {other_end.in_waiting} out)")


def drain(fd: int, n: int) -> bytes:
    """Read exactly ``n`` bytes from a pty end."""
    out = bytearray()
    while len(out) < n:
        select.select([fd], [], [], 5.0)
        out += os.read(fd, n - len(out))
    return bytes(out)


def test_writer_drops_instead_of_blocking_when_the_host_stops_reading(pty_pair):
    slave_port, master_port = pty_pair  # nobody reads the master: the test fills the pty
    clock = FakeClock()  # the back-off runs on the device clock; the write timeout is real
    writer = LinkWriter(slave_port, clock=clock, retry_after_s=0.5, header_interval_s=None)
    reader = LinkReader(master_port)
    master_port.timeout_s = 60.0  # the header reaches the master a moment later
    assert next(iter(reader)).fields.name == HEADER_EVENT
    filler = fill(slave_port.fd, master_port)  # zeros: nothing the reader takes for a frame
    record = Record.of(FRAME)
    worst_s = 0.0
    for _ in range(200):  # 2 s of device clock at 100 frames/s: tries at 0, 0.5, 1, 1.5 s
        t0 = time.monotonic()
        assert writer.send(record) is False
        worst_s = max(worst_s, time.monotonic() - t0)
        clock.sleep(0.01)
    # Each send returned (a blocking writer would hang here): one write timeout per try.
    assert worst_s < 10.0
    assert writer.stats.write_failures == 4 and writer.stats.dropped_frames == 200
    assert writer.stats.frames_sent == 1  # the header
    assert drain(master_port.fd, filler) == bytes(filler)  # the host reads again
    clock.sleep(0.5)  # past the back-off: the writer tries again
    for _ in range(5):
        assert writer.send(record)
    master_port.timeout_s = 0.5
    got = list(reader)
    assert len(got) == 5 and all(same(r, record) for r in got)
    assert reader.stats.frames == 6 and reader.stats.lost_frames == 200
    assert reader.stats.gaps == 1 and reader.stats.uncertain_gaps == 0
    assert reader.stats.crc_errors + reader.stats.framing_errors == 0
    assert reader.stats.describe() == "200 frames lost in 1 gap"


# -- loss accounting over the whole sequence space ------------------------------------------


class FlakyPort(MemoryPort):
    """A port that fails while ``down`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    def write(self, data: bytes) -> int:
        if self.down:
            raise serial.SerialTimeoutException("Write timeout")
        return super().write(data)


def run_device(
    port: MemoryPort, clock: FakeClock, n: int, *, rate_hz: float = 54.0, writer=None
) -> LinkWriter:
    """Send ``n`` samples at ``rate_hz`` on the device clock, every frame tried."""
    writer = writer or LinkWriter(port, clock=clock, retry_after_s=0.0, header_interval_s=None)
    for _ in range(n):
        writer.send(SAMPLE._replace(t_s=clock.monotonic()))
        clock.sleep(1.0 / rate_hz)
    return writer


@pytest.mark.parametrize(("outage", "exact"), [(3, True), (30_000, True), (70_000, False)])
def test_an_outage_is_counted_exactly_or_as_at_least_with_its_device_time(outage, exact):
    port, clock = FlakyPort(), FakeClock()
    writer = run_device(port, clock, 65_530)  # the outage starts just before the wrap
    port.down = True
    run_device(port, clock, outage, writer=writer)
    port.down = False
    run_device(port, clock, 100, writer=writer)
    reader = LinkReader(MasterPort(-1))
    got = reader.feed(port.data)
    assert len(got) == 1 + 65_530 + 100 and reader.stats.restarts == 0
    (gap,) = reader.gap_log
    assert gap.expected_seq == 65_531 and gap.received_seq == (65_531 + outage) % 65_536
    assert gap.span_s == pytest.approx((outage + 1) / 54.0)
    assert gap.exact is exact and reader.stats.uncertain_gaps == (not exact)
    if exact:
        assert gap.lost == reader.stats.lost_frames == outage
        assert reader.stats.describe() == f"{outage} frames lost in 1 gap"
    else:  # 70 000 numbers: the sequence turned once in the outage
        assert gap.lost == reader.stats.lost_frames == outage - 65_536
        assert gap.estimate == outage
        assert reader.stats.describe().startswith(
            f"at least {outage - 65_536} frames lost in 1 gap (1 outage spanning 1296.3 s"
        )
    numbered = 1 + 65_530 + outage + 100  # the header, before, in and after the outage
    assert reader.stats.frames + (gap.lost if exact else gap.estimate) == numbered


@pytest.mark.parametrize("clock_jump_s", [3.0, -500.0])  # the app restarts; the board reboots
def test_a_device_restart_whose_header_is_damaged_is_a_restart_not_a_gap(clock_jump_s):
    port, clock = MemoryPort(), FakeClock()
    clock.t_s = 1000.0
    run_device(port, clock, 30_000)
    clock.t_s += clock_jump_s
    restarted = len(port.data)
    run_device(port, clock, 540)  # a new writer: header at seq 0, then 1 … 540
    wire = bytearray(port.data)
    header_end = wire.index(b"\x00", restarted + 1)
    # The new header fails its CRC: a bit of its content flipped and the frame encoded
    # again (flipping an encoded byte could hit a COBS code byte, whose place depends on
    # the writer's random stream number: a framing error, not a CRC error).
    start = wire.rindex(b"\x00", 0, header_end) + 1
    frame = bytearray(cobs_decode(wire[start:header_end]))
    frame[-5] ^= 0x01
    wire[start:header_end] = cobs_encode(bytes(frame))
    reader = LinkReader(MasterPort(-1))
    got = reader.feed(bytes(wire))
    assert len(got) == 1 + 30_000 + 540 and reader.stats.crc_errors == 1
    assert reader.stats.restarts == 1
    assert reader.stats.lost_frames == 1 and reader.stats.gaps == 1  # the header, seq 0
    assert list(reader.gap_log) == [(0, 1, 1, 30_001, None, True, None)]


def test_a_gap_across_the_wrap_without_device_time_is_counted_from_the_numbers():
    reader = LinkReader(MasterPort(-1))
    records = stream(3)
    reader.feed(frame_bytes(65_530, encode(records[0])))
    # CRC right but an unknown record kind: no device time to weigh the gap with.
    reader.feed(frame_bytes(4, b"\xee" + bytes(8)))
    assert reader.stats.decode_errors == 1
    assert reader.stats.lost_frames == 9 and reader.stats.restarts == 0


# -- streams that try the loss accounting, each with the numbers that are right ------------
# (expected: Account(lost, gaps, restarts, uncertain, duplicates, late))


def ev(seq: int, t_s: float) -> bytes:
    return frame_bytes(seq, encode(Record.event(t_s, "x")))


def hdr(seq: int, t_s: float, **info) -> bytes:
    return frame_bytes(seq, encode(Record.event(t_s, HEADER_EVENT, format_version=1, **info)))


def undecodable(seq: int) -> bytes:
    return frame_bytes(seq, b"\xee" + bytes(8))  # CRC right, unknown record kind


def steady(first: int, last: int, t0: float = 0.0, rate_hz: float = 54.0) -> list[bytes]:
    """Frames first … last−1 (seq modulo 65536) stamped at ``rate_hz`` from ``t0``."""
    return [ev(i % 65_536, t0 + (i - first) / rate_hz) for i in range(first, last)]


class Account(NamedTuple):
    lost: int
    gaps: int
    restarts: int
    uncertain: int
    duplicates: int
    late: int


def account(frames: list[bytes]) -> Account:
    reader = LinkReader(MasterPort(-1))
    reader.feed(b"".join(frames))
    s = reader.stats
    return Account(s.lost_frames, s.gaps, s.restarts, s.uncertain_gaps, s.duplicates, s.late_frames)


B = steady  # brevity below
CASES = {
    # a frame again, and two frames swapped (a broker may do both; a UART does neither)
    "duplicate": ([*B(0, 30_001), ev(30_000, 30_000 / 54), ev(30_001, 30_001 / 54)],
                  (0, 0, 0, 0, 1, 0)),
    "swapped pair": ([*B(0, 3000), ev(3001, 3001 / 54), ev(3000, 3000 / 54),
                      ev(3002, 3002 / 54)], (0, 1, 0, 0, 0, 1)),
    "header twice": ([hdr(0, 0.0, stream=5), hdr(0, 0.0, stream=5), *B(1, 100)],
                     (0, 0, 0, 0, 1, 0)),
    # exactly one turn of the sequence lost: the numbers say nothing, the clock does
    "outage of 65536": ([*B(0, 200), *[ev(i % 65_536, i / 54) for i in range(65_736, 65_836)]],
                        (0, 1, 0, 1, 0, 0)),
    # restarts before any rate is known, header lost
    "reboot at once": ([hdr(0, 100.0), *B(1, 27, 100 + 1 / 54),
                        *[ev(i, 2 + i / 54) for i in range(1, 100)]], (1, 1, 1, 0, 0, 0)),
    "app restart at once": ([hdr(0, 100.0), *B(1, 27, 100 + 1 / 54),
                             *[ev(i, 101 + i / 54) for i in range(1, 100)]], (1, 1, 1, 0, 0, 0)),
    # no clock on the first frame: the rate is measured from the next ones
    "undecodable first frame, later reboot": (
        [undecodable(100), *[ev(i, 1000 + i / 54) for i in range(101, 30_000)],
         *[ev(i, 3 + i / 54) for i in range(3, 200)]], (3, 1, 1, 0, 0, 0)),
    "NaN first frame, long outage": (  # 70 000 lost: at least 70 000 − 65 536 = 4464
        [ev(100, math.nan), *[ev(i, 1000 + i / 54) for i in range(101, 3000)],
         *[ev(i % 65_536, 1000 + i / 54) for i in range(73_000, 73_100)]], (4464, 1, 0, 1, 0, 0)),
    # bad clocks never raise
    "NaN after a gap": ([*B(0, 200), ev(205, math.nan), ev(206, 206 / 54)], (5, 1, 0, 0, 0, 0)),
    "inf after a gap": ([*B(0, 200), ev(205, math.inf), ev(206, 206 / 54)], (5, 1, 0, 0, 0, 0)),
    # more lost at one instant than the rate allows, and a rate that rises: gaps, not restarts
    "burst lost at one instant": (
        [*B(0, 30_000), *[ev(30_000 + k, 30_000 / 54) for k in range(10)],
         *[ev(30_075 + k, 30_000 / 54) for k in range(25)],
         *[ev(30_100 + i, 30_000 / 54 + (i + 1) / 54) for i in range(50)]], (65, 1, 0, 0, 0, 0)),
    "rate rises": ([*B(0, 3600, rate_hz=1.0), *B(3600, 3600 + 3240, 3600.0),
                    *B(7110, 7210, 3660 + 270 / 54)], (270, 1, 0, 0, 0, 0)),
    "sample stamped early after an outage at 400/s": (
        [*B(0, 20_000, rate_hz=400.0), ev(20_400, 20_400 / 400 - 0.9),
         *B(20_401, 20_500, 20_401 / 400, 400.0)], (400, 1, 0, 0, 0, 0)),
    # 40 000 frames in 741 s at 54/s cannot hide another 65 536: exact
    "40000 lost": ([*B(0, 3000), *B(43_000, 43_100, 43_000 / 54)], (40_000, 1, 0, 0, 0, 0)),
    # the stream's own periodic header lands on seq 0 after a natural wrap with loss
    "natural wrap, header at 0": (
        [hdr(65_000, 65_000 / 54, stream=9), *B(65_001, 65_531, 65_001 / 54),
         hdr(0, 65_536 / 54, stream=9), *B(65_537, 65_600, 65_537 / 54)], (5, 1, 0, 0, 0, 0)),
    # a restart whose first header is lost is confirmed by the next one, not counted twice
    "restart confirmed by its next header": (
        [hdr(0, 0.0, stream=1), *B(1, 30_000, 1 / 54), *B(2, 540, 600.0),
         hdr(540, 610.0, stream=2), *B(541, 600, 610 + 1 / 54)], (2, 1, 1, 0, 0, 0)),
    # ... and a third stream's intact header after it is a restart of its own
    "inferred restart, then a third stream": (
        [hdr(0, 0.0, stream=1), *B(1, 30_000, 1 / 54), *B(2, 300, 600.0),
         hdr(0, 1300.0, stream=3), *B(1, 100, 1300 + 1 / 54)], (2, 1, 2, 0, 0, 0)),
    # a number lost a whole turn ago is not "late" when it comes round again
    "lost numbers come round again": (
        [*B(0, 1000), *B(1500, 65_536 + 999, 1500 / 54),
         *B(65_536 + 1000, 65_536 + 1200, (65_536 + 1000) / 54)], (501, 2, 0, 0, 0, 0)),
    # the app restarts while the link is down; its header is lost, the next one is not
    "app restart in an outage": (
        [hdr(0, 100.0, stream=1), *B(1, 60_000, 100 + 1 / 54),
         *B(100, 540, 100 + 60_000 / 54 + 120), hdr(540, 100 + 60_000 / 54 + 120 + 440 / 54,
         stream=2), *B(541, 700, 100 + 60_000 / 54 + 120 + 441 / 54)], (100, 1, 1, 0, 0, 0)),
    # the board reboots (its clock goes back) and the link returns 5000 frames later
    "reboot found late": (
        [hdr(0, 5000.0, stream=1), *B(1, 30_000, 5000 + 1 / 54), *B(5000, 5400, 15 + 5000 / 54),
         hdr(5400, 115.0, stream=2), *B(5401, 5500, 15 + 5401 / 54)], (5000, 1, 1, 0, 0, 0)),
    "crash-loop reboot": ([hdr(0, 12.0, stream=1), *B(1, 100, 12 + 1 / 54),
                           *B(150, 300, 10 + 150 / 54)], (150, 1, 1, 0, 0, 0)),
    # the new stream's first good frame is its periodic header: one restart, not two
    "first frame of a new stream is a later header": (
        [hdr(0, 100.0, stream=1), *B(1, 30_000, 100 + 1 / 54),
         hdr(540, 100 + 30_000 / 54 + 13, stream=2),
         *B(541, 700, 100 + 30_000 / 54 + 13 + 1 / 54)], (540, 1, 1, 0, 0, 0)),
    # the writer drops 127 frames at one instant across the wrap (back-off in a burst)
    "burst dropped across the wrap": (
        [*B(0, 65_500), *[ev(i % 65_536, 65_500 / 54) for i in range(65_627, 65_700)],
         *B(65_700, 65_800, 65_500 / 54 + 1 / 54)], (127, 1, 0, 0, 0, 0)),
    # an inferred restart that the stream's own next header shows was a gap after all
    "inferred restart undone by the same stream's header": (
        [hdr(0, 0.0, stream=4), *B(1, 65_400), *[ev(i % 65_536, 65_400 / 54)
         for i in range(65_800, 65_830)], hdr(65_830 % 65_536, 65_400 / 54 + 0.5, stream=4),
         *B(65_831, 65_900, 65_400 / 54 + 0.6)], (400, 1, 0, 0, 0, 0)),
    # garbage clocks and stream numbers: no exception, no phantom restarts
    "absurd clock": ([*B(0, 200), ev(200, 1e307), *B(201, 300, 201 / 54)], (0, 0, 0, 0, 0, 0)),
    "NaN stream number": ([hdr(0, 0.0, stream=math.nan), *B(1, 540, 1 / 54),
                           hdr(540, 10.0, stream=math.nan), *B(541, 600, 541 / 54)],
                          (0, 0, 0, 0, 0, 0)),
}  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_loss_accounting_tells_gaps_restarts_outages_and_duplicates_apart(case):
    frames, right = CASES[case]
    assert account(frames) == right
