"""Tests for device.extinction and device.mbll (modified Beer–Lambert law).

The reference numbers here are computed by hand from the raw Prahl table values, written out
below, independently of the code under test. Several tests exist to catch one specific
mistake each; a comment on each says which.
"""

from __future__ import annotations

import math
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from device import extinction, mbll
from device.extinction import (
    band_weighted_extinction,
    extinction_decadic,
    extinction_natural_per_um,
    extinction_table,
)
from device.mbll import (
    MbllSolver,
    delta_od,
    delta_thb_um,
    mbll_design_matrix,
    oxygenation_index_um,
    smo2_percent,
)

# Raw rows of device/data/hemoglobin_extinction_prahl.csv, copied by hand:
# decadic molar extinction in cm^-1/(mol/L), (HbO2, HHb).
RAW_EPS_DECADIC = {
    750.0: (518.0, 1405.24),
    810.0: (864.0, 717.08),
    870.0: (1128.0, 705.84),
}
WAVELENGTHS_NM = (750.0, 810.0, 870.0)
DPF = 4.0
DISTANCE_CM = 3.0
HAND_LN10 = 2.302585092994046  # ln(10), written out
HAND_M_PER_UM = 1e-6  # mol/L per µmol/L

# Known concentration changes for the forward model.
D_HBO2_UM = 5.0
D_HHB_UM = -2.0

# Forward ΔOD by hand (natural log): ΔOD = ln10 · (ε_HbO2·ΔHbO2 + ε_HHb·ΔHHb) · 1e-6 · DPF · d
#   750 nm: 518·5 + 1405.24·(−2) = −220.48  → × 2.302585 × 1e-6 × 12 = −0.0060920875...
#   810 nm: 864·5 +  717.08·(−2) = 2885.84  → × 2.302585 × 1e-6 × 12 =  0.0797387059...
#   870 nm: 1128·5 + 705.84·(−2) = 4228.32  → × 2.302585 × 1e-6 × 12 =  0.1168327992...
HAND_D_OD = np.array([-0.006092087535639927, 0.07973870597719127, 0.11683279920490298])


def hand_forward_d_od(
    d_hbo2_um: float, d_hhb_um: float, *, dpf: float = DPF, distance_cm: float = DISTANCE_CM
) -> np.ndarray:
    """ΔOD from the raw table values, written without any device code."""
    out = []
    for wl in WAVELENGTHS_NM:
        eps_hbo2, eps_hhb = RAW_EPS_DECADIC[wl]
        mu_a_decadic_per_cm = (eps_hbo2 * d_hbo2_um + eps_hhb * d_hhb_um) * HAND_M_PER_UM
        out.append(HAND_LN10 * mu_a_decadic_per_cm * dpf * distance_cm)
    return np.array(out)


@pytest.fixture
def solver() -> MbllSolver:
    return MbllSolver(WAVELENGTHS_NM, dpf=DPF, distance_cm=DISTANCE_CM)


# --------------------------------------------------------------------------- extinction table


def test_table_covers_650_to_1000_nm_in_2nm_steps():
    wl, eps = extinction_table()
    assert wl[0] == 650.0 and wl[-1] == 1000.0
    assert_array_equal(np.diff(wl), 2.0)
    assert eps.shape == (wl.size, 2)


def test_extinction_decadic_matches_raw_table_rows_and_column_order():
    # Catches: HbO2/HHb columns swapped when reading the table.
    got = extinction_decadic(WAVELENGTHS_NM)
    assert_array_equal(got, [RAW_EPS_DECADIC[w] for w in WAVELENGTHS_NM])
    # Physics cross-check of the order: below the ~800 nm isosbestic point HHb absorbs more,
    # above it HbO2 does.
    assert got[0, 1] > got[0, 0]
    assert got[2, 0] > got[2, 1]


