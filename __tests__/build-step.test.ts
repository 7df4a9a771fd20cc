import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cacheKeyFor, resolvePath, runBuildStep, type BuildStepOptions, type CacheModule } from '../src/build-step.js';
import type { Host } from '../src/host.js';
import { errorLines, ROOT, runAction } from './helpers/action.js';

const WAT = join(ROOT, '__tests__', 'fixtures', 'modules', 'filter.wat');
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'build-step-'));
  copyFileSync(WAT, join(dir, 'filter.wat'));
  writeFileSync(join(dir, 'Cargo.lock'), 'version = 3\n');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function recordingHost() {
  const lines: string[] = [];
  const warnings: string[] = [];
  const host: Host = {
    info: (m) => lines.push(m),
    warning: (m) => warnings.push(m),
    setSecret: () => undefined,
    setOutput: () => undefined,
    writeSummary: async () => undefined,
    group: (_n, fn) => fn(),
  };
  return { host, lines, warnings };
}

function spyCache(restoreAnswer: (key: string) => string | undefined | Error) {
  const calls: { restore: Array<[string[], string, string[] | undefined]>; save: Array<[string[], string]> } = { restore: [], save: [] };
  const cache: CacheModule = {
    isFeatureAvailable: async () => true,
    restoreCache: async (paths, key, restoreKeys) => {
      calls.restore.push([paths, key, restoreKeys]);
      const answer = restoreAnswer(key);
      if (answer instanceof Error) throw answer;
      return answer;
    },
    saveCache: async (paths, key) => {
      calls.save.push([paths, key]);
      return 1;
    },
  };
  return { cache, calls };
}

