// Writes an OCI image layout atomically: everything goes to a temp sibling directory, renamed into place last.
import { chmod, copyFile, mkdir, mkdtemp, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { InputError } from './errors.js';
import { digestHex } from './image/digest.js';
import { jsonBytes } from './image/json.js';
import { Annotation, MediaType } from './image/mediatypes.js';
import { imageBlobs, type Descriptor, type Image } from './image/types.js';

/** Ref names for index.json: each distinct tag, or `latest` when there are none. */
export function layoutRefNames(tags: string[]): string[] {
  const names = [...new Set(tags)];
  return names.length > 0 ? names : ['latest'];
}

async function existingKind(dir: string): Promise<'none' | 'file' | 'replaceable' | 'foreign'> {
  let info;
  try {
    info = await stat(dir);
  } catch {
    return 'none';
  }
  if (!info.isDirectory()) return 'file';
  const entries = await readdir(dir);
  return entries.length === 0 || entries.includes('oci-layout') ? 'replaceable' : 'foreign';
}

/** Checks the target before any work, so a bad `oci-layout` fails before anything is built. */
export async function checkLayoutTarget(dir: string): Promise<void> {
  const kind = await existingKind(dir);
  if (kind === 'file') throw new InputError('oci-layout', `${dir} is a file; give a directory path (it is created if missing)`);
  if (kind === 'foreign') {
    throw new InputError(
      'oci-layout',
      `${dir} exists and is not an OCI image layout; give a new or empty directory (an existing layout is replaced)`,
    );
  }
}

export async function writeLayout(dir: string, image: Image, refNames: string[]): Promise<void> {
  await checkLayoutTarget(dir);
  const target = resolve(dir);
  await mkdir(dirname(target), { recursive: true });
  const temp = await mkdtemp(join(dirname(target), `.${basename(target)}.tmp-`));
  try {
    // mkdtemp makes the directory private; a layout is meant to be read by other tools and users.
    await chmod(temp, 0o755);
    const blobDir = join(temp, 'blobs', 'sha256');
    await mkdir(blobDir, { recursive: true });
    await writeFile(join(temp, 'oci-layout'), jsonBytes({ imageLayoutVersion: '1.0.0' }));
    for (const blob of imageBlobs(image)) {
      const file = join(blobDir, digestHex(blob.descriptor.digest));
      if (blob.source.kind === 'file') await copyFile(blob.source.path, file);
      else await writeFile(file, blob.source.bytes);
    }
    await writeFile(join(blobDir, digestHex(image.manifestDescriptor.digest)), image.manifestBytes);
    const manifests: Descriptor[] = refNames.map((name) => ({
      ...image.manifestDescriptor,
      annotations: { [Annotation.refName]: name },
    }));
    await writeFile(join(temp, 'index.json'), jsonBytes({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests }));

    // Swap: move any old layout aside, move the new one in, then delete the old one.
    const old = (await existingKind(target)) === 'none' ? undefined : `${temp}.old`;
    if (old) await rename(target, old);
    await rename(temp, target);
    if (old) await rm(old, { recursive: true, force: true });
  } catch (err) {
    await rm(temp, { recursive: true, force: true });
    throw err;
  }
}
