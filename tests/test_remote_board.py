"""The simulated board served over a Unix socket (hwsim.remote) to a device process elsewhere.

This is what the emulated-board test (issue 13, item 4) stands on: the simulator needs
numpy, the board has none, so the simulator serves the bus, the lines and the clock to
``python -m device --sim-socket PATH`` in another process. Here that process is an
x86-64 Python; on the emulated board it is ``chroot ROOTFS python3`` under qemu-user.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from standin_npu import CompilerMissingError, build_standin_runtime, write_standin_bundle

from device.__main__ import console_line
from device.ads1114 import config_word
from device.errors import I2CError
from device.i2c import RetryingBus
from device.session_reader import read_session_file
from device.simboard import (
    HELLO,
    OP_HELLO,
    SimBoardError,
    SimBoardLostError,
    SimSocketError,
    connect,
)
from hwsim.board import ADS1114_ADDRESS, build_board
from hwsim.remote import BoardServer, listen, run_session, serve_device, serve_once
from hwsim.wearable import run_wearable

REPO = Path(__file__).resolve().parent.parent
MODELS = REPO / "models"
WRAPPER = Path(__file__).with_name("helpers_device_blocking.py")

needs_model = pytest.mark.skipif(
    not (MODELS / "fusion.onnx").exists(), reason="no bundled model in models/ yet"
)


class NumpyImportedError(Exception):
    """The device process imported numpy (or tried to, and stopped)."""


def device_env() -> dict[str, str]:
    """The device process sees the repository's ``device`` and its venv, not ``hw-sim``."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(REPO)}


def write_config(path: Path, **sections: dict) -> Path:
    lines = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def onnx_config(tmp_path: Path) -> Path:
    # ONNX Runtime on both sides for now, as hwsim.wearable runs it in one process. The
    # emulated board has no onnxruntime: once device/ is numpy-free (issue 13, item 1) the
    # board's run switches to the RKNN backend on the stand-in runtime (see the numpy test
    # below), and its x86-64 reference with it.
    return write_config(
        tmp_path / "wearable.toml",
        model={"dir": str(MODELS), "backend": "onnx"},
        recording={"dir": str(tmp_path / "sessions")},
    )


def blocking_python(blocked: str, modules_json: Path) -> list[str]:
    return [sys.executable, str(WRAPPER), blocked, str(modules_json)]


class Served:
    """A board served in a thread of this process, and a client connected to it."""

    def __init__(self, **board_options) -> None:
        self.board = build_board(**board_options)
        self.server = BoardServer(self.board)
        self.folder = tempfile.mkdtemp(prefix="remote-test-")
        self.path = os.path.join(self.folder, "board.sock")
        listener = listen(self.path)
        self.thread = threading.Thread(
            target=serve_once,
            args=(self.server, self.path),
            kwargs={"listener": listener, "timeout_s": 120.0},
            daemon=True,
        )
        self.thread.start()
        self.client = connect(self.path)

    def close(self) -> None:
        self.client.close()
        self.thread.join(timeout=30)
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture
def served():
    made: list[Served] = []

    def make(**board_options) -> Served:
        made.append(Served(**board_options))
        return made[-1]

    yield make
    for s in made:
        s.close()


# ------------------------------------------------------------------------------------
# (a) The same simulated subject, in one process and through the socket.
# ------------------------------------------------------------------------------------


