"""The fusion model on the RV1103's NPU: a ctypes binding to the RKNN mini runtime.

:class:`RknnModel` is the device's model backend, ``predict(sequence, statistics) ->
probabilities``. It drives ``librknnmrt.so`` (the RV1103/RV1106 runtime shipped with the
Luckfox Pico SDK) through its zero-copy API, the interface Rockchip's RV1103/RV1106
examples use:

1. ``rknn_init`` with the model file's bytes (after checking their SHA-256),
2. ``rknn_query`` for the number of inputs and outputs, then each input's
   ``RKNN_QUERY_NATIVE_INPUT_ATTR`` and each output's ``RKNN_QUERY_NATIVE_NHWC_OUTPUT_ATTR``
   (the native attributes describe the buffers the NPU reads and writes: layout,
   ``w_stride`` padding, ``size_with_stride``; the NHWC output view avoids the NPU's
   blocked NC1HWC2 format; Rockchip's RV1106/RV1103 examples query the same two),
3. ``rknn_create_mem(size_with_stride)`` and ``rknn_set_io_mem`` for every tensor, with
   the attributes passed back exactly as the runtime gave them,
4. per prediction: quantise each input with the scale and zero point its attributes
   give, arrange it in the reported layout (:mod:`device.quant`), copy it to the
   buffer's ``virt_addr``, ``rknn_run``, and dequantise the output buffer,
5. ``close()``: ``rknn_destroy_mem`` for every buffer, then ``rknn_destroy``.

The runtime flushes the CPU cache of input buffers before a run and invalidates it
for outputs afterwards unless told not to (``RKNN_FLAG_DISABLE_FLUSH_*``, not used),
so no ``rknn_mem_sync`` is needed.

Structures, constants and prototypes follow ``rknn_api.h`` of rknn-toolkit2 2.x, read
from ``airockchip/rknn_model_zoo`` ``3rdparty/rknpu2/include/rknn_api.h`` (commit
9bed8a56) and checked against a newer 2.x copy of the same header (it adds
``RKNN_TENSOR_BFLOAT16`` and ``rknn_init_extend.model_buffer_fd``; the structures used
here are identical in both).

ABI: the structures' layout depends on the C ABI. ``rknn_tensor_attr`` and
``rknn_input_output_num`` hold only 1- and 4-byte fields and enums (4 bytes on both
Linux ABIs here: ARM EABI Linux does not use short enums) and are the same everywhere
(376 and 8 bytes). ``rknn_tensor_mem`` holds two pointers and a ``uint64_t``: on the
board (armhf, 32-bit ARM EABI/AAPCS) pointers are 4 bytes and ``uint64_t`` is 8-byte
aligned, so ``phys_addr`` sits at 8 after 4 bytes of padding and the struct is 40
bytes; on an x86-64 PC it is also 40 bytes with 8-byte pointers; on i386, where
``uint64_t`` is 4-byte aligned, it would be 32. ``rknn_context`` is ``uint32_t`` where
``__arm__`` is defined (32-bit ARM) and ``uint64_t`` elsewhere. ctypes lays structures
out for the interpreter's own ABI; :func:`struct_layout` computes the layout for any
ABI from the same field lists, so the tests check the armhf layout on a PC.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np

from device import quant
from device.errors import ConfigError, DeviceError
from device.features import CHANNELS, N_STATISTICS, WINDOW_SAMPLES
from device.labels import FATIGUE_LEVELS

PathLike = Union[str, os.PathLike]

# ---------------------------------------------------------------------------------------
# rknn_api.h (rknn-toolkit2 2.x): constants.
# ---------------------------------------------------------------------------------------

#: Name of the mini runtime for the RV1103/RV1106.
LIBRARY = "librknnmrt.so"
#: Where the Luckfox Pico SDK installs it on the board; tried when ``library`` is a bare
#: name that the dynamic loader's own search does not find.
SDK_LIBRARY_DIRS = ("/oem/usr/lib", "/usr/lib")

RKNN_MAX_DIMS = 16
RKNN_MAX_NAME_LEN = 256

RKNN_SUCC = 0
#: Error codes and their meaning (rknn_api.h, "Error code returned by the RKNN API").
RKNN_ERRORS = {
    -1: ("RKNN_ERR_FAIL", "execution failed"),
    -2: ("RKNN_ERR_TIMEOUT", "execution timed out"),
    -3: ("RKNN_ERR_DEVICE_UNAVAILABLE", "the NPU device is unavailable"),
    -4: ("RKNN_ERR_MALLOC_FAIL", "memory allocation failed"),
    -5: ("RKNN_ERR_PARAM_INVALID", "a parameter is invalid"),
    -6: ("RKNN_ERR_MODEL_INVALID", "the model is invalid"),
    -7: ("RKNN_ERR_CTX_INVALID", "the context is invalid"),
    -8: ("RKNN_ERR_INPUT_INVALID", "an input is invalid"),
    -9: ("RKNN_ERR_OUTPUT_INVALID", "an output is invalid"),
    -10: ("RKNN_ERR_DEVICE_UNMATCH", "runtime and NPU driver/firmware do not match"),
    -11: (
        "RKNN_ERR_INCOMPATILE_PRE_COMPILE_MODEL",
        "the pre-compiled model does not fit this driver",
    ),
    -12: (
        "RKNN_ERR_INCOMPATILE_OPTIMIZATION_LEVEL_VERSION",
        "the model's optimisation level does not fit this driver",
    ),
    -13: (
        "RKNN_ERR_TARGET_PLATFORM_UNMATCH",
        "the model was built for another target platform",
    ),
}

# enum rknn_query_cmd (only the ones used; NATIVE_INPUT_ATTR equals
# NATIVE_NC1HWC2_INPUT_ATTR, both 8).
RKNN_QUERY_IN_OUT_NUM = 0
RKNN_QUERY_INPUT_ATTR = 1
RKNN_QUERY_OUTPUT_ATTR = 2
RKNN_QUERY_NATIVE_INPUT_ATTR = 8
RKNN_QUERY_NATIVE_OUTPUT_ATTR = 9
RKNN_QUERY_NATIVE_NHWC_INPUT_ATTR = 10
RKNN_QUERY_NATIVE_NHWC_OUTPUT_ATTR = 11

#: enum rknn_tensor_type → :mod:`device.quant` dtype name (the rest is unsupported).
TENSOR_TYPES = {0: "float32", 1: "float16", 2: "int8", 3: "uint8", 4: "int16"}
#: enum rknn_tensor_format → name.
TENSOR_FORMATS = {0: "NCHW", 1: "NHWC", 2: "NC1HWC2", 3: "UNDEFINED"}
# enum rknn_tensor_qnt_type.
RKNN_TENSOR_QNT_NONE = 0
RKNN_TENSOR_QNT_DFP = 1
RKNN_TENSOR_QNT_AFFINE_ASYMMETRIC = 2

# ---------------------------------------------------------------------------------------
# Structures: one field list each, used both for ctypes and for the computed layout.
# A field is (name, kind, count); kinds: u8 i8 char u32 i32 f32 enum u64 ptr.
# ---------------------------------------------------------------------------------------

FieldSpec = tuple[str, str, int]

INPUT_OUTPUT_NUM_FIELDS: tuple[FieldSpec, ...] = (
    ("n_input", "u32", 1),
    ("n_output", "u32", 1),
)

TENSOR_ATTR_FIELDS: tuple[FieldSpec, ...] = (
    ("index", "u32", 1),
    ("n_dims", "u32", 1),
    ("dims", "u32", RKNN_MAX_DIMS),
    ("name", "char", RKNN_MAX_NAME_LEN),
    ("n_elems", "u32", 1),
    ("size", "u32", 1),
    ("fmt", "enum", 1),
    ("type", "enum", 1),
    ("qnt_type", "enum", 1),
    ("fl", "i8", 1),
    ("zp", "i32", 1),
    ("scale", "f32", 1),
    ("w_stride", "u32", 1),
    ("size_with_stride", "u32", 1),
    ("pass_through", "u8", 1),
    ("h_stride", "u32", 1),
)

TENSOR_MEM_FIELDS: tuple[FieldSpec, ...] = (
    ("virt_addr", "ptr", 1),
    ("phys_addr", "u64", 1),
    ("fd", "i32", 1),
    ("offset", "i32", 1),
    ("size", "u32", 1),
    ("flags", "u32", 1),
    ("priv_data", "ptr", 1),
)

#: The structures by their C names.
STRUCTS = {
    "rknn_input_output_num": INPUT_OUTPUT_NUM_FIELDS,
    "rknn_tensor_attr": TENSOR_ATTR_FIELDS,
    "rknn_tensor_mem": TENSOR_MEM_FIELDS,
}

_FIXED_KIND_BYTES = {"u8": 1, "i8": 1, "char": 1, "u32": 4, "i32": 4, "f32": 4, "enum": 4}


@dataclass(frozen=True)
class Abi:
    """The parts of a C ABI that decide these structures' layout.

    Args:
        name: For messages.
        pointer_bytes: ``sizeof(void *)``.
        uint64_align: Alignment of ``uint64_t`` in a struct, bytes.
        arm32: ``__arm__`` is defined (32-bit ARM): ``rknn_context`` is ``uint32_t``.
    """

    name: str
    pointer_bytes: int
    uint64_align: int
    arm32: bool


#: The board: Cortex-A7, 32-bit ARM EABI hard-float (AAPCS: 8-byte aligned uint64_t).
ABI_ARMHF = Abi("armhf (32-bit ARM EABI, AAPCS)", pointer_bytes=4, uint64_align=8, arm32=True)
#: A PC.
ABI_X86_64 = Abi("x86-64 (System V)", pointer_bytes=8, uint64_align=8, arm32=False)
#: 32-bit x86, where uint64_t is only 4-byte aligned inside structs (for contrast).
ABI_I386 = Abi("i386 (System V)", pointer_bytes=4, uint64_align=4, arm32=False)


@dataclass(frozen=True)
class StructLayout:
    """Size, alignment and each field's (offset, bytes) of a C struct, in bytes."""

    size: int
    alignment: int
    fields: dict[str, tuple[int, int]]

    def offset(self, field: str) -> int:
        return self.fields[field][0]


