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
    assert len(eps) == len(wl) and all(len(row) == 2 for row in eps)
    assert all(type(v) is float for v in wl) and all(type(e) is float for row in eps for e in row)


def test_extinction_decadic_matches_raw_table_rows_and_column_order():
    # Catches: HbO2/HHb columns swapped when reading the table.
    got = extinction_decadic(WAVELENGTHS_NM)
    assert got == tuple(RAW_EPS_DECADIC[w] for w in WAVELENGTHS_NM)
    # Physics cross-check of the order: below the ~800 nm isosbestic point HHb absorbs more,
    # above it HbO2 does.
    assert got[0][1] > got[0][0]
    assert got[2][0] > got[2][1]


def test_extinction_decadic_interpolates_linearly_between_rows():
    # 751 nm lies halfway between the 750 nm and 752 nm rows: the mean of the two rows.
    wl, eps = extinction_table()
    eps = np.asarray(eps)
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
    assert_allclose(got[0][0], 1.1927390781709158e-3, rtol=1e-12)


def test_extinction_table_cannot_be_changed_by_a_caller():
    wl, eps = extinction_table()
    with pytest.raises(TypeError):
        wl[0] = 0.0  # type: ignore[index]
    with pytest.raises(TypeError):
        eps[0] = (0.0, 0.0)  # type: ignore[index]
    assert extinction_table()[0][0] == 650.0
    assert extinction_decadic(750.0) == (RAW_EPS_DECADIC[750.0],)


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
    nominal = np.asarray(extinction_decadic(centres))
    assert_allclose(band_weighted_extinction(centres, 1e-8), nominal, rtol=1e-10)
    # At a table row the interpolated ε has a kink, so the band average approaches the nominal
    # value linearly in the FWHM: 1000× narrower band, ~1000× smaller error.
    err_wide = np.abs(np.asarray(band_weighted_extinction(centres, 1e-2)) - nominal).max()
    err_narrow = np.abs(np.asarray(band_weighted_extinction(centres, 1e-5)) - nominal).max()
    assert 0 < err_narrow < 2e-3 * err_wide


def test_band_weighted_differs_measurably_at_30nm():
    nominal = np.asarray(extinction_decadic(WAVELENGTHS_NM))
    wide = np.asarray(band_weighted_extinction(WAVELENGTHS_NM, 30.0))
    rel = np.abs(wide - nominal) / nominal
    # HHb at 750 nm sits on a steep, curved flank: the 30 nm band lowers it by about 5 %.
    assert rel[0, 1] > 0.03
    assert np.max(rel) > 0.03


def test_band_weighted_matches_brute_force_integration():
    # Independent implementation: dense grid, Gaussian weights, plain sums.
    wl, eps = extinction_table()
    eps = np.asarray(eps)
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
    expected = (
        np.asarray(band_weighted_extinction(WAVELENGTHS_NM, 30.0))
        * HAND_LN10
        * 1e-6
        * DPF
        * DISTANCE_CM
    )
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
    assert isinstance(got, list) and [len(row) for row in got] == [3, 3]  # rows → list of tuples
    assert isinstance(got[0], tuple) and isinstance(delta_od(intensity[1], baseline), tuple)
    got = np.asarray(got)
    assert_allclose(got[0], 0.0, atol=0)
    assert got[1, 0] < 0 < got[1, 1]  # more light → negative ΔOD; less light → positive
    assert_allclose(got[1], -np.log(intensity[1] / baseline), rtol=1e-15)


def test_delta_od_some_bad_warns_and_gives_nan():
    intensity = np.array([[500.0, -3.0, 1000.0], [500.0, 0.0, np.inf]])
    before = intensity.copy()
    with pytest.warns(RuntimeWarning, match=r"3 of 6 intensity values"):
        got = delta_od(intensity, [1000.0, 1000.0, 1000.0])
    assert_array_equal(np.isnan(got), [[False, True, False], [False, True, True]])
    assert_allclose(got[0][0], math.log(2.0), rtol=1e-15)
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
    assert_allclose(solver.design_matrix[0][0], 0.014312868938050989, rtol=1e-12)


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


