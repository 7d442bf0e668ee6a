"""Importers of other devices' exports (issue 17, point 1): Moxy, Train.Red, Artinis OxySoft.

Each format's sample (tests/data/imports/, made by make_samples.py in the vendor's layout,
README there) is imported: channels with units, intervals, rate. Then, for each format:
repeated time stamps merged (checked against the file's own rows, read here with the
csv module, independently of the importer), a dropout kept as a gap, two sensors as two
recordings, and a malformed cell as one clear error naming the file and the line. Also:
decimal commas and semicolons, a byte-order mark, detection from content not name, and
the error for an unsupported file.
"""

from __future__ import annotations

import csv
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose

from host.importers import pick_sensor, read_recordings
from host.recording import Recording
from host.session import DatasetError

DATA = Path(__file__).resolve().parent / "data" / "imports"
MOXY = DATA / "moxy_two_sensors.csv"
TRAINRED = DATA / "trainred_two_sensors.csv"
OXY_TXT = DATA / "oxysoft_portamon.txt"
OXY_XLSX = DATA / "oxysoft_two_portalites.xlsx"


# --- The files' own rows, read without the importers (the cross-check) -----------------


def _csv_rows(path: Path, first: str, delimiter: str = ",") -> tuple[int, list, list]:
    """``(header line number, header, [(line number, cells)])`` of a CSV export."""
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    h = next(i for i, ln in enumerate(lines) if ln.startswith(first))
    rows = list(csv.reader(lines[h:], delimiter=delimiter))
    return h + 1, rows[0], [(h + 2 + k, r) for k, r in enumerate(rows[1:])]


def _number(cell: str) -> float:
    return float(cell) if cell.strip() else np.nan


@dataclass(frozen=True)
class Case:
    """One format's sample and how to read its rows independently."""

    name: str
    path: Path
    sensor: str  # the sensor whose rows are checked
    channel: str  # the channel checked

    def raw(self) -> tuple[np.ndarray, np.ndarray]:
        """(time, value of ``channel``) per data row, in file order, s from the start."""
        if self.name == "moxy":
            _, header, rows = _csv_rows(self.path, "mm-dd")
            t = [sum(float(x) * m for x, m in zip(r[1].split(":"), (3600, 60, 1))) for _, r in rows]
            v = [_number(r[header.index(self.channel)]) for _, r in rows]
            return np.array(t) - t[0], np.array(v)
        if self.name == "trainred":
            _, header, rows = _csv_rows(self.path, "Timestamp")
            col = header.index(self.channel, 3)  # the first sensor's group
            return np.array([float(r[0]) for _, r in rows]), np.array(
                [_number(r[col]) for _, r in rows]
            )
        if self.name == "oxysoft-txt":
            lines = self.path.read_text().splitlines()
            start = next(i for i, ln in enumerate(lines) if ln.startswith("1\t2\t3")) + 1
            rows = [ln.split("\t") for ln in lines[start:]]
            col = 10  # Rx1-Tx1,Tx2,Tx3 TSI%, legend column 11
            return np.array([int(r[0]) / 10.0 for r in rows]), np.array(
                [float(r[col]) for r in rows]
            )
        import openpyxl

        ws = openpyxl.load_workbook(self.path, read_only=True).worksheets[0]
        rows = list(ws.iter_rows(values_only=True))
        start = next(i for i, r in enumerate(rows) if r[:3] == (1, 2, 3)) + 1
        col = 10  # [9322] TSI%, legend column 11
        return np.array([r[0] / 10.0 for r in rows[start:]]), np.array(
            [float(r[col]) for r in rows[start:]]
        )


CASES = [
    Case("moxy", MOXY, "1", "SmO2 Live"),
    Case("trainred", TRAINRED, "Train.Red FYER 0702", "SmO2 unfiltered"),
    Case("oxysoft-txt", OXY_TXT, "1", "Rx1-Tx1,Tx2,Tx3 TSI%"),
    Case("oxysoft-xlsx", OXY_XLSX, "9322", "Rx1 - Tx1,Tx2,Tx3 TSI%"),
]
IDS = [c.name for c in CASES]


