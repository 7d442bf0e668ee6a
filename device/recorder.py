"""Session file: an append-only, crash-safe record of one session.

Layout (little-endian)::

    header (16 bytes):  MAGIC (8) | format_version u16 | flags u16 (0) | CRC32 of those 12
    record, repeated:   SYNC a5 5a | length u16 | record bytes | CRC32 of length + record bytes

*Record bytes* are :mod:`device.codec`'s (kind byte + payload), the same bytes the
serial link carries. The first record is the codec's header event
(``format_version``, the Unix time, and whatever ``info`` the app gave, e.g. the
chain configuration). A FRAME costs 58 bytes on disk, so a session of frames
(43/s), samples (10/s) and predictions grows by about 3.3 kB/s, 12 MB/hour.

Crash safety: records are only ever appended, and each carries its length and
CRC. A kill or power cut mid-write leaves at most one torn record at the end;
:func:`read_session_file` returns every complete record before it and counts the
bytes it discarded, without raising. Damage anywhere else (a bad flash page, a run
of zeros a power cut left, bytes inserted or lost) costs only the records it
touches: the reader scans forward for the next SYNC whose length and CRC check out
and goes on, counting the skipped bytes and listing where they were. A false match
needs the 16-bit SYNC *and* the 32-bit CRC over length and record to agree by
chance (2**-32 per SYNC-like pair of bytes in the damage), and a record is only
ever taken whole, so payload bytes of a good record are never read as a record
start. The file header needs no trust either: if it is damaged or missing, the
reader says so and reads records from the first byte, in the format version the
header event gives (else the current one); only a file with neither a header nor
one record is "not a session file".

Durability policy. Three levels, from cheap to safe:

* :meth:`SessionRecorder.write` appends to a memory buffer (bounded by
  ``buffer_bytes``; when full it is flushed). Lost if the process dies.
* :meth:`SessionRecorder.flush` hands the buffer to the kernel (one ``write``).
  Survives a crash or ``kill -9`` of the process; not a power cut.
* ``fsync``: done by :meth:`~SessionRecorder.flush` at most once per
  ``fsync_interval_s``, always at :meth:`~SessionRecorder.close` and on
  :meth:`~SessionRecorder.sync`. Survives a power cut. On the board's flash (SD
  card or SPI NAND behind a flash translation layer) every fsync programs at least
  one page plus a filesystem journal commit, takes milliseconds to tens of
  milliseconds, and wears the flash: syncing each 100 ms flush would be 864 000
  commits a day. The default (5 s) bounds what a power cut can lose to about 5 s of
  data for about 17 000 commits a day; ``None`` leaves it to the kernel (about 30 s
  on Linux), ``0`` syncs on every flush.

A failed write, flush or fsync (``ENOSPC`` on a full card, ``EIO`` on a card pulled
out) stops the recording instead of raising: :attr:`SessionRecorder.stopped` turns
true, :attr:`SessionRecorder.stop_reason` says why, later writes are counted as
dropped, and what already reached the file stays readable (a record torn by the
failure is the reader's torn tail). Creating the file is the one step that raises.
"""

from __future__ import annotations

import errno
import io
import logging
import math
import os
import struct
import time
import zlib
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Union

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

#: First 8 bytes of every session file. The high-bit first byte catches a file
#: mangled by a 7-bit or text-mode copy.
MAGIC = b"\x93NIRSREC"
#: Start of every record.
SYNC = b"\xa5\x5a"
#: Default memory buffer before a write is forced, bytes.
DEFAULT_BUFFER_BYTES = 64 * 1024
#: Default time between fsyncs, seconds (see the module docstring for the trade-off).
DEFAULT_FSYNC_INTERVAL_S = 5.0

_HEADER = struct.Struct("<8sHHI")
_HEADER_BODY = struct.Struct("<8sHH")
_LEN = struct.Struct("<H")
_CRC = struct.Struct("<I")
_RECORD_OVERHEAD = len(SYNC) + _LEN.size + _CRC.size
_READ_CHUNK_BYTES = 64 * 1024

PathLike = Union[str, "os.PathLike[str]"]
log = logging.getLogger(__name__)


