"""The live page's data: the broker's wire format, the sequence account, the per-wearable
view and the feeds (host.live.wire, view, feeds). No network here: test_live_server.py
serves it, test_live_mqtt.py sends it through a broker."""

from __future__ import annotations

import json
import math
import threading

import pytest

from device.chain import FLAG_LOW_LIGHT, FLAG_RESIDUAL
from device.codec import NO_LEVEL, Prediction, Record
from device.recorder import SessionRecorder
from host.collect_records import EVENT_BORG, EVENT_LINK, EVENT_PHASE
from host.live.feeds import Fanout, HubFeed, recording_event, replay, wearable_of_record
from host.live.view import SIGNALS, Hub
from host.live.wire import (
    SequenceAccount,
    WireError,
    decode_message,
    encode_message,
    records_topic,
    wearable_of_topic,
)
from tests.live_records import prediction, sample

# -- wire ------------------------------------------------------------------------------------


def test_message_round_trip_keeps_stream_seq_time_and_record() -> None:
    record = sample(12.5, hbo2=-3.25)
    payload = encode_message(0xDEADBEEF, 2**40 + 7, 1.8e9 + 0.125, record)
    msg = decode_message("nirs/S07/records", payload)
    assert (msg.wearable, msg.stream, msg.seq, msg.sent_unix_s) == (
        "S07",
        0xDEADBEEF,
        2**40 + 7,
        1.8e9 + 0.125,
    )
    assert msg.record.fields.d_hbo2_um == -3.25 and msg.record.fields.t_s == 12.5


@pytest.mark.parametrize(
    ("topic", "payload", "says"),
    [
        ("nirs/S07/other", None, "is not nirs/<wearable>/records"),
        ("nirs/Jane Doe/records", None, "not a subject code"),
        ("nirs/S07/records", b"NL\x01", "too short"),
        ("nirs/S07/records", b"XX" + bytes(30), "not this project's"),
        ("nirs/S07/records", b"NL\x09" + bytes(30), "payload version 9"),
        ("nirs/S07/records", b"NL\x01" + bytes(20) + b"\x63", "nirs/S07/records:"),
    ],
)
def test_bad_topics_and_payloads_are_one_line_errors(topic, payload, says) -> None:
    good = encode_message(1, 0, 0.0, sample(1.0))
    with pytest.raises(WireError, match=None) as info:
        decode_message(topic, good if payload is None else payload)
    assert says in str(info.value) and "\n" not in str(info.value)


def test_topics_carry_codes_only() -> None:
    assert records_topic("S07") == "nirs/S07/records"
    assert records_topic() == "nirs/+/records"
    assert wearable_of_topic("nirs/sim-7/records") == "sim-7"
    for bad in ("Anna Schmidt", "S07/x", "+", "", "a" * 65):
        with pytest.raises(WireError):
            records_topic(bad)


def test_sequence_account_tells_lost_late_and_duplicates() -> None:
    account = SequenceAccount()
    seen = [account.observe(1, s) for s in (0, 1, 4, 2, 2, 5)]
    assert seen == [True, True, True, True, False, True]
    assert account.as_dict() == {
        "received": 5,
        "lost": 1,  # 3 never came
        "duplicates": 1,
        "late": 1,  # 2 came after 4
        "streams": 1,
        "joined_late": 0,
        "jumps": 0,
    }
    assert account.observe(2, 0) and account.streams == 2  # a restarted publisher
    assert account.observe(1, 3) and account.lost == 0


def test_a_subscriber_that_joins_late_has_not_lost_what_came_before() -> None:
    account = SequenceAccount()
    assert [account.observe(7, s) for s in (500, 501, 503, 501)] == [True, True, True, False]
    assert (account.lost, account.joined_late, account.duplicates) == (1, 1, 1)
    assert account.observe(7, 497)  # older than the first seen: new, and 498-499 are due
    assert account.lost == 3
    assert account.observe(7, 498) and account.late == 1 and account.lost == 2


def test_a_forged_jump_in_numbers_neither_fills_memory_nor_counts_as_lost() -> None:
    account = SequenceAccount()
    assert account.observe(1, 0) and account.observe(1, 2**62)  # a forged number
    assert (account.lost, account.jumps) == (0, 1)
    assert account.observe(1, 2**62 + 2) and account.lost == 1  # counted on from there
    # Many forged steps each under MAX_GAP: the numbers held as missing stay bounded
    from host.live.wire import MAX_GAP, MAX_MISSING

    for k in range(1, 30):
        account.observe(2, k * (MAX_GAP - 1))
    assert account.lost <= MAX_MISSING