def _channel(rec: Recording, name: str) -> np.ndarray:
    return next(c for c in rec.channels if c.name == name).values


# --- Each sample, imported --------------------------------------------------------------


def test_moxy_sample_channels_units_laps_rate():
    recs = read_recordings(MOXY)
    assert [r.sensor for r in recs] == ["1", "2"]
    one = recs[0]
    assert one.format == "moxy-csv" and one.provenance == "unknown" and one.start_utc is None
    assert [(c.name, c.quantity, c.unit) for c in one.channels] == [
        ("SmO2 Live", "smo2", "%"),
        ("SmO2 Averaged", "smo2", "%"),
        ("THb", "thb", "a.u."),
        ("Session Ct", "other", "1"),
    ]
    assert [(i.label, i.onset_s) for i in one.intervals] == [
        ("Lap 1", 0.0),
        ("Lap 2", 30.0),
        ("Lap 3", 60.0),
    ]
    assert one.intervals[-1].end_s == one.t_s[-1] == 238.0
    assert one.rate_hz == pytest.approx(0.5)
    assert one.metadata["device"] == "Moxy"
    assert one.metadata["fw_part_number"] == "2000195 v1.3"
    assert one.metadata["start_local_time"] == "06-Feb 13:15:26"
    assert one.channel("smo2").values[0] == 70.0  # the file's first SmO2 Live
    assert one.channel("thb").values[0] == 12.84


def test_trainred_sample_channels_units_laps_rate():
    recs = read_recordings(TRAINRED)
    assert [r.sensor for r in recs] == ["Train.Red FYER 0702", "Train.Red FYER 0673"]
    rec = recs[0]
    assert rec.format == "trainred-csv" and rec.provenance == "unknown"
    units = {c.name: (c.quantity, c.unit, c.relative) for c in rec.channels}
    assert units["SmO2"] == ("smo2", "%", False)
    assert units["SmO2 unfiltered"] == ("smo2", "%", False)
    assert units["O2HB unfiltered"] == ("hbo2", "uM", True)
    assert units["HHb unfiltered"] == ("hhb", "uM", True)
    assert units["THb unfiltered"] == ("thb", "uM", False)
    assert units["Muscle state"] == ("other", "1", False)
    assert [i.label for i in rec.intervals] == ["Lap 0", "Lap 1", "Lap 2"]
    assert_allclose([i.onset_s for i in rec.intervals], [0.04, 30.0, 60.05])
    assert 9.0 < rec.rate_hz < 11.0
    assert rec.metadata["body_position"] == "quadVLRight"
    assert recs[1].metadata["body_position"] == "quadVLLeft"
    assert rec.metadata["data_type"] == "expertV13"
    assert rec.metadata["initial_hbo2_um"] == 88.12
    assert rec.metadata["start_local_time"] == "2025-08-05T16:23:59.399184"


def test_oxysoft_txt_sample_channels_units_events_rate():
    (rec,) = read_recordings(OXY_TXT)
    assert rec.format == "oxysoft-txt" and rec.sensor == "1"
    assert len(rec.channels) == 11
    assert (rec.channels[0].name, rec.channels[0].unit, rec.channels[0].relative) == (
        "Rx1-Tx1 O2Hb",
        "uM",
        True,
    )
    assert [c.quantity for c in rec.channels[:3]] == ["hbo2", "hhb", "thb"]
    tsi = rec.channel("smo2")
    assert (tsi.name, tsi.unit) == ("Rx1-Tx1,Tx2,Tx3 TSI%", "%")
    assert rec.channels[-1].name == "Rx1-Tx1,Tx2,Tx3 TSI Fit Factor"
    assert (rec.channels[-1].quantity, rec.channels[-1].unit) == ("other", "%")
    assert [(i.label, i.onset_s, i.duration_s) for i in rec.intervals] == [
        ("A", 30.0, 30.0),
        ("B", 60.0, pytest.approx(59.9)),
    ]
    assert rec.metadata["sample_rate_hz"] == 10.0 and rec.metadata["device"] == "PortaMon"
    assert rec.metadata["measurement"] == "hold_recovery"
    assert rec.rate_hz == pytest.approx(10.0)
    # Samples 0-4 are all exactly 0 in the file: no data yet, NaN (and said).
    assert np.isnan(tsi.values[:5]).all() and np.isfinite(tsi.values[5:]).all()
    assert any("exactly 0" in n for n in rec.notes)