class SessionFileError(DeviceError, OSError):
    """A session file cannot be created, opened or understood; names the file.

    Args:
        path: The session file.
        problem: What is wrong, e.g. "not a session file".
        errno_: errno of the OSError behind it, if any.
    """

    def __init__(self, path: str, problem: str, errno_: int | None = None) -> None:
        self.message = f"session file {path}: {problem}"
        super().__init__(self.message)
        self.errno = errno_
        self.path = path

    def __str__(self) -> str:
        return self.message


def file_header(version: int = FORMAT_VERSION) -> bytes:
    """The 16-byte header that starts a session file of format ``version``."""
    body = _HEADER_BODY.pack(MAGIC, version, 0)
    return body + _CRC.pack(zlib.crc32(body))


def frame_record(record_bytes: bytes) -> bytes:
    """``record_bytes`` framed for the file: SYNC, length, the bytes, CRC32."""
    length = _LEN.pack(len(record_bytes))
    crc = zlib.crc32(record_bytes, zlib.crc32(length))
    return SYNC + length + record_bytes + _CRC.pack(crc)


def _describe_oserror(exc: OSError) -> str:
    name = errno.errorcode.get(exc.errno, "") if exc.errno is not None else ""
    text = exc.strerror or str(exc) or type(exc).__name__
    return f"{text} ({name})" if name else text


# -- writing ----------------------------------------------------------------------------------


@dataclass
class RecorderStats:
    """What the recorder did. Bytes include the file header and record framing."""

    records_written: int = 0  # handed to the kernel
    bytes_written: int = 0
    dropped_records: int = 0  # lost to a failure, or offered after the recording stopped
    flushes: int = 0
    fsyncs: int = 0


