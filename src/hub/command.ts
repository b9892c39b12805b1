import type { Argv, CommandModule } from "yargs";
import { hubOptionsFromEnv } from "./options.js";
import { pull, type PullResult } from "./pull.js";

interface PullArgs {
  repo: string;
  revision?: string;
  include?: string[];
  exclude?: string[];
  "cache-dir"?: string;
  cacheDir?: string;
  "local-dir"?: string;
  localDir?: string;
  token?: string;
  offline?: boolean;
  concurrency?: number;
  quiet?: boolean;
  json?: boolean;
}

/** The --json object: no token, ever. */
export function pullResultJson(r: PullResult): Record<string, unknown> {
  return {
    repo: r.repo,
    revision: r.revision,
    commit: r.commit,
    path: r.path,
    snapshotPath: r.snapshotPath,
    ...(r.localDir ? { localDir: r.localDir } : {}),
    offline: r.offline,
    files: r.files.map((f) => ({ path: f.path, size: f.size, downloaded: f.downloaded })),
    bytesDownloaded: r.bytesDownloaded,
  };
}

export const pullCommand: CommandModule<object, PullArgs> = {
  command: "pull <repo>",
  describe: "Download a model repo from the Hugging Face Hub into the shared cache (prints the snapshot folder)",
  builder: (y: Argv) =>
    y
      .positional("repo", { type: "string", demandOption: true, describe: "Hub model id, org/name" })
      .option("revision", { type: "string", describe: "Branch, tag or commit (default main)" })
      .option("include", {
        type: "string",
        array: true,
        describe: "Glob of files to fetch instead of the default set (repeatable; '*' fetches everything)",
      })
      .option("exclude", { type: "string", array: true, describe: "Glob of files to leave out (repeatable)" })
      .option("cache-dir", { type: "string", describe: "Hub cache folder (default HF_HUB_CACHE, HF_HOME/hub, ~/.cache/huggingface/hub)" })
      .option("local-dir", { type: "string", describe: "Also copy the files into this folder (real files, like Python's local_dir)" })
      .option("token", { type: "string", describe: "Access token for gated or private repos (default HF_TOKEN)" })
      .option("offline", { type: "boolean", describe: "Use only the cache, no network (like HF_HUB_OFFLINE=1)" })
      .option("concurrency", { type: "number", default: 4, describe: "Files downloaded in parallel" })
      .example("$0 pull microsoft/bitnet-b1.58-2B-4T", "config, weights and tokenizer into the cache")
      .example("$0 pull org/name --include '*.json' --local-dir ./model", "only the JSON files, copied into ./model") as unknown as Argv<PullArgs>,
  handler: async (argv) => {
    const hub = hubOptionsFromEnv({
      token: argv.token,
      cacheDir: argv["cache-dir"] ?? argv.cacheDir,
      offline: argv.offline === true ? true : undefined,
    });
    const result = await pull({
      ...hub,
      repo: argv.repo,
      revision: argv.revision,
      include: argv.include?.map(String),
      exclude: argv.exclude?.map(String),
      localDir: argv["local-dir"] ?? argv.localDir,
      quiet: argv.quiet,
      concurrency: argv.concurrency,
    });
    if (argv.json) process.stdout.write(`${JSON.stringify(pullResultJson(result), null, 2)}\n`);
    else process.stdout.write(`${result.path}\n`);
  },
};
