"""The device's own drivers on a simulated board, wired in one place.

A :class:`~hwsim.board.SimBoard` is the hardware; :func:`wire` puts on it what the board's
``python -m device`` opens (``device/__main__.py``): the I²C bus through
:class:`device.i2c.RetryingBus`, the ADS1114 driver with its ALERT/RDY line, the LED bank;
:class:`SimRig` then makes the multiplexer, the buzzer, the OLED's display and the app's
:class:`device.app.Hardware` from them. The runners (:mod:`hwsim.wearable`,
:mod:`hwsim.bench`, :mod:`hwsim.cohort`) and the tests build their chains here (issue 19:
the chain was wired by hand in about nine places).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from device.acquisition import Multiplexer
from device.ads1114 import ADS1114
from device.app import Hardware
from device.buzzer import Buzzer
from device.i2c import DEFAULT_RETRIES, RetryingBus
from device.leds import LedBank
from device.oled import Display, open_oled
from hwsim.board import SSD1306_ADDRESS, SimBoard

__all__ = ["SIM_BUS_NAME", "SimRig", "wire"]

#: The name the simulated bus goes by in the device's messages (the board's is /dev/i2c-3).
SIM_BUS_NAME = "sim:/dev/i2c-3"


@dataclass
class SimRig:
    """The device objects on ``board``: ``bus`` (retrying), ``adc``, ``leds``."""

    board: SimBoard
    bus: RetryingBus
    adc: ADS1114
    leds: LedBank

    def multiplexer(
        self, *, idle: Callable[[float], object] | None = None, trace: list | None = None
    ) -> Multiplexer:
        """The LED/ADC multiplexer (:class:`device.acquisition.Multiplexer`) on the rig's
        clock; ``idle`` runs in the gaps between conversions (the OLED's frames),
        ``trace`` collects its events (tests)."""
        return Multiplexer(self.adc, self.leds, clock=self.board.clock, idle=idle, trace=trace)

    def display(self) -> Display:
        """The OLED at its board address on the rig's bus.

        Raises:
            device.oled.OledNotFoundError: No SSD1306 answers (a board built without one,
                or the bus failing).
        """
        return Display(open_oled(self.bus, SSD1306_ADDRESS), clock=self.board.clock)

    def hardware(self, display: Display | None = None) -> Hardware:
        """What the wearable app drives (:class:`device.app.Hardware`), with a buzzer."""
        buzzer = Buzzer(self.board.buzzer_line, self.board.clock)
        return Hardware(self.board.clock, self.adc, self.leds, buzzer, display)


def wire(
    board: SimBoard,
    *,
    retries: int = DEFAULT_RETRIES,
    bus_name: str = SIM_BUS_NAME,
    ready: bool = True,
) -> SimRig:
    """The drivers on ``board``. ``retries``: attempts after a failed transfer
    (:class:`device.i2c.RetryingBus`); ``ready`` False leaves the ALERT/RDY line unused, so
    the ADC is read on the clock (the driver's fallback)."""
    bus = RetryingBus(board.bus, retries=retries, bus_name=bus_name)
    adc = ADS1114(bus, clock=board.clock, ready_line=board.ready_line if ready else None)
    return SimRig(board, bus, adc, LedBank(board.led_lines))
