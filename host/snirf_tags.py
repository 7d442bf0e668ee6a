"""The metaDataTags of another tool's SNIRF file (:mod:`host.snirf_other`): the time
unit, the start date and time (SNIRF 1.1: MeasurementDate YYYY-MM-DD, MeasurementTime
hh:mm:ss.sTZD), and the other tags as metadata. What cannot be read is said in the
caller's ``notes`` and left unknown, never guessed."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import h5py

from host.session import UNKNOWN, MetadataValue
from host.snirf_reader import _FormatError, _read_number, _read_str

__all__ = ["metadata_tags", "start_time", "time_scale"]

#: Seconds in one TimeUnit (SNIRF 1.1 TimeUnit: "s", "ms"; "us" is µs).
_S_PER_TIME_UNIT = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "μs": 1e-6}
#: SNIRF 1.1 MeasurementTime: ISO 8601 hh:mm:ss.sTZD (fraction and zone optional here).
_TIME_RE = re.compile(r"(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})?")
#: The metaDataTags read into fields, not copied into metadata.
_DATE_TAGS = ("MeasurementDate", "MeasurementTime")


def time_scale(tags: h5py.Group, notes: list[str]) -> float:
    """Seconds in one unit of the file's times (TimeUnit; seconds when absent or
    'unknown', said in ``notes``). Raises ``_FormatError`` for another unit."""
    if "TimeUnit" not in tags:
        notes.append("no TimeUnit: times taken as seconds")
        return 1.0
    unit = _read_str(tags, "TimeUnit")
    if unit == UNKNOWN:  # Homer3's default
        notes.append("TimeUnit 'unknown': times taken as seconds (as MNE-Python does)")
        return 1.0
    if unit not in _S_PER_TIME_UNIT:
        raise _FormatError(
            f"{tags.name}/TimeUnit is {unit!r}; allowed: "
            f"{', '.join((*_S_PER_TIME_UNIT, UNKNOWN))}"
        )
    return _S_PER_TIME_UNIT[unit]


def start_time(tags: h5py.Group, notes: list[str]) -> datetime | None:
    """MeasurementDate + MeasurementTime (SNIRF 1.1: YYYY-MM-DD, hh:mm:ss.sTZD), UTC."""
    if any(t not in tags for t in _DATE_TAGS):
        notes.append("no MeasurementDate/MeasurementTime: start time unknown")
        return None
    try:
        date, time = (_read_str(tags, t) for t in _DATE_TAGS)
    except UnicodeDecodeError:
        notes.append(
            "MeasurementDate/MeasurementTime is not text (not valid UTF-8): start time unknown"
        )
        return None
    if UNKNOWN in (date, time):
        return None
    match = _TIME_RE.fullmatch(time)
    try:
        day = datetime.strptime(date, "%Y-%m-%d")
    except ValueError:
        match = None
    if match is None:
        notes.append(
            f"MeasurementDate/MeasurementTime {date!r} {time!r} are not YYYY-MM-DD and "
            "hh:mm:ss.sTZD: start time unknown"
        )
        return None
    hh, mm, ss, frac, zone = match.groups()
    try:
        start = day.replace(hour=int(hh), minute=int(mm), second=int(ss))
    except ValueError:  # e.g. 25:61:99: the right shape but not a time of day
        notes.append(
            f"MeasurementTime {time!r} is not a time of day (hh 00–23, mm 00–59, "
            "ss 00–59): start time unknown"
        )
        return None
    start += timedelta(seconds=float(frac or 0.0))
    if zone is None:
        notes.append("MeasurementTime has no time zone: taken as UTC (as MNE-Python does)")
        return start.replace(tzinfo=timezone.utc)
    if zone == "Z":
        return start.replace(tzinfo=timezone.utc)
    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return start.replace(tzinfo=timezone(sign * offset)).astimezone(timezone.utc)


def metadata_tags(tags: h5py.Group, notes: list[str]) -> dict[str, MetadataValue]:
    """Every tag that is one string or number (arrays of one too), but the date fields;
    a string that is not valid UTF-8 is left out and said in ``notes``."""
    out: dict[str, MetadataValue] = {}
    for key, node in tags.items():
        if key in _DATE_TAGS or not isinstance(node, h5py.Dataset) or node.size != 1:
            continue
        if node.dtype.kind in "OS":
            try:
                out[key] = _read_str(tags, key)
            except UnicodeDecodeError:
                notes.append(f"{node.name} is not text (not valid UTF-8): left out")
        elif node.dtype.kind in "iu":
            out[key] = int(_read_number(tags, key))
        elif node.dtype.kind == "f":
            out[key] = float(_read_number(tags, key))
    return out
