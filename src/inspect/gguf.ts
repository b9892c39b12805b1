// inspect for GGUF files: ours, llama.cpp's, bitnet.cpp's.
import { ggufTypeInfo, readGguf, readTensorData, type GgufFile, type GgufTensor } from "../gguf/reader.js";
import { GgufValueType } from "../gguf/types.js";
import { emptyCounts, LAYOUTS, tl1Params, tl2Params, type Counts } from "../layouts/index.js";
import { BitconvError, inputError } from "../util/errors.js";
import { decodeBlock, type BlockTensor, type PackedLayout } from "./blocks.js";
import { bpw, computeTotals, jsonable, layerOf, shortestF32, statsRow, type Category } from "./common.js";
import type { InspectOptions, InspectResult, TensorRow, TensorStats } from "./types.js";

/** The tensor's ternary layout under the file's type ids (the reader's type table), or null. */
function ternaryLayout(f: GgufFile, t: GgufTensor): PackedLayout | null {
  return ggufTypeInfo(t.type, f.typeContext)?.layout ?? null;
}

const str = (f: GgufFile, key: string): string | null => {
  const e = f.kv.get(key);
  return e && typeof e.value === "string" ? e.value : null;
};
const num = (f: GgufFile, key: string): number | null => {
  const e = f.kv.get(key);
  return e && typeof e.value === "number" ? e.value : null;
};

function tlParamsFromFile(f: GgufFile): Map<string, { BM: number; BK: number; bm: number }> {
  const out = new Map<string, { BM: number; BK: number; bm: number }>();
  const v = f.kv.get("bitconv.tl_params")?.value;
  if (Array.isArray(v) && v.length % 5 === 0) {
    for (let i = 0; i < v.length; i += 5) {
      const [M, K, BM, BK, bm] = v.slice(i, i + 5).map(Number);
      out.set(`${M}x${K}`, { BM, BK, bm });
    }
  }
  return out;
}

interface Ctx {
  f: GgufFile;
  tl: Map<string, { BM: number; BK: number; bm: number }>;
  /** weight name -> its `.scale` tensor */
  scaleTensors: Map<string, GgufTensor>;
}

function blockTensorOf(ctx: Ctx, t: GgufTensor, layout: PackedLayout): BlockTensor {
  const K = t.ne[0] ?? 1;
  const M = K > 0 ? t.nelements / K : 0;
  const bt: BlockTensor = { name: t.name, layout, M, K, nbytes: t.nbytes };
  if (layout === "tl1" || layout === "tl2") {
    const rec = ctx.tl.get(`${M}x${K}`);
    if (rec) {
      bt.params = rec;
      bt.params_source = "bitconv.tl_params";
    } else {
      const p = layout === "tl1" ? tl1Params(M, K) : tl2Params(M, K);
      if (p) {
        bt.params = p;
        bt.params_source = "not recorded in the file: assumed bitnet.cpp's preset for this shape, else bitconv's best fit (formats/" + layout + ".md)";
      }
    }
  }
  return bt;
}

async function tensorScaleValue(ctx: Ctx, t: GgufTensor): Promise<{ value: number | null; source: string } | undefined> {
  const st = ctx.scaleTensors.get(t.name);
  if (!st) return undefined;
  if (st.type !== 0 || st.nelements !== 1) return { value: null, source: `${st.name} (${st.typeName} x ${st.nelements}, not one F32)` };
  const b = await readTensorData(ctx.f, st);
  return { value: new DataView(b.buffer, b.byteOffset, 4).getFloat32(0, true), source: `${st.name} (F32)` };
}

