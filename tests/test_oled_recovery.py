"""An OLED that resets or loses power mid-session comes back by itself, or the wearer is told.

Issue 14 ("the general kinds"): an SSD1306 that was reset (RES# glitch, a brown-out) wakes with
the display off, its charge pump disabled and page addressing mode, and takes the frames sent
to it without any I²C error: before, the wearer saw a dark screen for the rest of the session.
One that lost its supply does not acknowledge its address until it is back, and then wakes
the same way. The simulated module (hwsim.ssd1306) does both; device.oled.Display must bring
the picture back within its restore interval, cost one failed message per frame while the
panel is away, and say so once when it goes and once when it is back.

Frames come once a second, as the app draws them, each pumped in the bus time between two ADC
conversions (tests/test_ssd1306_sim.py checks the pumping itself).
"""

from __future__ import annotations

import errno

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from PIL import Image, ImageDraw

from device.i2c import RetryingBus
from device.oled import Display, open_oled
from hwsim.i2c import SimI2CBus
from hwsim.ssd1306 import SimSSD1306

ADDRESS = 0x3C
#: Bus time left between two conversions of the ADS1114 at 860 SPS, and the time its read
#: takes (as in tests/test_ssd1306_sim.py).
ADC_READ_S = (2 + 9 * 5) / 400_000.0
GAP_S = 1.0 / 860.0 - ADC_READ_S
DISPLAY_OFF = 0xAE
RETRIES = 2


def picture(second: int) -> Image.Image:
    """What the app would show at ``second``: its number and a bar as long as it."""
    image = Image.new("1", (128, 64))
    draw = ImageDraw.Draw(image)
    draw.text((2, 2), f"t = {second} s", fill="white")
    draw.rectangle((2, 30, 2 + 4 * second, 40), fill="white")
    return image


def shown(second: int) -> np.ndarray:
    return np.asarray(picture(second), dtype=bool)


def send_frame(display: Display, bus: SimI2CBus, second: int) -> None:
    """Draw the frame of ``second`` at that time on the bus clock, pump it out in ADC gaps."""
    bus.clock.advance_to(float(second))
    with display.frame() as draw:
        draw.bitmap((0, 0), picture(second), fill="white")
    while display.frame_pending:
        display.pump(GAP_S)
        bus.clock.sleep(ADC_READ_S)


# -- the simulated module ------------------------------------------------------------------


def test_simulated_panel_loses_power_refuses_transfers_and_wakes_in_its_reset_state(
    bus: SimI2CBus, chip: SimSSD1306
) -> None:
    display = Display(open_oled(bus, ADDRESS))
    display.show(picture(7))
    assert_array_equal(chip.frame(), shown(7))

    chip.power_off()
    assert not chip.frame().any()  # no supply: dark whatever the registers say
    for transfer in (
        lambda: bus.write_i2c_block_data(ADDRESS, 0x00, [0xAF]),
        lambda: bus.read_byte_data(ADDRESS, 0x00),
    ):
        with pytest.raises(OSError) as refused:
            transfer()
        assert refused.value.errno == errno.ENXIO
    assert chip.messages_refused == 2

    ram_before = chip.gddram.copy()
    chip.power_on()
    assert chip.power_ups == 1
    # Registers at the datasheet's reset values: off, charge pump disabled, page mode.
    assert (chip.display_on, chip.charge_pump, chip.memory_mode) == (False, 0x10, 0b10)
    assert (chip.contrast, chip.segment_remap, chip.com_scan_decrement) == (0x7F, False, False)
    assert chip.gddram.any() and (chip.gddram != ram_before).any()  # noise, not the frame
    assert not chip.frame().any()

    chip.power_on()  # already powered: nothing happens
    assert chip.power_ups == 1
    ram_before = chip.gddram.copy()
    bus.write_i2c_block_data(ADDRESS, 0x00, [0x8D, 0x14, 0xAF])
    chip.reset()  # RES# alone: registers reset, GDDRAM kept, no I²C error
    assert (chip.display_on, chip.charge_pump) == (False, 0x10)
    assert_array_equal(chip.gddram, ram_before)
    assert chip.errors == []
    display.close()


