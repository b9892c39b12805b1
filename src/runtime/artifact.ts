// The few facts verify / generate need from an artifact's metadata.
import type { GgufKvEntry } from "../tokenizer/encode.js";
import { inputError } from "../util/errors.js";
import { readGguf } from "../gguf/reader.js";

export interface ArtifactInfo {
  path: string;
  architecture: string;
  /** `{arch}.context_length`, 0 when absent */
  contextLength: number;
  /** `{arch}.vocab_size`, else the length of tokenizer.ggml.tokens, else token_embd's rows */
  vocabSize: number;
  /** `bitconv.layout` (null for files bitconv did not write) */
  layout: string | null;
  target: string | null;
  embedType: string | null;
  kv: Map<string, GgufKvEntry>;
}

function value(kv: Map<string, GgufKvEntry>, key: string): unknown {
  const e = kv.get(key);
  return e === undefined ? undefined : e.value;
}

function asNumber(v: unknown): number | undefined {
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return Number(v);
  return undefined;
}

function asString(v: unknown): string | null {
  return typeof v === "string" ? v : null;
}

function arrayLength(v: unknown): number | undefined {
  if (Array.isArray(v)) return v.length;
  if (ArrayBuffer.isView(v)) return (v as unknown as ArrayLike<unknown>).length;
  if (typeof v === "object" && v !== null) {
    for (const k of ["items", "values", "value"]) {
      const inner = (v as Record<string, unknown>)[k];
      if (inner !== undefined) return arrayLength(inner);
    }
  }
  return undefined;
}

export async function readArtifactInfo(path: string): Promise<ArtifactInfo> {
  const g = await readGguf(path);
  const kv = g.kv;
  const arch = asString(value(kv, "general.architecture"));
  if (!arch) throw inputError(path, "missing key general.architecture");
  const ctx = asNumber(value(kv, `${arch}.context_length`)) ?? 0;
  let vocab = asNumber(value(kv, `${arch}.vocab_size`)) ?? arrayLength(value(kv, "tokenizer.ggml.tokens"));
  if (vocab === undefined) {
    const emb = g.tensors.find((t) => t.name === "token_embd.weight");
    const dims = emb?.ne;
    if (dims && dims.length >= 2) vocab = Number(dims[1]);
  }
  if (vocab === undefined) throw inputError(path, "cannot tell the vocabulary size (no vocab_size, tokens or token_embd.weight)");
  return {
    path,
    architecture: arch,
    contextLength: ctx,
    vocabSize: vocab,
    layout: asString(value(kv, "bitconv.layout")),
    target: asString(value(kv, "bitconv.target")),
    embedType: asString(value(kv, "bitconv.embed_type")),
    kv,
  };
}
