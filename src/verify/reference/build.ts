// The checkpoint reference of `bitconv verify`: a temporary GGUF holding the source checkpoint's
// BitLinear weights as float codes (F16 -1/0/+1) with an F32 `.scale` each, computed by ternary.ts
// straight from the checkpoint's tensors, plus its norms (F32) and embeddings (their own dtype). The
// runtime's float path (--float-ref) reads it; nothing here goes through the converter's quantizer,
// unpacker or layout packers, so a systematic fault in those shows up as disagreement.
// Streamed: one tensor in memory at a time. Shared with convert: the checkpoint's config and tensor
// list (src/checkpoint) and the GGUF writer, i.e. parsing and I/O, not the weight path.
import { openCheckpoint, readTensorBytes, type Checkpoint, type MappedTensor } from "../../checkpoint/index.js";
import { GgufStreamWriter, kv, type GgufKv, type GgufTensorInfo } from "../../gguf/writer.js";
import { GgmlType } from "../../gguf/types.js";
import { inputError } from "../../util/errors.js";
import { codesAsF16, fakeQuantize, toFloat32, unpackHf, type TernaryWeight } from "./ternary.js";

type FloatDtype = "F32" | "F16" | "BF16";
const FLOAT_TYPE: Record<FloatDtype, number> = { F32: GgmlType.F32, F16: GgmlType.F16, BF16: GgmlType.BF16 };
const SLICE = 64 << 20;

const scaleName = (name: string) => name.replace(/\.weight$/, ".scale");

function floatDtype(p: MappedTensor): FloatDtype {
  const d = p.weight.dtype;
  if (d === "F32" || d === "F16" || d === "BF16") return d;
  throw inputError(p.weight.file, `tensor ${p.hfName} has dtype ${d}; the reference reads F32, F16 or BF16 here`);
}

/** How the runtime starts each chunk: copied from the artifact, so both passes score the same tokens. */
export interface BosKeys {
  bos?: number;
  addBos?: boolean;
}

/** The runtime's arch: the family's own, with llama's q/k left in the Hugging Face order. Written here
 * rather than through convert's archKvs (src/convert/plan.ts): a wrong hyper-parameter key there would
 * otherwise be read by both passes and agree with itself. */
function archKeys(ckpt: Checkpoint, bos: BosKeys): GgufKv[] {
  const c = ckpt.config;
  const a = c.family === "bitnet-b1.58" ? "bitnet-b1.58" : c.family === "1bitllm" ? "bitnet" : "llama";
  const keys = [
    kv.str("general.architecture", a),
    kv.u32(`${a}.vocab_size`, c.vocab),
    kv.u32(`${a}.context_length`, c.ctx),
    kv.u32(`${a}.embedding_length`, c.hidden),
    kv.u32(`${a}.block_count`, c.nLayers),
    kv.u32(`${a}.feed_forward_length`, c.ffn),
    kv.u32(`${a}.attention.head_count`, c.nHeads),
    kv.u32(`${a}.attention.head_count_kv`, c.nKvHeads),
    kv.u32(`${a}.attention.key_length`, c.headDim),
    kv.f32(`${a}.attention.layer_norm_rms_epsilon`, c.eps),
    kv.f32(`${a}.rope.freq_base`, c.ropeTheta),
    kv.str(`${a}.hidden_activation`, c.hiddenAct),
    kv.str("bitconv.layout", "float"),
  ];
  if (a === "llama") keys.push(kv.bool("bitconv.rope_rotate_half", true));
  if (bos.bos !== undefined) keys.push(kv.u32("tokenizer.ggml.bos_token_id", bos.bos));
  if (bos.addBos !== undefined) keys.push(kv.bool("tokenizer.ggml.add_bos_token", bos.addBos));
  return keys;
}

function tensorInfos(ckpt: Checkpoint): GgufTensorInfo[] {
  const out: GgufTensorInfo[] = [];
  for (const p of ckpt.tensorMap) {
    if (p.role === "ternary") {
      out.push({ name: p.ggufName, ne: [p.K, p.M], type: GgmlType.F16, nbytes: 2 * p.M * p.K });
      out.push({ name: scaleName(p.ggufName), ne: [1], type: GgmlType.F32, nbytes: 4 });
    } else if (p.role === "norm") {
      out.push({ name: p.ggufName, ne: [p.K], type: GgmlType.F32, nbytes: 4 * p.K });
    } else {
      out.push({ name: p.ggufName, ne: [p.K, p.M], type: FLOAT_TYPE[floatDtype(p)], nbytes: p.weight.nbytes });
    }
  }
  return out;
}

async function ternaryOf(p: MappedTensor, linearClass: "bitlinear" | "autobitlinear"): Promise<TernaryWeight> {
  if (!p.packed) return fakeQuantize(toFloat32(await readTensorBytes(p.weight), floatDtype(p)));
  const ws = p.weightScale;
  if (!ws) throw inputError(p.weight.file, `tensor ${p.hfName}: packed weight without weight_scale`);
  const scale = toFloat32(await readTensorBytes(ws), ws.dtype as FloatDtype)[0];
  try {
    return unpackHf(await readTensorBytes(p.weight), p.M / 4, p.K, scale, linearClass);
  } catch (e) {
    throw inputError(p.weight.file, `tensor ${p.hfName}: ${(e as Error).message}`);
  }
}

async function writeTensor(w: GgufStreamWriter, p: MappedTensor, linearClass: "bitlinear" | "autobitlinear"): Promise<void> {
  if (p.role === "ternary") {
    const t = await ternaryOf(p, linearClass);
    await w.write(codesAsF16(t.T));
    await w.write(new Uint8Array(new Float32Array([t.w]).buffer));
  } else if (p.role === "norm") {
    await w.write(new Uint8Array(toFloat32(await readTensorBytes(p.weight), floatDtype(p)).buffer));
  } else {
    for (let at = 0; at < p.weight.nbytes; at += SLICE) await w.write(await readTensorBytes(p.weight, at, Math.min(SLICE, p.weight.nbytes - at)));
  }
}

/** Writes the float reference file of checkpoint `dir` to `out`; onTensor(0, n) first, then after each tensor. */
export async function buildCheckpointReference(dir: string, out: string, bos: BosKeys, onTensor?: (done: number, total: number) => void): Promise<void> {
  const ckpt = await openCheckpoint(dir);
  const w = await GgufStreamWriter.create(out, archKeys(ckpt, bos), tensorInfos(ckpt));
  try {
    onTensor?.(0, ckpt.tensorMap.length);
    for (let i = 0; i < ckpt.tensorMap.length; i++) {
      await writeTensor(w, ckpt.tensorMap[i], ckpt.config.linearClass);
      onTensor?.(i + 1, ckpt.tensorMap.length);
    }
    await w.finish();
  } catch (e) {
    await w.abort();
    throw e;
  }
}
