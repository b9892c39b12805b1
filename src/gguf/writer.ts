// A streaming GGUF v3 writer (formats/gguf.md 1): the header (KVs, tensor infos with sequential offsets) is
// encoded up front from the known tensor sizes, then each tensor's bytes are appended in tensor-info
// order, each blob zero-padded to the alignment. Output goes to a temp file beside the target and is
// renamed into place only when every byte has been written and fsynced.

import { createHash } from "node:crypto";
import { promises as fsp } from "node:fs";
import { GGUF_ALIGNMENT, GgufValueType, type GgufValueTypeId } from "./types.js";
import { BitconvError } from "../util/errors.js";
import { commitTemp, discardTemp, tempPathFor } from "../util/atomic.js";

const GGUF_MAGIC = 0x46554747;
const GGUF_VERSION = 3;
const MAX_NAME_BYTES = 63;

type Scalar = number | bigint | boolean | string;

export interface GgufKv {
  key: string;
  type: GgufValueTypeId;
  value: Scalar | readonly Scalar[];
  /** element type when type is ARRAY */
  arrayType?: GgufValueTypeId;
}

const T = GgufValueType;

/** Typed KV constructors, so every key is written with the exact value type llama.cpp checks. */
export const kv = {
  u32: (key: string, value: number): GgufKv => ({ key, type: T.UINT32, value }),
  i32: (key: string, value: number): GgufKv => ({ key, type: T.INT32, value }),
  f32: (key: string, value: number): GgufKv => ({ key, type: T.FLOAT32, value }),
  u64: (key: string, value: bigint | number): GgufKv => ({ key, type: T.UINT64, value: BigInt(value) }),
  bool: (key: string, value: boolean): GgufKv => ({ key, type: T.BOOL, value }),
  str: (key: string, value: string): GgufKv => ({ key, type: T.STRING, value }),
  strArray: (key: string, value: readonly string[]): GgufKv => ({ key, type: T.ARRAY, arrayType: T.STRING, value }),
  u8Array: (key: string, value: ArrayLike<number>): GgufKv => ({ key, type: T.ARRAY, arrayType: T.UINT8, value: Array.from(value) }),
  i32Array: (key: string, value: readonly number[]): GgufKv => ({ key, type: T.ARRAY, arrayType: T.INT32, value }),
  u32Array: (key: string, value: readonly number[]): GgufKv => ({ key, type: T.ARRAY, arrayType: T.UINT32, value }),
  f32Array: (key: string, value: readonly number[]): GgufKv => ({ key, type: T.ARRAY, arrayType: T.FLOAT32, value }),
};

export interface GgufTensorInfo {
  name: string;
  /** GGML order: ne[0] is the row length */
  ne: readonly number[];
  /** ggml type id */
  type: number;
  /** exact data size in bytes (before padding) */
  nbytes: number;
}

export interface GgufLayout {
  header: Uint8Array;
  /** data-section-relative offset of each tensor, in tensor order */
  offsets: number[];
  /** absolute offset of the data section */
  dataStart: number;
  fileSize: number;
  alignment: number;
  /** key -> header offset of its value (for arrays: of the element type word) */
  valueOffsets: Map<string, number>;
}

export const padTo = (n: number, align: number): number => Math.ceil(n / align) * align;

const SCALAR_SIZE: Partial<Record<number, number>> = {
  [T.UINT8]: 1, [T.INT8]: 1, [T.UINT16]: 2, [T.INT16]: 2, [T.UINT32]: 4, [T.INT32]: 4,
  [T.FLOAT32]: 4, [T.BOOL]: 1, [T.UINT64]: 8, [T.INT64]: 8, [T.FLOAT64]: 8,
};

const utf8Length = (s: string): number => Buffer.byteLength(s, "utf8");

function valueSize(type: number, value: Scalar): number {
  if (type === T.STRING) return 8 + utf8Length(String(value));
  const n = SCALAR_SIZE[type];
  if (n === undefined) throw new BitconvError(`GGUF writer: unsupported value type ${type}`);
  return n;
}

function kvSize(e: GgufKv): number {
  let n = 8 + utf8Length(e.key) + 4;
  if (e.type === T.ARRAY) {
    if (e.arrayType === undefined || e.arrayType === T.ARRAY) throw new BitconvError(`GGUF writer: ${e.key}: bad array element type`);
    const arr = e.value as readonly Scalar[];
    n += 4 + 8;
    if (e.arrayType === T.STRING) for (const s of arr) n += valueSize(T.STRING, s);
    else n += arr.length * valueSize(e.arrayType, 0);
  } else {
    n += valueSize(e.type, e.value as Scalar);
  }
  return n;
}

