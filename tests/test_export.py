"""Reading a recording: ``python -m host export REC.nrec`` (issue 20, point 6).

Any ``.nrec`` session record becomes a SNIRF file and a PNG: the simulator's main-job
record (it says SIMULATED, its subject, protocol and side), a board's own record (it
says only "human": the rest is "unknown", noted), a damaged one (what the damage left;
never "human" when nothing says so). Such a session has no Borg rating, so the file
says it is not for training and the training loader refuses it. Bad files (not .nrec,
empty, not a record) are one line and exit 2 with nothing written. ``collect --recover``
reads the main job's record too, and points a record it cannot label to ``export``.
``host plot`` draws without warnings.
"""

from __future__ import annotations

import importlib
import math
import os
import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from test_damaged_records import chain_sample, write_collected

import device.__main__ as device_main
from device.config import WearableConfig
from device.recorder import SessionRecorder
from device.session_reader import read_session_file
from host.__main__ import main as host_main
from host.dataset import load_dataset
from host.plots import plot_session
from host.session import DatasetError, SessionRecord
from host.snirf_reader import read_session
from hwsim.wearable import run_wearable

MODELS = Path(__file__).resolve().parent.parent / "models"
needs_model = pytest.mark.skipif(
    not (MODELS / "fusion.onnx").exists(), reason="no bundled model in models/"
)


@pytest.fixture(scope="module")
def validate_snirf(tmp_path_factory) -> Callable:
    """``snirf.validateSnirf``, imported from a scratch folder (it writes a log there)."""
    cwd = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("snirf-log"))
    try:
        return importlib.import_module("snirf").validateSnirf
    finally:
        os.chdir(cwd)


@pytest.fixture(scope="module")
def main_job_record(tmp_path_factory) -> Path:
    """The record of one run of the main job (``./dev run``): a few seconds."""
    if not (MODELS / "fusion.onnx").exists():
        pytest.skip("no bundled model in models/")
    run = run_wearable(models_dir=MODELS, out=tmp_path_factory.mktemp("out"), emit=lambda s: None)
    return run.record_path


def export(capsys, *args: str) -> tuple[int, list[str], str]:
    """``python -m host export args``: exit status, stdout lines, stderr."""
    status = host_main(["export", *map(str, args)])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return status, out.splitlines(), err


class FakeClock:
    """A simulated board's clock, as the device takes it from ``--sim-socket``."""

    def monotonic(self) -> float:
        return 12.5

    def sleep(self, seconds: float) -> None:
        pass


def write_board_record(path: Path, n: int = 200) -> Path:
    """A record as the board's ``python -m device`` writes it: its header says only the
    provenance ("human"), then samples."""
    with SessionRecorder(path, info={"provenance": "human"}, fsync_interval_s=None) as rec:
        for i in range(n):
            rec.write(chain_sample(1.0 + 0.1 * i, i))
    return path


# -- the main job's record ------------------------------------------------------------------


@needs_model
def test_the_main_jobs_record_becomes_a_valid_snirf_and_png_labelled_simulated(
    main_job_record, tmp_path, capsys, validate_snirf
):
    out = tmp_path / "read"
    status, lines, err = export(capsys, main_job_record, "--out", out)
    assert (status, err) == (0, "")
    snirf = out / f"{main_job_record.stem}.snirf"
    png = out / f"{main_job_record.stem}.png"
    assert sorted(out.iterdir()) == sorted([snirf, png])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert validate_snirf(str(snirf)).is_valid()
    rec = read_session(snirf)
    kinds = [r.kind.name for r in read_session_file(main_job_record).records]
    samples, events = kinds.count("SAMPLE"), kinds.count("EVENT")
    assert rec.n_samples == samples > 1000
    assert (rec.subject_id, rec.protocol, rec.side) == ("sim-7", "upper_limb", "left")
    assert rec.provenance == "simulated"
    assert rec.phases == [] and rec.borg.size == 0
    assert rec.metadata["recorded_by"].startswith("the wearable's own session record")
    assert rec.metadata["not_for_training"] == "it holds no Borg rating, so no fatigue label"
    # What was written, said: paths, duration, samples, events.
    assert lines[-2] == (
        f"wrote {snirf}: {rec.n_samples} samples over {rec.t_s[-1] - rec.t_s[0]:.1f} s, "
        f"{events} device events, 0 Borg reports, 0 phases; sim-7, upper_limb, left; "
        "SIMULATED data"
    )
    assert lines[-1] == f"wrote {png}"
    assert "note: not for training: it holds no Borg rating, so no fatigue label" in lines
    # The training loader does not take it for a labelled session.
    with pytest.raises(DatasetError, match="not usable for training: it holds no Borg rating"):
        load_dataset(out)
    # host plot draws it without a warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert host_main(["plot", str(snirf), "--png", str(tmp_path / "plot.png")]) == 0
    assert "Traceback" not in "".join(capsys.readouterr())


