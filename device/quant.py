"""Quantisation and tensor layout for the NPU: plain Python, no runtime needed.

The RV1103's int8 model takes int8 inputs: the device quantises its float features
with the scale and zero point the RKNN runtime reports for each tensor, writes them in
the memory layout the runtime reports, and dequantises the int8 outputs the same way
(``device.npu`` does the talking to the runtime; everything here is arithmetic). It runs
on the board, which has no numpy: values are Python numbers and sequences, buffers are
``bytes`` built with :mod:`array` (one array per tensor) and, for float16 only,
:mod:`struct`, in the machine's own byte order (the NPU's buffers are host memory).

Affine quantisation, as RKNN's ``asymmetric_quantized-8`` defines it::

    q = clip(round(x / scale) + zero_point, qmin, qmax)
    x ≈ (q - zero_point) * scale

Rounding: round half to even (``numpy.rint``, Python's ``round``), then the zero point is
added. The RKNN material read for this (summaries of the toolkit's user guide, the rknpu2
examples) gives the formula without a tie rule, and the runtime's own float-to-int
conversion is closed source; the examples' ``qnt_f32_to_affine`` helper truncates toward
zero, but they use it only to compare thresholds. Half-to-even is what ONNX
``QuantizeLinear`` (the format the model passes through on its way to RKNN) specifies and
IEEE 754's default rounding. The choices differ only when ``x / scale`` lands exactly on
a half step, and then by one step.

Layout: the runtime describes each tensor by ``dims``, ``fmt`` (NCHW, NHWC, NC1HWC2,
UNDEFINED), ``w_stride`` (elements per row along W, padding included; 0 means W) and
``size_with_stride`` (bytes of the whole buffer, padding included). The device's own
values are *channel-last*: the last axis is the channel (the sequence is (1, 100, 12):
batch, time, channel; the statistics (1, 60)), and a nested sequence or a flat one in C
order serves equally. :func:`to_native` maps such values onto the tensor:

* 4-D NHWC: filled in C order as (N, H, W, C), each W row padded to ``w_stride``.
  C order keeps (time, channel) order whichever way the runtime split time into H × W.
* 4-D NCHW: channels moved to axis 1 as (N, C, H, W), W padded to ``w_stride``. The
  values' last axis must have C values.
* any other rank (the runtime reports 2-D and 3-D tensors as UNDEFINED): C order.
* then zero-point padding up to ``size_with_stride``.

NC1HWC2 (the RV1106/RV1103 NPU's own blocked format) is refused: query the runtime's
NHWC view instead (``RKNN_QUERY_NATIVE_NHWC_OUTPUT_ATTR``). :func:`from_native` is the
inverse and returns the channel-last values, flat in C order.
"""

from __future__ import annotations

import math
import struct
from array import array
from dataclasses import dataclass


@dataclass(frozen=True)
class ElementKind:
    """One element type of a tensor, as the standard library stores it.

    Args:
        name: ``rknn_tensor_type``'s name in lower case ("int8", "float16", ...).
        typecode: The :mod:`struct` format character; also the :mod:`array` typecode,
            except "e" (float16), which only :mod:`struct` knows.
        itemsize: Bytes per element.
        min: Smallest value of an integer type (None for floats).
        max: Largest value of an integer type (None for floats).
    """

    name: str
    typecode: str
    itemsize: int
    min: int | None = None
    max: int | None = None

    @property
    def is_integer(self) -> bool:
        return self.min is not None


#: Integer types an affine-quantised tensor can have.
INTEGER_DTYPES = {
    "int8": ElementKind("int8", "b", 1, -(2**7), 2**7 - 1),
    "uint8": ElementKind("uint8", "B", 1, 0, 2**8 - 1),
    "int16": ElementKind("int16", "h", 2, -(2**15), 2**15 - 1),
}
#: Float types, used as they are (no quantisation).
FLOAT_DTYPES = {
    "float16": ElementKind("float16", "e", 2),
    "float32": ElementKind("float32", "f", 4),
}
#: Layout formats, named as in ``rknn_tensor_format``.
FORMATS = ("NCHW", "NHWC", "NC1HWC2", "UNDEFINED")


def _integer_kind(dtype: str) -> ElementKind:
    kind = INTEGER_DTYPES.get(dtype) if isinstance(dtype, str) else None
    if kind is None:
        raise ValueError(f"quantised dtype must be one of {sorted(INTEGER_DTYPES)}, got {dtype!r}")
    return kind


def _check_scale(scale: float) -> float:
    scale = float(scale)
    if not math.isfinite(scale) or scale <= 0:
        raise ValueError(f"scale must be a finite number > 0, got {scale!r}")
    return scale


