"""Session recorder: the board's append-only, crash-safe record of one session.

:class:`SessionRecorder` writes a session file in the format of
:mod:`device.session_format` (a 16-byte header, then records framed by a SYNC, their
length and a CRC32); :func:`device.session_reader.read_session_file` reads it back.
The board only writes, so this module and the format are all it loads of the two.

Crash safety: records are only ever appended, and each carries its length and CRC.
A kill or power cut mid-write leaves at most one torn record at the end, which the
reader discards, counting the bytes, while it returns every complete record before
it; damage anywhere else costs the reader only the records it touches.

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
import time
from bisect import bisect_right
from dataclasses import dataclass
from typing import Any, BinaryIO

from device.clock import Clock, SystemClock
from device.codec import Fields, Record, encode, header_record
from device.session_format import (
    PathLike,
    SessionFileError,
    describe_oserror,
    file_header,
    frame_record,
)

#: Default memory buffer before a write is forced, bytes.
DEFAULT_BUFFER_BYTES = 64 * 1024
#: Default time between fsyncs, seconds (see the module docstring for the trade-off).
DEFAULT_FSYNC_INTERVAL_S = 5.0

log = logging.getLogger(__name__)


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
                    self.path, f"cannot create: {describe_oserror(exc)}", exc.errno
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
                f"write failed: {describe_oserror(exc)}", lost_records=len(self._ends) - complete
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
            self._stop(f"flush failed: {describe_oserror(exc)}", lost_records=0)
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
                self._stop(f"fsync failed: {describe_oserror(exc)}", lost_records=0)
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
                    f"session file {self.path}: close failed: {describe_oserror(exc)}; "
                    "the last records may not have reached the disk"
                )
                log.error("%s", self._stop_reason)


__all__ = [
    "DEFAULT_BUFFER_BYTES",
    "DEFAULT_FSYNC_INTERVAL_S",
    "RecorderStats",
    "SessionRecorder",
    "fsync_directory",
    "new_session_path",
]