class ByteWriter {
  private pos = 0;
  private readonly view: DataView;
  private readonly buf: Buffer;
  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  get offset(): number {
    return this.pos;
  }
  u32(v: number): void {
    this.view.setUint32(this.pos, v, true);
    this.pos += 4;
  }
  u64(v: number | bigint): void {
    this.view.setBigUint64(this.pos, BigInt(v), true);
    this.pos += 8;
  }
  string(s: string): void {
    const n = utf8Length(s);
    this.u64(n);
    // Buffer.write encodes straight into the header (no intermediate array per string)
    if (this.buf.write(s, this.pos, n, "utf8") !== n) throw new Error("GGUF writer: string encoding mismatch");
    this.pos += n;
  }
  scalar(type: number, v: Scalar): void {
    const dv = this.view;
    const p = this.pos;
    switch (type) {
      case T.UINT8: dv.setUint8(p, Number(v)); break;
      case T.INT8: dv.setInt8(p, Number(v)); break;
      case T.UINT16: dv.setUint16(p, Number(v), true); break;
      case T.INT16: dv.setInt16(p, Number(v), true); break;
      case T.UINT32: dv.setUint32(p, Number(v), true); break;
      case T.INT32: dv.setInt32(p, Number(v), true); break;
      case T.FLOAT32: dv.setFloat32(p, Number(v), true); break;
      case T.BOOL: dv.setUint8(p, v ? 1 : 0); break;
      case T.UINT64: dv.setBigUint64(p, BigInt(v), true); break;
      case T.INT64: dv.setBigInt64(p, BigInt(v), true); break;
      case T.FLOAT64: dv.setFloat64(p, Number(v), true); break;
      case T.STRING: this.string(String(v)); return;
      default: throw new BitconvError(`GGUF writer: unsupported value type ${type}`);
    }
    this.pos += SCALAR_SIZE[type]!;
  }
}

function checkScalar(key: string, type: number, v: Scalar): void {
  const bad = (why: string) => new BitconvError(`GGUF writer: key ${key}: ${why}`);
  const int = (lo: number, hi: number) => {
    if (typeof v !== "number" || !Number.isInteger(v) || v < lo || v > hi) throw bad(`${String(v)} is not an integer in [${lo}, ${hi}]`);
  };
  switch (type) {
    case T.UINT8: return int(0, 0xff);
    case T.INT8: return int(-0x80, 0x7f);
    case T.UINT16: return int(0, 0xffff);
    case T.INT16: return int(-0x8000, 0x7fff);
    case T.UINT32: return int(0, 0xffffffff);
    case T.INT32: return int(-0x80000000, 0x7fffffff);
    case T.FLOAT32:
    case T.FLOAT64:
      if (typeof v !== "number") throw bad("not a number");
      return;
    case T.BOOL:
      if (typeof v !== "boolean") throw bad("not a boolean");
      return;
    case T.STRING:
      if (typeof v !== "string") throw bad("not a string");
      return;
    case T.UINT64:
    case T.INT64:
      if (typeof v !== "bigint") throw bad("not a bigint");
      return;
  }
}

