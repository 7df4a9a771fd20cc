// The build cache end to end: the bundled action (`node dist/index.js`) with the real @actions/cache client
// it ships, against a loopback cache service v2 whose signed URLs Azurite serves, pushing to a real registry.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, runAction, type ActionRun } from '../helpers/action.js';
import { startCacheService, type CacheService } from '../helpers/cache-service.js';
import { startRegistry, type RegistryFixture } from '../helpers/registry.js';

const WAT = join(ROOT, '__tests__', 'fixtures', 'modules', 'filter.wat');
// Shows what the cache restored (target/built-by, ~/.wasm-tools/index), then builds and stamps its own id.
const BUILD = [
  'mkdir -p target ~/.wasm-tools',
  '{ cat target/built-by 2>/dev/null || echo none; } > seen-target.txt',
  '{ cat ~/.wasm-tools/index 2>/dev/null || echo none; } > seen-home.txt',
  'echo "$BUILD_ID" > target/built-by',
  'echo "$BUILD_ID" > ~/.wasm-tools/index',
  'wat2wasm filter.wat -o target/filter.wasm',
].join(' && ');

/** One runner machine: the same workspace, HOME and RUNNER_TEMP paths on every run, as on GitHub. */
interface Runner {
  service: CacheService;
  work: string;
  home: string;
  temp: string;
}

let registry: RegistryFixture;
let base: string;
let runner: Runner;
let failing: Runner;
/** The run against a failing service takes the client's ~30 s of retries: it runs alongside the others. */
let failingRun: Promise<BuildRun>;

function makeRunner(service: CacheService, name: string): Runner {
  return { service, work: join(base, name, 'workspace'), home: join(base, name, 'home'), temp: join(base, name, 'temp') };
}

beforeAll(async () => {
  base = mkdtempSync(join(tmpdir(), 'build-cache-'));
  const [service, failingService, reg] = await Promise.all([startCacheService(), startCacheService({ failWith: 500 }), startRegistry()]);
  registry = reg;
  runner = makeRunner(service, 'runner');
  failing = makeRunner(failingService, 'failing');
  freshRunner(failing);
  failingRun = build(failing, 'six', { 'cache-key': 'failing' });
  failingRun.catch(() => undefined);
});
afterAll(async () => {
  await failingRun?.catch(() => undefined);
  await Promise.all([runner?.service.stop(), failing?.service.stop(), registry?.stop()]);
  if (base) rmSync(base, { recursive: true, force: true });
});

/** Empties the runner's directories and checks the sources out again; only the cache service keeps its entries. */
function freshRunner(r: Runner, lock = 'version = 3\n'): void {
  for (const dir of [r.work, r.home, r.temp]) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
  }
  copyFileSync(WAT, join(r.work, 'filter.wat'));
  writeFileSync(join(r.work, 'Cargo.lock'), lock);
}

type BuildRun = ActionRun & { seen: string[] };

async function build(r: Runner, buildId: string, inputs: Record<string, string> = {}, env: NodeJS.ProcessEnv = {}): Promise<BuildRun> {
  const run = await runAction(
    {
      'build-command': BUILD,
      'working-directory': r.work,
      'cache-paths': 'target\n~/.wasm-tools',
      'cache-key': 'filters',
      'cache-key-files': 'Cargo.lock',
      wasm: 'target/filter.wasm',
      tags: `${registry.host}/cache/filter:${buildId}`,
      ...inputs,
    },
    {
      cwd: r.work,
      timeoutMs: 90_000,
      env: { ...r.service.env, BUILD_ID: buildId, HOME: r.home, RUNNER_TEMP: r.temp, GITHUB_WORKSPACE: r.work, ...env },
    },
  );
  const seen = ['seen-target.txt', 'seen-home.txt'].map((f) => {
    try {
      return readFileSync(join(r.work, f), 'utf8').trim();
    } catch {
      return 'not built';
    }
  });
  return { ...run, seen };
}

const warnings = (run: ActionRun) => run.stdout.split('\n').filter((l) => /^::(warning|error)/.test(l));

/** The run succeeded and pushed, whatever the cache did: the cache is best effort. */
function expectPushed(run: ActionRun): void {
  expect(run.code, run.stdout).toBe(0);
  expect(run.outputs.image).toBe(`${registry.host}/cache/filter@${run.outputs.digest}`);
}
const created = () => runner.service.calls.filter((c) => c.method === 'CreateCacheEntry').map((c) => c.body.key);

