"""The record codec and the crash-safe session file.

What the reader promises, and these tests hold it to: every complete record
before a torn tail comes back; corruption in the middle costs only the records
it touches (the reader resynchronises on SYNC + length + CRC); a full disk stops
the recording without raising and leaves what was written readable; and a real
``kill -9`` of a process recording flat out loses nothing the process had
handed to the kernel.
"""

from __future__ import annotations

import dataclasses
import errno
import importlib.util
import io
import json
import math
import os
import random
import select
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from device_python import run_python

from device.acquisition import Frame
from device.chain import ChainSample
from device.codec import (
    FORMAT_VERSION,
    HEADER_EVENT,
    CodecError,
    Event,
    Prediction,
    Record,
    RecordKind,
    decode,
    encode,
)
from device.recorder import SessionRecorder, new_session_path
from device.session_format import MAGIC, SYNC, SessionFileError, file_header, frame_record
from device.session_reader import SessionReader, read_session_file

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
HELPER = HERE / "helpers_kill_writer.py"


def f32(x: float) -> float:
    return float(np.float32(x))


def fields_tuple(record: Record) -> tuple:
    f = record.fields
    return dataclasses.astuple(f) if dataclasses.is_dataclass(f) else tuple(f)


def assert_same(got: Record, expected: Record) -> None:
    assert got.kind == expected.kind
    np.testing.assert_equal(fields_tuple(got), fields_tuple(expected))


FRAME = Frame(12.5, (0.0125, 1.25, 2.5, math.nan), (4, 4, 4, 0), (0.0130, 1.3, 3.75, math.nan))
SAMPLE = ChainSample(
    t_s=12.6,
    n_frames=4,
    dark_v=0.012,
    intensity_v=(1.2, 2.4, 3.3),
    d_od=(0.01, -0.02, 0.03),
    d_hbo2_um=-10.25,
    d_hhb_um=8.5,
    d_thb_um=-1.75,
    oi_um=-18.75,
    smo2_pct=63.2,
    residual_od=0.0021,
    flags=4 | 8,
)
PREDICTION = Prediction(13.0, (0.1, 0.2, 0.4, 0.2, 0.1), 2, 1)
EVENT = Event(13.5, "borg", {"rating": 5, "level": "moderate", "source": "host", "µ": [1, 2.5]})


def rounded(record: Record) -> Record:
    """What decoding returns: the float32 fields rounded, times exact."""
    f = record.fields
    r32 = lambda values: tuple(f32(v) for v in values)  # noqa: E731
    if isinstance(f, Frame):
        return Record.of(Frame(f.t_s, r32(f.volts), f.kept, r32(f.peak_v)))
    if isinstance(f, ChainSample):
        floats = ("dark_v", "d_hbo2_um", "d_hhb_um", "d_thb_um", "oi_um", "smo2_pct", "residual_od")
        return Record.of(
            f._replace(
                intensity_v=r32(f.intensity_v),
                d_od=r32(f.d_od),
                **{name: f32(getattr(f, name)) for name in floats},
            )
        )
    if isinstance(f, Prediction):
        return Record.of(f._replace(probabilities=r32(f.probabilities)))
    return record


# -- codec --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields", [FRAME, SAMPLE, PREDICTION, EVENT], ids=lambda f: type(f).__name__
)
def test_codec_round_trip_every_kind(fields):
    record = Record.of(fields)
    data = encode(record)
    assert data[0] == record.kind
    assert_same(decode(data), rounded(record))


def test_codec_exact_frame_bytes():
    frame = Frame(1.0, (0.5, 1.0, 2.0, -1.0), (4, 4, 3, 4), (0.75, 1.5, 2.5, 0.0))
    expected = (
        b"\x01"  # kind FRAME
        + struct.pack("<d", 1.0)
        + b"\x04"  # four phases
        + struct.pack("<4f", 0.5, 1.0, 2.0, -1.0)
        + struct.pack("<4H", 4, 4, 3, 4)
        + struct.pack("<4f", 0.75, 1.5, 2.5, 0.0)
    )
    assert encode(frame) == expected
    assert len(expected) == 50


