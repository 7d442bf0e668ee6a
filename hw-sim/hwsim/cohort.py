"""Simulated cohort: virtual subjects through every protocol, recorded by the device.

Each session is played on a simulated board and recorded through the full chain:
the device's own drivers multiplex the LEDs and read every ADS1114 conversion over
the simulated I²C bus, and the device's measurement chain turns the frames into
ΔOD, HbO2 and HHb. Nothing goes from the simulated concentrations to the dataset
by a shortcut. Every file says ``provenance = simulated``.

    python -m hwsim.cohort --out data/cohort --subjects 50 --seed 2025 [--jobs 2] [--replace]

The simulator's command (issue 19: one home for the simulation runners, beside
:mod:`hwsim.wearable` and :mod:`hwsim.bench`); ``host`` reads the files it writes and
imports nothing from ``hwsim``.

A folder that already holds session files is refused unless ``--replace`` is given: a
smaller cohort written over a larger one would leave the old sessions beside the new,
and ``lmm`` and ``train`` read every session in the folder.

Sessions are seeded individually (subject, protocol, side; :mod:`hwsim.session_seed`),
so the result does not depend on the order the worker processes finish in.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from device.chain import ChainConfig, process_recording
from device.labels import DEFAULT_MAPPING, FatigueMapping
from host.session import DatasetError, SessionRecord
from host.snirf_reader import read_session
from host.snirf_writer import write_session
from hwsim.physiology import SessionTruth
from hwsim.protocols import PROTOCOLS
from hwsim.rig import wire
from hwsim.session_seed import SessionSeed

SIMULATOR_VERSION = "hwsim-2"


@dataclass(frozen=True)
class SessionSpec:
    """One session to generate."""

    seed: int
    subject_index: int
    protocol: str
    side: str

    @property
    def subject_id(self) -> str:
        return f"S{self.subject_index + 1:02d}"

    @property
    def filename(self) -> str:
        return f"{self.subject_id}_{self.protocol}_{self.side}.snirf"

    @property
    def seeding(self) -> SessionSeed:
        """Where this session's randomness comes from (:mod:`hwsim.session_seed`): the
        subject is named by its code ("S08"), so the main job's subject 7 (named by its
        number) is not one of the cohort's and the bundled model never trained on it."""
        return SessionSeed(self.seed, self.subject_id, self.protocol, self.side)


def plan(
    seed: int, n_subjects: int, protocols: Iterable[str] = tuple(PROTOCOLS)
) -> list[SessionSpec]:
    """Every (subject, protocol, side) session of a cohort, in a fixed order."""
    if n_subjects < 1:
        raise ValueError(f"n_subjects must be >= 1, got {n_subjects}")
    specs = []
    for i in range(n_subjects):
        for name in protocols:
            if name not in PROTOCOLS:
                raise ValueError(f"unknown protocol {name!r}; choose from {sorted(PROTOCOLS)}")
            specs += [SessionSpec(seed, i, name, side) for side in PROTOCOLS[name].sides]
    return specs


def simulate_truth(spec: SessionSpec) -> SessionTruth:
    """The physiology of one session (deterministic in the spec)."""
    return spec.seeding.truth()


def record_session(
    spec: SessionSpec, *, mapping: FatigueMapping = DEFAULT_MAPPING
) -> tuple[SessionRecord, SessionTruth]:
    """Play one session on a simulated board and record it through the device's chain."""
    truth = simulate_truth(spec)
    board = spec.seeding.board(truth, with_oled=False)

    mux = wire(board).multiplexer()
    mux.start()
    frames = list(mux.run(truth.duration_s))
    config = ChainConfig(baseline_s=truth.phases[0].duration_s)
    res = process_recording(frames, config)  # lists, one item per 10 Hz sample
    t_s = np.asarray(res.t_s, dtype=float)

    borg_t = np.asarray(truth.borg.t_s, dtype=float)
    borg = np.asarray(truth.borg.rating, dtype=np.int64)
    level = np.asarray(mapping.level(truth.borg.rating_at(t_s)), dtype=np.int64)
    phases = [
        (p.kind, float(t0), float(p.duration_s)) for p, t0 in zip(truth.phases, truth.phase_start_s)
    ]
    muscle = truth.muscle
    record = SessionRecord(
        subject_id=spec.subject_id,
        protocol=spec.protocol,
        side=spec.side,
        provenance="simulated",
        wavelengths_nm=tuple(float(w) for w in config.wavelengths_nm),
        t_s=t_s,
        intensity_v=np.asarray(res.intensity_v, dtype=float),
        dark_v=np.asarray(res.dark_v, dtype=float),
        d_od=np.asarray(res.d_od, dtype=float),
        d_hbo2_um=np.asarray(res.d_hbo2_um, dtype=float),
        d_hhb_um=np.asarray(res.d_hhb_um, dtype=float),
        flags=np.asarray(res.flags, dtype=np.int64),
        borg_t_s=borg_t,
        borg=borg,
        level=level,
        level_names=tuple(mapping.names),
        borg_thresholds=tuple(mapping.max_borg),
        phases=phases,
        task_failure_s=math.nan if truth.task_failure_s is None else float(truth.task_failure_s),
        metadata={
            "seed": spec.seed,
            "simulator": SIMULATOR_VERSION,
            "dpf_true": float(truth.dpf),
            "adipose_factor": float(muscle.adipose_factor),
            "rest_smo2_true": float(muscle.rest_smo2),
            "endurance_s": float(truth.endurance_s[0]) if truth.endurance_s else math.nan,
            "conversions_lost": int(mux.stats.lost),
        },
    )
    return record, truth


