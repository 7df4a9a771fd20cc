// Large test modules written to disk: valid Wasm (the action inspects every section), fresh random bytes
// each time so no layer is ever already in a registry.
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';

const MiB = 1024 * 1024;

/** `n` as an unsigned LEB128 padded to five bytes, as a section size may be written. */
function paddedLeb(n: number): number[] {
  return [0, 1, 2, 3, 4].map((i) => (Math.floor(n / 2 ** (7 * i)) & 0x7f) | (i < 4 ? 0x80 : 0));
}

/** Writes a module of exactly `size` bytes (at least 16): the Wasm header and one custom section "x" of random bytes. */
export function writeRandomModule(path: string, size: number): string {
  const payload = size - 16;
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x00, ...paddedLeb(payload + 2), 0x01, 0x78]));
    for (let left = payload; left > 0; left -= MiB) writeSync(fd, randomBytes(Math.min(MiB, left)));
  } finally {
    closeSync(fd);
  }
  return path;
}
