// Where the Hub is, who we are and where the cache lives: the environment variables of Python's
// huggingface_hub, overridden by command-line flags.
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";

export interface HubOptions {
  /** Base URL of the Hub, without a trailing slash (HF_ENDPOINT, default https://huggingface.co). */
  endpoint: string;
  /** Access token (--token, HF_TOKEN, HUGGING_FACE_HUB_TOKEN, or the token file); never printed. */
  token?: string;
  /** The hub cache folder (--cache-dir, HF_HUB_CACHE, HUGGINGFACE_HUB_CACHE, HF_HOME/hub, …). */
  cacheDir: string;
  /** HF_HUB_OFFLINE / --offline: no network at all, resolve everything from the cache. */
  offline: boolean;
  /** The fetch to use underneath (tests, proxies); auth is added on top of it. Default globalThis.fetch. */
  fetch?: typeof fetch;
}

/** The command-line flags that override the environment (yargs gives both spellings). */
export interface HubArgv {
  token?: string;
  cacheDir?: string;
  "cache-dir"?: string;
  endpoint?: string;
  offline?: boolean;
}

const TRUE_VALUES = new Set(["1", "on", "yes", "true"]);

export function envFlag(v: string | undefined): boolean {
  return v !== undefined && TRUE_VALUES.has(v.trim().toLowerCase());
}

function nonEmpty(v: string | undefined): string | undefined {
  return v !== undefined && v.trim() !== "" ? v.trim() : undefined;
}

/** HF_HOME, else XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface. */
export function hfHome(env: NodeJS.ProcessEnv = process.env): string {
  const home = nonEmpty(env.HF_HOME);
  if (home) return resolve(home);
  const xdg = nonEmpty(env.XDG_CACHE_HOME);
  return resolve(xdg ? join(xdg, "huggingface") : join(homedir(), ".cache", "huggingface"));
}

/** The hub cache path, in huggingface_hub's order of precedence. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const direct = nonEmpty(env.HF_HUB_CACHE) ?? nonEmpty(env.HUGGINGFACE_HUB_CACHE);
  if (direct) return resolve(direct);
  return join(hfHome(env), "hub");
}

/** The saved token of `huggingface-cli login` (HF_TOKEN_PATH, else HF_HOME/token), if any. */
function tokenFromFile(env: NodeJS.ProcessEnv): string | undefined {
  const path = nonEmpty(env.HF_TOKEN_PATH) ?? join(hfHome(env), "token");
  try {
    return nonEmpty(readFileSync(path, "utf8"));
  } catch {
    return undefined;
  }
}

/** Builds the hub options from the environment, with the flags in `argv` taking precedence. */
export function hubOptionsFromEnv(argv: HubArgv = {}, env: NodeJS.ProcessEnv = process.env): HubOptions {
  const endpoint = (nonEmpty(argv.endpoint) ?? nonEmpty(env.HF_ENDPOINT) ?? "https://huggingface.co").replace(/\/+$/, "");
  const token =
    nonEmpty(argv.token) ?? nonEmpty(env.HF_TOKEN) ?? nonEmpty(env.HUGGING_FACE_HUB_TOKEN) ?? tokenFromFile(env);
  const cacheArg = nonEmpty(argv.cacheDir) ?? nonEmpty(argv["cache-dir"]);
  const cacheDir = cacheArg ? resolve(cacheArg) : defaultCacheDir(env);
  const offline = argv.offline === true || envFlag(env.HF_HUB_OFFLINE) || envFlag(env.TRANSFORMERS_OFFLINE);
  return { endpoint, token, cacheDir, offline };
}

/** Fills what `partial` leaves out from the environment. */
export function completeHubOptions(partial: Partial<HubOptions> = {}, env: NodeJS.ProcessEnv = process.env): HubOptions {
  const base = hubOptionsFromEnv({}, env);
  return {
    endpoint: (partial.endpoint ?? base.endpoint).replace(/\/+$/, ""),
    token: partial.token ?? base.token,
    cacheDir: partial.cacheDir ? resolve(partial.cacheDir) : base.cacheDir,
    offline: partial.offline ?? base.offline,
    fetch: partial.fetch,
  };
}
