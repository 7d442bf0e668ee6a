"""Live load: a team of simulated wearables through a real Mosquitto to a team subscriber.

Issue 18's load figure (the broker part; the page is added later): ``--wearables``
record-level simulated wearables (hwsim.record_stream: SAMPLEs at ``--rate-hz``, a
PREDICTION a second, Borg events) each published by a :class:`host.live.publish.RecordPublisher`
at real time through a :class:`host.live.broker.LocalBroker` running the shipped
configuration, to a :class:`host.live.subscribe.TeamSubscriber` feeding a Hub; the
broker restarted once in the middle (``--crash``: killed, SIGKILL, instead of stopped).
Prints lost, duplicated (received and dropped), late, the latency from the publisher's
``sent_unix_s`` to the subscriber's ingest of each SAMPLE (median, 95th percentile,
max), and the restart's downtime; a progress line every 30 s. Figures only, never a
pass/fail; everything simulated.

    python benchmarks/live_load.py [--seconds 300] [--wearables 20] [--rate-hz 10]
                                   [--restart-at S] [--no-restart] [--crash]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from device.codec import Record, RecordKind
from host.live.broker import LocalBroker
from host.live.publish import RecordPublisher
from host.live.subscribe import TeamSubscriber
from host.live.view import Hub
from hwsim.record_stream import SimulatedRecordWearable

#: Seconds between progress lines.
PROGRESS_S = 30.0
#: Seconds between the pacer's rounds (each sends what came due).
TICK_S = 0.01
#: Generous waits for the broker, connections and the last acknowledgements, s.
WAIT_S = 60.0


class LatencyHub(Hub):
    """A Hub that keeps, for each new SAMPLE, ingest time minus ``sent_unix_s``, s."""

    def __init__(self) -> None:
        super().__init__()
        self.latencies_s: list[float] = []

    def ingest(self, wearable: str, record: Record, **kwargs) -> bool:
        new = super().ingest(wearable, record, **kwargs)
        sent = kwargs.get("sent_unix_s")
        if new and sent is not None and record.kind is RecordKind.SAMPLE:
            self.latencies_s.append(time.time() - sent)
        return new


@dataclass
class Team:
    """The running parts: broker, wearables with their publishers, subscriber, hub."""

    broker: LocalBroker
    wearables: list[SimulatedRecordWearable]
    publishers: list[RecordPublisher]
    subscriber: TeamSubscriber
    hub: LatencyHub

    def all_connected(self) -> bool:
        return self.subscriber.stats.connected and all(p.stats.connected for p in self.publishers)


@contextlib.contextmanager
def team_through_broker(n: int, rate_hz: float, seed: int = 18) -> Iterator[Team]:
    """A LocalBroker, ``n`` simulated wearables "T01"… with connected publishers, and a
    connected, subscribed TeamSubscriber into a LatencyHub; all closed on exit."""
    with contextlib.ExitStack() as stack:
        broker = stack.enter_context(LocalBroker())
        hub = LatencyHub()
        subscriber = stack.enter_context(TeamSubscriber(broker.settings(), hub, client_id="load"))
        subscriber.wait_connected(WAIT_S)
        wearables = [SimulatedRecordWearable(f"T{i + 1:02d}", seed + i, rate_hz) for i in range(n)]
        publishers = []
        for w in wearables:
            publisher = RecordPublisher(broker.settings(), w.subject_code).start()
            stack.callback(publisher.close, 0.0)  # already flushed by run(); safe twice
            publishers.append(publisher)
        for publisher in publishers:
            publisher.wait_connected(WAIT_S)
        yield Team(broker, wearables, publishers, subscriber, hub)


def _pace(team: Team, seconds: float, stop: threading.Event) -> None:
    """Send each wearable's records as their device time comes due, for ``seconds``."""
    start = time.monotonic()
    while not stop.is_set():
        elapsed = time.monotonic() - start
        if elapsed >= seconds:
            return
        for wearable, publisher in zip(team.wearables, team.publishers):
            for record in wearable.records_until(elapsed):
                publisher.send(record)
        stop.wait(TICK_S)


def _percentile(values: list[float], q: float) -> float:
    return (
        statistics.quantiles(values, n=100, method="inclusive")[q - 1] if values else float("nan")
    )


