// `pull`: a Hub model repo into the cache layout of Python's huggingface_hub (or a local folder), and
// the helpers other commands use (resolveModelSource for convert, remoteSafetensorsHeaders for inspect).
import { constants as fsConstants, promises as fsp, statSync } from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";
import { randomBytes } from "node:crypto";
import { listFiles, modelInfo, parseSafetensorsMetadata, HubApiError, type SafetensorsParseFromRepo } from "@huggingface/hub";
import { BitconvError } from "../util/errors.js";
import { writeFileAtomic } from "../util/atomic.js";
import { ensureBlob, type BlobSpec, type DownloadContext } from "./download.js";
import { makeSelector, type Selection } from "./glob.js";
import {
  DEFAULT_RETRY,
  hubError,
  isNetworkError,
  makeHubFetch,
  scrub,
  withRetry,
  describeError,
  type HubFetch,
  type RetryPolicy,
} from "./http.js";
import type { LockOptions } from "./lock.js";
import { completeHubOptions, type HubOptions } from "./options.js";
import { COMMIT_RE, isSafeRelativePath, looksLikeRepoId, repoCachePaths, safeJoin, validateRepoId, validateRevision } from "./paths.js";
import { pullProgress, silentProgress, type PullProgress } from "./progress.js";

export interface PullOptions extends Partial<HubOptions> {
  /** `org/name` */
  repo: string;
  /** Branch, tag or commit (default "main"). */
  revision?: string;
  /** Globs (fnmatch): when given, these files instead of the default set. */
  include?: string[];
  /** Globs (fnmatch): files to leave out. */
  exclude?: string[];
  /** Also place real files (copies) in this folder, like Python's local_dir; the result's `path` is it. */
  localDir?: string;
  /** No progress bars and no warnings on stderr. */
  quiet?: boolean;
  /** Files downloaded at once (default 4). */
  concurrency?: number;
  /** Attempts per request (default 5). */
  maxAttempts?: number;
  /** Delay before the first retry, doubled each time (default 1000 ms). */
  retryBaseMs?: number;
  /** A request that delivers nothing for this long is abandoned and retried (default 60 s). */
  timeoutMs?: number;
  /** Lock tuning (tests). */
  lock?: LockOptions;
  signal?: AbortSignal;
}

export interface PulledFile {
  path: string;
  size: number;
  /** True when this pull fetched it; false when it was in the cache already. */
  downloaded: boolean;
}

export interface PullResult {
  repo: string;
  /** The revision asked for (branch, tag or commit). */
  revision: string;
  /** The 40-hex commit it resolved to. */
  commit: string;
  /** The folder holding the files: the local dir with --local-dir, else the snapshot. */
  path: string;
  /** `<cache>/models--org--name/snapshots/<commit>` */
  snapshotPath: string;
  localDir?: string;
  files: PulledFile[];
  /** Body bytes received from the network by this pull. */
  bytesDownloaded: number;
  /** True when resolved from the cache alone (HF_HUB_OFFLINE, or the Hub unreachable). */
  offline: boolean;
}

interface RemoteFile extends BlobSpec {}

const HEX40 = /^[0-9a-f]{40}$/;
const HEX64 = /^[0-9a-f]{64}$/;
const XET_HASH = /^[0-9a-f]{64}$/;

let consoleGuards = 0;
let savedDebug: typeof console.debug | undefined;
let savedInfo: typeof console.info | undefined;

/** Keeps the library's console.debug/info (stdout in Node) off stdout while a pull runs. */
function guardConsole(): () => void {
  if (consoleGuards++ === 0) {
    savedDebug = console.debug;
    savedInfo = console.info;
    const toStderr = (...args: unknown[]) => {
      if (process.env.BITCONV_DEBUG) process.stderr.write(`${args.map(String).join(" ")}\n`);
    };
    console.debug = toStderr;
    console.info = toStderr;
  }
  let done = false;
  return () => {
    if (done) return;
    done = true;
    if (--consoleGuards === 0) {
      if (savedDebug) console.debug = savedDebug;
      if (savedInfo) console.info = savedInfo;
    }
  };
}

