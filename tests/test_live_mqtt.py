"""A team through a real Mosquitto: the shipped configuration, publishers, the subscriber.

Tests that need a broker start Debian's mosquitto with deploy/mosquitto/nirs-live.conf
(host.live.broker.LocalBroker) on a free loopback port; without mosquitto they skip,
except under CI=true (tests/conftest.py), where ./dev test has installed it. Nothing
here measures time: waits are for conditions, with generous timeouts.
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from device.codec import Record, RecordKind, encode
from host.collect_records import EVENT_BORG
from host.live import broker as broker_module
from host.live.broker import SHIPPED_CONFIG, BrokerError, LocalBroker, local_config
from host.live.mqtt_settings import (
    PASSWORD_ENV,
    BrokerSettings,
    LoginRefusedError,
    add_mqtt_options,
    settings_from_args,
)
from host.live.publish import RecordPublisher
from host.live.subscribe import TeamSubscriber
from host.live.view import Hub
from host.live.wire import encode_message, records_topic
from hwsim.record_stream import SimulatedRecordWearable

#: Generous: a loaded CI machine; nothing asserts how long anything took.
WAIT_S = 60.0


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> None:
    """Wait until ``condition()``; fail naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s:g} s: {what}")
        time.sleep(0.02)


class RecordingHub(Hub):
    """A Hub that also keeps, per wearable, the record bytes of what it took (not dropped)."""

    def __init__(self) -> None:
        super().__init__()
        self.taken: dict[str, dict[int, bytes]] = {}

    def ingest(self, wearable: str, record: Record, **kwargs) -> bool:
        new = super().ingest(wearable, record, **kwargs)
        if new:
            self.taken.setdefault(wearable, {})[kwargs["seq"]] = encode(record)
        return new

    def count(self, wearable: str) -> int:
        return len(self.taken.get(wearable, {}))


def assert_charted_in_order(hub: Hub, wearable: str, records: list[Record]) -> None:
    """Every SAMPLE sent reached the chart: none arrived after a later one (late)."""
    view = hub.view(wearable)
    assert view.late_samples == 0
    assert view.next_index == sum(r.kind is RecordKind.SAMPLE for r in records)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[LocalBroker]:
    for tool in (broker_module.MOSQUITTO, broker_module.MOSQUITTO_PASSWD):
        if not tool.is_file():
            pytest.skip(f"{tool} not found: apt-get install mosquitto")
    with LocalBroker(tmp_path / "broker") as local:
        yield local


def records_of(code: str, seconds: float, seed: int = 11) -> list[Record]:
    return SimulatedRecordWearable(code, seed).records_until(seconds)


def publish_all(publisher: RecordPublisher, records: list[Record], every: int = 0) -> None:
    for i, record in enumerate(records):
        publisher.send(record)
        if every and i % every == every - 1:
            time.sleep(0.01)  # spread over time, so a restart falls in the middle


# -- not open to anyone ------------------------------------------------------------------------