describe('the build step through the bundled action', () => {
  it('runs a real build command and packages what it wrote', async () => {
    const run = await runAction({
      'build-command': 'mkdir -p out && wat2wasm filter.wat -o out/filter.wasm',
      'working-directory': dir,
      wasm: 'out/filter.wasm',
      push: 'false',
    });
    expect(run.code, run.stdout).toBe(0);
    const built = readFileSync(join(dir, 'out', 'filter.wasm'));
    expect(run.outputs['wasm-digest']).toBe(`sha256:${createHash('sha256').update(built).digest('hex')}`);
    expect(run.outputs['cache-hit']).toBe('false');
    expect(run.stdout).toMatch(/::group::Build[\s\S]*build finished in \d+ ms[\s\S]*::group::Package/);
  });

  it('fails with the command exit code named', async () => {
    const run = await runAction({
      'build-command': 'echo compiling; exit 3',
      'working-directory': dir,
      wasm: 'out/none.wasm',
      push: 'false',
    });
    expect(run.code).toBe(1);
    expect(errorLines(run)).toEqual([
      expect.stringMatching(/^::error title=Invalid input%3A build-command::Input `build-command`: exited with code 3/),
    ]);
  });

  it('fails clearly when the module is missing after the build', async () => {
    const run = await runAction({ 'build-command': 'true', 'working-directory': dir, wasm: 'target/missing.wasm', push: 'false' });
    expect(run.code).toBe(1);
    expect(errorLines(run)[0]).toMatch(/Input `wasm`: .*missing\.wasm does not exist after build-command ran/);
  });

  it('warns once and builds without a cache outside GitHub', async () => {
    const run = await runAction({
      'build-command': 'mkdir -p out2 && wat2wasm filter.wat -o out2/filter.wasm',
      'working-directory': dir,
      'cache-paths': 'out2\n~/.cargo/registry',
      'cache-key-files': 'Cargo.lock',
      wasm: 'out2/filter.wasm',
      push: 'false',
    });
    expect(run.code, run.stdout).toBe(0);
    const warnings = run.stdout.split('\n').filter((l) => l.startsWith('::warning'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/title=Build cache::the GitHub cache service is not available/);
    expect(run.outputs['cache-hit']).toBe('false');
  });

  it('refuses cache-paths without build-command', async () => {
    const run = await runAction({ wasm: 'x.wasm', 'cache-paths': 'target', push: 'false' });
    expect(errorLines(run)[0]).toMatch(/Input `cache-paths`: caches the output of build-command/);
  });
});

describe('runBuildStep with the cache module spied on', () => {
  const opts = (): BuildStepOptions => ({
    command: 'true',
    workingDirectory: dir,
    cachePaths: ['~/.cargo/registry', 'target'],
    cacheKey: 'filters',
    cacheKeyFiles: ['Cargo.lock'],
    cacheTimeoutMs: 600_000,
  });

  it('keys the cache by prefix, OS and the key files, with absolute paths', async () => {
    const { key, prefix } = await cacheKeyFor(opts(), 'linux');
    expect(prefix).toBe('filters-linux-');
    expect(key).toMatch(/^filters-linux-[a-f0-9]{32}$/);
    writeFileSync(join(dir, 'Cargo.lock'), 'version = 4\n');
    expect((await cacheKeyFor(opts(), 'linux')).key).not.toBe(key);
    expect(resolvePath('~/.cargo/registry', dir)).toBe(join(homedir(), '.cargo/registry'));
    expect(resolvePath('target', dir)).toBe(join(dir, 'target'));
  });

  it('restores, builds and saves on a miss', async () => {
    const { cache, calls } = spyCache(() => undefined);
    const { host } = recordingHost();
    const result = await runBuildStep(opts(), host, { loadCache: () => cache });
    const { key, prefix } = await cacheKeyFor(opts());
    expect(calls.restore).toEqual([[[join(homedir(), '.cargo/registry'), join(dir, 'target')], key, [prefix]]]);
    expect(calls.save).toEqual([[[join(homedir(), '.cargo/registry'), join(dir, 'target')], key]]);
    expect(result.cacheHit).toBe(false);
  });

  it('reports a hit and does not save again on an exact match', async () => {
    const { cache, calls } = spyCache((key) => key);
    const result = await runBuildStep(opts(), recordingHost().host, { loadCache: () => cache });
    expect(result.cacheHit).toBe(true);
    expect(calls.save).toEqual([]);
  });

  it('treats a prefix match as a miss and saves', async () => {
    const { cache, calls } = spyCache(() => 'filters-linux-older');
    const result = await runBuildStep(opts(), recordingHost().host, { loadCache: () => cache });
    expect(result.cacheHit).toBe(false);
    expect(calls.save).toHaveLength(1);
  });

  it('builds on when the cache service fails, with one warning and no save', async () => {
    const { cache, calls } = spyCache(() => new Error('cache service unreachable'));
    const { host, warnings } = recordingHost();
    const result = await runBuildStep(opts(), host, { loadCache: () => cache });
    expect(result.cacheHit).toBe(false);
    expect(warnings).toEqual([
      expect.stringMatching(/restoring the build cache failed: cache service unreachable; building without it, and not saving it/),
    ]);
    expect(calls.save).toEqual([]);
  });

  it('builds without the cache, with one warning, when the cache client cannot run', async () => {
    const { cache, calls } = spyCache(() => undefined);
    cache.isFeatureAvailable = async () => {
      throw new Error('the cache worker ended without an answer');
    };
    const { host, warnings } = recordingHost();
    const result = await runBuildStep(opts(), host, { loadCache: () => cache });
    expect(result.cacheHit).toBe(false);
    expect(warnings).toEqual(['the cache client failed: the cache worker ended without an answer; building without cache-paths']);
    expect(calls).toEqual({ restore: [], save: [] });
  });

  it('names a missing cache-key file', async () => {
    await expect(cacheKeyFor({ ...opts(), cacheKeyFiles: ['nope.lock'] })).rejects.toThrow(/Input `cache-key-files`: nope\.lock/);
  });

  it('runs the command in working-directory', async () => {
    mkdirSync(join(dir, 'sub'), { recursive: true });
    writeFileSync(join(dir, 'sub', 'Cargo.lock'), 'x');
    const { cache } = spyCache(() => undefined);
    await runBuildStep({ ...opts(), command: 'echo hi > made.txt', workingDirectory: join(dir, 'sub') }, recordingHost().host, {
      loadCache: () => cache,
    });
    expect(readFileSync(join(dir, 'sub', 'made.txt'), 'utf8')).toBe('hi\n');
  });
});
