// Text <-> token ids for verify and generate, with @huggingface/tokenizers.
// Two sources give the same ids: the checkpoint's own tokenizer.json (+ tokenizer_config.json), or an
// equivalent tokenizer.json object rebuilt from an artifact's `tokenizer.ggml.*` metadata.
import { statSync, existsSync } from "node:fs";
import { join } from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { BitconvError, inputError } from "../util/errors.js";
import { readInputBytesSync, readInputTextSync } from "../util/files.js";
import { readGguf } from "../gguf/reader.js";
import { spmTokenizer } from "./spm.js";
import { addedTokensOfConfig, applyAddedTokens } from "./spmAdded.js";
import { checkSpmVocab, parseSpmModel } from "./spmModel.js";
import { isSpmStyleJson, spmVocabFromGguf, spmVocabFromJson } from "./spmGguf.js";

/** Where to take the tokenizer from; the first one given wins, in this order. */
export interface TokenizerSources {
  /**
   * A tokenizer.json or SentencePiece tokenizer.model file, or a checkpoint directory holding one
   * (tokenizer.model first, as convert prefers it; tokenizer_config.json is read beside it).
   */
  tokenizerJson?: string;
  /** tokenizer_config.json (defaults to the one beside tokenizerJson, when present). */
  tokenizerConfig?: string;
  /** A GGUF artifact: the tokenizer is rebuilt from its `tokenizer.ggml.*` keys. */
  gguf?: string;
}

export interface BitconvTokenizer {
  /** Where the vocabulary came from. */
  readonly source: "tokenizer.json" | "tokenizer.model" | "gguf";
  /** The file it was read from. */
  readonly path: string;
  /** Vocabulary size including added tokens (highest id + 1). */
  readonly vocabSize: number;
  readonly bosId: number | null;
  readonly eosId: number | null;
  /** True when encode() puts BOS first (the tokenizer's post-processor / add_bos_token). */
  readonly addsBos: boolean;
  /** Token ids, BOS/EOS added by the tokenizer's own rules unless addSpecial is false. */
  encode(text: string, opts?: { addSpecial?: boolean }): Int32Array;
  /** Text of the ids; special tokens are dropped unless skipSpecial is false. No space clean-up. */
  decode(ids: ArrayLike<number>, opts?: { skipSpecial?: boolean }): string;
}

/** One GGUF key as the reader gives it. */
export interface GgufKvEntry {
  type: number;
  value: unknown;
}

/** LLaMA-3's pre-tokenizer split pattern (llama.cpp pre "llama-bpe"), in tokenizer.json's Oniguruma syntax. */
export const LLAMA3_SPLIT_REGEX =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/** llama.cpp's names for the LLaMA-3 pre-tokenizer. */
const LLAMA3_PRE = new Set(["llama-bpe", "llama3", "llama-v3", "falcon3", "falcon-h1", "llama4"]);
/** Pre-tokenizer names that mean GPT-2's own byte-level regex. */
const GPT2_PRE = new Set(["gpt2", "default", "gpt-2"]);

const TOKEN_TYPE_CONTROL = 3;
const TOKEN_TYPE_USER_DEFINED = 4;

function readJson(file: string): unknown {
  const text = readInputTextSync(file);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw inputError(file, `not valid JSON (${(e as Error).message})`);
  }
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** Loads a tokenizer from tokenizer.json (preferred) or from a GGUF artifact's metadata. */
export async function loadTokenizer(src: TokenizerSources): Promise<BitconvTokenizer> {
  if (src.tokenizerJson) {
    let file = src.tokenizerJson;
    if (isDir(file)) file = existsSync(join(file, "tokenizer.model")) ? join(file, "tokenizer.model") : join(file, "tokenizer.json");
    if (!existsSync(file)) throw inputError(file, "no such file (a tokenizer.json or tokenizer.model is needed)");
    let configFile = src.tokenizerConfig;
    if (!configFile) {
      const beside = join(file, "..", "tokenizer_config.json");
      if (existsSync(beside)) configFile = beside;
    }
    const config = (configFile ? readJson(configFile) : {}) as Record<string, unknown>;
    const cfg = { config, file: configFile ?? "tokenizer_config.json" };
    if (file.endsWith(".model")) return spmFromFiles(file, null, cfg);
    const tj = readJson(file);
    if (typeof tj === "object" && tj !== null && isSpmStyleJson(tj as Record<string, unknown>)) return spmFromFiles(file, tj as Record<string, unknown>, cfg);
    return wrap(tj, config, "tokenizer.json", file);
  }
  if (src.gguf) {
    const g = await readGguf(src.gguf);
    const model = kvValue(g.kv, "tokenizer.ggml.model");
    if (model === "llama" || model === "t5") {
      const { vocab, addBos, addEos } = spmVocabFromGguf((k) => kvValue(g.kv, k), model, src.gguf);
      return spmTokenizer(vocab, { source: "gguf", path: src.gguf, addBos, addEos });
    }
    const { tokenizer, config } = tokenizerJsonFromGguf(g.kv, src.gguf);
    return wrap(tokenizer, config, "gguf", src.gguf);
  }
  throw new BitconvError("loadTokenizer: give a tokenizer.json, a tokenizer.model or a GGUF file", 2);
}

