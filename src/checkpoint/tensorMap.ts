// HF tensor names -> the GGUF tensor map (docs/architecture.md "Tensors"), with every tensor checked
// against the shapes the config implies. Pure: the tensors come from the headers already read.
import { printable } from "../util/printable.js";
import { inputError } from "../util/errors.js";
import type { ConfigExtras, Family, ModelConfig } from "./config.js";
import { numel, type StDtype, type StTensor } from "./safetensors.js";

export interface MappedTensor {
  /** llama.cpp name, e.g. "blk.0.attn_q.weight" */
  ggufName: string;
  role: "ternary" | "norm" | "embed" | "output";
  hfName: string;
  /** ternary/embed/output: rows (out features / vocab) and columns; norm: M = 1, K = n */
  M: number;
  K: number;
  weight: StTensor;
  /** U8 [M/4, K] + weight_scale */
  packed: boolean;
  /** packed only ([1], usually BF16) */
  weightScale?: StTensor;
  /** llama-bitnet q/k: the head count for llama.cpp's NORM-rope row permutation */
  permuteHeads?: number;
}

interface Slot {
  ggufName: string;
  hfName: string;
  role: MappedTensor["role"];
  M: number;
  K: number;
  permuteHeads?: number;
}

const FLOAT_DTYPES: readonly StDtype[] = ["BF16", "F16", "F32"];

/** Buffers that some exports carry and that hold nothing the model needs. */
const SKIPPABLE = /(^|\.)rotary_emb\.inv_freq$/;

const SUB_NORM_NAMES: Record<Family, { attn: string; ffn: string } | undefined> = {
  "bitnet-b1.58": { attn: "self_attn.attn_sub_norm", ffn: "mlp.ffn_sub_norm" },
  "1bitllm": { attn: "self_attn.inner_attn_ln", ffn: "mlp.ffn_layernorm" },
  "llama-bitnet": undefined,
};

/** The tensors a model of this config has, in GGUF order, with their expected (unpacked) shapes. */
export function expectedSlots(c: ModelConfig): Slot[] {
  const qDim = c.nHeads * c.headDim;
  const kvDim = c.nKvHeads * c.headDim;
  const norm = (ggufName: string, hfName: string, n: number): Slot => ({ ggufName, hfName, role: "norm", M: 1, K: n });
  const slots: Slot[] = [{ ggufName: "token_embd.weight", hfName: "model.embed_tokens.weight", role: "embed", M: c.vocab, K: c.hidden }];
  if (!c.tied) slots.push({ ggufName: "output.weight", hfName: "lm_head.weight", role: "output", M: c.vocab, K: c.hidden });
  slots.push(norm("output_norm.weight", "model.norm.weight", c.hidden));
  const sub = SUB_NORM_NAMES[c.family];
  const permute = c.family === "llama-bitnet";
  for (let i = 0; i < c.nLayers; i++) {
    const p = `model.layers.${i}.`;
    const b = `blk.${i}.`;
    const proj = (g: string, h: string, M: number, K: number, heads?: number): Slot => {
      const s: Slot = { ggufName: `${b}${g}.weight`, hfName: `${p}${h}.weight`, role: "ternary", M, K };
      if (permute && heads !== undefined) s.permuteHeads = heads;
      return s;
    };
    slots.push(norm(`${b}attn_norm.weight`, `${p}input_layernorm.weight`, c.hidden));
    slots.push(proj("attn_q", "self_attn.q_proj", qDim, c.hidden, c.nHeads));
    slots.push(proj("attn_k", "self_attn.k_proj", kvDim, c.hidden, c.nKvHeads));
    slots.push(proj("attn_v", "self_attn.v_proj", kvDim, c.hidden));
    slots.push(proj("attn_output", "self_attn.o_proj", c.hidden, qDim));
    if (sub) slots.push(norm(`${b}attn_sub_norm.weight`, `${p}${sub.attn}.weight`, qDim));
    slots.push(norm(`${b}ffn_norm.weight`, `${p}post_attention_layernorm.weight`, c.hidden));
    slots.push(proj("ffn_gate", "mlp.gate_proj", c.ffn, c.hidden));
    slots.push(proj("ffn_up", "mlp.up_proj", c.ffn, c.hidden));
    slots.push(proj("ffn_down", "mlp.down_proj", c.hidden, c.ffn));
    if (sub) slots.push(norm(`${b}ffn_sub_norm.weight`, `${p}${sub.ffn}.weight`, c.ffn));
  }
  return slots;
}

