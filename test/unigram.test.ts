// SentencePiece Unigram tokenizers and normalization tables. There is no sentencepiece library here, so
// the oracles are (1) hand-worked segmentations of tiny models, (2) optimality: no other segmentation
// of the same text (sentencepiece's own BPE ids for it) scores higher, and (3) llama.cpp's UGM
// tokenizer (node-llama-cpp) reading the converted "t5" artifact, which walks the normalization table
// with its own code. The Unigram model is the fixture's vocabulary with unigram log probabilities
// estimated from how often sentencepiece used each piece on the dev text (reference-ids.json).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { getLlama, type Llama } from "node-llama-cpp";
import { convert } from "../src/convert/index.js";
import { convertFromGguf } from "../src/convert/fromGguf.js";
import { readGguf } from "../src/gguf/reader.js";
import { loadTokenizer, type BitconvTokenizer } from "../src/tokenizer/encode.js";
import { parseSpmModel } from "../src/tokenizer/spmModel.js";
import { writeTokenFile } from "../src/runtime/runtime.js";
import { buildCharsmap } from "./helpers/charsmapWriter.js";
import { encodeSpmModel, smallSpmSpec, type SpmModelSpec, type SpmPiece } from "./helpers/spmModelWriter.js";
import { writeSyntheticCheckpoint } from "./helpers/synth.js";

const ROOT = resolve(new URL("../..", import.meta.url).pathname);
const SPM = join(ROOT, "fixtures/tokenizer-spm");
const CLI = join(ROOT, "dist/src/cli.js");
const RT = join(ROOT, "kernels-c/build/bitconv-rt");
const REF = JSON.parse(readFileSync(join(SPM, "reference-ids.json"), "utf8")) as { samples: { text: string; ids: number[] }[] };
const tmp = mkdtempSync(join(tmpdir(), "bitconv-unigram-"));
let llama: Llama;

const TEXTS = [
  ...REF.samples.map((s) => s.text),
  "  leading, and  double  spaces  ",
  "tabs\tand\nnewlines\n\n end",
  "na\u00efve caf\u00e9 \u2014 \u65e5\u672c\u8a9e \u{1F642} \u00bd \ufb01sh",
  "\uff46\uff55\uff4c\uff4c \uff57\uff49\uff44\uff54\uff48 \uff21\uff22\uff23\u00a0nbsp \uff76\uff9e\uff76",
  "",
];

/** Test normalization rules: full-width letters, NBSP/tab -> space, a ligature, and a two-character rule (ｶﾞ) over a one-character one (ｶ). */
const RULES: Record<string, string> = { "\u00a0": " ", "\t": " ", "\ufb01": "fi", "\uff76": "ka", "\uff76\uff9e": "ga" };
for (let c = 0; c < 26; c++) {
  RULES[String.fromCodePoint(0xff21 + c)] = String.fromCharCode(65 + c);
  RULES[String.fromCodePoint(0xff41 + c)] = String.fromCharCode(97 + c);
}

/** The fixture's pieces as a Unigram model: log(frequency) of each piece in sentencepiece's segmentation of the dev text. */
function unigramSpec(o: { byteFallback: boolean; charsmap?: Uint8Array; removeExtraWhitespaces?: boolean }): SpmModelSpec {
  const v = parseSpmModel(readFileSync(join(SPM, "tokenizer.model")), "tokenizer.model");
  const count = new Map<number, number>();
  for (const id of REF.samples[2].ids) count.set(id, (count.get(id) ?? 0) + 1);
  const total = REF.samples[2].ids.length + 0.1 * v.pieces.length;
  const pieces: SpmPiece[] = v.pieces.map((piece, i) => ({ piece, type: v.types[i], score: v.types[i] === 1 ? Math.log(((count.get(i) ?? 0) + 0.1) / total) : 0 }));
  return { pieces, modelType: 1, byteFallback: o.byteFallback, charsmap: o.charsmap, removeExtraWhitespaces: o.removeExtraWhitespaces ?? false, unkId: 0, bosId: 1, eosId: 2 };
}

