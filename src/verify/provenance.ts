// `verify --check-source`: does the artifact still match the inputs it records? Every bitconv artifact
// lists the sha256 of each input file (bitconv.source.files) and, when it was pulled, the repo and
// commit; this re-hashes those files in a source folder (given, or the recorded snapshot in the Hub
// cache) and reports every difference.
import { createHash } from "node:crypto";
import { createReadStream, existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { readGguf, ggufValue } from "../gguf/reader.js";
import { resolveModelSource } from "../hub/pull.js";
import type { HubOptions } from "../hub/options.js";
import { BitconvError, inputError } from "../util/errors.js";

export interface SourceFileCheck {
  path: string;
  expected: string;
  /** null when the file is missing from the source folder */
  actual: string | null;
}

export interface SourceCheck {
  /** the folder whose files were hashed */
  dir: string;
  repo: string | null;
  commit: string | null;
  files: SourceFileCheck[];
  mismatches: SourceFileCheck[];
  passed: boolean;
}

/** Parses `bitconv.source.files` entries: "relative/path <64 hex>". */
export function parseSourceFiles(entries: unknown, artifact: string): { path: string; sha256: string }[] {
  if (!Array.isArray(entries) || entries.length === 0) {
    throw new BitconvError(`${artifact}: records no source files (bitconv.source.files); it was not written by bitconv convert`, 2);
  }
  return entries.map((e) => {
    const m = /^(.+) ([0-9a-f]{64})$/.exec(String(e));
    if (!m) throw new BitconvError(`${artifact}: malformed bitconv.source.files entry ${JSON.stringify(e)}`, 2);
    return { path: m[1], sha256: m[2] };
  });
}

export function sha256File(file: string): Promise<string> {
  return new Promise((ok, fail) => {
    const h = createHash("sha256");
    createReadStream(file, { highWaterMark: 4 << 20 })
      .on("data", (d) => h.update(d))
      .on("error", fail)
      .on("end", () => ok(h.digest("hex")));
  });
}

/**
 * Checks the artifact against its recorded source: `dir` when given, otherwise the recorded repo at the
 * recorded commit (from the Hub cache, pulled if missing unless offline).
 */
export async function checkRecordedSource(artifact: string, dir?: string, hub: Partial<HubOptions> = {}): Promise<SourceCheck> {
  const file = await readGguf(artifact);
  const recorded = parseSourceFiles(ggufValue(file, "bitconv.source.files"), artifact);
  const repo = (ggufValue(file, "bitconv.source.repo") as string | undefined) ?? null;
  const commit = (ggufValue(file, "bitconv.source.commit") as string | undefined) ?? null;
  let source = dir ? resolve(dir) : null;
  if (!source) {
    if (!repo || !commit) {
      throw new BitconvError(`${artifact}: records no source repo and commit; name the source folder (--check-source DIR)`, 2);
    }
    source = (await resolveModelSource(repo, { ...hub, revision: commit, quiet: true })).dir;
  }
  if (!existsSync(source)) throw new BitconvError(`${source}: source folder not found`, 2);
  const files: SourceFileCheck[] = [];
  for (const r of recorded) {
    const p = join(source, r.path);
    files.push({ path: r.path, expected: r.sha256, actual: existsSync(p) ? await sha256File(p) : null });
  }
  const mismatches = files.filter((f) => f.actual !== f.expected);
  return { dir: source, repo, commit, files, mismatches, passed: mismatches.length === 0 };
}

/** The source checkpoint of an artifact, found and checked against its recorded hashes. */
export interface LocatedSource {
  dir: string;
  repo: string | null;
  commit: string | null;
  /** how it was found: named on the command line, or the recorded repo@commit in the local Hub cache */
  how: "given" | "hub-cache";
  /** false when the artifact records no input hashes (not written by bitconv) */
  hashed: boolean;
}

/** The recorded source of an artifact: repo, commit, files (empty when it records none). */
export async function recordedSource(artifact: string): Promise<{ repo: string | null; commit: string | null; files: { path: string; sha256: string }[] }> {
  const file = await readGguf(artifact);
  const entries = ggufValue(file, "bitconv.source.files");
  return {
    repo: (ggufValue(file, "bitconv.source.repo") as string | undefined) ?? null,
    commit: (ggufValue(file, "bitconv.source.commit") as string | undefined) ?? null,
    files: Array.isArray(entries) && entries.length > 0 ? parseSourceFiles(entries, artifact) : [],
  };
}

/** Every recorded input file must be in `dir` with its recorded sha256: else bad input naming the file. */
async function checkHashes(dir: string, files: { path: string; sha256: string }[]): Promise<void> {
  for (const f of files) {
    const p = join(dir, f.path);
    if (!existsSync(p)) throw inputError(p, `missing: the artifact records ${f.path} as an input (sha256 ${f.sha256.slice(0, 12)}…); not its source checkpoint`);
    const actual = await sha256File(p);
    if (actual !== f.sha256) {
      throw inputError(p, `sha256 ${actual.slice(0, 12)}… differs from the ${f.sha256.slice(0, 12)}… the artifact records: not the checkpoint it was converted from`);
    }
  }
}

/**
 * The artifact's source checkpoint: `given` when named, else the recorded repo@commit looked up in the
 * local Hub cache (offline: never a download); null when neither. The recorded sha256 of every input
 * file is checked first (a mismatch is bad input, exit 2).
 */
export async function locateSource(artifact: string, given: string | undefined, hub: Partial<HubOptions> = {}): Promise<LocatedSource | null> {
  const rec = await recordedSource(artifact);
  let dir: string;
  let how: LocatedSource["how"] = "given";
  if (given !== undefined) {
    dir = resolve(given);
    if (!existsSync(join(dir, "config.json"))) throw inputError(given, "not a Hugging Face checkpoint directory (no config.json)");
  } else {
    if (!rec.repo || !rec.commit) return null;
    try {
      dir = (await resolveModelSource(rec.repo, { ...hub, offline: true, revision: rec.commit, quiet: true })).dir;
    } catch {
      return null; // not in the cache
    }
    how = "hub-cache";
  }
  await checkHashes(dir, rec.files);
  return { dir, repo: rec.repo, commit: rec.commit, how, hashed: rec.files.length > 0 };
}
