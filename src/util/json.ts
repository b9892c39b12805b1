import { inputError } from "./errors.js";

/** Parses a JSON file's text that must hold an object; errors name the file. */
export function parseJsonObject(file: string, text: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw inputError(file, `not valid JSON (${(e as Error).message})`);
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw inputError(file, "not a JSON object");
  return v as Record<string, unknown>;
}
