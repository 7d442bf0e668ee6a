"""Where the broker is and who we are: settings, command-line options, a paho client.

``--mqtt HOST[:PORT]`` names the broker (port 1883 unless given; 8883 is the usual
port for TLS), ``--mqtt-user NAME`` the user of the broker's password file, and the
password comes from ``--mqtt-password-file FILE`` or the environment variable
``NIRS_MQTT_PASSWORD``, never from the command line (every user of the machine can
read a process's arguments, ``ps -ef``). ``--mqtt-tls-ca FILE`` connects with TLS,
checking the broker's certificate against that CA and its host name.

:func:`make_client` makes the paho-mqtt 2.x client both :mod:`host.live.publish`
and :mod:`host.live.subscribe` use, and :class:`ConnectionWatch` follows its
connection: connected or not, reconnects, and a refused login, which is final
(:class:`LoginRefusedError`, raised by ``wait_connected``) instead of a retry forever.
"""

from __future__ import annotations

import argparse
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt

__all__ = [
    "DEFAULT_PORT",
    "PASSWORD_ENV",
    "BrokerError",
    "BrokerSettings",
    "ConnectionWatch",
    "LoginRefusedError",
    "add_mqtt_options",
    "make_client",
    "settings_from_args",
]

#: MQTT's port without TLS (IANA service name "mqtt"; 8883 is "secure-mqtt").
DEFAULT_PORT = 1883
#: Environment variable holding the broker password when no password file is given.
PASSWORD_ENV = "NIRS_MQTT_PASSWORD"
#: Seconds between MQTT keep-alive pings (paho's default 60; a dead broker is noticed
#: within 1.5 × this, MQTT 3.1.1 §3.1.2.10). 15 s: an assumption, cheap on any network.
KEEPALIVE_S = 15
#: Reconnect back-off, seconds: paho doubles the wait from the first to the second
#: after each failed attempt. Assumption: a restarted broker is found within ~4 s.
RECONNECT_MIN_S = 0.5
RECONNECT_MAX_S = 4.0
#: CONNACK reason codes that a retry cannot change (MQTT 5.0 §3.2.2.2; paho maps the
#: MQTT 3.1.1 return codes 1, 2, 4, 5 to 132, 133, 134, 135): the login is refused.
_FINAL_REFUSALS = frozenset({132, 133, 134, 135, 138, 140})


class BrokerError(OSError):
    """The broker cannot be run or reached; the message names it and what to do."""


class LoginRefusedError(BrokerError):
    """The broker refused our login (bad user name or password, anonymous, banned)."""


@dataclass(frozen=True)
class BrokerSettings:
    """A broker and who we are to it.

    Attributes:
        host: Host name or IP address of the broker.
        port: TCP port (1883 plain, 8883 usually with TLS).
        username: User of the broker's password file; None connects anonymously (the
            project's broker refuses that).
        password: That user's password (not shown by ``repr``).
        tls_ca: CA certificate (PEM) to check the broker's certificate against; None:
            no TLS.
        client_prefix: Start of our MQTT client ids ("nirs-pub-S07-…", "nirs-team-…").
    """

    host: str
    port: int = DEFAULT_PORT
    username: str | None = None
    password: str | None = None
    tls_ca: Path | None = None
    client_prefix: str = "nirs"

    def __repr__(self) -> str:
        password = "***" if self.password else None
        return (
            f"BrokerSettings(host={self.host!r}, port={self.port}, username={self.username!r}, "
            f"password={password!r}, tls_ca={self.tls_ca!r}, client_prefix={self.client_prefix!r})"
        )

    @property
    def address(self) -> str:
        """``host:port`` (IPv6 addresses in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def describe(self) -> str:
        """One line for people: "broker 127.0.0.1:1883 as nirs (TLS)"."""
        who = f"as {self.username}" if self.username else "anonymously"
        return f"broker {self.address} {who}" + (" (TLS)" if self.tls_ca else "")


def _host_port(text: str) -> tuple[str, int]:
    """``HOST``, ``HOST:PORT`` or ``[IPv6]:PORT`` → (host, port); argparse's type."""
    host, port_text = text, None
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise argparse.ArgumentTypeError(f"{text!r}: write an IPv6 address as [ADDR]:PORT")
        port_text = rest[1:] if rest else None
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    if not host:
        raise argparse.ArgumentTypeError(f"{text!r}: no host name (HOST or HOST:PORT)")
    if port_text is None:
        return host, DEFAULT_PORT
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise argparse.ArgumentTypeError(
            f"{text!r}: port {port_text!r} is not a number from 1 to 65535"
        )
    return host, int(port_text)


