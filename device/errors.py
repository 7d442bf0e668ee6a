"""The device's error hierarchy: every hardware failure says where it happened."""

from __future__ import annotations


class DeviceError(Exception):
    """Base class of the device's own errors."""


class I2CError(DeviceError, OSError):
    """An I²C transfer failed after its retries; keeps the adapter's errno.

    Args:
        errno_: errno of the last failed attempt.
        address: 7-bit address of the chip.
        bus_name: e.g. "/dev/i2c-3".
        attempts: how many times the transfer was tried.
        what: what the transfer was for, e.g. "read conversion register".
    """

    def __init__(self, errno_: int | None, address: int, bus_name: str, attempts: int, what: str):
        message = (
            f"I2C {what} at address {address:#04x} on {bus_name} failed "
            f"after {attempts} attempt(s) (errno {errno_})"
        )
        super().__init__(errno_, message)
        self.address = address
        self.bus_name = bus_name
        self.attempts = attempts


class ReadyTimeoutError(DeviceError, TimeoutError):
    """A conversion did not become ready in time."""


class ConfigError(DeviceError, ValueError):
    """A configuration value is invalid; the message names it and the valid choices."""
