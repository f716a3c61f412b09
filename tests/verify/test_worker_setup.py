"""``verify.executors.prepare_worker``: the thread count every run computes with, and freed memory
kept in the process (glibc), which no computed number depends on."""

import ctypes
import subprocess
import sys

import pytest

PROGRAM = """
import resource, sys
import torch
from verify.executors import prepare_worker
if sys.argv[1] == "prepared":
    prepare_worker(1)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(50):  # a training step: activations of a few MB each, kept until the step ends, then freed
    activations = [torch.ones(1 << 18) for _ in range(16)]
    del activations
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before, torch.get_num_threads())
"""


def _glibc() -> bool:
    try:
        ctypes.CDLL(None).gnu_get_libc_version
    except (OSError, AttributeError):
        return False
    return True


def _faults_and_threads(mode: str) -> tuple[int, int]:
    out = subprocess.run([sys.executable, "-c", PROGRAM, mode], capture_output=True, text=True, check=True)
    faults, threads = out.stdout.split()
    return int(faults), int(threads)


@pytest.mark.skipif(not _glibc(), reason="mallopt is glibc's")
def test_a_prepared_worker_reuses_freed_memory_instead_of_faulting_it_in_again():
    plain, _ = _faults_and_threads("plain")
    prepared, threads = _faults_and_threads("prepared")
    assert threads == 1
    # 50 steps x 16 MB fresh from the kernel is ~200k page faults; reused, a few thousand
    assert plain > 50_000 and prepared < plain / 20, (plain, prepared)
