import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BitconvError } from "../src/util/errors.js";
import { loadTokenizer, tokenizerJsonFromGguf, tokenizerFromObjects, type BitconvTokenizer, type GgufKvEntry } from "../src/tokenizer/encode.js";
import { readGguf } from "../src/gguf/reader.js";
import { convert } from "../src/convert/index.js";

const FIX = "fixtures";
const MODEL = join(FIX, "tiny-bitnet-b1.58");
const TEXT = readFileSync(join(FIX, "text", "kjv-dev.txt"), "utf8");
const REF_ALL = JSON.parse(readFileSync(join(FIX, "reference-dev.json"), "utf8")) as Record<string, unknown>;
/** the per-form entries (the file also holds a "method" string) */
const REF = Object.fromEntries(
  Object.entries(REF_ALL).filter(([, v]) => typeof v === "object" && v !== null),
) as Record<string, { tokens: number; window_ids: number[] }>;

const tmp = mkdtempSync(join(tmpdir(), "bitconv-tok-test-"));
const artifact = join(tmp, "tiny.gguf");
let fromJson: BitconvTokenizer;
let fromGguf: BitconvTokenizer;
let jsonIds: Int32Array;

test.before(async () => {
  await convert({ modelDir: MODEL, output: artifact, layout: "tq2_0", quiet: true, threads: 1 });
  fromJson = await loadTokenizer({ tokenizerJson: MODEL });
  fromGguf = await loadTokenizer({ gguf: artifact });
  jsonIds = fromJson.encode(TEXT);
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));

test("tokenizer.json: the whole dev text gives the HF token count and window ids, BOS first", () => {
  assert.is(fromJson.source, "tokenizer.json");
  assert.is(Object.keys(REF).length, 3);
  assert.ok(jsonIds instanceof Int32Array);
  for (const form of Object.keys(REF)) {
    assert.is(jsonIds.length, REF[form].tokens, form);
    assert.equal(Array.from(jsonIds.subarray(0, 64)), REF[form].window_ids, form);
  }
  assert.is(jsonIds.length, 47274);
  assert.is(jsonIds[0], 4094);
  assert.is(fromJson.bosId, 4094);
  assert.is(fromJson.eosId, 4095);
  assert.ok(fromJson.addsBos);
  assert.is(fromJson.vocabSize, 4096);
  // BOS only at the start: the text itself never produces the special tokens
  assert.is(jsonIds.filter((id) => id === 4094).length, 1);
  assert.is(jsonIds.filter((id) => id === 4095).length, 0);
});

test("tokenizer.json: addSpecial false drops exactly the BOS; decode round-trips the text", () => {
  const plain = fromJson.encode(TEXT, { addSpecial: false });
  assert.is(plain.length, jsonIds.length - 1);
  assert.equal(Array.from(plain.subarray(0, 100)), Array.from(jsonIds.subarray(1, 101)));
  assert.is(fromJson.decode(jsonIds), TEXT);
  assert.is(fromJson.decode(jsonIds, { skipSpecial: false }), "<|begin_of_text|>" + TEXT);
  assert.is(fromJson.decode([]), "");
});

test("GGUF-rebuilt tokenizer gives exactly the same ids as tokenizer.json on the whole dev text", () => {
  assert.is(fromGguf.source, "gguf");
  const ids = fromGguf.encode(TEXT);
  assert.is(ids.length, jsonIds.length);
  let firstDiff = -1;
  for (let i = 0; i < ids.length; i++) {
    if (ids[i] !== jsonIds[i]) {
      firstDiff = i;
      break;
    }
  }
  assert.is(firstDiff, -1, `first difference at ${firstDiff}`);
  assert.is(fromGguf.bosId, 4094);
  assert.is(fromGguf.eosId, 4095);
  assert.ok(fromGguf.addsBos);
  assert.is(fromGguf.vocabSize, 4096);
  assert.is(fromGguf.decode(ids), TEXT);
});

test("both sources agree on text the dev set lacks: unicode, digits, whitespace runs, special-token text", () => {
  const samples = [
    "Ünïcödé naïve café — 日本語のテキスト 🙂🚀 ﬁ",
    "1234567 3.14159 12,345,678",
    "  leading spaces\t\ttabs\r\nCRLF\n\n\n   trailing   ",
    "it's they're I'LL we've HE'D",
    "<|end_of_text|>after the end<|begin_of_text|>",
    "",
  ];
  for (const s of samples) {
    const a = Array.from(fromJson.encode(s));
    const b = Array.from(fromGguf.encode(s));
    assert.equal(b, a, JSON.stringify(s));
    assert.is(a[0], 4094, JSON.stringify(s));
    assert.is(fromGguf.decode(b, { skipSpecial: false }), "<|begin_of_text|>" + s);
  }
  // special-token text in the input maps to the special ids, as in transformers
  const sp = Array.from(fromJson.encode("<|end_of_text|>x"));
  assert.is(sp[1], 4095);
});

test("rebuild rejects what it cannot reproduce: unknown pre-tokenizer, SentencePiece, missing merges", async () => {
  const g = await readGguf(artifact);
  const base = g.kv as Map<string, GgufKvEntry>;
  const variant = (key: string, value: unknown | undefined): Map<string, GgufKvEntry> => {
    const m = new Map(base);
    if (value === undefined) m.delete(key);
    else m.set(key, { type: 8, value });
    return m;
  };
  const cases: [Map<string, GgufKvEntry>, RegExp][] = [
    [variant("tokenizer.ggml.pre", "qwen2"), /tokenizer\.ggml\.pre "qwen2" is not supported/],
    [variant("tokenizer.ggml.model", "llama"), /tokenizer\.ggml\.model "llama" is not supported/],
    [variant("tokenizer.ggml.merges", undefined), /missing key tokenizer\.ggml\.merges/],
    [variant("tokenizer.ggml.tokens", undefined), /missing key tokenizer\.ggml\.tokens/],
  ];
  for (const [kv, re] of cases) {
    let err: unknown;
    try {
      tokenizerJsonFromGguf(kv, "x.gguf");
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof BitconvError, String(err));
    assert.is((err as BitconvError).exitCode, 2);
    assert.match((err as BitconvError).message, re);
  }
  // add_bos_token false in the metadata: the rebuilt tokenizer adds no BOS
  const noBos = new Map(base);
  noBos.set("tokenizer.ggml.add_bos_token", { type: 7, value: false });
  const { tokenizer, config } = tokenizerJsonFromGguf(noBos, "x.gguf");
  const t = tokenizerFromObjects(tokenizer, config);
  assert.not.ok(t.addsBos);
  assert.equal(Array.from(t.encode("And God said")), Array.from(fromJson.encode("And God said", { addSpecial: false })));
});

test("loadTokenizer: a missing tokenizer.json is an input error", async () => {
  let err: unknown;
  try {
    await loadTokenizer({ tokenizerJson: join(tmp, "nope") });
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof BitconvError);
  assert.is((err as BitconvError).exitCode, 2);
});

test.run();
