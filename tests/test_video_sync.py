"""A camera's frames on the wearable's clock (host/video/sync.py, host/collect_video.py).

The synchronisation test: a simulated wearable link whose records reach the host late by
random transit delays, in batches, with stalls and the baseline's burst, from a device
clock that drifts against the host's; a camera whose frames are exposed at known device
times and stamped by the host a known latency later. ``collect`` runs on it with a fake
host clock (no wall-clock sleep: the result cannot depend on this machine's speed), and
every frame's device time in the frame table is within one frame interval of the truth.
"""

from __future__ import annotations

import math
import re
import sys
import types

import cv2
import numpy as np
import pytest

from device.acquisition import Frame
from device.chain import ChainSample
from device.link import LinkWriter
from host.collect import collect
from host.collect_video import (
    EVENT_CLOCK,
    EVENT_VIDEO_END,
    EVENT_VIDEO_FRAMES,
    frame_table,
    hold_phase,
    recover_frame_table,
    video_task_failure,
)
from host.snirf_reader import read_session
from host.video.feeds import open_feed
from host.video.sync import (
    FrameTable,
    fit_clock_map,
    read_frame_table,
    read_frame_times,
    upper_hull,
    write_frame_table,
)
from host.video.track import PoseTrack, VideoError

# The simulated link and camera (all times s). The device's clock against the host's:
# device = RATE · (host − HOST_AT_DEVICE_ZERO_S): the known offset, and a drift of
# 300 ppm, more than two ±50 ppm crystals can differ (assumption: large on purpose, so a
# map without the rate would miss by more than a frame at the session's ends).
HOST_AT_DEVICE_ZERO_S = 5000.0
RATE = 1.0 + 300e-6
SESSION_S = 300.0
FRAME_HZ = 40.0  # the wearable's multiplex frames (device.acquisition), about its 43 Hz
SAMPLE_HZ = 10.0  # its chain samples
BASELINE_S = 20.0  # samples of the baseline are released in one burst at its end
BATCH_S = 0.1  # the device's output reaches the wire in batches this long
TRANSIT_MIN_S, TRANSIT_MEAN_S = 0.002, 0.015  # wire + USB + tty, exponential above the floor
STALL_P, STALL_S = 0.02, (0.3, 1.5)  # a batch in 50 is held up this long (a USB hiccup)
FPS = 30.0
VIDEO_S = (5.0, SESSION_S - 5.0)  # device times the camera films
LATENCY_S = 0.04  # exposure → host grab


def host_of(device_s):
    return HOST_AT_DEVICE_ZERO_S + np.asarray(device_s) / RATE