/** A SentencePiece tokenizer from tokenizer.model (json null) or a SentencePiece-style tokenizer.json. */
function spmFromFiles(file: string, json: Record<string, unknown> | null, cfg: { config: Record<string, unknown>; file: string }): BitconvTokenizer {
  const config = cfg.config;
  const vocab = json ? spmVocabFromJson(json, file) : parseSpmModel(readInputBytesSync(file), file);
  // tokenizer_config.json's added tokens type pieces as they are typed in the converted artifact
  const added = addedTokensOfConfig(config, cfg.file);
  if (added.length > 0) {
    applyAddedTokens(vocab, added, vocab.unkId, []);
    checkSpmVocab(vocab, cfg.file);
  }
  const idOf = (v: unknown): number => {
    const name = typeof v === "string" ? v : typeof v === "object" && v !== null ? (v as { content?: unknown }).content : undefined;
    return typeof name === "string" ? vocab.pieces.indexOf(name) : -1;
  };
  if (vocab.bosId < 0) vocab.bosId = idOf(config.bos_token);
  if (vocab.eosId < 0) vocab.eosId = idOf(config.eos_token);
  const addBos = typeof config.add_bos_token === "boolean" ? config.add_bos_token : true;
  const addEos = typeof config.add_eos_token === "boolean" ? config.add_eos_token : false;
  return spmTokenizer(vocab, { source: json ? "tokenizer.json" : "tokenizer.model", path: file, addBos, addEos });
}

/** Builds a tokenizer directly from parsed tokenizer.json / tokenizer_config.json objects. */
export function tokenizerFromObjects(
  tokenizerJson: unknown,
  tokenizerConfig: unknown,
  label = "tokenizer.json",
): BitconvTokenizer {
  return wrap(tokenizerJson, tokenizerConfig ?? {}, "tokenizer.json", label);
}

function wrap(tj: unknown, config: unknown, source: "tokenizer.json" | "gguf", path: string): BitconvTokenizer {
  if (typeof tj !== "object" || tj === null || !("model" in tj)) throw inputError(path, "not a tokenizer.json (no model)");
  let tok: Tokenizer;
  try {
    tok = new Tokenizer(tj, (config ?? {}) as object);
  } catch (e) {
    throw inputError(path, `unsupported tokenizer: ${(e as Error).message}`);
  }
  const added = (tj as { added_tokens?: { id: number; content: string }[] }).added_tokens ?? [];
  const cfg = (config ?? {}) as Record<string, unknown>;
  const tokenName = (v: unknown): string | undefined =>
    typeof v === "string" ? v : typeof v === "object" && v !== null && typeof (v as { content?: unknown }).content === "string" ? (v as { content: string }).content : undefined;
  const idOf = (name: string | undefined): number | null => {
    if (name === undefined) return null;
    const id = tok.token_to_id(name);
    return id === undefined ? null : id;
  };
  const vocab = tok.get_vocab(true);
  let maxId = -1;
  for (const id of vocab.values()) if (id > maxId) maxId = id;
  for (const a of added) if (a.id > maxId) maxId = a.id;

  const probe = tok.encode("a").ids;
  const plain = tok.encode("a", { add_special_tokens: false }).ids;
  const addsBos = probe.length > plain.length && probe[0] !== plain[0];
  let bosId = idOf(tokenName(cfg.bos_token));
  if (bosId === null && addsBos) bosId = probe[0];
  const eosId = idOf(tokenName(cfg.eos_token));

  return {
    source,
    path,
    vocabSize: maxId + 1,
    bosId,
    eosId,
    addsBos,
    encode(text, opts = {}) {
      const ids = tok.encode(text, { add_special_tokens: opts.addSpecial ?? true }).ids;
      return Int32Array.from(ids);
    },
    decode(ids, opts = {}) {
      const arr = Array.from(ids, Number);
      if (arr.length === 0) return "";
      return tok.decode(arr, { skip_special_tokens: opts.skipSpecial ?? true, clean_up_tokenization_spaces: false });
    },
  };
}

