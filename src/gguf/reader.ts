// A strict GGUF reader (formats/gguf.md sections 1, 2 and 5) with positional reads: only the header is read
// into memory, through a small sliding buffer, so files of any size (> 4 GiB too) open in constant
// memory. Tensor data is read on demand by readTensorData. Every malformed, truncated or hostile file
// gives a BitconvError "<file>: <problem>" (exit 2): counts are checked against the bytes that remain
// before anything is allocated, so no input can make the reader allocate much more than the file holds
// or loop for long.
//
// Value representation in `kv`:
//   - UINT8..INT32, FLOAT32, FLOAT64: number; BOOL: boolean; STRING: string (UTF-8, invalid sequences
//     replaced by U+FFFD, with a warning).
//   - UINT64 / INT64: number when the value is a safe integer (|v| <= 2^53 - 1), else bigint.
//   - ARRAY: a JS array of the element values above; `subType` holds the element type.
//
// Type ids 36..39 are ambiguous (formats/gguf.md 2.2): in Microsoft's bitnet.cpp fork 36 = I2_S, 38 = TL1,
// 39 = TL2; upstream rejects 36..38 (removed types) and reads 39 as MXFP4. The reader takes the fork's
// meaning when the file says it is a fork file: `bitconv.layout` is i2_s/tl1/tl2, or
// `general.architecture` is bitnet-b1.58 / bitnet-25, or a tensor has type 36 or 38 (which only the
// fork can mean). Otherwise 39 is MXFP4. `typeContext` / `typeContextReason` say which and why.

import { promises as fsp } from "node:fs";
import { LAYOUTS, type LayoutName } from "../layouts/index.js";
import { BitconvError, inputError } from "../util/errors.js";
import { describeFsError, openInput } from "../util/files.js";
import { printable } from "../util/printable.js";
import { GgufValueType } from "./types.js";

export interface GgufKvEntry {
  /** GGUF value type id (formats/gguf.md 1.1) */
  type: number;
  value: unknown;
  /** element type id when type is ARRAY */
  subType?: number;
}

export interface GgufTensor {
  name: string;
  /** GGML order, ne[0] = row length (K for a weight matrix); always n_dims entries */
  ne: number[];
  /** raw ggml type id as stored */
  type: number;
  /** the type's name in this file's context (e.g. "TQ2_0", "I2_S", "TL2", "MXFP4") */
  typeName: string;
  /** offset relative to the data section, as stored */
  offset: number;
  /** absolute file offset of the first data byte */
  dataOffset: number;
  /** exact data size (the fork's special sizes for I2_S / TL1 / TL2) */
  nbytes: number;
  /** number of elements */
  nelements: number;
}

export type GgufTypeContext = "upstream" | "fork";

export interface GgufFile {
  path: string;
  /** 2 or 3 */
  version: number;
  alignment: number;
  kv: Map<string, GgufKvEntry>;
  tensors: GgufTensor[];
  /** absolute offset of the data section */
  dataStart: number;
  fileSize: number;
  /** "fork": ids 36/38/39 mean I2_S/TL1/TL2 (bitnet.cpp); "upstream": 39 means MXFP4 */
  typeContext: GgufTypeContext;
  typeContextReason: string;
  /** non-fatal oddities (a foreign file's quirks); empty for a clean file */
  warnings: string[];
}

export interface ReadGgufOptions {
  /**
   * Offsets that break llama.cpp's sequential padded rule (formats/gguf.md 1.2) are an error when true, a
   * warning when false. Default: an error for files bitconv wrote (a `bitconv.version` key), a warning
   * for foreign files. Data past the end of the file is always an error.
   */
  strictOffsets?: boolean;
}

interface TypeInfo {
  name: string;
  block: number;
  bytes: number;
  /** a ternary layout: its module's size rule (src/layouts) */
  layout?: LayoutName;
}

