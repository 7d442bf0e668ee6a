"""The wearable: self-test, calibration, then a fatigue level every second.

One loop, no threads: each ADS1114 conversion is handled as it comes; the OLED's
frames go out in the gaps between conversions; frames and samples are recorded
and streamed as they are made; once a second the last 10 s go through the model.

States: self-test → calibrating (20 s, "relax") → live, or "check sensor" while the
quality flags say the signal cannot be trusted (then no level is shown), "no data" while
no light frame comes (the ADC has stopped: the cause is shown, recorded and mended where
the multiplexer can), or error. The once-a-second work runs from the clock, so a stall
in the data is seen within a second.
"""

from __future__ import annotations

import enum
import gc
import math
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from device import screens
from device.acquisition import Multiplexer
from device.ads1114 import ADS1114, REG_CONFIG
from device.buzzer import Buzzer
from device.chain import FLAG_NAMES, ChainError, ChainSample, MeasurementChain
from device.clock import Clock
from device.codec import Event, Prediction, Record
from device.config import WearableConfig
from device.errors import ConfigError, DeviceError
from device.fatigue import AlertPolicy, LevelSmoother, argmax
from device.features import MODEL_RATE_HZ, WINDOW_SAMPLES, LiveWindow, channel_row, od_order
from device.inference import FatigueModel
from device.leds import LedBank
from device.oled import Display

#: Seconds of ΔHbO2/ΔHHb trend on the live screen (one point a second).
TREND_S = 30
#: Generation-2 threshold once start-up is over: no automatic full collection in the loop.
FULL_GC_NEVER = 2**31 - 1
#: Settling after switching an LED on for the self-test, s (OPT101 settles in ~28 µs
#: per its datasheet; this is generous).
SELF_TEST_SETTLE_S = 0.005
#: Seconds without a light frame after which the wearer is told "no data" (a frame comes
#: every 23 ms; the once-a-second work sees a stall within 1–2 s).
NO_DATA_S = 1.0
#: Chain samples taken per light frame. The 200 samples of the 20 s baseline are ready at
#: once; 8 a frame (each some 0.14 M ARM instructions with its record and window row,
#: benchmarks/emulated_board.py) spreads them over 25 frames, 0.6 s, before the first level.
SAMPLES_PER_FRAME = 8


class State(enum.Enum):
    SELF_TEST = "self-test"
    CALIBRATING = "calibrating"
    LIVE = "live"
    CHECK_SENSOR = "check sensor"
    NO_DATA = "no data"
    ERROR = "error"


@dataclass
class Hardware:
    """The device objects the app drives (real on the board, simulated on a PC)."""

    clock: Clock
    adc: ADS1114
    leds: LedBank
    buzzer: Buzzer
    display: Display | None = None


@dataclass
class SecondReport:
    """What the wearable knew at one second: the basis of the console line."""

    t_s: float
    state: State
    smo2_pct: float = math.nan
    d_hbo2_um: float = math.nan
    d_hhb_um: float = math.nan
    level: int | None = None
    level_name: str = ""
    probabilities: tuple[float, ...] = ()
    flags: int = 0
    messages: list[str] = field(default_factory=list)
    #: While calibrating: what the OLED says, e.g. ("calibrating baseline", "15 s left").
    calibration: tuple[str, ...] = ()
    #: The level whose buzzer pattern this second started ("high"), else "".
    alert: str = ""


class StopError(DeviceError):
    """The wearable cannot go on: shown on the screen and recorded before it is raised."""


class SelfTestError(StopError):
    """The sensor cannot work: the message says what failed."""


