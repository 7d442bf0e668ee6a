"""Tests for hwsim.ssd1306 (the simulated OLED controller) and device.oled (its driver side).

The decoder is checked three ways: hand-written byte streams against GDDRAM contents worked
out from the datasheet's addressing rules; the real luma.oled ``ssd1306`` driver drawing
through the simulated chip against what luma's own ``dummy`` device renders for the same
drawing (pixel for pixel, so every byte of luma's stream must be decoded right); and each
display setting (re-map, scan direction, start line, ...) against the reference picture moved
the way the datasheet says.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from luma.core.device import dummy
from luma.core.render import canvas
from luma.oled.device import ssd1306
from numpy.testing import assert_array_equal
from PIL import Image, ImageDraw

from device.errors import DeviceError
from device.i2c import RetryingBus
from device.oled import Display, OledNotFoundError, open_oled
from hwsim import ssd1306 as sim
from hwsim.i2c import SimI2CBus
from hwsim.ssd1306 import SimSSD1306

ADDRESS = 0x3C
CMD = 0x00  # control byte: Co = 0, D/C# = 0 (commands follow)
DATA = 0x40  # control byte: Co = 0, D/C# = 1 (GDDRAM data follow)
ONE_CMD = 0x80  # control byte: Co = 1, D/C# = 0 (one command byte, then a control byte)
ONE_DATA = 0xC0  # control byte: Co = 1, D/C# = 1 (one data byte, then a control byte)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def bus() -> Iterator[SimI2CBus]:
    with SimI2CBus() as sim_bus:
        yield sim_bus


@pytest.fixture
def chip(bus: SimI2CBus) -> SimSSD1306:
    oled_chip = SimSSD1306()
    bus.attach(ADDRESS, oled_chip)
    return oled_chip


@pytest.fixture
def oled(bus: SimI2CBus, chip: SimSSD1306) -> Iterator[ssd1306]:
    device = open_oled(bus, ADDRESS)
    yield device
    device.cleanup()


def draw_readout(draw: ImageDraw.ImageDraw, size: tuple[int, int]) -> None:
    """A frame like the wearable's: a border, two readings, a diagonal (nothing symmetric)."""
    width, height = size
    draw.rectangle((0, 0, width - 1, height - 1), outline="white")
    draw.text((3, 3), "750 nm 1.234 V", fill="white")
    draw.text((3, 17), "810 nm 0.987 V", fill="white")
    draw.line((3, height - 4, width // 2, height // 2), fill="white")


def reference(rotate: int = 0) -> np.ndarray:
    """What luma's dummy device holds after drawing the readout: the expected panel."""
    device = dummy(width=128, height=64, rotate=rotate, mode="1")
    with canvas(device) as draw:
        draw_readout(draw, device.size)
    return np.asarray(device.image, dtype=bool)


def draw_on(device) -> None:
    with canvas(device) as draw:
        draw_readout(draw, device.size)


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


# -- (b) the real luma driver through the simulated chip ---------------------------------------


def test_luma_init_sequence_is_decoded(oled, chip: SimSSD1306) -> None:
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


@pytest.mark.parametrize("rotate", [0, 1, 2, 3])
def test_luma_text_frame_is_pixel_identical_to_luma_dummy(
    bus: SimI2CBus, chip: SimSSD1306, rotate: int
) -> None:
    expected = reference(rotate)
    assert expected.sum() > 200  # the drawing is not trivially empty
    device = open_oled(bus, ADDRESS, rotate=rotate)
    draw_on(device)
    assert_array_equal(chip.frame(), expected)
    assert chip.errors == []
    device.cleanup()


def test_display_frame_reaches_the_chip(oled, chip: SimSSD1306) -> None:
    display = Display(oled)
    with display.frame() as draw:
        draw_readout(draw, oled.size)
    assert_array_equal(chip.frame(), reference())
    assert (display.frames_sent, display.failures) == (1, 0)


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


def test_open_oled_keeps_the_errno_luma_wraps() -> None:
    class EioBus:  # an adapter that reports a NACK as EIO: luma turns it into its own error
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
    assert (display.failures, display.consecutive_failures, display.frames_sent) == (1, 1, 0)
    assert isinstance(display.last_error, OSError)
    assert display.last_error.errno == errno.ENXIO

    bus.fault_rate = 0.0
    with display.frame() as draw:
        draw_readout(draw, oled.size)
    assert (display.failures, display.consecutive_failures, display.frames_sent) == (1, 0, 1)
    assert_array_equal(chip.frame(), reference())


def test_faults_in_the_middle_of_frames_never_escape(oled, bus, chip) -> None:
    display = Display(oled)
    bus.fault_rate = 0.05  # about 1 transfer in 20: most frames lose a chunk
    for _ in range(20):
        with display.frame() as draw:
            draw.text((0, 0), "noise", fill="white")
    assert display.failures > 0
    assert display.failures + display.frames_sent == 20
    bus.fault_rate = 0.0
    assert display.show(_reference_image())
    assert_array_equal(chip.frame(), reference())
    assert chip.errors == []


def _reference_image() -> Image.Image:
    return Image.fromarray(reference()).convert("1")


def test_errors_raised_while_drawing_propagate_and_send_nothing(oled, chip) -> None:
    display = Display(oled)
    before = chip.data_bytes_received
    with pytest.raises(OSError, match="sensor"), display.frame():
        raise OSError(errno.EIO, "sensor read failed")
    assert display.failures == 0
    assert chip.data_bytes_received == before


def test_close_is_safe_twice_and_silences_lumas_exit_hook(oled, bus, chip) -> None:
    display = Display(oled)
    display.close()
    assert not chip.display_on
    transfers = bus.transfers
    display.close()
    oled.cleanup()  # what luma's atexit hook calls
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
    """luma's atexit cleanup must not print or fail, whether or not the OLED was found."""
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
        bus.close()  # closed before luma's exit hook runs
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "hw-sim")])}
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
