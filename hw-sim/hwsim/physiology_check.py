"""Simulated muscle beside published human figures: the yardstick of issue 19's recalibration.

``python -m hwsim.physiology_check --subjects 20 --out check.png`` simulates, for
``--subjects`` virtual people (:mod:`hwsim.physiology`, the truth the sensor sees: no
board, no device chain), the seed's upper-limb hold, a passive cuff occlusion and light
dynamic work, and measures in each session what issue 19 compares with real recordings;
it prints one row per measure (simulated median and range, the published range, how
many sessions fall inside), the between-person spread of the hold's deoxygenation, and
draws one panel per measure: every session a dot, the published range a band.
Everything simulated is labelled SIMULATED.

The measures of the hold (:func:`hold_measures`), on the first hold of a session, against
the mean of the baseline phase before it:

- ``end_d_hbo2_um``, ``end_d_hhb_um``: ΔHbO2 and ΔHHb over the hold's last 2 s, µM;
- ``onset_d_thb_um``: the lowest ΔtHb in the hold's first 3 s, µM (< 0: blood squeezed out
  by the intramuscular pressure);
- ``desat_pp_per_s``: SmO2 fall over the hold's first 5 s, percentage points per second;
- ``hyperaemia_d_hbo2_um``, ``hyperaemia_d_smo2_pp``: highest ΔHbO2 (µM) and ΔSmO2 (pp)
  in the 60 s after the hold;
- ``onset_rebound_thb_um``: the highest ΔtHb 3–15 s into the hold less the lowest in its
  first 3 s, µM (> 0: the early hyperaemic phase after the squeeze);
- ``rest_smo2_pct``: SmO2 over the baseline, %;
- ``estimate_clipped_s``: seconds in which the device's SmO2 *estimate*
  (:func:`device.mbll.smo2_percent` with its assumed resting baseline) implies a negative
  absolute concentration (``host plot`` warns of these).

Of the sessions that are not fatigue (:func:`cuff_measures`, :func:`work_measures`):

- ``cuff_desat_pp_per_s``: SmO2 fall under the cuff, from its first to its last 5 s,
  percentage points per second;
- ``cuff_hyperaemia_d_hbo2_um``: highest ΔHbO2 in the 60 s after the cuff's release, µM;
- ``work_d_thb_um``: mean ΔtHb over the last 30 s of light dynamic work, µM.

The published ranges (:data:`PUBLISHED`) are the figures issue 19 states from human
recordings, each with the source the issue or its references give; a range marked
*issue* is the issue's summary of published recordings whose primary source the
recalibration is to cite (the notes of the literature search go with it).
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hwsim.cohort import SessionSpec
from hwsim.physiology import SessionTruth
from hwsim.protocols import CUFF_OCCLUSION, LIGHT_WORK, UPPER_LIMB

__all__ = [
    "MEASURES",
    "PUBLISHED",
    "Published",
    "cuff_measures",
    "hold_measures",
    "main",
    "simulate_measures",
    "work_measures",
]

#: The measures :func:`hold_measures` returns, in order, with their axis label.
MEASURES = {
    "end_d_hbo2_um": "ΔHbO2 at the hold's end (µM)",
    "end_d_hhb_um": "ΔHHb at the hold's end (µM)",
    "onset_d_thb_um": "lowest ΔtHb, hold's first 3 s (µM)",
    "desat_pp_per_s": "SmO2 fall, hold's first 5 s (pp/s)",
    "hyperaemia_d_hbo2_um": "HbO2 overshoot after release (µM)",
    "hyperaemia_d_smo2_pp": "SmO2 overshoot after release (pp)",
    "onset_rebound_thb_um": "ΔtHb rebound after the onset squeeze (µM)",
    "rest_smo2_pct": "resting SmO2 (%)",
    "estimate_clipped_s": "device's SmO2 estimate out of range (s)",
    "cuff_desat_pp_per_s": "SmO2 fall under a cuff at rest (pp/s)",
    "cuff_hyperaemia_d_hbo2_um": "HbO2 overshoot after the cuff (µM)",
    "work_d_thb_um": "ΔtHb in light dynamic work (µM)",
}
#: Windows of the measures, s.
END_WINDOW_S = 2.0
ONSET_WINDOW_S = 3.0
REBOUND_WINDOW_S = 15.0
CUFF_EDGE_S = 5.0
WORK_END_WINDOW_S = 30.0
#: Between-person spread of a work deoxygenation, coefficient of variation: Celie 2012's
#: 45.6 ± 16.7 % of the occlusion amplitude (SD / mean, n = 20).
PUBLISHED_SPREAD_CV = 16.7 / 45.6
DESAT_WINDOW_S = 5.0
RECOVERY_WINDOW_S = 60.0


@dataclass(frozen=True)
class Published:
    """A published range of one measure: ``low``–``high`` in the measure's unit."""

    low: float
    high: float
    source: str