def test_solver_matrices_are_read_only(solver):
    # Tuples of tuples: nothing a caller does can change the solver.
    for matrix in (solver.design_matrix, solver.pseudo_inverse, solver.residual_projector):
        with pytest.raises(TypeError):
            matrix[0] = (1.0, 1.0)  # type: ignore[index]
        with pytest.raises(TypeError):
            matrix[0][0] = 1.0  # type: ignore[index]
    assert isinstance(solver.wavelengths_nm, tuple) and isinstance(solver.dpf, tuple)


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
    design = np.asarray(solver.design_matrix)
    normal = np.cross(design[:, 0], design[:, 1])
    normal /= np.linalg.norm(normal)
    r = solver.solve(HAND_D_OD + 0.02 * normal)
    assert_allclose(r.residual_od, 0.02, rtol=1e-10)
    assert_allclose([r.d_hbo2_um, r.d_hhb_um], [D_HBO2_UM, D_HHB_UM], rtol=1e-9)


def test_residual_positive_for_flat_offset_and_matches_lstsq(solver):
    # A wavelength-flat ΔOD step, as when the optode shifts on the skin.
    d_od = HAND_D_OD + 0.05
    r = solver.solve(d_od)
    design = np.asarray(solver.design_matrix)
    x, *_ = np.linalg.lstsq(design, d_od, rcond=None)
    expected_resid = np.linalg.norm(d_od - design @ x)
    assert r.residual_od > 1e-3
    assert_allclose(r.residual_od, expected_resid, rtol=1e-10)
    assert_allclose([r.d_hbo2_um, r.d_hhb_um], x, rtol=1e-10)


# --------------------------------------------------------------------------- stream vs batch


def test_stream_and_batch_agree(solver):
    rng = np.random.default_rng(1234)
    batch = rng.normal(scale=0.05, size=(200, 3))
    before = batch.copy()
    rb = solver.solve(batch)
    assert rb == solver.solve_many(batch) == solver.solve_many(batch.tolist())
    assert all(isinstance(field, list) and len(field) == 200 for field in rb)
    for i, row in enumerate(batch):
        rs = solver.solve(row)
        assert all(type(field) is float for field in rs)
        # Bit for bit: a batch is solved one row at a time by the same code.
        assert rs == (rb.d_hbo2_um[i], rb.d_hhb_um[i], rb.residual_od[i])
        assert rs == solver.solve(tuple(row.tolist()))
    assert_array_equal(batch, before)  # input not modified
    assert solver.solve_many([]) == ([], [], [])


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
    eps = np.asarray(extinction_decadic(wl))
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


# Runs in a fresh interpreter in which ``import numpy`` fails, as on the board (issue 13).
NUMPY_BLOCKED = "import sys\nsys.modules['numpy'] = None  # any import of numpy now fails\n"


@pytest.mark.parametrize(
    ("module", "use"),
    [
        (
            "device.extinction",
            "print(device.extinction.extinction_natural_per_um([750, 810], fwhm_nm=30))",
        ),
        (
            "device.mbll",
            "s = device.mbll.MbllSolver()\n"
            "d = device.mbll.delta_od([900.0, 950.0, 990.0], [1000.0, 1000.0, 1000.0])\n"
            "r = s.solve(d)\n"
            "print(r, s.condition_number, device.mbll.smo2_percent(r.d_hbo2_um, r.d_hhb_um))",
        ),
        (
            "device.chain",
            "from device.acquisition import Frame\n"
            "frames = [Frame(i / 43, (0.01, 1.2 + 0.01 * (i % 7), 1.1, 0.9), (4, 4, 4, 4),\n"
            "                (0.01, 1.3, 1.2, 1.0)) for i in range(43 * 3)]\n"
            "res = device.chain.process_recording(frames, device.chain.ChainConfig(baseline_s=1))\n"
            "print(len(res), res.d_hbo2_um[-1])",
        ),
    ],
)
def test_device_science_imports_and_runs_without_numpy(module, use):
    root = Path(extinction.__file__).resolve().parent.parent
    code = (
        NUMPY_BLOCKED
        + f"import {module}\n"
        + use
        + "\n"
        + "banned = [m for m in ('numpy', 'scipy', 'pandas', 'torch', 'tensorflow')\n"
        + "          if sys.modules.get(m) is not None]\n"
        + "print('banned:', ','.join(banned))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "banned:"


def test_the_numpy_blocker_really_blocks():
    # Guards the test above: with the blocker in place, importing numpy fails.
    root = Path(extinction.__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, "-c", NUMPY_BLOCKED + "import numpy"], cwd=root, capture_output=True
    )
    assert out.returncode != 0 and b"ModuleNotFoundError" in out.stderr