def _check_parameters(scale: float, zero_point: int, kind: ElementKind) -> tuple[float, int]:
    scale = _check_scale(scale)
    if int(zero_point) != zero_point:
        raise ValueError(f"zero_point must be an integer, got {zero_point!r}")
    if not kind.min <= int(zero_point) <= kind.max:
        raise ValueError(
            f"zero_point {zero_point} is outside the {kind.name} range [{kind.min}, {kind.max}]"
        )
    return scale, int(zero_point)


# ---------------------------------------------------------------------------------------
# Nested sequences.
# ---------------------------------------------------------------------------------------


def _is_scalar(x) -> bool:
    if isinstance(x, (float, int)):
        return True
    if isinstance(x, (str, bytes)):
        raise TypeError(f"expected numbers, got {type(x).__name__} {x!r}")
    try:
        len(x)
    except TypeError:  # a number of another type (numpy scalars, Fraction, ...)
        return True
    return False


def _extend_flat(x, out: list) -> None:
    for item in x:
        if isinstance(item, float) or _is_scalar(item):
            out.append(item)
        else:
            _extend_flat(item, out)


def _flat(x) -> tuple[list, int | None]:
    """The numbers of a number or (nested) sequence in C order, and the length of its
    innermost level (None for a number or a flat sequence). Elements are not checked:
    a number where a row should be, or the reverse, fails later (float(), array())."""
    if _is_scalar(x):
        return [x], None
    if not len(x) or _is_scalar(x[0]):
        return list(x), None
    first = x[0]
    if len(first) and _is_scalar(first[0]):  # rows of numbers: the window's sequence
        out: list = []
        for row in x:
            out.extend(row)
        return out, len(first)
    out = []
    _extend_flat(x, out)
    inner = x
    while len(inner) and not _is_scalar(inner[0]):
        inner = inner[0]
    return out, len(inner)


def shape_of(values) -> tuple[int, ...]:
    """The shape of a (nested) sequence, read along its first elements (() for a number)."""
    shape: list[int] = []
    x = values
    while not _is_scalar(x):
        shape.append(len(x))
        if not len(x):
            break
        x = x[0]
    return tuple(shape)


def _ragged(values, shape: tuple[int, ...]) -> bool:
    if len(shape) == 1:
        return any(not _is_scalar(v) for v in values)
    return any(shape_of(row) != shape[1:] or _ragged(row, shape[1:]) for row in values)


def flatten(values, shape: tuple[int, ...], *, name: str = "values") -> list[float]:
    """Finite float values of a nested sequence of a known shape, flat in C order.

    What every tensor input needs before quantisation: the window's sequence, shape
    (100, 12), comes as a list of 100 rows of 12 numbers (or a numpy array, from a host).

    Args:
        values: Nested sequence of numbers of shape ``shape`` or ``(1, *shape)``; not
            modified.
        shape: The expected shape, e.g. (100, 12).
        name: The input's name, for messages.

    Returns:
        list of float, ``prod(shape)`` values in C order.

    Raises:
        ValueError: If the shape differs (also for ragged rows) or a value is NaN or ±inf.
    """
    shape = tuple(int(n) for n in shape)
    got = shape_of(values)
    if got == (1, *shape):
        values = values[0]
        got = shape
    wrong = got != shape
    if not wrong:
        try:
            if len(shape) == 1:
                out = [float(v) for v in values]
            elif len(shape) == 2:
                out = []
                for row in values:
                    if len(row) != shape[1]:
                        raise TypeError(row)
                    out.extend(row)
                out = [float(v) for v in out]
            elif _ragged(values, shape):
                raise TypeError(values)
            else:
                out = []
                _extend_flat(values, out)
                out = [float(v) for v in out]
        except TypeError:  # a number where a row belongs, or a row where a number does
            wrong = True
    if wrong:
        described = got if got != shape else f"{got} with rows of other lengths"
        raise ValueError(f"{name} must have shape {shape} or {(1, *shape)}, got {described}")
    if not math.isfinite(sum(out)):  # NaN and inf carry through a sum (or it overflowed)
        bad = sum(1 for v in out if not math.isfinite(v))
        if bad:
            raise ValueError(f"{name} has {bad} non-finite value(s) (NaN or inf)")
    return out


# ---------------------------------------------------------------------------------------
# Quantisation.
# ---------------------------------------------------------------------------------------