/** Encodes the header (magic .. padding before the data section) and computes every tensor offset. */
export function encodeGgufHeader(
  kvs: readonly GgufKv[],
  tensors: readonly GgufTensorInfo[],
  alignment = GGUF_ALIGNMENT,
): GgufLayout {
  const keys = new Set<string>();
  for (const e of kvs) {
    if (!e.key) throw new BitconvError("GGUF writer: empty key");
    if (keys.has(e.key)) throw new BitconvError(`GGUF writer: duplicate key ${e.key}`);
    keys.add(e.key);
    if (e.type === T.ARRAY) for (const v of e.value as readonly Scalar[]) checkScalar(e.key, e.arrayType!, v);
    else checkScalar(e.key, e.type, e.value as Scalar);
  }
  const names = new Set<string>();
  for (const t of tensors) {
    const len = utf8Length(t.name);
    if (len === 0 || len > MAX_NAME_BYTES) throw new BitconvError(`GGUF writer: tensor name "${t.name}" must be 1..${MAX_NAME_BYTES} bytes`);
    if (names.has(t.name)) throw new BitconvError(`GGUF writer: duplicate tensor ${t.name}`);
    names.add(t.name);
    if (t.ne.length < 1 || t.ne.length > 4) throw new BitconvError(`GGUF writer: tensor ${t.name} has ${t.ne.length} dimensions (1..4)`);
    if (!Number.isSafeInteger(t.nbytes) || t.nbytes < 0) throw new BitconvError(`GGUF writer: tensor ${t.name} has bad size ${t.nbytes}`);
  }
  let size = 24;
  for (const e of kvs) size += kvSize(e);
  for (const t of tensors) size += 8 + utf8Length(t.name) + 4 + 8 * t.ne.length + 4 + 8;
  const dataStart = padTo(size, alignment);
  const w = new ByteWriter(new Uint8Array(dataStart));
  w.u32(GGUF_MAGIC);
  w.u32(GGUF_VERSION);
  w.u64(tensors.length);
  w.u64(kvs.length);
  const valueOffsets = new Map<string, number>();
  for (const e of kvs) {
    w.string(e.key);
    w.u32(e.type);
    valueOffsets.set(e.key, w.offset);
    if (e.type === T.ARRAY) {
      const arr = e.value as readonly Scalar[];
      w.u32(e.arrayType!);
      w.u64(arr.length);
      for (const v of arr) w.scalar(e.arrayType!, v);
    } else {
      w.scalar(e.type, e.value as Scalar);
    }
  }
  const offsets: number[] = [];
  let next = 0;
  for (const t of tensors) {
    w.string(t.name);
    w.u32(t.ne.length);
    for (const n of t.ne) w.u64(n);
    w.u32(t.type);
    w.u64(next);
    offsets.push(next);
    next += padTo(t.nbytes, alignment);
  }
  if (w.offset !== size) throw new Error(`GGUF writer: header size ${w.offset} != computed ${size}`);
  return { header: w.bytes, offsets, dataStart, fileSize: dataStart + next, alignment, valueOffsets };
}

const FLUSH_AT = 8 << 20;

/**
 * Appends tensor data in tensor-info order to a temp file: write() takes any number of pieces per
 * tensor and pads each tensor to the alignment once its declared size is reached. The header can be
 * rewritten at the end (same length: fixed-size placeholders), e.g. with input hashes computed
 * while the data streamed. finish() fsyncs and renames onto the target.
 */
export class GgufStreamWriter {
  private index = 0;
  private inTensor = 0;
  private written = 0;
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private closed = false;

  private constructor(
    readonly target: string,
    readonly tempPath: string,
    private readonly fh: fsp.FileHandle,
    readonly layout: GgufLayout,
    private readonly tensors: readonly GgufTensorInfo[],
  ) {}

  /** Called with the chunks of each completed write, once the file has them (buffer reuse). */
  onWritten: ((chunks: Uint8Array[]) => void) | undefined;

