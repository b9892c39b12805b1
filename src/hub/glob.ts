// File selection: Python fnmatch-style globs (like huggingface_hub's allow/ignore patterns) and the
// default set of files that convert needs.

/** The files convert reads, at the top level of the repo (plus every top-level *.safetensors). */
export const DEFAULT_FILES = [
  "config.json",
  "model.safetensors.index.json",
  "tokenizer.json",
  "tokenizer_config.json",
  "special_tokens_map.json",
  "generation_config.json",
] as const;

export function isDefaultFile(path: string): boolean {
  if (path.includes("/")) return false;
  return (DEFAULT_FILES as readonly string[]).includes(path) || path.endsWith(".safetensors");
}

/**
 * Compiles an fnmatch pattern: `*` matches any run of characters (`/` included, as in Python's
 * fnmatch), `?` one character, `[abc]` / `[a-z]` / `[!abc]` a class; everything else is literal.
 * A pattern ending in `/` matches everything below that folder (huggingface_hub's rule).
 */
export function globToRegExp(pattern: string): RegExp {
  if (pattern.endsWith("/")) pattern += "*";
  let re = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "*") {
      re += ".*";
    } else if (c === "?") {
      re += ".";
    } else if (c === "[") {
      const close = pattern.indexOf("]", i + 2);
      if (close === -1) {
        re += "\\[";
        continue;
      }
      let body = pattern.slice(i + 1, close);
      let negate = false;
      if (body.startsWith("!")) {
        negate = true;
        body = body.slice(1);
      }
      body = body.replace(/\\/g, "\\\\").replace(/\^/g, "\\^").replace(/\[/g, "\\[");
      re += `[${negate ? "^" : ""}${body}]`;
      i = close;
    } else {
      re += c.replace(/[.+^${}()|\\\]]/g, "\\$&");
    }
  }
  return new RegExp(`^${re}$`, "s");
}

export function matchesAny(path: string, patterns: readonly RegExp[]): boolean {
  return patterns.some((re) => re.test(path));
}

export interface Selection {
  include?: readonly string[];
  exclude?: readonly string[];
}

/**
 * The file filter: with --include, the files matching any include pattern (instead of the default
 * set); without, the default set. Then every file matching an --exclude pattern is dropped.
 */
export function makeSelector(sel: Selection): (path: string) => boolean {
  const inc = (sel.include ?? []).filter((p) => p !== "").map(globToRegExp);
  const exc = (sel.exclude ?? []).filter((p) => p !== "").map(globToRegExp);
  return (path) => (inc.length > 0 ? matchesAny(path, inc) : isDefaultFile(path)) && !matchesAny(path, exc);
}
