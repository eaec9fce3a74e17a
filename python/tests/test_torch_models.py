"""zo.torch on models: per-example losses reduced exactly, torch.distributed (N processes give the
weights of one, bit for bit), and MeZO-BCD with a shared prefix over a stack of layers (the lower
layers run once a step, the weights are those of the run without it)."""

import copy
import math
import os
import pathlib
import subprocess
import sys

import pytest
import torch

import zo
import zo.torch as zt

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import nn_modules  # noqa: E402

sys.path.insert(0, str(ROOT / "examples/python"))
from finetune_spam import split as spam_split  # noqa: E402  (BOS + 16 tokens + the question, padded)
import torch_dist_worker as worker  # noqa: E402

OPT_TIED = ROOT / "tests/data/models/opt-tied"


def _same(a, b):
    return all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


@pytest.fixture
def one_thread():
    """torch on one thread during the test (as the distributed workers run), restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# Per-example losses --------------------------------------------------------------------------------

def test_per_example_losses_are_reduced_exactly_in_float64():
    values = torch.tensor([1e8, 1.0, -1e8, 3.0, 0.1], dtype=torch.float32)
    exact = math.fsum(values.double().tolist())
    for reduction, expected in (("mean", exact / 5), ("sum", exact)):
        x = torch.zeros(3)
        opt = zt.ZOOptimizer([("x", x)], lr=0.0, reduction=reduction)
        opt.step(lambda: values)
        assert opt.ledger[0].losses == [expected, expected]
    # A vector closure and a scalar one that returns the same number train identically.
    torch.manual_seed(0)
    X, y = torch.randn(32, 3), torch.randn(32)
    a, b = torch.zeros(3), torch.zeros(3)
    per_a = lambda: (X @ a - y) ** 2  # noqa: E731
    opt_a = zt.ZOOptimizer([("w", a)], lr=1e-2)
    opt_b = zt.ZOOptimizer([("w", b)], lr=1e-2)
    for _ in range(20):
        opt_a.step(per_a)
        opt_b.step(lambda: math.fsum(((X @ b - y) ** 2).double().tolist()) / 32)
    assert torch.equal(a, b)


def test_closure_values_that_are_refused():
    x = torch.zeros(3)
    opt = zt.ZOOptimizer([("x", x)])
    with pytest.raises(zo.Error, match=r"shape \[2, 2\]"):
        opt.step(lambda: torch.ones(2, 2))
    with pytest.raises(zo.Error, match="2 losses but 3 indices"):
        opt.step(lambda: (torch.ones(2), torch.arange(3)))
    with pytest.raises(zo.Error, match="option 'reduction'"):
        zt.ZOOptimizer([("x", x)], reduction="median")
    with pytest.raises(zo.Error, match="not initialized"):
        zt.ZOOptimizer([("x", x)], process_group=object())
    assert zt._in_global_order([(torch.tensor([1.0, 3.0]), torch.tensor([0, 2])),
                                (torch.tensor([2.0]), torch.tensor([1]))]) == [1.0, 2.0, 3.0]
    with pytest.raises(zo.Error, match="returned twice"):
        zt._in_global_order([(torch.tensor([1.0]), torch.tensor([0])), (torch.tensor([2.0]), torch.tensor([0]))])
    with pytest.raises(zo.Error, match="on every rank or on none"):
        zt._in_global_order([(torch.tensor([1.0]), torch.tensor([0])), (torch.tensor([2.0]), None)])


# torch.distributed -----------------------------------------------------------------------------------

def test_two_gloo_processes_give_the_weights_of_one_bit_for_bit(tmp_path, one_thread):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([p for p in sys.path if p]), OMP_NUM_THREADS="1")
    init = tmp_path / "init"
    procs = [subprocess.Popen([sys.executable, str(HERE / "torch_dist_worker.py"), str(r), "2", str(init),
                               str(tmp_path / f"rank{r}.pt")], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for r in range(2)]
    for p in procs:
        out, _ = p.communicate(timeout=240)
        assert p.returncode == 0, out
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]

    for name, options in worker.CONFIGS:
        alone, opt, losses, _ = worker.train(options)  # one process, the global batch, no process group
        for strided in ("contiguous", "strided"):
            for r in ranks:
                got = r[f"{name}-{strided}"]
                assert got["losses"] == losses
                state = alone.state_dict()
                assert all(torch.equal(got["params"][k], state[k]) for k in state), (name, strided)
        if options.get("layers"):
            assert opt.prefix_stats["shared_steps"] > 0  # the shared prefix took part on one process too
            # each rank runs one micro-batch of the two: half the skipped layer calls
            shard = ranks[0][f"{name}-contiguous"]["prefix"]
            assert shard["shared_steps"] == opt.prefix_stats["shared_steps"]
            assert 2 * shard["skipped_layer_calls"] == opt.prefix_stats["skipped_layer_calls"]

    # A closure that fails on one rank fails the step on every rank (nobody waits forever).
    assert ranks[0]["failure"] == "zo.Error: process_group: the closure failed on rank 1; the step is abandoned on every rank"
    assert ranks[1]["failure"] == "ValueError: no data on rank 1"
    assert ranks[0]["after_failure"] == ranks[1]["after_failure"]
    for r in ranks:
        assert r["replicas"].startswith("process_group: rank 1 starts from other parameters")


# MeZO-BCD with a shared prefix ---------------------------------------------------------------------

def _counted(model, layers):
    """calls[i]: forward calls of layer i's first Linear (it runs only when the layer really runs)."""
    calls = [0] * len(layers)
    for i, layer in enumerate(layers):
        first = next(m for m in layer.modules() if isinstance(m, torch.nn.Linear))
        first.register_forward_hook(lambda mod, a, o, i=i: calls.__setitem__(i, calls[i] + 1))
    return calls


