// The registry client under faults: a fault-injecting proxy in front of the real registry.
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  startFaultProxy,
  startStorageServer,
  type Fault,
  type FaultProxy,
  type FaultRule,
  type StorageServer,
} from '../helpers/fault-proxy.js';
import { expectNoSecrets } from '../helpers/consumer.js';
import { packFixture, push, pushError } from '../helpers/push.js';
import { FIXTURE_MODULE, runAction } from '../helpers/action.js';
import { startRegistry, type RegistryFixture } from '../helpers/registry.js';
import type { PackedImage } from '../../src/pack.js';

let reg: RegistryFixture;
let proxy: FaultProxy;
let packed: PackedImage;
let big: PackedImage;
let n = 0;

const creds = () => ({
  credentials: { username: reg.username as string, password: reg.password as string, env: { HOME: '/nonexistent' } },
});
const basic = () => `Basic ${Buffer.from(`${reg.username}:${reg.password}`).toString('base64')}`;
const repo = (name: string) => `${proxy.host}/faults/${name}-${++n}`;

/** Asks the registry itself (not the proxy) what a tag points at. */
async function tagDigest(ref: string): Promise<string | undefined> {
  const [, path] = /^[^/]+\/(.+)$/.exec(ref) as unknown as [string, string];
  const [name, tag] = path.split(':') as [string, string];
  const res = await fetch(`${reg.url}/v2/${name}/manifests/${tag}`, {
    method: 'HEAD',
    headers: {
      Authorization: basic(),
      Accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json',
    },
    signal: AbortSignal.timeout(5000),
  });
  return res.status === 200 ? (res.headers.get('docker-content-digest') ?? undefined) : undefined;
}

beforeAll(async () => {
  reg = await startRegistry({ auth: 'basic' });
  proxy = await startFaultProxy(reg.url);
  packed = await packFixture('oci');
  big = await packFixture('oci', await makeBigModule());
});
afterAll(async () => {
  await proxy?.stop();
  await reg?.stop();
});
beforeEach(() => {
  proxy.clearRules();
  proxy.setRandomFaults(null);
});

async function makeBigModule(): Promise<string> {
  const bytes = Buffer.alloc(3 * 1024 * 1024 + 123);
  for (let i = 0; i < bytes.length; i += 32) createHash('sha256').update(String(i)).digest().copy(bytes, i);
  Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]).copy(bytes, 0);
  const path = join(mkdtempSync(join(tmpdir(), 'big-')), 'big.wasm');
  writeFileSync(path, bytes);
  return path;
}

