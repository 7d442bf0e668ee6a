"""What the importers share: decoding, delimiters, numbers, time bases, markers.

Each importer (:mod:`.moxy`, :mod:`.trainred`, :mod:`.oxysoft`) turns its vendor's layout
into rows of text cells with their line numbers, then uses these helpers, so that every
format handles the same real-export problems the same way and says so in the same words
(:attr:`host.recording.Recording.notes`):

- a byte-order mark, UTF-16, or a file that is not UTF-8 (read as Windows-1252);
- ``;`` or tab delimiters with decimal commas (a CSV re-saved by a spreadsheet in a
  European locale);
- empty, ``NaN`` and "sensor off" cells, read as NaN and counted;
- time stamps out of order by a little or repeated (merged by
  :func:`host.recording.merge_repeated_stamps`) and dropouts (kept as gaps); times that
  go back further, lie beyond :data:`MAX_SPAN_S`, or repeat so often that merging would
  leave fewer than half as many samples as rows (:data:`MIN_DISTINCT_FRACTION`) are
  refused (:func:`check_times`);
- values outside a plausible range (:data:`PLAUSIBLE`) read as NaN and counted;
- lap and event markers, turned into intervals by
  :func:`host.recording.intervals_from_markers`.

A malformed cell is one :class:`~host.session.DatasetError` naming the file, the line,
the column, the value and what was expected.
"""

from __future__ import annotations

import codecs
import csv
import datetime
import io
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from host.recording import Interval, intervals_from_markers, merge_repeated_stamps
from host.session import DatasetError

#: Cell texts read as "no value" (compared lower-case, stripped): empty cells, NaN as
#: spreadsheets and pandas write it, the dashes devices show when the sensor is off the
#: skin, and the ANT+ muscle-oxygen profile's two invalid states spelled out (ANT+ Muscle
#: Oxygen Device Profile rev 1.1, data page 1: "AmbientLightTooHigh", "Invalid").
MISSING_TOKENS = frozenset(
    {
        "",
        "nan",
        "-nan",
        "na",
        "n/a",
        "#n/a",
        "null",
        "none",
        "-",
        "--",
        "---",
        "inf",
        "-inf",
        "invalid",
        "ambientlighttoohigh",
        "off",
        "sensor off",
    }
)
#: Delimiters a CSV export may use: the vendor's comma, or what a spreadsheet in a
#: European locale writes when it re-saves the file (semicolon), or tab.
DELIMITERS = (",", ";", "\t")
#: A step between samples longer than this many median sample periods is a dropout
#: (one or two late samples are the jitter of a Bluetooth link; three missing are not).
GAP_PERIODS = 3.0
#: ... and never shorter than this, s: Train.Red's app delivers its ~10 Hz samples in
#: bursts with steps of up to 0.9 s that are not dropouts (mnirs' example file
#: ``train.red_intervals.csv``, e.g. 2086.37 → 2087.27 s).
GAP_MIN_S = 1.0

