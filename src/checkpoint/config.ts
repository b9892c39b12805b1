// config.json -> ModelConfig: family detection and validation (formats/checkpoint-*.md).
// Pure: takes the parsed JSON and the file name used in error messages.
import { inputError } from "../util/errors.js";

export type Family = "bitnet-b1.58" | "1bitllm" | "llama-bitnet";

export interface ModelConfig {
  family: Family;
  architecture: string;
  hiddenAct: "relu2" | "silu";
  subNorms: boolean;
  nLayers: number;
  hidden: number;
  ffn: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  vocab: number;
  ctx: number;
  eps: number;
  ropeTheta: number;
  tied: boolean;
  linearClass: "bitlinear" | "autobitlinear";
  quantMode: "online" | "offline";
  bosTokenId?: number;
  eosTokenId?: number;
  name: string;
}

/** What the config says beyond ModelConfig, needed to check the tensors against it. */
export interface ConfigExtras {
  /** tie_word_embeddings was written in config.json (not a class default). */
  tiedExplicit: boolean;
  /** quantization_config.modules_to_not_convert, minus lm_head (always kept in full precision). */
  modulesNotConverted: string[];
}

export const SUPPORTED_ARCHITECTURES = [
  "BitNetForCausalLM (microsoft/bitnet-b1.58-2B-4T)",
  "BitnetForCausalLM (1bitLLM)",
  "LlamaForCausalLM with quantization_config.quant_method \"bitnet\" (Falcon3-1.58bit, HF1BitLLM)",
];

/** Class defaults that differ by family (transformers BitNetConfig vs LlamaConfig). */
const FAMILY_DEFAULTS: Record<Family, { act: "relu2" | "silu"; eps: number; theta: number; ctx: number }> = {
  "bitnet-b1.58": { act: "relu2", eps: 1e-5, theta: 500000, ctx: 2048 },
  "1bitllm": { act: "silu", eps: 1e-6, theta: 10000, ctx: 2048 },
  "llama-bitnet": { act: "silu", eps: 1e-6, theta: 10000, ctx: 2048 },
};

const QUANT_KEYS = new Set(["quant_method", "linear_class", "quantization_mode", "use_rms_norm", "rms_norm_eps", "modules_to_not_convert"]);

type Raw = Record<string, unknown>;

export function detectFamily(file: string, raw: Raw): { family: Family; architecture: string } {
  const archs = raw.architectures;
  const architecture = Array.isArray(archs) && typeof archs[0] === "string" ? archs[0] : undefined;
  if (architecture === undefined) {
    throw inputError(file, `no "architectures" list; supported: ${SUPPORTED_ARCHITECTURES.join("; ")}`);
  }
  if (architecture === "BitNetForCausalLM") return { family: "bitnet-b1.58", architecture };
  if (architecture === "BitnetForCausalLM") return { family: "1bitllm", architecture };
  if (architecture === "LlamaForCausalLM") {
    const q = raw.quantization_config as Raw | undefined;
    if (!q || typeof q !== "object" || q.quant_method !== "bitnet") {
      throw inputError(file, `LlamaForCausalLM without quantization_config.quant_method "bitnet" is not a ternary model; supported: ${SUPPORTED_ARCHITECTURES.join("; ")}`);
    }
    return { family: "llama-bitnet", architecture };
  }
  throw inputError(file, `unsupported architecture "${architecture}"; supported: ${SUPPORTED_ARCHITECTURES.join("; ")}`);
}

// Every integer here becomes a UINT32 GGUF key and every number a FLOAT32 one: a value they cannot
// hold is refused here, naming config.json, not later by the GGUF writer.
const U32_MAX = 0xffffffff;

function positiveInt(file: string, raw: Raw, key: string, fallback?: number): number {
  const v = raw[key] ?? fallback;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v <= 0) {
    throw inputError(file, v === undefined ? `missing "${key}"` : `"${key}" is ${JSON.stringify(v)}, not a positive integer`);
  }
  if (v > U32_MAX) throw inputError(file, `"${key}" is ${v}, more than the 32-bit GGUF key it becomes can hold (${U32_MAX})`);
  return v;
}

