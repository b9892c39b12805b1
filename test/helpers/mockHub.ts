// A Hugging Face Hub on 127.0.0.1 for the pull tests: the endpoints @huggingface/hub calls (revision,
// tree, paths-info, resolve with Range, raw HEAD), repos built from real files, and knobs that inject
// the faults a download must survive (5xx, connection resets, short bodies, corrupted bytes, a server
// that ignores Range or answers the wrong range, tokens, slow bodies). Every request is logged.
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

export interface MockFile {
  content: Buffer;
  lfs: boolean;
  sha256: string;
  /** git blob sha1 of the content (plain files) or of the LFS pointer (LFS files). */
  oid: string;
  pointerSize: number;
}

export interface MockRepo {
  name: string;
  commit: string;
  branches: Map<string, string>;
  files: Map<string, MockFile>;
  /** When set, every request for this repo needs `Authorization: Bearer <token>`. */
  token?: string;
  /** Raw entries appended to the tree listing (hostile paths). */
  extraTree: unknown[];
  /** Paths listed in the tree whose resolve answers 404 EntryNotFound. */
  missingOnResolve: Set<string>;
}

export interface LoggedRequest {
  method: string;
  /** Decoded path, e.g. /o/r/resolve/<sha>/model.safetensors */
  path: string;
  /** For resolve/raw requests: the repo file path. */
  file?: string;
  kind: "revision" | "tree" | "paths-info" | "resolve" | "raw" | "other";
  range?: string;
  status: number;
  /** Body bytes written (resolve). */
  bytesSent: number;
  authorized: boolean;
  authorization?: string;
  /** Date.now() when the request arrived and when its response ended. */
  startedAt: number;
  endedAt?: number;
}

interface Fault {
  match?: RegExp;
  remaining: number;
}

export function gitBlobSha1(content: Buffer): string {
  return createHash("sha1").update(`blob ${content.length}\0`).update(content).digest("hex");
}

export function sha256(content: Buffer): string {
  return createHash("sha256").update(content).digest("hex");
}

