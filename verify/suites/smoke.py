"""The smallest suite that exercises every stage; the end-to-end tests run it (numbers are not meaningful)."""

from verify.suite import DEFAULT_CLAIMS, DEFAULT_CONDITIONS, Suite, TaskPlan

SUITE = Suite(
    name="smoke",
    description="pipeline check: tiny models, few steps (numbers are not meaningful)",
    plans=(TaskPlan("reverse", "rope", "pipeline check"),),
    seeds=(0, 1),
    train_max=3,
    test_factor=2,
    steps=30,
    layers=1,
    d_model=32,
    heads=2,
    eval_instances=64,
    eval_every=15,
    conditions=DEFAULT_CONDITIONS,
    claims=DEFAULT_CLAIMS,
)
