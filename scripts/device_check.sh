#!/bin/bash
# The checks that need a GPU machine whose python3 has torch with CUDA, transformers and safetensors:
#   1. scripts/make_hf_goldens.py: Hugging Face transformers' own logits, losses and held-out perplexity
#      for zo's test models and models/opt-text-proto (float64, CPU); tests/nn/hf_reference_test.cpp
#      holds zo's engine to the test models' goldens;
#   2. scripts/pretrain.py on CUDA (used when present): the same OPT architecture as models/opt-text-proto,
#      trained on more tokens than a 2-core CPU affords (PRETRAIN_STEPS x PRETRAIN_BATCH x 128; the
#      defaults 4000 x 32 are models/opt-text-gpu's recipe, models/README.md).
# Needs data/pretrain/{train,validation}.u16 (carry them). Writes under $OUT (default ./device-out):
# hf.tgz, opt-text-gpu.tgz (config, loss curve, perplexity; weights split in model.part-*), device.log.
#
# Sending it with a tool that copies the checkout's tracked files up to a size limit (64 MiB with what
# is carried): zo's tracked files are slightly more (models, data, tokenizer goldens). Untrack what this
# script does not read for the call and restore it after:
#   git rm -r -q --cached data/spam data/sotu-party data/manifest.json tests/data/tokenizers
#   printf '/data/spam/\n/data/sotu-party/\n/data/manifest.json\n/tests/data/tokenizers/\n' > .git/info/exclude
#   (run: bash scripts/device_check.sh, carry data/pretrain/train.u16 and data/pretrain/validation.u16)
#   git reset -q HEAD -- data tests/data/tokenizers && rm .git/info/exclude
set -u
OUT=${OUT:-device-out}
mkdir -p "$OUT"
STEPS=${PRETRAIN_STEPS:-4000}
BATCH=${PRETRAIN_BATCH:-32}
exec > >(tee "$OUT/device.log") 2>&1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__, 'cuda', torch.cuda.is_available())"
work=$(mktemp -d)
echo "== HF goldens"
timeout 150 python3 scripts/make_hf_goldens.py --out "$work/hf" && tar czf "$OUT/hf.tgz" -C "$work" hf
[ "$STEPS" = 0 ] && { ls -la "$OUT"; exit 0; }  # PRETRAIN_STEPS=0: the goldens only
echo "== pretrain on CUDA: $STEPS steps x $BATCH x 128 tokens"
timeout 330 python3 scripts/pretrain.py --steps "$STEPS" --batch "$BATCH" --warmup 200 --threads 8 --ckpt-every 1000 \
  --out "$work/opt-text-gpu" --work "$work/pretrain-work" | awk 'NR % 40 == 1 || /perplexity|error|Error|parameters/'
if [ -f "$work/opt-text-gpu/model.safetensors" ]; then
  split -b 12M "$work/opt-text-gpu/model.safetensors" "$OUT/model.part-"
  tar czf "$OUT/opt-text-gpu.tgz" -C "$work" --exclude model.safetensors opt-text-gpu
  sha256sum "$work/opt-text-gpu/model.safetensors"
fi
ls -la "$OUT"
