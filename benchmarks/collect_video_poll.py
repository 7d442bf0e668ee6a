"""How much a video beside ``host collect`` delays its reads of the serial link.

``collect --video`` writes the camera's frames from a thread of the same process
(:mod:`host.collect_video`); the link is read by collect's loop every 20 ms
(:data:`host.collect.POLL_INTERVAL_S`). Any time the video thread holds the interpreter
lengthens the gap between two reads, and the wearable's bytes wait in the tty's buffer
(4 kB; at 115200 baud 11.5 kB/s, so a read may be up to 350 ms late before bytes are
lost). This runs collect twice on an idle stand-in port for ``--seconds`` each, without
and with a 640 × 480, 30 frames/s MJPG file standing in for a camera (noise: the
costliest frames to encode), and prints the intervals between reads: median, 99th
percentile, largest. It prints figures; it asserts none.

    PYTHONPATH=.:hw-sim .venv/host/bin/python benchmarks/collect_video_poll.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from device.clock import SystemClock
from host.collect import collect
from host.collect_records import CollectError
from host.video.feeds import open_feed

#: The stand-in camera: size, px, and rate, frames/s (a common webcam mode; the seed's 30).
WIDTH, HEIGHT, FPS = 640, 480, 30.0


class IdlePort:
    """A serial port with nothing to read that notes when it is asked (each poll)."""

    name = "idle stand-in port"

    def __init__(self) -> None:
        self.polls: list[float] = []

    @property
    def in_waiting(self) -> int:
        self.polls.append(time.monotonic())
        return 0

    def read(self, size: int = 1) -> bytes:
        return b""

    def close(self) -> None:
        pass


class QuitAfter:
    """Types 'q' after ``seconds`` of wall time."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def read(self) -> str:
        return "q" if time.monotonic() > self.end else ""


def make_clip(path: Path, seconds: float) -> Path:
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 255, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (WIDTH, HEIGHT))
    for i in range(int(seconds * FPS) + int(FPS)):
        writer.write(np.roll(noise, 3 * i, axis=1))
    writer.release()
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seconds", type=float, default=10.0, help="length of each run, s (default: %(default)s)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        clip = make_clip(tmp / "clip.avi", args.seconds)
        for with_video in (False, True):
            port, clock = IdlePort(), SystemClock()
            video = open_feed(str(clip), clock) if with_video else None
            try:
                collect(
                    port,
                    tmp / ("with" if with_video else "without"),
                    subject_id="BENCH",
                    protocol="upper_limb",
                    side="left",
                    keys=QuitAfter(args.seconds),
                    clock=clock,
                    log=lambda line: None,
                    video=video,
                )
            except CollectError:  # no samples from an idle port: expected
                pass
            finally:
                if video is not None:
                    video.close()
            gaps_ms = np.diff(port.polls) * 1000.0
            label = f"with a {WIDTH}x{HEIGHT} {FPS:g} fps video" if with_video else "no video"
            print(
                f"{label:32s}: {gaps_ms.size} reads, interval median {np.median(gaps_ms):.1f} ms, "
                f"99th pct {np.percentile(gaps_ms, 99):.1f} ms, largest {gaps_ms.max():.1f} ms"
            )


if __name__ == "__main__":
    main()
