// The bundle's stand-in for @actions/core (src/workflow-commands.ts) writes exactly what @actions/core
// writes, and the bundle holds none of the OIDC client it exists to leave out.
import * as core from '@actions/core';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import * as lite from '../src/workflow-commands.js';
import { ROOT } from './helpers/action.js';

type Api = Pick<typeof lite, 'getInput' | 'info' | 'warning' | 'error' | 'setSecret' | 'setOutput' | 'group'>;

/** What `use` writes to stdout and to the GITHUB_OUTPUT file, with the random heredoc delimiters named alike. */
async function written(api: Api, use: (api: Api) => Promise<void>): Promise<{ stdout: string; output: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'workflow-commands-'));
  const outputFile = join(dir, 'output');
  writeFileSync(outputFile, '');
  vi.stubEnv('GITHUB_OUTPUT', outputFile);
  let stdout = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += chunk.toString();
    return true;
  });
  try {
    await use(api);
  } finally {
    spy.mockRestore();
  }
  const output = readFileSync(outputFile, 'utf8').replace(/ghadelimiter_[0-9a-f-]+/g, 'DELIMITER');
  rmSync(dir, { recursive: true, force: true });
  return { stdout, output };
}

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('the bundle’s workflow commands', () => {
  it('write what @actions/core writes: log lines, annotations with titles, masks, groups and outputs', async () => {
    const script = async (api: Api) => {
      api.info('plain line');
      api.warning('50% done,\nnext: "x"', { title: 'Retry: a, b' });
      api.error('failed: %0A stays', { title: 'Invalid input: tags' });
      api.setSecret('s3cr3t\r\nline');
      api.setOutput('digest', 'sha256:abc');
      api.setOutput('tags', '["a:1",\n"b:2"]');
      await api.group('Build', () => Promise.resolve(api.info('inside')));
    };
    const ours = await written(lite, script);
    expect(ours).toEqual(await written(core, script));
    expect(ours.stdout).toContain('::warning title=Retry%3A a%2C b::50%25 done,%0Anext: "x"');
    expect(ours.output).toContain('digest<<DELIMITER');
  });

  it('read inputs as @actions/core does: upper-cased, spaces as underscores, trimmed, empty when unset', () => {
    vi.stubEnv('INPUT_INSECURE-REGISTRIES', '  host:5000 \n');
    vi.stubEnv('INPUT_SOME_NAME', 'x');
    for (const name of ['insecure-registries', 'some name', 'missing']) expect(lite.getInput(name)).toBe(core.getInput(name));
    expect(lite.getInput('insecure-registries')).toBe('host:5000');
  });

  it('keep the OIDC client, @actions/http-client and undici out of the bundles', () => {
    for (const bundle of ['dist/index.js', 'dist/cli/index.js']) {
      const text = readFileSync(join(ROOT, bundle), 'utf8');
      expect(text, bundle).not.toMatch(/undici|ACTIONS_ID_TOKEN_REQUEST_URL/);
    }
  });
});
