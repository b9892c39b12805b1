// planConversion: checkpoint + options -> everything the converter will write, computed before any
// weight is read: the GGUF keys (in the order docs/architecture.md fixes), every output tensor with
// its type, shape and size, and the jobs that produce their bytes. --dry-run prints this plan.

import { relative } from "node:path";
import type { Checkpoint, MappedTensor } from "../checkpoint/index.js";
import { DTYPE_SIZE } from "../checkpoint/index.js";
import { encodeGgufHeader, kv, type GgufKv, type GgufTensorInfo } from "../gguf/writer.js";
import { GgmlType, ggmlTypeName } from "../gguf/types.js";
import { getLayout, LAYOUT_NAMES, type Layout, type LayoutName, type TlParams, type TqScale } from "../layouts/index.js";
import { q8_0Nbytes } from "../quant/q8_0.js";
import { checkpointTokenizerKeys } from "../tokenizer/gguf.js";
import { BitconvError, inputError } from "../util/errors.js";
import { VERSION } from "../version.js";
import type { EmbedType, FloatDtype, FloatJob, Job, TernaryJob } from "./jobs.js";

export const TARGETS = ["auto", "bitconv", "llama.cpp", "bitnet.cpp"] as const;
export type Target = (typeof TARGETS)[number];
export const EMBED_TYPES: readonly EmbedType[] = ["f16", "f32", "bf16", "q8_0"];

/** The options that decide the bytes of the artifact. */
export interface PlanOptions {
  layout: string;
  target?: Target;
  embedType?: EmbedType;
  sourceRepo?: string;
  sourceCommit?: string;
}

export interface PlannedOutput {
  name: string;
  role: "ternary" | "scale" | "norm" | "embed" | "output";
  /** ggml type id and name */
  type: number;
  typeName: string;
  /** GGML order: [K, M] for matrices */
  shape: number[];
  nbytes: number;
  /** data-section-relative offset */
  offset: number;
  /** the HF tensor it comes from */
  source?: string;
  params?: TlParams;
}

/** Writing step: a tensor's bytes come from jobs in order, or (a .scale tensor) from a job's scale. */
export type WriteStep = { tensor: number; jobs: number[] } | { tensor: number; scaleOf: number };

export interface ProvenanceFile {
  path: string;
  /** relative to the model folder, '/'-separated */
  rel: string;
}

export interface ConversionPlan {
  modelDir: string;
  modelName: string;
  family: string;
  architecture: string;
  arch: string;
  target: Target;
  layout: LayoutName;
  embedType: EmbedType;
  /** tq layouts: "scale-tensor" = d 1 + .scale tensors; "block-d" = d = f16(w) per block, no .scale */
  tqScale: TqScale;
  tensors: PlannedOutput[];
  inputBytes: number;
  headerBytes: number;
  outputBytes: number;
  notes: string[];
  /** options JSON stored in bitconv.options */
  optionsJson: string;
  provenanceFiles: ProvenanceFile[];
  sourceRepo?: string;
  sourceCommit?: string;
  tlParams: number[];
  /** internal: keys without the input hashes (placeholders of the same length) */
  kvs: GgufKv[];
  tensorInfos: GgufTensorInfo[];
  jobs: Job[];
  steps: WriteStep[];
}

const SLAB_BYTES = 16 << 20;
const HASH_PLACEHOLDER = "0".repeat(64);

function archFor(ckpt: Checkpoint, target: Target): string {
  switch (ckpt.config.family) {
    case "bitnet-b1.58":
      return target === "bitnet.cpp" ? "bitnet-b1.58" : "bitnet";
    case "1bitllm":
      return "bitnet";
    case "llama-bitnet":
      return "llama";
  }
}