def test_extinction_decadic_interpolates_linearly_between_rows():
    # 751 nm lies halfway between the 750 nm and 752 nm rows: the mean of the two rows.
    wl, eps = extinction_table()
    i = int(np.searchsorted(wl, 750.0))
    expected = 0.5 * (eps[i] + eps[i + 1])
    assert_allclose(extinction_decadic(751.0)[0], expected, rtol=1e-14)


def test_extinction_natural_per_um_converts_once_with_ln10_and_micro():
    # Catches: log10 used where ln is needed (factor ln 10 missing) and the 1e-6 M/µM missing
    # or applied twice.
    got = extinction_natural_per_um(WAVELENGTHS_NM)
    expected = np.array([RAW_EPS_DECADIC[w] for w in WAVELENGTHS_NM]) * HAND_LN10 * 1e-6
    assert_allclose(got, expected, rtol=1e-14)
    # 750 nm HbO2 written out: 518 × 2.302585 × 1e-6 = 1.19274e-3 cm^-1 µM^-1.
    assert_allclose(got[0, 0], 1.1927390781709158e-3, rtol=1e-12)


def test_extinction_table_returns_copies():
    wl, eps = extinction_table()
    wl[:] = 0
    eps[:] = 0
    assert extinction_table()[0][0] == 650.0
    assert_array_equal(extinction_decadic(750.0), [RAW_EPS_DECADIC[750.0]])


@pytest.mark.parametrize("bad_nm", [640.0, 1064.0, [750.0, 1001.0]])
def test_wavelength_outside_table_is_rejected(bad_nm):
    with pytest.raises(ValueError, match=r"within the extinction table's 650–1000 nm"):
        extinction_decadic(bad_nm)


def test_solver_wavelength_outside_table_is_rejected():
    with pytest.raises(ValueError, match=r"650–1000 nm, got \[1064.0\] nm"):
        MbllSolver([750.0, 810.0, 1064.0])


def test_non_finite_or_2d_wavelengths_are_rejected():
    with pytest.raises(ValueError, match="finite"):
        extinction_decadic([750.0, np.nan])
    with pytest.raises(ValueError, match=r"1-D"):
        extinction_decadic([[750.0, 810.0]])
    with pytest.raises(TypeError, match="wavelengths_nm"):
        extinction_decadic("seven hundred")


# --------------------------------------------------------------------------- band weighting


def test_band_weighted_equals_nominal_as_fwhm_goes_to_zero():
    centres = [750.0, 810.0, 870.0, 751.3]  # the last is between table rows
    nominal = extinction_decadic(centres)
    assert_allclose(band_weighted_extinction(centres, 1e-8), nominal, rtol=1e-10)
    # At a table row the interpolated ε has a kink, so the band average approaches the nominal
    # value linearly in the FWHM: 1000× narrower band, ~1000× smaller error.
    err_wide = np.abs(band_weighted_extinction(centres, 1e-2) - nominal).max()
    err_narrow = np.abs(band_weighted_extinction(centres, 1e-5) - nominal).max()
    assert 0 < err_narrow < 2e-3 * err_wide


def test_band_weighted_differs_measurably_at_30nm():
    nominal = extinction_decadic(WAVELENGTHS_NM)
    wide = band_weighted_extinction(WAVELENGTHS_NM, 30.0)
    rel = np.abs(wide - nominal) / nominal
    # HHb at 750 nm sits on a steep, curved flank: the 30 nm band lowers it by about 5 %.
    assert rel[0, 1] > 0.03
    assert np.max(rel) > 0.03


def test_band_weighted_matches_brute_force_integration():
    # Independent implementation: dense grid, Gaussian weights, plain sums.
    wl, eps = extinction_table()
    fine_nm = np.arange(650.0, 1000.0 + 1e-9, 0.002)
    eps_fine = np.column_stack([np.interp(fine_nm, wl, eps[:, k]) for k in range(2)])
    for centre_nm, fwhm_nm in [(750.0, 30.0), (810.0, 20.0), (871.0, 40.0)]:
        sigma_nm = fwhm_nm / (2.0 * math.sqrt(2.0 * math.log(2.0)))
        w = np.exp(-0.5 * ((fine_nm - centre_nm) / sigma_nm) ** 2)
        expected = (w[:, None] * eps_fine).sum(axis=0) / w.sum()
        got = band_weighted_extinction(centre_nm, fwhm_nm)[0]
        assert_allclose(got, expected, rtol=1e-7)


