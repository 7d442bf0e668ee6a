"""The emulated board: Debian bookworm armhf (python3, Pillow, no numpy) run under qemu-user.

A 32-bit ARM userland in a chroot, for tests and benchmarks of what the board runs:

- ``rootfs()`` builds the root filesystem once (``build-rootfs.sh``, 3 to 9 minutes here) and
  reuses it from the cache, ``.venv/armhf-rootfs-HASH`` (or ``$EMULATED_BOARD_CACHE``).
- ``run(argv, binds=...)`` runs a command in it through binfmt_misc and ``qemu-arm-static``,
  with host folders bound in (``enter.sh``: a private mount namespace, read-only rootfs).
- ``measure(argv, ...)`` runs it instead under Debian's dynamic ``qemu-arm`` (7.2) with a
  fixed guest base and the ``insn_count`` plugin: the ARM instructions executed (exact and
  repeatable) and the program's own memory, its peak, and both at points the guest marks
  (``guest/board_mark.py``). ``count_instructions`` and ``peak_memory`` are shorthands.

Everything needs root (chroot, mounts, binfmt_misc): ``require_root()`` raises
``BoardUnavailableError`` with one line saying so. See README.md beside this file.

Also a command line: ``python3 tests/emulated_board/board.py rootfs | run ... | measure ...``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

ROOT_NEEDED = "the emulated-board tests need root (chroot, binfmt_misc): run as root or with sudo"

#: Where qemu-arm puts the 32-bit guest's address space (qemu's -B / QEMU_GUEST_BASE); the
#: guest's own memory is what the qemu process has resident in [GUEST_BASE, + 4 GiB).
GUEST_BASE = 0x40_0000_0000
GUEST_SPAN = 1 << 32

#: The CPU of the RV1103 (qemu's default for qemu-arm is a newer "max" CPU).
CPU = "cortex-a7"

#: Inside the guest: the host tools (qemu-arm, its libraries, the plugin), the guest helpers
#: (board_mark.py) and the folder the plugin writes its figures to.
GUEST_HOST_TOOLS = "/opt/emulated-board/host"
GUEST_HELPERS = "/opt/emulated-board/guest"
GUEST_OUT = "/opt/emulated-board/out"

#: The guest's environment unless the caller gives one: nothing of the host's leaks in.
#: PYTHONHASHSEED is fixed because string hashes decide dict and set layouts, and so the
#: instruction count: with a random seed a run of `python3 -c pass` varies by about 0.3 %.
GUEST_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
    "LANG": "C.UTF-8",
    "PYTHONHASHSEED": "0",
}

#: First mark id used by the guest through close(MARK_FD_BASE - id): see insn_count.c.
MARK_FD_BASE = -0x4E49_5200


class BoardUnavailableError(RuntimeError):
    """The emulated board cannot run here; the message is one line saying what it needs."""


# --- what the host needs -------------------------------------------------------------------


def apt_packages() -> list[tuple[str, str]]:
    """(command, Debian package) pairs the board needs on the host, from apt-packages.txt."""
    pairs = []
    for line in (HERE / "apt-packages.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            command, package = line.split(":", 1)
            pairs.append((command, package))
    return pairs


def _which(command: str) -> str | None:
    """The command's path; a file named by its absolute path just has to exist."""
    if command.startswith("/"):
        return command if os.path.exists(command) else None
    path = os.environ.get("PATH", "") + ":/usr/local/sbin:/usr/sbin:/sbin"
    return shutil.which(command, path=path)


def missing_apt_packages() -> list[str]:
    """Packages of apt_packages() whose command is not installed."""
    return [package for command, package in apt_packages() if _which(command) is None]


def require_root() -> None:
    """Raise BoardUnavailableError (one line: ROOT_NEEDED) unless running as root."""
    if os.geteuid() != 0:
        raise BoardUnavailableError(ROOT_NEEDED)


def unavailable_reason() -> str | None:
    """Why the board cannot run here (one line), or None if it can: root and the packages."""
    if os.geteuid() != 0:
        return ROOT_NEEDED
    missing = missing_apt_packages()
    if missing:
        return (
            "the emulated-board tests need Debian packages "
            f"{' '.join(missing)}: apt-get install {' '.join(missing)} (./dev test does)"
        )
    return None


