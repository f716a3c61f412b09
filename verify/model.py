"""A small decoder-only transformer that takes explicit position ids.

Pre-LayerNorm blocks, fused QKV without bias, 4×GELU MLP, untied output head, N(0, 0.02) init;
attention is ``F.scaled_dot_product_attention`` with a causal mask, so right padding needs no
extra mask.  Every scheme reads position *ids* (only the causal mask follows slot order), so ids
are data: offsets, restrictions that keep original ids, and coupled ids all reach the model alike.
Position schemes:

* ``none``       — no positional signal (NoPE); causal masking alone breaks symmetry;
* ``learned``    — a learned absolute table indexed by the position ids (train with random
  offsets so rows beyond the training lengths are trained too);
* ``rope``       — rotary embeddings computed from the position ids (relative by construction);
* ``sinusoidal`` — fixed sin/cos absolute embeddings of the ids (Vaswani et al. 2017), added to
  the token embeddings at the scale of a fresh learned table; no table, so any id works;
* ``alibi``      — no embedding; each head h adds ``-slope_h · (pos_q − pos_k)`` to the attention
  logit of key k (Press et al. 2022), with the standard geometric slopes, from the ids;
* ``coupled``    — position coupling (Cho et al. 2024): the *data pipeline* supplies coupled ids
  (tokens that the task's rule aligns share an id, e.g. output y_t gets the id of the input it
  copies).  From the model's side this is exactly ``learned``: the same table, the same code
  path; only the ids differ.  Train with random offsets, as for ``learned``;
* ``predicted``  — predictive position coupling (Golowich et al. 2025): ``coupled`` plus a second
  head that classifies the coupled id of the *next* token.  Training adds ``position_loss`` on
  the true next ids; at test time the ids fed back are the model's own predictions
  (``predicted_positions_decode``), so the coupling may depend on the input.

``length_temperature`` (off by default) multiplies the attention logits of the query with id
``pos_q`` by ``max(1, log(pos_q + 1) / log(train_context))``: 1 inside the training context, then
growing like log n so attention stays as sharp on long inputs as on short ones.  Sources: the
length-dependent ("tempered") softmax of task hinting (Awasthi & Gupta 2023), i.e. the log-n
attention-scaling trick (Chiang & Cholak 2022).

Token mixers (``ModelConfig.mixer``; ``verify.hsa`` has both new layers):

* ``attention``     — causal full attention, as above (the default; unchanged by the option);
* ``hsa``           — hierarchical sparse attention (``verify.hsa.hierarchical_sparse_attention``)
  in place of full attention in every block, with the same parameters (qkv, proj) and the same
  position schemes: each query attends to the ``top_k`` earlier chunks of ``chunk_size`` tokens
  it scores highest, plus its own chunk causally;
* ``recurrent``     — a diagonal linear recurrence (``verify.hsa.DiagonalRecurrence``) in place of
  attention; position scheme ``none`` only (the recurrence is ordered by construction);
* ``recurrent+hsa`` — RAMba-like: each block is the recurrence, then HSA, then the MLP (each
  pre-LayerNorm residual).

Hook points (``HOOK_POINTS``, end of this module): ``blocks.{i}.attn.pattern`` and
``blocks.{i}.attn.head_out`` are read with ``record_activations`` and overwritten with
``patch_activations``; with neither active the fused attention runs unchanged.  HSA blocks add
``blocks.{i}.attn.chunk_scores`` and ``blocks.{i}.attn.selected_chunks`` (``HSA_HOOK_POINTS``);
recurrent-only blocks have none.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Callable, Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F

from .hsa import DiagonalRecurrence, hierarchical_sparse_attention

POSITION_SCHEMES = ("none", "learned", "rope", "sinusoidal", "alibi", "coupled", "predicted")
TABLE_SCHEMES = ("learned", "coupled", "predicted")  # a learned absolute table indexed by the ids
INIT_STD = 0.02  # every Linear/Embedding weight starts N(0, INIT_STD)
MIXERS = ("attention", "hsa", "recurrent", "recurrent+hsa")  # what mixes tokens in each block (module docstring)


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int
    layers: int = 2
    d_model: int = 64
    heads: int = 4
    position_scheme: str = "rope"
    max_positions: int = 256  # size of the learned table (and of the predicted-id classes); ids stay below it
    length_temperature: bool = False  # scale attention logits by max(1, log(pos_q+1)/log(train_context))
    train_context: int = 0  # longest training position id + 1; needed by length_temperature
    mixer: str = "attention"  # one of MIXERS
    chunk_size: int = 8  # HSA: tokens per chunk
    top_k: int = 2  # HSA: earlier chunks each query selects (besides its own)

    def __post_init__(self) -> None:
        if self.position_scheme not in POSITION_SCHEMES:
            raise ValueError(f"unknown position scheme {self.position_scheme!r}; choose one of {', '.join(POSITION_SCHEMES)}")
        if self.d_model % self.heads or (self.d_model // self.heads) % 2:
            raise ValueError("d_model must split into heads of even size")
        if self.length_temperature and self.train_context < 2:
            raise ValueError("length_temperature needs train_context ≥ 2 (the longest training position id + 1)")
        if self.mixer not in MIXERS:
            raise ValueError(f"unknown mixer {self.mixer!r}; choose one of {', '.join(MIXERS)}")
        if self.mixer == "recurrent" and self.position_scheme != "none":
            raise ValueError(f"mixer 'recurrent' has no attention to carry positions: use position_scheme 'none', "
                             f"not {self.position_scheme!r}")
        if self.mixer == "recurrent" and self.length_temperature:
            raise ValueError("mixer 'recurrent' has no attention logits for length_temperature to scale")
        if self.chunk_size < 1 or self.top_k < 0:
            raise ValueError(f"chunk_size must be ≥ 1 and top_k ≥ 0, got {self.chunk_size} and {self.top_k}")

    def to_dict(self) -> dict:
        return asdict(self)


def rope_tables(positions: torch.Tensor, inv_freq: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(cos, signed sin), each (B, 1, L, head_dim), for ``_rotate``: built once per forward pass
    and shared by every layer, for queries and keys alike."""
    angles = positions.to(torch.float32)[..., None] * inv_freq  # (B, L, head_dim/2)
    cos, sin = angles.cos(), angles.sin()
    return torch.cat((cos, cos), dim=-1)[:, None], torch.cat((-sin, sin), dim=-1)[:, None]


