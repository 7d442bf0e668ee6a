"""The wearable's 128 x 64 SSD1306 OLED over an already-open I²C bus: transport and frames.

The display has three layers, each handed to the next: :class:`QueuedI2C` moves bytes (the
transport), :class:`device.ssd1306.SSD1306` decides which (the chip protocol), and Pillow
draws (device.screens, on the ``ImageDraw`` that :meth:`Display.frame` yields).

The OLED shares its bus with the ADS1114, which converts every 1.16 ms (860 SPS). A whole
frame is 33 SMBus block writes, about 25 ms of bus time at 400 kHz: sent in one go it would
cost some 21 conversions. So the transport queues the chip's messages instead of sending
them; the acquisition loop sends them a few at a time in the bus time left between two
conversions (:meth:`Display.pump`).

:func:`open_oled` initialises the panel (synchronously) and says clearly when nothing
answers, so the app can run headless. :class:`Display` turns an I²C error while sending
into a counted failure: a glitch on the bus must never stop the measurement. It also brings
back a panel that lost power or was reset mid-session (a brown-out, a loose connector),
which wakes dark and may take frames without any error: the next frame after a failure,
and one every ``restore_interval_s`` regardless, first puts the panel's registers back
(:func:`device.ssd1306.restore_sequence`, one 23-byte message). A panel that stays away
costs one failed message per frame, and is reported (:attr:`Display.lost`,
:meth:`Display.take_notices`).

Imports only Pillow and the standard library (the board has about 16 MB free).
"""

from __future__ import annotations

import contextlib
import math
import os
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

from PIL import Image, ImageDraw

from device.clock import Clock, SystemClock
from device.errors import DeviceError
from device.outage import Outage, check_count
from device.ssd1306 import SSD1306

#: Default 7-bit address of SSD1306 modules (SA0 low); 0x3D with SA0 high.
DEFAULT_ADDRESS = 0x3C

#: SSD1306 control bytes (datasheet rev 1.1, 8.1.5.1), one at the start of each message:
#: Co = 0, then D/C# = 0 (the rest of the message is commands) or 1 (the rest is GDDRAM data).
CONTROL_COMMANDS = 0x00
CONTROL_DATA = 0x40

#: Most bytes an SMBus block write carries after its command byte (Linux I2C_SMBUS_BLOCK_MAX).
SMBUS_BLOCK_MAX = 32

#: Default SCL frequency, Hz (I²C Fast-mode, as the board's bus runs).
DEFAULT_BUS_HZ = 400_000.0

#: Bit-times per byte on the wire: 8 data bits and the acknowledge.
I2C_BITS_PER_BYTE = 9
#: Bit-times of the start and the stop condition of a transfer.
I2C_START_STOP_BITS = 2
#: Bytes of a block write besides its payload: the address byte and the control byte.
I2C_HEADER_BYTES = 2

#: 7-bit addresses a chip may use (the others are reserved by the I²C specification).
ADDRESS_RANGE = range(0x03, 0x78)

#: Default time between two restores of the panel's registers when nothing failed, seconds:
#: the longest a panel reset without an I²C error stays dark (plus one frame). Costs one
#: 23-byte message and a 1-byte one per interval: 0.64 ms of bus time at 400 kHz
#: (:meth:`QueuedI2C.estimated_s`), each fitting the gap between two ADC conversions.
DEFAULT_RESTORE_INTERVAL_S = 5.0
#: Default failures in a row (each after the bus's own retries) that make the panel lost:
#: a glitch costs one frame; three frames in a row means it is not answering.
DEFAULT_LOST_AFTER = 3


class OledNotFoundError(DeviceError, OSError):
    """The OLED did not answer while being initialised; keeps the adapter's errno.

    Args:
        errno_: errno of the failed transfer (``None`` if unknown).
        address: 7-bit I²C address that was tried.
        bus_name: The bus, e.g. "/dev/i2c-3".
    """

    def __init__(self, errno_: int | None, address: int, bus_name: str) -> None:
        reason = os.strerror(errno_) if errno_ is not None else "no answer"
        message = f"no SSD1306 OLED answers at address {address:#04x} on {bus_name} ({reason})"
        super().__init__(errno_, message)
        self.address = address
        self.bus_name = bus_name


class I2CMessage(NamedTuple):
    """One queued I²C write: ``write_i2c_block_data(address, control, list(payload))``.

    Attributes:
        control: The SSD1306 control byte, :data:`CONTROL_COMMANDS` or :data:`CONTROL_DATA`.
        payload: The command or GDDRAM bytes, at most :data:`SMBUS_BLOCK_MAX`.
    """

    control: int
    payload: bytes


