// Release automation against the real registry: publish a layout an earlier run wrote (byte for byte), promote
// an image by digest within one registry (mounted, nothing downloaded) and across registries (streamed), and
// the CLI's inspect and verify. Every check compares digests and bytes as skopeo reads them back.
import { execFile as execFileCb } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, cleanEnv, errorLines, FIXTURE_MODULE, runAction, runNode } from '../helpers/action.js';
import { expectImage, sha256, skopeoRaw, type SkopeoAuth } from '../helpers/consumer.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { startRegistry, type RegistryFixture } from '../helpers/registry.js';
import { jsonAs, readIndex, readJsonAs, readLayoutBlob, type ManifestJson, type MetadataJson } from '../helpers/json.js';

const execFile = promisify(execFileCb);
const MODULE = readFileSync(FIXTURE_MODULE);
const anon: SkopeoAuth = { tls: false };

let source: RegistryFixture;
let target: RegistryFixture;
let work: string;

beforeAll(async () => {
  [source, target] = await Promise.all([startRegistry(), startRegistry({ auth: 'basic' })]);
  work = mkdtempSync(join(tmpdir(), 'release-'));
});

/** Every run gets its own HOME and DOCKER_CONFIG, so no file of the developer's is read. */
const isolated = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
  HOME: join(work, 'home'),
  DOCKER_CONFIG: join(work, 'home', '.docker'),
  ...extra,
});
const action = (inputs: Record<string, string>, env: NodeJS.ProcessEnv = {}) => runAction(inputs, { env: isolated(env) });
const cli = (args: string[], env: NodeJS.ProcessEnv = {}) => runNode([CLI, ...args], { env: cleanEnv(isolated(env)) });
afterAll(async () => {
  await Promise.all([source?.stop(), target?.stop()]);
  if (work) rmSync(work, { recursive: true, force: true });
});

const targetAuth = (): SkopeoAuth => ({ tls: false, creds: `${target.username}:${target.password}` });
const targetCreds = () => ({ username: target.username as string, password: target.password as string });

/** Every blob of `ref`, as skopeo copies them into a dir: transport, keyed by digest hex. */
async function blobsOf(ref: string, auth: SkopeoAuth): Promise<Map<string, Buffer>> {
  const dir = join(work, `copy-${Math.random().toString(36).slice(2)}`);
  const creds = auth.creds ? ['--src-creds', auth.creds] : ['--src-no-creds'];
  await execFile('skopeo', ['copy', '--quiet', '--src-tls-verify=false', ...creds, `docker://${ref}`, `dir:${dir}`], { timeout: 60_000 });
  const out = new Map<string, Buffer>();
  for (const name of readdirSync(dir)) if (/^[a-f0-9]{64}$/.test(name)) out.set(name, readFileSync(join(dir, name)));
  return out;
}

/** A layout written by the action with push: false, as a pull-request job would upload it. */
async function buildLayout(name: string, inputs: Record<string, string> = {}): Promise<{ dir: string; digest: string }> {
  const dir = join(work, name);
  const run = await action({ wasm: FIXTURE_MODULE, push: 'false', 'oci-layout': dir, tags: 'ci.invalid/x:pr', ...inputs });
  expect(run.code, run.stdout).toBe(0);
  return { dir, digest: run.outputs.digest };
}

