"""Hierarchical sparse attention (HSA) and a diagonal linear recurrence: the parts of a RAMba-like model.

The claim (issue 13, after HSA / RAMba, 2025): attention that scores *chunks* of the context from the
token-level relevance inside them, keeps the top-k, and aggregates them hierarchically, stacked on a
recurrent backbone, retrieves far beyond its training context.  Both layers here are written from
that idea in plain PyTorch for the small models of ``verify.model`` (option ``ModelConfig.mixer``).

Hierarchical sparse attention (``hierarchical_sparse_attention``)
-----------------------------------------------------------------
The causal context is split into chunks of ``chunk_size`` tokens (chunk j = positions jC … jC+C-1).
For the query at position t, in chunk c(t) = t // C:

1. **Chunk relevance.**  Every *completed* earlier chunk j < c(t) gets the score

       s(t, j) = logsumexp_{i in chunk j} (q_t · k_i / sqrt(d) + bias(t, i))

   (``bias``: ALiBi, when the model uses it).  Why logsumexp and not max: exp(s(t, j)) is exactly the
   unnormalized attention mass full attention would put on chunk j, so a softmax over these scores
   is the share of full attention each chunk holds.  Hence step 3 makes HSA *equal to full
   attention restricted to the chosen tokens*, and with top_k ≥ the number of chunks it is full
   causal attention, exactly (tested).  For retrieval, where one key dominates its chunk,
   logsumexp ≈ max (max ≤ lse ≤ max + log C); unlike max it also credits a chunk holding several
   relevant tokens, and its gradient reaches every token of a selected chunk, not only the argmax.
2. **Selection.**  The ``top_k`` highest-scoring completed chunks are selected, per query and head
   (fewer when fewer chunks are complete: the empty slots are -1 in the hook and weigh nothing).
   The query's own chunk c(t) is always attended too, causally (keys jC … t), so local context is
   never lost and a query in chunk 0 still has its prefix.  Selection is discrete (no gradient);
   the scores are computed without autograd, in blocks of queries, so no (L, L) tensor is kept
   for backward.
3. **Hierarchical aggregation.**  Attention runs inside each selected chunk (softmax over its C
   tokens) and inside the local chunk (causal softmax); the chunk outputs are summed with weights
   softmax over {s(t, j) : j selected} ∪ {s_local(t)}, where each score is recomputed from the
   chunk's own logits in the autograd graph (the same value as step 1), so the weights are
   differentiable and train the relevance that selection reads.

Cost: scoring still reads every earlier key (q·k over the whole prefix, as the idea prescribes:
relevance from the tokens inside each chunk), so time is O(L²·d) like full attention; memory is
O(block·L) transient for scoring plus O(L·(top_k+1)·C·d) for the attention that follows, instead of
full attention's O(L²) logits when they are materialized.  ``benchmarks/hsa_scaling.py`` measures it.

Hook points (through ``hook(name, tensor) -> tensor``, which ``verify.model.Block`` supplies):

* ``attn.chunk_scores``    (B, H, L, n_chunks) float: s(t, j), -inf for chunks not complete before
  t.  A patched score changes the selection only (a score patched onto a chunk that is not complete
  is masked again: causality holds whatever the patch).
* ``attn.selected_chunks`` (B, H, L, top_k) long: the chunk indices each query selected, in
  decreasing score, -1 for empty slots.  Patchable (indices assumed distinct; a non-complete chunk
  weighs nothing).
* ``attn.pattern``         (B, H, L, L): the effective attention weights (zero outside the selected
  and local chunks), built only when recorded or patched; then the output is pattern @ v.
* ``attn.head_out``        (B, H, L, d_head): as in ``verify.model``, applied by the block.

Diagonal linear recurrence (``DiagonalRecurrence``)
---------------------------------------------------
h_t = a ⊙ h_{t-1} + b ⊙ u_t, u = W_in x, y_t = W_out h_t, with a = sigmoid(a_logit) ∈ (0, 1) per
channel (initial timescales 1/(1-a) log-spaced from 2 to 1024 tokens) and b learned (initially
sqrt(1 - a²), so a channel's state has the variance of its input for white input).  No position
signal is needed: the recurrence is ordered by construction.  The scan is exact, computed in
blocks of ``scan_block`` steps (inside a block h = decay-matrix @ u plus the carried state;
blocks run sequentially), checked against the one-step-at-a-time ``linear_scan_reference``.  Blocks
of 16: building the (T, T, d) decay matrix costs T²·d, the loop L/T steps; 16 was the fastest on
this CPU from 64 to 4096 tokens (8, 32 and 64 were 1.3-5× slower).
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

Hook = Callable[[str, torch.Tensor], torch.Tensor]
SCORE_BLOCK = 256  # queries scored at once: scoring memory is O(SCORE_BLOCK · L) per head


def _wants(hook: Hook | None, name: str, active: Callable[[str], bool] | None) -> bool:
    return hook is not None and (active is None or active(name))


@torch.no_grad()
def chunk_scores(q: torch.Tensor, k: torch.Tensor, chunk_size: int, bias: torch.Tensor | None = None,
                 score_block: int = SCORE_BLOCK) -> torch.Tensor:
    """s(t, j) of step 1, (B, H, P, n_chunks), for padded inputs: q, k (B, H, P, d) with P a multiple of
    ``chunk_size``; bias (B, H, P, P) or None.  -inf where chunk j is not complete before t."""
    B, H, P, D = q.shape
    C = chunk_size
    n_chunks = P // C
    block = max(C, score_block // C * C)
    scores = q.new_full((B, H, P, n_chunks), float("-inf"))
    query_chunk = torch.arange(P, device=q.device) // C  # (P,)
    for s in range(0, P, block):
        e = min(s + block, P)
        m = (e - 1) // C  # chunks complete before the last query of the block: 0 … m-1
        if m == 0:
            continue
        logits = (q[:, :, s:e] @ k[:, :, :m * C].transpose(-2, -1)) / math.sqrt(D)  # (B, H, e-s, m·C)
        if bias is not None:
            logits = logits + bias[:, :, s:e, :m * C]
        lse = logits.view(B, H, e - s, m, C).logsumexp(dim=-1)  # (B, H, e-s, m)
        incomplete = torch.arange(m, device=q.device)[None, :] >= query_chunk[s:e, None]  # (e-s, m)
        scores[:, :, s:e, :m] = lse.masked_fill(incomplete, float("-inf"))
    return scores


def hierarchical_sparse_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, chunk_size: int, top_k: int,
                                  bias: torch.Tensor | None = None, hook: Hook | None = None,
                                  active: Callable[[str], bool] | None = None,
                                  score_block: int = SCORE_BLOCK) -> torch.Tensor:
    """Causal HSA of q, k, v (B, H, L, d) -> (B, H, L, d); see the module docstring.

    ``bias`` (broadcastable to (B, H, L, L)): additive logit bias, -inf above the diagonal allowed
    (ALiBi as ``verify.model`` builds it).  ``hook(name, x)`` is called with the hook points named
    in the module docstring (``attn.chunk_scores``, ``attn.selected_chunks``, ``attn.pattern``);
    ``active(name)`` says whether a point is read or patched (the dense pattern is built only then;
    default: every point whenever ``hook`` is given).
    """
    if chunk_size < 1 or top_k < 0:
        raise ValueError(f"chunk_size must be ≥ 1 and top_k ≥ 0, got {chunk_size} and {top_k}")
    B, H, L, D = q.shape
    C, K = chunk_size, top_k
    n_chunks = -(-L // C)
    P = n_chunks * C
    pad = P - L
    # padded keys lie after every real query: never in its completed chunks nor before it in its own
    q, k, v = (F.pad(x, (0, 0, 0, pad)) if pad else x.contiguous() for x in (q, k, v))  # contiguous: viewed in chunks
    if bias is not None:  # padded key columns -inf, padded query rows 0 (their outputs are dropped)
        bias = F.pad(F.pad(bias.expand(B, H, L, L), (0, pad), value=float("-inf")), (0, 0, 0, pad))
    inf = float("-inf")
    scale = 1.0 / math.sqrt(D)
    query_chunk = torch.arange(P, device=q.device) // C  # (P,)
    complete = torch.arange(n_chunks, device=q.device)[None, :] < query_chunk[:, None]  # (P, n_chunks)

    # 1. chunk relevance (no autograd: it only drives the discrete selection)
    scores = chunk_scores(q.detach(), k.detach(), C, None if bias is None else bias.detach(), score_block)
    if _wants(hook, "attn.chunk_scores", active):
        patched = hook("attn.chunk_scores", scores[:, :, :L])
        scores = torch.cat((patched, scores[:, :, L:]), dim=2).masked_fill(~complete, inf)

    # 2. selection: top_k completed chunks per query (-1: an empty slot)
    kept = min(K, n_chunks)
    top = scores.topk(kept, dim=-1)  # values, indices (B, H, P, kept)
    selected = top.indices.masked_fill(top.values == inf, -1)
    if kept < K:
        selected = F.pad(selected, (0, K - kept), value=-1)  # (B, H, P, K)
    if _wants(hook, "attn.selected_chunks", active):
        patched = hook("attn.selected_chunks", selected[:, :, :L])
        selected = torch.cat((patched, selected[:, :, L:]), dim=2)
    index = selected.clamp(min=0)  # (B, H, P, K)
    # an empty slot, or a patched index of a chunk not complete before t, weighs nothing
    usable = (selected >= 0) & complete.expand(B, H, P, n_chunks).gather(3, index)  # (B, H, P, K)

    # 3a. attention inside each selected chunk: gather its keys and values
    kc, vc = k.view(B, H, n_chunks, C * D), v.view(B, H, n_chunks, C * D)
    flat = index.reshape(B, H, P * K, 1).expand(B, H, P * K, C * D)
    k_sel = kc.gather(2, flat).view(B, H, P, K, C, D)
    v_sel = vc.gather(2, flat).view(B, H, P, K, C, D)
    # products then sums, not einsum: einsum becomes B·H·P tiny matrix products, ~2.5× slower on CPU
    logits_sel = ((q * scale)[:, :, :, None, None, :] * k_sel).sum(dim=-1)  # (B, H, P, K, C)
    if bias is not None:
        logits_sel = logits_sel + bias.view(B, H, P, n_chunks, C).gather(3, index[..., None].expand(B, H, P, K, C))
    score_sel = logits_sel.logsumexp(dim=-1).masked_fill(~usable, inf)  # (B, H, P, K): s(t, j), in the graph
    p_sel = logits_sel.softmax(dim=-1)
    out_sel = (p_sel[..., None] * v_sel).sum(dim=-2)  # (B, H, P, K, D)

    # 3b. the local chunk, causally: queries and keys reshaped into chunks
    qc = q.view(B, H, n_chunks, C, D)
    logits_loc = (qc @ k.view(B, H, n_chunks, C, D).transpose(-2, -1)) * scale  # (B, H, n_chunks, C, C)
    if bias is not None:  # the diagonal blocks of the (P, P) bias
        logits_loc = logits_loc + torch.diagonal(bias.view(B, H, n_chunks, C, n_chunks, C), dim1=2, dim2=4) \
            .permute(0, 1, 4, 2, 3)
    future = torch.ones(C, C, dtype=torch.bool, device=q.device).triu(1)
    logits_loc = logits_loc.masked_fill(future, inf)
    score_loc = logits_loc.logsumexp(dim=-1).reshape(B, H, P)  # finite: a query always sees itself
    p_loc = logits_loc.softmax(dim=-1)
    out_loc = (p_loc @ v.view(B, H, n_chunks, C, D)).reshape(B, H, P, D)

    # 3c. hierarchical aggregation: softmax over the selected chunks' scores and the local one
    weights = torch.cat((score_sel, score_loc[..., None]), dim=-1).softmax(dim=-1)  # (B, H, P, K+1)
    if _wants(hook, "attn.pattern", active):
        dense = q.new_zeros(B, H, P, P)
        columns = (index[..., None] * C + torch.arange(C, device=q.device)).reshape(B, H, P, K * C)
        dense = dense.scatter_add(3, columns, (weights[..., :K, None] * p_sel).reshape(B, H, P, K * C))
        local_columns = (query_chunk[:, None] * C + torch.arange(C, device=q.device)).expand(B, H, P, C)
        dense = dense.scatter_add(3, local_columns, weights[..., K:] * p_loc.reshape(B, H, P, C))
        pattern = hook("attn.pattern", dense[:, :, :L, :L])
        return pattern @ v[:, :, :L]
    out = (weights[..., :K, None] * out_sel).sum(dim=3) + weights[..., K:] * out_loc  # (B, H, P, D)
    return out[:, :, :L]


# ------------------------------------------------------------------------------- the recurrence


def linear_scan_reference(u: torch.Tensor, a: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
    """h_t = a ⊙ h_{t-1} + u_t one step at a time: u (B, L, d), a (d,) -> h (B, L, d); h_{-1} = h0 or 0."""
    h = torch.zeros_like(u[:, 0]) if h0 is None else h0
    out = []
    for t in range(u.shape[1]):
        h = a * h + u[:, t]
        out.append(h)
    return torch.stack(out, dim=1)


def linear_scan(u: torch.Tensor, log_a: torch.Tensor, block: int = 16) -> torch.Tensor:
    """h_t = a ⊙ h_{t-1} + u_t with h_{-1} = 0, a = exp(log_a) (log_a < 0): u (B, L, d) -> (B, L, d).

    Blocks of ``block`` steps: inside one, h_t = Σ_{s≤t} a^{t-s} u_s + a^{t+1-start} h_carried, a
    (block, block, d) decay matrix; the carried state passes from block to block."""
    B, L, d = u.shape
    T = min(block, L)
    steps = torch.arange(T, device=u.device)
    lag = steps[:, None] - steps[None, :]  # (T, T): t - s
    # clamp before exp: exp of a negative lag × log a would overflow, and inf·0 is NaN in backward
    decay = torch.exp(lag.clamp(min=0)[..., None] * log_a) * (lag >= 0)[..., None]  # (T, T, d)
    carry_decay = torch.exp((steps + 1)[:, None] * log_a)  # (T, d): a^{t+1}
    h = u.new_zeros(B, d)
    out = []
    for s in range(0, L, T):
        n = min(T, L - s)
        block_h = torch.einsum("tsc,bsc->btc", decay[:n, :n], u[:, s:s + n]) + carry_decay[:n] * h[:, None]
        out.append(block_h)
        h = block_h[:, -1]
    return torch.cat(out, dim=1)


class DiagonalRecurrence(nn.Module):
    """x (B, L, d) -> y (B, L, d): u = W_in x; h_t = a ⊙ h_{t-1} + b ⊙ u_t; y = W_out h (module docstring)."""

    def __init__(self, d_model: int, scan_block: int = 16, min_timescale: float = 2.0, max_timescale: float = 1024.0):
        super().__init__()
        self.in_proj = nn.Linear(d_model, d_model, bias=False)
        self.out_proj = nn.Linear(d_model, d_model, bias=False)
        timescale = torch.logspace(math.log10(min_timescale), math.log10(max_timescale), d_model)
        a = 1.0 - 1.0 / timescale  # in [0.5, 0.999]
        self.a_logit = nn.Parameter(torch.log(a) - torch.log1p(-a))  # sigmoid(a_logit) = a
        self.b = nn.Parameter(torch.sqrt(1.0 - a * a))
        self.scan_block = scan_block

    def decay(self) -> torch.Tensor:
        """a = sigmoid(a_logit), (d,)."""
        return torch.sigmoid(self.a_logit)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = self.in_proj(x) * self.b  # (B, L, d)
        h = linear_scan(u, F.logsigmoid(self.a_logit), self.scan_block)  # log a, stable for a near 0 or 1
        return self.out_proj(h)