const fmt = (shape: readonly number[]) => `[${shape.join(", ")}]`;

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function checkShape(t: StTensor, expected: number[], why: string): void {
  if (!sameShape(t.shape, expected)) {
    throw inputError(t.file, `tensor ${t.name} has shape ${fmt(t.shape)}, expected ${fmt(expected)} (${why})`);
  }
}

function checkFloat(t: StTensor): void {
  if (!FLOAT_DTYPES.includes(t.dtype)) {
    throw inputError(t.file, `tensor ${t.name} has dtype ${t.dtype}, expected one of ${FLOAT_DTYPES.join(", ")}`);
  }
}

function mapPacked(s: Slot, w: StTensor, scale: StTensor | undefined, c: ModelConfig): MappedTensor {
  if (w.dtype !== "U8") throw inputError(w.file, `tensor ${w.name} has a weight_scale, so it should be packed U8, but its dtype is ${w.dtype}`);
  if (c.quantMode === "online") {
    throw inputError(w.file, `tensor ${w.name} is packed U8, but quantization_mode "online" expects full-precision weights`);
  }
  if (!scale) throw inputError(w.file, `packed tensor ${w.name} (U8) has no ${stem(s.hfName)}.weight_scale`);
  if (s.M % 4 !== 0) throw inputError(w.file, `packed tensor ${w.name}: ${s.M} output rows is not a multiple of 4`);
  checkShape(w, [s.M / 4, s.K], `packed U8 [${s.M}/4, ${s.K}] from the config`);
  checkFloat(scale);
  if (numel(scale.shape) !== 1) {
    throw inputError(scale.file, `tensor ${scale.name} has shape ${fmt(scale.shape)}, expected a single element ([1])`);
  }
  return { ...s, weight: w, packed: true, weightScale: scale };
}

function stem(hfName: string): string {
  return hfName.replace(/\.weight$/, "");
}

function mapSlot(s: Slot, tensors: Map<string, StTensor>, c: ModelConfig, missingIn: string): MappedTensor {
  const w = tensors.get(s.hfName);
  if (!w) throw inputError(missingIn, `tensor ${s.hfName} is missing (a ${c.architecture} model of this config needs it for ${s.ggufName})`);
  if (s.role === "ternary") {
    const scale = tensors.get(`${stem(s.hfName)}.weight_scale`);
    if (scale || w.dtype === "U8") return mapPacked(s, w, scale, c);
    checkFloat(w);
    checkShape(w, [s.M, s.K], "from the config");
    return { ...s, weight: w, packed: false };
  }
  checkFloat(w);
  checkShape(w, s.role === "norm" ? [s.K] : [s.M, s.K], "from the config");
  return { ...s, weight: w, packed: false };
}

/** Every checkpoint tensor must be mapped, be a mapped tensor's weight_scale, or be a known buffer. */
function checkNoStrays(map: MappedTensor[], tensors: Map<string, StTensor>, c: ModelConfig): void {
  const used = new Set<string>();
  for (const p of map) {
    used.add(p.hfName);
    if (p.weightScale) used.add(p.weightScale.name);
  }
  for (const t of tensors.values()) {
    if (used.has(t.name) || SKIPPABLE.test(t.name)) continue;
    if (t.name === "lm_head.weight" && c.tied) continue; // transformers ties it to the embedding anyway
    throw inputError(t.file, `unexpected tensor ${printable(t.name)} (not part of a ${c.architecture} model with this config)`);
  }
}

/** modules_to_not_convert names projections that stay full precision; we would ternarize them. */
function checkNotConverted(map: MappedTensor[], extras: ConfigExtras, configFile: string): void {
  for (const key of extras.modulesNotConverted) {
    const hit = map.find((p) => p.role === "ternary" && p.hfName.includes(key));
    if (hit) {
      throw inputError(configFile, `quantization_config.modules_to_not_convert lists "${key}", which keeps ${hit.hfName} in full precision: not supported`);
    }
  }
}

/**
 * The GGUF tensor map. `missingIn` names the file a missing tensor should have been in (model.safetensors
 * or the shard index); `configFile` names config.json.
 */
export function mapTensors(c: ModelConfig, extras: ConfigExtras, tensors: Map<string, StTensor>, missingIn: string, configFile: string): MappedTensor[] {
  const map = expectedSlots(c).map((s) => mapSlot(s, tensors, c, missingIn));
  checkNotConverted(map, extras, configFile);
  checkNoStrays(map, tensors, c);
  return map;
}