def test_oversized_and_timeless_messages_are_refused() -> None:
    from host.live.wire import MAX_PAYLOAD_BYTES

    big = encode_message(1, 0, 0.0, sample(1.0)) + bytes(MAX_PAYLOAD_BYTES)
    assert len(big) > MAX_PAYLOAD_BYTES
    with pytest.raises(WireError, match="at most"):
        decode_message("nirs/S07/records", big)
    for t_s, sent in ((math.nan, 0.0), (1.0, math.inf)):
        with pytest.raises(WireError, match="not a number"):
            decode_message("nirs/S07/records", encode_message(1, 0, sent, sample(t_s)))


# -- the view ---------------------------------------------------------------------------------


def test_view_keeps_the_window_and_the_newest_state() -> None:
    hub = Hub(window_s=60.0)
    for k in range(1000):  # 100 s at 10 Hz
        hub.ingest("S01", sample(k / 10, hbo2=-k / 100), source="test", sent_unix_s=1e9 + k)
    hub.ingest("S01", prediction(99.9, 3), source="test")
    hub.ingest("S01", Record.event(50.0, EVENT_BORG, rating=6, key="6"), source="test")
    hub.ingest("S01", Record.event(51.0, EVENT_PHASE, phase="hold"), source="test")
    hub.ingest("S01", Record.event(52.0, EVENT_LINK, frames=10, lost_frames=2), source="test")
    hub.ingest("S01", Record.event(53.0, "no_data", cause="bus"), source="test")
    message, cursor = hub.snapshot()
    (item,) = message["wearables"]
    state, samples = item["state"], item["samples"]
    assert samples["t_s"][0] == pytest.approx(40.0) and samples["t_s"][-1] == pytest.approx(99.9)
    assert len(samples["t_s"]) == 600 and set(SIGNALS) <= set(samples)
    assert samples["sent_unix_s"][-1] == 1e9 + 999
    assert state["level"] == 3 and state["level_name"] == "high"
    assert state["probabilities"][3] == pytest.approx(0.9)
    assert state["borg"] == [[50.0, 6]] and state["phase"] == "hold"
    assert state["link"] == {"frames": 10, "lost_frames": 2}
    assert state["notes"] == [[53.0, "no_data: bus"]]
    assert state["t_s"] == pytest.approx(99.9)
    json.dumps(message, allow_nan=False)  # what the server sends
    # Nothing new: no update; one new sample: only it
    assert hub.changes_since(cursor)[0] is None
    hub.ingest("S01", sample(100.0), source="test")
    update, _ = hub.changes_since(cursor)
    assert update["wearables"][0]["samples"]["t_s"] == [100.0]


def test_check_sensor_flags_and_nan_reach_the_page_as_words_and_null() -> None:
    hub = Hub()
    hub.ingest("S02", sample(1.0, hbo2=math.nan, flags=FLAG_RESIDUAL | FLAG_LOW_LIGHT),
               source="t")  # fmt: skip
    hub.ingest("S02", Record.of(Prediction(1.0, (math.nan,) * 5, NO_LEVEL, NO_LEVEL)), source="t")
    message, _ = hub.snapshot()
    item = message["wearables"][0]
    assert item["state"]["flags"] == ["low light", "motion"]
    assert item["state"]["check_sensor"] and item["state"]["level_name"] == "check sensor"
    assert item["samples"]["d_hbo2_um"] == [None]
    assert item["state"]["probabilities"] == [None] * 5
    json.dumps(message, allow_nan=False)


def test_what_json_cannot_carry_never_reaches_the_page() -> None:
    """NaN times are dropped, NaN in event data is null, a restarted clock starts the
    window again, notes are cut short, and the hub holds a bounded number of wearables."""
    from host.live.view import CLOCK_RESTART_S, MAX_WEARABLES

    hub = Hub()
    hub.ingest("S01", sample(math.nan), source="t")
    hub.ingest("S01", Record.event(2.0, EVENT_LINK, frames=math.nan, list=[math.inf]), source="t")
    hub.ingest("S01", Record.event(3.0, "error", message="x" * 10_000), source="t")
    for k in range(100):
        hub.ingest("S01", sample(3600 + k / 10), source="t")
    hub.ingest("S01", sample(1.0), source="t")  # the device restarted
    message, _ = hub.snapshot()
    json.dumps(message, allow_nan=False)
    item = message["wearables"][0]
    assert item["samples"]["t_s"] == [1.0] and item["state"]["t_s"] == 1.0
    assert CLOCK_RESTART_S < 3599
    assert item["state"]["link"] == {"frames": None, "list": [None]}
    assert len(item["state"]["notes"][-1][1]) <= 200
    # Event data a broker user could fill: every string and list kept short
    hub.ingest("S01", Record.event(4.0, EVENT_LINK, big="x" * 60_000, many=list(range(10**4))),
               source="t")  # fmt: skip
    hub.ingest("S01", Record.event(4.0, EVENT_BORG, rating="x" * 60_000), source="t")
    state = hub.view("S01").state()
    assert len(state["link"]["big"]) <= 200 and len(state["link"]["many"]) <= 32
    assert state["borg"] == []  # not a Borg CR10 rating
    for n in range(MAX_WEARABLES + 5):
        hub.ingest(f"W{n}", sample(1.0), source="t")
    assert len(hub.wearables()) == MAX_WEARABLES and hub.refused == 6
    assert "more than 100 wearables: 6 records" in hub.snapshot()[0]["status"][0]


