"""The device's NPU input/output path as it was in NumPy, kept as the tests' reference.

Copied from ``device/quant.py`` and ``RknnModel._checked`` at commit 5ded76e (before the
board's numpy-free rewrite, issue 13), trimmed to what the comparisons need and reading
the new :class:`device.quant.TensorLayout` (same fields). ``tests/test_npu.py`` checks
that the numpy-free device code gives the same bytes and the same dequantised values.
"""

from __future__ import annotations

import numpy as np

from device.npu import InputError
from device.quant import TensorLayout

DTYPES = {
    "int8": np.int8,
    "uint8": np.uint8,
    "int16": np.int16,
    "float16": np.float16,
    "float32": np.float32,
}


def _dtype(layout: TensorLayout) -> np.dtype:
    return np.dtype(DTYPES[layout.dtype])


def quantize(x, scale: float, zero_point: int, dtype) -> np.ndarray:
    dt = np.dtype(dtype)
    values = np.asarray(x, dtype=np.float64)
    if np.isnan(values).any():
        raise ValueError("cannot quantise NaN")
    info = np.iinfo(dt)
    with np.errstate(over="ignore", invalid="ignore"):
        q = np.rint(values / float(scale)) + int(zero_point)
    return np.clip(q, info.min, info.max).astype(dt)


def dequantize(q, scale: float, zero_point: int) -> np.ndarray:
    return (np.asarray(q, dtype=np.float64) - float(zero_point)) * float(scale)


def _strided(layout: TensorLayout) -> bool:
    return len(layout.dims) == 4 and layout.fmt in ("NHWC", "NCHW")


def to_native(values, layout: TensorLayout) -> np.ndarray:
    arr = np.asarray(values)
    dt = _dtype(layout)
    assert arr.dtype == dt and arr.size == layout.n_elems
    padded = layout.padded_shape()
    pad = layout.zero_point if layout.quantized else 0
    out = np.full(layout.buffer_bytes() // dt.itemsize, pad, dtype=dt)
    if not _strided(layout):
        out[: arr.size] = arr.reshape(-1)
        return out
    dims = tuple(int(d) for d in layout.dims)
    body = np.full(padded, pad, dtype=dt)
    if layout.fmt == "NHWC":
        n, h, w, c = dims
        body[:, :, :w, :] = arr.reshape(n, h, w, c)
    else:  # NCHW
        n, c, h, w = dims
        assert arr.shape[-1] == c
        body[:, :, :, :w] = arr.reshape(n, h, w, c).transpose(0, 3, 1, 2)
    out[: body.size] = body.reshape(-1)
    return out


def from_native(buffer, layout: TensorLayout) -> np.ndarray:
    dt = _dtype(layout)
    padded = layout.padded_shape()
    count = int(np.prod(padded))
    raw = buffer.tobytes() if isinstance(buffer, np.ndarray) else bytes(buffer)
    usable = len(raw) - len(raw) % dt.itemsize
    flat = np.frombuffer(raw[:usable], dtype=dt)
    assert flat.size >= count
    body = flat[:count].reshape(padded)
    if not _strided(layout):
        return body.copy()
    dims = tuple(int(d) for d in layout.dims)
    if layout.fmt == "NHWC":
        return body[:, :, : dims[2], :].copy()
    return body[:, :, :, : dims[3]].transpose(0, 2, 3, 1).copy()


def encode(x, layout: TensorLayout) -> bytes:
    if layout.quantized:
        q = quantize(x, layout.scale, layout.zero_point, _dtype(layout))
    else:
        q = np.asarray(x, dtype=np.float64).astype(_dtype(layout))
    return to_native(q, layout).tobytes()


def decode(buffer, layout: TensorLayout) -> np.ndarray:
    q = from_native(buffer, layout)
    if layout.quantized:
        return dequantize(q, layout.scale, layout.zero_point)
    return q.astype(np.float64)


def checked(name: str, values, shape: tuple[int, ...]) -> np.ndarray:
    """``RknnModel._checked`` as it was: a (1, *shape) float64 array."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.shape not in (shape, (1, *shape)):
        raise InputError(f"{name} must have shape {shape} or {(1, *shape)}, got {arr.shape}")
    bad = int(np.count_nonzero(~np.isfinite(arr)))
    if bad:
        raise InputError(f"{name} has {bad} non-finite value(s) (NaN or inf)")
    return arr.reshape((1, *shape))