@needs_model
def test_the_device_through_the_socket_gives_exactly_the_levels_it_gives_in_process(tmp_path):
    # 1 % of I²C transfers fail (injected NACKs): the retries must match too.
    fault_rate = 0.01
    reference = run_wearable(
        models_dir=MODELS,
        out=tmp_path / "in_process",
        emit=lambda line: None,
        fault_rate=fault_rate,
    )
    modules_json = tmp_path / "modules.json"
    run = run_session(
        fault_rate=fault_rate,
        device_args=["--config", str(onnx_config(tmp_path))],
        python=blocking_python("hwsim", modules_json),
        cwd=tmp_path,
        env=device_env(),
        timeout_s=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.ended == "bye"

    # The per-second lines: the same subject, the same levels and SmO2, second by second.
    expected = [console_line(report) for report in reference.reports]
    assert len(expected) >= 60
    assert sum("calibrating" not in line for line in expected) >= 40  # levels, not calibration
    assert run.lines == expected

    # Every record the device wrote (frames, samples, predictions) bit for bit; only the
    # header (wall-clock time, provenance) differs.
    (remote_record,) = (tmp_path / "sessions").glob("session-*.nrec")
    ours = read_session_file(reference.record_path).records
    theirs = read_session_file(remote_record).records
    assert len(theirs) == len(ours) > 6000
    assert theirs[1:] == ours[1:]

    # The board as each device left it.
    a, b = reference.board, run.board
    assert b.clock.monotonic() == a.clock.monotonic()
    assert (b.bus.transfers, b.bus.faults_injected) == (a.bus.transfers, a.bus.faults_injected)
    assert b.bus.faults_injected > 500
    assert b.buzzer_line.history == a.buzzer_line.history
    assert len(b.buzzer_line.history) > 1  # it did sound
    for wl in a.led_lines:
        assert b.led_lines[wl].history == a.led_lines[wl].history
    # The OLED got the same messages (the app blanks it on closing, so compare the traffic).
    oled = ("messages_received", "data_bytes_received", "commands_received", "errors")
    assert [getattr(b.oled, k) for k in oled] == [getattr(a.oled, k) for k in oled]
    assert b.oled.data_bytes_received > 100 * 1024  # a frame a second
    assert list(b.oled.command_log) == list(a.oled.command_log)

    # Each injected fault reached the device as OSError(ENXIO) and was retried.
    faults = run.server.faults
    assert len(faults) == b.bus.faults_injected
    assert {f.errno for f in faults} == {errno.ENXIO}
    assert all(f.retried for f in faults)

    # What the device process held: the client, not the simulator.
    modules = set(json.loads(modules_json.read_text()))
    assert "device.simboard" in modules
    assert not {m for m in modules if m.split(".")[0] in ("hwsim", "smbus2", "periphery")}

    # Two round trips per conversion (the ready poll and the conversion read) and little
    # else: the clock, the event read and the GPIO writes ride along.
    stats = run.stats
    print(f"\nthrough the socket: {stats.summary()}; in one process {reference.wall_s:.2f} s")
    assert stats.signal_s > 100
    assert stats.round_trips_per_signal_s < 2 * 860 * 1.05


# ------------------------------------------------------------------------------------
# (b) I²C faults and the other errors arrive as the simulator raised them.
# ------------------------------------------------------------------------------------


@pytest.mark.parametrize("number", [errno.ENXIO, errno.EIO, errno.ETIMEDOUT, errno.EREMOTEIO])
def test_an_i2c_fault_arrives_as_oserror_with_its_errno_and_is_retried(served, number):
    s = served()
    calls = {"n": 0}
    real_read = s.board.bus.read_i2c_block_data

    def flaky_read(address, register, length, force=None):
        calls["n"] += 1
        if calls["n"] <= 2:  # the first two attempts fail, the third goes through
            raise OSError(number, os.strerror(number))
        return real_read(address, register, length)

    s.board.bus.read_i2c_block_data = flaky_read
    with pytest.raises(OSError) as raised:
        s.client.bus.read_i2c_block_data(ADS1114_ADDRESS, 0x01, 2)
    assert type(raised.value) is type(OSError(number, ""))  # OSError, or TimeoutError for 110
    assert (raised.value.errno, raised.value.strerror) == (number, os.strerror(number))

    bus = RetryingBus(s.client.bus, retries=2, bus_name=s.client.bus_name)
    assert bus.read_i2c_block_data(ADS1114_ADDRESS, 0x01, 2) == [0x85, 0x83]  # power-on config
    assert bus.failures[ADS1114_ADDRESS] == 1 and bus.gave_up[ADS1114_ADDRESS] == 0
    assert [(f.operation, f.errno, f.retried) for f in s.server.faults] == [
        ("i2c_read", number, True),
        ("i2c_read", number, True),
    ]


def test_a_plain_read_is_one_round_trip_and_reads_what_the_pointer_holds(served):
    s = served()
    c, board = s.client, s.board
    config = config_word(full_scale_v=4.096, data_rate_sps=860, continuous=True, ready_pin=False)
    c.bus.write_i2c_block_data(ADS1114_ADDRESS, 0x01, [config >> 8, config & 0xFF])
    before = c.round_trips
    assert c.bus.read_bytes(ADS1114_ADDRESS, 2) == config.to_bytes(2, "big")  # still config
    assert c.round_trips == before + 1
    assert s.server.stats.operations["i2c_read_bytes"] == 1
    c.bus.read_i2c_block_data(ADS1114_ADDRESS, 0x00, 2)  # point at the conversion
    c.clock.sleep(0.01)
    word = int.from_bytes(c.bus.read_bytes(ADS1114_ADDRESS, 2), "big")
    assert word == board.bus._chips[ADS1114_ADDRESS]._conversion
    with pytest.raises(ValueError, match="1..255 bytes"):
        c.bus.read_bytes(ADS1114_ADDRESS, 0)

    board.bus.set_responding(ADS1114_ADDRESS, False)
    bus = RetryingBus(c.bus, retries=1, bus_name=c.bus_name)
    with pytest.raises(I2CError, match="plain read of 2 bytes") as raised:
        bus.read_bytes(ADS1114_ADDRESS, 2)
    assert raised.value.errno == errno.ENXIO
    assert [(f.operation, f.register, f.retried) for f in s.server.faults] == [
        ("i2c_read_bytes", None, True),
        ("i2c_read_bytes", None, None),
    ]


def test_a_chip_that_stopped_answering_fails_after_the_retries_with_enxio(served):
    s = served()
    s.board.bus.set_responding(ADS1114_ADDRESS, False)
    bus = RetryingBus(s.client.bus, retries=2, bus_name=s.client.bus_name)
    with pytest.raises(I2CError) as raised:
        bus.write_i2c_block_data(ADS1114_ADDRESS, 0x01, [0x85, 0x83])
    assert raised.value.errno == errno.ENXIO and raised.value.attempts == 3
    assert bus.failures[ADS1114_ADDRESS] == 3 and bus.gave_up[ADS1114_ADDRESS] == 1
    assert "sim:/dev/i2c-3" in str(raised.value)


def test_lines_and_clock_behave_as_the_simulated_ones(served):
    s = served()
    c, board = s.client, s.board
    assert c.line_names == ("led750", "led810", "led870", "alert_rdy", "buzzer")
    led = c.line("led810", "low")
    led.write(True)  # posted: it goes with the next request
    c.clock.sleep(0.25)
    led.write(False)
    assert c.clock.monotonic() == board.clock.monotonic() == 0.25
    ready = c.line("alert_rdy", "in")
    assert ready.read() is True  # ALERT/RDY idles high (pulled up)
    assert board.led_lines[810].history == [(0.0, False), (0.0, True), (0.25, False)]

    # ALERT/RDY as the ADS1114 driver uses it: thresholds, edge, poll, read_event.
    config = config_word(full_scale_v=4.096, data_rate_sps=860, continuous=True, ready_pin=True)
    for register, word in ((0x03, 0x8000), (0x02, 0x0000), (0x01, config)):
        c.bus.write_i2c_block_data(ADS1114_ADDRESS, register, [word >> 8, word & 0xFF])
    ready.edge = "falling"
    stamps = []
    for _ in range(5):
        assert ready.poll(0.1)
        assert ready.poll(0.1)  # polling twice does not take the event
        event = ready.read_event()
        assert event.edge == "falling"
        stamps.append(event.timestamp)
    periods = [b - a for a, b in zip(stamps, stamps[1:])]
    assert all(abs(p - 1e9 / 860) < 1e9 / 860 * 0.01 for p in periods)
    assert c.clock.monotonic() == board.clock.monotonic()
    assert abs(c.clock.monotonic() - stamps[-1] * 1e-9) < 1e-9  # the last edge, to the ns
    # The last event read is still queued there: its removal goes with the next request.
    assert board.ready_line.peek_event() == event
    c.clock.sleep(0.0)
    assert board.ready_line.peek_event() is None

    # Errors as the simulated line and clock raise them.
    with pytest.raises(TypeError):
        led.write(1)
    with pytest.raises(OSError, match="cannot write an input line"):
        ready.write(True)
    with pytest.raises(ValueError, match="edge must be one of"):
        ready.edge = "sideways"
    with pytest.raises(ValueError, match="non-negative"):
        c.clock.sleep(-1.0)
    with pytest.raises(ValueError, match="is an output"):
        c.line("buzzer", "in")
    buzzer = c.line("buzzer", "low")
    with pytest.raises(OSError, match="poll"):  # no edge detection on an output
        buzzer.poll(0.0)
    buzzer.close()
    buzzer.close()
    with pytest.raises(OSError, match="closed"):
        buzzer.write(True)
    c.clock.sleep(0.0)  # the close went out with this request
    assert board.buzzer_line.closed


def test_a_client_of_another_protocol_version_is_refused(served):
    s = served()
    with pytest.raises(SimBoardError, match="protocol"):
        s.client._link.call(HELLO.pack(OP_HELLO, 999))
    s.client.clock.sleep(0.001)  # the connection is still good


# ------------------------------------------------------------------------------------
# (c) The device process holds what a board holds: no numpy.
# ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def standin_rknn(tmp_path_factory) -> tuple[Path, Path]:
    """The stand-in RKNN runtime (built with gcc) and a stand-in model bundle for it."""
    folder = tmp_path_factory.mktemp("standin")
    try:
        lib = build_standin_runtime(folder / "librknnmrt.so")
    except CompilerMissingError as exc:
        pytest.skip(str(exc))
    return lib, write_standin_bundle(folder / "models")


def test_the_device_process_never_imports_numpy(tmp_path, standin_rknn):
    library, models = standin_rknn
    config = write_config(
        tmp_path / "wearable.toml",
        model={"dir": str(models), "backend": "rknn", "library": str(library)},
        recording={"dir": str(tmp_path / "sessions")},
    )
    modules_json = tmp_path / "modules.json"
    run = run_session(
        seconds=35,
        device_args=["--config", str(config)],
        python=blocking_python("numpy,hwsim", modules_json),
        cwd=tmp_path,
        env=device_env(),
        timeout_s=600,
    )
    if run.returncode != 0 and "import of numpy halted" in run.stderr:
        raise NumpyImportedError(run.stderr.strip().splitlines()[-1])
    assert run.returncode == 0, run.stderr[-3000:]
    modules = set(json.loads(modules_json.read_text()))
    assert "numpy" not in modules and "onnxruntime" not in modules
    assert "device.npu" in modules
    assert any("calibrating" not in line for line in run.lines)  # levels from the NPU backend


# ------------------------------------------------------------------------------------
# (d) Either side going away.
# ------------------------------------------------------------------------------------


@needs_model
def test_the_server_cleans_up_when_the_device_process_dies(tmp_path):
    folder = Path(tempfile.mkdtemp(prefix="remote-test-"))
    path = folder / "board.sock"

    def kill_at_five_seconds(server: BoardServer) -> None:
        if server.board.clock.monotonic() > 5.0 and server.peer_pid is not None:
            os.kill(server.peer_pid, signal.SIGKILL)
            server.peer_pid = None

    wall0 = time.monotonic()
    try:
        run = run_session(
            seconds=60,
            device_args=["--config", str(onnx_config(tmp_path))],
            socket_path=path,
            cwd=tmp_path,
            env=device_env(),
            timeout_s=300,
            hook=kill_at_five_seconds,
        )
        assert run.returncode == -signal.SIGKILL
        assert run.ended == "disconnected"
        assert 5.0 < run.stats.t_end_s < 5.1
        assert not path.exists()
        assert time.monotonic() - wall0 < 120
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_a_device_that_never_connects_is_waited_for_and_the_socket_removed():
    board = build_board()
    quits = [sys.executable, "-c", "import sys; sys.exit(7)"]  # then "-m device ..." as argv
    run = serve_device(board, python=quits, timeout_s=60)
    assert (run.returncode, run.ended) == (7, "never connected")
    assert not Path(run.command[run.command.index("--sim-socket") + 1]).exists()


@needs_model
def test_a_missing_socket_is_one_clear_line(tmp_path):
    missing = tmp_path / "nowhere" / "board.sock"
    child = subprocess.run(
        [
            *(sys.executable, "-m", "device", "--sim-socket", str(missing)),
            *("--seconds", "1", "--config", str(onnx_config(tmp_path))),
        ],
        cwd=tmp_path,
        env=device_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == 2
    assert child.stderr.strip().splitlines() == [
        f"error: simulated board: cannot connect to {missing} (no such socket); "
        "start the simulator first (python -m hwsim.remote)"
    ]


@needs_model
def test_the_device_stops_with_one_line_when_the_simulator_goes_away(tmp_path):
    def drop_at_25_seconds(server: BoardServer) -> bool:
        return server.board.clock.monotonic() > 25.0  # past calibration, with a model running

    run = run_session(
        seconds=60,
        device_args=["--config", str(onnx_config(tmp_path))],
        cwd=tmp_path,
        env=device_env(),
        timeout_s=300,
        hook=drop_at_25_seconds,
    )
    assert run.ended == "dropped"
    assert run.returncode == 2
    (line,) = run.stderr.strip().splitlines()
    assert line.startswith("error: connection to the simulator at ") and "lost" in line
    assert len(run.lines) in (24, 25)  # every second up to 25 s of virtual time, then nothing
    assert "calibrating" not in run.lines[-1]


def test_a_simulator_that_stops_answering_is_lost_after_the_reply_timeout(tmp_path):
    path = str(tmp_path / "board.sock")
    listener = listen(path)
    server = BoardServer(build_board())
    done = threading.Event()

    def answer_the_hello_then_nothing() -> None:
        conn, _ = listener.accept()
        conn.settimeout(30)
        request = conn.recv(65536)
        reply = server.handle(request[4:])
        conn.sendall(len(reply).to_bytes(4, "little") + reply)
        done.wait(30)  # the next request stays unanswered
        conn.close()

    thread = threading.Thread(target=answer_the_hello_then_nothing, daemon=True)
    thread.start()
    client = connect(path, reply_timeout_s=0.3)
    try:
        assert client._link._sock.gettimeout() is None  # the kernel's timeouts, not Python's
        with pytest.raises(SimBoardLostError, match=r"did not answer within 0.3 s"):
            client.bus.read_bytes(ADS1114_ADDRESS, 2)
    finally:
        done.set()
        client.close()
        listener.close()
        thread.join(timeout=30)


def test_the_client_raises_lost_and_then_stays_quiet(served):
    s = served()
    s.client.clock.sleep(0.01)
    s.client._link._sock.close()  # as if the simulator vanished
    with pytest.raises(SimBoardLostError):
        s.client.bus.read_i2c_block_data(ADS1114_ADDRESS, 0x00, 2)
    # Shutting down afterwards (ADC power-down, LEDs off, closing) does not raise again.
    s.client.bus.write_i2c_block_data(ADS1114_ADDRESS, 0x01, [0x85, 0x83])
    s.client.line("led750").write(False)
    with pytest.raises(SimBoardLostError):
        s.client.line("alert_rdy").poll(0.1)
    s.client.close()
    with pytest.raises(SimSocketError, match="no such socket"):
        connect(s.path + ".missing")
