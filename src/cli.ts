#!/usr/bin/env node
// The bitconv command line: a thin layer over the library (src/index.ts).
import yargs from "yargs";
import { hideBin } from "yargs/helpers";
import { asBitconvError } from "./util/errors.js";
import { printable } from "./util/printable.js";
import { VERSION } from "./version.js";
import { convertCommand } from "./convert/command.js";
import { pullCommand } from "./hub/command.js";
import { inspectCommand } from "./inspect/command.js";
import { verifyCommand } from "./verify/command.js";
import { generateCommand } from "./runtime/command.js";

const MAX_MESSAGE = 2000;

/** One line on stderr, whatever the message holds (names from files, a 91 KB key), then exit. */
function fail(err: unknown): never {
  const known = asBitconvError(err);
  const msg = known ? known.message : err instanceof Error ? err.message : String(err);
  process.stderr.write(`bitconv: ${printable(msg, MAX_MESSAGE)}\n`);
  if (process.env.BITCONV_DEBUG && err instanceof Error) process.stderr.write(`${(err.stack ?? "").split("\n").map((l) => printable(l, MAX_MESSAGE)).join("\n")}\n`);
  process.exit(known ? known.exitCode : 1);
}

export async function main(argv: string[]): Promise<void> {
  await yargs(argv)
    .scriptName("bitconv")
    .usage("$0 <command> [options]\n\nConvert, verify and inspect ternary (BitNet b1.58) language models.")
    .option("quiet", { alias: "q", type: "boolean", default: false, describe: "No progress bars" })
    .option("json", { type: "boolean", default: false, describe: "Machine-readable output on stdout" })
    .command(pullCommand)
    .command(convertCommand)
    .command(verifyCommand)
    .command(inspectCommand)
    .command(generateCommand)
    .demandCommand(1, "Name a command: pull, convert, verify, inspect or generate.")
    .strict()
    .version(VERSION)
    .help()
    .alias("h", "help")
    .wrap(Math.min(110, process.stdout.columns || 100))
    .fail((msg, err) => {
      if (err) fail(err);
      process.stderr.write(`bitconv: ${msg}\nRun 'bitconv --help' for usage.\n`);
      process.exit(2);
    })
    .parseAsync();
}

// A reader that stops early (`bitconv inspect F | head`) closes the pipe: end as a Unix tool ends on
// SIGPIPE (status 128 + 13), not with a stack trace. Outputs are renamed into place before anything is
// printed, so nothing is left half-written.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exit(141);
  fail(err);
});

main(hideBin(process.argv)).catch(fail);
