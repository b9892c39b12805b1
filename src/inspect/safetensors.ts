// inspect for Hugging Face checkpoints: a model folder, one .safetensors file, or (headers only) a Hub repo.
import { parseJsonObject } from "../util/json.js";
import { promises as fsp } from "node:fs";
import { dirname, join } from "node:path";
import { readSafetensorsHeader, readTensorBytes, type StTensor } from "../checkpoint/safetensors.js";
import { detectFamily } from "../checkpoint/config.js";
import { detectPre } from "../tokenizer/gguf.js";
import { BitconvError, inputError } from "../util/errors.js";
import { readInputText } from "../util/files.js";
import { decodeBlock, type BlockTensor } from "./blocks.js";
import { bpw, computeTotals, jsonable, layerOf, statsRow, type Category } from "./common.js";
import { BOUNDARY_EPS, masterStats, toF32 } from "./stats.js";
import { countHfPacked, type Counts } from "../layouts/index.js";
import type { InspectOptions, InspectResult, TensorRow, TensorStats } from "./types.js";

/** What a checkpoint source provides: tensor headers, and the small JSON files when present. */
export interface CheckpointListing {
  /** shown as `source` */
  source: string;
  kind: "safetensors" | "hub";
  files: string[];
  tensors: StTensor[];
  /** safetensors __metadata__ of every file, merged */
  stMetadata: Record<string, string>;
  config?: Record<string, unknown>;
  configFile?: string;
  tokenizerJson?: string;
  tokenizerConfig?: string;
  /** false for remote headers: no tensor data can be read */
  readable: boolean;
  extra?: Record<string, unknown>;
}

const PROJ_RE = /\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)\.weight$/;
const FLOAT = new Set(["F32", "F16", "BF16"]);

const readText = (p: string): Promise<string | undefined> => readInputText(p, true);


