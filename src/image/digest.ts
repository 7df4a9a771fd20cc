import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { Transform, type TransformCallback } from 'node:stream';
import { nodeCrypto } from '../deferred-builtins.js';
import type { Digest } from './types.js';

export function sha256Digest(bytes: Uint8Array): Digest {
  return `sha256:${nodeCrypto().createHash('sha256').update(bytes).digest('hex')}`;
}

/** A pass-through that hashes and counts what flows through it. */
export class HashCounter extends Transform {
  private readonly hash = nodeCrypto().createHash('sha256');
  bytes = 0;

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    done(null, chunk);
  }

  digest(): Digest {
    return `sha256:${this.hash.digest('hex')}`;
  }
}

/** Bytes per read. */
const READ_SIZE = 1 << 20;
/** Files up to this size are read synchronously: it holds the event loop a few milliseconds at most. */
const SYNC_READ_MAX = 8 * READ_SIZE;

/**
 * Digest and size of a file. Constant memory, and no garbage for the GC to lag behind on (a read stream
 * allocates a new buffer per chunk).
 */
export async function hashFile(path: string): Promise<{ digest: Digest; size: number }> {
  return statSync(path).size <= SYNC_READ_MAX ? hashFileSync(path) : hashFileOverlapped(path);
}

/** A file's bytes, read synchronously into one reused buffer: each view is valid until the next is requested. */
export function* fileChunksSync(path: string, readSize: number): Generator<Uint8Array> {
  const fd = openSync(path, 'r');
  const buffer = Buffer.allocUnsafe(readSize);
  try {
    for (let position = 0, n; (n = readSync(fd, buffer, 0, readSize, position)) > 0; position += n) yield buffer.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/**
 * A small file, read synchronously (from the page cache, as a rule): the hops to libuv's threadpool and
 * back that async reads take (open, each read, close) cost more than the reads do.
 */
function hashFileSync(path: string): { digest: Digest; size: number } {
  const hash = nodeCrypto().createHash('sha256');
  let size = 0;
  for (const chunk of fileChunksSync(path, READ_SIZE)) {
    hash.update(chunk);
    size += chunk.byteLength;
  }
  return { digest: `sha256:${hash.digest('hex')}`, size };
}

/** A larger file, read into two reused buffers: the next chunk is read while the current one is hashed. */
async function hashFileOverlapped(path: string): Promise<{ digest: Digest; size: number }> {
  const hash = nodeCrypto().createHash('sha256');
  const buffers = [Buffer.allocUnsafe(READ_SIZE), Buffer.allocUnsafe(READ_SIZE)] as const;
  const fh = await open(path, 'r');
  let size = 0;
  try {
    let pending = fh.read(buffers[0], 0, buffers[0].length, 0);
    for (let i = 0; ; i ^= 1) {
      const { bytesRead } = await pending;
      if (bytesRead === 0) break;
      const next = buffers[i ^ 1];
      pending = fh.read(next, 0, next.length, size + bytesRead);
      hash.update(buffers[i].subarray(0, bytesRead));
      size += bytesRead;
    }
  } finally {
    // close() waits for a read still in flight.
    await fh.close();
  }
  return { digest: `sha256:${hash.digest('hex')}`, size };
}

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;
export function isDigest(value: string): value is Digest {
  return DIGEST_RE.test(value);
}

export function digestHex(digest: Digest): string {
  return digest.slice('sha256:'.length);
}
