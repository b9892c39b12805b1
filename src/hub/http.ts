// HTTP plumbing for the Hub: a fetch that carries the token (any token, not only hf_…), timeouts,
// retries with exponential backoff, and the translation of Hub failures into clear BitconvErrors.
import { HubApiError } from "@huggingface/hub";
import { BitconvError } from "../util/errors.js";
import { sleep } from "../util/sleep.js";
import type { HubOptions } from "./options.js";

/** A failure worth another attempt: 5xx, 429, connection resets, timeouts, short bodies. */
export class TransientError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TransientError";
  }
}

/** What a wrapped fetch learned about failed responses (the library's HubApiError drops headers). */
export interface HubFetchState {
  /** X-Error-Code of the last non-2xx response per URL (RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo). */
  errorCodes: Map<string, string>;
}

export interface HubFetch {
  fetch: typeof fetch;
  state: HubFetchState;
}

/**
 * A fetch for the library and for our own downloads: adds `Authorization: Bearer <token>` to requests
 * for the Hub's own origin only (never to a CDN a resolve redirects to), bounds requests that carry no
 * signal of their own with `timeoutMs`, and records X-Error-Code of failures. The token is never passed
 * to the library's `accessToken` (which rejects tokens not starting with hf_).
 */
export function makeHubFetch(hub: HubOptions, timeoutMs: number): HubFetch {
  const base = hub.fetch ?? globalThis.fetch;
  const origin = new URL(hub.endpoint).origin;
  const state: HubFetchState = { errorCodes: new Map() };
  const wrapped = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
    let sameOrigin = false;
    try {
      sameOrigin = new URL(url).origin === origin;
    } catch {
      /* let fetch report the bad URL */
    }
    if (hub.token && sameOrigin && !headers.has("authorization")) headers.set("Authorization", `Bearer ${hub.token}`);
    const signal = init?.signal ?? AbortSignal.timeout(timeoutMs);
    const res = await base(input, { ...init, headers, signal });
    if (!res.ok) {
      const code = res.headers.get("x-error-code");
      if (code) state.errorCodes.set(res.url || url, code);
      if (code && res.url && res.url !== url) state.errorCodes.set(url, code);
    }
    return res;
  };
  return { fetch: wrapped as typeof fetch, state };
}

export interface RetryPolicy {
  /** Attempts in all (first try included). */
  maxAttempts: number;
  /** Delay before the second attempt; doubles each time (with ±25% jitter), capped at 30 s. */
  baseDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 5, baseDelayMs: 1000 };

const NETWORK_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "ENOTFOUND",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "UND_ERR_CLOSED",
]);

function errorCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let i = 0; i < 5 && e && typeof e === "object"; i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** True for connection-level failures (no HTTP status at all). */
export function isNetworkError(err: unknown): boolean {
  if (err instanceof TransientError) return false;
  if (err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError")) return true;
  const code = errorCode(err);
  if (code && NETWORK_CODES.has(code)) return true;
  // undici: TypeError("fetch failed") on connect errors, TypeError("terminated") when a body breaks off.
  return err instanceof TypeError && /fetch failed|terminated|socket|network/i.test(err.message);
}

export function isRetryable(err: unknown): boolean {
  if (err instanceof TransientError) return true;
  if (err instanceof HubApiError) return err.statusCode >= 500 || err.statusCode === 429 || err.statusCode === 408;
  return isNetworkError(err);
}

export function statusIsTransient(status: number): boolean {
  return status >= 500 || status === 429 || status === 408;
}


export function backoffMs(policy: RetryPolicy, attempt: number): number {
  const d = Math.min(policy.baseDelayMs * 2 ** (attempt - 1), 30_000);
  return Math.round(d * (0.75 + Math.random() * 0.5));
}

/**
 * Runs `fn` until it succeeds, a non-transient error occurs, or `policy.maxAttempts` attempts are used.
 * `onRetry` hears about each failure that is retried.
 */
export async function withRetry<T>(
  fn: (attempt: number) => Promise<T>,
  policy: RetryPolicy,
  opts: { signal?: AbortSignal; onRetry?: (err: unknown, attempt: number, delayMs: number) => void } = {},
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      if (!isRetryable(err) || attempt >= policy.maxAttempts) throw err;
      const delay = backoffMs(policy, attempt);
      opts.onRetry?.(err, attempt, delay);
      await sleep(delay, opts.signal);
    }
  }
}

/** Removes every occurrence of the token from a message. */
export function scrub(message: string, token: string | undefined): string {
  if (!token) return message;
  return message.split(token).join("***");
}

export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = errorCode(err);
    const cause = (err as { cause?: unknown }).cause;
    const causeMsg = cause instanceof Error && cause.message && cause.message !== err.message ? `: ${cause.message}` : "";
    return `${err.message}${causeMsg}${code && !`${err.message}${causeMsg}`.includes(code) ? ` (${code})` : ""}`;
  }
  return String(err);
}

export interface HubErrorContext {
  repo: string;
  revision?: string;
  path?: string;
  tokenGiven: boolean;
  /** X-Error-Code seen for the failed URL, if any. */
  errorCode?: string;
  /** What was being done, for the generic message. */
  doing?: string;
}

/** A 401/403 message that tells the user what to do, without ever showing the token. */
export function accessDenied(status: number, ctx: HubErrorContext): BitconvError {
  const what = ctx.errorCode === "GatedRepo" ? "is gated" : "is gated or private";
  const advice = ctx.tokenGiven
    ? `the token was refused or has no access: check it (set HF_TOKEN or pass --token), and for a gated repo accept its conditions on the Hub`
    : `set HF_TOKEN or pass --token`;
  return new BitconvError(`${ctx.repo}: access denied (HTTP ${status}): the repo ${what}; ${advice}`, 2);
}

/** Translates a failure of a Hub call into a one-line BitconvError (the token scrubbed). */
export function hubError(err: unknown, ctx: HubErrorContext, token: string | undefined): BitconvError {
  if (err instanceof BitconvError) return new BitconvError(scrub(err.message, token), err.exitCode);
  const code = ctx.errorCode;
  if (err instanceof HubApiError) {
    const s = err.statusCode;
    if (code === "RepoNotFound") {
      return new BitconvError(
        `${ctx.repo}: repository not found on the Hub${ctx.tokenGiven ? "" : " (if it is private or gated, set HF_TOKEN or pass --token)"}`,
        2,
      );
    }
    if (code === "RevisionNotFound") return new BitconvError(`${ctx.repo}: revision ${JSON.stringify(ctx.revision)} not found`, 2);
    if (code === "EntryNotFound" && ctx.path) {
      return new BitconvError(`${ctx.repo}: file ${ctx.path} not found at revision ${ctx.revision}`, 2);
    }
    if (s === 401 || s === 403) return accessDenied(s, ctx);
    if (s === 404) {
      if (ctx.path) return new BitconvError(`${ctx.repo}: file ${ctx.path} not found at revision ${ctx.revision} (HTTP 404)`, 2);
      return new BitconvError(`${ctx.repo}: not found (HTTP 404)`, 2);
    }
    return new BitconvError(scrub(`${ctx.repo}: ${ctx.doing ?? "Hub request"} failed: HTTP ${s}: ${err.message}`, token), 1);
  }
  if (err instanceof TransientError || isNetworkError(err)) {
    return new BitconvError(scrub(`${ctx.repo}: ${ctx.doing ?? "Hub request"} failed: ${describeError(err)}`, token), 1);
  }
  return new BitconvError(scrub(`${ctx.repo}: ${ctx.doing ?? "Hub request"} failed: ${describeError(err)}`, token), 1);
}