#: Issue 19's figures from human recordings. Work amplitudes: handgrip to exhaustion
#: deoxygenates to 45.6 ± 16.7 % of the arterial-occlusion amplitude (Celie B, Boone J,
#: Van Coster R, Bourgois J 2012, "Reliability of near infrared spectroscopy (NIRS) for
#: measuring forearm oxygenation during incremental handgrip exercise", Eur J Appl Physiol
#: 112:2369–74, n = 20; incremental *cyclic* handgrip, not a sustained hold; the mean
#: ± 1 SD taken as the range) of a thigh occlusion's −38 / +37 µM (issue). Onset: tHb
#: falls at a contraction's start (intramuscular pressure; the issue), any fall counts.
#: Desaturation 0.5–1.9 pp/s in real exercise recordings (issue). Reactive hyperaemia:
#: +19 µM HbO2 after occlusion, +5 to +21 pp SmO2 after intervals (issue; the HbO2 band
#: ±50 % around 19, assumption).
#: Onset rebound: the early hyperaemic phase of elbow flexion (issue 19), any rise counts.
#: Cuff: forearm StO2 fell 6.4 ± 1.7 and 10.0 ± 3.2 %/min during a 3-min upper-arm
#: occlusion (15 and 25 mm probes; a copy of the paper in docs/physiology_sources.md §2,
#: original not identified): the union of mean ± 1 SD. Light work: biceps Hbtot rose from
#: rest at 20 % MVC intermittent contractions (Front. Physiol. 2014;5:190), any rise counts.
#: Resting SmO2: vastus lateralis TOI 65.3 ± 7.0 % (women, n = 28) and 61.9 ± 5.1 % (men,
#: n = 62) by spatially resolved NIRS at 4 cm (Adv Exp Med Biol 2010;662:177–81,
#: doi:10.1007/978-1-4419-1241-1_25; the union of mean ± 1 SD).
#: The device's estimate should never leave its range (0 s).
_CELIE = "Celie 2012 × occlusion (issue, unverified)"
PUBLISHED = {
    "end_d_hbo2_um": Published(-38 * 0.623, -38 * 0.289, _CELIE),
    "end_d_hhb_um": Published(37 * 0.289, 37 * 0.623, _CELIE),
    "onset_d_thb_um": Published(-math.inf, 0.0, "a fall at onset (issue)"),
    "desat_pp_per_s": Published(0.5, 1.9, "issue's figure, source not found"),
    "hyperaemia_d_hbo2_um": Published(9.5, 28.5, "+19 µM: issue's figure, unverified"),
    "hyperaemia_d_smo2_pp": Published(5.0, 21.0, "issue's figure, source not found"),
    "onset_rebound_thb_um": Published(0.0, math.inf, "early hyperaemic phase (issue)"),
    "rest_smo2_pct": Published(56.8, 72.3, "thigh TOI, SRS, n = 90"),
    "estimate_clipped_s": Published(0.0, 0.0, "an estimate stays in range"),
    "cuff_desat_pp_per_s": Published(4.7 / 60, 13.2 / 60, "forearm, 3-min cuff (sources §2)"),
    "cuff_hyperaemia_d_hbo2_um": Published(9.5, 28.5, "+19 µM: issue's figure, unverified"),
    "work_d_thb_um": Published(0.0, math.inf, "Hbtot up at 20 % MVC (2014)"),
}


def hold_measures(truth: SessionTruth) -> dict[str, float]:
    """The :data:`MEASURES` of the first hold of ``truth`` (module docstring).

    Raises:
        ValueError: The session has no baseline before its first hold, or no samples in a
            window (a hold shorter than 5 s).
    """
    from device.mbll import smo2_percent

    kinds = [p.kind for p in truth.phases]
    k = kinds.index("hold")
    if k == 0 or truth.phases[k - 1].kind != "baseline":
        raise ValueError(f"{truth.protocol.name}: no baseline phase just before the first hold")
    return window_measures(
        truth.t_s,
        truth.hbo2_um,
        truth.hhb_um,
        baseline=(truth.phase_start_s[k - 1], truth.phase_start_s[k]),
        hold=(truth.phase_start_s[k], truth.phase_start_s[k] + truth.phases[k].duration_s),
        estimate=lambda d_hbo2, d_hhb: _quiet_estimate(smo2_percent, d_hbo2, d_hhb),
    )


