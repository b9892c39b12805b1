// openCheckpoint: a Hugging Face model directory -> config, tensor headers and the tensor map (HF tensor -> GGUF tensor).
// Reads config.json, the safetensors headers (never the data) and the small tokenizer files.
import { bf16ToF32, f16ToF32 } from "../quant/float.js";
import { promises as fsp } from "node:fs";
import { basename, join, resolve, sep } from "node:path";
import { inputError } from "../util/errors.js";
import { describeFsError, readInputText } from "../util/files.js";
import { parseJsonObject } from "../util/json.js";
import { parseModelConfig, type ModelConfig } from "./config.js";
import { mapTensors, type MappedTensor } from "./tensorMap.js";
import { numel, readSafetensorsHeader, readTensorBytes, type StTensor } from "./safetensors.js";

export type { Family, ModelConfig } from "./config.js";
export { SUPPORTED_ARCHITECTURES } from "./config.js";
export type { MappedTensor } from "./tensorMap.js";
export type { StDtype, StHeader, StTensor } from "./safetensors.js";
export { readSafetensorsHeader, readTensorBytes, DTYPE_SIZE, numel } from "./safetensors.js";

export interface Checkpoint {
  dir: string;
  config: ModelConfig;
  rawConfig: Record<string, unknown>;
  /** every input file read: config.json, safetensors shards, index, tokenizer files */
  files: string[];
  tensors: Map<string, StTensor>;
  /** in GGUF order (docs/architecture.md) */
  /** every GGUF tensor the checkpoint becomes, in GGUF order, with its HF source */
  tensorMap: MappedTensor[];
  tokenizerJson?: string;
  /** tokenizer.model (SentencePiece), as bytes */
  tokenizerModel?: Uint8Array;
  tokenizerConfig?: string;
  generationConfig?: string;
}

const SINGLE_FILE = "model.safetensors";
const INDEX_FILE = "model.safetensors.index.json";

/** Something is at `p` (lstat: a dangling or looping link counts, so opening it reports what it is). */
async function exists(p: string): Promise<boolean> {
  try {
    await fsp.lstat(p);
    return true;
  } catch {
    return false;
  }
}

const readOptional = (p: string): Promise<string | undefined> => readInputText(p, true);

async function readJsonObject(file: string, what: string): Promise<Record<string, unknown>> {
  const text = await readOptional(file);
  if (text === undefined) throw inputError(file, `missing ${what}`);
  return parseJsonObject(file, text);
}

/** A readable model name: the repo name inside a Hub cache snapshot path, else the folder name. */
export function modelNameFromDir(dir: string): string {
  const parts = resolve(dir).split(sep);
  const snap = parts.lastIndexOf("snapshots");
  const repo = snap > 0 ? parts[snap - 1] : undefined;
  if (repo?.startsWith("models--")) return repo.split("--").slice(2).join("--") || repo;
  return basename(resolve(dir));
}

interface LoadedWeights { files: string[]; tensors: Map<string, StTensor>; missingIn: string }

function addTensors(into: Map<string, StTensor>, list: StTensor[]): void {
  for (const t of list) {
    const prev = into.get(t.name);
    if (prev) throw inputError(t.file, `tensor ${t.name} is also stored in ${prev.file}`);
    into.set(t.name, t);
  }
}

/** weight_map: tensor name -> shard file name (a plain name in the same folder). */
function parseWeightMap(indexFile: string, index: Record<string, unknown>): Map<string, string> {
  const wm = index.weight_map;
  if (wm === null || typeof wm !== "object" || Array.isArray(wm)) throw inputError(indexFile, "no weight_map object");
  const out = new Map<string, string>();
  for (const [name, shard] of Object.entries(wm as Record<string, unknown>)) {
    if (typeof shard !== "string" || shard === "" || shard.includes("/") || shard.includes("\\") || shard === "..") {
      throw inputError(indexFile, `weight_map entry for ${name} is ${JSON.stringify(shard)}, not a shard file name`);
    }
    out.set(name, shard);
  }
  if (out.size === 0) throw inputError(indexFile, "weight_map is empty");
  return out;
}

async function loadSharded(dir: string, indexFile: string): Promise<LoadedWeights> {
  const weightMap = parseWeightMap(indexFile, await readJsonObject(indexFile, "shard index"));
  const shardNames = [...new Set(weightMap.values())].sort();
  const files = [indexFile];
  const tensors = new Map<string, StTensor>();
  for (const shard of shardNames) {
    const path = join(dir, shard);
    if (!(await exists(path))) throw inputError(indexFile, `weight_map refers to shard ${shard}, which does not exist`);
    const header = await readSafetensorsHeader(path);
    files.push(path);
    addTensors(tensors, header.tensors);
  }
  for (const [name, shard] of weightMap) {
    const t = tensors.get(name);
    if (!t) throw inputError(indexFile, `weight_map puts tensor ${name} in ${shard}, but no shard listed in weight_map contains it`);
    if (t.file !== join(dir, shard)) throw inputError(indexFile, `weight_map puts tensor ${name} in ${shard}, but it is in ${basename(t.file)}`);
  }
  for (const t of tensors.values()) {
    if (!weightMap.has(t.name)) throw inputError(indexFile, `tensor ${t.name} in ${basename(t.file)} is not listed in weight_map`);
  }
  return { files, tensors, missingIn: indexFile };
}

