"""Golden outputs of training-data sampling: speed-ups of the samplers must not change one value.

Every training batch is a pure function of the generator's state, so the data a run trains on is
fixed by its seed.  The digests below were computed with the sampling code *before* it was
optimized for speed (theory/solver.py, theory/serialize.py, auxtasks/restriction.py) and are
hard-coded on purpose: a faster sampler must reproduce them bit for bit, including the state the
generator is left in (the same draws, of the same sizes, in the same order), or stored runs would
no longer be reproducible.

Covered, as the code that trains and measures calls them:

* primary rows: ``theory.serialize.sample_sequences`` (``verify.run.build``'s primary and plain-task
  sources), batches of 64 rows at lengths from the task's minimum to 8 and one pool-sized call of
  1024 rows (``verify.train._Pool``), plain, with a rule vocabulary and with coupled position ids;
* restriction rows: ``auxtasks.restriction.RestrictionTask.sample`` (``verify.run.build``'s
  restriction source) with m and lengths as ``auxtasks.derive.restriction_defaults`` resolves them
  for the default suite (train_max 8), plus ``restrict`` on given supports as ``verify.measure``
  calls it;
* ``Task.generate`` (outputs, support sets, intermediates) with each kind of support, as
  ``verify.measure`` and validation use it.

A mismatch means the sampled data changed: fix the code, do not update the digests (unless the
change of data is intended and every stored run is to be recomputed).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from auxtasks.derive import restriction_defaults
from auxtasks.restriction import RestrictionTask, restrict
from theory.catalogue import CATALOGUE
from theory.serialize import Vocab, sample_sequences, serialize

TRAIN_MAX = 8  # the default suite's
SEEDS = (0, 1, 2)


class _Digest:
    """SHA-256 over a sequence of arrays (dtype, shape and bytes) and generator states."""

    def __init__(self) -> None:
        self.h = hashlib.sha256()

    def array(self, a: np.ndarray) -> None:
        a = np.ascontiguousarray(a)
        self.h.update(f"{a.dtype.str}{a.shape}".encode())
        self.h.update(a.tobytes())

    def batch(self, b) -> None:
        for a in (b.tokens, b.positions, b.mask):
            self.array(a)

    def rng(self, rng: np.random.Generator) -> None:
        self.h.update(repr(rng.bit_generator.state).encode())

    def hexdigest(self) -> str:
        return self.h.hexdigest()


def _vocab(task, rules: bool = False) -> Vocab:
    return Vocab(task.symbols, (task.name,), rules=rules)


def primary_digest(name: str, variant: str) -> str:
    task = CATALOGUE[name]
    vocab = _vocab(task, rules=variant == "rules")
    coupled = variant == "coupled"
    d = _Digest()
    lengths = (task.min_length, TRAIN_MAX)
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        for count in (64, 64, 64, 1024, 1):
            d.batch(sample_sequences(task, rng, count, lengths, vocab, coupled=coupled))
            d.rng(rng)
    return d.hexdigest()


def restriction_digest(name: str, variant: str) -> str:
    task = CATALOGUE[name]
    vocab = _vocab(task, rules=variant == "rules")
    m, lengths = restriction_defaults(task, TRAIN_MAX)
    source = RestrictionTask(task, m, lengths, reindex=variant == "reindex", coupled=variant == "coupled")
    d = _Digest()
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        for _ in range(6):
            d.batch(source.sample(rng, 64, vocab))
            d.rng(rng)
        # every length of the range once, with the full instances and the restriction's bookkeeping
        for n_value in range(lengths[0], lengths[1] + 1):
            full, rb = source.sample_at(rng, 16, n_value, vocab)
            d.batch(full)
            d.batch(rb.batch)
            for a in (rb.source_row, rb.output_index, rb.target_position, rb.kept):
                d.array(a)
            d.rng(rng)
    return d.hexdigest()


def measure_restrict_digest(name: str) -> str:
    """``restrict`` as ``verify.measure`` calls it: on solved instances with their visible support."""
    task = CATALOGUE[name]
    vocab = _vocab(task)
    m, lengths = restriction_defaults(task, TRAIN_MAX)
    d = _Digest()
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        for n_value in (lengths[0], 5, TRAIN_MAX, lengths[1]):
            inputs, sol = task.generate(rng, 48, n_value)
            plain = serialize(task, inputs, sol.outputs, vocab, plain=True)
            rb = restrict(task, plain, sol.support, n_value, m, rng, pad=vocab.pad)
            d.batch(rb.batch)
            d.array(rb.kept)
            d.rng(rng)
    return d.hexdigest()


def generate_digest(name: str) -> str:
    task = CATALOGUE[name]
    top = min(3 * TRAIN_MAX, task.max_length or 3 * TRAIN_MAX)
    d = _Digest()
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        for n_value in sorted({task.min_length, 5, TRAIN_MAX, top}):
            for support in (True, False, "provenance"):
                inputs, sol = task.generate(rng, 32, n_value, support=support)
                for key in sorted(inputs):
                    d.array(inputs[key])
                d.array(sol.outputs)
                d.array(sol.support)
                for key in sorted(sol.intermediates):
                    d.array(sol.intermediates[key])
                d.rng(rng)
    return d.hexdigest()


# (task, variant) -> digest, computed with the code before the speed-up
PRIMARY = {
    ('sort', 'plain'): '122e36a20240c753760a949ee1144e3ad6b24cc0adece2bd8b1c5a5de5f74dcc',
    ('reverse', 'plain'): 'a50a4a6e050232f38cc59ae8e6720a5a8173ca262a8b2772635103043c2f2886',
    ('no_carry_sum', 'plain'): '61b51ec0ac5f8a04d2a87c959f36e7da1a668bcfa42bed435ddb3b1e9159cc98',
    ('reverse_addition', 'plain'): '12a9603947aa3bb265371359f6731ae4be63ce9bff7cc8b7e5c23aca02c130ac',
    ('sort_repeats', 'plain'): '83d72996d97a1165a32dc1c9d2a952918e8f806de9d9a77b65acf5120693fb9d',
    ('unique_copy', 'plain'): 'a43a0d47d51dc455d69610d17f239209bc2859d7b8408a82a34b17fe8bf56452',
    ('successor', 'plain'): '8a1d155609ae7f87f32be522d8b72f8dac427e24bf09794667443c3d461a3ff0',
    ('sort', 'rules'): '9dbdd9cc25b293c4da62337b611d6e145c3607b69e549fb78bb5ff4922249271',
    ('reverse', 'coupled'): '34b602a7309d7c0cd8d35a40f2095ca9e2bf66c35e2dc769223fc83a26c36516',
}
RESTRICTION = {
    ('sort', 'plain'): 'bb2d4366611bf0e8ad9da8bf3ca4b34481a58b89a035f6a983dce073fb867cf4',
    ('reverse', 'plain'): '5d15eb5e1660ce994e1b47ba60fb5bd87d3d88368d7d72af0938bd6bbb6b03b6',
    ('no_carry_sum', 'plain'): 'd7262863c709d4f32579907436e6366465f0e215cca5759d45c58c6bcf046d62',
    ('unique_copy', 'plain'): 'f2beadb0131e69ffd6e7d1f361072041df40b23204db8de9f893bf84d86a45ec',
    ('running_parity', 'plain'): '3a95fd3b6cc9a0b5141f6717ddfc186e1c771e165f64ed5c5b41f2062b9069d2',
    ('sort', 'rules'): '1b226a46f6b5e43bea5b64d367a748edebeb1ec99dfe5da391024259752e0ae6',
    ('sort', 'reindex'): 'b30d4a85c3f8b6e76f2664115f83f147acb0d85daff0ba23fa348a1e94b817dc',
    ('reverse', 'coupled'): '02799feb9840d8c6d40f75e20ae35228336df1f0a54d9a7fe8956a543fcf3cf6',
}
MEASURE_RESTRICT = {
    'sort': '68629a906f0dcc419e6fcb2f2900e404f5b5ab5c0d645458a865660faaa60efe',
    'reverse': '75d5f61c4ef548d7db4a6d1cc89ce85db19924919f54854e581a288300c01385',
    'no_carry_sum': '18c9e24316a9d7a9a6e5ee4b230a3f0c58537d5c95bef24eca1876008ac1ace3',
    'unique_copy': 'd2c66068f3b97a3256df340ad2ac1a0f4ad477fe9b1fe080a2e012502aaf5b11',
    'mqar': '0177b3e657077e33860e280d7cb5af2fd0d574e5a05e68e350252b07aa8d263c',
    'passkey': '4aaa638f6a18d3cb6578c80d618f019f1a828b913c3b35f7a240cd98cc6e8064',
    'running_parity': 'a4747e9af998dcc469dc5e5db08278945fc352f9aa191ad8d4a0434f75d86fde',
}
GENERATE = {
    'sort': 'c60c90ce488dd9c97ad59d1a864259faa3029e8405c4b212d98fa03f26c914bb',
    'reverse': '7417ab23308ff36506cebe526179d71aabd26793ece07a99ca9d66ccb1c7f2a2',
    'no_carry_sum': '4c4d1f473f1c2225776ac9551e712895312c685fde2b311a49dcf328da2a66c9',
    'reverse_addition': '13d4c60cbe54d55d1c67e462b1df8cdb39bc946de65dd3f7f9049a9a2e4bcd0f',
    'sort_repeats': 'de7f500fac3bd987fbe48989f1d0e6ce62a87d4bf39b3f0a3d39d5b05f5357a6',
    'unique_copy': '97000cf1a824c3ba78e97ff0e734d9e85de6e1420651ec9cfaeed089dbfe1acd',
    'successor': 'dad68839eb1398c174b9004e7b3f2ffc49d8ecf89da245951d703f423247b137',
    'carry_only': '3cc619874d6cc49190a393db5fdcdef3afec17546ca0453788c4c64846eebd7d',
    'multiply_by_3': '9c9bdf35998fd64d6a9f466ab14b9ea8735bfc15c5af6f52ae90b504d26743b3',
    'running_parity': '775ba0697b5f5375faadbdff8bc617d9f1d10dea2a57916a21d29c12e9a879ba',
    'mqar': '29be3e03ce73f77570dbc0863e239df21f9efaa498110aa13c741787813e5832',
    'passkey': 'ed2f6d51f281ac25383efa2e09a7c8acfcb6697740b468a4c346ae4a7c298d30',
    'retrieve_right': '279d307529840a4bf9c68e55855098265f8a6a4d55ffa6065e1700b821006500',
}


@pytest.mark.parametrize("name,variant", sorted(PRIMARY))
def test_primary_rows_unchanged(name, variant):
    assert primary_digest(name, variant) == PRIMARY[(name, variant)]


@pytest.mark.parametrize("name,variant", sorted(RESTRICTION))
def test_restriction_rows_unchanged(name, variant):
    assert restriction_digest(name, variant) == RESTRICTION[(name, variant)]


@pytest.mark.parametrize("name", sorted(MEASURE_RESTRICT))
def test_measured_restrictions_unchanged(name):
    assert measure_restrict_digest(name) == MEASURE_RESTRICT[name]


@pytest.mark.parametrize("name", sorted(GENERATE))
def test_generated_solutions_unchanged(name):
    assert generate_digest(name) == GENERATE[name]


if __name__ == "__main__":  # prints the tables above, for the record of how they were made
    PRIMARY_CASES = [(t, "plain") for t in ("sort", "reverse", "no_carry_sum", "reverse_addition", "sort_repeats",
                                            "unique_copy", "successor")] + [("sort", "rules"), ("reverse", "coupled")]
    RESTRICTION_CASES = [(t, "plain") for t in ("sort", "reverse", "no_carry_sum", "unique_copy", "running_parity")] + [
        ("sort", "rules"), ("sort", "reindex"), ("reverse", "coupled")]
    NAMES = ("sort", "reverse", "no_carry_sum", "reverse_addition", "sort_repeats", "unique_copy", "successor",
             "carry_only", "multiply_by_3", "running_parity", "mqar", "passkey", "retrieve_right")
    print("PRIMARY = {")
    for case in PRIMARY_CASES:
        print(f"    {case!r}: {primary_digest(*case)!r},")
    print("}\nRESTRICTION = {")
    for case in RESTRICTION_CASES:
        print(f"    {case!r}: {restriction_digest(*case)!r},")
    print("}\nMEASURE_RESTRICT = {")
    for name in ("sort", "reverse", "no_carry_sum", "unique_copy", "mqar", "passkey", "running_parity"):
        print(f"    {name!r}: {measure_restrict_digest(name)!r},")
    print("}\nGENERATE = {")
    for name in NAMES:
        print(f"    {name!r}: {generate_digest(name)!r},")
    print("}")
