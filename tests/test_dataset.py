"""SNIRF session files (host.session, host.snirf_writer, host.snirf_reader) and the loader.

What MNE-Python reads of them is tested in test_snirf_mne.py; other tools' files in
test_snirf_other.py.

Every record here is small and synthetic, made in this file. The files written are
checked three ways: read back by our own reader (exact round trip), opened with h5py
to see the SNIRF layout, and validated by the SNIRF community's own validator
(the ``snirf`` package, ``snirf.validateSnirf``).
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import os
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import h5py
import numpy as np
import pytest
from numpy.testing import assert_array_equal

from host import snirf_writer
from host.dataset import load_dataset
from host.session import DatasetError, SessionRecord
from host.snirf_reader import read_session
from host.snirf_writer import write_session

WAVELENGTHS_NM = (750.0, 810.0, 870.0)
LEVEL_NAMES = ("none", "light", "moderate", "high", "exhausted")
BORG_MAXIMA = (1, 3, 5, 7, 10)


def snirf_validator(scratch: Path) -> Callable:
    """``snirf.validateSnirf``, the SNIRF community's validator.

    The snirf package writes a ``pysnirf2.log`` into the working directory when it is
    first imported; importing it from a scratch folder keeps that out of the work tree.
    """
    cwd = os.getcwd()
    os.chdir(scratch)
    try:
        snirf = importlib.import_module("snirf")
    finally:
        os.chdir(cwd)
    return snirf.validateSnirf


@pytest.fixture(scope="module")
def validate_snirf(tmp_path_factory: pytest.TempPathFactory) -> Callable:
    """:func:`snirf_validator` for a test."""
    return snirf_validator(tmp_path_factory.mktemp("snirf-log"))


def make_record(
    subject_id: str = "S01",
    *,
    n: int = 60,
    seed: int = 0,
    side: str = "left",
    provenance: str = "simulated",
    task_failure_s: float = 4.3,
) -> SessionRecord:
    """A small, fully populated session: 10 Hz, three wavelengths, a gap of NaN."""
    rng = np.random.default_rng(seed)
    t_s = np.round(np.arange(n) * 0.1, 10)
    intensity_v = rng.uniform(0.2, 2.0, (n, 3))
    intensity_v[7, :] = np.nan  # a block with no frame: a gap, never closed up
    d_od = rng.normal(0.0, 0.05, (n, 3))
    d_od[7, :] = np.nan
    borg_t_s = np.array([0.0, 1.5, 3.0, 4.3, 5.0])
    borg = np.array([0, 3, 6, 9, 4], dtype=np.int64)
    level = np.minimum(np.arange(n) // (n // 5 + 1), 4).astype(np.int64)
    flags = np.zeros(n, dtype=np.int64)
    flags[7] = 16
    flags[20] = 1 | 8
    return SessionRecord(
        subject_id=subject_id,
        protocol="upper_limb",
        side=side,
        provenance=provenance,
        wavelengths_nm=WAVELENGTHS_NM,
        t_s=t_s,
        intensity_v=intensity_v,
        dark_v=rng.uniform(0.0, 0.01, n),
        d_od=d_od,
        d_hbo2_um=rng.normal(0.0, 3.0, n),
        d_hhb_um=rng.normal(0.0, 2.0, n),
        flags=flags,
        borg_t_s=borg_t_s,
        borg=borg,
        level=level,
        level_names=LEVEL_NAMES,
        borg_thresholds=BORG_MAXIMA,
        # Two holds: the same phase name twice must come back in its place.
        phases=[("baseline", 0.0, 1.0), ("hold", 1.0, 3.3), ("rest", 4.3, 1.0), ("hold", 5.3, 0.6)],
        task_failure_s=task_failure_s,
        metadata={
            "seed": 2**70 + seed,  # larger than any HDF5 integer: JSON keeps it exact
            "simulator": "hwsim 0.1 (synthetic test record)",
            "dpf": 4.0,
            "mvc_fraction": 0.5,
            "note": "µM, ΔOD",
        },
    )


def assert_records_equal(a: SessionRecord, b: SessionRecord) -> None:
    for f in dataclasses.fields(SessionRecord):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray):
            assert_array_equal(y, x, err_msg=f.name, strict=False)
            assert np.asarray(y).shape == x.shape, f.name
            assert np.asarray(y).dtype.kind == x.dtype.kind, f.name
        elif isinstance(x, float) and math.isnan(x):
            assert isinstance(y, float) and math.isnan(y), f.name
        else:
            assert y == x, f.name
            assert type(y) is type(x), f.name


# -- round trip -----------------------------------------------------------------------


def test_round_trip_keeps_every_field_exactly(tmp_path: Path) -> None:
    record = make_record()
    path = write_session(tmp_path / "s01_upper_left.snirf", record)
    assert path == tmp_path / "s01_upper_left.snirf"
    back = read_session(path)
    assert_records_equal(record, back)
    # Exact to the bit, not merely close.
    assert back.intensity_v.tobytes() == record.intensity_v.tobytes()
    assert back.metadata["seed"] == 2**70
    assert back.phases[3] == ("hold", 5.3, 0.6)


def test_round_trip_start_time_and_no_task_failure(tmp_path: Path) -> None:
    start = datetime(2025, 3, 4, 10, 11, 12, 345678, tzinfo=timezone(timedelta(hours=2)))
    record = dataclasses.replace(make_record(), start_utc=start, task_failure_s=math.nan)
    back = read_session(write_session(tmp_path / "a.snirf", record))
    assert back.start_utc == start
    assert back.start_utc.utcoffset() == timedelta(0)
    assert math.isnan(back.task_failure_s)
    with h5py.File(tmp_path / "a.snirf", "r") as h5:
        tags = h5["nirs/metaDataTags"]
        assert tags["MeasurementDate"].asstr()[()] == "2025-03-04"
        assert tags["MeasurementTime"].asstr()[()] == "08:11:12.345678Z"


def test_round_trip_session_without_ratings_or_phases(
    tmp_path: Path, validate_snirf: Callable
) -> None:
    record = dataclasses.replace(
        make_record(provenance="human"),
        borg_t_s=np.zeros(0),
        borg=np.zeros(0, dtype=np.int64),
        phases=[],
        metadata={},
    )
    back = read_session(write_session(tmp_path / "b.snirf", record))
    assert_records_equal(record, back)
    assert validate_snirf(str(tmp_path / "b.snirf")).is_valid()


# -- SNIRF validity and layout --------------------------------------------------------


def test_snirf_validator_finds_no_error_and_no_warning(
    tmp_path: Path, validate_snirf: Callable
) -> None:
    path = write_session(tmp_path / "valid.snirf", make_record())
    result = validate_snirf(str(path))
    problems = [(i.location, i.name) for i in result.errors + result.warnings]
    assert result.is_valid(), problems
    assert problems == []
    # The validator did look at the parts that matter (they are catalogued as OK).
    for location in (
        "/nirs/metaDataTags/SubjectID",
        "/nirs/metaDataTags/MeasurementTime",
        "/nirs/data1/measurementList2/dataUnit",
        "/nirs/data2/measurementList3/wavelengthIndex",
        "/nirs/data2/dataTimeSeries",
        "/nirs/data3/measurementList4/dataTypeLabel",
        "/nirs/probe/detectorPos3D",
        "/nirs/stim1/data",
        "/nirs/aux2/dataTimeSeries",
    ):
        assert result[location].name == "OK", location


def test_snirf_validator_would_catch_a_broken_file(
    tmp_path: Path, validate_snirf: Callable
) -> None:
    """The check above means something: the same validator fails a damaged copy."""
    path = write_session(tmp_path / "broken.snirf", make_record())
    with h5py.File(path, "r+") as h5:
        del h5["nirs/data1/time"]
        del h5["nirs/metaDataTags/LengthUnit"]
    result = validate_snirf(str(path))
    assert not result.is_valid()
    assert {i.location for i in result.errors} >= {
        "/nirs/data1/time",
        "/nirs/metaDataTags/LengthUnit",
    }


def test_snirf_layout(tmp_path: Path) -> None:
    record = make_record()
    path = write_session(tmp_path / "layout.snirf", record)
    with h5py.File(path, "r") as h5:
        assert h5["formatVersion"].asstr()[()] == "1.1"
        tags = h5["nirs/metaDataTags"]
        assert {k: tags[k].asstr()[()] for k in ("LengthUnit", "TimeUnit", "FrequencyUnit")} == {
            "LengthUnit": "cm",
            "TimeUnit": "s",
            "FrequencyUnit": "Hz",
        }
        for tag, value in (("SubjectID", "S01"), ("Provenance", "simulated"), ("Side", "left")):
            assert tags[tag].asstr()[()] == value
        assert tags["Protocol"].asstr()[()] == "upper_limb"
        assert tags["MeasurementDate"].asstr()[()] == "unknown"
        assert tags["ProjectFormatVersion"][()] == 2
        assert tags["DPF"][()] == 4.0 and tags["SessionTimeOffset"][()] == 0.0

        # data1: the haemoglobin in M, the one block MNE-Python reads.
        hb = h5["nirs/data1"]
        labels = [hb[f"measurementList{k}/dataTypeLabel"].asstr()[()] for k in (1, 2)]
        assert labels == ["HbO", "HbR"]
        assert [hb[f"measurementList{k}/dataUnit"].asstr()[()] for k in (1, 2)] == ["M", "M"]
        np.testing.assert_allclose(hb["dataTimeSeries"][:, 0], record.d_hbo2_um * 1e-6, rtol=1e-15)
        np.testing.assert_allclose(hb["dataTimeSeries"][:, 1], record.d_hhb_um * 1e-6, rtol=1e-15)

        raw = h5["nirs/data2"]
        assert_array_equal(raw["dataTimeSeries"][()], record.intensity_v)
        for k in (1, 2, 3):
            ml = raw[f"measurementList{k}"]
            assert ml["dataType"][()] == 1
            assert (ml["sourceIndex"][()], ml["detectorIndex"][()]) == (1, 1)
            assert ml["wavelengthIndex"][()] == k
            assert ml["dataType"].dtype == np.int32  # SNIRF: 32-bit integers

        proc = h5["nirs/data3"]
        labels = [proc[f"measurementList{k}/dataTypeLabel"].asstr()[()] for k in range(1, 6)]
        assert labels == ["dOD", "dOD", "dOD", "HbO", "HbR"]
        assert all(proc[f"measurementList{k}/dataType"][()] == 99999 for k in range(1, 6))
        assert proc["measurementList4/dataUnit"].asstr()[()] == "uM"
        assert_array_equal(proc["dataTimeSeries"][:, 3], record.d_hbo2_um)
        assert_array_equal(proc["dataTimeSeries"][:, 4], record.d_hhb_um)
        for name in ("data1", "data2", "data3"):
            assert_array_equal(h5[f"nirs/{name}/time"][()], record.t_s)

        probe = h5["nirs/probe"]
        assert_array_equal(probe["wavelengths"][()], WAVELENGTHS_NM)
        distance_cm = np.linalg.norm(probe["detectorPos3D"][0] - probe["sourcePos3D"][0])
        assert distance_cm == pytest.approx(3.0, abs=1e-12)

        stims = {
            h5[f"nirs/stim{i}/name"].asstr()[()]: h5[f"nirs/stim{i}/data"][()] for i in (1, 2, 3)
        }
        assert_array_equal(stims["hold"], [[1.0, 3.3, 1.0, 1.0], [5.3, 0.6, 1.0, 3.0]])
        aux = {h5[f"nirs/aux{i}/name"].asstr()[()]: h5[f"nirs/aux{i}"] for i in (1, 2, 3, 4)}
        assert set(aux) == {"dark", "borg_cr10", "fatigue_level", "quality_flags"}
        assert_array_equal(aux["borg_cr10"]["time"][()], record.borg_t_s)
        assert_array_equal(aux["borg_cr10"]["dataTimeSeries"][:, 0], record.borg)
        assert aux["dark"]["dataUnit"].asstr()[()] == "V"


def offset_record() -> SessionRecord:
    """A session whose first sample is at 0.05 s (as the device's chain stamps them), with
    a known start, a DPF per wavelength and another distance."""
    record = make_record()
    return dataclasses.replace(
        record,
        t_s=0.05 + np.arange(60) * 0.1,
        borg_t_s=record.borg_t_s + 0.05,
        phases=[("baseline", 0.0, 1.05), ("hold", 1.05, 3.3), ("rest", 4.35, 1.0)],
        task_failure_s=4.35,
        start_utc=datetime(2025, 3, 4, 8, 11, 12, 345678, tzinfo=timezone.utc),
        dpf=(3.9, 4.1, 4.3),
        distance_cm=3.5,
    )


def test_file_time_starts_at_the_first_sample_and_the_session_time_comes_back(
    tmp_path: Path, validate_snirf: Callable
) -> None:
    """Every time in the file counts from the first sample, which MeasurementTime dates
    (what MNE-Python assumes); SessionTimeOffset gives the session's own times back."""
    record = offset_record()
    path = write_session(tmp_path / "offset.snirf", record)
    assert validate_snirf(str(path)).is_valid()
    with h5py.File(path, "r") as h5:
        tags = h5["nirs/metaDataTags"]
        assert tags["SessionTimeOffset"][()] == 0.05
        assert tags["MeasurementTime"].asstr()[()] == "08:11:12.395678Z"  # + 50 ms
        assert_array_equal(tags["DPF"][()], [3.9, 4.1, 4.3])
        assert tags["TaskFailureTime"][()] == pytest.approx(4.3, abs=1e-12)
        for name in ("data1", "data2", "data3", "aux1"):
            time = h5[f"nirs/{name}/time"][()]
            assert time[0] == 0.0
            np.testing.assert_allclose(time, record.t_s - 0.05, rtol=0, atol=1e-12)
        onsets = sorted(h5[f"nirs/stim{i}/data"][0, 0] for i in (1, 2, 3))
        np.testing.assert_allclose(onsets, [-0.05, 1.0, 4.3], rtol=0, atol=1e-12)
        probe = h5["nirs/probe"]
        assert probe["detectorPos3D"][0, 0] - probe["sourcePos3D"][0, 0] == 3.5
    back = read_session(path)
    assert_records_equal(record, back)
    assert back.start_utc == record.start_utc


def test_a_layout_1_file_is_still_read() -> None:
    """tests/samples/snirf/session_v1.snirf was written by the writer of commit 1c85c26
    (layout 1: raw light in data1, no DPF, session times): see tests/samples/snirf/README.md."""
    path = Path(__file__).parent / "samples" / "snirf" / "session_v1.snirf"
    with h5py.File(path, "r") as h5:
        assert h5["nirs/metaDataTags/ProjectFormatVersion"][()] == 1
        assert "DPF" not in h5["nirs/metaDataTags"] and "data3" not in h5["nirs"]
    start = datetime(2025, 3, 4, 8, 11, 12, 345678, tzinfo=timezone.utc)
    back = read_session(path)
    assert_records_equal(dataclasses.replace(make_record(), start_utc=start), back)
    assert (back.dpf, back.distance_cm) == (4.0, 3.0)  # what the layout-1 writers used


def test_reader_refuses_haemoglobin_edited_in_one_block(tmp_path: Path) -> None:
    path = write_session(tmp_path / "edited.snirf", make_record())
    with h5py.File(path, "r+") as h5:
        h5["nirs/data1/dataTimeSeries"][5, 1] *= 1.01
    with pytest.raises(DatasetError) as info:
        read_session(path)
    text = str(info.value)
    assert text.startswith(f"{path}: /nirs/data1/dataTimeSeries[5, 1] is ")
    assert text.endswith("the haemoglobin was edited in one block only") and "\n" not in text


def test_reader_refuses_a_newer_layout(tmp_path: Path) -> None:
    path = write_session(tmp_path / "v3.snirf", make_record())
    with h5py.File(path, "r+") as h5:
        h5["nirs/metaDataTags/ProjectFormatVersion"][()] = 3
    with pytest.raises(DatasetError) as info:
        read_session(path)
    assert str(info.value) == (
        f"{path}: /nirs/metaDataTags/ProjectFormatVersion is 3 (newer than this reader); "
        "this reader reads layout versions 1, 2"
    )


# -- the writer refuses bad records ---------------------------------------------------


@pytest.mark.parametrize("provenance", ["synthetic", "Simulated", "", None, "mixed"])
def test_writer_refuses_unknown_provenance(tmp_path: Path, provenance: object) -> None:
    record = dataclasses.replace(make_record(), provenance=provenance)
    with pytest.raises(ValueError, match="provenance must be one of 'simulated', 'human'"):
        write_session(tmp_path / "x.snirf", record)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("intensity_v", np.ones((59, 3)), r"intensity_v must have shape \(60, 3\)"),
        ("intensity_v", np.ones((60, 2)), r"intensity_v must have shape \(60, 3\)"),
        ("d_od", np.ones((61, 3)), r"d_od must have shape \(60, 3\)"),
        ("dark_v", np.ones(59), r"dark_v must have shape \(60,\)"),
        ("d_hbo2_um", np.ones(61), r"d_hbo2_um must have shape \(60,\)"),
        ("d_hhb_um", np.ones(10), r"d_hhb_um must have shape \(60,\)"),
        ("flags", np.zeros(59, dtype=int), r"flags must have shape \(60,\)"),
        ("level", np.zeros(61, dtype=int), r"level must have shape \(60,\)"),
        ("borg", np.array([1, 2], dtype=int), r"borg must have shape \(5,\) to match borg_t_s"),
    ],
)
def test_writer_refuses_mismatched_lengths(
    tmp_path: Path, name: str, value: np.ndarray, message: str
) -> None:
    record = dataclasses.replace(make_record(), **{name: value})
    with pytest.raises(ValueError, match=message):
        write_session(tmp_path / "x.snirf", record)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"protocol": "arm"}, ValueError, "protocol must be one of"),
        ({"side": "both"}, ValueError, "side must be one of"),
        ({"subject_id": ""}, ValueError, "subject_id"),
        ({"level": np.full(60, 5)}, ValueError, "level must be within 0–4"),
        ({"borg": np.array([0, 3, 6, 11, 4])}, ValueError, "Borg CR10"),
        ({"flags": np.zeros(60)}, TypeError, "flags must hold integers"),
        ({"flags": np.full(60, -1)}, ValueError, "flags must be within 0–2147483647"),
        ({"flags": np.full(60, 2**31)}, ValueError, "flags must be within"),
        ({"t_s": np.zeros(60)}, ValueError, "t_s must be strictly increasing"),
        ({"borg_t_s": np.array([0.0, 2.0, 1.0, 3.0, 4.0])}, ValueError, "non-decreasing"),
        ({"borg_thresholds": (1, 3, 5, 10)}, ValueError, "one value per level"),
        ({"borg_thresholds": (1, 3, 5, 7, 9)}, ValueError, "increase strictly"),
        ({"phases": [("hold", 0.0, -1.0)]}, ValueError, r"phases\[0\]"),
        ({"task_failure_s": math.inf}, ValueError, "task_failure_s"),
        ({"metadata": {"flag": True}}, TypeError, r"metadata\['flag'\]"),
        ({"metadata": {"seed": np.int64(3)}}, TypeError, r"metadata\['seed'\]"),
        ({"start_utc": datetime(2025, 1, 1)}, TypeError, "timezone-aware"),
        ({"dpf": (4.0, 4.0)}, ValueError, r"dpf must be one number > 0 or a tuple of one per"),
        ({"dpf": 0.0}, ValueError, "dpf must be"),
        ({"distance_cm": -3.0}, ValueError, "distance_cm must be a positive number of cm"),
    ],
)
def test_writer_refuses_invalid_records(
    tmp_path: Path, changes: dict, error: type, message: str
) -> None:
    record = dataclasses.replace(make_record(), **changes)
    with pytest.raises(error, match=message):
        write_session(tmp_path / "x.snirf", record)
    assert list(tmp_path.iterdir()) == []


