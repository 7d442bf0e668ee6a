"""The simulator's transport: a simulated board's I²C bus, GPIO lines and clock over a socket.

For the emulated-board test and the bench; **not used on the real board**. The simulator
(``hwsim``) needs numpy and the board has none, so on the emulated board the simulator runs
outside and serves its hardware over a Unix-domain socket (``hwsim.remote``); the device
process inside holds only what a board holds, plus this module (standard library only:
``socket``, ``struct``, ``errno``, ``os``). ``python -m device --sim-socket PATH`` builds its
hardware from :func:`connect` instead of i2c-dev and the GPIO character device.

The objects speak exactly the interfaces the drivers take:

- :class:`SimBus`: ``read_i2c_block_data`` / ``write_i2c_block_data`` of ``smbus2.SMBus``
  and ``read_bytes`` (one plain read message) of :class:`device.i2c_dev.I2CDev`. An error
  of the simulated bus (an injected NACK: ``OSError(ENXIO)``) arrives as an ``OSError``
  with the same errno and text, so :class:`device.i2c.RetryingBus` retries and
  counts it as on the board.
- :class:`SimLine`: ``write``, ``read``, ``poll(timeout)``, ``read_event``, ``edge``,
  ``close`` of :mod:`device.gpio_line`'s lines (periphery's ``GPIO`` API).
- :class:`SimClock`: ``monotonic()`` and ``sleep(seconds)``, the simulator's virtual time.

Protocol (version :data:`PROTOCOL_VERSION`; every integer little-endian). One request, one
reply, strictly alternating on a ``SOCK_STREAM`` socket:

- request: ``u32 length``, then one or more operations back to back. Every operation but
  the last is *posted*: it cannot fail and has no answer of its own (a GPIO write, a line
  close, dropping an edge event already handed out). The reply answers the last one.
- reply: ``u32 length``, ``u8 status`` (0 = done, 1 = error), ``f64 now`` (the virtual
  clock after the operation), then the result or, on error, ``u8 kind``, ``i32 errno``
  (0: none), ``u16 n``, ``n`` bytes of UTF-8 message.

==========  ====  =======================================  ===========================
operation   code  request after the code                   result
==========  ====  =======================================  ===========================
hello       0x01  u16 version                              u8 bus number, u8 n lines,
                                                           n x (u8 output, u8 k, name)
i2c read    0x02  u8 address, u8 register, u8 length       ``length`` bytes
i2c write   0x03  u8 address, u8 register, u8 n, n bytes   --
gpio write  0x04  u8 line, u8 level (posted)               --
gpio read   0x05  u8 line                                  u8 level
gpio poll   0x06  u8 line, f64 timeout s (NaN: none)       u8 ready [, u8 rising, i64 ns]
read event  0x07  u8 line                                  u8 rising, i64 timestamp ns
drop event  0x08  u8 line (posted)                         --
set edge    0x09  u8 line, u8 edge                         --
close line  0x0A  u8 line (posted)                         --
sleep       0x0B  f64 seconds                              --
now         0x0C  --                                       --
bye         0x0D  -- (the server then closes)              --
i2c plain   0x0E  u8 address, u8 length                    ``length`` bytes
==========  ====  =======================================  ===========================

``i2c plain`` is one read message without a register byte (``read_bytes``): the chip
answers from its own state, the ADS1114 with the register its address pointer holds.

Round trips are what this costs: the clock is read from the last reply (virtual time moves
only while the simulator handles a request, and every reply carries it), a ready poll that
finds an edge sends the oldest event with it, so the ``read_event`` that follows is answered
locally (its removal from the simulator's queue goes with the next request), and GPIO
writes ride along with the next request. The simulator's state is the same at every request
as if each call had been a round trip of its own; per conversion the acquisition loop then
makes two: the ALERT/RDY poll and the conversion read (a plain read, ``i2c plain``).
"""

from __future__ import annotations

# The C module, not socket.py: the client needs only its socket type and constants, and
# socket.py with selectors costs the emulated board 0.27 MB of anonymous memory that a
# real board (which never loads this module) does not spend, inflating its measurement.
import _socket as socket
import contextlib
import errno
import math
import os
import struct
from typing import NamedTuple

from device.errors import DeviceError

#: Version of the wire protocol in the module docstring; client and server must agree.
#: 2: ``i2c plain`` added.
PROTOCOL_VERSION = 2

