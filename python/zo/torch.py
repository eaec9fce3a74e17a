"""zo for PyTorch: ZOOptimizer, a torch.optim optimizer that trains tensors in place with zeroth-order
steps, its seed ledger, and replay of that ledger (docs/python.md).

    import zo.torch
    opt = zo.torch.ZOOptimizer(model.named_parameters(), optimizer="zo-sgd", lr=1e-3, eps=1e-3)
    for batch in data:
        loss = opt.step(lambda: loss_fn(model(batch.x), batch.y))
    base = ...                                       # the weights before training
    zo.torch.replay(base.named_parameters(), opt.ledger)   # base now equals model, bit for bit

Each step is zo's C++ step: the in-place protocol (θ += εz, f₊, θ −= 2εz, f₋, θ += εz) on the
tensors' own memory, then the update rule in one fused pass that regenerates z. No copy of θ and no
z is ever stored. z depends on (seed, step, tensor name, element index) only, so names matter: pass
named_parameters() to keep them stable (unnamed tensors are called "params.<k>").
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

import numpy as np
import torch

from . import _core
from ._core import Error, NonFiniteLoss

__all__ = ["ZOOptimizer", "Ledger", "LedgerRow", "replay", "Error", "NonFiniteLoss"]

# Hyper-parameters a param group may set (torch.optim style); the rest are run-wide.
GROUP_OPTIONS = ("lr", "weight_decay", "momentum", "beta1", "beta2", "zeta")


@dataclass
class LedgerRow:
    """One step: enough, with the base weights, to redo it exactly."""

    step: int  # 0-based
    seeds: List[int]  # probe seeds (one per query)
    scales: List[float]  # probe draw scales (1 except for sphere directions)
    rhos: List[float]  # ρ per probe, the projected gradients
    losses: List[float]  # every loss evaluation of the step, in order
    lr: List[float]  # the learning rate of each param group
    blocks: List[int]  # the blocks that moved
    skipped: bool = False  # the update was skipped (non-finite loss, nan_policy "skip")
    aborted: bool = False  # the step was abandoned (nan_policy "stop", or the closure raised): θ moved
    # through the evaluations made and back, no update, and the next row has the same step
    loss: float = math.nan  # the step's loss (mean of (f₊ + f₋)/2; forward: f₀)
    groups: Optional[List[Dict[str, float]]] = None  # the groups' hyper-parameters, when they changed


class Ledger:
    """The rows that define a run, and what replay needs besides them (``config``).

    config: {"options": the run-wide options, "blocks": the block partition, "params": [[name,
    dtype, shape, group]], "groups": the groups' hyper-parameters at the first step, "base": a
    fingerprint (SHA-256) of the parameters' bytes before the first step}.
    """

    def __init__(self, config: Optional[dict] = None, rows: Optional[List[LedgerRow]] = None):
        self.config: dict = config or {}
        self.rows: List[LedgerRow] = rows or []

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    def __getitem__(self, i):
        return self.rows[i]

    def to_json(self) -> str:
        """JSON lines: the config, then one row a line (floats round-trip exactly)."""
        lines = [json.dumps({"zo-ledger": 1, "config": self.config})]
        lines += [json.dumps(asdict(r)) for r in self.rows]
        return "\n".join(lines) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "Ledger":
        lines = [line for line in text.splitlines() if line.strip()]
        if not lines:
            raise Error("ledger: empty text")
        head = json.loads(lines[0])
        if head.get("zo-ledger") != 1:
            raise Error("ledger: the first line is not a zo ledger header (version 1)")
        rows = [LedgerRow(**json.loads(line)) for line in lines[1:]]
        return cls(head["config"], rows)

    def save(self, path) -> None:
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.to_json())

    @classmethod
    def load(cls, path) -> "Ledger":
        with open(path, encoding="utf-8") as f:
            return cls.from_json(f.read())


def _is_named(item) -> bool:
    return isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)


def _split_groups(params) -> Tuple[List[dict], bool]:
    """torch.optim's params (tensors, (name, tensor) pairs, or group dicts) as group dicts with
    'params' (tensors) and 'param_names'; also whether the caller gave group dicts."""
    if isinstance(params, torch.Tensor):
        raise TypeError("params must be an iterable of tensors, of (name, tensor) pairs or of dicts, not a Tensor")
    items = list(params)
    if not items:
        raise ValueError("ZOOptimizer got an empty parameter list")
    as_groups = isinstance(items[0], dict)
    raw = items if as_groups else [{"params": items}]
    groups, k = [], 0
    for g, group in enumerate(raw):
        if not isinstance(group, dict):
            raise TypeError(f"params[{g}]: every item must be a param group dict when the first one is")
        if "params" not in group:
            raise Error(f"param group {g} has no 'params'")
        unknown = sorted(set(group) - set(GROUP_OPTIONS) - {"params", "param_names", "name"})
        if unknown:
            raise Error(
                f"param group {g}: unknown option '{unknown[0]}' (a group may set {', '.join(GROUP_OPTIONS)})"
            )
        members = group["params"]
        members = [members] if isinstance(members, torch.Tensor) else list(members)
        tensors, names = [], []
        given = group.get("param_names")
        for i, m in enumerate(members):
            if _is_named(m):
                names.append(m[0])
                tensors.append(m[1])
            else:
                names.append(given[i] if given is not None else f"params.{k}")
                tensors.append(m)
            k += 1
        out = {key: value for key, value in group.items() if key not in ("params", "param_names")}
        out["params"] = tensors
        out["param_names"] = names
        groups.append(out)
    return groups, as_groups


def _views(param_groups) -> Tuple[_core.TensorViews, List[int]]:
    views = _core.TensorViews()
    group_of = []
    for g, group in enumerate(param_groups):
        for name, p in zip(group["param_names"], group["params"]):
            views.add(name, p.detach() if isinstance(p, torch.Tensor) else p)
            group_of.append(g)
    return views, group_of


_DTYPES = {torch.float32: "f32", torch.float16: "f16", torch.bfloat16: "bf16"}


def _describe(param_groups) -> list:
    """[[name, dtype, shape, group]] of every parameter, in order."""
    return [
        [name, _DTYPES.get(p.dtype, str(p.dtype)), list(p.shape), g]
        for g, group in enumerate(param_groups)
        for name, p in zip(group["param_names"], group["params"])
    ]


def _fingerprint(param_groups) -> str:
    """SHA-256 of the parameters' names and bytes, in order."""
    h = hashlib.sha256()
    for group in param_groups:
        for name, p in zip(group["param_names"], group["params"]):
            h.update(name.encode() + b"\0")
            h.update(p.detach().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _hypers(param_groups) -> List[Dict[str, float]]:
    return [{k: group[k] for k in GROUP_OPTIONS} for group in param_groups]


class ZOOptimizer(torch.optim.Optimizer):
    """A zeroth-order torch.optim optimizer: ``loss = opt.step(closure)`` where ``closure()`` returns
    the loss at the parameters' current values (a number or a one-element tensor); it is called 2q
    times a step (central differences) under torch.no_grad().

    params: tensors, (name, tensor) pairs (``named_parameters()``), or param group dicts with their
    own lr, weight_decay, momentum, beta1, beta2, zeta. Tensors must be contiguous CPU tensors of
    float32, float16 or bfloat16; they are modified in place.

    optimizer: zo-sgd (MeZO; momentum, weight_decay), zo-sign-sgd, zo-sgd-sign, zo-rmsprop, zo-adamm,
        r-adazo.
    direction: dense, sparse (keep), low-rank (rank), or bcd / block-coordinate (dense over
        blocks_per_step blocks a step, block_order permutation unless given).
    distribution: gaussian, rademacher, sphere (dense only).
    blocks: "auto" (one block per param group when there are several groups, else per tensor),
        "tensor", "group", or a regex grouping params by its first capture (r"layers\\.(\\d+)\\.").
    block_order: all, cyclic, permutation, uniform, weighted (with block_weights).
    Other options: difference (central, forward), nan_policy (stop: raise zo.NonFiniteLoss, no
    update; skip: skip the update and count the step), state (all, active-block), amsgrad, bias_correction,
    zeta_outside_root, no_decay (a regex of params exempt from weight decay), ledger (record rows).
    """

    def __init__(
        self,
        params: Iterable,
        optimizer: str = "zo-sgd",
        lr: float = 1e-3,
        eps: float = 1e-3,
        direction: str = "dense",
        distribution: str = "gaussian",
        queries: int = 1,
        seed: int = 0,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        beta1: float = 0.9,
        beta2: float = 0.99,
        zeta: float = 1e-8,
        blocks: str = "auto",
        ledger: bool = True,
        **options,
    ):
        groups, as_groups = _split_groups(params)
        defaults = dict(lr=lr, weight_decay=weight_decay, momentum=momentum, beta1=beta1, beta2=beta2, zeta=zeta)
        run = dict(optimizer=optimizer, eps=eps, direction=direction, distribution=distribution, queries=queries, seed=seed)
        run.update(options)
        if blocks == "auto":
            blocks = "group" if as_groups and len(groups) > 1 else "tensor"
        self._session = None
        self._views_cache = None
        super().__init__(groups, defaults)
        self._session = _core.Session(run, blocks)
        self._record = bool(ledger)
        self._ledger = Ledger()
        self._last_groups: Optional[List[Dict[str, float]]] = None

    def add_param_group(self, param_group: dict) -> None:
        if getattr(self, "_session", None) is not None:
            raise Error("ZOOptimizer: param groups are fixed once the optimizer exists (the ledger depends on them)")
        super().add_param_group(param_group)

    # The run ----------------------------------------------------------------------------------

    def step(self, closure: Optional[Callable[[], Any]] = None) -> float:
        """One ZO step; returns the step's loss (a float). Raises zo.NonFiniteLoss when a loss is NaN
        or infinite under nan_policy "stop": θ is moved back (up to the float rounding of its ±ε moves),
        nothing is updated and the step does not count; the ledger keeps an aborted row so that replay
        redoes those moves. An exception raised by the closure is handled the same way."""
        if closure is None:
            raise Error("ZOOptimizer.step needs a closure that returns the loss: ZO evaluates it 2q times a step")
        views, group_of = self._current_views()
        hypers = _hypers(self.param_groups)
        if self._record and not self._ledger.config:
            self._ledger.config = self._config(hypers)
            self._last_groups = hypers

        def loss():
            with torch.no_grad():
                return closure()

        try:
            row = self._session.step(views, group_of, hypers, loss)
        except BaseException:
            aborted = self._session.take_aborted()
            if aborted is not None and self._record:
                self._append(aborted, hypers)
            raise
        if self._record:
            self._append(row, hypers)
        return row["loss"]

    def _current_views(self):
        """The params viewed in place, reused while no tensor changed its memory, dtype or shape (a
        DLPack export costs microseconds per tensor)."""
        key = tuple(
            (id(p), p.data_ptr(), p.dtype, p.device, tuple(p.shape), tuple(p.stride()))
            for group in self.param_groups
            for p in group["params"]
        )
        if self._views_cache is None or self._views_cache[0] != key:
            self._views_cache = None  # release the old views first
            self._views_cache = (key, *_views(self.param_groups))
        return self._views_cache[1], self._views_cache[2]

    def _append(self, row: dict, hypers) -> None:
        strip = lambda hs: [{k: v for k, v in h.items() if k != "lr"} for h in hs]  # noqa: E731
        changed = strip(hypers) != strip(self._last_groups)
        if changed:
            self._last_groups = hypers
        fields = {k: row[k] for k in row if k != "evaluations"}
        self._ledger.rows.append(LedgerRow(**fields, groups=hypers if changed else None))

    def _config(self, hypers) -> dict:
        return {
            "options": self._session.options(),
            "blocks": self._session.blocks,
            "params": _describe(self.param_groups),
            "groups": hypers,
            "base": _fingerprint(self.param_groups),
        }

    @property
    def ledger(self) -> Ledger:
        """The rows of every step taken (and the config replay needs)."""
        return self._ledger

    @property
    def steps(self) -> int:
        """Steps taken (the index of the next step)."""
        return self._session.steps

    @property
    def state_bytes(self) -> int:
        """Bytes of optimizer state held (m, v, momentum …), allocated lazily per parameter."""
        return self._session.state_bytes

    def options(self) -> dict:
        """The run-wide options as the C++ core resolved them."""
        return self._session.options()

    # State ------------------------------------------------------------------------------------

    def state_dict(self) -> dict:
        """{"state": {"step", "groups": per group {"kind", "scalars", "tensors"}}, "param_groups",
        "options", "blocks", "ledger"}: everything to continue the run bit for bit."""
        state = self._session.state_dict()
        for g in state["groups"]:
            if g is not None:
                g["tensors"] = {k: torch.from_numpy(v) for k, v in g["tensors"].items()}
        groups, index = [], 0
        for group in self.param_groups:
            saved = {k: v for k, v in group.items() if k not in ("params", "param_names")}
            saved["params"] = list(range(index, index + len(group["params"])))
            saved["param_names"] = list(group["param_names"])
            index += len(group["params"])
            groups.append(saved)
        return {
            "state": state,
            "param_groups": groups,
            "options": self._session.options(),
            "blocks": self._session.blocks,
            "ledger": self._ledger.to_json() if self._record and self._ledger.config else None,
        }

    def load_state_dict(self, state_dict: dict) -> None:
        """Loads a state_dict(): names, shapes, options and the step count must match this optimizer's
        params and options; the groups' hyper-parameters are taken from the state dict (as torch
        does)."""
        for key in ("state", "param_groups", "options", "blocks"):
            if key not in state_dict:
                raise Error(f"state dict has no '{key}' (not a ZOOptimizer state dict?)")
        mine, saved = self._session.options(), state_dict["options"]
        diff = [k for k in sorted(set(mine) | set(saved)) if mine.get(k) != saved.get(k)]
        if diff:
            k = diff[0]
            raise Error(f"state dict option '{k}' = {saved.get(k)!r} but this optimizer has {mine.get(k)!r}")
        if state_dict["blocks"] != self._session.blocks:
            raise Error(f"state dict blocks = {state_dict['blocks']!r} but this optimizer has {self._session.blocks!r}")
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise Error(f"state dict has {len(groups)} param groups, this optimizer {len(self.param_groups)}")
        for g, (saved_group, group) in enumerate(zip(groups, self.param_groups)):
            if list(saved_group["param_names"]) != list(group["param_names"]):
                raise Error(
                    f"state dict param group {g} holds {saved_group['param_names']}, this optimizer {group['param_names']}"
                )
        new_hypers = [dict(group) for group in self.param_groups]
        for h, saved_group in zip(new_hypers, groups):
            h.update({k: v for k, v in saved_group.items() if k not in ("params", "param_names")})
        state = dict(state_dict["state"])
        state["groups"] = [
            None
            if g is None
            else {
                "kind": g["kind"],
                "scalars": dict(g["scalars"]),
                "tensors": {k: np.asarray(v.detach().cpu() if isinstance(v, torch.Tensor) else v, dtype=np.float32)
                            for k, v in g["tensors"].items()},
            }
            for g in state["groups"]
        ]
        views, group_of = self._current_views()
        self._session.load_state_dict(state, views, group_of, _hypers(new_hypers))
        for group, h in zip(self.param_groups, new_hypers):
            group.update({k: v for k, v in h.items() if k not in ("params", "param_names")})
        text = state_dict.get("ledger")
        if text and self._record:
            self._ledger = Ledger.from_json(text)
            self._last_groups = self._ledger.config.get("groups")
            for row in self._ledger.rows:
                if row.groups is not None:
                    self._last_groups = row.groups


def replay(params: Iterable, ledger: Ledger, check_base: bool = True) -> int:
    """Rebuilds trained weights from the base weights: applies every ledger row to `params` (the
    base values, in place, given as the run gave them: same names, groups, shapes and dtypes).
    The result equals the trained tensors bit for bit. With check_base, params must hash to the
    run's starting values (the ledger's config["base"]). Returns the updates applied."""
    if not ledger.rows:
        return 0
    config = ledger.config
    groups, _ = _split_groups(params)
    views, group_of = _views(groups)
    got, expected = _describe(groups), [list(p) for p in config["params"]]
    if got != expected:
        for i, (a, b) in enumerate(zip(got, expected)):
            if a != b:
                raise Error(f"replay: parameter {i} is {a} (name, dtype, shape, group) but the ledger's run had {b}")
        raise Error(f"replay: {len(got)} parameters given, the ledger's run had {len(expected)}")
    if check_base and config.get("base") and _fingerprint(groups) != config["base"]:
        raise Error("replay: the parameters are not the ones the run started from (their SHA-256 differs from the "
                    "ledger's config['base']); pass check_base=False to replay onto them anyway")
    session = _core.Session(config["options"], config["blocks"])
    current = config["groups"]
    rows = []
    for r in ledger.rows:
        if r.groups is not None:
            current = r.groups
        d = asdict(r)
        d["groups"] = [dict(h, lr=lr) for h, lr in zip(current, r.lr)]
        rows.append(d)
    return session.replay(views, group_of, rows)