def test_writer_wants_a_snirf_name_and_an_existing_folder(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"x\.h5: a SNIRF file name must end in '\.snirf'"):
        write_session(tmp_path / "x.h5", make_record())
    missing = tmp_path / "nowhere" / "x.snirf"
    with pytest.raises(DatasetError, match="folder .*nowhere does not exist") as info:
        write_session(missing, make_record())
    assert info.value.path == missing


# -- atomic writes --------------------------------------------------------------------


class PowerCutError(Exception):
    """Stands for the process dying in the middle of a write."""


def interrupt_after_stims(monkeypatch: pytest.MonkeyPatch, folder: Path) -> list[list[str]]:
    """Make the writer fail after the optical data are written, before the aux channels.

    Returns a list that receives the folder's file names as seen at the moment of failure.
    """
    seen: list[list[str]] = []

    def fail(nirs: h5py.Group, record: SessionRecord, offset_s: float) -> None:
        nirs.file.flush()
        seen.append(sorted(p.name for p in folder.iterdir()))
        raise PowerCutError("the battery ran out")

    monkeypatch.setattr(snirf_writer, "_write_aux", fail)
    return seen


def test_interrupted_write_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = interrupt_after_stims(monkeypatch, tmp_path)
    with pytest.raises(PowerCutError):
        write_session(tmp_path / "s01.snirf", make_record())
    # Mid-write, the half file existed only under a hidden temporary name that the
    # loader's pattern does not match.
    assert len(seen) == 1 and len(seen[0]) == 1
    assert seen[0][0].startswith(".s01.snirf.") and seen[0][0].endswith(".tmp")
    assert list(tmp_path.iterdir()) == []