function positiveNumber(file: string, raw: Raw, key: string, fallback: number): number {
  const v = raw[key] ?? fallback;
  if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) {
    throw inputError(file, `"${key}" is ${JSON.stringify(v)}, not a positive number`);
  }
  if (!Number.isFinite(Math.fround(v)) || Math.fround(v) === 0) {
    throw inputError(file, `"${key}" is ${v}, outside what the 32-bit float GGUF key it becomes can hold`);
  }
  return v;
}

/** bos/eos may be a single id or (Llama 3 style) a list; the first is the primary one. */
function tokenId(file: string, raw: Raw, key: string): number | undefined {
  const v = raw[key];
  const id = Array.isArray(v) ? v[0] : v;
  if (id === undefined || id === null) return undefined;
  if (typeof id !== "number" || !Number.isSafeInteger(id) || id < 0 || id > U32_MAX) throw inputError(file, `"${key}" is ${JSON.stringify(v)}, not a token id`);
  return id;
}

interface QuantSettings { linearClass: "bitlinear" | "autobitlinear"; quantMode: "online" | "offline"; modulesNotConverted: string[] }

/** quantization_config (BitNetQuantConfig): refuse every key or value whose meaning we do not implement. */
export function parseQuantConfig(file: string, family: Family, raw: Raw): QuantSettings {
  const q = raw.quantization_config;
  if (q === undefined || q === null) {
    if (family !== "1bitllm") throw inputError(file, `missing quantization_config (expected quant_method "bitnet")`);
    // 1bitLLM stores full-precision masters and fake-quantizes them on the fly.
    return { linearClass: "bitlinear", quantMode: "online", modulesNotConverted: [] };
  }
  if (typeof q !== "object" || Array.isArray(q)) throw inputError(file, "quantization_config is not an object");
  const qc = q as Raw;
  for (const k of Object.keys(qc)) {
    if (!QUANT_KEYS.has(k)) throw inputError(file, `unknown quantization_config key "${k}" (known: ${[...QUANT_KEYS].join(", ")})`);
  }
  if (qc.quant_method !== "bitnet") throw inputError(file, `quantization_config.quant_method is ${JSON.stringify(qc.quant_method)}, expected "bitnet"`);
  const linearClass = qc.linear_class ?? "bitlinear";
  if (linearClass !== "bitlinear" && linearClass !== "autobitlinear") {
    throw inputError(file, `quantization_config.linear_class is ${JSON.stringify(linearClass)}, expected "bitlinear" or "autobitlinear"`);
  }
  const quantMode = qc.quantization_mode ?? "offline";
  if (quantMode !== "offline" && quantMode !== "online") {
    throw inputError(file, `quantization_config.quantization_mode is ${JSON.stringify(quantMode)}, expected "offline" or "online"`);
  }
  if (qc.use_rms_norm !== undefined && qc.use_rms_norm !== false && qc.use_rms_norm !== null) {
    throw inputError(file, `quantization_config.use_rms_norm is ${JSON.stringify(qc.use_rms_norm)}: the extra RMSNorm inside every BitLinear is not supported`);
  }
  return { linearClass, quantMode, modulesNotConverted: parseNotConverted(file, qc.modules_to_not_convert) };
}

function parseNotConverted(file: string, v: unknown): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || !v.every((s) => typeof s === "string")) {
    throw inputError(file, "quantization_config.modules_to_not_convert is not a list of strings");
  }
  return (v as string[]).filter((s) => s !== "lm_head");
}

function parseHiddenAct(file: string, raw: Raw, fallback: "relu2" | "silu"): "relu2" | "silu" {
  const act = raw.hidden_act ?? fallback;
  if (act !== "relu2" && act !== "silu") {
    throw inputError(file, `hidden_act ${JSON.stringify(act)} is not supported (expected "relu2" or "silu")`);
  }
  return act;
}

