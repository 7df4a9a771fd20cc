// Blob uploads against the real registry through the fault proxy: one retry layer (attempts counted at the
// proxy), streamed and resumed uploads, PATCH refusals, and the upload behaviours of GAR, ECR and ghcr.io
// (registry-profiles.ts) with a 70 MiB module.
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { PackedImage } from '../../src/pack.js';
import type { Fault, FaultProxy, ProxyRequestRecord } from '../helpers/fault-proxy.js';
import { packFixture, push, pushError } from '../helpers/push.js';
import { ecrProfile, garProfile, ghcrProfile } from '../helpers/registry-profiles.js';
import { writeRandomModule } from '../helpers/modules.js';
import { startProxiedRegistry, stopProxiedRegistry } from '../helpers/proxied-registry.js';
import type { RegistryFixture } from '../helpers/registry.js';

const MiB = 1024 * 1024;
let reg: RegistryFixture;
let proxy: FaultProxy;
let small: PackedImage;
let big: PackedImage;
let huge: PackedImage;
let dir: string;
let n = 0;

const writeModule = (name: string, size: number) => writeRandomModule(join(dir, name), size);

beforeAll(async () => {
  ({ reg, proxy, work: dir } = await startProxiedRegistry('uploads-', {}));
  small = await packFixture('oci');
  big = await packFixture('oci', writeModule('big.wasm', 3 * MiB + 123));
  huge = await packFixture('oci', writeModule('huge.wasm', 70 * MiB));
}, 60_000);
afterAll(() => stopProxiedRegistry({ reg, proxy, work: dir }));
beforeEach(() => {
  proxy.clearRules();
  proxy.setProfile(null);
});

const repo = (name: string) => `${proxy.host}/uploads/${name}-${++n}`;
const fast = (retries: number) => ({ retry: { retries, baseDelayMs: 1, maxDelayMs: 5, maxRetryAfterMs: 100 } });
const status = (s: number, body?: string): Fault => ({ kind: 'status', status: s, body });
/** Requests the proxy saw from `from` on, for one repository. */
const seen = (from: number, ref: string, method?: string): ProxyRequestRecord[] => {
  const name = ref.split('/').slice(1).join('/').split(':')[0];
  return proxy.requests.slice(from).filter((r) => r.path.includes(`/${name}/`) && (!method || r.method === method));
};

/** Asks the registry itself (not the proxy) what a tag points at. */
async function tagDigest(ref: string): Promise<string | null> {
  const [, name, tag] = /^[^/]+\/([^:]+):(.+)$/.exec(ref) as unknown as [string, string, string];
  const res = await fetch(`${reg.url}/v2/${name}/manifests/${tag}`, {
    method: 'HEAD',
    headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
    signal: AbortSignal.timeout(5000),
  });
  return res.headers.get('docker-content-digest');
}

