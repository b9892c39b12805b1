// SentencePiece vocabularies <-> llama.cpp's tokenizer.ggml.model = "llama" (BPE) and "t5" (Unigram) keys
// (formats/tokenizer-spm.md), and a SentencePiece-style tokenizer.json (LLaMA-2's BPE with byte_fallback
// and the ▁ metaspace, or a Unigram model) -> SpmVocab.
import { kv, type GgufKv } from "../gguf/writer.js";
import { inputError } from "../util/errors.js";
import { applyAddedTokens, addedTokensOfJson, type AddedToken } from "./spmAdded.js";
import { checkSpmVocab, PieceType, type SpmVocab } from "./spmModel.js";

type JsonObj = Record<string, unknown>;
const isObj = (v: unknown): v is JsonObj => typeof v === "object" && v !== null && !Array.isArray(v);

export interface SpmKeysInput {
  vocab: SpmVocab;
  file: string;
  /** rows of the embedding matrix: the piece list is padded to this many ([PAD<id>], unused) */
  vocabSize: number;
  /** tokenizer_config.json's add_bos_token / add_eos_token (LlamaTokenizer defaults: true / false) */
  addBos?: boolean;
  addEos?: boolean;
  /** config.json / generation_config.json ids, which win over the model's */
  bosTokenId?: number;
  eosTokenId?: number;
  chatTemplate?: string;
  target?: string;
  /** added tokens (spmAdded.ts) from tokenizer_config.json / tokenizer.json, and the file they came from */
  added?: AddedToken[];
  addedFile?: string;
}

/**
 * Where llama.cpp would tokenize the vocabulary differently from sentencepiece: refused for --target
 * llama.cpp, else warned about. BPE is written as llama.cpp's "llama" (SPM) tokenizer, Unigram as its
 * "t5" (UGM) one (formats/tokenizer-spm.md "What llama.cpp does differently").
 */
function llamaCppDifferences(v: SpmVocab, ownPieces: number): string[] {
  const d: string[] = [];
  // the [PAD<id>] rows are unused too, but no text spells them; added tokens may sit among them
  const has = (t: number) => (t === PieceType.UNUSED ? v.types.slice(0, ownPieces) : v.types).includes(t);
  if (v.modelType === "bpe") {
    if (v.removeExtraWhitespaces) d.push("it collapses runs of spaces (remove_extra_whitespaces), which llama.cpp's SentencePiece BPE does not");
    if (v.charsmap) d.push("it has a normalization table (precompiled_charsmap), which llama.cpp's SentencePiece BPE does not apply");
  } else {
    if (v.byteFallback) d.push("it spells unknown characters as <0xXX> bytes (byte_fallback), where llama.cpp's Unigram tokenizer writes <unk>");
    if (has(PieceType.USER_DEFINED)) d.push("it has user-defined pieces, which llama.cpp's Unigram tokenizer scores 0");
    if (v.removeExtraWhitespaces && !v.addDummyPrefix) d.push("it collapses spaces without a dummy prefix, where llama.cpp's Unigram tokenizer puts ▁ before the first word too");
    if (has(PieceType.UNUSED)) d.push("it has unused pieces, which llama.cpp's Unigram tokenizer may choose and sentencepiece never does");
  }
  if (has(PieceType.USER_DEFINED)) d.push("it has user-defined pieces, after which llama.cpp starts the following text with a new ▁ (sentencepiece does not)");
  if (v.treatWhitespaceAsSuffix) d.push("it puts ▁ after words (treat_whitespace_as_suffix), which llama.cpp does not");
  return d;
}

/** The vocabulary llama.cpp reads: the pieces padded to the embedding rows, the added tokens applied. */
function paddedVocab(input: SpmKeysInput, notes: string[]): SpmVocab {
  const { vocab: v, file } = input;
  const n = input.vocabSize;
  if (v.pieces.length > n) throw inputError(file, `the tokenizer has ${v.pieces.length} pieces, more than the model's ${n} embedding rows`);
  const t = { pieces: v.pieces.slice(), scores: v.scores.slice(), types: v.types.slice() };
  for (let id = v.pieces.length; id < n; id++) {
    t.pieces.push(`[PAD${id}]`);
    t.scores.push(-1000);
    t.types.push(PieceType.UNUSED);
  }
  if (n > v.pieces.length) notes.push(`tokenizer: ${n - v.pieces.length} embedding rows have no piece; named [PAD<id>] (unused)`);
  const added = input.added ?? [];
  applyAddedTokens(t, added, v.unkId, notes);
  const full: SpmVocab = { ...v, ...t };
  checkSpmVocab(full, added.length > 0 && input.addedFile ? input.addedFile : file);
  return full;
}

