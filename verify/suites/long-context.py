"""Hierarchical sparse attention at toy scale (issue 13, part 1): passkey retrieval trained at short
contexts and evaluated up to 64 times longer, HSA against full attention and a recurrent backbone.

The HSA / RAMba paper (2025) claims that attention which scores chunks of the context from the
token-level relevance inside them, keeps the top-k chunks and aggregates them hierarchically,
stacked on a recurrent backbone, retrieves a passkey at contexts orders of magnitude longer than
its training context, where full attention does not.  Here: passkey (a marker, token 15, hidden in
noise; the answer is the token after it), trained at 1..32 tokens, evaluated at 4..2048 tokens
(64 × the training maximum); conditions: full attention with RoPE and without positions, HSA
(chunks of 8 tokens, top-2, RoPE), the diagonal recurrence alone, and recurrence + HSA; full
attention also with ALiBi and sinusoidal positions (added after the first run)
(``verify/hsa.py``; the model option ``Condition(mixer=...)``).

The chunk-selection accuracy the issue asks for (did HSA select the chunk holding the marker?) is
measured per HSA run at every test length and stored as ``chunk_selection``
(``verify.probes.chunk_selection``, ``verify.run``); the report shows it beside exact match
(``verify.long_context_report``), and the time and memory per token against length from
``benchmarks/hsa_scaling.py --json reports/long-context/efficiency.json``.

Budgets, chosen on training-length validation only before any test length was looked at:
``benchmarks/time_to_fit.py --tasks passkey --train-max 32 --precision bf16 --check-every 100``
(seed 0, one thread, 256 validation instances per length 1..32; 2026-12-02) gave the steps to 99%
validation exact match:

  ==============  =======  =====================  ===========
  condition       scheme   steps to fit (seed 0)  budget here
  ==============  =======  =====================  ===========
  full            RoPE     200                    600
  full-nope       none     1100                   3000
  full-alibi      ALiBi    200                    600
  full-sinusoidal sinus.   400                    1200
  hsa             RoPE     200                    600
  recurrent       none     500                    1500
  recurrent+hsa   RoPE     200                    600
  ==============  =======  =====================  ===========

Each budget is about three times the seed-0 fit (seeds differ; whether each run fitted is read off
its own validation in the report).  The budgets differ between conditions, so a comparison of two
conditions is of two models that each fit 1..32, not of equal step counts.  Training is bf16 mixed
precision (the token mixing itself stays fp32); evaluation is fp32.
"""

from verify.suite import Beats, Condition, Extrapolates, Suite, TaskPlan

HSA_SOURCE = "Hierarchical Sparse Attention / RAMba (2025)"
LENGTHS = (4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)

SUITE = Suite(
    name="long-context",
    description="passkey retrieval at up to 64x the training context: HSA vs full attention vs a recurrent backbone",
    plans=(
        TaskPlan("passkey", "rope", "RoPE for the attention mixers (learned tables cannot reach 2048 tokens)",
                 test_lengths=LENGTHS),
    ),
    seeds=(0, 1, 2),
    train_max=32,
    test_factor=64,
    steps=600,
    eval_instances=256,
    precision="bf16",
    conditions=(
        Condition("full", why="full causal attention, RoPE"),
        Condition("full-nope", position_scheme="none", steps=3000, why="full causal attention without positions"),
        # added after the first run (same predictions: no claim names them), so that full attention is
        # seen with every position scheme that reaches 2048 tokens (a learned table would be untrained there)
        Condition("full-alibi", position_scheme="alibi", why="full causal attention, ALiBi"),
        Condition("full-sinusoidal", position_scheme="sinusoidal", steps=1200,
                  why="full causal attention, sinusoidal absolute positions"),
        Condition("hsa", mixer="hsa", chunk_size=8, top_k=2, why="HSA in every block: chunks of 8, top-2, RoPE"),
        Condition("recurrent", mixer="recurrent", position_scheme="none", steps=1500, why="the diagonal recurrence alone"),
        Condition("recurrent+hsa", mixer="recurrent+hsa", chunk_size=8, top_k=2,
                  why="recurrence then HSA in every block (RAMba-like)"),
    ),
    # Left as registered before the runs (predictions.json, 2026-12-02T02:59): the first label reads as
    # a negation, but an Extrapolates claim judges "keeps exact match >= 0.9 over the band", so
    # "refuted" there means full attention does not retrieve, as the paper says (published="fails");
    # the two HSA Extrapolates claims name no source=, so the agreement table credits their published
    # direction to the C-RASP predictor's paper instead of HSA_SOURCE.  Editing either would re-record
    # the predictions after the training.
    claims=(
        Extrapolates("full", band=(16, 64), published="fails", source=HSA_SOURCE,
                     label="full attention (RoPE) does not retrieve at 16-64x the training context"),
        Extrapolates("hsa", band=(16, 64), published="extrapolates", label="HSA retrieves at 16-64x the training context"),
        Extrapolates("recurrent+hsa", band=(16, 64), published="extrapolates",
                     label="recurrence + HSA retrieves at 16-64x the training context"),
        Beats("recurrent+hsa", "full", published="improvement", source=HSA_SOURCE,
              label="recurrence + HSA beats full attention beyond the training context"),
        Beats("hsa", "full", published="improvement", source=HSA_SOURCE,
              label="HSA beats full attention beyond the training context"),
    ),
)