/** The refusals of docs/architecture.md: combinations whose file the target would misread or reject. */
function checkTarget(ckpt: Checkpoint, target: Target, layout: LayoutName): void {
  const configFile = ckpt.files[0];
  if (target === "llama.cpp") {
    if (layout !== "tq1_0" && layout !== "tq2_0") {
      throw new BitconvError(
        `--target llama.cpp cannot read layout ${layout}: its type id belongs to the bitnet.cpp fork and upstream llama.cpp rejects it; use --layout tq1_0 or tq2_0`,
      );
    }
    if (ckpt.config.hiddenAct === "relu2") {
      throw inputError(
        configFile,
        `hidden_act "relu2": llama.cpp computes the FFN of arch "bitnet" with SiLU (hard-coded), so this model would give wrong results there; use --target bitconv (its runtime computes relu²)`,
      );
    }
    if (!ckpt.config.tied && ckpt.config.family !== "llama-bitnet") {
      throw inputError(configFile, `untied embeddings: llama.cpp's arch "bitnet" has no output.weight (its head is always token_embd); use --target bitconv`);
    }
  }
  if (target === "bitnet.cpp" && (layout === "tq1_0" || layout === "tq2_0")) {
    throw new BitconvError(`--target bitnet.cpp reads i2_s, tl1 and tl2 ternary tensors, not ${layout} (an upstream llama.cpp type); use --layout i2_s`);
  }
}

function layoutShapeCheck(p: MappedTensor, layout: Layout, target: Target): void {
  const err = layout.shapeError(p.M, p.K);
  if (err === null) return;
  const allowed = LAYOUT_NAMES.filter((n) => {
    if (target === "llama.cpp" && n !== "tq1_0" && n !== "tq2_0") return false;
    if (target === "bitnet.cpp" && (n === "tq1_0" || n === "tq2_0")) return false;
    return getLayout(n).shapeError(p.M, p.K) === null;
  });
  throw inputError(
    p.weight.file,
    `tensor ${p.hfName} (${p.ggufName}, ${p.M} x ${p.K}) cannot be stored as ${layout.name}: ${err}; layouts that fit: ${allowed.length ? allowed.join(", ") : "none"}`,
  );
}

const floatType: Record<EmbedType, number> = { f32: GgmlType.F32, f16: GgmlType.F16, bf16: GgmlType.BF16, q8_0: GgmlType.Q8_0 };

function floatNbytes(n: number, t: EmbedType): number {
  return t === "f32" ? 4 * n : t === "q8_0" ? q8_0Nbytes(n) : 2 * n;
}

/** The bitconv runtime and llama.cpp read GGUF keys with exact types: counts UINT32, eps/rope FLOAT32. */
function archKvs(ckpt: Checkpoint, arch: string): GgufKv[] {
  const c = ckpt.config;
  const a = arch;
  return [
    kv.u32(`${a}.vocab_size`, c.vocab),
    kv.u32(`${a}.context_length`, c.ctx),
    kv.u32(`${a}.embedding_length`, c.hidden),
    kv.u32(`${a}.block_count`, c.nLayers),
    kv.u32(`${a}.feed_forward_length`, c.ffn),
    kv.u32(`${a}.attention.head_count`, c.nHeads),
    kv.u32(`${a}.attention.head_count_kv`, c.nKvHeads),
    kv.u32(`${a}.attention.key_length`, c.headDim),
    kv.u32(`${a}.attention.value_length`, c.headDim),
    kv.f32(`${a}.attention.layer_norm_rms_epsilon`, c.eps),
    kv.f32(`${a}.rope.freq_base`, c.ropeTheta),
    kv.u32(`${a}.rope.dimension_count`, c.headDim),
    kv.str(`${a}.hidden_activation`, c.hiddenAct),
  ];
}

