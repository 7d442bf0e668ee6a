"""The main job: the wearable on a simulated board, worn by a simulated subject.

A simulated subject (hwsim.physiology) goes through a protocol of seed 003 (upper
limb: 20 s relaxed, a 45 degree elbow hold at 50 % MVC for up to 90 s, 30 s rest).
The device's own app (device.app) runs unchanged on the simulated board with the
model in --models-dir: self-test, 20 s calibration, then a fatigue level every second.

Printed: a line a second with what the wearer sees (the countdown while calibrating,
then the level and signals) beside the subject's true Borg rating; at the end, which
buzzer alerts sounded when, and with --fault-rate what the injected I2C faults did
to each chip. The subject has a body too (hwsim.body): a camera beside them films the
elbow hold, its angle is measured from the simulated pose track as host collect --video
does from a real one (host.video.task_failure), and the task failure it shows is printed
beside the physiology's. Written into --out: the session record (session-*.nrec), the
body's kinematics file beside it (session-*.kin.h5, frame times on the device clock, for
host video analyse and host video session), oled.gif (the OLED at 4x speed) and
summary.png. With --live the session is shown on the live page
(host.live) as it runs, paced at real time; with --mqtt it is published to a broker.
Everything here is SIMULATED.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from device.app import SecondReport, State, Wearable
from device.argtypes import existing_dir, output_dir, positive_float
from device.config import WearableConfig
from device.errors import DeviceError
from device.inference import load_model
from device.labels import FATIGUE_LEVELS
from device.oled import OledNotFoundError
from device.recorder import SessionRecorder, new_session_path
from device.screens import BIG_WORDS
from host.live.feeds import recording_event
from host.live.options import add_live_options, live_sinks
from host.model_folder import BUNDLED_MODELS
from host.plots import PHASE_CAPTION, PHASE_COLOURS
from hwsim.board import ADS1114_ADDRESS, SSD1306_ADDRESS, SimBoard
from hwsim.cli import add_fault_rate, add_session_options
from hwsim.faults import ChipFaults, chip_faults, explain, fault_summary
from hwsim.physiology import SessionTruth
from hwsim.rig import wire
from hwsim.session_seed import SessionSeed

#: GIF playback: each simulated second shown this long, ms (4x real time).
GIF_FRAME_MS = 250


@dataclass
class BodyView:
    """What the simulated camera saw: the elbow flexion through the trial and its verdict."""

    time_s: np.ndarray
    flexion_deg: np.ndarray
    hold_s: tuple[float, float]
    failure: object  # host.video.task_failure.TaskFailure | None
    kinematics: Path


@dataclass
class WearableRun:
    """What one simulated wear produced."""

    truth: SessionTruth
    reports: list[SecondReport] = field(default_factory=list)
    true_borg: list[int] = field(default_factory=list)
    true_level: list[int] = field(default_factory=list)
    oled_frames: list[Image.Image] = field(default_factory=list)
    buzzer_on_s: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    record_path: Path | None = None
    body: BodyView | None = None
    board: SimBoard | None = None  # as the device left it
    #: (t_s, level name) of each buzzer alert, e.g. [(56.0, "high"), (96.0, "exhausted")].
    alerts: list[tuple[float, str]] = field(default_factory=list)
    #: The one-line I2C fault summary (hwsim.faults), "" without --fault-rate.
    faults: str = ""
    #: What the bus's faults did, chip by chip (hwsim.faults), also without --fault-rate.
    chips: list[ChipFaults] = field(default_factory=list)


def _number(value: float, spec: str) -> str:
    """``value`` formatted by ``spec``, or "--" as wide where it is NaN (as the OLED)."""
    return format(value, spec) if value == value else "--".rjust(len(format(0.0, spec)))


def format_line(report: SecondReport, true_borg: int, true_level_name: str) -> str:
    """One console line per second: while calibrating, what the OLED says ("RELAX:
    calibrating baseline, 15 s left"); then the signals and the level shown."""
    truth = f"true Borg {true_borg:2d} ({true_level_name})"
    if report.calibration:
        shown = f"{BIG_WORDS[0]}: {', '.join(report.calibration)}"
        return f"t={report.t_s:5.0f} s  {shown:<71s}  {truth}"  # as wide as the signals
    level = report.level_name or f"({report.state.value})"
    return (
        f"t={report.t_s:5.0f} s  SmO2~{_number(report.smo2_pct, '5.1f')} %  "
        f"ΔHbO2 {_number(report.d_hbo2_um, '+6.1f')} µM  ΔHHb {_number(report.d_hhb_um, '+6.1f')} "
        f"µM  predicted {level:14s}  {truth}"
    )


def format_alerts(alerts: list[tuple[float, str]]) -> str:
    """E.g. "buzzer: 'high' at 56 s, 'exhausted' at 96 s", or "buzzer: silent"."""
    said = ", ".join(f"{name!r} at {t_s:.0f} s" for t_s, name in alerts)
    return f"buzzer: {said or 'silent'}"


def subject_code(subject: int) -> str:
    """The simulated subject's code ("sim-7"): its session record's and the page's name."""
    return f"sim-{subject}"


def wear_board(
    *,
    protocol: str = "upper_limb",
    side: str = "left",
    subject: int = 7,
    seed: int = 2025,
    fault_rate: float = 0.0,
) -> tuple[SessionTruth, SimBoard]:
    """Simulated subject ``subject`` through ``protocol``, and the board they wear.

    The one place the main job's subject and board are made, so that a run in another
    process (:mod:`hwsim.remote`) wears exactly the same board.
    """
    seeding = SessionSeed(seed, subject, protocol, side, label=subject_code(subject))
    truth = seeding.truth()
    return truth, seeding.board(truth, fault_rate=fault_rate)


def run_wearable(
    *,
    protocol: str = "upper_limb",
    side: str = "left",
    subject: int = 7,
    seed: int = 2025,
    models_dir: Path = BUNDLED_MODELS,
    out: Path = Path("out"),
    fault_rate: float = 0.0,
    emit=print,
    sink=None,
    speed: float | None = None,
) -> WearableRun:
    """Play one simulated subject through ``protocol`` with the wearable on.

    ``sink`` (:mod:`host.live.feeds`: the live page, a broker) gets every record the
    wearable makes, where the board's app sends its serial link's, and once a second the
    recording's state; ``speed`` paces the simulation at that many times real time
    (None: as fast as it runs).
    """
    truth, board = wear_board(
        protocol=protocol, side=side, subject=subject, seed=seed, fault_rate=fault_rate
    )
    person = truth.subject
    config = WearableConfig()
    rig = wire(board, retries=config.i2c.retries)
    try:
        display = rig.display()
    except OledNotFoundError as exc:  # as python -m device does on the board
        display = None
        said = explain(exc, board.bus, rig.bus.retries) if fault_rate else exc
        emit(f"note: {said}; running headless")
    hw = rig.hardware(display)
    model = load_model(models_dir, backend="onnx")
    emit(model.describe())
    out.mkdir(parents=True, exist_ok=True)
    result = WearableRun(truth, record_path=Path(new_session_path(out)), board=board)
    mapping = model.mapping

    def on_second(report: SecondReport) -> None:
        if sink is not None:
            sink.send(recording_event(report.t_s, recorder, "simulated"))
            for notice in sink.take_notices():  # the broker's, not the serial link's
                emit(f"note: {notice}")
        if speed is not None:  # the wall clock catches up with the simulated one
            ahead = report.t_s / speed - (time.perf_counter() - wall0)
            if ahead > 0:
                time.sleep(ahead)
        for message in report.messages:
            emit(f"note: {message}")
        if report.t_s <= 0:
            return
        borg = int(truth.borg.rating_at(report.t_s))
        result.reports.append(report)
        if report.alert:
            result.alerts.append((report.t_s, report.alert))
        result.true_borg.append(borg)
        result.true_level.append(int(mapping.level(borg)))
        result.oled_frames.append(board.oled.image().copy())
        emit(format_line(report, borg, mapping.name(borg)))

    recorder = SessionRecorder(
        result.record_path,
        info={
            "provenance": "simulated",
            "subject": person.subject_id,
            "protocol": protocol,
            "side": side,
        },
        clock=board.clock,
    )
    link = None if sink is None else _RecordsOnly(sink)
    app = Wearable(hw, config, model, recorder=recorder, link=link, on_second=on_second)
    wall0 = time.perf_counter()
    try:
        app.run(truth.duration_s)
    except DeviceError as exc:
        if not fault_rate:
            raise
        raise DeviceError(explain(exc, board.bus, rig.bus.retries)) from exc
    finally:
        app.close()
        recorder.close()
        model.close()
        if sink is not None:  # the page stops waiting for data
            sink.send(recording_event(board.clock.monotonic(), recorder, "simulated", ended=True))
        result.chips = chip_faults(board.bus, rig.bus)
        if fault_rate:
            lost_conversions = app.mux.stats.lost_read_error
            costs = {
                ADS1114_ADDRESS: f"{lost_conversions} conversions" if lost_conversions else "",
                SSD1306_ADDRESS: "no OLED: headless"
                if display is None
                else f"{display.failures} OLED frames cut short",
            }
            result.faults = fault_summary(board.bus, rig.bus, costs)
            emit(result.faults)
    result.wall_s = time.perf_counter() - wall0
    history = board.buzzer_line.history
    result.buzzer_on_s = [t for t, level in history if level]
    from hwsim.body import hold_windows  # with host.video: only when a body is filmed

    if truth.protocol.limb == "upper" and hold_windows(truth):  # seed 003's elbow hold
        result.body = watch_body(truth, seed, result.record_path)
    return result


class _RecordsOnly:
    """The live sink as the app's serial link: records go through; its notices (the
    broker's) are the main job's to print, not the app's to record as the link's."""

    def __init__(self, sink) -> None:
        self.sink = sink

    def send(self, record) -> object:
        return self.sink.send(record)

    def take_notices(self) -> list[str]:
        return []


def watch_body(truth: SessionTruth, seed: int, record_path: Path) -> BodyView:
    """Film the subject's body through the trial, measure the elbow, look for task failure.

    The track (hwsim.body, 30 fps, the trial's clock, which is the simulated device's) goes
    through the gap filling a side view's does (host.video.pose.clean_track), gets
    the subject's Borg reports, and is written with its features beside the session record
    (``<record>.kin.h5``), as host collect --video leaves a camera's.
    """
    from dataclasses import replace

    from host.video.features_file import SUFFIX, write_features
    from host.video.pipeline import extract_features
    from host.video.pose import clean_track
    from host.video.session_camera import beside, session_identity
    from host.video.task_failure import detect_task_failure, elbow_flexion_deg
    from hwsim.body import body_track, hold_windows

    track = body_track(truth, seed=seed)
    track = replace(
        clean_track(track, view="side"),
        borg_time_s=np.asarray(truth.borg.t_s, dtype=float),
        borg_rating=np.asarray(truth.borg.rating, dtype=float),
    )
    flexion = elbow_flexion_deg(track, truth.side)
    hold = hold_windows(truth)[0]
    failure = detect_task_failure(track.time_s, flexion, *hold)
    path = beside(record_path, SUFFIX)
    track = replace(track, metadata={**track.metadata, **session_identity(record_path)})
    write_features(path, extract_features(track))
    return BodyView(track.time_s, flexion, hold, failure, path)


def describe_body(view: BodyView, truth: SessionTruth) -> str:
    """One line: the task failure the camera saw beside the physiology's (both simulated)."""
    seen = view.failure
    real = truth.task_failure_s
    if seen is None:
        verdict = "the elbow held 45° to the hold's end"
    else:
        verdict = f"task failure from the elbow angle at {seen.t_s:.1f} s"
    if real is None:
        truth_says = "the physiology's subject held to the planned end"
    else:
        lag = "" if seen is None else f", {seen.t_s - real:+.2f} s"
        truth_says = f"the physiology's at {real:.1f} s{lag}"
    return f"SIMULATED body (side camera, 30 fps): {verdict}; {truth_says}; {view.kinematics}"


def save_gif(frames: list[Image.Image], path: Path) -> Path:
    """The OLED, one frame a second, at 4x speed, scaled 3x for a screen."""
    big = [f.convert("L").resize((f.width * 3, f.height * 3), Image.NEAREST) for f in frames]
    big[0].save(path, save_all=True, append_images=big[1:], duration=GIF_FRAME_MS, loop=0)
    return path


def save_summary(run: WearableRun, path: Path, names: tuple[str, ...]) -> Path:
    """Signals and predicted against true level, as a PNG."""
    from matplotlib.figure import Figure

    t = np.array([r.t_s for r in run.reports])
    pred = np.array([np.nan if r.level is None else r.level for r in run.reports], dtype=float)
    body = run.body
    fig = Figure(figsize=(10, 9 if body else 7), constrained_layout=True)
    ax = fig.subplots(4 if body else 3, 1, sharex=True)
    protocol = run.truth.protocol
    fig.suptitle(
        f"Wearable on a SIMULATED subject ({protocol.name}, {run.truth.side} {protocol.muscle})"
    )
    for p, t0 in zip(run.truth.phases, run.truth.phase_start_s):
        colour = PHASE_COLOURS.get(p.kind, "#f6f6f6")
        for a in ax:
            a.axvspan(t0, t0 + p.duration_s, color=colour, lw=0)
    ax[0].plot(t, [r.d_hbo2_um for r in run.reports], color="tab:red", label="ΔHbO2")
    ax[0].plot(t, [r.d_hhb_um for r in run.reports], color="tab:blue", label="ΔHHb")
    ax[0].set_ylabel("µM (device)")
    ax[0].legend(loc="upper right", fontsize=8)
    ax[1].plot(t, [r.smo2_pct for r in run.reports], color="tab:purple")
    ax[1].set_ylabel("SmO2 estimate (%)")
    ax[2].step(t, run.true_level, where="post", color="k", label="true (from Borg)")
    ax[2].step(t, pred, where="post", color="tab:orange", label="predicted (smoothed)")
    for b in run.buzzer_on_s:
        ax[2].axvline(b, color="tab:green", ls=":", lw=1)
    ax[2].set_yticks(range(len(names)), names)
    ax[2].legend(loc="upper left", fontsize=8)
    if body is not None:
        from host.video.task_failure import TARGET_FLEXION_DEG, TOLERANCE_DEG

        ax[3].plot(body.time_s, body.flexion_deg, color="tab:brown", lw=0.6)
        ax[3].axhspan(
            TARGET_FLEXION_DEG - TOLERANCE_DEG, TARGET_FLEXION_DEG + TOLERANCE_DEG,
            xmin=0, xmax=1, color="tab:brown", alpha=0.12, lw=0,
        )  # fmt: skip
        if run.truth.task_failure_s is not None:
            failed = run.truth.task_failure_s
            ax[3].axvline(failed, color="k", ls="--", label="failure (physiology)")
        if body.failure is not None:
            ax[3].axvline(body.failure.t_s, color="tab:red", label="failure (from the video)")
        ax[3].set_ylabel("elbow flexion (°)")
        ax[3].set_ylim(0, 120)
        ax[3].legend(loc="upper right", fontsize=8)
    ax[-1].set_xlabel(
        f"time (s); dotted green: buzzer; no level drawn: check sensor\n{PHASE_CAPTION}",
        fontsize=8,
    )
    fig.savefig(path, dpi=110)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hwsim.wearable",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_session_options(parser)
    parser.add_argument(
        "--models-dir",
        type=existing_dir,
        default=BUNDLED_MODELS,
        help="folder of model.json and fusion.onnx, the model to run (default: %(default)s)",
    )
    parser.add_argument(
        "--out",
        type=output_dir,
        default=Path("out"),
        help="folder for the session record, oled.gif and summary.png, made if missing "
        "(default: %(default)s)",
    )
    add_fault_rate(parser)
    add_live_options(parser)
    parser.add_argument(
        "--speed",
        type=positive_float,
        default=None,
        help="pace the simulation at this many times real time (default: as fast as it "
        "runs; 1 with --live or --mqtt, so the page shows it as a wearer would see it)",
    )
    args = parser.parse_args(argv)
    speed = args.speed or (1.0 if args.live or args.mqtt else None)
    try:
        with live_sinks(args, parser, subject_code(args.subject), "simulated board") as sink:
            run = run_wearable(
                protocol=args.protocol,
                side=args.side,
                subject=args.subject,
                seed=args.seed,
                models_dir=args.models_dir,
                out=args.out,
                fault_rate=args.fault_rate,
                sink=sink,
                speed=speed,
            )
            gif = save_gif(run.oled_frames, args.out / "oled.gif")
            png = save_summary(run, args.out / "summary.png", FATIGUE_LEVELS)
            _print_summary(run, gif, png)
            if args.live and sys.stdin.isatty():  # a person is watching: keep the page up
                print("session over; the live page stays up until Ctrl-C")
                _wait_for_ctrl_c()
    except (DeviceError, OSError, ValueError) as exc:  # OSError: --out unwritable, port taken
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # the session record keeps what was recorded
        print("interrupted (Ctrl-C); the session record keeps what was recorded", file=sys.stderr)
        return 130
    return 0


def _print_summary(run: WearableRun, gif: Path, png: Path) -> None:
    shown = [(p, q) for p, q in zip(run.reports, run.true_level) if p.level is not None]
    exact = np.mean([p.level == q for p, q in shown]) if shown else float("nan")
    checks = sum(r.state is State.CHECK_SENSOR for r in run.reports)
    check = f" ({checks} s 'check sensor': motion or light flags)" if checks else ""
    print(
        f"SIMULATED subject: {len(shown)} s with a level shown{check}, {exact:.0%} equal to "
        f"the true level; {format_alerts(run.alerts)}; record {run.record_path}, {gif}, {png}"
    )
    if run.body is not None:
        print(describe_body(run.body, run.truth))
    print(f"{run.truth.duration_s:.0f} s of wear simulated in {run.wall_s:.1f} s")


def _wait_for_ctrl_c() -> None:
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
