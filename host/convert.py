"""Keras → ONNX → quantised RKNN for the rv1103, verified in the same run.

    python -m host convert MODEL_DIR [--dataset DIR] [--precision hybrid|int8|int16]
                                     [--fallback int8|none] [--replace-bundled]

converts the model folder MODEL_DIR (one ``python -m host train`` made) in place; the
bundled ``models/`` only with ``--replace-bundled`` (:mod:`host.model_folder`). The
dataset is the one the model was trained on, as model.json records it, unless given.

1. ``fusion.keras`` → ``fusion.onnx`` with tf2onnx, static shapes (1, 100, 12) and
   (1, 60) (the LSTM is unrolled, so the graph has no Loop: docs/architecture.md).
2. ``fusion.onnx`` → ``fusion.rknn`` for target ``rv1103``, calibrated on a
   representative sample of real training windows (never random data). Precision:

   * ``hybrid`` (default): int8 inputs, convolution and statistics branch; the LSTM
     and everything after it (pooling, concatenation, the two dense layers) in int16,
     through rknn-toolkit2's hybrid quantisation (step 1 calibrates and writes a
     ``quantization.cfg``, :func:`mark_int16` edits it, step 2 builds).
   * ``int8``: every layer int8.
   * ``int16``: every layer int16 (``w16a16i_dfp``).

   Why hybrid: all-int8 flips the top class on 2.1 % of held-out windows (the 50-step
   recurrence accumulates int8 error, and int8 logits are coarse next to the 2 % of
   windows whose two top classes are within 0.005); neither the LSTM alone nor the head
   alone in int16 gets under 2 %, both together do (README). The device's inputs stay
   int8, so its binding quantises them exactly as for an all-int8 model.
3. ``fusion.onnx`` → ``fusion_int8.rknn``, all int8 (mmse calibration: of the int8
   schemes the closest to the float model, README), the model the device falls back to
   when the hybrid one does not initialise: the RV1103/RV1106 operator list of the
   runtime the models are for (2.3.2) gives the LSTM as int8 only, and int16 hybrid
   quantisation for the rv1103 appears only in rknn-toolkit2's changelog.
4. In the same RKNN object as each build, right after it (the only time rknn-toolkit2
   can simulate a model), the quantised model is compared with the float ONNX model on
   windows of the subjects the final model held out: top-1 agreement, largest
   probability error, accuracy of each. The figures (``quantisation`` for
   ``fusion.rknn``, ``quantisation_fallback`` for ``fusion_int8.rknn``), each
   artefact's SHA-256 and size, and the ``rknn`` section (the rknn-toolkit2 version that
   converted, the runtime version the models are for, the order the device tries them:
   device/inference.py) go into ``model.json``.

The toolkit must be the one of the board's runtime: a runtime of another version
refuses the model ("Invalid RKNN model version"), so the conversion warns when the
installed rknn-toolkit2 differs in major.minor from :data:`RUNTIME_VERSION`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from device.features import CHANNELS, N_STATISTICS, WINDOW_SAMPLES, Normaliser
from device.inference import (
    META_FILE,
    ONNX_FILE,
    RKNN_FILE,
    RKNN_INT8_FILE,
    RKNN_SECTION,
    sha256_of,
)
from device.rknn_api import same_major_minor
from host.model_folder import (
    BUNDLED_MODELS,
    KERAS_FILE,
    FolderError,
    check_trained,
    is_bundled,
    utc_now,
)
from host.session import DatasetError
from host.train import load_windows, validation_split
from host.windows import normalise

TARGET = "rv1103"
#: The RV1103 runtime the models are made for: librknnmrt.so of airockchip/rknn-toolkit2,
#: rknpu2/runtime/Linux/librknn_api/armhf-uclibc/ ("librknnmrt version: 2.3.2
#: (429f97ae6b@2025-04-09T09:11:49)"; its rknn_api.h answers RKNN_QUERY_SDK_VERSION).
#: Convert with the rknn-toolkit2 of the same version (the `dev` script pins it).
RUNTIME_VERSION = "2.3.2"
ONNX_OPSET = 13
#: Calibration windows for int8 quantisation, drawn from the training windows.
N_CALIBRATION = 1000
#: rknn-toolkit2's quantisation algorithm ("normal", "mmse", "kl_divergence"); with the
#: hybrid scheme mmse was no better than normal here and took 2-3 times as long (README).
QUANT_ALGORITHM = "normal"
#: Precision schemes (module docstring); the first is the default.
PRECISIONS = ("hybrid", "int8", "int16")
#: The fallback model: its precision, calibration and file (module docstring, step 3).
FALLBACK_PRECISION = "int8"
FALLBACK_ALGORITHM = "mmse"
FALLBACK_FILE = RKNN_INT8_FILE
#: rknn-toolkit2 ``quantized_dtype`` of each scheme (hybrid starts from int8).
QUANTIZED_DTYPE = {"hybrid": "w8a8", "int8": "w8a8", "int16": "w16a16i_dfp"}
#: Held-out windows for the int8-vs-float check (all of them if fewer).
N_VERIFY = 1000


def export_onnx(keras_path: Path, onnx_path: Path):
    """The Keras model as a static-shape ONNX graph with inputs sequence/statistics;
    returns the loaded Keras model."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf
    import tf2onnx

    model = keras.saving.load_model(keras_path)
    spec = (
        tf.TensorSpec((1, WINDOW_SAMPLES, len(CHANNELS)), tf.float32, name="sequence"),
        tf.TensorSpec((1, N_STATISTICS), tf.float32, name="statistics"),
    )

    @tf.function(input_signature=spec)
    def forward(sequence: tf.Tensor, statistics: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"probabilities": model([sequence, statistics], training=False)}

    tf2onnx.convert.from_function(
        forward, input_signature=spec, opset=ONNX_OPSET, output_path=str(onnx_path)
    )
    import onnx

    ops = {node.op_type for node in onnx.load(str(onnx_path)).graph.node}
    if ops & {"Loop", "Scan", "If"}:
        raise RuntimeError(
            f"{onnx_path}: dynamic ops {sorted(ops & {'Loop', 'Scan', 'If'})}; "
            "the NPU needs a static graph (is the LSTM unrolled?)"
        )
    return model


