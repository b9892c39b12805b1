// pull against a mock Hub on 127.0.0.1: cache layout, resume, checksums, retries, auth, errors,
// offline mode, concurrency, file selection, hostile paths; the CLI runs as a child process.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn } from "node:child_process";
import { promises as fsp, readFileSync, readdirSync, existsSync, lstatSync, readlinkSync, statSync } from "node:fs";
import { tmpdir, hostname } from "node:os";
import { dirname, join, resolve, isAbsolute } from "node:path";
import { fileURLToPath } from "node:url";
import { MockHub, gitBlobSha1, sha256, readSafetensorsHeader, shardSafetensors, type MockRepo } from "./helpers/mockHub.js";
import { pull, resolveModelSource, remoteSafetensorsHeaders } from "../src/hub/pull.js";
import { hubOptionsFromEnv } from "../src/hub/options.js";
import { globToRegExp, makeSelector } from "../src/hub/glob.js";
import { isSafeRelativePath, repoFolderName, validateRepoId } from "../src/hub/paths.js";
import { BitconvError } from "../src/util/errors.js";
import { scanCacheDir } from "@huggingface/hub";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CLI = join(ROOT, "dist", "src", "cli.js");
const FIX = join(ROOT, "fixtures", "tiny-bitnet-b1.58");

// Keep the developer's own Hub settings out of the tests.
for (const k of Object.keys(process.env)) if (/^(HF_|HUGGING_?FACE|TRANSFORMERS_OFFLINE)/.test(k)) delete process.env[k];
const TMP = readyTmp();
process.env.HF_HOME = join(TMP, "hf-home");

function readyTmp(): string {
  const d = join(tmpdir(), `bitconv-hub-test-${process.pid}-${Date.now()}`);
  return d;
}

let hub: MockHub;
let tiny: MockRepo;
const fixture: Record<string, Buffer> = {};
for (const name of readdirSync(FIX)) fixture[name] = readFileSync(join(FIX, name));
const MODEL = fixture["model.safetensors"];
const MODEL_SHA = sha256(MODEL);
let dirCount = 0;

async function newDir(label: string): Promise<string> {
  const d = join(TMP, `${label}-${dirCount++}`);
  await fsp.mkdir(d, { recursive: true });
  return d;
}

function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: TMP, HF_HOME: join(TMP, "hf-home-cli"), HF_ENDPOINT: hub.url };
  return { ...env, ...extra };
}

function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, [CLI, ...args], { env, cwd: ROOT });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const kill = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("error", rej);
    child.on("close", (code) => {
      clearTimeout(kill);
      res({ code: code ?? -1, stdout, stderr });
    });
  });
}

const fast = { maxAttempts: 5, retryBaseMs: 5, quiet: true } as const;

function opts(cacheDir: string, extra: Record<string, unknown> = {}) {
  return { endpoint: hub.url, cacheDir, offline: false, token: undefined, ...fast, ...extra };
}

async function rejects(p: Promise<unknown>, re: RegExp): Promise<BitconvError> {
  try {
    await p;
  } catch (e) {
    assert.instance(e, BitconvError, `expected a BitconvError, got ${String(e)}`);
    assert.match((e as Error).message, re);
    return e as BitconvError;
  }
  throw new assert.Assertion({ message: `expected a rejection matching ${re}`, operator: "rejects" } as never);
}

/** Every file under `dir` (symlinks not followed), as bytes. */
async function allFiles(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const walk = async (d: string) => {
    for (const e of await fsp.readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) out.set(p, await fsp.readFile(p));
      else if (e.isSymbolicLink()) out.set(p, Buffer.from(await fsp.readlink(p)));
    }
  };
  await walk(dir);
  return out;
}

test.before(async () => {
  await fsp.mkdir(TMP, { recursive: true });
  hub = await MockHub.start();
  tiny = hub.addRepo("tiny/bitnet", {
    ...fixture,
    "README.md": "# tiny\n",
    "pytorch_model.bin": Buffer.alloc(1000, 7),
    "extra/other.safetensors": Buffer.alloc(64, 1),
  });
});

test.after(async () => {
  await hub.close();
  await fsp.rm(TMP, { recursive: true, force: true });
});

test.before.each(() => {
  hub.clearFaults();
  hub.resetLog();
});

// ---- the CLI: layout, idempotence ----------------------------------------------------------------------

let sharedCache = "";

