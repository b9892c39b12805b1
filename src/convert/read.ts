// Positional reads of a job's input bytes, and the output buffers handed back to the main thread.

import { closeSync, openSync, readSync } from "node:fs";
import { inputError } from "../util/errors.js";
import type { Source } from "./jobs.js";

const READ_CHUNK = 1 << 30;

let scratch = new Uint8Array(0);

/**
 * Reads a byte range. With `reuse`, into this thread's scratch buffer (valid until the next read:
 * saves the page faults of a fresh allocation per job); else into a fresh, transferable buffer.
 */
export function readSource(src: Source, reuse = false): Uint8Array {
  let out: Uint8Array;
  if (reuse) {
    if (scratch.length < src.nbytes) scratch = new Uint8Array(Math.ceil(Math.max(src.nbytes, scratch.length * 1.25) / 8) * 8);
    out = scratch.subarray(0, src.nbytes);
  } else {
    out = new Uint8Array(new ArrayBuffer(src.nbytes));
  }
  const fd = openSync(src.file, "r");
  try {
    let done = 0;
    while (done < src.nbytes) {
      const n = readSync(fd, out, done, Math.min(READ_CHUNK, src.nbytes - done), src.offset + done);
      if (n === 0) throw inputError(src.file, `unexpected end of file at byte ${src.offset + done}`);
      done += n;
    }
  } finally {
    closeSync(fd);
  }
  return out;
}

// Output buffers come back from the main thread once written (recycle()), so a steady stream of
// same-sized tensors reuses memory instead of faulting in fresh pages for every job.
const RECYCLE_CAP = 32 << 20; // per worker: bounded whatever the thread count
const recycled = new Map<number, ArrayBuffer[]>();
let recycledBytes = 0;

export function recycle(buffers: ArrayBuffer[]): void {
  for (const b of buffers) {
    if (recycledBytes + b.byteLength > RECYCLE_CAP) continue;
    const list = recycled.get(b.byteLength) ?? [];
    list.push(b);
    recycled.set(b.byteLength, list);
    recycledBytes += b.byteLength;
  }
}

/** An output buffer of exactly n bytes (its own ArrayBuffer, so it can be transferred); contents undefined. */
export function outputBuffer(n: number): Uint8Array {
  const b = recycled.get(n)?.pop();
  if (b === undefined) return new Uint8Array(n);
  recycledBytes -= n;
  return new Uint8Array(b);
}

export const u16 = (b: Uint8Array) => new Uint16Array(b.buffer, b.byteOffset, b.byteLength >>> 1);
export const f32 = (b: Uint8Array) => new Float32Array(b.buffer, b.byteOffset, b.byteLength >>> 2);
export const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
