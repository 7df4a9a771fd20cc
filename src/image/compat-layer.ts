// The compat variant's layer: a deterministic tar (plugin.wasm, runtime-config.json) compressed with gzip,
// produced in one streaming pass that hashes the module, the tar and the gzip stream as they go by.
import { createReadStream } from 'node:fs';
import { Readable, Transform, type TransformCallback, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { constants as zlibConstants, createGzip } from 'node:zlib';
import { pack as tarPack, type Header as TarHeader } from 'tar-stream';
import { HashCounter } from './digest.js';
import { FileName } from './mediatypes.js';
import type { Digest } from './types.js';

export interface CompatLayerInput {
  /** Path of the module file, or its bytes. */
  module: string | Uint8Array;
  moduleSize: number;
  /** Bytes of runtime-config.json (the oci variant's config JSON). */
  runtimeConfig: Uint8Array;
  /** Entry mtime in seconds: SOURCE_DATE_EPOCH or 0. */
  mtime: number;
  /** gzip level 0-9. */
  compressionLevel: number;
}

export interface CompatLayerResult {
  /** Digest and size of the compressed layer blob. */
  digest: Digest;
  size: number;
  /** Digest of the uncompressed tar (rootfs.diff_ids). */
  diffId: Digest;
  tarSize: number;
  /** Digest of the module bytes, read in the same pass. */
  moduleDigest: Digest;
}

// gzip's header byte 9 names the OS that compressed the data; zlib sets it from its build platform.
// Pinning it to 3 (Unix) keeps the layer digest the same whichever OS runs the action.
const GZIP_OS_OFFSET = 9;
const GZIP_OS_UNIX = 3;

class PinGzipOs extends Transform {
  private seen = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    if (this.seen <= GZIP_OS_OFFSET && this.seen + chunk.length > GZIP_OS_OFFSET) {
      chunk[GZIP_OS_OFFSET - this.seen] = GZIP_OS_UNIX;
    }
    this.seen += chunk.length;
    done(null, chunk);
  }
}

function entryHeader(name: string, size: number, mtime: number): Partial<TarHeader> & { name: string } {
  // Fixed attributes: no owner names, root ids, 0644, one mtime. Nothing from the build machine leaks in.
  return { name, size, mode: 0o644, uid: 0, gid: 0, uname: '', gname: '', mtime: new Date(mtime * 1000), type: 'file' };
}

/** Writes the compressed layer to `out` and returns its digests. */
export async function writeCompatLayer(input: CompatLayerInput, out: Writable): Promise<CompatLayerResult> {
  const tar = tarPack();
  const tarHash = new HashCounter();
  const gzHash = new HashCounter();
  const moduleHash = new HashCounter();

  const produce = (async () => {
    const moduleStream =
      typeof input.module === 'string'
        ? createReadStream(input.module, { highWaterMark: 1 << 20 })
        : Readable.from([Buffer.from(input.module.buffer, input.module.byteOffset, input.module.byteLength)]);
    const entry = tar.entry(entryHeader(FileName.compatModule, input.moduleSize, input.mtime));
    await pipeline(moduleStream, moduleHash, entry as unknown as Writable);
    if (moduleHash.bytes !== input.moduleSize) {
      throw new Error(`the module changed while it was being read (${moduleHash.bytes} bytes, expected ${input.moduleSize})`);
    }
    await new Promise<void>((resolve, reject) => {
      tar.entry(
        entryHeader(FileName.runtimeConfig, input.runtimeConfig.byteLength, input.mtime),
        Buffer.from(input.runtimeConfig),
        (err) => (err ? reject(err) : resolve()),
      );
    });
    tar.finalize();
  })();

  const gzip = createGzip({ level: input.compressionLevel, memLevel: 8, strategy: zlibConstants.Z_DEFAULT_STRATEGY });
  await Promise.all([produce, pipeline(tar as unknown as Readable, tarHash, gzip, new PinGzipOs(), gzHash, out)]);

  return {
    digest: gzHash.digest(),
    size: gzHash.bytes,
    diffId: tarHash.digest(),
    tarSize: tarHash.bytes,
    moduleDigest: moduleHash.digest(),
  };
}