class QueuedI2C:
    """The display's transport: queues I²C messages, to be sent later in bus-time slices.

    One SMBus block write with control byte 0x00 per :meth:`command` call, and block writes
    of up to 32 bytes with control byte 0x40 for :meth:`data` (the messages luma.core's
    ``i2c`` interface sends on a bus it did not open, which hwsim.ssd1306 was checked
    against). Nothing is sent until :meth:`pump` or :meth:`flush`. Errors of the bus are
    raised as the bus raised them (``OSError``, e.g. :class:`device.errors.I2CError` from a
    ``RetryingBus``), keeping their errno.

    Args:
        bus: An opened ``smbus2.SMBus``-like object; it stays the caller's to close.
        address: 7-bit I²C address of the display.
        bus_hz: SCL frequency used to estimate transfer times, Hz.

    Raises:
        ValueError: Address outside 0x03..0x77, or ``bus_hz`` not a positive finite number.
    """

    def __init__(
        self, bus: Any, address: int = DEFAULT_ADDRESS, *, bus_hz: float = DEFAULT_BUS_HZ
    ) -> None:
        if address not in ADDRESS_RANGE:
            raise ValueError(f"7-bit I2C address must be within 0x03..0x77, got {address!r}")
        if not (math.isfinite(bus_hz) and bus_hz > 0):
            raise ValueError(f"bus_hz must be a positive number of Hz, got {bus_hz!r}")
        self.bus = bus
        self.address = address
        self.bus_hz = float(bus_hz)
        #: Messages written to the bus so far (a failed one is not counted).
        self.messages_sent = 0
        self._queue: deque[I2CMessage] = deque()

    # -- what the chip driver calls ----------------------------------------------------------

    def command(self, *cmd: int) -> None:
        """Queue ``cmd`` as one command message.

        Raises:
            ValueError: More than :data:`SMBUS_BLOCK_MAX` bytes, or a byte outside 0..255.
        """
        if len(cmd) > SMBUS_BLOCK_MAX:
            raise ValueError(
                f"a command message holds at most {SMBUS_BLOCK_MAX} bytes, got {len(cmd)}"
            )
        self._queue.append(I2CMessage(CONTROL_COMMANDS, bytes(cmd)))

    def data(self, data: Sequence[int]) -> None:
        """Queue GDDRAM bytes as data messages of up to :data:`SMBUS_BLOCK_MAX` bytes each.

        Raises:
            ValueError: A byte outside 0..255.
        """
        payload = bytes(data)
        append = self._queue.append
        for start in range(0, len(payload), SMBUS_BLOCK_MAX):
            append(I2CMessage(CONTROL_DATA, payload[start : start + SMBUS_BLOCK_MAX]))

    # -- the queue ---------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Number of messages queued."""
        return len(self._queue)

    def peek(self) -> I2CMessage | None:
        """The message :meth:`pump` sends next, or ``None`` if the queue is empty."""
        return self._queue[0] if self._queue else None

    def estimated_s(self, message: I2CMessage) -> float:
        """Bus time of ``message``: start, stop and 9 bit-times per byte, seconds.

        The bytes are the address, the control byte and the payload. A transfer that a
        ``RetryingBus`` repeats takes this once per attempt.
        """
        n_bytes = I2C_HEADER_BYTES + len(message.payload)
        return (I2C_START_STOP_BITS + I2C_BITS_PER_BYTE * n_bytes) / self.bus_hz

    def pump(self, budget_s: float) -> int:
        """Send queued messages, in order, while the next one's estimate fits what is left.

        The budget is reduced by each message's :meth:`estimated_s`; sending stops at the
        first message that would not fit, so none is sent past the budget (a budget of zero
        or less sends nothing). A message that fails is dropped from the queue; the error
        propagates and the messages after it stay queued.

        Args:
            budget_s: Bus time available, seconds.

        Returns:
            Number of messages sent.

        Raises:
            ValueError: ``budget_s`` is NaN.
            OSError: A transfer failed (as the bus raised it).
        """
        if math.isnan(budget_s):
            raise ValueError("budget_s must be a number of seconds, got nan")
        left_s = budget_s
        sent = 0
        while self._queue:
            cost_s = self.estimated_s(self._queue[0])
            if cost_s > left_s:
                break
            message = self._queue.popleft()
            self.bus.write_i2c_block_data(self.address, message.control, list(message.payload))
            self.messages_sent += 1
            left_s -= cost_s
            sent += 1
        return sent

    def flush(self) -> int:
        """Send every queued message, as :meth:`pump` does with no time limit.

        Returns:
            Number of messages sent.
        """
        return self.pump(math.inf)

    def discard(self, count: int | None = None, *, skip: int = 0) -> int:
        """Drop queued messages without sending them.

        Args:
            count: How many to drop; all of them (after ``skip``) if ``None``.
            skip: How many at the front of the queue to keep ahead of the dropped ones.

        Returns:
            Number of messages dropped.

        Raises:
            ValueError: ``count`` or ``skip`` negative.
        """
        if skip < 0 or (count is not None and count < 0):
            raise ValueError(f"count and skip must be >= 0, got count={count!r}, skip={skip!r}")
        available = max(0, len(self._queue) - skip)
        dropped = available if count is None else min(count, available)
        if dropped:
            kept = list(self._queue)
            del kept[skip : skip + dropped]
            self._queue = deque(kept)
        return dropped


