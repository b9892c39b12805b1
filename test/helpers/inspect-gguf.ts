// Test helpers for the GGUF reader and inspect tests: a tiny, independent GGUF byte builder (written
// from formats/gguf.md section 1, not from src/gguf/writer.ts, so the reader is checked against a second
// implementation) that can also produce malformed files, and a builder of bitconv-shaped artifacts
// for every layout from the bundled packed fixture.
import { readFileSync, writeFileSync } from "node:fs";
import { getLayout, unpackHfPacked, type LayoutName, type TlParams } from "../../src/layouts/index.js";

export const VT = { UINT8: 0, INT8: 1, UINT16: 2, INT16: 3, UINT32: 4, INT32: 5, FLOAT32: 6, BOOL: 7, STRING: 8, ARRAY: 9, UINT64: 10, INT64: 11, FLOAT64: 12 } as const;

export interface KvSpec {
  key: string;
  type: number;
  value: unknown;
  subType?: number;
}
export interface TensorSpec {
  name: string;
  ne: number[];
  type: number;
  data: Uint8Array;
  /** override the stored offset (hostile files) */
  offset?: number;
}

const enc = new TextEncoder();

class Bytes {
  parts: number[] = [];
  u8(v: number) { this.parts.push(v & 255); }
  raw(b: Uint8Array) { for (const x of b) this.parts.push(x); }
  u32(v: number) { const b = Buffer.alloc(4); b.writeUInt32LE(v >>> 0); this.raw(b); }
  u64(v: number | bigint) { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); this.raw(b); }
  str(s: string) { const b = enc.encode(s); this.u64(b.length); this.raw(b); }
  scalar(t: number, v: unknown) {
    const b = Buffer.alloc(8);
    switch (t) {
      case VT.UINT8: case VT.BOOL: this.u8(Number(v === true ? 1 : v === false ? 0 : v)); return;
      case VT.INT8: b.writeInt8(Number(v)); this.raw(b.subarray(0, 1)); return;
      case VT.UINT16: b.writeUInt16LE(Number(v)); this.raw(b.subarray(0, 2)); return;
      case VT.INT16: b.writeInt16LE(Number(v)); this.raw(b.subarray(0, 2)); return;
      case VT.UINT32: b.writeUInt32LE(Number(v)); this.raw(b.subarray(0, 4)); return;
      case VT.INT32: b.writeInt32LE(Number(v)); this.raw(b.subarray(0, 4)); return;
      case VT.FLOAT32: b.writeFloatLE(Number(v)); this.raw(b.subarray(0, 4)); return;
      case VT.FLOAT64: b.writeDoubleLE(Number(v)); this.raw(b); return;
      case VT.UINT64: b.writeBigUInt64LE(BigInt(v as number)); this.raw(b); return;
      case VT.INT64: b.writeBigInt64LE(BigInt(v as number)); this.raw(b); return;
      case VT.STRING: this.str(String(v)); return;
    }
    this.u8(Number(v)); // an unknown type id (hostile files): one byte
  }
}

const pad = (n: number, a: number) => Math.ceil(n / a) * a;

/** Encodes a GGUF file (version 3 unless told): KVs, tensor infos, padding, blobs each padded. */
export function buildGguf(kvs: KvSpec[], tensors: TensorSpec[], opts: { alignment?: number; version?: number; nTensors?: bigint; nKv?: bigint } = {}): Uint8Array {
  const align = opts.alignment ?? 32;
  const w = new Bytes();
  w.raw(enc.encode("GGUF"));
  w.u32(opts.version ?? 3);
  w.u64(opts.nTensors ?? BigInt(tensors.length));
  w.u64(opts.nKv ?? BigInt(kvs.length));
  for (const e of kvs) {
    w.str(e.key);
    w.u32(e.type);
    if (e.type === VT.ARRAY) {
      const arr = e.value as unknown[];
      w.u32(e.subType!);
      w.u64(arr.length);
      for (const v of arr) w.scalar(e.subType!, v);
    } else w.scalar(e.type, e.value);
  }
  let next = 0;
  for (const t of tensors) {
    w.str(t.name);
    w.u32(t.ne.length);
    for (const n of t.ne) w.u64(n);
    w.u32(t.type);
    w.u64(t.offset ?? next);
    next += pad(t.data.length, align);
  }
  while (w.parts.length % align) w.u8(0);
  for (const t of tensors) {
    w.raw(t.data);
    while (w.parts.length % align) w.u8(0);
  }
  return Uint8Array.from(w.parts);
}