async function checkpoint(name: string, vocab: number, files: Record<string, string | Uint8Array>, config: Record<string, unknown> = {}): Promise<string> {
  const dir = join(tmp, name);
  await writeSyntheticCheckpoint(dir, { family: "1bitllm", layers: 1, hidden: 256, ffn: 256, heads: 2, kvHeads: 2, vocab, dtype: "F16", seed: 9 });
  unlinkSync(join(dir, "tokenizer.json"));
  writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify({ tokenizer_class: "T5Tokenizer", add_bos_token: true, add_eos_token: false, ...config }));
  for (const [f, body] of Object.entries(files)) writeFileSync(join(dir, f), body);
  return dir;
}

async function llamaTokenize(path: string, texts: string[]): Promise<number[][]> {
  const model = await llama.loadModel({ modelPath: path, gpuLayers: 0 });
  try {
    return texts.map((t) => Array.from(model.tokenize(t, false), Number));
  } finally {
    await model.dispose();
  }
}

const plain = (tok: BitconvTokenizer, t: string) => Array.from(tok.encode(t, { addSpecial: false }));

function cli(args: string[]) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8" });
}

test.before(async () => {
  llama = await getLlama({ gpu: false, build: "never", logLevel: "error" as never });
});

test("Viterbi by hand: the best sum of scores, one unk per unknown run (or its bytes), user-defined pieces win, unused never", async () => {
  // ids: 259 ▁a, 260 b, 261 a, 262 ▁, 263 ab, 264 ▁ab, 265 XY (user-defined), 266 ▁b (unused, the best score)
  const extra = [
    { piece: "\u2581a", score: -1 }, { piece: "b", score: -2 }, { piece: "a", score: -3 }, { piece: "\u2581", score: -4 },
    { piece: "ab", score: -2.5 }, { piece: "\u2581ab", score: -6 }, { piece: "XY", score: 0, type: 4 }, { piece: "\u2581b", score: -0.5, type: 5 },
  ];
  const write = (name: string, byteFallback: boolean) => {
    const f = join(tmp, `${name}.model`);
    writeFileSync(f, encodeSpmModel({ ...smallSpmSpec(extra), modelType: 1, byteFallback }));
    return loadTokenizer({ tokenizerJson: f });
  };
  const t = await write("hand", false);
  // ▁ab: ▁a+b = -3 beats ▁ab = -6, ▁+ab = -6.5, ▁+a+b = -9
  assert.equal(plain(t, "ab"), [259, 260]);
  // c is in no piece: unk (score -6 - 10) per character, the run written once
  assert.equal(plain(t, "ccab"), [262, 0, 263]);
  assert.equal(plain(t, "a b"), [259, 262, 260], "▁b is unused: ▁ + b, never ▁b");
  assert.equal(plain(t, "aXYb"), [259, 265, 260], "XY is user-defined: kept whole");
  const withBytes = await write("hand-bytes", true);
  assert.equal(plain(withBytes, "ccab"), [262, 3 + 0x63, 3 + 0x63, 263], "byte fallback spells each unknown character");
  assert.equal(plain(withBytes, "\u00e9"), [262, 3 + 0xc3, 3 + 0xa9]);
  assert.is(withBytes.decode(plain(withBytes, "ccab")), "ccab");
});

test("the normalization table: applied before segmentation, longest rule first, its spaces collapsed", async () => {
  const f = join(tmp, "rules.model");
  const extra = [{ piece: "\u2581fish", score: -1 }, { piece: "\u2581and", score: -1 }, { piece: "\u2581", score: -4 }, ...[..."fishandgkABC"].map((c) => ({ piece: c, score: -5 }))];
  writeFileSync(f, encodeSpmModel({ ...smallSpmSpec(extra), modelType: 1, byteFallback: true, removeExtraWhitespaces: true, charsmap: buildCharsmap(RULES) }));
  const t = await loadTokenizer({ tokenizerJson: f });
  const pieces = (s: string) => plain(t, s).map((id) => (id < 259 ? `<${id}>` : extra[id - 259].piece)).join(" ");
  assert.is(pieces("\uff46\uff49\uff53\uff48\tand\u00a0 \ufb01sh  "), "\u2581fish \u2581and \u2581fish");
  assert.is(pieces("\uff76\uff9e\uff76"), "\u2581 g a k a", "ｶﾞ is one rule (ga), not ｶ (ka) then ﾞ");
  assert.is(pieces("\u00a0\u00a0\uff21"), "\u2581 A", "leading NBSPs are spaces, stripped");
});