/** Upstream ggml types (formats/gguf.md 2.1). Removed ids (4, 5, 31..33, 36..38) are absent. */
const UPSTREAM_TYPES: Record<number, TypeInfo> = {
  0: { name: "F32", block: 1, bytes: 4 },
  1: { name: "F16", block: 1, bytes: 2 },
  2: { name: "Q4_0", block: 32, bytes: 18 },
  3: { name: "Q4_1", block: 32, bytes: 20 },
  6: { name: "Q5_0", block: 32, bytes: 22 },
  7: { name: "Q5_1", block: 32, bytes: 24 },
  8: { name: "Q8_0", block: 32, bytes: 34 },
  9: { name: "Q8_1", block: 32, bytes: 36 },
  10: { name: "Q2_K", block: 256, bytes: 84 },
  11: { name: "Q3_K", block: 256, bytes: 110 },
  12: { name: "Q4_K", block: 256, bytes: 144 },
  13: { name: "Q5_K", block: 256, bytes: 176 },
  14: { name: "Q6_K", block: 256, bytes: 210 },
  15: { name: "Q8_K", block: 256, bytes: 292 },
  16: { name: "IQ2_XXS", block: 256, bytes: 66 },
  17: { name: "IQ2_XS", block: 256, bytes: 74 },
  18: { name: "IQ3_XXS", block: 256, bytes: 98 },
  19: { name: "IQ1_S", block: 256, bytes: 50 },
  20: { name: "IQ4_NL", block: 32, bytes: 18 },
  21: { name: "IQ3_S", block: 256, bytes: 110 },
  22: { name: "IQ2_S", block: 256, bytes: 82 },
  23: { name: "IQ4_XS", block: 256, bytes: 136 },
  24: { name: "I8", block: 1, bytes: 1 },
  25: { name: "I16", block: 1, bytes: 2 },
  26: { name: "I32", block: 1, bytes: 4 },
  27: { name: "I64", block: 1, bytes: 8 },
  28: { name: "F64", block: 1, bytes: 8 },
  29: { name: "IQ1_M", block: 256, bytes: 56 },
  30: { name: "BF16", block: 1, bytes: 2 },
  34: { name: "TQ1_0", block: 256, bytes: 54, layout: "tq1_0" },
  35: { name: "TQ2_0", block: 256, bytes: 66, layout: "tq2_0" },
  39: { name: "MXFP4", block: 32, bytes: 17 },
  40: { name: "NVFP4", block: 64, bytes: 36 },
  41: { name: "Q1_0", block: 128, bytes: 18 },
  42: { name: "Q2_0", block: 64, bytes: 18 },
};

/** The bitnet.cpp fork's table: upstream up to TQ2_0, then its own 36..39 (37 = I8_S is never stored). */
const FORK_TYPES: Record<number, TypeInfo> = {
  ...Object.fromEntries(Object.entries(UPSTREAM_TYPES).filter(([id]) => Number(id) <= 35)),
  36: { name: "I2_S", block: 1, bytes: 1, layout: "i2_s" },
  38: { name: "TL1", block: 1, bytes: 1, layout: "tl1" },
  39: { name: "TL2", block: 1, bytes: 1, layout: "tl2" },
};

/** The type table of a context: name, block size, and the ternary layout of the ids that have one. */
export function ggufTypeInfo(type: number, context: GgufTypeContext): TypeInfo | undefined {
  const table = context === "fork" ? FORK_TYPES : UPSTREAM_TYPES;
  return Object.hasOwn(table, type) ? table[type] : undefined;
}

const REMOVED_TYPES: Record<number, string> = {
  4: "Q4_2 (removed)",
  5: "Q4_3 (removed)",
  31: "Q4_0_4_4 (removed)",
  32: "Q4_0_4_8 (removed)",
  33: "Q4_0_8_8 (removed)",
  36: "IQ4_NL_4_4 (removed upstream; I2_S in bitnet.cpp)",
  37: "IQ4_NL_4_8 (removed upstream; I8_S in bitnet.cpp, never stored)",
  38: "IQ4_NL_8_8 (removed upstream; TL1 in bitnet.cpp)",
};