class FakeClock:
    """collect's host clock: time moves only when collect sleeps (20 ms a poll)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class ScheduledPort:
    """The host's end of the wearable's link: byte chunks that arrive at set host times."""

    name = "simulated-link"

    def __init__(self, chunks: list[tuple[float, bytes]], clock: FakeClock) -> None:
        self.chunks, self.clock = chunks, clock
        self.next = 0
        self.buffer = bytearray()

    def _arrive(self) -> None:
        while self.next < len(self.chunks) and self.chunks[self.next][0] <= self.clock.now:
            self.buffer += self.chunks[self.next][1]
            self.next += 1

    @property
    def in_waiting(self) -> int:
        self._arrive()
        return len(self.buffer)

    def read(self, size: int = 1) -> bytes:
        self._arrive()
        out = bytes(self.buffer[:size])
        del self.buffer[:size]
        return out

    def close(self) -> None:
        pass


class WireCapture:
    """A LinkWriter's port: keeps each frame's bytes with the device time it was written."""

    name = "device-uart"

    def __init__(self, device_clock: FakeClock) -> None:
        self.device_clock = device_clock
        self.writes: list[tuple[float, bytes]] = []

    def write(self, data: bytes) -> int:
        self.writes.append((self.device_clock.now, bytes(data)))
        return len(data)

    def close(self) -> None:
        pass


def wearable_link(seed: int) -> tuple[list[tuple[float, bytes]], int]:
    """The wearable's link bytes with their host arrival times, and its sample count."""
    rng = np.random.default_rng(seed)
    device_clock = FakeClock(0.0)
    wire = WireCapture(device_clock)
    link = LinkWriter(wire, clock=device_clock, header_info={"board": "simulated"})
    items: list[tuple[float, float, object]] = []  # (sent at, made at, fields)
    for t in np.arange(1, int(SESSION_S * FRAME_HZ)) / FRAME_HZ:
        items.append((t, t, Frame(t, (0.01, 0.5, 0.6, 0.7), (3, 3, 3, 3), (0.02, 0.6, 0.7, 0.8))))
    samples = np.arange(1, int(SESSION_S * SAMPLE_HZ)) / SAMPLE_HZ
    for t in samples:
        sample = ChainSample(
            t, 4, 0.01, (0.5, 0.6, 0.7), (0.0, 0.0, 0.0), -1.0, 1.0, 0.0, 0.0, 70.0, 0.0, 0
        )
        items.append((max(t, BASELINE_S), t, sample))
    items.sort(key=lambda item: (item[0], item[1]))
    for sent, _, fields in items:
        device_clock.now = sent
        link.send(fields)
    chunks, arrived = [], -math.inf
    batches: dict[int, bytearray] = {}
    for t, data in wire.writes:
        batches.setdefault(math.ceil(t / BATCH_S - 1e-9), bytearray()).extend(data)
    for k in sorted(batches):
        delay = TRANSIT_MIN_S + rng.exponential(TRANSIT_MEAN_S - TRANSIT_MIN_S)
        if rng.random() < STALL_P:
            delay += rng.uniform(*STALL_S)
        arrived = max(arrived, float(host_of(k * BATCH_S)) + delay)  # a serial link keeps order
        chunks.append((arrived, bytes(batches[k])))
    return chunks, len(samples)


class StandInCamera:
    """A camera exposing frames at known device times, grabbed LATENCY_S later by the host's
    clock (its stamps are given, not read from a clock); ``fail_after`` frames, it fails."""

    kind, name, width, height, notes = "camera", "camera 7 (simulated)", 32, 24, []

    def __init__(self, fail_after: int | None = None) -> None:
        self.fps = FPS
        self.exposed_s = np.arange(VIDEO_S[0], VIDEO_S[1], 1.0 / FPS)  # device clock
        self.fail_after = fail_after
        self.finished = False
        self.stopped = False

    def frames(self):
        for i, host_s in enumerate(host_of(self.exposed_s) + LATENCY_S):
            if self.stopped:
                return
            if i == self.fail_after:
                raise OSError("camera 7: read failed: No such device")
            rgb = np.full((self.height, self.width, 3), i % 256, np.uint8)
            yield i, float(host_s), rgb
        self.finished = True

    def stop(self) -> None:
        self.stopped = True

    def close(self) -> None:
        pass


class QuitWhenFilmed:
    """Types 'q' once the session's time is over and the camera has given every frame."""

    def __init__(self, clock: FakeClock, camera: StandInCamera) -> None:
        self.clock, self.camera = clock, camera

    def read(self) -> str:
        over = self.clock.now >= host_of(SESSION_S) + 2.0
        return "q" if over and (self.camera.finished or self.camera.fail_after) else ""


def run_session(out, camera: StandInCamera, seed: int = 1):
    chunks, n_samples = wearable_link(seed)
    clock = FakeClock(HOST_AT_DEVICE_ZERO_S - 1.0)
    lines: list[str] = []
    path = collect(
        ScheduledPort(chunks, clock),
        out,
        subject_id="S09",
        protocol="upper_limb",
        side="left",
        provenance="simulated",
        keys=QuitWhenFilmed(clock, camera),
        clock=clock,
        log=lines.append,
        video=camera,
        video_latency_s=LATENCY_S,
    )
    return path, lines, n_samples


@pytest.fixture(scope="module")
def synced(tmp_path_factory):
    camera = StandInCamera()
    path, lines, n_samples = run_session(tmp_path_factory.mktemp("sync"), camera)
    return path, lines, n_samples, camera


