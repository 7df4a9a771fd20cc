// Verification as Istio and Envoy Gateway would load the image (shared spec, section 2); the CNCF variant is
// checked against its own layout rules instead. Two depths: `light` (the default) checks the layers'
// contents locally from the bytes about to be uploaded, then reads back each repository's manifest by
// digest, the config, and HEADs every layer; `full` downloads every blob again and checks it.
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { basename } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { nodeZlib } from '../deferred-builtins.js';
import { descriptorOf } from '../image/descriptor-json.js';
import { sha256Digest } from '../image/digest.js';
import { MANIFEST_ACCEPT, MAX_MODULE_BYTES, MediaType } from '../image/mediatypes.js';
import type { BlobSource, Digest, Image } from '../image/types.js';
import { checkedStream } from './checked-stream.js';
import type { Logger, RegistryClient } from './client.js';
import { unexpectedResponse } from './errors.js';
import { getHeader } from './http.js';
import { readWasmHeader, WASM_HEADER_BYTES } from '../wasm/header.js';
import type { extract } from 'tar-stream';
import { jsonObject, stringField } from '../json.js';

/** `off`: no verification; `light`: local contents + manifest, config and layer HEADs; `full`: read every blob back. */
export type VerifyMode = 'off' | 'light' | 'full';

export type ConsumerVariant = 'docker' | 'compat' | 'oci' | 'wasm';

export class UnloadableImage extends Error {
  override name = 'UnloadableImage';
}

const unloadable = (message: string) => new UnloadableImage(message);

interface LayerLike {
  mediaType: string;
  digest: string;
  size: number;
}
interface ManifestLike {
  mediaType?: string;
  config?: LayerLike;
  layers?: LayerLike[];
}

/**
 * The consumers' decision procedure, in their order: a Docker manifest's last layer must be Docker
 * tar+gzip; else an OCI last layer of exactly OCI tar+gzip is compat; else exactly two layers with one raw
 * Wasm layer is the oci variant. Returns the variant and the layer the module is read from.
 */
export function consumerVariant<L extends LayerLike>(m: {
  mediaType?: string;
  layers?: L[];
}): { variant: Exclude<ConsumerVariant, 'wasm'>; layer: L } {
  const layers = m.layers ?? [];
  const last = layers.at(-1);
  if (!last) throw new UnloadableImage('the manifest has no layers');
  if (m.mediaType === MediaType.dockerManifest) {
    if (last.mediaType !== MediaType.dockerLayerTarGzip) {
      throw new UnloadableImage(`a Docker manifest's last layer must be ${MediaType.dockerLayerTarGzip}, not ${last.mediaType}`);
    }
    return { variant: 'docker', layer: last };
  }
  if (last.mediaType === MediaType.ociLayerTarGzip) return { variant: 'compat', layer: last };
  const wasm = layers.find((l) => l.mediaType === MediaType.wasmContentLayer);
  if (layers.length === 2 && wasm) return { variant: 'oci', layer: wasm };
  if (wasm) throw new UnloadableImage(`the oci variant needs exactly 2 layers, this image has ${layers.length}`);
  throw new UnloadableImage(
    `the last layer is ${last.mediaType}; compat needs ${MediaType.ociLayerTarGzip} (plain tar and zstd are refused) and the oci variant a ${MediaType.wasmContentLayer} layer`,
  );
}

/** The CNCF Wasm artifact's rules: its config type, one application/wasm layer, layerDigests matching. */
interface CncfConfig {
  architecture?: unknown;
  os?: unknown;
  layerDigests?: unknown;
}

/** A config blob as the CNCF rules read it. */
export function cncfConfigOf(bytes: Uint8Array): CncfConfig {
  return jsonObject(bytes, (problem) => new UnloadableImage(`the config ${problem}`));
}

