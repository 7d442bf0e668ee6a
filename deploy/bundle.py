"""deploy.sh's helper on the laptop: read-only checks of what goes into the bundle.

    python3 deploy/bundle.py config FILE --app-dir DIR [--source SOURCE_TREE]
    python3 deploy/bundle.py model DIR
    python3 deploy/bundle.py runtime-lib FILE [--runtime-version VERSION]
    python3 deploy/bundle.py wheels REQUIREMENTS CACHE_DIR
    python3 deploy/bundle.py manifest BUNDLE_DIR

Standard library only; Python 3.11+ (the device's own minimum, for tomllib). ``config``
loads the board config with the device's own loader (``device.config.load`` of the
source tree, standard library only), so a config the app would refuse is refused here,
before anything is copied; nothing else imports the device package.
Every problem is one line on stderr naming the file and what to do (``model`` lists
every one it finds); exit status 1.
``wheels`` prints where each pinned wheel is (or goes) in the cache and exits 3 when
some are not there yet (deploy.sh then downloads them).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import posixpath
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from device.config import WearableConfig

#: The model artefact the board runs (device/inference.py RKNN_FILE) and its metadata;
#: model.json's "rknn" section lists every NPU model of the bundle (the hybrid and the
#: all-int8 one) and the runtime version they are made for (device/inference.py).
RKNN_FILE = "fusion.rknn"
META_FILE = "model.json"
RKNN_SECTION = "rknn"
#: What precedes the version in Rockchip's runtime file (device/rknn_api.py VERSION_MARKER).
VERSION_MARKER = b"librknnmrt version: "
#: ELF header fields of the board's runtime: 32-bit, little-endian, ARM, shared object
#: (System V ABI gABI: e_ident[EI_CLASS] = ELFCLASS32 = 1, e_ident[EI_DATA] = ELFDATA2LSB
#: = 1; e_type ET_DYN = 3 at offset 16; e_machine EM_ARM = 40 at offset 18).
ELF_MAGIC, ELFCLASS32, ELFDATA2LSB, ET_DYN, EM_ARM = b"\x7fELF", 1, 1, 3, 40
#: The ELF32 file header (Elf32_Ehdr, gABI): 52 bytes; where it says the program and
#: section header tables are: e_phoff (offset 28), e_shoff (32), each 4 bytes; e_phentsize
#: (42), e_phnum (44), e_shentsize (46), e_shnum (48), each 2 bytes; little-endian here.
ELF32_HEADER_BYTES = 52
#: What --runtime-lib expects, said in every refusal.
RUNTIME_LIB_WANTED = (
    "--runtime-lib expects librknnmrt.so itself, a 32-bit ARM shared library "
    "(armhf-uclibc: rknpu2/runtime/Linux/librknn_api/armhf-uclibc/)"
)
#: Manifest of the bundle, in ``sha256sum -c`` format; the board checks the copy with it.
MANIFEST = "MANIFEST"
#: Folders that would be a disaster to delete with ``--purge-recordings``: a recordings
#: folder must lie at least two levels down (e.g. /userdata/nirs-sessions).
MIN_RECORDING_DEPTH = 2


class InputError(Exception):
    """What is wrong with an input: one line per problem (``lines``), each saying which
    file and what to do."""

    def __init__(self, *lines: str) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


# -- config -------------------------------------------------------------------------------


#: The source tree this script belongs to (deploy/..): where the device package is.
SOURCE = Path(__file__).resolve().parent.parent


def _device_module(name: str, source: Path = SOURCE):
    """Import ``name`` (a module of the device package) from the source tree ``source``.

    Raises:
        InputError: This Python cannot import it (the device needs 3.11 or newer).
    """
    sys.path.insert(0, str(source.resolve()))
    try:
        return importlib.import_module(name)
    except (ImportError, SyntaxError) as exc:
        raise InputError(
            f"{source / name.replace('.', '/')}.py: this Python ({sys.executable}, "
            f"{sys.version.split()[0]}) cannot import it: {exc}; set PYTHON to a python3 "
            "3.11 or newer"
        ) from None
    finally:
        sys.path.remove(str(source.resolve()))


def load_with_device(path: Path, source: Path) -> WearableConfig:
    """The board config loaded by the device's own loader (``device.config.load`` of the
    source tree ``source``): every key, value and cross-check the app applies at start-up.

    Returns:
        A ``device.config.WearableConfig``.

    Raises:
        InputError: The config's problem (device.config's one line: file, key, value and
            what is allowed), or device/config.py cannot be imported by this Python.
    """
    load = _device_module("device.config", source).load
    ConfigError = _device_module("device.errors", source).ConfigError  # noqa: N806
    try:
        return load(path)
    except ConfigError as exc:
        raise InputError(str(exc)) from None


def _recording_dir_problems(path: Path, rec_dir: str, app_dir: str) -> list[str]:
    """What is wrong with the config's recording.dir for the board (at most one line)."""
    example = "/userdata/nirs-sessions"
    if not rec_dir.startswith("/"):
        return [
            f"{path}: recording.dir is {rec_dir!r}; it must be an absolute path outside "
            f'{app_dir} (a redeploy replaces that folder), e.g. dir = "{example}"'
        ]
    if not re.fullmatch(r"[A-Za-z0-9._/-]+", rec_dir):
        return [
            f"{path}: recording.dir {rec_dir!r}: use letters, digits and . _ - / only "
            "(the path goes into shell commands on the board)"
        ]
    rec_norm = posixpath.normpath(rec_dir)
    if rec_norm == app_dir or rec_norm.startswith(app_dir.rstrip("/") + "/"):
        return [
            f"{path}: recording.dir {rec_dir!r} is inside {app_dir}, which a redeploy "
            f'replaces: recordings would be lost; use e.g. dir = "{example}"'
        ]
    if len([p for p in rec_norm.split("/") if p]) < MIN_RECORDING_DEPTH:
        return [
            f"{path}: recording.dir {rec_dir!r} is a top-level folder; give the "
            f'recordings a folder of their own, e.g. dir = "{example}"'
        ]
    return []


