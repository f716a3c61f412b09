"""Time and memory per token against context length: full attention vs HSA vs the recurrence (issue 13).

What it measures
----------------
For each context length L of ``--lengths`` (default 64, 128, …, 4096) and each mixer of
``--mixers`` (default every mixer of ``verify.model``) — ``attention`` (full causal attention,
``F.scaled_dot_product_attention``, rope), ``hsa`` (hierarchical sparse attention, ``verify.hsa``,
rope, ``--chunk-size`` / ``--top-k``), ``recurrent`` (the diagonal linear recurrence, no positions)
and ``recurrent+hsa`` (the recurrence, then HSA, in every block; rope), the position schemes of the
long-context suite's conditions — one forward pass of a model of ``--layers`` × ``--d-model``
(default 2 × 64, 4 heads) on one random sequence, under ``torch.no_grad``:

* ``µs/token``: the median-free mean wall time of the forward passes that fit in ``--seconds``
  (after one untimed warm-up), divided by L;
* ``peak MiB``: the peak of live CPU tensor memory during one forward pass, from
  ``torch.profiler`` (``profile_memory``): allocations and frees replayed in time order (each op's
  own net allocation, then the frees between ops), so it counts the transient tensors (attention
  logits, HSA's scoring blocks and gathered chunks), not the weights allocated before;
* ``time×`` / ``mem×``: those two divided by full attention's at the same L, measured in the same
  run (below 1: cheaper than full attention).

How to read it
--------------
The idea's efficiency claim is that HSA attends to (top_k + 1) × chunk_size tokens per query
whatever L.  Its chunk *scoring* still reads every earlier key (relevance from the tokens inside
each chunk), so its time stays O(L) per token like full attention; what it bounds is the
attention that follows and, with blocked scoring, the memory: O(L) per token at most (the
scoring blocks), against the L × L logits of an attention that materializes them.  PyTorch's CPU
``scaled_dot_product_attention`` may itself run a fused kernel that never materializes them, so
read ``mem×`` against that baseline.  The recurrence is O(1) per token in time and memory.  On a
machine whose cores are busy (see the load average printed in the header) timings are noisy:
compare ratios, not absolute numbers.  Lengths stop once ``--budget`` seconds have passed.

``--json PATH`` also writes the table to PATH (format ``JSON_FORMAT``): every row (seconds and peak
bytes, also per token, and both ratios; NaN as null), the settings, the lengths the budget skipped,
the torch version, threads, load average, the date and the exact command line.  The long-context
report reads it from its folder (``verify.long_context_report``), so the report can show the
efficiency the suite's runs do not measure.  The path is checked (its folder made) before anything
is measured: one that cannot be written is refused at once, exit 2.

Usage::

    .venv/bin/python benchmarks/hsa_scaling.py                       # 64 … 4096, about a minute
    .venv/bin/python benchmarks/hsa_scaling.py --lengths 16,32 --seconds 0.1   # smoke run
    .venv/bin/python benchmarks/hsa_scaling.py --json reports/long-context/efficiency.json  # for the report
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

try:
    from verify.model import ModelConfig, Transformer
except ImportError:  # run as a script from a checkout without the package installed
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from verify.model import ModelConfig, Transformer

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared timing loop beside this file
from timing import run_for  # noqa: E402

#: mixer -> position scheme (the recurrence takes none); attention is the baseline of the ratios
SCHEMES = {"attention": "rope", "hsa": "rope", "recurrent": "none", "recurrent+hsa": "rope"}
BASELINE = "attention"
VOCAB = 16
JSON_FORMAT = 1  # bump when the --json layout changes (verify.long_context_report reads it)


@dataclass
class Row:
    length: int
    mixer: str
    us_per_token: float
    peak_bytes: int
    time_ratio: float = float("nan")  # against full attention at the same length
    memory_ratio: float = float("nan")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--lengths", default="64,128,256,512,1024,2048,4096", help="comma-separated context lengths")
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--d-model", type=int, default=64)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--chunk-size", type=int, default=8)
    p.add_argument("--top-k", type=int, default=2)
    p.add_argument("--seconds", type=float, default=1.0, help="timed forward passes per (mixer, length)")
    p.add_argument("--budget", type=float, default=60.0, help="no new length starts after this many seconds")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--mixers", default=",".join(SCHEMES),
                   help=f"comma-separated mixers; {BASELINE} (the baseline of the ratios) is always measured first")
    p.add_argument("--json", type=Path, default=None, metavar="PATH",
                   help="also write the table, settings and command line to this JSON file")
    args = p.parse_args(argv)
    args.lengths = [int(n) for n in args.lengths.split(",")]
    mixers = [m.strip() for m in args.mixers.split(",") if m.strip()]
    unknown = [m for m in mixers if m not in SCHEMES]
    if unknown:
        p.error(f"unknown mixer {unknown[0]!r}; choose from {', '.join(SCHEMES)}")
    args.mixers = [BASELINE] + [m for m in dict.fromkeys(mixers) if m != BASELINE]  # the ratios need the baseline
    if args.json is not None:  # before anything is measured: a bad path must not cost the measurement
        problem = _unwritable(args.json)
        if problem:
            p.error(f"--json {args.json} {problem}; give another path")
    return args


def _partial(path: Path) -> Path:
    return path.with_name(path.name + ".partial")  # written first, then renamed: a reader never sees half a file


def _unwritable(path: Path) -> str | None:
    """Why the ``--json`` file cannot be written (None if it can); its folder is made if missing."""
    path = Path(path)
    if path.is_dir():
        return "is a folder, not a file"
    for folder in path.parents:  # the nearest one that exists must be a folder
        if folder.exists():
            if not folder.is_dir():
                return f"lies under {folder}, which is a file, not a folder"
            break
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _partial(path).touch()
        _partial(path).unlink()
    except OSError as err:
        return f"cannot be written ({err.strerror or err})"
    return None


def peak_memory(call) -> int:
    """Peak bytes of live CPU tensors allocated during ``call()`` (see the module docstring)."""
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        call()
    live = peak = 0
    for event in sorted(prof.events(), key=lambda e: e.time_range.start):
        live += event.cpu_memory_usage if event.name == "[memory]" else event.self_cpu_memory_usage
        peak = max(peak, live)
    return peak


def measure(length: int, mixer: str, scheme: str, args: argparse.Namespace) -> Row:
    torch.manual_seed(0)
    model = Transformer(ModelConfig(VOCAB, args.layers, args.d_model, args.heads, scheme, mixer=mixer,
                                    chunk_size=args.chunk_size, top_k=args.top_k)).eval()
    tokens = torch.randint(0, VOCAB, (1, length))
    positions = torch.arange(length)[None]

    def forward(_: int = 0) -> None:
        with torch.no_grad():
            model(tokens, positions)
    calls, elapsed = run_for(forward, args.seconds, warmup=1)
    return Row(length, mixer, 1e6 * elapsed / calls / length, peak_memory(forward))


def _number(value: float):
    """JSON has no NaN: a ratio without a baseline is written as null."""
    return value if math.isfinite(value) else None


def _command(argv: list[str]) -> str:
    """The command line that reruns this measurement, relative to the working directory where it can be."""
    def short(path: str) -> str:
        relative = os.path.relpath(path)
        return path if relative.startswith("..") else relative
    return shlex.join([short(sys.executable), short(__file__), *argv])


def write_json(path: Path, args: argparse.Namespace, argv: list[str], rows: list[Row], skipped: list[int],
               load: float, started: datetime) -> None:
    """The measured table and everything needed to judge and rerun it (module docstring, ``--json``)."""
    document = {
        "format": JSON_FORMAT,
        "benchmark": "benchmarks/hsa_scaling.py",
        "command": _command(argv),
        "date": started.isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "threads": args.threads,
        "load_average": _number(load),
        "settings": {"lengths": args.lengths, "mixers": args.mixers, "schemes": {m: SCHEMES[m] for m in args.mixers},
                     "layers": args.layers, "d_model": args.d_model, "heads": args.heads,
                     "chunk_size": args.chunk_size, "top_k": args.top_k, "seconds": args.seconds,
                     "budget": args.budget, "batch": 1, "pass": "one forward pass under torch.no_grad"},
        "baseline": BASELINE,
        "skipped_lengths": skipped,
        "rows": [{"length": r.length, "mixer": r.mixer, "seconds_per_token": r.us_per_token * 1e-6,
                  "peak_bytes": r.peak_bytes, "peak_bytes_per_token": r.peak_bytes / r.length,
                  "time_ratio": _number(r.time_ratio), "memory_ratio": _number(r.memory_ratio)} for r in rows],
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = _partial(path)
    try:
        partial.write_text(json.dumps(document, indent=1) + "\n")
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)  # after a failed write (a full disk): no half file left behind
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> list[Row]:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    started = datetime.now(timezone.utc)
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    rows: list[Row] = []
    skipped: list[int] = []
    try:
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"torch {torch.__version__}, {args.threads} thread(s), load average {load:.1f}; model {args.layers} "
              f"layers, d {args.d_model}, {args.heads} heads; HSA chunk {args.chunk_size}, top-k {args.top_k}; "
              f"batch 1, forward only", flush=True)
        header = f"{'L':>6}  {'mixer':<10} {'µs/token':>10} {'peak MiB':>10} {'time×':>7} {'mem×':>7}"
        print(header)
        print("-" * len(header), flush=True)
        start = time.perf_counter()
        for length in args.lengths:
            if time.perf_counter() - start > args.budget:
                print(f"budget of {args.budget:g} s spent: lengths from {length} on skipped")
                skipped = args.lengths[args.lengths.index(length):]
                break
            with torch.random.fork_rng(devices=[]):  # leave the caller's RNG state untouched
                at_length = [measure(length, mixer, SCHEMES[mixer], args) for mixer in args.mixers]
            base = at_length[0]
            for row in at_length:
                row.time_ratio = row.us_per_token / base.us_per_token
                row.memory_ratio = row.peak_bytes / base.peak_bytes if base.peak_bytes else float("nan")
                print(f"{row.length:>6}  {row.mixer:<10} {row.us_per_token:>10.2f} {row.peak_bytes / 2**20:>10.2f} "
                      f"{row.time_ratio:>7.2f} {row.memory_ratio:>7.2f}", flush=True)
            rows.extend(at_length)
    finally:
        torch.set_num_threads(threads)
    if args.json is not None:
        try:
            write_json(args.json, args, argv, rows, skipped, load, started)
        except OSError as err:  # checked up front, so rare (a disk that filled up): the table above stays
            print(f"hsa_scaling.py: error: could not write {args.json} ({err}); the table above is what was "
                  "measured: rerun with another --json path", file=sys.stderr)
            sys.exit(1)
    return rows


if __name__ == "__main__":
    main()