/** Manifest bytes as the consumers read them; config and layers that are not descriptors make it unloadable. */
export function manifestLikeOf(bytes: Uint8Array): ManifestLike {
  const m = jsonObject(bytes, (problem) => new UnloadableImage(`the manifest ${problem}`));
  const descriptor = (value: unknown, where: string): LayerLike => {
    const checked = descriptorOf(value);
    if ('problem' in checked) throw new UnloadableImage(`${where} ${checked.problem}`);
    return checked.descriptor;
  };
  if (m.layers !== undefined && !Array.isArray(m.layers)) throw new UnloadableImage('the manifest has no layers list');
  const layers: unknown[] | undefined = m.layers;
  return {
    mediaType: stringField(m, 'mediaType'),
    config: m.config === undefined ? undefined : descriptor(m.config, 'the config'),
    layers: layers?.map((l, i) => descriptor(l, `layer ${i}`)),
  };
}

export function checkCncfLayout(m: ManifestLike, config: CncfConfig): LayerLike {
  if (m.config?.mediaType !== MediaType.cncfWasmConfig)
    throw new UnloadableImage(`the config must be ${MediaType.cncfWasmConfig}, not ${m.config?.mediaType}`);
  const layers = m.layers ?? [];
  if (layers.length !== 1 || layers[0]?.mediaType !== MediaType.cncfWasmLayer) {
    throw new UnloadableImage(`the CNCF Wasm artifact needs exactly one ${MediaType.cncfWasmLayer} layer`);
  }
  if (config.architecture !== 'wasm')
    throw new UnloadableImage(`config architecture must be "wasm", not ${JSON.stringify(config.architecture)}`);
  if (config.os !== 'wasip1' && config.os !== 'wasip2')
    throw new UnloadableImage(`config os must be wasip1 or wasip2, not ${JSON.stringify(config.os)}`);
  if (JSON.stringify(config.layerDigests) !== JSON.stringify(layers.map((l) => l.digest))) {
    throw new UnloadableImage('config layerDigests does not list the layer digests');
  }
  return layers[0];
}

function checkModuleHead(head: Buffer, size: number, where: string, allowComponent = false): void {
  const header = readWasmHeader(head.subarray(0, Math.min(size, WASM_HEADER_BYTES)));
  if ('problem' in header && header.problem !== 'version')
    throw new UnloadableImage(`${where} is not a Wasm binary (no 00 61 73 6d header)`);
  if ('kind' in header && (header.kind === 'core' || allowComponent)) return;
  throw new UnloadableImage(`${where} is not a core Wasm module (version ${head.subarray(4, 8).toString('hex')})`);
}

/** Where verification reads: a repository, with the token scopes of its requests. */
interface Repo {
  client: RegistryClient;
  repository: string;
  scopes: string[];
}

/** Downloads a blob, checking its digest and size; `inspect` reads the bytes on the way. */
async function fetchBlob(at: Repo, d: LayerLike, inspect?: () => Writable): Promise<Buffer> {
  const { client, repository, scopes } = at;
  let kept: Buffer = Buffer.alloc(0);
  const res = await client.requestWithRetries(`downloading ${d.digest.slice(0, 19)} to verify`, {
    method: 'GET',
    target: `/v2/${repository}/blobs/${d.digest}`,
    scopes,
    consume: async (stream: IncomingMessage) => {
      kept = await checkedStream(stream, d, 'blob', unloadable, inspect?.());
    },
  });
  if (res.status !== 200) throw unexpectedResponse(`downloading blob ${d.digest}`, client.host, res);
  return kept;
}

/** `HEAD` of a blob: it must be there, and its size (and digest, when the registry says) must match. */
async function headBlob(at: Repo, d: LayerLike): Promise<void> {
  const { client, repository, scopes } = at;
  const res = await client.requestWithRetries(`checking blob ${d.digest.slice(0, 19)}`, {
    method: 'HEAD',
    target: `/v2/${repository}/blobs/${d.digest}`,
    scopes,
  });
  if (res.status === 404) throw new UnloadableImage(`blob ${d.digest} is missing from ${repository}`);
  if (res.status !== 200) throw unexpectedResponse(`checking blob ${d.digest}`, client.host, res);
  const length = getHeader(res, 'content-length');
  if (length !== undefined && Number(length) !== d.size)
    throw new UnloadableImage(`blob ${d.digest} is ${length} bytes in ${repository}, expected ${d.size}`);
  const digest = getHeader(res, 'docker-content-digest');
  if (digest !== undefined && digest !== d.digest) throw new UnloadableImage(`blob ${d.digest} is served as ${digest} in ${repository}`);
}

