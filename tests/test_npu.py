"""The NPU backend: quantisation and layout, and the RKNN binding against a stand-in runtime.

The stand-in (tests/rknn_standin/rknn_standin.c) is compiled here with gcc. Its
structures are written from rknn_api.h independently of device/npu.py; it checks the
sizes and fields it receives and computes a known integer function of its inputs, so
the predictions can be checked against an independent NumPy computation below.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import shutil
import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from device import npu, quant
from device.errors import ConfigError, DeviceError
from device.npu import (
    ABI_ARMHF,
    ABI_I386,
    ABI_X86_64,
    CTYPES_STRUCTS,
    STRUCTS,
    InputError,
    ModelFileError,
    ModelHashError,
    NpuError,
    RknnCallError,
    RknnModel,
    RuntimeLibraryError,
    struct_layout,
)
from device.quant import TensorLayout

STANDIN_SOURCE = Path(__file__).parent / "rknn_standin" / "rknn_standin.c"

# rknn_tensor_format values (rknn_api.h), for writing stand-in models.
NCHW, NHWC, UNDEFINED = 0, 1, 3


# ------------------------------------------------------------------------------------
# Building and driving the stand-in.
# ------------------------------------------------------------------------------------


def build_standin(out_dir: Path, *defines: str) -> Path:
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


def standin_layout(lib: ctypes.CDLL, name: str) -> npu.StructLayout:
    fields = {
        f: (
            lib.standin_offsetof(name.encode(), f.encode()),
            lib.standin_fieldsize(name.encode(), f.encode()),
        )
        for f, _, _ in STRUCTS[name]
    }
    return npu.StructLayout(size=lib.standin_sizeof(name.encode()), alignment=0, fields=fields)


def ctypes_layout(name: str) -> npu.StructLayout:
    cls = CTYPES_STRUCTS[name]
    fields = {f: (getattr(cls, f).offset, getattr(cls, f).size) for f, _, _ in STRUCTS[name]}
    return npu.StructLayout(size=ctypes.sizeof(cls), alignment=0, fields=fields)


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


SEQUENCE_LAYOUTS = {
    # (1, 1, 100, 8) NHWC: rows of 100 padded to 112 samples.
    "nhwc": Tensor("sequence", NHWC, (1, 1, 100, 8), -3, 0.05, 112, 112 * 8),
    # (1, 8, 1, 100) NCHW: channel planes, rows padded to 112, 64 spare bytes at the end.
    "nchw": Tensor("sequence", NCHW, (1, 8, 1, 100), -3, 0.05, 112, 112 * 8 + 64),
    # (1, 100, 8) as the runtime gives 3-D tensors: C order, padded to 816 bytes.
    "plain": Tensor("sequence", UNDEFINED, (1, 100, 8), -3, 0.05, 0, 816),
}


@dataclass
class StandinModel:
    inputs: list[Tensor]
    output: Tensor
    seed: int = 1
    divisor: int = 211
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
        head = b"RKSTANDN" + struct.pack("<IIII", 1, len(self.inputs), 1, 0)
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


def fusion_model(sequence: str = "nhwc", statistics_dims=(1, 40), seed: int = 1) -> StandinModel:
    return StandinModel(
        inputs=[
            SEQUENCE_LAYOUTS[sequence],
            Tensor("statistics", UNDEFINED, statistics_dims, 5, 0.1, 0, 48),
        ],
        output=Tensor("probabilities", UNDEFINED, (1, 5), -128, 1 / 256, 0, 16),
        seed=seed,
    )


def features(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(0, 2.0, size=(100, 8)), rng.normal(0, 4.0, size=40)


# ------------------------------------------------------------------------------------
# Pure functions: quantisation.
# ------------------------------------------------------------------------------------


def test_quantize_round_trip_within_half_a_step():
    x = np.linspace(-3.0, 3.0, 101)
    q = quant.quantize(x, 0.05, -3)
    assert q.dtype == np.int8
    assert np.max(np.abs(quant.dequantize(q, 0.05, -3) - x)) <= 0.025 + 1e-12
    assert_array_equal(quant.quantize(quant.dequantize(q, 0.05, -3), 0.05, -3), q)


def test_quantize_saturates_at_int8_limits():
    q = quant.quantize([-1e9, -np.inf, -6.45, 6.35, 6.4, 1e9, np.inf], 0.05, 0)
    assert_array_equal(q, [-128, -128, -128, 127, 127, 127, 127])
    assert_array_equal(quant.quantize([300.0, -300.0], 1.0, 0, dtype=np.uint8), [255, 0])


def test_zero_point_represents_zero_and_shifts_everything():
    assert quant.quantize(0.0, 0.1, 17) == 17
    assert_array_equal(quant.quantize([0.2, -0.2], 0.1, 17), [19, 15])
    assert quant.dequantize(np.int8(17), 0.1, 17) == 0.0
    # The zero point narrows one side: with zp = 100 only 27 steps remain above zero.
    assert quant.quantize(10.0, 0.1, 100) == 127
    assert quant.quantize(-10.0, 0.1, 100) == 0


def test_rounding_is_half_to_even_before_the_zero_point():
    assert_array_equal(quant.quantize([0.5, 1.5, 2.5, -0.5, -1.5], 1.0, 0), [0, 2, 2, 0, -2])
    assert_array_equal(quant.quantize([0.5, 1.5], 1.0, 1), [1, 3])


def test_quantize_rejects_bad_parameters():
    with pytest.raises(ValueError, match="NaN"):
        quant.quantize([0.0, np.nan], 0.1, 0)
    with pytest.raises(ValueError, match="scale"):
        quant.quantize([0.0], 0.0, 0)
    with pytest.raises(ValueError, match=r"zero_point 200 is outside the int8 range"):
        quant.quantize([0.0], 0.1, 200)
    with pytest.raises(ValueError, match="one of"):
        quant.quantize([0.0], 0.1, 0, dtype=np.float32)


# ------------------------------------------------------------------------------------
# Pure functions: layout.
# ------------------------------------------------------------------------------------


def test_nhwc_rows_are_padded_to_w_stride_with_the_zero_point():
    layout = TensorLayout((1, 2, 3, 2), "NHWC", "int8", zero_point=-7, w_stride=4)
    values = np.arange(12, dtype=np.int8).reshape(1, 6, 2)  # (batch, time, channel)
    native = quant.to_native(values, layout)
    rows = native.reshape(1, 2, 4, 2)
    assert_array_equal(rows[:, :, :3, :].reshape(1, 6, 2), values)
    assert (rows[:, :, 3, :] == -7).all()
    assert layout.buffer_bytes() == 16
    assert_array_equal(quant.from_native(native.tobytes(), layout).reshape(1, 6, 2), values)


def test_nchw_moves_channels_first_and_pads_rows():
    layout = TensorLayout((1, 2, 1, 3), "NCHW", "int8", w_stride=5, size_with_stride=12)
    values = np.array([[[1, 10], [2, 20], [3, 30]]], dtype=np.int8)  # 3 samples × 2 channels
    native = quant.to_native(values, layout)
    assert_array_equal(native, [1, 2, 3, 0, 0, 10, 20, 30, 0, 0, 0, 0])
    assert_array_equal(quant.from_native(native, layout).reshape(1, 3, 2), values)
    with pytest.raises(ValueError, match="2 channels"):
        quant.to_native(values.reshape(1, 2, 3), layout)


def test_other_ranks_are_c_order_with_tail_padding():
    layout = TensorLayout((1, 5), "UNDEFINED", "int8", zero_point=3, size_with_stride=8)
    native = quant.to_native(np.arange(5, dtype=np.int8), layout)
    assert_array_equal(native, [0, 1, 2, 3, 4, 3, 3, 3])
    assert_array_equal(
        quant.from_native(b"\x01\x02\x03\x04\x05\x7f\x7f\x7f", layout), [[1, 2, 3, 4, 5]]
    )


def test_encode_decode_round_trip_through_a_padded_layout():
    layout = TensorLayout((1, 1, 100, 8), "NHWC", "int8", 0.05, -3, 112, 896)
    x = np.random.default_rng(3).normal(0, 1, size=(1, 100, 8))
    payload = quant.encode(x, layout)
    assert len(payload) == 896
    back = quant.decode(payload, layout).reshape(1, 100, 8)
    assert np.max(np.abs(back - x)) <= 0.025 + 1e-12


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
        quant.to_native(np.zeros(39, np.int8), TensorLayout((1, 40), "UNDEFINED", "int8"))
    with pytest.raises(ValueError, match="fmt must be one of"):
        TensorLayout((1, 40), "NWC", "int8")


# ------------------------------------------------------------------------------------
# Structure layouts: ctypes, the stand-in's C compiler, and the computed armhf ABI.
# ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(STRUCTS))
def test_ctypes_structures_match_the_standin_and_the_computed_host_layout(standin, name):
    lib = debug_api(standin)
    host = struct_layout(STRUCTS[name], npu.host_abi())
    assert ctypes_layout(name).fields == host.fields == standin_layout(lib, name).fields
    assert ctypes.sizeof(CTYPES_STRUCTS[name]) == host.size == lib.standin_sizeof(name.encode())
    assert ctypes.sizeof(npu.RknnContext) == lib.standin_sizeof(b"rknn_context")


def test_armhf_layout_computed_from_the_header():
    """The board's layout (computed: no armhf compiler runs in this test suite)."""
    attr = struct_layout(npu.TENSOR_ATTR_FIELDS, ABI_ARMHF)
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
    mem = struct_layout(npu.TENSOR_MEM_FIELDS, ABI_ARMHF)
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
    assert struct_layout(npu.INPUT_OUTPUT_NUM_FIELDS, ABI_ARMHF).size == 8
    assert struct_layout((("ctx", "context", 1),), ABI_ARMHF).size == 4
    # The same header on x86-64, and on an ABI with 4-byte-aligned uint64_t, for contrast.
    assert struct_layout(npu.TENSOR_MEM_FIELDS, ABI_X86_64).fields["priv_data"] == (32, 8)
    assert struct_layout(npu.TENSOR_MEM_FIELDS, ABI_I386).size == 32
    assert struct_layout(npu.TENSOR_ATTR_FIELDS, ABI_X86_64).size == 376