// ---- bitconv-shaped artifacts from the packed fixture ----

export const FIXTURE_PACKED = "fixtures/tiny-bitnet-b1.58";
export const FIXTURE_BF16 = "fixtures/tiny-bitnet-b1.58-bf16";
export const FIXTURE_BITLINEAR = "fixtures/tiny-bitnet-b1.58-bitlinear";

interface StEntry { dtype: string; shape: number[]; data: Uint8Array }

/** Reads a whole (small) safetensors fixture independently of src/checkpoint. */
export function readSafetensorsSmall(file: string): Map<string, StEntry> {
  const b = readFileSync(file);
  const n = Number(b.readBigUInt64LE(0));
  const h = JSON.parse(b.subarray(8, 8 + n).toString("utf8")) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const out = new Map<string, StEntry>();
  for (const [name, v] of Object.entries(h)) {
    if (name === "__metadata__") continue;
    const start = 8 + n + v.data_offsets[0];
    out.set(name, { dtype: v.dtype, shape: v.shape, data: new Uint8Array(b.subarray(start, 8 + n + v.data_offsets[1])) });
  }
  return out;
}

export const bf16 = (bits: number): number => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE((bits << 16) >>> 0);
  return b.readFloatLE(0);
};

function bf16ToF32Bytes(src: Uint8Array): Uint8Array {
  const out = Buffer.alloc(src.length * 2);
  for (let i = 0; i < src.length / 2; i++) out.writeFloatLE(bf16(src[2 * i] | (src[2 * i + 1] << 8)), 4 * i);
  return new Uint8Array(out);
}

const PROJ: [string, string][] = [
  ["self_attn.q_proj", "attn_q"], ["self_attn.k_proj", "attn_k"], ["self_attn.v_proj", "attn_v"],
  ["self_attn.o_proj", "attn_output"], ["mlp.gate_proj", "ffn_gate"], ["mlp.up_proj", "ffn_up"], ["mlp.down_proj", "ffn_down"],
];

export interface ArtifactTensorTruth {
  name: string;
  M: number;
  K: number;
  /** row-major ternary values, the ground truth the artifact was packed from */
  T: Int8Array;
  scale: number;
  params?: TlParams;
}

/**
 * Builds a bitconv-shaped GGUF (arch bitnet, bitconv.* keys, one layout) of the packed fixture and
 * returns the ternary ground truth per weight. Not a full conversion (BF16 embedding, a token list only):
 * enough for the reader and inspect, which need real layouts on real values.
 */
