"""A wearable's host side publishes its records to the team's broker, buffering offline.

:class:`RecordPublisher` has the two methods of :class:`device.link.LinkWriter` a
record sink needs (``send``, ``take_notices``), so it stands wherever the wearable's
app or ``host collect`` sends records. Each record becomes one QoS 1 message on
``nirs/<wearable>/records`` (:mod:`host.live.wire`): a random 32-bit stream id for
this publisher, ``seq`` from 0, and the wall clock when ``send`` was called.

Delivery: ``send`` never waits and never raises on a network problem. Records wait in
a bounded buffer; a pump thread hands at most ``window`` at a time to paho-mqtt, which
keeps each until the broker acknowledges it (PUBACK) and, after a reconnect, sends
again the ones not acknowledged (paho 2.2 ``Client._messages_reconnect_reset_out``;
the tests check it against a real broker stopped and restarted). So while the broker
is away records wait here and go out when it is back; a resend the broker had already
taken reaches the subscriber twice, which drops it by ``seq``.

Order: the page keeps a wearable's samples in time order and counts one that arrives
after a later one as late, off the chart. paho sends again what it holds only *after*
the CONNACK callback, and a ``publish`` from another thread in between goes straight
out, ahead of them (a CI run charted 6 of 46 samples that way). So the pump hands
records to paho only while connected, and after a reconnect only once paho's resends
are acknowledged. When the buffer is full
the oldest records are dropped and counted (:attr:`PublisherStats.dropped`); the
session record on disk (SNIRF, as ``collect`` writes it) has them whatever happens.
A login the broker refuses is final: :meth:`RecordPublisher.wait_connected` raises
:class:`~host.live.mqtt_settings.LoginRefusedError`, and a notice says so.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass

import paho.mqtt.client as mqtt

from device.codec import Fields, Record, RecordKind, as_record
from host.live.mqtt_settings import (
    KEEPALIVE_S,
    BrokerError,
    BrokerSettings,
    ConnectionWatch,
    make_client,
)
from host.live.wire import check_wearable_id, encode_message, records_topic

__all__ = ["BUFFER_LIMIT", "WINDOW", "PublisherStats", "RecordPublisher"]

#: Records kept while the broker is away: ten minutes of one wearable at about 12
#: records/s (10 SAMPLEs, 1 PREDICTION, events). About 150 bytes each, ~1 MB.
#: An assumption: the session record on disk keeps everything anyway.
BUFFER_LIMIT = 12 * 600
#: Messages handed to paho and not yet acknowledged, at most (paho's in-flight limit is
#: set to it too, so it sends them all at once after a reconnect). At 12 messages/s,
#: 100 is 8 s of one wearable: a loopback or LAN round trip acknowledges far sooner.
WINDOW = 100
#: Seconds :meth:`RecordPublisher.close` waits for acknowledgements by default.
CLOSE_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class PublisherStats:
    """What one publisher did so far.

    Attributes:
        sent: Records given to ``send`` (the next ``seq``).
        acknowledged: Of those, acknowledged by the broker (PUBACK).
        buffered: Waiting here or at paho for an acknowledgement.
        in_flight: Of those, handed to paho (sent, or to be sent again on reconnect).
        dropped: The oldest, dropped because the buffer was full.
        connected: Connected to the broker now.
        reconnects: Connections after the first.
        refused: The broker's refusal of our login, if it refused.
    """

    sent: int
    acknowledged: int
    buffered: int
    in_flight: int
    dropped: int
    connected: bool
    reconnects: int
    refused: str | None

    def as_dict(self) -> dict[str, object]:
        """JSON-ready."""
        return asdict(self)


class RecordPublisher:
    """Publish one wearable's records to the broker (see the module docstring).

    Args:
        settings: The broker and our login.
        wearable: The wearable's subject code (:func:`host.live.wire.check_wearable_id`).
        buffer_limit: Records waiting at most, beyond the ``window`` at paho (while
            the broker is away all wait here: paho gets them once connected).
        window: Messages at paho, not yet acknowledged, at most.
        clock: Wall clock, UTC seconds since the epoch, stamped as ``sent_unix_s``.
        stream: This publisher's stream id (None: a random 32-bit number).

    Raises:
        WireError: ``wearable`` is not a subject code.
    """

    def __init__(
        self,
        settings: BrokerSettings,
        wearable: str,
        *,
        buffer_limit: int = BUFFER_LIMIT,
        window: int = WINDOW,
        clock: Callable[[], float] = time.time,
        stream: int | None = None,
    ) -> None:
        if buffer_limit < 1 or window < 1:
            raise ValueError(f"buffer_limit and window must be ≥ 1, got {buffer_limit}, {window}")
        self.settings = settings
        self.wearable = check_wearable_id(wearable)
        self.topic = records_topic(self.wearable)
        self.stream = secrets.randbits(32) if stream is None else stream
        self.buffer_limit = buffer_limit
        self.window = window
        self._clock = clock
        self._seq = 0
        self._pending: deque[bytes] = deque()
        self._at_paho = 0
        self._acked = 0
        self._dropped = 0
        self._dropping = False
        self._hold = True  # no new records to paho: not connected, or its resends are pending
        self._notices: list[str] = []
        self._state = "new"  # new → running → closing → closed
        self._cond = threading.Condition()
        self._watch = ConnectionWatch(
            settings, f"publisher of {self.wearable}", "buffering its records, reconnecting"
        )
        client_id = f"{settings.client_prefix}-pub-{self.wearable}-{self.stream:08x}"
        self._client = make_client(settings, client_id, protocol=mqtt.MQTTv311, clean=True)
        self._client.max_inflight_messages_set(window)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_connect_fail = lambda _c, _u: self._watch.on_connect_fail()
        self._client.on_publish = self._on_publish
        self._pump_thread = threading.Thread(
            target=self._pump, name=f"mqtt-publish-{self.wearable}", daemon=True
        )

    # -- life ----------------------------------------------------------------------------------

    def start(self) -> RecordPublisher:
        """Connect in the background (a broker away now is tried again and again)."""
        with self._cond:
            if self._state != "new":
                return self
            self._state = "running"
        self._client.connect_async(self.settings.host, self.settings.port, KEEPALIVE_S)
        self._client.loop_start()
        self._pump_thread.start()
        return self

    def wait_connected(self, timeout_s: float = 10.0) -> None:
        """Return once connected.

        Raises:
            LoginRefusedError: The broker refused our login.
            BrokerError: Not connected within ``timeout_s`` seconds.
        """
        self._watch.wait_connected(timeout_s)

    def close(self, timeout_s: float = CLOSE_TIMEOUT_S) -> str:
        """Send what is buffered, waiting up to ``timeout_s`` for the broker's
        acknowledgements, then disconnect. Safe twice.

        Returns:
            One line for people: how many records were published and acknowledged, and
            how many were not (dropped, or not acknowledged by the timeout).
        """
        with self._cond:
            if self._state in ("new", "running"):
                started = self._state == "running"
                self._state = "closing"
                self._cond.notify_all()
                if started:
                    self._cond.wait_for(
                        lambda: not (self._pending or self._at_paho) or self._watch.refused,
                        timeout_s,
                    )
            elif self._state == "closed":
                return self._summary()
            self._state = "closed"
            self._cond.notify_all()
        if self._pump_thread.is_alive():
            self._pump_thread.join()
        self._watch.closing = True
        self._client.disconnect()
        self._client.loop_stop()
        return self._summary()

    def __enter__(self) -> RecordPublisher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- records --------------------------------------------------------------------------------

    def send(self, item: Record | Fields) -> bool:
        """Queue one record for the broker; never waits, never raises on the network.
        FRAMEs (the raw conversions, 43 a second) are not published: the page charts the
        10 Hz SAMPLEs, and the session record keeps every FRAME.

        Returns:
            True (the record is buffered; ``stats.dropped`` counts the oldest dropped).

        Raises:
            CodecError: ``item`` cannot be encoded (a bug in the caller).
            BrokerError: The publisher is closed.
        """
        record = as_record(item)
        if record.kind is RecordKind.FRAME:  # raw conversions: the session record has them,
            return True  # the page charts SAMPLEs (43 FRAMEs/s would be 4/5 of the traffic)
        sent_unix_s = self._clock()
        with self._cond:
            if self._state in ("closing", "closed"):
                raise BrokerError(f"publisher of {self.wearable}: send after close")
            payload = encode_message(self.stream, self._seq, sent_unix_s, record)
            self._seq += 1
            self._pending.append(payload)
            if len(self._pending) > self.buffer_limit:
                self._pending.popleft()
                self._dropped += 1
                if not self._dropping:
                    self._dropping = True
                    self._notices.append(
                        f"publisher of {self.wearable}: buffer of {self.buffer_limit} records "
                        "full, dropping the oldest (they are in the session record)"
                    )
            self._cond.notify_all()
        return True

    def take_notices(self) -> list[str]:
        """Lines for people since the last call (broker lost, back, refused; buffer full)."""
        with self._cond:
            mine, self._notices = self._notices, []
        return self._watch.take_notices() + mine

    @property
    def stats(self) -> PublisherStats:
        """Counts so far (see :class:`PublisherStats`)."""
        with self._cond:
            return PublisherStats(
                sent=self._seq,
                acknowledged=self._acked,
                buffered=len(self._pending) + self._at_paho,
                in_flight=self._at_paho,
                dropped=self._dropped,
                connected=self._watch.connected,
                reconnects=max(0, self._watch.connects - 1),
                refused=str(self._watch.refused) if self._watch.refused else None,
            )

    def _summary(self) -> str:
        s = self.stats
        line = (
            f"published {s.sent} records of {self.wearable} to {self.settings.describe()}: "
            f"{s.acknowledged} acknowledged"
        )
        if s.buffered:
            line += f", {s.buffered} not acknowledged"
        if s.dropped:
            line += f", {s.dropped} dropped (buffer full)"
        if s.refused:
            line += f"; {s.refused}"
        return line

    # -- threads --------------------------------------------------------------------------------

    def _pump(self) -> None:
        """Hand buffered payloads to paho, at most ``window`` not yet acknowledged.

        Only this thread calls ``publish``, holding none of our locks: paho runs
        ``on_publish`` holding its own message lock, which ``publish`` takes too.
        """
        while True:
            with self._cond:
                self._cond.wait_for(
                    lambda: self._state == "closed"
                    or (self._pending and self._at_paho < self.window and not self._hold)
                )
                if self._state == "closed":
                    return
                batch = [
                    self._pending.popleft()
                    for _ in range(min(len(self._pending), self.window - self._at_paho))
                ]
                self._at_paho += len(batch)
                if len(self._pending) < self.buffer_limit:
                    self._dropping = False  # the next overflow is told again
            for i, payload in enumerate(batch):
                with self._cond:
                    if self._hold:  # the connection dropped meanwhile: the rest waits here
                        rest = batch[i:]
                        self._pending.extendleft(reversed(rest))
                        self._at_paho -= len(rest)
                        break
                self._client.publish(self.topic, payload, qos=1)

    def _on_connect(self, client: mqtt.Client, _u: object, _f: object, reason, _p: object) -> None:
        connected = self._watch.on_connect(client, reason)
        with self._cond:
            # paho resends what it holds after this callback returns: new records wait
            # until those are acknowledged (see "Order" in the module docstring)
            self._hold = not connected or self._at_paho > 0
            self._cond.notify_all()  # close() stops waiting on a refusal

    def _on_disconnect(self, _c: object, _u: object, _f: object, reason, _p: object) -> None:
        self._watch.on_disconnect(reason)
        with self._cond:
            self._hold = True

    def _on_publish(self, _c: object, _u: object, _mid: int, _reason: object, _p: object) -> None:
        with self._cond:
            self._at_paho -= 1
            self._acked += 1
            if self._at_paho == 0 and self._watch.connected:
                self._hold = False
            self._cond.notify_all()
