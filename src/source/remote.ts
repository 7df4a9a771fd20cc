// The CLI's `inspect` and `verify`: what a consumer would detect for an image already in a registry, and the
// same read-back checks the action runs after a push.
import { join } from 'node:path';
import { InputError } from '../errors.js';
import { digestHex } from '../image/digest.js';
import { MediaType } from '../image/mediatypes.js';
import type { Descriptor, Digest } from '../image/types.js';
import { pullScopes } from '../registry/auth.js';
import { parseReference, ReferenceError, type ImageReference } from '../registry/reference.js';
import { UnloadableImage, verifyRepository, type ConsumerVariant } from '../registry/verify.js';
import { imageFromManifest, ManifestProblem, manifestSummary, manifestVariant, parseImageManifest } from './manifest.js';
import { moduleFacts, moduleSummary } from './module.js';
import { downloadBlob, fetchManifest, parseDigestReference, sourceClient, type SourceOptions } from './registry-image.js';

/** A tag or digest reference, and the string the registry resolves it by. */
function parseAnyReference(input: string): { ref: ImageReference; reference: string } {
  if (input.includes('@')) {
    const { ref, digest } = parseDigestReference(input, 'REF');
    return { ref, reference: digest };
  }
  try {
    const ref = parseReference(input);
    return { ref, reference: ref.tag };
  } catch (err) {
    if (err instanceof ReferenceError) throw new InputError('REF', err.message);
    throw err;
  }
}

interface Inspection {
  reference: string;
  digest: Digest;
  /** The manifest's own mediaType field; null when it leaves it out. */
  mediaType: string | null;
  /** What Istio and Envoy Gateway detect (compat, docker, oci), or wasm for the CNCF artifact; null when no consumer loads it. */
  variant: ConsumerVariant | null;
  problem?: string;
  module: { digest: Digest; size: number; kind: string; proxyAbi: string | null; imports: number; exports: number } | null;
  annotations: Record<string, string>;
}

/** Reads the manifest and, when a consumer would load it, the module layer, and says what it found. */
export async function inspectRemote(input: string, opts: SourceOptions & { workDir: string }): Promise<Inspection> {
  const { ref, reference } = parseAnyReference(input);
  const client = await sourceClient(ref, opts);
  const { bytes, digest } = await fetchManifest(client, ref.repository, reference);
  const base = { reference: `${ref.registry}/${ref.repository}@${digest}`, digest };
  const raw = manifestSummary(bytes);
  const annotations = raw.annotations;
  let module: Descriptor;
  try {
    module = manifestVariant(parseImageManifest(bytes)).module;
  } catch (err) {
    if (!(err instanceof ManifestProblem)) throw err;
    return { ...base, mediaType: raw.mediaType ?? null, variant: null, problem: err.message, module: null, annotations };
  }
  // Only the layer that holds the module is downloaded; the others stay where they are.
  const path = join(opts.workDir, digestHex(module.digest));
  const image = imageFromManifest(bytes, (d) =>
    d.digest === module.digest ? { kind: 'file', path } : { kind: 'mount', repository: ref.repository },
  );
  await downloadBlob(client, ref.repository, module, path);
  const facts = await moduleFacts(image, opts.workDir);
  const variant: ConsumerVariant = image.flavour === 'docker' ? 'docker' : image.variant;
  return {
    ...base,
    mediaType: image.manifest.mediaType,
    variant,
    module: moduleSummary(facts),
    annotations,
  };
}

/** The action's `verify` checks against an image already pushed; throws UnloadableImage when it would not load. */
export async function verifyRemote(
  input: string,
  opts: SourceOptions,
): Promise<{ reference: string; digest: Digest; variant: ConsumerVariant }> {
  const { ref, reference } = parseAnyReference(input);
  const client = await sourceClient(ref, opts);
  const { bytes, digest } = await fetchManifest(client, ref.repository, reference);
  const raw = manifestSummary(bytes);
  const cncf = raw.configMediaType === MediaType.cncfWasmConfig;
  const who = cncf ? 'breaks the CNCF Wasm artifact rules' : 'would not load in Istio or Envoy Gateway';
  // The same manifest rules as `inspect` (a mediaType written out, a single image), before any blob is read.
  let mediaType: string;
  try {
    mediaType = parseImageManifest(bytes).mediaType;
  } catch (err) {
    if (err instanceof ManifestProblem) throw new UnloadableImage(`${ref.registry}/${ref.repository}@${digest} ${who}: ${err.message}`);
    throw err;
  }
  // No local bytes to check here: the full read-back, every blob downloaded and checked. The manifest was
  // just read by the reference (tag or digest) and hashed, so it is not read again; reading needs pull alone.
  const target = { digest, mediaType, cncf, scopes: pullScopes(ref.repository), manifest: { bytes, served: true } };
  const variant = await verifyRepository(client, ref.repository, [], target, 'full', opts.log).catch((err: unknown) => {
    if (!(err instanceof UnloadableImage)) throw err;
    throw new UnloadableImage(`${ref.registry}/${ref.repository}@${digest} ${who}: ${err.message}`);
  });
  return { reference: `${ref.registry}/${ref.repository}@${digest}`, digest, variant };
}
