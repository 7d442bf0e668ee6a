"""Artinis OxySoft exports (.txt and .xlsx) of PortaMon, PortaLite and Oxymon recordings.

The layout, as real exports show it (nirsdexata's ``on_off_kinetics.txt``, a PortaMon at
10 Hz exported 2024; its ``ltshld_onoff.txt``, the same layout re-saved by a
spreadsheet: no colons, quoted cells; a two-PortaLite .xlsx whose legend prefixes each
trace with its device's serial, ``[9322] Rx1 - Tx1,Tx2,Tx3  TSI%``, followed by
``Event`` and ``Event text`` columns; mnirs' ``artinis_intervals.xlsx``, an Oxymon MkIII
recorded at 50 Hz and exported at 10 Hz)::

    OxySoft export of:          C:\\...\\Example_On_Off_Kinetics
    Export date:                2024/07/19 10:58:09
    Start of measurement:       2021-07-14 14:08:11.999
    Datafile sample rate:       10.00   Hz
    Optode-template:            PortaMon TSI Fit Factor
    Optode distance (mm):       35.00
    DPF:                        4.00
    Device id:                  1329
    Light source wavelengths:   (device, index, wavelength, nm rows)
    Export sample rate:         10.00   Hz
    Legend:
    Column  Trace (Measurement)
    1       (Sample number)
    2       Rx1-Tx1 O2Hb (LaLonde_Test_FP_7_14_21)
    ...
    8       Rx1-Tx1,Tx2,Tx3 TSI% (LaLonde_Test_FP_7_14_21)
    9       Rx1-Tx1,Tx2,Tx3 TSI Fit Factor (LaLonde_Test_FP_7_14_21)
    10      (Event)

    1   2   3   ...   10
    0   202.6952   109.1125   ...

Cells are tab-separated in the .txt, one per cell in the .xlsx. O2Hb, HHb and tHb are
changes in concentration, µM (Artinis' oxysoft2matlab: "the relative change in
oxygenated blood"); TSI is %, its fit factor % (the fit's quality). The event column holds
a marker (a key's letter) at its sample, the event-text column a label.

What is done: one recording per device (a legend's ``[serial]`` prefix; ``"1"`` when
there is none); times are sample numbers divided by the export sample rate the header
states (the datafile rate when there is none), from the first sample; repeated sample
numbers merged, missing ones kept as gaps, empty cells NaN, and samples where every trace
is exactly 0 in a recording with TSI read as NaN (OxySoft writes such rows before the
device delivers data: ``ltshld_onoff.txt``, samples 0–26); each event becomes an interval
to the next event. A measurement name that ends every trace label is taken off the
channel names and kept as metadata. The start of measurement has no time zone, so
``start_utc`` is None and the local start is metadata.
"""

from __future__ import annotations

import os
import re
import zipfile
import zlib
from pathlib import Path
from xml.etree.ElementTree import ParseError

import numpy as np

from host.importers._common import (
    build_time_base,
    cell_text,
    check_times,
    marker_intervals,
    parse_channels,
    parse_numbers,
    split_rows,
    uses_decimal_comma,
)
from host.recording import Channel, Recording
from host.session import UNKNOWN, DatasetError, MetadataValue

__all__ = ["TITLE", "is_oxysoft", "read_oxysoft_text", "read_oxysoft_xlsx", "xlsx_rows"]

#: The first cell of an export's first line.
TITLE = "oxysoft export of"
#: Artinis devices named in an optode template (``PortaMon TSI Fit Factor``).
DEVICES = ("PortaMon", "PortaLite", "Oxymon", "OctaMon", "Brite")
#: The sample rates accepted, Hz: Artinis' devices sample at 1 Hz (PortaLite's slowest
#: setting) up to 250 Hz (Oxymon MkIII, the fastest), and OxySoft exports at that rate or
#: lower; a factor of 10 either side is kept for settings not seen. Outside it (0, -10,
#: 1e-300, inf, nan) a stated rate is a broken header, and times divided by it would be
#: meaningless or overflow.
RATE_RANGE_HZ = (0.1, 2500.0)
_DEVICE_PREFIX = re.compile(r"^\[(?P<id>[^\]]+)\]\s*(?P<rest>.*)$")
_FINAL_PAREN = re.compile(r"\s*\(([^()]*)\)\s*$")
#: Header keys kept as metadata (lower-case, colon and spreadsheet spelling removed).
_HEADER_KEYS = {
    "oxysoft export of": "source_file",
    "oxysoft version": "export_version",
    "export date": "export_date",
    "start of measurement": "start_local_time",
    "datafile sample rate": "sample_rate_hz",
    "export sample rate": "export_sample_rate_hz",
    "datafile duration": "duration_s",
    "optode-template": "optode_template",
    "optode distance (mm)": "optode_distance_mm",
    "dpf": "dpf",
    "device id": "device_id",
}

