// A blob's bytes as they arrive, checked against its descriptor: hashed on the way, cut off at the first
// byte past its size, and refused when the digest or the size differ.
import { type Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { HashCounter } from '../image/digest.js';
import { atMost } from './http.js';

/**
 * Streams `source` through sha256 into `sink` (or keeps it, up to 1 MiB), failing at the first byte past the
 * descriptor's size; throws `mismatch(...)` when digest or size differ.
 */
export async function checkedStream(
  source: Readable,
  d: { digest: string; size: number },
  what: string,
  mismatch: (message: string) => Error,
  sink?: Writable,
): Promise<Buffer> {
  const counter = new HashCounter();
  const keep: Buffer[] = [];
  let kept = 0;
  const keeper = new Writable({
    write: (chunk: Buffer, _e, cb) => {
      if ((kept += chunk.length) <= 1 << 20) keep.push(chunk);
      cb();
    },
  });
  // Bytes past the descriptor's size are an error at once, not a wait for an endless body.
  await pipeline(source, atMost(d.size, `${what} ${d.digest}`), counter, sink ?? keeper);
  const got = counter.digest();
  if (got !== d.digest || counter.bytes !== d.size)
    throw mismatch(`${what} ${d.digest} came back as ${got} (${counter.bytes} bytes, expected ${d.size})`);
  return Buffer.concat(keep);
}
