// The optional build before packaging: restore a cache, run `build-command`, save the cache.
// @actions/cache runs in a worker process (./build-cache.ts), so runs without a cache never load it.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { exec } from '@actions/exec';
import { githubCache } from './build-cache.js';
import { InputError } from './errors.js';
import type { Host } from './host.js';

export interface BuildStepOptions {
  command: string;
  workingDirectory: string;
  cachePaths: string[];
  cacheKey: string;
  cacheKeyFiles: string[];
  /** How long one cache restore or save may take before it is stopped (`cache-timeout`). */
  cacheTimeoutMs: number;
}

/** The part of @actions/cache this step uses; tests may pass a spy. */
export interface CacheModule {
  isFeatureAvailable(): Promise<boolean>;
  restoreCache(paths: string[], primaryKey: string, restoreKeys?: string[]): Promise<string | undefined>;
  saveCache(paths: string[], key: string): Promise<number>;
}

interface BuildStepResult {
  /** True when the cache was restored from an exact key match. */
  cacheHit: boolean;
}

/** Resolves `~/` and relative paths against the working directory. */
export function resolvePath(path: string, workingDirectory: string): string {
  if (path === '~' || path.startsWith('~/')) return join(homedir(), path.slice(1));
  return isAbsolute(path) ? path : resolve(workingDirectory, path);
}

/** `<cache-key>-<os>-<sha256 of the key files>`: a lock file change starts a new cache. */
export async function cacheKeyFor(opts: BuildStepOptions, platform = process.platform): Promise<{ key: string; prefix: string }> {
  const hash = createHash('sha256');
  for (const file of opts.cacheKeyFiles) {
    const path = resolvePath(file, opts.workingDirectory);
    try {
      hash
        .update(file)
        .update('\0')
        .update(await readFile(path))
        .update('\0');
    } catch {
      throw new InputError('cache-key-files', `${file} (${path}) cannot be read; list files that exist after checkout, such as Cargo.lock`);
    }
  }
  const prefix = `${opts.cacheKey || 'wasm-image-build'}-${platform}-`;
  return { key: `${prefix}${hash.digest('hex').slice(0, 32)}`, prefix };
}

function shellFor(command: string): [string, string[]] {
  return process.platform === 'win32' ? ['cmd.exe', ['/d', '/s', '/c', command]] : ['bash', ['-eo', 'pipefail', '-c', command]];
}

interface Restored {
  cache?: CacheModule;
  key?: { key: string; prefix: string };
  cacheHit: boolean;
}

/** Restores the newest entry for the key, or failing that for its prefix; the cache to save to, if any. */
async function restoreStep(
  opts: BuildStepOptions,
  paths: string[],
  host: Host,
  loadCache: (opts: BuildStepOptions) => CacheModule,
): Promise<Restored> {
  if (paths.length === 0) return { cacheHit: false };
  const key = await cacheKeyFor(opts);
  const cache = loadCache(opts);
  const available = await cache.isFeatureAvailable().catch((err: unknown) => err as Error);
  if (available !== true) {
    const why =
      available instanceof Error
        ? `the cache client failed: ${available.message}`
        : 'the GitHub cache service is not available here (outside GitHub Actions?)';
    host.warning(`${why}; building without cache-paths`, 'Build cache');
    return { cacheHit: false };
  }
  try {
    const restored = await cache.restoreCache(paths, key.key, [key.prefix]);
    const cacheHit = restored === key.key;
    host.info(
      restored ? `cache restored from ${restored}${cacheHit ? '' : ' (prefix match)'}` : `no cache for ${key.key} or ${key.prefix}*`,
    );
    return { cache, key, cacheHit };
  } catch (err) {
    // A service that failed the lookup would fail the save too, after as long a wait.
    host.warning(`restoring the build cache failed: ${(err as Error).message}; building without it, and not saving it`, 'Build cache');
    return { cacheHit: false };
  }
}

async function saveStep(cache: CacheModule, paths: string[], key: string, host: Host): Promise<void> {
  try {
    const id = await cache.saveCache(paths, key);
    // -1 without an error: another job reserved the key first, or cache writes are off (ACTIONS_CACHE_MODE).
    host.info(id === -1 ? `cache not saved as ${key} (see above)` : `cache saved as ${key}`);
  } catch (err) {
    host.warning(`saving the build cache failed: ${(err as Error).message}`, 'Build cache');
  }
}

interface BuildStepContext {
  /** Cancels the cache calls (the runner cancelling the job). */
  signal?: AbortSignal;
  /** The cache to use; tests pass a spy. Default: the GitHub cache, each call bounded by `cache-timeout`. */
  loadCache?: (opts: BuildStepOptions) => CacheModule;
}

export async function runBuildStep(opts: BuildStepOptions, host: Host, context: BuildStepContext = {}): Promise<BuildStepResult> {
  const loadCache = context.loadCache ?? ((o: BuildStepOptions) => githubCache(o.cacheTimeoutMs, context.signal));
  const paths = opts.cachePaths.map((p) => resolvePath(p, opts.workingDirectory));
  const { cache, key, cacheHit } = await restoreStep(opts, paths, host, loadCache);

  const started = Date.now();
  const [shell, args] = shellFor(opts.command);
  const code = await exec(shell, args, { cwd: opts.workingDirectory, ignoreReturnCode: true });
  if (code !== 0) throw new InputError('build-command', `exited with code ${code}; see the build output above`);
  host.info(`build finished in ${Date.now() - started} ms`);

  if (cache && key && !cacheHit) await saveStep(cache, paths, key.key, host);
  return { cacheHit };
}
