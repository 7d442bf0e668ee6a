"""Model inputs: the ONE implementation used by host training and by the wearable.

A window is the last ``WINDOW_SAMPLES`` samples (10 s at 10 Hz) of twelve channels:
the seed's eight of each sample (seed 003 §3.2.4: a 100 × 8 sequence)::

    ΔOD750, ΔOD810, ΔOD870, ΔHbO2, ΔHHb, ΔtHb, SmO2, OI

and, since issue 19, four **context channels**: the 60-s exponential moving averages of
ΔHbO2, ΔHHb, ΔtHb and SmO2 (:class:`SlowMeans`), a memory of the last minute or two
that a 10-s window lacks (how long the muscle has been deoxygenated, not only how much).
The statistics vector holds the mean, std, min, max and median of each channel (the
seed's "about 40" summary features are the first 40, those of the seed's channels).
The seed's baselines take the seed's channels only (``host.train``). The ΔOD channels
are named after their wavelengths; a chain that lights its LEDs in another order is
matched to them by wavelength (:func:`od_order`). A window is taken every second
(``STEP_SAMPLES``); its label is the fatigue level at its last sample.

Normalisation (z-score per channel for the sequence, per value for the statistics)
is fitted on training windows only (by the host, ``host.windows.fit_normaliser``) and
stored with the model (:meth:`Normaliser.to_dict`), so the wearable applies exactly
what training saw.

Pure Python (the board has no numpy): a window's ``sequence`` is a list of 100 rows in
time order, each a tuple of the 12 channel floats in :data:`CHANNELS` order; its
``statistics`` a list of 60 floats. Every function accepts any sequence of numbers
(lists, tuples, numpy arrays) and returns Python floats, tuples and lists. Sums run
left to right in float64, as numpy's reductions over these axes do, so the host's
windows (``host.windows``, which calls these functions) equal what the old numpy code
computed. Whole recordings are cut into windows on the host (``host.windows``).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import reduce
from operator import add, mul

from device.errors import ConfigError
from device.mbll import DEFAULT_HBO2_REST_UM, DEFAULT_HHB_REST_UM, smo2_percent

#: The channels of one sample (:func:`channel_row`): the seed's eight.
SAMPLE_CHANNELS = (
    "d_od_750",
    "d_od_810",
    "d_od_870",
    "d_hbo2_um",
    "d_hhb_um",
    "d_thb_um",
    "smo2_pct",
    "oi_um",
)
#: Sample channels whose slow means are context channels (:class:`SlowMeans`).
CONTEXT_SOURCES = ("d_hbo2_um", "d_hhb_um", "d_thb_um", "smo2_pct")
#: Time constant of the context channels' exponential moving average, s. A choice of
#: issue 19 on its simulated cohort: in a first trial (whose SmO2 mean started from 0,
#: not from the first value) 30, 60, 90 or 120 s, or two of them, gave boosted trees the
#: same subject-wise macro-F1 within 0.004; a simulated 50 % MVC hold lasts about
#: 60–150 s, so 60 s remembers most of one. The training report's control row gives the
#: figure with this implementation (boosted trees with and without the context).
CONTEXT_TAU_S = 60.0
#: Every channel of a window: the sample's, then the context.
CHANNELS = SAMPLE_CHANNELS + tuple(f"{c}_ema{CONTEXT_TAU_S:g}s" for c in CONTEXT_SOURCES)
STATISTICS = ("mean", "std", "min", "max", "median")
WINDOW_SAMPLES = 100  # 10 s at 10 Hz
STEP_SAMPLES = 10  # a window every second
#: The model's sample rate, Hz (the chain's default output rate, which training used).
MODEL_RATE_HZ = 10.0
N_STATISTICS = len(CHANNELS) * len(STATISTICS)  # 60
#: The statistics of the seed's eight channels come first (channel-major order).
N_SAMPLE_STATISTICS = len(SAMPLE_CHANNELS) * len(STATISTICS)  # 40
#: A window's shapes, as the model takes them: the sequence (samples × channels) and the
#: statistics.
SEQUENCE_SHAPE = (WINDOW_SAMPLES, len(CHANNELS))
STATISTICS_SHAPE = (N_STATISTICS,)
#: A channel whose training spread is below this is left unscaled (avoids dividing by ~0).
MIN_STD = 1e-9
#: Number of ΔOD wavelengths in a sample (the first three channels).
N_WAVELENGTHS = 3
#: The wavelengths (nm) the ΔOD channels are named after (``d_od_750`` ...), in channel
#: order: the light each of the model's first three inputs must come from.
OD_WAVELENGTHS_NM: tuple[float, ...] = tuple(
    float(name[len("d_od_") :]) for name in CHANNELS if name.startswith("d_od_")
)
#: :func:`od_order` of a chain that lights the LEDs in :data:`OD_WAVELENGTHS_NM` order.
IN_ORDER: tuple[int, ...] = tuple(range(N_WAVELENGTHS))
_NAN = float("nan")


def _numbers(values: object) -> list:
    """A flat or nested sequence as Python lists (numpy arrays through ``tolist``)."""
    tolist = getattr(values, "tolist", None)
    return tolist() if tolist is not None else list(values)


def od_order(wavelengths_nm: Sequence[float]) -> tuple[int, ...]:
    """Where each ΔOD channel's light is in a chain's wavelength order.

    The model's ΔOD inputs are named after their wavelengths (:data:`OD_WAVELENGTHS_NM`:
    ``d_od_750``, ``d_od_810``, ``d_od_870``); a chain lights its LEDs, and reports ΔOD,
    in the order of its ``wavelengths_nm``. Pass the result to :func:`channel_row` as
    ``order`` (once per chain, not per sample), or take ``d_od[order[k]]`` as channel k.

    Args:
        wavelengths_nm: The chain's wavelengths, nm, in its column order, e.g.
            ``(870.0, 810.0, 750.0)``.

    Returns:
        tuple of :data:`N_WAVELENGTHS` int: for each of :data:`OD_WAVELENGTHS_NM` in turn,
        its index in ``wavelengths_nm`` (``(2, 1, 0)`` for the example; :data:`IN_ORDER`
        when the chain's order is the model's).

    Raises:
        ConfigError: If a wavelength the model needs is not in ``wavelengths_nm`` (one line
            naming the wavelengths found and those needed).
    """
    found = [float(w) for w in wavelengths_nm]
    missing = [w for w in OD_WAVELENGTHS_NM if w not in found]
    if missing:
        raise ConfigError(
            f"wavelengths {_nm(found)} nm lack {_nm(missing)} nm: the model's ΔOD inputs "
            f"need {_nm(OD_WAVELENGTHS_NM)} nm (in any order)"
        )
    return tuple(found.index(w) for w in OD_WAVELENGTHS_NM)


def _nm(wavelengths: Iterable[float]) -> str:
    return ", ".join(f"{w:g}" for w in wavelengths)


def _row(
    d_od: Sequence[float],
    hbo2: float,
    hhb: float,
    hbo2_rest_um: float,
    hhb_rest_um: float,
    order: Sequence[int] = IN_ORDER,
) -> tuple[float, ...]:
    smo2 = float(
        smo2_percent(
            hbo2, hhb, hbo2_rest_um=hbo2_rest_um, hhb_rest_um=hhb_rest_um, impossible="clip"
        )
    )
    i, j, k = order
    return (
        float(d_od[i]),
        float(d_od[j]),
        float(d_od[k]),
        hbo2,
        hhb,
        hbo2 + hhb,
        smo2,
        hbo2 - hhb,
    )


def channel_row(
    d_od: Sequence[float],
    d_hbo2_um: float,
    d_hhb_um: float,
    *,
    hbo2_rest_um: float = DEFAULT_HBO2_REST_UM,
    hhb_rest_um: float = DEFAULT_HHB_REST_UM,
    order: Sequence[int] = IN_ORDER,
) -> tuple[float, ...]:
    """The eight channels of one 10 Hz sample (what the wearable pushes every sample).

    Args:
        d_od: ΔOD per wavelength (three numbers), in the chain's wavelength order.
        d_hbo2_um: ΔHbO2, µM.
        d_hhb_um: ΔHHb, µM.
        hbo2_rest_um: Assumed resting HbO2 for the SmO2 estimate, µM.
        hhb_rest_um: Assumed resting HHb for the SmO2 estimate, µM.
        order: :func:`od_order` of the chain's wavelengths: ``d_od[order[k]]`` becomes
            the k-th ΔOD channel. Default :data:`IN_ORDER`: ``d_od`` is at 750, 810 and
            870 nm already.

    Returns:
        tuple of 8 float, in :data:`SAMPLE_CHANNELS` order (see :func:`channel_matrix`).

    Raises:
        ValueError: If ``d_od`` does not hold three values.
    """
    d_od = _numbers(d_od)
    if len(d_od) != N_WAVELENGTHS:
        raise ValueError(f"d_od must hold {N_WAVELENGTHS} values (one per wavelength), got {d_od}")
    return _row(d_od, float(d_hbo2_um), float(d_hhb_um), hbo2_rest_um, hhb_rest_um, order)


def channel_matrix(
    *,
    d_od: Sequence[Sequence[float]],
    d_hbo2_um: Sequence[float],
    d_hhb_um: Sequence[float],
    hbo2_rest_um: float = DEFAULT_HBO2_REST_UM,
    hhb_rest_um: float = DEFAULT_HHB_REST_UM,
) -> list[tuple[float, ...]]:
    """The eight :data:`SAMPLE_CHANNELS` of every sample, from chain outputs (the context
    channels are :func:`with_context`'s).

    ΔtHb, OI and SmO2 are derived here, so training and the wearable derive them the
    same way. SmO2 is the estimate against the assumed resting values, clipped at
    0–100 % where a strong responder's changes exceed them (a model input must stay
    finite; see :func:`device.mbll.smo2_percent`).

    Args:
        d_od: n rows of ΔOD at 750, 810 and 870 nm (shape (n, 3)).
        d_hbo2_um, d_hhb_um: n values each, µM.
        hbo2_rest_um, hhb_rest_um: Assumed resting concentrations for SmO2, µM.

    Returns:
        list of n tuples of 8 float, one per sample, in :data:`SAMPLE_CHANNELS` order
        (``np.asarray`` of it has shape (n, 8)).

    Raises:
        ValueError: If the rows are not (n, 3) or the lengths differ.
    """
    hbo2 = [float(x) for x in _numbers(d_hbo2_um)]
    hhb = [float(x) for x in _numbers(d_hhb_um)]
    try:
        rows = [_numbers(r) for r in _numbers(d_od)]
    except TypeError:  # not rows of values
        rows = None
    if rows is None or len(rows) != len(hbo2) or any(len(r) != N_WAVELENGTHS for r in rows):
        got = (
            "values that are not rows"
            if rows is None
            else f"{len(rows)} rows of {sorted({len(r) for r in rows})} values"
        )
        raise ValueError(
            f"d_od must have shape (n, {N_WAVELENGTHS}) matching {len(hbo2)} samples, got {got}"
        )
    if len(hhb) != len(hbo2):
        raise ValueError(
            f"d_hbo2_um and d_hhb_um must have the same length, got {len(hbo2)} and {len(hhb)}"
        )
    return [_row(r, a, b, hbo2_rest_um, hhb_rest_um) for r, a, b in zip(rows, hbo2, hhb)]


_CONTEXT_INDEX = tuple(SAMPLE_CHANNELS.index(c) for c in CONTEXT_SOURCES)


class SlowMeans:
    """The context channels: exponential moving averages of :data:`CONTEXT_SOURCES`.

    ``m ← m + α (x − m)`` per sample with ``α = 1 − exp(−Δt / τ)``, Δt = 1 /
    :data:`MODEL_RATE_HZ` and τ = :data:`CONTEXT_TAU_S`: a first-order low-pass filter
    (the discretised RC filter of any signal-processing text, e.g. Smith 1997, *The
    Scientist and Engineer's Guide to DSP*, ch. 19). The first finite value starts
    each mean; a NaN or infinite value leaves it as it was (a gap in the signal is not
    news about the muscle), so a mean is NaN only before its first finite value.
    Four numbers of state: the wearable keeps one per session.
    """

    ALPHA = 1.0 - math.exp(-1.0 / (MODEL_RATE_HZ * CONTEXT_TAU_S))

    def __init__(self) -> None:
        self._means = [_NAN] * len(CONTEXT_SOURCES)

    def update(self, row: Sequence[float]) -> tuple[float, ...]:
        """Take one sample's 8 channel values; return the 4 context values after it."""
        means, alpha = self._means, self.ALPHA
        for k, i in enumerate(_CONTEXT_INDEX):
            x = float(row[i])
            if math.isfinite(x):
                m = means[k]
                means[k] = x if m != m else m + alpha * (x - m)
        return tuple(means)


def with_context(rows: Iterable[Sequence[float]]) -> list[tuple[float, ...]]:
    """Each sample's 8 channels followed by its 4 context channels, in :data:`CHANNELS`
    order: what :class:`LiveWindow` holds, for a whole recording at once (host).

    Args:
        rows: (n, 8) rows of :data:`SAMPLE_CHANNELS` in time order, as from
            :func:`channel_matrix`, from the recording's first sample on.

    Returns:
        list of n tuples of 12 float.
    """
    means = SlowMeans()
    return [tuple(row) + means.update(row) for row in map(_sample_row, rows)]


def _sample_row(row: Sequence[float]) -> tuple[float, ...]:
    values = tuple(float(x) for x in _numbers(row))
    if len(values) != len(SAMPLE_CHANNELS):
        raise ValueError(
            f"a sample's row must hold {len(SAMPLE_CHANNELS)} channel values "
            f"({', '.join(SAMPLE_CHANNELS)}), got {len(values)}"
        )
    return values


def _column_statistics(column: list[float]) -> tuple[float, float, float, float, float]:
    """mean, population std, min, max, median of one channel, as numpy computes them."""
    n = len(column)
    total = reduce(add, column)  # left to right from the first value, as numpy's sum
    mean = total / n
    deviations = [x - mean for x in column]
    std = math.sqrt(reduce(add, map(mul, deviations, deviations)) / n)  # ddof=0
    if total != total and any(map(math.isnan, column)):  # NaN anywhere: all NaN, as numpy
        return mean, std, _NAN, _NAN, _NAN
    ordered = sorted(column)
    half = n // 2
    median = ordered[half] if n % 2 else (ordered[half - 1] + ordered[half]) / 2
    return mean, std, ordered[0], ordered[-1], median


def statistics(window: Iterable[Sequence[float]]) -> list[float]:
    """The 60 summary values of one window, channel-major.

    For each channel of :data:`CHANNELS`, in :data:`STATISTICS` order: the mean, the
    population standard deviation (ddof = 0), the minimum, the maximum and the median
    (the mean of the two middle values when the count is even). A channel holding NaN
    gives NaN for all five, as numpy's reductions do.

    Args:
        window: Rows in time order (normally ``WINDOW_SAMPLES`` of them), each the 12
            channel values; a (100, 12) array works too.

    Returns:
        list of 60 float.

    Raises:
        ValueError: If the window is empty or a row does not hold 12 values.
    """
    rows = _numbers(window)
    if not rows:
        raise ValueError("a window needs at least one sample")
    if set(map(len, rows)) != {len(CHANNELS)}:
        raise ValueError(f"every row of a window must hold {len(CHANNELS)} channel values")
    out: list[float] = []
    for column in zip(*rows):
        out.extend(_column_statistics(list(map(float, column))))
    return out


def statistic_names() -> list[str]:
    """Names of the 60 statistics, in :func:`statistics` order."""
    return [f"{c}_{s}" for c in CHANNELS for s in STATISTICS]


def _finite_floats(data: Mapping[str, object], key: str, size: int) -> tuple[float, ...]:
    message = f"normalisation {key!r} must be {size} finite numbers"
    try:
        values = tuple(float(x) for x in _numbers(data[key]))
    except (TypeError, ValueError):
        raise ValueError(message) from None
    if len(values) != size or not all(map(math.isfinite, values)):
        raise ValueError(message)
    return values


@dataclass(frozen=True)
class Normaliser:
    """Z-scores fitted on training windows only (``host.windows.fit_normaliser``);
    stored with the model.

    Fields are tuples of float: ``seq_mean``, ``seq_std`` (12 each, per channel) and
    ``stats_mean``, ``stats_std`` (60 each, per statistic). Every std is at least
    :data:`MIN_STD`.
    """

    seq_mean: tuple[float, ...]
    seq_std: tuple[float, ...]
    stats_mean: tuple[float, ...]
    stats_std: tuple[float, ...]

    def apply(
        self, sequence: Iterable[Sequence[float]], statistics: Sequence[float]
    ) -> tuple[list[tuple[float, ...]], list[float]]:
        """Normalised copies of one window: ``(x - mean) / std``, float64.

        Args:
            sequence: The window's rows (normally 100), each the 12 channel values.
            statistics: Its 60 statistics.

        Returns:
            (list of tuples of 12 float, list of 60 float). The model takes float32:
            the backend converts.

        Raises:
            ValueError: If a row does not hold 12 values or there are not 60 statistics.
        """
        seq_mean, seq_std = self.seq_mean, self.seq_std
        width = len(seq_mean)
        rows = []
        for row in _numbers(sequence):
            if len(row) != width:
                raise ValueError(f"every row of a window must hold {width} channel values")
            rows.append(tuple((float(x) - m) / s for x, m, s in zip(row, seq_mean, seq_std)))
        stats = _numbers(statistics)
        if len(stats) != len(self.stats_mean):
            raise ValueError(
                f"statistics must hold {len(self.stats_mean)} values, got {len(stats)}"
            )
        normed = [(float(x) - m) / s for x, m, s in zip(stats, self.stats_mean, self.stats_std)]
        return rows, normed

    def to_dict(self) -> dict[str, list[float]]:
        return {k: list(getattr(self, k)) for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, data: Mapping[str, Sequence[float]]) -> Normaliser:
        sizes = {
            "seq_mean": len(CHANNELS),
            "seq_std": len(CHANNELS),
            "stats_mean": N_STATISTICS,
            "stats_std": N_STATISTICS,
        }
        values = {}
        for key, size in sizes.items():
            if key not in data:
                raise ValueError(f"normalisation lacks {key!r}; has {sorted(data)}")
            values[key] = _finite_floats(data, key, size)
        if min(values["seq_std"]) <= 0 or min(values["stats_std"]) <= 0:
            raise ValueError("normalisation standard deviations must be > 0")
        return cls(**values)


class LiveWindow:
    """The wearable's side: the last 100 samples of every channel (bounded memory), the
    context channels computed here from every sample pushed (:class:`SlowMeans`)."""

    def __init__(self) -> None:
        self._slow = SlowMeans()
        self._rows: deque[tuple[float, ...]] = deque()
        self._flags: deque[int] = deque()
        self._n_flagged = 0  # samples in the window with a flag set
        self._n_unfinite = 0  # samples in the window with a NaN or infinite channel
        self.count = 0

    def push(self, row: Sequence[float], flags: int = 0) -> None:
        """Add one 10 Hz sample's eight channel values (see :data:`SAMPLE_CHANNELS`);
        the window keeps them with the context channels after it.

        Raises:
            ValueError: If the row does not hold 8 values.
        """
        values = _sample_row(row)
        values += self._slow.update(values)
        flags = int(flags)
        if len(self._rows) == WINDOW_SAMPLES:
            self._n_flagged -= self._flags.popleft() != 0
            self._n_unfinite -= not all(map(math.isfinite, self._rows.popleft()))
        self._rows.append(values)
        self._flags.append(flags)
        self._n_flagged += flags != 0
        self._n_unfinite += not all(map(math.isfinite, values))
        self.count += 1

    @property
    def full(self) -> bool:
        return self.count >= WINDOW_SAMPLES

    @property
    def clean(self) -> bool:
        """Full, finite and with no flagged sample: fit for a prediction."""
        return self.full and self._n_flagged == 0 and self._n_unfinite == 0

    def window_in_steps(
        self, channels_per_step: int = len(SAMPLE_CHANNELS) // 2
    ) -> Generator[None, None, tuple[list[tuple[float, ...]], list[float]]]:
        """:meth:`window` in steps, yielding after the statistics of every
        ``channels_per_step`` channels, so that the wearable reads ADC conversions in
        between: ``sequence, statistics = yield from live.window_in_steps()``.

        Raises:
            ValueError: ``channels_per_step`` below 1.
        """
        if channels_per_step < 1:
            raise ValueError(f"channels_per_step must be >= 1, got {channels_per_step!r}")
        sequence = self._sequence()
        columns = list(zip(*sequence))
        out: list[float] = []
        for first in range(0, len(columns), channels_per_step):
            for column in columns[first : first + channels_per_step]:
                out.extend(_column_statistics(list(column)))
            yield
        return sequence, out

    def window(self) -> tuple[list[tuple[float, ...]], list[float]]:
        """The sequence in time order and its 60 statistics.

        Returns:
            (list of 100 tuples of 12 float, list of 60 float). Before the window is
            full, the missing oldest rows are NaN (and so are the statistics).
        """
        sequence = self._sequence()
        return sequence, statistics(sequence)

    def _sequence(self) -> list[tuple[float, ...]]:
        """The last 100 rows in time order, NaN rows first while the window fills."""
        missing = WINDOW_SAMPLES - len(self._rows)
        return [(_NAN,) * len(CHANNELS)] * missing + list(self._rows)
