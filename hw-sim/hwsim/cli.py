"""The command-line options the simulator's commands share, defined once.

``hwsim.wearable`` and ``hwsim.remote`` play one simulated subject through a protocol
(:func:`add_session_options`); they and ``hwsim.bench`` can fail I²C transfers on purpose
(:func:`add_fault_rate`).
"""

from __future__ import annotations

import argparse

from device.argtypes import fraction, non_negative_int
from hwsim.faults import SURVIVED_FAULT_RATE
from hwsim.protocols import PROTOCOLS


def add_session_options(parser: argparse.ArgumentParser) -> None:
    """``--protocol``, ``--side``, ``--subject``, ``--seed``: which simulated session."""
    parser.add_argument(
        "--protocol",
        default="upper_limb",
        choices=sorted(PROTOCOLS),
        help="the exercise the subject does, hwsim.protocols (default: %(default)s)",
    )
    parser.add_argument(
        "--side",
        default="left",
        choices=("left", "right"),
        help="the limb wearing the sensor (default: %(default)s)",
    )
    parser.add_argument(
        "--subject",
        type=non_negative_int,
        default=7,
        help="which simulated subject, drawn from --seed; its code is sim-N, as the session "
        "record and the live page name it (default: %(default)s)",
    )
    parser.add_argument(
        "--seed",
        type=non_negative_int,
        default=2025,
        help="seed of the subjects, their sessions and the bus faults (default: %(default)s)",
    )


def add_fault_rate(parser: argparse.ArgumentParser) -> None:
    """``--fault-rate``: the share of I²C transfers the simulated bus fails at random."""
    parser.add_argument(
        "--fault-rate",
        type=fraction,
        default=0.0,
        help="share of I2C transfers the simulated bus fails at random, 0 to 1; a fault "
        f"summary per chip is printed; above {SURVIVED_FAULT_RATE:g} a run may stop at "
        "start-up (default: %(default)s)",
    )
