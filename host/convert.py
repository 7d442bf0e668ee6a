"""Keras → ONNX → RKNN (int8, rv1103), verified in the same run.

    python -m host convert [--models-dir models] [--dataset data/cohort]

1. ``fusion.keras`` → ``fusion.onnx`` with tf2onnx, static shapes (1, 100, 8) and
   (1, 40) (the LSTM is unrolled, so the graph has no Loop: ENVIRONMENT.md).
2. ``fusion.onnx`` → ``fusion.rknn`` for target ``rv1103``, int8, calibrated on a
   representative sample of real training windows (never random data).
3. In the same RKNN object, right after ``build()`` (the only time rknn-toolkit2 can
   simulate a model), int8 is compared with the float ONNX model on windows of the
   subjects the final model held out: top-1 agreement, largest probability error,
   accuracy of each. The figures and each artefact's SHA-256 and size go into
   ``model.json``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from device.features import CHANNELS, N_STATISTICS, WINDOW_SAMPLES, Normaliser
from device.inference import META_FILE, ONNX_FILE, RKNN_FILE, sha256_of
from host.train import load_windows, validation_split

KERAS_FILE = "fusion.keras"
TARGET = "rv1103"
ONNX_OPSET = 13
#: Calibration windows for int8 quantisation, drawn from the training windows.
N_CALIBRATION = 1000
#: rknn-toolkit2's quantisation algorithm ("normal", "mmse", "kl_divergence").
QUANT_ALGORITHM = "mmse"
#: Held-out windows for the int8-vs-float check (all of them if fewer).
N_VERIFY = 1000


def export_onnx(keras_path: Path, onnx_path: Path) -> None:
    """The Keras model as a static-shape ONNX graph with inputs sequence/statistics."""
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


def _onnx_predict(onnx_path: Path, seq: np.ndarray, st: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    return np.concatenate(
        [
            session.run(None, {"sequence": seq[i : i + 1], "statistics": st[i : i + 1]})[0]
            for i in range(len(seq))
        ]
    )


def convert(
    models_dir: Path,
    dataset: Path,
    *,
    algorithm: str = QUANT_ALGORITHM,
    n_calibration: int = N_CALIBRATION,
    log: Callable[[str], None] = print,
) -> dict:
    """Run the whole conversion and verification; returns the updated model.json."""
    t0 = time.perf_counter()
    meta_path = models_dir / META_FILE
    meta = json.loads(meta_path.read_text())
    norm = Normaliser.from_dict(meta["normalisation"])
    onnx_path, rknn_path = models_dir / ONNX_FILE, models_dir / RKNN_FILE

    log(f"[1/4] {KERAS_FILE} → {ONNX_FILE} (tf2onnx, opset {ONNX_OPSET})")
    export_onnx(models_dir / KERAS_FILE, onnx_path)

    log(f"[2/4] windows of {dataset} for calibration and verification")
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
    seq, st = norm.apply(w.sequences, w.stats)

    log(
        f"[3/4] {ONNX_FILE} → {RKNN_FILE}: int8 for {TARGET}, {algorithm} calibration on "
        f"{len(calib)} training windows (rknn-toolkit2; a few minutes)"
    )
    rknn_log = models_dir / "rknn_build.log"
    rknn_log.unlink(missing_ok=True)
    log(f"      (rknn-toolkit2's own output goes to {rknn_log})")
    with _output_to(rknn_log):
        from rknn.api import RKNN

        rknn = RKNN(verbose=False)
    with tempfile.TemporaryDirectory() as tmp, _output_to(rknn_log):
        lines = []
        for k, i in enumerate(calib):
            s_path, t_path = Path(tmp) / f"seq_{k}.npy", Path(tmp) / f"st_{k}.npy"
            np.save(s_path, seq[i : i + 1])
            np.save(t_path, st[i : i + 1])
            lines.append(f"{s_path} {t_path}")
        listing = Path(tmp) / "dataset.txt"
        listing.write_text("\n".join(lines) + "\n")
        _check(rknn.config(target_platform=TARGET, quantized_algorithm=algorithm), "config")
        _check(
            rknn.load_onnx(
                model=str(onnx_path),
                inputs=["sequence", "statistics"],
                input_size_list=[[1, WINDOW_SAMPLES, len(CHANNELS)], [1, N_STATISTICS]],
            ),
            "load_onnx",
        )
        _check(rknn.build(do_quantization=True, dataset=str(listing)), "build")
        _check(rknn.export_rknn(str(rknn_path)), "export_rknn")

    log(
        f"[4/4] int8 (rknn-toolkit2 simulator) against float (ONNX Runtime) on {len(verify)} "
        f"windows of {len(set(w.groups[held_idx]))} held-out subjects"
    )
    with _output_to(rknn_log):
        _check(rknn.init_runtime(), "init_runtime")
        int8 = np.concatenate(
            [
                np.asarray(rknn.inference(inputs=[seq[i : i + 1], st[i : i + 1]])[0]).reshape(1, -1)
                for i in verify
            ]
        )
        rknn.release()
    fp32 = _onnx_predict(onnx_path, seq[verify], st[verify])
    truth = w.labels[verify]
    figures = {
        "windows": int(len(verify)),
        "held_out_subjects": sorted(set(w.groups[held_idx].tolist())),
        "top1_agreement": float(np.mean(int8.argmax(1) == fp32.argmax(1))),
        "max_probability_error": float(np.abs(int8 - fp32).max()),
        "accuracy_float": float(np.mean(fp32.argmax(1) == truth)),
        "accuracy_int8": float(np.mean(int8.argmax(1) == truth)),
        "calibration_windows": int(len(calib)),
        "algorithm": algorithm,
        "target": TARGET,
        "data": ", ".join(sorted(data.provenance)),
    }
    meta["quantisation"] = figures
    meta["artefacts"] = {
        p.name: {"sha256": sha256_of(p), "bytes": p.stat().st_size}
        for p in (models_dir / KERAS_FILE, onnx_path, rknn_path)
    }
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    log(
        f"top-1 agreement {figures['top1_agreement']:.4f}, largest probability error "
        f"{figures['max_probability_error']:.4f}, accuracy float {figures['accuracy_float']:.4f} "
        f"/ int8 {figures['accuracy_int8']:.4f} ({figures['data']} data); sizes: "
        + ", ".join(f"{k} {v['bytes'] / 1e3:.0f} kB" for k, v in meta["artefacts"].items())
        + f"; {time.perf_counter() - t0:.0f} s"
    )
    return meta


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

    parser = argparse.ArgumentParser(prog="python -m host convert")
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    parser.add_argument("--dataset", type=Path, default=Path("data/cohort"))
    parser.add_argument(
        "--algorithm", default=QUANT_ALGORITHM, choices=("normal", "mmse", "kl_divergence")
    )
    parser.add_argument(
        "--calibration",
        type=int,
        default=N_CALIBRATION,
        help="training windows to calibrate int8 ranges on",
    )
    args = parser.parse_args(argv)
    convert(
        args.models_dir,
        args.dataset,
        algorithm=args.algorithm,
        n_calibration=args.calibration,
        log=lambda s: print(s, flush=True),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main_args(sys.argv[1:]))
