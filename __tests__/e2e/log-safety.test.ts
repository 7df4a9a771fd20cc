// What reaches the log and the outputs when users and servers send hostile text, through the bundled action
// and the CLI: no workflow command or terminal escape from a path or a registry message, secrets masked in
// the CLI as the runner masks them for the action, no success outputs from a failed run, temporary files
// under RUNNER_TEMP.
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ACTION, CLI, cleanEnv, errorLines, FIXTURE_MODULE, inputEnv, parseOutputFile, runAction, runNode } from '../helpers/action.js';
import { expectNoSecrets } from '../helpers/consumer.js';
import type { FaultProxy } from '../helpers/fault-proxy.js';
import { startProxiedRegistry, stopProxiedRegistry } from '../helpers/proxied-registry.js';
import type { RegistryFixture } from '../helpers/registry.js';

let reg: RegistryFixture;
let proxy: FaultProxy;
let work: string;

beforeAll(async () => {
  ({ reg, proxy, work } = await startProxiedRegistry('log-safety-'));
});
afterEach(() => proxy?.clearRules());
afterAll(() => stopProxiedRegistry({ reg, proxy, work }));

const creds = () => ({ username: reg.username as string, password: reg.password as string });
const homeEnv = () => ({ HOME: work, DOCKER_CONFIG: join(work, 'docker') });
const b64 = (s: string) => Buffer.from(s).toString('base64');

/** Lines the runner would run as workflow commands, other than the ones the action itself issues. */
function injectedCommands(log: string): string[] {
  return log
    .split('\n')
    .filter((l) => /^\s*::/.test(l) || l.includes('##['))
    .filter((l) => !/^::(group|endgroup|add-mask|warning title=[^:]*|error title=[^:]*)::/.test(l));
}

