"""The guest side of benchmarks/emulated_board.py: runs inside the emulated board.

Runs under the board's own python3 (Debian armhf, CPython 3.11, no numpy) with the
deployed bundle on PYTHONPATH (vendor first), measured by the host with
``emulated_board.measure``. It marks points of its run with ``mark(id)`` (the three lines of
tests/emulated_board/guest/board_mark.py, copied so that measuring imports nothing): the
host's insn_count plugin records the ARM instructions so far and the guest's memory there.

    python3 emulated_board_guest.py imports
        Imports the device's modules step by step in the order the app does, marking after
        each step (mark i); then prints one JSON line: the steps and the modules each added.
    python3 emulated_board_guest.py app -- DEVICE OPTIONS
        Runs ``device.__main__.main(DEVICE OPTIONS)`` as ``python3 -m device`` would (with the
        board's transport modules imported as well, as a board holds them), and marks
        each once-a-second console line (mark 1000 + n for the n-th line): memory and
        instructions second by second at the cost of one failed close() per second. Each
        pass of the acquisition loop (``Multiplexer.step``: one ADC conversion and the work
        done before the next) starts with a gap mark, ``os.sched_yield()``
        (measure(gap_marks=True)): the longest piece of work between two conversions, at a
        few thousand instructions a conversion (about 2.5 k with the wrapper).

The other modes are scripts of their own, as the size of this one shows in the app's
memory (CPython compiles it at start-up; 130 lines more cost the session's anonymous peak
0.2 MB): emulated_board_guest_io.py (the I/O's cost per call: ``io``, ``boardio``) and
emulated_board_guest_parts.py (the app part by part: ``parts``; OLED frames: ``oled``).

Only ``os`` and ``sys`` (loaded by CPython at start-up anyway) are imported before the first
mark.
"""

import os
import sys

MARK_FD_BASE = -0x4E495200
#: Mark ids: the app's console lines are 1000 + n (n from 1).
APP_LINE_MARK = 1000
APP_START_MARK = 999


def mark(mark_id):
    """Record instructions and memory here (board_mark.mark; EBADF anywhere else)."""
    try:  # noqa: SIM105 (contextlib would be one more import in the measured program)
        os.close(MARK_FD_BASE - mark_id)
    except OSError:
        pass


#: The import steps, in the order the app imports them (device/__main__.py, device/app.py):
#: (label, modules). Step 0 is CPython alone.
IMPORT_STEPS = (
    ("device.config", ("device.config",)),
    ("device.clock", ("device.clock",)),
    (
        "device.i2c, ads1114, leds, buzzer",
        ("device.i2c", "device.ads1114", "device.leds", "device.buzzer"),
    ),
    (
        "device.i2c_dev, device.gpio_line (the board's transport)",
        ("device.i2c_dev", "device.gpio_line"),
    ),
    ("PIL Image, ImageDraw, ImageFont", ("PIL.Image", "PIL.ImageDraw", "PIL.ImageFont")),
    ("device.ssd1306, device.oled", ("device.ssd1306", "device.oled")),
    ("device.chain, mbll, extinction", ("device.chain", "device.mbll", "device.extinction")),
    ("device.features", ("device.features",)),
    (
        "device.inference, npu, rknn_api, ctypes",
        ("device.inference", "device.npu", "device.rknn_api", "ctypes"),
    ),
    ("device.recorder, session_format", ("device.recorder", "device.session_format")),
    ("device.link, serial (pyserial)", ("device.link", "serial")),
    ("device.app", ("device.app",)),
    ("hashlib", ("hashlib",)),
    ("device.simboard (emulated runs only)", ("device.simboard",)),
)


def imports():
    """Import step by step, marking after each; print the steps and their new modules."""
    counts = [len(sys.modules)]
    mark(0)
    for i, (_, modules) in enumerate(IMPORT_STEPS, start=1):
        for name in modules:
            __import__(name)
        counts.append(len(sys.modules))
        mark(i)
    # sys.modules keeps insertion order: the modules each step added, in order. Built after
    # the last mark, so it costs the measured steps nothing.
    names = list(sys.modules)
    steps = [{"label": "CPython alone", "new": names[: counts[0]]}]
    for i, (label, _) in enumerate(IMPORT_STEPS, start=1):
        steps.append({"label": label, "new": names[counts[i - 1] : counts[i]]})
    import json

    print("IMPORTS " + json.dumps(steps))


def app(argv):
    """``python3 -m device ARGV`` with each console line marked.

    The board's own transport modules are imported too, although the session's I/O goes
    through device.simboard: on a board the app holds them, so its memory counts them.
    """
    mark(APP_START_MARK)
    import device.__main__ as entry
    import device.gpio_line
    import device.i2c_dev  # noqa: F401 (held, as on a board; see the docstring)

    line = entry.console_line
    count = [0]

    def console_line(report):
        count[0] += 1
        mark(APP_LINE_MARK + count[0])
        return line(report)

    entry.console_line = console_line

    from device.acquisition import Multiplexer

    step = Multiplexer.step

    def marked_step(self):
        os.sched_yield()  # a gap mark (insn_count.c)
        return step(self)

    Multiplexer.step = marked_step
    return entry.main(argv)


def main(argv):
    if argv[:1] == ["imports"]:
        imports()
    elif argv[:1] == ["app"]:
        rest = argv[1:]
        return app(rest[1:] if rest[:1] == ["--"] else rest)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
