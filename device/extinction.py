"""Molar extinction coefficients of oxy- and deoxyhaemoglobin.

The table shipped in ``device/data/hemoglobin_extinction_prahl.csv`` is Scott Prahl's
compilation (Oregon Medical Laser Center) of the measurements of W. B. Gratzer and
N. Kollias, the source cited by the seed paper (its ref. [16], section 3.2.3). It holds
*decadic* molar extinction coefficients in cm^-1/(mol/L) from 650 to 1000 nm in 2 nm steps,
columns HbO2 then HHb.

Everything here returns coefficients with columns ``[HbO2, HHb]``: a tuple of rows, one
``(hbo2, hhb)`` pair of floats per wavelength. Note that the seed's matrix equation (4)
orders its columns the other way round ([Hb, HbO2]); this module and :mod:`device.mbll` use
HbO2 first throughout.

Only :func:`extinction_natural_per_um` changes units: it is the single place where the
decadic, per-molar table value becomes the natural-log, per-micromolar coefficient that
goes with ΔOD = -ln(I/I0).

Pure Python (standard library only: ``csv``, ``math``, ``bisect``), because the board has
no numpy (issue 13). Inputs may be any sequence of numbers, numpy arrays included; results
are tuples of Python floats.
"""

from __future__ import annotations

import bisect
import csv
import functools
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Union

__all__ = [
    "BAND_EXTENT_SIGMAS",
    "LN10",
    "TABLE_PATH",
    "UM_PER_M",
    "band_weighted_extinction",
    "extinction_decadic",
    "extinction_natural_per_um",
    "extinction_table",
]

# ln(10): converts decadic absorbance (log10) to natural-log absorbance (ln).
# A_ln = ln(10) * A_log10, because ln(x) = ln(10) * log10(x).
# Exact, not rounded (MNE's 0.2303 is a rounded 1/ln(10)).
LN10: float = math.log(10.0)

# Micromoles per mole (SI prefix micro = 1e-6): 1 mol/L = 1e6 µmol/L.
UM_PER_M: float = 1.0e6

# FWHM of a Gaussian in units of its standard deviation: 2*sqrt(2*ln 2) ≈ 2.3548.
FWHM_PER_SIGMA: float = 2.0 * math.sqrt(2.0 * math.log(2.0))

# How far (in standard deviations) an LED band must fit inside the table on each side of its
# centre: ±3 σ holds 99.73 % of a Gaussian's power, so the tails left out are negligible.
BAND_EXTENT_SIGMAS: float = 3.0

TABLE_PATH: Path = Path(__file__).resolve().parent / "data" / "hemoglobin_extinction_prahl.csv"

_EXPECTED_HEADER = ("wavelength_nm", "hbo2", "hhb")

_SQRT2 = math.sqrt(2.0)
_SQRT_2PI = math.sqrt(2.0 * math.pi)

FloatOrSequence = Union[float, Iterable[float]]
#: Rows of ``(hbo2, hhb)`` coefficients, one per wavelength.
EpsRows = tuple[tuple[float, float], ...]


@functools.lru_cache(maxsize=1)
def _load_table() -> tuple[tuple[float, ...], EpsRows]:
    """Read and check the CSV once; return (wavelength_nm, eps_decadic) as tuples."""
    with TABLE_PATH.open(encoding="utf-8", newline="") as fh:
        lines = [
            (line_no, raw)
            for line_no, raw in enumerate(fh, start=1)
            if raw.strip() and not raw.lstrip().startswith("#")
        ]
    wavelength_nm: list[float] = []
    eps_decadic: list[tuple[float, float]] = []
    header_seen = False
    for (line_no, raw), row in zip(lines, csv.reader(raw for _, raw in lines)):
        line = raw.strip()
        fields = tuple(f.strip() for f in row)
        if not header_seen:
            if fields != _EXPECTED_HEADER:
                raise ValueError(
                    f"{TABLE_PATH}:{line_no}: expected header {','.join(_EXPECTED_HEADER)!r}, "
                    f"got {line!r}"
                )
            header_seen = True
            continue
        if len(fields) != len(_EXPECTED_HEADER):
            raise ValueError(
                f"{TABLE_PATH}:{line_no}: expected {len(_EXPECTED_HEADER)} comma-separated "
                f"values, got {len(fields)} in {line!r}"
            )
        try:
            wl, hbo2, hhb = (float(f) for f in fields)
        except ValueError:
            raise ValueError(
                f"{TABLE_PATH}:{line_no}: expected three numbers, got {line!r}"
            ) from None
        wavelength_nm.append(wl)
        eps_decadic.append((hbo2, hhb))
    if len(wavelength_nm) < 2:
        raise ValueError(f"{TABLE_PATH}: expected at least 2 data rows, got {len(wavelength_nm)}")
    if not all(b > a for a, b in zip(wavelength_nm, wavelength_nm[1:])):
        raise ValueError(f"{TABLE_PATH}: wavelengths must be strictly increasing")
    if not all(math.isfinite(e) and e > 0 for row in eps_decadic for e in row):
        raise ValueError(f"{TABLE_PATH}: extinction coefficients must be finite and positive")
    return tuple(wavelength_nm), tuple(eps_decadic)