def test_band_weighted_per_wavelength_fwhm():
    per = band_weighted_extinction(WAVELENGTHS_NM, [20.0, 30.0, 40.0])
    for i, (wl, fw) in enumerate(zip(WAVELENGTHS_NM, [20.0, 30.0, 40.0])):
        assert_allclose(per[i], band_weighted_extinction(wl, fw)[0], rtol=1e-14)


def test_band_running_off_table_is_rejected():
    # 660 nm ± 3σ of a 30 nm band reaches ~622 nm, below the table's 650 nm.
    with pytest.raises(ValueError, match=r"650–1000 nm.*660 nm \(FWHM 30 nm\)"):
        band_weighted_extinction([660.0, 810.0], 30.0)
    with pytest.raises(ValueError, match=r"650–1000 nm"):
        band_weighted_extinction(990.0, 20.0)


@pytest.mark.parametrize("bad_fwhm", [0.0, -5.0, np.inf, [20.0, 30.0]])
def test_bad_fwhm_is_rejected(bad_fwhm):
    with pytest.raises(ValueError, match="fwhm_nm"):
        band_weighted_extinction(WAVELENGTHS_NM, bad_fwhm)


def test_solver_with_band_fwhm_uses_band_weighted_eps():
    s = MbllSolver(WAVELENGTHS_NM, dpf=DPF, distance_cm=DISTANCE_CM, fwhm_nm=30.0)
    expected = band_weighted_extinction(WAVELENGTHS_NM, 30.0) * HAND_LN10 * 1e-6 * DPF * DISTANCE_CM
    assert_allclose(s.design_matrix, expected, rtol=1e-14)


# --------------------------------------------------------------------------- ΔOD


def test_delta_od_is_natural_log():
    # Catches: log10 used instead of ln in ΔOD. Halving the light gives ln 2 = 0.693..., not
    # log10 2 = 0.301...
    got = delta_od([500.0, 250.0, 1000.0], [1000.0, 1000.0, 1000.0])
    assert_allclose(got, [math.log(2.0), math.log(4.0), 0.0], rtol=1e-15, atol=0)
    assert not np.isclose(got[0], math.log10(2.0))


def test_delta_od_sign_and_batch_shape():
    baseline = np.array([1000.0, 2000.0, 4000.0])
    intensity = np.array([[1000.0, 2000.0, 4000.0], [1100.0, 1800.0, 4000.0]])
    got = delta_od(intensity, baseline)
    assert got.shape == (2, 3)
    assert_allclose(got[0], 0.0, atol=0)
    assert got[1, 0] < 0 < got[1, 1]  # more light → negative ΔOD; less light → positive
    assert_allclose(got[1], -np.log(intensity[1] / baseline), rtol=1e-15)


def test_delta_od_some_bad_warns_and_gives_nan():
    intensity = np.array([[500.0, -3.0, 1000.0], [500.0, 0.0, np.inf]])
    before = intensity.copy()
    with pytest.warns(RuntimeWarning, match=r"3 of 6 intensity values"):
        got = delta_od(intensity, [1000.0, 1000.0, 1000.0])
    assert_array_equal(np.isnan(got), [[False, True, False], [False, True, True]])
    assert_allclose(got[0, 0], math.log(2.0), rtol=1e-15)
    assert_array_equal(intensity, before)  # input not modified


def test_delta_od_all_bad_raises():
    with pytest.raises(ValueError, match=r"all 3 intensity values are non-positive"):
        delta_od([0.0, -1.0, np.nan], [1000.0, 1000.0, 1000.0])


