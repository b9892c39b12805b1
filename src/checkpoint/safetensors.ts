// safetensors reader with positional reads only: checkpoints exceed Node's 4 GiB buffer and
// fs.readFile's 2 GiB limits, so nothing here ever reads a whole file.
// Format: u64 LE header length N, N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]},
// "__metadata__": {string: string}}, then the data; offsets are relative to byte 8 + N.
import type { FileHandle } from "node:fs/promises";
import { inputError } from "../util/errors.js";
import { openInput } from "../util/files.js";
import { printable } from "../util/printable.js";

export type StDtype = "F64" | "F32" | "F16" | "BF16" | "I64" | "I32" | "I16" | "I8" | "U8" | "BOOL";

export interface StTensor {
  name: string;
  dtype: StDtype;
  shape: number[];
  file: string;
  /** absolute byte offset of the tensor's first byte in `file` */
  dataOffset: number;
  nbytes: number;
}

export interface StHeader {
  file: string;
  fileSize: number;
  headerLength: number;
  tensors: StTensor[];
  metadata: Record<string, string>;
}

export const DTYPE_SIZE: Readonly<Record<StDtype, number>> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
};

/** Headers of real checkpoints are tens of kB; anything near this is corruption, not a model. */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

/** fs.read takes at most 2 GiB - 1 per call. */
const MAX_READ_CHUNK = 1 << 30;

export function isStDtype(s: unknown): s is StDtype {
  return typeof s === "string" && Object.prototype.hasOwnProperty.call(DTYPE_SIZE, s);
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Fills `out` from `position`, looping over short reads; throws if the file ends first. */
async function readFully(fh: FileHandle, file: string, out: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < out.length) {
    const want = Math.min(out.length - done, MAX_READ_CHUNK);
    const { bytesRead } = await fh.read(out, done, want, position + done);
    if (bytesRead === 0) {
      throw inputError(file, `unexpected end of file at byte ${position + done} (wanted ${out.length} bytes from ${position})`);
    }
    done += bytesRead;
  }
}

/** Reads and validates the header of one safetensors file. */
export async function readSafetensorsHeader(file: string): Promise<StHeader> {
  const fh = await openInput(file);
  try {
    const fileSize = (await fh.stat()).size;
    if (fileSize < 8) throw inputError(file, `not a safetensors file: ${fileSize} bytes, shorter than the 8-byte header length`);
    const lenBytes = new Uint8Array(8);
    await readFully(fh, file, lenBytes, 0);
    const headerLength = checkHeaderLength(file, new DataView(lenBytes.buffer).getBigUint64(0, true), fileSize);
    const json = new Uint8Array(headerLength);
    await readFully(fh, file, json, 8);
    return parseSafetensorsHeader(file, fileSize, headerLength, json);
  } finally {
    await fh.close();
  }
}

function checkHeaderLength(file: string, n: bigint, fileSize: number): number {
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw inputError(file, `safetensors header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte sanity limit (corrupt or not a safetensors file)`);
  }
  const len = Number(n);
  if (8 + len > fileSize) {
    throw inputError(file, `safetensors header length ${len} runs past the end of the ${fileSize}-byte file (truncated?)`);
  }
  if (len < 2) throw inputError(file, `safetensors header length ${len} is too small to hold a JSON object`);
  return len;
}

/** Pure: validates the JSON header bytes against the file size and returns the tensors in file order. */
export function parseSafetensorsHeader(file: string, fileSize: number, headerLength: number, json: Uint8Array): StHeader {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(json));
  } catch (e) {
    throw inputError(file, `safetensors header is not valid JSON (${(e as Error).message})`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw inputError(file, "safetensors header is not a JSON object");
  }
  const dataStart = 8 + headerLength;
  const dataSize = fileSize - dataStart;
  let metadata: Record<string, string> = {};
  const tensors: StTensor[] = [];
  for (const [name, entry] of Object.entries(parsed as Record<string, unknown>)) {
    if (name === "__metadata__") metadata = parseMetadata(file, entry);
    else tensors.push(parseEntry(file, name, entry, dataStart, dataSize));
  }
  tensors.sort((a, b) => a.dataOffset - b.dataOffset || a.nbytes - b.nbytes);
  checkNoOverlap(file, tensors);
  return { file, fileSize, headerLength, tensors, metadata };
}

function parseMetadata(file: string, entry: unknown): Record<string, string> {
  if (entry === null) return {};
  if (typeof entry !== "object" || Array.isArray(entry)) throw inputError(file, "safetensors __metadata__ is not an object");
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
    if (typeof v !== "string") throw inputError(file, `safetensors __metadata__ value for "${k}" is not a string`);
    out[k] = v;
  }
  return out;
}

function parseEntry(file: string, name: string, entry: unknown, dataStart: number, dataSize: number): StTensor {
  const bad = (problem: string) => inputError(file, `tensor ${printable(name)}: ${problem}`);
  if (entry === null || typeof entry !== "object" || Array.isArray(entry)) throw bad("header entry is not an object");
  const { dtype, shape, data_offsets: offs } = entry as Record<string, unknown>;
  if (!isStDtype(dtype)) {
    throw bad(`unknown dtype ${JSON.stringify(dtype)} (known: ${Object.keys(DTYPE_SIZE).join(", ")})`);
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw bad(`shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
  }
  if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0) || offs[1] < offs[0]) {
    throw bad(`data_offsets ${JSON.stringify(offs)} is not a pair [begin, end] of integers with begin <= end`);
  }
  const [begin, end] = offs as [number, number];
  const expected = numel(shape) * DTYPE_SIZE[dtype];
  if (end - begin !== expected) {
    throw bad(`data_offsets [${begin}, ${end}] span ${end - begin} bytes, but shape [${shape.join(", ")}] x ${dtype} needs ${expected}`);
  }
  if (end > dataSize) {
    throw bad(`data_offsets [${begin}, ${end}] run past the end of the data (${dataSize} bytes after the header; truncated file?)`);
  }
  return { name, dtype, shape: shape as number[], file, dataOffset: dataStart + begin, nbytes: expected };
}

/** `tensors` sorted by offset. Empty tensors occupy no bytes and cannot overlap anything. */
function checkNoOverlap(file: string, tensors: StTensor[]): void {
  let prev: StTensor | undefined;
  for (const t of tensors) {
    if (t.nbytes === 0) continue;
    if (prev && t.dataOffset < prev.dataOffset + prev.nbytes) {
      throw inputError(file, `tensors ${printable(prev.name)} and ${printable(t.name)} overlap (bytes ${t.dataOffset}..${prev.dataOffset + prev.nbytes} of the file)`);
    }
    prev = t;
  }
}

/** Positional read of bytes [byteStart, byteStart + byteLength) of the tensor's data. */
export async function readTensorBytes(t: StTensor, byteStart = 0, byteLength?: number): Promise<Uint8Array> {
  const length = byteLength ?? t.nbytes - byteStart;
  if (!Number.isSafeInteger(byteStart) || !Number.isSafeInteger(length) || byteStart < 0 || length < 0 || byteStart + length > t.nbytes) {
    throw inputError(t.file, `tensor ${printable(t.name)}: slice [${byteStart}, +${length}) is outside its ${t.nbytes} bytes`);
  }
  const out = new Uint8Array(length);
  if (length === 0) return out;
  const fh = await openInput(t.file);
  try {
    await readFully(fh, t.file, out, t.dataOffset + byteStart);
  } finally {
    await fh.close();
  }
  return out;
}
