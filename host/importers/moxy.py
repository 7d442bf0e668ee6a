"""Moxy muscle oxygen monitor: the CSV that MoxyPC (and the Moxy Portal app) exports.

The layout, as real exports show it (mnirs' ``moxy_intervals.csv``, exported from a
Moxy's onboard recording; its ``moxy_ramp.xlsx``, two sensors through PerfPro Studio):
a few preamble lines (``FW Part Number: 2000195 v1.3``, ``LUT Part Number: ...``), then
a column-header row and one row per sample::

    mm-dd,hh:mm:ss,SmO2 Live,SmO2 Averaged,THb,Lap,Session Ct
    06-Feb,13:15:26,50,55,12.86,5,717

``hh:mm:ss`` is the time of day (whole seconds, or with a fraction in 2 Hz exports),
``mm-dd`` the date without a year; ``SmO2 Live`` and ``SmO2 Averaged`` (a rolling mean)
are %, ``THb`` is "a relative measure of the amount of hemoglobin" (Moxy owner's manual,
firmware 1.0+), kept in the device's arbitrary units; ``Lap`` numbers laps; a second
sensor's columns carry ``(2)`` (``SmO2 Live(2)``), a third's ``(3)``. Onboard recordings
are at 0.5 Hz; exports through other software at up to 2 Hz.

What is done: one recording per sensor (labelled by its number: ``"1"``, ``"2"``);
times from the first sample, a day added where the clock passes midnight; samples sharing
a stamp merged, dropouts kept as gaps, empty and "sensor off" cells NaN (each said in the
notes); each lap becomes an interval ``"Lap N"``. The file gives no year or time zone,
so ``start_utc`` is None and the local start (as written) is metadata.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from host.importers._common import (
    DELIMITERS,
    build_time_base,
    check_times,
    delimiter_notes,
    marker_intervals,
    parse_channels,
    slug,
    sniff_delimiter,
    table,
    uses_decimal_comma,
)
from host.recording import Channel, Recording
from host.session import UNKNOWN, DatasetError, MetadataValue

__all__ = ["FORMAT", "TIME_COLUMN", "is_moxy", "read_moxy"]

FORMAT = "moxy-csv"
#: The columns that identify the layout (mnirs' device pattern for Moxy is the same pair).
TIME_COLUMN = "hh:mm:ss"
SMO2_COLUMN = "SmO2 Live"
DATE_COLUMN = "mm-dd"
LAP_COLUMN = "Lap"
#: A column of the second, third... sensor: ``SmO2 Live(2)``.
_SENSOR_SUFFIX = re.compile(r"^(?P<base>.*?)\s*\((?P<n>\d+)\)$")
_SECONDS_PER_DAY = 86400.0
#: The clock passes midnight (a day is added) only where it goes from at most this long
#: before midnight to at most this long after it, s: 15 minutes, so that a dropout across
#: midnight is still followed (longer than a Moxy's onboard 2 s period by far) while a
#: clock set back at any other hour (13:01 → 00:01) is a jump, refused, not a new day.
MIDNIGHT_WINDOW_S = 900.0


def is_moxy(lines: list[str]) -> bool:
    """Whether one of ``lines`` (the file's first lines) is a Moxy column header."""
    return _header_index(lines) is not None


def _header_index(lines: list[str]) -> int | None:
    for i, line in enumerate(lines):
        if TIME_COLUMN in line and SMO2_COLUMN in line:
            return i
    return None


def _unit_and_quantity(base: str) -> tuple[str, str]:
    low = base.lower()
    if low.startswith("smo2"):
        return "smo2", "%"
    if low == "thb":
        return "thb", "a.u."
    if low in ("session ct", "session count"):
        return "other", "1"
    return "other", "a.u."


def read_moxy(path: str | os.PathLike, text: str) -> list[Recording]:
    """Every sensor's recording in a Moxy CSV export.

    Parameters
    ----------
    path : path-like
        The file (for messages and :attr:`Recording.source`).
    text : str
        Its decoded text.

    Raises
    ------
    DatasetError
        Naming the file and the line: a row with fewer cells than the header, a time
        that is not ``hh:mm:ss``, a number that is not one.
    """
    path = Path(path)
    lines = text.splitlines()
    h = _header_index(lines)
    if h is None:
        raise DatasetError(path, f"no column-header row with {TIME_COLUMN!r} and {SMO2_COLUMN!r}")
    delimiter = sniff_delimiter(lines[h])
    metadata = _preamble(lines[:h])
    header, body = table(path, lines, h, delimiter)
    if TIME_COLUMN not in header:
        shown = ", ".join(repr(c) for c in header[:12])
        raise DatasetError(
            path,
            f"line {h + 1}: no column named {TIME_COLUMN!r} (the header split on "
            f"{delimiter!r} gives {shown}); the time column must be named exactly "
            f"{TIME_COLUMN!r}, cells separated by one of " + ", ".join(repr(d) for d in DELIMITERS),
        )
    named = [c for c in header if c]
    for name in named:
        if named.count(name) > 1:
            raise DatasetError(
                path,
                f"line {h + 1}: the column {name!r} appears {named.count(name)} times; "
                "each column must have its own name (a second sensor's as "
                f"'{SMO2_COLUMN}(2)')",
            )
    line_numbers = [n for n, _ in body]
    columns = {name: [cells[i] for _, cells in body] for i, name in enumerate(header) if name}
    decimal_comma = uses_decimal_comma(
        (c for name, col in columns.items() if name != TIME_COLUMN for c in col[:50]), delimiter
    )

    t_raw, midnights = _times_of_day(path, columns[TIME_COLUMN], line_numbers)
    check_times(path, t_raw, line_numbers, columns[TIME_COLUMN], column=TIME_COLUMN)
    start = int(np.argmin(t_raw))
    date = columns.get(DATE_COLUMN, [""] * len(body))[start].strip()
    metadata["start_local_time"] = f"{date} {columns[TIME_COLUMN][start].strip()}".strip()
    t_raw = t_raw - t_raw[start]

    per_sensor: dict[str, dict[str, str]] = {}  # sensor -> {base name: column name}
    shared: dict[str, str] = {}
    suffixed_bases = {
        m["base"] for name in columns if (m := _SENSOR_SUFFIX.match(name)) is not None
    }
    for name in columns:
        if name in (TIME_COLUMN, DATE_COLUMN):
            continue
        m = _SENSOR_SUFFIX.match(name)
        if m is not None:
            per_sensor.setdefault(m["n"], {})[m["base"]] = name
        elif name in suffixed_bases or name.lower().startswith(("smo2", "thb")):
            per_sensor.setdefault("1", {})[name] = name
        else:
            shared[name] = name

    notes_all = ["times are the file's time of day, counted from the first sample"]
    notes_all += delimiter_notes(delimiter, decimal_comma)
    notes_all += [
        f"the clock passed midnight at line {n}: a day (86400 s) was added to the times from "
        "there on"
        for n in midnights
    ]
    recordings = []
    for sensor in sorted(per_sensor, key=int):
        own = per_sensor[sensor]
        laps = own.pop(LAP_COLUMN, None) or shared.get(LAP_COLUMN)
        chan_names = [*own.values(), *(c for c in shared.values() if c != LAP_COLUMN)]
        notes = list(notes_all)
        kinds = []
        for name in chan_names:
            base_name = _SENSOR_SUFFIX.match(name)
            kinds.append(_unit_and_quantity(base_name["base"] if base_name else name))
        values, parsed = parse_channels(
            [(name, columns[name], q, u) for name, (q, u) in zip(chan_names, kinds)],
            lines=line_numbers,
            path=path,
            decimal_comma=decimal_comma,
        )
        notes.extend(parsed)
        counters = [q == "other" and u == "1" for q, u in kinds]
        base = build_time_base(t_raw, values, keep_first=counters)
        notes.extend(base.notes)
        channels = [
            Channel(name, quantity, unit, v)
            for name, (quantity, unit), v in zip(chan_names, kinds, base.columns)
        ]
        intervals = ()
        if laps is not None:
            intervals = marker_intervals(
                t_raw, columns[laps], end_s=float(base.t_s[-1]), on_change=True, prefix="Lap "
            )
        recordings.append(
            Recording(
                source=path,
                format=FORMAT,
                sensor=sensor,
                t_s=base.t_s,
                channels=tuple(channels),
                intervals=intervals,
                provenance=UNKNOWN,
                start_utc=None,
                metadata=dict(metadata),
                notes=tuple(notes),
            )
        )
    return recordings


def _preamble(lines: list[str]) -> dict[str, MetadataValue]:
    """The facts above the header: ``FW Part Number: 2000195 v1.3`` → ``fw_part_number``."""
    metadata: dict[str, MetadataValue] = {"device": "Moxy", "export": "MoxyPC CSV"}
    for line in lines:
        key, sep, value = line.strip().partition(":")
        if sep and key.strip() and value.strip():
            metadata[slug(key)] = value.strip().strip(",;").strip()
    return metadata


def _times_of_day(path: Path, cells: list[str], lines: list[int]) -> tuple[np.ndarray, list[int]]:
    """``hh:mm:ss`` (``hh:mm:ss.ss``) cells as seconds, a day added at each midnight, and
    the lines where one was added.

    A step back by more than half a day is midnight only if the clock goes from within
    :data:`MIDNIGHT_WINDOW_S` before midnight to within it after; else it is refused.
    """
    out = np.empty(len(cells))
    for i, cell in enumerate(cells):
        parts = cell.strip().split(":")
        try:
            if len(parts) != 3:
                raise ValueError
            h, m, s = int(parts[0]), int(parts[1]), float(parts[2].replace(",", "."))
            if not (0 <= h < 24 and 0 <= m < 60 and 0 <= s < 61):
                raise ValueError
        except ValueError:
            raise DatasetError(
                path,
                f"line {lines[i]}: {TIME_COLUMN!r} is {cell!r}, expected a time of day hh:mm:ss",
            ) from None
        out[i] = h * 3600 + m * 60 + s
    steps = np.diff(out)
    jumps = np.flatnonzero(steps < -_SECONDS_PER_DAY / 2)
    for k in jumps:
        before, after = out[k], out[k + 1]
        if before < _SECONDS_PER_DAY - MIDNIGHT_WINDOW_S or after > MIDNIGHT_WINDOW_S:
            window = MIDNIGHT_WINDOW_S / 60
            raise DatasetError(
                path,
                f"line {lines[k + 1]}: the clock jumps back from {cells[k].strip()!r} "
                f"(line {lines[k]}) to {cells[k + 1].strip()!r}; a day is added only where it "
                f"passes midnight, from the last {window:g} min before to the first {window:g} "
                "min after",
            )
    days = np.concatenate(([0.0], np.cumsum(steps < -_SECONDS_PER_DAY / 2)))
    return out + days * _SECONDS_PER_DAY, [lines[k + 1] for k in jumps]