def test_shipped_config_allows_no_anonymous_client():
    lines = [
        line.split()
        for line in SHIPPED_CONFIG.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    options = {words[0]: words[1:] for words in lines}
    assert options["allow_anonymous"] == ["false"]
    assert options["password_file"]
    assert options["listener"] == ["1883", "127.0.0.1"]
    assert options["persistence"] == ["true"]
    assert int(options["max_queued_messages"][0]) >= 20 * 11 * 60  # a minute of 20 wearables


def test_local_broker_runs_the_shipped_config_with_only_its_own_places(tmp_path):
    shipped = SHIPPED_CONFIG.read_text().splitlines()
    local = local_config("\n".join(shipped), host="127.0.0.1", port=4242, directory=tmp_path)
    changed = [(a, b) for a, b in zip(shipped, local.splitlines()) if a != b]
    assert [a.split()[0] for a, _ in changed] == [
        "listener",
        "password_file",
        "persistence_location",
        "log_dest",
    ]
    assert ("listener 4242 127.0.0.1") in local
    with pytest.raises(BrokerError, match="listener .0 times"):
        local_config("allow_anonymous false\n", host="127.0.0.1", port=1, directory=tmp_path)


def test_missing_mosquitto_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setattr(broker_module, "MOSQUITTO", tmp_path / "no-mosquitto")
    with pytest.raises(BrokerError, match="apt-get install mosquitto"):
        LocalBroker(tmp_path)


def test_anonymous_client_and_wrong_password_are_refused(broker):
    anonymous = BrokerSettings(broker.host, broker.port)
    wrong = broker.settings(username=broker.username, password="not-the-password")
    with (
        TeamSubscriber(anonymous, Hub(), client_id="t-anon") as subscriber,
        pytest.raises(LoginRefusedError) as refused,
    ):
        subscriber.wait_connected(WAIT_S)
    line = str(refused.value)
    assert "refused an anonymous client" in line and "Not authorized" in line
    assert "\n" not in line
    publisher = RecordPublisher(wrong, "S01").start()
    publisher.send(Record.event(0.0, "probe"))  # buffered, never raises
    with pytest.raises(LoginRefusedError, match="refused nirs: Not authorized"):
        publisher.wait_connected(WAIT_S)
    assert publisher.stats.refused and not publisher.stats.connected
    assert any("refused" in n for n in publisher.take_notices())
    assert "1 not acknowledged" in publisher.close(timeout_s=1.0)
    wait_for(lambda: broker.log_file.read_text().count("not authorised") >= 2, "the log says so")


def test_a_user_added_later_may_connect(broker):
    broker.add_user("coach", "c0ach-pw")
    with TeamSubscriber(broker.settings("coach", "c0ach-pw"), Hub(), client_id="t-coach") as sub:
        sub.wait_connected(WAIT_S)


# -- many wearables, one broker ----------------------------------------------------------------


def test_three_wearables_round_trip_every_record_once(broker):
    hub = RecordingHub()
    codes = ["S01", "S02", "S03"]
    sent = {code: records_of(code, 25.0) for code in codes}
    assert all(len(r) > 250 for r in sent.values())
    with TeamSubscriber(broker.settings(), hub, client_id="t-team") as subscriber:
        subscriber.wait_connected(WAIT_S)
        publishers = [RecordPublisher(broker.settings(), code).start() for code in codes]
        for publisher in publishers:
            publish_all(publisher, sent[publisher.wearable])
        for publisher in publishers:
            assert publisher.close(timeout_s=WAIT_S).endswith(
                f"{len(sent[publisher.wearable])} acknowledged"
            )
        wait_for(lambda: all(hub.count(c) == len(sent[c]) for c in codes), "every record")
    for code in codes:
        delivery = hub.view(code).delivery
        assert (delivery.lost, delivery.duplicates, delivery.received) == (0, 0, len(sent[code]))
        assert hub.taken[code] == {seq: encode(r) for seq, r in enumerate(sent[code])}
        assert hub.view(code).source == f"broker {broker.host}:{broker.port}"
        assert hub.view(code).state()["provenance"] == "simulated"
        assert_charted_in_order(hub, code, sent[code])
    assert subscriber.stats.bad_messages == 0


def test_broker_restarted_while_publishing_loses_nothing(broker):
    hub = RecordingHub()
    codes = ["S01", "S02", "S03"]
    sent = {code: records_of(code, 40.0) for code in codes}
    with TeamSubscriber(broker.settings(), hub, client_id="t-restart") as subscriber:
        subscriber.wait_connected(WAIT_S)
        publishers = [RecordPublisher(broker.settings(), code).start() for code in codes]
        for publisher in publishers:
            publisher.wait_connected(WAIT_S)
        half = {code: len(records) // 2 for code, records in sent.items()}
        for publisher in publishers:
            publish_all(publisher, sent[publisher.wearable][: half[publisher.wearable]])
        wait_for(lambda: all(hub.count(c) == half[c] for c in codes), "the first half")
        threads = [
            threading.Thread(target=publish_all, args=(p, sent[p.wearable][half[p.wearable] :], 10))
            for p in publishers
        ]
        for thread in threads:  # the second half while the broker restarts
            thread.start()
        broker.restart()
        for thread in threads:
            thread.join()
        for publisher in publishers:
            publisher.close(timeout_s=WAIT_S)
            assert publisher.stats.buffered == 0 and publisher.stats.dropped == 0
            assert publisher.stats.reconnects >= 1
        wait_for(lambda: all(hub.count(c) == len(sent[c]) for c in codes), "every record")
    for code in codes:
        delivery = hub.view(code).delivery
        assert delivery.lost == 0 and delivery.received == len(sent[code])
        assert hub.taken[code] == {seq: encode(r) for seq, r in enumerate(sent[code])}
        assert_charted_in_order(hub, code, sent[code])
    stats = hub.stats()
    duplicates = sum(s["delivery"]["duplicates"] for s in stats.values())
    assert subscriber.stats.received == sum(map(len, sent.values())) + duplicates
    assert subscriber.stats.reconnects >= 1 and subscriber.stats.session_resumed


def test_queued_messages_of_an_absent_subscriber_survive_a_broker_restart(broker):
    """The shipped persistence: a team page away while the broker restarts gets what was
    published meanwhile, from its persistent session, when it is back."""
    records = records_of("S04", 20.0)
    first = TeamSubscriber(broker.settings(), Hub(), client_id="t-persist").start()
    first.wait_connected(WAIT_S)
    first.stop()  # away; the broker keeps the session and queues for it
    with RecordPublisher(broker.settings(), "S04") as publisher:
        publish_all(publisher, records)
        wait_for(lambda: publisher.stats.acknowledged == len(records), "the broker has them")
    broker.restart()  # SIGTERM: mosquitto saves sessions and queues to mosquitto.db
    assert (broker.directory / "mosquitto.db").is_file()
    hub = RecordingHub()
    with TeamSubscriber(broker.settings(), hub, client_id="t-persist") as back:
        back.wait_connected(WAIT_S)
        wait_for(lambda: hub.count("S04") == len(records), "the queued records")
        assert back.stats.session_resumed
    assert hub.taken["S04"] == {seq: encode(r) for seq, r in enumerate(records)}


def test_publisher_buffers_while_the_broker_is_away(broker):
    """Records sent while the broker is down wait in the publisher's buffer, none at
    paho (which would send them out of order after the reconnect), and all arrive."""
    hub = RecordingHub()
    records = records_of("S07", 25.0)
    with TeamSubscriber(broker.settings(), hub, client_id="t-away") as subscriber:
        subscriber.wait_connected(WAIT_S)
        publisher = RecordPublisher(broker.settings(), "S07", window=20).start()
        publisher.wait_connected(WAIT_S)
        publish_all(publisher, records[:10])
        wait_for(lambda: hub.count("S07") == 10, "the first 10")
        broker.stop()
        wait_for(lambda: not publisher.stats.connected, "the publisher sees the broker gone")
        publish_all(publisher, records[10:])
        stats = publisher.stats
        assert (stats.acknowledged, stats.buffered, stats.dropped) == (10, len(records) - 10, 0)
        assert stats.in_flight == 0  # nothing handed to paho while the broker is away
        broker.start()
        wait_for(lambda: publisher.stats.acknowledged == len(records), "all acknowledged")
        wait_for(lambda: hub.count("S07") == len(records), "all delivered")
        notices = publisher.take_notices()
        assert any("lost" in n and "buffering" in n for n in notices)
        assert any("back" in n for n in notices)
        publisher.close()
    assert hub.view("S07").delivery.lost == 0
    assert hub.taken["S07"] == {seq: encode(r) for seq, r in enumerate(records)}
    assert_charted_in_order(hub, "S07", records)


def test_full_buffer_drops_the_oldest_and_counts_them(broker):
    hub = RecordingHub()
    records = records_of("S08", 20.0)[:200]
    with TeamSubscriber(broker.settings(), hub, client_id="t-full") as subscriber:
        subscriber.wait_connected(WAIT_S)
        publisher = RecordPublisher(broker.settings(), "S08", window=20, buffer_limit=50)
        publisher.start().wait_connected(WAIT_S)
        publish_all(publisher, records[:10])
        wait_for(lambda: hub.count("S08") == 10, "the first 10")
        broker.stop()
        wait_for(lambda: not publisher.stats.connected, "the publisher sees the broker gone")
        publish_all(publisher, records[10:])  # 150–199 kept
        assert publisher.stats.dropped == 140 and publisher.stats.in_flight == 0
        assert any("full, dropping the oldest" in n for n in publisher.take_notices())
        broker.start()
        assert "140 dropped" in publisher.close(timeout_s=WAIT_S)
        wait_for(lambda: hub.count("S08") == 60, "what was kept")
    assert sorted(hub.taken["S08"]) == [*range(10), *range(150, 200)]
    assert hub.view("S08").delivery.lost == 140  # the subscriber can prove the gap
    assert_charted_in_order(hub, "S08", records[:10] + records[150:])


def test_records_sent_before_the_first_connection_arrive_in_order(broker):
    """A CI run charted 6 of 46 samples: records handed to paho before its CONNACK were
    sent after ones published just after it. Now nothing goes to paho unconnected."""
    hub = RecordingHub()
    records = records_of("S10", 10.0)
    with TeamSubscriber(broker.settings(), hub, client_id="t-first") as subscriber:
        subscriber.wait_connected(WAIT_S)
        broker.stop()
        publisher = RecordPublisher(broker.settings(), "S10", window=20).start()
        publish_all(publisher, records)
        assert publisher.stats.in_flight == 0 and publisher.stats.buffered == len(records)
        broker.start()
        assert publisher.close(timeout_s=WAIT_S).endswith(f"{len(records)} acknowledged")
        wait_for(lambda: hub.count("S10") == len(records), "every record")
    assert_charted_in_order(hub, "S10", records)


def test_close_says_how_many_were_not_acknowledged(broker):
    publisher = RecordPublisher(broker.settings(), "S09").start()
    publisher.wait_connected(WAIT_S)
    broker.stop()
    wait_for(lambda: not publisher.stats.connected, "the publisher sees the broker gone")
    records = records_of("S09", 0.5)
    publish_all(publisher, records)
    said = publisher.close(timeout_s=0.2)
    assert said.endswith(f"0 acknowledged, {len(records)} not acknowledged")
    with pytest.raises(BrokerError, match="send after close"):
        publisher.send(Record.event(1.0, "late"))


def test_a_bad_message_is_counted_not_a_crash(broker):
    hub = RecordingHub()
    with TeamSubscriber(broker.settings(), hub, client_id="t-bad") as subscriber:
        subscriber.wait_connected(WAIT_S)
        raw = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="t-raw")
        raw.username_pw_set(broker.username, broker.password)
        raw.connect(broker.host, broker.port)
        raw.loop_start()
        try:
            raw.publish(records_topic("S01"), b"not a record at all", qos=1).wait_for_publish(10)
            good = encode_message(5, 0, time.time(), Record.event(0.0, EVENT_BORG, rating=3))
            raw.publish("nirs/Jane Doe/records", good, qos=1).wait_for_publish(10)
            raw.publish(records_topic("S01"), good[:-3], qos=1).wait_for_publish(10)
            raw.publish(records_topic("S01"), good, qos=1).wait_for_publish(10)
        finally:
            raw.disconnect()
            raw.loop_stop()
        wait_for(lambda: hub.count("S01") == 1, "the good message after the bad ones")
    stats = subscriber.stats
    assert (stats.received, stats.bad_messages) == (4, 3)
    assert "\n" not in stats.last_bad and stats.last_bad.startswith("nirs/S01/records: ")
    assert hub.view("S01").state()["borg"] == [[0.0, 3]]


# -- command line ------------------------------------------------------------------------------


def _parse(argv: list[str]) -> BrokerSettings | None:
    parser = argparse.ArgumentParser(prog="t")
    add_mqtt_options(parser)
    return settings_from_args(parser, parser.parse_args(argv))


def test_mqtt_options(tmp_path, monkeypatch):
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    assert _parse([]) is None
    assert _parse(["--mqtt", "broker.lan"]) == BrokerSettings("broker.lan", 1883)
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    settings = _parse(
        ["--mqtt", "[::1]:8883", "--mqtt-user", "coach", "--mqtt-password-file", str(secret)]
    )
    assert (settings.host, settings.port, settings.password) == ("::1", 8883, "s3cret")
    assert "s3cret" not in repr(settings) and settings.describe() == "broker [::1]:8883 as coach"
    monkeypatch.setenv(PASSWORD_ENV, "from-env")
    assert _parse(["--mqtt", "h", "--mqtt-user", "u"]).password == "from-env"


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--mqtt", "h:99999"], "port '99999' is not a number from 1 to 65535"),
        (["--mqtt", "h:x"], "port 'x' is not a number"),
        (["--mqtt", "h", "--mqtt-user", "u"], "--mqtt-user u needs a password"),
        (["--mqtt", "h", "--mqtt-user", "u", "--mqtt-password-file", "/no/such"], "cannot read"),
        (["--mqtt-user", "u"], "--mqtt-user without --mqtt HOST"),
        (["--mqtt", "h", "--mqtt-tls-ca", "/no/ca.crt"], "--mqtt-tls-ca /no/ca.crt: no such file"),
    ],
)
def test_bad_mqtt_options_are_one_line_errors(argv, said, capsys, monkeypatch):
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    with pytest.raises(SystemExit) as exit_:
        _parse(argv)
    assert exit_.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("t: error:") and said in error


