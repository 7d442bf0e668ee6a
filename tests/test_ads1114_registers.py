"""The simulated ADS1114 and its driver, held to the datasheet's register layout."""

from __future__ import annotations

import errno

import pytest

from device import ads1114 as drv
from device.errors import ConfigError, I2CError
from device.i2c import RetryingBus
from hwsim.ads1114 import SimADS1114
from hwsim.clock import VirtualClock
from hwsim.gpio import SimGPIO
from hwsim.i2c import SimI2CBus

ADDR = 0x48


class RecordingBus:
    """Passes through to a bus and keeps every block write as (addr, register, bytes)."""

    def __init__(self, bus):
        self.bus = bus
        self.writes: list[tuple[int, int, list[int]]] = []

    def write_i2c_block_data(self, addr, register, data):
        self.writes.append((addr, register, list(data)))
        self.bus.write_i2c_block_data(addr, register, data)

    def read_i2c_block_data(self, addr, register, length):
        return self.bus.read_i2c_block_data(addr, register, length)


def make(volts=1.0, **kwargs):
    clock = VirtualClock()
    bus = SimI2CBus(clock)
    chip = SimADS1114(clock, lambda t0, t1: volts, noise_v_rms=0.0, **kwargs)
    bus.attach(ADDR, chip)
    return clock, bus, chip


def read16(bus, register):
    msb, lsb = bus.read_i2c_block_data(ADDR, register, 2)
    return (msb << 8) | lsb


def test_power_on_registers():
    _, bus, _ = make()
    assert read16(bus, drv.REG_CONFIG) == 0x8583  # OS=1 idle, ±2.048 V, single-shot, 128 SPS
    assert read16(bus, drv.REG_LO_THRESH) == 0x8000
    assert read16(bus, drv.REG_HI_THRESH) == 0x7FFF
    assert read16(bus, drv.REG_CONVERSION) == 0x0000


def test_config_word_for_860sps_continuous_4v096():
    # PGA=001 (bits 11:9), MODE=0, DR=111 (bits 7:5), COMP_QUE=00 → 0x02E0; QUE=11 → 0x02E3
    assert (
        drv.config_word(full_scale_v=4.096, data_rate_sps=860, continuous=True, ready_pin=True)
        == 0x02E0
    )
    assert (
        drv.config_word(full_scale_v=4.096, data_rate_sps=860, continuous=True, ready_pin=False)
        == 0x02E3
    )
    single = drv.config_word(
        full_scale_v=2.048, data_rate_sps=128, continuous=False, ready_pin=False, start=True
    )
    assert single == 0x8583  # the power-on word, rebuilt from the tables


def test_driver_writes_exact_bytes_big_endian():
    clock, bus, chip = make()
    rec = RecordingBus(bus)
    line = SimGPIO(clock, 4, "in")
    line.attach_source(chip)
    drv.ADS1114(rec, clock=clock, ready_line=line).start_continuous()
    assert rec.writes == [
        (ADDR, drv.REG_HI_THRESH, [0x80, 0x00]),
        (ADDR, drv.REG_LO_THRESH, [0x00, 0x00]),
        (ADDR, drv.REG_CONFIG, [0x02, 0xE0]),
    ]
    assert chip.errors == []
    assert chip.full_scale_v == 4.096 and chip.data_rate_sps == 860 and chip.continuous


def test_conversion_register_before_and_after_first_conversion():
    clock, bus, _ = make(volts=1.0)
    adc = drv.ADS1114(bus, clock=clock)
    adc.start_continuous()
    assert adc.read_code() == 0  # the bus read took ~0.1 ms, less than 1/860 s
    clock.sleep(1 / 860)
    assert adc.read_code() == round(1.0 / 4.096 * 0x8000)  # 8000
    assert adc.read_volts() == pytest.approx(1.0, abs=125e-6)


def test_conversion_completes_one_period_after_start():
    clock, bus, _ = make(volts=0.5)
    bus.write_i2c_block_data(ADDR, drv.REG_CONFIG, [0x02, 0x03])  # ±4.096 V, continuous, 8 SPS
    t_written = clock.monotonic()
    clock.advance_to(t_written + 0.125 - 200e-6)  # just before the 125 ms conversion ends
    assert read16(bus, drv.REG_CONVERSION) == 0
    clock.advance_to(t_written + 0.125)
    assert read16(bus, drv.REG_CONVERSION) == 4000


