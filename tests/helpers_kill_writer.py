"""Child process for the kill -9 test in tests/test_recorder.py: record until killed.

Usage: ``python helpers_kill_writer.py SESSION_FILE PROGRESS_FILE SEED``

Writes record 0, 1, 2, ... (:func:`make_record`; record ``i`` has ``t_s = i``) as
fast as it can, flushing after a random number of records and with a random buffer
size (from SEED), so the kernel sees writes of many sizes; with an odd SEED every
write call takes only a few bytes, so a kill can tear a record anywhere. After
every flush it appends ``"<n>\\n"`` to PROGRESS_FILE with one ``os.write``: records
``0 .. n-1`` are then in the kernel and must survive the kill.
Prints ``ready`` once the session file exists, then waits for a line on stdin
before it starts (so the test can start children ahead of time).
"""

from __future__ import annotations

import io
import os
import random
import sys

from device.acquisition import Frame
from device.chain import ChainSample
from device.codec import Event, Prediction, Record


def make_record(i: int) -> Record:
    """Record number ``i`` of the child's stream; the content depends on ``i`` only."""
    t_s = float(i)
    slot = i % 10
    if slot <= 5:
        v = (i % 1000) / 1000.0
        return Record.of(Frame(t_s, (0.01, v, v + 1.0, v + 2.0), (4, 4, 3, 4), (0.02, v, 1.5, 3.0)))
    if slot <= 7:
        return Record.of(
            ChainSample(
                t_s,
                4,
                0.01,
                (1.0, 1.5, 2.0),
                (0.0, -0.5, 0.25),
                1.0,
                -2.0,
                -1.0,
                3.0,
                66.5,
                0.0,
                i % 32,
            )
        )
    if slot == 8:
        return Record.of(Prediction(t_s, (0.5, 0.25, 0.125, 0.0625, 0.0625), i % 5, (i // 10) % 5))
    return Record.of(Event(t_s, "borg", {"i": i, "note": "x" * (i % 97)}))


class ShortWrites(io.FileIO):
    """A file whose every write takes only 1 to 64 bytes (a short write, as a slow or
    full device or an interrupted call may return). The recorder loops until all is
    written, so a kill can land inside a record, as a power cut can."""

    def __init__(self, path: str, rng: random.Random) -> None:
        super().__init__(path, "xb")
        self._rng = rng

    def write(self, b) -> int:  # type: ignore[override]
        return super().write(b[: self._rng.randint(1, 64)])


def main(session_path: str, progress_path: str, seed: int) -> None:
    from device.recorder import SessionRecorder

    rng = random.Random(seed)
    progress = os.open(progress_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    # Even seeds: plain file, whole-buffer writes. Odd seeds: short writes.
    file = ShortWrites(session_path, rng) if seed % 2 else None
    recorder = SessionRecorder(
        session_path,
        fsync_interval_s=None,
        buffer_bytes=rng.choice([512, 4096, 65536]),
        file=file,
    )
    print("ready", flush=True)
    sys.stdin.readline()  # "go"
    i = 0
    while True:
        for _ in range(rng.randint(1, 400)):
            recorder.write(make_record(i))
            i += 1
        recorder.flush()
        os.write(progress, b"%d\n" % i)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
