// The Hub side of bitconv: pull into the Python-compatible cache, and helpers for convert / inspect.
export { pull, resolveModelSource, remoteSafetensorsHeaders } from "./pull.js";
export type { PullOptions, PullResult, PulledFile, ModelSource, RemoteSafetensors } from "./pull.js";
export { hubOptionsFromEnv, completeHubOptions, defaultCacheDir } from "./options.js";
export type { HubOptions, HubArgv } from "./options.js";
export { repoFolderName, repoCachePaths, looksLikeRepoId } from "./paths.js";
export { DEFAULT_FILES, isDefaultFile } from "./glob.js";
