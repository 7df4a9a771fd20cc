// Where credentials come from, through the bundled action against real registries: looked up only when a
// registry challenges, once per registry; a credential helper (a real executable speaking the
// docker-credential-helpers protocol, __tests__/fixtures/bin) with no entry means "none"; a broken one
// matters only where credentials are needed; username/password go to their one `registry` only.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, cleanEnv, errorLines, FIXTURE_MODULE, ROOT, runAction, runNode } from '../helpers/action.js';
import { expectImage, expectNoSecrets } from '../helpers/consumer.js';
import { startRegistry, type RegistryFixture } from '../helpers/registry.js';
import { jsonAs } from '../helpers/json.js';

const MODULE = readFileSync(FIXTURE_MODULE);
const HELPER_BIN = join(ROOT, '__tests__', 'fixtures', 'bin');

let anonymous: RegistryFixture;
let basicA: RegistryFixture;
let basicB: RegistryFixture;
let work: string;
let counter = 0;

beforeAll(async () => {
  [anonymous, basicA, basicB] = await Promise.all([
    startRegistry(),
    startRegistry({ auth: 'basic', username: 'alice' }),
    startRegistry({ auth: 'basic', username: 'bob' }),
  ]);
  work = mkdtempSync(join(tmpdir(), 'e2e-creds-'));
});
afterAll(async () => {
  await Promise.all([anonymous?.stop(), basicA?.stop(), basicB?.stop()]);
  if (work) rmSync(work, { recursive: true, force: true });
});

interface Setup {
  config: Record<string, unknown>;
  /** Entries of the fixture helper's store: server URL → [username, secret]. */
  store?: Record<string, [string, string]>;
  /** Server URLs for which the helper fails with an error other than "not found". */
  broken?: string[];
}

