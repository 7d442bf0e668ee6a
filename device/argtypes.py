"""Argument types for every command line of the project (``device``, ``hwsim``, ``host``).

Each is a function from the text typed to the value, for ``argparse``'s ``type=``. A bad
value raises :class:`argparse.ArgumentTypeError`, so argparse prints the usage and one line
naming the option, the value and what is allowed, and exits with status 2, before any work
starts, instead of a traceback from deep inside (a negative seed reaching numpy, a fault
rate of 2 reaching the simulated bus, a folder that is not there reaching a reader).

Standard library only: ``device/__main__`` uses it on the board.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

__all__ = [
    "existing_dir",
    "existing_file",
    "fraction",
    "non_negative_int",
    "positive_float",
    "positive_int",
]


def _int(text: str, lowest: int, allowed: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {allowed}, got {text!r}") from None
    if value < lowest:
        raise argparse.ArgumentTypeError(f"must be {allowed}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """A count: a whole number >= 1 (subjects, worker processes, a baud rate)."""
    return _int(text, 1, "a whole number >= 1")


def non_negative_int(text: str) -> int:
    """A whole number >= 0: a random seed (numpy refuses negative ones) or an index."""
    return _int(text, 0, "a whole number >= 0")


def _finite(text: str, allowed: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {allowed}, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be {allowed}, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0, e.g. a duration in seconds."""
    allowed = "a finite number > 0"
    value = _finite(text, allowed)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be {allowed}, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    """A finite number >= 0, e.g. a thickness in mm or a pressure in mmHg."""
    allowed = "a finite number >= 0"
    value = _finite(text, allowed)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be {allowed}, got {text!r}")
    return value


def fraction(text: str) -> float:
    """A probability or share: a number from 0 to 1 (NaN refused)."""
    allowed = "a number from 0 to 1"
    value = _finite(text, allowed)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be {allowed}, got {text!r}")
    return value


def _missing(text: str, what: str) -> argparse.ArgumentTypeError:
    """ "no such file", saying where a relative path was looked for."""
    where = "" if Path(text).is_absolute() else f" in {Path.cwd()} (the current folder)"
    return argparse.ArgumentTypeError(f"{text}: no such {what}{where}")


def existing_file(text: str) -> Path:
    """A file that exists (not a folder)."""
    path = Path(text)
    if not path.exists():
        raise _missing(text, "file")
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{text}: not a file (a folder?)")
    return path


def existing_dir(text: str) -> Path:
    """A folder that exists (not a file)."""
    path = Path(text)
    if not path.exists():
        raise _missing(text, "folder")
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: not a folder")
    return path


def output_dir(text: str) -> Path:
    """A folder to write into: one that exists, or one that can be made (nothing on its
    path is a file). Checked before any work, so a run never ends in ``[Errno 17]``."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: is a file; give a folder (made if missing)")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise argparse.ArgumentTypeError(f"{text}: {parent} is a file, not a folder")
            break
    return path
