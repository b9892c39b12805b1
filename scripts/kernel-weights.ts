// The weights of the C kernel tests (kernels-c/test/test_kernels.c), packed by the layout modules
// (src/layouts/), so the C tests never re-implement a layout: one GGUF holding, for every case, the
// packed tensor and its ternary codes T as an I8 tensor (the independent truth the C side checks
// bc_decode_row and the exact integer sums against). Deterministic: the same file every run.
//
// As a command: node dist/scripts/kernel-weights.js OUT.gguf
//
// Each packed tensor <name> has the keys <name>.codes (the name of its I8 codes tensor: row-major T,
// whose first M*K values are used, so the large shapes share one) and, for TL layouts,
// <name>.tl_params (u32 BM, BK, bm: the same shape is tested under several parameter sets, which
// bitconv.tl_params, keyed by shape, cannot hold). Names start with the test group: "small." (every
// weight kind, many N), "lut." (the TL lookup-table cache), "large." (the BitNet 2B-4T shapes, skipped
// in quick mode).

import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { GgufStreamWriter, kv, type GgufKv, type GgufTensorInfo } from "../src/gguf/writer.js";
import { getLayout, type LayoutName, type TlParams } from "../src/layouts/index.js";
import { mulberry32 } from "../test/helpers/prng.js";

/** ggml's I8 tensor type: T as plain signed bytes (not a type bitconv writes into artifacts). */
const GGML_I8 = 24;
const SEED = 0x5eed_c0de;

export const WEIGHT_KINDS = ["random", "all-1", "all+1", "all0", "sparse"] as const;
type Kind = (typeof WEIGHT_KINDS)[number];

interface Shape { layout: LayoutName; M: number; K: number; params?: TlParams }
const s = (layout: LayoutName, M: number, K: number, BM?: number, BK?: number, bm?: number): Shape =>
  ({ layout, M, K, params: BM ? { BM, BK: BK!, bm: bm! } : undefined });

/** Small and odd shapes legal for each layout, then K long enough for several K chunks of the GEMM engine. */
const SMALL: readonly Shape[] = [
  s("tq2_0", 1, 256), s("tq2_0", 7, 512), s("tq2_0", 37, 768), s("tq2_0", 64, 256),
  s("tq1_0", 1, 256), s("tq1_0", 7, 512), s("tq1_0", 37, 768), s("tq1_0", 64, 256),
  s("i2_s", 1, 128), s("i2_s", 3, 384), s("i2_s", 37, 640), s("i2_s", 64, 256), s("i2_s", 5, 128),
  s("tl1", 32, 16, 32, 16, 32), s("tl1", 64, 64, 64, 64, 64), s("tl1", 96, 256, 32, 128, 32),
  s("tl1", 256, 192, 128, 64, 64), s("tl1", 160, 320, 160, 64, 32),
  s("tl2", 32, 320, 32, 96, 32), s("tl2", 64, 288, 32, 96, 32), s("tl2", 96, 416, 96, 192, 32),
  s("tl2", 160, 2592, 160, 96, 32), s("tl2", 64, 264, 64, 24, 32),
  s("tq2_0", 33, 2304), s("tq1_0", 9, 1280), s("tq1_0", 5, 8192), s("i2_s", 40, 1408), s("tl1", 64, 2048, 64, 128, 32),
  s("tl2", 64, 2144, 32, 96, 32),
];

/** The TL GEMVs' table cache: the same shape under two TL1 parameter sets, and TL2. */
const LUT: readonly Shape[] = [s("tl1", 64, 256, 64, 128, 32), s("tl1", 64, 256, 64, 128, 64), s("tl2", 64, 288, 32, 96, 32)];

/** The BitNet 2B-4T projection shapes, every layout (TL parameters chosen legal for them). */
const LARGE_MK: readonly [number, number][] = [[2560, 2560], [640, 2560], [6912, 2560], [2560, 6912]];
function largeShapes(): Shape[] {
  const out: Shape[] = [];
  for (const layout of ["tq1_0", "tq2_0", "i2_s", "tl1", "tl2"] as const)
    for (const [M, K] of LARGE_MK) {
      const BM = M === 640 ? 128 : 256;
      const params = layout === "tl1" ? { BM, BK: 128, bm: M === 640 ? 64 : 32 } : layout === "tl2" ? { BM, BK: 96, bm: 32 } : undefined;
      out.push({ layout, M, K, params });
    }
  return out;
}

