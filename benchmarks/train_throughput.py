"""Training throughput of our transformer against a stock PyTorch encoder of the same size.

What it measures
----------------
Steps per second and tokens per second of full training steps (forward, cross-entropy, backward,
gradient clipping to norm 1, AdamW update, ``loss.item()``, as in ``verify.train``) on random
tokens, for

* ``ours-rope`` / ``ours-none``: ``verify.model.Transformer`` with position scheme ``rope`` and
  ``none`` (NoPE);
* ``baseline``: ``nn.TransformerEncoder`` of ``nn.TransformerEncoderLayer(d, heads,
  dim_feedforward=4d, dropout=0, activation='gelu', batch_first=True, norm_first=True)`` with an
  ``nn.Embedding`` token table, a learned absolute position table, a final LayerNorm and a linear
  head without bias, run with a causal mask (``nn.Transformer.generate_square_subsequent_mask``,
  ``is_causal=True``).

All models see the same random (tokens, targets) batches of shape ``(batch, seq_len)`` over the
same vocabulary, and use the same AdamW settings as ``verify.train`` (lr 1e-3, betas (0.9, 0.98),
no weight decay).  Data are generated before timing, so only the model step is measured.
``tokens/s`` counts every input token of the padded batch: ``batch * seq_len * steps/s``.

Each measurement runs untimed warm-up steps (``--warmup`` before a model's first measurement,
one before each later one), then as many steps as fit in ``--seconds`` (default 8 s, so three
models x three repetitions take about 75 s).
Measurements are repeated ``--repeats`` times, interleaving the models (the order rotates each
repetition) so that machine noise is spread over all of them; the table shows the median.
``range`` is the spread (min-max) of tokens/s over the repetitions: a wide range means a noisy
machine, so read small differences with care.

How to read the ratio
---------------------
``ours/baseline`` = median tokens/s of our model / median tokens/s of the baseline.  Above 1 our
model trains faster than stock PyTorch, below 1 slower (0.8 means our training steps take 1.25×
as long).  Both models do the same work up to the position scheme (rotary or none vs. a learned
table) and small bias/parameter differences, so the ratio is mainly the cost of our own
attention/MLP code relative to PyTorch's built-in layers.  The lines under the table give the
ratio within each repetition (measurements taken close together in time); if they disagree
strongly with each other, the machine was too noisy for the median to mean much.  Absolute numbers depend on the machine
and on ``--threads``; the ratio is what to compare between machines or commits.  On a machine
where other processes keep the cores busy (the run warns when the load average is high), two
threads per process can collapse (each step waits for a preempted thread): compare with
``--threads 1`` before drawing conclusions.

Usage::

    .venv/bin/python benchmarks/train_throughput.py             # ~75 s with defaults
    .venv/bin/python benchmarks/train_throughput.py --quick     # smoke run, a few seconds
    .venv/bin/python benchmarks/train_throughput.py --threads 1 --layers 4 --d-model 128
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

try:
    from verify.model import ModelConfig, Transformer, parameter_count
except ImportError:  # run as a script from a checkout without the package installed
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from verify.model import ModelConfig, Transformer, parameter_count

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared timing loop beside this file
from timing import run_for  # noqa: E402

MODELS = ("ours-rope", "ours-none", "baseline")
POOL = 8  # distinct random batches cycled through during a measurement


class BaselineTransformer(nn.Module):
    """Stock PyTorch pre-LN encoder with a causal mask, shaped like ``verify.model.Transformer``."""

    def __init__(self, vocab_size: int, layers: int, d_model: int, heads: int, seq_len: int):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, d_model)
        self.pos_embed = nn.Embedding(seq_len, d_model)
        layer = nn.TransformerEncoderLayer(d_model, heads, dim_feedforward=4 * d_model, dropout=0.0,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(d_model), enable_nested_tensor=False)
        self.head = nn.Linear(d_model, vocab_size, bias=False)
        self.register_buffer("causal_mask", nn.Transformer.generate_square_subsequent_mask(seq_len), persistent=False)

    def forward(self, tokens: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        h = self.embed(tokens) + self.pos_embed(positions)
        L = tokens.shape[1]
        h = self.encoder(h, mask=self.causal_mask[:L, :L], is_causal=True)
        return self.head(h)


@dataclass
class Measurement:
    steps: int
    seconds: float

    @property
    def steps_per_s(self) -> float:
        return self.steps / self.seconds


@dataclass
class ModelResult:
    name: str
    params: int
    tokens_per_step: int
    runs: list[Measurement] = field(default_factory=list)

    @property
    def steps_per_s(self) -> float:
        return statistics.median(m.steps_per_s for m in self.runs)

    @property
    def tokens_per_s(self) -> float:
        return self.steps_per_s * self.tokens_per_step

    @property
    def tokens_per_s_range(self) -> tuple[float, float]:
        values = [m.steps_per_s * self.tokens_per_step for m in self.runs]
        return min(values), max(values)


def build_model(name: str, args: argparse.Namespace) -> nn.Module:
    if name == "baseline":
        return BaselineTransformer(args.vocab, args.layers, args.d_model, args.heads, args.seq_len)
    scheme = name.split("-", 1)[1]
    cfg = ModelConfig(vocab_size=args.vocab, layers=args.layers, d_model=args.d_model, heads=args.heads,
                      position_scheme=scheme, max_positions=max(256, args.seq_len))
    return Transformer(cfg)


def make_stepper(model: nn.Module, data: list[tuple[torch.Tensor, torch.Tensor]],
                 positions: torch.Tensor) -> Callable[[int], None]:
    """A closure running one training step on batch ``i % len(data)``; the same for every model."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.98), weight_decay=0.0)
    model.train()

    def step(i: int) -> None:
        tokens, targets = data[i % len(data)]
        logits = model(tokens, positions)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
        loss.item()  # verify.train reads the loss every step (divergence check)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    return step


