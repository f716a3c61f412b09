"""A symbolic task's definition written as tokens of one small, fixed rule vocabulary.

A rule-prefix run (``verify.spec.RunSpec.rule_prefix``; docs/design.md §13) shows the model the
rule it must follow in front of every instance, the toy analogue of Meta-RFFT's explicitly given
rules.  This module turns a definition into that token sequence; ``theory.serialize`` puts it
into rows.  The sequence is

    def h0 <carry rule> ... def y <output rule> len <r(n)> [init y <v>] [init h0 <v>] ... end

each expression in prefix order over its sympy tree (node kind first, then its arguments):

* intermediates are named by their order of definition (``h0``, ``h1``, ...), not by the name a
  task file gives them, so renaming ``carry`` to ``borrow`` changes nothing;
* every node has a fixed arity, so prefix order needs no brackets: ``Add``, ``Mul``, ``And``,
  ``Or``, ``Min`` and ``Max`` are folded into nested binary nodes over their arguments in sympy's
  canonical order (``default_sort_key``), so the order a rule was typed in does not matter;
  ``Eq``/``Ne`` sort their two sides; ``a > b`` is written ``Lt b a`` (and ``>=`` as ``Le``);
  ``Piecewise((e1, c1), (e2, c2), ..., (ek, True))`` is ``Piecewise c1 e1 Piecewise c2 e2 ... ek``;
* a content operator is written with every argument, defaults filled in (``MinOver(j, v, w)`` and
  ``MinOver(j, v, w, -1, n)`` are the same rule) and without its bound index, which is always
  ``j``; ``Lookup(table, i)`` is ``Lookup i <len> v0 v1 ...``;
* ``len`` gives r(n); ``init`` gives the value read at a negative index of each sequence a rule
  reads (``y`` and intermediates), because it changes outputs (``running_parity`` reads ``y[-1] =
  0``).  The input distribution (alphabet, sampler, operand lengths) is not part of the rule: it is
  visible in the instance itself.

Refused, with a ``RuleTokenError`` naming the task and why: an opaque task (``theory.opaque``: a
Python solver, no rule to write down), an integer literal outside ``MIN_LITERAL..MAX_LITERAL``,
more than ``MAX_INTERMEDIATES`` intermediates, a ``Piecewise`` without a final ``True`` branch,
and any sympy node the vocabulary has no token for.  Nothing falls back silently: a rule the
model is shown must be the rule the task computes.

``RULE_VOCAB`` is the whole vocabulary, in embedding order; ``RULE_FORMAT`` numbers this
serialization (a rule-prefix run's key stores it, so changing the vocabulary or the layout above
must bump it and stored runs stop matching).
"""

from __future__ import annotations

import functools

import sympy as sp

from .language import CONTENT_OPERATORS, INPUT_NAMES, ContentOperator, CountWhere, Lookup, SumWhere
from .task import TaskDefinitionError

#: version of this serialization; bump it when RULE_VOCAB or the layout changes
RULE_FORMAT = 1
#: integer literals with a token of their own (every catalogue literal lies in -1..32)
MIN_LITERAL, MAX_LITERAL = -32, 32
#: intermediates a rule may define (h0 .. h3; the catalogue uses at most 2)
MAX_INTERMEDIATES = 4

#: the shared first token of every rule-prefix row (in place of the task token: the model must
#: read the rule to know the task) and the markers of the layout above
STRUCTURE = ("rule", "def", "len", "init", "end")
SEQUENCES = (*INPUT_NAMES, "y", *(f"h{i}" for i in range(MAX_INTERMEDIATES)))
SYMBOLS = ("t", "n", "j")
#: node kinds, each with a fixed arity (ARITY)
ARITY = {
    "Add": 2, "Mul": 2, "Pow": 2, "Mod": 2, "floor": 1, "ceiling": 1, "Min": 2, "Max": 2,
    "Piecewise": 3, "Eq": 2, "Ne": 2, "Lt": 2, "Le": 2, "And": 2, "Or": 2, "Not": 1, "True": 0, "False": 0,
    "MinOver": 4, "MaxOver": 4, "FirstWhere": 4, "LastWhere": 4, "SumWhere": 3, "CountWhere": 2,
}
OPERATORS = (*ARITY, "Lookup")
LITERALS = tuple(str(v) for v in range(MIN_LITERAL, MAX_LITERAL + 1))
#: the whole rule vocabulary, in the order its embeddings are laid out (``theory.serialize.Vocab``)
RULE_VOCAB: tuple[str, ...] = (*STRUCTURE, *SEQUENCES, *SYMBOLS, *OPERATORS, *LITERALS)
RULE_START = STRUCTURE[0]