class Wearable:
    """The wearable's main loop.

    Args:
        hw: Drivers (ADC, LEDs, buzzer, optional display) and the clock.
        config: The validated configuration.
        model: The fatigue model (``None``: measure and record, no levels).
        recorder: Optional session recorder (``write(record)``, ``stopped``).
        link: Optional serial link (``send(record)``).
        on_second: Called with a :class:`SecondReport` every second.
        own_process: The app is the process (``python -m device``): once start-up is over,
            :meth:`run` collects the garbage, freezes what is left (``gc.freeze``: never
            scanned again) and stops automatic full collections, which would otherwise scan
            the whole heap between two conversions (7.8 M ARM instructions on the emulated
            board, 8.9 M with numpy, issue 13). Young collections go on; the loop makes no
            cyclic garbage that outlives them (a full collection after a simulated
            10-minute session finds nothing to free).
    """

    def __init__(
        self,
        hw: Hardware,
        config: WearableConfig,
        model: FatigueModel | None,
        *,
        recorder=None,
        link=None,
        on_second: Callable[[SecondReport], None] | None = None,
        own_process: bool = False,
    ) -> None:
        self.hw = hw
        self.config = config
        if model is not None and config.chain.output_rate_hz != MODEL_RATE_HZ:
            raise ConfigError(
                f"chain.output_rate_hz = {config.chain.output_rate_hz:g} Hz: the fatigue model "
                f"takes {MODEL_RATE_HZ:g} Hz samples (windows of {WINDOW_SAMPLES} samples, the "
                f"context channels' time constant): set {MODEL_RATE_HZ:g}, or run without a model"
            )
        self.model = model
        self.recorder = recorder
        self.link = link
        self.on_second = on_second
        self.own_process = own_process
        wavelengths = tuple(int(w) for w in config.chain.wavelengths_nm)
        self.mux = Multiplexer(
            hw.adc, hw.leds, clock=hw.clock, wavelengths_nm=wavelengths, idle=self._idle
        )
        self.chain = MeasurementChain(config.chain, max_samples_per_push=SAMPLES_PER_FRAME)
        self.window = LiveWindow()
        #: Each of the model's ΔOD inputs (d_od_750, ...) takes its own wavelength's ΔOD,
        #: whatever order [chain] wavelengths_nm lights the LEDs in (issue 14, point 2).
        self._od_order = od_order(config.chain.wavelengths_nm)
        self.smoother = LevelSmoother(config.alerts.smoothing_s)
        self.alerts = AlertPolicy(config.alerts.rearm_drop, config.alerts.hold_s)
        self.state = State.SELF_TEST
        self.level: int | None = None
        self._latest: ChainSample | None = None
        self._recent_flags = 0
        self._trend_hbo2: deque[float] = deque(maxlen=TREND_S)
        self._trend_hhb: deque[float] = deque(maxlen=TREND_S)
        self._t0 = math.nan
        self._last_frame_s = math.nan
        self._no_data_since_s = math.nan
        self._restarts_seen = 0
        self._calibrated_told = False
        self._recording_notice_shown = False
        #: The once-a-second work still to do, one piece per pass of the loop without a
        #: frame (see :meth:`run`); None when there is none.
        self._work: Iterator[None] | None = None

    # -- plumbing ----------------------------------------------------------------------------

    def _idle(self, budget_s: float) -> None:
        if self.hw.display is not None:
            self.hw.display.pump(budget_s)

    def _emit(self, record: Record) -> None:
        if self.recorder is not None:
            self.recorder.write(record)
        if self.link is not None:
            self.link.send(record)

    def _event(self, name: str, **data: object) -> None:
        self._emit(Record.of(Event(self.hw.clock.monotonic(), name, data)))

    def _draw(self, painter: Callable, **kwargs: object) -> None:
        if self.hw.display is not None:
            with self.hw.display.frame() as draw:
                painter(draw, **kwargs)

    # -- self-test ----------------------------------------------------------------------------

    def self_test(self) -> list[str]:
        """Check the ADC answers and each LED gives light above dark.

        Returns:
            Notes that do not stop the wearable (e.g. no OLED: headless).

        Raises:
            SelfTestError: The ADC does not answer or an LED gives no light.
        """
        adc, leds = self.hw.adc, self.hw.leds
        try:
            adc.read_register(REG_CONFIG)
            leds.select(None)
            self.hw.clock.sleep(SELF_TEST_SETTLE_S)
            dark = adc.single_shot_volts()
            dead = []
            for wl in leds.lines:
                leds.select(wl)
                self.hw.clock.sleep(SELF_TEST_SETTLE_S)
                if adc.single_shot_volts() - dark < self.config.chain.light_min_v:
                    dead.append(f"{wl} nm")
            leds.select(None)
        except OSError as exc:
            raise SelfTestError(f"self-test: ADC not answering: {exc}") from exc
        if dead:
            raise SelfTestError(
                f"self-test: no light above dark from the {', '.join(dead)} LED(s): "
                "check the LEDs, and that the sensor sits on the skin"
            )
        notes = [] if self.hw.display is not None else ["no OLED found: running headless"]
        self._event("self_test", dark_v=dark, notes=notes)
        return notes

    # -- the loop --------------------------------------------------------------------------------

    def run(self, duration_s: float | None = None) -> None:
        """Self-test, then measure until ``duration_s`` of clock time (None: forever)."""
        try:
            for note in self.self_test():
                self._report_message(note)
        except SelfTestError as exc:
            self._stop(exc)
        if self.hw.display is not None:  # its first drawing of each word, not in the loop
            screens.prepare(self.model.classes if self.model is not None else ())
        if self.own_process:
            gc.collect()
            gc.freeze()
            gc.set_threshold(*gc.get_threshold()[:2], FULL_GC_NEVER)
        mux = self.mux
        mux.start()
        self._t0 = self._last_frame_s = mux.now_s
        self.state = State.CALIBRATING
        self._event("calibration_start", baseline_s=self.config.chain.baseline_s)
        next_second = self._t0 + 1.0
        end = math.inf if duration_s is None else self._t0 + duration_s
        try:
            while mux.now_s < end:
                frame = mux.step()
                self.hw.buzzer.update()
                if frame is None:
                    # The next piece of the second's work, if any is left.
                    if self._work is not None and next(self._work, StopIteration) is not None:
                        self._work = None  # it had no piece left
                else:
                    self._last_frame_s = frame.t_s
                    self._emit(Record.of(frame))
                    for sample in self.chain.push(frame):
                        self._on_sample(sample)
                if mux.now_s >= next_second:
                    self._finish_work()
                    # Its first piece in the next pass: this one may have done a frame's
                    # work. Seconds missed in a stall are skipped, not made up in a burst.
                    self._work = self._second(mux.now_s)
                    next_second += math.floor(mux.now_s - next_second) + 1.0
        except ChainError as exc:
            self._stop(StopError(f"measurement chain: {exc}"))
        finally:
            self._finish_work()
            for sample in self.chain.take_ready():  # measured before the stop: recorded
                self._on_sample(sample)

    def _finish_work(self) -> None:
        """Do what is left of the last second's work (before the next, and at the end)."""
        if self._work is not None:
            for _ in self._work:
                pass
            self._work = None

    def _on_sample(self, sample: ChainSample) -> None:
        self._emit(Record.of(sample))
        self._latest = sample
        self._recent_flags |= sample.flags
        row = channel_row(
            sample.d_od,
            sample.d_hbo2_um,
            sample.d_hhb_um,
            hbo2_rest_um=self.config.chain.hbo2_rest_um,
            hhb_rest_um=self.config.chain.hhb_rest_um,
            order=self._od_order,
        )
        self.window.push(row, sample.flags)

    def _second(self, t_s: float) -> Iterator[None]:
        """The once-a-second work, in pieces: the loop runs one piece per pass between two
        ADC conversions, so that none of it holds up a conversion for long (each piece is
        under 3 M ARM instructions on the emulated board, about 5 ms on the board's
        Cortex-A7: benchmarks/emulated_board.py). A generator: it yields between pieces."""
        report = SecondReport(t_s - self._t0, self.state)
        # The flags of this second's samples; those of samples that come in while the
        # pieces run count for the next second.
        flags, self._recent_flags = self._recent_flags, 0
        if self.recorder is not None and self.recorder.stopped and not self._recording_notice_shown:
            self._recording_notice_shown = True
            report.messages.append(f"recording stopped: {self.recorder.stop_reason}")
        for notice in self.mux.take_notices():
            report.messages.append(f"ADC: {notice}")
            self._event("adc", message=notice)
        for part, name in ((self.hw.display, "oled"), (self.link, "serial_link")):
            for notice in part.take_notices() if part is not None else ():
                report.messages.append(notice)  # gone, or back (device.outage)
                self._event(name, message=notice)
        if self.chain.calibration_restarts != self._restarts_seen:
            self._restarts_seen = self.chain.calibration_restarts
            report.messages.append(f"calibration restarted: {self.chain.restart_reason}")
            self._event("calibration_restart", reason=self.chain.restart_reason)
        latest = self._latest
        # No frame for a while, and the multiplexer is waiting for the ADC (after a stall
        # of the loop itself, the conversions are there to be read).
        if t_s - self._last_frame_s > NO_DATA_S and self.mux.waiting:
            yield from self._no_data(report)
        elif (
            self.chain.calibrating
            or latest is None
            or (self.chain.backlog and self.state == State.CALIBRATING)
        ):
            # Calibrating until the baseline is known AND its samples have all been handed
            # over (a few per frame): a level or SmO2 shown before would be of the past.
            if self.state == State.NO_DATA:
                self._data_back(t_s, report)
            self.state = State.CALIBRATING
            start_s = self.chain.calibration_start_s
            elapsed = t_s - (self._t0 if start_s is None else start_s)
            base = self.config.chain.baseline_s
            note = self.chain.restart_hint or None
            report.calibration = screens.calibration_text(base - elapsed, note)
            yield
            self._draw(
                screens.calibrating, progress=elapsed / base, seconds_left=base - elapsed, note=note
            )
        else:
            if self.state == State.NO_DATA:
                self._data_back(t_s, report)
            if not self._calibrated_told:  # once, whatever the state before (no data...)
                self._calibrated_told = True
                self._event("calibrated", baseline_v=list(map(float, self.chain.baseline_v)))
            report.smo2_pct = latest.smo2_pct
            report.d_hbo2_um, report.d_hhb_um = latest.d_hbo2_um, latest.d_hhb_um
            report.flags = flags
            self._trend_hbo2.append(latest.d_hbo2_um)
            self._trend_hhb.append(latest.d_hhb_um)
            if flags or not self.window.clean:
                self._check_sensor()
                yield
                self._draw_check_sensor(flags)
            elif self.model is not None:
                yield from self._predict(t_s, report)
        report.state = self.state
        yield
        if self.on_second is not None:
            self.on_second(report)

    def _no_data(self, report: SecondReport) -> Iterator[None]:
        """No light frame for over :data:`NO_DATA_S`: say so, with the likely cause."""
        cause = self.mux.fault or "no conversions from the ADC"
        if self.state != State.NO_DATA:
            self.state = State.NO_DATA
            self._no_data_since_s = self._last_frame_s
            self._forget_level()
            report.messages.append(f"no data: {cause}")
            self._event("no_data", cause=cause, detail=self.mux.fault_detail)
        yield
        self._draw(screens.no_data, cause=cause)

    def _data_back(self, t_s: float, report: SecondReport) -> None:
        gap_s = t_s - self._no_data_since_s
        self._event("data_back", gap_s=gap_s)
        report.messages.append(f"data back after {gap_s:.0f} s")

    def _check_sensor(self) -> None:
        self.state = State.CHECK_SENSOR
        self._forget_level()

    def _forget_level(self) -> None:
        """No level is shown: the smoothing and the alerts' holds start again."""
        self.smoother.reset()
        self.alerts.reset()
        self.level = None

    def _draw_check_sensor(self, flags: int) -> None:
        reasons = [name for bit, name in FLAG_NAMES.items() if flags & bit] or ["settling"]
        self._draw(screens.check_sensor, reasons=reasons)

    def _predict(self, t_s: float, report: SecondReport) -> Iterator[None]:
        sequence, statistics = yield from self.window.window_in_steps()
        try:
            probs = yield from self.model.predict_in_steps(sequence, statistics)
        except DeviceError as exc:  # e.g. rknn_run timing out once: no level this second
            self._check_sensor()
            report.messages.append(f"no level this second: {exc}")
            self._event("model_error", message=str(exc))
            yield
            self._draw(screens.check_sensor, reasons=["model error"])
            return
        yield
        raw = argmax(probs)
        self.level = self.smoother.push(probs)
        self.state = State.LIVE
        pattern = self.alerts.update(self.level)
        if pattern is not None and not self.config.alerts.muted:
            self.hw.buzzer.play(pattern)
            report.alert = self.model.classes[self.alerts.alert_level]
            self._event("alert", level=report.alert)
        self._emit(Record.of(Prediction(t_s, tuple(map(float, probs)), raw, self.level)))
        report.level = self.level
        report.level_name = self.model.classes[self.level]
        report.probabilities = tuple(float(p) for p in probs)
        recording = self.recorder is not None and not self.recorder.stopped
        yield
        self._draw(
            screens.live,
            level_name=report.level_name,
            level=self.level,
            smo2_pct=report.smo2_pct,
            hbo2_trend=list(self._trend_hbo2),
            hhb_trend=list(self._trend_hhb),
            recording=recording,
        )

    def _stop(self, exc: StopError) -> None:
        """Show and record why the wearable stops, then raise ``exc``."""
        self.state = State.ERROR
        self._draw(screens.error, message=str(exc))
        if self.hw.display is not None:
            self.hw.display.flush()
        self._event("error", message=str(exc))
        raise exc

    def _report_message(self, text: str) -> None:
        if self.on_second is not None:
            self.on_second(SecondReport(0.0, self.state, messages=[text]))

    def close(self) -> None:
        """LEDs off, ADC powered down, buzzer silent, display blank; safe twice."""
        self.mux.close()
        self.hw.buzzer.close()
        if self.hw.display is not None:
            self.hw.display.close()
        self.hw.leds.close()