@functools.lru_cache(maxsize=1)
def _segment_slopes() -> EpsRows:
    """Slope of each column between table rows k and k+1, cm^-1 M^-1 nm^-1 (one per segment)."""
    table_nm, eps = _load_table()
    return tuple(
        (
            (eps[k + 1][0] - eps[k][0]) / (table_nm[k + 1] - table_nm[k]),
            (eps[k + 1][1] - eps[k][1]) / (table_nm[k + 1] - table_nm[k]),
        )
        for k in range(len(table_nm) - 1)
    )


def extinction_table() -> tuple[tuple[float, ...], EpsRows]:
    """Return the tabulated extinction coefficients as stored.

    Returns
    -------
    wavelength_nm : tuple of float, length n_rows
        Table wavelengths in nm, strictly increasing (650–1000 nm, 2 nm steps).
    eps_decadic : tuple of (float, float), length n_rows
        Decadic molar extinction coefficients in cm^-1/(mol/L), one ``(hbo2, hhb)`` pair
        per row.

    Notes
    -----
    Both are tuples, so nothing a caller does to them can change later calls.
    """
    return _load_table()


def _as_vector(value: FloatOrSequence, name: str, expected: str) -> tuple[float, ...]:
    """A number or a 1-D sequence of numbers as a tuple of floats (a number gives one item).

    Raises TypeError for things that are not numbers (``expected`` describes what is) and
    ValueError, naming the shape, for nested (2-D or deeper) sequences.
    """
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be {expected}, got {type(value).__name__}")
    if hasattr(value, "tolist"):  # a numpy array or scalar: one fast conversion
        value = value.tolist()
    try:
        items = list(value)
    except TypeError:
        items = [value]
    out = []
    for item in items:
        if isinstance(item, (float, int)):
            out.append(float(item))
            continue
        if not isinstance(item, (str, bytes)):
            try:
                inner = len(item)
            except TypeError:
                inner = None
            if inner is not None:
                raise ValueError(
                    f"{name} must be a scalar or 1-D (n_wavelengths,), "
                    f"got shape {(len(items), inner)}"
                )
        try:
            out.append(float(item))
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be {expected}, got {type(value).__name__}") from None
    return tuple(out)


def _as_wavelengths_nm(wavelengths_nm: FloatOrSequence, name: str) -> tuple[float, ...]:
    """Validate wavelengths: scalar or 1-D, finite, inside the table range."""
    wl = _as_vector(wavelengths_nm, name, "a number or a 1-D sequence of numbers (nm)")
    if not wl:
        raise ValueError(f"{name} must hold at least one wavelength, got an empty array")
    if not all(math.isfinite(w) for w in wl):
        raise ValueError(f"{name} must be finite, got {list(wl)}")
    table_nm, _ = _load_table()
    lo_nm, hi_nm = table_nm[0], table_nm[-1]
    outside = [w for w in wl if w < lo_nm or w > hi_nm]
    if outside:
        raise ValueError(
            f"{name} must lie within the extinction table's {lo_nm:g}–{hi_nm:g} nm, "
            f"got {outside} nm"
        )
    return wl


def _interp(x: float, xp: tuple[float, ...], fp: tuple[float, ...]) -> float:
    """``numpy.interp`` for one point of a strictly increasing, finite table.

    As numpy does it: exact table values at the tabulated points (and at or past the ends,
    which the callers' range checks exclude), otherwise ``slope·(x − xp[j]) + fp[j]`` on the
    segment ``xp[j] ≤ x < xp[j+1]``.
    """
    if x >= xp[-1]:
        return fp[-1]
    if x <= xp[0]:
        return fp[0]
    j = bisect.bisect_right(xp, x) - 1
    if xp[j] == x:
        return fp[j]
    slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j])
    return slope * (x - xp[j]) + fp[j]