def test_delta_od_bad_baseline_raises():
    with pytest.raises(ValueError, match=r"baseline must be finite and > 0"):
        delta_od([500.0, 500.0, 500.0], [1000.0, 0.0, 1000.0])


@pytest.mark.parametrize(
    ("intensity", "baseline", "pattern"),
    [
        (np.ones((2, 2, 3)), np.ones(3), r"intensity must have shape .* got shape \(2, 2, 3\)"),
        (np.ones((4, 3)), np.ones(2), r"baseline must have shape \(3,\).* got shape \(2,\)"),
        (np.ones(3), np.ones((1, 3)), r"baseline must have shape \(3,\)"),
    ],
)
def test_delta_od_wrong_shapes(intensity, baseline, pattern):
    with pytest.raises(ValueError, match=pattern):
        delta_od(intensity, baseline)


# --------------------------------------------------------------------------- design matrix


def test_design_matrix_exact_magnitude(solver):
    # Catches: DPF or distance applied twice (or not at all), ln/log10 confusion in ε, swapped
    # columns — each would change these exact numbers by 4×, 3×, 2.30× or reorder them.
    expected = np.array([RAW_EPS_DECADIC[w] for w in WAVELENGTHS_NM]) * (
        HAND_LN10 * 1e-6 * DPF * DISTANCE_CM
    )
    assert_allclose(solver.design_matrix, expected, rtol=1e-14)
    # 750 nm, HbO2: 518 × 2.302585 × 1e-6 × 4 × 3 = 0.0143128689...
    assert_allclose(solver.design_matrix[0, 0], 0.014312868938050989, rtol=1e-12)


def test_design_matrix_function_matches_solver(solver):
    assert_allclose(
        mbll_design_matrix(WAVELENGTHS_NM, dpf=DPF, distance_cm=DISTANCE_CM),
        solver.design_matrix,
        rtol=0,
        atol=0,
    )


def test_condition_number_of_default_matrix(solver):
    # Scaling by DPF·d does not change it; this is the conditioning of ε itself at 750/810/870.
    eps = np.array([RAW_EPS_DECADIC[w] for w in WAVELENGTHS_NM])
    assert_allclose(solver.condition_number, np.linalg.cond(eps), rtol=1e-12)
    assert 3.0 < solver.condition_number < 3.5


def test_solver_arrays_are_read_only(solver):
    with pytest.raises(ValueError):
        solver.design_matrix[0, 0] = 1.0
    with pytest.raises(ValueError):
        solver.pseudo_inverse[0, 0] = 1.0


# --------------------------------------------------------------------------- recovery


def test_hand_forward_values_are_the_written_literals():
    # The helper and the comment-block arithmetic agree (guards the test itself).
    assert_allclose(hand_forward_d_od(D_HBO2_UM, D_HHB_UM), HAND_D_OD, rtol=1e-12)


def test_recovers_known_changes_from_hand_forward_d_od(solver):
    # Catches: any wrong scale factor (ln/log10, µM/M, DPF, distance) or column swap, since the
    # forward ΔOD comes from the raw table numbers, not from device code.
    result = solver.solve(HAND_D_OD)
    assert_allclose(result.d_hbo2_um, D_HBO2_UM, rtol=1e-10)
    assert_allclose(result.d_hhb_um, D_HHB_UM, rtol=1e-10)


def test_column_order_hbo2_first(solver):
    # Catches: HbO2/HHb swapped anywhere in the chain. Pure HbO2 change must come back as
    # HbO2 only, and pure HHb as HHb only.
    r = solver.solve(hand_forward_d_od(7.0, 0.0))
    assert_allclose([r.d_hbo2_um, r.d_hhb_um], [7.0, 0.0], rtol=1e-10, atol=1e-12)
    r = solver.solve(hand_forward_d_od(0.0, 3.0))
    assert_allclose([r.d_hbo2_um, r.d_hhb_um], [0.0, 3.0], rtol=1e-10, atol=1e-12)


