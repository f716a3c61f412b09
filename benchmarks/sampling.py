"""Sampling cost of every catalogue task against the training step it feeds.

Sampling must never be the bottleneck of training: the time to produce a batch of training data
should stay a small fraction of the time the model needs to train on it.  Target: at most 5 % of
the step time for every catalogue task.

What it measures
----------------
For every catalogue task and each length ``n`` in ``--lengths`` (default 16 and 64; a length
outside ``[task.min_length, task.max_length]`` is skipped and named), two things, on the same
task's data:

* **sampling**: repeated calls of ``theory.serialize.sample_sequences(task, rng, batch, (n, n),
  vocab)``, exactly what ``verify.run`` hands to training: draw the inputs (``Task.sample``),
  solve them with provenance (``Task.solve``: outputs, intermediates, support sets) and serialize
  them to token ids, position ids and loss mask.  One call produces one training batch of
  ``--batch`` (64) instances.  Reported as ``inst/s`` (instances per second) and ``batch ms``
  (milliseconds per batch = ``batch / inst/s``).
* **model step**: one training step of the default model (``verify.model.Transformer``: 2
  layers, d 64, 4 heads, RoPE, vocabulary of the task) as in ``verify.train``: forward,
  cross-entropy over the supervised tokens, ``loss.item()``, backward, gradient clipping to norm
  1, AdamW (lr 1e-3, betas (0.9, 0.98)) and the warm-up scheduler.  Its batches are a few of the
  task's own sampled batches, converted to tensors (``verify.batches.to_model_batch``) before
  timing, so the sequence length ``L`` matches the sampled one and only the model is timed.
  Reported as ``step ms``.  A fresh model is built per cell and runs a few untimed warm-up steps.

Each measurement repeats its call for at least ``--seconds`` (default 0.5 s).  Sampling and
stepping alternate ``--repeats`` times (default 3) within a cell, so a burst of machine noise hits
both; the table shows the medians.  Torch runs with ``--threads`` threads (default 2); sampling
is single-threaded numpy/Python.

How to read it
--------------
``batch/step`` = ``batch ms / step ms`` in percent: the data-loading overhead of a training step
if batches were drawn in the training loop (as ``verify.train`` does).  At or below ``--target``
(5 %) sampling is negligible; rows above it are flagged ``OVER`` and listed after the table.
The ratio is what to compare between machines and commits; absolute rates depend on the machine,
on ``--threads`` (more threads speed up the step, not the sampling, so the ratio rises) and on
other load.  On a shared machine re-run a flagged row with ``--tasks`` before acting on it.

Noise only ever adds time, and it hurts the model step most: with ``--threads 2`` on a busy
2-core machine the two torch threads wait on each other and a step can take 10-100x its quiet
time, which makes every ratio look *better* than it is.  Compare ``step ms`` of cells with the
same ``L`` (it depends only on ``L``): if they differ a lot, the machine is contended; re-run
with ``--threads 1``.  A note after the table counts cells whose step times spread by more than
2x over the repetitions.

Usage::

    .venv/bin/python benchmarks/sampling.py                      # all tasks, ~2-3 minutes
    .venv/bin/python benchmarks/sampling.py --quick              # smoke run, under a minute
    .venv/bin/python benchmarks/sampling.py --tasks sort_repeats,carry_only --seconds 1
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

try:
    from theory.catalogue import CATALOGUE
    from theory.serialize import Vocab, sample_sequences
    from verify.batches import IGNORE, ModelBatch, to_model_batch
    from verify.model import ModelConfig, Transformer
except ImportError:  # run as a script from a checkout without the package installed
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from theory.catalogue import CATALOGUE
    from theory.serialize import Vocab, sample_sequences
    from verify.batches import IGNORE, ModelBatch, to_model_batch
    from verify.model import ModelConfig, Transformer

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared timing loop beside this file
from timing import run_for  # noqa: E402

POOL = 4  # distinct sampled batches cycled through by the model step


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--tasks", default=None, help="comma-separated catalogue tasks (default: all)")
    p.add_argument("--lengths", default="16,64", help="comma-separated lengths n")
    p.add_argument("--seconds", type=float, default=None,
                   help="timed seconds per measurement (default 0.5; 0.15 with --quick)")
    p.add_argument("--repeats", type=int, default=None,
                   help="measurements per cell, median reported (default 3; 1 with --quick)")
    p.add_argument("--warmup", type=int, default=3, help="untimed model steps before timing")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads for the run")
    p.add_argument("--batch", type=int, default=64, help="instances per training batch")
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--d-model", type=int, default=64)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--target", type=float, default=5.0, help="target: batch ms / step ms in percent")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="smoke run: 0.15 s per measurement, 1 repetition")
    args = p.parse_args(argv)
    if args.seconds is None:
        args.seconds = 0.15 if args.quick else 0.5
    if args.repeats is None:
        args.repeats = 1 if args.quick else 3
    if args.tasks is None:
        args.tasks = list(CATALOGUE)
    else:
        args.tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
        unknown = [t for t in args.tasks if t not in CATALOGUE]
        if unknown or not args.tasks:
            p.error(f"unknown task(s) {unknown}; choose from {', '.join(CATALOGUE)}")
    try:
        args.lengths = [int(v) for v in args.lengths.split(",") if v.strip()]
    except ValueError:
        p.error(f"--lengths must be comma-separated integers, got {args.lengths!r}")
    if not args.lengths or min(args.lengths) < 1:
        p.error("--lengths needs at least one length >= 1")
    if args.seconds <= 0 or args.repeats < 1 or args.warmup < 0 or args.threads < 1 or args.batch < 1:
        p.error("need --seconds > 0, --repeats >= 1, --warmup >= 0, --threads >= 1, --batch >= 1")
    return args


def make_stepper(model: torch.nn.Module, data: list[ModelBatch]) -> Callable[[int], None]:
    """One training step as in ``verify.train`` (single source) on batch ``i % len(data)``."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.98), weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 100))
    model.train()

    def step(i: int) -> None:
        batch = data[i % len(data)]
        logits = model(batch.tokens, batch.positions)
        token_loss = F.cross_entropy(logits.transpose(1, 2), batch.targets, ignore_index=IGNORE, reduction="none")
        supervised = (batch.targets != IGNORE).float()
        loss = token_loss.sum() / supervised.sum().clamp(min=1)
        loss.item()  # verify.train reads the loss every step (divergence check)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()

    return step


