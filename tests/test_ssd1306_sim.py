"""Tests for hwsim.ssd1306 (the simulated OLED controller) and device.oled (its driver side).

The decoder is checked three ways: hand-written byte streams against GDDRAM contents worked
out from the datasheet's addressing rules; the device's driver (device.ssd1306, which sends
the byte stream luma.oled's ``ssd1306`` driver sent) drawing through the simulated chip
against the same drawing turned onto the panel by Pillow (pixel for pixel, so every byte of
the stream must be decoded right, and packed right); and each display setting (re-map, scan
direction, start line, ...) against the reference picture moved the way the datasheet says.

The driver side queues the chip's messages (device.oled.QueuedI2C) and sends them in slices
of bus time between ADC conversions: checked for the exact messages, for estimates against
the simulated bus's own clock, and for frames sent in slices ending pixel-identical to flushed
ones. tests/test_ssd1306_protocol.py checks the packing against a pixel-by-pixel computation.
"""

from __future__ import annotations

import errno
import math
import os
import random
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from PIL import Image, ImageDraw

from device.errors import DeviceError, I2CError
from device.i2c import RetryingBus
from device.oled import Display, I2CMessage, OledNotFoundError, QueuedI2C, open_oled
from device.ssd1306 import SSD1306
from hwsim import ssd1306 as sim
from hwsim.i2c import SimI2CBus
from hwsim.ssd1306 import SimSSD1306

ADDRESS = 0x3C
CMD = 0x00  # control byte: Co = 0, D/C# = 0 (commands follow)
DATA = 0x40  # control byte: Co = 0, D/C# = 1 (GDDRAM data follow)
ONE_CMD = 0x80  # control byte: Co = 1, D/C# = 0 (one command byte, then a control byte)
ONE_DATA = 0xC0  # control byte: Co = 1, D/C# = 1 (one data byte, then a control byte)

REPO = Path(__file__).resolve().parents[1]

#: Messages of one 128 x 64 frame: the column/page address command, then 1024 GDDRAM bytes
#: in 32-byte block writes.
FRAME_MESSAGES = 1 + 128 * 8 // 32
#: The ADS1114 on the same bus: a conversion every 1/860 s, read in a 2-byte block read
#: (address, register, repeated-start address, 2 data bytes: 5 bytes, 9 bits each, + start/stop).
ADC_PERIOD_S = 1.0 / 860.0
ADC_READ_S = (2 + 9 * 5) / 400_000.0


@pytest.fixture
def oled(bus: SimI2CBus, chip: SimSSD1306) -> Iterator[SSD1306]:
    device = open_oled(bus, ADDRESS)
    yield device
    device.close()


