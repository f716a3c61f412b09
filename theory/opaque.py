"""Opaque tasks: a Python generator and solver with a *declared* support, no symbolic rule.

docs/theory.md §1: tasks that do not fit the language (maze DFS traces) may be opaque.  ``OpaqueTask``
offers the interface every consumer uses from ``theory.task.Task`` (sizes, layout, ``sample``,
``solve``, ``generate``, ``oracle_outputs``), so serialization, restrictions, training and
measurement treat it like any task.  What it lacks is the symbolic analysis: its support sets
are *declared* by its solver, not found by provenance, and dependency kinds, C-RASP membership
and position coupling are reported as "not analysed (opaque)" (``theory.structure``).

**Sufficiency of the declared support.**  A symbolic task re-evaluates its rule over a partial
instance (``Task.evaluate``); an opaque task has no rule, so its ``evaluate`` raises.  Instead it
may declare a ``support_rule``: plain Python that recomputes output ``t`` from a partial view
(instance index -> token) holding the declared S_t, reading the view only (a missing index
raises ``MissingRead``).  It must give the same answer on *any* view that contains S_t, fillers
included: that is what makes a restriction's target a function of the restriction, which the
AGK framework needs.  ``auxtasks.restriction.recheck_restriction`` calls it on restricted
instances, and the load-time check calls it on S_t alone.  An opaque task without a
support_rule is taken on trust, and ``auxtasks.derive`` says so.

**Mazes** (Cai et al. 2025, docs/theory.md §8.5): a maze is a random tree of ``n`` cells of a
``width × height`` board (8 × 4 here, cell id = row·width + column), grown by randomized Prim
(start at a random cell, repeatedly open a uniformly random wall between the tree and a cell
outside it; Cai et al. stop Wilson's algorithm early instead: both give a random tree on n grid
cells, not the same distribution).  Length n = number of nodes.  Input: the ``edges`` operand,
the n−1 tree edges in random order and random orientation, two node ids each (2(n−1) tokens),
then the ``query`` operand (start, goal), two distinct nodes (equal only when n = 1).  Both maze
tasks read the same input, so they can be trained as Cai et al.'s related pair; ``maze_dfs``
ignores the goal.

* ``maze_dfs``: the DFS trace from the start, children in increasing id order, with
  backtracking — the Euler tour of the tree, 2n−1 nodes.
* ``maze_path``: the tree path from start to goal, padded to n tokens with END (= width·height).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np
import sympy as sp

from .language import n
from .solver import Layout, MissingRead, Solution, UnresolvedView
from .task import SizedTask, TaskDefinitionError

#: lengths at which an opaque definition is run by example when it is made
VALIDATION_LENGTHS = (1, 2, 3, 5, 8, 13, 21, 32, 64)
#: what reports print for every analysis an opaque task does not get
NOT_ANALYSED = "not analysed (opaque)"

OpaqueSampler = Callable[[np.random.Generator, int, int], dict[str, np.ndarray]]
OpaqueSolver = Callable[[dict[str, np.ndarray], Layout, bool], Solution]
SupportRule = Callable[[Mapping[int, int], int, Layout], int]


class OpaqueTaskError(TaskDefinitionError):
    """Something an opaque task cannot do (e.g. symbolic re-evaluation), or a malformed one."""


class MissingSupport(UnresolvedView):
    """A support rule did not find what it needs in a partial view (the view lacks part of S_t)."""


def read(view: Mapping[int, int], index: int) -> int:
    """``view[index]``, or ``MissingRead`` naming the index: the one way a support rule reads."""
    if index not in view:
        raise MissingRead(index, candidate=False)
    return int(view[index])


@dataclass(frozen=True, eq=False)
class OpaqueTask(SizedTask):
    """A task given by Python code: a sampler, a solver that declares support sets, an oracle.

    Attributes:
        name, description, length_meaning: as for ``Task``.
        alphabet: input symbols are ``0 .. alphabet-1``.
        operand_names: the input sequences, in serialization order (any identifiers).
        operand_lengths: each operand's length as an expression in ``n`` (0 is allowed).
        output_length: ``r(n)``.
        sampler: ``(rng, batch, n) -> {operand: (batch, size) int64}``.
        solver: ``(inputs, layout, track) -> Solution``: outputs (B, r) and the declared support
            (B, r, U) over instance indices (operands in order, then outputs, as for ``Task``);
            with ``track=False`` the support may be of shape (B, r, 0).
        support_rule: optional ``(view, t, layout) -> y[t]`` that recomputes an output from any
            partial view containing its declared support (see the module docstring).
        oracle: an independent plain-Python solver of one instance (lists in, list out).
        output_alphabet: outputs lie in ``0 .. output_alphabet-1`` (default: alphabet).
        solver_note: one line saying what the solver computes (shown by ``lengthgen tasks show``).
        support_note: what the declared support of ``y[t]`` is, and why.
    """

    name: str
    description: str
    length_meaning: str
    alphabet: int
    operand_names: tuple[str, ...]
    operand_lengths: tuple[sp.Expr, ...]
    output_length: sp.Expr
    sampler: OpaqueSampler = field(repr=False)
    solver: OpaqueSolver = field(repr=False)
    support_rule: SupportRule | None = field(default=None, repr=False)
    oracle: Callable[[dict[str, list[int]]], list[int]] | None = field(default=None, repr=False)
    output_alphabet: int | None = None
    min_length: int = 1
    max_length: int | None = None
    solver_note: str = ""
    support_note: str = ""

    #: consumers branch on this (``theory.structure``, ``auxtasks``); ``Task`` has no such attribute
    opaque = True
    error = OpaqueTaskError
    # what a symbolic Task has and an opaque one does not: no rule, no intermediates
    rule = None
    intermediates = ()
    distinct = False
    initial = -1
    intermediate_initial = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "operand_names", tuple(self.operand_names))
        object.__setattr__(self, "operand_lengths", tuple(sp.sympify(e) for e in self.operand_lengths))
        object.__setattr__(self, "output_length", sp.sympify(self.output_length))
        _validate(self)

    # ------------------------------------------------------------------ sizes
    @property
    def operands(self) -> tuple[sp.IndexedBase, ...]:
        return tuple(sp.IndexedBase(name) for name in self.operand_names)

    def initial_of(self, intermediate: str) -> int:
        raise OpaqueTaskError(f"task {self.name!r} is opaque: it has no intermediate {intermediate!r}")

    # ------------------------------------------------------------------ instances
    def sample(self, rng: np.random.Generator, batch: int, n_value: int) -> dict[str, np.ndarray]:
        self.check_length(n_value)
        return self.sampler(rng, batch, int(n_value))

    def solve(self, inputs: dict[str, np.ndarray], support: bool = True) -> Solution:
        """Outputs and declared support sets of a batch of one length (``support=False``: outputs only)."""
        return self.solver(inputs, self.layout(self.length_of(inputs)), support)

    def evaluate(self, view: dict[int, int], t_value: int, n_value: int) -> int:
        raise OpaqueTaskError(
            f"task {self.name!r} is opaque (a Python solver, no symbolic rule): it cannot be re-evaluated over a "
            "partial instance; its declared support is checked with its support_rule (check_support) instead")

    def check_support(self, view: Mapping[int, int], t_value: int, n_value: int) -> int:
        """Output ``t`` recomputed by the declared support rule from a partial view containing S_t.

        Raises ``MissingRead`` where the view lacks what the rule needs, ``OpaqueTaskError`` if the
        task declares no support rule.
        """
        if self.support_rule is None:
            raise OpaqueTaskError(f"task {self.name!r} declares no support_rule, so its declared support cannot be "
                                  "re-checked; declare support_rule=(view, t, layout) -> y[t]")
        return int(self.support_rule(view, int(t_value), self.layout(int(n_value))))

def is_opaque(task) -> bool:
    """True for an opaque task (no symbolic rule to analyse)."""
    return bool(getattr(task, "opaque", False))


def _validate(task: OpaqueTask) -> None:
    """Run the generator and solver by example: shapes, alphabets, causal declared supports."""
    where = f"task {task.name!r}"
    if not task.name or not task.name.replace("_", "").replace("-", "").isalnum():
        raise OpaqueTaskError(f"{where}: the name must be letters, digits, '-' or '_'")
    if not isinstance(task.alphabet, int) or task.alphabet < 2:
        raise OpaqueTaskError(f"{where}: alphabet must be an integer >= 2, got {task.alphabet!r}")
    if len(task.operand_lengths) != len(task.operand_names) or not task.operand_names:
        raise OpaqueTaskError(f"{where}: give one length expression per operand")
    top = task.max_length or VALIDATION_LENGTHS[-1]
    lengths = [nv for nv in VALIDATION_LENGTHS if task.min_length <= nv <= top] or [task.min_length]
    if task.max_length is not None and task.max_length not in lengths:
        lengths.append(task.max_length)
    rng = np.random.default_rng(0)
    for nv in lengths:
        sizes, r = task.operand_sizes(nv), task.r(nv)
        if min(sizes) < 0 or r < 1:
            raise OpaqueTaskError(f"{where}: at n={nv} operand sizes {sizes} and r(n) = {r}; operands need >= 0 tokens "
                                  "and r(n) >= 1")
        try:
            inputs = task.sample(rng, 4, nv)
            sol = task.solve(inputs)
        except (TaskDefinitionError, MissingRead):
            raise
        except Exception as err:  # a user generator that breaks is a definition error, named as such
            raise OpaqueTaskError(f"{where}: its sampler or solver failed at n={nv}: {type(err).__name__}: {err}") from None
        for name, size in zip(task.operand_names, sizes):
            arr = inputs.get(name)
            if arr is None or arr.shape != (4, size):
                raise OpaqueTaskError(f"{where}: its sampler must return {name} of shape (batch, {size}) at n={nv}")
            if arr.size and (arr.min() < 0 or arr.max() >= task.alphabet):
                raise OpaqueTaskError(f"{where}: its sampler produced {name} tokens outside 0..{task.alphabet - 1}")
        layout = task.layout(nv)
        if sol.outputs.shape != (4, r) or sol.support.shape != (4, r, layout.U) or sol.support.dtype != bool:
            raise OpaqueTaskError(f"{where}: at n={nv} its solver must return outputs (batch, {r}) and a bool support "
                                  f"(batch, {r}, {layout.U}); got {sol.outputs.shape} and {sol.support.shape}")
        if (sol.outputs < 0).any() or (sol.outputs >= task.out_alphabet).any():
            raise OpaqueTaskError(f"{where}: at n={nv} its solver produced outputs outside 0..{task.out_alphabet - 1}; "
                                  "declare output_alphabet")
        # causality: S_t may hold inputs and earlier outputs only
        later = np.arange(layout.U)[None, :] >= layout.out_offset + np.arange(r)[:, None]
        if (sol.support & later[None]).any():
            row, tv, u = np.argwhere(sol.support & later[None])[0]
            raise OpaqueTaskError(f"{where}: at n={nv} the declared support of y[{tv}] holds y[{u - layout.out_offset}], "
                                  "which is not an earlier output")
        if task.support_rule is not None:
            instance = np.concatenate([inputs[o] for o in task.operand_names] + [sol.outputs], axis=1)
            for row in range(4):
                for tv in range(r):
                    kept = {int(u): int(instance[row, u]) for u in np.flatnonzero(sol.support[row, tv])}
                    try:
                        got = task.check_support(kept, tv, nv)
                    except MissingRead as err:
                        raise OpaqueTaskError(f"{where}: at n={nv} its support_rule needs more than the declared support "
                                              f"of y[{tv}] ({err})") from None
                    if got != sol.outputs[row, tv]:
                        raise OpaqueTaskError(f"{where}: at n={nv} its support_rule gives y[{tv}] = {got} from the "
                                              f"declared support, the solver {int(sol.outputs[row, tv])}")


# ============================================================================ mazes

MAZE_WIDTH, MAZE_HEIGHT = 8, 4


def neighbour_table(width: int, height: int) -> np.ndarray:
    """(cells, 4) grid neighbours in increasing id order (up, left, right, down); -1 off the board."""
    cells = np.arange(width * height)
    row, col = cells // width, cells % width
    table = np.stack([np.where(row > 0, cells - width, -1), np.where(col > 0, cells - 1, -1),
                      np.where(col < width - 1, cells + 1, -1), np.where(row < height - 1, cells + width, -1)], axis=1)
    return table.astype(np.int64)


def grow_mazes(rng: np.random.Generator, batch: int, n_value: int, width: int = MAZE_WIDTH,
               height: int = MAZE_HEIGHT) -> tuple[np.ndarray, np.ndarray]:
    """Random trees of ``n_value`` board cells by randomized Prim, vectorized over the batch.

    Returns ``edges`` (batch, n-1, 2), each (cell in the tree, cell it opens), in growth order, and
    ``nodes`` (batch, n), the cells in the order they joined (``nodes[:, 0]`` is the seed cell).
    """
    cells = width * height
    table = neighbour_table(width, height)
    on_board = table >= 0
    safe = np.where(on_board, table, 0)
    rows = np.arange(batch)
    in_tree = np.zeros((batch, cells), dtype=bool)
    nodes = np.zeros((batch, n_value), dtype=np.int64)
    edges = np.zeros((batch, max(n_value - 1, 0), 2), dtype=np.int64)
    nodes[:, 0] = rng.integers(0, cells, size=batch)
    in_tree[rows, nodes[:, 0]] = True
    for k in range(1, n_value):
        # a wall is open-able if it joins a tree cell to a board cell outside the tree
        frontier = in_tree[:, :, None] & on_board[None] & ~in_tree[:, safe]
        score = np.where(frontier.reshape(batch, -1), rng.random((batch, cells * 4)), -1.0)
        pick = score.argmax(axis=1)
        u, d = pick // 4, pick % 4
        v = table[u, d]
        in_tree[rows, v] = True
        nodes[:, k] = v
        edges[:, k - 1, 0], edges[:, k - 1, 1] = u, v
    return edges, nodes


def maze_sampler(width: int = MAZE_WIDTH, height: int = MAZE_HEIGHT) -> OpaqueSampler:
    """Edges (shuffled order, random orientation) and (start, goal), two distinct tree nodes."""
    def sampler(rng: np.random.Generator, batch: int, n_value: int) -> dict[str, np.ndarray]:
        edges, nodes = grow_mazes(rng, batch, n_value, width, height)
        rows = np.arange(batch)
        if n_value > 1:
            order = np.argsort(rng.random((batch, n_value - 1)), axis=1)
            edges = np.take_along_axis(edges, order[:, :, None], axis=1)
            flip = rng.random((batch, n_value - 1)) < 0.5
            edges = np.where(flip[:, :, None], edges[:, :, ::-1], edges)
            first = rng.integers(0, n_value, size=batch)
            second = (first + rng.integers(1, n_value, size=batch)) % n_value
        else:
            first = second = np.zeros(batch, dtype=np.int64)
        query = np.stack([nodes[rows, first], nodes[rows, second]], axis=1)
        return {"edges": edges.reshape(batch, 2 * (n_value - 1)).astype(np.int64), "query": query.astype(np.int64)}
    return sampler


def _incident(edge_tokens) -> dict[int, list[tuple[int, int]]]:
    """node -> [(neighbour, edge index k)]; edge k is at edge-token positions 2k, 2k+1."""
    adj: dict[int, list[tuple[int, int]]] = {}
    for k in range(len(edge_tokens) // 2):
        p, q = int(edge_tokens[2 * k]), int(edge_tokens[2 * k + 1])
        adj.setdefault(p, []).append((q, k))
        adj.setdefault(q, []).append((p, k))
    return adj


def _present_neighbours(view: Mapping[int, int], layout: Layout, node: int) -> list[int]:
    """Neighbours of ``node`` over the edges the view holds whole (both tokens)."""
    base, count = layout.offsets["edges"], layout.operand_sizes["edges"] // 2
    out = []
    for k in range(count):
        if base + 2 * k in view and base + 2 * k + 1 in view:
            p, q = int(view[base + 2 * k]), int(view[base + 2 * k + 1])
            if p == node:
                out.append(q)
            elif q == node:
                out.append(p)
    return out


def _fill(support: np.ndarray, marks: list[tuple[int, int, int]]) -> None:
    if marks:
        b, t_idx, u = np.asarray(marks, dtype=np.int64).T
        support[b, t_idx, u] = True


# ------------------------------------------------------------------ maze_dfs

DFS_SUPPORT = (
    "S_t of y[t] (t >= 1, u = y[t-1]): y[t-1], y[t-2], both tokens of every edge at u, and the first "
    "occurrence y[s] of u with y[s-1] (which names u's parent); S_0 = the start. At most 12 tokens on a grid "
    "(degree <= 4): DFS steps from u to the neighbour after y[t-2] in the cyclic order parent, children "
    "ascending. The traversed edge and y[t-1] alone (3 tokens) would not do: once other edges at u are in a "
    "restriction, which one is taken next is undetermined.")


def _dfs_solver(inputs: dict[str, np.ndarray], layout: Layout, track: bool) -> Solution:
    edges, query = inputs["edges"], inputs["query"]
    B, r, U = edges.shape[0], layout.r, layout.U
    e0, q0, out = layout.offsets["edges"], layout.offsets["query"], layout.out_offset
    outputs = np.zeros((B, r), dtype=np.int64)
    support = np.zeros((B, r, U if track else 0), dtype=bool)
    marks: list[tuple[int, int, int]] = []
    for b in range(B):
        adj = _incident(edges[b])
        start = int(query[b, 0])
        # iterative DFS: a stack of (node, its parent, sorted children not yet entered)
        tour = [start]
        stack = [(start, sorted(v for v, _ in adj.get(start, [])))]
        while stack:
            node, todo = stack[-1]
            if todo:
                child = todo.pop(0)
                stack.append((child, sorted(v for v, _ in adj[child] if v != node)))
                tour.append(child)
            else:
                stack.pop()
                if stack:
                    tour.append(stack[-1][0])
        outputs[b] = tour
        if not track:
            continue
        first: dict[int, int] = {}
        marks.append((b, 0, q0))
        first[start] = 0
        for tv in range(1, r):
            u = tour[tv - 1]
            s = first[u]
            marks += [(b, tv, out + tv - 1), (b, tv, out + s)]
            if tv >= 2:
                marks.append((b, tv, out + tv - 2))
            if s >= 1:
                marks.append((b, tv, out + s - 1))
            for _, k in adj.get(u, []):
                marks += [(b, tv, e0 + 2 * k), (b, tv, e0 + 2 * k + 1)]
            first.setdefault(tour[tv], tv)
    if track:
        _fill(support, marks)
    return Solution(outputs, support)


def _dfs_support_rule(view: Mapping[int, int], t_value: int, layout: Layout) -> int:
    out = layout.out_offset
    if t_value == 0:
        return read(view, layout.offsets["query"])
    u = read(view, out + t_value - 1)
    s = min(i for i in range(t_value) if view.get(out + i) == u)  # first occurrence the view shows
    neighbours = sorted(_present_neighbours(view, layout, u))
    if s == 0:  # u is the start: children ascending, no parent
        order = neighbours
        if t_value == 1:
            if not order:
                raise MissingSupport(f"no edge at the start {u} in the view")
            return order[0]
    else:
        parent = read(view, out + s - 1)
        order = [parent] + [v for v in neighbours if v != parent]
    came_from = read(view, out + t_value - 2)
    if came_from not in order:
        raise MissingSupport(f"the edge {u}-{came_from} is not in the view")
    i = order.index(came_from) + 1
    if s == 0 and i == len(order):
        raise MissingSupport(f"the tour would end at the start {u} before t = {t_value}")
    return order[i % len(order)]


def _dfs_oracle(v: dict[str, list[int]]) -> list[int]:
    adj: dict[int, set[int]] = {}
    e = v["edges"]
    for p, q in zip(e[0::2], e[1::2]):
        adj.setdefault(p, set()).add(q)
        adj.setdefault(q, set()).add(p)
    tour: list[int] = []

    def visit(node: int, parent: int | None) -> None:
        tour.append(node)
        for child in sorted(adj.get(node, ())):
            if child != parent:
                visit(child, node)
                tour.append(node)

    visit(v["query"][0], None)
    return tour


# ------------------------------------------------------------------ maze_path

PATH_SUPPORT = (
    "S_t of y[t] (t >= 1, u = y[t-1]): y[t-1]; if u is not END also the goal; if u is neither END nor the goal "
    "also both tokens of every edge on the tree path from u to the goal; S_0 = the start. Which neighbour of u "
    "leads to the goal is fixed only by the rest of the path, so |S_t| grows with the distance to the goal, "
    "i.e. with n: no bounded support, and no restriction task.")


def _path_solver(end: int):
    def solver(inputs: dict[str, np.ndarray], layout: Layout, track: bool) -> Solution:
        edges, query = inputs["edges"], inputs["query"]
        B, r, U = edges.shape[0], layout.r, layout.U
        e0, q0, out = layout.offsets["edges"], layout.offsets["query"], layout.out_offset
        outputs = np.full((B, r), end, dtype=np.int64)
        support = np.zeros((B, r, U if track else 0), dtype=bool)
        marks: list[tuple[int, int, int]] = []
        for b in range(B):
            adj = _incident(edges[b])
            start, goal = int(query[b, 0]), int(query[b, 1])
            # breadth-first search from the start, then walk back from the goal
            parent: dict[int, tuple[int, int] | None] = {start: None}
            frontier = deque([start])
            while frontier:
                node = frontier.popleft()
                for nb, k in adj.get(node, []):
                    if nb not in parent:
                        parent[nb] = (node, k)
                        frontier.append(nb)
            path, via = [goal], []
            while parent[path[-1]] is not None:
                prev, k = parent[path[-1]]
                path.append(prev)
                via.append(k)
            path.reverse()
            via.reverse()  # via[i] = edge between path[i] and path[i+1]
            outputs[b, :len(path)] = path
            if not track:
                continue
            marks.append((b, 0, q0))
            for tv in range(1, r):
                marks.append((b, tv, out + tv - 1))
                if tv - 1 < len(path):  # y[t-1] is a node, not END
                    marks.append((b, tv, q0 + 1))
                    for k in via[tv - 1:]:
                        marks += [(b, tv, e0 + 2 * k), (b, tv, e0 + 2 * k + 1)]
        if track:
            _fill(support, marks)
        return Solution(outputs, support)
    return solver


def _path_support_rule(end: int) -> SupportRule:
    def rule(view: Mapping[int, int], t_value: int, layout: Layout) -> int:
        q0 = layout.offsets["query"]
        if t_value == 0:
            return read(view, q0)
        u = read(view, layout.out_offset + t_value - 1)
        if u == end:
            return end
        goal = read(view, q0 + 1)
        if u == goal:
            return end
        # search the edges the view holds whole: a sub-forest of the tree, so a path found is the path
        step: dict[int, int | None] = {u: None}  # node -> the first step from u towards it
        frontier = deque([u])
        while frontier:
            node = frontier.popleft()
            for nb in _present_neighbours(view, layout, node):
                if nb not in step:
                    step[nb] = nb if node == u else step[node]
                    frontier.append(nb)
        if goal not in step:
            raise MissingSupport(f"the view holds no path from {u} to the goal {goal}")
        return int(step[goal])
    return rule


def _path_oracle(end: int):
    def oracle(v: dict[str, list[int]]) -> list[int]:
        e = v["edges"]
        n_nodes = len(e) // 2 + 1
        adj: dict[int, list[int]] = {}
        for p, q in zip(e[0::2], e[1::2]):
            adj.setdefault(p, []).append(q)
            adj.setdefault(q, []).append(p)
        start, goal = v["query"]

        def find(node: int, parent: int | None) -> list[int] | None:
            if node == goal:
                return [node]
            for nb in adj.get(node, []):
                if nb != parent:
                    rest = find(nb, node)
                    if rest is not None:
                        return [node] + rest
            return None

        path = find(start, None)
        return path + [end] * (n_nodes - len(path))
    return oracle


def maze_task(kind: str, width: int = MAZE_WIDTH, height: int = MAZE_HEIGHT, name: str | None = None) -> OpaqueTask:
    """``maze_dfs`` (kind "dfs") or ``maze_path`` (kind "path") on a ``width × height`` board."""
    cells = width * height
    board = f"a random tree on a {width}x{height} grid"
    common = dict(length_meaning=f"nodes of the maze ({board}; node ids 0..{cells - 1})", alphabet=cells,
                  operand_names=("edges", "query"), operand_lengths=(2 * n - 2, 2), sampler=maze_sampler(width, height),
                  min_length=1, max_length=cells)
    if kind == "dfs":
        return OpaqueTask(
            name=name or "maze_dfs", output_length=2 * n - 1, solver=_dfs_solver, support_rule=_dfs_support_rule,
            oracle=_dfs_oracle, description="DFS trace of a grid maze from the start, smallest id first, with "
                                            "backtracking (Cai et al.)",
            solver_note="the Euler tour of the tree from the start (query[0]), children in increasing id order, "
                        "2n-1 nodes; the goal is ignored",
            support_note=DFS_SUPPORT, **common)
    if kind == "path":
        return OpaqueTask(
            name=name or "maze_path", output_length=n, output_alphabet=cells + 1, solver=_path_solver(cells),
            support_rule=_path_support_rule(cells), oracle=_path_oracle(cells),
            description="the path from start to goal through a grid maze, padded with END (Cai et al.)",
            solver_note=f"the tree path from query[0] to query[1], then END = {cells} up to n tokens",
            support_note=PATH_SUPPORT, **common)
    raise OpaqueTaskError(f"unknown maze task kind {kind!r}; use 'dfs' or 'path'")
