"""The clock the device code runs on: ``monotonic()`` and ``sleep(seconds)``."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """What device code needs of time. The simulator provides a virtual one."""

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """Real time (``time.monotonic`` / ``time.sleep``), for the board."""

    monotonic = staticmethod(time.monotonic)
    sleep = staticmethod(time.sleep)