def check_config(path: Path, *, app_dir: str, source: Path) -> dict[str, str]:
    """What deploy.sh needs from the board config, after loading it as the app does
    (:func:`load_with_device`) and checking it fits the layout on the board.

    Returns:
        i2c_bus, gpio_chip, model_backend, recording_dir (absolute, on the board).
    """
    config = load_with_device(path, source)
    bus, chip = config.i2c.bus, config.gpio.chip
    backend, model_dir = config.model.backend, config.model.dir
    rec_dir = config.recording.dir
    problems = []
    # Both go into shell commands and device paths on the board: digits and a plain path.
    if isinstance(bus, bool) or not isinstance(bus, int) or not 0 <= bus <= 15:
        problems.append(f"{path}: i2c.bus must be an integer 0..15 (/dev/i2c-N), got {bus!r}")
    if not isinstance(chip, str) or not re.fullmatch(r"/dev/gpiochip[0-9]+", chip):
        problems.append(f"{path}: gpio.chip must be a /dev/gpiochipN path, got {chip!r}")
    if backend not in ("rknn", "auto"):
        problems.append(
            f"{path}: model.backend is {backend!r}; the board has no ONNX Runtime: "
            'set backend = "rknn" (the NPU)'
        )
    want_models = posixpath.join(app_dir, "models")
    if posixpath.normpath(posixpath.join(app_dir, model_dir)) != posixpath.normpath(want_models):
        problems.append(
            f"{path}: model.dir is {model_dir!r}, but deploy.sh installs the model in "
            f'{want_models}: set dir = "{want_models}"'
        )
    problems += _recording_dir_problems(path, rec_dir, app_dir)
    if problems:
        raise InputError(*problems)
    rec_norm = posixpath.normpath(rec_dir)
    return {
        "i2c_bus": str(bus),
        "gpio_chip": chip,
        "model_backend": str(backend),
        "recording_dir": rec_norm,
    }


