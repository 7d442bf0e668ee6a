"""The fatigue model on the device, behind one interface.

``predict(sequence, statistics) -> probabilities`` with raw (not normalised)
inputs from :mod:`device.features`; the normalisation stored in ``model.json`` is
applied here, so training and the wearable cannot disagree about it.

Backends: RKNN on the board's NPU (:mod:`device.npu`, through ``librknnmrt.so``)
and ONNX Runtime on a PC (simulator and tests). ``model.json`` holds a SHA-256 of
each artefact; a file that does not match is refused, naming the file.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from device.errors import DeviceError
from device.features import CHANNELS, N_STATISTICS, WINDOW_SAMPLES, Normaliser
from device.labels import FatigueMapping

ONNX_FILE = "fusion.onnx"
RKNN_FILE = "fusion.rknn"
META_FILE = "model.json"


class ModelError(DeviceError):
    """The model bundle cannot be used; the message names the file and the problem."""


class Backend(Protocol):
    def predict(self, sequence: np.ndarray, statistics: np.ndarray) -> np.ndarray: ...

    def close(self) -> None: ...


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def check_artefact(path: Path, meta: dict, *, verify: bool = True) -> str:
    """The artefact's expected hash from model.json, after checking the file matches it
    (``verify=False``: the backend hashes the bytes it loads itself, as RKNN does)."""
    if not path.is_file():
        raise ModelError(f"{path}: model file missing")
    expected = meta.get("artefacts", {}).get(path.name, {}).get("sha256")
    if not expected:
        raise ModelError(f"{path.parent / META_FILE}: no sha256 recorded for {path.name}")
    if not verify:
        return expected
    actual = sha256_of(path)
    if actual != expected:
        raise ModelError(
            f"{path}: corrupt or replaced: sha256 {actual[:16]}… differs from model.json's "
            f"{expected[:16]}…"
        )
    return expected


def _check_shapes(sequence: np.ndarray, statistics: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    seq = np.asarray(sequence, dtype=np.float32)
    st = np.asarray(statistics, dtype=np.float32)
    if seq.shape not in ((WINDOW_SAMPLES, len(CHANNELS)), (1, WINDOW_SAMPLES, len(CHANNELS))):
        raise ModelError(
            f"sequence must have shape ({WINDOW_SAMPLES}, {len(CHANNELS)}), got {seq.shape}"
        )
    if st.shape not in ((N_STATISTICS,), (1, N_STATISTICS)):
        raise ModelError(f"statistics must have shape ({N_STATISTICS},), got {st.shape}")
    return seq.reshape(1, WINDOW_SAMPLES, len(CHANNELS)), st.reshape(1, N_STATISTICS)


class OnnxBackend:
    """ONNX Runtime, for a PC (the simulator and the tests)."""

    def __init__(self, path: Path, *, expected_sha256: str | None = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise ModelError("onnxruntime is not installed (it is the PC backend)") from exc
        if expected_sha256 is not None and sha256_of(path) != expected_sha256:
            raise ModelError(f"{path}: sha256 differs from model.json")
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # one window a second: latency, not throughput
        try:
            self._session = ort.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
            raise ModelError(f"{path}: not a loadable ONNX model: {exc}") from exc
        self._names = [i.name for i in self._session.get_inputs()]
        if sorted(self._names) != ["sequence", "statistics"]:
            raise ModelError(f"{path}: inputs {self._names}, expected sequence and statistics")

    def predict(self, sequence: np.ndarray, statistics: np.ndarray) -> np.ndarray:
        seq, st = _check_shapes(sequence, statistics)
        (probs,) = self._session.run(None, {"sequence": seq, "statistics": st})
        return np.asarray(probs, dtype=float).reshape(-1)

    def close(self) -> None:
        self._session = None


def _open_rknn(path: Path, expected_sha256: str, library: str) -> Backend:
    from device.npu import RknnModel

    return RknnModel(path, library=library, expected_sha256=expected_sha256)


@dataclass
class FatigueModel:
    """The loaded bundle: backend, normalisation, class names and Borg mapping."""

    backend: Backend
    backend_name: str
    normaliser: Normaliser
    classes: tuple[str, ...]
    mapping: FatigueMapping
    meta: dict

    def predict(self, sequence: np.ndarray, statistics: np.ndarray) -> np.ndarray:
        """Probabilities of the five levels for one raw window (100 × 8, 40)."""
        seq, st = _check_shapes(sequence, statistics)
        seq_n, st_n = self.normaliser.apply(seq[0], st[0])  # one window: rows, values
        probs = self.backend.predict(seq_n, st_n)
        if probs.shape != (len(self.classes),) or not np.all(np.isfinite(probs)):
            raise ModelError(f"{self.backend_name} backend returned {probs!r}")
        return probs

    def close(self) -> None:
        self.backend.close()


def load_model(
    models_dir: Path | str, *, backend: str = "auto", library: str = "librknnmrt.so"
) -> FatigueModel:
    """Load ``model.json`` and the artefact for ``backend`` ("auto", "rknn" or "onnx").

    "auto" takes the NPU when its runtime library loads, else ONNX Runtime.
    """
    models_dir = Path(models_dir)
    meta_path = models_dir / META_FILE
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{meta_path}: not found (is the model bundle deployed?)") from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{meta_path}: unreadable: {exc}") from exc
    try:
        normaliser = Normaliser.from_dict(meta["normalisation"])
        mapping = FatigueMapping.from_dict(meta["borg_mapping"])
        classes = tuple(meta["classes"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{meta_path}: incomplete or invalid: {exc}") from exc
    if backend not in ("auto", "rknn", "onnx"):
        raise ModelError(f"backend must be auto, rknn or onnx, got {backend!r}")

    errors = []
    if backend in ("auto", "rknn"):
        path = models_dir / RKNN_FILE
        try:
            impl = _open_rknn(path, check_artefact(path, meta, verify=False), library)
            return FatigueModel(impl, "rknn", normaliser, classes, mapping, meta)
        except DeviceError as exc:
            if backend == "rknn":
                raise
            errors.append(str(exc))
    path = models_dir / ONNX_FILE
    try:
        check_artefact(path, meta)  # hashed once, here
        impl = OnnxBackend(path)
    except ModelError as exc:
        raise ModelError("; ".join([*errors, str(exc)])) from exc
    return FatigueModel(impl, "onnx", normaliser, classes, mapping, meta)
