"""The fusion model on the RV1103's NPU: the device's model backend.

:class:`RknnModel` is the device's model backend, ``predict(sequence, statistics) ->
probabilities``. It drives ``librknnmrt.so`` (the RV1103/RV1106 runtime shipped with the
Luckfox Pico SDK) through its zero-copy API, the interface Rockchip's RV1103/RV1106
examples use, by way of the ctypes binding in :mod:`device.rknn_api`:

1. ``rknn_init`` with the model file's bytes (after checking their SHA-256), then
   ``rknn_query(RKNN_QUERY_SDK_VERSION)``: a runtime whose major.minor differs from the
   one the model was made for (``model.json``) is refused, and so is a model that
   ``rknn_init`` calls invalid, each with one line naming the model file, its toolkit,
   the runtime's version and path, and the fix (:class:`RuntimeMismatchError`,
   :class:`ModelRefusedError`),
2. ``rknn_query`` for the number of inputs and outputs, then each input's
   ``RKNN_QUERY_NATIVE_INPUT_ATTR`` and each output's ``RKNN_QUERY_NATIVE_NHWC_OUTPUT_ATTR``
   (the native attributes describe the buffers the NPU reads and writes: layout,
   ``w_stride`` padding, ``size_with_stride``; the NHWC output view avoids the NPU's
   blocked NC1HWC2 format; Rockchip's RV1106/RV1103 examples query the same two),
3. ``rknn_create_mem(size_with_stride)`` and ``rknn_set_io_mem`` for every tensor, with
   the attributes passed back exactly as the runtime gave them,
4. per prediction: quantise each input with the scale and zero point its attributes
   give, arrange it in the reported layout (:mod:`device.quant`), copy the bytes to the
   buffer's ``virt_addr`` (``ctypes.memmove``), ``rknn_run``, and dequantise the output
   buffer into a tuple of floats,
5. ``close()``: ``rknn_destroy_mem`` for every buffer, then ``rknn_destroy``.

The runtime flushes the CPU cache of input buffers before a run and invalidates it
for outputs afterwards unless told not to (``RKNN_FLAG_DISABLE_FLUSH_*``, not used),
so no ``rknn_mem_sync`` is needed. Plain Python and ctypes: the board has no numpy.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import math
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path

from device import quant
from device.features import SEQUENCE_SHAPE, STATISTICS_SHAPE
from device.inference import (
    ModelFileError,
    ModelHashError,
    finish,
    read_model,
    sha256_from_metadata,
)
from device.labels import FATIGUE_LEVELS
from device.rknn_api import (
    LIBRARY,
    RKNN_ERR_MODEL_INVALID,
    RKNN_MAX_DIMS,
    RKNN_QUERY_IN_OUT_NUM,
    RKNN_QUERY_NATIVE_INPUT_ATTR,
    RKNN_QUERY_NATIVE_NHWC_OUTPUT_ATTR,
    RKNN_SUCC,
    RKNN_TENSOR_QNT_AFFINE_ASYMMETRIC,
    RKNN_TENSOR_QNT_DFP,
    RKNN_TENSOR_QNT_NONE,
    TENSOR_FORMATS,
    TENSOR_TYPES,
    NpuError,
    PathLike,
    RknnCallError,
    RknnContext,
    RknnInputOutputNum,
    RknnTensorAttr,
    RuntimeLibraryError,
    library_path,
    load_runtime,
    major_minor,
    runtime_version,
    same_major_minor,
    version_in_library,
)

__all__ = [
    "SEQUENCE_SHAPE",
    "STATISTICS_SHAPE",
    "InputError",
    "ModelFileError",
    "ModelHashError",
    "ModelRefusedError",
    "NpuError",
    "RknnCallError",
    "RknnModel",
    "RuntimeLibraryError",
    "RuntimeMismatchError",
    "attr_name",
    "layout_from_attr",
    "read_model",
    "sha256_from_metadata",
]

# ---------------------------------------------------------------------------------------
# Errors (besides the binding's NpuError, RuntimeLibraryError and RknnCallError, and the
# model file's ModelFileError and ModelHashError from device.inference).
# ---------------------------------------------------------------------------------------


class InputError(NpuError, ValueError):
    """An input has the wrong shape or non-finite values."""


#: What to do about a runtime that does not fit the model (Rockchip's remedy for
#: "Invalid RKNN model version": the runtime of the toolkit's own version on the board).
RUNTIME_FIX = "fix: put the matching librknnmrt.so on the board: ./deploy.sh --runtime-lib PATH"


class RuntimeMismatchError(NpuError):
    """The runtime's version differs in major.minor from the one the model was made for
    (``model.json`` ``rknn.runtime_version``); the message is one line with the fix."""

    mismatch = True


class ModelRefusedError(RknnCallError):
    """``rknn_init`` returned RKNN_ERR_MODEL_INVALID. On these chips a model made by
    another toolkit version than the runtime's shows up so ("Invalid RKNN model
    version", "invalid RKNN_MAGIC"); the message says whether the versions differ."""

    def __init__(self, message: str, *, mismatch: bool) -> None:
        self.function, self.code = "rknn_init", RKNN_ERR_MODEL_INVALID
        #: The runtime's version differs from the one the model was made for.
        self.mismatch = mismatch
        NpuError.__init__(self, message)