Rows = list[tuple[int, list[str]]]


def is_oxysoft(rows: Rows) -> bool:
    """Whether the first non-empty of ``rows`` starts an OxySoft export."""
    for _, cells in rows:
        first = next((c.strip().strip('"') for c in cells if c.strip()), "")
        if first:
            return first.lower().startswith(TITLE)
    return False


def text_rows(text: str) -> Rows:
    """A .txt export's lines as tab-separated cells."""
    return split_rows(text.splitlines(), "\t", 1)


def xlsx_rows(path: str | os.PathLike) -> Rows:
    """The first sheet of an .xlsx export as rows of text cells (row numbers from 1).

    Raises
    ------
    DatasetError
        The file is not a workbook openpyxl can read.
    """
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    # A file object, not the path: openpyxl refuses a path whose name does not end .xlsx,
    # and the format is told by content, not name.
    try:
        with open(path, "rb") as f:
            wb = openpyxl.load_workbook(f, read_only=True, data_only=True)
            try:
                return [
                    (n, [cell_text(v) for v in row])
                    for n, row in enumerate(wb.worksheets[0].iter_rows(values_only=True), 1)
                ]
            finally:
                wb.close()
    except (
        OSError,
        zipfile.BadZipFile,
        KeyError,
        InvalidFileException,
        ValueError,
        ParseError,  # a sheet's XML cut short or damaged
        zlib.error,
        EOFError,
    ) as exc:
        raise DatasetError(
            path, f"cannot read as an .xlsx workbook ({type(exc).__name__}: {exc})"
        ) from exc


def read_oxysoft_text(path: str | os.PathLike, text: str) -> list[Recording]:
    """Every device's recording in an OxySoft .txt export (see the module's docstring).

    Raises
    ------
    DatasetError
        Naming the file and the line of what is missing or malformed.
    """
    head = text.splitlines()[:40]
    if not any("\t" in line for line in head):
        found = max((";", ","), key=lambda d: sum(line.count(d) for line in head))
        raise DatasetError(
            path,
            f"an OxySoft .txt export must be tab-separated (found {found!r} and no tab in its "
            "first lines): export it again from OxySoft, or save it as tab-delimited text",
        )
    return _read(Path(path), text_rows(text), ext="txt", where="line")


def read_oxysoft_xlsx(path: str | os.PathLike, rows: Rows | None = None) -> list[Recording]:
    """Every device's recording in an OxySoft .xlsx export (rows from :func:`xlsx_rows`).

    Raises
    ------
    DatasetError
        Naming the file and the row of what is missing or malformed.
    """
    path = Path(path)
    rows = xlsx_rows(path) if rows is None else rows
    return _read(path, rows, ext="xlsx", where="row")


def _quantity(label: str) -> tuple[str, str, bool]:
    """``(quantity, unit, relative)`` of a trace."""
    low = label.lower()
    if "fit factor" in low:
        return "other", "%", False
    if "tsi" in low:
        return "smo2", "%", False
    if re.search(r"(?<![a-z])o2hb\b", low):
        return "hbo2", "uM", True
    if re.search(r"(?<![a-z])hhb\b", low):
        return "hhb", "uM", True
    if re.search(r"(?<![a-z])thb\b", low):
        return "thb", "uM", True
    return "other", "a.u.", False