@pytest.mark.parametrize("folder,options", [
    (OPT_TIED, dict(optimizer="zo-sgd", lr=1e-3, momentum=0.9)),
    (OPT_TIED, dict(optimizer="zo-adamm", lr=1e-3, queries=2)),
    (ROOT / "models/opt-text-proto", dict(optimizer="zo-sgd", lr=1e-4, difference="forward", queries=2)),
    (ROOT / "tests/data/models/llama-gqa", dict(optimizer="zo-sgd", lr=1e-3, block_order="cyclic")),
], ids=["opt-tied", "opt-tied-q2", "opt-text-proto-forward", "llama-gqa-cyclic"])
def test_shared_prefix_runs_lower_layers_once_and_keeps_the_weights(folder, options):
    base = nn_modules.from_folder(folder).eval()
    g = torch.Generator().manual_seed(2)
    ids = torch.randint(0, base.config["vocab_size"], (3, 12), generator=g)
    steps = 24

    pattern = zt.ZOOptimizer(base.named_parameters(), layers="auto", model=base, direction="bcd")._session.blocks

    def run(share):
        m = copy.deepcopy(base)
        layers = zt._find_layers(m)[1]
        calls = _counted(m, layers)
        # Without the shared prefix: the same blocks (one per layer, one per other tensor), given as a regex.
        kw = dict(layers=layers) if share else dict(blocks=pattern)
        opt = zt.ZOOptimizer(m.named_parameters(), direction="bcd", seed=4, **kw, **options)
        per_step = []
        for _ in range(steps):
            before = list(calls)
            opt.step(lambda: nn_modules.per_example_lm_loss(m(ids), ids))
            per_step.append([c - b for c, b in zip(calls, before)])
        return m, opt, per_step

    shared, opt, calls = run(True)
    plain, plain_opt, plain_calls = run(False)
    assert _same(shared, plain)
    assert [r.losses for r in opt.ledger] == [r.losses for r in plain_opt.ledger]
    layers = zt._find_layers(shared)[1]
    n = len(layers)
    evaluations = len(opt.ledger[0].losses)
    names = [b[0] for b in opt._session.layout()["blocks"]]
    assert sum(name.endswith(f"layers.{i}.") for name in names for i in range(n)) == n  # one block per layer
    lowest = []
    for row, got, plain_got in zip(opt.ledger, calls, plain_calls):
        assert plain_got == [evaluations] * n
        moving = [names[b] for b in row.blocks]
        touched = [i for i in range(n) for name in moving if name.endswith(f"layers.{i}.")]
        low = min(touched) if touched and len(touched) == len(moving) else 0
        lowest.append(low)
        assert got == [1] * low + [evaluations] * (n - low), (row.blocks, got)
    assert any(low > 0 for low in lowest)
    assert opt.prefix_stats["shared_steps"] == sum(low > 0 for low in lowest)
    assert opt.prefix_stats["skipped_layer_calls"] == sum(low * (evaluations - 1) for low in lowest)
    # The ledger replays (the blocks are a regex in it) onto the base weights.
    again = copy.deepcopy(base)
    zt.replay(again.named_parameters(), opt.ledger)
    assert _same(again, shared)


