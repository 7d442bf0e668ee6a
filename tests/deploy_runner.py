"""Run the DEPLOYED wearable from a ``deploy.sh --target-dir`` tree on the simulator.

    python -I -S deploy_runner.py --root TARGET --sim DIR --binary DIR --seconds N --report FILE

tests/test_deploy.py copies this file out of the source tree and starts it with ``-I -S``:
no site-packages, no PYTHONPATH, not the script's folder, so ``sys.path`` holds only the
standard library until this script adds, in this order,

1. ``TARGET/opt/nirs-wearable/vendor`` and ``TARGET/opt/nirs-wearable``: the bundle;
2. ``--sim``: a copy of ``hw-sim/hwsim`` (the simulator) made outside the source tree;
3. ``--binary``: a folder with links to numpy and PIL only (on the board they come with
   the image).

It then runs the bundle's own entry point, ``device.__main__.main`` with the deployed
``wearable.toml``, exactly as the init script does, swapping only what touches hardware
or the board's file system:

- ``device.i2c_dev.I2CDev(bus)`` gives the simulated I²C bus (ADS1114 and SSD1306 on it);
- ``device.gpio_line.open_line(chip, line, direction)`` gives the simulated line that the
  config's line number is wired to;
- ``device.clock.SystemClock()`` gives the simulated board's virtual clock;
- the board-absolute paths in the config (model, recordings) and the NPU runtime's
  search folders (``device.rknn_api.SDK_LIBRARY_DIRS``) are moved under TARGET.

``device.app.Wearable`` is wrapped to record each second's state. The report (JSON)
holds the exit status, the states and levels, the model backend and runtime library,
``sys.path`` and every imported module's file.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import sys
import sysconfig
from pathlib import Path

APP_DIR = "/opt/nirs-wearable"


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, required=True, help="the --target-dir tree")
    parser.add_argument("--sim", type=Path, required=True, help="folder holding hwsim/")
    parser.add_argument("--binary", type=Path, required=True, help="folder with numpy, PIL")
    parser.add_argument("--seconds", type=float, default=40.0, help="simulated seconds")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--report", type=Path, required=True)
    return parser.parse_args()


def _vendored_top_levels(vendor: Path) -> list[str]:
    """Import names of the vendored distributions (their top_level.txt, else the name)."""
    names = set()
    for info in vendor.glob("*.dist-info"):
        top = info / "top_level.txt"
        if top.is_file():
            names.update(n.strip() for n in top.read_text().splitlines() if n.strip())
        else:
            names.add(info.name.split("-")[0].lower())
    return sorted(names)


def main() -> int:
    args = _arguments()
    root = args.root.resolve()
    app = root / APP_DIR.lstrip("/")
    sys.path[:0] = [str(app / "vendor"), str(app), str(args.sim), str(args.binary)]

    # From here on, every import comes from the paths above or the standard library.
    import numpy as np

    import device.clock
    import device.gpio_line
    import device.i2c_dev
    import device.rknn_api
    from device import app as app_module
    from device import config as config_module
    from hwsim.board import build_board, couple_to_person

    report: dict = {"vendored": _vendored_top_levels(app / "vendor")}
    for name in report["vendored"]:  # every vendored package imports on this Python
        importlib.import_module(name)

    config_path = app / "wearable.toml"
    config = config_module.load(config_path)
    report["config"] = {"model_dir": config.model.dir, "recording_dir": config.recording.dir}

    def under_root(path: str) -> str:
        return str(root / path.lstrip("/")) if path.startswith("/") else path

    def rebased(path) -> config_module.WearableConfig:
        c = config_module.load(path)
        return dataclasses.replace(
            c,
            model=dataclasses.replace(c.model, dir=under_root(c.model.dir)),
            recording=dataclasses.replace(c.recording, dir=under_root(c.recording.dir)),
        )

    board = build_board(seed=args.seed)
    couple_to_person(board, np.random.default_rng(args.seed))
    lines = {
        config.gpio.led_750: board.led_lines[750],
        config.gpio.led_810: board.led_lines[810],
        config.gpio.led_870: board.led_lines[870],
        config.gpio.adc_ready: board.ready_line,
        config.gpio.buzzer: board.buzzer_line,
    }

    class SimSMBus:
        """``device.i2c_dev.I2CDev(n)`` as a context manager giving the simulated bus."""

        def __init__(self, bus: int) -> None:
            if bus != config.i2c.bus:
                raise OSError(2, f"no simulated /dev/i2c-{bus}")

        def __enter__(self):
            return board.bus

        def __exit__(self, *exc_info) -> None:
            pass

    def sim_gpio(chip: str, line: int, direction: str):
        if chip != config.gpio.chip or line not in lines:
            raise OSError(2, f"no simulated line {line} on {chip}")
        return lines[line]

    seconds: list[dict] = []
    original = app_module.Wearable

    class RecordingWearable(original):
        """The deployed Wearable, recording each second's report."""

        def __init__(self, hw, config, model, **kwargs) -> None:
            report["backend"] = getattr(model, "backend_name", None)
            report["library"] = getattr(getattr(model, "backend", None), "library", None)
            console = kwargs.get("on_second")

            def on_second(r) -> None:
                seconds.append({"t_s": r.t_s, "state": r.state.value, "level": r.level})
                if console is not None:
                    console(r)

            kwargs["on_second"] = on_second
            super().__init__(hw, config, model, **kwargs)

    device.i2c_dev.I2CDev = SimSMBus
    device.gpio_line.open_line = sim_gpio
    device.clock.SystemClock = lambda: board.clock
    device.rknn_api.SDK_LIBRARY_DIRS = tuple(
        under_root(d) for d in device.rknn_api.SDK_LIBRARY_DIRS
    )
    app_module.Wearable = RecordingWearable
    import device.__main__ as entry

    entry.load = rebased

    status = entry.main(["--config", str(config_path), "--seconds", str(args.seconds)])

    report.update(
        exit_status=status,
        seconds=seconds,
        sys_path=list(sys.path),
        stdlib=sorted(
            {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib")}
            | {str(Path(sysconfig.get_paths()["stdlib"]) / "lib-dynload")}
        ),
        modules={
            name: getattr(module, "__file__", None)
            for name, module in sorted(sys.modules.items())
            if getattr(module, "__file__", None)
        },
        sessions=sorted(
            str(p) for p in Path(under_root(config.recording.dir)).glob("*") if p.is_file()
        ),
    )
    args.report.write_text(json.dumps(report, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