def test_every_frame_is_within_one_frame_of_its_device_time(synced):
    path, lines, _, camera = synced
    table = path.with_name(path.stem + ".frames.csv")
    device_s = read_frame_times(table)
    assert device_s.shape == camera.exposed_s.shape  # every frame, in order
    error = device_s - camera.exposed_s
    assert np.abs(error).max() < 1.0 / FPS
    # The map runs early by about the least delay of the link (module host.video.sync):
    # a few ms here, far under a frame, whatever the 2 % of batches held up 0.3-1.5 s.
    assert -4 * TRANSIT_MIN_S - 0.005 < error.mean() <= 0.0
    assert any(line.startswith("video: ") and "frames" in line for line in lines)
    # The drift is the device's, measured: 300 ppm within 20 ppm.
    (ppm,) = re.findall(
        r"rate [0-9.]+ \(([-+][0-9]+) ppm", "\n".join(read_frame_table(table).comments)
    )
    assert abs(int(ppm) - 300) < 20


def test_a_map_without_the_drift_would_miss_by_more_than_a_frame(synced):
    """The test can fail: the same frames mapped with the clocks' offset alone (rate 1,
    through the middle of the session) miss by more than a frame at the ends."""
    path, *_, camera = synced
    frames = read_frame_table(path.with_name(path.stem + ".frames.csv"))
    middle = len(frames.host_s) // 2
    offset_only = frames.device_s[middle] + (frames.host_s - frames.host_s[middle])
    assert np.abs(offset_only - camera.exposed_s).max() > 1.0 / FPS


def test_nothing_of_the_nirs_session_is_lost_and_the_video_is_written(synced):
    path, _, n_samples, camera = synced
    rec = read_session(path)
    assert rec.n_samples == n_samples and rec.metadata["link_gaps"] == 0
    assert rec.metadata["records_frame"] == int(SESSION_S * FRAME_HZ) - 1
    video = path.with_name(path.stem + ".video.avi")
    capture = cv2.VideoCapture(str(video))
    count = 0
    while capture.read()[0]:
        count += 1
    capture.release()
    assert count == len(camera.exposed_s)
    # t_s is the frame's time on the session file's time base.
    frames = read_frame_table(path.with_name(path.stem + ".frames.csv"))
    origin = rec.metadata["device_time_origin_s"]
    np.testing.assert_allclose(frames.t_s, frames.device_s - origin, atol=2e-6)


def test_the_record_alone_gives_the_same_frame_table(synced, tmp_path):
    path, *_ = synced
    nrec = path.with_suffix(".nrec")
    again = tmp_path / "again.frames.csv"
    assert recover_frame_table(nrec, again, log=lambda line: None) == again
    live = read_frame_table(path.with_name(path.stem + ".frames.csv"))
    rebuilt = read_frame_table(again)
    np.testing.assert_array_equal(rebuilt.device_s, live.device_s)
    np.testing.assert_array_equal(rebuilt.host_s, live.host_s)
    notes: list[str] = []
    assert recover_frame_table(nrec, again, log=notes.append) is None  # never overwritten
    assert "exists: kept" in notes[0]


def test_a_camera_that_fails_mid_session_leaves_the_nirs_session_whole(tmp_path):
    camera = StandInCamera(fail_after=120)
    path, lines, n_samples = run_session(tmp_path, camera, seed=2)
    assert read_session(path).n_samples == n_samples
    note = [line for line in lines if "video failed" in line]
    assert len(note) == 1 and "No such device" in note[0] and "session goes on" in note[0]
    device_s = read_frame_times(path.with_name(path.stem + ".frames.csv"))
    assert device_s.size == 120
    assert np.abs(device_s - camera.exposed_s[:120]).max() < 1.0 / FPS
    from device.session_reader import read_session_file

    events = [r.fields for r in read_session_file(path.with_suffix(".nrec")).records]
    (end,) = [e for e in events if getattr(e, "name", "") == EVENT_VIDEO_END]
    assert end.data["frames"] == 120 and "No such device" in end.data["reason"]
    assert (
        sum(len(e.data["host_s"]) for e in events if getattr(e, "name", "") == EVENT_VIDEO_FRAMES)
        == 120
    )
    assert any(getattr(e, "name", "") == EVENT_CLOCK for e in events)