// ---------------------------------------------------------------------------------------------
// GGUF metadata -> tokenizer.json

function unwrapArray(v: unknown): unknown[] | null {
  if (Array.isArray(v)) return v;
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return Array.from(v as unknown as ArrayLike<unknown>);
  if (typeof v === "object" && v !== null) {
    for (const k of ["items", "values", "value", "array"]) {
      const inner = (v as Record<string, unknown>)[k];
      if (inner !== undefined) return unwrapArray(inner);
    }
  }
  return null;
}

function kvValue(kv: Map<string, GgufKvEntry>, key: string): unknown {
  const e = kv.get(key);
  if (e === undefined) return undefined;
  if (typeof e === "object" && e !== null && "value" in e) return e.value;
  return e;
}

function kvString(kv: Map<string, GgufKvEntry>, key: string, file: string, required: true): string;
function kvString(kv: Map<string, GgufKvEntry>, key: string, file: string, required?: false): string | undefined;
function kvString(kv: Map<string, GgufKvEntry>, key: string, file: string, required = false): string | undefined {
  const v = kvValue(kv, key);
  if (v === undefined) {
    if (required) throw inputError(file, `missing key ${key}`);
    return undefined;
  }
  if (typeof v !== "string") throw inputError(file, `key ${key} is not a string`);
  return v;
}

function kvNumber(kv: Map<string, GgufKvEntry>, key: string, file: string): number | undefined {
  const v = kvValue(kv, key);
  if (v === undefined) return undefined;
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return Number(v);
  throw inputError(file, `key ${key} is not a number`);
}

function kvBool(kv: Map<string, GgufKvEntry>, key: string, file: string): boolean | undefined {
  const v = kvValue(kv, key);
  if (v === undefined) return undefined;
  if (typeof v === "boolean") return v;
  if (typeof v === "number") return v !== 0;
  throw inputError(file, `key ${key} is not a boolean`);
}

function kvArray(kv: Map<string, GgufKvEntry>, key: string, file: string): unknown[] | undefined {
  const v = kvValue(kv, key);
  if (v === undefined) return undefined;
  const a = unwrapArray(v);
  if (a === null) throw inputError(file, `key ${key} is not an array`);
  return a;
}

/**
 * Rebuilds a tokenizer.json object (and a minimal tokenizer_config.json) from the `tokenizer.ggml.*`
 * keys of an artifact, the way llama.cpp reads them: model "gpt2" = byte-level BPE; pre "llama-bpe"
 * (and aliases) = LLaMA-3 split regex + ByteLevel without regex, BPE with ignore_merges; pre "gpt2" /
 * absent = ByteLevel with GPT-2's regex. token_type 3 (control) and 4 (user-defined) become added
 * tokens; BOS/EOS are added by a TemplateProcessing post-processor when add_bos_token / add_eos_token
 * (LLaMA-3 pre-tokenizers default to add_bos true, as in llama.cpp).
 */
