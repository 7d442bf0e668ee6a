"""A camera's frames on the wearable's clock: the host↔device clock map and the frame table.

``python -m host collect --video SOURCE`` stamps each camera frame on the host's monotonic
clock when it is grabbed, and each batch of link records on the same clock when it is read.
A record's device time ``t_s`` was on the device's clock when the record was made; it
reaches the host later, by the link's transit (UART, USB, the tty) and by batching (the
host reads every 20 ms, the device sends some records in bursts). So each batch gives a
pair (host time read, newest device time in it) whose device time is *at most* the
device's clock at that host time::

    device_now(host_s) >= device_s          for every pair (delay >= 0)

The map is the line ``device = device_ref_s + rate · (host - host_ref_s)`` that lies on or
above every pair and, among those, is closest to them in sum: the linear programme of
Moon, Skelly & Towsley, "Estimation and removal of clock skew from network delay
measurements", IEEE INFOCOM 1999 (§III, a line under every one-way delay, minimising the
summed distance), written for (host, device) pairs. Its solution is the edge of the pairs'
upper convex hull above their mean host time (the objective is n·line(mean host) − Σ device,
and a line above the hull is lowest there when it touches the hull). The fit keeps the
device clock's drift (``rate`` ≠ 1: crystals of ±50 ppm, over 30 minutes 90 ms, three
frames at 30 frames/s) and ignores every delayed pair: batching, bursts, stalls. Its
error is the least delay among the pairs near each host time (a pair read at once), not
their spread; it is never negative on average: frames come out early by about that least
delay (a few ms over a serial link read every 20 ms; measured in tests/test_video_sync.py).

The frame table (``<session>.frames.csv``, :func:`write_frame_table`,
:func:`read_frame_table`, :func:`read_frame_times`) has one row per frame written to the
session's video file, in the file's order::

    # comment lines: what made it, the clock map, the camera latency, notes
    frame,host_s,video_s,device_s,t_s
    0,10234.125000,0.000000,12.341000,12.341000

``host_s``: capture time on the host's monotonic clock, s; ``video_s``: the same from the
first frame (what :class:`host.video.camera_record.ReplayedCamera` gives the pose step);
``device_s``: the frame's time on the device's clock, s (the capture moment: the host's
stamp less the camera latency, mapped); ``t_s``: the same on the session's SNIRF time base
(``device_s`` less the session's ``device_time_origin_s``).
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from host.video.track import VideoError

__all__ = [
    "FRAME_TABLE_COLUMNS",
    "MAX_RATE_ERROR",
    "ClockMap",
    "FrameTable",
    "fit_clock_map",
    "read_frame_table",
    "read_frame_times",
    "upper_hull",
    "write_frame_table",
]

#: The frame table's columns, in order (module docstring).
FRAME_TABLE_COLUMNS = ("frame", "host_s", "video_s", "device_s", "t_s")
#: A fitted rate further than this from 1 (device seconds per host second) is not two
#: crystals' drift (±50 ppm each is typical of a microcontroller's or a PC's crystal; 1 %
#: is 100 times that, assumption): the pairs are broken, or the device runs on a simulated
#: clock. The map is still the best line through the pairs; callers note it.
MAX_RATE_ERROR = 0.01


@dataclass(frozen=True)
class ClockMap:
    """Host monotonic time → device time: ``device_ref_s + rate · (host − host_ref_s)``.

    Attributes:
        host_ref_s: A host time the line passes through (a pair's), s.
        device_ref_s: The device time there, s.
        rate: Device seconds per host second (1 + the drift; 1.0 when one pair, or pairs
            at one host time, cannot tell it).
        n_pairs: Pairs the map was fitted to.
        host_span_s: First and last host time among them, s: the map is measured there
            and extrapolated outside.
        delay_s: The pairs' delays below the line (line − device time), s, shape (n_pairs,),
            in host-time order: 0 on the hull's edge, the link's transit and batching
            elsewhere (their median and spread describe the link, not the map's error).
    """

    host_ref_s: float
    device_ref_s: float
    rate: float
    n_pairs: int
    host_span_s: tuple[float, float]
    delay_s: np.ndarray = field(repr=False, compare=False, default_factory=lambda: np.zeros(0))

    def to_device(self, host_s: float | Sequence[float] | np.ndarray) -> np.ndarray:
        """Device times, s, of host times ``host_s`` (s, any shape); float64 array of that
        shape."""
        host = np.asarray(host_s, dtype=np.float64)
        return self.device_ref_s + self.rate * (host - self.host_ref_s)

    def outside(self, host_s: np.ndarray) -> int:
        """How many of ``host_s`` lie outside :attr:`host_span_s` (extrapolated)."""
        host = np.asarray(host_s, dtype=np.float64)
        low, high = self.host_span_s
        return int(np.count_nonzero((host < low) | (host > high)))

    def describe(self) -> str:
        """One line: the drift, the span, the link's delays."""
        low, high = self.host_span_s
        delay = self.delay_s
        link = ""
        if delay.size:
            median, p95 = np.percentile(delay, [50, 95]) * 1000.0
            link = f"; link delay over the pairs: median {median:.1f} ms, 95th pct {p95:.1f} ms"
        return (
            f"clock map from {self.n_pairs} link pairs over {high - low:.1f} s of host time: "
            f"device clock rate {self.rate:.6f} ({(self.rate - 1.0) * 1e6:+.0f} ppm against "
            f"the host's){link}"
        )


def _pairs(host_s: object, device_s: object) -> tuple[np.ndarray, np.ndarray]:
    host = np.asarray(host_s, dtype=np.float64)
    device = np.asarray(device_s, dtype=np.float64)
    if host.ndim != 1 or host.shape != device.shape:
        raise ValueError(
            f"host_s and device_s must be 1-D arrays of one length, got shapes "
            f"{host.shape} and {device.shape}"
        )
    if host.size == 0:
        raise ValueError("no (host, device) time pairs: the link gave no data record")
    if not (np.isfinite(host).all() and np.isfinite(device).all()):
        raise ValueError("host_s and device_s must be finite seconds; got NaN or inf")
    return host, device


def upper_hull(host_s: np.ndarray, device_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The upper convex hull of the points (host_s, device_s), s: its vertices from the
    lowest host time to the highest, shapes (k,). Of points at one host time only the
    highest counts. Andrew's monotone chain (A. M. Andrew, "Another efficient algorithm
    for convex hulls in two dimensions", Inf. Proc. Letters 9, 1979), upper half.

    The hull of a union is the hull of the parts' hulls: a recorder may keep only each
    second's hull (:mod:`host.collect_video`) and lose no vertex of the session's.
    """
    host, device = _pairs(host_s, device_s)
    order = np.lexsort((device, host))
    host, device = host[order], device[order]
    last = np.r_[host[1:] != host[:-1], True]  # the highest point at each host time
    host, device = host[last], device[last]
    keep: list[int] = []
    for i in range(host.size):
        while len(keep) >= 2:
            o, a = keep[-2], keep[-1]
            cross = (host[a] - host[o]) * (device[i] - device[o]) - (device[a] - device[o]) * (
                host[i] - host[o]
            )
            if cross < 0:  # a right turn: ``a`` stays on the upper hull
                break
            keep.pop()
        keep.append(i)
    return host[keep], device[keep]


def fit_clock_map(
    host_s: Sequence[float] | np.ndarray, device_s: Sequence[float] | np.ndarray
) -> ClockMap:
    """The host → device clock map of (host time read, device time) pairs (module docstring).

    Args:
        host_s: Host monotonic time each pair was read, s, shape (n,).
        device_s: The newest device time (record ``t_s``) in that read, s, shape (n,).

    Returns:
        The line on or above every pair touching their upper hull at their mean host time
        (Moon et al. 1999). One pair, or all at one host time: rate 1 through the highest.

    Raises:
        ValueError: Arrays of different shapes, not 1-D, empty, or not finite.
    """
    host, device = _pairs(host_s, device_s)
    hull_h, hull_d = upper_hull(host, device)
    if hull_h.size == 1:
        ref_h, ref_d, rate = float(hull_h[0]), float(hull_d[0]), 1.0
    else:
        mean = float(host.mean())
        k = int(np.clip(np.searchsorted(hull_h, mean, side="right") - 1, 0, hull_h.size - 2))
        ref_h, ref_d = float(hull_h[k]), float(hull_d[k])
        rate = float((hull_d[k + 1] - hull_d[k]) / (hull_h[k + 1] - hull_h[k]))
    order = np.argsort(host, kind="stable")
    line = ref_d + rate * (host[order] - ref_h)
    return ClockMap(
        host_ref_s=ref_h,
        device_ref_s=ref_d,
        rate=rate,
        n_pairs=int(host.size),
        host_span_s=(float(host.min()), float(host.max())),
        delay_s=np.maximum(line - device[order], 0.0),
    )


# -- the frame table --------------------------------------------------------------------------


@dataclass
class FrameTable:
    """The frame table of a session's video (module docstring): arrays of shape (n_frames,).

    Attributes:
        host_s: Capture time on the host's monotonic clock, s (camera latency not removed).
        device_s: Capture time on the device's clock, s (latency removed, mapped).
        t_s: ``device_s`` on the session's SNIRF time base, s (NaN if unknown).
        comments: The table's comment lines, without the '# '.
    """

    host_s: np.ndarray
    device_s: np.ndarray
    t_s: np.ndarray
    comments: list[str] = field(default_factory=list)

    @property
    def video_s(self) -> np.ndarray:
        """Capture time from the first frame, s, on the host's clock, shape (n_frames,)."""
        return self.host_s - self.host_s[0] if self.host_s.size else self.host_s

    @property
    def n_frames(self) -> int:
        return int(self.host_s.size)

    @property
    def rate(self) -> float:
        """Device seconds per second of video, first frame to last (1 ± drift)."""
        return float((self.device_s[-1] - self.device_s[0]) / (self.host_s[-1] - self.host_s[0]))


def write_frame_table(path: str | os.PathLike, table: FrameTable) -> Path:
    """Write ``table`` to ``path`` (CSV, module docstring) through a temporary file, so a
    table is whole or absent. Returns the path."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.part")
    video = table.video_s
    with open(tmp, "w", newline="", encoding="utf-8") as out:
        for line in table.comments:
            out.write(f"# {line}\n")
        rows = csv.writer(out)
        rows.writerow(FRAME_TABLE_COLUMNS)
        for i in range(table.n_frames):
            rows.writerow(
                [
                    i,
                    f"{table.host_s[i]:.6f}",
                    f"{video[i]:.6f}",
                    f"{table.device_s[i]:.6f}",
                    "" if math.isnan(table.t_s[i]) else f"{table.t_s[i]:.6f}",
                ]
            )
    os.replace(tmp, path)
    return path


def read_frame_table(path: str | os.PathLike) -> FrameTable:
    """The frame table at ``path``.

    Raises:
        VideoError: No such file, or not a frame table (names the line and what is expected),
            or capture times that are not finite and rising.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise VideoError(path, "no such frame table; 'host collect --video' writes one") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise VideoError(path, f"cannot be read as a frame table: {exc}") from exc
    lines = text.splitlines()
    comments = [
        line[2:] if line.startswith("# ") else line[1:] for line in lines if line.startswith("#")
    ]
    body = [(n, line) for n, line in enumerate(lines, 1) if line and not line.startswith("#")]
    header = ",".join(FRAME_TABLE_COLUMNS)
    if not body or body[0][1] != header:
        raise VideoError(path, f"is not a frame table: its first row must be {header!r}")
    host, device, t = [], [], []
    for n, line in body[1:]:
        cells = line.split(",")
        try:
            if len(cells) != len(FRAME_TABLE_COLUMNS) or int(cells[0]) != len(host):
                raise ValueError("wrong frame number or column count")
            host.append(float(cells[1]))
            device.append(float(cells[3]))
            t.append(float(cells[4]) if cells[4] else math.nan)
        except ValueError as exc:
            raise VideoError(
                path, f"line {n}: {line!r} is not 'frame,host_s,video_s,device_s,t_s' ({exc})"
            ) from exc
    if len(host) < 2:
        raise VideoError(
            path,
            f"holds {len(host)} frame(s); a video's frame table needs 2 or more (delete it: "
            "'host collect --recover RECORD' remakes it from the record)",
        )
    for name, times in (("host_s", host), ("device_s", device)):
        _check_times(path, body[1:], name, times)
    return FrameTable(np.array(host), np.array(device), np.array(t), comments)


def _check_times(path: Path, rows: list[tuple[int, str]], name: str, times: list[float]) -> None:
    """Refuse a column of capture times that is not finite and rising, naming the line."""
    for i, value in enumerate(times):
        if not math.isfinite(value):
            problem = f"{name} is {value}"
        elif i and value <= times[i - 1]:
            problem = f"{name} {value} is not after the frame before's {times[i - 1]}"
        else:
            continue
        raise VideoError(
            path,
            f"line {rows[i][0]}: {problem}; capture times must be finite and rise frame by "
            "frame (delete the table: 'host collect --recover RECORD' remakes it from the record)",
        )


def read_frame_times(path: str | os.PathLike) -> np.ndarray:
    """Each frame's time on the device's clock, s, float64 shape (n_frames,), in the order
    of the session's video file.

    Raises:
        VideoError: As :func:`read_frame_table`.
    """
    return read_frame_table(path).device_s
