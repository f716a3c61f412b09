"""Wall time of the same runs under different workers × threads splits of the machine's cores.

What it measures
----------------
``verify.runner`` runs a suite in ``workers`` local processes of ``threads`` torch threads each
(by default 2 workers × 1 thread on 2 cores).  This benchmark executes one small set of real runs
(``verify.run.execute_safely``, the function the runner's workers call: training, checkpoint
choice, evaluation at every test length) under several splits in one invocation:

* ``1x2``: one worker process with 2 threads — the **baseline** every ratio is relative to;
* ``2x1``: two worker processes with 1 thread each — the runner's default on 2 cores;
* ``1x1``: one worker process with 1 thread — the reference for what one core does alone.

Each split runs in a fresh ``spawn`` pool of ``workers`` processes whose initializer sets
``torch.set_num_threads(threads)`` (``verify.runner._init_worker``), feeding the runs most
expensive first with ``imap_unordered`` as the runner does.  ``wall s`` is the time from creating
the pool to the last result, so it includes the workers' start-up (importing torch), which the
runner pays as well; it does not include the result store (a few ms per run).

The runs: by default 4 runs of ``reverse`` (RoPE), 2 layers, d 64, 4 heads, trained 300 steps at
lengths 1..8 and evaluated at 1..16: seeds 0 and 1, each on the primary alone and on primary +
restrictions, like the default suite but shorter.  ``--quick`` uses 2 runs of 40 steps (a smoke
run of the benchmark itself, not a measurement).

How to read the ratio
---------------------
``vs 1x2`` = wall seconds of ``1x2`` / wall seconds of the split, both measured in the same
invocation: above 1 the split finishes the same work faster than one 2-thread process (1.40
means 1.4× the throughput).  With ``--repeats`` > 1 the splits are interleaved (the order rotates
each repetition) and the table shows the median; ``range`` is min-max over repetitions.  On a
shared or noisy machine read differences of a few percent with care.  ``same numbers as`` names
the first split (in the order run) whose stored results are identical: runs with the same thread
count must agree, runs with different thread counts may differ in the last float bits.

Usage::

    .venv/bin/python benchmarks/runner_split.py               # about 2.5 minutes on 2 cores
    .venv/bin/python benchmarks/runner_split.py --quick       # smoke run, ~20 s
    .venv/bin/python benchmarks/runner_split.py --splits 2x1,1x2 --repeats 3
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import time
from pathlib import Path

try:
    from verify.run import execute_safely
except ImportError:  # run as a script from a checkout without the package installed
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from verify.run import execute_safely
from verify.runner import _expected_cost, _init_worker
from verify.suite import Suite, TaskPlan

DEFAULT_SPLITS = "1x2,2x1,1x1"  # the first split is the baseline


def make_specs(runs: int, steps: int, train_max: int, test_factor: int, layers: int, d_model: int,
               eval_instances: int) -> list:
    seeds = tuple(range((runs + 1) // 2))
    suite = Suite(name="bench", description="runner split benchmark", plans=(TaskPlan("reverse", "rope", "benchmark"),),
                  seeds=seeds, train_max=train_max, test_factor=test_factor, steps=steps, layers=layers,
                  d_model=d_model, heads=4, eval_instances=eval_instances, eval_every=max(1, steps // 3))
    specs = suite.runs()[:runs]
    specs.sort(key=_expected_cost, reverse=True)
    return specs


def run_split(specs: list, workers: int, threads: int) -> tuple[float, dict]:
    """Wall seconds to execute ``specs`` in ``workers`` spawned processes of ``threads`` threads."""
    ctx = mp.get_context("spawn")
    started = time.perf_counter()
    results = {}
    with ctx.Pool(workers, initializer=_init_worker, initargs=(threads,)) as pool:
        for result in pool.imap_unordered(execute_safely, specs):
            results[result.key] = result
    wall = time.perf_counter() - started
    failed = [r for r in results.values() if r.status != "ok"]
    if failed:
        raise RuntimeError(f"run {failed[0].key} failed under {workers}x{threads}: {failed[0].reason[:300]}")
    return wall, {k: (r.best_step, r.validation_exact, r.measurements, r.loss_curve) for k, r in results.items()}


def parse_split(text: str) -> tuple[int, int]:
    workers, _, threads = text.strip().partition("x")
    if not (workers.isdigit() and threads.isdigit() and int(workers) >= 1 and int(threads) >= 1):
        raise argparse.ArgumentTypeError(f"split {text!r} is not WORKERSxTHREADS, e.g. 2x1")
    return int(workers), int(threads)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--splits", default=DEFAULT_SPLITS,
                   help="comma-separated WORKERSxTHREADS; the first is the baseline of the ratio")
    p.add_argument("--runs", type=int, default=4, help="runs per split (seeds x {primary, primary+restriction})")
    p.add_argument("--steps", type=int, default=300, help="training steps per run")
    p.add_argument("--train-max", type=int, default=8, help="train at lengths 1..n")
    p.add_argument("--test-factor", type=int, default=2, help="evaluate at lengths 1..factor*n")
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--d-model", type=int, default=64)
    p.add_argument("--eval-instances", type=int, default=512, help="evaluation instances per length")
    p.add_argument("--repeats", type=int, default=1, help="measurements per split (median reported)")
    p.add_argument("--quick", action="store_true", help="smoke run: 2 runs of 40 steps, small evaluation, 1 repeat")
    args = p.parse_args(argv)
    if args.quick:
        args.runs, args.steps, args.train_max, args.eval_instances, args.repeats = 2, 40, 4, 64, 1
    try:
        args.splits = [parse_split(s) for s in args.splits.split(",") if s.strip()]
    except argparse.ArgumentTypeError as err:
        p.error(str(err))
    if not args.splits or args.runs < 1 or args.steps < 1 or args.repeats < 1:
        p.error("need at least one split, --runs >= 1, --steps >= 1, --repeats >= 1")
    return args


def main(argv: list[str] | None = None) -> list[dict]:
    args = parse_args(argv)
    specs = make_specs(args.runs, args.steps, args.train_max, args.test_factor, args.layers, args.d_model,
                       args.eval_instances)
    names = [f"{w}x{t}" for w, t in args.splits]
    print(f"{len(specs)} runs: reverse/rope, {args.layers} layers, d {args.d_model}, {args.steps} steps, "
          f"train 1..{args.train_max}, test 1..{args.test_factor * args.train_max}, {args.eval_instances} "
          f"eval instances/length; {os.cpu_count()} CPUs; splits {', '.join(names)} x {args.repeats}", flush=True)
    walls: dict[str, list[float]] = {n: [] for n in names}
    outputs: dict[str, dict] = {}
    for rep in range(args.repeats):
        k = rep % len(names)
        for name in names[k:] + names[:k]:  # rotate the order every repetition
            workers, threads = args.splits[names.index(name)]
            wall, numbers = run_split(specs, workers, threads)
            walls[name].append(wall)
            outputs.setdefault(name, numbers)
            print(f"  repetition {rep + 1}: {name} {wall:.1f} s", flush=True)
    base = statistics.median(walls[names[0]])
    rows = []
    for name, (workers, threads) in zip(names, args.splits):
        wall = statistics.median(walls[name])
        same = next(other for other in names if outputs[other] == outputs[name])
        rows.append({"split": name, "workers": workers, "threads": threads, "wall_s": wall,
                     "range": (min(walls[name]), max(walls[name])), "ratio": base / wall,
                     "runs_per_min": 60 * len(specs) / wall, "same_as": same, "walls": walls[name]})
    print(format_table(rows, names[0]))
    fastest = min(rows, key=lambda r: r["wall_s"])
    print(f"fastest: {fastest['split']} ({fastest['wall_s']:.1f} s)")
    return rows


def format_table(rows: list[dict], baseline: str) -> str:
    table = [("split", "workers", "threads", "wall s", "range s", "runs/min", f"vs {baseline}", "same numbers as")]
    for r in rows:
        table.append((r["split"], str(r["workers"]), str(r["threads"]), f"{r['wall_s']:.1f}",
                      f"{r['range'][0]:.1f}-{r['range'][1]:.1f}", f"{r['runs_per_min']:.2f}", f"{r['ratio']:.2f}",
                      r["same_as"]))
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = ["  ".join(c.ljust(w) if i in (0, 7) else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip()
             for row in table]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
