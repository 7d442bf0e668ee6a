"""PNG figures of a :class:`host.video.pipeline.VideoFeatures` (seed 000 Figs. 2, 4, 5).

- :func:`plot_features`: the features over time. A short clip frame by frame: joint
  angles, head tilts, wrist speed and the data's quality, the flagged frames shaded, Borg
  ratings on a second axis. A track longer than :data:`LONG_TRACK_S` (a simulated 30-min
  session is 54000 frames, a solid block of colour drawn so) as per-window summaries of
  :data:`WINDOW_S`: joint-angle medians and p5–p95 bands, range of motion, head tilt and
  shoulder rise, wrist peak speed, cycle period and repeatability, share of frames flagged,
  Borg ratings (:func:`window_summary` gives the numbers);
- :func:`plot_wavelet_matrix`: one frame's n-features × l-levels matrix (seed Fig. 4) and
  one feature's reconstruction at every level over time;
- :func:`plot_voxels`: one frame's 20 × 20 × 20 posture grid (seed Fig. 5) beside its
  keypoints in the image;
- :func:`plot_nyquist`: each feature's share of power in the high band (seed eq. 4's
  check), the check's threshold as a line.

Every title names the source file and its provenance ("SIMULATED" for simulated workers);
every axis has its unit. matplotlib without pyplot (no GUI backend).

This module is the public face; the work is split by figure: :mod:`host.video.plots_time`
(features over time), :mod:`host.video.plots_windows` (the per-window numbers),
:mod:`host.video.plots_matrix` (wavelet matrix, voxels, Nyquist) and
:mod:`host.video.plots_common` (sizes, colours, units, titles).
"""

from __future__ import annotations

from host.video.plots_common import (
    DPI,
    FEATURES_SIZE_IN,
    UNIT_SUFFIXES,
    VOXELS_SIZE_IN,
    WINDOWED_SIZE_IN,
    split_unit,
)
from host.video.plots_matrix import (
    nyquist_figure,
    plot_nyquist,
    plot_voxels,
    plot_wavelet_matrix,
    voxels_figure,
    wavelet_figure,
)
from host.video.plots_time import features_figure, frames_figure, plot_features, windowed_figure
from host.video.plots_windows import LONG_TRACK_S, WINDOW_S, WindowTable, window_summary

__all__ = [
    "DPI",
    "FEATURES_SIZE_IN",
    "LONG_TRACK_S",
    "UNIT_SUFFIXES",
    "VOXELS_SIZE_IN",
    "WINDOWED_SIZE_IN",
    "WINDOW_S",
    "WindowTable",
    "features_figure",
    "frames_figure",
    "nyquist_figure",
    "plot_features",
    "plot_nyquist",
    "plot_voxels",
    "plot_wavelet_matrix",
    "split_unit",
    "voxels_figure",
    "wavelet_figure",
    "window_summary",
    "windowed_figure",
]
