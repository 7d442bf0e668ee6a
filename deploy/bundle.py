"""deploy.sh's helper on the laptop: read-only checks of what goes into the bundle.

    python3 deploy/bundle.py config FILE --app-dir DIR --defaults device/config.py
    python3 deploy/bundle.py model DIR
    python3 deploy/bundle.py runtime-lib FILE [--runtime-version VERSION]
    python3 deploy/bundle.py wheels REQUIREMENTS CACHE_DIR
    python3 deploy/bundle.py manifest BUNDLE_DIR

Standard library only (plus tomli on Python < 3.11), so any Python 3.9+ runs it: the
laptop's Python need not have numpy, and nothing here imports the device package.
Every problem is one line on stderr naming the file and what to do; exit status 1.
``wheels`` prints where each pinned wheel is (or goes) in the cache and exits 3 when
some are not there yet (deploy.sh then downloads them).
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import posixpath
import re
import sys
from pathlib import Path
from typing import NamedTuple

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
#: Manifest of the bundle, in ``sha256sum -c`` format; the board checks the copy with it.
MANIFEST = "MANIFEST"
#: Folders that would be a disaster to delete with ``--purge-recordings``: a recordings
#: folder must lie at least two levels down (e.g. /userdata/nirs-sessions).
MIN_RECORDING_DEPTH = 2


class InputError(Exception):
    """One thing wrong with an input; the message says which file and what to do."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


# -- config -------------------------------------------------------------------------------


def _load_toml(path: Path) -> dict:
    try:
        import tomllib  # Python 3.11+
    except ModuleNotFoundError:  # pragma: no cover - older laptops
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ModuleNotFoundError:
            raise InputError(
                f"{path}: reading TOML needs Python 3.11+ or the tomli package "
                "(pip install tomli), or set PYTHON to a newer python3"
            ) from None
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: config file not found (--config FILE)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML: {exc}") from None


def dataclass_defaults(source: Path, class_name: str) -> dict[str, object]:
    """Literal defaults of a dataclass's fields, read from source without importing it."""
    tree = ast.parse(source.read_text(encoding="utf-8"), filename=str(source))
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            out = {}
            for item in node.body:
                if (
                    isinstance(item, ast.AnnAssign)
                    and isinstance(item.target, ast.Name)
                    and item.value is not None
                ):
                    try:
                        out[item.target.id] = ast.literal_eval(item.value)
                    except ValueError:
                        continue  # not a literal (e.g. a default_factory)
            return out
    raise InputError(f"{source}: no class {class_name} (has device/config.py changed?)")


def _section(data: dict, name: str, path: Path) -> dict:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise InputError(f"{path}: [{name}] must be a table, got {value!r}")
    return value


def check_config(path: Path, *, app_dir: str, defaults_source: Path) -> dict[str, str]:
    """What deploy.sh needs from the board config, after checking it fits the layout.

    Returns:
        i2c_bus, gpio_chip, model_backend, recording_dir (absolute, on the board).
    """
    data = _load_toml(path)
    i2c, gpio = _section(data, "i2c", path), _section(data, "gpio", path)
    model, recording = _section(data, "model", path), _section(data, "recording", path)
    d_i2c = dataclass_defaults(defaults_source, "I2CConfig")
    d_gpio = dataclass_defaults(defaults_source, "GpioConfig")
    d_model = dataclass_defaults(defaults_source, "ModelConfig")
    d_rec = dataclass_defaults(defaults_source, "RecordingConfig")

    bus = i2c.get("bus", d_i2c.get("bus"))
    if isinstance(bus, bool) or not isinstance(bus, int) or not 0 <= bus <= 15:
        raise InputError(f"{path}: i2c.bus must be an integer 0..15 (/dev/i2c-N), got {bus!r}")
    chip = gpio.get("chip", d_gpio.get("chip"))
    if not isinstance(chip, str) or not re.fullmatch(r"/dev/gpiochip[0-9]+", chip):
        raise InputError(f"{path}: gpio.chip must be a /dev/gpiochipN path, got {chip!r}")

    backend = model.get("backend", d_model.get("backend"))
    if backend not in ("rknn", "auto"):
        raise InputError(
            f"{path}: model.backend is {backend!r}; the board has no ONNX Runtime: "
            'set backend = "rknn" (the NPU)'
        )
    model_dir = model.get("dir", d_model.get("dir"))
    want_models = posixpath.join(app_dir, "models")
    if not isinstance(model_dir, str) or posixpath.normpath(
        posixpath.join(app_dir, model_dir)
    ) != posixpath.normpath(want_models):
        raise InputError(
            f"{path}: model.dir is {model_dir!r}, but deploy.sh installs the model in "
            f'{want_models}: set dir = "{want_models}"'
        )

    rec_dir = recording.get("dir", d_rec.get("dir"))
    example = "/userdata/nirs-sessions"
    if not isinstance(rec_dir, str) or not rec_dir.startswith("/"):
        raise InputError(
            f"{path}: recording.dir is {rec_dir!r}; it must be an absolute path outside "
            f'{app_dir} (a redeploy replaces that folder), e.g. dir = "{example}"'
        )
    if not re.fullmatch(r"[A-Za-z0-9._/-]+", rec_dir):
        raise InputError(
            f"{path}: recording.dir {rec_dir!r}: use letters, digits and . _ - / only "
            "(the path goes into shell commands on the board)"
        )
    rec_norm = posixpath.normpath(rec_dir)
    if rec_norm == app_dir or rec_norm.startswith(app_dir.rstrip("/") + "/"):
        raise InputError(
            f"{path}: recording.dir {rec_dir!r} is inside {app_dir}, which a redeploy "
            f'replaces: recordings would be lost; use e.g. dir = "{example}"'
        )
    if len([p for p in rec_norm.split("/") if p]) < MIN_RECORDING_DEPTH:
        raise InputError(
            f"{path}: recording.dir {rec_dir!r} is a top-level folder; give the "
            f'recordings a folder of their own, e.g. dir = "{example}"'
        )
    return {
        "i2c_bus": str(bus),
        "gpio_chip": chip,
        "model_backend": str(backend),
        "recording_dir": rec_norm,
    }