def measure(step: Callable[[int], None], seconds: float, warmup: int) -> Measurement:
    return Measurement(*run_for(step, seconds, warmup))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--seconds", type=float, default=8.0, help="timed seconds per measurement")
    p.add_argument("--repeats", type=int, default=3, help="measurements per model (median reported)")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps before a model's first measurement (one before each later one)")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads for the run")
    p.add_argument("--layers", type=int, default=2, help="layers")
    p.add_argument("--d-model", type=int, default=64, help="model width")
    p.add_argument("--heads", type=int, default=4, help="attention heads")
    p.add_argument("--seq-len", type=int, default=33, help="input tokens per row of the padded batch")
    p.add_argument("--batch", type=int, default=64, help="rows per batch")
    p.add_argument("--vocab", type=int, default=16, help="vocabulary size")
    p.add_argument("--models", default=",".join(MODELS), help=f"comma-separated subset of {','.join(MODELS)}")
    p.add_argument("--seed", type=int, default=0, help="seed for data and initialisation")
    p.add_argument("--quick", action="store_true", help="smoke run: 2 s per measurement, 1 repetition")
    args = p.parse_args(argv)
    if args.quick:
        args.seconds, args.repeats = 2.0, 1
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in args.models if m not in MODELS]
    if unknown or not args.models:
        p.error(f"unknown model(s) {unknown}; choose from {', '.join(MODELS)}")
    if args.seconds <= 0 or args.repeats < 1 or args.warmup < 0 or args.threads < 1:
        p.error("need --seconds > 0, --repeats >= 1, --warmup >= 0, --threads >= 1")
    return args


def run(args: argparse.Namespace) -> dict[str, ModelResult]:
    gen = torch.Generator().manual_seed(args.seed)
    shape = (args.batch, args.seq_len)
    data = [(torch.randint(args.vocab, shape, generator=gen), torch.randint(args.vocab, shape, generator=gen))
            for _ in range(POOL)]
    positions = torch.arange(args.seq_len).expand(shape).contiguous()
    steppers, results = {}, {}
    for name in args.models:
        torch.manual_seed(args.seed)
        model = build_model(name, args)
        steppers[name] = make_stepper(model, data, positions)
        results[name] = ModelResult(name, parameter_count(model), args.batch * args.seq_len)
    for rep in range(args.repeats):
        k = rep % len(args.models)
        for name in args.models[k:] + args.models[:k]:  # rotate the order every repetition
            # full warm-up before a model's first measurement; later ones re-warm caches with one step
            warmup = args.warmup if rep == 0 else min(args.warmup, 1)
            results[name].runs.append(measure(steppers[name], args.seconds, warmup))
    return results


def format_table(results: dict[str, ModelResult]) -> str:
    base = results.get("baseline")
    rows = [("model", "params", "steps/s", "tokens/s", "range tokens/s", "ours/baseline")]
    for r in results.values():
        lo, hi = r.tokens_per_s_range
        ratio = f"{r.tokens_per_s / base.tokens_per_s:.2f}" if base is not None and r is not base else "-"
        rows.append((r.name, f"{r.params:,}", f"{r.steps_per_s:.1f}", f"{r.tokens_per_s:,.0f}",
                     f"{lo:,.0f}-{hi:,.0f}", ratio))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
             for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def _loadavg() -> float | None:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # not available on every platform
        return None


def _load_warning(before: float | None) -> str:
    """A warning when other processes were competing for the CPU (the 1-minute load average
    before the run, which does not yet include this benchmark, was already near the core count)."""
    cores = os.cpu_count() or 1
    if before is None or before < 0.5 * cores:
        return ""
    return (f"WARNING: load average {before:.2f} on {cores} cores before the run: other processes are "
            f"(or were, within the last minute) using the CPU; absolute numbers, and to a lesser "
            f"degree the ratio, may be unreliable")


def main(argv: list[str] | None = None) -> dict[str, ModelResult]:
    args = parse_args(argv)
    load_before = _loadavg()
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        with torch.random.fork_rng(devices=[]):  # leave the caller's RNG state untouched
            print(f"torch {torch.__version__}, {args.threads} thread(s); batch {args.batch} x seq {args.seq_len} "
                  f"= {args.batch * args.seq_len} tokens/step; {args.layers} layers, d {args.d_model}, "
                  f"{args.heads} heads, vocab {args.vocab}; {args.repeats} x {args.seconds:g} s per model "
                  f"after {args.warmup} warm-up steps", flush=True)
            results = run(args)
    finally:
        torch.set_num_threads(threads)
    print(format_table(results))
    if "baseline" in results and args.repeats > 1:
        base = results["baseline"].runs
        for r in results.values():
            if r.name != "baseline":
                paired = [m.steps_per_s / b.steps_per_s for m, b in zip(r.runs, base)]
                print(f"{r.name}/baseline per repetition: {', '.join(f'{x:.2f}' for x in paired)}")
    busy = _load_warning(load_before)
    if busy:
        print(busy)
    return results


if __name__ == "__main__":
    main()
