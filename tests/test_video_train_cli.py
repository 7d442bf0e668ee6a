"""``host video train`` and ``host video compare`` end to end, on SIMULATED workers.

Two-minute sessions of three simulated workers (hwsim.worker_dataset), their Borg ratings
moved so that 7 is reached at the minute (the simulated people need 20–45 min): each
session then holds five windows on each side of the seed's split. One epoch of eight
windows: the test pins what the commands write and print, not how good the model is.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("keras")

from host.video.cli import main_args  # noqa: E402
from host.video.features_file import read_features, write_features  # noqa: E402
from host.video.model_file import META_FILE, load_video_model  # noqa: E402
from host.video.pipeline import extract_features  # noqa: E402
from hwsim import worker_dataset  # noqa: E402


@pytest.fixture(scope="module")
def short_sessions(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("workers")
    args = ["--out", str(folder), "--workers", "3", "--minutes", "2", "--seed", "7"]
    assert worker_dataset.main(args) == 0
    for path in sorted(folder.glob("*.kin.h5")):
        track = read_features(path).track
        moved = replace(track, borg_time_s=np.array([0.0, 60.0]), borg_rating=np.array([2.0, 7.0]))
        path.unlink()
        write_features(path, extract_features(moved))
    return folder


def test_train_writes_a_model_the_commands_load_and_compare_tabulates(
    short_sessions, tmp_path, capsys
):
    out = tmp_path / "bilstm_windows"
    argv = ["train", "--data", str(short_sessions), "--out", str(out), "--split", "windows"]
    argv += ["--epochs", "1", "--windows-per-epoch", "8", "--batch-size", "8"]
    assert main_args(argv) == 0
    captured = capsys.readouterr()
    result = captured.out.strip().splitlines()
    assert len(result) == 1 and result[0].startswith("test (windows split, simulated): accuracy")
    assert "(always the more common class: " in result[0] and result[0].endswith(f"→ {out}")
    assert out.stat().st_mode & 0o055 == 0o055, "readable by others, as mkdir makes it"
    assert "epoch 1/1: loss" in captured.err  # progress on stderr
    assert "first batch: " in captured.err and "1 epoch × 8 windows take about" in captured.err
    model = load_video_model(out)  # its hash, inputs and architecture all checked
    meta = json.loads((out / META_FILE).read_text())
    assert meta["provenance"] == "simulated" and meta["architecture"] == "cnn_bilstm"
    assert meta["training"]["split"] == "windows" and meta["training"]["epochs"] == 1
    windows = meta["training"]["windows"]
    assert sum(windows.values()) == 60  # 6 sessions x (5 + 5) windows
    assert meta["metrics"]["test"]["windows"] == windows["test"]
    assert "simulated" in model.describe()
    # compare: one row naming the run, beside the seed's figures.
    assert main_args(["compare", str(out)]) == 0
    table = capsys.readouterr().out
    (row,) = [line for line in table.splitlines() if line.startswith("| bilstm_windows |")]
    assert f"| {meta['metrics']['test']['accuracy']:.1%} |" in row
    assert "94.57% (8:1:1, 3 real people)" in row  # the seed's Bi-LSTM figure beside it


def test_train_refuses_an_out_that_is_not_empty_before_any_work(short_sessions, tmp_path, capsys):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main_args(["train", "--data", str(short_sessions), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {out}: exists and is not an empty folder; give --out a new one"]
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_a_refused_or_diverged_training_leaves_no_folder(short_sessions, tmp_path, capsys):
    one = ["--epochs", "1", "--windows-per-epoch", "4", "--batch-size", "2"]
    out = tmp_path / "new" / "run"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main_args(["train", "--data", str(empty), "--out", str(out), *one]) == 2
    assert "holds no .kin.h5 files" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()
    # The default split by person: three people, one of them tested; all rested windows.
    argv = ["train", "--data", str(short_sessions), "--out", str(out), *one]
    rested = tmp_path / "rested"
    rested.mkdir()
    for path in short_sessions.glob("*.kin.h5"):
        track = read_features(path).track
        flat = replace(track, borg_rating=np.array([2.0, 3.0]))
        write_features(rested / path.name, extract_features(flat))
    argv[2] = str(rested)
    assert main_args(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "windows hold only label 0" in err and "another --seed draws others" in err, err
    assert not (tmp_path / "new").exists()
    # A rate that makes the loss overflow: refused, nothing written.
    argv = ["train", "--data", str(short_sessions), "--out", str(out), "--split", "windows"]
    assert main_args([*argv, *one, "--learning-rate", "1e30"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: --learning-rate: the training diverged (loss nan"), err
    assert not (tmp_path / "new").exists()
    with pytest.raises(SystemExit):
        main_args([*argv, "--seed", "-1"])
    assert "--seed: must be a whole number >= 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # Keras's generator takes 32 bits (a traceback before)
        main_args([*argv, "--seed", str(2**32)])
    assert "--seed: must be a whole number from 0 to 2**32 - 1" in capsys.readouterr().err


def test_compare_checks_each_run_as_the_loader_does(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / META_FILE).write_text(json.dumps({"format": "nirs-fatigue video model"}))
    assert main_args(["compare", str(run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"error: {run / META_FILE}: 'version' is None"), err
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    assert main_args(["compare", str(a_file)]) == 2
    assert "notes.txt: is a file: a video model is a folder" in capsys.readouterr().err
