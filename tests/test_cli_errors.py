"""Bad arguments and bad input files at every command line end in one line and exit status 2,
never a traceback (issue 14, points 3 and 8). Each case runs the command as a user would
(``python -m ...`` in a subprocess). Session files holding the model's wavelengths in another
order are read by wavelength, by the loader behind the commands (point 2).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from host.dataset import load_dataset
from host.session import MODEL_WAVELENGTHS_NM, DatasetError, SessionRecord
from host.snirf_writer import write_session

REPO = Path(__file__).resolve().parent.parent
MODELS = REPO / "models"
ENV = {
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "hw-sim")]),
}


def run(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", *argv],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )


def usage_error(child: subprocess.CompletedProcess) -> str:
    """argparse's refusal: exit 2, usage, then one ``prog: error: ...`` line."""
    assert child.returncode == 2, child.stderr
    assert "Traceback" not in child.stderr
    assert child.stderr.startswith("usage: ")
    return child.stderr.strip().splitlines()[-1]


def one_line(child: subprocess.CompletedProcess) -> str:
    """A refusal found while working: exit 2 and exactly one line on stderr."""
    assert child.returncode == 2, child.stderr
    [line] = child.stderr.strip().splitlines()
    return line


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (
            ["hwsim.wearable", "--fault-rate", "2"],
            "python -m hwsim.wearable: error: argument --fault-rate: must be a number from 0 to 1,"
            " got '2'",
        ),
        (
            ["hwsim.wearable", "--fault-rate", "nan"],
            "python -m hwsim.wearable: error: argument --fault-rate: must be a number from 0 to 1,"
            " got 'nan'",
        ),
        (
            ["hwsim.wearable", "--seed", "-5"],
            "python -m hwsim.wearable: error: argument --seed: must be a whole number >= 0, "
            "got '-5'",
        ),
        (
            ["hwsim.wearable", "--subject", "-1"],
            "python -m hwsim.wearable: error: argument --subject: must be a whole number >= 0, "
            "got '-1'",
        ),
        (
            ["hwsim.bench", "--seconds", "inf"],
            "python -m hwsim.bench: error: argument --seconds: must be a finite number > 0, "
            "got 'inf'",
        ),
        (
            ["hwsim.bench", "--seed", "-1"],
            "python -m hwsim.bench: error: argument --seed: must be a whole number >= 0, got '-1'",
        ),
        (
            ["hwsim.remote", "--fault-rate", "-0.1"],
            "python -m hwsim.remote: error: argument --fault-rate: must be a number from 0 to 1, "
            "got '-0.1'",
        ),
        (
            ["hwsim.remote", "--timeout", "0"],
            "python -m hwsim.remote: error: argument --timeout: must be a finite number > 0, "
            "got '0'",
        ),
        (
            ["hwsim.remote", "--python", "/nonexistent/python"],
            "python -m hwsim.remote: error: --python '/nonexistent/python': /nonexistent/python "
            "is not a program on this machine",
        ),
        (
            ["hwsim.remote", "--cwd", "/nonexistent"],
            "python -m hwsim.remote: error: argument --cwd: /nonexistent: no such folder",
        ),
        (
            ["hwsim.remote", "--protocol", "arm"],
            "python -m hwsim.remote: error: argument --protocol: invalid choice: 'arm' (choose "
            "from 'cuff_occlusion', 'light_work', 'lower_limb', 'quiet_sitting', 'upper_limb')",
        ),
        (
            ["device", "--seconds", "-1"],
            "python -m device: error: argument --seconds: must be a finite number > 0, got '-1'",
        ),
        (
            ["hwsim.cohort", "--subjects", "0"],
            "python -m hwsim.cohort: error: argument --subjects: must be a whole number >= 1, "
            "got '0'",
        ),
        (
            ["hwsim.cohort", "--jobs", "-2"],
            "python -m hwsim.cohort: error: argument --jobs: must be a whole number >= 1, "
            "got '-2'",
        ),
        (
            ["hwsim.cohort", "--seed", "-3"],
            "python -m hwsim.cohort: error: argument --seed: must be a whole number >= 0, "
            "got '-3'",
        ),
        (
            ["host", "train", "--seed", "-5"],
            "python -m host train: error: argument --seed: must be a whole number >= 0, got '-5'",
        ),
        (
            ["host", "convert", "--calibration", "0"],
            "python -m host convert: error: argument --calibration: must be a whole number >= 1, "
            "got '0'",
        ),
        (
            ["host", "collect", "--baud", "0"],
            "python -m host collect: error: argument --baud: must be a whole number >= 1, got '0'",
        ),
    ],
)
def test_an_out_of_range_option_is_one_line_and_exit_2(tmp_path, argv, line):
    assert usage_error(run(*argv, cwd=tmp_path)) == line