def test_log10_instead_of_ln_would_be_off_by_ln10(solver):
    # Catches: ΔOD computed with log10 while ε is natural (or vice versa). The full chain from
    # intensities must recover 5/−2 µM, not values 2.30× too small or too large.
    baseline = np.array([1000.0, 1000.0, 1000.0])
    intensity = baseline * np.exp(-HAND_D_OD)
    r = solver.solve(delta_od(intensity, baseline))
    assert_allclose([r.d_hbo2_um, r.d_hhb_um], [D_HBO2_UM, D_HHB_UM], rtol=1e-10)
    log10_od = -np.log10(intensity / baseline)
    wrong = solver.solve(log10_od)
    assert_allclose(wrong.d_hbo2_um / D_HBO2_UM, 1.0 / HAND_LN10, rtol=1e-10)


def test_dpf_applied_once(solver):
    # Catches: DPF applied twice. Doubling DPF must halve the recovered concentration
    # (a double application would quarter it), and the forward model with DPF=8 by hand must be
    # recovered exactly by a DPF=8 solver.
    s8 = MbllSolver(WAVELENGTHS_NM, dpf=8.0, distance_cm=DISTANCE_CM)
    r4 = solver.solve(HAND_D_OD)
    r8 = s8.solve(HAND_D_OD)
    assert_allclose(r8.d_hbo2_um, 0.5 * r4.d_hbo2_um, rtol=1e-12)
    r = s8.solve(hand_forward_d_od(D_HBO2_UM, D_HHB_UM, dpf=8.0))
    assert_allclose([r.d_hbo2_um, r.d_hhb_um], [D_HBO2_UM, D_HHB_UM], rtol=1e-10)


def test_distance_applied_once(solver):
    # Catches: distance applied twice (or DPF·d squared). 1.5 cm must double the result.
    s_half = MbllSolver(WAVELENGTHS_NM, dpf=DPF, distance_cm=1.5)
    assert_allclose(s_half.solve(HAND_D_OD).d_hhb_um, 2.0 * D_HHB_UM, rtol=1e-10)
    r = s_half.solve(hand_forward_d_od(D_HBO2_UM, D_HHB_UM, distance_cm=1.5))
    assert_allclose([r.d_hbo2_um, r.d_hhb_um], [D_HBO2_UM, D_HHB_UM], rtol=1e-10)


def test_per_wavelength_dpf():
    dpfs = np.array([4.5, 4.0, 3.6])
    s = MbllSolver(WAVELENGTHS_NM, dpf=dpfs, distance_cm=DISTANCE_CM)
    d_od = np.array(
        [
            HAND_LN10
            * (RAW_EPS_DECADIC[w][0] * 2.0 + RAW_EPS_DECADIC[w][1] * 1.0)
            * 1e-6
            * dpf_i
            * DISTANCE_CM
            for w, dpf_i in zip(WAVELENGTHS_NM, dpfs)
        ]
    )
    r = s.solve(d_od)
    assert_allclose([r.d_hbo2_um, r.d_hhb_um], [2.0, 1.0], rtol=1e-10)
    assert_array_equal(s.dpf, dpfs)


# --------------------------------------------------------------------------- residual


def test_residual_is_zero_for_consistent_data(solver):
    r = solver.solve(HAND_D_OD)
    assert r.residual_od < 1e-15  # ΔOD itself is ~0.1


def test_residual_equals_size_of_component_outside_haemoglobin_space(solver):
    # Motion-like disturbance: a ΔOD pattern that no HbO2/HHb change can produce. For 3×2 the
    # only such direction is normal to both ε columns: their cross product (independent of the
    # solver's pseudo-inverse).
    normal = np.cross(solver.design_matrix[:, 0], solver.design_matrix[:, 1])
    normal /= np.linalg.norm(normal)
    r = solver.solve(HAND_D_OD + 0.02 * normal)
    assert_allclose(r.residual_od, 0.02, rtol=1e-10)
    assert_allclose([r.d_hbo2_um, r.d_hhb_um], [D_HBO2_UM, D_HHB_UM], rtol=1e-9)