#: The longest recording accepted, s: seven days. The devices read here record for hours
#: (a Moxy's battery lasts about a day; a PortaMon's about 6 h; Train.Red's app records a
#: session): a time further than this from the file's median time is a corrupt cell (a
#: Train.Red stamp of 1e308, an OxySoft sample number of 1e308), not a long recording,
#: and would overflow what is computed from it downstream.
MAX_SPAN_S = 7 * 86400.0
#: A step back in time by more than this many median sample periods, and by more than
#: :data:`BACK_MIN_S`, is refused (a clock reset or a glitch stamp: sorting it would
#: interleave two stretches of the recording, and merging would average them); smaller
#: steps back are a swapped pair of rows, put in order and merged.
BACK_PERIODS = 2.0
#: ... s: one second (a whole-second Moxy stamp one tick early).
BACK_MIN_S = 1.0
#: Distinct time stamps must be at least this fraction of the rows: merging repeated stamps
#: may remove at most half of the rows. A real export repeats some stamps (Train.Red: 72 of
#: 1020 in a 10 Hz file; a 2 Hz Moxy export with whole-second stamps at most every other
#: row), never most of them: 1019 equal stamps of 1020 would plot as 2 averaged samples.
MIN_DISTINCT_FRACTION = 0.5
#: The range a value may have, by ``(quantity, unit)``; outside it the cell is NaN and
#: counted in a note. SmO2/TSI is a saturation, 0–100 % by definition. Haemoglobin in µM
#: (changes or absolute): resting muscle tHb is about 100–200 µM and exercise changes are
#: tens of µM (Train.Red's August 2025 file: THb 145 µM; OxySoft: changes of ±50 µM),
#: so 1000 µM in either direction is no reading. Anything else (Moxy THb in a.u., about
#: 10–15; counters; fit factors): magnitude at most :data:`OTHER_MAX` (a fill value or an
#: overflow such as 1e308 is no reading either).
PLAUSIBLE: dict[tuple[str, str], tuple[float, float]] = {
    ("smo2", "%"): (0.0, 100.0),
    ("hbo2", "uM"): (-1000.0, 1000.0),
    ("hhb", "uM"): (-1000.0, 1000.0),
    ("thb", "uM"): (-1000.0, 1000.0),
    ("other", "uM"): (-1000.0, 1000.0),
}
#: µM in one of the concentration units a SNIRF file may give (SNIRF 1.1 dataUnit, read
#: plainly by host/snirf_other.py): the µM ranges of :data:`PLAUSIBLE` hold in these too.
UM_PER_UNIT = {"uM": 1.0, "M": 1e6, "mM": 1e3, "nM": 1e-3}
#: ... and this for every other channel, in its unit.
OTHER_MAX = 1e6
#: ... but raw light (quantity ``intensity``) is in whatever unit the device counts in
#: (volts, or ADC or photon counts: a 32-bit counter reaches 4.3e9), so only a magnitude
#: beyond this is no reading (a fill value or an overflow such as 1e308).
INTENSITY_MAX = 1e12

_DECIMAL_COMMA = re.compile(r"^\s*[-+]?\d+,\d+\s*$")


def decode(raw: bytes) -> str:
    """Text of a file: UTF-8 (a byte-order mark skipped), UTF-16 with its mark, or else
    Windows-1252 (what Excel on Windows writes), or Latin-1 for any byte left."""
    if raw.startswith(codecs.BOM_UTF8):
        return raw[len(codecs.BOM_UTF8) :].decode("utf-8", errors="replace")
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return raw.decode("utf-16", errors="replace")
    for encoding in ("utf-8", "cp1252"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1")


def read_text(path: os.PathLike) -> str:
    """:func:`decode` of the whole file.

    Raises
    ------
    DatasetError
        The file cannot be read.
    """
    try:
        with open(path, "rb") as f:
            return decode(f.read())
    except OSError as exc:
        raise DatasetError(path, f"cannot read: {exc.strerror or exc}") from exc


def sniff_delimiter(header_line: str) -> str:
    """The delimiter of :data:`DELIMITERS` that the column-header line holds most of."""
    return max(DELIMITERS, key=header_line.count)


def split_rows(lines: Sequence[str], delimiter: str, first_line: int) -> list[tuple[int, list]]:
    """``(line number from 1, cells)`` for each row, split as CSV (quotes honoured).

    ``first_line`` is the 1-based number of ``lines[0]`` in the file. A row's number is
    the line it starts on (a quote left open makes a row run over several lines:
    :func:`table` refuses that, naming the line where the quote opened).
    """
    reader = csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter)
    out = []
    end = 0  # the last line the previous row used, counted from 1 in ``lines``
    for row in reader:
        out.append((first_line + end, row))
        end = reader.line_num
    return out