def _read(path: Path, rows: Rows, *, ext: str, where: str) -> list[Recording]:
    header, wavelengths, legend, start = _header(path, rows, where)
    role = {label.lower().strip("()"): col for col, label in legend}
    sample_col = role.get("sample number")
    if sample_col is None:
        raise DatasetError(path, "the legend lists no '(Sample number)' column")
    event_col = role.get("event")
    text_col = role.get("event text")
    listed = {c for c, _ in legend}
    if text_col is None and event_col is not None and event_col + 1 not in listed:
        # The event's label: a column after (Event) that the legend does not list (mnirs'
        # artinis_intervals.xlsx, "Unmarked event label", column 5).
        text_col = event_col + 1
    traces = [(c, lab) for c, lab in legend if c not in (sample_col, event_col, text_col)]
    if not traces:
        raise DatasetError(path, "the legend lists no traces (O2Hb, HHb, tHb, TSI ...)")

    width = max(*listed, text_col or 0)
    needed = max(sample_col, *(c for c, _ in traces))
    body = []
    for n, cells in rows[start:]:
        if not any(c.strip() for c in cells):
            continue
        if len(cells) < needed or any(c.strip() for c in cells[width:]):
            raise DatasetError(
                path,
                f"{where} {n}: {len(cells)} cells, the legend lists {width} columns "
                "(a row's values must line up with the legend's columns)",
            )
        body.append((n, cells + [""] * (width - len(cells))))
    if not body:
        raise DatasetError(path, f"{where} {rows[start - 1][0]}: column numbers but no samples")
    lines = [n for n, _ in body]
    column = {c: [cells[c - 1] for _, cells in body] for c in (*listed, text_col) if c}
    decimal_comma = uses_decimal_comma((v for c, _ in traces for v in column[c][:50]), "\t")

    rate, rate_name, rate_notes = _rate(path, header)
    samples = parse_numbers(
        column[sample_col],
        column="(Sample number)",
        lines=lines,
        path=path,
        decimal_comma=decimal_comma,
        line_word=where,
    )
    if samples.missing:
        k = int(np.flatnonzero(np.isnan(samples.values))[0])
        raise DatasetError(
            path,
            f"{where} {lines[k]}: '(Sample number)' is {column[sample_col][k]!r}, "
            "expected a sample number",
        )
    t_raw = (samples.values - samples.values.min()) / rate
    check_times(path, t_raw, lines, column[sample_col], column="(Sample number)", line_word=where)
    events = [""] * len(body)
    if event_col is not None or text_col is not None:
        marks = column.get(event_col, events)
        texts = column.get(text_col, events)
        events = [f"{m.strip()} {x.strip()}".strip() for m, x in zip(marks, texts)]

    names = _channel_names([lab for _, lab in traces])
    groups: dict[str, list[tuple[int, str, str]]] = {}
    for (col, _), (device, name, measurement) in zip(traces, names):
        groups.setdefault(device, []).append((col, name, measurement))

    common: dict[str, MetadataValue] = {
        "device": _device_name(header),
        "export": f"OxySoft .{ext} export",
    }
    for key, meta in _HEADER_KEYS.items():
        if header.get(key):
            common[meta] = _number_or_text(header[key], meta)
    if wavelengths:
        common["wavelengths_nm"] = ",".join(wavelengths)
    measurement = names[0][2]
    if measurement:
        common["measurement"] = measurement
    notes_all = [
        f"times are sample numbers / {rate:g} Hz (the {rate_name} the header states), "
        "counted from the first sample"
    ]
    notes_all += rate_notes
    if decimal_comma:
        notes_all.append("numbers use decimal commas")

    recordings = []
    for device, members in groups.items():
        notes = list(notes_all)
        quantities = [_quantity(name) for _, name, _ in members]
        values, parsed = parse_channels(
            [(name, column[col], q, u) for (col, name, _), (q, u, _) in zip(members, quantities)],
            lines=lines,
            path=path,
            decimal_comma=decimal_comma,
            line_word=where,
        )
        notes.extend(parsed)
        if any(q == "smo2" for q, _, _ in quantities):
            off = np.all(np.stack(values) == 0, axis=0)
            if off.any():
                for v in values:
                    v[off] = np.nan
                notes.append(
                    f"{int(off.sum())} sample(s) where every trace is exactly 0 (the sensor "
                    "delivered no data yet) are NaN"
                )
        base = build_time_base(
            t_raw,
            values,
            gap_s=1.5 / rate,
            keep_first=[q == "other" and u == "1" for q, u, _ in quantities],
        )
        notes.extend(base.notes)
        channels = tuple(
            Channel(name, q, unit, v, relative)
            for (_, name, _), (q, unit, relative), v in zip(members, quantities, base.columns)
        )
        metadata = dict(common)
        if device:
            metadata["device_id"] = device
        recordings.append(
            Recording(
                source=path,
                format=f"oxysoft-{ext}",
                sensor=device or "1",
                t_s=base.t_s,
                channels=channels,
                intervals=marker_intervals(
                    t_raw, events, end_s=float(base.t_s[-1]), on_change=False
                ),
                provenance=UNKNOWN,
                start_utc=None,
                metadata=metadata,
                notes=tuple(notes),
            )
        )
    return recordings