@pytest.mark.parametrize(
    "argv",
    [("hwsim.wearable",), ("hwsim.bench",), ("host", "export", "RECORD")],
    ids=" ".join,
)
def test_an_out_folder_that_is_a_file_is_refused_before_any_work(tmp_path, argv):
    """``--out README.md`` ended in ``[Errno 17] File exists`` after the run (issue 20)."""
    (tmp_path / "RECORD").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("mine\n")
    prog = "python -m " + " ".join(argv[:2] if argv[0] == "host" else argv[:1])
    for out, problem in (
        ("notes.txt", "notes.txt: is a file; give a folder (made if missing)"),
        ("notes.txt/sub", "notes.txt/sub: notes.txt is a file, not a folder"),
    ):
        line = usage_error(run(*argv, "--out", out, cwd=tmp_path))
        assert line == f"{prog}: error: argument --out: {problem}"
    assert (tmp_path / "notes.txt").read_text() == "mine\n"


def test_the_remote_boards_socket_problems_are_one_line(tmp_path):
    (tmp_path / "taken").write_text("")
    for socket, said in (
        ("taken", "error: cannot serve on taken: it exists (remove it first)"),
        ("no/sock", "error: [Errno 2] cannot serve on no/sock: No such file or directory"),
    ):
        child = run("hwsim.remote", "--seconds", "2", "--socket", socket, cwd=tmp_path)
        assert one_line(child) == said


def test_missing_files_and_folders_are_refused_before_any_work(tmp_path):
    missing = tmp_path / "absent"
    folder = tmp_path / "a-folder"
    folder.mkdir()
    a_file = tmp_path / "a.snirf"
    a_file.write_bytes(b"not HDF5")
    cases = [
        (("host", "lmm", str(missing)), f"python -m host lmm: error: argument dataset: {missing}"),
        (("host", "lmm", str(a_file)), f"python -m host lmm: error: argument dataset: {a_file}"),
        (
            ("host", "plot", str(missing)),
            f"python -m host plot: error: argument recording: {missing}",
        ),
        (
            ("host", "plot", str(folder)),
            f"python -m host plot: error: argument recording: {folder}",
        ),
        (
            ("host", "collect", "--recover", str(missing)),
            f"python -m host collect: error: argument --recover: {missing}",
        ),
        (
            ("hwsim.wearable", "--models-dir", str(missing)),
            f"python -m hwsim.wearable: error: argument --models-dir: {missing}",
        ),
    ]
    lines = [usage_error(run(*argv, cwd=tmp_path)) for argv, _ in cases]
    for line, (_, start) in zip(lines, cases):
        assert line.startswith(start + ": "), line
    kinds = [line.rsplit(": ", 1)[1] for line in lines]
    assert kinds == [
        "no such folder",
        "not a folder",
        "no such file",
        "not a file (a folder?)",
        "no such file",
        "no such folder",
    ]


def test_a_relative_path_that_is_missing_says_where_it_was_looked_for(tmp_path):
    line = usage_error(run("host", "lmm", "data/cohort", cwd=tmp_path))
    assert line.endswith(f"data/cohort: no such folder in {tmp_path} (the current folder)")