def _bus_name(bus: object) -> str:
    """A name for ``bus`` in messages, e.g. "/dev/i2c-3"."""
    name = getattr(bus, "bus_name", None)  # device.i2c.RetryingBus
    if isinstance(name, str):
        return name
    number = getattr(bus, "bus_number", None)  # hwsim.i2c.SimI2CBus
    if isinstance(number, int):
        return f"/dev/i2c-{number}"
    fd = getattr(bus, "fd", None)  # smbus2.SMBus keeps only the file descriptor
    if isinstance(fd, int):
        with contextlib.suppress(OSError):
            return os.readlink(f"/proc/self/fd/{fd}")
    return type(bus).__name__


def open_oled(
    bus: Any,
    address: int = DEFAULT_ADDRESS,
    *,
    width: int = 128,
    height: int = 64,
    rotate: int = 0,
    bus_hz: float = DEFAULT_BUS_HZ,
) -> SSD1306:
    """Initialise the SSD1306 at ``address`` on ``bus`` and return its driver.

    The driver talks through a :class:`QueuedI2C` (``device.transport``): the
    initialisation is sent before this returns, later frames are only queued until someone
    pumps or flushes the queue (:class:`Display` does). The bus stays the caller's. Closing
    the driver (``device.close()``, or :meth:`Display.close`) drops what is queued and
    blanks the panel at once; it is harmless to repeat.

    Args:
        bus: An opened ``smbus2.SMBus``-like object (``smbus2.SMBus``,
            :class:`device.i2c.RetryingBus`, ``hwsim.i2c.SimI2CBus``).
        address: 7-bit I²C address.
        width: Panel width, pixels.
        height: Panel height, pixels.
        rotate: Quarter turns clockwise applied to every frame: 0, 1, 2 or 3.
        bus_hz: SCL frequency of ``bus``, Hz, for the transfer-time estimates.

    Returns:
        The :class:`device.ssd1306.SSD1306`, switched on and cleared.

    Raises:
        OledNotFoundError: The chip did not answer during initialisation.
        ValueError: Unsupported size or rotation, bad address or ``bus_hz``.
    """
    transport = QueuedI2C(bus, address, bus_hz=bus_hz)
    device = SSD1306(transport, width=width, height=height, rotate=rotate)
    device.start()
    try:
        transport.flush()
    except OSError as exc:
        raise OledNotFoundError(exc.errno, address, _bus_name(bus)) from exc
    finally:
        transport.discard()
    return device


