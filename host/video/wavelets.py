"""The seed's wavelet matrices (seed 000 §III-A, eqs. 5–6, Fig. 4), with PyWavelets.

Each feature is decomposed with Daubechies db4 (seed: "the Daubechies discrete wavelet of
length 8"; PyWavelets' ``db4`` has 4 vanishing moments and filters of length 2N = 8), and
for each level j = 1..l the signal is rebuilt from the approximation coefficients at level
j alone, every finer detail set to zero (seed eq. 6). Stacking the l rebuilt signals gives,
per frame, the seed's n-features × l-levels matrix M_i.

Bands: the level-j approximation holds, nominally, 0 … fs/2^(j+1); at 30 fps

===== =========== ===== ===========
level band, Hz    level band, Hz
===== =========== ===== ===========
1     0 – 7.5     4     0 – 0.94
2     0 – 3.75    5     0 – 0.47
3     0 – 1.9     6     0 – 0.23
===== =========== ===== ===========

db4's filters are short, so each edge is a gradual transition a fraction of an octave
wide, not a cut (tests/test_video_wavelets.py measures it).

Signal extension (``MODE``): ``"symmetric"``, PyWavelets' default — the run is mirrored at
its ends, so no jump is made at the edge. ``"periodization"`` would join the run's end to
its start and bring content from one end into the other; ``"zero"`` would pull the
approximations towards 0 near the edges.

Gaps: each run of finite values of a feature is decomposed on its own. A run resolves
``pywt.dwt_max_level(len(run), 8)`` levels (levels where the filter still fits in the
coefficients); the levels above that are NaN for the run's frames, never extrapolated.
A run of fewer than 14 frames (2·7) resolves no level (all NaN).
"""

from __future__ import annotations

import numpy as np
import pywt

from host.video.kinematics import finite_runs

__all__ = ["LEVELS", "MODE", "WAVELET", "wavelet_matrices"]

#: Seed 000 §III-A: "the Daubechies discrete wavelet of length 8" (dec_len 8 in PyWavelets).
WAVELET = "db4"
#: Default number of levels l. 6 at 30 fps reaches 0.23 Hz (about 4 s cycles); a run needs
#: 7·2^6 = 448 frames (15 s, pywt.dwt_max_level) for level 6 — the seed's 450-frame window.
LEVELS = 6
#: Signal extension at a run's ends (module docstring).
MODE = "symmetric"


def _approximations(run: np.ndarray, levels: int) -> np.ndarray:
    """(len(run), levels): the run rebuilt from its level-j approximation, j = 1..levels."""
    n = len(run)
    out = np.full((n, levels), np.nan)
    wavelet = pywt.Wavelet(WAVELET)
    top = min(levels, pywt.dwt_max_level(n, wavelet.dec_len))
    if top < 1:
        return out
    # One decomposition to level ``top``: coeffs = [cA_top, cD_top, ..., cD_1]. The level-j
    # approximation is cA_top with cD_top..cD_(j+1) kept and cD_j..cD_1 zeroed: the same as
    # pywt.waverec of a level-j decomposition with all its details zeroed (waverec inverts
    # wavedec level by level; tests/test_video_wavelets.py checks the two agree).
    coeffs = pywt.wavedec(run, wavelet, mode=MODE, level=top)
    for j in range(1, top + 1):
        kept = [coeffs[0], *coeffs[1 : top - j + 1]]
        zeroed = [np.zeros_like(c) for c in coeffs[top - j + 1 :]]
        out[:, j - 1] = pywt.waverec(kept + zeroed, wavelet, mode=MODE)[:n]
    return out


def wavelet_matrices(features: np.ndarray, levels: int = LEVELS) -> np.ndarray:
    """Per frame, each feature rebuilt from its db4 approximation at levels 1..l.

    Parameters
    ----------
    features : ndarray, shape (n_frames, n_features)
        Kinematic features (any units); NaN where unknown.
    levels : int
        l, the number of levels (≥ 1).

    Returns
    -------
    ndarray, shape (n_frames, n_features, levels), float64
        ``[t, i, j-1]`` is feature i at frame t rebuilt from its level-j approximation
        coefficients alone (seed eqs. 5–6), in the feature's own unit. NaN where the
        feature is NaN, and for levels its run is too short to resolve (module docstring).

    Raises ValueError for ``levels`` < 1 or ``features`` that is not 2-D.
    """
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2:
        raise ValueError(f"wavelet_matrices: features has shape {features.shape}, expected 2-D")
    if levels < 1:
        raise ValueError(f"wavelet_matrices: levels must be ≥ 1, got {levels}")
    out = np.full((*features.shape, levels), np.nan)
    for i, column in enumerate(features.T):
        for start, stop in finite_runs(column):
            out[start:stop, i, :] = _approximations(column[start:stop], levels)
    return out
