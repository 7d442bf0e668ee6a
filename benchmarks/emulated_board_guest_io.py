"""The I/O part of benchmarks/emulated_board.py: runs inside the emulated board.

Instructions per call of the device's I/O, measured by the host with
``emulated_board.measure`` at marks (``mark(id)``, as in emulated_board_guest.py). A script
of its own, so that the app's runs (emulated_board_guest.py) do not compile it.

    python3 emulated_board_guest_io.py io SOCKET CALLS
        device.simboard's transport (the I/O the emulated session uses instead of i2c-dev and
        the GPIO character device), CALLS calls each, against a simulator serving SOCKET
        (python -m hwsim.remote --serve-only). Marks 10..91.
    python3 emulated_board_guest_io.py boardio CALLS
        The board's own I/O path (device.i2c_dev, device.gpio_line) on stand-in descriptors,
        CALLS calls each: the I²C transport on /dev/zero (only the I2C_SLAVE ioctl is
        skipped), the ALERT/RDY wait and event read on a pipe filled with ABI-v1 event
        records, the LED write on a pipe with FIONREAD in place of the kernel's
        GPIOHANDLE_SET_LINE_VALUES (a real ioctl with the same 64-byte argument); and
        python-periphery's own poll + read_event on the same pipe, for comparison.
        Marks 110..191.
"""

import os
import sys

MARK_FD_BASE = -0x4E495200


def mark(mark_id):
    """Record instructions and memory here (board_mark.mark; EBADF anywhere else)."""
    try:  # noqa: SIM105 (contextlib would be one more import in the measured program)
        os.close(MARK_FD_BASE - mark_id)
    except OSError:
        pass


def io(socket_path, calls):
    """Instructions per call of device.simboard's bus and line operations (marks 10..71)."""
    from device.ads1114 import ADS1114, REG_CONVERSION, REG_LO_THRESH
    from device.i2c import RetryingBus
    from device.simboard import connect

    board = connect(socket_path)
    bus = board.bus
    ready = board.line("alert_rdy", "in")
    led = board.line("led750", "low")
    # As the app starts the ADC: continuous, ALERT/RDY pulsing once per conversion.
    adc = ADS1114(bus, clock=board.clock, ready_line=ready)
    adc.start_continuous()
    period = adc.period_s
    timeout = 20 * period
    address = adc.address
    threshold = [0, 0]
    r = range(calls)
    ready.poll(timeout)
    ready.read_event()

    mark(10)
    for _ in r:
        pass
    mark(11)
    for _ in r:
        ready.poll(timeout)
        ready.read_event()
    mark(21)
    for _ in r:
        bus.read_i2c_block_data(address, REG_CONVERSION, 2)
    mark(31)
    for _ in r:
        bus.write_i2c_block_data(address, REG_LO_THRESH, threshold)
    mark(41)
    level = False
    for _ in r:
        level = not level
        led.write(level)
    bus.read_i2c_block_data(address, REG_CONVERSION, 2)  # sends the posted writes
    mark(50)
    for _ in r:
        level = not level
    mark(51)
    for _ in r:  # one conversion as the acquisition loop does it, through the transport
        ready.poll(timeout)
        ready.read_event()
        bus.read_i2c_block_data(address, REG_CONVERSION, 2)
    mark(61)
    driver = ADS1114(RetryingBus(bus), clock=board.clock, ready_line=ready)
    for _ in r:  # the same through the device's driver and retrying bus
        driver.wait_ready(timeout)
        driver.read_volts()
    mark(71)
    for _ in r:  # the conversion read as the driver makes it: a plain read (pointer set)
        bus.read_bytes(address, 2)
    mark(81)
    for _ in r:  # one conversion through the transport, as the driver now does it
        ready.poll(timeout)
        ready.read_event()
        bus.read_bytes(address, 2)
    mark(91)
    adc.close()
    board.close()
    print(f"IO calls={calls} round_trips={board.round_trips} period_s={period}")


