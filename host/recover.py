"""Rebuild a collected session's SNIRF file from its ``.nrec`` record alone.

``python -m host collect --recover NREC`` (:func:`host.collect.main_args`) calls
:func:`rebuild` here: for a host that crashed mid-session, or a record damaged since.
The records are read with :func:`device.session_reader.read_session_file` (damage
costs only the records it touches) and fed to the same
:class:`host.collect_records.CollectedSession` that :func:`host.collect.collect` feeds
live, so a rebuilt file is the live one less what was lost. If the record's header
event is lost, the session facts come from the command line or from the file name
:func:`host.collect.collect` gave, each guess noted.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

from device.codec import HEADER_EVENT, RecordKind
from device.labels import DEFAULT_MAPPING
from device.session_reader import read_session_file
from host.collect_records import (
    HEADER_KEY,
    SUBJECT_ID_PATTERN,
    CollectedSession,
    CollectError,
    SessionFacts,
    check_identity,
)
from host.dataset import PROTOCOLS, SIDES, write_session

__all__ = ["rebuild"]

#: The name :func:`host.collect.collect` gives its files:
#: ``<subject>_<protocol>_<side>[_<n>].nrec``.
_RECORD_NAME = re.compile(
    rf"(?P<subject_id>{SUBJECT_ID_PATTERN.pattern})_(?P<protocol>{'|'.join(PROTOCOLS)})"
    rf"_(?P<side>{'|'.join(SIDES)})(?:_[0-9]+)?"
)


def rebuild(
    record_path: str | os.PathLike,
    out_path: str | os.PathLike | None = None,
    *,
    log: Callable[[str], None] = print,
    subject_id: str | None = None,
    protocol: str | None = None,
    side: str | None = None,
    provenance: str | None = None,
) -> Path:
    """Write the SNIRF file of a session from its ``.nrec`` record alone.

    For a host that crashed mid-session, or a record damaged since: whatever the
    damage (:func:`device.session_reader.read_session_file` skips it and says where), every
    intact record is used, and the SNIRF's metadata says what was lost
    (``record_damage``). If the record's own header event, which holds the subject,
    protocol, side, provenance and Borg mapping, is lost, they come from the
    arguments below, else from the file name :func:`host.collect.collect` gave, provenance
    "human" and the default mapping; each such guess is logged as a note and kept
    in the metadata (``recovery_note``).

    Args:
        record_path: The ``.nrec`` file written by :func:`host.collect.collect`.
        out_path: SNIRF file to write (default: beside the record, same name).
        log: Where the one-line report and notes go.
        subject_id, protocol, side, provenance: Used only if the record's header
            event is lost.

    Raises:
        device.session_format.SessionFileError: Not a session record (names the file).
        CollectError: Not made by collect, no sample survives, ``out_path`` exists,
            or the header event is lost and nothing says the subject, protocol and
            side.
        ValueError: A subject_id, protocol, side or provenance the dataset rejects.
    """
    record_path = Path(record_path)
    out = Path(out_path) if out_path is not None else record_path.with_suffix(".snirf")
    if out.exists():
        raise CollectError(f"{out} exists; move it away or name another output")
    data = read_session_file(record_path)
    report = data.report
    log(report.describe())
    records = data.records
    if not records:
        raise CollectError(
            f"{record_path}: no record to rebuild from ({report.summary()}); no SNIRF file written"
        )
    index = next(
        (
            i
            for i, r in enumerate(records)
            if r.kind is RecordKind.EVENT
            and r.fields.name == HEADER_EVENT
            and HEADER_KEY in r.fields.data
        ),
        None,
    )
    notes: list[str] = []
    if index is not None:
        who = SessionFacts.from_info(dict(records[index].fields.data), str(record_path))
        records = records[:index] + records[index + 1 :]
    else:  # the wearable's own record, or collect's with its start damaged
        who, notes = _identity_without_header(record_path, subject_id, protocol, side, provenance)
    for note in notes:
        log(f"note: {note}")
    session = CollectedSession()
    seen: set[str] = set()
    repeated = 0
    for record in records:  # a run of records written twice (a copy gone wrong) counts once
        key = repr(record)
        if key in seen:
            repeated += 1
            continue
        seen.add(key)
        session.add(record)
    if repeated:
        notes.append(f"{repeated} record(s) found twice in the file; each used once")
        log(f"note: {notes[-1]}")
    if not session.samples:
        raise CollectError(
            f"{record_path}: no sample survives ({report.summary()}); no SNIRF file written"
        )
    result = session.to_record(who, record_path.name)
    if not report.intact:
        result.metadata["record_damage"] = report.summary()
    if notes:
        result.metadata["recovery_note"] = "; ".join(notes)
    path = write_session(out, result)
    log(f"wrote {path}: {result.n_samples} samples, {result.borg.size} Borg reports")
    return path


def _identity_without_header(
    record_path: Path,
    subject_id: str | None,
    protocol: str | None,
    side: str | None,
    provenance: str | None,
) -> tuple[SessionFacts, list[str]]:
    """The session facts of a record whose header event is lost, and notes saying whence."""
    named = _RECORD_NAME.fullmatch(record_path.stem)
    facts = {"subject_id": subject_id, "protocol": protocol, "side": side}
    from_name, given = [], []
    for key, value in facts.items():
        label = "subject" if key == "subject_id" else key
        if value is not None:
            given.append(f"{label} {value!r}")
        elif named is not None:
            facts[key] = named[key]
            from_name.append(f"{label} {named[key]!r}")
    missing = [k for k, v in facts.items() if v is None]
    if missing:
        flags = ", ".join("--subject" if k == "subject_id" else f"--{k}" for k in missing)
        raise CollectError(
            f"{record_path}: the record does not say the subject, protocol and side (the "
            "wearable's own record, or collect's with its start damaged), and the file name "
            f"is not <subject>_<protocol>_<side>.nrec: give {flags}"
        )
    sources = [f"{', '.join(given)} as given"] if given else []
    if from_name:
        sources.append(f"{', '.join(from_name)} from the file name")
    if provenance is None:
        provenance = "human"
        sources.append("provenance 'human' assumed (collect's default; --provenance sets it)")
    else:
        sources.append(f"provenance {provenance!r} as given")
    check_identity(facts["subject_id"], facts["protocol"], facts["side"], provenance)
    who = SessionFacts(
        facts["subject_id"],
        facts["protocol"],
        facts["side"],
        provenance,
        "unknown (the record has no header event)",
        DEFAULT_MAPPING,
    )
    notes = [
        "the record has no header event with the session facts (the wearable's own record, "
        "or its start is damaged): " + ", ".join(sources),
        "the default Borg-to-level mapping assumed (collect's header event holds the one used)",
    ]
    return who, notes