def extinction_decadic(wavelengths_nm: FloatOrSequence) -> EpsRows:
    """Decadic molar extinction coefficients of HbO2 and HHb at given wavelengths.

    Parameters
    ----------
    wavelengths_nm : float or sequence of float, length n_wavelengths
        Wavelengths in nm, within the table's 650–1000 nm.

    Returns
    -------
    eps_decadic : tuple of (float, float), length n_wavelengths
        Extinction coefficients in cm^-1/(mol/L), decadic (base-10 absorbance), one
        ``(hbo2, hhb)`` pair per wavelength. Linearly interpolated between the 2 nm table
        rows (as ``numpy.interp``); exact table values at the tabulated wavelengths. A scalar
        input gives one row.

    Raises
    ------
    ValueError
        If a wavelength is non-finite or outside the table.
    """
    wl = _as_wavelengths_nm(wavelengths_nm, "wavelengths_nm")
    table_nm, eps = _load_table()
    hbo2 = tuple(row[0] for row in eps)
    hhb = tuple(row[1] for row in eps)
    return tuple((_interp(w, table_nm, hbo2), _interp(w, table_nm, hhb)) for w in wl)


def _as_fwhm_nm(fwhm_nm: FloatOrSequence, n_bands: int) -> tuple[float, ...]:
    """Validate band widths: scalar or one per band, finite and positive; return n values."""
    fwhm = _as_vector(fwhm_nm, "fwhm_nm", "a number or a sequence of numbers (nm)")
    if len(fwhm) not in (1, n_bands):
        raise ValueError(
            f"fwhm_nm must be a scalar or have one value per wavelength ({n_bands}), "
            f"got shape ({len(fwhm)},)"
        )
    if not all(math.isfinite(f) and f > 0 for f in fwhm):
        raise ValueError(f"fwhm_nm must be finite and > 0 nm, got {list(fwhm)}")
    return fwhm * n_bands if len(fwhm) == 1 else fwhm


# Standard normal CDF and PDF from the stdlib (no scipy on the device): Φ(z) = ½·(1 + erf(z/√2)),
# φ(z) = exp(−z²/2)/√(2π).
def _normal_cdf(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / _SQRT2))


def _normal_pdf(z: float) -> float:
    return math.exp(-0.5 * z * z) / _SQRT_2PI


