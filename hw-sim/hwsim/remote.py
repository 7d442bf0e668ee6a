"""A simulated board served over a Unix-domain socket, for a device process elsewhere.

    python -m hwsim.remote [--subject 7] [--side left] [--protocol upper_limb] [--seed 2025]
                           [--fault-rate 0] [--seconds N] [--python "chroot ROOTFS python3"]
                           [--socket PATH] [--device-socket PATH] [--cwd DIR]
                           [-- DEVICE OPTIONS, e.g. --config wearable.toml]
    python -m hwsim.remote --serve-only --socket PATH [--subject 7 ...]

The simulator needs numpy and the board has none. So on the emulated board (qemu-user, a
Debian armhf userland without numpy) the simulator runs outside and serves one
:class:`hwsim.board.SimBoard` — the I²C bus with the ADS1114 and SSD1306, the LED, ALERT/RDY
and buzzer lines, the virtual clock — to ``python -m device --sim-socket PATH`` inside,
whose process then holds only what a board holds. The wire protocol and the client are in
:mod:`device.simboard` (standard library only).

:class:`BoardServer` answers requests. :func:`serve_device` starts the device as a
subprocess (any interpreter or prefix: ``chroot ROOTFS python3`` with the socket
bind-mounted works the same), serves it until it disconnects or dies, removes the socket and
returns what it printed with the server's statistics; the board stays readable afterwards
(OLED image, buzzer and LED histories, bus counters). :func:`run_session` does this for a
simulated subject wearing the board exactly as :func:`hwsim.wearable.run_wearable` wires it
in one process, so the two runs can be compared line for line. Everything is SIMULATED.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import math
import os
import resource
import shlex
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from device import simboard as wire
from hwsim.board import SimBoard
from hwsim.gpio import SimGPIO

#: Wall-clock poll interval while waiting for the device (to notice it died), seconds.
WAIT_SLICE_S = 0.2
#: Wall-clock grace for the device to exit after it disconnected, seconds.
EXIT_GRACE_S = 30.0
#: Longest Unix socket path Linux takes (sun_path is 108 bytes with the terminating NUL).
MAX_SOCKET_PATH_BYTES = 107

#: Operations that may be posted (sent ahead of another in one request): size in bytes.
_POSTED_SIZE = {
    wire.OP_GPIO_WRITE: wire.LINE_ARG.size,
    wire.OP_GPIO_DROP_EVENT: wire.LINE_OP.size,
    wire.OP_GPIO_CLOSE: wire.LINE_OP.size,
}


#: struct ucred (linux/socket.h): pid, uid, gid.
_UCRED = struct.Struct("3i")


class ProtocolError(Exception):
    """A request the server cannot parse."""


@dataclass
class I2CFault:
    """One failed I²C transfer as the device saw it (an ``OSError`` sent back)."""

    t_s: float
    operation: str  # "i2c_read", "i2c_write" or "i2c_read_bytes"
    address: int
    register: int | None  # None: a plain read (no register byte)
    errno: int | None
    retried: bool | None = None  # the device's next transfer was the same one (None: none came)


@dataclass
class ServerStats:
    """What the server did for one device connection.

    Attributes:
        round_trips: Requests answered (one round trip each).
        operations: Operations by name, posted ones included.
        errors: Requests answered with an error (injected I²C faults among them).
        t_start_s, t_end_s: Virtual time at the hello and at the end, seconds.
        wall_s: Wall time from the hello to the end, seconds.
        cpu_s: CPU time of the server's process over the same span, seconds.
    """

    round_trips: int = 0
    operations: collections.Counter[str] = field(default_factory=collections.Counter)
    errors: int = 0
    t_start_s: float = math.nan
    t_end_s: float = math.nan
    wall_s: float = 0.0
    cpu_s: float = 0.0

    @property
    def signal_s(self) -> float:
        """Seconds of virtual time the device ran through."""
        return self.t_end_s - self.t_start_s

    @property
    def round_trips_per_signal_s(self) -> float:
        return self.round_trips / self.signal_s if self.signal_s > 0 else math.nan

    @property
    def wall_per_signal_s(self) -> float:
        """Wall seconds per second of signal, both sides of the socket together."""
        return self.wall_s / self.signal_s if self.signal_s > 0 else math.nan

    def summary(self) -> str:
        return (
            f"{self.signal_s:.1f} s of signal, {self.round_trips} round trips "
            f"({self.round_trips_per_signal_s:.0f} per second of signal), {self.wall_s:.2f} s wall "
            f"({1e3 * self.wall_per_signal_s:.1f} ms per second of signal; the server's CPU "
            f"{1e3 * self.cpu_s / self.signal_s if self.signal_s > 0 else math.nan:.1f} ms)"
        )


class BoardServer:
    """Answers :mod:`device.simboard` requests against one simulated board.

    Lines are numbered on the wire in this order: the LED lines by wavelength, ALERT/RDY,
    the buzzer; the hello tells the client each one's label and direction.

    Args:
        board: The simulated board; it stays the caller's and readable afterwards.
        hook: Called after every answered request with the server; if it returns True the
            server drops the connection (a simulator that went away).

    Attributes:
        stats: :class:`ServerStats` of the current (or last) connection.
        faults: Every I²C transfer that failed, with whether the device retried it.
    """

    def __init__(self, board: SimBoard, *, hook: Callable[[BoardServer], object] | None = None):
        self.board = board
        self.hook = hook
        self.lines: list[SimGPIO] = [board.led_lines[wl] for wl in sorted(board.led_lines)]
        self.lines += [board.ready_line, board.buzzer_line]
        self.stats = ServerStats()
        self.faults: list[I2CFault] = []
        self._last_fault: I2CFault | None = None
        self._bye = False
        self._wall0 = 0.0
        self._cpu0 = 0.0
        #: Process id of the connected device (SO_PEERCRED), or None.
        self.peer_pid: int | None = None
        self._handlers: dict[int, Callable[[memoryview, int], tuple[int, bytes]]] = {
            wire.OP_HELLO: self._hello,
            wire.OP_I2C_READ: self._i2c_read,
            wire.OP_I2C_WRITE: self._i2c_write,
            wire.OP_I2C_READ_BYTES: self._i2c_read_bytes,
            wire.OP_GPIO_WRITE: self._gpio_write,
            wire.OP_GPIO_READ: self._gpio_read,
            wire.OP_GPIO_POLL: self._gpio_poll,
            wire.OP_GPIO_READ_EVENT: self._gpio_read_event,
            wire.OP_GPIO_DROP_EVENT: self._gpio_drop_event,
            wire.OP_GPIO_SET_EDGE: self._gpio_set_edge,
            wire.OP_GPIO_CLOSE: self._gpio_close,
            wire.OP_SLEEP: self._sleep,
            wire.OP_NOW: self._now,
            wire.OP_BYE: self._bye_op,
        }

    # -- requests ------------------------------------------------------------------------------

    def handle(self, request: bytes) -> bytes:
        """Answer one request (without its length prefix); returns the reply's body."""
        view = memoryview(request)
        n = len(view)
        offset = 0
        self.stats.round_trips += 1
        names = self.stats.operations
        while True:
            if offset >= n:
                return self._error(wire.ERR_PROTOCOL, 0, "empty request")
            op = view[offset]
            handler = self._handlers.get(op)
            if handler is None:
                return self._error(wire.ERR_PROTOCOL, 0, f"unknown operation {op:#04x}")
            posted = op in _POSTED_SIZE and offset + _POSTED_SIZE[op] < n
            try:
                offset, result = handler(view, offset)
            except (struct.error, IndexError, ProtocolError) as exc:
                return self._error(wire.ERR_PROTOCOL, 0, f"malformed {wire.OP_NAMES[op]}: {exc}")
            except Exception as exc:
                if posted:
                    return self._error(wire.ERR_POSTED, 0, f"{wire.OP_NAMES[op]}: {exc!r}")
                return self._exception(exc)
            names[wire.OP_NAMES[op]] += 1
            if offset == n:
                return wire.REPLY_HEAD.pack(wire.STATUS_OK, self.board.clock.monotonic()) + result
            if not posted:
                return self._error(
                    wire.ERR_PROTOCOL, 0, f"{wire.OP_NAMES[op]} cannot be posted ahead of another"
                )

    def _error(self, kind: int, errno_: int, message: str) -> bytes:
        self.stats.errors += 1
        text = message.encode("utf-8", "replace")[:1000]
        head = wire.REPLY_HEAD.pack(wire.STATUS_ERROR, self.board.clock.monotonic())
        return head + wire.ERROR_HEAD.pack(kind, errno_, len(text)) + text

    def _exception(self, exc: Exception) -> bytes:
        if isinstance(exc, OSError):
            if exc.errno is not None:
                return self._error(wire.ERR_OS, exc.errno, exc.strerror or str(exc))
            return self._error(wire.ERR_OS, 0, str(exc))
        if isinstance(exc, ValueError):
            return self._error(wire.ERR_VALUE, 0, str(exc))
        if isinstance(exc, TypeError):
            return self._error(wire.ERR_TYPE, 0, str(exc))
        return self._error(wire.ERR_OTHER, 0, f"{type(exc).__name__}: {exc}")

    def _line(self, view: memoryview, offset: int) -> SimGPIO:
        index = view[offset]
        if index >= len(self.lines):
            raise ProtocolError(f"no line {index}")
        return self.lines[index]

    # -- operations: each takes the request and its offset, returns (next offset, result) ----

    def _hello(self, view: memoryview, offset: int) -> tuple[int, bytes]:
        _, version = wire.HELLO.unpack_from(view, offset)
        if version != wire.PROTOCOL_VERSION:
            raise ProtocolError(
                f"client speaks protocol {version}, this simulator {wire.PROTOCOL_VERSION}"
            )
        self.stats.t_start_s = self.board.clock.monotonic()
        self._wall0 = time.perf_counter()
        self._cpu0 = time.process_time()
        out = bytearray([self.board.bus.bus_number, len(self.lines)])
        for line in self.lines:
            name = line.name.encode()
            out += bytes([line.direction == "out", len(name)]) + name
        return offset + wire.HELLO.size, bytes(out)

    def _i2c(
        self, operation: str, address: int, register: int | None, transfer: Callable[[], bytes]
    ):
        last = self._last_fault
        if last is not None:
            self._last_fault = None
            last.retried = (operation, address, register) == (
                last.operation,
                last.address,
                last.register,
            )
        try:
            return transfer()
        except OSError as exc:
            t_s = self.board.clock.monotonic()
            self._last_fault = I2CFault(t_s, operation, address, register, exc.errno)
            self.faults.append(self._last_fault)
            raise

    def _i2c_read(self, view: memoryview, offset: int) -> tuple[int, bytes]:
        _, address, register, length = wire.I2C_HEAD.unpack_from(view, offset)
        bus = self.board.bus

        def transfer() -> bytes:
            return bytes(bus.read_i2c_block_data(address, register, length))

        return offset + wire.I2C_HEAD.size, self._i2c("i2c_read", address, register, transfer)

    def _i2c_read_bytes(self, view: memoryview, offset: int) -> tuple[int, bytes]:
        _, address, length = wire.I2C_PLAIN.unpack_from(view, offset)
        bus = self.board.bus

        def transfer() -> bytes:
            return bus.read_bytes(address, length)

        end = offset + wire.I2C_PLAIN.size
        return end, self._i2c("i2c_read_bytes", address, None, transfer)

    def _i2c_write(self, view: memoryview, offset: int) -> tuple[int, bytes]:
        _, address, register, count = wire.I2C_HEAD.unpack_from(view, offset)
        start = offset + wire.I2C_HEAD.size
        if start + count > len(view):
            raise ProtocolError(f"{count} data bytes announced, {len(view) - start} sent")
        data = list(view[start : start + count])
        bus = self.board.bus

        def transfer() -> bytes:
            bus.write_i2c_block_data(address, register, data)
            return b""

        return start + count, self._i2c("i2c_write", address, register, transfer)

    def _gpio_write(self, view: memoryview, offset: int) -> tuple[int, bytes]:
        _, _, level = wire.LINE_ARG.unpack_from(view, offset)
        self._line(view, offset + 1).write(bool(level))
        return offset + wire.LINE_ARG.size, b""

    def _gpio_read(self, view: memoryview, offset: int) -> tuple[int, bytes]:
        level = self._line(view, offset + 1).read()
        return offset + wire.LINE_OP.size, bytes([level])

    def _gpio_poll(self, view: memoryview, offset: int) -> tuple[int, bytes]:
        _, _, timeout_s = wire.POLL.unpack_from(view, offset)
        line = self._line(view, offset + 1)
        ready = line.poll(None if math.isnan(timeout_s) else timeout_s)
        end = offset + wire.POLL.size
        if not ready:
            return end, b"\x00"
        event = line.peek_event()
        return end, b"\x01" + wire.EVENT.pack(event.edge == "rising", event.timestamp)

    def _gpio_read_event(self, view: memoryview, offset: int) -> tuple[int, bytes]:
        event = self._line(view, offset + 1).read_event()
        return offset + wire.LINE_OP.size, wire.EVENT.pack(event.edge == "rising", event.timestamp)

    def _gpio_drop_event(self, view: memoryview, offset: int) -> tuple[int, bytes]:
        line = self._line(view, offset + 1)
        if line.peek_event() is None:
            raise RuntimeError(f"{line.name}: no queued event to drop (client out of step)")
        line.read_event()  # the queue is not empty: takes the oldest event, no waiting
        return offset + wire.LINE_OP.size, b""

    def _gpio_set_edge(self, view: memoryview, offset: int) -> tuple[int, bytes]:
        _, _, code = wire.LINE_ARG.unpack_from(view, offset)
        if code >= len(wire.EDGES):
            raise ProtocolError(f"edge code {code}")
        self._line(view, offset + 1).edge = wire.EDGES[code]
        return offset + wire.LINE_ARG.size, b""

    def _gpio_close(self, view: memoryview, offset: int) -> tuple[int, bytes]:
        self._line(view, offset + 1).close()
        return offset + wire.LINE_OP.size, b""

    def _sleep(self, view: memoryview, offset: int) -> tuple[int, bytes]:
        _, seconds = wire.SLEEP.unpack_from(view, offset)
        self.board.clock.sleep(seconds)
        return offset + wire.SLEEP.size, b""

    def _now(self, view: memoryview, offset: int) -> tuple[int, bytes]:
        return offset + 1, b""

    def _bye_op(self, view: memoryview, offset: int) -> tuple[int, bytes]:
        self._bye = True
        return offset + 1, b""

    # -- connections -------------------------------------------------------------------------

    def serve_connection(
        self, conn: socket.socket, *, alive: Callable[[], bool] = lambda: True
    ) -> str:
        """Answer requests on ``conn`` until the device says bye, disconnects or dies.

        Args:
            conn: A connected socket; closed on return.
            alive: Asked every :data:`WAIT_SLICE_S` of silence; False ends the session.

        Returns:
            How it ended: "bye", "disconnected", "dead", "dropped" (the hook asked).
        """
        self.stats = ServerStats()
        self._bye = False
        self._wall0 = time.perf_counter()
        self._cpu0 = time.process_time()
        with contextlib.suppress(OSError):
            creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
            self.peer_pid = _UCRED.unpack(creds)[0]
        conn.settimeout(WAIT_SLICE_S)
        buffer = bytearray()
        how = "disconnected"
        try:
            while True:
                while len(buffer) < 4 or len(buffer) < 4 + wire.LENGTH.unpack_from(buffer)[0]:
                    try:
                        chunk = conn.recv(65536)
                    except socket.timeout:
                        if not alive():
                            how = "dead"
                            return how
                        continue
                    except OSError:  # reset by a dying peer
                        return how
                    if not chunk:
                        return how
                    buffer += chunk
                length = wire.LENGTH.unpack_from(buffer)[0]
                request = bytes(buffer[4 : 4 + length])
                del buffer[: 4 + length]
                reply = self.handle(request)
                try:
                    conn.sendall(wire.LENGTH.pack(len(reply)) + reply)
                except OSError:
                    return how
                if self._bye:
                    how = "bye"
                    return how
                if self.hook is not None and self.hook(self):
                    how = "dropped"
                    return how
        finally:
            self.stats.t_end_s = self.board.clock.monotonic()
            if math.isnan(self.stats.t_start_s):
                self.stats.t_start_s = self.stats.t_end_s
            self.stats.wall_s = time.perf_counter() - self._wall0
            self.stats.cpu_s = time.process_time() - self._cpu0
            conn.close()


