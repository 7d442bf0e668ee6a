"""Read a session record: ``python -m host export REC.nrec [--out DIR] [--no-png]``.

A ``.nrec`` file is the crash-safe session record the wearable writes
(``out/session-*.nrec`` from the simulator's main job, ``[recording] dir`` on the board)
and ``python -m host collect`` writes beside its SNIRF file: a 16-byte header, then
records (frames, samples, predictions, events) each framed by a SYNC, its length and a
CRC32, as :mod:`device.session_format` describes. :func:`export` turns one into the
SNIRF layout of the dataset (:mod:`host.snirf_layout`) and a PNG of it
(:func:`host.plots.plot_session`): signals from the SAMPLE records, Borg ratings and
phases from collect's events, the device's header event and the read report in the
metadata. A damaged record costs only the records the damage touched
(:func:`device.session_reader.read_session_file`); the metadata says what was lost.

What the record does not say (the board's own record says only its provenance, "human";
the simulator's main job also the simulated subject, protocol and side; collect's all of
them) is written as ``unknown`` with a note, or taken from ``--subject``, ``--protocol``,
``--side``, ``--provenance``. A session with an unknown fact or no Borg rating says so in
its metadata (``not_for_training``) and :func:`host.dataset.load_dataset` refuses it.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from host.recover import read_record
from host.session import PROTOCOLS, PROVENANCES, SIDES, UNKNOWN
from host.snirf_writer import write_session

__all__ = ["ExportError", "Exported", "export", "main_args"]

#: The suffix of a session record.
RECORD_SUFFIX = ".nrec"


class ExportError(Exception):
    """A file that cannot be exported, or an output that is in the way; names the file."""


@dataclass
class Exported:
    """What :func:`export` wrote: the SNIRF file, and the PNG (None with ``png=False``)."""

    snirf: Path
    png: Path | None


def export(
    record_path: str | os.PathLike,
    out_dir: str | os.PathLike | None = None,
    *,
    png: bool = True,
    subject_id: str | None = None,
    protocol: str | None = None,
    side: str | None = None,
    provenance: str | None = None,
    log: Callable[[str], None] = print,
) -> Exported:
    """Write ``<out_dir>/<stem>.snirf`` and ``<stem>.png`` from a ``.nrec`` session record.

    Both files or neither: the PNG is drawn to a temporary name, the SNIRF file written
    atomically (:func:`host.snirf_writer.write_session`), then the PNG renamed; a failure
    removes what was written. An existing file is never replaced.

    Args:
        record_path: The ``.nrec`` file.
        out_dir: Folder for the two files (made if missing; default: the record's folder).
        png: Also draw the PNG.
        subject_id, protocol, side, provenance: Facts the record does not say (a fact it
            says differently is an error); what nothing says is "unknown".
        log: Where the read report, the notes and the lines saying what was written go.

    Raises:
        ExportError: Not a ``.nrec`` name, an empty file, or an output file that exists.
        device.session_format.SessionFileError: Not a session record, or unreadable.
        host.collect_records.CollectError: No sample in it, or a fact given that the
            record contradicts.
        host.session.DatasetError: The output cannot be written.
        ValueError: A fact the dataset rejects.
    """
    source = Path(record_path)
    if source.suffix != RECORD_SUFFIX:
        raise ExportError(
            f"{source}: not a {RECORD_SUFFIX} session record (export reads the {RECORD_SUFFIX} "
            "files the wearable and 'python -m host collect' write; a .snirf file is plotted "
            "by 'python -m host plot')"
        )
    if source.stat().st_size == 0:
        raise ExportError(f"{source}: empty file (0 bytes): no session was recorded in it")
    folder = Path(out_dir) if out_dir is not None else source.parent
    if folder.exists() and not folder.is_dir():
        raise ExportError(f"--out {folder}: not a folder")
    snirf_path = folder / f"{source.stem}.snirf"
    png_path = folder / f"{source.stem}.png" if png else None
    for path in (snirf_path, png_path):
        if path is not None and path.exists():
            raise ExportError(f"{path} exists; move it away or give --out another folder")
    back = read_record(
        source,
        log=log,
        subject_id=subject_id,
        protocol=protocol,
        side=side,
        provenance=provenance,
        unknown_ok=True,
    )
    record = back.record
    folder.mkdir(parents=True, exist_ok=True)
    tmp_png = _draw(record, png_path) if png_path is not None else None
    try:
        write_session(snirf_path, record)
        if tmp_png is not None:
            os.replace(tmp_png, png_path)
    except BaseException:
        if tmp_png is not None:
            tmp_png.unlink(missing_ok=True)
            if snirf_path.exists() and not png_path.exists():
                snirf_path.unlink()
        raise
    duration = float(record.t_s[-1] - record.t_s[0])
    who = ", ".join(
        f"{name} {value}" if value == UNKNOWN else value
        for name, value in (
            ("subject", record.subject_id),
            ("protocol", record.protocol),
            ("side", record.side),
        )
    )
    log(
        f"wrote {snirf_path}: {record.n_samples} samples over {duration:.1f} s, "
        f"{back.device_events} device events, {record.borg.size} Borg reports, "
        f"{len(record.phases)} phases; {who}; {record.provenance.upper()} data"
    )
    if png_path is not None:
        log(f"wrote {png_path}")
    return Exported(snirf_path, png_path)


def _draw(record, png_path: Path) -> Path:
    """The PNG of ``record`` under a temporary name beside ``png_path``."""
    from host.plots import plot_session

    fd, name = tempfile.mkstemp(dir=png_path.parent, prefix=f".{png_path.stem}.", suffix=".png")
    os.close(fd)
    tmp = Path(name)
    try:
        plot_session(record, tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def main_args(argv: list[str] | None = None) -> int:
    """``python -m host export ...``; returns the exit status (2: one line on stderr)."""
    import argparse

    from device.argtypes import existing_file, output_dir
    from device.errors import DeviceError
    from host.collect_records import CollectError
    from host.session import DatasetError

    parser = argparse.ArgumentParser(
        prog="python -m host export",
        description="Read a .nrec session record (the wearable's own, e.g. out/session-*.nrec, "
        "or collect's; intact or damaged) and write it as a SNIRF file and a PNG plot. The "
        ".nrec format: device/session_format.py; the SNIRF layout: host/snirf_layout.py.",
    )
    parser.add_argument("record", type=existing_file, help="the .nrec session record")
    parser.add_argument(
        "--out",
        type=output_dir,
        default=None,
        metavar="DIR",
        help="folder for <name>.snirf and <name>.png, made if missing "
        "(default: the record's folder)",
    )
    parser.add_argument(
        "--no-png", action="store_true", help="write only the SNIRF file (default: also the PNG)"
    )
    told = "if the record does not say it (default: what the record says, else 'unknown')"
    parser.add_argument("--subject", help=f"subject code, e.g. S01, {told}")
    parser.add_argument("--protocol", choices=PROTOCOLS, help=f"the protocol, {told}")
    parser.add_argument("--side", choices=SIDES, help=f"the limb's side, {told}")
    parser.add_argument(
        "--provenance", choices=PROVENANCES, help=f"human or simulated data, {told}"
    )
    args = parser.parse_args(argv)
    try:
        export(
            args.record,
            args.out,
            png=not args.no_png,
            subject_id=args.subject,
            protocol=args.protocol,
            side=args.side,
            provenance=args.provenance,
            log=lambda line: print(line, flush=True),
        )
    except (ExportError, CollectError, DatasetError, DeviceError, OSError, ValueError) as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    return 0
