// `bitconv convert <file.gguf> --layout L`: an existing ternary GGUF (bitnet.cpp I2_S, llama.cpp
// TQ1_0/TQ2_0, bitconv TL1/TL2, ...) rewritten in another layout. The ternary values and the effective
// per-tensor scale of every matrix are carried over exactly (unpacked and repacked, never quantized
// again); every other tensor is copied as it is unless --embed-type asks for another head type; all
// metadata (hyper-parameters, tokenizer, chat template) is carried over, with the input's sha256 as
// provenance (docs/convert.md).
import { basename, resolve } from "node:path";
import { ggufTypeInfo, readGguf, readTensorData, type GgufFile, type GgufKvEntry, type GgufTensor } from "../gguf/reader.js";
import { GgmlType } from "../gguf/types.js";
import { GgufStreamWriter, kv, sha256File, type GgufKv, type GgufTensorInfo } from "../gguf/writer.js";
import { getLayout, LAYOUT_NAMES, tl1Params, tl2Params, type Layout, type LayoutName, type TlParams } from "../layouts/index.js";
import { f16ToF32, bf16ToF32, f32ArrayToBf16, f32ArrayToF16 } from "../quant/float.js";
import { dequantizeQ8_0, q8_0Nbytes, quantizeQ8_0 } from "../quant/q8_0.js";
import { BitconvError, inputError } from "../util/errors.js";
import { progressBar } from "../util/progress.js";
import { VERSION } from "../version.js";
import type { EmbedType } from "./jobs.js";
import type { Target } from "./plan.js";

export interface ConvertGgufOptions {
  input: string;
  output: string;
  layout: string;
  /** token_embd / output type; undefined keeps each as it is */
  embedType?: EmbedType;
  target?: Target;
  /** no progress bar */
  quiet?: boolean;
}

export interface ConvertGgufResult {
  output: string;
  input: string;
  inputSha256: string;
  arch: string;
  layout: LayoutName;
  tensors: number;
  bytes: number;
  notes: string[];
}

const FLOAT_TYPE: Record<EmbedType, number> = { f32: GgmlType.F32, f16: GgmlType.F16, bf16: GgmlType.BF16, q8_0: GgmlType.Q8_0 };

/** The layout of a ternary tensor in this file, or null for a float one. */
function ternaryOf(f: GgufFile, t: GgufTensor): LayoutName | null {
  return ggufTypeInfo(t.type, f.typeContext)?.layout ?? null;
}

function str(f: GgufFile, key: string): string | undefined {
  const v = f.kv.get(key)?.value;
  return typeof v === "string" ? v : undefined;
}

/** TL1/TL2 tile parameters: as the file records them (bitconv.tl_params), else bitnet.cpp's preset. */
function tlParams(f: GgufFile, layout: LayoutName, M: number, K: number): TlParams | undefined {
  if (layout !== "tl1" && layout !== "tl2") return undefined;
  const v = f.kv.get("bitconv.tl_params")?.value;
  const a = Array.isArray(v) ? v.map(Number) : ArrayBuffer.isView(v) ? Array.from(v as unknown as ArrayLike<number>, Number) : [];
  for (let i = 0; i + 5 <= a.length; i += 5) if (a[i] === M && a[i + 1] === K) return { BM: a[i + 2], BK: a[i + 3], bm: a[i + 4] };
  return layout === "tl1" ? tl1Params(M, K) : tl2Params(M, K);
}

