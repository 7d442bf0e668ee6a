"""The probability band the overlay draws under its picture (``host video analyse``).

:class:`ProbabilityBar` says what to show at each time; :func:`draw_bar` draws it into a
band of :data:`BAR_BAND_PX` (at the overlay's 640 px reference width) that
:func:`host.video.overlay.render_frame` adds below the picture, so the video is not covered:
the label, a bar as long as the value, its threshold as a white tick, the value as a number.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PIL import ImageDraw, ImageFont

__all__ = ["BAR_BAND_PX", "ProbabilityBar", "draw_bar"]

#: The probability band under the picture: its height at the reference width, px; its
#: background; the bar's colour at 0, at the threshold and at 1 (linear between; green,
#: amber, red as on a traffic light: an assumption of readability, the value is also
#: written as a number and shown by the bar's length, so colour is never the only cue).
BAR_BAND_PX = 34
BAR_BAND_RGB = (24, 24, 24)
BAR_LOW_RGB = (40, 170, 70)
BAR_MID_RGB = (235, 175, 0)
BAR_HIGH_RGB = (215, 35, 35)
#: The bar's unfilled part and the threshold's tick.
BAR_EMPTY_RGB = (70, 70, 70)
BAR_TICK_RGB = (255, 255, 255)


@dataclass(frozen=True)
class ProbabilityBar:
    """A probability shown under every overlay frame.

    Attributes
    ----------
    value_at : callable
        ``value_at(time_s)`` → the probability (0–1) at that time (s on the track's clock),
        or None where there is none (e.g. no window covers the frame).
    label : str
        What the bar is, e.g. ``"fatigue (video model, simulated)"``.
    threshold : float
        Marked on the bar (0–1); the colour is :data:`BAR_MID_RGB` there.
    none_text : str
        Shown instead of a number where ``value_at`` gives None.
    """

    value_at: Callable[[float], float | None]
    label: str
    threshold: float = 0.5
    none_text: str = "no value"

    def colour(self, value: float) -> tuple[int, int, int]:
        """RGB of ``value``: low → mid up to the threshold, mid → high above it."""
        value = min(max(value, 0.0), 1.0)
        t = self.threshold
        if value <= t:
            a, b, w = BAR_LOW_RGB, BAR_MID_RGB, value / t if t > 0 else 1.0
        else:
            a, b, w = BAR_MID_RGB, BAR_HIGH_RGB, (value - t) / (1 - t) if t < 1 else 1.0
        r, g, b_ = (round(x + (y - x) * w) for x, y in zip(a, b, strict=True))
        return r, g, b_


def draw_bar(
    draw: ImageDraw.ImageDraw,
    bar: ProbabilityBar,
    time_s: float,
    out_w: int,
    top: int,
    band_h: int,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    s: float,
) -> None:
    """Draw ``bar``'s value at ``time_s`` into the band from y = ``top`` (the picture's
    height, px) to ``top + band_h``, ``out_w`` px wide: the label at the left, the bar with
    its threshold tick, the value (or ``none_text``) at the right. ``s`` scales the padding
    (output width / 640 px)."""
    value = bar.value_at(time_s)
    mid = top + band_h / 2
    pad = 6 * s
    draw.text((pad, mid), bar.label, font=font, fill=(255, 255, 255), anchor="lm")
    left = draw.textbbox((pad, mid), bar.label, font=font, anchor="lm")[2] + pad
    text = bar.none_text if value is None else f"p = {value:.2f}"
    widest = max(draw.textlength(t, font=font) for t in ("p = 0.00", bar.none_text))
    right = out_w - pad - widest - pad
    right = max(right, left + 10)
    y0, y1 = top + band_h * 0.25, top + band_h * 0.75
    draw.rectangle((left, y0, right, y1), fill=BAR_EMPTY_RGB)
    if value is not None:
        fill_to = left + (right - left) * min(max(value, 0.0), 1.0)
        if fill_to > left:
            draw.rectangle((left, y0, fill_to, y1), fill=bar.colour(value))
    tick = left + (right - left) * bar.threshold
    draw.line((tick, top + band_h * 0.12, tick, top + band_h * 0.88), fill=BAR_TICK_RGB, width=2)
    draw.text((out_w - pad, mid), text, font=font, fill=(255, 255, 255), anchor="rm")
