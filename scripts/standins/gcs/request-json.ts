/**
 * JSON request bodies of the GCS API (object resources in uploads, patches and copies), read
 * defensively: only the fields the stand-in honours, with their types checked.
 */
import type { AttributePatch, ObjectAttributes } from './objects.js';

export type JsonObject = Record<string, unknown>;

/**
 * Parses a JSON object body; an empty body and `null` (the Go client sends `null` for a copy
 * without a resource) are `{}`; undefined when it is not a JSON object.
 */
export function parseJsonObject(body: Buffer): JsonObject | undefined {
  if (body.length === 0) return {};
  try {
    const parsed: unknown = JSON.parse(body.toString('utf8'));
    if (parsed === null) return {};
    return isJsonObject(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** Attributes for a new object version; metadata entries that are not strings are dropped. */
export function writableAttributes(resource: JsonObject): ObjectAttributes {
  const patch = attributePatch(resource);
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(patch.metadata ?? {})) if (value !== null) metadata[key] = value;
  return { contentType: patch.contentType, metadata };
}

/** A metadata patch: `metadata` values may be null (remove the key). */
export function attributePatch(resource: JsonObject): AttributePatch {
  const patch: AttributePatch = {};
  if (typeof resource.contentType === 'string') patch.contentType = resource.contentType;
  if (isJsonObject(resource.metadata)) {
    const metadata: Record<string, string | null> = {};
    for (const [key, value] of Object.entries(resource.metadata)) {
      if (typeof value === 'string' || value === null) metadata[key] = value;
    }
    patch.metadata = metadata;
  }
  return patch;
}

function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
