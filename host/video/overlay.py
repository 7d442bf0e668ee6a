"""A GIF or MP4 of a pose track: the skeleton drawn over the video's frames (seed 000 Fig. 7).

:func:`write_overlay` draws, on each written frame, the skeleton's segments
(:data:`host.video.keypoints.SEGMENTS`) and keypoints of the track frame nearest in time:

- measured keypoints (and segments between two of them) in :data:`MEASURED_RGB`;
- keypoints filled across a short gap (:data:`host.video.track.INTERPOLATED`), and every
  segment that touches one, in :data:`INTERPOLATED_RGB`;
- unknown keypoints (NaN) and every segment that touches one: not drawn at all;
- a red banner at the top when the frame is flagged (:data:`FLAG_TEXT`);
- the time, s, and, when the track has Borg ratings, the latest rating given by then;
- optionally (:class:`ProbabilityBar`) a band under the picture with a bar as long as a
  probability at that frame's time (``host video analyse``: the video model's fatigue
  probability of the window covering the frame), coloured by its value, its threshold
  marked (:mod:`host.video.overlay_bar`); the picture itself is not covered.

Without video frames (a simulated worker, or a track whose video is not at hand) the
skeleton is drawn on a plain canvas of the track's width × height with a floor line and a
title saying where the poses came from ("simulated worker" for simulated tracks).

The video's frames and the track need not share a frame rate (the pipeline resamples a
25 fps video to the seed's 30 fps): each video frame is matched with the track frame
nearest its time, and shows no skeleton when none is within one track frame of it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from host.video.keypoints import SEGMENTS
from host.video.overlay_bar import BAR_BAND_PX, BAR_BAND_RGB, ProbabilityBar, draw_bar
from host.video.track import (
    IMPLAUSIBLE_SKELETON,
    INTERPOLATED,
    MULTIPLE_PEOPLE,
    NO_POSE,
    UNREADABLE,
    PoseTrack,
    VideoError,
)

__all__ = [
    "GIF_EVERY",
    "GIF_MAX_FRAMES",
    "GIF_MAX_WIDTH_PX",
    "GIF_PICTURE_COLOURS",
    "SUFFIXES",
    "ProbabilityBar",
    "gif_stride",
    "render_frame",
    "write_overlay",
]

#: Output formats by file suffix (lower case).
SUFFIXES = (".gif", ".mp4")
#: GIF defaults, so a clip stays about 10 MB (measured: a 480 × 204 frame of bikes.mp4 is
#: about 65 kB in the GIF, its 125 frames 8.1 MB; 200 frames are 13 s at 15 frames/s).
GIF_MAX_WIDTH_PX = 480
GIF_EVERY = 2
GIF_MAX_FRAMES = 200
#: Palette entries a GIF frame's picture is reduced to; the rest (256 in all) are left for
#: the drawing's own colours, which would otherwise be shifted by the GIF's quantisation.
GIF_PICTURE_COLOURS = 240
#: Colours (RGB): measured keypoints/segments, interpolated ones, their dark outline.
MEASURED_RGB = (0, 230, 60)
INTERPOLATED_RGB = (255, 150, 0)
OUTLINE_RGB = (0, 0, 0)
#: Banner colour for a flagged frame, and the text for each frame flag, in display order.
BANNER_RGB = (200, 20, 20)
FLAG_TEXT: tuple[tuple[int, str], ...] = (
    (UNREADABLE, "unreadable frame"),
    (NO_POSE, "no pose"),
    (MULTIPLE_PEOPLE, "two people?"),
    (IMPLAUSIBLE_SKELETON, "implausible skeleton"),
)
#: The simulated canvas: background, floor line colour, floor height as a share of height.
CANVAS_RGB = (236, 236, 232)
FLOOR_RGB = (120, 110, 100)
FLOOR_AT = 0.9
#: Reference width for line widths and font sizes, px (they scale with the output width).
_REFERENCE_WIDTH_PX = 640
#: Call ``progress`` every this many frames written.
PROGRESS_EVERY = 50
FrameItem = tuple[float, np.ndarray] | tuple[int, float, np.ndarray]


def _font(size_px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=max(8, size_px))


def _scale(width_px: int) -> float:
    return width_px / _REFERENCE_WIDTH_PX


def _latest_rating(track: PoseTrack, time_s: float) -> float | None:
    """The latest Borg rating given at or before ``time_s``, or None."""
    if track.borg_time_s.size == 0:
        return None
    k = np.searchsorted(track.borg_time_s, time_s, side="right") - 1
    return None if k < 0 else float(track.borg_rating[k])


def _text_box(
    draw: ImageDraw.ImageDraw,
    xy: tuple[float, float],
    text: str,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    fill: tuple[int, int, int] = (255, 255, 255),
    box: tuple[int, int, int] = (0, 0, 0),
    anchor: str = "la",
) -> None:
    """Text on a filled box (readable on any background)."""
    left, top, right, bottom = draw.textbbox(xy, text, font=font, anchor=anchor)
    pad = 3
    draw.rectangle((left - pad, top - pad, right + pad, bottom + pad), fill=box)
    draw.text(xy, text, font=font, fill=fill, anchor=anchor)


def render_frame(
    track: PoseTrack,
    index: int | None,
    rgb: np.ndarray | None,
    time_s: float,
    *,
    width: int | None = None,
    bar: ProbabilityBar | None = None,
) -> np.ndarray:
    """One overlay frame (RGB): the skeleton of track frame ``index`` drawn on ``rgb``.

    Parameters
    ----------
    track : PoseTrack
        Keypoints in px of a ``track.width`` × ``track.height`` frame.
    index : int or None
        The track frame to draw; None draws no skeleton (no track frame at this time).
    rgb : ndarray, shape (H, W, 3), uint8, or None
        The video frame; None draws on a plain canvas of ``track.width`` × ``track.height``.
        Keypoints are scaled by W / ``track.width`` and H / ``track.height``.
    time_s : float
        Time shown on the frame, s.
    width : int, optional
        Output width, px (height scaled to keep the aspect ratio); default the frame's.
    bar : ProbabilityBar, optional
        Adds a band of :data:`BAR_BAND_PX` (scaled with the width) under the picture with
        the bar's value at ``time_s``.

    Returns
    -------
    ndarray, shape (h, w, 3), uint8
        h is the picture's height, plus the band's with ``bar``.
    """
    return np.asarray(_render(track, index, rgb, time_s, width=width, palette=False, bar=bar))


def _render(
    track: PoseTrack,
    index: int | None,
    rgb: np.ndarray | None,
    time_s: float,
    *,
    width: int | None,
    palette: bool,
    bar: ProbabilityBar | None = None,
) -> Image.Image:
    """:func:`render_frame` as an image; ``palette``: a "P" image whose picture is reduced
    to :data:`GIF_PICTURE_COLOURS` before drawing, so the drawing keeps its exact colours in
    a GIF (a GIF frame has at most 256)."""
    if rgb is None:
        image = Image.new("RGB", (track.width, track.height), CANVAS_RGB)
    else:
        image = Image.fromarray(np.ascontiguousarray(rgb[..., :3], dtype=np.uint8), "RGB")
    src_w, src_h = image.size
    if width is not None and width != src_w:
        height = max(1, round(src_h * width / src_w))
        image = image.resize((width, height), Image.Resampling.BILINEAR)
    out_w, out_h = image.size  # the picture; the band (if any) goes below it
    band_h = max(12, round(BAR_BAND_PX * _scale(out_w))) if bar is not None else 0
    if band_h:
        framed = Image.new("RGB", (out_w, out_h + band_h), BAR_BAND_RGB)
        framed.paste(image, (0, 0))
        image = framed
    if palette:
        image = image.quantize(
            GIF_PICTURE_COLOURS, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
        )
    s = _scale(out_w)
    draw = ImageDraw.Draw(image)
    small, big = _font(round(14 * s)), _font(round(18 * s))
    if rgb is None:
        floor_y = FLOOR_AT * out_h
        draw.line((0, floor_y, out_w, floor_y), fill=FLOOR_RGB, width=max(1, round(2 * s)))
        label = "SIMULATED" if track.provenance == "simulated" else "skeleton only"
        title = f"{label}: {Path(track.source).name}"
        # Above the bottom row (time and Borg at the left, the legend at the right), which
        # a narrow picture fills: one line up, it overlaps neither.
        draw.text((out_w / 2, out_h - 30 * s), title, font=small, fill=(60, 60, 60), anchor="md")

    banner: list[str] = []
    if index is not None:
        flags = int(track.frame_flags[index])
        banner = [text for bit, text in FLAG_TEXT if flags & bit]
        _draw_skeleton(draw, track, index, out_w / track.width, out_h / track.height, s)
    else:
        banner = ["no pose data at this time"]
    if banner:
        text = " · ".join(banner)
        _text_box(draw, (out_w / 2, 4 * s), text, big, box=BANNER_RGB, anchor="ma")

    status = f"t = {time_s:.2f} s"
    rating = _latest_rating(track, time_s)
    if rating is not None:
        status += f"   Borg CR10 {rating:g}"
    _text_box(draw, (6 * s, out_h - 6 * s), status, small, anchor="ld")
    _legend(draw, out_w, out_h, small, s)
    if bar is not None:
        draw_bar(draw, bar, time_s, out_w, out_h, band_h, small, s)
    return image


def _draw_skeleton(
    draw: ImageDraw.ImageDraw, track: PoseTrack, index: int, sx: float, sy: float, s: float
) -> None:
    xy = track.xyz_px[index, :, :2] * (sx, sy)
    known = np.isfinite(xy).all(axis=1)
    interpolated = (track.keypoint_flags[index] & INTERPOLATED).astype(bool)
    line_w = max(2, round(3 * s))
    radius = max(2.0, 4 * s)
    lines = []
    for a, b in SEGMENTS:
        if known[a] and known[b]:
            colour = INTERPOLATED_RGB if interpolated[a] or interpolated[b] else MEASURED_RGB
            lines.append(((*xy[a], *xy[b]), colour))
    for seg, _ in lines:  # outlines first, so every coloured line stays whole
        draw.line(seg, fill=OUTLINE_RGB, width=line_w + 2)
    for seg, colour in lines:
        draw.line(seg, fill=colour, width=line_w)
    for k in np.flatnonzero(known):
        colour = INTERPOLATED_RGB if interpolated[k] else MEASURED_RGB
        x, y = xy[k]
        draw.ellipse(
            (x - radius, y - radius, x + radius, y + radius), fill=colour, outline=OUTLINE_RGB
        )


def _legend(
    draw: ImageDraw.ImageDraw,
    out_w: int,
    out_h: int,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    s: float,
) -> None:
    """'● measured ● interpolated' in the bottom right corner."""
    x = out_w - 6 * s
    y = out_h - 6 * s
    for text, colour in (("interpolated", INTERPOLATED_RGB), ("measured", MEASURED_RGB)):
        left, top, _right, bottom = draw.textbbox((x, y), text, font=font, anchor="rd")
        r = (bottom - top) / 2.5
        cy = (top + bottom) / 2
        draw.rectangle((left - 2.8 * r - 3, top - 3, x + 3, bottom + 3), fill=(0, 0, 0))
        draw.text((x, y), text, font=font, fill=(255, 255, 255), anchor="rd")
        draw.ellipse((left - 2.4 * r, cy - r, left - 0.4 * r, cy + r), fill=colour)
        x = left - 2.8 * r - 10 * s


def _nearest(track: PoseTrack, time_s: float) -> int | None:
    """Index of the track frame nearest ``time_s``, or None if none is within 1/fps."""
    t = track.time_s
    if t.size == 0:
        return None
    k = int(np.searchsorted(t, time_s))
    candidates = [i for i in (k - 1, k) if 0 <= i < t.size]
    best = min(candidates, key=lambda i: abs(t[i] - time_s))
    return best if abs(t[best] - time_s) <= 1.0 / track.fps + 1e-9 else None


def _split(item: FrameItem, out: Path) -> tuple[float, np.ndarray]:
    if not isinstance(item, tuple) or len(item) not in (2, 3):
        raise VideoError(out, "frames must be (time_s, rgb) pairs or (index, time_s, rgb) triples")
    time_s, rgb = item[-2], item[-1]
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] < 3 or rgb.dtype != np.uint8:
        raise VideoError(
            out, f"a frame has shape {rgb.shape} dtype {rgb.dtype}; allowed: (H, W, 3) uint8 RGB"
        )
    return float(time_s), rgb


def write_overlay(
    track: PoseTrack,
    out: Path,
    *,
    frames: Iterable[FrameItem] | None = None,
    fps: float | None = None,
    max_frames: int | None = None,
    every: int | None = None,
    width: int | None = None,
    progress: Callable[[str], None] | None = None,
    bar: ProbabilityBar | None = None,
) -> int:
    """Write the video (or a plain canvas) with ``track``'s skeleton drawn on it.

    Parameters
    ----------
    track : PoseTrack
        The poses; keypoints in px of a ``track.width`` × ``track.height`` frame.
    out : Path
        ``.gif`` (Pillow) or ``.mp4`` (OpenCV, ``mp4v`` codec); its folder must exist.
    frames : iterable of (time_s, rgb) or (index, time_s, rgb), optional
        The video's frames in time order, rgb of shape (H, W, 3) uint8, time in s on the
        track's clock (``VideoSource.frames()`` can be passed as it is). Each is drawn with
        the track frame nearest its time. None: one canvas per track frame.
    fps : float, optional
        Frame rate of ``frames``, frames/s (sets the output's playback speed); default the
        step between the first two frames' times, or ``track.fps`` for the canvas.
    max_frames : int, optional
        Most frames written; default :data:`GIF_MAX_FRAMES` for a GIF, no limit for an MP4.
    every : int, optional
        Write every n-th input frame; default :data:`GIF_EVERY` for a GIF, 1 for an MP4.
    width : int, optional
        Output width, px (aspect ratio kept); default the input width, at most
        :data:`GIF_MAX_WIDTH_PX` for a GIF.
    progress : callable, optional
        Called with a short text every :data:`PROGRESS_EVERY` frames written.
    bar : ProbabilityBar, optional
        A probability drawn in a band under each frame's picture (:func:`render_frame`).

    Returns
    -------
    int
        Frames written.

    Raises
    ------
    VideoError
        ``out``'s suffix is not one of :data:`SUFFIXES`; a frame is not (H, W, 3) uint8;
        an argument is out of range; there is no frame to write; the MP4 writer cannot open
        ``out``.
    """
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in SUFFIXES:
        raise VideoError(
            out, f"cannot write a {suffix or 'suffix-less'} file; allowed: {', '.join(SUFFIXES)}"
        )
    gif = suffix == ".gif"
    every = (GIF_EVERY if gif else 1) if every is None else every
    max_frames = (GIF_MAX_FRAMES if gif else None) if max_frames is None else max_frames
    for name, value in (("every", every), ("max_frames", max_frames), ("width", width)):
        if value is not None and value < 1:
            raise VideoError(out, f"{name} = {value}; allowed: an integer >= 1")
    say = progress or (lambda _text: None)

    items: Iterator[tuple[float, np.ndarray | None, int | None]]
    if frames is None:
        items = ((float(track.time_s[i]), None, i) for i in range(track.n_frames))
        in_fps = track.fps if fps is None else fps
    else:
        items = _matched(track, frames, out)
        head = list(itertools.islice(items, 2))
        items = itertools.chain(head, items)
        in_fps = fps
        if in_fps is None:
            step_s = head[1][0] - head[0][0] if len(head) == 2 else 0.0
            in_fps = 1.0 / step_s if step_s > 0 else track.fps
    if not in_fps > 0:
        raise VideoError(out, f"fps = {in_fps}; allowed: > 0 frames/s")
    out_fps = in_fps / every
    rendered = _rendered(track, items, every, max_frames, width, gif, bar)
    first = next(rendered, None)
    if first is None:
        raise VideoError(out, "no frame to write (the track and the video are both empty)")
    count = 1

    def counted() -> Iterator[Image.Image]:
        nonlocal count
        for frame in rendered:
            count += 1
            if count % PROGRESS_EVERY == 0:
                say(f"overlay: {count} frames written")
            yield frame

    if gif:
        first.save(
            out,
            save_all=True,
            append_images=counted(),
            # GIF delays are whole centiseconds: the nearest one (Pillow truncates ms).
            duration=10 * max(1, round(100 / out_fps)),
            loop=0,
        )
    else:
        h, w = (first.height // 2) * 2, (first.width // 2) * 2  # mp4v wants even sizes
        writer = _mp4_writer(out, out_fps, w, h)
        try:
            for frame in itertools.chain([first], counted()):
                writer.write(np.ascontiguousarray(np.asarray(frame)[:h, :w, ::-1]))
        finally:
            writer.release()
    say(f"overlay: {count} frames written to {out}")
    return count


def gif_stride(n_frames: int) -> int:
    """Every how many of ``n_frames`` video frames a GIF takes one, to show the whole clip.

    At least :data:`GIF_EVERY`; more when the clip has more than
    ``GIF_EVERY × GIF_MAX_FRAMES`` frames, so the GIF stays within :data:`GIF_MAX_FRAMES`
    (a long clip becomes a slideshow at its real pace, never a clip cut short).
    """
    return max(GIF_EVERY, -(-max(n_frames, 1) // GIF_MAX_FRAMES))


def _mp4_writer(out: Path, fps: float, width: int, height: int) -> cv2.VideoWriter:
    """An open ``cv2.VideoWriter`` (``mp4v``) for ``out``; VideoError if it cannot open."""

    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise VideoError(out, "OpenCV cannot open it for writing (folder missing or read-only?)")
    return writer


def _matched(
    track: PoseTrack, frames: Iterable[FrameItem], out: Path
) -> Iterator[tuple[float, np.ndarray, int | None]]:
    for item in frames:
        time_s, rgb = _split(item, out)
        yield time_s, rgb, _nearest(track, time_s)


def _rendered(
    track: PoseTrack,
    items: Iterator[tuple[float, np.ndarray | None, int | None]],
    every: int,
    max_frames: int | None,
    width: int | None,
    gif: bool,
    bar: ProbabilityBar | None = None,
) -> Iterator[Image.Image]:
    written = 0
    for n, (time_s, rgb, index) in enumerate(items):
        if n % every:
            continue
        if max_frames is not None and written >= max_frames:
            return
        src_w = track.width if rgb is None else rgb.shape[1]
        w = width if width is not None else src_w
        if gif and width is None:
            w = min(w, GIF_MAX_WIDTH_PX)
        yield _render(track, index, rgb, time_s, width=w, palette=gif, bar=bar)
        written += 1
