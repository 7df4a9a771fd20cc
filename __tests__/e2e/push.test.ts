// Pushes to a real Distribution registry in each auth mode, through the bundled action and the CLI, and
// reads every tag back with skopeo as a consumer would.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, cleanEnv, errorLines, FIXTURE_MODULE, runAction, runNode } from '../helpers/action.js';
import { expectImage, expectNoSecrets, skopeoRaw, type ConsumerVariant, type SkopeoAuth } from '../helpers/consumer.js';
import { startRegistry, type RegistryAuth, type RegistryFixture } from '../helpers/registry.js';
import { jsonAs, type MetadataJson } from '../helpers/json.js';

const MODULE = readFileSync(FIXTURE_MODULE);

interface Flavour {
  name: string;
  inputs: Record<string, string>;
  cli: string[];
  variant: ConsumerVariant;
}
const FLAVOURS: Flavour[] = [
  { name: 'compat', inputs: {}, cli: [], variant: 'compat' },
  { name: 'oci', inputs: { variant: 'oci' }, cli: ['--variant', 'oci'], variant: 'oci' },
  { name: 'docker', inputs: { 'media-types': 'docker' }, cli: ['--media-types', 'docker'], variant: 'docker' },
];

const MODES: Array<{ name: string; auth: RegistryAuth; tls: boolean }> = [
  { name: 'anonymous', auth: 'none', tls: false },
  { name: 'basic', auth: 'basic', tls: false },
  { name: 'token', auth: 'token', tls: false },
  { name: 'https', auth: 'none', tls: true },
];

function certDirFor(reg: RegistryFixture, base: string): string | undefined {
  if (!reg.caFile) return undefined;
  const d = join(base, 'certs');
  mkdirSync(d, { recursive: true });
  copyFileSync(reg.caFile, join(d, 'ca.crt'));
  return d;
}

