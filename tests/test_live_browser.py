"""The live page in a real headless Chromium: what a person would see.

A real :class:`host.live.server.LiveServer` on a free loopback port, fed from the test
through :meth:`host.live.view.Hub.ingest`; Debian's Chromium (tests/live_browser.py)
loads the page and the tests read the DOM and the page's uPlot charts
(``window.liveCharts``). One browser for the module. Skips when Chromium, its driver
or Selenium is missing, except under CI=true (tests/conftest.py).
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
import time
from collections.abc import Callable
from urllib.parse import urlparse

import live_browser
import pytest

from device.chain import FLAG_LOW_LIGHT, FLAG_NAMES, FLAG_RESIDUAL, ChainSample
from device.codec import NO_LEVEL, Prediction, Record
from device.labels import FATIGUE_LEVELS
from host.collect_records import EVENT_BORG, EVENT_LINK
from host.live.feeds import recording_event
from host.live.server import STATIC_DIR, LiveServer
from host.live.view import EVENT_RECORDING, Hub

VENDOR = STATIC_DIR / "vendor" / "uplot-1.6.32"
#: Longest wait for something that has no deadline of its own (the page loading, a
#: WebSocket reconnecting): generous, so a slow machine only makes the test slower.
WAIT_S = 20.0
#: The trace colour of ΔHbO2 in live.js (TRACES), RGB, and how near a pixel must be.
HBO2_RGB = (0xD6, 0x27, 0x28)
COLOUR_TOLERANCE = 40


# -- records -----------------------------------------------------------------------------------


def sample(t_s: float, flags: int = 0, *, hbo2_gap: bool = False) -> Record:
    """A chain sample with small smooth signals (within ±2 µM, SmO2 near 62 %); with
    ``hbo2_gap`` its ΔHbO2 is NaN (a value the chain could not compute)."""
    a = 2.0 * math.sin(t_s / 3.0)
    return Record.of(
        ChainSample(
            t_s=t_s,
            n_frames=10,
            dark_v=0.002,
            intensity_v=(0.8, 0.7),
            d_od=(0.0, 0.0),
            d_hbo2_um=math.nan if hbo2_gap else a,
            d_hhb_um=-0.5 * a,
            d_thb_um=0.5 * a,
            oi_um=0.0,
            smo2_pct=62.0 + a,
            residual_od=0.0,
            flags=flags,
        )
    )


def prediction(t_s: float, level: int) -> Record:
    """A prediction whose smoothed and raw level is ``level`` (probability 0.8 there)."""
    probs = tuple(0.8 if i == level else 0.05 for i in range(len(FATIGUE_LEVELS)))
    return Record.of(Prediction(t_s, probs, level, level))


def feed(hub: Hub, code: str, t0: float, t1: float, flags: int = 0) -> None:
    """Samples at 10 Hz from ``t0`` up to ``t1`` s (the last one carries ``flags``)."""
    n = round((t1 - t0) * 10)
    for i in range(n + 1):
        hub.ingest(
            code,
            sample(t0 + i / 10, flags if i == n else 0),
            source="simulated",
            sent_unix_s=time.time(),
        )


# -- browser -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    reason = live_browser.missing()
    if reason:
        pytest.skip(reason)
    driver = live_browser.start_chromium(tmp_path_factory.mktemp("chromium-profile"))
    yield driver
    driver.quit()


@pytest.fixture
def served():
    hub = Hub()
    server = LiveServer(hub, port=0).start()
    yield hub, server
    server.stop()


def wait_for(what: str, probe: Callable[[], object], timeout_s: float = WAIT_S) -> object:
    """Poll ``probe`` until it returns something true; fail naming ``what`` and its last value."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not seen in {timeout_s} s (last: {value!r})")
        time.sleep(0.05)


def field(driver, code: str, name: str) -> str:
    """The visible text of a card's ``data-field`` ('' when hidden, None when missing)."""
    return driver.execute_script(
        "const e = document.querySelector(`[data-wearable='${arguments[0]}'] "
        "[data-field='${arguments[1]}']`);"
        "return e === null ? null : e.checkVisibility() ? e.innerText.trim() : '';",
        code,
        name,
    )


