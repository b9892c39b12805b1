// SentencePiece vocabularies <-> llama.cpp's tokenizer.ggml.model = "llama" keys (formats/tokenizer-spm.md),
// and a SentencePiece-style tokenizer.json (LLaMA-2's: BPE with byte_fallback, ▁ metaspace) -> SpmVocab.
import { kv, type GgufKv } from "../gguf/writer.js";
import { inputError } from "../util/errors.js";
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
}

/** What llama.cpp's "llama" tokenizer does not do: refused for --target llama.cpp, else warned about. */
function llamaCppDifferences(v: SpmVocab): string[] {
  const d: string[] = [];
  if (v.modelType !== "bpe") d.push(`it is a ${v.modelType} model (llama.cpp's "llama" tokenizer merges by score, as BPE does)`);
  if (v.removeExtraWhitespaces) d.push("it collapses runs of spaces (remove_extra_whitespaces), which llama.cpp does not");
  if (v.normalizerTable) d.push("it has a normalization table (precompiled_charsmap), which llama.cpp does not apply");
  if (v.treatWhitespaceAsSuffix) d.push("it puts ▁ after words (treat_whitespace_as_suffix), which llama.cpp does not");
  return d;
}

export function spmTokenizerKeys(input: SpmKeysInput): { kvs: GgufKv[]; notes: string[] } {
  const { vocab: v, file } = input;
  const notes: string[] = [];
  if (v.modelType !== "bpe") throw inputError(file, `a ${v.modelType} SentencePiece model is not supported (bitconv encodes SentencePiece BPE only)`);
  const diff = llamaCppDifferences(v);
  if (diff.length > 0) {
    if (input.target === "llama.cpp") throw inputError(file, `llama.cpp would tokenize this differently: ${diff.join("; ")}; use --target bitconv`);
    notes.push(`warning: tokenizer: llama.cpp would tokenize this differently: ${diff.join("; ")}`);
  }
  const n = input.vocabSize;
  if (v.pieces.length > n) throw inputError(file, `the tokenizer has ${v.pieces.length} pieces, more than the model's ${n} embedding rows`);
  const tokens = v.pieces.slice(), scores = v.scores.slice(), types = v.types.slice();
  for (let id = v.pieces.length; id < n; id++) {
    tokens.push(`[PAD${id}]`);
    scores.push(-1000);
    types.push(PieceType.UNUSED);
  }
  if (n > v.pieces.length) notes.push(`tokenizer: ${n - v.pieces.length} embedding rows have no piece; named [PAD<id>] (unused)`);
  const checkId = (what: string, id: number) => {
    if (!Number.isInteger(id) || id < 0 || id >= n) throw inputError(file, `${what} token id ${id} is outside the vocabulary (0..${n - 1})`);
  };
  const bos = input.bosTokenId ?? (v.bosId >= 0 ? v.bosId : undefined);
  const eos = input.eosTokenId ?? (v.eosId >= 0 ? v.eosId : undefined);
  const kvs: GgufKv[] = [
    kv.str("tokenizer.ggml.model", "llama"),
    kv.str("tokenizer.ggml.pre", "default"),
    kv.strArray("tokenizer.ggml.tokens", tokens),
    kv.f32Array("tokenizer.ggml.scores", scores),
    kv.i32Array("tokenizer.ggml.token_type", types),
  ];
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

/** The ▁ prefix of a SentencePiece-style tokenizer.json: a Prepend("▁") normalizer or a prefixing Metaspace. */
function addsDummyPrefix(tok: JsonObj): boolean {
  for (const n of nodes([tok.normalizer, tok.pre_tokenizer])) {
    if (n.type === "Prepend" && n.prepend === "\u2581") return true;
    if (n.type === "Metaspace" && (n.prepend_scheme === "first" || n.prepend_scheme === "always" || n.add_prefix_space === true)) return true;
  }
  return false;
}

/** A SentencePiece-style tokenizer.json as an SpmVocab; BPE scores are minus the rank of the merge forming the piece. */
export function spmVocabFromJson(tok: JsonObj, file: string): SpmVocab {
  const m = tok.model as JsonObj;
  if (m.type === "Unigram") throw inputError(file, "a Unigram tokenizer.json is not supported (bitconv encodes SentencePiece BPE only)");
  if (!isObj(m.vocab)) throw inputError(file, "model.vocab is not an object");
  const pieces: string[] = [];
  for (const [p, id] of Object.entries(m.vocab)) {
    if (!Number.isInteger(id) || (id as number) < 0 || (id as number) >= 1 << 24) throw inputError(file, `token ${JSON.stringify(p)} has invalid id ${String(id)}`);
    if (pieces[id as number] !== undefined) throw inputError(file, `id ${String(id)} names two tokens, ${JSON.stringify(pieces[id as number])} and ${JSON.stringify(p)}`);
    pieces[id as number] = p;
  }
  const added = Array.isArray(tok.added_tokens) ? (tok.added_tokens as JsonObj[]) : [];
  const special = new Map<number, boolean>();
  for (const a of added) {
    const id = a.id as number, c = a.content as string;
    if (!Number.isInteger(id) || id < 0 || typeof c !== "string") throw inputError(file, `added token ${JSON.stringify(a)} has no valid id and content`);
    if (pieces[id] !== undefined && pieces[id] !== c) throw inputError(file, `id ${id} names two tokens, ${JSON.stringify(pieces[id])} and ${JSON.stringify(c)}`);
    pieces[id] = c;
    special.set(id, a.special === true);
  }
  for (let i = 0; i < pieces.length; i++) if (pieces[i] === undefined) throw inputError(file, `no token has id ${i} (ids must be dense)`);
  const merges = Array.isArray(m.merges) ? (m.merges as unknown[]) : [];
  const rank = new Map<string, number>();
  merges.forEach((x, i) => {
    const pair = typeof x === "string" ? x.split(" ") : x;
    if (!Array.isArray(pair) || pair.length !== 2) throw inputError(file, `merge ${i} is neither "a b" nor ["a", "b"]`);
    const merged = `${pair[0]}${pair[1]}`;
    if (!rank.has(merged)) rank.set(merged, i);
  });
  const unk = typeof m.unk_token === "string" ? pieces.indexOf(m.unk_token) : -1;
  const types = pieces.map((p, i) => {
    if (i === unk) return PieceType.UNKNOWN;
    const s = special.get(i);
    if (s !== undefined) return s ? PieceType.CONTROL : PieceType.USER_DEFINED;
    return /^<0x[0-9A-F]{2}>$/.test(p) ? PieceType.BYTE : PieceType.NORMAL;
  });
  const scores = pieces.map((p, i) => (types[i] !== PieceType.NORMAL ? 0 : rank.has(p) ? -rank.get(p)! : [...p].length === 1 ? 0 : -(merges.length + i)));
  const vocab: SpmVocab = {
    pieces, scores, types,
    modelType: "bpe",
    byteFallback: m.byte_fallback === true,
    addDummyPrefix: addsDummyPrefix(tok),
    removeExtraWhitespaces: false,
    normalizerTable: false,
    treatWhitespaceAsSuffix: false,
    unkId: unk,
    bosId: -1,
    eosId: -1,
    padId: -1,
  };
  if (unk < 0) throw inputError(file, "a SentencePiece-style tokenizer needs model.unk_token");
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

/** `get(key)` gives a key's value as the GGUF reader returns it, or undefined. */
export function spmVocabFromGguf(get: (key: string) => unknown, file: string): { vocab: SpmVocab; addBos: boolean; addEos: boolean } {
  const tokens = get("tokenizer.ggml.tokens");
  if (!Array.isArray(tokens) || tokens.some((t) => typeof t !== "string")) throw inputError(file, "tokenizer.ggml.tokens is missing or not a list of strings");
  const n = tokens.length;
  const scores = numbers(get("tokenizer.ggml.scores"));
  const types = numbers(get("tokenizer.ggml.token_type"));
  if (!scores || scores.length !== n) throw inputError(file, `tokenizer.ggml.scores is missing or not ${n} long (needed for a "llama" tokenizer)`);
  if (!types || types.length !== n) throw inputError(file, `tokenizer.ggml.token_type is missing or not ${n} long`);
  const id = (key: string, dflt: number): number => {
    const x = get(`tokenizer.ggml.${key}`);
    return x === undefined ? dflt : Number(x);
  };
  const flag = (key: string, dflt: boolean): boolean => {
    const x = get(`tokenizer.ggml.${key}`);
    return x === undefined ? dflt : Boolean(x);
  };
  const byteCount = (types as number[]).filter((t) => t === PieceType.BYTE).length;
  const vocab: SpmVocab = {
    pieces: tokens as string[], scores, types,
    modelType: "bpe",
    byteFallback: byteCount >= 256,
    addDummyPrefix: flag("add_space_prefix", true),
    removeExtraWhitespaces: flag("remove_extra_whitespaces", false),
    normalizerTable: false,
    treatWhitespaceAsSuffix: false,
    unkId: id("unknown_token_id", 0),
    bosId: id("bos_token_id", 1),
    eosId: id("eos_token_id", 2),
    padId: id("padding_token_id", -1),
  };
  checkSpmVocab(vocab, file);
  return { vocab, addBos: flag("add_bos_token", true), addEos: flag("add_eos_token", false) };
}