# -- model --------------------------------------------------------------------------------


def _recorded_sha256(meta: dict, meta_path: Path, name: str) -> str:
    """The sha256 model.json records for ``name`` (device.inference.recorded_sha256's
    lookup), checked to be 64 hex digits."""
    entry = _device_module("device.inference").recorded_sha256(meta, name)
    if entry is None or not re.fullmatch(r"[0-9a-fA-F]{64}", entry.strip()):
        raise InputError(f"{meta_path}: records no sha256 for {name} (artefacts.{name})")
    return entry.strip().lower()


def check_model(folder: Path) -> dict:
    """The bundle's NPU models and the versions model.json records for them, after
    checking each file's SHA-256 against it.

    Raises:
        InputError: One line for each model file that is missing, has no recorded hash
            or differs from it (all of them), or for model.json itself.

    Returns:
        ``toolkit_version`` and ``runtime_version`` (empty when not recorded) and
        ``models``, a list of (file name, sha256) in the order the device tries them;
        ``made_by``, what made them (:func:`device.inference.made_by`: data, subjects,
        dates), for the deployer to see which model goes to the board.
    """
    meta_path = folder / META_FILE
    if not meta_path.is_file():
        raise InputError(
            f"{meta_path}: not found: no trained model yet (python -m host train, then "
            "./dev host convert), or point --models at a model bundle"
        )
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{meta_path}: unreadable: {exc}") from None
    if not isinstance(meta, dict):
        raise InputError(f"{meta_path}: not a JSON object")
    section = meta.get(RKNN_SECTION) if isinstance(meta.get(RKNN_SECTION), dict) else {}
    names = section.get("models") or [RKNN_FILE]
    if not isinstance(names, list) or not all(
        isinstance(n, str) and re.fullmatch(r"[A-Za-z0-9._-]+\.rknn", n) for n in names
    ):
        raise InputError(f"{meta_path}: {RKNN_SECTION}.models must list .rknn file names")
    models, problems = [], []
    for name in names:
        rknn = folder / name
        if not rknn.is_file():
            problems.append(
                f"{rknn}: not found: the board runs the NPU models model.json lists; make "
                "them with ./dev host convert, or point --models at a bundle that has them"
            )
            continue
        try:
            expected = _recorded_sha256(meta, meta_path, name)
        except InputError as exc:
            problems.extend(exc.lines)
            continue
        actual = _sha256(rknn)
        if actual != expected:
            problems.append(
                f"{rknn}: sha256 {actual} differs from {meta_path}'s {expected}: the model "
                "and its metadata do not belong together; run ./dev host convert again"
            )
            continue
        models.append((name, actual))
    if problems:
        raise InputError(*problems)
    return {
        "made_by": _device_module("device.inference").made_by(meta),
        "toolkit_version": str(section.get("toolkit_version") or ""),
        "runtime_version": str(section.get("runtime_version") or ""),
        "models": models,
    }


def _major_minor(version: str) -> tuple[int, int] | None:
    match = re.match(r"\s*v?(\d+)\.(\d+)", version)
    return (int(match[1]), int(match[2])) if match else None


def version_in_file(path: Path) -> str | None:
    """The version after "librknnmrt version: " in a runtime file (printable ASCII up to
    the next other byte), or None."""
    data = path.read_bytes()
    at = data.find(VERSION_MARKER)
    if at < 0:
        return None
    rest = data[at + len(VERSION_MARKER) : at + len(VERSION_MARKER) + 128]
    end = next((i for i, b in enumerate(rest) if not 0x20 <= b < 0x7F), len(rest))
    return rest[:end].decode("ascii").strip() or None