_HF_DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() and zo._core.cuda else [])


@pytest.mark.parametrize("device", _HF_DEVICES)
@pytest.mark.parametrize("arch", ["opt", "llama"])
def test_shared_prefix_on_hugging_face_models_keeps_the_weights(arch, device):
    """Hugging Face's own OPT and LLaMA (what bench/gpu_step.py times), on the CPU and, where there is
    one, the GPU: MeZO-BCD with layers="auto" gives the weights and losses of the run without it."""
    transformers = pytest.importorskip("transformers", reason="transformers is not installed: Hugging Face models are skipped")
    torch.manual_seed(0)
    small = dict(vocab_size=300, hidden_size=32, num_hidden_layers=4, num_attention_heads=4, use_cache=False)
    if arch == "opt":
        config = transformers.OPTConfig(ffn_dim=64, word_embed_proj_dim=32, max_position_embeddings=64, **small)
        base = transformers.OPTForCausalLM(config).eval().to(device)
    else:
        config = transformers.LlamaConfig(intermediate_size=64, num_key_value_heads=2, max_position_embeddings=64, **small)
        base = transformers.LlamaForCausalLM(config).eval().to(device)
    ids = torch.randint(0, 300, (3, 12), generator=torch.Generator().manual_seed(2)).to(device)
    pattern = zt.ZOOptimizer(base.named_parameters(), layers="auto", model=base, direction="bcd")._session.blocks

    def run(share):
        m = copy.deepcopy(base)
        kw = dict(layers="auto", model=m) if share else dict(blocks=pattern)
        opt = zt.ZOOptimizer(m.named_parameters(), direction="bcd", seed=4, lr=1e-3, **kw)
        for _ in range(16):
            opt.step(lambda: nn_modules.per_example_lm_loss(m(input_ids=ids, use_cache=False).logits, ids))
        return m, opt

    shared, opt = run(True)
    plain, plain_opt = run(False)
    assert opt.prefix_stats["shared_steps"] > 0
    assert [r.losses for r in opt.ledger] == [r.losses for r in plain_opt.ledger]
    assert _same(shared, plain)
    assert not _same(shared, base)
    # A model called with its KV cache: refused (the kept input of the prefix's top layer would hold
    # a cache the first evaluation already extended).
    m = copy.deepcopy(base)
    opt = zt.ZOOptimizer(m.named_parameters(), direction="bcd", block_order="cyclic", seed=4, layers="auto", model=m)
    with pytest.raises(zo.Error, match=r"layers: layer \d+ was called with a KV cache \(past_key_values?=...\)"):
        for _ in range(64):  # cyclic: every block within an epoch, so a step that shares a prefix comes
            opt.step(lambda: m(input_ids=ids, use_cache=True).logits.float().mean())
    assert opt.prefix_stats["shared_steps"] == 0


