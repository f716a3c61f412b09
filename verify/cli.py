"""The ``lengthgen`` command line: parse arguments, run, and turn expected failures into one line.

Any error a user can cause (unknown task or suite, malformed definition, impossible lengths,
corrupt result store) is printed as ``lengthgen: error: ...`` with a non-zero exit and no
traceback.  Heavy imports (torch) happen only in the commands that need them, so ``--help`` is fast.
"""

from __future__ import annotations

import argparse
import math
import os
import re
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


#: the largest training length `propose` accepts: test lengths go to 2x this, and instance tensors
#: grow with the square of the sequence length (100000 asked for 74 GiB)
MAX_TRAIN_LENGTH = 512


class _Parser(argparse.ArgumentParser):
    """argparse with the project's one-line error format (``lengthgen: error: ...``, exit 2)."""

    def error(self, message: str):
        option, _, problem = message.partition(": ")
        if option.startswith("argument ") and problem.startswith(("must be", "needs")):
            message = f"{option.removeprefix('argument ').split('/')[0]} {problem}"  # "--top must be ..."
        print(f"lengthgen: error: {self.prog}: {message} (see `{self.prog} --help`)", file=sys.stderr)
        raise SystemExit(2)


def _int_in(low: int, high: int | None = None):
    """An argparse type: an integer in low..high (high None: no upper limit)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
        if value < low or (high is not None and value > high):
            allowed = f">= {low}" if high is None else f"in {low}..{high}"
            raise argparse.ArgumentTypeError(f"must be an integer {allowed}, got {value}")
        return value
    parse.__name__ = "integer"
    return parse


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds > 0, got {text!r}")
    return value


def _k_values(text: str) -> tuple[int, ...]:
    try:
        ks = tuple(int(k) for k in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be comma-separated integers such as 1,2,3, got {text!r}") from None
    if any(k < 1 for k in ks) or len(set(ks)) < 2:
        raise argparse.ArgumentTypeError(f"needs at least 2 distinct k >= 1 (a trend over one k is undefined), "
                                         f"e.g. 1,2,3; got {text!r}")
    return ks


def _check_writable_folder(folder: Path, option: str = "--out") -> None:
    """Refuse, before any work, an output folder that is not (and cannot become) a writable directory.

    The check writes and removes a probe file in the nearest existing folder, since permission
    bits say nothing on a read-only mount (and nothing at all for root)."""
    from .store import StoreError

    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        what = f"{folder} is a file" if existing == folder else f"{existing} (a parent of {folder}) is not a folder"
        raise StoreError(f"{option} {folder}: {what}; give a folder (it is created if missing)")
    probe = existing / f".lengthgen-write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise StoreError(f"{option} {folder}: cannot write in {existing} ({err.strerror or err}); give a writable "
                         "folder") from None
    for name in ("runs.sqlite", "runs.json"):
        stored = folder / name
        if stored.is_file() and not os.access(stored, os.W_OK):
            raise StoreError(f"{stored} is read-only; make it writable (chmod u+w) or give another {option}")


#: the values of ``report --executor``: the same tuple as ``verify.executors.EXECUTORS`` (a test
#: checks), spelled out because importing the executors loads the suite registry and sympy
EXECUTOR_CHOICES = ("local", "ray")
#: placeholder epilog of ``report --help``, replaced by the suite list only when that help is printed
SUITE_LIST = "<suites>"


def package_version() -> str:
    """The installed distribution's version, or pyproject.toml's when running from an uninstalled checkout."""
    from importlib import metadata

    try:
        return metadata.version("lengthgen")
    except metadata.PackageNotFoundError:
        pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
        found = re.search(r'^version\s*=\s*"([^"]+)"', pyproject.read_text(), re.M) if pyproject.is_file() else None
        return found.group(1) if found else "unknown"


class _VersionAction(argparse.Action):
    """``--version``: looks the version up only when asked (reading package metadata scans sys.path)."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, help="print the version and exit")

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"lengthgen {package_version()}")
        parser.exit()