export function spmTokenizerKeys(input: SpmKeysInput): { kvs: GgufKv[]; notes: string[] } {
  const { file } = input;
  const notes: string[] = [];
  const unapplied = input.vocab.unapplied ?? [];
  if (unapplied.length > 0) {
    const why = `its normalizer has steps neither bitconv nor llama.cpp applies (${unapplied.join(", ")})`;
    if (input.target === "llama.cpp") throw inputError(file, `${why}; use --target bitconv to convert anyway`);
    notes.push(`warning: tokenizer: ${why}; texts that need them will be tokenized differently`);
  }
  const v = paddedVocab(input, notes);
  const diff = llamaCppDifferences(v, input.vocab.pieces.length);
  if (diff.length > 0) {
    if (input.target === "llama.cpp") throw inputError(file, `llama.cpp would tokenize this differently: ${diff.join("; ")}; use --target bitconv`);
    notes.push(`warning: tokenizer: llama.cpp would tokenize this differently: ${diff.join("; ")}`);
  }
  const n = v.pieces.length;
  const checkId = (what: string, id: number) => {
    if (!Number.isInteger(id) || id < 0 || id >= n) throw inputError(file, `${what} token id ${id} is outside the vocabulary (0..${n - 1})`);
  };
  const bos = input.bosTokenId ?? (v.bosId >= 0 ? v.bosId : undefined);
  const eos = input.eosTokenId ?? (v.eosId >= 0 ? v.eosId : undefined);
  const kvs: GgufKv[] = [
    kv.str("tokenizer.ggml.model", v.modelType === "unigram" ? "t5" : "llama"),
    kv.str("tokenizer.ggml.pre", "default"),
    kv.strArray("tokenizer.ggml.tokens", v.pieces),
    kv.f32Array("tokenizer.ggml.scores", v.scores),
    kv.i32Array("tokenizer.ggml.token_type", v.types),
  ];
  if (v.modelType === "unigram" && v.charsmap) kvs.push(kv.u8Array("tokenizer.ggml.precompiled_charsmap", v.charsmap));
  // llama.cpp's UGM has no byte fallback and no key for it: bitconv's own, so its encoder keeps sentencepiece's
  if (v.modelType === "unigram") kvs.push(kv.bool("bitconv.tokenizer.byte_fallback", v.byteFallback));
  if (bos !== undefined) (checkId("BOS", bos), kvs.push(kv.u32("tokenizer.ggml.bos_token_id", bos)));
  if (eos !== undefined) (checkId("EOS", eos), kvs.push(kv.u32("tokenizer.ggml.eos_token_id", eos)));
  kvs.push(kv.u32("tokenizer.ggml.unknown_token_id", v.unkId));
  if (v.padId >= 0) kvs.push(kv.u32("tokenizer.ggml.padding_token_id", v.padId));
  kvs.push(kv.bool("tokenizer.ggml.add_bos_token", input.addBos ?? true));
  kvs.push(kv.bool("tokenizer.ggml.add_eos_token", input.addEos ?? false));
  kvs.push(kv.bool("tokenizer.ggml.add_space_prefix", v.addDummyPrefix));
  kvs.push(kv.bool("tokenizer.ggml.remove_extra_whitespaces", v.removeExtraWhitespaces));
  if (input.chatTemplate !== undefined) kvs.push(kv.str("tokenizer.chat_template", input.chatTemplate));
  return { kvs, notes };
}

/** True for a tokenizer.json whose model is SentencePiece-shaped rather than byte-level. */
export function isSpmStyleJson(tok: JsonObj): boolean {
  const m = tok.model;
  if (!isObj(m)) return false;
  if (m.type === "Unigram") return true;
  return m.type === "BPE" && (m.byte_fallback === true || JSON.stringify([tok.normalizer, tok.pre_tokenizer]).includes("\u2581"));
}

/** Every object inside a normalizer / pre-tokenizer tree (Sequences included). */
function* nodes(v: unknown): Generator<JsonObj> {
  if (Array.isArray(v)) for (const x of v) yield* nodes(x);
  else if (isObj(v)) {
    yield v;
    for (const x of Object.values(v)) yield* nodes(x);
  }
}

type JsonNormalizer = Pick<SpmVocab, "addDummyPrefix" | "removeExtraWhitespaces" | "charsmap" | "unapplied">;

/**
 * What a SentencePiece-style tokenizer.json's normalizer and pre-tokenizer say in sentencepiece's terms:
 * the ▁ prefix (Prepend("▁"), or a prefixing Metaspace), a Precompiled table, collapsed spaces
 * (T5's Replace(" {2,}", " ") / WhitespaceSplit), and the steps that have no such meaning.
 */