@pytest.mark.parametrize(
    ("volts", "fsr", "expected"),
    [
        (5.0, 4.096, 0x7FFF),
        (-5.0, 4.096, 0x8000),
        (3.0, 2.048, 0x7FFF),
        (4.0959, 4.096, 0x7FFF),
        (-1.0, 4.096, 0x10000 - 8000),
    ],
)
def test_twos_complement_and_clipping_at_full_scale(volts, fsr, expected):
    clock, bus, chip = make(volts=volts)
    word = drv.config_word(full_scale_v=fsr, data_rate_sps=860, continuous=True, ready_pin=False)
    bus.write_i2c_block_data(ADDR, drv.REG_CONFIG, [word >> 8, word & 0xFF])
    clock.sleep(0.01)
    assert read16(bus, drv.REG_CONVERSION) == expected


def test_single_shot_os_bit_reads_busy_then_idle():
    clock, bus, _ = make(volts=2.0)
    bus.write_i2c_block_data(ADDR, drv.REG_CONFIG, [0x83, 0x83])  # OS=1, ±4.096 V, single, 128 SPS
    assert not read16(bus, drv.REG_CONFIG) & 0x8000  # converting
    clock.sleep(1 / 128)
    assert read16(bus, drv.REG_CONFIG) & 0x8000  # done, powered down
    assert read16(bus, drv.REG_CONVERSION) == 16000
    adc = drv.ADS1114(bus, clock=clock)
    assert adc.single_shot_volts() == pytest.approx(2.0, abs=125e-6)


def test_missing_chip_fails_like_a_linux_adapter():
    clock = VirtualClock()
    bus = SimI2CBus(clock)
    with pytest.raises(OSError) as info:
        bus.read_i2c_block_data(0x49, 0, 2)
    assert info.value.errno == errno.ENXIO
    retrying = RetryingBus(bus, retries=2, bus_name="/dev/i2c-3")
    with pytest.raises(I2CError, match=r"0x49 on /dev/i2c-3 failed after 3 attempt") as info:
        drv.ADS1114(retrying, 0x49, clock=clock).read_code()
    assert info.value.errno == errno.ENXIO
    assert retrying.failures[0x49] == 3 and retrying.gave_up[0x49] == 1


def test_ready_pin_pulses_once_per_conversion():
    clock, bus, chip = make()
    line = SimGPIO(clock, 4, "in")
    line.attach_source(chip)
    adc = drv.ADS1114(bus, clock=clock, ready_line=line)
    adc.start_continuous()
    times = [adc.wait_ready(0.01) for _ in range(50)]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert gaps == pytest.approx([1 / 860] * 49, abs=1e-9)
    # Active low, ~8 µs wide: low just after an edge, high again 10 µs later.
    assert line.level_at(times[-1] + 2e-6) is False
    assert line.level_at(times[-1] + 10e-6) is True


def test_ready_pin_disabled_by_comp_que_11():
    clock, bus, chip = make()
    bus.write_i2c_block_data(ADDR, drv.REG_HI_THRESH, [0x80, 0x00])
    bus.write_i2c_block_data(ADDR, drv.REG_LO_THRESH, [0x00, 0x00])
    bus.write_i2c_block_data(ADDR, drv.REG_CONFIG, [0x02, 0xE3])
    assert chip.next_edge(clock.monotonic()) is None
    assert chip.level_at(clock.monotonic() + 0.1) is True  # high impedance, pulled up