def test_codec_takes_numpy_values_other_channel_counts_and_out_of_range_floats():
    sample = SAMPLE._replace(
        t_s=np.float64(7.25),
        n_frames=np.int64(3),
        flags=np.int64(16),
        intensity_v=tuple(np.array([1.0, 2.0])),
        d_od=tuple(np.array([0.5, 0.25])),
        d_hbo2_um=1e39,  # beyond float32: stored as +inf
        smo2_pct=-math.inf,
    )
    got = decode(encode(sample)).fields
    assert got.intensity_v == (1.0, 2.0) and got.d_od == (0.5, 0.25)
    assert got.t_s == 7.25 and got.n_frames == 3 and got.flags == 16
    assert got.d_hbo2_um == math.inf and got.smo2_pct == -math.inf
    event = Event(0.0, "config", {"gain": np.float64(2.5), "n": np.int64(3), "v": np.arange(2)})
    assert decode(encode(event)).fields.data == {"gain": 2.5, "n": 3, "v": [0, 1]}


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        (SAMPLE._replace(flags=-1), "SAMPLE"),
        (PREDICTION._replace(raw_level=200), "PREDICTION"),
        (FRAME.__class__(0.0, (1.0, 2.0), (4,), (1.0, 2.0)), "kept"),
        (Event(0.0, "x", {"f": object()}), "JSON"),
        (Event(0.0, "", {}), "name"),
    ],
)
def test_codec_rejects_bad_records_with_a_clear_message(fields, words):
    with pytest.raises(CodecError, match=words):
        encode(fields)


def test_codec_rejects_bad_bytes():
    good = encode(FRAME)
    with pytest.raises(CodecError, match="unknown record kind 9"):
        decode(b"\x09" + good[1:])
    with pytest.raises(CodecError, match="FRAME record .* 50 bytes, got 49"):
        decode(good[:-1])
    with pytest.raises(CodecError, match="not UTF-8 JSON"):
        decode(b"\x04" + struct.pack("<d", 0.0) + b"{nope")
    with pytest.raises(CodecError, match="version 2"):
        decode(good, version=2)
    with pytest.raises(TypeError, match="cannot record a str"):
        encode("frame")  # type: ignore[arg-type]


# -- file format and round trip ----------------------------------------------------------------

ALL = [FRAME, SAMPLE, PREDICTION, EVENT]


def record_file(path: Path, items, **kwargs) -> SessionRecorder:
    with SessionRecorder(path, **kwargs) as rec:
        for item in items:
            assert rec.write(item)
    return rec


def test_round_trip_every_record_type_through_a_file(tmp_path):
    path = tmp_path / "s.nrec"
    rec = record_file(path, ALL * 3, info={"subject": "sim-03", "dpf": 4.0})
    assert rec.closed and not rec.stopped
    assert rec.stats.records_written == 13 and rec.stats.bytes_written == path.stat().st_size
    raw = path.read_bytes()
    assert raw[:8] == MAGIC and raw[:16] == file_header(FORMAT_VERSION)
    data = read_session_file(path)
    assert data.report.intact and data.report.format_version == FORMAT_VERSION
    header, *records = data.records
    assert header.kind is RecordKind.EVENT and header.fields.name == HEADER_EVENT
    assert header.fields.data["format_version"] == FORMAT_VERSION
    assert header.fields.data["subject"] == "sim-03"
    assert len(records) == 12
    for got, item in zip(records, ALL * 3):
        assert_same(got, rounded(Record.of(item)))


def test_codec_covers_every_field_of_frame_and_chain_sample():
    # A new field here needs a new layout in device/codec.py and a new FORMAT_VERSION.
    assert [f.name for f in dataclasses.fields(Frame)] == ["t_s", "volts", "kept", "peak_v"]
    assert ChainSample._fields == (
        "t_s",
        "n_frames",
        "dark_v",
        "intensity_v",
        "d_od",
        "d_hbo2_um",
        "d_hhb_um",
        "d_thb_um",
        "oi_um",
        "smo2_pct",
        "residual_od",
        "flags",
    )


