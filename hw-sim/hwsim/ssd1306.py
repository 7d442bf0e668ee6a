"""The Solomon Systech SSD1306 128 x 64 OLED controller, simulated at command level.

What is modelled, from the SSD1306 datasheet (rev 1.1, sections 8.1.5, 8.7, 9 and 10):

- the I²C write protocol: every message starts with a control byte ``Co D/C# 0 0 0 0 0 0``.
  With Co = 0 the rest of the message is a stream of command bytes (D/C# = 0) or of GDDRAM
  data bytes (D/C# = 1). With Co = 1 exactly one byte follows, then another control byte;
- the whole command table with its argument counts. A command whose arguments arrive in
  later messages is completed there, as on the chip (some drivers send every byte in its own
  message). Unknown command bytes and invalid arguments go to :attr:`SimSSD1306.errors`;
- the 128 x 8-page GDDRAM (bit D0 of a byte is the top row of its page) and its address
  pointer in page, horizontal and vertical addressing mode, wrapping as section 10.1.3 says;
- what the panel shows: segment re-map, COM scan direction, multiplex ratio, display start
  line, display offset, COM pins configuration, normal/inverse, entire display on, display
  on/off and the charge pump;
- the status byte returned by every I²C read: bit 6 is 1 while the display is off. The
  datasheet marks the other bits reserved; modules in the field return a small ID there
  (0x03 or 0x06 in the low nibble), see :data:`STATUS_ID_DEFAULT`;
- losing power and getting it back (a brown-out, a loose connector): :meth:`SimSSD1306.
  power_off` leaves the module dark and not acknowledging its address, :meth:`SimSSD1306.
  power_on` brings it back in its reset state (display off, charge pump disabled, page
  addressing mode) with GDDRAM full of noise; :meth:`SimSSD1306.reset` is a pulse on RES#
  alone (registers reset, GDDRAM kept), with no I²C error either way.

Not modelled: scrolling (the set-up commands are decoded and remembered, the picture does not
move), the contrast, pre-charge and VCOMH levels (remembered only), and the undefined GDDRAM
content at the first power-up (the simulator starts with it cleared; :meth:`SimSSD1306.
power_on` fills it with seeded noise).
"""

from __future__ import annotations

import errno
import os
from collections import deque

import numpy as np
from PIL import Image

#: GDDRAM geometry (datasheet 8.7): 128 segments (columns) by 8 pages of 8 rows.
WIDTH = 128
PAGES = 8
ROWS_PER_PAGE = 8
HEIGHT = PAGES * ROWS_PER_PAGE
COLUMN_MAX = WIDTH - 1
PAGE_MAX = PAGES - 1
COM_COUNT = 64

# -- control byte (datasheet 8.1.5.1) --------------------------------------------------------
CONTROL_CO = 0x80  # continuation bit: 1 = one byte follows, then another control byte
CONTROL_DC = 0x40  # data/command# bit: 1 = GDDRAM data, 0 = command
CONTROL_RESERVED_MASK = 0x3F  # must be 0

# -- fundamental commands (datasheet 10.1) ---------------------------------------------------
SET_CONTRAST = 0x81
ENTIRE_DISPLAY_RESUME = 0xA4  # output follows RAM
ENTIRE_DISPLAY_ON = 0xA5  # output ignores RAM
NORMAL_DISPLAY = 0xA6
INVERSE_DISPLAY = 0xA7
DISPLAY_OFF = 0xAE  # sleep mode
DISPLAY_ON = 0xAF

# -- scrolling commands ----------------------------------------------------------------------
RIGHT_HORIZONTAL_SCROLL = 0x26
LEFT_HORIZONTAL_SCROLL = 0x27
VERTICAL_RIGHT_HORIZONTAL_SCROLL = 0x29
VERTICAL_LEFT_HORIZONTAL_SCROLL = 0x2A
DEACTIVATE_SCROLL = 0x2E
ACTIVATE_SCROLL = 0x2F
SET_VERTICAL_SCROLL_AREA = 0xA3

# -- addressing setting commands -------------------------------------------------------------
SET_LOWER_COLUMN = 0x00  # 0x00-0x0F: low nibble of the page-mode column pointer
SET_HIGHER_COLUMN = 0x10  # 0x10-0x1F: high nibble of the page-mode column pointer
SET_MEMORY_MODE = 0x20
SET_COLUMN_ADDRESS = 0x21
SET_PAGE_ADDRESS = 0x22
SET_PAGE_START = 0xB0  # 0xB0-0xB7: page pointer in page addressing mode

