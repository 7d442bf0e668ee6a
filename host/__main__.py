"""Host command line: ``python -m host <command> ...``.

Commands:
  plot     plot one recording as a PNG (this project's sessions; Moxy, Train.Red, Artinis, SNIRF)
  lmm      the seed's Table 1: linear mixed-effects model per feature
  train    cross-validate the fusion model and baselines into a new runs/ folder
  convert  Keras → ONNX → quantised RKNN for the RV1103 (int8, LSTM onward int16), verified
  ship     make a converted run folder the bundled model (models/, reports/)
  collect  record a live session from the wearable's serial port, Borg ratings from keys
  export   read a .nrec session record: SNIRF file and PNG plot
  kinetics desaturation and recovery kinetics per work interval: CSV table and PNG
  validate agreement with a reference device: lag, Bland–Altman, ICC, Lin's CCC, TOST
  predict  the fatigue model on any recording with ΔHbO2 and ΔHHb in µM
  video    video kinematics and fatigue (seed 000): extract plot analyse session train compare
  live     the live page in a browser: replayed session records, a team's MQTT broker

The simulated cohort is the simulator's command: ``python -m hwsim.cohort`` (``python -m
host cohort`` says so); host reads the files it writes and imports nothing from hwsim.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from device.argtypes import existing_dir, existing_file
from device.errors import DeviceError


def _cohort_moved(rest_argv: list[str]) -> int:
    """The cohort is the simulator's command now (host imports nothing from hwsim)."""
    rest = " ".join(rest_argv)
    print(
        "error: the simulated cohort is made by the simulator: python -m hwsim.cohort "
        f"{rest}".rstrip()
        + " (host reads the files it writes)",
        file=sys.stderr,
    )
    return 2


def _plot(args: argparse.Namespace) -> int:
    from host.importers import pick_sensor, read_recordings
    from host.outputs import write_all
    from host.session import DatasetError
    from host.snirf_layout import PROJECT_FORMAT

    recordings = read_recordings(args.session)
    if args.sensor is not None:
        recordings = [pick_sensor(recordings, args.sensor)]
    if args.png is not None and len(recordings) > 1:
        labels = ", ".join(r.sensor for r in recordings)
        raise DatasetError(
            args.session,
            f"holds {len(recordings)} sensors ({labels}): --png needs one, choose it with --sensor",
        )
    if args.png is not None and args.png.suffix.lower() != ".png":
        raise DatasetError(args.png, "--png must name a .png file")
    writers = {}
    for rec in recordings:
        out = args.png or rec.source.with_name(rec.output_stem(len(recordings)) + ".png")
        if out.resolve() == rec.source.resolve():
            raise DatasetError(out, "is the recording itself: give --png another file")
        if out in writers:
            raise DatasetError(out, "two sensors of the file would share this figure's name")
        if rec.format == PROJECT_FORMAT:
            from host.plots import plot_session
            from host.snirf_reader import read_session

            record = read_session(args.session)
            writers[out] = lambda path, record=record: plot_session(record, path)
        else:
            from host.plot_recording import plot_recording

            writers[out] = lambda path, rec=rec: plot_recording(rec, path)
    # All PNGs or none (an interruption leaves no half-written figure); a PNG of the same
    # name is replaced, as a figure made again should be.
    for out, rec in zip(write_all(writers, replace=True), recordings):
        print(out)
        for note in rec.notes:
            print(f"note: {note}")
    return 0


def _lmm(args: argparse.Namespace) -> int:
    from host.lmm import fit_table, format_table, load_feature_table

    features = load_feature_table(args.dataset)
    print(format_table(fit_table(features), features))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run one command; a problem with the user's files or settings is one line, exit 2.

    Bad option values stop in argparse (usage and one line, exit 2). What only shows while
    working (a file that is not a session, a dataset folder that does not exist, a path
    that cannot be written) arrives as :class:`host.session.DatasetError`, a
    :class:`device.errors.DeviceError` or an ``OSError`` naming the file, and is printed as
    ``error: ...`` instead of a traceback. Anything else is a bug and keeps its traceback.
    """
    try:
        return _run(sys.argv[1:] if argv is None else argv)
    except KeyboardInterrupt:
        print("interrupted (Ctrl-C)", file=sys.stderr)
        return 130
    except Exception as exc:
        from host.session import DatasetError

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


#: Commands with a parser of their own (each has many options): name -> (module with
#: ``main_args(argv)``, the line ``python -m host --help`` shows).
OWN_PARSERS = {
    "train": ("host.train", "train and evaluate into a new run folder"),
    "convert": ("host.convert", "convert a run folder for the NPU"),
    "ship": ("host.model_folder", "make a converted run folder the bundled model"),
    "collect": ("host.collect_cli", "record a session from the wearable"),
    "export": ("host.export", "a .nrec record as SNIRF + PNG"),
    "kinetics": ("host.kinetics_cli", "desaturation and recovery kinetics per interval"),
    "validate": ("host.validate_cli", "agreement with a reference device"),
    "predict": ("host.predict_cli", "the fatigue model on any recording with Hb in µM"),
    "video": ("host.video.cli", "kinematics from a video or camera (seed 000), figures"),
    "live": ("host.live.cli", "the live page: session records replayed, a team's broker"),
}


def _run(argv: list[str]) -> int:
    if argv[:1] == ["cohort"]:
        return _cohort_moved(argv[1:])
    if argv[:1] and argv[0] in OWN_PARSERS:
        import importlib

        return importlib.import_module(OWN_PARSERS[argv[0]][0]).main_args(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m host", description="NIRS host tools")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("cohort", help="moved: python -m hwsim.cohort makes the simulated cohort")

    p = sub.add_parser(
        "plot",
        help="plot one recording",
        description="One recording as a PNG. This project's session files: ΔHbO2, ΔHHb, "
        "ΔtHb, the SmO2 estimate, flags and Borg ratings against time. Other devices' files "
        "(Moxy, Train.Red, Artinis OxySoft, SNIRF; the format is found from the content): "
        "every channel with its unit, the intervals marked and the gaps; one PNG per sensor.",
    )
    p.add_argument(
        "session",
        metavar="recording",
        type=existing_file,
        help="a recording: a session .snirf, a Moxy, Train.Red or OxySoft export, a SNIRF file",
    )
    p.add_argument(
        "--sensor",
        default=None,
        help="plot only this sensor of a file with several: its label or number from 1 "
        "(default: every sensor, one PNG each)",
    )
    p.add_argument(
        "--png",
        type=Path,
        default=None,
        help="where to write the figure (default: the file's name with .png, and "
        "_sensorLABEL before it when the file holds several sensors)",
    )
    p.set_defaults(func=_plot)

    p = sub.add_parser(
        "lmm",
        help="linear mixed-effects model of fatigue level per feature",
        description="The seed's Table 1: fatigue level ~ z(feature) + (1 | subject) over "
        "every clean 10 s window of every session in the folder (statsmodels MixedLM).",
    )
    p.add_argument(
        "dataset",
        type=existing_dir,
        help="a folder of .snirf session files; every one in it is used",
    )
    p.set_defaults(func=_lmm)

    for name, (_, what) in OWN_PARSERS.items():
        sub.add_parser(name, help=f"{what} (see: python -m host {name} --help)")
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
