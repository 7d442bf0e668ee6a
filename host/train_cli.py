"""``python -m host train``: options, the checks made before any work, where it writes.

Before a window is cut, :func:`survey_dataset` reads each session file's subject tag and
level series only (milliseconds a file), and :func:`check_limits` refuses, in one line
saying what is needed and what to pass, a dataset the run would fail on minutes later:

- subject-wise cross-validation (GroupKFold) needs at least ``--folds`` subjects;
- the final model stops early on held-out validation subjects (host/train.py
  ``train_final``), and ``convert`` verifies on them: at least 2 subjects;
- every fatigue level must occur, or the model never sees it.

The run goes to a new folder (:mod:`host.model_folder`); at the end it says what to do
next: convert that folder, run the main job with it, ship it.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from device.argtypes import existing_dir, non_negative_int, positive_int
from host.dataset import load_dataset
from host.model_folder import REPORTS_SUBDIR, FolderError, check_out_folder, new_run_folder
from host.session import MODEL_WAVELENGTHS_NM, DatasetError
from host.snirf_layout import AUX_LEVEL
from host.snirf_reader import read_session
from host.train import CLASSIC_MODELS, DEEP_MODEL_NAMES, TINY, TrainConfig, run

#: The final model's early stopping needs a validation subject besides a training one.
MIN_SUBJECTS = 2


@dataclass(frozen=True)
class Survey:
    """What a dataset folder holds, read cheaply: sessions, subjects, samples per level."""

    folder: Path
    n_sessions: int
    subjects: frozenset[str]
    level_names: tuple[str, ...]
    samples_per_level: tuple[int, ...]


def survey_dataset(folder: Path, pattern: str = "*.snirf") -> Survey:
    """Count sessions, subjects and level samples of a dataset folder without loading it.

    Raises:
        DatasetError: No session file, or one that is not a session (named by
            :func:`host.snirf_reader.read_session`, which reads a file this cannot), or one
            without the model's wavelengths (named by :func:`host.dataset.load_dataset`).
    """
    import h5py
    import numpy as np

    paths = sorted(p for p in Path(folder).glob(pattern) if p.is_file())
    if not paths:
        raise DatasetError(folder, f"no session files matching {pattern!r} in this folder")
    subjects, names, counts = set(), (), np.zeros(0, dtype=np.int64)
    for path in paths:
        try:
            with h5py.File(path, "r") as h5:
                nirs = h5["nirs"] if "nirs" in h5 else h5["nirs1"]
                tags = nirs["metaDataTags"]
                subject = tags["SubjectID"][()]
                names = tuple(
                    n.decode() if isinstance(n, bytes) else str(n)
                    for n in tags["FatigueLevelNames"][()]
                )
                aux = next(
                    g
                    for k, g in nirs.items()
                    if k.startswith("aux") and _text(g["name"]) == AUX_LEVEL
                )
                levels = np.asarray(aux["dataTimeSeries"][()]).reshape(-1).astype(np.int64)
                probe_nm = {float(w) for w in np.ravel(nirs["probe"]["wavelengths"][()])}
            if not set(MODEL_WAVELENGTHS_NM) <= probe_nm:  # the loader's message names them
                load_dataset(path.parent, pattern=glob.escape(path.name))
        except (OSError, KeyError, StopIteration, ValueError, TypeError):
            record = read_session(path)  # raises the error naming the file and problem
            subject, names, levels = record.subject_id, record.level_names, record.level
        subjects.add(_text(subject))
        here = np.bincount(np.clip(levels, 0, None), minlength=len(names))
        counts = np.pad(counts, (0, max(0, len(here) - len(counts)))) + np.pad(
            here, (0, max(0, len(counts) - len(here)))
        )
    return Survey(
        Path(folder), len(paths), frozenset(subjects), names, tuple(int(c) for c in counts)
    )


def _text(value) -> str:
    value = value[()] if hasattr(value, "shape") and value.shape == () else value
    return value.decode() if isinstance(value, bytes) else str(value)


def check_limits(survey: Survey, config: TrainConfig) -> None:
    """Refuse a dataset the run would fail on; one line: what is needed and what to pass.

    Raises:
        DatasetError: Naming the dataset folder.
    """
    n = len(survey.subjects)
    has = f"{survey.n_sessions} sessions of {n} subject{'s' if n != 1 else ''}"
    more = "python -m hwsim.cohort --subjects N makes a larger simulated one"
    if n < MIN_SUBJECTS:
        raise DatasetError(
            survey.folder,
            f"{has}; training needs at least {MIN_SUBJECTS} (the final model stops early on "
            f"held-out subjects): use a dataset with more subjects ({more})",
        )
    if config.folds > n:
        raise DatasetError(
            survey.folder,
            f"{has}; subject-wise cross-validation with {config.folds} folds needs at least "
            f"{config.folds} subjects: pass --folds {n} (or fewer, at least 2), or use a "
            f"dataset with more subjects ({more})",
        )
    missing = [name for name, c in zip(survey.level_names, survey.samples_per_level) if c == 0]
    if missing:
        raise DatasetError(
            survey.folder,
            f"{has}; no sample at level {', '.join(missing)}: the model would never see it; "
            "every level must occur (longer sessions or more subjects reach it)",
        )


def _folds(text: str) -> int:
    value = positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 2, got {text!r}")
    return value


def _tiny_help() -> str:
    t = TINY
    return (
        f"a quick run to try the workflow: {t.folds} folds, at most {t.max_epochs} epochs, "
        f"early-stopping patience {t.patience}, batch {t.batch_size}, SVMs on at most "
        f"{t.svm_max_train} windows, models {', '.join(t.models)} (default: off)"
    )


#: Made in the output folder when training starts, removed when it ends: a second run
#: given the same --out finds the folder taken (not empty) instead of sharing it.
CLAIM_FILE = ".training"


@contextlib.contextmanager
def claimed(out: Path) -> Iterator[None]:
    """Take ``out`` for one training run before any work (made, and marked with
    :data:`CLAIM_FILE`), so an unwritable path is found at once and two runs never write
    into one folder; if the run fails or is interrupted, what it wrote is removed (it is
    no model) and the folder is left as it was found.

    Raises:
        OSError: ``out`` cannot be made (a file on its path, no permission).
        host.model_folder.FolderError: Another run took it first.
    """
    existed = out.is_dir()
    out.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(out / CLAIM_FILE, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        raise FolderError(f"{out}: another training run is writing there") from None
    try:
        yield
    except BaseException:
        if existed:
            for path in out.iterdir():
                shutil.rmtree(path) if path.is_dir() else path.unlink()
        else:
            shutil.rmtree(out, ignore_errors=True)
        print(f"training stopped: removed what it had written in {out}", file=sys.stderr)
        raise
    (out / CLAIM_FILE).unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    """Parse, check the output folder and the dataset, train, say what to do next."""
    every = DEEP_MODEL_NAMES + CLASSIC_MODELS
    full = TrainConfig()
    parser = argparse.ArgumentParser(
        prog="python -m host train",
        description="Cross-validate the fusion model and the baselines (subject-wise and "
        "stratified), train the final model, and write it with model.json and the "
        "comparison reports into a NEW folder (never over the bundled models/: "
        "python -m host ship does that).",
    )
    parser.add_argument(
        "--dataset",
        type=existing_dir,
        default=Path("data/cohort"),
        help="folder of .snirf session files (default: %(default)s)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="empty or new folder for the model, model.json and reports/ (default: a new "
        "runs/train-YYYYmmdd-HHMMSS in the current folder)",
    )
    parser.add_argument(
        "--folds",
        type=_folds,
        default=None,
        metavar="N",
        help=f"cross-validation folds of each scheme; subject-wise needs at least N subjects "
        f"(default: {full.folds}, {TINY.folds} with --tiny)",
    )
    parser.add_argument(
        "--epochs",
        type=positive_int,
        default=None,
        metavar="N",
        help=f"most epochs per deep-model fit (early stopping may end it sooner) "
        f"(default: {full.max_epochs}, {TINY.max_epochs} with --tiny)",
    )
    parser.add_argument(
        "--seed",
        type=non_negative_int,
        default=full.seed,
        help="random seed of folds and models (default: %(default)s)",
    )
    parser.add_argument("--tiny", action="store_true", help=_tiny_help())
    parser.add_argument(
        "--models",
        nargs="+",
        default=None,
        choices=every,
        metavar="MODEL",
        help=f"models to train and compare, fusion among them (the one that ships); any of "
        f"{', '.join(every)} (default: all; with --tiny: {', '.join(TINY.models)})",
    )
    args = parser.parse_args(argv)
    config = replace(TINY if args.tiny else full, seed=args.seed)
    if args.models:
        config = replace(config, models=tuple(args.models))
    if args.folds is not None:
        config = replace(config, folds=args.folds)
    if args.epochs is not None:
        config = replace(config, max_epochs=args.epochs)
    if "fusion" not in config.models:
        parser.error("--models must include fusion: it is the model that ships")
    out = check_out_folder(args.out) if args.out is not None else new_run_folder()
    survey = survey_dataset(args.dataset)
    check_limits(survey, config)
    command = "python -m host train " + " ".join(argv if argv is not None else sys.argv[2:])
    with claimed(out):
        print(
            f"training on {args.dataset} ({survey.n_sessions} sessions of "
            f"{len(survey.subjects)} subjects, {config.folds} folds, at most {config.max_epochs} "
            f"epochs); writing the model to {out}/ and the reports to {out / REPORTS_SUBDIR}/"
            + (
                "\n--tiny: a quick check that training runs end to end; its models are not "
                "meant to be good"
                if args.tiny
                else ""
            ),
            flush=True,
        )
        run(
            args.dataset,
            models_dir=out,
            reports_dir=out / REPORTS_SUBDIR,
            config=config,
            command=command.strip(),
            log=lambda s: print(s, flush=True),
        )
    print(
        f"next: ./dev host convert {out}   (ONNX and the NPU models, in that folder, "
        "minutes; with --onnx-only just ONNX, for the PC: seconds)\n"
        f"then: ./dev run --models-dir {out}   (the main job with this model)\n"
        f"and, to make it the bundled model: ./dev host ship {out}",
        flush=True,
    )
    return 0