function retryPolicy(opts: { maxAttempts?: number; retryBaseMs?: number }): RetryPolicy {
  return {
    maxAttempts: Math.max(1, Math.floor(opts.maxAttempts ?? DEFAULT_RETRY.maxAttempts)),
    baseDelayMs: Math.max(0, opts.retryBaseMs ?? DEFAULT_RETRY.baseDelayMs),
  };
}

/** Turns a tree entry into a blob spec, refusing anything that could escape the cache folders. */
function toRemoteFile(entry: { path: string; size: number; oid?: string; lfs?: { oid: string; size: number }; xetHash?: string }): RemoteFile {
  if (!isSafeRelativePath(entry.path)) {
    throw new BitconvError(
      `refusing path ${JSON.stringify(entry.path)} from the server: it would land outside the snapshot folder`,
      1,
    );
  }
  const size = entry.lfs?.size ?? entry.size;
  if (!Number.isSafeInteger(size) || size < 0) throw new BitconvError(`${entry.path}: the server listed an invalid size`, 1);
  const sha256 = entry.lfs?.oid?.toLowerCase();
  const gitSha1 = entry.oid?.toLowerCase();
  const xet = entry.xetHash?.toLowerCase();
  if (sha256 !== undefined && !HEX64.test(sha256)) throw new BitconvError(`${entry.path}: the server listed an invalid LFS oid`, 1);
  if (entry.lfs) return { path: entry.path, size, etag: sha256 as string, sha256 };
  if (xet !== undefined && XET_HASH.test(xet)) return { path: entry.path, size, etag: xet };
  if (gitSha1 === undefined || !HEX40.test(gitSha1)) throw new BitconvError(`${entry.path}: the server listed an invalid oid`, 1);
  return { path: entry.path, size, etag: gitSha1, gitSha1 };
}

function selectionText(sel: Selection): string {
  if (sel.include?.length) return `--include ${sel.include.join(" ")}`;
  return "the default file set (config.json, *.safetensors, tokenizer files)";
}

/** The commit of `revision` (a branch, a tag or a commit) from the Hub, with clear errors. */
type Warn = (line: string) => void;

function retryNotice(warn: Warn | undefined, what: string, policy: RetryPolicy) {
  return (err: unknown, attempt: number, delayMs: number) =>
    warn?.(`bitconv: ${what}: ${describeError(err)}; retrying in ${(delayMs / 1000).toFixed(1)} s (attempt ${attempt + 1} of ${policy.maxAttempts})`);
}

async function resolveCommit(
  repo: string,
  revision: string,
  hub: HubOptions,
  hf: HubFetch,
  policy: RetryPolicy,
  signal?: AbortSignal,
  warn?: Warn,
): Promise<string> {
  const call = (rev: string | undefined) =>
    withRetry(() => modelInfo({ name: repo, revision: rev, additionalFields: ["sha"], hubUrl: hub.endpoint, fetch: hf.fetch }), policy, {
      signal,
      onRetry: retryNotice(warn, `${repo}: resolving the revision`, policy),
    });
  let info;
  try {
    info = await call(revision);
  } catch (err) {
    const ctx = { repo, revision, tokenGiven: !!hub.token, doing: "resolving the revision" };
    if (err instanceof HubApiError) {
      const code = hf.state.errorCodes.get(err.url);
      if (err.statusCode === 404 && !code) {
        // No X-Error-Code: tell the repo and the revision apart by asking for the default revision.
        const repoExists = await call(undefined).then(
          () => true,
          () => false,
        );
        throw hubError(err, { ...ctx, errorCode: repoExists ? "RevisionNotFound" : "RepoNotFound" }, hub.token);
      }
      throw hubError(err, { ...ctx, errorCode: code }, hub.token);
    }
    throw err;
  }
  const sha = (info as { sha?: unknown }).sha;
  if (typeof sha !== "string" || !COMMIT_RE.test(sha)) {
    throw new BitconvError(`${repo}: the Hub returned no valid commit for revision ${JSON.stringify(revision)}`, 1);
  }
  return sha;
}