interface CompatContents {
  found: boolean;
  head: Buffer;
  moduleSize: number;
  tarBytes: number;
}

type TarExtract = typeof extract;
/** tar-stream, loaded when a layer is read (most runs never read one). */
const tarExtract = async (): Promise<TarExtract> => (await import('tar-stream')).extract;

/** A writable that reads a compat layer: gunzip, tar, the first plugin.wasm entry's header; counts the tar. */
function compatLayerReader(result: CompatContents, extract: TarExtract): Writable {
  const gunzip = nodeZlib().createGunzip();
  const tar = extract();
  tar.on('entry', (header, stream, next) => {
    const chunks: Buffer[] = [];
    let taken = 0;
    const mine = !result.found && header.type === 'file' && basename(header.name) === 'plugin.wasm';
    if (mine) {
      result.found = true;
      result.moduleSize = header.size ?? 0;
    }
    stream.on('data', (data: unknown) => {
      const c = data as Buffer;
      if (mine && taken < 8) {
        chunks.push(c.subarray(0, 8 - taken));
        taken += Math.min(8, c.length);
      }
    });
    stream.on('end', () => {
      if (mine) result.head = Buffer.concat(chunks);
      next();
    });
    stream.resume();
  });
  gunzip.on('data', (c: Buffer) => {
    result.tarBytes += c.length;
  });
  gunzip.pipe(tar as unknown as Writable);
  const done = new Promise<void>((resolve, reject) => {
    tar.on('finish', resolve);
    tar.on('error', reject);
    gunzip.on('error', (e) => reject(new UnloadableImage(`the layer is not valid gzip: ${e.message}`)));
  });
  return new Writable({
    write: (chunk, _enc, cb) => (gunzip.write(chunk) ? cb() : gunzip.once('drain', () => cb())),
    final: (cb) => {
      gunzip.end();
      done.then(() => cb(), cb);
    },
  });
}

function checkCompatContents(result: CompatContents): void {
  if (!result.found) throw new UnloadableImage('the last layer holds no plugin.wasm');
  if (result.tarBytes > MAX_MODULE_BYTES)
    throw new UnloadableImage(`the layer unpacks to ${result.tarBytes} bytes, over the ${MAX_MODULE_BYTES}-byte cap`);
  checkModuleHead(result.head, result.moduleSize, 'plugin.wasm');
}

interface VerifyTarget {
  digest: Digest;
  mediaType: string;
  cncf: boolean;
  /** The token scopes of every read: the push's own (so its token serves), or pull alone for the CLI. */
  scopes: string[];
  /**
   * The manifest's bytes, when known: the pushed ones (the blobs they name are read alongside the read-back
   * by digest, which must then be these very bytes), or, `served`, bytes the registry has just served for
   * this digest, which are not read again.
   */
  manifest?: { bytes: Uint8Array; served: boolean };
}

const manifestAccept = (mediaType: string) => `${mediaType}, ${MANIFEST_ACCEPT}`;

/** The known manifest, parsed, when its bytes are the digest's; otherwise it is read back before anything else. */
function knownManifest(expected: VerifyTarget): ManifestLike | undefined {
  const bytes = expected.manifest?.bytes;
  if (!bytes || sha256Digest(bytes) !== expected.digest) return undefined;
  try {
    return manifestLikeOf(bytes);
  } catch (err) {
    if (err instanceof UnloadableImage) return undefined;
    throw err;
  }
}

