// A streaming safetensors writer for tests and the benchmark: header first, then each tensor's bytes
// produced in slabs by a callback, so a multi-GB file never sits in memory.
import { promises as fsp } from "node:fs";
import { DTYPE_SIZE, numel, type StDtype } from "../../src/checkpoint/safetensors.js";

export interface TensorSource {
  name: string;
  dtype: StDtype;
  shape: number[];
  /**
   * The tensor's bytes for elements [elemStart, elemStart + count), little-endian. Called in order,
   * slab after slab, so a generator may keep state between calls.
   */
  produce(elemStart: number, count: number): Uint8Array;
}

export interface WriteOptions {
  metadata?: Record<string, string>;
  /** elements per produce() call (default: about 4 MiB worth) */
  slabBytes?: number;
}

/** The header JSON (data_offsets in the given order), padded with spaces to a multiple of 8 as the Python writer does. */
export function safetensorsHeader(sources: readonly Pick<TensorSource, "name" | "dtype" | "shape">[], metadata?: Record<string, string>): { json: Uint8Array; dataBytes: number } {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const s of sources) {
    const n = numel(s.shape) * DTYPE_SIZE[s.dtype];
    header[s.name] = { dtype: s.dtype, shape: s.shape, data_offsets: [offset, offset + n] };
    offset += n;
  }
  let text = JSON.stringify(header);
  text += " ".repeat((8 - ((Buffer.byteLength(text) + 8) % 8)) % 8);
  return { json: new TextEncoder().encode(text), dataBytes: offset };
}

function u64le(n: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, n, true);
  return b;
}

/** Streams a safetensors file: 8-byte length, header, then every tensor in order. */
export async function writeSafetensors(file: string, sources: readonly TensorSource[], opts: WriteOptions = {}): Promise<void> {
  const { json } = safetensorsHeader(sources, opts.metadata ?? { format: "pt" });
  const slabBytes = opts.slabBytes ?? 4 << 20;
  const fh = await fsp.open(file, "w");
  try {
    await fh.write(u64le(BigInt(json.length)));
    await fh.write(json);
    for (const s of sources) {
      const size = DTYPE_SIZE[s.dtype];
      const total = numel(s.shape);
      const step = Math.max(1, Math.floor(slabBytes / size));
      for (let start = 0; start < total; start += step) {
        const count = Math.min(step, total - start);
        const bytes = s.produce(start, count);
        if (bytes.length !== count * size) {
          throw new Error(`${s.name}: produce(${start}, ${count}) gave ${bytes.length} bytes, expected ${count * size}`);
        }
        await fh.write(bytes);
      }
    }
  } finally {
    await fh.close();
  }
}

/**
 * A small safetensors file assembled from raw parts, for corrupt-file tests: `header` is written
 * as given (object -> JSON), with `declaredLength` in place of the true length when set.
 */
export function rawSafetensors(header: unknown, data: Uint8Array, declaredLength?: bigint): Uint8Array {
  const json = new TextEncoder().encode(typeof header === "string" ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  out.set(u64le(declaredLength ?? BigInt(json.length)), 0);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

/** A source that holds its bytes already (small tensors). */
export function bytesSource(name: string, dtype: StDtype, shape: number[], bytes: Uint8Array): TensorSource {
  const size = DTYPE_SIZE[dtype];
  return { name, dtype, shape, produce: (start, count) => bytes.subarray(start * size, (start + count) * size) };
}