def committed_suites() -> list[tuple[str, str]]:
    """(name, first docstring line) of each suite file in verify/suites/, read without importing it:
    loading a suite imports sympy and the task catalogue (about a second), which help must not pay."""
    import ast

    listed = []
    for path in sorted((Path(__file__).parent / "suites").glob("*.py")):
        if path.stem.startswith("_"):
            continue
        try:
            doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        except (OSError, SyntaxError, ValueError):
            doc = "(cannot read this file: `lengthgen report --suite NAME` says why)"
        listed.append((path.stem, doc.strip().splitlines()[0] if doc.strip() else ""))
    return listed


class _ReportHelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Fills in the suite list of ``report --help`` only when that help is printed."""

    def add_text(self, text):
        if text == SUITE_LIST:
            text = "suites (verify/suites/NAME.py, or give a path to your own suite file):\n" + "\n".join(
                f"  {name:10s} {line}" for name, line in committed_suites())
        super().add_text(text)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="lengthgen",
        description="Verify length-generalization theory on small transformers: derive auxiliary tasks from a "
                    "task's symbolic definition, train on CPU, and check the theory's predictions with "
                    "confidence intervals.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action=_VersionAction)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    rep = sub.add_parser(
        "report", help="run a verification suite and write its report",
        description="Train every run of a suite (reusing runs already stored), evaluate at every length, judge the "
                    "suite's claims, and write reports/<suite>/: report.md, PNG plots, results.csv, runs.json "
                    "(runs are stored in runs.sqlite as they finish, so an interrupted suite resumes).",
        epilog=SUITE_LIST, formatter_class=_ReportHelpFormatter)
    rep.add_argument("--suite", default="default",
                     help="suite name (verify/suites/NAME.py) or path to a .py file defining SUITE = Suite(...) "
                          "(default: %(default)s)")
    rep.add_argument("--out", type=Path, default=Path("reports"), help="parent folder of the report (default: %(default)s)")
    rep.add_argument("--workers", type=_int_in(1), default=2,
                     help="worker processes; two 1-thread workers are fastest on 2 cores (default: %(default)s)")
    rep.add_argument("--executor", choices=EXECUTOR_CHOICES, default="local",
                     help="where runs execute: local worker processes, or Ray tasks (needs `pip install -e "
                          "'.[ray]'`); same numbers, same store (default: %(default)s)")
    rep.add_argument("--address", default=None, metavar="ADDR",
                     help="with --executor ray: the Ray cluster to connect to (ray.init(address=ADDR)); "
                          "without it a local Ray instance of --workers CPUs is started")
    rep.add_argument("--no-train", action="store_true", help="only re-render the report from stored runs")
    rep.add_argument("--retry-failed", action="store_true", help="re-run runs stored as failed")
    rep.add_argument("--quiet", action="store_true", help="no progress bar")
    rep.add_argument("--seeds", type=_seed_list, default=None, metavar="S,S,...",
                     help="quick look: these seeds instead of the suite's; the report says so and goes to "
                          "<out>/<suite>-quick/")
    rep.add_argument("--steps", type=_int_in(1), default=None, metavar="N",
                     help="quick look: N training steps instead of the suite's (every condition); marked and "
                          "written like --seeds")
    rep.add_argument("--fresh", action="store_true",
                     help="retrain everything: the existing store and weights are moved aside to "
                          "<folder>/previous-<time>/ (never deleted)")
    rep.add_argument("--wait", action="store_true",
                     help="if another lengthgen process is writing this suite's folder, wait for it (default: refuse)")

    runs = sub.add_parser("runs", help="list a suite's stored runs, or show one",
                          description="Without arguments: every run stored in <out>/<suite>/runs.sqlite, one line "
                                      "each. `show KEY`: the run's full spec and its per-length measurements.")
    runs.add_argument("action", nargs="?", choices=["show"], help="show one run")
    runs.add_argument("key", nargs="?", help="run key (or a unique prefix), as listed")
    runs.add_argument("--suite", default="default", help="suite name or suite file (default: %(default)s)")
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
               "  lengthgen propose reverse_addition --related   # related tasks to train longer beside it\n"
               "  lengthgen propose my_task.py --screen --budget 120",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    prop.add_argument("task", help="catalogue name or path to a .py task file")
    prop.add_argument("--train-max", type=_int_in(1, MAX_TRAIN_LENGTH), default=8,
                      help=f"the primary trains at lengths up to this, at most {MAX_TRAIN_LENGTH} and what the task "
                           "admits (default: %(default)s)")
    prop.add_argument("--format", choices=["text", "json"], default="text", help="output format (default: %(default)s)")
    prop.add_argument("--reindex", action="store_true", help="restrictions re-index positions instead of keeping them")
    prop.add_argument("--related", action="store_true",
                      help="also rank catalogue and derived tasks as longer-trained companions by their definition-level "
                           "relatedness, with the score and the reason per component")
    prop.add_argument("--screen", action="store_true", help="train quick models to rank the candidates")
    prop.add_argument("--budget", type=_positive_seconds, default=180.0, help="screen time budget in seconds (default: %(default)s)")
    prop.add_argument("--seeds", type=_int_in(2), default=2, help="screen seeds per condition (default: %(default)s)")
    prop.add_argument("--top", type=_int_in(1), default=None, help="screen only the top K candidates")
    prop.add_argument("--workers", type=_int_in(1), default=2, help="screen worker processes (default: %(default)s)")

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
    thm.add_argument("--ks", type=_k_values, default=(1, 2, 3),
                     help="sparsity-trend: the k values, at least 2 distinct (default: 1,2,3)")
    thm.add_argument("--out", type=Path, default=Path("reports/theorems"), help="store folder (default: %(default)s)")
    thm.add_argument("--workers", type=_int_in(1), default=2, help="worker processes (default: %(default)s)")
    thm.add_argument("--quiet", action="store_true", help="no progress bar")
    thm.add_argument("--wait", action="store_true",
                     help="if another lengthgen process is writing the same store, wait for it (default: refuse)")
    return parser


def _seed_list(text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seeds must be comma-separated integers >= 0, e.g. 0,1; got {text!r}") from None
    if not seeds or any(v < 0 for v in seeds) or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"--seeds must be distinct integers >= 0, e.g. 0,1; got {text!r}")
    return seeds


def report_folder(out: Path, suite) -> Path:
    """Where a suite's report goes: ``<out>/<name>``, or ``<out>/<name>-quick`` for a quick look
    with overrides (so it never mixes into the suite's own report)."""
    return out / (f"{suite.name}-quick" if suite.overrides else suite.name)


def _report(args: argparse.Namespace) -> int:
    from .executors import check
    from .lock import folder_lock
    from .suite import SuiteError, load_suite

    suite = load_suite(args.suite).with_overrides(seeds=args.seeds, steps=args.steps)
    if args.workers < 1:
        raise SuiteError(f"--workers must be at least 1, got {args.workers}")
    if args.no_train and args.fresh:
        raise SuiteError("--fresh retrains everything and --no-train trains nothing; use one of them")
    if not args.no_train:
        check(args.executor, args.address)  # before anything is written
    directory = report_folder(args.out, suite)
    _check_writable_folder(directory)  # before training, so results are never computed and then lost
    with folder_lock(directory, wait=args.wait, command="lengthgen report"):  # one writer per suite folder
        return _report_locked(args, suite, directory)


def _report_locked(args: argparse.Namespace, suite, directory: Path) -> int:
    from .api import produce_report  # the same path as verify.api.run_suite

    command = "lengthgen " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    started = time.perf_counter()
    if args.fresh:
        from .runner import move_aside

        moved = move_aside(directory)  # never deleted: moved into the folder's previous-<time>/
        if moved is not None:
            print(f"moved the old store aside to {moved}")
    verdicts = produce_report(suite, directory, workers=args.workers, retry_failed=args.retry_failed,
                              show_progress=not args.quiet, executor=args.executor, address=args.address,
                              no_train=args.no_train, command=command)
    print(f"wrote {directory / 'report.md'} ({time.perf_counter() - started:.0f} s)")
    for claim, verdict in verdicts.items():
        print(f"  {verdict:12s} {claim}")
    return 0


def _num(value, fmt: str) -> str:
    return "—" if value is None or (isinstance(value, float) and value != value) else format(value, fmt)


def _runs(args: argparse.Namespace) -> int:
    from .run import weights_path
    from .spec import Measurement
    from .store import RunStore, StoreError
    from .suite import load_suite

    suite = load_suite(args.suite)
    store = RunStore(args.out / suite.name)
    where = f"--suite {args.suite}" + ("" if args.out == Path("reports") else f" --out {shlex.quote(str(args.out))}")
    if not store.exists():
        raise StoreError(f"no stored runs in {store.directory}; run `lengthgen report {where}` first")
    stored = store.runs() if args.action is None else store.load()
    if args.action is None:
        print(f"{'key':16s}  {'task':10s} {'condition':20s} {'seed':>4s}  {'status':6s} {'step':>5s} "
              f"{'val. EM':>7s} {'wall s':>7s} {'weights':>9s}")
        runs = sorted(stored.values(), key=lambda r: (r.spec.task, r.spec.condition, r.spec.seed, r.key))
        for r in runs:
            s = r.spec
            weights = weights_path(store.directory, r.key)
            size = f"{weights.stat().st_size / 1024:.0f} KiB" if weights.exists() else "—"
            print(f"{r.key:16s}  {s.task:10s} {s.condition:20s} {s.seed:>4d}  {r.status:6s} "
                  f"{_num(r.best_step if r.ok else None, 'd'):>5s} "
                  f"{_num(r.validation_exact if r.ok else None, '.3f'):>7s} {_num(r.wall_seconds, '.1f'):>7s} {size:>9s}")
        for r in runs:
            if not r.ok:
                print(f"failed {r.key}: {r.reason.split(' | ')[0]}")
        keys = {spec.key for spec in suite.runs()}
        print(f"{len(runs)} stored runs in {store.path}; {len(keys & set(stored))} of the {len(keys)} runs of "
              f"suite {suite.name!r} are stored ({sum(1 for r in runs if not r.ok)} failed); weights (— = not "
              f"saved, e.g. a fresh clone) in {store.directory / 'weights'}")
        return 0
    if not args.key:
        raise StoreError("`lengthgen runs show` needs a run key, e.g. `lengthgen runs show 2db56d44`; "
                         "`lengthgen runs` lists them")
    matches = [k for k in stored if k.startswith(args.key)]
    if len(matches) != 1:
        raise StoreError(f"{'no' if not matches else 'more than one'} stored run with key {args.key!r} in "
                         f"{store.path}; `lengthgen runs {where}` lists the stored keys")
    r = store.load()[matches[0]]  # shown as stored, every field
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
        print("measurements (* = training length; ε = restriction error, c = restriction consistency; "
              "1st err = median output index of the first error among wrong instances):")
        print(f"  {'N':>4s}  {'r(N)':>4s} {'instances':>9s} {'exact':>6s} {'EM':>6s} {'tok. acc':>8s} {'ε(N)':>6s} "
              f"{'c(N)':>6s} {'1st err':>7s}")
        for m in r["measurements"]:
            n_restr = max(m["restrictions"], 1)
            median = Measurement(**m).first_error_median()
            print(f"  {m['length']:>3d}{'*' if lo <= m['length'] <= hi else ' '}  {m['outputs']:>4d} {m['instances']:>9d} "
                  f"{m['exact']:>6d} {m['exact'] / max(m['instances'], 1):>6.3f} {m['token_accuracy']:>8.3f} "
                  f"{m['restriction_errors'] / n_restr:>6.3f} {m['consistent'] / n_restr:>6.3f} {_num(median, '.0f'):>7s}")
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
        from theory.rule_tokens import RuleTokenError, rule_tokens

        try:  # what a rule-prefix run shows the model (docs/design.md §13)
            tokens = rule_tokens(task)
            print(f"  rule tokens ({len(tokens)}): {' '.join(tokens)}")
        except RuleTokenError as err:
            print(f"  rule tokens: none ({err})")
    print(f"  length n:  {task.length_meaning}; alphabet {task.alphabet}{' (distinct tokens)' if task.distinct else ''}")
    print(f"  example (n={n_value}):")
    print(f"    tokens:    {seq.tokens[0].tolist()}")
    print(f"    positions: {seq.positions[0].tolist()}")
    print(f"    loss mask: {seq.mask[0].astype(int).tolist()}")
    profile = structure_profile(task)
    print("  profile:")
    print(f"    sparsity:     {profile.sparsity()} (minimal visible support: inputs and earlier outputs); "
          f"max |S_t| by n: {', '.join(f'n={k}: {v}' for k, v in profile.support_sizes.items())}")
    if not profile.opaque:
        print(f"    provenance:   {profile.provenance_sparsity()} (through every intermediate); max |S_t| by n: "
              f"{', '.join(f'n={k}: {v}' for k, v in profile.provenance_sizes.items())}")
    for w in profile.witnesses:
        print(f"    witness:      {w.summary()} ({w.evidence})")
    for why in profile.unresolved:
        print(f"    no witness:   {why}; its provenance support is kept")
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
    if args.train_max < task.min_length or (task.max_length is not None and args.train_max > task.max_length):
        top = min(MAX_TRAIN_LENGTH, task.max_length or MAX_TRAIN_LENGTH)
        raise ScreenError(f"--train-max {args.train_max} is outside what task {task.name!r} admits; use "
                          f"{task.min_length}..{top}")
    prop = proposal(task, args.train_max, args.reindex)
    if args.related:
        from .propose import related_companions

        prop["related"] = related_companions(task, args.train_max)
    if args.screen:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="lengthgen-screen-") as scratch:  # removed however it ends
            prop["screen"] = screen(args.task, args.train_max, args.budget, args.seeds, args.workers, args.top,
                                    out=Path(scratch), show_progress=args.format == "text")
    if args.format == "json":
        print(json.dumps(prop, indent=1))
    else:
        print(render_text(prop))
        if args.related:
            from .propose import render_related

            print(render_related(prop["related"], args.train_max))
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
    from .lock import folder_lock
    from .theorems import SCALES

    if args.name not in THEOREMS or args.scale not in SCALES:  # refused by run_theorem, but before any folder is made
        run_theorem(args.name, args.task, args.scale, args.out)
    extra = {"ks": args.ks} if args.name == "sparsity-trend" else {}
    # before training, so results are never computed and then lost (the store folder as run_theorem names it)
    _check_writable_folder(args.out / f"{args.name}-{args.task}-{args.scale}", "--out")
    with folder_lock(args.out, wait=args.wait, command="lengthgen theorem"):
        result = run_theorem(args.name, args.task, args.scale, args.out, args.workers, not args.quiet, **extra)
    print(result.render())
    print(f"  scale:       {args.scale} ({describe_scale(args.scale)})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)  # --help and --version exit here, before the heavy imports below

    import sqlite3

    from auxtasks.restriction import RestrictionError
    from theory.task import TaskDefinitionError

    from .store import StoreError
    from .suite import SuiteError

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
    except (OSError, sqlite3.OperationalError) as err:  # a write the checks up front could not foresee
        where = f" {err.filename}" if getattr(err, "filename", None) else ""
        print(f"lengthgen: error: a file operation failed{where}: {getattr(err, 'strerror', None) or err}; check "
              "that the folder exists, is writable and the disk has space (stored runs are kept; re-run to resume)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
