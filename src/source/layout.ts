// Reads an image from an OCI image layout written by an earlier run (`oci-layout`), checking it whole before
// any network call: the entry, every blob's presence, digest and size, and the consumers' rules.
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '../errors.js';
import { hashFile, isDigest, digestHex } from '../image/digest.js';
import { layoutIndexOf, layoutVersion, refNameOf } from '../image/layout-index.js';
import { imageBlobs, type Descriptor, type Digest, type Image } from '../image/types.js';
import { parseJson, type JsonObject } from '../json.js';
import { checkCncfLayout, cncfConfigOf, UnloadableImage } from '../registry/verify.js';
import { imageFromManifest, ManifestProblem } from './manifest.js';

const INPUT = 'from-oci-layout';

async function readJson(path: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new InputError(
      INPUT,
      `${path} is missing, so this is not an OCI image layout (${what}); give the directory an oci-layout run wrote`,
    );
  }
  try {
    return parseJson(text);
  } catch {
    throw new InputError(INPUT, `${path} is not valid JSON`);
  }
}

/** The index entry to publish: the one named `ref`, or the only image in the layout. */
function pickEntry(dir: string, entries: JsonObject[], ref: string | undefined): JsonObject {
  const names = entries.map(refNameOf).filter((n): n is string => n !== undefined);
  if (ref !== undefined) {
    const found = entries.find((e) => refNameOf(e) === ref);
    if (!found) throw new InputError('from-ref', `${dir} has no entry named "${ref}"; it holds: ${names.join(', ') || 'no named entries'}`);
    return found;
  }
  const digests = new Set(entries.map((e) => String(e.digest)));
  if (digests.size === 0) throw new InputError(INPUT, `${dir}/index.json lists no image`);
  if (digests.size > 1) {
    throw new InputError(INPUT, `${dir} holds ${digests.size} different images (${names.join(', ')}); choose one with from-ref`);
  }
  return entries[0];
}

/** Checks that a blob file is there with the size and digest the descriptor gives. */
async function checkBlobFile(path: string, d: Descriptor, what: string): Promise<void> {
  const info = await stat(path).catch(() => undefined);
  if (!info?.isFile()) throw new InputError(INPUT, `${what} ${d.digest} is missing (${path}); copy the whole layout directory`);
  if (info.size !== d.size) throw new InputError(INPUT, `${what} ${d.digest} is ${info.size} bytes, but the manifest says ${d.size}`);
  const { digest } = await hashFile(path);
  if (digest !== d.digest) throw new InputError(INPUT, `${what} ${path} has digest ${digest}, not ${d.digest}: the layout is damaged`);
}

export async function readLayoutImage(dir: string, ref: string | undefined): Promise<Image> {
  const info = await stat(dir).catch(() => undefined);
  if (!info)
    throw new InputError(INPUT, `${dir} does not exist; download the layout (e.g. actions/download-artifact) first or fix the path`);
  if (!info.isDirectory()) throw new InputError(INPUT, `${dir} is not a directory; give the layout directory an oci-layout run wrote`);
  const version = layoutVersion(await readJson(join(dir, 'oci-layout'), 'no oci-layout file'));
  if (version !== '1.0.0') throw new InputError(INPUT, `${dir}/oci-layout does not say imageLayoutVersion 1.0.0`);
  const index = layoutIndexOf(await readJson(join(dir, 'index.json'), 'no index.json'));
  if (!index) throw new InputError(INPUT, `${dir}/index.json is not an OCI image index (JSON with a list of manifest descriptors)`);
  const entry = pickEntry(dir, index.manifests, ref);
  if (typeof entry.digest !== 'string' || !isDigest(entry.digest))
    throw new InputError(INPUT, `${dir}/index.json has an entry without a sha256 digest`);
  const blobPath = (d: Digest) => join(dir, 'blobs', 'sha256', digestHex(d));
  const manifestDescriptor: Descriptor = { mediaType: String(entry.mediaType), digest: entry.digest, size: Number(entry.size) };
  await checkBlobFile(blobPath(entry.digest), manifestDescriptor, 'the manifest');
  let image: Image;
  try {
    image = imageFromManifest(await readFile(blobPath(entry.digest)), (d) => ({ kind: 'file', path: blobPath(d.digest) }));
  } catch (err) {
    if (err instanceof ManifestProblem) throw new InputError(INPUT, `the image ${entry.digest} cannot be published: ${err.message}`);
    throw err;
  }
  for (const blob of imageBlobs(image)) await checkBlobFile(blobPath(blob.descriptor.digest), blob.descriptor, 'blob');
  if (image.variant === 'wasm') await checkCncfConfig(image, blobPath(image.config.descriptor.digest));
  return image;
}

async function checkCncfConfig(image: Image, configPath: string): Promise<void> {
  try {
    checkCncfLayout(image.manifest, cncfConfigOf(await readFile(configPath)));
  } catch (err) {
    if (err instanceof UnloadableImage) {
      throw new InputError(INPUT, `the CNCF Wasm artifact breaks its rules: ${err.message}`);
    }
    throw err;
  }
}
