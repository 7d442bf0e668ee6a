"""Which --fault-rate the main job survives: the source of hwsim.faults.SURVIVED_FAULT_RATE.

Runs the main job (hwsim.wearable.run_wearable, the bundled model) for several simulated
subjects at each injected I2C fault rate and prints, per rate, how many runs went to the
end, how many of those ran headless (the OLED's initialisation lost a transfer) and why
the others stopped. A figure, not a pass/fail; about 3 s per run.

    python benchmarks/main_job_fault_rates.py [--rates 0.05 0.1 0.15 0.2 0.25 0.3]
                                              [--subjects 10] [--models-dir models]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from device.argtypes import existing_dir, fraction, positive_int
from device.errors import DeviceError
from hwsim.wearable import run_wearable

FIRST_SUBJECT = 7  # the main job's own subject, then the next ones


def survey(rate: float, subjects: int, models_dir: Path) -> tuple[int, int, list[str]]:
    """(runs to the end, of them headless, why the others stopped) at ``rate``."""
    through, headless, stops = 0, 0, []
    for subject in range(FIRST_SUBJECT, FIRST_SUBJECT + subjects):
        lines: list[str] = []
        with tempfile.TemporaryDirectory() as out:
            try:
                run_wearable(
                    subject=subject,
                    models_dir=models_dir,
                    out=Path(out),
                    fault_rate=rate,
                    emit=lines.append,
                )
            except DeviceError as exc:
                stops.append(f"subject {subject}: {str(exc).split(' -- ')[0]}")
                continue
        through += 1
        headless += any(line.startswith("note:") and "headless" in line for line in lines)
    return through, headless, stops


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--rates",
        type=fraction,
        nargs="+",
        default=[0.05, 0.1, 0.15, 0.2, 0.25, 0.3],
        help="fault rates to try (default: %(default)s)",
    )
    parser.add_argument(
        "--subjects",
        type=positive_int,
        default=10,
        help=f"simulated subjects from {FIRST_SUBJECT} on (default: %(default)s)",
    )
    parser.add_argument(
        "--models-dir",
        type=existing_dir,
        default=Path("models"),
        help="the model to run (default: %(default)s)",
    )
    args = parser.parse_args()
    for rate in args.rates:
        through, headless, stops = survey(rate, args.subjects, args.models_dir)
        print(
            f"--fault-rate {rate:g}: {through} of {args.subjects} runs to the end "
            f"({headless} headless)",
            flush=True,
        )
        for stop in stops:
            print(f"    stopped: {stop}")


if __name__ == "__main__":
    main()
