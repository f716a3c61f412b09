"""The catalogue of named tasks, and loading a task by name or from a user's Python file.

Every catalogue task carries an independent plain-Python oracle, so its rules are checked
against the way a person would write the task by hand.  Tasks whose inputs carry planted
structure (a key that occurs earlier, k marked bits, distinct keys) declare a sampler; their
outputs still come from the rules alone.  Opaque tasks (``theory.opaque``: the maze DFS trace and
path) are registered at the end, in ``OPAQUE``; ``load_task`` finds both.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sympy import And, Eq, Mod, Piecewise

from .language import CountWhere, FirstWhere, Intermediate, LastWhere, MaxOver, MinOver, a, b, j, n, q, t, x, y
from .opaque import OpaqueTask, maze_task
from .task import Task, TaskDefinitionError
from .userfile import run_user_file

carry = Intermediate("carry")
borrow = Intermediate("borrow")
partial = Intermediate("partial")


def _digits_sum(v) -> list[int]:
    """Reverse-order digit sum of two operands (oracle)."""
    out, c = [], 0
    for da, db in zip(v["a"], v["b"]):
        s = da + db + c
        out.append(s % 10)
        c = s // 10
    return out + [c]


def _carries(v) -> list[int]:
    out, c = [], 0
    for da, db in zip(v["a"], v["b"]):
        c = int(da + db + c >= 10)
        out.append(c)
    return out


def _subtract(v) -> list[int]:
    out, borrow_in = [], 0
    for da, db in zip(v["a"], v["b"]):
        d = da - db - borrow_in
        out.append(d % 10)
        borrow_in = int(d < 0)
    return out


def _times3(v) -> list[int]:
    out, c = [], 0
    for d in v["a"]:
        s = 3 * d + c
        out.append(s % 10)
        c = s // 10
    return out + [c]


def _increment(v) -> list[int]:
    out, c = [], 1
    for d in v["x"]:
        out.append((d + c) % 2)
        c = d * c
    return out + [c]


def _running_parity(v) -> list[int]:
    out, p = [], 0
    for d in v["x"]:
        p = (p + d) % 2
        out.append(p)
    return out


def _majority(v) -> list[int]:
    counts = [v["x"].count(s) for s in range(3)]
    return [min(range(3), key=lambda s: (-counts[s], s))]


def _sort_repeats(v) -> list[int]:
    return sorted(v["x"])


def _capital(tok: int) -> int:
    return tok + 8 if tok < 8 else tok


def _distinct_prefix_with_query(offset_lo: int, offset_hi_from_end: int, alphabet: int):
    """Sampler: n-1 distinct tokens, then a query equal to the token at an earlier position."""
    def sampler(rng: np.random.Generator, batch: int, n_value: int) -> dict[str, np.ndarray]:
        body = np.argsort(rng.random((batch, alphabet)), axis=1)[:, :n_value - 1]
        where = rng.integers(offset_lo, n_value - offset_hi_from_end, size=batch)
        query = body[np.arange(batch), where][:, None]
        return {"x": np.concatenate([body, query], axis=1).astype(np.int64)}
    return sampler


def _query_twice_sampler(alphabet: int):
    """Sampler: a body of n-1 tokens, n-2 of them distinct, whose one repeated token is the query.

    The query token sits at two body positions p1 < p2 <= n-3 (uniform over the pairs), so the
    token after each occurrence is inside the body, and the last token is the query.  The token
    after p1 and the token after p2 always differ: if p2 = p1 + 1 the first is the query and the
    second is not; otherwise they are two different positions holding two distinct non-query tokens.
    """
    def sampler(rng: np.random.Generator, batch: int, n_value: int) -> dict[str, np.ndarray]:
        distinct = np.argsort(rng.random((batch, alphabet)), axis=1)[:, :n_value - 2]
        pair = np.sort(np.argsort(rng.random((batch, n_value - 2)), axis=1)[:, :2], axis=1)
        p1, p2 = pair[:, :1], pair[:, 1:]
        idx = np.arange(n_value - 1)[None, :]
        # body position i reads distinct[i] before p2, distinct[i - 1] after it; p2 repeats p1
        src = np.where(idx == p2, p1, idx - (idx > p2))
        body = np.take_along_axis(distinct, src, axis=1)
        query = np.take_along_axis(distinct, p1, axis=1)
        return {"x": np.concatenate([body, query], axis=1).astype(np.int64)}
    return sampler


def _retrieve_first(v) -> list[int]:
    xs = v["x"]
    body, query = xs[:-1], xs[-1]
    return [xs[body.index(query) + 1]]


def _retrieve_last(v) -> list[int]:
    xs = v["x"]
    body, query = xs[:-1], xs[-1]
    return [xs[max(i for i, tok in enumerate(body) if tok == query) + 1]]


def _successor_sampler(alphabet: int):
    def sampler(rng, batch, n_value):
        xs = np.argsort(rng.random((batch, alphabet)), axis=1)[:, :n_value].astype(np.int64)
        pick = rng.integers(0, n_value, size=batch)
        return {"x": xs, "q": xs[np.arange(batch), pick][:, None]}
    return sampler


def _successor(v, alphabet: int) -> list[int]:
    larger = [e for e in v["x"] if e > v["q"][0]]
    return [min(larger) if larger else alphabet]


def _predecessor(v, alphabet: int) -> list[int]:
    smaller = [e for e in v["x"] if e < v["q"][0]]
    return [max(smaller) if smaller else alphabet]


def _passkey_sampler(rng, batch, n_value):
    marker = 15
    xs = rng.integers(0, marker, size=(batch, n_value)).astype(np.int64)
    where = rng.integers(0, n_value - 1, size=batch)
    xs[np.arange(batch), where] = marker
    return {"x": xs}


def _passkey(v) -> list[int]:
    return [v["x"][v["x"].index(15) + 1]]


def _mqar_sampler(rng, batch, n_value):
    alphabet = 16
    keys = np.argsort(rng.random((batch, alphabet)), axis=1)[:, :n_value]
    values = rng.integers(0, alphabet, size=(batch, n_value))
    pairs = np.stack([keys, values], axis=2).reshape(batch, 2 * n_value)
    queries = keys[np.arange(batch)[:, None], rng.integers(0, n_value, size=(batch, n_value))]
    return {"a": pairs.astype(np.int64), "q": queries.astype(np.int64)}


def _mqar(v) -> list[int]:
    table = {v["a"][2 * i]: v["a"][2 * i + 1] for i in range(len(v["a"]) // 2)}
    return [table[k] for k in v["q"]]


def _sparse_parity_sampler(k: int):
    def sampler(rng, batch, n_value):
        bits = rng.integers(0, 2, size=(batch, n_value)).astype(np.int64)
        marks = np.zeros((batch, n_value), np.int64)
        chosen = np.argsort(rng.random((batch, n_value)), axis=1)[:, :k]
        marks[np.arange(batch)[:, None], chosen] = 1
        return {"x": bits + 2 * marks}
    return sampler


def sparse_parity(k: int) -> Task:
    """Parity of the k marked bits among n (Golowich et al. 2025).

    Each token carries its bit and whether it is marked (0/1 unmarked, 2/3 marked), so a mark is
    local to its bit; the support is the marked ones, at most k, for every n.
    """
    return Task(
        name=f"sparse_parity_k{k}", description=f"parity of the {k} marked bits (tokens: bit + 2*mark)",
        length_meaning="bits", rule=Mod(CountWhere(j, Eq(x[j], 3)), 2), alphabet=4, output_alphabet=2,
        output_length=1, sampler=_sparse_parity_sampler(k), min_length=k,
        oracle=lambda v: [sum(1 for tok in v["x"] if tok == 3) % 2],
    )


_c = [CountWhere(j, Eq(x[j], s)) for s in range(3)]
_add_carry = Piecewise((0, Eq(t, 0)), (Piecewise((1, a[t - 1] + b[t - 1] + carry[t - 1] >= 10), (0, True)), True))

TASKS = [
    Task(name="copy", description="copy the input sequence", length_meaning="input tokens",
         rule=x[t], alphabet=10, oracle=lambda v: list(v["x"])),
    Task(name="reverse", description="write the input sequence backwards", length_meaning="input tokens",
         rule=x[n - 1 - t], alphabet=10, oracle=lambda v: list(reversed(v["x"]))),
    Task(name="unique_copy", description="copy distinct tokens, each found after its predecessor",
         length_meaning="input tokens (distinct)", alphabet=32, distinct=True,
         rule=Piecewise((FirstWhere(j, x[j], True), Eq(t, 0)), (FirstWhere(j, x[j + 1], Eq(x[j], y[t - 1])), True)),
         oracle=lambda v: list(v["x"])),
    Task(name="repeat_copy", description="copy a binary string", length_meaning="input bits",
         rule=x[t], alphabet=2, oracle=lambda v: list(v["x"])),
    Task(name="sort", description="sort distinct tokens ascending (each output is the successor of the previous one)",
         length_meaning="input tokens (distinct)", alphabet=32, distinct=True,
         # y[t] = the smallest input greater than y[t-1]; y[-1] reads -1, so y[0] is the minimum
         rule=MinOver(j, x[j], x[j] > y[t - 1]), oracle=lambda v: sorted(v["x"])),
    Task(name="sort_repeats", description="sort tokens with repeats ascending", length_meaning="input tokens",
         alphabet=10, oracle=_sort_repeats,
         # repeat y[t-1] while the input has more copies of it than the output so far
         rule=Piecewise((y[t - 1], CountWhere(j, Eq(x[j], y[t - 1])) > CountWhere(j, Eq(y[j], y[t - 1]), t)),
                        (MinOver(j, x[j], x[j] > y[t - 1]), True))),
    Task(name="successor", description="the next larger input after the query (task hinting)",
         length_meaning="input tokens (distinct)", alphabet=32, operands=(x, q), operand_lengths=(n, 1),
         output_length=1, output_alphabet=33, rule=MinOver(j, x[j], x[j] > q[0], 32),
         sampler=_successor_sampler(32), max_length=32, oracle=lambda v: _successor(v, 32)),
    Task(name="predecessor", description="the next smaller input before the query (task hinting)",
         length_meaning="input tokens (distinct)", alphabet=32, operands=(x, q), operand_lengths=(n, 1),
         output_length=1, output_alphabet=33, rule=MaxOver(j, x[j], x[j] < q[0], 32),
         sampler=_successor_sampler(32), max_length=32, oracle=lambda v: _predecessor(v, 32)),
    Task(name="reverse_addition", description="add two numbers written least significant digit first",
         length_meaning="digits per operand", alphabet=10, operands=(a, b), output_length=n + 1,
         intermediates={carry: _add_carry},
         rule=Piecewise((carry[t], Eq(t, n)), (Mod(a[t] + b[t] + carry[t], 10), True)), oracle=_digits_sum),
    Task(name="no_carry_sum", description="digit-wise sum mod 10, no carries (Cai et al.)",
         length_meaning="digits per operand", alphabet=10, operands=(a, b), rule=Mod(a[t] + b[t], 10),
         oracle=lambda v: [(p + r) % 10 for p, r in zip(v["a"], v["b"])]),
    Task(name="carry_only", description="the carry out of each digit of a reverse addition (Cai et al.)",
         length_meaning="digits per operand", alphabet=10, operands=(a, b), output_alphabet=2,
         intermediates={carry: _add_carry},
         rule=Piecewise((1, a[t] + b[t] + carry[t] >= 10), (0, True)), oracle=_carries),
    Task(name="reverse_subtraction", description="a − b mod 10^n, least significant digit first",
         length_meaning="digits per operand", alphabet=10, operands=(a, b), oracle=_subtract,
         intermediates={borrow: Piecewise((0, Eq(t, 0)),
                                          (Piecewise((1, a[t - 1] - b[t - 1] - borrow[t - 1] < 0), (0, True)), True))},
         rule=Mod(a[t] - b[t] - borrow[t], 10)),
    Task(name="multiply_by_3", description="3 × a, least significant digit first, with its partial products",
         length_meaning="digits", alphabet=10, operands=(a,), output_length=n + 1, oracle=_times3,
         intermediates={
             carry: Piecewise((0, Eq(t, 0)), (Piecewise((2, 3 * a[t - 1] + carry[t - 1] >= 20),
                                                        (1, 3 * a[t - 1] + carry[t - 1] >= 10), (0, True)), True)),
             partial: Piecewise((carry[t], Eq(t, n)), (3 * a[t] + carry[t], True)),
         },
         rule=Mod(partial[t], 10)),
    Task(name="binary_increment", description="add one to a binary number, least significant bit first",
         length_meaning="bits", alphabet=2, output_length=n + 1, oracle=_increment,
         intermediates={carry: Piecewise((1, Eq(t, 0)), (x[t - 1] * carry[t - 1], True))},
         rule=Piecewise((carry[t], Eq(t, n)), (Mod(x[t] + carry[t], 2), True))),
    Task(name="parity", description="parity of a bit string", length_meaning="bits", alphabet=2, output_length=1,
         rule=Mod(CountWhere(j, Eq(x[j], 1)), 2), oracle=lambda v: [sum(v["x"]) % 2]),
    Task(name="running_parity", description="parity of every prefix", length_meaning="bits", alphabet=2, initial=0,
         rule=Mod(x[t] + y[t - 1], 2), oracle=_running_parity),
    Task(name="majority", description="the most frequent of three letters (ties: smallest)",
         length_meaning="letters", alphabet=3, output_length=1, oracle=_majority,
         rule=Piecewise((0, And(_c[0] >= _c[1], _c[0] >= _c[2])), (1, _c[1] >= _c[2]), (2, True))),
    Task(name="binary_majority", description="1 if more than half the bits are 1", length_meaning="bits",
         alphabet=2, output_length=1, rule=Piecewise((1, 2 * CountWhere(j, Eq(x[j], 1)) > n), (0, True)),
         oracle=lambda v: [int(2 * sum(v["x"]) > len(v["x"]))]),
    *(sparse_parity(k) for k in range(1, 6)),
    Task(name="mqar", description="multi-query associative recall: the value stored under each query key",
         length_meaning="key-value pairs (and queries)", alphabet=16, operands=(a, q), operand_lengths=(2 * n, n),
         rule=FirstWhere(j, a[j + 1], And(Eq(a[j], q[t]), Eq(Mod(j, 2), 0)), -1, 2 * n),
         sampler=_mqar_sampler, max_length=16, oracle=_mqar),
    Task(name="capitalize", description="upper-case every letter (0-7 lower, 8-15 upper)", length_meaning="letters",
         alphabet=16, rule=Piecewise((x[t] + 8, x[t] < 8), (x[t], True)),
         oracle=lambda v: [_capital(c) for c in v["x"]]),
    Task(name="capitalize_reverse", description="upper-case and reverse", length_meaning="letters", alphabet=16,
         rule=Piecewise((x[n - 1 - t] + 8, x[n - 1 - t] < 8), (x[n - 1 - t], True)),
         oracle=lambda v: [_capital(c) for c in reversed(v["x"])]),
    Task(name="retrieve_right", description="the token after the query's earlier occurrence",
         length_meaning="tokens (the last is the query)", alphabet=32, output_length=1, min_length=3,
         max_length=33, rule=FirstWhere(j, x[j + 1], Eq(x[j], x[n - 1]), -1, n - 1),
         sampler=_distinct_prefix_with_query(0, 2, 32),
         oracle=lambda v: [v["x"][v["x"].index(v["x"][-1]) + 1]]),
    Task(name="retrieve_left", description="the token before the query's earlier occurrence",
         length_meaning="tokens (the last is the query)", alphabet=32, output_length=1, min_length=3,
         max_length=33, rule=FirstWhere(j, x[j - 1], Eq(x[j], x[n - 1]), -1, n - 1),
         sampler=_distinct_prefix_with_query(1, 1, 32),
         oracle=lambda v: [v["x"][v["x"].index(v["x"][-1]) - 1]]),
    # Born a Transformer (2025): retrieval at the first vs the last occurrence of a repeated query
    Task(name="retrieve_first",
         description="the token after the query's first earlier occurrence (the query occurs twice)",
         length_meaning="tokens (the last is the query)", alphabet=32, output_length=1, min_length=4,
         max_length=34, rule=FirstWhere(j, x[j + 1], Eq(x[j], x[n - 1]), -1, n - 1),
         sampler=_query_twice_sampler(32), oracle=_retrieve_first),
    Task(name="retrieve_last",
         description="the token after the query's last earlier occurrence (the query occurs twice)",
         length_meaning="tokens (the last is the query)", alphabet=32, output_length=1, min_length=4,
         max_length=34, rule=LastWhere(j, x[j + 1], Eq(x[j], x[n - 1]), -1, n - 1),
         sampler=_query_twice_sampler(32), oracle=_retrieve_last),
    Task(name="passkey", description="the token after the marker (15) hidden in noise", length_meaning="tokens",
         alphabet=16, output_length=1, min_length=2, rule=FirstWhere(j, x[j + 1], Eq(x[j], 15)),
         sampler=_passkey_sampler, oracle=_passkey),
]

CATALOGUE: dict[str, Task] = {task.name: task for task in TASKS}


def load_task(name_or_path: str) -> Task:
    """A catalogue task by name, or the task defined in a Python file (``TASK = Task(...)``).

    Errors in a task file are reported as one line with the file and line where they occur.
    """
    if name_or_path in CATALOGUE:
        return CATALOGUE[name_or_path]
    if name_or_path in OPAQUE:
        return OPAQUE[name_or_path]
    known = ", ".join([*CATALOGUE, *OPAQUE])
    path = Path(name_or_path)
    if path.suffix != ".py":
        raise TaskDefinitionError(
            f"unknown task {name_or_path!r}; known tasks: {known} (or a path to a .py file)")
    if not path.is_file():
        raise TaskDefinitionError(f"no task file at {path}; give a catalogue name ({known}) or a .py file")
    namespace = run_user_file(path, kind="task")  # the file is code: run with its errors named by line
    if isinstance(namespace.get("TASK"), (Task, OpaqueTask)):
        return namespace["TASK"]
    tasks = [v for v in namespace.values() if isinstance(v, (Task, OpaqueTask))]
    if len(tasks) == 1:
        return tasks[0]
    raise TaskDefinitionError(f"{path} defines {len(tasks)} tasks; name the one to use TASK = Task(...)")


# ---------------------------------------------------------------------------- opaque tasks
# Tasks the language cannot express (docs/theory.md §1): a Python generator and solver with a declared
# support (``theory.opaque``).  They are kept apart from CATALOGUE, whose every task has a rule
# to analyse and evaluate; ``load_task`` and ``lengthgen tasks`` know both.

OPAQUE_TASKS = [maze_task("dfs"), maze_task("path")]  # Cai et al.'s DFS trace and shortest path
OPAQUE: dict[str, OpaqueTask] = {task.name: task for task in OPAQUE_TASKS}
ALL_TASKS: dict[str, Task | OpaqueTask] = {**CATALOGUE, **OPAQUE}