export function tokenizerJsonFromGguf(
  kv: Map<string, GgufKvEntry>,
  file = "artifact",
): { tokenizer: Record<string, unknown>; config: Record<string, unknown> } {
  const model = kvString(kv, "tokenizer.ggml.model", file, true);
  if (model !== "gpt2") {
    throw inputError(file, `tokenizer.ggml.model "${model}" is not supported (only "gpt2", byte-level BPE); pass --tokenizer with the source tokenizer.json`);
  }
  const pre = kvString(kv, "tokenizer.ggml.pre", file);
  const tokensRaw = kvArray(kv, "tokenizer.ggml.tokens", file);
  if (!tokensRaw || tokensRaw.length === 0) throw inputError(file, "missing key tokenizer.ggml.tokens");
  const tokens = tokensRaw.map((t, i) => {
    if (typeof t !== "string") throw inputError(file, `tokenizer.ggml.tokens[${i}] is not a string`);
    return t;
  });
  const merges = kvArray(kv, "tokenizer.ggml.merges", file);
  if (!merges) throw inputError(file, "missing key tokenizer.ggml.merges (required for gpt2 tokenizers)");
  const mergeStrings = merges.map((m, i) => {
    if (typeof m !== "string" || m.indexOf(" ") <= 0) throw inputError(file, `tokenizer.ggml.merges[${i}] is not "left right"`);
    return m;
  });
  const typesRaw = kvArray(kv, "tokenizer.ggml.token_type", file);
  const types = typesRaw ? typesRaw.map((t) => Number(t)) : null;
  if (types && types.length !== tokens.length) {
    throw inputError(file, `tokenizer.ggml.token_type has ${types.length} entries, tokens has ${tokens.length}`);
  }

  let splitRegex: string | null;
  let ignoreMerges: boolean;
  let defaultAddBos: boolean;
  if (pre === undefined || GPT2_PRE.has(pre)) {
    splitRegex = null;
    ignoreMerges = false;
    defaultAddBos = false;
  } else if (LLAMA3_PRE.has(pre)) {
    splitRegex = LLAMA3_SPLIT_REGEX;
    ignoreMerges = true;
    defaultAddBos = true;
  } else {
    throw inputError(file, `tokenizer.ggml.pre "${pre}" is not supported (known: llama-bpe and its aliases, gpt2); pass --tokenizer with the source tokenizer.json`);
  }

  const vocab: Record<string, number> = {};
  const addedTokens: Record<string, unknown>[] = [];
  const seen = new Set<string>();
  tokens.forEach((t, id) => {
    if (seen.has(t)) throw inputError(file, `tokenizer.ggml.tokens has a duplicate entry "${t}" (id ${id})`);
    seen.add(t);
    const type = types ? types[id] : 1;
    if (type === TOKEN_TYPE_CONTROL || type === TOKEN_TYPE_USER_DEFINED) {
      addedTokens.push({
        id,
        content: t,
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: false,
        special: type === TOKEN_TYPE_CONTROL,
      });
    } else {
      vocab[t] = id;
    }
  });

  const idKey = (name: string): number | undefined => {
    const v = kvNumber(kv, `tokenizer.ggml.${name}`, file);
    if (v === undefined) return undefined;
    if (!Number.isInteger(v) || v < 0 || v >= tokens.length) throw inputError(file, `tokenizer.ggml.${name} = ${v} is outside the vocabulary`);
    return v;
  };
  const bos = idKey("bos_token_id");
  const eos = idKey("eos_token_id");
  const addBos = kvBool(kv, "tokenizer.ggml.add_bos_token", file) ?? defaultAddBos;
  const addEos = kvBool(kv, "tokenizer.ggml.add_eos_token", file) ?? false;
  if (addBos && bos === undefined) throw inputError(file, "tokenizer.ggml.add_bos_token is true but there is no tokenizer.ggml.bos_token_id");
  if (addEos && eos === undefined) throw inputError(file, "tokenizer.ggml.add_eos_token is true but there is no tokenizer.ggml.eos_token_id");

  const special = (id: number, typeId: number) => ({ SpecialToken: { id: tokens[id], type_id: typeId } });
  const single: unknown[] = [];
  const pair: unknown[] = [];
  const specialTokens: Record<string, unknown> = {};
  if (addBos) {
    single.push(special(bos!, 0));
    pair.push(special(bos!, 0));
    specialTokens[tokens[bos!]] = { id: tokens[bos!], ids: [bos], tokens: [tokens[bos!]] };
  }
  single.push({ Sequence: { id: "A", type_id: 0 } });
  pair.push({ Sequence: { id: "A", type_id: 0 } });
  if (addEos) {
    single.push(special(eos!, 0));
    pair.push(special(eos!, 0));
    specialTokens[tokens[eos!]] = { id: tokens[eos!], ids: [eos], tokens: [tokens[eos!]] };
  }
  if (addBos) pair.push(special(bos!, 1));
  pair.push({ Sequence: { id: "B", type_id: 1 } });
  if (addEos) pair.push(special(eos!, 1));

  const byteLevel = (useRegex: boolean) => ({ type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: useRegex });
  const preTokenizer =
    splitRegex === null
      ? byteLevel(true)
      : {
          type: "Sequence",
          pretokenizers: [
            { type: "Split", pattern: { Regex: splitRegex }, behavior: "Isolated", invert: false },
            byteLevel(false),
          ],
        };

  const tokenizer: Record<string, unknown> = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer: null,
    pre_tokenizer: preTokenizer,
    post_processor: {
      type: "Sequence",
      processors: [
        { type: "ByteLevel", add_prefix_space: true, trim_offsets: false, use_regex: true },
        { type: "TemplateProcessing", single, pair, special_tokens: specialTokens },
      ],
    },
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: ignoreMerges,
      vocab,
      merges: mergeStrings,
    },
  };
  const config: Record<string, unknown> = { clean_up_tokenization_spaces: false };
  if (bos !== undefined) config.bos_token = tokens[bos];
  if (eos !== undefined) config.eos_token = tokens[eos];
  return { tokenizer, config };
}