export function buildFixtureArtifact(layoutName: LayoutName, out: string, extraKvs: KvSpec[] = []): ArtifactTensorTruth[] {
  const layout = getLayout(layoutName);
  const st = readSafetensorsSmall(`${FIXTURE_PACKED}/model.safetensors`);
  const cfg = JSON.parse(readFileSync(`${FIXTURE_PACKED}/config.json`, "utf8"));
  const arch = "bitnet";
  const tensors: TensorSpec[] = [];
  const truth: ArtifactTensorTruth[] = [];
  const tl: number[] = [];
  const f32 = (v: number) => { const b = Buffer.alloc(4); b.writeFloatLE(v); return new Uint8Array(b); };
  const emb = st.get("model.embed_tokens.weight")!;
  tensors.push({ name: "token_embd.weight", ne: [emb.shape[1], emb.shape[0]], type: 30, data: emb.data });
  tensors.push({ name: "output_norm.weight", ne: [cfg.hidden_size], type: 0, data: bf16ToF32Bytes(st.get("model.norm.weight")!.data) });
  for (let l = 0; l < cfg.num_hidden_layers; l++) {
    const p = `model.layers.${l}.`;
    const norm = (hf: string, gg: string) =>
      tensors.push({ name: `blk.${l}.${gg}.weight`, ne: [st.get(p + hf)!.shape[0]], type: 0, data: bf16ToF32Bytes(st.get(p + hf)!.data) });
    norm("input_layernorm.weight", "attn_norm");
    for (const [hf, gg] of PROJ) {
      const w = st.get(`${p}${hf}.weight`)!;
      const ws = st.get(`${p}${hf}.weight_scale`)!;
      const R = w.shape[0];
      const K = w.shape[1];
      const M = 4 * R;
      const T = unpackHfPacked(w.data, R, K);
      const scale = bf16(ws.data[0] | (ws.data[1] << 8)); // autobitlinear: W = T * weight_scale
      const params = layout.params(M, K);
      if (params) tl.push(M, K, params.BM, params.BK, params.bm);
      const name = `blk.${l}.${gg}.weight`;
      tensors.push({ name, ne: [K, M], type: layout.ggmlType, data: layout.pack(T, M, K, scale, params) });
      if (layout.scaleTensor) tensors.push({ name: `blk.${l}.${gg}.scale`, ne: [1], type: 0, data: f32(scale) });
      truth.push({ name, M, K, T, scale, params });
      if (gg === "attn_output") norm("self_attn.attn_sub_norm.weight", "attn_sub_norm");
      if (gg === "attn_output") norm("post_attention_layernorm.weight", "ffn_norm");
    }
    norm("mlp.ffn_sub_norm.weight", "ffn_sub_norm");
  }
  // order within a layer as docs/architecture.md: attn_norm, q, k, v, o, attn_sub_norm, ffn_norm, gate, up, down, ffn_sub_norm
  const tokens = Array.from({ length: cfg.vocab_size }, (_, i) => `t${i}`);
  const kvs: KvSpec[] = [
    { key: "general.architecture", type: VT.STRING, value: arch },
    { key: "general.type", type: VT.STRING, value: "model" },
    { key: "general.name", type: VT.STRING, value: "tiny-bitnet-b1.58" },
    { key: "general.file_type", type: VT.UINT32, value: layout.fileType },
    { key: "general.quantization_version", type: VT.UINT32, value: 2 },
    { key: "general.alignment", type: VT.UINT32, value: 32 },
    { key: `${arch}.vocab_size`, type: VT.UINT32, value: cfg.vocab_size },
    { key: `${arch}.context_length`, type: VT.UINT32, value: cfg.max_position_embeddings },
    { key: `${arch}.embedding_length`, type: VT.UINT32, value: cfg.hidden_size },
    { key: `${arch}.block_count`, type: VT.UINT32, value: cfg.num_hidden_layers },
    { key: `${arch}.feed_forward_length`, type: VT.UINT32, value: cfg.intermediate_size },
    { key: `${arch}.attention.head_count`, type: VT.UINT32, value: cfg.num_attention_heads },
    { key: `${arch}.attention.head_count_kv`, type: VT.UINT32, value: cfg.num_key_value_heads },
    { key: `${arch}.attention.layer_norm_rms_epsilon`, type: VT.FLOAT32, value: cfg.rms_norm_eps },
    { key: `${arch}.rope.freq_base`, type: VT.FLOAT32, value: cfg.rope_theta },
    { key: `${arch}.hidden_activation`, type: VT.STRING, value: "relu2" },
    { key: "tokenizer.ggml.model", type: VT.STRING, value: "gpt2" },
    { key: "tokenizer.ggml.pre", type: VT.STRING, value: "llama-bpe" },
    { key: "tokenizer.ggml.tokens", type: VT.ARRAY, subType: VT.STRING, value: tokens },
    { key: "tokenizer.ggml.merges", type: VT.ARRAY, subType: VT.STRING, value: ["t1 t2", "t3 t4", "t5 t6"] },
    { key: "tokenizer.ggml.bos_token_id", type: VT.UINT32, value: cfg.bos_token_id },
    { key: "tokenizer.ggml.eos_token_id", type: VT.UINT32, value: cfg.eos_token_id },
    { key: "tokenizer.chat_template", type: VT.STRING, value: "{{ messages }}" },
    { key: "bitconv.version", type: VT.STRING, value: "0.0.0-test" },
    { key: "bitconv.layout", type: VT.STRING, value: layoutName },
    { key: "bitconv.target", type: VT.STRING, value: "auto" },
    { key: "bitconv.embed_type", type: VT.STRING, value: "bf16" },
    ...(tl.length ? [{ key: "bitconv.tl_params", type: VT.ARRAY, subType: VT.UINT32, value: tl }] : []),
    { key: "bitconv.source.repo", type: VT.STRING, value: "local/tiny-bitnet-b1.58" },
    ...extraKvs,
  ];
  writeFileSync(out, buildGguf(kvs, tensors));
  return truth;
}
