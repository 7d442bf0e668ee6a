"""The live page's command-line options, shared by every command that serves it or
publishes to a broker: ``host live``, ``host collect``, the simulated wearable.

:func:`add_live_options` adds ``--live`` (serve the page while recording), the page's
own options and the broker's (:mod:`host.live.mqtt_settings`); :func:`live_sinks` turns
them into the sink the recording loop sends its records to, serving the page and
connecting the publisher for as long as its ``with`` block runs.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import secrets
import sys
import webbrowser
from collections.abc import Callable, Iterator
from pathlib import Path

from device.argtypes import existing_file
from host.live.server import LiveServer, needs_token

__all__ = [
    "DEFAULT_PORT",
    "add_live_options",
    "add_page_options",
    "live_sinks",
    "open_page",
    "read_token",
]

#: The page's port unless told (assumption: free on most laptops; 8000/8080 often are not).
DEFAULT_PORT = 8050
#: How long a publisher waits for its broker at the start before recording without it, s.
BROKER_WAIT_S = 5.0
#: What a token may hold: the characters an address carries unchanged (RFC 3986 §2.3).
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9._~-]+")
#: Shortest token a --token-file may hold, characters (secrets.token_urlsafe(24) gives 32).
MIN_TOKEN_CHARS = 16


def add_page_options(parser: argparse.ArgumentParser) -> None:
    """The page's options (--page-host, --page-port, --token-file, --open), the same in
    every command that serves the page."""
    parser.add_argument(
        "--page-host",
        default="127.0.0.1",
        help="address the page listens on; anything but loopback needs a token "
        "(default: %(default)s, this computer only)",
    )
    parser.add_argument(
        "--page-port",
        type=_port,
        default=DEFAULT_PORT,
        help="port of the page, 0 for any free one (default: %(default)s)",
    )
    parser.add_argument(
        "--token-file",
        type=existing_file,
        default=None,
        help=f"file whose first line is the page's token (at least {MIN_TOKEN_CHARS} "
        "characters); makes the page ask for it even on loopback (default: a new random "
        "token when --page-host is not loopback, none on loopback)",
    )
    parser.add_argument(
        "--open",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="open the page in this computer's web browser (default: when a desktop is "
        "running, i.e. DISPLAY or WAYLAND_DISPLAY is set, or on macOS/Windows; always "
        "print its address)",
    )


def _port(text: str) -> int:
    """argparse type: a TCP port, 0 (any free one) to 65535."""
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port from 0 to 65535")
    return int(text)


def read_token(path: Path | None, host: str) -> str | None:
    """The page's token: ``path``'s first line, or a new one when ``host`` needs one.

    Raises:
        ValueError: The file cannot be read, or its first line is not a token: at least
            :data:`MIN_TOKEN_CHARS` of the characters an address carries as they are
            (letters, digits, '-', '_', '.', '~'); names the file.
    """
    if path is not None:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"--token-file {path}: cannot read it ({exc})") from None
        token = lines[0].strip() if lines else ""
        if len(token) < MIN_TOKEN_CHARS or not _TOKEN_CHARS.fullmatch(token):
            raise ValueError(
                f"--token-file {path}: the token on its first line must be at least "
                f"{MIN_TOKEN_CHARS} letters, digits, '-', '_', '.' or '~' (python -c 'import "
                "secrets; print(secrets.token_urlsafe(24))' makes one)"
            )
        return token
    return secrets.token_urlsafe(24) if needs_token(host) else None


def has_desktop() -> bool:
    """True where a web browser can show a window: macOS, Windows, or a Linux desktop.

    (Without one, :mod:`webbrowser` would start a text browser in the terminal.)
    """
    return sys.platform in ("darwin", "win32") or bool(
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )


def open_page(
    args: argparse.Namespace, server: LiveServer, say: Callable[[str], object] = print
) -> None:
    """Tell the page's address, and open it (``--open``; by default when
    :func:`has_desktop`)."""
    say(f"live page: {server.url}")
    if server.token is not None:
        say("  (the page asks for its token: share this address only with who may watch)")
    sys.stdout.flush()  # the address first, also through a pipe
    wanted = has_desktop() if args.open is None else args.open
    if wanted and not webbrowser.open(server.url):
        say("  no web browser could be opened here: open the address above")


def add_live_options(parser: argparse.ArgumentParser) -> None:
    """``--live``, the page's options and the broker's, for a command that records."""
    from host.live.mqtt_settings import add_mqtt_options

    parser.add_argument(
        "--live",
        action="store_true",
        help="show the session on the live page while it runs (default: no page)",
    )
    add_page_options(parser)
    add_mqtt_options(parser)


@contextlib.contextmanager
def live_sinks(
    args: argparse.Namespace,
    parser: argparse.ArgumentParser,
    wearable: str,
    source: str,
    say: Callable[[str], object] = print,
) -> Iterator[object | None]:
    """The sink ``--live`` and ``--mqtt`` ask for (None if neither), live for the block.

    The page is served and the publisher connected on entry; on exit the publisher
    sends what it still holds (up to its timeout, then says how many it could not) and
    the page stops.

    Raises:
        OSError: The page's address cannot be listened on.
        ValueError: A bad token file, or a wearable that is not a subject code.
    """
    from host.live.feeds import Fanout, HubFeed
    from host.live.mqtt_settings import BrokerError, LoginRefusedError, settings_from_args
    from host.live.view import Hub
    from host.live.wire import check_wearable_id

    check_wearable_id(wearable)
    settings = settings_from_args(parser, args)
    sinks: list = []
    with contextlib.ExitStack() as stack:
        if args.live:
            hub = Hub()
            token = read_token(args.token_file, args.page_host)
            server = stack.enter_context(LiveServer(hub, args.page_host, args.page_port, token))
            open_page(args, server, say)
            sinks.append(HubFeed(hub, wearable, source))
        if settings is not None:
            from host.live.publish import RecordPublisher

            publisher = RecordPublisher(settings, wearable)
            stack.callback(_close_publisher, publisher, say)
            publisher.start()
            try:
                publisher.wait_connected(BROKER_WAIT_S)
                say(f"publishing {wearable} to {settings.describe()}")
            except LoginRefusedError:
                raise  # a retry cannot mend a wrong password: say so and stop
            except BrokerError as exc:  # away for now: the records wait for it
                say(f"note: {exc}; recording anyway, the records wait for the broker")
            sinks.append(publisher)
        yield Fanout(*sinks) if sinks else None


def _close_publisher(publisher, say: Callable[[str], object]) -> None:
    said = publisher.close()
    if said:
        stats = publisher.stats
        if stats.dropped or stats.acknowledged < stats.sent:
            said += " (the session record keeps every record)"
        say(said)
