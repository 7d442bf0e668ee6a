"""Tests for device.ssd1306 (the SSD1306's protocol) and the screens' font (device.screens).

The packed GDDRAM bytes are checked against a pixel-by-pixel computation from the datasheet's
layout (rev 1.1, 8.7: byte = one column of one page, bit k = row 8 * page + k), for every
panel size and rotation, on random pixels and on text; the rotation there is Pillow's
``rotate``, not the driver's transposes. The start-up bytes are written out as luma.oled
3.16 sent them (hwsim.ssd1306 decodes them in tests/test_ssd1306_sim.py). The font is
Pillow's own default bitmap font, loaded without importing Pillow's image-file plugins.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from device_python import run_python
from PIL import Image, ImageDraw, ImageFont

from device import screens
from device.ssd1306 import PANELS, SSD1306, init_sequence, pack_frame

REPO = Path(__file__).resolve().parents[1]
ROTATIONS = (0, 1, 2, 3)
#: luma.oled 3.16's start-up commands for a 128 x 64 ssd1306, one message: display off,
#: clock 80, multiplex 3F, offset 0, start line 0, charge pump on, horizontal addressing,
#: segment re-map, COM scan down, COM pins 12, pre-charge F1, VCOMH 40, follow RAM, normal.
INIT_128X64 = bytes.fromhex("AE D5 80 A8 3F D3 00 40 8D 14 20 00 A1 C8 DA 12 D9 F1 DB 40 A4 A6")


class RecordingTransport:
    """Records what the driver queues; ``flush`` and ``discard`` are counted."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.flushes = 0
        self.discards = 0

    def command(self, *cmd: int) -> None:
        self.messages.append(("command", bytes(cmd)))

    def data(self, data: bytes) -> None:
        self.messages.append(("data", bytes(data)))

    def flush(self) -> None:
        self.flushes += 1

    def discard(self) -> None:
        self.discards += 1


def drawn_size(panel: tuple[int, int], rotate: int) -> tuple[int, int]:
    width, height = panel
    return (width, height) if rotate % 2 == 0 else (height, width)


def random_image(size: tuple[int, int], seed: int) -> Image.Image:
    rng = random.Random(seed)
    image = Image.new("1", size)
    image.putdata([255 if rng.random() < 0.5 else 0 for _ in range(size[0] * size[1])])
    return image