const T = GgufValueType;
const SCALAR_BYTES: Record<number, number> = {
  [T.UINT8]: 1, [T.INT8]: 1, [T.UINT16]: 2, [T.INT16]: 2, [T.UINT32]: 4, [T.INT32]: 4,
  [T.FLOAT32]: 4, [T.BOOL]: 1, [T.UINT64]: 8, [T.INT64]: 8, [T.FLOAT64]: 8,
};
const VALUE_TYPE_NAMES = ["UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32", "BOOL", "STRING", "ARRAY", "UINT64", "INT64", "FLOAT64"];
export const ggufValueTypeName = (t: number): string => VALUE_TYPE_NAMES[t] ?? `type ${t}`;

const MAGIC = 0x46554747; // "GGUF" little-endian
const MAX_NAME_BYTES = 63;
const MAX_DIMS = 4;
/** No sane key, name or value string is this long; refusing it bounds the allocation per string. */
const MAX_STRING_BYTES = 256 << 20;
const CHUNK = 1 << 20;
const MAX_WARNINGS = 50;

const utf8 = new TextDecoder("utf-8", { fatal: false });
const utf8Strict = new TextDecoder("utf-8", { fatal: true });

class Problem extends Error {}

/** Sequential reads over a file handle through a sliding buffer; every read is bounds-checked. */
class HeaderReader {
  private buf = Buffer.alloc(0);
  private bufStart = 0;
  pos = 0;
  constructor(private readonly fh: fsp.FileHandle, readonly size: number) {}

  get remaining(): number {
    return this.size - this.pos;
  }

  private async ensure(n: number, what: string): Promise<void> {
    if (n > this.remaining) {
      throw new Problem(`truncated: ${what} at offset ${this.pos} needs ${n} bytes, the file has ${this.remaining} left`);
    }
    if (this.pos >= this.bufStart && this.pos + n <= this.bufStart + this.buf.length) return;
    const want = Math.min(Math.max(n, CHUNK), this.remaining);
    const buf = Buffer.allocUnsafe(want);
    let got = 0;
    while (got < want) {
      const { bytesRead } = await this.fh.read(buf, got, want - got, this.pos + got);
      if (bytesRead === 0) throw new Problem(`truncated: the file ended at ${this.pos + got} while reading ${what} (it changed while being read?)`);
      got += bytesRead;
    }
    this.buf = buf;
    this.bufStart = this.pos;
  }

  private at(): number {
    return this.pos - this.bufStart;
  }

  async u32(what: string): Promise<number> {
    await this.ensure(4, what);
    const v = this.buf.readUInt32LE(this.at());
    this.pos += 4;
    return v;
  }

  /** u64 as bigint */
  async u64(what: string): Promise<bigint> {
    await this.ensure(8, what);
    const v = this.buf.readBigUInt64LE(this.at());
    this.pos += 8;
    return v;
  }

  async bytes(n: number, what: string): Promise<Buffer> {
    await this.ensure(n, what);
    const b = this.buf.subarray(this.at(), this.at() + n);
    this.pos += n;
    return b;
  }

  /** A gguf-string decoded from the buffer without awaiting, or undefined when it is not all buffered. */
  stringSync(onBadUtf8: () => void): string | undefined {
    const o = this.pos - this.bufStart;
    if (o < 0 || o + 8 > this.buf.length) return undefined;
    const len = this.buf.readBigUInt64LE(o);
    if (len > BigInt(this.buf.length - o - 8)) return undefined;
    const b = this.buf.subarray(o + 8, o + 8 + Number(len));
    this.pos += 8 + b.length;
    try {
      return utf8Strict.decode(b);
    } catch {
      onBadUtf8();
      return utf8.decode(b);
    }
  }

