import type { MediaType } from './mediatypes.js';

/** compat and oci: the Wasm image spec's variants for Envoy; wasm: the CNCF TAG-Runtime Wasm artifact. */
export type Variant = 'compat' | 'oci' | 'wasm';
export type MediaTypeFlavour = 'oci' | 'docker';
export type Digest = `sha256:${string}`;

/** An OCI content descriptor. Key order here is the order written to JSON. */
export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  annotations?: Record<string, string>;
}

export interface Manifest {
  schemaVersion: 2;
  mediaType: typeof MediaType.ociManifest | typeof MediaType.dockerManifest;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

/**
 * Where a blob's bytes live. Small JSON blobs stay in memory; the module and the compat layer are files,
 * so that hashing, layout writing and upload all stream with constant memory.
 */
export type BlobSource =
  | { kind: 'bytes'; bytes: Uint8Array }
  | { kind: 'file'; path: string }
  /** Promotion within one registry: the bytes stay there and are mounted from `repository`, never read here. */
  | { kind: 'mount'; repository: string };

export interface Blob {
  descriptor: Descriptor;
  source: BlobSource;
}

/** A finished image: everything a writer (layout, registry) needs, derived once. */
export interface Image {
  variant: Variant;
  flavour: MediaTypeFlavour;
  manifest: Manifest;
  /** The exact manifest bytes; their digest is the image digest. */
  manifestBytes: Uint8Array;
  manifestDescriptor: Descriptor;
  config: Blob;
  layers: Blob[];
}

/** Blobs to store for an image, config first, each digest once (the oci variant lists its config twice). */
export function imageBlobs(image: Image): Blob[] {
  const seen = new Set<string>();
  const out: Blob[] = [];
  for (const blob of [image.config, ...image.layers]) {
    if (seen.has(blob.descriptor.digest)) continue;
    seen.add(blob.descriptor.digest);
    out.push(blob);
  }
  return out;
}
