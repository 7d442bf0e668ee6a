"""For a program measured on the emulated board: marks, and its own memory. Standard library.

``mark(id)`` (id 0..65535) makes the insn_count plugin record the ARM instructions executed so
far and the guest's own memory at this point (board.measure(): Measurement.marks). It is the
system call close(-0x4E495200 - id) on a descriptor that cannot exist: outside a measured run
(or on a real board) it fails with EBADF and does nothing. It costs about 7 k instructions
and no memory.

``memory()`` returns the program's own memory as the program itself can read it, under
board.measure() only: (total kB, anonymous kB), or None elsewhere. Under qemu-user 7.2,
/proc/self/smaps is the qemu process's, untranslated, so this sums its entries inside the
guest's range [GUEST_BASE, + 4 GiB). Reading the file costs the program about 8 M
instructions and some transient memory: prefer mark() when the host collects the figures.

The measured program imports this from /opt/emulated-board/guest (board.GUEST_HELPERS), or
copies mark()'s three lines.
"""

import os

MARK_FD_BASE = -0x4E495200
GUEST_BASE = 0x40_0000_0000  # board.GUEST_BASE: qemu-arm -B under board.measure()
GUEST_END = GUEST_BASE + (1 << 32)


def mark(mark_id: int) -> None:
    """Record instructions and memory at this point of the run (see the module's doc)."""
    try:  # noqa: SIM105 (contextlib would be one more import in the measured program)
        os.close(MARK_FD_BASE - mark_id)
    except OSError:
        pass


def memory():
    """(total kB, anonymous kB) of this program's own memory, or None if not measurable."""
    rss = anon = 0
    inside = seen = False
    try:
        with open("/proc/self/smaps") as smaps:
            for line in smaps:
                if line[0] in "0123456789abcdef":
                    start, _, rest = line.partition("-")
                    start = int(start, 16)
                    inside = start >= GUEST_BASE and int(rest.split(" ", 1)[0], 16) <= GUEST_END
                    seen = seen or inside
                elif inside and line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif inside and line.startswith("Anonymous:"):
                    anon += int(line.split()[1])
    except OSError:
        return None
    return (rss, anon) if seen else None