def test_oxysoft_xlsx_sample_two_devices_events():
    recs = read_recordings(OXY_XLSX)
    assert [r.sensor for r in recs] == ["9322", "9323"]
    assert all(r.format == "oxysoft-xlsx" and len(r.channels) == 11 for r in recs)
    assert recs[0].metadata["device"] == "PortaLite" and recs[1].metadata["device_id"] == "9323"
    assert [(i.label, i.onset_s) for i in recs[0].intervals] == [
        ("A hold", 30.0),
        ("B recovery", 60.0),
    ]
    assert recs[0].rate_hz == pytest.approx(10.0)


# --- What real exports contain, in every format -----------------------------------------


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_repeated_stamps_are_merged_into_their_mean(case: Case):
    rec = pick_sensor(read_recordings(case.path), case.sensor)
    t_raw, v_raw = case.raw()
    stamps, counts = np.unique(t_raw, return_counts=True)
    assert (counts > 1).any(), "the sample has repeated stamps"
    assert np.all(np.diff(rec.t_s) > 0)
    assert_allclose(rec.t_s, stamps - (t_raw.min() if case.name == "moxy" else 0), atol=1e-9)
    values = _channel(rec, case.channel)
    for stamp in stamps[counts > 1]:
        k = int(np.searchsorted(rec.t_s, stamp))
        assert values[k] == pytest.approx(np.nanmean(v_raw[t_raw == stamp]))
    assert any("repeated an earlier time stamp" in n and "merged" in n for n in rec.notes)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_a_dropout_is_kept_as_a_gap_and_said(case: Case):
    rec = pick_sensor(read_recordings(case.path), case.sensor)
    t_raw, _ = case.raw()
    gap = float(np.max(np.diff(np.unique(t_raw))))
    assert gap >= 2.0  # the samples' dropouts: 18 s (Moxy), 3 s, 3.1 s, 2.1 s
    steps = np.diff(rec.t_s)
    assert steps.max() == pytest.approx(gap)  # nothing filled in
    assert rec.n_samples == np.unique(t_raw).size
    assert sum("dropout" in n and "kept as gaps" in n for n in rec.notes) == 1


@pytest.mark.parametrize(
    ("path", "sensors"),
    [
        (MOXY, ["1", "2"]),
        (TRAINRED, ["Train.Red FYER 0702", "Train.Red FYER 0673"]),
        (OXY_XLSX, ["9322", "9323"]),
    ],
    ids=["moxy", "trainred", "oxysoft-xlsx"],
)
def test_two_sensors_are_two_recordings(path: Path, sensors: list[str]):
    recs = read_recordings(path)
    assert [r.sensor for r in recs] == sensors
    first, second = (pick_sensor(recs, s) for s in sensors)
    assert pick_sensor(recs, "2") is second
    a, b = first.channel("smo2").values, second.channel("smo2").values
    assert a.shape == b.shape and not np.allclose(a, b, equal_nan=True)
    with pytest.raises(DatasetError, match="choose one with --sensor"):
        pick_sensor(recs, None)