  /** A gguf-string; `onBadUtf8` is told when the bytes are not valid UTF-8. */
  async string(what: string, onBadUtf8?: () => void): Promise<string> {
    const start = this.pos;
    const len = await this.u64(`the length of ${what}`);
    if (len > BigInt(this.remaining)) {
      throw new Problem(`${what} at offset ${start} claims ${len} bytes, only ${this.remaining} remain in the file`);
    }
    if (len > BigInt(MAX_STRING_BYTES)) throw new Problem(`${what} at offset ${start} claims ${len} bytes (implausible, limit ${MAX_STRING_BYTES})`);
    const b = await this.bytes(Number(len), what);
    if (onBadUtf8) {
      try {
        return utf8Strict.decode(b);
      } catch {
        onBadUtf8();
      }
    }
    return utf8.decode(b);
  }

  async scalar(type: number, what: string): Promise<unknown> {
    const n = SCALAR_BYTES[type];
    await this.ensure(n, what);
    const o = this.at();
    this.pos += n;
    return decodeScalar(this.buf, o, type);
  }
}

function decodeScalar(b: Buffer, o: number, type: number): unknown {
    switch (type) {
      case T.UINT8: return b.readUInt8(o);
      case T.INT8: return b.readInt8(o);
      case T.UINT16: return b.readUInt16LE(o);
      case T.INT16: return b.readInt16LE(o);
      case T.UINT32: return b.readUInt32LE(o);
      case T.INT32: return b.readInt32LE(o);
      case T.FLOAT32: return b.readFloatLE(o);
      case T.FLOAT64: return b.readDoubleLE(o);
      case T.BOOL: return b.readUInt8(o);
      case T.UINT64: return safeNumber(b.readBigUInt64LE(o));
      case T.INT64: return safeNumber(b.readBigInt64LE(o));
    }
    throw new Problem(`internal: scalar type ${type}`);
}

const safeNumber = (v: bigint): number | bigint =>
  v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;

const pad = (n: number, a: number): number => Math.ceil(n / a) * a;

/** The exact data size of a tensor, or a problem. */
function tensorNbytes(ne: number[], info: TypeInfo): { nbytes: number } | { problem: string } {
  const n = ne.reduce((a, b) => a * b, 1);
  if (info.layout !== undefined) {
    const K = ne[0];
    const size = LAYOUTS[info.layout].fileNbytes(K === 0 ? 0 : n / K, K);
    return typeof size === "string" ? { problem: size } : { nbytes: size };
  }
  if (ne[0] % info.block !== 0) {
    return { problem: `ne[0] = ${ne[0]} is not a multiple of ${info.name}'s block size ${info.block}` };
  }
  return { nbytes: (n / info.block) * info.bytes };
}

/** Reads and validates the header of a GGUF file. */
export async function readGguf(path: string, opts: ReadGgufOptions = {}): Promise<GgufFile> {
  const fh = await openInput(path);
  try {
    const st = await fh.stat();
    return await parse(path, fh, st.size, opts);
  } catch (e) {
    if (e instanceof Problem) throw inputError(path, e.message);
    if (e instanceof BitconvError) throw e;
    throw inputError(path, describeFsError(e));
  } finally {
    await fh.close();
  }
}

type Warn = (w: string) => void;