# -- hardware configuration commands ---------------------------------------------------------
SET_START_LINE = 0x40  # 0x40-0x7F: RAM row shown on the first scanned line
SEGMENT_REMAP_OFF = 0xA0  # column 0 drives SEG0
SEGMENT_REMAP_ON = 0xA1  # column 127 drives SEG0
SET_MULTIPLEX = 0xA8
COM_SCAN_INC = 0xC0  # scan COM0 -> COM[N-1]
COM_SCAN_DEC = 0xC8  # scan COM[N-1] -> COM0
SET_DISPLAY_OFFSET = 0xD3
SET_COM_PINS = 0xDA

# -- timing and driving scheme commands ------------------------------------------------------
SET_CLOCK_DIV = 0xD5
SET_PRECHARGE = 0xD9
SET_VCOMH = 0xDB
NOP = 0xE3

# -- charge pump (application note in the datasheet) -----------------------------------------
SET_CHARGE_PUMP = 0x8D
CHARGE_PUMP_ENABLE_BIT = 0x04  # 0x14 enables, 0x10 disables

# -- command argument fields -----------------------------------------------------------------
NIBBLE_MASK = 0x0F
PAGE_MASK = 0x07
COLUMN_MASK = 0x7F
START_LINE_MASK = 0x3F
MULTIPLEX_MASK = 0x3F
MULTIPLEX_MIN = 15  # A8h argument 0-14 is invalid: the smallest ratio is 16MUX
OFFSET_MASK = 0x3F
MEMORY_MODE_MASK = 0x03
COM_PINS_ALTERNATIVE_BIT = 0x10  # DAh A[4]: 0 sequential, 1 alternative (odd/even)
COM_PINS_LR_REMAP_BIT = 0x20  # DAh A[5]: swap the left and right COM pads
COM_PINS_VARIABLE_BITS = COM_PINS_ALTERNATIVE_BIT | COM_PINS_LR_REMAP_BIT
COM_PINS_FIXED_BITS = 0x02  # DAh argument is 00 A[5] A[4] 0010b

#: Memory addressing modes (argument of 20h).
MODE_HORIZONTAL = 0b00
MODE_VERTICAL = 0b01
MODE_PAGE = 0b10
MEMORY_MODE_NAMES = {MODE_HORIZONTAL: "horizontal", MODE_VERTICAL: "vertical", MODE_PAGE: "page"}

#: Status byte (every I²C read returns it): bit 6 = display off.
STATUS_DISPLAY_OFF = 0x40
#: Reserved status bits as read on common 128 x 64 modules (ID 0x06; others read 0x03).
STATUS_ID_DEFAULT = 0x06

#: Values after RES# (datasheet section 9, "Reset" column of the command table).
RESET_CONTRAST = 0x7F
RESET_MULTIPLEX = 0x3F
RESET_CLOCK_DIV = 0x80
RESET_PRECHARGE = 0x22
RESET_VCOMH = 0x20
RESET_COM_PINS = 0x12
RESET_CHARGE_PUMP = 0x10

#: Number of argument bytes of each multi-byte command.
ARGUMENT_COUNTS = {
    SET_CONTRAST: 1,
    RIGHT_HORIZONTAL_SCROLL: 6,
    LEFT_HORIZONTAL_SCROLL: 6,
    VERTICAL_RIGHT_HORIZONTAL_SCROLL: 5,
    VERTICAL_LEFT_HORIZONTAL_SCROLL: 5,
    SET_VERTICAL_SCROLL_AREA: 2,
    SET_MEMORY_MODE: 1,
    SET_COLUMN_ADDRESS: 2,
    SET_PAGE_ADDRESS: 2,
    SET_MULTIPLEX: 1,
    SET_DISPLAY_OFFSET: 1,
    SET_COM_PINS: 1,
    SET_CLOCK_DIV: 1,
    SET_PRECHARGE: 1,
    SET_VCOMH: 1,
    SET_CHARGE_PUMP: 1,
}

#: Single-byte commands that are not part of a range (the ranges are tested in code).
SINGLE_BYTE_COMMANDS = frozenset(
    {
        ENTIRE_DISPLAY_RESUME,
        ENTIRE_DISPLAY_ON,
        NORMAL_DISPLAY,
        INVERSE_DISPLAY,
        DISPLAY_OFF,
        DISPLAY_ON,
        DEACTIVATE_SCROLL,
        ACTIVATE_SCROLL,
        SEGMENT_REMAP_OFF,
        SEGMENT_REMAP_ON,
        COM_SCAN_INC,
        COM_SCAN_DEC,
        NOP,
    }
)