def _elf32_tables_end(data: bytes) -> int:
    """Where a little-endian ELF32 file's program and section header tables end (bytes
    from its start), by its header (:data:`ELF32_HEADER_BYTES`): a file shorter than that
    was cut short."""

    def field(offset: int, size: int) -> int:
        return int.from_bytes(data[offset : offset + size], "little")

    program = field(28, 4) + field(42, 2) * field(44, 2)
    sections = field(32, 4) + field(46, 2) * field(48, 2)
    return max(program if field(44, 2) else 0, sections if field(48, 2) else 0)


def check_runtime_lib(path: Path, runtime_version: str = "") -> str:
    """The version of a user-supplied ``librknnmrt.so``, after checking it is a 32-bit ARM
    ELF shared object (the board's ABI), complete (its header tables inside the file),
    that names its version, and (when
    ``runtime_version`` is given: the one the models are made for) that the two agree in
    major.minor, as device/npu.py requires at start-up."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: not found; {RUNTIME_LIB_WANTED}") from None
    except IsADirectoryError:
        raise InputError(f"{path}: a folder; {RUNTIME_LIB_WANTED}") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}; {RUNTIME_LIB_WANTED}") from None
    if not data:
        raise InputError(f"{path}: empty (0 bytes); {RUNTIME_LIB_WANTED}")
    if data[:4] != ELF_MAGIC:
        raise InputError(
            f"{path}: not an ELF file (it starts {data[:8]!r}: a text file or another "
            f"format); {RUNTIME_LIB_WANTED}"
        )
    if len(data) < ELF32_HEADER_BYTES:
        raise InputError(
            f"{path}: cut short: {len(data)} bytes, less than an ELF header "
            f"({ELF32_HEADER_BYTES}); copy the whole file again. {RUNTIME_LIB_WANTED}"
        )
    machine = int.from_bytes(data[18:20], "little")
    e_type = int.from_bytes(data[16:18], "little")
    if (data[4], data[5], machine, e_type) != (ELFCLASS32, ELFDATA2LSB, EM_ARM, ET_DYN):
        raise InputError(
            f"{path}: not a 32-bit little-endian ARM shared library (ELF class {data[4]}, "
            f"data {data[5]}, machine {machine}, type {e_type}); {RUNTIME_LIB_WANTED}"
        )
    end = _elf32_tables_end(data)
    if end > len(data):
        raise InputError(
            f"{path}: cut short: {len(data)} bytes, but its ELF header places its program "
            f"and section header tables up to byte {end}; copy the whole file again. "
            f"{RUNTIME_LIB_WANTED}"
        )
    version = version_in_file(path)
    if version is None:
        raise InputError(
            f'{path}: no "librknnmrt version" string in it: not Rockchip\'s RKNN runtime '
            "(librknnmrt.so for armhf-uclibc)"
        )
    if not re.fullmatch(r"[A-Za-z0-9 ._()@:+,/-]+", version):
        raise InputError(f"{path}: its version string {version!r} has unexpected characters")
    if runtime_version and (
        _major_minor(version) is None or _major_minor(version) != _major_minor(runtime_version)
    ):
        raise InputError(
            f"{path}: librknnmrt version {version}, but the models were made for runtime "
            f"{runtime_version}: supply the {runtime_version} librknnmrt.so (armhf-uclibc)"
        )
    return version


# -- wheels -------------------------------------------------------------------------------

_REQ = re.compile(
    r"^([A-Za-z0-9._-]+)==([A-Za-z0-9.+!-]+)\s+--hash=sha256:([0-9a-f]{64})"
    r"\s+#\s*(\S+\.whl)\s*$"
)


class Wheel(NamedTuple):
    """One line of the vendor requirements: a pin, its wheel's file name and hash."""

    name: str
    version: str
    sha256: str
    filename: str


