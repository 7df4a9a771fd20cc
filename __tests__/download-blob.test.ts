// A blob read from a source registry is checked as it streams to disk: wrong bytes, or more of them than the
// descriptor says, fail the download as the registry's fault.
import { createServer, type Server } from 'node:http';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Digest } from '../src/image/digest.js';
import { RegistryError } from '../src/registry/errors.js';
import { parseReference } from '../src/registry/reference.js';
import { UnloadableImage } from '../src/registry/verify.js';
import { downloadBlob, sourceClient } from '../src/source/registry-image.js';
import type { Descriptor } from '../src/image/types.js';
import { listenOnLoopback } from './helpers/loopback.js';

const expected = Buffer.from('the blob the manifest names');
const descriptor: Descriptor = { mediaType: 'application/octet-stream', digest: sha256Digest(expected), size: expected.length };
const bodies: Record<string, Buffer> = {
  good: expected,
  wrong: Buffer.from('THE BLOB THE MANIFEST NAMES'),
  longer: Buffer.concat([expected, Buffer.from('and more')]),
};

let server: Server;
let port: number;
let dir: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    const repo = req.url?.match(/^\/v2\/(\w+)\/blobs\//)?.[1];
    if (req.url === '/v2/') res.end('{}');
    else if (repo && bodies[repo]) res.end(bodies[repo]);
    else res.writeHead(404).end();
  });
  port = await listenOnLoopback(server);
  dir = await mkdtemp(join(tmpdir(), 'download-blob-'));
});

afterAll(async () => {
  server.close();
  await rm(dir, { recursive: true, force: true });
});

async function download(repository: string): Promise<string> {
  const log = { info: () => {}, warning: () => {} };
  const opts = { credentials: { env: {} }, insecureRegistries: [], retry: { retries: 0 }, timeoutMs: 5000, log, mask: () => {} };
  const client = await sourceClient(parseReference(`127.0.0.1:${port}/${repository}:x`), opts);
  const path = join(dir, repository);
  await downloadBlob(client, repository, descriptor, path);
  return path;
}

describe('downloadBlob', () => {
  it('writes the bytes whose digest and size the descriptor gives', async () => {
    expect(await readFile(await download('good'))).toEqual(expected);
  });

  it('refuses other bytes of the same size as a registry error, naming both digests', async () => {
    const err = await download('wrong').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect(err).not.toBeInstanceOf(UnloadableImage);
    expect((err as Error).message).toBe(
      `127.0.0.1:${port}: blob ${descriptor.digest} came back as ${sha256Digest(bodies.wrong)} (${expected.length} bytes, expected ${expected.length})`,
    );
  });

  it('refuses a body longer than the descriptor says', async () => {
    await expect(download('longer')).rejects.toThrow(
      `sent more than the ${expected.length} bytes of blob ${descriptor.digest}; stopped reading`,
    );
  });
});
