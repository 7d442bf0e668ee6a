"""Model folders: where new work goes, when a folder is complete, and shipping one.

A model folder holds ``model.json`` and ``fusion.keras`` (written by ``python -m host
train``, with the comparison in its ``reports/`` subfolder), then ``fusion.onnx`` and the
``.rknn`` models (added in place by ``python -m host convert``). ``model.json`` records
each file's SHA-256 and size (``artefacts``) and when the folder was made (``created``,
``converted``: UTC).

The rules (issue 20, point 2):

- ``train`` writes to a NEW folder, ``runs/train-YYYYmmdd-HHMMSS`` unless ``--out DIR``
  names an empty or absent one: it never overwrites a model.
- ``convert`` converts the folder it is given; the bundled ``models/`` only with
  ``--replace-bundled`` (re-converting the shipped model with another toolkit is
  legitimate, doing it by accident is not).
- ``python -m host ship RUN_DIR`` is the one way to replace the bundled model: it checks
  the folder is complete and consistent (every artefact the device and deploy.sh need,
  each matching the hash model.json records, and the device's own loader takes it), then
  copies it into ``models/`` and its reports into ``reports/``, removing stale ones.

:data:`BUNDLED_MODELS` and :data:`BUNDLED_REPORTS` are read when called, so tests point
them at a temporary layout instead of the repository's.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
from datetime import datetime, timezone
from pathlib import Path

from device.inference import (
    CONVERT_HINT,
    META_FILE,
    ONNX_FILE,
    RKNN_SECTION,
    ModelError,
    check_channels,
    load_model,
    recorded_sha256,
    rknn_models,
    sha256_of,
)

KERAS_FILE = "fusion.keras"
REPORTS_SUBDIR = "reports"
#: The repository's bundled model and its reports (what deploy.sh and ./dev run take).
REPO = Path(__file__).resolve().parents[1]
BUNDLED_MODELS = REPO / "models"
BUNDLED_REPORTS = REPO / "reports"
#: Where ``train`` puts a new folder when ``--out`` is not given (current folder).
RUNS = Path("runs")
#: The report files ``train`` writes (host/train.py write_reports): the ones ``ship``
#: replaces in the bundled reports folder; anything else there is left alone.
REPORT_PATTERNS = ("comparison.*", "confusion_*.png")
#: Model files ``ship`` replaces in the bundled models folder (README.md stays).
MODEL_PATTERNS = ("*.keras", "*.onnx", "*.rknn", META_FILE)


class FolderError(ModelError):
    """A model folder that cannot be used as asked; one line naming it and the fix."""


def utc_now() -> str:
    """The current time, UTC, ISO 8601 to the second (``2026-11-30T17:02:03Z``)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def artefact_entry(path: Path) -> dict:
    """model.json's record of one file: ``{"sha256": HEX, "bytes": N}``."""
    return {"sha256": sha256_of(path), "bytes": path.stat().st_size}


def new_run_folder(root: Path | None = None, now: datetime | None = None) -> Path:
    """A folder name under ``root`` (default :data:`RUNS`) that does not exist yet:
    ``train-YYYYmmdd-HHMMSS`` (UTC), with ``-2``, ``-3`` ... if two runs share a second."""
    root = RUNS if root is None else root
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%d-%H%M%S")
    folder, k = root / f"train-{stamp}", 1
    while folder.exists():
        k += 1
        folder = root / f"train-{stamp}-{k}"
    return folder


def check_out_folder(folder: Path) -> Path:
    """``folder`` if training may write there: absent, or an empty folder.

    Raises:
        FolderError: It is a file, or a folder with something in it (a model is never
            overwritten: name a new folder, or leave ``--out`` out for a new one).
    """
    if folder.exists() and not folder.is_dir():
        raise FolderError(f"{folder}: is a file; --out must name an empty or new folder")
    if folder.is_dir() and any(folder.iterdir()):
        raise FolderError(
            f"{folder}: not empty; training never writes into a folder that holds something "
            "(it could be a model): name an empty or new folder with --out, or leave --out "
            f"out for a new {RUNS}/train-YYYYmmdd-HHMMSS"
        )
    return folder


