"""The deployed wearable on the emulated board: 32-bit ARM, no numpy, the NPU runtime
built for armhf; the simulator outside, serving the board's bus, lines and clock over a
Unix socket (issue 13, item 4).

``deploy.sh --target-dir`` lays the bundle out as on a Luckfox; the board's process
(``python3 -m device`` in the Debian armhf userland under qemu-user) holds only what a
board holds. The same bundle runs natively on x86-64 against the same simulated subject,
with the same stand-in runtime built for x86-64: the per-second lines (levels, SmO2) must
be identical.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from emulated_board import Bind, guest_command, rootfs, run, unavailable_reason
from emulated_board.board import GUEST_ENV
from standin_npu import SIGNAL_NORMALISATION, build_standin_runtime, write_standin_bundle
from test_deploy import deploy, wheels  # noqa: F401 (a fixture)
from test_remote_board import write_config

from hwsim.remote import run_session

REPO = Path(__file__).resolve().parent.parent
APP = "opt/nirs-wearable"
SIGNAL_S = 60.0  # 20 s of calibration, then 40 levels


@pytest.fixture(scope="module")
def board_root() -> Path:
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    return rootfs()


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, wheels) -> Path:  # noqa: F811 (the fixture imported above)
    """A board root with the deployed app and a stand-in model, as deploy.sh leaves it;
    the stand-in NPU runtime built for the board (armhf) and for this machine."""
    base = tmp_path_factory.mktemp("emulated")
    models = write_standin_bundle(
        base / "models", normalisation=SIGNAL_NORMALISATION, used_by=Path(__file__).name
    )
    root = base / "board"
    build_standin_runtime(root / "oem/usr/lib/librknnmrt.so", "arm-linux-gnueabihf-gcc")
    build_standin_runtime(base / "x86_64/librknnmrt.so")
    deploy("--target-dir", str(root), "--models", str(models))
    return root


def config(path: Path, app: str, library: str, sessions: str) -> Path:
    """The board's config with the stand-in runtime, records under ``sessions``."""
    model = {"dir": f"{app}/models", "backend": "rknn", "library": library}
    return write_config(path, model=model, recording={"dir": sessions})


def test_the_deployed_app_gives_the_same_levels_on_the_emulated_armhf_board(
    board_root, bundle, tmp_path
):
    app_host = bundle / APP
    # x86-64: the deployed bundle, its vendored wheels, this machine's Python and Pillow.
    native_cfg = config(
        tmp_path / "native.toml",
        str(app_host),
        str(bundle.parent / "x86_64/librknnmrt.so"),
        str(tmp_path / "native-sessions"),
    )
    native = run_session(
        seconds=SIGNAL_S,
        device_args=["--config", str(native_cfg)],
        cwd=app_host,
        env={"PATH": os.environ["PATH"], "PYTHONPATH": f"{app_host}/vendor:{app_host}"},
        timeout_s=900,
    )
    assert native.returncode == 0, native.stderr[-3000:]

    # armhf: the same bundle in the board's userland, the socket's folder bound in.
    sock_dir = Path(tempfile.mkdtemp(prefix="emulated-sock-"))
    os.chmod(sock_dir, 0o755)
    (tmp_path / "etc").mkdir()
    config(tmp_path / "etc/wearable.toml", f"/{APP}", "/oem/usr/lib/librknnmrt.so", "/tmp/s")
    binds = [
        Bind(app_host, f"/{APP}"),
        Bind(bundle / "oem", "/oem"),
        Bind(tmp_path / "etc", "/etc/nirs"),
        Bind(sock_dir, "/run/sim", writable=True),
    ]
    python = guest_command(["python3"], binds=binds, cwd=f"/{APP}", root=board_root)
    env = {**GUEST_ENV, "PYTHONPATH": f"/{APP}/vendor:/{APP}"}
    try:
        board = run_session(
            seconds=SIGNAL_S,
            device_args=["--config", "/etc/nirs/wearable.toml"],
            python=python,
            socket_path=sock_dir / "board.sock",
            device_socket_path="/run/sim/board.sock",
            env=env,
            timeout_s=1800,
        )
    finally:
        shutil.rmtree(sock_dir, ignore_errors=True)
    assert board.returncode == 0, board.stderr[-3000:]
    assert run(["uname", "-m"], check=True).stdout.strip() == "armv7l"

    levels = [line for line in native.lines if "calibrating" not in line]
    assert len(native.lines) >= SIGNAL_S - 2 and len(levels) >= 35
    assert board.lines == native.lines
    assert board.board.buzzer_line.history == native.board.buzzer_line.history