async function statsOf(ctx: Ctx, t: GgufTensor, layout: PackedLayout): Promise<TensorStats> {
  const bt = blockTensorOf(ctx, t, layout);
  const { M, K } = bt;
  const n = M * K;
  const tensor = { name: t.name, layout, weights: n };
  const finish = (c: Counts, scale: number | null, source: string, extra: Partial<TensorStats> = {}): TensorStats =>
    statsRow(tensor, c, scale, source, extra);
  const bytes = await readTensorData(ctx.f, t);
  try {
    if (layout === "hf-packed") throw new BitconvError(`no statistics for ${layout}`);
    if (layout === "tl2" && !bt.params) throw new BitconvError(`no TL2 block parameters fit ${M} x ${K}`);
    const { counts, tail, blockD: d } = LAYOUTS[layout].count(bytes, M, K, bt.params);
    if (tail) {
      const assumed = layout === "tl2" && bt.params_source !== "bitconv.tl_params" ? " (block parameters assumed)" : "";
      return finish(counts, tail.scale, `f32 tail at byte ${tail.at}${assumed}`);
    }
    if (!d) throw new BitconvError(`no scale for ${layout}`);
    const ts = await tensorScaleValue(ctx, t);
    const scale = !d.uniform ? null : ts ? (ts.value === null ? null : Math.fround(d.d * ts.value)) : d.d;
    const source = !d.uniform
      ? `per-block d varies (${d.min} .. ${d.max}): no single scale`
      : ts
        ? `block d ${d.d} x ${ts.source}`
        : `block d ${d.d} (no .scale tensor)`;
    return finish(counts, scale, source, { block_d: { min: d.min, max: d.max, uniform: d.uniform } });
  } catch (e) {
    return { ...finish(emptyCounts(), null, "unreadable"), error: (e as Error).message };
  }
}

/** weight name -> its `.scale` tensor */
function scaleTensorsOf(f: GgufFile): Map<string, GgufTensor> {
  const out = new Map<string, GgufTensor>();
  const byName = new Map(f.tensors.map((t) => [t.name, t]));
  for (const t of f.tensors) {
    if (!t.name.endsWith(".scale")) continue;
    const w = byName.get(t.name.slice(0, -".scale".length) + ".weight");
    if (w) out.set(w.name, t);
  }
  return out;
}

/** Every key (FLOAT32 ones as the decimal they were written from), the arch's hyperparameters, provenance. */
function keysOf(f: GgufFile, arch: string | null) {
  const hyperparameters: Record<string, unknown> = {};
  const metadata: Record<string, unknown> = {};
  const provenance: Record<string, unknown> = {};
  for (const [k, e] of f.kv) {
    const value = e.type === GgufValueType.FLOAT32 && typeof e.value === "number" ? shortestF32(e.value) : jsonable(e.value);
    metadata[k] = value;
    if (arch && k.startsWith(`${arch}.`)) hyperparameters[k.slice(arch.length + 1)] = value;
    if (k.startsWith("bitconv.") || k.startsWith("general.source.") || k.startsWith("general.base_model.") || k === "general.quantized_by") {
      provenance[k] = jsonable(e.value);
    }
  }
  return { hyperparameters, metadata, provenance: Object.keys(provenance).length ? provenance : null };
}

function tokenizerOf(f: GgufFile): InspectResult["tokenizer"] {
  if (![...f.kv.keys()].some((k) => k.startsWith("tokenizer."))) return null;
  const tokens = f.kv.get("tokenizer.ggml.tokens")?.value;
  const merges = f.kv.get("tokenizer.ggml.merges")?.value;
  return {
    model: str(f, "tokenizer.ggml.model"),
    pre: str(f, "tokenizer.ggml.pre"),
    vocab_size: Array.isArray(tokens) ? tokens.length : null,
    bos_token_id: num(f, "tokenizer.ggml.bos_token_id"),
    eos_token_id: num(f, "tokenizer.ggml.eos_token_id"),
    merges: Array.isArray(merges) ? merges.length : null,
    chat_template: typeof f.kv.get("tokenizer.chat_template")?.value === "string",
  };
}

/** One row per tensor, and the packed ternary layout of those that have one. */
function rowsOf(f: GgufFile): { rows: TensorRow[]; layouts: Map<string, PackedLayout> } {
  const layouts = new Map<string, PackedLayout>();
  const rows = f.tensors.map((t) => {
    const layout = ternaryLayout(f, t);
    if (layout) layouts.set(t.name, layout);
    const row: TensorRow = { name: t.name, shape: t.ne, type: t.typeName, layout, bytes: t.nbytes, bits_per_weight: bpw(t.nbytes, t.nelements), layer: layerOf(t.name) };
    if (layout) {
      row.K = t.ne[0];
      row.M = t.ne[0] ? t.nelements / t.ne[0] : 0;
    }
    return row;
  });
  return { rows, layouts };
}