/** The manifest, read by its digest (a tag may have moved meanwhile); its bytes must hash to that digest. */
async function readManifest(at: Repo, expected: VerifyTarget): Promise<ManifestLike> {
  const { client, repository, scopes } = at;
  const what = `reading back ${repository}@${expected.digest}`;
  const res = await client.requestWithRetries(what, {
    method: 'GET',
    target: `/v2/${repository}/manifests/${expected.digest}`,
    scopes,
    headers: { Accept: manifestAccept(expected.mediaType) },
  });
  if (res.status !== 200) throw unexpectedResponse(what, client.host, res);
  const got = sha256Digest(res.body);
  if (got !== expected.digest) throw new UnloadableImage(`${repository}@${expected.digest} is served as ${got}`);
  return manifestLikeOf(res.body);
}

/**
 * What each tag resolves to now. A tag moved by another push since this one put it is not a failure (the
 * last writer wins, as with docker, buildx and oras): it is reported as a warning.
 */
async function checkTags(at: Repo, tags: string[], expected: VerifyTarget, log: Logger): Promise<void> {
  const now = await Promise.all(tags.map((tag) => tagDigest(at, tag, expected.mediaType)));
  tags.forEach((tag, i) => {
    if (now[i] === expected.digest) return;
    log.warning(
      `${at.client.host}/${at.repository}:${tag} ${now[i] ? `now points at ${now[i]}` : 'no longer exists'}, not at the pushed ${expected.digest}: another push changed the tag after this one (the last writer wins); the pushed image was verified by its digest`,
    );
  });
}

/** The digest a tag points at now (HEAD, or GET and hash when the registry sends no digest header). */
async function tagDigest(at: Repo, tag: string, mediaType: string): Promise<string | undefined> {
  const { client, repository, scopes } = at;
  const what = `resolving ${repository}:${tag}`;
  const req = { target: `/v2/${repository}/manifests/${tag}`, scopes, headers: { Accept: manifestAccept(mediaType) } };
  const head = await client.requestWithRetries(what, { ...req, method: 'HEAD' });
  if (head.status === 404) return undefined;
  if (head.status !== 200) throw unexpectedResponse(what, client.host, head);
  const digest = getHeader(head, 'docker-content-digest');
  if (digest !== undefined) return digest;
  const res = await client.requestWithRetries(what, { ...req, method: 'GET' });
  if (res.status !== 200) throw unexpectedResponse(what, client.host, res);
  return sha256Digest(res.body);
}

/** The blobs' first round: the config read, and (light) a HEAD of every other layer. */
async function readBlobs(at: Repo, manifest: ManifestLike, mode: Exclude<VerifyMode, 'off'>): Promise<Buffer | undefined> {
  const others = (manifest.layers ?? []).filter((l) => l.digest !== manifest.config?.digest);
  const [config] = await Promise.all([
    manifest.config ? fetchBlob(at, manifest.config) : undefined,
    ...(mode === 'light' ? others.map((l) => headBlob(at, l)) : []),
  ]);
  return config;
}

/** A settled read's value, or its failure thrown. */
function valueOf<T>(result: PromiseSettledResult<T>): T {
  if (result.status === 'rejected') throw result.reason;
  return result.value;
}

/**
 * Verifies one repository: the manifest read by digest must pass the consumer rules (or the CNCF rules),
 * every tag should still point at it, and its blobs must be there (`light`: the config read, layers HEAD)
 * or come back with their digests and a loadable module (`full`).
 */
