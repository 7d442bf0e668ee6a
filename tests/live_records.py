"""Device records for the live page's tests: a 10 Hz SAMPLE and a PREDICTION."""

from __future__ import annotations

from device.chain import ChainSample
from device.codec import Prediction, Record


def sample(t_s: float, hbo2: float = -1.0, flags: int = 0, smo2: float = 60.0) -> Record:
    """A SAMPLE at ``t_s`` with ΔHbO2 ``hbo2`` µM, ΔHHb 0.5 µM, ΔtHb their sum."""
    return Record.of(
        ChainSample(t_s, 21, 0.01, (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), hbo2, 0.5, hbo2 + 0.5, 0.0,
                    smo2, 0.0, flags)
    )  # fmt: skip


def prediction(t_s: float, level: int) -> Record:
    """A PREDICTION of ``level`` (0 none … 4 exhausted) with probability 0.9."""
    probs = tuple(0.9 if k == level else 0.025 for k in range(5))
    return Record.of(Prediction(t_s, probs, level, level))