def test_interrupted_overwrite_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "s01.snirf"
    old = make_record(seed=1)
    write_session(path, old)
    interrupt_after_stims(monkeypatch, tmp_path)
    with pytest.raises(PowerCutError):
        write_session(path, make_record(seed=2))
    assert [p.name for p in tmp_path.iterdir()] == ["s01.snirf"]
    assert_records_equal(old, read_session(path))


# -- the reader's errors name the file ------------------------------------------------


def test_reader_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.snirf"
    with pytest.raises(DatasetError, match="no such file") as info:
        read_session(path)
    assert str(path) in str(info.value)
    assert info.value.path == path


def test_reader_non_hdf5_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.snirf"
    path.write_text("subject S01 felt fine\n")
    with pytest.raises(DatasetError, match="not a readable HDF5") as info:
        read_session(path)
    assert str(path) in str(info.value)


def test_reader_truncated_file(tmp_path: Path) -> None:
    path = write_session(tmp_path / "cut.snirf", make_record())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError) as info:
        read_session(path)
    assert str(path) in str(info.value)
    # The user's words, not h5py's ("sblock->base_addr" ...).
    assert f"a truncated HDF5 (SNIRF) file ({len(data) // 2:,} bytes of {len(data):,}" in str(
        info.value
    )
    assert "sblock" not in str(info.value)


