"""Where a run's time goes: sampling, forward/backward, optimizer, validation, evaluation.

What it measures
----------------
Real runs of a suite (default: ``default``, seed 0, every task and condition), executed exactly as
``lengthgen report`` executes them (``verify.run.execute``), with the step count cut to
``--steps`` so the benchmark stays short.  The phases come from the run itself:

* ``sampling``, ``forward_backward``, ``optimizer``, ``validation``: ``TrainResult.phase_seconds``,
  accumulated by ``verify.train.train`` (sampling = drawing every source's batch, concatenating,
  building the model tensors; forward_backward = forward, loss, ``loss.item()``, backward;
  optimizer = clipping, AdamW, scheduler; validation = the validation passes and checkpoint copy);
* ``evaluation``: the time spent in ``verify.measure.measure_length`` over every test length
  (exact match, restrictions, consistency), taken by wrapping the function ``verify.run`` calls
  (the run's code is not changed; the wrapper only reads a clock);
* ``other``: the rest of the run's wall time (building the task, model and validation set).

Because ``--steps`` is smaller than the suite's, a second table projects the split to the
suite's own step count: the per-step phases scale with the steps, validation with the number of
validations, evaluation and ``other`` stay as measured.  It is labelled a projection.  The
targets of issue 10 are checked on it: evaluation <= 10 % and sampling <= 5 % of a run.

``--against-padded`` also times each run as it was before ``TrainConfig.skip_padding`` (the same
spec with the padding computed), right after it, and prints the ratios padded / skipping for the
forward+backward phase and for the run's wall time (above 1: skipping the padding is faster).

Usage::

    .venv/bin/python benchmarks/run_split.py                       # default suite, 300 steps per run
    .venv/bin/python benchmarks/run_split.py --against-padded --steps 400
    .venv/bin/python benchmarks/run_split.py --tasks reverse --conditions primary --steps 200
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

try:
    import verify.run as run_module
except ImportError:  # run as a script from a checkout without the package installed
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import verify.run as run_module
from verify.suite import SuiteError, get_suite  # noqa: E402
from verify.train import PHASES  # noqa: E402

COLUMNS = (*PHASES, "evaluation", "other")
TARGETS = {"evaluation": 0.10, "sampling": 0.05}  # at most this share of a run (issue 10)


@dataclass
class Split:
    name: str
    steps: int
    validations: int
    seconds: dict[str, float]  # per column of COLUMNS
    wall: float

    def projected(self, steps: int, validations: int) -> "Split":
        """The same run at ``steps`` steps: per-step phases scale with steps, validation with the
        number of validations, evaluation and set-up unchanged."""
        per_step = steps / self.steps
        scaled = {k: v * per_step for k, v in self.seconds.items() if k in ("sampling", "forward_backward", "optimizer")}
        scaled["validation"] = self.seconds["validation"] * validations / max(self.validations, 1)
        scaled["evaluation"], scaled["other"] = self.seconds["evaluation"], self.seconds["other"]
        return Split(self.name, steps, validations, scaled, sum(scaled.values()))


def validations(steps: int, eval_every: int) -> int:
    """How many times ``train`` validates: every ``eval_every`` steps and at the last step."""
    return steps // eval_every + (steps % eval_every != 0)


def measure_run(spec) -> Split:
    """Execute one run with the evaluation timed; its phases as a ``Split``."""
    captured: dict = {"evaluation": 0.0}
    real_train, real_measure = run_module.train, run_module.measure_length

    def train(*args, **kwargs):
        captured["train"] = real_train(*args, **kwargs)
        return captured["train"]

    def measure_length(*args, **kwargs):
        start = time.perf_counter()
        try:
            return real_measure(*args, **kwargs)
        finally:
            captured["evaluation"] += time.perf_counter() - start

    run_module.train, run_module.measure_length = train, measure_length
    try:
        result = run_module.execute(spec)
    finally:
        run_module.train, run_module.measure_length = real_train, real_measure
    if result.status != "ok":
        raise SystemExit(f"lengthgen: error: run {spec.task}/{spec.condition} failed ({result.reason}); "
                         f"the split needs a run that trains")
    seconds = dict(captured["train"].phase_seconds)
    seconds["evaluation"] = captured["evaluation"]
    seconds["other"] = max(0.0, result.wall_seconds - sum(seconds.values()))
    return Split(f"{spec.task}/{spec.condition}", spec.train.steps, validations(spec.train.steps, spec.train.eval_every),
                 seconds, result.wall_seconds)


def format_table(splits: list[Split]) -> str:
    rows = [("run", "steps", "wall s", *COLUMNS)]
    for s in splits:
        rows.append((s.name, str(s.steps), f"{s.wall:.1f}",
                     *(f"{s.seconds[c]:.2f}s {100 * s.seconds[c] / s.wall:4.1f}%" for c in COLUMNS)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def target_lines(splits: list[Split]) -> list[str]:
    lines = []
    for column, limit in TARGETS.items():
        shares = [s.seconds[column] / s.wall for s in splits]
        worst = max(shares)
        verdict = "met" if worst <= limit else "NOT met"
        lines.append(f"{column}: worst {100 * worst:.1f}% of a run (target <= {100 * limit:.0f}%): {verdict}")
    return lines


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--suite", default="default", help="suite whose runs are timed")
    p.add_argument("--tasks", default="", help="comma-separated subset of the suite's tasks (default: all)")
    p.add_argument("--conditions", default="", help="comma-separated subset of the suite's conditions (default: all)")
    p.add_argument("--seed", type=int, default=0, help="the seed of the runs")
    p.add_argument("--steps", type=int, default=300, help="training steps per run (the suite's count is projected)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (report workers run with 1)")
    p.add_argument("--against-padded", action="store_true",
                   help="also time each run with skip_padding off, interleaved, and print the ratios")
    args = p.parse_args(argv)
    if args.steps < 1 or args.threads < 1:
        p.error("need --steps >= 1 and --threads >= 1")
    args.tasks = [t for t in args.tasks.split(",") if t]
    args.conditions = [c for c in args.conditions.split(",") if c]
    return args


def select(args: argparse.Namespace) -> list:
    """The suite's specs at ``args.seed`` and the chosen tasks/conditions, with the step count cut."""
    try:
        suite = get_suite(args.suite)
    except SuiteError as err:
        raise SystemExit(f"lengthgen: error: {err}")
    full = [s for s in suite.with_overrides(seeds=(args.seed,)).runs()]
    short = suite.with_overrides(seeds=(args.seed,), steps=args.steps).runs()
    for wanted, have, what in ((args.tasks, {s.task for s in full}, "task"),
                               (args.conditions, {s.condition for s in full}, "condition")):
        unknown = sorted(set(wanted) - have)
        if unknown:
            raise SystemExit(f"lengthgen: error: suite {args.suite!r} has no {what} {', '.join(unknown)}; "
                             f"choose from {', '.join(sorted(have))}")
    keep = [(f, s) for f, s in zip(full, short)
            if (not args.tasks or f.task in args.tasks) and (not args.conditions or f.condition in args.conditions)]
    return keep


