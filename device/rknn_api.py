"""A ctypes binding to ``rknn_api.h``, the RKNN runtime's C API (``librknnmrt.so``).

The declarations only: constants, the four structures the device passes, the context
type, the prototypes of the functions it calls, :func:`load_runtime`, and the runtime's
version (:func:`runtime_version`, :func:`version_in_library`, :func:`same_major_minor`).
The model backend that drives them is :mod:`device.npu`.

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
``__arm__`` is defined (32-bit ARM) and ``uint64_t`` elsewhere (:func:`context_is_uint32`).
ctypes lays the structures out for the interpreter's own ABI, so the board builds them
right by itself; the tests compute the layout for any ABI from the same field lists
(``tests/rknn_abi.py``) and check the armhf one on a PC, against a cross compiler where
one is installed.
"""

from __future__ import annotations

import ctypes
import os
import platform
import re
from typing import Union

from device.errors import DeviceError

PathLike = Union[str, os.PathLike]

# ---------------------------------------------------------------------------------------
# Constants.
# ---------------------------------------------------------------------------------------

#: Name of the mini runtime for the RV1103/RV1106.
LIBRARY = "librknnmrt.so"
#: Where the Luckfox Pico SDK installs it on the board (``/oem/usr/lib``, which the
#: dynamic loader's default path lacks), and where ``deploy.sh --runtime-lib`` puts a
#: supplied one. A bare ``library`` name is looked for here first, in this order, then
#: by the dynamic loader; ``deploy/preflight.sh`` checks the same places in the same
#: order, so both see the same file.
SDK_LIBRARY_DIRS = ("/oem/usr/lib", "/usr/lib")
#: What precedes the version in the runtime's file: Rockchip's instructions read it with
#: ``strings librknnmrt.so | grep "librknnmrt version"`` (rknn-toolkit2's RKNN
#: user guide, "update the runtime"); 2.3.2 of rknpu2/runtime/Linux/librknn_api/
#: armhf-uclibc/ carries "librknnmrt version: 2.3.2 (429f97ae6b@2025-04-09T09:11:49)".
VERSION_MARKER = b"librknnmrt version: "

RKNN_MAX_DIMS = 16
RKNN_MAX_NAME_LEN = 256

RKNN_SUCC = 0
#: rknn_init's answer to a model it will not read, e.g. one made by another toolkit
#: version ("Invalid RKNN model version", "invalid RKNN_MAGIC" in the runtime's log).
RKNN_ERR_MODEL_INVALID = -6
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
RKNN_QUERY_SDK_VERSION = 5  # rknn_sdk_version: the runtime's and the driver's versions
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
# Structures: one field list each, used both for ctypes and for the layout the tests
# compute for other ABIs. A field is (name, kind, count); kinds: u8 i8 char u32 i32 f32
# enum u64 ptr.
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

#: rknn_sdk_version: two NUL-terminated strings (RKNN_QUERY_SDK_VERSION).
SDK_VERSION_FIELDS: tuple[FieldSpec, ...] = (
    ("api_version", "char", 256),
    ("drv_version", "char", 256),
)

#: The structures by their C names.
STRUCTS = {
    "rknn_input_output_num": INPUT_OUTPUT_NUM_FIELDS,
    "rknn_tensor_attr": TENSOR_ATTR_FIELDS,
    "rknn_tensor_mem": TENSOR_MEM_FIELDS,
    "rknn_sdk_version": SDK_VERSION_FIELDS,
}


def context_is_uint32(machine: str, pointer_bytes: int) -> bool:
    """Whether ``rknn_context`` is ``uint32_t`` (rknn_api.h: ``#ifdef __arm__``).

    ``__arm__`` is defined by 32-bit ARM compilers only: true for ``armv7l`` and friends,
    and for a 32-bit userland on an ``aarch64`` kernel.
    """
    m = machine.lower()
    if m.startswith("arm") and not m.startswith("arm64"):
        return True
    return m in ("aarch64", "arm64", "armv8b") and pointer_bytes == 4


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


class RknnSdkVersion(ctypes.Structure):
    """``rknn_sdk_version``."""

    _fields_ = _ctypes_fields(SDK_VERSION_FIELDS)