_FOLDED = {sp.Add: "Add", sp.Mul: "Mul", sp.And: "And", sp.Or: "Or", sp.Min: "Min", sp.Max: "Max"}
_PLAIN = {sp.Pow: "Pow", sp.Mod: "Mod", sp.floor: "floor", sp.ceiling: "ceiling", sp.Not: "Not"}


class RuleTokenError(TaskDefinitionError):
    """A task whose definition cannot be written in the rule vocabulary; the message says why."""


def rule_tokens(task) -> tuple[str, ...]:
    """The rule of ``task`` as tokens of ``RULE_VOCAB`` (module docstring); ``RuleTokenError`` if
    it cannot be written (an opaque task, a literal or a node outside the vocabulary)."""
    if getattr(task, "opaque", False):
        raise RuleTokenError(f"task {task.name!r} is opaque: its outputs come from a Python solver "
                             "(theory.opaque), so it has no symbolic rule to write as rule tokens")
    return _rule_tokens(task)


@functools.lru_cache(maxsize=None)
def _rule_tokens(task) -> tuple[str, ...]:
    # a Task is frozen and hashed by identity: each task object is serialized once
    names = {str(seq): f"h{i}" for i, (seq, _) in enumerate(task.intermediates)}
    if len(names) > MAX_INTERMEDIATES:
        raise RuleTokenError(f"task {task.name!r} defines {len(names)} intermediates; the rule vocabulary names "
                             f"at most {MAX_INTERMEDIATES} (h0..h{MAX_INTERMEDIATES - 1})")
    writer = _Writer(task.name, {**{name: name for name in (*INPUT_NAMES, "y")}, **names})
    out: list[str] = []
    rules = [(names[str(seq)], expr) for seq, expr in task.intermediates] + [("y", task.rule)]
    for label, expr in rules:
        out += ["def", label, *writer.tokens(expr)]
    out += ["len", *writer.tokens(sp.sympify(task.output_length))]
    read = {str(base) for _, expr in rules for base in expr.atoms(sp.IndexedBase)}
    if "y" in read:
        out += ["init", "y", writer.literal(task.initial)]
    for seq, _ in task.intermediates:
        if str(seq) in read:
            out += ["init", names[str(seq)], writer.literal(task.initial_of(str(seq)))]
    out.append("end")
    return tuple(out)


def rule_lengths(tasks) -> dict[str, int]:
    """Tokens in the rule of each task that has one (name -> length); refused tasks are left out."""
    lengths = {}
    for task in tasks:
        try:
            lengths[task.name] = len(rule_tokens(task))
        except RuleTokenError:
            continue
    return lengths