@needs_model
def test_collect_recover_reads_the_main_jobs_record(main_job_record, tmp_path, capsys):
    status = host_main(["collect", "--recover", str(main_job_record), "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert (status, err) == (0, "")
    rec = read_session(tmp_path / f"{main_job_record.stem}.snirf")
    assert (rec.subject_id, rec.provenance) == ("sim-7", "simulated")


@needs_model
def test_a_simulated_record_is_never_exported_as_human(main_job_record, tmp_path, capsys):
    status, lines, err = export(
        capsys, main_job_record, "--out", tmp_path / "x", "--provenance", "human"
    )
    assert status == 2 and len(err.splitlines()) == 1
    assert err == (
        f"error: {main_job_record}: --provenance 'human' given, but the record says "
        "'simulated'; leave --provenance out\n"
    )
    assert not (tmp_path / "x").exists()


@needs_model
def test_a_damaged_main_job_record_exports_what_is_left_and_says_what_was_lost(
    main_job_record, tmp_path, capsys, validate_snirf
):
    raw = bytearray(main_job_record.read_bytes())
    raw[20:60] = bytes(40)  # the header event: who and what is lost
    raw[len(raw) // 2 : len(raw) // 2 + 300] = os.urandom(300)
    damaged = tmp_path / "damaged.nrec"
    damaged.write_bytes(bytes(raw[:-7]))  # and a torn last record
    status, lines, err = export(capsys, damaged)
    assert (status, err) == (0, "")
    assert "corrupt bytes skipped in 2 place(s)" in lines[0]
    rec = read_session(tmp_path / "damaged.snirf")
    assert validate_snirf(str(tmp_path / "damaged.snirf")).is_valid()
    assert (rec.subject_id, rec.protocol, rec.side, rec.provenance) == ("unknown",) * 4
    assert "bytes after the last good record discarded" in rec.metadata["record_damage"]
    assert rec.metadata["not_for_training"].startswith(
        "its subject is unknown; its protocol is unknown; its side is unknown; its provenance"
    )
    assert "provenance unknown (give --provenance if you know)" in rec.metadata["recovery_note"]
    assert (tmp_path / "damaged.png").exists()


def test_a_collected_record_exports_as_collect_recover_rebuilds_it(tmp_path, capsys):
    path = tmp_path / "S07_upper_limb_left.nrec"
    write_collected(path)
    status, lines, err = export(capsys, path, "--out", tmp_path / "export", "--no-png")
    assert (status, err) == (0, "")
    assert host_main(["collect", "--recover", str(path)]) == 0
    capsys.readouterr()
    ours = read_session(tmp_path / "export" / path.with_suffix(".snirf").name)
    theirs = read_session(path.with_suffix(".snirf"))
    assert ours.metadata == theirs.metadata and "not_for_training" not in ours.metadata
    for name in ("subject_id", "protocol", "side", "provenance", "phases", "start_utc"):
        assert getattr(ours, name) == getattr(theirs, name), name
    for name in ("t_s", "intensity_v", "d_hbo2_um", "borg_t_s", "borg", "level"):
        np.testing.assert_array_equal(getattr(ours, name), getattr(theirs, name))
    assert ours.borg.size == 4 and len(ours.phases) == 2


# -- the board's own record -----------------------------------------------------------------


def test_a_boards_record_says_human_and_the_rest_unknown_and_is_not_for_training(
    tmp_path, capsys, validate_snirf
):
    path = write_board_record(tmp_path / "session-20260105-100000-0.nrec")
    status, lines, err = export(capsys, path, "--no-png")
    assert (status, err) == (0, "")
    snirf = path.with_suffix(".snirf")
    assert not path.with_suffix(".png").exists()
    assert validate_snirf(str(snirf)).is_valid()
    rec = read_session(snirf)
    assert (rec.subject_id, rec.protocol, rec.side) == ("unknown",) * 3
    assert rec.provenance == "human"
    assert lines[1] == (
        "note: the record has no header event with the session facts (the wearable's own "
        "header event says only provenance 'human'): subject, protocol, side unknown (give "
        "--subject, --protocol, --side if you know)"
    )
    assert lines[-1].endswith("subject unknown, protocol unknown, side unknown; HUMAN data")
    with pytest.raises(DatasetError, match="its subject is unknown; its protocol is unknown"):
        load_dataset(tmp_path)
    # What the experimenter knows can be given.
    snirf.unlink()
    status, lines, err = export(
        capsys, path, "--no-png", "--subject", "S03", "--protocol", "lower_limb", "--side", "right"
    )
    assert (status, err) == (0, "")
    rec = read_session(snirf)
    assert (rec.subject_id, rec.protocol, rec.side, rec.provenance) == (
        "S03",
        "lower_limb",
        "right",
        "human",
    )


def test_the_device_on_a_simulated_board_records_simulated(tmp_path):
    """``python -m device --sim-socket`` (the simulator gives the clock) is not a person;
    on the board (its own clock) the record says "human"."""
    config = WearableConfig()
    config = replace(config, recording=replace(config.recording, dir=str(tmp_path)))
    said = []
    for clock in (FakeClock(), None):
        with device_main._new_recorder(config, clock) as recorder:
            path = recorder.path
        (header,) = read_session_file(path).records
        said.append(header.fields.data["provenance"])
    assert said == ["simulated", "human"]


def test_collect_recover_points_a_record_it_cannot_label_to_export(tmp_path, capsys):
    path = write_board_record(tmp_path / "session-20260105-100000-0.nrec")
    status = host_main(["collect", "--recover", str(path)])
    out, err = capsys.readouterr()
    assert status == 2 and len(err.splitlines()) == 1
    assert "give --subject, --protocol, --side, or read it with 'python -m host export'" in err
    assert not path.with_suffix(".snirf").exists()


# -- bad files: one line, exit 2, nothing written -------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("notes.txt", b"hello", "not a .nrec session record (export reads the .nrec files"),
        ("session.snirf", b"\x89HDF\r\n", "not a .nrec session record"),
        ("empty.nrec", b"", "empty file (0 bytes): no session was recorded in it"),
        ("junk.nrec", b"not a record at all " * 50, "not a session file: no file header"),
    ],
    ids=["text", "snirf", "empty", "junk"],
)
def test_a_bad_file_is_one_line_and_exit_2_with_nothing_written(
    tmp_path, capsys, name, content, message
):
    path = tmp_path / name
    path.write_bytes(content)
    out = tmp_path / "out"
    status, lines, err = export(capsys, path, "--out", out)
    assert status == 2 and len(err.splitlines()) == 1
    assert err.startswith("error: ") and message in err and str(path) in err
    assert not out.exists()
    assert sorted(tmp_path.iterdir()) == [path]


def test_an_existing_output_is_never_replaced(tmp_path, capsys):
    path = write_board_record(tmp_path / "rec.nrec")
    png = tmp_path / "rec.png"
    png.write_bytes(b"mine")
    status, lines, err = export(capsys, path)
    assert status == 2
    assert err == f"error: {png} exists; move it away or give --out another folder\n"
    assert png.read_bytes() == b"mine" and not path.with_suffix(".snirf").exists()


def test_every_option_says_its_default(capsys):
    with pytest.raises(SystemExit):
        host_main(["export", "--help"])
    text = " ".join(capsys.readouterr().out.split()).split("options:", 1)[1]
    for option in ("--out DIR", "--no-png", "--subject", "--protocol", "--side", "--provenance"):
        after = text.split(option, 1)[1]
        assert "(default: " in after.split(" --", 1)[0], option


# -- host plot --------------------------------------------------------------------------------


def test_plot_draws_a_session_whose_smo2_is_undefined_without_a_warning(tmp_path):
    n = 50
    t_s = np.arange(n) * 0.1
    rec = SessionRecord(
        subject_id="S01",
        protocol="upper_limb",
        side="left",
        provenance="simulated",
        wavelengths_nm=(750.0, 810.0, 870.0),
        t_s=t_s,
        intensity_v=np.ones((n, 3)),
        dark_v=np.zeros(n),
        d_od=np.zeros((n, 3)),
        d_hbo2_um=np.where(t_s > 2.5, -80.0, 0.0),  # a fall past the assumed −60 µM at rest
        d_hhb_um=np.zeros(n),
        flags=np.zeros(n, dtype=np.int64),
        borg_t_s=np.array([0.0]),
        borg=np.array([3]),
        level=np.ones(n, dtype=np.int64),
        level_names=("none", "light", "moderate", "high", "exhausted"),
        borg_thresholds=(1, 3, 5, 7, 10),
        phases=[("hold", 0.0, 4.9)],
        task_failure_s=math.nan,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = plot_session(rec, tmp_path / "plot.png")
    assert out.read_bytes()[:4] == b"\x89PNG"