def test_layers_option_finds_and_checks_the_layers():
    opt_model = nn_modules.from_folder(OPT_TIED)
    llama = nn_modules.from_folder(ROOT / "tests/data/models/llama-gqa")
    assert zt._find_layers(opt_model) == ("model.decoder.layers", opt_model.model.decoder.layers)
    assert zt._find_layers(llama) == ("model.layers", llama.model.layers)
    opt = zt.ZOOptimizer(llama.named_parameters(), layers="auto", model=llama, direction="bcd")
    assert opt._session.blocks == r"^(model\.layers\.\d+)\."
    with pytest.raises(zo.Error, match="needs the model"):
        zt.ZOOptimizer(llama.named_parameters(), layers="auto")
    with pytest.raises(zo.Error, match="option 'layers': the shared prefix needs a block-coordinate direction, and "
                                       "direction 'dense' moves every block every step"):
        zt.ZOOptimizer(llama.named_parameters(), layers="auto", model=llama)
    with pytest.raises(zo.Error, match="has none of"):
        mlp = torch.nn.Sequential(torch.nn.Linear(2, 2))
        zt.ZOOptimizer(mlp.named_parameters(), layers="auto", model=mlp)
    with pytest.raises(zo.Error, match="same module"):
        layer = torch.nn.Linear(2, 2)
        zt.ZOOptimizer(layer.named_parameters(), layers=[layer, layer])
    # Names that are not "<stem><i>.": one alternative per layer.
    a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    named = [("first.weight", a.weight), ("first.bias", a.bias), ("second.weight", b.weight), ("second.bias", b.bias)]
    opt = zt.ZOOptimizer(named, layers=[a, b], direction="bcd")
    assert opt._session.blocks == r"^(second\.|first\.)"
    x = torch.ones(2)
    opt.step(lambda: b(a(x)).sum())
    assert [name for name, _ in opt._session.layout()["blocks"]] == ["first.", "second."]
    # The layers' own forward is back after each step.
    assert "forward" not in a.__dict__ and "forward" not in b.__dict__

    # Layers given a KV cache: refused at the first step that shares a prefix, and θ is restored.
    class CachedLinear(torch.nn.Linear):
        def forward(self, x, past_key_values=None):
            return super().forward(x)

    a, b = CachedLinear(2, 2), CachedLinear(2, 2)
    named = [("first.weight", a.weight), ("first.bias", a.bias), ("second.weight", b.weight), ("second.bias", b.bias)]
    opt = zt.ZOOptimizer(named, layers=[a, b], direction="bcd", block_order="cyclic")
    cache = object()
    opt.step(lambda: b(a(x, past_key_values=cache), past_key_values=cache).sum())  # block 0: layer 0, nothing shared
    before = [p.clone() for _, p in named]
    with pytest.raises(zo.Error, match=r"layers: layer 1 was called with a KV cache \(past_key_values=...\): the "
                                       r"shared prefix needs the model called without one \(use_cache=False\)"):
        opt.step(lambda: b(a(x, past_key_values=cache), past_key_values=cache).sum())
    assert all(torch.allclose(p, q, atol=1e-6) for (_, p), q in zip(named, before))
    assert "forward" not in a.__dict__ and "forward" not in b.__dict__


# bench/zo_torch_vs_mezo.py -----------------------------------------------------------------------

@pytest.mark.parametrize("peer", [True, False], ids=["peer-if-present", "re-implemented"])
def test_benchmark_script_runs_at_a_tiny_shape(tmp_path, peer):
    out = tmp_path / "step.csv"
    argv = [sys.executable, str(ROOT / "bench/zo_torch_vs_mezo.py"), "--shape", "d=32,layers=2,ffn=64,heads=2",
            "--vocab", "300", "--batch", "2", "--seq", "8", "--threads", "1", "--warmup", "1", "--steps", "2",
            "--csv", str(out)] + ([] if peer else ["--no-peer"])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([p for p in sys.path if p]))
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "| zo.torch (zo-sgd, dense gaussian, q = 1) |" in done.stdout and "speed-up" in done.stdout
    rows = out.read_text().splitlines()
    assert rows[0].startswith("shape,params_M,batch,seq,threads,steps,forward_ms,zo_step_ms") and len(rows) == 2
    if not peer:
        assert rows[1].endswith(",re-implemented")