def _header(path: Path, rows: Rows, where: str) -> tuple[dict, list[str], list, int]:
    """``(header, wavelengths, legend, index of the first data row)``."""
    header: dict[str, list[str]] = {}
    wavelengths: list[str] = []
    legend: list[tuple[int, str]] = []
    block = None
    for idx, (_, raw) in enumerate(rows):
        cells = [c.strip().strip('"').strip() for c in raw]
        while cells and not cells[-1]:
            cells.pop()
        if not cells:
            continue
        if len(cells) >= 2 and [_as_int(c) for c in cells] == list(range(1, len(cells) + 1)):
            if not legend:
                break
            return header, wavelengths, legend, idx + 1
        key = cells[0].rstrip(":").strip().lower().replace("data file", "datafile")
        if key in ("legend", "light source wavelengths"):
            block = key
        elif block == "legend" and _as_int(cells[0]) is not None and len(cells) > 1:
            legend.append((_as_int(cells[0]), cells[1]))
        elif (
            block == "light source wavelengths" and _as_int(cells[0]) is not None and len(cells) > 2
        ):
            wavelengths.append(cells[2])
        elif key not in ("column", "device"):
            block = None if block == "legend" and legend else block
            header[key] = cells[1:]
    if not legend:
        raise DatasetError(path, "no 'Legend' block naming the columns")
    raise DatasetError(
        path, f"no data: the {where} of column numbers (1, 2, 3 ...) after the legend is missing"
    )


def _as_int(cell: str) -> int | None:
    """A cell holding a whole number (``"3"``, or ``"3.0"`` from a spreadsheet), else None."""
    try:
        value = float(cell)
    except ValueError:
        return None
    return int(value) if value.is_integer() else None


def _rate(path: Path, header: dict[str, list[str]]) -> tuple[float, str, list[str]]:
    """``(rate, which header line gave it, notes)``: the export sample rate, else the
    datafile's; a stated rate outside :data:`RATE_RANGE_HZ` (0, negative, inf, nan) is
    passed over, and the note says so."""
    notes = []
    low, high = RATE_RANGE_HZ
    for key in ("export sample rate", "datafile sample rate"):
        if not header.get(key):
            continue
        text = header[key][0]
        try:
            rate = float(text.replace(",", "."))
        except ValueError:
            raise DatasetError(path, f"{key} is {text!r}, expected a number of Hz") from None
        if low <= rate <= high:
            if notes:
                notes.append(
                    f"the {key} ({rate:g} Hz) was used instead: if the export was resampled, "
                    "times are off by the ratio of the two rates"
                )
            return rate, key, notes
        notes.append(f"the {key} stated, {text!r} Hz, is not between {low:g} and {high:g} Hz")
    if notes:
        raise DatasetError(
            path,
            "; ".join(notes) + ": no sample rate to turn sample numbers into times "
            f"(allowed: {low:g}–{high:g} Hz)",
        )
    raise DatasetError(
        path,
        "states no sample rate ('Datafile sample rate' or 'Export sample rate'), "
        "needed to turn sample numbers into times",
    )


def _channel_names(labels: list[str]) -> list[tuple[str, str, str]]:
    """``(device serial or '', channel name, measurement name)`` per trace label."""
    split = []
    for label in labels:
        m = _DEVICE_PREFIX.match(label)
        split.append((m["id"], m["rest"]) if m else ("", label))
    finals = {(_FINAL_PAREN.search(rest) or [None, None])[1] for _, rest in split}
    measurement = finals.pop() if len(finals) == 1 and len(labels) > 1 else None
    out = []
    for device, rest in split:
        name = _FINAL_PAREN.sub("", rest) if measurement else rest
        out.append((device, re.sub(r"\s+", " ", name).strip(), measurement or ""))
    return out


def _device_name(header: dict[str, list[str]]) -> str:
    template = " ".join(header.get("optode-template", []))
    for name in DEVICES:
        if name.lower() in template.lower():
            return name
    return "Artinis (OxySoft)"


def _number_or_text(values: list[str], key: str) -> MetadataValue:
    """A header line's value: a number for rates, lengths and the DPF (their unit cell
    dropped; several, as per-optode distances, joined by commas), else the text."""
    if key.endswith(("_hz", "_mm", "_s")) or key == "dpf":
        numbers = []
        for v in values:
            try:
                numbers.append(float(v.replace(",", ".")))
            except ValueError:
                continue
        if len(numbers) == 1:
            return numbers[0]
        if numbers:
            return ",".join(f"{x:g}" for x in numbers)
    return ",".join(v for v in values if v)
