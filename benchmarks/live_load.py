"""Live load: a team of simulated wearables through a real Mosquitto to a team subscriber.

Issue 18's load figure: ``--wearables`` record-level simulated wearables
(hwsim.record_stream: SAMPLEs at ``--rate-hz``, a PREDICTION a second, Borg events) each
published by a :class:`host.live.publish.RecordPublisher` at real time through a
:class:`host.live.broker.LocalBroker` running the shipped configuration, to a
:class:`host.live.subscribe.TeamSubscriber` feeding a Hub; the broker restarted once in
the middle (``--crash``: killed, SIGKILL, instead of stopped). Prints lost, duplicated
(received and dropped), late, the latency from the publisher's ``sent_unix_s`` to the
subscriber's ingest of each SAMPLE (median, 95th percentile, max), and the restart's
downtime; a progress line every 30 s. Figures only, never a pass/fail; everything
simulated.

With ``--page`` the Hub is also served by a :class:`host.live.server.LiveServer` (free
loopback port) and a headless Chromium (tests/live_browser.py, a 1920x1080 window) keeps
the team page (``/``) open for the whole run; printed beside the subscriber's figures:
samples the page received against samples the subscriber ingested; the latency device
sample -> page (``sent_unix_s`` to the page's handling of the "update" that carried it,
``window.liveStats``; the server sends a page at most every
:data:`host.live.server.UPDATE_INTERVAL_S`, and half of that is in the median); how often
the page connected (1: never reconnected; a snapshot's samples are not timed); the
browser's CPU by process type (/proc); the page's main thread (script, layout, style; CDP
``Performance.getMetrics``); frames drawn per second and long tasks (over 50 ms).
``--screenshot PNG``: the whole team page 15 s before the end, data still flowing.

    python benchmarks/live_load.py [--seconds 300] [--wearables 20] [--rate-hz 10]
                                   [--restart-at S] [--no-restart] [--crash]
                                   [--page [--screenshot PNG]]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from device.codec import Record, RecordKind
from host.live.broker import LocalBroker
from host.live.publish import RecordPublisher
from host.live.server import LiveServer
from host.live.subscribe import TeamSubscriber
from host.live.view import Hub
from hwsim.record_stream import SimulatedRecordWearable

REPO = Path(__file__).resolve().parents[1]
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


def run(
    team: Team,
    seconds: float,
    restart_at: float | None,
    crash: bool,
    say=_say,
    tick: Callable[[float], None] | None = None,
) -> dict:
    """Pace the team for ``seconds``, restart the broker at ``restart_at``; the figures.
    ``tick(elapsed_s)`` is called from this thread about every 50 ms while it paces."""
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
            if tick is not None:
                tick(elapsed)
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


# -- the page (--page) -----------------------------------------------------------------------

#: Seconds before the end at which --screenshot photographs the page (data still flowing,
#: the charts full).
SCREENSHOT_BEFORE_END_S = 15.0
#: Browser window, CSS px: a full-HD monitor, four cards a row (assumption: a coach's screen).
PAGE_WIDTH, PAGE_HEIGHT = 1920, 1080
#: Installed in the page once it is open: counts the frames it draws (a requestAnimationFrame
#: callback each, https://html.spec.whatwg.org/#animation-frames) and its long tasks
#: (main-thread work over 50 ms, the Long Tasks API, https://w3c.github.io/longtasks/).
_PROBE_JS = """
const p = window.loadProbe = {frames: 0, longTasks: 0, longTaskMs: 0, longestTaskMs: 0};
(function frame() { p.frames += 1; requestAnimationFrame(frame); })();
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    p.longTasks += 1; p.longTaskMs += e.duration;
    p.longestTaskMs = Math.max(p.longestTaskMs, e.duration);
  }
}).observe({type: "longtask"});
"""
#: Main-thread times Chrome keeps for a page, s (CDP Performance.getMetrics).
_MAIN_THREAD_METRICS = ("TaskDuration", "ScriptDuration", "LayoutDuration", "RecalcStyleDuration")
#: The page's counters, and its latencies from index ``arguments[0]`` on.
_READ_JS = """
const s = window.liveStats, p = window.loadProbe, lat = s.latencies_s;
return {samples: s.samples, timed: lat.length, connects: s.connects, wearables: s.wearables,
        frames: p.frames, longTasks: p.longTasks, longTaskMs: p.longTaskMs,
        longestTaskMs: p.longestTaskMs, latencies: lat.slice(arguments[0])};
