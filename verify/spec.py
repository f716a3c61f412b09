"""What a run is, as plain data: its training settings and its complete specification.

Kept free of torch so that suites, the CLI's ``--help`` and result stores can describe runs
without paying torch's import time.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 2000
    batch: int = 64
    lr: float = 1e-3
    warmup: int = 100
    grad_clip: float = 1.0
    eval_every: int = 200
    data_seed: int = 0
    model_seed: int = 0
    max_position_offset: int = 0  # random per-row offset of position ids in training (learned PE)
    divergence_factor: float = 10.0  # loss above this × its early value counts as a blow-up
    #: arithmetic of the training forward and backward passes (``PRECISIONS``): ``fp32``, or ``bf16``
    #: mixed precision — the projections, MLP and output head under bf16 autocast, the token mixing,
    #: norms, loss, master weights and optimizer in fp32 (``verify.train``, ``verify.model.fp32_mixing``).
    #: Validation and evaluation always run in fp32.  Left out of the key at ``fp32``.
    precision: str = "fp32"
    #: training passes skip the right padding: the layers that treat tokens one at a time (embeddings,
    #: norms, projections, MLP, output head) run on the slots a loss can depend on only, the token
    #: mixing on the padded batch (``verify.model.RealTokens``).  The same loss and gradients up to
    #: float rounding; at the default suite's ~35 % padding forward+backward ran 1.14-1.26x faster
    #: (clearly for RoPE, within noise for NoPE's primary; benchmarks/THROUGHPUT.md).  Left out of
    #: the key when off.
    skip_padding: bool = False

    def to_dict(self) -> dict:
        d = asdict(self)
        for name, default in _TRAIN_OMITTED_DEFAULTS.items():  # runs made before the field existed keep their keys
            if d[name] == default:
                del d[name]
        return d


#: ``TrainConfig`` fields left out of a key at these values (as ``RunSpec``'s ``_OMITTED_DEFAULTS``)
_TRAIN_OMITTED_DEFAULTS = {"precision": "fp32", "skip_padding": False}


#: ``TrainConfig.precision`` values
PRECISIONS = ("fp32", "bf16")


@dataclass(frozen=True)
class MixtureItem:
    """One training source beside the primary, fully resolved by ``verify.suite.build_spec``.

    ``kind``: ``restriction`` (the primary's restriction family R(z, p, m), sharing its token),
    ``derived`` (a task ``auxtasks.derive`` derives from the primary, e.g.
    ``reverse_addition-carry``) or ``task`` (a catalogue task or a task file).  ``lengths`` are the
    instance lengths it trains at; ``weight`` is rows per primary row and loss weight; ``token``
    the task token its rows start with; ``digest`` the item task's definition digest.
    """

    source: str
    kind: str
    lengths: tuple[int, int]
    weight: float = 1.0
    token: str = ""
    digest: str = ""


@dataclass(frozen=True)
class RunSpec:
    """Everything that determines a run's result; ``key`` hashes all of it.

    ``condition`` is the label reports group by; ``mixture`` is every training source besides
    the primary, resolved (lengths, weight, token, task digest), so the key hashes the whole
    recipe.  ``init_from`` is the parent run a stage finetunes from (its whole spec, so the
    child's key changes when the parent's does).  ``restriction_m`` and ``restriction_lengths``
    fix the restriction task used for measuring ε(N) and c(N).  Specs are built by
    ``verify.suite.build_spec`` only.
    """

    task: str
    condition: str
    seed: int
    train_lengths: tuple[int, int]
    test_lengths: tuple[int, ...]
    restriction_m: int
    restriction_lengths: tuple[int, int]
    layers: int
    d_model: int
    heads: int
    position_scheme: str
    train: TrainConfig
    mixture: tuple[MixtureItem, ...] = ()
    init_from: RunSpec | None = None
    eval_instances: int = 512
    validation_instances: int = 256
    # bump when serialization or derivation changes, so stored results stop matching
    # (4: the mixture replaced the list of derived auxiliary names; stages; weights kept;
    #  5: primary and plain-task rows drawn 16 steps at a time, shuffled — same distribution, other draws)
    data_format: int = 5
    #: ``theory.task.definition_digest`` of the task: editing a task file changes the key
    task_digest: str = ""
    #: rows and loss weight of the primary per step (1: ``batch`` rows); 0 trains only the mixture —
    #: a pretraining stage that never sees the primary, whose checkpoint is its last step
    primary_weight: float = 1.0
    #: token mixer of every block (``verify.model.MIXERS``) and, for HSA, its chunk size and top-k
    mixer: str = "attention"
    chunk_size: int = 8
    top_k: int = 2
    #: 2 for a coupled run whose coupling puts the token before the first output at an id other than
    #: 0 (``theory.structure.separator_id``: reversed couplings; before the fix it had id 0), so its
    #: results stop matching runs made with the old ids; 1 (left out of the key) everywhere else
    coupling_ids: int = 1
    #: 0 (left out of the key): rows start with their task token; else every row, training, validation and
    #: measurement alike, starts with the shared ``rule`` token and its task's rule tokens, written in
    #: format ``theory.rule_tokens.RULE_FORMAT`` (the number, so a new format makes new keys)
    rule_prefix: int = 0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["train"] = self.train.to_dict()
        # defaults are left out, so keys of runs made before these fields existed stay
        for name, default in _OMITTED_DEFAULTS.items():
            if d[name] == default:
                del d[name]
        # a parent is kept whole (every field, as stage keys were first made), except the fields added
        # since, which are left out at their defaults there too, so stored stages keep their keys: its
        # training config as ``TrainConfig.to_dict`` writes it, and ``rule_prefix`` as above
        parent, parent_spec = d["init_from"], self.init_from
        while parent is not None:
            parent["train"] = parent_spec.train.to_dict()
            if parent["rule_prefix"] == _OMITTED_DEFAULTS["rule_prefix"]:
                del parent["rule_prefix"]
            parent, parent_spec = parent["init_from"], parent_spec.init_from
        return d

    @classmethod
    def from_dict(cls, d: dict) -> RunSpec:
        """The spec a stored ``to_dict()`` came from (JSON lists back to tuples); ``key`` is unchanged."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in d.items() if k in known}
        values["train"] = TrainConfig(**d["train"])
        for name in ("train_lengths", "test_lengths", "restriction_lengths"):
            values[name] = tuple(d[name])
        values["mixture"] = tuple(MixtureItem(**{**item, "lengths": tuple(item["lengths"])})
                                  for item in d.get("mixture", ()))
        values["init_from"] = cls.from_dict(d["init_from"]) if d.get("init_from") else None
        return cls(**values)

    @property
    def key(self) -> str:
        return spec_key(self.to_dict())


#: mixers with hierarchical sparse attention (``verify.model.MIXERS``): their runs store ``chunk_selection``
HSA_MIXERS = ("hsa", "recurrent+hsa")

#: ``RunSpec`` fields that ``to_dict`` (hence the key) omits at these values
_OMITTED_DEFAULTS = {"primary_weight": 1.0, "mixer": "attention", "chunk_size": 8, "top_k": 2, "coupling_ids": 1,
                     "rule_prefix": 0}


def spec_key(spec: dict) -> str:
    """The run key of a spec as a dict (``RunSpec.to_dict()``, or a stored spec of any data format):
    the first 16 hex digits of the SHA-256 of its sorted JSON."""
    blob = json.dumps(spec, sort_keys=True, default=list).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


# ------------------------------------------------------------------------- what a run produced


@dataclass(frozen=True)
class Measurement:
    """A run's counts at one length: what ``verify.measure.measure_length`` returns and the store keeps."""

    length: int
    outputs: int  # r(N)
    instances: int
    exact: int
    token_accuracy: float
    restrictions: int
    restriction_errors: int
    consistent: int
    #: first_errors[t]: instances whose first wrong output is y[t]; empty in runs stored before it was measured
    first_errors: tuple[int, ...] = ()
    #: scheme ``predicted`` only: outputs whose generated position id is the true coupled id (of instances × outputs)
    ids_right: int | None = None

    def __post_init__(self):
        object.__setattr__(self, "first_errors", tuple(self.first_errors))

    def to_dict(self) -> dict:
        d = asdict(self)
        if d["ids_right"] is None:  # other schemes store exactly what they stored before
            del d["ids_right"]
        return d

    def first_error_median(self) -> float:
        """Median output index of the first error among the wrong instances (NaN if none or not measured)."""
        total = sum(self.first_errors)
        if total == 0:
            return float("nan")
        seen = 0
        for t, count in enumerate(self.first_errors):
            seen += count
            if 2 * seen >= total:
                return float(t)
        return float(len(self.first_errors) - 1)  # not reached: the counts sum to total


@dataclass(frozen=True)
class ItemCheckpoint:
    """One mixture item at one validation checkpoint: its exact match at each band length of the
    checkpoint (fractions) and the map difference (``verify.transfer.map_difference``) of the
    primary's and its mean-ablation maps at the run's ``head_map_length``."""

    exact: tuple[float, ...]
    map_difference: float


@dataclass(frozen=True)
class TransferCheckpoint:
    """What a run with task items measured at one validation checkpoint (``verify.run``): the
    band lengths (n, A], the primary's exact match at each (fractions), and per item source its
    ``ItemCheckpoint``."""

    step: int
    lengths: tuple[int, ...]
    main: tuple[float, ...]
    items: dict[str, ItemCheckpoint]

    @classmethod
    def from_dict(cls, d: dict) -> TransferCheckpoint:
        return cls(int(d["step"]), tuple(int(n) for n in d["lengths"]), tuple(_number(v) for v in d["main"]),
                   {source: ItemCheckpoint(tuple(_number(v) for v in item["exact"]), _number(item["map_difference"]))
                    for source, item in d["items"].items()})


def _number(v) -> float:
    return float("nan") if v is None else float(v)  # the store writes NaN as null


@dataclass(frozen=True)
class StoredRun:
    """One run as stored: its spec, status, the chosen checkpoint's scores, per-length counts and
    training curves (``loss_curve``: (step, loss); ``validation_curve``: (step, exact match,
    token accuracy) at every evaluation).  ``finished_at`` is when the store received it.

    Runs whose mixture has a derived or plain task item also carry their transfer measurements
    (``verify.run``; empty otherwise, and in runs stored before they were measured):
    ``item_measurements`` (item source -> ((length, exact, instances), ...) at the test lengths its
    task admits), ``head_maps`` (primary task name or item source -> layers × heads mean-ablation
    map of the chosen checkpoint, as rows), ``head_map_length`` (the length L they were probed at;
    0 if none) and ``transfer_checkpoints`` (one ``TransferCheckpoint`` per validation checkpoint).

    Runs whose mixer has hierarchical sparse attention (``hsa``, ``recurrent+hsa``) carry
    ``chunk_selection``: ((length, covered, total), ...) per test length, the outputs whose support
    chunks HSA selected (``verify.probes.chunk_selection``); empty for other mixers and in runs stored
    before it was measured."""

    spec: RunSpec
    key: str
    status: str  # "ok" | "failed"
    reason: str = ""
    best_step: int = 0
    validation_exact: float = float("nan")
    train_seconds: float = 0.0
    wall_seconds: float = 0.0
    measurements: tuple[Measurement, ...] = ()
    loss_curve: tuple[tuple[int, float], ...] = ()
    validation_curve: tuple[tuple[int, float, float], ...] = ()
    finished_at: str | None = None
    item_measurements: dict[str, tuple[tuple[int, int, int], ...]] = field(default_factory=dict)
    head_maps: dict[str, tuple[tuple[float, ...], ...]] = field(default_factory=dict)
    head_map_length: int = 0
    transfer_checkpoints: tuple[TransferCheckpoint, ...] = ()
    chunk_selection: tuple[tuple[int, int, int], ...] = ()
    #: torch threads the run computed with (``verify.run.RunResult.threads``); 0: not recorded
    threads: int = 0

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @classmethod
    def from_dict(cls, d: dict) -> StoredRun:
        """A run dict as ``RunStore.load`` returns it (a ``RunResult.to_dict()`` plus ``finished_at``)."""
        curve = []
        for point in d.get("validation_curve", ()):  # as trained: (step, (em, acc)); as typed: (step, em, acc)
            step, score = point[0], (point[1:] if len(point) > 2 else point[1])
            score = list(score) if isinstance(score, (list, tuple)) else [score]
            curve.append((int(step), float(score[0]), float(score[1]) if len(score) > 1 else float("nan")))
        return cls(spec=RunSpec.from_dict(d["spec"]), key=d["key"], status=d["status"], reason=d.get("reason", ""),
                   best_step=d.get("best_step", 0), validation_exact=d.get("validation_exact", float("nan")),
                   train_seconds=d.get("train_seconds", 0.0), wall_seconds=d.get("wall_seconds", 0.0),
                   measurements=tuple(Measurement(**m) for m in d.get("measurements", ())),
                   loss_curve=tuple((int(s), float(v)) for s, v in d.get("loss_curve", ())),
                   validation_curve=tuple(curve), finished_at=d.get("finished_at"),
                   item_measurements={source: tuple((int(n), int(exact), int(count)) for n, exact, count in rows)
                                      for source, rows in (d.get("item_measurements") or {}).items()},
                   head_maps={label: tuple(tuple(_number(v) for v in row) for row in rows)
                              for label, rows in (d.get("head_maps") or {}).items()},
                   head_map_length=int(d.get("head_map_length") or 0),
                   transfer_checkpoints=tuple(TransferCheckpoint.from_dict(c) for c in d.get("transfer_checkpoints") or ()),
                   chunk_selection=tuple((int(n), int(covered), int(total))
                                         for n, covered, total in d.get("chunk_selection") or ()),
                   threads=int(d.get("threads") or 0))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["spec"] = self.spec.to_dict()
        if not d["chunk_selection"]:  # as ``verify.run.RunResult`` stores it: absent for other mixers
            del d["chunk_selection"]
        if not d["threads"]:  # runs stored before it was recorded stay as they were
            del d["threads"]
        return d
