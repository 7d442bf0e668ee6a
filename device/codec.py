"""Record codec: what the device records and sends, as compact bytes.

One codec serves the session file (:mod:`device.session_format`) and the serial link
(:mod:`device.link`); both carry the same *record bytes*::

    kind u8 | payload

All numbers are little-endian. Payloads, by kind (``n`` is a channel count, so a
board with other LEDs still fits):

========== == ==============================================================
FRAME       1 t_s f64 | n u8 | volts n×f32 | kept n×u16 | peak_v n×f32
SAMPLE      2 t_s f64 | n_frames u16 | flags u32 | n u8 | dark_v f32 |
              intensity_v n×f32 | d_od n×f32 | d_hbo2_um, d_hhb_um, d_thb_um,
              oi_um, smo2_pct, residual_od f32
PREDICTION  3 t_s f64 | raw_level i8 | smoothed_level i8 | n u8 |
              probabilities n×f32
EVENT       4 t_s f64 | UTF-8 JSON ``{"name": str, "data": {...}}``
========== == ==============================================================

Times stay float64 (a float32 clock would step by 8 ms after a day). Voltages,
optical densities, concentrations and probabilities are float32: 24 bits of
mantissa against a 16-bit ADC, so decoding returns each value rounded to the
nearest float32 (relative error below 6e-8). A finite value beyond the float32
range is stored as ±inf; NaN stays NaN. With the board's four phases a FRAME is
50 record bytes, a 3-wavelength SAMPLE 68, a 5-class PREDICTION 32.

Versioning: :data:`FORMAT_VERSION` numbers this layout. The session file carries
it in its header, and every stream starts with a *header event*
(:func:`header_record`, name ``"header"``) holding ``format_version``, so a
reader joining a serial stream learns it too. A reader refuses a version it does
not know (:func:`check_version`) rather than misreading the numbers.
"""

from __future__ import annotations

import enum
import functools
import json
import math
import struct
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, Union

from device.acquisition import Frame
from device.chain import ChainSample
from device.errors import DeviceError

#: The record layout this module writes.
FORMAT_VERSION = 1
#: Layouts this module can read.
SUPPORTED_VERSIONS = frozenset({1})
#: Largest record (kind byte + payload): the file stores lengths as u16.
MAX_RECORD_BYTES = 65535
#: Name of the event that starts every file and stream.
HEADER_EVENT = "header"
#: Level value meaning "no level" (e.g. "check sensor" instead of a fatigue level).
NO_LEVEL = -1

_F32_MAX = 3.4028234663852886e38
_T = struct.Struct("<d")


class CodecError(DeviceError, ValueError):
    """A record cannot be encoded, or bytes are not a valid record."""


class RecordKind(enum.IntEnum):
    """The kind byte that starts every record."""

    FRAME = 1
    SAMPLE = 2
    PREDICTION = 3
    EVENT = 4


class Prediction(NamedTuple):
    """One output of the fatigue model (1 per second).

    Attributes:
        t_s: Clock time of the newest sample the model saw, seconds.
        probabilities: One per fatigue level, none → exhausted.
        raw_level: Most probable level of this prediction (:data:`NO_LEVEL` if none).
        smoothed_level: Level shown to the wearer after smoothing (:data:`NO_LEVEL` if none).
    """

    t_s: float
    probabilities: tuple[float, ...]
    raw_level: int
    smoothed_level: int


class Event(NamedTuple):
    """Something that happened: session start, calibration done, an error, a Borg rating.

    Attributes:
        t_s: Clock time, seconds.
        name: What happened, e.g. ``"calibration_done"``.
        data: Details; must be JSON-serialisable (numpy scalars and arrays are converted).
    """

    t_s: float
    name: str
    data: Mapping[str, Any]


Fields = Union[Frame, ChainSample, Prediction, Event]


class Record(NamedTuple):
    """One record: its kind and its fields (a Frame, ChainSample, Prediction or Event)."""

    kind: RecordKind
    fields: Fields

    @property
    def t_s(self) -> float:
        """Clock time of the record, seconds."""
        return self.fields.t_s

    @classmethod
    def of(cls, fields: Fields) -> Record:
        """Wrap a :class:`~device.acquisition.Frame`, ChainSample, Prediction or Event."""
        for kind, type_ in _TYPES.items():
            if isinstance(fields, type_):
                return cls(kind, fields)
        valid = ", ".join(t.__name__ for t in _TYPES.values())
        raise TypeError(f"cannot record a {type(fields).__name__}; expected one of {valid}")

    @classmethod
    def event(cls, t_s: float, name: str, **data: Any) -> Record:
        """An EVENT record: ``Record.event(t_s, "borg", rating=5)``."""
        return cls(RecordKind.EVENT, Event(t_s, name, data))