def text_image(size: tuple[int, int]) -> Image.Image:
    """Text, a border and a diagonal: nothing symmetric, reaching every edge."""
    width, height = size
    image = Image.new("1", size)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, width - 1, height - 1), outline="white")
    draw.text((2, 2), "SmO2~63% 750nm", fill="white", font=screens.small_font())
    draw.line((1, height - 2, width // 2, height // 3), fill="white")
    return image


def pixel_by_pixel(image: Image.Image, rotate: int) -> bytes:
    """GDDRAM bytes, one pixel at a time: the image turned onto the panel, then for each page
    and column a byte whose bit k is the pixel at row 8 * page + k (datasheet 8.7)."""
    panel = image.rotate(-90 * rotate, expand=True)
    width, height = panel.size
    out = bytearray()
    for page in range(height // 8):
        for column in range(width):
            byte = 0
            for k in range(8):
                if panel.getpixel((column, 8 * page + k)):
                    byte |= 1 << k
            out.append(byte)
    return bytes(out)


@pytest.mark.parametrize("rotate", ROTATIONS)
@pytest.mark.parametrize("panel", list(PANELS), ids=lambda p: f"{p[0]}x{p[1]}")
def test_packed_frame_equals_the_pixel_by_pixel_packing(panel, rotate: int) -> None:
    size = drawn_size(panel, rotate)
    images = [random_image(size, seed) for seed in (1, 2)] + [text_image(size)]
    for image in images:
        packed = pack_frame(image, rotate)
        assert len(packed) == panel[0] * panel[1] // 8
        assert packed == pixel_by_pixel(image, rotate)
    assert any(pack_frame(images[-1], rotate))  # the text lit something


def test_a_lone_pixel_lands_in_its_page_column_and_bit() -> None:
    image = Image.new("1", (128, 64))
    image.putpixel((5, 19), 1)  # page 2, bit 3
    packed = pack_frame(image)
    assert packed[2 * 128 + 5] == 1 << 3
    assert sum(packed) == 1 << 3


def test_pack_frame_rejects_other_modes_and_partial_pages() -> None:
    with pytest.raises(ValueError, match="mode '1' image, got mode 'L'"):
        pack_frame(Image.new("L", (128, 64)))
    with pytest.raises(ValueError, match="multiple of 8 rows, got 60"):
        pack_frame(Image.new("1", (128, 60)))


def test_start_up_sequence_of_the_128x64_panel_is_luma_olds_byte_for_byte() -> None:
    transport = RecordingTransport()
    SSD1306(transport).start()
    assert transport.messages == [
        ("command", INIT_128X64),
        ("command", bytes.fromhex("81 CF")),
        ("command", bytes.fromhex("21 00 7F 22 00 07")),
        ("data", bytes(1024)),
        ("command", bytes.fromhex("AF")),
    ]  # fmt: skip
    assert transport.flushes == 0  # queued only: the transport's owner sends it


@pytest.mark.parametrize(
    ("panel", "clock_mux", "com_pins", "header"),
    [
        ((128, 32), "D5 80 A8 1F", "DA 02", "21 00 7F 22 00 03"),
        ((96, 16), "D5 60 A8 0F", "DA 02", "21 00 5F 22 00 01"),
        ((64, 48), "D5 80 A8 2F", "DA 12", "21 20 5F 22 00 05"),
        ((64, 32), "D5 80 A8 1F", "DA 12", "21 20 5F 22 00 03"),
    ],
    ids=lambda v: f"{v[0]}x{v[1]}" if isinstance(v, tuple) else None,
)
def test_other_panels_set_their_rows_pins_and_window(panel, clock_mux, com_pins, header) -> None:
    commands = bytes(init_sequence(*panel))
    assert bytes.fromhex(clock_mux) in commands
    assert bytes.fromhex(com_pins) in commands
    transport = RecordingTransport()
    device = SSD1306(transport, width=panel[0], height=panel[1])
    device.display(Image.new("1", panel))
    assert transport.messages == [
        ("command", bytes.fromhex(header)),
        ("data", bytes(panel[0] * panel[1] // 8)),
    ]


def test_close_blanks_once_and_sends_it() -> None:
    transport = RecordingTransport()
    device = SSD1306(transport)
    device.close()
    assert device.closed
    assert transport.messages == [
        ("command", bytes.fromhex("AE")),
        ("command", bytes.fromhex("21 00 7F 22 00 07")),
        ("data", bytes(1024)),
    ]
    assert (transport.flushes, transport.discards) == (1, 2)  # stale queue dropped first
    device.close()
    assert len(transport.messages) == 3 and transport.flushes == 1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"width": 100}, "unsupported SSD1306 size 100x64; expected one of 128x64, 128x32"),
        ({"rotate": 4}, r"rotate must be one of \(0, 1, 2, 3\), got 4"),
    ],
)
def test_bad_geometry_is_refused(kwargs, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        SSD1306(RecordingTransport(), **kwargs)


def test_bad_calls_queue_nothing() -> None:
    transport = RecordingTransport()
    device = SSD1306(transport, rotate=1)
    assert device.size == (64, 128) and device.panel_size == (128, 64)
    with pytest.raises(ValueError, match=r"\(64, 128\) pixels, got \(128, 64\)"):
        device.display(Image.new("1", (128, 64)))
    with pytest.raises(ValueError, match="1024 bytes, got 10"):
        device.display_packed(bytes(10))
    for level in (-1, 256):
        with pytest.raises(ValueError, match="0..255"):
            device.contrast(level)
    assert transport.messages == []
    device.contrast(0)
    assert transport.messages == [("command", bytes.fromhex("81 00"))]


# -- the screens' font -------------------------------------------------------------------------


def pillow_bitmap_font() -> ImageFont.ImageFont:
    """Pillow's default bitmap font as Pillow itself loads it (from its embedded PNG)."""
    load = getattr(ImageFont, "load_default_imagefont", None)  # Pillow >= 10.1
    return load() if load is not None else ImageFont.load_default()


def test_small_font_is_pillows_default_bitmap_font() -> None:
    text = "".join(chr(c) for c in range(32, 127))
    ours, pillows = screens.small_font(), pillow_bitmap_font()
    assert ours.getbbox(text) == pillows.getbbox(text)
    mask, reference = ours.getmask(text), pillows.getmask(text)
    assert mask.size == reference.size
    assert bytes(mask) == bytes(reference)
    assert any(bytes(mask))


def test_small_font_loads_without_pillows_image_plugins() -> None:
    probe = (
        "import json, sys; from device import screens; screens.small_font(); "
        "print(json.dumps(sorted(m for m in sys.modules if m.endswith('ImagePlugin'))))"
    )
    done = run_python("-c", probe, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def test_big_text_without_freetype_is_the_small_font_scaled(monkeypatch) -> None:
    """The board's Pillow 9.4 has no scalable default font: big text is scaled glyphs."""
    monkeypatch.setattr(screens, "_scalable_font", lambda size: None)
    image = Image.new("1", (128, 64))
    screens.big_text(ImageDraw.Draw(image), (3, 2), "MODERATE")
    small = Image.new("1", (128, 64))
    left, top, right, bottom = screens.small_font().getbbox("MODERATE")
    ImageDraw.Draw(small).text((-left, -top), "MODERATE", fill=1, font=screens.small_font())
    scale = round(screens.BIG_PX / (bottom - top))
    assert scale == 2
    width, height = (right - left) * scale, (bottom - top) * scale
    for y in range(height):
        for x in range(width):
            lit = bool(image.getpixel((3 + x, 2 + y)))
            assert lit == bool(small.getpixel((x // scale, y // scale))), (x, y)
    assert image.getbbox() is not None
    assert image.crop((3 + width, 0, 128, 64)).getbbox() is None  # nothing right of the word


# -- bringing back a panel that lost power or was reset -------------------------------------


def test_a_restoring_frame_puts_back_every_register_and_switches_on_after_the_frame() -> None:
    """A panel reset mid-session wakes off, charge pump disabled, in page addressing mode:
    the restore sets what the start-up sequence set (with the contrast last set), without
    the start-up's DISPLAY OFF (it would blank a panel that kept its registers), and switches
    on only once the frame is in GDDRAM (a panel that lost power holds noise there)."""
    transport = RecordingTransport()
    device = SSD1306(transport)
    device.contrast(0x10)
    transport.messages.clear()
    gddram = bytes(range(256)) * 4
    device.display_packed(gddram, restore=True)
    assert transport.messages == [
        ("command", INIT_128X64[1:] + bytes.fromhex("81 10")),
        ("command", bytes.fromhex("21 00 7F 22 00 07")),
        ("data", gddram),
        ("command", bytes.fromhex("AF")),
    ]
    transport.messages.clear()
    device.display_packed(gddram)  # an ordinary frame: no restore
    assert [kind for kind, _ in transport.messages] == ["command", "data"]


@pytest.mark.parametrize("panel", sorted(PANELS))
def test_a_restore_is_one_block_write_for_every_panel(panel) -> None:
    from device.ssd1306 import restore_sequence

    sequence = restore_sequence(*panel)
    assert bytes(sequence) == bytes(init_sequence(*panel)[1:]) + bytes.fromhex("81 CF")
    assert len(sequence) <= 32  # SMBus block limit: one message
    with pytest.raises(ValueError, match="contrast must be within 0..255, got 256"):
        restore_sequence(*panel, 256)
