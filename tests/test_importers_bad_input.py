"""Importers given broken or implausible exports (issue 17, the tester's breaks): each is
one clear error naming the file and the line (or a correct result with a note), never a
traceback and never a silently wrong number.

The inputs are the samples of tests/data/imports/ with one thing changed, as the tester
made them (a time column named otherwise, a clock reset, a stamp of 1e308, ...).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose

from host.importers import read_recordings
from host.session import DatasetError

DATA = Path(__file__).resolve().parent / "data" / "imports"
MOXY = DATA / "moxy_two_sensors.csv"
TRAINRED = DATA / "trainred_two_sensors.csv"
OXY_TXT = DATA / "oxysoft_portamon.txt"
OXY_XLSX = DATA / "oxysoft_two_portalites.xlsx"


def _lines(path: Path) -> list[str]:
    return path.read_bytes().decode("utf-8").splitlines()


def _first_data_line(lines: list[str], start: str) -> int:
    """Index in ``lines`` of the first sample row after the header starting ``start``."""
    return next(i for i, ln in enumerate(lines) if ln.startswith(start)) + 1


def _write(path: Path, lines: list[str], newline: str = "\n") -> Path:
    path.write_bytes((newline.join(lines) + newline).encode("utf-8"))
    return path


def _set_cell(line: str, i: int, value: str, sep: str = ",") -> str:
    cells = line.split(sep)
    cells[i] = value
    return sep.join(cells)


def _error(path: Path) -> str:
    with pytest.raises(DatasetError) as err:
        read_recordings(path)
    message = str(err.value)
    assert message.startswith(str(path) + ": ") and "\n" not in message
    return message


# --- 1. Moxy's time column looked up by the rule it was detected by ----------------------


@pytest.mark.parametrize("edit", ["renamed", "pipes"])
def test_a_moxy_time_column_not_named_hh_mm_ss_is_one_error(edit: str, tmp_path):
    lines = _lines(MOXY)
    h = _first_data_line(lines, "mm-dd") - 1
    if edit == "renamed":
        lines[h] = lines[h].replace(",hh:mm:ss,", ",Time (hh:mm:ss),")
    else:
        lines[h:] = [ln.replace(",", "|") for ln in lines[h:]]
    message = _error(_write(tmp_path / "moxy.csv", lines))
    assert f"line {h + 1}: no column named 'hh:mm:ss'" in message


# --- 2. A workbook whose sheet XML is cut short -----------------------------------------


def test_an_xlsx_with_a_cut_short_sheet_is_one_error(tmp_path):
    bad = tmp_path / "cut.xlsx"
    with zipfile.ZipFile(OXY_XLSX) as src, zipfile.ZipFile(bad, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename.endswith("sheet1.xml"):
                data = data[: len(data) // 2]
            dst.writestr(item, data)
    assert "cannot read as an .xlsx workbook (ParseError" in _error(bad)


# --- 3. Non-physical times and rates ----------------------------------------------------


@pytest.mark.parametrize("fmt", ["trainred", "oxysoft"])
def test_a_time_of_1e308_is_one_error_naming_its_line(fmt: str, tmp_path):
    if fmt == "trainred":
        lines, sep, start = _lines(TRAINRED), ",", "Timestamp"
    else:
        lines, sep, start = _lines(OXY_TXT), "\t", "1\t2\t3"
    k = _first_data_line(lines, start) + 5
    lines[k] = _set_cell(lines[k], 0, "1e308", sep)
    message = _error(_write(tmp_path / f"big.{'csv' if fmt == 'trainred' else 'txt'}", lines))
    assert f"line {k + 1}: " in message and "'1e308', more than 7 days" in message


@pytest.mark.parametrize("stated", ["inf", "nan", "0", "-10", "1e-300"])
def test_an_implausible_export_rate_is_passed_over_and_said(stated: str, tmp_path):
    text = OXY_TXT.read_text()
    assert "Export sample rate:\t10.0\tHz" in text
    path = tmp_path / "rate.txt"
    path.write_text(text.replace("Export sample rate:\t10.0", f"Export sample rate:\t{stated}"))
    (rec,) = read_recordings(path)
    (ref,) = read_recordings(OXY_TXT)
    assert_allclose(rec.t_s, ref.t_s)  # the datafile's 10 Hz
    assert any(f"export sample rate stated, {stated!r} Hz, is not between" in n for n in rec.notes)
    assert any("datafile sample rate (10 Hz) was used instead" in n for n in rec.notes)
    # With no plausible rate at all: one error saying what is allowed.
    path.write_text(
        text.replace("Export sample rate:\t10.0", f"Export sample rate:\t{stated}").replace(
            "Datafile sample rate:\t10.00", "Datafile sample rate:\tinf"
        )
    )
    assert "no sample rate to turn sample numbers into times (allowed: 0.1" in _error(path)


# --- 4. Duplicate column names ----------------------------------------------------------


def test_a_moxy_column_named_twice_is_one_error(tmp_path):
    lines = _lines(MOXY)
    h = _first_data_line(lines, "mm-dd") - 1
    lines[h] = lines[h].replace(",THb,", ",SmO2 Live,", 1)
    message = _error(_write(tmp_path / "dup.csv", lines))
    assert f"line {h + 1}: the column 'SmO2 Live' appears 2 times" in message


# --- 5. Time going backwards ------------------------------------------------------------


def test_a_trainred_clock_reset_is_one_error_naming_the_line(tmp_path):
    lines = _lines(TRAINRED)
    first = _first_data_line(lines, "Timestamp")
    k = first + 600
    for i in range(k, len(lines)):
        cells = lines[i].split(",")
        lines[i] = _set_cell(lines[i], 0, f"{float(cells[0]) - 60:.2f}")
    message = _error(_write(tmp_path / "reset.csv", lines))
    assert f"line {k + 1}: time goes back by " in message and "allowed: steps back of" in message
    # A swapped pair of rows (a step back of 0.1 s) is still put in order and read.
    lines = _lines(TRAINRED)
    lines[first + 100], lines[first + 101] = lines[first + 101], lines[first + 100]
    recs = read_recordings(_write(tmp_path / "swap.csv", lines))
    assert any("went back in time; the samples were put in time order" in n for n in recs[0].notes)
    assert_allclose(recs[0].t_s, read_recordings(TRAINRED)[0].t_s)


def test_oxysoft_sample_numbers_going_back_are_one_error(tmp_path):
    lines = _lines(OXY_TXT)
    k = _first_data_line(lines, "1\t2\t3") + 600
    lines[k] = _set_cell(lines[k], 0, str(int(lines[k].split("\t")[0]) - 300), "\t")
    message = _error(_write(tmp_path / "back.txt", lines, "\r\n"))
    assert f"line {k + 1}: time goes back by 29.9 s" in message


def test_one_early_moxy_stamp_is_an_error_not_a_new_time_zero(tmp_path):
    lines = _lines(MOXY)
    k = _first_data_line(lines, "mm-dd") + 50
    lines[k] = _set_cell(lines[k], 1, "12:15:00")
    message = _error(_write(tmp_path / "glitch.csv", lines))
    assert f"line {k + 1}: time goes back by " in message and "'12:15:00'" in message


def test_a_moxy_clock_set_back_at_noon_is_an_error_and_midnight_is_said(tmp_path):
    header = "mm-dd,hh:mm:ss,SmO2 Live,SmO2 Averaged,THb,Lap,Session Ct"
    rows = ["06-Feb,13:01:36,60,60,12.80,1,5", "06-Feb,13:01:38,61,60,12.81,1,5"]
    reset = _write(tmp_path / "reset.csv", [header, *rows, "06-Feb,00:01:40,62,61,12.8,1,5"])
    assert "line 4: the clock jumps back from '13:01:38' (line 3) to '00:01:40'" in _error(reset)
    night = [header, "06-Feb,23:59:58,60,60,12.80,1,5", "07-Feb,00:00:00,61,60,12.81,1,5"]
    (rec,) = read_recordings(_write(tmp_path / "night.csv", night))
    assert any("passed midnight at line 3: a day (86400 s) was added" in n for n in rec.notes)


# --- 6. Fewer than two distinct times ---------------------------------------------------


@pytest.mark.parametrize("fmt", ["moxy", "trainred", "oxysoft-txt", "oxysoft-xlsx"])
def test_all_time_stamps_equal_is_one_error(fmt: str, tmp_path):
    if fmt == "oxysoft-xlsx":
        import openpyxl

        wb = openpyxl.load_workbook(OXY_XLSX)
        ws = wb.worksheets[0]
        rows = list(ws.iter_rows())
        start = next(i for i, r in enumerate(rows) if [c.value for c in r[:3]] == [1, 2, 3])
        for r in rows[start + 1 :]:
            r[0].value = 5
        path = tmp_path / "equal.xlsx"
        wb.save(path)
        n = len(rows) - start - 1
    else:
        src, sep, start, col = {
            "moxy": (MOXY, ",", "mm-dd", 1),
            "trainred": (TRAINRED, ",", "Timestamp", 0),
            "oxysoft-txt": (OXY_TXT, "\t", "1\t2\t3", 0),
        }[fmt]
        lines = _lines(src)
        first = _first_data_line(lines, start)
        body = [ln for ln in lines[first:] if ln.strip()]
        lines[first:] = [
            _set_cell(ln, col, "13:15:26" if fmt == "moxy" else "5", sep) for ln in body
        ]
        path = _write(tmp_path / f"equal{src.suffix}", lines)
        n = len(body)
    assert f"all {n} time stamps are equal" in _error(path)


# --- 7. Values out of their physical range ----------------------------------------------


def test_values_out_of_range_are_nan_and_counted(tmp_path):
    lines = _lines(MOXY)
    first = _first_data_line(lines, "mm-dd")
    for k, value in ((5, "1e308"), (6, "-5"), (7, "150")):
        lines[first + k] = _set_cell(lines[first + k], 2, value)  # SmO2 Live
    lines[first + 8] = _set_cell(lines[first + 8], 4, "1e300")  # THb, a.u.
    one = read_recordings(_write(tmp_path / "huge.csv", lines))[0]
    smo2 = one.channel("smo2").values
    assert np.nanmin(smo2) >= 0 and np.nanmax(smo2) <= 100
    assert np.nanmax(one.channel("thb").values) < 1e6
    assert any(
        "'SmO2 Live': 3 of 113 values outside the plausible 0 to 100 %" in n for n in one.notes
    )
    assert any("'THb': 1 of 113 values outside the plausible" in n for n in one.notes)


# --- 8. Two Train.Red sensors under one Sensor ID ---------------------------------------


def test_two_trainred_sensors_with_one_id_get_distinct_labels(tmp_path):
    text = TRAINRED.read_text().replace("Train.Red FYER 0673", "Train.Red FYER 0702")
    path = tmp_path / "same_id.csv"
    path.write_text(text)
    recs = read_recordings(path)
    assert [r.sensor for r in recs] == ["Train.Red FYER 0702", "Train.Red FYER 0702 (2)"]
    assert any("same Sensor ID as an earlier one" in n for n in recs[1].notes)


# --- 9. Smaller ones --------------------------------------------------------------------


def test_an_unclosed_quote_names_the_line_it_opens_on(tmp_path):
    lines = _lines(MOXY)
    k = _first_data_line(lines, "mm-dd") + 5
    lines[k] = lines[k].replace(",", ',"', 2).replace(',"', ",", 1)
    message = _error(_write(tmp_path / "quote.csv", lines))
    assert f'line {k + 1}: a quote (") opens and is not closed' in message


def test_counters_keep_the_first_value_of_a_merged_stamp(tmp_path):
    lines = _lines(MOXY)
    k = _first_data_line(lines, "mm-dd") + 10
    row = lines[k]
    again = _set_cell(_set_cell(row, 2, "40"), 9, "900")  # SmO2 Live 40, Session Ct 900
    lines[k + 1 : k + 1] = [again]
    one = read_recordings(_write(tmp_path / "repeat.csv", lines))[0]
    t = one.t_s[np.searchsorted(one.t_s, 20.0)]
    assert t == 20.0
    i = int(np.searchsorted(one.t_s, 20.0))
    counter = next(c for c in one.channels if c.name == "Session Ct").values
    assert counter[i] == float(row.split(",")[9])  # the first, not the mean with 900
    assert one.channel("smo2").values[i] == pytest.approx((float(row.split(",")[2]) + 40) / 2)
    assert any("the first value in counters and categories" in n for n in one.notes)


@pytest.mark.parametrize("sep", [",", ";"])
def test_an_oxysoft_txt_not_tab_separated_says_so(sep: str, tmp_path):
    path = tmp_path / "resaved.txt"
    path.write_text(OXY_TXT.read_text().replace("\t", sep))
    assert f"must be tab-separated (found {sep!r}" in _error(path)


# --- 10. Mostly repeated stamps, a column named twice in one Train.Red sensor --------------


def test_almost_all_stamps_equal_is_one_error(tmp_path):
    """All but one stamp equal: merging would leave 2 samples (they were plotted before)."""
    lines = _lines(TRAINRED)
    first = _first_data_line(lines, "Timestamp")
    body = [ln for ln in lines[first:] if ln.strip()]
    lines[first:] = [_set_cell(ln, 0, "5.00") for ln in body[:-1]] + [_set_cell(body[-1], 0, "6")]
    message = _error(_write(tmp_path / "almost.csv", lines))
    n = len(body)
    assert f"line {first + 1}: {n - 2} of {n} rows repeat an earlier time stamp" in message
    assert f"'5.00' alone is on {n - 1} rows); merging them would leave 2 samples" in message


def test_a_trainred_column_named_twice_in_one_sensor_is_one_error(tmp_path):
    lines = _lines(TRAINRED)
    h = _first_data_line(lines, "Timestamp") - 1
    lines[h] = lines[h].replace("SmO2 unfiltered", "SmO2", 1)
    message = _error(_write(tmp_path / "dup.csv", lines))
    assert f"line {h + 1}: the column 'SmO2' appears 2 times in one sensor's columns" in message
