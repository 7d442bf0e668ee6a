"""The fatigue model on the device, behind one interface.

``predict(sequence, statistics) -> probabilities`` with raw (not normalised)
inputs from :mod:`device.features`; the normalisation stored in ``model.json`` is
applied here, so training and the wearable cannot disagree about it.

Backends: RKNN on the board's NPU (:mod:`device.npu`, through ``librknnmrt.so``)
and ONNX Runtime on a PC (simulator and tests). ``model.json`` holds a SHA-256 of
each artefact; a file that does not match is refused, naming the file.

The NPU models: ``model.json``'s ``"rknn"`` section (written by ``host/convert.py``)
lists the ``.rknn`` files in the order start-up tries them (the hybrid
``fusion.rknn``, then the all-int8 ``fusion_int8.rknn``), the rknn-toolkit2 version
that made them and the ``librknnmrt.so`` version they are made for. A runtime of
another major.minor is refused with one line saying what to put on the board
(:mod:`device.npu`); a model the runtime will not initialise gives way to the next
one, with one note in the log. A bundle without the section (older ones, stand-ins)
runs ``fusion.rknn`` with no version check.

Plain Python on the board (no numpy there): a window is ``sequence``, 100 rows of the 12
channel values (:data:`device.features.CHANNELS` order), and ``statistics``, 60 numbers;
the probabilities come back as a tuple of floats. Only :class:`OnnxBackend`, which
cannot run on the board anyway, uses numpy (ONNX Runtime needs it).
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

try:
    # CPython's own SHA-256, built into Debian's python3.11 (sys.builtin_module_names),
    # so the one hash at start-up does not map OpenSSL's libcrypto, as hashlib does
    # (+2.3 MB on the emulated board). Buildroot's python3 builds it as an extension
    # module (lib-dynload/_sha256*.so): still no OpenSSL. CPython 3.12 renamed it _sha2.
    from _sha256 import sha256 as _new_sha256
except ImportError:  # pragma: no cover - other Pythons
    try:
        from _sha2 import sha256 as _new_sha256
    except ImportError:
        from hashlib import sha256 as _new_sha256

from device import quant
from device.errors import ConfigError, DeviceError
from device.features import (
    CHANNELS,
    MODEL_RATE_HZ,
    N_STATISTICS,
    SAMPLE_CHANNELS,
    SEQUENCE_SHAPE,
    STATISTICS_SHAPE,
    Normaliser,
)
from device.labels import FatigueMapping

ONNX_FILE = "fusion.onnx"
#: The primary NPU model (hybrid: int8, the LSTM onward int16).
RKNN_FILE = "fusion.rknn"
#: The all-int8 NPU model, tried when the primary does not initialise.
RKNN_INT8_FILE = "fusion_int8.rknn"
META_FILE = "model.json"
T = TypeVar("T")
#: The command that makes a folder's ONNX and NPU models and records their hashes.
CONVERT_HINT = "./dev host convert {folder}"
#: model.json's section on the NPU models (module docstring) and its keys.
RKNN_SECTION = "rknn"


class ModelError(DeviceError):
    """The model bundle cannot be used; the message names the file and the problem."""


class ModelFileError(ModelError):
    """A model file (or its metadata) is missing, unreadable or not the expected one."""


class ModelHashError(ModelFileError):
    """A model file's SHA-256 differs from the expected one (model.json)."""


class Backend(Protocol):
    """A model runtime: ``sequence`` is a list of 100 rows of 12 normalised floats,
    ``statistics`` 60 normalised floats; returns one probability per class."""

    def predict(self, sequence, statistics) -> Sequence[float]: ...

    def close(self) -> None: ...


def sha256_hex(data: bytes) -> str:
    """The SHA-256 of ``data`` as 64 lowercase hexadecimal digits (no OpenSSL: see the
    import above)."""
    return _new_sha256(data).hexdigest()


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file's content, read in 64 KiB blocks."""
    digest = _new_sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def _note(message: str) -> None:
    print(f"note: {message}", file=sys.stderr, flush=True)


# -- model files --------------------------------------------------------------------


