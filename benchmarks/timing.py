"""The one timing loop the benchmarks share: untimed warm-up, then calls until a time has passed."""

from __future__ import annotations

import time
from typing import Callable


def run_for(call: Callable[[int], None], seconds: float, warmup: int = 0) -> tuple[int, float]:
    """``warmup`` untimed calls (cut short past ``seconds`` on a loaded machine), then ``call(i)``
    until ``seconds`` have passed, at least once: (timed calls, elapsed seconds)."""
    start = time.perf_counter()
    for i in range(warmup):
        call(i)
        if time.perf_counter() - start >= seconds:
            break
    calls = 0
    start = time.perf_counter()
    while True:
        call(calls)
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return calls, elapsed
