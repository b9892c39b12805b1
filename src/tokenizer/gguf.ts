// tokenizer.json (Hugging Face `tokenizers`) -> llama.cpp's tokenizer.ggml.* keys (formats/gguf.md 4.4).
// Byte-level BPE (GPT-2 / LLaMA-3 style, what BitNet 2B-4T, Falcon3 and Llama-3 derived checkpoints
// ship) becomes llama.cpp's "gpt2" model here; SentencePiece vocabularies (tokenizer.model, or a
// SentencePiece-style tokenizer.json) become its "llama" model in spmGguf.ts.

import { kv, type GgufKv } from "../gguf/writer.js";
import { inputError } from "../util/errors.js";
import { checkHash, preNameForHash } from "./pre.js";
import { addedTokensOfConfig, looksSpecial } from "./spmAdded.js";
import { parseSpmModel } from "./spmModel.js";
import { isSpmStyleJson, spmTokenizerKeys, spmVocabFromJson } from "./spmGguf.js";

/** The pre-tokenizer regex of LLaMA 3 (llama.cpp pre type "llama-bpe"). */
export const LLAMA3_SPLIT_REGEX =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/** llama.cpp token types. */
export const TokenType = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

/** Names of end-of-turn tokens used by common chat formats. */
const EOT_NAMES = ["<|eot_id|>", "<|im_end|>", "<|end_of_turn|>", "<end_of_turn>", "<|eot|>", "<|endofturn|>"];

interface AddedToken {
  id: number;
  content: string;
  special?: boolean;
}

type JsonObj = Record<string, unknown>;

export interface TokenizerInput {
  /** parsed tokenizer.json */
  tokenizer: JsonObj;
  /** parsed tokenizer_config.json, if any */
  tokenizerConfig?: JsonObj;
  /** bos/eos from config.json / generation_config.json (they take precedence) */
  bosTokenId?: number;
  eosTokenId?: number;
  /** rows of the embedding matrix: the token list is padded to this size */
  vocabSize: number;
  /** for error messages */
  file: string;
  /** "llama.cpp": refuse a pre-tokenizer llama.cpp would not reproduce (else: a warning note) */
  target?: string;
}

export interface TokenizerKeys {
  kvs: GgufKv[];
  pre: string;
  nTokens: number;
  notes: string[];
}

const isObj = (v: unknown): v is JsonObj => typeof v === "object" && v !== null && !Array.isArray(v);

/** Flattens a Sequence (pretokenizers / processors) into its parts. */
function parts(node: unknown, listKey: string): JsonObj[] {
  if (!isObj(node)) return [];
  if (node.type === "Sequence" && Array.isArray(node[listKey])) return (node[listKey] as unknown[]).flatMap((n) => parts(n, listKey));
  return [node];
}

/** By the split regex: "llama-bpe" for LLaMA-3's, "gpt-2" for plain byte-level splitting, else null. */
export function detectPre(preTokenizer: unknown): string | null {
  const ps = parts(preTokenizer, "pretokenizers");
  const split = ps.find((p) => p.type === "Split");
  const byteLevel = ps.find((p) => p.type === "ByteLevel");
  if (split) {
    const pattern = isObj(split.pattern) ? split.pattern.Regex : undefined;
    if (pattern === LLAMA3_SPLIT_REGEX && byteLevel && byteLevel.use_regex === false) return "llama-bpe";
    return null;
  }
  if (byteLevel && ps.length === 1 && byteLevel.use_regex !== false) return "gpt-2";
  return null;
}

function isByteLevel(tok: JsonObj): boolean {
  return parts(tok.pre_tokenizer, "pretokenizers").some((p) => p.type === "ByteLevel") || (isObj(tok.decoder) && tok.decoder.type === "ByteLevel");
}

/** True when the post-processor puts `bosContent` (or the BOS id) in front of a single sequence. */
function postProcessorAddsBos(post: unknown, bosContent: string | undefined, bosId: number | undefined): boolean {
  for (const p of parts(post, "processors")) {
    if (p.type === "TemplateProcessing" && Array.isArray(p.single)) {
      const first = p.single[0] as JsonObj | undefined;
      const special = first && isObj(first.SpecialToken) ? (first.SpecialToken.id as string) : undefined;
      if (special === undefined) continue;
      const entry = isObj(p.special_tokens) ? (p.special_tokens[special] as JsonObj | undefined) : undefined;
      const ids = entry && Array.isArray(entry.ids) ? (entry.ids as number[]) : [];
      if (special === bosContent || (bosId !== undefined && ids.includes(bosId))) return true;
    }
    if ((p.type === "RobertaProcessing" || p.type === "BertProcessing") && Array.isArray(p.cls)) return true;
  }
  return false;
}

function tokenContent(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (isObj(v) && typeof v.content === "string") return v.content;
  return undefined;
}

