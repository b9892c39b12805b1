// One blob of the cache: resumable download into blobs/<etag>.incomplete under a lock, checksum, then
// an atomic rename into blobs/<etag>.
import { createHash } from "node:crypto";
import { createReadStream, promises as fsp } from "node:fs";
import { join } from "node:path";
import { fileDownloadInfo, HubApiError, InvalidApiResponseFormatError } from "@huggingface/hub";
import { BitconvError } from "../util/errors.js";
import {
  accessDenied,
  hubError,
  statusIsTransient,
  TransientError,
  withRetry,
  describeError,
  type HubFetchState,
  type RetryPolicy,
} from "./http.js";
import { acquireLock, type LockOptions } from "./lock.js";
import { encodePathForUrl } from "./paths.js";
import type { PullProgress } from "./progress.js";

export interface BlobSpec {
  /** Path of the file in the repo. */
  path: string;
  size: number;
  /** Name of the blob: the LFS sha256, else the Xet hash, else the git blob sha1. */
  etag: string;
  /** LFS files: the sha256 of the content. */
  sha256?: string;
  /** Plain git files: the git blob sha1 (sha1("blob <size>\0" + content)). */
  gitSha1?: string;
}

export interface DownloadContext {
  repo: string;
  commit: string;
  endpoint: string;
  /** The wrapped fetch (auth, timeouts). */
  fetch: typeof fetch;
  fetchState: HubFetchState;
  blobsDir: string;
  locksDir: string;
  retry: RetryPolicy;
  /** A request that delivers no data for this long is abandoned (and retried). */
  timeoutMs: number;
  signal: AbortSignal;
  token?: string;
  lock: LockOptions;
  progress: PullProgress;
}

export interface BlobOutcome {
  downloaded: boolean;
  /** Body bytes received for this blob (all attempts). */
  bytes: number;
}