def quantize(x, scale: float, zero_point: int, dtype: str = "int8"):
    """Affine quantisation: ``clip(round_half_even(x / scale) + zero_point)``.

    Args:
        x: A float, or a (nested) sequence of floats; not modified. ±inf saturates.
        scale: Size of one quantisation step, in the units of ``x``; > 0.
        zero_point: The integer that represents 0.0; within ``dtype``'s range.
        dtype: Name of the integer type: "int8" (the RV1103's), "uint8" or "int16".

    Returns:
        int for a number; for a sequence, list of int, its values flat in C order.
        Values beyond the type's range saturate at its limits.

    Raises:
        ValueError: If ``x`` has NaN, ``scale`` is not > 0, ``zero_point`` is out of
            range, or ``dtype`` is not one of the integer types.
    """
    kind = _integer_kind(dtype)
    scale, zero_point = _check_parameters(scale, zero_point, kind)
    if _is_scalar(x):
        return _quantize_flat([x], scale, zero_point, kind)[0]
    return _quantize_flat(_flat(x)[0], scale, zero_point, kind)


def _quantize_flat(values: list, scale: float, zero_point: int, kind: ElementKind) -> list[int]:
    lo, hi = kind.min, kind.max
    # round(r) + zero_point reaches the limits exactly when r does (round is monotonic and
    # the limits minus the zero point are integers): saturate first, which also keeps
    # ±inf away from round(). NaN passes both tests and round() refuses it.
    below, above = float(lo - zero_point), float(hi - zero_point)
    try:
        return [
            hi if r >= above else lo if r <= below else round(r) + zero_point
            for r in [float(v) / scale for v in values]
        ]
    except ValueError:
        raise ValueError("cannot quantise NaN") from None


def dequantize(q, scale: float, zero_point: int):
    """Float values of quantised ones: ``(q - zero_point) * scale`` (Python floats).

    Args:
        q: An integer, or a (nested) sequence of integers.
        scale: Size of one quantisation step; > 0.
        zero_point: The integer that represents 0.0.

    Returns:
        float for a number; for a sequence, list of float, flat in C order.
    """
    scale = _check_scale(scale)
    zp = float(zero_point)
    if _is_scalar(q):
        return (float(q) - zp) * scale
    return [(float(v) - zp) * scale for v in _flat(q)[0]]


# ---------------------------------------------------------------------------------------
# Layout.
# ---------------------------------------------------------------------------------------


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
    def kind(self) -> ElementKind:
        """The element type: typecode, bytes per element, range."""
        return INTEGER_DTYPES.get(self.dtype) or FLOAT_DTYPES[self.dtype]

    @property
    def n_elems(self) -> int:
        """Elements without padding."""
        return math.prod(int(d) for d in self.dims)

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
        packed = math.prod(self.padded_shape()) * self.kind.itemsize
        if self.size_with_stride and self.size_with_stride < packed:
            raise ValueError(
                f"{self._label}size_with_stride {self.size_with_stride} bytes is smaller "
                f"than the {packed} bytes its dims {tuple(self.dims)} and w_stride "
                f"{self.w_stride} need"
            )
        return int(self.size_with_stride) or packed

    @property
    def _padding_value(self):
        return self.zero_point if self.quantized else 0.0


def _half(v: float) -> float:
    """A float as float16 would hold it: like numpy, too large a value becomes ±inf."""
    try:
        return struct.unpack("=e", struct.pack("=e", v))[0]
    except OverflowError:
        return math.copysign(math.inf, v)


def _pack(values: list, kind: ElementKind, label: str) -> bytes:
    if kind.typecode == "e":  # float16: struct only (array has no half type)
        return struct.pack(f"={len(values)}e", *(_half(float(v)) for v in values))
    try:
        return array(kind.typecode, values).tobytes()
    except OverflowError:
        bad = next((v for v in values if not kind.min <= v <= kind.max), "?")
        raise ValueError(
            f"{label}value {bad} is outside the {kind.name} range [{kind.min}, {kind.max}]"
        ) from None
    except TypeError:
        bad = next((v for v in values if not isinstance(v, int)), "?")
        raise ValueError(f"{label}values must be {kind.name}, got {bad!r}") from None


def _unpack(raw: bytes, kind: ElementKind) -> list:
    if kind.typecode == "e":
        return list(struct.unpack(f"={len(raw) // 2}e", raw))
    arr = array(kind.typecode)
    arr.frombytes(raw)
    return arr.tolist()


