"""The C layout of rknn_api.h's structures for any ABI, computed (for the tests only).

ctypes lays :mod:`device.rknn_api`'s structures out for the interpreter's own ABI, which
is all the board needs. The tests also want the board's layout (armhf) on a PC, where no
armhf interpreter runs: :func:`struct_layout` computes it from the binding's own field
lists, and ``tests/test_npu.py`` checks the result against ctypes and gcc on this
machine, and against an armhf cross compiler where one is installed.
"""

from __future__ import annotations

import ctypes
import platform
from dataclasses import dataclass

from device.rknn_api import FieldSpec, context_is_uint32

_FIXED_KIND_BYTES = {"u8": 1, "i8": 1, "char": 1, "u32": 4, "i32": 4, "f32": 4, "enum": 4}


@dataclass(frozen=True)
class Abi:
    """The parts of a C ABI that decide these structures' layout.

    Args:
        name: For messages.
        pointer_bytes: ``sizeof(void *)``.
        uint64_align: Alignment of ``uint64_t`` in a struct, bytes.
        arm32: ``__arm__`` is defined (32-bit ARM): ``rknn_context`` is ``uint32_t``.
    """

    name: str
    pointer_bytes: int
    uint64_align: int
    arm32: bool


#: The board: Cortex-A7, 32-bit ARM EABI hard-float (AAPCS: 8-byte aligned uint64_t).
ABI_ARMHF = Abi("armhf (32-bit ARM EABI, AAPCS)", pointer_bytes=4, uint64_align=8, arm32=True)
#: A PC.
ABI_X86_64 = Abi("x86-64 (System V)", pointer_bytes=8, uint64_align=8, arm32=False)
#: 32-bit x86, where uint64_t is only 4-byte aligned inside structs (for contrast).
ABI_I386 = Abi("i386 (System V)", pointer_bytes=4, uint64_align=4, arm32=False)


@dataclass(frozen=True)
class StructLayout:
    """Size, alignment and each field's (offset, bytes) of a C struct, in bytes."""

    size: int
    alignment: int
    fields: dict[str, tuple[int, int]]

    def offset(self, field: str) -> int:
        return self.fields[field][0]


def _kind_bytes_align(kind: str, abi: Abi) -> tuple[int, int]:
    if kind == "ptr":
        return abi.pointer_bytes, abi.pointer_bytes
    if kind == "u64":
        return 8, abi.uint64_align
    if kind == "context":
        return (4, 4) if abi.arm32 else (8, abi.uint64_align)
    if kind not in _FIXED_KIND_BYTES:
        raise ValueError(
            f"unknown field kind {kind!r}; valid: "
            f"{sorted([*_FIXED_KIND_BYTES, 'ptr', 'u64', 'context'])}"
        )
    n = _FIXED_KIND_BYTES[kind]
    return n, n


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def struct_layout(fields: tuple[FieldSpec, ...], abi: Abi) -> StructLayout:
    """Lay out a struct as a C compiler for ``abi`` would (natural alignment).

    Each field goes at the next multiple of its alignment; the struct's size is rounded
    up to its largest field alignment. That is the rule of both the System V and the
    ARM AAPCS ABIs for these field types. The kind "context" is ``rknn_context``.
    """
    offset = 0
    alignment = 1
    out: dict[str, tuple[int, int]] = {}
    for name, kind, count in fields:
        size, align = _kind_bytes_align(kind, abi)
        offset = _round_up(offset, align)
        out[name] = (offset, size * count)
        offset += size * count
        alignment = max(alignment, align)
    return StructLayout(size=_round_up(offset, alignment), alignment=alignment, fields=out)


def host_abi() -> Abi:
    """This interpreter's ABI, as ctypes sees it."""
    pointer = ctypes.sizeof(ctypes.c_void_p)
    return Abi(
        f"host ({platform.machine()}, {8 * pointer}-bit)",
        pointer_bytes=pointer,
        uint64_align=ctypes.alignment(ctypes.c_uint64),
        arm32=context_is_uint32(platform.machine(), pointer),
    )
