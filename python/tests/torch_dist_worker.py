"""One process of test_torch_models.py's torch.distributed runs: trains the small torch OPT
(tests/data/models/opt-tied, scripts/nn_modules.py) with zo.torch.ZOOptimizer(process_group=...) on
its shard of a fixed global batch and saves the weights.

    python3 torch_dist_worker.py RANK WORLD INIT_FILE OUT

train() is also what the test runs in one process, without a process group, on the global batch."""

import os
import pathlib
import sys

import torch

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import nn_modules  # noqa: E402

import zo  # noqa: E402
import zo.torch as zt  # noqa: E402

GLOBAL_BATCH, SEQ, MICRO = 4, 16, 2
STEPS = 8
# The runs compared: (name, options). The second adds MeZO-BCD with a shared prefix.
CONFIGS = [
    ("dense", dict(optimizer="zo-sgd", lr=1e-3, eps=1e-3, momentum=0.9, seed=11)),
    ("bcd-layers", dict(optimizer="zo-adamm", lr=1e-3, eps=1e-3, direction="bcd", seed=5, layers="auto")),
]


def model():
    torch.manual_seed(0)
    return nn_modules.from_folder(ROOT / "tests/data/models/opt-tied").eval()


def batch():
    g = torch.Generator().manual_seed(1)
    return torch.randint(0, 1024, (GLOBAL_BATCH, SEQ), generator=g)


def shard_examples(rank, world, strided):
    """The global indices of rank's examples: contiguous slices, or every world-th example."""
    if strided:
        return list(range(rank, GLOBAL_BATCH, world))
    per = GLOBAL_BATCH // world
    return list(range(rank * per, (rank + 1) * per))


def closure_for(m, ids, examples, with_index):
    """Per-example losses of `examples`, evaluated MICRO examples at a time (so that each example's
    loss is computed by the same kernels whatever the split)."""

    def closure():
        parts = [nn_modules.per_example_lm_loss(m(ids[examples[i:i + MICRO]]), ids[examples[i:i + MICRO]])
                 for i in range(0, len(examples), MICRO)]
        losses = torch.cat(parts)
        return (losses, torch.tensor(examples)) if with_index else losses

    return closure


def train(options, rank=0, world=1, group=None, strided=False):
    m, ids = model(), batch()
    examples = shard_examples(rank, world, strided)
    options = dict(options)
    if options.get("layers") == "auto":
        options["model"] = m
    opt = zt.ZOOptimizer(m.named_parameters(), process_group=group, **options)
    closure = closure_for(m, ids, examples, strided)
    losses = [opt.step(closure) for _ in range(STEPS)]
    return m, opt, losses, closure


def main():
    rank, world, init_file, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    torch.set_num_threads(1)
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    group = dist.group.WORLD
    result = {}
    for strided in (False, True):
        for name, options in CONFIGS:
            m, opt, losses, closure = train(options, rank, world, group, strided)
            key = f"{name}-{'strided' if strided else 'contiguous'}"
            result[key] = {"params": {k: v.clone() for k, v in m.state_dict().items()}, "losses": losses,
                           "prefix": opt.prefix_stats}

    # The closure fails on rank 1 only: every rank raises (none waits forever), the step is abandoned.
    def failing():
        if rank == 1:
            raise ValueError("no data on rank 1")
        return closure()

    try:
        opt.step(failing)
        result["failure"] = "no error"
    except ValueError as e:
        result["failure"] = f"ValueError: {e}"
    except zo.Error as e:
        result["failure"] = f"zo.Error: {e}"
    result["after_failure"] = opt.step(closure)  # the group still works

    # Ranks that start from different weights are refused at the first step, on every rank.
    m = model()
    if rank == 1:
        with torch.no_grad():
            m.model.decoder.final_layer_norm.bias.add_(1.0)
    opt = zt.ZOOptimizer(m.named_parameters(), process_group=group, seed=1)
    try:
        opt.step(closure_for(m, batch(), shard_examples(rank, world, False), False))
        result["replicas"] = "no error"
    except zo.Error as e:
        result["replicas"] = str(e)
    dist.destroy_process_group()
    torch.save(result, out)


if __name__ == "__main__":
    main()