/** The refusals of docs/architecture.md, for a file whose arch and activation are already fixed. */
function checkTarget(file: string, f: GgufFile, arch: string, layout: LayoutName, target: Target): void {
  const act = str(f, `${arch}.hidden_activation`) ?? (arch === "bitnet-b1.58" ? "relu2" : "silu");
  if (target === "llama.cpp") {
    if (layout !== "tq1_0" && layout !== "tq2_0") throw new BitconvError(`--target llama.cpp cannot read layout ${layout}: its type id belongs to the bitnet.cpp fork; use --layout tq1_0 or tq2_0`);
    if (act === "relu2") throw inputError(file, `arch ${arch} with relu²: llama.cpp computes the FFN of arch "bitnet" with SiLU (hard-coded), so this model would give wrong results there; use --target bitconv`);
    if (arch === "bitnet" && f.tensors.some((t) => t.name === "output.weight")) throw inputError(file, `untied output.weight: llama.cpp's arch "bitnet" has none; use --target bitconv`);
  }
  if (target === "bitnet.cpp") {
    if (layout === "tq1_0" || layout === "tq2_0") throw new BitconvError(`--target bitnet.cpp reads i2_s, tl1 and tl2 ternary tensors, not ${layout}; use --layout i2_s`);
    if (arch !== "bitnet-b1.58") throw inputError(file, `arch ${arch}: bitnet.cpp computes BitNet b1.58 models as arch bitnet-b1.58 only; use --target bitconv`);
  }
}

/** GGUF reader entry -> writer entry (arrays as plain lists). */
function copyKv(key: string, e: GgufKvEntry): GgufKv {
  const v = e.value;
  if (e.subType !== undefined) {
    const list = Array.isArray(v) ? v : Array.from(v as ArrayLike<unknown>);
    return { key, type: e.type, arrayType: e.subType, value: list } as GgufKv;
  }
  return { key, type: e.type, value: v } as GgufKv;
}

function floatValues(t: GgufTensor, bytes: Uint8Array, file: string): Float32Array {
  const n = t.nelements;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(n);
  if (t.type === GgmlType.F32) for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, true);
  else if (t.type === GgmlType.F16) for (let i = 0; i < n; i++) out[i] = f16ToF32(dv.getUint16(2 * i, true));
  else if (t.type === GgmlType.BF16) for (let i = 0; i < n; i++) out[i] = bf16ToF32(dv.getUint16(2 * i, true));
  else if (t.type === GgmlType.Q8_0) return dequantizeQ8_0(bytes, n, f16ToF32);
  else throw inputError(file, `tensor ${t.name} is ${t.typeName}; --embed-type converts only F32, F16, BF16 and Q8_0 heads`);
  return out;
}

function encodeFloat(x: Float32Array, type: EmbedType): Uint8Array {
  if (type === "f32") return new Uint8Array(x.buffer.slice(0));
  if (type === "f16") return new Uint8Array(f32ArrayToF16(x).buffer);
  if (type === "bf16") return new Uint8Array(f32ArrayToBf16(x).buffer);
  return quantizeQ8_0(x);
}

interface OutTensor {
  info: GgufTensorInfo;
  /** produces the bytes when the writer reaches this tensor */
  bytes: () => Promise<Uint8Array>;
}

/** A ternary tensor unpacked to T and its effective scale (a TQ block d times its .scale tensor). */
async function unpackTernary(f: GgufFile, t: GgufTensor, layout: LayoutName, byName: Map<string, GgufTensor>) {
  const K = t.ne[0], M = t.nelements / K;
  const params = tlParams(f, layout, M, K);
  let r: { T: Int8Array; scale: number };
  try {
    r = getLayout(layout).unpack(await readTensorData(f, t), M, K, params);
  } catch (e) {
    throw inputError(f.path, `tensor ${t.name} (${layout}): ${(e as Error).message}`);
  }
  let scale = r.scale;
  const st = byName.get(t.name.replace(/\.weight$/, ".scale"));
  if ((layout === "tq1_0" || layout === "tq2_0") && st) {
    if (st.type !== GgmlType.F32 || st.nelements !== 1) throw inputError(f.path, `${st.name} is ${st.typeName} x ${st.nelements}, not one F32`);
    const sb = await readTensorData(f, st);
    const s = new DataView(sb.buffer, sb.byteOffset, 4).getFloat32(0, true);
    scale = scale === 1 ? s : Math.fround(scale * s);
  }
  if (!(scale > 0) || !Number.isFinite(scale)) throw inputError(f.path, `tensor ${t.name} has scale ${scale}, not a positive finite number`);
  return { T: r.T, M, K, scale };
}

