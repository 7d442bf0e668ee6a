"""What the simulated bus's injected I²C faults did, chip by chip: the summary the main job
(``hwsim.wearable``) and the bench (``hwsim.bench``) print at the end of a run.

Two sides count. The simulator (:class:`hwsim.i2c.SimI2CBus`) knows which attempts it
failed on purpose (``--fault-rate``); the device (:class:`device.i2c.RetryingBus`) knows
which of its failed attempts it retried, which transfers went through on a retry and which
it gave up. For one chip, with ``retries`` extra attempts per transfer:

- ``injected``: attempts the simulator failed at random;
- ``failed``: attempts the device saw fail (= ``injected`` while the chip is attached and
  answering, as in the main job; more when it is absent or silent);
- ``retried = failed - lost``: failed attempts followed by another attempt (each lost
  transfer's last failure is not retried);
- ``recovered``: transfers that failed, then went through on a retry;
- ``lost``: transfers whose every attempt failed (``retries + 1`` failures each).

So ``injected <= failed = retried + lost`` and ``retried >= recovered + retries * lost``
(a recovered transfer needed at least one retry, a lost one all of them).
"""

from __future__ import annotations

from dataclasses import dataclass

from hwsim.board import ADS1114_ADDRESS, SSD1306_ADDRESS
from hwsim.i2c import SimI2CBus

#: The chips of the simulated board, by 7-bit address (hwsim.board).
CHIP_NAMES = {ADS1114_ADDRESS: "ADS1114", SSD1306_ADDRESS: "SSD1306"}

#: The highest --fault-rate at which the main job ran to its end for every one of ten
#: simulated subjects (7..16, seed 2025, upper limb, the device's 2 retries). Measured by
#: ``python benchmarks/main_job_fault_rates.py``: runs that went to the end, of 10 (of them
#: headless: the OLED's initialisation lost a transfer):
#: 0.05: 10 (0); 0.1: 10 (0); 0.15: 10 (1); 0.2: 9 (2); 0.25: 8 (5); 0.3: 4 (7). Every run
#: that stopped stopped at start-up, in the ADC's self-test or its first register writes,
#: where one transfer lost after 3 attempts (a chance of rate**3 each) stops the wearable;
#: once measuring, lost conversions and OLED frames cost nothing more.
SURVIVED_FAULT_RATE = 0.15


@dataclass(frozen=True)
class ChipFaults:
    """One chip's transfers and faults over a run (see the module docstring)."""

    address: int
    transfers: int
    injected: int
    failed: int
    recovered: int
    lost: int

    @property
    def name(self) -> str:
        return f"{CHIP_NAMES.get(self.address, 'chip')} {self.address:#04x}"

    @property
    def retried(self) -> int:
        return self.failed - self.lost


def chip_faults(sim_bus: SimI2CBus, retrying) -> list[ChipFaults]:
    """Per chip, ordered by address: what ``sim_bus`` injected and ``retrying`` (a
    :class:`device.i2c.RetryingBus` over it) made of it."""
    addresses = sorted(set(sim_bus.transfers_to) | set(retrying.failures))
    return [
        ChipFaults(
            address,
            sim_bus.transfers_to[address],
            sim_bus.injected_to[address],
            retrying.failures[address],
            retrying.recovered[address],
            retrying.gave_up[address],
        )
        for address in addresses
    ]


def fault_summary(sim_bus: SimI2CBus, retrying, costs: dict[int, str] | None = None) -> str:
    """One line: the injected rate, then per chip the transfers, failed attempts, retries,
    recovered and lost transfers, and ``costs[address]`` (what the lost ones cost, e.g.
    "3 conversions") when given.

    E.g. "I2C faults (SIMULATED, --fault-rate 0.1): ADS1114 0x48: 10512 of 105123 transfers
    failed, 10509 retried, 10400 recovered, 3 lost (3 conversions); SSD1306 0x3c: ..."
    """
    costs = costs or {}
    parts = []
    for c in chip_faults(sim_bus, retrying):
        cost = f" ({costs[c.address]})" if c.lost and costs.get(c.address) else ""
        parts.append(
            f"{c.name}: {c.injected} of {c.transfers} transfers failed, {c.retried} retried, "
            f"{c.recovered} recovered, {c.lost} lost{cost}"
        )
    return f"I2C faults (SIMULATED, --fault-rate {sim_bus.fault_rate:g}): " + "; ".join(parts)


def explain(exc: BaseException, sim_bus: SimI2CBus, retries: int) -> str:
    """``exc``'s message, and that the simulated bus was failing transfers on purpose.

    For an error that stopped a run with ``--fault-rate`` above 0: without it, "no SSD1306
    OLED answers at 0x3c" reads as a wiring fault.
    """
    rate = sim_bus.fault_rate
    return (
        f"{exc} -- SIMULATED: the bus was failing {rate:.0%} of I2C transfers at random "
        f"(--fault-rate {rate:g}); with {retries} retries a transfer is lost with a chance of "
        f"{rate ** (retries + 1):.2g}; whole runs went through at rates up to "
        f"{SURVIVED_FAULT_RATE:g} (measured, hwsim.faults)"
    )