OP_HELLO = 0x01
OP_I2C_READ = 0x02
OP_I2C_WRITE = 0x03
OP_GPIO_WRITE = 0x04
OP_GPIO_READ = 0x05
OP_GPIO_POLL = 0x06
OP_GPIO_READ_EVENT = 0x07
OP_GPIO_DROP_EVENT = 0x08
OP_GPIO_SET_EDGE = 0x09
OP_GPIO_CLOSE = 0x0A
OP_SLEEP = 0x0B
OP_NOW = 0x0C
OP_BYE = 0x0D
OP_I2C_READ_BYTES = 0x0E

#: Operation code → name, for statistics and messages.
OP_NAMES = {
    OP_HELLO: "hello",
    OP_I2C_READ: "i2c_read",
    OP_I2C_WRITE: "i2c_write",
    OP_GPIO_WRITE: "gpio_write",
    OP_GPIO_READ: "gpio_read",
    OP_GPIO_POLL: "gpio_poll",
    OP_GPIO_READ_EVENT: "gpio_read_event",
    OP_GPIO_DROP_EVENT: "gpio_drop_event",
    OP_GPIO_SET_EDGE: "gpio_set_edge",
    OP_GPIO_CLOSE: "gpio_close",
    OP_SLEEP: "sleep",
    OP_NOW: "now",
    OP_BYE: "bye",
    OP_I2C_READ_BYTES: "i2c_read_bytes",
}

#: Edge settings of a line's ``edge`` (:class:`device.gpio_line.CdevLine`), by wire code (index).
EDGES = ("none", "rising", "falling", "both")

STATUS_OK = 0
STATUS_ERROR = 1

#: Error kinds on the wire.
ERR_OS = 1  # OSError, with its errno (0: none)
ERR_VALUE = 2  # ValueError
ERR_TYPE = 3  # TypeError
ERR_POSTED = 4  # a posted operation failed: client and simulator disagree (a bug)
ERR_PROTOCOL = 5  # malformed request, unknown operation or version
ERR_OTHER = 6  # any other exception of the simulator

#: The most bytes an SMBus block transfer carries (Linux I2C_SMBUS_BLOCK_MAX, smbus2).
SMBUS_BLOCK_MAX = 32

#: Default wall-clock wait for one reply, seconds. The simulator answers in microseconds; a
#: silent one has hung or gone.
DEFAULT_REPLY_TIMEOUT_S = 60.0

LENGTH = struct.Struct("<I")
REPLY_HEAD = struct.Struct("<Bd")
ERROR_HEAD = struct.Struct("<BiH")
HELLO = struct.Struct("<BH")
I2C_HEAD = struct.Struct("<BBBB")  # op, address, register, length / count
I2C_PLAIN = struct.Struct("<BBB")  # op, address, length
LINE_OP = struct.Struct("<BB")  # op, line
LINE_ARG = struct.Struct("<BBB")  # op, line, level / edge
POLL = struct.Struct("<BBd")  # op, line, timeout
EVENT = struct.Struct("<Bq")  # rising, timestamp ns
SLEEP = struct.Struct("<Bd")

_READY_EVENT = struct.Struct("<BBq")  # ready, rising, timestamp ns
_new_tuple = tuple.__new__  # an EdgeEvent without NamedTuple's Python-level __new__
#: struct timeval as SO_RCVTIMEO / SO_SNDTIMEO take it: C longs, or 64-bit fields where a
#: 32-bit C library has 64-bit time_t (its SO_RCVTIMEO is then the kernel's _NEW option).
_TIMEVALS = (struct.Struct("ll"), struct.Struct("qq"))
_NOW = bytes([OP_NOW])
_BYE = bytes([OP_BYE])


class SimBoardError(DeviceError):
    """The simulated board's transport failed (not a fault of the simulated hardware)."""


class SimSocketError(SimBoardError, OSError):
    """No simulator answers at the socket path; keeps the errno of the failed connect."""

    def __str__(self) -> str:
        return str(self.strerror)  # the message alone: it is printed as one line


class SimBoardLostError(SimBoardError):
    """The simulator closed the connection or stopped answering in the middle of a run.

    Deliberately not an ``OSError``: no driver may take it for an I²C fault and retry it.
    """


class EdgeEvent(NamedTuple):
    """As :data:`device.gpio_line.EdgeEvent`: ``edge`` "rising" or "falling"; ``timestamp`` ns."""

    edge: str
    timestamp: int


