"""Molar extinction coefficients of oxy- and deoxyhaemoglobin.

The table shipped in ``device/data/hemoglobin_extinction_prahl.csv`` is Scott Prahl's
compilation (Oregon Medical Laser Center) of the measurements of W. B. Gratzer and
N. Kollias, the source cited by the seed paper (its ref. [16], section 3.2.3). It holds
*decadic* molar extinction coefficients in cm^-1/(mol/L) from 650 to 1000 nm in 2 nm steps,
columns HbO2 then HHb.

Everything here returns coefficients with columns ``[HbO2, HHb]``. Note that the seed's
matrix equation (4) orders its columns the other way round ([Hb, HbO2]); this module and
:mod:`device.mbll` use HbO2 first throughout.

Only :func:`extinction_natural_per_um` changes units: it is the single place where the
decadic, per-molar table value becomes the natural-log, per-micromolar coefficient that
goes with ΔOD = -ln(I/I0).

Pure NumPy + stdlib, so that it runs on the 64 MB device.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Union

import numpy as np
from numpy.typing import ArrayLike

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

FloatOrArray = Union[float, ArrayLike]


@functools.lru_cache(maxsize=1)
def _load_table() -> tuple[np.ndarray, np.ndarray]:
    """Read and check the CSV once; return read-only (wavelength_nm, eps_decadic) arrays."""
    rows: list[tuple[float, float, float]] = []
    header_seen = False
    with TABLE_PATH.open(encoding="utf-8") as fh:
        for line_no, raw in enumerate(fh, start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            fields = tuple(f.strip() for f in line.split(","))
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
            rows.append((wl, hbo2, hhb))
    if len(rows) < 2:
        raise ValueError(f"{TABLE_PATH}: expected at least 2 data rows, got {len(rows)}")
    data = np.array(rows, dtype=float)
    wavelength_nm = data[:, 0].copy()
    eps_decadic = data[:, 1:].copy()
    if not np.all(np.diff(wavelength_nm) > 0):
        raise ValueError(f"{TABLE_PATH}: wavelengths must be strictly increasing")
    if not (np.all(np.isfinite(eps_decadic)) and np.all(eps_decadic > 0)):
        raise ValueError(f"{TABLE_PATH}: extinction coefficients must be finite and positive")
    wavelength_nm.setflags(write=False)
    eps_decadic.setflags(write=False)
    return wavelength_nm, eps_decadic


def extinction_table() -> tuple[np.ndarray, np.ndarray]:
    """Return the tabulated extinction coefficients as stored.

    Returns
    -------
    wavelength_nm : ndarray, shape (n_rows,)
        Table wavelengths in nm, strictly increasing (650–1000 nm, 2 nm steps).
    eps_decadic : ndarray, shape (n_rows, 2)
        Decadic molar extinction coefficients in cm^-1/(mol/L), columns ``[HbO2, HHb]``.

    Notes
    -----
    The arrays are fresh copies; changing them does not affect later calls.
    """
    wavelength_nm, eps_decadic = _load_table()
    return wavelength_nm.copy(), eps_decadic.copy()


def _as_wavelengths_nm(wavelengths_nm: FloatOrArray, name: str) -> np.ndarray:
    """Validate wavelengths: scalar or 1-D, finite, inside the table range."""
    try:
        wl = np.array(wavelengths_nm, dtype=float, ndmin=1)
    except (TypeError, ValueError):
        raise TypeError(
            f"{name} must be a number or a 1-D sequence of numbers (nm), "
            f"got {type(wavelengths_nm).__name__}"
        ) from None
    if wl.ndim != 1:
        raise ValueError(f"{name} must be a scalar or 1-D (n_wavelengths,), got shape {wl.shape}")
    if wl.size == 0:
        raise ValueError(f"{name} must hold at least one wavelength, got an empty array")
    if not np.all(np.isfinite(wl)):
        raise ValueError(f"{name} must be finite, got {wl.tolist()}")
    table_nm, _ = _load_table()
    lo_nm, hi_nm = float(table_nm[0]), float(table_nm[-1])
    outside = (wl < lo_nm) | (wl > hi_nm)
    if np.any(outside):
        raise ValueError(
            f"{name} must lie within the extinction table's {lo_nm:g}–{hi_nm:g} nm, "
            f"got {wl[outside].tolist()} nm"
        )
    return wl


def extinction_decadic(wavelengths_nm: FloatOrArray) -> np.ndarray:
    """Decadic molar extinction coefficients of HbO2 and HHb at given wavelengths.

    Parameters
    ----------
    wavelengths_nm : float or array-like of float, shape (n_wavelengths,)
        Wavelengths in nm, within the table's 650–1000 nm.

    Returns
    -------
    eps_decadic : ndarray, shape (n_wavelengths, 2)
        Extinction coefficients in cm^-1/(mol/L), decadic (base-10 absorbance),
        columns ``[HbO2, HHb]``. Linearly interpolated between the 2 nm table rows;
        exact table values at the tabulated wavelengths. A scalar input gives one row.

    Raises
    ------
    ValueError
        If a wavelength is non-finite or outside the table.
    """
    wl = _as_wavelengths_nm(wavelengths_nm, "wavelengths_nm")
    table_nm, eps = _load_table()
    return np.column_stack([np.interp(wl, table_nm, eps[:, k]) for k in range(eps.shape[1])])


def _as_fwhm_nm(fwhm_nm: FloatOrArray, n_bands: int) -> np.ndarray:
    """Validate band widths: scalar or one per band, finite and positive; return shape (n,)."""
    try:
        fwhm = np.array(fwhm_nm, dtype=float, ndmin=1)
    except (TypeError, ValueError):
        raise TypeError(
            f"fwhm_nm must be a number or a sequence of numbers (nm), got {type(fwhm_nm).__name__}"
        ) from None
    if fwhm.ndim != 1 or fwhm.size not in (1, n_bands):
        raise ValueError(
            f"fwhm_nm must be a scalar or have one value per wavelength ({n_bands}), "
            f"got shape {fwhm.shape}"
        )
    if not (np.all(np.isfinite(fwhm)) and np.all(fwhm > 0)):
        raise ValueError(f"fwhm_nm must be finite and > 0 nm, got {fwhm.tolist()}")
    return np.broadcast_to(fwhm, (n_bands,)).copy()


# Standard normal CDF via the stdlib's erf (no scipy on the device); erf is vectorised by hand.
_ERF = np.vectorize(math.erf, otypes=[float])


def _normal_cdf(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + _ERF(z / math.sqrt(2.0)))


def _normal_pdf(z: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


def band_weighted_extinction(centres_nm: FloatOrArray, fwhm_nm: FloatOrArray) -> np.ndarray:
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
    centres_nm : float or array-like of float, shape (n_bands,)
        Band centre (peak emission) wavelengths in nm.
    fwhm_nm : float or array-like of float, shape (n_bands,)
        Full width at half maximum of each band in nm (> 0). A scalar applies to all bands.

    Returns
    -------
    eps_decadic : ndarray, shape (n_bands, 2)
        Band-averaged decadic extinction coefficients in cm^-1/(mol/L), columns
        ``[HbO2, HHb]``.

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
    fwhm = _as_fwhm_nm(fwhm_nm, centres.size)
    sigma_nm = fwhm / FWHM_PER_SIGMA
    table_nm, eps = _load_table()
    lo_nm, hi_nm = float(table_nm[0]), float(table_nm[-1])
    band_lo_nm = centres - BAND_EXTENT_SIGMAS * sigma_nm
    band_hi_nm = centres + BAND_EXTENT_SIGMAS * sigma_nm
    off = (band_lo_nm < lo_nm) | (band_hi_nm > hi_nm)
    if np.any(off):
        bad = ", ".join(
            f"{c:g} nm (FWHM {w:g} nm) spans {a:.1f}–{b:.1f} nm"
            for c, w, a, b in zip(centres[off], fwhm[off], band_lo_nm[off], band_hi_nm[off])
        )
        raise ValueError(
            f"LED band must lie within the extinction table's {lo_nm:g}–{hi_nm:g} nm "
            f"(centre ± {BAND_EXTENT_SIGMAS:g} σ); got {bad}"
        )

    # Segment k runs from a_k to b_k, where ε(λ) = ε(a_k) + s_k·(λ − a_k) (linear interpolation).
    # With z = (λ − c)/σ and φ, Φ the standard normal pdf and cdf, the Gaussian-weighted integral
    # over the segment is
    #     [ε(a_k) + s_k·(c − a_k)]·[Φ(z_b) − Φ(z_a)] + s_k·σ·[φ(z_a) − φ(z_b)],
    # and dividing the sum over segments by the total weight Σ[Φ(z_b) − Φ(z_a)] normalises it.
    a_nm = table_nm[:-1]
    b_nm = table_nm[1:]
    slope = np.diff(eps, axis=0) / np.diff(table_nm)[:, None]  # (n_seg, 2), cm^-1 M^-1 nm^-1
    z_a = (a_nm[None, :] - centres[:, None]) / sigma_nm[:, None]  # (n_bands, n_seg)
    z_b = (b_nm[None, :] - centres[:, None]) / sigma_nm[:, None]
    weight = _normal_cdf(z_b) - _normal_cdf(z_a)  # (n_bands, n_seg)
    pdf_drop = _normal_pdf(z_a) - _normal_pdf(z_b)
    eps_at_centre = eps[None, :-1, :] + slope[None] * (centres[:, None, None] - a_nm[None, :, None])
    tilt = slope[None] * (sigma_nm[:, None, None] * pdf_drop[..., None])
    integral = np.sum(eps_at_centre * weight[..., None] + tilt, axis=1)
    return integral / weight.sum(axis=1)[:, None]


def extinction_natural_per_um(
    wavelengths_nm: FloatOrArray, *, fwhm_nm: FloatOrArray | None = None
) -> np.ndarray:
    """Natural-log extinction coefficients per micromolar, for use with ln-based ΔOD.

    This is the one place in the project where the decadic per-molar table value is converted:

        ε_nat [cm^-1 µM^-1] = ε_dec [cm^-1 M^-1] · ln(10) / (1e6 µM/M)

    so that ΔOD = -ln(I/I0) = ε_nat · Δc[µM] · DPF · d[cm].

    Parameters
    ----------
    wavelengths_nm : float or array-like of float, shape (n_wavelengths,)
        Wavelengths (or LED band centres) in nm, within 650–1000 nm.
    fwhm_nm : float or array-like of float, optional
        If given, the emission FWHM of each source in nm, and ε is band-weighted with
        :func:`band_weighted_extinction`; if None (default), the nominal ε at each wavelength
        from :func:`extinction_decadic` is used.

    Returns
    -------
    eps_natural_per_um : ndarray, shape (n_wavelengths, 2)
        Extinction coefficients in cm^-1/µM, natural-log (base e), columns ``[HbO2, HHb]``.
    """
    if fwhm_nm is None:
        eps_decadic_per_m = extinction_decadic(wavelengths_nm)  # cm^-1 (mol/L)^-1, log10
    else:
        eps_decadic_per_m = band_weighted_extinction(wavelengths_nm, fwhm_nm)
    # cm^-1 M^-1 (log10)  × LN10 → cm^-1 M^-1 (ln);  ÷ UM_PER_M → cm^-1 µM^-1 (ln)
    return eps_decadic_per_m * LN10 / UM_PER_M