function jsonNormalizer(tok: JsonObj, file: string): JsonNormalizer {
  const r: JsonNormalizer = { addDummyPrefix: false, removeExtraWhitespaces: false, charsmap: null, unapplied: [] };
  const pattern = (n: JsonObj): string | undefined => (isObj(n.pattern) ? ((n.pattern.String ?? n.pattern.Regex) as string | undefined) : undefined);
  for (const n of nodes([tok.normalizer, tok.pre_tokenizer])) {
    if (typeof n.type !== "string" || n.type === "Sequence") continue;
    if (n.type === "Prepend" && n.prepend === "\u2581") r.addDummyPrefix = true;
    else if (n.type === "Metaspace") {
      if (n.prepend_scheme === "first" || n.prepend_scheme === "always" || n.add_prefix_space === true) r.addDummyPrefix = true;
    } else if (n.type === "Replace" && pattern(n) === " " && n.content === "\u2581") continue;
    else if ((n.type === "Replace" && pattern(n) === " {2,}" && n.content === " ") || n.type === "WhitespaceSplit") r.removeExtraWhitespaces = true;
    else if (n.type === "Precompiled") {
      const b64 = n.precompiled_charsmap;
      if (typeof b64 !== "string") throw inputError(file, "a Precompiled normalizer without precompiled_charsmap");
      const bytes = Buffer.from(b64, "base64");
      r.charsmap = bytes.length > 0 ? new Uint8Array(bytes) : null;
    } else if (!r.unapplied!.includes(n.type)) r.unapplied!.push(n.type);
  }
  return r;
}

/** The pieces and scores of model.vocab: BPE {piece: id} (scores from merge ranks), Unigram [[piece, score], ...]. */
function jsonPieces(m: JsonObj, file: string): { pieces: string[]; scores: number[] } {
  const pieces: string[] = [], scores: number[] = [];
  if (m.type === "Unigram") {
    if (!Array.isArray(m.vocab)) throw inputError(file, "model.vocab of a Unigram model is not a list of [piece, score]");
    m.vocab.forEach((e: unknown, i) => {
      if (!Array.isArray(e) || typeof e[0] !== "string" || typeof e[1] !== "number") throw inputError(file, `model.vocab[${i}] is not [piece, score]`);
      pieces.push(e[0]);
      scores.push(e[1]);
    });
    return { pieces, scores };
  }
  if (!isObj(m.vocab)) throw inputError(file, "model.vocab is not an object");
  for (const [p, id] of Object.entries(m.vocab)) {
    if (!Number.isInteger(id) || (id as number) < 0 || (id as number) >= 1 << 24) throw inputError(file, `token ${JSON.stringify(p)} has invalid id ${String(id)}`);
    if (pieces[id as number] !== undefined) throw inputError(file, `id ${String(id)} names two tokens, ${JSON.stringify(pieces[id as number])} and ${JSON.stringify(p)}`);
    pieces[id as number] = p;
  }
  const merges = Array.isArray(m.merges) ? (m.merges as unknown[]) : [];
  const rank = new Map<string, number>();
  merges.forEach((x, i) => {
    const pair = typeof x === "string" ? x.split(" ") : x;
    if (!Array.isArray(pair) || pair.length !== 2) throw inputError(file, `merge ${i} is neither "a b" nor ["a", "b"]`);
    const merged = `${pair[0]}${pair[1]}`;
    if (!rank.has(merged)) rank.set(merged, i);
  });
  for (let i = 0; i < pieces.length; i++) {
    const p = pieces[i];
    scores[i] = p === undefined ? 0 : rank.has(p) ? -rank.get(p)! : [...p].length === 1 ? 0 : -(merges.length + i);
  }
  return { pieces, scores };
}

/**
 * A SentencePiece-style tokenizer.json as an SpmVocab: BPE (scores minus the rank of the merge forming
 * the piece) or Unigram (its log-prob scores); added tokens typed as llama.cpp's converter does.
 */
