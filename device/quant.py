"""Quantisation and tensor layout for the NPU: pure NumPy, no runtime needed.

The RV1103's int8 model takes int8 inputs: the device quantises its float features
with the scale and zero point the RKNN runtime reports for each tensor, writes them in
the memory layout the runtime reports, and dequantises the int8 outputs the same way
(``device.npu`` does the talking to the runtime; everything here is arithmetic).

Affine quantisation, as RKNN's ``asymmetric_quantized-8`` defines it::

    q = clip(round(x / scale) + zero_point, qmin, qmax)
    x ≈ (q - zero_point) * scale

Rounding: round half to even (``numpy.rint``), then the zero point is added. The RKNN
material read for this (summaries of the toolkit's user guide, the rknpu2 examples)
gives the formula without a tie rule, and the runtime's own float-to-int conversion is
closed source; the examples' ``qnt_f32_to_affine`` helper truncates toward zero, but
they use it only to compare thresholds. Half-to-even is what ONNX ``QuantizeLinear``
(the format the model passes through on its way to RKNN) specifies and IEEE 754's
default rounding. The choices differ only when ``x / scale`` lands exactly on a half
step, and then by one step.

Layout: the runtime describes each tensor by ``dims``, ``fmt`` (NCHW, NHWC, NC1HWC2,
UNDEFINED), ``w_stride`` (elements per row along W, padding included; 0 means W) and
``size_with_stride`` (bytes of the whole buffer, padding included). The device's own
arrays are *channel-last*: the last axis is the channel (the sequence is (1, 100, 8):
batch, time, channel; the statistics (1, 40)). :func:`to_native` maps such an array
onto the tensor:

* 4-D NHWC: filled in C order as (N, H, W, C), each W row padded to ``w_stride``.
  C order keeps (time, channel) order whichever way the runtime split time into H × W.
* 4-D NCHW: channels moved to axis 1 as (N, C, H, W), W padded to ``w_stride``. The
  array's last axis must have C values.
* any other rank (the runtime reports 2-D and 3-D tensors as UNDEFINED): C order.
* then zero-point padding up to ``size_with_stride``.

NC1HWC2 (the RV1106/RV1103 NPU's own blocked format) is refused: query the runtime's
NHWC view instead (``RKNN_QUERY_NATIVE_NHWC_OUTPUT_ATTR``). :func:`from_native` is the
inverse and returns the channel-last array.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Integer types an affine-quantised tensor can have, with their numpy dtypes.
INTEGER_DTYPES = {"int8": np.int8, "uint8": np.uint8, "int16": np.int16}
#: Float types, used as they are (no quantisation).
FLOAT_DTYPES = {"float16": np.float16, "float32": np.float32}
#: Layout formats, named as in ``rknn_tensor_format``.
FORMATS = ("NCHW", "NHWC", "NC1HWC2", "UNDEFINED")


def _integer_dtype(dtype) -> np.dtype:
    dt = np.dtype(dtype)
    if dt.name not in INTEGER_DTYPES:
        raise ValueError(
            f"quantised dtype must be one of {sorted(INTEGER_DTYPES)}, got {dt.name!r}"
        )
    return dt


def _check_parameters(scale: float, zero_point: int, dt: np.dtype) -> tuple[float, int]:
    scale = float(scale)
    if not np.isfinite(scale) or scale <= 0:
        raise ValueError(f"scale must be a finite number > 0, got {scale!r}")
    if int(zero_point) != zero_point:
        raise ValueError(f"zero_point must be an integer, got {zero_point!r}")
    info = np.iinfo(dt)
    if not info.min <= int(zero_point) <= info.max:
        raise ValueError(
            f"zero_point {zero_point} is outside the {dt.name} range [{info.min}, {info.max}]"
        )
    return scale, int(zero_point)


def quantize(x, scale: float, zero_point: int, dtype=np.int8) -> np.ndarray:
    """Affine quantisation: ``clip(rint(x / scale) + zero_point)`` in ``dtype``.

    Args:
        x: Float values (any shape); not modified. ±inf saturates.
        scale: Size of one quantisation step, in the units of ``x``; > 0.
        zero_point: The integer that represents 0.0; within ``dtype``'s range.
        dtype: int8 (the RV1103's), uint8 or int16.

    Returns:
        Array of ``dtype``, same shape as ``x``; values beyond the range saturate at
        the type's limits.

    Raises:
        ValueError: If ``x`` has NaN, ``scale`` is not > 0, ``zero_point`` is out of
            range, or ``dtype`` is not one of the integer types.
    """
    dt = _integer_dtype(dtype)
    scale, zero_point = _check_parameters(scale, zero_point, dt)
    values = np.asarray(x, dtype=np.float64)
    if np.isnan(values).any():
        raise ValueError("cannot quantise NaN")
    info = np.iinfo(dt)
    with np.errstate(over="ignore", invalid="ignore"):
        q = np.rint(values / scale) + zero_point
    return np.clip(q, info.min, info.max).astype(dt)


def dequantize(q, scale: float, zero_point: int) -> np.ndarray:
    """Float values of quantised ones: ``(q - zero_point) * scale`` (float64).

    Args:
        q: Integer array (any shape).
        scale: Size of one quantisation step; > 0.
        zero_point: The integer that represents 0.0.
    """
    scale = float(scale)
    if not np.isfinite(scale) or scale <= 0:
        raise ValueError(f"scale must be a finite number > 0, got {scale!r}")
    return (np.asarray(q, dtype=np.float64) - float(zero_point)) * scale


@dataclass(frozen=True)
class TensorLayout:
    """How the runtime wants one tensor in memory (a plain copy of its attributes).

    Args:
        dims: Dimensions as the runtime reports them (for 4-D: N, H, W, C in NHWC,
            N, C, H, W in NCHW), without padding.
        fmt: One of :data:`FORMATS`.
        dtype: Element type: a key of :data:`INTEGER_DTYPES` or :data:`FLOAT_DTYPES`.
        scale: Quantisation step of an integer tensor (ignored for floats).
        zero_point: Integer for 0.0 of an integer tensor; also the padding value.
        w_stride: Elements per W row including padding (4-D only); 0 means W.
        size_with_stride: Bytes of the whole buffer including padding; 0 means no
            padding beyond ``w_stride``.
        name: The tensor's name, for messages.
    """

    dims: tuple[int, ...]
    fmt: str
    dtype: str
    scale: float = 1.0
    zero_point: int = 0
    w_stride: int = 0
    size_with_stride: int = 0
    name: str = ""

    def __post_init__(self) -> None:
        if self.fmt not in FORMATS:
            raise ValueError(f"{self._label}fmt must be one of {FORMATS}, got {self.fmt!r}")
        if self.dtype not in INTEGER_DTYPES and self.dtype not in FLOAT_DTYPES:
            raise ValueError(
                f"{self._label}dtype must be one of "
                f"{sorted(INTEGER_DTYPES) + sorted(FLOAT_DTYPES)}, got {self.dtype!r}"
            )
        if not self.dims or any(int(d) <= 0 for d in self.dims):
            raise ValueError(f"{self._label}dims must be positive, got {tuple(self.dims)}")

    @property
    def _label(self) -> str:
        return f"tensor {self.name!r}: " if self.name else ""

    @property
    def quantized(self) -> bool:
        """True for an integer (affine-quantised) tensor."""
        return self.dtype in INTEGER_DTYPES

    @property
    def numpy_dtype(self) -> np.dtype:
        return np.dtype(INTEGER_DTYPES.get(self.dtype) or FLOAT_DTYPES[self.dtype])

    @property
    def n_elems(self) -> int:
        """Elements without padding."""
        return int(np.prod(self.dims))

    @property
    def _strided(self) -> bool:
        return len(self.dims) == 4 and self.fmt in ("NHWC", "NCHW")

    def padded_shape(self) -> tuple[int, ...]:
        """Shape in memory, W padded to ``w_stride`` (4-D NHWC/NCHW), else ``dims``."""
        dims = tuple(int(d) for d in self.dims)
        if self.fmt == "NC1HWC2":
            raise ValueError(
                f"{self._label}layout NC1HWC2 is not supported; query the runtime's NHWC "
                "view (RKNN_QUERY_NATIVE_NHWC_OUTPUT_ATTR) instead"
            )
        if not self._strided:
            return dims
        w_axis = 2 if self.fmt == "NHWC" else 3
        width = dims[w_axis]
        stride = int(self.w_stride) or width
        if stride < width:
            raise ValueError(f"{self._label}w_stride {stride} is smaller than the width {width}")
        return dims[:w_axis] + (stride,) + dims[w_axis + 1 :]

    def buffer_bytes(self) -> int:
        """Bytes the runtime's buffer holds: ``size_with_stride`` or the padded size."""
        packed = int(np.prod(self.padded_shape())) * self.numpy_dtype.itemsize
        if self.size_with_stride and self.size_with_stride < packed:
            raise ValueError(
                f"{self._label}size_with_stride {self.size_with_stride} bytes is smaller "
                f"than the {packed} bytes its dims {tuple(self.dims)} and w_stride "
                f"{self.w_stride} need"
            )
        return int(self.size_with_stride) or packed

    @property
    def _padding_value(self):
        return self.zero_point if self.quantized else 0


def to_native(values, layout: TensorLayout) -> np.ndarray:
    """Arrange a channel-last array into the runtime's memory layout.

    Args:
        values: Array already in ``layout``'s element type (quantise first), with
            ``layout.n_elems`` elements; its last axis is the channel axis.
        layout: The tensor's layout.

    Returns:
        1-D array of ``layout.buffer_bytes()`` bytes' worth of elements, padding
        filled with the zero point (which stands for 0.0).

    Raises:
        ValueError: If the element count or, for NCHW, the channel count differs, or
            the layout is unsupported or inconsistent.
    """
    arr = np.asarray(values)
    dt = layout.numpy_dtype
    if arr.dtype != dt:
        raise ValueError(f"{layout._label}values must be {dt.name}, got {arr.dtype.name}")
    if arr.size != layout.n_elems:
        raise ValueError(
            f"{layout._label}has {layout.n_elems} elements (dims {tuple(layout.dims)}), "
            f"got an array of shape {arr.shape}"
        )
    padded = layout.padded_shape()
    total = layout.buffer_bytes() // dt.itemsize
    out = np.full(total, layout._padding_value, dtype=dt)
    if not layout._strided:
        out[: arr.size] = arr.reshape(-1)
        return out
    dims = tuple(int(d) for d in layout.dims)
    body = np.full(padded, layout._padding_value, dtype=dt)
    if layout.fmt == "NHWC":
        n, h, w, c = dims
        body[:, :, :w, :] = arr.reshape(n, h, w, c)
    else:  # NCHW
        n, c, h, w = dims
        if arr.shape[-1] != c:
            raise ValueError(
                f"{layout._label}NCHW tensor has {c} channels, the array's last axis "
                f"(channels) has {arr.shape[-1]}"
            )
        body[:, :, :, :w] = arr.reshape(n, h, w, c).transpose(0, 3, 1, 2)
    out[: body.size] = body.reshape(-1)
    return out


def from_native(buffer, layout: TensorLayout) -> np.ndarray:
    """Read a tensor out of the runtime's memory layout (inverse of :func:`to_native`).

    Args:
        buffer: Bytes (or an array, read as its raw bytes) of at least the padded size.
        layout: The tensor's layout.

    Returns:
        Channel-last array of ``layout``'s element type: ``dims`` for tensors other
        than 4-D, (N, H, W, C) for NHWC and NCHW. Padding is dropped.
    """
    dt = layout.numpy_dtype
    padded = layout.padded_shape()
    count = int(np.prod(padded))
    raw = buffer.tobytes() if isinstance(buffer, np.ndarray) else bytes(buffer)
    usable = len(raw) - len(raw) % dt.itemsize
    flat = np.frombuffer(raw[:usable], dtype=dt)
    if flat.size < count:
        raise ValueError(
            f"{layout._label}buffer holds {flat.size} elements, the layout needs {count}"
        )
    body = flat[:count].reshape(padded)
    if not layout._strided:
        return body.copy()
    dims = tuple(int(d) for d in layout.dims)
    if layout.fmt == "NHWC":
        return body[:, :, : dims[2], :].copy()
    return body[:, :, :, : dims[3]].transpose(0, 2, 3, 1).copy()


def encode(x, layout: TensorLayout) -> bytes:
    """Float values → the bytes the runtime expects (quantise if integer, then arrange).

    Args:
        x: Channel-last float array with ``layout.n_elems`` elements; not modified.
        layout: The tensor's layout.
    """
    if layout.quantized:
        q = quantize(x, layout.scale, layout.zero_point, dtype=layout.numpy_dtype)
    else:
        q = np.asarray(x, dtype=np.float64).astype(layout.numpy_dtype)
    return to_native(q, layout).tobytes()


def decode(buffer, layout: TensorLayout) -> np.ndarray:
    """The runtime's bytes → float64 channel-last array (arrange back, dequantise)."""
    q = from_native(buffer, layout)
    if layout.quantized:
        return dequantize(q, layout.scale, layout.zero_point)
    return q.astype(np.float64)
