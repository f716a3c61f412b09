"""Training throughput of our transformer against a stock PyTorch encoder of the same size.

What it measures
----------------
Steps per second and tokens per second of full training steps (forward, cross-entropy, backward,
gradient clipping to norm 1, AdamW update, ``loss.item()``, as in ``verify.train``, whose
``make_optimizer`` and ``clip_gradients`` every model here uses) on random tokens, at every model
size of ``--sizes`` (default ``2x64,4x128``: layers x width), for

* ``ours-rope`` / ``ours-none``: ``verify.model.Transformer`` with position scheme ``rope`` and
  ``none`` (NoPE);
* ``baseline``: ``nn.TransformerEncoder`` of ``nn.TransformerEncoderLayer(d, heads,
  dim_feedforward=4d, dropout=0, activation='gelu', batch_first=True, norm_first=True)`` with an
  ``nn.Embedding`` token table, a learned absolute position table, a final LayerNorm and a linear
  head without bias, run with a causal mask (``nn.Transformer.generate_square_subsequent_mask``,
  ``is_causal=True``);
* ``ours-rope-bf16``, ``ours-none-bf16``, ``baseline-bf16``: the same three trained in bf16 mixed
  precision (the forward pass under CPU bf16 autocast, loss and AdamW in fp32), as
  ``verify.train`` does for ``TrainConfig.precision = "bf16"``.  Our model keeps its token mixing
  in fp32 (``verify.model.fp32_mixing``); the stock encoder runs whatever autocast gives it (its
  attention in bf16, whose CPU backward kernel is slow) — that is what a user of stock PyTorch gets.

All models see the same random (tokens, targets) batches of shape ``(batch, seq_len)`` over the
same vocabulary, and use the same AdamW settings as ``verify.train`` (lr 1e-3, betas (0.9, 0.98),
no weight decay).  Data are generated before timing, so only the model step is measured.
``tokens/s`` counts every input token of the padded batch: ``batch * seq_len * steps/s``.

Fraction of peak
----------------
Each repetition also times a 1024 x 1024 fp32 matmul for ``--peak-seconds`` with the same thread
count: the machine's fp32 matmul peak *now* (median over repetitions; ``peak GFLOP/s`` in the
header).  A training step does ``3 x`` the matmul FLOPs of its forward pass (forward, and two
matmuls per matmul in backward): per token and layer ``2 x 12 d^2`` for the QKV, output, and MLP
projections, plus the attention products ``2 x 2 x d x (L+1)/2`` (causal: on average half the keys),
plus the output head ``2 x d x vocab``.  ``GFLOP/s`` = that count x steps/s; ``% peak`` = GFLOP/s /
peak.  Elementwise work (norms, GELU, softmax, RoPE, the optimizer) is not counted: it is the
overhead the fraction exposes.

Each measurement runs untimed warm-up steps (``--warmup`` before a model's first measurement,
one before each later one), then as many steps as fit in ``--seconds`` (default 6 s, so two
sizes x six models x three repetitions, plus the peaks, take about 7 minutes).
Measurements are repeated ``--repeats`` times, interleaving the models (the order rotates each
repetition) so that machine noise is spread over all of them; the table shows the median.
``range`` is the spread (min-max) of tokens/s over the repetitions: a wide range means a noisy
machine, so read small differences with care.

How to read the ratio
---------------------
``x/baseline`` = median tokens/s of model x / median tokens/s of the fp32 baseline.  Above 1 our
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

    .venv/bin/python benchmarks/train_throughput.py             # ~7 min with defaults
    .venv/bin/python benchmarks/train_throughput.py --quick     # smoke run, a few seconds
    .venv/bin/python benchmarks/train_throughput.py --threads 1 --sizes 4x128
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
from verify.train import clip_gradients, make_optimizer  # noqa: E402

#: ``-bf16``: the same model trained with ``TrainConfig.precision = "bf16"`` (bf16 autocast around the
#: forward pass, as ``verify.train`` does); ``baseline-bf16`` is the stock encoder under the same autocast
MODELS = ("ours-rope", "ours-none", "baseline", "ours-rope-bf16", "ours-none-bf16", "baseline-bf16")
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
    flops_per_step: float = 0.0  # matmul FLOPs of one training step (see "Fraction of peak")
    runs: list[Measurement] = field(default_factory=list)

    @property
    def gflops(self) -> float:
        return self.flops_per_step * self.steps_per_s / 1e9

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


def build_model(name: str, args: argparse.Namespace, layers: int, d_model: int) -> nn.Module:
    name = name.removesuffix("-bf16")
    if name == "baseline":
        return BaselineTransformer(args.vocab, layers, d_model, args.heads, args.seq_len)
    scheme = name.split("-", 1)[1]
    cfg = ModelConfig(vocab_size=args.vocab, layers=layers, d_model=d_model, heads=args.heads,
                      position_scheme=scheme, max_positions=max(256, args.seq_len))
    return Transformer(cfg)


def train_step_flops(layers: int, d_model: int, vocab: int, batch: int, seq_len: int) -> float:
    """Matmul FLOPs of one training step: 3 x the forward pass's (see "Fraction of peak")."""
    per_token_layer = 2 * 12 * d_model ** 2 + 2 * 2 * d_model * (seq_len + 1) / 2
    forward = batch * seq_len * (layers * per_token_layer + 2 * d_model * vocab)
    return 3 * forward