def layers_from_lstm(model) -> list[str]:
    """Names of the Keras model's LSTM layers and of every layer downstream of one, in
    order: the part of the fusion model the hybrid scheme computes in int16."""
    import keras

    chosen: list[str] = []
    for layer in model.layers:
        inputs = layer.input if isinstance(layer.input, (list, tuple)) else [layer.input]
        fed = any(t._keras_history.operation.name in chosen for t in inputs)
        if isinstance(layer, keras.layers.LSTM) or fed:
            chosen.append(layer.name)
    if not chosen:
        raise ValueError(f"model {model.name!r} has no LSTM layer to keep in int16")
    return chosen


_CFG_HEAD = "custom_quantize_layers: {}\n"
_CFG_PARAMS = "quantize_parameters:\n"


def mark_int16(cfg: str, layers: list[str]) -> tuple[str, dict[str, int]]:
    """rknn-toolkit2's ``quantization.cfg`` (from ``hybrid_quantization_step1``) with the
    int8 tensors of ``layers`` set to int16.

    A tensor belongs to a layer when its name has the layer's name as a path component,
    as tf2onnx scopes them (``fusion_1/lstm_20_1/lstm_cell_3/mul:0-rs`` is ``lstm_20``'s).
    Tensors that are not int8 (float inputs, the float16 softmax) are left alone.

    Returns:
        The edited text and, per layer, how many tensors were set to int16.

    Raises:
        ValueError: The text is not a step-1 file with no custom layers yet, or none of
            its int8 tensors belongs to ``layers`` (a model whose names changed would
            otherwise silently stay all int8).
    """
    if not cfg.startswith(_CFG_HEAD) or _CFG_PARAMS not in cfg:
        raise ValueError(
            f"quantization.cfg does not start with {_CFG_HEAD!r} followed by "
            f"{_CFG_PARAMS!r}: not the file hybrid_quantization_step1 writes"
        )
    params = cfg.split(_CFG_PARAMS, 1)[1]
    # Each tensor: "    <name>:" then its fields indented further, "dtype: <type>" among them.
    dtypes = dict(
        re.findall(r"^    (\S[^\n]*):\n(?:^      [^\n]*\n)*?^        dtype: (\w+)$", params, re.M)
    )
    counts = {name: 0 for name in layers}
    chosen = []
    for tensor, dtype in dtypes.items():
        owner = next(
            (n for n in layers if re.search(rf"(^|/){re.escape(n)}(_\d+)?/", tensor)), None
        )
        if owner is not None and dtype == "int8":
            counts[owner] += 1
            chosen.append(tensor)
    if not chosen:
        raise ValueError(f"no int8 tensor of layers {layers} in quantization.cfg")
    block = "".join(f"    {t}: int16\n" for t in chosen)
    return "custom_quantize_layers:\n" + block + cfg[len(_CFG_HEAD) :], counts