def read_requirements(path: Path) -> list[Wheel]:
    """The pinned, hashed wheels of a requirements file (comment: the wheel's name)."""
    out = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _REQ.match(line)
        if match is None:
            raise InputError(
                f"{path}:{number}: expected 'name==version --hash=sha256:HEX  # FILE.whl'"
            )
        wheel = Wheel(*match.groups())
        if not wheel.filename.endswith("-none-any.whl"):
            raise InputError(
                f"{path}:{number}: {wheel.filename} is not a pure-Python wheel; the board "
                "takes only pure Python (C extensions must come from its Buildroot image)"
            )
        out.append(wheel)
    return out


def check_wheels(requirements: Path, cache: Path) -> tuple[list[Path], list[str]]:
    """Each pinned wheel's path in the cache, and the pins not downloaded yet.

    Raises:
        InputError: A cached wheel's SHA-256 differs from its pin.
    """
    paths, missing = [], []
    for wheel in read_requirements(requirements):
        path = cache / wheel.filename
        paths.append(path)
        if not path.is_file():
            missing.append(f"{wheel.name}=={wheel.version}")
        elif _sha256(path) != wheel.sha256:
            raise InputError(
                f"{path}: sha256 differs from {requirements} for {wheel.name}=={wheel.version}: "
                "a corrupt or foreign download; delete it and re-run"
            )
    return paths, missing


# -- manifest -----------------------------------------------------------------------------


def write_manifest(bundle: Path) -> Path:
    """``MANIFEST``: a sha256sum line per file, so the board can check its copy."""
    lines = []
    for path in sorted(p for p in bundle.rglob("*") if p.is_file()):
        rel = path.relative_to(bundle).as_posix()
        if rel == MANIFEST:
            continue
        if "\n" in rel or "\\" in rel:
            raise InputError(f"{path}: a file name sha256sum cannot list")
        lines.append(f"{_sha256(path)}  ./{rel}\n")
    out = bundle / MANIFEST
    out.write_text("".join(lines), encoding="utf-8")
    return out


# -- command line -------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="deploy/bundle.py", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("config", help="check the board config; print key=value lines")
    p.add_argument("file", type=Path)
    p.add_argument("--app-dir", required=True, help="the bundle's folder on the board")
    p.add_argument(
        "--source",
        type=Path,
        default=Path(__file__).resolve().parents[1],
        help="the source tree whose device/config.py loads the config (default: %(default)s)",
    )
    p = sub.add_parser("model", help="check model.json and its NPU models; print key=value lines")
    p.add_argument("folder", type=Path)
    p = sub.add_parser("runtime-lib", help="check a librknnmrt.so for the board; print its version")
    p.add_argument("file", type=Path)
    p.add_argument(
        "--runtime-version", default="", help="the runtime version the models are made for"
    )
    p = sub.add_parser("wheels", help="print the wheels' paths; exit 3 if some are missing")
    p.add_argument("requirements", type=Path)
    p.add_argument("cache", type=Path)
    p = sub.add_parser("manifest", help="write BUNDLE_DIR/MANIFEST")
    p.add_argument("bundle", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "config":
            info = check_config(args.file, app_dir=args.app_dir, source=args.source)
            for key, value in info.items():
                print(f"{key}={value}")
        elif args.command == "model":
            info = check_model(args.folder)
            print(f"toolkit_version={info['toolkit_version']}")
            print(f"runtime_version={info['runtime_version']}")
            for name, sha in info["models"]:
                print(f"model={name} {sha}")
            print(f"made_by={info['made_by']}")
        elif args.command == "runtime-lib":
            print(check_runtime_lib(args.file, args.runtime_version))
        elif args.command == "wheels":
            paths, missing = check_wheels(args.requirements, args.cache)
            for path in paths:
                print(path)
            if missing:
                print(f"not in the cache yet: {', '.join(missing)}", file=sys.stderr)
                return 3
        elif args.command == "manifest":
            write_manifest(args.bundle)
    except InputError as exc:
        for line in exc.lines:
            print(f"deploy: {line}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
