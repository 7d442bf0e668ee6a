"""A screenshot of the live team page with four simulated wearables mid-session.

Makes ``docs/images/live_team.png`` (docs/live_page.md shows it): a real page server
(:class:`host.live.server.LiveServer` on a free loopback port) fed through
:meth:`host.live.view.Hub.ingest`, photographed by a headless Chromium
(tests/live_browser.py). Everything on it is SIMULATED and made for the picture:

- the signals are the simulator's truth (:func:`hwsim.physiology.simulate_session`,
  10 Hz): ΔHbO2 and ΔHHb from the mean of the first 20 s (the protocol's baseline),
  SmO2 = HbO2 / (HbO2 + HHb); they do not go through the optics and the device's chain;
- the fatigue predictions are made up from the subject's own Borg reports
  (:data:`device.labels.DEFAULT_MAPPING`, probabilities spread around that level), not
  the model's; the Borg ratings, phases and task failure are the simulator's;
- S03 gets 2 s of motion ("check sensor", no level) with its signals blanked (a gap),
  S02 a few lost link frames, S04 comes "through the broker" (sequence numbers).

Run: ``python benchmarks/live_screenshot.py`` (about 10 s).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from live_browser import start_chromium  # noqa: E402 (tests/ is put on sys.path just above)

from device.chain import FLAG_RESIDUAL, ChainSample  # noqa: E402
from device.codec import NO_LEVEL, Prediction, Record  # noqa: E402
from device.labels import DEFAULT_MAPPING, FATIGUE_LEVELS  # noqa: E402
from host.collect_records import (  # noqa: E402
    EVENT_BORG,
    EVENT_LINK,
    EVENT_PHASE,
    EVENT_TASK_FAILURE,
)
from host.live.server import LiveServer  # noqa: E402
from host.live.view import EVENT_RECORDING, Hub  # noqa: E402
from hwsim.session_seed import SessionSeed  # noqa: E402

#: The chain's output rate, Hz (device.chain: one ChainSample per 0.1 s).
RATE_HZ = 10.0
#: The protocols' relaxed baseline, s (hwsim.protocols: 20 s in both).
BASELINE_S = 20.0
#: Spread of the made-up probabilities around the level, in levels (assumption: a
#: confident but not certain model).
PROBABILITY_SPREAD = 0.6
#: Seconds of motion given to the wearable that shows "check sensor".
MOTION_S = 2.0
#: Longest wait for the page to show every card with a chart, s.
PAGE_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Wearer:
    """One simulated wearable of the picture."""

    code: str
    protocol: str
    side: str
    now_s: float  # how far into the session the picture is
    source: str
    motion: bool = False
    lost_frames: int = 0
    broker: bool = False


WEARERS = (
    Wearer("S01", "upper_limb", "left", 70.0, "simulated"),
    Wearer("S02", "lower_limb", "left", 100.0, "simulated", lost_frames=3),
    Wearer("S03", "upper_limb", "right", 62.0, "simulated", motion=True),
    Wearer("S04", "upper_limb", "left", 126.0, "broker 127.0.0.1:1883", broker=True),
)


def probabilities(level: int, n: int = len(FATIGUE_LEVELS)) -> tuple[float, ...]:
    """Made-up probabilities peaking at ``level`` (Gaussian in level units, summing to 1)."""
    w = [math.exp(-0.5 * ((i - level) / PROBABILITY_SPREAD) ** 2) for i in range(n)]
    total = sum(w)
    return tuple(x / total for x in w)


def records(wearer: Wearer, seed: int) -> list[Record]:
    """The wearer's records from 0 to ``now_s``, in time order."""
    seeding = SessionSeed(
        seed, wearer.code, wearer.protocol, wearer.side, label=f"sim-{wearer.code}"
    )
    truth = seeding.truth(rate_hz=RATE_HZ)
    keep = truth.t_s <= wearer.now_s
    t = truth.t_s[keep]
    hbo2, hhb = truth.hbo2_um[keep], truth.hhb_um[keep]
    base = truth.t_s[keep] < BASELINE_S
    d_hbo2 = hbo2 - hbo2[base].mean()
    d_hhb = hhb - hhb[base].mean()
    smo2 = 100.0 * hbo2 / (hbo2 + hhb)
    motion_from = wearer.now_s - MOTION_S if wearer.motion else math.inf

    out: list[Record] = [
        Record.event(
            0.0,
            EVENT_RECORDING,
            state="recording",
            file=f"{wearer.code}_{wearer.protocol}_{wearer.side}.snirf",
            provenance="simulated",
        )
    ]
    events: list[tuple[float, Record]] = []
    for start, phase in zip(truth.phase_start_s, truth.phases):
        if start <= wearer.now_s:
            events.append((start, Record.event(start, EVENT_PHASE, phase=phase.name)))
    for ts, rating in zip(truth.borg.t_s, truth.borg.rating):
        if ts <= wearer.now_s:
            events.append((ts, Record.event(float(ts), EVENT_BORG, rating=int(rating))))
    if truth.task_failure_s is not None and truth.task_failure_s <= wearer.now_s:
        events.append(
            (truth.task_failure_s, Record.event(truth.task_failure_s, EVENT_TASK_FAILURE))
        )
    events.sort(key=lambda e: e[0])

    k = 0
    for i, ts in enumerate(t):
        ts = float(ts)
        while k < len(events) and events[k][0] <= ts:
            out.append(events[k][1])
            k += 1
        moving = ts >= motion_from
        nan = math.nan
        out.append(
            Record.of(
                ChainSample(
                    t_s=ts,
                    n_frames=10,
                    dark_v=0.002,
                    intensity_v=(0.8, 0.7),
                    d_od=(0.0, 0.0),
                    d_hbo2_um=nan if moving else float(d_hbo2[i]),
                    d_hhb_um=nan if moving else float(d_hhb[i]),
                    d_thb_um=nan if moving else float(d_hbo2[i] + d_hhb[i]),
                    oi_um=0.0,
                    smo2_pct=nan if moving else float(smo2[i]),
                    residual_od=0.0,
                    flags=FLAG_RESIDUAL if moving else 0,
                )
            )
        )
        if i % int(RATE_HZ) == int(RATE_HZ) - 1:  # once a second: a level and the link
            if moving:
                out.append(Record.of(Prediction(ts, (math.nan,) * 5, NO_LEVEL, NO_LEVEL)))
            else:
                level = int(DEFAULT_MAPPING.level(int(truth.borg.rating_at(ts))))
                out.append(Record.of(Prediction(ts, probabilities(level), level, level)))
            if not wearer.broker:
                frames = int(ts * RATE_HZ)
                lost = wearer.lost_frames if ts > wearer.now_s / 2 else 0
                out.append(
                    Record.event(ts, EVENT_LINK, frames=frames, lost_frames=lost, crc_errors=lost)
                )
    return out


