"""Transformers with hand-set weights whose behaviour is known, for tests of hooks and probes.

One layer, ``d_model`` 64, two heads of 32, a learned position table.  Every embedding is built to
have zero mean and the same norm, so the first LayerNorm only rescales; token t is +a on dim t and
-a on dim t+V, position i is the unit vector at angle θ·i (and its negative, again for zero mean).
Head 0's query is the key's position vector rotated by ``shift`` steps, scaled up: slot q (id i)
attends to the key with id i + shift.  Head 0's value is the key's token, which the output
projection writes to a readout block (dims ``READ``…) and the unembedding reads: the model
outputs the token it attended to.  Head 1 attends at random and its output projection is zero.
The MLP is zero.  With ``predicted``, the position head predicts id i + 1 for the next token.
"""

from __future__ import annotations

import math

import torch

from verify.model import ModelConfig, Transformer

D_MODEL, HEADS = 64, 2
POS = 52  # dims 52, 53: the id as a unit vector at angle θ·id; 54, 55: its negative
READ = 26  # readout block: token t at READ + t (and -t at READ + V + t)
SHARP = 2e4  # attention logit scale: ids one apart differ by SHARP (1 - cos θ) ≈ 60 nats


def handset_model(vocab_size: int, scheme: str, shift: int, max_positions: int = 40) -> Transformer:
    V = vocab_size
    assert READ + 2 * V <= POS and 2 * V <= READ, "vocabulary too large for the hand-set layout"
    torch.manual_seed(0)
    model = Transformer(ModelConfig(V, layers=1, d_model=D_MODEL, heads=HEADS, position_scheme=scheme,
                                    max_positions=max_positions))
    theta = math.pi / max_positions  # ids never wrap: cos(θ·Δ) falls monotonically for |Δ| < max_positions
    hd = D_MODEL // HEADS
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        for ln in (model.blocks[0].ln1, model.blocks[0].ln2, model.ln_f):
            ln.weight.fill_(1.0)
        for t in range(V):
            model.embed.weight[t, t], model.embed.weight[t, V + t] = 1.0, -1.0
        ids = torch.arange(max_positions, dtype=torch.float32)
        unit = torch.stack((torch.cos(theta * ids), torch.sin(theta * ids)), dim=1)
        model.pos_embed.weight[:, POS:POS + 2] = unit
        model.pos_embed.weight[:, POS + 2:POS + 4] = -unit
        # after ln1 every vector is scaled by 1/std = sqrt(64 / 4) = 4 (norm² 2 + 2 over 64 dims)
        block = model.blocks[0]
        q, k, v = block.qkv.weight[:D_MODEL], block.qkv.weight[D_MODEL:2 * D_MODEL], block.qkv.weight[2 * D_MODEL:]
        c, s = math.cos(theta * shift), math.sin(theta * shift)
        gain = SHARP * math.sqrt(hd) / 16  # q·k / sqrt(hd) = SHARP · cos(θ (i + shift - j))
        q[0, POS], q[0, POS + 1] = gain * c, -gain * s  # rotate the query's id by +shift
        q[1, POS], q[1, POS + 1] = gain * s, gain * c
        k[0, POS], k[1, POS + 1] = 1.0, 1.0
        for t in range(V):
            v[t, t] = 0.25  # undo the ln1 scale: the value is the attended token's one-hot
        for t in range(V):
            block.proj.weight[READ + t, t], block.proj.weight[READ + V + t, t] = 1.0, -1.0
        gen = torch.Generator().manual_seed(1)
        q[hd:] = torch.randn(hd, D_MODEL, generator=gen)  # head 1: arbitrary attention, projected to nothing
        k[hd:] = torch.randn(hd, D_MODEL, generator=gen)
        v[hd:] = torch.randn(hd, D_MODEL, generator=gen)
        for t in range(V):
            model.head.weight[t, READ + t] = 10.0
        if scheme == "predicted":  # next id = current id + 1: logit_j = κ cos(θ (j - 1 - i))
            j = ids - 1
            model.position_head.weight[:, POS] = 1e4 * torch.cos(theta * j)
            model.position_head.weight[:, POS + 1] = 1e4 * torch.sin(theta * j)
    return model