function lfsPointer(sha: string, size: number): Buffer {
  return Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${sha}\nsize ${size}\n`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export class MockHub {
  readonly repos = new Map<string, MockRepo>();
  readonly log: LoggedRequest[] = [];
  url = "";
  private server: Server;
  private sockets = new Set<Socket>();

  // Fault knobs.
  private fails: Array<Fault & { status: number }> = [];
  private resets: Array<Fault & { after: number }> = [];
  private truncates: Array<Fault & { after: number }> = [];
  private corruptions: Array<Fault & { offset: number }> = [];
  private badRanges: Fault[] = [];
  private stalls: Array<Fault & { after: number }> = [];
  /** Answer 200 with the whole file to every Range request. */
  ignoreRange = false;
  /** Slow bodies down: `chunkBytes` per write, `delayMs` between writes. */
  throttle: { chunkBytes: number; delayMs: number } | undefined;

  private constructor() {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err) => {
        if (!res.headersSent) {
          res.writeHead(500, { "Content-Type": "application/json" });
          res.end(JSON.stringify({ error: String(err) }));
        } else res.destroy();
      });
    });
    this.server.on("connection", (s) => {
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
    });
  }

  static async start(): Promise<MockHub> {
    const hub = new MockHub();
    await new Promise<void>((res) => hub.server.listen(0, "127.0.0.1", res));
    hub.url = `http://127.0.0.1:${(hub.server.address() as AddressInfo).port}`;
    return hub;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((res) => this.server.close(() => res()));
  }

  /**
   * Adds a repo. By default *.safetensors files are LFS (sha256 etag), the rest plain git files.
   * The commit is derived from the repo's content, so it is stable across runs.
   */
  addRepo(
    name: string,
    files: Record<string, Buffer | string>,
    opts: { lfs?: (path: string) => boolean; token?: string; branches?: Record<string, string>; commit?: string } = {},
  ): MockRepo {
    const isLfs = opts.lfs ?? ((p: string) => p.endsWith(".safetensors"));
    const map = new Map<string, MockFile>();
    const h = createHash("sha1").update(name);
    for (const [path, data] of Object.entries(files).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const content = Buffer.isBuffer(data) ? data : Buffer.from(data);
      const lfs = isLfs(path);
      const sha = sha256(content);
      const pointer = lfsPointer(sha, content.length);
      map.set(path, { content, lfs, sha256: sha, oid: gitBlobSha1(lfs ? pointer : content), pointerSize: pointer.length });
      h.update(path).update(sha);
    }
    const commit = opts.commit ?? h.digest("hex");
    const branches = new Map<string, string>([["main", commit], ...Object.entries(opts.branches ?? {})]);
    const repo: MockRepo = { name, commit, branches, files: map, token: opts.token, extraTree: [], missingOnResolve: new Set() };
    this.repos.set(name, repo);
    return repo;
  }

  // ---- fault knobs ---------------------------------------------------------------------------------
  /** The next `n` requests (matching `match` on the decoded path) answer `status`. */
  failNext(n: number, status = 500, match?: RegExp): void {
    this.fails.push({ remaining: n, status, match });
  }
  /** The next `times` resolve bodies (matching) are cut by destroying the connection after `after` bytes. */
  resetAfter(after: number, match?: RegExp, times = 1): void {
    this.resets.push({ remaining: times, after, match });
  }
  /** The next `times` resolve bodies (matching) end cleanly (chunked, no Content-Length) after `after` bytes. */
  truncateAfter(after: number, match?: RegExp, times = 1): void {
    this.truncates.push({ remaining: times, after, match });
  }
  /** Flips one byte at `offset` of the served content, for the next `times` resolve bodies (matching). */
  corrupt(offset: number, match?: RegExp, times = Number.POSITIVE_INFINITY): void {
    this.corruptions.push({ remaining: times, offset, match });
  }
  /** The next `times` resolve bodies (matching) send `after` bytes, then nothing (the connection stays open, up to 10 s). */
  stallAfter(after: number, match?: RegExp, times = 1): void {
    this.stalls.push({ remaining: times, after, match });
  }
  /** The next `times` Range requests (matching) get a 206 that starts at byte 0 whatever was asked. */
  wrongRangeStart(match?: RegExp, times = 1): void {
    this.badRanges.push({ remaining: times, match });
  }
  clearFaults(): void {
    this.fails = [];
    this.resets = [];
    this.truncates = [];
    this.corruptions = [];
    this.badRanges = [];
    this.stalls = [];
    this.ignoreRange = false;
    this.throttle = undefined;
  }

  // ---- log queries ---------------------------------------------------------------------------------
  /** Resolve GETs that transfer content (the `bytes=0-0` probes of fileDownloadInfo left out). */
  contentGets(file?: string): LoggedRequest[] {
    return this.log.filter(
      (r) => r.kind === "resolve" && r.method === "GET" && r.range !== "bytes=0-0" && (file === undefined || r.file === file),
    );
  }
  resolveGets(file?: string): LoggedRequest[] {
    return this.log.filter((r) => r.kind === "resolve" && r.method === "GET" && (file === undefined || r.file === file));
  }
  bytesServed(file?: string): number {
    return this.contentGets(file).reduce((s, r) => s + r.bytesSent, 0);
  }
  resetLog(): void {
    this.log.length = 0;
  }

  private take<T extends Fault>(list: T[], path: string): T | undefined {
    const f = list.find((x) => x.remaining > 0 && (!x.match || x.match.test(path)));
    if (f) f.remaining--;
    return f;
  }

  // ---- request handling ----------------------------------------------------------------------------
  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const u = new URL(req.url ?? "/", "http://x");
    const segs = u.pathname.split("/").slice(1).map((s) => decodeURIComponent(s));
    const path = "/" + segs.join("/");
    const entry: LoggedRequest = {
      method: req.method ?? "GET",
      path,
      kind: "other",
      range: typeof req.headers.range === "string" ? req.headers.range : undefined,
      status: 0,
      bytesSent: 0,
      authorized: false,
      authorization: req.headers.authorization,
      startedAt: Date.now(),
    };
    this.log.push(entry);
    res.on("close", () => {
      entry.endedAt = Date.now();
    });
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      entry.status = status;
      const text = typeof body === "string" ? body : JSON.stringify(body);
      res.writeHead(status, { "Content-Type": "application/json", "Content-Length": String(Buffer.byteLength(text)), ...headers });
      res.end(req.method === "HEAD" ? undefined : text);
    };
    const reqBody = await new Promise<Buffer>((resolve) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => resolve(Buffer.concat(chunks)));
    });

    // Route: /api/models/{org}/{name}/{op}/{rev}[/{path}] or /{org}/{name}/{resolve|raw}/{rev}/{path}
    let repoName: string;
    let op: string;
    let rest: string[];
    if (segs[0] === "api" && segs[1] === "models" && segs.length >= 6) {
      repoName = `${segs[2]}/${segs[3]}`;
      op = segs[4];
      rest = segs.slice(5);
    } else if (segs.length >= 5 && (segs[2] === "resolve" || segs[2] === "raw")) {
      repoName = `${segs[0]}/${segs[1]}`;
      op = segs[2];
      rest = segs.slice(3);
    } else {
      return send(404, { error: "Not found" });
    }
    entry.kind = op === "revision" || op === "tree" || op === "paths-info" || op === "resolve" || op === "raw" ? op : "other";
    if (op === "resolve" || op === "raw") entry.file = rest.slice(1).join("/");

    const fail = this.take(this.fails, path);
    if (fail) return send(fail.status, { error: `injected failure ${fail.status}` });

    const repo = this.repos.get(repoName);
    if (!repo) return send(404, { error: "Repository not found" }, { "X-Error-Code": "RepoNotFound" });
    if (repo.token) {
      const auth = req.headers.authorization;
      if (!auth) {
        return send(
          401,
          { error: `Access to model ${repo.name} is restricted. You must be authenticated to access it.` },
          { "X-Error-Code": "GatedRepo" },
        );
      }
      if (auth !== `Bearer ${repo.token}`) return send(403, { error: "Invalid credentials in Authorization header" });
    }
    entry.authorized = true;
    const rev = rest[0] ?? "";
    const commit = repo.branches.get(rev) ?? (rev === "HEAD" ? repo.commit : rev === repo.commit ? repo.commit : undefined);
    if (!commit) return send(404, { error: `Invalid rev id: ${rev}` }, { "X-Error-Code": "RevisionNotFound" });

    if (op === "revision" && req.method === "GET") {
      return send(200, {
        _id: createHash("sha1").update(repo.name).digest("hex").slice(0, 24),
        id: repo.name,
        modelId: repo.name,
        sha: commit,
        private: !!repo.token,
        gated: false,
        disabled: false,
        downloads: 0,
        likes: 0,
        lastModified: "2024-01-01T00:00:00.000Z",
        pipeline_tag: "text-generation",
        siblings: [...repo.files.keys()].map((rfilename) => ({ rfilename })),
      });
    }
    if (op === "tree" && req.method === "GET") {
      const prefix = rest.slice(1).join("/");
      const recursive = u.searchParams.get("recursive") === "true";
      return send(200, [...this.treeEntries(repo, prefix, recursive), ...repo.extraTree]);
    }
    if (op === "paths-info" && req.method === "POST") {
      const { paths = [], expand = false } = JSON.parse(reqBody.toString() || "{}") as { paths?: string[]; expand?: boolean };
      const all = this.treeEntries(repo, "", true);
      return send(
        200,
        all
          .filter((e) => paths.includes(e.path as string))
          .map((e) => (expand ? { ...e, lastCommit: { id: commit, title: "commit", date: "2024-01-01T00:00:00.000Z" } } : e)),
      );
    }
    if (op === "raw" || op === "resolve") {
      const file = rest.slice(1).join("/");
      const f = repo.files.get(file);
      if (!f || repo.missingOnResolve.has(file)) return send(404, { error: "Entry not found" }, { "X-Error-Code": "EntryNotFound" });
      if (op === "raw") {
        entry.status = 200;
        const body = f.lfs ? lfsPointer(f.sha256, f.content.length) : f.content;
        res.writeHead(200, { "Content-Type": "text/plain", "Content-Length": String(body.length), "X-Repo-Commit": commit });
        res.end(req.method === "HEAD" ? undefined : body);
        return;
      }
      return this.serveResolve(req, res, entry, path, f, commit);
    }
    return send(404, { error: "Not found" });
  }

  private treeEntries(repo: MockRepo, prefix: string, recursive: boolean): Array<Record<string, unknown>> {
    const out: Array<Record<string, unknown>> = [];
    const dirs = new Set<string>();
    const under = prefix ? `${prefix}/` : "";
    for (const [path, f] of repo.files) {
      if (!path.startsWith(under)) continue;
      const rel = path.slice(under.length);
      const parts = rel.split("/");
      for (let i = 1; i < parts.length; i++) {
        if (!recursive && i > 1) break;
        dirs.add(under + parts.slice(0, i).join("/"));
      }
      if (!recursive && parts.length > 1) continue;
      out.push({
        type: "file",
        oid: f.oid,
        size: f.content.length,
        path,
        ...(f.lfs ? { lfs: { oid: f.sha256, size: f.content.length, pointerSize: f.pointerSize } } : {}),
      });
    }
    for (const d of dirs) out.push({ type: "directory", oid: createHash("sha1").update(d).digest("hex"), size: 0, path: d });
    return out.sort((a, b) => ((a.path as string) < (b.path as string) ? -1 : 1));
  }

  private async serveResolve(req: IncomingMessage, res: ServerResponse, entry: LoggedRequest, path: string, f: MockFile, commit: string): Promise<void> {
    const total = f.content.length;
    const etag = f.lfs ? f.sha256 : f.oid;
    const headers: Record<string, string> = {
      "Content-Type": "application/octet-stream",
      ETag: `"${etag}"`,
      "Accept-Ranges": "bytes",
      "X-Repo-Commit": commit,
      ...(f.lfs ? { "X-Linked-Etag": `"${f.sha256}"`, "X-Linked-Size": String(total) } : {}),
    };
    let content = f.content;
    const range = entry.range;
    let start = 0;
    let end = total - 1;
    let status = 200;
    if (range && !this.ignoreRange) {
      const m = /^bytes=(\d+)-(\d*)$/.exec(range);
      if (m) {
        start = Number(m[1]);
        end = m[2] === "" ? total - 1 : Math.min(Number(m[2]), total - 1);
        if (start >= total) {
          entry.status = 416;
          res.writeHead(416, { ...headers, "Content-Range": `bytes */${total}`, "Content-Length": "0" });
          res.end();
          return;
        }
        status = 206;
        // The bytes=0-0 probes of fileDownloadInfo are never disturbed by the faults below.
        if (range !== "bytes=0-0" && this.take(this.badRanges, path)) {
          start = 0;
          end = total - 1;
        }
        headers["Content-Range"] = `bytes ${start}-${end}/${total}`;
      }
    }
    const probe = range === "bytes=0-0";
    if (!probe) {
      const c = this.take(this.corruptions, path);
      if (c) {
        content = Buffer.from(content);
        content[c.offset] ^= 0xff;
      }
    }
    let body = content.subarray(start, end + 1);
    entry.status = status;
    if (req.method === "HEAD") {
      res.writeHead(status, { ...headers, "Content-Length": String(body.length) });
      res.end();
      return;
    }
    const reset = probe ? undefined : this.take(this.resets, path);
    const stall = probe || reset ? undefined : this.take(this.stalls, path);
    const trunc = probe ? undefined : this.take(this.truncates, path);
    if (trunc) {
      body = body.subarray(0, Math.min(trunc.after, body.length));
      res.writeHead(status, headers); // chunked: the short body looks complete
    } else {
      res.writeHead(status, { ...headers, "Content-Length": String(body.length) });
    }
    const cut = reset ?? stall;
    const limit = cut ? Math.min(cut.after, body.length) : body.length;
    const chunk = this.throttle?.chunkBytes ?? 64 * 1024;
    let off = 0;
    while (off < limit) {
      const piece = body.subarray(off, Math.min(off + chunk, limit));
      await new Promise<void>((resolve, reject) => res.write(piece, (err) => (err ? reject(err) : resolve())));
      off += piece.length;
      entry.bytesSent += piece.length;
      if (this.throttle && off < limit) await sleep(this.throttle.delayMs);
      if (res.destroyed) return;
    }
    if (reset) {
      await sleep(20);
      res.socket?.destroy();
      return;
    }
    if (stall) {
      const closed = new Promise<void>((r) => res.once("close", () => r()));
      await Promise.race([closed, sleep(10_000)]);
      res.socket?.destroy();
      return;
    }
    res.end();
  }
}