describe('from-oci-layout', () => {
  it.each(['compat', 'oci'])('pushes a %s layout byte for byte: same manifest digest and the same blobs', async (variant) => {
    const layout = await buildLayout(`layout-${variant}`, { variant });
    const repo = `${target.host}/layout/${variant}`;
    const run = await action({ 'from-oci-layout': layout.dir, tags: `${repo}:1.2.0`, ...targetCreds() });
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.outputs.digest).toBe(layout.digest);
    expect(run.outputs.name).toBe(repo);
    expect(run.outputs.image).toBe(`${repo}@${layout.digest}`);
    // The module was on disk, so its facts are filled.
    expect(run.outputs['proxy-abi']).toBe('0.2.1');
    expect(run.outputs['wasm-digest']).toBe(sha256(MODULE));
    expect(run.outputs.verified).toBe('true');
    const raw = await skopeoRaw(`${repo}:1.2.0`, targetAuth());
    expect(Buffer.compare(raw, readFileSync(join(layout.dir, 'blobs', 'sha256', layout.digest.slice(7))))).toBe(0);
    for (const [hex, bytes] of await blobsOf(`${repo}:1.2.0`, targetAuth())) {
      expect(Buffer.compare(bytes, readFileSync(join(layout.dir, 'blobs', 'sha256', hex))), hex).toBe(0);
    }
    await expectImage(`${repo}:1.2.0`, targetAuth(), { digest: layout.digest, variant: variant as 'compat' | 'oci', module: MODULE });
  });

  it('picks the entry named by from-ref, and refuses to guess between several images', async () => {
    const a = await buildLayout('multi-a', { tags: 'ci.invalid/x:a' });
    const b = await buildLayout('multi-b', { variant: 'oci', tags: 'ci.invalid/x:b' });
    // One layout holding both: index entries of a and b, blobs of both.
    const both = join(work, 'multi');
    cpSync(a.dir, both, { recursive: true });
    cpSync(join(b.dir, 'blobs'), join(both, 'blobs'), { recursive: true });
    const index = readIndex(both);
    index.manifests.push(...readIndex(b.dir).manifests);
    writeFileSync(join(both, 'index.json'), JSON.stringify(index));

    const repo = `${target.host}/layout/multi`;
    const guess = await action({ 'from-oci-layout': both, tags: `${repo}:x`, ...targetCreds() });
    expect(guess.code).toBe(1);
    expect(errorLines(guess)).toEqual([
      expect.stringMatching(/Input `from-oci-layout`: .* holds 2 different images \(a, b\); choose one with from-ref/),
    ]);
    const picked = await action({ 'from-oci-layout': both, 'from-ref': 'b', tags: `${repo}:b`, ...targetCreds() });
    expect(picked.code, picked.stdout).toBe(0);
    expect(picked.outputs.digest).toBe(b.digest);
    const unknown = await action({ 'from-oci-layout': both, 'from-ref': 'c', tags: `${repo}:c`, ...targetCreds() });
    expect(errorLines(unknown)).toEqual([expect.stringMatching(/Input `from-ref`: .* has no entry named "c"; it holds: a, b/)]);
  });

  it('refuses a damaged layout before any request, with one error naming what is wrong', async () => {
    const layout = await buildLayout('damaged', { variant: 'oci' });
    const manifest = readLayoutBlob<ManifestJson>(layout.dir, layout.digest);
    const moduleBlob = join(layout.dir, 'blobs', 'sha256', manifest.layers[1].digest.slice(7));
    const good = readFileSync(moduleBlob);
    const before = target.accessLog().length;
    const cases: Array<[() => void, RegExp]> = [
      [
        () => writeFileSync(moduleBlob, Buffer.concat([good.subarray(0, -1), Buffer.from([good.at(-1)! ^ 1])])),
        /has digest sha256:\w+, not sha256:\w+: the layout is damaged/,
      ],
      [() => rmSync(moduleBlob), /blob sha256:\w+ is missing .*; copy the whole layout directory/],
      [() => rmSync(join(layout.dir, 'index.json')), /index\.json is missing, so this is not an OCI image layout/],
    ];
    for (const [damage, message] of cases) {
      damage();
      const run = await action({ 'from-oci-layout': layout.dir, tags: `${target.host}/layout/damaged:1`, ...targetCreds() });
      expect(run.code).toBe(1);
      expect(errorLines(run)).toEqual([expect.stringMatching(new RegExp(`Input \`from-oci-layout\`: .*${message.source}`))]);
      expect(run.summary).toContain('- **Step:** Read image');
    }
    expect(target.accessLog().slice(before)).not.toMatch(/"(GET|HEAD|POST|PUT|PATCH) \/v2\/layout\/damaged/);
  });
});

