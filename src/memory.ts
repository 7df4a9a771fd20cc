// Keeps peak memory flat while hundreds of MiB stream through. Node allocates a fresh Buffer per chunk
// read from a socket or a compressor, and V8 collects such external memory only after tens of MiB have
// piled up; a full collection every few MiB of streamed data keeps the resident size near the baseline.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let collect: (() => void) | undefined;
let streamed = 0;
const EVERY = 4 * 1024 * 1024;

function collector(): (() => void) | undefined {
  if (collect === undefined) {
    try {
      setFlagsFromString('--expose-gc');
      collect = runInNewContext('gc') as () => void;
    } catch {
      collect = () => undefined;
    }
  }
  return collect;
}

/** Counts streamed bytes and collects garbage every 4 MiB. */
export function streamedBytes(n: number): void {
  streamed += n;
  if (streamed >= EVERY) {
    streamed = 0;
    collector()?.();
  }
}
