"""A damaged session file costs only the damaged records, in the reader and in
``python -m host collect --recover`` (issue 14, "the general kinds").

One record, made as :func:`host.collect.collect` makes it (its own header event with
the session facts, the device's header event, frames, samples, Borg ratings, phases,
an end event), is damaged in each way a card, a filesystem or a copy damages files:
(a) its first bytes, the file header; (b) its first record; (c) a record in the
middle; (d) a cut tail; (e) a run of zeros, as a power cut leaves; (f) garbage
inserted between records; (g) nothing but a header, or nothing at all. Each test
asserts that the reader returns exactly the records the damage did not touch, says
how many bytes it skipped and where, and that ``collect --recover`` writes the SNIRF
file from them with one-line notes and no traceback, or, with nothing to recover,
one line and exit 2.
"""

from __future__ import annotations

import random
import zlib
from pathlib import Path

import pytest

from device.acquisition import Frame
from device.chain import ChainSample
from device.codec import FORMAT_VERSION, HEADER_EVENT, Record, RecordKind, encode
from device.labels import DEFAULT_MAPPING
from device.recorder import SessionRecorder
from device.session_format import SYNC, SessionFileError, frame_record
from device.session_reader import MAX_LISTED_REGIONS, read_session_file
from host import collect_records as hc
from host.__main__ import main as host_main
from host.snirf_reader import read_session

HEADER_BYTES = 16
N_SAMPLES = 600  # with a frame each: about 80 kB, more than one 64 kB read of the reader
RATINGS = {100: 2, 250: 5, 400: 8, 550: 10}  # sample index → Borg rating typed there
NAME = "S07_upper_limb_left.nrec"  # as collect names it


def chain_sample(t_s: float, i: int) -> ChainSample:
    """The i-th 100 ms sample of a made-up session (its ΔOD and HbO2/HHb drift with i)."""
    return ChainSample(
        t_s=t_s,
        n_frames=4,
        dark_v=0.01,
        intensity_v=(1.0, 1.1, 1.2 + i * 1e-4),
        d_od=(0.01, 0.02, i * 1e-5),
        d_hbo2_um=-0.01 * i,
        d_hhb_um=0.01 * i,
        d_thb_um=0.0,
        oi_um=-0.02 * i,
        smo2_pct=60.0,
        residual_od=0.001,
        flags=0,
    )


def write_collected(path: Path) -> None:
    """A record as collect writes it (see the module docstring), provenance 'simulated'."""
    info = {
        hc.HEADER_KEY: {
            "subject_id": "S07",
            "protocol": "upper_limb",
            "side": "left",
            "provenance": "simulated",
            "port": "/dev/ttyACM0",
            "mapping": DEFAULT_MAPPING.to_dict(),
            "keys": hc.KEY_HELP,
        }
    }
    device_header = {"format_version": FORMAT_VERSION, "wavelengths_nm": [750, 810, 870]}
    with SessionRecorder(path, info=info, fsync_interval_s=None) as rec:
        rec.write(Record.event(0.5, HEADER_EVENT, **device_header))
        rec.write(Record.event(1.0, hc.EVENT_WALL_CLOCK, utc="2026-01-05T10:00:00+00:00"))
        rec.write(Record.event(1.0, hc.EVENT_PHASE, phase="baseline"))
        for i in range(N_SAMPLES):
            t = 1.0 + 0.1 * i
            rec.write(Frame(t - 0.05, (0.5, 1.0, 1.5, 0.01), (4, 4, 4, 4), (0.6, 1.1, 1.6, 0.02)))
            rec.write(chain_sample(t, i))
            if i in RATINGS:
                rec.write(Record.event(t, hc.EVENT_BORG, rating=RATINGS[i], key=str(RATINGS[i])))
            if i == 200:
                rec.write(Record.event(t, hc.EVENT_PHASE, phase="hold"))
        rec.write(Record.event(t, hc.EVENT_END, reason="'q' typed"))