async function loadWeights(dir: string): Promise<LoadedWeights> {
  const indexFile = join(dir, INDEX_FILE);
  if (await exists(indexFile)) return loadSharded(dir, indexFile);
  const single = join(dir, SINGLE_FILE);
  if (!(await exists(single))) {
    const bin = (await exists(join(dir, "pytorch_model.bin"))) ? " (only pytorch_model.bin found: PyTorch pickles are not read; use a safetensors revision)" : "";
    throw inputError(dir, `no ${SINGLE_FILE} or ${INDEX_FILE}${bin}`);
  }
  const header = await readSafetensorsHeader(single);
  const tensors = new Map<string, StTensor>();
  addTensors(tensors, header.tensors);
  return { files: [single], tensors, missingIn: single };
}

/**
 * A checkpoint whose config.json omits tie_word_embeddings and has no lm_head is tied (the weights
 * decide); one that says false and lacks lm_head is refused when the tensor map looks for it.
 */
function resolveTied(config: ModelConfig, tiedExplicit: boolean, tensors: Map<string, StTensor>): ModelConfig {
  if (config.tied || tiedExplicit || tensors.has("lm_head.weight")) return config;
  return { ...config, tied: true };
}

async function checkFolder(dir: string): Promise<void> {
  let isDir = false;
  try {
    isDir = (await fsp.stat(dir)).isDirectory();
  } catch (e) {
    throw inputError(dir, `cannot open the model folder: ${describeFsError(e)}`);
  }
  if (!isDir) throw inputError(dir, "not a folder (expected a Hugging Face model folder with config.json)");
}

export async function openCheckpoint(dir: string): Promise<Checkpoint> {
  await checkFolder(dir);
  const configFile = join(dir, "config.json");
  const rawConfig = await readJsonObject(configFile, "config.json (not a Hugging Face model folder?)");
  const parsed = parseModelConfig(configFile, rawConfig, modelNameFromDir(dir));
  const weights = await loadWeights(dir);
  const config = resolveTied(parsed.config, parsed.extras.tiedExplicit, weights.tensors);
  const tensorMap = mapTensors(config, parsed.extras, weights.tensors, weights.missingIn, configFile);
  const files = [configFile, ...weights.files];
  const ckpt: Checkpoint = { dir, config, rawConfig, files, tensors: weights.tensors, tensorMap };
  for (const [name, key] of [["tokenizer.json", "tokenizerJson"], ["tokenizer_config.json", "tokenizerConfig"], ["generation_config.json", "generationConfig"]] as const) {
    const text = await readOptional(join(dir, name));
    if (text === undefined) continue;
    ckpt[key] = text;
    files.push(join(dir, name));
  }
  const spm = join(dir, "tokenizer.model");
  if (await exists(spm)) {
    try {
      ckpt.tokenizerModel = await fsp.readFile(spm);
    } catch (e) {
      throw inputError(spm, `cannot read: ${(e as Error).message}`);
    }
    files.push(spm);
  }
  return ckpt;
}

/** One float element (BF16, F16 or F32, little-endian) as a number; exact for all three. */
export function decodeFloatElement(dtype: "BF16" | "F16" | "F32", b: Uint8Array): number {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (dtype === "F32") return dv.getFloat32(0, true);
  const h = dv.getUint16(0, true);
  return dtype === "BF16" ? bf16ToF32(h) : f16ToF32(h);
}

/**
 * The value of a packed projection's weight_scale (bf16/f16 -> f32 exactly). Refuses a scale that is
 * not a finite positive number: both conventions (multiply, divide) need one.
 */
export async function readWeightScale(t: StTensor): Promise<number> {
  if (numel(t.shape) !== 1 || (t.dtype !== "BF16" && t.dtype !== "F16" && t.dtype !== "F32")) {
    throw inputError(t.file, `tensor ${t.name} (${t.dtype} [${t.shape.join(", ")}]) is not a single float weight_scale`);
  }
  const v = decodeFloatElement(t.dtype, await readTensorBytes(t));
  if (!Number.isFinite(v) || v <= 0) throw inputError(t.file, `tensor ${t.name} holds ${v}, not a finite positive scale`);
  return v;
}