interface Repack {
  o: ConvertGgufOptions;
  f: GgufFile;
  out: Layout;
  byName: Map<string, GgufTensor>;
  /** llama.cpp's llama arch loads no .scale tensors: TQ blocks there hold d = the tensor's scale */
  scaleInBlocks: boolean;
  /** bitconv.tl_params: M, K, BM, BK, bm per TL shape */
  tl: number[];
}

/** A ternary tensor repacked into the output layout, then its `.scale` tensor when the layout has one. */
function ternaryOutputs(r: Repack, t: GgufTensor, inLayout: LayoutName): OutTensor[] {
  const { o, f, out } = r;
  const K = t.ne[0], M = t.nelements / K;
  const why = out.shapeError(M, K);
  if (why) throw inputError(o.input, `tensor ${t.name} (${M} x ${K}) cannot be stored as ${out.name}: ${why}`);
  const params = out.params(M, K);
  if (params && !r.tl.some((_, i) => i % 5 === 0 && r.tl[i] === M && r.tl[i + 1] === K)) r.tl.push(M, K, params.BM, params.BK, params.bm);
  // the scale tensor follows its weight: it takes the scale found while the weight was repacked,
  // so no unpacked matrix outlives its own write
  const found: { scale?: number } = {};
  const weight: OutTensor = {
    info: { name: t.name, ne: t.ne, type: out.ggmlType, nbytes: out.nbytes(M, K, params) },
    bytes: async () => {
      const u = await unpackTernary(f, t, inLayout, r.byName);
      found.scale = u.scale;
      if (!r.scaleInBlocks) return out.pack(u.T, M, K, u.scale, params);
      const d = u.scale;
      if (f16ToF32(f32ToF16(d)) !== d) throw inputError(o.input, `tensor ${t.name}: its scale ${d} is not an f16 value, and arch llama keeps the scale in the TQ blocks' f16 d; use --target bitconv`);
      return out.pack(u.T, M, K, d, params, "block-d");
    },
  };
  if (!out.scaleTensor || r.scaleInBlocks) return [weight];
  const scale: OutTensor = {
    info: { name: t.name.replace(/\.weight$/, ".scale"), ne: [1], type: GgmlType.F32, nbytes: 4 },
    bytes: async () => {
      if (found.scale === undefined) throw new Error(`internal: ${t.name}.scale written before its weight`);
      const b = new Uint8Array(4);
      new DataView(b.buffer).setFloat32(0, found.scale, true);
      return b;
    },
  };
  return [weight, scale];
}

/** Any other tensor: copied, except the embedding / output head re-encoded when --embed-type asks. */
function otherOutput(r: Repack, t: GgufTensor, notes: string[]): OutTensor {
  const { o, f } = r;
  const isHead = t.name === "token_embd.weight" || t.name === "output.weight";
  if (!isHead || !o.embedType || FLOAT_TYPE[o.embedType] === t.type) {
    return { info: { name: t.name, ne: t.ne, type: t.type, nbytes: t.nbytes }, bytes: () => readTensorData(f, t) };
  }
  const type = o.embedType;
  if (type === "q8_0" && t.ne[0] % 32 !== 0) throw inputError(o.input, `tensor ${t.name}: q8_0 needs rows of a multiple of 32 values`);
  const n = t.nelements;
  const nbytes = type === "q8_0" ? q8_0Nbytes(n) : type === "f32" ? 4 * n : 2 * n;
  notes.push(`${t.name}: ${t.typeName} -> ${type}`);
  return { info: { name: t.name, ne: t.ne, type: FLOAT_TYPE[type], nbytes }, bytes: async () => encodeFloat(floatValues(t, await readTensorData(f, t), o.input), type) };
}

