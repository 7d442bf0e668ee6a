"""The LED bank: three NIR LEDs, each behind a MOSFET gated by one GPIO line.

At most one LED is ever lit: :meth:`LedBank.select` switches the lit one off
before it switches the next one on, so even a failure between the two writes
leaves all LEDs dark, never two lit.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Protocol


class OutputLine(Protocol):
    """The subset of a GPIO line used for an output (:class:`device.gpio_line.OutputLine`:
    periphery's ``GPIO`` API)."""

    def write(self, value: bool) -> None: ...

    def close(self) -> None: ...


class LedBank:
    """LEDs by wavelength (nm) → the GPIO line driving each MOSFET gate (high = lit).

    Args:
        lines: Wavelength in nm → output line. The bank owns and closes them.
    """

    def __init__(self, lines: Mapping[int, OutputLine]) -> None:
        if not lines:
            raise ValueError("LedBank needs at least one LED line")
        self.lines = dict(lines)
        self.lit: int | None = None
        self.switches = 0
        for line in self.lines.values():
            line.write(False)

    def select(self, wavelength_nm: int | None) -> None:
        """Light ``wavelength_nm`` alone, or none for a dark phase."""
        if wavelength_nm is not None and wavelength_nm not in self.lines:
            raise ValueError(f"no LED at {wavelength_nm} nm; have {sorted(self.lines)} nm")
        if wavelength_nm == self.lit:
            return
        if self.lit is not None:
            self.lines[self.lit].write(False)
            self.lit = None
        if wavelength_nm is not None:
            self.lines[wavelength_nm].write(True)
            self.lit = wavelength_nm
        self.switches += 1

    def close(self) -> None:
        """Switch every LED off and release the lines; harmless to call twice."""
        for line in self.lines.values():
            with contextlib.suppress(OSError, ValueError):
                line.write(False)
            line.close()
        self.lit = None

    def __enter__(self) -> LedBank:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
