// The compat layer's bytes: the tar is what tar-stream writes, and the parallel gzip is one valid gzip
// member whose bytes depend only on the input and the level, never on how many blocks ran at once.
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import { constants, deflateRawSync, gunzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { writeCompatLayer } from '../src/image/compat-layer.js';
import { sha256Digest } from '../src/image/digest.js';
import { GZIP_BLOCK_SIZE, gzipParallel } from '../src/image/parallel-gzip.js';
import { ROOT } from './helpers/action.js';

const exec = promisify(execFile);
/** 1 MiB of real Wasm (Go-compiled esbuild from npm) and 300 KiB of random bytes: both several blocks long. */
const REAL = readFileSync(join(ROOT, 'node_modules', 'esbuild-wasm', 'esbuild.wasm')).subarray(0, 1 << 20);
const RANDOM = Buffer.from(Array.from({ length: 300 * 1024 }, (_, i) => (Math.imul(i, 2654435761) >>> 13) & 0xff));

/** 600 KiB of text-like bytes from a fixed LCG: compressible, several blocks, the same on every machine. */
function textLike(): Buffer {
  const words = ['proxy', 'wasm', 'filter', 'envoy', 'header', 'on_request', 'i32.const', 'local.get', 'call', '\n', '(', ')', ' '];
  const out: string[] = [];
  let x = 1;
  for (let n = 0; n < 600 * 1024;) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const w = words[(x >>> 16) % words.length];
    out.push(w);
    n += w.length;
  }
  return Buffer.from(out.join('')).subarray(0, 600 * 1024);
}

async function gzip(input: Buffer, level: number, concurrency: number, pieces = 7, blockSize?: number): Promise<Buffer> {
  // Fed in uneven pieces, so block cuts never line up with the source's chunks.
  async function* source() {
    for (let at = 0; at < input.length; at += Math.ceil(input.length / pieces))
      yield input.subarray(at, at + Math.ceil(input.length / pieces));
  }
  const out: Buffer[] = [];
  for await (const c of gzipParallel(source(), { level, concurrency, blockSize })) out.push(c);
  return Buffer.concat(out);
}

type DeflateRaw = (buffer: Uint8Array, options: object, callback: (err: Error | null, out: Buffer) => void) => void;

/** Runs `fn` with node:zlib's deflateRaw (the one the code under test loads) replaced by `replacement(original)`. */
async function withDeflateRaw<T>(replacement: (original: DeflateRaw) => DeflateRaw, fn: () => Promise<T>): Promise<T> {
  const zlib = createRequire(import.meta.url)('node:zlib') as { deflateRaw: DeflateRaw };
  const original = zlib.deflateRaw;
  zlib.deflateRaw = replacement(original);
  try {
    return await fn();
  } finally {
    zlib.deflateRaw = original;
  }
}