def chart(driver, code: str, expr: str):
    """``expr`` evaluated on the wearable's uPlot instance ``u`` (None if no chart yet)."""
    return driver.execute_script(
        f"const u = (window.liveCharts || {{}})[arguments[0]]; return u ? ({expr}) : null;", code
    )


def hbo2_pixels(driver, code: str) -> int:
    """Pixels of the ΔHbO2 trace's colour on the wearable's chart canvas (what is drawn)."""
    return driver.execute_script(
        """const u = (window.liveCharts || {})[arguments[0]]; if (!u) return 0;
        const c = u.ctx.canvas, px = u.ctx.getImageData(0, 0, c.width, c.height).data;
        const [r, g, b, tol] = arguments[1]; let n = 0;
        for (let i = 0; i < px.length; i += 4) {
          if (Math.abs(px[i] - r) < tol && Math.abs(px[i + 1] - g) < tol &&
              Math.abs(px[i + 2] - b) < tol && px[i + 3] > 200) n++;
        }
        return n;""",
        code,
        [*HBO2_RGB, COLOUR_TOLERANCE],
    )


def script_errors(driver) -> list[str]:
    """The page's JavaScript errors (not failed loads: the 401 and reconnect tests make those)."""
    return [
        e["message"]
        for e in driver.get_log("browser")
        if e["level"] == "SEVERE"
        and "Failed to load resource" not in e["message"]
        and "WebSocket connection" not in e["message"]
    ]


def fixed_range(name: str) -> list[float]:
    """A fixed axis range as live.js names it once (``const NAME = [lo, hi];``)."""
    text = (STATIC_DIR / "live.js").read_text(encoding="utf-8")
    found = re.search(rf"const {name} = \[(-?[\d.]+), (-?[\d.]+)\];", text)
    assert found, f"live.js names no {name}"
    return [float(found[1]), float(found[2])]


# -- tests -------------------------------------------------------------------------------------


def test_vendored_uplot_matches_its_readme():
    rows = re.findall(
        r"^\| (\S+) \| ([0-9a-f]{64}) \|$",
        (VENDOR / "README.md").read_text(encoding="utf-8"),
        re.M,
    )
    assert {name for name, _ in rows} == {"uPlot.iife.min.js", "uPlot.min.css", "LICENSE"}
    for name, digest in rows:
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name
    page = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    linked = re.findall(r'(?:src|href)="/static/([^"]+)"', page)
    assert len(linked) == 4
    for path in linked:
        assert (STATIC_DIR / path).is_file(), f"index.html links /static/{path}: no such file"