def test_reader_file_cut_inside_its_header(tmp_path: Path) -> None:
    # Found by a breaker: cut to 8-42 bytes, h5py's own words came through, or a whole
    # size read from a header cut in two.
    whole = write_session(tmp_path / "whole.snirf", make_record()).read_bytes()
    for n in (10, 41, 42, 200):
        path = tmp_path / f"cut{n}.snirf"
        path.write_bytes(whole[:n])
        with pytest.raises(DatasetError) as info:
            read_session(path)
        assert str(info.value).endswith(
            f"a truncated or damaged HDF5 (SNIRF) file ({n:,} bytes): an interrupted copy or "
            "download; copy it again"
        )
    from host.importers import read_recordings

    cut = tmp_path / "cut5.snirf"
    cut.write_bytes(whole[:5])  # inside HDF5's 8-byte signature
    with pytest.raises(DatasetError, match=r"a truncated HDF5 \(SNIRF\) file \(5 bytes, cut"):
        read_recordings(cut)


def test_reader_and_importer_empty_file(tmp_path: Path) -> None:
    from host.importers import read_recordings

    path = tmp_path / "empty.snirf"
    path.write_bytes(b"")
    for read in (read_session, read_recordings):
        with pytest.raises(DatasetError, match=r"an empty file \(0 bytes\)") as info:
            read(path)
        assert str(path) in str(info.value)


