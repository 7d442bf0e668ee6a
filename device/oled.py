"""The wearable's 128 x 64 SSD1306 OLED, driven by luma.oled over an already-open I²C bus.

:func:`open_oled` initialises the panel and says clearly when nothing answers, so the app can
run headless. :class:`Display` draws frames with a ``luma.core.render.canvas`` and turns an
I²C error during a frame into a counted failure: a glitch on the bus must never stop the
measurement.

Imports only luma, Pillow and the standard library (the board has 64 MB of RAM).
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from typing import Any

import luma.core.error
from luma.core.interface.serial import i2c
from luma.core.render import canvas
from luma.oled.device import ssd1306
from PIL import Image, ImageDraw

from device.errors import DeviceError

#: Default 7-bit address of SSD1306 modules (SA0 low); 0x3D with SA0 high.
DEFAULT_ADDRESS = 0x3C

#: Panel sizes the luma ``ssd1306`` driver knows, (width, height) in pixels.
SUPPORTED_SIZES = ((128, 64), (128, 32), (96, 16), (64, 48), (64, 32))

#: ``rotate`` values: quarter turns clockwise.
ROTATIONS = (0, 1, 2, 3)

#: What a failed transfer looks like through luma: the adapter's OSError, or luma's own error
#: when the adapter reports EIO / EREMOTEIO.
TRANSFER_ERRORS = (OSError, luma.core.error.DeviceNotFoundError)


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


class _Ssd1306(ssd1306):
    """luma's ``ssd1306`` whose ``cleanup()`` runs at most once.

    luma registers an ``atexit`` hook per device that calls ``cleanup()``: after an explicit
    close, or after an initialisation that failed, that hook must not touch the bus again.
    """

    def __init__(self, serial_interface: i2c, **kwargs: Any) -> None:
        self._cleaned_up = True  # until the init sequence went through
        super().__init__(serial_interface, **kwargs)
        self._cleaned_up = False

    def cleanup(self) -> None:
        """Blank the panel and switch it off (unless ``persist``), once; later calls do nothing."""
        if self._cleaned_up:
            return
        self._cleaned_up = True
        super().cleanup()


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
) -> ssd1306:
    """Initialise the SSD1306 at ``address`` on ``bus`` and return the luma device.

    The bus stays the caller's: luma's ``i2c`` interface closes only buses it opened itself.
    Closing the device (``device.cleanup()``, or :meth:`Display.close`) blanks the panel and
    is harmless to repeat; luma's exit hook does nothing after it.

    Args:
        bus: An opened ``smbus2.SMBus``-like object (``smbus2.SMBus``,
            :class:`device.i2c.RetryingBus`, ``hwsim.i2c.SimI2CBus``).
        address: 7-bit I²C address.
        width: Panel width, pixels.
        height: Panel height, pixels.
        rotate: Quarter turns clockwise applied to every frame: 0, 1, 2 or 3.

    Returns:
        A ``luma.oled.device.ssd1306``, switched on and cleared.

    Raises:
        OledNotFoundError: The chip did not answer during initialisation.
        ValueError: Unsupported size or rotation.
    """
    if (width, height) not in SUPPORTED_SIZES:
        sizes = ", ".join(f"{w}x{h}" for w, h in SUPPORTED_SIZES)
        raise ValueError(f"unsupported SSD1306 size {width}x{height}; expected one of {sizes}")
    if rotate not in ROTATIONS:
        raise ValueError(f"rotate must be one of {ROTATIONS}, got {rotate!r}")
    serial = i2c(bus=bus, address=address)
    try:
        return _Ssd1306(serial, width=width, height=height, rotate=rotate)
    except OSError as exc:
        raise OledNotFoundError(exc.errno, address, _bus_name(bus)) from exc
    except luma.core.error.DeviceNotFoundError as exc:
        # luma raises it while handling the adapter's EIO / EREMOTEIO: take the errno from there
        code = getattr(exc.__context__, "errno", errno.EIO)
        raise OledNotFoundError(code, address, _bus_name(bus)) from exc


class Display:
    """Frames on an OLED, where an I²C error costs one frame and never the program.

    Args:
        device: A luma device, usually from :func:`open_oled`.

    Attributes:
        failures: Frames (and closes) that failed with an I²C error.
        consecutive_failures: Failures since the last frame that went through.
        frames_sent: Frames that reached the display.
        last_error: The most recent I²C error, or ``None``.

    Example::

        display = Display(open_oled(bus))
        with display.frame() as draw:
            draw.text((0, 0), "750 nm 1.234 V", fill="white")
        display.close()
    """

    def __init__(self, device: Any) -> None:
        self.device = device
        self.failures = 0
        self.consecutive_failures = 0
        self.frames_sent = 0
        self.last_error: BaseException | None = None
        self._closed = False

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError("I/O operation on closed Display")

    def _sent(self) -> None:
        self.frames_sent += 1
        self.consecutive_failures = 0

    def _failed(self, exc: BaseException) -> None:
        self.failures += 1
        self.consecutive_failures += 1
        self.last_error = exc

    @contextlib.contextmanager
    def frame(self) -> Iterator[ImageDraw.ImageDraw]:
        """Draw one frame; it is sent when the ``with`` block ends without an exception.

        An exception raised inside the block propagates and nothing is sent. An I²C error
        while sending is counted in :attr:`failures` and swallowed.

        Yields:
            A ``PIL.ImageDraw.ImageDraw`` on a blank image of the device's size.

        Raises:
            ValueError: The display is closed.
        """
        self._check_open()
        sending = False
        try:
            with canvas(self.device) as draw:
                yield draw
                sending = True  # the block finished: leaving the canvas sends the frame
        except TRANSFER_ERRORS as exc:
            if not sending:
                raise
            self._failed(exc)
        else:
            self._sent()

    def show(self, image: Image.Image) -> bool:
        """Send a ready-made image (the device's mode and size).

        Returns:
            True if the frame reached the display, False if an I²C error was counted instead.

        Raises:
            ValueError: The display is closed.
        """
        self._check_open()
        try:
            self.device.display(image)
        except TRANSFER_ERRORS as exc:
            self._failed(exc)
            return False
        self._sent()
        return True

    def close(self) -> None:
        """Blank and switch off the panel; harmless to call twice.

        An I²C error while doing so is counted, not raised: the bus may already be gone.
        """
        if self._closed:
            return
        self._closed = True
        try:
            self.device.cleanup()
        except TRANSFER_ERRORS as exc:
            self._failed(exc)

    def __enter__(self) -> Display:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
