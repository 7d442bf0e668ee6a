"""``python -m host collect``: the command line of :mod:`host.collect`.

Records a labelled session from the wearable's serial link (keys in
:data:`host.collect_records.KEY_HELP`), or with ``--recover`` rebuilds an interrupted
session's SNIRF file. ``--live`` shows it on the live page while it records and
``--mqtt`` publishes it to a team's broker (:mod:`host.live`); the session record and the
SNIRF file are written whatever the page or the network do. ``--video SOURCE`` records a
camera (or a video file standing in for one) beside the session, each frame's time on the
device's clock (:mod:`host.collect_video`).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from device.link import DEFAULT_BAUDRATE
from host.collect import DEFAULT_OUT, TerminalKeys, collect
from host.collect_records import KEY_HELP, CollectError
from host.collect_video import DEFAULT_LATENCY_MS, FRAMES_SUFFIX, MAX_LATENCY_MS
from host.live.options import add_live_options, live_sinks
from host.recover import rebuild
from host.session import MEASUREMENT_SITE, PROTOCOLS, PROVENANCES, SIDES

__all__ = ["main_args"]


def _site(args: argparse.Namespace) -> dict[str, float]:
    """The measurement-site facts given on the command line (host.session.MEASUREMENT_SITE)."""
    given = {
        "adipose_tissue_thickness_mm": args.adipose_mm,
        "probe_pressure_mmhg": args.probe_pressure_mmhg,
    }
    assert set(given) == set(MEASUREMENT_SITE)
    return {k: v for k, v in given.items() if v is not None}


def _latency_ms(text: str) -> float:
    """--video-latency-ms: a number of ms from 0 to :data:`MAX_LATENCY_MS`."""
    from device.argtypes import non_negative_float

    value = non_negative_float(text)
    if value > MAX_LATENCY_MS:
        raise argparse.ArgumentTypeError(
            f"must be from 0 to {MAX_LATENCY_MS:g} ms (a camera's latency), got {text!r}"
        )
    return value


def main_args(argv: list[str] | None = None) -> int:
    """``python -m host collect ...``; returns the exit status."""

    from device.argtypes import existing_file, non_negative_float, positive_int
    from device.clock import SystemClock
    from device.errors import DeviceError
    from host.session import DatasetError
    from host.video.track import VideoError

    parser = argparse.ArgumentParser(
        prog="python -m host collect",
        description="Record a labelled session from the wearable's serial link. " + KEY_HELP,
    )
    parser.add_argument(
        "--port", help="serial device, e.g. /dev/ttyACM0 (default: none; required to record)"
    )
    parser.add_argument(
        "--subject",
        help="subject code, e.g. S01, never a name (default: none; required to record)",
    )
    parser.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        help="the protocol the subject follows: the seed's holds or a session in which "
        "nobody tires (default: none; required to record)",
    )
    parser.add_argument(
        "--side",
        choices=SIDES,
        help="the limb the wearable is on (default: none; required to record)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"dataset folder (default: {DEFAULT_OUT}; with --recover: beside the record)",
    )
    parser.add_argument(
        "--baud",
        type=positive_int,
        default=DEFAULT_BAUDRATE,
        help="serial link speed, as the wearable's [serial] baud (default: %(default)s)",
    )
    parser.add_argument(
        "--provenance",
        choices=PROVENANCES,
        default=None,
        help="what the session is: a person (human) or the simulator (default: human)",
    )
    parser.add_argument(
        "--adipose-mm",
        type=non_negative_float,
        default=None,
        help="adipose tissue thickness over the muscle under the probe, mm (skinfold / 2 "
        "or ultrasound), kept in the session's metadata for validation (default: not "
        "recorded)",
    )
    parser.add_argument(
        "--probe-pressure-mmhg",
        type=non_negative_float,
        default=None,
        help="pressure of the probe on the skin, mmHg, kept in the session's metadata for "
        "validation (default: not recorded)",
    )
    parser.add_argument(
        "--recover",
        type=existing_file,
        metavar="NREC",
        help="write the SNIRF file of an interrupted or damaged session from its .nrec "
        "record, collect's or the wearable's own (--subject, --protocol, --side, "
        "--provenance fill in what the record does not say; default: none, record live "
        "from --port)",
    )
    parser.add_argument(
        "--video",
        metavar="SOURCE",
        help="also record a camera (its index, e.g. 0) or a video file standing in for one "
        "(played at its own rate as if live) to <session>.video.avi, each frame's time on "
        "the device's clock in <session>.frames.csv (default: no video)",
    )
    parser.add_argument(
        "--video-latency-ms",
        type=_latency_ms,
        metavar="MS",
        default=DEFAULT_LATENCY_MS,
        help="the camera's latency from exposure to the host, ms, taken off each frame's "
        f"time, 0 to {MAX_LATENCY_MS:g} (default: %(default)s: unmeasured)",
    )
    add_live_options(parser)
    args = parser.parse_args(argv)

    def say(line: str) -> None:
        print(line, flush=True)

    try:
        if args.recover is not None:
            out = None if args.out is None else args.out / f"{args.recover.stem}.snirf"
            rebuild(
                args.recover,
                out,
                log=say,
                subject_id=args.subject,
                protocol=args.protocol,
                side=args.side,
                provenance=args.provenance,
            )
            from host.collect_video import recover_frame_table

            table = args.recover.with_name(args.recover.stem + FRAMES_SUFFIX)
            recover_frame_table(args.recover, table, say)
            return 0
        if args.video is None and args.video_latency_ms != DEFAULT_LATENCY_MS:
            parser.error("--video-latency-ms is the camera's: give --video too")
        needed = ("port", "subject", "protocol", "side")
        missing = [f"--{n}" for n in needed if not getattr(args, n)]
        if missing:
            parser.error(f"missing {', '.join(missing)} (or give --recover NREC)")
        source = f"serial {args.port}"
        clock = SystemClock()
        with contextlib.ExitStack() as stack:
            video = None
            if args.video is not None:  # checked before the port is opened
                from host.video.feeds import open_feed

                video = stack.enter_context(open_feed(args.video, clock))
            sink = stack.enter_context(live_sinks(args, parser, args.subject, source, say))
            keys = stack.enter_context(TerminalKeys())
            collect(
                args.port,
                args.out or DEFAULT_OUT,
                subject_id=args.subject,
                protocol=args.protocol,
                side=args.side,
                provenance=args.provenance or "human",
                keys=keys,
                clock=clock,
                baudrate=args.baud,
                site=_site(args),
                log=say,
                sink=sink,
                video=video,
                video_latency_s=args.video_latency_ms / 1000.0,
            )
    except (CollectError, DeviceError, DatasetError, OSError, ValueError, VideoError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
