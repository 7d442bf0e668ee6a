"""Draw the OLED screens the wearer sees when something fails: ``fault_screens.png``.

    .venv/host/bin/python docs/figures/fault_screens.py

The screens are drawn by the device's own code (:mod:`device.screens`) with the texts the
app shows (device.acquisition's faults, device.chain's restart hint).
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from device import screens  # noqa: E402

SCALE = 3
GAP = 8
PANELS = (
    (screens.no_data, {"cause": "ADC not answering on I2C: check its wiring and power"}),
    (screens.calibrating, {"progress": 0.1, "seconds_left": 18, "note": "sensor on the skin?"}),
    (screens.check_sensor, {"reasons": ["no data"]}),
    (screens.error, {"message": "self-test: no light above dark from the 750 nm LED(s)"}),
)


def main() -> None:
    width = len(PANELS) * (screens.WIDTH * SCALE + GAP) - GAP
    sheet = Image.new("RGB", (width, screens.HEIGHT * SCALE), "grey")
    for i, (painter, kwargs) in enumerate(PANELS):
        panel = Image.new("1", (screens.WIDTH, screens.HEIGHT))
        painter(ImageDraw.Draw(panel), **kwargs)
        big = panel.resize((screens.WIDTH * SCALE, screens.HEIGHT * SCALE), Image.NEAREST)
        sheet.paste(big.convert("RGB"), (i * (screens.WIDTH * SCALE + GAP), 0))
    out = Path(__file__).with_name("fault_screens.png")
    sheet.save(out)
    print(out)


if __name__ == "__main__":
    main()