# -- simulated record-level wearables -----------------------------------------------------------


def test_simulated_record_wearable_sends_samples_predictions_and_borg_changes():
    wearable = SimulatedRecordWearable("S05", seed=3)
    records = wearable.records_until(60.0)
    samples = [r.fields for r in records if r.kind is RecordKind.SAMPLE]
    predictions = [r.fields for r in records if r.kind is RecordKind.PREDICTION]
    borg = [r.fields for r in records if r.kind is RecordKind.EVENT and r.fields.name == EVENT_BORG]
    assert records[0].fields.data["provenance"] == "simulated"
    assert len(samples) == 601 and len(predictions) == 60
    assert [round(s.t_s, 6) for s in samples[:3]] == [0.0, 0.1, 0.2]
    assert all(abs(s.d_thb_um - s.d_hbo2_um - s.d_hhb_um) < 1e-9 for s in samples)
    assert all(30.0 < s.smo2_pct < 95.0 for s in samples)
    assert max(abs(s.d_hbo2_um) for s in samples) > 1.0  # the hold moves it
    ratings = [e.data["rating"] for e in borg]
    assert all(a != b for a, b in zip(ratings, ratings[1:])) and len(ratings) >= 3
    for p in predictions:
        level = wearable.prediction(p.t_s).smoothed_level
        assert p.smoothed_level == level == max(range(5), key=p.probabilities.__getitem__)
        assert abs(sum(p.probabilities) - 1.0) < 1e-9
    assert wearable.records_until(60.0) == []  # each record once
