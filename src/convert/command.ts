// `bitconv convert <model-dir> --layout L -o out.gguf`: a thin layer over convert().
import type { ArgumentsCamelCase, Argv, CommandModule } from "yargs";
import { existsSync, statSync } from "node:fs";
import { resolveModelSource } from "../hub/pull.js";
import { BitconvError } from "../util/errors.js";
import { convertFromGguf } from "./fromGguf.js";
import { LAYOUT_NAMES } from "../layouts/index.js";
import { formatBytes } from "../util/progress.js";
import { convert, EMBED_TYPES, TARGETS, type ConvertResult, type EmbedType, type Target } from "./index.js";

interface Args {
  model: string;
  layout: string;
  output?: string;
  target: Target;
  "embed-type"?: EmbedType;
  threads?: number;
  "dry-run": boolean;
  manifest?: string;
  "source-repo"?: string;
  "source-commit"?: string;
  revision?: string;
  quiet: boolean;
  json: boolean;
}

/** Notes on stdout; "warning: ..." notes (the file will not behave as the model does somewhere) on stderr. */
function printNotes(notes: readonly string[]): void {
  for (const n of notes) {
    if (n.startsWith("warning: ")) process.stderr.write(`bitconv: ${n}\n`);
    else process.stdout.write(`note: ${n}\n`);
  }
}

function printPlan(r: ConvertResult): void {
  const p = r.plan;
  const out = process.stdout;
  out.write(`plan: ${p.model.name} (${p.model.architecture}) -> arch ${p.arch}, layout ${p.layout}, target ${p.target}, embeddings ${p.embedType}\n`);
  const w = Math.max(...p.tensors.map((t) => t.name.length));
  for (const t of p.tensors) {
    out.write(`  ${t.name.padEnd(w)}  ${t.typeName.padEnd(5)}  [${t.shape.join(", ")}]`.padEnd(w + 30) + `  ${String(t.nbytes).padStart(12)} B\n`);
  }
  out.write(`${p.tensorCount} tensors, input ${formatBytes(p.inputBytes)}, output ${formatBytes(p.outputBytes)} (${p.outputBytes} bytes); nothing written (--dry-run)\n`);
  printNotes(r.notes);
}

function printResult(r: ConvertResult): void {
  const p = r.plan;
  process.stdout.write(
    `wrote ${r.output}: ${r.tensors} tensors, ${formatBytes(r.bytes)} (${p.layout}, arch ${p.arch}, target ${p.target}) ` +
      `in ${r.seconds.toFixed(2)} s, ${r.mbPerSec.toFixed(0)} MB/s of input (${r.threads} threads)\n`,
  );
  if (r.manifest) process.stdout.write(`manifest ${r.manifest} (sha256 ${r.sha256})\n`);
  printNotes(r.notes);
}

/** `bitconv convert <file.gguf>`: an existing ternary GGUF rewritten in another layout (fromGguf.ts). */
async function convertGgufCommand(a: ArgumentsCamelCase<Args>): Promise<void> {
  if (a["dry-run"] || a.manifest) throw new BitconvError(`${a["dry-run"] ? "--dry-run" : "--manifest"} is for checkpoint folders, not a GGUF input`);
  const r = await convertFromGguf({
    input: a.model, output: a.output!, layout: a.layout, target: a.target, quiet: a.quiet || a.json,
    ...(a["embed-type"] !== undefined ? { embedType: a["embed-type"] } : {}),
  });
  if (a.json) process.stdout.write(JSON.stringify(r, null, 2) + "\n");
  else {
    process.stdout.write(`wrote ${r.output}: ${r.tensors} tensors, ${formatBytes(r.bytes)} (${r.layout}, arch ${r.arch}) from ${r.input} (sha256 ${r.inputSha256})\n`);
    printNotes(r.notes);
  }
}

export const convertCommand: CommandModule<object, Args> = {
  command: "convert <model>",
  describe: "Convert a Hugging Face BitNet b1.58 checkpoint folder to a GGUF artifact",
  builder: (y: Argv<object>) =>
    y
      .positional("model", { type: "string", demandOption: true, describe: "model folder (config.json, *.safetensors, tokenizer.json), or a Hub repo id org/name (pulled first)" })
      .option("layout", { alias: "l", type: "string", choices: LAYOUT_NAMES as string[], demandOption: true, describe: "ternary layout" })
      .option("output", { alias: "o", type: "string", describe: "output .gguf file" })
      .option("target", { type: "string", choices: TARGETS as unknown as string[], default: "auto", describe: "loader the file is meant for" })
      .option("embed-type", { type: "string", choices: EMBED_TYPES as string[], describe: "token_embd / output type (default f16; a GGUF input keeps its own)" })
      .option("threads", { alias: "t", type: "number", describe: "packing threads (default: all cores)" })
      .option("dry-run", { type: "boolean", default: false, describe: "print the plan, write nothing" })
      .option("manifest", { type: "string", describe: "also write a JSON manifest (sha256, options, provenance, tensors)" })
      .option("revision", { type: "string", describe: "with a Hub repo id: branch, tag or commit (default main)" })
      .option("source-repo", { type: "string", hidden: true, describe: "provenance: Hub repo id" })
      .option("source-commit", { type: "string", hidden: true, describe: "provenance: Hub commit" })
      .check((a) => {
        if (!a["dry-run"] && !a.output) throw new Error("missing -o <file.gguf> (or use --dry-run)");
        return true;
      }) as unknown as Argv<Args>,
  handler: async (a: ArgumentsCamelCase<Args>) => {
    if (/\.gguf$/i.test(a.model) && existsSync(a.model) && statSync(a.model).isFile()) return convertGgufCommand(a);
    // an org/name is pulled into the Hub cache first; its repo and commit become the provenance
    const src = await resolveModelSource(a.model, { quiet: a.quiet || a.json, ...(a.revision ? { revision: a.revision } : {}) });
    const r = await convert({
      modelDir: src.dir,
      layout: a.layout,
      output: a.output,
      target: a.target,
      embedType: a["embed-type"],
      threads: a.threads,
      quiet: a.quiet || a.json,
      dryRun: a["dry-run"],
      manifest: a.manifest,
      sourceRepo: a["source-repo"] ?? src.repo,
      sourceCommit: a["source-commit"] ?? src.commit,
    });
    if (a.json) process.stdout.write(JSON.stringify(r, null, 2) + "\n");
    else if (r.dryRun) printPlan(r);
    else printResult(r);
  },
};
