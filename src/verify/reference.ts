// What verify compares an artifact against (docs/verify.md "Three levels of checking", "Finding the source"): by default the source
// checkpoint, found as --source DIR or the recorded repo@commit in the local Hub cache and checked
// against the recorded hashes; when there is none, the artifact's own float path, which checks the
// kernels but not the conversion (the result says so).
import { closeSync, existsSync, readSync, statSync } from "node:fs";
import { openInputSync } from "../util/files.js";
import { basename, join, resolve } from "node:path";
import { inputError } from "../util/errors.js";
import { readArtifactInfo, type ArtifactInfo } from "../runtime/artifact.js";
import { locateSource, type LocatedSource } from "./provenance.js";
import type { ReferenceKind, VerifyOptions } from "./verify.js";

/** Header of a llama.cpp `--kl-divergence-base` file. */
export interface LogitsFileHeader {
  nCtx: number;
  nVocab: number;
  nChunk: number;
}

export interface ReferencePlan {
  kind: ReferenceKind;
  /** the checkpoint folder, the other .gguf or logits file; the artifact itself for float-ref */
  path: string;
  description: string;
  source?: LocatedSource;
  logits: LogitsFileHeader | null;
}

export function readLogitsHeader(file: string): LogitsFileHeader | null {
  const fd = openInputSync(file);
  try {
    const b = Buffer.alloc(20);
    const n = readSync(fd, b, 0, 20, 0);
    if (n < 20 || b.toString("latin1", 0, 8) !== "_logits_") return null;
    return { nCtx: b.readUInt32LE(8), nVocab: b.readInt32LE(12), nChunk: b.readInt32LE(16) };
  } finally {
    closeSync(fd);
  }
}

export function fileMagic(file: string): string {
  const fd = openInputSync(file);
  try {
    const b = Buffer.alloc(8);
    const n = readSync(fd, b, 0, 8, 0);
    return b.toString("latin1", 0, n);
  } finally {
    closeSync(fd);
  }
}

function classify(ref: string): { kind: ReferenceKind; path: string } {
  if (ref === "float" || ref === "float-ref" || ref === "self") return { kind: "float-ref", path: "" };
  if (ref === "none") return { kind: "none", path: "" };
  const p = resolve(ref);
  if (!existsSync(p)) throw inputError(ref, "no such file or directory (--reference takes a checkpoint directory, a .gguf, a logits file, 'float' or 'none')");
  if (statSync(p).isDirectory()) {
    if (!existsSync(join(p, "config.json"))) throw inputError(ref, "not a Hugging Face checkpoint directory (no config.json)");
    return { kind: "checkpoint", path: p };
  }
  const magic = fileMagic(p);
  if (magic.startsWith("GGUF")) return { kind: "artifact", path: p };
  if (magic === "_logits_") return { kind: "logits", path: p };
  throw inputError(ref, "not a GGUF file, a llama.cpp logits file (_logits_) or a checkpoint directory");
}

function checkpointPlan(src: LocatedSource): ReferencePlan {
  const where = src.repo ? ` (${src.repo}${src.commit ? `@${src.commit.slice(0, 12)}` : ""}${src.how === "hub-cache" ? ", Hub cache" : ""})` : "";
  return {
    kind: "checkpoint",
    path: src.dir,
    description: `source checkpoint ${basename(src.dir)}${where}: its own weights fake-quantized / unpacked apart from the converter, float path (bitconv-rt --float-ref)`,
    source: src,
    logits: null,
  };
}

const FLOAT_REF = "float reference path of the same artifact (bitconv-rt --float-ref)";

/** The reference for these options; notes say when the conversion is not checked. */
export async function resolveReference(opts: VerifyOptions, info: ArtifactInfo, notes: string[]): Promise<ReferencePlan> {
  if (opts.reference === undefined) {
    const src = await locateSource(info.path, opts.source, opts.hub);
    if (src) return checkpointPlan(src);
    notes.push("the conversion was NOT checked (kernels only): no source checkpoint found; pass --source DIR, or pull the recorded repo@commit into the Hub cache");
    return { kind: "float-ref", path: info.path, description: FLOAT_REF, logits: null };
  }
  const c = classify(opts.reference);
  if (c.kind === "checkpoint") {
    const src = await locateSource(info.path, c.path, opts.hub);
    if (src && !src.hashed) notes.push("the artifact records no input hashes: the checkpoint could not be checked to be its source");
    return checkpointPlan(src!);
  }
  if (c.kind === "float-ref" || c.kind === "none") {
    notes.push("the conversion was NOT checked (kernels only): --reference " + opts.reference);
    return { kind: c.kind, path: c.kind === "none" ? "" : info.path, description: c.kind === "none" ? "none" : FLOAT_REF, logits: null };
  }
  if (c.kind === "artifact") {
    const other = await readArtifactInfo(c.path);
    if (other.vocabSize !== info.vocabSize) throw inputError(c.path, `has a vocabulary of ${other.vocabSize} tokens, the artifact ${info.vocabSize}: not the same model`);
    return { kind: "artifact", path: c.path, description: `${basename(c.path)}, its own integer path`, logits: null };
  }
  const logits = readLogitsHeader(c.path);
  if (logits && logits.nVocab !== info.vocabSize) throw inputError(c.path, `holds logits over ${logits.nVocab} tokens, the artifact has ${info.vocabSize}`);
  return { kind: "logits", path: c.path, description: `saved logits ${basename(c.path)} (llama.cpp --kl-divergence-base format)`, logits };
}