def test_traditional_comparator_asserts_after_queue_and_latches():
    clock, bus, chip = make(volts=1.0)  # code 8000
    bus.write_i2c_block_data(ADDR, drv.REG_HI_THRESH, [0x1F, 0x40])  # 8000 - 0? use 0x1F40 = 8000
    bus.write_i2c_block_data(ADDR, drv.REG_HI_THRESH, [0x1F, 0x3F])  # 7999: input is above
    bus.write_i2c_block_data(ADDR, drv.REG_LO_THRESH, [0x0F, 0xA0])  # 4000
    # continuous, ±4.096 V, 860 SPS, latching (bit 2), assert after two conversions (QUE=01)
    bus.write_i2c_block_data(ADDR, drv.REG_CONFIG, [0x02, 0xE5])
    t0 = clock.monotonic()
    assert chip.level_at(t0 + 1.5 / 860) is True  # one conversion beyond: not yet
    assert chip.level_at(t0 + 2.5 / 860) is False  # two: asserted (active low)
    chip.analog_input = lambda a, b: 0.0  # back below Lo_thresh: latched, stays asserted
    clock.sleep(0.05)
    assert chip.level_at(clock.monotonic()) is False
    read16(bus, drv.REG_CONVERSION)  # reading the conversion clears a latched alert
    assert chip.level_at(clock.monotonic()) is True


