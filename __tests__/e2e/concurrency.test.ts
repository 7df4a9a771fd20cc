// Matrix jobs pushing to one repository at once, and a job the runner cancels mid-push.
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACTION, cleanEnv, FIXTURE_MODULE, inputEnv, parseOutputFile, runAction } from '../helpers/action.js';
import type { FaultProxy } from '../helpers/fault-proxy.js';
import { packFixture, push, pushError } from '../helpers/push.js';
import { startProxiedRegistry, stopProxiedRegistry } from '../helpers/proxied-registry.js';
import type { RegistryFixture } from '../helpers/registry.js';

let reg: RegistryFixture;
let proxy: FaultProxy;
let work: string;

beforeAll(async () => {
  ({ reg, proxy, work } = await startProxiedRegistry('concurrency-'));
});
afterAll(() => stopProxiedRegistry({ reg, proxy, work }));

async function tagExists(repository: string, tag: string): Promise<boolean> {
  const token = await fetch(`${reg.tokenServer?.url}/token?service=test-registry&scope=repository:${repository}:pull`, {
    headers: { Authorization: `Basic ${Buffer.from(`${reg.username}:${reg.password}`).toString('base64')}` },
    signal: AbortSignal.timeout(5000),
  }).then((r) => r.json() as Promise<{ token: string }>);
  const res = await fetch(`${reg.url}/v2/${repository}/manifests/${tag}`, {
    method: 'HEAD',
    headers: { Authorization: `Bearer ${token.token}`, Accept: 'application/vnd.oci.image.manifest.v1+json' },
    signal: AbortSignal.timeout(5000),
  });
  return res.status === 200;
}

describe('a matrix of jobs', () => {
  it('pushes different tags of one repository at the same time, all succeeding', async () => {
    const istio = ['1.22', '1.23', '1.24', '1.25'];
    const runs = await Promise.all(
      istio.map((v, i) =>
        runAction({
          wasm: FIXTURE_MODULE,
          variant: i % 2 ? 'oci' : 'compat',
          tags: `${reg.host}/matrix/filter:1.0.0-istio${v}`,
          username: reg.username as string,
          password: reg.password as string,
        }),
      ),
    );
    for (const run of runs) expect(run.code, run.stdout).toBe(0);
    for (const v of istio) expect(await tagExists('matrix/filter', `1.0.0-istio${v}`)).toBe(true);
    // The two compat jobs and the two oci jobs built the same images (only the version annotation differs).
    expect(new Set(runs.map((r) => r.outputs.verified))).toEqual(new Set(['true']));
  });

  it('survives a burst of identical pushes to one repository', async () => {
    const packed = await packFixture('oci');
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        push(packed, [`${reg.host}/burst/filter:t${i}`], {
          credentials: { username: reg.username as string, password: reg.password as string, env: { HOME: work } },
        }),
      ),
    );
    expect(new Set(results.map((r) => r.result.digest)).size).toBe(1);
    for (let i = 0; i < 8; i++) expect(await tagExists('burst/filter', `t${i}`)).toBe(true);
  });
});

describe('cancellation', () => {
  it('stops cleanly on SIGTERM before any tag is moved', async () => {
    // The manifest PUT stalls, so SIGTERM arrives while blobs are done and the tag is not yet put.
    proxy.addRule({ match: { method: 'PUT', path: /\/manifests\// }, fault: { kind: 'stall', ms: 20_000 }, times: Infinity });
    const output = join(work, 'output');
    writeFileSync(output, '');
    const child = spawn(process.execPath, [ACTION], {
      env: cleanEnv({
        ...inputEnv({
          wasm: FIXTURE_MODULE,
          tags: `${proxy.host}/cancel/filter:1`,
          username: reg.username as string,
          password: reg.password as string,
        }),
        GITHUB_OUTPUT: output,
        HOME: work,
      }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let signalled = false;
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (!signalled && stdout.includes('::group::Upload') && /uploaded/.test(stdout)) {
        signalled = true;
        setTimeout(() => child.kill('SIGTERM'), 300);
      }
    });
    const started = Date.now();
    const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? -1)));
    proxy.clearRules();
    expect(code).toBe(1);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(stdout).toMatch(/::warning title=Cancelled::received SIGTERM: cancelling/);
    expect(stdout).toMatch(/::error title=[^:]*::cancelled \(SIGINT\/SIGTERM\)/);
    expect(await tagExists('cancel/filter', '1')).toBe(false);
    expect(parseOutputFile(readFileSync(output, 'utf8')).digest).toBeUndefined();
  });

  it('does not resume or retry an upload it was cancelled in', async () => {
    // Streamed (PATCH), so that a failed upload would be resumed: the PATCH stalls and the run is cancelled.
    proxy.addRule({ match: { method: 'PATCH', path: /\/blobs\/uploads\// }, fault: { kind: 'stall', ms: 20_000 }, times: Infinity });
    const cancel = new AbortController();
    const packed = await packFixture('oci');
    const failed = pushError(packed, [`${proxy.host}/cancel-upload/filter:1`], {
      credentials: { username: reg.username as string, password: reg.password as string, env: { HOME: work } },
      streamThreshold: 16,
      signal: cancel.signal,
    });
    for (let i = 0; i < 200 && !proxy.requests.some((r) => r.method === 'PATCH'); i++) await sleep(25);
    cancel.abort();
    const { error, log } = await failed;
    proxy.clearRules();
    expect(error.message).toMatch(/cancel/i);
    expect(log.warnings).toEqual([]);
  });
});