def test_frames_and_samples_from_the_simulated_board_round_trip(tmp_path):
    from device.acquisition import Multiplexer
    from device.ads1114 import ADS1114
    from device.chain import ChainConfig, MeasurementChain
    from device.leds import LedBank
    from hwsim.board import build_board

    board = build_board(with_oled=False)
    adc = ADS1114(board.bus, clock=board.clock, ready_line=board.ready_line)
    mux = Multiplexer(adc, LedBank(board.led_lines), clock=board.clock)
    chain = MeasurementChain(ChainConfig(baseline_s=1.0))
    mux.start()
    written = []
    with SessionRecorder(tmp_path / "sim.nrec", clock=board.clock) as rec:
        for frame in mux.run(3.0):
            written.append(Record.of(frame))
            written += [Record.of(sample) for sample in chain.push(frame)]
        for record in written:
            rec.write(record)
    got = read_session_file(tmp_path / "sim.nrec").records[1:]
    assert len(got) == len(written) > 120
    assert {r.kind for r in got} == {RecordKind.FRAME, RecordKind.SAMPLE}
    for a, b in zip(got, written):
        assert_same(a, rounded(b))


def test_recorder_refuses_an_existing_file_and_is_safe_to_close_twice(tmp_path):
    path = tmp_path / "s.nrec"
    rec = SessionRecorder(path)
    rec.close()
    rec.close()
    with pytest.raises(SessionFileError, match="write after close"):
        rec.write(FRAME)
    with pytest.raises(SessionFileError, match=rf"{path}: cannot create: .*EEXIST"):
        SessionRecorder(path)
    with pytest.raises(SessionFileError, match="No such file"):
        SessionRecorder(tmp_path / "missing-dir" / "s.nrec")
    with pytest.raises(CodecError, match="not JSON-serialisable"):
        SessionRecorder(tmp_path / "bad-info.nrec", info={"model": object()})
    assert not (tmp_path / "bad-info.nrec").exists()


class FakeClock:
    def __init__(self) -> None:
        self.t_s = 100.0

    def monotonic(self) -> float:
        return self.t_s

    def sleep(self, seconds: float) -> None:
        self.t_s += seconds


def test_fsync_policy_and_bounded_buffer(tmp_path):
    clock = FakeClock()
    rec = SessionRecorder(tmp_path / "a.nrec", fsync_interval_s=5.0, buffer_bytes=1000, clock=clock)
    assert rec.stats.fsyncs == 1  # the header, at creation
    largest = 0
    for _second in range(12):
        for _ in range(43):
            rec.write(FRAME)
            largest = max(largest, rec.buffered_bytes)
        rec.flush()
        assert rec.buffered_bytes == 0
        clock.sleep(1.0)
    assert largest < 1000 + len(frame_record(encode(FRAME)))
    assert rec.stats.fsyncs == 1 + 2  # at t = +5 s and +10 s
    rec.close()
    assert rec.stats.fsyncs == 4  # and at close
    never = SessionRecorder(tmp_path / "b.nrec", fsync_interval_s=None, clock=clock)
    for _ in range(10):
        never.write(FRAME)
        clock.sleep(60.0)
        never.flush()
    assert never.stats.fsyncs == 1
    never.close()
    with pytest.raises(ValueError, match="fsync_interval_s"):
        SessionRecorder(tmp_path / "c.nrec", fsync_interval_s=-1)


# -- torn tails and corruption -----------------------------------------------------------------


def framed_sizes(items) -> list[int]:
    return [len(frame_record(encode(item))) for item in items]


def test_torn_tail_at_every_offset_of_the_last_record(tmp_path):
    path = tmp_path / "full.nrec"
    items = ALL * 2
    record_file(path, items)
    raw = path.read_bytes()
    last = framed_sizes(items)[-1]
    start = len(raw) - last
    torn = tmp_path / "torn.nrec"
    for cut in range(start, len(raw)):
        torn.write_bytes(raw[:cut])
        data = read_session_file(torn)
        assert len(data.records) == 1 + len(items) - 1, cut
        assert data.report.tail_bytes_discarded == cut - start
        assert data.report.skipped_bytes == 0 and data.report.corrupt_regions == 0
        assert data.report.intact is (cut == start)
    for got, item in zip(data.records[1:], items):
        assert_same(got, rounded(Record.of(item)))


def test_torn_header_is_an_empty_session_not_an_error(tmp_path):
    path = tmp_path / "s.nrec"
    record_file(path, [FRAME])
    raw = path.read_bytes()
    for cut in range(16):
        path.write_bytes(raw[:cut])
        data = read_session_file(path)
        assert data.records == [] and data.report.format_version is None
        assert data.report.tail_bytes_discarded == cut
        assert "ends inside its header" in data.report.describe()


