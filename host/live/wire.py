"""The broker's wire: topic names, the message payload and the sequence account.

One MQTT message carries one device record (:mod:`device.codec`'s record bytes, the
same bytes the session file and the serial link carry), published by the host side
of one wearable::

    topic    nirs/<wearable>/records        (<wearable>: a subject code, never a name)
    payload  magic b"NL" | version u8 | stream u32 | seq u64 | sent_unix_s f64 | record

All numbers little-endian, as the codec's. ``stream`` is new with every publisher
(a random 32-bit number, as the link's header event has one per writer), ``seq``
counts the publisher's messages from 0 with no wrap, and ``sent_unix_s`` is the
publisher's wall clock (UTC seconds since the epoch) when the host had the record,
the start of the latency the live page measures. QoS 1 delivers at least once: a
subscriber proves nothing was lost or duplicated with :class:`SequenceAccount`.
The link's own sequence numbers (:mod:`device.link`) end at the host, which counts
the link's losses and publishes them in its ``collect_link`` events.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import NamedTuple

from device.codec import MAX_RECORD_BYTES, Record, decode, encode
from host.collect_records import SUBJECT_ID_PATTERN

__all__ = [
    "PAYLOAD_VERSION",
    "TOPIC_ROOT",
    "Message",
    "SequenceAccount",
    "WireError",
    "check_wearable_id",
    "decode_message",
    "encode_message",
    "records_topic",
    "wearable_of_topic",
]

#: First level of every topic the project publishes.
TOPIC_ROOT = "nirs"
#: The payload layout this module writes and reads.
PAYLOAD_VERSION = 1
_MAGIC = b"NL"
_HEAD = struct.Struct("<2sBIQd")
#: Longest payload: the head and the codec's longest record.
MAX_PAYLOAD_BYTES = _HEAD.size + MAX_RECORD_BYTES
#: Largest jump in a stream's numbers taken as messages missed (a day of one wearable at
#: its ~12 messages a second is about a million); a larger one is a forged or broken
#: number, and counting the numbers in between would only fill memory.
MAX_GAP = 1_000_000
#: Most numbers an account holds as missing, all streams together (a set entry is about 60
#: bytes: 6 MB). A gap that would pass it is counted as a jump, like a forged number.
MAX_MISSING = 100_000


class WireError(ValueError):
    """A topic or payload that is not this project's; the message says what and where."""


class Message(NamedTuple):
    """One decoded message."""

    wearable: str
    stream: int
    seq: int
    sent_unix_s: float
    record: Record


def check_wearable_id(wearable: object) -> str:
    """Return ``wearable`` if it is a subject code (1–64 letters, digits, '_' or '-').

    Topic names reach every subscriber and the broker's logs: a code, never a name.

    Raises:
        WireError: Anything else, naming the value and what is allowed.
    """
    if not isinstance(wearable, str) or not SUBJECT_ID_PATTERN.fullmatch(wearable):
        raise WireError(
            f"wearable {wearable!r} is not a subject code: 1–64 letters, digits, '_' or '-', "
            "starting with a letter or digit (topics carry codes, never names)"
        )
    return wearable


def records_topic(wearable: str | None = None) -> str:
    """The topic of one wearable's records, or with ``None`` the filter for all of them."""
    return f"{TOPIC_ROOT}/{'+' if wearable is None else check_wearable_id(wearable)}/records"


def wearable_of_topic(topic: str) -> str:
    """The wearable a records topic names.

    Raises:
        WireError: Not ``nirs/<code>/records``.
    """
    parts = topic.split("/")
    if len(parts) != 3 or parts[0] != TOPIC_ROOT or parts[2] != "records":
        raise WireError(f"topic {topic!r} is not {TOPIC_ROOT}/<wearable>/records")
    return check_wearable_id(parts[1])


def encode_message(stream: int, seq: int, sent_unix_s: float, record: Record) -> bytes:
    """The payload of one message (layout in the module docstring)."""
    return _HEAD.pack(_MAGIC, PAYLOAD_VERSION, stream, seq, sent_unix_s) + encode(record)


