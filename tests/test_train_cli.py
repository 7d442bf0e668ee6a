"""``python -m host train`` never overwrites a model and checks a small cohort up front
(issue 20, points 2, 3 and 4). Every run here works in a temporary current folder, so a
broken test cannot write the repository's models/ or reports/."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from device.inference import sha256_of
from host.session import DatasetError

REPO = Path(__file__).resolve().parent.parent


def tree_hashes(*folders: Path) -> dict[str, str]:
    return {
        str(p.relative_to(REPO)): sha256_of(p)
        for folder in folders
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_train_writes_a_new_run_folder_and_leaves_the_bundled_model_alone(
    tiny_dataset, tmp_path, monkeypatch, capsys
):
    from host.train import main_args

    before = tree_hashes(REPO / "models", REPO / "reports")
    monkeypatch.chdir(tmp_path)  # what the command writes relative to "." lands here
    argv = ["--dataset", str(tiny_dataset), "--tiny", "--models", "fusion", "random_forest"]
    assert main_args(argv) == 0
    assert tree_hashes(REPO / "models", REPO / "reports") == before
    assert not (tmp_path / "models").exists() and not (tmp_path / "reports").exists()
    [run] = (tmp_path / "runs").iterdir()
    assert run.name.startswith("train-") and len(run.name) == len("train-YYYYmmdd-HHMMSS")
    assert {p.name for p in run.iterdir()} == {"fusion.keras", "model.json", "reports"}
    assert (run / "reports" / "comparison.md").is_file()
    meta = json.loads((run / "model.json").read_text())
    assert meta["created"].endswith("Z") and len(meta["created"]) == len("2026-11-30T17:02:03Z")
    assert meta["artefacts"] == {
        "fusion.keras": {
            "sha256": sha256_of(run / "fusion.keras"),
            "bytes": (run / "fusion.keras").stat().st_size,
        }
    }
    lines = capsys.readouterr().out.splitlines()
    where = Path("runs") / run.name
    assert lines[0].startswith(f"training on {tiny_dataset} (")
    assert lines[0].endswith(f"writing the model to {where}/ and the reports to {where}/reports/")
    assert f"next: ./dev host convert {where}" in lines[-3]
    assert f"./dev run --models-dir {where}" in lines[-2]
    assert f"./dev host ship {where}" in lines[-1]


@pytest.fixture
def no_loading(monkeypatch):
    """Loading windows fails the test: the checks must come before any work."""
    import host.dataset
    import host.train

    def refuse(*args, **kwargs):
        raise AssertionError("the dataset was loaded before the checks")

    monkeypatch.setattr(host.train, "load_windows", refuse)
    monkeypatch.setattr(host.train, "load_dataset", refuse)
    monkeypatch.setattr(host.dataset, "load_dataset", refuse)


def test_a_small_cohort_is_refused_before_any_window_is_cut(
    tiny_dataset, tmp_path, monkeypatch, capsys, no_loading
):
    from host.__main__ import main

    monkeypatch.chdir(tmp_path)
    # Three subjects, five folds (the default): the run used to end in a traceback.
    assert main(["train", "--dataset", str(tiny_dataset)]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: {tiny_dataset}: ")
    assert "of 3 subjects; subject-wise cross-validation with 5 folds needs at least 5" in line
    assert "pass --folds 3 (or fewer, at least 2)" in line
    assert list(tmp_path.iterdir()) == []  # no run folder, no models/


def test_the_limits_each_say_what_is_needed(tmp_path):
    from host.train import TINY
    from host.train_cli import Survey, check_limits

    names = ("none", "light", "moderate", "high", "exhausted")

    def survey(subjects: int, per_level=(5, 5, 5, 5, 5)) -> Survey:
        ids = frozenset(f"S{i}" for i in range(subjects))
        return Survey(tmp_path, 2 * subjects, ids, names, tuple(per_level))

    check_limits(survey(2), TINY)  # two subjects, two folds: enough
    with pytest.raises(DatasetError, match=r"2 sessions of 1 subject; training needs at least 2"):
        check_limits(survey(1), TINY)
    with pytest.raises(DatasetError, match=r"no sample at level exhausted: "):
        check_limits(survey(3, (5, 5, 5, 5, 0)), TINY)


def test_an_out_folder_that_holds_something_is_refused_before_any_work(
    tiny_dataset, tmp_path, no_loading
):
    from host.model_folder import FolderError
    from host.train_cli import main

    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "model.json").write_text("{}")
    with pytest.raises(FolderError, match=r"taken: not empty; training never writes into"):
        main(["--dataset", str(tiny_dataset), "--tiny", "--out", str(taken)])
    assert [p.name for p in taken.iterdir()] == ["model.json"]


def parser_of(monkeypatch, main, argv) -> argparse.ArgumentParser:
    """The parser ``main`` builds, caught as it parses."""
    seen = []

    def catch(self, args=None, namespace=None):
        seen.append(self)
        raise SystemExit(0)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", catch)
    with pytest.raises(SystemExit):
        main(argv)
    return seen[0]


@pytest.mark.parametrize("command", ["train", "convert", "ship"])
def test_every_option_has_help_that_shows_its_default(monkeypatch, command):
    import importlib

    module = {"train": "host.train", "convert": "host.convert", "ship": "host.model_folder"}
    main = importlib.import_module(module[command]).main_args
    parser = parser_of(monkeypatch, main, [])
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help, f"{command} {action.dest}: no help"
        if action.option_strings:  # an option, not a positional
            assert "(default: " in action.help, f"{command} {action.option_strings}"


def test_the_out_folder_is_taken_before_any_work_and_given_back_when_training_stops(
    tiny_dataset, tmp_path, monkeypatch, capsys
):
    """An --out that cannot be made is said at once; a run that is stopped (Ctrl-C) leaves
    nothing behind; a folder another run has taken is refused (two runs never share one)."""
    import host.train_cli as tc
    from host.__main__ import main

    ran = []
    monkeypatch.setattr(tc, "run", lambda *a, **k: ran.append(a))
    (tmp_path / "a-file").write_text("mine\n")
    assert main(["train", "--dataset", str(tiny_dataset), "--tiny", "--folds", "2",
                 "--out", str(tmp_path / "a-file" / "run")]) == 2  # fmt: skip
    assert "Not a directory" in capsys.readouterr().err and ran == []

    def stopped(*args, **kwargs):
        (tmp_path / "run" / "reports").mkdir()
        raise KeyboardInterrupt

    monkeypatch.setattr(tc, "run", stopped)
    assert main(["train", "--dataset", str(tiny_dataset), "--tiny", "--out",
                 str(tmp_path / "run")]) == 130  # fmt: skip
    err = capsys.readouterr().err
    assert f"training stopped: removed what it had written in {tmp_path / 'run'}" in err
    assert err.strip().endswith("interrupted (Ctrl-C)") and not (tmp_path / "run").exists()

    taken = tmp_path / "taken"
    taken.mkdir()
    with (
        tc.claimed(taken),
        pytest.raises(tc.FolderError, match="another training run is writing there"),
        tc.claimed(taken),
    ):
        pass
    assert list(taken.iterdir()) == []