test("cli pull writes the Python cache layout: relative symlinks to verified blobs, refs/main", async () => {
  sharedCache = await newDir("cache");
  const r = await runCli(["pull", "tiny/bitnet", "--cache-dir", sharedCache], cleanEnv());
  assert.is(r.code, 0, r.stderr);
  const repoDir = join(sharedCache, "models--tiny--bitnet");
  const snap = join(repoDir, "snapshots", tiny.commit);
  assert.is(r.stdout, `${snap}\n`);
  assert.is(readFileSync(join(repoDir, "refs", "main"), "utf8"), tiny.commit);
  for (const [name, bytes] of Object.entries(fixture)) {
    const link = join(snap, name);
    assert.ok(lstatSync(link).isSymbolicLink(), `${name} is a symlink`);
    const target = readlinkSync(link);
    assert.not.ok(isAbsolute(target), `${name} -> ${target} is relative`);
    const etag = name.endsWith(".safetensors") ? sha256(bytes) : gitBlobSha1(bytes);
    assert.is(target, `../../blobs/${etag}`);
    const blob = resolve(dirname(link), target);
    assert.ok(existsSync(blob));
    assert.ok(readFileSync(blob).equals(bytes), `${name}: blob equals the fixture byte for byte`);
  }
  // Only the default set: no README, no .bin, nothing from a subfolder.
  assert.equal(readdirSync(snap).sort(), Object.keys(fixture).sort());
  assert.not.ok(readdirSync(join(repoDir, "blobs")).some((n) => n.endsWith(".incomplete")));
  const locks = join(sharedCache, ".locks", "models--tiny--bitnet");
  assert.equal(existsSync(locks) ? readdirSync(locks) : [], [], "no lock left behind");
  assert.is(hub.contentGets("README.md").length + hub.contentGets("pytorch_model.bin").length, 0);
  // The library's own reader of Python caches sees one repo, one revision, ref main, every file.
  const scan = await scanCacheDir(sharedCache);
  assert.equal(scan.warnings, []);
  assert.is(scan.repos.length, 1);
  assert.is(scan.repos[0].id.name, "tiny/bitnet");
  assert.is(scan.repos[0].revisions[0].commitOid, tiny.commit);
  assert.equal(scan.repos[0].revisions[0].refs, ["main"]);
  assert.is(scan.repos[0].revisions[0].files.length, Object.keys(fixture).length);
});

