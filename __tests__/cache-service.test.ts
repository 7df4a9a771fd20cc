// Proves the cache service fixture behaves as the GitHub cache service does where the e2e tests rely on
// it: it checks the runtime token, matches keys as GitHub documents, finalizes only what storage holds,
// and stopping it leaves no Azurite process behind.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findEntry, startCacheService, type CacheEntry, type CacheService } from './helpers/cache-service.js';
import { liveRegistryPids } from './helpers/registry.js';

const METHOD = 'twirp/github.actions.results.api.v1.CacheService/';

let service: CacheService;
beforeAll(async () => {
  service = await startCacheService();
});
afterAll(() => service?.stop());

async function rpc(
  method: string,
  body: object,
  token = service.env.ACTIONS_RUNTIME_TOKEN,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${service.url}${METHOD}${method}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

describe('the cache service fixture', () => {
  it('refuses a forged runtime token and unknown methods', async () => {
    const token = service.env.ACTIONS_RUNTIME_TOKEN as string;
    const [head, claims] = token.split('.');
    const forged = `${head}.${claims}.${'A'.repeat(43)}`;
    expect(await rpc('GetCacheEntryDownloadURL', { key: 'k', version: 'v' }, forged)).toEqual({
      status: 401,
      json: { code: 'unauthenticated', msg: 'invalid runtime token' },
    });
    expect((await rpc('DeleteCacheEntry', { key: 'k' })).status).toBe(404);
    expect(await rpc('GetCacheEntryDownloadURL', { key: 'k', version: 'v' })).toEqual({ status: 200, json: { ok: false } });
  });

  it('creates an entry once per key and version, and finalizes it only with the size storage holds', async () => {
    const created = await rpc('CreateCacheEntry', { key: 'fixture-1', version: 'v1' });
    expect(created.json).toEqual({
      ok: true,
      signed_upload_url: expect.stringMatching(/^http:\/\/cacheaccount\.blob\.core\.windows\.net\/actions-cache\/.+\?.*sig=/),
    });
    expect((await rpc('CreateCacheEntry', { key: 'fixture-1', version: 'v1' })).status).toBe(409);
    // Nothing was uploaded: storage holds no such blob.
    expect(await rpc('FinalizeCacheEntryUpload', { key: 'fixture-1', version: 'v1', size_bytes: '10' })).toEqual({
      status: 200,
      json: { ok: false, message: 'the uploaded archive is not 10 bytes' },
    });
  });

  it('matches the exact key, then the key as a prefix, then each restore key, the newest first, in one version', () => {
    const entry = (id: number, key: string, version = 'v'): CacheEntry => ({ id, key, version, scope: 's', blob: `${id}`, sizeBytes: 1 });
    const entries = [
      entry(1, 'a-linux-1'),
      entry(2, 'a-linux-2'),
      entry(3, 'a-linux-3', 'other'),
      { ...entry(4, 'a-linux-4'), sizeBytes: undefined },
      entry(5, 'a-linux-1x'),
    ];
    expect(findEntry(entries, 'a-linux-1', [], 'v')?.id).toBe(1);
    expect(findEntry(entries, 'a-linux-', [], 'v')?.id).toBe(5);
    expect(findEntry(entries, 'a-linux-9', ['b-', 'a-linux-'], 'v')?.id).toBe(5);
    expect(findEntry(entries, 'a-linux-3', [], 'v')).toBeUndefined();
    expect(findEntry(entries, 'a-linux-4', [], 'v')).toBeUndefined();
  });

  it('stop() ends Azurite', async () => {
    const other = await startCacheService();
    expect(liveRegistryPids()).toContain(other.azurite.pid);
    await other.stop();
    expect(liveRegistryPids()).not.toContain(other.azurite.pid);
    expect(() => process.kill(other.azurite.pid, 0)).toThrow();
  });
});
