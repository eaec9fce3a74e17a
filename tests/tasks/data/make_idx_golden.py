#!/usr/bin/python3
# Golden values for tests/tasks/idx_test.cpp, read from Debian's dataset-fashion-mnist with gzip + numpy
# (independent of zo's reader). Run: /usr/bin/python3 tests/tasks/data/make_idx_golden.py > tests/tasks/data/idx_golden.json
import gzip, json, numpy as np

D = "/usr/share/datasets/fashion-mnist/"

def load(name, offset):
    with gzip.open(D + name, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)

out = {}
for split, prefix in (("train", "train"), ("test", "t10k")):
    images = load(prefix + "-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28)
    labels = load(prefix + "-labels-idx1-ubyte.gz", 8)
    n = images.shape[0]
    picks = [0, 1, 2, 1234, n - 1]
    out[split] = {
        "count": int(n),
        "rows": int(images.shape[1]),
        "cols": int(images.shape[2]),
        "picks": picks,
        "pixel_sums": [int(images[i].astype(np.int64).sum()) for i in picks],
        "pixel_14_14": [int(images[i, 14, 14]) for i in picks],
        "labels_at_picks": [int(labels[i]) for i in picks],
        "first_labels": [int(x) for x in labels[:20]],
        "label_counts": [int(c) for c in np.bincount(labels, minlength=10)],
        "total_pixel_sum": int(images.astype(np.int64).sum()),
    }
print(json.dumps(out, indent=1))
