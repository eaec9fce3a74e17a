#!/usr/bin/env node
// Encodes strings with a tokenizer.json by Hugging Face tokenizers (npm @anush008/tokenizers, the
// library zo's own tokenizer is tested against) for bench/text_tasks_ft.py. Special tokens are added
// as the tokenizer's post-processor says: with models/opt-text-proto's, every sequence starts with the BOS
// id 2, as zo's tokenizer does.
//
// Usage: node bench/text_tasks_encode.js <tokenizer.json> <in.jsonl> <out.jsonl>
//   in.jsonl:  one JSON string a line
//   out.jsonl: one JSON array of token ids a line, in the same order
'use strict';
const fs = require('fs');
const path = require('path');

const modules = path.join(__dirname, '..', 'scripts', 'data', 'node_modules');

function die(msg) {
  console.error(`text_tasks_encode: error: ${msg}`);
  process.exit(1);
}

let Tokenizer;
try {
  ({ Tokenizer } = require(require.resolve('@anush008/tokenizers', { paths: [modules] })));
} catch (e) {
  die(`npm package @anush008/tokenizers missing under ${modules}: run scripts/setup.sh (or scripts/data/build.sh, which runs npm ci there) (${e.message})`);
}

async function main() {
  const [tokenizerPath, inPath, outPath] = process.argv.slice(2);
  if (!tokenizerPath || !inPath || !outPath) die('usage: text_tasks_encode.js <tokenizer.json> <in.jsonl> <out.jsonl>');
  if (!fs.existsSync(tokenizerPath)) die(`${tokenizerPath}: missing`);
  if (!fs.existsSync(inPath)) die(`${inPath}: missing`);
  const tokenizer = Tokenizer.fromFile(tokenizerPath);
  const lines = fs.readFileSync(inPath, 'utf8').split('\n');
  const out = [];
  for (let i = 0; i < lines.length; ++i) {
    if (!lines[i]) continue;
    let s;
    try { s = JSON.parse(lines[i]); } catch (e) { die(`${inPath}:${i + 1}: corrupt JSON: ${e.message}`); }
    if (typeof s !== 'string') die(`${inPath}:${i + 1}: expected a JSON string`);
    const encoding = await tokenizer.encode(s);
    out.push(JSON.stringify(Array.from(encoding.getIds())));
  }
  const tmp = `${outPath}.tmp${process.pid}`;
  fs.writeFileSync(tmp, out.join('\n') + (out.length ? '\n' : ''));
  fs.renameSync(tmp, outPath);
}

main().catch((e) => die(e.message));
