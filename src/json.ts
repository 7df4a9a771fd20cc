// JSON that comes from outside the program (files, registry answers, helpers, the cache worker) is parsed
// to `unknown` and given a type only by the guards here and the shape parsers built on them, never by a cast.

export type JsonObject = Record<string, unknown>;

/** Parses JSON text (bytes are read as UTF-8); throws SyntaxError as JSON.parse does. */
export function parseJson(text: string | Uint8Array): unknown {
  const value: unknown = JSON.parse(typeof text === 'string' ? text : new TextDecoder().decode(text));
  return value;
}

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The value when it is a JSON object, else undefined. */
export function asObject(value: unknown): JsonObject | undefined {
  return isObject(value) ? value : undefined;
}

/** `object[key]` when it is a string, else undefined. */
export function stringField(object: JsonObject | undefined, key: string): string | undefined {
  const value = object?.[key];
  return typeof value === 'string' ? value : undefined;
}

/** A map of strings (annotations, credHelpers): undefined unless `value` is an object of string values only. */
export function stringRecord(value: unknown): Record<string, string> | undefined {
  if (!isObject(value)) return undefined;
  const out: Record<string, string> = {};
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== 'string') return undefined;
    out[key] = v;
  }
  return out;
}

/** The JSON object `text` holds; otherwise the error `fail` makes of what is wrong with it. */
export function jsonObject(text: string | Uint8Array, fail: (problem: 'is not valid JSON' | 'is not a JSON object') => Error): JsonObject {
  let value: unknown;
  try {
    value = parseJson(text);
  } catch {
    throw fail('is not valid JSON');
  }
  if (!isObject(value)) throw fail('is not a JSON object');
  return value;
}
