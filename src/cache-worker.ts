// One @actions/cache call in a process of its own: `node dist/cache-worker/index.js '<CacheRequest JSON>'`,
// answering a CacheAnswer on file descriptor 3 while the client logs to stdout as usual. The client offers
// no way to cancel a call (and some of its waits have no timeout), so ./build-cache.ts runs each call
// here, where a deadline can stop it together with the tar it started.
import { writeSync } from 'node:fs';
import { isFeatureAvailable, restoreCache, saveCache } from '@actions/cache';
import { parseCacheRequest, type CacheAnswer, type CacheRequest } from './build-cache.js';

async function answer(request: CacheRequest): Promise<CacheAnswer> {
  switch (request.op) {
    case 'available':
      return { value: isFeatureAvailable() };
    case 'restore':
      return { value: (await restoreCache(request.paths, request.key, request.restoreKeys)) ?? null };
    case 'save':
      return { value: await saveCache(request.paths, request.key) };
  }
}

async function main(): Promise<void> {
  let result: CacheAnswer;
  try {
    result = await answer(parseCacheRequest(process.argv[2] ?? ''));
  } catch (err) {
    result = { error: err instanceof Error ? err.message : String(err) };
  }
  writeSync(3, JSON.stringify(result));
}

void main();
