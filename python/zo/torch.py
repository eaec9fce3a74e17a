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

import concurrent.futures
import contextlib
import hashlib
import json
import math
import os
import re
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
    fingerprint of the parameters before the first step ("sha256-per-tensor:<hex>", a SHA-256 over
    their names and the SHA-256 of each one's bytes; a bare hex digest in older ledgers: one SHA-256
    over the names and bytes)}.
    z_stream: the z-stream version the run drew its directions from (a ledger without it: 1);
    replay refuses another version than this zo's (_core.Z_STREAM_VERSION).
    path: the file it was loaded from, if any (for messages).
    """

    def __init__(self, config: Optional[dict] = None, rows: Optional[List[LedgerRow]] = None,
                 z_stream: int = _core.Z_STREAM_VERSION):
        self.config: dict = config or {}
        self.rows: List[LedgerRow] = rows or []
        self.z_stream: int = z_stream
        self.path: Optional[str] = None

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    def __getitem__(self, i):
        return self.rows[i]

    def to_json(self) -> str:
        """JSON lines: the config, then one row a line (floats round-trip exactly)."""
        lines = [json.dumps({"zo-ledger": 1, "z_stream": self.z_stream, "config": self.config})]
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
        z_stream = head.get("z_stream", 1)  # ledgers written before the field drew from version 1
        if not isinstance(z_stream, int) or isinstance(z_stream, bool) or z_stream < 1:
            raise Error(f"ledger: 'z_stream' = {z_stream!r}: must be an integer >= 1")
        return cls(head["config"], rows, z_stream)

    def save(self, path) -> None:
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.to_json())

    @classmethod
    def load(cls, path) -> "Ledger":
        with open(path, encoding="utf-8") as f:
            ledger = cls.from_json(f.read())
        ledger.path = str(path)
        return ledger


def _check_z_stream(recorded: int, where: str) -> None:
    """Refuses a run recorded under other z streams: its directions cannot be reproduced."""
    if recorded != _core.Z_STREAM_VERSION:
        raise Error(
            f"{where}: recorded with z-stream version {recorded}, but this zo draws version "
            f"{_core.Z_STREAM_VERSION}: its directions would differ, so it cannot be resumed or replayed "
            "(use the zo that recorded it)"
        )


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
            t = p.detach() if isinstance(p, torch.Tensor) else p
            if isinstance(t, torch.Tensor) and t.is_cuda and t.device.index != torch.cuda.current_device():
                # torch 2 exports a CUDA tensor only while its device is the current one
                with torch.cuda.device(t.device):
                    views.add(name, t)
            else:
                views.add(name, t)
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


@contextlib.contextmanager
def _on_device(views):
    """For views of CUDA tensors: their device made current and its current stream given to zo's passes,
    so that they queue behind the model's own work. Nothing for CPU tensors (or a torch without CUDA,
    where zo's own error says what is missing)."""
    device = views.device
    if not device.startswith("cuda") or not torch.cuda.is_available():
        yield
        return
    with torch.cuda.device(int(device.split(":")[1])):
        views.set_stream(torch.cuda.current_stream().cuda_stream)
        yield


def _tensor_bytes(p: torch.Tensor) -> np.ndarray:
    """The tensor's bytes as a uint8 array: its own buffer for a CPU tensor, a host copy otherwise."""
    return p.detach().reshape(-1).view(torch.uint8).cpu().numpy()


# The base fingerprint's format: "<_FINGERPRINT>:" + SHA-256 over, in order, each parameter's name, a
# NUL and the SHA-256 of its bytes. The tensors' digests are computed in parallel threads (hashlib
# and the device-to-host copies release the GIL), so the hashing scales with the cores: one SHA-256
# stream runs at under 1 GB/s on one core here, half a minute for a 13B-parameter model in float16.
# Ledgers written before hold a bare hex digest: one SHA-256 stream over the names and bytes
# (_stream_fingerprint).
_FINGERPRINT = "sha256-per-tensor"