def draw_readout(draw: ImageDraw.ImageDraw, size: tuple[int, int]) -> None:
    """A frame like the wearable's: a border, two readings, a diagonal (nothing symmetric)."""
    width, height = size
    draw.rectangle((0, 0, width - 1, height - 1), outline="white")
    draw.text((3, 3), "750 nm 1.234 V", fill="white")
    draw.text((3, 17), "810 nm 0.987 V", fill="white")
    draw.line((3, height - 4, width // 2, height // 2), fill="white")


def readout_image(size: tuple[int, int]) -> Image.Image:
    """The readout drawn on a blank mode "1" image of ``size``."""
    image = Image.new("1", size)
    draw_readout(ImageDraw.Draw(image), size)
    return image


def reference(rotate: int = 0) -> np.ndarray:
    """The expected panel: the readout drawn upright, turned ``rotate`` quarter turns clockwise.

    Turned by Pillow's ``rotate`` (as luma.core did it), not by the driver's transposes.
    """
    size = (128, 64) if rotate % 2 == 0 else (64, 128)
    panel = readout_image(size).rotate(-90 * rotate, expand=True)
    assert panel.size == (128, 64)
    return np.asarray(panel, dtype=bool)


def draw_on(device: SSD1306) -> None:
    """Draw the readout and send it (open_oled's devices only queue)."""
    device.display(readout_image(device.size))
    device.transport.flush()


# -- (a) exact bytes -> GDDRAM -----------------------------------------------------------------


def test_reset_state_is_the_datasheet_reset_column() -> None:
    chip = SimSSD1306()
    assert not chip.display_on
    assert chip.contrast == 0x7F
    assert chip.memory_mode == sim.MODE_PAGE
    assert (chip.multiplex, chip.com_pins, chip.charge_pump) == (0x3F, 0x12, 0x10)
    assert chip.gddram.shape == (8, 128) and chip.gddram.dtype == np.uint8
    assert not chip.frame().any()


def test_horizontal_mode_fills_the_window_then_wraps_to_its_start() -> None:
    chip = SimSSD1306()
    # horizontal mode; columns 120..123, pages 6..7: an 8-byte window
    chip.i2c_write(bytes([CMD, 0x20, 0x00, 0x21, 120, 123, 0x22, 6, 7]))
    chip.i2c_write(bytes([DATA, *range(1, 11)]))  # 10 bytes: the last 2 wrap around

    expected = np.zeros((8, 128), dtype=np.uint8)
    expected[6, 120:124] = [9, 10, 3, 4]  # 1, 2 overwritten by the wrapped 9, 10
    expected[7, 120:124] = [5, 6, 7, 8]
    assert_array_equal(chip.gddram, expected)
    assert (chip.page, chip.column) == (6, 122)
    assert chip.commands_received == 3
    assert chip.data_bytes_received == 10
    assert chip.errors == []


def test_horizontal_mode_full_screen_write_returns_to_page_0_column_0() -> None:
    chip = SimSSD1306()
    chip.i2c_write(bytes([CMD, 0x20, 0x00, 0x21, 0, 127, 0x22, 0, 7]))
    payload = bytes((i * 7) & 0xFF for i in range(128 * 8))
    chip.i2c_write(bytes([DATA]) + payload)
    assert_array_equal(chip.gddram, np.frombuffer(payload, dtype=np.uint8).reshape(8, 128))
    assert (chip.page, chip.column) == (0, 0)
    chip.i2c_write(bytes([DATA, 0xAA]))
    assert chip.gddram[0, 0] == 0xAA


def test_page_mode_with_single_byte_control_bytes_wraps_within_the_page() -> None:
    chip = SimSSD1306()  # page addressing mode after reset
    # Co = 1: each control byte announces one byte; page 3, column 0x75 = 117
    chip.i2c_write(bytes([ONE_CMD, 0xB3, ONE_CMD, 0x05, ONE_CMD, 0x17, ONE_DATA, 0x11, DATA]))
    assert (chip.page, chip.column) == (3, 118)
    chip.i2c_write(bytes([DATA, *range(0x21, 0x2C)]))  # 11 bytes: columns 118..127, then 0

    expected = np.zeros((8, 128), dtype=np.uint8)
    expected[3, 117] = 0x11
    expected[3, 118:128] = range(0x21, 0x2B)
    expected[3, 0] = 0x2B  # column pointer 127 -> 0, page unchanged
    assert_array_equal(chip.gddram, expected)
    assert (chip.page, chip.column) == (3, 1)
    assert chip.errors == []


def test_vertical_mode_runs_down_the_pages_then_wraps() -> None:
    chip = SimSSD1306()
    chip.i2c_write(bytes([CMD, 0x20, 0x01, 0x21, 10, 11, 0x22, 0, 2]))
    chip.i2c_write(bytes([DATA, *range(1, 8)]))  # 6-byte window, 7 bytes

    expected = np.zeros((8, 128), dtype=np.uint8)
    expected[0:3, 10] = [7, 2, 3]
    expected[0:3, 11] = [4, 5, 6]
    assert_array_equal(chip.gddram, expected)
    assert (chip.page, chip.column) == (1, 10)


def test_command_arguments_may_arrive_in_later_messages() -> None:
    chip = SimSSD1306()
    chip.i2c_write(bytes([CMD, 0x81]))  # contrast, argument still missing
    assert chip.contrast == 0x7F
    chip.i2c_write(bytes([CMD, 0x42]))
    chip.i2c_write(bytes([ONE_CMD, 0x21, ONE_CMD, 5, ONE_CMD, 9]))  # one byte per control byte
    assert chip.contrast == 0x42
    assert (chip.column_start, chip.column_end, chip.column) == (5, 9, 5)
    assert list(chip.command_log) == [(0x81, (0x42,)), (0x21, (5, 9))]


def test_unknown_commands_and_bad_control_bytes_are_recorded_not_fatal() -> None:
    chip = SimSSD1306()
    chip.i2c_write(bytes([CMD, 0xFF, 0xAF]))
    chip.i2c_write(bytes([0x01, 0xA7]))  # reserved control bits set: decoded as commands
    chip.i2c_write(bytes([CMD, 0x20, 0x03]))  # addressing mode 11b is invalid
    assert chip.display_on and chip.inverse
    assert chip.memory_mode == sim.MODE_PAGE
    assert len(chip.errors) == 3
    assert "0xFF" in chip.errors[0]
    assert "control byte 0x01" in chip.errors[1]
    assert "addressing mode" in chip.errors[2]
    assert chip.commands_received == 3  # AF, A7, 20 03 (FF is not a command)


def test_status_byte_bit_6_reports_display_off(bus: SimI2CBus, chip: SimSSD1306) -> None:
    assert bus.read_byte_data(ADDRESS, CMD) & sim.STATUS_DISPLAY_OFF
    bus.write_i2c_block_data(ADDRESS, CMD, [sim.DISPLAY_ON])
    status = bus.read_i2c_block_data(ADDRESS, CMD, 2)
    assert status == [sim.STATUS_ID_DEFAULT, sim.STATUS_ID_DEFAULT]


# -- (b) the device's driver through the simulated chip ----------------------------------------


def test_init_sequence_is_decoded(oled, chip: SimSSD1306) -> None:
    assert chip.errors == []
    assert chip.display_on and chip.powered
    assert chip.contrast == 0xCF
    assert chip.memory_mode == sim.MODE_HORIZONTAL
    assert chip.segment_remap and chip.com_scan_decrement
    assert (chip.multiplex, chip.display_offset, chip.start_line) == (0x3F, 0, 0)
    assert (chip.com_pins, chip.charge_pump, chip.precharge, chip.vcomh) == (0x12, 0x14, 0xF1, 0x40)
    # 14 init commands, contrast, column + page address of clear(), display on
    assert chip.commands_received == 18
    assert chip.data_bytes_received == 128 * 8
    assert oled.transport.pending == 0  # open_oled sends the init sequence itself


@pytest.mark.parametrize("rotate", [0, 1, 2, 3])
def test_text_frame_is_pixel_identical_to_the_turned_drawing(
    bus: SimI2CBus, chip: SimSSD1306, rotate: int
) -> None:
    expected = reference(rotate)
    assert expected.sum() > 200  # the drawing is not trivially empty
    device = open_oled(bus, ADDRESS, rotate=rotate)
    draw_on(device)
    assert_array_equal(chip.frame(), expected)
    assert chip.errors == []
    device.close()


def test_display_frame_is_queued_then_flushed_to_the_chip(oled, chip: SimSSD1306) -> None:
    display = Display(oled)
    before = chip.messages_received
    with display.frame() as draw:
        draw_readout(draw, oled.size)
    assert chip.messages_received == before  # queued only
    assert display.frame_pending and oled.transport.pending == FRAME_MESSAGES
    assert display.frames_sent == 0
    assert display.flush() == FRAME_MESSAGES
    assert_array_equal(chip.frame(), reference())
    assert (display.frames_sent, display.failures, display.frames_dropped) == (1, 0, 0)
    assert not display.frame_pending
    assert display.flush() == 0


# -- (c) PNG output ---------------------------------------------------------------------------


@pytest.mark.parametrize("scale", [1, 3])
def test_save_png_holds_the_frame(oled, chip: SimSSD1306, tmp_path: Path, scale: int) -> None:
    draw_on(oled)
    path = tmp_path / "oled.png"
    chip.save_png(path, scale=scale)
    with Image.open(path) as png:
        assert png.format == "PNG"
        assert png.size == (128 * scale, 64 * scale)
        pixels = np.asarray(png.convert("L")) > 127
    assert_array_equal(pixels[::scale, ::scale], chip.frame())
    assert_array_equal(pixels, np.kron(chip.frame(), np.ones((scale, scale), dtype=bool)))


def test_save_png_rejects_a_bad_scale(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="scale"):
        SimSSD1306().save_png(tmp_path / "x.png", scale=0)


def test_image_is_one_bit(oled, chip: SimSSD1306) -> None:
    draw_on(oled)
    picture = chip.image()
    assert (picture.mode, picture.size) == ("1", (128, 64))
    assert_array_equal(np.asarray(picture, dtype=bool), chip.frame())


# -- (d) display settings move the picture as the datasheet says -------------------------------


def send_commands(bus: SimI2CBus, *commands: int) -> None:
    bus.write_i2c_block_data(ADDRESS, CMD, list(commands))


@pytest.mark.parametrize(
    ("commands", "transform"),
    [
        ((sim.SEGMENT_REMAP_OFF,), np.fliplr),
        ((sim.COM_SCAN_INC,), np.flipud),
        ((sim.SEGMENT_REMAP_OFF, sim.COM_SCAN_INC), lambda a: np.rot90(a, 2)),
        ((sim.SET_START_LINE | 8,), lambda a: np.roll(a, -8, axis=0)),
        ((sim.SET_DISPLAY_OFFSET, 8), lambda a: np.roll(a, -8, axis=0)),
        ((sim.INVERSE_DISPLAY,), np.logical_not),
        ((sim.ENTIRE_DISPLAY_ON,), np.ones_like),
        ((sim.DISPLAY_OFF,), np.zeros_like),
        ((sim.SET_CHARGE_PUMP, 0x10), np.zeros_like),
    ],
    ids=["A0", "C0", "A0+C0", "start-line-8", "offset-8", "A7", "A5", "AE", "pump-off"],
)
def test_display_settings_transform_the_picture(
    oled, bus: SimI2CBus, chip: SimSSD1306, commands, transform
) -> None:
    draw_on(oled)
    upright = chip.frame()
    assert_array_equal(upright, reference())
    gddram = chip.gddram.copy()
    send_commands(bus, *commands)
    assert_array_equal(chip.frame(), transform(upright))
    assert_array_equal(chip.gddram, gddram)  # only the view changed
    assert chip.errors == []


def test_sequential_com_pins_interleave_the_halves(oled, bus: SimI2CBus, chip) -> None:
    draw_on(oled)
    upright = chip.frame()
    send_commands(bus, sim.SET_COM_PINS, 0x02)  # the 128x32 setting on a 64-row panel
    shown = chip.frame()
    assert_array_equal(shown[0::2], upright[:32])
    assert_array_equal(shown[1::2], upright[32:])


def test_multiplex_ratio_limits_the_lit_rows(oled, bus: SimI2CBus, chip) -> None:
    send_commands(bus, sim.ENTIRE_DISPLAY_ON, sim.SET_MULTIPLEX, 31)
    assert chip.frame().sum() == 32 * 128
    send_commands(bus, sim.SET_MULTIPLEX, 3)  # 4MUX is invalid: ignored, recorded
    assert chip.multiplex == 31
    assert len(chip.errors) == 1


def test_external_vcc_needs_no_charge_pump() -> None:
    chip = SimSSD1306(external_vcc=True)
    chip.i2c_write(bytes([CMD, sim.DISPLAY_ON, sim.ENTIRE_DISPLAY_ON]))
    assert chip.frame().all()
    assert not SimSSD1306().frame().any()


# -- (e) open_oled without a chip --------------------------------------------------------------


def test_open_oled_without_chip_raises_oled_not_found(bus: SimI2CBus) -> None:
    with pytest.raises(OledNotFoundError) as info:
        open_oled(bus, 0x3D)
    error = info.value
    assert "0x3d" in str(error)
    assert "/dev/i2c-3" in str(error)
    assert error.errno == errno.ENXIO
    assert (error.address, error.bus_name) == (0x3D, "/dev/i2c-3")
    assert isinstance(error, OSError) and isinstance(error, DeviceError)


def test_open_oled_when_the_chip_stopped_answering(bus: SimI2CBus, chip: SimSSD1306) -> None:
    bus.set_responding(ADDRESS, False)
    with pytest.raises(OledNotFoundError, match="0x3c"):
        open_oled(bus, ADDRESS)


def test_open_oled_keeps_the_adapters_errno() -> None:
    class EioBus:  # an adapter that reports a NACK as EIO
        def write_i2c_block_data(self, addr: int, reg: int, data: list[int]) -> None:
            raise OSError(errno.EIO, os.strerror(errno.EIO))

    with pytest.raises(OledNotFoundError) as info:
        open_oled(EioBus(), ADDRESS)
    assert info.value.errno == errno.EIO
    assert "EioBus" in str(info.value)


def test_open_oled_names_a_retrying_bus(bus: SimI2CBus) -> None:
    with pytest.raises(OledNotFoundError, match="/dev/i2c-7"):
        open_oled(RetryingBus(bus, retries=1, bus_name="/dev/i2c-7"), ADDRESS)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"width": 100}, "unsupported SSD1306 size 100x64"), ({"rotate": 4}, "rotate must be")],
)
def test_open_oled_rejects_bad_geometry(bus: SimI2CBus, kwargs, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        open_oled(bus, ADDRESS, **kwargs)


# -- Display: a bad bus costs a frame, never the program ---------------------------------------


def test_failed_frame_is_counted_and_the_next_one_repaints(oled, bus, chip) -> None:
    display = Display(oled)
    bus.fault_rate = 1.0
    with display.frame() as draw:
        draw.text((0, 0), "lost", fill="white")
    assert display.flush() == 0
    assert (display.failures, display.consecutive_failures, display.frames_sent) == (1, 1, 0)
    assert isinstance(display.last_error, OSError)
    assert display.last_error.errno == errno.ENXIO

    bus.fault_rate = 0.0
    with display.frame() as draw:
        draw_readout(draw, oled.size)
    display.flush()
    assert (display.failures, display.consecutive_failures, display.frames_sent) == (1, 0, 1)
    assert_array_equal(chip.frame(), reference())


def test_faults_in_the_middle_of_frames_never_escape(oled, bus, chip) -> None:
    display = Display(oled)
    bus.fault_rate = 0.05  # about 1 transfer in 20: most frames lose a chunk
    for _ in range(20):
        with display.frame() as draw:
            draw.text((0, 0), "noise", fill="white")
        display.flush()
    assert display.failures > 0
    assert display.frames_dropped == 0
    assert display.failures + display.frames_sent == 20
    bus.fault_rate = 0.0
    assert display.show(_reference_image())
    assert_array_equal(chip.frame(), reference())
    assert chip.errors == []


def _reference_image() -> Image.Image:
    return readout_image((128, 64))


def test_errors_raised_while_drawing_propagate_and_queue_nothing(oled, chip) -> None:
    display = Display(oled)
    with display.frame() as draw:
        draw_readout(draw, oled.size)
    before = chip.data_bytes_received
    with pytest.raises(OSError, match="sensor"), display.frame():
        raise OSError(errno.EIO, "sensor read failed")
    assert (display.failures, display.frames_dropped) == (0, 0)
    assert oled.transport.pending == FRAME_MESSAGES  # the frame before stays queued
    assert chip.data_bytes_received == before
    display.flush()
    assert_array_equal(chip.frame(), reference())


def test_close_is_safe_twice_and_the_driver_closes_once(oled, bus, chip) -> None:
    display = Display(oled)
    display.close()
    assert not chip.display_on and oled.closed
    transfers = bus.transfers
    display.close()
    oled.close()
    assert bus.transfers == transfers
    assert display.closed
    with pytest.raises(ValueError, match="closed"), display.frame():
        pass


def test_close_on_a_failing_bus_is_counted(oled, bus) -> None:
    with Display(oled) as display:
        bus.fault_rate = 1.0
    assert display.closed
    assert display.failures == 1


@pytest.mark.parametrize("chip_attached", [True, False])
def test_interpreter_exit_is_clean_with_a_simulated_bus(chip_attached: bool) -> None:
    """Nothing runs at exit that prints or fails, whether or not the OLED was found."""
    script = textwrap.dedent(
        f"""
        from device.oled import Display, OledNotFoundError, open_oled
        from hwsim.i2c import SimI2CBus
        from hwsim.ssd1306 import SimSSD1306

        bus = SimI2CBus()
        if {chip_attached}:
            bus.attach(0x3C, SimSSD1306())
        try:
            display = Display(open_oled(bus))
            with display.frame() as draw:
                draw.text((0, 0), "bye", fill="white")
        except OledNotFoundError:
            pass
        bus.close()  # closed before the interpreter exits, the display never closed
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "hw-sim")])}
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


# -- the queue: the frame goes out in slices of bus time between ADC conversions ---------------


class RecordingBus:
    """Records block writes as (address, register, data) and sends nothing."""

    def __init__(self) -> None:
        self.writes: list[tuple[int, int, list[int]]] = []

    def write_i2c_block_data(self, i2c_addr: int, register: int, data: list[int]) -> None:
        self.writes.append((i2c_addr, register, list(data)))


class RecordingTransport:
    """A chip driver's transport that only records: not a QueuedI2C."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes]] = []

    def command(self, *cmd: int) -> None:
        self.messages.append(("command", bytes(cmd)))

    def data(self, data: bytes) -> None:
        self.messages.append(("data", bytes(data)))


class TimedBus:
    """Forwards block writes to a SimI2CBus; records each one's bytes and simulated duration."""

    def __init__(self, bus: SimI2CBus) -> None:
        self.bus = bus
        self.bus_number = bus.bus_number
        self.writes: list[tuple[int, bytes, float]] = []  # (register, data, seconds)

    def write_i2c_block_data(self, i2c_addr: int, register: int, data: list[int]) -> None:
        t0_s = self.bus.clock.monotonic()
        self.bus.write_i2c_block_data(i2c_addr, register, data)
        self.writes.append((register, bytes(data), self.bus.clock.monotonic() - t0_s))


def test_queued_i2c_cuts_messages_as_block_writes_of_at_most_32_bytes() -> None:
    queued_bus = RecordingBus()
    queued = QueuedI2C(queued_bus, ADDRESS)
    queued.command(0xAE, 0xD5, 0x80)
    queued.data(bytearray(range(70)))
    queued.command(*range(32))
    assert queued_bus.writes == []  # nothing sent yet
    assert queued.pending == 5
    assert queued.peek() == I2CMessage(CMD, bytes([0xAE, 0xD5, 0x80]))
    assert queued.flush() == 5
    assert queued.messages_sent == 5
    assert queued_bus.writes == [
        (ADDRESS, CMD, [0xAE, 0xD5, 0x80]),
        (ADDRESS, DATA, list(range(32))),
        (ADDRESS, DATA, list(range(32, 64))),
        (ADDRESS, DATA, list(range(64, 70))),
        (ADDRESS, CMD, list(range(32))),
    ]
    assert queued.peek() is None


def test_queued_i2c_discard_keeps_what_it_skips() -> None:
    bus = RecordingBus()
    queued = QueuedI2C(bus, ADDRESS)
    for command in range(0xB0, 0xB6):
        queued.command(command)
    assert queued.discard(2, skip=1) == 2  # drops B1, B2
    assert queued.discard(10, skip=3) == 1  # only B5 is after the first 3
    assert queued.flush() == 3
    assert [data for _, _, data in bus.writes] == [[0xB0], [0xB3], [0xB4]]
    queued.data([0] * 100)
    assert queued.discard() == 4
    assert (queued.pending, queued.discard()) == (0, 0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"address": 0x80}, "0x03..0x77"),
        ({"bus_hz": 0.0}, "bus_hz"),
        ({"bus_hz": -400e3}, "bus_hz"),
        ({"bus_hz": math.nan}, "bus_hz"),
    ],
)
def test_queued_i2c_rejects_bad_settings(kwargs, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        QueuedI2C(RecordingBus(), **kwargs)


def test_queued_i2c_rejects_bad_calls() -> None:
    queued = QueuedI2C(RecordingBus(), ADDRESS)
    with pytest.raises(ValueError, match="at most 32 bytes, got 33"):
        queued.command(*range(33))
    with pytest.raises(ValueError):
        queued.data([256])
    with pytest.raises(ValueError, match="nan"):
        queued.pump(math.nan)
    with pytest.raises(ValueError, match=">= 0"):
        queued.discard(-1)
    assert queued.pending == 0


@pytest.mark.parametrize("bus_hz", [100_000.0, 400_000.0])
def test_estimated_s_is_start_stop_plus_9_bits_per_byte(bus_hz: float) -> None:
    queued = QueuedI2C(RecordingBus(), ADDRESS, bus_hz=bus_hz)
    # 32 data bytes + address + control: 34 bytes, 306 bit-times, + start and stop = 308
    assert queued.estimated_s(I2CMessage(DATA, bytes(32))) == pytest.approx(308 / bus_hz)
    # the frame header: 21 00 7F 22 00 07, 8 bytes on the wire: 74 bit-times
    header = I2CMessage(CMD, bytes([0x21, 0, 127, 0x22, 0, 7]))
    assert queued.estimated_s(header) == pytest.approx(74 / bus_hz)


def test_pump_with_no_budget_sends_nothing(oled, bus: SimI2CBus) -> None:
    display = Display(oled)
    with display.frame() as draw:
        draw_readout(draw, oled.size)
    queued = oled.transport
    t0_s = bus.clock.monotonic()
    just_short_s = queued.estimated_s(queued.peek()) * (1 - 1e-9)
    for budget_s in (-1.0, 0.0, just_short_s):
        assert display.pump(budget_s) == 0
    assert bus.clock.monotonic() == t0_s
    assert queued.pending == FRAME_MESSAGES


@pytest.mark.parametrize("bus_hz", [100_000.0, 400_000.0])
def test_pump_never_exceeds_its_budget_and_estimates_match_the_bus(bus_hz: float) -> None:
    with SimI2CBus(bus_hz=bus_hz) as sim_bus:
        chip = SimSSD1306()
        sim_bus.attach(ADDRESS, chip)
        timed = TimedBus(sim_bus)
        device = open_oled(timed, ADDRESS, bus_hz=bus_hz)
        queued = device.transport
        display = Display(device)
        with display.frame() as draw:
            draw_readout(draw, device.size)
        timed.writes.clear()
        rng = random.Random(1)
        sent_per_pump = []
        while display.frame_pending:
            budget_s = rng.uniform(0.0, 3.0) * queued.estimated_s(queued.peek())
            first = len(timed.writes)
            t0_s = sim_bus.clock.monotonic()
            sent = display.pump(budget_s)
            elapsed_s = sim_bus.clock.monotonic() - t0_s
            writes = timed.writes[first:]
            assert len(writes) == sent
            estimates_s = [queued.estimated_s(I2CMessage(reg, data)) for reg, data, _ in writes]
            for (_, _, actual_s), estimate_s in zip(writes, estimates_s):
                assert estimate_s == pytest.approx(actual_s, rel=0.01)
            assert sum(estimates_s) <= budget_s
            assert elapsed_s <= budget_s * 1.01
            if queued.pending:  # it stopped because the next message did not fit
                assert sum(estimates_s) + queued.estimated_s(queued.peek()) > budget_s
            sent_per_pump.append(sent)
        assert len(timed.writes) == FRAME_MESSAGES
        assert 0 in sent_per_pump and max(sent_per_pump) >= 2  # both cases were exercised
        assert (display.frames_sent, display.failures) == (1, 0)
        assert_array_equal(chip.frame(), reference())
        device.close()


def test_a_frame_goes_out_in_the_gaps_between_adc_conversions(oled, bus, chip) -> None:
    """At 860 SPS the bus is free ~1.05 ms per conversion: one 32-byte block fits, not two."""
    display = Display(oled)
    with display.frame() as draw:
        draw_readout(draw, oled.size)
    t0_s = bus.clock.monotonic()
    display.flush()
    flush_s = bus.clock.monotonic() - t0_s
    assert flush_s / ADC_PERIOD_S > 21  # what one flush costs the ADC: 21 conversion periods

    with display.frame() as draw:
        draw_readout(draw, oled.size)
    gap_s = ADC_PERIOD_S - ADC_READ_S
    slices_s = []
    while display.frame_pending:
        t0_s = bus.clock.monotonic()
        assert display.pump(gap_s) >= 1
        slices_s.append(bus.clock.monotonic() - t0_s)
    assert max(slices_s) <= gap_s
    assert len(slices_s) == FRAME_MESSAGES - 1  # the header rides with the first data block
    assert sum(slices_s) == pytest.approx(flush_s, rel=1e-9)
    assert display.frames_sent == 2
    assert_array_equal(chip.frame(), reference())


@pytest.mark.parametrize("rotate", [0, 1])
def test_a_frame_pumped_in_small_budgets_ends_identical_to_a_flushed_one(rotate: int) -> None:
    results = []  # (GDDRAM, panel) after the flushed, then after the pumped frame
    for pumped in (False, True):
        with SimI2CBus() as sim_bus:
            chip = SimSSD1306()
            sim_bus.attach(ADDRESS, chip)
            display = Display(open_oled(sim_bus, ADDRESS, rotate=rotate))
            with display.frame() as draw:
                draw_readout(draw, display.device.size)
            if pumped:
                rng = random.Random(rotate)
                for _ in range(8):  # partway through, the panel shows part of the frame
                    display.pump(rng.uniform(0.2e-3, 1.2e-3))
                assert display.frame_pending
                assert chip.frame().any() and (chip.frame() != reference(rotate)).any()
                while display.frame_pending:
                    display.pump(rng.uniform(0.2e-3, 1.2e-3))
            else:
                display.flush()
            assert (display.frames_sent, display.failures) == (1, 0)
            assert chip.errors == []
            results.append((chip.gddram.copy(), chip.frame()))
            display.close()
    (flushed_ram, flushed_panel), (pumped_ram, pumped_panel) = results
    assert_array_equal(pumped_ram, flushed_ram)
    assert_array_equal(pumped_panel, flushed_panel)
    assert_array_equal(pumped_panel, reference(rotate))


@pytest.mark.parametrize("retrying", [False, True], ids=["raw-bus", "retrying-bus"])
def test_a_fault_mid_pump_is_counted_and_the_next_frame_repaints(
    bus: SimI2CBus, chip: SimSSD1306, retrying: bool
) -> None:
    link = RetryingBus(bus, retries=1, bus_name="/dev/i2c-3") if retrying else bus
    display = Display(open_oled(link, ADDRESS))
    with display.frame() as draw:  # a white panel: what arrives of it shows
        draw.rectangle((0, 0, 127, 63), fill="white")
    assert display.pump(5e-3) == 7  # header + 6 blocks: 0.185 ms + 6 x 0.77 ms
    assert chip.gddram[0, :128].all() and not chip.gddram[2:].any()

    bus.set_responding(ADDRESS, False)
    assert display.pump(5e-3) == 0
    assert (display.failures, display.consecutive_failures, display.frames_sent) == (1, 1, 0)
    assert display.last_error.errno == errno.ENXIO
    assert isinstance(display.last_error, I2CError) == retrying
    assert not display.frame_pending
    assert display.device.transport.pending == 0  # the rest of that frame is gone

    bus.set_responding(ADDRESS, True)
    with display.frame() as draw:
        draw_readout(draw, display.device.size)
    while display.frame_pending:
        display.pump(ADC_PERIOD_S - ADC_READ_S)
    assert (display.failures, display.consecutive_failures, display.frames_sent) == (1, 0, 1)
    assert_array_equal(chip.frame(), reference())
    assert chip.errors == []
    display.close()


def test_a_newer_frame_replaces_a_queued_one(oled, chip: SimSSD1306) -> None:
    display = Display(oled)
    with display.frame() as draw:
        draw.rectangle((0, 0, 127, 63), fill="white")
    display.pump(3e-3)  # part of it went out
    with display.frame() as draw:
        draw_readout(draw, oled.size)
    assert display.frames_dropped == 1
    assert oled.transport.pending == FRAME_MESSAGES  # only the new frame
    with display.frame() as draw:  # replaces the readout, never pumped: dropped whole
        draw.text((0, 0), "stale", fill="white")
    with display.frame() as draw:
        draw_readout(draw, oled.size)
    assert display.frames_dropped == 3
    assert display.flush() == FRAME_MESSAGES
    assert (display.frames_sent, display.failures) == (1, 0)
    assert_array_equal(chip.frame(), reference())

    with display.frame() as draw:
        draw.text((0, 0), "replaced by show()", fill="white")
    assert display.show(_reference_image())
    assert (display.frames_dropped, display.frames_sent) == (4, 2)
    assert_array_equal(chip.frame(), reference())


def test_commands_sent_through_the_device_survive_a_dropped_frame(oled, chip) -> None:
    display = Display(oled)
    oled.contrast(0x30)  # queued ahead of frame A
    with display.frame() as draw:
        draw.text((0, 0), "A", fill="white")
    oled.contrast(0x20)  # queued behind frame A
    with display.frame() as draw:
        draw_readout(draw, oled.size)
    assert display.frames_dropped == 1
    assert oled.transport.pending == 2 + FRAME_MESSAGES
    # the two contrast commands (95 µs each) and the header (185 µs); a 770 µs block won't fit
    assert display.pump(1e-3) == 3
    assert display.frames_sent == 0
    display.flush()
    assert display.frames_sent == 1
    assert chip.contrast == 0x20
    log = list(chip.command_log)[-4:]
    assert log == [(0x81, (0x30,)), (0x81, (0x20,)), (0x21, (0, 127)), (0x22, (0, 7))]
    assert_array_equal(chip.frame(), reference())


def test_close_drops_the_queue_then_blanks_the_panel(oled, bus, chip) -> None:
    display = Display(oled)
    draw_on(oled)
    with display.frame() as draw:
        draw.text((0, 0), "never shown", fill="white")
    display.pump(2e-3)
    before = chip.data_bytes_received
    display.close()
    assert not chip.display_on and not chip.gddram.any()
    assert chip.data_bytes_received == before + 128 * 8  # the clear, not the rest of the frame
    assert oled.transport.pending == 0
    assert (display.frames_sent, display.failures) == (0, 0)
    transfers = bus.transfers
    assert (display.pump(1.0), display.flush()) == (0, 0)
    assert bus.transfers == transfers


def test_display_needs_a_device_from_open_oled() -> None:
    with pytest.raises(TypeError, match="open_oled"):
        Display(SSD1306(RecordingTransport()))


def test_a_failed_command_ahead_of_a_frame_leaves_the_frame_queued(oled, bus, chip) -> None:
    display = Display(oled)
    oled.contrast(0x30)
    with display.frame() as draw:
        draw_readout(draw, oled.size)
    bus.set_responding(ADDRESS, False)
    assert display.pump(0.1e-3) == 0  # only the contrast command (95 µs) fits, and fails
    assert (display.failures, display.frames_sent) == (1, 0)
    assert display.frame_pending and oled.transport.pending == FRAME_MESSAGES
    bus.set_responding(ADDRESS, True)
    assert display.flush() == FRAME_MESSAGES
    assert (display.failures, display.consecutive_failures, display.frames_sent) == (1, 0, 1)
    assert chip.contrast == 0xCF  # the start-up value: the failed command never arrived
    assert_array_equal(chip.frame(), reference())
