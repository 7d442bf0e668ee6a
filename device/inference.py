"""The fatigue model on the device, behind one interface.

``predict(sequence, statistics) -> probabilities`` with raw (not normalised)
inputs from :mod:`device.features`; the normalisation stored in ``model.json`` is
applied here, so training and the wearable cannot disagree about it.

Backends: RKNN on the board's NPU (:mod:`device.npu`, through ``librknnmrt.so``)
and ONNX Runtime on a PC (simulator and tests). ``model.json`` holds a SHA-256 of
each artefact; a file that does not match is refused, naming the file.

Plain Python on the board (no numpy there): a window is ``sequence``, 100 rows of the 8
channel values (:data:`device.features.CHANNELS` order), and ``statistics``, 40 numbers;
the probabilities come back as a tuple of floats. Only :class:`OnnxBackend`, which
cannot run on the board anyway, uses numpy (ONNX Runtime needs it).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from device import quant
from device.errors import DeviceError
from device.features import (
    N_STATISTICS,
    SEQUENCE_SHAPE,
    STATISTICS_SHAPE,
    Normaliser,
)
from device.labels import FatigueMapping

ONNX_FILE = "fusion.onnx"
RKNN_FILE = "fusion.rknn"
META_FILE = "model.json"


class ModelError(DeviceError):
    """The model bundle cannot be used; the message names the file and the problem."""


class Backend(Protocol):
    """A model runtime: ``sequence`` is a list of 100 rows of 8 normalised floats,
    ``statistics`` 40 normalised floats; returns one probability per class."""

    def predict(self, sequence, statistics) -> Sequence[float]: ...

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


def _check_window(sequence, statistics) -> tuple[list[list[float]], list[float]]:
    """The window as plain floats: 100 rows of 8, and 40; shapes and finiteness checked.

    Accepts (100, 8) or (1, 100, 8), and (40,) or (1, 40): nested sequences or arrays.
    """
    try:
        flat = quant.flatten(sequence, SEQUENCE_SHAPE, name="sequence")
        stats = quant.flatten(statistics, STATISTICS_SHAPE, name="statistics")
    except ValueError as exc:
        raise ModelError(str(exc)) from None
    width = SEQUENCE_SHAPE[1]
    return [flat[i : i + width] for i in range(0, len(flat), width)], stats


class OnnxBackend:
    """ONNX Runtime, for a PC (the simulator and the tests); never on the board."""

    def __init__(self, path: Path, *, expected_sha256: str | None = None) -> None:
        try:
            # Imported here, not at the top: onnxruntime and numpy (which it needs for its
            # inputs and outputs) exist on a PC only; the board has neither.
            import numpy as np
            import onnxruntime as ort
        except ImportError as exc:
            raise ModelError("onnxruntime is not installed (it is the PC backend)") from exc
        self._np = np
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

    def predict(self, sequence, statistics) -> tuple[float, ...]:
        """Probabilities (tuple of float) for one normalised window (100 × 8, 40)."""
        rows, stats = _check_window(sequence, statistics)
        np = self._np
        feeds = {
            "sequence": np.asarray(rows, dtype=np.float32).reshape(1, *SEQUENCE_SHAPE),
            "statistics": np.asarray(stats, dtype=np.float32).reshape(1, N_STATISTICS),
        }
        (probs,) = self._session.run(None, feeds)
        return tuple(float(p) for p in np.asarray(probs).reshape(-1))

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

    def predict(self, sequence, statistics) -> tuple[float, ...]:
        """Probabilities of the five levels for one raw window (100 × 8, 40).

        Args:
            sequence: 100 rows (samples, time order) of the 8 channel values in
                :data:`device.features.CHANNELS` order: a list of rows, a (1, 100, 8)
                nesting of it, or an array; not modified.
            statistics: The 40 window statistics (or a (1, 40) nesting).

        Returns:
            tuple of float, one probability per class (:attr:`classes` order).

        Raises:
            ModelError: A shape differs, a value is NaN or ±inf, or the backend
                returned something other than one finite number per class.
        """
        rows, stats = _check_window(sequence, statistics)
        seq_n, st_n = self.normaliser.apply(rows, stats)
        raw = self.backend.predict(seq_n, st_n)
        try:
            probs = tuple(float(p) for p in raw)
        except (TypeError, ValueError):
            probs = None
        if probs is None or len(probs) != len(self.classes) or not all(map(math.isfinite, probs)):
            raise ModelError(f"{self.backend_name} backend returned {raw!r}")
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
