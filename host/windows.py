"""Model windows of whole recordings: the host's batch side of :mod:`device.features`.

The per-sample channels and the per-window statistics are the device's own functions
(:func:`device.features.channel_matrix`, :func:`device.features.statistics`), called
here sample by sample and window by window, so training sees exactly what the wearable
computes. Only two steps are numpy here:

- :func:`fit_normaliser`: means and standard deviations over all training windows
  (host only: the wearable loads the result from ``model.json``);
- :func:`normalise`: ``(x - mean) / std`` over thousands of windows at once, for every
  fold of every model. It is the same element-wise float64 arithmetic as
  :meth:`device.features.Normaliser.apply` (``tests/test_features.py`` holds them equal
  on a simulated session), then float32, what the models take.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from device.features import (
    CHANNELS,
    MIN_STD,
    N_STATISTICS,
    STEP_SAMPLES,
    WINDOW_SAMPLES,
    Normaliser,
    channel_matrix,
    statistics,
    with_context,
)
from device.mbll import DEFAULT_HBO2_REST_UM, DEFAULT_HHB_REST_UM


@dataclass
class Windows:
    """Windows cut from one or more recordings."""

    sequences: np.ndarray  # (n, 100, 12): every channel of device.features.CHANNELS
    stats: np.ndarray  # (n, 60)
    labels: np.ndarray  # (n,) fatigue level at the window's end
    t_end_s: np.ndarray  # (n,)
    groups: np.ndarray  # (n,) e.g. subject of each window (for subject-wise CV)
    protocols: np.ndarray  # (n,) the protocol of each window's session ("" if not known)


def channel_array(
    *,
    d_od: np.ndarray,
    d_hbo2_um: np.ndarray,
    d_hhb_um: np.ndarray,
    hbo2_rest_um: float = DEFAULT_HBO2_REST_UM,
    hhb_rest_um: float = DEFAULT_HHB_REST_UM,
) -> np.ndarray:
    """Every channel of a whole recording, (n, 12): :func:`device.features.channel_matrix`
    then :func:`device.features.with_context`, from its first sample, as the wearable's
    :class:`device.features.LiveWindow` computes them."""
    rows = channel_matrix(
        d_od=d_od,
        d_hbo2_um=d_hbo2_um,
        d_hhb_um=d_hhb_um,
        hbo2_rest_um=hbo2_rest_um,
        hhb_rest_um=hhb_rest_um,
    )
    return np.asarray(with_context(rows), dtype=float).reshape(len(rows), len(CHANNELS))


def window_statistics(sequences: np.ndarray) -> np.ndarray:
    """:func:`device.features.statistics` of each window, (n, 100, 12) → (n, 60)."""
    out = np.empty((len(sequences), N_STATISTICS))
    for i, window in enumerate(sequences):
        out[i] = statistics(window)
    return out


def cut_windows(
    channels: np.ndarray,
    labels: np.ndarray,
    t_s: np.ndarray,
    *,
    group: object = 0,
    protocol: str = "",
    flags: np.ndarray | None = None,
    step: int = STEP_SAMPLES,
) -> Windows:
    """Every-second windows of one recording, skipping any window with NaN or a flag set.

    Args:
        channels: (n, 12) from :func:`channel_array`, at 10 Hz.
        labels: (n,) fatigue level per sample.
        t_s: (n,) sample times, seconds.
        group: Stored for every window (the subject, for grouped cross-validation).
        protocol: Stored for every window (its session's protocol).
        flags: (n,) quality flags; a window containing any flagged sample is skipped,
            as the wearable shows "check sensor" instead of predicting then.
        step: Samples between window ends (default: every second, as the wearable
            predicts; training may take fewer of the 90 %-overlapping windows).
    """
    channels = np.asarray(channels, dtype=float)
    n = len(channels)
    if channels.ndim != 2 or channels.shape[1] != len(CHANNELS):
        raise ValueError(f"channels must have shape (n, {len(CHANNELS)}), got {channels.shape}")
    if len(labels) != n or len(t_s) != n:
        raise ValueError(f"labels ({len(labels)}) and t_s ({len(t_s)}) must match {n} samples")
    if step < 1:
        raise ValueError(f"step must be >= 1 sample, got {step}")
    ends = np.arange(WINDOW_SAMPLES - 1, n, step)
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
        stats=window_statistics(seq),
        labels=np.asarray(labels)[idx].astype(np.int64),
        t_end_s=np.asarray(t_s, dtype=float)[idx],
        groups=np.full(len(idx), group, dtype=object),
        protocols=np.full(len(idx), protocol, dtype=object),
    )


def concat_windows(parts: Sequence[Windows]) -> Windows:
    """Join windows of several recordings."""
    if not parts:
        raise ValueError("no windows to join")
    return Windows(
        *(np.concatenate([getattr(p, f) for p in parts]) for f in Windows.__dataclass_fields__)
    )


def fit_normaliser(sequences: np.ndarray, stats: np.ndarray) -> Normaliser:
    """Fit the z-scores on training windows, (n, 100, 12) and (n, 60).

    A spread below :data:`device.features.MIN_STD` is raised to it (that value is then
    left unscaled rather than divided by ~0).
    """
    if len(sequences) == 0:
        raise ValueError("cannot fit a normaliser on zero windows")
    sequences, stats = np.asarray(sequences, dtype=float), np.asarray(stats, dtype=float)
    flat = sequences.reshape(-1, sequences.shape[-1])
    return Normaliser(
        tuple(flat.mean(axis=0).tolist()),
        tuple(np.maximum(flat.std(axis=0), MIN_STD).tolist()),
        tuple(stats.mean(axis=0).tolist()),
        tuple(np.maximum(stats.std(axis=0), MIN_STD).tolist()),
    )


def normalise(
    norm: Normaliser, sequences: np.ndarray, stats: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """:meth:`device.features.Normaliser.apply` over many windows at once, float32.

    Args:
        norm: The normaliser.
        sequences: (..., 100, 12) raw windows.
        stats: (..., 60) their statistics.

    Returns:
        The normalised sequences and statistics, float32, same shapes.
    """
    seq = (np.asarray(sequences, dtype=float) - np.asarray(norm.seq_mean)) / np.asarray(
        norm.seq_std
    )
    st = (np.asarray(stats, dtype=float) - np.asarray(norm.stats_mean)) / np.asarray(norm.stats_std)
    return seq.astype(np.float32), st.astype(np.float32)