def test_reader_plain_hdf5_is_not_snirf(tmp_path: Path) -> None:
    path = tmp_path / "other.snirf"
    with h5py.File(path, "w") as h5:
        h5["weights"] = np.ones(3)
    with pytest.raises(DatasetError, match="lacks /nirs: not a SNIRF file") as info:
        read_session(path)
    assert str(path) in str(info.value)


def test_reader_foreign_snirf_lacks_project_tags(tmp_path: Path, validate_snirf: Callable) -> None:
    """A valid SNIRF file from another tool (here: ours with the project's tags removed)."""
    path = write_session(tmp_path / "homer.snirf", make_record())
    with h5py.File(path, "r+") as h5:
        del h5["nirs/metaDataTags/ProjectFormat"]
    assert validate_snirf(str(path)).is_valid()
    with pytest.raises(DatasetError, match="not a nirs-fatigue-session file") as info:
        read_session(path)
    assert str(path) in str(info.value)


def test_reader_missing_part(tmp_path: Path) -> None:
    path = write_session(tmp_path / "part.snirf", make_record())
    with h5py.File(path, "r+") as h5:
        del h5["nirs/metaDataTags/Provenance"]
    with pytest.raises(DatasetError, match="lacks /nirs/metaDataTags/Provenance") as info:
        read_session(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("location", "rows"),
    [
        ("nirs/aux3/dataTimeSeries", 59),  # fatigue level: one value short
        ("nirs/data2/dataTimeSeries", 58),  # raw amplitudes
        ("nirs/data1/dataTimeSeries", 58),  # haemoglobin in M
        ("nirs/data3/time", 61),  # processed block on another time base
        ("nirs/data1/time", 61),
    ],
)
def test_reader_inconsistent_lengths(tmp_path: Path, location: str, rows: int) -> None:
    path = write_session(tmp_path / "short.snirf", make_record())
    with h5py.File(path, "r+") as h5:
        data = h5[location][()]
        del h5[location]
        if rows <= data.shape[0]:
            h5[location] = data[:rows]
        else:
            h5[location] = np.arange(rows) * 0.1
    with pytest.raises(DatasetError) as info:
        read_session(path)
    message = str(info.value)
    assert str(path) in message
    assert "inconsistent lengths" in message or "differs from /nirs/data2/time" in message


