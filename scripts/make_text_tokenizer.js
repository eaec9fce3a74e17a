#!/usr/bin/env node
// Trains models/opt-text-proto/tokenizer.json (the tokenizer of every model scripts/pretrain.py makes):
// an OPT-style byte-level BPE with exactly 8192 tokens, made by
// Hugging Face tokenizers itself (npm @anush008/tokenizers 0.6.0, installed by scripts/data/build.sh).
//
// Text: the pretraining corpus data/pretrain/corpus.jsonl (Moby-Dick, training-split SOTU addresses,
// training-split e-mails; built by scripts/data/build_tasks.py), so no validation or test text shapes
// the merges. The binding exposes only the default BPE trainer (30 000 tokens), so we train with it
// and keep its first merges. Layout (OPT-like ids):
//   0 <s>, 1 <pad>, 2 </s>, 3 <unk>        special tokens (in the vocab and as added tokens)
//   4 .. 259                             the 256 byte-level characters, in byte order
//   260 .. 8191                          the results of the first trained merges, in rank order
// Pre-tokenizer ByteLevel(add_prefix_space=false, use_regex=true), decoder ByteLevel, and an
// OPT-style post-processor that prepends </s> (id 2). The edited file is reloaded with the addon and
// checked before it is written.
//
// Usage: node scripts/make_text_tokenizer.js [corpus.jsonl] [out tokenizer.json] [vocab size]
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.join(__dirname, '..');
const modules = path.join(__dirname, 'data', 'node_modules');
function need(name) {
  try {
    return require(require.resolve(name, { paths: [modules] }));
  } catch (e) {
    throw new Error(`npm package ${name} missing under ${modules}: run scripts/data/build.sh`);
  }
}
const { Tokenizer, BPE, byteLevelPreTokenizer, byteLevelAlphabet } = need('@anush008/tokenizers');

const CORPUS = process.argv[2] || path.join(root, 'data', 'pretrain', 'corpus.jsonl');
const OUT = process.argv[3] || path.join(root, 'models', 'opt-text-proto', 'tokenizer.json');
const VOCAB_SIZE = Number(process.argv[4] || 8192);
const SPECIALS = ['<s>', '<pad>', '</s>', '<unk>'];

// GPT-2's bytes_to_unicode: printable Latin-1 bytes map to themselves, the rest to U+0100 upwards.
function bytesToUnicode() {
  const keep = [];
  for (let b = 0x21; b <= 0x7e; b++) keep.push(b);
  for (let b = 0xa1; b <= 0xac; b++) keep.push(b);
  for (let b = 0xae; b <= 0xff; b++) keep.push(b);
  const map = new Array(256);
  let n = 0;
  for (let b = 0; b < 256; b++) map[b] = keep.includes(b) ? String.fromCodePoint(b) : String.fromCodePoint(256 + n++);
  return map;
}

function corpusText(file) {
  if (!fs.existsSync(file)) throw new Error(`${file}: missing; run scripts/data/build.sh`);
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const docs = [];
  lines.forEach((line, i) => {
    if (!line) return;
    let rec;
    try { rec = JSON.parse(line); } catch (e) { throw new Error(`${file}:${i + 1}: corrupt JSON record: ${e.message}`); }
    if (typeof rec.text !== 'string') throw new Error(`${file}:${i + 1}: record '${rec.id}' has no string field 'text'`);
    docs.push(rec.text);
  });
  if (docs.length === 0) throw new Error(`${file}: no records`);
  return docs.join('\n\n');
}

async function main() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'zo-bpe-'));
  const textPath = path.join(tmp, 'corpus.txt');
  fs.writeFileSync(textPath, corpusText(CORPUS));

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
  let size = 0;
  SPECIALS.forEach((t) => { vocab[t] = size++; });
  bytes.forEach((c) => { vocab[c] = size++; });
  const kept = [];
  for (const [a, b] of merges) {
    if (size >= VOCAB_SIZE) break;
    if (!(a in vocab) || !(b in vocab)) throw new Error(`merge ${a} ${b} uses an unknown token`);
    if (!((a + b) in vocab)) vocab[a + b] = size++;
    kept.push([a, b]);
  }
  if (size !== VOCAB_SIZE) throw new Error(`not enough merges: ${size} tokens`);

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

  // The addon must load the edited file, see VOCAB_SIZE tokens, prepend </s>, and round-trip text.
  const tok = Tokenizer.fromFile(checkPath);
  if (tok.getVocabSize(true) !== VOCAB_SIZE) throw new Error(`vocab size ${tok.getVocabSize(true)}`);
  const sample = 'Call me Ishmael. Mr. Speaker, FREE offer!!! — 1851\n\tÆther 😀</s>';
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

main().catch((e) => { console.error(`make_text_tokenizer: error: ${e.message}`); process.exit(1); });