class Original:
    """The undamaged record: its bytes, records and where each record starts."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / NAME
        write_collected(self.path)
        self.raw = self.path.read_bytes()
        data = read_session_file(self.path)
        assert data.report.intact
        self.records = data.records
        sizes = [len(frame_record(encode(r))) for r in self.records]
        self.starts = [HEADER_BYTES]
        for size in sizes[:-1]:
            self.starts.append(self.starts[-1] + size)
        self.ends = [s + n for s, n in zip(self.starts, sizes)]
        assert self.ends[-1] == len(self.raw)

    def index(self, kind: RecordKind, n: int) -> int:
        """Index of the ``n``-th record of ``kind``."""
        return [i for i, r in enumerate(self.records) if r.kind is kind][n]

    def kept(self, lost: set[int]) -> list[Record]:
        return [r for i, r in enumerate(self.records) if i not in lost]


@pytest.fixture(scope="module")
def original(tmp_path_factory) -> Original:
    return Original(tmp_path_factory.mktemp("original"))


def damaged(tmp_path: Path, data: bytes, name: str = NAME) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def read_back(path: Path, original: Original, lost: set[int]):
    """Read ``path``: exactly the records of ``original`` but ``lost`` come back."""
    data = read_session_file(path)
    expected = original.kept(lost)
    assert len(data.records) == data.report.records == len(expected)
    assert [encode(r) for r in data.records] == [encode(r) for r in expected]
    return data.report


def recover(path: Path, capsys, *options: str) -> tuple[int, list[str], str]:
    """``python -m host collect --recover path``: exit status, stdout lines, stderr."""
    status = host_main(["collect", "--recover", str(path), *options])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return status, out.splitlines(), err


def assert_rebuilt(path: Path, original: Original, lost: set[int], lines: list[str]) -> None:
    """The SNIRF beside ``path`` holds every surviving sample and rating, and says the damage."""
    kept = original.kept(lost)
    samples = [r.fields for r in kept if r.kind is RecordKind.SAMPLE]
    ratings = [
        r.fields.data["rating"]
        for r in kept
        if r.kind is RecordKind.EVENT and r.fields.name == hc.EVENT_BORG
    ]
    rec = read_session(path.with_suffix(".snirf"))
    assert rec.n_samples == len(samples)
    assert rec.d_hhb_um.tolist() == pytest.approx([s.d_hhb_um for s in samples], abs=1e-6)
    assert rec.borg.tolist() == ratings
    assert rec.subject_id == "S07" and rec.protocol == "upper_limb" and rec.side == "left"
    assert rec.metadata["record_damage"] == read_session_file(path).report.summary()
    assert lines[0] == read_session_file(path).report.describe()
    assert lines[-1].startswith(f"wrote {path.with_suffix('.snirf')}: {len(samples)} samples")


# -- (a) the first bytes: the file header -------------------------------------------------------


def _flip(raw: bytes, offset: int, bit: int = 0) -> bytes:
    b = bytearray(raw)
    b[offset] ^= 1 << bit
    return bytes(b)


HEADER_DAMAGE = {
    # name: (damage, first byte kept, the report's header_damage starts with)
    "magic bit flipped": (lambda raw: _flip(raw, 0, 4), 0, "no file header"),
    "version bit flipped": (lambda raw: _flip(raw, 8, 1), 0, "the file header is corrupt"),
    "CRC bit flipped": (lambda raw: _flip(raw, 13, 7), 0, "the file header is corrupt"),
    "header zeroed": (lambda raw: bytes(HEADER_BYTES) + raw[HEADER_BYTES:], 0, "no file header"),
    "header cut off": (lambda raw: raw[HEADER_BYTES:], HEADER_BYTES, "no file header"),
}


@pytest.mark.parametrize("how", HEADER_DAMAGE)
def test_a_damaged_or_missing_file_header_costs_no_record(tmp_path, original, capsys, how):
    damage, cut, says = HEADER_DAMAGE[how]
    path = damaged(tmp_path, damage(original.raw))
    report = read_back(path, original, lost=set())
    assert report.header_damage.startswith(says)
    assert report.format_version == FORMAT_VERSION and not report.version_assumed
    assert "read as format version 1 (as its header event says)" in report.describe()
    # The header's 16 bytes are the one skipped region, unless they are not there at all.
    assert report.regions == ([] if cut else [(0, HEADER_BYTES)])
    assert report.tail_bytes_discarded == 0 and not report.intact
    status, lines, err = recover(path, capsys)
    assert (status, err) == (0, "")
    assert_rebuilt(path, original, set(), lines)
    # The record's own header event survived: the session facts are its, not guesses.
    assert read_session(path.with_suffix(".snirf")).provenance == "simulated"
    assert len(lines) == 2


def test_a_header_and_first_record_cut_away_cost_only_that_record(tmp_path, original, capsys):
    """The file starts in the middle of its first record (the session facts): the rest
    is read; the facts come from the file name, each guess said in a note."""
    path = damaged(tmp_path, original.raw[HEADER_BYTES + 40 :])
    report = read_back(path, original, lost={0})
    assert report.header_damage.startswith("no file header (the file starts with b'")
    assert report.regions == [(0, original.ends[0] - HEADER_BYTES - 40)]
    status, lines, err = recover(path, capsys)
    assert (status, err) == (0, "")
    assert_rebuilt(path, original, {0}, lines)
    assert lines[1] == (
        "note: the record has no header event with the session facts (the wearable's own "
        "record, or its start is damaged): subject 'S07', protocol "
        "'upper_limb', side 'left' from the file name, provenance 'human' assumed (collect's "
        "default; --provenance sets it)"
    )
    assert lines[2].startswith("note: the default Borg-to-level mapping assumed")
    rec = read_session(path.with_suffix(".snirf"))
    assert rec.provenance == "human" and "from the file name" in rec.metadata["recovery_note"]


def test_a_header_with_neither_header_event_left_is_read_as_the_current_version(tmp_path, original):
    lost = set(range(original.index(RecordKind.EVENT, 2) + 1))  # both header events and more
    cut = original.ends[max(lost)]
    path = damaged(tmp_path, bytes(cut) + original.raw[cut:])  # zeros over all of them
    report = read_back(path, original, lost)
    assert report.version_assumed and report.format_version == FORMAT_VERSION
    assert "read as format version 1 (assumed: the current one" in report.describe()
    assert report.regions == [(0, cut)] and report.skipped_bytes == cut


def test_a_damaged_header_whose_header_event_names_an_unknown_version_is_refused(tmp_path):
    event = frame_record(encode(Record.event(0.0, HEADER_EVENT, format_version=99)))
    path = damaged(tmp_path, bytes(HEADER_BYTES) + event)
    with pytest.raises(SessionFileError, match=r"no file header .*its header event uses .*99"):
        read_session_file(path)


def test_a_file_with_no_header_and_no_record_is_not_a_session_file(tmp_path, capsys):
    zeros = damaged(tmp_path, bytes(5000), "zeros.nrec")
    with pytest.raises(SessionFileError, match=r"not a session file: .*5000 bytes \(all zero"):
        read_session_file(zeros)
    status, lines, err = recover(zeros, capsys)
    assert status == 2 and lines == []
    assert err.startswith(f"error: session file {zeros}: not a session file: no file header")
    assert len(err.splitlines()) == 1


# -- (b) the first record ---------------------------------------------------------------------


def test_a_damaged_first_record_costs_only_that_record(tmp_path, original, capsys):
    path = damaged(tmp_path, _flip(original.raw, original.starts[0] + 30, 2))
    status, lines, err = recover(path, capsys)
    assert (status, err) == (0, "")
    assert_rebuilt(path, original, {0}, lines)
    report = read_back(path, original, lost={0})
    assert report.header_damage is None and report.start_damaged
    assert report.regions == [(HEADER_BYTES, original.ends[0] - HEADER_BYTES)]
    assert [line[:6] for line in lines[1:3]] == ["note: ", "note: "]
    assert read_session(path.with_suffix(".snirf")).provenance == "human"  # said in a note
    # What the notes guessed can be given instead.
    path.with_suffix(".snirf").unlink()
    status, lines, err = recover(path, capsys, "--subject", "S08", "--provenance", "simulated")
    assert (status, err) == (0, "")
    assert lines[1].endswith(
        "subject 'S08' as given, protocol 'upper_limb', side 'left' from the file name, "
        "provenance 'simulated' as given"
    )
    rec = read_session(path.with_suffix(".snirf"))
    assert rec.subject_id == "S08" and rec.provenance == "simulated"


def test_a_lost_first_record_under_a_name_collect_did_not_give_asks_for_the_facts(
    tmp_path, original, capsys
):
    path = damaged(tmp_path, _flip(original.raw, original.starts[0] + 30), "copy.nrec")
    status, lines, err = recover(path, capsys)
    assert status == 2 and len(err.splitlines()) == 1
    assert err.rstrip().endswith(
        "give --subject, --protocol, --side, or read it with 'python -m host export', which "
        "writes 'unknown' for them; no SNIRF file written"
    )
    status, lines, err = recover(
        path, capsys, "--subject", "S07", "--protocol", "upper_limb", "--side", "left"
    )
    assert (status, err) == (0, "")


# -- (c) the middle ---------------------------------------------------------------------------


def test_damage_in_the_middle_costs_only_the_damaged_records_and_says_where(
    tmp_path, original, capsys
):
    k = original.index(RecordKind.SAMPLE, 300)
    rng = random.Random(14)
    raw = bytearray(original.raw)
    lo, hi = original.starts[k + 10] + 7, original.ends[k + 13] - 2  # records k+10 … k+13
    raw[lo:hi] = bytes(rng.randrange(256) for _ in range(hi - lo))
    raw[original.starts[k] + 20] ^= 0x08  # and one bit of record k
    path = damaged(tmp_path, bytes(raw))
    lost = {k, k + 10, k + 11, k + 12, k + 13}
    report = read_back(path, original, lost)
    assert report.regions == [
        (original.starts[k], original.ends[k] - original.starts[k]),
        (original.starts[k + 10], original.ends[k + 13] - original.starts[k + 10]),
    ]
    assert report.corrupt_regions == 2 and report.tail_bytes_discarded == 0
    where = f"bytes {original.starts[k]}-{original.ends[k] - 1}"
    assert f"corrupt bytes skipped in 2 place(s) ({where}, bytes " in report.describe()
    status, lines, err = recover(path, capsys)
    assert (status, err) == (0, "")
    assert_rebuilt(path, original, lost, lines)


def test_many_damaged_places_are_all_counted_and_the_first_ones_listed(tmp_path, original):
    raw = bytearray(original.raw)
    hit = [original.index(RecordKind.FRAME, n) for n in range(0, 2 * 150, 2)]
    for i in hit:
        raw[original.starts[i] + 12] ^= 0x40
    report = read_back(damaged(tmp_path, bytes(raw)), original, set(hit))
    assert report.corrupt_regions == 150 and len(report.regions) == MAX_LISTED_REGIONS
    assert report.regions[0][0] == original.starts[hit[0]]
    assert "and 147 more" in report.describe()


# -- (d) a cut tail ---------------------------------------------------------------------------


def test_a_cut_tail_costs_only_the_last_record_and_says_from_where(tmp_path, original, capsys):
    last = len(original.records) - 1
    path = damaged(tmp_path, original.raw[:-7])
    report = read_back(path, original, lost={last})
    assert report.tail_bytes_discarded == original.ends[last] - 7 - original.starts[last]
    assert f"discarded (from byte {original.starts[last]}: a torn last record" in (
        report.describe()
    )
    status, lines, err = recover(path, capsys)
    assert (status, err) == (0, "")
    assert_rebuilt(path, original, {last}, lines)


# -- (e) a run of zeros -----------------------------------------------------------------------


@pytest.mark.parametrize("where", ["middle", "start", "tail"])
def test_a_run_of_zeros_costs_only_the_records_it_covers(tmp_path, original, capsys, where):
    raw = bytearray(original.raw)
    if where == "middle":  # 4 kB of a page never written, across records
        lo = original.starts[original.index(RecordKind.SAMPLE, 350)] + 3
        hi = lo + 4096
    elif where == "start":  # the first 4 kB: header, session facts and more
        lo, hi = 0, 4096
    else:  # blocks allocated past the end, never written
        lo = hi = len(raw)
        raw += bytes(4096)
    raw[lo:hi] = bytes(hi - lo)
    spans = zip(original.starts, original.ends)
    lost = {i for i, (start, end) in enumerate(spans) if start < hi and end > lo}
    path = damaged(tmp_path, bytes(raw))
    report = read_back(path, original, lost)
    if where == "tail":
        assert report.tail_bytes_discarded == 4096 and report.regions == []
    else:
        first, last = min(lost), max(lost)
        start = 0 if where == "start" else original.starts[first]
        assert report.regions == [(start, original.ends[last] - start)]
    assert (report.header_damage is not None) == (where == "start")
    status, lines, err = recover(path, capsys)
    assert (status, err) == (0, "")
    assert_rebuilt(path, original, lost, lines)


# -- (f) garbage inserted between records -----------------------------------------------------


def test_garbage_inserted_between_records_costs_no_record(tmp_path, original, capsys):
    """The garbage holds SYNCs whose lengths reach into the good records that follow:
    only the CRC tells them apart, and no good record is swallowed."""
    k = original.index(RecordKind.SAMPLE, 450)
    rng = random.Random(3)
    garbage = bytes(rng.randrange(256) for _ in range(300))
    for length in (5, 60, 700, 65535):
        garbage += SYNC + length.to_bytes(2, "little") + bytes(8)
    # A SYNC, a length and the CRC of a record one byte of which then changed.
    length_and_record = (9).to_bytes(2, "little") + b"\x04" + bytes(8)
    crc = zlib.crc32(length_and_record).to_bytes(4, "little")
    garbage += SYNC + length_and_record[:-1] + b"\x01" + crc
    at = original.starts[k]
    path = damaged(tmp_path, original.raw[:at] + garbage + original.raw[at:])
    report = read_back(path, original, lost=set())
    assert report.regions == [(at, len(garbage))] and report.skipped_bytes == len(garbage)
    status, lines, err = recover(path, capsys)
    assert (status, err) == (0, "")
    assert_rebuilt(path, original, set(), lines)


# -- (g) a header only, or nothing ------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 5, HEADER_BYTES], ids=["empty", "torn header", "header only"])
def test_a_file_without_records_is_one_line_and_exit_2(tmp_path, original, capsys, size):
    path = damaged(tmp_path, original.raw[:size])
    data = read_session_file(path)
    assert data.records == [] and data.report.format_version == (1 if size == 16 else None)
    status, lines, err = recover(path, capsys)
    assert status == 2 and not path.with_suffix(".snirf").exists()
    assert lines == [data.report.describe()]
    summary = data.report.summary()
    assert err == f"error: {path}: no record to rebuild from ({summary}); no SNIRF file written\n"


def test_a_file_with_only_its_header_event_is_one_line_and_exit_2(tmp_path, original, capsys):
    path = damaged(tmp_path, original.raw[: original.ends[0]])
    status, lines, err = recover(path, capsys)
    assert status == 2 and not path.with_suffix(".snirf").exists()
    assert err == f"error: {path}: no sample survives (1 records); no SNIRF file written\n"


def test_records_written_twice_count_once(tmp_path, original, capsys):
    # A run of records repeated (a copy gone wrong) ended the rebuild with "borg_t_s must be
    # non-decreasing" and no SNIRF file (found by fuzzing the record).
    path = damaged(tmp_path, original.raw + original.raw[HEADER_BYTES:])
    status, lines, err = recover(path, capsys)
    assert (status, err) == (0, "")
    repeated = len(original.records) - 1  # all but collect's header event, used, not stored
    assert f"note: {repeated} record(s) found twice in the file; each used once" in lines
    samples = [r for r in original.records if r.kind is RecordKind.SAMPLE]
    assert read_session(path.with_suffix(".snirf")).n_samples == len(samples)