def test_gpu_benchmark_and_report_scripts_run_at_a_tiny_shape_on_the_cpu(tmp_path):
    out = tmp_path / "step.csv"
    argv = [sys.executable, str(ROOT / "bench/gpu_step.py"), "--device", "cpu", "--dtype", "float32", "--shapes", "tiny",
            "--batch", "2", "--seq", "8", "--warmup", "1", "--reps", "1", "--csv", str(out)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([p for p in sys.path if p]), OMP_NUM_THREADS="1")
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = out.read_text().splitlines()
    assert rows[0] == "model,method,peer_ms,zo_ms,ratio"
    assert [r.split(",")[:2] for r in rows[1:]] == [["tiny", "mezo"], ["tiny", "mezo-bcd"]]
    assert "| tiny | MeZO's one-layer step |" in done.stdout
    detail = (tmp_path / "step_detail.csv").read_text().splitlines()
    assert detail[0].startswith("model,params_M,dtype,batch,seq,source,forward_ms") and len(detail) == 2
    bad = subprocess.run(argv[:2] + ["--shapes", "opt-7b"], capture_output=True, text=True, env=env, timeout=60)
    assert bad.returncode == 2 and "unknown shape 'opt-7b'" in bad.stderr

    # bench/gpu_report.py turns the CSVs into the results README; what was not run says so.
    report = [sys.executable, str(ROOT / "bench/gpu_report.py"), "--dir", str(tmp_path)]
    done = subprocess.run(report, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    readme = (tmp_path / "README.md").read_text()
    assert "Device: cpu, torch " in readme
    assert "Not run: z_identity.csv is absent." in readme and "Not run: pass_bandwidth.csv is absent." in readme
    assert f"| tiny | mezo | {rows[1].split(',')[2]} | {rows[1].split(',')[3]} | **{rows[1].split(',')[4]}×** |" in readme
    assert "- opt-13b mezo: not measured (goal ≥ 2.3×)." in readme
    assert "| model | params_M | dtype |" in readme
    (tmp_path / "z_identity.csv").write_text("family,elements\ngaussian,10\n")
    bad = subprocess.run(report, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "z_identity.csv: no column mismatches" in bad.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    bad = subprocess.run(report[:2] + ["--dir", str(empty)], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "holds none of z_identity.csv, pass_bandwidth.csv, step.csv" in bad.stderr


# Fine-tuning the pretrained OPT on spam ----------------------------------------------------------

def test_zo_torch_fine_tunes_the_small_opt_on_spam_beyond_zero_shot(one_thread):
    import json

    import bpe

    folder = ROOT / "models/opt-text-proto"
    tok = bpe.ByteLevelBPE(folder / "tokenizer.json")
    template = json.loads((ROOT / "configs/spam.json").read_text())["template"]
    question = tok.encode(template["template"].split("{text}")[1])
    words = [tok.encode(w) for w in template["label_words"]]
    assert all(len(w) == 1 for w in words)  # " no", " yes": one token each
    words = [w[0] for w in words]
    train = spam_split(tok.encode, 2, "train", 16, 0, question)
    test = spam_split(tok.encode, 2, "test", 30, 1, question)
    model = nn_modules.from_folder(folder).eval()

    def per_example(data, rows=None):
        ids, mask, last, label = data if rows is None else (t[rows] for t in data)
        hidden = model.model(ids, mask)[torch.arange(len(ids)), last]  # the head at the answer only
        return torch.nn.functional.cross_entropy(model.lm_head(hidden)[:, words], label, reduction="none"), label

    def evaluate():
        with torch.no_grad():
            losses, label = per_example(test)
            hidden = model.model(test[0], test[1])[torch.arange(len(label)), test[2]]
            pred = model.lm_head(hidden)[:, words].argmax(1)
        balanced = sum(((pred == label) & (label == c)).sum().item() / (label == c).sum().item() for c in (0, 1)) / 2
        return balanced, losses.mean().item()

    zero_shot, zero_loss = evaluate()
    opt = zt.ZOOptimizer(model.named_parameters(), optimizer="zo-sgd", lr=3e-4, eps=1e-3, seed=0)
    g = torch.Generator().manual_seed(0)
    for _ in range(60):
        rows = torch.randperm(len(train[0]), generator=g)[:8]
        opt.step(lambda: per_example(train, rows)[0])
    tuned, tuned_loss = evaluate()
    assert tuned_loss < zero_loss
    assert tuned >= zero_shot + 0.15, (zero_shot, tuned)
