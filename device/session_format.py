"""Session file format: the bytes the writer and the reader agree on, in one place.

Layout (little-endian)::

    header (16 bytes):  MAGIC (8) | format_version u16 | flags u16 (0) | CRC32 of those 12
    record, repeated:   SYNC a5 5a | length u16 | record bytes | CRC32 of length + record bytes

*Record bytes* are :mod:`device.codec`'s (kind byte + payload), the same bytes the
serial link carries. The first record is the codec's header event
(``format_version``, the Unix time, and whatever ``info`` the app gave, e.g. the
chain configuration). A FRAME costs 58 bytes on disk, so a session of frames
(43/s), samples (10/s) and predictions grows by about 3.3 kB/s, 12 MB/hour.

Each record carries its length and a CRC32 over length and record bytes, so a
reader can take a record only whole and find the next one after damage: a false
match needs the 16-bit SYNC *and* the 32-bit CRC to agree by chance (2**-32 per
SYNC-like pair of bytes in the damage).

The writer, :class:`device.recorder.SessionRecorder`, is what the board loads; the
reader, :func:`device.session_reader.read_session_file`, is for hosts and tests and
stays off the board (its memory counts in the emulated-board budget). Both take the
format from here.
"""

from __future__ import annotations

import errno
import os
import struct
import zlib
from typing import Union

from device.codec import FORMAT_VERSION
from device.errors import DeviceError

#: First 8 bytes of every session file. The high-bit first byte catches a file
#: mangled by a 7-bit or text-mode copy.
MAGIC = b"\x93NIRSREC"
#: Start of every record.
SYNC = b"\xa5\x5a"

#: The file header: MAGIC, format_version, flags, CRC32 of the first three.
FILE_HEADER = struct.Struct("<8sHHI")
#: The part of :data:`FILE_HEADER` its CRC32 covers.
FILE_HEADER_BODY = struct.Struct("<8sHH")
#: A record's length field, after SYNC.
RECORD_LENGTH = struct.Struct("<H")
#: A CRC32 as stored: after the header body, and after each record's bytes.
CRC32 = struct.Struct("<I")
#: Bytes a record costs on top of its record bytes.
RECORD_OVERHEAD = len(SYNC) + RECORD_LENGTH.size + CRC32.size

PathLike = Union[str, "os.PathLike[str]"]


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
    body = FILE_HEADER_BODY.pack(MAGIC, version, 0)
    return body + CRC32.pack(zlib.crc32(body))


def frame_record(record_bytes: bytes) -> bytes:
    """``record_bytes`` framed for the file: SYNC, length, the bytes, CRC32."""
    length = RECORD_LENGTH.pack(len(record_bytes))
    crc = zlib.crc32(record_bytes, zlib.crc32(length))
    return SYNC + length + record_bytes + CRC32.pack(crc)


def describe_oserror(exc: OSError) -> str:
    """``exc`` for a :class:`SessionFileError` message: its text and errno name."""
    name = errno.errorcode.get(exc.errno, "") if exc.errno is not None else ""
    text = exc.strerror or str(exc) or type(exc).__name__
    return f"{text} ({name})" if name else text


__all__ = [
    "CRC32",
    "FILE_HEADER",
    "FILE_HEADER_BODY",
    "MAGIC",
    "RECORD_LENGTH",
    "RECORD_OVERHEAD",
    "SYNC",
    "PathLike",
    "SessionFileError",
    "describe_oserror",
    "file_header",
    "frame_record",
]
