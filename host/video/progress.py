"""Progress of long video work on stderr: one line a second (pose, features, the model)."""

from __future__ import annotations

import sys
import time

__all__ = ["Progress"]


class Progress:
    """``progress(done, total)``: one line per second of work, units done, of how many, and
    the rate; the last unit always gets its line. ``total`` None: not known."""

    def __init__(self, what: str, unit: str = "frame") -> None:
        self.what = what
        self.unit = unit
        self.t0 = time.perf_counter()
        self.last = 0.0

    def __call__(self, done: int, total: int | None) -> None:
        now = time.perf_counter()
        if now - self.last < 1.0 and done != total:
            return
        self.last = now
        rate = done / max(now - self.t0, 1e-9)
        of = f"/{total}" if total else ""
        print(
            f"{self.what}: {self.unit} {done}{of} ({rate:.0f} {self.unit}s/s)",
            file=sys.stderr,
            flush=True,
        )
