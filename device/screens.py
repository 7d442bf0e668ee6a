"""The OLED's screens (128 × 64, one bit), drawn with PIL onto any ``ImageDraw``.

Readable at arm's length: the fatigue level is a large word and a five-step bar;
details are small. Small text is Pillow's own bitmap font (:func:`small_font`); big text
uses Pillow's built-in scalable font when FreeType is there (Pillow >= 10.1) and otherwise
the bitmap font scaled up, so the board's Pillow needs no font files of its own.
"""

from __future__ import annotations

import functools
import math
import textwrap
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT = 128, 64
BIG_PX = 20
N_LEVELS = 5

#: Pillow's built-in bitmap font (courB08, what ``ImageFont.load_default()`` gives without
#: FreeType; Pillow 9.4 and 13.0 embed the same bytes), as the pair of files
#: ``ImageFont.load()`` reads: the PILfont metrics and the glyph sheet, a binary PBM.
FONT_PIL: Path = Path(__file__).resolve().parent / "data" / "pillow_default_font.pil"
FONT_PBM: Path = FONT_PIL.with_suffix(".pbm")


def _read_pbm(path: Path) -> Image.Image:
    """A binary PBM (P4) as written by Pillow, read without ``Image.open``.

    Raises:
        ValueError: Not a P4 file with a "width height" line.
    """
    raw = path.read_bytes()
    magic, size, bits = raw.split(b"\n", 2)
    fields = size.split()
    if magic != b"P4" or len(fields) != 2:
        raise ValueError(f"{path}: expected a binary PBM ('P4', then 'width height')")
    width, height = (int(field) for field in fields)
    return Image.frombytes("1", (width, height), bits, "raw", "1;I")  # PBM: 1 is black


@functools.lru_cache(maxsize=1)
def small_font() -> ImageFont.ImageFont:
    """Pillow's built-in bitmap font, loaded once.

    ``ImageFont.load_default()`` decodes it from a PNG with ``Image.open``, whose first call
    imports Pillow's image-file plugins: on the emulated board that was 33 M ARM
    instructions and +1.3 MB (1.0 MB anonymous), and each later call 0.6 M. Here the glyph
    sheet is read as raw bits through the loader ``load_default()`` itself uses (falling
    back to ``load_default()`` on a Pillow without it).
    """
    font = ImageFont.ImageFont()
    load = getattr(font, "_load_pilfont_data", None)
    if load is None:  # pragma: no cover - a Pillow that renamed its loader
        return ImageFont.load_default()
    with FONT_PIL.open("rb") as metrics:
        load(metrics, _read_pbm(FONT_PBM))
    return font


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
    draw.bitmap(xy, _scaled_text(text, px), fill="white")


@functools.lru_cache(maxsize=16)
def _scaled_text(text: str, px: int) -> Image.Image:
    """``text`` in the small font, scaled up by a whole factor to about ``px`` rows.

    Cached: the big words are a handful (the levels, RELAX, CHECK, ERROR), and each costs
    a new image, a text drawing and a resize. Callers must not change the image.
    """
    small = small_font()
    left, top, right, bottom = small.getbbox(text)
    glyphs = Image.new("1", (right - left, bottom - top))
    ImageDraw.Draw(glyphs).text((-left, -top), text, fill=1, font=small)
    scale = max(1, round(px / max(bottom - top, 1)))
    return glyphs.resize((glyphs.width * scale, glyphs.height * scale), Image.NEAREST)


#: The big words of the screens other than the levels' names.
BIG_WORDS = ("RELAX", "CHECK", "ERROR", "NO DATA")
#: Characters of the small font across the panel (6 px each).
LINE_CHARS = 21


def prepare(level_names: Sequence[str]) -> None:
    """Load the fonts and scale every big word once, ahead of the loop: the first
    drawing of a word costs some 1.4 M ARM instructions more than the next (emulated
    board, benchmarks/emulated_board.py --only oled), which the app cannot spend between
    two ADC conversions.

    Args:
        level_names: The model's class names, shown upper-case as the big word.
    """
    draw = ImageDraw.Draw(Image.new("1", (WIDTH, HEIGHT)))
    for word in (*BIG_WORDS, *(name.upper() for name in level_names)):
        big_text(draw, (0, 0), word, BIG_PX)


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


def _lines(draw: ImageDraw.ImageDraw, text: str, y: int, rows: int) -> None:
    """``text`` in the small font, word-wrapped to :data:`LINE_CHARS`, at most ``rows``
    lines from ``y``."""
    for row, line in enumerate(textwrap.wrap(text, LINE_CHARS)[:rows]):
        draw.text((0, y + 12 * row), line, fill="white", font=small_font())


def calibration_text(seconds_left: float, note: str | None = None) -> tuple[str, str]:
    """The calibrating screen's two small lines: ``note`` (e.g. why calibration restarted) or
    "calibrating baseline", then the countdown, e.g. "15 s left"."""
    return note or "calibrating baseline", f"{max(seconds_left, 0):.0f} s left"


def calibrating(
    draw: ImageDraw.ImageDraw, *, progress: float, seconds_left: float, note: str | None = None
) -> None:
    """'Stay relaxed' with a progress bar, during the resting baseline; ``note`` (at most
    :data:`LINE_CHARS`) replaces "calibrating baseline", e.g. after a restart."""
    what, left = calibration_text(seconds_left, note)
    big_text(draw, (0, 0), BIG_WORDS[0], BIG_PX)
    draw.text((0, 26), what, fill="white", font=small_font())
    draw.rectangle((0, 42, WIDTH - 1, 51), outline="white")
    filled = round((WIDTH - 3) * min(max(progress, 0.0), 1.0))
    if filled:
        draw.rectangle((1, 43, filled, 50), fill="white")
    draw.text((0, 53), left, fill="white", font=small_font())


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
    draw.text((0, 40), f"SmO2~{smo2}", fill="white", font=small_font())  # "~": an estimate
    draw.text((0, 52), "HbO2- HHb.", fill="white", font=small_font())
    _trend(draw, (66, 38, WIDTH - 1, HEIGHT - 1), (hbo2_trend, hhb_trend))


def check_sensor(draw: ImageDraw.ImageDraw, *, reasons: Sequence[str]) -> None:
    """Instead of a level when the signal cannot be trusted."""
    big_text(draw, (0, 0), BIG_WORDS[1], BIG_PX)
    draw.text((0, 24), "SENSOR", fill="white", font=small_font())
    draw.text((0, 40), ", ".join(reasons)[:21] or "signal", fill="white", font=small_font())


def error(draw: ImageDraw.ImageDraw, *, message: str) -> None:
    """A fault the wearer cannot fix by moving the sensor."""
    big_text(draw, (0, 0), BIG_WORDS[2], BIG_PX)
    _lines(draw, message, 26, 3)


def no_data(draw: ImageDraw.ImageDraw, *, cause: str) -> None:
    """No light frame comes: the likely cause (the wearable keeps trying)."""
    big_text(draw, (0, 0), BIG_WORDS[3], BIG_PX)
    _lines(draw, cause, 26, 3)