/** Magic, version and the two counts, each checked against the bytes the file has. */
async function readPreamble(r: HeaderReader, fh: fsp.FileHandle, fileSize: number, warn: Warn): Promise<{ version: number; nKv: number; nTensors: number }> {
  if (fileSize === 0) throw new Problem("empty file, not a GGUF file");
  if (fileSize < 4) throw new Problem(`${fileSize} bytes, too short for a GGUF file`);
  const magic = await r.u32("the magic");
  if (magic !== MAGIC) {
    const head = (await fh.read(Buffer.alloc(4), 0, 4, 0)).buffer.toString("hex");
    throw new Problem(`not a GGUF file (magic bytes ${head}, expected 47475546 "GGUF")`);
  }
  const version = await r.u32("the version");
  if (version !== 0 && (version & 0xffff) === 0) throw new Problem(`version field 0x${version.toString(16)}: a big-endian GGUF (byte order mismatch), not supported`);
  if (version === 1) throw new Problem("GGUF version 1 is no longer supported (v2 and v3 are)");
  if (version !== 2 && version !== 3) throw new Problem(`unsupported GGUF version ${version} (v2 and v3 are supported)`);
  if (version === 2) warn("GGUF version 2 (current writers emit version 3)");

  const nTensorsRaw = await r.u64("the tensor count");
  const nKvRaw = await r.u64("the key-value count");
  // smallest possible KV: key length 8 + 1 byte key + type 4 + 1-byte value = 14;
  // smallest tensor info: name length 8 + 1 + n_dims 4 + type 4 + offset 8 = 25
  if (nKvRaw > 0x7fffffffffffffffn || nKvRaw * 14n > BigInt(r.remaining)) {
    throw new Problem(`key-value count ${nKvRaw} is impossible for a file of ${fileSize} bytes`);
  }
  if (nTensorsRaw > 0x7fffffffffffffffn || nTensorsRaw * 25n + nKvRaw * 14n > BigInt(r.remaining)) {
    throw new Problem(`tensor count ${nTensorsRaw} is impossible for a file of ${fileSize} bytes`);
  }
  return { version, nKv: Number(nKvRaw), nTensors: Number(nTensorsRaw) };
}

/** An ARRAY value: the element type and count are checked against the bytes left before anything is allocated. */
async function readArray(r: HeaderReader, key: string, warn: Warn): Promise<GgufKvEntry> {
  const sub = await r.u32(`the element type of "${printable(key)}"`);
  const countRaw = await r.u64(`the element count of "${printable(key)}"`);
  if (sub === T.ARRAY) throw new Problem(`key "${printable(key)}": arrays of arrays are not allowed`);
  if (sub !== T.STRING && SCALAR_BYTES[sub] === undefined) throw new Problem(`key "${printable(key)}": unknown array element type ${sub}`);
  const minElem = sub === T.STRING ? 8 : SCALAR_BYTES[sub];
  if (countRaw * BigInt(minElem) > BigInt(r.remaining)) {
    throw new Problem(`key "${printable(key)}": array of ${countRaw} ${ggufValueTypeName(sub)} does not fit in the ${r.remaining} bytes left`);
  }
  const count = Number(countRaw);
  const values: unknown[] = new Array(count);
  let badUtf8 = 0;
  let badBool = 0;
  if (sub === T.STRING) {
    const bad = () => badUtf8++;
    for (let j = 0; j < count; j++) values[j] = r.stringSync(bad) ?? (await r.string(`element ${j} of "${printable(key)}"`, bad));
  } else {
    // numeric arrays: decoded chunk by chunk from one bounds-checked read each
    const size = SCALAR_BYTES[sub];
    const per = Math.max(1, Math.floor(CHUNK / size));
    for (let j = 0; j < count; j += per) {
      const n = Math.min(per, count - j);
      const b = await r.bytes(n * size, `elements ${j}..${j + n - 1} of "${printable(key)}"`);
      for (let e = 0; e < n; e++) {
        let v = decodeScalar(b, e * size, sub);
        if (sub === T.BOOL) {
          if (v !== 0 && v !== 1) badBool++;
          v = v !== 0;
        }
        values[j + e] = v;
      }
    }
  }
  if (badUtf8) warn(`key "${printable(key)}": ${badUtf8} element(s) are not valid UTF-8`);
  if (badBool) warn(`key "${printable(key)}": ${badBool} BOOL element(s) are neither 0 nor 1`);
  return { type: T.ARRAY, value: values, subType: sub };
}