async function sizeOf(p: string): Promise<number | undefined> {
  try {
    return (await fsp.stat(p)).size;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

export async function exists(p: string): Promise<boolean> {
  return (await sizeOf(p)) !== undefined;
}

/** sha256 (hex) of a file, or its git blob sha1 when `git` is set. */
export async function hashFile(p: string, kind: "sha256" | "git-sha1"): Promise<string> {
  const h = createHash(kind === "sha256" ? "sha256" : "sha1");
  if (kind === "git-sha1") h.update(`blob ${(await fsp.stat(p)).size}\0`);
  for await (const chunk of createReadStream(p, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest("hex");
}

function parseContentRange(v: string | null): { start: number; end: number; total?: number } | undefined {
  const m = v ? /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/i.exec(v.trim()) : null;
  if (!m) return undefined;
  return { start: Number(m[1]), end: Number(m[2]), total: m[3] === "*" ? undefined : Number(m[3]) };
}

async function discardBody(res: Response): Promise<void> {
  try {
    await res.body?.cancel();
  } catch {
    /* nothing to discard */
  }
}

/**
 * Makes sure blobs/<etag> exists with verified content; downloads (or resumes) it when absent.
 * A file already in blobs/ is never fetched again.
 */
export async function ensureBlob(spec: BlobSpec, ctx: DownloadContext): Promise<BlobOutcome> {
  const blob = join(ctx.blobsDir, spec.etag);
  if (await exists(blob)) return { downloaded: false, bytes: 0 };
  await fsp.mkdir(ctx.blobsDir, { recursive: true });
  const lock = await acquireLock(join(ctx.locksDir, `${spec.etag}.bitconv.lock`), { ...ctx.lock, signal: ctx.signal });
  try {
    // Another pull may have completed it while we waited.
    if (await exists(blob)) return { downloaded: false, bytes: 0 };
    const partial = `${blob}.incomplete`;
    const counter = { bytes: 0 };
    await withRetry(() => attempt(spec, ctx, partial, counter), ctx.retry, {
      signal: ctx.signal,
      onRetry: (err, n, delay) =>
        ctx.progress.log(
          `bitconv: ${spec.path}: ${describeError(err)}; retrying in ${(delay / 1000).toFixed(1)} s (attempt ${n + 1} of ${ctx.retry.maxAttempts})`,
        ),
    }).catch((err: unknown) => {
      throw hubError(err, { repo: ctx.repo, revision: ctx.commit, path: spec.path, tokenGiven: !!ctx.token, doing: `download of ${spec.path}` }, ctx.token);
    });
    await verify(spec, ctx, partial);
    const fh = await fsp.open(partial, "r");
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(partial, blob); // idempotent: the content is fixed by its name
    return { downloaded: true, bytes: counter.bytes };
  } finally {
    ctx.progress.fileDone(spec.path);
    await lock.release();
  }
}

async function verify(spec: BlobSpec, ctx: DownloadContext, partial: string): Promise<void> {
  const size = (await sizeOf(partial)) ?? -1;
  if (size !== spec.size) {
    await fsp.rm(partial, { force: true });
    throw new BitconvError(`${ctx.repo}: ${spec.path}: downloaded ${size} bytes, expected ${spec.size}; the partial file was removed`, 1);
  }
  const kind = spec.sha256 ? "sha256" : spec.gitSha1 ? "git-sha1" : undefined;
  if (!kind) return; // a Xet-only entry carries no content hash we can recompute: the size is all we check
  const want = (spec.sha256 ?? spec.gitSha1) as string;
  const got = await hashFile(partial, kind);
  if (got !== want) {
    await fsp.rm(partial, { force: true });
    throw new BitconvError(
      `${ctx.repo}: ${spec.path}: checksum mismatch (${kind} expected ${want}, got ${got}); the partial download was removed, nothing entered the cache`,
      1,
    );
  }
}

/** One request: appends to the partial file from its current size (or restarts it from 0). */
async function attempt(spec: BlobSpec, ctx: DownloadContext, partial: string, counter: { bytes: number }): Promise<void> {
  let have = (await sizeOf(partial)) ?? 0;
  if (have > spec.size) {
    await fsp.truncate(partial, 0);
    have = 0;
  }
  if (have === spec.size) {
    if (spec.size === 0) await (await fsp.open(partial, "a")).close();
    return; // complete already (an earlier run died before verifying)
  }

  const errCtx = { repo: ctx.repo, revision: ctx.commit, path: spec.path, tokenGiven: !!ctx.token };
  let info;
  try {
    info = await fileDownloadInfo({
      repo: ctx.repo,
      path: encodePathForUrl(spec.path),
      revision: ctx.commit,
      hubUrl: ctx.endpoint,
      fetch: ctx.fetch,
    });
  } catch (err) {
    if (err instanceof InvalidApiResponseFormatError) {
      // The probe answer lacked Content-Range/ETag (a proxy that drops Range, say): the listing already
      // gave size and hash, so fetch the resolve URL directly.
      info = { url: `${ctx.endpoint}/${ctx.repo}/resolve/${ctx.commit}/${encodePathForUrl(spec.path)}`, size: spec.size, etag: spec.etag };
    } else if (err instanceof HubApiError && !statusIsTransient(err.statusCode)) {
      throw hubError(err, { ...errCtx, errorCode: ctx.fetchState.errorCodes.get(err.url) }, ctx.token);
    } else throw err;
  }
  if (!info) throw new BitconvError(`${ctx.repo}: file ${spec.path} not found at revision ${ctx.commit} (HTTP 404)`, 2);
  if (info.size !== spec.size) {
    throw new BitconvError(`${ctx.repo}: ${spec.path}: the server reports ${info.size} bytes, the file listing ${spec.size}`, 1);
  }

  const idle = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(
      () => idle.abort(new DOMException(`no data for ${(ctx.timeoutMs / 1000).toFixed(1)} s`, "TimeoutError")),
      ctx.timeoutMs,
    );
  };
  const signal = AbortSignal.any([idle.signal, ctx.signal]);
  const headers: Record<string, string> = { "Accept-Encoding": "identity" };
  if (have > 0) headers.Range = `bytes=${have}-`;
  arm();
  try {
    const res = await ctx.fetch(info.url, { headers, signal });
    if (res.status === 416) {
      await discardBody(res);
      await fsp.truncate(partial, 0).catch(() => {});
      throw new TransientError(`HTTP 416 for bytes ${have}- (the partial file was restarted)`);
    }
    if (!res.ok) {
      await discardBody(res);
      if (res.status === 401 || res.status === 403) {
        throw accessDenied(res.status, { ...errCtx, errorCode: res.headers.get("x-error-code") ?? undefined });
      }
      if (res.status === 404) throw new BitconvError(`${ctx.repo}: file ${spec.path} not found at revision ${ctx.commit} (HTTP 404)`, 2);
      if (statusIsTransient(res.status)) throw new TransientError(`HTTP ${res.status}`);
      throw new BitconvError(`${ctx.repo}: ${spec.path}: HTTP ${res.status}`, 1);
    }
    let from: number;
    if (res.status === 206) {
      const cr = parseContentRange(res.headers.get("content-range"));
      if (!cr || cr.start !== have || (cr.total !== undefined && cr.total !== spec.size)) {
        // Not the bytes we asked for: never append them. Restart from 0 on the next attempt.
        await discardBody(res);
        await fsp.truncate(partial, 0).catch(() => {});
        ctx.progress.fileReset(spec.path, 0);
        throw new TransientError(
          `the server answered ${res.headers.get("content-range") ?? "206 without Content-Range"} to Range bytes=${have}- (restarting the file from 0)`,
        );
      }
      from = have;
    } else {
      from = 0; // 200: the whole file, whatever we asked (a server that ignores Range)
      if (have > 0) ctx.progress.log(`bitconv: ${spec.path}: the server ignored the Range request; restarting from 0`);
    }
    ctx.progress.fileStart(spec.path, spec.size, from);
    const fh = await fsp.open(partial, from === 0 ? "w" : "a");
    let written = from;
    try {
      if (!res.body) throw new TransientError("response without a body");
      const reader = res.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        arm();
        if (written + value.byteLength > spec.size) {
          await reader.cancel().catch(() => {});
          await fh.truncate(0);
          written = 0;
          throw new TransientError(`the server sent more than ${spec.size} bytes (restarting the file from 0)`);
        }
        await fh.write(value);
        written += value.byteLength;
        counter.bytes += value.byteLength;
        ctx.progress.fileAdvance(spec.path, value.byteLength);
      }
    } finally {
      await fh.close();
    }
    if (written < spec.size) throw new TransientError(`the body ended after ${written} of ${spec.size} bytes`);
  } finally {
    clearTimeout(timer);
  }
}
