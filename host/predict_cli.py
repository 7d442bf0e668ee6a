"""``python -m host predict FILE``: the fatigue model on a recording, as CSV, PNG and a line.

Reads any recording :func:`host.importers.read_recordings` reads, picks one sensor
(:func:`host.importers.pick_sensor`), runs :func:`host.predict.predict_recording` and
writes ``<stem>.levels.csv`` (one row per 10 s window: its times, the level, the level
the wearable would show and each level's probability) and ``<stem>.levels.png`` (the
haemoglobin the model saw, the probabilities and the levels against time). Every output
says that the model was trained on simulated sessions of this device only, and whether
its ΔOD were rebuilt from haemoglobin (:func:`host.predict.trained_on`,
:func:`host.predict.od_note`): the standard output, the CSV's ``#`` comment lines and
the PNG's title.
"""

from __future__ import annotations

import csv
import sys
import textwrap
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from device.features import STEP_SAMPLES
from host.plot_recording import break_gaps, shade_intervals
from host.predict import (
    DEFAULT_BASELINE_S,
    DEFAULT_MAX_GAP_S,
    OD_SOURCES,
    TRAINING_CHAIN,
    LevelRun,
    predict_recording,
)

__all__ = ["level_figure", "main_args", "summary_line", "write_csv"]

#: What the output files' names end with.
CSV_SUFFIX = ".levels.csv"
PNG_SUFFIX = ".levels.png"
#: Characters per line of the PNG's title.
TITLE_WIDTH = 110


def _who(run: LevelRun) -> str:
    r = run.recording
    return f"{r.source.name} sensor {r.sensor} [{r.format}], {r.provenance.upper()} data"


def summary_line(run: LevelRun) -> str:
    """One line: windows run and skipped, how long each level was shown, the highest."""
    names = run.classes
    counts = np.bincount(run.shown_level, minlength=len(names))
    share = ", ".join(f"{name} {c / counts.sum():.0%}" for name, c in zip(names, counts) if c)
    top = int(run.shown_level.max())
    first = float(run.t_end_s[int(np.argmax(run.shown_level == top))])
    return (
        f"{_who(run)}: {run.level.size} windows of {run.window_s:g} s run, "
        f"{run.skipped_windows} skipped (a gap, an invalid value or a quality flag: the "
        f"wearable shows 'check sensor' then); level shown: {share}; "
        f"highest {names[top]!r} first at {first:.0f} s"
    )


def caution_lines(run: LevelRun) -> list[str]:
    """The statements every output carries: what the model was trained on, where its ΔOD
    came from, and the model."""
    od = "CAUTION" if run.od_source == "rebuilt" else "note"
    return [f"CAUTION: {run.trained_on}", f"{od}: {run.od_note}", run.model_line]