def admissible(task, n_value: int) -> bool:
    return n_value >= task.min_length and (task.max_length is None or n_value <= task.max_length)


def measure_cell(task, n_value: int, args: argparse.Namespace) -> dict:
    vocab = Vocab(task.symbols, (task.name,))
    rng = np.random.default_rng(args.seed)
    span = (n_value, n_value)

    def sample(_: int) -> None:
        sample_sequences(task, rng, args.batch, span, vocab)

    pool = [sample_sequences(task, rng, args.batch, span, vocab) for _ in range(POOL)]  # also warms up
    seq_len = pool[0].tokens.shape[1]
    torch.manual_seed(args.seed)
    model = Transformer(ModelConfig(vocab.size, args.layers, args.d_model, args.heads, "rope",
                                    max_positions=max(256, seq_len + 1)))
    step = make_stepper(model, [to_model_batch(b) for b in pool])
    for i in range(args.warmup):
        step(i)
    batch_ms, step_ms = [], []
    for _ in range(args.repeats):
        calls, elapsed = run_for(sample, args.seconds)
        batch_ms.append(1e3 * elapsed / calls)
        calls, elapsed = run_for(step, args.seconds)
        step_ms.append(1e3 * elapsed / calls)
    b, s = statistics.median(batch_ms), statistics.median(step_ms)
    ratio = 100.0 * b / s
    return {"task": task.name, "n": n_value, "seq_len": seq_len, "batch": args.batch,
            "instances_per_s": 1e3 * args.batch / b, "batch_ms": b, "step_ms": s, "ratio_pct": ratio,
            "meets_target": ratio <= args.target, "batch_ms_runs": batch_ms, "step_ms_runs": step_ms}


def format_row(row: dict) -> str:
    flag = "" if row["meets_target"] else "OVER"
    return (f"{row['task']:<20} {row['n']:>3} {row['seq_len']:>4} {row['instances_per_s']:>10,.0f} "
            f"{row['batch_ms']:>9.2f} {row['step_ms']:>8.2f} {row['ratio_pct']:>9.1f}%  {flag}")


HEADER = f"{'task':<20} {'n':>3} {'L':>4} {'inst/s':>10} {'batch ms':>9} {'step ms':>8} {'batch/step':>10}"


def main(argv: list[str] | None = None) -> list[dict]:
    args = parse_args(argv)
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    rows: list[dict] = []
    skipped: list[str] = []
    try:
        with torch.random.fork_rng(devices=[]):  # leave the caller's RNG state untouched
            print(f"torch {torch.__version__}, {args.threads} thread(s); batch {args.batch}; model {args.layers} "
                  f"layers, d {args.d_model}, {args.heads} heads, rope; {args.repeats} x {args.seconds:g} s "
                  f"per measurement; target batch/step <= {args.target:g}%", flush=True)
            print(HEADER)
            print("-" * (len(HEADER) + 6), flush=True)
            for name in args.tasks:
                task = CATALOGUE[name]
                for n_value in args.lengths:
                    if not admissible(task, n_value):
                        skipped.append(f"{name}@{n_value}")
                        continue
                    row = measure_cell(task, n_value, args)
                    rows.append(row)
                    print(format_row(row), flush=True)
    finally:
        torch.set_num_threads(threads)
    if skipped:
        print(f"skipped (length outside the task's range): {', '.join(skipped)}")
    noisy = [r for r in rows if max(r["step_ms_runs"]) > 2 * min(r["step_ms_runs"])]
    if noisy:
        print(f"note: {len(noisy)} cell(s) with step times spread > 2x over the repetitions (a contended "
              "machine); their ratios are unreliable: " + ", ".join(f"{r['task']}@{r['n']}" for r in noisy))
    over = [r for r in rows if not r["meets_target"]]
    print(f"{len(rows) - len(over)}/{len(rows)} task x length cells meet the {args.target:g}% target")
    if over:
        worst = sorted(over, key=lambda r: -r["ratio_pct"])
        print("over target: " + ", ".join(f"{r['task']}@{r['n']} ({r['ratio_pct']:.1f}%)" for r in worst))
    return rows


if __name__ == "__main__":
    main()
