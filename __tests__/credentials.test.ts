import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentialLookup, describeSource, resolveCredentials, secretsOf } from '../src/registry/credentials.js';

let dir: string;
let helperBin: string;
const b64 = (s: string) => Buffer.from(s).toString('base64');

const savedPath = process.env.PATH;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'creds-'));
  helperBin = join(dir, 'bin');
  mkdirSync(helperBin);
  // A credential helper speaking the docker protocol: server URL on stdin, JSON on stdout.
  const helper = join(helperBin, 'docker-credential-testhelper');
  writeFileSync(
    helper,
    `#!/bin/sh
[ "$1" = get ] || exit 2
read server
case "$server" in
  helper.example.com) echo '{"ServerURL":"helper.example.com","Username":"helper-user","Secret":"helper-secret"}' ;;
  https://index.docker.io/v1/) echo '{"ServerURL":"hub","Username":"<token>","Secret":"hub-identity-token"}' ;;
  broken.example.com) echo 'partial-secret-output' ; exit 4 ;;
  *) echo "credentials not found in native keychain" ; exit 1 ;;
esac
`,
  );
  chmodSync(helper, 0o755);
  // The helper is looked up on the process's PATH, as docker does.
  process.env.PATH = `${helperBin}${delimiter}${savedPath}`;
});
afterAll(() => {
  process.env.PATH = savedPath;
  rmSync(dir, { recursive: true, force: true });
});

function configDir(name: string, config: unknown): string {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, 'config.json'), JSON.stringify(config));
  return d;
}

const env = (dockerConfig?: string): NodeJS.ProcessEnv => ({
  PATH: `${helperBin}${delimiter}${process.env.PATH}`,
  HOME: join(dir, 'no-home'),
  ...(dockerConfig ? { DOCKER_CONFIG: dockerConfig } : {}),
});

