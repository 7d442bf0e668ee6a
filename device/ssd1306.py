"""The SSD1306 OLED controller's protocol: its start-up sequence, its settings, and frames.

The middle one of the display's three layers: a transport moves bytes (:class:`device.oled.
QueuedI2C`, which queues them for the gaps between ADC conversions); this module decides
which bytes, from the datasheet; drawing is Pillow's, on a mode "1" image (device.screens).
The chip's commands and their arguments are from the Solomon Systech SSD1306 datasheet,
rev 1.1 ("the datasheet"), section 10 and the charge pump application note at its end.

A frame goes to GDDRAM in horizontal addressing mode: a column and page address window,
then one byte per column and page, page by page, bit k of a byte being row ``8 * page + k``
(datasheet 8.7 and 10.1.3). :func:`pack_frame` builds those bytes with Pillow's C code
(a transpose and a bit-reversed raw packing), not with a loop over pixels: 0.24 M ARM
instructions a frame on the emulated board, where luma.oled's loop took 6.2 M
(benchmarks/emulated_board_guest.py, ``oled``).

The byte stream is the one luma.oled 3.16's ``ssd1306`` driver sends (the project used it
before; hw-sim's decoder, hwsim.ssd1306, was checked against it): the same start-up
sequence, and full frames (that driver sends no partial updates either). One addition of
this project's: a frame may be sent with the panel's registers restored ahead of it
(:func:`restore_sequence`), for a panel that lost power or was reset mid-session.

Standard library and Pillow only (the board has about 16 MB free).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from PIL import Image

# -- commands (datasheet section 10) ---------------------------------------------------------
SET_MEMORY_MODE = 0x20  # 10.1.3; argument: MEMORY_MODE_HORIZONTAL
SET_COLUMN_ADDRESS = 0x21  # 10.1.4; arguments: first and last column
SET_PAGE_ADDRESS = 0x22  # 10.1.5; arguments: first and last page
SET_START_LINE = 0x40  # 10.1.6; 0x40 | line: RAM row 0 on the first scanned line
SET_CONTRAST = 0x81  # 10.1.7; argument: 0..255
SET_CHARGE_PUMP = 0x8D  # charge pump application note; argument: CHARGE_PUMP_ON
SEGMENT_REMAP = 0xA1  # 10.1.8; column 127 drives SEG0
ENTIRE_DISPLAY_RESUME = 0xA4  # 10.1.9; the panel follows GDDRAM
NORMAL_DISPLAY = 0xA6  # 10.1.10; a set bit lights its pixel
SET_MULTIPLEX = 0xA8  # 10.1.11; argument: rows - 1
DISPLAY_OFF = 0xAE  # 10.1.12; sleep mode
DISPLAY_ON = 0xAF  # 10.1.12
COM_SCAN_DEC = 0xC8  # 10.1.14; scan COM[N-1] -> COM0
SET_DISPLAY_OFFSET = 0xD3  # 10.1.15; argument: 0
SET_CLOCK_DIV = 0xD5  # 10.1.16; argument: divide ratio (low nibble), oscillator (high)
SET_PRECHARGE = 0xD9  # 10.1.17; argument: phase 2 (high nibble), phase 1 (low), DCLKs
SET_COM_PINS = 0xDA  # 10.1.18; argument: COM_PINS_SEQUENTIAL or COM_PINS_ALTERNATIVE
SET_VCOMH = 0xDB  # 10.1.19; argument: VCOMH_LEVEL

# -- command arguments -----------------------------------------------------------------------
MEMORY_MODE_HORIZONTAL = 0x00  # 10.1.3: column, then page, wrapping to the window's start
CHARGE_PUMP_ON = 0x14  # application note, "Charge Pump Setting": enable (0x10 disables)
PRECHARGE_F1 = 0xF1  # phase 1 = 1 DCLK, phase 2 = 15 DCLKs, luma.oled's value (reset 0x22)
VCOMH_LEVEL = 0x40  # luma.oled's value, above the 0x00/0x20/0x30 that 10.1.19 tabulates
CONTRAST_DEFAULT = 0xCF  # luma.oled's start-up contrast (reset value 0x7F)
COM_PINS_SEQUENTIAL = 0x02  # 10.1.18, A[4] = 0: sequential COM pin configuration
COM_PINS_ALTERNATIVE = 0x12  # 10.1.18, A[4] = 1: alternative configuration (reset value)

#: Rows of one GDDRAM page (datasheet 8.7): a data byte covers 8 rows of one column.
ROWS_PER_PAGE = 8
#: Values a command argument byte can take.
BYTE_RANGE = range(256)


class Panel(NamedTuple):
    """How one module size is wired to the controller.

    Attributes:
        multiplex: Argument of SET_MULTIPLEX: rows - 1 (datasheet 10.1.11).
        clock_div: Argument of SET_CLOCK_DIV (datasheet 10.1.16; 0x80 is the reset value).
        com_pins: Argument of SET_COM_PINS (datasheet 10.1.18).
        first_column: GDDRAM column of the panel's left edge: narrow panels sit on the middle
            segments.
    """

    multiplex: int
    clock_div: int
    com_pins: int
    first_column: int


#: Module sizes, (width, height) in pixels, and their wiring: luma.oled 3.16's table for the
#: ssd1306 (the module makers' settings; the meaning of each field is the datasheet's).
PANELS: dict[tuple[int, int], Panel] = {
    (128, 64): Panel(0x3F, 0x80, COM_PINS_ALTERNATIVE, 0),
    (128, 32): Panel(0x1F, 0x80, COM_PINS_SEQUENTIAL, 0),
    (96, 16): Panel(0x0F, 0x60, COM_PINS_SEQUENTIAL, 0),
    (64, 48): Panel(0x2F, 0x80, COM_PINS_ALTERNATIVE, 32),
    (64, 32): Panel(0x1F, 0x80, COM_PINS_ALTERNATIVE, 32),
}

#: ``rotate`` values: quarter turns clockwise.
ROTATIONS = (0, 1, 2, 3)

#: For each rotation, the one Pillow transpose that turns the image as drawn (rotated by
#: ``rotate`` quarter turns clockwise onto the panel) into the panel transposed: each
#: row of the result is then one GDDRAM column, top row first. Equal to
#: ``image.rotate(-90 * rotate, expand=True).transpose(TRANSPOSE)``; tests/test_ssd1306_sim.py
#: checks it against a pixel-by-pixel computation.
_TO_COLUMNS = (
    Image.Transpose.TRANSPOSE,
    Image.Transpose.FLIP_TOP_BOTTOM,
    Image.Transpose.TRANSVERSE,
    Image.Transpose.FLIP_LEFT_RIGHT,
)


def check_geometry(width: int, height: int, rotate: int) -> None:
    """Raise if the panel size or the rotation is not one the driver knows.

    Raises:
        ValueError: Naming the value and the allowed ones.
    """
    if (width, height) not in PANELS:
        sizes = ", ".join(f"{w}x{h}" for w, h in PANELS)
        raise ValueError(f"unsupported SSD1306 size {width}x{height}; expected one of {sizes}")
    if rotate not in ROTATIONS:
        raise ValueError(f"rotate must be one of {ROTATIONS}, got {rotate!r}")


def init_sequence(width: int, height: int) -> tuple[int, ...]:
    """The start-up commands for a panel of ``width`` x ``height`` pixels, as one message.

    The display is left off; it is switched on once GDDRAM is cleared. The order and values
    are luma.oled 3.16's; the datasheet's software initialisation flow (its application
    example) sets the same registers.

    Raises:
        ValueError: Unsupported size.
    """
    return (DISPLAY_OFF, *_settings(width, height))


def restore_sequence(width: int, height: int, contrast: int = CONTRAST_DEFAULT) -> tuple[int, ...]:
    """Every register :meth:`SSD1306.start` sets, as one message, without switching off.

    For a panel that may have lost power or been reset since (a brown-out, a loose
    connector): it then wakes with the display off, its charge pump disabled and page
    addressing mode (the "Reset" column of datasheet section 9), and frames sent to it go
    through without an error but stay dark, or land in the wrong place. This puts back what
    :func:`init_sequence` and the contrast set; on a panel that kept them it changes nothing,
    and, without the leading DISPLAY_OFF, it does not blank a panel that is on. The display
    is switched on again after the next frame (:meth:`SSD1306.display_packed`).

    23 bytes for every panel: one SMBus block write.

    Raises:
        ValueError: Unsupported size, or ``contrast`` outside 0..255.
    """
    if contrast not in BYTE_RANGE:
        raise ValueError(f"contrast must be within 0..255, got {contrast!r}")
    return (*_settings(width, height), SET_CONTRAST, contrast)


def _settings(width: int, height: int) -> tuple[int, ...]:
    """The start-up commands after DISPLAY_OFF (luma.oled 3.16's order and values)."""
    check_geometry(width, height, 0)
    panel = PANELS[width, height]
    return (
        SET_CLOCK_DIV, panel.clock_div,
        SET_MULTIPLEX, panel.multiplex,
        SET_DISPLAY_OFFSET, 0x00,
        SET_START_LINE | 0,
        SET_CHARGE_PUMP, CHARGE_PUMP_ON,
        SET_MEMORY_MODE, MEMORY_MODE_HORIZONTAL,
        SEGMENT_REMAP,
        COM_SCAN_DEC,
        SET_COM_PINS, panel.com_pins,
        SET_PRECHARGE, PRECHARGE_F1,
        SET_VCOMH, VCOMH_LEVEL,
        ENTIRE_DISPLAY_RESUME,
        NORMAL_DISPLAY,
    )  # fmt: skip


def frame_header(width: int, height: int) -> tuple[int, ...]:
    """The column and page address window of a whole frame (datasheet 10.1.4, 10.1.5)."""
    first = PANELS[width, height].first_column
    return (
        SET_COLUMN_ADDRESS, first, first + width - 1,
        SET_PAGE_ADDRESS, 0, height // ROWS_PER_PAGE - 1,
    )  # fmt: skip


def pack_frame(image: Image.Image, rotate: int = 0) -> bytes:
    """GDDRAM bytes of a frame: page by page, one byte per column, bit k = row 8 * page + k.

    The image, as drawn, is turned ``rotate`` quarter turns clockwise onto the panel.
    Transposed, each row of it is one panel column, top pixel first; packed raw with the
    first pixel in the least significant bit (Pillow's "1;R"), a row gives that column's
    bytes, page 0 first. Taking every ``pages``-th byte then lays them out page by page.
    Any pixel not 0 is lit.

    Args:
        image: Mode "1", the panel's size as the drawing sees it (width and height swapped
            for an odd ``rotate``).
        rotate: Quarter turns clockwise, 0..3.

    Returns:
        ``width * height // 8`` bytes, in the order horizontal addressing mode fills GDDRAM.

    Raises:
        ValueError: Not a mode "1" image, or a height (once rotated) not a whole number of
            pages.
    """
    if image.mode != "1":
        raise ValueError(f"an SSD1306 frame is a mode '1' image, got mode {image.mode!r}")
    columns = image.transpose(_TO_COLUMNS[rotate])  # size: (panel height, panel width)
    pages, rest = divmod(columns.width, ROWS_PER_PAGE)
    if rest:
        raise ValueError(f"panel height must be a multiple of 8 rows, got {columns.width}")
    raw = columns.tobytes("raw", "1;R")  # per column: `pages` bytes, page 0 first
    return b"".join(raw[page::pages] for page in range(pages))


class SSD1306:
    """An SSD1306 panel, speaking through a transport that queues its messages.

    Nothing is sent on creation: :meth:`start` queues the start-up sequence, a cleared
    GDDRAM and "display on"; the transport sends them when it is flushed or pumped.

    Args:
        transport: Takes the chip's messages: ``command(*bytes)`` queues one command
            message, ``data(bytes)`` GDDRAM bytes, ``discard()`` drops what is queued and
            ``flush()`` sends it (:class:`device.oled.QueuedI2C`).
        width: Panel width, pixels.
        height: Panel height, pixels.
        rotate: Quarter turns clockwise applied to every frame: 0, 1, 2 or 3.

    Attributes:
        transport: The transport given.
        panel_size: (width, height) of the panel, pixels.
        size: (width, height) of the images :meth:`display` takes, pixels: the panel's,
            swapped for an odd ``rotate``.
        rotate: As given.

    Raises:
        ValueError: Unsupported size or rotation.
    """

    mode = "1"

    def __init__(self, transport: Any, *, width: int = 128, height: int = 64, rotate: int = 0):
        check_geometry(width, height, rotate)
        self.transport = transport
        self.panel_size = (width, height)
        self.size = (width, height) if rotate % 2 == 0 else (height, width)
        self.rotate = rotate
        self._header = frame_header(width, height)
        self._contrast = CONTRAST_DEFAULT
        self._closed = False

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed

    def start(self) -> None:
        """Queue the start-up sequence, the default contrast, a blank frame and display on."""
        self.transport.command(*init_sequence(*self.panel_size))
        self.contrast(CONTRAST_DEFAULT)
        self.clear()
        self.transport.command(DISPLAY_ON)

    def contrast(self, level: int) -> None:
        """Queue a contrast setting (datasheet 10.1.7: 0..255, brighter with higher values).

        Raises:
            ValueError: ``level`` outside 0..255.
        """
        if level not in BYTE_RANGE:
            raise ValueError(f"contrast must be within 0..255, got {level!r}")
        self.transport.command(SET_CONTRAST, level)
        self._contrast = level

    def pack(self, image: Image.Image) -> bytes:
        """The GDDRAM bytes of ``image`` on this panel (:func:`pack_frame`); nothing is queued.

        Raises:
            ValueError: ``image`` is not mode "1" or not :attr:`size`.
        """
        if image.size != self.size:
            raise ValueError(f"an SSD1306 frame here is {self.size} pixels, got {image.size}")
        return pack_frame(image, self.rotate)

    def display(self, image: Image.Image) -> None:
        """Queue a whole frame: the address window, then the GDDRAM bytes of ``image``.

        Raises:
            ValueError: ``image`` is not mode "1" or not :attr:`size`.
        """
        self.display_packed(self.pack(image))

    def display_packed(self, gddram: bytes, *, restore: bool = False) -> None:
        """Queue a frame packed by :meth:`pack`: the address window, then the bytes.

        Args:
            gddram: The frame, as :meth:`pack` returns it.
            restore: Put the panel's registers back first (:func:`restore_sequence`, with
                the contrast last set), and switch the display on after the frame: a panel
                that lost power or was reset since shows this frame, whole, with nothing
                else before it. Two messages more (24 bytes).

        Raises:
            ValueError: Not ``width * height // 8`` bytes.
        """
        width, height = self.panel_size
        if len(gddram) != width * height // ROWS_PER_PAGE:
            raise ValueError(
                f"a {width}x{height} frame is {width * height // ROWS_PER_PAGE} bytes, "
                f"got {len(gddram)}"
            )
        if restore:
            self.transport.command(*restore_sequence(width, height, self._contrast))
        self.transport.command(*self._header)
        self.transport.data(gddram)
        if restore:
            self.transport.command(DISPLAY_ON)

    def clear(self) -> None:
        """Queue a blank frame."""
        width, height = self.panel_size
        self.display_packed(bytes(width * height // ROWS_PER_PAGE))

    def close(self) -> None:
        """Drop what is queued, switch the panel off and blank it, sent at once; once only.

        Later calls do nothing. Errors of the transport propagate (after the first call the
        device counts as closed whatever happened).
        """
        if self._closed:
            return
        self._closed = True
        self.transport.discard()
        self.transport.command(DISPLAY_OFF)
        self.clear()
        try:
            self.transport.flush()
        finally:
            self.transport.discard()