def is_bundled(folder: Path) -> bool:
    """Whether ``folder`` is the repository's bundled models folder (:data:`BUNDLED_MODELS`)."""
    return folder.resolve() == BUNDLED_MODELS.resolve()


#: What model.json may name as an artefact: a plain file name of a model kind (ship copies
#: exactly these into models/; a path or another kind of file would land elsewhere).
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\.(keras|onnx|rknn)")


def read_meta(folder: Path) -> dict:
    """A folder's model.json as a dict. Raises FolderError naming it."""
    path = folder / META_FILE
    if not path.is_file():
        raise FolderError(f"{path}: not found: not a model folder (python -m host train makes one)")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FolderError(f"{path}: unreadable: {exc}") from None
    if not isinstance(meta, dict):
        raise FolderError(f"{path}: not a JSON object")
    if not isinstance(meta.get("artefacts", {}), dict):
        raise FolderError(f"{path}: artefacts must be an object of file name → sha256 and size")
    for name in meta.get("artefacts", {}):
        if not SAFE_NAME.fullmatch(name):
            raise FolderError(
                f"{path}: artefact {name!r} is not a model file name (a plain *.keras, *.onnx "
                "or *.rknn name, no folders)"
            )
    return meta


def _check_recorded(folder: Path, meta: dict, name: str, fix: str) -> None:
    """The file exists and matches the SHA-256 model.json records for it."""
    path = folder / name
    recorded = recorded_sha256(meta, name)
    if not path.is_file():
        raise FolderError(f"{path}: missing, though {folder / META_FILE} lists it: {fix}")
    if recorded is None:
        raise FolderError(f"{folder / META_FILE}: records no sha256 for {name}: {fix}")
    if sha256_of(path) != recorded.lower():
        raise FolderError(
            f"{path}: differs from the file {folder / META_FILE} records (sha256): {fix}"
        )


def check_trained(folder: Path) -> dict:
    """A folder ``convert`` may work on: model.json and the Keras model it describes.

    Returns model.json. Raises FolderError naming the file and the fix.
    """
    meta = read_meta(folder)
    check_channels(meta, folder / META_FILE)  # a model of other inputs: said first
    keras = folder / KERAS_FILE
    if not keras.is_file():
        raise FolderError(
            f"{keras}: not found: convert needs the trained model (python -m host train "
            "makes a folder with it)"
        )
    for key, needed in (("normalisation", ("seq_mean",)), ("training", ("seed", "val_fraction"))):
        if not isinstance(meta.get(key), dict) or any(k not in meta[key] for k in needed):
            raise FolderError(
                f"{folder / META_FILE}: {key} is missing or incomplete (needs {', '.join(needed)}):"
                " not a model python -m host train wrote; train again"
            )
    if KERAS_FILE in (meta.get("artefacts") or {}):  # folders trained before issue 20: no
        _check_recorded(folder, meta, KERAS_FILE, "train again (python -m host train)")
    return meta


def check_complete(folder: Path) -> dict:
    """A folder ``ship`` may copy: converted, every file matching model.json, reports there,
    and the device's own loader takes it (ONNX backend). Returns model.json.

    Raises:
        FolderError: One line naming the file and the command that fixes it.
    """
    meta = read_meta(folder)
    check_channels(meta, folder / META_FILE)  # a model of other inputs: said first
    fix = "convert it again: " + CONVERT_HINT.format(folder=folder)
    if ONNX_FILE not in (meta.get("artefacts") or {}):
        raise FolderError(
            f"{folder / META_FILE}: this model has not been converted yet (no {ONNX_FILE} "
            f"or NPU models): {CONVERT_HINT.format(folder=folder)}"
        )
    if RKNN_SECTION not in meta:
        raise FolderError(
            f"{folder / META_FILE}: this model has no NPU models (converted with --onnx-only), "
            f"and the board needs them: {CONVERT_HINT.format(folder=folder)}"
        )
    needed = [KERAS_FILE, ONNX_FILE, *rknn_models(meta)]
    for name in dict.fromkeys([*needed, *meta["artefacts"]]):
        _check_recorded(folder, meta, name, fix)
    if not (folder / REPORTS_SUBDIR / "comparison.md").is_file():
        raise FolderError(
            f"{folder / REPORTS_SUBDIR}: no comparison.md: ship copies the training reports "
            "with the model; ship a folder python -m host train made"
        )
    load_model(folder, backend="onnx").close()  # what ./dev run does with it
    return meta


