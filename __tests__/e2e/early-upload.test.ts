// The module's upload started while it is hashed (src/registry/early-upload.ts), run as the runner runs
// the action (dist/index.js) against the real registry behind the fault proxy: a fresh oci push of a module
// over the 32 MiB stream threshold, a re-push, a blob already there under another tag, a PATCH cut off, and
// the upload behaviours of GAR and ECR (registry-profiles.ts); and a registry with token auth.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runAction, type ActionRun } from '../helpers/action.js';
import type { FaultProxy, ProxyRequestRecord } from '../helpers/fault-proxy.js';
import { ecrProfile, garProfile } from '../helpers/registry-profiles.js';
import { writeRandomModule } from '../helpers/modules.js';
import { startProxiedRegistry, stopProxiedRegistry } from '../helpers/proxied-registry.js';
import { startRegistry, type RegistryFixture } from '../helpers/registry.js';
import type { TokenServer } from '../helpers/token-server.js';

const MiB = 1024 * 1024;
const SIZE = 48 * MiB;
let reg: RegistryFixture;
let proxy: FaultProxy;
let dir: string;
let n = 0;

const freshModule = () => writeRandomModule(join(dir, `m${++n}.wasm`), SIZE);

beforeAll(async () => {
  ({ reg, proxy, work: dir } = await startProxiedRegistry('early-upload-', {}));
}, 60_000);
afterAll(() => stopProxiedRegistry({ reg, proxy, work: dir }));
beforeEach(() => {
  proxy.clearRules();
  proxy.setProfile(null);
});

function push(module: string, tag: string): Promise<ActionRun> {
  return runAction({ wasm: module, variant: 'oci', tags: `${proxy.host}/${tag}`, retries: '2' }, { timeoutMs: 60_000 });
}

/** The requests the proxy saw from `from` on, for one repository's blobs and uploads. */
const seen = (from: number, repository: string) => proxy.requests.slice(from).filter((r) => r.path.startsWith(`/v2/${repository}/`));
const uploads = (rs: ProxyRequestRecord[]) => rs.filter((r) => r.path.includes('/blobs/uploads/'));
const index = (rs: ProxyRequestRecord[], test: (r: ProxyRequestRecord) => boolean) => rs.findIndex(test);

/**
 * The registry's own upload sessions still open in a repository: Distribution keeps each under `_uploads`
 * with its `startedat` file (a cancelled one leaves only its hash state behind).
 */
function openSessions(repository: string): string[] {
  const path = join(reg.dir, 'data', 'docker', 'registry', 'v2', 'repositories', repository, '_uploads');
  return existsSync(path) ? readdirSync(path).filter((id) => existsSync(join(path, id, 'startedat'))) : [];
}

