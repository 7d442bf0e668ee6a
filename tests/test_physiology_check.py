"""hwsim.physiology_check: the measures issue 19 compares with published recordings."""

from __future__ import annotations

import numpy as np
import pytest

from hwsim.physiology_check import MEASURES, PUBLISHED, main, simulate_measures, window_measures


def test_each_measure_on_a_signal_of_known_shape():
    t = np.arange(0, 110, 0.1)
    hbo2 = np.full(t.size, 60.0)
    hhb = np.full(t.size, 30.0)
    hold = (t >= 20) & (t < 50)
    hbo2[hold] -= t[hold] - 20  # 1 µM/s down, tHb kept: a pure deoxygenation
    hhb[hold] += t[hold] - 20
    after = t >= 50
    hbo2[after] = 60 + 10 * np.exp(-(t[after] - 50) / 10)  # +10 µM overshoot, settling
    hhb[after] = 30.0
    m = window_measures(t, hbo2, hhb, baseline=(0, 20), hold=(20, 50))
    last = (t >= 48) & (t < 50)
    assert m["end_d_hbo2_um"] == pytest.approx(-(t[last] - 20).mean())  # -29 µM
    assert m["end_d_hhb_um"] == pytest.approx((t[last] - 20).mean())
    assert m["onset_d_thb_um"] == pytest.approx(0.0, abs=1e-9)
    # SmO2 from 60/90 at 20 s to (60 - 4.9)/90 at 24.9 s, over 4.9 s.
    assert m["desat_pp_per_s"] == pytest.approx(100 * 4.9 / 90 / 4.9)
    assert m["hyperaemia_d_hbo2_um"] == pytest.approx(10.0)
    assert m["hyperaemia_d_smo2_pp"] == pytest.approx(100 * (70 / 100 - 60 / 90))
    assert m["rest_smo2_pct"] == pytest.approx(100 * 60 / 90)
    assert np.isnan(m["estimate_clipped_s"])  # not asked for
    with pytest.raises(ValueError, match="no sample between 200 and 220 s"):
        window_measures(t, hbo2, hhb, baseline=(200, 220), hold=(20, 50))


def test_simulated_sessions_give_every_measure_and_the_table_says_simulated(capsys, tmp_path):
    rows = simulate_measures(2, seed=2025)
    assert len(rows) == 2 and all(list(r) == list(MEASURES) for r in rows)
    assert all(np.isfinite(list(r.values())).all() for r in rows)
    assert all(r["end_d_hbo2_um"] < 0 < r["end_d_hhb_um"] for r in rows)  # a hold deoxygenates
    assert set(PUBLISHED) == set(MEASURES)
    out = tmp_path / "check.png"
    assert main(["--subjects", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("measure (SIMULATED vs published)") and f"wrote {out}" in printed
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["--subjects", "2", "--out", str(out)]) == 2  # never replaced
    assert "exists" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "said"),
    [("missing/check.png", "does not exist"), ("check.txt", "not a .png name")],
)
def test_a_figure_that_cannot_be_written_is_refused_before_any_work(name, said, capsys, tmp_path):
    assert main(["--subjects", "1", "--out", str(tmp_path / name)]) == 2
    err = capsys.readouterr().err
    assert said in err and err.count("\n") == 1
