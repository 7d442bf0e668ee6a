"""What MNE-Python's ``read_raw_snirf`` gets from a session file (issue 17, point 5).

MNE-Python (1.12.1 here) reads only ``/nirs/data1``, takes haemoglobin as M, puts the
first sample at 0 s whatever ``time[0]`` says, and dates it with MeasurementDate and
MeasurementTime (mne/io/snirf/_snirf.py). These tests read files written by
:func:`host.snirf_writer.write_session` with it and check, against the record written:
haemoglobin channels of MNE's types with the µM values (MNE holds M), the start date and
time, the phases' onsets as annotations within 1 ms, and the DPF and source–detector
distance found where docs/snirf.md says. Records are synthetic (test_dataset's), but for
the one made from a collect session record.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from pathlib import Path

import h5py
import mne
import numpy as np
import pytest
from mne.io.constants import FIFF
from mne.preprocessing.nirs import source_detector_distances
from numpy.testing import assert_allclose
from test_damaged_records import chain_sample, write_collected
from test_dataset import offset_record

from device.acquisition import Frame
from device.codec import HEADER_EVENT, Record
from device.labels import DEFAULT_MAPPING
from device.mbll import MbllSolver, mbll_design_matrix
from device.recorder import SessionRecorder
from host import collect_records as hc
from host.recover import rebuild
from host.snirf_reader import read_session
from host.snirf_writer import write_session

#: What MNE says of every file with more than one data block (ours have three).
MULTIPLE_BLOCKS = "File contains multiple recordings"
#: The annotations' tolerance the issue asks for, s.
ONSET_TOLERANCE_S = 1e-3


def read_with_mne(path: Path) -> mne.io.BaseRaw:
    """``mne.io.read_raw_snirf``, which warns once (data2, data3 are not read); any other
    warning fails the test."""
    with pytest.warns(RuntimeWarning) as caught:
        raw = mne.io.read_raw_snirf(path, preload=True, verbose="warning")
    assert [str(w.message) for w in caught] == [
        f"{MULTIPLE_BLOCKS}. MNE does not support this feature. "
        "Only the first dataset will be processed."
    ]
    return raw


def test_mne_gets_the_haemoglobin_in_its_unit(tmp_path: Path) -> None:
    record = offset_record()
    raw = read_with_mne(write_session(tmp_path / "s.snirf", record))
    assert raw.ch_names == ["S1_D1 hbo", "S1_D1 hbr"]
    assert raw.get_channel_types() == ["hbo", "hbr"]
    assert [ch["unit"] for ch in raw.info["chs"]] == [FIFF.FIFF_UNIT_MOL] * 2
    assert raw.info["sfreq"] == pytest.approx(10.0, rel=1e-12)
    molar = raw.get_data()  # MNE holds haemoglobin in M
    assert molar.shape == (2, record.n_samples)
    assert_allclose(molar[0] * 1e6, record.d_hbo2_um, rtol=1e-12, atol=0)
    assert_allclose(molar[1] * 1e6, record.d_hhb_um, rtol=1e-12, atol=0)


def test_mne_dates_the_first_sample_with_the_written_start(tmp_path: Path) -> None:
    record = offset_record()  # first sample 0.05 s after start_utc
    raw = read_with_mne(write_session(tmp_path / "s.snirf", record))
    assert raw.info["meas_date"] == record.start_utc + timedelta(seconds=0.05)
    # The wall-clock time of every sample is the session's, to the microsecond.
    wall = [raw.info["meas_date"] + timedelta(seconds=float(t)) for t in raw.times[[0, 33]]]
    assert wall == [record.start_utc + timedelta(seconds=float(t)) for t in record.t_s[[0, 33]]]


def test_mne_annotations_sit_on_the_phases(tmp_path: Path) -> None:
    record = offset_record()
    raw = read_with_mne(write_session(tmp_path / "s.snirf", record))
    ann = raw.annotations
    assert ann.orig_time == raw.info["meas_date"]
    assert list(ann.description) == ["baseline", "hold", "rest"]
    # Against the data: the hold starts on sample 10 (1.05 s), the rest on sample 43.
    assert record.t_s[10] == pytest.approx(1.05) and record.t_s[43] == pytest.approx(4.35)
    assert abs(ann.onset[1] - raw.times[10]) < ONSET_TOLERANCE_S
    assert abs(ann.onset[2] - raw.times[43]) < ONSET_TOLERANCE_S
    # Against the clock: each phase starts at start_utc + its onset.
    for (name, onset_s, duration_s), mne_onset, mne_duration in zip(
        record.phases[1:], ann.onset[1:], ann.duration[1:]
    ):
        at = raw.info["meas_date"] + timedelta(seconds=float(mne_onset))
        want = record.start_utc + timedelta(seconds=onset_s)
        assert abs((at - want).total_seconds()) < ONSET_TOLERANCE_S, name
        assert mne_duration == pytest.approx(duration_s, abs=ONSET_TOLERANCE_S)
    # The baseline began 50 ms before the first sample: MNE has no data there and cuts
    # it to start at the first sample (docs/snirf.md says so).
    assert (ann.onset[0], ann.duration[0]) == (0.0, pytest.approx(1.0, abs=1e-12))


def test_dpf_and_distance_are_where_the_docs_say(tmp_path: Path) -> None:
    """docs/snirf.md: the distance from MNE's own ``source_detector_distances`` (m), the
    DPF from the ``DPF`` tag with h5py. With them, the file's ΔOD gives back the
    haemoglobin MNE read: they are the ones it was computed with."""
    record = offset_record()
    design = mbll_design_matrix(
        record.wavelengths_nm, dpf=record.dpf, distance_cm=record.distance_cm
    )
    hb_um = np.column_stack([record.d_hbo2_um, record.d_hhb_um])
    record = dataclasses.replace(record, d_od=hb_um @ np.asarray(design).T)
    path = write_session(tmp_path / "s.snirf", record)
    raw = read_with_mne(path)

    distance_m = source_detector_distances(raw.info)
    assert_allclose(distance_m, [0.035, 0.035], rtol=1e-12)
    with h5py.File(path, "r") as h5:
        dpf = tuple(h5["nirs/metaDataTags/DPF"][()])
        wavelengths_nm = tuple(h5["nirs/probe/wavelengths"][()])
        d_od = h5["nirs/data3/dataTimeSeries"][:, : len(wavelengths_nm)]
    assert dpf == (3.9, 4.1, 4.3)
    solver = MbllSolver(wavelengths_nm, dpf=dpf, distance_cm=float(distance_m[0]) * 100)
    again = solver.solve_many(d_od.tolist())
    assert_allclose(np.array(again.d_hbo2_um) * 1e-6, raw.get_data()[0], rtol=1e-9, atol=1e-15)
    assert_allclose(np.array(again.d_hhb_um) * 1e-6, raw.get_data()[1], rtol=1e-9, atol=1e-15)


def test_a_collected_session_is_dated_as_mne_reads_it(tmp_path: Path) -> None:
    """collect's record notes the host's UTC time at the first data (device time 1.0 s,
    10:00:00 UTC); the first sample is at device time 1.0 s, 1 s after the file's t = 0.
    MNE must date that first sample 10:00:00, not t = 0 (09:59:59)."""
    write_collected(tmp_path / "S07_upper_limb_left.nrec")
    snirf = rebuild(tmp_path / "S07_upper_limb_left.nrec", log=lambda line: None)
    record = read_session(snirf)
    assert record.t_s[0] == 1.0
    assert record.start_utc == datetime(2026, 1, 5, 9, 59, 59, tzinfo=timezone.utc)
    raw = read_with_mne(snirf)
    assert raw.info["meas_date"] == datetime(2026, 1, 5, 10, 0, 0, tzinfo=timezone.utc)
    hold = next(p for p in record.phases if p[0] == "hold")
    (onset,) = raw.annotations.onset[raw.annotations.description == "hold"]
    at = raw.info["meas_date"] + timedelta(seconds=float(onset))
    assert abs((at - (record.start_utc + timedelta(seconds=hold[1]))).total_seconds()) < 1e-3


def write_collected_with_clock(path: Path, pairs: list[tuple[float, str]]) -> None:
    """A record as collect writes it (samples every 100 ms from device time 1.0 s, as
    test_damaged_records' ``write_collected``), with the given (device time, UTC) pairs."""
    info = hc.SessionFacts(
        "S07", "upper_limb", "left", "simulated", "/dev/ttyACM0", DEFAULT_MAPPING
    ).to_info()
    with SessionRecorder(path, info=info, fsync_interval_s=None) as rec:
        rec.write(Record.event(0.5, HEADER_EVENT, wavelengths_nm=[750, 810, 870]))
        for device_t, utc in pairs:
            rec.write(Record.event(device_t, hc.EVENT_WALL_CLOCK, utc=utc))
        rec.write(Record.event(1.0, hc.EVENT_PHASE, phase="baseline"))
        rec.write(Frame(0.95, (0.5, 1.0, 1.5, 0.01), (4, 4, 4, 4), (0.6, 1.1, 1.6, 0.02)))
        for i in range(100):
            rec.write(chain_sample(1.0 + 0.1 * i, i))
        rec.write(Record.event(10.9, hc.EVENT_END, reason="'q' typed"))


def test_collect_dates_the_start_by_its_least_delayed_clock_pair(tmp_path: Path) -> None:
    """The first data read when the port opens may have waited in the tty's buffer, so
    the (UTC, device time) pair noted then is late. Of the pairs of the first minute the
    least delayed counts; later ones (the two clocks drift apart) do not."""
    first_sample = datetime(2026, 1, 5, 10, 0, 0, tzinfo=timezone.utc)  # device time 1.0 s

    def utc(device_t: float, late_s: float) -> str:
        return (first_sample + timedelta(seconds=device_t - 1.0 + late_s)).isoformat()

    pairs = [(1.0, utc(1.0, 2.5)), (2.0, utc(2.0, 0.02)), (9.0, utc(9.0, 0.3))]
    pairs.append((70.0, utc(70.0, -0.4)))  # past the minute: drifted, not used
    path = tmp_path / "S07_upper_limb_left.nrec"
    write_collected_with_clock(path, pairs)
    snirf = rebuild(path, log=lambda line: None)
    assert read_session(snirf).t_s[0] == 1.0  # t = 0 is device second 0 (a frame at 0.95 s)
    raw = read_with_mne(snirf)
    late_s = (raw.info["meas_date"] - first_sample).total_seconds()
    assert late_s == pytest.approx(0.02, abs=1e-6)


def test_collect_notes_clock_pairs_for_a_minute() -> None:
    session = hc.CollectedSession()
    assert not session.wants_wall_clock()  # no device time yet
    session.add(Record.of(chain_sample(5.0, 0)))
    assert session.wants_wall_clock()
    session.add(Record.event(5.0, hc.EVENT_WALL_CLOCK, utc="2026-01-05T10:00:00+00:00"))
    session.add(Record.of(chain_sample(5.0 + hc.WALL_CLOCK_WINDOW_S, 1)))
    assert session.wants_wall_clock()
    session.add(Record.of(chain_sample(5.1 + hc.WALL_CLOCK_WINDOW_S, 2)))
    assert not session.wants_wall_clock()
