"""Optics of the sensor: three NIR LEDs, the muscle, and the OPT101 photodiode.

The forward model is the modified Beer–Lambert law (seed 003 eq. 1–2) in the
form the seed's hardware implies::

    V = V_dark + V_ambient(t) + Σ_lit  g_λ(t) · exp(−μ_a(λ, t) · DPF · d)
    μ_a(λ, t) = ln(10) · (ε_HbO2(λ) · [HbO2](t) + ε_HHb(λ) · [HHb](t))

with ε the decadic molar extinction coefficients of the Prahl table (cm⁻¹/M),
concentrations in mol/L, d the 3 cm source–detector distance and g_λ the
detector voltage that LED λ would give through a non-absorbing tissue (it lumps
LED power, scattering loss G and the OPT101's responsivity). The output clips at
the OPT101's output swing. Any set of LEDs can be lit at once, so a driver that
lights two is visible in the data.

This module is the simulator's own implementation, deliberately independent of
``device.mbll``: the device's inverse must recover what this forward model put in.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources

from hwsim.gpio import SimGPIO

LN10 = math.log(10.0)
#: mol/L per µmol/L.
MOLAR_PER_MICROMOLAR = 1e-6

#: Seed 003 §3.1: LED and OPT101 30 mm apart.
SOURCE_DETECTOR_CM = 3.0
#: Differential pathlength factor for muscle (the design brief's default; adult forearm/thigh
#: muscle DPF is typically quoted around 4).
MUSCLE_DPF = 4.0
#: OPT101 output with no light, V (datasheet: "output is 7.5 mV dc with no light").
OPT101_DARK_V = 0.0075
#: OPT101 highest output, V: the datasheet's output swing (V_S − 1.3 V) at V_S = 5 V.
OPT101_MAX_V = 5.0 - 1.3

#: Resting muscle, µM. Typical of NIRS literature on resting vastus lateralis /
#: biceps (tHb ≈ 80–100 µM, SmO2 ≈ 65–70 %); later issues vary them per subject.
REST_HBO2_UM = 60.0
REST_HHB_UM = 30.0

#: g_λ, V: chosen so that resting tissue gives roughly 1.3–2.1 V at the detector,
#: mid-range for the ADS1114's ±4.096 V scale (an assumption, not a measurement).
DEFAULT_LED_GAIN_V = {750.0: 14.0, 810.0: 14.0, 870.0: 12.0}


def load_extinction_table() -> dict[float, tuple[float, float]]:
    """The Prahl table shipped with ``device``: wavelength nm → (ε_HbO2, ε_HHb), cm⁻¹/M, decadic."""
    table: dict[float, tuple[float, float]] = {}
    text = resources.files("device").joinpath("data/hemoglobin_extinction_prahl.csv").read_text()
    rows = (line for line in text.splitlines() if line and not line.startswith("#"))
    for row in csv.DictReader(rows):
        table[float(row["wavelength_nm"])] = (float(row["hbo2"]), float(row["hhb"]))
    return table


def extinction_at(table: Mapping[float, tuple[float, float]], wavelength_nm: float):
    """Linear interpolation of the table at ``wavelength_nm`` → (ε_HbO2, ε_HHb), cm⁻¹/M."""
    grid = sorted(table)
    if not grid[0] <= wavelength_nm <= grid[-1]:
        raise ValueError(
            f"wavelength {wavelength_nm} nm is outside the table ({grid[0]}–{grid[-1]})"
        )
    for lo, hi in zip(grid, grid[1:]):
        if lo <= wavelength_nm <= hi:
            w = (wavelength_nm - lo) / (hi - lo)
            return tuple((1 - w) * a + w * b for a, b in zip(table[lo], table[hi]))
    return table[grid[-1]]


def _constant(value: float) -> Callable[[float], float]:
    return lambda t_s: value


@dataclass
class Tissue:
    """The muscle under the sensor: concentrations as functions of time (seconds → µM)."""

    hbo2_um: Callable[[float], float] = field(default_factory=lambda: _constant(REST_HBO2_UM))
    hhb_um: Callable[[float], float] = field(default_factory=lambda: _constant(REST_HHB_UM))


class OpticalFrontEnd:
    """LEDs + tissue + OPT101: the voltage the ADC sees.

    Args:
        leds: Wavelength (nm) → the GPIO line gating that LED's MOSFET.
        tissue: Concentrations over time.
        distance_cm: Source–detector distance, cm.
        dpf: Differential pathlength factor (dimensionless).
        led_gain_v: Wavelength → g_λ, volts (see module docstring).
        led_drift: Optional relative LED intensity over time, ``f(t_s) -> factor``.
        ambient_v: Ambient light at the detector over time, ``f(t_s) -> V``.
    """

    def __init__(
        self,
        leds: Mapping[float, SimGPIO],
        tissue: Tissue | None = None,
        *,
        distance_cm: float = SOURCE_DETECTOR_CM,
        dpf: float = MUSCLE_DPF,
        led_gain_v: Mapping[float, float] | None = None,
        led_drift: Callable[[float], float] | None = None,
        ambient_v: Callable[[float], float] | None = None,
    ) -> None:
        table = load_extinction_table()
        self.leds = dict(leds)
        self.tissue = tissue if tissue is not None else Tissue()
        gains = dict(DEFAULT_LED_GAIN_V if led_gain_v is None else led_gain_v)
        missing = set(self.leds) - set(gains)
        if missing:
            raise ValueError(f"no led_gain_v for LED wavelength(s) {sorted(missing)} nm")
        self.led_gain_v = gains
        self.led_drift = led_drift
        self.ambient_v = ambient_v if ambient_v is not None else _constant(0.0)
        # Per LED: (line, gain, path factor for HbO2, path factor for HHb) in 1/µM.
        path = distance_cm * dpf * LN10 * MOLAR_PER_MICROMOLAR
        self._channels = []
        for wl, line in self.leds.items():
            e_hbo2, e_hhb = extinction_at(table, wl)
            self._channels.append((line, gains[wl], e_hbo2 * path, e_hhb * path))

    def set_led_gain_v(self, wavelength_nm: float, gain_v: float) -> None:
        """Change g_λ of one LED (e.g. to model how well a sensor couples to one person)."""
        if not gain_v > 0:
            raise ValueError(f"LED gain must be positive, got {gain_v!r} V")
        line = self.leds[wavelength_nm]
        self._channels = [
            (ln, gain_v if ln is line else g, k1, k2) for ln, g, k1, k2 in self._channels
        ]
        self.led_gain_v[wavelength_nm] = gain_v

    def light_v(self, wavelength_nm: float, t_s: float) -> float:
        """Detector voltage that LED ``wavelength_nm`` alone contributes at ``t_s``, V."""
        for line, gain, k_hbo2, k_hhb in self._channels:
            if line is self.leds[wavelength_nm]:
                return self._light(gain, k_hbo2, k_hhb, t_s)
        raise KeyError(wavelength_nm)

    def _light(self, gain: float, k_hbo2: float, k_hhb: float, t_s: float) -> float:
        tissue = self.tissue
        od = k_hbo2 * tissue.hbo2_um(t_s) + k_hhb * tissue.hhb_um(t_s)
        drift = self.led_drift(t_s) if self.led_drift is not None else 1.0
        return gain * drift * math.exp(-od)

    def mean_voltage(self, t0_s: float, t1_s: float) -> float:
        """Mean OPT101 output over [t0, t1], V: what a delta-sigma conversion integrates.

        LED states are taken from the GPIO histories, so a window spanning an LED
        switch gives a mixture; tissue and ambient light are evaluated at each
        lit interval's midpoint (they change slowly against a 1.16 ms window).
        """
        span = t1_s - t0_s
        if span <= 0:
            raise ValueError(f"empty window [{t0_s}, {t1_s}]")
        mid = 0.5 * (t0_s + t1_s)
        total = OPT101_DARK_V + self.ambient_v(mid)
        for line, gain, k_hbo2, k_hhb in self._channels:
            for a, b in line.on_intervals(t0_s, t1_s):
                total += self._light(gain, k_hbo2, k_hhb, 0.5 * (a + b)) * (b - a) / span
        return min(total, OPT101_MAX_V)