describe('from-image', () => {
  let pushed: { digest: string; repo: string };

  beforeAll(async () => {
    const repo = `${source.host}/ci/filter`;
    const run = await action({ wasm: FIXTURE_MODULE, tags: `${repo}:sha-0123abc` });
    expect(run.code, run.stdout).toBe(0);
    pushed = { digest: run.outputs.digest, repo };
  });

  it('promotes within one registry by mounting: same digest, no blob downloaded, no module facts', async () => {
    const before = source.accessLog().length;
    const release = `${source.host}/release/filter`;
    const run = await action({
      'from-image': `${pushed.repo}@${pushed.digest}`,
      tags: `${release}:1.2.0\n${release}:latest`,
      verify: 'false',
    });
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.outputs.digest).toBe(pushed.digest);
    expect(run.outputs.name).toBe(release);
    expect(run.outputs['proxy-abi']).toBe('');
    expect(jsonAs<MetadataJson>(run.outputs.metadata).wasm).toBeNull();
    expect(run.stdout).toMatch(/mounted +sha256:/);
    // The source and the targets are one plain-HTTP registry: it is said once.
    expect(run.stdout.match(/has no TLS; using plain HTTP/g)).toHaveLength(1);
    const log = source.accessLog().slice(before);
    expect(log).toMatch(/"POST \/v2\/release\/filter\/blobs\/uploads\/\?mount=sha256%3A[a-f0-9]{64}&from=ci%2Ffilter HTTP\/1.1" 201/);
    expect(log).not.toMatch(/"GET \/v2\/[^ ]*\/blobs\/sha256:/);
    expect(run.summary).toContain('- **Module:** not read');
    for (const tag of ['1.2.0', 'latest'])
      await expectImage(`${release}:${tag}`, anon, { digest: pushed.digest, variant: 'compat', module: MODULE });
  });

  it('copies across registries (source anonymous, target with credentials): same digest and bytes, module facts read', async () => {
    const repo = `${target.host}/promoted/filter`;
    const run = await action({ 'from-image': `${pushed.repo}@${pushed.digest}`, tags: `${repo}:1.2.0`, ...targetCreds() });
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.outputs.digest).toBe(pushed.digest);
    expect(run.outputs['proxy-abi']).toBe('0.2.1');
    expect(run.outputs.verified).toBe('true');
    const from = await blobsOf(`${pushed.repo}@${pushed.digest}`, anon);
    const to = await blobsOf(`${repo}:1.2.0`, targetAuth());
    expect([...to.keys()].sort()).toEqual([...from.keys()].sort());
    for (const [hex, bytes] of to) expect(Buffer.compare(bytes, from.get(hex) as Buffer), hex).toBe(0);
  });

  it('with push: false and oci-layout, writes the pushed image into a layout byte for byte', async () => {
    const dir = join(work, 'pulled-layout');
    const run = await action({
      'from-image': `${pushed.repo}@${pushed.digest}`,
      push: 'false',
      'oci-layout': dir,
      tags: 'x.invalid/y:pulled',
    });
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.outputs.digest).toBe(pushed.digest);
    const manifest = readFileSync(join(dir, 'blobs', 'sha256', pushed.digest.slice(7)));
    expect(Buffer.compare(manifest, await skopeoRaw(`${pushed.repo}@${pushed.digest}`, anon))).toBe(0);
    for (const [hex, bytes] of await blobsOf(`${pushed.repo}@${pushed.digest}`, anon)) {
      expect(Buffer.compare(readFileSync(join(dir, 'blobs', 'sha256', hex)), bytes), hex).toBe(0);
    }
  });

  it('a blob download cut off half-way is retried from the start: same digest, same bytes', async () => {
    const proxy = await startFaultProxy(source.url);
    try {
      proxy.addRule({ match: { method: 'GET', path: /\/blobs\/sha256:/ }, fault: { kind: 'reset-response', afterBytes: 40 }, times: 2 });
      const repo = `${target.host}/promoted/retried`;
      const run = await action({ 'from-image': `${proxy.host}/ci/filter@${pushed.digest}`, tags: `${repo}:1`, ...targetCreds() });
      expect(run.code, run.stdout + run.stderr).toBe(0);
      expect(run.outputs.digest).toBe(pushed.digest);
      expect(proxy.requests.filter((r) => r.method === 'GET' && r.faulted === 'reset-response')).toHaveLength(2);
      await expectImage(`${repo}:1`, targetAuth(), { digest: pushed.digest, variant: 'compat', module: MODULE });
    } finally {
      await proxy.stop();
    }
  });

  it('a blob download that goes on past its size stops at once with one error, filling no disk', async () => {
    const proxy = await startFaultProxy(source.url);
    try {
      // An endless body: without a cap at the descriptor's size the copy would write until the disk is full.
      const endless = { kind: 'drip', chunk: 'x'.repeat(64 * 1024), everyMs: 0 } as const;
      proxy.addRule({ match: { method: 'GET', path: /\/blobs\/sha256:/ }, fault: endless, times: Infinity });
      const run = await action({
        'from-image': `${proxy.host}/ci/filter@${pushed.digest}`,
        tags: `${target.host}/promoted/endless:1`,
        retries: '0',
        ...targetCreds(),
      });
      expect(run.code).toBe(1);
      expect(errorLines(run)).toEqual([expect.stringMatching(/sent more than the \d+ bytes of blob sha256:[a-f0-9]{64}; stopped reading/)]);
    } finally {
      await proxy.stop();
    }
  });

  it('a registry that refuses to mount gets the blobs uploaded instead, with a warning', async () => {
    const proxy = await startFaultProxy(source.url);
    try {
      // As a registry without cross-repository mounts answers: no mount, no session.
      proxy.addRule({ match: { method: 'POST', path: /[?&]mount=/ }, fault: { kind: 'status', status: 405 }, times: Infinity });
      const repo = `${proxy.host}/release/unmounted`;
      const run = await action({ 'from-image': `${proxy.host}/ci/filter@${pushed.digest}`, tags: `${repo}:1` });
      expect(run.code, run.stdout + run.stderr).toBe(0);
      expect(run.outputs.digest).toBe(pushed.digest);
      expect(run.stdout).toMatch(
        /title=Mount refused::the registry did not mount sha256:\w+ from ci\/filter; downloading the image's blobs/,
      );
      expect(run.outputs['proxy-abi']).toBe('0.2.1');
      expect(proxy.requests.filter((r) => r.method === 'PUT' && /\/manifests\//.test(r.path))).toHaveLength(1);
      await expectImage(`${source.host}/release/unmounted:1`, anon, { digest: pushed.digest, variant: 'compat', module: MODULE });
    } finally {
      await proxy.stop();
    }
  });

  it('refuses a tag instead of a digest, and packaging inputs, before any request', async () => {
    const byTag = await action({ 'from-image': `${pushed.repo}:sha-0123abc`, tags: `${source.host}/x/y:1` });
    expect(errorLines(byTag)).toEqual([
      expect.stringMatching(/Input `from-image`: .* does not name an image by digest; give registry\/repository@sha256:/),
    ]);
    const both = await action({ wasm: FIXTURE_MODULE, 'from-image': `${pushed.repo}@${pushed.digest}`, tags: `${source.host}/x/y:1` });
    expect(errorLines(both)).toEqual([
      expect.stringMatching(/Input `from-image`: and wasm both name the image; give exactly one of wasm, from-oci-layout, from-image/),
    ]);
    const variant = await action({ variant: 'oci', 'from-image': `${pushed.repo}@${pushed.digest}`, tags: `${source.host}/x/y:1` });
    expect(errorLines(variant)).toEqual([
      expect.stringMatching(/Input `variant`: shapes a packaged module; from-image publishes an existing image byte for byte/),
    ]);
    expect(both.summary).toContain('- **Step:** Check inputs');
  });

  it('the CLI inspects and verifies an image in the registry, by tag and by digest', async () => {
    const env = {};
    const inspect = await cli(['inspect', `${pushed.repo}:sha-0123abc`], env);
    expect(inspect.code, inspect.stderr).toBe(0);
    expect(JSON.parse(inspect.stdout)).toMatchObject({
      digest: pushed.digest,
      reference: `${pushed.repo}@${pushed.digest}`,
      variant: 'compat',
      module: { digest: sha256(MODULE), size: MODULE.length, kind: 'core', proxyAbi: '0.2.1' },
      annotations: { 'module.wasm.image/variant': 'compat' },
    });
    const verify = await cli(['verify', `${pushed.repo}@${pushed.digest}`], env);
    expect(verify.code, verify.stderr).toBe(0);
    expect(JSON.parse(verify.stdout)).toEqual({ reference: `${pushed.repo}@${pushed.digest}`, digest: pushed.digest, variant: 'compat' });
    const missing = await cli(['verify', `${pushed.repo}:nope`], env);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/wasm-image: error: reading the manifest ci\/filter:nope on .* failed: HTTP 404 MANIFEST_UNKNOWN/);
  });

  it('the CLI pushes --from-image and speaks in flags in its errors', async () => {
    const env = { WASM_IMAGE_PASSWORD: target.password as string };
    const repo = `${target.host}/cli/promoted`;
    const ok = await cli(
      ['push', '--from-image', `${pushed.repo}@${pushed.digest}`, '--tag', `${repo}:1`, '--username', target.username as string],
      env,
    );
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ digest: pushed.digest, name: repo });
    const noUser = await cli(['push', '--wasm', FIXTURE_MODULE, '--tag', `${repo}:2`], env);
    expect(noUser.stderr).toContain('wasm-image: error: --username: is required when --password-stdin (or WASM_IMAGE_PASSWORD) is given');
    const noPassword = await cli(['push', '--wasm', FIXTURE_MODULE, '--tag', `${repo}:2`, '--username', 'u']);
    expect(noPassword.stderr).toContain(
      'wasm-image: error: --password-stdin (or WASM_IMAGE_PASSWORD): is required when --username is given',
    );
    const fromRef = await cli(['push', '--wasm', FIXTURE_MODULE, '--from-ref', 'a', '--tag', `${repo}:2`]);
    expect(fromRef.stderr).toContain('wasm-image: error: --from-ref: names an entry of --from-oci-layout; set --from-oci-layout too');
    // The password is for the source's registry (--registry), not the tags'; the target takes anonymous pushes.
    const back = await cli(
      [
        'push',
        '--from-image',
        `${repo}@${pushed.digest}`,
        '--tag',
        `${source.host}/cli/copied-back:1`,
        '--registry',
        target.host,
        '--username',
        target.username as string,
      ],
      env,
    );
    expect(back.code, back.stderr).toBe(0);
    expect(JSON.parse(back.stdout)).toMatchObject({ digest: pushed.digest });
    const noCredentials = await cli(['push', '--wasm', FIXTURE_MODULE, '--tag', `${repo}:3`]);
    expect(noCredentials.code).toBe(1);
    expect(noCredentials.stderr).toContain(
      'no credentials were found: pass --username and --password-stdin (and --registry, when the tags name several registries), log in first with docker login, or for ghcr.io set GITHUB_TOKEN',
    );
    const badRetries = await cli(['inspect', `${repo}:1`, '--retries', 'x']);
    expect(badRetries.stderr).toContain('wasm-image: error: --retries: "x" is not a retry count; use a whole number from 0 to 20');
    const badTimeout = await cli(['verify', `${repo}:1`, '--request-timeout', '0']);
    expect(badTimeout.stderr).toContain('wasm-image: error: --request-timeout: "0" is not a number of seconds');
    const platformWithOci = await cli(['build', '--wasm', FIXTURE_MODULE, '--variant', 'oci', '--platform', 'linux/arm64']);
    expect(platformWithOci.stderr).toMatch(/^wasm-image: error: --platform: .*--variant compat/m);
  });
});