def _made_by(toolkit: str | None, made_for: str | None) -> str:
    made = f"rknn-toolkit2 {toolkit}" if toolkit else "an unrecorded rknn-toolkit2"
    return f"made by {made} for runtime {made_for}" if made_for else f"made by {made}"


def _runtime_text(path: str, version: str | None) -> str:
    return f"{path} version {version}" if version else f"{path} (version unknown)"


# ---------------------------------------------------------------------------------------
# Attributes → layouts.
# ---------------------------------------------------------------------------------------


def attr_name(attr: RknnTensorAttr) -> str:
    return attr.name.decode("utf-8", "replace")


def layout_from_attr(attr: RknnTensorAttr) -> quant.TensorLayout:
    """The :class:`device.quant.TensorLayout` an attribute describes.

    Raises:
        NpuError: For a type, format or quantisation the device does not handle.
    """
    name = attr_name(attr)
    n_dims = int(attr.n_dims)
    if not 1 <= n_dims <= RKNN_MAX_DIMS:
        raise NpuError(f"tensor {name!r}: the runtime reports {n_dims} dimensions")
    fmt = TENSOR_FORMATS.get(int(attr.fmt))
    dtype = TENSOR_TYPES.get(int(attr.type))
    if fmt is None or dtype is None:
        raise NpuError(
            f"tensor {name!r}: unsupported format {attr.fmt} or type {attr.type}; "
            f"supported formats {TENSOR_FORMATS}, types {TENSOR_TYPES}"
        )
    scale, zero_point = 1.0, 0
    if dtype in quant.INTEGER_DTYPES:
        if attr.qnt_type == RKNN_TENSOR_QNT_AFFINE_ASYMMETRIC:
            scale, zero_point = float(attr.scale), int(attr.zp)
        elif attr.qnt_type == RKNN_TENSOR_QNT_DFP:
            scale = 2.0 ** -int(attr.fl)
        elif attr.qnt_type != RKNN_TENSOR_QNT_NONE:
            raise NpuError(f"tensor {name!r}: unknown quantisation type {attr.qnt_type}")
    try:
        layout = quant.TensorLayout(
            dims=tuple(int(d) for d in attr.dims[:n_dims]),
            fmt=fmt,
            dtype=dtype,
            scale=scale,
            zero_point=zero_point,
            w_stride=int(attr.w_stride),
            size_with_stride=int(attr.size_with_stride),
            name=name,
        )
        layout.buffer_bytes()  # validates the layout as a whole
    except ValueError as exc:
        raise NpuError(f"the runtime's attributes are unusable: {exc}") from None
    return layout


# ---------------------------------------------------------------------------------------
# The model.
# ---------------------------------------------------------------------------------------


@dataclass
class _Tensor:
    attr: RknnTensorAttr
    mem: ctypes._Pointer  # POINTER(RknnTensorMem)
    layout: quant.TensorLayout | None = None