def feed(hub: Hub, seed: int) -> None:
    """Every wearer's records into ``hub``, as their host sides would have sent them."""
    for wearer in WEARERS:
        for seq, record in enumerate(records(wearer, seed)):
            hub.ingest(
                wearer.code,
                record,
                source=wearer.source,
                stream=1 if wearer.broker else None,
                seq=seq if wearer.broker else None,
                sent_unix_s=time.time(),
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO / "docs" / "images" / "live_team.png",
        help="PNG to write (default: %(default)s)",
    )
    parser.add_argument(
        "--width",
        type=int,
        default=1440,
        help="browser window width, CSS px (default: %(default)s)",
    )
    parser.add_argument(
        "--height",
        type=int,
        default=1000,
        help="browser window height, CSS px (default: %(default)s)",
    )
    parser.add_argument(
        "--seed", type=int, default=2025, help="simulator seed (default: %(default)s)"
    )
    args = parser.parse_args(argv)

    hub = Hub()
    with LiveServer(hub, port=0) as server, tempfile.TemporaryDirectory() as profile:
        feed(hub, args.seed)
        driver = start_chromium(Path(profile), args.width, args.height)
        try:
            driver.get(server.url)
            deadline = time.monotonic() + PAGE_TIMEOUT_S
            script = (
                "const c = window.liveCharts || {};"
                "return Object.keys(c).filter(k => c[k].data[0].length > 0).length;"
            )
            while driver.execute_script(script) < len(WEARERS):
                if time.monotonic() > deadline:
                    raise SystemExit(f"the page did not show {len(WEARERS)} charts in time")
                time.sleep(0.1)
            time.sleep(0.5)  # a frame or two for the charts to draw
            # The whole page, however tall: a viewport as high as the document.
            height = driver.execute_script("return document.documentElement.scrollHeight")
            driver.execute_cdp_cmd(
                "Emulation.setDeviceMetricsOverride",
                {
                    "width": args.width,
                    "height": int(height),
                    "deviceScaleFactor": 1,
                    "mobile": False,
                },
            )
            time.sleep(0.5)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(args.out))
        finally:
            driver.quit()
    print(f"wrote {args.out} ({len(WEARERS)} simulated wearables)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
