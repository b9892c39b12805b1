// Reading an evaluation text: any UTF-8 file, used raw (no unescaping, no line filtering), like
// llama-perplexity -f.
import { readFileSync, statSync } from "node:fs";
import { inputError } from "../util/errors.js";
import { fileKind } from "../util/files.js";

/** Byte offset of the first invalid UTF-8 sequence, or -1 when the bytes are valid UTF-8. */
export function firstInvalidUtf8(b: Uint8Array): number {
  const n = b.length;
  let i = 0;
  while (i < n) {
    const c = b[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let min: number;
    if (c >= 0xc2 && c <= 0xdf) {
      need = 1;
      min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3;
      min = 0x10000;
    } else return i;
    if (i + need > n - 1) return i;
    let cp = c & (need === 1 ? 0x1f : need === 2 ? 0x0f : 0x07);
    for (let k = 1; k <= need; k++) {
      const d = b[i + k];
      if ((d & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (d & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += need + 1;
  }
  return -1;
}

/** Reads a whole file as UTF-8 text; a clear input error (exit 2) when it is missing, empty or not UTF-8. */
export function readUtf8Text(file: string): { text: string; bytes: number } {
  let st;
  try {
    st = statSync(file);
  } catch (e) {
    throw inputError(file, `cannot read: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (e as Error).message}`);
  }
  if (st.isDirectory()) throw inputError(file, "is a directory, not a text file");
  if (!st.isFile()) throw inputError(file, `is ${fileKind(st)}, not a regular file`);
  const buf = readFileSync(file);
  if (buf.length === 0) throw inputError(file, "is empty");
  const bad = firstInvalidUtf8(buf);
  if (bad >= 0) {
    const hex = Array.from(buf.subarray(bad, Math.min(bad + 4, buf.length)), (x) => x.toString(16).padStart(2, "0")).join(" ");
    throw inputError(file, `not valid UTF-8 text (byte offset ${bad}: ${hex}); convert it to UTF-8 first`);
  }
  return { text: buf.toString("utf8"), bytes: buf.length };
}
