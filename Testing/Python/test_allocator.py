"""While windows run, freed window-sized blocks stay in the process (glibc): the next window reuses
them instead of mapping and zeroing fresh pages; afterwards glibc's defaults are back. And the
sliding window reuses its own window-sized buffers."""
from __future__ import annotations

import ctypes

import pytest
import torch

from saltseg.inference import allocator

BLOCK = 64 * 2**20  # above glibc's largest mmap threshold (32 MiB): mmapped by default


class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


@pytest.fixture()
def mallinfo():
    libc = allocator._glibc()
    if libc is None or not hasattr(libc, "mallinfo2"):
        pytest.skip("glibc ≥ 2.33 only")
    libc.mallinfo2.restype = MallInfo2
    return libc.mallinfo2


def _larger_than_any_free_chunk(mallinfo) -> int:
    """Bytes no free heap chunk can serve (glibc serves a request from free heap memory first,
    whatever the mmap settings): with the defaults such a block is a fresh mapping."""
    return max(BLOCK, (mallinfo().fordblks // BLOCK + 1) * BLOCK)


def test_large_blocks_are_reused_inside_and_mapped_outside(mallinfo):
    size = _larger_than_any_free_chunk(mallinfo)
    before = mallinfo().hblkhd
    block = torch.empty(size // 4)
    assert mallinfo().hblkhd - before >= size  # glibc's default: a fresh mapping
    del block
    with allocator.retained_heap() as active:
        assert active and allocator.retained()
        mapped = mallinfo().hblkhd
        heaps = []
        for _ in range(6):  # six "windows", each allocating and freeing the same blocks
            blocks = [torch.empty(BLOCK // 4) for _ in range(3)]
            assert mallinfo().hblkhd == mapped  # from the heap, not new mappings
            del blocks
            assert mallinfo().fordblks >= 3 * BLOCK  # freed but kept in the process
            heaps.append(mallinfo().arena)
        assert heaps[-1] == heaps[-2] == heaps[-3]  # a steady state: later windows reuse, nothing new
    assert not allocator.retained()
    size = _larger_than_any_free_chunk(mallinfo)
    before = mallinfo().hblkhd
    again = torch.empty(size // 4)
    assert mallinfo().hblkhd - before >= size  # defaults restored: mapped, not taken from a grown heap
    del again


def test_nested_uses_restore_the_defaults_only_at_the_end(mallinfo):
    with allocator.retained_heap():
        with allocator.retained_heap():
            assert allocator.retained()
        assert allocator.retained()
    assert not allocator.retained()