def boardio(calls):
    """Instructions per call of the board's I/O path on stand-in descriptors (marks 110..191)."""
    import fcntl
    import termios

    from periphery.gpio_cdev1 import Cdev1GPIO

    from device.ads1114 import ADS1114
    from device.clock import SystemClock
    from device.gpio_line import EVENT_RECORD, EventLine, OutputLine
    from device.i2c import RetryingBus
    from device.i2c_dev import I2CDev

    class StandInBus(I2CDev):
        """/dev/zero for /dev/i2c-N: reads give zeros, writes are taken; no I2C_SLAVE."""

        def _bind(self, fd, address):
            pass

    class PipeLine:
        """periphery's line object as EventLine and OutputLine use it, its fd a pipe."""

        edge = "falling"

        def __init__(self):
            self.fd, self.write_fd = os.pipe()
            size = max(65536, calls * EVENT_RECORD.size)  # room for CALLS records at once
            try:  # noqa: SIM105 (as mark(): one import fewer in the measured program)
                fcntl.fcntl(self.fd, fcntl.F_SETPIPE_SZ, size)
            except OSError:
                pass

        def fill(self):
            period_ns = 1_162_791  # 1/860 s
            records = b"".join(EVENT_RECORD.pack(10**9 + i * period_ns, 2) for i in range(calls))
            os.write(self.write_fd, records)

        def read(self):
            return True

        def close(self):
            os.close(self.fd)
            os.close(self.write_fd)

    period = 1 / 860
    timeout = 20 * period
    address = 0x48
    bus = StandInBus("/dev/zero")
    pipe = PipeLine()
    ready = EventLine(pipe)
    led_pipe = PipeLine()
    led = OutputLine(led_pipe, request=termios.FIONREAD)
    reference = object.__new__(Cdev1GPIO)  # periphery's own ABI-v1 line, on the same pipe
    reference._line_fd, reference._chip_fd, reference._line = pipe.fd, None, 0
    reference._direction, reference._edge = "in", "falling"
    driver = ADS1114(RetryingBus(bus, bus_name="/dev/zero"), clock=SystemClock(), ready_line=ready)
    driver.read_code()  # points at the conversion register, as the first read of a session
    data = [0, 0]
    r = range(calls)
    bus.read_bytes(address, 2)

    mark(110)
    for _ in r:
        pass
    mark(111)
    pipe.fill()
    mark(112)
    for _ in r:
        ready.poll(timeout)
        ready.read_event()
    mark(121)
    for _ in r:
        bus.read_bytes(address, 2)
    mark(131)
    level = False
    for _ in r:
        level = not level
        led.write(level)
    mark(140)
    for _ in r:
        level = not level
    mark(141)
    pipe.fill()
    mark(142)
    for _ in r:  # one conversion through the transport: wait, event, plain read
        ready.poll(timeout)
        ready.read_event()
        bus.read_bytes(address, 2)
    mark(151)
    pipe.fill()
    mark(152)
    for _ in r:  # the same through the device's driver and retrying bus
        driver.wait_ready(timeout)
        driver.read_volts()
    mark(161)
    pipe.fill()
    mark(162)
    for _ in r:  # python-periphery 2.4.3's own ABI-v1 wait and read, on the same pipe
        reference.poll(timeout)
        reference.read_event()
    mark(171)
    for _ in r:
        bus.write_i2c_block_data(address, 0x02, data)
    mark(181)
    for _ in r:
        bus.read_i2c_block_data(address, 0x00, 2)
    mark(191)
    reference._line_fd = None  # the pipe is closed below, not by periphery's __del__
    pipe.close()
    led_pipe.close()
    bus.close()
    print(f"BOARDIO calls={calls}")


def main(argv):
    if argv[:1] == ["io"] and len(argv) == 3:
        io(argv[1], int(argv[2]))
    elif argv[:1] == ["boardio"] and len(argv) == 2:
        boardio(int(argv[1]))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
