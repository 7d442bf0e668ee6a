"""Serial link to the host: records from :mod:`device.codec`, framed for a noisy wire.

One frame on the wire::

    00 | COBS( seq u16 | record bytes | CRC32 u32 ) | 00

``seq`` counts frames modulo 65536 (little-endian, like the codec); the CRC32
(zlib's) covers ``seq`` and the record bytes. COBS (consistent overhead byte
stuffing) removes every 00 from the frame, at a cost of one byte per 254, so
00 only ever marks frame boundaries. Each frame is delimited on *both* sides: one
byte more per frame, but line noise or console text between two frames then
becomes a bad frame of its own instead of spoiling the next good one. A frame
damaged in transit fails its CRC and is dropped; the next one is found at the next
00, and the jump in ``seq`` tells the host how many frames it lost.

A stream starts with the codec's header event (``format_version`` and a ``stream``
number new with every writer) at ``seq`` 0 and repeats it every
``header_interval_s``, so a host that connects mid-session learns the format, and a
device restart is not taken for a gap. How the host tells gaps, outages too long to
count, restarts and duplicates apart is :mod:`device.link_loss`.

:class:`LinkWriter` (device) never blocks the app for longer than the port's write
timeout: a write that raises, times out or writes only part of a frame counts the
frame as dropped, and for ``retry_after_s`` afterwards frames are dropped without
trying, so an absent host costs one timeout per ``retry_after_s``, not one per
frame. ``down_after`` failures in a row make the link down, told once
(:meth:`LinkWriter.take_notices`) and again when it is back. A port device that goes
away (a USB-UART unplugged, the USB gadget serial re-enumerating) leaves a file
descriptor that fails forever (EIO: the kernel hung the tty up, as u_serial's
``gserial_disconnect`` does to an open ttyGS on a USB disconnect): a writer that opened
its port by name (:meth:`LinkWriter.open`) closes it and opens the name again while the
link is down, at most every ``reopen_interval_s``, and starts the new port with a
header. Only after errors, not timeouts: a port whose writes time out is there, its
reader slow or absent, and closing a tty with unsent output can block (u_serial's
``gs_close`` waits up to 15 s, ``GS_CLOSE_TIMEOUT``, for it to drain).

The dropped count is an upper bound: pyserial checks its write timeout after each
``os.write``, so it can raise after the last byte of a frame went out, and the host
then receives a frame the writer counted as dropped (tests/test_link.py saw it).
:class:`LinkReader` (host) decodes frames and counts everything it had to throw away;
its lost-frame count, from the sequence numbers, is the true one.

Ports: anything with ``write(bytes)``, ``read(n)``, ``in_waiting`` and ``close()``,
such as ``serial.Serial`` (pyserial). The link closes a port only if it opened it
(:meth:`LinkWriter.open`, :meth:`LinkReader.open`).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import struct
import sys
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from device.clock import Clock, SystemClock
from device.codec import (
    FORMAT_VERSION,
    HEADER_EVENT,
    MAX_RECORD_BYTES,
    CodecError,
    Fields,
    Record,
    RecordKind,
    check_version,
    decode,
    encode,
    header_record,
)
from device.errors import DeviceError
from device.link_loss import SEQ_MODULO, Gap, LossAccount, LossStats
from device.outage import Outage, check_count

__all__ = [
    "SEQ_MODULO",
    "Gap",
    "LinkError",
    "LinkReader",
    "LinkReaderStats",
    "LinkWriter",
    "LinkWriterStats",
    "cobs_decode",
    "cobs_encode",
    "frame_bytes",
    "max_encoded_frame_bytes",
]

DELIMITER = b"\x00"
#: Default line speed, bits/s. A full stream (43 FRAMEs at 59 bytes on the wire, 10
#: SAMPLEs at 77 and 1 PREDICTION a second) is about 3.4 kB/s, 30 % of the 11.5 kB/s
#: that 115200 baud 8N1 carries.
DEFAULT_BAUDRATE = 115200
#: Default write timeout of a port the writer opens, seconds.
DEFAULT_WRITE_TIMEOUT_S = 0.05
#: Default time the writer stops trying after a failed write, seconds.
DEFAULT_RETRY_AFTER_S = 0.5
#: Default time between repeated header events, seconds.
DEFAULT_HEADER_INTERVAL_S = 10.0
#: Default failed writes in a row that make the link down: with the default back-off, about
#: a second of failures, which no glitch on a working port makes.
DEFAULT_DOWN_AFTER = 3
#: Default time between two attempts to reopen the port while the link is down, seconds.
#: An attempt on a missing device is one failed ``open``; on a present one, an ``open``
#: and the termios set-up (pyserial), a millisecond or so.
DEFAULT_REOPEN_INTERVAL_S = 2.0

_SEQ = struct.Struct("<H")
_CRC = struct.Struct("<I")
_MIN_FRAME_BYTES = _SEQ.size + 1 + _CRC.size  # seq, a kind byte, CRC

log = logging.getLogger(__name__)


def max_encoded_frame_bytes(max_record_bytes: int = MAX_RECORD_BYTES) -> int:
    """Longest COBS-encoded frame (without delimiters) for records up to this size."""
    raw = _SEQ.size + max_record_bytes + _CRC.size
    return raw + raw // 254 + 1


class LinkError(DeviceError, OSError):
    """The serial link failed; names the port.

    Args:
        port_name: e.g. "/dev/ttyS3".
        problem: What went wrong.
        errno_: errno of the OSError behind it, if any.
    """

    def __init__(self, port_name: str, problem: str, errno_: int | None = None) -> None:
        self.message = f"serial link on {port_name}: {problem}"
        super().__init__(self.message)
        self.errno = errno_
        self.port_name = port_name

    def __str__(self) -> str:
        return self.message


class SerialPort(Protocol):
    """The subset of ``serial.Serial`` the link uses."""

    def write(self, data: bytes) -> int | None: ...

    def read(self, size: int = 1) -> bytes: ...

    @property
    def in_waiting(self) -> int: ...

    def close(self) -> None: ...


def _port_name(port: object) -> str:
    for attr in ("port", "name"):
        value = getattr(port, attr, None)
        if isinstance(value, str) and value:
            return value
    return type(port).__name__


def _timed_out(exc: BaseException) -> bool:
    """True if a write failed by timing out (its port is there, the reader is slow), not by an
    error of the port: pyserial's ``SerialTimeoutException``, or a ``TimeoutError``."""
    serial = sys.modules.get("serial")  # a pyserial exception means pyserial is imported
    timeout_types: tuple[type[BaseException], ...] = (TimeoutError,)
    if serial is not None:
        timeout_types += (serial.SerialTimeoutException,)
    return isinstance(exc, timeout_types)