async function listRemote(
  repo: string,
  commit: string,
  hub: HubOptions,
  hf: HubFetch,
  policy: RetryPolicy,
  signal?: AbortSignal,
  warn?: Warn,
): Promise<RemoteFile[]> {
  const entries = await withRetry(
    async () => {
      const out = [];
      for await (const e of listFiles({ repo, revision: commit, recursive: true, hubUrl: hub.endpoint, fetch: hf.fetch })) out.push(e);
      return out;
    },
    policy,
    { signal, onRetry: retryNotice(warn, `${repo}: listing the files`, policy) },
  ).catch((err: unknown) => {
    const code = err instanceof HubApiError ? hf.state.errorCodes.get(err.url) : undefined;
    throw hubError(err, { repo, revision: commit, tokenGiven: !!hub.token, errorCode: code, doing: "listing the files" }, hub.token);
  });
  const files: RemoteFile[] = [];
  const seen = new Set<string>();
  for (const e of entries) {
    if (!isSafeRelativePath(e.path)) {
      throw new BitconvError(`refusing path ${JSON.stringify(e.path)} from the server: it would land outside the snapshot folder`, 1);
    }
    if (e.type !== "file") continue;
    const f = toRemoteFile(e);
    if (seen.has(f.path)) continue;
    seen.add(f.path);
    files.push(f);
  }
  return files;
}

