"""A folder of session files loaded for training: :class:`Dataset` and :func:`load_dataset`."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from host.session import MODEL_WAVELENGTHS_NM, DatasetError, SessionRecord, training_problems
from host.snirf_reader import read_session

Progress = Callable[[int, int, Path], None]


@dataclass(eq=False)
class Dataset:
    """Sessions read from a folder, concatenated for training.

    Per-sample arrays (N = total samples) are the sessions' arrays one after the other,
    in file-name order; ``session_index[i]`` says which record sample ``i`` came from.

    Attributes
    ----------
    records : list of SessionRecord
        The sessions, in file-name order, their wavelength columns in the order
        :func:`load_dataset` was asked for (the model's, by default).
    paths : list of pathlib.Path
        The file each record came from.
    wavelengths_nm, level_names, borg_thresholds : tuple
        Shared by every session (the loader checks it).
    t_s : ndarray, shape (N,)
        Time within its session, s.
    intensity_v, d_od : ndarray, shape (N, n_wl)
        Dark-subtracted light (V) and ΔOD per wavelength.
    dark_v, d_hbo2_um, d_hhb_um : ndarray, shape (N,)
        Dark level (V), ΔHbO2 and ΔHHb (µM).
    flags, level : ndarray of int64, shape (N,)
        Quality flags and fatigue level.
    session_index : ndarray of int64, shape (N,)
        Index into ``records``.
    subject_id : ndarray of str, shape (N,)
        Subject of each sample (for subject-wise splits).
    borg_t_s : ndarray, shape (M,)
        Borg report times within their session, s.
    borg : ndarray of int64, shape (M,)
        Borg CR10 ratings.
    borg_session_index : ndarray of int64, shape (M,)
        Index into ``records`` of each report.
    """

    records: list[SessionRecord]
    paths: list[Path]
    wavelengths_nm: tuple[float, ...]
    level_names: tuple[str, ...]
    borg_thresholds: tuple[int, ...]
    t_s: np.ndarray
    intensity_v: np.ndarray
    dark_v: np.ndarray
    d_od: np.ndarray
    d_hbo2_um: np.ndarray
    d_hhb_um: np.ndarray
    flags: np.ndarray
    level: np.ndarray
    session_index: np.ndarray
    subject_id: np.ndarray
    borg_t_s: np.ndarray
    borg: np.ndarray
    borg_session_index: np.ndarray

    def __len__(self) -> int:
        return int(self.t_s.size)

    @property
    def provenance(self) -> frozenset[str]:
        """The provenances of the sessions (``{"simulated"}``, ``{"human"}`` or both).

        Whatever is trained on this dataset must record it.
        """
        return frozenset(r.provenance for r in self.records)

    @property
    def subjects(self) -> tuple[str, ...]:
        """Distinct subject IDs, sorted."""
        return tuple(sorted({r.subject_id for r in self.records}))


def load_dataset(
    folder: str | os.PathLike,
    *,
    pattern: str = "*.snirf",
    progress: bool | Progress = False,
    wavelengths_nm: Sequence[float] | None = MODEL_WAVELENGTHS_NM,
) -> Dataset:
    """Read every session file in a folder and concatenate them.

    Files are read in sorted name order, so the result is the same on every machine.
    Nothing is skipped: a file that cannot be read stops the load with an error naming
    it, rather than a dataset that silently lacks it.

    Parameters
    ----------
    folder : path-like
        The dataset folder.
    pattern : str, optional
        Glob pattern of the session files in ``folder`` (not recursive unless the
        pattern says ``**``).
    progress : bool or callable, optional
        True prints ``load_dataset: i/n name`` to stderr per file; a callable is called
        as ``progress(i, n, path)`` after each file (i from 1). False: silent.
    wavelengths_nm : sequence of float or None, optional
        The wavelengths (nm) every file must hold, each once, and the column order the
        result has them in: by default :data:`MODEL_WAVELENGTHS_NM`, those the model's
        inputs are named after. A file that holds them in another order (a device
        configured ``wavelengths_nm = [870, 810, 750]`` writes them so) is matched by
        wavelength: its ``intensity_v`` and ``d_od`` columns and its ``wavelengths_nm`` are
        put in this order (columns at other wavelengths are left out); nothing else in
        its record changes. None: the files' own columns, as long as all files agree.

    Returns
    -------
    Dataset
        The concatenated sessions.

    Raises
    ------
    DatasetError
        If the folder does not exist or holds no matching file (naming the folder and
        the pattern), if a file cannot be read (naming the file), if a file lacks one of
        ``wavelengths_nm`` or holds it twice (naming the file, the wavelengths found and
        those needed), or if its wavelengths or Borg → level mapping differ from the first
        file's, or if a file is unlabelled (:func:`training_problems`: an unknown subject,
        protocol, side or provenance, or no Borg rating).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(folder, "no such dataset folder")
    paths = sorted(p for p in folder.glob(pattern) if p.is_file())
    if not paths:
        raise DatasetError(folder, f"no session files matching {pattern!r} in this folder")
    report = _progress_reporter(progress)
    records: list[SessionRecord] = []
    for i, path in enumerate(paths, start=1):
        record = read_session(path)
        problems = training_problems(record)
        if problems:
            raise DatasetError(
                path,
                f"not usable for training: {'; '.join(problems)} (a session file for "
                "reading and plotting, e.g. from 'python -m host export'; move it out of "
                "the dataset folder)",
            )
        if wavelengths_nm is not None:
            record = _in_wavelength_order(path, record, tuple(float(w) for w in wavelengths_nm))
        if records:
            _check_compatible(path, records[0], paths[0], record)
        records.append(record)
        report(i, len(paths), path)
    return _concatenate(records, paths)