describe('the log', () => {
  it('shows hostile paths and registry messages without workflow commands or terminal escapes', async () => {
    // A module and a layout directory whose names hold a newline and a command, and a registry whose
    // error message carries ANSI colours, a newline and commands of both forms.
    const dir = join(work, 'evil\n::add-mask::sha256\n##[add-mask]x');
    mkdirSync(dir);
    const module = join(dir, '::add-mask::filter.wasm');
    copyFileSync(FIXTURE_MODULE, module);
    proxy.addRule({
      match: { method: 'PUT', path: /\/manifests\// },
      fault: {
        kind: 'status',
        status: 400,
        body: JSON.stringify({
          errors: [{ code: 'DENIED', message: '\u001b[31mdenied\u001b[0m\r\n::stop-commands::x\n##[set-output name=digest;]evil' }],
        }),
      },
    });
    const run = await runAction(
      { wasm: module, 'oci-layout': join(dir, 'layout'), tags: `${proxy.host}/hostile/filter:1`, ...creds() },
      { env: homeEnv() },
    );
    expect(run.code).toBe(1);
    expect(injectedCommands(run.stdout + run.stderr)).toEqual([]);
    expect(run.stdout).not.toContain('\u001b');
    // The hostile text is still there to read, escaped.
    expect(run.stdout).toContain('evil\\n::add-mask::sha256\\n##\\x5badd-mask]x');
    // The registry's words arrive on the error line, defused (the older `##[` form too).
    expect(errorLines(run)[0]).toMatch(/DENIED: .*denied.*::stop-commands::x.*##\\x5bset-output name=digest;\]evil/);
  });
});

describe('a reference with credentials in it', () => {
  it.each(['tags', 'mount-from'])('in %s is refused without printing them, before any request', async (input) => {
    const secret = 'ref-secret-pw';
    const inputs: Record<string, string> = { wasm: FIXTURE_MODULE, tags: `${proxy.host}/userinfo/filter:1` };
    inputs[input] = `https://me:${secret}@${proxy.host}/userinfo/${input === 'tags' ? 'filter:1' : 'base'}`;
    const seen = proxy.requests.length;
    const run = await runAction(inputs, { env: homeEnv() });
    expect(run.code).toBe(1);
    expect(errorLines(run)[0]).toMatch(
      new RegExp(`Input \`${input}\`: "https://\\*\\*\\*@127\\.0\\.0\\.1:\\d+/userinfo/.*" has credentials in it`),
    );
    expectNoSecrets([run.stdout, run.stderr, run.summary], [secret]);
    expect(proxy.requests.length).toBe(seen);
  });
});

describe('the CLI', () => {
  it('masks the password, the tokens and their base64 forms in everything it prints', async () => {
    // A registry that repeats the credentials back in its error message, as a badly written one might.
    const { password, username } = creds();
    // Only the tokens this run is given (earlier tests had their own).
    const before = reg.tokenServer?.issuedTokens.length ?? 0;
    const secrets = () => {
      const tokens = reg.tokenServer?.issuedTokens.slice(before) ?? [];
      return [password, b64(`${username}:${password}`), b64(password), ...tokens, ...tokens.map(b64)];
    };
    proxy.addRule({
      match: { method: 'PUT', path: /\/manifests\// },
      fault: {
        kind: 'status',
        status: 400,
        get body() {
          return JSON.stringify({ errors: [{ code: 'DENIED', message: `you sent ${secrets().join(' and ')}` }] });
        },
      },
    });
    const run = await runNode([CLI, 'push', '--wasm', FIXTURE_MODULE, '--tag', `${proxy.host}/masked/filter:1`, '--username', username], {
      env: cleanEnv({ ...homeEnv(), WASM_IMAGE_PASSWORD: password }),
    });
    expect(run.code).toBe(1);
    expect(reg.tokenServer?.issuedTokens.length).toBeGreaterThan(before);
    expect(run.stderr).toMatch(/wasm-image: error: .*DENIED: you sent \*\*\* and \*\*\*/);
    expectNoSecrets([run.stdout, run.stderr], secrets());
    for (const secret of secrets()) expect(run.stderr).not.toContain(secret);
  });
});

describe('outputs of a failed run', () => {
  it('a failed verification writes no digest or image output', async () => {
    // The registry answers the read-back of the manifest with other bytes: the push went through, but
    // the verification fails.
    proxy.addRule({
      match: { method: 'GET', path: /\/manifests\// },
      fault: { kind: 'status', status: 200, headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' }, body: '{}' },
      times: Infinity,
    });
    const run = await runAction({ wasm: FIXTURE_MODULE, tags: `${proxy.host}/unverified/filter:1`, ...creds() }, { env: homeEnv() });
    expect(run.code, run.stdout).toBe(1);
    expect(errorLines(run)[0]).toMatch(/would not load/);
    expect(run.outputs).toEqual({});
  });
});

describe('temporary files', () => {
  it('go under RUNNER_TEMP, and are gone after a cancellation', async () => {
    const runnerTemp = join(work, 'runner-temp');
    const otherTemp = join(work, 'tmp');
    mkdirSync(runnerTemp);
    mkdirSync(otherTemp);
    // The manifest PUT stalls, so the run is still holding its files when it is looked at and cancelled.
    proxy.addRule({ match: { method: 'PUT', path: /\/manifests\// }, fault: { kind: 'stall', ms: 20_000 }, times: Infinity });
    const output = join(work, 'temp-output');
    writeFileSync(output, '');
    const child = spawn(process.execPath, [ACTION], {
      env: cleanEnv({
        ...inputEnv({ wasm: FIXTURE_MODULE, tags: `${proxy.host}/temp/filter:1`, ...creds() }),
        ...homeEnv(),
        GITHUB_OUTPUT: output,
        RUNNER_TEMP: runnerTemp,
        TMPDIR: otherTemp,
      }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let seen: { runner: string[]; other: string[] } | undefined;
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (!seen && /::group::Upload[\s\S]*uploaded/.test(stdout)) {
        seen = { runner: readdirSync(runnerTemp), other: readdirSync(otherTemp) };
        child.kill('SIGTERM');
      }
    });
    const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? -1)));
    expect(seen, stdout).toBeDefined();
    expect(seen?.runner.filter((n) => n.startsWith('wasm-image-'))).toHaveLength(1);
    expect(seen?.other).toEqual([]);
    expect(code).toBe(1);
    expect(readdirSync(runnerTemp)).toEqual([]);
    expect(readdirSync(otherTemp)).toEqual([]);
    expect(parseOutputFile(readFileSync(output, 'utf8'))).toEqual({});
  });
});
