// Added tokens over a SentencePiece vocabulary, as llama.cpp's converter applies them
// (convert_hf_to_gguf.py `_create_vocab_sentencepiece`; formats/tokenizer-spm.md "Added tokens"):
// tokenizer_config.json's added_tokens_decoder and tokenizer.json's added_tokens name ids whose text
// and type they set: CONTROL when marked special or shaped like a control token (<|...|>, <pad>, ...),
// else USER_DEFINED with ▁ written as a space; either way the score becomes -1000. The unk piece keeps
// type UNKNOWN (the converter would make a special <unk> CONTROL; the encoders need it UNKNOWN).
import { inputError } from "../util/errors.js";
import { PieceType } from "./spmModel.js";

export interface AddedToken {
  id: number;
  content: string;
  special: boolean;
}

type JsonObj = Record<string, unknown>;
const isObj = (v: unknown): v is JsonObj => typeof v === "object" && v !== null && !Array.isArray(v);

/** convert_hf_to_gguf.py's does_token_look_special: tokens some models forget to mark special. */
export function looksSpecial(t: string): boolean {
  return (
    ["<pad>", "<mask>", "<2mass>", "[@BOS@]"].includes(t) ||
    (t.startsWith("<|") && t.endsWith("|>")) ||
    (t.startsWith("<\uFF5C") && t.endsWith("\uFF5C>")) ||
    (t.startsWith("<unused") && t.endsWith(">"))
  );
}

function entry(id: unknown, v: unknown, file: string, where: string): AddedToken {
  const n = typeof id === "string" && /^\d+$/.test(id) ? Number(id) : id;
  if (!Number.isSafeInteger(n) || (n as number) < 0 || !isObj(v) || typeof v.content !== "string" || v.content.length === 0) {
    throw inputError(file, `${where}: entry ${JSON.stringify(id)} has no valid id and content`);
  }
  return { id: n as number, content: v.content, special: v.special === true };
}

/** tokenizer_config.json's added_tokens_decoder, {"<id>": {content, special}}. */
export function addedTokensOfConfig(config: unknown, file: string): AddedToken[] {
  const d = isObj(config) ? config.added_tokens_decoder : undefined;
  if (d === undefined) return [];
  if (!isObj(d)) throw inputError(file, "added_tokens_decoder is not an object");
  return Object.entries(d).map(([id, v]) => entry(id, v, file, "added_tokens_decoder"));
}

/** tokenizer.json's added_tokens, [{id, content, special}]. */
export function addedTokensOfJson(tok: unknown, file: string): AddedToken[] {
  const a = isObj(tok) ? tok.added_tokens : undefined;
  if (a === undefined || a === null) return [];
  if (!Array.isArray(a)) throw inputError(file, "added_tokens is not a list");
  return a.map((v, i) => entry(isObj(v) ? v.id : i, v, file, "added_tokens"));
}

export interface PieceTable {
  pieces: string[];
  scores: number[];
  types: number[];
}

/** Applies the added tokens in place; ids past the table are skipped, as the converter does, with a note. */
export function applyAddedTokens(t: PieceTable, added: readonly AddedToken[], unkId: number, notes: string[]): void {
  const skipped: number[] = [];
  for (const a of added) {
    if (a.id >= t.pieces.length) {
      skipped.push(a.id);
      continue;
    }
    if (a.id === unkId) continue;
    const control = a.special || looksSpecial(a.content);
    t.pieces[a.id] = control ? a.content : a.content.replace(/\u2581/g, " ");
    t.types[a.id] = control ? PieceType.CONTROL : PieceType.USER_DEFINED;
    t.scores[a.id] = -1000;
  }
  if (skipped.length > 0) notes.push(`tokenizer: added tokens ${skipped.join(", ")} are past the vocabulary (${t.pieces.length}); ignored, as llama.cpp's converter does`);
}