def read_model(path: Path | str, expected_sha256: str | None = None) -> bytes:
    """Read a model file, checking its SHA-256 if one is expected.

    Raises:
        ModelFileError: If it is missing, unreadable or empty.
        ModelHashError: If its hash differs from ``expected_sha256``.
        ConfigError: If ``expected_sha256`` is not 64 hexadecimal digits.
    """
    if expected_sha256 is not None:
        expected_sha256 = _check_sha256(expected_sha256, "expected_sha256")
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise ModelFileError(f"model file {path} not found") from None
    except OSError as exc:
        raise ModelFileError(f"cannot read model file {path}: {exc.strerror or exc}") from exc
    if not data:
        raise ModelFileError(f"model file {path} is empty")
    if expected_sha256 is not None:
        actual = sha256_hex(data)
        if actual != expected_sha256:
            raise ModelHashError(
                f"model file {path} is corrupt or not the model its metadata describes: "
                f"SHA-256 {actual}, expected {expected_sha256}"
            )
    return data


def _check_sha256(value: str, what: str) -> str:
    text = str(value).strip().lower()
    if len(text) != 64 or any(ch not in "0123456789abcdef" for ch in text):
        raise ConfigError(f"{what} must be 64 hexadecimal digits (a SHA-256), got {value!r}")
    return text


