#!/usr/bin/python3
# Golden values for tests/tasks/victim_test.cpp: PyTorch's forward, loss and autograd gradients of the
# victim architecture (nn.Linear 784-256-256-10, ReLU) on fixed weights given by a formula that the
# test rebuilds. Run: /usr/bin/python3 tests/tasks/data/make_victim_golden.py > tests/tasks/data/victim_golden.json
import json, math
import numpy as np
import torch

sizes = [784, 256, 256, 10]

def weight(l, o, i):  # l is 1-based
    r = np.arange(o, dtype=np.float64)[:, None]
    c = np.arange(i, dtype=np.float64)[None, :]
    return (np.sin(0.37 * r + 0.11 * c + l) / math.sqrt(i)).astype(np.float32)

def bias(l, o):
    return (0.1 * np.cos(0.5 * np.arange(o, dtype=np.float64) + l)).astype(np.float32)

def inputs(n, d):
    r = np.arange(n, dtype=np.float64)[:, None]
    c = np.arange(d, dtype=np.float64)[None, :]
    return (0.5 + 0.5 * np.sin(0.013 * c * (r + 1) + r)).astype(np.float32)

layers = []
for l in range(1, len(sizes)):
    lin = torch.nn.Linear(sizes[l - 1], sizes[l])
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(weight(l, sizes[l], sizes[l - 1])))
        lin.bias.copy_(torch.from_numpy(bias(l, sizes[l])))
    layers.append(lin)
mods = []
for k, lin in enumerate(layers):
    mods.append(lin)
    if k + 1 < len(layers):
        mods.append(torch.nn.ReLU())
net = torch.nn.Sequential(*mods)

x = torch.from_numpy(inputs(4, 784))
labels = torch.tensor([0, 3, 7, 9])
logits = net(x)
logp = torch.log_softmax(logits, dim=1)
loss = torch.nn.functional.cross_entropy(logits, labels)
loss.backward()

out = {
    "sizes": sizes,
    "labels": labels.tolist(),
    "logits": logits.detach().numpy().astype(np.float64).ravel().tolist(),
    "log_softmax": logp.detach().numpy().astype(np.float64).ravel().tolist(),
    "loss": float(loss),
    "grad": {},
}
for l, lin in enumerate(layers, start=1):
    gw = lin.weight.grad.numpy().astype(np.float64)
    gb = lin.bias.grad.numpy().astype(np.float64)
    out["grad"][f"fc{l}.weight"] = {"norm": float(np.linalg.norm(gw)), "entries": [[0, 0, gw[0, 0]]] + [[int(a), int(b), gw[a, b]] for a, b in [np.unravel_index(np.argmax(np.abs(gw)), gw.shape), np.unravel_index(np.argmin(gw), gw.shape)]]}
    out["grad"][f"fc{l}.bias"] = {"norm": float(np.linalg.norm(gb)), "entries": [[0, 0, gb[0]], [int(np.argmax(np.abs(gb))), 0, gb[np.argmax(np.abs(gb))]]]}
print(json.dumps(out, indent=1))