def test_reader_invalid_values_are_named(tmp_path: Path) -> None:
    path = write_session(tmp_path / "bad.snirf", make_record())
    with h5py.File(path, "r+") as h5:
        del h5["nirs/metaDataTags/Provenance"]
        h5["nirs/metaDataTags/Provenance"] = "guessed"
    with pytest.raises(DatasetError, match="invalid session: provenance must be one of") as info:
        read_session(path)
    assert str(path) in str(info.value)


def remap_wavelengths(path: Path, probe_nm: list[float], indices: list[int]) -> None:
    """Rewrite ``path``'s probe wavelengths and the wavelengthIndex of each wavelength
    column (raw amplitude and ΔOD blocks, whichever the file holds), leaving the data as
    written; ``indices[k]`` is column k+1's new 1-based wavelengthIndex."""
    with h5py.File(path, "r+") as h5:
        del h5["nirs/probe/wavelengths"]
        h5["nirs/probe/wavelengths"] = np.asarray(probe_nm, dtype=np.float64)
        for name in ("data1", "data2", "data3"):
            data = h5["nirs"].get(name)
            if data is None:
                continue
            for k, index in enumerate(indices, start=1):
                ml = data.get(f"measurementList{k}")
                if ml is None:  # data1 holds HbO and HbR only
                    continue
                if "dataTypeLabel" in ml and ml["dataTypeLabel"].asstr()[()] != "dOD":
                    continue
                del ml["wavelengthIndex"]
                ml["wavelengthIndex"] = np.int32(index)


