// The registry of ternary layouts: every caller that needs "all layouts" (convert, the gguf reader,
// inspect, the tests) takes them from LAYOUTS, so a new layout is one module plus one line here.
import { BitconvError } from "../util/errors.js";
import { i2_s } from "./i2_s.js";
import { tl1 } from "./tl1.js";
import { tl2 } from "./tl2.js";
import { tq1_0 } from "./tq1_0.js";
import { tq2_0 } from "./tq2_0.js";
import type { Layout, LayoutName } from "./types.js";

export * from "./types.js";
export * from "./codes.js";
export * from "./blockDecode.js";
export * from "./counts.js";
export * from "./tq2_0.js";
export * from "./tq1_0.js";
export * from "./i2_s.js";
export * from "./tl1.js";
export * from "./tl2.js";
export * from "./tlParams.js";
export * from "./hfPacked.js";

export const LAYOUTS: Readonly<Record<LayoutName, Layout>> = { tq1_0, tq2_0, i2_s, tl1, tl2 };

/** Every layout name, in the order bitconv lists them. */
export const LAYOUT_NAMES = Object.keys(LAYOUTS) as readonly LayoutName[];

export function getLayout(name: string): Layout {
  const layout = (LAYOUTS as Record<string, Layout | undefined>)[name];
  if (!layout || !Object.hasOwn(LAYOUTS, name)) {
    throw new BitconvError(`unknown layout "${name}" (valid: ${LAYOUT_NAMES.join(", ")})`);
  }
  return layout;
}

/** The layout whose ggml type id is `type` in a bitconv or bitnet.cpp file, if any. */
export function layoutOfGgmlType(type: number): Layout | undefined {
  return Object.values(LAYOUTS).find((l) => l.ggmlType === type);
}
