// The third level of verify (docs/verify.md): for the bundled model, the float perplexity computed
// outside this project (fixtures/reference-dev.json, transformers' formulas in float32) shown beside
// verify's own reference, so a reader sees the source itself agrees with an external computation.
// The artifact is recognised by the sha256 of its recorded model.safetensors.
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { packageRoot } from "../runtime/runtime.js";
import { sha256File } from "./provenance.js";

export interface ExternalFigure {
  /** the fixture the artifact was converted from */
  model: string;
  perplexity: number;
  /** where the figure comes from (relative to the package) */
  file: string;
}

const FILE = "fixtures/reference-dev.json";

/** The external float perplexity for this artifact, text and ctx, or null when there is none. */
export async function bundledFigure(recordedFiles: { path: string; sha256: string }[], text: string, ctx: number, wholeText: boolean): Promise<ExternalFigure | null> {
  const root = packageRoot();
  const table = join(root, FILE);
  const model = recordedFiles.find((f) => f.path === "model.safetensors");
  if (!wholeText || !model || !existsSync(table)) return null;
  const ref = JSON.parse(readFileSync(table, "utf8")) as Record<string, Record<string, unknown>>;
  for (const [name, entry] of Object.entries(ref)) {
    const weights = join(root, "fixtures", name, "model.safetensors");
    if (typeof entry.text !== "string" || resolve(root, "fixtures", entry.text) !== resolve(text) || !existsSync(weights)) continue;
    const ppl = entry[`ppl_ctx${ctx}`];
    if (typeof ppl === "number" && (await sha256File(weights)) === model.sha256) return { model: name, perplexity: ppl, file: FILE };
  }
  return null;
}
