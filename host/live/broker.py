"""The Mosquitto configuration the project ships, and a local broker that runs it.

``deploy/mosquitto/nirs-live.conf`` is the broker configuration for a team (no
anonymous clients, a password file, persistence, a TLS listener documented; see
docs/live_mqtt.md). :class:`LocalBroker` runs Debian's ``/usr/sbin/mosquitto`` with
that very file on a free loopback port, for the tests, the load benchmark, and anyone
who wants a broker for a quick try::

    with LocalBroker() as broker:        # prints nothing; broker.url, broker.settings()
        publisher = RecordPublisher(broker.settings(), "S07")

or from the shell, until Ctrl-C (it prints the options that connect to it)::

    python -m host.live.broker [--port 1883] [--dir DIR]

From that file it replaces only where to listen, the password file, the persistence
directory and the log file (and, when run by root, the user mosquitto runs as: root, so
that it can read its own temporary files); every other line is the shipped one.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from host.live.mqtt_settings import BrokerError, BrokerSettings

__all__ = ["MOSQUITTO", "MOSQUITTO_PASSWD", "SHIPPED_CONFIG", "BrokerError", "LocalBroker"]

#: The configuration the project ships.
SHIPPED_CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto" / "nirs-live.conf"
#: Debian's paths (package mosquitto, 2.0.11 in bookworm).
MOSQUITTO = Path("/usr/sbin/mosquitto")
MOSQUITTO_PASSWD = Path("/usr/bin/mosquitto_passwd")
#: Options of the shipped file that LocalBroker replaces (each must be there once).
REPLACED = ("listener", "password_file", "persistence_location", "log_dest")
#: Seconds to wait for the broker to accept connections, and to save and exit on SIGTERM.
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 20.0


def _free_port(host: str) -> int:
    """A TCP port nobody listens on now (the kernel's pick for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def local_config(text: str, *, host: str, port: int, directory: Path) -> str:
    """The shipped configuration ``text`` with LocalBroker's listener, password file,
    persistence directory and log file in ``directory``.

    Raises:
        BrokerError: One of :data:`REPLACED` is missing or given twice.
    """
    replacement = {
        "listener": f"listener {port} {host}",
        "password_file": f"password_file {directory / 'passwd'}",
        "persistence_location": f"persistence_location {directory}/",
        "log_dest": f"log_dest file {directory / 'mosquitto.log'}",
    }
    seen = dict.fromkeys(REPLACED, 0)
    lines = []
    for line in text.splitlines():
        key = line.split(maxsplit=1)[0] if line.strip() and not line.startswith("#") else ""
        if key in replacement:
            seen[key] += 1
            line = replacement[key]
        lines.append(line)
    wrong = [f"{key} ({n} times)" for key, n in seen.items() if n != 1]
    if wrong:
        raise BrokerError(
            f"{SHIPPED_CONFIG}: LocalBroker replaces {', '.join(REPLACED)}, each given once; "
            f"found {', '.join(wrong)}"
        )
    if os.geteuid() == 0:  # mosquitto would switch to the mosquitto user, locked out of here
        lines.append("user root")
    return "\n".join(lines) + "\n"


class LocalBroker:
    """Mosquitto with the shipped configuration on a free loopback port.

    Args:
        directory: Where its configuration, password file, database and log go; None: a
            temporary directory, removed on :meth:`close`.
        username: A user made in its password file.
        password: That user's password (None: a random one).
        host: The loopback address it listens on.
        port: Its port (None: a free one).
        config: The configuration to run (the shipped one).

    Raises:
        BrokerError: mosquitto is not installed (says ``apt-get install mosquitto``),
            or does not start (names its log).
    """

    def __init__(
        self,
        directory: Path | None = None,
        *,
        username: str = "nirs",
        password: str | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        config: Path = SHIPPED_CONFIG,
    ) -> None:
        for tool in (MOSQUITTO, MOSQUITTO_PASSWD):
            if not tool.is_file():
                raise BrokerError(f"{tool} not found: apt-get install mosquitto")
        self._own_directory = directory is None
        self.directory = Path(directory or tempfile.mkdtemp(prefix="nirs-broker-"))
        self.directory.mkdir(parents=True, exist_ok=True)
        self.host = host
        self.port = port or _free_port(host)
        self.config = config
        self.username = username
        self.password = password or secrets.token_urlsafe(16)
        self.log_file = self.directory / "mosquitto.log"
        self.restarts = 0
        #: Seconds from SIGTERM to accepting connections again, in the last restart.
        self.last_downtime_s: float | None = None
        self._process: subprocess.Popen | None = None
        self._passwd(username, self.password, create=True)

    # -- users ---------------------------------------------------------------------------------

    def _passwd(self, name: str, password: str, *, create: bool = False) -> None:
        argv = [str(MOSQUITTO_PASSWD), "-b", *(["-c"] if create else []), "passwd", name, password]
        done = subprocess.run(argv, cwd=self.directory, capture_output=True, text=True)
        if done.returncode != 0:
            said = (done.stderr or done.stdout).strip().splitlines()
            raise BrokerError(
                f"mosquitto_passwd could not add user {name!r} to {self.directory / 'passwd'}: "
                f"{said[-1] if said else f'exit status {done.returncode}'}"
            )

    def add_user(self, name: str, password: str) -> None:
        """Add (or change) a user; a running broker reloads its password file (SIGHUP)."""
        self._passwd(name, password)
        if self.running:
            self._process.send_signal(signal.SIGHUP)  # type: ignore[union-attr]

    def settings(
        self, username: str | None = None, password: str | None = None, **kwargs: object
    ) -> BrokerSettings:
        """Settings for this broker, as its own user unless told otherwise."""
        return BrokerSettings(
            self.host,
            self.port,
            username or self.username,
            password if username else self.password,
            **kwargs,  # type: ignore[arg-type]
        )

    @property
    def url(self) -> str:
        """``mqtt://host:port``."""
        return f"mqtt://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        """True while its process runs."""
        return self._process is not None and self._process.poll() is None

    # -- process ---------------------------------------------------------------------------------

    def start(self, timeout_s: float = START_TIMEOUT_S) -> LocalBroker:
        """Start it and wait until it accepts connections.

        Raises:
            BrokerError: It exited or did not accept connections within ``timeout_s``
                (names its log and says its last line).
        """
        if self.running:
            return self
        conf = self.directory / "mosquitto.conf"
        text = local_config(
            self.config.read_text(encoding="utf-8"),
            host=self.host,
            port=self.port,
            directory=self.directory,
        )
        conf.write_text(text, encoding="utf-8")
        with open(self.directory / "mosquitto.out", "ab") as out:
            self._process = subprocess.Popen(
                [str(MOSQUITTO), "-c", str(conf)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise BrokerError(
                    f"mosquitto exited with status {self._process.returncode} on "
                    f"{self.host}:{self.port}: {self._last_words()}"
                )
            try:
                with socket.create_connection((self.host, self.port), timeout=1.0):
                    return self
            except OSError:
                time.sleep(0.05)
        self.kill()
        raise BrokerError(
            f"mosquitto did not accept connections on {self.host}:{self.port} within "
            f"{timeout_s:g} s: {self._last_words()}"
        )

    def _last_words(self) -> str:
        """The last line mosquitto wrote, naming the file."""
        for path in (self.directory / "mosquitto.out", self.log_file):
            if path.is_file():
                lines = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
                if lines:
                    return f"{lines[-1]} (see {path})"
        return f"nothing in {self.log_file}"

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Stop it cleanly (SIGTERM: it saves its database), SIGKILL after ``timeout_s``."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def kill(self) -> None:
        """Kill it (SIGKILL: a crash, nothing saved since its last autosave)."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    def restart(self, *, crash: bool = False, timeout_s: float = START_TIMEOUT_S) -> float:
        """Stop (``crash``: kill) and start again on the same port; returns the seconds it
        did not accept connections (also :attr:`last_downtime_s`)."""
        began = time.monotonic()
        self.kill() if crash else self.stop()
        self.start(timeout_s)
        self.restarts += 1
        self.last_downtime_s = time.monotonic() - began
        return self.last_downtime_s

    def close(self) -> None:
        """Stop it and remove its temporary directory (if it made one). Safe twice."""
        self.stop()
        if self._own_directory and self.directory.exists():
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> LocalBroker:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc: object) -> None:
        self.close()


