"""Modified Beer–Lambert law: light intensities to haemoglobin concentration changes.

The chain follows the seed paper (section 3.2.3) and the design brief (docs/architecture.md):

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
appears.

Pure Python (standard library only), because the board has no numpy (issue 13). Functions
accept numbers, sequences of numbers and numpy arrays; they return Python floats for one
value, tuples of floats for one sample of a per-wavelength quantity, and lists for many
samples. The 2 × n_wavelengths pseudo-inverse is computed once per solver, in closed form.
"""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple, Union

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

# LED peak wavelengths: Ushio SMT750-23, SMT810N-23, SMT870N-23 (seed section 3.1).
DEFAULT_WAVELENGTHS_NM: tuple[float, float, float] = (750.0, 810.0, 870.0)

# Source–detector separation: 30 mm between LED and OPT101 (seed section 3.1).
# This is the straight-line separation d of the MBLL; the DPF carries the longer banana-shaped
# photon path, so d is NOT halved (the seed's "about 15 mm" is a depth, not an MBLL input).
DEFAULT_DISTANCE_CM: float = 3.0

# Differential pathlength factor for adult limb muscle (the design brief's default). Measured
# muscle DPFs are about 3.5–4.5 in the near infrared, e.g. adult calf and forearm by
# phase-resolved spectroscopy (Duncan et al., Phys. Med. Biol. 40:295–304, 1995).
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


# Relative precision of a float (2**-52): the rank test below uses it as numpy.linalg.matrix_rank
# does.
FLOAT_EPS: float = sys.float_info.epsilon

FloatOrSequence = Union[float, Iterable[float]]
#: One value per sample: a float for one sample, a list of floats for many.
FloatOrList = Union[float, list]
#: A matrix as a tuple of rows, each a tuple of floats.
Matrix = tuple[tuple[float, ...], ...]


# --------------------------------------------------------------------------- input conversion


def _length(value: object) -> int | None:
    """len() of a sequence, None for a number (or anything without a length)."""
    if isinstance(value, (float, int, str, bytes)):
        return None
    try:
        return len(value)
    except TypeError:
        return None


def _shape(value: object) -> tuple[int, ...]:
    """numpy-style shape of nested sequences, following the first item at each level."""
    n = _length(value)
    if n is None:
        return ()
    if n == 0:
        return (0,)
    return (n, *_shape(value[0]))


def _as_floats(value: Any, name: str, expected: str) -> tuple[tuple[int, ...], Any]:
    """Numbers to Python floats, keeping the nesting: ``(shape, data)``.

    ``data`` is a float for shape (), a tuple of floats for (n,), a tuple of tuples of floats
    for (m, n), and None for anything deeper (only its shape is reported). The caller's data
    is never kept or changed. Raises TypeError (naming ``expected``) for non-numbers and
    ragged nesting, as ``numpy.array(value, dtype=float)`` would fail on them.
    """
    # Fast paths for what the device itself passes: a float, or a flat tuple/list of numbers.
    if type(value) is float:
        return (), value
    if type(value) is tuple or type(value) is list:
        try:
            return (len(value),), tuple(map(float, value))
        except (TypeError, ValueError):
            pass  # nested, or not numbers: the general path below tells which
    kind = type(value).__name__
    if hasattr(value, "tolist"):  # a numpy array or scalar: one fast conversion
        value = value.tolist()

    def bad() -> TypeError:
        return TypeError(f"{name} must be {expected} of numbers, got {kind}")

    def number(x: object) -> float:
        try:
            return float(x)
        except (TypeError, ValueError):
            raise bad() from None

    if isinstance(value, (str, bytes)):
        raise bad()
    n = _length(value)
    if n is None:
        return (), number(value)
    items = list(value)
    lengths = [_length(item) for item in items]
    if all(k is None for k in lengths):
        return (n,), tuple(number(item) for item in items)
    if any(k is None or k != lengths[0] for k in lengths):
        raise bad()  # ragged
    rows = [list(item) for item in items]
    if any(_length(x) is not None for row in rows for x in row):
        return _shape(items), None
    return (n, lengths[0]), tuple(tuple(number(x) for x in row) for row in rows)