def matmul_gflops(seconds: float, n: int = 1024, dtype: torch.dtype = torch.float32) -> float:
    """GFLOP/s of an n x n matmul in ``dtype``, repeated for ``seconds`` (the machine's peak right now)."""
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(n, n, generator=gen).to(dtype), torch.randn(n, n, generator=gen).to(dtype)
    out = torch.empty(n, n, dtype=dtype)
    calls, elapsed = run_for(lambda i: torch.mm(a, b, out=out), seconds, warmup=2)
    return 2 * n ** 3 * calls / elapsed / 1e9


def make_stepper(model: nn.Module, data: list[tuple[torch.Tensor, torch.Tensor]],
                 positions: torch.Tensor, bf16: bool = False) -> Callable[[int], None]:
    """A closure running one training step on batch ``i % len(data)``; the same for every model
    (with ``bf16``, the forward pass under bf16 autocast and the loss in fp32, as ``verify.train``)."""
    opt = make_optimizer(model, lr=1e-3)
    model.train()

    def step(i: int) -> None:
        tokens, targets = data[i % len(data)]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(tokens, positions)
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1))
        loss.item()  # verify.train reads the loss every step (divergence check)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        clip_gradients(model, 1.0)
        opt.step()

    return step


def measure(step: Callable[[int], None], seconds: float, warmup: int) -> Measurement:
    return Measurement(*run_for(step, seconds, warmup))


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """``"2x64,4x128"`` -> [(2, 64), (4, 128)] (layers x width)."""
    sizes = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        layers, _, width = part.partition("x")
        if not (layers.isdigit() and width.isdigit() and int(layers) > 0 and int(width) > 0):
            raise ValueError(f"size {part!r} is not LAYERSxWIDTH, e.g. 2x64")
        sizes.append((int(layers), int(width)))
    if not sizes:
        raise ValueError("no sizes given; e.g. --sizes 2x64,4x128")
    return sizes


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--seconds", type=float, default=6.0, help="timed seconds per measurement")
    p.add_argument("--repeats", type=int, default=3, help="measurements per model (median reported)")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps before a model's first measurement (one before each later one)")
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads for the run (report workers use 1)")
    p.add_argument("--sizes", default="2x64,4x128", help="model sizes, LAYERSxWIDTH, comma-separated")
    p.add_argument("--heads", type=int, default=4, help="attention heads")
    p.add_argument("--seq-len", type=int, default=33, help="input tokens per row of the padded batch")
    p.add_argument("--batch", type=int, default=64, help="rows per batch")
    p.add_argument("--vocab", type=int, default=16, help="vocabulary size")
    p.add_argument("--models", default=",".join(MODELS), help=f"comma-separated subset of {','.join(MODELS)}")
    p.add_argument("--peak-seconds", type=float, default=2.0, help="seconds of 1024x1024 matmul per repetition (the peak)")
    p.add_argument("--seed", type=int, default=0, help="seed for data and initialisation")
    p.add_argument("--quick", action="store_true", help="smoke run: 2 s per measurement, 1 repetition")
    args = p.parse_args(argv)
    if args.quick:
        args.seconds, args.repeats, args.peak_seconds = 2.0, 1, 1.0
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in args.models if m not in MODELS]
    if unknown or not args.models:
        p.error(f"unknown model(s) {unknown}; choose from {', '.join(MODELS)}")
    try:
        args.sizes = parse_sizes(args.sizes)
    except ValueError as err:
        p.error(str(err))
    if args.seconds <= 0 or args.repeats < 1 or args.warmup < 0 or args.threads < 1 or args.peak_seconds <= 0:
        p.error("need --seconds > 0, --repeats >= 1, --warmup >= 0, --threads >= 1, --peak-seconds > 0")
    return args