describe.each(MODES)('$name registry', ({ name, auth, tls }) => {
  let reg: RegistryFixture;
  let work: string;
  let skopeoAuth: SkopeoAuth;
  let env: NodeJS.ProcessEnv;
  // Every run gets a github-token, as on a runner (its default is the job's token): a secret in every mode.
  const githubToken = `ghs_${randomBytes(18).toString('hex')}`;

  beforeAll(async () => {
    reg = await startRegistry({ auth, tls });
    work = mkdtempSync(join(tmpdir(), `e2e-${name}-`));
    skopeoAuth = { tls, certDir: certDirFor(reg, work), creds: reg.username ? `${reg.username}:${reg.password}` : undefined };
    env = reg.caFile ? { NODE_EXTRA_CA_CERTS: reg.caFile } : {};
  });
  afterAll(async () => {
    await reg?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  /** What a run in this mode was given or issued: the github-token; the password and bearer tokens when there are any. */
  const secrets = () => [githubToken, ...(reg.password ? [reg.password] : []), ...(reg.tokenServer?.issuedTokens ?? [])];
  /** The texts of one run show none of the secrets (checked by each test on its own runs, whatever runs before). */
  const expectNoSecretsIn = (...texts: string[]) => {
    if (auth === 'token') expect(reg.tokenServer?.issuedTokens.length, 'bearer tokens were issued').toBeGreaterThan(0);
    if (auth === 'basic') expect(reg.password?.length).toBeGreaterThanOrEqual(8);
    expectNoSecrets(texts, secrets());
  };
  const credInputs = (): Record<string, string> => ({
    'github-token': githubToken,
    ...(reg.username ? { username: reg.username, password: reg.password as string } : {}),
  });

  it.each(FLAVOURS)('the action pushes $name with two tags', async (flavour) => {
    const repo = `${reg.host}/action/${flavour.name}`;
    const run = await runAction(
      { wasm: FIXTURE_MODULE, tags: `${repo}:1.0.0, ${repo}:latest`, ...flavour.inputs, ...credInputs() },
      { env },
    );
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expectNoSecretsIn(run.stdout, run.stderr, JSON.stringify(run.outputs), run.summary);
    // Each secret is masked, and masked once, though inputs, options and the credential lookup all name it.
    for (const secret of [githubToken, ...(reg.password ? [reg.password] : [])]) {
      expect(run.stdout.split('\n').filter((l) => l === `::add-mask::${secret}`)).toHaveLength(1);
    }
    expect(JSON.parse(run.outputs.tags)).toEqual([`${repo}:1.0.0`, `${repo}:latest`]);
    expect(run.outputs.image).toBe(`${repo}@${run.outputs.digest}`);
    expect(jsonAs<MetadataJson>(run.outputs.metadata).pushed).toEqual([`${repo}:1.0.0`, `${repo}:latest`]);
    expect(run.summary).toContain(`${repo}:1.0.0`);
    expect(run.summary).toContain(`sha256: ${run.outputs.sha256}`);
    for (const tag of ['1.0.0', 'latest']) {
      await expectImage(`${repo}:${tag}`, skopeoAuth, { digest: run.outputs.digest, variant: flavour.variant, module: MODULE });
    }
  });

  it.each(FLAVOURS)('the CLI pushes $name with two tags', async (flavour) => {
    const repo = `${reg.host}/cli/${flavour.name}`;
    const cliEnv = cleanEnv({ ...env, GITHUB_TOKEN: githubToken, ...(reg.password ? { WASM_IMAGE_PASSWORD: reg.password } : {}) });
    const user = reg.username ? ['--username', reg.username] : [];
    const run = await runNode(
      [CLI, 'push', '--wasm', FIXTURE_MODULE, '--tag', `${repo}:v1`, '--tag', `${repo}:v1.0`, ...flavour.cli, ...user],
      { env: cliEnv },
    );
    expect(run.code, run.stderr).toBe(0);
    expectNoSecretsIn(run.stdout, run.stderr);
    const outputs = JSON.parse(run.stdout) as { digest: string; tags: string[] };
    expect(outputs.tags).toEqual([`${repo}:v1`, `${repo}:v1.0`]);
    for (const tag of ['v1', 'v1.0'])
      await expectImage(`${repo}:${tag}`, skopeoAuth, { digest: outputs.digest, variant: flavour.variant, module: MODULE });
  });

  it('pushing the same image again uploads no blob', async () => {
    const repo = `${reg.host}/again/filter`;
    const first = await runAction({ wasm: FIXTURE_MODULE, tags: `${repo}:1`, ...credInputs() }, { env });
    expect(first.code, first.stdout).toBe(0);
    const before = reg.accessLog().length;
    // The same tag again: the manifest (which carries the first tag as its version annotation) is the same too.
    const second = await runAction({ wasm: FIXTURE_MODULE, tags: `${repo}:1`, ...credInputs() }, { env });
    expect(second.code, second.stdout).toBe(0);
    expectNoSecretsIn(first.stdout, first.stderr, second.stdout, second.stderr, JSON.stringify(second.outputs), second.summary);
    expect(second.outputs.digest).toBe(first.outputs.digest);
    const after = reg.accessLog().slice(before);
    expect(after).toMatch(/HEAD \/v2\/again\/filter\/blobs\/sha256:/);
    expect(after).not.toMatch(/(POST|PUT|PATCH) \/v2\/again\/filter\/blobs\/uploads/);
    expect(second.stdout).toMatch(/0 blob\(s\) uploaded, 0 mounted, 2 already present/);
  });

  if (auth === 'token') {
    it('fetches one token per repository, for its uploads, manifests and verification alike', async () => {
      const [one, two] = ['tokens/one', 'tokens/two'];
      const before = reg.tokenServer?.requests.length ?? 0;
      const tags = [`${reg.host}/${one}:1`, `${reg.host}/${one}:2`, `${reg.host}/${two}:1`].join('\n');
      const run = await runAction({ wasm: FIXTURE_MODULE, variant: 'oci', tags, ...credInputs() }, { env });
      expect(run.code, run.stdout).toBe(0);
      expect(run.outputs.verified).toBe('true');
      // The second repository mounts from the first, so its token also reads the first.
      expect(reg.tokenServer?.requests.slice(before).map((r) => r.scope)).toEqual([
        [`repository:${one}:pull,push`],
        [`repository:${two}:pull,push`, `repository:${one}:pull`],
      ]);
    });
  }

  if (auth !== 'none') {
    it('a wrong password fails with one clear line and creates no tag', async () => {
      const repo = `${reg.host}/denied/filter`;
      const run = await runAction(
        { wasm: FIXTURE_MODULE, tags: `${repo}:1`, username: reg.username as string, password: 'wrong-password-123' },
        { env },
      );
      expect(run.code).toBe(1);
      const errors = errorLines(run);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(/authentication to 127\.0\.0\.1:\d+ failed with credentials from the username\/password inputs/);
      expectNoSecrets([run.stdout, run.stderr], ['wrong-password-123']);
      await expect(skopeoRaw(`${repo}:1`, skopeoAuth)).rejects.toThrow();
    });

    it('missing credentials fail with one clear line and create no tag', async () => {
      const repo = `${reg.host}/anon/filter`;
      const run = await runAction({ wasm: FIXTURE_MODULE, tags: `${repo}:1` }, { env: { ...env, HOME: work } });
      expect(run.code).toBe(1);
      const errors = errorLines(run);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(/requires .*authentication and no credentials were found/);
      await expect(skopeoRaw(`${repo}:1`, skopeoAuth)).rejects.toThrow();
    });

    it('authenticates from a docker config auths entry', async () => {
      const dockerConfig = join(work, 'docker-auths');
      mkdirSync(dockerConfig, { recursive: true });
      const auth = Buffer.from(`${reg.username}:${reg.password}`).toString('base64');
      writeFileSync(join(dockerConfig, 'config.json'), JSON.stringify({ auths: { [reg.host]: { auth } } }));
      const repo = `${reg.host}/dockerconfig/filter`;
      const run = await runAction(
        { wasm: FIXTURE_MODULE, tags: `${repo}:1`, 'github-token': githubToken },
        { env: { ...env, DOCKER_CONFIG: dockerConfig } },
      );
      expect(run.code, run.stdout).toBe(0);
      expectNoSecretsIn(run.stdout, run.stderr, JSON.stringify(run.outputs), run.summary);
      expect(run.stdout).toContain('credentials from docker-config');
      await expectImage(`${repo}:1`, skopeoAuth, { digest: run.outputs.digest, variant: 'compat', module: MODULE });
    });

    it('authenticates through a docker credential helper', async () => {
      const dockerConfig = join(work, 'docker-helper');
      const bin = join(work, 'bin');
      mkdirSync(dockerConfig, { recursive: true });
      mkdirSync(bin, { recursive: true });
      const helper = join(bin, 'docker-credential-e2e');
      writeFileSync(
        helper,
        `#!/bin/sh\n[ "$1" = get ] || exit 2\nread server\n[ "$server" = "${reg.host}" ] || exit 1\nprintf '{"ServerURL":"%s","Username":"%s","Secret":"%s"}' "$server" "${reg.username}" "${reg.password}"\n`,
        { mode: 0o755 },
      );
      writeFileSync(join(dockerConfig, 'config.json'), JSON.stringify({ credHelpers: { [reg.host]: 'e2e' } }));
      const repo = `${reg.host}/credhelper/filter`;
      const run = await runAction(
        { wasm: FIXTURE_MODULE, tags: `${repo}:1`, variant: 'oci', 'github-token': githubToken },
        { env: { ...env, DOCKER_CONFIG: dockerConfig, PATH: `${bin}:${process.env.PATH}` } },
      );
      expect(run.code, run.stdout).toBe(0);
      expect(run.stdout).toContain('credentials from credential-helper');
      await expectImage(`${repo}:1`, skopeoAuth, { digest: run.outputs.digest, variant: 'oci', module: MODULE });
      expectNoSecretsIn(run.stdout, run.stderr, JSON.stringify(run.outputs), run.summary);
    });
  }

  if (tls) {
    it('refuses the self-signed certificate without NODE_EXTRA_CA_CERTS', async () => {
      const run = await runAction({ wasm: FIXTURE_MODULE, tags: `${reg.host}/untrusted/filter:1` }, { env: { HOME: work } });
      expect(run.code).toBe(1);
      const errors = errorLines(run);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(/TLS failure talking to 127\.0\.0\.1:\d+: .*NODE_EXTRA_CA_CERTS/);
    });
  }
});