describe('parallel gzip', () => {
  it.each([0, 1, 6, 9])('level %i: the same bytes whatever the concurrency, and one valid gzip member', async (level) => {
    for (const input of [REAL, RANDOM]) {
      const outputs = await Promise.all([1, 2, 3, 8].map((c) => gzip(input, level, c)));
      for (const o of outputs) expect(o.equals(outputs[0])).toBe(true);
      expect(gunzipSync(outputs[0]).equals(input)).toBe(true);
    }
  });

  // Recorded from this code on Node 20.20.2 and 24.21.0 (identical); CI runs the suite on Node 20 and 24,
  // so a Node whose zlib compressed differently would fail here before any user's digest changed.
  it.each([
    [1, 'sha256:79f94ff8af568cc59ba93d8a4e4f976593e15aa5d150cfd480faa0d5bbfa0934'],
    [6, 'sha256:2b965b27563686184e3f4b6d6bd500c8c241a932ecb6d171ea81a1f687b73823'],
    [9, 'sha256:5d7a87375a9e40f64dd7513758deedcc5c983cbfcb7e07c428ad890571c531cd'],
  ])('level %i: a golden digest for fixed input, whatever the Node version', async (level, digest) => {
    expect(sha256Digest(await gzip(textLike(), level, 3))).toBe(digest);
  });

  it('is read by gzip and pigz (test and decompress)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pgz-'));
    const file = join(dir, 'layer.gz');
    writeFileSync(file, await gzip(REAL, 6, 3));
    for (const tool of ['gzip', 'pigz']) {
      await exec(tool, ['-t', file]);
      const { stdout } = await exec(tool, ['-dc', file], { encoding: 'buffer', maxBuffer: 4 << 20 });
      expect(Buffer.compare(stdout, REAL)).toBe(0);
    }
  });

  it('lays out blocks as pigz does: raw deflate per 128 KiB block, the previous 32 KiB as dictionary, sync-flushed', async () => {
    const out = await gzip(REAL, 6, 2);
    expect([...out.subarray(0, 10)]).toEqual([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
    let at = 10;
    for (let start = 0; start < REAL.length; start += GZIP_BLOCK_SIZE) {
      const block = REAL.subarray(start, start + GZIP_BLOCK_SIZE);
      const dictionary = start === 0 ? undefined : REAL.subarray(start - 32 * 1024, start);
      const expected = deflateRawSync(block, { level: 6, finishFlush: constants.Z_SYNC_FLUSH, ...(dictionary ? { dictionary } : {}) });
      expect(out.subarray(at, at + expected.length).equals(expected)).toBe(true);
      expect([...expected.subarray(-4)]).toEqual([0, 0, 0xff, 0xff]);
      at += expected.length;
    }
    // An empty final block, then CRC-32 and the input size.
    expect([...out.subarray(at, at + 2)]).toEqual([0x03, 0x00]);
    expect(out.readUInt32LE(at + 6)).toBe(REAL.length);
    expect(out.length).toBe(at + 10);
  });

  it('keeps compressing past a slow block, with at most 4 blocks per compression dispatched behind it', async () => {
    // The first block's result is held back until 8 blocks (4 × concurrency) have gone to zlib, or for 5 s:
    // the blocks after it must keep starting meanwhile, and stop there.
    const [concurrency, blockSize] = [2, 32 * 1024];
    let calls = 0;
    let callsWhenFirstDone = 0;
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    const timer = setTimeout(release, 5000);
    const output = await withDeflateRaw(
      (deflateRaw) => (buffer, options, callback) => {
        if (++calls === 4 * concurrency) release();
        if (calls > 1) return deflateRaw(buffer, options, callback);
        deflateRaw(buffer, options, (err, out) => {
          void released.then(() => {
            callsWhenFirstDone = calls;
            callback(err, out);
          });
        });
      },
      () => gzip(REAL, 6, concurrency, 7, blockSize),
    );
    clearTimeout(timer);
    expect(callsWhenFirstDone).toBe(4 * concurrency);
    expect(output.equals(await gzip(REAL, 6, 8, 7, blockSize))).toBe(true);
  });

  it('hands each threadpool thread a block and queues 2 more, by default', async () => {
    // UV_THREADPOOL_SIZE=3: 5 blocks at once. Every result is held until the 5th block has gone to zlib;
    // a 6th would go in the same turn of the event loop, before the results are let through.
    const saved = process.env.UV_THREADPOOL_SIZE;
    process.env.UV_THREADPOOL_SIZE = '3';
    let [inFlight, peak] = [0, 0];
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    const timer = setTimeout(release, 5000); // fewer than 5 at once: let them through, and fail below
    try {
      await withDeflateRaw(
        (deflateRaw) => (buffer, options, callback) => {
          peak = Math.max(peak, ++inFlight);
          if (inFlight === 5) setImmediate(release);
          deflateRaw(buffer, options, (err, out) => {
            void released.then(() => {
              inFlight--;
              callback(err, out);
            });
          });
        },
        async () => {
          const out: Buffer[] = [];
          async function* source() {
            yield REAL;
          }
          for await (const c of gzipParallel(source(), { level: 1, blockSize: 32 * 1024 })) out.push(c);
          expect(gunzipSync(Buffer.concat(out)).equals(REAL)).toBe(true);
        },
      );
    } finally {
      clearTimeout(timer);
      if (saved === undefined) delete process.env.UV_THREADPOOL_SIZE;
      else process.env.UV_THREADPOOL_SIZE = saved;
    }
    expect(peak).toBe(5);
  });

  it('fails with the error of a block that zlib could not compress', async () => {
    const failure = new Error('zlib ran out of memory');
    let calls = 0;
    const failThird =
      (deflateRaw: DeflateRaw): DeflateRaw =>
      (buffer, options, callback) => {
        if (++calls === 3) setImmediate(() => callback(failure, Buffer.alloc(0)));
        else deflateRaw(buffer, options, callback);
      };
    await withDeflateRaw(failThird, () => expect(gzip(REAL, 6, 3)).rejects.toBe(failure));
  });

  it('writes a valid member for empty input', async () => {
    const out = await gzip(Buffer.alloc(0), 6, 2);
    expect(gunzipSync(out).length).toBe(0);
  });
});

describe('writeCompatLayer', () => {
  it('fails when the module file is not the size it had when checked (changed while read)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'compat-'));
    const module = join(dir, 'plugin.wasm');
    writeFileSync(module, RANDOM);
    const input = { module, moduleSize: RANDOM.length - 1, runtimeConfig: Buffer.from('{}'), mtime: 0, compressionLevel: 1 };
    await expect(writeCompatLayer(input, new PassThrough().resume())).rejects.toThrow(
      `the module changed while it was being read (${RANDOM.length} bytes, expected ${RANDOM.length - 1})`,
    );
    await rm(dir, { recursive: true });
  });

  it('writes the tar that tar-stream writes for the same entries, and the same layer for any concurrency', async () => {
    const config = Buffer.from('{"type":"envoy_proxy","config":{}}');
    const layer = async (concurrency: number) => {
      const sink = new PassThrough();
      const chunks: Buffer[] = [];
      sink.on('data', (c: Buffer) => chunks.push(c));
      const result = await writeCompatLayer(
        { module: RANDOM, moduleSize: RANDOM.length, runtimeConfig: config, mtime: 1700000000, compressionLevel: 1, concurrency },
        sink,
      );
      return { result, gz: Buffer.concat(chunks) };
    };
    const [one, four] = [await layer(1), await layer(4)];
    expect(four.result).toEqual(one.result);
    expect(four.gz.equals(one.gz)).toBe(true);

    const p = pack();
    const attrs = { mode: 0o644, uid: 0, gid: 0, uname: '', gname: '', mtime: new Date(1700000000 * 1000), type: 'file' as const };
    p.entry({ ...attrs, name: 'plugin.wasm', size: RANDOM.length }, RANDOM);
    p.entry({ ...attrs, name: 'runtime-config.json', size: config.length }, config);
    p.finalize();
    const expected: Buffer[] = [];
    for await (const c of p as AsyncIterable<Buffer>) expected.push(c);
    expect(gunzipSync(one.gz).equals(Buffer.concat(expected))).toBe(true);
  });
});
