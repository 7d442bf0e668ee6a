"""The wearable's configuration: one TOML file, validated with clear errors.

Every key has a default for the Luckfox Pico Mini; a file only needs what differs.
Unknown sections or keys are errors (a typo must not silently fall back to a
default). Pin assignments marked UNCONFIRMED below follow the Luckfox Pico Mini
pinout as we read it but have not been checked on a board: verify them before
wiring (`gpioinfo` on the board lists the lines).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib  # Python >= 3.11, as pyproject.toml and deploy/preflight.sh require

from device.chain import ChainConfig
from device.errors import ConfigError


@dataclass(frozen=True)
class I2CConfig:
    bus: int = 3  # /dev/i2c-3. UNCONFIRMED: the Pico Mini's I2C3 on its header pins
    adc_address: int = 0x48  # ADS1114 ADDR pin to GND (datasheet table 4)
    oled_address: int = 0x3C  # SSD1306 modules' usual address (SA0 low)
    retries: int = 2
    bus_hz: int = 400_000  # Fast-mode, as the kernel's device tree sets it


@dataclass(frozen=True)
class GpioConfig:
    chip: str = "/dev/gpiochip1"  # UNCONFIRMED: bank 1 carries the header GPIOs used below
    led_750: int = 23  # UNCONFIRMED: GPIO1_C7
    led_810: int = 22  # UNCONFIRMED: GPIO1_C6
    led_870: int = 21  # UNCONFIRMED: GPIO1_C5
    adc_ready: int = 20  # UNCONFIRMED: GPIO1_C4, ADS1114 ALERT/RDY (open drain: pull-up)
    buzzer: int = 19  # UNCONFIRMED: GPIO1_C3


@dataclass(frozen=True)
class AlertConfig:
    muted: bool = False
    #: Seconds of predictions averaged before a level is shown.
    smoothing_s: int = 3
    #: A level alert re-arms only after the shown level has fallen this many levels below it.
    rearm_drop: int = 2


@dataclass(frozen=True)
class ModelConfig:
    dir: str = "models"
    backend: str = "auto"  # "rknn" on the board, "onnx" on a PC, "auto": whichever loads
    #: The RKNN mini runtime; a bare name is also looked for in the Luckfox SDK's
    #: /oem/usr/lib and /usr/lib (device.npu).
    library: str = "librknnmrt.so"


@dataclass(frozen=True)
class RecordingConfig:
    enabled: bool = True
    dir: str = "sessions"
    fsync_interval_s: float = 5.0


@dataclass(frozen=True)
class SerialConfig:
    enabled: bool = False
    port: str = "/dev/ttyGS0"  # the USB gadget serial port of the Luckfox image
    baud: int = 115_200


@dataclass(frozen=True)
class WearableConfig:
    i2c: I2CConfig = field(default_factory=I2CConfig)
    gpio: GpioConfig = field(default_factory=GpioConfig)
    chain: ChainConfig = field(default_factory=ChainConfig)
    alerts: AlertConfig = field(default_factory=AlertConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    recording: RecordingConfig = field(default_factory=RecordingConfig)
    serial: SerialConfig = field(default_factory=SerialConfig)

    @property
    def led_lines(self) -> dict[int, int]:
        """Wavelength (nm) → GPIO line offset."""
        g = self.gpio
        return {750: g.led_750, 810: g.led_810, 870: g.led_870}


_CLASSES = {
    "i2c": I2CConfig,
    "gpio": GpioConfig,
    "chain": ChainConfig,
    "alerts": AlertConfig,
    "model": ModelConfig,
    "recording": RecordingConfig,
    "serial": SerialConfig,
}


def _coerce(where: str, default: Any, value: Any) -> Any:
    """Check a value against its default's type; tuples come from TOML arrays."""
    if isinstance(value, list):  # e.g. one DPF per wavelength; the section checks the rest
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            raise ConfigError(f"{where} must be a list of numbers, got {value!r}")
        return tuple(value)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if isinstance(default, int) and not isinstance(default, bool):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        return value
    if isinstance(default, float):
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
        ):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        return float(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, got {value!r}")
        return value
    if isinstance(default, tuple) or default is None:
        if isinstance(value, list):
            return tuple(value)
        return value
    return value


def from_dict(data: dict[str, Any], *, source: str = "<config>") -> WearableConfig:
    """Build a validated config from parsed TOML; errors name the file and the key."""
    unknown = set(data) - set(_CLASSES)
    if unknown:
        raise ConfigError(
            f"{source}: unknown section(s) {sorted(unknown)}; valid: {sorted(_CLASSES)}"
        )
    sections = {}
    for name, cls in _CLASSES.items():
        given = data.get(name, {})
        if not isinstance(given, dict):
            raise ConfigError(f"{source}: [{name}] must be a table, got {given!r}")
        defaults = cls()
        valid = {f.name for f in dataclasses.fields(cls)}
        bad = set(given) - valid
        if bad:
            raise ConfigError(
                f"{source}: unknown key(s) {sorted(bad)} in [{name}]; valid: {sorted(valid)}"
            )
        values = {
            k: _coerce(f"{source}: {name}.{k}", getattr(defaults, k), v) for k, v in given.items()
        }
        try:
            sections[name] = dataclasses.replace(defaults, **values)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{source}: [{name}]: {exc}") from exc
    config = WearableConfig(**sections)
    _check(config, source)
    return config


def _check(c: WearableConfig, source: str) -> None:
    if not 0 <= c.i2c.bus <= 15:
        raise ConfigError(f"{source}: i2c.bus must be 0..15 (/dev/i2c-N), got {c.i2c.bus}")
    for key in ("adc_address", "oled_address"):
        addr = getattr(c.i2c, key)
        if not 0x03 <= addr <= 0x77:
            raise ConfigError(
                f"{source}: i2c.{key} must be a 7-bit address 0x03..0x77, got {addr:#x}"
            )
    if c.i2c.adc_address == c.i2c.oled_address:
        raise ConfigError(
            f"{source}: the ADC and the OLED cannot share address {c.i2c.adc_address:#x}"
        )
    lines = [c.gpio.led_750, c.gpio.led_810, c.gpio.led_870, c.gpio.adc_ready, c.gpio.buzzer]
    if len(set(lines)) != len(lines):
        raise ConfigError(f"{source}: GPIO lines must all differ, got {lines}")
    if any(not 0 <= line <= 31 for line in lines):
        raise ConfigError(f"{source}: GPIO line offsets must be 0..31 within a bank, got {lines}")
    if c.model.backend not in ("auto", "rknn", "onnx"):
        raise ConfigError(
            f"{source}: model.backend must be auto, rknn or onnx, got {c.model.backend!r}"
        )
    if not 1 <= c.alerts.smoothing_s <= 30:
        raise ConfigError(
            f"{source}: alerts.smoothing_s must be 1..30 s, got {c.alerts.smoothing_s}"
        )
    if not 1 <= c.alerts.rearm_drop <= 4:
        raise ConfigError(
            f"{source}: alerts.rearm_drop must be 1..4 levels, got {c.alerts.rearm_drop}"
        )
    if c.serial.baud not in (9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600):
        raise ConfigError(f"{source}: serial.baud {c.serial.baud} is not a standard rate")
    if len(c.chain.wavelengths_nm) != 3:
        raise ConfigError(
            f"{source}: chain.wavelengths_nm must list the 3 LEDs, got {c.chain.wavelengths_nm}"
        )


def load(path: Path | str | None) -> WearableConfig:
    """Read a TOML file (None: all defaults)."""
    if path is None:
        return WearableConfig()
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    return from_dict(data, source=str(path))