/** tokenizer_config.json chat_template: a string, or a list of {name, template} (use "default"). */
function chatTemplate(cfg: JsonObj | undefined): string | undefined {
  const t = cfg?.chat_template;
  if (typeof t === "string") return t;
  if (Array.isArray(t)) {
    const named = t.filter(isObj);
    const def = named.find((x) => x.name === "default") ?? named[0];
    if (def && typeof def.template === "string") return def.template;
  }
  return undefined;
}

/**
 * tokenizer.ggml.pre: llama.cpp's check hash first (formats/tokenizer-pre.md), then the split regex.
 * Neither known: llama.cpp would split the text differently from the model's own tokenizer.
 */
function llamaCppPre(tok: JsonObj, input: TokenizerInput, notes: string[]): string {
  let hash: string | undefined;
  try {
    hash = checkHash(tok, input.tokenizerConfig ?? {});
  } catch {
    hash = undefined; // a tokenizer @huggingface/tokenizers cannot run has no hash; the regex may still tell
  }
  const byHash = hash === undefined ? null : preNameForHash(hash);
  if (byHash !== null) return byHash;
  const byRegex = detectPre(tok.pre_tokenizer);
  if (byRegex !== null) return byRegex;
  const why = "its pre-tokenizer is neither in llama.cpp's check-hash table nor LLaMA-3's or GPT-2's split, so llama.cpp would split text differently";
  if (input.target === "llama.cpp") throw inputError(input.file, `${why} (check hash ${hash ?? "unavailable"}); use --target bitconv`);
  notes.push(`warning: tokenizer: ${why}; wrote tokenizer.ggml.pre = "default" (check hash ${hash ?? "unavailable"})`);
  return "default";
}

export function tokenizerKeys(input: TokenizerInput): TokenizerKeys {
  const { tokenizer: tok, file } = input;
  const model = tok.model;
  if (!isObj(model)) throw inputError(file, "no \"model\" object");
  if (model.type !== "BPE" || !isByteLevel(tok)) {
    throw inputError(
      file,
      `the tokenizer is ${String(model.type)}${model.type === "BPE" ? " without byte-level pre-tokenization (SentencePiece-style)" : ""}; ` +
        "bitconv writes only byte-level BPE tokenizers (llama.cpp model \"gpt2\")",
    );
  }
  const notes: string[] = [];
  const vocab = model.vocab;
  if (!isObj(vocab)) throw inputError(file, "model.vocab is not an object");

  const byId = new Map<number, string>();
  const put = (id: number, s: string) => {
    if (!Number.isInteger(id) || id < 0) throw inputError(file, `token ${JSON.stringify(s)} has invalid id ${id}`);
    const prev = byId.get(id);
    if (prev !== undefined && prev !== s) throw inputError(file, `id ${id} names two tokens, ${JSON.stringify(prev)} and ${JSON.stringify(s)}`);
    byId.set(id, s);
  };
  for (const [s, id] of Object.entries(vocab)) put(id as number, s);
  const added = (Array.isArray(tok.added_tokens) ? tok.added_tokens : []) as AddedToken[];
  for (const a of added) put(a.id, a.content);

  let maxId = -1;
  for (const id of byId.keys()) if (id > maxId) maxId = id; // no spread: 128k+ ids would overflow the stack
  if (maxId + 1 > input.vocabSize) {
    throw inputError(file, `the tokenizer has ids up to ${maxId}, more than the model's ${input.vocabSize} embedding rows`);
  }
  const n = input.vocabSize;
  const tokens: string[] = new Array(n);
  const types: number[] = new Array(n);
  const seen = new Map<string, number>();
  let padded = 0;
  for (let id = 0; id < n; id++) {
    let s = byId.get(id);
    let type: number = TokenType.NORMAL;
    if (s === undefined) {
      // embedding rows without a token (padded vocabularies): the name convert_hf_to_gguf uses
      s = `[PAD${id}]`;
      type = TokenType.UNUSED;
      padded++;
    }
    const dup = seen.get(s);
    if (dup !== undefined) throw inputError(file, `token ${JSON.stringify(s)} appears twice (ids ${dup} and ${id}); llama.cpp needs unique token strings`);
    seen.set(s, id);
    tokens[id] = s;
    types[id] = type;
  }
  // added tokens, then tokenizer_config.json's added_tokens_decoder, typed as llama.cpp's converter does
  const decoder = addedTokensOfConfig(input.tokenizerConfig, file.replace(/tokenizer\.json$/, "tokenizer_config.json"));
  for (const a of [...added.map((a) => ({ ...a, special: a.special === true })), ...decoder]) {
    if (a.id < n) types[a.id] = a.special || looksSpecial(tokens[a.id]) ? TokenType.CONTROL : TokenType.USER_DEFINED;
  }
  if (padded > 0) notes.push(`tokenizer: ${padded} embedding rows have no token; named [PAD<id>] (unused)`);

  const merges = Array.isArray(model.merges) ? (model.merges as unknown[]) : [];
  const mergeStrings = merges.map((m, i) => {
    if (typeof m === "string") return m;
    if (Array.isArray(m) && m.length === 2 && m.every((x) => typeof x === "string")) return `${m[0]} ${m[1]}`;
    throw inputError(file, `merge ${i} is neither "a b" nor ["a", "b"]`);
  });

  const pre = llamaCppPre(tok, input, notes);
  const cfg = input.tokenizerConfig;
  const idOf = (v: unknown): number | undefined => {
    const c = tokenContent(v);
    return c === undefined ? undefined : seen.get(c);
  };
  const bos = input.bosTokenId ?? idOf(cfg?.bos_token);
  const eos = input.eosTokenId ?? idOf(cfg?.eos_token);
  const eot = EOT_NAMES.map((s) => seen.get(s)).find((id) => id !== undefined);
  const bosContent = bos !== undefined ? tokens[bos] : tokenContent(cfg?.bos_token);
  const addBos = typeof cfg?.add_bos_token === "boolean"
    ? cfg.add_bos_token
    : postProcessorAddsBos(tok.post_processor, bosContent, bos);

  const kvs: GgufKv[] = [
    kv.str("tokenizer.ggml.model", "gpt2"),
    kv.str("tokenizer.ggml.pre", pre),
    kv.strArray("tokenizer.ggml.tokens", tokens),
    kv.i32Array("tokenizer.ggml.token_type", types),
    kv.strArray("tokenizer.ggml.merges", mergeStrings),
  ];
  const checkId = (what: string, id: number) => {
    if (!Number.isInteger(id) || id < 0 || id >= n) throw inputError(file, `${what} token id ${id} is outside the vocabulary (0..${n - 1})`);
  };
  if (bos !== undefined) {
    checkId("BOS", bos);
    kvs.push(kv.u32("tokenizer.ggml.bos_token_id", bos));
  }
  if (eos !== undefined) {
    checkId("EOS", eos);
    kvs.push(kv.u32("tokenizer.ggml.eos_token_id", eos));
  }
  if (eot !== undefined) kvs.push(kv.u32("tokenizer.ggml.eot_token_id", eot));
  kvs.push(kv.bool("tokenizer.ggml.add_bos_token", addBos));
  const tmpl = chatTemplate(cfg);
  if (tmpl !== undefined) kvs.push(kv.str("tokenizer.chat_template", tmpl));
  return { kvs, pre, nTokens: n, notes };
}

