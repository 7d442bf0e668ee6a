"""Config values that would pass the load and stop the app later are refused at load (issue 14,
point 1): one ConfigError line naming the file, the section.key, what is allowed and the value.
"""

from __future__ import annotations

import dataclasses
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from device import config as cfg
from device.acquisition import DEFAULT_CONVERSIONS_PER_PHASE
from device.chain import ChainConfig
from device.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent

# What the issue found accepted, each with the message's "must be ..." part written out here
# (not taken from LIMITS, so a change to a range shows up as a failing test).
ISSUE_CASES = [
    (
        "[chain]\nhbo2_rest_um = -5.0\n",
        "chain.hbo2_rest_um must be a number from 1 to 500 µM (",
        "got -5.0",
    ),
    ("[chain]\ndpf = 0.0\n", "chain.dpf must be a number from 2 to 8, or a list", "got 0.0"),
    ("[chain]\ndpf = [4.0, 4.0]\n", "chain.dpf must be a number from 2 to 8", "got [4.0, 4.0]"),
    (
        "[chain]\nwavelengths_nm = [750.0, 750.0, 870.0]\n",
        "chain.wavelengths_nm must be a list of the LED wavelengths 750, 810, 870 nm, each once",
        "got [750.0, 750.0, 870.0]",
    ),
    (
        "[chain]\nwavelengths_nm = [760.0, 810.0, 870.0]\n",
        "chain.wavelengths_nm must be a list of the LED wavelengths 750, 810, 870 nm, each once",
        "got [760.0, 810.0, 870.0]",
    ),
    (
        "[chain]\nwavelengths_nm = 750\n",
        "chain.wavelengths_nm must be a list of the LED wavelengths",
        "got 750",
    ),
    (
        '[chain]\nled_fwhm_nm = "wide"\n',
        "chain.led_fwhm_nm must be a number from 5 to 60 nm",
        "got 'wide'",
    ),
    (
        "[recording]\nfsync_interval_s = -1.0\n",
        "recording.fsync_interval_s must be a number from 0 to 60 s",
        "got -1.0",
    ),
    (
        "[chain]\nbaseline_s = 1e12\n",
        "chain.baseline_s must be a number from 5 to 120 s",
        "got 1000000000000.0",
    ),
    (
        "[chain]\noutput_rate_hz = 0.001\n",
        "chain.output_rate_hz must be a number from 1 to 20 Hz",
        "got 0.001",
    ),
    (
        "[chain]\nlight_min_v = -1.0\n",
        "chain.light_min_v must be a number from 0.001 to 4.096 V",
        "got -1.0",
    ),
]


