// Names and paths of the Python-compatible Hub cache, and the checks that keep every path the server
// sends inside the folder it belongs to.
import { isAbsolute, join, relative, resolve, sep } from "node:path";
import { BitconvError } from "../util/errors.js";

const REPO_PART = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
export const COMMIT_RE = /^[0-9a-f]{40}$/;

/** Validates a Hub model id (`org/name`, or a legacy `name`), with huggingface_hub's rules. */
export function validateRepoId(repo: string): string {
  const parts = repo.split("/");
  const ok =
    parts.length >= 1 &&
    parts.length <= 2 &&
    parts.every((p) => REPO_PART.test(p) && p.length <= 96 && !p.endsWith(".") && !p.endsWith("-")) &&
    !repo.includes("--") &&
    !repo.includes("..");
  if (!ok) throw new BitconvError(`${repo}: not a Hub repo id (expected org/name)`, 2);
  return repo;
}

/** True when `arg` has the shape of a Hub model id `org/name`. */
export function looksLikeRepoId(arg: string): boolean {
  const parts = arg.split("/");
  if (parts.length !== 2) return false;
  try {
    validateRepoId(arg);
    return true;
  } catch {
    return false;
  }
}

/** `models--org--name`, the folder of a model repo in the cache. */
export function repoFolderName(repo: string): string {
  return ["models", ...repo.split("/")].join("--");
}

/**
 * A revision name used as a path under `refs/` (branches and tags may contain `/`): no empty, `.` or
 * `..` segment, no backslash, no NUL, not absolute.
 */
export function validateRevision(rev: string): string {
  if (!isSafeRelativePath(rev)) throw new BitconvError(`${JSON.stringify(rev)}: not a valid revision name`, 2);
  return rev;
}

/**
 * A repo-relative path from the server is accepted only when it is plainly relative: no leading `/`,
 * no drive letter, no backslash, no NUL or other control character, no empty, `.` or `..` segment.
 */
export function isSafeRelativePath(p: string): boolean {
  if (typeof p !== "string" || p.length === 0 || p.length > 4096) return false;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f\\]/.test(p)) return false;
  if (p.startsWith("/") || /^[A-Za-z]:/.test(p)) return false;
  return p.split("/").every((s) => s !== "" && s !== "." && s !== "..");
}

/** `root/<p>` after checking that `p` is safe and the result lies strictly inside `root`. */
export function safeJoin(root: string, p: string, what = "path"): string {
  if (!isSafeRelativePath(p)) {
    throw new BitconvError(`refusing ${what} ${JSON.stringify(p)} from the server: it would land outside the snapshot folder`, 1);
  }
  const full = resolve(root, p);
  const rel = relative(resolve(root), full);
  if (rel === "" || rel.startsWith("..") || isAbsolute(rel) || rel.split(sep).includes("..")) {
    throw new BitconvError(`refusing ${what} ${JSON.stringify(p)} from the server: it would land outside the snapshot folder`, 1);
  }
  return full;
}

/** Percent-encodes each segment of a repo path for use in a URL (so `%2e%2e` stays a file name). */
export function encodePathForUrl(p: string): string {
  return p.split("/").map(encodeURIComponent).join("/");
}

export interface RepoCachePaths {
  /** `<cacheDir>/models--org--name` */
  root: string;
  blobs: string;
  refs: string;
  snapshots: string;
  /** `<cacheDir>/.locks/models--org--name` (Python keeps its lock files here too; scanCacheDir skips it) */
  locks: string;
}

export function repoCachePaths(cacheDir: string, repo: string): RepoCachePaths {
  const folder = repoFolderName(repo);
  const root = join(cacheDir, folder);
  return {
    root,
    blobs: join(root, "blobs"),
    refs: join(root, "refs"),
    snapshots: join(root, "snapshots"),
    locks: join(cacheDir, ".locks", folder),
  };
}
