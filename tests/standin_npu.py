"""The stand-in NPU: a ``librknnmrt.so`` built from tests/rknn_standin/rknn_standin.c and
a model bundle it runs (not a trained model), for tests and benchmarks that need the
device's RKNN path without a board. One place for the blob's format, the bundle's
``model.json`` and the build command."""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np

from device.labels import DEFAULT_MAPPING

STANDIN_SOURCE = Path(__file__).parent / "rknn_standin" / "rknn_standin.c"

# rknn_tensor_format (rknn_api.h), for the stand-in model.
NHWC, UNDEFINED = 1, 3

#: z-scores that leave raw windows as they are (what deploy tests need).
IDENTITY_NORMALISATION = {
    "seq_mean": [0.0] * 8,
    "seq_std": [1.0] * 8,
    "stats_mean": [0.0] * 40,
    "stats_std": [1.0] * 40,
}
#: Scales of the order of the signals (ΔOD ~0.05, µM ~5, SmO2 ~60 ± 10 %), so that the
#: stand-in's levels move with the subject, as a trained model's do.
SIGNAL_NORMALISATION = {
    "seq_mean": [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 60.0, 0.0],
    "seq_std": [0.05, 0.05, 0.05, 5.0, 5.0, 5.0, 10.0, 5.0],
    "stats_mean": [0.0] * 40,
    "stats_std": [5.0] * 40,
}


def _tensor(name: str, fmt: int, dims, zp: int, scale: float, w_stride: int, size: int):
    dims4 = [*dims, *[0] * (4 - len(dims))]
    return struct.pack(
        "<32sII4IIIif", name.encode(), fmt, len(dims), *dims4, w_stride, size, zp, scale
    )


def standin_model_blob(seed: int = 7) -> bytes:
    """A stand-in "model": int8 sequence (1,1,100,8) NHWC + statistics (1,40) → 5 outputs."""
    inputs = [
        _tensor("sequence", NHWC, (1, 1, 100, 8), -3, 0.05, 112, 112 * 8),
        _tensor("statistics", UNDEFINED, (1, 40), 5, 0.1, 0, 48),
    ]
    output = _tensor("probabilities", UNDEFINED, (1, 5), -128, 1 / 256, 0, 16)
    n_in, n_out, divisor = 100 * 8 + 40, 5, 211
    rng = np.random.default_rng(seed)
    weight = rng.integers(-20, 21, size=(n_out, n_in)).astype(np.int8)
    bias = 128 * divisor + rng.integers(-3000, 3001, size=n_out)  # around the output's zp
    head = b"RKSTANDN" + struct.pack("<IIII", 1, len(inputs), 1, 0)
    tail = struct.pack(f"<i{n_out}i", divisor, *bias.tolist())
    return head + b"".join([*inputs, output]) + tail + weight.tobytes()


def write_standin_bundle(
    folder: Path, *, normalisation: dict = IDENTITY_NORMALISATION, used_by: str = "tests"
) -> Path:
    """``folder`` (made if needed) with fusion.rknn (the stand-in blob) and a model.json
    that fits it; returns ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    blob = standin_model_blob()
    (folder / "fusion.rknn").write_bytes(blob)
    meta = {
        "provenance": f"stand-in for {used_by} (not a trained model)",
        "classes": list(DEFAULT_MAPPING.names),
        "borg_mapping": DEFAULT_MAPPING.to_dict(),
        "normalisation": normalisation,
        "artefacts": {"fusion.rknn": {"sha256": hashlib.sha256(blob).hexdigest()}},
    }
    (folder / "model.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    return folder


class CompilerMissingError(RuntimeError):
    """The C compiler for the stand-in runtime is not installed."""


def build_standin_runtime(out: Path, compiler: str = "gcc") -> Path:
    """Build the stand-in ``librknnmrt.so`` with ``compiler`` (e.g. "gcc" for this machine,
    "arm-linux-gnueabihf-gcc" for the board) at ``out``; returns ``out``.

    Raises:
        CompilerMissingError: ``compiler`` is not installed (./dev test installs it).
    """
    cc = shutil.which(compiler)
    if cc is None:
        raise CompilerMissingError(f"{compiler} is not installed (./dev test installs it)")
    out.parent.mkdir(parents=True, exist_ok=True)
    command = [cc, "-std=c11", "-O1", "-shared", "-fPIC", "-o", str(out), str(STANDIN_SOURCE)]
    subprocess.run(command, check=True, capture_output=True, text=True, timeout=120)
    return out
