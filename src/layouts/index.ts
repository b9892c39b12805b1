import { BitconvError } from "../util/errors.js";
import { i2_s } from "./i2_s.js";
import { tl1 } from "./tl1.js";
import { tl2 } from "./tl2.js";
import { tq1_0 } from "./tq1_0.js";
import { tq2_0 } from "./tq2_0.js";
import { LAYOUT_NAMES, type Layout, type LayoutName } from "./types.js";

export * from "./types.js";
export * from "./tq2_0.js";
export * from "./tq1_0.js";
export * from "./i2_s.js";
export * from "./tl1.js";
export * from "./tl2.js";
export * from "./tlParams.js";
export * from "./hfPacked.js";
export { f32ToF16Bits, f16BitsToF32 } from "./f16.js";

export const LAYOUTS: Readonly<Record<LayoutName, Layout>> = { tq1_0, tq2_0, i2_s, tl1, tl2 };

export function getLayout(name: string): Layout {
  const layout = (LAYOUTS as Record<string, Layout | undefined>)[name];
  if (!layout || !Object.hasOwn(LAYOUTS, name)) {
    throw new BitconvError(`unknown layout "${name}" (valid: ${LAYOUT_NAMES.join(", ")})`);
  }
  return layout;
}
