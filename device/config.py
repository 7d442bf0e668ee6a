"""The wearable's configuration: one TOML file, validated with clear errors.

Every key has a default for the Luckfox Pico Mini; a file only needs what differs.
Unknown sections or keys are errors (a typo must not silently fall back to a
default). What each key allows, and why, is stated once, in :data:`LIMITS`; values that
must agree with each other (the GPIO lines, one DPF per wavelength, the light thresholds)
are checked after it, so a value that passes :func:`load` cannot stop the app later.
Pin assignments marked UNCONFIRMED below follow the Luckfox Pico Mini
pinout as we read it but have not been checked on a board: verify them before
wiring (`gpioinfo` on the board lists the lines).
"""

from __future__ import annotations

import dataclasses
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
    #: Seconds (predictions) in a row a level must be shown before its alert sounds.
    hold_s: int = 3


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


#: The LEDs on the board, nm: one [gpio] line each (led_750, led_810, led_870). Ushio
#: SMT750-23, SMT810N-23 and SMT870N-23 (seed section 3.1). chain.wavelengths_nm must name
#: each of them once.
LED_WAVELENGTHS_NM: tuple[int, ...] = (750, 810, 870)


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
        return {wl: getattr(self.gpio, f"led_{wl}") for wl in LED_WAVELENGTHS_NM}


_CLASSES = {
    "i2c": I2CConfig,
    "gpio": GpioConfig,
    "chain": ChainConfig,
    "alerts": AlertConfig,
    "model": ModelConfig,
    "recording": RecordingConfig,
    "serial": SerialConfig,
}


