"""Time to fit: per catalogue task, the wall time the default model needs to fit its training range.

What it measures
----------------
For each chosen catalogue task, one run as the default suite would make it (``verify.suite.
build_spec``: the default model, 2 layers, d 64, 4 heads; the position scheme quick experiments
use, ``default_position_scheme``; training lengths up to ``--train-max``; the primary alone;
seed ``--seed``; the token mixer ``--mixer``, with ``--chunk-size`` and ``--top-k`` for HSA, as
``Condition(mixer=...)`` gives it; ``recurrent`` takes no position scheme, so it runs with
``none``; ``--precision`` as ``Suite(precision=...)`` gives it, ``--skip-padding`` as
``Suite(skip_padding=True)``), trained with ``verify.train.train`` until the mean validation exact match over
the training lengths (the run's own validation set, ``VALIDATION_SEED``) reaches
``--threshold`` (0.99), checked every ``--check-every`` steps.  Reported: the wall seconds
(training and validation together, from the first step) and the steps at which it got there, or
``did not fit in T s`` with the best validation exact match seen when ``--cap`` seconds ran out.
The step budget is not the suite's: training goes on (learning-rate warm-up as in a run, then
constant) until the threshold or the cap.

The machine must be quiet for the absolute numbers to mean anything, and a full catalogue
takes up to ``tasks x cap`` seconds, so choose a subset on a shared machine::

    .venv/bin/python benchmarks/time_to_fit.py --tasks reverse,sort --cap 120
    .venv/bin/python benchmarks/time_to_fit.py --cap 300             # every catalogue task (long)
    .venv/bin/python benchmarks/time_to_fit.py --tasks passkey --train-max 32 --mixer recurrent+hsa --chunk-size 8 --top-k 2
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

try:
    from verify import run as run_module
except ImportError:  # run as a script from a checkout without the package installed
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from verify import run as run_module
from theory.catalogue import ALL_TASKS  # noqa: E402
from theory.serialize import serialize  # noqa: E402
from theory.structure import structure_profile  # noqa: E402
from verify.measure import exact_match, predictions  # noqa: E402
from verify.suite import RUNNABLE_MIXERS, RUNNABLE_SCHEMES, Condition, SuiteError, build_spec, \
    default_position_scheme  # noqa: E402
from verify.spec import PRECISIONS  # noqa: E402
from verify.train import train  # noqa: E402

STEP_LIMIT = 10_000_000  # training is stopped by the threshold or the time cap, never by this


class _Stop(Exception):
    """Raised from train's callbacks to end a timed run early (threshold reached or time up)."""


@dataclass
class Fit:
    task: str
    scheme: str
    fitted: bool
    seconds: float  # wall seconds to the threshold, or the cap
    steps: int
    best_exact: float  # best validation exact match seen
    mixer: str = "attention"  # the token mixer (``--mixer``)

    def line(self, threshold: float, cap: float) -> str:
        if self.fitted:
            return f"{self.seconds:.1f} s ({self.steps} steps)"
        return f"did not fit in {cap:g} s ({self.steps} steps, best validation exact match {self.best_exact:.3f} < {threshold})"