def _rotate(x: torch.Tensor, cos: torch.Tensor, signed_sin: torch.Tensor) -> torch.Tensor:
    """Rotate each pair (x1_i, x2_i) of the two halves of the last dimension by its angle:
    (x1 cos - x2 sin, x2 cos + x1 sin), written as x·cos + swap(x)·(-sin, sin): four kernels for
    queries and keys together (``x`` stacks both) instead of seven for each.  Bit-identical to the half-by-half form: a - b = a + (-b) exactly, and
    a sum of two products does not depend on their order."""
    x1, x2 = x.chunk(2, dim=-1)
    return x * cos + torch.cat((x2, x1), dim=-1) * signed_sin


def alibi_slopes(heads: int) -> torch.Tensor:
    """The ALiBi head slopes: 2^(-8/n), 2^(-16/n), … for n a power of two; otherwise those of the
    nearest lower power of two, then every other slope of the next one (Press et al.'s recipe)."""
    def geometric(n: int) -> list[float]:
        return [2.0 ** (-8.0 * (i + 1) / n) for i in range(n)]
    low = 2 ** int(math.log2(heads))
    slopes = geometric(low) + geometric(2 * low)[0::2][:heads - low]
    return torch.tensor(slopes, dtype=torch.float32)


def attention_temperature(positions: torch.Tensor, train_context: int) -> torch.Tensor:
    """Per-query logit scale max(1, log(pos + 1) / log(train_context)), shape of ``positions``."""
    scale = torch.log(positions.to(torch.float32) + 1) / math.log(train_context)
    return scale.clamp(min=1.0)