export async function verifyRepository(
  client: RegistryClient,
  repository: string,
  tags: string[],
  expected: VerifyTarget,
  mode: Exclude<VerifyMode, 'off'>,
  log: Logger,
): Promise<ConsumerVariant> {
  const at: Repo = { client, repository, scopes: expected.scopes };
  const known = knownManifest(expected);
  const manifestRead = known && expected.manifest?.served ? Promise.resolve(known) : readManifest(at, expected);
  // With the manifest known, every read goes out at once (one round trip for the light verification): the
  // read-back must hash to the known bytes' digest, so the blobs read are the ones it names.
  const blobsRead = known ? readBlobs(at, known, mode) : manifestRead.then((m) => readBlobs(at, m, mode));
  const results = await Promise.allSettled([manifestRead, checkTags(at, tags, expected, log), blobsRead]);
  // Failures in a fixed order, the read-back's first: a wrong manifest explains a missing blob.
  const manifest = valueOf(results[0]);
  valueOf(results[1]);
  const config = valueOf(results[2]);
  const { variant, layer } = expected.cncf
    ? {
        variant: 'wasm' as const,
        layer: checkCncfLayout(manifest, config ? cncfConfigOf(config) : {}),
      }
    : consumerVariant(manifest);
  if (mode === 'full') {
    const others = (manifest.layers ?? []).filter((l) => l.digest !== manifest.config?.digest && l !== layer);
    // Two downloads at a time: the module layer, and the other layers one after another.
    await Promise.all([
      (async () => {
        for (const other of others) await fetchBlob(at, other);
      })(),
      checkModuleLayer(at, variant, layer),
    ]);
  }
  return variant;
}

/** `full`: the module layer downloaded again, its digest checked, and its contents read as the consumer would. */
async function checkModuleLayer(at: Repo, variant: ConsumerVariant, layer: LayerLike): Promise<void> {
  if (variant === 'oci' || variant === 'wasm') return checkRawModule(at, layer, variant === 'wasm');
  const result: CompatContents = { found: false, head: Buffer.alloc(0), moduleSize: 0, tarBytes: 0 };
  const extract = await tarExtract();
  await fetchBlob(at, layer, () => compatLayerReader(result, extract));
  checkCompatContents(result);
}

async function checkRawModule(at: Repo, layer: LayerLike, allowComponent: boolean): Promise<void> {
  if (layer.size > MAX_MODULE_BYTES) throw new UnloadableImage(`the module is ${layer.size} bytes, over the ${MAX_MODULE_BYTES}-byte cap`);
  let head = Buffer.alloc(0);
  await fetchBlob(
    at,
    layer,
    () =>
      new Writable({
        write: (chunk: Buffer, _e, cb) => {
          if (head.length < 8) head = Buffer.concat([head, chunk.subarray(0, 8 - head.length)]);
          cb();
        },
      }),
  );
  checkModuleHead(head, layer.size, 'the module layer', allowComponent);
}

/** A blob whose bytes are here: a promotion's mounted blobs stay in the registry (verified there). */
type LocalSource = Exclude<BlobSource, { kind: 'mount' }>;