def table(
    path: os.PathLike, lines: Sequence[str], h: int, delimiter: str
) -> tuple[list[str], list[tuple[int, list]]]:
    """The column header at ``lines[h]`` and the non-empty rows below it.

    Returns
    -------
    header : list of str
        Column names, stripped.
    body : list of (int, list of str)
        ``(line number from 1, cells)`` of each row that is not empty.

    Raises
    ------
    DatasetError
        No row below the header, or a row with fewer cells than the header or with a
        value beyond its last column (naming its line).
    """
    rows = split_rows(lines[h:], delimiter, h + 1)
    header = [c.strip() for c in rows[0][1]]
    body = [(n, cells) for n, cells in rows[1:] if any(c.strip() for c in cells)]
    if not body:
        raise DatasetError(path, f"line {h + 1}: a column header but no samples after it")
    for (n, cells), (after, _) in zip(rows, [*rows[1:], (None, None)]):
        if any("\n" in c for c in cells):
            where = f"line {after - 1}" if after is not None else "the end of the file"
            raise DatasetError(
                path,
                f'line {n}: a quote (") opens and is not closed on that line (the cell runs on '
                f"to {where}); a quoted cell must close on its own line",
            )
    for n, cells in body:
        # Fewer cells, or more that hold a value (trailing empty ones are only a trailing
        # delimiter): the values would not line up with their columns.
        if len(cells) < len(header) or any(c.strip() for c in cells[len(header) :]):
            raise DatasetError(
                path,
                f"line {n}: {len(cells)} cells, the header (line {h + 1}) has {len(header)} "
                "(a row's values must line up with the header's columns)",
            )
    return header, body


def cell_text(value: object) -> str:
    """A workbook cell as text: numbers as Python writes them (exact), dates and times in
    ISO 8601 (openpyxl gives date-formatted cells as ``datetime``), None as ''."""
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    return repr(value) if isinstance(value, float) else str(value)


def uses_decimal_comma(cells: Iterable[str], delimiter: str) -> bool:
    """Whether numbers are written ``12,5``: only possible when the delimiter is not a
    comma, and seen in at least one cell."""
    return delimiter != "," and any(_DECIMAL_COMMA.match(c) for c in cells)


def delimiter_notes(delimiter: str, decimal_comma: bool) -> list[str]:
    """The note for a CSV that is not comma-separated (none for a comma)."""
    if delimiter == ",":
        return []
    name = {";": "semicolon", "\t": "tab"}[delimiter]
    return [f"the file is {name}-separated" + (" with decimal commas" if decimal_comma else "")]


@dataclass
class Numbers:
    """A parsed numeric column.

    Attributes
    ----------
    values : ndarray of float, shape (n,)
        NaN where the cell was empty, NaN, "sensor off" or not finite.
    missing : int
        How many cells were read as NaN.
    """

    values: np.ndarray
    missing: int


def parse_numbers(
    cells: Sequence[str],
    *,
    column: str,
    lines: Sequence[int],
    path: os.PathLike,
    decimal_comma: bool = False,
    line_word: str = "line",
) -> Numbers:
    """Cells of one column as floats.

    Raises
    ------
    DatasetError
        At the first cell that is neither a number nor one of :data:`MISSING_TOKENS`:
        ``"line 14: 'SmO2 Live' is 'abc', expected a number"``.
    """
    texts = [c.replace(",", ".") for c in cells] if decimal_comma else list(cells)
    try:
        values = np.array(texts, dtype=float)
    except ValueError:
        values = np.empty(len(texts))
        for i, text in enumerate(texts):
            stripped = text.strip()
            if stripped.lower() in MISSING_TOKENS:
                values[i] = np.nan
                continue
            try:
                values[i] = float(stripped)
            except ValueError:
                raise DatasetError(
                    path,
                    f"{line_word} {lines[i]}: {column!r} is {cells[i]!r}, expected a number "
                    "(or an empty cell, NaN or '--' for no value)",
                ) from None
    bad = ~np.isfinite(values)
    values[bad] = np.nan
    return Numbers(values, int(np.count_nonzero(bad)))