def _open_serial(device: str, **settings: Any) -> Any:
    import serial  # pyserial; imported here so the link works with any port object

    try:
        return serial.Serial(device, **settings)
    except (serial.SerialException, OSError, ValueError) as exc:
        raise LinkError(device, f"cannot open: {exc}", getattr(exc, "errno", None)) from exc


# -- COBS -------------------------------------------------------------------------------------


def cobs_encode(data: bytes | bytearray | memoryview) -> bytes:
    """``data`` with every 00 byte stuffed away (COBS); the result holds no 00."""
    out = bytearray()
    for chunk in bytes(data).split(DELIMITER):
        while len(chunk) >= 254:  # code 0xFF: 254 bytes, no zero after them
            out.append(0xFF)
            out += chunk[:254]
            chunk = chunk[254:]
        out.append(len(chunk) + 1)  # code n: n−1 bytes, then a zero (dropped at the end)
        out += chunk
    return bytes(out)


def cobs_decode(data: bytes | bytearray | memoryview) -> bytes:
    """Undo :func:`cobs_encode`.

    Raises:
        ValueError: ``data`` holds a 00 or a block that runs past its end.
    """
    data = bytes(data)
    if DELIMITER in data:
        raise ValueError("a COBS frame cannot contain a zero byte")
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        code = data[i]
        end = i + code
        if end > n:
            raise ValueError(f"COBS block at byte {i} needs {code - 1} bytes, {n - i - 1} left")
        out += data[i + 1 : end]
        i = end
        if code < 0xFF and i < n:
            out.append(0)
    return bytes(out)


