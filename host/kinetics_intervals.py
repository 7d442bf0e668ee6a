"""Which channel and which work intervals of a recording the kinetics analyse
(:mod:`host.kinetics`): the quantity asked for or the default, the intervals by label,
number or ``--work START END``, each checked against the recording."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from host.recording import Channel, Interval, Recording
from host.session import DatasetError

__all__ = ["QUANTITY_CHOICES", "WORK_LABEL", "pick_channel", "work_intervals"]

#: Quantities the kinetics are computed on (:data:`host.recording.QUANTITIES`).
QUANTITY_CHOICES = ("smo2", "hbo2", "hhb", "thb")
#: The label of a work interval in this project's sessions (host.session phases).
WORK_LABEL = "hold"


def pick_channel(recording: Recording, quantity: str | None) -> tuple[str, Channel]:
    """The quantity and channel to analyse: ``quantity`` (one of :data:`QUANTITY_CHOICES`)
    or, when None, SmO2 if the recording has it, else HbO2.

    Raises:
        ValueError: An unknown quantity.
        DatasetError: The recording has no such channel, or no value in it.
    """
    if quantity is None:
        quantity = "smo2" if recording.has("smo2") else "hbo2"
    if quantity not in QUANTITY_CHOICES:
        raise ValueError(f"quantity must be one of {', '.join(QUANTITY_CHOICES)}; got {quantity!r}")
    try:
        channel = recording.channel(quantity)
    except DatasetError as exc:
        raise DatasetError(
            recording.source,
            f"{exc.problem}: nothing to compute kinetics on (choose with --quantity: "
            f"{', '.join(QUANTITY_CHOICES)})",
        ) from None
    if not np.isfinite(channel.values).any():
        raise DatasetError(
            recording.source,
            f"sensor {recording.sensor}: channel {channel.name!r} holds no value (all "
            "blank or 'sensor off'); choose another with --quantity",
        )
    return quantity, channel


def _listing(intervals: Sequence[Interval]) -> str:
    shown = [
        f"{i} {iv.label!r} ({iv.onset_s:g}–{iv.end_s:g} s)" for i, iv in enumerate(intervals[:8], 1)
    ]
    return ", ".join(shown) + (f" and {len(intervals) - 8} more" if len(intervals) > 8 else "")


def work_intervals(
    recording: Recording,
    *,
    select: Sequence[str] | None = None,
    work: Sequence[tuple[float, float]] | None = None,
) -> list[tuple[str, Interval]]:
    """(number, interval) of each work interval, in time order.

    ``work``: (start, end) pairs in s on the recording's time base, numbered ``w1``...;
    else ``select``: labels (every interval so labelled) or numbers from 1 of
    ``recording.intervals`` (a label is matched first); else the intervals labelled
    "hold" (this project's sessions).

    Raises:
        DatasetError: None found (listing the intervals the recording has and the
            options), an interval of no length, outside the recording, or overlapping
            another.
    """
    src, who = recording.source, f"sensor {recording.sensor}"
    listed = list(recording.intervals)
    chosen: list[tuple[str, Interval]] = []
    if work:
        for i, (a, b) in enumerate(work, 1):
            if not b > a:
                raise DatasetError(src, f"--work {a:g} {b:g}: the end must come after the start")
            chosen.append((f"w{i}", Interval(f"--work {a:g} {b:g}", float(a), float(b - a))))
    elif select:
        for key in select:
            hits = [(str(i), iv) for i, iv in enumerate(listed, 1) if iv.label == key]
            if not hits and key.isdigit() and 1 <= int(key) <= len(listed):
                hits = [(key, listed[int(key) - 1])]
            if not hits:
                raise DatasetError(
                    src,
                    f"{who}: no interval labelled or numbered {key!r}; its intervals: "
                    f"{_listing(listed) or 'none'}",
                )
            chosen += [h for h in hits if h[0] not in {c[0] for c in chosen}]
    else:
        chosen = [(str(i), iv) for i, iv in enumerate(listed, 1) if iv.label == WORK_LABEL]
        if not chosen and not listed:
            raise DatasetError(
                src,
                f"{who}: the recording has no marked interval (no lap, event or phase): "
                "give the work interval with --work START END (s)",
            )
        if not chosen:
            raise DatasetError(
                src,
                f"{who}: no interval is labelled {WORK_LABEL!r}; its intervals: "
                f"{_listing(listed)}: choose the work intervals with --interval "
                "LABEL_OR_NUMBER, or give one with --work START END (s)",
            )
    chosen.sort(key=lambda c: c[1].onset_s)
    t0, t1 = float(recording.t_s[0]), float(recording.t_s[-1])
    slack = 0.5 / recording.rate_hz if recording.n_samples > 1 else 0.0
    for i, (number, iv) in enumerate(chosen):
        what = f"work interval {number} {iv.label!r} ({iv.onset_s:g}–{iv.end_s:g} s)"
        if iv.duration_s <= 0:
            raise DatasetError(
                src, f"{who}: {what} has no length (an event mark): give --work START END (s)"
            )
        if iv.onset_s < t0 - slack or iv.end_s > t1 + slack:
            raise DatasetError(
                src, f"{who}: {what} is outside the recording, which runs {t0:g}–{t1:g} s"
            )
        if i and iv.onset_s < chosen[i - 1][1].end_s:
            raise DatasetError(src, f"{who}: {what} overlaps work interval {chosen[i - 1][0]}")
    return chosen


#: Grid points farther than this many sample intervals from a sample on each side are
#: left blank in the ensemble (no interpolation across a dropout).
