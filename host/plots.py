"""Figures of sessions for people to look at (matplotlib, no display needed)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state

from device.mbll import smo2_percent
from host.session import SessionRecord

#: Shading of a session's phases by kind, in every figure of a session: relaxed (blue
#: before work, green after), an isometric hold (red), a cuff occlusion at rest (violet),
#: light dynamic work (orange), sitting with movement (grey); anything else light grey.
PHASE_COLOURS = {
    "baseline": "#e8f0fe",
    "hold": "#fde7e7",
    "rest": "#e6f4ea",
    "occlusion": "#efe6fb",
    "dynamic": "#fff1dc",
    "movement": "#ececec",
}
#: The caption that says so.
PHASE_CAPTION = (
    "shading: baseline blue, hold red, cuff occlusion violet, light work orange, "
    "sitting grey, rest green"
)


def plot_session(record: SessionRecord, path: Path) -> Path:
    """Raw light, haemoglobin, SmO2 and labels of one session, as a PNG.

    Warns nothing: where the SmO2 estimate is undefined (ΔHbO2 or ΔHHb below minus the
    assumed resting concentration, :func:`device.mbll.smo2_percent`), its panel says for
    how many samples; a session without Borg ratings (:func:`host.session.training_problems`)
    says in the label panel that it is unlabelled instead of drawing a level.
    """
    t = record.t_s
    with warnings.catch_warnings():  # said on the figure instead
        warnings.simplefilter("ignore", RuntimeWarning)
        smo2 = np.asarray(
            smo2_percent(np.nan_to_num(record.d_hbo2_um), np.nan_to_num(record.d_hhb_um))
        )
    undefined = int(np.count_nonzero(np.isnan(smo2)))
    fig = Figure(figsize=(10, 9), constrained_layout=True)
    axes = fig.subplots(4, 1, sharex=True)
    title = f"{record.subject_id} {record.protocol} {record.side}"
    fig.suptitle(f"{title} ({record.provenance.upper()} data)")
    for ax in axes:
        for name, onset, duration in record.phases:
            ax.axvspan(onset, onset + duration, color=PHASE_COLOURS.get(name, "#f6f6f6"), lw=0)
        if np.isfinite(record.task_failure_s):
            ax.axvline(record.task_failure_s, color="k", ls=":", lw=1)
    for i, wl in enumerate(record.wavelengths_nm):
        axes[0].plot(t, record.intensity_v[:, i], lw=0.8, label=f"{wl:.0f} nm")
    axes[0].set_ylabel("light − dark (V)")
    axes[0].legend(loc="upper right", fontsize=8, ncol=3)
    thb = record.d_hbo2_um + record.d_hhb_um
    axes[1].plot(t, record.d_hbo2_um, color="tab:red", lw=0.8, label="ΔHbO2")
    axes[1].plot(t, record.d_hhb_um, color="tab:blue", lw=0.8, label="ΔHHb")
    axes[1].plot(t, thb, color="tab:green", lw=0.8, label="ΔtHb")
    axes[1].set_ylabel("µM")
    axes[1].legend(loc="upper right", fontsize=8, ncol=3)
    axes[2].plot(t, smo2, color="tab:purple", lw=0.8)
    axes[2].set_ylabel("SmO2 estimate (%)")
    if undefined:
        axes[2].set_title(
            f"SmO2 undefined for {undefined} of {smo2.size} samples: the assumed resting "
            "haemoglobin is smaller than the fall measured there",
            fontsize=8,
        )
    axes[3].set_ylim(-0.5, 10.5)
    axes[3].set_ylabel("rating")
    axes[3].set_xlabel(f"time (s)   {PHASE_CAPTION};  dotted: task failure", fontsize=8)
    if np.size(record.borg):
        axes[3].step(record.borg_t_s, record.borg, where="post", color="k", label="Borg CR10")
        axes[3].plot(t, record.level * 2, color="tab:orange", lw=1.2, label="fatigue level × 2")
        axes[3].legend(loc="upper right", fontsize=8)
    else:
        axes[3].text(
            0.5,
            0.5,
            "no Borg rating recorded: unlabelled (not for training)",
            ha="center",
            va="center",
            transform=axes[3].transAxes,
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path
