"""SNIRF files from other devices and tools, read by host.snirf_reader.read_snirf_recordings
(issue 17, point 1, last bullet).

Each sample is made here with h5py in the layout the tool writes, as its source writes it:

* :func:`mne_nirs_file`: mne-nirs ``write_raw_snirf`` (mne_nirs/io/snirf/_snirf.py): one
  data block of raw light starting at 0 s, fixed-length byte strings, some tags as
  one-element arrays, lengths in m, stims of 3 columns, MeasurementTime "hh:mm:ssZ";
* :func:`homer3_file`: Homer3's SnirfClass (MATLAB): integers stored as doubles, an empty
  dataTypeLabel on raw channels, time as an n × 1 column, TimeUnit "unknown", lengths in
  mm, MeasurementTime in local time without a zone, a one-row stim stored 1-D, an
  accelerometer aux channel; 2 wavelengths, 2 channels (source–detector pairs);
* :func:`processed_file`: a processed export: two ``/nirs{i}`` groups, HbO/HbR/HbT in
  µmol/L, ΔOD at three wavelengths on the same time base, StO2 on its own 1 Hz base, a
  time axis starting at 12.5 s, MeasurementTime with a +02:00 zone.

What each tool writes and what the reader takes from it: docs/snirf.md.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import h5py
import numpy as np
import pytest
from numpy.testing import assert_array_equal
from test_dataset import make_record, snirf_validator

from host.importers import read_recordings
from host.recording import Recording
from host.session import DatasetError
from host.snirf_reader import read_session, read_snirf_recordings
from host.snirf_writer import write_session

N = 50  # samples at 10 Hz
_VLEN = h5py.string_dtype("utf-8")


def light(n_columns: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.5, 2.0, (N, n_columns))


def mne_nirs_file(path: Path) -> Path:
    """Raw CW light of S1–D1 and S2–D1 at 760 and 850 nm, as mne-nirs writes it."""
    with h5py.File(path, "w") as f:
        f.create_dataset("formatVersion", data=b"1.1")
        nirs = f.create_group("nirs")
        tags = nirs.create_group("metaDataTags")
        tags.create_dataset("MeasurementDate", data=b"2021-04-01")
        tags.create_dataset("MeasurementTime", data=b"12:30:00Z")
        tags.create_dataset("SubjectID", data=b"sub01")
        for tag, value in (("LengthUnit", b"m"), ("TimeUnit", b"s"), ("FrequencyUnit", b"Hz")):
            tags.create_dataset(tag, data=value)
        tags.create_dataset("lastName", data=[b"Doe"])
        tags.create_dataset("MNE_coordFrame", data=[4])
        data = nirs.create_group("data1")
        data.create_dataset("dataTimeSeries", data=light(4))
        data.create_dataset("time", data=np.arange(N) / 10.0)
        for k, (src, wl) in enumerate([(1, 1), (1, 2), (2, 1), (2, 2)], start=1):
            ml = data.create_group(f"measurementList{k}")
            ml.create_dataset("sourceIndex", data=src, dtype="int32")
            ml.create_dataset("detectorIndex", data=1, dtype="int32")
            ml.create_dataset("wavelengthIndex", data=wl, dtype="int32")
            ml.create_dataset("dataType", data=1, dtype="int32")
            ml.create_dataset("dataTypeIndex", data=1, dtype="int32")
        probe = nirs.create_group("probe")
        probe.create_dataset("sourceLabels", data=[b"S1", b"S2"])
        probe.create_dataset("detectorLabels", data=[b"D1"])
        probe.create_dataset("wavelengths", data=[760.0, 850.0])
        probe.create_dataset("sourcePos3D", data=[[0.0, 0.0, 0.0], [0.06, 0.0, 0.0]])
        probe.create_dataset("detectorPos3D", data=[[0.03, 0.0, 0.0]])
        for i, (name, rows) in enumerate(
            [("A", [[1.0, 2.0, 1.0], [3.0, 0.5, 1.0]]), ("B", [[2.5, 1.0, 2.0]])], start=1
        ):
            stim = nirs.create_group(f"stim{i}")
            stim.create_dataset("data", data=np.array(rows))
            stim.create_dataset("name", data=name.encode())
    return path


def homer3_file(path: Path) -> Path:
    """2 wavelengths (690, 830 nm), 2 channels (S1–D1, S1–D2), as Homer3 writes them."""
    with h5py.File(path, "w") as f:
        f.create_dataset("formatVersion", data="1.0", dtype=_VLEN)
        nirs = f.create_group("nirs")
        tags = nirs.create_group("metaDataTags")
        for tag, value in (
            ("SubjectID", "default"),
            ("MeasurementDate", "2023-05-17"),
            ("MeasurementTime", "14:02:33"),
            ("LengthUnit", "mm"),
            ("TimeUnit", "unknown"),
            ("FrequencyUnit", "unknown"),
            ("AppName", "homer3-DataTree"),
        ):
            tags.create_dataset(tag, data=value, dtype=_VLEN)
        data = nirs.create_group("data1")
        data.create_dataset("dataTimeSeries", data=light(4, seed=1))
        data.create_dataset("time", data=(np.arange(N) / 10.0)[:, None])  # a MATLAB column
        for k, (det, wl) in enumerate([(1, 1), (2, 1), (1, 2), (2, 2)], start=1):
            ml = data.create_group(f"measurementList{k}")
            for field, value in (
                ("sourceIndex", 1.0),
                ("detectorIndex", float(det)),
                ("wavelengthIndex", float(wl)),
                ("dataType", 1.0),
                ("dataTypeIndex", 1.0),
                ("sourcePower", 0.0),
                ("detectorGain", 0.0),
            ):
                ml.create_dataset(field, data=np.float64(value))
            ml.create_dataset("dataTypeLabel", data="", dtype=_VLEN)
        probe = nirs.create_group("probe")
        probe.create_dataset("wavelengths", data=[690.0, 830.0])
        probe.create_dataset("sourcePos3D", data=[[0.0, 0.0, 0.0]])
        probe.create_dataset("detectorPos3D", data=[[30.0, 0.0, 0.0], [0.0, 40.0, 0.0]])
        stim = nirs.create_group("stim1")
        stim.create_dataset("name", data="1", dtype=_VLEN)
        stim.create_dataset("data", data=[[0.5, 1.0, 1.0], [3.0, 1.0, 1.0]])
        stim = nirs.create_group("stim2")
        stim.create_dataset("name", data="2", dtype=_VLEN)
        stim.create_dataset("data", data=[1.5, 2.0, 1.0])  # one row, stored 1-D
        aux = nirs.create_group("aux1")
        aux.create_dataset("name", data="ACCEL_X", dtype=_VLEN)
        aux.create_dataset("dataTimeSeries", data=np.zeros((2 * N, 1)))
        aux.create_dataset("time", data=np.arange(2 * N) / 20.0)
    return path


def _processed_block(
    nirs: h5py.Group,
    name: str,
    time: np.ndarray,
    channels: list[tuple],
    seed: int,
    scale: float = 1.0,
) -> None:
    """channels: (source, detector, wavelengthIndex, dataTypeLabel, dataUnit or None);
    values normal(0, 1) × ``scale`` (1e-6 for haemoglobin in M, as MNE-Python writes it)."""
    data = nirs.create_group(name)
    values = scale * np.random.default_rng(seed).normal(0.0, 1.0, (time.size, len(channels)))
    data.create_dataset("dataTimeSeries", data=values)
    data.create_dataset("time", data=time)
    for k, (src, det, wl, label, unit) in enumerate(channels, start=1):
        ml = data.create_group(f"measurementList{k}")
        for field, value in (
            ("sourceIndex", src),
            ("detectorIndex", det),
            ("wavelengthIndex", wl),
            ("dataType", 99999),
            ("dataTypeIndex", 1),
        ):
            ml.create_dataset(field, data=np.int32(value))
        ml.create_dataset("dataTypeLabel", data=label, dtype=_VLEN)
        if unit is not None:
            ml.create_dataset("dataUnit", data=unit, dtype=_VLEN)


def _tags(nirs: h5py.Group, date: str, time: str) -> None:
    tags = nirs.create_group("metaDataTags")
    for tag, value in (
        ("SubjectID", "P07"),
        ("MeasurementDate", date),
        ("MeasurementTime", time),
        ("LengthUnit", "cm"),
        ("TimeUnit", "s"),
        ("FrequencyUnit", "Hz"),
        ("ManufacturerName", "Example"),
    ):
        tags.create_dataset(tag, data=value, dtype=_VLEN)


def _probe(nirs: h5py.Group, wavelengths: list[float], detectors: int) -> None:
    probe = nirs.create_group("probe")
    probe.create_dataset("wavelengths", data=wavelengths)
    probe.create_dataset("sourcePos3D", data=[[0.0, 0.0, 0.0]])
    probe.create_dataset("detectorPos3D", data=[[3.0 + d, 0.0, 0.0] for d in range(detectors)])


def processed_file(path: Path) -> Path:
    """Two devices (/nirs1, /nirs2); the first: HbO/HbR/HbT (µmol/L) of S1–D1 and S1–D2,
    ΔOD at 3 wavelengths of S1–D1 on the same base, StO2 (%) of S1–D1 at 1 Hz."""
    t10 = 12.5 + np.arange(N) / 10.0
    with h5py.File(path, "w") as f:
        f.create_dataset("formatVersion", data="1.1", dtype=_VLEN)
        first = f.create_group("nirs1")
        _tags(first, "2024-02-29", "09:15:00.250+02:00")
        _probe(first, [760.0, 810.0, 850.0], detectors=2)
        hb = [(1, d, 1, label, "umol/L") for d in (1, 2) for label in ("HbO", "HbR", "HbT")]
        _processed_block(first, "data1", t10, hb, seed=2)
        od = [(1, 1, wl, "dOD", None) for wl in (1, 2, 3)]
        _processed_block(first, "data2", t10.copy(), od, seed=3)
        _processed_block(first, "data3", 12.5 + np.arange(5.0), [(1, 1, 1, "StO2", "%")], 4)
        stim = first.create_group("stim1")
        stim.create_dataset("name", data="occlusion", dtype=_VLEN)
        stim.create_dataset("data", data=[[13.0, 2.0, 1.0, 7.0]])
        stim.create_dataset("dataLabels", data=["Onset", "Duration", "Amplitude", "Cuff"])
        second = f.create_group("nirs2")
        _tags(second, "unknown", "unknown")
        _probe(second, [760.0, 850.0], detectors=1)
        no_unit = [(1, 1, 1, "HbO", None), (1, 1, 1, "HbR", None)]  # taken as M
        _processed_block(second, "data1", t10, no_unit, 5, scale=1e-6)
    return path


@pytest.fixture(scope="module")
def validate_snirf(tmp_path_factory: pytest.TempPathFactory) -> Callable:
    return snirf_validator(tmp_path_factory.mktemp("snirf-log"))


def by_sensor(recordings: list[Recording]) -> dict[str, Recording]:
    return {r.sensor: r for r in recordings}


# -- the samples ----------------------------------------------------------------------------


def test_an_mne_nirs_file(tmp_path: Path, validate_snirf: Callable) -> None:
    path = mne_nirs_file(tmp_path / "mne.snirf")
    assert validate_snirf(str(path)).is_valid()
    recs = by_sensor(read_snirf_recordings(path))
    assert list(recs) == ["S1-D1", "S2-D1"]
    series = light(4)
    for sensor, columns in (("S1-D1", [0, 1]), ("S2-D1", [2, 3])):
        rec = recs[sensor]
        assert (rec.format, rec.provenance, rec.source) == ("snirf", "unknown", path)
        assert [(c.name, c.quantity, c.unit, c.wavelength_nm) for c in rec.channels] == [
            (f"{sensor.replace('-', '_')} 760", "intensity", "a.u.", 760.0),
            (f"{sensor.replace('-', '_')} 850", "intensity", "a.u.", 850.0),
        ]
        assert_array_equal(np.column_stack([c.values for c in rec.channels]), series[:, columns])
        assert_array_equal(rec.t_s, np.arange(N) / 10.0)
        assert rec.start_utc == datetime(2021, 4, 1, 12, 30, tzinfo=timezone.utc)
        assert [(i.label, i.onset_s, i.duration_s) for i in rec.intervals] == [
            ("A", 1.0, 2.0),
            ("B", 2.5, 1.0),
            ("A", 3.0, 0.5),
        ]
        assert rec.metadata["SubjectID"] == "sub01" and rec.metadata["lastName"] == "Doe"
        assert rec.metadata["MNE_coordFrame"] == 4
    assert recs["S1-D1"].metadata["source_detector_distance_cm"] == pytest.approx(3.0)
    assert recs["S2-D1"].metadata["source_detector_distance_cm"] == pytest.approx(3.0)
    assert recs["S1-D1"].notes == ()


def test_a_homer3_file_with_two_wavelengths_and_two_channels(tmp_path: Path) -> None:
    path = homer3_file(tmp_path / "homer3.snirf")
    recs = by_sensor(read_snirf_recordings(path))
    assert list(recs) == ["S1-D1", "S1-D2"]
    series = light(4, seed=1)
    for sensor, columns in (("S1-D1", [0, 2]), ("S1-D2", [1, 3])):
        rec = recs[sensor]
        assert [(c.quantity, c.unit, c.wavelength_nm) for c in rec.channels] == [
            ("intensity", "a.u.", 690.0),
            ("intensity", "a.u.", 830.0),
        ]
        assert_array_equal(np.column_stack([c.values for c in rec.channels]), series[:, columns])
        assert_array_equal(rec.t_s, np.arange(N) / 10.0)
        assert rec.start_utc == datetime(2023, 5, 17, 14, 2, 33, tzinfo=timezone.utc)
        assert [(i.label, i.onset_s) for i in rec.intervals] == [("1", 0.5), ("2", 1.5), ("1", 3.0)]
        assert rec.metadata["AppName"] == "homer3-DataTree"
        assert rec.notes == (
            "TimeUnit 'unknown': times taken as seconds (as MNE-Python does)",
            "MeasurementTime has no time zone: taken as UTC (as MNE-Python does)",
            "aux channels not read (own time bases): ACCEL_X",
        )
    assert recs["S1-D1"].metadata["source_detector_distance_cm"] == pytest.approx(3.0)
    assert recs["S1-D2"].metadata["source_detector_distance_cm"] == pytest.approx(4.0)


def test_a_processed_file_with_two_devices_and_two_time_bases(
    tmp_path: Path, validate_snirf: Callable
) -> None:
    path = processed_file(tmp_path / "processed.snirf")
    assert validate_snirf(str(path)).is_valid()
    recs = by_sensor(read_snirf_recordings(path))
    assert list(recs) == [
        "nirs1 S1-D1 (data1, data2)",
        "nirs1 S1-D2",
        "nirs1 S1-D1 (data3)",
        "nirs2 S1-D1",
    ]
    first = recs["nirs1 S1-D1 (data1, data2)"]
    assert [(c.name, c.quantity, c.unit, c.relative, c.wavelength_nm) for c in first.channels] == [
        ("S1_D1 HbO", "hbo2", "uM", True, None),
        ("S1_D1 HbR", "hhb", "uM", True, None),
        ("S1_D1 HbT", "thb", "uM", True, None),
        ("S1_D1 dOD 760", "d_od", "1", True, 760.0),
        ("S1_D1 dOD 810", "d_od", "1", True, 810.0),
        ("S1_D1 dOD 850", "d_od", "1", True, 850.0),
    ]
    hb = np.random.default_rng(2).normal(0.0, 1.0, (N, 6))
    assert_array_equal(first.channel("hbo2").values, hb[:, 0])
    assert_array_equal(recs["nirs1 S1-D2"].channel("thb").values, hb[:, 5])
    assert first.t_s[0] == 12.5  # the file's time offset is kept
    assert first.start_utc == datetime(2024, 2, 29, 7, 15, 0, 250000, tzinfo=timezone.utc)
    assert [(i.label, i.onset_s, i.duration_s) for i in first.intervals] == [
        ("occlusion", 13.0, 2.0)
    ]
    assert first.metadata["ManufacturerName"] == "Example"
    assert first.metadata["source_detector_distance_cm"] == pytest.approx(3.0)
    assert recs["nirs1 S1-D2"].metadata["source_detector_distance_cm"] == 4.0
    assert first.notes == ()
    sto2 = recs["nirs1 S1-D1 (data3)"]
    assert [(c.quantity, c.unit, c.relative) for c in sto2.channels] == [("smo2", "%", False)]
    assert_array_equal(sto2.t_s, 12.5 + np.arange(5.0))
    second = recs["nirs2 S1-D1"]
    assert [(c.quantity, c.unit) for c in second.channels] == [("hbo2", "M"), ("hhb", "M")]
    assert second.start_utc is None
    assert second.notes == ("haemoglobin without dataUnit: taken as M (as MNE-Python does)",)


def test_measurement_lists_of_the_snirf_1_2_draft(tmp_path: Path) -> None:
    """SNIRF 1.2 (draft) may describe the columns with one array per field."""
    path = mne_nirs_file(tmp_path / "lists.snirf")
    with h5py.File(path, "r+") as f:
        data = f["nirs/data1"]
        for k in range(1, 5):
            del data[f"measurementList{k}"]
        lists = data.create_group("measurementLists")
        lists.create_dataset("sourceIndex", data=np.int32([1, 1, 2, 2]))
        lists.create_dataset("detectorIndex", data=np.int32([1, 1, 1, 1]))
        lists.create_dataset("wavelengthIndex", data=np.int32([1, 2, 1, 2]))
        lists.create_dataset("dataType", data=np.int32([1, 1, 1, 1]))
        lists.create_dataset("dataUnit", data=["V"] * 4, dtype=_VLEN)
    recs = by_sensor(read_snirf_recordings(path))
    assert list(recs) == ["S1-D1", "S2-D1"]
    assert [(c.unit, c.wavelength_nm) for c in recs["S2-D1"].channels] == [
        ("V", 760.0),
        ("V", 850.0),
    ]
    assert_array_equal(recs["S2-D1"].channels[1].values, light(4)[:, 3])


def test_repeated_and_unordered_time_stamps_are_merged_and_said(tmp_path: Path) -> None:
    path = mne_nirs_file(tmp_path / "stamps.snirf")
    with h5py.File(path, "r+") as f:
        time = np.arange(N) / 10.0
        time[5] = time[4]  # a repeated stamp
        time[[10, 11]] = time[[11, 10]]  # two out of order
        del f["nirs/data1/time"]
        f["nirs/data1/time"] = time
    rec = read_snirf_recordings(path)[0]
    assert rec.n_samples == N - 1 and np.all(np.diff(rec.t_s) > 0)
    series = light(4)
    assert rec.channels[0].values[4] == pytest.approx((series[4, 0] + series[5, 0]) / 2)
    assert rec.notes == (
        "time stamps out of order or repeated: samples put in time order, "
        "1 sharing a stamp merged (mean)",
    )


def test_a_regular_time_axis_given_as_start_and_spacing(tmp_path: Path) -> None:
    """SNIRF: ``time`` may be [start, spacing] when the sampling is regular."""
    path = mne_nirs_file(tmp_path / "regular.snirf")
    with h5py.File(path, "r+") as f:
        del f["nirs/data1/time"]
        f["nirs/data1/time"] = [2.0, 0.25]
    rec = read_snirf_recordings(path)[0]
    assert_array_equal(rec.t_s, 2.0 + 0.25 * np.arange(N))


# -- this project's files and the common entry point ------------------------------------------


def test_this_projects_file_is_one_recording_of_its_session(tmp_path: Path) -> None:
    path = write_session(tmp_path / "s01.snirf", make_record())
    (rec,) = read_snirf_recordings(path)
    assert rec.format == "nirs-fatigue-session"
    assert_array_equal(rec.channel("hbo2", unit="uM").values, read_session(path).d_hbo2_um)
    assert [r.describe() for r in read_recordings(path)] == [rec.describe()]


def test_read_recordings_takes_other_tools_snirf(tmp_path: Path) -> None:
    path = homer3_file(tmp_path / "homer3.snirf")
    assert [r.sensor for r in read_recordings(path)] == ["S1-D1", "S1-D2"]


# -- malformed files: one line naming the file and the field ----------------------------------


def _set(path: Path, location: str, value: object) -> None:
    with h5py.File(path, "r+") as f:
        del f[location]
        f[location] = value


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda p: _set(p, "nirs/data1/measurementList3/wavelengthIndex", 3.0),
            "/nirs/data1/measurementList3/wavelengthIndex is 3; allowed: 1 to 2 "
            "(an entry of the probe's wavelengths)",
        ),
        (
            lambda p: _set(p, "nirs/data1/dataTimeSeries", light(4)[:-1]),
            "/nirs/data1/dataTimeSeries has 49 rows but /nirs/data1/time has 50 samples: "
            "arrays of inconsistent lengths",
        ),
        (
            lambda p: _set(p, "nirs/data1/dataTimeSeries", light(5)),
            "/nirs/data1/dataTimeSeries has 5 columns but /nirs/data1 describes 4 "
            "(measurementList1…4)",
        ),
        (
            lambda p: _set(p, "nirs/data1/measurementList2/sourceIndex", 0.0),
            "/nirs/data1/measurementList2/sourceIndex is 0.0; allowed: a whole number ≥ 1",
        ),
        (
            lambda p: _set(p, "nirs/metaDataTags/TimeUnit", "fortnight"),
            "/nirs/metaDataTags/TimeUnit is 'fortnight'; allowed: s, ms, us, µs, μs, unknown",
        ),
        (
            lambda p: _set(p, "nirs/stim1/data", [[1.0, 2.0]]),
            "/nirs/stim1/data has 2 columns; SNIRF stim rows are [onset, duration, value, "
            "...] (at least 3)",
        ),
        (lambda p: _set(p, "nirs/data1/time", [[np.nan]]), "/nirs/data1/time holds a time"),
    ],
)
def test_a_malformed_file_is_one_line_naming_the_file_and_the_field(
    tmp_path: Path, edit: Callable[[Path], None], message: str
) -> None:
    path = homer3_file(tmp_path / "broken.snirf")
    edit(path)
    with pytest.raises(DatasetError) as info:
        read_snirf_recordings(path)
    text = str(info.value)
    assert text.startswith(f"{path}: {message}")
    assert "\n" not in text and info.value.path == path


def test_files_that_are_not_snirf(tmp_path: Path) -> None:
    plain = tmp_path / "weights.h5"
    with h5py.File(plain, "w") as f:
        f["weights"] = np.ones(3)
    with pytest.raises(DatasetError, match="lacks /nirs \\(or /nirs1\\): not a SNIRF file"):
        read_snirf_recordings(plain)
    text = tmp_path / "notes.snirf"
    text.write_text("not HDF5")
    with pytest.raises(DatasetError, match="not a readable HDF5"):
        read_snirf_recordings(text)
    with pytest.raises(DatasetError, match="no such file"):
        read_snirf_recordings(tmp_path / "absent.snirf")
    assert os.path.exists(plain)


# -- values other tools may write that are not what they seem (issue 17, tester's 17 b) -------


def test_a_measurement_time_that_is_no_time_of_day_leaves_the_start_unknown(
    tmp_path: Path,
) -> None:
    path = mne_nirs_file(tmp_path / "time.snirf")
    _set(path, "nirs/metaDataTags/MeasurementTime", b"25:61:99Z")
    (first, _) = read_snirf_recordings(path)
    assert first.start_utc is None
    assert "MeasurementTime '25:61:99Z' is not a time of day" in " ".join(first.notes)


def test_a_data_offset_makes_haemoglobin_absolute_and_says_so(tmp_path: Path) -> None:
    """SNIRF 1.2 draft: dataOffset added to the values gives absolute concentrations; a
    column whose offset is 0 stays a change."""
    path = tmp_path / "offset.snirf"
    with h5py.File(path, "w") as f:
        f.create_dataset("formatVersion", data="1.2", dtype=_VLEN)
        nirs = f.create_group("nirs")
        _tags(nirs, "2024-02-29", "09:15:00Z")
        _probe(nirs, [760.0, 850.0], detectors=1)
        hb = [(1, 1, 1, "HbO", "uM"), (1, 1, 1, "HbR", "uM")]
        _processed_block(nirs, "data1", np.arange(N) / 10.0, hb, seed=2)
        nirs["data1"].create_dataset("dataOffset", data=[60.0, 0.0])
    (rec,) = read_snirf_recordings(path)
    hbo, hbr = rec.channels
    assert (hbo.relative, hbr.relative) == (False, True)
    assert hbo.values.mean() == pytest.approx(60.0, abs=1.0)
    assert rec.notes == (
        "HbO with a non-zero dataOffset: the offset added, values absolute (not changes "
        "from a baseline)",
    )


def test_infinite_values_are_read_as_no_value_and_counted(tmp_path: Path) -> None:
    path = homer3_file(tmp_path / "inf.snirf")
    series = light(4, seed=1)
    series[[3, 7], 0] = [np.inf, -np.inf]
    _set(path, "nirs/data1/dataTimeSeries", series)
    first = read_snirf_recordings(path)[0]
    values = first.channels[0].values
    assert np.flatnonzero(np.isnan(values)).tolist() == [3, 7]
    assert not np.isinf(values).any()
    assert "/nirs/data1/measurementList1: 2 infinite value(s) read as no value (NaN)" in (
        first.notes
    )


@pytest.mark.parametrize("wavelengths", [[np.nan, 850.0], [760.0, -5.0], [0.0, 850.0]])
def test_wavelengths_that_are_not_positive_finite_are_refused(
    tmp_path: Path, wavelengths: list[float]
) -> None:
    path = mne_nirs_file(tmp_path / "wl.snirf")
    _set(path, "nirs/probe/wavelengths", wavelengths)
    with pytest.raises(DatasetError) as info:
        read_snirf_recordings(path)
    bad = next(w for w in wavelengths if not (np.isfinite(w) and w > 0))
    assert str(info.value) == (
        f"{path}: /nirs/probe/wavelengths holds {bad:g}; allowed: finite wavelengths > 0 nm"
    )


def test_stims_outside_the_recording_are_dropped_or_clipped_and_said(tmp_path: Path) -> None:
    """The file runs 0–4.9 s at 10 Hz; stims wholly outside go, one running past the end
    is clipped to it, one ending within a sample interval of it is kept as it is."""
    path = mne_nirs_file(tmp_path / "stims.snirf")
    rows = [[-100.0, 20.0, 1.0], [1000.0, 20.0, 1.0], [4.0, 3.0, 1.0], [1.0, 4.0, 1.0]]
    _set(path, "nirs/stim1/data", rows)
    first = read_snirf_recordings(path)[0]
    assert [(iv.label, iv.onset_s, iv.end_s) for iv in first.intervals] == [
        ("A", 1.0, 5.0),
        ("B", 2.5, 3.5),
        ("A", 4.0, 4.9),
    ]
    assert [n for n in first.notes if n.startswith("stim")] == [
        "stim 'A' -100–-80 s lies outside the recording (0–4.9 s): dropped",
        "stim 'A' 4–7 s runs outside the recording (0–4.9 s): clipped to 4–4.9 s",
        "stim 'A' 1000–1020 s lies outside the recording (0–4.9 s): dropped",
    ]


# -- the CSV importers' rules applied to SNIRF (issue 17, re-tester's points 1-5) -------------


def _hb_file(path: Path, time: np.ndarray, labels: tuple[str, str] = ("HbO", "HbR")) -> Path:
    """HbO and HbR (µM) of S1–D1 on ``time``."""
    with h5py.File(path, "w") as f:
        f.create_dataset("formatVersion", data="1.1", dtype=_VLEN)
        nirs = f.create_group("nirs")
        _tags(nirs, "2024-05-01", "10:00:00Z")
        _probe(nirs, [760.0, 850.0], detectors=1)
        hb = [(1, 1, 1, label, "uM") for label in labels]
        _processed_block(nirs, "data1", time, hb, seed=6)
    return path


def test_time_restarting_is_one_error_naming_the_index(tmp_path: Path) -> None:
    """As the CSV importers: a step back of more than 2 median periods and 1 s is refused
    (before: the two halves were sorted together and averaged, with a note)."""
    half = np.arange(300) / 10.0
    path = _hb_file(tmp_path / "twice.snirf", np.concatenate([half, half]))
    with pytest.raises(DatasetError) as info:
        read_snirf_recordings(path)
    assert str(info.value).startswith(
        f"{path}: index 300: time goes back by 29.9 s ('/nirs/data1/time' is '0 s' after "
        "'29.9 s' on index 299); allowed: steps back of at most 1 s"
    )


@pytest.mark.parametrize("equal", [N, N - 1])
def test_mostly_repeated_stamps_are_one_error(tmp_path: Path, equal: int) -> None:
    """All stamps equal, or all but one: merging would leave 1–2 samples."""
    time = np.zeros(N)
    time[equal:] = 0.1
    path = _hb_file(tmp_path / "equal.snirf", time)
    with pytest.raises(DatasetError) as info:
        read_snirf_recordings(path)
    text = str(info.value)
    assert text.startswith(f"{path}: index 0: ")
    if equal == N:
        assert f"all {N} time stamps are equal" in text
    else:
        assert f"{N - 2} of {N} rows repeat an earlier time stamp" in text
        assert "merging them would leave 2 samples" in text


def test_values_out_of_the_plausible_range_are_nan_and_counted(tmp_path: Path) -> None:
    """The CSV importers' ranges: ±1000 µM for haemoglobin, scaled to M; 1e308 crashed the
    plot before."""
    path = _hb_file(tmp_path / "huge.snirf", np.arange(N) / 10.0)
    with h5py.File(path, "r+") as f:
        series = f["nirs/data1/dataTimeSeries"][()]
        series[[2, 9], 0] = [1e308, -2000.0]
        series[:, 1] *= 1e-6  # HbR in M
        series[4, 1] = 999.0
        del f["nirs/data1/dataTimeSeries"]
        f["nirs/data1/dataTimeSeries"] = series
        del f["nirs/data1/measurementList2/dataUnit"]
        f["nirs/data1/measurementList2/dataUnit"] = "M"
    (rec,) = read_snirf_recordings(path)
    hbo, hbr = rec.channels
    assert np.flatnonzero(np.isnan(hbo.values)).tolist() == [2, 9]
    assert np.flatnonzero(np.isnan(hbr.values)).tolist() == [4]  # 999 M is no reading
    notes = " ".join(rec.notes)
    assert (
        "/nirs/data1/measurementList1: 'S1_D1 HbO': 2 of 50 values outside the plausible "
        "-1000 to 1000 uM are NaN"
    ) in notes
    assert "'S1_D1 HbR': 1 of 50 values outside the plausible -0.001 to 0.001 M" in notes


def test_a_measurement_time_that_is_not_utf8_leaves_the_start_unknown(tmp_path: Path) -> None:
    path = mne_nirs_file(tmp_path / "bytes.snirf")
    _set(path, "nirs/metaDataTags/MeasurementTime", np.bytes_(b"\xff\xfe10:00"))
    (first, _) = read_snirf_recordings(path)
    assert first.start_utc is None
    assert "MeasurementDate/MeasurementTime is not text (not valid UTF-8)" in " ".join(first.notes)


def test_channels_named_alike_are_numbered_and_said(tmp_path: Path) -> None:
    """Two HbO measurement lists of one pair: both kept, the second named "... (2)"."""
    path = _hb_file(tmp_path / "dup.snirf", np.arange(N) / 10.0, labels=("HbO", "HbO"))
    (rec,) = read_snirf_recordings(path)
    assert [c.name for c in rec.channels] == ["S1_D1 HbO", "S1_D1 HbO (2)"]
    assert "a second channel named 'S1_D1 HbO' in one recording: named 'S1_D1 HbO (2)'" in (
        rec.notes
    )
