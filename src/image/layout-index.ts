// The two JSON files of an OCI image layout, as read from disk: the oci-layout marker and index.json. One
// reader for the layout writer (src/layout.ts) and the layout source (src/source/layout.ts).
import { asObject, isObject, stringField, type JsonObject } from '../json.js';
import { Annotation } from './mediatypes.js';

/** index.json as read: members this program does not use are kept as they were. */
export interface LayoutIndex {
  manifests: JsonObject[];
  [field: string]: unknown;
}

/** The marker's imageLayoutVersion, when the marker is an object that gives one as a string. */
export function layoutVersion(marker: unknown): string | undefined {
  return stringField(asObject(marker), 'imageLayoutVersion');
}

/** index.json checked: an object whose manifests member is a list of objects; undefined otherwise. */
export function layoutIndexOf(value: unknown): LayoutIndex | undefined {
  if (!isObject(value) || !Array.isArray(value.manifests)) return undefined;
  const manifests: unknown[] = value.manifests;
  if (!manifests.every(isObject)) return undefined;
  return { ...value, manifests };
}

/** The entry's org.opencontainers.image.ref.name annotation, when it has one. */
export function refNameOf(entry: JsonObject): string | undefined {
  return stringField(asObject(entry.annotations), Annotation.refName);
}