def add_mqtt_options(
    parser: argparse.ArgumentParser,
    what: str = "publish this wearable's records to a team's MQTT broker",
) -> argparse._ArgumentGroup:
    """Add ``--mqtt``, ``--mqtt-user``, ``--mqtt-password-file``, ``--mqtt-tls-ca``.

    Args:
        parser: The command's parser.
        what: What ``--mqtt`` does for this command (the start of its help line).

    Returns:
        The options' group, for a command's own broker options.
    """
    group = parser.add_argument_group("MQTT broker (a team of wearables, docs/live_mqtt.md)")
    group.add_argument(
        "--mqtt",
        type=_host_port,
        default=None,
        metavar="HOST[:PORT]",
        help=f"{what}; port {DEFAULT_PORT} unless given (default: none)",
    )
    group.add_argument(
        "--mqtt-user",
        default=None,
        metavar="NAME",
        help="user name in the broker's password file (default: none, which the project's "
        "broker refuses)",
    )
    group.add_argument(
        "--mqtt-password-file",
        type=Path,
        default=None,
        metavar="FILE",
        help=f"file whose first line is the password (default: the environment variable "
        f"{PASSWORD_ENV}; never on the command line, where ps shows it)",
    )
    group.add_argument(
        "--mqtt-tls-ca",
        type=Path,
        default=None,
        metavar="FILE",
        help="connect with TLS, checking the broker's certificate against this CA "
        "certificate, PEM (default: no TLS)",
    )
    return group


def settings_from_args(
    parser: argparse.ArgumentParser, args: argparse.Namespace
) -> BrokerSettings | None:
    """The settings the options give, None without ``--mqtt``.

    Bad combinations end the program through ``parser.error`` (one line, exit status 2):
    broker options without ``--mqtt``, a password file that cannot be read, a user
    without a password or a password without a user, a TLS CA file that is not there.
    """
    given = [
        f"--mqtt-{name.replace('_', '-')}"
        for name in ("user", "password_file", "tls_ca")
        if getattr(args, f"mqtt_{name}") is not None
    ]
    if args.mqtt is None:
        if given:
            parser.error(f"{', '.join(given)} without --mqtt HOST: which broker?")
        return None
    host, port = args.mqtt
    password = None
    if args.mqtt_password_file is not None:
        try:
            lines = args.mqtt_password_file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            parser.error(f"--mqtt-password-file {args.mqtt_password_file}: cannot read it ({exc})")
        password = lines[0] if lines else ""
        if not password:
            parser.error(f"--mqtt-password-file {args.mqtt_password_file}: its first line is empty")
    elif os.environ.get(PASSWORD_ENV):
        password = os.environ[PASSWORD_ENV]
    if args.mqtt_user and password is None:
        parser.error(
            f"--mqtt-user {args.mqtt_user} needs a password: --mqtt-password-file FILE "
            f"or the environment variable {PASSWORD_ENV}"
        )
    if password is not None and not args.mqtt_user:
        parser.error("a broker password needs --mqtt-user NAME")
    if args.mqtt_tls_ca is not None and not args.mqtt_tls_ca.is_file():
        parser.error(f"--mqtt-tls-ca {args.mqtt_tls_ca}: no such file")
    return BrokerSettings(host, port, args.mqtt_user, password, args.mqtt_tls_ca)


def make_client(
    settings: BrokerSettings, client_id: str, *, protocol: int = mqtt.MQTTv311, clean: bool = True
) -> mqtt.Client:
    """A paho client for ``settings`` (callback API 2), not yet connected.

    Args:
        settings: The broker and our login.
        client_id: Our MQTT client id (1–23 characters are guaranteed by MQTT 3.1.1
            §3.1.3.1; mosquitto takes longer ones).
        protocol: ``mqtt.MQTTv311`` or ``mqtt.MQTTv5``.
        clean: MQTT 3.1.1's clean session (MQTT 5 sets clean start at connect).
    """
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=protocol,
        clean_session=clean if protocol != mqtt.MQTTv5 else None,
    )
    if settings.username is not None:
        client.username_pw_set(settings.username, settings.password)
    if settings.tls_ca is not None:
        client.tls_set(ca_certs=str(settings.tls_ca))
    client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)  # type: ignore[arg-type]
    return client


