"""``python -m host collect``: a live session over a real pseudo-terminal.

The simulated wearable (:class:`device.app.Wearable` on ``hwsim``'s board, on a virtual
clock) writes its link frames into the master end of a pty from a background thread;
:func:`host.collect.collect` opens the slave end by name with pyserial, as it opens
/dev/ttyACM0, and drains it while a scripted key source types what an experimenter
would. The device's writes block while the pty is full, so it is paced by the host;
once a device second it also waits until the host has read everything, so a key
scripted at device time t reaches the host within about a second of t. Nothing waits
on wall time except the safety nets that end a broken test.
"""

from __future__ import annotations

import contextlib
import fcntl
import math
import os
import select
import struct
import termios
import threading
import time
import tty
from dataclasses import replace

import cv2
import numpy as np
import pytest

from device import config as cfg
from device.app import Wearable
from device.clock import SystemClock
from device.features import CHANNELS
from device.inference import FatigueModel
from device.labels import DEFAULT_MAPPING
from device.link import LinkError, LinkWriter, cobs_decode, cobs_encode
from host import train
from host.__main__ import main as host_main
from host.collect import TerminalKeys, collect
from host.collect_records import CollectError, key_action
from host.collect_video import recover_frame_table
from host.live.feeds import HubFeed
from host.live.view import Hub
from host.recover import rebuild
from host.snirf_reader import read_session
from host.video.feeds import open_feed
from host.video.sync import read_frame_table
from hwsim.board import build_board
from hwsim.optics import REST_HBO2_UM, REST_HHB_UM, Tissue
from hwsim.rig import wire

#: What the experimenter types, at device seconds: the device calibrates (the seed's
#: 20 s baseline) until 20 s, the hold runs 21–42 s with ratings rising, then rest.
SCRIPT = [
    (1.5, "b"),
    (21.0, "h"),
    (23.0, "1"),
    (26.0, "3"),
    (28.0, "z"),  # a stray key: a hint, nothing recorded
    (30.0, "5"),
    (34.0, "7"),
    (38.0, "9"),
    (41.0, "x"),
    (42.0, "f"),
    (42.5, "r"),
    (45.0, "6"),
    (49.0, "3"),
    (53.0, "1"),
    (57.0, "q"),
]
RATINGS = [1, 3, 5, 7, 9, 10, 6, 3, 1]
HOLD_S = (21.0, 42.0)
#: How far behind the device the host may be when a key is typed, s (see the docstring).
LAG_S = 2.5
#: The known offset of the video test's host clock against the device's, s.
HOST_CLOCK_AHEAD_S = 1000.0
GARBAGE = b"\r\nU-Boot SPL 2017.09 (Luckfox)\r\n\xff\xfe\x00\x13\x37\x00"


def tissue(rise_um: float) -> Tissue:
    """HbO2 falls and HHb rises by ``rise_um`` during the hold, then recover."""

    def load(t: float) -> float:
        if t < HOLD_S[0]:
            return 0.0
        if t < HOLD_S[1]:
            return (t - HOLD_S[0]) / (HOLD_S[1] - HOLD_S[0])
        return max(0.0, 1.0 - (t - HOLD_S[1]) / 8.0)

    return Tissue(
        lambda t: REST_HBO2_UM - rise_um * load(t), lambda t: REST_HHB_UM + rise_um * load(t)
    )


