"""``./dev run --live``: the simulated wearable shown on the live page while it runs.

The main job runs in a process of its own, as a user starts it; the test reads the
page's address from its output and watches the page's WebSocket until the session
ends, then compares what the page got with the session record the job wrote.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import websockets.sync.client as ws_client
from websockets.exceptions import ConnectionClosed

from device.codec import RecordKind
from device.labels import FATIGUE_LEVELS
from device.session_reader import SessionReader

ROOT = Path(__file__).resolve().parents[1]


def test_the_simulated_wearable_streams_its_whole_session_to_the_page(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{ROOT / 'hw-sim'}")
    env.pop("DISPLAY", None)  # no browser window from a test
    env.pop("WAYLAND_DISPLAY", None)
    job = subprocess.Popen(
        [sys.executable, "-m", "hwsim.wearable", "--live", "--page-port", "0",
         "--speed", "50", "--out", str(tmp_path)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines: list[str] = []
    try:
        for line in job.stdout:
            lines.append(line)
            found = re.search(r"live page: (http://127\.0\.0\.1:(\d+)/)", line)
            if found:
                break
        assert found, "".join(lines)
        states: dict = {}
        samples: list[float] = []
        with ws_client.connect(f"ws://127.0.0.1:{found.group(2)}/ws", open_timeout=60) as ws:
            try:
                while True:
                    message = json.loads(ws.recv(timeout=120))
                    for item in message.get("wearables", []):
                        assert item["id"] == "sim-7"
                        states.update(item.get("state", {}))
                        samples += item.get("samples", {}).get("t_s", [])
            except ConnectionClosed:  # the session ended and the page with it
                pass
        lines += job.stdout.readlines()
        assert job.wait(120) == 0, "".join(lines)
    finally:
        job.kill()
        job.wait()
    (record_file,) = tmp_path.glob("session-*.nrec")
    with SessionReader(record_file) as reader:
        recorded = [r.t_s for r in reader if r.kind is RecordKind.SAMPLE]
    # The page got every sample the wearable recorded since it connected, once, in
    # order, and the last minute before (its window): how much that is depends on when
    # it connected, so the test takes any start that keeps the window whole.
    assert samples and samples == recorded[recorded.index(samples[0]) :]
    assert samples[0] == recorded[0] or samples[0] <= recorded[-1] - 60.0 + 0.2
    assert states["provenance"] == "simulated" and states["source"] == "simulated board"
    assert states["level_name"] in FATIGUE_LEVELS
    assert states["recording"]["state"] == "ended"  # "recording" until the session ended
    assert states["recording"]["file"] == record_file.name