def write(tmp_path: Path, text: str, name: str = "bad.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("text", "allowed", "got"), ISSUE_CASES)
def test_the_issues_values_are_refused_at_load_in_one_line(tmp_path, text, allowed, got):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        cfg.load(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert allowed in message and got in message
    assert "\n" not in message


def _bad_values(allowed: cfg.Allowed) -> list:
    """Values of each wrong kind for a key: wrong types, NaN/inf, just outside the range."""
    wrong_types = ["text", True, [1.0], {"a": 1}] if allowed.kind != "text" else [5, True, ""]
    if allowed.kind in ("int", "number", "per_wavelength"):
        step = 1 if allowed.kind == "int" else (allowed.hi - allowed.lo) * 1e-3
        out = [allowed.lo - step, allowed.hi + step, math.nan, math.inf, -math.inf, "1"]
        if allowed.kind == "int":
            out.append(float(allowed.lo))  # 3.0 is not an integer key's 3
        if allowed.kind == "per_wavelength":
            out += [[allowed.lo - step] * 3, [math.nan] * 3, []]
        return out + wrong_types[1:]
    if allowed.kind == "bool":
        return [1, 0, "true", "yes"]
    if allowed.kind == "choice":
        numeric = isinstance(allowed.choices[0], int)  # 115200.0 is not the baud rate 115200
        return ["other", -1, True, *([float(allowed.choices[0])] if numeric else [])]
    if allowed.kind == "wavelengths":
        return [750, [750, 810], [750, 810, 870, 870], [750, 810, 871], ["a", 810, 870], []]
    return wrong_types


@pytest.mark.parametrize("key", sorted(cfg.LIMITS))
def test_every_key_refuses_every_wrong_kind_naming_file_key_and_value(key):
    section, name = key.split(".")
    allowed = cfg.LIMITS[key]
    for value in _bad_values(allowed):
        with pytest.raises(ConfigError) as info:
            cfg.from_dict({section: {name: value}}, source="w.toml")
        message = str(info.value)
        assert message.startswith(f"w.toml: {key} must be {allowed.describe()}"), message
        if isinstance(value, bool):
            shown = str(value).lower()
        elif allowed.as_hex and isinstance(value, int):
            shown = f"{value:#04x}"
        else:
            shown = repr(value)
        assert message.endswith(f", got {shown}"), message
        assert "\n" not in message


def test_limits_cover_every_key_and_the_defaults_pass():
    keys = {
        f"{section}.{f.name}"
        for section, cls in cfg._CLASSES.items()
        for f in dataclasses.fields(cls)
    }
    assert keys == set(cfg.LIMITS)
    defaults = cfg.WearableConfig()
    for key, allowed in cfg.LIMITS.items():
        section, name = key.split(".")
        value = getattr(getattr(defaults, section), name)
        if value is None:  # led_fwhm_nm: absent unless given
            continue
        as_toml = list(value) if isinstance(value, tuple) else value
        assert allowed.accepts(as_toml), key
    assert cfg.from_dict({}) == defaults


def test_range_ends_are_allowed():
    for key, allowed in cfg.LIMITS.items():
        if allowed.kind in ("int", "number", "per_wavelength"):
            assert allowed.accepts(allowed.lo) and allowed.accepts(allowed.hi), key


def test_the_shipped_board_config_loads():
    assert cfg.load(REPO / "deploy" / "wearable.toml").chain == ChainConfig()


def test_any_order_of_the_led_wavelengths_is_a_valid_config():
    # Point 2 of the issue (matching the order to the model's inputs) is not decided here.
    c = cfg.from_dict({"chain": {"wavelengths_nm": [870, 810, 750], "dpf": [4, 4.2, 4.4]}})
    assert c.chain.wavelengths_nm == (870.0, 810.0, 750.0)
    assert c.chain.dpf == (4.0, 4.2, 4.4)


@pytest.mark.parametrize(
    ("sections", "message"),
    [
        (
            {"gpio": {"led_750": 5, "led_810": 5}},
            "w.toml: GPIO lines must all differ: [gpio] led_750, led_810, led_870, adc_ready, "
            "buzzer, got [5, 5, 21, 20, 19]",
        ),
        ({"chain": {"dpf": [4.0, 4.0]}}, "w.toml: chain.dpf must be a number from 2 to 8"),
        (
            {"chain": {"led_fwhm_nm": [30.0, 30.0, 30.0, 30.0]}},
            "w.toml: chain.led_fwhm_nm must be a number from 5 to 60 nm",
        ),
        (
            {"chain": {"ambient_max_v": 3.0, "light_min_v": 0.6}},
            "w.toml: chain.ambient_max_v + chain.light_min_v must stay below chain.saturation_v",
        ),
    ],
)
def test_values_that_must_agree_are_cross_checked(sections, message):
    with pytest.raises(ConfigError) as info:
        cfg.from_dict(sections, source="w.toml")
    assert str(info.value).startswith(message)


def test_what_the_ranges_claim_holds():
    # LED bands up to the FWHM limit stay inside the extinction table, for every LED.
    fwhm = cfg.LIMITS["chain.led_fwhm_nm"].hi
    for order in ((750.0, 810.0, 870.0), (870.0, 810.0, 750.0)):
        ChainConfig(wavelengths_nm=order, led_fwhm_nm=fwhm).solver()
    for dpf in (cfg.LIMITS["chain.dpf"].lo, cfg.LIMITS["chain.dpf"].hi):
        ChainConfig(dpf=dpf).solver()
    # The fastest output rate still averages at least 2 frames (dark + 3 LEDs) per sample.
    frame_s = (1 + len(cfg.LED_WAVELENGTHS_NM)) * DEFAULT_CONVERSIONS_PER_PHASE / 860
    assert math.floor(1 / (cfg.LIMITS["chain.output_rate_hz"].hi * frame_s)) >= 2


def test_a_file_that_is_not_text_or_not_there_is_one_line(tmp_path):
    binary = tmp_path / "w.toml"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ConfigError, match=r"w.toml: not a UTF-8 text file"):
        cfg.load(binary)
    with pytest.raises(ConfigError, match=r"cannot read config"):
        cfg.load(tmp_path)  # a folder


def run_device(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "device", *args],
        cwd=cwd,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_python_m_device_with_a_bad_config_exits_2_with_that_line(tmp_path):
    path = write(tmp_path, "[chain]\nhbo2_rest_um = -5.0\n")
    child = run_device("--config", str(path), "--seconds", "1", cwd=tmp_path)
    assert child.returncode == 2
    [line] = child.stderr.strip().splitlines()
    assert line.startswith(f"error: {path}: chain.hbo2_rest_um must be a number from 1 to 500")
    assert line.endswith("got -5.0")