def time_to_fit(name: str, args: argparse.Namespace) -> Fit:
    task = ALL_TASKS[name]
    if args.mixer == "recurrent":  # no attention to carry positions (the condition refuses any other scheme)
        scheme = "none"
    else:
        scheme = args.scheme or default_position_scheme(structure_profile(task))
    condition = Condition("primary", mixer=args.mixer, chunk_size=args.chunk_size, top_k=args.top_k,
                          position_scheme=scheme)
    spec = build_spec(task, name, condition, args.seed, args.train_max, args.train_max, STEP_LIMIT, scheme,
                      layers=args.layers, d_model=args.d_model, heads=args.heads, eval_every=args.check_every,
                      eval_instances=1, precision=args.precision, skip_padding=args.skip_padding)
    task, _, vocab, model, sources = run_module.build(spec)
    val_rng = np.random.default_rng(run_module.VALIDATION_SEED)
    lo, hi = spec.train_lengths
    validation = []
    for length in range(lo, hi + 1):
        inputs, sol = task.generate(val_rng, spec.validation_instances, length)
        validation.append(serialize(task, inputs, sol.outputs, vocab, coupled=scheme == "coupled"))
    state = {"best": 0.0, "step": 0, "fitted": False}
    start = time.perf_counter()

    def validate(m: torch.nn.Module) -> tuple[float]:
        score = float(np.mean([exact_match(predictions(m, b), b)[0].mean() for b in validation]))
        state["best"] = max(state["best"], score)
        if score >= args.threshold:
            state["fitted"] = True
            raise _Stop
        return (score,)

    def progress(step: int, loss: float) -> None:
        state["step"] = step
        if time.perf_counter() - start > args.cap:
            raise _Stop

    try:
        train(model, sources, spec.train, vocab.pad, validate, progress)
    except _Stop:
        pass
    seconds = time.perf_counter() - start
    # the threshold is checked inside step k's validation, before progress(k) runs
    steps = state["step"] + 1 if state["fitted"] else state["step"]
    return Fit(name, scheme, state["fitted"], seconds if state["fitted"] else args.cap, steps, state["best"], args.mixer)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    names = list(ALL_TASKS)
    p.add_argument("--tasks", default="", help="comma-separated catalogue tasks (default: the whole catalogue)")
    p.add_argument("--cap", type=float, default=300.0, help="wall seconds per task before giving up")
    p.add_argument("--threshold", type=float, default=0.99, help="validation exact match that counts as fitted")
    p.add_argument("--train-max", type=int, default=8, help="train at lengths up to this (the default suite's)")
    p.add_argument("--check-every", type=int, default=50, help="validate every this many steps")
    p.add_argument("--seed", type=int, default=0, help="model and data seed")
    p.add_argument("--threads", type=int, default=1, help="torch threads (report workers run with 1)")
    p.add_argument("--scheme", choices=RUNNABLE_SCHEMES, default=None,
                   help="position scheme (default: the one quick experiments use, from the task's structure)")
    p.add_argument("--layers", type=int, default=2, help="model layers")
    p.add_argument("--d-model", type=int, default=64, help="model width")
    p.add_argument("--heads", type=int, default=4, help="attention heads")
    p.add_argument("--mixer", choices=RUNNABLE_MIXERS, default="attention",
                   help="token mixer of every block (recurrent runs with position scheme none)")
    p.add_argument("--chunk-size", type=int, default=8, help="HSA mixers: tokens per chunk")
    p.add_argument("--top-k", type=int, default=2, help="HSA mixers: earlier chunks each query selects")
    p.add_argument("--precision", choices=PRECISIONS, default="fp32",
                   help="arithmetic of the training passes (TrainConfig.precision; a suite's precision=)")
    p.add_argument("--skip-padding", action="store_true",
                   help="training passes skip the batch's right padding (TrainConfig.skip_padding)")
    args = p.parse_args(argv)
    args.tasks = [t for t in args.tasks.split(",") if t] or names
    unknown = [t for t in args.tasks if t not in names]
    if unknown:
        p.error(f"unknown task(s) {', '.join(unknown)}; `lengthgen tasks` lists the catalogue")
    if args.cap <= 0 or not 0 < args.threshold <= 1 or args.check_every < 1 or args.threads < 1 or args.train_max < 1 \
            or args.layers < 1 or args.heads < 1 or args.d_model < 1 or args.d_model % args.heads \
            or args.chunk_size < 1 or args.top_k < 1:
        p.error("need --cap > 0, 0 < --threshold <= 1, --check-every >= 1, --threads >= 1, --train-max >= 1, "
                "--layers, --heads, --d-model, --chunk-size, --top-k >= 1 and --d-model a multiple of --heads")
    if args.mixer == "recurrent" and args.scheme not in (None, "none"):
        p.error(f"--mixer recurrent reads order from its recurrence and takes no position scheme; drop --scheme "
                f"{args.scheme} (or give --scheme none)")
    return args


def main(argv: list[str] | None = None) -> list[Fit]:
    args = parse_args(argv)
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    mixer = "" if args.mixer == "attention" else f", mixer {args.mixer}" + (
        f" (chunks of {args.chunk_size}, top-{args.top_k})" if "hsa" in args.mixer else "")
    print(f"torch {torch.__version__}, {args.threads} thread(s); model ({args.layers} layers, d {args.d_model}, {args.heads} heads"
          f"{mixer}{', bf16 mixed precision' if args.precision == 'bf16' else ''}"
          f"{', skipping padding' if args.skip_padding else ''}), "
          f"train lengths up to {args.train_max}; fitted = validation exact match >= {args.threshold}, "
          f"checked every {args.check_every} steps; cap {args.cap:g} s per task", flush=True)
    fits = []
    try:
        for name in args.tasks:
            try:
                fit = time_to_fit(name, args)
            except (SuiteError, ValueError) as err:  # e.g. --train-max beyond what the task admits
                print(f"{name:<24} skipped: {err}", flush=True)
                continue
            fits.append(fit)
            print(f"{fit.task:<24} {fit.scheme:<5} {fit.line(args.threshold, args.cap)}", flush=True)
    finally:
        torch.set_num_threads(threads)
    return fits


if __name__ == "__main__":
    main()
