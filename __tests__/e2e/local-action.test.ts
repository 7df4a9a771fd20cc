// The action under GitHub's own local runner, as the typescript-action template runs it:
// `npx @github/local-action run . src/main.ts .env` (src/main.ts exports an argument-less run()), pushing
// to the real registry; the outputs it reports are checked against what skopeo reads back.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURE_MODULE, ROOT } from '../helpers/action.js';
import { sha256, skopeoRaw } from '../helpers/consumer.js';
import { startRegistry, type RegistryFixture } from '../helpers/registry.js';

let dir: string;
let registry: RegistryFixture;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'local-action-'));
  registry = await startRegistry();
});
afterAll(async () => {
  await registry?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface LocalRun {
  code: number;
  stdout: string;
  /** What local-action reports as set: its `::set-output name=…::…` lines. */
  outputs: Record<string, string>;
}

/** `npx @github/local-action run . src/main.ts <dotenv>` in the repository, with nothing from the machine. */
function localAction(name: string, inputs: Record<string, string>): Promise<LocalRun> {
  const dotenv = join(dir, `${name}.env`);
  writeFileSync(
    dotenv,
    Object.entries(inputs)
      .map(([k, v]) => `INPUT_${k.toUpperCase()}=${v}\n`)
      .join(''),
  );
  const env = {
    PATH: process.env.PATH,
    HOME: dir,
    DOCKER_CONFIG: join(dir, 'docker-config'),
    // npm must not reach the registry (update check, package lookups): everything is in node_modules.
    npm_config_update_notifier: 'false',
    npm_config_offline: 'true',
  };
  return new Promise((resolve, reject) => {
    const child = spawn('npx', ['--offline', '@github/local-action', 'run', '.', 'src/main.ts', dotenv], { cwd: ROOT, env });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.resume();
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const outputs: Record<string, string> = {};
      for (const m of stdout.matchAll(/^::set-output name=([\w-]+)::(.*)$/gm)) outputs[m[1]] = m[2];
      resolve({ code: code ?? -1, stdout, outputs });
    });
  });
}

describe('@github/local-action', () => {
  it('runs src/main.ts: pushes, reports the outputs, and turns a bad input into a failed step', async () => {
    const ref = `${registry.host}/acme/local-action:1`;
    // Both at once: each run starts npm, tsx and the TypeScript sources.
    const [ok, bad] = await Promise.all([
      localAction('ok', { wasm: FIXTURE_MODULE, tags: ref }),
      localAction('bad', { wasm: FIXTURE_MODULE, tags: ref, platform: 'linux' }),
    ]);

    expect(ok.code, ok.stdout).toBe(0);
    const raw = await skopeoRaw(ref, { tls: false });
    expect(ok.outputs.digest).toBe(sha256(raw));
    expect(ok.outputs.image).toBe(`${registry.host}/acme/local-action@${ok.outputs.digest}`);
    expect(JSON.parse(ok.outputs.tags)).toEqual([ref]);
    expect(ok.outputs.verified).toBe('true');
    expect(ok.stdout).toMatch(/Action Outputs[\s\S]*'digest'/);

    expect(bad.code).not.toBe(0);
    expect(bad.stdout).toMatch(/^::error title=Invalid input: platform::Input `platform`: "linux" is not os\/architecture/m);
    expect(bad.stdout).toContain('No outputs were set!');
  }, 120_000);
});
