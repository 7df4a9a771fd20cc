// Post-push verification: read each tag back as Istio and Envoy Gateway would (shared spec, section 2) and
// fail if the image would not load. The CNCF variant is checked against its own layout rules instead.
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { basename } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { extract } from 'tar-stream';
import { MAX_MODULE_BYTES, MediaType } from '../image/mediatypes.js';
import type { Digest } from '../image/types.js';
import type { RegistryClient } from './client.js';
import { unexpectedResponse } from './errors.js';
import { atMost } from './http.js';
import { pushScopes } from './auth.js';
import { streamedBytes } from '../memory.js';

export type ConsumerVariant = 'docker' | 'compat' | 'oci' | 'wasm';

export class UnloadableImage extends Error {
  override name = 'UnloadableImage';
}

interface LayerLike {
  mediaType: string;
  digest: string;
  size: number;
}
export interface ManifestLike {
  mediaType?: string;
  config?: LayerLike;
  layers?: LayerLike[];
}

const WASM_MAGIC = [0x00, 0x61, 0x73, 0x6d];

/**
 * The consumers' decision procedure, in their order: a Docker manifest's last layer must be Docker
 * tar+gzip; else an OCI last layer of exactly OCI tar+gzip is compat; else exactly two layers with one raw
 * Wasm layer is the oci variant. Returns the variant and the layer the module is read from.
 */
export function consumerVariant(m: ManifestLike): { variant: Exclude<ConsumerVariant, 'wasm'>; layer: LayerLike } {
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
export function checkCncfLayout(m: ManifestLike, config: { architecture?: unknown; os?: unknown; layerDigests?: unknown }): LayerLike {
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
  if (size < 8 || WASM_MAGIC.some((b, i) => head[i] !== b))
    throw new UnloadableImage(`${where} is not a Wasm binary (no 00 61 73 6d header)`);
  const core = head[4] === 1 && head[5] === 0 && head[6] === 0 && head[7] === 0;
  if (!core && !allowComponent)
    throw new UnloadableImage(`${where} is not a core Wasm module (version ${head.subarray(4, 8).toString('hex')})`);
}

/** Streams a response through sha256 and hands the bytes to `inspect`; checks digest and size at the end. */
async function fetchBlob(
  client: RegistryClient,
  repository: string,
  d: LayerLike,
  inspect?: (res: IncomingMessage) => Writable,
): Promise<Buffer | undefined> {
  const hash = createHash('sha256');
  let size = 0;
  const keep: Buffer[] = [];
  const res = await client.requestWithRetries(`downloading ${d.digest.slice(0, 19)} to verify`, {
    method: 'GET',
    target: `/v2/${repository}/blobs/${d.digest}`,
    scopes: pushScopes(repository),
    consume: async (stream) => {
      const sink = inspect?.(stream);
      await pipeline(
        stream,
        atMost(d.size, `blob ${d.digest}`),
        async function* (source: AsyncIterable<Buffer>) {
          for await (const chunk of source) {
            hash.update(chunk);
            size += chunk.length;
            streamedBytes(chunk.length);
            if (!inspect && size <= 1 << 20) keep.push(chunk);
            if (sink) yield chunk;
          }
        },
        sink ?? new Writable({ write: (_c, _e, cb) => cb() }),
      );
    },
  });
  if (res.status !== 200) throw unexpectedResponse(`downloading blob ${d.digest}`, client.host, res);
  const got = `sha256:${hash.digest('hex')}`;
  if (got !== d.digest || size !== d.size)
    throw new UnloadableImage(`blob ${d.digest} came back as ${got} (${size} bytes, expected ${d.size})`);
  return inspect ? undefined : Buffer.concat(keep);
}

/** A writable that reads a compat layer: gunzip, tar, the first plugin.wasm entry's header; counts the tar. */
function compatLayerReader(result: { found: boolean; head: Buffer; moduleSize: number; tarBytes: number }): Writable {
  const gunzip = createGunzip();
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

export interface VerifiedTag {
  reference: string;
  variant: ConsumerVariant;
}

/**
 * Verifies one repository's tags: each tag must resolve to `digest`; the manifest must pass the consumer
 * rules (or the CNCF rules for variant wasm); its blobs must come back with their digests, and the module
 * must be a Wasm binary within the size cap.
 */
export async function verifyRepository(
  client: RegistryClient,
  repository: string,
  tags: string[],
  expected: { digest: Digest; mediaType: string; cncf: boolean },
): Promise<ConsumerVariant> {
  const scopes = pushScopes(repository);
  let manifestBytes: Buffer | undefined;
  for (const tag of tags) {
    const res = await client.requestWithRetries(`reading back ${repository}:${tag}`, {
      method: 'GET',
      target: `/v2/${repository}/manifests/${tag}`,
      scopes,
      headers: {
        Accept: [
          expected.mediaType,
          MediaType.ociManifest,
          MediaType.dockerManifest,
          MediaType.ociIndex,
          MediaType.dockerManifestList,
        ].join(', '),
      },
    });
    if (res.status !== 200) throw unexpectedResponse(`reading back ${repository}:${tag}`, client.host, res);
    const got = `sha256:${createHash('sha256').update(res.body).digest('hex')}`;
    if (got !== expected.digest) throw new UnloadableImage(`${repository}:${tag} resolves to ${got}, not the pushed ${expected.digest}`);
    manifestBytes = res.body;
  }
  const manifest = JSON.parse((manifestBytes as Buffer).toString('utf8')) as ManifestLike;
  if (expected.cncf) {
    const config = JSON.parse(((await fetchBlob(client, repository, manifest.config as LayerLike)) as Buffer).toString('utf8')) as Record<
      string,
      unknown
    >;
    const layer = checkCncfLayout(manifest, config);
    await checkRawModule(client, repository, layer, true);
    return 'wasm';
  }
  const { variant, layer } = consumerVariant(manifest);
  if (manifest.config) await fetchBlob(client, repository, manifest.config);
  for (const other of manifest.layers ?? []) {
    if (other !== layer && other.digest !== manifest.config?.digest) await fetchBlob(client, repository, other);
  }
  if (variant === 'oci') {
    await checkRawModule(client, repository, layer, false);
  } else {
    const result = { found: false, head: Buffer.alloc(0), moduleSize: 0, tarBytes: 0 };
    await fetchBlob(client, repository, layer, () => compatLayerReader(result));
    if (!result.found) throw new UnloadableImage('the last layer holds no plugin.wasm');
    if (result.tarBytes > MAX_MODULE_BYTES)
      throw new UnloadableImage(`the layer unpacks to ${result.tarBytes} bytes, over the ${MAX_MODULE_BYTES}-byte cap`);
    checkModuleHead(result.head, result.moduleSize, 'plugin.wasm');
  }
  return variant;
}

async function checkRawModule(client: RegistryClient, repository: string, layer: LayerLike, allowComponent: boolean): Promise<void> {
  if (layer.size > MAX_MODULE_BYTES) throw new UnloadableImage(`the module is ${layer.size} bytes, over the ${MAX_MODULE_BYTES}-byte cap`);
  let head = Buffer.alloc(0);
  await fetchBlob(
    client,
    repository,
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