def _kind_bytes_align(kind: str, abi: Abi) -> tuple[int, int]:
    if kind == "ptr":
        return abi.pointer_bytes, abi.pointer_bytes
    if kind == "u64":
        return 8, abi.uint64_align
    if kind == "context":
        return (4, 4) if abi.arm32 else (8, abi.uint64_align)
    if kind not in _FIXED_KIND_BYTES:
        raise ValueError(
            f"unknown field kind {kind!r}; valid: "
            f"{sorted([*_FIXED_KIND_BYTES, 'ptr', 'u64', 'context'])}"
        )
    n = _FIXED_KIND_BYTES[kind]
    return n, n


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def struct_layout(fields: tuple[FieldSpec, ...], abi: Abi) -> StructLayout:
    """Lay out a struct as a C compiler for ``abi`` would (natural alignment).

    Each field goes at the next multiple of its alignment; the struct's size is rounded
    up to its largest field alignment. That is the rule of both the System V and the
    ARM AAPCS ABIs for these field types.
    """
    offset = 0
    alignment = 1
    out: dict[str, tuple[int, int]] = {}
    for name, kind, count in fields:
        size, align = _kind_bytes_align(kind, abi)
        offset = _round_up(offset, align)
        out[name] = (offset, size * count)
        offset += size * count
        alignment = max(alignment, align)
    return StructLayout(size=_round_up(offset, alignment), alignment=alignment, fields=out)