describe('the module goes up while it is hashed', () => {
  it('a fresh push: one session, the whole module in one PATCH sent before the blob check, then the PUT', { retry: 2 }, async () => {
    const from = proxy.requests.length;
    const run = await push(freshModule(), 'early/fresh:1');
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const rs = seen(from, 'early/fresh');
    const moduleDigest = run.outputs['wasm-digest'];
    const patch = index(rs, (r) => r.method === 'PATCH');
    const check = index(rs, (r) => r.method === 'HEAD' && r.path.endsWith(`/blobs/${moduleDigest}`));
    // A HEAD of the absent tag is all it takes to go ahead (no GET, which Docker Hub counts as a pull).
    expect(rs[0]).toMatchObject({ method: 'HEAD', path: '/v2/early/fresh/manifests/1', status: 404 });
    expect(rs.filter((r) => r.method === 'GET' && r.path === '/v2/early/fresh/manifests/1')).toEqual([]);
    // The upload was under way before the module's digest was known (the check needs it).
    expect(patch).toBeGreaterThan(-1);
    expect(patch).toBeLessThan(check);
    expect(rs[patch].headers['content-range']).toBeUndefined();
    expect(Number(rs[patch].headers['content-length'])).toBe(SIZE);
    // The config (34 bytes) goes up in one PUT of its own; the module's session gets only the closing PUT.
    const puts = uploads(rs).filter((r) => r.method === 'PUT' && r.path.includes(moduleDigest.replace(':', '%3A')));
    expect(puts.map((r) => [r.headers['content-length'], r.status])).toEqual([['0', 201]]);
    expect(uploads(rs).filter((r) => r.method === 'POST')).toHaveLength(2);
    expect(run.stdout).toContain(`early/fresh: uploading ${join(dir, `m${n}.wasm`)} while it is hashed`);
    expect(run.stdout).not.toContain('resuming');
    expect(run.stdout).toMatch(/2 blob\(s\) uploaded, 0 mounted, 0 already present/);
    expect(openSessions('early/fresh')).toEqual([]);
  });

  it('a re-push of the tag: the tag holds a layer of the module size, so nothing goes up before the check', async () => {
    const module = freshModule();
    expect((await push(module, 'early/again:1')).code).toBe(0);
    const from = proxy.requests.length;
    const run = await push(module, 'early/again:1');
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const rs = seen(from, 'early/again');
    expect(rs.slice(0, 2)).toMatchObject([
      { method: 'HEAD', path: '/v2/early/again/manifests/1', status: 200 },
      { method: 'GET', path: '/v2/early/again/manifests/1', status: 200 },
    ]);
    expect(uploads(rs)).toEqual([]);
    expect(run.stdout).not.toContain('while it is hashed');
    expect(run.stdout).toMatch(/0 blob\(s\) uploaded, 0 mounted, 2 already present/);
  });

  it('a new module on a moving tag (the tag holds no layer of its size): it goes up while hashed', async () => {
    expect((await push(freshModule(), 'early/latest:main')).code).toBe(0);
    const from = proxy.requests.length;
    const run = await push(writeRandomModule(join(dir, `m${++n}.wasm`), SIZE - MiB), 'early/latest:main');
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const rs = seen(from, 'early/latest');
    expect(rs.slice(0, 4).map((r) => `${r.method} ${r.path.split('?')[0]} ${r.status}`)).toEqual([
      'HEAD /v2/early/latest/manifests/main 200',
      'GET /v2/early/latest/manifests/main 200',
      'POST /v2/early/latest/blobs/uploads/ 202',
      expect.stringMatching(/^PATCH \/v2\/early\/latest\/blobs\/uploads\/[\w-]+ /),
    ]);
    expect(run.stdout).toContain('while it is hashed');
  });

  it('the module already there under another tag: the early upload is stopped, and its session deleted where the registry can', async () => {
    const module = freshModule();
    expect((await push(module, 'early/other:1')).code).toBe(0);
    const from = proxy.requests.length;
    const run = await push(module, 'early/other:2');
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const rs = uploads(seen(from, 'early/other'));
    expect(rs.map((r) => r.method)).toEqual(['POST', 'PATCH', 'DELETE']);
    // Stopped before its end; Distribution then refuses the DELETE (404: the session holds bytes its last
    // answer did not count) and drops the session in its own upload purge.
    expect(rs[1].status).not.toBe(202);
    expect(run.stdout).toMatch(/0 blob\(s\) uploaded, 0 mounted, 2 already present/);
  });

  it('a PATCH cut off: the push goes on in the same session, from where the registry says it stands', async () => {
    proxy.addRule({ match: { method: 'PATCH' }, fault: { kind: 'reset-request', afterBytes: 8 * MiB } });
    const from = proxy.requests.length;
    const run = await push(freshModule(), 'early/cut:1');
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const rs = uploads(seen(from, 'early/cut'));
    const session = (r: ProxyRequestRecord) => /\/uploads\/([^?]+)/.exec(r.path)?.[1];
    const patches = rs.filter((r) => r.method === 'PATCH');
    expect(patches.map((r) => r.status)).toEqual(['reset', 202]);
    // The PATCH cut off was the early one: it went out before the module's blob check (as it could not
    // on the path that hashes first, which would pass the rest of this test just as well).
    const all = seen(from, 'early/cut');
    const check = all.findIndex((r) => r.method === 'HEAD' && r.path.endsWith(`/blobs/${run.outputs['wasm-digest']}`));
    expect(all.indexOf(patches[0])).toBeGreaterThan(-1);
    expect(all.indexOf(patches[0])).toBeLessThan(check);
    // Asked where the session stands (Distribution keeps nothing of a PATCH cut off), then sent from there.
    const status = rs.find((r) => r.method === 'GET') as ProxyRequestRecord;
    expect(session(status)).toBe(session(patches[0]));
    expect(session(patches[1])).toBe(session(patches[0]));
    expect(openSessions('early/cut')).toEqual([]);
  });
});

