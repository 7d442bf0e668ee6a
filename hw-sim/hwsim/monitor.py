"""Light-level monitor: the bench job that proves the acquisition chain (simulator only).

Every second it averages the dark-subtracted light of each LED over that second's
frames, prints a line and shows the figures on the OLED: the chain GPIO → LEDs →
ADS1114 → driver → frames, end to end. It is a bench tool built from device parts;
it is not deployed to the board (the wearable app is).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from PIL import ImageDraw

from device.acquisition import Frame, Multiplexer
from device.clock import Clock
from device.oled import Display


@dataclass(frozen=True)
class SecondSummary:
    """One second of frames: mean dark level and dark-subtracted light per LED, volts."""

    t_s: float
    dark_v: float
    light_v: tuple[float, ...]
    frames: int


def summarise(frames: list[Frame], t_s: float) -> SecondSummary:
    """Average ``frames`` into a :class:`SecondSummary` (NaN where no frame had data)."""
    n_phases = len(frames[0].volts) if frames else 4
    means = []
    for phase in range(n_phases):
        values = [f.volts[phase] for f in frames if not math.isnan(f.volts[phase])]
        means.append(sum(values) / len(values) if values else math.nan)
    dark = means[0]
    return SecondSummary(t_s, dark, tuple(v - dark for v in means[1:]), len(frames))


def format_line(summary: SecondSummary, wavelengths_nm: tuple[int, ...], lost: int) -> str:
    """The per-second console line."""
    lights = "  ".join(f"{wl} nm {v:6.3f} V" for wl, v in zip(wavelengths_nm, summary.light_v))
    return (
        f"t={summary.t_s:6.1f} s  dark {summary.dark_v * 1e3:6.2f} mV  {lights}  "
        f"frames {summary.frames:3d}  lost {lost}"
    )


def draw_summary(
    draw: ImageDraw.ImageDraw, summary: SecondSummary, wavelengths_nm: tuple[int, ...]
) -> None:
    """Draw the light levels for a 128×64 screen, one LED per line."""
    draw.text((0, 0), f"NIRS light  t={summary.t_s:5.0f}s", fill="white")
    for row, (wl, v) in enumerate(zip(wavelengths_nm, summary.light_v), start=1):
        draw.text((0, 13 * row), f"{wl} nm  {v:6.3f} V", fill="white")
    draw.text((0, 52), f"dark {summary.dark_v * 1e3:5.1f} mV", fill="white")


def run_monitor(
    mux: Multiplexer,
    *,
    clock: Clock,
    duration_s: float,
    display: Display | None = None,
    emit: Callable[[str], None] = print,
) -> list[SecondSummary]:
    """Acquire for ``duration_s`` seconds, reporting once per second of clock time."""
    wavelengths = tuple(wl for wl in mux.phases if wl is not None)
    mux.start()
    start = clock.monotonic()
    next_report = start + 1.0
    pending: list[Frame] = []
    summaries = []
    for frame in mux.run(duration_s):
        pending.append(frame)
        if frame.t_s >= next_report:
            summary = summarise(pending, frame.t_s - start)
            summaries.append(summary)
            emit(format_line(summary, wavelengths, mux.stats.lost))
            if display is not None:
                with display.frame() as draw:
                    draw_summary(draw, summary, wavelengths)
            pending = []
            next_report += 1.0
    return summaries