const BLOB_PUT = { method: 'PUT', path: /\/blobs\/uploads\// };
const MANIFEST_PUT = { method: 'PUT', path: /\/manifests\// };
const BLOB_HEAD = { method: 'HEAD', path: /\/blobs\/sha256:/ };
const UPLOAD_POST = { method: 'POST', path: /\/blobs\/uploads\/$/ };

interface Scenario {
  name: string;
  rules: FaultRule[];
  retries?: number;
  timeoutMs?: number;
  expect: { ok: true; warning?: RegExp } | { ok: false; message: RegExp; attempts?: number };
}

const status = (s: number, headers?: Record<string, string>, body?: string): Fault => ({ kind: 'status', status: s, headers, body });

const SCENARIOS: Scenario[] = [
  { name: '503 on a blob upload', rules: [{ match: BLOB_PUT, fault: status(503), times: 2 }], expect: { ok: true } },
  {
    name: '502 and 500 on the upload session',
    rules: [
      { match: UPLOAD_POST, fault: status(502) },
      { match: UPLOAD_POST, fault: status(500) },
    ],
    expect: { ok: true },
  },
  {
    name: '429 with Retry-After in seconds',
    rules: [{ match: MANIFEST_PUT, fault: status(429, { 'Retry-After': '1' }) }],
    expect: { ok: true, warning: /HTTP 429.*retrying in 1\.0 s/ },
  },
  {
    name: '429 with Retry-After as an HTTP date',
    rules: [{ match: BLOB_HEAD, fault: status(429, { 'Retry-After': new Date(Date.now() + 1500).toUTCString() }) }],
    expect: { ok: true },
  },
  {
    name: 'connection reset in the middle of the request body',
    rules: [{ match: BLOB_PUT, fault: { kind: 'reset-request' }, times: 2 }],
    expect: { ok: true },
  },
  {
    name: 'connection reset in the middle of the response',
    rules: [{ match: { method: 'GET', path: /\/v2\/$/ }, fault: { kind: 'reset-response' } }],
    expect: { ok: true },
  },
  {
    name: 'a stall past the request timeout',
    rules: [{ match: BLOB_HEAD, fault: { kind: 'stall', ms: 1500 } }],
    timeoutMs: 400,
    expect: { ok: true },
  },
  {
    name: 'a wrong Docker-Content-Digest on the manifest',
    rules: [{ match: MANIFEST_PUT, fault: { kind: 'header', name: 'Docker-Content-Digest', value: `sha256:${'0'.repeat(64)}` } }],
    expect: { ok: false, message: /reports digest sha256:0{64} .* but the manifest pushed has digest/ },
  },
  {
    name: '503 forever on the blob upload',
    rules: [{ match: BLOB_PUT, fault: status(503), times: Infinity }],
    retries: 2,
    expect: { ok: false, message: /uploading blob .* failed after 3 attempts: HTTP 503/, attempts: 3 },
  },
  {
    name: 'a proxy answering HTML',
    rules: [
      { match: UPLOAD_POST, fault: status(400, { 'Content-Type': 'text/html' }, '<html><body>Bad gateway</body></html>'), times: Infinity },
    ],
    expect: { ok: false, message: /HTTP 400 an HTML page, not a registry answer/ },
  },
  {
    name: 'DENIED from the registry',
    rules: [
      {
        match: UPLOAD_POST,
        fault: status(403, {}, JSON.stringify({ errors: [{ code: 'DENIED', message: 'requested access to the resource is denied' }] })),
        times: Infinity,
      },
    ],
    expect: { ok: false, message: /HTTP 403 DENIED: requested access to the resource is denied \(hint: .*may not push/ },
  },
  {
    name: 'retries: 0 fails at the first fault',
    rules: [{ match: BLOB_HEAD, fault: status(503), times: Infinity }],
    retries: 0,
    expect: { ok: false, message: /failed after 1 attempt: HTTP 503/, attempts: 1 },
  },
];

describe('fault scenarios through the proxy', () => {
  let clean: string;
  beforeAll(async () => {
    clean = (await push(packed, [repo('clean') + ':1'], creds())).result.digest;
  });

  it.each(SCENARIOS)('$name', async (scenario) => {
    for (const rule of scenario.rules) proxy.addRule(rule);
    const ref = `${repo('s')}:1`;
    const overrides = {
      ...creds(),
      ...(scenario.timeoutMs ? { timeoutMs: scenario.timeoutMs } : {}),
      ...(scenario.retries !== undefined
        ? { retry: { retries: scenario.retries, baseDelayMs: 5, maxDelayMs: 50, maxRetryAfterMs: 3000 } }
        : {}),
    };
    if (scenario.expect.ok) {
      const { result, log } = await push(packed, [ref], overrides);
      expect(result.digest).toBe(clean);
      expect(await tagDigest(ref)).toBe(clean);
      expect(log.warnings.length, 'each retry is logged as a warning').toBeGreaterThan(0);
      expect(log.warnings.every((w) => /retrying in|resuming/.test(w))).toBe(true);
      // The wait the registry asked for, as the retry layer scheduled it (its clock is tested in retry.test.ts).
      if (scenario.expect.warning) expect(log.warnings.join('\n')).toMatch(scenario.expect.warning);
      expectNoSecrets([...log.warnings, ...log.infos], [reg.password as string]);
    } else {
      const { error, log } = await pushError(packed, [ref], overrides);
      expect(error.message).toMatch(scenario.expect.message);
      expectNoSecrets([...log.warnings, ...log.infos, error.message], [reg.password as string]);
      if (!/reports digest/.test(error.message)) expect(await tagDigest(ref), 'no tag was created').toBeUndefined();
      if (scenario.expect.attempts) {
        // Per blob: the failing one was tried exactly retries + 1 times (blobs go up in parallel).
        const name = ref.split('/').slice(1).join('/').split(':')[0];
        const perBlob = new Map<string, number>();
        for (const r of proxy.requests.filter((q) => q.faulted && q.path.includes(name))) {
          const key = /sha256(?::|%3A)[a-f0-9]{64}/.exec(r.path)?.[0] ?? r.path;
          perBlob.set(key, (perBlob.get(key) ?? 0) + 1);
        }
        expect(Math.max(...perBlob.values())).toBe(scenario.expect.attempts);
      }
    }
  });
});

describe('the action logs every retry', () => {
  it('a retry during the upload, by a client the connection made (its log group was printed long before)', async () => {
    proxy.addRule({ match: { method: 'HEAD', path: /\/blobs\/sha256:/ }, fault: { kind: 'status', status: 503 } });
    const inputs = {
      wasm: FIXTURE_MODULE,
      variant: 'oci',
      tags: `${repo('logged')}:1`,
      username: reg.username as string,
      password: reg.password as string,
    };
    const run = await runAction({ ...inputs, retries: '2' });
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const upload = run.stdout.slice(run.stdout.indexOf('::group::Upload'));
    expect(upload).toMatch(/::warning[^\n]*checking blob sha256:\w+: HTTP 503[^\n]*; retrying in/);
  });
});

describe('uploads', () => {
  it('mounts blobs across repositories of one registry instead of uploading again', async () => {
    const a = repo('mount-a');
    const b = repo('mount-b');
    const before = reg.accessLog().length;
    const { result } = await push(packed, [`${a}:1`, `${b}:1`], creds());
    expect(result.blobs).toEqual({ uploaded: 2, mounted: 2, exists: 0 });
    const log = reg.accessLog().slice(before);
    const bName = b.split('/').slice(1).join('/');
    expect(log.match(new RegExp(`"POST /v2/${bName}/blobs/uploads/\\?mount=sha256[^ ]*&from=[^ ]* HTTP/1.1" 201`, 'g'))).toHaveLength(2);
    expect(log).not.toMatch(new RegExp(`PUT /v2/${bName}/blobs/uploads/`));
    expect(await tagDigest(`${b}:1`)).toBe(result.digest);
  });

  it('mounts from a repository named by mount-from', async () => {
    const source = repo('source');
    await push(packed, [`${source}:1`], creds());
    const target = repo('target');
    const { parseReference } = await import('../../src/registry/reference.js');
    const { result } = await push(packed, [`${target}:1`], { ...creds(), mountFrom: [parseReference(source)] });
    expect(result.blobs.mounted).toBe(2);
  });

  it('never sends Authorization to the storage host a blob redirects to', async () => {
    let storage: StorageServer | undefined;
    try {
      storage = await startStorageServer(async (path) => {
        const res = await fetch(`${reg.url}${path}`, { headers: { Authorization: basic() }, signal: AbortSignal.timeout(5000) });
        if (res.status !== 200) throw new Error(String(res.status));
        return Buffer.from(await res.arrayBuffer());
      });
      const target = storage.url;
      proxy.addRule({
        match: { method: 'GET', path: /\/blobs\/sha256:/ },
        fault: { kind: 'redirect', to: (p) => `${target}${p}` },
        times: Infinity,
      });
      const ref = `${repo('redirect')}:1`;
      const { result } = await push(packed, [ref], { ...creds(), verify: 'full' });
      expect(result.verification).toEqual({ variant: 'oci' });
      expect(storage.requests.length).toBeGreaterThanOrEqual(2);
      for (const r of storage.requests) expect(r.headers.authorization).toBeUndefined();
      // The registry's own host did get credentials.
      expect(proxy.requests.some((r) => r.headers.authorization?.startsWith('Basic '))).toBe(true);
    } finally {
      await storage?.stop();
    }
  });
});

describe('soak', () => {
  it('50 pushes with 30% of requests faulted all succeed with the same digest', async () => {
    const clean = (await push(packed, [`${repo('soak-clean')}:1`], creds())).result.digest;
    proxy.setRandomFaults({
      rate: 0.3,
      seed: 20261124,
      kinds: [status(503), status(429, { 'Retry-After': '0' }), status(500), { kind: 'reset-request' }, { kind: 'reset-response' }],
    });
    const started = Date.now();
    const digests: string[] = [];
    // An upload attempt is two requests (POST, PUT), so at 30 % about half the attempts fail: 16 retries
    // make a run of failures that exhausts them vanishingly rare.
    const from = proxy.requests.length;
    for (let i = 0; i < 50; i++) {
      const { result } = await push(packed, [`${repo('soak')}:1`], {
        ...creds(),
        retry: { retries: 16, baseDelayMs: 2, maxDelayMs: 20, maxRetryAfterMs: 100 },
      });
      digests.push(result.digest);
    }
    const seen = proxy.requests.slice(from);
    const faulted = seen.filter((r) => r.faulted).length;
    expect(faulted / seen.length).toBeGreaterThan(0.2);
    expect(new Set(digests)).toEqual(new Set([clean]));
    expect(Date.now() - started).toBeLessThan(60_000);
  }, 90_000);
});

describe('token expiry', () => {
  it('re-authenticates when a token expires in the middle of a slow chunked push', async () => {
    // Tokens really live 1-2 s but are announced as 300 s, so the client keeps using an expired one and
    // meets a 401 between chunks; each chunk takes 400 ms through the proxy.
    const tokenReg = await startRegistry({ auth: 'token', tokenTtlSeconds: 1, reportedTokenTtlSeconds: 300 });
    const slow = await startFaultProxy(tokenReg.url);
    try {
      slow.addRule({ match: { method: 'PATCH' }, fault: { kind: 'delay', ms: 400 }, times: Infinity });
      const { result, log } = await push(big, [`${slow.host}/expiry/filter:1`], {
        credentials: { username: tokenReg.username as string, password: tokenReg.password as string, env: { HOME: '/nonexistent' } },
        streamThreshold: 1024 * 1024,
        maxChunk: 512 * 1024,
      });
      expect(result.pushed).toEqual([`${slow.host}/expiry/filter:1`]);
      const patch401 = slow.requests.filter((r) => r.method === 'PATCH' && r.status === 401);
      expect(patch401.length, 'a token expired mid-push').toBeGreaterThanOrEqual(1);
      expect(tokenReg.tokenServer?.issuedTokens.length).toBeGreaterThanOrEqual(2);
      // Every token was masked, and none was logged.
      for (const token of tokenReg.tokenServer?.issuedTokens ?? []) expect(log.masked).toContain(token);
      expectNoSecrets([...log.warnings, ...log.infos], [...(tokenReg.tokenServer?.issuedTokens ?? []), tokenReg.password as string]);
    } finally {
      await slow.stop();
      await tokenReg.stop();
    }
  }, 60_000);

  it('uses a short-lived token until shortly before expires_in, then fetches a new one', async () => {
    const tokenReg = await startRegistry({ auth: 'token', tokenTtlSeconds: 2 });
    const slow = await startFaultProxy(tokenReg.url);
    try {
      slow.addRule({ match: { method: 'PATCH' }, fault: { kind: 'delay', ms: 400 }, times: Infinity });
      await push(big, [`${slow.host}/expiry/renew:1`], {
        credentials: { username: tokenReg.username as string, password: tokenReg.password as string, env: { HOME: '/nonexistent' } },
        streamThreshold: 1024 * 1024,
        maxChunk: 512 * 1024,
      });
      expect(slow.requests.filter((r) => r.method === 'PATCH' && r.status === 401)).toEqual([]);
      expect(tokenReg.tokenServer?.issuedTokens.length).toBeGreaterThanOrEqual(2);
    } finally {
      await slow.stop();
      await tokenReg.stop();
    }
  }, 60_000);
});