def test_residual_positive_for_flat_offset_and_matches_lstsq(solver):
    # A wavelength-flat ΔOD step, as when the optode shifts on the skin.
    d_od = HAND_D_OD + 0.05
    r = solver.solve(d_od)
    x, *_ = np.linalg.lstsq(solver.design_matrix, d_od, rcond=None)
    expected_resid = np.linalg.norm(d_od - solver.design_matrix @ x)
    assert r.residual_od > 1e-3
    assert_allclose(r.residual_od, expected_resid, rtol=1e-10)
    assert_allclose([r.d_hbo2_um, r.d_hhb_um], x, rtol=1e-10)


# --------------------------------------------------------------------------- stream vs batch


def test_stream_and_batch_agree(solver):
    rng = np.random.default_rng(1234)
    batch = rng.normal(scale=0.05, size=(200, 3))
    before = batch.copy()
    rb = solver.solve(batch)
    assert rb.d_hbo2_um.shape == (200,)
    for i, row in enumerate(batch):
        rs = solver.solve(row)
        assert rs.d_hbo2_um.shape == ()
        assert_allclose(rs.d_hbo2_um, rb.d_hbo2_um[i], rtol=0, atol=1e-12)
        assert_allclose(rs.d_hhb_um, rb.d_hhb_um[i], rtol=0, atol=1e-12)
        assert_allclose(rs.residual_od, rb.residual_od[i], rtol=0, atol=1e-12)
    assert_array_equal(batch, before)  # input not modified


def test_nan_sample_stays_nan_and_does_not_spread(solver):
    batch = np.vstack([HAND_D_OD, [np.nan, 0.01, 0.02], HAND_D_OD])
    r = solver.solve(batch)
    assert_array_equal(np.isnan(r.d_hbo2_um), [False, True, False])
    assert_array_equal(np.isnan(r.residual_od), [False, True, False])


@pytest.mark.parametrize("shape", [(4,), (5, 4), (2, 2, 3), ()])
def test_solve_wrong_shape(solver, shape):
    with pytest.raises(ValueError, match=r"d_od must have shape \(3,\) or \(n_samples, 3\)"):
        solver.solve(np.zeros(shape))


# --------------------------------------------------------------------------- solver validation


@pytest.mark.parametrize("bad_distance", [-3.0, 0.0, np.nan, np.inf])
def test_bad_distance_rejected(bad_distance):
    with pytest.raises(ValueError, match=r"distance_cm must be finite and > 0"):
        MbllSolver(WAVELENGTHS_NM, distance_cm=bad_distance)


def test_distance_in_mm_warns():
    with pytest.warns(RuntimeWarning, match=r"was it given in mm"):
        MbllSolver(WAVELENGTHS_NM, distance_cm=30.0)


def test_dpf_length_mismatch_rejected():
    with pytest.raises(ValueError, match=r"dpf must be a scalar or have one value per wavelength"):
        MbllSolver(WAVELENGTHS_NM, dpf=[4.0, 4.0])


@pytest.mark.parametrize("bad_dpf", [0.0, -4.0, np.nan])
def test_non_positive_dpf_rejected(bad_dpf):
    with pytest.raises(ValueError, match=r"dpf must be finite and > 0"):
        MbllSolver(WAVELENGTHS_NM, dpf=bad_dpf)


def test_dpf_below_one_warns():
    with pytest.warns(RuntimeWarning, match=r"below 1"):
        MbllSolver(WAVELENGTHS_NM, dpf=0.5)


def test_too_few_or_repeated_wavelengths_rejected():
    with pytest.raises(ValueError, match=r"at least 3 wavelengths"):
        MbllSolver([760.0, 850.0])
    with pytest.raises(ValueError, match=r"distinct"):
        MbllSolver([760.0, 850.0, 850.0])


