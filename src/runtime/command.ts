// `bitconv generate`: continue a prompt with the C runtime. See docs/generate.md.
import type { ArgumentsCamelCase, Argv, CommandModule } from "yargs";
import { generate } from "./generate.js";

interface GenerateArgs {
  artifact: string;
  prompt: string;
  n: number;
  temp: number;
  "top-p": number;
  seed?: number;
  threads?: number;
  tokenizer?: string;
  json: boolean;
  quiet: boolean;
}

export const generateCommand: CommandModule<object, GenerateArgs> = {
  command: "generate <artifact>",
  describe: "Continue a prompt with the bundled C runtime",
  builder: (y: Argv<object>) =>
    y
      .positional("artifact", { type: "string", demandOption: true, describe: "The .gguf artifact" })
      .option("prompt", { alias: "p", type: "string", demandOption: true, describe: "Prompt text (BOS is added by the tokenizer's rules)" })
      .option("n", { alias: "n-predict", type: "number", default: 64, describe: "Tokens to generate" })
      .option("temp", { type: "number", default: 0, describe: "Sampling temperature (0 = greedy)" })
      .option("top-p", { type: "number", default: 1, describe: "Nucleus sampling threshold" })
      .option("seed", { type: "number", describe: "Sampling seed" })
      .option("threads", { alias: "t", type: "number", describe: "Threads (default: all cores)" })
      .option("tokenizer", { type: "string", describe: "tokenizer.json or tokenizer.model (or their directory); default: rebuilt from the artifact" }) as unknown as Argv<GenerateArgs>,
  handler: async (argv: ArgumentsCamelCase<GenerateArgs>) => {
    const controller = new AbortController();
    const onSigint = () => controller.abort();
    process.once("SIGINT", onSigint);
    try {
      const r = await generate({
        artifact: argv.artifact,
        prompt: argv.prompt,
        n: argv.n,
        temp: argv.temp,
        topP: argv["top-p"],
        seed: argv.seed,
        threads: argv.threads,
        tokenizer: argv.tokenizer,
        signal: controller.signal,
        onStart: argv.json ? undefined : () => process.stdout.write(argv.prompt),
        onText: argv.json ? undefined : (piece) => process.stdout.write(piece),
      });
      if (argv.json) process.stdout.write(JSON.stringify(r) + "\n");
      else process.stdout.write("\n");
      if (controller.signal.aborted) process.exitCode = 130;
    } finally {
      process.removeListener("SIGINT", onSigint);
    }
  },
};