function fill(kind: Kind, n: number, next: () => number): Int8Array {
  const T = new Int8Array(n);
  if (kind === "all-1" || kind === "all+1") T.fill(kind === "all-1" ? -1 : 1);
  else if (kind === "random") for (let i = 0; i < n; i++) T[i] = (next() % 3) - 1;
  else if (kind === "sparse") for (let i = 0; i < n; i++) T[i] = next() % 16 === 0 ? ((next() & 1) * 2 - 1) : 0;
  return T;
}

interface Entry { info: GgufTensorInfo; bytes: () => Uint8Array }

/** The tensors and keys of the file; bytes are made as the writer reaches each tensor. */
function plan(): { kvs: GgufKv[]; entries: Entry[] } {
  const next = mulberry32(SEED);
  const kvs: GgufKv[] = [kv.str("general.architecture", "bitconv-kernel-tests")];
  const entries: Entry[] = [];
  const codes = new Map<string, Int8Array>();
  const codesTensor = (name: string, T: Int8Array) => {
    codes.set(name, T);
    entries.push({ info: { name, ne: [T.length], type: GGML_I8, nbytes: T.length }, bytes: () => new Uint8Array(T.buffer, T.byteOffset, T.length) });
  };
  const packed = (name: string, sh: Shape, codesName: string) => {
    const layout = getLayout(sh.layout);
    const T = codes.get(codesName)!.subarray(0, sh.M * sh.K);
    kvs.push(kv.str(`${name}.codes`, codesName));
    if (sh.params) kvs.push(kv.u32Array(`${name}.tl_params`, [sh.params.BM, sh.params.BK, sh.params.bm]));
    entries.push({
      info: { name, ne: [sh.K, sh.M], type: layout.ggmlType, nbytes: layout.nbytes(sh.M, sh.K, sh.params) },
      bytes: () => layout.pack(T, sh.M, sh.K, 0.5, sh.params),
    });
  };
  const tag = (sh: Shape) => `${sh.layout}.${sh.M}x${sh.K}${sh.params ? `.${sh.params.BM}-${sh.params.BK}-${sh.params.bm}` : ""}`;
  SMALL.forEach((sh, i) => {
    for (const kind of WEIGHT_KINDS) {
      const name = `small.${i}.${tag(sh)}.${kind}`;
      codesTensor(`${name}.T`, fill(kind, sh.M * sh.K, next));
      packed(name, sh, `${name}.T`);
    }
  });
  LUT.forEach((sh, i) => {
    const name = `lut.${i}.${tag(sh)}.random`;
    codesTensor(`${name}.T`, fill("random", sh.M * sh.K, next));
    packed(name, sh, `${name}.T`);
  });
  // one random matrix for every large shape (each uses its first M*K codes), one all -1 for 2560 x 2560
  const most = Math.max(...LARGE_MK.map(([M, K]) => M * K));
  codesTensor("large.T.random", fill("random", most, next));
  codesTensor("large.T.all-1", fill("all-1", 2560 * 2560, next));
  for (const sh of largeShapes()) {
    packed(`large.${tag(sh)}.random`, sh, "large.T.random");
    if (sh.M === 2560 && sh.K === 2560) packed(`large.${tag(sh)}.all-1`, sh, "large.T.all-1");
  }
  return { kvs, entries };
}

export async function writeKernelWeights(path: string): Promise<{ bytes: number }> {
  const { kvs, entries } = plan();
  const w = await GgufStreamWriter.create(path, kvs, entries.map((e) => e.info));
  try {
    for (const e of entries) await w.writeTensor(e.bytes());
    return await w.finish();
  } catch (err) {
    await w.abort();
    throw err;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = process.argv[2];
  if (!out || process.argv.length > 3) {
    console.error("usage: node dist/scripts/kernel-weights.js OUT.gguf");
    process.exit(2);
  }
  writeKernelWeights(out).then(
    (r) => console.error(`kernel-weights: wrote ${out} (${r.bytes} bytes)`),
    (e: Error) => {
      console.error(`kernel-weights: ${out}: ${e.message}`);
      process.exit(2);
    },
  );
}