class RknnModel:
    """The fusion model on the NPU through the RKNN runtime's zero-copy API.

    Args:
        model_path: The ``.rknn`` file.
        library: The runtime, ``librknnmrt.so`` by default (see
            :func:`device.rknn_api.load_runtime`).
        expected_sha256: The model file's SHA-256 from ``model.json``; checked before
            the runtime sees the file. None skips the check.
        n_classes: Number of fatigue levels the model outputs.
        made_for: The runtime version the model was made for (``model.json``
            ``rknn.runtime_version``, e.g. ``"2.3.2"``); a runtime of another
            major.minor is refused. None skips the check.
        toolkit: The rknn-toolkit2 version that made the model, for the messages.

    Attributes:
        runtime_version, driver_version: What the runtime reports
            (RKNN_QUERY_SDK_VERSION), e.g. ``"2.3.2 (429f97ae6b@...)"`` and ``"0.9.8"``.

    Raises:
        ModelFileError: Model file missing, unreadable, or (ModelHashError) not the
            expected one.
        RuntimeLibraryError: The runtime cannot be loaded.
        ModelRefusedError: ``rknn_init`` called the model invalid.
        RuntimeMismatchError: The runtime's major.minor differs from ``made_for``.
        RknnCallError: Another call failed.
        NpuError: The model's tensors do not fit the device's inputs and outputs.
    """

    def __init__(
        self,
        model_path: PathLike,
        *,
        library: PathLike = LIBRARY,
        expected_sha256: str | None = None,
        n_classes: int = len(FATIGUE_LEVELS),
        made_for: str | None = None,
        toolkit: str | None = None,
    ) -> None:
        self.model_path = str(model_path)
        self.n_classes = int(n_classes)
        self.made_for, self.toolkit = made_for, toolkit
        self.runtime_version: str | None = None
        self.driver_version: str | None = None
        self._lib: ctypes.CDLL | None = None
        self._ctx = None
        self._inputs: list[_Tensor] = []
        self._outputs: list[_Tensor] = []
        data = read_model(model_path, expected_sha256)
        self._lib, self.library = load_runtime(library)
        ctx = RknnContext(0)
        ret = self._lib.rknn_init(ctypes.byref(ctx), data, len(data), 0, None)
        del data  # the runtime keeps its own copy; 64 MB of RAM is not much
        if ret != RKNN_SUCC:
            self._lib = None
            if ret == RKNN_ERR_MODEL_INVALID:
                raise self._refused()
            raise RknnCallError("rknn_init", ret, f"model file {self.model_path}")
        self._ctx = ctx
        try:
            self._check_version()
            self._set_up_tensors()
        except BaseException:
            with contextlib.suppress(NpuError):  # the first error is the one to report
                self.close()
            raise

    # -- versions ---------------------------------------------------------------------

    def _refused(self) -> ModelRefusedError:
        """The error for ``rknn_init`` → RKNN_ERR_MODEL_INVALID: no context exists to
        query, so the runtime's version is read from its file."""
        path = library_path(self.library)
        version = version_in_library(path)
        head = (
            f"rknn_init refused model file {self.model_path} "
            f"({_made_by(self.toolkit, self.made_for)}): -6 RKNN_ERR_MODEL_INVALID; "
            f"the NPU runtime is {_runtime_text(path, version)}"
        )
        if self.made_for and version and same_major_minor(version, self.made_for):
            return ModelRefusedError(
                f"{head}: the versions agree, so this runtime refuses the model itself "
                "(an operator or precision it lacks, or a damaged file)",
                mismatch=False,
            )
        return ModelRefusedError(
            f"{head}: a model made for another runtime version shows up as this "
            f'("Invalid RKNN model version"); {RUNTIME_FIX}',
            mismatch=bool(self.made_for and version),
        )

    def _check_version(self) -> None:
        """Query the runtime's version; refuse one of another major.minor than the
        model's (RKNN_QUERY_SDK_VERSION, answered by every rknn-toolkit2 2.x runtime)."""
        self.runtime_version, self.driver_version = runtime_version(self._lib, self._ctx)
        if self.made_for is None or major_minor(self.made_for) is None:
            return
        if not same_major_minor(self.runtime_version, self.made_for):
            raise RuntimeMismatchError(
                f"model file {self.model_path} was {_made_by(self.toolkit, self.made_for)}, "
                f"but the NPU runtime is {library_path(self.library)} version "
                f"{self.runtime_version} (driver {self.driver_version}); {RUNTIME_FIX}"
            )

    # -- set-up ---------------------------------------------------------------------

    def _call(self, function: str, *args, what: str = "") -> None:
        ret = getattr(self._lib, function)(self._ctx, *args)
        if ret != RKNN_SUCC:
            context = f"{what}, model {self.model_path}" if what else f"model {self.model_path}"
            raise RknnCallError(function, ret, context)

    def _query_attr(self, command: int, index: int, kind: str) -> RknnTensorAttr:
        attr = RknnTensorAttr()
        attr.index = index
        self._call(
            "rknn_query",
            command,
            ctypes.byref(attr),
            ctypes.sizeof(attr),
            what=f"{kind} {index} attributes",
        )
        return attr

    def _bind_buffer(self, attr: RknnTensorAttr, kind: str) -> _Tensor:
        label = f"{kind} {attr.index} {attr_name(attr)!r}"
        size = int(attr.size_with_stride)
        if size == 0:
            raise NpuError(f"{label}: the runtime reports size_with_stride 0")
        mem = self._lib.rknn_create_mem(self._ctx, size)
        if not mem:
            raise NpuError(f"rknn_create_mem returned NULL for {size} bytes ({label})")
        tensor = _Tensor(attr=attr, mem=mem)
        (self._inputs if kind == "input" else self._outputs).append(tensor)
        if mem.contents.size < size or not mem.contents.virt_addr:
            raise NpuError(
                f"rknn_create_mem gave {mem.contents.size} bytes at "
                f"{mem.contents.virt_addr} for {size} requested ({label})"
            )
        self._call("rknn_set_io_mem", mem, ctypes.byref(attr), what=label)
        return tensor

    def _set_up_tensors(self) -> None:
        num = RknnInputOutputNum()
        self._call(
            "rknn_query",
            RKNN_QUERY_IN_OUT_NUM,
            ctypes.byref(num),
            ctypes.sizeof(num),
            what="number of inputs and outputs",
        )
        # The runtime judges its own attributes first: each buffer is made and bound
        # exactly as queried, and only then is the layout interpreted.
        for i in range(num.n_input):
            self._bind_buffer(self._query_attr(RKNN_QUERY_NATIVE_INPUT_ATTR, i, "input"), "input")
        for i in range(num.n_output):
            attr = self._query_attr(RKNN_QUERY_NATIVE_NHWC_OUTPUT_ATTR, i, "output")
            self._bind_buffer(attr, "output")
        for tensor in self._inputs + self._outputs:
            try:
                tensor.layout = layout_from_attr(tensor.attr)
            except NpuError as exc:
                raise NpuError(f"model {self.model_path}: {exc}") from None
        self._sequence = self._input_with(math.prod(SEQUENCE_SHAPE), "sequence")
        self._statistics = self._input_with(math.prod(STATISTICS_SHAPE), "statistics")
        if len(self._inputs) != 2 or len(self._outputs) != 1:
            raise NpuError(
                f"model {self.model_path} has {len(self._inputs)} inputs and "
                f"{len(self._outputs)} outputs; the device expects 2 inputs "
                "(sequence, statistics) and 1 output (probabilities)"
            )
        out = self._outputs[0].layout
        if out.n_elems != self.n_classes:
            raise NpuError(
                f"model {self.model_path} outputs {out.n_elems} values (dims {out.dims}); "
                f"the device expects {self.n_classes} class probabilities (the classes of "
                "model.json): the model and its metadata do not belong together"
            )

    def _input_with(self, n_elems: int, what: str) -> _Tensor:
        found = [t for t in self._inputs if t.layout.n_elems == n_elems]
        if len(found) != 1:
            have = [(attr_name(t.attr), t.layout.dims) for t in self._inputs]
            raise NpuError(
                f"model {self.model_path}: expected exactly one input of {n_elems} "
                f"elements for the {what}, the model's inputs are {have}"
            )
        return found[0]

    # -- use --------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._ctx is None

    @property
    def input_layouts(self) -> dict[str, quant.TensorLayout]:
        """The runtime's layouts of the sequence and statistics inputs."""
        self._check_open()
        return {"sequence": self._sequence.layout, "statistics": self._statistics.layout}

    @property
    def output_layout(self) -> quant.TensorLayout:
        self._check_open()
        return self._outputs[0].layout

    def _check_open(self) -> None:
        if self._ctx is None:
            raise NpuError(f"the NPU model {self.model_path} is closed")

    @staticmethod
    def _checked(name: str, values, shape: tuple[int, ...]) -> list[float]:
        try:
            return quant.flatten(values, shape, name=name)
        except ValueError as exc:
            raise InputError(str(exc)) from None

    def predict(self, sequence, statistics) -> tuple[float, ...]:
        """Fatigue-level probabilities for one window.

        Args:
            sequence: Normalised window: 100 rows (samples) of 12 numbers (channels), as a
                list of rows, a (1, 100, 12) nesting of it, or an array; not modified.
            statistics: Normalised statistics: 60 numbers (or a (1, 60) nesting).

        Returns:
            tuple of ``n_classes`` floats: the model's softmax output, dequantised (int8
            steps, so their sum is 1 only to within a few steps).

        Raises:
            InputError: Wrong shape or non-finite values.
            RknnCallError: ``rknn_run`` failed.
            NpuError: The model is closed.
        """
        return finish(self.predict_in_steps(sequence, statistics))

    def predict_in_steps(self, sequence, statistics) -> Generator[None, None, tuple[float, ...]]:
        """:meth:`predict` in five steps, yielding between them (the sequence checked;
        quantised into its input tensor; the same two for the statistics; the run and the
        output dequantised), so that a caller can do other work in between: ``probs =
        yield from backend.predict_in_steps(...)``. Same arguments, result and errors."""
        self._check_open()
        feeds = (
            (self._sequence, "sequence", sequence, SEQUENCE_SHAPE),
            (self._statistics, "statistics", statistics, STATISTICS_SHAPE),
        )
        for tensor, name, values, shape in feeds:
            checked = self._checked(name, values, shape)
            yield
            payload = quant.encode(checked, tensor.layout)
            ctypes.memmove(tensor.mem.contents.virt_addr, payload, len(payload))
            yield
        self._call("rknn_run", None)
        out = self._outputs[0]
        raw = ctypes.string_at(out.mem.contents.virt_addr, out.layout.buffer_bytes())
        return tuple(quant.decode(raw, out.layout))

    def close(self) -> None:
        """Free the buffers and the context; safe to call twice.

        Raises:
            RknnCallError: If the runtime reported an error while freeing (everything
                is still released as far as the runtime allows).
        """
        lib, ctx = self._lib, self._ctx
        tensors = self._inputs + self._outputs
        self._inputs, self._outputs = [], []
        self._ctx = None
        self._lib = None
        if lib is None or ctx is None:
            return
        failure = None
        for tensor in reversed(tensors):
            ret = lib.rknn_destroy_mem(ctx, tensor.mem)
            if ret != RKNN_SUCC and failure is None:
                failure = ("rknn_destroy_mem", ret)
        ret = lib.rknn_destroy(ctx)
        if ret != RKNN_SUCC and failure is None:
            failure = ("rknn_destroy", ret)
        if failure is not None:
            raise RknnCallError(*failure, f"model {self.model_path}")

    def __enter__(self) -> RknnModel:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"open with {self.library}"
        return f"RknnModel({self.model_path!r}, {state})"

    @classmethod
    def from_bundle(
        cls, models_dir: PathLike, *, library: PathLike = LIBRARY, artefact: str = "fusion.rknn"
    ) -> RknnModel:
        """The model of a bundle folder, hash-checked against its ``model.json`` and
        version-checked against the runtime version it records (``rknn`` section)."""
        folder = Path(models_dir)
        sha = sha256_from_metadata(folder / "model.json", artefact)
        section = json.loads((folder / "model.json").read_text(encoding="utf-8")).get("rknn")
        section = section if isinstance(section, dict) else {}
        return cls(
            folder / artefact,
            library=library,
            expected_sha256=sha,
            made_for=section.get("runtime_version"),
            toolkit=section.get("toolkit_version"),
        )