describe('resolveCredentials', () => {
  it('prefers the username/password inputs', async () => {
    const c = await resolveCredentials('ghcr.io', {
      username: 'u',
      password: 'p',
      githubToken: 't',
      env: env(configDir('a', { auths: { 'ghcr.io': { auth: b64('x:y') } } })),
    });
    expect(c).toMatchObject({ kind: 'basic', username: 'u', password: 'p', source: 'inputs' });
    expect(secretsOf(c)).toContain('p');
  });

  it('reads auths entries: base64 auth, username/password, identity token, by host with or without scheme', async () => {
    const d = configDir('b', {
      auths: {
        'https://registry.example.com/v1/': { auth: b64('alice:pa:ss') },
        'quay.io': { username: 'bob', password: 'pw' },
        'myacr.azurecr.io': { auth: b64('00000000-0000-0000-0000-000000000000:'), identitytoken: 'refresh-me' },
        'https://index.docker.io/v1/': { auth: b64('hubuser:hubpass') },
      },
    });
    expect(await resolveCredentials('registry.example.com', { env: env(d) })).toMatchObject({
      kind: 'basic',
      username: 'alice',
      password: 'pa:ss',
      source: 'docker-config',
    });
    expect(await resolveCredentials('quay.io', { env: env(d) })).toMatchObject({ kind: 'basic', username: 'bob', password: 'pw' });
    expect(await resolveCredentials('myacr.azurecr.io', { env: env(d) })).toMatchObject({ kind: 'identity-token', token: 'refresh-me' });
    expect(await resolveCredentials('docker.io', { env: env(d) })).toMatchObject({
      kind: 'basic',
      username: 'hubuser',
      password: 'hubpass',
    });
    expect(await resolveCredentials('other.example.com', { env: env(d) })).toEqual({ kind: 'anonymous', source: 'anonymous' });
  });

  it('runs credHelpers and credsStore helpers through a real executable', async () => {
    const d = configDir('c', { credHelpers: { 'helper.example.com': 'testhelper' }, credsStore: 'testhelper' });
    const c = await resolveCredentials('helper.example.com', { env: env(d) });
    expect(c).toMatchObject({ kind: 'basic', username: 'helper-user', password: 'helper-secret', source: 'credential-helper' });
    expect(describeSource(c)).toContain('docker-credential-testhelper');
    expect(describeSource(c)).not.toContain('helper-secret');
    // Docker Hub through credsStore, answering an identity token.
    expect(await resolveCredentials('docker.io', { env: env(d) })).toMatchObject({ kind: 'identity-token', token: 'hub-identity-token' });
  });

  it('names a helper that is not installed, and the registry', async () => {
    const d = configDir('e', { credsStore: 'not-installed' });
    await expect(resolveCredentials('quay.io', { env: env(d) })).rejects.toThrow(
      /credential helper "not-installed" for quay\.io, but docker-credential-not-installed is not on PATH/,
    );
  });

  it('falls back to github-token for ghcr.io when the helper is missing or broken, with a warning', async () => {
    const warnings: string[] = [];
    const warn = (m: string) => warnings.push(m);
    const missing = env(configDir('gh-missing', { credsStore: 'not-installed' }));
    expect(await resolveCredentials('ghcr.io', { githubToken: 'ghs_x', env: missing, warn })).toMatchObject({ source: 'github-token' });
    const failing = async () => {
      throw new Error('the credential helper docker-credential-x failed for ghcr.io');
    };
    const broken = env(configDir('gh-broken', { credsStore: 'x' }));
    expect(await resolveCredentials('ghcr.io', { githubToken: 'ghs_x', env: broken, warn, runHelper: failing })).toMatchObject({
      source: 'github-token',
    });
    expect(warnings).toEqual([
      expect.stringMatching(/docker-credential-not-installed is not on PATH.*; using github-token for ghcr\.io instead$/),
      'the credential helper docker-credential-x failed for ghcr.io; using github-token for ghcr.io instead',
    ]);
    // Without a token to fall back to, the helper's failure is the error.
    await expect(resolveCredentials('ghcr.io', { env: missing })).rejects.toThrow(/not-installed is not on PATH/);
  });

  it('takes "credentials not found" (exit 1) as no entry and moves on to the next source', async () => {
    const d = configDir('d', { credHelpers: { 'nothing.example.com': 'testhelper', 'ghcr.io': 'testhelper' } });
    expect(await resolveCredentials('nothing.example.com', { env: env(d) })).toEqual({ kind: 'anonymous', source: 'anonymous' });
    expect(await resolveCredentials('ghcr.io', { githubToken: 'ghs_x', env: env(d) })).toMatchObject({ source: 'github-token' });
  });

  it('reports any other helper failure with the helper and the registry, without its output', async () => {
    const d = configDir('f', { credsStore: 'testhelper' });
    const err = await resolveCredentials('broken.example.com', { env: env(d) }).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).toMatch(
      /credential helper docker-credential-testhelper failed for broken\.example\.com \(get exited with code 4\)/,
    );
    expect(err?.message).not.toContain('partial-secret-output');
  });

  it('gives the username/password inputs to their registry only', async () => {
    const d = configDir('g', { auths: { 'quay.io': { username: 'bob', password: 'pw' } } });
    const inputs = { username: 'u', password: 'p', registry: 'ghcr.io', githubToken: 'ghs_x', env: env(d) };
    expect(await resolveCredentials('ghcr.io', inputs)).toMatchObject({ username: 'u', source: 'inputs' });
    expect(await resolveCredentials('GHCR.IO', inputs)).toMatchObject({ username: 'u', source: 'inputs' });
    expect(await resolveCredentials('quay.io', inputs)).toMatchObject({ username: 'bob', source: 'docker-config' });
    expect(await resolveCredentials('docker.io', inputs)).toEqual({ kind: 'anonymous', source: 'anonymous' });
    // ghcr.io keeps its github-token fallback when the inputs are for another registry.
    expect(await resolveCredentials('ghcr.io', { ...inputs, registry: 'docker.io' })).toMatchObject({ source: 'github-token' });
  });

  it('looks credentials up once, only when first asked, and reports what it found', async () => {
    const d = configDir('h', { credsStore: 'not-installed', credHelpers: { 'helper.example.com': 'testhelper' } });
    const found: string[] = [];
    const lookup = credentialLookup('helper.example.com', { env: env(d) }, (c) => found.push(c.source));
    expect(found).toEqual([]);
    const [a, b] = await Promise.all([lookup(), lookup()]);
    expect(a).toBe(b);
    expect(found).toEqual(['credential-helper']);
  });

  it('falls back to github-token for ghcr.io only, then anonymous', async () => {
    expect(await resolveCredentials('ghcr.io', { githubToken: 'ghs_x', githubActor: 'octocat', env: env() })).toMatchObject({
      kind: 'basic',
      username: 'octocat',
      password: 'ghs_x',
      source: 'github-token',
    });
    expect(await resolveCredentials('quay.io', { githubToken: 'ghs_x', env: env() })).toEqual({ kind: 'anonymous', source: 'anonymous' });
  });

  it('refuses a docker config that is not JSON, naming the file', async () => {
    const d = join(dir, 'bad');
    mkdirSync(d);
    writeFileSync(join(d, 'config.json'), '{nope');
    await expect(resolveCredentials('quay.io', { env: env(d) })).rejects.toThrow(/config\.json is not valid JSON/);
  });

  it('refuses a docker config that is JSON but not an object, and ignores members of the wrong type', async () => {
    await expect(resolveCredentials('quay.io', { env: env(configDir('array', [])) })).rejects.toThrow(/config\.json is not a JSON object/);
    const odd = configDir('odd', {
      auths: { 'quay.io': { auth: 42, username: ['u'], password: { p: 1 } }, 'ghcr.io': 'not an entry' },
      credHelpers: { 'quay.io': 7 },
      credsStore: false,
    });
    expect(await resolveCredentials('quay.io', { env: env(odd) })).toEqual({ kind: 'anonymous', source: 'anonymous' });
    expect(await resolveCredentials('ghcr.io', { githubToken: 't', githubActor: 'a', env: env(odd) })).toMatchObject({
      kind: 'basic',
      source: 'github-token',
    });
  });
});