# -- the clock map alone ----------------------------------------------------------------------


def test_the_map_of_exact_pairs_is_exact_and_of_one_pair_has_rate_one():
    host = np.linspace(100.0, 200.0, 11)
    clock = fit_clock_map(host, 7.0 + 1.001 * (host - 100.0))
    assert clock.rate == pytest.approx(1.001, abs=1e-12)
    np.testing.assert_allclose(clock.to_device([100.0, 250.0]), [7.0, 7.0 + 150.15], atol=1e-9)
    one = fit_clock_map([10.0], [3.0])
    assert one.rate == 1.0 and one.to_device(12.0) == pytest.approx(5.0)
    assert one.outside(np.array([9.0, 10.0, 11.0])) == 2


def test_the_map_lies_on_the_least_delayed_pairs_whatever_the_others():
    rng = np.random.default_rng(3)
    host = np.sort(rng.uniform(0.0, 600.0, 5000))
    delay = 0.001 + rng.exponential(0.05, host.size)
    delay[rng.random(host.size) < 0.05] += 2.0  # stalls and bursts: far below the line
    truth = 42.0 + 0.9999 * host
    clock = fit_clock_map(host, truth - delay)
    grid = np.linspace(0.0, 600.0, 7)
    error = clock.to_device(grid) - (42.0 + 0.9999 * grid)
    assert np.all(error <= 0.0) and np.all(error > -0.004)  # early by about the least delay
    assert clock.delay_s.min() == 0.0 and np.median(clock.delay_s) > 0.02


def test_the_hull_of_parts_keeps_the_hull_of_the_whole():
    rng = np.random.default_rng(4)
    host = np.sort(rng.uniform(0.0, 10.0, 400))
    device = host - rng.exponential(0.02, host.size)
    whole = upper_hull(host, device)
    parts = [upper_hull(host[i : i + 37], device[i : i + 37]) for i in range(0, 400, 37)]
    again = upper_hull(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
    np.testing.assert_array_equal(again[0], whole[0])
    np.testing.assert_array_equal(again[1], whole[1])


@pytest.mark.parametrize(
    ("host", "device", "message"),
    [
        ([], [], "no \\(host, device\\) time pairs"),
        ([1.0, 2.0], [1.0], "one length"),
        ([1.0, math.nan], [1.0, 2.0], "finite"),
    ],
)
def test_bad_pairs_are_one_line(host, device, message):
    with pytest.raises(ValueError, match=message):
        fit_clock_map(host, device)


def test_a_device_clock_restart_keeps_the_new_clock_only():
    host = np.arange(0.0, 20.0, 0.5)
    device = np.where(host < 10.0, 100.0 + host, host - 10.0)  # restarted at host 10 s
    table = frame_table([12.0, 15.0], host, device, latency_s=0.0, origin_s=None, source="x")
    np.testing.assert_allclose(table.device_s, [2.0, 5.0])
    assert any("restarted" in c for c in table.comments)
    assert np.isnan(table.t_s).all()


# -- the frame table file ---------------------------------------------------------------------


def test_the_frame_table_reads_back_and_bad_tables_are_one_line(tmp_path):
    table = FrameTable(np.array([10.0, 10.5]), np.array([1.25, 1.75]), np.array([0.25, math.nan]))
    table.comments.append("made by a test")
    path = write_frame_table(tmp_path / "s.frames.csv", table)
    back = read_frame_table(path)
    np.testing.assert_array_equal(back.device_s, [1.25, 1.75])
    np.testing.assert_array_equal(back.video_s, [0.0, 0.5])
    assert back.comments == ["made by a test"] and math.isnan(back.t_s[1])
    with pytest.raises(VideoError, match="no such frame table"):
        read_frame_times(tmp_path / "none.frames.csv")
    (tmp_path / "bad.csv").write_text("a,b\n")
    with pytest.raises(VideoError, match="its first row must be 'frame,host_s"):
        read_frame_times(tmp_path / "bad.csv")
    (tmp_path / "bad2.csv").write_text("frame,host_s,video_s,device_s,t_s\n0,1.0,0.0,x,\n")
    with pytest.raises(VideoError, match="line 2: '0,1.0,0.0,x,' is not"):
        read_frame_times(tmp_path / "bad2.csv")
    (tmp_path / "empty.csv").write_text("frame,host_s,video_s,device_s,t_s\n")
    with pytest.raises(VideoError, match="holds 0 frame"):  # breaker: an IndexError before
        read_frame_times(tmp_path / "empty.csv")


# -- the video source -------------------------------------------------------------------------


def write_clip(path, fps: float, frames: int = 10):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (32, 24))
    for i in range(frames):
        writer.write(np.full((24, 32, 3), 20 * i, np.uint8))
    writer.release()
    return path


