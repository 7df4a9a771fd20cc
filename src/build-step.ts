// The optional build before packaging: restore a cache, run `build-command`, save the cache.
// @actions/cache is loaded only when caching is asked for, so runs without it start fast.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { exec } from '@actions/exec';
import { InputError } from './errors.js';
import type { Host } from './host.js';

export interface BuildStepOptions {
  command: string;
  workingDirectory: string;
  cachePaths: string[];
  cacheKey: string;
  cacheKeyFiles: string[];
}

/** The part of @actions/cache this step uses; tests may pass a spy. */
export interface CacheModule {
  isFeatureAvailable(): boolean;
  restoreCache(paths: string[], primaryKey: string, restoreKeys?: string[]): Promise<string | undefined>;
  saveCache(paths: string[], key: string): Promise<number>;
}

export interface BuildStepResult {
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

export async function runBuildStep(
  opts: BuildStepOptions,
  host: Host,
  loadCache: () => Promise<CacheModule> = async () => (await import('@actions/cache')) as CacheModule,
): Promise<BuildStepResult> {
  const paths = opts.cachePaths.map((p) => resolvePath(p, opts.workingDirectory));
  let cache: CacheModule | undefined;
  let key: { key: string; prefix: string } | undefined;
  let cacheHit = false;

  if (paths.length > 0) {
    key = await cacheKeyFor(opts);
    cache = await loadCache();
    if (!cache.isFeatureAvailable()) {
      host.warning('the GitHub cache service is not available here (outside GitHub Actions?); building without cache-paths', 'Build cache');
      cache = undefined;
    } else {
      try {
        const restored = await cache.restoreCache(paths, key.key, [key.prefix]);
        cacheHit = restored === key.key;
        host.info(restored ? `cache restored from ${restored}${cacheHit ? '' : ' (partial match)'}` : `no cache for ${key.key}`);
      } catch (err) {
        host.warning(`restoring the build cache failed: ${(err as Error).message}; building without it`, 'Build cache');
      }
    }
  }

  const started = Date.now();
  const [shell, args] = shellFor(opts.command);
  const code = await exec(shell, args, { cwd: opts.workingDirectory, ignoreReturnCode: true });
  if (code !== 0) throw new InputError('build-command', `exited with code ${code}; see the build output above`);
  host.info(`build finished in ${Date.now() - started} ms`);

  if (cache && key && !cacheHit) {
    try {
      await cache.saveCache(paths, key.key);
      host.info(`cache saved as ${key.key}`);
    } catch (err) {
      // Another job of the matrix may have saved the same key first; that is not a failure.
      host.warning(`saving the build cache failed: ${(err as Error).message}`, 'Build cache');
    }
  }
  return { cacheHit };
}
