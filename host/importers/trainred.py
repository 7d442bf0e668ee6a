"""Train.Red FYER: the CSV that the Train.Red app exports for a session.

The layout, as real exports show it (mnirs' ``train.red_intervals.csv``, app export of
May 2025, and its test file ``train.red-mre.csv``, August 2025)::

    Train.Red Export for,Session at 2025-08-05 4:23 p.m.
    -------------------------------------------------------------
    Measurement Date,2025-08-05T16:23:59.399184          (2025-08 exports)
    Number of Sensors,2                                    (2025-08 exports)
    ...                  (session summary, then a "Lap N" block per lap: Start, End, ...)
    Sensor 1,Train.Red FYER
    -------------------------------------------------------------
    Sensor DataType,expertV13
    Sensor ID,Train.Red FYER 0702
    Sensor Position,quadVLRight
    Initial TSI,64.20
    Initial o2Hb,88.12
    Initial HHb,53.89
    ...                  (then that sensor's "Lap N" blocks)
    Sensor 2,Train.Red FYER
    ...
    ,,,Train.Red FYER 0702,,,,,,Train.Red FYER 0673,,,
    Timestamp (seconds passed),Lap/Event,,SmO2,SmO2 unfiltered,O2HB unfiltered,...,,SmO2,...
    0.04,0,,64.40,64.98,2.39,...,,62.98,...

One row per sample at about 10 Hz, with irregular and repeated time stamps (the app
writes what its Bluetooth link delivers); each sensor's columns are a group after an
empty column, under its Sensor ID. ``SmO2`` (filtered by the app) and ``SmO2
unfiltered`` are %; ``O2HB unfiltered`` and ``HHb unfiltered`` are µM changes from the
start values the sensor block gives (real exports show them near 0 while ``Initial o2Hb``
is about 90 µM); ``THb unfiltered`` and ``HBDiff`` are µM absolute (start value plus
change: 88.12 + 53.89 + 2.39 + 0.77 = 145.17 in the August 2025 file); ``Muscle state``
and ``Muscle trend`` are the app's categories.

What is done: one recording per sensor, labelled by its Sensor ID; times as the file gives
them (seconds since the session started); samples sharing a stamp merged, dropouts kept
as gaps, empty and "sensor off" cells NaN (each said in the notes); each lap of the
``Lap/Event`` column becomes an interval ``"Lap N"`` (a text event, an interval named by
it). Metadata: device, sensor ID, data type (the sensor's data version, e.g.
``expertV13``), firmware, body position, start values. The file gives no time zone, so
``start_utc`` is None and the local start is metadata.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from host.importers._common import (
    build_time_base,
    check_times,
    delimiter_notes,
    marker_intervals,
    parse_channels,
    parse_numbers,
    slug,
    sniff_delimiter,
    split_rows,
    table,
    uses_decimal_comma,
)
from host.recording import Channel, Recording
from host.session import UNKNOWN, DatasetError, MetadataValue

__all__ = ["FORMAT", "is_trainred", "read_trainred"]

FORMAT = "trainred-csv"
#: The first cell of the file's first line, and of the column-header row.
TITLE = "train.red export"
TIME_COLUMN = "timestamp (seconds passed)"
_SENSOR_BLOCK = re.compile(r"^sensor\s+(\d+)$", re.IGNORECASE)
_SUB_BLOCK = re.compile(r"^(lap\s+\d+|muscle states)$", re.IGNORECASE)
#: Sensor-block keys kept as metadata, with the unit their values are in.
_SENSOR_KEYS = {
    "sensor datatype": ("data_type", None),
    "sensor id": ("sensor_id", None),
    "mac address": ("mac_address", None),
    "firmware version": ("firmware_version", None),
    "sensor position": ("body_position", None),
    "initial tsi": ("initial_smo2_percent", float),
    "initial hbdiff": ("initial_hbdiff_um", float),
    "initial o2hb": ("initial_hbo2_um", float),
    "initial hhb": ("initial_hhb_um", float),
    "filter id": ("filter_id", None),
}
_SESSION_KEYS = {
    "train.red export for": "session",
    "measurement date": "start_local_time",
    "type": "session_type",
    "sport": "sport",
    "focus": "focus",
    "number of sensors": "number_of_sensors",
    "measurement duration": "measurement_duration",
}


def is_trainred(lines: list[str]) -> bool:
    """Whether ``lines`` (the file's first lines) begin a Train.Red export."""
    first = next((ln for ln in lines if ln.strip()), "")
    if first.strip().strip('"').lower().startswith(TITLE):
        return True
    return any(ln.strip().strip('"').lower().startswith(TIME_COLUMN) for ln in lines)


def _quantity(name: str) -> tuple[str, str, bool]:
    """``(quantity, unit, relative)`` of a data column."""
    low = name.lower().replace("unfiltered", "").strip()
    if low.startswith("smo2") or low.startswith("tsi"):
        return "smo2", "%", False
    if low.startswith(("o2hb", "hbo2")):
        return "hbo2", "uM", True
    if low.startswith("hhb"):
        return "hhb", "uM", True
    if low.startswith("thb"):
        return "thb", "uM", False
    if low.startswith("hbdiff"):
        return "other", "uM", False
    if low.startswith("muscle"):
        return "other", "1", False
    return "other", "a.u.", False


def read_trainred(path: str | os.PathLike, text: str) -> list[Recording]:
    """Every sensor's recording in a Train.Red app export.

    Raises
    ------
    DatasetError
        Naming the file and the line: no column header, a column named twice in one
        sensor's columns, a row with fewer cells than the header, a number that is not one.
    """
    path = Path(path)
    lines = text.splitlines()
    h = next(
        (i for i, ln in enumerate(lines) if ln.strip().strip('"').lower().startswith(TIME_COLUMN)),
        None,
    )
    if h is None:
        raise DatasetError(path, "no column-header row starting 'Timestamp (seconds passed)'")
    delimiter = sniff_delimiter(lines[h])
    session, sensors = _header_blocks(split_rows(lines[:h], delimiter, 1))
    # The row above the header names each sensor's group (",,,Train.Red FYER 0702,,,...").
    above = split_rows(lines[h - 1 : h], delimiter, h) if h else []
    ids_row = above[0][1] if above and above[0][1] and not above[0][1][0].strip() else []
    header, body = table(path, lines, h, delimiter)
    line_numbers = [n for n, _ in body]
    column = [[cells[i] for _, cells in body] for i in range(len(header))]
    decimal_comma = uses_decimal_comma((c for col in column[1:] for c in col[:50]), delimiter)
    t = parse_numbers(
        column[0], column=header[0], lines=line_numbers, path=path, decimal_comma=decimal_comma
    )
    if t.missing:
        k = int(np.flatnonzero(np.isnan(t.values))[0])
        raise DatasetError(
            path, f"line {line_numbers[k]}: {header[0]!r} is {column[0][k]!r}, expected seconds"
        )
    check_times(path, t.values, line_numbers, column[0], column=header[0])
    lap_col = next((i for i, name in enumerate(header) if "lap" in name.lower()), None)
    groups = _sensor_groups(header, skip={0, lap_col})
    for group in groups:
        names = [header[i] for i in group]
        twice = next((name for name in names if names.count(name) > 1), None)
        if twice is not None:
            raise DatasetError(
                path,
                f"line {h + 1}: the column {twice!r} appears {names.count(twice)} times in one "
                "sensor's columns; each column of a sensor must have its own name (e.g. "
                "'SmO2' and 'SmO2 unfiltered')",
            )

    notes_all = ["times are the file's 'seconds passed' since the session started"]
    notes_all += delimiter_notes(delimiter, decimal_comma)
    recordings = []
    labels: list[str] = []
    for k, group in enumerate(groups):
        sensor_id = ids_row[group[0]].strip() if group[0] < len(ids_row) else ""
        # The sensor block with this ID (the second such block for the second group under
        # one ID), else the k-th block.
        matches = [b for b in sensors if sensor_id and b.get("sensor_id") == sensor_id]
        nth = labels.count(sensor_id)
        block = matches[nth] if nth < len(matches) else None
        if block is None and k < len(sensors):
            block = sensors[k]
        block = block or {}
        named = sensor_id or str(block.get("sensor_id") or k + 1)
        notes = list(notes_all)
        label = named if named not in labels else f"{named} ({labels.count(named) + 1})"
        if label != named:
            # Two groups under one Sensor ID: their outputs would overwrite each other.
            notes.append(
                f"sensor {k + 1} has the same Sensor ID as an earlier one ({named!r}): "
                f"labelled {label!r}"
            )
        labels.append(named)
        kinds = [_quantity(header[i]) for i in group]
        values, parsed = parse_channels(
            [(header[i], column[i], q, u) for i, (q, u, _) in zip(group, kinds)],
            lines=line_numbers,
            path=path,
            decimal_comma=decimal_comma,
        )
        notes.extend(parsed)
        counters = [q == "other" and u == "1" for q, u, _ in kinds]
        base = build_time_base(t.values, values, keep_first=counters)
        notes.extend(base.notes)
        channels = [
            Channel(header[i], quantity, unit, v, relative)
            for i, (quantity, unit, relative), v in zip(group, kinds, base.columns)
        ]
        intervals = ()
        if lap_col is not None:
            intervals = marker_intervals(
                t.values,
                column[lap_col],
                end_s=float(base.t_s[-1]),
                on_change=True,
                prefix="Lap ",
            )
        metadata: dict[str, MetadataValue] = {"export": "Train.Red app CSV", **session, **block}
        recordings.append(
            Recording(
                source=path,
                format=FORMAT,
                sensor=label,
                t_s=base.t_s,
                channels=tuple(channels),
                intervals=intervals,
                provenance=UNKNOWN,
                start_utc=None,
                metadata=metadata,
                notes=tuple(notes),
            )
        )
    if not recordings:
        raise DatasetError(path, f"line {h + 1}: the column header names no sensor's columns")
    return recordings


def _sensor_groups(header: list[str], skip: set) -> list[list[int]]:
    """Column indices of each sensor: runs of named columns between empty ones."""
    groups: list[list[int]] = []
    current: list[int] = []
    for i, name in enumerate(header):
        if i in skip:
            continue
        if name:
            current.append(i)
        elif current:
            groups.append(current)
            current = []
    if current:
        groups.append(current)
    return groups


def _header_blocks(
    rows: list[tuple[int, list[str]]],
) -> tuple[dict[str, MetadataValue], list[dict[str, MetadataValue]]]:
    """The session's facts and each sensor block's, from the lines above the data."""
    session: dict[str, MetadataValue] = {}
    sensors: list[dict[str, MetadataValue]] = []
    current: dict[str, MetadataValue] | None = session
    for _, cells in rows:
        cells = [c.strip() for c in cells]
        key = cells[0] if cells else ""
        value = cells[1] if len(cells) > 1 else ""
        if not key or set(key) <= {"-"}:
            continue
        if _SENSOR_BLOCK.match(key):
            current = {"device": value or "Train.Red"}
            sensors.append(current)
        elif _SUB_BLOCK.match(key):
            current = None  # a lap or muscle-state summary: the data hold the same
        elif current is session and key.lower() in _SESSION_KEYS and value:
            session[_SESSION_KEYS[key.lower()]] = value
        elif current is not None and current is not session and key.lower() in _SENSOR_KEYS:
            name, kind = _SENSOR_KEYS[key.lower()]
            if value:
                try:
                    current[name] = kind(value.replace(",", ".")) if kind else value
                except ValueError:
                    current[name] = value
    if "device" not in session and sensors:
        session["device"] = str(sensors[0]["device"])
    session.setdefault("device", "Train.Red")
    return session, [{slug(k): v for k, v in s.items()} for s in sensors]