# --------------------------------------------------------------------------- ΔOD


def _neg_ln_ratio(i_t: float, i_0: float) -> float:
    """-ln(I/I0) for a usable intensity, NaN otherwise (I0 already checked > 0)."""
    if not (i_t > 0 and math.isfinite(i_t)):
        return math.nan
    ratio = i_t / i_0
    return -math.log(ratio) if ratio > 0 else math.inf  # ratio 0 only by underflow


def delta_od(
    intensity: Iterable, baseline: Iterable[float], *, invalid: str = "warn"
) -> tuple[float, ...] | list[tuple[float, ...]]:
    """Change in optical density, ΔOD = -ln(I / I0) (seed eq. 5).

    Parameters
    ----------
    intensity : sequence of float, length n_wavelengths, or sequence of such rows
        Detected intensity I, already dark-subtracted (V_t − V_dark), in any linear unit
        (ADC counts, volts) as long as it matches ``baseline``: one sample, or n_samples rows.
    baseline : sequence of float, length n_wavelengths
        Reference intensity I0 per wavelength, dark-subtracted the same way (V_0 − V_dark0),
        e.g. the mean over the first 20 s of rest. Must be finite and > 0.
    invalid : {"warn", "nan"}
        What to do with non-positive or non-finite intensities. "warn" (default): warn if
        some are, raise if all are. "nan": set them to NaN quietly, for a live stream whose
        quality flags already report the cause (sensor off the skin, saturation).

    Returns
    -------
    d_od : tuple of float, length n_wavelengths; or list of such tuples, one per sample
        Optical-density change, natural log (dimensionless), shaped like ``intensity``
        (one sample → one tuple, rows → a list of tuples). Positive when less light comes
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
    shape_t, i_t = _as_floats(intensity, "intensity", "a sequence")
    shape_0, i_0 = _as_floats(baseline, "baseline", "a 1-D sequence")
    if len(shape_t) not in (1, 2):
        raise ValueError(
            "intensity must have shape (n_wavelengths,) or (n_samples, n_wavelengths), "
            f"got shape {shape_t}"
        )
    if len(shape_0) != 1 or shape_0[0] != shape_t[-1]:
        raise ValueError(
            f"baseline must have shape ({shape_t[-1]},), one value per wavelength of "
            f"intensity (shape {shape_t}), got shape {shape_0}"
        )
    if not all(b > 0 and math.isfinite(b) for b in i_0):
        raise ValueError(
            "baseline must be finite and > 0 (dark-subtracted I0), got "
            f"{list(i_0)}; check the dark subtraction and the rest period"
        )
    rows = i_t if len(shape_t) == 2 else (i_t,)
    n_values = len(rows) * shape_t[-1]
    if invalid == "warn":
        n_bad = sum(1 for row in rows for v in row if not (v > 0 and math.isfinite(v)))
        if n_bad and n_bad == n_values:
            raise ValueError(
                f"all {n_values} intensity values are non-positive or non-finite, expected "
                "dark-subtracted intensities > 0; is the sensor on the skin, is the dark "
                "level right?"
            )
        if n_bad:
            warnings.warn(
                f"{n_bad} of {n_values} intensity values are non-positive or non-finite "
                "(expected dark-subtracted intensities > 0); their ΔOD is set to NaN",
                RuntimeWarning,
                stacklevel=2,
            )
    out = [tuple(_neg_ln_ratio(v, b) for v, b in zip(row, i_0)) for row in rows]
    return out if len(shape_t) == 2 else out[0]


# --------------------------------------------------------------------------- design matrix


def _as_wavelength_vector(wavelengths_nm: Iterable[float]) -> tuple[float, ...]:
    shape, wl = _as_floats(wavelengths_nm, "wavelengths_nm", "a 1-D sequence")
    if len(shape) != 1 or shape[0] < MIN_WAVELENGTHS:
        raise ValueError(
            f"wavelengths_nm must be 1-D with at least {MIN_WAVELENGTHS} wavelengths (nm), "
            f"got shape {shape}"
        )
    if len(set(wl)) != len(wl):
        raise ValueError(f"wavelengths_nm must be distinct, got {list(wl)}")
    return wl


def _as_dpf(dpf: FloatOrSequence, n_wavelengths: int) -> tuple[float, ...]:
    shape, values = _as_floats(dpf, "dpf", "a number or a 1-D sequence")
    if len(shape) > 1 or (len(shape) == 1 and shape[0] != n_wavelengths):
        raise ValueError(
            f"dpf must be a scalar or have one value per wavelength ({n_wavelengths}), "
            f"got shape {shape}"
        )
    dpf_t = (values,) * n_wavelengths if shape == () else values
    if not all(math.isfinite(v) and v > 0 for v in dpf_t):
        raise ValueError(f"dpf must be finite and > 0 (dimensionless), got {list(dpf_t)}")
    if any(v < 1 for v in dpf_t):
        warnings.warn(
            f"dpf {list(dpf_t)} is below 1, i.e. a photon path shorter than the "
            "source–detector separation; expected about 3–6 for tissue",
            RuntimeWarning,
            stacklevel=3,
        )
    return dpf_t


def _as_distance_cm(distance_cm: float) -> float:
    shape, d_cm = _as_floats(distance_cm, "distance_cm", "a single number")
    if shape != ():
        raise ValueError(f"distance_cm must be a scalar (cm), got shape {shape}")
    if not (math.isfinite(d_cm) and d_cm > 0):
        raise ValueError(f"distance_cm must be finite and > 0 (cm), got {d_cm}")
    if d_cm > MAX_PLAUSIBLE_DISTANCE_CM:
        warnings.warn(
            f"distance_cm={d_cm:g} cm is implausibly large for CW NIRS (expected a few cm); "
            "was it given in mm?",
            RuntimeWarning,
            stacklevel=3,
        )
    return d_cm


def _design(
    wl: tuple[float, ...],
    dpf: tuple[float, ...],
    d_cm: float,
    fwhm_nm: FloatOrSequence | None,
) -> Matrix:
    """A from validated inputs: row i = ε_nat(λi) · DPF_i · d, in µM^-1."""
    eps_nat_per_um = extinction_natural_per_um(wl, fwhm_nm=fwhm_nm)  # cm^-1 µM^-1, ln
    rows = []
    for (eps_hbo2, eps_hhb), dpf_i in zip(eps_nat_per_um, dpf):
        pathlength_cm = dpf_i * d_cm  # mean photon path at this wavelength, cm
        rows.append((eps_hbo2 * pathlength_cm, eps_hhb * pathlength_cm))
    return tuple(rows)


def mbll_design_matrix(
    wavelengths_nm: Iterable[float] = DEFAULT_WAVELENGTHS_NM,
    *,
    dpf: FloatOrSequence = DEFAULT_DPF,
    distance_cm: float = DEFAULT_DISTANCE_CM,
    fwhm_nm: FloatOrSequence | None = None,
) -> Matrix:
    """Design matrix of the modified Beer–Lambert law, ΔOD = A · [ΔHbO2, ΔHHb].

    Row i is ``A[i] = ε_nat(λi) · DPF_i · d`` (seed eq. 4, columns reordered to HbO2, HHb).

    Parameters
    ----------
    wavelengths_nm : sequence of float, length n_wavelengths
        Source wavelengths (LED band centres) in nm; at least 3, distinct, within 650–1000 nm.
    dpf : float or sequence of float, length n_wavelengths
        Differential pathlength factor (dimensionless), one for all wavelengths or one each.
    distance_cm : float
        Source–detector separation in cm.
    fwhm_nm : float or sequence of float, optional
        LED emission FWHM in nm; if given, ε is weighted over a Gaussian band
        (:func:`device.extinction.band_weighted_extinction`), otherwise nominal.

    Returns
    -------
    design : tuple of (float, float), length n_wavelengths
        One row per wavelength: ΔOD (natural log, dimensionless) per µM of (HbO2, HHb),
        i.e. in µM^-1.
    """
    wl = _as_wavelength_vector(wavelengths_nm)
    dpf_t = _as_dpf(dpf, len(wl))
    d_cm = _as_distance_cm(distance_cm)
    return _design(wl, dpf_t, d_cm, fwhm_nm)


# --------------------------------------------------------------------------- solver


class MbllResult(NamedTuple):
    """Output of :class:`MbllSolver`: floats for one sample, lists of floats for many."""

    d_hbo2_um: FloatOrList
    """Change in oxyhaemoglobin concentration, µM."""
    d_hhb_um: FloatOrList
    """Change in deoxyhaemoglobin concentration, µM."""
    residual_od: FloatOrList
    """Euclidean norm of the least-squares residual ΔOD − A·x over wavelengths (ln units)."""


class MbllSolver:
    """Least-squares modified Beer–Lambert solver for three or more wavelengths.

    Builds the design matrix A once (:func:`mbll_design_matrix`), precomputes its
    Moore–Penrose pseudo-inverse A⁺ and the residual projector I − A·A⁺, then maps ΔOD to
    concentration changes sample by sample (:meth:`solve`) or in batches
    (:meth:`solve_many`), with bit-identical results: a batch is solved one row at a time.

    For A with full column rank, A⁺ = (AᵀA)⁻¹·Aᵀ, and the 2 × 2 Gram matrix
    AᵀA = [[g11, g12], [g12, g22]] is inverted in closed form,
    (AᵀA)⁻¹ = [[g22, −g12], [−g12, g11]] / det. Its determinant is summed from the 2 × 2
    minors of A (Cauchy–Binet: det(AᵀA) = Σ_{i<j} (A_i1·A_j2 − A_j1·A_i2)²) instead of as
    g11·g22 − g12², which loses digits to cancellation when the two ε columns are nearly
    parallel. The singular values of A are the square roots of the eigenvalues of AᵀA:
    λ_max = (g11 + g22)/2 + √(((g11 − g22)/2)² + g12²) and λ_min = det/λ_max.

    Parameters
    ----------
    wavelengths_nm : sequence of float, length n_wavelengths
        Source wavelengths in nm (default 750, 810, 870 nm).
    dpf : float or sequence of float, length n_wavelengths
        Differential pathlength factor (default 4.0).
    distance_cm : float
        Source–detector separation in cm (default 3.0).
    fwhm_nm : float or sequence of float, optional
        LED emission FWHM in nm for band-weighted ε; None uses nominal ε.

    Raises
    ------
    ValueError
        If the inputs are invalid, or the wavelengths cannot separate HbO2 from HHb
        (design matrix of rank < 2).
    """

    def __init__(
        self,
        wavelengths_nm: Iterable[float] = DEFAULT_WAVELENGTHS_NM,
        *,
        dpf: FloatOrSequence = DEFAULT_DPF,
        distance_cm: float = DEFAULT_DISTANCE_CM,
        fwhm_nm: FloatOrSequence | None = None,
    ) -> None:
        wl = _as_wavelength_vector(wavelengths_nm)
        dpf_t = _as_dpf(dpf, len(wl))
        d_cm = _as_distance_cm(distance_cm)
        design = _design(wl, dpf_t, d_cm, fwhm_nm)
        n_wl = len(design)

        # Gram matrix AᵀA, µM^-2.
        g11 = g12 = g22 = 0.0
        for a1, a2 in design:
            g11 += a1 * a1
            g12 += a1 * a2
            g22 += a2 * a2
        det = 0.0  # det(AᵀA) by Cauchy–Binet, µM^-4
        for i in range(n_wl):
            for j in range(i + 1, n_wl):
                minor = design[i][0] * design[j][1] - design[j][0] * design[i][1]
                det += minor * minor
        lambda_max = 0.5 * (g11 + g22) + math.hypot(0.5 * (g11 - g22), g12)
        # Rank < 2 exactly when numpy.linalg.matrix_rank says so: the smaller singular value
        # σ_min = √(det/λ_max) is at most σ_max·max(n_wl, 2)·eps, σ_max = √λ_max.
        if not det > (lambda_max * max(n_wl, 2) * FLOAT_EPS) ** 2:
            raise ValueError(
                "wavelengths_nm cannot separate HbO2 from HHb (design matrix rank < 2), "
                f"got {list(wl)} nm"
            )
        # A⁺ = (AᵀA)⁻¹·Aᵀ, shape 2 × n_wl, µM per unit ΔOD.
        pinv = (
            tuple((g22 * a1 - g12 * a2) / det for a1, a2 in design),
            tuple((g11 * a2 - g12 * a1) / det for a1, a2 in design),
        )
        # I − A·A⁺ projects ΔOD onto what no [ΔHbO2, ΔHHb] can produce.
        projector = tuple(
            tuple(
                (1.0 if i == j else 0.0) - (design[i][0] * pinv[0][j] + design[i][1] * pinv[1][j])
                for j in range(n_wl)
            )
            for i in range(n_wl)
        )
        self._wavelengths_nm = wl
        self._dpf = dpf_t
        self._distance_cm = d_cm
        self._design = design
        self._pinv = pinv
        self._residual_projector = projector
        # 2-norm condition number σ_max/σ_min = λ_max/√det.
        self._condition_number = lambda_max / math.sqrt(det)

    @property
    def wavelengths_nm(self) -> tuple[float, ...]:
        """Source wavelengths in nm, one per row of A."""
        return self._wavelengths_nm

    @property
    def dpf(self) -> tuple[float, ...]:
        """Differential pathlength factor per wavelength."""
        return self._dpf

    @property
    def distance_cm(self) -> float:
        """Source–detector separation in cm."""
        return self._distance_cm

    @property
    def design_matrix(self) -> Matrix:
        """A: n_wavelengths rows of (HbO2, HHb), in µM^-1."""
        return self._design

    @property
    def pseudo_inverse(self) -> Matrix:
        """A⁺: 2 rows (HbO2, HHb) of n_wavelengths, in µM per unit ΔOD."""
        return self._pinv

    @property
    def residual_projector(self) -> Matrix:
        """I − A·A⁺: n_wavelengths × n_wavelengths, dimensionless (ΔOD → residual ΔOD)."""
        return self._residual_projector

    @property
    def condition_number(self) -> float:
        """2-norm condition number of A: how much ΔOD noise is amplified into concentrations."""
        return self._condition_number

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(wavelengths_nm={list(self._wavelengths_nm)}, "
            f"dpf={list(self._dpf)}, distance_cm={self._distance_cm:g})"
        )

    def _solve_row(self, x: tuple[float, ...]) -> tuple[float, float, float]:
        # Sums run over the wavelengths left to right, as numpy's sum over a short axis did.
        p_hbo2, p_hhb = self._pinv
        d_hbo2 = d_hhb = 0.0
        for x_j, p1_j, p2_j in zip(x, p_hbo2, p_hhb):
            d_hbo2 += x_j * p1_j
            d_hhb += x_j * p2_j
        sq = 0.0
        for row in self._residual_projector:
            r = 0.0
            for x_j, p_j in zip(x, row):
                r += x_j * p_j
            sq += r * r
        return d_hbo2, d_hhb, math.sqrt(sq)

    def _shape_error(self, shape: tuple[int, ...]) -> ValueError:
        n_wl = len(self._design)
        return ValueError(
            f"d_od must have shape ({n_wl},) or (n_samples, {n_wl}), one value per "
            f"wavelength {list(self._wavelengths_nm)} nm, got shape {shape}"
        )

    def solve(self, d_od: Iterable) -> MbllResult:
        """Concentration changes from optical-density changes.

        Parameters
        ----------
        d_od : sequence of float, length n_wavelengths (or a sequence of such rows)
            ΔOD per wavelength (natural log, as from :func:`delta_od`), in the order of
            ``wavelengths_nm``. Rows are passed on to :meth:`solve_many`.

        Returns
        -------
        result : MbllResult
            ``d_hbo2_um``, ``d_hhb_um`` (µM) and ``residual_od`` (norm of the residual, ln
            units): floats for one sample, lists of floats (one per row) for rows. A sample
            with a NaN in its ΔOD gives NaN in all three.
        """
        shape, x = _as_floats(d_od, "d_od", "a sequence")
        if len(shape) == 2 and shape[1] == len(self._design):
            return self._solve_rows(x)
        if shape != (len(self._design),):
            raise self._shape_error(shape)
        return MbllResult(*self._solve_row(x))

    def solve_many(self, rows: Iterable) -> MbllResult:
        """:meth:`solve` for n_samples rows of ΔOD, each solved exactly as :meth:`solve` would.

        Parameters
        ----------
        rows : sequence of rows, each a sequence of n_wavelengths floats (may be empty)

        Returns
        -------
        result : MbllResult
            Three lists of floats, one item per row.
        """
        shape, x = _as_floats(rows, "d_od", "a sequence")
        if shape == (0,):
            return MbllResult([], [], [])
        if len(shape) != 2 or shape[1] != len(self._design):
            raise self._shape_error(shape)
        return self._solve_rows(x)

    def _solve_rows(self, rows: Sequence[tuple[float, ...]]) -> MbllResult:
        hbo2, hhb, resid = [], [], []
        for row in rows:
            a, b, c = self._solve_row(row)
            hbo2.append(a)
            hhb.append(b)
            resid.append(c)
        return MbllResult(hbo2, hhb, resid)


# --------------------------------------------------------------------------- derived signals


def _pair(
    d_hbo2_um: FloatOrSequence, d_hhb_um: FloatOrSequence
) -> tuple[bool, tuple[float, ...], tuple[float, ...]]:
    """(one_sample, hbo2 values, hhb values); one sample = both plain numbers."""
    shape_a, hbo2 = _as_floats(d_hbo2_um, "d_hbo2_um", "a number or a 1-D sequence")
    shape_b, hhb = _as_floats(d_hhb_um, "d_hhb_um", "a number or a 1-D sequence")
    if shape_a != shape_b:
        raise ValueError(
            f"d_hbo2_um and d_hhb_um must have the same shape, got {shape_a} and {shape_b}"
        )
    if len(shape_a) > 1:
        raise ValueError(
            "d_hbo2_um and d_hhb_um must be numbers or 1-D sequences (one value per sample), "
            f"got shape {shape_a}"
        )
    if shape_a == ():
        return True, (hbo2,), (hhb,)
    return False, hbo2, hhb


def delta_thb_um(d_hbo2_um: FloatOrSequence, d_hhb_um: FloatOrSequence) -> FloatOrList:
    """Change in total haemoglobin, ΔtHb = ΔHbO2 + ΔHHb, in µM (a blood-volume index).

    Parameters
    ----------
    d_hbo2_um, d_hhb_um : float, or sequences of float of the same length
        Changes in oxy- and deoxyhaemoglobin, µM.

    Returns
    -------
    d_thb_um : float for numbers, list of float for sequences
        µM.
    """
    one, hbo2, hhb = _pair(d_hbo2_um, d_hhb_um)
    out = [a + b for a, b in zip(hbo2, hhb)]
    return out[0] if one else out


def oxygenation_index_um(d_hbo2_um: FloatOrSequence, d_hhb_um: FloatOrSequence) -> FloatOrList:
    """Oxygenation index, OI = ΔHbO2 − ΔHHb, in µM (falls as the muscle deoxygenates).

    Parameters
    ----------
    d_hbo2_um, d_hhb_um : float, or sequences of float of the same length
        Changes in oxy- and deoxyhaemoglobin, µM.

    Returns
    -------
    oi_um : float for numbers, list of float for sequences
        µM.
    """
    one, hbo2, hhb = _pair(d_hbo2_um, d_hhb_um)
    out = [a - b for a, b in zip(hbo2, hhb)]
    return out[0] if one else out


def smo2_percent(
    d_hbo2_um: FloatOrSequence,
    d_hhb_um: FloatOrSequence,
    *,
    hbo2_rest_um: float = DEFAULT_HBO2_REST_UM,
    hhb_rest_um: float = DEFAULT_HHB_REST_UM,
    impossible: str = "nan",
) -> FloatOrList:
    """ESTIMATED muscle oxygen saturation from changes and an ASSUMED resting baseline.

    ``SmO2 = 100 · (HbO2_0 + ΔHbO2) / (HbO2_0 + ΔHbO2 + HHb_0 + ΔHHb)``

    A single-distance continuous-wave device measures only *changes*; it cannot measure
    absolute concentrations, so it cannot measure absolute saturation. This value is an
    estimate whose level is set by the assumed ``hbo2_rest_um`` and ``hhb_rest_um``; only its
    changes carry information from the measurement. Label it as an estimate wherever shown.

    Parameters
    ----------
    d_hbo2_um, d_hhb_um : float, or sequences of float of the same length
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
    smo2 : float for numbers, list of float for sequences
        Estimated saturation in percent. NaN where the implied absolute HbO2 or HHb would be
        negative or the total non-positive (the assumed baseline cannot be right there).

    Warns
    -----
    RuntimeWarning
        If any sample is set to NaN for that reason.
    """
    one, hbo2, hhb = _pair(d_hbo2_um, d_hhb_um)
    shape, rest = _as_floats([hbo2_rest_um, hhb_rest_um], "resting concentrations", "numbers")
    if shape != (2,):
        raise ValueError(
            "hbo2_rest_um and hhb_rest_um must each be a single number (µM), "
            f"got {hbo2_rest_um!r} and {hhb_rest_um!r}"
        )
    hbo2_rest, hhb_rest = rest
    if not (
        math.isfinite(hbo2_rest)
        and math.isfinite(hhb_rest)
        and hbo2_rest >= 0
        and hhb_rest >= 0
        and hbo2_rest + hhb_rest > 0
    ):
        raise ValueError(
            "hbo2_rest_um and hhb_rest_um must be finite, >= 0 µM and not both 0, "
            f"got {hbo2_rest_um} and {hhb_rest_um}"
        )
    if impossible not in ("nan", "clip"):
        raise ValueError(f'impossible must be "nan" or "clip", got {impossible!r}')
    out = []
    if impossible == "clip":
        for d_hbo2, d_hhb in zip(hbo2, hhb):
            hbo2_abs_um = hbo2_rest + d_hbo2
            hhb_abs_um = hhb_rest + d_hhb
            hbo2_abs_um = 0.0 if hbo2_abs_um < 0.0 else hbo2_abs_um  # NaN stays NaN
            hhb_abs_um = 0.0 if hhb_abs_um < 0.0 else hhb_abs_um
            thb_abs_um = hbo2_abs_um + hhb_abs_um
            # NaN only if both are 0 (or a change is NaN).
            out.append(
                PERCENT_PER_FRACTION * hbo2_abs_um / thb_abs_um if thb_abs_um != 0 else math.nan
            )
        return out[0] if one else out
    n_impossible = 0
    for d_hbo2, d_hhb in zip(hbo2, hhb):
        hbo2_abs_um = hbo2_rest + d_hbo2
        hhb_abs_um = hhb_rest + d_hhb
        thb_abs_um = hbo2_abs_um + hhb_abs_um
        if hbo2_abs_um < 0 or hhb_abs_um < 0 or thb_abs_um <= 0:
            n_impossible += 1
            out.append(math.nan)
        else:
            out.append(PERCENT_PER_FRACTION * hbo2_abs_um / thb_abs_um)
    if n_impossible:
        warnings.warn(
            f"{n_impossible} sample(s) imply negative absolute haemoglobin "
            f"with the assumed resting HbO2={hbo2_rest:g} µM, HHb={hhb_rest:g} µM; "
            "their SmO2 estimate is set to NaN",
            RuntimeWarning,
            stacklevel=2,
        )
    return out[0] if one else out
