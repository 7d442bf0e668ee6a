"""The board has no numpy (Buildroot's python-numpy needs glibc or musl; the Luckfox SDK
is uClibc): every module under ``device/`` must import where numpy cannot be imported.

Nor luma (luma.core, luma.oled) or cbor2: the board's image does not have them, and they cost
+1.3 MB at import on the emulated board; device/ssd1306.py is the display's chip protocol.
Nor python-periphery: it is no longer vendored (its package imports every peripheral, +0.58 MB
anonymous at start-up on the emulated board); device/gpio_line.py opens the GPIO lines itself.

Module by module tests (test_mbll, test_features, test_npu) also run their science there;
this one walks the whole package, so a new module cannot slip numpy or luma in.
"""

from __future__ import annotations

import json
from pathlib import Path

from device_python import run_python

REPO = Path(__file__).resolve().parent.parent
DEVICE_MODULES = sorted(
    f"device.{p.stem}" for p in (REPO / "device").glob("*.py") if p.stem != "__init__"
)

#: Packages the board does not have: importing any of them raises ImportError in the probe.
BLOCKED = ("numpy", "luma", "cbor2", "periphery")

_PROBE = """
import importlib, json, sys
blocked = sys.argv[1].split(",")
for package in blocked:
    sys.modules[package] = None  # `import numpy`, `import luma.oled` ... now raise ImportError
failed = {}
for name in sys.argv[2:]:
    try:
        importlib.import_module(name)
    except ImportError as exc:
        failed[name] = str(exc)
loaded = sorted(m for m in sys.modules if m.split(".")[0] in blocked)
print(json.dumps({"failed": failed, "loaded": loaded}))
"""


def test_the_package_has_the_modules_the_board_runs():
    assert {"device.app", "device.chain", "device.npu", "device.features"} <= set(DEVICE_MODULES)


def test_every_device_module_imports_where_numpy_and_luma_cannot_be_imported():
    done = run_python("-c", _PROBE, ",".join(BLOCKED), *DEVICE_MODULES, "device.__main__")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["failed"] == {}
    assert report["loaded"] == sorted(BLOCKED)  # the blockers themselves, nothing of them loaded
