"""The ``lengthgen`` command line: parse arguments, run, and turn expected failures into one line.

Any error a user can cause (unknown task or suite, malformed definition, impossible lengths,
corrupt result store) is printed as ``lengthgen: error: ...`` with a non-zero exit and no
traceback.  Heavy imports (torch) happen only in the commands that need them, so ``--help`` is fast.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

EXAMPLES = """\
examples:
  lengthgen report                       # the default suite: train, evaluate, write reports/default/
  lengthgen report --no-train            # re-render reports/default/ from stored runs only
  lengthgen report --suite smoke         # a 20-second pipeline check
  lengthgen runs --suite smoke           # the stored runs of a suite, one line each
  lengthgen runs show 2db56d442cf8a49f   # one run's full spec and per-length measurements
  lengthgen tasks                        # the task catalogue with a one-line profile each
  lengthgen tasks show sort              # rule, an example with position ids, structure profile
  lengthgen tasks show my_task.py        # the same for a task defined in your own file
  lengthgen propose sort                 # auxiliary tasks derived from sort's definition
  lengthgen propose my_task.py --screen  # ... and a quick training screen to rank them
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lengthgen",
        description="Verify length-generalization theory on small transformers: derive auxiliary tasks from a "
                    "task's symbolic definition, train on CPU, and check the theory's predictions with "
                    "confidence intervals.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    from .executors import EXECUTORS
    from .suite import SUITES

    rep = sub.add_parser(
        "report", help="run a verification suite and write its report",
        description="Train every run of a suite (reusing runs already stored), evaluate at every length, judge the "
                    "suite's claims, and write reports/<suite>/: report.md, PNG plots, results.csv, runs.json "
                    "(runs are stored in runs.sqlite as they finish, so an interrupted suite resumes).",
        epilog="suites:\n" + "\n".join(f"  {name:10s} {s.description}" for name, s in SUITES.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    rep.add_argument("--suite", default="default", help="suite name (default: %(default)s)")
    rep.add_argument("--out", type=Path, default=Path("reports"), help="parent folder of the report (default: %(default)s)")
    rep.add_argument("--workers", type=int, default=2,
                     help="worker processes; two 1-thread workers are fastest on 2 cores (default: %(default)s)")
    rep.add_argument("--executor", choices=EXECUTORS, default="local",
                     help="where runs execute: local worker processes, or Ray tasks (needs `pip install -e "
                          "'.[ray]'`); same numbers, same store (default: %(default)s)")
    rep.add_argument("--address", default=None, metavar="ADDR",
                     help="with --executor ray: the Ray cluster to connect to (ray.init(address=ADDR)); "
                          "without it a local Ray instance of --workers CPUs is started")
    rep.add_argument("--no-train", action="store_true", help="only re-render the report from stored runs")
    rep.add_argument("--retry-failed", action="store_true", help="re-run runs stored as failed")
    rep.add_argument("--quiet", action="store_true", help="no progress bar")

    runs = sub.add_parser("runs", help="list a suite's stored runs, or show one",
                          description="Without arguments: every run stored in <out>/<suite>/runs.sqlite, one line "
                                      "each. `show KEY`: the run's full spec and its per-length measurements.")
    runs.add_argument("action", nargs="?", choices=["show"], help="show one run")
    runs.add_argument("key", nargs="?", help="run key (or a unique prefix), as listed")
    runs.add_argument("--suite", default="default", help="suite name (default: %(default)s)")
    runs.add_argument("--out", type=Path, default=Path("reports"), help="parent folder of the report (default: %(default)s)")

    tasks = sub.add_parser("tasks", help="list the task catalogue, or show one task",
                           description="Without arguments: the catalogue with a one-line structure profile each. "
                                       "`show NAME_OR_FILE`: the rule, an example instance with position ids, and "
                                       "the structure profile.")
    tasks.add_argument("action", nargs="?", choices=["show"], help="show one task")
    tasks.add_argument("task", nargs="?", help="catalogue name or path to a .py task file")

    prop = sub.add_parser(
        "propose", help="derive auxiliary tasks for a primary task (and optionally screen them)",
        description="Analyse a task's definition and print the auxiliary tasks its structure yields, ranked, "
                    "each with what it is derived from, the theorem or result behind it, an example and the "
                    "suggested mixture; plus what theory predicts for the primary alone. With --screen, train "
                    "quick models (primary alone and primary + each candidate) within a time budget and rank the "
                    "candidates by exact match beyond the training range.",
        epilog="examples:\n  lengthgen propose sort\n  lengthgen propose reverse_addition --format json\n"
               "  lengthgen propose my_task.py --screen --budget 120",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    prop.add_argument("task", help="catalogue name or path to a .py task file")
    prop.add_argument("--train-max", type=int, default=8, help="the primary trains at lengths up to this (default: %(default)s)")
    prop.add_argument("--format", choices=["text", "json"], default="text", help="output format (default: %(default)s)")
    prop.add_argument("--reindex", action="store_true", help="restrictions re-index positions instead of keeping them")
    prop.add_argument("--screen", action="store_true", help="train quick models to rank the candidates")
    prop.add_argument("--budget", type=float, default=180.0, help="screen time budget in seconds (default: %(default)s)")
    prop.add_argument("--seeds", type=int, default=2, help="screen seeds per condition (default: %(default)s)")
    prop.add_argument("--top", type=int, default=None, help="screen only the top K candidates")
    prop.add_argument("--workers", type=int, default=2, help="screen worker processes (default: %(default)s)")

    thm = sub.add_parser(
        "theorem", help="test a theorem on toy models",
        description="Run what a theorem needs on small models, then print the prediction (computed from theory), "
                    "the observation, the assumption checks and the verdict (holds / violated / inconclusive). "
                    "Runs are stored under --out and reused on a re-run.",
        epilog="examples:\n  lengthgen theorem --list\n  lengthgen theorem agk-bound --task reverse\n"
               "  lengthgen theorem sparsity-trend --task sparse_parity --ks 1,2,3",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    thm.add_argument("name", nargs="?", help="theorem name (see --list)")
    thm.add_argument("--list", action="store_true", help="list the theorems with their sources")
    thm.add_argument("--task", help="task to run it on (catalogue name or .py file)")
    thm.add_argument("--scale", default="default", help="experiment size: default or smallest (default: %(default)s)")
    thm.add_argument("--ks", default="1,2,3", help="sparsity-trend: the k values (default: %(default)s)")
    thm.add_argument("--out", type=Path, default=Path("reports/theorems"), help="store folder (default: %(default)s)")
    thm.add_argument("--workers", type=int, default=2, help="worker processes (default: %(default)s)")
    thm.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _report(args: argparse.Namespace) -> int:
    from .executors import check
    from .report import record_predictions, render
    from .runner import run_all
    from .suite import SuiteError, get_suite

    suite = get_suite(args.suite)
    if args.workers < 1:
        raise SuiteError(f"--workers must be at least 1, got {args.workers}")
    if not args.no_train:
        check(args.executor, args.address)  # before anything is written
    directory = args.out / suite.name
    command = "lengthgen " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    started = time.perf_counter()
    if args.no_train:
        verdicts = render(suite, directory, command, None)
    else:
        record_predictions(suite, directory)  # before any training
        run_all(suite.runs(), directory, args.workers, args.retry_failed, show_progress=not args.quiet,
                executor=args.executor, address=args.address)
        verdicts = render(suite, directory, command, time.perf_counter() - started)
    print(f"wrote {directory / 'report.md'} ({time.perf_counter() - started:.0f} s)")
    for claim, verdict in verdicts.items():
        print(f"  {verdict:12s} {claim}")
    return 0


def _num(value, fmt: str) -> str:
    return "—" if value is None or (isinstance(value, float) and value != value) else format(value, fmt)


def _runs(args: argparse.Namespace) -> int:
    from .store import RunStore, StoreError
    from .suite import get_suite

    suite = get_suite(args.suite)
    store = RunStore(args.out / suite.name)
    where = f"--suite {suite.name}" + ("" if args.out == Path("reports") else f" --out {shlex.quote(str(args.out))}")
    if not store.exists():
        raise StoreError(f"no stored runs in {store.directory}; run `lengthgen report {where}` first")
    stored = store.load()
    if args.action is None:
        print(f"{'key':16s}  {'task':10s} {'condition':20s} {'seed':>4s}  {'status':6s} {'step':>5s} "
              f"{'val. EM':>7s} {'wall s':>7s}")
        runs = sorted(stored.values(), key=lambda r: (r["spec"]["task"], r["spec"]["condition"], r["spec"]["seed"], r["key"]))
        for r in runs:
            s = r["spec"]
            ok = r["status"] == "ok"
            print(f"{r['key']:16s}  {s['task']:10s} {s['condition']:20s} {s['seed']:>4d}  {r['status']:6s} "
                  f"{_num(r.get('best_step') if ok else None, 'd'):>5s} "
                  f"{_num(r.get('validation_exact') if ok else None, '.3f'):>7s} {_num(r.get('wall_seconds'), '.1f'):>7s}")
        for r in runs:
            if r["status"] != "ok":
                print(f"failed {r['key']}: {r.get('reason', '').split(' | ')[0]}")
        keys = {spec.key for spec in suite.runs()}
        print(f"{len(runs)} stored runs in {store.path}; {len(keys & set(stored))} of the {len(keys)} runs of "
              f"suite {suite.name!r} are stored ({sum(1 for r in runs if r['status'] != 'ok')} failed)")
        return 0
    if not args.key:
        raise StoreError("`lengthgen runs show` needs a run key, e.g. `lengthgen runs show 2db56d44`; "
                         "`lengthgen runs` lists them")
    matches = [k for k in stored if k.startswith(args.key)]
    if len(matches) != 1:
        raise StoreError(f"{'no' if not matches else 'more than one'} stored run with key {args.key!r} in "
                         f"{store.path}; `lengthgen runs {where}` lists the stored keys")
    r = stored[matches[0]]
    s = r["spec"]
    print(f"run {r['key']}: {s['task']} / {s['condition']} / seed {s['seed']} — {r['status']}"
          f"{': ' + r['reason'] if r.get('reason') else ''}")
    print(f"  finished at {r.get('finished_at') or 'unknown'}; chosen step {_num(r.get('best_step'), 'd')}, "
          f"validation EM {_num(r.get('validation_exact'), '.3f')}, train {_num(r.get('train_seconds'), '.1f')} s, "
          f"wall {_num(r.get('wall_seconds'), '.1f')} s")
    print("spec:")
    flat = {**{k: v for k, v in s.items() if k != "train"}, **{f"train.{k}": v for k, v in s.get("train", {}).items()}}
    for name, value in flat.items():
        print(f"  {name:26s} {value}")
    if r.get("measurements"):
        lo, hi = s["train_lengths"]
        print("measurements (* = training length; ε = restriction error, c = restriction consistency):")
        print(f"  {'N':>4s}  {'r(N)':>4s} {'instances':>9s} {'exact':>6s} {'EM':>6s} {'tok. acc':>8s} {'ε(N)':>6s} {'c(N)':>6s}")
        for m in r["measurements"]:
            n_restr = max(m["restrictions"], 1)
            print(f"  {m['length']:>3d}{'*' if lo <= m['length'] <= hi else ' '}  {m['outputs']:>4d} {m['instances']:>9d} "
                  f"{m['exact']:>6d} {m['exact'] / max(m['instances'], 1):>6.3f} {m['token_accuracy']:>8.3f} "
                  f"{m['restriction_errors'] / n_restr:>6.3f} {m['consistent'] / n_restr:>6.3f}")
    return 0


def _tasks(args: argparse.Namespace) -> int:
    import numpy as np

    from auxtasks.derive import resolve_task
    from theory.catalogue import ALL_TASKS
    from theory.opaque import is_opaque
    from theory.serialize import Vocab, serialize
    from theory.task import TaskDefinitionError
    from theory.structure import structure_profile

    if args.action is None:
        width = max(len(name) for name in ALL_TASKS)
        for task in ALL_TASKS.values():
            profile = structure_profile(task)
            print(f"{task.name:{width}s}  {task.description}")
            print(f"{'':{width}s}  {profile.summary().split(': ', 1)[1]}")
        return 0
    if not args.task:
        raise TaskDefinitionError("`lengthgen tasks show` needs a task name or a .py file, e.g. `lengthgen tasks show sort`")
    task = resolve_task(args.task)
    n_value = max(task.min_length, min(6, task.max_length or 6))
    inputs, sol = task.generate(np.random.default_rng(0), 1, n_value)
    seq = serialize(task, inputs, sol.outputs, Vocab(task.symbols, (task.name,)))
    print(f"{task.name}: {task.description}")
    if is_opaque(task):
        print(f"  rule:      opaque: no symbolic analysis; y[t] for t < {task.output_length} is computed in Python: "
              f"{task.solver_note}")
        print(f"  support:   declared: {task.support_note}")
        print(f"  operands:  {', '.join(f'{o} ({e} tokens)' for o, e in zip(task.operand_names, task.operand_lengths))}")
    else:
        print(f"  rule:      y[t] = {task.rule}   for t < {task.output_length}")
        for seq_name, rule in task.intermediates:
            print(f"             {seq_name}[t] = {rule}")
        if len(task.operands) > 1:
            print(f"  operands:  {', '.join(f'{o} ({e} tokens)' for o, e in zip(task.operand_names, task.operand_lengths))}")
    print(f"  length n:  {task.length_meaning}; alphabet {task.alphabet}{' (distinct tokens)' if task.distinct else ''}")
    print(f"  example (n={n_value}):")
    print(f"    tokens:    {seq.tokens[0].tolist()}")
    print(f"    positions: {seq.positions[0].tolist()}")
    print(f"    loss mask: {seq.mask[0].astype(int).tolist()}")
    profile = structure_profile(task)
    print("  profile:")
    print(f"    sparsity:     {profile.sparsity()}; max |S_t| by n: "
          f"{', '.join(f'n={k}: {v}' for k, v in profile.support_sizes.items())}")
    for dep in profile.dependencies:
        print(f"    dependency:   {dep.read}: {dep.kind}")
    print(f"    C-RASP:       {profile.crasp.summary()}")
    print(f"    coupling:     {profile.coupling.summary()}")
    return 0


def _propose(args: argparse.Namespace) -> int:
    import json

    from auxtasks.derive import resolve_task

    from .propose import ScreenError, proposal, render_screen, render_text, screen

    task = resolve_task(args.task)
    prop = proposal(task, args.train_max, args.reindex)
    if args.screen:
        if args.seeds < 2:
            raise ScreenError("a screen needs at least 2 seeds per condition (--seeds 2)")
        prop["screen"] = screen(args.task, args.train_max, args.budget, args.seeds, args.workers, args.top,
                                show_progress=args.format == "text")
    if args.format == "json":
        print(json.dumps(prop, indent=1))
    else:
        print(render_text(prop))
        if args.screen:
            print(render_screen(prop["screen"]))
    return 0


def _theorem(args: argparse.Namespace) -> int:
    from .theorems import THEOREMS, TheoremError, describe_scale, run_theorem

    if args.list or not args.name:
        for name, (_, source, claim) in THEOREMS.items():
            print(f"{name:16s} {claim}\n{'':16s} source: {source}")
        return 0 if args.list else 2
    if not args.task:
        raise TheoremError(f"`lengthgen theorem {args.name}` needs --task, e.g. --task reverse")
    extra = {}
    if args.name == "sparsity-trend":
        try:
            extra["ks"] = tuple(int(k) for k in args.ks.split(","))
        except ValueError:
            raise TheoremError(f"--ks must be comma-separated integers, got {args.ks!r}") from None
    result = run_theorem(args.name, args.task, args.scale, args.out, args.workers, not args.quiet, **extra)
    print(result.render())
    print(f"  scale:       {args.scale} ({describe_scale(args.scale)})")
    return 0


def main(argv: list[str] | None = None) -> int:
    from auxtasks.restriction import RestrictionError
    from theory.task import TaskDefinitionError

    from .store import StoreError
    from .suite import SuiteError

    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        commands = {"report": _report, "runs": _runs, "tasks": _tasks, "propose": _propose, "theorem": _theorem}
        return commands[args.command](args)
    except (TaskDefinitionError, SuiteError, StoreError, RestrictionError) as err:
        print(f"lengthgen: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lengthgen: interrupted; finished runs are stored and will be reused", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and closed: not an error worth a traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
