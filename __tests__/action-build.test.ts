// The bundled action run as the runner runs it, with push: false, and its OCI layout read by independent tools.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorLines, FIXTURE_MODULE, runAction } from './helpers/action.js';
import { jsonAs, readIndex, readJsonAs, readLayoutBlob, type ConfigJson, type ManifestJson, type MetadataJson } from './helpers/json.js';

// Pinned by the committed fixture: a change here means every user's image digest changes.
const GOLDEN = {
  compat: 'sha256:792f34d1352fc22c07472ff14ca0804dfe7043ccea3cc91434b85c49f07dab9e',
  oci: 'sha256:6ca2d9673e775a4c79ce5968012b17e4bbc1083ab9309879416cc2086ee596f4',
  docker: 'sha256:b98d0e2ce074c0ed2b3e74de39589dcf1fa70bbc645c499e5bc66dde271047e3',
  // wasip1/wasm gives the config of releases before `platform` existed back byte for byte (the layer
  // differs since the parallel gzip).
  wasip1: 'sha256:d0d0ddc94b4ee5126d82a5c5ec6cc6b88d2fd0c308a6f0e77bfefb115f2c9bec',
};

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'action-build-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const fixtureBytes = () => readFileSync(FIXTURE_MODULE);

describe('push: false with an OCI layout', () => {
  it('builds the compat variant, writes outputs, summary and a layout skopeo and umoci read', async () => {
    const layout = join(dir, 'compat-layout');
    const run = await runAction({
      wasm: FIXTURE_MODULE,
      tags: 'localhost:5000/acme/filter:1.2.0\nlocalhost:5000/acme/filter:latest',
      push: 'false',
      'oci-layout': layout,
      labels: 'org.opencontainers.image.vendor=Acme',
    });
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const { outputs } = run;
    expect(outputs.digest).toMatch(/^sha256:[a-f0-9]{64}$/);
    expect(outputs.sha256).toBe(outputs.digest.slice(7));
    expect(outputs['wasm-digest']).toBe(`sha256:${execFileSync('sha256sum', [FIXTURE_MODULE]).toString().split(' ')[0]}`);
    expect(JSON.parse(outputs.tags)).toEqual(['localhost:5000/acme/filter:1.2.0', 'localhost:5000/acme/filter:latest']);
    const metadata = jsonAs<MetadataJson>(outputs.metadata);
    expect(metadata).toMatchObject({ variant: 'compat', mediaTypes: 'oci', manifest: { digest: outputs.digest } });
    expect(metadata.layers).toHaveLength(1);
    expect(run.summary).toContain(outputs.digest);

    const index = readIndex(layout);
    expect(index.manifests.map((m) => m.annotations?.['org.opencontainers.image.ref.name'])).toEqual(['1.2.0', 'latest']);
    for (const tag of ['1.2.0', 'latest']) {
      const raw = execFileSync('skopeo', ['inspect', '--raw', `oci:${layout}:${tag}`]);
      expect(`sha256:${execFileSync('sha256sum', { input: raw }).toString().split(' ')[0]}`).toBe(outputs.digest);
      const manifest = jsonAs<ManifestJson>(raw);
      expect(manifest.layers.at(-1)?.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+gzip');
    }
    const unpacked = join(dir, 'compat-unpacked');
    execFileSync('umoci', ['raw', 'unpack', '--rootless', '--image', `${layout}:1.2.0`, unpacked], { stdio: 'pipe' });
    expect(Buffer.compare(readFileSync(join(unpacked, 'plugin.wasm')), fixtureBytes())).toBe(0);
    expect(JSON.parse(readFileSync(join(unpacked, 'runtime-config.json'), 'utf8'))).toEqual({ type: 'envoy_proxy', config: {} });
  });

  it('builds the oci variant whose module layer skopeo copies out byte-identical', async () => {
    const layout = join(dir, 'oci-layout');
    const run = await runAction({
      wasm: FIXTURE_MODULE,
      variant: 'oci',
      'abi-versions': 'v0-4689a30309abf31aee9ae36e73d34b1bb182685f',
      'root-ids': 'my_root',
      push: 'false',
      'oci-layout': layout,
    });
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const raw = execFileSync('skopeo', ['inspect', '--raw', `oci:${layout}:latest`]).toString();
    const manifest = jsonAs<ManifestJson>(raw);
    expect(manifest.config.mediaType).toBe('application/vnd.module.wasm.config.v1+json');
    expect(manifest.layers.map((l) => l.mediaType)).toEqual([
      'application/vnd.module.wasm.config.v1+json',
      'application/vnd.module.wasm.content.layer.v1+wasm',
    ]);
    const copied = join(dir, 'oci-copied');
    execFileSync('skopeo', ['copy', '--quiet', `oci:${layout}:latest`, `dir:${copied}`]);
    const moduleHex = manifest.layers[1].digest.slice(7);
    expect(Buffer.compare(readFileSync(join(copied, moduleHex)), fixtureBytes())).toBe(0);
    const config = readJsonAs<ConfigJson>(join(copied, manifest.config.digest.slice(7)));
    expect(config).toEqual({
      type: 'envoy_proxy',
      abiVersions: ['v0-4689a30309abf31aee9ae36e73d34b1bb182685f'],
      config: { rootIds: ['my_root'] },
    });
  });

  it('writes a Docker-flavour manifest into the layout', async () => {
    const layout = join(dir, 'docker-layout');
    const run = await runAction({ wasm: FIXTURE_MODULE, 'media-types': 'docker', push: 'false', 'oci-layout': layout });
    expect(run.code, run.stdout).toBe(0);
    const index = readIndex(layout);
    expect(index.manifests[0].mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    const manifest = readJsonAs<ManifestJson>(join(layout, 'blobs', 'sha256', run.outputs.sha256));
    expect(manifest.layers[0].mediaType).toBe('application/vnd.docker.image.rootfs.diff.tar.gzip');
    expect(manifest).not.toHaveProperty('annotations');
    for (const d of [manifest.config, ...manifest.layers])
      expect(existsSync(join(layout, 'blobs', 'sha256', d.digest.slice(7)))).toBe(true);
  });

  it('shows normalised references in the tags output: lower-case registry, docker.io/library for Docker Hub', async () => {
    const run = await runAction({ wasm: FIXTURE_MODULE, tags: 'LocalHost:5000/acme/filter:RC1\nfilter:1', push: 'false' });
    expect(run.code, run.stdout).toBe(0);
    expect(JSON.parse(run.outputs.tags)).toEqual(['localhost:5000/acme/filter:RC1', 'docker.io/library/filter:1']);
  });

  it('adds to an existing layout: the other tags stay, the same tag moves, no file is deleted', async () => {
    const layout = join(dir, 'compat-layout');
    const before = readIndex(layout);
    const blobs = readdirSync(join(layout, 'blobs', 'sha256'));
    // No tags: the image goes in as `latest`, replacing the compat image's `latest` and keeping `1.2.0`.
    const run = await runAction({ wasm: FIXTURE_MODULE, variant: 'oci', push: 'false', 'oci-layout': layout });
    expect(run.code).toBe(0);
    const index = readIndex(layout);
    expect(index.manifests.map((m) => [m.annotations?.['org.opencontainers.image.ref.name'], m.digest])).toEqual([
      ['1.2.0', before.manifests[0].digest],
      ['latest', run.outputs.digest],
    ]);
    expect(readdirSync(join(layout, 'blobs', 'sha256'))).toEqual(expect.arrayContaining(blobs));
    for (const [tag, digest] of [
      ['1.2.0', before.manifests[0].digest],
      ['latest', run.outputs.digest],
    ]) {
      const raw = execFileSync('skopeo', ['inspect', '--raw', `oci:${layout}:${tag}`]);
      expect(`sha256:${execFileSync('sha256sum', { input: raw }).toString().split(' ')[0]}`).toBe(digest);
    }
    expect(run.stdout).toMatch(/OCI layout written to .*compat-layout \(latest\)/);
  });
});

describe('reproducibility', () => {
  const build = async (module: string, env: NodeJS.ProcessEnv, umask: number, inputs: Record<string, string>) => {
    const run = await runAction({ wasm: module, push: 'false', ...inputs }, { env, umask });
    expect(run.code, run.stdout).toBe(0);
    return run.outputs.digest;
  };

  it.each([
    ['compat', {}],
    ['oci', { variant: 'oci' }],
    ['docker', { 'media-types': 'docker' }],
    ['wasip1', { platform: 'wasip1/wasm' }],
  ] as const)('%s: the same digest across time zones, umasks and file mtimes, equal to the golden digest', async (name, inputs) => {
    const copyA = join(dir, `${name}-a.wasm`);
    const copyB = join(dir, `${name}-b.wasm`);
    copyFileSync(FIXTURE_MODULE, copyA);
    copyFileSync(FIXTURE_MODULE, copyB);
    utimesSync(copyA, new Date('2001-02-03T04:05:06Z'), new Date('2001-02-03T04:05:06Z'));
    utimesSync(copyB, new Date(), new Date());
    const layout = join(dir, `${name}-golden-layout`);
    const a = await build(copyA, { TZ: 'Pacific/Kiritimati', LANG: 'C' }, 0o077, { ...inputs, 'oci-layout': layout });
    const b = await build(copyB, { TZ: 'America/Los_Angeles', LANG: 'de_DE.UTF-8' }, 0o002, inputs);
    expect(a).toBe(b);
    expect(a).toBe(GOLDEN[name]);
    // The golden digest is what independent tools compute from the bytes (skopeo lists only OCI manifests).
    const manifestBytes = readFileSync(join(layout, 'blobs', 'sha256', a.slice(7)));
    if (name !== 'docker') {
      const raw = execFileSync('skopeo', ['inspect', '--raw', `oci:${layout}:latest`]);
      expect(Buffer.compare(raw, manifestBytes)).toBe(0);
    }
    expect(`sha256:${execFileSync('sha256sum', { input: manifestBytes }).toString().split(' ')[0]}`).toBe(GOLDEN[name]);
    if (name === 'oci') return;
    const config = readLayoutBlob<ConfigJson>(layout, jsonAs<ManifestJson>(manifestBytes).config.digest);
    expect([config.os, config.architecture]).toEqual(name === 'wasip1' ? ['wasip1', 'wasm'] : ['linux', 'amd64']);
  });

  it('changes the digest with SOURCE_DATE_EPOCH and keeps it stable for the same value', async () => {
    const a = await build(FIXTURE_MODULE, { SOURCE_DATE_EPOCH: '1700000000' }, 0o022, {});
    const b = await build(FIXTURE_MODULE, { SOURCE_DATE_EPOCH: '1700000000', TZ: 'Asia/Kolkata' }, 0o022, {});
    expect(a).toBe(b);
    expect(a).not.toBe(GOLDEN.compat);
  });
});

describe('bad input: one clear error line, exit code 1, nothing written', () => {
  let work: string;
  beforeAll(() => {
    work = join(dir, 'bad');
    mkdirSync(work, { recursive: true });
    writeFileSync(join(work, 'text.wasm'), '(module)\n');
    writeFileSync(join(work, 'short.wasm'), Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01]));
    writeFileSync(join(work, 'component.wasm'), Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00]));
    writeFileSync(join(work, 'v2.wasm'), Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x02, 0x00, 0x00, 0x00]));
    writeFileSync(join(work, 'a-file'), 'x');
    // A sparse file just over the cap: no disk space used.
    execFileSync('truncate', ['-s', String(268435456 + 1), join(work, 'huge.wasm')]);
    const fd = readFileSync(FIXTURE_MODULE).subarray(0, 8);
    writeFileSync(join(work, 'huge-head'), fd);
    execFileSync('sh', ['-c', `dd if=${join(work, 'huge-head')} of=${join(work, 'huge.wasm')} conv=notrunc status=none`]);
  });

  const cases: Array<[string, () => Record<string, string>, RegExp]> = [
    ['missing wasm input', () => ({}), /Input `wasm`: is required/],
    ['missing file', () => ({ wasm: join(work, 'nope.wasm') }), /Input `wasm`: .*nope\.wasm does not exist/],
    ['a directory', () => ({ wasm: work }), /Input `wasm`: .* is a directory/],
    ['text, not a binary', () => ({ wasm: join(work, 'text.wasm') }), /Input `wasm`: .*is not a WebAssembly binary.*wat2wasm/],
    ['shorter than 8 bytes', () => ({ wasm: join(work, 'short.wasm') }), /Input `wasm`: .*at least 8 bytes/],
    ['a component', () => ({ wasm: join(work, 'component.wasm') }), /Input `wasm`: .*is a WebAssembly component/],
    ['another version', () => ({ wasm: join(work, 'v2.wasm') }), /Input `wasm`: .*unsupported WebAssembly version/],
    ['over the size cap', () => ({ wasm: join(work, 'huge.wasm') }), /Input `wasm`: .*over the 268435456-byte limit/],
    ['unknown variant', () => ({ wasm: FIXTURE_MODULE, variant: 'wasi' }), /Input `variant`: "wasi" is not supported/],
    ['unknown media-types', () => ({ wasm: FIXTURE_MODULE, 'media-types': 'v1' }), /Input `media-types`: "v1" is not supported/],
    [
      'docker with oci',
      () => ({ wasm: FIXTURE_MODULE, variant: 'oci', 'media-types': 'docker' }),
      /Input `media-types`: "docker" applies only/,
    ],
    ['upper-case repository', () => ({ wasm: FIXTURE_MODULE, tags: 'ghcr.io/Acme/filter:1' }), /Input `tags`: .*"ghcr.io\/acme\/filter:1"/],
    ['bad tag syntax', () => ({ wasm: FIXTURE_MODULE, tags: 'ghcr.io/acme/filter:.1' }), /Input `tags`: .*invalid tag ".1"/],
    ['empty tag', () => ({ wasm: FIXTURE_MODULE, tags: 'ghcr.io/acme/filter:' }), /Input `tags`: .*invalid tag ""/],
    [
      'malformed annotation',
      () => ({ wasm: FIXTURE_MODULE, annotations: 'just-a-key' }),
      /Input `annotations`: "just-a-key" is not key=value/,
    ],
    ['malformed label', () => ({ wasm: FIXTURE_MODULE, labels: '=value' }), /Input `labels`: "=value" is not key=value/],
    ['oci-layout is a file', () => ({ wasm: FIXTURE_MODULE, 'oci-layout': join(work, 'a-file') }), /Input `oci-layout`: .*is a file/],
    [
      'oci-layout is a foreign directory',
      () => ({ wasm: FIXTURE_MODULE, 'oci-layout': work }),
      /Input `oci-layout`: .*is not an OCI image layout/,
    ],
  ];

  it.each(cases)('%s', async (_name, inputs, message) => {
    const layout = join(dir, 'never-written');
    const all = { push: 'false', 'oci-layout': layout, ...inputs() };
    const run = await runAction(all);
    expect(run.code).toBe(1);
    const errors = errorLines(run);
    expect(errors, run.stdout).toHaveLength(1);
    expect(errors[0]).toMatch(message);
    expect(run.outputs).toEqual({});
    expect(existsSync(layout)).toBe(false);
    // No half-written temp layout next to the target either.
    expect(readdirSync(dir).filter((n) => n.includes('.tmp-'))).toEqual([]);
  });
});
