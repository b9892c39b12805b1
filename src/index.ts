// The bitconv library API. The CLI (src/cli.ts) is a thin layer over these functions.
//
//   import { pull, convert, verify, inspect } from "bitconv";
//
// Every function throws BitconvError (with exitCode 2 for bad input) on a problem the caller can fix.
export { VERSION } from "./version.js";
export { BitconvError } from "./util/errors.js";

export { pull, resolveModelSource, remoteSafetensorsHeaders, hubOptionsFromEnv } from "./hub/index.js";
export type { PullOptions, PullResult, PulledFile, ModelSource, HubOptions } from "./hub/index.js";

export { convert, planConversion, summarizePlan, TARGETS, EMBED_TYPES } from "./convert/index.js";
export type { ConvertOptions, ConvertResult, ConversionPlan, PlanSummary, Target, EmbedType } from "./convert/index.js";

export { verify } from "./verify/verify.js";
export { checkRecordedSource } from "./verify/provenance.js";
export type { SourceCheck } from "./verify/provenance.js";
export type { VerifyOptions, VerifyResult, VerifyReference, ReferenceKind } from "./verify/verify.js";

export { inspect } from "./inspect/index.js";
export type { InspectOptions, InspectResult } from "./inspect/index.js";

export { generate } from "./runtime/generate.js";
export type { GenerateOptions, GenerateResult } from "./runtime/generate.js";

export { openCheckpoint } from "./checkpoint/index.js";
export type { Checkpoint, ModelConfig, Family, MappedTensor } from "./checkpoint/index.js";
export { readGguf, readTensorData } from "./gguf/reader.js";
export type { GgufFile, GgufTensor } from "./gguf/reader.js";
export { getLayout, LAYOUT_NAMES } from "./layouts/index.js";
export type { Layout, LayoutName, TlParams } from "./layouts/index.js";