test("a SentencePiece BPE model with a normalization table: bitconv applies it; llama.cpp's SPM tokenizer does not, so --target llama.cpp refuses", async () => {
  const spec = { ...smallSpmSpec(), charsmap: buildCharsmap(RULES) };
  const dir = await checkpoint("bpe-rules", 512, { "tokenizer.model": encodeSpmModel(spec) });
  const t = await loadTokenizer({ tokenizerJson: dir });
  assert.equal(plain(t, "ab a"), [259, 260, 259]);
  assert.equal(plain(t, "\uff41\uff42\u00a0\uff41"), [259, 260, 259], "ａｂ NBSP ａ is normalized to ab a first");
  const target = join(tmp, "bpe-rules.gguf");
  const r = cli(["convert", dir, "--layout", "tq2_0", "--target", "llama.cpp", "-o", target]);
  assert.is(r.status, 2, r.stderr);
  assert.match(r.stderr.trim(), /tokenizer\.model: llama\.cpp would tokenize this differently: it has a normalization table \(precompiled_charsmap\), which llama\.cpp's SentencePiece BPE does not apply; use --target bitconv$/);
  assert.not.ok(existsSync(target));
});

test("Unigram tokenizer.model -> a t5 (UGM) vocabulary: llama.cpp gives bitconv's ids; no other segmentation scores higher", async () => {
  const spec = unigramSpec({ byteFallback: false });
  const dir = await checkpoint("ugm", 3000, { "tokenizer.model": encodeSpmModel(spec) });
  const out = join(tmp, "ugm.gguf");
  await convert({ modelDir: dir, layout: "tq2_0", output: out, target: "llama.cpp", threads: 2, quiet: true });
  const g = await readGguf(out);
  assert.is(g.kv.get("tokenizer.ggml.model")?.value, "t5");
  assert.is(g.kv.get("tokenizer.ggml.add_space_prefix")?.value, true);
  assert.not.ok(g.kv.has("tokenizer.ggml.precompiled_charsmap"), "identity: no table");
  const mine = await loadTokenizer({ tokenizerJson: dir });
  const ours = TEXTS.map((s) => plain(mine, s));
  assert.equal(await llamaTokenize(out, TEXTS), ours, "llama.cpp UGM = bitconv");
  // llama.cpp's one known deviation (formats/tokenizer-spm.md): a text of spaces only gets no dummy prefix there
  const space = spec.pieces.findIndex((p) => p.piece === "\u2581");
  assert.equal(plain(mine, "  "), [space, space, space], "sentencepiece: ▁ (dummy prefix) ▁ ▁");
  assert.equal((await llamaTokenize(out, ["  "]))[0], [space, space], "llama.cpp: ▁ ▁");
  const rebuilt = await loadTokenizer({ gguf: out });
  assert.equal(TEXTS.map((s) => plain(rebuilt, s)), ours, "the tokenizer rebuilt from the artifact");
  // optimality: any other tiling of the same normalized text scores no more, e.g. sentencepiece's BPE
  // segmentation (bitconv's BPE encoder gives its ids: spm.test.ts), on every line where neither has unk or bytes
  const bpe = await loadTokenizer({ tokenizerJson: SPM });
  const score = (ids: number[]) => ids.reduce((a, id) => a + spec.pieces[id].score, 0);
  const clean = (ids: number[]) => ids.every((id) => id >= 259);
  let compared = 0;
  for (const line of REF.samples[2].text.split("\n")) {
    const u = plain(mine, line), b = plain(bpe, line);
    if (!clean(u) || !clean(b)) continue; // digits, for one, are bytes in this vocabulary
    compared += line.length;
    assert.ok(score(u) >= score(b) - 1e-3, `${JSON.stringify(line)}: ${score(u)} < ${score(b)}`);
  }
  assert.ok(compared > 5000, `${compared} characters compared`);
  assert.not.equal(ours[2], REF.samples[2].ids, "Unigram segments differently from BPE here: the test tells the two apart");
  // the C runtime spells a t5 vocabulary's pieces as SentencePiece's: ▁ as space, <0xXX> as bytes
  writeTokenFile(join(tmp, "ugm-prompt.bin"), [1, ...ours[0]]);
  const gen = spawnSync(RT, ["generate", "-m", out, "--tokens", join(tmp, "ugm-prompt.bin"), "-n", "24", "--json", "--temp", "1.5", "--seed", "5", "-t", "2"], { encoding: "utf8" });
  assert.is(gen.status, 0, gen.stderr);
  const j = JSON.parse(gen.stdout.trim().split("\n").pop()!) as { ids: number[]; text: string };
  const spelled = Buffer.concat(j.ids.map((id) => {
    const p = spec.pieces[id];
    if (p.type === 3) return Buffer.alloc(0);
    return p.type === 6 ? Buffer.from([parseInt(p.piece.slice(3, 5), 16)]) : Buffer.from(p.piece.replace(/\u2581/g, " "), "utf8");
  })).toString("utf8");
  assert.is(j.text, spelled);
  assert.is(mine.decode(ours[0]), REF.samples[0].text);
});

test("a normalization table travels into the t5 artifact: llama.cpp's own walk of it gives bitconv's ids", async () => {
  const spec = unigramSpec({ byteFallback: false, charsmap: buildCharsmap(RULES), removeExtraWhitespaces: true });
  const dir = await checkpoint("ugm-rules", 3000, { "tokenizer.model": encodeSpmModel(spec) });
  const out = join(tmp, "ugm-rules.gguf");
  await convert({ modelDir: dir, layout: "tq2_0", output: out, target: "llama.cpp", threads: 2, quiet: true });
  const g = await readGguf(out);
  assert.equal(Array.from(g.kv.get("tokenizer.ggml.precompiled_charsmap")?.value as number[]), Array.from(spec.charsmap!));
  assert.is(g.kv.get("tokenizer.ggml.remove_extra_whitespaces")?.value, true);
  const mine = await loadTokenizer({ tokenizerJson: dir });
  const ours = TEXTS.map((s) => plain(mine, s));
  assert.equal(ours[6], plain(mine, "full width ABC nbsp gaka"), "the table is applied");
  assert.equal(await llamaTokenize(out, TEXTS), ours);
  // a t5 GGUF as convert input: the vocabulary, table included, is carried into the new layout
  const again = join(tmp, "ugm-rules-tq1_0.gguf");
  await convertFromGguf({ input: out, output: again, layout: "tq1_0", target: "llama.cpp" });
  assert.equal(await llamaTokenize(again, TEXTS), ours);
  const rebuilt = await loadTokenizer({ gguf: again });
  assert.equal(TEXTS.map((s) => plain(rebuilt, s)), ours, "bitconv's tokenizer rebuilt from it");
});

test("byte fallback: bitconv keeps sentencepiece's <0xXX>; llama.cpp's UGM writes <unk>, so --target llama.cpp refuses and auto warns", async () => {
  const dir = await checkpoint("ugm-bytes", 3000, { "tokenizer.model": encodeSpmModel(unigramSpec({ byteFallback: true })) });
  const refused = join(tmp, "ugm-bytes-refused.gguf");
  const r = cli(["convert", dir, "--layout", "tq2_0", "--target", "llama.cpp", "-o", refused]);
  assert.is(r.status, 2, r.stderr);
  assert.is(r.stderr.trim().split("\n").length, 1, r.stderr);
  assert.match(r.stderr, /tokenizer\.model: llama\.cpp would tokenize this differently: it spells unknown characters as <0xXX> bytes/);
  assert.not.ok(existsSync(refused));
  const out = join(tmp, "ugm-bytes.gguf");
  const res = await convert({ modelDir: dir, layout: "tq2_0", output: out, threads: 2, quiet: true });
  assert.ok(res.notes.some((n) => /^warning: tokenizer: llama\.cpp would tokenize this differently: .*byte_fallback/.test(n)));
  const mine = await loadTokenizer({ tokenizerJson: dir });
  const known = [REF.samples[0].text, TEXTS[3]];
  assert.equal(await llamaTokenize(out, known), known.map((s) => plain(mine, s)), "texts without unknown characters agree");
  const emoji = plain(mine, "\u{1F642}");
  assert.equal(emoji.slice(-4), [3 + 0xf0, 3 + 0x9f, 3 + 0x99, 3 + 0x82], "🙂 as its UTF-8 bytes");
  assert.equal((await llamaTokenize(out, ["\u{1F642}"]))[0].slice(-1), [0], "llama.cpp: <unk>");
  assert.equal(plain(await loadTokenizer({ gguf: out }), "\u{1F642}"), emoji, "the rebuilt tokenizer keeps byte fallback");
});

/** The Unigram model as transformers writes it in tokenizer.json: [[piece, score]], unk_id, Precompiled + Metaspace. */
function unigramJson(spec: SpmModelSpec): Record<string, unknown> {
  const normalizers: unknown[] = [];
  if (spec.charsmap) normalizers.push({ type: "Precompiled", precompiled_charsmap: Buffer.from(spec.charsmap).toString("base64") });
  if (spec.removeExtraWhitespaces) normalizers.push({ type: "Replace", pattern: { Regex: " {2,}" }, content: " " });
  return {
    version: "1.0",
    added_tokens: [0, 1, 2].map((id) => ({ id, content: spec.pieces[id].piece, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: { type: "Sequence", normalizers },
    pre_tokenizer: { type: "Metaspace", replacement: "\u2581", prepend_scheme: "always", split: true },
    decoder: { type: "Metaspace", replacement: "\u2581", prepend_scheme: "always", split: true },
    model: { type: "Unigram", unk_id: spec.unkId, byte_fallback: spec.byteFallback === true, vocab: spec.pieces.map((p) => [p.piece, p.score]) },
  };
}

test("a Unigram tokenizer.json (Precompiled + Metaspace) reads as its tokenizer.model does, and converts to the same t5 vocabulary", async () => {
  const spec = unigramSpec({ byteFallback: false, charsmap: buildCharsmap(RULES), removeExtraWhitespaces: true });
  const fromModel = await loadTokenizer({ tokenizerJson: join(tmp, "ugm-rules") });
  const dir = await checkpoint("ugm-json", 3000, { "tokenizer.json": JSON.stringify(unigramJson(spec)) });
  const mine = await loadTokenizer({ tokenizerJson: dir });
  assert.is(mine.source, "tokenizer.json");
  assert.equal(TEXTS.map((s) => plain(mine, s)), TEXTS.map((s) => plain(fromModel, s)));
  const out = join(tmp, "ugm-json.gguf");
  await convert({ modelDir: dir, layout: "tq1_0", output: out, target: "llama.cpp", threads: 2, quiet: true });
  assert.equal(await llamaTokenize(out, TEXTS), TEXTS.map((s) => plain(mine, s)));
  // a normalizer step with no sentencepiece meaning: refused for llama.cpp, warned about otherwise
  const odd = unigramJson(spec);
  (odd.normalizer as { normalizers: unknown[] }).normalizers.push({ type: "Lowercase" });
  const oddDir = await checkpoint("ugm-odd", 3000, { "tokenizer.json": JSON.stringify(odd) });
  const r = cli(["convert", oddDir, "--layout", "tq2_0", "--target", "llama.cpp", "-o", join(tmp, "odd.gguf")]);
  assert.is(r.status, 2, r.stderr);
  assert.match(r.stderr.trim(), /^bitconv: .*tokenizer\.json: its normalizer has steps neither bitconv nor llama\.cpp applies \(Lowercase\)/);
  const warned = await convert({ modelDir: oddDir, layout: "tq2_0", output: join(tmp, "odd-auto.gguf"), threads: 2, quiet: true });
  assert.ok(warned.notes.some((n) => /^warning: tokenizer: its normalizer has steps .*Lowercase/.test(n)));
});

test("added_tokens_decoder overrides token types as llama.cpp's converter does (special or <|..|> -> CONTROL, else USER_DEFINED)", async () => {
  const added = {
    "1": { content: "<s>", special: true },
    "300": { content: "<|tool|>", special: false },
    "301": { content: "<custom>", special: false },
    "302": { content: "<extra>", special: true },
    "303": { content: "\u2581x\u2581y", special: false },
    "5000": { content: "<far>", special: true },
  };
  const dir = await checkpoint("added", 3002, { "tokenizer.model": readFileSync(join(SPM, "tokenizer.model")) }, { added_tokens_decoder: added });
  const out = join(tmp, "added.gguf");
  const res = await convert({ modelDir: dir, layout: "tq2_0", output: out, threads: 2, quiet: true });
  assert.ok(res.notes.some((n) => /added tokens 5000 are past the vocabulary \(3002\)/.test(n)), res.notes.join("\n"));
  assert.ok(res.notes.some((n) => /user-defined pieces/.test(n)), "llama.cpp's handling of user-defined pieces is warned about");
  const g = await readGguf(out);
  const tokens = g.kv.get("tokenizer.ggml.tokens")!.value as string[];
  const types = Array.from(g.kv.get("tokenizer.ggml.token_type")!.value as ArrayLike<number>);
  const scores = Array.from(g.kv.get("tokenizer.ggml.scores")!.value as ArrayLike<number>);
  assert.equal([tokens[300], tokens[301], tokens[302], tokens[303]], ["<|tool|>", "<custom>", "<extra>", " x y"]);
  assert.equal([types[0], types[1], types[300], types[301], types[302], types[303], types[304]], [2, 3, 3, 4, 3, 4, 1]);
  assert.equal([scores[300], scores[301]], [-1000, -1000]);
  // llama.cpp loads it and takes the user-defined piece whole; so does bitconv, from the folder and from the artifact
  const [ids] = await llamaTokenize(out, ["God<custom>"]);
  assert.ok(ids.includes(301), `llama.cpp: ${ids}`);
  for (const t of [await loadTokenizer({ tokenizerJson: dir }), await loadTokenizer({ gguf: out })]) assert.equal(plain(t, "God<custom>"), ids);
  const bad = await checkpoint("added-bad", 3002, { "tokenizer.model": readFileSync(join(SPM, "tokenizer.model")) }, { added_tokens_decoder: { x: { content: "<y>" } } });
  const r = cli(["convert", bad, "--layout", "tq2_0", "-o", join(tmp, "added-bad.gguf")]);
  assert.is(r.status, 2);
  assert.match(r.stderr.trim(), /tokenizer_config\.json: added_tokens_decoder: entry "x" has no valid id and content$/);
  const twice = await checkpoint("added-twice", 3002, { "tokenizer.model": readFileSync(join(SPM, "tokenizer.model")) }, { added_tokens_decoder: { "300": { content: "\u2581the", special: true } } });
  const r2 = cli(["convert", twice, "--layout", "tq2_0", "-o", join(tmp, "added-twice.gguf")]);
  assert.is(r2.status, 2);
  assert.match(r2.stderr.trim(), /tokenizer_config\.json: piece "▁the" appears twice \(ids \d+ and 300\)$/);
  assert.not.ok(existsSync(join(tmp, "added-twice.gguf")));
});

test("added_tokens_decoder types byte-level BPE tokens the same way", async () => {
  const fix = join(ROOT, "fixtures/tiny-bitnet-b1.58");
  const tj = JSON.parse(readFileSync(join(fix, "tokenizer.json"), "utf8"));
  const cfg = JSON.parse(readFileSync(join(fix, "tokenizer_config.json"), "utf8"));
  const byId = new Map(Object.entries(tj.model.vocab as Record<string, number>).map(([t, id]) => [id, t]));
  const added = { ...cfg.added_tokens_decoder, "100": { content: byId.get(100), special: false }, "4095": { content: "<|end_of_text|>", special: false } };
  const dir = await checkpoint("bytelevel-added", 4096, { "tokenizer.json": JSON.stringify(tj) }, { ...cfg, added_tokens_decoder: added });
  const out = join(tmp, "bytelevel-added.gguf");
  await convert({ modelDir: dir, layout: "tq2_0", output: out, threads: 2, quiet: true });
  const types = Array.from((await readGguf(out)).kv.get("tokenizer.ggml.token_type")!.value as ArrayLike<number>);
  assert.equal([types[99], types[100], types[4094], types[4095]], [1, 4, 3, 3], "100 user-defined; <|end_of_text|> looks special: control");
});

test("bad Unigram inputs: one line naming the file, exit 2, nothing at the output path", async () => {
  const good = unigramSpec({ byteFallback: false });
  const nan = unigramSpec({ byteFallback: false });
  nan.pieces[400].score = NaN;
  const dup = unigramSpec({ byteFallback: false });
  dup.pieces[401] = { ...dup.pieces[400] };
  const table = buildCharsmap(RULES);
  const broken = new Uint8Array(table);
  new DataView(broken.buffer).setUint32(0, table.length, true);
  const past = new Uint8Array(4 + 8 + 2);
  new DataView(past.buffer).setUint32(0, 8, true);
  new DataView(past.buffer).setUint32(4, 300 << 10, true); // the root's children at 300, in a 2-unit trie
  const json = unigramJson(good);
  const cases: [string, string, string | Uint8Array, RegExp][] = [
    ["truncated", "tokenizer.model", encodeSpmModel(good).subarray(0, encodeSpmModel(good).length - 3), /tokenizer\.model: .*runs past the end/],
    ["nan", "tokenizer.model", encodeSpmModel(nan), /tokenizer\.model: piece 400 .* has score NaN/],
    ["dup", "tokenizer.model", encodeSpmModel(dup), /tokenizer\.model: piece .* appears twice \(ids 400 and 401\)/],
    ["unk", "tokenizer.model", encodeSpmModel({ ...good, unkId: 3000 }), /tokenizer\.model: unk id 3000 is outside the vocabulary/],
    ["table", "tokenizer.model", encodeSpmModel({ ...good, charsmap: broken }), /tokenizer\.model: precompiled_charsmap \(the normalization table\) is broken/],
    ["table-past", "tokenizer.model", encodeSpmModel({ ...good, charsmap: past }), /tokenizer\.model: precompiled_charsmap .* is broken: the root's children run past the 2-unit trie/],
    ["json-score", "tokenizer.json", JSON.stringify({ ...json, model: { ...(json.model as object), vocab: [["<unk>", "x"]] } }), /tokenizer\.json: model\.vocab\[0\] is not \[piece, score\]/],
    ["json-unk", "tokenizer.json", JSON.stringify({ ...json, model: { ...(json.model as object), unk_id: 99999 } }), /tokenizer\.json: .*needs model\.unk_id naming a token \(got 99999\)/],
  ];
  for (const [name, file, body, re] of cases) {
    const dir = await checkpoint(`bad-${name}`, 3000, { [file]: body });
    const target = join(tmp, `bad-${name}.gguf`);
    const r = cli(["convert", dir, "--layout", "i2_s", "-o", target]);
    assert.is(r.status, 2, `${name}: ${r.stderr}`);
    assert.is(r.stderr.trim().split("\n").length, 1, `${name}: ${r.stderr}`);
    assert.match(r.stderr, re, name);
    assert.not.ok(existsSync(target), `${name}: nothing written`);
  }
});

test.after(async () => {
  await llama?.dispose();
  rmSync(tmp, { recursive: true, force: true });
});
test.run();