def _arrange(flat: list, last: int | None, layout: TensorLayout, values) -> bytes:
    """:func:`to_native` on values already flattened (``last``: their innermost length)."""
    kind = layout.kind
    if len(flat) != layout.n_elems:
        raise ValueError(
            f"{layout._label}has {layout.n_elems} elements (dims {tuple(layout.dims)}), "
            f"got values of shape {shape_of(values)}"
        )
    padded = layout.padded_shape()
    total = layout.buffer_bytes() // kind.itemsize
    pad = layout._padding_value
    if not layout._strided:
        return _pack(flat + [pad] * (total - len(flat)), kind, layout._label)
    out = [pad] * total
    if layout.fmt == "NHWC":
        n, h, w, c = (int(d) for d in layout.dims)
        row, prow = w * c, padded[2] * c
        if row == prow:
            out[: len(flat)] = flat
        else:
            for i in range(n * h):
                out[i * prow : i * prow + row] = flat[i * row : (i + 1) * row]
        return _pack(out, kind, layout._label)
    # NCHW: the element (n, h, w, c) of the values goes to (n, c, h, w).
    n, c, h, w = (int(d) for d in layout.dims)
    if last is not None and last != c:
        raise ValueError(
            f"{layout._label}NCHW tensor has {c} channels, the values' last axis "
            f"(channels) has {last}"
        )
    stride = padded[3]
    for ni in range(n):
        for hi in range(h):
            src = (ni * h + hi) * w * c
            for ci in range(c):
                dst = ((ni * c + ci) * h + hi) * stride
                out[dst : dst + w] = flat[src + ci : src + w * c : c]
    return _pack(out, kind, layout._label)


def to_native(values, layout: TensorLayout) -> bytes:
    """Arrange channel-last values into the runtime's memory layout.

    Args:
        values: Values already in ``layout``'s element type (quantise first: ints for
            an integer tensor), ``layout.n_elems`` of them, nested or flat in C order,
            the last axis being the channel axis; not modified.
        layout: The tensor's layout.

    Returns:
        bytes: ``layout.buffer_bytes()`` of them (rounded down to whole elements),
        padding filled with the zero point (which stands for 0.0).

    Raises:
        ValueError: If the element count or, for NCHW and nested values, the channel
            count differs, a value does not fit the element type, or the layout is
            unsupported or inconsistent.
    """
    flat, last = _flat(values)
    return _arrange(flat, last, layout, values)


def from_native(buffer, layout: TensorLayout) -> list:
    """Read a tensor out of the runtime's memory layout (inverse of :func:`to_native`).

    Args:
        buffer: Bytes (or any object with the buffer protocol, read as its raw bytes)
            of at least the padded size.
        layout: The tensor's layout.

    Returns:
        list of int (integer tensors) or float: ``layout.n_elems`` channel-last values,
        flat in C order: ``dims`` for tensors other than 4-D, (N, H, W, C) for NHWC and
        NCHW. Padding is dropped.
    """
    kind = layout.kind
    padded = layout.padded_shape()
    count = math.prod(padded)
    try:
        raw = memoryview(buffer).tobytes()
    except TypeError:
        raw = bytes(buffer)
    have = len(raw) // kind.itemsize
    if have < count:
        raise ValueError(f"{layout._label}buffer holds {have} elements, the layout needs {count}")
    body = _unpack(raw[: count * kind.itemsize], kind)
    if not layout._strided:
        return body
    if layout.fmt == "NHWC":
        n, h, w, c = (int(d) for d in layout.dims)
        row, prow = w * c, padded[2] * c
        if row == prow:
            return body
        out: list = []
        for i in range(n * h):
            out += body[i * prow : i * prow + row]
        return out
    n, c, h, w = (int(d) for d in layout.dims)
    stride = padded[3]
    out = [0] * (n * h * w * c)
    for ni in range(n):
        for hi in range(h):
            dst = (ni * h + hi) * w * c
            for ci in range(c):
                src = ((ni * c + ci) * h + hi) * stride
                out[dst + ci : dst + w * c : c] = body[src : src + w]
    return out


def encode(x, layout: TensorLayout) -> bytes:
    """Float values → the bytes the runtime expects (quantise if integer, then arrange).

    Args:
        x: Channel-last float values, ``layout.n_elems`` of them, nested or flat in C
            order; not modified.
        layout: The tensor's layout.

    Returns:
        bytes, as :func:`to_native` gives them.
    """
    flat, last = _flat(x)
    if layout.quantized:
        kind = layout.kind
        scale, zero_point = _check_parameters(layout.scale, layout.zero_point, kind)
        q = _quantize_flat(flat, scale, zero_point, kind)
    else:
        q = [float(v) for v in flat]
    return _arrange(q, last, layout, x)


def decode(buffer, layout: TensorLayout) -> list[float]:
    """The runtime's bytes → channel-last float values (arrange back, dequantise).

    Returns:
        list of float, ``layout.n_elems`` values, flat in C order.
    """
    q = from_native(buffer, layout)
    if layout.quantized:
        return dequantize(q, layout.scale, layout.zero_point)
    return [float(v) for v in q]