describe('one retry layer: retries: 2 means at most 3 attempts of any one operation', () => {
  it('the /v2/ ping', async () => {
    proxy.addRule({ match: { method: 'GET', path: /^\/v2\/$/ }, fault: status(503), times: Infinity });
    const from = proxy.requests.length;
    const { error } = await pushError(small, [`${repo('ping')}:1`], fast(2));
    expect(error.message).toMatch(/connecting to .* failed after 3 attempts: HTTP 503/);
    expect(proxy.requests.slice(from).filter((r) => r.path === '/v2/')).toHaveLength(3);
  });

  it('a streamed upload whose PATCH keeps failing: 3 PATCHes, not 3 resumes x 3 uploads', async () => {
    proxy.addRule({ match: { method: 'PATCH' }, fault: status(503), times: Infinity });
    const ref = `${repo('patch503')}:1`;
    const from = proxy.requests.length;
    const { error, log } = await pushError(big, [ref], { ...fast(2), streamThreshold: MiB });
    expect(error.message).toMatch(/uploading blob sha256:\S+ \(3145851 bytes\) .* failed after 3 attempts: HTTP 503/);
    expect(seen(from, ref, 'PATCH')).toHaveLength(3);
    expect(log.warnings.filter((w) => /retrying in/.test(w))).toHaveLength(2);
    expect(await tagDigest(ref)).toBeNull();
  });

  it('a chunked upload reset on every chunk: 3 PATCHes in all', async () => {
    proxy.addRule({ match: { method: 'PATCH' }, fault: { kind: 'reset-request' }, times: Infinity });
    const ref = `${repo('patchreset')}:1`;
    const from = proxy.requests.length;
    const { error } = await pushError(big, [ref], { ...fast(2), streamThreshold: MiB, maxChunk: 512 * 1024 });
    expect(error.message).toMatch(/uploading blob .* failed after 3 attempts: network error/);
    expect(seen(from, ref, 'PATCH')).toHaveLength(3);
  });

  it('a manifest PUT answered 503', async () => {
    proxy.addRule({ match: { method: 'PUT', path: /\/manifests\// }, fault: status(503), times: Infinity });
    const ref = `${repo('manifest503')}:1`;
    const from = proxy.requests.length;
    const { error } = await pushError(small, [ref], fast(2));
    expect(error.message).toMatch(/putting the manifest for .* failed after 3 attempts: HTTP 503/);
    expect(seen(from, ref, 'PUT').filter((r) => r.path.includes('/manifests/'))).toHaveLength(3);
  });

  const blobUnknown = () =>
    proxy.addRule({
      match: { method: 'PUT', path: /\/manifests\// },
      fault: status(400, JSON.stringify({ errors: [{ code: 'MANIFEST_BLOB_UNKNOWN', message: 'blob unknown to registry' }] })),
      times: Infinity,
    });

  it('a manifest PUT answered MANIFEST_BLOB_UNKNOWN: 3 PUTs, each retry checking every blob once', async () => {
    blobUnknown();
    const ref = `${repo('blobunknown')}:1`;
    const from = proxy.requests.length;
    const { error } = await pushError(small, [ref], fast(2));
    expect(error.message).toMatch(/putting the manifest for .* failed after 3 attempts: the registry reports MANIFEST_BLOB_UNKNOWN/);
    expect(seen(from, ref, 'PUT').filter((r) => r.path.includes('/manifests/'))).toHaveLength(3);
    // 2 blobs before the first PUT, then 2 more before each of the 2 retries.
    expect(seen(from, ref, 'HEAD')).toHaveLength(6);
  });

  it('blob checks inside a manifest retry are never retried on their own', async () => {
    blobUnknown();
    proxy.addRule({ match: { method: 'HEAD', path: /\/blobs\/sha256:/ }, fault: { kind: 'delay', ms: 0 }, times: 2 });
    proxy.addRule({ match: { method: 'HEAD', path: /\/blobs\/sha256:/ }, fault: status(503), times: Infinity });
    const ref = `${repo('blobcheck')}:1`;
    const from = proxy.requests.length;
    const { error } = await pushError(small, [ref], fast(2));
    expect(error.message).toMatch(/putting the manifest for .* failed after 3 attempts: checking blob .* failed after 1 attempt: HTTP 503/);
    expect(seen(from, ref, 'PUT').filter((r) => r.path.includes('/manifests/'))).toHaveLength(1);
    expect(seen(from, ref, 'HEAD').filter((r) => r.status === 503)).toHaveLength(2);
  });
});

describe('streamed uploads', () => {
  it('sends a blob over the threshold in one PATCH without Content-Range, then an empty PUT', async () => {
    const ref = `${repo('stream')}:1`;
    const from = proxy.requests.length;
    const { result } = await push(big, [ref], { streamThreshold: MiB });
    expect(await tagDigest(ref)).toBe(result.digest);
    const patches = seen(from, ref, 'PATCH');
    expect(patches).toHaveLength(1);
    expect(patches[0]?.headers['content-range']).toBeUndefined();
    expect(patches[0]?.headers['content-length']).toBe(String(3 * MiB + 123));
    const puts = seen(from, ref, 'PUT').filter((r) => r.path.includes('/blobs/uploads/'));
    // The config goes up in one PUT with its body; the module's PUT only completes the upload.
    expect(puts.map((r) => r.headers['content-length']).sort()).toEqual(['0', String(big.image.config.descriptor.size)].sort());
  });

  it("resumes from the registry's Range after a reset in the middle of a chunked upload", async () => {
    proxy.addRule({ match: { method: 'PATCH' }, fault: { kind: 'delay', ms: 0 }, times: 2 });
    proxy.addRule({ match: { method: 'PATCH' }, fault: { kind: 'reset-request' } });
    const ref = `${repo('resume')}:1`;
    const from = proxy.requests.length;
    const { result, log } = await push(big, [ref], { streamThreshold: MiB, maxChunk: 512 * 1024 });
    expect(await tagDigest(ref)).toBe(result.digest);
    const ranges = seen(from, ref, 'PATCH').map((r) => r.headers['content-range']);
    expect(ranges.slice(0, 4)).toEqual(['0-524287', '524288-1048575', '1048576-1572863', '1048576-1572863']);
    expect(seen(from, ref, 'GET').filter((r) => r.path.includes('/blobs/uploads/'))).toHaveLength(1);
    expect(seen(from, ref, 'POST')).toHaveLength(2); // one session per blob: the resume kept it
    expect(log.warnings.some((w) => /resuming at byte 1048576 of 3145851/.test(w))).toBe(true);
  });

  it('chunks by OCI-Chunk-Max-Length, raised to OCI-Chunk-Min-Length', async () => {
    const post = { method: 'POST', path: /\/blobs\/uploads\/$/ };
    proxy.addRule({ match: post, fault: { kind: 'header', name: 'OCI-Chunk-Max-Length', value: String(MiB) }, times: 2 });
    const ref = `${repo('maxchunk')}:1`;
    let from = proxy.requests.length;
    await push(big, [ref], { streamThreshold: MiB });
    expect(seen(from, ref, 'PATCH').map((r) => r.headers['content-range'])).toEqual([
      '0-1048575',
      '1048576-2097151',
      '2097152-3145727',
      '3145728-3145850',
    ]);

    proxy.addRule({ match: post, fault: { kind: 'header', name: 'OCI-Chunk-Min-Length', value: String(2 * MiB) }, times: 2 });
    const ref2 = `${repo('minchunk')}:1`;
    from = proxy.requests.length;
    await push(big, [ref2], { streamThreshold: MiB, maxChunk: 512 * 1024 });
    expect(seen(from, ref2, 'PATCH').map((r) => r.headers['content-range'])).toEqual(['0-2097151', '2097152-3145850']);
  });

  it.each([400, 405, 416, 501])('uploads the blob in one PUT when the registry refuses its PATCH with HTTP %i', async (code) => {
    proxy.addRule({ match: { method: 'PATCH' }, fault: status(code), times: Infinity });
    const ref = `${repo(`refused${code}`)}:1`;
    const from = proxy.requests.length;
    const { result, log } = await push(big, [ref], { ...fast(0), streamThreshold: MiB });
    expect(await tagDigest(ref)).toBe(result.digest);
    expect(seen(from, ref, 'PATCH')).toHaveLength(1);
    expect(seen(from, ref, 'PUT').some((r) => r.headers['content-length'] === String(3 * MiB + 123))).toBe(true);
    expect(log.warnings).toEqual([
      expect.stringMatching(new RegExp(`refused a PATCH of sha256:\\S+ \\(HTTP ${code}\\); uploading it in one PUT`)),
    ]);
  });

  it('gives up with one clear error when a registry keeps accepting only part of each chunk', async () => {
    // A registry that answers every PATCH with 202 and a Range 1 KiB past the chunk's start.
    proxy.setProfile({
      name: 'stingy',
      answer: (req) => {
        const start = /^(\d+)-/.exec(String(req.headers['content-range'] ?? ''))?.[1];
        if (req.method !== 'PATCH' || start === undefined) return undefined;
        return { kind: 'status', status: 202, headers: { Range: `0-${Number(start) + 1023}`, Location: req.path }, body: '' };
      },
    });
    const ref = `${repo('stingy')}:1`;
    const from = proxy.requests.length;
    const { error } = await pushError(big, [ref], { ...fast(2), streamThreshold: MiB, maxChunk: 512 * 1024 });
    expect(error.message).toMatch(/keeps accepting only part of each chunk of sha256:\S+ \(at byte 9216\); giving up/);
    expect(seen(from, ref, 'PATCH')).toHaveLength(9);
  });

  it('refuses an upload Location that is not http(s), naming the registry', async () => {
    proxy.addRule({
      match: { method: 'POST', path: /\/blobs\/uploads\/$/ },
      fault: { kind: 'header', name: 'Location', value: 'file:///etc/passwd' },
      times: Infinity,
    });
    const { error } = await pushError(small, [`${repo('fileloc')}:1`], fast(2));
    expect(error.message).toMatch(
      new RegExp(`on ${proxy.host.replace('.', '\\.')}: the registry sent an upload Location with the scheme file:`),
    );
  });
});

describe('registry upload behaviours with a 70 MiB module', () => {
  it('GAR/GCR: chunked uploads refused, so the module goes up in one PUT', async () => {
    proxy.setProfile(garProfile());
    const ref = `${repo('gar')}:1`;
    const from = proxy.requests.length;
    const { result } = await push(huge, [ref]);
    expect(await tagDigest(ref)).toBe(result.digest);
    expect(seen(from, ref, 'PATCH').map((r) => r.status)).toEqual([405]);
    expect(seen(from, ref, 'PUT').some((r) => r.headers['content-length'] === String(70 * MiB))).toBe(true);
  });

  it('ECR: PATCH answered 201, one part, completion accepted', async () => {
    const ecr = ecrProfile();
    proxy.setProfile(ecr);
    const ref = `${repo('ecr')}:1`;
    const from = proxy.requests.length;
    const { result } = await push(huge, [ref]);
    expect(await tagDigest(ref)).toBe(result.digest);
    expect(seen(from, ref, 'PATCH').map((r) => r.status)).toEqual([201]);
    expect([...ecr.parts.values()]).toEqual([[70 * MiB]]);
  });

  it('ECR with 8 MiB chunks: its stale Range replaced by our own count, a reset resumed where the registry says', async () => {
    const ecr = ecrProfile();
    proxy.setProfile(ecr);
    proxy.addRule({
      match: { method: 'POST', path: /\/blobs\/uploads\/$/ },
      fault: { kind: 'header', name: 'OCI-Chunk-Max-Length', value: String(8 * MiB) },
      times: Infinity,
    });
    proxy.addRule({ match: { method: 'PATCH' }, fault: { kind: 'delay', ms: 0 }, times: 2 });
    proxy.addRule({ match: { method: 'PATCH' }, fault: { kind: 'reset-request', afterBytes: MiB } });
    const ref = `${repo('ecrresume')}:1`;
    const from = proxy.requests.length;
    const { result, log } = await push(huge, [ref]);
    expect(await tagDigest(ref)).toBe(result.digest);
    const ranges = seen(from, ref, 'PATCH').map((r) => r.headers['content-range']);
    expect(ranges.slice(0, 4)).toEqual([
      `0-${8 * MiB - 1}`,
      `${8 * MiB}-${16 * MiB - 1}`,
      `${16 * MiB}-${24 * MiB - 1}`,
      `${16 * MiB}-${24 * MiB - 1}`,
    ]);
    expect(ranges.at(-1)).toBe(`${64 * MiB}-${70 * MiB - 1}`);
    expect(seen(from, ref, 'PATCH').filter((r) => r.status === 201)).toHaveLength(9); // ECR's status, Range stuck at 0-8 MiB
    expect(log.warnings.some((w) => w.includes(`resuming at byte ${16 * MiB} of ${70 * MiB}`))).toBe(true);
    // Every part the registry stored is 8 MiB but the last: completion was accepted.
    expect([...ecr.parts.values()]).toEqual([[...new Array<number>(8).fill(8 * MiB), 6 * MiB]]);
  });

  it('ghcr.io: one streamed PATCH without Content-Range goes through', async () => {
    proxy.setProfile(ghcrProfile());
    const ref = `${repo('ghcr')}:1`;
    const from = proxy.requests.length;
    const { result } = await push(huge, [ref]);
    expect(await tagDigest(ref)).toBe(result.digest);
    const patches = seen(from, ref, 'PATCH');
    expect(patches.map((r) => [r.status, r.headers['content-range']])).toEqual([[202, undefined]]);
  });

  it('ghcr.io with chunks over its 4 MiB cap: the 416 turns into one PUT', async () => {
    proxy.setProfile(ghcrProfile());
    proxy.addRule({
      match: { method: 'POST', path: /\/blobs\/uploads\/$/ },
      fault: { kind: 'header', name: 'OCI-Chunk-Max-Length', value: String(8 * MiB) },
      times: Infinity,
    });
    const ref = `${repo('ghcrcap')}:1`;
    const from = proxy.requests.length;
    const { result } = await push(huge, [ref]);
    expect(await tagDigest(ref)).toBe(result.digest);
    expect(seen(from, ref, 'PATCH').map((r) => r.status)).toEqual([416]);
  });
});
