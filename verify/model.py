"""A small decoder-only transformer that takes explicit position ids.

Pre-LayerNorm blocks, fused QKV without bias, 4×GELU MLP, untied output head, N(0, 0.02) init;
attention is ``F.scaled_dot_product_attention`` with a causal mask, so right padding needs no
extra mask.  Position schemes:

* ``none``    — no positional signal (NoPE); causal masking alone breaks symmetry;
* ``learned`` — a learned absolute table indexed by the position ids (train with random
  offsets so rows beyond the training lengths are trained too);
* ``rope``    — rotary embeddings computed from the position ids (relative by construction).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

POSITION_SCHEMES = ("none", "learned", "rope")


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int
    layers: int = 2
    d_model: int = 64
    heads: int = 4
    position_scheme: str = "rope"
    max_positions: int = 256  # size of the learned table; position ids must stay below it

    def __post_init__(self) -> None:
        if self.position_scheme not in POSITION_SCHEMES:
            raise ValueError(f"unknown position scheme {self.position_scheme!r}; choose one of {', '.join(POSITION_SCHEMES)}")
        if self.d_model % self.heads or (self.d_model // self.heads) % 2:
            raise ValueError("d_model must split into heads of even size")

    def to_dict(self) -> dict:
        return asdict(self)


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.heads = cfg.heads
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=False)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model, bias=False)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.mlp = nn.Sequential(nn.Linear(cfg.d_model, 4 * cfg.d_model), nn.GELU(), nn.Linear(4 * cfg.d_model, cfg.d_model))

    def forward(self, h: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        B, L, D = h.shape
        q, k, v = self.qkv(self.ln1(h)).view(B, L, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        if rope is not None:
            q, k = _rotate(q, *rope), _rotate(k, *rope)
        att = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        h = h + self.proj(att.transpose(1, 2).reshape(B, L, D))
        return h + self.mlp(self.ln2(h))


class Transformer(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos_embed = nn.Embedding(cfg.max_positions, cfg.d_model) if cfg.position_scheme == "learned" else None
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.layers))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        half = cfg.d_model // cfg.heads // 2
        self.register_buffer("inv_freq", 1.0 / (10000 ** (torch.arange(half, dtype=torch.float32) / half)), persistent=False)
        self.apply(self._init)

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)

    def forward(self, tokens: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Logits (B, L, vocab) for next-token prediction at every slot."""
        h = self.embed(tokens)
        rope = None
        if self.pos_embed is not None:
            if int(positions.max()) >= self.cfg.max_positions:
                raise ValueError(f"position id {int(positions.max())} exceeds the learned table ({self.cfg.max_positions})")
            h = h + self.pos_embed(positions)
        elif self.cfg.position_scheme == "rope":
            angles = positions.to(torch.float32)[..., None] * self.inv_freq  # (B, L, half)
            rope = (angles.cos()[:, None], angles.sin()[:, None])  # broadcast over heads
        for block in self.blocks:
            h = block(h, rope)
        return self.head(self.ln_f(h))


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())