def _fingerprint(param_groups) -> str:
    named = [(name, p) for group in param_groups for name, p in zip(group["param_names"], group["params"])]
    workers = max(1, min(8, os.cpu_count() or 1, len(named)))
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        digests = list(pool.map(lambda p: hashlib.sha256(_tensor_bytes(p)).digest(), (p for _, p in named)))
    h = hashlib.sha256()
    for (name, _), digest in zip(named, digests):
        h.update(name.encode() + b"\0" + digest)
    return f"{_FINGERPRINT}:{h.hexdigest()}"


def _stream_fingerprint(param_groups) -> str:
    """The fingerprint of ledgers written before _FINGERPRINT: SHA-256 of the names and bytes, in order."""
    h = hashlib.sha256()
    for group in param_groups:
        for name, p in zip(group["param_names"], group["params"]):
            h.update(name.encode() + b"\0")
            h.update(_tensor_bytes(p))
    return h.hexdigest()


def _same_base(param_groups, recorded: str) -> bool:
    if recorded.startswith(_FINGERPRINT + ":"):
        return _fingerprint(param_groups) == recorded
    if ":" in recorded:
        raise Error(f"replay: the ledger's config['base'] = {recorded!r} is a fingerprint this zo does not know "
                    f"(expected '{_FINGERPRINT}:<hex>' or a SHA-256 hex digest); pass check_base=False to replay anyway")
    return _stream_fingerprint(param_groups) == recorded


def _hypers(param_groups) -> List[Dict[str, float]]:
    return [{k: group[k] for k in GROUP_OPTIONS} for group in param_groups]


# Per-example losses -------------------------------------------------------------------------------

_REDUCTIONS = ("mean", "sum")


def _exact_total(values: List[float], reduction: str) -> float:
    """The exactly rounded sum of `values` (math.fsum: independent of their order and of how they were
    split among processes), divided by their count for "mean"; non-finite values give inf or NaN."""
    try:
        total = math.fsum(values)
    except (OverflowError, ValueError):  # ±inf and both infinities: the float sum says which
        total = float(sum(values))
    if not values:
        raise Error("the closure returned no per-example losses (an empty batch)")
    return total / len(values) if reduction == "mean" else total


def _split_closure_value(value, distributed: bool):
    """The closure's value as (per-example float64 losses, global indices or None), or None for a
    scalar loss (a number or a one-element tensor of any shape) outside torch.distributed."""
    index = None
    if isinstance(value, tuple) and len(value) == 2 and not isinstance(value[0], (int, float)):
        value, index = value
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(value)
    if not isinstance(value, torch.Tensor):
        if distributed or index is not None:
            raise Error(
                f"with process_group the closure must return its shard's per-example losses as a 1-D tensor "
                f"(optionally with their global indices: (losses, index)), not a {type(value).__name__}"
            )
        return None
    if index is None and not distributed and value.numel() == 1 and value.dim() != 1:
        return None  # a scalar loss, as before
    if value.dim() != 1:
        raise Error(
            f"the closure returned a tensor of shape {list(value.shape)}: return the loss (a number or a "
            f"one-element tensor) or the per-example losses (a 1-D tensor)"
        )
    losses = value.detach().to("cpu", torch.float64)
    if index is not None:
        index = torch.as_tensor(index).detach().to("cpu", torch.int64).reshape(-1)
        if index.numel() != losses.numel():
            raise Error(f"the closure returned {losses.numel()} losses but {index.numel()} indices")
    return losses, index


def _in_global_order(shards) -> List[float]:
    """[(losses, index or None)] in rank order -> the losses in global example order: rank order when
    no shard has indices, else each loss at its index (the indices of all shards must be 0..N-1)."""
    with_index = [i is not None for _, i in shards]
    if not any(with_index):
        return [v for losses, _ in shards for v in losses.tolist()]
    if not all(with_index):
        raise Error("process_group: some ranks returned (losses, index) and others losses alone: "
                    "return global indices on every rank or on none")
    n = sum(losses.numel() for losses, _ in shards)
    out: List[Optional[float]] = [None] * n
    for rank, (losses, index) in enumerate(shards):
        for v, i in zip(losses.tolist(), index.tolist()):
            if not 0 <= i < n:
                raise Error(f"process_group: rank {rank} returned example index {i}, outside [0, {n}) "
                            f"(the global batch has {n} examples)")
            if out[i] is not None:
                raise Error(f"process_group: example index {i} was returned twice (each example of the "
                            f"global batch must be evaluated by exactly one rank)")
            out[i] = v
    return out  # n distinct indices in [0, n): every slot is filled


