"""The simulated I²C adapter: smbus2 semantics, timing and fault injection."""

from __future__ import annotations

import errno

import pytest
from smbus2 import i2c_msg

from device.i2c import RetryingBus
from hwsim.clock import VirtualClock
from hwsim.i2c import SimI2CBus


class Echo:
    """A chip that remembers writes and reads back a fixed pattern."""

    def __init__(self):
        self.writes: list[bytes] = []

    def i2c_write(self, data: bytes) -> None:
        self.writes.append(data)

    def i2c_read(self, length: int) -> bytes:
        return bytes(range(length))


def test_block_transfers_reach_the_chip_as_messages_and_take_bus_time():
    clock = VirtualClock()
    bus = SimI2CBus(clock)
    chip = Echo()
    bus.attach(0x20, chip)
    bus.write_i2c_block_data(0x20, 0x01, [0xAA, 0xBB])
    assert chip.writes == [b"\x01\xaa\xbb"]
    assert clock.monotonic() == pytest.approx((2 + 9 * 4) / 400e3)  # addr + reg + 2 data
    assert bus.read_i2c_block_data(0x20, 0x05, 3) == [0, 1, 2]
    assert chip.writes[-1] == b"\x05"
    with pytest.raises(ValueError, match="cannot exceed 32"):
        bus.write_i2c_block_data(0x20, 0, [0] * 33)


def test_i2c_rdwr_with_smbus2_messages():
    bus = SimI2CBus()
    chip = Echo()
    bus.attach(0x20, chip)
    write, read = i2c_msg.write(0x20, [0x03]), i2c_msg.read(0x20, 4)
    bus.i2c_rdwr(write, read)
    assert chip.writes == [b"\x03"] and list(read) == [0, 1, 2, 3]


def test_nack_errno_and_silent_chip():
    bus = SimI2CBus()
    bus.attach(0x20, Echo())
    bus.set_responding(0x20, False)
    with pytest.raises(OSError) as info:
        bus.read_i2c_block_data(0x20, 0, 1)
    assert info.value.errno == errno.ENXIO
    bus.set_responding(0x20, True)
    assert bus.read_i2c_block_data(0x20, 0, 1) == [0]
    with pytest.raises(ValueError, match="already taken"):
        bus.attach(0x20, Echo())


def test_injected_fault_rate_and_every_failure_counted():
    bus = SimI2CBus(fault_rate=0.1, seed=1)
    bus.attach(0x20, Echo())
    retrying = RetryingBus(bus, retries=5)
    for _ in range(5000):
        retrying.read_i2c_block_data(0x20, 0, 2)
    assert bus.faults_injected == pytest.approx(0.1 * bus.transfers, rel=0.1)
    assert retrying.failures[0x20] == bus.faults_injected
    with pytest.raises(ValueError, match=r"fault_rate must be within \[0, 1\]"):
        bus.fault_rate = 1.5


def test_closed_bus_refuses_transfers():
    bus = SimI2CBus()
    bus.close()
    bus.close()
    with pytest.raises(ValueError, match="closed"):
        bus.read_i2c_block_data(0x20, 0, 1)


def test_a_plain_read_is_one_read_message_and_takes_its_bus_time():
    clock = VirtualClock()
    bus = SimI2CBus(clock)
    chip = Echo()
    bus.attach(0x20, chip)
    assert bus.read_bytes(0x20, 2) == b"\x00\x01"
    assert chip.writes == []  # no register byte
    assert clock.monotonic() == pytest.approx((2 + 9 * 3) / 400e3)  # addr + 2 data
    bus.set_responding(0x20, False)
    with pytest.raises(OSError) as info:
        bus.read_bytes(0x20, 2)
    assert info.value.errno == errno.ENXIO
    retrying = RetryingBus(bus, retries=1)
    with pytest.raises(OSError, match="plain read of 2 bytes at address 0x20"):
        retrying.read_bytes(0x20, 2)
    assert retrying.failures[0x20] == 2 and retrying.gave_up[0x20] == 1
