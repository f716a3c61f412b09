"""Checkpoint choice and early stopping look at training lengths only: test lengths never choose."""

import numpy as np

from verify import run as run_module
from verify.run import RunSpec, execute
from verify.spec import MixtureItem
from verify.train import TrainConfig


def spec(test_lengths):
    return RunSpec(task="reverse", condition="primary+restriction", seed=0, mixture=(MixtureItem("restriction", "restriction", (1, 6), 1.0, "reverse"),),
                   train_lengths=(1, 3), test_lengths=test_lengths, restriction_m=8, restriction_lengths=(1, 6),
                   layers=1, d_model=16, heads=2, position_scheme="rope",
                   train=TrainConfig(steps=60, eval_every=15, warmup=10), eval_instances=32, validation_instances=32)


def test_validation_sees_training_lengths_only(monkeypatch):
    seen = []
    real = run_module.exact_match

    def spy(pred, batch):
        seen.append(int(batch.mask.sum(axis=1).max()))  # r(n) = n for reverse
        return real(pred, batch)

    monkeypatch.setattr(run_module, "exact_match", spy)
    execute(spec(tuple(range(1, 9))))
    assert seen and max(seen) <= 3


def test_test_lengths_do_not_change_the_chosen_checkpoint():
    short = execute(spec((1, 2, 3, 4)))
    long = execute(spec(tuple(range(1, 13))))
    assert short.best_step == long.best_step and short.validation_exact == long.validation_exact
    by_length = {m["length"]: m for m in long.measurements}
    for m in short.measurements:  # the same model, measured on the same fixed evaluation sets
        assert m == by_length[m["length"]]
    assert np.isfinite(short.validation_exact)