async function readKvs(r: HeaderReader, nKv: number, warn: Warn): Promise<Map<string, GgufKvEntry>> {
  const kv = new Map<string, GgufKvEntry>();
  for (let i = 0; i < nKv; i++) {
    const at = r.pos;
    const key = await r.string(`key ${i}`, () => warn(`key at offset ${at} is not valid UTF-8`));
    if (key.length === 0) throw new Problem(`key ${i} at offset ${at} is empty`);
    if (kv.has(key)) throw new Problem(`duplicate key "${printable(key)}" (key ${i}, offset ${at})`);
    const type = await r.u32(`the value type of "${printable(key)}"`);
    let entry: GgufKvEntry;
    if (type === T.ARRAY) {
      entry = await readArray(r, key, warn);
    } else if (type === T.STRING) {
      entry = { type, value: await r.string(`the value of "${printable(key)}"`, () => warn(`key "${printable(key)}": value is not valid UTF-8`)) };
    } else if (SCALAR_BYTES[type] !== undefined) {
      let v = await r.scalar(type, `the value of "${printable(key)}"`);
      if (type === T.BOOL) {
        if (v !== 0 && v !== 1) warn(`key "${printable(key)}": BOOL byte ${String(v)} is neither 0 nor 1`);
        v = v !== 0;
      }
      entry = { type, value: v };
    } else {
      throw new Problem(`key "${printable(key)}" has unknown value type ${type}`);
    }
    kv.set(key, entry);
  }
  return kv;
}

function alignmentOf(kv: Map<string, GgufKvEntry>): number {
  const al = kv.get("general.alignment");
  if (!al) return 32;
  if (al.type !== T.UINT32) throw new Problem(`general.alignment has type ${ggufValueTypeName(al.type)}, must be UINT32`);
  const a = al.value as number;
  if (a === 0 || (a & (a - 1)) !== 0) throw new Problem(`general.alignment = ${a} is not a non-zero power of two`);
  return a;
}

interface TypeContext { typeContext: GgufTypeContext; typeContextReason: string }

/** What ids 36..39 mean in this file, from its keys (the tensor types can still say "fork": forkOnlyTypes). */
function typeContextOf(kv: Map<string, GgufKvEntry>, warn: Warn): TypeContext {
  const arch = kv.get("general.architecture");
  const archName = arch?.type === T.STRING ? (arch.value as string) : undefined;
  if (!arch) warn("no general.architecture key");
  else if (arch.type !== T.STRING) warn(`general.architecture has type ${ggufValueTypeName(arch.type)}, expected STRING`);
  const layoutKv = kv.get("bitconv.layout");
  const layoutName = layoutKv?.type === T.STRING ? (layoutKv.value as string) : undefined;
  if (layoutName === "i2_s" || layoutName === "tl1" || layoutName === "tl2") {
    return { typeContext: "fork", typeContextReason: `bitconv.layout = ${layoutName}: type ids 36/38/39 are bitnet.cpp's I2_S/TL1/TL2` };
  }
  if (archName === "bitnet-b1.58" || archName === "bitnet-25") {
    return { typeContext: "fork", typeContextReason: `general.architecture = ${archName} (a bitnet.cpp architecture): type ids 36/38/39 are I2_S/TL1/TL2` };
  }
  if (layoutName !== undefined) return { typeContext: "upstream", typeContextReason: `bitconv.layout = ${layoutName}: type ids follow upstream ggml (39 = MXFP4)` };
  return { typeContext: "upstream", typeContextReason: "no sign of the bitnet.cpp fork: type ids follow upstream ggml (39 = MXFP4)" };
}

interface RawInfo { name: string; ne: number[]; type: number; offset: number; at: number }

