"""Simulated wearables at the record level, for load tests of the live page and broker.

No ADC, no optics loop, no model: :class:`SimulatedRecordWearable` turns a simulated
subject's session (:func:`hwsim.physiology.simulate_session`, the same physiology the
board simulator wears) straight into the records a wearable sends, cheap enough for
twenty of them in one process at real time:

- SAMPLE (:class:`device.chain.ChainSample`) at ``rate_hz``: ΔHbO2, ΔHHb, ΔtHb (µM,
  changes from the trial's first sample), SmO2 (%, the truth's HbO2 / tHb), and for
  each of :data:`device.config.LED_WAVELENGTHS_NM` the ΔOD and detector voltage those
  changes give through the modified Beer–Lambert law (decadic, the Prahl table, the
  probe's 3 cm and the device's assumed DPF 4: :mod:`hwsim.optics`'s constants);
- PREDICTION once a second: the level of the subject's latest Borg rating
  (:data:`device.labels.DEFAULT_MAPPING`), with probability :data:`CONFIDENCE` on it
  and the rest shared by the other levels: a model that is always right, simulated;
- EVENT ``collect_borg`` (:data:`host.collect_records.EVENT_BORG`, data ``{"rating": n}``)
  whenever the subject's reported rating changes;
- a header event first, with ``provenance: "simulated"`` (the page shows it).

The trial (the upper-limb protocol, one side, 124–140 s) repeats end to end for as
long as it is asked, device time running on. Everything here is simulated.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator

from device.chain import ChainSample
from device.codec import Prediction, Record, header_record
from device.config import LED_WAVELENGTHS_NM
from device.labels import DEFAULT_MAPPING
from host.collect_records import EVENT_BORG
from hwsim.optics import (
    MOLAR_PER_MICROMOLAR,
    MUSCLE_DPF,
    OPT101_DARK_V,
    SOURCE_DETECTOR_CM,
    extinction_at,
    load_extinction_table,
)
from hwsim.protocols import UPPER_LIMB
from hwsim.session_seed import SessionSeed

__all__ = ["CONFIDENCE", "SimulatedRecordWearable"]

#: Probability the simulated model gives the true level (an assumption: a plausible,
#: confident model; the rest is shared evenly by the other levels).
CONFIDENCE = 0.8
#: ADC frames averaged into one sample (an assumption: ~200 frames/s of the board's
#: four LED phases, block-averaged to 10 Hz; only shown, never used).
N_FRAMES = 20
#: Detector voltage at the trial's start, V: mid-range of the 1.3–2.1 V
#: :data:`hwsim.optics.DEFAULT_LED_GAIN_V` gives resting tissue (an assumption).
REST_INTENSITY_V = 1.7
_EXTINCTION = load_extinction_table()


class SimulatedRecordWearable:
    """One simulated wearable's records, in device-time order (module docstring).

    Args:
        subject_code: Its subject code (what the broker's topic carries).
        seed: Seeds the subject and the session (the same seed gives the same records).
        rate_hz: SAMPLE records per second (≥ 10: the physiology's lowest rate).
    """

    def __init__(self, subject_code: str, seed: int, rate_hz: float = 10.0) -> None:
        self.subject_code = subject_code
        self.rate_hz = rate_hz
        seeding = SessionSeed(seed, subject_code, UPPER_LIMB.name, "left", label=subject_code)
        truth = seeding.truth(rate_hz=rate_hz)
        self.truth = truth
        self.trial_s = len(truth.t_s) / rate_hz
        self._hbo2 = (truth.hbo2_um - truth.hbo2_um[0]).tolist()
        self._hhb = (truth.hhb_um - truth.hhb_um[0]).tolist()
        self._smo2 = (100.0 * truth.smo2).tolist()
        self._dark = truth.ambient_v.tolist()
        self._borg_t = truth.borg.t_s.tolist()
        self._borg = truth.borg.rating.tolist()
        self._eps = [extinction_at(_EXTINCTION, float(nm)) for nm in LED_WAVELENGTHS_NM]
        self._iter = iter(self)
        self._next: Record | None = None

    def sample(self, k: int) -> ChainSample:
        """SAMPLE number ``k`` (from 0), at ``k / rate_hz`` seconds."""
        n = len(self._hbo2)
        i = k % n
        hbo2, hhb = self._hbo2[i], self._hhb[i]
        path_cm = SOURCE_DETECTOR_CM * MUSCLE_DPF
        d_od = tuple(
            (e_o * hbo2 + e_r * hhb) * MOLAR_PER_MICROMOLAR * path_cm for e_o, e_r in self._eps
        )
        return ChainSample(
            t_s=k / self.rate_hz,
            n_frames=N_FRAMES,
            dark_v=OPT101_DARK_V + self._dark[i],
            intensity_v=tuple(REST_INTENSITY_V * 10.0 ** (-od) for od in d_od),
            d_od=d_od,
            d_hbo2_um=hbo2,
            d_hhb_um=hhb,
            d_thb_um=hbo2 + hhb,
            oi_um=hbo2 - hhb,
            smo2_pct=self._smo2[i],
            residual_od=0.0,
            flags=0,
        )

    def rating_at(self, t_s: float) -> int:
        """The subject's latest reported Borg rating at device time ``t_s``."""
        t = t_s % self.trial_s
        i = max(0, bisect.bisect_right(self._borg_t, t) - 1)
        return int(self._borg[i])

    def prediction(self, t_s: float) -> Prediction:
        """The simulated model's output at ``t_s``: the level of the latest rating."""
        level = int(DEFAULT_MAPPING.level(self.rating_at(t_s)))
        n = DEFAULT_MAPPING.n_levels
        rest = (1.0 - CONFIDENCE) / (n - 1)
        probabilities = tuple(CONFIDENCE if j == level else rest for j in range(n))
        return Prediction(t_s, probabilities, level, level)

    def __iter__(self) -> Iterator[Record]:
        """Every record, endlessly, in device-time order (a fresh iteration each call)."""
        yield header_record(
            0.0, subject=self.subject_code, provenance="simulated", source="hwsim.record_stream"
        )
        per_second = max(1, round(self.rate_hz))
        rating = None
        k = 0
        while True:
            t_s = k / self.rate_hz
            yield Record.of(self.sample(k))
            now = self.rating_at(t_s)
            if now != rating:
                rating = now
                yield Record.event(t_s, EVENT_BORG, rating=now)
            if k % per_second == per_second - 1:
                yield Record.of(self.prediction(t_s))
            k += 1

    def records_until(self, t_s: float) -> list[Record]:
        """The records due up to device time ``t_s`` not given before (for pacing)."""
        out = []
        while True:
            if self._next is None:
                self._next = next(self._iter)
            if self._next.t_s > t_s + 1e-9:
                return out
            out.append(self._next)
            self._next = None

    @property
    def records_per_s(self) -> float:
        """Mean records a second: SAMPLEs, a PREDICTION, Borg changes (over one trial)."""
        changes = sum(1 for a, b in zip(self._borg, self._borg[1:]) if a != b) + 1
        return self.rate_hz + 1.0 + changes / self.trial_s