/** snapshots/<commit>/<path> -> ../../blobs/<etag> (relative), replaced atomically when it differs. */
async function linkIntoSnapshot(snapshotDir: string, path: string, blobPath: string): Promise<void> {
  const link = safeJoin(snapshotDir, path, "path");
  await fsp.mkdir(dirname(link), { recursive: true });
  const target = relative(dirname(link), blobPath);
  try {
    if ((await fsp.readlink(link)) === target) return;
  } catch {
    /* absent, or not a link */
  }
  const tmp = join(dirname(link), `.${basename(link)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  try {
    await fsp.symlink(target, tmp);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP") throw e;
    // No symlinks on this filesystem: a copy, as huggingface_hub does.
    await fsp.copyFile(blobPath, tmp);
  }
  try {
    await fsp.rename(tmp, link);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw e;
  }
}

/** Python's local_dir metadata: `<dir>/.cache/huggingface/download/<path>.metadata` = commit, etag, time. */
function localMetadataPath(localDir: string, path: string): string {
  return safeJoin(join(localDir, ".cache", "huggingface", "download"), `${path}.metadata`, "path");
}

async function placeInLocalDir(localDir: string, path: string, source: string, size: number, etag: string, commit: string): Promise<void> {
  const dest = safeJoin(localDir, path, "path");
  const meta = localMetadataPath(localDir, path);
  try {
    const [st, m] = await Promise.all([fsp.lstat(dest), fsp.readFile(meta, "utf8")]);
    const lines = m.split("\n");
    if (st.isFile() && st.size === size && lines[1] === etag) {
      await writeFileAtomic(meta, `${commit}\n${etag}\n${Date.now() / 1000}\n`);
      return;
    }
  } catch {
    /* absent or different: copy */
  }
  await fsp.mkdir(dirname(dest), { recursive: true });
  await fsp.mkdir(dirname(meta), { recursive: true });
  // As huggingface_hub does: keep the bookkeeping folder out of git.
  const gitignore = join(localDir, ".cache", "huggingface", ".gitignore");
  await fsp.writeFile(gitignore, "*", { flag: "wx" }).catch(() => {});
  const tmp = join(dirname(dest), `.${basename(dest)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  try {
    await fsp.copyFile(source, tmp, fsConstants.COPYFILE_FICLONE);
    await fsp.rename(tmp, dest);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw e;
  }
  await writeFileAtomic(meta, `${commit}\n${etag}\n${Date.now() / 1000}\n`);
}

async function readRef(refsDir: string, revision: string): Promise<string | undefined> {
  try {
    const v = (await fsp.readFile(safeJoin(refsDir, revision, "revision"), "utf8")).trim();
    return COMMIT_RE.test(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

async function writeRef(refsDir: string, revision: string, commit: string): Promise<void> {
  const p = safeJoin(refsDir, revision, "revision");
  try {
    if ((await fsp.readFile(p, "utf8")) === commit) return;
  } catch {
    /* absent */
  }
  await fsp.mkdir(dirname(p), { recursive: true });
  await writeFileAtomic(p, commit);
}

async function walk(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for (const d of await fsp.readdir(dir, { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${d.name}` : d.name;
    if (d.isDirectory()) out.push(...(await walk(join(dir, d.name), rel)));
    else if (d.isSymbolicLink() || d.isFile()) out.push(rel);
  }
  return out.sort();
}

/** Resolves a pull from the cache alone (HF_HUB_OFFLINE, or a Hub that cannot be reached). */
async function pullFromCache(repo: string, revision: string, hub: HubOptions, opts: PullOptions, why: string): Promise<PullResult> {
  const paths = repoCachePaths(hub.cacheDir, repo);
  const commit = COMMIT_RE.test(revision) ? revision : await readRef(paths.refs, revision);
  if (!commit) {
    throw new BitconvError(
      `${repo}: ${why}, and revision ${JSON.stringify(revision)} is not in the cache (no ${join(paths.refs, revision)}); pull it once with network access`,
      2,
    );
  }
  const snapshotPath = join(paths.snapshots, commit);
  let names: string[];
  try {
    names = await walk(snapshotPath);
  } catch {
    throw new BitconvError(`${repo}: ${why}, and the snapshot ${snapshotPath} is not in the cache; pull it once with network access`, 2);
  }
  const select = makeSelector(opts);
  const files: PulledFile[] = [];
  for (const name of names.filter(select)) {
    let size: number;
    try {
      size = statSync(join(snapshotPath, name)).size;
    } catch {
      throw new BitconvError(`${repo}: ${why}, and the cached ${name} lost its blob (${join(snapshotPath, name)} is a broken link); pull again with network access`, 2);
    }
    files.push({ path: name, size, downloaded: false });
  }
  if (files.length === 0) {
    throw new BitconvError(`${repo}: ${why}, and no cached file of ${snapshotPath} matches ${selectionText(opts)}`, 2);
  }
  let localDir: string | undefined;
  if (opts.localDir) {
    localDir = resolve(opts.localDir);
    for (const f of files) {
      const src = join(snapshotPath, f.path);
      let etag = "";
      try {
        etag = basename(await fsp.readlink(src));
      } catch {
        /* a copy, not a link */
      }
      await placeInLocalDir(localDir, f.path, src, f.size, etag, commit);
    }
  }
  return { repo, revision, commit, path: localDir ?? snapshotPath, snapshotPath, localDir, files, bytesDownloaded: 0, offline: true };
}

/**
 * Downloads `opts.repo` at `opts.revision` into the cache (blobs, snapshots/<commit>, refs/<revision>)
 * and returns where the files are. Files already complete in the cache are not fetched again;
 * interrupted downloads resume; every file is checked against its sha256 / git sha1.
 */
export async function pull(opts: PullOptions): Promise<PullResult> {
  const repo = validateRepoId(opts.repo);
  const revision = validateRevision(opts.revision ?? "main");
  const hub = completeHubOptions(opts);
  const release = guardConsole();
  try {
    if (hub.offline) return await pullFromCache(repo, revision, hub, opts, "offline mode (HF_HUB_OFFLINE)");
    return await pullOnline(repo, revision, hub, opts);
  } catch (err) {
    if (err instanceof BitconvError) throw new BitconvError(scrub(err.message, hub.token), err.exitCode);
    throw hubError(err, { repo, revision, tokenGiven: !!hub.token }, hub.token);
  } finally {
    release();
  }
}

type Outcomes = Map<string, { downloaded: boolean; bytes: number }>;

/** The commit the revision names, or, when the Hub cannot be reached at all, the cached snapshot's pull (as huggingface_hub does). */
async function resolveOrCached(repo: string, revision: string, hub: HubOptions, hf: HubFetch, opts: PullOptions, warn: Warn): Promise<string | PullResult> {
  try {
    return await resolveCommit(repo, revision, hub, hf, retryPolicy(opts), opts.signal, warn);
  } catch (err) {
    const cause = err instanceof BitconvError ? undefined : err;
    if (cause !== undefined && isNetworkError(cause)) {
      const paths = repoCachePaths(hub.cacheDir, repo);
      const cached = COMMIT_RE.test(revision) ? revision : await readRef(paths.refs, revision);
      if (cached) {
        warn(`bitconv: the Hub at ${hub.endpoint} cannot be reached (${describeError(cause)}); using the cached snapshot ${cached}`);
        return pullFromCache(repo, revision, hub, opts, "the Hub cannot be reached");
      }
    }
    throw err;
  }
}

/** The files of the commit that --include / --exclude select (at least one). */
async function selectFiles(repo: string, commit: string, hub: HubOptions, hf: HubFetch, opts: PullOptions, warn: Warn): Promise<RemoteFile[]> {
  const all = await listRemote(repo, commit, hub, hf, retryPolicy(opts), opts.signal, warn);
  const select = makeSelector(opts);
  const wanted = all.filter((f) => select(f.path));
  if (wanted.length === 0) {
    throw new BitconvError(`${repo}: no file at ${commit} matches ${selectionText(opts)} (the repo has ${all.length} files)`, 2);
  }
  if (!opts.include?.length && !wanted.some((f) => f.path.endsWith(".safetensors"))) {
    warn(`bitconv: ${repo} has no *.safetensors weights at the top level; convert needs them`);
  }
  return wanted;
}

async function missingBlobs(wanted: RemoteFile[], blobsDir: string): Promise<RemoteFile[]> {
  const missing: RemoteFile[] = [];
  for (const f of wanted) {
    try {
      await fsp.stat(join(blobsDir, f.etag));
    } catch {
      missing.push(f);
    }
  }
  return missing;
}

/** Up to `concurrency` downloads at a time; the first error aborts the others and is thrown. */
async function downloadAll(wanted: RemoteFile[], ctx: DownloadContext, abort: AbortController, snapshotPath: string, concurrency: number): Promise<Outcomes> {
  const outcomes: Outcomes = new Map();
  let firstError: unknown;
  let next = 0;
  const worker = async () => {
    while (next < wanted.length && firstError === undefined) {
      const f = wanted[next++];
      try {
        const out = await ensureBlob(f, ctx);
        await linkIntoSnapshot(snapshotPath, f.path, join(ctx.blobsDir, f.etag));
        outcomes.set(f.path, out);
      } catch (err) {
        if (firstError === undefined) {
          firstError = err;
          abort.abort(err);
        }
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, wanted.length) }, worker));
  } finally {
    ctx.progress.stop();
  }
  if (firstError !== undefined) throw firstError;
  return outcomes;
}

async function pullOnline(repo: string, revision: string, hub: HubOptions, opts: PullOptions): Promise<PullResult> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const hf = makeHubFetch(hub, timeoutMs);
  const warn: Warn = (line) => {
    if (!opts.quiet) process.stderr.write(`${line}\n`);
  };
  const resolved = await resolveOrCached(repo, revision, hub, hf, opts, warn);
  if (typeof resolved !== "string") return resolved;
  const commit = resolved;
  const wanted = await selectFiles(repo, commit, hub, hf, opts, warn);

  const paths = repoCachePaths(hub.cacheDir, repo);
  const snapshotPath = join(paths.snapshots, commit);
  await fsp.mkdir(paths.blobs, { recursive: true });
  await fsp.mkdir(snapshotPath, { recursive: true });
  const missing = await missingBlobs(wanted, paths.blobs);
  const toFetch = missing.reduce((s, f) => s + f.size, 0);
  const progress: PullProgress = missing.length > 0 ? pullProgress(toFetch, { quiet: opts.quiet }) : silentProgress(warn);

  const abort = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, abort.signal]) : abort.signal;
  const ctx: DownloadContext = {
    repo, commit, endpoint: hub.endpoint, fetch: hf.fetch, fetchState: hf.state, blobsDir: paths.blobs, locksDir: paths.locks,
    retry: retryPolicy(opts), timeoutMs, signal, token: hub.token, lock: opts.lock ?? {}, progress,
  };
  const outcomes = await downloadAll(wanted, ctx, abort, snapshotPath, Math.max(1, Math.min(opts.concurrency ?? 4, 16)));
  if (revision !== commit) await writeRef(paths.refs, revision, commit);

  let localDir: string | undefined;
  if (opts.localDir) {
    localDir = resolve(opts.localDir);
    for (const f of wanted) await placeInLocalDir(localDir, f.path, join(paths.blobs, f.etag), f.size, f.etag, commit);
  }
  const files: PulledFile[] = wanted.map((f) => ({ path: f.path, size: f.size, downloaded: outcomes.get(f.path)?.downloaded ?? false }));
  const bytesDownloaded = [...outcomes.values()].reduce((s, o) => s + o.bytes, 0);
  return { repo, revision, commit, path: localDir ?? snapshotPath, snapshotPath, localDir, files, bytesDownloaded, offline: false };
}

export interface ModelSource {
  dir: string;
  repo?: string;
  commit?: string;
}

/**
 * What convert and inspect accept as a model: an existing directory is used as it is; an `org/name`
 * is pulled (default file set, at `opts.revision`) and its snapshot folder returned with the repo and
 * commit for provenance.
 */
function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

export async function resolveModelSource(arg: string, opts: Partial<Omit<PullOptions, "repo">> = {}): Promise<ModelSource> {
  let isDir = false;
  let exists = false;
  try {
    const st = statSync(arg);
    exists = true;
    isDir = st.isDirectory();
  } catch {
    /* not a local path */
  }
  if (isDir) return { dir: resolve(arg) };
  // "models/foo" where ./models exists is a mistyped local path, not a repo id: don't go to the network
  if (!exists && looksLikeRepoId(arg) && isDirectory(arg.split("/")[0])) {
    throw new BitconvError(`${arg}: no such model folder (${resolve(arg.split("/")[0])} exists, so this is not taken as a Hub repo id)`, 2);
  }
  if (!exists && looksLikeRepoId(arg)) {
    const r = await pull({ ...opts, repo: arg, include: undefined, exclude: undefined, localDir: undefined });
    return { dir: r.snapshotPath, repo: r.repo, commit: r.commit };
  }
  throw new BitconvError(`${arg}: not a model directory and not a Hub repo id (org/name)`, 2);
}

export type RemoteSafetensors = SafetensorsParseFromRepo & { repo: string; revision: string; commit: string };

/**
 * The safetensors headers of a Hub repo (single file or sharded index), read with Range requests only
 * (no weights are downloaded): for `inspect org/name`.
 */
export async function remoteSafetensorsHeaders(
  repo: string,
  opts: Partial<HubOptions> & { revision?: string; maxAttempts?: number; retryBaseMs?: number; timeoutMs?: number } = {},
): Promise<RemoteSafetensors> {
  validateRepoId(repo);
  const revision = validateRevision(opts.revision ?? "main");
  const hub = completeHubOptions(opts);
  if (hub.offline) {
    throw new BitconvError(`${repo}: offline mode (HF_HUB_OFFLINE): remote headers cannot be read; pull the repo and inspect its folder`, 2);
  }
  const policy = retryPolicy(opts);
  const hf = makeHubFetch(hub, opts.timeoutMs ?? 60_000);
  const release = guardConsole();
  try {
    const commit = await resolveCommit(repo, revision, hub, hf, policy);
    const parsed = await withRetry(
      () => parseSafetensorsMetadata({ repo, revision: commit, hubUrl: hub.endpoint, fetch: hf.fetch }),
      policy,
    ).catch((err: unknown) => {
      if (err instanceof Error && /does not seem to contain safetensors/.test(err.message)) {
        throw new BitconvError(`${repo}: no model.safetensors or model.safetensors.index.json at ${commit}`, 2);
      }
      if (err instanceof Error && err.name === "SafetensorParseError") throw new BitconvError(`${repo}: ${err.message}`, 2);
      const code = err instanceof HubApiError ? hf.state.errorCodes.get(err.url) : undefined;
      throw hubError(err, { repo, revision: commit, tokenGiven: !!hub.token, errorCode: code, doing: "reading safetensors headers" }, hub.token);
    });
    return { ...parsed, repo, revision, commit };
  } catch (err) {
    if (err instanceof BitconvError) throw new BitconvError(scrub(err.message, hub.token), err.exitCode);
    throw hubError(err, { repo, revision, tokenGiven: !!hub.token }, hub.token);
  } finally {
    release();
  }
}