def decode_message(topic: str, payload: bytes) -> Message:
    """Decode one message of ``topic``.

    Raises:
        WireError: The topic or payload is not this project's, or of another version;
            names the topic and the problem.
    """
    wearable = wearable_of_topic(topic)
    if len(payload) <= _HEAD.size:
        raise WireError(f"{topic}: payload of {len(payload)} bytes is too short for a message")
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise WireError(
            f"{topic}: payload of {len(payload)} bytes; a message is at most {MAX_PAYLOAD_BYTES}"
        )
    magic, version, stream, seq, sent = _HEAD.unpack_from(payload)
    if magic != _MAGIC:
        raise WireError(f"{topic}: payload does not start with {_MAGIC!r}: not this project's")
    if version != PAYLOAD_VERSION:
        raise WireError(
            f"{topic}: payload version {version}; this host reads version {PAYLOAD_VERSION}"
        )
    try:
        record = decode(payload[_HEAD.size :])
    except ValueError as exc:
        raise WireError(f"{topic}: {exc}") from None
    if not (math.isfinite(record.t_s) and math.isfinite(sent)):
        raise WireError(f"{topic}: a time that is not a number (t_s {record.t_s}, sent {sent})")
    return Message(wearable, stream, seq, sent, record)


@dataclass
class SequenceAccount:
    """What arrived of each publisher's numbered messages: received, lost, duplicated.

    ``observe(stream, seq)`` for every message received; it says whether the message
    is new (show it) or a duplicate (drop it). A stream is counted from the first
    number this subscriber sees of it (a page started after a publisher did has not
    lost the messages before it joined: :attr:`joined_late` counts such streams). A
    number skipped after that is *missing* until it arrives late (QoS 1 resends after
    a reconnect can overtake), so :attr:`lost` is the numbers still missing below the
    highest one seen; numbers after the last one received cannot be told from
    messages not yet sent.
    """

    received: int = 0
    duplicates: int = 0
    late: int = 0
    joined_late: int = 0
    #: Jumps larger than :data:`MAX_GAP`, or past :data:`MAX_MISSING` numbers missing in
    #: all (forged or broken numbers), not counted as lost.
    jumps: int = 0
    _next: dict[int, int] = field(default_factory=dict)
    _first: dict[int, int] = field(default_factory=dict)
    _missing: dict[int, set[int]] = field(default_factory=dict)

    def observe(self, stream: int, seq: int) -> bool:
        """Count message ``seq`` of ``stream``; True if it is new."""
        if stream not in self._next:
            self._next[stream] = self._first[stream] = seq
            self._missing[stream] = set()
            self.joined_late += seq > 0
        expected = self._next[stream]
        missing = self._missing[stream]
        gap = max(seq - expected, self._first[stream] - seq, 0)
        if gap > MAX_GAP or (gap and self.lost + gap > MAX_MISSING):
            self.jumps += 1  # shown; its number says nothing about losses
            if seq > expected:  # counted on from there
                self._next[stream] = seq + 1
            self.received += 1
            return True
        if seq >= expected:
            missing.update(range(expected, seq))
            self._next[stream] = seq + 1
        elif seq in missing:
            missing.discard(seq)
            self.late += 1
        elif seq < self._first[stream]:  # older than where we joined: those between are due
            missing.update(range(seq + 1, self._first[stream]))
            self._first[stream] = seq
        else:
            self.duplicates += 1
            return False
        self.received += 1
        return True

    @property
    def lost(self) -> int:
        """Messages still missing below the newest one of each stream."""
        return sum(len(m) for m in self._missing.values())

    @property
    def streams(self) -> int:
        """Publishers (streams) seen."""
        return len(self._next)

    def as_dict(self) -> dict[str, int]:
        """received, lost, duplicates, late, streams, joined_late, jumps: for the page."""
        return {
            "received": self.received,
            "lost": self.lost,
            "duplicates": self.duplicates,
            "late": self.late,
            "streams": self.streams,
            "joined_late": self.joined_late,
            "jumps": self.jumps,
        }