def test_zeros_after_a_power_cut_are_a_discarded_tail(tmp_path):
    path = tmp_path / "s.nrec"
    record_file(path, ALL)
    with open(path, "ab") as f:
        f.write(bytes(4096))  # blocks allocated but never written
    data = read_session_file(path)
    assert len(data.records) == 1 + len(ALL)
    assert data.report.tail_bytes_discarded == 4096 and data.report.skipped_bytes == 0


def test_corruption_in_the_middle_is_skipped_and_counted(tmp_path):
    """Choice: resynchronise (SYNC + plausible length + CRC), not stop at the damage."""
    rng = random.Random(7)
    path = tmp_path / "s.nrec"
    items = [ALL[i % 4] for i in range(200)]
    record_file(path, items)
    raw = path.read_bytes()
    sizes = framed_sizes(items)
    starts = list(np.cumsum([len(raw) - sum(sizes), *sizes[:-1]]))
    bad_path = tmp_path / "bad.nrec"
    for trial in range(40):
        k = rng.randrange(1, len(items) - 1)  # a record in the middle
        bad = bytearray(raw)
        offset = starts[k] + rng.randrange(sizes[k])
        bad[offset] ^= 1 << rng.randrange(8)  # one flipped bit
        bad_path.write_bytes(bytes(bad))
        data = read_session_file(bad_path)
        expected = [rounded(Record.of(item)) for j, item in enumerate(items) if j != k]
        assert len(data.records) == 1 + len(expected), trial
        assert [encode(r) for r in data.records[1:]] == [encode(r) for r in expected]
        assert data.report.skipped_bytes == sizes[k]
        assert data.report.corrupt_regions == 1 and data.report.tail_bytes_discarded == 0
    # A run of garbage over several records costs exactly the records it touches.
    bad = bytearray(raw)
    lo, hi = starts[50] + 10, starts[60] + 3
    bad[lo:hi] = bytes(rng.randrange(256) for _ in range(hi - lo))
    bad_path.write_bytes(bytes(bad))
    data = read_session_file(bad_path)
    assert len(data.records) == 1 + len(items) - 11
    assert data.report.skipped_bytes == starts[61] - starts[50]
    assert data.report.corrupt_regions == 1
    assert "corrupt bytes skipped in 1 place" in data.report.describe()


def test_a_good_crc_around_an_unknown_kind_is_skipped_not_fatal(tmp_path):
    path = tmp_path / "s.nrec"
    record_file(path, [FRAME])
    with open(path, "ab") as f:
        f.write(frame_record(b"\x2a" + bytes(10)))  # kind 42 from a future writer
        f.write(frame_record(encode(SAMPLE)))
    data = read_session_file(path)
    assert [r.kind for r in data.records] == [RecordKind.EVENT, RecordKind.FRAME, RecordKind.SAMPLE]
    assert data.report.undecodable_records == 1