class ConnectionWatch:
    """Follows one client's connection; call its ``on_*`` from the client's callbacks.

    Args:
        settings: The broker (for messages).
        what: Who we are, for messages ("publisher of S07", "team subscriber").
        meanwhile: What happens while the broker is away, for the notice.
        needs_ready: Connected is not enough: :meth:`wait_connected` also waits for
            :meth:`mark_ready` after each connect (a subscriber's SUBACK).
    """

    def __init__(
        self,
        settings: BrokerSettings,
        what: str,
        meanwhile: str = "reconnecting",
        *,
        needs_ready: bool = False,
    ) -> None:
        self.settings = settings
        self.what = what
        self.meanwhile = meanwhile
        self.needs_ready = needs_ready
        self.closing = False
        self.connected = False
        self.ready = False
        self.connects = 0
        self.refused: BrokerError | None = None
        self.last_problem = "not connected yet"
        self._changed = threading.Condition()
        self._notices: list[str] = []

    def on_connect(self, client: mqtt.Client, reason: object) -> bool:
        """A CONNACK came; True if we are connected. A final refusal stops the client."""
        code = getattr(reason, "value", reason)
        with self._changed:
            if not getattr(reason, "is_failure", code != 0):
                if self.connects:
                    self._notices.append(f"{self.what}: {self.settings.address} back")
                self.connected, self.connects = True, self.connects + 1
                self.ready = not self.needs_ready
            elif code in _FINAL_REFUSALS:
                who = self.settings.username or "an anonymous client"
                self.refused = LoginRefusedError(
                    f"{self.settings.describe()}: the broker refused {who}: {reason} "
                    "(check --mqtt-user and the password against the broker's password_file)"
                )
                self.last_problem = str(self.refused)
                self._notices.append(str(self.refused))
                client.disconnect()  # no retry: the same login is refused again
            else:
                self.last_problem = f"the broker refused the connection: {reason}"
            self._changed.notify_all()
        return self.connected

    def mark_ready(self) -> None:
        """What ``needs_ready`` waits for has happened."""
        with self._changed:
            self.ready = True
            self._changed.notify_all()

    def fail(self, error: BrokerError, client: mqtt.Client) -> None:
        """A refusal no retry can change: ``wait_connected`` raises ``error``; stop."""
        with self._changed:
            self.refused = error
            self.last_problem = str(error)
            self._notices.append(str(error))
            self._changed.notify_all()
        client.disconnect()

    def on_disconnect(self, reason: object) -> None:
        """The connection ended."""
        with self._changed:
            if self.connected and not self.closing:
                self._notices.append(
                    f"{self.what}: lost {self.settings.address} ({reason}); {self.meanwhile}"
                )
            self.connected = self.ready = False
            if self.refused is None:
                self.last_problem = f"disconnected: {reason}"
            self._changed.notify_all()

    def on_connect_fail(self) -> None:
        """A TCP connection could not be made (paho retries)."""
        with self._changed:
            self.last_problem = f"cannot connect to {self.settings.address}"
            if self.settings.tls_ca is not None:
                self.last_problem += (
                    f" with TLS: nothing listening, or a certificate not for the name "
                    f"{self.settings.host!r} or not signed by {self.settings.tls_ca}"
                )
            self._changed.notify_all()

    def take_notices(self) -> list[str]:
        """Lines for people since the last call (lost, back, refused), oldest first."""
        with self._changed:
            notices, self._notices = self._notices, []
        return notices

    def wait_connected(self, timeout_s: float) -> None:
        """Return once connected (and ready, if ``needs_ready``).

        Raises:
            LoginRefusedError: The broker refused the login.
            BrokerError: The broker refused something else for good (a subscription),
                or not connected within ``timeout_s`` seconds (names the last problem).
        """
        with self._changed:
            self._changed.wait_for(lambda: self.ready or self.refused, timeout_s)
            if self.refused is not None:
                raise self.refused
            if not self.ready:
                raise BrokerError(
                    f"{self.what}: {self.settings.describe()} not connected after "
                    f"{timeout_s:g} s ({self.last_problem}); is the broker running there?"
                )
