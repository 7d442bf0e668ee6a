"""The live page's server (host.live.server): the WebSocket of changes, the token off
loopback, a port that is taken. The page in a real browser: test_live_browser.py."""

from __future__ import annotations

import json
import socket
import time

import pytest
import websockets.sync.client as ws_client
from fastapi.testclient import TestClient
from websockets.exceptions import ConnectionClosed

from device.codec import Record
from host.collect_records import EVENT_BORG
from host.live.server import LiveServer, make_app, needs_token
from host.live.view import Hub
from tests.live_records import sample


def test_needs_token_everywhere_but_loopback() -> None:
    assert not needs_token("127.0.0.1") and not needs_token("::1")
    assert not needs_token("localhost") and not needs_token("127.0.0.2")
    assert needs_token("0.0.0.0") and needs_token("192.168.1.20") and needs_token("::")
    assert needs_token("coach-laptop.local")  # a name can resolve to anything


def test_without_the_token_every_route_is_refused() -> None:
    hub = Hub()
    hub.ingest("S01", Record.event(1.0, EVENT_BORG, rating=3), source="t")
    client = TestClient(make_app(hub, token="s3cret-token-0123456789"))
    for path in ("/", "/w/S01", "/api/snapshot", "/api/stats", "/static/live.js"):
        response = client.get(path)
        assert response.status_code == 401, path
        assert "needs its token" in response.text
    assert client.get("/api/stats?token=wrong").status_code == 401
    with pytest.raises(Exception) as info, client.websocket_connect("/ws") as ws:
        ws.receive_text()
    assert getattr(info.value, "code", None) == 1008
    # With it: the address's ?token= works and leaves a cookie for the page's other requests
    good = client.get("/api/stats?token=s3cret-token-0123456789")
    assert good.status_code == 200 and good.json()["S01"]["samples"] == 0
    assert client.get("/api/snapshot").status_code == 200  # by the cookie
    with client.websocket_connect("/ws") as ws:
        assert json.loads(ws.receive_text())["type"] == "snapshot"


def test_page_on_loopback_streams_a_snapshot_then_changes() -> None:
    hub = Hub()
    hub.ingest("S01", Record.event(1.0, EVENT_BORG, rating=2), source="t")
    with LiveServer(hub, port=0) as server:
        assert server.url == f"http://127.0.0.1:{server.port}/"
        with ws_client.connect(f"ws://127.0.0.1:{server.port}/ws", open_timeout=20) as ws:
            first = json.loads(ws.recv(timeout=20))
            assert first["type"] == "snapshot" and first["window_s"] == 60.0
            assert first["wearables"][0]["state"]["borg"] == [[1.0, 2]]
            hub.ingest("S02", Record.event(5.0, EVENT_BORG, rating=7), source="t")
            update = json.loads(ws.recv(timeout=20))
            assert update["type"] == "update"
            assert [w["id"] for w in update["wearables"]] == ["S02"]  # only what changed
            assert update["wearables"][0]["state"]["borg"] == [[5.0, 7]]
    # Stopped: the page's connection closes (the page then shows its banner)
    with pytest.raises((ConnectionClosed, OSError)):
        ws.recv(timeout=5)


def test_token_server_off_loopback_refuses_a_plain_request() -> None:
    import urllib.error
    import urllib.request

    with LiveServer(Hub(), host="0.0.0.0", port=0, token="t0ken-abcdefghijklmnop") as server:
        assert server.url.endswith("/?token=t0ken-abcdefghijklmnop")
        base = f"http://127.0.0.1:{server.port}"
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(f"{base}/api/stats", timeout=20)
        assert info.value.code == 401
        with urllib.request.urlopen(f"{base}/api/stats?token=t0ken-abcdefghijklmnop") as ok:
            assert ok.status == 200


def test_a_taken_port_is_one_line_naming_it() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(OSError) as info:
            LiveServer(Hub(), port=port).start()
    said = str(info.value)
    assert f"127.0.0.1:{port}" in said and "--page-port" in said and "\n" not in said


def test_many_quick_changes_arrive_batched_and_complete() -> None:
    """Changes that came before the page's sender woke go in one message, whole and in
    order (not one message each). The burst is fed with the sender's wake-up held back,
    so that how fast this machine feeds does not decide how many messages it takes."""
    hub = Hub()
    with (
        LiveServer(hub, port=0) as server,
        ws_client.connect(f"ws://127.0.0.1:{server.port}/ws", open_timeout=20) as ws,
    ):
        json.loads(ws.recv(timeout=20))
        wake, hub.on_change = hub.on_change, None
        for k in range(300):
            hub.ingest("S05", sample(k / 10), source="t")
        hub.on_change = wake
        wake()
        got, messages = [], 0
        deadline = time.monotonic() + 30
        while len(got) < 300 and time.monotonic() < deadline:
            message = json.loads(ws.recv(timeout=30))
            if message["type"] == "update":
                messages += 1
                got += message["wearables"][0]["samples"]["t_s"]
    assert got == [k / 10 for k in range(300)]
    assert messages == 1


def test_other_sites_cannot_read_the_loopback_page() -> None:
    """A script of another site may open a WebSocket to 127.0.0.1 (browsers allow it):
    the page refuses a foreign Origin; a foreign Host (DNS rebinding) gets 403."""
    import urllib.error
    import urllib.request

    hub = Hub()
    hub.ingest("S07", sample(1.0), source="t")
    with LiveServer(hub, port=0) as server:
        ws_url = f"ws://127.0.0.1:{server.port}/ws"
        evil = "http://evil.example"
        with pytest.raises(Exception) as info, ws_client.connect(ws_url, origin=evil) as ws:
            ws.recv(timeout=20)
        assert "1008" in str(info.value) or "403" in str(info.value)
        own = f"http://127.0.0.1:{server.port}"
        with ws_client.connect(ws_url, origin=own, open_timeout=20) as ws:
            assert json.loads(ws.recv(timeout=20))["type"] == "snapshot"
        request = urllib.request.Request(
            f"{own}/api/snapshot", headers={"Host": f"attacker.example:{server.port}"}
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=20)
        assert refused.value.code == 403
        with urllib.request.urlopen(f"http://localhost:{server.port}/api/stats") as ok:
            assert ok.status == 200


def test_a_token_of_odd_characters_is_refused_not_a_crash() -> None:
    client = TestClient(make_app(Hub(), token="s3cret-token-0123456789"))
    assert client.get("/api/stats?token=%C3%A9%C3%A9").status_code == 401


def test_page_options_refuse_bad_ports_and_tokens(tmp_path, capsys) -> None:
    from host.live.cli import main_args
    from host.live.options import read_token

    with pytest.raises(SystemExit):
        main_args(["--replay", __file__, "--page-port", "70000"])
    assert "'70000' is not a port from 0 to 65535" in capsys.readouterr().err
    for bad in ("abcdefghijklmnop+qrs/tuv=", "é" * 20, "short"):
        path = tmp_path / "token"
        path.write_text(bad + "\n", encoding="utf-8")
        with pytest.raises(ValueError, match="--token-file .* must be at least 16"):
            read_token(path, "0.0.0.0")
    (tmp_path / "bin").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ValueError, match="cannot read it"):
        read_token(tmp_path / "bin", "0.0.0.0")