class _Link:
    """One connection: requests out, replies in, posted operations and the clock's value."""

    def __init__(self, sock: socket.socket, path: str, reply_timeout_s: float) -> None:
        self._sock = sock
        self.path = path
        self.reply_timeout_s = reply_timeout_s
        self._posted = bytearray()
        self.now_s = math.nan
        #: Requests sent (each one a round trip) and operations posted along with them.
        self.round_trips = 0
        self.posted_ops = 0
        self.lost: str | None = None

    def post(self, operation: bytes) -> None:
        """Queue an operation that cannot fail; it goes out with the next request.

        Once the simulator is gone it is dropped: switching LEDs off or blanking a display
        that no longer exists must not raise a second error over the first.
        """
        if self.lost is None:
            self._posted += operation
            self.posted_ops += 1

    def call_void(self, operation: bytes) -> None:
        """:meth:`call` for an operation without a result; dropped once the simulator is gone.

        The failure that lost the connection has been raised already; the app's shutdown
        (ADC power-down, OLED blanking) must not raise it again over the first.
        """
        if self.lost is None:
            self.call(operation)

    def call(self, operation: bytes) -> memoryview:
        """Send the posted operations and ``operation``; return the result bytes.

        Raises:
            OSError, ValueError, TypeError: As the simulator raised them.
            SimBoardLostError: The connection is gone.
            SimBoardError: The simulator refused the request.
        """
        if self.lost is not None:
            raise SimBoardLostError(self.lost)
        if self._posted:
            payload = bytes(self._posted) + operation
            self._posted.clear()
        else:
            payload = operation
        try:
            self._sock.sendall(LENGTH.pack(len(payload)) + payload)
            reply = self._receive()
        except (socket.timeout, BlockingIOError):  # Python's timeout, or the kernel's
            wait_s = self.reply_timeout_s
            self._lose(f"the simulator at {self.path} did not answer within {wait_s} s")
        except OSError as exc:
            self._lose(f"connection to the simulator at {self.path} lost: {exc}")
        self.round_trips += 1
        status, self.now_s = REPLY_HEAD.unpack_from(reply, 0)
        if status != STATUS_OK:
            raise self._error(reply[REPLY_HEAD.size :])
        return reply[REPLY_HEAD.size :]

    def _receive(self) -> memoryview:
        data = self._sock.recv(65536)
        n = len(data)
        if n >= LENGTH.size and n == LENGTH.size + LENGTH.unpack_from(data)[0]:
            return memoryview(data)[LENGTH.size :]  # the whole reply at once: the usual case
        while len(data) < LENGTH.size or len(data) < LENGTH.size + LENGTH.unpack_from(data)[0]:
            more = self._sock.recv(65536)
            if not more:
                raise ConnectionResetError(errno.ECONNRESET, "closed by the simulator")
            data += more
        return memoryview(data)[LENGTH.size :]

    def _lose(self, message: str) -> None:
        self.lost = message
        self._posted.clear()
        raise SimBoardLostError(message)

    def _error(self, body: memoryview) -> Exception:
        kind, number, n = ERROR_HEAD.unpack_from(body, 0)
        message = bytes(body[ERROR_HEAD.size : ERROR_HEAD.size + n]).decode("utf-8", "replace")
        if kind == ERR_OS:
            return OSError(number, message) if number else OSError(message)
        if kind == ERR_VALUE:
            return ValueError(message)
        if kind == ERR_TYPE:
            return TypeError(message)
        if kind == ERR_POSTED:
            return SimBoardError(f"the simulator refused an operation that cannot fail: {message}")
        return SimBoardError(f"the simulator at {self.path}: {message}")

    def close(self) -> None:
        """Send what is posted and say goodbye; quiet if the simulator is already gone."""
        if self.lost is None:
            with contextlib.suppress(SimBoardError):
                self.call(_BYE)
            self.lost = "the connection to the simulator was closed"
        self._sock.close()


class SimBus:
    """The simulated I²C bus: the ``smbus2.SMBus`` methods the drivers use.

    Args:
        link: The connection (from :class:`SimBoardClient`).
        bus_number: The simulated adapter's number, for messages (``/dev/i2c-N``).
    """

    def __init__(self, link: _Link, bus_number: int) -> None:
        self._link = link
        self.bus_number = bus_number

    def read_i2c_block_data(
        self, i2c_addr: int, register: int, length: int, force: bool | None = None
    ) -> list[int]:
        """Write ``register`` then read ``length`` bytes after a repeated start."""
        if length > SMBUS_BLOCK_MAX:
            raise ValueError(f"Desired block length over {SMBUS_BLOCK_MAX} bytes")
        return list(self._link.call(I2C_HEAD.pack(OP_I2C_READ, i2c_addr, register, length)))

    def read_bytes(self, i2c_addr: int, length: int) -> bytes:
        """One read message of ``length`` bytes, no register byte first (one round trip)."""
        if not 0 < length <= 0xFF:
            raise ValueError(f"a plain read takes 1..255 bytes here, got {length!r}")
        return bytes(self._link.call(I2C_PLAIN.pack(OP_I2C_READ_BYTES, i2c_addr, length)))

    def write_i2c_block_data(
        self, i2c_addr: int, register: int, data: list[int], force: bool | None = None
    ) -> None:
        """Write ``data`` after the command byte ``register`` (one write message)."""
        if len(data) > SMBUS_BLOCK_MAX:
            raise ValueError(f"Data length cannot exceed {SMBUS_BLOCK_MAX} bytes")
        head = I2C_HEAD.pack(OP_I2C_WRITE, i2c_addr, register, len(data))
        self._link.call_void(head + bytes(data))

    def close(self) -> None:
        """Nothing to release here: the connection belongs to :class:`SimBoardClient`."""