def test_a_video_source_that_cannot_serve_is_one_line(tmp_path):
    clock = FakeClock(0.0)
    with pytest.raises(VideoError, match=r"^camera 99: cannot be opened.*--video N"):
        open_feed("99", clock)
    (tmp_path / "notes.txt").write_text("not a video\n")
    with pytest.raises(VideoError, match="notes.txt: OpenCV cannot open it as a video"):
        open_feed(str(tmp_path / "notes.txt"), clock)
    slow = write_clip(tmp_path / "slow.avi", 5.0)
    with pytest.raises(VideoError, match="slow.avi: 5 frames/s is outside the 20-120"):
        open_feed(str(slow), clock)
    # A broken header: OpenCV reads 0.5 frames/s back (FFmpeg guesses 25 for a rate of 0).
    broken = write_clip(tmp_path / "broken.avi", 0.5)
    with pytest.raises(
        VideoError, match="broken.avi: the header gives 0.5 frames/s; a video needs"
    ):
        open_feed(str(broken), clock)


def test_a_file_stands_in_for_a_camera_at_its_own_rate_on_the_host_clock(tmp_path):
    clock = FakeClock(50.0)
    with open_feed(str(write_clip(tmp_path / "c.avi", 25.0, 6)), clock) as feed:
        got = [(i, t) for i, t, _ in feed.frames()]
    assert [i for i, _ in got] == list(range(6)) and feed.finished
    np.testing.assert_allclose([t for _, t in got], 50.0 + np.arange(6) / 25.0)
    assert clock.now == pytest.approx(50.0 + 5 / 25.0)  # it waited for each frame's time


# -- after the session: task failure from the elbow angle --------------------------------------


def test_hold_phase_is_the_last_hold_to_the_next_phase_or_its_planned_end():
    phases = [("baseline", 1.5), ("hold", 21.0), ("rest", 142.5)]
    assert hold_phase(phases, 157.0) == (21.0, 142.5)
    assert hold_phase(phases[:2], 157.0) == (21.0, 157.0)
    assert hold_phase(phases[:1], 157.0) is None
    # A failed hold keyed over at 42.5 s: the hold looked at runs to its planned 90 s, so
    # the failure the key follows is not inside the detector's grace for a planned end.
    failed = [("baseline", 1.5), ("hold", 21.0), ("rest", 42.5)]
    assert hold_phase(failed, 157.0) == (21.0, 111.0)
    assert hold_phase(failed, 60.0) == (21.0, 60.0)