// ---- a tiny safetensors writer, for sharded test repos ------------------------------------------------

interface TensorEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

export function readSafetensorsHeader(buf: Buffer): { header: Record<string, TensorEntry>; metadata?: Record<string, string>; dataStart: number } {
  const n = Number(buf.readBigUInt64LE(0));
  const json = JSON.parse(buf.subarray(8, 8 + n).toString("utf8")) as Record<string, unknown>;
  const { __metadata__, ...tensors } = json;
  return { header: tensors as Record<string, TensorEntry>, metadata: __metadata__ as Record<string, string> | undefined, dataStart: 8 + n };
}

/** Writes a safetensors file from raw tensor bytes (header padded with spaces to 8 bytes). */
export function writeSafetensors(
  tensors: Array<{ name: string; dtype: string; shape: number[]; data: Buffer }>,
  metadata?: Record<string, string>,
): Buffer {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let off = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + t.data.length] };
    off += t.data.length;
  }
  let json = JSON.stringify(header);
  while (Buffer.byteLength(json) % 8 !== 0) json += " ";
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  return Buffer.concat([len, Buffer.from(json), ...tensors.map((t) => t.data)]);
}

/**
 * Splits one safetensors file into `parts` shards named like transformers' (model-0000i-of-0000n) and
 * the model.safetensors.index.json that maps each tensor to its shard.
 */
export function shardSafetensors(buf: Buffer, parts = 2): Record<string, Buffer> {
  const { header, metadata, dataStart } = readSafetensorsHeader(buf);
  const names = Object.keys(header).sort((a, b) => header[a].data_offsets[0] - header[b].data_offsets[0]);
  const per = Math.ceil(names.length / parts);
  const out: Record<string, Buffer> = {};
  const weightMap: Record<string, string> = {};
  let totalSize = 0;
  for (let p = 0; p < parts; p++) {
    const file = `model-${String(p + 1).padStart(5, "0")}-of-${String(parts).padStart(5, "0")}.safetensors`;
    const chunk = names.slice(p * per, (p + 1) * per).map((name) => {
      const e = header[name];
      weightMap[name] = file;
      const data = buf.subarray(dataStart + e.data_offsets[0], dataStart + e.data_offsets[1]);
      totalSize += data.length;
      return { name, dtype: e.dtype, shape: e.shape, data: Buffer.from(data) };
    });
    out[file] = writeSafetensors(chunk, metadata ?? { format: "pt" });
  }
  out["model.safetensors.index.json"] = Buffer.from(JSON.stringify({ metadata: { total_size: totalSize }, weight_map: weightMap }, null, 2));
  return out;
}
