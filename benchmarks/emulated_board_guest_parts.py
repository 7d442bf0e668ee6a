"""More guest modes of benchmarks/emulated_board.py: the app part by part, and OLED frames.

Runs inside the emulated board like emulated_board_guest.py (whose ``mark`` and ``app`` it
uses; a script of its own so that the app's session measures a small main script).

    python3 emulated_board_guest_parts.py parts FROM PASSES -- DEVICE OPTIONS
        As ``app``, and from pass FROM of the acquisition loop on, for PASSES passes, marks
        the entry (4000 + 2k) and exit (4001 + 2k) of each call of the k-th function of
        PARTS: the host adds up each part's own instructions (less those of the parts it
        calls and of the marks). Ends with one line ``PARTS [labels]``.
    python3 emulated_board_guest_parts.py oled
        Instructions of OLED frames as the app builds them (device.oled.Display, the screens
        of device.screens) on a bus that takes every write and does nothing (the bus's own
        cost is io's): marks 100..111, listed in OLED_MARKS.
"""

import sys

from emulated_board_guest import app, mark

#: The parts of the device's work, as (label, module, class or None for a module's own
#: function, function); a call of one may contain calls of others (Multiplexer.step calls
#: the idle hook that sends the OLED's bytes). Functions, not generators: a generator's
#: work happens after its call returns (the model's steps are marked by what they call).
PARTS = (
    ("acquisition: Multiplexer.step (ADC wait and read, LEDs)", "device.acquisition",
     "Multiplexer", "step"),
    ("OLED: sending queued bytes in the idle gaps", "device.app", "Wearable", "_idle"),
    ("OLED: drawing and packing a screen", "device.app", "Wearable", "_draw"),
    ("chain: 10 Hz blocks, ΔOD, MBLL, flags", "device.chain", "MeasurementChain", "push"),
    ("sample: window row, SmO2", "device.app", "Wearable", "_on_sample"),
    ("records: recorder and link", "device.app", "Wearable", "_emit"),
    ("window: 60 statistics, channel by channel", "device.features", None, "_column_statistics"),
    ("model: window checked", "device.inference", None, "_check_window"),
    ("model: normalised", "device.features", "Normaliser", "apply"),
    ("model: inputs checked and quantised", "device.quant", None, "encode"),
    ("model: NPU run (a stand-in runtime here)", "device.npu", "RknnModel", "_call"),
    ("model: output dequantised", "device.quant", None, "decode"),
    ("second: the calibrated event", "device.app", "Wearable", "_event"),
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
        owner = importlib.import_module(module)
        owner = owner if cls is None else getattr(owner, cls)
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
    if argv[:1] == ["parts"] and len(argv) >= 3:
        rest = argv[3:]
        return parts(int(argv[1]), int(argv[2]), rest[1:] if rest[:1] == ["--"] else rest)
    if argv == ["oled"]:
        oled()
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