"""


def _cpu_by_type(root_pid: int) -> dict[str, float]:
    """CPU seconds (user + system, with reaped children's: proc(5), /proc/PID/stat fields
    14-17) of ``root_pid`` and its descendants, by Chromium process type (``--type=``;
    "browser" for the main process, "chromedriver" for the driver)."""
    tick = os.sysconf("SC_CLK_TCK")
    procs: dict[int, tuple[int, float, str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            # Chromium rewrites its command line into one string: search it whole.
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:  # gone in between
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # fields[0] is field 3 (state)
        cpu = sum(int(f) for f in fields[11:15]) / tick
        found = re.search(r"--type=([\w-]+)", cmdline)
        kind = found[1] if found else "chromedriver" if "chromedriver" in cmdline else "browser"
        procs[int(entry.name)] = (int(fields[1]), cpu, kind)
    inside = {root_pid}
    grew = True
    while grew:
        grew = False
        for pid, (ppid, _, _) in procs.items():
            if ppid in inside and pid not in inside:
                inside.add(pid)
                grew = True
    out: dict[str, float] = {}
    for pid in inside & procs.keys():
        _, cpu, kind = procs[pid]
        out[kind] = out.get(kind, 0.0) + cpu
    return out


def _ms(values: list[float], what: str) -> float:
    if not values:
        return float("nan")
    if what == "median":
        return 1e3 * statistics.median(values)
    return 1e3 * (max(values) if what == "max" else _percentile(values, 95))


class PageWatch:
    """The team page open in a headless Chromium for the whole run, and its figures."""

    def __init__(self, team: Team, driver, screenshot: Path | None, seconds: float, say) -> None:
        self.team = team
        self.driver = driver
        self.screenshot = screenshot
        self.shot_at = max(0.0, seconds - SCREENSHOT_BEFORE_END_S)
        self.shot_taken_at: float | None = None
        self.say = say
        self.latencies: list[float] = []
        self.next_progress = PROGRESS_S
        self.cpu0 = self.cpu_last = self._cpu()
        self.process0 = time.process_time()
        self.t0 = self.t_last = time.monotonic()
        driver.execute_cdp_cmd("Performance.enable", {})
        self.main0 = self._main_thread()
        self.page0 = self.read()
        self.frames_last = self.page0["frames"]

    def _main_thread(self) -> dict[str, float]:
        """The page's main-thread seconds so far: tasks in all, and in script, layout and
        style (Chrome DevTools Protocol, Performance.getMetrics)."""
        metrics = self.driver.execute_cdp_cmd("Performance.getMetrics", {})["metrics"]
        return {m["name"]: m["value"] for m in metrics if m["name"] in _MAIN_THREAD_METRICS}

    def _cpu(self) -> dict[str, float]:
        return _cpu_by_type(self.driver.service.process.pid)

    def read(self) -> dict:
        """The page's counters now; its new latencies join :attr:`latencies`."""
        page = self.driver.execute_script(_READ_JS, len(self.latencies))
        self.latencies.extend(page.pop("latencies"))
        return page

    def subscriber_samples(self) -> int:
        return sum(s["samples"] for s in self.team.hub.stats().values())

    def tick(self, elapsed: float) -> None:
        """Progress lines every PROGRESS_S, and the screenshot near the end."""
        if self.screenshot is not None and self.shot_taken_at is None and elapsed >= self.shot_at:
            self.take_screenshot()
            self.shot_taken_at = elapsed
            self.say(f"{elapsed:6.1f} s  page: screenshot {self.screenshot}")
        if elapsed < self.next_progress:
            return
        self.next_progress += PROGRESS_S
        start = len(self.latencies)
        page = self.read()
        now, cpu = time.monotonic(), self._cpu()
        wall = now - self.t_last
        busy = sum(cpu.values()) - sum(self.cpu_last.values())
        recent = self.latencies[start:]
        self.say(
            f"{elapsed:6.1f} s  page: {page['samples']} samples (subscriber "
            f"{self.subscriber_samples()}), last {wall:.0f} s: latency median "
            f"{_ms(recent, 'median'):.1f} ms, p95 {_ms(recent, 'p95'):.1f} ms; browser CPU "
            f"{100 * busy / wall:.0f} % of a core; {(page['frames'] - self.frames_last) / wall:.0f}"
            f" frames/s; long tasks so far {page['longTasks'] - self.page0['longTasks']}; "
            f"connects {page['connects']}"
        )
        self.t_last, self.cpu_last, self.frames_last = now, cpu, page["frames"]

    def take_screenshot(self) -> None:
        """The whole page, however tall (a viewport as high as the document, then back)."""
        height = self.driver.execute_script("return document.documentElement.scrollHeight")
        self.driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": PAGE_WIDTH, "height": int(height), "deviceScaleFactor": 1, "mobile": False},
        )
        time.sleep(0.5)  # a frame or two at the new size
        self.screenshot.parent.mkdir(parents=True, exist_ok=True)
        self.driver.save_screenshot(str(self.screenshot))
        self.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})

    def figures(self) -> dict:
        """After the run: wait for the page to have what the subscriber ingested; its figures."""
        want = self.subscriber_samples()
        _wait(lambda: self.read()["samples"] >= want, WAIT_S)
        page = self.read()
        wall = time.monotonic() - self.t0
        process_s = time.process_time() - self.process0
        cpu = self._cpu()
        lat = self.latencies
        fifth = max(1, len(lat) // 5)
        busy = {k: v - self.cpu0.get(k, 0.0) for k, v in cpu.items()}
        main = {k: v - self.main0.get(k, 0.0) for k, v in self._main_thread().items()}
        return {
            "page_samples_received": page["samples"],
            "subscriber_samples_ingested": want,
            "page_received_all": page["samples"] == want,
            "page_samples_timed": page["timed"],
            "page_latency_median_ms": _ms(lat, "median"),
            "page_latency_p95_ms": _ms(lat, "p95"),
            "page_latency_max_ms": _ms(lat, "max"),
            "page_latency_median_ms_by_fifth": [
                round(_ms(lat[i : i + fifth], "median"), 1) for i in range(0, len(lat), fifth)
            ][:5],
            "page_connects": page["connects"],
            "page_wearables": page["wearables"],
            "page_measured_s": wall,
            "browser_cpu_pct_of_a_core": 100 * sum(busy.values()) / wall,
            "browser_cpu_s_by_process": {k: round(v, 1) for k, v in sorted(busy.items())},
            "this_process_cpu_pct_of_a_core": 100 * process_s / wall,
            "page_main_thread_pct": {
                k.removesuffix("Duration").lower(): round(100 * v / wall, 1)
                for k, v in main.items()
            },
            "page_frames_per_s": (page["frames"] - self.page0["frames"]) / wall,
            "page_long_tasks": page["longTasks"] - self.page0["longTasks"],
            "page_long_task_ms_total": page["longTaskMs"] - self.page0["longTaskMs"],
            "page_longest_task_ms": page["longestTaskMs"],
            "screenshot": f"{self.screenshot} at {self.shot_taken_at:.0f} s"
            if self.shot_taken_at is not None
            else None,
        }


@contextlib.contextmanager
def page_on(team: Team, screenshot: Path | None, seconds: float, say=_say) -> Iterator[PageWatch]:
    """The team's Hub served on a free loopback port and its team page open in a headless
    Chromium, connected (and measured from then on) before the run starts."""
    sys.path.insert(0, str(REPO / "tests"))
    import live_browser  # tests/: how the project starts its headless Chromium

    reason = live_browser.missing()
    if reason:
        raise SystemExit(f"--page needs a browser: {reason}")
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(LiveServer(team.hub, port=0))
        profile = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="load-chromium-")))
        driver = live_browser.start_chromium(profile, PAGE_WIDTH, PAGE_HEIGHT)
        stack.callback(driver.quit)
        driver.get(server.url)
        connected = "return window.liveStats ? window.liveStats.connects : 0"
        if not _wait(lambda: driver.execute_script(connected) >= 1, WAIT_S):
            raise SystemExit(f"the page {server.url} did not connect in {WAIT_S:g} s")
        driver.execute_script(_PROBE_JS)
        say(f"page {server.url} open in headless Chromium ({PAGE_WIDTH}x{PAGE_HEIGHT})")
        yield PageWatch(team, driver, screenshot, seconds, say)


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
    parser.add_argument(
        "--page",
        action="store_true",
        help="serve the Hub as the live page and keep the team page open in a headless "
        "Chromium for the whole run; print the page's figures too (default: no page)",
    )
    parser.add_argument(
        "--screenshot",
        type=Path,
        default=None,
        metavar="PNG",
        help=f"with --page: the whole team page {SCREENSHOT_BEFORE_END_S:g} s before the end "
        "(default: none)",
    )
    args = parser.parse_args(argv)
    if args.screenshot and not args.page:
        parser.error("--screenshot photographs the page: give --page too")
    restart_at = None if args.no_restart else (args.restart_at or args.seconds / 2)
    with contextlib.ExitStack() as stack:
        team = stack.enter_context(team_through_broker(args.wearables, args.rate_hz))
        per_s = sum(w.records_per_s for w in team.wearables)
        _say(
            f"{args.wearables} simulated wearables, {per_s:.0f} records/s in all, for "
            f"{args.seconds:g} s through mosquitto at {team.broker.url} (shipped config)"
        )
        page = None
        if args.page:
            page = stack.enter_context(page_on(team, args.screenshot, args.seconds))
        figures = run(team, args.seconds, restart_at, args.crash, tick=page.tick if page else None)
        if page is not None:
            figures.update(page.figures())
            if figures["page_connects"] != 1:
                _say(
                    f"NOTE: the page connected {figures['page_connects']} times: the samples "
                    "of its snapshots after the first are counted but not timed"
                )
    where = "to the page" if args.page else "to the subscriber (no page: --page)"
    print(f"figures (simulated wearables, loopback, {where}):")
    for key, value in figures.items():
        print(f"  {key}: {value if not isinstance(value, float) else f'{value:.3f}'}")


if __name__ == "__main__":
    main()