_TYPES: dict[RecordKind, type] = {
    RecordKind.FRAME: Frame,
    RecordKind.SAMPLE: ChainSample,
    RecordKind.PREDICTION: Prediction,
    RecordKind.EVENT: Event,
}


def as_record(item: Record | Fields) -> Record:
    """``item`` itself if it is a :class:`Record`, else ``Record.of(item)``."""
    return item if isinstance(item, Record) else Record.of(item)


def header_record(t_s: float, **info: Any) -> Record:
    """The event that starts a file or stream: ``format_version`` plus ``info``."""
    if "format_version" in info:
        raise CodecError("header info must not set format_version: the codec sets it")
    return Record.event(t_s, HEADER_EVENT, format_version=FORMAT_VERSION, **info)


def check_version(version: object, *, source: str = "record stream") -> int:
    """Return ``version`` if this codec can read it, else raise :class:`CodecError`."""
    if isinstance(version, int) and version in SUPPORTED_VERSIONS:
        return version
    supported = ", ".join(str(v) for v in sorted(SUPPORTED_VERSIONS))
    raise CodecError(
        f"{source} uses record format version {version!r}; this software reads {supported}"
    )


# -- struct layouts, cached per channel count ------------------------------------------------


@functools.lru_cache(maxsize=32)
def _frame_struct(n: int) -> struct.Struct:
    return struct.Struct(f"<BdB{n}f{n}H{n}f")


@functools.lru_cache(maxsize=32)
def _sample_struct(n: int) -> struct.Struct:
    return struct.Struct(f"<BdHIBf{n}f{n}f6f")


@functools.lru_cache(maxsize=32)
def _prediction_struct(n: int) -> struct.Struct:
    return struct.Struct(f"<BdbbB{n}f")


def _clamp_f32(x: float) -> float:
    x = float(x)
    return math.copysign(math.inf, x) if math.isfinite(x) and abs(x) > _F32_MAX else x


def _same(x: float) -> float:
    return x


def _pack_frame(f: Frame, fl: Callable[[float], float]) -> bytes:
    n = len(f.volts)
    if len(f.kept) != n or len(f.peak_v) != n:
        raise CodecError(
            f"FRAME needs as many kept counts and peaks as volts ({n}), "
            f"got {len(f.kept)} and {len(f.peak_v)}"
        )
    return _frame_struct(n).pack(
        RecordKind.FRAME,
        f.t_s,
        n,
        *map(fl, f.volts),
        *f.kept,
        *map(fl, f.peak_v),
    )


def _pack_sample(s: ChainSample, fl: Callable[[float], float]) -> bytes:
    n = len(s.intensity_v)
    if len(s.d_od) != n:
        raise CodecError(
            f"SAMPLE needs as many d_od as intensity_v values ({n}), got {len(s.d_od)}"
        )
    return _sample_struct(n).pack(
        RecordKind.SAMPLE,
        s.t_s,
        s.n_frames,
        s.flags,
        n,
        fl(s.dark_v),
        *map(fl, s.intensity_v),
        *map(fl, s.d_od),
        fl(s.d_hbo2_um),
        fl(s.d_hhb_um),
        fl(s.d_thb_um),
        fl(s.oi_um),
        fl(s.smo2_pct),
        fl(s.residual_od),
    )


def _pack_prediction(p: Prediction, fl: Callable[[float], float]) -> bytes:
    n = len(p.probabilities)
    return _prediction_struct(n).pack(
        RecordKind.PREDICTION,
        p.t_s,
        p.raw_level,
        p.smoothed_level,
        n,
        *map(fl, p.probabilities),
    )


def _json_default(obj: object) -> object:
    tolist = getattr(obj, "tolist", None)  # numpy scalars and arrays
    if tolist is not None:
        return tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


def _pack_event(e: Event, fl: Callable[[float], float]) -> bytes:
    if not isinstance(e.name, str) or not e.name:
        raise CodecError(f"EVENT name must be a non-empty string, got {e.name!r}")
    if not isinstance(e.data, Mapping):
        raise CodecError(f"EVENT {e.name!r}: data must be a mapping, got {type(e.data).__name__}")
    try:
        text = json.dumps(
            {"name": e.name, "data": dict(e.data)},
            separators=(",", ":"),
            ensure_ascii=False,
            default=_json_default,
        )
    except (TypeError, ValueError) as exc:
        raise CodecError(f"EVENT {e.name!r}: data is not JSON-serialisable: {exc}") from exc
    return bytes([RecordKind.EVENT]) + _T.pack(e.t_s) + text.encode("utf-8")