def test_no_warnings_on_clean_path(solver):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d = delta_od([[900.0, 950.0, 990.0]], [1000.0, 1000.0, 1000.0])
        r = solver.solve(d)
        smo2_percent(r.d_hbo2_um, r.d_hhb_um)


# --------------------------------------------------------------------------- against numpy
#
# The device code is pure Python (issue 13). These tests hold it to independent numpy
# computations: numpy.linalg for the linear algebra, and copies of the numpy implementation it
# replaced (git: device/extinction.py and device/mbll.py before issue 13) for the rest.

# Wavelength sets, DPFs and distances: the default, more LEDs, other LED choices, per-wavelength
# DPF, and closely spaced wavelengths whose ε columns are nearly parallel (condition ≈ 27).
DESIGN_CASES = [
    ((750.0, 810.0, 870.0), 4.0, 3.0),
    ((700.0, 750.0, 810.0, 870.0), 4.0, 3.0),
    ((760.0, 850.0, 905.0), (4.5, 4.0, 3.6), 2.5),
    ((690.0, 780.0, 830.0), 6.0, 4.0),
    ((780.0, 800.0, 820.0), 4.0, 3.0),
    ((650.0, 700.0, 750.0, 800.0, 850.0, 900.0, 950.0, 1000.0), 3.5, 3.0),
    ((795.0, 800.0, 805.0), 4.0, 3.0),
    ((751.3, 809.9, 871.7), (3.9, 4.1, 4.3), 3.5),  # between table rows
]


def numpy_table() -> tuple[np.ndarray, np.ndarray]:
    """The CSV read by numpy, independently of device.extinction."""
    data = np.loadtxt(extinction.TABLE_PATH, delimiter=",", comments="#", skiprows=5)
    return data[:, 0], data[:, 1:]


def test_numpy_table_reader_sees_the_whole_table():
    wl, eps = numpy_table()
    assert wl[0] == 650.0 and wl[-1] == 1000.0 and eps.shape == (176, 2)
    assert_array_equal(np.asarray(extinction_table()[1]), eps)


def numpy_design(wavelengths_nm, dpf, distance_cm) -> np.ndarray:
    wl, eps = numpy_table()
    eps_at = np.column_stack([np.interp(wavelengths_nm, wl, eps[:, k]) for k in range(2)])
    dpf_arr = np.broadcast_to(np.asarray(dpf, dtype=float), (len(wavelengths_nm),))
    return eps_at * math.log(10.0) / 1e6 * (dpf_arr * distance_cm)[:, None]


@pytest.mark.parametrize(("wavelengths_nm", "dpf", "distance_cm"), DESIGN_CASES)
def test_design_pinv_projector_and_condition_equal_numpy_linalg(wavelengths_nm, dpf, distance_cm):
    s = MbllSolver(wavelengths_nm, dpf=dpf, distance_cm=distance_cm)
    design = np.asarray(s.design_matrix)
    assert design.shape == (len(wavelengths_nm), 2)
    assert_allclose(design, numpy_design(wavelengths_nm, dpf, distance_cm), rtol=1e-12, atol=0)

    pinv = np.asarray(s.pseudo_inverse)
    expected_pinv = np.linalg.pinv(design)  # SVD-based
    assert pinv.shape == expected_pinv.shape == (2, len(wavelengths_nm))
    scale = np.abs(expected_pinv).max()
    assert_allclose(pinv, expected_pinv, rtol=1e-12, atol=1e-12 * scale)

    projector = np.asarray(s.residual_projector)
    expected_projector = np.eye(len(wavelengths_nm)) - design @ expected_pinv
    assert_allclose(projector, expected_projector, rtol=1e-12, atol=1e-12)  # its norm is 1

    assert_allclose(s.condition_number, np.linalg.cond(design), rtol=1e-12)
    assert np.linalg.matrix_rank(design) == 2