def write_csv(run: LevelRun, path: Path) -> Path:
    """One row per window: ``t_start_s``, ``t_end_s``, ``level``, ``shown_level`` (names)
    and ``p_<level>`` per level; ``#`` comment lines first: :func:`caution_lines`, the
    recording and the notes."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        for line in [*caution_lines(run), _who(run), *run.notes]:
            f.write(f"# {' '.join(line.split())}\n")
        writer = csv.writer(f)
        writer.writerow(
            ["t_start_s", "t_end_s", "level", "shown_level", *(f"p_{c}" for c in run.classes)]
        )
        for start, t_end, raw, shown, probs in zip(
            run.t_start_s, run.t_end_s, run.level, run.shown_level, run.probabilities
        ):
            writer.writerow(
                [f"{start:.2f}", f"{t_end:.2f}", run.classes[raw], run.classes[shown]]
                + [f"{p:.6f}" for p in probs]
            )
    return path


def level_figure(run: LevelRun) -> Figure:
    """The haemoglobin the model saw, the probabilities and the levels against time; the
    title says what the recording is and :func:`caution_lines`."""
    fig = Figure(figsize=(11, 8.5), constrained_layout=True)
    axes = fig.subplots(3, 1, sharex=True, height_ratios=(2, 2, 1.4))
    title = [f"Fatigue level per {run.window_s:g} s window: {_who(run)}"]
    for line in caution_lines(run)[:2]:
        title += textwrap.wrap(line, TITLE_WIDTH)
    fig.suptitle("\n".join(title), fontsize=9)
    shade_intervals(axes, run.recording.intervals)
    axes[0].plot(run.t_s, run.d_hbo2_um, color="tab:red", lw=0.8, label="ΔHbO2")
    axes[0].plot(run.t_s, run.d_hhb_um, color="tab:blue", lw=0.8, label="ΔHHb")
    axes[0].set_ylabel("µM (as the model saw them)")
    axes[0].legend(loc="upper right", fontsize=8)
    # A skipped window leaves a gap: the lines break there.
    step_s = STEP_SAMPLES / TRAINING_CHAIN.output_rate_hz
    t, probs = break_gaps(run.t_end_s, run.probabilities, max_step_s=1.5 * step_s)
    for k, name in enumerate(run.classes):
        axes[1].plot(t, probs[:, k], lw=0.9, label=name)
    axes[1].set_ylim(-0.02, 1.02)
    axes[1].set_ylabel("probability")
    axes[1].legend(loc="upper right", fontsize=8, ncol=len(run.classes))
    axes[2].plot(run.t_end_s, run.level, ".", ms=3, color="0.5", label="most probable")
    t, shown = break_gaps(run.t_end_s, run.shown_level, max_step_s=1.5 * step_s)
    axes[2].step(t, shown, where="post", color="tab:orange", label="shown (smoothed)")
    axes[2].set_yticks(range(len(run.classes)), run.classes)
    axes[2].set_ylim(-0.5, len(run.classes) - 0.5)
    axes[2].legend(loc="upper left", fontsize=8)
    axes[2].set_xlabel("time (s), at each window's end")
    return fig


def main_args(argv: list[str] | None = None) -> int:
    """``python -m host predict ...``; returns the exit status (2: one line on stderr)."""
    import argparse

    from device.argtypes import existing_dir, existing_file, output_dir, positive_float
    from device.errors import DeviceError
    from device.inference import load_model
    from host.importers import pick_sensor, read_recordings
    from host.model_folder import BUNDLED_MODELS
    from host.outputs import refuse_existing, write_all
    from host.session import DatasetError

    parser = argparse.ArgumentParser(
        prog="python -m host predict",
        description="Run the fatigue model on a recording with ΔHbO2 and ΔHHb in µM (this "
        "project's sessions, Train.Red, Artinis OxySoft, SNIRF haemoglobin): a level per 10 s "
        "window as CSV and PNG. The model was trained on SIMULATED sessions of this device "
        "only; for other devices its ΔOD inputs are rebuilt from the haemoglobin. See "
        "docs/predict.md.",
    )
    parser.add_argument("recording", type=existing_file, help="the recording file")
    parser.add_argument(
        "--sensor",
        default=None,
        help="which sensor of a file with several: its label or number from 1 "
        "(default: the only one)",
    )
    parser.add_argument(
        "--models-dir",
        type=existing_dir,
        default=BUNDLED_MODELS,
        help="folder of model.json and fusion.onnx (default: the bundled %(default)s)",
    )
    parser.add_argument(
        "--out",
        type=output_dir,
        default=None,
        metavar="DIR",
        help=f"folder for <name>{CSV_SUFFIX} and <name>{PNG_SUFFIX}, made if missing "
        "(default: the recording's folder)",
    )
    parser.add_argument(
        "--baseline",
        type=float,
        nargs=2,
        default=DEFAULT_BASELINE_S,
        metavar=("START_S", "END_S"),
        help="window whose mean turns absolute haemoglobin into changes, s on the "
        "recording's time base (default: {:g} {:g})".format(*DEFAULT_BASELINE_S),
    )
    parser.add_argument(
        "--rezero",
        action="store_true",
        help="also subtract the baseline mean from haemoglobin that is already a change "
        "(default: keep the file's zero)",
    )
    parser.add_argument(
        "--od",
        choices=OD_SOURCES,
        default="auto",
        help="the model's ΔOD inputs: rebuilt from the haemoglobin, or as this project's "
        "sessions recorded them; auto: recorded for this project's sessions "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--max-gap-s",
        type=positive_float,
        default=DEFAULT_MAX_GAP_S,
        help="longest gap between samples bridged when resampling to 10 Hz; windows with a "
        "longer one are not run (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    try:
        recordings = read_recordings(args.recording)
        recording = pick_sensor(recordings, args.sensor)
        folder = args.out if args.out is not None else args.recording.parent
        stem = recording.output_stem(len(recordings))
        csv_path, png_path = folder / f"{stem}{CSV_SUFFIX}", folder / f"{stem}{PNG_SUFFIX}"
        refuse_existing([csv_path, png_path])  # before the model runs
        model = load_model(args.models_dir, backend="onnx")
        try:
            run = predict_recording(
                recording,
                model,
                baseline_s=args.baseline,
                rezero=args.rezero,
                od=args.od,
                max_gap_s=args.max_gap_s,
            )
        finally:
            model.close()
        write_all(
            {
                csv_path: lambda path: write_csv(run, path),
                png_path: lambda path: level_figure(run).savefig(path, dpi=110, format="png"),
            }
        )
    except (DatasetError, DeviceError, OSError) as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    print(summary_line(run))
    for line in caution_lines(run):
        print(line)
    for note in run.notes:
        print(f"note: {note}")
    print(f"wrote {csv_path}")
    print(f"wrote {png_path}")
    return 0
