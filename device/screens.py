"""The OLED's screens (128 × 64, one bit), drawn with PIL onto any ``ImageDraw``.

Readable at arm's length: the fatigue level is a large word and a five-step bar;
details are small. Big text uses Pillow's built-in scalable font when FreeType is
there and otherwise the bitmap font scaled up, so the board's Pillow needs no font
files.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT = 128, 64
BIG_PX = 20
N_LEVELS = 5


@functools.lru_cache(maxsize=4)
def _scalable_font(size: int) -> ImageFont.ImageFont | None:
    try:
        return ImageFont.load_default(size=size)  # Pillow >= 10.1 with FreeType
    except (TypeError, ImportError, OSError):
        return None


def big_text(draw: ImageDraw.ImageDraw, xy: tuple[int, int], text: str, px: int = BIG_PX) -> None:
    """Draw ``text`` about ``px`` pixels tall."""
    font = _scalable_font(px)
    if font is not None:
        draw.text(xy, text, fill="white", font=font)
        return
    small = ImageFont.load_default()
    left, top, right, bottom = draw.textbbox((0, 0), text, font=small)
    glyphs = Image.new("1", (right - left, bottom - top))
    ImageDraw.Draw(glyphs).text((-left, -top), text, fill=1, font=small)
    scale = max(1, round(px / max(bottom - top, 1)))
    scaled = glyphs.resize((glyphs.width * scale, glyphs.height * scale), Image.NEAREST)
    draw.bitmap(xy, scaled, fill="white")


def _bar(draw: ImageDraw.ImageDraw, level: int, y: int) -> None:
    seg = (WIDTH - 4) // N_LEVELS
    for i in range(N_LEVELS):
        box = (i * (seg + 1), y, i * (seg + 1) + seg - 1, y + 7)
        draw.rectangle(box, outline="white", fill="white" if i <= level else "black")


def _trend(
    draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], series: Sequence[Sequence[float]]
) -> None:
    """Sparklines of several series sharing one scale (solid, then dotted)."""
    x0, y0, x1, y1 = box
    values = [v for s in series for v in s if not math.isnan(v)]
    if len(values) < 2:
        return
    lo, hi = min(values), max(values)
    span = max(hi - lo, 1.0)  # at least 1 µM full scale: rest looks flat, not noisy
    for k, s in enumerate(series):
        pts = [
            (x0 + (x1 - x0) * i / max(len(s) - 1, 1), y1 - (y1 - y0) * (v - lo) / span)
            for i, v in enumerate(s)
            if not math.isnan(v)
        ]
        if k == 0:
            draw.line(pts, fill="white")
        else:
            for x, y in pts[::2]:
                draw.point((x, y), fill="white")


def calibrating(draw: ImageDraw.ImageDraw, *, progress: float, seconds_left: float) -> None:
    """'Stay relaxed' with a progress bar, during the resting baseline."""
    big_text(draw, (0, 0), "RELAX", BIG_PX)
    draw.text((0, 26), "calibrating baseline", fill="white")
    draw.rectangle((0, 42, WIDTH - 1, 51), outline="white")
    filled = round((WIDTH - 3) * min(max(progress, 0.0), 1.0))
    if filled:
        draw.rectangle((1, 43, filled, 50), fill="white")
    draw.text((0, 53), f"{max(seconds_left, 0):.0f} s left", fill="white")


def live(
    draw: ImageDraw.ImageDraw,
    *,
    level_name: str,
    level: int,
    smo2_pct: float,
    hbo2_trend: Sequence[float],
    hhb_trend: Sequence[float],
    recording: bool,
) -> None:
    """The fatigue level, its bar, the SmO2 estimate and a ΔHbO2/ΔHHb trend."""
    big_text(draw, (0, 0), level_name.upper(), BIG_PX)
    if recording:
        draw.ellipse((WIDTH - 7, 1, WIDTH - 2, 6), fill="white")
    _bar(draw, level, 26)
    smo2 = "--" if math.isnan(smo2_pct) else f"{smo2_pct:.0f}%"
    draw.text((0, 40), f"SmO2~{smo2}", fill="white")  # "~": an estimate
    draw.text((0, 52), "HbO2- HHb.", fill="white")
    _trend(draw, (66, 38, WIDTH - 1, HEIGHT - 1), (hbo2_trend, hhb_trend))


def check_sensor(draw: ImageDraw.ImageDraw, *, reasons: Sequence[str]) -> None:
    """Instead of a level when the signal cannot be trusted."""
    big_text(draw, (0, 0), "CHECK", BIG_PX)
    draw.text((0, 24), "SENSOR", fill="white")
    draw.text((0, 40), ", ".join(reasons)[:21] or "signal", fill="white")


def error(draw: ImageDraw.ImageDraw, *, message: str) -> None:
    """A fault the wearer cannot fix by moving the sensor."""
    big_text(draw, (0, 0), "ERROR", BIG_PX)
    for row, start in enumerate(range(0, min(len(message), 63), 21)):
        draw.text((0, 26 + 12 * row), message[start : start + 21], fill="white")