def sha256_from_metadata(metadata_path: Path | str, artefact: str = RKNN_FILE) -> str:
    """The SHA-256 that ``model.json`` records for an artefact.

    Reads ``metadata["artefacts"][artefact]``, either the hex digest itself or an object
    with a ``"sha256"`` key.

    Raises:
        ModelFileError: If the file is missing or not JSON, or names no hash for it.
    """
    try:
        meta = json.loads(Path(metadata_path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelFileError(f"model metadata {metadata_path} not found") from None
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"cannot read model metadata {metadata_path}: {exc}") from exc
    entry = recorded_sha256(meta if isinstance(meta, dict) else {}, artefact)
    if entry is None:
        raise ModelFileError(f"model metadata {metadata_path} records no SHA-256 for {artefact}")
    try:
        return _check_sha256(entry, f"{metadata_path}: artefacts.{artefact}.sha256")
    except ConfigError as exc:
        raise ModelFileError(str(exc)) from None


def recorded_sha256(meta: dict, artefact: str) -> str | None:
    """``meta["artefacts"][artefact]``: the hex digest itself or an object with a
    ``"sha256"`` key (both forms are written); None if there is none of either form."""
    entries = meta.get("artefacts")
    entry = entries.get(artefact) if isinstance(entries, dict) else None
    if isinstance(entry, dict):
        entry = entry.get("sha256")
    return entry if isinstance(entry, str) and entry else None


def check_artefact(path: Path, meta: dict, *, verify: bool = True) -> str:
    """The artefact's expected hash from model.json, after checking the file matches it
    (``verify=False``: the backend hashes the bytes it loads itself, as RKNN does)."""
    if not path.is_file():
        raise ModelError(f"{path}: model file missing")
    recorded = recorded_sha256(meta, path.name)
    if recorded is None:
        raise ModelError(
            f"{path.parent / META_FILE}: no sha256 recorded for {path.name} (artefacts must "
            'map each file name to {"sha256": HEX} or to HEX): convert the folder again: '
            + CONVERT_HINT.format(folder=path.parent)
        )
    try:
        expected = _check_sha256(recorded, f"{path.parent / META_FILE}: artefacts.{path.name}")
    except ConfigError as exc:
        raise ModelError(str(exc)) from None
    if not verify:
        return expected
    actual = sha256_of(path)
    if actual != expected:
        raise ModelError(
            f"{path}: corrupt or replaced: sha256 {actual[:16]}… differs from model.json's "
            f"{expected[:16]}…: copy the whole model folder again, or convert it again: "
            + CONVERT_HINT.format(folder=path.parent)
        )
    return expected


def _check_window(sequence, statistics) -> tuple[list[list[float]], list[float]]:
    """The window as plain floats: 100 rows of 12, and 60; shapes and finiteness checked.

    Accepts (100, 12) or (1, 100, 12), and (60,) or (1, 60): nested sequences or arrays.
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

    def __init__(
        self, path: Path, *, expected_sha256: str | None = None, n_classes: int | None = None
    ) -> None:
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
        # The shapes the device's features have, and one output per class of model.json,
        # checked now rather than at the first prediction (the batch axis may be symbolic).
        expected = {"sequence": SEQUENCE_SHAPE, "statistics": STATISTICS_SHAPE}
        for tensor in self._session.get_inputs():
            if tuple(tensor.shape[1:]) != expected[tensor.name]:
                raise ModelError(
                    f"{path}: input {tensor.name} has shape {tensor.shape}; the device's "
                    f"features give (batch, {', '.join(map(str, expected[tensor.name]))})"
                )
        outputs = self._session.get_outputs()
        size = outputs[0].shape[-1] if len(outputs) == 1 and outputs[0].shape else None
        if n_classes is not None and size != n_classes:
            raise ModelError(
                f"{path}: outputs {size} class probabilities, but model.json lists {n_classes} "
                "classes: the model and its metadata do not belong together"
            )

    def predict(self, sequence, statistics) -> tuple[float, ...]:
        """Probabilities (tuple of float) for one normalised window (100 × 12, 60)."""
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


def rknn_models(meta: dict) -> list[str]:
    """The ``.rknn`` files of a bundle in the order start-up tries them."""
    section = meta.get(RKNN_SECTION)
    files = section.get("models") if isinstance(section, dict) else None
    if not files:
        return [RKNN_FILE]
    if not isinstance(files, list) or not all(isinstance(f, str) and f for f in files):
        raise ModelError(f"{META_FILE}: {RKNN_SECTION}.models must be a list of file names")
    return files


def _open_rknn(
    models_dir: Path, meta: dict, library: str, note: Callable[[str], None], n_classes: int
) -> tuple[Backend, str]:
    """The first of the bundle's NPU models that the runtime initialises, and its file.

    A runtime of another version than the models are made for (found by the version
    query, or by ``rknn_init`` refusing the model while the runtime's file names another
    version), one that cannot be loaded, and a missing or altered model file end the
    search at once: every model of the bundle was made by the same toolkit and deployed
    together. A model that does not initialise otherwise (``rknn_init`` or the set-up
    after it fails) gives way to the next, and ``note`` says so once.

    Raises:
        ModelError: A model file is missing or model.json records no hash for it.
        NpuError: See :class:`device.npu.RknnModel`; when no model initialises, the
            first model's error.
    """
    from device.npu import (
        ModelHashError,
        ModelRefusedError,
        NpuError,
        RknnModel,
        RuntimeMismatchError,
    )
    from device.rknn_api import RuntimeLibraryError

    section = meta.get(RKNN_SECTION) if isinstance(meta.get(RKNN_SECTION), dict) else {}
    for key in ("runtime_version", "toolkit_version"):
        value = section.get(key)
        if value is not None and not isinstance(value, str):
            raise ModelError(
                f"{models_dir / META_FILE}: {RKNN_SECTION}.{key} must be a version string "
                f'such as "2.3.2", got {value!r}'
            )
    files = rknn_models(meta)
    first: NpuError | None = None
    for name in files:
        path = models_dir / name
        expected = check_artefact(path, meta, verify=False)  # RknnModel hashes its bytes
        try:
            model = RknnModel(
                path,
                library=library,
                expected_sha256=expected,
                made_for=section.get("runtime_version"),
                toolkit=section.get("toolkit_version"),
                n_classes=n_classes,
            )
        except (RuntimeLibraryError, RuntimeMismatchError, ModelHashError):
            raise
        except ModelRefusedError as exc:
            if exc.mismatch:
                raise
            first = first or exc
            continue
        except NpuError as exc:
            first = first or exc
            continue
        if name != files[0]:
            note(f"{files[0]} did not initialise ({first}); running {name} instead")
        return model, name
    raise first


def finish(steps: Generator[None, None, T]) -> T:
    """Run a generator of steps (a ``predict_in_steps``) to its end; return its result."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


@dataclass
class FatigueModel:
    """The loaded bundle: backend, normalisation, class names and Borg mapping."""

    backend: Backend
    backend_name: str
    normaliser: Normaliser
    classes: tuple[str, ...]
    mapping: FatigueMapping
    meta: dict
    #: The model file the backend runs (the NPU may fall back to the all-int8 one).
    artefact: str = ""
    #: The folder it was loaded from.
    folder: str = ""

    def predict(self, sequence, statistics) -> tuple[float, ...]:
        """Probabilities of the five levels for one raw window (100 × 12, 60).

        Args:
            sequence: 100 rows (samples, time order) of the 12 channel values in
                :data:`device.features.CHANNELS` order: a list of rows, a (1, 100, 12)
                nesting of it, or an array; not modified.
            statistics: The 60 window statistics (or a (1, 60) nesting).

        Returns:
            tuple of float, one probability per class (:attr:`classes` order).

        Raises:
            ModelError: A shape differs, a value is NaN or ±inf, or the backend
                returned something other than one finite number per class.
        """
        return finish(self.predict_in_steps(sequence, statistics))

    def predict_in_steps(self, sequence, statistics) -> Generator[None, None, tuple[float, ...]]:
        """:meth:`predict` in steps, yielding between them (the window checked and
        normalised; then the backend's own steps, if it has ``predict_in_steps``), so that
        the app can read ADC conversions in between: ``probs = yield from
        model.predict_in_steps(...)``. Same arguments, result and errors."""
        rows, stats = _check_window(sequence, statistics)
        yield
        seq_n, st_n = self.normaliser.apply(rows, stats)
        yield
        steps = getattr(self.backend, "predict_in_steps", None)
        raw = (yield from steps(seq_n, st_n)) if steps else self.backend.predict(seq_n, st_n)
        try:
            probs = tuple(float(p) for p in raw)
        except (TypeError, ValueError):
            probs = None
        if probs is None or len(probs) != len(self.classes) or not all(map(math.isfinite, probs)):
            raise ModelError(f"{self.backend_name} backend returned {raw!r}")
        return probs

    def describe(self) -> str:
        """One line for the log: which file runs on which backend, what made it, when, and
        the folder, e.g. ``model: fusion.rknn on rknn (fusion CNN-LSTM + MLP; data:
        simulated, 50 subjects; created 2026-11-30T17:02:03Z, converted
        2026-11-30T17:05:41Z) from runs/train-20261130-170203``. The dates are model.json's
        ``created`` (host/train.py) and ``converted`` (host/convert.py), UTC; a bundle
        made before they were recorded has ``dates_from_git`` (the commit dates of its
        files, said so), or none: "date unknown"."""
        where = f" from {self.folder}" if self.folder else ""
        return f"model: {self.artefact or '?'} on {self.backend_name} ({made_by(self.meta)}){where}"

    def close(self) -> None:
        self.backend.close()


def made_by(meta: dict) -> str:
    """What made a model, from its model.json: its name, the data's provenance and
    subjects, when it was trained and converted (see :meth:`FatigueModel.describe`); e.g.
    ``fusion CNN-LSTM + MLP; data: simulated, 50 subjects; created ..., converted ...``."""
    provenance = meta.get("provenance") or "unknown"
    if isinstance(provenance, dict):  # as host/train.py writes it
        data = ", ".join(map(str, provenance.get("data") or ["unknown"]))
        subjects = provenance.get("subjects")
        made = f"data: {data}" + (f", {subjects} subjects" if subjects else "")
    else:
        made = f"provenance: {provenance}"
    return f"{meta.get('model', 'model')}; {made}; {_dates(meta)}"


def _dates(meta: dict) -> str:
    """When the model was trained and converted, as model.json says (see describe)."""
    made = [(k, meta.get(k)) for k in ("created", "converted") if isinstance(meta.get(k), str)]
    if made:
        return ", ".join(f"{k} {v}" for k, v in made)
    git = meta.get("dates_from_git")
    if isinstance(git, dict):
        said = [f"{k} on or before {v}" for k, v in git.items() if k in ("created", "converted")]
        if said:
            return ", ".join(said) + " (git commit dates)"
    return "date unknown"


def _check_converted(meta: dict, models_dir: Path) -> None:
    """A folder training made but conversion has not: one line saying the command.

    Raises:
        ModelError: model.json records neither fusion.onnx nor any of its NPU models.
    """
    if not isinstance(meta.get("artefacts"), dict):
        return  # not what training writes: check_artefact says what is wrong with it
    section = meta.get(RKNN_SECTION)
    listed = section.get("models") if isinstance(section, dict) else None
    npu = listed if isinstance(listed, list) else [RKNN_FILE]
    if not any(recorded_sha256(meta, str(name)) for name in [ONNX_FILE, *npu]):
        raise ModelError(
            f"{models_dir / META_FILE}: this model has not been converted yet (no "
            f"{ONNX_FILE}): " + CONVERT_HINT.format(folder=models_dir)
        )


def check_channels(meta: dict, meta_path: Path) -> None:
    """model.json's ``inputs.sequence.channels`` (written by host/train.py) must be
    :data:`device.features.CHANNELS`, in that order: the device computes those and no
    other, and matches its ΔOD columns to them by wavelength (``features.od_order``); and
    ``inputs.sequence.rate_hz``, where given, :data:`device.features.MODEL_RATE_HZ`.

    Raises:
        ModelError: One line naming the file, what it lists and what the device computes.
    """
    inputs = meta.get("inputs")
    sequence = inputs.get("sequence") if isinstance(inputs, dict) else None
    listed = sequence.get("channels") if isinstance(sequence, dict) else None
    rate = sequence.get("rate_hz", MODEL_RATE_HZ) if isinstance(sequence, dict) else None
    if listed == list(CHANNELS) and rate != MODEL_RATE_HZ:
        raise ModelError(
            f"{meta_path}: inputs.sequence.rate_hz is {rate!r}; the device's windows and "
            f"context channels are made at {MODEL_RATE_HZ:g} Hz (device.features): a model "
            "of another rate does not belong to this device"
        )
    if listed == list(CHANNELS):
        return
    if listed == list(SAMPLE_CHANNELS):
        raise ModelError(
            f"{meta_path}: a model of the seed's {len(SAMPLE_CHANNELS)} channels, made before "
            f"this device added its {len(CHANNELS) - len(SAMPLE_CHANNELS)} context channels "
            "(issue 19): train one with this version (./dev host train), or run the "
            "version of the device the model was made with"
        )
    said = (
        "no inputs.sequence.channels" if listed is None else f"inputs.sequence.channels {listed!r}"
    )
    raise ModelError(
        f"{meta_path}: lists {said}, but the device computes {list(CHANNELS)!r} and no other "
        "channels: the model and this device do not belong together"
    )


def load_model(
    models_dir: Path | str,
    *,
    backend: str = "auto",
    library: str = "librknnmrt.so",
    note: Callable[[str], None] = _note,
) -> FatigueModel:
    """Load ``model.json`` and the artefact for ``backend`` ("auto", "rknn" or "onnx").

    ``model.json``'s input channels must be the ones the device computes
    (:data:`device.features.CHANNELS`), whichever the backend; else :class:`ModelError`.

    "auto" takes the NPU when its runtime library loads, else ONNX Runtime (a runtime
    of another version than the models' is refused, not worked around). ``note``
    gets the one line saying that the NPU fell back to the all-int8 model, and why
    (default: ``note: ...`` on stderr, the app's log).
    """
    models_dir = Path(models_dir)
    meta_path = models_dir / META_FILE
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{meta_path}: not found (is the model bundle deployed?)") from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{meta_path}: unreadable: {exc}") from exc
    if not isinstance(meta, dict):
        raise ModelError(
            f"{meta_path}: holds a JSON {type(meta).__name__}, not the object of keys a "
            "model.json holds: copy the model folder again"
        )
    check_channels(meta, meta_path)  # first: the normalisation's size follows from it
    try:
        normaliser = Normaliser.from_dict(meta["normalisation"])
        mapping = FatigueMapping.from_dict(meta["borg_mapping"])
        classes = tuple(meta["classes"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{meta_path}: incomplete or invalid: {exc}") from exc
    _check_converted(meta, models_dir)
    if backend not in ("auto", "rknn", "onnx"):
        raise ModelError(f"backend must be auto, rknn or onnx, got {backend!r}")

    errors = []
    if backend in ("auto", "rknn"):
        try:
            impl, name = _open_rknn(models_dir, meta, library, note, len(classes))
            return FatigueModel(
                impl, "rknn", normaliser, classes, mapping, meta, name, str(models_dir)
            )
        except DeviceError as exc:
            # A runtime of another version than the models' is there to be fixed, not
            # worked around: "auto" does not hide it behind ONNX Runtime.
            if backend == "rknn" or getattr(exc, "mismatch", False):
                raise
            errors.append(str(exc))
    path = models_dir / ONNX_FILE
    try:
        check_artefact(path, meta)  # hashed once, here
        impl = OnnxBackend(path, n_classes=len(classes))
    except ModelError as exc:  # the model's own fault first, then why not the NPU
        npu = f" (and no NPU model either: {errors[0]})" if errors else ""
        raise ModelError(f"{exc}{npu}") from exc
    return FatigueModel(
        impl, "onnx", normaliser, classes, mapping, meta, ONNX_FILE, str(models_dir)
    )