async function readTensorInfos(r: HeaderReader, nTensors: number, fileSize: number, warn: Warn): Promise<RawInfo[]> {
  const raw: RawInfo[] = [];
  const names = new Set<string>();
  for (let i = 0; i < nTensors; i++) {
    const at = r.pos;
    const name = await r.string(`the name of tensor ${i}`, () => warn(`tensor ${i} name is not valid UTF-8`));
    const nameBytes = Buffer.byteLength(name);
    if (nameBytes === 0) throw new Problem(`tensor ${i} at offset ${at} has an empty name`);
    if (nameBytes > MAX_NAME_BYTES) throw new Problem(`tensor ${i} name "${printable(name)}" is ${nameBytes} bytes, the limit is ${MAX_NAME_BYTES}`);
    if (names.has(name)) throw new Problem(`duplicate tensor name "${printable(name)}"`);
    names.add(name);
    const nDims = await r.u32(`n_dims of "${printable(name)}"`);
    if (nDims > MAX_DIMS) throw new Problem(`tensor "${printable(name)}" has ${nDims} dimensions, at most ${MAX_DIMS} are allowed`);
    if (nDims === 0) warn(`tensor "${printable(name)}" has 0 dimensions (read as a scalar)`);
    const ne: number[] = [];
    let prod = 1n;
    for (let d = 0; d < nDims; d++) {
      const v = await r.u64(`ne[${d}] of "${printable(name)}"`);
      if (v > 0x7fffffffffffffffn) throw new Problem(`tensor "${printable(name)}" ne[${d}] = ${v} is negative as int64`);
      prod *= v;
      if (prod > BigInt(Number.MAX_SAFE_INTEGER)) throw new Problem(`tensor "${printable(name)}" has an absurd element count (ne = ${[...ne, v].join(" x ")}...)`);
      ne.push(Number(v));
    }
    const type = await r.u32(`the type of "${printable(name)}"`);
    const offRaw = await r.u64(`the offset of "${printable(name)}"`);
    if (offRaw > BigInt(fileSize)) throw new Problem(`tensor "${printable(name)}" has offset ${offRaw}, past the end of the file (${fileSize} bytes): truncated or corrupt`);
    raw.push({ name, ne, type, offset: Number(offRaw), at });
  }
  return raw;
}

/** Types 36 and 38 only exist in the fork, so a tensor of either makes the whole file a fork file. */
function forkOnlyTypes(ctx: TypeContext, raw: RawInfo[]): TypeContext {
  if (ctx.typeContext !== "upstream") return ctx;
  const forkOnly = raw.find((t) => t.type === 36 || t.type === 38);
  if (!forkOnly) return ctx;
  return {
    typeContext: "fork",
    typeContextReason: `tensor "${forkOnly.name}" has type ${forkOnly.type}, which only the bitnet.cpp fork uses (${forkOnly.type === 36 ? "I2_S" : "TL1"}): 36/38/39 read as I2_S/TL1/TL2`,
  };
}

interface Placement { dataStart: number; alignment: number; fileSize: number; strictOffsets: boolean; typeContext: GgufTypeContext }

/** Sizes and places every tensor: known type, data inside the file, llama.cpp's sequential offsets. */
function placeTensors(raw: RawInfo[], at: Placement, warn: Warn): GgufTensor[] {
  const { dataStart, alignment, fileSize, typeContext } = at;
  const tensors: GgufTensor[] = [];
  let expected = 0;
  let offsetIssue = false;
  for (const t of raw) {
    const info = ggufTypeInfo(t.type, typeContext);
    if (!info) {
      const why = REMOVED_TYPES[t.type] ?? (t.type === 37 && typeContext === "fork" ? "I8_S (an activation type, never stored)" : "unknown");
      throw new Problem(`tensor "${printable(t.name)}" has type ${t.type}: ${why} (${typeContext} type table)`);
    }
    const sz = tensorNbytes(t.ne.length ? t.ne : [1], info);
    if ("problem" in sz) throw new Problem(`tensor "${printable(t.name)}" (${info.name}, ne ${t.ne.join(" x ")}): ${sz.problem}`);
    const nbytes = sz.nbytes;
    const dataOffset = dataStart + t.offset;
    if (dataOffset + nbytes > fileSize) {
      throw new Problem(`tensor "${printable(t.name)}" data [${dataOffset}, ${dataOffset + nbytes}) runs past the end of the file (${fileSize} bytes): truncated`);
    }
    if (t.offset !== expected) {
      const msg = `tensor "${printable(t.name)}" has offset ${t.offset}, expected ${expected} (llama.cpp requires sequential, ${alignment}-padded data)`;
      if (at.strictOffsets) throw new Problem(msg);
      if (!offsetIssue) warn(msg);
      offsetIssue = true;
    }
    if (t.offset % alignment !== 0) warn(`tensor "${printable(t.name)}" offset ${t.offset} is not a multiple of the alignment ${alignment}`);
    expected = t.offset + pad(nbytes, alignment);
    tensors.push({ name: t.name, ne: t.ne, type: t.type, typeName: info.name, offset: t.offset, dataOffset, nbytes, nelements: t.ne.reduce((a, b) => a * b, 1) });
  }
  if (offsetIssue) {
    // non-sequential data: at least make sure no two tensors overlap
    const sorted = [...tensors].sort((a, b) => a.offset - b.offset);
    for (let i = 1; i < sorted.length; i++) {
      const prev = sorted[i - 1];
      if (sorted[i].offset < prev.offset + prev.nbytes) warn(`tensors "${prev.name}" and "${sorted[i].name}" overlap`);
    }
  } else if (tensors.length > 0) {
    const end = dataStart + expected;
    if (fileSize > end) warn(`${fileSize - end} bytes after the last tensor's padded data`);
  }
  return tensors;
}