def test_a_file_that_is_not_a_session_is_one_line(tmp_path):
    bad = tmp_path / "notes.snirf"
    bad.write_text("not HDF5")
    line = one_line(run("host", "plot", str(bad), cwd=tmp_path))
    assert line.startswith(f"error: {bad}: not a readable HDF5 (SNIRF) file")


def test_host_train_on_a_missing_dataset_is_one_line(tmp_path):
    missing = tmp_path / "nonexistent"
    child = run("host", "train", "--dataset", str(missing), "--tiny", cwd=tmp_path)
    said = f"python -m host train: error: argument --dataset: {missing}: no such folder"
    assert usage_error(child) == said


def test_host_convert_needs_the_folder_to_convert(tmp_path):
    # Issue 20, point 2: no default folder, so the bundled models/ is never converted by
    # accident; a folder that is not a trained model is one line.
    line = usage_error(run("host", "convert", cwd=tmp_path))
    assert line == "python -m host convert: error: the following arguments are required: MODEL_DIR"
    line = one_line(run("host", "convert", str(tmp_path), cwd=tmp_path))
    assert line == (
        f"error: {tmp_path}/model.json: not found: not a model folder (python -m host train "
        "makes one)"
    )


def test_host_train_on_too_few_subjects_is_one_line_before_any_work(tmp_path, tiny_dataset):
    line = one_line(run("host", "train", "--dataset", str(tiny_dataset), cwd=tmp_path))
    assert line.startswith(f"error: {tiny_dataset}: ")
    assert " sessions of 3 subjects; subject-wise cross-validation with 5 folds" in line
    assert "pass --folds 3" in line
    assert not (tmp_path / "runs").exists()