def fsync_directory(folder: PathLike) -> None:
    """Make a new or renamed entry in ``folder`` durable (POSIX; best effort elsewhere)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def new_session_path(folder: PathLike) -> str:
    """A path for a new session file in ``folder`` that no earlier session has:
    ``session-YYYYmmdd-HHMMSS-<n>.nrec``, ``n`` counting up from 0 past existing files
    (the board may have no RTC, so its clock can restart at the same time after a
    reboot, and the simulator can run twice within a second)."""
    stem = os.path.join(os.fspath(folder), time.strftime("session-%Y%m%d-%H%M%S"))
    n = 0
    while os.path.exists(f"{stem}-{n}.nrec"):
        n += 1
    return f"{stem}-{n}.nrec"


class SessionRecorder:
    """Record a session to an append-only, crash-safe file.

    Single-threaded: call it from the loop that produces the records.

    Args:
        path: File to create; it must not exist yet (a session is never appended
            to an older file).
        info: JSON-serialisable details for the header event (device id,
            configuration, model version...).
        fsync_interval_s: Least time between fsyncs done by :meth:`flush`,
            seconds; ``0`` on every flush, ``None`` only at close.
        buffer_bytes: Memory buffer; a :meth:`write` that fills it flushes.
        clock: Time source for the fsync interval and the header event's ``t_s``.
        file: An open binary file to write instead of creating ``path`` (``path``
            then only names it in messages). The recorder closes it.

    Raises:
        SessionFileError: The file cannot be created (exists, no directory,
            permission...).
        CodecError: ``info`` is not JSON-serialisable (no file is created).
    """

    def __init__(
        self,
        path: PathLike,
        *,
        info: dict[str, Any] | None = None,
        fsync_interval_s: float | None = DEFAULT_FSYNC_INTERVAL_S,
        buffer_bytes: int = DEFAULT_BUFFER_BYTES,
        clock: Clock | None = None,
        file: BinaryIO | None = None,
    ) -> None:
        self.path = os.fspath(path)
        if fsync_interval_s is not None and not (
            isinstance(fsync_interval_s, (int, float))
            and math.isfinite(fsync_interval_s)
            and fsync_interval_s >= 0
        ):
            raise ValueError(
                f"fsync_interval_s must be None or a number of seconds >= 0, "
                f"got {fsync_interval_s!r}"
            )
        if not (isinstance(buffer_bytes, int) and buffer_bytes >= 1):
            raise ValueError(f"buffer_bytes must be an integer >= 1, got {buffer_bytes!r}")
        self.fsync_interval_s = fsync_interval_s
        self.buffer_bytes = buffer_bytes
        self.stats = RecorderStats()
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._buf = bytearray()
        self._ends: list[int] = []  # end offset in _buf of each buffered record
        self._stop_reason: str | None = None
        self._closed = False
        # Encode the header event first: bad ``info`` raises before any file exists.
        details = {"unix_time_s": time.time(), **(info or {})}
        header_event = frame_record(encode(header_record(self._clock.monotonic(), **details)))
        created = file is None
        if file is None:
            try:
                file = open(self.path, "xb", buffering=0)  # noqa: SIM115 (closed by close())
            except OSError as exc:
                raise SessionFileError(
                    self.path, f"cannot create: {_describe_oserror(exc)}", exc.errno
                ) from exc
        self._file: BinaryIO | None = file
        self._last_fsync_s = self._clock.monotonic()
        self._buf += file_header()
        if self._drain() and self._fsync():
            if created:
                self._fsync_directory()
            self._buf += header_event
            self._ends.append(len(self._buf))
            self.flush()

    # -- state --

    @property
    def stopped(self) -> bool:
        """True once a failure has stopped the recording (it never restarts)."""
        return self._stop_reason is not None

    @property
    def stop_reason(self) -> str | None:
        """Why the recording stopped, naming the file; None while it runs."""
        return self._stop_reason

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def buffered_bytes(self) -> int:
        """Bytes written by :meth:`write` and not yet handed to the kernel."""
        return len(self._buf)

    # -- the three durability levels --

    def write(self, item: Record | Fields) -> bool:
        """Append a record to the buffer (a full buffer is flushed).

        Args:
            item: A :class:`~device.codec.Record`, or a Frame, ChainSample, Prediction
                or Event.

        Returns:
            True if the record was accepted; False if it was dropped because the
            recording has stopped (or stopped now).

        Raises:
            CodecError: ``item`` cannot be encoded (a bug in the caller).
            SessionFileError: The recorder is closed.
        """
        if self._closed:
            raise SessionFileError(self.path, "write after close")
        if self._stop_reason is not None:
            self.stats.dropped_records += 1
            return False
        self._buf += frame_record(encode(item))
        self._ends.append(len(self._buf))
        if len(self._buf) >= self.buffer_bytes:
            return self.flush()
        return True

    def flush(self) -> bool:
        """Hand buffered records to the kernel; fsync if ``fsync_interval_s`` has passed.

        Returns:
            False if the recording is (now) stopped.
        """
        if self._closed or self._stop_reason is not None:
            return False
        if not (self._drain() and self._flush_file()):
            return False
        interval = self.fsync_interval_s
        if interval is not None and self._clock.monotonic() - self._last_fsync_s >= interval:
            return self._fsync()
        return True

    def sync(self) -> bool:
        """Flush and fsync now, whatever the interval. False if the recording is stopped."""
        if self._closed or self._stop_reason is not None:
            return False
        return self._drain() and self._flush_file() and self._fsync()

    def close(self) -> None:
        """Flush, fsync and close the file. Safe to call twice; never raises on I/O."""
        if self._closed:
            return
        try:
            if self._stop_reason is None:
                self.sync()
        finally:
            self._closed = True
            self._close_file()

    def __enter__(self) -> SessionRecorder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "stopped" if self.stopped else "recording"
        return f"SessionRecorder({self.path!r}, {state}, {self.stats.records_written} records)"

    # -- internals --

    def _drain(self) -> bool:
        if not self._buf:
            return True
        data = bytes(self._buf)
        done = 0
        try:
            while done < len(data):
                n = self._file.write(data[done:])  # type: ignore[union-attr]
                if n is None:  # a buffered file object wrote it all
                    n = len(data) - done
                if n <= 0:
                    raise OSError(errno.EIO, "the file accepted no bytes")
                done += n
        except OSError as exc:
            complete = bisect_right(self._ends, done)
            self.stats.records_written += complete
            self.stats.bytes_written += done
            self._stop(
                f"write failed: {_describe_oserror(exc)}", lost_records=len(self._ends) - complete
            )
            return False
        self.stats.records_written += len(self._ends)
        self.stats.bytes_written += done
        self._buf.clear()
        self._ends.clear()
        return True

    def _flush_file(self) -> bool:
        try:
            self._file.flush()  # type: ignore[union-attr]
        except OSError as exc:
            self._stop(f"flush failed: {_describe_oserror(exc)}", lost_records=0)
            return False
        self.stats.flushes += 1
        return True

    def _fsync(self) -> bool:
        try:
            fd = self._file.fileno()  # type: ignore[union-attr]
        except (AttributeError, io.UnsupportedOperation):
            fd = None  # not a real file (tests): nothing to sync
        if fd is not None:
            try:
                os.fsync(fd)
            except OSError as exc:
                self._stop(f"fsync failed: {_describe_oserror(exc)}", lost_records=0)
                return False
            self.stats.fsyncs += 1
        self._last_fsync_s = self._clock.monotonic()
        return True

    def _fsync_directory(self) -> None:
        fsync_directory(os.path.dirname(os.path.abspath(self.path)))

    def _stop(self, reason: str, *, lost_records: int) -> None:
        self.stats.dropped_records += lost_records
        self._buf.clear()
        self._ends.clear()
        self._stop_reason = (
            f"session file {self.path}: {reason}; recording stopped after "
            f"{self.stats.records_written} records ({self.stats.bytes_written} bytes), "
            "which stay readable"
        )
        log.error("%s", self._stop_reason)
        self._close_file()

    def _close_file(self) -> None:
        file, self._file = self._file, None
        if file is None:
            return
        try:
            file.close()
        except OSError as exc:
            if self._stop_reason is None:
                self._stop_reason = (
                    f"session file {self.path}: close failed: {_describe_oserror(exc)}; "
                    "the last records may not have reached the disk"
                )
                log.error("%s", self._stop_reason)


# -- reading ----------------------------------------------------------------------------------

#: How many damaged regions a :class:`ReadReport` lists by offset (all are counted).
MAX_LISTED_REGIONS = 100
#: How many of them :meth:`ReadReport.describe` names in its one line.
_DESCRIBED_REGIONS = 3


@dataclass
class ReadReport:
    """What reading a session file found.

    Attributes:
        path: The file.
        format_version: Format the records were read in: from the file header, or,
            when the header is damaged, from the header event if it survived, else
            :data:`~device.codec.FORMAT_VERSION` (``version_assumed``). None if the
            file ended inside its header.
        header_damage: Why the 16-byte file header could not be used (missing,
            wrong magic, CRC mismatch); None if it was intact. The records are read
            anyway.
        version_assumed: True if ``format_version`` is the current one, assumed
            because the header was damaged and no header event said which.
        records: Records returned.
        tail_bytes_discarded: Bytes after the last good record (a torn last record,
            or zeros a power cut left); normal after a crash.
        skipped_bytes: Bytes of corruption before or between good records (a
            damaged header included).
        corrupt_regions: How many separate runs of corruption were skipped.
        regions: ``(offset, length)`` in bytes of the first :data:`MAX_LISTED_REGIONS`
            of those runs, in file order.
        undecodable_records: Records whose CRC was right but whose content the codec
            rejected (e.g. an unknown kind); skipped.
        file_bytes: Size of the file, bytes.
    """

    path: str
    format_version: int | None = None
    header_damage: str | None = None
    version_assumed: bool = False
    records: int = 0
    tail_bytes_discarded: int = 0
    skipped_bytes: int = 0
    corrupt_regions: int = 0
    regions: list[tuple[int, int]] = field(default_factory=list)
    undecodable_records: int = 0
    file_bytes: int = 0

    @property
    def intact(self) -> bool:
        """True if every byte of the file was a good record."""
        return not (
            self.tail_bytes_discarded
            or self.skipped_bytes
            or self.undecodable_records
            or self.format_version is None
            or self.header_damage
        )

    @property
    def start_damaged(self) -> bool:
        """True if damage reached the start of the file: its header, or its first record
        (the header event, in every file :class:`SessionRecorder` writes)."""
        return self.header_damage is not None or (
            bool(self.regions) and self.regions[0][0] <= _HEADER.size
        )

    def describe(self) -> str:
        """One line for a log or a host's report, naming the file."""
        return f"{self.path}: {self.summary()}"

    def summary(self) -> str:
        """:meth:`describe` without the file name: counts, and where the damage was."""
        text = f"{self.records} records"
        if self.format_version is None:
            return f"{text}; the file ends inside its header ({self.tail_bytes_discarded} bytes)"
        if self.header_damage:
            how = (
                "assumed: the current one, no header event says otherwise"
                if self.version_assumed
                else "as its header event says"
            )
            text += f"; {self.header_damage}: read as format version {self.format_version} ({how})"
        if self.skipped_bytes:
            shown = [f"bytes {offset}-{offset + length - 1}" for offset, length in self.regions]
            more = self.corrupt_regions - min(len(shown), _DESCRIBED_REGIONS)
            where = ", ".join(shown[:_DESCRIBED_REGIONS]) + (f" and {more} more" if more else "")
            text += (
                f"; {self.skipped_bytes} corrupt bytes skipped in "
                f"{self.corrupt_regions} place(s) ({where})"
            )
        if self.tail_bytes_discarded:
            text += (
                f"; {self.tail_bytes_discarded} bytes after the last good record discarded "
                f"(from byte {self.file_bytes - self.tail_bytes_discarded}: a torn last record, "
                "or blocks a power cut left unwritten)"
            )
        if self.undecodable_records:
            text += f"; {self.undecodable_records} undecodable records skipped"
        return text

    def _skipped(self, offset: int, length: int) -> None:
        self.skipped_bytes += length
        self.corrupt_regions += 1
        if len(self.regions) < MAX_LISTED_REGIONS:
            self.regions.append((offset, length))