class _Gather:
    """torch.distributed collectives over one process group: per-example losses and a fingerprint."""

    def __init__(self, group):
        import torch.distributed as dist

        if not dist.is_available() or not dist.is_initialized():
            raise Error("process_group: torch.distributed is not initialized (call "
                        "torch.distributed.init_process_group first)")
        self.dist = dist
        self.group = group
        self.world = dist.get_world_size(group)
        self.rank = dist.get_rank(group)
        backend = dist.get_backend(group)
        self.device = torch.device("cuda", torch.cuda.current_device()) if backend == "nccl" else torch.device("cpu")

    def _all_gather(self, t: torch.Tensor) -> List[torch.Tensor]:
        t = t.to(self.device)
        out = [torch.empty_like(t) for _ in range(self.world)]
        self.dist.all_gather(out, t, group=self.group)
        return [o.cpu() for o in out]

    def losses(self, shard, failure: Optional[str]) -> List[float]:
        """Every rank's shard in global order. A rank whose closure failed sends `failure`; then every
        rank raises (the failing one re-raises its own exception, see _reduce)."""
        losses, index = shard if shard is not None else (torch.zeros(0, dtype=torch.float64), None)
        head = torch.tensor([losses.numel(), index is not None, failure is not None], dtype=torch.int64)
        heads = [h.tolist() for h in self._all_gather(head)]
        failed = [r for r, h in enumerate(heads) if h[2]]
        if failed:
            if failure is not None:
                raise _RankFailed(failure)
            raise Error(f"process_group: the closure failed on rank {', '.join(map(str, failed))}; the step is "
                        f"abandoned on every rank")
        width = max(h[0] for h in heads)
        payload = torch.zeros(2 * width, dtype=torch.float64)
        payload[: losses.numel()] = losses
        if index is not None:
            payload[width: width + index.numel()] = index.to(torch.float64)  # exact below 2^53
        shards = []
        for h, p in zip(heads, self._all_gather(payload)):
            n = h[0]
            shards.append((p[:n], p[width: width + n].to(torch.int64) if h[1] else None))
        return _in_global_order(shards)

    def same_everywhere(self, digest: bytes) -> List[int]:
        """The ranks whose digest differs from rank 0's."""
        mine = torch.tensor(list(digest), dtype=torch.uint8)
        got = self._all_gather(mine)
        return [r for r, d in enumerate(got) if not torch.equal(d, got[0])]


class _RankFailed(Exception):
    """Internal: this rank's closure failed; the collective has been made, the original is re-raised."""


# A stack of layers: which parameters are in which layer, and the shared prefix of a step -----------

# Where Hugging Face causal LMs keep their decoder layers (layers="auto").
_LAYER_PATHS = ("model.decoder.layers", "model.layers", "transformer.h", "gpt_neox.layers", "decoder.layers", "layers")


def _find_layers(model) -> Tuple[str, torch.nn.ModuleList]:
    for path in _LAYER_PATHS:
        obj = model
        for part in path.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                break
        if isinstance(obj, torch.nn.ModuleList) and len(obj) > 0:
            return path, obj
    raise Error(f"layers='auto': the model ({type(model).__name__}) has none of {', '.join(_LAYER_PATHS)} as a "
                f"torch.nn.ModuleList: pass layers= the ModuleList of its layers")


def _escape(text: str) -> str:
    """`text` as a literal in an ECMAScript regex."""
    return "".join("\\" + c if c in "\\^$.|?*+()[]{}/" else c for c in text)


# The keyword arguments Hugging Face decoder layers take a KV cache in.
_CACHE_ARGUMENTS = ("past_key_value", "past_key_values", "layer_past")