def armhf_compiler() -> list[str] | None:
    cc = os.environ.get("RKNN_ARMHF_CC") or shutil.which("arm-linux-gnueabihf-gcc")
    return cc.split() if cc else None


@pytest.mark.skipif(
    armhf_compiler() is None,
    reason="no armhf cross compiler (set RKNN_ARMHF_CC or install arm-linux-gnueabihf-gcc); "
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
    assert npu.context_is_uint32("armv7l", 4)
    assert npu.context_is_uint32("aarch64", 4)  # 32-bit userland on a 64-bit kernel
    assert not npu.context_is_uint32("aarch64", 8)
    assert not npu.context_is_uint32("x86_64", 8)
    assert not npu.context_is_uint32("i686", 4)


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
            got = model.predict(sequence, statistics)
            assert got.shape == (5,)
            assert_array_equal(got, expected)
            assert_array_equal(model.predict(sequence[None], statistics[None]), expected)
    assert lib.standin_runs() - runs == 6


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
        assert model.predict(*features()).shape == (5,)
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
        assert model.predict(*features()).shape == (5,)
    (tmp_path / "model.json").write_text(json.dumps({"artefacts": {"fusion.rknn": "0" * 64}}))
    with pytest.raises(ModelHashError, match="0" * 64):
        RknnModel.from_bundle(tmp_path, library=standin)
    (tmp_path / "model.json").write_text(json.dumps({"artefacts": {}}))
    with pytest.raises(ModelFileError, match=r"model\.json records no SHA-256 for fusion\.rknn"):
        RknnModel.from_bundle(tmp_path, library=standin)


def test_wrong_input_shapes_and_values(standin, tmp_path):
    sequence, statistics = features()
    with RknnModel(fusion_model().write(tmp_path / "fusion.rknn"), library=standin) as model:
        expected = r"sequence must have shape \(100, 8\) or \(1, 100, 8\), got \(99, 8\)"
        with pytest.raises(InputError, match=expected):
            model.predict(sequence[:99], statistics)
        with pytest.raises(InputError, match=r"got \(8, 100\)"):
            model.predict(sequence.T, statistics)
        expected = r"statistics must have shape \(40,\) or \(1, 40\), got \(41,\)"
        with pytest.raises(InputError, match=expected):
            model.predict(sequence, np.zeros(41))
        statistics[3] = np.nan
        with pytest.raises(InputError, match="statistics has 1 non-finite"):
            model.predict(sequence, statistics)
    assert issubclass(InputError, ValueError)


def test_model_whose_inputs_do_not_fit_the_device(standin, tmp_path):
    path = fusion_model(statistics_dims=(1, 39)).write(tmp_path / "fusion.rknn")
    with pytest.raises(NpuError, match="one input of 40 elements for the statistics"):
        RknnModel(path, library=standin)


def test_standin_checks_struct_sizes_and_context_width(standin, tmp_path):
    """The stand-in refuses what a careless binding would send."""
    lib = ctypes.CDLL(str(standin))
    ctx = npu.RknnContext(0)
    blob = fusion_model().blob()
    assert lib.rknn_init(ctypes.byref(ctx), blob, len(blob), 0, None) == 0
    try:
        attr = npu.RknnTensorAttr()
        query = lib.rknn_query
        query.argtypes = [npu.RknnContext, ctypes.c_int, ctypes.c_void_p, ctypes.c_uint32]
        size = ctypes.sizeof(attr)
        assert query(ctx, npu.RKNN_QUERY_NATIVE_INPUT_ATTR, ctypes.byref(attr), size) == 0
        assert query(ctx, npu.RKNN_QUERY_NATIVE_INPUT_ATTR, ctypes.byref(attr), size - 4) == -5
        if ctypes.sizeof(ctx) == 8:  # a handle cut to 32 bits is not the context
            assert query(ctx.value & 0xFFFFFFFF, 0, ctypes.byref(attr), size) == -7
    finally:
        lib.rknn_destroy.argtypes = [npu.RknnContext]
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
    assert b"buffer of 112 bytes, size_with_stride is 896" in lib.standin_last_error()
    assert lib.standin_live_mems() == live and lib.standin_live_contexts() == contexts