describe('the build cache with the GitHub cache service v2 and Azurite storage', () => {
  it('misses and saves, then restores with cache-hit true on the next runner', async () => {
    freshRunner(runner);
    const first = await build(runner, 'one');
    expect(first.code, first.stdout).toBe(0);
    expect(first.outputs['cache-hit']).toBe('false');
    expect(first.seen).toEqual(['none', 'none']);
    expect(first.outputs.digest).toMatch(/^sha256:/);
    expect(warnings(first)).toEqual([]);
    expect(runner.service.entries).toEqual([
      expect.objectContaining({ key: expect.stringMatching(/^filters-linux-[a-f0-9]{32}$/), sizeBytes: expect.any(Number) }),
    ]);
    const key = runner.service.entries[0]?.key;
    expect(first.stdout).toContain(`cache saved as ${key}`);
    // The signed URLs' signatures are masked before anything could print them, and appear nowhere else.
    const signatures = runner.service.signatures;
    expect(signatures.length).toBeGreaterThan(0);
    for (const sig of signatures) {
      expect(first.stdout).toContain(`::add-mask::${sig}\n`);
      expect(first.stdout.split('\n').filter((l) => l.includes(sig) && !l.startsWith('::add-mask::'))).toEqual([]);
    }
    expect(first.stdout + first.stderr).not.toContain(runner.service.env.ACTIONS_RUNTIME_TOKEN);

    freshRunner(runner);
    const callsBefore = runner.service.calls.length;
    const second = await build(runner, 'two');
    expect(second.code, second.stdout).toBe(0);
    expect(second.outputs['cache-hit']).toBe('true');
    // The build saw what the first runner's build left, in the workspace and in HOME.
    expect(second.seen).toEqual(['one', 'one']);
    expect(second.stdout).toContain(`cache restored from ${key}\n`);
    // An exact hit is not saved again.
    expect(runner.service.calls.slice(callsBefore).map((c) => c.method)).toEqual(['GetCacheEntryDownloadURL']);
    expect(warnings(second)).toEqual([]);
    expect(second.outputs['wasm-digest']).toBe(first.outputs['wasm-digest']);
    // Both transfers took the Azure SDK paths a hosted runner takes, on the storage host name: one Put Blob,
    // then Get Blob Properties and a ranged Get Blob.
    const storage = runner.service.storageProxy.requests.map((r) => `${r.method} ${r.headers.host} ${r.status}`);
    expect(storage).toEqual(['PUT', 'HEAD', 'GET'].map((m, i) => `${m} cacheaccount.blob.core.windows.net ${[201, 200, 206][i]}`));
  });

  it('changes the key with cache-key-files, restores the older entry by prefix with cache-hit false, and saves the new key', async () => {
    freshRunner(runner, 'version = 4\n');
    const before = runner.service.entries.length;
    const run = await build(runner, 'three');
    expect(run.code, run.stdout).toBe(0);
    expect(run.outputs['cache-hit']).toBe('false');
    expect(run.seen).toEqual(['one', 'one']);
    const [oldKey, newKey] = [runner.service.entries[0]?.key, runner.service.entries.at(-1)?.key];
    expect(runner.service.entries).toHaveLength(before + 1);
    expect(newKey).not.toBe(oldKey);
    expect(newKey).toMatch(/^filters-linux-/);
    expect(run.stdout).toContain(`cache restored from ${oldKey} (prefix match)`);
    expect(run.stdout).toContain(`cache saved as ${newKey}`);
  });

  it('misses entirely under another cache-key', async () => {
    freshRunner(runner);
    const run = await build(runner, 'four', { 'cache-key': 'other' });
    expect(run.code, run.stdout).toBe(0);
    expect(run.outputs['cache-hit']).toBe('false');
    expect(run.seen).toEqual(['none', 'none']);
    expect(run.stdout).toMatch(/no cache for other-linux-[a-f0-9]{32} or other-linux-\*/);
  });

  it('gives up a stalled download after SEGMENT_DOWNLOAD_TIMEOUT_MINS, warns once and builds without the cache', async () => {
    freshRunner(runner);
    const before = runner.service.calls.length;
    runner.service.storageProxy.addRule({ match: { method: 'GET' }, fault: { kind: 'stall', ms: 60_000 } });
    const run = await build(runner, 'stalled', {}, { SEGMENT_DOWNLOAD_TIMEOUT_MINS: '0.05' }).finally(() =>
      runner.service.storageProxy.clearRules(),
    );
    expectPushed(run);
    expect(run.outputs['cache-hit']).toBe('false');
    expect(run.seen).toEqual(['none', 'none']);
    expect(warnings(run)).toEqual([
      expect.stringMatching(
        /^::warning title=Build cache::restoring the build cache failed: Aborting cache download as the download time exceeded the timeout\./,
      ),
    ]);
    expect(runner.service.calls.slice(before).map((c) => c.method)).toEqual(['GetCacheEntryDownloadURL']);
  });

  it('stops a restore that outlasts cache-timeout (storage never answers Get Blob Properties), warns once and builds without it', async () => {
    freshRunner(runner);
    const before = runner.service.calls.length;
    const storageBefore = runner.service.storageProxy.requests.length;
    runner.service.storageProxy.addRule({ match: { method: 'HEAD' }, fault: { kind: 'stall', ms: 60_000 }, times: Infinity });
    // A wide margin for starting the worker and the lookup: the stall, not a slow machine, must end it.
    const run = await build(runner, 'stalled-head', { 'cache-timeout': '6' }).finally(() => runner.service.storageProxy.clearRules());
    expectPushed(run);
    expect(run.seen).toEqual(['none', 'none']);
    expect(warnings(run)).toEqual([
      '::warning title=Build cache::restoring the build cache failed: not finished after 6 s (cache-timeout), so stopped; building without it, and not saving it',
    ]);
    expect(runner.service.calls.slice(before).map((c) => c.method)).toEqual(['GetCacheEntryDownloadURL']);
    expect(runner.service.storageProxy.requests.slice(storageBefore).map((r) => r.method)).toEqual(['HEAD']);
  });

  it('stops a save that outlasts cache-timeout (storage never answers the upload), warns once and still pushes', async () => {
    freshRunner(runner);
    const storageBefore = runner.service.storageProxy.requests.length;
    runner.service.storageProxy.addRule({ match: { method: 'PUT' }, fault: { kind: 'stall', ms: 60_000 }, times: Infinity });
    const run = await build(runner, 'stalled-put', { 'cache-key': 'stalled', 'cache-timeout': '6' }).finally(() =>
      runner.service.storageProxy.clearRules(),
    );
    expectPushed(run);
    expect(warnings(run)).toEqual([
      '::warning title=Build cache::saving the build cache failed: not finished after 6 s (cache-timeout), so stopped',
    ]);
    expect(runner.service.storageProxy.requests.slice(storageBefore).map((r) => r.method)).toEqual(['PUT']);
    expect(runner.service.entries.filter((e) => e.key.startsWith('stalled-') && e.sizeBytes !== undefined)).toEqual([]);
  });

  it('leaves a key that another job reserved first to that job, without a warning', async () => {
    runner.service.faults.reservedElsewhere = true;
    freshRunner(runner);
    const run = await build(runner, 'matrix', { 'cache-key': 'reserved' }).finally(() => (runner.service.faults.reservedElsewhere = false));
    expect(run.code, run.stdout).toBe(0);
    expect(warnings(run)).toEqual([]);
    expect(run.stdout).toMatch(/Unable to reserve cache with key reserved-linux-[a-f0-9]{32}, another job may be creating this cache/);
    expect(run.stdout).toMatch(/cache not saved as reserved-linux-[a-f0-9]{32} \(see above\)/);
  });

  it('warns once and still pushes when storage refuses the upload', async () => {
    runner.service.faults.refuseUploads = true;
    freshRunner(runner);
    const run = await build(runner, 'five', { 'cache-key': 'refused' }).finally(() => (runner.service.faults.refuseUploads = false));
    expectPushed(run);
    expect(warnings(run)).toEqual([
      expect.stringMatching(
        /^::warning title=Build cache::saving the build cache failed: uploading the cache archive failed: This request is not authorized to perform this operation using this permission\.$/,
      ),
    ]);
    expect(created()).toEqual(expect.arrayContaining([expect.stringMatching(/^refused-linux-/)]));
    expect(runner.service.entries.filter((e) => e.key.startsWith('refused-') && e.sizeBytes !== undefined)).toEqual([]);
  });

  it('warns once, does not save, and still pushes when the cache service answers 500', async () => {
    const run = await failingRun;
    expectPushed(run);
    expect(run.outputs['cache-hit']).toBe('false');
    expect(run.seen).toEqual(['none', 'none']);
    expect(warnings(run)).toEqual([
      expect.stringMatching(
        /^::warning title=Build cache::restoring the build cache failed: .*\(500\).*building without it, and not saving it$/,
      ),
    ]);
    // The client's own 5 attempts, then no save after the failed lookup.
    expect(failing.service.calls.map((c) => `${c.method} ${c.status}`)).toEqual(Array(5).fill('GetCacheEntryDownloadURL 500'));
  }, 90_000);
});
