import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hashFile } from '../src/image/digest.js';

const dir = mkdtempSync(join(tmpdir(), 'digest-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const MiB = 1 << 20;

describe('hashFile', () => {
  // Around the 1 MiB read size (the last read may be short or empty), read synchronously up to 8 MiB and
  // into two alternating buffers above it.
  it.each([0, 1, MiB - 1, MiB, MiB + 1, 2 * MiB, 3 * MiB + 12345, 8 * MiB, 8 * MiB + 1, 9 * MiB + 12345])('digest and size of a %i-byte file', async (size) => {
    const bytes = randomBytes(size);
    const path = join(dir, `f${size}`);
    writeFileSync(path, bytes);
    expect(await hashFile(path)).toEqual({ digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`, size });
  });

  it('rejects for a file that is not there', async () => {
    await expect(hashFile(join(dir, 'missing'))).rejects.toThrow(/ENOENT/);
  });
});