/** A local folder or .safetensors file -> listing (headers only). */
export async function listLocalCheckpoint(path: string, isDir: boolean): Promise<CheckpointListing> {
  const dir = isDir ? path : dirname(path);
  let files: string[];
  if (!isDir) files = [path];
  else {
    const index = join(dir, "model.safetensors.index.json");
    const indexText = await readText(index);
    if (indexText !== undefined) {
      const wm = parseJsonObject(index, indexText).weight_map;
      if (wm === null || typeof wm !== "object" || Array.isArray(wm)) throw inputError(index, "no weight_map object");
      const shards = [...new Set(Object.values(wm as Record<string, unknown>))];
      if (!shards.every((s) => typeof s === "string" && s.length > 0 && !s.includes("/") && !s.includes("\\") && s !== "..")) {
        throw inputError(index, "weight_map holds an entry that is not a shard file name");
      }
      files = (shards as string[]).sort().map((s) => join(dir, s));
    } else {
      const names = (await fsp.readdir(dir)).filter((n) => n.endsWith(".safetensors")).sort();
      files = names.map((n) => join(dir, n));
    }
  }
  const configFile = join(dir, "config.json");
  const configText = await readText(configFile);
  if (isDir && files.length === 0) {
    throw inputError(path, configText === undefined
      ? "no config.json and no .safetensors files: not a model folder"
      : "config.json but no .safetensors files (PyTorch .bin checkpoints are not read)");
  }
  const tensors: StTensor[] = [];
  const stMetadata: Record<string, string> = {};
  const seen = new Set<string>();
  for (const file of files) {
    const h = await readSafetensorsHeader(file);
    for (const t of h.tensors) {
      if (seen.has(t.name)) throw inputError(file, `tensor ${t.name} is also stored in another shard`);
      seen.add(t.name);
      tensors.push(t);
    }
    Object.assign(stMetadata, h.metadata);
  }
  const listing: CheckpointListing = { source: path, kind: "safetensors", files, tensors, stMetadata, readable: true };
  if (configText !== undefined) {
    listing.config = parseJsonObject(configFile, configText);
    listing.configFile = configFile;
  }
  const tj = await readText(join(dir, "tokenizer.json"));
  if (tj !== undefined) listing.tokenizerJson = tj;
  const tc = await readText(join(dir, "tokenizer_config.json"));
  if (tc !== undefined) listing.tokenizerConfig = tc;
  return listing;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function tokenizerInfo(l: CheckpointListing, warnings: string[]): InspectResult["tokenizer"] {
  if (l.tokenizerJson === undefined && l.tokenizerConfig === undefined) return null;
  let tok: Record<string, unknown> | undefined;
  let tcfg: Record<string, unknown> | undefined;
  try {
    if (l.tokenizerJson !== undefined) tok = JSON.parse(l.tokenizerJson);
    if (l.tokenizerConfig !== undefined) tcfg = JSON.parse(l.tokenizerConfig);
  } catch (e) {
    warnings.push(`tokenizer files are not valid JSON: ${(e as Error).message}`);
  }
  const model = isObj(tok?.model) ? tok!.model : undefined;
  let vocab: number | null = null;
  if (model && isObj(model.vocab)) {
    const ids = new Set(Object.values(model.vocab as Record<string, unknown>));
    if (Array.isArray(tok!.added_tokens)) for (const a of tok!.added_tokens) if (isObj(a)) ids.add(a.id);
    vocab = ids.size;
  } else if (model && Array.isArray(model.vocab)) vocab = model.vocab.length;
  let pre: string | null = null;
  try {
    pre = tok ? detectPre(tok.pre_tokenizer) : null;
  } catch {
    pre = null;
  }
  const cfg = l.config ?? {};
  const firstId = (v: unknown): number | null => (typeof v === "number" ? v : Array.isArray(v) && typeof v[0] === "number" ? v[0] : null);
  return {
    model: model && typeof model.type === "string" ? model.type : null,
    pre,
    vocab_size: vocab,
    bos_token_id: firstId(cfg.bos_token_id),
    eos_token_id: firstId(cfg.eos_token_id),
    merges: model && Array.isArray(model.merges) ? model.merges.length : null,
    chat_template: tcfg !== undefined && tcfg.chat_template !== undefined && tcfg.chat_template !== null,
  };
}

const bf16 = (lo: number, hi: number): number => new Float32Array(new Uint32Array([((hi << 8) | lo) << 16]).buffer)[0];

async function readWeightScale(t: StTensor): Promise<number> {
  const b = await readTensorBytes(t);
  if (t.dtype === "BF16") return bf16(b[0], b[1]);
  return toF32(b, t.dtype)[0];
}

/** What inspect knows about a checkpoint listing once its config and tensor headers are read. */
interface CheckpointView {
  l: CheckpointListing;
  linearClass: string;
  byName: Map<string, StTensor>;
  /** U8 ternary projections (HF packed) and float master projections */
  packed: Set<string>;
  masters: Set<string>;
  weightsOf(t: StTensor): number;
}

function identify(l: CheckpointListing, warnings: string[]): { family: string | null; architecture: string | null } {
  const cfg = l.config;
  if (!cfg) {
    warnings.push("no config.json beside the weights: architecture and hyperparameters unknown");
    return { family: null, architecture: null };
  }
  const archs = cfg.architectures;
  const architecture = Array.isArray(archs) && typeof archs[0] === "string" ? archs[0] : typeof cfg.model_type === "string" ? cfg.model_type : null;
  try {
    return { family: detectFamily(l.configFile ?? "config.json", cfg).family, architecture };
  } catch (e) {
    warnings.push(`not a supported ternary family: ${(e as Error).message}`);
    return { family: null, architecture };
  }
}

function viewOf(l: CheckpointListing): CheckpointView {
  const qc = l.config && isObj(l.config.quantization_config) ? l.config.quantization_config : undefined;
  const linearClass = qc && typeof qc.linear_class === "string" ? qc.linear_class : "bitlinear";
  const byName = new Map(l.tensors.map((t) => [t.name, t]));
  const packed = new Set<string>();
  const masters = new Set<string>();
  for (const t of l.tensors) {
    if (!t.name.endsWith(".weight") || t.shape.length !== 2) continue;
    if (t.dtype === "U8" && (byName.has(t.name.slice(0, -".weight".length) + ".weight_scale") || PROJ_RE.test(t.name))) packed.add(t.name);
    else if (FLOAT.has(t.dtype) && PROJ_RE.test(t.name)) masters.add(t.name);
  }
  const weightsOf = (t: StTensor): number => t.shape.reduce((a, b) => a * b, 1) * (packed.has(t.name) ? 4 : 1);
  return { l, linearClass, byName, packed, masters, weightsOf };
}

function tensorRows(v: CheckpointView): TensorRow[] {
  return v.l.tensors.map((t) => {
    const layout = v.packed.has(t.name) ? "hf-packed" : v.masters.has(t.name) ? "master" : null;
    const row: TensorRow = { name: t.name, shape: t.shape, type: t.dtype, layout, bytes: t.nbytes, bits_per_weight: bpw(t.nbytes, v.weightsOf(t)), layer: layerOf(t.name) };
    if (layout) {
      row.M = layout === "hf-packed" ? 4 * t.shape[0] : t.shape[0];
      row.K = t.shape[1];
    }
    return row;
  });
}

const categoryOf = (r: TensorRow): Category => {
  if (r.layout) return "ternary";
  if (/(^|\.)(embed_tokens|wte|lm_head)\./.test(r.name)) return "embedding";
  if (/norm/.test(r.name)) return "norm";
  if (/scale$/.test(r.name)) return "scale";
  return "other";
};

/** The per-tensor scale w of a packed projection, from its weight_scale and the linear class. */
async function packedScaleOf(v: CheckpointView, t: StTensor): Promise<{ value: number | null; source: string }> {
  const ws = v.byName.get(t.name.slice(0, -".weight".length) + ".weight_scale");
  if (!ws) return { value: null, source: "no weight_scale tensor" };
  const x = await readWeightScale(ws);
  return v.linearClass === "autobitlinear"
    ? { value: x, source: `weight_scale ${x} (autobitlinear: W = T * weight_scale)` }
    : { value: Math.fround(1 / x), source: `1 / weight_scale ${x} (bitlinear: W = T / weight_scale)` };
}

async function tensorStats(v: CheckpointView, t: StTensor): Promise<TensorStats> {
  const tensor = { name: t.name, layout: v.packed.has(t.name) ? "hf-packed" : "master", weights: v.weightsOf(t) };
  const finish = (c: Counts, scale: number | null, source: string, extra: Partial<TensorStats> = {}): TensorStats =>
    statsRow(tensor, c, scale, source, extra);
  const bytes = await readTensorBytes(t);
  if (v.packed.has(t.name)) {
    const sc = await packedScaleOf(v, t);
    return finish(countHfPacked(bytes), sc.value, sc.source);
  }
  const m = masterStats(toF32(bytes, t.dtype));
  return finish(m.counts, m.w, "absmean: w = f32(1/s), s = f32(1 / max(mean|W|, 1e-5))", {
    master: { mean_abs: m.meanAbs, s: m.s, boundary_share: m.boundaryShare, boundary_eps: BOUNDARY_EPS },
  });
}

async function allStats(v: CheckpointView, selected: StTensor | undefined, opts: InspectOptions): Promise<TensorStats[]> {
  const targets = v.l.tensors.filter((t) => (v.packed.has(t.name) || v.masters.has(t.name)) && (!selected || t === selected));
  const stats: TensorStats[] = [];
  let i = 0;
  for (const t of targets) {
    opts.onProgress?.(i++, targets.length, t.name);
    stats.push(await tensorStats(v, t));
  }
  return stats;
}

/** The block to show (--block N of --tensor or of the first packed projection), or undefined. */
async function blockOf(v: CheckpointView, selected: StTensor | undefined, opts: InspectOptions): Promise<InspectResult["block"]> {
  const { l } = v;
  const t = selected ?? l.tensors.find((x) => v.packed.has(x.name));
  if (t && !v.packed.has(t.name)) {
    if (opts.block === undefined) return undefined;
    throw inputError(l.source, `tensor "${t.name}" is ${t.dtype}${v.masters.has(t.name) ? " master weights (ternarized only at conversion)" : ""}, not packed ternary: it has no blocks`);
  }
  if (t && l.readable) {
    const bt: BlockTensor = { name: t.name, layout: "hf-packed", M: 4 * t.shape[0], K: t.shape[1], nbytes: t.nbytes, scale: await packedScaleOf(v, t) };
    try {
      return await decodeBlock(bt, (s, n) => readTensorBytes(t, s, n), opts.block ?? 0);
    } catch (e) {
      if (e instanceof BitconvError && !e.message.startsWith(`${l.source}: `) && !e.message.startsWith(t.file)) throw inputError(l.source, e.message);
      throw e;
    }
  }
  if (opts.block !== undefined) {
    throw inputError(l.source, t ? "a Hub repo is inspected from its headers only: no tensor data to decode" : "no packed ternary tensor to decode a block of");
  }
  return undefined;
}

function metadataOf(l: CheckpointListing): Pick<InspectResult, "hyperparameters" | "metadata" | "provenance"> {
  const cfg = l.config;
  const hyperparameters: Record<string, unknown> = {};
  if (cfg) for (const [k, v] of Object.entries(cfg)) if (k !== "architectures") hyperparameters[k] = jsonable(v);
  const metadata: Record<string, unknown> = {};
  if (cfg) metadata["config.json"] = jsonable(cfg);
  if (Object.keys(l.stMetadata).length) metadata.__metadata__ = { ...l.stMetadata };
  const provenance = Object.keys(l.stMetadata).length ? { safetensors_metadata: { ...l.stMetadata }, ...(l.extra ?? {}) } : l.extra ?? null;
  return { hyperparameters, metadata, provenance };
}

export async function inspectCheckpoint(l: CheckpointListing, opts: InspectOptions): Promise<InspectResult> {
  const warnings: string[] = [];
  const { family, architecture } = identify(l, warnings);
  const v = viewOf(l);
  const form = v.packed.size ? `packed (${v.linearClass})` : v.masters.size ? "master weights" : null;
  const rows = tensorRows(v);
  const totals = computeTotals(rows, categoryOf, (r) => v.weightsOf(v.byName.get(r.name)!));
  const { hyperparameters, metadata, provenance } = metadataOf(l);
  let selected: StTensor | undefined;
  if (opts.tensor !== undefined) {
    selected = v.byName.get(opts.tensor);
    if (!selected) throw inputError(l.source, `no tensor "${opts.tensor}" (${l.tensors.length} tensors, e.g. ${[...v.packed, ...v.masters].slice(0, 3).join(", ") || l.tensors[0]?.name})`);
  }
  const result: InspectResult = {
    source: l.source,
    kind: l.kind,
    format: { files: l.files, ...(l.extra ?? {}) },
    architecture,
    family,
    form,
    hyperparameters,
    tokenizer: tokenizerInfo(l, warnings),
    metadata,
    tensors: selected ? rows.filter((r) => r.name === selected!.name) : rows,
    totals,
    provenance,
    warnings,
  };
  const wantStats = opts.stats !== false;
  if (wantStats && !l.readable) {
    if (opts.stats === true) warnings.push("statistics need the tensor data; a Hub repo is inspected from its headers only");
  } else if (wantStats) {
    result.stats = await allStats(v, selected, opts);
  }
  if (opts.block !== undefined || opts.html !== undefined) {
    const block = await blockOf(v, selected, opts);
    if (block) result.block = block;
  }
  return result;
}