# -- model --------------------------------------------------------------------------------


def _recorded_sha256(meta: dict, meta_path: Path, name: str) -> str:
    entry = (meta.get("artefacts") or {}).get(name)
    if isinstance(entry, dict):
        entry = entry.get("sha256")
    if not isinstance(entry, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", entry.strip()):
        raise InputError(f"{meta_path}: records no sha256 for {name} (artefacts.{name})")
    return entry.strip().lower()


def check_model(folder: Path) -> dict:
    """The bundle's NPU models and the versions model.json records for them, after
    checking each file's SHA-256 against it.

    Returns:
        ``toolkit_version`` and ``runtime_version`` (empty when not recorded) and
        ``models``, a list of (file name, sha256) in the order the device tries them.
    """
    meta_path = folder / META_FILE
    if not meta_path.is_file():
        raise InputError(
            f"{meta_path}: not found: no trained model yet (python -m host train, then "
            "python -m host convert), or point --models at a model bundle"
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
    models = []
    for name in names:
        rknn = folder / name
        if not rknn.is_file():
            raise InputError(
                f"{rknn}: not found: the board runs the NPU models model.json lists; make "
                "them with python -m host convert, or point --models at a bundle that has them"
            )
        expected = _recorded_sha256(meta, meta_path, name)
        actual = _sha256(rknn)
        if actual != expected:
            raise InputError(
                f"{rknn}: sha256 {actual} differs from {meta_path}'s {expected}: the model "
                "and its metadata do not belong together; run python -m host convert again"
            )
        models.append((name, actual))
    return {
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


def check_runtime_lib(path: Path, runtime_version: str = "") -> str:
    """The version of a user-supplied ``librknnmrt.so``, after checking it is a 32-bit ARM
    ELF shared object (the board's ABI) that names its version, and (when
    ``runtime_version`` is given: the one the models are made for) that the two agree in
    major.minor, as device/npu.py requires at start-up."""
    try:
        head = path.read_bytes()[:20]
    except FileNotFoundError:
        raise InputError(f"{path}: not found (--runtime-lib FILE: a librknnmrt.so)") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc}") from None
    if len(head) < 20 or head[:4] != ELF_MAGIC:
        raise InputError(f"{path}: not an ELF file; --runtime-lib takes librknnmrt.so itself")
    machine = int.from_bytes(head[18:20], "little")
    e_type = int.from_bytes(head[16:18], "little")
    if (head[4], head[5], machine, e_type) != (ELFCLASS32, ELFDATA2LSB, EM_ARM, ET_DYN):
        raise InputError(
            f"{path}: not a 32-bit little-endian ARM shared library (ELF class {head[4]}, "
            f"data {head[5]}, machine {machine}, type {e_type}); the board needs "
            "librknnmrt.so for armhf-uclibc (rknpu2/runtime/Linux/librknn_api/armhf-uclibc/)"
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
    p.add_argument("--app-dir", required=True)
    p.add_argument("--defaults", type=Path, required=True, help="device/config.py")
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
            info = check_config(args.file, app_dir=args.app_dir, defaults_source=args.defaults)
            for key, value in info.items():
                print(f"{key}={value}")
        elif args.command == "model":
            info = check_model(args.folder)
            print(f"toolkit_version={info['toolkit_version']}")
            print(f"runtime_version={info['runtime_version']}")
            for name, sha in info["models"]:
                print(f"model={name} {sha}")
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
        print(f"deploy: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