class HhbLevels:
    """Stand-in model backend: level from ΔHHb at the window's end (app plumbing only)."""

    def predict(self, sequence, statistics):
        window = np.asarray(sequence, dtype=float).reshape(100, len(CHANNELS))  # rows of any kind
        hhb = window[-1, CHANNELS.index("d_hhb_um")]
        return np.eye(5)[int(np.clip(hhb // 5, 0, 4))] * 0.9 + 0.02

    def close(self):
        pass


class Unchanged:
    def apply(self, seq, st):
        return seq, st


def pending_bytes(fd: int) -> int:
    return struct.unpack("I", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]


def corrupt(wire: bytes) -> bytes:
    """The same frame with one payload bit flipped and the old CRC: a clean CRC error."""
    body = bytearray(cobs_decode(wire[1:-1]))
    body[len(body) // 2] ^= 0x10
    return b"\x00" + cobs_encode(bytes(body)) + b"\x00"


class DeviceEnd:
    """The wearable's UART: the pty master, with faults injected by write number.

    A "hangup" pulls the cable: the master is closed and the host's end fails with
    EIO. The host's thread closes it, between two of its polls (:meth:`pull_cable`,
    called from its key source), while the device waits: closed by the device's
    thread it could land between the host's ``in_waiting`` and its ``read``, and the
    read would fail with pyserial's "returned no data" instead of the EIO.
    """

    name = "pty-master"

    def __init__(self, fd: int, stop: threading.Event, faults: dict[int, str]) -> None:
        self.fd, self.stop, self.faults = fd, stop, faults
        self.writes = 0
        self._hangup_due = threading.Event()
        self._hung_up = threading.Event()

    @property
    def hung_up(self) -> bool:
        return self._hung_up.is_set()

    def pull_cable(self) -> None:
        """Close the master if a hangup is due (the host's thread, between polls)."""
        if self._hangup_due.is_set() and not self.hung_up:
            os.close(self.fd)
            self._hung_up.set()

    def write(self, data: bytes) -> int:
        self.writes += 1
        fault = self.faults.get(self.writes)
        if fault == "hangup":
            self._hangup_due.set()
            while not (self._hung_up.wait(0.01) or self.stop.is_set()):
                pass
        if self.hung_up:
            return len(data)
        if fault == "garbage":
            self._put(GARBAGE)
        elif fault == "corrupt":
            data = corrupt(data)
        elif fault == "drop":  # lost on the wire
            return len(data)
        self._put(data)
        return len(data)

    def _put(self, data: bytes) -> None:
        view = memoryview(data)
        while view and not self.stop.is_set():  # blocks while the pty is full
            if select.select([], [self.fd], [], 0.05)[1]:
                with contextlib.suppress(BlockingIOError):
                    view = view[os.write(self.fd, view) :]

    def close(self) -> None:
        pass


class Typing:
    """A key source returning the given chunks, one per ``read``, then nothing."""

    def __init__(self, *chunks: str) -> None:
        self.chunks = list(chunks)

    def read(self) -> str:
        return self.chunks.pop(0) if self.chunks else ""


class StopDeviceError(Exception):
    """The host is done: the simulated wearable stops at its next second."""


class ScriptedKeys:
    """Types each scripted key once the device's clock reaches its time.

    The first ``read`` means the host is listening: the device starts then. Each
    ``read`` comes between two of the host's polls, so it calls ``between_polls``
    first. After ``limit_s`` of wall time it types 'q', so a broken test ends instead
    of hanging.
    """

    def __init__(
        self,
        script,
        device_now,
        started: threading.Event,
        between_polls=lambda: None,
        limit_s: float = 600.0,
    ):
        self.script = list(script)
        self.typed: list[tuple[str, float]] = []  # (key, device time when typed)
        self.device_now = device_now
        self.started = started
        self.between_polls = between_polls
        self.deadline = time.monotonic() + limit_s

    def read(self) -> str:
        self.between_polls()
        self.started.set()
        now, typed = self.device_now(), ""
        while self.script and self.script[0][0] <= now:
            typed += self.script.pop(0)[1]
            self.typed.append((typed[-1], now))
        if time.monotonic() > self.deadline:
            typed += "q"
        return typed


class DeviceTimeHostClock:
    """collect's host clock in the video test: the simulated wearable's virtual time plus
    :data:`HOST_CLOCK_AHEAD_S`, so every host stamp (a link read, a frame's capture) has a
    known device time; a sleep is a millisecond of wall time while the device runs on."""

    def __init__(self, device_clock) -> None:
        self.device_clock = device_clock

    def monotonic(self) -> float:
        return self.device_clock.monotonic() + HOST_CLOCK_AHEAD_S

    def sleep(self, seconds: float) -> None:
        time.sleep(min(seconds, 0.001))


class QuitAfterVideo:
    """The scripted keys, but 'q' held back until the video file standing in for a camera
    has given all its frames (or a minute of wall time passed: a broken test ends)."""

    def __init__(self, keys: ScriptedKeys, video) -> None:
        self.keys, self.video = keys, video
        self.held = False
        self.deadline = time.monotonic() + 60.0

    @property
    def typed(self) -> list[tuple[str, float]]:
        return self.keys.typed

    def read(self) -> str:
        typed = self.keys.read()
        if "q" in typed:
            self.held, typed = True, typed.replace("q", "")
        if self.held and (self.video.finished or time.monotonic() > self.deadline):
            self.held, typed = False, typed + "q"
        return typed


def record_session(
    out,
    subject_id: str,
    *,
    rise_um: float,
    model: bool = True,
    faults: dict[int, str] | None = None,
    header_info: dict | None = None,
    script=SCRIPT,
    until: float | None = None,
    site: dict[str, float] | None = None,
    sink=None,
    video_clip=None,
):
    """Run the simulated wearable on one end of a pty and ``collect`` on the other; with
    ``video_clip``, ``collect --video`` that file, on :class:`DeviceTimeHostClock`."""
    board = build_board(tissue=tissue(rise_um), with_oled=False, seed=int(rise_um))
    master, slave = os.openpty()
    tty.setraw(slave)  # no echo or line editing before the host opens it
    os.set_blocking(master, False)
    started, stop = threading.Event(), threading.Event()
    errors: list[BaseException] = []
    port = DeviceEnd(master, stop, faults or {})

    def device() -> None:
        try:
            if not started.wait(10.0):
                return
            hw = wire(board).hardware()
            link = LinkWriter(port, clock=board.clock, header_info=header_info)
            fatigue = None
            if model:
                fatigue = FatigueModel(
                    HhbLevels(), "stand-in", Unchanged(), DEFAULT_MAPPING.names, DEFAULT_MAPPING, {}
                )

            def each_second(report) -> None:  # let the host catch up
                if stop.is_set() or port.hung_up:
                    raise StopDeviceError
                # No time limit: a host that stops reading has ended the session (at
                # the latest on the 'q' ScriptedKeys types after limit_s), and then
                # the test sets ``stop``.
                while pending_bytes(slave) and not stop.wait(0.002):
                    pass

            app = Wearable(hw, cfg.WearableConfig(), fatigue, link=link, on_second=each_second)
            with contextlib.suppress(StopDeviceError):
                app.run(70.0)
            app.close()
            link.close()
        except BaseException as exc:  # re-raised in the test thread
            errors.append(exc)

    thread = threading.Thread(target=device, daemon=True)
    thread.start()
    lines: list[str] = []
    keys = ScriptedKeys(script, board.clock.monotonic, started, port.pull_cable)
    clock, video, with_video = SystemClock(), None, {}
    if video_clip is not None:
        clock = DeviceTimeHostClock(board.clock)
        video = open_feed(str(video_clip), clock)
        keys = QuitAfterVideo(keys, video)
        with_video = {"video": video}
    try:
        path = collect(
            os.ttyname(slave),
            out,
            subject_id=subject_id,
            protocol="upper_limb",
            side="left",
            provenance="simulated",
            keys=keys,
            clock=clock,
            until=until,
            site=site,
            log=lines.append,
            sink=sink,
            **with_video,
        )
    finally:
        if video is not None:
            video.close()
        stop.set()
        started.set()
        thread.join(10.0)
        if not port.hung_up:
            os.close(master)
        os.close(slave)
    if errors:
        raise errors[0]
    return path, lines, keys.typed


@pytest.fixture(scope="module")
def live_hub():
    """The live page's hub that S01's session is shown on (collect --live)."""
    return Hub()


@pytest.fixture(scope="module")
def sessions(tmp_path_factory, live_hub):
    """Two subjects: S01 clean, with a model and a header listing the wavelengths, shown
    live; S02 without a model, garbage and a damaged and a lost frame on the line, ended
    by ``until`` instead of 'q'."""
    out = tmp_path_factory.mktemp("human")
    first = record_session(
        out,
        "S01",
        rise_um=20.0,
        header_info={"board": "hwsim", "wavelengths_nm": [750, 810, 870]},
        site={"adipose_tissue_thickness_mm": 4.5, "probe_pressure_mmhg": 30.0},
        sink=HubFeed(live_hub, "S01", "serial pty"),
    )
    second = record_session(
        out,
        "S02",
        rise_um=14.0,
        model=False,
        faults={300: "garbage", 600: "corrupt", 900: "drop"},
        script=SCRIPT[:-1],
        until=57.0,
    )
    return out, first, second


def test_two_collected_sessions_are_a_dataset_training_accepts(sessions):
    out, (p1, *_), (p2, *_) = sessions
    assert sorted(p.name for p in out.glob("*.snirf")) == [p1.name, p2.name]
    assert sorted(p.name for p in out.glob("*.nrec")) == [
        "S01_upper_limb_left.nrec",
        "S02_upper_limb_left.nrec",
    ]
    data = train.load_windows(out)
    assert set(data.windows.groups) == {"S01", "S02"}
    assert data.provenance == frozenset({"simulated"}) and data.n_sessions == 2
    assert set(np.unique(data.windows.labels)) == {0, 1, 2, 3, 4}
    lines: list[str] = []
    result = train.cross_validate(
        "random_forest", data, "subject", replace(train.TINY, folds=2), lines.append
    )
    assert result["n_windows"] == len(data.windows.labels) > 80
    assert 0.0 <= result["accuracy"] <= 1.0 and len(lines) == 2


def test_ratings_phases_and_failure_are_on_the_device_clock(sessions):
    _, (path, lines, typed), _ = sessions
    rec = read_session(path)
    assert rec.subject_id == "S01" and rec.provenance == "simulated"
    assert rec.borg.tolist() == RATINGS

    def stamped_when_typed(t_s: float, key: str) -> bool:
        # The host stamps the newest device time it has received: never later than
        # the device's clock when the key was typed, and not far behind it.
        (when,) = [t for k, t in typed if k == key]
        return when - LAG_S <= t_s <= when + 0.001

    assert [k for k, _ in typed] == [k for _, k in SCRIPT]
    digit_times = [t for k, t in typed if k in "0123456789x"]
    assert all(t - LAG_S <= s <= t + 0.001 for s, t in zip(rec.borg_t_s, digit_times))
    assert [p[0] for p in rec.phases] == ["baseline", "hold", "rest"]
    (_, b0, b_len), (_, h0, h_len), (_, r0, r_len) = rec.phases
    assert stamped_when_typed(b0, "b") and math.isclose(b0 + b_len, h0)
    assert stamped_when_typed(h0, "h") and math.isclose(h0 + h_len, r0)
    assert stamped_when_typed(r0, "r") and math.isclose(r0 + r_len, rec.t_s[-1])
    assert stamped_when_typed(rec.task_failure_s, "f")
    # Times start at 0 on the device's clock; 10 Hz samples until 'q' at 57 s.
    assert rec.t_s[0] == pytest.approx(0.05) and abs(rec.t_s[-1] - 57.0) <= LAG_S
    assert np.allclose(np.diff(rec.t_s), 0.1)
    # Sample-and-hold levels, Borg 0's level before the first rating (and a note).
    first = rec.borg_t_s[0]
    assert np.all(rec.level[rec.t_s < first] == 0)
    assert "carry the level of Borg 0" in rec.metadata["level_note"]
    after = np.searchsorted(rec.borg_t_s, rec.t_s, side="right") - 1
    held = rec.borg[after[after >= 0]]
    assert np.array_equal(rec.level[after >= 0], DEFAULT_MAPPING.level(held))
    # Labels and signals share one clock: "exhausted" is where HHb is highest.
    exhausted = rec.level == 4
    assert rec.d_hhb_um[exhausted].mean() > 12.0 > 1.0 > abs(rec.d_hhb_um[rec.t_s < 20].mean())
    # The device's header and the link's health are in the metadata.
    meta = rec.metadata
    assert '"board": "hwsim"' in meta["device_header"] and meta["device_format_version"] == 1
    assert meta["wavelengths_source"] == "device header"
    assert rec.wavelengths_nm == (750.0, 810.0, 870.0)
    assert meta["link_gaps"] == 0 and meta["link_crc_errors"] == 0
    assert meta["link_frames"] > 57 * 50 and meta["records_prediction"] > 20
    assert meta["records_sample"] == rec.n_samples and meta["ended_by"] == "'q' typed"
    assert meta["session_record"] == "S01_upper_limb_left.nrec"
    # The measurement site, for validation against a reference device; and from the
    # record alone (collect --recover), as the record's header carries it.
    assert meta["adipose_tissue_thickness_mm"] == 4.5 and meta["probe_pressure_mmhg"] == 30.0
    again = path.with_name("again.snirf")
    rebuilt = read_session(rebuild(path.with_suffix(".nrec"), again, log=lambda line: None))
    assert rebuilt.metadata["probe_pressure_mmhg"] == 30.0
    # Progress, hints and confirmations went to the log.
    status = [line for line in lines if line.startswith("t=") and "samples" in line]
    assert status and all("link" in line and "CRC errors" in line for line in status)
    assert any("key 'z' means nothing here" in line for line in lines)
    assert any("Borg 10 (exhausted)" in line for line in lines)
    assert any(line.startswith("wrote ") and "9 Borg reports" in line for line in lines)


def test_the_live_page_sees_what_the_session_file_keeps(sessions, live_hub):
    """collect --live: every sample, rating, link count and the recording's state reach
    the page's hub as they reach the session record."""
    _, (path, *_), _ = sessions
    record = read_session(path)
    view = live_hub.view("S01")
    state = view.state()
    assert view.next_index == record.n_samples  # every sample, none twice
    assert [rating for _, rating in state["borg"]] == RATINGS
    assert state["phase"] == "rest" and state["task_failure_t_s"] is not None
    assert state["level"] is not None and len(state["probabilities"]) == 5
    assert state["link"]["frames"] > 0 and state["link"]["lost_frames"] == 0
    assert state["recording"]["state"] == "ended"  # "recording" until the session ended
    assert state["recording"]["file"] == path.with_suffix(".nrec").name
    assert state["provenance"] == "simulated"


def test_garbage_damage_and_loss_on_the_line_are_survived_and_counted(sessions):
    _, _, (path, lines, _) = sessions
    rec = read_session(path)
    meta = rec.metadata
    assert meta["link_gaps"] == 2 and meta["link_lost_frames"] == 2
    assert meta["link_crc_errors"] >= 1 and meta["link_framing_errors"] >= 1
    assert meta["wavelengths_source"].startswith("device default")
    assert meta["ended_by"] == "57 s of device time" and "records_prediction" in meta
    assert meta["records_prediction"] == 0
    # Every sample arrived but (perhaps) the ones in the two lost frames.
    assert rec.n_samples >= 570 - 2 and rec.borg.tolist() == RATINGS
    assert any("2 gaps" in line for line in lines)


def test_a_port_that_hangs_up_mid_session_still_gives_its_file(tmp_path):
    path, lines, _ = record_session(tmp_path, "S03", rise_um=10.0, faults={1700: "hangup"})
    rec = read_session(path)
    assert "the link failed" in rec.metadata["ended_by"] and "Input/output error" in str(lines)
    assert 25.0 < rec.t_s[-1] < 40.0 and [p[0] for p in rec.phases] == ["baseline", "hold"]


def test_the_record_alone_rebuilds_the_file_even_after_a_crash(sessions, tmp_path):
    out, (path, *_), _ = sessions
    nrec = out / "S01_upper_limb_left.nrec"
    original = read_session(path)
    again = read_session(rebuild(nrec, tmp_path / "again.snirf", log=lambda s: None))
    for name in ("t_s", "d_od", "d_hhb_um", "flags", "borg", "borg_t_s", "level"):
        assert np.array_equal(getattr(again, name), getattr(original, name)), name
    assert again.phases == original.phases and again.metadata == original.metadata
    assert again.start_utc == original.start_utc is not None
    # A host killed mid-write leaves a torn last record: everything before it counts.
    torn = tmp_path / "torn.nrec"
    torn.write_bytes(nrec.read_bytes()[:-5])
    lines: list[str] = []
    partial = read_session(rebuild(torn, log=lines.append))
    assert partial.n_samples == original.n_samples and partial.borg.tolist() == RATINGS
    assert "torn last record" in lines[0]
    with pytest.raises(CollectError, match="exists"):
        rebuild(torn)


def test_key_map():
    assert [key_action(str(n)) for n in range(10)] == [("borg", n) for n in range(10)]
    assert key_action("x") == key_action("X") == ("borg", 10)
    assert key_action("b") == ("phase", "baseline") and key_action("H") == ("phase", "hold")
    assert key_action("r") == ("phase", "rest")
    assert key_action("f") == ("task_failure", None) and key_action("q") == ("quit", None)
    for other in ("z", " ", "\n", "\x1b", "é", "-"):
        assert key_action(other) is None


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("subject_id", "", "subject_id must be a code"),
        ("subject_id", "../S01", "subject_id must be a code"),
        ("subject_id", "S01.2", "subject_id must be a code"),
        ("subject_id", "Jane Doe", "never a person's name"),
        ("protocol", "arm_curl", "protocol must be one of 'upper_limb', 'lower_limb'"),
        ("side", "middle", "side must be one of 'left', 'right'"),
        ("provenance", "synthetic", "provenance must be one of 'simulated', 'human'"),
    ],
)
def test_refuses_what_the_dataset_would_reject_before_opening_the_port(
    tmp_path, field, value, message
):
    args = dict(subject_id="S01", protocol="upper_limb", side="left", provenance="human")
    args[field] = value
    with pytest.raises(ValueError, match=message):  # not the LinkError of the bogus port
        collect("/dev/ttyNOPE0", tmp_path, keys=None, clock=SystemClock(), **args)


def test_a_missing_port_and_a_silent_port_are_named(tmp_path):
    args = dict(subject_id="S01", protocol="upper_limb", side="left", clock=SystemClock())
    with pytest.raises(LinkError, match="/dev/ttyNOPE0: cannot open"):
        collect("/dev/ttyNOPE0", tmp_path, keys=None, **args)
    master, slave = os.openpty()
    tty.setraw(slave)
    name = os.ttyname(slave)
    lines: list[str] = []
    keys = Typing("5", "", "", "q")  # a rating before any data, then the end
    try:
        with pytest.raises(CollectError, match=f"no samples received from {name}"):
            collect(
                name,
                tmp_path,
                keys=keys,
                **args,
                log=lines.append,
            )
    finally:
        os.close(master)
        os.close(slave)
    assert any("not recorded: no data from the device yet" in line for line in lines)
    assert (tmp_path / "S01_upper_limb_left.nrec").exists()  # kept: it is the record


def test_cli_names_the_port_and_asks_for_what_is_missing(tmp_path, capsys):
    argv = ["collect", "--port", "/dev/ttyNOPE0", "--subject", "S01"]
    argv += ["--protocol", "upper_limb", "--side", "left", "--out", str(tmp_path / "new")]
    assert host_main(argv) == 2
    assert "/dev/ttyNOPE0: cannot open" in capsys.readouterr().err
    assert not (tmp_path / "new").exists(), "no empty dataset folder left by a failed port"
    with pytest.raises(SystemExit):
        host_main(["collect", "--subject", "S01"])
    assert "missing --port, --protocol, --side" in capsys.readouterr().err


def test_terminal_keys_read_single_keys_unechoed_and_restore_the_terminal():
    master, slave = os.openpty()
    try:
        before = termios.tcgetattr(slave)
        with TerminalKeys(slave) as keys:
            assert keys.read() == ""  # nothing typed: returns at once
            during = termios.tcgetattr(slave)
            assert not during[3] & (termios.ICANON | termios.ECHO)
            os.write(master, b"3h")  # no Enter: cbreak mode delivers keys as typed
            typed, deadline = "", time.monotonic() + 10.0
            while len(typed) < 2 and time.monotonic() < deadline:  # the pty moves bytes
                select.select([slave], [], [], 0.1)  # a moment later, sooner or later
                typed += keys.read()
            assert typed == "3h"
        assert termios.tcgetattr(slave) == before
    finally:
        os.close(master)
        os.close(slave)


def test_collect_video_records_a_file_standing_in_for_a_camera_on_the_device_clock(tmp_path):
    """``collect --video CLIP`` beside the simulated wearable: the video and its frame table
    beside the session, each frame within a frame of its device time, no NIRS record lost."""
    fps, seconds = 30.0, 3
    clip = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), fps, (64, 48))
    for i in range(int(fps * seconds)):
        frame = np.zeros((48, 64, 3), np.uint8)
        frame[:, i % 64] = 255  # a bar moving right
        writer.write(frame)
    writer.release()
    path, lines, _ = record_session(tmp_path / "human", "S04", rise_um=20.0, video_clip=clip)
    rec = read_session(path)
    # The NIRS session as without video: 10 Hz samples to 'q' at 57 s, none lost.
    assert rec.t_s[0] == pytest.approx(0.05) and np.allclose(np.diff(rec.t_s), 0.1)
    assert abs(rec.t_s[-1] - 57.0) <= LAG_S and rec.metadata["link_gaps"] == 0
    assert rec.metadata["records_sample"] == rec.n_samples and rec.borg.tolist() == RATINGS
    video = path.with_name("S04_upper_limb_left.video.avi")
    table_path = path.with_name("S04_upper_limb_left.frames.csv")
    capture = cv2.VideoCapture(str(video))
    written = 0
    while capture.read()[0]:
        written += 1
    capture.release()
    table = read_frame_table(table_path)
    assert written == table.n_frames == fps * seconds
    # The file stands in for a camera at its own rate, on the host's clock ...
    np.testing.assert_allclose(np.diff(table.host_s), 1 / fps, atol=2e-6)
    # ... and the link's records put each frame within a frame of its device time.
    truth = table.host_s - HOST_CLOCK_AHEAD_S
    assert np.abs(table.device_s - truth).max() < 1 / fps
    origin = rec.metadata["device_time_origin_s"]
    np.testing.assert_allclose(table.t_s, table.device_s - origin, atol=2e-6)
    assert any(
        line.startswith("video: 90 frames in S04_upper_limb_left.video.avi") for line in lines
    )
    # collect --recover makes the same table from the session record alone.
    again = tmp_path / "again.frames.csv"
    recover_frame_table(path.with_suffix(".nrec"), again, log=lines.append)
    np.testing.assert_array_equal(read_frame_table(again).device_s, table.device_s)


