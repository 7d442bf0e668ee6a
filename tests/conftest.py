"""Shared fixtures: a simulated board with the device's drivers on it."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from hwsim.board import SSD1306_ADDRESS, build_board
from hwsim.i2c import SimI2CBus
from hwsim.rig import wire
from hwsim.ssd1306 import SimSSD1306

# The Ctrl-C tests press Ctrl-C as at a terminal. A shell that starts a command in the
# background without job control (`cmd &` in a script, as a CI runner may) starts it with
# SIGINT ignored (POSIX, "Asynchronous Lists"), and the ignoring passes to every process
# the tests start: the tests would then pin the runner, not the code. Python's own handler
# is put back here, so this process and its children get Ctrl-C as a user's terminal gives.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


class Rig:
    """A simulated board plus the device objects driving it."""

    def __init__(self, retries: int = 2, trace: bool = False, **board_kwargs) -> None:
        self.board = build_board(**board_kwargs)
        rig = wire(self.board, retries=retries, bus_name="/dev/i2c-3")
        self.bus, self.adc, self.leds = rig.bus, rig.adc, rig.leds
        self.trace: list | None = [] if trace else None
        self.mux = rig.multiplexer(trace=self.trace)


@pytest.fixture
def bus() -> Iterator[SimI2CBus]:
    """A simulated I²C bus on its own clock, closed after the test."""
    with SimI2CBus() as sim_bus:
        yield sim_bus


@pytest.fixture
def chip(bus: SimI2CBus) -> SimSSD1306:
    """A simulated SSD1306 on :func:`bus` at its board address."""
    oled_chip = SimSSD1306()
    bus.attach(SSD1306_ADDRESS, oled_chip)
    return oled_chip


@pytest.fixture
def rig_factory():
    return Rig


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    """Three simulated subjects, upper-limb protocol: a dataset in seconds."""
    from hwsim.cohort import generate_cohort

    out = tmp_path_factory.mktemp("tiny_cohort")
    generate_cohort(
        out, n_subjects=3, seed=4, jobs=2, protocols=["upper_limb"], progress=lambda line: None
    )
    return out


@pytest.fixture(scope="session")
def tiny_training(tiny_dataset, tmp_path_factory):
    """A model bundle trained on the tiny dataset with the tiny configuration."""
    from dataclasses import replace

    from host import train

    root = tmp_path_factory.mktemp("tiny_training")
    config = replace(train.TINY, models=("fusion", "random_forest"), max_epochs=2)
    lines: list[str] = []
    result = train.run(
        tiny_dataset,
        models_dir=root / "models",
        reports_dir=root / "reports",
        config=config,
        command="pytest tiny run",
        log=lines.append,
    )
    return {
        "root": root,
        "models": root / "models",
        "reports": root / "reports",
        "result": result,
        "log": lines,
        "config": config,
    }


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under ``CI=true`` a skipped test fails: ``./dev test`` installs every tool the
    tests need, so a skip there means a tool went missing. Only tests marked
    ``hardware`` (the real board) may skip."""
    outcome = yield
    report = outcome.get_result()
    if (
        report.skipped
        and os.environ.get("CI", "").lower() == "true"
        and item.get_closest_marker("hardware") is None
        and not hasattr(report, "wasxfail")
    ):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"CI=true: a test may not skip (./dev test installs its tools): {reason}"