def context_is_uint32(machine: str, pointer_bytes: int) -> bool:
    """Whether ``rknn_context`` is ``uint32_t`` (rknn_api.h: ``#ifdef __arm__``).

    ``__arm__`` is defined by 32-bit ARM compilers only: true for ``armv7l`` and friends,
    and for a 32-bit userland on an ``aarch64`` kernel.
    """
    m = machine.lower()
    if m.startswith("arm") and not m.startswith("arm64"):
        return True
    return m in ("aarch64", "arm64", "armv8b") and pointer_bytes == 4


def host_abi() -> Abi:
    """This interpreter's ABI, as ctypes sees it."""
    pointer = ctypes.sizeof(ctypes.c_void_p)
    return Abi(
        f"host ({platform.machine()}, {8 * pointer}-bit)",
        pointer_bytes=pointer,
        uint64_align=ctypes.alignment(ctypes.c_uint64),
        arm32=context_is_uint32(platform.machine(), pointer),
    )


_CTYPES = {
    "u8": ctypes.c_uint8,
    "i8": ctypes.c_int8,
    "char": ctypes.c_char,
    "u32": ctypes.c_uint32,
    "i32": ctypes.c_int32,
    "f32": ctypes.c_float,
    "enum": ctypes.c_int,  # C enums here are int-sized (no -fshort-enums on Linux)
    "u64": ctypes.c_uint64,
    "ptr": ctypes.c_void_p,
}


def _ctypes_fields(fields: tuple[FieldSpec, ...]) -> list:
    return [(n, _CTYPES[k] * c if c > 1 else _CTYPES[k]) for n, k, c in fields]


class RknnInputOutputNum(ctypes.Structure):
    """``rknn_input_output_num``."""

    _fields_ = _ctypes_fields(INPUT_OUTPUT_NUM_FIELDS)


class RknnTensorAttr(ctypes.Structure):
    """``rknn_tensor_attr``."""

    _fields_ = _ctypes_fields(TENSOR_ATTR_FIELDS)


