"""Write a command's output files all or none, never replacing one.

``kinetics``, ``validate`` and ``predict`` each write several files (a table, a report,
figures) that belong together. :func:`write_all` refuses before any work if one exists,
writes each under a temporary name beside it, and renames them into place only when all
are written; an error or Ctrl-C on the way leaves nothing behind.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from host.session import DatasetError

__all__ = ["refuse_existing", "write_all"]


def refuse_existing(paths: Iterable[Path]) -> None:
    """Raise :class:`DatasetError` naming the first of ``paths`` that exists."""
    for path in paths:
        if Path(path).exists():
            raise DatasetError(path, "exists; move it away or give --out another folder")


def write_all(
    writers: Mapping[Path, Callable[[Path], object]], *, replace: bool = False
) -> list[Path]:
    """Write every file of ``writers`` (final path -> function writing a given path).

    ``replace``: replace existing files (a figure made again), still all or none; without
    it an existing file is refused before any work.

    Raises
    ------
    DatasetError
        A file exists and ``replace`` is False (nothing written), or its folder cannot be
        made.
    Whatever a writer raises (an ``OSError``, ``KeyboardInterrupt``), after removing what
    was written.
    """
    finals = [Path(p) for p in writers]
    if not replace:
        refuse_existing(finals)
    for folder in {p.parent for p in finals}:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatasetError(folder, f"cannot make the folder: {exc.strerror or exc}") from exc
    temps: list[Path] = []
    done: list[Path] = []  # renamed into place; removed on failure unless replacing
    try:
        for final, write in zip(finals, writers.values()):
            fd, name = tempfile.mkstemp(
                dir=final.parent, prefix=f".{final.stem}.", suffix=final.suffix
            )
            os.close(fd)
            temps.append(Path(name))
            write(temps[-1])
        if not replace:
            refuse_existing(finals)  # made meanwhile by another run
        for temp, final in zip(temps, finals):
            os.chmod(temp, 0o644)  # mkstemp makes it 0600
            os.replace(temp, final)
            done.append(final)
    except BaseException:
        for path in (*temps, *([] if replace else done)):
            path.unlink(missing_ok=True)
        raise
    return finals
