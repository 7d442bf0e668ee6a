"""Model inputs: the ONE implementation used by host training and by the wearable.

A window is the last ``WINDOW_SAMPLES`` samples (10 s at 10 Hz) of eight channels
(seed 003 §3.2.4: a 100 × 8 sequence)::

    ΔOD750, ΔOD810, ΔOD870, ΔHbO2, ΔHHb, ΔtHb, SmO2, OI

and a 40-value statistics vector: mean, std, min, max and median of each channel
(the seed's "about 40" summary features). A window is taken every second
(``STEP_SAMPLES``); its label is the fatigue level at its last sample.

Normalisation (z-score per channel for the sequence, per value for the statistics)
is fitted on training windows only and stored with the model
(:meth:`Normaliser.to_dict`), so the wearable applies exactly what training saw.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from device.mbll import DEFAULT_HBO2_REST_UM, DEFAULT_HHB_REST_UM, smo2_percent

CHANNELS = (
    "d_od_750",
    "d_od_810",
    "d_od_870",
    "d_hbo2_um",
    "d_hhb_um",
    "d_thb_um",
    "smo2_pct",
    "oi_um",
)
STATISTICS = ("mean", "std", "min", "max", "median")
WINDOW_SAMPLES = 100  # 10 s at 10 Hz
STEP_SAMPLES = 10  # a window every second
N_STATISTICS = len(CHANNELS) * len(STATISTICS)  # 40
#: A channel whose training spread is below this is left unscaled (avoids dividing by ~0).
MIN_STD = 1e-9


def channel_matrix(
    *,
    d_od: np.ndarray,
    d_hbo2_um: np.ndarray,
    d_hhb_um: np.ndarray,
    hbo2_rest_um: float = DEFAULT_HBO2_REST_UM,
    hhb_rest_um: float = DEFAULT_HHB_REST_UM,
) -> np.ndarray:
    """Stack the eight channels, shape (n, 8), from chain outputs.

    ΔtHb, OI and SmO2 are derived here, so training and the wearable derive them the
    same way. SmO2 is the estimate against the assumed resting values, clipped at
    0–100 % where a strong responder's changes exceed them (a model input must stay
    finite; see :func:`device.mbll.smo2_percent`).
    """
    d_od = np.asarray(d_od, dtype=float)
    hbo2 = np.asarray(d_hbo2_um, dtype=float)
    hhb = np.asarray(d_hhb_um, dtype=float)
    if d_od.ndim != 2 or d_od.shape[1] != 3 or len(d_od) != len(hbo2):
        raise ValueError(
            f"d_od must have shape (n, 3) matching {len(hbo2)} samples, got {d_od.shape}"
        )
    smo2 = smo2_percent(
        hbo2, hhb, hbo2_rest_um=hbo2_rest_um, hhb_rest_um=hhb_rest_um, impossible="clip"
    )
    return np.column_stack([d_od, hbo2, hhb, hbo2 + hhb, smo2, hbo2 - hhb])


def statistics(window: np.ndarray) -> np.ndarray:
    """The 40 summary values of windows, shape (..., 100, 8) → (..., 40), channel-major."""
    stats = np.stack(
        [
            window.mean(axis=-2),
            window.std(axis=-2),
            window.min(axis=-2),
            window.max(axis=-2),
            np.median(window, axis=-2),
        ],
        axis=-1,
    )  # (..., 8, 5)
    return stats.reshape(*window.shape[:-2], N_STATISTICS)


def statistic_names() -> list[str]:
    """Names of the 40 statistics, in :func:`statistics` order."""
    return [f"{c}_{s}" for c in CHANNELS for s in STATISTICS]


@dataclass
class Windows:
    """Windows cut from one or more recordings."""

    sequences: np.ndarray  # (n, 100, 8)
    stats: np.ndarray  # (n, 40)
    labels: np.ndarray  # (n,) fatigue level at the window's end
    t_end_s: np.ndarray  # (n,)
    groups: np.ndarray  # (n,) e.g. subject of each window (for subject-wise CV)


def cut_windows(
    channels: np.ndarray,
    labels: np.ndarray,
    t_s: np.ndarray,
    *,
    group: object = 0,
    flags: np.ndarray | None = None,
) -> Windows:
    """Every-second windows of one recording, skipping any window with NaN or a flag set.

    Args:
        channels: (n, 8) from :func:`channel_matrix`, at 10 Hz.
        labels: (n,) fatigue level per sample.
        t_s: (n,) sample times, seconds.
        group: Stored for every window (the subject, for grouped cross-validation).
        flags: (n,) quality flags; a window containing any flagged sample is skipped,
            as the wearable shows "check sensor" instead of predicting then.
    """
    channels = np.asarray(channels, dtype=float)
    n = len(channels)
    if channels.ndim != 2 or channels.shape[1] != len(CHANNELS):
        raise ValueError(f"channels must have shape (n, {len(CHANNELS)}), got {channels.shape}")
    if len(labels) != n or len(t_s) != n:
        raise ValueError(f"labels ({len(labels)}) and t_s ({len(t_s)}) must match {n} samples")
    ends = np.arange(WINDOW_SAMPLES - 1, n, STEP_SAMPLES)
    bad = ~np.all(np.isfinite(channels), axis=1)
    if flags is not None:
        bad |= np.asarray(flags) != 0
    bad_before = np.concatenate([[0], np.cumsum(bad)])
    ok = [e for e in ends if bad_before[e + 1] - bad_before[e + 1 - WINDOW_SAMPLES] == 0]
    idx = np.asarray(ok, dtype=int)
    seq = (
        np.stack([channels[e + 1 - WINDOW_SAMPLES : e + 1] for e in idx])
        if len(idx)
        else np.empty((0, WINDOW_SAMPLES, len(CHANNELS)))
    )
    return Windows(
        sequences=seq,
        stats=statistics(seq) if len(idx) else np.empty((0, N_STATISTICS)),
        labels=np.asarray(labels)[idx].astype(np.int64),
        t_end_s=np.asarray(t_s, dtype=float)[idx],
        groups=np.full(len(idx), group, dtype=object),
    )


def concat_windows(parts: Sequence[Windows]) -> Windows:
    """Join windows of several recordings."""
    if not parts:
        raise ValueError("no windows to join")
    return Windows(
        *(np.concatenate([getattr(p, f) for p in parts]) for f in Windows.__dataclass_fields__)
    )


@dataclass
class Normaliser:
    """Z-scores fitted on training windows only; stored with the model."""

    seq_mean: np.ndarray  # (8,)
    seq_std: np.ndarray  # (8,)
    stats_mean: np.ndarray  # (40,)
    stats_std: np.ndarray  # (40,)

    @classmethod
    def fit(cls, sequences: np.ndarray, stats: np.ndarray) -> Normaliser:
        """Fit on training windows, (n, 100, 8) and (n, 40)."""
        if len(sequences) == 0:
            raise ValueError("cannot fit a normaliser on zero windows")
        flat = sequences.reshape(-1, sequences.shape[-1])
        return cls(
            flat.mean(axis=0),
            np.maximum(flat.std(axis=0), MIN_STD),
            stats.mean(axis=0),
            np.maximum(stats.std(axis=0), MIN_STD),
        )

    def apply(self, sequences: np.ndarray, stats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Normalised copies, float32 (what the model takes)."""
        seq = (np.asarray(sequences) - self.seq_mean) / self.seq_std
        st = (np.asarray(stats) - self.stats_mean) / self.stats_std
        return seq.astype(np.float32), st.astype(np.float32)

    def to_dict(self) -> dict[str, list[float]]:
        return {k: getattr(self, k).tolist() for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, data: Mapping[str, Sequence[float]]) -> Normaliser:
        sizes = {"seq_mean": 8, "seq_std": 8, "stats_mean": 40, "stats_std": 40}
        arrays = {}
        for key, size in sizes.items():
            if key not in data:
                raise ValueError(f"normalisation lacks {key!r}; has {sorted(data)}")
            arr = np.asarray(data[key], dtype=float)
            if arr.shape != (size,) or not np.all(np.isfinite(arr)):
                raise ValueError(f"normalisation {key!r} must be {size} finite numbers")
            arrays[key] = arr
        if np.any(arrays["seq_std"] <= 0) or np.any(arrays["stats_std"] <= 0):
            raise ValueError("normalisation standard deviations must be > 0")
        return cls(**arrays)


class LiveWindow:
    """The wearable's side: a ring of the last 100 samples (bounded memory)."""

    def __init__(self) -> None:
        self._ring = np.full((WINDOW_SAMPLES, len(CHANNELS)), np.nan)
        self._flags = np.zeros(WINDOW_SAMPLES, dtype=np.int64)
        self._next = 0
        self.count = 0

    def push(self, row: Sequence[float], flags: int = 0) -> None:
        """Add one 10 Hz sample's eight channel values (see :data:`CHANNELS`)."""
        self._ring[self._next] = row
        self._flags[self._next] = flags
        self._next = (self._next + 1) % WINDOW_SAMPLES
        self.count += 1

    @property
    def full(self) -> bool:
        return self.count >= WINDOW_SAMPLES

    @property
    def clean(self) -> bool:
        """Full, finite and with no flagged sample: fit for a prediction."""
        return self.full and not self._flags.any() and bool(np.all(np.isfinite(self._ring)))

    def window(self) -> tuple[np.ndarray, np.ndarray]:
        """The (100, 8) sequence in time order and its 40 statistics."""
        seq = np.roll(self._ring, -self._next, axis=0)
        return seq, statistics(seq)
