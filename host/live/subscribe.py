"""The team page's subscriber: every wearable's records from the broker, into a Hub.

:class:`TeamSubscriber` subscribes to ``nirs/+/records`` (:func:`host.live.wire.records_topic`)
at QoS 1 with a persistent MQTT 5 session: a fixed client id, clean start off and a
session expiry, so the broker keeps the subscription and queues the messages that come
while we are away (broker restarted, network down, this program restarted within the
expiry), up to its ``max_queued_messages`` (deploy/mosquitto/nirs-live.conf), and
delivers them when we are back. Each message is decoded (:func:`host.live.wire.decode_message`)
and given to :meth:`host.live.view.Hub.ingest` with its stream and sequence number: the
Hub's :class:`~host.live.wire.SequenceAccount` drops what QoS 1 delivers twice and
counts what never came. A message that is not this project's is counted with its
reason (:attr:`SubscriberStats.bad_messages`, ``last_bad``), never a traceback in
paho's thread.

Two subscribers with the same client id take the session from each other in turn: give
each team page its own ``client_id``.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import asdict, dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from host.live.mqtt_settings import (
    KEEPALIVE_S,
    BrokerError,
    BrokerSettings,
    ConnectionWatch,
    make_client,
)
from host.live.view import Hub
from host.live.wire import decode_message, records_topic

__all__ = ["SESSION_EXPIRY_S", "SubscriberStats", "TeamSubscriber"]

#: Seconds the broker keeps our session (and queues our messages) while we are away;
#: MQTT 5.0 §3.1.2.11.2. An hour: an assumption, longer than any restart or network gap
#: a session in progress would sit out, short enough not to hoard a day's queue.
SESSION_EXPIRY_S = 3600
#: QoS of our subscription: at least once (MQTT 5.0 §4.3.2).
QOS = 1


@dataclass(frozen=True)
class SubscriberStats:
    """What the subscriber received so far.

    Attributes:
        received: Messages received (duplicates included; the Hub counts those).
        bad_messages: Messages that were not this project's or failed in the Hub.
        last_bad: The reason for the last of those, one line.
        connected: Connected now.
        reconnects: Connections after the first.
        session_resumed: The broker had our session at the last connect.
    """

    received: int
    bad_messages: int
    last_bad: str | None
    connected: bool
    reconnects: int
    session_resumed: bool

    def as_dict(self) -> dict[str, object]:
        """JSON-ready."""
        return asdict(self)


def default_client_id(settings: BrokerSettings) -> str:
    """``<prefix>-team-<host name>-<user>``: the same for a page restarted here."""
    return f"{settings.client_prefix}-team-{socket.gethostname()}-{settings.username or 'anon'}"


class TeamSubscriber:
    """Every wearable's records from the broker into ``hub`` (module docstring).

    Args:
        settings: The broker and our login.
        hub: Where the records go.
        client_id: Our fixed MQTT client id (None: :func:`default_client_id`).
        session_expiry_s: Seconds the broker keeps our session while we are away.
    """

    def __init__(
        self,
        settings: BrokerSettings,
        hub: Hub,
        *,
        client_id: str | None = None,
        session_expiry_s: int = SESSION_EXPIRY_S,
    ) -> None:
        self.settings = settings
        self.hub = hub
        self.client_id = client_id or default_client_id(settings)
        self.session_expiry_s = session_expiry_s
        self.source = f"broker {settings.address}"
        self._lock = threading.Lock()
        self._received = 0
        self._bad = 0
        self._last_bad: str | None = None
        self._resumed = False
        self._started = False
        self._watch = ConnectionWatch(
            settings,
            "team subscriber",
            "the broker queues our messages, reconnecting",
            needs_ready=True,
        )
        self._client = make_client(settings, self.client_id, protocol=mqtt.MQTTv5)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = lambda _c, _u, _f, why, _p: self._watch.on_disconnect(why)
        self._client.on_connect_fail = lambda _c, _u: self._watch.on_connect_fail()
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe

    def start(self) -> TeamSubscriber:
        """Connect in the background and subscribe (again at every connect)."""
        if not self._started:
            self._started = True
            properties = Properties(PacketTypes.CONNECT)
            properties.SessionExpiryInterval = self.session_expiry_s
            self._client.connect_async(
                self.settings.host,
                self.settings.port,
                KEEPALIVE_S,
                clean_start=False,
                properties=properties,
            )
            self._client.loop_start()
        return self

    def wait_connected(self, timeout_s: float = 10.0) -> None:
        """Return once connected and subscribed (the broker's SUBACK: from then on every
        message published reaches us).

        Raises:
            LoginRefusedError: The broker refused our login.
            BrokerError: It refused the subscription, or not subscribed within
                ``timeout_s`` seconds.
        """
        self._watch.wait_connected(timeout_s)

    def stop(self, *, end_session: bool = False) -> None:
        """Disconnect. ``end_session``: the broker forgets our session now (else it keeps
        it, queuing messages, for ``session_expiry_s``). Safe twice."""
        if not self._started:
            return
        self._started = False
        properties = None
        if end_session:
            properties = Properties(PacketTypes.DISCONNECT)
            properties.SessionExpiryInterval = 0
        self._watch.closing = True
        self._client.disconnect(properties=properties)
        self._client.loop_stop()

    def __enter__(self) -> TeamSubscriber:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def take_notices(self) -> list[str]:
        """Lines for people since the last call (broker lost, back, refused)."""
        return self._watch.take_notices()

    @property
    def stats(self) -> SubscriberStats:
        """Counts so far (see :class:`SubscriberStats`)."""
        with self._lock:
            return SubscriberStats(
                received=self._received,
                bad_messages=self._bad,
                last_bad=self._last_bad,
                connected=self._watch.connected,
                reconnects=max(0, self._watch.connects - 1),
                session_resumed=self._resumed,
            )

    # -- paho's thread ----------------------------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, _u: object, flags, reason, _p: object) -> None:
        if self._watch.on_connect(client, reason):
            with self._lock:
                self._resumed = bool(flags.session_present)
            # Always (again): a broker that lost our session (a crash before its autosave)
            # has no subscription; subscribing again to a kept one changes nothing.
            client.subscribe(records_topic(), qos=QOS)

    def _on_subscribe(self, client: mqtt.Client, _u: object, _mid: int, codes, _p: object) -> None:
        refused = [code for code in codes if code.is_failure]
        if refused:
            self._watch.fail(
                BrokerError(
                    f"{self.settings.describe()}: the broker refused the subscription to "
                    f"{records_topic()}: {refused[0]} (its acl_file must let "
                    f"{self.settings.username or 'anonymous'} read it)"
                ),
                client,
            )
        else:
            self._watch.mark_ready()

    def _on_message(self, _c: object, _u: object, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self._received += 1
        try:
            m = decode_message(message.topic, message.payload)
            self.hub.ingest(
                m.wearable,
                m.record,
                source=self.source,
                stream=m.stream,
                seq=m.seq,
                sent_unix_s=m.sent_unix_s,
            )
        except Exception as exc:  # a bad message must not end paho's thread
            reason = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
            with self._lock:
                self._bad += 1
                self._last_bad = reason.splitlines()[0] if reason else type(exc).__name__
