"""A PNG of any recording (issue 17, point 1: one session type that ``plot`` accepts).

Checked on the figure before it is saved: one axis per quantity with its unit, the
intervals shaded on every axis and labelled, gaps as breaks in the line (a NaN value, and
a dropout in the times), the title naming the file, sensor, format and provenance
(SIMULATED when so), the importer's notes in small text; then the PNG written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_dataset import make_record
from test_predict import artinis_like

from host.plot_recording import plot_recording, recording_figure
from host.recording import Channel, Interval, Recording


def _texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


def test_each_quantity_on_its_own_axis_with_its_unit_and_the_intervals_labelled():
    rec = artinis_like()
    fig = recording_figure(rec)
    axes = fig.axes
    assert [ax.get_ylabel() for ax in axes] == [
        "ΔHbO2 (µM)",
        "ΔHHb (µM)",
        "ΔtHb (µM)",
        "SmO2 (%)",
        "TSI Fit Factor (%)",
    ]
    assert [line.get_label() for ax in axes for line in ax.get_lines()] == [
        "O2Hb",
        "HHb",
        "tHb",
        "TSI",
        "TSI Fit Factor",
    ]
    assert _texts(axes[0]) == ["A rest", "B hold", "C rec"]
    for ax in axes:  # each interval shaded on every axis, where it is
        spans = [p.get_x() for p in ax.patches]
        assert spans == pytest.approx([0.0, 30.0, 120.0])
    title = fig._suptitle.get_text()
    for said in ("portamon_sample.txt", "sensor 1", "format oxysoft-txt", "human data"):
        assert said in title
    assert "SIMULATED" not in title
    notes = [t.get_text() for t in fig.texts]
    assert any("made by tests/test_predict.py, not by OxySoft" in t for t in notes)


def test_gaps_stay_gaps():
    """The 60–63 s dropout of the Artinis-like recording breaks its lines (one NaN put in
    the time gap); the project session's NaN sample stays NaN."""
    fig = recording_figure(artinis_like())
    line = fig.axes[0].get_lines()[0]
    x, y = np.asarray(line.get_xdata()), np.asarray(line.get_ydata())
    assert np.count_nonzero(np.isnan(y)) == 1
    assert 60.0 < x[np.isnan(y)][0] < 63.0
    session = Recording.from_session(make_record(), "S01_upper_limb_left.snirf")
    fig = recording_figure(session)
    od = next(ax for ax in fig.axes if ax.get_ylabel() == "ΔOD (dimensionless)")
    assert [line.get_label() for line in od.get_lines()] == ["ΔOD 750", "ΔOD 810", "ΔOD 870"]
    for line in od.get_lines():
        y = np.asarray(line.get_ydata())
        assert np.isnan(y[7]) and np.count_nonzero(np.isnan(y)) == 1


def test_a_simulated_session_says_so_and_its_phases_and_instants_are_marked():
    session = Recording.from_session(make_record(), "S01_upper_limb_left.snirf")
    session.intervals = (*session.intervals, Interval("marker", 2.5, 0.0))
    fig = recording_figure(session)
    title = fig._suptitle.get_text()
    assert "SIMULATED data" in title and "format nirs-fatigue-session" in title
    assert _texts(fig.axes[0]) == ["baseline", "hold", "rest", "hold", "marker"]
    assert [ax.get_ylabel() for ax in fig.axes] == [
        "ΔHbO2 (µM)",
        "ΔHHb (µM)",
        "ΔtHb (µM)",
        "ΔOD (dimensionless)",
        "light (V)",
        "quality flags (flags)",
    ]
    dotted = [line for line in fig.axes[-1].get_lines() if line.get_linestyle() == ":"]
    assert len(dotted) == 1 and dotted[0].get_xdata()[0] == 2.5


def test_the_png_is_written(tmp_path: Path):
    path = plot_recording(artinis_like(), tmp_path / "sub" / "portamon.png")
    assert path == tmp_path / "sub" / "portamon.png"
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.width == 1210 and image.height > 5 * 200


def test_a_recording_without_channels_is_refused(tmp_path: Path):
    empty = Recording(Path("x.csv"), "moxy-csv", "2", np.arange(3.0), channels=())
    with pytest.raises(ValueError, match="x.csv: sensor 2 has no channel to plot"):
        plot_recording(empty, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_another_channel_without_a_value_says_so():
    t = np.arange(5.0)
    rec = Recording(
        Path("m.csv"),
        "moxy-csv",
        "1",
        t,
        channels=(
            Channel("SmO2 Live", "smo2", "%", np.full(5, np.nan)),
            Channel("THb", "thb", "a.u.", np.ones(5)),
        ),
    )
    fig = recording_figure(rec)
    assert [ax.get_ylabel() for ax in fig.axes] == ["SmO2 (%)", "tHb (a.u.)"]
    assert _texts(fig.axes[0]) == ["SmO2 Live: no valid value"]
