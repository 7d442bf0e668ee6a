"""The main job as it stands: the light monitor on the simulated bench."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from hwsim.bench import main, run_bench
from hwsim.monitor import draw_summary


def test_bench_shows_the_light_levels_on_the_oled_png(tmp_path):
    lines: list[str] = []
    run = run_bench(3.5, out=tmp_path, emit=lines.append)
    assert len(lines) == 3 and lines[0].startswith("t=   1.0 s")
    assert run.stats.lost == 0  # the OLED's frames did not cost a single conversion

    # Decode the saved PNG (scale 4) back to the panel's pixels ...
    png = np.array(Image.open(run.png).convert("1"), dtype=bool)[::4, ::4]
    # ... and draw what the last summary should look like, independently of the chip.
    reference = Image.new("1", (128, 64))
    draw_summary(ImageDraw.Draw(reference), run.summaries[-1], (750, 810, 870))
    np.testing.assert_array_equal(png, np.array(reference, dtype=bool))
    assert png.sum() > 300  # text, not a blank panel
    assert "1.850" in lines[-1]  # 750 nm light through resting tissue, V


def test_bench_command_line_survives_bus_faults(tmp_path, capsys):
    assert main(["--seconds", "2", "--fault-rate", "0.01", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "lost 0" in out and "oled.png" in out


def test_bench_rejects_a_bad_fault_rate(tmp_path, capsys):
    import pytest

    with pytest.raises(SystemExit):
        main(["--fault-rate", "2", "--out", str(tmp_path)])
    assert "argument --fault-rate: must be a number from 0 to 1, got '2'" in capsys.readouterr().err