describe('registries that take no streamed PATCH, or answer it their own way', () => {
  it('a registry that refuses the PATCH (as GAR does): one refusal, then one PUT per blob', async () => {
    // GAR itself is known by its host name (*.pkg.dev) and gets no early upload; here it is a loopback host.
    proxy.setProfile(garProfile());
    const from = proxy.requests.length;
    const run = await push(freshModule(), 'early/gar:1');
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const rs = uploads(seen(from, 'early/gar'));
    expect(rs.filter((r) => r.method === 'PATCH').map((r) => r.status)).toEqual([405]);
    expect(rs.filter((r) => r.method === 'DELETE')).toHaveLength(1);
    expect(rs.filter((r) => r.method === 'PUT').map((r) => [r.headers['content-length'], r.status])).toEqual(
      expect.arrayContaining([
        ['34', 201],
        [String(SIZE), 201],
      ]),
    );
    expect(run.stdout).toMatch(/refused a PATCH of sha256:\w+ \(HTTP 405\); uploading it in one PUT instead/);
    expect(openSessions('early/gar')).toEqual([]);
  });

  it('a registry that announces a largest chunk: nothing goes up early; the upload sends the chunks', async () => {
    const post = { method: 'POST', path: /\/blobs\/uploads\/$/ };
    proxy.addRule({ match: post, fault: { kind: 'header', name: 'OCI-Chunk-Max-Length', value: String(16 * MiB) }, times: Infinity });
    const from = proxy.requests.length;
    const run = await push(freshModule(), 'early/chunks:1');
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const patches = uploads(seen(from, 'early/chunks')).filter((r) => r.method === 'PATCH');
    expect(patches.map((r) => [r.headers['content-range'], r.headers['content-length']])).toEqual([
      [`0-${16 * MiB - 1}`, String(16 * MiB)],
      [`${16 * MiB}-${32 * MiB - 1}`, String(16 * MiB)],
      [`${32 * MiB}-${48 * MiB - 1}`, String(16 * MiB)],
    ]);
    expect(openSessions('early/chunks')).toEqual([]);
  });

  it('ECR (a PATCH answered 201): the early session completes with the PUT', async () => {
    const ecr = ecrProfile();
    proxy.setProfile(ecr);
    const run = await push(freshModule(), 'early/ecr:1');
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect([...ecr.parts.values()]).toContainEqual([SIZE]);
    expect(run.stdout).toContain('while it is hashed');
    expect(run.stdout).toMatch(/2 blob\(s\) uploaded/);
  });
});

describe('a registry with token auth, as the big ones have', () => {
  it('the early upload uses the token the connection fetched: one token request for the whole push', async () => {
    const tokenReg = await startRegistry({ auth: 'token' });
    try {
      const inputs = { username: tokenReg.username as string, password: tokenReg.password as string };
      const tags = `${tokenReg.host}/early/token:1`;
      const run = await runAction({ wasm: freshModule(), variant: 'oci', tags, ...inputs }, { timeoutMs: 60_000 });
      expect(run.code, run.stdout + run.stderr).toBe(0);
      expect(run.stdout).toContain('while it is hashed');
      const granted = (tokenReg.tokenServer as TokenServer).requests.filter((r) => r.status === 200);
      expect(granted.map((r) => r.scope)).toEqual([['repository:early/token:pull,push']]);
    } finally {
      await tokenReg.stop();
    }
  });
});
