// Text generation: tokenize the prompt in TypeScript, let the C runtime continue it, decode in TypeScript.
import { existsSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { BitconvError, inputError } from "../util/errors.js";
import { loadTokenizer } from "../tokenizer/encode.js";
import { makeTempDir, runRuntime, writeTokenFile } from "./runtime.js";
import { readArtifactInfo } from "./artifact.js";

export interface GenerateOptions {
  artifact: string;
  prompt: string;
  /** tokens to generate (default 64) */
  n?: number;
  /** sampling temperature; 0 = greedy (default) */
  temp?: number;
  /** nucleus sampling threshold (default 1) */
  topP?: number;
  seed?: number;
  threads?: number;
  /** tokenizer.json or its directory; default: rebuilt from the artifact */
  tokenizer?: string;
  /** called once the prompt is tokenized and checked, just before the runtime starts */
  onStart?: (promptIds: Int32Array) => void;
  /** called with each piece of generated text as it is decoded */
  onText?: (piece: string) => void;
  signal?: AbortSignal;
}

export interface GenerateResult {
  prompt: string;
  prompt_ids: number[];
  ids: number[];
  text: string;
  /** true when generation stopped early at an end-of-sequence / end-of-turn token (not printed) */
  stopped_at_eos: boolean;
}

/** Parses the ids the runtime prints with --ids (whitespace / comma separated, or JSON events). */
function parseIds(text: string): number[] {
  const out: number[] = [];
  for (const m of text.matchAll(/-?\d+/g)) out.push(Number(m[0]));
  return out;
}

export async function generate(opts: GenerateOptions): Promise<GenerateResult> {
  const artifact = resolve(opts.artifact);
  if (!existsSync(artifact) || statSync(artifact).isDirectory()) throw inputError(opts.artifact, "no such file");
  const n = opts.n ?? 64;
  if (!Number.isInteger(n) || n < 0) throw new BitconvError(`-n must be a non-negative integer (got ${opts.n})`, 2);
  if (opts.temp !== undefined && !(opts.temp >= 0)) throw new BitconvError(`--temp must be >= 0 (got ${opts.temp})`, 2);
  if (opts.topP !== undefined && !(opts.topP > 0 && opts.topP <= 1)) throw new BitconvError(`--top-p must be in (0, 1] (got ${opts.topP})`, 2);
  if (opts.seed !== undefined && !Number.isInteger(opts.seed)) throw new BitconvError(`--seed must be an integer (got ${opts.seed})`, 2);
  if (opts.threads !== undefined && !(Number.isInteger(opts.threads) && opts.threads >= 1)) {
    throw new BitconvError(`--threads must be a positive integer (got ${opts.threads})`, 2);
  }
  const info = await readArtifactInfo(artifact);
  const tok = opts.tokenizer ? await loadTokenizer({ tokenizerJson: opts.tokenizer }) : await loadTokenizer({ gguf: artifact });
  const promptIds = tok.encode(opts.prompt);
  if (promptIds.length === 0) throw new BitconvError("the prompt is empty and the tokenizer adds no BOS: give a --prompt", 2);
  if (info.contextLength > 0 && promptIds.length + n > info.contextLength) {
    throw new BitconvError(
      `the prompt (${promptIds.length} tokens) plus -n ${n} exceeds the model's context length ${info.contextLength}`,
      2,
    );
  }
  const tmp = makeTempDir("bitconv-gen-");
  try {
    const tokensFile = join(tmp.dir, "prompt.bin");
    writeTokenFile(tokensFile, promptIds);
    const args = ["generate", "-m", artifact, "--tokens", tokensFile, "-n", String(n), "--ids"];
    if (opts.temp !== undefined) args.push("--temp", String(opts.temp));
    if (opts.topP !== undefined) args.push("--top-p", String(opts.topP));
    if (opts.seed !== undefined) args.push("--seed", String(opts.seed));
    if (opts.threads !== undefined) args.push("-t", String(opts.threads));
    // Stream: decode the growing id list and emit the new suffix of the text (a multi-byte character
    // split over tokens shows up once complete).
    const ids: number[] = [];
    let emitted = "";
    let carry = "";
    const push = (chunk: string) => {
      carry += chunk;
      const cut = Math.max(carry.lastIndexOf(" "), carry.lastIndexOf("\n"), carry.lastIndexOf(","), carry.lastIndexOf("\t"));
      if (cut < 0) return;
      const complete = carry.slice(0, cut + 1);
      carry = carry.slice(cut + 1);
      ids.push(...parseIds(complete));
      const text = tok.decode(ids);
      if (!text.endsWith("\uFFFD") && text.startsWith(emitted)) {
        const piece = text.slice(emitted.length);
        emitted = text;
        if (piece) opts.onText?.(piece);
      }
    };
    opts.onStart?.(promptIds);
    const r = await runRuntime(args, { onText: push, signal: opts.signal, okCodes: [130] });
    ids.push(...parseIds(carry));
    carry = "";
    // with --ids the runtime may also emit JSON events; take ids from them when it does
    const evIds = r.events.flatMap((e) => (Array.isArray(e.ids) ? (e.ids as number[]) : typeof e.id === "number" ? [e.id] : []));
    const all = evIds.length > 0 ? evIds : ids;
    const text = tok.decode(all);
    if (text.startsWith(emitted) && text.length > emitted.length) opts.onText?.(text.slice(emitted.length));
    return {
      prompt: opts.prompt,
      prompt_ids: Array.from(promptIds),
      ids: all,
      text,
      stopped_at_eos: !r.interrupted && all.length < n,
    };
  } finally {
    tmp.dispose();
  }
}