def _quiet_estimate(smo2_percent, d_hbo2: np.ndarray, d_hhb: np.ndarray) -> np.ndarray:
    """The device's estimate, NaN where out of range, without its warning (counted here)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(smo2_percent(list(d_hbo2), list(d_hhb), impossible="nan"), float)


def window_measures(
    t_s: np.ndarray,
    hbo2_um: np.ndarray,
    hhb_um: np.ndarray,
    *,
    baseline: tuple[float, float],
    hold: tuple[float, float],
    estimate=None,
) -> dict[str, float]:
    """The measures of arrays ``hbo2_um``, ``hhb_um`` (µM, shape (n,)) at ``t_s`` (s)
    with the baseline and hold given as (start, end), s. ``estimate(d_hbo2, d_hhb)``
    gives the device's SmO2 estimate (NaN where out of range); None: not measured (NaN).

    Raises:
        ValueError: A window holds no sample.
    """
    t = np.asarray(t_s, dtype=float)
    hbo2, hhb = np.asarray(hbo2_um, dtype=float), np.asarray(hhb_um, dtype=float)
    thb = hbo2 + hhb
    smo2 = 100.0 * hbo2 / thb

    def window(a: float, b: float) -> np.ndarray:
        mask = (t >= a) & (t < b)
        if not mask.any():
            raise ValueError(f"no sample between {a:g} and {b:g} s")
        return mask

    base = window(*baseline)
    start, end = hold
    h0, h1 = hbo2[base].mean(), hhb[base].mean()
    s0, t0 = smo2[base].mean(), thb[base].mean()
    last = window(end - END_WINDOW_S, end)
    onset = window(start, start + ONSET_WINDOW_S)
    rebound = window(start + ONSET_WINDOW_S, start + REBOUND_WINDOW_S)
    first = window(start, start + DESAT_WINDOW_S)
    after = window(end, end + RECOVERY_WINDOW_S)
    early = smo2[first]
    clipped = math.nan
    if estimate is not None:
        est = estimate(hbo2 - h0, hhb - h1)
        rate = 1.0 / np.median(np.diff(t))
        clipped = float(np.isnan(est).sum() / rate)
    return {
        "end_d_hbo2_um": float(hbo2[last].mean() - h0),
        "end_d_hhb_um": float(hhb[last].mean() - h1),
        "onset_d_thb_um": float(thb[onset].min() - t0),
        "desat_pp_per_s": float((early[0] - early[-1]) / (t[first][-1] - t[first][0])),
        "hyperaemia_d_hbo2_um": float(hbo2[after].max() - h0),
        "hyperaemia_d_smo2_pp": float(smo2[after].max() - s0),
        "onset_rebound_thb_um": float(thb[rebound].max() - thb[onset].min()),
        "rest_smo2_pct": float(s0),
        "estimate_clipped_s": clipped,
    }


def _phase_window(truth: SessionTruth, kind: str) -> tuple[float, float]:
    """(start, end) of the first phase of ``kind``, s."""
    k = [p.kind for p in truth.phases].index(kind)
    return truth.phase_start_s[k], truth.phase_start_s[k] + truth.phases[k].duration_s


def cuff_measures(truth: SessionTruth) -> dict[str, float]:
    """``cuff_desat_pp_per_s`` and ``cuff_hyperaemia_d_hbo2_um`` of a session with an
    ``occlusion`` phase after its baseline (module docstring)."""
    t, hbo2 = truth.t_s, truth.hbo2_um
    smo2 = 100.0 * truth.smo2
    base = (t >= 0) & (t < _phase_window(truth, "baseline")[1])
    start, end = _phase_window(truth, "occlusion")
    first = (t >= start) & (t < start + CUFF_EDGE_S)
    last = (t >= end - CUFF_EDGE_S) & (t < end)
    after = (t >= end) & (t < end + RECOVERY_WINDOW_S)
    return {
        "cuff_desat_pp_per_s": float(
            (smo2[first].mean() - smo2[last].mean()) / (end - start - CUFF_EDGE_S)
        ),
        "cuff_hyperaemia_d_hbo2_um": float(hbo2[after].max() - hbo2[base].mean()),
    }


def work_measures(truth: SessionTruth) -> dict[str, float]:
    """``work_d_thb_um`` of a session with a ``dynamic`` phase after its baseline."""
    t, thb = truth.t_s, truth.thb_um
    base = (t >= 0) & (t < _phase_window(truth, "baseline")[1])
    start, end = _phase_window(truth, "dynamic")
    last = (t >= max(start, end - WORK_END_WINDOW_S)) & (t < end)
    return {"work_d_thb_um": float(thb[last].mean() - thb[base].mean())}


def simulate_measures(n_subjects: int, seed: int) -> list[dict[str, float]]:
    """The :data:`MEASURES` of ``n_subjects`` simulated people: their upper-limb hold (left
    arm), cuff occlusion and light work, each seeded as :mod:`hwsim.cohort` seeds it."""
    rows = []
    for i in range(n_subjects):
        hold, cuff, work = (
            SessionSpec(seed, i, p.name, p.sides[0]).seeding.truth()
            for p in (UPPER_LIMB, CUFF_OCCLUSION, LIGHT_WORK)
        )
        row = hold_measures(hold) | cuff_measures(cuff) | work_measures(work)
        rows.append({key: row[key] for key in MEASURES})
    return rows


def spread_line(rows: list[dict[str, float]]) -> str:
    """Between-person CV of the hold's ΔHHb beside the published one."""
    values = np.array([r["end_d_hhb_um"] for r in rows], dtype=float)
    cv = float(values.std(ddof=1) / values.mean()) if len(values) > 1 else math.nan
    return (
        f"between-person spread of ΔHHb at the hold's end (SD/mean): SIMULATED {cv:.2f}, "
        f"published {PUBLISHED_SPREAD_CV:.2f} (Celie 2012, 45.6 ± 16.7 % of occlusion, n = 20)"
    )