@contextmanager
def fp32_mixing(*tensors: torch.Tensor) -> Iterator[tuple[torch.Tensor, ...]]:
    """``with fp32_mixing(q, k, v) as (q, k, v):`` — the token mixing (attention, HSA, the
    recurrence) in fp32.

    Outside autocast (fp32 training, every evaluation) it yields the tensors unchanged and does
    nothing else, so fp32 runs are bit-for-bit what they were.  Under bf16 autocast
    (``TrainConfig.precision = "bf16"``, ``verify.train``) it yields them in fp32 with autocast off:
    the projections and the MLP keep their bf16 matmuls (where the speed is), while the softmax
    over keys and the scan run in fp32 — on CPU the bf16 attention kernel's backward is several
    times slower than fp32 (benchmarks/THROUGHPUT.md), and a bf16 scan would round its running
    state every step.  (RoPE is applied before, in the projections' bf16: ``rope_tables`` follow
    the autocast dtype.)
    """
    if not torch.is_autocast_enabled("cpu"):
        yield tensors
        return
    with torch.autocast("cpu", enabled=False):
        yield tuple(t.float() for t in tensors)


class RealTokens:
    """Where a right-padded batch's real tokens sit: ``real`` (B, L) bool, true at the slots a
    training loss can depend on.  ``real_part`` gathers the computed slots of a (B, L, ...) tensor
    into (N, ...); ``padded`` scatters (N, ...) back into (B, L, ...) with zeros elsewhere.

    Used by ``Transformer.forward(..., real=...)`` (``TrainConfig.skip_padding``): every layer
    that treats tokens one at a time runs on the N computed slots; only the token mixing sees the
    padded layout, where causality keeps the other slots from reaching a real one.

    N is the number of real slots rounded up to a multiple of ``ALIGN`` with padded slots (whose
    outputs no loss reads): the bf16 matmul kernels are built per shape, and a count that changed
    with every batch made each step build new ones — slower than computing the padding (measured:
    benchmarks/THROUGHPUT.md).
    """

    ALIGN = 64

    def __init__(self, real: torch.Tensor):
        self.rows, self.length = real.shape
        flat = real.reshape(-1).bool()  # a 0/1 mask too: `~` of an integer mask would pick real slots again
        index = flat.nonzero().squeeze(1)  # (N,) flat slot of each computed token
        short = min(-len(index) % self.ALIGN, len(flat) - len(index))
        if short:
            index = torch.cat((index, (~flat).nonzero().squeeze(1)[:short])).sort().values
        self.index = index

    def real_part(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(self.rows * self.length, *x.shape[2:]).index_select(0, self.index)

    def padded(self, x: torch.Tensor) -> torch.Tensor:
        out = x.new_zeros(self.rows * self.length, *x.shape[1:]).index_copy(0, self.index, x)
        return out.view(self.rows, self.length, *x.shape[1:])


def _real(x: torch.Tensor, layout: RealTokens | None) -> torch.Tensor:
    return x if layout is None else layout.real_part(x)


def _padded(x: torch.Tensor, layout: RealTokens | None) -> torch.Tensor:
    return x if layout is None else layout.padded(x)


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.heads = cfg.heads
        self.mixer, self.chunk_size, self.top_k = cfg.mixer, cfg.chunk_size, cfg.top_k
        if cfg.mixer in ("recurrent", "recurrent+hsa"):  # absent from attention blocks: their modules stay as they were
            self.ln_rec = nn.LayerNorm(cfg.d_model)
            self.recurrence = DiagonalRecurrence(cfg.d_model)
        if cfg.mixer != "recurrent":
            self.ln1 = nn.LayerNorm(cfg.d_model)
            self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=False)
            self.proj = nn.Linear(cfg.d_model, cfg.d_model, bias=False)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.mlp = nn.Sequential(nn.Linear(cfg.d_model, 4 * cfg.d_model), nn.GELU(), nn.Linear(4 * cfg.d_model, cfg.d_model))
        # hook points (``record_activations`` / ``patch_activations`` fill these for the length of a
        # ``with``): local hook name -> list the tensors go to / function applied; empty = fast path
        self.recording: dict[str, list[torch.Tensor]] = {}
        self.patching: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {}

    def forward(self, h: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None,
                bias: torch.Tensor | None = None, q_scale: torch.Tensor | None = None,
                layout: "RealTokens | None" = None, keep: "RealTokens | None" = None) -> torch.Tensor:
        """``h`` is (B, L, D), or (N, D) — the real tokens only — when ``layout`` is given: then the
        position-wise parts (norms, projections, MLP) see the N real tokens, and only the token
        mixing sees the padded (B, L) layout ``layout`` scatters them into.  With ``keep`` (``h``
        padded) the work after the token mixing runs at ``keep``'s slots only, and the block
        returns those (N, D)."""
        if self.mixer in ("recurrent", "recurrent+hsa"):
            with fp32_mixing(self.ln_rec(h)) as (x,):  # the scan accumulates over the whole sequence: fp32
                mixed = self.recurrence(_padded(x, layout))
            if self.mixer == "recurrent":
                h = _real(h, keep) + _real(mixed, layout or keep)
                return h + self.mlp(self.ln2(h))
            h = h + _real(mixed, layout)
        if layout is None:
            B, L, D = h.shape
            qkv = self.qkv(self.ln1(h)).view(B, L, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
            q, k, v = qkv.unbind(0)
            if rope is not None:  # queries and keys rotated together: one set of kernels for both
                q, k = _rotate(qkv[:2], *rope).unbind(0)
        else:  # rotate the real tokens' queries and keys, then scatter q, k, v into the padded layout
            (N, D), B, L = h.shape, layout.rows, layout.length
            qkv = self.qkv(self.ln1(h)).view(N, 3, self.heads, D // self.heads)
            qk, v = qkv[:, :2], qkv[:, 2]
            if rope is not None:
                qk = _rotate(qk, *rope)
            # the mixing's fp32 cast (bf16 training) on the N computed rows, before the scatter,
            # rather than on the padded batch after it (the same values: the cast is exact)
            with fp32_mixing(qk, v) as (qk, v):
                q, k = layout.padded(qk).permute(2, 0, 3, 1, 4).unbind(0)  # (B, H, L, d_head) each
                v = layout.padded(v).transpose(1, 2)
        with fp32_mixing(q, k, v) as (q, k, v):
            if q_scale is not None:  # q·k is linear in q: scaling q scales that query's logits
                q = q * q_scale
            if self.mixer != "attention":  # hsa, recurrent+hsa
                att = self._sparse_attention(q, k, v, bias)
            elif self.recording or self.patching:
                att = self._hooked_attention(q, k, v, bias)
            elif bias is None:
                att = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            else:  # the causal mask is folded into the float bias (-inf above the diagonal)
                att = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        h = _real(h, keep) + self.proj(_real(att.transpose(1, 2).reshape(B, L, D), layout or keep))
        return h + self.mlp(self.ln2(h))

    def _hook(self, name: str, x: torch.Tensor) -> torch.Tensor:
        if name in self.patching:
            x = self.patching[name](x)
        if name in self.recording:
            self.recording[name].append(x.detach())
        return x

    def _sparse_attention(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                          bias: torch.Tensor | None) -> torch.Tensor:
        """HSA (``verify.hsa``) of q, k, v (B, H, L, d_head), with its hook points when any is active."""
        hooked = bool(self.recording or self.patching)
        att = hierarchical_sparse_attention(
            q, k, v, self.chunk_size, self.top_k, bias, hook=self._hook if hooked else None,
            active=lambda name: name in self.recording or name in self.patching)
        return self._hook("attn.head_out", att) if hooked else att

    def _hooked_attention(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                          bias: torch.Tensor | None) -> torch.Tensor:
        """Attention with the hook points: the per-head outputs (B, H, L, d_head) always, the
        pattern (B, H, Lq, Lk) only when it is recorded or patched; then it is computed explicitly
        (the fused kernel never materializes it), the same logits the fused kernel uses."""
        if "attn.pattern" in self.recording or "attn.pattern" in self.patching:
            L = q.shape[2]
            logits = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
            if bias is None:
                future = torch.ones(L, L, dtype=torch.bool, device=q.device).triu(1)
                logits = logits.masked_fill(future, float("-inf"))
            else:  # already holds -inf above the diagonal
                logits = logits + bias
            pattern = self._hook("attn.pattern", logits.softmax(dim=-1))
            att = pattern @ v
        elif bias is None:
            att = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            att = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        return self._hook("attn.head_out", att)


class Transformer(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos_embed = nn.Embedding(cfg.max_positions, cfg.d_model) if cfg.position_scheme in TABLE_SCHEMES else None
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.layers))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        # created last, so the other schemes draw the same initial weights as before it existed
        self.position_head = nn.Linear(cfg.d_model, cfg.max_positions, bias=False) if cfg.position_scheme == "predicted" else None
        half = cfg.d_model // cfg.heads // 2
        self.register_buffer("inv_freq", 1.0 / (10000 ** (torch.arange(half, dtype=torch.float32) / half)), persistent=False)
        half_model = cfg.d_model // 2
        self.register_buffer("sin_freq", 1.0 / (10000 ** (torch.arange(half_model, dtype=torch.float32) / half_model)), persistent=False)
        self.register_buffer("slopes", alibi_slopes(cfg.heads), persistent=False)
        self.apply(self._init)

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=INIT_STD)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)

    def forward(self, tokens: torch.Tensor, positions: torch.Tensor, return_position_logits: bool = False,
                real: torch.Tensor | None = None, logits_at: torch.Tensor | None = None):
        """Logits (B, L, vocab) for next-token prediction at every slot; with
        ``return_position_logits`` (scheme ``predicted`` only) also (B, L, max_positions): the
        logits of the *next* token's position id.

        ``real`` (B, L) bool (training with ``TrainConfig.skip_padding``): the slots whose outputs
        matter, a prefix of each row (``real_slots``).  The layers that treat tokens one at a time
        then run on those slots only (``RealTokens``; rounded up with a few padded slots), and the
        logits of the slots not computed are 0.  The real slots' logits are those of the padded pass
        up to float rounding; no other slot's logits mean anything.

        ``logits_at`` (B, L) bool (evaluation: the supervised slots): the last block's work after
        its token mixing (projection, MLP) and the output head run at those slots only (keys and
        values of every slot are still computed; like ``real``, the count is rounded up with a few
        other slots), and the slots not computed get logits 0.  Each row of a
        matmul is computed alone, so the logits at those slots are the bits of the full pass
        (a test checks it).
        """
        if real is not None and logits_at is not None:
            raise ValueError("pass real (training) or logits_at (evaluation), not both")
        scheme = self.cfg.position_scheme
        layout = RealTokens(real) if real is not None else None
        keep = RealTokens(logits_at) if logits_at is not None else None
        h = self.embed(_real(tokens, layout))  # (B, L, D), or (N, D) with ``real``
        ids = _real(positions, layout)  # the ids of the tokens in h
        rope = bias = q_scale = None
        if self.pos_embed is not None:
            if int(positions.max()) >= self.cfg.max_positions:
                raise ValueError(f"position id {int(positions.max())} exceeds the learned table ({self.cfg.max_positions})")
            h = h + self.pos_embed(ids)
        elif scheme == "rope":
            rope = rope_tables(ids, self.inv_freq)  # broadcast over heads
            if layout is not None:  # (N, 1, d_head) -> (N, 1, 1, d_head): over (query/key, head)
                rope = tuple(table[:, None] for table in rope)
            if torch.is_autocast_enabled("cpu"):  # bf16 training: rotate in the projections' dtype, half the traffic
                rope = tuple(table.to(torch.get_autocast_dtype("cpu")) for table in rope)
        elif scheme == "sinusoidal":
            angles = ids.to(torch.float32)[..., None] * self.sin_freq  # (B, L, d/2)
            # scaled to the RMS of a fresh learned table (sin/cos have RMS 1/√2): at unit scale the
            # fixed signal swamps the N(0, 0.02) token embeddings and a tiny model barely trains
            h = h + (INIT_STD * math.sqrt(2)) * torch.cat((angles.sin(), angles.cos()), dim=-1)
        elif scheme == "alibi":  # the bias lives in the padded (B, H, Lq, Lk) layout of the token mixing
            pos = positions.to(self.slopes.dtype)
            distance = pos[:, None, :, None] - pos[:, None, None, :]  # (B, 1, Lq, Lk): pos_q − pos_k
            # (B, H, Lq, Lk); ids grow along a sequence, so visible keys have distance ≥ 0 (right
            # padding has id 0, but padded slots are never attended to nor supervised)
            bias = -self.slopes[:, None, None] * distance
        if self.cfg.length_temperature:
            q_scale = attention_temperature(positions, self.cfg.train_context).to(h.dtype)[:, None, :, None]  # (B, 1, L, 1)
            if bias is not None:  # the temperature scales the whole logit, bias included
                bias = bias * q_scale
        if bias is not None:
            L = tokens.shape[1]
            future = torch.ones(L, L, dtype=torch.bool, device=tokens.device).triu(1)
            bias = bias.masked_fill(future, float("-inf"))
        for i, block in enumerate(self.blocks):
            h = block(h, rope, bias, q_scale, layout, keep if i == len(self.blocks) - 1 else None)
        h = self.ln_f(h)
        computed = layout or keep
        logits = _padded(self.head(h), computed)
        if not return_position_logits:
            return logits
        if self.position_head is None:
            raise ValueError(f"position logits need position_scheme 'predicted', not {scheme!r}")
        return logits, _padded(self.position_head(h), computed)