class SimLine:
    """One simulated GPIO line: the subset of :mod:`device.gpio_line`'s lines the drivers use.

    Args:
        link: The connection.
        line_id: The line's number on the wire.
        name: The simulator's label, e.g. "led750".
        output: Whether the simulator made it an output.
    """

    def __init__(self, link: _Link, line_id: int, name: str, output: bool) -> None:
        self._link = link
        self._id = line_id
        self.name = name
        self._output = output
        self._edge = "none"
        self._peeked: EdgeEvent | None = None  # the oldest queued event, from the last poll
        self.closed = False

    @property
    def direction(self) -> str:
        return "out" if self._output else "in"

    @property
    def edge(self) -> str:
        return self._edge

    @edge.setter
    def edge(self, value: str) -> None:
        self._check_open()
        if value not in EDGES:
            raise ValueError(f"edge must be one of {EDGES}, got {value!r}")
        self._peeked = None  # the simulator clears the line's event queue
        self._link.call_void(LINE_ARG.pack(OP_GPIO_SET_EDGE, self._id, EDGES.index(value)))
        self._edge = value

    def write(self, value: bool) -> None:
        """Set an output line's level (sent with the next request; it cannot fail there)."""
        self._check_open()
        if not isinstance(value, bool):
            raise TypeError("Invalid value type, should be bool.")
        if not self._output:
            raise OSError(f"{self.name}: cannot write an input line")
        self._link.post(LINE_ARG.pack(OP_GPIO_WRITE, self._id, value))

    def read(self) -> bool:
        """The line's level now."""
        self._check_open()
        return bool(self._link.call(LINE_OP.pack(OP_GPIO_READ, self._id))[0])

    def poll(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds of virtual time (None: forever) for an edge event."""
        self._check_open()
        wait_s = math.nan if timeout is None else timeout
        result = self._link.call(POLL.pack(OP_GPIO_POLL, self._id, wait_s))
        if not result[0]:
            self._peeked = None
            return False
        _, rising, timestamp = _READY_EVENT.unpack_from(result, 0)
        self._peeked = _new_tuple(EdgeEvent, ("rising" if rising else "falling", timestamp))
        return True

    def read_event(self) -> EdgeEvent:
        """The oldest queued edge event, waiting for one if none is queued."""
        self._check_open()
        event = self._peeked
        if event is not None:  # handed out by the poll before; drop it there next time
            self._peeked = None
            self._link.post(LINE_OP.pack(OP_GPIO_DROP_EVENT, self._id))
            return event
        rising, timestamp = EVENT.unpack_from(
            self._link.call(LINE_OP.pack(OP_GPIO_READ_EVENT, self._id)), 0
        )
        return _new_tuple(EdgeEvent, ("rising" if rising else "falling", timestamp))

    def close(self) -> None:
        """Release the line; harmless to call twice."""
        if not self.closed:
            self.closed = True
            self._peeked = None
            self._link.post(LINE_OP.pack(OP_GPIO_CLOSE, self._id))

    def _check_open(self) -> None:
        if self.closed:
            raise OSError(f"{self.name}: line is closed")

    def __enter__(self) -> SimLine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SimClock:
    """The simulator's virtual clock: ``monotonic()`` costs no round trip."""

    def __init__(self, link: _Link) -> None:
        self._link = link

    def monotonic(self) -> float:
        """Virtual time, seconds, as the last reply gave it (it moves only in the simulator)."""
        return self._link.now_s

    def sleep(self, seconds: float) -> None:
        """Advance virtual time by ``seconds``."""
        self._link.call_void(SLEEP.pack(OP_SLEEP, seconds))


class SimBoardClient:
    """A connection to a simulated board served by ``hwsim.remote``.

    Args:
        path: The server's Unix-domain socket.
        reply_timeout_s: Wall-clock wait for each reply, seconds.

    Attributes:
        bus: The I²C bus (:class:`SimBus`).
        clock: The virtual clock (:class:`SimClock`).
        bus_name: e.g. "sim:/dev/i2c-3", for messages.

    Raises:
        SimSocketError: Nothing serves at ``path``; the message says what to start.
        SimBoardError: The server speaks another protocol version.
    """

    def __init__(
        self, path: str | os.PathLike, *, reply_timeout_s: float = DEFAULT_REPLY_TIMEOUT_S
    ) -> None:
        self.path = os.fspath(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(reply_timeout_s)
        try:
            sock.connect(self.path)
        except OSError as exc:
            sock.close()
            if isinstance(exc, FileNotFoundError):
                what = "no such socket"
            elif isinstance(exc, ConnectionRefusedError):
                what = "nobody is serving on it"
            else:
                what = exc.strerror or str(exc)
            raise SimSocketError(
                exc.errno,
                f"simulated board: cannot connect to {self.path} ({what}); start the "
                "simulator first (python -m hwsim.remote)",
            ) from None
        _use_kernel_timeouts(sock, reply_timeout_s)
        self._link = _Link(sock, self.path, reply_timeout_s)
        try:
            result = self._link.call(HELLO.pack(OP_HELLO, PROTOCOL_VERSION))
        except BaseException:
            self._link.lost = "hello failed"
            sock.close()
            raise
        bus_number, n_lines = result[0], result[1]
        self._lines: dict[str, SimLine] = {}
        offset = 2
        for line_id in range(n_lines):
            output, k = result[offset], result[offset + 1]
            name = bytes(result[offset + 2 : offset + 2 + k]).decode()
            self._lines[name] = SimLine(self._link, line_id, name, bool(output))
            offset += 2 + k
        self.bus = SimBus(self._link, bus_number)
        self.clock = SimClock(self._link)
        self.bus_name = f"sim:/dev/i2c-{bus_number}"
        self._closed = False

    @property
    def line_names(self) -> tuple[str, ...]:
        """The simulator's line labels, e.g. ("led750", ..., "alert_rdy", "buzzer")."""
        return tuple(self._lines)

    @property
    def round_trips(self) -> int:
        """Requests sent so far, each one a round trip."""
        return self._link.round_trips

    def line(self, name: str, direction: str = "preserve") -> SimLine:
        """The line labelled ``name``, as ``device.gpio_line.open_line(chip, line, direction)``.

        Args:
            name: The simulator's label (:attr:`line_names`).
            direction: "in", "out", "low", "high" or "preserve"; it must fit the simulated
                line, whose direction the simulator's wiring fixes ("high" sets it high).

        Raises:
            ValueError: Unknown name, or a direction the line does not have.
        """
        if name not in self._lines:
            raise ValueError(f"no simulated line {name!r}; have {sorted(self._lines)}")
        line = self._lines[name]
        if direction not in ("in", "out", "low", "high", "preserve"):
            raise ValueError(f"direction must be in, out, low, high or preserve, got {direction!r}")
        if direction != "preserve" and (direction == "in") == line._output:
            raise ValueError(
                f"simulated line {name!r} is an {line.direction}put, not {direction!r}"
            )
        if direction == "high":
            line.write(True)
        return line

    def close(self) -> None:
        """Close the lines and the connection; harmless to call twice."""
        if self._closed:
            return
        self._closed = True
        for line in self._lines.values():
            line.close()
        self._link.close()

    def __enter__(self) -> SimBoardClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _use_kernel_timeouts(sock: socket.socket, seconds: float) -> None:
    """Make ``sock`` blocking with the kernel's send and receive timeouts (SO_SNDTIMEO,
    SO_RCVTIMEO: a late reply raises BlockingIOError) instead of Python's, which polls the
    socket before every send and recv (1.7 k ARM instructions more per round trip on the
    emulated board). Where the kernel refuses both layouts of the timeval, Python's timeout
    stays."""
    whole = int(seconds)
    for timeval in _TIMEVALS:
        value = timeval.pack(whole, int((seconds - whole) * 1e6))
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, value)
        except OSError:
            continue
        sock.settimeout(None)
        return


def connect(path: str | os.PathLike, **options: float) -> SimBoardClient:
    """Connect to the simulated board served at ``path`` (see :class:`SimBoardClient`)."""
    return SimBoardClient(path, **options)