class Display:
    """Frames on an OLED, sent in slices of bus time; an I²C error costs one frame, never more.

    :meth:`frame` only queues the frame. :meth:`pump` sends what fits in a given bus time
    (the acquisition loop calls it with the time left before the next conversion) and
    :meth:`flush` sends everything. A frame drawn while the previous one is still queued
    replaces it: the panel shows the newest figures, never a backlog.

    A panel that lost power or was reset comes back by itself: after a failure, and every
    ``restore_interval_s`` regardless (a reset need not cause any I²C error), the next frame
    is sent with the panel's registers restored ahead of it and "display on" after it
    (:meth:`device.ssd1306.SSD1306.display_packed`). While the panel does not answer, each
    frame costs one failed message (its restore) and nothing more; ``lost_after`` failures
    in a row make it :attr:`lost`, with a notice for the wearer, and the first frame that
    goes through again ends that, with another.

    Args:
        device: The driver :func:`open_oled` returned.
        clock: Time source for the restore interval and the notices (the system's if
            ``None``); read once per frame queued.
        restore_interval_s: Restore the registers at least this often, seconds; ``None``:
            only after a failure.
        lost_after: Failures in a row that make the panel :attr:`lost`, >= 1.

    Attributes:
        failures: I²C errors counted: each cost the rest of a frame (or a close).
        frames_sent: Frames whose last message went out.
        frames_dropped: Queued frames replaced by a newer one before they were sent.
        restores: Frames that went out with the panel's registers restored ahead of them.
        last_error: The most recent I²C error, or ``None``.

    Raises:
        TypeError: ``device`` does not talk through a :class:`QueuedI2C`.
        ValueError: ``restore_interval_s`` not None or a positive number, or ``lost_after``
            not an integer >= 1.

    Example::

        display = Display(open_oled(bus))
        with display.frame() as draw:
            draw.text((0, 0), "750 nm 1.234 V", fill="white")
        while display.frame_pending:
            display.pump(1.0e-3)  # between two ADC reads
        display.close()
    """

    def __init__(
        self,
        device: SSD1306,
        *,
        clock: Clock | None = None,
        restore_interval_s: float | None = DEFAULT_RESTORE_INTERVAL_S,
        lost_after: int = DEFAULT_LOST_AFTER,
    ) -> None:
        queue = getattr(device, "transport", None)
        if not isinstance(queue, QueuedI2C):
            raise TypeError(
                "Display needs a device from open_oled(), whose transport is a "
                f"QueuedI2C; got {type(device).__name__} with {type(queue).__name__}"
            )
        if restore_interval_s is not None and not (
            math.isfinite(restore_interval_s) and restore_interval_s > 0
        ):
            raise ValueError(
                f"restore_interval_s must be None or seconds > 0, got {restore_interval_s!r}"
            )
        self.device = device
        self._queue = queue
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._outage = Outage(
            "OLED",
            self._clock,
            away_after=check_count("lost_after", lost_after),
            away_text="not answering",
        )
        self.failures = 0
        self.frames_sent = 0
        self.frames_dropped = 0
        self.restores = 0
        self.last_error: BaseException | None = None
        self._closed = False
        self._restore_interval_s = (
            math.inf if restore_interval_s is None else float(restore_interval_s)
        )
        self._next_restore_s = self._clock.monotonic() + self._restore_interval_s
        self._restore_due = False  # a failure since the last restore went out
        self._frame_restores = False  # the queued frame carries a restore
        self._frame_t_s = 0.0  # clock time the queued frame was queued
        # The queue holds, in order: `_ahead` messages not of the frame (commands sent through
        # the device directly), then the `_frame_left` unsent messages of the current frame,
        # then maybe more of the former.
        self._ahead = 0
        self._frame_left = 0

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed

    @property
    def frame_pending(self) -> bool:
        """True while a frame is queued and not completely sent."""
        return self._frame_left > 0

    @property
    def consecutive_failures(self) -> int:
        """Failures since the last frame that went through."""
        return self._outage.streak

    @property
    def lost(self) -> bool:
        """True while the panel is not answering: ``lost_after`` failures in a row, and no
        frame through since. Frames are still tried, one failed message each."""
        return self._outage.away

    @property
    def lost_since_s(self) -> float | None:
        """Clock time of the first failure of the current run if :attr:`lost`, else None."""
        return self._outage.since_s if self._outage.away else None

    @property
    def recoveries(self) -> int:
        """Times the panel answered again after being :attr:`lost`."""
        return self._outage.recoveries

    def take_notices(self) -> list[str]:
        """Lines for the wearer since the last call, oldest first: "OLED not answering for
        2.0 s (3 failures in a row, the last: ...)" when it becomes :attr:`lost`, "OLED back
        after 5.0 s" when a frame goes through again; an empty list if nothing changed."""
        return self._outage.take_notices()

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError("I/O operation on closed Display")

    def _failed(self, exc: BaseException) -> None:
        self.failures += 1
        self.last_error = exc
        self._restore_due = True  # the panel may have lost power: restore it with the next frame
        self._outage.failed(getattr(exc, "strerror", None) or str(exc))

    def _drop_queued_frame(self) -> None:
        """Drop the unsent rest of the queued frame, if any, keeping other messages."""
        if self._frame_left:
            self._queue.discard(self._frame_left, skip=self._ahead)
            self._frame_left = 0
            self._ahead = 0
            self.frames_dropped += 1

    def _account_sent(self, count: int) -> None:
        """``count`` messages left the front of the queue."""
        passed = min(count, self._ahead)
        self._ahead -= passed
        count -= passed
        if self._frame_left and count:
            self._frame_left -= min(count, self._frame_left)
            if not self._frame_left:
                self.frames_sent += 1
                self._outage.succeeded()
                if self._frame_restores:
                    self.restores += 1
                    self._restore_due = False
                    self._next_restore_s = self._frame_t_s + self._restore_interval_s

    def _account_failure(self, exc: OSError) -> None:
        """The message at the front of the queue failed (the queue dropped it)."""
        self._failed(exc)
        if self._ahead:
            self._ahead -= 1  # not a frame message: the frame itself is intact
        elif self._frame_left:
            # The next frame starts with the column and page address commands (after the
            # restore a failure asks for): it repaints the whole panel whatever part of this
            # one arrived.
            self._queue.discard(self._frame_left - 1)
            self._frame_left = 0

    def _queue_frame(self, image: Image.Image) -> None:
        """Pack ``image`` and queue it in place of a frame still queued."""
        gddram = self.device.pack(image)
        self._drop_queued_frame()
        self._ahead = self._queue.pending
        now_s = self._clock.monotonic()
        restore = self._restore_due or now_s >= self._next_restore_s
        self.device.display_packed(gddram, restore=restore)
        self._frame_restores = restore
        self._frame_t_s = now_s
        self._frame_left = self._queue.pending - self._ahead

    def _send(self, budget_s: float) -> tuple[int, bool]:
        """Pump the queue for ``budget_s``; returns (messages sent, an error was counted)."""
        before = self._queue.messages_sent
        try:
            self._queue.pump(budget_s)
        except OSError as exc:
            self._account_sent(self._queue.messages_sent - before)
            self._account_failure(exc)
            return self._queue.messages_sent - before, True
        sent = self._queue.messages_sent - before
        self._account_sent(sent)
        return sent, False

    @contextlib.contextmanager
    def frame(self) -> Iterator[ImageDraw.ImageDraw]:
        """Draw one frame; it is queued when the ``with`` block ends without an exception.

        The queued frame replaces one still queued (counted in :attr:`frames_dropped`); it
        goes out with :meth:`pump` or :meth:`flush`. An exception raised inside the block
        propagates, nothing is queued and a frame already queued stays.

        Yields:
            A ``PIL.ImageDraw.ImageDraw`` on a blank image of the device's size.

        Raises:
            ValueError: The display is closed.
        """
        self._check_open()
        image = Image.new(self.device.mode, self.device.size)
        yield ImageDraw.Draw(image)
        self._queue_frame(image)

    def pump(self, budget_s: float) -> int:
        """Send queued messages that fit in ``budget_s`` seconds of bus time.

        Meant for the acquisition loop, after each conversion, with the time left before
        the next one. An I²C error is counted in :attr:`failures`, the rest of that frame is
        dropped and the call returns (the failed transfer took an unknown share of the
        budget). A closed display has nothing queued: the call returns 0.

        Args:
            budget_s: Bus time available, seconds; nothing is sent if it is 0 or less.

        Returns:
            Number of messages sent.

        Raises:
            ValueError: ``budget_s`` is NaN.
        """
        if self._closed:
            return 0
        return self._send(budget_s)[0]

    def flush(self) -> int:
        """Send everything queued now, however long it takes (about 25 ms per frame at 400 kHz).

        I²C errors are counted as in :meth:`pump`; what remains after one is still sent.

        Returns:
            Number of messages sent.
        """
        total = 0
        while not self._closed and self._queue.pending:
            sent, _ = self._send(math.inf)
            total += sent
        return total

    def show(self, image: Image.Image) -> bool:
        """Send a ready-made image (the device's mode and size) at once.

        It replaces a queued frame, and sends everything queued with it (:meth:`flush`).

        Returns:
            True if the frame reached the display, False if an I²C error was counted instead.

        Raises:
            ValueError: The display is closed.
        """
        self._check_open()
        self._queue_frame(image)
        sent_before = self.frames_sent
        self.flush()
        return self.frames_sent > sent_before

    def close(self) -> None:
        """Drop what is queued, then blank and switch off the panel; harmless to call twice.

        An I²C error while doing so is counted, not raised: the bus may already be gone.
        """
        if self._closed:
            return
        self._closed = True
        self._queue.discard()
        self._ahead = self._frame_left = 0
        try:
            self.device.close()
        except OSError as exc:
            self._failed(exc)

    def __enter__(self) -> Display:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
