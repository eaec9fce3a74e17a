#!/usr/bin/env node
// Tokenizes JSONL records with a tokenizer.json by Hugging Face tokenizers (npm @anush008/tokenizers)
// into a flat stream of little-endian uint16 token ids: each record's "text" encoded with special
// tokens (so, with an OPT-style tokenizer, every document starts with </s> = 2), records in file order.
// scripts/pretrain.py trains on and evaluates these streams.
//
// Usage: node scripts/data/tokenize_corpus.js <tokenizer.json> <out.u16> <in.jsonl>...
'use strict';
const fs = require('fs');
const path = require('path');

const modules = path.join(__dirname, 'node_modules');
let Tokenizer;
try {
  ({ Tokenizer } = require(require.resolve('@anush008/tokenizers', { paths: [modules] })));
} catch (e) {
  console.error(`tokenize_corpus: error: npm package @anush008/tokenizers missing under ${modules}: run scripts/data/build.sh`);
  process.exit(1);
}

function readRecords(file) {
  if (!fs.existsSync(file)) throw new Error(`${file}: missing; run scripts/data/build.sh`);
  const out = [];
  fs.readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
    if (!line) return;
    let rec;
    try { rec = JSON.parse(line); } catch (e) { throw new Error(`${file}:${i + 1}: corrupt JSON record: ${e.message}`); }
    if (typeof rec.text !== 'string') throw new Error(`${file}:${i + 1}: record '${rec.id}' has no string field 'text'`);
    out.push(rec.text);
  });
  if (out.length === 0) throw new Error(`${file}: empty (no records)`);
  return out;
}

async function main() {
  const [tokPath, outPath, ...inputs] = process.argv.slice(2);
  if (!tokPath || !outPath || inputs.length === 0) throw new Error('usage: tokenize_corpus.js <tokenizer.json> <out.u16> <in.jsonl>...');
  const tok = Tokenizer.fromFile(tokPath);
  const vocab = tok.getVocabSize(true);
  if (vocab > 65536) throw new Error(`${tokPath}: ${vocab} tokens do not fit uint16`);
  const chunks = [];
  let total = 0;
  for (const file of inputs) {
    const texts = readRecords(file);
    for (let i = 0; i < texts.length; i += 256) {
      const encs = await tok.encodeBatch(texts.slice(i, i + 256), { addSpecialTokens: true });
      for (const e of encs) {
        const ids = Uint16Array.from(e.getIds());
        chunks.push(ids);
        total += ids.length;
      }
    }
  }
  const all = new Uint16Array(total);
  let at = 0;
  for (const c of chunks) { all.set(c, at); at += c.length; }
  fs.mkdirSync(path.dirname(outPath), { recursive: true });
  fs.writeFileSync(outPath, Buffer.from(all.buffer, all.byteOffset, all.byteLength));
  console.log(`wrote ${outPath}: ${chunks.length} documents, ${total} tokens`);
}

main().catch((e) => { console.error(`tokenize_corpus: error: ${e.message}`); process.exit(1); });