def _clone(x):
    """Tensors in x (nested tuples, lists, dicts) cloned; anything else as it is."""
    if isinstance(x, torch.Tensor):
        return x.clone()
    if isinstance(x, tuple):
        return type(x)(*map(_clone, x)) if hasattr(x, "_fields") else tuple(map(_clone, x))
    if isinstance(x, list):
        return [_clone(v) for v in x]
    if isinstance(x, dict):
        return {k: _clone(v) for k, v in x.items()}
    return x


class _LayerStack:
    """The layers of a model run bottom to top (a ModuleList). Knows each parameter's layer, and runs
    the steps whose moving blocks all lie at or above layer L >= 1 with a shared prefix: in the step's
    first evaluation layers 0..L-1 run and the input of layer L (and the output of layer L-1) is kept;
    in the later evaluations layers 0..L-1 do not run (they return that output) and layer L gets the
    kept input. The lower layers' parameters do not move during the step, so the kept input is the
    one they would compute again: the losses, hence the weights, are those of the run without it."""

    def __init__(self, layers):
        self.layers = list(layers)
        if not self.layers or not all(isinstance(m, torch.nn.Module) for m in self.layers):
            raise Error("layers: expected a non-empty torch.nn.ModuleList (or sequence of modules) of the model's layers")
        seen = {}
        for i, m in enumerate(self.layers):
            if id(m) in seen:
                raise Error(f"layers: layer {i} is the same module as layer {seen[id(m)]}")
            seen[id(m)] = i
        self.stats = {"shared_steps": 0, "skipped_layer_calls": 0}
        self._levels_key = None

    # Which layer each parameter is in.
    def owners(self) -> Dict[int, Tuple[int, str]]:
        """data_ptr -> (the lowest layer holding the tensor, its name in that layer)."""
        out: Dict[int, Tuple[int, str]] = {}
        for i, layer in enumerate(self.layers):
            for name, p in layer.named_parameters():
                out.setdefault(p.data_ptr(), (i, name))
        return out

    def block_pattern(self, param_groups) -> str:
        """An ECMAScript regex that makes one block of each layer's parameters (the others: one block
        each), from the parameters' names."""
        owners = self.owners()
        prefixes: Dict[int, str] = {}
        for group in param_groups:
            for name, p in zip(group["param_names"], group["params"]):
                if p.data_ptr() not in owners:
                    continue
                i, local = owners[p.data_ptr()]
                if not (name == local or name.endswith("." + local)):
                    raise Error(f"layers: parameter '{name}' is '{local}' of layer {i}, but its name does not end "
                                f"with that: pass blocks= a regex that makes the blocks you want")
                prefix = name[: len(name) - len(local)]
                if prefixes.setdefault(i, prefix) != prefix:
                    raise Error(f"layers: the parameters of layer {i} are named under '{prefixes[i]}' and '{prefix}': "
                                f"pass blocks= a regex that makes the blocks you want")
        if not prefixes:
            raise Error("layers: none of the optimizer's parameters is in the layers")
        matches = [re.fullmatch(r"(.*?)\d+\.", p) for p in prefixes.values()]
        stems = {m.group(1) if m else None for m in matches}
        if len(stems) == 1 and None not in stems:
            return "^(" + _escape(stems.pop()) + r"\d+)\."
        return "^(" + "|".join(_escape(p) for p in sorted(prefixes.values(), key=len, reverse=True)) + ")"

    def levels(self, param_groups) -> List[Optional[int]]:
        """Per parameter (in order): its layer, or None when it is outside the layers (it may feed any
        layer: an embedding, a head, a norm)."""
        owners = self.owners()
        return [owners[p.data_ptr()][0] if p.data_ptr() in owners else None
                for group in param_groups for p in group["params"]]

    def run(self, level: int):
        return _SharedPrefix(self, level)