def real_slots(targets: torch.Tensor, ignore: int) -> torch.Tensor:
    """(B, L) bool: the slots a loss over ``targets`` (``ignore`` where unsupervised) can depend on —
    every slot up to its row's last supervised one.  Causal attention reads only earlier slots, so
    the slots after it (right padding, an unsupervised tail) change neither the loss nor a gradient."""
    supervised = (targets != ignore).to(torch.int8)
    return supervised.flip(1).cummax(dim=1).values.flip(1).bool()


def position_loss(position_logits: torch.Tensor, next_positions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of the predicted next-token ids over the slots where ``mask`` is true.

    ``position_logits`` (B, L, max_positions) from ``forward(..., return_position_logits=True)``;
    ``next_positions`` (B, L): slot q's target is the coupled id of token q+1 (the ids shifted
    by one, like the token targets); ``mask`` (B, L) bool: which slots are supervised.
    """
    loss = F.cross_entropy(position_logits.transpose(1, 2), next_positions, reduction="none")
    mask = mask.to(loss.dtype)
    return (loss * mask).sum() / mask.sum().clamp(min=1)


@torch.no_grad()
def predicted_positions_decode(model: Transformer, prefix_tokens: torch.Tensor, prefix_positions: torch.Tensor,
                               steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Greedy decoding for ``predicted``: how test-time ids are produced.

    The prefix (B, P) comes with its ids (e.g. the prompt's coupled ids, computable from the
    prompt).  Each step the model's argmax token *and* argmax next id are appended, so every later
    step reads the model's own ids, never the true ones.  Returns the generated tokens and ids,
    each (B, steps).  No KV cache: this is for evaluation of small models.
    """
    model.eval()
    tokens, positions = prefix_tokens, prefix_positions
    for _ in range(steps):
        logits, position_logits = model(tokens, positions, return_position_logits=True)
        tokens = torch.cat((tokens, logits[:, -1:].argmax(-1)), dim=1)
        positions = torch.cat((positions, position_logits[:, -1:].argmax(-1)), dim=1)
    P = prefix_tokens.shape[1]
    return tokens[:, P:], positions[:, P:]


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ------------------------------------------------------------------------------------ hook points
# Named points inside each block that can be read or overwritten (the TransformerLens habit), used
# by ``verify.probes``.  With no hook active a block runs the fused attention kernel exactly as
# before; a hook only changes the path of the blocks it names.