def test_noise_is_input_referred_gaussian():
    clock = VirtualClock()
    chip = SimADS1114(clock, lambda t0, t1: 1.0, noise_v_rms=250e-6, seed=1)
    bus = SimI2CBus(clock)
    bus.attach(ADDR, chip)
    adc = drv.ADS1114(bus, clock=clock)
    adc.start_continuous()
    values = []
    for _ in range(2000):
        values.append(adc.wait_ready(0.01) and adc.read_volts())
    mean = sum(values) / len(values)
    std = (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5
    assert mean == pytest.approx(1.0, abs=20e-6)
    assert std == pytest.approx(250e-6, rel=0.1)


def test_data_rate_error_changes_the_period():
    clock, bus, chip = make(rate_error=0.05)
    line = SimGPIO(clock, 4, "in")
    line.attach_source(chip)
    adc = drv.ADS1114(bus, clock=clock, ready_line=line)
    adc.start_continuous()
    a, b = adc.wait_ready(0.01), adc.wait_ready(0.01)
    assert b - a == pytest.approx(1.05 / 860)


def test_bad_settings_name_the_choices():
    with pytest.raises(ConfigError, match=r"data_rate_sps must be one of .*860"):
        drv.config_word(full_scale_v=4.096, data_rate_sps=1000, continuous=True, ready_pin=False)
    with pytest.raises(ConfigError, match=r"full_scale_v must be one of"):
        drv.ADS1114(SimI2CBus(), clock=VirtualClock(), full_scale_v=5.0)


def test_protocol_misuse_is_recorded_not_crashing():
    _, bus, chip = make()
    bus.write_i2c_block_data(ADDR, drv.REG_CONFIG, [0x02])  # half a register
    bus.write_i2c_block_data(ADDR, drv.REG_CONVERSION, [0x12, 0x34])  # read-only
    assert len(chip.errors) == 2
    assert read16(bus, drv.REG_CONFIG) == 0x8583


# -- the address pointer (datasheet "Address Pointer Register", "Reading From the ADS111x") --


class CountingBus(RecordingBus):
    """RecordingBus that also counts register reads (pointer written) and plain reads."""

    def __init__(self, bus):
        super().__init__(bus)
        self.block_reads: list[int] = []
        self.plain_reads = 0

    def read_i2c_block_data(self, addr, register, length):
        self.block_reads.append(register)
        return super().read_i2c_block_data(addr, register, length)

    def read_bytes(self, addr, length):
        self.plain_reads += 1
        return self.bus.read_bytes(addr, length)


def test_a_plain_read_returns_the_register_last_pointed_to():
    clock, bus, chip = make(volts=1.0)
    assert chip.pointer == drv.REG_CONVERSION  # power-on: 00
    assert bus.read_bytes(ADDR, 2) == b"\x00\x00"  # the conversion register, still 0
    bus.write_i2c_block_data(ADDR, drv.REG_LO_THRESH, [0x12, 0x34])
    assert chip.pointer == drv.REG_LO_THRESH
    assert bus.read_bytes(ADDR, 2) == b"\x12\x34"  # every write moves the pointer
    assert bus.read_bytes(ADDR, 2) == b"\x12\x34"  # and a read leaves it there
    assert bus.read_i2c_block_data(ADDR, drv.REG_HI_THRESH, 2) == [0x7F, 0xFF]
    assert bus.read_bytes(ADDR, 2) == b"\x7f\xff"  # a pointer write alone moves it too
    bus.write_i2c_block_data(ADDR, drv.REG_CONFIG, [0x02, 0xE3])  # continuous, 860 SPS
    clock.sleep(0.01)
    assert bus.read_bytes(ADDR, 2) == b"\x02\xe3"  # the config, not the conversion
    bus.write_i2c_block_data(ADDR, drv.REG_CONVERSION, [])  # the pointer byte alone
    assert bus.read_bytes(ADDR, 2) == (8000).to_bytes(2, "big")
    chip.general_call_reset()
    assert chip.pointer == drv.REG_CONVERSION


def test_the_driver_points_once_then_reads_conversions_plainly():
    clock, bus, chip = make(volts=1.0)
    rec = CountingBus(bus)
    adc = drv.ADS1114(rec, clock=clock)
    adc.start_continuous()
    assert adc.pointer == drv.REG_CONFIG == chip.pointer  # the last write was the config
    clock.sleep(1 / 860)
    codes = [adc.read_code()]
    for _ in range(20):
        clock.sleep(1 / 860)
        codes.append(adc.read_code())
    assert codes == [8000] * 21
    assert rec.block_reads == [drv.REG_CONVERSION] and rec.plain_reads == 20
    adc.write_register(drv.REG_LO_THRESH, 0x0000)  # any write moves the pointer: re-point
    assert adc.read_code() == 8000
    assert rec.block_reads == [drv.REG_CONVERSION] * 2
    assert adc.read_register(drv.REG_CONFIG) == 0x02E3
    assert adc.read_register(drv.REG_CONFIG) == 0x02E3
    assert rec.block_reads[-1] == drv.REG_CONFIG and rec.plain_reads == 21


def test_a_driver_that_forgets_to_repoint_is_caught_by_the_simulator():
    clock, bus, chip = make(volts=1.0)
    adc = drv.ADS1114(bus, clock=clock)
    adc.start_continuous()
    clock.sleep(2 / 860)
    assert adc.read_code() == 8000
    # A driver bug: Lo_thresh written behind the tracking's back (as a driver that forgot
    # that writes move the pointer). The chip answers with Lo_thresh, not the conversion.
    bus.write_i2c_block_data(ADDR, drv.REG_LO_THRESH, [0x00, 0x2A])
    assert adc.read_code() == 0x2A
    # Told the truth, the driver re-points and reads the conversion again.
    adc.pointer = None
    assert adc.read_code() == 8000 and chip.pointer == drv.REG_CONVERSION


def test_after_a_failed_transfer_the_pointer_is_written_again():
    clock, bus, chip = make(volts=1.0)
    rec = CountingBus(bus)
    retrying = RetryingBus(rec, retries=0)
    adc = drv.ADS1114(retrying, clock=clock)
    adc.start_continuous()
    clock.sleep(2 / 860)
    assert adc.read_code() == 8000 and adc.pointer == drv.REG_CONVERSION
    bus.set_responding(ADDR, False)
    with pytest.raises(I2CError):
        adc.write_register(drv.REG_LO_THRESH, 0)
    assert adc.pointer is None
    with pytest.raises(I2CError):
        adc.read_code()  # a failed plain read cannot move the pointer; the block read failed
    assert adc.pointer is None
    bus.set_responding(ADDR, True)
    assert adc.read_code() == 8000 and adc.pointer == drv.REG_CONVERSION
    assert rec.block_reads == [drv.REG_CONVERSION] * 3


def test_read_volts_is_code_to_volts_exactly():
    for fsr in drv.PGA:
        clock, bus, chip = make()
        adc = drv.ADS1114(bus, clock=clock, full_scale_v=fsr)
        adc.pointer = drv.REG_CONVERSION
        for code in (-0x8000, -12345, -1, 0, 1, 8000, 0x7FFF):
            chip._conversion = code & 0xFFFF
            assert adc.read_volts() == drv.code_to_volts(code, fsr)  # bit for bit