def summary(meta: dict) -> str:
    """What a model is, for one line: provenance and dates (as :meth:`describe` says)."""
    prov = meta.get("provenance") if isinstance(meta.get("provenance"), dict) else {}
    data = ", ".join(map(str, prov.get("data") or ["unknown data"]))
    made = meta.get("created")
    git = (meta.get("dates_from_git") or {}).get("created")
    when = made or (f"on or before {git} (git commit date)" if git else "at an unknown date")
    return f"{data}, {prov.get('subjects', '?')} subjects, created {when}"


def _matching(folder: Path, patterns: tuple[str, ...]) -> list[Path]:
    return sorted({p for pat in patterns for p in folder.glob(pat) if p.is_file()})


def _copy_in(source: Path, target: Path) -> None:
    """Copy through a temporary name and rename: a reader never sees half a file."""
    tmp = target.with_name(f".{target.name}.shipping")
    shutil.copy2(source, tmp)
    os.replace(tmp, target)


def ship(
    run_dir: Path,
    *,
    models: Path | None = None,
    reports: Path | None = None,
    log=print,
) -> dict:
    """Replace the bundled model with ``run_dir``'s after :func:`check_complete`.

    Copies the artefacts (model.json last) into ``models`` (default
    :data:`BUNDLED_MODELS`) and ``run_dir/reports/*`` into ``reports`` (default
    :data:`BUNDLED_REPORTS`); removes the model files and report files (patterns above)
    there that the new model does not have. Returns the new model.json.
    """
    models = BUNDLED_MODELS if models is None else models
    reports = BUNDLED_REPORTS if reports is None else reports
    if run_dir.resolve() == models.resolve():
        raise FolderError(f"{run_dir}: is the bundled models folder itself; ship a run folder")
    meta = check_complete(run_dir)
    old = read_meta(models) if (models / META_FILE).is_file() else None
    files = [name for name in meta["artefacts"] if name != META_FILE]
    models.mkdir(parents=True, exist_ok=True)
    for name in files:
        _copy_in(run_dir / name, models / name)
    _copy_in(run_dir / META_FILE, models / META_FILE)
    stale = [p for p in _matching(models, MODEL_PATTERNS) if p.name not in {*files, META_FILE}]
    for path in stale:
        path.unlink()
    reports.mkdir(parents=True, exist_ok=True)
    old_reports = _matching(reports, REPORT_PATTERNS)
    for path in old_reports:
        path.unlink()
    new_reports = _matching(run_dir / REPORTS_SUBDIR, REPORT_PATTERNS)  # nothing else
    for path in new_reports:
        _copy_in(path, reports / path.name)
    copied = read_meta(models)
    for name in files:  # the copy is what was checked
        _check_recorded(models, copied, name, f"ship {run_dir} again")
    was = f"replaced the model in {models} ({summary(old)})" if old else f"filled {models}"
    log(
        f"{was} with {run_dir} ({summary(meta)}): {', '.join([*files, META_FILE])}"
        + (f"; removed {', '.join(p.name for p in stale)}" if stale else "")
        + f"; {len(new_reports)} report files in {reports} ({len(old_reports)} old ones removed)"
    )
    log("`git status` shows the change; `git checkout -- models reports` undoes it")
    return meta


def main_args(argv: list[str]) -> int:
    """``python -m host ship RUN_DIR``."""
    from device.argtypes import existing_dir

    parser = argparse.ArgumentParser(
        prog="python -m host ship",
        description="Replace the bundled model (models/, reports/) with a trained and "
        "converted model folder, after checking it is complete and consistent.",
    )
    parser.add_argument(
        "run_dir",
        metavar="RUN_DIR",
        type=existing_dir,
        help="a folder python -m host train made and python -m host convert converted",
    )
    args = parser.parse_args(argv)
    ship(args.run_dir, log=lambda s: print(s, flush=True))
    return 0