  static async create(target: string, kvs: readonly GgufKv[], tensors: readonly GgufTensorInfo[]): Promise<GgufStreamWriter> {
    const layout = encodeGgufHeader(kvs, tensors);
    const tmp = tempPathFor(target);
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(tmp, "wx");
    } catch (e) {
      discardTemp(tmp);
      throw new BitconvError(`${target}: cannot create the output file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    const w = new GgufStreamWriter(target, tmp, fh, layout, tensors);
    await w.append(layout.header);
    w.skipEmpty();
    return w;
  }

  /** Name of the tensor the next bytes belong to. */
  get nextTensor(): string | undefined {
    return this.tensors[this.index]?.name;
  }

  private skipEmpty(): void {
    while (this.index < this.tensors.length && this.tensors[this.index].nbytes === 0) this.index++;
  }

  /** Appends bytes of the current tensor; a piece may not run past the tensor's declared size. */
  async write(bytes: Uint8Array): Promise<void> {
    const info = this.tensors[this.index];
    if (!info) throw new Error("GGUF writer: more data than the declared tensors hold");
    if (this.inTensor + bytes.length > info.nbytes) {
      throw new Error(`GGUF writer: tensor ${info.name} gets ${this.inTensor + bytes.length} bytes, declared ${info.nbytes}`);
    }
    const n = bytes.length; // read before append: a flush may hand the buffer on (onWritten)
    await this.append(bytes);
    this.inTensor += n;
    if (this.inTensor === info.nbytes) {
      const pad = padTo(info.nbytes, this.layout.alignment) - info.nbytes;
      if (pad > 0) await this.append(new Uint8Array(pad));
      this.index++;
      this.inTensor = 0;
      this.skipEmpty();
    }
  }

  /** Writes a whole tensor (or several pieces adding up to it). */
  async writeTensor(chunks: Uint8Array | readonly Uint8Array[]): Promise<void> {
    const name = this.nextTensor;
    const list = chunks instanceof Uint8Array ? [chunks] : chunks;
    for (const c of list) await this.write(c);
    if (this.inTensor !== 0 || this.nextTensor === name) throw new Error(`GGUF writer: tensor ${name} is incomplete`);
  }

  private async append(bytes: Uint8Array): Promise<void> {
    const n = bytes.length;
    if (n === 0) return;
    this.pending.push(bytes);
    this.pendingBytes += n;
    this.written += n;
    if (this.pendingBytes >= FLUSH_AT) await this.flush();
  }

  private async flush(): Promise<void> {
    if (this.pendingBytes === 0) return;
    const written = this.pending;
    let rest = written;
    this.pending = [];
    this.pendingBytes = 0;
    // writev writes all the chunks in one call; loop in case the kernel takes only part of them
    while (rest.length > 0) {
      const { bytesWritten } = await this.fh.writev(rest);
      let left = bytesWritten;
      const next: Uint8Array[] = [];
      for (const b of rest) {
        if (left >= b.length) left -= b.length;
        else {
          next.push(b.subarray(left));
          left = 0;
        }
      }
      rest = next;
    }
    this.onWritten?.(written);
  }

  /** Replaces the header (same kvs shape, e.g. hashes filled in); must encode to the same bytes length. */
  async patchHeader(kvs: readonly GgufKv[]): Promise<void> {
    const layout = encodeGgufHeader(kvs, this.tensors, this.layout.alignment);
    if (layout.header.length !== this.layout.header.length) {
      throw new Error(`GGUF writer: patched header is ${layout.header.length} bytes, the written one ${this.layout.header.length}`);
    }
    await this.flush();
    let done = 0;
    while (done < layout.header.length) {
      const { bytesWritten } = await this.fh.write(layout.header, done, layout.header.length - done, done);
      done += bytesWritten;
    }
  }

  /** Overwrites bytes inside the already written header (fixed-size placeholders, e.g. hashes). */
  async patchBytes(offset: number, bytes: Uint8Array): Promise<void> {
    if (offset < 0 || offset + bytes.length > this.layout.header.length) throw new Error("GGUF writer: patch outside the header");
    await this.flush();
    let done = 0;
    while (done < bytes.length) {
      const { bytesWritten } = await this.fh.write(bytes, done, bytes.length - done, offset + done);
      done += bytesWritten;
    }
  }

  /** Flushes, checks the size, fsyncs and renames onto the target. */
  async finish(): Promise<{ bytes: number }> {
    if (this.index !== this.tensors.length) {
      throw new Error(`GGUF writer: ${this.tensors.length - this.index} tensors not written (next: ${this.nextTensor})`);
    }
    await this.flush();
    if (this.written !== this.layout.fileSize) throw new Error(`GGUF writer: wrote ${this.written} bytes, expected ${this.layout.fileSize}`);
    await this.fh.sync();
    await this.fh.close();
    this.closed = true;
    commitTemp(this.tempPath, this.target);
    return { bytes: this.written };
  }

  /** Closes and removes the temp file; nothing is left at the target. */
  async abort(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      await this.fh.close().catch(() => undefined);
    }
    discardTemp(this.tempPath);
  }
}

/** Header offsets of the bytes of each element of an ARRAY<STRING> key (after each length word). */
export function stringElementOffsets(layout: GgufLayout, key: string, values: readonly string[]): number[] {
  const start = layout.valueOffsets.get(key);
  if (start === undefined) throw new Error(`GGUF writer: no key ${key}`);
  let pos = start + 4 + 8; // element type, count
  return values.map((v) => {
    const at = pos + 8;
    pos = at + utf8Length(v);
    return at;
  });
}

/** sha256 of a whole file, streamed. */
export async function sha256File(path: string): Promise<string> {
  const h = createHash("sha256");
  const fh = await fsp.open(path, "r");
  try {
    const buf = new Uint8Array(16 << 20);
    let pos = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) break;
      h.update(buf.subarray(0, bytesRead));
      pos += bytesRead;
    }
  } finally {
    await fh.close();
  }
  return h.digest("hex");
}