HOOK_POINTS = ("attn.pattern", "attn.head_out")  # (B, H, Lq, Lk) attention weights; (B, H, L, d_head) per-head outputs
#: HSA blocks add (B, H, L, n_chunks) chunk relevance and (B, H, L, top_k) selected chunk indices (-1: none)
HSA_HOOK_POINTS = HOOK_POINTS + ("attn.chunk_scores", "attn.selected_chunks")


def block_hook_points(block: Block) -> tuple[str, ...]:
    """The hook points of one block: by its mixer (a recurrent-only block has none)."""
    return {"attention": HOOK_POINTS, "recurrent": ()}.get(block.mixer, HSA_HOOK_POINTS)


def hook_names(model: Transformer) -> list[str]:
    """Every hook point of ``model``: ``blocks.{i}.attn.pattern``, ``blocks.{i}.attn.head_out`` (and, with
    HSA, ``blocks.{i}.attn.chunk_scores``, ``blocks.{i}.attn.selected_chunks``)."""
    return [f"blocks.{i}.{point}" for i, block in enumerate(model.blocks) for point in block_hook_points(block)]


def _split_hook_name(model: Transformer, name: str) -> tuple[Block, str]:
    prefix, _, point = name.partition(".")
    index, _, point = point.partition(".")
    if prefix != "blocks" or not index.isdigit() or int(index) >= len(model.blocks) \
            or point not in block_hook_points(model.blocks[int(index)]):
        raise ValueError(f"unknown hook point {name!r}; the model has {', '.join(hook_names(model)) or 'none'}")
    return model.blocks[int(index)], point


