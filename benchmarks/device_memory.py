"""Peak memory (RSS) of the device's process, set against the board's 64 MB.

Two figures, each from a child process's peak resident set (getrusage):

1. the device's own code as the board runs it: every module of ``device`` the app
   imports on the board (numpy, Pillow, the RKNN ctypes binding), plus a live
   measurement chain, feature window and a session recorder fed 60 s of frames;
2. the whole simulated main job (``python -m hwsim.wearable``): the same device code
   PLUS the simulator and ONNX Runtime, which the board does not load, so this is
   an upper bound.

    python benchmarks/device_memory.py [--models-dir models]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import textwrap

BOARD_RAM_MB = 64

DEVICE_ONLY = textwrap.dedent(
    """
    import resource, tempfile, os, math
    def rss(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    stages = [("python", rss())]
    import numpy as np
    stages.append(("+ numpy", rss()))
    import PIL.Image, PIL.ImageDraw, PIL.ImageFont, periphery, serial
    stages.append(("+ Pillow, periphery, pyserial", rss()))
    import device.app, device.npu, device.oled, device.link, device.config, device.__main__
    from device.acquisition import Frame
    from device.chain import MeasurementChain
    from device.features import LiveWindow, channel_row
    from device.recorder import SessionRecorder
    from device.codec import Record
    chain, window = MeasurementChain(), LiveWindow()
    with tempfile.TemporaryDirectory() as tmp:
        with SessionRecorder(os.path.join(tmp, "s.nrec")) as rec:
            for i in range(60 * 43):  # 60 s of frames
                t = i / 43
                f = Frame(t, (0.01, 1.2 + 0.01 * math.sin(t), 1.1, 0.9), (4, 4, 4, 4),
                          (0.01, 1.21, 1.11, 0.91))
                rec.write(Record.of(f))
                for s in chain.push(f):
                    rec.write(Record.of(s))
                    window.push(channel_row(s.d_od, s.d_hbo2_um, s.d_hhb_um), s.flags)
    stages.append(("+ device code, 60 s of chain, window, recorder", rss()))
    for name, kb in stages:
        print(f"{kb} {name}")
    """
)


def peak_mb_of(cmd: list[str]) -> tuple[float, str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(after, before) / 1024, out.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models-dir", default="models")
    args = parser.parse_args()
    _, out = peak_mb_of([sys.executable, "-c", DEVICE_ONLY])
    stages = [line.split(" ", 1) for line in out.strip().splitlines()]
    for kb, name in stages:
        print(f"  {name:50s} {int(kb) / 1024:6.1f} MB")
    device_mb = int(stages[-1][0]) / 1024
    with tempfile.TemporaryDirectory() as tmp:
        sim_mb, _ = peak_mb_of(
            [sys.executable, "-m", "hwsim.wearable", "--out", tmp, "--models-dir", args.models_dir]
        )
    print(
        f"peak RSS, device code as on the board (x86-64 CPython): {device_mb:6.1f} MB "
        f"= {device_mb / BOARD_RAM_MB:5.0%} of the board's {BOARD_RAM_MB} MB"
    )
    print(
        f"peak RSS, whole simulated main job (+ hwsim, ONNX Runtime): {sim_mb:6.1f} MB "
        f"(an upper bound: the board loads neither)"
    )
    print(
        "note: a 64-bit PC process is larger than the same code on the 32-bit board, and "
        "PyPI's numpy maps its bundled OpenBLAS (about 21 MB here); the board's kernel, "
        "init and Python also need part of the 64 MB. Not measured on a board."
    )


if __name__ == "__main__":
    main()
