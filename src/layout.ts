// Writes an image into an OCI image layout: a new one, or an existing one that it adds to, as skopeo and
// oras do. Blobs go in first, each written to a temporary file and renamed into place; index.json is
// replaced last, in one rename, so a reader sees the old index or the new one, never an entry whose blobs
// are missing. Nothing this did not write is ever deleted.
import { copyFile, link, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { nodeCrypto } from './deferred-builtins.js';
import { InputError } from './errors.js';
import { digestHex } from './image/digest.js';
import { jsonBytes } from './image/json.js';
import { layoutIndexOf, layoutVersion, refNameOf, type LayoutIndex } from './image/layout-index.js';
import { Annotation, MediaType } from './image/mediatypes.js';
import { imageBlobs, type Blob, type Image } from './image/types.js';
import { parseJson } from './json.js';

/** Ref names for index.json: each distinct tag, or `latest` when there are none. */
export function layoutRefNames(tags: string[]): string[] {
  const names = [...new Set(tags)];
  return names.length > 0 ? names : ['latest'];
}

type Target = { kind: 'none' | 'file' | 'foreign' } | { kind: 'layout'; index: LayoutIndex | undefined };

/** The file's JSON; undefined when there is no such file, null when it cannot be read or is not JSON. */
async function readJson(file: string): Promise<unknown> {
  try {
    return parseJson(await readFile(file, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return null;
  }
}

function layoutError(dir: string, problem: string): InputError {
  return new InputError('oci-layout', `${dir} ${problem}; give a new or empty directory, or an OCI image layout to add the image to`);
}

/** What is at `dir`; for a layout, its index (undefined when it has none yet). Refuses a damaged layout. */
async function inspectTarget(dir: string): Promise<Target> {
  let info;
  try {
    info = await stat(dir);
  } catch {
    return { kind: 'none' };
  }
  if (!info.isDirectory()) return { kind: 'file' };
  const entries = await readdir(dir);
  if (entries.length === 0) return { kind: 'layout', index: undefined };
  if (!entries.includes('oci-layout')) return { kind: 'foreign' };
  if (!layoutVersion(await readJson(join(dir, 'oci-layout')))?.startsWith('1.')) {
    throw layoutError(dir, 'has an oci-layout file that does not say imageLayoutVersion 1.x');
  }
  const raw = await readJson(join(dir, 'index.json'));
  if (raw === undefined) return { kind: 'layout', index: undefined };
  const index = layoutIndexOf(raw);
  if (!index) throw layoutError(dir, 'has an index.json that is not an OCI image index (JSON with a manifests list)');
  return { kind: 'layout', index };
}

/** What is at `dir`, refusing a file or a directory that is not a layout. */
async function usableTarget(dir: string): Promise<Target> {
  const target = await inspectTarget(dir);
  if (target.kind === 'file') throw new InputError('oci-layout', `${dir} is a file; give a directory path (it is created if missing)`);
  if (target.kind === 'foreign') throw layoutError(dir, 'exists and is not an OCI image layout');
  return target;
}

/** Checks the target before any work, so a bad `oci-layout` fails before anything is built. */
export async function checkLayoutTarget(dir: string): Promise<void> {
  await usableTarget(dir);
}

/**
 * A file in this run's work directory (the compat layer, a downloaded blob) is never written again, so the
 * layout gets a second name for it rather than a copy. Any other file (the user's module, another layout's
 * blob) is copied: a later write to it must not change a content-addressed blob. So is a file on another
 * filesystem, or on one without hard links.
 */
async function linkOrCopy(source: string, target: string, workDir: string | undefined): Promise<void> {
  if (workDir && resolve(source).startsWith(resolve(workDir) + sep)) {
    try {
      await link(source, target);
      return;
    } catch {
      // copied below
    }
  }
  await copyFile(source, target);
}

/** Writes a file under a temporary name beside it, then renames it into place. */
async function writeAtomically(file: string, content: Uint8Array | { copyOf: string }, workDir?: string): Promise<void> {
  const temp = join(dirname(file), `.${basename(file)}.${nodeCrypto().randomBytes(6).toString('hex')}.tmp`);
  try {
    if (content instanceof Uint8Array) await writeFile(temp, content);
    else await linkOrCopy(content.copyOf, temp, workDir);
    await rename(temp, file);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}

async function hasSize(file: string, size: number): Promise<boolean> {
  try {
    const info = await stat(file);
    return info.isFile() && (size < 0 || info.size === size);
  } catch {
    return false;
  }
}

/** A blob's bytes: a file to copy or bytes in memory (a blob left in a registry to be mounted has none here). */
function blobContent(blob: Blob): Uint8Array | { copyOf: string } {
  if (blob.source.kind === 'file') return { copyOf: blob.source.path };
  if (blob.source.kind === 'bytes') return blob.source.bytes;
  throw new Error(`blob ${blob.descriptor.digest} is only in the registry; it cannot be written to a layout`);
}

/** Puts every blob of the image in `blobs/sha256/`, skipping those already there; records each file it adds. */
async function addBlobs(blobDir: string, image: Image, added: string[], workDir: string | undefined): Promise<void> {
  const blobs = [
    ...imageBlobs(image).map((b) => ({
      descriptor: b.descriptor,
      content: blobContent(b),
    })),
    { descriptor: image.manifestDescriptor, content: image.manifestBytes },
  ];
  for (const { descriptor, content } of blobs) {
    const file = join(blobDir, digestHex(descriptor.digest));
    // Content-addressed: a file of the right size under this name already holds these bytes.
    if (await hasSize(file, descriptor.size)) continue;
    await writeAtomically(file, content, workDir);
    added.push(file);
  }
}

/** The index with this image's entries: others are kept, entries with one of `refNames` are replaced. */
function updatedIndex(index: LayoutIndex | undefined, image: Image, refNames: string[]): LayoutIndex {
  const base: LayoutIndex = index ?? { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] };
  const kept = base.manifests.filter((m) => !refNames.includes(refNameOf(m) ?? ''));
  const ours = refNames.map((name) => ({ ...image.manifestDescriptor, annotations: { [Annotation.refName]: name } }));
  return { ...base, manifests: [...kept, ...ours] };
}

/** `workDir`: the run's own temporary directory, whose files may be hard-linked into the layout. */
export async function writeLayout(dir: string, image: Image, refNames: string[], workDir?: string): Promise<void> {
  const existing = await usableTarget(dir);
  const target = resolve(dir);
  const added: string[] = [];
  try {
    await mkdir(join(target, 'blobs', 'sha256'), { recursive: true });
    const marker = join(target, 'oci-layout');
    // A new or empty directory gets its marker file; an existing layout keeps its own.
    if (!(await hasSize(marker, -1))) {
      await writeAtomically(marker, jsonBytes({ imageLayoutVersion: '1.0.0' }));
      added.push(marker);
    }
    await addBlobs(join(target, 'blobs', 'sha256'), image, added, workDir);
    const index = existing.kind === 'layout' ? existing.index : undefined;
    await writeAtomically(join(target, 'index.json'), jsonBytes(updatedIndex(index, image, refNames)));
  } catch (err) {
    // Undo only what this run wrote.
    if (existing.kind === 'none') await rm(target, { recursive: true, force: true });
    else await Promise.all(added.map((f) => rm(f, { force: true })));
    throw err;
  }
}