_PACKERS: dict[RecordKind, Callable[[Any, Callable[[float], float]], bytes]] = {
    RecordKind.FRAME: _pack_frame,
    RecordKind.SAMPLE: _pack_sample,
    RecordKind.PREDICTION: _pack_prediction,
    RecordKind.EVENT: _pack_event,
}


def encode(record: Record | Fields) -> bytes:
    """Record bytes (kind byte + payload) of ``record``.

    Args:
        record: A :class:`Record`, or a Frame, ChainSample, Prediction or Event.

    Raises:
        CodecError: A field has the wrong type or is out of its range (counts and
            flags are unsigned, levels fit an int8), or the record exceeds
            :data:`MAX_RECORD_BYTES`.
    """
    record = as_record(record)
    kind = RecordKind(record.kind)
    if not isinstance(record.fields, _TYPES[kind]):
        raise CodecError(
            f"{kind.name} record needs a {_TYPES[kind].__name__}, "
            f"got {type(record.fields).__name__}"
        )
    pack = _PACKERS[kind]
    try:
        try:
            data = pack(record.fields, _same)
        except OverflowError:  # a finite value beyond float32: store it as ±inf
            data = pack(record.fields, _clamp_f32)
    except (struct.error, TypeError, OverflowError) as exc:
        raise CodecError(f"cannot encode {kind.name} record {record.fields!r}: {exc}") from exc
    if len(data) > MAX_RECORD_BYTES:
        raise CodecError(
            f"{kind.name} record is {len(data)} bytes; the limit is {MAX_RECORD_BYTES}"
        )
    return data


def _unpack(layout: struct.Struct, data: bytes | memoryview, kind: RecordKind) -> tuple:
    if len(data) != layout.size:
        raise CodecError(
            f"{kind.name} record of this channel count is {layout.size} bytes, got {len(data)}"
        )
    return layout.unpack(data)


def _channels(data: bytes | memoryview, offset: int, kind: RecordKind) -> int:
    if len(data) <= offset:
        raise CodecError(f"{kind.name} record truncated: {len(data)} bytes")
    return data[offset]


def decode(data: bytes | bytearray | memoryview, *, version: int = FORMAT_VERSION) -> Record:
    """The :class:`Record` held in record bytes (as made by :func:`encode`).

    Args:
        data: Exactly one record: kind byte + payload.
        version: Format version the bytes were written in (from the file header
            or the stream's header event).

    Raises:
        CodecError: Unknown version or kind, wrong length, or an EVENT that is not
            the expected JSON.
    """
    check_version(version)
    if len(data) < 1:
        raise CodecError("empty record")
    try:
        kind = RecordKind(data[0])
    except ValueError:
        valid = ", ".join(f"{k.value} ({k.name})" for k in RecordKind)
        raise CodecError(f"unknown record kind {data[0]}; expected {valid}") from None
    if kind is RecordKind.FRAME:
        n = _channels(data, 9, kind)
        v = _unpack(_frame_struct(n), data, kind)
        fields: Fields = Frame(v[1], v[3 : 3 + n], v[3 + n : 3 + 2 * n], v[3 + 2 * n :])
    elif kind is RecordKind.SAMPLE:
        n = _channels(data, 15, kind)
        v = _unpack(_sample_struct(n), data, kind)
        rest = v[6 + 2 * n :]
        fields = ChainSample(
            t_s=v[1],
            n_frames=v[2],
            dark_v=v[5],
            intensity_v=v[6 : 6 + n],
            d_od=v[6 + n : 6 + 2 * n],
            d_hbo2_um=rest[0],
            d_hhb_um=rest[1],
            d_thb_um=rest[2],
            oi_um=rest[3],
            smo2_pct=rest[4],
            residual_od=rest[5],
            flags=v[3],
        )
    elif kind is RecordKind.PREDICTION:
        n = _channels(data, 11, kind)
        v = _unpack(_prediction_struct(n), data, kind)
        fields = Prediction(v[1], v[5:], v[2], v[3])
    else:
        fields = _decode_event(data)
    return Record(kind, fields)


def _decode_event(data: bytes | bytearray | memoryview) -> Event:
    if len(data) < 1 + _T.size:
        raise CodecError(f"EVENT record truncated: {len(data)} bytes")
    (t_s,) = _T.unpack_from(data, 1)
    try:
        obj = json.loads(bytes(data[1 + _T.size :]).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise CodecError(f"EVENT record is not UTF-8 JSON: {exc}") from exc
    if not (
        isinstance(obj, dict)
        and isinstance(obj.get("name"), str)
        and isinstance(obj.get("data"), dict)
    ):
        raise CodecError(f'EVENT record must hold {{"name": str, "data": object}}, got {obj!r}')
    return Event(t_s, obj["name"], obj["data"])