def test_bad_headers_raise_an_error_naming_the_file(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("subject 3, biceps, 50 % MVC\n" * 3)
    with pytest.raises(SessionFileError, match=rf"{text}: not a session file"):
        read_session_file(text)
    short = tmp_path / "short.nrec"
    short.write_bytes(b"hello")
    with pytest.raises(SessionFileError, match="not a session file"):
        read_session_file(short)
    corrupt = tmp_path / "corrupt.nrec"
    corrupt.write_bytes(MAGIC + b"\x01\x00\x00\x00" + b"\x00\x00\x00\x00")
    with pytest.raises(SessionFileError, match="header is corrupt"):
        read_session_file(corrupt)
    future = tmp_path / "future.nrec"
    future.write_bytes(file_header(FORMAT_VERSION + 1))
    with pytest.raises(SessionFileError, match=rf"{future}: .*version {FORMAT_VERSION + 1}"):
        read_session_file(future)
    with pytest.raises(SessionFileError, match=r"missing.nrec: cannot open: .*ENOENT"):
        read_session_file(tmp_path / "missing.nrec")
    err = pytest.raises(SessionFileError, SessionReader, text).value
    assert isinstance(err, OSError) and err.path == str(text)


# -- full disk ---------------------------------------------------------------------------------


class FullDisk(io.RawIOBase):
    """A file on a disk with ``capacity`` bytes free: like Linux, a write that does not
    fit writes what fits and returns that count (``partial=True``) or raises ENOSPC
    after writing it; once full, every write raises."""

    def __init__(self, capacity: int, *, partial: bool) -> None:
        self.data = bytearray()
        self.capacity = capacity
        self.partial = partial

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        room = self.capacity - len(self.data)
        if room <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        taken = bytes(b[:room])
        self.data += taken
        if len(taken) < len(b) and not self.partial:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return len(taken)


@pytest.mark.parametrize("partial", [True, False], ids=["short-write", "raise"])
@pytest.mark.parametrize("capacity", [10, 600, 5000])
def test_full_disk_stops_the_recording_and_keeps_what_was_written(tmp_path, capacity, partial):
    disk = FullDisk(capacity, partial=partial)
    path = tmp_path / "full.nrec"
    rec = SessionRecorder(path, file=disk, buffer_bytes=256)
    offered = 0
    for _ in range(300):
        rec.write(FRAME)  # never raises
        offered += 1
        if offered % 10 == 0:
            rec.flush()
    assert rec.stopped
    assert str(path) in rec.stop_reason and "No space left on device (ENOSPC)" in rec.stop_reason
    assert rec.write(SAMPLE) is False and rec.flush() is False and rec.sync() is False
    offered += 1
    stats = rec.stats
    header_event = 1 if capacity > 16 else 0
    assert stats.records_written + stats.dropped_records == offered + header_event
    assert len(disk.data) == capacity
    rec.close()
    rec.close()
    path.write_bytes(bytes(disk.data))
    data = read_session_file(path)  # what reached the disk is readable
    if partial:  # the recorder knows exactly what reached the disk
        assert stats.bytes_written == capacity
        assert len(data.records) == stats.records_written
    else:  # bytes written before the exception are unknown to it: it counts fewer
        assert stats.bytes_written <= capacity
        assert len(data.records) >= stats.records_written
    assert data.report.skipped_bytes == 0
    for got in data.records[1:]:
        assert_same(got, rounded(Record.of(FRAME)))


def test_flush_failure_stops_the_recording(tmp_path):
    class BadFlush(io.BytesIO):
        def flush(self) -> None:
            raise OSError(errno.EIO, "Input/output error")

    rec = SessionRecorder(tmp_path / "x.nrec", file=BadFlush())
    assert rec.stopped and "flush failed: Input/output error (EIO)" in rec.stop_reason
    assert rec.write(FRAME) is False and rec.stats.dropped_records == 1
    rec.close()


# -- kill -9 -----------------------------------------------------------------------------------


def load_helper():
    spec = importlib.util.spec_from_file_location("helpers_kill_writer", HELPER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


KILLS = 20
#: Children started ahead of the one being killed (their start-up, mostly importing
#: numpy, overlaps the previous kill).
WINDOW = 3


def start_child(k: int, tmp_path: Path, env: dict) -> tuple:
    session, progress = tmp_path / f"k{k}.nrec", tmp_path / f"k{k}.progress"
    child = subprocess.Popen(
        [sys.executable, str(HELPER), str(session), str(progress), str(k)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        cwd=REPO,
    )
    return child, session, progress


def test_kill_9_loses_at_most_the_torn_last_record(tmp_path):
    """A child records flat out; SIGKILL at a random moment; the reader must return a
    gap-free prefix of the child's stream holding every record the child had flushed,
    and the discarded tail must be a proper prefix of the next record's bytes."""
    helper = load_helper()
    rng = random.Random(20240611)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "hw-sim")])}
    started = time.monotonic()
    queue = [start_child(k, tmp_path, env) for k in range(min(WINDOW, KILLS))]
    summary = []
    for k in range(KILLS):
        child, session, progress = queue.pop(0)
        if k + WINDOW < KILLS:
            queue.append(start_child(k + WINDOW, tmp_path, env))
        ready, _, _ = select.select([child.stdout], [], [], 15.0)
        assert ready and child.stdout.readline() == b"ready\n", "child did not start"
        child.stdin.write(b"go\n")
        child.stdin.flush()
        # Kill at a random moment after the first flush, however slow the machine.
        deadline = time.monotonic() + 60.0
        while not (progress.exists() and b"\n" in progress.read_bytes()):
            assert time.monotonic() < deadline, "child never flushed"
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.15))
        child.kill()  # SIGKILL: no flush, no atexit, no finally
        child.wait()
        child.stdin.close()
        child.stdout.close()
        assert child.returncode == -9
        lines = progress.read_bytes().split(b"\n") if progress.exists() else [b""]
        flushed = int(lines[-2]) if len(lines) > 1 else 0  # the last complete line

        data = read_session_file(session)
        header, *records = data.records
        assert header.fields.name == HEADER_EVENT
        n = len(records)
        assert n >= flushed, f"lost flushed records: recovered {n}, child had flushed {flushed}"
        # A gap-free prefix of the child's stream, byte for byte: the file is the header,
        # records 0 .. n-1 exactly as the child made them, then a proper prefix of record n.
        assert [r.t_s for r in records] == list(range(n))
        raw = session.read_bytes()
        body_start = 16 + len(frame_record(encode(header)))
        stream = b"".join(frame_record(encode(helper.make_record(i))) for i in range(n + 1))
        tail = data.report.tail_bytes_discarded
        assert body_start + len(stream) > len(raw), "more than one record beyond the prefix"
        assert raw[body_start:] == stream[: len(raw) - body_start]
        assert len(raw) - body_start - tail == len(stream) - len(
            frame_record(encode(helper.make_record(n)))
        )
        for i in rng.sample(range(n), min(n, 20)):
            assert_same(records[i], rounded(helper.make_record(i)))
        assert data.report.skipped_bytes == 0 and data.report.undecodable_records == 0
        summary.append((n, flushed, tail, len(raw)))
    elapsed_s = time.monotonic() - started
    torn = sum(1 for s in summary if s[2])
    print(
        f"\nkill -9 x{KILLS} in {elapsed_s:.1f} s: recovered {min(s[0] for s in summary)}.."
        f"{max(s[0] for s in summary)} records per kill (files up to "
        f"{max(s[3] for s in summary) / 1e6:.1f} MB); recovered beyond the last reported "
        f"flush: {sum(s[0] - s[1] for s in summary)} records in all; torn last record "
        f"{torn}/{KILLS} kills (max {max(s[2] for s in summary)} bytes discarded)"
    )
    assert all(s[1] > 0 for s in summary)  # every kill came after a flush


