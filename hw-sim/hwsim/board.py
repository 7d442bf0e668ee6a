"""The wearable's hardware, simulated and wired as on the board.

:func:`build_board` returns a :class:`SimBoard`: one virtual clock, one I²C bus
with the ADS1114 at 0x48 and the SSD1306 at 0x3C, the three LED gate lines,
the ADS1114's ALERT/RDY line, the buzzer line, and the optics joining the LEDs
to the ADC input. Device code is handed ``board.bus``, ``board.led_lines``,
``board.ready_line``, ``board.buzzer_line`` and ``board.clock``.
:func:`board_for_session` wires one worn by a simulated subject.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hwsim.ads1114 import DEFAULT_NOISE_V_RMS, SimADS1114
from hwsim.clock import VirtualClock
from hwsim.gpio import SimGPIO
from hwsim.i2c import SimI2CBus
from hwsim.optics import MUSCLE_DPF, OpticalFrontEnd, Tissue

if TYPE_CHECKING:
    from hwsim.physiology import SessionTruth

ADS1114_ADDRESS = 0x48
SSD1306_ADDRESS = 0x3C
#: Line labels only: the simulator does not care which pin is which.
LED_LINES = {750: 1, 810: 2, 870: 3}
READY_LINE = 4
BUZZER_LINE = 5


@dataclass
class SimBoard:
    """Everything the device touches, simulated."""

    clock: VirtualClock
    bus: SimI2CBus
    adc: SimADS1114
    oled: object | None  # hwsim.ssd1306.SimSSD1306 when attached
    led_lines: dict[int, SimGPIO]
    ready_line: SimGPIO
    buzzer_line: SimGPIO
    optics: OpticalFrontEnd


def build_board(
    *,
    tissue: Tissue | None = None,
    ambient_v: Callable[[float], float] | None = None,
    led_drift: Callable[[float], float] | None = None,
    dpf: float = MUSCLE_DPF,
    noise_v_rms: float = DEFAULT_NOISE_V_RMS,
    rate_error: float = 0.0,
    fault_rate: float = 0.0,
    with_oled: bool = True,
    seed: int = 0,
) -> SimBoard:
    """Wire a simulated board (see the module docstring)."""
    clock = VirtualClock()
    bus = SimI2CBus(clock, fault_rate=fault_rate, seed=seed)
    led_lines = {wl: SimGPIO(clock, line, "low", name=f"led{wl}") for wl, line in LED_LINES.items()}
    optics = OpticalFrontEnd(led_lines, tissue, dpf=dpf, led_drift=led_drift, ambient_v=ambient_v)
    adc = SimADS1114(
        clock, optics.mean_voltage, noise_v_rms=noise_v_rms, rate_error=rate_error, seed=seed + 1
    )
    bus.attach(ADS1114_ADDRESS, adc)
    ready_line = SimGPIO(clock, READY_LINE, "in", name="alert_rdy")
    ready_line.attach_source(adc)
    oled = None
    if with_oled:
        from hwsim.ssd1306 import SimSSD1306

        oled = SimSSD1306()
        bus.attach(SSD1306_ADDRESS, oled)
    buzzer_line = SimGPIO(clock, BUZZER_LINE, "low", name="buzzer")
    return SimBoard(clock, bus, adc, oled, led_lines, ready_line, buzzer_line, optics)


#: Resting light each LED gives through one person's skin, V: drawn per session, as
#: a strap sits differently on every arm or thigh (an assumption). It leaves headroom
#: below the OPT101's 3.7 V swing for a hold, when falling HbO2 lets up to about 2.5
#: times as much 870 nm light through, as an experimenter setting up would.
RESTING_LIGHT_RANGE_V = (0.6, 1.4)


def couple_to_person(board: SimBoard, rng: np.random.Generator) -> None:
    """Scale each LED's gain so its light at t = 0 lands in :data:`RESTING_LIGHT_RANGE_V`."""
    optics = board.optics
    for wl in optics.leds:
        target_v = rng.uniform(*RESTING_LIGHT_RANGE_V)
        optics.set_led_gain_v(wl, optics.led_gain_v[wl] * target_v / optics.light_v(wl, 0.0))


def board_for_session(
    truth: SessionTruth, coupling_rng: np.random.Generator, **board_options: Any
) -> SimBoard:
    """A board worn by the subject of ``truth``.

    The optics get the session's tissue, coupling drift, ambient light and DPF, and
    :func:`couple_to_person` sets the LED gains with ``coupling_rng``. Other keywords
    (``seed``, ``fault_rate``, ``with_oled`` ...) go to :func:`build_board`.
    """
    board = build_board(
        tissue=truth.tissue(),
        led_drift=truth.led_drift,
        ambient_v=truth.ambient,
        dpf=truth.dpf,
        **board_options,
    )
    couple_to_person(board, coupling_rng)
    return board
