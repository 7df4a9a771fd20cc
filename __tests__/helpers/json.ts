// Test-only readers for the JSON documents tests assert on (layout indexes, manifests, configs, outputs).
// Unlike src/, which checks JSON before typing it, these give the type the test expects: a document of
// another shape fails the assertions that read it, which is the test's job.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface DescriptorJson {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

export interface IndexJson {
  schemaVersion?: number;
  mediaType?: string;
  manifests: DescriptorJson[];
  [member: string]: unknown;
}

export interface ManifestJson {
  schemaVersion: number;
  mediaType?: string;
  config: DescriptorJson;
  layers: DescriptorJson[];
  annotations?: Record<string, string>;
}

/** An image config: the OCI/Docker members, the Wasm config members, and whatever else a test reads. */
export interface ConfigJson {
  architecture?: string;
  os?: string;
  created?: string;
  config?: { Labels?: Record<string, string> };
  layerDigests?: string[];
  [member: string]: unknown;
}

/** The action's `metadata` output (and the CLI's), as far as tests read it. */
export interface MetadataJson {
  variant?: string;
  layers?: unknown[];
  pushed?: string[];
  wasm?: Record<string, unknown> | null;
  [member: string]: unknown;
}

export function jsonAs<T>(text: string | Uint8Array): T {
  return JSON.parse(typeof text === 'string' ? text : new TextDecoder().decode(text)) as T;
}

export function readJsonAs<T>(path: string): T {
  return jsonAs<T>(readFileSync(path, 'utf8'));
}

/** A layout's index.json. */
export const readIndex = (layout: string): IndexJson => readJsonAs<IndexJson>(join(layout, 'index.json'));

/** A blob of a layout, by digest, as JSON. */
export const readLayoutBlob = <T>(layout: string, digest: string): T => readJsonAs<T>(join(layout, 'blobs', 'sha256', digest.slice(7)));