def main(argv: list[str] | None = None) -> int:
    """``python -m host.live.broker``: a local broker with the shipped config until Ctrl-C."""
    parser = argparse.ArgumentParser(
        prog="python -m host.live.broker",
        description="Run mosquitto with the project's configuration on loopback, for a try "
        "on one machine (a team's broker: docs/live_mqtt.md).",
    )
    parser.add_argument(
        "--port", type=int, default=None, help="port (default: a free one, printed)"
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="directory for its password file, database and log, kept: started again with "
        "it, the broker has the same port and password and what it queued (default: a "
        "temporary one, removed at the end)",
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # kill PID: clean up as Ctrl-C
    # A --dir used before keeps its password and port: a restart lets everyone back in.
    secret = args.dir / "password" if args.dir is not None else None
    port_file = args.dir / "port" if args.dir is not None else None
    password, port = None, args.port
    if secret is not None and secret.is_file():
        password = secret.read_text(encoding="utf-8").strip() or None
    if port is None and port_file is not None and port_file.is_file():
        text = port_file.read_text(encoding="utf-8").strip()
        port = int(text) if text.isdigit() else None
    try:
        with LocalBroker(args.dir, port=port, password=password) as broker:
            secret = broker.directory / "password"
            secret.write_text(broker.password + "\n", encoding="utf-8")
            secret.chmod(0o600)
            (broker.directory / "port").write_text(f"{broker.port}\n", encoding="utf-8")
            print(f"mosquitto {broker.url}, log {broker.log_file}; connect with")
            print(
                f"  --mqtt {broker.host}:{broker.port} --mqtt-user {broker.username} "
                f"--mqtt-password-file {secret}"
            )
            if args.dir is not None:
                print(f"  (started again with --dir {args.dir}: the same port and password)")
            print("Ctrl-C stops it", flush=True)
            while broker.running:
                time.sleep(0.5)
            print(f"mosquitto stopped by itself: {broker._last_words()}")
            return 1
    except BrokerError as exc:
        print(f"error: {exc}")
        return 2
    except KeyboardInterrupt:
        print("broker stopped (Ctrl-C)")
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
