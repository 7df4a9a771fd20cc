// The compat variant's layer: a deterministic tar (plugin.wasm, runtime-config.json) compressed with a
// parallel gzip, produced in one pass that reads the module once into a reused buffer and hashes the
// module, the tar and the gzip stream as they go by.
import type { Hash } from 'node:crypto';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { nodeCrypto } from '../deferred-builtins.js';
import { fileChunksSync } from './digest.js';
import { gzipParallel } from './parallel-gzip.js';
import { FileName } from './mediatypes.js';
import type { Digest } from './types.js';

interface CompatLayerInput {
  /** Path of the module file, or its bytes. */
  module: string | Uint8Array;
  moduleSize: number;
  /** Bytes of runtime-config.json (the oci variant's config JSON). */
  runtimeConfig: Uint8Array;
  /** Entry mtime in seconds: SOURCE_DATE_EPOCH or 0. */
  mtime: number;
  /** gzip level 0-9. */
  compressionLevel: number;
  /** Blocks compressed at once; the output is the same for any value. */
  concurrency?: number;
}

interface CompatLayerResult {
  /** Digest and size of the compressed layer blob. */
  digest: Digest;
  size: number;
  /** Digest of the uncompressed tar (rootfs.diff_ids). */
  diffId: Digest;
  tarSize: number;
  /** Digest of the module bytes, read in the same pass. */
  moduleDigest: Digest;
}

const BLOCK = 512;
/** Module bytes per read: two gzip blocks; a few fresh pages to fault in, a few dozen reads for a big module. */
const READ_SIZE = 256 * 1024;
const padding = (n: number) => Buffer.alloc((BLOCK - (n % BLOCK)) % BLOCK);

function octal(value: number, digits: number): string {
  return `${value.toString(8).padStart(digits, '0')} `;
}

/**
 * A ustar header with fixed attributes: mode 0644, uid/gid 0, no owner names, one mtime; nothing from the
 * build machine leaks in. Byte for byte what tar-stream writes for the same entry (a test holds it to that).
 */
function ustarHeader(name: string, size: number, mtime: number): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write(name, 0, 100, 'utf8');
  h.write(octal(0o644, 6), 100, 'latin1');
  h.write(octal(0, 6), 108, 'latin1');
  h.write(octal(0, 6), 116, 'latin1');
  h.write(octal(size, 11), 124, 'latin1');
  h.write(octal(mtime, 11), 136, 'latin1');
  h[156] = 0x30; // typeflag '0': regular file
  h.write('ustar\u000000', 257, 'latin1');
  h.write(octal(0, 6), 329, 'latin1');
  h.write(octal(0, 6), 337, 'latin1');
  let sum = 8 * 0x20; // the checksum field counts as spaces
  for (let i = 0; i < BLOCK; i++) if (i < 148 || i >= 156) sum += h[i];
  h.write(octal(sum, 6), 148, 'latin1');
  return h;
}

/**
 * The module's bytes, read into one reused buffer: each view is valid until the next is requested. Reads
 * are synchronous: a read from the page cache takes less than a hop to libuv's threadpool and back, and
 * the threadpool's threads are left to the compression (an async read would wait behind its blocks).
 */
function* moduleChunks(module: string | Uint8Array, size: number): Generator<Uint8Array> {
  if (typeof module !== 'string') {
    yield module;
    return;
  }
  let position = 0;
  for (const chunk of fileChunksSync(module, READ_SIZE)) {
    position += chunk.byteLength;
    yield chunk;
  }
  if (position !== size) throw new Error(`the module changed while it was being read (${position} bytes, expected ${size})`);
}

/** The tar stream: plugin.wasm, then runtime-config.json, then the two zero blocks that end an archive. */
function* tarChunks(input: CompatLayerInput, moduleHash: Hash): Generator<Uint8Array> {
  yield ustarHeader(FileName.compatModule, input.moduleSize, input.mtime);
  for (const chunk of moduleChunks(input.module, input.moduleSize)) {
    // Hashed once its blocks are compressing (the chunk stays valid until the next one is read).
    yield chunk;
    moduleHash.update(chunk);
  }
  yield padding(input.moduleSize);
  yield ustarHeader(FileName.runtimeConfig, input.runtimeConfig.byteLength, input.mtime);
  yield input.runtimeConfig;
  yield Buffer.concat([padding(input.runtimeConfig.byteLength), Buffer.alloc(2 * BLOCK)]);
}

/** Writes the compressed layer to `out` (respecting its back-pressure) and returns its digests. */
export async function writeCompatLayer(input: CompatLayerInput, out: Writable): Promise<CompatLayerResult> {
  const { createHash } = nodeCrypto();
  const moduleHash = createHash('sha256');
  const tarHash = createHash('sha256');
  const gzHash = createHash('sha256');
  let tarSize = 0;
  let size = 0;
  const gz = gzipParallel(tarChunks(input, moduleHash), {
    level: input.compressionLevel,
    concurrency: input.concurrency,
    onInput: (chunk) => {
      tarHash.update(chunk);
      tarSize += chunk.byteLength;
    },
  });
  const failed = new Promise<never>((_resolve, reject) => out.once('error', reject));
  failed.catch(() => undefined);
  for await (const chunk of gz) {
    gzHash.update(chunk);
    size += chunk.byteLength;
    if (!out.write(chunk)) await Promise.race([once(out, 'drain'), failed]);
  }
  out.end();
  await Promise.race([once(out, 'finish'), failed]);
  const digest = (h: Hash): Digest => `sha256:${h.digest('hex')}`;
  return { digest: digest(gzHash), size, diffId: digest(tarHash), tarSize, moduleDigest: digest(moduleHash) };
}