def test_reader_maps_columns_through_each_wavelength_index(
    tmp_path: Path, validate_snirf: Callable
) -> None:
    """Found by a tester: probe wavelengths 870, 810, 750 nm with column 1 still 750 nm
    light (wavelengthIndex 3) is valid SNIRF; it was refused ("expected dataType 1 and
    wavelengthIndex 1, got (1, 3)"). Now each column is read as its wavelengthIndex says."""
    record = make_record()
    path = write_session(tmp_path / "reversed_probe.snirf", record)
    remap_wavelengths(path, [870.0, 810.0, 750.0], [3, 2, 1])
    assert validate_snirf(str(path)).is_valid()
    back = read_session(path)
    assert back.wavelengths_nm == (750.0, 810.0, 870.0)  # column order: what each holds
    assert_records_equal(record, back)


def test_reader_puts_dod_columns_in_the_raw_columns_order(tmp_path: Path) -> None:
    """The ΔOD block may list its wavelengths in another order than the raw block."""
    record = make_record()
    path = write_session(tmp_path / "mixed.snirf", record)
    with h5py.File(path, "r+") as h5:
        series = h5["nirs/data3/dataTimeSeries"][()]
        del h5["nirs/data3/dataTimeSeries"]
        h5["nirs/data3/dataTimeSeries"] = series[:, [2, 0, 1, 3, 4]]
        for k, index in enumerate([3, 1, 2], start=1):
            del h5[f"nirs/data3/measurementList{k}/wavelengthIndex"]
            h5[f"nirs/data3/measurementList{k}/wavelengthIndex"] = np.int32(index)
    assert_records_equal(record, read_session(path))


@pytest.mark.parametrize(
    ("indices", "message"),
    [
        ([4, 2, 1], r"measurementList1/wavelengthIndex is 4; allowed: 1 to 3 "),
        ([0, 2, 1], r"measurementList1/wavelengthIndex is 0; allowed: 1 to 3 "),
        ([3, 3, 1], r"measurementList2/wavelengthIndex is 3 \(750 nm\), the wavelength of "),
    ],
)
def test_reader_refuses_inconsistent_wavelength_indices(
    tmp_path: Path, indices: list[int], message: str
) -> None:
    path = write_session(tmp_path / "bad_index.snirf", make_record())
    remap_wavelengths(path, [870.0, 810.0, 750.0], indices)
    with pytest.raises(DatasetError, match=message) as info:
        read_session(path)
    text = str(info.value)
    assert text.startswith(f"{path}: /nirs/data2/measurementList")
    assert "(an entry of /nirs/probe/wavelengths), each once" in text
    assert "\n" not in text


def test_reader_refuses_a_data_type_it_does_not_read(tmp_path: Path) -> None:
    path = write_session(tmp_path / "phase.snirf", make_record())
    with h5py.File(path, "r+") as h5:
        del h5["nirs/data2/measurementList2/dataType"]
        h5["nirs/data2/measurementList2/dataType"] = np.int32(301)  # TD moments
    with pytest.raises(DatasetError) as info:
        read_session(path)
    assert str(info.value) == (
        f"{path}: /nirs/data2/measurementList2/dataType is 301; this reader reads only "
        "dataType 1 (continuous-wave amplitude) in /nirs/data2"
    )


# -- load_dataset ---------------------------------------------------------------------


