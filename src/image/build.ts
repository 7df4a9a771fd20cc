// Image assembly: descriptors and options in, manifest and config out. Pure: no files, no network, no clock.
import { sha256Digest } from './digest.js';
import { jsonBytes, sortedRecord } from './json.js';
import { Annotation, FileName, MediaType } from './mediatypes.js';
import type { Platform } from './platform.js';
import type { Blob, BlobSource, Descriptor, Digest, Image, Manifest, MediaTypeFlavour, Variant } from './types.js';

export interface ImageSpec {
  variant: Variant;
  flavour: MediaTypeFlavour;
  runtimeType: string;
  abiVersions: string[];
  rootIds: string[];
  /** Manifest annotations from the user (OCI manifests only). */
  annotations: Record<string, string>;
  /** Image config labels (compat only). */
  labels: Record<string, string>;
  /** Seconds since the epoch (SOURCE_DATE_EPOCH); without it no timestamp is written. */
  created: number | undefined;
  /** The compat config's os, architecture and variant (image tools refuse an os other than their host's). */
  platform: Platform;
}

/** A blob whose digest and size are already known (computed while streaming it). */
interface KnownBlob {
  digest: Digest;
  size: number;
  source: BlobSource;
}

interface CompatLayerBlob extends KnownBlob {
  diffId: Digest;
}

/** RFC 3339 in UTC without fractions, the form image configs use. */
export function rfc3339(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The Wasm runtime config (oci variant config blob, compat's runtime-config.json): camelCase, empty lists left out. */
export function runtimeConfigBytes(spec: Pick<ImageSpec, 'runtimeType' | 'abiVersions' | 'rootIds'>): Uint8Array {
  const config: Record<string, unknown> = { type: spec.runtimeType };
  if (spec.abiVersions.length > 0) config.abiVersions = spec.abiVersions;
  config.config = spec.rootIds.length > 0 ? { rootIds: spec.rootIds } : {};
  return jsonBytes(config);
}

function descriptor(mediaType: string, digest: Digest, size: number, annotations?: Record<string, string>): Descriptor {
  return annotations ? { mediaType, digest, size, annotations } : { mediaType, digest, size };
}

function bytesBlob(mediaType: string, bytes: Uint8Array, annotations?: Record<string, string>): Blob {
  return { descriptor: descriptor(mediaType, sha256Digest(bytes), bytes.byteLength, annotations), source: { kind: 'bytes', bytes } };
}

function finish(variant: Variant, flavour: MediaTypeFlavour, manifest: Manifest, config: Blob, layers: Blob[]): Image {
  const manifestBytes = jsonBytes(manifest);
  return {
    variant,
    flavour,
    manifest,
    manifestBytes,
    manifestDescriptor: descriptor(manifest.mediaType, sha256Digest(manifestBytes), manifestBytes.byteLength),
    config,
    layers,
  };
}

/** The oci variant: config blob, then exactly two layers (the config again, then the raw module). */
export function buildOciImage(spec: ImageSpec, module: KnownBlob): Image {
  const configBytes = runtimeConfigBytes(spec);
  const config = bytesBlob(MediaType.wasmConfig, configBytes);
  const configLayer: Blob = {
    descriptor: descriptor(MediaType.wasmConfig, config.descriptor.digest, config.descriptor.size, {
      [Annotation.title]: FileName.runtimeConfig,
    }),
    source: config.source,
  };
  const moduleLayer: Blob = {
    descriptor: descriptor(MediaType.wasmContentLayer, module.digest, module.size, { [Annotation.title]: FileName.ociModule }),
    source: module.source,
  };
  const annotations: Record<string, string> = { [Annotation.runtimeType]: spec.runtimeType };
  if (spec.abiVersions.length > 0) annotations[Annotation.abiVersion] = spec.abiVersions.join(',');
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: config.descriptor,
    layers: [configLayer.descriptor, moduleLayer.descriptor],
    annotations: sortedRecord({ ...annotations, ...spec.annotations }),
  };
  return finish('oci', 'oci', manifest, config, [configLayer, moduleLayer]);
}

type WasmOs = 'wasip1' | 'wasip2';

/**
 * The CNCF TAG-Runtime Wasm artifact (wkg, runwasi, Spin): config `application/vnd.wasm.config.v0+json`
 * and exactly one `application/wasm` layer. `created` is SOURCE_DATE_EPOCH or the epoch, so the digest
 * never depends on the clock.
 */
export function buildCncfImage(spec: ImageSpec, module: KnownBlob, os: WasmOs): Image {
  const config = bytesBlob(
    MediaType.cncfWasmConfig,
    jsonBytes({ created: rfc3339(spec.created ?? 0), architecture: 'wasm', os, layerDigests: [module.digest] }),
  );
  const layer: Blob = { descriptor: descriptor(MediaType.cncfWasmLayer, module.digest, module.size), source: module.source };
  const manifest: Manifest = { schemaVersion: 2, mediaType: MediaType.ociManifest, config: config.descriptor, layers: [layer.descriptor] };
  if (Object.keys(spec.annotations).length > 0) manifest.annotations = sortedRecord(spec.annotations);
  return finish('wasm', 'oci', manifest, config, [layer]);
}

/** The compat variant: an ordinary image config and one tar+gzip layer holding plugin.wasm. */
export function buildCompatImage(spec: ImageSpec, layer: CompatLayerBlob): Image {
  const docker = spec.flavour === 'docker';
  const imageConfig: Record<string, unknown> = {};
  // Key order is fixed here so the config bytes never depend on how options were assembled.
  if (spec.created !== undefined) imageConfig.created = rfc3339(spec.created);
  imageConfig.architecture = spec.platform.architecture;
  imageConfig.os = spec.platform.os;
  if (spec.platform.variant !== undefined) imageConfig.variant = spec.platform.variant;
  if (Object.keys(spec.labels).length > 0) imageConfig.config = { Labels: sortedRecord(spec.labels) };
  imageConfig.rootfs = { type: 'layers', diff_ids: [layer.diffId] };
  const config = bytesBlob(docker ? MediaType.dockerConfig : MediaType.ociConfig, jsonBytes(imageConfig));
  const layerBlob: Blob = {
    descriptor: descriptor(docker ? MediaType.dockerLayerTarGzip : MediaType.ociLayerTarGzip, layer.digest, layer.size),
    source: layer.source,
  };
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: docker ? MediaType.dockerManifest : MediaType.ociManifest,
    config: config.descriptor,
    layers: [layerBlob.descriptor],
  };
  if (!docker) manifest.annotations = sortedRecord({ [Annotation.variant]: 'compat', ...spec.annotations });
  return finish('compat', spec.flavour, manifest, config, [layerBlob]);
}