def missing_notes(missing: dict[str, int], total: int) -> list[str]:
    """The notes for columns with NaN cells (``{column: how many}``), one per count, so
    that a sensor off the skin (every column empty together) is one sentence."""
    by_count: dict[int, list[str]] = {}
    for column, k in missing.items():
        if k:
            by_count.setdefault(k, []).append(repr(column))
    return [
        f"{', '.join(columns)}: {k} of {total} values "
        f"{'each ' if len(columns) > 1 else ''}were empty, NaN or 'sensor off' (e.g. '--') "
        "or not finite (inf, 1e400) and are NaN"
        for k, columns in by_count.items()
    ]


def check_times(
    path: os.PathLike,
    t_s: np.ndarray,
    lines: Sequence[int],
    cells: Sequence[str],
    *,
    column: str,
    line_word: str = "line",
) -> None:
    """Refuse times that cannot be a recording's, naming the line.

    Parameters
    ----------
    t_s : ndarray, shape (n,)
        Each row's time, s, finite, in file order.
    lines, cells : sequences, length n
        Each row's line (or workbook row) number and its time cell as written.

    Raises
    ------
    DatasetError
        A time further than :data:`MAX_SPAN_S` from the median; fewer than 2 distinct
        times (one sample, or every stamp equal: the file would become one averaged
        sample); fewer distinct times than :data:`MIN_DISTINCT_FRACTION` of the rows
        (merging would remove most of the samples: the most repeated stamp, its first line
        and the counts); a step back by more than :data:`BACK_PERIODS` median periods and more
        than :data:`BACK_MIN_S` (the line where time goes back, and by how much).
    """
    t = np.asarray(t_s, dtype=float)
    far = np.flatnonzero(np.abs(t - np.median(t)) > MAX_SPAN_S)
    if far.size:
        k = int(far[0])
        raise DatasetError(
            path,
            f"{line_word} {lines[k]}: {column!r} is {cells[k]!r}, more than "
            f"{MAX_SPAN_S / 86400:g} days from the other samples' times (a recording is at "
            "most that long)",
        )
    distinct = np.unique(t).size
    if distinct < 2:
        what = f"all {t.size} time stamps are equal" if t.size > 1 else "only one sample"
        raise DatasetError(
            path,
            f"{line_word} {lines[0]}: {what} ({column!r} is {cells[0].strip()!r}); a recording "
            "needs at least 2 distinct times",
        )
    if distinct < MIN_DISTINCT_FRACTION * t.size:
        stamps, first, counts = np.unique(t, return_index=True, return_counts=True)
        j = int(np.argmax(counts))
        k = int(first[j])
        raise DatasetError(
            path,
            f"{line_word} {lines[k]}: {t.size - distinct} of {t.size} rows repeat an earlier "
            f"time stamp ({column!r} {cells[k].strip()!r} alone is on {int(counts[j])} rows); "
            f"merging them would leave {distinct} samples. Allowed: at least "
            f"{MIN_DISTINCT_FRACTION:.0%} as many distinct times as rows (repeated stamps may "
            "remove at most half of the rows)",
        )
    steps = np.diff(t)
    forward = steps[steps > 0]
    tolerance = max(BACK_PERIODS * float(np.median(forward)), BACK_MIN_S)
    latest = np.maximum.accumulate(t)
    back = latest[:-1] - t[1:]
    bad = np.flatnonzero(back > tolerance)
    if bad.size:
        k = int(bad[0]) + 1
        m = int(np.argmax(t[:k] == latest[k - 1]))
        raise DatasetError(
            path,
            f"{line_word} {lines[k]}: time goes back by {back[k - 1]:.6g} s ({column!r} is "
            f"{cells[k].strip()!r} after {cells[m].strip()!r} on {line_word} {lines[m]}); "
            f"allowed: steps back of at most {tolerance:.3g} s (a swapped pair of rows: "
            f"{BACK_PERIODS:g} median sample periods, at least {BACK_MIN_S:g} s)",
        )


