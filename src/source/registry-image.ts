// Reads an image already in a registry, by digest, to promote it to new tags with the same digest. Within one
// registry its blobs are mounted and nothing is downloaded; otherwise each blob is streamed through sha256
// into a temp file (constant memory) and uploaded from there.
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../errors.js';
import { digestHex, sha256Digest } from '../image/digest.js';
import { MANIFEST_ACCEPT } from '../image/mediatypes.js';
import { imageBlobs, type BlobSource, type Descriptor, type Digest, type Image } from '../image/types.js';
import { pullScopes } from '../registry/auth.js';
import type { RegistryClient } from '../registry/client.js';
import { registryClient, type ClientSettings } from '../registry/clients.js';
import { RegistryError, unexpectedResponse } from '../registry/errors.js';
import { parseReference, ReferenceError, refuseUserInfo, type ImageReference } from '../registry/reference.js';
import { checkedStream } from '../registry/checked-stream.js';
import { imageFromManifest, ManifestProblem } from './manifest.js';

export interface DigestReference {
  ref: ImageReference;
  digest: Digest;
}

/** `registry/repository@sha256:<hex>` (a tag before the `@` is allowed and ignored, as docker does). */
export function parseDigestReference(input: string, name = 'from-image'): DigestReference {
  const at = input.trim().lastIndexOf('@');
  const digest = at === -1 ? '' : input.trim().slice(at + 1);
  try {
    refuseUserInfo(input.trim());
  } catch (err) {
    if (err instanceof ReferenceError) throw new InputError(name, err.message);
    throw err;
  }
  if (!/^sha256:[a-f0-9]{64}$/.test(digest)) {
    throw new InputError(
      name,
      `"${input.trim()}" does not name an image by digest; give registry/repository@sha256:<64 hex digits>, e.g. the image output of the run that pushed it`,
    );
  }
  try {
    return { ref: parseReference(input.trim().slice(0, at)), digest: digest as Digest };
  } catch (err) {
    if (err instanceof ReferenceError) throw new InputError(name, err.message);
    throw err;
  }
}

/** The settings of the source's client: those of the targets' (main.ts passes both the same). */
export type SourceOptions = ClientSettings;

/** A pull-only client for the source registry, pinged; credentials come the same way as for targets. */
export async function sourceClient(ref: ImageReference, opts: SourceOptions): Promise<RegistryClient> {
  const client = registryClient(ref, opts);
  await client.ping();
  return client;
}

/** The manifest bytes `reference` (a tag or digest) resolves to, with their digest. */
export async function fetchManifest(
  client: RegistryClient,
  repository: string,
  reference: string,
): Promise<{ bytes: Buffer; digest: Digest }> {
  const what = `reading the manifest ${repository}${reference.startsWith('sha256:') ? '@' : ':'}${reference}`;
  const res = await client.requestWithRetries(what, {
    method: 'GET',
    target: `/v2/${repository}/manifests/${reference}`,
    scopes: pullScopes(repository),
    headers: { Accept: MANIFEST_ACCEPT },
  });
  if (res.status !== 200) throw unexpectedResponse(what, client.host, res);
  const digest = sha256Digest(res.body);
  if (reference.startsWith('sha256:') && digest !== reference) {
    throw new RegistryError(`${client.host} answered ${what} with bytes whose digest is ${digest}`, res.status);
  }
  return { bytes: res.body, digest };
}

/** Streams one blob into `path`, hashing it on the way; the digest and size must match. */
export async function downloadBlob(client: RegistryClient, repository: string, d: Descriptor, path: string): Promise<void> {
  const what = `downloading ${d.digest.slice(0, 19)} from ${repository}`;
  const res = await client.requestWithRetries(what, {
    method: 'GET',
    target: `/v2/${repository}/blobs/${d.digest}`,
    scopes: pullScopes(repository),
    // Each attempt writes the file and hashes afresh, so a retried download never counts bytes twice.
    consume: async (stream) => {
      await checkedStream(stream, d, 'blob', (m) => new RegistryError(`${client.host}: ${m}`, 200), createWriteStream(path));
    },
  });
  if (res.status !== 200) throw unexpectedResponse(what, client.host, res);
}

/**
 * The image `source` names. `download` false (a promotion within one registry): blobs are to be mounted
 * from the source repository. `download` true: every blob is fetched into `workDir` first.
 */
export async function readRegistryImage(
  client: RegistryClient,
  source: DigestReference,
  opts: { download: boolean; workDir: string },
): Promise<Image> {
  const { bytes } = await fetchManifest(client, source.ref.repository, source.digest);
  const sourceOf = (d: Descriptor): BlobSource =>
    opts.download ? { kind: 'file', path: join(opts.workDir, digestHex(d.digest)) } : { kind: 'mount', repository: source.ref.repository };
  let image: Image;
  try {
    image = imageFromManifest(bytes, sourceOf);
  } catch (err) {
    if (err instanceof ManifestProblem)
      throw new InputError('from-image', `${source.ref.registry}/${source.ref.repository}@${source.digest}: ${err.message}`);
    throw err;
  }
  if (opts.download) {
    for (const blob of imageBlobs(image)) {
      if (blob.source.kind === 'file') await downloadBlob(client, source.ref.repository, blob.descriptor, blob.source.path);
    }
  }
  return image;
}