def _generate_one(spec: SessionSpec, out: str) -> tuple[str, int, float]:
    t0 = time.perf_counter()
    record, _ = record_session(spec)
    path = Path(out) / spec.filename
    write_session(path, record)
    return spec.filename, path.stat().st_size, time.perf_counter() - t0


def clear_folder(out: Path, *, replace: bool, report: Callable[[str], None]) -> None:
    """Make ``out`` a folder without session files, before any session is simulated.

    Raises:
        host.session.DatasetError: ``out`` is a file, or holds ``*.snirf`` files and
            ``replace`` is False, or some of them are not simulated sessions (a person's
            recordings are never deleted; nothing is deleted then).
    """
    if out.exists() and not out.is_dir():
        raise DatasetError(out, "is a file; the cohort needs a folder")
    old = sorted(out.glob("*.snirf")) if out.is_dir() else []
    if old and not replace:
        raise DatasetError(
            out,
            f"already holds {len(old)} session file(s) ({old[0].name} ...), which lmm and "
            "train would read with the new ones: give another --out, or --replace to "
            "delete them first",
        )
    kept = [p.name for p in old if _provenance(p) != "simulated"]
    if kept:
        raise DatasetError(
            out,
            f"--replace deletes only simulated sessions, and {len(kept)} file(s) here are not "
            f"({', '.join(kept[:3])}{' ...' if len(kept) > 3 else ''}): move them away, or "
            "give another --out",
        )
    for path in old:
        path.unlink()
    if old:
        report(f"removed {len(old)} earlier session file(s) from {out} (--replace)")
    out.mkdir(parents=True, exist_ok=True)


def _provenance(path: Path) -> str:
    """A session file's provenance ("simulated", "human", ...), or "unreadable"."""
    try:
        return read_session(path).provenance
    except DatasetError:
        return "unreadable"


def generate_cohort(
    out: Path,
    *,
    n_subjects: int = 50,
    seed: int = 2025,
    jobs: int | None = None,
    protocols: Iterable[str] = tuple(PROTOCOLS),
    progress: Callable[[str], None] | None = None,
    replace: bool = False,
) -> list[Path]:
    """Generate and write a cohort; return the session files in plan order.

    Raises:
        host.session.DatasetError: ``out`` already holds session files and ``replace``
            is False (:func:`clear_folder`).
    """
    specs = plan(seed, n_subjects, protocols)
    report = progress or (lambda line: print(line, file=sys.stderr, flush=True))
    clear_folder(out, replace=replace, report=report)
    jobs = jobs or os.cpu_count() or 1
    t0 = time.perf_counter()
    done = 0
    if jobs == 1:
        results = (_generate_one(s, str(out)) for s in specs)
    else:
        pool = ProcessPoolExecutor(max_workers=jobs)
        futures = [pool.submit(_generate_one, s, str(out)) for s in specs]
        results = (f.result() for f in as_completed(futures))
    try:
        for name, size, _ in results:
            done += 1
            elapsed = time.perf_counter() - t0
            eta = elapsed / done * (len(specs) - done)
            report(
                f"[{done:3d}/{len(specs)}] {name} ({size / 1e3:.0f} kB)  "
                f"elapsed {elapsed:5.0f} s, about {eta:4.0f} s left"
            )
    finally:
        if jobs != 1:
            pool.shutdown(cancel_futures=True)
    return [out / s.filename for s in specs]


def main(argv: list[str] | None = None) -> int:
    """``python -m hwsim.cohort ...``; returns the exit status (2: one line on stderr)."""
    from device.argtypes import non_negative_int, positive_int

    parser = argparse.ArgumentParser(
        prog="python -m hwsim.cohort",
        description="Simulated subjects through the seed's holds and the sessions in which "
        "nobody tires (hwsim.protocols), each session recorded "
        "by the device's own drivers and chain on a simulated board: one SNIRF file per "
        "subject, protocol and side (SIMULATED data).",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("data/cohort"),
        help="folder for the session files; refused if it already holds some, unless "
        "--replace (default: %(default)s)",
    )
    parser.add_argument(
        "--subjects",
        type=positive_int,
        default=50,
        help="simulated subjects; each gives one session per protocol and side "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--seed",
        type=non_negative_int,
        default=2025,
        help="random seed; the same seed gives the same cohort (default: %(default)s)",
    )
    parser.add_argument(
        "--jobs",
        type=positive_int,
        default=None,
        help=f"worker processes (default: all cores, here {os.cpu_count() or 1})",
    )
    parser.add_argument(
        "--replace",
        action="store_true",
        help="delete the simulated sessions already in --out first; a person's recordings "
        "stop it (default: refuse)",
    )
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    try:
        files = generate_cohort(
            args.out,
            n_subjects=args.subjects,
            seed=args.seed,
            jobs=args.jobs,
            replace=args.replace,
        )
    except (DatasetError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    size = sum(f.stat().st_size for f in files)
    print(
        f"{len(files)} simulated sessions of {args.subjects} subjects in {args.out} "
        f"({size / 1e6:.1f} MB) in {time.perf_counter() - t0:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
