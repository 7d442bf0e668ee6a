"""Loss accounting for the serial link: which frames the host never got, and why.

The device numbers every frame it makes, sent or not, modulo :data:`SEQ_MODULO` (a
16-bit ``seq``), and every record carries the device's clock (``t_s``). From these two
alone the host tells apart:

* a **gap**: frames lost in transit or dropped by the device. Counted exactly from the
  sequence numbers, across the wrap from 65535 to 0;
* an **outage too long to count**: when the device-clock time between two good frames
  could hold another whole turn of the sequence at the stream's own rate, only a lower
  bound is known. It is reported as "at least N", with the device-clock span as the
  evidence and an estimate from the rate, never as a count the stream cannot contain;
* a **restart**: the device's sequence began again. Known for sure from the header
  event's ``stream`` number (a new one each time a writer starts), and otherwise
  inferred when the header itself was lost: the device clock went back (the board
  rebooted), or more numbers are missing than the device can have made in the time
  between the two frames while the new number is small (the app restarted). A restart
  is not counted as tens of thousands of lost frames;
* a **duplicate** (the same frame again: same ``seq``, same ``t_s``), dropped, and a
  **late** frame (one of the last few frames counted lost, arriving after all), which
  takes its loss back. A UART does neither; a broker relaying the stream may.

What cannot be told apart is said so: a restart whose header is lost, soon after the
old stream wrapped, looks like a short gap; a restart after an outage long enough to
hide a whole turn shows as an "at least" gap. A later header with the new ``stream``
number still counts the restart (its loss count then stays as reported).
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any, NamedTuple

#: Frames are numbered modulo this (the 16-bit ``seq``).
SEQ_MODULO = 1 << 16
#: Records of different kinds are stamped up to about a second apart (a prediction at
#: the last frame of its second, a sample at the end of its block): a device clock that
#: goes back further than this is a new clock (the board restarted), seconds.
CLOCK_JITTER_S = 1.0
#: Bound on the frame rate, as a multiple of the rate measured over the last frames.
RATE_SLACK = 2.0
#: Bound on the frame rate before one is measured, frames per device second: a wearable
#: makes about 54 (43 light frames, 10 samples, a prediction and its events).
MAX_FRAME_RATE_HZ = 2000.0
#: Frames numbered at one instant beyond the rate bound (a burst of events), frames.
BURST_FRAMES = 64
#: Device-clock time the rate needs before it counts as measured, seconds.
MIN_RATE_SPAN_S = 1.0
#: Frames the rate is measured over (about 5 s at 54 frames/s).
RATE_FRAMES = 256
#: Most frames a restarted device can have lost before the first good frame of its new
#: stream (its header and what was made while the link came back).
RESTART_MAX_LOST = 4096
#: How far behind the newest frame a duplicate or a late frame is recognised, frames.
REORDER_WINDOW = 1024


class Gap(NamedTuple):
    """Frames missing between two good frames.

    ``lost`` is exact when ``exact`` is True. Otherwise whole turns of the sequence may
    hide in the outage: ``lost`` is the least number consistent with the two sequence
    numbers ("at least"), ``span_s`` is the evidence and ``estimate`` the count nearest
    to ``span_s`` × the measured rate (None when no rate was measured yet).
    """

    expected_seq: int
    received_seq: int
    lost: int
    after_frames: int  # good frames received before the gap
    span_s: float | None = None  # device-clock time between the good frames around it
    exact: bool = True
    estimate: int | None = None  # only when not exact


@dataclass
class LossStats:
    """What :class:`LossAccount` found (also the loss part of the link reader's stats)."""

    lost_frames: int = 0  # from sequence gaps, net of late frames; at least, if uncertain
    #: (``gaps`` and the gap log keep a gap that late frames filled in after all.)
    gaps: int = 0
    uncertain_gaps: int = 0  # outages that may hide whole turns of the sequence
    uncertain_span_s: float = 0.0  # their device-clock time, seconds
    restarts: int = 0  # the device's sequence began again
    duplicates: int = 0  # frames received twice (dropped)
    late_frames: int = 0  # frames counted lost that arrived after all

    def describe(self) -> str:
        """One phrase for people: "3 frames lost in 2 gaps", "at least 4464 frames lost …"."""
        lost = f"{_n(self.lost_frames, 'frame')} lost in {_n(self.gaps, 'gap')}"
        if not self.uncertain_gaps:
            return lost
        return (
            f"at least {lost} ({_n(self.uncertain_gaps, 'outage')} spanning "
            f"{self.uncertain_span_s:.1f} s of device clock, long enough to hide whole turns "
            f"of the {SEQ_MODULO} sequence numbers)"
        )


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


class LossAccount:
    """Follows one link's sequence numbers and device clock; counts into ``stats``.

    Args:
        stats: Where the counts go (the link reader passes its own stats).
        gap_log_size: How many recent :class:`Gap` entries :attr:`gap_log` keeps.
    """

    def __init__(self, stats: LossStats, gap_log_size: int = 64) -> None:
        self.stats = stats
        self.gap_log: deque[Gap] = deque(maxlen=gap_log_size)
        self.frames = 0  # good frames observed
        self._stream: Any = None  # the ``stream`` number of the latest header
        self._inferred_restart = False  # a restart counted without its header
        self._reset()

    def _reset(self) -> None:
        self._expected: int | None = None
        self._count = 0  # frames numbered in this stream up to the expected one, unwrapped
        self._last_t: float | None = None
        self._rate_history: deque[tuple[int, float]] = deque(maxlen=RATE_FRAMES)
        self._seen: OrderedDict[int, float | None] = OrderedDict()  # recent seq -> t_s
        self._missing: OrderedDict[int, None] = OrderedDict()  # recent seqs counted lost

    def observe(self, seq: int, t_s: float | None, header: dict | None = None) -> bool:
        """Account for a good frame numbered ``seq``, stamped ``t_s`` on the device clock.

        Args:
            seq: The frame's sequence number, 0 … SEQ_MODULO − 1.
            t_s: Its record's device time, seconds; None if the record could not be
                decoded (a non-finite time counts as None).
            header: The data of the header event the frame carries, if it is one.

        Returns:
            False if the frame is a duplicate of one already received (drop it).
        """
        if t_s is not None and not math.isfinite(t_s):
            t_s = None
        self.frames += 1
        if header is not None and self._header_restarts(seq, header):
            self._new_stream(seq, t_s)
            return True
        expected = self._expected
        if expected is None:
            self._new_stream(seq, t_s)
            return True
        if seq != expected and self._old_frame(seq, t_s):
            return self._late(seq)
        span_s = t_s - self._last_t if t_s is not None and self._last_t is not None else None
        lost = (seq - expected) % SEQ_MODULO
        if span_s is None:  # no clock to weigh the gap with: the numbers alone
            self._advance(seq, t_s, lost, span_s)
            return True
        rate = self._rate()
        most = (RATE_SLACK * rate if rate else MAX_FRAME_RATE_HZ) * max(span_s, 0.0) + BURST_FRAMES
        clock_back = span_s < -CLOCK_JITTER_S
        small = seq < lost and seq <= RESTART_MAX_LOST  # the start of a new stream?
        if clock_back or (lost > most and small):
            self.stats.restarts += 1
            self._inferred_restart = True
            self._new_stream(seq, t_s, lost_before=seq if lost and small else 0)
            return True
        if lost + SEQ_MODULO <= most:  # another whole turn fits in the outage
            estimate = None
            if rate:
                estimate = lost + SEQ_MODULO * max(round((rate * span_s - lost) / SEQ_MODULO), 0)
            self.stats.uncertain_gaps += 1
            self.stats.uncertain_span_s += span_s
            self._gap(expected, seq, lost, span_s, exact=False, estimate=estimate)
            self._count += lost + 1
            self._rate_history.clear()  # the count is unknown: measure the rate afresh
            self._see(seq, t_s)
            return True
        self._advance(seq, t_s, lost, span_s)
        return True

    # -- steps ----------------------------------------------------------------------------

    def _header_restarts(self, seq: int, header: dict) -> bool:
        """Count the restart this header shows, if any; True if the frame starts the new
        stream here (a header at ``seq`` 0), False if the account goes on as usual."""
        stream, previous = header.get("stream"), self._stream
        self._stream = stream
        inferred, self._inferred_restart = self._inferred_restart, False
        if self._expected is None:
            return False
        if seq == 0 and seq != self._expected:  # a new stream's first frame: always a restart
            if stream is None or previous is None or stream != previous:
                self.stats.restarts += 1
                return True
            return False  # the same stream's periodic header on the natural wrap
        if stream is not None and previous is not None and stream != previous and not inferred:
            # A later header of a stream whose start went by uncounted (its loss count stays).
            self.stats.restarts += 1
        return False

    def _new_stream(self, seq: int, t_s: float | None, *, lost_before: int = 0) -> None:
        self._reset()
        if lost_before:  # frames 0 … seq−1 of the new stream
            self._gap(0, seq, lost_before, None)
        self._expected = (seq + 1) % SEQ_MODULO
        self._count = seq + 1
        self._see(seq, t_s)

    def _advance(self, seq: int, t_s: float | None, lost: int, span_s: float | None) -> None:
        if lost:
            self._gap(self._expected, seq, lost, span_s)
            if lost <= REORDER_WINDOW:
                for k in range(lost):
                    self._remember(self._missing, (seq - lost + k) % SEQ_MODULO, None)
        self._count += lost + 1
        self._see(seq, t_s)

    def _see(self, seq: int, t_s: float | None) -> None:
        self._expected = (seq + 1) % SEQ_MODULO
        self._remember(self._seen, seq, t_s)
        if t_s is not None:
            self._last_t = t_s
            self._rate_history.append((self._count, t_s))

    def _old_frame(self, seq: int, t_s: float | None) -> bool:
        """True for a frame received already (same time: a duplicate) or one of the
        recent frames counted lost (late)."""
        if seq in self._seen:
            seen_t = self._seen[seq]
            return t_s is None or seen_t is None or seen_t == t_s
        return seq in self._missing and (
            t_s is None or self._last_t is None or t_s <= self._last_t + CLOCK_JITTER_S
        )

    def _late(self, seq: int) -> bool:
        """Take back the loss of a late frame; drop a duplicate (returns False)."""
        if seq not in self._missing:
            self.stats.duplicates += 1
            return False
        del self._missing[seq]
        self.stats.lost_frames -= 1
        self.stats.late_frames += 1
        self._remember(self._seen, seq, None)
        return True

    def _gap(
        self,
        expected: int,
        seq: int,
        lost: int,
        span_s: float | None,
        *,
        exact: bool = True,
        estimate: int | None = None,
    ) -> None:
        self.stats.lost_frames += lost
        self.stats.gaps += 1
        self.gap_log.append(Gap(expected, seq, lost, self.frames - 1, span_s, exact, estimate))

    def _rate(self) -> float | None:
        """Frames the device numbered per second of its clock lately; None until known."""
        if len(self._rate_history) < 2:
            return None
        (c0, t0), (c1, t1) = self._rate_history[0], self._rate_history[-1]
        return (c1 - c0) / (t1 - t0) if t1 - t0 >= MIN_RATE_SPAN_S and c1 > c0 else None

    @staticmethod
    def _remember(table: OrderedDict, seq: int, value: Any) -> None:
        table[seq] = value
        table.move_to_end(seq)
        while len(table) > REORDER_WINDOW:
            table.popitem(last=False)