def test_two_moxy_sensors_take_their_own_columns():
    _, header, rows = _csv_rows(MOXY, "mm-dd")
    two = pick_sensor(read_recordings(MOXY), "2")
    assert two.channel("smo2").name == "SmO2 Live(2)"
    assert two.channel("smo2").values[0] == float(rows[0][1][header.index("SmO2 Live(2)")])
    # The empty SmO2 Live(2) cell (13:18:26, 180 s) is NaN, and said; sensor 1 has none.
    assert np.isnan(two.channel("smo2").values[two.t_s == 180.0]).all()
    assert any("'SmO2 Live(2)': 1 of 113 values" in n for n in two.notes)
    assert not any("empty" in n for n in pick_sensor(read_recordings(MOXY), "1").notes)


def test_a_trainred_sensor_off_the_skin_is_nan_and_said():
    off = pick_sensor(read_recordings(TRAINRED), "Train.Red FYER 0673")
    smo2 = off.channel("smo2").values
    during = (off.t_s >= 100.0) & (off.t_s < 101.0)
    assert during.any() and np.isnan(smo2[during]).all()
    assert np.isfinite(smo2[~during]).all()
    assert sum("each were empty" in n for n in off.notes) == 1


def _edit_line(src: Path, dst: Path, line: int, old: str, new: str) -> None:
    lines = src.read_bytes().decode("utf-8").splitlines(keepends=True)
    assert old in lines[line - 1]
    lines[line - 1] = lines[line - 1].replace(old, new, 1)
    dst.write_bytes("".join(lines).encode("utf-8"))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_a_malformed_cell_is_one_error_naming_file_line_and_column(case: Case, tmp_path):
    bad = tmp_path / f"bad{case.path.suffix}"
    if case.name == "moxy":
        where, column = "line 20", "THb"
        _edit_line(case.path, bad, 20, ",12.", ",abc")  # first cell: '12.85' -> 'abc85'
    elif case.name == "trainred":
        where, column = "line 70", "SmO2"
        row = TRAINRED.read_text().splitlines()[69].split(",")
        _edit_line(case.path, bad, 70, f",,{row[3]},", ",,abc,")
    elif case.name == "oxysoft-txt":
        where, column = "line 100", "Rx1-Tx1 HHb"
        row = OXY_TXT.read_text().splitlines()[99].split("\t")
        _edit_line(case.path, bad, 100, "\t" + row[2] + "\t", "\tabc\t")
    else:
        import openpyxl

        wb = openpyxl.load_workbook(case.path)
        ws = wb.worksheets[0]
        ws.cell(row=80, column=3, value="abc")  # [9322] Rx1 - Tx1 HHb
        wb.save(bad)
        where, column = "row 80", "Rx1 - Tx1 HHb"
    with pytest.raises(DatasetError) as err:
        read_recordings(bad)
    message = str(err.value)
    assert message.startswith(str(bad) + ": " + where + ": ")
    assert f"{column!r} is " in message and "abc" in message and "expected a number" in message
    assert "\n" not in message


def test_a_row_cut_short_names_its_line(tmp_path):
    bad = tmp_path / "cut.csv"
    lines = TRAINRED.read_text().splitlines()
    bad.write_text("\n".join(lines[:-1] + [lines[-1][:20]]) + "\n")
    with pytest.raises(DatasetError, match=rf"line {len(lines)}: \d+ cells, the header"):
        read_recordings(bad)


@pytest.mark.parametrize("case", CASES[:3], ids=IDS[:3])
def test_a_row_with_a_value_beyond_the_last_column_names_its_line(case: Case, tmp_path):
    """A stray cell in a row would shift every value after it one column over (THb read
    as 69, ...): refused, naming the line; a trailing empty cell is only a delimiter."""
    lines = case.path.read_text().splitlines()
    sep = "\t" if case.name == "oxysoft-txt" else ","
    k = len(lines) - 3  # a sample row near the end
    # (OxySoft's column after the event may hold the event's label: three steps out.)
    for extra, refused in ((sep * 3, False), (sep * 3 + "7", True)):
        path = tmp_path / f"extra{case.path.suffix}"
        edited = lines[:k] + [lines[k] + extra] + lines[k + 1 :]
        path.write_text("\n".join(edited) + "\n")
        if refused:
            with pytest.raises(DatasetError, match=rf"line {k + 1}: \d+ cells, the "):
                read_recordings(path)
        else:
            assert len(read_recordings(path)) == len(read_recordings(case.path))