#: How many decoded commands :attr:`SimSSD1306.command_log` keeps.
COMMAND_LOG_LENGTH = 1024

#: errno of a transfer to an unpowered module: its address is not acknowledged, which the
#: board's adapter (i2c-rk3x) reports as ENXIO, as :data:`hwsim.i2c.NACK_ERRNO`.
UNPOWERED_ERRNO = errno.ENXIO


def _is_single_byte_command(byte: int) -> bool:
    """True if ``byte`` is a complete SSD1306 command on its own."""
    return (
        byte < SET_MEMORY_MODE  # 00h-0Fh, 10h-1Fh: page-mode column pointer nibbles
        or SET_START_LINE <= byte <= SET_START_LINE | START_LINE_MASK
        or SET_PAGE_START <= byte <= SET_PAGE_START | PAGE_MASK
        or byte in SINGLE_BYTE_COMMANDS
    )


class SimSSD1306:
    """An SSD1306 on the simulated I²C bus, with the 128 x 64 panel of a typical module.

    Attach it to :class:`hwsim.i2c.SimI2CBus`; the bus calls :meth:`i2c_write` with each
    write message and :meth:`i2c_read` with each read.

    **Panel orientation.** The module's glass is mounted the way round that makes the usual
    initialisation (segment re-map ``A1h``, COM scan ``C8h``, COM pins ``DAh 12h``, as
    luma.oled and device.ssd1306 send it) show GDDRAM column 0 at the viewer's left and RAM
    row 0 (page 0, bit D0) at the top. In chip terms: SEG127 is the leftmost panel column
    and the COM pad carrying COM63 (under the alternative pin configuration) is the top
    panel row, so panel pixel ``(y, x)`` is driven by SEG ``127 - x`` and the COM pad
    ``63 - y``. ``A0h`` therefore mirrors the picture left-right, ``C0h`` flips it upside
    down, and the sequential COM pin configuration (``DAh 02h``) interleaves the top and
    bottom halves, as on real modules.

    **Row scan.** Scanned line ``k`` (0 to N-1, N = multiplex ratio) shows RAM row
    ``(start_line + k) mod 64`` and is driven on COM ``(k - display_offset) mod 64``, counted
    from COM[N-1] downwards under ``C8h``; COM signals that no line drives stay dark. With
    N = 64 both the start line and the offset move the picture up on the upright panel.

    **Address pointer.** In horizontal mode the column pointer steps through the window set by
    ``21h``, then moves to the next page of the window set by ``22h``; after the last byte of
    the window it returns to its first byte. Vertical mode is the same with pages and columns
    swapped. In page mode the column pointer steps to 127 and returns to column 0 of the same
    page (datasheet Figure 10-1; the ``21h``/``22h`` window only applies to the other modes).

    Args:
        external_vcc: True if the module has its own VCC supply. Without one (the common
            module) the panel stays dark until the charge pump is enabled (``8Dh 14h``).
        status_id: Reserved bits of the status byte, 0x00-0x3F.

    Attributes:
        gddram: The display RAM, ``uint8`` array of shape (8, 128): ``gddram[page, column]``.
        errors: Protocol errors seen so far (unknown commands, invalid arguments, malformed
            control bytes), one message each.
        command_log: The last :data:`COMMAND_LOG_LENGTH` decoded commands as
            ``(command, arguments)`` tuples.
        commands_received: Number of commands decoded (a command and its arguments count once).
        data_bytes_received: Number of GDDRAM data bytes received.
        messages_received: Number of I²C write messages received.
        supply_on: False between :meth:`power_off` and :meth:`power_on`.
        messages_refused: I²C messages (writes and reads) not acknowledged while unpowered.
        power_ups: Times :meth:`power_on` brought the module back.
    """

    def __init__(self, *, external_vcc: bool = False, status_id: int = STATUS_ID_DEFAULT) -> None:
        if not 0 <= status_id <= CONTROL_RESERVED_MASK:
            raise ValueError(f"status_id must be within 0x00..0x3F, got {status_id!r}")
        self.external_vcc = external_vcc
        self.status_id = status_id
        self.gddram = np.zeros((PAGES, WIDTH), dtype=np.uint8)
        self.errors: list[str] = []
        self.command_log: deque[tuple[int, tuple[int, ...]]] = deque(maxlen=COMMAND_LOG_LENGTH)
        self.commands_received = 0
        self.data_bytes_received = 0
        self.messages_received = 0
        self.supply_on = True
        self.messages_refused = 0
        self.power_ups = 0
        self._noise = np.random.default_rng(0)
        self.reset()

    def reset(self) -> None:
        """Pulse RES#: every register returns to its reset value; GDDRAM is kept."""
        self.display_on = False
        self.contrast = RESET_CONTRAST
        self.entire_display_on = False
        self.inverse = False
        self.memory_mode = MODE_PAGE
        self.column_start, self.column_end = 0, COLUMN_MAX
        self.page_start, self.page_end = 0, PAGE_MAX
        self.column = 0
        self.page = 0
        self.start_line = 0
        self.segment_remap = False
        self.com_scan_decrement = False
        self.multiplex = RESET_MULTIPLEX
        self.display_offset = 0
        self.com_pins = RESET_COM_PINS
        self.clock_div = RESET_CLOCK_DIV
        self.precharge = RESET_PRECHARGE
        self.vcomh = RESET_VCOMH
        self.charge_pump = RESET_CHARGE_PUMP
        self.scroll_active = False
        self.scroll_setup: tuple[int, ...] = ()
        self.vertical_scroll_area = (0, HEIGHT)
        self._pending: list[int] = []  # a multi-byte command waiting for its arguments

    def power_off(self) -> None:
        """Lose the supply: the panel goes dark and every transfer is refused (a NACK).

        Harmless to repeat.
        """
        self.supply_on = False

    def power_on(self) -> None:
        """Get the supply back: registers at their reset values, GDDRAM undefined.

        The module's power-on reset circuit acts as :meth:`reset`; GDDRAM held nothing while
        unpowered, so it comes back as noise (the same noise for the same sequence of
        power-ups). A module that had its supply does nothing.
        """
        if self.supply_on:
            return
        self.supply_on = True
        self.power_ups += 1
        self.reset()
        self.gddram = self._noise.integers(0, 256, size=(PAGES, WIDTH), dtype=np.uint8)

    def _refuse(self) -> None:
        """Not acknowledge a transfer, as an unpowered module does."""
        self.messages_refused += 1
        raise OSError(UNPOWERED_ERRNO, os.strerror(UNPOWERED_ERRNO))

    # -- I²C side ------------------------------------------------------------------------------

    def i2c_write(self, data: bytes) -> None:
        """Decode one I²C write message (the bytes after the address byte).

        Raises:
            OSError: ENXIO, the module is unpowered (:meth:`power_off`); nothing is decoded.
        """
        if not self.supply_on:
            self._refuse()
        self.messages_received += 1
        i = 0
        n = len(data)
        while i < n:
            control = data[i]
            i += 1
            if control & CONTROL_RESERVED_MASK:
                self._error(f"control byte 0x{control:02X} has reserved bits set")
            is_data = bool(control & CONTROL_DC)
            if control & CONTROL_CO:
                chunk = data[i : i + 1]
                i += 1
            else:
                chunk = data[i:]
                i = n
            if is_data:
                self._write_data(chunk)
            else:
                for byte in chunk:
                    self._command_byte(byte)

    def i2c_read(self, length: int) -> bytes:
        """Answer a read message: the status byte, ``length`` times.

        Raises:
            OSError: ENXIO, the module is unpowered (:meth:`power_off`).
        """
        if not self.supply_on:
            self._refuse()
        return bytes([self.status]) * length

    @property
    def status(self) -> int:
        """The status byte: :data:`STATUS_DISPLAY_OFF` while the display is off."""
        return (0 if self.display_on else STATUS_DISPLAY_OFF) | self.status_id

    # -- command decoder -----------------------------------------------------------------------

    def _error(self, message: str) -> None:
        self.errors.append(message)

    def _command_byte(self, byte: int) -> None:
        if self._pending:
            self._pending.append(byte)
            command = self._pending[0]
            if len(self._pending) - 1 == ARGUMENT_COUNTS[command]:
                args = tuple(self._pending[1:])
                self._pending = []
                self._execute(command, args)
        elif byte in ARGUMENT_COUNTS:
            self._pending = [byte]
        elif _is_single_byte_command(byte):
            self._execute(byte, ())
        else:
            self._error(f"unknown command byte 0x{byte:02X}")

    def _execute(self, command: int, args: tuple[int, ...]) -> None:
        self.commands_received += 1
        self.command_log.append((command, args))
        if command < SET_HIGHER_COLUMN:
            self.column = (self.column & ~NIBBLE_MASK) | (command & NIBBLE_MASK)
        elif command < SET_MEMORY_MODE:
            high = command & NIBBLE_MASK
            if high << 4 > COLUMN_MAX:
                self._error(f"column high nibble 0x{command:02X} points past column {COLUMN_MAX}")
            self.column = (high << 4 | (self.column & NIBBLE_MASK)) & COLUMN_MASK
        elif SET_START_LINE <= command <= SET_START_LINE | START_LINE_MASK:
            self.start_line = command & START_LINE_MASK
        elif SET_PAGE_START <= command <= SET_PAGE_START | PAGE_MASK:
            self.page = command & PAGE_MASK
        elif command in (DISPLAY_ON, DISPLAY_OFF):
            self.display_on = command == DISPLAY_ON
        elif command in (ENTIRE_DISPLAY_ON, ENTIRE_DISPLAY_RESUME):
            self.entire_display_on = command == ENTIRE_DISPLAY_ON
        elif command in (INVERSE_DISPLAY, NORMAL_DISPLAY):
            self.inverse = command == INVERSE_DISPLAY
        elif command in (SEGMENT_REMAP_ON, SEGMENT_REMAP_OFF):
            self.segment_remap = command == SEGMENT_REMAP_ON
        elif command in (COM_SCAN_DEC, COM_SCAN_INC):
            self.com_scan_decrement = command == COM_SCAN_DEC
        elif command in (ACTIVATE_SCROLL, DEACTIVATE_SCROLL):
            self.scroll_active = command == ACTIVATE_SCROLL
        elif command == NOP:
            pass
        else:
            self._execute_with_arguments(command, args)

    def _execute_with_arguments(self, command: int, args: tuple[int, ...]) -> None:
        if command == SET_CONTRAST:
            self.contrast = args[0]
        elif command == SET_MEMORY_MODE:
            self._set_memory_mode(args[0])
        elif command == SET_COLUMN_ADDRESS:
            self.column_start, self.column_end = args[0] & COLUMN_MASK, args[1] & COLUMN_MASK
            self.column = self.column_start
            self._check_window("column", self.column_start, self.column_end)
        elif command == SET_PAGE_ADDRESS:
            self.page_start, self.page_end = args[0] & PAGE_MASK, args[1] & PAGE_MASK
            self.page = self.page_start
            self._check_window("page", self.page_start, self.page_end)
        elif command == SET_MULTIPLEX:
            self._set_multiplex(args[0])
        elif command == SET_DISPLAY_OFFSET:
            self.display_offset = args[0] & OFFSET_MASK
        elif command == SET_COM_PINS:
            if args[0] & ~COM_PINS_VARIABLE_BITS != COM_PINS_FIXED_BITS:
                self._error(f"COM pins argument 0x{args[0]:02X} is not of the form 00xx0010b")
            self.com_pins = args[0]
        elif command == SET_CLOCK_DIV:
            self.clock_div = args[0]
        elif command == SET_PRECHARGE:
            self.precharge = args[0]
        elif command == SET_VCOMH:
            self.vcomh = args[0]
        elif command == SET_CHARGE_PUMP:
            self.charge_pump = args[0]
        elif command == SET_VERTICAL_SCROLL_AREA:
            self.vertical_scroll_area = (args[0] & START_LINE_MASK, args[1] & COLUMN_MASK)
        else:  # the four scroll set-up commands
            self.scroll_setup = (command, *args)

    def _set_memory_mode(self, value: int) -> None:
        mode = value & MEMORY_MODE_MASK
        if mode not in MEMORY_MODE_NAMES:
            self._error(f"invalid memory addressing mode 0x{value:02X} (20h argument 11b)")
            return
        self.memory_mode = mode

    def _set_multiplex(self, value: int) -> None:
        ratio = value & MULTIPLEX_MASK
        if ratio < MULTIPLEX_MIN:
            self._error(f"invalid multiplex ratio 0x{value:02X} (A8h needs 15..63)")
            return
        self.multiplex = ratio

    def _check_window(self, what: str, start: int, end: int) -> None:
        if start > end:
            self._error(f"{what} window start {start} is after its end {end}")

    # -- GDDRAM and the address pointer --------------------------------------------------------

    def _write_data(self, chunk: bytes) -> None:
        self.data_bytes_received += len(chunk)
        for byte in chunk:
            self.gddram[self.page, self.column] = byte
            self._advance()

    def _advance(self) -> None:
        if self.memory_mode == MODE_PAGE:
            self.column = 0 if self.column == COLUMN_MAX else self.column + 1
        elif self.memory_mode == MODE_HORIZONTAL:
            if self.column == self.column_end:
                self.column = self.column_start
                self.page = self._next(self.page, self.page_start, self.page_end, PAGE_MAX)
            else:
                self.column = (self.column + 1) & COLUMN_MASK
        else:  # vertical
            if self.page == self.page_end:
                self.page = self.page_start
                self.column = self._next(
                    self.column, self.column_start, self.column_end, COLUMN_MAX
                )
            else:
                self.page = (self.page + 1) & PAGE_MASK

    @staticmethod
    def _next(value: int, start: int, end: int, maximum: int) -> int:
        """Step ``value`` within the window ``start..end``, returning to ``start`` after ``end``."""
        if value == end:
            return start
        return 0 if value == maximum else value + 1

    # -- what the panel shows ------------------------------------------------------------------

    @property
    def powered(self) -> bool:
        """True if the panel has its drive voltage: a supply, then external VCC or the pump."""
        return self.supply_on and (
            self.external_vcc or bool(self.charge_pump & CHARGE_PUMP_ENABLE_BIT)
        )

    def _com_of_pad(self, pad: int) -> int:
        """The COM signal routed to COM pad ``pad`` by the COM pins configuration (DAh)."""
        lr_remap = bool(self.com_pins & COM_PINS_LR_REMAP_BIT)
        if self.com_pins & COM_PINS_ALTERNATIVE_BIT:
            return pad ^ 1 if lr_remap else pad
        half = COM_COUNT // 2
        left_side = pad % 2 == 0
        return pad // 2 + (half if left_side == lr_remap else 0)

    def _ram_row_of_com(self) -> np.ndarray:
        """For each COM signal, the RAM row it shows, or -1 if it is not scanned."""
        ratio = self.multiplex + 1
        rows = np.full(COM_COUNT, -1, dtype=np.int64)
        for line in range(ratio):
            com = (line - self.display_offset) % COM_COUNT
            if self.com_scan_decrement:
                com = (ratio - 1 - com) % COM_COUNT
            rows[com] = (self.start_line + line) % HEIGHT
        return rows

    def frame(self) -> np.ndarray:
        """The panel as the viewer sees it.

        Returns:
            Boolean array of shape (64, 128), ``[y, x]`` with (0, 0) at the top left; True is
            a lit pixel.
        """
        lit = np.zeros((HEIGHT, WIDTH), dtype=bool)
        if not (self.display_on and self.powered):
            return lit
        ram = np.unpackbits(self.gddram, axis=0, bitorder="little").astype(bool)  # [row, col]
        if self.entire_display_on:
            ram = np.ones_like(ram)
        elif self.inverse:
            ram = ~ram
        segments = COLUMN_MAX - np.arange(WIDTH)  # SEG driving each panel column
        columns = COLUMN_MAX - segments if self.segment_remap else segments
        row_of_com = self._ram_row_of_com()
        for y in range(HEIGHT):
            row = row_of_com[self._com_of_pad(COM_COUNT - 1 - y)]
            if row >= 0:
                lit[y] = ram[row, columns]
        return lit

    def image(self) -> Image.Image:
        """The panel as a 1-bit PIL image (128 x 64, white = lit)."""
        packed = np.packbits(self.frame(), axis=1)  # mode "1" raw data: MSB first per row
        return Image.frombytes("1", (WIDTH, HEIGHT), packed.tobytes())

    def save_png(self, path: str | os.PathLike[str], scale: int = 1) -> None:
        """Save the panel as a PNG file.

        Args:
            path: Where to write.
            scale: Integer magnification (each pixel becomes ``scale`` x ``scale``).
        """
        if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
            raise ValueError(f"scale must be a positive integer, got {scale!r}")
        picture = self.image()
        if scale > 1:
            picture = picture.resize((WIDTH * scale, HEIGHT * scale), Image.Resampling.NEAREST)
        picture.save(path, format="PNG")

    def __repr__(self) -> str:
        return (
            f"<SimSSD1306 display_on={self.display_on} "
            f"mode={MEMORY_MODE_NAMES[self.memory_mode]} page={self.page} column={self.column} "
            f"commands={self.commands_received} errors={len(self.errors)}>"
        )
