#!/usr/bin/env node
// Writes tests/data/text/opt_text_test_split_ids.jsonl: the token ids that Hugging Face tokenizers
// (npm @anush008/tokenizers 0.6.0, Rust tokenizers 0.22) gives for every test-split record of the
// spam and sotu-party tasks with models/opt-text-proto/tokenizer.json (special tokens added, so each
// starts with </s>). One line a record: {"task", "id", "n": number of ids, "fnv": FNV-1a 64 (hex)
// of the ids written as decimal numbers joined by ","}; every 25th record also carries "ids" in full.
// tests/tasks/text_data_test.cpp holds zo's Tokenizer to these.
//
// Usage: node scripts/data/make_tokenizer_goldens.js   (after scripts/data/build.sh)
'use strict';
const fs = require('fs');
const path = require('path');

const here = __dirname;
const root = path.join(here, '..', '..');
const { Tokenizer } = require(require.resolve('@anush008/tokenizers', { paths: [path.join(here, 'node_modules')] }));

function fnv1a64(text) {
  let h = 0xcbf29ce484222325n;
  const bytes = Buffer.from(text, 'utf8');
  for (const b of bytes) {
    h ^= BigInt(b);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h.toString(16).padStart(16, '0');
}

async function main() {
  const tok = Tokenizer.fromFile(path.join(root, 'models', 'opt-text-proto', 'tokenizer.json'));
  const lines = [];
  for (const task of ['spam', 'sotu-party']) {
    const file = path.join(root, 'data', task, 'test.jsonl');
    const recs = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    const encs = await tok.encodeBatch(recs.map((r) => r.text), { addSpecialTokens: true });
    recs.forEach((r, i) => {
      const ids = Array.from(encs[i].getIds());
      const line = { task, id: r.id, n: ids.length, fnv: fnv1a64(ids.join(',')) };
      if (i % 25 === 0) line.ids = ids;
      lines.push(JSON.stringify(line));
    });
  }
  const out = path.join(root, 'tests', 'data', 'text', 'opt_text_test_split_ids.jsonl');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, lines.join('\n') + '\n');
  console.log(`wrote ${out}: ${lines.length} records`);
}

main().catch((e) => { console.error(`make_tokenizer_goldens: error: ${e.message}`); process.exit(1); });