def session(
    wavelengths_nm: tuple[float, ...], n: int = 200, *, subject_id: str = "P01", seed: int = 0
) -> SessionRecord:
    """A valid session of ``n`` samples at 10 Hz with the given wavelengths."""
    k = len(wavelengths_nm)
    rng = np.random.default_rng(seed)
    return SessionRecord(
        subject_id=subject_id,
        protocol="upper_limb",
        side="left",
        provenance="human",
        wavelengths_nm=wavelengths_nm,
        t_s=np.arange(n) * 0.1,
        intensity_v=rng.uniform(0.2, 2.0, (n, k)),
        dark_v=np.zeros(n),
        d_od=rng.normal(0.0, 0.05, (n, k)),
        d_hbo2_um=rng.normal(0.0, 3.0, n),
        d_hhb_um=rng.normal(0.0, 2.0, n),
        flags=np.zeros(n, dtype=np.int64),
        borg_t_s=np.array([0.0, 10.0]),
        borg=np.array([0, 5], dtype=np.int64),
        level=np.repeat([0, 2], n // 2).astype(np.int64),
        level_names=("none", "light", "moderate", "high", "exhausted"),
        borg_thresholds=(1, 3, 5, 7, 10),
        phases=[("baseline", 0.0, 10.0), ("hold", 10.0, 10.0)],
        task_failure_s=float("nan"),
        metadata={},
    )


def test_a_session_without_the_models_wavelengths_is_refused_naming_them(tmp_path):
    folder = tmp_path / "dataset"
    folder.mkdir()
    path = write_session(folder / "P01_upper_limb_left.snirf", session((760.0, 850.0)))
    expected = (
        f"error: {path}: holds wavelengths 760, 850 nm; training and the model need "
        "750, 810, 870 nm"
    )
    assert one_line(run("host", "lmm", str(folder), cwd=tmp_path)) == expected
    train = run(
        *("host", "train", "--dataset", str(folder), "--tiny"),
        *("--out", str(tmp_path / "m")),
        cwd=tmp_path,
    )
    assert one_line(train) == expected
    assert not (tmp_path / "m").exists()
    # The session itself is valid: it can still be plotted.
    plotted = run("host", "plot", str(path), "--png", str(tmp_path / "p.png"), cwd=tmp_path)
    assert plotted.returncode == 0, plotted.stderr
    assert (tmp_path / "p.png").is_file()


WAVELENGTHS_870_FIRST = (870.0, 810.0, 750.0)


def test_sessions_with_the_models_wavelengths_in_another_order_are_matched_by_wavelength(
    tmp_path,
):
    # Issue 14, point 2: a device configured wavelengths_nm = [870, 810, 750] writes its
    # columns in that order. They were once loaded unswapped (d_od_750 got 870 nm light),
    # then refused; now each column goes to the model's channel of its wavelength.
    folder = tmp_path / "dataset"
    folder.mkdir()
    written = {}
    for i in (1, 2, 3):
        record = session(WAVELENGTHS_870_FIRST, subject_id=f"P0{i}", seed=i)
        written[write_session(folder / f"P0{i}_upper_limb_left.snirf", record)] = record
    data = load_dataset(folder)
    assert data.wavelengths_nm == MODEL_WAVELENGTHS_NM == (750.0, 810.0, 870.0)
    for path, got in zip(data.paths, data.records):
        want = written[path]
        assert got.wavelengths_nm == MODEL_WAVELENGTHS_NM
        for k, nm in enumerate(MODEL_WAVELENGTHS_NM):
            column = WAVELENGTHS_870_FIRST.index(nm)  # the file's column at nm
            np.testing.assert_array_equal(got.d_od[:, k], want.d_od[:, column])
            np.testing.assert_array_equal(got.intensity_v[:, k], want.intensity_v[:, column])
        for name in ("t_s", "dark_v", "d_hbo2_um", "d_hhb_um", "flags", "level", "borg"):
            np.testing.assert_array_equal(getattr(got, name), getattr(want, name))
    np.testing.assert_array_equal(
        data.d_od, np.vstack([written[p].d_od[:, [2, 1, 0]] for p in data.paths])
    )
    # The command-line readers take them too.
    lmm = run("host", "lmm", str(folder), cwd=tmp_path)
    assert lmm.returncode == 0, lmm.stderr
    assert lmm.stdout.startswith("LMM: fatigue level ~ z(feature) + (1 | subject), 33 windows")


def test_a_dataset_mixing_wavelength_orders_loads_in_the_models_order(tmp_path):
    same = session(MODEL_WAVELENGTHS_NM, seed=4)
    swapped = session(WAVELENGTHS_870_FIRST, seed=4)  # the same numbers, other wavelengths
    write_session(tmp_path / "a.snirf", same)
    write_session(tmp_path / "b.snirf", swapped)
    data = load_dataset(tmp_path)
    np.testing.assert_array_equal(data.d_od, np.vstack([same.d_od, swapped.d_od[:, [2, 1, 0]]]))
    assert data.wavelengths_nm == MODEL_WAVELENGTHS_NM


def test_other_wavelengths_are_left_out_and_a_model_wavelength_held_twice_is_refused(tmp_path):
    four = session((690.0, 870.0, 810.0, 750.0), seed=5)
    write_session(tmp_path / "four.snirf", four)
    data = load_dataset(tmp_path)
    assert data.wavelengths_nm == MODEL_WAVELENGTHS_NM
    np.testing.assert_array_equal(data.d_od, four.d_od[:, [3, 2, 1]])
    np.testing.assert_array_equal(data.intensity_v, four.intensity_v[:, [3, 2, 1]])
    doubled = write_session(tmp_path / "twice.snirf", session((750.0, 810.0, 750.0, 870.0)))
    with pytest.raises(DatasetError) as info:
        load_dataset(tmp_path, pattern="twice.snirf")
    assert str(info.value) == (
        f"{doubled}: holds wavelengths 750, 810, 750, 870 nm; training and the model need "
        "750, 810, 870 nm, each once"
    )


def device_error_line(tmp_path: Path, config_text: str) -> tuple[Path, str]:
    """Run ``python -m device`` on the simulator with this config: it must exit 2 with one
    line on stderr (returned, with the config's path)."""
    from hwsim.remote import run_session

    config = tmp_path / "wearable.toml"
    config.write_text(
        f'[model]\ndir = {json.dumps(str(MODELS))}\nbackend = "onnx"\n{config_text}',
        encoding="utf-8",
    )
    device_run = run_session(
        seconds=5,
        device_args=["--config", str(config)],
        cwd=tmp_path,
        env={"PATH": ENV["PATH"], "PYTHONPATH": str(REPO)},
        timeout_s=300,
    )
    assert device_run.returncode == 2
    [line] = device_run.stderr.strip().splitlines()
    return config, line


@pytest.mark.skipif(not (MODELS / "fusion.onnx").exists(), reason="no bundled model")
def test_a_serial_port_that_is_not_there_is_one_line_and_exit_2(tmp_path):
    port = tmp_path / "ttyNOPE"
    config, line = device_error_line(
        tmp_path,
        f"[recording]\ndir = {json.dumps(str(tmp_path / 'sessions'))}\n"
        f"[serial]\nenabled = true\nport = {json.dumps(str(port))}\n",
    )
    assert line.startswith(f"error: serial link on {port}: cannot open: ")
    assert line.endswith(
        f"; set [serial] port in {config} to the board's serial device, or enabled = false"
    )
    # Refused before the recorder started: no empty session file is left behind.
    assert list((tmp_path / "sessions").glob("*")) == []


@pytest.mark.skipif(not (MODELS / "fusion.onnx").exists(), reason="no bundled model")
def test_a_recording_folder_that_cannot_be_used_is_one_line_and_exit_2(tmp_path):
    # Before: "note: not recording: ..." and a whole session measured without a record.
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("", encoding="utf-8")
    config, line = device_error_line(
        tmp_path, f"[recording]\ndir = {json.dumps(str(not_a_folder))}\n"
    )
    assert line.startswith(f"error: cannot record in {not_a_folder}: ")
    assert line.endswith(
        f"; set [recording] dir in {config} to a writable folder, or enabled = false"
    )


def test_plot_writes_only_png_files_and_never_over_its_input(tmp_path):
    sample = REPO / "tests" / "data" / "imports" / "oxysoft_portamon.txt"
    line = one_line(
        run("host", "plot", str(sample), "--png", str(tmp_path / "x.txt"), cwd=tmp_path)
    )
    assert line == f"error: {tmp_path / 'x.txt'}: --png must name a .png file"
    copy = tmp_path / "p.png"
    copy.write_bytes(sample.read_bytes())  # a recording that happens to end in .png
    line = one_line(run("host", "plot", str(copy), "--png", str(copy), cwd=tmp_path))
    assert line == f"error: {copy}: is the recording itself: give --png another file"
    assert copy.read_bytes() == sample.read_bytes()


def test_dev_takes_paths_from_the_folder_it_is_called_from(tmp_path):
    """``./dev host`` and ``./dev run`` start Python in the caller's folder: a relative path
    is the caller's (dev moves to the repository only to find its environments)."""
    (tmp_path / "notes.mp4").write_text("not a video\n")
    done = subprocess.run(
        [str(REPO / "dev"), "host", "video", "analyse", "notes.mp4"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 2, done.stderr
    assert "error: notes.mp4: is neither a kinematics file" in done.stderr, done.stderr
    done = subprocess.run(
        [str(REPO / "dev"), "sim", "nosuch"], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "dev: no simulator command 'nosuch'; there are: " in done.stderr
    assert " cohort " in done.stderr and " worker_dataset" in done.stderr
    # The main job (./dev run) finds the bundled model from any folder.
    done = run("hwsim.wearable", "--help", cwd=tmp_path)
    assert done.returncode == 0 and f"(default: {MODELS})" in " ".join(done.stdout.split())
