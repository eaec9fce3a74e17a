#!/usr/bin/python3
"""Writes tests/data/models/safetensors/python_written.safetensors by hand (no safetensors package):
an 8-byte little-endian header length, the JSON header, then the data buffer, exactly as the format
specifies (https://github.com/huggingface/safetensors#format). The values are closed-form so that the
C++ test can check them without any zo code: see tests/nn/safetensors_test.cpp."""
import json
import os
import struct

out = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "models", "safetensors",
                   "python_written.safetensors")

# name -> (dtype, shape, raw little-endian bytes)
f32 = struct.pack("<6f", *[0.5 * i for i in range(6)])           # arange(6) / 2, shape (2, 3)
f16 = struct.pack("<4H", 0x3C00, 0xC100, 0x7BFF, 0x0001)          # 1, -2.5, 65504, 2^-24
bf16 = struct.pack("<3H", 0x3F80, 0xC000, 0x4049)                 # 1, -2, 3.140625
scalar = struct.pack("<f", -7.25)
tensors = [("weight.f32", "F32", [2, 3], f32),
           ("half", "F16", [4], f16),
           ("brain", "BF16", [3, 1], bf16),
           ("scalar", "F32", [], scalar),
           ("empty", "F32", [0, 5], b"")]

header = {"__metadata__": {"format": "pt", "creator": "make_safetensors_golden.py"}}
offset = 0
for name, dtype, shape, data in tensors:
    header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
    offset += len(data)
text = json.dumps(header).encode()       # deliberately unpadded: readers must not assume alignment
with open(out, "wb") as f:
    f.write(struct.pack("<Q", len(text)))
    f.write(text)
    for _, _, _, data in tensors:
        f.write(data)
print(out, 8 + len(text) + offset, "bytes")
