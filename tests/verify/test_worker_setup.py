"""``verify.executors.prepare_worker``: the thread count every run computes with, and freed memory
kept in the process (glibc), which no computed number depends on."""

import ctypes
import subprocess
import sys

import pytest

PROGRAM = """
import ctypes, resource, sys
import torch
from verify.executors import prepare_worker
if sys.argv[1] == "prepared":
    prepare_worker(1)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(50):  # a training step: activations of a few MB each, kept until the step ends, then freed
    activations = [torch.ones(1 << 18) for _ in range(16)]
    del activations
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
# where glibc serves a 24 MB block: its chunk header (the size_t before the pointer) has bit 2
# (IS_MMAPPED) set when the block is a fresh mapping, given back to the kernel when freed
libc = ctypes.CDLL(None)
libc.malloc.restype, libc.free.argtypes = ctypes.c_void_p, [ctypes.c_void_p]
block = libc.malloc(24 << 20)
mmapped = bool(ctypes.c_size_t.from_address(block - ctypes.sizeof(ctypes.c_size_t)).value & 2)
libc.free(block)
print(faults, torch.get_num_threads(), int(mmapped))
"""


def _glibc() -> bool:
    try:
        ctypes.CDLL(None).gnu_get_libc_version
    except (OSError, AttributeError):
        return False
    return True


def _faults_threads_mmapped(mode: str) -> tuple[int, int, bool]:
    out = subprocess.run([sys.executable, "-c", PROGRAM, mode], capture_output=True, text=True, check=True)
    faults, threads, mmapped = out.stdout.split()
    return int(faults), int(threads), mmapped == "1"


@pytest.mark.skipif(not _glibc(), reason="mallopt is glibc's")
def test_a_prepared_worker_reuses_freed_memory_instead_of_faulting_it_in_again():
    prepared, threads, mmapped = _faults_threads_mmapped("prepared")
    assert threads == 1
    # blocks up to 32 MB come from the heap, and freed heap memory is kept: the 16 MB of the first
    # step are faulted in once (4096 pages) and reused, where 50 steps x 16 MB fresh from the kernel
    # are ~205k page faults
    assert not mmapped
    assert prepared < 12_000, prepared
    # an unprepared process maps the same block afresh; its fault count is no reliable baseline:
    # usually ~200k (every step re-faulted), but glibc's dynamic thresholds make it depend on what
    # else sits on the heap (measured: about 1 run in 4 takes ~8k), so it is not compared
    plain, _, plain_mmapped = _faults_threads_mmapped("plain")
    assert plain_mmapped, plain


@pytest.mark.parametrize("error", [OSError("no C library"), TypeError("CDLL(None) is unsupported here")])
def test_a_platform_without_a_loadable_c_library_changes_nothing_but_the_threads(monkeypatch, error):
    # ctypes.CDLL(None) raises TypeError where the platform cannot open the running program (Windows):
    # prepare_worker must still set the threads and leave the allocator alone, not fail the worker
    import torch

    from verify import executors

    threads = []
    monkeypatch.setattr(torch, "set_num_threads", threads.append)

    def unavailable(*args, **kwargs):
        raise error

    monkeypatch.setattr(ctypes, "CDLL", unavailable)
    executors.prepare_worker(3)
    assert threads == [3]