def main(argv: list[str] | None = None) -> list[Split]:
    args = parse_args(argv)
    pairs = select(args)
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    measured, projected, baselines = [], [], []
    try:
        print(f"torch {torch.__version__}, {args.threads} thread(s); suite {args.suite!r}, seed {args.seed}, "
              f"{args.steps} steps per run", flush=True)
        for full, short in pairs:
            split = measure_run(short)
            measured.append(split)
            projected.append(split.projected(full.train.steps, validations(full.train.steps, full.train.eval_every)))
            print(f"  {split.name}: {split.wall:.1f} s", flush=True)
            if args.against_padded:
                padded = measure_run(dataclasses.replace(short, train=dataclasses.replace(short.train, skip_padding=False)))
                baselines.append(padded)
                print(f"  {split.name} (padded): {padded.wall:.1f} s", flush=True)
    finally:
        torch.set_num_threads(threads)
    print(f"\nmeasured ({args.steps} steps per run):")
    print(format_table(measured))
    if any(not math.isclose(p.steps, m.steps) for p, m in zip(projected, measured)):
        print("\nprojected to the suite's steps (per-step phases x steps, validation x validations; "
              "evaluation and other as measured):")
        print(format_table(projected))
    for line in target_lines(projected):
        print(line)
    if baselines:
        print("\npadded / skipping the padding (same spec otherwise, measured one after the other):")
        for skipping, padded in zip(measured, baselines):
            print(f"  {skipping.name}: forward_backward "
                  f"{padded.seconds['forward_backward'] / skipping.seconds['forward_backward']:.2f}x, "
                  f"wall {padded.wall / skipping.wall:.2f}x")
    return measured


if __name__ == "__main__":
    main()