describe('from-image with a token registry', () => {
  let reg: RegistryFixture;
  beforeAll(async () => {
    reg = await startRegistry({ auth: 'token' });
  });
  afterAll(async () => {
    await reg?.stop();
  });

  it('promotes with credentials from the docker config, mounting with a pull scope on the source', async () => {
    const home = mkdtempSync(join(work, 'home-'));
    const auth = Buffer.from(`${reg.username}:${reg.password}`).toString('base64');
    writeFileSync(join(home, 'config.json'), JSON.stringify({ auths: { [reg.host]: { auth } } }));
    const env = { DOCKER_CONFIG: home };
    const built = await action({ wasm: FIXTURE_MODULE, variant: 'oci', tags: `${reg.host}/ci/filter:sha-1` }, env);
    expect(built.code, built.stdout).toBe(0);
    const before = reg.accessLog().length;
    const run = await action(
      { 'from-image': `${reg.host}/ci/filter@${built.outputs.digest}`, tags: `${reg.host}/release/filter:1.0.0` },
      env,
    );
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.outputs.digest).toBe(built.outputs.digest);
    expect(run.outputs.verified).toBe('true');
    expect(run.stdout).toMatch(/mounted +sha256:/);
    expect(reg.tokenServer?.requests.some((r) => r.account === reg.username && r.scope.includes('repository:ci/filter:pull'))).toBe(true);
    expect(reg.accessLog().slice(before)).toMatch(
      /"POST \/v2\/release\/filter\/blobs\/uploads\/\?mount=[^ ]*&from=ci%2Ffilter HTTP\/1.1" 201/,
    );
    const creds = `${reg.username}:${reg.password}`;
    await expectImage(
      `${reg.host}/release/filter:1.0.0`,
      { tls: false, creds },
      { digest: run.outputs.digest, variant: 'oci', module: MODULE },
    );
  });

  it('the CLI verifies with a pull token, reading the manifest once', async () => {
    const env = { WASM_IMAGE_PASSWORD: reg.password as string };
    const ref = `${reg.host}/cli/verified:1`;
    const built = await action({
      wasm: FIXTURE_MODULE,
      variant: 'oci',
      tags: ref,
      username: reg.username as string,
      password: reg.password as string,
    });
    expect(built.code, built.stdout).toBe(0);
    const [tokens, log] = [reg.tokenServer?.requests.length ?? 0, reg.accessLog().length];
    const verify = await cli(['verify', ref, '--username', reg.username as string], env);
    expect(verify.code, verify.stderr).toBe(0);
    expect(JSON.parse(verify.stdout)).toMatchObject({ digest: built.outputs.digest, variant: 'oci' });
    // Verifying only reads: a pull scope is all it asks for.
    expect(reg.tokenServer?.requests.slice(tokens).flatMap((r) => r.scope)).toEqual(['repository:cli/verified:pull']);
    const reads = [
      ...reg
        .accessLog()
        .slice(log)
        .matchAll(/"(GET|HEAD) \/v2\/cli\/verified\/(manifests|blobs)\/[^ ]+ HTTP/g),
    ].map((m) => `${m[1]} ${m[2]}`);
    // The manifest by tag, then the config and the module layer (full: both downloaded).
    expect(reads.sort()).toEqual(['GET blobs', 'GET blobs', 'GET manifests']);
  });
});