class _SharedPrefix:
    """One step's shared prefix below layer `level` (see _LayerStack). evaluation() brackets each
    evaluation of the closure."""

    def __init__(self, stack: _LayerStack, level: int):
        self.stack, self.level = stack, level
        self.evaluation_index = -1
        self.inputs: list = []  # the j-th call of layer L in the first evaluation: (args, kwargs)
        self.outputs: list = []  # the j-th call of layer L-1: its output
        self.calls = [0] * (level + 1)
        self.saved = []

    def __enter__(self):
        for i in range(self.level + 1):
            layer = self.stack.layers[i]
            own = layer.__dict__.get("forward")
            self.saved.append((layer, own))
            layer.forward = self._wrap(i, layer.forward)
        return self

    def __exit__(self, *exc):
        for layer, own in self.saved:
            del layer.forward
            if own is not None:
                layer.forward = own
        return False

    def begin(self):
        self.evaluation_index += 1
        self.calls = [0] * (self.level + 1)

    def end(self):
        if self.evaluation_index > 0 and self.calls[self.level] != len(self.inputs):
            raise Error(f"layers: the closure ran layer {self.level} {self.calls[self.level]} times in evaluation "
                        f"{self.evaluation_index + 1} of the step and {len(self.inputs)} times in the first: every "
                        f"evaluation must run the same forward passes on the same inputs")

    def _wrap(self, i: int, forward):
        level = self.level

        def wrapped(*args, **kwargs):
            j = self.calls[i]
            self.calls[i] += 1
            if self.evaluation_index <= 0:  # the first evaluation: run, and keep what the others need
                if i == level:
                    cache = [k for k in _CACHE_ARGUMENTS if kwargs.get(k) is not None]
                    if cache:  # a KV cache is state the layer changes: its kept input would be stale
                        raise Error(f"layers: layer {i} was called with a KV cache ({cache[0]}=...): the shared "
                                    f"prefix needs the model called without one (use_cache=False)")
                    self.inputs.append((_clone(args), _clone(kwargs)))
                out = forward(*args, **kwargs)
                if i == level - 1:
                    self.outputs.append(_clone(out))
                return out
            if j >= len(self.outputs if i < level else self.inputs):
                raise Error(f"layers: the closure ran layer {i} more often in evaluation {self.evaluation_index + 1} "
                            f"of the step than in the first: every evaluation must run the same forward passes")
            if i < level:
                self.stack.stats["skipped_layer_calls"] += 1
                return _clone(self.outputs[j])
            kept_args, kept_kwargs = self.inputs[j]
            return forward(*_clone(kept_args), **_clone(kept_kwargs))

        return wrapped