def test_crc_of_a_record_covers_its_length():
    body = encode(FRAME)
    framed = frame_record(body)
    assert framed[:2] == SYNC and struct.unpack("<H", framed[2:4])[0] == len(body)
    assert struct.unpack("<I", framed[-4:])[0] == zlib.crc32(framed[2:-4])


def test_a_new_session_never_takes_the_name_of_an_earlier_one(tmp_path, monkeypatch):
    # The board's clock restarts at the same time after a reboot when it has no RTC.
    monkeypatch.setattr(time, "strftime", lambda fmt: "session-20260101-000000")
    first = Path(new_session_path(tmp_path))
    assert first == tmp_path / "session-20260101-000000-0.nrec"
    first.write_bytes(b"earlier")
    assert Path(new_session_path(tmp_path)) == tmp_path / "session-20260101-000000-1.nrec"
    assert first.read_bytes() == b"earlier"


def test_the_board_loads_the_writer_and_not_the_reader():
    """The board only writes session files: what ``python -m device`` and the app import
    (device.__main__ imports device.recorder when it opens the recording) holds the writer
    and the format, and no reader, whose memory would count in the emulated-board budget."""
    probe = (
        "import json, sys\n"
        "import device.__main__, device.app, device.recorder\n"
        "loaded = {n: m for n, m in list(sys.modules.items()) if n.startswith('device')}\n"
        "readers = [n for n, m in loaded.items()\n"
        "           if hasattr(m, 'read_session_file') or hasattr(m, 'SessionReader')]\n"
        "print(json.dumps({'writer': hasattr(loaded['device.recorder'], 'SessionRecorder'),\n"
        "                  'readers': sorted(readers)}))\n"
    )
    done = run_python("-c", probe)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == {"writer": True, "readers": []}
