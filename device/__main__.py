"""``python -m device``: the wearable on the Luckfox Pico Mini.

    python3 -m device [--config /etc/nirs-wearable.toml] [--seconds N] [--sim-socket PATH]

Opens the real I²C bus (i2c-dev, :mod:`device.i2c_dev`), the GPIO lines (the GPIO
character device, ABI v1, :mod:`device.gpio_line`), the OLED if one answers
(else headless), the model (RKNN on the NPU, falling back to ONNX Runtime where there is no
NPU), a session record and, if enabled, the serial link; then runs
:class:`device.app.Wearable` until stopped. Exit status: 0 on a clean stop, 2 on a
configuration or model error, 3 when the self-test or the measurement chain fails or the
hardware fails for good (the init script restarts the app after a pause).

``--sim-socket PATH`` (the emulated-board test and the bench, never the real board) takes
the I²C bus, the GPIO lines and the clock from a simulated board that ``hwsim.remote``
serves on that Unix socket (:mod:`device.simboard`) instead of i2c-dev, the GPIO character
device and real time; everything else is as on the board. Exit status 2 also when that simulator
cannot be reached or goes away.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from pathlib import Path

from device.argtypes import positive_float
from device.config import WearableConfig, load
from device.errors import ConfigError, DeviceError


def _sim_hardware(config: WearableConfig, stack: contextlib.ExitStack, socket_path: Path):
    """Bus, GPIO factory, clock and bus name from the simulator at ``socket_path``."""
    from device.simboard import connect

    board = stack.enter_context(connect(socket_path))
    names = {line: f"led{wl}" for wl, line in config.led_lines.items()}
    names.update({config.gpio.adc_ready: "alert_rdy", config.gpio.buzzer: "buzzer"})

    def gpio(chip: str, line: int, direction: str):
        return board.line(names[line], direction)

    return board.bus, gpio, board.clock, board.bus_name


def _open_hardware(
    config: WearableConfig, stack: contextlib.ExitStack, sim_socket: Path | None = None
):
    from device.ads1114 import ADS1114
    from device.app import Hardware
    from device.buzzer import Buzzer
    from device.i2c import RetryingBus
    from device.leds import LedBank
    from device.oled import Display, OledNotFoundError, open_oled

    if sim_socket is None:
        from device.clock import SystemClock
        from device.gpio_line import open_line as GPIO  # noqa: N812 (periphery's name)
        from device.i2c_dev import I2CDev

        clock = SystemClock()
        raw_bus = stack.enter_context(I2CDev(config.i2c.bus))
        bus_name = f"/dev/i2c-{config.i2c.bus}"
    else:
        raw_bus, GPIO, clock, bus_name = _sim_hardware(config, stack, sim_socket)  # noqa: N806
    bus = RetryingBus(raw_bus, retries=config.i2c.retries, bus_name=bus_name)
    chip = config.gpio.chip
    leds = LedBank({wl: GPIO(chip, line, "low") for wl, line in config.led_lines.items()})
    stack.callback(leds.close)
    ready = GPIO(chip, config.gpio.adc_ready, "in")
    stack.callback(ready.close)
    buzzer = Buzzer(GPIO(chip, config.gpio.buzzer, "low"), clock, muted=config.alerts.muted)
    try:
        display = Display(
            open_oled(bus, config.i2c.oled_address, bus_hz=config.i2c.bus_hz), clock=clock
        )
    except OledNotFoundError as exc:
        print(f"note: {exc}; running headless", file=sys.stderr)
        display = None
    adc = ADS1114(bus, config.i2c.adc_address, clock=clock, ready_line=ready)
    return Hardware(clock=clock, adc=adc, leds=leds, buzzer=buzzer, display=display)


def _new_recorder(config: WearableConfig, clock=None):
    """A session file under a name no earlier session has; its header says the provenance:
    "simulated" on a simulated board (``clock`` given: ``--sim-socket``), else "human"."""
    from device.recorder import SessionRecorder, new_session_path

    folder = Path(config.recording.dir)
    folder.mkdir(parents=True, exist_ok=True)
    return SessionRecorder(
        new_session_path(folder),
        info={"provenance": "human" if clock is None else "simulated"},
        fsync_interval_s=config.recording.fsync_interval_s,
        clock=clock,
    )


def console_line(report) -> str:
    """The line printed every second for a ``device.app.SecondReport``: while calibrating,
    the OLED's countdown instead of a SmO2 not yet known; the buzzer alert it started."""
    level = report.level_name or report.state.value
    if report.calibration:
        return f"t={report.t_s:6.0f} s  {level:12s}  {', '.join(report.calibration)}"
    smo2 = "   --" if report.smo2_pct != report.smo2_pct else f"{report.smo2_pct:5.1f}"
    alert = f"  buzzer: {report.alert!r}" if report.alert else ""
    return f"t={report.t_s:6.0f} s  {level:12s}  SmO2~{smo2} %{alert}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m device",
        description="The wearable on the Luckfox Pico Mini: self-test, calibration, then a "
        "fatigue level every second on the OLED and the buzzer, recorded to a session file. "
        "Exit status 0 on a clean stop, 2 on a configuration or model error, 3 when the "
        "hardware fails for good.",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="the wearable's TOML file, e.g. /etc/nirs-wearable.toml (default: the built-in "
        "settings of device/config.py)",
    )
    parser.add_argument(
        "--seconds",
        type=positive_float,
        default=None,
        help="stop after this many seconds (default: run until stopped)",
    )
    parser.add_argument(
        "--sim-socket",
        type=Path,
        default=None,
        help="take the hardware from the simulator serving this Unix socket (hwsim.remote); "
        "for the emulated-board test and the bench, not the real board (default: the "
        "board's own I2C bus and GPIO lines)",
    )
    args = parser.parse_args(argv)
    source = args.config or "the built-in config: pass --config FILE, or --sim-socket on a PC"
    try:
        config = load(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    from device.app import StopError, Wearable
    from device.inference import load_model

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    board_lost: tuple[type[BaseException], ...] = ()  # the simulator going away mid-run
    if args.sim_socket is not None:
        from device.simboard import SimBoardLostError

        board_lost = (SimBoardLostError,)
    with contextlib.ExitStack() as stack:
        try:
            model = load_model(
                config.model.dir, backend=config.model.backend, library=config.model.library
            )
            stack.callback(model.close)
        except (DeviceError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        try:
            hw = _open_hardware(config, stack, args.sim_socket)
        except (DeviceError, OSError) as exc:
            hint = "" if args.sim_socket else f"; check the wiring and [i2c], [gpio] in {source}"
            print(f"error: {exc}{hint}", file=sys.stderr)
            return 2
        print(model.describe(), flush=True)  # which model runs, before its first level
        link = None  # before the recorder: a refused link leaves no empty session file
        if config.serial.enabled:
            from device.link import LinkError, LinkWriter

            try:
                link = LinkWriter.open(
                    config.serial.port,
                    baudrate=config.serial.baud,
                    header_info={"wavelengths_nm": list(config.chain.wavelengths_nm)},
                )
            except LinkError as exc:  # the config asks for a link: without it, do not start
                print(
                    f"error: {exc}; set [serial] port in {args.config or 'the config'} to the "
                    "board's serial device, or enabled = false",
                    file=sys.stderr,
                )
                return 2
            stack.callback(link.close)
        recorder = None
        if config.recording.enabled:
            try:
                clock = hw.clock if args.sim_socket is not None else None
                recorder = stack.enter_context(_new_recorder(config, clock))
            except (DeviceError, OSError) as exc:  # asked to record: do not measure unrecorded
                print(
                    f"error: cannot record in {config.recording.dir}: {exc}; set [recording] "
                    f"dir in {args.config or 'the config'} to a writable folder, or "
                    "enabled = false",
                    file=sys.stderr,
                )
                return 2

        def line(report) -> None:
            for message in report.messages:  # what the wearer must know: no data, ADC, ...
                print(f"note: {message}", file=sys.stderr, flush=True)
            if report.t_s > 0:
                print(console_line(report), flush=True)

        app = Wearable(
            hw, config, model, recorder=recorder, link=link, on_second=line, own_process=True
        )
        stack.callback(app.close)
        try:
            app.run(args.seconds)
        except StopError as exc:  # a failed self-test or chain: on the screen and recorded
            print(f"error: {exc}", file=sys.stderr)
            return 3
        except board_lost as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except OSError as exc:  # a GPIO line or the bus failing for good, mid-session
            kept = "; what was measured is recorded" if recorder is not None else ""
            print(f"error: hardware failed mid-session: {exc}{kept}", file=sys.stderr)
            return 3
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