def test_team_page_shows_level_within_2_s_chart_borg_flags_and_new_cards(browser, served, tmp_path):
    hub, server = served
    feed(hub, "S07", 0.0, 15.0, flags=FLAG_RESIDUAL | FLAG_LOW_LIGHT)
    hub.ingest("S07", prediction(15.0, 1), source="simulated")
    hub.ingest("S07", Record.event(13.0, EVENT_BORG, rating=5), source="simulated")
    browser.get(server.url)

    wait_for("S07's level 'light'", lambda: field(browser, "S07", "level") == "light")
    wait_for("S07's chart holding data", lambda: chart(browser, "S07", "u.data[0].length"))
    wait_for("S07's ΔHbO2 trace drawn", lambda: hbo2_pixels(browser, "S07") > 50)
    assert field(browser, "S07", "borg") == "Borg 5 at 13 s"
    flags = [FLAG_NAMES[FLAG_LOW_LIGHT], FLAG_NAMES[FLAG_RESIDUAL]]
    shown = field(browser, "S07", "flags")
    assert shown.startswith("check sensor: ") and all(f in shown for f in flags), shown
    assert "light" in field(browser, "S07", "probabilities")

    # A prediction that changes the level is shown. How soon is a time, measured by the
    # load benchmark, never asserted here: the level rides in the same update messages as
    # the samples, whose delay to the page benchmarks/live_load.py --page prints.
    hub.ingest("S07", prediction(16.0, 3), source="simulated")
    wait_for("the level 'high'", lambda: field(browser, "S07", "level") == "high")
    assert browser.execute_script("return window.liveStats.lastLevel")["S07"] == "high"
    hub.ingest("S07", Record.of(Prediction(17.0, (math.nan,) * 5, NO_LEVEL, NO_LEVEL)), source="x")
    wait_for("'check sensor'", lambda: field(browser, "S07", "level") == "check sensor")

    # Live samples beyond the window: the page keeps the newest 60 s only; NaN is a gap.
    feed(hub, "S07", 15.1, 90.0)
    hub.ingest("S07", sample(90.1, hbo2_gap=True), source="simulated")
    wait_for("S07's newest sample", lambda: chart(browser, "S07", "u.data[0].at(-1)") == 90.1)
    assert chart(browser, "S07", "u.data[0][0]") >= 90.1 - 60.0
    assert chart(browser, "S07", "[u.data[1].at(-1), u.data[2].at(-1) !== null]") == [None, True]
    stats = browser.execute_script("return window.liveStats")
    assert stats["latencies_s"] and all(-1.0 < x < 60.0 for x in stats["latencies_s"])

    for code in ("S08", "S09"):
        feed(hub, code, 0.0, 1.0)
        hub.ingest(code, prediction(1.0, 0), source="simulated")
    hub.ingest(
        "S08",
        Record.event(1.0, EVENT_RECORDING, state="recording", provenance="simulated"),
        source="x",
    )
    hub.ingest(
        "S09", Record.event(1.0, EVENT_LINK, frames=120, lost_frames=2, crc_errors=1), source="x"
    )
    for seq in range(3):  # through the broker: one duplicate
        hub.ingest("S09", sample(2.0), source="x", stream=7, seq=min(seq, 1))
    wait_for(
        "three cards", lambda: browser.execute_script("return window.liveStats.wearables") == 3
    )
    cards = browser.execute_script(
        "return [...document.querySelectorAll('[data-wearable]')].map(e => e.dataset.wearable)"
    )
    assert cards == ["S07", "S08", "S09"]
    wait_for("S09's level", lambda: field(browser, "S09", "level") == "none")
    assert browser.find_element("css selector", "[data-field='count']").text == "3 wearables"
    wait_for("S08's SIMULATED badge", lambda: field(browser, "S08", "simulated") == "SIMULATED")
    assert field(browser, "S07", "simulated") == ""
    assert "SIMULATED" in browser.find_element("css selector", "[data-field='simnote']").text
    assert field(browser, "S08", "recording").endswith("recording")
    assert field(browser, "S09", "link") == "120 frames, 2 lost, 1 CRC errors"
    wait_for(
        "S09's broker account",
        lambda: field(browser, "S09", "delivery") == "2 received, 0 lost, 1 duplicates dropped",
    )
    # The server's own sources (its broker) above every card; a session that ended says so
    status = browser.find_element("css selector", "[data-field='status']")
    hub.set_status("broker", "broker 127.0.0.1:1883 as coach: not connected, trying again")
    wait_for("the broker's status line", lambda: "not connected" in status.text)
    hub.set_status("broker", None)
    wait_for("the status line gone", lambda: not status.is_displayed())
    hub.ingest("S08", recording_event(3.0, None, ended=True), source="simulated")
    wait_for("S08's end", lambda: field(browser, "S08", "stale") == "session ended")
    browser.save_screenshot(str(tmp_path / "team.png"))
    assert script_errors(browser) == []


