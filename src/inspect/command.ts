import type { Argv, CommandModule } from "yargs";
import { printable } from "../util/printable.js";
import { hubOptionsFromEnv } from "../hub/options.js";
import { BitconvError } from "../util/errors.js";
import { inspect } from "./index.js";
import { renderText } from "./text.js";

interface InspectArgs {
  source: string;
  tensor?: string;
  block?: number;
  stats: boolean;
  html?: string;
  revision?: string;
  token?: string;
  quiet: boolean;
  json: boolean;
}

export const inspectCommand: CommandModule<object, InspectArgs> = {
  command: "inspect <source>",
  describe: "Summarize a GGUF file or a Hugging Face checkpoint: keys, tensors, ternary statistics, block decoding, HTML report",
  builder: (y: Argv) =>
    y
      .positional("source", { type: "string", demandOption: true, describe: "file.gguf, model folder, file.safetensors, or org/name (headers only)" })
      .option("tensor", { type: "string", describe: "Only this tensor (table, statistics); the tensor --block decodes" })
      .option("block", { type: "number", describe: "Decode block N of --tensor (default: the first ternary tensor); blocks per layout: docs/inspect.md" })
      .option("stats", { type: "boolean", default: true, describe: "Ternary statistics per tensor (--no-stats to skip reading tensor data)" })
      .option("html", { type: "string", describe: "Also write a self-contained HTML report with plots to this file" })
      .option("revision", { type: "string", describe: "org/name only: branch, tag or commit (default main)" })
      .option("token", { type: "string", describe: "org/name only: access token (default HF_TOKEN)" })
      .example("$0 inspect model.gguf", "summary, tensor table and ternary statistics")
      .example("$0 inspect model.gguf --tensor blk.0.attn_q.weight --block 3", "the bytes and bit fields of one block")
      .example("$0 inspect ./tiny-bitnet --html report.html", "HTML report of a checkpoint folder")
      .example("$0 inspect microsoft/bitnet-b1.58-2B-4T --json", "tensor table from the Hub, headers only") as unknown as Argv<InspectArgs>,
  handler: async (a) => {
    if (a.block !== undefined && (!Number.isSafeInteger(a.block) || a.block < 0)) {
      throw new BitconvError(`--block must be a block number >= 0, got ${String(a.block)}`);
    }
    const hub = hubOptionsFromEnv({ token: a.token });
    const progress = !a.quiet && !a.json && process.stderr.isTTY;
    const r = await inspect({
      source: a.source,
      tensor: a.tensor,
      block: a.block,
      stats: a.stats,
      html: a.html,
      hub: { ...hub, revision: a.revision },
      onProgress: progress ? (i, n, name) => process.stderr.write(`\rstatistics ${i + 1}/${n} ${printable(name, 60).slice(0, 70).padEnd(60)}`) : undefined,
    });
    if (progress && r.stats?.length) process.stderr.write(`\r${" ".repeat(80)}\r`);
    if (a.json) process.stdout.write(`${JSON.stringify(r, (_k, v) => (typeof v === "bigint" ? v.toString() : v), 2)}\n`);
    else process.stdout.write(renderText(r));
    if (a.html !== undefined && !a.json && !a.quiet) process.stderr.write(`wrote ${a.html}\n`);
  },
};