class SessionReader:
    """Read a session file record by record, in bounded memory.

    Iterating yields :class:`~device.codec.Record` objects; :attr:`report` is
    complete once the iteration ends. Damage anywhere costs only the records it
    touches, and never raises: a torn tail is discarded, corruption is skipped
    (the reader resynchronises on a SYNC whose length and CRC32 check out), and a
    damaged or missing file header is reported in :attr:`ReadReport.header_damage`
    while the records are read anyway, from the first byte on, in the format
    version the header event gives (else the current one, said so).

    Args:
        path: The session file.

    Raises:
        SessionFileError: The file cannot be opened; or it has no valid header and
            not one record (not a session file); or its intact header, or the header
            event of a file whose header is damaged, names a format version this
            code does not read.
    """

    def __init__(self, path: PathLike) -> None:
        self.path = os.fspath(path)
        self.report = ReadReport(self.path)
        self._version: int | None = None
        self._records: Iterator[Record] = iter(())
        self._first: Record | None = None  # found while checking a damaged header
        self._all_zero = True  # every byte read so far is 0 (for the error message)
        try:
            self._file: BinaryIO | None = open(self.path, "rb")  # noqa: SIM115
        except OSError as exc:
            raise SessionFileError(
                self.path, f"cannot open: {_describe_oserror(exc)}", exc.errno
            ) from exc
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    def _open(self) -> None:
        head = self._file.read(_HEADER.size)  # type: ignore[union-attr]
        report = self.report
        damage = None
        if len(head) < _HEADER.size:
            if head == MAGIC[: len(head)] or head[: len(MAGIC)] == MAGIC:
                # A crash while the header was being written: an empty session.
                report.tail_bytes_discarded = report.file_bytes = len(head)
                return
            damage = f"no file header (the file is {len(head)} bytes, starting {head[:8]!r})"
        else:
            magic, version, _flags, crc = _HEADER.unpack(head)
            if magic != MAGIC:
                damage = f"no file header (the file starts with {magic!r}, not {MAGIC!r})"
            elif zlib.crc32(head[: _HEADER_BODY.size]) != crc:
                damage = "the file header is corrupt (CRC mismatch)"
            else:
                try:
                    self._version = check_version(version, source="the file")
                except CodecError as exc:
                    raise SessionFileError(self.path, str(exc)) from exc
                report.format_version = version
                self._records = self._scan(_HEADER.size)
                return
        # The header is damaged: read every byte from the start as records, in the current
        # format unless the header event says otherwise, and call it a session file only
        # if at least one record is found.
        report.header_damage = damage
        report.format_version = self._version = FORMAT_VERSION
        report.version_assumed = True
        self._file.seek(0)  # type: ignore[union-attr]
        self._records = self._scan(0)
        self._first = next(self._records, None)
        if self._first is None:
            zeros = " (all zero: blocks a power cut left unwritten?)" if self._all_zero else ""
            found = (
                f"; {report.undecodable_records} CRC-checked records of a kind this software "
                "does not read"
                if report.undecodable_records
                else ""
            )
            raise SessionFileError(
                self.path,
                f"not a session file: {damage}, and none of its {report.file_bytes} bytes"
                f"{zeros} holds a record{found}",
            )

    def __iter__(self) -> Iterator[Record]:
        first, self._first = self._first, None
        if first is not None:
            yield first
        yield from self._records

    def _scan(self, start: int) -> Iterator[Record]:
        """Records from file offset ``start`` on, skipping and counting damage."""
        report = self.report
        buf = bytearray()
        base = start  # file offset of buf[0]
        pos = 0  # first byte of buf not yet accounted for
        junk = 0  # bytes skipped since the last good record: buf[pos - junk : pos]
        eof = False
        while True:
            while True:
                i = buf.find(SYNC, pos)
                if i < 0:
                    # Keep a last byte that may be the first half of a SYNC.
                    keep = 1 if not eof and buf[-1:] == SYNC[:1] else 0
                    junk += len(buf) - keep - pos
                    pos = len(buf) - keep
                    break
                junk += i - pos
                pos = i
                if len(buf) - i < len(SYNC) + _LEN.size:
                    if not eof:
                        break  # need more bytes
                    junk, pos = junk + 1, i + 1
                    continue
                (length,) = _LEN.unpack_from(buf, i + len(SYNC))
                end = i + _RECORD_OVERHEAD + length
                if length == 0:
                    junk, pos = junk + 1, i + 1
                    continue
                if len(buf) < end:
                    if not eof:
                        break
                    junk, pos = junk + 1, i + 1  # torn, or a false SYNC: look further
                    continue
                body = bytes(buf[i + len(SYNC) : end - _CRC.size])
                if zlib.crc32(body) != _CRC.unpack_from(buf, end - _CRC.size)[0]:
                    junk, pos = junk + 1, i + 1
                    continue
                if junk:
                    report._skipped(base + i - junk, junk)
                    junk = 0
                pos = end
                try:
                    record = decode(memoryview(body)[_LEN.size :], version=self._version)
                except CodecError:
                    report.undecodable_records += 1
                    continue
                if report.version_assumed:
                    self._take_version(record)
                report.records += 1
                yield record
            if eof or self._file is None:
                break
            del buf[:pos]
            base += pos
            pos = 0
            chunk = self._file.read(_READ_CHUNK_BYTES)
            if chunk:
                buf += chunk
                if self._all_zero and chunk.count(0) != len(chunk):
                    self._all_zero = False
            else:
                eof = True
        report.tail_bytes_discarded = junk
        report.file_bytes = base + len(buf)

    def _take_version(self, record: Record) -> None:
        """With a damaged file header, the header event says the format version."""
        fields = record.fields
        if not (
            record.kind is RecordKind.EVENT
            and fields.name == HEADER_EVENT
            and "format_version" in fields.data
        ):
            return
        try:
            version = check_version(fields.data["format_version"], source="its header event")
        except CodecError as exc:
            raise SessionFileError(self.path, f"{self.report.header_damage}, and {exc}") from exc
        self._version = self.report.format_version = version
        self.report.version_assumed = False

    def close(self) -> None:
        """Close the file. Safe to call twice."""
        file, self._file = self._file, None
        if file is not None:
            file.close()

    def __enter__(self) -> SessionReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@dataclass
class SessionData:
    """Everything recovered from a session file."""

    records: list[Record] = field(default_factory=list)
    report: ReadReport = field(default_factory=lambda: ReadReport(""))


def read_session_file(path: PathLike) -> SessionData:
    """Every good record of a session file, and a report of what was discarded and where.

    Damage costs only the records it touches and does not raise: a torn last record
    (crash, power cut, full disk) is counted in ``report.tail_bytes_discarded``;
    corruption before, between or instead of records in ``report.skipped_bytes``
    and ``report.regions``; a damaged file header in ``report.header_damage``.

    Raises:
        SessionFileError: Not a session file (no valid header and no record), an
            unknown format version, or the file cannot be opened.
    """
    with SessionReader(path) as reader:
        records = list(reader)
    return SessionData(records, reader.report)


__all__ = [
    "DEFAULT_BUFFER_BYTES",
    "DEFAULT_FSYNC_INTERVAL_S",
    "MAGIC",
    "MAX_LISTED_REGIONS",
    "MAX_RECORD_BYTES",
    "SYNC",
    "ReadReport",
    "RecorderStats",
    "SessionData",
    "SessionFileError",
    "SessionReader",
    "SessionRecorder",
    "file_header",
    "frame_record",
    "read_session_file",
]
