"""The board has no numpy (Buildroot's python-numpy needs glibc or musl; the Luckfox SDK
is uClibc): every module under ``device/`` must import where numpy cannot be imported.

Module by module tests (test_mbll, test_features, test_npu) also run their science there;
this one walks the whole package, so a new module cannot slip numpy in.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEVICE_MODULES = sorted(
    f"device.{p.stem}" for p in (REPO / "device").glob("*.py") if p.stem != "__init__"
)

_PROBE = """
import importlib, json, sys
sys.modules["numpy"] = None  # any `import numpy` now raises ImportError
failed = {}
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except ImportError as exc:
        failed[name] = str(exc)
print(json.dumps({"failed": failed, "numpy": sorted(m for m in sys.modules if "numpy" in m)}))
"""


def test_the_package_has_the_modules_the_board_runs():
    assert {"device.app", "device.chain", "device.npu", "device.features"} <= set(DEVICE_MODULES)


def test_every_device_module_imports_where_numpy_cannot_be_imported():
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *DEVICE_MODULES, "device.__main__"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["failed"] == {}
    assert report["numpy"] == ["numpy"]  # the blocker itself, nothing of numpy loaded