async function parse(path: string, fh: fsp.FileHandle, fileSize: number, opts: ReadGgufOptions): Promise<GgufFile> {
  const r = new HeaderReader(fh, fileSize);
  const warnings: string[] = [];
  const warn: Warn = (w) => {
    if (warnings.length < MAX_WARNINGS) warnings.push(w);
    else if (warnings.length === MAX_WARNINGS) warnings.push("(more warnings left out)");
  };
  const { version, nKv, nTensors } = await readPreamble(r, fh, fileSize, warn);
  const kv = await readKvs(r, nKv, warn);
  const alignment = alignmentOf(kv);
  const keysContext = typeContextOf(kv, warn);
  const raw = await readTensorInfos(r, nTensors, fileSize, warn);
  const { typeContext, typeContextReason } = forkOnlyTypes(keysContext, raw);
  const dataStart = pad(r.pos, alignment);
  if (nTensors > 0 && dataStart > fileSize) {
    throw new Problem(`truncated: the data section would start at ${dataStart}, the file has ${fileSize} bytes`);
  }
  const strictOffsets = opts.strictOffsets ?? kv.has("bitconv.version");
  const tensors = placeTensors(raw, { dataStart, alignment, fileSize, strictOffsets, typeContext }, warn);
  return { path, version, alignment, kv, tensors, dataStart, fileSize, typeContext, typeContextReason, warnings };
}

/**
 * Reads `len` bytes of a tensor's data starting `start` bytes into it (default: the whole tensor).
 * One positional read; the allocation is exactly `len` bytes.
 */
export async function readTensorData(file: GgufFile, tensor: GgufTensor, start = 0, len?: number): Promise<Uint8Array> {
  const n = len ?? tensor.nbytes - start;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(n) || start < 0 || n < 0 || start + n > tensor.nbytes) {
    throw new BitconvError(`${file.path}: tensor "${tensor.name}": range [${start}, ${start}+${n}) is outside its ${tensor.nbytes} bytes`);
  }
  const out = Buffer.alloc(n);
  const fh = await openInput(file.path);
  try {
    let got = 0;
    while (got < n) {
      const { bytesRead } = await fh.read(out, got, n - got, tensor.dataOffset + start + got);
      if (bytesRead === 0) throw inputError(file.path, `tensor "${tensor.name}": the file ended early (changed since it was opened?)`);
      got += bytesRead;
    }
  } finally {
    await fh.close();
  }
  return new Uint8Array(out.buffer, out.byteOffset, n);
}

/** The value of a key, or undefined. */
export function ggufValue(file: GgufFile, key: string): unknown {
  return file.kv.get(key)?.value;
}