class RknnTensorMem(ctypes.Structure):
    """``rknn_tensor_mem``."""

    _fields_ = _ctypes_fields(TENSOR_MEM_FIELDS)


#: ctypes classes by C name, for layout checks.
CTYPES_STRUCTS = {
    "rknn_input_output_num": RknnInputOutputNum,
    "rknn_tensor_attr": RknnTensorAttr,
    "rknn_tensor_mem": RknnTensorMem,
}

#: ``rknn_context`` for this interpreter.
RknnContext = (
    ctypes.c_uint32
    if context_is_uint32(platform.machine(), ctypes.sizeof(ctypes.c_void_p))
    else ctypes.c_uint64
)

# ---------------------------------------------------------------------------------------
# Errors.
# ---------------------------------------------------------------------------------------


class NpuError(DeviceError):
    """Base class of the NPU backend's errors."""


class RuntimeLibraryError(NpuError, OSError):
    """The RKNN runtime library is missing, unloadable or lacks a function."""


class ModelFileError(NpuError):
    """The model file (or its metadata) is missing, unreadable or not the expected one."""


class ModelHashError(ModelFileError):
    """The model file's SHA-256 differs from the expected one (model.json)."""


class RknnCallError(NpuError):
    """An ``rknn_*`` function returned an error code.

    Attributes:
        function: e.g. ``"rknn_init"``.
        code: The code it returned.
    """

    def __init__(self, function: str, code: int, context: str = "") -> None:
        self.function = function
        self.code = code
        name, meaning = RKNN_ERRORS.get(code, ("unknown error code", "not in rknn_api.h"))
        where = f" ({context})" if context else ""
        super().__init__(f"{function} failed{where}: {code} {name}, {meaning}")


class InputError(NpuError, ValueError):
    """An input has the wrong shape or non-finite values."""


# ---------------------------------------------------------------------------------------
# Library and model file.
# ---------------------------------------------------------------------------------------

_PROTOTYPES = {
    # name: (restype, argtypes); the model argument is void* in the header, passed as
    # char* (same ABI) so that bytes go in without a copy.
    "rknn_init": (
        ctypes.c_int,
        [
            ctypes.POINTER(RknnContext),
            ctypes.c_char_p,
            ctypes.c_uint32,
            ctypes.c_uint32,
            ctypes.c_void_p,
        ],
    ),
    "rknn_query": (ctypes.c_int, [RknnContext, ctypes.c_int, ctypes.c_void_p, ctypes.c_uint32]),
    "rknn_create_mem": (ctypes.POINTER(RknnTensorMem), [RknnContext, ctypes.c_uint32]),
    "rknn_set_io_mem": (
        ctypes.c_int,
        [RknnContext, ctypes.POINTER(RknnTensorMem), ctypes.POINTER(RknnTensorAttr)],
    ),
    "rknn_run": (ctypes.c_int, [RknnContext, ctypes.c_void_p]),
    "rknn_destroy_mem": (ctypes.c_int, [RknnContext, ctypes.POINTER(RknnTensorMem)]),
    "rknn_destroy": (ctypes.c_int, [RknnContext]),
}


def load_runtime(library: PathLike = LIBRARY) -> tuple[ctypes.CDLL, str]:
    """Open the RKNN runtime and declare its functions' prototypes.

    Args:
        library: A path, or a bare name for the dynamic loader to find; a bare name
            is also tried in :data:`SDK_LIBRARY_DIRS`.

    Returns:
        The library and the path or name it was opened by.

    Raises:
        RuntimeLibraryError: If it cannot be opened or lacks one of the functions.
    """
    name = os.fspath(library)
    candidates = [name]
    if os.sep not in name:
        candidates += [os.path.join(d, name) for d in SDK_LIBRARY_DIRS]
    failures = []
    for candidate in candidates:
        try:
            lib = ctypes.CDLL(candidate)
        except OSError as exc:
            failures.append(str(exc) or candidate)
            continue
        for fn_name, (restype, argtypes) in _PROTOTYPES.items():
            try:
                fn = getattr(lib, fn_name)
            except AttributeError:
                raise RuntimeLibraryError(
                    f"{candidate} has no function {fn_name}: it is not the RKNN runtime "
                    "of rknn-toolkit2 2.x (librknnmrt.so)"
                ) from None
            fn.restype = restype
            fn.argtypes = argtypes
        return lib, candidate
    raise RuntimeLibraryError(
        f"cannot load the RKNN runtime {name!r}: " + "; ".join(failures) + ". "
        "librknnmrt.so ships with the Luckfox Pico SDK (RV1103/RV1106 runtime) and is "
        f"installed in {' or '.join(SDK_LIBRARY_DIRS)} on the board; "
        "elsewhere pass library= with its path"
    )