@contextmanager
def record_activations(model: Transformer, names) -> Iterator[dict[str, list[torch.Tensor]]]:
    """``with record_activations(model, names) as cache:`` — every forward pass inside the ``with``
    appends each named tensor (detached) to ``cache[name]``, one entry per pass in call order
    (``verify.measure.predictions`` runs one pass per chunk of rows)."""
    cache = {name: [] for name in names}
    targets = [(*_split_hook_name(model, name), name) for name in cache]
    saved = [(block, dict(block.recording)) for block in model.blocks]
    try:
        for block, point, name in targets:
            block.recording[point] = cache[name]
        yield cache
    finally:
        for block, recording in saved:
            block.recording = recording


@contextmanager
def patch_activations(model: Transformer, functions: dict[str, Callable[[torch.Tensor], torch.Tensor]]) -> Iterator[None]:
    """``with patch_activations(model, {"blocks.0.attn.head_out": fn}):`` — inside the ``with`` the
    named tensor is replaced by ``fn(tensor)`` in every forward pass (same shape); a recorded hook
    point records the patched value."""
    targets = [(*_split_hook_name(model, name), fn) for name, fn in functions.items()]
    saved = [(block, dict(block.patching)) for block in model.blocks]
    try:
        for block, point, fn in targets:
            block.patching[point] = fn
        yield
    finally:
        for block, patching in saved:
            block.patching = patching