def plausible_range(quantity: str, unit: str) -> tuple[float, float]:
    """``(low, high)`` a value of ``quantity`` in ``unit`` may have: :data:`PLAUSIBLE`
    (its µM ranges scaled to M, mM or nM by :data:`UM_PER_UNIT`), else
    ±:data:`INTENSITY_MAX` for raw light, else ±:data:`OTHER_MAX`."""
    if (quantity, unit) in PLAUSIBLE:
        return PLAUSIBLE[(quantity, unit)]
    if (quantity, "uM") in PLAUSIBLE and unit in UM_PER_UNIT:
        low, high = PLAUSIBLE[(quantity, "uM")]
        return low / UM_PER_UNIT[unit], high / UM_PER_UNIT[unit]
    limit = INTENSITY_MAX if quantity == "intensity" else OTHER_MAX
    return -limit, limit


def parse_channels(
    columns: Sequence[tuple[str, Sequence[str], str, str]],
    *,
    lines: Sequence[int],
    path: os.PathLike,
    decimal_comma: bool = False,
    line_word: str = "line",
) -> tuple[list[np.ndarray], list[str]]:
    """Each ``(name, cells, quantity, unit)`` column as floats (:func:`parse_numbers`),
    its "no value" cells counted and its implausible values blanked
    (:func:`blank_implausible`).

    Returns
    -------
    values : list of ndarray, each shape (len(lines),)
    notes : list of str
        :func:`missing_notes`, then one note per column with implausible values.

    Raises
    ------
    DatasetError
        A cell that is not a number (naming the file, line and column).
    """
    values, missing, implausible = [], {}, []
    for name, cells, quantity, unit in columns:
        numbers = parse_numbers(
            cells,
            column=name,
            lines=lines,
            path=path,
            decimal_comma=decimal_comma,
            line_word=line_word,
        )
        missing[name] = numbers.missing
        values.append(numbers.values)
        implausible.append(blank_implausible(numbers.values, quantity, unit, name))
    notes = missing_notes(missing, len(lines)) + [n for n in implausible if n]
    return values, notes


def blank_implausible(values: np.ndarray, quantity: str, unit: str, column: str) -> str | None:
    """Set values outside :func:`plausible_range` to NaN, in place.

    Returns
    -------
    str or None
        The note saying how many and the rule, or None when all were inside.
    """
    low, high = plausible_range(quantity, unit)
    with np.errstate(invalid="ignore"):
        out = (values < low) | (values > high)
    k = int(np.count_nonzero(out))
    if not k:
        return None
    values[out] = np.nan
    return (
        f"{column!r}: {k} of {values.size} values outside the plausible {low:g} to {high:g} "
        f"{unit} are NaN (the ranges: plausible_range in host/importers/_common.py)"
    )


@dataclass
class TimeBase:
    """Samples put on a strictly increasing time base.

    Attributes
    ----------
    t_s : ndarray, shape (k,)
    columns : list of ndarray, each shape (k,)
    notes : list of str
        What was done: reordering, merging, and the dropouts found (kept as gaps).
    """

    t_s: np.ndarray
    columns: list[np.ndarray]
    notes: list[str] = field(default_factory=list)