/** The input's keys (bitconv's own and the file type / alignment replaced), then bitconv's. */
function outputKvs(r: Repack, tensors: OutTensor[], target: Target, input: string, inputSha256: string): GgufKv[] {
  const { o, f, out } = r;
  const kvs: GgufKv[] = [];
  for (const [key, e] of f.kv) {
    if (key.startsWith("bitconv.") || key === "general.file_type" || key === "general.alignment") continue;
    kvs.push(copyKv(key, e));
  }
  kvs.push(kv.u32("general.file_type", out.fileType), kv.u32("general.alignment", 32));
  kvs.push(kv.str("bitconv.version", VERSION), kv.str("bitconv.layout", out.name), kv.str("bitconv.target", target));
  const head = tensors.find((t) => t.info.name === "token_embd.weight");
  const headType = Object.entries(FLOAT_TYPE).find(([, id]) => id === head?.info.type)?.[0];
  if (headType) kvs.push(kv.str("bitconv.embed_type", headType));
  if (r.tl.length > 0) kvs.push(kv.u32Array("bitconv.tl_params", r.tl));
  kvs.push(kv.strArray("bitconv.source.files", [`${basename(input)} ${inputSha256}`]));
  kvs.push(kv.str("bitconv.options", JSON.stringify({ embed_type: o.embedType ?? "keep", layout: out.name, target, input: "gguf" })));
  return kvs;
}

async function writeOutput(o: ConvertGgufOptions, layout: LayoutName, kvs: GgufKv[], tensors: OutTensor[]): Promise<number> {
  const w = await GgufStreamWriter.create(resolve(o.output), kvs, tensors.map((t) => t.info));
  const bar = progressBar({ quiet: o.quiet, unit: "bytes" });
  bar.start(tensors.reduce((a, t) => a + t.info.nbytes, 0), `convert ${layout}`);
  try {
    for (const t of tensors) {
      await w.writeTensor(await t.bytes());
      bar.increment(t.info.nbytes);
    }
    bar.stop();
    return (await w.finish()).bytes;
  } catch (e) {
    bar.stop();
    await w.abort();
    throw e;
  }
}

export async function convertFromGguf(o: ConvertGgufOptions): Promise<ConvertGgufResult> {
  const input = resolve(o.input);
  if (!(LAYOUT_NAMES as readonly string[]).includes(o.layout)) throw new BitconvError(`unknown layout "${o.layout}" (valid: ${LAYOUT_NAMES.join(", ")})`);
  const layout = o.layout as LayoutName;
  const target = o.target ?? "auto";
  const f = await readGguf(input);
  const arch = str(f, "general.architecture");
  if (arch !== "bitnet" && arch !== "bitnet-b1.58" && arch !== "llama") throw inputError(o.input, `general.architecture ${JSON.stringify(arch)} is not a BitNet b1.58 model (bitnet, bitnet-b1.58 or llama)`);
  checkTarget(o.input, f, arch, layout, target);
  if (!f.tensors.some((t) => ternaryOf(f, t) !== null)) throw inputError(o.input, "has no ternary tensors (TQ1_0, TQ2_0, I2_S, TL1, TL2): convert a checkpoint folder instead");
  const byName = new Map(f.tensors.map((t) => [t.name, t]));
  const inputSha256 = await sha256File(input);
  const r: Repack = { o, f, out: getLayout(layout), byName, scaleInBlocks: arch === "llama" && (layout === "tq1_0" || layout === "tq2_0"), tl: [] };
  const notes: string[] = [];
  const tensors: OutTensor[] = [];
  for (const t of f.tensors) {
    const inLayout = ternaryOf(f, t);
    const weight = t.name.endsWith(".scale") ? byName.get(t.name.replace(/\.scale$/, ".weight")) : undefined;
    if (weight && ternaryOf(f, weight)) continue; // an input .scale: the repacked weight brings its own
    if (inLayout) tensors.push(...ternaryOutputs(r, t, inLayout));
    else tensors.push(otherOutput(r, t, notes));
  }
  const bytes = await writeOutput(o, layout, outputKvs(r, tensors, target, input, inputSha256), tensors);
  return { output: resolve(o.output), input, inputSha256, arch, layout, tensors: tensors.length, bytes, notes };
}

function f32ToF16(x: number): number {
  return f32ArrayToF16(Float32Array.of(x))[0];
}