def _progress_reporter(progress: bool | Progress) -> Progress:
    if callable(progress):
        return progress
    if progress:
        return lambda i, n, path: print(f"load_dataset: {i}/{n} {path.name}", file=sys.stderr)
    return lambda i, n, path: None


def _in_wavelength_order(
    path: Path, record: SessionRecord, needed: tuple[float, ...]
) -> SessionRecord:
    """``record`` with column k of ``intensity_v`` and ``d_od`` its column at ``needed[k]``
    nm, and ``wavelengths_nm`` = ``needed`` (the record itself when it is so already)."""
    found = tuple(record.wavelengths_nm)
    if found == needed:
        return record
    counts = [found.count(w) for w in needed]
    if counts != [1] * len(needed):
        text = ", ".join(f"{w:g}" for w in found)
        want = ", ".join(f"{w:g}" for w in needed)
        twice = ", each once" if max(counts) > 1 else ""
        raise DatasetError(
            path, f"holds wavelengths {text} nm; training and the model need {want} nm{twice}"
        )
    columns = [found.index(w) for w in needed]
    return replace(
        record,
        wavelengths_nm=needed,
        intensity_v=np.asarray(record.intensity_v)[:, columns],
        d_od=np.asarray(record.d_od)[:, columns],
    )


def _check_compatible(
    path: Path, first: SessionRecord, first_path: Path, rec: SessionRecord
) -> None:
    for name in ("wavelengths_nm", "level_names", "borg_thresholds"):
        if getattr(rec, name) != getattr(first, name):
            raise DatasetError(
                path,
                f"{name} {getattr(rec, name)} differs from {getattr(first, name)} in "
                f"{first_path.name}: one dataset needs one set of wavelengths and one "
                "Borg → level mapping",
            )


def _concatenate(records: list[SessionRecord], paths: list[Path]) -> Dataset:
    def cat(name: str, dtype: Any) -> np.ndarray:
        return np.concatenate([np.asarray(getattr(r, name), dtype=dtype) for r in records])

    counts = [r.n_samples for r in records]
    borg_counts = [int(np.size(r.borg)) for r in records]
    first = records[0]
    return Dataset(
        records=list(records),
        paths=list(paths),
        wavelengths_nm=first.wavelengths_nm,
        level_names=first.level_names,
        borg_thresholds=first.borg_thresholds,
        t_s=cat("t_s", np.float64),
        intensity_v=cat("intensity_v", np.float64),
        dark_v=cat("dark_v", np.float64),
        d_od=cat("d_od", np.float64),
        d_hbo2_um=cat("d_hbo2_um", np.float64),
        d_hhb_um=cat("d_hhb_um", np.float64),
        flags=cat("flags", np.int64),
        level=cat("level", np.int64),
        session_index=np.repeat(np.arange(len(records), dtype=np.int64), counts),
        subject_id=np.repeat(np.array([r.subject_id for r in records], dtype=np.str_), counts),
        borg_t_s=cat("borg_t_s", np.float64),
        borg=cat("borg", np.int64),
        borg_session_index=np.repeat(np.arange(len(records), dtype=np.int64), borg_counts),
    )