export function spmVocabFromJson(tok: JsonObj, file: string, notes: string[] = []): SpmVocab {
  const m = tok.model as JsonObj;
  const { pieces, scores } = jsonPieces(m, file);
  const added = addedTokensOfJson(tok, file);
  for (const a of added) {
    if (a.id >= 1 << 24) throw inputError(file, `added token ${JSON.stringify(a.content)} has invalid id ${a.id}`);
    if (pieces[a.id] !== undefined && pieces[a.id] !== a.content) throw inputError(file, `id ${a.id} names two tokens, ${JSON.stringify(pieces[a.id])} and ${JSON.stringify(a.content)}`);
    if (pieces[a.id] === undefined) (pieces[a.id] = a.content), (scores[a.id] = 0);
  }
  for (let i = 0; i < pieces.length; i++) if (pieces[i] === undefined) throw inputError(file, `no token has id ${i} (ids must be dense)`);
  const unk = m.type === "Unigram" ? (typeof m.unk_id === "number" ? m.unk_id : -1) : typeof m.unk_token === "string" ? pieces.indexOf(m.unk_token) : -1;
  if (!Number.isInteger(unk) || unk < 0 || unk >= pieces.length) throw inputError(file, `a SentencePiece-style tokenizer needs ${m.type === "Unigram" ? "model.unk_id" : "model.unk_token"} naming a token (got ${String(m.type === "Unigram" ? m.unk_id : m.unk_token)})`);
  const types = pieces.map((p, i) => (i === unk ? PieceType.UNKNOWN : /^<0x[0-9A-F]{2}>$/.test(p) ? PieceType.BYTE : PieceType.NORMAL));
  const t = { pieces, scores, types };
  applyAddedTokens(t, added, unk, notes);
  const vocab: SpmVocab = {
    ...t,
    modelType: m.type === "Unigram" ? "unigram" : "bpe",
    byteFallback: m.byte_fallback === true,
    ...jsonNormalizer(tok, file),
    treatWhitespaceAsSuffix: false,
    unkId: unk,
    bosId: -1,
    eosId: -1,
    padId: -1,
  };
  checkSpmVocab(vocab, file);
  return vocab;
}

// ---------------------------------------------------------------------------------------------
// GGUF metadata -> SpmVocab (for verify and generate on an artifact)

function numbers(v: unknown): number[] | null {
  if (Array.isArray(v)) return v.map(Number);
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return Array.from(v as unknown as ArrayLike<number>, Number);
  return null;
}

/** `get(key)` gives a key's value as the GGUF reader returns it, or undefined; `model` is tokenizer.ggml.model. */
export function spmVocabFromGguf(get: (key: string) => unknown, model: "llama" | "t5", file: string): { vocab: SpmVocab; addBos: boolean; addEos: boolean } {
  const tokens = get("tokenizer.ggml.tokens");
  if (!Array.isArray(tokens) || tokens.some((t) => typeof t !== "string")) throw inputError(file, "tokenizer.ggml.tokens is missing or not a list of strings");
  const n = tokens.length;
  const scores = numbers(get("tokenizer.ggml.scores"));
  const types = numbers(get("tokenizer.ggml.token_type"));
  if (!scores || scores.length !== n) throw inputError(file, `tokenizer.ggml.scores is missing or not ${n} long (needed for a "${model}" tokenizer)`);
  if (!types || types.length !== n) throw inputError(file, `tokenizer.ggml.token_type is missing or not ${n} long`);
  const id = (key: string, dflt: number): number => {
    const x = get(`tokenizer.ggml.${key}`);
    return x === undefined ? dflt : Number(x);
  };
  const flag = (key: string, dflt: boolean): boolean => {
    const x = get(`tokenizer.ggml.${key}`);
    return x === undefined ? dflt : Boolean(x);
  };
  const raw = get("tokenizer.ggml.precompiled_charsmap");
  const charsmap = model === "t5" ? numbers(raw) : null;
  if (charsmap && charsmap.some((b) => !Number.isInteger(b) || b < 0 || b > 255)) throw inputError(file, "tokenizer.ggml.precompiled_charsmap is not a byte array");
  const ugm = model === "t5";
  const byteCount = (types as number[]).filter((t) => t === PieceType.BYTE).length;
  const vocab: SpmVocab = {
    pieces: tokens as string[], scores, types,
    modelType: ugm ? "unigram" : "bpe",
    // SPM: all 256 byte pieces mean byte fallback, as llama.cpp reads them; UGM: bitconv's key (llama.cpp has none)
    byteFallback: ugm ? get("bitconv.tokenizer.byte_fallback") === true || get("bitconv.tokenizer.byte_fallback") === 1 : byteCount >= 256,
    // where a key is absent, llama.cpp's defaults, which differ for its "llama" (SPM) and "t5" (UGM)
    addDummyPrefix: flag("add_space_prefix", !ugm),
    removeExtraWhitespaces: flag("remove_extra_whitespaces", false),
    charsmap: charsmap && charsmap.length > 0 ? Uint8Array.from(charsmap) : null,
    treatWhitespaceAsSuffix: false,
    unkId: id("unknown_token_id", ugm ? 2 : 0),
    bosId: id("bos_token_id", ugm ? -1 : 1),
    eosId: id("eos_token_id", ugm ? 1 : 2),
    padId: id("padding_token_id", -1),
  };
  checkSpmVocab(vocab, file);
  return { vocab, addBos: flag("add_bos_token", !ugm), addEos: flag("add_eos_token", ugm) };
}
