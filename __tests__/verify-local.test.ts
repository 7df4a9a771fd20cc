// The light verification's local half: a compat layer's contents are checked from its own bytes before
// any upload, reading only its start and end when plugin.wasm comes first, all of it otherwise.
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { buildCompatImage } from '../src/image/build.js';
import { sha256Digest } from '../src/image/digest.js';
import { checkImageLocally } from '../src/registry/verify.js';
import { testSpec } from './helpers/spec.js';

const WASM = Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x00, 0x03, 0x01, 0x61, 0x62]);

/** A tar of `entries` (name, bytes) in order, as bytes. */
async function tarOf(entries: Array<[string, Buffer]>): Promise<Buffer> {
  const p = pack();
  for (const [name, body] of entries) p.entry({ name, size: body.length }, body);
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const c of p as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

function compatImage(gz: Buffer) {
  const bytes = new Uint8Array(gz);
  return buildCompatImage(testSpec(), {
    digest: sha256Digest(bytes),
    size: bytes.byteLength,
    diffId: sha256Digest(bytes),
    source: { kind: 'bytes', bytes },
  });
}

describe('checkImageLocally (compat)', () => {
  it('accepts plugin.wasm first, and plugin.wasm after another entry (then the whole layer is read)', async () => {
    await checkImageLocally(compatImage(gzipSync(await tarOf([['plugin.wasm', WASM]]))));
    await checkImageLocally(
      compatImage(
        gzipSync(
          await tarOf([
            ['README', Buffer.from('hi')],
            ['sub/plugin.wasm', WASM],
          ]),
        ),
      ),
    );
  });

  it.each([
    ['no plugin.wasm', async () => gzipSync(await tarOf([['filter.wasm', WASM]])), /the last layer holds no plugin\.wasm/],
    [
      'a plugin.wasm that is not Wasm',
      async () => gzipSync(await tarOf([['plugin.wasm', Buffer.from('#!/bin/sh\necho')]])),
      /plugin\.wasm is not a Wasm binary/,
    ],
    [
      'a plugin.wasm that is a component (Envoy loads core modules only)',
      async () => gzipSync(await tarOf([['plugin.wasm', Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00])]])),
      /plugin\.wasm is not a core Wasm module \(version 0d000100\)/,
    ],
    [
      'a plugin.wasm of 7 bytes',
      async () => gzipSync(await tarOf([['plugin.wasm', WASM.subarray(0, 7)]])),
      /plugin\.wasm is not a Wasm binary/,
    ],
    ['a layer that is not gzip', async () => tarOf([['plugin.wasm', WASM]]), /not a valid tar\+gzip stream/],
    [
      // A header that claims a module over the cap: refused from the header alone, without reading on.
      'a plugin.wasm entry over the 256 MiB cap',
      async () => {
        const header = (await tarOf([['plugin.wasm', WASM]])).subarray(0, 512);
        header.write('2000000000 \0', 124, 'latin1'); // size field, octal: 256 MiB
        header.fill(' ', 148, 156);
        let sum = 0;
        for (const b of header) sum += b;
        header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
        return gzipSync(Buffer.concat([header, WASM]));
      },
      /unpacks to 268435968 bytes, over the 268435456-byte cap/,
    ],
  ])('refuses %s', async (_name, layer, message) => {
    await expect(checkImageLocally(compatImage(await layer()))).rejects.toThrow(message);
  });
});