# -- running a device against it ------------------------------------------------------------


@dataclass
class DeviceRun:
    """What :func:`serve_device` collected.

    Attributes:
        command: The device's command line.
        returncode: Its exit status (negative: killed by that signal).
        stdout: Its standard output, line by line; :attr:`lines` keeps the per-second ones.
        stderr: Its standard error.
        board: The simulated board, as the device left it.
        server: The server (statistics in ``server.stats``, I²C faults in ``server.faults``).
        ended: How the connection ended ("bye", "disconnected", "dead", "dropped") or
            "never connected"; "timeout" if the wall-clock limit killed the device.
        truth: The simulated subject's session, when :func:`run_session` made the board.
        device_cpu_s: CPU time (user + system) of the device process, seconds: that of the
            children this process reaped during the run, so it assumes no other child ends
            meanwhile.
    """

    command: list[str]
    returncode: int | None
    stdout: list[str]
    stderr: str
    board: SimBoard
    server: BoardServer
    ended: str
    truth: object | None = None
    device_cpu_s: float = math.nan

    @property
    def lines(self) -> list[str]:
        """The device's once-a-second console lines ("t=...")."""
        return [line for line in self.stdout if line.startswith("t=")]

    @property
    def stats(self) -> ServerStats:
        return self.server.stats


