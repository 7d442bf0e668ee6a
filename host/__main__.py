"""Host command line: ``python -m host <command> ...``.

Commands:
  cohort   generate the simulated cohort (SNIRF files)
  plot     plot one session file as a PNG
  lmm      the seed's Table 1: linear mixed-effects model per feature
  train    cross-validate the fusion model and baselines, write models/ and reports/
  convert  Keras → ONNX → quantised RKNN for the RV1103 (int8, LSTM onward int16), verified
  collect  record a live session from the wearable's serial port, Borg ratings from keys
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from device.argtypes import existing_dir, existing_file, non_negative_int, positive_int
from device.errors import DeviceError


def _cohort(args: argparse.Namespace) -> int:
    import time

    from host.cohort import generate_cohort

    t0 = time.perf_counter()
    files = generate_cohort(args.out, n_subjects=args.subjects, seed=args.seed, jobs=args.jobs)
    size = sum(f.stat().st_size for f in files)
    print(
        f"{len(files)} simulated sessions of {args.subjects} subjects in {args.out} "
        f"({size / 1e6:.1f} MB) in {time.perf_counter() - t0:.0f} s"
    )
    return 0


def _plot(args: argparse.Namespace) -> int:
    from host.dataset import read_session
    from host.plots import plot_session

    out = args.png or args.session.with_suffix(".png")
    print(plot_session(read_session(args.session), out))
    return 0


def _lmm(args: argparse.Namespace) -> int:
    from host.lmm import fit_table, format_table, load_feature_table

    features = load_feature_table(args.dataset)
    print(format_table(fit_table(features), features.provenance))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run one command; a problem with the user's files or settings is one line, exit 2.

    Bad option values stop in argparse (usage and one line, exit 2). What only shows while
    working (a file that is not a session, a dataset folder that does not exist, a path
    that cannot be written) arrives as :class:`host.dataset.DatasetError`, a
    :class:`device.errors.DeviceError` or an ``OSError`` naming the file, and is printed as
    ``error: ...`` instead of a traceback. Anything else is a bug and keeps its traceback.
    """
    try:
        return _run(sys.argv[1:] if argv is None else argv)
    except Exception as exc:
        from host.dataset import DatasetError

        if not isinstance(exc, (DatasetError, DeviceError, OSError)):
            raise
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 2


def _one_line(exc: BaseException) -> str:
    """The error as one line; a relative path is said to be relative to the current folder."""
    text = " ".join(str(exc).split())
    name = getattr(exc, "filename", None)
    if isinstance(exc, OSError) and name is not None and not os.path.isabs(name):
        text += f" (relative to the current folder, {Path.cwd()})"
    return text


def _run(argv: list[str]) -> int:
    if argv[:1] == ["train"]:  # its own parser: it has many options
        from host.train import main_args

        return main_args(argv[1:])
    if argv[:1] == ["convert"]:
        from host.convert import main_args

        return main_args(argv[1:])
    if argv[:1] == ["collect"]:
        from host.collect import main_args

        return main_args(argv[1:])
    if argv[:1] == ["ship"]:
        from host.model_folder import main_args

        return main_args(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m host", description="NIRS host tools")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("cohort", help="generate the simulated cohort")
    p.add_argument("--out", type=Path, default=Path("data/cohort"))
    p.add_argument("--subjects", type=positive_int, default=50)
    p.add_argument("--seed", type=non_negative_int, default=2025)
    p.add_argument(
        "--jobs", type=positive_int, default=None, help="worker processes (default: all cores)"
    )
    p.set_defaults(func=_cohort)

    p = sub.add_parser("plot", help="plot one session file")
    p.add_argument("session", type=existing_file, help="a .snirf session file")
    p.add_argument("--png", type=Path, default=None)
    p.set_defaults(func=_plot)

    p = sub.add_parser("lmm", help="linear mixed-effects model of fatigue level per feature")
    p.add_argument("dataset", type=existing_dir, help="a folder of .snirf session files")
    p.set_defaults(func=_lmm)

    sub.add_parser("train", help="train and evaluate (see: python -m host train --help)")
    sub.add_parser("convert", help="convert for the NPU (see: python -m host convert --help)")
    sub.add_parser("collect", help="record a session (see: python -m host collect --help)")
    sub.add_parser("ship", help="make a converted run folder the bundled model (see --help)")
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