#: ctypes classes by C name, for layout checks.
CTYPES_STRUCTS = {
    "rknn_input_output_num": RknnInputOutputNum,
    "rknn_tensor_attr": RknnTensorAttr,
    "rknn_tensor_mem": RknnTensorMem,
    "rknn_sdk_version": RknnSdkVersion,
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


# ---------------------------------------------------------------------------------------
# The library.
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
        library: A path, or a bare name: looked for in :data:`SDK_LIBRARY_DIRS` first,
            then by the dynamic loader's own search.

    Returns:
        The library and the path or name it was opened by.

    Raises:
        RuntimeLibraryError: If it cannot be opened or lacks one of the functions.
    """
    name = os.fspath(library)
    candidates = [name]
    if os.sep not in name:
        candidates = [os.path.join(d, name) for d in SDK_LIBRARY_DIRS] + candidates
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


# ---------------------------------------------------------------------------------------
# The runtime's version.
# ---------------------------------------------------------------------------------------

_MAJOR_MINOR = re.compile(r"\s*v?(\d+)\.(\d+)")


def major_minor(version: str | None) -> tuple[int, int] | None:
    """``(major, minor)`` of a version string such as ``"2.3.2 (429f97ae6b@...)"``, or
    None when it does not start with two numbers."""
    match = _MAJOR_MINOR.match(version or "")
    return (int(match[1]), int(match[2])) if match else None


def same_major_minor(a: str | None, b: str | None) -> bool:
    """Whether two versions agree in major.minor (False when either is unreadable).

    Major.minor is the check issue 13 asks for: Rockchip releases the toolkit and the
    runtimes together under one number (rknn-toolkit2 X.Y.Z with rknpu2/runtime X.Y.Z)
    and answers "Invalid RKNN model version" by asking for both at the same version. A
    patch difference is taken as harmless (not verified on a board)."""
    ours = major_minor(a)
    return ours is not None and ours == major_minor(b)


def runtime_version(lib: ctypes.CDLL, ctx) -> tuple[str, str]:
    """The runtime's ``(api_version, drv_version)`` strings for an initialised context
    (``rknn_query(RKNN_QUERY_SDK_VERSION)``: e.g. ``"2.3.2 (429f97ae6b@...)"`` and the
    NPU kernel driver's ``"0.9.8"``).

    Raises:
        RknnCallError: The query failed.
    """
    info = RknnSdkVersion()
    ret = lib.rknn_query(ctx, RKNN_QUERY_SDK_VERSION, ctypes.byref(info), ctypes.sizeof(info))
    if ret != RKNN_SUCC:
        raise RknnCallError("rknn_query", ret, "RKNN_QUERY_SDK_VERSION")
    return (
        info.api_version.decode("utf-8", "replace").strip(),
        info.drv_version.decode("utf-8", "replace").strip(),
    )


def library_path(opened_as: str) -> str:
    """The file of a library opened as ``opened_as``: that path itself, or for a bare
    name the dynamic loader resolved, the file the process mapped under that name
    (``/proc/self/maps``); the bare name when that is not readable (not Linux)."""
    if os.sep in opened_as:
        return opened_as
    base = opened_as
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                path = line.rstrip("\n").split(None, 5)[-1]
                if path.startswith("/") and os.path.basename(path) == base:
                    return path
    except OSError:
        pass
    return opened_as


def version_in_library(path: PathLike, *, chunk_bytes: int = 1 << 16) -> str | None:
    """The version a runtime file names after :data:`VERSION_MARKER` (the text up to the
    next byte that is not printable ASCII), read from the file without loading it; None
    if the file has no such string or cannot be read. Used when no context exists to
    query (``rknn_init`` failed) and by ``deploy/bundle.py`` on the laptop."""
    tail = b""
    try:
        with open(path, "rb") as f:
            while True:
                block = f.read(chunk_bytes)
                data = tail + block
                at = data.find(VERSION_MARKER)
                if at >= 0:
                    rest = data[at + len(VERSION_MARKER) :]
                    if not block or len(rest) >= 128:
                        return _printable_prefix(rest[:128]) or None
                    tail = data[at:]  # the version runs on into the next block
                    continue
                if not block:
                    return None
                tail = data[-(len(VERSION_MARKER) - 1) :]
    except OSError:
        return None


def _printable_prefix(data: bytes) -> str:
    end = 0
    while end < len(data) and 0x20 <= data[end] < 0x7F:
        end += 1
    return data[:end].decode("ascii").strip()
