"""The main job: a simulated subject wears the device running the bundled model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hwsim.wearable import main, run_wearable

MODELS = Path(__file__).resolve().parent.parent / "models"
pytestmark = pytest.mark.skipif(
    not (MODELS / "fusion.onnx").exists(), reason="no bundled model in models/ yet"
)


def test_main_job_prints_a_line_a_second_and_writes_gif_and_summary(tmp_path, capsys):
    assert main(["--out", str(tmp_path), "--models-dir", str(MODELS)]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("t=")]
    assert len(lines) >= 100  # 20 s relaxed + a hold of up to 90 s + 30 s rest
    assert "true Borg" in lines[-1] and "SmO2~" in lines[-1]
    assert "SIMULATED subject" in out
    live = [line for line in lines if "predicted (" not in line]
    assert len(live) > 60  # levels once calibrated
    gif = Image.open(tmp_path / "oled.gif")
    assert gif.n_frames == len(lines)
    gif.seek(gif.n_frames - 1)
    assert np.asarray(gif.convert("L")).astype(bool).sum() > 500  # a drawn screen, not blank
    assert (tmp_path / "summary.png").stat().st_size > 10_000
    (first,) = tmp_path.glob("session-*.nrec")
    assert first.stat().st_size > 100_000
    kept = first.read_bytes()
    # Run again into the same folder: a new record beside the first, which is untouched.
    assert main(["--out", str(tmp_path), "--models-dir", str(MODELS)]) == 0
    assert len(list(tmp_path.glob("session-*.nrec"))) == 2
    assert first.read_bytes() == kept


def test_the_wearable_follows_the_simulated_fatigue(tmp_path):
    run = run_wearable(models_dir=MODELS, out=tmp_path, emit=lambda line: None)
    shown = [(r.level, true) for r, true in zip(run.reports, run.true_level) if r.level is not None]
    predicted, truth = np.array(shown).T
    # On a simulated subject the shipped model tracks the rise of fatigue: its levels
    # correlate with the truth and it reaches "high" or beyond during the hold.
    assert np.corrcoef(predicted, truth)[0, 1] > 0.5
    assert predicted.max() >= 3


def test_the_main_job_needs_only_what_dev_run_installs(tmp_path):
    """`./dev run` installs the project with the `sim` extra only; the tests' venv has
    more (host tools), so a missing requirement would only show on a fresh machine."""
    import json
    import re
    import subprocess
    import sys
    from importlib.metadata import packages_distributions, requires

    try:
        import tomllib
    except ModuleNotFoundError:  # Python < 3.11
        pytest.skip("needs tomllib")
    project = tomllib.loads((MODELS.parent / "pyproject.toml").read_text())["project"]

    def name(requirement: str) -> str:
        return re.split(r"[\s<>=!~;\[(]", requirement, maxsplit=1)[0].lower().replace("_", "-")

    allowed: set[str] = set()
    todo = [name(r) for r in project["dependencies"] + project["optional-dependencies"]["sim"]]
    while todo:
        dist = todo.pop()
        if dist in allowed:
            continue
        allowed.add(dist)
        for r in requires(dist) or []:
            if "extra ==" not in r:
                todo.append(name(r))
    script = (
        "import json, runpy, sys\n"
        f"sys.argv = ['hwsim.wearable', '--out', {str(tmp_path)!r}, '--models-dir', "
        f"{str(MODELS)!r}]\n"
        "try:\n    runpy.run_module('hwsim.wearable', run_name='__main__')\n"
        "except SystemExit as e:\n    assert not e.code, e.code\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    imported = json.loads(done.stdout.splitlines()[-1])
    owners = packages_distributions()
    needed = {d.lower().replace("_", "-") for m in imported for d in owners.get(m, [])}
    assert (tmp_path / "summary.png").exists()
    # setuptools' start-up hook (_distutils_hack) comes with every venv.
    assert needed - allowed - {"nirs-fatigue", "setuptools", "pip"} == set()
