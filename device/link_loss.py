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

Judgements made without a header are provisional: the next header (the writer repeats
it every few seconds) confirms or corrects them. Its ``stream`` number undoes a restart
inferred where the stream went on (a gap after all), or counts a restart that looked like
a gap and puts its loss right (the new stream's frames before its first good one). Until
that header comes, some restarts look like gaps: soon after the old stream wrapped, when
the new stream's number is not smaller than the old one's, a reboot whose clock went back
less than a second, or a restart after an outage long enough to hide a whole turn ("at
least"), or when the host joined mid-stream and has not seen a header yet (it has no
number to compare the next one with). A device that sends no ``stream`` number gets the
numbers and the clock alone.
One writer per link: two devices on one line give meaningless counts.
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
#: Frames numbered at one instant beyond the rate bound (a burst of events, or what the
#: writer drops unsent while it backs off after a failed write), frames.
BURST_FRAMES = 256
#: A device clock reading beyond this is not a clock (about 30 years of uptime), seconds.
MAX_CLOCK_S = 1e9
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


class _Verdict(NamedTuple):
    """A judgement made without a header, which the next header confirms or corrects."""

    gap: Gap | None  # the gap entry it logged (None: none)
    expected: int  # the number expected before it
    restart: bool  # inferred a restart (else: counted a gap)
    by_numbers: int  # the loss the sequence numbers alone give
    counted: int  # the loss counted
    uncertain: bool  # counted as an "at least" outage
    span_s: float | None


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
        self._stream: int | None = None  # the ``stream`` number of the latest header
        self._verdicts: deque[_Verdict] = deque(maxlen=gap_log_size)  # since that header
        self._reset()

    def _reset(self) -> None:
        self._expected: int | None = None
        self._count = 0  # frames numbered in this stream up to the expected one, unwrapped
        self._last_t: float | None = None
        self._rate_history: deque[tuple[int, float]] = deque(maxlen=RATE_FRAMES)
        self._seen: OrderedDict[int, float | None] = OrderedDict()  # recent seq -> t_s
        #: Recent seqs counted lost -> device time of the frame after their gap.
        self._missing: OrderedDict[int, float | None] = OrderedDict()

    def observe(self, seq: int, t_s: float | None, header: dict | None = None) -> bool:
        """Account for a good frame numbered ``seq``, stamped ``t_s`` on the device clock.

        Args:
            seq: The frame's sequence number, 0 … SEQ_MODULO − 1.
            t_s: Its record's device time, seconds; None if the record could not be
                decoded (a time that is not finite or beyond :data:`MAX_CLOCK_S` counts
                as None).
            header: The data of the header event the frame carries, if it is one.

        Returns:
            False if the frame is a duplicate of one already received (drop it).
        """
        if t_s is not None and not (math.isfinite(t_s) and abs(t_s) <= MAX_CLOCK_S):
            t_s = None
        self.frames += 1
        expected = self._expected
        if expected is None:
            if header is not None:
                self._stream = _stream_number(header)
            self._new_stream(seq, t_s)
            return True
        if header is not None:
            starts = self._header(seq, header)
            if starts is not None:
                self._new_stream(seq, t_s, lost_before=starts)
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
        if span_s < -CLOCK_JITTER_S:  # the clock went back: the board started again
            self._inferred_restart(seq, t_s, lost, span_s, lost_before=0 if not lost else seq)
            return True
        if lost > most and seq < lost and seq <= RESTART_MAX_LOST:  # a new stream's start
            self._inferred_restart(seq, t_s, lost, span_s, lost_before=seq)
            return True
        if lost + SEQ_MODULO <= most:  # another whole turn fits in the outage: at least
            estimate = None
            expected_frames = rate * span_s if rate else math.inf
            if math.isfinite(expected_frames):
                estimate = lost + SEQ_MODULO * max(round((expected_frames - lost) / SEQ_MODULO), 0)
            self._advance(seq, t_s, lost, span_s, exact=False, estimate=estimate)
            return True
        self._advance(seq, t_s, lost, span_s)
        return True

    # -- steps ----------------------------------------------------------------------------

    def _header(self, seq: int, header: dict) -> int | None:
        """Weigh the judgements made since the last header against this one.

        A header with the same ``stream`` number undoes restarts inferred since (they
        were gaps); one with a new number confirms an inferred restart, or counts the
        restart whose start went by as a gap, and puts that gap's loss right (the new
        stream's frames before its first good one). Returns the frames lost before this
        one if the new stream starts here for the account, else None.
        """
        stream, previous = _stream_number(header), self._stream
        self._stream = stream
        verdicts, self._verdicts = list(self._verdicts), deque(maxlen=self._verdicts.maxlen)
        new = stream is not None and previous is not None and stream != previous
        same = stream is not None and stream == previous
        if same:
            for verdict in verdicts:
                if verdict.restart:  # it was a gap after all
                    self.stats.restarts -= 1
                    self._correct(verdict, verdict.by_numbers, restart=False)
            return None
        if seq == 0 and seq != self._expected and (new or stream is None or previous is None):
            self.stats.restarts += 1  # a new stream's first frame, its header
            return 0
        if not new or any(v.restart for v in verdicts):
            return None  # no restart, or one counted already
        self.stats.restarts += 1
        if seq != self._expected:
            return seq  # the new stream begins here for the account
        gaps = [v for v in verdicts if v.gap is not None]
        if gaps:  # it began at the gap with the smallest number since the last header
            start = min(reversed(gaps), key=lambda v: v.gap.received_seq)
            self._correct(start, start.gap.received_seq, restart=True)
        return None

    def _correct(self, verdict: _Verdict, lost: int, *, restart: bool) -> None:
        """Recount ``verdict``'s loss as ``lost`` (a gap, or the frames of a new stream)."""
        self.stats.lost_frames += lost - verdict.counted
        if verdict.uncertain:
            self.stats.uncertain_gaps -= 1
            self.stats.uncertain_span_s -= verdict.span_s or 0.0
        old = verdict.gap
        if old is None:
            if lost:  # an inferred restart that logged nothing: its gap, restored
                self.stats.gaps += 1
                self.gap_log.append(Gap(verdict.expected, 0, lost, self.frames - 1, verdict.span_s))
            return
        fixed = old._replace(
            expected_seq=0 if restart else verdict.expected,
            lost=lost,
            exact=True,
            estimate=None,
            span_s=None if restart else verdict.span_s,
        )
        if old in self.gap_log:
            self.gap_log[self.gap_log.index(old)] = fixed
        if not lost:
            self.stats.gaps -= 1

    def _inferred_restart(
        self, seq: int, t_s: float | None, lost: int, span_s: float, *, lost_before: int
    ) -> None:
        self.stats.restarts += 1
        expected = self._expected
        gap = self._new_stream(seq, t_s, lost_before=lost_before)
        self._verdicts.append(_Verdict(gap, expected, True, lost, lost_before, False, span_s))

    def _new_stream(self, seq: int, t_s: float | None, *, lost_before: int = 0) -> Gap | None:
        self._reset()
        gap = self._gap(0, seq, lost_before, None) if lost_before else None
        self._expected = (seq + 1) % SEQ_MODULO
        self._count = seq + 1
        self._see(seq, t_s)
        return gap

    def _advance(
        self,
        seq: int,
        t_s: float | None,
        lost: int,
        span_s: float | None,
        *,
        exact: bool = True,
        estimate: int | None = None,
    ) -> None:
        """Go on to ``seq``, ``lost`` frames after the expected one (at least, if not exact)."""
        expected = self._expected
        if lost or not exact:
            gap = self._gap(expected, seq, lost, span_s, exact=exact, estimate=estimate)
            self._verdicts.append(_Verdict(gap, expected, False, lost, lost, not exact, span_s))
        if not exact:
            self.stats.uncertain_gaps += 1
            self.stats.uncertain_span_s += span_s or 0.0
            self._rate_history.clear()  # the count is unknown: measure the rate afresh
        elif lost <= REORDER_WINDOW:
            for k in range(lost):
                self._remember(self._missing, (seq - lost + k) % SEQ_MODULO, t_s)
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
        recent frames counted lost (late: stamped before the frame that closed its gap)."""
        if seq in self._seen:
            seen_t = self._seen[seq]
            return t_s is None or seen_t is None or seen_t == t_s
        if seq not in self._missing:
            return False
        closed_t = self._missing[seq]
        return t_s is not None and closed_t is not None and t_s <= closed_t + CLOCK_JITTER_S

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
    ) -> Gap:
        self.stats.lost_frames += lost
        self.stats.gaps += 1
        gap = Gap(expected, seq, lost, self.frames - 1, span_s, exact, estimate)
        self.gap_log.append(gap)
        return gap

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


def _stream_number(header: dict) -> int | None:
    """The header's ``stream`` number; anything but an integer counts as none."""
    stream = header.get("stream") if isinstance(header, dict) else None
    return stream if isinstance(stream, int) and not isinstance(stream, bool) else None