def read_model(path: PathLike, expected_sha256: str | None = None) -> bytes:
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
        actual = hashlib.sha256(data).hexdigest()
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


def sha256_from_metadata(metadata_path: PathLike, artefact: str = "fusion.rknn") -> str:
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
    entry = (meta.get("artefacts") or {}).get(artefact) if isinstance(meta, dict) else None
    if isinstance(entry, dict):
        entry = entry.get("sha256")
    if not isinstance(entry, str):
        raise ModelFileError(f"model metadata {metadata_path} records no SHA-256 for {artefact}")
    try:
        return _check_sha256(entry, f"{metadata_path}: artefacts.{artefact}.sha256")
    except ConfigError as exc:
        raise ModelFileError(str(exc)) from None


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

SEQUENCE_SHAPE = (WINDOW_SAMPLES, len(CHANNELS))
STATISTICS_SHAPE = (N_STATISTICS,)


@dataclass
class _Tensor:
    attr: RknnTensorAttr
    mem: ctypes._Pointer  # POINTER(RknnTensorMem)
    layout: quant.TensorLayout | None = None


class RknnModel:
    """The fusion model on the NPU through the RKNN runtime's zero-copy API.

    Args:
        model_path: The ``.rknn`` file.
        library: The runtime, ``librknnmrt.so`` by default (see :func:`load_runtime`).
        expected_sha256: The model file's SHA-256 from ``model.json``; checked before
            the runtime sees the file. None skips the check.
        n_classes: Number of fatigue levels the model outputs.

    Raises:
        ModelFileError: Model file missing, unreadable, or (ModelHashError) not the
            expected one.
        RuntimeLibraryError: The runtime cannot be loaded.
        RknnCallError: The runtime refused the model or a call failed.
        NpuError: The model's tensors do not fit the device's inputs and outputs.
    """

    def __init__(
        self,
        model_path: PathLike,
        *,
        library: PathLike = LIBRARY,
        expected_sha256: str | None = None,
        n_classes: int = len(FATIGUE_LEVELS),
    ) -> None:
        self.model_path = str(model_path)
        self.n_classes = int(n_classes)
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
            raise RknnCallError("rknn_init", ret, f"model file {self.model_path}")
        self._ctx = ctx
        try:
            self._set_up_tensors()
        except BaseException:
            with contextlib.suppress(NpuError):  # the first error is the one to report
                self.close()
            raise

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
        self._sequence = self._input_with(int(np.prod(SEQUENCE_SHAPE)), "sequence")
        self._statistics = self._input_with(int(np.prod(STATISTICS_SHAPE)), "statistics")
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
                f"the device expects {self.n_classes} class probabilities"
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
    def _checked(name: str, values, shape: tuple[int, ...]) -> np.ndarray:
        arr = np.asarray(values, dtype=np.float64)
        if arr.shape not in (shape, (1, *shape)):
            raise InputError(f"{name} must have shape {shape} or {(1, *shape)}, got {arr.shape}")
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        if bad:
            raise InputError(f"{name} has {bad} non-finite value(s) (NaN or inf)")
        return arr.reshape((1, *shape))

    def predict(self, sequence, statistics) -> np.ndarray:
        """Fatigue-level probabilities for one window.

        Args:
            sequence: Normalised window, shape (100, 8) or (1, 100, 8): samples × channels.
            statistics: Normalised statistics, shape (40,) or (1, 40).

        Returns:
            float64 array of ``n_classes`` values: the model's softmax output, dequantised
            (int8 steps, so their sum is 1 only to within a few steps).

        Raises:
            InputError: Wrong shape or non-finite values.
            RknnCallError: ``rknn_run`` failed.
            NpuError: The model is closed.
        """
        self._check_open()
        feeds = (
            (self._sequence, self._checked("sequence", sequence, SEQUENCE_SHAPE)),
            (self._statistics, self._checked("statistics", statistics, STATISTICS_SHAPE)),
        )
        for tensor, values in feeds:
            payload = quant.encode(values, tensor.layout)
            ctypes.memmove(tensor.mem.contents.virt_addr, payload, len(payload))
        self._call("rknn_run", None)
        out = self._outputs[0]
        raw = ctypes.string_at(out.mem.contents.virt_addr, out.layout.buffer_bytes())
        return quant.decode(raw, out.layout).reshape(-1)

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
        """The model of a bundle folder, hash-checked against its ``model.json``."""
        folder = Path(models_dir)
        sha = sha256_from_metadata(folder / "model.json", artefact)
        return cls(folder / artefact, library=library, expected_sha256=sha)
