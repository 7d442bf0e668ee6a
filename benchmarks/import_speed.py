"""Import speed: a one-hour, two-sensor, 10 Hz export of each format, read by
``host.importers.read_recordings`` on this machine.

Writes the files into a temporary folder (simulated signals in each vendor's layout, as
tests/data/imports/ has them: Train.Red app CSV with irregular and repeated stamps,
Moxy CSV with ``(2)`` columns and fractional seconds, OxySoft .txt and .xlsx with two
devices' ``[serial]`` traces), then times the import. Figures only, never a pass/fail.

    python benchmarks/import_speed.py [--minutes 60] [--rate-hz 10] [--repeat 3] [--no-xlsx]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from host.importers import read_recordings


def _signal(rng: np.random.Generator, t: np.ndarray, offset: float) -> np.ndarray:
    """SmO2, % (simulated): a 3-minute hold every 10 minutes, noise on top."""
    hold = (t % 600.0) > 420.0
    return 68.0 + offset - 25.0 * hold + rng.normal(0.0, 0.8, t.size)


def write_trainred(path: Path, duration_s: float, rate_hz: float) -> int:
    """Train.Red app CSV (August 2025 layout), two sensors; returns the data rows."""
    rng = np.random.default_rng(1)
    steps = rng.uniform(0.5, 1.5, int(duration_s * rate_hz * 1.2)) / rate_hz
    steps[rng.random(steps.size) < 0.08] = 0.0  # repeated stamps, as the app writes them
    t = np.round(np.cumsum(steps), 2)
    t = t[t < duration_s]
    lines = ["Train.Red Export for,Session at 2025-08-05 4:23 p.m.", "-" * 61, ""]
    ids = ("Train.Red FYER 0702", "Train.Red FYER 0673")
    for n, sid in enumerate(ids, start=1):
        lines += [f"Sensor {n},Train.Red FYER", "-" * 61, f"Sensor ID,{sid}", ""]
    names = "SmO2,SmO2 unfiltered,O2HB unfiltered,HHb unfiltered,THb unfiltered"
    lines.append(f",,,{ids[0]},,,,,,{ids[1]},,,,")
    lines.append(f"Timestamp (seconds passed),Lap/Event,,{names},,{names}")
    groups = []
    for offset in (0.0, -4.0):
        s = _signal(rng, t, offset)
        d_hhb = 0.3 * (68.0 + offset - s)
        groups.append(np.column_stack([s, s, -0.8 * d_hhb, d_hhb, 140.0 + 0.2 * d_hhb]))
    laps = (t // 600).astype(int)
    for k in range(t.size):
        a = ",".join(f"{v:.2f}" for v in groups[0][k])
        b = ",".join(f"{v:.2f}" for v in groups[1][k])
        lines.append(f"{t[k]:.2f},{laps[k]},,{a},,{b}")
    path.write_text("\n".join(lines) + "\n")
    return int(t.size)


def write_moxy(path: Path, duration_s: float, rate_hz: float) -> int:
    """Moxy CSV with a second sensor's ``(2)`` columns, ``hh:mm:ss.s`` times."""
    rng = np.random.default_rng(2)
    t = np.arange(0.0, duration_s, 1.0 / rate_hz)
    s1, s2 = _signal(rng, t, 0.0), _signal(rng, t, -4.0)
    lines = ["", " FW Part Number: 2000195 v1.3", " "]
    lines.append(
        "mm-dd,hh:mm:ss,SmO2 Live,SmO2 Averaged,THb,SmO2 Live(2),SmO2 Averaged(2),THb(2),Lap"
    )
    clock = 8 * 3600.0 + t
    for k in range(t.size):
        c = clock[k]
        hms = f"{int(c // 3600):02d}:{int(c % 3600 // 60):02d}:{c % 60:04.1f}"
        lines.append(
            f"06-Feb,{hms},{s1[k]:.0f},{s1[k]:.0f},12.85,{s2[k]:.0f},{s2[k]:.0f},11.40,"
            f"{int(t[k] // 600)}"
        )
    path.write_text("\n".join(lines) + "\n")
    return int(t.size)