const categoryOf = (r: TensorRow): Category => {
  if (r.layout) return "ternary";
  if (r.name === "token_embd.weight" || r.name === "output.weight") return "embedding";
  if (/norm/.test(r.name)) return "norm";
  if (r.name.endsWith(".scale") || r.name.endsWith("_scale")) return "scale";
  return "other";
};

/** The --tensor the user named (undefined for all); a name not in the file is an input error. */
function selectedTensor(path: string, f: GgufFile, layouts: Map<string, PackedLayout>, name: string | undefined): GgufTensor | undefined {
  if (name === undefined) return undefined;
  const t = f.tensors.find((x) => x.name === name);
  if (t) return t;
  const tern = f.tensors.filter((x) => layouts.has(x.name)).map((x) => x.name);
  throw inputError(path, `no tensor "${name}" (${f.tensors.length} tensors${tern.length ? `; ternary ones include ${tern.slice(0, 3).join(", ")}` : ""})`);
}

async function allStats(ctx: Ctx, layouts: Map<string, PackedLayout>, selected: GgufTensor | undefined, opts: InspectOptions): Promise<TensorStats[]> {
  const targets = ctx.f.tensors.filter((t) => layouts.has(t.name) && (!selected || t === selected));
  const stats: TensorStats[] = [];
  let i = 0;
  for (const t of targets) {
    opts.onProgress?.(i++, targets.length, t.name);
    stats.push(await statsOf(ctx, t, layouts.get(t.name)!));
  }
  return stats;
}

/** Block opts.block (0 for --html) of the selected tensor, else of the first packed one. */
async function blockOf(path: string, ctx: Ctx, layouts: Map<string, PackedLayout>, selected: GgufTensor | undefined, opts: InspectOptions) {
  const t = selected ?? ctx.f.tensors.find((x) => layouts.has(x.name));
  if (!t) {
    if (opts.block !== undefined) throw inputError(path, "no packed ternary tensor to decode a block of");
    return undefined;
  }
  const layout = layouts.get(t.name);
  if (!layout) throw inputError(path, `tensor "${t.name}" is ${t.typeName}, not a packed ternary layout: it has no ternary blocks`);
  const bt = blockTensorOf(ctx, t, layout);
  if (layout === "tq1_0" || layout === "tq2_0") bt.scale = await tensorScaleValue(ctx, t);
  const read = (start: number, len: number) => readTensorData(ctx.f, t, start, len);
  try {
    return await decodeBlock(bt, read, opts.block ?? 0);
  } catch (e) {
    if (e instanceof BitconvError && !e.message.startsWith(`${path}: `)) throw inputError(path, e.message);
    throw e;
  }
}

export async function inspectGguf(path: string, opts: InspectOptions): Promise<InspectResult> {
  const f = await readGguf(path);
  const arch = str(f, "general.architecture");
  const ctx: Ctx = { f, tl: tlParamsFromFile(f), scaleTensors: scaleTensorsOf(f) };
  const { hyperparameters, metadata, provenance } = keysOf(f, arch);
  const { rows, layouts } = rowsOf(f);
  const totals = computeTotals(rows, categoryOf, (r) => f.tensors[rows.indexOf(r)].nelements);
  const warnings = [...f.warnings];
  if (f.typeContext === "fork" || f.tensors.some((t) => t.type === 39)) warnings.push(`type ids: ${f.typeContextReason}`);
  const selected = selectedTensor(path, f, layouts, opts.tensor);
  const result: InspectResult = {
    source: path,
    kind: "gguf",
    format: {
      gguf_version: f.version,
      alignment: f.alignment,
      data_start: f.dataStart,
      file_size: f.fileSize,
      type_context: f.typeContext,
      type_context_reason: f.typeContextReason,
      file_type: num(f, "general.file_type"),
      layout: str(f, "bitconv.layout") ?? ([...new Set(layouts.values())].join(", ") || null),
    },
    architecture: arch,
    family: null,
    form: null,
    hyperparameters,
    tokenizer: tokenizerOf(f),
    metadata,
    tensors: selected ? rows.filter((r) => r.name === selected.name) : rows,
    totals,
    provenance,
    warnings,
  };
  if (opts.stats !== false) result.stats = await allStats(ctx, layouts, selected, opts);
  if (opts.block !== undefined || opts.html !== undefined) {
    const block = await blockOf(path, ctx, layouts, selected, opts);
    if (block) result.block = block;
  }
  return result;
}
