"""``python -m host kinetics FILE``: muscle-oxygen kinetics of a recording's work intervals.

Reads any file :func:`host.importers.read_recordings` reads (this project's sessions, and
the muscle-oxygen monitors' exports it supports), picks one sensor, and writes beside it
(or in ``--out``) ``<name>_kinetics_<quantity>.csv``, one row per work interval and one
for their ensemble average (:func:`table_rows`), and ``<name>_kinetics_<quantity>.png``
(:func:`host.kinetics_plot.plot_kinetics`). A file with several sensors adds
``_sensor<S>`` after the file's name. Existing files are never replaced. The definitions and their
sources: :mod:`host.kinetics`. Bad input (no usable channel, a work interval outside the
recording, a recovery too short to fit, ...) is one line on stderr, exit status 2.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import fields
from pathlib import Path

from host.kinetics import QUANTITY_CHOICES, KineticsResult, KineticsSettings, analyse
from host.session import DatasetError

__all__ = ["kinetics", "main_args", "table_rows", "unit_tag"]

#: Significant digits of the numbers in the table.
TABLE_DIGITS = 6


def unit_tag(unit: str) -> str:
    """A unit as it can stand in a column name: ``%`` → ``pct``, ``µM`` → ``uM``."""
    known = {"%": "pct", "µM": "uM", "uM": "uM", "a.u.": "au"}
    return known.get(unit) or re.sub(r"[^0-9A-Za-z]+", "_", unit).strip("_") or "1"


def table_rows(result: KineticsResult) -> list[dict[str, object]]:
    """One dict per work interval, then the ensemble's; column names carry the unit
    (``baseline_uM``, ``desat_slope_pct_per_s``, ``fit_tau_s``). ``time_to_nadir_or_peak_s``
    is from the start of work, ``half_recovery_time_s`` and ``*_after_end_s`` from its
    end; the ensemble's work times are from its end (negative). NaN where a number could
    not be found (``notes`` says why). The window settings are columns too."""
    u = unit_tag(result.channel.unit)
    s, rec = result.settings, result.recording
    rows = []
    for k in [*result.intervals, *([result.ensemble] if result.ensemble else [])]:
        f = k.fit
        rows.append({
            "file": rec.source.name, "sensor": rec.sensor, "provenance": rec.provenance,
            "quantity": result.quantity, "channel": result.channel.name,
            "interval": k.label, "number": k.number, "n_averaged": k.n_averaged,
            "work_start_s": k.work_on_s, "work_end_s": k.work_off_s,
            "work_duration_s": k.work_off_s - k.work_on_s,
            "baseline_from_s": k.baseline_from_s, "baseline_to_s": k.baseline_to_s,
            f"baseline_{u}": k.baseline,
            f"baseline_sd_{u}": k.baseline_sd,
            "nadir_or_peak": k.extreme_kind, f"nadir_or_peak_{u}": k.extreme,
            "time_to_nadir_or_peak_s": k.extreme_at_s - k.work_on_s,
            "desat_window_s": s.desat_s, f"desat_slope_{u}_per_s": k.desat_slope_per_s,
            "end_window_s": s.end_s, f"end_{u}": k.end,
            f"half_recovery_target_{u}": k.half_recovery_target,
            "half_recovery_time_s": k.half_recovery_s,
            "slope_window_s": s.slope_window_s,
            f"peak_reox_slope_{u}_per_s": k.peak_reox_slope_per_s,
            "peak_reox_slope_after_end_s": k.peak_reox_slope_at_s - k.work_off_s,
            f"overshoot_{u}": k.overshoot,
            "overshoot_after_end_s": k.overshoot_at_s - k.work_off_s,
            "smooth_s": s.smooth_s, "recovery_window_s": k.recovery_to_s - k.work_off_s,
            "fit_window_s": f.window_s, "fit_n": f.n, f"fit_start_{u}": f.start,
            f"fit_amplitude_{u}": f.amplitude,
            f"fit_amplitude_ci95_low_{u}": f.amplitude_ci[0],
            f"fit_amplitude_ci95_high_{u}": f.amplitude_ci[1],
            "fit_tau_s": f.tau_s, "fit_tau_ci95_low_s": f.tau_ci[0],
            "fit_tau_ci95_high_s": f.tau_ci[1], "fit_delay_s": f.delay_s,
            "fit_delay_ci95_low_s": f.delay_ci[0], "fit_delay_ci95_high_s": f.delay_ci[1],
            "fit_half_time_s": f.half_time_s, f"fit_rmse_{u}": f.rmse, "fit_r2": f.r2,
            "notes": "; ".join(k.notes),
        })  # fmt: skip
    return rows


def _cell(value: object) -> object:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.{TABLE_DIGITS}g}"
    return value


def _write_csv(rows: list[dict[str, object]], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(v) for k, v in row.items()})


def kinetics(
    path: str | os.PathLike,
    out_dir: str | os.PathLike | None = None,
    *,
    sensor: str | None = None,
    quantity: str | None = None,
    select: Sequence[str] | None = None,
    work: Sequence[tuple[float, float]] | None = None,
    settings: KineticsSettings | None = None,
    log: Callable[[str], None] = print,
) -> tuple[Path, Path]:
    """Analyse one recording file; write its table and figure; return their paths.

    Both files or neither: each is written under a temporary name, then renamed.

    Raises:
        DatasetError: The file cannot be read or analysed as asked, or an output exists.
        ValueError: A setting out of range.
    """
    from host.importers import pick_sensor, read_recordings
    from host.kinetics_plot import plot_kinetics
    from host.outputs import write_all

    source = Path(path)
    recordings = read_recordings(source)
    rec = pick_sensor(recordings, sensor)
    result = analyse(rec, quantity=quantity, select=select, work=work, settings=settings)
    folder = Path(out_dir) if out_dir is not None else source.parent
    stem = f"{rec.output_stem(len(recordings))}_kinetics_{result.quantity}"
    csv_path, png_path = folder / f"{stem}.csv", folder / f"{stem}.png"
    rows = table_rows(result)
    write_all(
        {csv_path: lambda p: _write_csv(rows, p), png_path: lambda p: plot_kinetics(result, p)}
    )
    ch = result.channel
    ens = " and their ensemble" if result.ensemble else ""
    log(
        f"wrote {csv_path}: {len(result.intervals)} work interval(s){ens}, {ch.name} "
        f"({ch.unit}) of sensor {rec.sensor}; {rec.provenance.upper()} data"
    )
    for k in [*result.intervals, *([result.ensemble] if result.ensemble else [])]:
        f = k.fit
        log(
            f"  {k.number} {k.label}: baseline {k.baseline:.4g}, {k.extreme_kind} "
            f"{k.extreme:.4g}, end {k.end:.4g} {ch.unit}; half-recovery {k.half_recovery_s:.1f} s;"
            f" τ {f.tau_s:.2f} s (95 % CI {f.tau_ci[0]:.2f}–{f.tau_ci[1]:.2f}), "
            f"delay {f.delay_s:.2f} s" + (f"; {'; '.join(k.notes)}" if k.notes else "")
        )
    log(f"wrote {png_path}")
    for note in rec.notes:
        log(f"note: {note}")
    return csv_path, png_path


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a time in s (a finite number), got {text!r}")
    return value


def main_args(argv: list[str] | None = None) -> int:
    """``python -m host kinetics ...``; returns the exit status (2: one line on stderr)."""
    from device.argtypes import existing_file, output_dir, positive_float

    parser = argparse.ArgumentParser(
        prog="python -m host kinetics",
        description="Muscle-oxygen kinetics of each work interval of a recording and of "
        "their ensemble average: resting baseline, nadir (HHb: peak), desaturation slope, "
        "end-of-work value, half-recovery time, peak reoxygenation slope, a mono-exponential "
        "recovery fit with time delay (amplitude, tau, delay, 95 % CIs) and overshoot. "
        "Writes a CSV table and a PNG figure. Definitions: host/kinetics.py, docs/kinetics.md.",
    )
    parser.add_argument(
        "file",
        metavar="recording",
        type=existing_file,
        help="a recording: a session .snirf, a Moxy, Train.Red or OxySoft export, a SNIRF file",
    )
    parser.add_argument(
        "--sensor",
        help="which sensor of a file with several, by label or number from 1 "
        "(default: the only one)",
    )
    parser.add_argument(
        "--quantity",
        choices=QUANTITY_CHOICES,
        default=None,
        help="what to analyse: smo2 (%%) or hbo2/hhb/thb (the file's unit, e.g. uM) "
        "(default: smo2 if the recording has it, else hbo2)",
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--interval",
        action="append",
        metavar="LABEL_OR_NUMBER",
        help="a work interval of the file by its label (every interval so labelled) or number "
        "from 1; repeat for several (default: the intervals labelled 'hold', as in this "
        "project's sessions)",
    )
    which.add_argument(
        "--work",
        action="append",
        nargs=2,
        type=_seconds,
        metavar=("START", "END"),
        help="a work interval by its start and end, s on the recording's time base; repeat "
        "for several (default: from the file's intervals, see --interval)",
    )
    told = {
        "baseline_s": "resting baseline: mean over this long before work",
        "desat_s": "desaturation slope: linear fit over the first this-long of work",
        "end_s": "end-of-work value: mean over the last this-long of work",
        "smooth_s": "centred running mean before nadir, half-recovery and overshoot",
        "slope_window_s": "peak reoxygenation slope: rolling linear-fit window",
        "recovery_s": "recovery window after work (shorter if the next work or the file ends)",
        "fit_after_peak_s": "the recovery fit ends this long after the recovery's peak",
        "min_recovery_s": "shortest recovery window analysed; shorter is an error",
    }
    defaults = KineticsSettings()
    for f in fields(KineticsSettings):
        parser.add_argument(
            "--" + f.name.replace("_", "-"),
            type=positive_float,
            default=getattr(defaults, f.name),
            metavar="S",
            help=f"{told[f.name]}, s (default: %(default)s)",
        )
    parser.add_argument(
        "--out",
        type=output_dir,
        default=None,
        metavar="DIR",
        help="folder for the table and the figure, made if missing (default: the file's folder)",
    )
    args = parser.parse_args(argv)
    try:
        settings = KineticsSettings(**{f.name: getattr(args, f.name) for f in fields(defaults)})
        kinetics(
            args.file,
            args.out,
            sensor=args.sensor,
            quantity=args.quantity,
            select=args.interval,
            work=[tuple(w) for w in args.work] if args.work else None,
            settings=settings,
            log=lambda line: print(line, flush=True),
        )
    except (DatasetError, OSError, ValueError) as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main_args())
