// inspect org/name: the safetensors headers over Range requests (remoteSafetensorsHeaders), plus the
// small config.json and tokenizer_config.json; no weights are downloaded, so there are no statistics.
import type { StDtype, StTensor } from "../checkpoint/safetensors.js";
import { completeHubOptions } from "../hub/options.js";
import { remoteSafetensorsHeaders, type RemoteSafetensors } from "../hub/pull.js";
import { inspectCheckpoint, type CheckpointListing } from "./safetensors.js";
import type { InspectOptions, InspectResult } from "./types.js";

const MAX_JSON_BYTES = 16 << 20;

async function fetchSmallJson(url: string, token: string | undefined, fetchImpl: typeof fetch): Promise<string | undefined> {
  try {
    const res = await fetchImpl(url, {
      headers: token ? { Authorization: `Bearer ${token}` } : {},
      signal: AbortSignal.timeout(60_000),
    });
    if (!res.ok) {
      await res.body?.cancel();
      return undefined;
    }
    const len = Number(res.headers.get("content-length") ?? NaN);
    if (len > MAX_JSON_BYTES) {
      await res.body?.cancel();
      return undefined;
    }
    const text = await res.text();
    return text.length <= MAX_JSON_BYTES ? text : undefined;
  } catch {
    return undefined;
  }
}

type Header = Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, unknown>>;

function tensorsOf(file: string, header: Header): { tensors: StTensor[]; metadata: Record<string, string> } {
  const tensors: StTensor[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, v] of Object.entries(header)) {
    if (name === "__metadata__") {
      metadata = Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, String(x)]));
      continue;
    }
    const info = v as { dtype: string; shape: number[]; data_offsets: [number, number] };
    tensors.push({
      name,
      dtype: info.dtype as StDtype,
      shape: info.shape,
      file,
      dataOffset: -1,
      nbytes: info.data_offsets[1] - info.data_offsets[0],
    });
  }
  tensors.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { tensors, metadata };
}

export async function inspectHub(repo: string, opts: InspectOptions): Promise<InspectResult> {
  const hubOpts = opts.hub ?? {};
  const remote: RemoteSafetensors = await remoteSafetensorsHeaders(repo, hubOpts);
  const hub = completeHubOptions(hubOpts);
  const where = (p: string) => `${repo}@${remote.commit.slice(0, 12)}/${p}`;
  const tensors: StTensor[] = [];
  const stMetadata: Record<string, string> = {};
  const files: string[] = [];
  if (remote.sharded) {
    for (const [file, header] of Object.entries(remote.headers)) {
      const r = tensorsOf(where(file), header as Header);
      tensors.push(...r.tensors);
      Object.assign(stMetadata, r.metadata);
      files.push(where(file));
    }
  } else {
    const r = tensorsOf(where("model.safetensors"), remote.header as Header);
    tensors.push(...r.tensors);
    Object.assign(stMetadata, r.metadata);
    files.push(where("model.safetensors"));
  }
  const base = `${hub.endpoint}/${repo}/resolve/${remote.commit}`;
  const fetchImpl = hub.fetch ?? globalThis.fetch;
  const listing: CheckpointListing = {
    source: repo,
    kind: "hub",
    files,
    tensors,
    stMetadata,
    readable: false,
    extra: { repo, revision: remote.revision, commit: remote.commit },
  };
  const config = await fetchSmallJson(`${base}/config.json`, hub.token, fetchImpl);
  if (config !== undefined) {
    try {
      const v = JSON.parse(config);
      if (v && typeof v === "object" && !Array.isArray(v)) {
        listing.config = v;
        listing.configFile = where("config.json");
      }
    } catch {
      /* reported as "no config.json" below */
    }
  }
  const tc = await fetchSmallJson(`${base}/tokenizer_config.json`, hub.token, fetchImpl);
  if (tc !== undefined) listing.tokenizerConfig = tc;
  const result = await inspectCheckpoint(listing, opts);
  if (opts.stats === undefined) result.warnings.push("statistics need the tensor data: pull the repo and inspect its folder");
  return result;
}