def test_cli_refuses_a_video_source_before_opening_the_port(tmp_path, capsys):
    argv = ["collect", "--port", "/dev/ttyNOPE0", "--subject", "S01", "--protocol"]
    argv += ["upper_limb", "--side", "left", "--out", str(tmp_path / "out")]
    assert host_main([*argv, "--video", "99"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: camera 99: cannot be opened")
    (tmp_path / "clip.mp4").write_text("not a video")
    assert host_main([*argv, "--video", str(tmp_path / "clip.mp4")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "clip.mp4: OpenCV cannot open it as a video" in err[0]
    assert not (tmp_path / "out").exists()  # refused before anything was opened or made


def test_cli_refuses_a_camera_latency_without_a_camera(tmp_path, capsys):
    argv = ["collect", "--port", "/dev/ttyNOPE0", "--subject", "S01", "--protocol"]
    argv += ["upper_limb", "--side", "left", "--video-latency-ms", "50"]
    with pytest.raises(SystemExit):
        host_main(argv)
    assert "--video-latency-ms is the camera's: give --video too" in capsys.readouterr().err


@pytest.mark.parametrize("latency", ["1e9", "-5", "nan", "1001"])
def test_cli_refuses_a_camera_latency_out_of_range(tmp_path, capsys, latency):
    argv = ["collect", "--port", "/dev/ttyNOPE0", "--subject", "S01", "--protocol"]
    argv += ["upper_limb", "--side", "left", "--out", str(tmp_path / "out")]
    with pytest.raises(SystemExit) as stop:
        host_main([*argv, "--video", "0", f"--video-latency-ms={latency}"])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--video-latency-ms" in err and repr(latency) in err, err
    assert not (tmp_path / "out").exists()