@pytest.mark.parametrize(("wavelengths_nm", "dpf", "distance_cm"), DESIGN_CASES)
def test_solve_equals_numpy_lstsq(wavelengths_nm, dpf, distance_cm):
    s = MbllSolver(wavelengths_nm, dpf=dpf, distance_cm=distance_cm)
    design = np.asarray(s.design_matrix)
    rng = np.random.default_rng(len(wavelengths_nm))
    d_od = rng.normal(scale=0.05, size=(20, len(wavelengths_nm)))
    got = s.solve(d_od)
    for i, row in enumerate(d_od):
        x, *_ = np.linalg.lstsq(design, row, rcond=None)
        scale = np.abs(x).max()
        assert_allclose([got.d_hbo2_um[i], got.d_hhb_um[i]], x, rtol=1e-10, atol=1e-12 * scale)
        resid = np.linalg.norm(row - design @ x)
        assert_allclose(got.residual_od[i], resid, rtol=1e-9, atol=1e-15)


def test_band_weighted_solver_pinv_equals_numpy_linalg():
    s = MbllSolver(WAVELENGTHS_NM, dpf=DPF, distance_cm=DISTANCE_CM, fwhm_nm=(20.0, 30.0, 40.0))
    design = np.asarray(s.design_matrix)
    assert_allclose(np.asarray(s.pseudo_inverse), np.linalg.pinv(design), rtol=1e-12)
    assert_allclose(s.condition_number, np.linalg.cond(design), rtol=1e-12)


def test_rank_deficient_design_is_rejected(monkeypatch):
    # Proportional ε columns (no spectral contrast between HbO2 and HHb) cannot be separated.
    def flat_eps(wavelengths_nm, *, fwhm_nm=None):
        return tuple((1e-3 * (i + 1), 2e-3 * (i + 1)) for i, _ in enumerate(wavelengths_nm))

    monkeypatch.setattr(mbll, "extinction_natural_per_um", flat_eps)
    with pytest.raises(
        ValueError, match=r"cannot separate HbO2 from HHb \(design matrix rank < 2\)"
    ):
        MbllSolver(WAVELENGTHS_NM)
    assert np.linalg.matrix_rank(np.asarray(flat_eps(WAVELENGTHS_NM))) == 1


def test_extinction_decadic_equals_numpy_interp():
    wl, eps = numpy_table()
    rng = np.random.default_rng(7)
    query = np.concatenate([[650.0, 1000.0, 750.0, 751.0, 999.999], rng.uniform(650, 1000, 500)])
    expected = np.column_stack([np.interp(query, wl, eps[:, k]) for k in range(2)])
    got = extinction_decadic(query)  # a numpy array in, tuples of floats out
    assert all(type(v) is float for row in got for v in row)
    assert_allclose(np.asarray(got), expected, rtol=1e-15, atol=0)
    assert extinction_decadic(query.tolist()) == got == extinction_decadic(tuple(query))


def numpy_band_weighted(centres_nm, fwhm_nm) -> np.ndarray:
    """The numpy implementation the device used before issue 13 (vectorised over bands)."""
    from math import erf

    table_nm, eps = numpy_table()
    centres = np.array(centres_nm, dtype=float, ndmin=1)
    fwhm = np.broadcast_to(np.array(fwhm_nm, dtype=float, ndmin=1), centres.shape)
    sigma_nm = fwhm / (2.0 * math.sqrt(2.0 * math.log(2.0)))
    cdf = np.vectorize(lambda z: 0.5 * (1.0 + erf(z / math.sqrt(2.0))), otypes=[float])

    def pdf(z):
        return np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)

    a_nm, b_nm = table_nm[:-1], table_nm[1:]
    slope = np.diff(eps, axis=0) / np.diff(table_nm)[:, None]
    z_a = (a_nm[None, :] - centres[:, None]) / sigma_nm[:, None]
    z_b = (b_nm[None, :] - centres[:, None]) / sigma_nm[:, None]
    weight = cdf(z_b) - cdf(z_a)
    pdf_drop = pdf(z_a) - pdf(z_b)
    eps_at_centre = eps[None, :-1, :] + slope[None] * (centres[:, None, None] - a_nm[None, :, None])
    tilt = slope[None] * (sigma_nm[:, None, None] * pdf_drop[..., None])
    integral = np.sum(eps_at_centre * weight[..., None] + tilt, axis=1)
    return integral / weight.sum(axis=1)[:, None]