def write_three_sessions(folder: Path) -> dict[str, SessionRecord]:
    """Three sessions of two subjects, written out of name order, of different lengths."""
    records = {
        "s02_left.snirf": make_record("S02", n=40, seed=3),
        "s01_left.snirf": make_record("S01", n=60, seed=1),
        "s01_right.snirf": make_record("S01", n=50, seed=2, side="right"),
    }
    for name, record in records.items():
        write_session(folder / name, record)
    return records


def test_load_dataset_concatenates_in_name_order(tmp_path: Path) -> None:
    records = write_three_sessions(tmp_path)
    ds = load_dataset(tmp_path)
    order = ["s01_left.snirf", "s01_right.snirf", "s02_left.snirf"]
    assert [p.name for p in ds.paths] == order
    expected = [records[name] for name in order]
    for got, want in zip(ds.records, expected):
        assert_records_equal(want, got)

    assert len(ds) == 150
    assert_array_equal(ds.session_index, np.repeat([0, 1, 2], [60, 50, 40]))
    assert_array_equal(ds.subject_id, ["S01"] * 110 + ["S02"] * 40)
    assert ds.subjects == ("S01", "S02")
    for name in ("t_s", "dark_v", "d_hbo2_um", "d_hhb_um", "flags", "level"):
        assert_array_equal(getattr(ds, name), np.concatenate([getattr(r, name) for r in expected]))
    for name in ("intensity_v", "d_od"):
        assert getattr(ds, name).shape == (150, 3)
        assert_array_equal(getattr(ds, name), np.vstack([getattr(r, name) for r in expected]))
    assert_array_equal(ds.borg, np.concatenate([r.borg for r in expected]))
    assert_array_equal(ds.borg_session_index, np.repeat([0, 1, 2], 5))
    assert ds.flags.dtype == np.int64 and ds.level.dtype == np.int64
    assert ds.wavelengths_nm == WAVELENGTHS_NM
    assert ds.level_names == LEVEL_NAMES and ds.borg_thresholds == BORG_MAXIMA
    assert ds.provenance == frozenset({"simulated"})


def test_load_dataset_provenance_is_the_set_of_origins(tmp_path: Path) -> None:
    write_session(tmp_path / "a.snirf", make_record("S01"))
    write_session(tmp_path / "b.snirf", make_record("P07", provenance="human"))
    assert load_dataset(tmp_path).provenance == frozenset({"simulated", "human"})


def test_load_dataset_reports_progress(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    write_three_sessions(tmp_path)
    calls: list[tuple[int, int, str]] = []
    load_dataset(tmp_path, progress=lambda i, n, path: calls.append((i, n, path.name)))
    assert calls == [
        (1, 3, "s01_left.snirf"),
        (2, 3, "s01_right.snirf"),
        (3, 3, "s02_left.snirf"),
    ]
    load_dataset(tmp_path, progress=True)
    assert capsys.readouterr().err.splitlines() == [
        "load_dataset: 1/3 s01_left.snirf",
        "load_dataset: 2/3 s01_right.snirf",
        "load_dataset: 3/3 s02_left.snirf",
    ]
    load_dataset(tmp_path)
    assert capsys.readouterr().err == ""


def test_load_dataset_pattern(tmp_path: Path) -> None:
    write_three_sessions(tmp_path)
    ds = load_dataset(tmp_path, pattern="s01_*.snirf")
    assert [p.name for p in ds.paths] == ["s01_left.snirf", "s01_right.snirf"]


def test_load_dataset_refuses_an_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("no sessions yet")
    with pytest.raises(DatasetError, match=r"no session files matching '\*\.snirf'") as info:
        load_dataset(tmp_path)
    assert info.value.path == tmp_path
    assert str(tmp_path) in str(info.value)


def test_load_dataset_refuses_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such dataset folder") as info:
        load_dataset(tmp_path / "absent")
    assert str(tmp_path / "absent") in str(info.value)


def test_load_dataset_names_the_corrupt_file(tmp_path: Path) -> None:
    write_three_sessions(tmp_path)
    bad = tmp_path / "s01_right.snirf"
    bad.write_bytes(bad.read_bytes()[:1000])
    with pytest.raises(DatasetError) as info:
        load_dataset(tmp_path)
    assert info.value.path == bad
    assert str(bad) in str(info.value)


def test_load_dataset_refuses_mixed_mappings(tmp_path: Path) -> None:
    write_session(tmp_path / "a.snirf", make_record("S01"))
    other = dataclasses.replace(make_record("S02"), borg_thresholds=(0, 2, 4, 7, 10))
    write_session(tmp_path / "b.snirf", other)
    with pytest.raises(DatasetError, match="borg_thresholds .* differs .* in a.snirf") as info:
        load_dataset(tmp_path)
    assert info.value.path == tmp_path / "b.snirf"