test("cli pull again: nothing downloaded (no resolve GET), --json describes the files", async () => {
  const r = await runCli(["pull", "tiny/bitnet", "--cache-dir", sharedCache, "--json"], cleanEnv());
  assert.is(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.is(j.repo, "tiny/bitnet");
  assert.is(j.revision, "main");
  assert.is(j.commit, tiny.commit);
  assert.is(j.path, join(sharedCache, "models--tiny--bitnet", "snapshots", tiny.commit));
  assert.is(j.bytesDownloaded, 0);
  assert.equal(
    j.files.map((f: { path: string }) => f.path).sort(),
    Object.keys(fixture).sort(),
  );
  for (const f of j.files) {
    assert.is(f.downloaded, false);
    assert.is(f.size, fixture[f.path].length);
  }
  assert.is(hub.resolveGets().length, 0, "no resolve request at all");
});

// ---- resume ---------------------------------------------------------------------------------------------

test("a download cut halfway leaves its partial file; the next pull resumes it with a Range from its size", async () => {
  const cache = await newDir("resume");
  hub.resetAfter(1_000_000, /model\.safetensors$/, 1);
  await rejects(pull({ ...opts(cache, { maxAttempts: 1 }), repo: "tiny/bitnet" }), /model\.safetensors/);
  const blobs = join(cache, "models--tiny--bitnet", "blobs");
  const partial = join(blobs, `${MODEL_SHA}.incomplete`);
  // What arrived before the cut is kept (undici may drop the last queued chunks when the socket dies).
  const have = statSync(partial).size;
  assert.ok(have > 500_000 && have <= 1_000_000, `partial of ${have} bytes`);
  assert.ok(readFileSync(partial).equals(MODEL.subarray(0, have)), "the partial holds the first bytes");
  assert.not.ok(existsSync(join(blobs, MODEL_SHA)));

  hub.resetLog();
  const res = await pull({ ...opts(cache), repo: "tiny/bitnet" });
  const gets = hub.contentGets("model.safetensors");
  assert.is(gets.length, 1);
  assert.is(gets[0].range, `bytes=${have}-`);
  assert.is(gets[0].status, 206);
  assert.is(hub.bytesServed("model.safetensors"), MODEL.length - have);
  assert.ok(readFileSync(join(blobs, MODEL_SHA)).equals(MODEL));
  assert.not.ok(existsSync(partial));
  assert.is(res.files.find((f) => f.path === "model.safetensors")?.downloaded, true);
});

test("a connection reset inside one pull is retried from where it stopped", async () => {
  const cache = await newDir("reset");
  hub.resetAfter(700_000, /model\.safetensors$/, 1);
  const res = await pull({ ...opts(cache), repo: "tiny/bitnet" });
  const gets = hub.contentGets("model.safetensors");
  assert.is(gets.length, 2);
  assert.is(gets[0].bytesSent, 700_000);
  const start = Number(/^bytes=(\d+)-$/.exec(gets[1].range ?? "")?.[1]);
  assert.ok(start > 0 && start <= 700_000, `resumed from ${gets[1].range}`);
  assert.is(gets[1].bytesSent, MODEL.length - start);
  assert.ok(hub.bytesServed("model.safetensors") - MODEL.length < 200_000, "not refetched from 0");
  const blob = join(cache, "models--tiny--bitnet", "blobs", MODEL_SHA);
  assert.ok(readFileSync(blob).equals(MODEL));
  const total = Object.values(fixture).reduce((s, b) => s + b.length, 0);
  assert.is(res.bytesDownloaded, total - MODEL.length + start + gets[1].bytesSent);
});

test("a body that stalls is abandoned after the idle timeout and resumed", async () => {
  const cache = await newDir("stall");
  hub.stallAfter(400_000, /model\.safetensors$/, 1);
  const t0 = Date.now();
  await pull({ ...opts(cache), timeoutMs: 400, repo: "tiny/bitnet", include: ["model.safetensors"] });
  assert.ok(Date.now() - t0 < 5000);
  const gets = hub.contentGets("model.safetensors");
  assert.is(gets.length, 2);
  const start = Number(/^bytes=(\d+)-$/.exec(gets[1].range ?? "")?.[1]);
  assert.ok(start > 0 && start <= 400_000, `resumed from ${gets[1].range}`);
  assert.ok(readFileSync(join(cache, "models--tiny--bitnet", "blobs", MODEL_SHA)).equals(MODEL));
});

test("a body that ends early (clean close) is detected by size and resumed", async () => {
  const cache = await newDir("trunc");
  hub.truncateAfter(500_000, /model\.safetensors$/, 1);
  await pull({ ...opts(cache), repo: "tiny/bitnet" });
  const gets = hub.contentGets("model.safetensors");
  assert.is(gets.length, 2);
  assert.is(gets[1].range, "bytes=500000-");
  assert.ok(readFileSync(join(cache, "models--tiny--bitnet", "blobs", MODEL_SHA)).equals(MODEL));
});

async function leavePartial(cache: string, bytes: number): Promise<number> {
  hub.resetAfter(bytes, /model\.safetensors$/, 1);
  await rejects(pull({ ...opts(cache, { maxAttempts: 1 }), repo: "tiny/bitnet", include: ["model.safetensors"] }), /model\.safetensors/);
  const partial = join(cache, "models--tiny--bitnet", "blobs", `${MODEL_SHA}.incomplete`);
  const have = statSync(partial).size;
  assert.ok(have > 0 && have <= bytes);
  hub.clearFaults();
  hub.resetLog();
  return have;
}

test("a server that ignores Range: the 200 restarts the file from 0, nothing appended twice", async () => {
  const cache = await newDir("norange");
  const have = await leavePartial(cache, 800_000);
  hub.ignoreRange = true;
  await pull({ ...opts(cache), repo: "tiny/bitnet", include: ["model.safetensors"] });
  const gets = hub.contentGets("model.safetensors");
  assert.is(gets.length, 1);
  assert.is(gets[0].range, `bytes=${have}-`);
  assert.is(gets[0].status, 200);
  assert.ok(readFileSync(join(cache, "models--tiny--bitnet", "blobs", MODEL_SHA)).equals(MODEL));
});

test("a 206 whose Content-Range does not start at the partial size is discarded and the file restarted", async () => {
  const cache = await newDir("badrange");
  const have = await leavePartial(cache, 600_000);
  hub.wrongRangeStart(/model\.safetensors$/, 1);
  await pull({ ...opts(cache), repo: "tiny/bitnet", include: ["model.safetensors"] });
  const gets = hub.contentGets("model.safetensors");
  assert.is(gets.length, 2);
  assert.is(gets[0].range, `bytes=${have}-`);
  assert.is(gets[1].range, undefined, "restarted from 0 without Range");
  assert.ok(readFileSync(join(cache, "models--tiny--bitnet", "blobs", MODEL_SHA)).equals(MODEL));
});

// ---- integrity ------------------------------------------------------------------------------------------

test("a corrupted byte fails the sha256 check: clear error, partial removed, nothing in blobs/", async () => {
  const cache = await newDir("corrupt");
  hub.corrupt(123_457, /model\.safetensors$/);
  const e = await rejects(pull({ ...opts(cache), repo: "tiny/bitnet" }), /checksum mismatch \(sha256 expected [0-9a-f]{64}, got [0-9a-f]{64}\)/);
  assert.match(e.message, /model\.safetensors/);
  assert.is(e.exitCode, 1);
  const blobs = join(cache, "models--tiny--bitnet", "blobs");
  const names = readdirSync(blobs);
  assert.not.ok(names.includes(MODEL_SHA));
  assert.not.ok(names.includes(`${MODEL_SHA}.incomplete`));
  assert.not.ok(existsSync(join(cache, "models--tiny--bitnet", "refs", "main")), "no ref for a failed pull");
});

test("a corrupted plain file fails its git blob sha1 check", async () => {
  const cache = await newDir("corrupt-json");
  hub.corrupt(10, /config\.json$/);
  await rejects(pull({ ...opts(cache), repo: "tiny/bitnet", include: ["config.json"] }), /config\.json: checksum mismatch \(git-sha1/);
  const blobs = join(cache, "models--tiny--bitnet", "blobs");
  assert.equal(readdirSync(blobs), []);
});

// ---- retries, auth, not found ---------------------------------------------------------------------------

test("5xx responses are retried with backoff, then the pull succeeds", async () => {
  const cache = await newDir("retry");
  hub.failNext(2, 500);
  hub.failNext(1, 503, /resolve\/.*model\.safetensors$/);
  const res = await pull({ ...opts(cache), repo: "tiny/bitnet" });
  assert.is(hub.log.filter((r) => r.status >= 500).length, 3);
  assert.is(res.commit, tiny.commit);
  assert.ok(readFileSync(join(res.path, "model.safetensors")).equals(MODEL));
});

test("cli: a 503 is retried with a notice on stderr; bounded attempts end with a clear error", async () => {
  const cache = await newDir("retry-cli");
  hub.failNext(1, 503, /revision/);
  const r = await runCli(["pull", "tiny/bitnet", "--cache-dir", cache, "--include", "config.json"], cleanEnv());
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /tiny\/bitnet: resolving the revision: .*503.*; retrying in \d/);

  hub.failNext(100, 502, /revision/);
  const e = await rejects(pull({ ...opts(cache), maxAttempts: 3, repo: "tiny/bitnet" }), /tiny\/bitnet: resolving the revision failed: HTTP 502/);
  assert.is(e.exitCode, 1);
  assert.is(hub.log.filter((x) => x.kind === "revision" && x.status === 502).length, 3, "exactly maxAttempts attempts");
});

test("cli: 401 without a token says to set HF_TOKEN; HF_TOKEN and --token (any format) work; the token never leaks", async () => {
  const secret = "hf_SeCrEt0123456789abcdef";
  hub.addRepo("gated/model", { "config.json": fixture["config.json"], "model.safetensors": MODEL }, { token: secret });
  const cache = await newDir("auth");
  const denied = await runCli(["pull", "gated/model", "--cache-dir", cache], cleanEnv());
  assert.is(denied.code, 2);
  assert.match(denied.stderr, /gated\/model: access denied \(HTTP 401\)/);
  assert.match(denied.stderr, /set HF_TOKEN or pass --token/);

  const wrong = await rejects(pull({ ...opts(cache), token: "hf_wrongwrongwrong", repo: "gated/model" }), /HTTP 403.*token was refused/);
  assert.is(wrong.exitCode, 2);
  assert.not.match(wrong.message, /hf_wrongwrongwrong/);

  const ok = await runCli(["pull", "gated/model", "--cache-dir", cache, "--json"], cleanEnv({ HF_TOKEN: secret }));
  assert.is(ok.code, 0, ok.stderr);
  const j = JSON.parse(ok.stdout);
  assert.is(j.files.length, 2);
  assert.ok(readFileSync(join(j.path, "model.safetensors")).equals(MODEL));

  // A token that does not start with hf_ goes through our fetch, not the library's accessToken.
  const plain = "plain-secret-token-42";
  hub.addRepo("private/model", { "config.json": fixture["config.json"] }, { token: plain });
  hub.resetLog();
  const ok2 = await runCli(["pull", "private/model", "--cache-dir", cache, "--token", plain], cleanEnv());
  assert.is(ok2.code, 0, ok2.stderr);
  assert.ok(hub.log.length > 0 && hub.log.every((x) => x.authorization === `Bearer ${plain}`));

  for (const out of [denied, ok, ok2]) {
    for (const s of [secret, plain]) {
      assert.not.ok(out.stdout.includes(s) || out.stderr.includes(s), "token printed");
    }
  }
  for (const [p, bytes] of await allFiles(cache)) {
    assert.not.ok(bytes.includes(secret) || bytes.includes(plain), `token written to ${p}`);
  }
});

test("cli: 404 says whether the repo, the revision or the file is missing", async () => {
  const cache = await newDir("404");
  const noRepo = await runCli(["pull", "nobody/nothing", "--cache-dir", cache], cleanEnv());
  assert.is(noRepo.code, 2);
  assert.match(noRepo.stderr, /nobody\/nothing: repository not found/);

  const noRev = await runCli(["pull", "tiny/bitnet", "--revision", "v9.9", "--cache-dir", cache], cleanEnv());
  assert.is(noRev.code, 2);
  assert.match(noRev.stderr, /tiny\/bitnet: revision "v9\.9" not found/);

  const broken = hub.addRepo("tiny/broken", { "config.json": fixture["config.json"], "tokenizer.json": fixture["tokenizer.json"] });
  broken.missingOnResolve.add("tokenizer.json");
  const noFile = await rejects(pull({ ...opts(cache), repo: "tiny/broken" }), /tiny\/broken: file tokenizer\.json not found at revision/);
  assert.ok(noFile.message.includes(broken.commit));
  assert.is(noFile.exitCode, 2);
});

test("404 without X-Error-Code: the revision and the repo are still told apart", async () => {
  const cache = await newDir("404-nocode");
  const bare = (input: string | URL | Request, init?: RequestInit) =>
    fetch(input, init).then((res) => {
      const h = new Headers(res.headers);
      h.delete("x-error-code");
      return new Response(res.body, { status: res.status, headers: h });
    });
  await rejects(pull({ ...opts(cache), fetch: bare as typeof fetch, repo: "tiny/bitnet", revision: "nope" }), /revision "nope" not found/);
  await rejects(pull({ ...opts(cache), fetch: bare as typeof fetch, repo: "no/repo" }), /no\/repo: repository not found/);
});

// ---- sharded repos, remote headers -----------------------------------------------------------------------

test("a sharded repo: both shards and the index are pulled and verified; remote headers read by range", async () => {
  const shards = shardSafetensors(MODEL, 2);
  const files: Record<string, Buffer> = { ...shards };
  for (const n of ["config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json"]) files[n] = fixture[n];
  hub.addRepo("tiny/sharded", files);
  const cache = await newDir("sharded");
  const res = await pull({ ...opts(cache), repo: "tiny/sharded" });
  assert.equal(res.files.map((f) => f.path).sort(), Object.keys(files).sort());
  for (const [n, b] of Object.entries(files)) assert.ok(readFileSync(join(res.path, n)).equals(b), n);
  // The shards hold exactly the fixture's tensors, byte for byte.
  const orig = readSafetensorsHeader(MODEL);
  let seen = 0;
  for (const n of Object.keys(shards).filter((x) => x.endsWith(".safetensors"))) {
    const buf = readFileSync(join(res.path, n));
    const h = readSafetensorsHeader(buf);
    for (const [name, e] of Object.entries(h.header)) {
      const o = orig.header[name];
      assert.ok(
        buf.subarray(h.dataStart + e.data_offsets[0], h.dataStart + e.data_offsets[1]).equals(
          MODEL.subarray(orig.dataStart + o.data_offsets[0], orig.dataStart + o.data_offsets[1]),
        ),
      );
      seen++;
    }
  }
  assert.is(seen, Object.keys(orig.header).length);

  hub.resetLog();
  const remote = await remoteSafetensorsHeaders("tiny/sharded", { endpoint: hub.url, cacheDir: cache, offline: false });
  assert.is(remote.sharded, true);
  assert.is(remote.commit, res.commit);
  if (remote.sharded) {
    assert.equal(Object.keys(remote.headers).sort(), Object.keys(shards).filter((x) => x.endsWith(".safetensors")).sort());
    const names = Object.values(remote.headers).flatMap((h) => Object.keys(h).filter((k) => k !== "__metadata__"));
    assert.equal(names.sort(), Object.keys(orig.header).sort());
  }
});

test("remoteSafetensorsHeaders on a single file reads only the header", async () => {
  const remote = await remoteSafetensorsHeaders("tiny/bitnet", { endpoint: hub.url, cacheDir: TMP, offline: false });
  assert.is(remote.sharded, false);
  const orig = readSafetensorsHeader(MODEL);
  if (!remote.sharded) assert.equal(Object.keys(remote.header).filter((k) => k !== "__metadata__").sort(), Object.keys(orig.header).sort());
  assert.ok(hub.bytesServed("model.safetensors") < orig.dataStart + 16, "no weights transferred");
  await rejects(remoteSafetensorsHeaders("tiny/bitnet", { endpoint: hub.url, cacheDir: TMP, offline: true }), /offline/);
});

// ---- offline ----------------------------------------------------------------------------------------------

test("cli offline (HF_HUB_OFFLINE=1): served from the cache without a request; clear errors when absent", async () => {
  const env = cleanEnv({ HF_HUB_OFFLINE: "1", HF_HUB_CACHE: sharedCache });
  const r = await runCli(["pull", "tiny/bitnet", "--json"], env);
  assert.is(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.is(j.commit, tiny.commit);
  assert.is(j.offline, true);
  assert.is(j.path, join(sharedCache, "models--tiny--bitnet", "snapshots", tiny.commit));
  assert.equal(j.files.map((f: { path: string }) => f.path).sort(), Object.keys(fixture).sort());
  assert.is(hub.log.length, 0, "no network in offline mode");

  const off = { ...opts(sharedCache), offline: true };
  const missing = await rejects(pull({ ...off, repo: "tiny/absent" }), /tiny\/absent: offline mode \(HF_HUB_OFFLINE\), and revision "main" is not in the cache/);
  assert.is(missing.exitCode, 2);
  await rejects(pull({ ...off, repo: "tiny/bitnet", revision: "dev" }), /revision "dev" is not in the cache/);
  await rejects(pull({ ...off, repo: "tiny/bitnet", revision: "f".repeat(40) }), /snapshot .* is not in the cache/);
  assert.is(hub.log.length, 0);
});

test("offline by commit, offline with a broken blob, and the fallback when the Hub is unreachable", async () => {
  const cache = await newDir("offline");
  await pull({ ...opts(cache), repo: "tiny/bitnet", include: ["*.json"] });
  const byCommit = await pull({ ...opts(cache), offline: true, repo: "tiny/bitnet", revision: tiny.commit, include: ["config.json"] });
  assert.equal(byCommit.files.map((f) => f.path), ["config.json"]);
  // Pulling by commit online writes no ref for it.
  await pull({ ...opts(cache), repo: "tiny/bitnet", revision: tiny.commit, include: ["config.json"] });
  assert.equal(readdirSync(join(cache, "models--tiny--bitnet", "refs")), ["main"]);
  // The default set asks for weights that were never pulled: only what is there is reported.
  const partial = await pull({ ...opts(cache), offline: true, repo: "tiny/bitnet" });
  assert.not.ok(partial.files.some((f) => f.path === "model.safetensors"));
  // Unreachable Hub (nothing listens on port 1): the cached snapshot is used, with a warning.
  const fallback = await pull({ ...opts(cache), endpoint: "http://127.0.0.1:1", maxAttempts: 2, repo: "tiny/bitnet", include: ["*.json"] });
  assert.is(fallback.offline, true);
  assert.is(fallback.commit, tiny.commit);
  // A blob removed behind our back is reported, not silently skipped.
  const cfg = gitBlobSha1(fixture["config.json"]);
  await fsp.rm(join(cache, "models--tiny--bitnet", "blobs", cfg));
  await rejects(pull({ ...opts(cache), offline: true, repo: "tiny/bitnet" }), /config\.json lost its blob/);
});

// ---- concurrency and locks --------------------------------------------------------------------------------

test("cli: two pulls of the same repo at once share one download and leave a sound cache", async () => {
  const cache = await newDir("concurrent");
  hub.throttle = { chunkBytes: 128 * 1024, delayMs: 60 };
  const [a, b] = await Promise.all([
    runCli(["pull", "tiny/bitnet", "--cache-dir", cache], cleanEnv()),
    runCli(["pull", "tiny/bitnet", "--cache-dir", cache], cleanEnv()),
  ]);
  assert.is(a.code, 0, a.stderr);
  assert.is(b.code, 0, b.stderr);
  assert.is(a.stdout, b.stdout);
  // They overlapped: both had asked for the revision before the weights finished arriving.
  const revs = hub.log.filter((r) => r.kind === "revision");
  const body = hub.contentGets("model.safetensors");
  assert.is(revs.length, 2);
  assert.ok(body.length >= 1);
  const bodyEnd = Math.max(...body.map((r) => r.endedAt ?? Infinity));
  assert.ok(revs.every((r) => r.startedAt < bodyEnd), "the two pulls overlapped");
  // The lock let one process download each blob; the other found it done.
  assert.is(hub.bytesServed("model.safetensors"), MODEL.length);
  const blobs = join(cache, "models--tiny--bitnet", "blobs");
  assert.ok(readFileSync(join(blobs, MODEL_SHA)).equals(MODEL));
  assert.not.ok(readdirSync(blobs).some((n) => n.includes(".incomplete")));
  assert.equal(readdirSync(join(cache, ".locks", "models--tiny--bitnet")), []);
});

test("two pulls in one process and a file listed twice with the same content", async () => {
  hub.addRepo("tiny/dup", { "config.json": fixture["config.json"], "generation_config.json": fixture["config.json"], "model.safetensors": MODEL });
  const cache = await newDir("dup");
  hub.throttle = { chunkBytes: 256 * 1024, delayMs: 10 };
  const [x, y] = await Promise.all([pull({ ...opts(cache), repo: "tiny/dup" }), pull({ ...opts(cache), repo: "tiny/dup" })]);
  assert.is(x.snapshotPath, y.snapshotPath);
  assert.is(hub.bytesServed("model.safetensors"), MODEL.length);
  assert.is(hub.contentGets("config.json").length + hub.contentGets("generation_config.json").length, 1);
  assert.ok(readFileSync(join(x.path, "generation_config.json")).equals(fixture["config.json"]));
});

test("stale locks are broken: a dead holder at once, a silent one after staleMs", async () => {
  const cache = await newDir("stale");
  const locks = join(cache, ".locks", repoFolderName("tiny/bitnet"));
  await fsp.mkdir(locks, { recursive: true });
  const dead = await new Promise<number>((res) => {
    const c = spawn(process.execPath, ["-e", "0"]);
    c.on("exit", () => res(c.pid as number));
  });
  await fsp.writeFile(join(locks, `${MODEL_SHA}.bitconv.lock`), JSON.stringify({ pid: dead, host: hostname(), nonce: "x" }));
  const t0 = Date.now();
  await pull({ ...opts(cache), repo: "tiny/bitnet", include: ["model.safetensors"] });
  assert.ok(Date.now() - t0 < 5000);
  assert.equal(readdirSync(locks), []);

  const cfg = gitBlobSha1(fixture["config.json"]);
  const lockPath = join(locks, `${cfg}.bitconv.lock`);
  await fsp.writeFile(lockPath, JSON.stringify({ pid: process.pid, host: hostname(), nonce: "someone-else" }));
  const old = new Date(Date.now() - 1000);
  await fsp.utimes(lockPath, old, old);
  const t1 = Date.now();
  await pull({ ...opts(cache), repo: "tiny/bitnet", include: ["config.json"], lock: { staleMs: 1500, pollMs: 50 } });
  const waited = Date.now() - t1;
  assert.ok(waited >= 400, `waited for the live-looking lock (${waited} ms)`);
  assert.ok(readFileSync(join(cache, "models--tiny--bitnet", "blobs", cfg)).equals(fixture["config.json"]));
});

// ---- selection, local dir, hostile paths -------------------------------------------------------------------

test("--include / --exclude override the default file set", async () => {
  const cache = await newDir("select");
  const names = async (args: string[]) => {
    const r = await runCli(["pull", "tiny/bitnet", "--cache-dir", cache, "--json", ...args], cleanEnv());
    assert.is(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout).files as Array<{ path: string }>).map((f) => f.path).sort();
  };
  assert.equal(await names(["--include", "*.json", "--exclude", "tokenizer*", "--include", "README.md"]), [
    "README.md",
    "config.json",
    "generation_config.json",
  ]);
  const inProc = async (include: string[] | undefined, exclude: string[] | undefined) =>
    (await pull({ ...opts(cache), repo: "tiny/bitnet", include, exclude })).files.map((f) => f.path).sort();
  assert.equal(await inProc(["*.json"], undefined), ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json"]);
  assert.equal(await inProc(undefined, ["*.safetensors"]), ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json"]);
  assert.equal(await inProc(["*"], undefined), [...Object.keys(fixture), "README.md", "extra/other.safetensors", "pytorch_model.bin"].sort());
  assert.equal(await inProc(["extra/"], undefined), ["extra/other.safetensors"]);
  const snap = join(cache, "models--tiny--bitnet", "snapshots", tiny.commit);
  assert.is(readlinkSync(join(snap, "extra", "other.safetensors")), `../../../blobs/${sha256(Buffer.alloc(64, 1))}`);
  await rejects(pull({ ...opts(cache), repo: "tiny/bitnet", include: ["*.gguf"] }), /no file at [0-9a-f]{40} matches --include \*\.gguf/);
});

test("--local-dir: real files with Python's local_dir metadata", async () => {
  const cache = await newDir("ld-cache");
  const local = await newDir("ld");
  const r = await runCli(["pull", "tiny/bitnet", "--cache-dir", cache, "--local-dir", local], cleanEnv());
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout, `${local}\n`);
  for (const [name, bytes] of Object.entries(fixture)) {
    const st = lstatSync(join(local, name));
    assert.ok(st.isFile() && !st.isSymbolicLink(), `${name} is a real file`);
    assert.ok(readFileSync(join(local, name)).equals(bytes));
    const meta = readFileSync(join(local, ".cache", "huggingface", "download", `${name}.metadata`), "utf8").split("\n");
    assert.is(meta[0], tiny.commit);
    assert.is(meta[1], name.endsWith(".safetensors") ? sha256(bytes) : gitBlobSha1(bytes));
    assert.ok(Number(meta[2]) > 1.6e9);
  }
});

test("hostile paths from the server are refused before anything is written", async () => {
  const cache = await newDir("evil");
  const evil = hub.addRepo("evil/repo", { "config.json": fixture["config.json"] });
  for (const bad of ["../../evil", "/etc/passwd", "a\\..\\..\\b", "x/../../y", "nul\u0000byte", "C:/x"]) {
    evil.extraTree = [{ type: "file", path: bad, oid: "0".repeat(40), size: 4 }];
    hub.resetLog();
    await rejects(pull({ ...opts(cache), repo: "evil/repo", include: ["*"] }), /refusing path .* it would land outside the snapshot folder/);
    assert.is(hub.contentGets().length, 0);
  }
  evil.extraTree = [{ type: "file", path: "w.safetensors", oid: "0".repeat(40), size: 4, lfs: { oid: "../../../../x", size: 4, pointerSize: 100 } }];
  await rejects(pull({ ...opts(cache), repo: "evil/repo" }), /invalid LFS oid/);
  assert.not.ok(existsSync(join(cache, "evil")) || existsSync(join(TMP, "evil")));
  assert.equal(readdirSync(join(cache)).filter((n) => n !== "models--evil--repo" && n !== ".locks"), []);
});

// ---- helpers for other commands, options, globs, path rules --------------------------------------------------

test("resolveModelSource: a directory as is, org/name pulled with provenance, anything else refused", async () => {
  assert.equal(await resolveModelSource(FIX), { dir: FIX });
  const cache = await newDir("resolve");
  const src = await resolveModelSource("tiny/bitnet", { endpoint: hub.url, cacheDir: cache, offline: false, quiet: true });
  assert.is(src.repo, "tiny/bitnet");
  assert.is(src.commit, tiny.commit);
  assert.is(src.dir, join(cache, "models--tiny--bitnet", "snapshots", tiny.commit));
  assert.ok(readFileSync(join(src.dir, "model.safetensors")).equals(MODEL));
  await rejects(resolveModelSource("no/such/dir"), /not a model directory and not a Hub repo id/);
  // "fixtures/x" with ./fixtures present is a mistyped local path: refused without a network request
  const before = hub.log.length;
  await rejects(resolveModelSource("fixtures/no-such-model", { endpoint: hub.url, cacheDir: cache, offline: false, quiet: true }), /no such model folder/);
  assert.is(hub.log.length, before);
});

test("hubOptionsFromEnv: flags over environment, Python's cache and token precedence", () => {
  const env = { HF_HOME: "/h", HF_TOKEN: "hf_env", HF_ENDPOINT: "http://e/", HF_HUB_OFFLINE: "yes" };
  assert.equal(hubOptionsFromEnv({}, env), { endpoint: "http://e", token: "hf_env", cacheDir: "/h/hub", offline: true });
  assert.equal(hubOptionsFromEnv({ token: "t2", cacheDir: "/c" }, { ...env, HF_HUB_CACHE: "/x", HF_HUB_OFFLINE: "0" }), {
    endpoint: "http://e",
    token: "t2",
    cacheDir: "/c",
    offline: false,
  });
  assert.is(hubOptionsFromEnv({}, { HF_HUB_CACHE: "/x", HF_HOME: "/h" }).cacheDir, "/x");
  assert.is(hubOptionsFromEnv({}, { XDG_CACHE_HOME: "/xdg", HF_HOME: "" }).cacheDir, "/xdg/huggingface/hub");
  assert.is(hubOptionsFromEnv({}, { HF_HOME: "/nonexistent-home" }).token, undefined);
  assert.is(hubOptionsFromEnv({}, { HF_HOME: "/nonexistent-home" }).endpoint, "https://huggingface.co");
});

test("token file of huggingface-cli login is read; globs follow fnmatch; path and repo rules", async () => {
  const home = await newDir("home");
  await fsp.writeFile(join(home, "token"), "hf_fromfile\n");
  assert.is(hubOptionsFromEnv({}, { HF_HOME: home }).token, "hf_fromfile");

  assert.ok(globToRegExp("*.json").test("a/b.json"), "* crosses / like fnmatch");
  assert.ok(globToRegExp("model-0000?-of-*.safetensors").test("model-00001-of-00002.safetensors"));
  assert.ok(globToRegExp("[!t]*.json").test("config.json"));
  assert.not.ok(globToRegExp("[!t]*.json").test("tokenizer.json"));
  assert.not.ok(globToRegExp("a.b").test("axb"), ". is literal");
  const def = makeSelector({});
  assert.ok(def("model.safetensors") && def("model-00001-of-00002.safetensors") && def("config.json") && def("special_tokens_map.json"));
  assert.not.ok(def("sub/model.safetensors") || def("README.md") || def("pytorch_model.bin"));

  for (const ok of ["a", "a/b.json", "x..y", ".gitattributes"]) assert.ok(isSafeRelativePath(ok), ok);
  for (const bad of ["", "/a", "..", "a/..", "a//b", "a/./b", "a\\b", "a\0", "C:x"]) assert.not.ok(isSafeRelativePath(bad), JSON.stringify(bad));
  for (const bad of ["a/b/c", "../x", "a--b/c", "-a/b", "a/b.", ""]) assert.throws(() => validateRepoId(bad), JSON.stringify(bad));
  assert.is(validateRepoId("microsoft/bitnet-b1.58-2B-4T"), "microsoft/bitnet-b1.58-2B-4T");
  assert.is(repoFolderName("microsoft/bitnet-b1.58-2B-4T"), "models--microsoft--bitnet-b1.58-2B-4T");
});

test.run();