def table(rows: list[dict[str, float]]) -> list[str]:
    """One line per measure: simulated median [min–max], published range, share inside."""
    lines = [
        f"{'measure (SIMULATED vs published)':44s} {'median':>8s} {'range':>19s}  "
        "published (or the issue's figure where no source was found: docs/physiology_sources.md)"
    ]
    for key, label in MEASURES.items():
        values = np.array([r[key] for r in rows], dtype=float)
        pub = PUBLISHED[key]
        inside = int(((values >= pub.low) & (values <= pub.high)).sum())
        lines.append(
            f"{label:44s} {np.median(values):8.2f} [{values.min():7.2f}, {values.max():7.2f}]  "
            f"{pub.low:.3g} to {pub.high:.3g} ({pub.source}): {inside} of {len(values)} inside"
        )
    return lines


def plot(rows: list[dict[str, float]], path: Path, title: str) -> None:
    """One panel per measure: the sessions as dots, the published range as a band."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 9.5), layout="constrained")
    axes = fig.subplots(3, 4).ravel()
    rng = np.random.default_rng(0)  # the dots' sideways jitter only
    for ax, (key, label) in zip(axes, MEASURES.items(), strict=True):
        values = np.array([r[key] for r in rows], dtype=float)
        pub = PUBLISHED[key]
        low = pub.low if math.isfinite(pub.low) else min(values.min(), pub.high) - 5
        high = pub.high if math.isfinite(pub.high) else max(values.max(), pub.low) + 5
        ax.axhspan(low, high + (0.2 if pub.low == pub.high else 0), color="tab:green",
                   alpha=0.25, label="published (or the issue's)")  # fmt: skip
        ax.scatter(rng.uniform(-0.2, 0.2, len(values)), values, s=14, color="tab:red",
                   label="SIMULATED")  # fmt: skip
        ax.set_xlim(-1, 1)
        ax.set_xticks([])
        ax.set_title(label, fontsize=8)
        ax.text(0.02, 0.02, pub.source, transform=ax.transAxes, fontsize=6, color="0.3")
    axes[0].legend(fontsize=7, loc="upper right")
    fig.suptitle(title, fontsize=10)
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    """``python -m hwsim.physiology_check``; returns the exit status."""
    from device.argtypes import non_negative_int, positive_int

    parser = argparse.ArgumentParser(
        prog="python -m hwsim.physiology_check",
        description="Simulated muscle (hwsim.physiology: the seed's upper-limb hold, a cuff "
        "occlusion, light work) beside the published figures issue 19 names: a table and a "
        "PNG of one panel per measure.",
    )
    parser.add_argument(
        "--subjects", type=positive_int, default=20, help="simulated people (default: %(default)s)"
    )
    parser.add_argument(
        "--seed", type=non_negative_int, default=2025, help="their seed (default: %(default)s)"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="the PNG, never replaced (default: none)"
    )
    args = parser.parse_args(argv)
    if args.out is not None:
        problem = None
        if args.out.exists():
            problem = "exists; move it away or give --out another name"
        elif args.out.suffix.lower() != ".png":
            problem = "not a .png name; the figure is a PNG (e.g. --out check.png)"
        elif not args.out.parent.is_dir():
            problem = f"its folder {args.out.parent} does not exist; make it or choose another"
        if problem:
            print(f"error: {args.out}: {problem}", file=sys.stderr)
            return 2
    rows = simulate_measures(args.subjects, args.seed)
    for line in table(rows):
        print(line)
    print(spread_line(rows))
    if args.out is not None:
        title = (
            f"SIMULATED muscle ({args.subjects} subjects, seed {args.seed}: upper-limb hold, "
            "cuff occlusion, light work) against published human figures"
        )
        plot(rows, args.out, title)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