@dataclass
class Throughput:
    """One benchmark run: per size label (``"2x64"``) the models' results, and the matmul peak
    measured once per repetition."""
    sizes: dict[str, dict[str, ModelResult]]
    peaks: list[float]  # GFLOP/s of the 1024x1024 fp32 matmul, one per repetition
    bf16_peaks: list[float] = field(default_factory=list)  # the same matmul in bf16

    @property
    def peak(self) -> float:
        return statistics.median(self.peaks)

    @property
    def bf16_peak(self) -> float:
        return statistics.median(self.bf16_peaks)


def run(args: argparse.Namespace) -> Throughput:
    gen = torch.Generator().manual_seed(args.seed)
    shape = (args.batch, args.seq_len)
    data = [(torch.randint(args.vocab, shape, generator=gen), torch.randint(args.vocab, shape, generator=gen))
            for _ in range(POOL)]
    positions = torch.arange(args.seq_len).expand(shape).contiguous()
    steppers, sizes = {}, {}
    for layers, width in args.sizes:
        label = f"{layers}x{width}"
        sizes[label] = {}
        flops = train_step_flops(layers, width, args.vocab, args.batch, args.seq_len)
        for name in args.models:
            torch.manual_seed(args.seed)
            model = build_model(name, args, layers, width)
            steppers[label, name] = make_stepper(model, data, positions, bf16=name.endswith("-bf16"))
            sizes[label][name] = ModelResult(name, parameter_count(model), args.batch * args.seq_len, flops)
    order = list(steppers)
    peaks, bf16_peaks = [], []
    for rep in range(args.repeats):
        peaks.append(matmul_gflops(args.peak_seconds))
        bf16_peaks.append(matmul_gflops(args.peak_seconds, dtype=torch.bfloat16))
        k = rep % len(order)
        for label, name in order[k:] + order[:k]:  # rotate the order every repetition
            # full warm-up before a model's first measurement; later ones re-warm caches with one step
            warmup = args.warmup if rep == 0 else min(args.warmup, 1)
            sizes[label][name].runs.append(measure(steppers[label, name], args.seconds, warmup))
    return Throughput(sizes, peaks, bf16_peaks)


def format_table(results: dict[str, ModelResult], peak: float) -> str:
    """One row per model; ``% peak`` is of the fp32 matmul peak for every model (a -bf16 model can
    exceed 100 %: its matmuls run at the bf16 rate)."""
    base = results.get("baseline")
    rows = [("model", "params", "steps/s", "tokens/s", "range tokens/s", "x/baseline", "GFLOP/s", "% fp32 peak")]
    for r in results.values():
        lo, hi = r.tokens_per_s_range
        ratio = f"{r.tokens_per_s / base.tokens_per_s:.2f}" if base is not None and r is not base else "-"
        rows.append((r.name, f"{r.params:,}", f"{r.steps_per_s:.1f}", f"{r.tokens_per_s:,.0f}",
                     f"{lo:,.0f}-{hi:,.0f}", ratio, f"{r.gflops:.1f}", f"{100 * r.gflops / peak:.0f}%"))
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


def main(argv: list[str] | None = None) -> Throughput:
    args = parse_args(argv)
    load_before = _loadavg()
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        with torch.random.fork_rng(devices=[]):  # leave the caller's RNG state untouched
            print(f"torch {torch.__version__}, {args.threads} thread(s); batch {args.batch} x seq {args.seq_len} "
                  f"= {args.batch * args.seq_len} tokens/step; sizes {', '.join(f'{l}x{w}' for l, w in args.sizes)} "
                  f"(layers x d), {args.heads} heads, vocab {args.vocab}; {args.repeats} x {args.seconds:g} s per "
                  f"model after {args.warmup} warm-up steps", flush=True)
            result = run(args)
    finally:
        torch.set_num_threads(threads)
    print(f"fp32 matmul peak (1024x1024, {args.threads} thread(s)), median of {len(result.peaks)}: "
          f"{result.peak:.1f} GFLOP/s (range {min(result.peaks):.1f}-{max(result.peaks):.1f}); "
          f"bf16: {result.bf16_peak:.1f} GFLOP/s ({result.bf16_peak / result.peak:.1f}x fp32"
          f"{'' if result.bf16_peak > 1.5 * result.peak else ': this CPU has no fast bf16 matmul, expect -bf16 to lose'})")
    for label, results in result.sizes.items():
        print(f"\n{label} (layers x d):")
        print(format_table(results, result.peak))
        if "baseline" in results and args.repeats > 1:
            base = results["baseline"].runs
            for r in results.values():
                if r.name != "baseline":
                    paired = [m.steps_per_s / b.steps_per_s for m, b in zip(r.runs, base)]
                    print(f"{r.name}/baseline per repetition: {', '.join(f'{x:.2f}' for x in paired)}")
    busy = _load_warning(load_before)
    if busy:
        print(busy)
    return result


if __name__ == "__main__":
    main()
