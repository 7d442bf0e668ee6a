"""A session's SNIRF record from its ``.nrec`` session record alone.

Two commands read ``.nrec`` files through :func:`read_record` here:
``python -m host collect --recover NREC`` (:func:`rebuild`, for a host that crashed
mid-session, or a record damaged since) and ``python -m host export NREC``
(:mod:`host.export`, any record: collect's, or the wearable's own). The records are read
with :func:`device.session_reader.read_session_file` (damage costs only the records it
touches) and fed to the same :class:`host.collect_records.CollectedSession` that
:func:`host.collect.collect` feeds live, so a rebuilt file is the live one less what was
lost.

The session facts (subject, protocol, side, provenance) come from, in this order: the
header event collect writes (:data:`host.collect_records.HEADER_KEY`, also the Borg
mapping and the port); the header event of the wearable's own record
(:class:`device.recorder.SessionRecorder` ``info``: ``provenance`` on the board,
``provenance``, ``subject``, ``protocol``, ``side`` in the simulator's main job); the
command line; the file name :func:`host.collect.collect` gave. What none of them says is
an error for ``collect --recover`` and :data:`host.session.UNKNOWN` for ``export``; each
source but the record itself is logged as a note and kept in the metadata
(``recovery_note``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from device.codec import HEADER_EVENT, Record, RecordKind
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
from host.session import (
    NOT_FOR_TRAINING_KEY,
    PROTOCOLS,
    SIDES,
    UNKNOWN,
    SessionRecord,
    training_problems,
)
from host.snirf_writer import write_session

__all__ = ["ReadBack", "read_record", "rebuild"]

#: The name :func:`host.collect.collect` gives its files:
#: ``<subject>_<protocol>_<side>[_<n>].nrec``.
_RECORD_NAME = re.compile(
    rf"(?P<subject_id>{SUBJECT_ID_PATTERN.pattern})_(?P<protocol>{'|'.join(PROTOCOLS)})"
    rf"_(?P<side>{'|'.join(SIDES)})(?:_[0-9]+)?"
)
#: The session facts, as :class:`SessionFacts` names them, and as the wearable's own
#: header event does (``hwsim.wearable``, ``device.__main__``).
_FACTS = {"subject_id": "subject", "protocol": "protocol", "side": "side"}
_FLAG = {"subject_id": "--subject", "protocol": "--protocol", "side": "--side"}
#: ``recorded_by`` in the metadata of a session the wearable recorded itself.
RECORDED_BY_WEARABLE = "the wearable's own session record (device.recorder.SessionRecorder)"
_HOST_EVENT_PREFIX = "collect_"


@dataclass
class ReadBack:
    """A session read back from its record: the SNIRF-ready record and what was read.

    Attributes:
        record: The session (:class:`host.session.SessionRecord`).
        device_events: Events the device wrote (header, self-test, calibration...).
        intact: False if the reader skipped damage (``record.metadata["record_damage"]``).
    """

    record: SessionRecord
    device_events: int
    intact: bool


def read_record(
    record_path: str | os.PathLike,
    *,
    log: Callable[[str], None] = print,
    subject_id: str | None = None,
    protocol: str | None = None,
    side: str | None = None,
    provenance: str | None = None,
    unknown_ok: bool = False,
) -> ReadBack:
    """The session in a ``.nrec`` record, ready for :func:`host.snirf_writer.write_session`.

    Whatever the damage (:func:`device.session_reader.read_session_file` skips it and says
    where), every intact record is used, and the metadata says what was lost
    (``record_damage``). The session facts come from the sources the module docstring
    lists; ``subject_id``, ``protocol``, ``side`` and ``provenance`` fill in only what the
    record does not say. Notes (each guess, each fact unknown, a session not fit for
    training) go to ``log`` and into the metadata.

    Args:
        record_path: The ``.nrec`` file (collect's or the wearable's own).
        log: Where the one-line read report and the notes go.
        subject_id, protocol, side, provenance: What the record does not say.
        unknown_ok: A fact no source says is :data:`host.session.UNKNOWN` (else an error);
            and the provenance is not assumed to be "human".

    Raises:
        device.session_format.SessionFileError: Not a session record (names the file).
        CollectError: No sample survives; a given fact differs from the record's; or
            (``unknown_ok`` False) nothing says the subject, protocol and side.
        ValueError: A subject_id, protocol, side or provenance the dataset rejects.
    """
    record_path = Path(record_path)
    data = read_session_file(record_path)
    report = data.report
    log(report.describe())
    records = data.records
    if not records:
        raise CollectError(f"{record_path}: no record to rebuild from ({report.summary()})")
    given = {"subject_id": subject_id, "protocol": protocol, "side": side}
    collected = next((i for i, r in enumerate(records) if _facts_of(r, HEADER_KEY)), None)
    notes: list[str] = []
    if collected is not None:
        who = SessionFacts.from_info(dict(records[collected].fields.data), str(record_path))
        _check_given(record_path, {**given, "provenance": provenance}, vars(who))
        records = records[:collected] + records[collected + 1 :]
    else:  # the wearable's own record, or collect's with its start damaged
        own = next((r.fields.data for r in records if _facts_of(r, "provenance")), {})
        said = {key: own.get(name) for key, name in _FACTS.items()}
        said["provenance"] = own.get("provenance")
        who, notes = _facts_from(record_path, said, given, provenance, unknown_ok)
    for note in notes:
        log(f"note: {note}")
    session = CollectedSession()
    seen: set[str] = set()
    repeated = 0
    by_host = collected is not None
    for record in records:  # a run of records written twice (a copy gone wrong) counts once
        key = repr(record)
        if key in seen:
            repeated += 1
            continue
        seen.add(key)
        by_host = by_host or _is_host_event(record)
        session.add(record)
    if repeated:
        notes.append(f"{repeated} record(s) found twice in the file; each used once")
        log(f"note: {notes[-1]}")
    if not session.samples:
        raise CollectError(f"{record_path}: no sample survives ({report.summary()})")
    result = session.to_record(who, record_path.name)
    if not by_host:
        result.metadata["recorded_by"] = RECORDED_BY_WEARABLE
        if not session.phases:  # collect's keys mark phases; the wearable knows none
            result.phases = []
            result.metadata["phase_note"] = "the wearable's own record marks no phases"
    if not report.intact:
        result.metadata["record_damage"] = report.summary()
    if notes:
        result.metadata["recovery_note"] = "; ".join(notes)
    problems = training_problems(result)
    if problems:
        result.metadata[NOT_FOR_TRAINING_KEY] = "; ".join(problems)
        log(f"note: not for training: {result.metadata[NOT_FOR_TRAINING_KEY]}")
    return ReadBack(result, session.counts["event"], report.intact)


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
    """Write the SNIRF file of a collected session from its ``.nrec`` record alone.

    For a host that crashed mid-session, or a record damaged since: :func:`read_record`
    (``unknown_ok`` False: what the record does not say must come from the arguments or
    the file name :func:`host.collect.collect` gave; the provenance, if nothing says it, is
    collect's default "human", noted).

    Args:
        record_path: The ``.nrec`` file written by :func:`host.collect.collect` (or the
            wearable's own, if it says the subject, protocol and side or they are given).
        out_path: SNIRF file to write (default: beside the record, same name).
        log: Where the one-line report and notes go.
        subject_id, protocol, side, provenance: What the record does not say.

    Raises:
        device.session_format.SessionFileError: Not a session record (names the file).
        CollectError: As :func:`read_record`, or ``out_path`` exists.
        ValueError: A subject_id, protocol, side or provenance the dataset rejects.
    """
    record_path = Path(record_path)
    out = Path(out_path) if out_path is not None else record_path.with_suffix(".snirf")
    if out.exists():
        raise CollectError(f"{out} exists; move it away or name another output")
    try:
        result = read_record(
            record_path,
            log=log,
            subject_id=subject_id,
            protocol=protocol,
            side=side,
            provenance=provenance,
        ).record
    except CollectError as exc:
        raise CollectError(f"{exc}; no SNIRF file written") from exc
    path = write_session(out, result)
    log(f"wrote {path}: {result.n_samples} samples, {result.borg.size} Borg reports")
    return path


def _facts_of(record: Record, key: str) -> bool:
    """True if ``record`` is a header event whose data holds ``key``."""
    return (
        record.kind is RecordKind.EVENT
        and record.fields.name == HEADER_EVENT
        and key in record.fields.data
    )


def _is_host_event(record: Record) -> bool:
    return record.kind is RecordKind.EVENT and record.fields.name.startswith(_HOST_EVENT_PREFIX)


def _check_given(path: Path, given: dict[str, Any], said: dict[str, Any]) -> None:
    """Refuse a fact given on the command line that differs from the record's."""
    for key, value in given.items():
        if value is not None and said.get(key) is not None and value != said[key]:
            flag = _FLAG.get(key, f"--{key}")
            raise CollectError(
                f"{path}: {flag} {value!r} given, but the record says {said[key]!r}; "
                f"leave {flag} out"
            )


def _facts_from(
    record_path: Path,
    said: dict[str, Any],
    given: dict[str, str | None],
    provenance: str | None,
    unknown_ok: bool,
) -> tuple[SessionFacts, list[str]]:
    """The session facts of a record without collect's header event, and notes saying
    whence each came that the record itself does not say."""
    _check_given(record_path, {**given, "provenance": provenance}, said)
    named = _RECORD_NAME.fullmatch(record_path.stem)
    facts = {key: said[key] for key in _FACTS}
    from_name, as_given, unknown = [], [], []
    for key in _FACTS:
        label = "subject" if key == "subject_id" else key
        if facts[key] is not None:
            continue
        if given[key] is not None:
            facts[key] = given[key]
            as_given.append(f"{label} {given[key]!r}")
        elif named is not None:
            facts[key] = named[key]
            from_name.append(f"{label} {named[key]!r}")
        elif unknown_ok:
            facts[key] = UNKNOWN
            unknown.append(label)
    missing = [k for k, v in facts.items() if v is None]
    if missing:
        flags = ", ".join(_FLAG[k] for k in missing)
        raise CollectError(
            f"{record_path}: the record does not say the subject, protocol and side (the "
            "wearable's own record, or collect's with its start damaged), and the file name "
            f"is not <subject>_<protocol>_<side>.nrec: give {flags}, or read it with "
            "'python -m host export', which writes 'unknown' for them"
        )
    sources = [f"{', '.join(as_given)} as given"] if as_given else []
    if from_name:
        sources.append(f"{', '.join(from_name)} from the file name")
    if unknown:
        sources.append(f"{', '.join(unknown)} unknown (give {_flags(unknown)} if you know)")
    if said["provenance"] is not None:
        provenance = said["provenance"]
    elif provenance is not None:
        sources.append(f"provenance {provenance!r} as given")
    elif unknown_ok:
        provenance = UNKNOWN
        sources.append("provenance unknown (give --provenance if you know)")
    else:
        provenance = "human"
        sources.append("provenance 'human' assumed (collect's default; --provenance sets it)")
    try:
        check_identity(
            facts["subject_id"], facts["protocol"], facts["side"], provenance, unknown_ok=True
        )
    except ValueError as exc:
        raise ValueError(f"{record_path}: {exc}") from exc
    who = SessionFacts(
        facts["subject_id"],
        facts["protocol"],
        facts["side"],
        provenance,
        "unknown (the record has no header event from collect)",
        DEFAULT_MAPPING,
    )
    notes = []
    if sources:
        told = [f"{'subject' if k == 'subject_id' else k} {v!r}" for k, v in said.items() if v]
        where = (
            f"the wearable's own header event says only {', '.join(told)}"
            if told
            else "the wearable's own record, or its start is damaged"
        )
        notes.append(
            f"the record has no header event with the session facts ({where}): "
            + ", ".join(sources)
        )
    notes.append(
        "the default Borg-to-level mapping assumed (collect's header event holds the one used)"
    )
    return who, notes


def _flags(labels: list[str]) -> str:
    return ", ".join(f"--{label}" for label in labels)