export interface CheckpointTokenizer extends Omit<TokenizerInput, "tokenizer" | "file"> {
  dir: string;
  /** tokenizer.json, parsed */
  tokenizerJson?: JsonObj;
  /** tokenizer.model (a SentencePiece ModelProto), as bytes */
  tokenizerModel?: Uint8Array;
}

/**
 * The tokenizer keys of a checkpoint folder: tokenizer.model first when there is one (its scores are
 * exact, as llama.cpp's converter prefers it), else tokenizer.json, SentencePiece-style or byte-level.
 */
export function checkpointTokenizerKeys(c: CheckpointTokenizer): TokenizerKeys {
  const cfg = c.tokenizerConfig;
  const cfgFile = `${c.dir}/tokenizer_config.json`;
  const spmKeys = (vocab: ReturnType<typeof parseSpmModel>, file: string, notes: string[]): TokenizerKeys => {
    const r = spmTokenizerKeys({
      vocab, file, vocabSize: c.vocabSize, target: c.target,
      addBos: typeof cfg?.add_bos_token === "boolean" ? cfg.add_bos_token : undefined,
      addEos: typeof cfg?.add_eos_token === "boolean" ? cfg.add_eos_token : undefined,
      bosTokenId: c.bosTokenId, eosTokenId: c.eosTokenId, chatTemplate: chatTemplate(cfg),
      added: addedTokensOfConfig(cfg, cfgFile), addedFile: cfgFile,
    });
    return { kvs: r.kvs, notes: [...notes, ...r.notes], pre: "default", nTokens: c.vocabSize };
  };
  if (c.tokenizerModel) {
    const file = `${c.dir}/tokenizer.model`;
    return spmKeys(parseSpmModel(c.tokenizerModel, file), file, []);
  }
  const file = `${c.dir}/tokenizer.json`;
  if (!c.tokenizerJson) {
    throw inputError(file, "missing: a GGUF needs the tokenizer (copy tokenizer.json or tokenizer.model, and tokenizer_config.json, of the base model into the folder)");
  }
  if (isSpmStyleJson(c.tokenizerJson)) {
    const notes: string[] = [];
    return spmKeys(spmVocabFromJson(c.tokenizerJson, file, notes), file, notes);
  }
  return tokenizerKeys({ ...c, tokenizer: c.tokenizerJson, file });
}