def listen(path: str | os.PathLike) -> socket.socket:
    """A Unix socket listening at ``path`` (which must not exist), for one device.

    Raises:
        ValueError: The path is too long for a Unix socket.
        FileExistsError: Something is already at ``path``.
        OSError: It cannot be bound there (no such folder, permission), naming the path.
    """
    path = os.fspath(path)
    if len(os.fsencode(path)) > MAX_SOCKET_PATH_BYTES:
        raise ValueError(
            f"socket path {path!r} is longer than {MAX_SOCKET_PATH_BYTES} bytes (Unix limit)"
        )
    if os.path.lexists(path):
        raise FileExistsError(f"cannot serve on {path}: it exists (remove it first)")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(path)
    except OSError as exc:
        listener.close()
        raise OSError(exc.errno, f"cannot serve on {path}: {exc.strerror}") from None
    listener.listen(1)
    listener.settimeout(WAIT_SLICE_S)
    return listener


def _drain(stream, sink: list[str], echo: Callable[[str], object] | None) -> None:
    for line in stream:
        line = line.rstrip("\n")
        sink.append(line)
        if echo is not None:
            echo(line)
    stream.close()


def serve_device(
    board: SimBoard,
    device_args: Sequence[str] = (),
    *,
    python: Sequence[str] = (sys.executable,),
    socket_path: str | os.PathLike | None = None,
    device_socket_path: str | None = None,
    cwd: str | os.PathLike | None = None,
    env: dict[str, str] | None = None,
    timeout_s: float = 900.0,
    hook: Callable[[BoardServer], object] | None = None,
    echo: Callable[[str], object] | None = None,
) -> DeviceRun:
    """Run ``PYTHON -m device --sim-socket PATH DEVICE_ARGS`` against ``board`` and serve it.

    Args:
        board: The simulated board to serve.
        device_args: More options for ``python -m device`` (``--config``, ``--seconds``).
        python: The interpreter, with any prefix: ``("chroot", ROOTFS, "python3")``.
        socket_path: Where the server listens; a fresh folder under the temporary directory
            if None. It must not exist; it is removed afterwards.
        device_socket_path: The socket's path as the device sees it (inside a chroot, where
            ``socket_path``'s folder is bind-mounted); ``socket_path`` if None.
        cwd, env: The device process's working folder and environment.
        timeout_s: Wall-clock limit for the whole run; the device is killed after it.
        hook: Passed to :class:`BoardServer`.
        echo: Called with each line the device prints, as it prints it.

    Returns:
        A :class:`DeviceRun`. The socket (and a folder made for it) is gone, whatever happened.
    """
    made_dir = None
    if socket_path is None:
        made_dir = tempfile.mkdtemp(prefix="hwsim-remote-")
        socket_path = os.path.join(made_dir, "board.sock")
    socket_path = os.fspath(socket_path)
    server = BoardServer(board, hook=hook)
    command = [*python, "-m", "device", "--sim-socket", device_socket_path or socket_path]
    command += list(device_args)
    stdout: list[str] = []
    stderr: list[str] = []
    ended = "never connected"
    proc = None
    readers: list[threading.Thread] = []
    try:
        listener = listen(socket_path)
        try:
            usage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                errors="replace",
                cwd=cwd,
                env=env,
            )
            readers = [
                threading.Thread(target=_drain, args=(proc.stdout, stdout, echo), daemon=True),
                threading.Thread(target=_drain, args=(proc.stderr, stderr, None), daemon=True),
            ]
            for reader in readers:
                reader.start()
            deadline = time.monotonic() + timeout_s

            def alive() -> bool:
                return proc.poll() is None and time.monotonic() < deadline

            conn = None
            while conn is None and alive():
                with contextlib.suppress(socket.timeout):
                    conn, _ = listener.accept()
        finally:
            listener.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(socket_path)
        if conn is not None:
            ended = server.serve_connection(conn, alive=alive)
        if time.monotonic() >= deadline and proc.poll() is None:
            ended = "timeout"
            proc.kill()
        try:
            proc.wait(timeout=EXIT_GRACE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    except BaseException:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        raise
    finally:
        for reader in readers:
            reader.join(timeout=EXIT_GRACE_S)
        if made_dir is not None:
            with contextlib.suppress(OSError):
                os.rmdir(made_dir)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = usage.ru_utime + usage.ru_stime - usage0.ru_utime - usage0.ru_stime
    return DeviceRun(
        command, proc.returncode, stdout, "\n".join(stderr), board, server, ended, None, cpu_s
    )


def run_session(
    *,
    protocol: str = "upper_limb",
    side: str = "left",
    subject: int = 7,
    seed: int = 2025,
    fault_rate: float = 0.0,
    seconds: float | None = None,
    device_args: Sequence[str] = (),
    **serve_options,
) -> DeviceRun:
    """A simulated subject wears the board (as in :func:`hwsim.wearable.run_wearable`) while
    ``python -m device`` runs against it in another process.

    Args:
        protocol, side, subject, seed, fault_rate: As :func:`hwsim.wearable.wear_board`.
        seconds: Signal to run, seconds (``--seconds``); the whole session if None.
        device_args: More options for ``python -m device`` (``--config FILE``).
        **serve_options: For :func:`serve_device` (``python``, ``socket_path``, ``cwd`` ...).
    """
    from hwsim.wearable import wear_board

    truth, board = wear_board(
        protocol=protocol, side=side, subject=subject, seed=seed, fault_rate=fault_rate
    )
    duration_s = truth.duration_s if seconds is None else seconds
    run = serve_device(board, ["--seconds", repr(float(duration_s)), *device_args], **serve_options)
    run.truth = truth
    return run


def serve_once(
    board: SimBoard | BoardServer,
    socket_path: str | os.PathLike | None = None,
    *,
    listener: socket.socket | None = None,
    timeout_s: float = 3600.0,
) -> BoardServer:
    """Serve a board to one device started by someone else, then remove the socket.

    Args:
        board: The board, or a :class:`BoardServer` already made for it.
        socket_path: Where to listen (with :func:`listen`), and what to remove afterwards.
        listener: A socket from :func:`listen` already (then ``socket_path`` only names it).
        timeout_s: Wall-clock limit for the device to connect and finish, seconds.

    Raises:
        TimeoutError: No device connected in time.
    """
    server = board if isinstance(board, BoardServer) else BoardServer(board)
    path = os.fspath(socket_path) if socket_path is not None else None
    if listener is None:
        if path is None:
            raise ValueError("serve_once needs a socket_path or a listener")
        listener = listen(path)
    deadline = time.monotonic() + timeout_s
    try:
        conn = None
        while conn is None and time.monotonic() < deadline:
            with contextlib.suppress(socket.timeout):
                conn, _ = listener.accept()
    finally:
        listener.close()
        if path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
    if conn is None:
        raise TimeoutError(f"no device connected to {path} within {timeout_s} s")
    server.serve_connection(conn, alive=lambda: time.monotonic() < deadline)
    return server


#: What ``--help`` says, plain text (the module docstring has markup and the API).
DESCRIPTION = """\
A simulated board served over a Unix-domain socket, for a device process elsewhere.

The simulator needs numpy and the board has none, so on the emulated board the
simulator runs outside and serves one simulated board (I2C bus with the ADS1114 and
SSD1306, the LED, ALERT/RDY and buzzer lines, the virtual clock) to
"python -m device --sim-socket PATH" inside. Without --serve-only it starts that
device process itself (--python), wears the board on a simulated subject as
python -m hwsim.wearable does, and prints what the device printed and the bus
statistics. Everything here is SIMULATED.

  python -m hwsim.remote [options] [-- DEVICE OPTIONS, e.g. --config wearable.toml]
  python -m hwsim.remote --serve-only --socket PATH [options]
"""


def main(argv: list[str] | None = None) -> int:
    from device.argtypes import existing_dir, positive_float
    from hwsim.cli import add_fault_rate, add_session_options

    parser = argparse.ArgumentParser(
        prog="python -m hwsim.remote",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_session_options(parser)
    add_fault_rate(parser)
    parser.add_argument(
        "--seconds",
        type=positive_float,
        default=None,
        help="seconds of signal to run (default: the whole session)",
    )
    parser.add_argument(
        "--python",
        default=shlex.quote(sys.executable),
        help='the device\'s interpreter, with any prefix, e.g. "chroot ROOTFS python3" '
        "(default: this Python, %(default)s)",
    )
    parser.add_argument(
        "--socket",
        type=Path,
        default=None,
        help="where the board listens; must not exist, removed afterwards (default: a new "
        "folder in the temporary directory)",
    )
    parser.add_argument(
        "--device-socket",
        default=None,
        help="that socket's path as the device sees it, e.g. inside a chroot (default: "
        "--socket's)",
    )
    parser.add_argument(
        "--cwd",
        type=existing_dir,
        default=None,
        help="the device's working folder (default: the current folder)",
    )
    parser.add_argument(
        "--timeout",
        type=positive_float,
        default=900.0,
        help="wall-clock limit of the whole run, s (default: %(default)s)",
    )
    parser.add_argument(
        "--serve-only",
        action="store_true",
        help="serve one device started elsewhere; needs --socket (default: start the device)",
    )
    parser.add_argument(
        "device_args",
        nargs=argparse.REMAINDER,
        help="-- then options for python -m device (default: none; without --config, a "
        "config with the model in ./models and the session record into ./out, as ./dev run)",
    )
    args = parser.parse_args(argv)
    device_args = args.device_args[1:] if args.device_args[:1] == ["--"] else args.device_args
    with tempfile.TemporaryDirectory(prefix="hwsim-remote-") as scratch:
        if "--config" not in device_args and not args.serve_only:
            # As ./dev run: the bundled model from ./models, the session record into ./out.
            config = Path(scratch) / "wearable.toml"
            models, out = (json.dumps(str(Path(p).resolve())) for p in ("models", "out"))
            config.write_text(
                f"[model]\ndir = {models}\n[recording]\ndir = {out}\n", encoding="utf-8"
            )
            device_args = ["--config", str(config), *device_args]
        try:
            return _main(args, parser, device_args)
        except (FileExistsError, FileNotFoundError, TimeoutError) as exc:
            # The socket path, or a device that never connects: the user's to fix.
            print(f"error: {exc}", file=sys.stderr)
            return 2


def _main(args: argparse.Namespace, parser: argparse.ArgumentParser, device_args: list) -> int:
    if args.serve_only:
        if args.socket is None:
            parser.error("--serve-only needs --socket")
        from hwsim.wearable import wear_board

        _, board = wear_board(
            protocol=args.protocol,
            side=args.side,
            subject=args.subject,
            seed=args.seed,
            fault_rate=args.fault_rate,
        )
        print(f"serving a simulated board on {args.socket}", flush=True)
        server = serve_once(board, args.socket, timeout_s=args.timeout)
        print(f"SIMULATED board: {server.stats.summary()}")
        return 0
    python = shlex.split(args.python)
    if not python or shutil.which(python[0]) is None:
        what = python[0] if python else "(nothing)"
        parser.error(f"--python {args.python!r}: {what} is not a program on this machine")
    run = run_session(
        protocol=args.protocol,
        side=args.side,
        subject=args.subject,
        seed=args.seed,
        fault_rate=args.fault_rate,
        seconds=args.seconds,
        device_args=device_args,
        python=python,
        socket_path=args.socket,
        device_socket_path=args.device_socket,
        cwd=args.cwd,
        timeout_s=args.timeout,
        echo=print,
    )
    if run.stderr:
        print(run.stderr, file=sys.stderr)
    if run.ended == "never connected":
        print(f"the device exited with status {run.returncode} before connecting", file=sys.stderr)
        return 1
    faults = len(run.server.faults)
    print(
        f"SIMULATED subject {args.subject}: device exit {run.returncode} ({run.ended}); "
        f"{run.stats.summary()}; device CPU {1e3 * run.device_cpu_s / run.stats.signal_s:.1f} ms "
        f"per second of signal; {faults} I2C fault(s) sent back"
    )
    return 0 if run.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
