"""Write the sample exports in this folder (README.md says what each follows).

    python tests/data/imports/make_samples.py [--out tests/data/imports]

Made-up (simulated) signals in the vendors' layouts: a rest, a hold (SmO2 falls) and a
recovery (it rises back with an overshoot), with the problems real exports contain put
in at known places (repeated time stamps, a dropout, empty "sensor off" cells, a second
sensor). Deterministic (fixed seed); the text files come out byte for byte the same.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
#: The protocol every sample follows, s: rest until HOLD_S, hold until RECOVERY_S.
HOLD_S = 30.0
RECOVERY_S = 60.0
#: SmO2 at rest and at the end of the hold, %, and the time constants, s.
SMO2_REST = 68.0
SMO2_HOLD_END = 34.0
TAU_HOLD_S = 12.0
TAU_RECOVERY_S = 15.0
OVERSHOOT = 6.0


def smo2(t: np.ndarray, offset: float = 0.0) -> np.ndarray:
    """The made-up SmO2 course, % (simulated)."""
    t = np.asarray(t, dtype=float)
    fall = SMO2_REST - (SMO2_REST - SMO2_HOLD_END) * (1 - np.exp(-(t - HOLD_S) / TAU_HOLD_S))
    at_end = SMO2_REST - (SMO2_REST - SMO2_HOLD_END) * (
        1 - math.exp(-(RECOVERY_S - HOLD_S) / TAU_HOLD_S)
    )
    back = (
        SMO2_REST
        + OVERSHOOT
        - (SMO2_REST + OVERSHOOT - at_end) * np.exp(-(t - RECOVERY_S) / TAU_RECOVERY_S)
    )
    out = np.where(t < HOLD_S, SMO2_REST, np.where(t < RECOVERY_S, fall, back))
    return out + offset


def write_moxy(out: Path) -> None:
    """moxy_two_sensors.csv: MoxyPC layout, 0.5 Hz, two sensors ((2) columns).

    Put in: the row at 13:16:58 written twice (a repeated stamp, other values), no
    samples between 13:18:46 and 13:19:04 (an 18 s step: a dropout), an empty
    SmO2 Live(2) cell at 13:18:26; laps 1, 2, 3 from 0, 30 and 60 s; 240 s.
    """
    rng = np.random.default_rng(17)
    start_s = 13 * 3600 + 15 * 60 + 26
    t = np.arange(0.0, 240.0, 2.0)
    t = t[~((t > 200.0) & (t < 218.0))]
    lines = ["", " FW Part Number: 2000195 v1.3", " LUT Part Number: SN1614 v0.0.4", " "]
    lines.append(
        "mm-dd,hh:mm:ss,SmO2 Live,SmO2 Averaged,THb,SmO2 Live(2),SmO2 Averaged(2),THb(2),"
        "Lap,Session Ct"
    )
    avg1 = avg2 = SMO2_REST
    for tk in t:
        s1 = smo2(tk) + rng.normal(0, 1.5)
        s2 = smo2(tk, -4.0) + rng.normal(0, 1.5)
        avg1, avg2 = 0.6 * avg1 + 0.4 * s1, 0.6 * avg2 + 0.4 * s2
        lap = 1 if tk < HOLD_S else 2 if tk < RECOVERY_S else 3
        clock = start_s + tk
        hms = f"{int(clock // 3600):02d}:{int(clock % 3600 // 60):02d}:{int(clock % 60):02d}"
        live2 = "" if hms == "13:18:26" else f"{s2:.0f}"
        row = (
            f"06-Feb,{hms},{s1:.0f},{avg1:.0f},{12.85 + rng.normal(0, 0.02):.2f},"
            f"{live2},{avg2:.0f},{11.40 + rng.normal(0, 0.02):.2f},{lap},{716 + lap}"
        )
        lines.append(row)
        if hms == "13:16:58":
            lines.append(
                f"06-Feb,{hms},{s1 + 2:.0f},{avg1:.0f},12.90,{s2 + 2:.0f},{avg2:.0f},11.44,"
                f"{lap},{716 + lap}"
            )
    (out / "moxy_two_sensors.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _trainred_times(rng: np.random.Generator, duration_s: float) -> np.ndarray:
    """About 10 Hz as the app writes it: steps of 0.05-0.15 s, bursts where it delivers
    late samples under one stamp (repeats), a 3 s dropout after 80 s."""
    times, t = [], 0.04
    while t < duration_s:
        times.append(round(t, 2))
        r = rng.random()
        if r < 0.08:
            step = 0.0  # a repeated stamp
        elif r < 0.12:
            step = rng.uniform(0.3, 0.9)  # a late burst, not a dropout
        else:
            step = rng.uniform(0.05, 0.15)
        if times[-1] < 80.0 <= times[-1] + step + 0.2:
            step = 3.0  # the dropout
        t += step
    return np.array(times)


def write_trainred(out: Path) -> None:
    """trainred_two_sensors.csv: Train.Red app export, August 2025 layout, two sensors.

    Put in: repeated stamps (about 8 % of rows), a 3 s dropout after 80 s, sensor 2's
    cells empty for 1 s from 100 s (the sensor off the skin), laps at 30 and 60 s; 120 s.
    """
    rng = np.random.default_rng(23)
    duration_s = 120.0
    t = _trainred_times(rng, duration_s)
    sensors = [
        ("Train.Red FYER 0702", "quadVLRight", 88.12, 53.89, 0.0),
        ("Train.Red FYER 0673", "quadVLLeft", 73.49, 46.65, -3.0),
    ]
    head = [
        "Train.Red Export for,Session at 2025-08-05 4:23 p.m.",
        "-" * 61,
        "Measurement Date,2025-08-05T16:23:59.399184",
        "Type,free",
        "Sport,strength",
        "Focus,perform",
        "Number of Sensors,2",
        f"Samples,{len(t) * 2}",
        "Measurement Duration,2:00",
        "",
    ]
    laps = [("00:00", "00:30"), ("00:30", "01:00"), ("01:00", "02:00")]
    for k, (a, b) in enumerate(laps, start=1):
        head += [f"Lap {k}", "-" * 61, f"Start,{a}", f"End,{b}", ""]
    rows_per_sensor = []
    for n, (sid, position, o2hb0, hhb0, offset) in enumerate(sensors, start=1):
        head += [
            f"Sensor {n},Train.Red FYER",
            "-" * 61,
            "Sensor DataType,expertV13",
            f"Sensor ID,{sid}",
            "Mac Address,",
            "Firmware Version,",
            f"Sensor Position,{position}",
            f"Initial TSI,{SMO2_REST + offset:.2f}",
            f"Initial HBDiff,{o2hb0 - hhb0:.2f}",
            f"Initial o2Hb,{o2hb0:.2f}",
            f"Initial HHb,{hhb0:.2f}",
            "Tsi Var,45.0",
            "Filter Id,1",
            "",
        ]
        raw = smo2(t, offset) + rng.normal(0, 0.6, t.size)
        filt = np.convolve(np.pad(raw, (9, 0), mode="edge"), np.ones(10) / 10, mode="valid")
        d_hhb = 0.35 * (SMO2_REST + offset - raw) + rng.normal(0, 0.1, t.size)
        d_o2hb = -0.8 * d_hhb + rng.normal(0, 0.15, t.size)
        thb = o2hb0 + hhb0 + d_o2hb + d_hhb
        diff = o2hb0 - hhb0 + d_o2hb - d_hhb
        state = np.where(raw < SMO2_REST + offset - 10, 4, 0)
        cells = []
        for i in range(t.size):
            if n == 2 and 100.0 <= t[i] < 101.0:
                cells.append([""] * 9)
                continue
            cells.append(
                [
                    f"{filt[i]:.2f}",
                    f"{diff[i]:.2f}",
                    f"{state[i]}",
                    f"{0 if state[i] == 0 else -2}",
                    f"{raw[i]:.2f}",
                    f"{d_o2hb[i]:.2f}",
                    f"{d_hhb[i]:.2f}",
                    f"{thb[i]:.2f}",
                    f"{diff[i]:.2f}",
                ]
            )
        rows_per_sensor.append(cells)
    names = (
        "SmO2,HBDiff,Muscle state,Muscle trend,SmO2 unfiltered,O2HB unfiltered,"
        "HHb unfiltered,THb unfiltered,HBDiff unfiltered"
    )
    lines = [*head, f",,,{sensors[0][0]},,,,,,,,,,{sensors[1][0]},,,,,,,,"]
    lines.append(f"Timestamp (seconds passed),Lap/Event,,{names},,{names}")
    for i, ti in enumerate(t):
        lap = 0 if ti < HOLD_S else 1 if ti < RECOVERY_S else 2
        a, b = rows_per_sensor[0][i], rows_per_sensor[1][i]
        lines.append(f"{ti:.2f},{lap},,{','.join(a)},,{','.join(b)}")
    (out / "trainred_two_sensors.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


OXY_TRACES = [f"Rx1-Tx{tx} {hb}" for tx in (1, 2, 3) for hb in ("O2Hb", "HHb", "tHb")] + [
    "Rx1-Tx1,Tx2,Tx3 TSI%",
    "Rx1-Tx1,Tx2,Tx3 TSI Fit Factor",
]


def _oxy_values(rng: np.random.Generator, t: np.ndarray, offset: float) -> list[np.ndarray]:
    """The traces of OXY_TRACES for one device, µM changes and %, simulated."""
    s = smo2(t, offset)
    cols = []
    for tx in (1, 2, 3):
        d_hhb = 0.12 * (SMO2_REST + offset - s) * (1 + 0.1 * tx) + rng.normal(0, 0.03, t.size)
        d_o2hb = -0.9 * d_hhb + rng.normal(0, 0.04, t.size)
        cols += [d_o2hb, d_hhb, d_o2hb + d_hhb]
    cols.append(s + rng.normal(0, 0.3, t.size))
    cols.append(99.99 - np.abs(rng.normal(0, 0.01, t.size)))
    return cols


def _oxy_header(devices: str, template: str, n_samples: int, legend: list[str]) -> list[list]:
    """The header rows of an OxySoft export (cells), as on_off_kinetics.txt has them."""
    rows: list[list] = [
        ["OxySoft export of:", "C:\\Users\\NIRS\\Documents\\OxySoft\\hold_recovery.oxy4"],
        ["Export date:", "2025/03/11 09:42:17"],
        ["Start of measurement:", "2025-03-11 09:12:05.250"],
        [],
        ["Datafile sample rate:", 10.0, "Hz"],
        ["Datafile duration:", n_samples / 10.0, "s"],
        ["Datafile total number of samples:", n_samples],
        [],
        ["Description:", ""],
        [],
        ["Optode-template:", template],
        ["Optode distance (mm):", 35.0],
        ["Optode gradients (mm):", 5.0],
        ["DPF:", 4.0],
        [],
        ["Device id:", devices],
        ["# Receivers:", 1],
        ["# Light sources:", 6],
        ["# ADC:", 0],
        [],
        ["Light source wavelengths:"],
        ["device", "index", "wavelength"],
    ]
    for i, wl in enumerate((759, 854, 759, 854, 761, 856), start=1):
        rows.append([1, i, wl, "nm"])
    rows += [
        [],
        ["Export sample rate:", 10.0, "Hz"],
        ["Selected time span:", 0, n_samples / 10.0],
        ["Selected time span (sample numbers):", 0, n_samples],
        [],
        [],
        ["Legend:"],
        ["Column", "Trace (Measurement)"],
    ]
    rows += [[i, label] for i, label in enumerate(legend, start=1)]
    rows += [[], [], list(range(1, len(legend) + 1))]
    return rows


def write_oxysoft_txt(out: Path) -> None:
    """oxysoft_portamon.txt: OxySoft .txt export of one PortaMon, 10 Hz, 120 s.

    Put in: samples 0-4 all exactly 0 (before the device delivered data), sample 700
    written twice (a repeated sample number, other values), samples 900-929 missing
    (a 3 s dropout), events "A" at 30 s and "B" at 60 s.
    """
    rng = np.random.default_rng(31)
    n = 1200
    samples = np.arange(n)
    t = samples / 10.0
    cols = _oxy_values(rng, t, 0.0)
    legend = ["(Sample number)", *(f"{name} (hold_recovery)" for name in OXY_TRACES), "(Event)"]
    header = _oxy_header("1329", "PortaMon TSI Fit Factor", n, legend)
    lines = ["\t".join(str(c) for c in row) for row in header]
    lines[4] = "Datafile sample rate:\t10.00\tHz"
    for i in samples:
        if 900 <= i < 930:
            continue
        values = [0.0] * len(cols) if i < 5 else [c[i] for c in cols]
        event = {300: "A", 600: "B"}.get(int(i), "")
        cells = [f"{i:6d}", *(f"{v:8.4f}" for v in values), event]
        lines.append("\t".join(cells))
        if i == 700:
            lines.append("\t".join([f"{i:6d}", *(f"{v + 0.05:8.4f}" for v in values), ""]))
    (out / "oxysoft_portamon.txt").write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")


def write_oxysoft_xlsx(out: Path) -> None:
    """oxysoft_two_portalites.xlsx: OxySoft .xlsx export of two PortaLites (serials 9322
    and 9323, the legend's ``[serial]`` prefixes), 10 Hz, 120 s; events "A" (hold) at 30 s
    and "B" (recovery) at 60 s, their labels in the unnumbered column after (Event);
    sample 700 written twice; samples 1000-1019 missing (a 2 s dropout).
    """
    import openpyxl

    rng = np.random.default_rng(37)
    n = 1200
    t = np.arange(n) / 10.0
    devices = {"9322": _oxy_values(rng, t, 0.0), "9323": _oxy_values(rng, t, -5.0)}
    legend = ["(Sample number)"]
    for serial in devices:
        legend += [f"[{serial}] {name.replace('-', ' - ', 1)}" for name in OXY_TRACES]
    legend.append("(Event)")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "hold_recovery"
    for row in _oxy_header("9322,9323", "PortaLite MKII", n, legend):
        ws.append(row)
    labels = {300: ("A", "hold"), 600: ("B", "recovery")}
    for i in range(n):
        if 1000 <= i < 1020:
            continue
        values = [float(round(c[i], 4)) for cols in devices.values() for c in cols]
        event, text = labels.get(i, (None, None))
        ws.append([i, *values, event, text])
        if i == 700:
            ws.append([i, *(round(v + 0.05, 4) for v in values), None, None])
    wb.properties.creator = "make_samples.py"
    wb.save(out / "oxysoft_two_portalites.xlsx")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--out", type=Path, default=HERE, help="folder to write to (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    write_moxy(args.out)
    write_trainred(args.out)
    write_oxysoft_txt(args.out)
    write_oxysoft_xlsx(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
