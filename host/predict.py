"""The fatigue model on any recording with ΔHbO2 and ΔHHb in µM (issue 17, point 4).

The bundled model (``models/``) takes what this device computes every 10 Hz sample: ΔOD
at 750, 810 and 870 nm, ΔHbO2, ΔHHb, ΔtHb, the SmO2 estimate and OI, with the 60-s
moving averages of the four haemoglobin channels (:data:`device.features.CHANNELS`), in
windows of 10 s every second. Another device
exports haemoglobin, not this device's ΔOD, so :func:`predict_recording`:

1. takes the recording's oxy- and deoxyhaemoglobin in µM (:func:`haemoglobin`); absolute
   values (``Channel.relative`` False, e.g. Train.Red's O2Hb) become changes from their
   mean over a baseline window (default the first 30 s, :data:`DEFAULT_BASELINE_S`), as
   the device's own are changes from its resting calibration;
2. resamples them to the device's sample rate (:func:`host.predict_resample.resample`):
   linear interpolation between samples at most ``max_gap_s`` apart, or, from a source more than
   :data:`BLOCK_MEAN_ABOVE` times faster, the mean of its samples in each 0.1 s block
   (as :mod:`device.chain` averages the frames of a block); a longer gap stays NaN;
3. rebuilds the ΔOD this device would have measured for those changes with the device's
   own MBLL (:func:`rebuild_d_od`: ΔOD = A·[ΔHbO2, ΔHHb], A from
   :func:`device.mbll.mbll_design_matrix` through the chain's own solver), or, for this
   project's sessions, takes the ΔOD it recorded (``od="auto"``);
4. runs the device's code path: :func:`device.features.channel_row` per sample into a
   :class:`device.features.LiveWindow`, a window every :data:`~device.features.STEP_SAMPLES`
   samples when it is clean (full and finite; a window with a gap is skipped and the
   smoothing starts again, as the wearable shows "check sensor"),
   :meth:`device.inference.FatigueModel.predict` (ONNX Runtime) and the wearable's
   :class:`device.fatigue.LevelSmoother` for the level it would show.

The settings of the chain (wavelengths, DPF, distance, rate, assumed resting
haemoglobin) are :data:`TRAINING_CHAIN`, the defaults of :class:`device.chain.ChainConfig`
with which :mod:`hwsim.cohort` recorded every session the bundled model was trained on;
the smoothing is :class:`device.config.AlertConfig`'s default. Every output says that the
model was trained on simulated sessions of this device only (:func:`trained_on`, from
``model.json``'s provenance) and where its ΔOD came from.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from device.chain import ChainConfig
from device.config import AlertConfig
from device.errors import ConfigError
from device.fatigue import LevelSmoother, argmax
from device.features import (
    OD_WAVELENGTHS_NM,
    STEP_SAMPLES,
    WINDOW_SAMPLES,
    LiveWindow,
    channel_row,
    od_order,
)
from device.inference import FatigueModel
from host.predict_resample import BLOCK_MEAN_ABOVE, DEFAULT_MAX_GAP_S, resample
from host.recording import Channel, Recording
from host.session import DatasetError
from host.snirf_layout import PROJECT_FORMAT

__all__ = [
    "DEFAULT_BASELINE_S",
    "DEFAULT_MAX_GAP_S",
    "OD_SOURCES",
    "TRAINING_CHAIN",
    "Haemoglobin",
    "LevelRun",
    "haemoglobin",
    "od_note",
    "predict_recording",
    "rebuild_d_od",
    "resample",
    "trained_on",
]

#: The chain that recorded the bundled model's training sessions (hwsim/cohort.py makes
#: ``ChainConfig(baseline_s=...)``: every other setting its default): its wavelengths,
#: DPF, distance, LED bands, sample rate and assumed resting haemoglobin.
TRAINING_CHAIN = ChainConfig()
#: How the ``"uM"`` of :class:`host.recording.Channel` is spelled: the model's unit.
UNIT_UM = "uM"
#: Default baseline window for absolute haemoglobin, s on the recording's time base:
#: the first 30 s (issue 17; a resting start, as the device's own 20 s calibration).
DEFAULT_BASELINE_S: tuple[float, float] = (0.0, 30.0)
#: Where the model's ΔOD inputs come from: "rebuild" from the haemoglobin, "recorded"
#: (this project's own ΔOD channels), "auto" (recorded for this project's sessions,
#: rebuilt otherwise).
OD_SOURCES = ("auto", "rebuild", "recorded")


@dataclass
class Haemoglobin:
    """ΔHbO2 and ΔHHb of a recording on its own time base, ready to resample.

    ``t_s``, ``d_hbo2_um``, ``d_hhb_um``: ndarray of float, shape (n,), s and µM (NaN
    where the recording has no value); ``notes``: what was done to them, one sentence each.
    """

    t_s: np.ndarray
    d_hbo2_um: np.ndarray
    d_hhb_um: np.ndarray
    notes: tuple[str, ...]


@dataclass
class LevelRun:
    """What :func:`predict_recording` found.

    Attributes
    ----------
    recording : Recording
        The recording the model ran on.
    t_s : ndarray, shape (n,)
        The device-rate time base, s (recording's time base).
    d_hbo2_um, d_hhb_um : ndarray, shape (n,)
        The haemoglobin changes the model saw, µM (NaN in gaps).
    d_od : ndarray, shape (n, 3)
        The ΔOD it saw, at :data:`device.features.OD_WAVELENGTHS_NM` (natural log).
    od_source : str
        "rebuilt" or "recorded".
    t_start_s, t_end_s : ndarray, shape (m,)
        Times of the first and last sample of each window that ran, s.
    probabilities : ndarray, shape (m, n_classes)
        The model's output per window.
    level : ndarray of int, shape (m,)
        The most probable level per window (the first on ties).
    shown_level : ndarray of int, shape (m,)
        The level the wearable would show: the mean of the last
        ``AlertConfig.smoothing_s`` windows' probabilities (restarted after a skipped one).
    skipped_windows : int
        Windows not run because they held a gap or a NaN.
    classes : tuple of str
        Level names, lowest first (model.json).
    model_line : str
        :meth:`device.inference.FatigueModel.describe`.
    trained_on : str
        :func:`trained_on`: the model was trained on simulated sessions of this device only.
    od_note : str
        :func:`od_note`.
    notes : tuple of str
        The importer's and this module's notes.
    """

    recording: Recording
    t_s: np.ndarray
    d_hbo2_um: np.ndarray
    d_hhb_um: np.ndarray
    d_od: np.ndarray
    od_source: str
    t_start_s: np.ndarray
    t_end_s: np.ndarray
    probabilities: np.ndarray
    level: np.ndarray
    shown_level: np.ndarray
    skipped_windows: int
    classes: tuple[str, ...]
    model_line: str
    trained_on: str
    od_note: str
    notes: tuple[str, ...]

    @property
    def window_s(self) -> float:
        """A window's length, s."""
        return WINDOW_SAMPLES / TRAINING_CHAIN.output_rate_hz


def trained_on(meta: dict, recording: Recording | None = None) -> str:
    """What the model was trained on, from ``model.json``'s ``provenance`` (written by
    host/train.py: ``data``, ``sessions``, ``subjects``), e.g. "the fatigue model was
    trained on SIMULATED sessions of this device only (200 sessions of 50 subjects,
    model.json provenance)"; with ``recording``, also where its levels are untested (on
    another device's recording; on a person's, when no training data were human)."""
    provenance = meta.get("provenance")
    if isinstance(provenance, dict):
        kinds = [str(d) for d in provenance.get("data") or ["unknown"]]
        counts = [
            f"{provenance[k]} {k}"
            for k in ("sessions", "subjects")
            if provenance.get(k) is not None
        ]
        said = f" ({' of '.join(counts)}, model.json provenance)" if counts else ""
        line = (
            f"the fatigue model was trained on {' and '.join(k.upper() for k in kinds)} "
            f"sessions of this device only{said}"
        )
    else:
        kinds = []
        line = "model.json does not say what the fatigue model was trained on"
    untested = []
    if recording is not None and recording.format != PROJECT_FORMAT:
        untested.append("on another device's recording")
    if recording is not None and recording.provenance != "simulated" and "human" not in kinds:
        untested.append("on a person")
    return line + (f": its levels {' and '.join(untested)} are untested" if untested else "")


def od_note(source: str, chain: ChainConfig = TRAINING_CHAIN) -> str:
    """One sentence on where the model's ΔOD inputs came from (``"rebuilt"`` or
    ``"recorded"``), naming the MBLL's DPF and distance when rebuilt."""
    nm = ", ".join(f"{w:g}" for w in OD_WAVELENGTHS_NM)
    if source == "recorded":
        return f"ΔOD at {nm} nm are this device's own, as it recorded them (not rebuilt)"
    dpf = ", ".join(f"{d:g}" for d in sorted(set(chain.solver().dpf)))
    return (
        f"ΔOD at {nm} nm were rebuilt from ΔHbO2 and ΔHHb with this device's MBLL "
        f"(ΔOD = (ε_HbO2·ΔHbO2 + ε_HHb·ΔHHb)·DPF·d, DPF {dpf}, d {chain.distance_cm:g} cm), "
        "not measured"
    )


def _pick(recording: Recording, quantity: str) -> Channel | None:
    for c in recording.channels:
        if c.quantity == quantity and c.unit == UNIT_UM:
            return c
    return None


def haemoglobin(
    recording: Recording,
    *,
    baseline_s: Sequence[float] = DEFAULT_BASELINE_S,
    rezero: bool = False,
) -> Haemoglobin:
    """The recording's ΔHbO2 and ΔHHb in µM.

    Parameters
    ----------
    recording : Recording
        Needs a channel of quantity ``hbo2`` and one of ``hhb``, each in ``"uM"``.
    baseline_s : (float, float)
        Start and end of the baseline window, s on the recording's time base. An absolute
        channel (``relative`` False) becomes its change from its mean over the window.
    rezero : bool
        Also subtract that mean from channels that are already changes (their zero is
        wherever the other device put it; this device's is its resting calibration).

    Raises
    ------
    DatasetError
        One line naming the file and sensor: what channels it has and what is needed; a
        baseline window that is empty, backwards or holds no valid value.
    """
    hbo2, hhb = _pick(recording, "hbo2"), _pick(recording, "hhb")
    if hbo2 is None or hhb is None:
        have = ", ".join(f"{c.name} ({c.unit})" for c in recording.channels) or "no channels"
        raise DatasetError(
            recording.source,
            f"sensor {recording.sensor} has {have}; the fatigue model needs oxy- and "
            f"deoxyhaemoglobin in µM (channels of quantity hbo2 and hhb, unit {UNIT_UM}), "
            "which this recording does not hold",
        )
    start_s, end_s = (float(x) for x in baseline_s)
    if not (math.isfinite(start_s) and math.isfinite(end_s) and end_s > start_s):
        raise DatasetError(
            recording.source,
            f"baseline window {start_s:g}–{end_s:g} s: needs a start before its end, in s",
        )
    t = np.asarray(recording.t_s, dtype=float)
    inside = (t >= start_s) & (t <= end_s)
    out, notes = [], list(recording.notes)
    for c in (hbo2, hhb):
        values = np.asarray(c.values, dtype=float)
        if c.relative and not rezero:
            out.append(values)
            notes.append(
                f"{c.name}: already changes, used with the file's own zero (the baseline "
                "window is not used for them; --rezero subtracts its mean)"
            )
            continue
        base = values[inside & np.isfinite(values)]
        if base.size == 0:
            raise DatasetError(
                recording.source,
                f"sensor {recording.sensor}: channel {c.name!r} has no valid value in the "
                f"baseline window {start_s:g}–{end_s:g} s (recording: {t[0]:g}–{t[-1]:g} s); "
                "give another window",
            )
        mean = float(np.mean(base))
        out.append(values - mean)
        kind = "changes re-zeroed" if c.relative else "absolute values made changes"
        notes.append(
            f"{c.name}: {kind} from their mean over {start_s:g}–{end_s:g} s "
            f"({mean:.4g} {c.unit}, {base.size} samples)"
        )
    return Haemoglobin(t, out[0], out[1], tuple(notes))


def rebuild_d_od(
    d_hbo2_um: np.ndarray, d_hhb_um: np.ndarray, chain: ChainConfig = TRAINING_CHAIN
) -> np.ndarray:
    """The ΔOD this device would measure for these haemoglobin changes.

    ΔOD(λ) = (ε_HbO2(λ)·ΔHbO2 + ε_HHb(λ)·ΔHHb)·DPF·d (seed eq. 4), i.e. A·[ΔHbO2, ΔHHb]
    with A the design matrix of the chain's own solver (:meth:`ChainConfig.solver`,
    :func:`device.mbll.mbll_design_matrix`: ε from the Prahl table through
    :func:`device.extinction.extinction_natural_per_um`, the chain's DPF and distance).
    The chain's solver maps the result back to the same ΔHbO2 and ΔHHb exactly (A⁺·A = I)
    with a zero residual.

    Parameters
    ----------
    d_hbo2_um, d_hhb_um : ndarray, shape (n,)
        µM; NaN gives NaN.
    chain : ChainConfig
        Default :data:`TRAINING_CHAIN`.

    Returns
    -------
    ndarray, shape (n, 3)
        ΔOD (natural log, dimensionless) at :data:`device.features.OD_WAVELENGTHS_NM`.
    """
    design = np.asarray(chain.solver().design_matrix, dtype=float)  # (n_wl, 2), µM^-1
    order = list(od_order(chain.wavelengths_nm))
    x = np.column_stack([np.asarray(d_hbo2_um, float), np.asarray(d_hhb_um, float)])
    return (x @ design.T)[:, order]


def _recorded_d_od(recording: Recording) -> np.ndarray:
    """The recording's own ΔOD at the model's wavelengths, shape (n, 3)."""
    found = [c for c in recording.channels if c.quantity == "d_od" and c.wavelength_nm]
    if not found:
        raise DatasetError(
            recording.source,
            f"sensor {recording.sensor} holds no ΔOD channels: --od recorded needs this "
            "device's own ΔOD (its session files); use --od auto or rebuild",
        )
    try:
        order = od_order([c.wavelength_nm for c in found])
    except ConfigError as exc:
        raise DatasetError(recording.source, f"its ΔOD channels: {exc}") from None
    return np.column_stack([np.asarray(found[k].values, dtype=float) for k in order])


def predict_recording(
    recording: Recording,
    model: FatigueModel,
    *,
    baseline_s: Sequence[float] = DEFAULT_BASELINE_S,
    rezero: bool = False,
    od: str = "auto",
    max_gap_s: float = DEFAULT_MAX_GAP_S,
) -> LevelRun:
    """The model's level for every 10 s window of ``recording`` (module docstring).

    Parameters
    ----------
    recording : Recording
        With ΔHbO2 and ΔHHb in µM (:func:`haemoglobin`).
    model : FatigueModel
        :func:`device.inference.load_model` of the bundle (``backend="onnx"`` on a PC).
    baseline_s, rezero :
        See :func:`haemoglobin`.
    od : str
        One of :data:`OD_SOURCES`.
    max_gap_s : float
        See :func:`resample`.

    Raises
    ------
    DatasetError
        No µM haemoglobin, a bad baseline window, a recording shorter than one window, or
        no window without a gap (one line each, naming the file).
    ValueError
        ``od`` is not one of :data:`OD_SOURCES`, or the model's input rate is not the
        chain's.
    """
    if od not in OD_SOURCES:
        raise ValueError(f"od must be one of {', '.join(OD_SOURCES)}; got {od!r}")
    rate_hz = TRAINING_CHAIN.output_rate_hz
    model_rate = model.meta.get("inputs", {}).get("sequence", {}).get("rate_hz", rate_hz)
    if float(model_rate) != rate_hz:
        raise ValueError(f"model.json's inputs are at {model_rate} Hz, the chain's at {rate_hz}")
    hb = haemoglobin(recording, baseline_s=baseline_s, rezero=rezero)
    window_s = WINDOW_SAMPLES / rate_hz
    if recording.duration_s + 1.0 / rate_hz < window_s:
        raise DatasetError(
            recording.source,
            f"sensor {recording.sensor} lasts {recording.duration_s:.1f} s; the model needs "
            f"at least one window of {window_s:g} s ({WINDOW_SAMPLES} samples at "
            f"{rate_hz:g} Hz)",
        )
    source = "recorded" if od == "recorded" else "rebuilt"
    if od == "auto" and recording.format == PROJECT_FORMAT:
        source = "recorded"
    columns = [hb.d_hbo2_um, hb.d_hhb_um]
    if source == "recorded":
        columns += list(_recorded_d_od(recording).T)
    t, cols = resample(hb.t_s, columns, rate_hz=rate_hz, max_gap_s=max_gap_s)
    flags = _flags_on(recording, t)
    hbo2, hhb = cols[0], cols[1]
    d_od = np.column_stack(cols[2:]) if source == "recorded" else rebuild_d_od(hbo2, hhb)
    notes = list(hb.notes)
    invalid = int(np.count_nonzero(~(np.isfinite(hb.d_hbo2_um) & np.isfinite(hb.d_hhb_um))))
    notes.append(
        f"resampled from about {recording.rate_hz:.3g} Hz to {rate_hz:g} Hz "
        f"({'block means' if recording.rate_hz > BLOCK_MEAN_ABOVE * rate_hz else 'linear'}"
        f"; {invalid} of {hb.t_s.size} source samples had no value; values between valid "
        f"samples at most {max_gap_s:g} s apart interpolated, longer gaps left empty: "
        f"{int(np.count_nonzero(~(np.isfinite(hbo2) & np.isfinite(hhb))))} of {t.size} samples)"
    )
    ends, probs, levels, shown, skipped = _run_windows(model, d_od, hbo2, hhb, flags)
    if not ends:
        raise DatasetError(
            recording.source,
            f"sensor {recording.sensor}: none of its {skipped} window"
            f"{'' if skipped == 1 else 's'} of {window_s:g} s is "
            f"free of gaps longer than {max_gap_s:g} s or invalid values; nothing to predict",
        )
    return LevelRun(
        recording=recording,
        t_s=t,
        d_hbo2_um=hbo2,
        d_hhb_um=hhb,
        d_od=d_od,
        od_source=source,
        t_start_s=t[np.asarray(ends, dtype=int) - (WINDOW_SAMPLES - 1)],
        t_end_s=t[np.asarray(ends, dtype=int)],
        probabilities=np.asarray(probs, dtype=float),
        level=np.asarray(levels, dtype=int),
        shown_level=np.asarray(shown, dtype=int),
        skipped_windows=skipped,
        classes=tuple(model.classes),
        model_line=model.describe(),
        trained_on=trained_on(model.meta, recording),
        od_note=od_note(source),
        notes=tuple(notes),
    )


def _flags_on(recording: Recording, grid_s: np.ndarray) -> np.ndarray:
    """The recording's quality flags (this device's sessions have them; other devices'
    files do not: zeros) at each time of ``grid_s``: those of the nearest sample."""
    if not recording.has("quality"):
        return np.zeros(grid_s.size, dtype=np.int64)
    t = np.asarray(recording.t_s, dtype=float)
    values = np.nan_to_num(np.asarray(recording.channel("quality").values, dtype=float))
    right = np.clip(np.searchsorted(t, grid_s), 1, t.size - 1) if t.size > 1 else None
    if right is None:
        return np.full(grid_s.size, int(values[0]), dtype=np.int64)
    nearest = np.where(grid_s - t[right - 1] <= t[right] - grid_s, right - 1, right)
    return values[nearest].astype(np.int64)


def _run_windows(
    model: FatigueModel,
    d_od: np.ndarray,
    hbo2: np.ndarray,
    hhb: np.ndarray,
    flags: np.ndarray,
) -> tuple[list[int], list[tuple[float, ...]], list[int], list[int], int]:
    """The wearable's per-sample and per-second steps (device/app.py ``_on_sample`` and
    ``_predict``) over a whole recording: indices of the windows' last samples, their
    probabilities, raw and shown levels, and how many windows were skipped (a gap or a
    sample with a quality flag in the window, as the wearable skips them)."""
    window = LiveWindow()
    smoother = LevelSmoother(AlertConfig().smoothing_s)
    chain = TRAINING_CHAIN
    ends: list[int] = []
    probs: list[tuple[float, ...]] = []
    levels: list[int] = []
    shown: list[int] = []
    skipped = 0
    for i in range(hbo2.size):
        row = channel_row(
            d_od[i],
            hbo2[i],
            hhb[i],
            hbo2_rest_um=chain.hbo2_rest_um,
            hhb_rest_um=chain.hhb_rest_um,
        )
        window.push(row, int(flags[i]))
        if i + 1 < WINDOW_SAMPLES or (i + 1 - WINDOW_SAMPLES) % STEP_SAMPLES:
            continue
        if not window.clean:
            skipped += 1
            smoother.reset()  # as the wearable's "check sensor" forgets its level
            continue
        p = model.predict(*window.window())
        ends.append(i)
        probs.append(p)
        levels.append(argmax(p))
        shown.append(smoother.push(p))
    return ends, probs, levels, shown, skipped
