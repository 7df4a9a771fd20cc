// An Image from a manifest that already exists (in an OCI layout or a registry): its exact bytes are kept,
// so the digest never changes, and its variant is read the way Istio, Envoy Gateway or the CNCF rules read it.
import { descriptorOf } from '../image/descriptor-json.js';
import { sha256Digest } from '../image/digest.js';
import { MediaType } from '../image/mediatypes.js';
import type { Blob, BlobSource, Descriptor, Image, Manifest, Variant } from '../image/types.js';
import { asObject, jsonObject, stringField, stringRecord, type JsonObject } from '../json.js';
import { consumerVariant, UnloadableImage } from '../registry/verify.js';

/** Why an existing manifest cannot be published as a Wasm image. */
export class ManifestProblem extends Error {
  override name = 'ManifestProblem';
}

function checkDescriptor(d: unknown, where: string): Descriptor {
  const checked = descriptorOf(d);
  if ('problem' in checked) throw new ManifestProblem(`${where} ${checked.problem}`);
  return checked.descriptor;
}

/** The manifest's JSON object; ManifestProblem when the bytes are not one. */
function manifestObject(bytes: Uint8Array): JsonObject {
  return jsonObject(bytes, (problem) => new ManifestProblem(`the manifest ${problem}`));
}

/** What a listing shows of any manifest, even one that is not an image manifest (empty for bytes that are not JSON). */
export function manifestSummary(bytes: Uint8Array): { mediaType?: string; configMediaType?: string; annotations: Record<string, string> } {
  let object: JsonObject | undefined;
  try {
    object = manifestObject(bytes);
  } catch {
    object = undefined;
  }
  return {
    mediaType: stringField(object, 'mediaType'),
    configMediaType: stringField(asObject(object?.config), 'mediaType'),
    annotations: stringRecord(object?.annotations) ?? {},
  };
}

/** Parses and checks image manifest bytes: a single image manifest (not an index) with descriptors that make sense. */
export function parseImageManifest(bytes: Uint8Array): Manifest {
  const parsed = manifestObject(bytes);
  const mediaType = parsed.mediaType;
  if (mediaType === MediaType.ociIndex || mediaType === MediaType.dockerManifestList || parsed.manifests !== undefined) {
    throw new ManifestProblem('it is an image index, not a single image manifest; a WasmPlugin sha256 must name a single manifest');
  }
  if (mediaType !== MediaType.ociManifest && mediaType !== MediaType.dockerManifest) {
    throw new ManifestProblem(
      `the manifest's mediaType is ${JSON.stringify(mediaType)}; expected ${MediaType.ociManifest} (written out, as podman and Istio need it)`,
    );
  }
  if (parsed.schemaVersion !== 2) throw new ManifestProblem('the manifest is not schemaVersion 2');
  const config = checkDescriptor(parsed.config, 'the config');
  if (!Array.isArray(parsed.layers)) throw new ManifestProblem('the manifest has no layers list');
  const rawLayers: unknown[] = parsed.layers;
  const layers = rawLayers.map((l, i) => checkDescriptor(l, `layer ${i}`));
  const annotations = stringRecord(parsed.annotations);
  return { schemaVersion: 2, mediaType, config, layers, ...(annotations ? { annotations } : {}) };
}

/** The variant consumers see; a manifest none of them accepts is refused with the reason. */
export function manifestVariant(manifest: Manifest): { variant: Variant; module: Descriptor } {
  if (manifest.config.mediaType === MediaType.cncfWasmConfig) {
    const [layer, ...rest] = manifest.layers;
    if (!layer || rest.length > 0 || layer.mediaType !== MediaType.cncfWasmLayer) {
      throw new ManifestProblem(`a CNCF Wasm artifact needs exactly one ${MediaType.cncfWasmLayer} layer`);
    }
    return { variant: 'wasm', module: layer };
  }
  try {
    const { variant, layer } = consumerVariant(manifest);
    return { variant: variant === 'oci' ? 'oci' : 'compat', module: layer };
  } catch (err) {
    if (err instanceof UnloadableImage) throw new ManifestProblem(`Istio and Envoy Gateway would refuse it: ${err.message}`);
    throw err;
  }
}

/** The Image value for existing manifest bytes; `sourceOf` says where each blob's bytes are. */
export function imageFromManifest(manifestBytes: Uint8Array, sourceOf: (d: Descriptor) => BlobSource): Image {
  const manifest = parseImageManifest(manifestBytes);
  const { variant } = manifestVariant(manifest);
  const blob = (descriptor: Descriptor): Blob => ({ descriptor, source: sourceOf(descriptor) });
  return {
    variant,
    flavour: manifest.mediaType === MediaType.dockerManifest ? 'docker' : 'oci',
    manifest,
    manifestBytes,
    manifestDescriptor: { mediaType: manifest.mediaType, digest: sha256Digest(manifestBytes), size: manifestBytes.byteLength },
    config: blob(manifest.config),
    layers: manifest.layers.map(blob),
  };
}