def test_video_task_failure_puts_the_pose_on_the_device_clock(monkeypatch):
    """host.video.task_failure is another helper's: a fake stands in for it here."""
    seen = {}

    def elbow_flexion_deg(track, side):
        seen["side"] = side
        return np.linspace(45.0, 90.0, track.n_frames)

    def detect_task_failure(t_s, flexion_deg, hold_start_s, hold_end_s):
        seen.update(t_s=t_s, hold=(hold_start_s, hold_end_s))
        return types.SimpleNamespace(t_s=float(t_s[np.argmax(flexion_deg > 80.0)]))

    fake = types.ModuleType("host.video.task_failure")
    fake.elbow_flexion_deg, fake.detect_task_failure = elbow_flexion_deg, detect_task_failure
    monkeypatch.setitem(sys.modules, "host.video.task_failure", fake)
    n = 90
    track = PoseTrack.from_keypoints(
        np.zeros((n, 11, 3)), fps=30.0, width=64, height=48, source="camera 0", provenance="camera"
    )
    video_s = np.arange(n) / 30.0
    device_s = 1000.0 + 1.0001 * video_s
    failure = video_task_failure(device_s, video_s, track, 1000.5, 1002.5, side="left")
    np.testing.assert_allclose(seen["t_s"], device_s)
    assert seen["side"] == "left" and seen["hold"] == (1000.5, 1002.5)
    assert 1000.0 + 2.0 < failure.t_s < 1000.0 + 2.5
    with pytest.raises(ValueError, match="one length >= 2"):
        video_task_failure(device_s[:1], video_s[:1], track, 0.0, 1.0, side="left")


def test_a_camera_is_stamped_by_collects_clock_at_each_grab(tmp_path, monkeypatch):
    """No camera here: OpenCV's capture is stood in for by a clip's, each grab 1/30 s
    later on the fake host clock."""
    import host.video.video_io as video_io

    clip = write_clip(tmp_path / "cam.avi", 30.0, 5)
    real = video_io.cv2.VideoCapture
    clock = FakeClock(700.0)

    class Grabbing:
        def __init__(self, what):
            self.capture = real(str(clip))

        def grab(self):
            clock.now += 1 / 30
            return self.capture.grab()

        def __getattr__(self, name):
            return getattr(self.capture, name)

    monkeypatch.setattr(video_io.cv2, "VideoCapture", Grabbing)
    with open_feed("0", clock) as feed:
        stamps = [t for _, t, _ in feed.frames()]
    assert feed.kind == "camera" and feed.name == "camera 0" and feed.finished
    np.testing.assert_allclose(stamps, 700.0 + np.arange(1, 6) / 30)


def test_collect_recover_after_a_host_crash_gives_the_video_and_its_table(synced, tmp_path):
    """A host that died mid-session leaves the record and the video under its temporary
    name; ``collect --recover`` makes the SNIRF file, renames the video and makes the table."""
    from host.__main__ import main as host_main

    path, *_ = synced
    nrec = tmp_path / path.with_suffix(".nrec").name
    nrec.write_bytes(path.with_suffix(".nrec").read_bytes())
    part = tmp_path / ".S09_upper_limb_left.video.part.avi"
    part.write_bytes(path.with_name("S09_upper_limb_left.video.avi").read_bytes())
    assert host_main(["collect", "--recover", str(nrec)]) == 0
    assert (tmp_path / "S09_upper_limb_left.snirf").exists() and not part.exists()
    assert (tmp_path / "S09_upper_limb_left.video.avi").exists()
    recovered = read_frame_times(tmp_path / "S09_upper_limb_left.frames.csv")
    live = read_frame_times(path.with_name("S09_upper_limb_left.frames.csv"))
    np.testing.assert_array_equal(recovered, live)


def test_pose_runs_on_the_recording_at_the_frames_capture_times(tmp_path):
    """After the session: the recorded video's pose track is on the capture clock (s from
    the first frame), which the frame table maps to the device's."""
    pytest.importorskip("mediapipe")
    from host.collect_video import session_pose_track

    clip = write_clip(tmp_path / "s.video.avi", 30.0, 12)
    host = 500.0 + np.arange(12) / 30.0
    track = session_pose_track(clip, FrameTable(host, host - 400.0, host - 400.5), name="camera 0")
    assert track.n_frames == 12 and track.provenance == "camera" and track.source == "camera 0"
    np.testing.assert_allclose(track.time_s, np.arange(12) / 30.0, atol=1e-9)
    assert any("pose estimated after recording" in note for note in track.notes)