describe('job summary of real runs', () => {
  it('a failed push says the step, the error and the fix', async () => {
    const run = await action({
      wasm: FIXTURE_MODULE,
      tags: `${target.host}/summary/denied:1`,
      username: 'nobody',
      password: 'wrong-password',
    });
    expect(run.code).toBe(1);
    // Basic auth is only refused at the first request that needs it (a blob HEAD in Upload); a Bearer
    // registry refuses the token already in Authenticate.
    expect(run.summary).toMatch(/^### ❌ Wasm image not published\n\n- \*\*Step:\*\* (Authenticate|Upload)\n- \*\*Error:\*\* .*HTTP 401/);
    expect(run.summary).toContain('- **Fix:** Check the credentials');
    expect(run.summary).not.toContain('wrong-password');
  });

  it('variant wasm: the warning is in the summary, and no Envoy snippet', async () => {
    const repo = `${source.host}/summary/cncf`;
    const run = await action({ wasm: FIXTURE_MODULE, variant: 'wasm', tags: `${repo}:1` });
    expect(run.code, run.stdout).toBe(0);
    expect(run.summary).toContain('- ⚠️ **Not loadable by Envoy**: variant wasm is the CNCF Wasm OCI artifact');
    expect(run.summary).toContain('Istio and Envoy Gateway cannot load it; wasmtime-based runtimes');
    expect(run.summary).not.toContain('WasmPlugin');
    expect(run.summary).not.toMatch(/^\|/m);
  });

  it('compat: WasmPlugin and EnvoyExtensionPolicy named after the repository, pinned to the pushed digest', async () => {
    const repo = `${source.host}/acme/rate_limit`;
    const run = await action({ wasm: FIXTURE_MODULE, tags: `${repo}:2.0.0` });
    expect(run.code, run.stdout).toBe(0);
    expect(run.summary).toContain(`  name: rate-limit\nspec:\n  url: oci://${repo}:2.0.0\n  sha256: ${run.outputs.sha256}\n`);
    expect(run.summary).toContain(`          url: ${repo}:2.0.0\n          sha256: ${run.outputs.sha256}\n`);
    expect(run.summary).not.toMatch(/^\|/m);
  });
});

describe('CLI on an image no consumer loads', () => {
  /** Pushes the compat layout's blobs with curl under a manifest that `edit` changes (by default: its layer says plain tar, which Istio refuses). */
  async function pushPlainTarImage(
    repo: string,
    edit = (m: ManifestJson): object => {
      m.layers[0].mediaType = 'application/vnd.oci.image.layer.v1.tar';
      return m;
    },
  ): Promise<string> {
    const layout = await buildLayout('plain-tar');
    const blob = (d: string) => join(layout.dir, 'blobs', 'sha256', d.slice(7));
    const manifest = readJsonAs<ManifestJson>(blob(layout.digest));
    const base = `${source.url}/v2/${repo}`;
    for (const d of [manifest.config, ...manifest.layers]) {
      const { stdout } = await execFile('curl', ['-sS', '-o', '/dev/null', '-D', '-', '-X', 'POST', `${base}/blobs/uploads/`], {
        timeout: 10_000,
      });
      const location = /^location: *(\S+)/im.exec(stdout)?.[1] as string;
      const url = new URL(location, source.url);
      url.searchParams.set('digest', d.digest);
      await execFile(
        'curl',
        ['-sSf', '-X', 'PUT', '--data-binary', `@${blob(d.digest)}`, '-H', 'Content-Type: application/octet-stream', url.href],
        {
          timeout: 10_000,
        },
      );
    }
    const contentType = manifest.mediaType;
    const bytes = Buffer.from(JSON.stringify(edit(manifest)));
    const file = join(work, 'plain-tar-manifest.json');
    writeFileSync(file, bytes);
    await execFile(
      'curl',
      ['-sSf', '-X', 'PUT', '--data-binary', `@${file}`, '-H', `Content-Type: ${contentType}`, `${base}/manifests/broken`],
      { timeout: 10_000 },
    );
    return sha256(bytes);
  }

  it('inspect says no consumer loads it and why; verify exits 1 with the consumers reason', async () => {
    const digest = await pushPlainTarImage('cli/broken');
    const ref = `${source.host}/cli/broken:broken`;
    const inspect = await cli(['inspect', ref]);
    expect(inspect.code, inspect.stderr).toBe(0);
    expect(JSON.parse(inspect.stdout)).toMatchObject({
      digest,
      variant: null,
      module: null,
      problem: expect.stringContaining('compat needs application/vnd.oci.image.layer.v1.tar+gzip (plain tar and zstd are refused)'),
    });
    const verify = await cli(['verify', ref]);
    expect(verify.code).toBe(1);
    expect(verify.stderr).toMatch(
      /^wasm-image: error: 127\.0\.0\.1:\d+\/cli\/broken@sha256:[a-f0-9]{64} would not load in Istio or Envoy Gateway: the last layer is application\/vnd\.oci\.image\.layer\.v1\.tar; compat needs/m,
    );
    const promote = await action({ 'from-image': `${source.host}/cli/broken@${digest}`, tags: `${source.host}/cli/promoted-broken:1` });
    expect(errorLines(promote)).toEqual([
      expect.stringMatching(/Input `from-image`: .*Istio and Envoy Gateway would refuse it: the last layer is/),
    ]);
  });

  it('inspect and verify give the same verdict on a manifest without its mediaType field', async () => {
    await pushPlainTarImage('cli/no-media-type', (m) => {
      const rest: Partial<ManifestJson> = { ...m };
      delete rest.mediaType;
      return rest;
    });
    const ref = `${source.host}/cli/no-media-type:broken`;
    const inspect = await cli(['inspect', ref]);
    expect(inspect.code, inspect.stderr).toBe(0);
    expect(JSON.parse(inspect.stdout)).toMatchObject({
      mediaType: null,
      variant: null,
      module: null,
      problem: expect.stringContaining("the manifest's mediaType is undefined"),
    });
    const verify = await cli(['verify', ref]);
    expect(verify.code).toBe(1);
    expect(verify.stderr).toMatch(
      /would not load in Istio or Envoy Gateway: the manifest's mediaType is undefined; expected application\/vnd\.oci\.image\.manifest\.v1\+json/,
    );
  });
});