/** Features we would silently get wrong: rope scaling, biases, 1bitLLM bit widths. */
function refuseUnsupported(file: string, raw: Raw): void {
  const rs = raw.rope_scaling as Raw | null | undefined;
  if (rs !== undefined && rs !== null) {
    const type = rs.rope_type ?? rs.type;
    if (type !== "default") throw inputError(file, `rope_scaling ${JSON.stringify(rs)} is not supported`);
  }
  if (raw.attention_bias === true) throw inputError(file, "attention_bias: true is not supported (BitNet projections have no bias)");
  if (raw.mlp_bias === true) throw inputError(file, "mlp_bias: true is not supported (BitNet projections have no bias)");
  if (raw.weight_bits !== undefined && raw.weight_bits !== 1) throw inputError(file, `weight_bits ${JSON.stringify(raw.weight_bits)} is not 1 (ternary)`);
  if (raw.input_bits !== undefined && raw.input_bits !== 8) throw inputError(file, `input_bits ${JSON.stringify(raw.input_bits)} is not 8`);
}

/** head_dim: given (Falcon3: 256, q out = heads x head_dim) or hidden / heads. */
function parseHeadDim(file: string, raw: Raw, family: Family, hidden: number, nHeads: number, nKvHeads: number): number {
  if (nHeads % nKvHeads !== 0) {
    throw inputError(file, `num_attention_heads ${nHeads} is not a multiple of num_key_value_heads ${nKvHeads}`);
  }
  let headDim: number;
  if (raw.head_dim === undefined || raw.head_dim === null) {
    if (hidden % nHeads !== 0) throw inputError(file, `hidden_size ${hidden} is not divisible by num_attention_heads ${nHeads} (and no head_dim is given)`);
    headDim = hidden / nHeads;
  } else {
    headDim = positiveInt(file, raw, "head_dim");
    // The bitnet graphs (llama.cpp, bitnet.cpp) require n_head * head_dim == n_embd.
    if (family !== "llama-bitnet" && headDim * nHeads !== hidden) {
      throw inputError(file, `head_dim ${headDim} x num_attention_heads ${nHeads} = ${headDim * nHeads} != hidden_size ${hidden}`);
    }
  }
  if (headDim % 2 !== 0) throw inputError(file, `head_dim ${headDim} is odd; rope needs an even head dimension`);
  return headDim;
}

export function parseModelConfig(file: string, raw: Raw, name: string): { config: ModelConfig; extras: ConfigExtras } {
  const { family, architecture } = detectFamily(file, raw);
  const d = FAMILY_DEFAULTS[family];
  refuseUnsupported(file, raw);
  const hiddenAct = parseHiddenAct(file, raw, d.act);
  const quant = parseQuantConfig(file, family, raw);
  const hidden = positiveInt(file, raw, "hidden_size");
  const nHeads = positiveInt(file, raw, "num_attention_heads");
  const nKvHeads = positiveInt(file, raw, "num_key_value_heads", nHeads);
  const tiedRaw = raw.tie_word_embeddings;
  if (tiedRaw !== undefined && typeof tiedRaw !== "boolean") throw inputError(file, `tie_word_embeddings is ${JSON.stringify(tiedRaw)}, not a boolean`);
  const config: ModelConfig = {
    family,
    architecture,
    hiddenAct,
    subNorms: family !== "llama-bitnet",
    nLayers: positiveInt(file, raw, "num_hidden_layers"),
    hidden,
    ffn: positiveInt(file, raw, "intermediate_size"),
    nHeads,
    nKvHeads,
    headDim: parseHeadDim(file, raw, family, hidden, nHeads, nKvHeads),
    vocab: positiveInt(file, raw, "vocab_size"),
    ctx: positiveInt(file, raw, "max_position_embeddings", d.ctx),
    eps: positiveNumber(file, raw, "rms_norm_eps", d.eps),
    ropeTheta: positiveNumber(file, raw, "rope_theta", d.theta),
    tied: tiedRaw ?? false,
    linearClass: quant.linearClass,
    quantMode: quant.quantMode,
    name,
  };
  const bos = tokenId(file, raw, "bos_token_id");
  const eos = tokenId(file, raw, "eos_token_id");
  if (bos !== undefined) config.bosTokenId = bos;
  if (eos !== undefined) config.eosTokenId = eos;
  return { config, extras: { tiedExplicit: tiedRaw !== undefined, modulesNotConverted: quant.modulesNotConverted } };
}