class Allowed:
    """What one key may hold, and why: the one statement of each key's range.

    ``kind`` is "int", "number" (int or float, kept as float), "per_wavelength" (a number,
    or a list with one number per wavelength), "wavelengths" (the LEDs, see
    :data:`LED_WAVELENGTHS_NM`), "bool", "text" (a non-empty string) or "choice" (one of
    ``choices``). ``lo``/``hi`` bound numbers inclusively in ``unit``; ``why`` gives the
    reason or the source of the bounds and is printed with every error about the key.
    ``as_hex`` shows integers in hexadecimal (I2C addresses). A plain class, not a dataclass:
    it is built at every start on the board, where a dataclass costs its code generation.
    """

    __slots__ = ("as_hex", "choices", "hi", "kind", "lo", "unit", "why")

    def __init__(
        self,
        kind: str,
        lo: float | None = None,
        hi: float | None = None,
        unit: str = "",
        *,
        why: str = "",
        choices: tuple[Any, ...] = (),
        as_hex: bool = False,
    ) -> None:
        self.kind, self.lo, self.hi, self.unit = kind, lo, hi, unit
        self.why, self.choices, self.as_hex = why, choices, as_hex

    def describe(self) -> str:
        """What is allowed, in words, e.g. "a number from 5 to 120 s"."""
        unit = f" {self.unit}" if self.unit else ""
        if self.kind in ("int", "number", "per_wavelength"):
            show = (lambda v: f"{v:#04x}") if self.as_hex else (lambda v: f"{v:g}")
            noun = "an integer" if self.kind == "int" else "a number"
            text = f"{noun} from {show(self.lo)} to {show(self.hi)}{unit}"
            if self.kind == "per_wavelength":
                text += ", or a list of such numbers, one per chain.wavelengths_nm"
            return text
        if self.kind == "wavelengths":
            nm = ", ".join(map(str, LED_WAVELENGTHS_NM))
            return f"a list of the LED wavelengths {nm} nm, each once"
        if self.kind == "bool":
            return "true or false"
        if self.kind == "text":
            return "a non-empty string"
        *first, last = map(str, self.choices)
        return f"{', '.join(first)} or {last}"

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` (as TOML parsed it) is allowed, the list lengths aside."""
        if self.kind == "bool":
            return isinstance(value, bool)
        if self.kind == "text":
            return isinstance(value, str) and value.strip() != ""
        if self.kind == "choice":  # the same type too: 115200.0 is not a baud rate
            return any(type(value) is type(c) and value == c for c in self.choices)
        if self.kind == "wavelengths":
            return (
                isinstance(value, list)
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
                and sorted(value) == sorted(LED_WAVELENGTHS_NM)
            )
        if self.kind == "per_wavelength" and isinstance(value, list):
            return bool(value) and all(self._in_range(v) for v in value)
        if self.kind == "int" and not isinstance(value, int):
            return False
        return self._in_range(value)

    def _in_range(self, value: Any) -> bool:
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        return number and self.lo <= value <= self.hi  # False for NaN


_GPIO_LINE_KEYS = (*(f"led_{wl}" for wl in LED_WAVELENGTHS_NM), "adc_ready", "buzzer")
_ADC_FULL_SCALE = "the ADS1114's ±4.096 V full scale as the driver sets it, datasheet table 3"

#: Every key's allowed values, by "section.key". One entry per field of the sections above;
#: the error for a bad value prints ``why``.
LIMITS: dict[str, Allowed] = {
    "i2c.bus": Allowed("int", 0, 15, why="/dev/i2c-N"),
    "i2c.adc_address": Allowed(
        "int", 0x48, 0x4B, as_hex=True, why="ADS1114 ADDR pin to GND, VDD, SDA or SCL, table 4"
    ),
    "i2c.oled_address": Allowed(
        "int", 0x3C, 0x3D, as_hex=True, why="SSD1306 with SA0 low or high, datasheet 8.1.5"
    ),
    "i2c.retries": Allowed(
        "int",
        0,
        10,
        why="extra attempts after a failed transfer; more only turn a dead bus "
        "into a stalled loop instead of an error",
    ),
    "i2c.bus_hz": Allowed(
        "int",
        10_000,
        400_000,
        "Hz",
        why="from SMBus's lowest clock to I2C Fast-mode, the fastest the SSD1306 takes",
    ),
    "gpio.chip": Allowed("text", why="the GPIO character device, e.g. /dev/gpiochip1"),
    **{
        f"gpio.{key}": Allowed("int", 0, 31, why="a line offset within a 32-line GPIO bank")
        for key in _GPIO_LINE_KEYS
    },
    "chain.wavelengths_nm": Allowed(
        "wavelengths", why="one per [gpio] led_<nm> line; the LEDs are lit in this order"
    ),
    "chain.dpf": Allowed(
        "per_wavelength",
        2.0,
        8.0,
        why="measured DPFs are about 3.5-4.5 in adult limb muscle, "
        "Duncan et al., Phys. Med. Biol. 40:295, 1995, and 5-7 in the adult head, Scholkmann "
        "& Wolf, J. Biomed. Opt. 18:105004, 2013",
    ),
    "chain.distance_cm": Allowed(
        "number",
        1.0,
        6.0,
        "cm",
        why="LED to detector, 3.0 cm on this sensor, seed 3.1; light "
        "probes about half the separation deep, so below 1 cm it stays in skin and fat, and at "
        "twice the sensor's too little returns to the OPT101",
    ),
    "chain.led_fwhm_nm": Allowed(
        "per_wavelength",
        5.0,
        60.0,
        "nm",
        why="NIR LEDs emit 20-40 nm wide; up to 60 nm every "
        "LED's band, ±3 σ, stays inside the 650-1000 nm extinction table of device.extinction; "
        "leave the key out for the peak ε",
    ),
    "chain.output_rate_hz": Allowed(
        "number",
        1.0,
        20.0,
        "Hz",
        why="a frame of dark and 3 LEDs, 5 conversions each at 860 "
        "SPS, takes 23.3 ms: 20 Hz keeps 2 frames in every sample, and a level is shown every "
        "second; the bundled model was trained at 10 Hz",
    ),
    "chain.smoothing_samples": Allowed(
        "int",
        1,
        20,
        why="1 = off; a moving average of n samples lags by (n-1)/2 of them, and "
        "20, 2 s at 10 Hz, is a fifth of the model's 10 s window",
    ),
    "chain.baseline_s": Allowed(
        "number",
        5.0,
        120.0,
        "s",
        why="the resting mean must span whole breaths, 3-5 s each "
        "at rest, and the wearer must stay at rest through all of it; the default is 20 s",
    ),
    **{
        f"chain.{key}": Allowed(
            "number",
            1.0,
            500.0,
            "µM",
            why="an assumed resting level: limb muscle holds "
            "several tens to about a hundred µM, Hamaoka et al. 2007 and Grassi & Quaresima "
            "2016; 500 µM would be a fifth of whole blood's 2300 µM, 150 g/L over 64 500 g/mol",
        )
        for key in ("hbo2_rest_um", "hhb_rest_um")
    },
    "chain.saturation_v": Allowed(
        "number",
        0.5,
        4.096,
        "V",
        why=f"the OPT101 swings to 3.7 V at 5 V, within {_ADC_FULL_SCALE}",
    ),
    "chain.ambient_max_v": Allowed(
        "number", 0.001, 4.096, "V", why=f"a dark level within {_ADC_FULL_SCALE}"
    ),
    "chain.light_min_v": Allowed(
        "number",
        0.001,
        4.096,
        "V",
        why="8 codes of the ADS1114 at ±4.096 V, 125 µV each, "
        "datasheet table 3: any less lets the noise of an LED that does not light pass the "
        "self-test",
    ),
    "chain.residual_max_od": Allowed(
        "number",
        0.005,
        0.1,
        why="ln units; the simulated noise floor reaches 0.004, "
        "tests/test_chain.py, so below 0.005 every sample is 'motion', and at 0.1 a coupling "
        "change by a factor 2.3 already passes as haemoglobin: the residual is 0.119 per unit "
        "of uniform ΔOD, device.chain",
    ),
    "alerts.muted": Allowed("bool"),
    "alerts.smoothing_s": Allowed(
        "int",
        1,
        30,
        "s",
        why="one prediction a second; over 30 s an old level is held half a "
        "minute after it changed",
    ),
    "alerts.rearm_drop": Allowed("int", 1, 4, why="levels; the model's five allow a drop of 4"),
    "alerts.hold_s": Allowed(
        "int",
        1,
        15,
        "s",
        why="one prediction a second; 1 sounds for a level shown one second, model noise at a "
        "class boundary (device.fatigue); over 15 s the alert comes a Borg point late (the "
        "simulated hold rises one point in about 12 s, hwsim.physiology)",
    ),
    "model.dir": Allowed("text", why="the folder of model.json and the model files"),
    "model.backend": Allowed("choice", choices=("auto", "rknn", "onnx")),
    "model.library": Allowed("text", why="the RKNN runtime, a path or a bare name"),
    "recording.enabled": Allowed("bool"),
    "recording.dir": Allowed("text", why="the folder of the session records"),
    "recording.fsync_interval_s": Allowed(
        "number",
        0.0,
        60.0,
        "s",
        why="0 syncs at every flush, 10 a second, wearing the flash; "
        "a power cut loses up to this much of the record, device.recorder",
    ),
    "serial.enabled": Allowed("bool"),
    "serial.port": Allowed("text", why="the serial device, e.g. /dev/ttyGS0"),
    "serial.baud": Allowed(
        "choice", choices=(9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)
    ),
}


def _bad(source: str, key: str, value: Any) -> ConfigError:
    """The one-line error: file, section.key, what is allowed and why, the value given."""
    allowed = LIMITS[key]
    why = f" ({allowed.why})" if allowed.why else ""
    if isinstance(value, bool):
        shown = str(value).lower()  # as TOML writes it
    elif allowed.as_hex and isinstance(value, int):
        shown = f"{value:#04x}"
    else:
        shown = repr(value)
    return ConfigError(f"{source}: {key} must be {allowed.describe()}{why}, got {shown}")


def _value(source: str, key: str, value: Any) -> Any:
    """``value`` checked against :data:`LIMITS` and converted for the dataclass."""
    allowed = LIMITS[key]
    if not allowed.accepts(value):
        raise _bad(source, key, value)
    if isinstance(value, list):
        return tuple(float(v) for v in value)
    if allowed.kind in ("number", "per_wavelength"):
        return float(value)
    return value


def from_dict(data: dict[str, Any], *, source: str = "<config>") -> WearableConfig:
    """Build a validated config from parsed TOML.

    Raises:
        ConfigError: One line naming ``source``, the section.key, what it allows (with the
            reason, from :data:`LIMITS`) and the value given.
    """
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
        valid = {f.name for f in dataclasses.fields(cls)}
        bad = set(given) - valid
        if bad:
            raise ConfigError(
                f"{source}: unknown key(s) {sorted(bad)} in [{name}]; valid: {sorted(valid)}"
            )
        values = {k: _value(source, f"{name}.{k}", v) for k, v in given.items()}
        try:  # the dataclasses' own checks, should they ever be stricter than LIMITS
            sections[name] = dataclasses.replace(cls(), **values)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{source}: [{name}]: {exc}") from exc
    config = WearableConfig(**sections)
    _check(config, source)
    return config


def _check(c: WearableConfig, source: str) -> None:
    """What no single key can check: values that must agree with each other."""
    lines = [getattr(c.gpio, key) for key in _GPIO_LINE_KEYS]
    if len(set(lines)) != len(lines):
        raise ConfigError(
            f"{source}: GPIO lines must all differ: [gpio] {', '.join(_GPIO_LINE_KEYS)}, "
            f"got {lines}"
        )
    n_wl = len(c.chain.wavelengths_nm)
    for key in ("dpf", "led_fwhm_nm"):
        value = getattr(c.chain, key)
        if isinstance(value, tuple) and len(value) != n_wl:
            raise _bad(source, f"chain.{key}", list(value))
    ch = c.chain
    if not ch.ambient_max_v + ch.light_min_v < ch.saturation_v:
        raise ConfigError(
            f"{source}: chain.ambient_max_v + chain.light_min_v must stay below "
            f"chain.saturation_v, or light at the highest dark level allowed is either too "
            f"little or saturated; got {ch.ambient_max_v:g} + {ch.light_min_v:g} >= "
            f"{ch.saturation_v:g} V"
        )


def load(path: Path | str | None) -> WearableConfig:
    """Read a TOML file (None: all defaults).

    Raises:
        ConfigError: The file is missing, unreadable, not TOML, or holds a value outside
            :data:`LIMITS` (one line naming the file, the key, the value and what is allowed).
    """
    if path is None:
        return WearableConfig()
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a UTF-8 text file ({exc.reason})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    return from_dict(data, source=str(path))