@pytest.mark.parametrize(
    ("centres_nm", "fwhm_nm"),
    [
        (WAVELENGTHS_NM, 30.0),
        (WAVELENGTHS_NM, (20.0, 30.0, 40.0)),
        ((700.0, 751.3, 905.0), 10.0),
        (810.0, 1e-3),
        ((760.0, 850.0), 50.0),
    ],
)
def test_band_weighted_equals_the_old_numpy_implementation(centres_nm, fwhm_nm):
    got = band_weighted_extinction(centres_nm, fwhm_nm)
    assert_allclose(np.asarray(got), numpy_band_weighted(centres_nm, fwhm_nm), rtol=1e-12)


def test_delta_od_equals_numpy_on_a_batch_with_bad_values():
    rng = np.random.default_rng(3)
    baseline = np.array([1.3, 1.7, 2.1])
    intensity = baseline * np.exp(-rng.normal(scale=0.1, size=(300, 3)))
    intensity[5, 1] = 0.0
    intensity[17] = np.nan
    intensity[40, 2] = -0.01
    intensity[41, 0] = np.inf
    with np.errstate(invalid="ignore", divide="ignore"):
        good = np.isfinite(intensity) & (intensity > 0)
        expected = -np.log(np.where(good, intensity, np.nan) / baseline)
    got = delta_od(intensity, baseline, invalid="nan")
    assert_allclose(np.asarray(got), expected, rtol=1e-15, atol=1e-16)
    # One sample at a time gives the same numbers bit for bit.
    one_by_one = [delta_od(row, baseline, invalid="nan") for row in intensity]
    assert np.array_equal(np.asarray(one_by_one), np.asarray(got), equal_nan=True)


@pytest.mark.parametrize("impossible", ["nan", "clip"])
def test_derived_signals_equal_numpy(impossible):
    rng = np.random.default_rng(11)
    hbo2 = rng.normal(scale=30.0, size=400)
    hhb = rng.normal(scale=20.0, size=400)
    hbo2[:3] = [-70.0, np.nan, -60.0]  # impossible, missing, the edge (HbO2 exactly 0)
    hhb[:3] = [10.0, 1.0, -30.0]  # ... and the last one is 0 + 0 µM in all
    rest = np.array([60.0, 30.0])
    hbo2_abs, hhb_abs = rest[0] + hbo2, rest[1] + hhb
    with np.errstate(invalid="ignore", divide="ignore"):
        if impossible == "clip":
            hbo2_abs, hhb_abs = np.maximum(hbo2_abs, 0.0), np.maximum(hhb_abs, 0.0)
            expected = 100.0 * hbo2_abs / (hbo2_abs + hhb_abs)
        else:
            thb = hbo2_abs + hhb_abs
            bad = (hbo2_abs < 0) | (hhb_abs < 0) | (thb <= 0)
            expected = 100.0 * np.where(bad, np.nan, hbo2_abs) / np.where(bad, np.nan, thb)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        got = smo2_percent(hbo2, hhb, impossible=impossible)
        one_by_one = [smo2_percent(a, b, impossible=impossible) for a, b in zip(hbo2, hhb)]
    assert isinstance(got, list) and all(type(v) is float for v in got)
    assert_allclose(got, expected, rtol=1e-15, atol=0)
    assert_array_equal(got, one_by_one)
    assert_array_equal(delta_thb_um(hbo2, hhb), hbo2 + hhb)
    assert_array_equal(oxygenation_index_um(hbo2, hhb), hbo2 - hhb)


def test_one_sample_gives_floats_and_sequences_give_lists():
    assert type(delta_thb_um(1.0, 2.0)) is float
    assert type(oxygenation_index_um(np.float32(1.5), 2)) is float
    assert type(smo2_percent(np.float64(1.0), np.array(2.0))) is float
    assert delta_thb_um((1.0,), [2.0]) == [3.0]
    assert smo2_percent(np.array([0.0, 0.0]), (0.0, 0.0)) == [100.0 * 60.0 / 90.0] * 2
    with pytest.raises(ValueError, match="same shape"):
        delta_thb_um(1.0, [1.0])
    with pytest.raises(ValueError, match=r"1-D sequences .* got shape \(2, 1\)"):
        delta_thb_um([[1.0], [2.0]], [[1.0], [2.0]])
    with pytest.raises(TypeError, match="d_hbo2_um must be"):
        smo2_percent("lots", 1.0)