/** A fresh HOME and DOCKER_CONFIG holding `config.json` and the fixture helper's store. */
function dockerConfig({ config, store = {}, broken = [] }: Setup): { env: NodeJS.ProcessEnv; calls: () => string[] } {
  const home = join(work, `home-${++counter}`);
  const dir = join(home, '.docker');
  const storeDir = join(dir, 'fixture-store');
  mkdirSync(storeDir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  const key = (server: string) => server.replace(/[^A-Za-z0-9.-]/g, '_');
  for (const [server, [user, secret]] of Object.entries(store)) writeFileSync(join(storeDir, key(server)), `${user} ${secret}\n`);
  for (const server of broken) writeFileSync(join(storeDir, `${key(server)}.broken`), '');
  const callsFile = join(storeDir, 'calls');
  return {
    env: { HOME: home, DOCKER_CONFIG: dir, PATH: `${HELPER_BIN}${delimiter}${process.env.PATH}` },
    calls: () => (existsSync(callsFile) ? readFileSync(callsFile, 'utf8').split('\n').filter(Boolean) : []),
  };
}

const pushTo = (reg: RegistryFixture, repo: string, tags = ['1']) => tags.map((t) => `${reg.host}/${repo}:${t}`).join('\n');
const requestsSeen = (reg: RegistryFixture) => (reg.accessLog().match(/"(GET|HEAD|POST|PUT|PATCH) \/v2\//g) ?? []).length;

describe('credential helpers, looked up lazily', () => {
  it('asks credsStore once per registry, on its first challenge, and pushes with what it holds', async () => {
    const { env, calls } = dockerConfig({
      config: { credsStore: 'fixture' },
      store: { [basicA.host]: [basicA.username as string, basicA.password as string] },
    });
    const tags = [`${basicA.host}/store/one:1`, `${basicA.host}/store/two:1`, `${basicA.host}/store/two:2`];
    const run = await runAction({ wasm: FIXTURE_MODULE, tags: tags.join('\n') }, { env });
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toContain(`${basicA.host}: credentials from credential-helper`);
    expect(calls()).toEqual([basicA.host]);
    expectNoSecrets([run.stdout, run.stderr], [basicA.password as string]);
    await expectImage(
      tags[2],
      { tls: false, creds: `${basicA.username}:${basicA.password}` },
      {
        digest: run.outputs.digest,
        variant: 'compat',
        module: MODULE,
      },
    );
  });

  it('never runs a helper for a registry that does not challenge, even a broken or missing one', async () => {
    for (const config of [
      { credsStore: 'fixture' },
      { credsStore: 'not-installed' },
      { credHelpers: { [anonymous.host]: 'not-installed' } },
    ]) {
      const { env, calls } = dockerConfig({ config, broken: [anonymous.host] });
      const run = await runAction({ wasm: FIXTURE_MODULE, tags: pushTo(anonymous, 'lazy/filter') }, { env });
      expect(run.code, JSON.stringify(config) + run.stdout + run.stderr).toBe(0);
      expect(calls()).toEqual([]);
      expect(run.stdout).not.toContain('credentials from');
    }
  });

  it('takes a credHelpers entry over credsStore', async () => {
    const { env, calls } = dockerConfig({
      config: { credsStore: 'not-installed', credHelpers: { [basicA.host]: 'fixture' } },
      store: { [basicA.host]: [basicA.username as string, basicA.password as string] },
    });
    const run = await runAction({ wasm: FIXTURE_MODULE, tags: pushTo(basicA, 'helpers/filter') }, { env });
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(calls()).toEqual([basicA.host]);
  });

  it.each<[string, { credsStore?: string; credHelpers?: Record<string, string> }]>([
    ['credsStore', { credsStore: 'fixture' }],
    ['credHelpers', { credHelpers: {} }],
  ])('treats "credentials not found" from %s as no entry: the next source, then anonymous', async (_name, config) => {
    if (config.credHelpers) config.credHelpers[basicA.host] = 'fixture';
    const { env, calls } = dockerConfig({ config });
    const run = await runAction({ wasm: FIXTURE_MODULE, tags: pushTo(basicA, 'none/filter') }, { env });
    expect(run.code).not.toBe(0);
    expect(calls()).toEqual([basicA.host]);
    // Not a helper error: the registry asked and nobody had credentials for it.
    expect(errorLines(run).join('\n')).toMatch(/requires Basic authentication and no credentials were found/);
    // The username/password inputs bound to this registry come first and still work.
    const withInputs = await runAction(
      {
        wasm: FIXTURE_MODULE,
        tags: pushTo(basicA, 'none/filter'),
        username: basicA.username as string,
        password: basicA.password as string,
      },
      { env },
    );
    expect(withInputs.code, withInputs.stdout + withInputs.stderr).toBe(0);
  });

  it.each([
    ['a missing helper', { credsStore: 'not-installed' }, [], /docker-credential-not-installed is not on PATH/],
    [
      'a failing helper',
      { credsStore: 'fixture' },
      ['BROKEN'],
      /credential helper docker-credential-fixture failed for 127\.0\.0\.1:\d+ \(get exited with code 3\)/,
    ],
  ])('fails with an error naming %s and the registry when credentials are needed', async (_name, config, broken, message) => {
    const { env } = dockerConfig({ config, broken: broken.map(() => basicA.host) });
    const run = await runAction({ wasm: FIXTURE_MODULE, tags: pushTo(basicA, 'broken/filter') }, { env });
    expect(run.code).not.toBe(0);
    const errors = errorLines(run);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(message);
    expect(errors[0]).toContain(basicA.host);
    expect(run.stdout + run.stderr).not.toContain('keychain is locked');
  });
});

describe('input registry: username/password belong to one registry', () => {
  const inputsFor = (reg: RegistryFixture) => ({ username: reg.username as string, password: reg.password as string });
  const b64 = (s: string) => Buffer.from(s).toString('base64');

  it('sends the inputs to `registry` only; the other registry uses its docker config entry', async () => {
    const { env } = dockerConfig({ config: { auths: { [basicB.host]: { auth: b64(`${basicB.username}:${basicB.password}`) } } } });
    const tags = [`${basicA.host}/two/filter:1`, `${basicB.host}/two/filter:1`];
    const run = await runAction({ wasm: FIXTURE_MODULE, tags: tags.join('\n'), registry: basicA.host, ...inputsFor(basicA) }, { env });
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toContain(`${basicA.host}: credentials from inputs`);
    expect(run.stdout).toContain(`${basicB.host}: credentials from docker-config`);
    for (const [tag, reg] of [
      [tags[0], basicA],
      [tags[1], basicB],
    ] as const) {
      await expectImage(
        tag,
        { tls: false, creds: `${reg.username}:${reg.password}` },
        {
          digest: run.outputs.digest,
          variant: 'compat',
          module: MODULE,
        },
      );
    }
  });

  it('never offers the inputs to another registry: without its own entry it has none', async () => {
    const { env } = dockerConfig({ config: {} });
    const run = await runAction(
      {
        wasm: FIXTURE_MODULE,
        tags: `${basicA.host}/three/filter:1\n${basicB.host}/three/filter:1`,
        registry: basicA.host,
        ...inputsFor(basicA),
      },
      { env },
    );
    expect(run.code).not.toBe(0);
    expect(errorLines(run).join('\n')).toMatch(
      new RegExp(`${basicB.host.replace(/\./g, '\\.')} requires Basic authentication and no credentials were found`),
    );
  });

  it('with tags in one registry and no `registry`, the inputs are for that registry', async () => {
    const { env } = dockerConfig({ config: {} });
    const run = await runAction({ wasm: FIXTURE_MODULE, tags: pushTo(basicB, 'one/filter', ['1', '2']), ...inputsFor(basicB) }, { env });
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toContain(`${basicB.host}: credentials from inputs`);
  });

  it('the CLI takes --registry, and without it refuses tags in several registries', async () => {
    const { env } = dockerConfig({ config: { auths: { [basicB.host]: { auth: b64(`${basicB.username}:${basicB.password}`) } } } });
    const args = [CLI, 'push', '--wasm', FIXTURE_MODULE, '--tag', `${basicA.host}/cli/filter:1`, '--tag', `${basicB.host}/cli/filter:1`];
    const cliEnv = cleanEnv({ ...env, WASM_IMAGE_PASSWORD: basicA.password as string });
    const refused = await runNode([...args, '--username', basicA.username as string], { env: cliEnv });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('wasm-image: error: --registry: is required when username and password are set');
    const run = await runNode([...args, '--username', basicA.username as string, '--registry', basicA.host], { env: cliEnv });
    expect(run.code, run.stderr).toBe(0);
    expect(jsonAs<{ tags: string[] }>(run.stdout).tags).toEqual([`${basicA.host}/cli/filter:1`, `${basicB.host}/cli/filter:1`]);
  });

  it('refuses tags in several registries without `registry` before any request', async () => {
    const { env } = dockerConfig({ config: {} });
    const before = [requestsSeen(basicA), requestsSeen(basicB)];
    const run = await runAction(
      { wasm: FIXTURE_MODULE, tags: `${basicA.host}/four/filter:1\n${basicB.host}/four/filter:1`, ...inputsFor(basicA) },
      { env },
    );
    expect(run.code).not.toBe(0);
    const errors = errorLines(run);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain('Input `registry`: is required when username and password are set and the tags name several registries');
    expect(errors[0]).toContain('docker/login-action');
    expect([requestsSeen(basicA), requestsSeen(basicB)]).toEqual(before);
  });
});