@pytest.mark.parametrize("case", CASES[:2], ids=IDS[:2])
def test_semicolons_decimal_commas_and_a_bom_read_the_same(case: Case, tmp_path):
    """A CSV re-saved by a spreadsheet in a European locale (UTF-8 with BOM, CRLF)."""
    european = [
        re.sub(r"(\d)\.(\d)", r"\1,\2", line.replace(",", ";"))
        for line in case.path.read_text().splitlines()
    ]
    path = tmp_path / "european.csv"
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(european).encode("utf-8") + b"\r\n")
    ours, theirs = read_recordings(path), read_recordings(case.path)
    assert [r.sensor for r in ours] == [r.sensor for r in theirs]
    for a, b in zip(ours, theirs):
        assert_allclose(a.t_s, b.t_s)
        for ca, cb in zip(a.channels, b.channels):
            assert (ca.name, ca.unit) == (cb.name, cb.unit)
            assert_allclose(ca.values, cb.values, equal_nan=True)
        assert any("semicolon-separated with decimal commas" in n for n in a.notes)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_the_format_is_told_by_content_not_name(case: Case, tmp_path):
    renamed = tmp_path / "recording.dat"
    shutil.copy(case.path, renamed)
    assert [r.format for r in read_recordings(renamed)] == [
        r.format for r in read_recordings(case.path)
    ]


def test_an_unsupported_file_names_the_supported_formats(tmp_path):
    other = tmp_path / "heart_rate.csv"
    other.write_text("time,hr\n0,61\n1,62\n")
    with pytest.raises(DatasetError) as err:
        read_recordings(other)
    message = str(err.value)
    for name in ("SNIRF", "Moxy", "Train.Red", "OxySoft .txt or .xlsx"):
        assert name in message
    book = tmp_path / "book.xlsx"
    import openpyxl

    wb = openpyxl.Workbook()
    wb.active.append(["time", "hr"])
    wb.save(book)
    with pytest.raises(DatasetError, match="not an OxySoft export .*first sheet.*Moxy"):
        read_recordings(book)
    # The wearable's own session record is not read here: the message says what is.
    from device.session_format import MAGIC

    record = tmp_path / "session.nrec"
    record.write_bytes(MAGIC + bytes(8))
    with pytest.raises(DatasetError, match=r"session record \(\.nrec\).*python -m host export"):
        read_recordings(record)


def test_an_oxysoft_file_without_a_sample_rate_says_so(tmp_path):
    bad = tmp_path / "no_rate.txt"
    text = OXY_TXT.read_text()
    bad.write_text(
        text.replace("Datafile sample rate:\t10.00\tHz", "").replace(
            "Export sample rate:\t10.0\tHz", ""
        )
    )
    with pytest.raises(DatasetError, match="states no sample rate"):
        read_recordings(bad)


def test_a_moxy_clock_passing_midnight_keeps_counting(tmp_path):
    path = tmp_path / "night.csv"
    path.write_text(
        "mm-dd,hh:mm:ss,SmO2 Live,SmO2 Averaged,THb,Lap,Session Ct\n"
        "06-Feb,23:59:58,60,60,12.80,1,5\n"
        "07-Feb,00:00:00,61,60,12.81,1,5\n"
        "07-Feb,00:00:02,62,61,12.82,2,5\n"
    )
    (rec,) = read_recordings(path)
    assert_allclose(rec.t_s, [0.0, 2.0, 4.0])
    assert rec.metadata["start_local_time"] == "06-Feb 23:59:58"
    assert [(i.label, i.onset_s, i.duration_s) for i in rec.intervals] == [
        ("Lap 1", 0.0, 4.0),
        ("Lap 2", 4.0, 0.0),
    ]