def require() -> None:
    """Raise BoardUnavailableError with unavailable_reason() if the board cannot run here."""
    reason = unavailable_reason()
    if reason:
        raise BoardUnavailableError(reason)


BINFMT = Path("/proc/sys/fs/binfmt_misc")


def ensure_binfmt() -> None:
    """Mount binfmt_misc if needed and enable qemu-arm (qemu-user-static, flags F: the
    interpreter is opened once, on the host, so a chroot needs no copy of it)."""
    require()
    if not os.path.ismount(BINFMT):
        subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT)], check=True)
    entry = BINFMT / "qemu-arm"
    if not entry.exists() or not entry.read_text().startswith("enabled"):
        subprocess.run(
            [_which("update-binfmts") or "update-binfmts", "--enable", "qemu-arm"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    text = entry.read_text()
    flags = re.search(r"^flags: *(\S*)", text, re.MULTILINE)
    if not text.startswith("enabled") or not flags or "F" not in flags.group(1):
        raise BoardUnavailableError(
            f"binfmt_misc's qemu-arm entry is not enabled with flag F ({entry}): "
            "reinstall qemu-user-static"
        )


# --- the root filesystem ------------------------------------------------------------------


def cache_dir() -> Path:
    """Where built things are kept: $EMULATED_BOARD_CACHE, else the repository's .venv/."""
    return Path(os.environ.get("EMULATED_BOARD_CACHE") or REPO / ".venv")


def apt_mirror(default: str = "http://deb.debian.org/debian") -> str:
    """The Debian mirror this machine's apt uses for bookworm (deb822 .sources files or
    one-line .list files), or default."""
    files = [Path("/etc/apt/sources.list")]
    parts = Path("/etc/apt/sources.list.d")
    if parts.is_dir():
        files += sorted(parts.glob("*.sources")) + sorted(parts.glob("*.list"))
    for path in files:
        try:
            text = path.read_text()
        except OSError:
            continue
        if path.suffix == ".sources":
            for paragraph in re.split(r"\n\s*\n", text):
                fields = {}
                for line in paragraph.splitlines():
                    if ":" in line and not line.startswith(("#", " ")):
                        key, value = line.split(":", 1)
                        fields[key.strip().lower()] = value.strip()
                if (
                    "deb" in fields.get("types", "").split()
                    and "bookworm" in fields.get("suites", "").split()
                    and fields.get("enabled", "yes").lower() != "no"
                    and fields.get("uris")
                ):
                    return fields["uris"].split()[0]
        else:
            for line in text.splitlines():
                match = re.match(r"\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", line)
                if match and match.group(2) == "bookworm":
                    return match.group(1)
    return default


_rootfs: Path | None = None


def rootfs(log=None) -> Path:
    """The board's root filesystem: built the first time (minutes), then reused.

    log, if given, receives build-rootfs.sh's progress lines (default: this process's stderr).
    Raises BoardUnavailableError when not root or a host package is missing."""
    global _rootfs
    if _rootfs is not None and (_rootfs / ".emulated-board-stamp").exists():
        return _rootfs
    ensure_binfmt()
    command = ["bash", str(HERE / "build-rootfs.sh"), str(cache_dir()), apt_mirror()]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []

    def relay() -> None:
        for line in proc.stderr:
            lines.append(line)
            (log or (lambda text: sys.stderr.write(text + "\n")))(line.rstrip("\n"))

    relayer = threading.Thread(target=relay, daemon=True)
    relayer.start()
    out = proc.stdout.read()
    proc.wait()
    relayer.join()
    if proc.returncode != 0:
        tail = "".join(lines[-20:])
        raise RuntimeError(f"build-rootfs.sh failed ({proc.returncode}):\n{tail}")
    _rootfs = Path(out.strip().splitlines()[-1])
    return _rootfs


def rootfs_info(root: Path | None = None) -> dict[str, str]:
    """The rootfs's build stamp: packages, mirror, build time (seconds), python, size_kb."""
    info = {}
    text = ((root or rootfs()) / ".emulated-board-stamp").read_text()
    for token in text.split():
        if "=" in token:
            key, value = token.split("=", 1)
            info[key] = value
    return info


# --- the host tools: dynamic qemu-arm, its libraries, the plugin -----------------------------


def _ldd(binary: str) -> tuple[str, list[str]]:
    """(the dynamic loader, the libraries) a host binary loads."""
    out = subprocess.run(["ldd", binary], check=True, capture_output=True, text=True).stdout
    loader, libs = "", []
    for line in out.splitlines():
        match = re.match(r"\s*(\S+) => (/\S+)", line)
        if match:
            libs.append(match.group(2))
        elif re.match(r"\s*/\S*ld-linux\S*", line):
            loader = line.split()[0]
    if not loader:
        raise RuntimeError(f"ldd {binary}: no dynamic loader in\n{out}")
    return loader, libs


_host_tools: Path | None = None


def host_tools() -> Path:
    """A cached folder with the host's dynamic qemu-arm, the x86-64 libraries it loads and
    the insn_count plugin: bound read-only into the chroot at GUEST_HOST_TOOLS, so the ARM
    rootfs itself holds nothing of the host. Keyed on qemu-arm and the plugin's source."""
    global _host_tools
    if _host_tools is not None and (_host_tools / ".stamp").exists():
        return _host_tools
    require()
    qemu = _which("qemu-arm")
    digest = hashlib.sha256()
    for path in (qemu, HERE / "insn_count.c", HERE / "qemu_plugin_api.h"):
        digest.update(Path(path).read_bytes())
    dest = cache_dir() / f"emulated-board-host-{digest.hexdigest()[:16]}"
    if not (dest / ".stamp").exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
        try:
            loader, libs = _ldd(qemu)
            (tmp / "lib").mkdir()
            shutil.copy2(os.path.realpath(loader), tmp / "ld.so")
            for lib in libs:
                shutil.copy2(os.path.realpath(lib), tmp / "lib" / Path(lib).name)
            shutil.copy2(qemu, tmp / "qemu-arm")
            subprocess.run(
                [
                    "gcc", "-shared", "-fPIC", "-O2", "-fvisibility=hidden", "-Wall",
                    "-o", str(tmp / "libinsn_count.so"), str(HERE / "insn_count.c"),
                ],
                check=True,
            )  # fmt: skip
            (tmp / ".stamp").write_text(f"qemu-arm {qemu}\n")
            tmp.chmod(0o755)
            try:
                tmp.rename(dest)
            except OSError:  # another process got there first
                if not (dest / ".stamp").exists():
                    raise
        finally:
            if tmp.exists():
                shutil.rmtree(tmp)
    _host_tools = dest
    return dest


# --- running in the board -----------------------------------------------------------------


@dataclass(frozen=True)
class Bind:
    """A host folder (or file) seen in the guest at `guest`; read-only unless writable."""

    host: Path | str
    guest: str
    writable: bool = False


def _bind_args(binds: Iterable[Bind | tuple]) -> list[str]:
    args = [
        "--bind", str(HERE / "guest"), GUEST_HELPERS,
    ]  # fmt: skip
    for bind in binds:
        bind = bind if isinstance(bind, Bind) else Bind(*bind)
        host = Path(bind.host).resolve()
        if not host.exists():
            raise FileNotFoundError(f"bind: no such host path {host}")
        args += ["--bind-rw" if bind.writable else "--bind", str(host), bind.guest]
    return args


def guest_command(
    argv: Sequence[str],
    *,
    binds: Iterable[Bind | tuple] = (),
    cwd: str = "/",
    root: Path | None = None,
) -> list[str]:
    """The host command line that runs argv (a guest command) in the board: for Popen."""
    root = root or rootfs()
    return [
        "bash", str(HERE / "enter.sh"), str(root), *_bind_args(binds), "--wd", cwd, "--", *argv,
    ]  # fmt: skip


def run(
    argv: Sequence[str],
    *,
    binds: Iterable[Bind | tuple] = (),
    env: Mapping[str, str] | None = None,
    cwd: str = "/",
    input: str | bytes | None = None,
    timeout: float | None = None,
    check: bool = False,
    text: bool = True,
) -> subprocess.CompletedProcess:
    """Run argv (a guest command, e.g. ["python3", "-c", "..."]) in the board through
    binfmt_misc and qemu-arm-static, output captured. env replaces GUEST_ENV if given."""
    return subprocess.run(
        guest_command(argv, binds=binds, cwd=cwd),
        env=dict(GUEST_ENV if env is None else env),
        input=input,
        capture_output=True,
        timeout=timeout,
        check=check,
        text=text,
    )


# --- measuring: the dynamic qemu-arm with the plugin ----------------------------------------


@dataclass(frozen=True)
class GuestMemory:
    """The guest's own memory in kB: resident (total) and the anonymous part of it."""

    rss_kb: int
    anon_kb: int

    @property
    def file_kb(self) -> int:
        """Resident memory that is not anonymous: code and mapped files (reclaimable), and
        shared anonymous memory such as mmap.mmap(-1, n) (not reclaimable; see README)."""
        return self.rss_kb - self.anon_kb

    def __str__(self) -> str:
        return (
            f"{self.rss_kb / 1024:.1f} MB total, {self.anon_kb / 1024:.1f} MB anonymous, "
            f"{self.file_kb / 1024:.1f} MB file-backed"
        )


@dataclass(frozen=True)
class Mark:
    """A point the guest marked (board_mark.mark(id)): instructions so far, memory then."""

    id: int
    insns: int
    memory: GuestMemory | None


@dataclass(frozen=True)
class Gap:
    """The gap marks of a run (measure(gap_marks=True); in the guest, os.sched_yield()): how
    many, and the ten largest numbers of ARM instructions between two consecutive ones,
    largest first, each with the instruction count at which it ended: (insns, end)."""

    count: int
    top: tuple[tuple[int, int], ...]

    @property
    def max(self) -> int:
        """The largest gap, instructions (0 with fewer than two marks)."""
        return self.top[0][0] if self.top else 0

    @property
    def end(self) -> int:
        """Where the largest gap ended: instructions executed by then."""
        return self.top[0][1] if self.top else 0


@dataclass
class Measurement:
    """What measure() saw of one run."""

    returncode: int
    stdout: str
    stderr: str
    #: ARM instructions the guest executed, all of them (the plugin).
    insns: int | None
    #: The exact peaks (plugin, read before every system call that can free memory), each
    #: its own maximum: peak.rss_kb and peak.anon_kb may come from different moments.
    peak: GuestMemory | None
    #: Memory at exit.
    final: GuestMemory | None
    marks: list[Mark] = field(default_factory=list)
    #: The peaks of the host's periodic samples of /proc/PID/smaps (a cross-check of `peak`
    #: that needs no plugin; it can miss a short spike).
    sampled_peak: GuestMemory | None = None
    samples: int = 0
    wall_s: float = 0.0
    #: With measure(gap_marks=True): the gap marks' count and largest gap.
    gap: Gap | None = None

    def mark(self, mark_id: int) -> Mark:
        """The (first) mark with this id."""
        for mark in self.marks:
            if mark.id == mark_id:
                return mark
        raise KeyError(f"no mark {mark_id} in this run (marks: {[m.id for m in self.marks]})")


def read_guest_memory(pid: int, base: int = GUEST_BASE) -> GuestMemory | None:
    """The guest memory of qemu process pid: Rss and Anonymous of its smaps entries inside
    [base, base + 4 GiB). None if the process is gone."""
    rss = anon = 0
    inside = False
    try:
        with open(f"/proc/{pid}/smaps") as smaps:
            for line in smaps:
                head = line[0]
                if "0" <= head <= "9" or "a" <= head <= "f":
                    start, end = line.split(" ", 1)[0].split("-")
                    inside = int(start, 16) >= base and int(end, 16) <= base + GUEST_SPAN
                elif inside and line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif inside and line.startswith("Anonymous:"):
                    anon += int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return GuestMemory(rss, anon)


def _guest_which(root: Path, name: str, path: str) -> str:
    if "/" in name:
        return name
    for folder in path.split(":"):
        candidate = f"{folder.rstrip('/')}/{name}"
        if os.path.isfile(f"{root}{candidate}") or os.path.islink(f"{root}{candidate}"):
            return candidate
    raise FileNotFoundError(f"{name}: not found in the board's PATH {path}")


def _parse_plugin_output(
    text: str,
) -> tuple[int | None, list[Mark], dict[str, GuestMemory], Gap | None]:
    insns, marks, memory, gap = None, [], {}, None
    for line in text.splitlines():
        words = line.split()
        if not words:
            continue
        values = dict(zip(words[1::2], words[2::2]))
        if words[0] == "insns":
            insns = int(words[1])
        elif words[0] == "mark":
            values = dict(zip(words[2::2], words[3::2]))
            mem = None
            if "rss_kb" in values:
                mem = GuestMemory(int(values["rss_kb"]), int(values["anon_kb"]))
            marks.append(Mark(int(words[1]), int(values["insns"]), mem))
        elif words[0] in ("final", "peak"):
            memory[words[0]] = GuestMemory(int(values["rss_kb"]), int(values["anon_kb"]))
        elif words[0] == "gap":
            gap = Gap(int(values["count"]), ())
        elif words[0] == "gap_top" and gap is not None:
            gap = Gap(gap.count, (*gap.top, (int(values["insns"]), int(values["end"]))))
        elif words[0] == "marks_dropped":
            raise RuntimeError(f"insn_count: {words[1]} marks dropped (over 100 000)")
    return insns, marks, memory, gap


def measure(
    argv: Sequence[str],
    *,
    binds: Iterable[Bind | tuple] = (),
    env: Mapping[str, str] | None = None,
    cwd: str = "/",
    input: str | None = None,
    timeout: float | None = None,
    exact_peak: bool = True,
    sample_interval: float | None = 0.02,
    qemu_args: Sequence[str] = (),
    stop_after: float | None = None,
    check: bool = True,
    gap_marks: bool = False,
) -> Measurement:
    """Run argv in the board under the dynamic qemu-arm (-cpu cortex-a7, -B GUEST_BASE) with
    the insn_count plugin and return the instructions executed and the guest's memory.

    exact_peak: the plugin reads the guest's memory before every system call that can free
    memory (brk, munmap, mremap, mmap2, madvise, exit), which gives the exact peak; it slows
    a run with many such calls. sample_interval (seconds, None for none): the host also samples
    /proc/PID/smaps at this period (Measurement.sampled_peak). check: raise if the guest
    exits non-zero. stop_after (seconds): then send the guest SIGINT, as Ctrl-C would (a
    Python program dies of KeyboardInterrupt, returncode -2, which check accepts here). Its
    figures are written even then, but not for a guest killed from outside by a signal it does
    not handle (SIGTERM, SIGKILL): QEMU 7.2 gives the plugin no exit callback then (see
    insn_count.c). timeout: kill it and raise TimeoutExpired. The guest marks points with
    board_mark.mark(id) (guest/board_mark.py, importable in the guest from GUEST_HELPERS):
    Measurement.marks. gap_marks: the guest's os.sched_yield() calls are counted, not kept, and
    the largest number of instructions between two consecutive ones is Measurement.gap
    (insn_count.c)."""
    root = rootfs()
    tools = host_tools()
    guest_env = dict(GUEST_ENV if env is None else env)
    program = _guest_which(root, argv[0], guest_env.get("PATH", GUEST_ENV["PATH"]))
    plugin = f"{GUEST_HOST_TOOLS}/libinsn_count.so,outfile={GUEST_OUT}/insn_count.txt"
    plugin += f",base={GUEST_BASE:#x}" + (",peak=on" if exact_peak else "")
    if gap_marks:
        plugin += ",gap=on"
    qemu = [
        f"{GUEST_HOST_TOOLS}/ld.so", "--library-path", f"{GUEST_HOST_TOOLS}/lib",
        f"{GUEST_HOST_TOOLS}/qemu-arm", "-B", f"{GUEST_BASE:#x}", "-cpu", CPU,
        "-plugin", plugin, *qemu_args, program, *argv[1:],
    ]  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="emulated-board-out-") as out:
        all_binds = [Bind(tools, GUEST_HOST_TOOLS), Bind(out, GUEST_OUT, writable=True)]
        all_binds += list(binds)
        started = time.monotonic()
        proc = subprocess.Popen(
            guest_command(qemu, binds=all_binds, cwd=cwd, root=root),
            env=guest_env,
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        peak_rss = peak_anon = samples = 0
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak_rss, peak_anon, samples
            while not stop.is_set():
                memory = read_guest_memory(proc.pid)
                if memory is not None and memory.rss_kb:
                    samples += 1
                    peak_rss = max(peak_rss, memory.rss_kb)
                    peak_anon = max(peak_anon, memory.anon_kb)
                stop.wait(sample_interval)

        sampler = None
        if sample_interval:
            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
        stopper = None
        if stop_after is not None:
            stopper = threading.Timer(stop_after, proc.send_signal, (signal.SIGINT,))
            stopper.start()
        try:
            stdout, stderr = proc.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise
        finally:
            if stopper:
                stopper.cancel()
            stop.set()
            if sampler:
                sampler.join()
        wall = time.monotonic() - started
        result_file = Path(out) / "insn_count.txt"
        text = result_file.read_text() if result_file.exists() else ""
    stopped = stop_after is not None and proc.returncode in (-signal.SIGINT, 128 + signal.SIGINT)
    if check and proc.returncode != 0 and not stopped:
        raise subprocess.CalledProcessError(proc.returncode, list(argv), stdout, stderr)
    if check and not text:
        raise RuntimeError(f"insn_count wrote nothing; qemu said:\n{stderr[-2000:]}")
    insns, marks, memory, gap = _parse_plugin_output(text)
    return Measurement(
        returncode=proc.returncode,
        stdout=stdout,
        stderr=stderr,
        insns=insns,
        peak=memory.get("peak"),
        final=memory.get("final"),
        marks=marks,
        sampled_peak=GuestMemory(peak_rss, peak_anon) if samples else None,
        samples=samples,
        wall_s=wall,
        gap=gap,
    )


def count_instructions(argv: Sequence[str], **kwargs) -> int:
    """ARM instructions the guest command executes, all of them (see measure)."""
    kwargs.setdefault("exact_peak", False)
    kwargs.setdefault("sample_interval", None)
    return measure(argv, **kwargs).insns


def peak_memory(argv: Sequence[str], **kwargs) -> GuestMemory:
    """The guest command's peak memory, total and anonymous (see measure)."""
    return measure(argv, **kwargs).peak


# --- command line -------------------------------------------------------------------------


def _parse_bind(text: str) -> Bind:
    parts = text.split(":")
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in ("ro", "rw")):
        raise argparse.ArgumentTypeError(f"--bind HOST:GUEST[:rw], not {text}")
    return Bind(parts[0], parts[1], writable=len(parts) == 3 and parts[2] == "rw")


def main(args: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="board.py", description="The emulated 32-bit ARM board (see README.md)."
    )
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("rootfs", help="build or reuse the rootfs; print its path and stamp")
    for name, text in (
        ("run", "run a command in the board (binfmt_misc, qemu-arm-static)"),
        ("measure", "run it under qemu-arm with the plugin: instructions and memory"),
    ):
        command = sub.add_parser(name, help=text)
        command.add_argument("--bind", action="append", type=_parse_bind, default=[])
        command.add_argument("--wd", default="/")
        command.add_argument("argv", nargs=argparse.REMAINDER)
    options = parser.parse_args(args)
    try:
        if options.what == "rootfs":
            root = rootfs()
            print(root)
            print((root / ".emulated-board-stamp").read_text(), end="")
            return 0
        argv = options.argv[1:] if options.argv[:1] == ["--"] else options.argv
        if not argv:
            parser.error("no command")
        if options.what == "run":
            proc = subprocess.run(
                guest_command(argv, binds=options.bind, cwd=options.wd), env=dict(GUEST_ENV)
            )
            return proc.returncode
        result = measure(argv, binds=options.bind, cwd=options.wd, check=False)
        sys.stdout.write(result.stdout)
        sys.stderr.write(result.stderr)
        print(f"exit status: {result.returncode}, wall time {result.wall_s:.1f} s")
        print(f"ARM instructions: {result.insns:,}")
        print(f"peak memory: {result.peak}")
        print(f"at exit:     {result.final}")
        if result.sampled_peak:
            print(f"sampled peak ({result.samples} samples): {result.sampled_peak}")
        for mark in result.marks:
            print(f"mark {mark.id}: {mark.insns:,} instructions, {mark.memory}")
        return result.returncode
    except BoardUnavailableError as error:
        print(f"board.py: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