# -- Display brings the panel back -------------------------------------------------------------


def test_a_panel_reset_mid_session_shows_the_current_frame_within_the_restore_interval(
    bus: SimI2CBus, chip: SimSSD1306
) -> None:
    display = Display(open_oled(bus, ADDRESS), clock=bus.clock, restore_interval_s=5.0)
    reset_s = 11.5
    first_back = None
    for second in range(30):
        if second == 12:
            bus.clock.advance_to(reset_s)
            chip.reset()  # no I²C error: nothing but time can tell the driver
        send_frame(display, bus, second)
        if second < 12 or (first_back is not None and second > first_back):
            assert_array_equal(chip.frame(), shown(second), err_msg=f"frame at {second} s")
        elif chip.frame().any():
            first_back = second
            assert_array_equal(chip.frame(), shown(second))
    assert first_back is not None and first_back > 12  # the reset did blank the panel
    assert first_back - reset_s <= 5.0  # back within the restore interval
    assert display.failures == 0
    assert display.restores == 5  # at 5, 10, 15, 20 and 25 s: one per interval, no more
    # A restore never blanks a panel that is on: the only DISPLAY OFF is the start-up's.
    assert sum(command == DISPLAY_OFF for command, _ in chip.command_log) == 1
    assert chip.errors == []
    display.close()


def test_an_unpowered_panel_costs_one_message_per_frame_and_comes_back_with_the_frame(
    bus: SimI2CBus, chip: SimSSD1306
) -> None:
    display = Display(open_oled(RetryingBus(bus, retries=RETRIES, bus_name="/dev/i2c-3"), ADDRESS))
    for second in range(22):
        if second == 11:
            bus.clock.advance_to(10.5)
            chip.power_off()  # 5 s without supply: frames at 11 to 15 s fail
        if second == 16:
            bus.clock.advance_to(15.5)
            chip.power_on()
        transfers = bus.transfers
        send_frame(display, bus, second)
        if 11 <= second <= 15:
            # One message tried (with the bus's retries), the rest of the frame dropped.
            assert bus.transfers - transfers == 1 + RETRIES, f"frame at {second} s"
            assert not chip.frame().any()
        else:
            assert_array_equal(chip.frame(), shown(second), err_msg=f"frame at {second} s")
    assert chip.messages_refused == 5 * (1 + RETRIES)
    assert (display.failures, display.consecutive_failures) == (5, 0)
    assert chip.errors == []
    display.close()


def test_a_panel_that_stops_answering_is_told_once_and_its_return_once(
    bus: SimI2CBus, chip: SimSSD1306
) -> None:
    display = Display(
        open_oled(RetryingBus(bus, retries=RETRIES, bus_name="/dev/i2c-3"), ADDRESS),
        clock=bus.clock,
    )
    notices = {}
    for second in range(20):
        if second == 11:
            chip.power_off()
        if second == 16:
            chip.power_on()
        send_frame(display, bus, second)
        notices[second] = display.take_notices()
        if second in (11, 12):
            assert not display.lost
        if 13 <= second <= 15:  # the third failure in a row
            assert display.lost
            assert display.lost_since_s == pytest.approx(11.0, abs=0.01)
    assert notices.pop(13) == [
        "OLED not answering for 2.0 s (3 failures in a row, the last: I2C write of 23 bytes "
        "to register 0x00 at address 0x3c on /dev/i2c-3 failed after 3 attempt(s) (errno 6))"
    ]
    assert notices.pop(16) == ["OLED back after 5.0 s"]
    assert all(lines == [] for lines in notices.values())  # nothing else, ever
    assert not display.lost and display.lost_since_s is None
    assert display.recoveries == 1
    assert_array_equal(chip.frame(), shown(19))
    display.close()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"restore_interval_s": 0.0}, "restore_interval_s must be None or seconds > 0, got 0.0"),
        ({"restore_interval_s": float("nan")}, "restore_interval_s must be None or seconds > 0"),
        ({"lost_after": 0}, "lost_after must be an integer >= 1, got 0"),
    ],
)
def test_display_rejects_bad_recovery_settings(bus, chip, kwargs, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Display(open_oled(bus, ADDRESS), **kwargs)