function parseJson(file: string, text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  try {
    const v = JSON.parse(text) as unknown;
    if (v && typeof v === "object" && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch (e) {
    throw inputError(file, `not valid JSON (${(e as Error).message})`);
  }
  throw inputError(file, "not a JSON object");
}

function generationIds(ckpt: Checkpoint): { bos?: number; eos?: number } {
  const g = parseJson(`${ckpt.dir}/generation_config.json`, ckpt.generationConfig);
  const first = (v: unknown) => (Array.isArray(v) ? v[0] : v);
  const id = (v: unknown) => (typeof v === "number" && Number.isSafeInteger(v) && v >= 0 ? v : undefined);
  return { bos: id(first(g?.bos_token_id)), eos: id(first(g?.eos_token_id)) };
}

function tokenizerKvs(ckpt: Checkpoint, target: Target): { kvs: GgufKv[]; notes: string[] } {
  const gen = generationIds(ckpt);
  const r = checkpointTokenizerKeys({
    dir: ckpt.dir,
    tokenizerJson: parseJson(`${ckpt.dir}/tokenizer.json`, ckpt.tokenizerJson),
    tokenizerModel: ckpt.tokenizerModel,
    tokenizerConfig: parseJson(`${ckpt.dir}/tokenizer_config.json`, ckpt.tokenizerConfig),
    bosTokenId: ckpt.config.bosTokenId ?? gen.bos,
    eosTokenId: ckpt.config.eosTokenId ?? gen.eos,
    vocabSize: ckpt.config.vocab,
    target,
  });
  return { kvs: r.kvs, notes: r.notes };
}

function ternaryJob(p: MappedTensor, layout: LayoutName, params: TlParams | undefined, tqScale: TqScale, linearClass: "bitlinear" | "autobitlinear"): TernaryJob {
  const w = p.weight;
  const job: TernaryJob = {
    kind: "ternary",
    name: p.ggufName,
    hfName: p.hfName,
    src: { file: w.file, offset: w.dataOffset, nbytes: w.nbytes },
    dtype: w.dtype as TernaryJob["dtype"],
    M: p.M,
    K: p.K,
    linearClass,
    layout,
    tqScale,
  };
  if (params) job.params = params;
  if (p.permuteHeads !== undefined) job.permuteHeads = p.permuteHeads;
  if (p.weightScale) {
    const s = p.weightScale;
    job.scaleSrc = { file: s.file, offset: s.dataOffset, nbytes: s.nbytes, dtype: s.dtype as FloatDtype };
  }
  return job;
}

/** Row slabs of about SLAB_BYTES of input, so no job holds a whole embedding matrix. */
function floatJobs(p: MappedTensor, out: EmbedType): FloatJob[] {
  const w = p.weight;
  const rows = p.role === "norm" ? 1 : p.M;
  const cols = p.K;
  const rowBytes = cols * DTYPE_SIZE[w.dtype];
  const perSlab = Math.max(1, Math.floor(SLAB_BYTES / rowBytes));
  const jobs: FloatJob[] = [];
  for (let r = 0; r < rows; r += perSlab) {
    const n = Math.min(perSlab, rows - r);
    jobs.push({
      kind: "float",
      name: p.ggufName,
      hfName: p.hfName,
      src: { file: w.file, offset: w.dataOffset + r * rowBytes, nbytes: n * rowBytes },
      dtype: w.dtype as FloatDtype,
      rows: n,
      cols,
      row0: r,
      out,
    });
  }
  return jobs;
}

interface ResolvedOptions {
  layoutName: LayoutName;
  layout: Layout;
  target: Target;
  embedType: EmbedType;
}

function resolveOptions(opts: PlanOptions): ResolvedOptions {
  if (!(LAYOUT_NAMES as readonly string[]).includes(opts.layout)) {
    throw new BitconvError(`unknown layout "${opts.layout}" (valid: ${LAYOUT_NAMES.join(", ")})`);
  }
  const layoutName = opts.layout as LayoutName;
  const target = opts.target ?? "auto";
  if (!TARGETS.includes(target)) throw new BitconvError(`unknown target "${target}" (valid: ${TARGETS.join(", ")})`);
  const embedType = opts.embedType ?? "f16";
  if (!EMBED_TYPES.includes(embedType)) throw new BitconvError(`unknown embed type "${embedType}" (valid: ${EMBED_TYPES.join(", ")})`);
  return { layoutName, layout: getLayout(layoutName), target, embedType };
}

/** The tensors, jobs and write order of a conversion, as planConversion builds them. */
class TensorPlanner {
  tensors: PlannedOutput[] = [];
  jobs: Job[] = [];
  steps: WriteStep[] = [];
  tlParams: number[] = [];
  inputBytes = 0;
  private tlSeen = new Set<string>();

  constructor(private readonly o: ResolvedOptions, private readonly tqScale: TqScale, private readonly linearClass: "bitlinear" | "autobitlinear") {}

  private add(t: Omit<PlannedOutput, "offset" | "typeName">): number {
    this.tensors.push({ ...t, typeName: ggmlTypeName[t.type]?.toLowerCase() ?? String(t.type), offset: 0 });
    return this.tensors.length - 1;
  }

  /** TL block parameters go into bitconv.tl_params once per distinct shape. */
  private recordParams(p: MappedTensor, params: TlParams | undefined): void {
    const key = `${p.M}x${p.K}`;
    if (!params || this.tlSeen.has(key)) return;
    this.tlSeen.add(key);
    this.tlParams.push(p.M, p.K, params.BM, params.BK, params.bm);
  }

  ternary(p: MappedTensor): void {
    const { layout, layoutName, target } = this.o;
    layoutShapeCheck(p, layout, target);
    const params = layout.params(p.M, p.K);
    this.recordParams(p, params);
    const ti = this.add({ name: p.ggufName, role: "ternary", type: layout.ggmlType, shape: [p.K, p.M], nbytes: layout.nbytes(p.M, p.K, params), source: p.hfName, ...(params ? { params } : {}) });
    this.jobs.push(ternaryJob(p, layoutName, params, this.tqScale, this.linearClass));
    this.inputBytes += p.weight.nbytes + (p.weightScale?.nbytes ?? 0);
    const j = this.jobs.length - 1;
    this.steps.push({ tensor: ti, jobs: [j] });
    if (layout.scaleTensor && this.tqScale === "scale-tensor") {
      const si = this.add({ name: p.ggufName.replace(/\.weight$/, ".scale"), role: "scale", type: GgmlType.F32, shape: [1], nbytes: 4, source: p.weightScale?.name ?? p.hfName });
      this.steps.push({ tensor: si, scaleOf: j });
    }
  }

  float(p: MappedTensor): void {
    const out: EmbedType = p.role === "norm" ? "f32" : this.o.embedType;
    if (out === "q8_0" && p.K % 32 !== 0) {
      throw inputError(p.weight.file, `tensor ${p.hfName} (${p.M} x ${p.K}): q8_0 needs rows of a multiple of 32 values; use --embed-type f16`);
    }
    const n = p.role === "norm" ? p.K : p.M * p.K;
    const ti = this.add({ name: p.ggufName, role: p.role, type: floatType[out], shape: p.role === "norm" ? [p.K] : [p.K, p.M], nbytes: floatNbytes(n, out), source: p.hfName });
    const js = floatJobs(p, out);
    const first = this.jobs.length;
    this.jobs.push(...js);
    this.inputBytes += p.weight.nbytes;
    this.steps.push({ tensor: ti, jobs: js.map((_, i) => first + i) });
  }
}

/** Keys, header size and tensor offsets, once every tensor is planned. */
function finishPlan(ckpt: Checkpoint, plan: ConversionPlan, tokenizer: GgufKv[]): ConversionPlan {
  plan.kvs = buildKvs(ckpt, plan, tokenizer, plan.provenanceFiles.map(() => HASH_PLACEHOLDER));
  const layoutInfo = encodeGgufHeader(plan.kvs, plan.tensorInfos);
  plan.headerBytes = layoutInfo.dataStart;
  plan.outputBytes = layoutInfo.fileSize;
  plan.tensors.forEach((t, i) => (t.offset = layoutInfo.offsets[i]));
  return plan;
}

export function planConversion(ckpt: Checkpoint, opts: PlanOptions): ConversionPlan {
  const o = resolveOptions(opts);
  const { layoutName, layout, target, embedType } = o;
  checkTarget(ckpt, target, layoutName);
  const c = ckpt.config;
  const arch = archFor(ckpt, target);
  const tqScale: TqScale = layout.scaleTensor && arch === "llama" && target === "llama.cpp" ? "block-d" : "scale-tensor";
  const notes: string[] = [];
  if (tqScale === "block-d") {
    notes.push(`llama.cpp's llama arch loads no .scale tensors: every ${layoutName} block holds d = f16(w), so each tensor's scale w is rounded to f16`);
  }
  const planner = new TensorPlanner(o, tqScale, c.linearClass);
  for (const p of ckpt.tensorMap) {
    if (p.role === "ternary") planner.ternary(p);
    else planner.float(p);
  }
  const tok = tokenizerKvs(ckpt, target);
  notes.push(...tok.notes);
  const provenanceFiles = ckpt.files.map((path) => ({ path, rel: relative(ckpt.dir, path).split("\\").join("/") }));
  const { tensors, jobs, steps, tlParams, inputBytes } = planner;
  const plan: ConversionPlan = {
    modelDir: ckpt.dir,
    modelName: c.name,
    family: c.family,
    architecture: c.architecture,
    arch,
    target,
    layout: layoutName,
    embedType,
    tqScale,
    tensors,
    inputBytes,
    headerBytes: 0,
    outputBytes: 0,
    notes,
    optionsJson: JSON.stringify({ embed_type: embedType, layout: layoutName, target }),
    provenanceFiles,
    tlParams,
    kvs: [],
    tensorInfos: tensors.map((t) => ({ name: t.name, ne: t.shape, type: t.type, nbytes: t.nbytes })),
    jobs,
    steps,
  };
  if (opts.sourceRepo !== undefined) plan.sourceRepo = opts.sourceRepo;
  if (opts.sourceCommit !== undefined) plan.sourceCommit = opts.sourceCommit;
  return finishPlan(ckpt, plan, tok.kvs);
}

/** All keys in the order of docs/architecture.md; `hashes` are the sha256 of plan.provenanceFiles. */
export function buildKvs(ckpt: Checkpoint, plan: ConversionPlan, tokenizer: GgufKv[], hashes: string[]): GgufKv[] {
  const layout = getLayout(plan.layout);
  const kvs: GgufKv[] = [
    kv.str("general.architecture", plan.arch),
    kv.str("general.type", "model"),
    kv.str("general.name", ckpt.config.name),
    kv.u32("general.file_type", layout.fileType),
    kv.u32("general.quantization_version", 2),
    kv.u32("general.alignment", 32),
    ...archKvs(ckpt, plan.arch),
    ...tokenizer,
    kv.str("bitconv.version", VERSION),
    kv.str("bitconv.layout", plan.layout),
    kv.str("bitconv.target", plan.target),
    kv.str("bitconv.embed_type", plan.embedType),
  ];
  if (plan.tlParams.length > 0) kvs.push(kv.u32Array("bitconv.tl_params", plan.tlParams));
  if (plan.sourceRepo !== undefined) kvs.push(kv.str("bitconv.source.repo", plan.sourceRepo));
  if (plan.sourceCommit !== undefined) kvs.push(kv.str("bitconv.source.commit", plan.sourceCommit));
  kvs.push(kv.strArray("bitconv.source.files", plan.provenanceFiles.map((f, i) => `${f.rel} ${hashes[i]}`)));
  kvs.push(kv.str("bitconv.options", plan.optionsJson));
  return kvs;
}