def build_time_base(
    t_s: np.ndarray,
    columns: Sequence[np.ndarray],
    *,
    gap_s: float | None = None,
    keep_first: Sequence[bool] = (),
) -> TimeBase:
    """Sort, merge repeated stamps and find dropouts.

    Samples sharing a stamp become their mean, except in the columns ``keep_first``
    marks (counters and categories: quantity ``other`` in unit "1", Moxy's ``Session Ct``,
    Train.Red's ``Muscle state``), which keep the first finite value of the stamp (in file order): a
    mean of category codes or counts (718.6) is no value the device wrote.

    Parameters
    ----------
    t_s : ndarray, shape (n,)
        Sample times as the file gives them, s, finite.
    columns : sequence of ndarray, each shape (n,)
    gap_s : float, optional
        A step longer than this is a dropout; default :data:`GAP_PERIODS` median
        periods, at least :data:`GAP_MIN_S`.
    keep_first : sequence of bool, optional
        Per column, True to keep the first value of a merged stamp instead of the mean.
    """
    t = np.asarray(t_s, dtype=float)
    notes = []
    back = int(np.count_nonzero(np.diff(t) < 0))
    if back:
        notes.append(f"{back} time stamp(s) went back in time; the samples were put in time order")
    merged_t, merged, n_merged = merge_repeated_stamps(t, columns)
    if n_merged:
        firsts = [i for i, first in enumerate(keep_first) if first]
        for i in firsts:
            merged[i] = _first_per_stamp(t, columns[i], merged_t.size)
        notes.append(
            f"{n_merged} sample(s) repeated an earlier time stamp: samples sharing a stamp were "
            f"merged into one (the mean of their values"
            + (", or the first value in counters and categories (unit 1)" if firsts else "")
            + f"), {t.size} rows → {merged_t.size} samples"
        )
    steps = np.diff(merged_t)
    if steps.size:
        if gap_s is None:
            gap_s = max(GAP_PERIODS * float(np.median(steps)), GAP_MIN_S)
        gaps = np.flatnonzero(steps > gap_s)
        if gaps.size:
            k = int(gaps[np.argmax(steps[gaps])])
            notes.append(
                f"{gaps.size} dropout(s) (steps longer than {gap_s:.3g} s): the longest "
                f"{steps[k]:.3g} s after {merged_t[k]:.6g} s; kept as gaps, nothing filled in"
            )
    return TimeBase(merged_t, merged, notes)


def _first_per_stamp(t: np.ndarray, values: np.ndarray, k: int) -> np.ndarray:
    """The first finite value (in file order) at each of the ``k`` distinct times of
    ``t``, NaN where none is finite."""
    order = np.argsort(t, kind="stable")
    _, inverse = np.unique(t[order], return_inverse=True)
    v = np.asarray(values, dtype=float)[order]
    ok = np.isfinite(v)
    out = np.full(k, np.nan)
    groups, first = np.unique(inverse[ok], return_index=True)
    out[groups] = v[ok][first]
    return out


def marker_intervals(
    t_s: np.ndarray,
    labels: Sequence[str],
    *,
    end_s: float,
    on_change: bool,
    prefix: str = "",
) -> tuple[Interval, ...]:
    """Intervals from a lap or event column (one label per sample, '' for none).

    Parameters
    ----------
    t_s : ndarray, shape (n,)
        The samples' times as the file gives them, s.
    labels : sequence of str, length n
    end_s : float
        The end of the recording, s: the last interval runs to it.
    on_change : bool
        True for a lap column (a marker where the value changes; the first value starts
        the first lap), False for an event column (a marker at every non-empty cell).
    prefix : str
        Put before each label (``"Lap "``) when the value alone is a bare number.
    """
    times, names = [], []
    previous = None
    for t, raw in zip(t_s, labels):
        label = _plain_label(raw)
        if not label or (on_change and label == previous):
            continue
        previous = label
        times.append(float(t))
        names.append(prefix + label if prefix and _is_number(label) else label)
    return intervals_from_markers(times, names, end_s)


def _plain_label(raw: str) -> str:
    label = raw.strip()
    if _is_number(label) and float(label).is_integer():
        return str(int(float(label)))
    return label


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def slug(key: str) -> str:
    """A header key as a metadata key: ``"FW Part Number"`` → ``"fw_part_number"``."""
    return re.sub(r"[^a-z0-9]+", "_", key.strip().lower()).strip("_")
