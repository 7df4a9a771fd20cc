// Parallel gzip with output that depends only on the input and the level, laid out as pigz does: the input
// is cut into fixed blocks; each block is compressed on its own as raw deflate, with the 32 KiB of input
// before it as the preset dictionary (so matches reach back across the cut as in one stream), and ends
// with a sync flush (an empty stored block, so blocks join on byte boundaries); one empty final block ends
// the deflate stream. Blocks are compressed concurrently on libuv's threadpool and written in order; how
// many run at once changes only the speed, never a byte.
import { availableParallelism } from 'node:os';
import { promisify } from 'node:util';
import type * as Zlib from 'node:zlib';
import { nodeZlib } from '../deferred-builtins.js';

/** Input bytes per block (pigz's default). Changing it changes every compat digest. */
export const GZIP_BLOCK_SIZE = 128 * 1024;
const WINDOW = 32 * 1024;
/** A final fixed-Huffman block holding only end-of-block: BFINAL=1, BTYPE=01, code 0000000. */
const FINAL_EMPTY_BLOCK = Buffer.from([0x03, 0x00]);
const GZIP_OS_UNIX = 3;

interface GzipOptions {
  /** zlib level 0-9. */
  level: number;
  /** Blocks compressed at once (default: one per core plus one, so a core never waits for the next block). */
  concurrency?: number;
  /** Input bytes per block; only tests change it. */
  blockSize?: number;
  /** Sees every input piece, in order, before the next chunk is read (the caller hashes the tar here). */
  onInput?: (chunk: Uint8Array) => void;
}

/** The gzip member header: no name, mtime 0, XFL as zlib sets it, OS fixed to Unix whatever compressed it. */
function gzipHeader(level: number): Buffer {
  const xfl = level === 9 ? 2 : level < 2 ? 4 : 0;
  return Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, GZIP_OS_UNIX]);
}

/** The end of the stream: the empty final block, then CRC-32 and the input size mod 2^32. */
function gzipEnd(crc: number, size: number): Buffer {
  const end = Buffer.alloc(2 + 8);
  FINAL_EMPTY_BLOCK.copy(end, 0);
  end.writeUInt32LE(crc >>> 0, 2);
  end.writeUInt32LE(size % 2 ** 32, 6);
  return end;
}

/** The block compressor (raw deflate, ending in a sync flush) and zlib's CRC-32, which needs Node 20.15. */
function zlibFunctions(level: number, blockSize: number) {
  const zlib = nodeZlib();
  if (typeof zlib.crc32 !== 'function') throw new Error('compat packaging needs Node.js 20.15 or later (zlib.crc32)');
  const deflateRaw = promisify(zlib.deflateRaw) as (buffer: Uint8Array, options: Zlib.ZlibOptions) => Promise<Buffer>;
  const deflateBlock = (input: Uint8Array, dictionary: Uint8Array | undefined) =>
    deflateRaw(input, {
      level,
      memLevel: 8,
      windowBits: 15,
      strategy: zlib.constants.Z_DEFAULT_STRATEGY,
      finishFlush: zlib.constants.Z_SYNC_FLUSH,
      // Room for the whole block's output in one buffer: no per-16 KiB pieces to join, half the garbage.
      chunkSize: blockSize + (blockSize >> 3),
      ...(dictionary ? { dictionary } : {}),
    });
  return { deflateBlock, crc32: zlib.crc32 };
}

/**
 * Compresses `source` into one gzip member, yielding the compressed bytes in order. Input chunks are
 * copied into a few reused block buffers before the next one is read, so a source may reuse its buffer.
 */
export async function* gzipParallel(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, opts: GzipOptions): AsyncGenerator<Buffer> {
  const blockSize = opts.blockSize ?? GZIP_BLOCK_SIZE;
  if (blockSize < WINDOW) throw new Error(`gzip block size ${blockSize} is under the ${WINDOW}-byte window`);
  const concurrency = Math.max(1, opts.concurrency ?? availableParallelism() + 1);
  const { deflateBlock, crc32 } = zlibFunctions(opts.level, blockSize);
  const free: Buffer[] = [];
  const inFlight: Array<Promise<Buffer>> = [];
  let block: Buffer = Buffer.allocUnsafe(blockSize);
  let filled = 0;
  // The last full block dispatched, and when its own compression ends: its tail is the next dictionary.
  let previous: { buffer: Buffer; done: Promise<unknown> } | undefined;
  let crc = 0;
  let size = 0;

  const dispatch = () => {
    const input = block;
    const dictionary = previous?.buffer.subarray(blockSize - WINDOW);
    const compressed = deflateBlock(input.subarray(0, filled), dictionary);
    compressed.catch(() => undefined); // awaited in order below; this only keeps a later failure from being "unhandled"
    inFlight.push(compressed);
    // A buffer is reused only when nothing reads it any more: its own block and the next one (its dictionary).
    if (previous) {
      const { buffer, done } = previous;
      void Promise.allSettled([done, compressed]).then(() => free.push(buffer));
    }
    previous = filled === blockSize ? { buffer: input, done: compressed } : undefined;
    block = free.pop() ?? Buffer.allocUnsafe(blockSize);
    filled = 0;
  };

  yield gzipHeader(opts.level);
  for await (const chunk of source) {
    size += chunk.byteLength;
    for (let at = 0; at < chunk.byteLength;) {
      const n = Math.min(blockSize - filled, chunk.byteLength - at);
      const piece = chunk.subarray(at, at + n);
      block.set(piece, filled);
      filled += n;
      at += n;
      // A full block goes to the threadpool first; the piece is hashed while it compresses.
      if (filled === blockSize) dispatch();
      opts.onInput?.(piece);
      crc = crc32(piece, crc);
      while (inFlight.length >= concurrency) yield await (inFlight.shift() as Promise<Buffer>);
    }
  }
  if (filled > 0) dispatch();
  while (inFlight.length > 0) yield await (inFlight.shift() as Promise<Buffer>);
  yield gzipEnd(crc, size);
}
