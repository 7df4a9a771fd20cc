// Parallel gzip with output that depends only on the input and the level, laid out as pigz does: the input
// is cut into fixed blocks; each block is compressed on its own as raw deflate, with the 32 KiB of input
// before it as the preset dictionary (so matches reach back across the cut as in one stream), and ends
// with a sync flush (an empty stored block, so blocks join on byte boundaries); one empty final block ends
// the deflate stream. Blocks are compressed concurrently on libuv's threadpool and written in order; how
// many run at once changes only the speed, never a byte.
import { promisify } from 'node:util';
import type * as Zlib from 'node:zlib';
import { nodeZlib } from '../deferred-builtins.js';

/** Input bytes per block (pigz's default). Changing it changes every compat digest. */
export const GZIP_BLOCK_SIZE = 128 * 1024;
const WINDOW = 32 * 1024;
/** A final fixed-Huffman block holding only end-of-block: BFINAL=1, BTYPE=01, code 0000000. */
const FINAL_EMPTY_BLOCK = Buffer.from([0x03, 0x00]);
const GZIP_OS_UNIX = 3;
/** Blocks dispatched but not yet yielded, per block compressing: room for a slow block's successors to finish. */
const WAITING_PER_COMPRESSION = 4;
/**
 * Blocks queued beyond the threadpool's threads: a thread that finishes a block starts the next at once,
 * instead of waiting for the main thread (itself waiting for a core) to hand it one. With two, the
 * esbuild.wasm build took 3% less time on 2 cores than with none (see the README's benchmark notes).
 */
const QUEUED_BLOCKS = 2;

/** libuv's threadpool, where zlib compresses: UV_THREADPOOL_SIZE threads, 4 unless set (libuv caps it at 1024). */
function threadpoolSize(): number {
  const n = Number(process.env.UV_THREADPOOL_SIZE);
  return Number.isInteger(n) && n > 0 ? Math.min(n, 1024) : 4;
}

interface GzipOptions {
  /** zlib level 0-9. */
  level: number;
  /** Blocks handed to the threadpool at once (default: one per threadpool thread, plus a few queued). */
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

/** A block handed to the threadpool: its compressed bytes once done. */
interface Compressing {
  done: boolean;
  output?: Buffer;
  error?: Error;
}

/**
 * The blocks handed to zlib, in the order they were cut. At most `concurrency` compress at once; blocks
 * that finish ahead of an earlier, slower one wait (up to `maxWaiting` blocks in all) while later ones
 * start, so one slow block does not leave a core idle.
 */
class CompressionQueue {
  private readonly entries: Compressing[] = [];
  private running = 0;
  private wake: (() => void) | undefined;

  constructor(
    private readonly concurrency: number,
    private readonly maxWaiting: number,
  ) {}

  add(compressed: Promise<Buffer>): void {
    const entry: Compressing = { done: false };
    this.entries.push(entry);
    this.running++;
    void compressed
      .then(
        (output) => (entry.output = output),
        (err: unknown) => (entry.error = err instanceof Error ? err : new Error(`compressing a gzip block failed: ${String(err)}`)),
      )
      .finally(() => {
        entry.done = true;
        this.running--;
        this.wake?.();
      });
  }

  /** Room for one more block: fewer than `concurrency` compressing, and fewer than `maxWaiting` in all. */
  hasRoom = (): boolean => this.running < this.concurrency && this.entries.length < this.maxWaiting;
  isEmpty = (): boolean => this.entries.length === 0;

  /** Yields the finished blocks at the head, in order (a failed one throws), waiting until `enough()`. */
  async *drain(enough: () => boolean): AsyncGenerator<Buffer> {
    for (;;) {
      while (this.entries[0]?.done) {
        const { output, error } = this.entries.shift() as Compressing;
        if (error || !output) throw error ?? new Error('a gzip block ended without output');
        yield output;
      }
      if (enough()) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }
}

/**
 * Compresses `source` into one gzip member, yielding the compressed bytes in order. Input chunks are
 * copied into a few reused block buffers before the next one is read, so a source may reuse its buffer.
 */
export async function* gzipParallel(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, opts: GzipOptions): AsyncGenerator<Buffer> {
  const blockSize = opts.blockSize ?? GZIP_BLOCK_SIZE;
  if (blockSize < WINDOW) throw new Error(`gzip block size ${blockSize} is under the ${WINDOW}-byte window`);
  const concurrency = Math.max(1, opts.concurrency ?? threadpoolSize() + QUEUED_BLOCKS);
  const queue = new CompressionQueue(concurrency, WAITING_PER_COMPRESSION * concurrency);
  const { deflateBlock, crc32 } = zlibFunctions(opts.level, blockSize);
  const free: Buffer[] = [];
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
    queue.add(compressed);
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
      yield* queue.drain(queue.hasRoom);
    }
  }
  if (filled > 0) dispatch();
  yield* queue.drain(queue.isEmpty);
  yield gzipEnd(crc, size);
}
