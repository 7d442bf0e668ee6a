"""The stand-in NPU: a ``librknnmrt.so`` built from tests/rknn_standin/rknn_standin.c and
a model bundle it runs (not a trained model), for tests and benchmarks that need the
device's RKNN path without a board. One place for the blob's format, the bundle's
``model.json`` and the build command.

The bundle has both NPU models, as a converted one does: ``fusion.rknn`` (marked as
having int16 layers, like the hybrid model) and ``fusion_int8.rknn``, made by a pretend
rknn-toolkit2 :data:`STANDIN_VERSION` for runtime :data:`STANDIN_VERSION`. The runtime
reports :data:`STANDIN_VERSION` unless built with another ``version``; built with
``no_int16`` it refuses the hybrid model, as an RV1103 runtime whose LSTM is int8 only
might."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np

from device.features import CHANNELS, N_STATISTICS, SEQUENCE_SHAPE
from device.inference import RKNN_FILE, RKNN_INT8_FILE, sha256_hex
from device.labels import DEFAULT_MAPPING

T, C = SEQUENCE_SHAPE  # samples, channels of a window

STANDIN_SOURCE = Path(__file__).parent / "rknn_standin" / "rknn_standin.c"
#: The stand-in runtime's default version (its STANDIN_VERSION), and the toolkit and
#: runtime versions the stand-in bundle records: the RV1103 runtime the project targets.
STANDIN_VERSION = "2.3.2"
#: Header flag: the model has int16 layers (rknn_standin.c).
FLAG_INT16 = 1

# rknn_tensor_format (rknn_api.h), for the stand-in model.
NHWC, UNDEFINED = 1, 3

#: z-scores that leave raw windows as they are (what deploy tests need).
IDENTITY_NORMALISATION = {
    "seq_mean": [0.0] * len(CHANNELS),
    "seq_std": [1.0] * len(CHANNELS),
    "stats_mean": [0.0] * N_STATISTICS,
    "stats_std": [1.0] * N_STATISTICS,
}
#: Scales of the order of the signals (ΔOD ~0.05, µM ~5, SmO2 ~60 ± 10 %), so that the
#: stand-in's levels move with the subject, as a trained model's do.
SIGNAL_NORMALISATION = {  # the context channels scaled as the channels they average
    "seq_mean": [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 60.0, 0.0, 0.0, 0.0, 0.0, 60.0],
    "seq_std": [0.05, 0.05, 0.05, 5.0, 5.0, 5.0, 10.0, 5.0, 5.0, 5.0, 5.0, 10.0],
    "stats_mean": [0.0] * N_STATISTICS,
    "stats_std": [5.0] * N_STATISTICS,
}


def _tensor(name: str, fmt: int, dims, zp: int, scale: float, w_stride: int, size: int):
    dims4 = [*dims, *[0] * (4 - len(dims))]
    return struct.pack(
        "<32sII4IIIif", name.encode(), fmt, len(dims), *dims4, w_stride, size, zp, scale
    )


def toolkit_field(version: str) -> int:
    """The blob header's toolkit field for a version such as "2.3.2": major << 8 | minor."""
    major, minor = (int(part) for part in version.split(".")[:2])
    return major << 8 | minor


def standin_model_blob(seed: int = 7, *, toolkit: str | None = None, flags: int = 0) -> bytes:
    """A stand-in "model": int8 sequence (1,1,100,12) NHWC + statistics (1,60) → 5 outputs,
    made by the pretend ``toolkit`` version (None: any runtime takes it), with header
    ``flags`` (:data:`FLAG_INT16`)."""
    inputs = [
        _tensor("sequence", NHWC, (1, 1, T, C), -3, 0.05, 112, 112 * C),
        _tensor("statistics", UNDEFINED, (1, N_STATISTICS), 5, 0.1, 0, N_STATISTICS + 4),
    ]
    output = _tensor("probabilities", UNDEFINED, (1, 5), -128, 1 / 256, 0, 16)
    n_in, n_out, divisor = T * C + N_STATISTICS, 5, 211
    rng = np.random.default_rng(seed)
    weight = rng.integers(-20, 21, size=(n_out, n_in)).astype(np.int8)
    bias = 128 * divisor + rng.integers(-3000, 3001, size=n_out)  # around the output's zp
    made_by = toolkit_field(toolkit) if toolkit else 0
    head = b"RKSTANDN" + struct.pack("<IIIHH", 1, len(inputs), 1, made_by, flags)
    tail = struct.pack(f"<i{n_out}i", divisor, *bias.tolist())
    return head + b"".join([*inputs, output]) + tail + weight.tobytes()


def write_standin_bundle(
    folder: Path,
    *,
    normalisation: dict = IDENTITY_NORMALISATION,
    used_by: str = "tests",
    toolkit: str = STANDIN_VERSION,
    runtime: str = STANDIN_VERSION,
) -> Path:
    """``folder`` (made if needed) with fusion.rknn and fusion_int8.rknn (stand-in blobs,
    the same function; the first marked int16) and a model.json that fits them, recording
    ``toolkit`` as the version that made them and ``runtime`` as the one they are for;
    returns ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    blobs = {
        RKNN_FILE: standin_model_blob(toolkit=toolkit, flags=FLAG_INT16),
        RKNN_INT8_FILE: standin_model_blob(toolkit=toolkit),
    }
    for name, blob in blobs.items():
        (folder / name).write_bytes(blob)
    meta = {
        "provenance": f"stand-in for {used_by} (not a trained model)",
        "inputs": {"sequence": {"channels": list(CHANNELS)}},
        "classes": list(DEFAULT_MAPPING.names),
        "borg_mapping": DEFAULT_MAPPING.to_dict(),
        "normalisation": normalisation,
        "rknn": {
            "toolkit_version": toolkit,
            "runtime_version": runtime,
            "target": "rv1103",
            "models": list(blobs),
        },
        "artefacts": {name: {"sha256": sha256_hex(blob)} for name, blob in blobs.items()},
    }
    (folder / "model.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    return folder


class CompilerMissingError(RuntimeError):
    """The C compiler for the stand-in runtime is not installed."""


def build_standin_runtime(
    out: Path,
    compiler: str = "gcc",
    *,
    version: str = STANDIN_VERSION,
    no_int16: bool = False,
) -> Path:
    """Build the stand-in ``librknnmrt.so`` with ``compiler`` (e.g. "gcc" for this machine,
    "arm-linux-gnueabihf-gcc" for the board) at ``out``; returns ``out``.

    Args:
        version: The runtime version it reports and carries ("librknnmrt version: ...").
        no_int16: Refuse models with int16 layers at ``rknn_init``.

    Raises:
        CompilerMissingError: ``compiler`` is not installed (./dev test installs it).
    """
    cc = shutil.which(compiler)
    if cc is None:
        raise CompilerMissingError(f"{compiler} is not installed (./dev test installs it)")
    out.parent.mkdir(parents=True, exist_ok=True)
    defines = [f'-DSTANDIN_VERSION="{version}"'] + (["-DSTANDIN_NO_INT16"] if no_int16 else [])
    command = [cc, "-std=c11", "-O1", "-shared", "-fPIC", *defines]
    command += ["-o", str(out), str(STANDIN_SOURCE)]
    subprocess.run(command, check=True, capture_output=True, text=True, timeout=120)
    return out
