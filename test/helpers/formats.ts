// The worked examples of formats/*.md in the machine-readable notation formats/README.md defines:
// a ```json block with the matrix, then a ```bytes block with the complete tensor bytes. The layout
// tests (TS) and the spec/TS/C agreement test read them from the pages themselves; the C tests parse
// the same pages (kernels-c/test/examples.h).
import { readFileSync, readdirSync } from "node:fs";
import type { LayoutName, TlParams } from "../../src/layouts/index.js";

export const FORMATS = new URL("../../../formats/", import.meta.url);

export interface Example {
  where: string;
  layout: LayoutName | "hf-packed";
  M: number;
  K: number;
  scale?: number;
  d?: number;
  params?: TlParams;
  nonzero: [number, number, number][];
  bytes: Uint8Array;
}

/** The byte notation of formats/README.md: `XX`, `XX*N`, `@N` position checks, `#` comments. */
export function parseBytes(text: string, where: string): Uint8Array {
  const out: number[] = [];
  for (const line of text.split("\n")) {
    for (const tok of line.replace(/#.*$/, "").split(/\s+/).filter(Boolean)) {
      let m: RegExpExecArray | null;
      if ((m = /^@(\d+)$/.exec(tok))) {
        if (out.length !== Number(m[1])) throw new Error(`${where}: ${tok} but the position is ${out.length}`);
      } else if ((m = /^([0-9A-Fa-f]{2})(?:\*(\d+))?$/.exec(tok))) {
        const v = parseInt(m[1], 16);
        const n = m[2] === undefined ? 1 : Number(m[2]);
        for (let i = 0; i < n; i++) out.push(v);
      } else {
        throw new Error(`${where}: bad token "${tok}"`);
      }
    }
  }
  return Uint8Array.from(out);
}

export function loadExamples(): Example[] {
  const out: Example[] = [];
  for (const file of readdirSync(FORMATS).filter((f) => f.endsWith(".md")).sort()) {
    const md = readFileSync(new URL(file, FORMATS), "utf8");
    const fence = /```(json|bytes)\n([\s\S]*?)```/g;
    let json: string | null = null;
    let m: RegExpExecArray | null;
    while ((m = fence.exec(md))) {
      if (m[1] === "json") {
        json = m[2];
        continue;
      }
      const where = `${file} example ${out.filter((e) => e.where.startsWith(file)).length + 1}`;
      if (json === null) throw new Error(`${where}: a bytes block without a json block before it`);
      out.push({ ...JSON.parse(json), where, bytes: parseBytes(m[2], where) });
      json = null;
    }
  }
  return out;
}

/** The example's row-major M x K ternary matrix. */
export function exampleMatrix(ex: Example): Int8Array {
  const T = new Int8Array(ex.M * ex.K);
  for (const [r, c, v] of ex.nonzero) {
    if (r >= ex.M || c >= ex.K || T[r * ex.K + c] !== 0) throw new Error(`${ex.where}: bad nonzero [${r}, ${c}]`);
    T[r * ex.K + c] = v;
  }
  return T;
}