def test_a_late_sample_is_left_out_and_a_restart_starts_again() -> None:
    hub = Hub()
    for t in (1.0, 2.0, 3.0, 49.9):
        hub.ingest("S01", sample(t), source="t")
    hub.ingest("S01", sample(46.0), source="t")  # overtaken: left out, as the page does
    assert hub.view("S01").late_samples == 1
    assert hub.snapshot()[0]["wearables"][0]["samples"]["t_s"] == [1.0, 2.0, 3.0, 49.9]
    hub.ingest("S01", sample(42.0), source="t")  # 7.9 s back: the clock began again
    assert hub.snapshot()[0]["wearables"][0]["samples"]["t_s"] == [42.0]


def test_hub_drops_broker_duplicates_and_counts_them() -> None:
    hub = Hub()
    for seq in (0, 1, 1, 3):
        hub.ingest("S03", sample(seq / 10), source="broker", stream=9, seq=seq)
    stats = hub.stats()["S03"]
    assert stats["samples"] == 3
    assert stats["delivery"] == {
        "received": 3,
        "lost": 1,
        "duplicates": 1,
        "late": 0,
        "streams": 1,
        "joined_late": 0,
        "jumps": 0,
    }


def test_hub_is_safe_from_many_threads() -> None:
    hub = Hub()
    changes = []
    hub.on_change = lambda: changes.append(1)

    def feed(code: str) -> None:
        for k in range(500):
            hub.ingest(code, sample(k / 10), source="t")

    threads = [threading.Thread(target=feed, args=(f"S{n}",)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(hub.wearables()) == [f"S{n}" for n in range(8)]
    assert all(s["samples"] == 500 for s in hub.stats().values())
    assert len(changes) == 8 * 500


# -- feeds -----------------------------------------------------------------------------------


def test_recording_event_says_recording_stopped_or_none(tmp_path) -> None:
    none = recording_event(1.0, None, "simulated").fields.data
    assert none == {"state": "not recording", "file": None, "detail": "", "provenance": "simulated"}
    assert recording_event(1.0, None, ended=True).fields.data["state"] == "ended"
    recorder = SessionRecorder(tmp_path / "s.nrec", info={})
    recorder.write(sample(0.5))
    recorder.flush()
    data = recording_event(2.0, recorder).fields.data
    assert data["state"] == "recording" and data["file"] == "s.nrec" and data["records"] >= 1
    recorder.close()


def test_replay_sends_a_session_record_at_its_pace(tmp_path) -> None:
    path = tmp_path / "S09.nrec"
    with SessionRecorder(path, info={"subject": "S09", "provenance": "simulated"}) as rec:
        for k in range(30):
            rec.write(sample(k / 10))
        rec.write(prediction(2.9, 2))
    assert wearable_of_record(path) == "S09"
    hub = Hub()
    sent = replay(path, Fanout(HubFeed(hub, "S09", "replay")), speed=1000.0)
    assert sent == 32  # the header event, 30 samples, a prediction (plus a status event)
    state = hub.view("S09").state()
    assert state["level_name"] == "moderate" and state["provenance"] == "simulated"
    assert state["recording"]["state"] == "ended"  # "replay" while it ran
    assert state["recording"]["detail"] == "replay finished: 32 records"
    assert hub.stats()["S09"]["samples"] == 30
    stop = threading.Event()
    stop.set()
    assert replay(path, HubFeed(Hub(), "S09", "replay"), stop=stop) == 0
    with pytest.raises(ValueError, match="speed must be > 0"):
        replay(path, HubFeed(hub, "S09", "r"), speed=0)