def band_weighted_extinction(centres_nm: FloatOrSequence, fwhm_nm: FloatOrSequence) -> EpsRows:
    """Extinction coefficients averaged over Gaussian LED emission bands.

    A real LED is not monochromatic: near-infrared LEDs typically emit a band 20–40 nm wide
    (FWHM). To first order the absorbance seen through such a band is the emission-weighted
    mean of ε, which this function returns. The weighting is a Gaussian of the given centre
    and FWHM; the table (linearly interpolated between its 2 nm rows, as in
    :func:`extinction_decadic`) is integrated against it exactly, segment by segment, so the
    result tends to the nominal interpolated ε as the FWHM tends to zero (linearly in the FWHM
    when the centre sits on a table row, where the interpolant has a kink).

    Parameters
    ----------
    centres_nm : float or sequence of float, length n_bands
        Band centre (peak emission) wavelengths in nm.
    fwhm_nm : float or sequence of float, length n_bands
        Full width at half maximum of each band in nm (> 0). A scalar applies to all bands.

    Returns
    -------
    eps_decadic : tuple of (float, float), length n_bands
        Band-averaged decadic extinction coefficients in cm^-1/(mol/L), one ``(hbo2, hhb)``
        pair per band.

    Raises
    ------
    ValueError
        If a band's centre ± ``BAND_EXTENT_SIGMAS`` standard deviations (99.7 % of its power)
        runs off the table's wavelength range, or if a width is not positive.

    Notes
    -----
    The detector's spectral responsivity, and the spectral reshaping of the light by the tissue
    itself, are ignored; both would tilt the effective weighting slightly.
    """
    centres = _as_wavelengths_nm(centres_nm, "centres_nm")
    fwhm = _as_fwhm_nm(fwhm_nm, len(centres))
    sigmas_nm = [w / FWHM_PER_SIGMA for w in fwhm]
    table_nm, eps = _load_table()
    lo_nm, hi_nm = table_nm[0], table_nm[-1]
    off = []
    for c, w, s in zip(centres, fwhm, sigmas_nm):
        band_lo_nm = c - BAND_EXTENT_SIGMAS * s
        band_hi_nm = c + BAND_EXTENT_SIGMAS * s
        if band_lo_nm < lo_nm or band_hi_nm > hi_nm:
            off.append(f"{c:g} nm (FWHM {w:g} nm) spans {band_lo_nm:.1f}–{band_hi_nm:.1f} nm")
    if off:
        raise ValueError(
            f"LED band must lie within the extinction table's {lo_nm:g}–{hi_nm:g} nm "
            f"(centre ± {BAND_EXTENT_SIGMAS:g} σ); got {', '.join(off)}"
        )

    # Segment k runs from a_k to b_k, where ε(λ) = ε(a_k) + s_k·(λ − a_k) (linear interpolation).
    # With z = (λ − c)/σ and φ, Φ the standard normal pdf and cdf, the Gaussian-weighted integral
    # over the segment is
    #     [ε(a_k) + s_k·(c − a_k)]·[Φ(z_b) − Φ(z_a)] + s_k·σ·[φ(z_a) − φ(z_b)],
    # and dividing the sum over segments by the total weight Σ[Φ(z_b) − Φ(z_a)] normalises it.
    # b_k is a_{k+1}, so Φ and φ are evaluated once per table row.
    slopes = _segment_slopes()  # cm^-1 M^-1 nm^-1
    out = []
    for c, sigma_nm in zip(centres, sigmas_nm):
        z = [(x - c) / sigma_nm for x in table_nm]
        cdf = [_normal_cdf(zi) for zi in z]
        pdf = [_normal_pdf(zi) for zi in z]
        integral_hbo2 = integral_hhb = total_weight = 0.0
        for k, (s_hbo2, s_hhb) in enumerate(slopes):
            weight = cdf[k + 1] - cdf[k]
            pdf_drop = pdf[k] - pdf[k + 1]
            offset_nm = c - table_nm[k]
            spread = sigma_nm * pdf_drop
            integral_hbo2 += (eps[k][0] + s_hbo2 * offset_nm) * weight + s_hbo2 * spread
            integral_hhb += (eps[k][1] + s_hhb * offset_nm) * weight + s_hhb * spread
            total_weight += weight
        out.append((integral_hbo2 / total_weight, integral_hhb / total_weight))
    return tuple(out)


def extinction_natural_per_um(
    wavelengths_nm: FloatOrSequence, *, fwhm_nm: FloatOrSequence | None = None
) -> EpsRows:
    """Natural-log extinction coefficients per micromolar, for use with ln-based ΔOD.

    This is the one place in the project where the decadic per-molar table value is converted:

        ε_nat [cm^-1 µM^-1] = ε_dec [cm^-1 M^-1] · ln(10) / (1e6 µM/M)

    so that ΔOD = -ln(I/I0) = ε_nat · Δc[µM] · DPF · d[cm].

    Parameters
    ----------
    wavelengths_nm : float or sequence of float, length n_wavelengths
        Wavelengths (or LED band centres) in nm, within 650–1000 nm.
    fwhm_nm : float or sequence of float, optional
        If given, the emission FWHM of each source in nm, and ε is band-weighted with
        :func:`band_weighted_extinction`; if None (default), the nominal ε at each wavelength
        from :func:`extinction_decadic` is used.

    Returns
    -------
    eps_natural_per_um : tuple of (float, float), length n_wavelengths
        Extinction coefficients in cm^-1/µM, natural-log (base e), one ``(hbo2, hhb)`` pair
        per wavelength.
    """
    if fwhm_nm is None:
        eps_decadic_per_m = extinction_decadic(wavelengths_nm)  # cm^-1 (mol/L)^-1, log10
    else:
        eps_decadic_per_m = band_weighted_extinction(wavelengths_nm, fwhm_nm)
    # cm^-1 M^-1 (log10)  × LN10 → cm^-1 M^-1 (ln);  ÷ UM_PER_M → cm^-1 µM^-1 (ln)
    return tuple((hbo2 * LN10 / UM_PER_M, hhb * LN10 / UM_PER_M) for hbo2, hhb in eps_decadic_per_m)
