"""The team commands end to end, as a user runs them, through a real Mosquitto.

``python -m host live --mqtt`` (the team page) and ``python -m hwsim.wearable --mqtt``
(the simulated main job publishing) each run in a process of their own with the
options a user types; the broker is the shipped configuration on a free loopback port
(test_live_mqtt's ``broker`` fixture: skips without mosquitto, except under CI=true).
PYTHONUNBUFFERED makes the commands' lines arrive one by one, as a terminal shows them.
Nothing here measures time: waits are for conditions, with generous timeouts.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import test_live_mqtt
from test_live_mqtt import WAIT_S, wait_for

from device.codec import Record, RecordKind, decode, encode
from device.session_reader import SessionReader
from host.live.broker import LocalBroker
from host.live.mqtt_settings import PASSWORD_ENV
from host.live.publish import RecordPublisher
from host.live.subscribe import TeamSubscriber
from host.live.view import Hub
from hwsim.record_stream import SimulatedRecordWearable

ROOT = Path(__file__).resolve().parents[1]
#: The shipped configuration's Mosquitto on a free loopback port (a fixture).
broker = test_live_mqtt.broker


def command(*argv: str) -> list[str]:
    return [sys.executable, "-m", *argv]


def user_env() -> dict[str, str]:
    """The environment of a user's shell: the repository importable, no desktop (no browser
    window from a test), no broker password in the environment (the file gives it)."""
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{ROOT / 'hw-sim'}", PYTHONUNBUFFERED="1")
    for name in ("DISPLAY", "WAYLAND_DISPLAY", PASSWORD_ENV):
        env.pop(name, None)
    return env


def login(broker: LocalBroker, password_file: Path) -> list[str]:
    """The broker options a team member types."""
    return [
        "--mqtt", f"{broker.host}:{broker.port}",
        "--mqtt-user", broker.username,
        "--mqtt-password-file", str(password_file),
    ]  # fmt: skip


def password_file(broker: LocalBroker, tmp_path: Path, password: str | None = None) -> Path:
    path = tmp_path / "mqtt-password"
    path.write_text((password or broker.password) + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


class TakingHub(Hub):
    """A Hub that keeps what it took (not dropped as a duplicate), by sequence number."""

    def __init__(self) -> None:
        super().__init__()
        self.taken: dict[str, dict[int, Record]] = {}

    def ingest(self, wearable: str, record: Record, **kwargs) -> bool:
        new = super().ingest(wearable, record, **kwargs)
        if new:
            self.taken.setdefault(wearable, {})[kwargs["seq"]] = record
        return new


def test_host_live_mqtt_shows_every_wearable_published_to_the_broker(broker, tmp_path):
    page = subprocess.Popen(
        command("host", "live", *login(broker, password_file(broker, tmp_path)),
                "--page-port", "0"),
        cwd=ROOT, env=user_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines: list[str] = []
    found = None
    try:
        for line in page.stdout:  # "subscribed to ..." comes first: nothing published is missed
            lines.append(line)
            found = re.match(r"live page: (http://127\.0\.0\.1:\d+/)$", line.strip())
            if found:
                break
        assert found, "".join(lines)
        sent, samples = {}, {}
        for code, seed in (("T01", 1), ("T02", 2)):
            records = SimulatedRecordWearable(code, seed).records_until(4.5)
            samples[code] = sum(r.kind is RecordKind.SAMPLE for r in records)
            publisher = RecordPublisher(broker.settings(), code).start()
            for record in records:
                publisher.send(record)
            publisher.close(WAIT_S)
            assert publisher.stats.buffered == 0 and publisher.stats.dropped == 0
            sent[code] = publisher.stats.sent
        assert sum(sent.values()) >= 100

        def stats() -> dict:
            with urllib.request.urlopen(found.group(1) + "api/stats", timeout=WAIT_S) as answer:
                return json.load(answer)

        def accounted(code: str) -> int:  # received, or known to be lost
            delivery = stats().get(code, {}).get("delivery") or {}
            return delivery.get("received", 0) + delivery.get("lost", 0)

        wait_for(
            lambda: all(accounted(code) >= n for code, n in sent.items()),
            f"the page's /api/stats accounting for {sent} records",
        )
        shown = stats()
        assert sorted(shown) == ["T01", "T02"]
        for code in sent:
            assert shown[code]["delivery"]["lost"] == 0
            assert shown[code]["delivery"]["received"] == sent[code]
            assert shown[code]["delivery"]["duplicates"] == 0
            assert shown[code]["samples"] == samples[code]

        def status() -> str:
            url = found.group(1) + "api/snapshot"
            with urllib.request.urlopen(url, timeout=WAIT_S) as answer:
                return " ".join(json.load(answer).get("status", []))

        assert status() == ""
        broker.stop()  # the page says so above its cards, and its terminal too
        wait_for(lambda: "not connected" in status(), "the page saying its broker is away")
        page.send_signal(signal.SIGINT)  # as a user ends it: Ctrl-C
        lines += page.stdout.readlines()
        assert any(line.startswith("note: ") for line in lines), "".join(lines)
        assert page.wait(WAIT_S) == 0, "".join(lines)
        assert lines[-1].strip() == "stopped (Ctrl-C)", "".join(lines)
    finally:
        page.kill()
        page.wait()


def test_the_simulated_main_job_publishes_every_sample_it_records(broker, tmp_path):
    hub = TakingHub()
    with TeamSubscriber(broker.settings(), hub, client_id="test-cli-team") as subscriber:
        subscriber.wait_connected(WAIT_S)
        job = subprocess.run(
            command("hwsim.wearable", *login(broker, password_file(broker, tmp_path)),
                    "--speed", "50", "--out", str(tmp_path / "out")),
            cwd=ROOT, env=user_env(), capture_output=True, text=True, timeout=10 * WAIT_S,
        )  # fmt: skip
        assert job.returncode == 0, job.stdout + job.stderr
        (record_file,) = (tmp_path / "out").glob("session-*.nrec")
        with SessionReader(record_file) as reader:
            recorded = [encode(r) for r in reader if r.kind is RecordKind.SAMPLE]
        (code,) = hub.wearables()
        wait_for(
            lambda: hub.stats()[code]["samples"] >= len(recorded),
            f"{len(recorded)} samples of {code} through the broker",
        )
    taken = hub.taken[code]
    published = [encode(taken[seq]) for seq in sorted(taken)]
    assert [b for b in published if decode(b).kind is RecordKind.SAMPLE] == recorded
    delivery = hub.stats()[code]["delivery"]
    assert delivery["lost"] == 0 and delivery["received"] == len(taken)
    assert hub.view(code).state()["provenance"] == "simulated"
    assert subscriber.stats.bad_messages == 0


def test_a_wrong_password_is_one_line_naming_the_broker(broker, tmp_path):
    wrong = password_file(broker, tmp_path, password="not-" + broker.password)
    done = subprocess.run(
        command("host", "live", *login(broker, wrong), "--page-port", "0", "--seconds", "5"),
        cwd=ROOT, env=user_env(), capture_output=True, text=True, timeout=4 * WAIT_S,
    )  # fmt: skip
    said = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stdout + done.stderr
    assert len(said) == 1, done.stderr
    assert f"127.0.0.1:{broker.port}" in said[0] and "refused" in said[0], said[0]
    assert "Traceback" not in done.stdout
