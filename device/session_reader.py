"""Session file reader: every good record of a session file, and where it was damaged.

Reads the files :class:`device.recorder.SessionRecorder` writes (the format, its
header and record framing, is :mod:`device.session_format`'s). For hosts, tests and
tools: the board only writes, so it never imports this module.

Damage costs only the records it touches, and reading never raises for it. A kill or
power cut mid-write leaves at most one torn record at the end: :func:`read_session_file`
returns every complete record before it and counts the bytes it discarded. Damage
anywhere else (a bad flash page, a run of zeros a power cut left, bytes inserted or
lost) is skipped: the reader scans forward for the next SYNC whose length and CRC check
out and goes on, counting the skipped bytes and listing where they were. A record is
only ever taken whole, so payload bytes of a good record are never read as a record
start. The file header needs no trust either: if it is damaged or missing, the reader
says so and reads records from the first byte, in the format version the header event
gives (else the current one); only a file with neither a header nor one record is "not a
session file".
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from device.codec import (
    FORMAT_VERSION,
    HEADER_EVENT,
    CodecError,
    Record,
    RecordKind,
    check_version,
    decode,
)
from device.session_format import (
    CRC32,
    FILE_HEADER,
    FILE_HEADER_BODY,
    MAGIC,
    RECORD_LENGTH,
    RECORD_OVERHEAD,
    SYNC,
    PathLike,
    SessionFileError,
    describe_oserror,
)

#: Bytes read from the file at a time.
_READ_CHUNK_BYTES = 64 * 1024

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
        (the header event, in every file :class:`device.recorder.SessionRecorder` writes)."""
        return self.header_damage is not None or (
            bool(self.regions) and self.regions[0][0] <= FILE_HEADER.size
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
                self.path, f"cannot open: {describe_oserror(exc)}", exc.errno
            ) from exc
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    def _open(self) -> None:
        head = self._file.read(FILE_HEADER.size)  # type: ignore[union-attr]
        report = self.report
        damage = None
        if len(head) < FILE_HEADER.size:
            if head == MAGIC[: len(head)] or head[: len(MAGIC)] == MAGIC:
                # A crash while the header was being written: an empty session.
                report.tail_bytes_discarded = report.file_bytes = len(head)
                return
            damage = f"no file header (the file is {len(head)} bytes, starting {head[:8]!r})"
        else:
            magic, version, _flags, crc = FILE_HEADER.unpack(head)
            if magic != MAGIC:
                damage = f"no file header (the file starts with {magic!r}, not {MAGIC!r})"
            elif zlib.crc32(head[: FILE_HEADER_BODY.size]) != crc:
                damage = "the file header is corrupt (CRC mismatch)"
            else:
                try:
                    self._version = check_version(version, source="the file")
                except CodecError as exc:
                    raise SessionFileError(self.path, str(exc)) from exc
                report.format_version = version
                self._records = self._scan(FILE_HEADER.size)
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
                if len(buf) - i < len(SYNC) + RECORD_LENGTH.size:
                    if not eof:
                        break  # need more bytes
                    junk, pos = junk + 1, i + 1
                    continue
                (length,) = RECORD_LENGTH.unpack_from(buf, i + len(SYNC))
                end = i + RECORD_OVERHEAD + length
                if length == 0:
                    junk, pos = junk + 1, i + 1
                    continue
                if len(buf) < end:
                    if not eof:
                        break
                    junk, pos = junk + 1, i + 1  # torn, or a false SYNC: look further
                    continue
                body = bytes(buf[i + len(SYNC) : end - CRC32.size])
                if zlib.crc32(body) != CRC32.unpack_from(buf, end - CRC32.size)[0]:
                    junk, pos = junk + 1, i + 1
                    continue
                if junk:
                    report._skipped(base + i - junk, junk)
                    junk = 0
                pos = end
                try:
                    record = decode(memoryview(body)[RECORD_LENGTH.size :], version=self._version)
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
    "MAX_LISTED_REGIONS",
    "ReadReport",
    "SessionData",
    "SessionReader",
    "read_session_file",
]
