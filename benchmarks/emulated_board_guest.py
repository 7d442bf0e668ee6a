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
        Runs ``device.__main__.main(DEVICE OPTIONS)`` as ``python3 -m device`` would, and marks
        each once-a-second console line (mark 1000 + n for the n-th line): memory and
        instructions second by second at the cost of one failed close() per second. Each
        pass of the acquisition loop (``Multiplexer.step``: one ADC conversion and the work
        done before the next) starts with a gap mark, ``os.sched_yield()``
        (measure(gap_marks=True)): the longest piece of work between two conversions, at a
        few hundred instructions a conversion.
    python3 emulated_board_guest.py parts FROM PASSES -- DEVICE OPTIONS
        As ``app``, and from pass FROM of the acquisition loop on, for PASSES passes, marks
        the entry (4000 + 2k) and exit (4001 + 2k) of each call of the k-th function of
        PARTS: the host adds up each part's own instructions (less those of the parts it
        calls and of the marks). Ends with one line ``PARTS [labels]``.
    python3 emulated_board_guest.py oled
        Instructions of OLED frames as the app builds them (device.oled.Display, the screens
        of device.screens) on a bus that takes every write and does nothing (the bus's own
        cost is io's): marks 100..111, listed in ``oled()``.

The I/O's cost per call (``io``, ``boardio``) is measured by emulated_board_guest_io.py, a
script of its own: the size of the main script shows in the app's memory (CPython compiles
it at start-up; 130 lines more cost the session's anonymous peak 0.2 MB).

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
    ("smbus2, periphery (vendored)", ("smbus2", "periphery")),
    ("PIL Image, ImageDraw, ImageFont", ("PIL.Image", "PIL.ImageDraw", "PIL.ImageFont")),
    ("device.ssd1306, device.oled", ("device.ssd1306", "device.oled")),
    ("device.chain, mbll, extinction", ("device.chain", "device.mbll", "device.extinction")),
    ("device.features", ("device.features",)),
    (
        "device.inference, npu, rknn_api, ctypes",
        ("device.inference", "device.npu", "device.rknn_api", "ctypes"),
    ),
    ("device.recorder", ("device.recorder",)),
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
    """``python3 -m device ARGV`` with each console line marked."""
    mark(APP_START_MARK)
    import device.__main__ as entry

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


#: The parts of the device's work, as (label, module, class, function); a call of one may
#: contain calls of others (Multiplexer.step calls the idle hook that sends the OLED's bytes).
PARTS = (
    ("acquisition: Multiplexer.step (ADC wait and read, LEDs)", "device.acquisition",
     "Multiplexer", "step"),
    ("OLED: sending queued bytes in the idle gaps", "device.app", "Wearable", "_idle"),
    ("OLED: drawing and packing a screen", "device.app", "Wearable", "_draw"),
    ("chain: 10 Hz blocks, ΔOD, MBLL, flags", "device.chain", "MeasurementChain", "push"),
    ("sample: window row, SmO2", "device.app", "Wearable", "_on_sample"),
    ("records: recorder and link", "device.app", "Wearable", "_emit"),
    ("window: 100 x 8 sequence and 40 statistics", "device.features", "LiveWindow", "window"),
    ("model: quantise, NPU, dequantise", "device.inference", "FatigueModel", "predict"),
    ("buzzer: Buzzer.update", "device.buzzer", "Buzzer", "update"),
)  # fmt: skip
PART_MARK = 4000


def parts(first, passes, argv):
    """``app`` with the entry and exit of each part's calls marked in a window of passes."""
    import importlib

    for _ in range(200):  # empty regions: the host takes the marks' own cost from these
        mark(PART_MARK - 2)
        mark(PART_MARK - 1)
    count = [0]
    last = first + passes

    def wrap(index, function):
        enter, leave = PART_MARK + 2 * index, PART_MARK + 2 * index + 1

        def wrapper(*args, **kwargs):
            if first <= count[0] < last:
                mark(enter)
                result = function(*args, **kwargs)
                mark(leave)
                return result
            return function(*args, **kwargs)

        return wrapper

    for index, (_, module, cls, name) in enumerate(PARTS):
        owner = getattr(importlib.import_module(module), cls)
        function = getattr(owner, name)
        if index == 0:
            inner = function

            def function(self, _inner=inner):  # counts passes, then the step itself
                count[0] += 1
                return _inner(self)

        setattr(owner, name, wrap(index, function))
    code = app(argv)
    print("PARTS " + repr([label for label, *_ in PARTS]))
    return code


#: Mark ids of ``oled()``: each one ends the step named (the instructions since the mark
#: before it are that step's).
OLED_MARKS = {
    100: "start",
    101: "import device.screens, device.oled",
    102: "open_oled: start-up sequence and a blank frame sent",
    103: "first live frame: font, big word, drawing, packing, queueing",
    104: "a steady live frame: drawing, packing, queueing",
    105: "  its drawing alone (screens.live on a new image)",
    106: "  its packing alone (SSD1306.pack)",
    107: "sending the queued frame (33 messages, a bus that does nothing)",
    108: "first calibrating frame",
    109: "first check-sensor frame",
    110: "first error frame",
    111: "a steady calibrating frame",
}


def oled():
    """Instructions of OLED frames, drawn and packed as the app does (marks 100..111)."""
    mark(100)
    from device import screens
    from device.oled import Display, open_oled

    mark(101)

    class NullBus:
        """An smbus2.SMBus-like bus that takes every write and does nothing."""

        def write_i2c_block_data(self, address, register, data):
            pass

    display = Display(open_oled(NullBus()))
    mark(102)
    live = {
        "level_name": "moderate",
        "level": 2,
        "smo2_pct": 63.4,
        "hbo2_trend": [0.1 * i for i in range(30)],  # 30 s of trend, as the app keeps
        "hhb_trend": [-0.05 * i for i in range(30)],
        "recording": True,
    }
    for mark_id in (103, 104):
        with display.frame() as draw:
            screens.live(draw, **live)
        mark(mark_id)
    from PIL import Image, ImageDraw

    image = Image.new("1", display.device.size)
    screens.live(ImageDraw.Draw(image), **live)
    mark(105)
    display.device.pack(image)
    mark(106)
    display.flush()
    mark(107)
    others = (
        (screens.calibrating, {"progress": 0.4, "seconds_left": 12.0}),
        (screens.check_sensor, {"reasons": ["saturated", "motion"]}),
        (screens.error, {"message": "self-test: no light above dark from the 810 nm LED"}),
        (screens.calibrating, {"progress": 0.45, "seconds_left": 11.0}),
    )
    for mark_id, (painter, kwargs) in enumerate(others, start=108):
        with display.frame() as draw:
            painter(draw, **kwargs)
        mark(mark_id)
    display.close()
    print(f"OLED frames_dropped={display.frames_dropped} frames_sent={display.frames_sent}")


def main(argv):
    if argv[:1] == ["imports"]:
        imports()
    elif argv[:1] == ["app"]:
        rest = argv[1:]
        return app(rest[1:] if rest[:1] == ["--"] else rest)
    elif argv[:1] == ["parts"] and len(argv) >= 3:
        rest = argv[3:]
        return parts(int(argv[1]), int(argv[2]), rest[1:] if rest[:1] == ["--"] else rest)
    elif argv == ["oled"]:
        oled()
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