def frame_bytes(seq: int, record_bytes: bytes) -> bytes:
    """One frame as it goes on the wire, both delimiters included."""
    body = _SEQ.pack(seq % SEQ_MODULO) + record_bytes
    return DELIMITER + cobs_encode(body + _CRC.pack(zlib.crc32(body))) + DELIMITER


_Link = TypeVar("_Link", bound="_PortLink")


class _PortLink:
    """A link end on a port: explicit :meth:`close`, and a context manager that calls it.

    Args:
        port: The open port.
        close_port: Close ``port`` in :meth:`close` (the link opened it).
    """

    def __init__(self, port: SerialPort, close_port: bool) -> None:
        self.port = port
        self.name = _port_name(port)
        self._close_port = close_port
        self._closed = False

    def close(self) -> None:
        """End the link; close the port only if this link opened it. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._close_port and self.port is not None:
            self.port.close()

    def __enter__(self: _Link) -> _Link:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# -- writer (device) --------------------------------------------------------------------------


@dataclass
class LinkWriterStats:
    frames_sent: int = 0
    bytes_sent: int = 0
    dropped_frames: int = 0  # failed (maybe sent after all, see above) or skipped in back-off
    write_failures: int = 0  # writes that raised, timed out or wrote part of a frame, or no port
    reopen_attempts: int = 0  # closing the port and opening its name again (link down)
    reopens: int = 0  # of those, the ones that opened it
    last_error: str | None = None


class LinkWriter(_PortLink):
    """Send records to the host; never raises on, or waits long for, a bad port.

    Args:
        port: An open port (``serial.Serial`` with a ``write_timeout`` on the board).
        clock: Time source for the back-off and the header interval.
        retry_after_s: After a failed write, drop frames without trying for this long,
            seconds.
        header_info: Extra JSON-serialisable details for the header event.
        header_interval_s: Repeat the header event this often, seconds (None: only
            the first frame, and the first on a reopened port).
        close_port: Close ``port`` in :meth:`close` (set by :meth:`open`).
        reopen: Opens the port again, raising on failure (set by :meth:`open`, to open
            the same name); called while the link is down and its last failure was an
            error of the port, not a timeout, the old port closed first. ``None``: the
            port given is the only one. Ports it returns are the writer's to close.
        reopen_interval_s: Least time between two calls of ``reopen``, seconds.
        down_after: Failed writes in a row that make the link :attr:`down`, >= 1.

    Raises:
        ValueError: A time not a number of seconds >= 0 (> 0 for ``header_interval_s``),
            or ``down_after`` not an integer >= 1.
    """

    def __init__(
        self,
        port: SerialPort,
        *,
        clock: Clock | None = None,
        retry_after_s: float = DEFAULT_RETRY_AFTER_S,
        header_info: dict[str, Any] | None = None,
        header_interval_s: float | None = DEFAULT_HEADER_INTERVAL_S,
        close_port: bool = False,
        reopen: Callable[[], SerialPort] | None = None,
        reopen_interval_s: float = DEFAULT_REOPEN_INTERVAL_S,
        down_after: int = DEFAULT_DOWN_AFTER,
    ) -> None:
        if not (math.isfinite(retry_after_s) and retry_after_s >= 0):
            raise ValueError(f"retry_after_s must be a number of seconds >= 0, got {retry_after_s}")
        if not (math.isfinite(reopen_interval_s) and reopen_interval_s >= 0):
            raise ValueError(
                f"reopen_interval_s must be a number of seconds >= 0, got {reopen_interval_s}"
            )
        if header_interval_s is not None and not header_interval_s > 0:
            raise ValueError(
                f"header_interval_s must be None or seconds > 0, got {header_interval_s}"
            )
        super().__init__(port, close_port)
        self.retry_after_s = retry_after_s
        self.header_interval_s = header_interval_s
        self.stats = LinkWriterStats()
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._outage = Outage(
            f"serial link on {self.name}",
            self._clock,
            away_after=check_count("down_after", down_after),
            away_text="down",
        )
        self._reopen = reopen
        self.reopen_interval_s = reopen_interval_s
        self._next_reopen_s = -math.inf
        self._port_failed = False  # the last failure was an error of the port, not a timeout
        self._no_port = ""  # why self.port is None: the reopen's error
        self._seq = 0
        self._quiet_until_s = -math.inf
        # A new ``stream`` number each time a writer starts: the host knows a restart for
        # sure from the next header, even when the first frames of the new stream are lost.
        self._header_info = {**(header_info or {}), "stream": int.from_bytes(os.urandom(4), "big")}
        self._send_header(self._clock.monotonic())

    @classmethod
    def open(
        cls,
        device: str,
        *,
        baudrate: int = DEFAULT_BAUDRATE,
        write_timeout_s: float = DEFAULT_WRITE_TIMEOUT_S,
        **kwargs: Any,
    ) -> LinkWriter:
        """Open ``device`` (e.g. "/dev/ttyS3") with pyserial and write to it.

        Raises:
            LinkError: The port cannot be opened.
        """
        opener = functools.partial(
            _open_serial, device, baudrate=baudrate, timeout=0, write_timeout=write_timeout_s
        )
        return cls(opener(), close_port=True, reopen=opener, **kwargs)

    @property
    def next_seq(self) -> int:
        """Sequence number the next frame will carry."""
        return self._seq

    @property
    def down(self) -> bool:
        """True from the ``down_after``-th failed write in a row until a frame goes through."""
        return self._outage.away

    @property
    def down_since_s(self) -> float | None:
        """Clock time of the first failed write of the current run if :attr:`down`, else None."""
        return self._outage.since_s if self._outage.away else None

    def take_notices(self) -> list[str]:
        """Lines for the wearer since the last call, oldest first: "serial link on
        /dev/ttyGS0 down for 1.0 s (3 failures in a row, the last: ...)" when it goes
        :attr:`down`, "serial link on /dev/ttyGS0 back after 6.0 s" when a frame goes
        through again; an empty list if nothing changed."""
        return self._outage.take_notices()

    def send(self, item: Record | Fields) -> bool:
        """Send one record.

        Returns:
            True if the whole frame was written; False if it was dropped.

        Raises:
            CodecError: ``item`` cannot be encoded (a bug in the caller).
            LinkError: The writer is closed.
        """
        if self._closed:
            raise LinkError(self.name, "send after close")
        record_bytes = encode(item)
        now = self._clock.monotonic()
        if (
            self._reopen is not None
            and self._outage.away
            and self._port_failed
            and now >= self._next_reopen_s
            and now >= self._quiet_until_s
        ):
            self._reopen_port(now)
        if self.header_interval_s is not None and now >= self._next_header_s:
            self._send_header(now)
        return self._send_frame(record_bytes, now)

    def _reopen_port(self, now: float) -> None:
        """Close the port and open it again; a new port starts with a header."""
        self._next_reopen_s = now + self.reopen_interval_s
        self.stats.reopen_attempts += 1
        old, self.port = self.port, None
        if old is not None:
            with contextlib.suppress(Exception):  # a port whose device is gone may refuse
                old.close()
        try:
            self.port = self._reopen()
        except Exception as exc:  # the device is not back: try again in reopen_interval_s
            self._no_port = f"port not open: {exc.__cause__ or exc}"
            return
        self._close_port = True
        self.stats.reopens += 1
        log.warning("serial link on %s: port reopened", self.name)
        self._send_header(now)

    def _send_header(self, now: float) -> None:
        self._next_header_s = (
            now + self.header_interval_s if self.header_interval_s is not None else math.inf
        )
        self._send_frame(encode(header_record(now, **self._header_info)), now)

    def _send_frame(self, record_bytes: bytes, now: float) -> bool:
        seq = self._seq
        self._seq = (seq + 1) % SEQ_MODULO  # a dropped frame still uses its number
        if now < self._quiet_until_s:
            self.stats.dropped_frames += 1
            return False
        data = frame_bytes(seq, record_bytes)
        try:
            if self.port is None:
                raise ConnectionError(self._no_port)
            written = self.port.write(data)
            if written is not None and written < len(data):
                raise TimeoutError(f"wrote {written} of {len(data)} bytes")
        except Exception as exc:  # any port failure: count, drop, back off; never crash the app
            self.stats.write_failures += 1
            self.stats.dropped_frames += 1
            self._quiet_until_s = now + self.retry_after_s
            message = f"{type(exc).__name__}: {exc}"
            if message != self.stats.last_error:
                log.warning(
                    "serial link on %s: write failed (%s); dropping frames", self.name, message
                )
            self.stats.last_error = message
            self._port_failed = not _timed_out(exc)
            self._outage.failed(message)
            return False
        self.stats.frames_sent += 1
        self.stats.bytes_sent += len(data)
        if self._outage.streak:
            self._outage.succeeded()
        return True


# -- reader (host) ----------------------------------------------------------------------------


@dataclass
class LinkReaderStats(LossStats):
    """Everything the reader counts; the loss counts come from :mod:`device.link_loss`."""

    bytes_received: int = 0
    frames: int = 0  # good frames (CRC right)
    records: int = 0  # records yielded
    crc_errors: int = 0  # frames whose CRC did not match
    framing_errors: int = 0  # not a frame at all: bad COBS, too short or too long
    decode_errors: int = 0  # CRC right but the codec rejected the record
    discarded_bytes: int = 0  # in bad frames (framing or CRC)
    sync_bytes: int = 0  # before the first delimiter (joined mid-frame)


class LinkReader(_PortLink):
    """Decode frames from the device, resynchronising after anything bad.

    Iterating reads the port and yields :class:`~device.codec.Record` objects until
    a read returns nothing (the port's timeout passed with no byte); iterate again
    to go on. :meth:`poll` returns what has arrived without waiting, :meth:`feed`
    decodes bytes from anywhere.

    Args:
        port: An open port, e.g. ``serial.Serial(..., timeout=1.0)``.
        max_record_bytes: Longest record accepted; longer runs without a delimiter
            are discarded (bounds memory).
        read_bytes: Most bytes asked of the port in one read.
        gap_log_size: How many recent :class:`Gap` entries :attr:`gap_log` keeps.
        close_port: Close ``port`` in :meth:`close` (set by :meth:`open`).
    """

    def __init__(
        self,
        port: SerialPort,
        *,
        max_record_bytes: int = MAX_RECORD_BYTES,
        read_bytes: int = 4096,
        gap_log_size: int = 64,
        close_port: bool = False,
    ) -> None:
        if not (isinstance(read_bytes, int) and read_bytes >= 1):
            raise ValueError(f"read_bytes must be an integer >= 1, got {read_bytes!r}")
        super().__init__(port, close_port)
        self.read_bytes = read_bytes
        self.max_frame_bytes = max_encoded_frame_bytes(max_record_bytes)
        self.stats = LinkReaderStats()
        self._loss = LossAccount(self.stats, gap_log_size)
        #: The latest :class:`~device.link_loss.Gap` entries, oldest first.
        self.gap_log = self._loss.gap_log
        #: From the latest header event; None until one arrives.
        self.format_version: int | None = None
        self._pending = bytearray()
        self._skipping = False  # inside an over-long run: discard up to the next delimiter
        self._synced = False

    @classmethod
    def open(
        cls, device: str, *, baudrate: int = DEFAULT_BAUDRATE, timeout_s: float = 1.0, **kwargs: Any
    ) -> LinkReader:
        """Open ``device`` (e.g. "/dev/ttyUSB0") with pyserial and read from it.

        Raises:
            LinkError: The port cannot be opened.
        """
        port = _open_serial(device, baudrate=baudrate, timeout=timeout_s)
        return cls(port, close_port=True, **kwargs)

    def feed(self, data: bytes | bytearray | memoryview) -> list[Record]:
        """Decode ``data`` (the next bytes of the stream); return the records completed.

        Raises:
            LinkError: The device speaks a record format this code cannot read.
        """
        self.stats.bytes_received += len(data)
        parts = bytes(data).split(DELIMITER)
        records: list[Record] = []
        # parts[0] continues the pending run; parts[1:-1] are whole; parts[-1] is pending.
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            if self._skipping:
                if self._synced:
                    self.stats.discarded_bytes += len(part)
                else:
                    self.stats.sync_bytes += len(part)
                if not last:
                    self._skipping = False
                    self._synced = True
                continue
            self._pending += part
            if last:
                if len(self._pending) > self.max_frame_bytes:
                    if self._synced:
                        self.stats.framing_errors += 1
                        self.stats.discarded_bytes += len(self._pending)
                    else:
                        self.stats.sync_bytes += len(self._pending)
                    self._pending.clear()
                    self._skipping = True
                break
            frame, self._pending = bytes(self._pending), bytearray()
            if not self._synced:
                self._synced = True
                self.stats.sync_bytes += len(frame)
                continue
            if frame:
                record = self._frame(frame)
                if record is not None:
                    records.append(record)
        self.stats.records += len(records)
        return records

    def _frame(self, encoded: bytes) -> Record | None:
        try:
            frame = cobs_decode(encoded)
        except ValueError:
            frame = b""
        if len(frame) < _MIN_FRAME_BYTES:
            self.stats.framing_errors += 1
            self.stats.discarded_bytes += len(encoded)
            return None
        body, (crc,) = frame[: -_CRC.size], _CRC.unpack_from(frame, len(frame) - _CRC.size)
        if zlib.crc32(body) != crc:
            self.stats.crc_errors += 1
            self.stats.discarded_bytes += len(encoded)
            return None
        (seq,) = _SEQ.unpack_from(body)
        self.stats.frames += 1
        try:
            record = decode(body[_SEQ.size :], version=self.format_version or FORMAT_VERSION)
        except CodecError:
            self.stats.decode_errors += 1
            record = None
        is_header = (
            record is not None
            and record.kind is RecordKind.EVENT
            and record.fields.name == HEADER_EVENT
        )
        t_s = record.t_s if record is not None else None
        header = record.fields.data if is_header else None
        if not self._loss.observe(seq, t_s, header):
            return None  # a duplicate of a frame already yielded
        if is_header:
            try:
                self.format_version = check_version(
                    record.fields.data.get("format_version"), source=f"the device on {self.name}"
                )
            except CodecError as exc:
                raise LinkError(self.name, str(exc)) from exc
        return record

    def _read(self, size: int) -> bytes:
        try:
            return self.port.read(size)
        except Exception as exc:
            raise LinkError(self.name, f"read failed: {exc}", getattr(exc, "errno", None)) from exc

    def poll(self) -> list[Record]:
        """Records from the bytes already waiting; does not wait for more.

        Raises:
            LinkError: The port failed, or the device's format is unknown.
        """
        try:
            waiting = self.port.in_waiting
        except Exception as exc:
            raise LinkError(self.name, f"cannot query bytes waiting: {exc}") from exc
        records: list[Record] = []
        while waiting > 0:
            data = self._read(min(waiting, self.read_bytes))
            if not data:
                break
            records += self.feed(data)
            waiting -= len(data)
        return records

    def __iter__(self) -> Iterator[Record]:
        while not self._closed:
            try:
                waiting = self.port.in_waiting
            except Exception:
                waiting = 0
            data = self._read(max(1, min(waiting, self.read_bytes)))
            if not data:
                return
            yield from self.feed(data)
