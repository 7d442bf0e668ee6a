"""``python -m host validate DEVICE_SESSION REFERENCE_FILE``: how well the wearable agrees
with a reference device on one quantity (:func:`host.validate.validate`), as a Markdown
report, a JSON file with every figure, a Bland–Altman plot and an overlay plot
(:mod:`host.validate_report`). docs/validation.md says how to read them.
"""

from __future__ import annotations

import argparse
import sys
import warnings

from device.argtypes import existing_file, non_negative_float, output_dir, positive_float
from host.validate import Validation

__all__ = ["main_args"]


def _parser() -> argparse.ArgumentParser:
    from host.validate import COMPARABLE

    p = argparse.ArgumentParser(
        prog="python -m host validate",
        description="Compare the wearable's session with a reference device's recording of "
        "the same exercise: align them by cross-correlation, then Bland-Altman (bias, limits "
        "of agreement and their 95% CIs), ICC(A,1), Lin's concordance and, with a bound "
        "stated beforehand, a two one-sided tests equivalence check. Writes a Markdown "
        "report, a JSON file and two PNG plots. See docs/validation.md.",
    )
    p.add_argument("device", type=existing_file, help="the wearable's session file (.snirf)")
    p.add_argument("reference", type=existing_file, help="the reference device's file")
    p.add_argument(
        "--quantity",
        choices=COMPARABLE,
        default=None,
        help="what to compare (default: hhb, else the first of hbo2, thb, smo2 both hold)",
    )
    p.add_argument(
        "--device-sensor",
        default=None,
        metavar="SENSOR",
        help="the device file's sensor, label or number from 1 (default: its only one)",
    )
    p.add_argument(
        "--reference-sensor",
        default=None,
        metavar="SENSOR",
        help="the reference file's sensor, label or number from 1 (default: its only one)",
    )
    p.add_argument(
        "--rate-hz",
        type=positive_float,
        default=10.0,
        help="common rate both are resampled to, Hz, from 0.1 to 100 (default: %(default)s)",
    )
    p.add_argument(
        "--max-lag-s",
        type=non_negative_float,
        default=30.0,
        help="search the lag within ± this many seconds, after the files' start times "
        "when both give one (default: %(default)s)",
    )
    p.add_argument(
        "--baseline-s",
        type=positive_float,
        default=30.0,
        help="relative channels (changes) are compared as changes from each device's mean "
        "over the first this many seconds of the aligned overlap (default: %(default)s)",
    )
    p.add_argument(
        "--changes",
        action="store_true",
        help="compare changes from the baseline window even when both channels are "
        "absolute (default: only when either is relative)",
    )
    p.add_argument(
        "--block-s",
        type=non_negative_float,
        default=10.0,
        help="compare means of non-overlapping windows of this many seconds, so that the "
        "units are close to independent; 0 compares every sample, whose confidence "
        "intervals are then too narrow (default: %(default)s)",
    )
    p.add_argument(
        "--equivalence-bound",
        type=positive_float,
        default=None,
        metavar="BOUND",
        help="± bound of the equivalence test (TOST) in the quantity's unit, chosen before "
        "looking at the results (default: none, and no TOST)",
    )
    p.add_argument(
        "--out",
        type=output_dir,
        default=None,
        metavar="DIR",
        help="folder for the report files, made if missing (default: the device file's folder)",
    )
    return p


def main_args(argv: list[str] | None = None) -> int:
    """Run the command; returns the exit status (2: one line on stderr)."""
    from host.importers import pick_sensor, read_recordings
    from host.session import DatasetError
    from host.validate import ValidationError, validate
    from host.validate_report import write_report

    args = _parser().parse_args(argv)
    try:
        devices, references = read_recordings(args.device), read_recordings(args.reference)
        device = pick_sensor(devices, args.device_sensor, "--device-sensor")
        reference = pick_sensor(references, args.reference_sensor, "--reference-sensor")
        with warnings.catch_warnings():
            # Degenerate data (identical signals, few units) make scipy and pingouin warn
            # about precision; the report says what is undefined (NaN), once.
            warnings.simplefilter("ignore", RuntimeWarning)
            result = validate(
                device,
                reference,
                quantity=args.quantity,
                rate_hz=args.rate_hz,
                max_lag_s=args.max_lag_s,
                baseline_s=args.baseline_s,
                block_s=args.block_s,
                equivalence_bound=args.equivalence_bound,
                changes=args.changes,
            )
        folder = args.out if args.out is not None else args.device.parent
        names = (device.output_stem(len(devices)), reference.output_stem(len(references)))
        stem = folder / f"{names[0]}_vs_{names[1]}_{result.quantity}"
        paths = write_report(result, stem)
    except (DatasetError, ValidationError, OSError) as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    for line in summary(result):
        print(line)
    for path in paths.values():
        print(f"wrote {path}")
    for side, rec in (("device", device), ("reference", reference)):
        for note in rec.notes:
            print(f"note ({side}): {note}")
    return 0


def summary(result: Validation) -> list[str]:
    """A few lines for the console; the report has the rest."""
    g, a, u = result.agreement, result.alignment, result.unit
    from host.validate_report import data_label

    label = data_label(result)
    units = f"{g.n} blocks of {result.block_s:g} s" if result.block_s > 0 else f"{g.n} samples"
    out = [
        f"{result.quantity} ({u}, device − reference, {label}), "
        f"{'changes from baseline' if result.changes else 'absolute values'}, {units}",
        f"lag {a.lag_s:+.2f} s (positive: device late), r = {a.peak_r:.3f}",
        f"bias {g.bias:.3g} {u} (95% CI {g.bias_ci[0]:.3g} to {g.bias_ci[1]:.3g}); "
        f"limits of agreement {g.loa[0]:.3g} to {g.loa[1]:.3g} {u}",
        f"{g.icc_label} {g.icc:.3f} (95% CI {g.icc_ci[0]:.3f} to {g.icc_ci[1]:.3f}); "
        f"Lin's CCC {g.ccc:.3f} (95% CI {g.ccc_ci[0]:.3f} to {g.ccc_ci[1]:.3f})",
    ]
    if g.tost is None:
        out.append("TOST not run: no --equivalence-bound stated before the analysis")
    else:
        verdict = "equivalent" if g.tost["equivalent"] else "equivalence not shown"
        out.append(f"TOST ±{g.tost['bound']:g} {u}: p = {g.tost['p']:.3g}, {verdict}")
    out += [f"warning: {w}" for w in result.warnings]
    return out


if __name__ == "__main__":
    sys.exit(main_args())
