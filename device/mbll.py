"""Modified Beer–Lambert law: light intensities to haemoglobin concentration changes.

The chain follows the seed paper (section 3.2.3) and ``DESIGN.md``:

1. :func:`delta_od` — optical-density change ΔOD = -ln(I/I0) from dark-subtracted
   intensities (seed eq. 5; natural log, as in seed eqs. 1–2).
2. :class:`MbllSolver` — least-squares inversion of
   ΔOD(λi) = [ε_HbO2(λi)·ΔHbO2 + ε_HHb(λi)·ΔHHb] · DPF_i · d      (seed eq. 4)
   for three or more wavelengths, giving ΔHbO2 and ΔHHb in µM and the residual norm,
   which measures how far the data are from anything haemoglobin alone can explain.
3. Derived signals: :func:`delta_thb_um` (ΔtHb), :func:`oxygenation_index_um` (OI) and
   :func:`smo2_percent` (an *estimate* of muscle saturation relative to an assumed resting
   baseline).

Concentrations are in µM (µmol/L), distances in cm, wavelengths in nm. The seed's eq. (3)
divides by 64 500 g/mol to work in g/L; here everything stays molar, so that factor never
appears. Pure NumPy + stdlib, so that it runs on the 64 MB device.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple, Union

import numpy as np
from numpy.typing import ArrayLike

from device.extinction import extinction_natural_per_um

__all__ = [
    "DEFAULT_DISTANCE_CM",
    "DEFAULT_DPF",
    "DEFAULT_HBO2_REST_UM",
    "DEFAULT_HHB_REST_UM",
    "DEFAULT_WAVELENGTHS_NM",
    "MIN_WAVELENGTHS",
    "MbllResult",
    "MbllSolver",
    "delta_od",
    "delta_thb_um",
    "mbll_design_matrix",
    "oxygenation_index_um",
    "smo2_percent",
]

# LED peak wavelengths: Ushio SMT750-23, SMT810N-23, SMT870N-23 (seed section 3.1; DESIGN.md).
DEFAULT_WAVELENGTHS_NM: tuple[float, float, float] = (750.0, 810.0, 870.0)

# Source–detector separation: 30 mm between LED and OPT101 (seed section 3.1; DESIGN.md).
# This is the straight-line separation d of the MBLL; the DPF carries the longer banana-shaped
# photon path, so d is NOT halved (the seed's "about 15 mm" is a depth, not an MBLL input).
DEFAULT_DISTANCE_CM: float = 3.0

# Differential pathlength factor for adult limb muscle (DESIGN.md). Measured muscle DPFs are
# about 3.5–4.5 in the near infrared, e.g. adult calf and forearm by phase-resolved spectroscopy
# (Duncan et al., Phys. Med. Biol. 40:295–304, 1995).
DEFAULT_DPF: float = 4.0

# Assumed resting concentrations for the SmO2 estimate, in µM. Round figures giving
# tHb0 = 90 µM and SmO2_0 = 60/90 = 66.7 %, of the order that absolute (spatially, time- or
# frequency-resolved) NIRS reports for resting limb muscle — saturation around 60–75 % and total
# haemoglobin of several tens to about a hundred µM (reviews: Hamaoka et al., J. Biomed. Opt.
# 12(6):062105, 2007; Grassi & Quaresima, J. Biomed. Opt. 21(9):091313, 2016). They are
# assumptions about a typical wearer, not measurements: a single-distance CW device cannot
# measure them, so configure them per wearer where better values are known.
DEFAULT_HBO2_REST_UM: float = 60.0
DEFAULT_HHB_REST_UM: float = 30.0

# Two unknowns (ΔHbO2, ΔHHb) need two wavelengths; the third gives the redundancy that makes
# the least-squares residual a signal-quality measure (seed eq. 4 uses three).
MIN_WAVELENGTHS: int = 3

# Percent in a fraction of one.
PERCENT_PER_FRACTION: float = 100.0

# Above this the distance was most likely given in mm: CW NIRS separations are a few cm because
# detected light falls by orders of magnitude per cm of separation.
MAX_PLAUSIBLE_DISTANCE_CM: float = 10.0

FloatOrArray = Union[float, ArrayLike]


def _as_float_array(value: FloatOrArray, name: str, expected: str) -> np.ndarray:
    """Convert to a new float ndarray (never a view of the caller's data)."""
    try:
        return np.array(value, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(
            f"{name} must be {expected} of numbers, got {type(value).__name__}"
        ) from None


def delta_od(intensity: ArrayLike, baseline: ArrayLike, *, invalid: str = "warn") -> np.ndarray:
    """Change in optical density, ΔOD = -ln(I / I0) (seed eq. 5).

    Parameters
    ----------
    intensity : array-like of float, shape (n_wavelengths,) or (n_samples, n_wavelengths)
        Detected intensity I, already dark-subtracted (V_t − V_dark), in any linear unit
        (ADC counts, volts) as long as it matches ``baseline``.
    baseline : array-like of float, shape (n_wavelengths,)
        Reference intensity I0 per wavelength, dark-subtracted the same way (V_0 − V_dark0),
        e.g. the mean over the first 20 s of rest. Must be finite and > 0.
    invalid : {"warn", "nan"}
        What to do with non-positive or non-finite intensities. "warn" (default): warn if
        some are, raise if all are. "nan": set them to NaN quietly, for a live stream whose
        quality flags already report the cause (sensor off the skin, saturation).

    Returns
    -------
    d_od : ndarray, same shape as ``intensity``
        Optical-density change, natural log (dimensionless). Positive when less light comes
        back (more absorption). NaN where the intensity was non-positive or non-finite.

    Raises
    ------
    ValueError
        On shape mismatch, on a non-positive or non-finite baseline, or if *every* intensity
        is non-positive or non-finite (nothing usable, e.g. the sensor is off the skin).

    Warns
    -----
    RuntimeWarning
        If *some* intensities are non-positive or non-finite; those samples become NaN.
    """
    if invalid not in ("warn", "nan"):
        raise ValueError(f'invalid must be "warn" or "nan", got {invalid!r}')
    i_t = _as_float_array(intensity, "intensity", "an array")
    i_0 = _as_float_array(baseline, "baseline", "a 1-D array")
    if i_t.ndim not in (1, 2):
        raise ValueError(
            "intensity must have shape (n_wavelengths,) or (n_samples, n_wavelengths), "
            f"got shape {i_t.shape}"
        )
    if i_0.ndim != 1 or i_0.shape[0] != i_t.shape[-1]:
        raise ValueError(
            f"baseline must have shape ({i_t.shape[-1]},), one value per wavelength of "
            f"intensity (shape {i_t.shape}), got shape {i_0.shape}"
        )
    bad_baseline = ~(np.isfinite(i_0) & (i_0 > 0))
    if np.any(bad_baseline):
        raise ValueError(
            "baseline must be finite and > 0 (dark-subtracted I0), got "
            f"{i_0.tolist()}; check the dark subtraction and the rest period"
        )
    good = np.isfinite(i_t) & (i_t > 0)
    n_bad = int(good.size - np.count_nonzero(good))
    if n_bad and invalid == "warn" and n_bad == good.size:
        raise ValueError(
            f"all {good.size} intensity values are non-positive or non-finite, expected "
            "dark-subtracted intensities > 0; is the sensor on the skin, is the dark level right?"
        )
    if n_bad and invalid == "warn":
        warnings.warn(
            f"{n_bad} of {good.size} intensity values are non-positive or non-finite "
            "(expected dark-subtracted intensities > 0); their ΔOD is set to NaN",
            RuntimeWarning,
            stacklevel=2,
        )
    ratio = np.where(good, i_t, np.nan) / i_0
    return -np.log(ratio)


def _as_wavelength_vector(wavelengths_nm: ArrayLike) -> np.ndarray:
    wl = _as_float_array(wavelengths_nm, "wavelengths_nm", "a 1-D sequence")
    if wl.ndim != 1 or wl.size < MIN_WAVELENGTHS:
        raise ValueError(
            f"wavelengths_nm must be 1-D with at least {MIN_WAVELENGTHS} wavelengths (nm), "
            f"got shape {wl.shape}"
        )
    if np.unique(wl).size != wl.size:
        raise ValueError(f"wavelengths_nm must be distinct, got {wl.tolist()}")
    return wl


def _as_dpf(dpf: FloatOrArray, n_wavelengths: int) -> np.ndarray:
    dpf_arr = _as_float_array(dpf, "dpf", "a number or a 1-D sequence")
    if dpf_arr.ndim > 1 or (dpf_arr.ndim == 1 and dpf_arr.size != n_wavelengths):
        raise ValueError(
            f"dpf must be a scalar or have one value per wavelength ({n_wavelengths}), "
            f"got shape {dpf_arr.shape}"
        )
    dpf_arr = np.broadcast_to(dpf_arr, (n_wavelengths,)).copy()
    if not (np.all(np.isfinite(dpf_arr)) and np.all(dpf_arr > 0)):
        raise ValueError(f"dpf must be finite and > 0 (dimensionless), got {dpf_arr.tolist()}")
    if np.any(dpf_arr < 1):
        warnings.warn(
            f"dpf {dpf_arr.tolist()} is below 1, i.e. a photon path shorter than the "
            "source–detector separation; expected about 3–6 for tissue",
            RuntimeWarning,
            stacklevel=3,
        )
    return dpf_arr


def _as_distance_cm(distance_cm: float) -> float:
    d = _as_float_array(distance_cm, "distance_cm", "a single number")
    if d.ndim != 0:
        raise ValueError(f"distance_cm must be a scalar (cm), got shape {d.shape}")
    d_cm = float(d)
    if not (np.isfinite(d_cm) and d_cm > 0):
        raise ValueError(f"distance_cm must be finite and > 0 (cm), got {d_cm}")
    if d_cm > MAX_PLAUSIBLE_DISTANCE_CM:
        warnings.warn(
            f"distance_cm={d_cm:g} cm is implausibly large for CW NIRS (expected a few cm); "
            "was it given in mm?",
            RuntimeWarning,
            stacklevel=3,
        )
    return d_cm


def mbll_design_matrix(
    wavelengths_nm: ArrayLike = DEFAULT_WAVELENGTHS_NM,
    *,
    dpf: FloatOrArray = DEFAULT_DPF,
    distance_cm: float = DEFAULT_DISTANCE_CM,
    fwhm_nm: FloatOrArray | None = None,
) -> np.ndarray:
    """Design matrix of the modified Beer–Lambert law, ΔOD = A @ [ΔHbO2, ΔHHb].

    Row i is ``A[i] = ε_nat(λi) · DPF_i · d`` (seed eq. 4, columns reordered to HbO2, HHb).

    Parameters
    ----------
    wavelengths_nm : array-like of float, shape (n_wavelengths,)
        Source wavelengths (LED band centres) in nm; at least 3, distinct, within 650–1000 nm.
    dpf : float or array-like of float, shape (n_wavelengths,)
        Differential pathlength factor (dimensionless), one for all wavelengths or one each.
    distance_cm : float
        Source–detector separation in cm.
    fwhm_nm : float or array-like of float, optional
        LED emission FWHM in nm; if given, ε is weighted over a Gaussian band
        (:func:`device.extinction.band_weighted_extinction`), otherwise nominal.

    Returns
    -------
    design : ndarray, shape (n_wavelengths, 2)
        ΔOD (natural log, dimensionless) per µM of [HbO2, HHb], i.e. in µM^-1.
    """
    wl = _as_wavelength_vector(wavelengths_nm)
    dpf_arr = _as_dpf(dpf, wl.size)
    d_cm = _as_distance_cm(distance_cm)
    eps_nat_per_um = extinction_natural_per_um(wl, fwhm_nm=fwhm_nm)  # cm^-1 µM^-1, ln
    pathlength_cm = dpf_arr * d_cm  # mean photon path per wavelength, cm
    return eps_nat_per_um * pathlength_cm[:, None]  # µM^-1


class MbllResult(NamedTuple):
    """Output of :meth:`MbllSolver.solve`; each field has the input's sample shape."""

    d_hbo2_um: np.ndarray
    """Change in oxyhaemoglobin concentration, µM."""
    d_hhb_um: np.ndarray
    """Change in deoxyhaemoglobin concentration, µM."""
    residual_od: np.ndarray
    """Euclidean norm of the least-squares residual ΔOD − A·x over wavelengths (ln units)."""


class MbllSolver:
    """Least-squares modified Beer–Lambert solver for three or more wavelengths.

    Builds the design matrix once (:func:`mbll_design_matrix`), precomputes its
    Moore–Penrose pseudo-inverse and the residual projector, then maps ΔOD to
    concentration changes sample by sample or in batches, with identical results.

    Parameters
    ----------
    wavelengths_nm : array-like of float, shape (n_wavelengths,)
        Source wavelengths in nm (default 750, 810, 870 nm).
    dpf : float or array-like of float, shape (n_wavelengths,)
        Differential pathlength factor (default 4.0).
    distance_cm : float
        Source–detector separation in cm (default 3.0).
    fwhm_nm : float or array-like of float, optional
        LED emission FWHM in nm for band-weighted ε; None uses nominal ε.

    Raises
    ------
    ValueError
        If the inputs are invalid, or the wavelengths cannot separate HbO2 from HHb
        (design matrix of rank < 2).
    """

    def __init__(
        self,
        wavelengths_nm: ArrayLike = DEFAULT_WAVELENGTHS_NM,
        *,
        dpf: FloatOrArray = DEFAULT_DPF,
        distance_cm: float = DEFAULT_DISTANCE_CM,
        fwhm_nm: FloatOrArray | None = None,
    ) -> None:
        design = mbll_design_matrix(
            wavelengths_nm, dpf=dpf, distance_cm=distance_cm, fwhm_nm=fwhm_nm
        )
        if np.linalg.matrix_rank(design) < 2:
            raise ValueError(
                "wavelengths_nm cannot separate HbO2 from HHb (design matrix rank < 2), "
                f"got {list(wavelengths_nm)} nm"
            )
        n_wl = design.shape[0]
        self._wavelengths_nm = _frozen(np.array(wavelengths_nm, dtype=float))
        self._dpf = _frozen(np.broadcast_to(np.array(dpf, dtype=float), (n_wl,)).copy())
        self._distance_cm = float(distance_cm)
        self._design = _frozen(design)
        self._pinv = _frozen(np.linalg.pinv(design))  # (2, n_wl), µM per unit ΔOD
        # I − A·A⁺ projects ΔOD onto what no [ΔHbO2, ΔHHb] can produce.
        self._residual_projector = _frozen(np.eye(n_wl) - design @ self._pinv)

    @property
    def wavelengths_nm(self) -> np.ndarray:
        """Source wavelengths in nm, shape (n_wavelengths,), read-only."""
        return self._wavelengths_nm

    @property
    def dpf(self) -> np.ndarray:
        """Differential pathlength factor per wavelength, shape (n_wavelengths,), read-only."""
        return self._dpf

    @property
    def distance_cm(self) -> float:
        """Source–detector separation in cm."""
        return self._distance_cm

    @property
    def design_matrix(self) -> np.ndarray:
        """A, shape (n_wavelengths, 2), in µM^-1 (columns HbO2, HHb), read-only."""
        return self._design

    @property
    def pseudo_inverse(self) -> np.ndarray:
        """A⁺, shape (2, n_wavelengths), in µM per unit ΔOD, read-only."""
        return self._pinv

    @property
    def condition_number(self) -> float:
        """2-norm condition number of A: how much ΔOD noise is amplified into concentrations."""
        return float(np.linalg.cond(self._design))

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(wavelengths_nm={self._wavelengths_nm.tolist()}, "
            f"dpf={self._dpf.tolist()}, distance_cm={self._distance_cm:g})"
        )

    def solve(self, d_od: ArrayLike) -> MbllResult:
        """Concentration changes from optical-density changes.

        Parameters
        ----------
        d_od : array-like of float, shape (n_wavelengths,) or (n_samples, n_wavelengths)
            ΔOD per wavelength (natural log, as from :func:`delta_od`), in the order of
            ``wavelengths_nm``.

        Returns
        -------
        result : MbllResult
            ``d_hbo2_um``, ``d_hhb_um`` (µM) and ``residual_od`` (norm of the residual, ln
            units), each a 0-d array for a 1-D input and shape (n_samples,) for a 2-D input.
            A sample with a NaN in its ΔOD gives NaN in all three.
        """
        n_wl = self._design.shape[0]
        x = _as_float_array(d_od, "d_od", "an array")
        if x.ndim not in (1, 2) or x.shape[-1] != n_wl:
            raise ValueError(
                f"d_od must have shape ({n_wl},) or (n_samples, {n_wl}), one value per "
                f"wavelength {self._wavelengths_nm.tolist()} nm, got shape {x.shape}"
            )
        rows = x.reshape(-1, n_wl)
        # Row-by-row products summed explicitly (not BLAS matmul), so one sample gives bit-for-bit
        # the same numbers whether it arrives alone or inside a batch.
        conc_um = np.sum(rows[:, None, :] * self._pinv[None, :, :], axis=2)  # (n, 2)
        resid = np.sum(rows[:, None, :] * self._residual_projector[None, :, :], axis=2)
        resid_norm = np.sqrt(np.sum(resid * resid, axis=1))
        sample_shape = x.shape[:-1]
        return MbllResult(
            d_hbo2_um=conc_um[:, 0].reshape(sample_shape),
            d_hhb_um=conc_um[:, 1].reshape(sample_shape),
            residual_od=resid_norm.reshape(sample_shape),
        )


def _frozen(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def _pair(d_hbo2_um: ArrayLike, d_hhb_um: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    hbo2 = _as_float_array(d_hbo2_um, "d_hbo2_um", "a number or an array")
    hhb = _as_float_array(d_hhb_um, "d_hhb_um", "a number or an array")
    if hbo2.shape != hhb.shape:
        raise ValueError(
            f"d_hbo2_um and d_hhb_um must have the same shape, got {hbo2.shape} and {hhb.shape}"
        )
    return hbo2, hhb


def delta_thb_um(d_hbo2_um: ArrayLike, d_hhb_um: ArrayLike) -> np.ndarray:
    """Change in total haemoglobin, ΔtHb = ΔHbO2 + ΔHHb, in µM (a blood-volume index).

    Parameters
    ----------
    d_hbo2_um, d_hhb_um : array-like of float, same shape
        Changes in oxy- and deoxyhaemoglobin, µM.

    Returns
    -------
    d_thb_um : ndarray, same shape
        µM.
    """
    hbo2, hhb = _pair(d_hbo2_um, d_hhb_um)
    return hbo2 + hhb


def oxygenation_index_um(d_hbo2_um: ArrayLike, d_hhb_um: ArrayLike) -> np.ndarray:
    """Oxygenation index, OI = ΔHbO2 − ΔHHb, in µM (falls as the muscle deoxygenates).

    Parameters
    ----------
    d_hbo2_um, d_hhb_um : array-like of float, same shape
        Changes in oxy- and deoxyhaemoglobin, µM.

    Returns
    -------
    oi_um : ndarray, same shape
        µM.
    """
    hbo2, hhb = _pair(d_hbo2_um, d_hhb_um)
    return hbo2 - hhb


def smo2_percent(
    d_hbo2_um: ArrayLike,
    d_hhb_um: ArrayLike,
    *,
    hbo2_rest_um: float = DEFAULT_HBO2_REST_UM,
    hhb_rest_um: float = DEFAULT_HHB_REST_UM,
    impossible: str = "nan",
) -> np.ndarray:
    """ESTIMATED muscle oxygen saturation from changes and an ASSUMED resting baseline.

    ``SmO2 = 100 · (HbO2_0 + ΔHbO2) / (HbO2_0 + ΔHbO2 + HHb_0 + ΔHHb)``

    A single-distance continuous-wave device measures only *changes*; it cannot measure
    absolute concentrations, so it cannot measure absolute saturation. This value is an
    estimate whose level is set by the assumed ``hbo2_rest_um`` and ``hhb_rest_um``; only its
    changes carry information from the measurement. Label it as an estimate wherever shown.

    Parameters
    ----------
    d_hbo2_um, d_hhb_um : array-like of float, same shape
        Changes in oxy- and deoxyhaemoglobin since the resting baseline, µM.
    hbo2_rest_um : float
        Assumed resting oxyhaemoglobin concentration, µM (default 60 µM, see
        ``DEFAULT_HBO2_REST_UM`` for the source).
    hhb_rest_um : float
        Assumed resting deoxyhaemoglobin concentration, µM (default 30 µM, so that the
        resting estimate is 66.7 %).
    impossible : {"nan", "clip"}
        Samples whose implied absolute HbO2 or HHb is negative (the person's true resting
        values exceed the assumed ones): "nan" (default) sets them to NaN and warns;
        "clip" takes a negative absolute concentration as 0, so the estimate saturates at
        0 % or 100 % — for model inputs, which must stay finite.

    Returns
    -------
    smo2 : ndarray, same shape
        Estimated saturation in percent. NaN where the implied absolute HbO2 or HHb would be
        negative or the total non-positive (the assumed baseline cannot be right there).

    Warns
    -----
    RuntimeWarning
        If any sample is set to NaN for that reason.
    """
    hbo2, hhb = _pair(d_hbo2_um, d_hhb_um)
    rest = _as_float_array([hbo2_rest_um, hhb_rest_um], "resting concentrations", "numbers")
    if rest.shape != (2,):
        raise ValueError(
            "hbo2_rest_um and hhb_rest_um must each be a single number (µM), "
            f"got {hbo2_rest_um!r} and {hhb_rest_um!r}"
        )
    if not (np.all(np.isfinite(rest)) and np.all(rest >= 0) and rest.sum() > 0):
        raise ValueError(
            "hbo2_rest_um and hhb_rest_um must be finite, >= 0 µM and not both 0, "
            f"got {hbo2_rest_um} and {hhb_rest_um}"
        )
    if impossible not in ("nan", "clip"):
        raise ValueError(f'impossible must be "nan" or "clip", got {impossible!r}')
    hbo2_abs_um = rest[0] + hbo2
    hhb_abs_um = rest[1] + hhb
    if impossible == "clip":
        hbo2_abs_um = np.maximum(hbo2_abs_um, 0.0)
        hhb_abs_um = np.maximum(hhb_abs_um, 0.0)
        thb_abs_um = hbo2_abs_um + hhb_abs_um
        with np.errstate(invalid="ignore", divide="ignore"):
            return PERCENT_PER_FRACTION * hbo2_abs_um / thb_abs_um  # NaN only if both are 0
    thb_abs_um = hbo2_abs_um + hhb_abs_um
    impossible = (hbo2_abs_um < 0) | (hhb_abs_um < 0) | (thb_abs_um <= 0)
    if np.any(impossible):
        warnings.warn(
            f"{int(np.count_nonzero(impossible))} sample(s) imply negative absolute haemoglobin "
            f"with the assumed resting HbO2={rest[0]:g} µM, HHb={rest[1]:g} µM; "
            "their SmO2 estimate is set to NaN",
            RuntimeWarning,
            stacklevel=2,
        )
    safe_thb_um = np.where(impossible, np.nan, thb_abs_um)
    return PERCENT_PER_FRACTION * np.where(impossible, np.nan, hbo2_abs_um) / safe_thb_um