def _onnx_predict(onnx_path: Path, seq: np.ndarray, st: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    return np.concatenate(
        [
            session.run(None, {"sequence": seq[i : i + 1], "statistics": st[i : i + 1]})[0]
            for i in range(len(seq))
        ]
    )


def toolkit_version() -> str:
    """The installed rknn-toolkit2's version (package metadata)."""
    import importlib.metadata as md

    return md.version("rknn-toolkit2")


def convert(models_dir: Path, dataset: Path, **options: Any) -> dict:
    """Run the whole conversion and verification (:func:`_convert`, same options); returns
    the updated model.json. All or nothing: the folder's ONNX, NPU models and model.json
    are copied aside first and put back if the conversion fails or is interrupted, so a
    folder that worked before still works (a full conversion takes minutes to redo).

    Raises:
        host.session.DatasetError: ``dataset`` holds no session files (before any work).
    """
    if options.get("npu", True) and not any(Path(dataset).glob("*.snirf")):
        raise DatasetError(dataset, "no session files (*.snirf) to calibrate on: pass --dataset")
    kept = [models_dir / n for n in (ONNX_FILE, RKNN_FILE, FALLBACK_FILE, META_FILE)]
    with tempfile.TemporaryDirectory(dir=models_dir, prefix=".convert-backup-") as backup:
        saved = [p for p in kept if p.is_file()]
        for path in saved:
            shutil.copy2(path, Path(backup) / path.name)
        try:
            return _convert(models_dir, dataset, **options)
        except BaseException:
            for path in kept:
                if path not in saved:
                    path.unlink(missing_ok=True)
            for path in saved:
                shutil.copy2(Path(backup) / path.name, path)
            raise


def _convert(
    models_dir: Path,
    dataset: Path,
    *,
    precision: str = PRECISIONS[0],
    algorithm: str = QUANT_ALGORITHM,
    fallback: str | None = None,
    fallback_algorithm: str = FALLBACK_ALGORITHM,
    n_calibration: int = N_CALIBRATION,
    int16_layers: Callable[[Any], list[str]] | None = None,
    npu: bool = True,
    log: Callable[[str], None] = print,
) -> dict:
    """Run the whole conversion and verification; returns the updated model.json.

    ``precision`` makes ``fusion.rknn``; ``fallback`` (a precision, or None for no
    fallback model; ``python -m host convert`` makes the int8 one) makes
    ``fusion_int8.rknn`` with ``fallback_algorithm``. ``int16_layers`` picks, from the
    Keras model, the layers the hybrid scheme keeps in int16 (default
    :func:`layers_from_lstm`; ``benchmarks/quantisation_schemes.py`` tries others).
    ``npu=False`` (``--onnx-only``) exports ``fusion.onnx`` alone, in seconds, for the
    simulated main job; the folder then holds no NPU model (earlier ones are removed, so
    nothing stale is left), and ``deploy.sh`` and ``ship`` refuse it until a full
    conversion."""
    for what, value in (("precision", precision), ("fallback", fallback or PRECISIONS[0])):
        if value not in PRECISIONS:
            raise ValueError(f"{what} {value!r}: choose one of {', '.join(PRECISIONS)}")
    t0 = time.perf_counter()
    meta_path = models_dir / META_FILE
    meta = json.loads(meta_path.read_text())
    norm = Normaliser.from_dict(meta["normalisation"])
    onnx_path = models_dir / ONNX_FILE
    if not npu:
        log(f"[1/2] {KERAS_FILE} → {ONNX_FILE} (tf2onnx, opset {ONNX_OPSET}); no NPU models")
        with _output_to(models_dir / EXPORT_LOG):
            export_onnx(models_dir / KERAS_FILE, onnx_path)
        stale = [models_dir / n for n in (RKNN_FILE, FALLBACK_FILE) if (models_dir / n).exists()]
        for path in [*stale, models_dir / "rknn_build.log"]:
            path.unlink(missing_ok=True)
        if stale:
            log(
                f"      removed {', '.join(p.name for p in stale)}: made from the earlier "
                "fusion.onnx, they would not match this one"
            )
        for key in ("quantisation", "quantisation_fallback", RKNN_SECTION):
            meta.pop(key, None)
        return _write_meta(meta, meta_path, [models_dir / KERAS_FILE, onnx_path], "2/2", log)
    toolkit = toolkit_version()
    if not same_major_minor(toolkit, RUNTIME_VERSION):
        log(
            f"WARNING: rknn-toolkit2 {toolkit} is installed, the board's runtime is "
            f"{RUNTIME_VERSION}: a runtime refuses a model made by another version "
            f"(install rknn-toolkit2=={RUNTIME_VERSION}, as ./dev does)"
        )
    builds = [(RKNN_FILE, precision, algorithm, "quantisation")]
    if fallback is not None:
        builds.append((FALLBACK_FILE, fallback, fallback_algorithm, "quantisation_fallback"))
    n_steps = 3 + len(builds)

    log(f"[1/{n_steps}] {KERAS_FILE} → {ONNX_FILE} (tf2onnx, opset {ONNX_OPSET})")
    with _output_to(models_dir / EXPORT_LOG):  # TensorFlow's start-up chatter
        model = export_onnx(models_dir / KERAS_FILE, onnx_path)

    log(f"[2/{n_steps}] windows of {dataset} for calibration and verification")
    data = load_windows(dataset)
    w = data.windows
    training = meta["training"]
    every = np.arange(len(w.labels))
    fit_idx, held_idx = validation_split(
        every, "subject", w.labels, w.groups, training["val_fraction"], training["seed"]
    )
    rng = np.random.default_rng(training["seed"])
    calib = rng.choice(fit_idx, min(n_calibration, len(fit_idx)), replace=False)
    verify = np.sort(rng.choice(held_idx, min(N_VERIFY, len(held_idx)), replace=False))
    seq, st = normalise(norm, w.sequences, w.stats)
    fp32 = _onnx_predict(onnx_path, seq[verify], st[verify])
    truth = w.labels[verify]
    top2 = np.sort(fp32, axis=1)[:, -2:]
    common = {
        "windows": int(len(verify)),
        "held_out_subjects": sorted(set(w.groups[held_idx].tolist())),
        "accuracy_float": float(np.mean(fp32.argmax(1) == truth)),
        # A scheme whose probability errors reach this flips about 2 % of the windows.
        "float_top2_margin_2nd_percentile": float(np.percentile(top2[:, 1] - top2[:, 0], 2)),
        "calibration_windows": int(len(calib)),
        "target": TARGET,
        "data": ", ".join(sorted(data.provenance)),
    }

    rknn_log = models_dir / "rknn_build.log"
    rknn_log.unlink(missing_ok=True)
    summary = []
    for step, (name, scheme, algo, key) in enumerate(builds, start=3):
        log(
            f"[{step}/{n_steps}] {ONNX_FILE} → {name}: {scheme} for {TARGET}, {algo} "
            f"calibration on {len(calib)} training windows, then its simulation against "
            f"float on {len(verify)} windows of {len(common['held_out_subjects'])} held-out "
            f"subjects (rknn-toolkit2 {toolkit}; a few minutes)"
        )
        if step == 3:
            log(f"      (rknn-toolkit2's own output goes to {rknn_log})")
        int16_names = (int16_layers or layers_from_lstm)(model) if scheme == "hybrid" else []
        quantised, int16_tensors = _build_and_simulate(
            onnx_path,
            models_dir / name,
            scheme,
            algo,
            int16_names,
            seq,
            st,
            calib,
            verify,
            rknn_log,
        )
        meta[key] = {
            "file": name,
            "top1_agreement": float(np.mean(quantised.argmax(1) == fp32.argmax(1))),
            "max_probability_error": float(np.abs(quantised - fp32).max()),
            "accuracy_quantised": float(np.mean(quantised.argmax(1) == truth)),
            **common,
            "precision": scheme,
            "int16_tensors": int16_tensors,
            "algorithm": algo,
        }
        summary.append(
            f"{name} ({scheme}): top-1 agreement {meta[key]['top1_agreement']:.4f}, largest "
            f"probability error {meta[key]['max_probability_error']:.4f}, accuracy "
            f"{meta[key]['accuracy_quantised']:.4f}"
        )
    if fallback is None:
        meta.pop("quantisation_fallback", None)
        (models_dir / FALLBACK_FILE).unlink(missing_ok=True)

    meta.get("tool_versions", {}).pop("rknn-toolkit2", None)  # recorded below, by its user
    meta[RKNN_SECTION] = {
        "toolkit_version": toolkit,
        "runtime_version": RUNTIME_VERSION,
        "target": TARGET,
        "models": [name for name, *_ in builds],
    }
    files = [models_dir / KERAS_FILE, onnx_path, *(models_dir / b[0] for b in builds)]
    _write_meta(meta, meta_path, files, f"{n_steps}/{n_steps}", log)
    log(
        "; ".join(summary)
        + f"; accuracy float {common['accuracy_float']:.4f} ({common['data']} data); sizes: "
        + ", ".join(f"{k} {v['bytes'] / 1e3:.0f} kB" for k, v in meta["artefacts"].items())
        + f"; {time.perf_counter() - t0:.0f} s"
    )
    return meta


#: TensorFlow's and tf2onnx's own output during the export, kept aside in the model folder.
EXPORT_LOG = "export.log"


def _write_meta(
    meta: dict, meta_path: Path, files: list[Path], step: str, log: Callable[[str], None]
) -> dict:
    """model.json with the conversion's date and every file's hash and size; returns it."""
    log(f"[{step}] {META_FILE}: figures, versions, hashes")
    meta["converted"] = utc_now()  # UTC; the git-derived date of the bundled model goes
    (meta.get("dates_from_git") or {}).pop("converted", None)
    meta["artefacts"] = {p.name: {"sha256": sha256_of(p), "bytes": p.stat().st_size} for p in files}
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def _build_and_simulate(
    onnx_path: Path,
    rknn_path: Path,
    precision: str,
    algorithm: str,
    int16_names: list[str],
    seq: np.ndarray,
    st: np.ndarray,
    calib: np.ndarray,
    verify: np.ndarray,
    rknn_log: Path,
) -> tuple[np.ndarray, dict[str, int]]:
    """Build ``rknn_path`` calibrated on windows ``calib``, then run it in the toolkit's
    simulator on windows ``verify``: (probabilities (n_verify, n_classes), int16 tensors
    per layer)."""
    with tempfile.TemporaryDirectory() as tmp, _output_to(rknn_log):
        lines = []
        for k, i in enumerate(calib):
            s_path, t_path = Path(tmp) / f"seq_{k}.npy", Path(tmp) / f"st_{k}.npy"
            np.save(s_path, seq[i : i + 1])
            np.save(t_path, st[i : i + 1])
            lines.append(f"{s_path} {t_path}")
        listing = Path(tmp) / "dataset.txt"
        listing.write_text("\n".join(lines) + "\n")
        rknn, int16_tensors = _build(
            onnx_path, listing, precision, algorithm, int16_names, Path(tmp)
        )
        _check(rknn.export_rknn(str(rknn_path)), "export_rknn")
    with _output_to(rknn_log):
        _check(rknn.init_runtime(), "init_runtime")
        quantised = np.concatenate(
            [
                np.asarray(rknn.inference(inputs=[seq[i : i + 1], st[i : i + 1]])[0]).reshape(1, -1)
                for i in verify
            ]
        )
        rknn.release()
    return quantised, int16_tensors


def _build(
    onnx_path: Path,
    listing: Path,
    precision: str,
    algorithm: str,
    int16_layers: list[str],
    workdir: Path,
) -> tuple[Any, dict[str, int]]:
    """An RKNN object holding the built model, and the int16 tensors per layer (hybrid).

    Hybrid quantisation writes its step-1 files into the working directory, so it runs
    in ``workdir``."""
    from rknn.api import RKNN

    rknn = RKNN(verbose=False)
    _check(
        rknn.config(
            target_platform=TARGET,
            quantized_algorithm=algorithm,
            quantized_dtype=QUANTIZED_DTYPE[precision],
        ),
        "config",
    )
    _check(
        rknn.load_onnx(
            model=str(onnx_path),
            inputs=["sequence", "statistics"],
            input_size_list=[[1, WINDOW_SAMPLES, len(CHANNELS)], [1, N_STATISTICS]],
        ),
        "load_onnx",
    )
    if precision != "hybrid":
        _check(rknn.build(do_quantization=True, dataset=str(listing)), "build")
        return rknn, {}
    here = Path.cwd()
    os.chdir(workdir)
    try:
        _check(
            rknn.hybrid_quantization_step1(dataset=str(listing), proposal=False),
            "hybrid_quantization_step1",
        )
        rknn.release()
        stem = onnx_path.stem
        cfg = Path(f"{stem}.quantization.cfg")
        text, counts = mark_int16(cfg.read_text(), int16_layers)
        cfg.write_text(text)
        rknn = RKNN(verbose=False)
        _check(
            rknn.hybrid_quantization_step2(
                model_input=f"{stem}.model",
                data_input=f"{stem}.data",
                model_quantization_cfg=str(cfg),
            ),
            "hybrid_quantization_step2",
        )
    finally:
        os.chdir(here)
    return rknn, {name: n for name, n in counts.items() if n}


@contextlib.contextmanager
def _output_to(log_path: Path) -> Iterator[None]:
    """Send file descriptors 1 and 2 to ``log_path`` (rknn-toolkit2 prints progress bars
    and warnings by the thousand; our own progress lines stay on the terminal)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with (
        open(log_path, "a", encoding="utf-8", errors="replace") as log,
        contextlib.redirect_stdout(log),  # Python-level writers (and pytest's capture)
        contextlib.redirect_stderr(log),
    ):
        os.dup2(log.fileno(), 1)  # C-level writers
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def _check(code: int, step: str) -> None:
    if code != 0:
        raise RuntimeError(f"rknn-toolkit2 {step}() failed with code {code}")


def main_args(argv: list[str]) -> int:
    import argparse

    from device.argtypes import existing_dir, positive_int

    parser = argparse.ArgumentParser(
        prog="python -m host convert",
        description="Convert a model folder in place: fusion.keras -> fusion.onnx -> the "
        "quantised NPU models, each verified against the float model; model.json records "
        "the figures and every file's hash.",
    )
    parser.add_argument(
        "model_dir",
        metavar="MODEL_DIR",
        type=existing_dir,
        help="the model folder to convert, e.g. runs/train-YYYYmmdd-HHMMSS (python -m host "
        "train made it); the bundled models/ only with --replace-bundled",
    )
    parser.add_argument(
        "--dataset",
        type=existing_dir,
        default=None,
        help="dataset for calibration and verification (default: the one MODEL_DIR/model.json "
        "records, provenance.dataset; data/cohort if none)",
    )
    parser.add_argument(
        "--precision",
        default=PRECISIONS[0],
        choices=PRECISIONS,
        help="of fusion.rknn; hybrid: int8 with the LSTM and the layers after it in int16 "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--algorithm",
        default=QUANT_ALGORITHM,
        choices=("normal", "mmse", "kl_divergence"),
        help="rknn-toolkit2 calibration of fusion.rknn (default: %(default)s)",
    )
    parser.add_argument(
        "--fallback",
        default=FALLBACK_PRECISION,
        choices=(*PRECISIONS, "none"),
        help=f"precision of {FALLBACK_FILE}, the model the device falls back to "
        f"({FALLBACK_ALGORITHM} calibration); none: no fallback model (default: %(default)s)",
    )
    parser.add_argument(
        "--calibration",
        type=positive_int,
        default=N_CALIBRATION,
        help="training windows to calibrate int8 ranges on (default: %(default)s)",
    )
    parser.add_argument(
        "--onnx-only",
        action="store_true",
        help="export fusion.onnx alone, in seconds: enough for ./dev run --models-dir, not "
        "for the board or ship (default: off, the NPU models too, minutes each)",
    )
    parser.add_argument(
        "--replace-bundled",
        action="store_true",
        help=f"allow MODEL_DIR to be the bundled {BUNDLED_MODELS.name}/ itself (default: "
        "refused: convert a run folder, then python -m host ship it)",
    )
    args = parser.parse_args(argv)
    folder = args.model_dir
    if is_bundled(folder) and not args.replace_bundled:
        raise FolderError(
            f"{folder}: is the bundled model; converting it in place replaces what ./dev run "
            "and deploy.sh use: convert a run folder (python -m host train makes one) and "
            "python -m host ship it, or pass --replace-bundled"
        )
    meta = check_trained(folder)
    dataset = args.dataset
    if dataset is None and not args.onnx_only:
        recorded = (meta.get("provenance") or {}).get("dataset")
        dataset = Path(recorded or "data/cohort")
        if not dataset.is_dir():
            said = f"recorded in {folder / META_FILE} (provenance.dataset)" if recorded else ""
            raise DatasetError(
                dataset,
                f"no such dataset folder{' ' + said if said else ''} in {Path.cwd()}: pass "
                "--dataset DIR, the sessions the model was trained on",
            )
    how = "ONNX only" if args.onnx_only else f"calibrating on {dataset}"
    print(f"converting {folder} in place, {how}", flush=True)
    convert(
        folder,
        dataset,
        precision=args.precision,
        algorithm=args.algorithm,
        fallback=None if args.fallback == "none" else args.fallback,
        n_calibration=args.calibration,
        npu=not args.onnx_only,
        log=lambda s: print(s, flush=True),
    )
    then = (
        f"for the board and ship, the NPU models: ./dev host convert {folder}"
        if args.onnx_only
        else f"and, to make it the bundled model: ./dev host ship {folder}"
    )
    print(f"next: ./dev run --models-dir {folder}   (the main job with this model)\n{then}")
    return 0


if __name__ == "__main__":
    sys.exit(main_args(sys.argv[1:]))