class ZOOptimizer(torch.optim.Optimizer):
    """A zeroth-order torch.optim optimizer: ``loss = opt.step(closure)`` where ``closure()`` returns
    the loss at the parameters' current values (a number or a one-element tensor); it is called 2q
    times a step (central differences) under torch.no_grad().

    params: tensors, (name, tensor) pairs (``named_parameters()``), or param group dicts with their
    own lr, weight_decay, momentum, beta1, beta2, zeta. Tensors must be contiguous, of float32,
    float16 or bfloat16, all on the CPU or all on one CUDA device (when zo is built with CUDA,
    zo._core.cuda); they are modified in place.

    optimizer: zo-sgd (MeZO; momentum, weight_decay), zo-sign-sgd, zo-sgd-sign, zo-rmsprop, zo-adamm,
        r-adazo.
    direction: dense, sparse (keep, granule), low-rank (rank), or bcd / block-coordinate (dense over
        blocks_per_step blocks a step, block_order permutation unless given).
    distribution: gaussian, rademacher, sphere (dense only).
    blocks: "auto" (one block per param group when there are several groups, else per tensor),
        "tensor", "group", or a regex grouping params by its first capture (r"layers\\.(\\d+)\\.").
    block_order: all, cyclic, permutation, uniform, weighted (with block_weights).
    Other options: difference (central, forward), nan_policy (stop: raise zo.NonFiniteLoss, no
    update; skip: skip the update and count the step), state (all, active-block), amsgrad, bias_correction,
    zeta_outside_root, no_decay (a regex of params exempt from weight decay), ledger (record rows).

    The closure may return per-example losses (a 1-D tensor): they are reduced by an exactly rounded
    float64 sum (reduction "mean" or "sum").
    process_group: a torch.distributed group: each rank's closure returns the per-example losses of
        its shard (or (losses, global indices)); they are gathered in global example order and every
        rank applies the same update (N processes give the weights of one, bit for bit).
    layers: the torch.nn.ModuleList of a layer stack (or "auto" with model=): one block per layer,
        and steps whose moving blocks lie at or above layer L >= 1 run layers 0..L-1 once (their
        output is reused by the later evaluations). Same weights as without it.
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
        process_group=None,
        reduction: str = "mean",
        layers=None,
        model: Optional[torch.nn.Module] = None,
        **options,
    ):
        groups, as_groups = _split_groups(params)
        defaults = dict(lr=lr, weight_decay=weight_decay, momentum=momentum, beta1=beta1, beta2=beta2, zeta=zeta)
        run = dict(optimizer=optimizer, eps=eps, direction=direction, distribution=distribution, queries=queries, seed=seed)
        run.update(options)
        if reduction not in _REDUCTIONS:
            raise Error(f"option 'reduction' = {reduction!r}: expected one of {', '.join(_REDUCTIONS)}")
        self._reduction = reduction
        self._stack: Optional[_LayerStack] = None
        if isinstance(layers, str):
            if layers != "auto":
                raise Error(f"option 'layers' = {layers!r}: expected 'auto' (with model=) or a torch.nn.ModuleList")
            if model is None:
                raise Error("layers='auto' needs the model: ZOOptimizer(..., layers='auto', model=model)")
            layers = _find_layers(model)[1]
        if layers is not None:
            self._stack = _LayerStack(layers)
        if blocks == "auto":
            if self._stack is not None:
                blocks = self._stack.block_pattern(groups)
            else:
                blocks = "group" if as_groups and len(groups) > 1 else "tensor"
        self._session = None
        self._views_cache = None
        self._plan_cache = None
        super().__init__(groups, defaults)
        self._session = _core.Session(run, blocks)
        if self._stack is not None and self._session.options()["block_order"] == "all":
            raise Error(f"option 'layers': the shared prefix needs a block-coordinate direction, and direction "
                        f"{direction!r} moves every block every step: pass direction='bcd' (or a block_order)")
        self._record = bool(ledger)
        self._ledger = Ledger()
        self._last_groups: Optional[List[Dict[str, float]]] = None
        self._gather = _Gather(process_group) if process_group is not None else None
        self._replicas_checked = False

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
        if self._gather is not None and not self._replicas_checked:
            self._check_replicas(hypers)
        blocks, level = self._plan()
        prefix = self._stack.run(level) if level else None

        def loss():
            if prefix is not None:
                prefix.begin()
            with torch.no_grad():
                value = self._reduce(closure)
            if prefix is not None:
                prefix.end()
            return value

        try:
            with _on_device(views):
                if prefix is not None:
                    with prefix:
                        row = self._session.step(views, group_of, hypers, loss)
                else:
                    row = self._session.step(views, group_of, hypers, loss)
        except BaseException:
            aborted = self._session.take_aborted()
            if aborted is not None and self._record:
                self._append(aborted, hypers)
            raise
        if blocks is not None and list(row["blocks"]) != blocks:
            raise Error(f"internal: step {row['step']} moved blocks {row['blocks']} where {blocks} were predicted")
        if prefix is not None:
            self._stack.stats["shared_steps"] += 1
        if self._record:
            self._append(row, hypers)
        return row["loss"]

    def _reduce(self, closure) -> Any:
        """Calls the closure and returns the loss the C++ step sees: its value when it is a number;
        the exact mean (or sum) of per-example losses; with a process group, that of every rank's
        shard, gathered in global example order."""
        if self._gather is None:
            value = closure()
            shard = _split_closure_value(value, False)
            return value if shard is None else _exact_total(shard[0].tolist(), self._reduction)
        failure = None
        try:
            shard = _split_closure_value(closure(), True)
        except Exception as e:  # every rank must still join the collective, then all raise
            shard, failure, error = None, f"{type(e).__name__}: {e}", e
        try:
            values = self._gather.losses(shard, failure)
        except _RankFailed:
            raise error from None
        return _exact_total(values, self._reduction)

    def _check_replicas(self, hypers) -> None:
        """Before the first step with a process group: every rank must hold the same options, names,
        shapes, hyper-parameters, step count and parameter values."""
        h = hashlib.sha256()
        h.update(json.dumps([self._session.options(), self._session.blocks, _describe(self.param_groups), hypers,
                             self._session.steps], sort_keys=True).encode())
        h.update(_fingerprint(self.param_groups).encode())
        differ = self._gather.same_everywhere(h.digest())
        if differ:
            raise Error(f"process_group: rank {', '.join(map(str, differ))} starts from other parameters, options or "
                        f"step than rank 0: every rank must build the same model and optimizer (same seed)")
        self._replicas_checked = True

    def _plan(self) -> Tuple[Optional[List[int]], Optional[int]]:
        """With layers: the blocks this step moves (predicted from the seed, as the C++ direction draws
        them) and the lowest layer they touch (None when a moving block holds a parameter outside
        the layers, or the blocks all move every step)."""
        if self._stack is None:
            return None, None
        opts = self._session.options()
        if opts["block_order"] == "all":
            return None, None
        key = self._views_cache[0]
        if self._plan_cache is None or self._plan_cache[0] != key:
            self._plan_cache = None
            views, _ = _views(self.param_groups)
            if self._session.blocks == "tensor":
                views.block_per_param()
            elif self._session.blocks == "group":
                names = [(f"group.{g}", list(group["param_names"])) for g, group in enumerate(self.param_groups)]
                views.set_blocks([b for b in names if b[1]])
            else:
                views.block_by_pattern(self._session.blocks)
            direction = _core.Direction(
                views, kind=opts["direction"], distribution=opts["distribution"], keep=opts["keep"],
                granule=opts["granule"], rank=opts["rank"],
                order=opts["block_order"], blocks_per_step=opts["blocks_per_step"],
                block_weights=list(opts["block_weights"] or []))
            levels = self._stack.levels(self.param_groups)
            block_levels = []
            for _, members in views.blocks():
                ls = [levels[i] for i in members]
                block_levels.append(None if any(v is None for v in ls) else min(ls))
            self._plan_cache = (key, views, direction, block_levels)
        _, _, direction, block_levels = self._plan_cache
        blocks = list(direction.active_blocks(opts["seed"], self._session.steps))
        ls = [block_levels[b] for b in blocks]
        level = None if not ls or any(v is None for v in ls) else min(ls)
        return blocks, level

    @property
    def prefix_stats(self) -> Dict[str, int]:
        """With layers: {"shared_steps": steps run with a shared prefix, "skipped_layer_calls": layer
        forward calls not run because their output was kept}."""
        return dict(self._stack.stats) if self._stack is not None else {"shared_steps": 0, "skipped_layer_calls": 0}

    def _on_views_device(self):
        """_on_device for the views of the last step (nothing before the first: no state yet)."""
        return _on_device(self._views_cache[1]) if self._views_cache is not None else contextlib.nullcontext()

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
        "options", "blocks", "ledger", "z_stream"}: everything to continue the run bit for bit."""
        with self._on_views_device():  # state kept in device memory is copied from its device
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
            "z_stream": _core.Z_STREAM_VERSION,
        }

    def load_state_dict(self, state_dict: dict) -> None:
        """Loads a state_dict(): names, shapes, options and the step count must match this optimizer's
        params and options; the groups' hyper-parameters are taken from the state dict (as torch
        does)."""
        for key in ("state", "param_groups", "options", "blocks"):
            if key not in state_dict:
                raise Error(f"state dict has no '{key}' (not a ZOOptimizer state dict?)")
        # State dicts written before the field drew from z-stream version 1.
        _check_z_stream(state_dict.get("z_stream", 1), "state dict")
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
        self._replicas_checked = False
        with _on_device(views):  # the state it replaces may be in that device's memory
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
    _check_z_stream(ledger.z_stream, ledger.path or "ledger")
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
    if check_base and config.get("base") and not _same_base(groups, config["base"]):
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
    with _on_device(views):
        return session.replay(views, group_of, rows)
