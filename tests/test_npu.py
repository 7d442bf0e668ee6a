"""The NPU backend: quantisation and layout, and the RKNN binding against a stand-in runtime.

The stand-in (tests/rknn_standin/rknn_standin.c) is compiled here with gcc. Its
structures are written from rknn_api.h independently of device/rknn_api.py; it checks
the sizes and fields it receives and computes a known integer function of its inputs, so
the predictions can be checked against an independent NumPy computation below. The
device side is plain Python (the board has no numpy); tests/quant_numpy_reference.py is
its former NumPy implementation, kept to show both give the same bytes and values.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import quant_numpy_reference as reference
import rknn_abi
from device_python import run_python
from numpy.testing import assert_array_equal
from rknn_abi import ABI_ARMHF, ABI_I386, ABI_X86_64, struct_layout
from standin_npu import FLAG_INT16, toolkit_field

from device import npu, quant, rknn_api
from device.errors import ConfigError, DeviceError
from device.features import CHANNELS, SEQUENCE_SHAPE, STATISTICS_SHAPE
from device.inference import ModelError, load_model
from device.labels import DEFAULT_MAPPING
from device.npu import (
    InputError,
    ModelFileError,
    ModelHashError,
    NpuError,
    RknnCallError,
    RknnModel,
    RuntimeLibraryError,
)
from device.quant import TensorLayout
from device.rknn_api import CTYPES_STRUCTS, STRUCTS

STANDIN_SOURCE = Path(__file__).parent / "rknn_standin" / "rknn_standin.c"

# rknn_tensor_format values (rknn_api.h), for writing stand-in models.
NCHW, NHWC, UNDEFINED = 0, 1, 3


# ------------------------------------------------------------------------------------
# Building and driving the stand-in.
# ------------------------------------------------------------------------------------


def build_standin(out_dir: Path, *defines: str) -> Path:
    """The stand-in runtime built with ``defines`` (e.g. ``STANDIN_VERSION="1.6.0"``)."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is not installed: cannot build the stand-in RKNN runtime")
    out_dir.mkdir(parents=True, exist_ok=True)
    lib = out_dir / "librknnmrt.so"
    cmd = [gcc, "-std=c11", "-O1", "-Wall", "-Wextra", "-shared", "-fPIC"]
    cmd += [f"-D{d}" for d in defines] + ["-o", str(lib), str(STANDIN_SOURCE)]
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120)
    return lib


@pytest.fixture(scope="module")
def standin(tmp_path_factory) -> Path:
    return build_standin(tmp_path_factory.mktemp("standin"))


@pytest.fixture(scope="module")
def moved_standin(tmp_path_factory) -> Path:
    return build_standin(tmp_path_factory.mktemp("standin_moved"), "STANDIN_MOVE_FIELD")


def debug_api(path: Path) -> ctypes.CDLL:
    lib = ctypes.CDLL(str(path))
    for name in ("standin_sizeof", "standin_offsetof", "standin_fieldsize"):
        getattr(lib, name).restype = ctypes.c_int32
    lib.standin_sizeof.argtypes = [ctypes.c_char_p]
    lib.standin_offsetof.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    lib.standin_fieldsize.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    lib.standin_last_error.restype = ctypes.c_char_p
    return lib


def standin_layout(lib: ctypes.CDLL, name: str) -> rknn_abi.StructLayout:
    fields = {
        f: (
            lib.standin_offsetof(name.encode(), f.encode()),
            lib.standin_fieldsize(name.encode(), f.encode()),
        )
        for f, _, _ in STRUCTS[name]
    }
    return rknn_abi.StructLayout(size=lib.standin_sizeof(name.encode()), alignment=0, fields=fields)


def ctypes_layout(name: str) -> rknn_abi.StructLayout:
    cls = CTYPES_STRUCTS[name]
    fields = {f: (getattr(cls, f).offset, getattr(cls, f).size) for f, _, _ in STRUCTS[name]}
    return rknn_abi.StructLayout(size=ctypes.sizeof(cls), alignment=0, fields=fields)


# ------------------------------------------------------------------------------------
# Stand-in models and the independent computation of their output.
# ------------------------------------------------------------------------------------


@dataclass
class Tensor:
    name: str
    fmt: int
    dims: tuple[int, ...]
    zp: int
    scale: float
    w_stride: int = 0
    size_with_stride: int = 0

    def pack(self) -> bytes:
        dims = list(self.dims) + [0] * (4 - len(self.dims))
        return struct.pack(
            "<32sII4IIIif",
            self.name.encode(),
            self.fmt,
            len(self.dims),
            *dims,
            self.w_stride,
            self.size_with_stride,
            self.zp,
            self.scale,
        )


_T, _C = SEQUENCE_SHAPE  # 100 samples of 12 channels
SEQUENCE_LAYOUTS = {
    # (1, 1, 100, 12) NHWC: rows of 100 padded to 112 samples.
    "nhwc": Tensor("sequence", NHWC, (1, 1, _T, _C), -3, 0.05, 112, 112 * _C),
    # (1, 12, 1, 100) NCHW: channel planes, rows padded to 112, 64 spare bytes at the end.
    "nchw": Tensor("sequence", NCHW, (1, _C, 1, _T), -3, 0.05, 112, 112 * _C + 64),
    # (1, 100, 12) as the runtime gives 3-D tensors: C order, 16 bytes of padding.
    "plain": Tensor("sequence", UNDEFINED, (1, _T, _C), -3, 0.05, 0, _T * _C + 16),
}