def test_more_than_three_wavelengths_work():
    wl = (700.0, 750.0, 810.0, 870.0)
    s = MbllSolver(wl, dpf=DPF, distance_cm=DISTANCE_CM)
    eps = extinction_decadic(wl)
    d_od = eps @ np.array([3.0, -1.0]) * HAND_LN10 * 1e-6 * DPF * DISTANCE_CM
    r = s.solve(d_od)
    assert_allclose([r.d_hbo2_um, r.d_hhb_um], [3.0, -1.0], rtol=1e-10)
    assert r.residual_od < 1e-15


def test_defaults_follow_design():
    s = MbllSolver()
    assert_array_equal(s.wavelengths_nm, [750.0, 810.0, 870.0])
    assert_array_equal(s.dpf, [4.0, 4.0, 4.0])
    assert s.distance_cm == 3.0
    assert "750.0" in repr(s)


# --------------------------------------------------------------------------- derived signals


def test_thb_and_oxygenation_index_by_hand():
    assert_allclose(delta_thb_um([5.0, -1.0], [-2.0, 3.0]), [3.0, 2.0], rtol=0)
    assert_allclose(oxygenation_index_um([5.0, -1.0], [-2.0, 3.0]), [7.0, -4.0], rtol=0)
    with pytest.raises(ValueError, match=r"same shape"):
        delta_thb_um([1.0, 2.0], [1.0, 2.0, 3.0])


def test_smo2_at_rest_and_during_deoxygenation():
    # At rest: 60 / (60 + 30) = 66.67 %.
    assert_allclose(smo2_percent(0.0, 0.0), 100.0 * 60.0 / 90.0, rtol=1e-15)
    assert_allclose(mbll.DEFAULT_HBO2_REST_UM, 60.0)
    assert_allclose(mbll.DEFAULT_HHB_REST_UM, 30.0)
    # Deoxygenation at constant volume: (60 − 10) / (90) = 55.56 %.
    assert_allclose(smo2_percent([-10.0], [10.0]), [100.0 * 50.0 / 90.0], rtol=1e-15)
    # Custom baseline: (70 + 5) / (70 + 5 + 20 − 2) = 75 / 93.
    assert_allclose(
        smo2_percent(5.0, -2.0, hbo2_rest_um=70.0, hhb_rest_um=20.0),
        100.0 * 75.0 / 93.0,
        rtol=1e-15,
    )


def test_smo2_impossible_samples_are_nan_with_warning():
    with pytest.warns(RuntimeWarning, match=r"1 sample\(s\) imply negative absolute"):
        got = smo2_percent([0.0, -70.0], [0.0, 10.0])
    assert np.isnan(got[1]) and not np.isnan(got[0])


def test_smo2_bad_baseline_rejected():
    with pytest.raises(ValueError, match=r"hbo2_rest_um and hhb_rest_um"):
        smo2_percent(0.0, 0.0, hbo2_rest_um=-1.0)
    with pytest.raises(ValueError, match=r"not both 0"):
        smo2_percent(0.0, 0.0, hbo2_rest_um=0.0, hhb_rest_um=0.0)


def test_smo2_is_keyword_only():
    with pytest.raises(TypeError):
        smo2_percent(0.0, 0.0, 60.0, 30.0)  # type: ignore[misc]


# --------------------------------------------------------------------------- device constraints


def test_device_science_imports_only_numpy_and_stdlib():
    root = Path(extinction.__file__).resolve().parent.parent
    code = (
        "import sys, device.extinction, device.mbll\n"
        "banned = [m for m in ('scipy', 'pandas', 'torch', 'tensorflow') if m in sys.modules]\n"
        "print(','.join(banned))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == ""


def test_no_warnings_on_clean_path(solver):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d = delta_od([[900.0, 950.0, 990.0]], [1000.0, 1000.0, 1000.0])
        r = solver.solve(d)
        smo2_percent(r.d_hbo2_um, r.d_hhb_um)
