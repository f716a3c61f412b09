"""The default suite: reverse and sort, primary alone vs primary + restriction auxiliaries (AGK 2025).

Choices were made before looking at any test length: position schemes follow the in-distribution
fitting times in docs/feasibility.md §5 (the scheme that fits the training range fastest for each
task), the step budget follows the 10-minute target on 2 cores.

Training runs in bf16 mixed precision (``precision="bf16"``; ``verify.train``): the same seeds,
steps, batch and evaluation sizes as the fp32 runs it replaced, about 1.4x faster per step at this
size on a CPU with bf16 instructions (benchmarks/THROUGHPUT.md), with the same verdicts (the fp32
report's numbers are quoted there beside the bf16 ones).  Evaluation is fp32.

Training skips the batch's right padding (``skip_padding=True``; ``TrainConfig.skip_padding``): a
third of a batch's slots are padding here (rows of lengths 1..8 padded to the longest), and the
layers that treat tokens one at a time no longer compute them; the loss and gradients are the same up
to float rounding.  The bf16 runs made before it stay in the store; benchmarks/THROUGHPUT.md has both.
"""

from verify.suite import DEFAULT_CLAIMS, DEFAULT_CONDITIONS, Suite, TaskPlan

SUITE = Suite(
    name="default",
    description="reverse and sort, primary alone vs primary + restriction auxiliaries (AGK 2025)",
    plans=(
        TaskPlan("reverse", "rope", "RoPE fits reversal fastest in-distribution (docs/feasibility.md §5); NoPE cannot fit it"),
        TaskPlan("sort", "none", "NoPE fits sorting fastest in-distribution (docs/feasibility.md §5)"),
    ),
    seeds=(0, 1, 2),
    train_max=8,
    test_factor=3,
    steps=2000,
    precision="bf16",
    skip_padding=True,
    conditions=DEFAULT_CONDITIONS,  # primary; primary+restriction
    claims=DEFAULT_CLAIMS,  # primary+restriction beats primary (per task); the bound holds where consistent
)