@dataclass
class StandinModel:
    inputs: list[Tensor]
    output: Tensor
    seed: int = 1
    divisor: int = 211
    #: The (pretend) rknn-toolkit2 that made it, "2.3.2"; None: any runtime takes it.
    toolkit: str | None = None
    flags: int = 0  # standin_npu.FLAG_INT16: has int16 layers
    weight: np.ndarray = field(init=False)
    bias: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        n_in = sum(int(np.prod(t.dims)) for t in self.inputs)
        n_out = int(np.prod(self.output.dims))
        self.weight = rng.integers(-20, 21, size=(n_out, n_in), dtype=np.int64)
        # Centred on the output's zero point, so that outputs spread over the int8 range.
        centre = -self.output.zp * self.divisor
        self.bias = centre + rng.integers(-3000, 3001, size=n_out, dtype=np.int64)

    def blob(self) -> bytes:
        tensors = [*self.inputs, self.output]
        made_by = toolkit_field(self.toolkit) if self.toolkit else 0
        head = b"RKSTANDN" + struct.pack("<IIIHH", 1, len(self.inputs), 1, made_by, self.flags)
        body = b"".join(t.pack() for t in tensors)
        tail = struct.pack(f"<i{len(self.bias)}i", self.divisor, *self.bias.tolist())
        return head + body + tail + self.weight.astype(np.int8).tobytes()

    def write(self, path: Path) -> Path:
        path.write_bytes(self.blob())
        return path

    def expected(self, *inputs: np.ndarray) -> np.ndarray:
        """The stand-in's output for float inputs, computed here from the definitions."""
        centred = []
        for tensor, x in zip(self.inputs, inputs):
            scale = float(np.float32(tensor.scale))
            q = np.clip(np.rint(np.asarray(x, float) / scale) + tensor.zp, -128, 127)
            centred.append(q.astype(np.int64).ravel() - tensor.zp)
        acc = self.bias + self.weight @ np.concatenate(centred)
        half = self.divisor // 2
        rounded = np.where(acc >= 0, (acc + half) // self.divisor, -((-acc + half) // self.divisor))
        q_out = np.clip(self.output.zp + rounded, -128, 127)
        return (q_out - self.output.zp) * float(np.float32(self.output.scale))


def fusion_model(
    sequence: str = "nhwc",
    statistics_dims=(1, STATISTICS_SHAPE[0]),
    seed: int = 1,
    toolkit: str | None = None,
    flags: int = 0,
) -> StandinModel:
    return StandinModel(
        inputs=[
            SEQUENCE_LAYOUTS[sequence],
            Tensor("statistics", UNDEFINED, statistics_dims, 5, 0.1, 0, STATISTICS_SHAPE[0] + 4),
        ],
        output=Tensor("probabilities", UNDEFINED, (1, 5), -128, 1 / 256, 0, 16),
        seed=seed,
        toolkit=toolkit,
        flags=flags,
    )


def features(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(0, 2.0, size=SEQUENCE_SHAPE), rng.normal(0, 4.0, size=STATISTICS_SHAPE)


# ------------------------------------------------------------------------------------
# Pure functions: quantisation.
# ------------------------------------------------------------------------------------


def test_quantize_round_trip_within_half_a_step():
    x = np.linspace(-3.0, 3.0, 101)
    q = quant.quantize(x, 0.05, -3)
    assert isinstance(q, list) and all(type(v) is int for v in q)
    assert np.max(np.abs(np.asarray(quant.dequantize(q, 0.05, -3)) - x)) <= 0.025 + 1e-12
    assert quant.quantize(quant.dequantize(q, 0.05, -3), 0.05, -3) == q
    assert all(type(v) is float for v in quant.dequantize(q, 0.05, -3))


def test_quantize_saturates_at_int8_limits():
    q = quant.quantize([-1e9, -np.inf, -6.45, 6.35, 6.4, 1e9, np.inf], 0.05, 0)
    assert q == [-128, -128, -128, 127, 127, 127, 127]
    assert quant.quantize([300.0, -300.0], 1.0, 0, dtype="uint8") == [255, 0]
    assert quant.quantize([1e300, -1e300, 40000.0], 1e-300, 0, dtype="int16") == [
        32767,
        -32768,
        32767,
    ]  # x / scale overflows to ±inf: still saturates


def test_zero_point_represents_zero_and_shifts_everything():
    assert quant.quantize(0.0, 0.1, 17) == 17
    assert quant.quantize([0.2, -0.2], 0.1, 17) == [19, 15]
    assert quant.dequantize(np.int8(17), 0.1, 17) == 0.0
    assert quant.dequantize(17, 0.1, 17) == 0.0
    # The zero point narrows one side: with zp = 100 only 27 steps remain above zero.
    assert quant.quantize(10.0, 0.1, 100) == 127
    assert quant.quantize(-10.0, 0.1, 100) == 0


def test_rounding_is_half_to_even_before_the_zero_point():
    assert quant.quantize([0.5, 1.5, 2.5, -0.5, -1.5], 1.0, 0) == [0, 2, 2, 0, -2]
    assert quant.quantize([0.5, 1.5], 1.0, 1) == [1, 3]
    # At the limits: 126.5 rounds to 126 (even), 127.5 saturates; -128.5 too.
    assert quant.quantize([126.5, 127.5, -127.5, -128.5], 1.0, 0) == [126, 127, -128, -128]


def test_quantize_accepts_nested_sequences_and_arrays_and_flattens_them():
    rows = [[0.1, 0.2], (0.3, -0.1)]
    assert quant.quantize(rows, 0.1, 0) == [1, 2, 3, -1]
    assert quant.quantize(np.array(rows, dtype=np.float32), 0.1, 0) == [1, 2, 3, -1]
    assert quant.dequantize([[1, 2], [3, 4]], 0.5, 1) == [0.0, 0.5, 1.0, 1.5]


def test_quantize_rejects_bad_parameters():
    with pytest.raises(ValueError, match="NaN"):
        quant.quantize([0.0, np.nan], 0.1, 0)
    with pytest.raises(ValueError, match="scale"):
        quant.quantize([0.0], 0.0, 0)
    with pytest.raises(ValueError, match=r"zero_point 200 is outside the int8 range"):
        quant.quantize([0.0], 0.1, 200)
    with pytest.raises(ValueError, match="one of"):
        quant.quantize([0.0], 0.1, 0, dtype="float32")
    with pytest.raises(ValueError, match=r"one of \['int16', 'int8', 'uint8'\]"):
        quant.quantize([0.0], 0.1, 0, dtype=np.int8)  # names, not numpy types


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int16"])
def test_quantize_equals_numpy_rint_clip_on_random_values_and_ties(dtype):
    rng = np.random.default_rng(5)
    scale, zero_point = (0.05, 3) if dtype != "uint8" else (0.05, 128)
    info = np.iinfo(dtype)
    x = np.concatenate(
        [
            rng.normal(0, 2.0, 2000) * (300 if dtype == "int16" else 1),
            (np.arange(-300, 300) + 0.5) * scale,  # exact halves (as far as floats go)
            np.arange(-300, 300) * scale,
            [np.inf, -np.inf, 1e300, -1e300, 0.0, -0.0],
        ]
    )
    with np.errstate(over="ignore", invalid="ignore"):
        expected = np.clip(np.rint(x / scale) + zero_point, info.min, info.max).astype(dtype)
    assert quant.quantize(x.tolist(), scale, zero_point, dtype) == expected.tolist()
    back = quant.dequantize(expected.tolist(), scale, zero_point)
    assert back == ((expected.astype(np.float64) - zero_point) * scale).tolist()


def test_flatten_checks_shape_and_finiteness():
    rows = [[float(8 * i + j) for j in range(8)] for i in range(100)]
    flat = quant.flatten(rows, (100, 8), name="sequence")
    assert flat == list(map(float, range(800))) and all(type(v) is float for v in flat)
    assert quant.flatten([rows], (100, 8)) == flat
    assert quant.flatten(np.arange(800.0).reshape(1, 100, 8), (100, 8)) == flat
    assert quant.flatten(tuple(range(40)), (40,)) == list(map(float, range(40)))
    expected = r"s must have shape \(100, 8\) or \(1, 100, 8\), got \(99, 8\)"
    with pytest.raises(ValueError, match=expected):
        quant.flatten(rows[:99], (100, 8), name="s")
    ragged = [*rows[:50], rows[50][:7], *rows[51:]]
    with pytest.raises(ValueError, match=r"got \(100, 8\) with rows of other lengths"):
        quant.flatten(ragged, (100, 8))
    with pytest.raises(ValueError, match=r"got \(100,\)"):
        quant.flatten(list(range(100)), (100, 8))
    with pytest.raises(ValueError, match=r"with rows of other lengths"):
        quant.flatten([*range(39), [1.0]], (40,))
    with pytest.raises(ValueError, match=r"st has 2 non-finite value\(s\)"):
        quant.flatten([np.nan, *range(38), -np.inf], (40,), name="st")
    big = [1e308] * 40  # the sum overflows; the values are finite
    assert quant.flatten(big, (40,)) == big


# ------------------------------------------------------------------------------------
# Pure functions: layout.
# ------------------------------------------------------------------------------------


def test_nhwc_rows_are_padded_to_w_stride_with_the_zero_point():
    layout = TensorLayout((1, 2, 3, 2), "NHWC", "int8", zero_point=-7, w_stride=4)
    values = [[[2 * t, 2 * t + 1] for t in range(6)]]  # (batch, time, channel)
    native = quant.to_native(values, layout)
    assert isinstance(native, bytes) and len(native) == layout.buffer_bytes() == 16
    rows = np.frombuffer(native, np.int8).reshape(1, 2, 4, 2)
    assert_array_equal(rows[:, :, :3, :].reshape(1, 6, 2), values)
    assert (rows[:, :, 3, :] == -7).all()
    assert quant.from_native(native, layout) == list(range(12))


def test_nchw_moves_channels_first_and_pads_rows():
    layout = TensorLayout((1, 2, 1, 3), "NCHW", "int8", w_stride=5, size_with_stride=12)
    values = [[[1, 10], [2, 20], [3, 30]]]  # 3 samples × 2 channels
    native = quant.to_native(values, layout)
    assert list(native) == [1, 2, 3, 0, 0, 10, 20, 30, 0, 0, 0, 0]
    assert quant.from_native(native, layout) == [1, 10, 2, 20, 3, 30]
    assert quant.from_native(bytearray(native), layout) == [1, 10, 2, 20, 3, 30]
    with pytest.raises(ValueError, match="2 channels"):
        quant.to_native([[1, 10, 2], [20, 3, 30]], layout)
    with pytest.raises(ValueError, match="2 channels"):
        quant.encode([[0.1, 1.0, 0.2], [2.0, 0.3, 3.0]], layout)


def test_other_ranks_are_c_order_with_tail_padding():
    layout = TensorLayout((1, 5), "UNDEFINED", "int8", zero_point=3, size_with_stride=8)
    native = quant.to_native(range(5), layout)
    assert list(native) == [0, 1, 2, 3, 4, 3, 3, 3]
    assert quant.from_native(b"\x01\x02\x03\x04\x05\x7f\x7f\x7f", layout) == [1, 2, 3, 4, 5]


def test_int16_layout_is_two_bytes_per_element_in_native_order_with_padding():
    layout = TensorLayout((1, 1, 3, 2), "NHWC", "int16", 0.5, -300, w_stride=4, size_with_stride=20)
    native = quant.encode([[[1.0, -1.0], [1000.0, -1e9], [0.25, 0.75]]], layout)
    assert len(native) == 20
    words = struct.unpack(f"={len(native) // 2}h", native)
    assert words == (-298, -302, 1700, -32768, -300, -298, -300, -300, -300, -300)
    assert quant.decode(native, layout) == [1.0, -1.0, 1000.0, -16234.0, 0.0, 1.0]


def test_encode_decode_round_trip_through_a_padded_layout():
    layout = TensorLayout((1, 1, 100, 8), "NHWC", "int8", 0.05, -3, 112, 896)
    x = np.random.default_rng(3).normal(0, 1, size=(1, 100, 8))
    payload = quant.encode(x.tolist(), layout)
    assert len(payload) == 896
    back = np.asarray(quant.decode(payload, layout)).reshape(1, 100, 8)
    assert np.max(np.abs(back - x)) <= 0.025 + 1e-12


def test_float_layouts_are_written_as_they_are():
    layout = TensorLayout((1, 3), "UNDEFINED", "float32", size_with_stride=16)
    payload = quant.encode([0.1, -2.0, 1e300], layout)
    assert payload == np.array([0.1, -2.0, np.inf, 0.0], np.float32).tobytes()
    assert quant.decode(payload, layout) == [float(np.float32(0.1)), -2.0, np.inf]
    half = TensorLayout((1, 3), "UNDEFINED", "float16")
    with np.errstate(over="ignore"):
        expected = np.array([0.1, 65519.0, -1e6], np.float16)  # too large: -inf
    assert quant.encode([0.1, 65519.0, -1e6], half) == expected.tobytes()


LAYOUT_CASES = {
    "int8 NHWC W padded, tail": TensorLayout((1, 2, 50, 8), "NHWC", "int8", 0.05, -3, 56, 950),
    "int8 NCHW W padded, tail": TensorLayout((1, 8, 1, 100), "NCHW", "int8", 0.05, -3, 112, 960),
    "int8 NCHW two rows": TensorLayout((1, 8, 4, 25), "NCHW", "int8", 0.07, 11, 32, 0),
    "uint8 NHWC": TensorLayout((1, 4, 25, 8), "NHWC", "uint8", 0.05, 128, 32, 0),
    "int8 3-D tail": TensorLayout((1, 100, 8), "UNDEFINED", "int8", 0.05, -3, 0, 816),
    "int16 NHWC W padded, tail": TensorLayout(
        (1, 2, 50, 8), "NHWC", "int16", 0.002, 7, 64, 2 * 2 * 64 * 8 + 6
    ),
    "int16 NCHW W padded, odd tail": TensorLayout(
        (1, 8, 2, 50), "NCHW", "int16", 0.002, -9, 52, 2 * 8 * 2 * 52 + 5
    ),
    "int16 statistics": TensorLayout((1, 40), "UNDEFINED", "int16", 0.001, 5, 0, 96),
    "int8 statistics": TensorLayout((1, 40), "UNDEFINED", "int8", 0.1, 5, 0, 48),
}


@pytest.mark.parametrize("name", sorted(LAYOUT_CASES))
def test_bytes_and_values_equal_the_numpy_reference(name):
    """Exact bytes, and exact dequantised values, against the former NumPy code."""
    layout = LAYOUT_CASES[name]
    rng = np.random.default_rng(sorted(LAYOUT_CASES).index(name))
    step = layout.scale
    x = rng.normal(0, 60 * step, size=layout.n_elems)
    half = layout.n_elems // 2
    x[:half] = (rng.integers(-200, 200, half) + 0.5) * step  # ties: rounding rules differ
    x[-4:] = [np.inf, -np.inf, 1e6, -1e6]  # saturation
    shape = (1, 100, 8) if layout.n_elems == 800 else (1, layout.n_elems)
    x = x.reshape(shape)
    payload = quant.encode(x.tolist(), layout)
    assert payload == reference.encode(x, layout)
    assert quant.encode(x, layout) == payload  # a host's array goes in as it is
    # Unpadded quantised values, arranged and read back.
    q = quant.quantize(x.tolist(), layout.scale, layout.zero_point, layout.dtype)
    assert quant.from_native(payload, layout) == q
    assert quant.to_native(q, layout) == payload
    # A buffer as the runtime might leave it: random bytes in the padding too.
    raw = rng.integers(0, 256, size=layout.buffer_bytes(), dtype=np.uint8).tobytes()
    assert quant.decode(raw, layout) == reference.decode(raw, layout).reshape(-1).tolist()
    assert (
        quant.to_native(quant.from_native(raw, layout), layout)
        == reference.to_native(reference.from_native(raw, layout), layout).tobytes()
    )


def test_inconsistent_or_unsupported_layouts_are_refused():
    with pytest.raises(ValueError, match="size_with_stride 100 bytes is smaller than the 896"):
        TensorLayout(
            (1, 1, 100, 8), "NHWC", "int8", w_stride=112, size_with_stride=100
        ).buffer_bytes()
    with pytest.raises(ValueError, match="w_stride 50 is smaller than the width 100"):
        TensorLayout((1, 1, 100, 8), "NHWC", "int8", w_stride=50).padded_shape()
    with pytest.raises(ValueError, match="NC1HWC2 is not supported"):
        TensorLayout((1, 1, 5, 1, 16), "NC1HWC2", "int8").buffer_bytes()
    with pytest.raises(ValueError, match="has 40 elements"):
        quant.to_native([0] * 39, TensorLayout((1, 40), "UNDEFINED", "int8"))
    with pytest.raises(ValueError, match="fmt must be one of"):
        TensorLayout((1, 40), "NWC", "int8")
    with pytest.raises(ValueError, match=r"value 200 is outside the int8 range"):
        quant.to_native([200] + [0] * 39, TensorLayout((1, 40), "UNDEFINED", "int8"))
    with pytest.raises(ValueError, match=r"values must be int8, got 0\.5"):
        quant.to_native([0.5] + [0] * 39, TensorLayout((1, 40), "UNDEFINED", "int8"))
    with pytest.raises(ValueError, match="buffer holds 39 elements, the layout needs 40"):
        quant.from_native(bytes(39), TensorLayout((1, 40), "UNDEFINED", "int8"))


def test_element_kinds_match_the_standard_library_sizes():
    from array import array

    for kind in [*quant.INTEGER_DTYPES.values(), *quant.FLOAT_DTYPES.values()]:
        assert struct.calcsize("=" + kind.typecode) == kind.itemsize
        if kind.typecode != "e":
            assert array(kind.typecode).itemsize == kind.itemsize
        if kind.is_integer:
            info = np.iinfo(kind.name)
            assert (kind.min, kind.max) == (info.min, info.max)
        assert np.dtype(kind.name).itemsize == kind.itemsize


# ------------------------------------------------------------------------------------
# Structure layouts: ctypes, the stand-in's C compiler, and the computed armhf ABI.
# ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(STRUCTS))
def test_ctypes_structures_match_the_standin_and_the_computed_host_layout(standin, name):
    lib = debug_api(standin)
    host = struct_layout(STRUCTS[name], rknn_abi.host_abi())
    assert ctypes_layout(name).fields == host.fields == standin_layout(lib, name).fields
    assert ctypes.sizeof(CTYPES_STRUCTS[name]) == host.size == lib.standin_sizeof(name.encode())
    assert ctypes.sizeof(rknn_api.RknnContext) == lib.standin_sizeof(b"rknn_context")


def test_armhf_layout_computed_from_the_header():
    """The board's layout (computed: no armhf compiler runs in this test suite)."""
    attr = struct_layout(rknn_api.TENSOR_ATTR_FIELDS, ABI_ARMHF)
    assert attr.size == 376
    offsets = {f: attr.offset(f) for f in attr.fields}
    assert offsets == {
        "index": 0,
        "n_dims": 4,
        "dims": 8,  # uint32_t[16]
        "name": 72,  # char[256]
        "n_elems": 328,
        "size": 332,
        "fmt": 336,  # enums: 4 bytes
        "type": 340,
        "qnt_type": 344,
        "fl": 348,  # int8_t, then 3 bytes of padding
        "zp": 352,
        "scale": 356,
        "w_stride": 360,
        "size_with_stride": 364,
        "pass_through": 368,  # uint8_t, then 3 bytes of padding
        "h_stride": 372,
    }
    mem = struct_layout(rknn_api.TENSOR_MEM_FIELDS, ABI_ARMHF)
    assert (mem.size, mem.alignment) == (40, 8)
    assert mem.fields == {
        "virt_addr": (0, 4),
        "phys_addr": (8, 8),  # 4 bytes of padding before it: uint64_t is 8-aligned on AAPCS
        "fd": (16, 4),
        "offset": (20, 4),
        "size": (24, 4),
        "flags": (28, 4),
        "priv_data": (32, 4),  # then 4 bytes of tail padding
    }
    assert struct_layout(rknn_api.INPUT_OUTPUT_NUM_FIELDS, ABI_ARMHF).size == 8
    assert struct_layout((("ctx", "context", 1),), ABI_ARMHF).size == 4
    # The same header on x86-64, and on an ABI with 4-byte-aligned uint64_t, for contrast.
    assert struct_layout(rknn_api.TENSOR_MEM_FIELDS, ABI_X86_64).fields["priv_data"] == (32, 8)
    assert struct_layout(rknn_api.TENSOR_MEM_FIELDS, ABI_I386).size == 32
    assert struct_layout(rknn_api.TENSOR_ATTR_FIELDS, ABI_X86_64).size == 376


def armhf_compiler() -> list[str] | None:
    cc = os.environ.get("RKNN_ARMHF_CC") or shutil.which("arm-linux-gnueabihf-gcc")
    return cc.split() if cc else None


@pytest.mark.skipif(
    armhf_compiler() is None,
    reason="no armhf cross compiler (set RKNN_ARMHF_CC or apt-get install "
    "gcc-arm-linux-gnueabihf); "
    "the armhf layout is checked by computation in test_armhf_layout_computed_from_the_header",
)
def test_armhf_layout_agrees_with_a_cross_compiler(tmp_path):
    lines = [f'#include "{STANDIN_SOURCE}"', '_Static_assert(sizeof(void *) == 4, "ILP32");']
    lines.append(
        f"_Static_assert(sizeof(rknn_context) == "
        f"{struct_layout((('c', 'context', 1),), ABI_ARMHF).size}, \"rknn_context\");"
    )
    for name, fields in STRUCTS.items():
        layout = struct_layout(fields, ABI_ARMHF)
        lines.append(f'_Static_assert(sizeof({name}) == {layout.size}, "{name}");')
        for f, (offset, _) in layout.fields.items():
            lines.append(f'_Static_assert(offsetof({name}, {f}) == {offset}, "{name}.{f}");')
    probe = tmp_path / "armhf_probe.c"
    probe.write_text("\n".join(lines) + "\n")
    cmd = [*armhf_compiler(), "-DSTANDIN_LAYOUT_ONLY", "-std=c11", "-ffreestanding"]
    result = subprocess.run(
        [*cmd, "-S", "-o", os.devnull, str(probe)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


def test_context_is_uint32_only_on_32_bit_arm():
    assert rknn_api.context_is_uint32("armv7l", 4)
    assert rknn_api.context_is_uint32("aarch64", 4)  # 32-bit userland on a 64-bit kernel
    assert not rknn_api.context_is_uint32("aarch64", 8)
    assert not rknn_api.context_is_uint32("x86_64", 8)
    assert not rknn_api.context_is_uint32("i686", 4)


# ------------------------------------------------------------------------------------
# The binding against the stand-in.
# ------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", sorted(SEQUENCE_LAYOUTS))
def test_predictions_equal_the_independent_computation(standin, tmp_path, layout):
    spec = fusion_model(layout)
    path = spec.write(tmp_path / "fusion.rknn")
    lib = debug_api(standin)
    runs = lib.standin_runs()
    with RknnModel(path, library=standin) as model:
        assert model.input_layouts["sequence"].dims == spec.inputs[0].dims
        for seed in range(3):
            sequence, statistics = features(seed)
            expected = spec.expected(sequence, statistics)
            assert len(np.unique(expected)) > 2  # not everything saturated
            got = model.predict(sequence.tolist(), statistics.tolist())
            assert isinstance(got, tuple) and all(type(p) is float for p in got)
            assert got == tuple(expected.tolist())
            assert model.predict(sequence[None], statistics[None]) == got  # arrays too
            rows = [tuple(r) for r in sequence.tolist()]
            assert model.predict([rows], tuple(statistics.tolist())) == got
    assert lib.standin_runs() - runs == 9


def test_a_prediction_in_steps_is_the_prediction_and_runs_the_npu_at_its_last_step(
    standin, tmp_path
):
    # The app runs a prediction in steps between ADC conversions (device/app.py): each
    # step does part of the work, the NPU runs once, at the last, and the result is
    # predict()'s.
    spec = fusion_model(sorted(SEQUENCE_LAYOUTS)[0])
    path = spec.write(tmp_path / "fusion.rknn")
    lib = debug_api(standin)
    sequence, statistics = features(1)
    with RknnModel(path, library=standin) as model:
        whole = model.predict(sequence.tolist(), statistics.tolist())
        steps = model.predict_in_steps(sequence.tolist(), statistics.tolist())
        runs = lib.standin_runs()
        for _ in range(4):  # each input checked, then quantised into its tensor
            assert next(steps) is None
        assert lib.standin_runs() == runs
        with pytest.raises(StopIteration) as done:
            next(steps)
        assert lib.standin_runs() == runs + 1
        assert done.value.value == whole
        # Bad input is refused at the first step, as predict() refuses it.
        with pytest.raises(InputError):
            next(model.predict_in_steps(sequence[:50].tolist(), statistics.tolist()))


@pytest.mark.parametrize("layout", sorted(SEQUENCE_LAYOUTS))
def test_predictions_equal_the_former_numpy_path(standin, tmp_path, layout, monkeypatch):
    """The numpy-free predict and the NumPy one it replaced give identical outputs."""
    path = fusion_model(layout, seed=4).write(tmp_path / "fusion.rknn")
    windows = [features(seed) for seed in range(5)]
    with RknnModel(path, library=standin) as model:
        new = [model.predict(s.tolist(), t.tolist()) for s, t in windows]
        monkeypatch.setattr(RknnModel, "_checked", staticmethod(reference.checked))
        monkeypatch.setattr(quant, "encode", reference.encode)
        monkeypatch.setattr(quant, "decode", lambda b, lay: reference.decode(b, lay).reshape(-1))
        old = [model.predict(s, t) for s, t in windows]
    assert new == [tuple(o) for o in old]
    assert len({p for probs in new for p in probs}) > 5


def test_inputs_are_not_modified(standin, tmp_path):
    path = fusion_model().write(tmp_path / "fusion.rknn")
    sequence, statistics = features()
    before = sequence.copy(), statistics.copy()
    with RknnModel(path, library=standin) as model:
        model.predict(sequence, statistics)
    assert_array_equal(sequence, before[0])
    assert_array_equal(statistics, before[1])


def test_close_frees_everything_and_is_safe_twice(standin, tmp_path):
    lib = debug_api(standin)
    mems, contexts = lib.standin_live_mems(), lib.standin_live_contexts()
    model = RknnModel(fusion_model().write(tmp_path / "fusion.rknn"), library=standin)
    assert (lib.standin_live_mems() - mems, lib.standin_live_contexts() - contexts) == (3, 1)
    model.close()
    model.close()
    assert (lib.standin_live_mems(), lib.standin_live_contexts()) == (mems, contexts)
    assert model.closed
    with pytest.raises(NpuError, match="is closed"):
        model.predict(*features())


def test_library_missing(tmp_path):
    path = fusion_model().write(tmp_path / "fusion.rknn")
    missing = tmp_path / "sdk" / "librknnmrt.so"
    with pytest.raises(RuntimeLibraryError) as info:
        RknnModel(path, library=missing)
    message = str(info.value)
    assert str(missing) in message and "Luckfox" in message and "/oem/usr/lib" in message
    assert isinstance(info.value, OSError) and isinstance(info.value, DeviceError)
    with pytest.raises(RuntimeLibraryError, match=r"/oem/usr/lib/librknnmrt_absent\.so"):
        RknnModel(path, library="librknnmrt_absent.so")


def test_library_without_the_api(tmp_path):
    gcc = shutil.which("gcc") or pytest.skip("gcc is not installed")
    source = tmp_path / "other.c"
    source.write_text("int something_else(void) { return 0; }\n")
    lib = tmp_path / "libother.so"
    subprocess.run([gcc, "-shared", "-fPIC", "-o", str(lib), str(source)], check=True)
    with pytest.raises(RuntimeLibraryError, match="has no function rknn_init"):
        RknnModel(fusion_model().write(tmp_path / "fusion.rknn"), library=lib)


def test_model_file_missing(standin, tmp_path):
    with pytest.raises(ModelFileError, match=r"model file .*nothing\.rknn not found"):
        RknnModel(tmp_path / "nothing.rknn", library=standin)


def test_model_hash_checked_against_the_expected_one(standin, tmp_path):
    path = fusion_model().write(tmp_path / "fusion.rknn")
    good = hashlib.sha256(path.read_bytes()).hexdigest()
    with RknnModel(path, library=standin, expected_sha256=good.upper()) as model:
        assert len(model.predict(*features())) == 5
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01  # one flipped bit in the weights
    path.write_bytes(bytes(data))
    bad = hashlib.sha256(bytes(data)).hexdigest()
    with pytest.raises(ModelHashError) as info:
        RknnModel(path, library=standin, expected_sha256=good)
    assert str(path) in str(info.value) and good in str(info.value) and bad in str(info.value)
    with pytest.raises(ConfigError, match="64 hexadecimal digits"):
        RknnModel(path, library=standin, expected_sha256="abc")


def test_corrupt_model_is_refused_by_the_runtime(standin, tmp_path):
    path = tmp_path / "fusion.rknn"
    path.write_bytes(b"RKNN" + bytes(200))
    with pytest.raises(RknnCallError) as info:
        RknnModel(path, library=standin)
    assert info.value.function == "rknn_init" and info.value.code == -6
    assert "RKNN_ERR_MODEL_INVALID" in str(info.value) and str(path) in str(info.value)


def test_bundle_reads_the_hash_from_model_json(standin, tmp_path):
    fusion_model().write(tmp_path / "fusion.rknn")
    sha = hashlib.sha256((tmp_path / "fusion.rknn").read_bytes()).hexdigest()
    (tmp_path / "model.json").write_text(
        json.dumps({"artefacts": {"fusion.rknn": {"sha256": sha}}})
    )
    with RknnModel.from_bundle(tmp_path, library=standin) as model:
        assert len(model.predict(*features())) == 5
    (tmp_path / "model.json").write_text(json.dumps({"artefacts": {"fusion.rknn": "0" * 64}}))
    with pytest.raises(ModelHashError, match="0" * 64):
        RknnModel.from_bundle(tmp_path, library=standin)
    (tmp_path / "model.json").write_text(json.dumps({"artefacts": {}}))
    with pytest.raises(ModelFileError, match=r"model\.json records no SHA-256 for fusion\.rknn"):
        RknnModel.from_bundle(tmp_path, library=standin)


def test_wrong_input_shapes_and_values(standin, tmp_path):
    sequence, statistics = features()
    with RknnModel(fusion_model().write(tmp_path / "fusion.rknn"), library=standin) as model:
        expected = r"sequence must have shape \(100, 12\) or \(1, 100, 12\), got \(99, 12\)"
        with pytest.raises(InputError, match=expected):
            model.predict(sequence[:99], statistics)
        with pytest.raises(InputError, match=r"got \(12, 100\)"):
            model.predict(sequence.T, statistics)
        expected = r"statistics must have shape \(60,\) or \(1, 60\), got \(41,\)"
        with pytest.raises(InputError, match=expected):
            model.predict(sequence, np.zeros(41))
        rows = sequence.tolist()
        rows[7] = rows[7][:7]
        with pytest.raises(InputError, match=r"got \(100, 12\) with rows of other lengths"):
            model.predict(rows, statistics)
        statistics[3] = np.nan
        with pytest.raises(InputError, match="statistics has 1 non-finite"):
            model.predict(sequence, statistics)
        with pytest.raises(InputError, match="sequence has 1 non-finite"):
            model.predict([*sequence.tolist()[:99], [0.0] * 11 + [np.inf]], statistics)
    assert issubclass(InputError, ValueError)


def test_model_whose_inputs_do_not_fit_the_device(standin, tmp_path):
    path = fusion_model(statistics_dims=(1, 39)).write(tmp_path / "fusion.rknn")
    with pytest.raises(NpuError, match="one input of 60 elements for the statistics"):
        RknnModel(path, library=standin)


def test_standin_checks_struct_sizes_and_context_width(standin, tmp_path):
    """The stand-in refuses what a careless binding would send."""
    lib = ctypes.CDLL(str(standin))
    ctx = rknn_api.RknnContext(0)
    blob = fusion_model().blob()
    assert lib.rknn_init(ctypes.byref(ctx), blob, len(blob), 0, None) == 0
    try:
        attr = rknn_api.RknnTensorAttr()
        query = lib.rknn_query
        query.argtypes = [rknn_api.RknnContext, ctypes.c_int, ctypes.c_void_p, ctypes.c_uint32]
        size = ctypes.sizeof(attr)
        assert query(ctx, rknn_api.RKNN_QUERY_NATIVE_INPUT_ATTR, ctypes.byref(attr), size) == 0
        assert query(ctx, rknn_api.RKNN_QUERY_NATIVE_INPUT_ATTR, ctypes.byref(attr), size - 4) == -5
        if ctypes.sizeof(ctx) == 8:  # a handle cut to 32 bits is not the context
            assert query(ctx.value & 0xFFFFFFFF, 0, ctypes.byref(attr), size) == -7
    finally:
        lib.rknn_destroy.argtypes = [rknn_api.RknnContext]
        assert lib.rknn_destroy(ctx) == 0


def test_binding_fails_when_a_field_is_moved(moved_standin, tmp_path):
    """A stand-in built with size_with_stride moved up must not work with the binding."""
    lib = debug_api(moved_standin)
    # The layout comparison names the moved field...
    moved = standin_layout(lib, "rknn_tensor_attr").fields
    ours = ctypes_layout("rknn_tensor_attr").fields
    shifted = {"size_with_stride", "fmt", "type", "qnt_type", "fl", "zp", "scale", "w_stride"}
    assert {f for f in ours if ours[f] != moved[f]} == shifted
    # ... and the binding itself fails: it reads size_with_stride where the runtime put
    # w_stride, asks for too small a buffer, and rknn_set_io_mem refuses it.
    path = fusion_model().write(tmp_path / "fusion.rknn")
    live, contexts = lib.standin_live_mems(), lib.standin_live_contexts()
    with pytest.raises(RknnCallError) as info:
        RknnModel(path, library=moved_standin)
    assert info.value.function == "rknn_set_io_mem" and info.value.code == -5
    assert isinstance(info.value, NpuError)
    assert b"buffer of 112 bytes, size_with_stride is 1344" in lib.standin_last_error()
    assert lib.standin_live_mems() == live and lib.standin_live_contexts() == contexts


# ------------------------------------------------------------------------------------
# The board has no numpy.
# ------------------------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[1]

#: Run in a fresh interpreter: numpy cannot be imported; prints what happened as JSON.
_WITHOUT_NUMPY = """
import importlib, importlib.abc, json, sys

class NoNumpy(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] != "numpy":
            return None
        frame = sys._getframe(1)
        while frame is not None and frame.f_globals.get("__name__", "").startswith(
            ("importlib", "_frozen_importlib")
        ):
            frame = frame.f_back
        importer = frame.f_globals.get("__name__") if frame is not None else None
        raise ImportError(f"numpy is not on the board (imported by {importer})", name=importer)

sys.meta_path.insert(0, NoNumpy())
try:
    importlib.import_module(sys.argv[1])
except ImportError as exc:
    print(json.dumps({"error": str(exc), "importer": exc.name}))
    raise SystemExit
report = {"error": None}
if len(sys.argv) > 2:  # a prediction on the stand-in runtime, as the board makes it
    job = json.loads(sys.argv[2])
    from device.npu import RknnModel

    with RknnModel(job["model"], library=job["library"]) as model:
        report["probabilities"] = model.predict(job["sequence"], job["statistics"])
report["numpy"] = sorted(m for m in sys.modules if "numpy" in m)
print(json.dumps(report))
"""


def without_numpy(module: str, *job: str) -> dict:
    """Import ``module`` (and run ``job``) in a fresh interpreter that has no numpy."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-c", _WITHOUT_NUMPY, module, *job],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["error"] is None, report["error"]
    assert report["numpy"] == []
    return report


@pytest.mark.parametrize(
    "module", ["device.quant", "device.rknn_api", "device.npu", "device.inference"]
)
def test_imports_where_numpy_cannot_be_imported(module):
    without_numpy(module)


def test_predicts_where_numpy_cannot_be_imported(standin, tmp_path):
    spec = fusion_model("nchw", seed=6)
    path = spec.write(tmp_path / "fusion.rknn")
    sequence, statistics = features(9)
    job = {"model": str(path), "library": str(standin)}
    job.update(sequence=sequence.tolist(), statistics=statistics.tolist())
    report = without_numpy("device.npu", json.dumps(job))
    assert report["probabilities"] == spec.expected(sequence, statistics).tolist()


# ------------------------------------------------------------------------------------
# The runtime's version, a model it refuses, and the all-int8 fallback.
# ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def old_standin(tmp_path_factory) -> Path:
    """A runtime of another version than the models are made for (the Luckfox image's
    1.6.0 of early 2024)."""
    return build_standin(tmp_path_factory.mktemp("standin_160"), 'STANDIN_VERSION="1.6.0"')


@pytest.fixture(scope="module")
def int8_only_standin(tmp_path_factory) -> Path:
    """A 2.3.2 runtime that refuses models with int16 layers at rknn_init."""
    return build_standin(tmp_path_factory.mktemp("standin_int8"), "STANDIN_NO_INT16")


def test_the_runtime_reports_its_version_and_carries_it_in_its_file(standin, tmp_path):
    path = fusion_model(toolkit="2.3.2").write(tmp_path / "fusion.rknn")
    with RknnModel(path, library=standin, made_for="2.3.2", toolkit="2.3.2") as model:
        assert (model.runtime_version, model.driver_version) == ("2.3.2 (stand-in)", "0.9.8")
        assert len(model.predict(*features())) == 5
    assert rknn_api.version_in_library(standin) == "2.3.2 (stand-in, tests/rknn_standin)"
    assert rknn_api.library_path(str(standin)) == str(standin)


def test_version_in_library_reads_across_block_boundaries(tmp_path):
    lib = tmp_path / "librknnmrt.so"
    marker = b"librknnmrt version: 2.3.2 (429f97ae6b@2025-04-09T09:11:49)\x00"
    for at in range(0, 70, 7):  # the marker and the version split at every place
        lib.write_bytes(b"\x7fELF" + b"\x90" * at + marker + b"\xff" * 50)
        found = rknn_api.version_in_library(lib, chunk_bytes=16)
        assert found == "2.3.2 (429f97ae6b@2025-04-09T09:11:49)", at
    lib.write_bytes(b"\x7fELF\x00librknnrt version: 2.3.2\x00")  # another library's
    assert rknn_api.version_in_library(lib) is None
    assert rknn_api.version_in_library(tmp_path / "absent.so") is None


def test_versions_agree_in_major_and_minor():
    same = rknn_api.same_major_minor
    assert same("2.3.2 (429f97ae6b@2025-04-09T09:11:49)", "2.3.0")
    assert not same("2.5.0", "2.3.2") and not same("1.6.0 (2de554906@...)", "2.3.2")
    assert not same("", "2.3.2") and not same(None, "2.3.2") and not same("unknown", "unknown")
    assert rknn_api.major_minor("v2.10.1") == (2, 10)


def one_line(error: BaseException) -> str:
    text = str(error)
    assert "\n" not in text
    return text


def test_a_runtime_of_another_version_is_refused_in_one_line(old_standin, tmp_path):
    """A model the runtime reads, made for 2.3.2, on a 1.6.0 runtime: refused after the
    version query, with the model, its toolkit, the runtime's version and path, the fix."""
    path = fusion_model().write(tmp_path / "fusion.rknn")  # any runtime reads it
    lib = debug_api(old_standin)
    contexts = lib.standin_live_contexts()
    with pytest.raises(npu.RuntimeMismatchError) as info:
        RknnModel(path, library=old_standin, made_for="2.3.2", toolkit="2.3.2")
    text = one_line(info.value)
    for part in (
        f"model file {path} was made by rknn-toolkit2 2.3.2 for runtime 2.3.2",
        f"the NPU runtime is {old_standin} version 1.6.0 (stand-in) (driver 0.9.8)",
        "fix: put the matching librknnmrt.so on the board: ./deploy.sh --runtime-lib PATH",
    ):
        assert part in text
    assert lib.standin_live_contexts() == contexts  # the context was destroyed
    # A newer runtime than the model's is refused too; no recorded version: no check.
    with RknnModel(path, library=old_standin) as model:
        assert model.runtime_version == "1.6.0 (stand-in)"


def test_invalid_model_version_at_init_names_both_versions(old_standin, tmp_path, capfd):
    """A model made by a newer toolkit than the runtime: rknn_init refuses it, as boards
    do ("Invalid RKNN model version"); the runtime's version comes from its file."""
    path = fusion_model(toolkit="2.3.2").write(tmp_path / "fusion.rknn")
    with pytest.raises(npu.ModelRefusedError) as info:
        RknnModel(path, library=old_standin, made_for="2.3.2", toolkit="2.3.2")
    assert "Invalid RKNN model version" in capfd.readouterr().err  # the runtime's own log
    error = info.value
    assert isinstance(error, RknnCallError) and (error.function, error.code) == ("rknn_init", -6)
    text = one_line(error)
    for part in (
        f"rknn_init refused model file {path} (made by rknn-toolkit2 2.3.2 for runtime 2.3.2)",
        "-6 RKNN_ERR_MODEL_INVALID",
        f"the NPU runtime is {old_standin} version 1.6.0 (stand-in, tests/rknn_standin)",
        '("Invalid RKNN model version")',
        "./deploy.sh --runtime-lib PATH",
    ):
        assert part in text


def test_a_refused_model_of_the_runtimes_own_version_is_not_called_a_mismatch(
    int8_only_standin, tmp_path
):
    path = fusion_model(toolkit="2.3.2", flags=FLAG_INT16).write(tmp_path / "fusion.rknn")
    with pytest.raises(npu.ModelRefusedError) as info:
        RknnModel(path, library=int8_only_standin, made_for="2.3.2", toolkit="2.3.2")
    text = one_line(info.value)
    assert "the versions agree, so this runtime refuses the model itself" in text
    assert "--runtime-lib" not in text


def write_bundle(folder: Path, *, toolkit="2.3.2", runtime="2.3.2") -> dict[str, StandinModel]:
    """A bundle as host/convert.py writes it: the hybrid model (int16 layers) first, the
    all-int8 one second, each a different stand-in function so their outputs tell them
    apart; model.json with hashes and versions."""
    folder.mkdir(parents=True, exist_ok=True)
    specs = {
        "fusion.rknn": fusion_model(seed=11, toolkit=toolkit, flags=FLAG_INT16),
        "fusion_int8.rknn": fusion_model(seed=12, toolkit=toolkit),
    }
    for name, spec in specs.items():
        spec.write(folder / name)
    ident = {"seq_mean": [0.0] * _C, "seq_std": [1.0] * _C}
    ident.update(stats_mean=[0.0] * STATISTICS_SHAPE[0], stats_std=[1.0] * STATISTICS_SHAPE[0])
    meta = {
        "inputs": {"sequence": {"channels": list(CHANNELS)}},
        "classes": list(DEFAULT_MAPPING.names),
        "borg_mapping": DEFAULT_MAPPING.to_dict(),
        "normalisation": ident,
        "rknn": {"toolkit_version": toolkit, "runtime_version": runtime, "models": [*specs]},
        "artefacts": {
            name: {"sha256": hashlib.sha256((folder / name).read_bytes()).hexdigest()}
            for name in specs
        },
    }
    (folder / "model.json").write_text(json.dumps(meta))
    return specs


def test_the_hybrid_model_runs_when_the_runtime_takes_it(standin, tmp_path):
    specs = write_bundle(tmp_path / "models")
    notes: list[str] = []
    model = load_model(tmp_path / "models", backend="rknn", library=str(standin), note=notes.append)
    try:
        assert (model.backend_name, model.artefact, notes) == ("rknn", "fusion.rknn", [])
        sequence, statistics = features(2)
        expected = specs["fusion.rknn"].expected(sequence, statistics)
        assert model.predict(sequence, statistics) == tuple(expected.tolist())
    finally:
        model.close()


def test_falls_back_to_the_int8_model_with_one_note(int8_only_standin, tmp_path):
    specs = write_bundle(tmp_path / "models")
    notes: list[str] = []
    contexts = debug_api(int8_only_standin).standin_live_contexts()
    model = load_model(
        tmp_path / "models", backend="rknn", library=str(int8_only_standin), note=notes.append
    )
    try:
        assert model.artefact == "fusion_int8.rknn"
        sequence, statistics = features(3)
        expected = specs["fusion_int8.rknn"].expected(sequence, statistics)
        assert model.predict(sequence, statistics) == tuple(expected.tolist())
        assert tuple(expected) != tuple(specs["fusion.rknn"].expected(sequence, statistics))
    finally:
        model.close()
    assert len(notes) == 1 and "\n" not in notes[0]
    assert notes[0].startswith("fusion.rknn did not initialise (rknn_init refused model file")
    assert notes[0].endswith("; running fusion_int8.rknn instead")
    assert "the versions agree" in notes[0]
    assert debug_api(int8_only_standin).standin_live_contexts() == contexts  # none left


def test_a_version_mismatch_is_not_hidden_by_the_fallback(old_standin, standin, tmp_path):
    """Both models come from one toolkit: a runtime of another version refuses the
    bundle, in one line, without trying the int8 model or the ONNX backend."""
    write_bundle(tmp_path / "models")
    notes: list[str] = []
    for backend in ("rknn", "auto"):
        with pytest.raises(npu.ModelRefusedError) as info:
            load_model(
                tmp_path / "models", backend=backend, library=str(old_standin), note=notes.append
            )
        assert "./deploy.sh --runtime-lib PATH" in one_line(info.value)
    assert notes == []
    # Models any runtime reads, recorded as made for 2.5: refused after the query.
    write_bundle(tmp_path / "newer", toolkit="", runtime="2.5.0")
    with pytest.raises(npu.RuntimeMismatchError, match=r"runtime 2\.5\.0, but the NPU runtime"):
        load_model(tmp_path / "newer", backend="rknn", library=str(standin), note=notes.append)
    assert notes == []


def run_app_with(library: Path, tmp_path: Path):
    """``python -m device`` for 1 s on a stand-in bundle with ``library`` as the runtime (no
    board here: it stops at the hardware, after the model)."""
    write_bundle(tmp_path / "models")
    config = tmp_path / "wearable.toml"
    config.write_text(
        f'[model]\ndir = "{tmp_path / "models"}"\nbackend = "rknn"\n'
        f'library = "{library}"\n[recording]\nenabled = false\n'
    )
    return run_python("-m", "device", "--config", str(config), "--seconds", "1")


def test_the_app_prints_one_line_for_a_mismatch_and_exits(old_standin, tmp_path):
    result = run_app_with(old_standin, tmp_path)
    assert result.returncode == 2, result.stderr
    ours = [line for line in result.stderr.splitlines() if not line.startswith("rknn_standin:")]
    assert len(ours) == 1 and ours[0].startswith("error: rknn_init refused model file"), ours
    assert "1.6.0" in ours[0] and "./deploy.sh --runtime-lib PATH" in ours[0]


def test_the_app_says_which_model_runs_and_what_made_it(standin, tmp_path):
    write_bundle(tmp_path / "models")
    model = load_model(tmp_path / "models", backend="rknn", library=str(standin))
    model.meta["provenance"] = {"data": ["simulated"], "subjects": 50}
    try:
        line = model.describe()
    finally:
        model.close()
    assert line.startswith("model: fusion.rknn on rknn (")
    assert line.endswith(
        f"; data: simulated, 50 subjects; date unknown) from {tmp_path / 'models'}"
    )


def test_a_model_json_with_other_classes_than_the_model_is_refused_at_load(standin, tmp_path):
    # Issue 14, point 7: four class names beside a five-output network used to load and
    # fail at the first prediction, 20 s in. Both backends refuse it at load now.
    import shutil

    write_bundle(tmp_path / "rknn")
    meta = json.loads((tmp_path / "rknn/model.json").read_text())
    meta["classes"] = meta["classes"][:4]
    (tmp_path / "rknn/model.json").write_text(json.dumps(meta))
    with pytest.raises(NpuError, match="expects 4 class probabilities .* do not belong"):
        load_model(tmp_path / "rknn", backend="rknn", library=str(standin))

    onnx = tmp_path / "onnx"
    onnx.mkdir()
    shutil.copy(REPO / "models" / "fusion.onnx", onnx)
    meta = json.loads((REPO / "models" / "model.json").read_text())
    assert load_model(REPO / "models", backend="onnx").classes == tuple(meta["classes"])
    meta["classes"] = meta["classes"][:4]
    (onnx / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="outputs 5 class probabilities, but model.json lists 4"):
        load_model(onnx, backend="onnx")


def test_a_model_json_whose_input_channels_are_not_the_devices_is_refused_at_load(
    standin, tmp_path
):
    # Issue 14, point 2: the device computes device.features.CHANNELS, in that order, and
    # nothing else; a model.json listing its ΔOD inputs in another order (or not listing
    # them) used to load, and the model's d_od_750 input could get 870 nm light. Both
    # backends refuse it at load now, in one line naming the file and both lists.
    import shutil

    swapped = ["d_od_870", "d_od_810", "d_od_750", *CHANNELS[3:]]
    write_bundle(tmp_path / "rknn")
    meta_path = tmp_path / "rknn/model.json"
    meta = json.loads(meta_path.read_text())
    meta["inputs"]["sequence"]["channels"] = swapped
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ModelError) as info:
        load_model(tmp_path / "rknn", backend="rknn", library=str(standin))
    assert one_line(info.value) == (
        f"{meta_path}: lists inputs.sequence.channels {swapped!r}, but the device computes "
        f"{list(CHANNELS)!r} and no other channels: the model and this device do not belong "
        "together"
    )

    onnx = tmp_path / "onnx"
    onnx.mkdir()
    shutil.copy(REPO / "models" / "fusion.onnx", onnx)
    meta = json.loads((REPO / "models" / "model.json").read_text())
    assert meta["inputs"]["sequence"]["channels"] == list(CHANNELS)  # what train writes
    meta["inputs"]["sequence"]["channels"] = swapped
    (onnx / "model.json").write_text(json.dumps(meta))
    for backend in ("onnx", "auto"):
        with pytest.raises(ModelError, match=r"lists inputs.sequence.channels \['d_od_870'"):
            load_model(onnx, backend=backend, library=str(tmp_path / "no-runtime.so"))
    del meta["inputs"]
    (onnx / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError) as info:
        load_model(onnx, backend="onnx")
    assert one_line(info.value).startswith(
        f"{onnx / 'model.json'}: lists no inputs.sequence.channels, but the device computes "
    )


def test_a_model_json_not_of_this_device_is_refused_saying_why(tmp_path):
    # Issue 19 added the context channels: a model folder trained before them (8 channels,
    # 40 statistics) is refused by what it is, not by the size of its normalisation; a
    # model of another sample rate, or a model.json that is not an object, likewise.
    from device.features import SAMPLE_CHANNELS

    where = tmp_path / "model.json"

    def refusal(meta: object) -> str:
        where.write_text(json.dumps(meta))
        with pytest.raises(ModelError) as info:
            load_model(tmp_path, backend="onnx")
        return one_line(info.value)

    bundled = json.loads((REPO / "models" / "model.json").read_text())
    old = json.loads(json.dumps(bundled))
    old["inputs"]["sequence"]["channels"] = list(SAMPLE_CHANNELS)
    old["normalisation"] = {
        "seq_mean": [0.0] * 8,
        "seq_std": [1.0] * 8,
        "stats_mean": [0.0] * 40,
        "stats_std": [1.0] * 40,
    }
    assert refusal(old) == (
        f"{where}: a model of the seed's 8 channels, made before this device added its 4 "
        "context channels (issue 19): train one with this version (./dev host train), "
        "or run the version of the device the model was made with"
    )
    for rate in (20.0, "ten"):  # found by a breaker: host predict once ended in a traceback
        bundled["inputs"]["sequence"]["rate_hz"] = rate
        assert refusal(bundled).startswith(
            f"{where}: inputs.sequence.rate_hz is {rate!r}; the device's windows and context "
            "channels are made at 10 Hz"
        )
    for other, kind in (([1, 2], "list"), (3, "int"), ("x", "str")):
        assert refusal(other) == (
            f"{where}: holds a JSON {kind}, not the object of keys a model.json holds: copy "
            "the model folder again"
        )


def test_model_json_of_unexpected_shapes_is_refused_in_one_line_or_read(standin, tmp_path):
    # Found by trying: a version as a number, artefacts as a list, each once a traceback;
    # the digest written directly (a form model.json may hold) once refused by the app.
    def bundle(change) -> Path:
        folder = tmp_path / f"b{len(list(tmp_path.iterdir()))}"
        write_bundle(folder)
        meta = json.loads((folder / "model.json").read_text())
        change(meta)
        (folder / "model.json").write_text(json.dumps(meta))
        return folder

    def as_digest(meta):
        meta["artefacts"] = {k: v["sha256"] for k, v in meta["artefacts"].items()}

    model = load_model(bundle(as_digest), backend="rknn", library=str(standin))
    model.close()
    number = bundle(lambda meta: meta.setdefault("rknn", {}).update(runtime_version=2.3))
    with pytest.raises(ModelError, match=r"rknn.runtime_version must be a version string .*2.3"):
        load_model(number, backend="rknn", library=str(standin))
    listed = bundle(lambda meta: meta.update(artefacts=list(meta["artefacts"])))
    with pytest.raises(ModelError, match="no sha256 recorded for fusion.rknn"):
        load_model(listed, backend="rknn", library=str(standin))


def test_the_model_hash_needs_no_openssl():
    """hashlib maps OpenSSL's libcrypto (+2.3 MB on the board) for one hash at start-up;
    the device hashes with CPython's builtin _sha256 where it exists."""
    code = (
        "import sys, device.inference, device.npu; "
        "print(sorted(m for m in ('hashlib', '_hashlib') if m in sys.modules)); "
        "print(device.inference.sha256_hex(b'abc'))"
    )
    result = run_python("-c", code)
    assert result.returncode == 0, result.stderr
    imported, digest = result.stdout.splitlines()
    assert digest == hashlib.sha256(b"abc").hexdigest()
    if "_sha256" in sys.builtin_module_names:  # Debian's CPython 3.11, like the board's
        assert imported == "[]"


def test_the_app_notes_the_fallback_once_in_its_log(int8_only_standin, tmp_path):
    result = run_app_with(int8_only_standin, tmp_path)
    notes = [line for line in result.stderr.splitlines() if line.startswith("note: ")]
    assert len(notes) == 1, result.stderr
    assert notes[0].startswith("note: fusion.rknn did not initialise (rknn_init refused")
    assert notes[0].endswith("; running fusion_int8.rknn instead")