def test_card_opens_one_wearable_whose_traces_and_axes_toggle(browser, served):
    hub, server = served
    feed(hub, "S07", 0.0, 20.0)
    hub.ingest("S07", prediction(20.0, 2), source="simulated")
    browser.get(server.url)
    wait_for("S07's level", lambda: field(browser, "S07", "level") == "moderate")
    browser.find_element("css selector", "[data-wearable='S07'] [data-field='level']").click()
    wait_for("the one-wearable page", lambda: urlparse(browser.current_url).path == "/w/S07")
    wait_for("its chart drawn", lambda: hbo2_pixels(browser, "S07") > 50)

    legend = browser.find_element("css selector", ".u-legend .u-series:nth-child(2) th")
    assert "ΔHbO2" in legend.text
    legend.click()
    assert chart(browser, "S07", "u.series[1].show") is False
    wait_for("ΔHbO2 trace gone", lambda: hbo2_pixels(browser, "S07") < 5)
    legend.click()
    assert chart(browser, "S07", "u.series[1].show") is True
    wait_for("ΔHbO2 trace back", lambda: hbo2_pixels(browser, "S07") > 50)

    scales = "[u.scales.um.min, u.scales.um.max, u.scales.pct.min, u.scales.pct.max]"
    automatic = chart(browser, "S07", scales)
    assert automatic[1] < 10.0  # the signals stay within ±2 µM: the axis follows them
    browser.find_element("css selector", "[data-axes='fixed']").click()
    assert chart(browser, "S07", scales) == fixed_range("FIXED_UM") + fixed_range("FIXED_PCT")
    browser.find_element("css selector", "[data-axes='auto']").click()
    assert chart(browser, "S07", scales) == automatic
    assert script_errors(browser) == []


def test_a_wearable_without_data_for_3_s_says_so(browser, served):
    hub, server = served
    feed(hub, "S01", 0.0, 1.0)
    feed(hub, "S02", 0.0, 1.0)  # and then nothing
    browser.get(server.url)
    note = wait_for("S02's 'no data' note", lambda: field(browser, "S02", "stale") or None)
    assert re.fullmatch(r"no data for \d+ s", note), note
    hub.ingest("S01", sample(1.1), source="simulated")  # fresh data clears the note
    wait_for("S01 without the note", lambda: field(browser, "S01", "stale") == "")
    assert re.fullmatch(r"no data for \d+ s", field(browser, "S02", "stale"))


def test_the_page_says_it_is_disconnected_and_reconnects(browser, served):
    hub, server = served
    feed(hub, "S07", 0.0, 2.0)
    hub.ingest("S07", prediction(2.0, 1), source="simulated")
    browser.get(server.url)
    wait_for("S07's level", lambda: field(browser, "S07", "level") == "light")
    banner = browser.find_element("css selector", "[data-field='connection']")
    assert not banner.is_displayed()

    server.stop()
    wait_for("the disconnected banner", banner.is_displayed)
    assert "disconnected, retrying" in banner.text

    again = LiveServer(hub, port=server.port).start()
    try:
        hub.ingest("S07", prediction(3.0, 4), source="simulated")
        wait_for(
            "the level after reconnecting", lambda: field(browser, "S07", "level") == "exhausted"
        )
        assert not banner.is_displayed()
    finally:
        again.stop()


def test_off_loopback_the_page_needs_its_token(browser):
    hub = Hub()
    feed(hub, "S07", 0.0, 2.0)
    hub.ingest("S07", prediction(2.0, 3), source="simulated")
    token = secrets.token_urlsafe(16)
    with LiveServer(hub, host="0.0.0.0", port=0, token=token) as server:
        base = f"http://127.0.0.1:{server.port}"
        browser.get(base + "/")
        browser.delete_all_cookies()
        browser.get(base + "/")
        body = browser.find_element("css selector", "body").text
        assert body.startswith("401") and "token" in body, body
        assert browser.execute_script("return window.liveStats") is None

        browser.get(f"{base}/?token={token}")
        wait_for("S07's level with the token", lambda: field(browser, "S07", "level") == "high")
        href = browser.find_element("css selector", "[data-wearable='S07'] a.code")
        assert href.get_attribute("href") == f"{base}/w/S07?token={token}"
        browser.delete_all_cookies()