/** Bytes `[start, start + length)` of a blob's local source. */
async function sourceRange(source: LocalSource, start: number, length: number): Promise<Buffer> {
  if (source.kind === 'bytes') return Buffer.from(source.bytes.subarray(start, start + length));
  const fh = await open(source.path, 'r');
  try {
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await fh.read(buffer, 0, length, start);
    return buffer.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

async function sourceSize(source: LocalSource): Promise<number> {
  if (source.kind === 'bytes') return source.bytes.byteLength;
  const fh = await open(source.path, 'r');
  try {
    return (await fh.stat()).size;
  } finally {
    await fh.close();
  }
}

function sourceStream(source: LocalSource, start = 0): Readable {
  return source.kind === 'bytes'
    ? Readable.from([Buffer.from(source.bytes.buffer, source.bytes.byteOffset, source.bytes.byteLength).subarray(start)])
    : createReadStream(source.path, { start, highWaterMark: 64 * 1024 });
}

interface TarEntry {
  name: string;
  type: string;
  size: number;
  head: Buffer;
}

/** The first entry of a tar+gzip stream and its first 8 bytes, read from the start of the stream only. */
async function firstTarEntry(gz: Readable): Promise<TarEntry> {
  const extract = await tarExtract();
  return new Promise((resolve, reject) => {
    const gunzip = nodeZlib().createGunzip();
    const tar = extract();
    const stop = () => {
      gz.destroy();
      gunzip.destroy();
      tar.destroy();
    };
    tar.once('entry', (header, stream) => {
      let head = Buffer.alloc(0);
      const done = () => {
        stop();
        resolve({ name: header.name, type: header.type ?? 'file', size: header.size ?? 0, head });
      };
      stream.on('data', (c: unknown) => {
        head = Buffer.concat([head, c as Buffer]).subarray(0, 8);
        if (head.length === 8) done();
      });
      stream.on('end', done);
    });
    const fail = (e: Error) => {
      stop();
      reject(new UnloadableImage(`the layer is not a valid tar+gzip stream: ${e.message}`));
    };
    gunzip.on('error', fail);
    tar.on('error', fail);
    gz.on('error', reject);
    tar.on('finish', () => reject(new UnloadableImage('the last layer is an empty tar')));
    gz.pipe(gunzip).pipe(tar as unknown as Writable);
  });
}

/**
 * A compat layer's contents, from its local bytes: plugin.wasm first with a Wasm header, and the tar within
 * the cap (the gzip trailer's ISIZE, the tar's size mod 2^32, and at least the module's entry). Reads the
 * start and the end of the blob; a layer laid out otherwise (another first entry) is read in full.
 */
async function checkCompatLayerLocally(blob: LocalBlob): Promise<void> {
  const d = blob.descriptor;
  const size = await sourceSize(blob.source);
  if (size !== d.size) throw new UnloadableImage(`the layer file is ${size} bytes, but its descriptor says ${d.size}`);
  const first = await firstTarEntry(sourceStream(blob.source));
  if (first.type !== 'file' || basename(first.name) !== 'plugin.wasm') {
    const result: CompatContents = { found: false, head: Buffer.alloc(0), moduleSize: 0, tarBytes: 0 };
    await checkedStream(sourceStream(blob.source), d, 'layer', unloadable, compatLayerReader(result, await tarExtract()));
    return checkCompatContents(result);
  }
  const tarBytes = Math.max((await sourceRange(blob.source, size - 4, 4)).readUInt32LE(0), 512 + first.size);
  checkCompatContents({ found: true, head: first.head, moduleSize: first.size, tarBytes });
}

/**
 * The light verification's local half, run before anything is uploaded: the manifest passes the consumer
 * rules (or the CNCF rules), and the module layer's own bytes hold a loadable module within the cap.
 */
export async function checkImageLocally(image: Image): Promise<void> {
  const manifest: ManifestLike = image.manifest;
  // A promotion's mounted blobs are not here: they are checked in the registry they come from.
  if (image.variant === 'wasm') {
    const config = localBlob(image, image.config.descriptor);
    if (!config) return;
    const layer = checkCncfLayout(manifest, cncfConfigOf(await sourceRange(config.source, 0, config.descriptor.size)));
    const module = localBlob(image, layer);
    return module && checkRawModuleLocally(module, true);
  }
  const { variant, layer } = consumerVariant(manifest);
  const blob = localBlob(image, layer);
  if (!blob) return;
  return variant === 'oci' ? checkRawModuleLocally(blob, false) : checkCompatLayerLocally(blob);
}

interface LocalBlob {
  descriptor: LayerLike;
  source: LocalSource;
}

/** The image's blob for a descriptor, when its bytes are here. */
function localBlob(image: Image, d: LayerLike): LocalBlob | undefined {
  const blob = [image.config, ...image.layers].find((b) => b.descriptor.digest === d.digest);
  return blob && blob.source.kind !== 'mount' ? { descriptor: blob.descriptor, source: blob.source } : undefined;
}

async function checkRawModuleLocally(blob: LocalBlob, allowComponent: boolean): Promise<void> {
  const { size } = blob.descriptor;
  if (size > MAX_MODULE_BYTES) throw new UnloadableImage(`the module is ${size} bytes, over the ${MAX_MODULE_BYTES}-byte cap`);
  checkModuleHead(await sourceRange(blob.source, 0, 8), size, 'the module layer', allowComponent);
}

/** `checkImageLocally`, for the push: an image that would not load is never uploaded. */
export async function checkBeforeUpload(image: Image): Promise<void> {
  await checkImageLocally(image).catch((err: unknown) => {
    throw err instanceof UnloadableImage ? new UnloadableImage(`the image would not load, so nothing was pushed: ${err.message}`) : err;
  });
}