def _wait(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _delivery(team: Team) -> dict[str, int]:
    totals = {"received": 0, "lost": 0, "duplicates": 0, "late": 0}
    for stats in team.hub.stats().values():
        for key in totals:
            totals[key] += (stats["delivery"] or {}).get(key, 0)
    return totals


def _say(line: str) -> None:
    print(line, flush=True)


def run(team: Team, seconds: float, restart_at: float | None, crash: bool, say=_say) -> dict:
    """Pace the team for ``seconds``, restart the broker at ``restart_at``; the figures."""
    stop = threading.Event()
    pacer = threading.Thread(target=_pace, args=(team, seconds, stop), daemon=True)
    start = time.monotonic()
    pacer.start()
    downtime_s = reconnected_s = None
    next_progress = PROGRESS_S
    try:
        while pacer.is_alive():
            elapsed = time.monotonic() - start
            if restart_at is not None and downtime_s is None and elapsed >= restart_at:
                began = time.monotonic()
                downtime_s = team.broker.restart(crash=crash)
                _wait(team.all_connected, WAIT_S)
                reconnected_s = time.monotonic() - began
                say(
                    f"{elapsed:6.1f} s  broker {'killed' if crash else 'restarted'}: not "
                    f"listening for {downtime_s:.3f} s, all clients back after "
                    f"{reconnected_s:.3f} s"
                )
            if elapsed >= next_progress:
                next_progress += PROGRESS_S
                d = _delivery(team)
                buffered = sum(p.stats.buffered for p in team.publishers)
                lat = team.hub.latencies_s
                say(
                    f"{elapsed:6.1f} s  received {d['received']}, missing {d['lost']}, "
                    f"duplicates {d['duplicates']}, buffered {buffered}, latency median "
                    f"{1e3 * statistics.median(lat) if lat else float('nan'):.1f} ms"
                )
            time.sleep(0.05)
    finally:
        stop.set()
        pacer.join()
    sent = {p.wearable: p.stats.sent for p in team.publishers}
    unacked = 0
    for publisher in team.publishers:
        publisher.close(WAIT_S)
        unacked += publisher.stats.buffered
    everyone = lambda: all(  # noqa: E731
        (team.hub.stats().get(w, {}).get("delivery") or {}).get("received", 0) >= n
        for w, n in sent.items()
    )
    _wait(everyone, WAIT_S)
    d = _delivery(team)
    lat = team.hub.latencies_s
    return {
        "sent": sum(sent.values()),
        "not_acknowledged": unacked,
        "dropped_by_publishers": sum(p.stats.dropped for p in team.publishers),
        "received_unique": d["received"],
        "lost": sum(sent.values()) - d["received"],
        "duplicates_dropped": d["duplicates"],
        "late": d["late"],
        "bad_messages": team.subscriber.stats.bad_messages,
        "samples_timed": len(lat),
        "latency_median_ms": 1e3 * statistics.median(lat) if lat else float("nan"),
        "latency_p95_ms": 1e3 * _percentile(lat, 95),
        "latency_max_ms": 1e3 * max(lat) if lat else float("nan"),
        "subscriber_session_resumed": team.subscriber.stats.session_resumed,
        "downtime_s": downtime_s,
        "all_reconnected_s": reconnected_s,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--seconds", type=float, default=300.0, help="seconds of load (default: %(default)s)"
    )
    parser.add_argument(
        "--wearables", type=int, default=20, help="simulated wearables (default: %(default)s)"
    )
    parser.add_argument(
        "--rate-hz", type=float, default=10.0, help="SAMPLEs per second (default: %(default)s)"
    )
    parser.add_argument(
        "--restart-at",
        type=float,
        default=None,
        help="restart the broker this many seconds in (default: half of --seconds)",
    )
    parser.add_argument(
        "--no-restart", action="store_true", help="never restart it (default: restart once)"
    )
    parser.add_argument(
        "--crash",
        action="store_true",
        help="kill the broker (SIGKILL, nothing saved) instead of stopping it (default: SIGTERM)",
    )
    args = parser.parse_args(argv)
    restart_at = None if args.no_restart else (args.restart_at or args.seconds / 2)
    with team_through_broker(args.wearables, args.rate_hz) as team:
        per_s = sum(w.records_per_s for w in team.wearables)
        _say(
            f"{args.wearables} simulated wearables, {per_s:.0f} records/s in all, for "
            f"{args.seconds:g} s through mosquitto at {team.broker.url} (shipped config)"
        )
        figures = run(team, args.seconds, restart_at, args.crash)
    print("figures (simulated wearables, loopback; the page is not in this path yet):")
    for key, value in figures.items():
        print(f"  {key}: {value if not isinstance(value, float) else f'{value:.3f}'}")


if __name__ == "__main__":
    main()
