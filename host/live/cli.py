"""``python -m host live``: the live page for session records replayed and a team's broker.

The page itself also opens from the commands that make data: ``host collect --live``
(a wearable on a serial port) and ``./dev run --live`` (the simulated wearable). This
command shows what is already flowing elsewhere: ``--mqtt`` subscribes to every
wearable published to a broker (``host collect --mqtt``, ``./dev run --mqtt``), and
``--replay`` plays session records (``.nrec``) again at their own pace.
"""

from __future__ import annotations

import argparse
import re
import sys
import threading
import time

from device.argtypes import existing_file, positive_float, positive_int
from host.live.options import add_page_options, open_page, read_token
from host.live.server import LiveServer

__all__ = ["main_args"]

#: Seconds between the status lines while serving.
STATUS_INTERVAL_S = 10.0


def _parser() -> argparse.ArgumentParser:
    from host.live.mqtt_settings import add_mqtt_options

    parser = argparse.ArgumentParser(
        prog="python -m host live",
        description="The live page: session records replayed, and a team's wearables "
        "through an MQTT broker.\n\n" + __doc__.split("\n\n")[1].replace("``", ""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--replay",
        nargs="+",
        type=existing_file,
        default=[],
        metavar="NREC",
        help="session records (.nrec, the wearable's or collect's) to play again, each a "
        "wearable on the page (default: none)",
    )
    parser.add_argument(
        "--speed",
        type=positive_float,
        default=1.0,
        help="replay speed, times real time (default: %(default)s)",
    )
    parser.add_argument(
        "--once",
        action="store_true",
        help="stop when the replays end (default: serve until Ctrl-C)",
    )
    group = add_mqtt_options(parser, what="subscribe to every wearable published to this broker")
    group.add_argument(
        "--mqtt-client-id",
        default=None,
        metavar="ID",
        help="this page's MQTT client id: the broker keeps what the page missed under it, "
        "so two pages on one computer need two ids (default: nirs-team-HOST-USER)",
    )
    add_page_options(parser)
    parser.add_argument(
        "--seconds",
        type=positive_int,
        default=None,
        help="stop after this many seconds (default: serve until Ctrl-C)",
    )
    return parser


def main_args(argv: list[str] | None = None) -> int:
    """``python -m host live ...``; returns the exit status."""
    from device.session_reader import SessionFileError
    from host.live.feeds import HubFeed, wearable_of_record
    from host.live.mqtt_settings import settings_from_args
    from host.live.view import Hub
    from host.live.wire import WireError, check_wearable_id

    parser = _parser()
    args = parser.parse_args(argv)
    mqtt = settings_from_args(parser, args)
    if not args.replay and mqtt is None:
        parser.error(
            "nothing to show: give --replay NREC or --mqtt HOST (a wearable on a serial "
            "port: host collect --live; the simulated one: ./dev run --live)"
        )
    if args.once and not args.replay:
        parser.error("--once stops when the replays end: give --replay NREC")
    try:
        token = read_token(args.token_file, args.page_host)
        feeds = []
        for path in args.replay:
            code = wearable_of_record(path) or ""
            try:
                code = check_wearable_id(code)
            except WireError:  # not a code (perhaps a name): the page shows the file's
                code = re.sub(r"[^A-Za-z0-9_-]", "-", path.stem).strip("-_")[:64] or "replay"
                print(f"note: {path} names no subject code; shown as {code}")
            feeds.append((path, code))
    except (OSError, ValueError, SessionFileError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    hub = Hub()
    stop = threading.Event()
    subscriber = None
    try:
        with LiveServer(hub, args.page_host, args.page_port, token) as server:
            if mqtt is not None:
                from host.live.subscribe import TeamSubscriber

                subscriber = TeamSubscriber(mqtt, hub, client_id=args.mqtt_client_id)
                subscriber.start()
                subscriber.wait_connected()
                print(f"subscribed to {mqtt.describe()}")
            threads = [
                threading.Thread(
                    target=_replay_and_say,
                    args=(path, HubFeed(hub, code, f"replay {path.name}"), args.speed, stop),
                    daemon=True,
                )
                for path, code in feeds
            ]
            for thread in threads:
                thread.start()
            open_page(args, server)
            _serve(hub, threads, args, subscriber)
    except KeyboardInterrupt:
        print("stopped (Ctrl-C)")
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        stop.set()
        if subscriber is not None:
            subscriber.stop()
    return 0


def _replay_and_say(path, feed, speed: float, stop: threading.Event) -> None:
    """One replay, and a line when it ends (saying so when the record held no sample)."""
    from host.live.feeds import replay

    sent = replay(path, feed, speed=speed, stop=stop)
    if stop.is_set():
        return
    samples = feed.hub.stats().get(feed.wearable, {}).get("samples", 0)
    if samples:
        print(f"replay of {path} finished: {sent} records, {samples} samples", flush=True)
    else:
        print(f"note: {path} holds no samples ({sent} records): nothing to chart", flush=True)


def _serve(hub, threads, args, subscriber) -> None:
    """Wait for Ctrl-C, --seconds or (--once) the replays' end; a status line now and then."""
    start = time.monotonic()
    next_status = start + STATUS_INTERVAL_S
    while True:
        time.sleep(0.2)
        now = time.monotonic()
        if subscriber is not None:
            for notice in subscriber.take_notices():
                print(f"note: {notice}", flush=True)
            connected = subscriber.stats.connected
            hub.set_status(
                "broker",
                None
                if connected
                else f"{subscriber.settings.describe()}: not connected, "
                "trying again (the broker keeps what arrives meanwhile)",
            )
        if args.seconds is not None and now - start >= args.seconds:
            break
        if args.once and not any(t.is_alive() for t in threads):
            break
        if now >= next_status:
            next_status += STATUS_INTERVAL_S
            stats = hub.stats()
            samples = sum(s["samples"] for s in stats.values())
            line = f"{len(stats)} wearables, {samples} samples"
            if hub.refused:
                line += f"; {hub.refused} records of wearables past the page's limit not shown"
            if subscriber is not None:
                lost = sum((s["delivery"] or {}).get("lost", 0) for s in stats.values())
                dup = sum((s["delivery"] or {}).get("duplicates", 0) for s in stats.values())
                line += f"; broker: {lost} lost, {dup} duplicates dropped"
            print(line, flush=True)