def _oxysoft_rows(duration_s: float, rate_hz: float) -> tuple[list[list], np.ndarray]:
    """Header rows (cells) and data (samples × columns) of a two-device OxySoft export."""
    rng = np.random.default_rng(3)
    n = int(duration_s * rate_hz)
    t = np.arange(n) / rate_hz
    legend = ["(Sample number)"]
    cols = [np.arange(n, dtype=float)]
    for serial, offset in (("9322", 0.0), ("9323", -4.0)):
        s = _signal(rng, t, offset)
        d_hhb = 0.1 * (68.0 + offset - s)
        legend += [f"[{serial}] Rx1 - Tx1 {hb}" for hb in ("O2Hb", "HHb", "tHb")]
        legend += [f"[{serial}] Rx1 - Tx1,Tx2,Tx3  TSI%", f"[{serial}] Rx1 - Tx1,Tx2,Tx3  TSI FF"]
        cols += [-0.9 * d_hhb, d_hhb, 0.1 * d_hhb, s, np.full(n, 99.9)]
    legend.append("(Event)")
    header = [
        ["OxySoft export of:", "benchmark.oxy4"],
        ["Datafile sample rate:", rate_hz, "Hz"],
        ["Optode-template:", "PortaLite MKII"],
        ["Legend:"],
        ["Column", "Trace (Measurement)"],
        *([i, label] for i, label in enumerate(legend, start=1)),
        [],
        list(range(1, len(legend) + 1)),
    ]
    return header, np.column_stack(cols)


def write_oxysoft_txt(path: Path, duration_s: float, rate_hz: float) -> int:
    """OxySoft .txt export of two devices."""
    header, data = _oxysoft_rows(duration_s, rate_hz)
    lines = ["\t".join(str(c) for c in row) for row in header]
    for row in data:
        lines.append(f"{int(row[0])}\t" + "\t".join(f"{v:.4f}" for v in row[1:]) + "\t")
    path.write_text("\r\n".join(lines) + "\r\n")
    return int(data.shape[0])


def write_oxysoft_xlsx(path: Path, duration_s: float, rate_hz: float) -> int:
    """OxySoft .xlsx export of two devices (openpyxl, write-only mode)."""
    import openpyxl

    header, data = _oxysoft_rows(duration_s, rate_hz)
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("export")
    for row in header:
        ws.append(row)
    for row in np.round(data, 4).tolist():
        ws.append([int(row[0]), *row[1:], None])
    wb.save(path)
    return int(data.shape[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--minutes", type=float, default=60.0, help="recording length (default: %(default)s)"
    )
    parser.add_argument(
        "--rate-hz", type=float, default=10.0, help="sample rate, Hz (default: %(default)s)"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="imports per file, median shown (default: %(default)s)",
    )
    parser.add_argument(
        "--no-xlsx", action="store_true", help="skip the .xlsx file (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    duration_s = args.minutes * 60.0
    writers: list[tuple[str, str, Callable[[Path, float, float], int]]] = [
        ("Train.Red app CSV", "trainred.csv", write_trainred),
        ("Moxy CSV", "moxy.csv", write_moxy),
        ("OxySoft .txt", "oxysoft.txt", write_oxysoft_txt),
    ]
    if not args.no_xlsx:
        writers.append(("OxySoft .xlsx", "oxysoft.xlsx", write_oxysoft_xlsx))
    print(
        f"Import of a {args.minutes:g}-minute, two-sensor, {args.rate_hz:g} Hz export "
        f"(simulated signals), median of {args.repeat} (this machine):"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for label, name, write in writers:
            path = Path(tmp) / name
            rows = write(path, duration_s, args.rate_hz)
            times = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                recordings = read_recordings(path)
                times.append(time.perf_counter() - t0)
            took = statistics.median(times)
            samples = sum(r.n_samples for r in recordings)
            print(
                f"  {label:18s} {path.stat().st_size / 1e6:6.1f} MB, {rows} rows, "
                f"{len(recordings)} sensors: {took:6.2f} s, {rows / took:9.0f} rows/s, "
                f"{samples / took:9.0f} sensor-samples/s"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