class _Writer:
    """Prefix-order tokens of one task's expressions (``where`` names the task in errors)."""

    def __init__(self, where: str, sequences: dict[str, str]):
        self.where, self.sequences = where, sequences

    def refuse(self, what: str) -> RuleTokenError:
        return RuleTokenError(f"task {self.where!r}: {what} has no token in the rule vocabulary "
                              "(theory.rule_tokens.RULE_VOCAB); rewrite the rule without it or extend the vocabulary "
                              "(and bump RULE_FORMAT)")

    def literal(self, value) -> str:
        if int(value) != value or not MIN_LITERAL <= int(value) <= MAX_LITERAL:
            raise self.refuse(f"the literal {value} (integers {MIN_LITERAL}..{MAX_LITERAL} only)")
        return str(int(value))

    def tokens(self, e: sp.Basic) -> list[str]:
        if isinstance(e, sp.Integer):
            return [self.literal(int(e))]
        if e is sp.true:
            return ["True"]
        if e is sp.false:
            return ["False"]
        if isinstance(e, sp.Symbol):
            if e.name not in SYMBOLS:
                raise self.refuse(f"the symbol {e.name}")
            return [e.name]
        if isinstance(e, sp.Indexed):
            base = str(e.base)
            if base not in self.sequences or len(e.indices) != 1:
                raise self.refuse(f"the read {e}")
            return [self.sequences[base], *self.tokens(e.indices[0])]
        if isinstance(e, ContentOperator):
            return self._content(e)
        if isinstance(e, Lookup):
            table, index = e.args
            if not isinstance(table, sp.Tuple):
                raise self.refuse(f"the lookup table {table}")
            return ["Lookup", *self.tokens(index), self.literal(len(table)),
                    *(tok for v in table for tok in self.tokens(sp.sympify(v)))]
        if isinstance(e, sp.Piecewise):
            return self._piecewise(e.args)
        if isinstance(e, (sp.Eq, sp.Ne)):
            return ["Eq" if isinstance(e, sp.Eq) else "Ne", *self._sorted(e.args, ordered=True)]
        if isinstance(e, (sp.StrictLessThan, sp.LessThan, sp.StrictGreaterThan, sp.GreaterThan)):
            strict = isinstance(e, (sp.StrictLessThan, sp.StrictGreaterThan))
            small, large = (e.lhs, e.rhs) if isinstance(e, (sp.StrictLessThan, sp.LessThan)) else (e.rhs, e.lhs)
            return ["Lt" if strict else "Le", *self.tokens(small), *self.tokens(large)]
        for kind, name in _FOLDED.items():
            if isinstance(e, kind):
                return self._fold(name, e.args)
        for kind, name in _PLAIN.items():
            if isinstance(e, kind):
                if len(e.args) != ARITY[name]:
                    raise self.refuse(f"{name} with {len(e.args)} arguments")
                return [name, *(tok for a in e.args for tok in self.tokens(a))]
        raise self.refuse(f"the expression {e} (a {type(e).__name__})")

    def _sorted(self, args, ordered: bool) -> list[str]:
        """Tokens of ``args``; sorted by sympy's canonical key where their order does not matter."""
        items = sorted(args, key=sp.default_sort_key) if ordered else list(args)
        return [tok for a in items for tok in self.tokens(a)]

    def _fold(self, name: str, args) -> list[str]:
        """A commutative, associative node as nested binary nodes: ``Add a b c`` -> ``Add a Add b c``."""
        items = sorted(args, key=sp.default_sort_key)
        out: list[str] = []
        for a in items[:-1]:
            out += [name, *self.tokens(a)]
        return out + self.tokens(items[-1])

    def _piecewise(self, pairs) -> list[str]:
        *branches, (last, otherwise) = [(p.expr, p.cond) for p in pairs]
        if otherwise is not sp.true:
            raise RuleTokenError(f"task {self.where!r}: a Piecewise without a final (value, True) branch has no "
                                 "value where no condition holds; add an otherwise branch")
        out: list[str] = []
        for value, cond in branches:
            out += ["Piecewise", *self.tokens(cond), *self.tokens(value)]
        return out + self.tokens(last)

    def _content(self, e: ContentOperator) -> list[str]:
        name = type(e).__name__
        if name not in CONTENT_OPERATORS:
            raise self.refuse(f"the content operator {name}")
        if isinstance(e, CountWhere):
            parts = [e.where, e.size]
        elif isinstance(e, SumWhere):
            parts = [e.value, e.where, e.size]
        else:
            parts = [e.value, e.where, sp.Integer(e.default), e.size]
        return [name, *(tok for p in parts for tok in self.tokens(sp.sympify(p)))]
