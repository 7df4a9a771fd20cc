// The GitHub cache through @actions/cache, as the build step's CacheModule.
//
// The client never throws for a failed restore or save: it logs the failure itself, often twice (the
// Azure upload and the save each warn) and sometimes as an error annotation (a 5xx while downloading),
// and returns "no match" or -1. The build cache is best effort, so the run should get one warning that
// says what happened, and should not save after a restore that failed. So while the client works, its
// `::warning::` and `::error::` commands are taken off stdout and turned into a thrown Error; every
// other line (progress, `::add-mask::` of signed URLs, `::debug::`) goes through unchanged.
//
// Bounds, all the client's own: each cache-service call makes at most 5 attempts (about 30 s in all);
// downloads from storage give up after 5 s without data (SEGMENT_DOWNLOAD_TIMEOUT_MINS bounds a download
// through the Azure SDK, 10 minutes by default); the Azure SDK upload retries a failing storage 4 times.
import { isFeatureAvailable, restoreCache, saveCache } from '@actions/cache';
import type { CacheModule } from './build-step.js';

const PROBLEM = /^::(?:warning|error)(?: [^:]*)?::(.*)$/s;

/** The message of a command @actions/core wrote, unescaped, without the Azure SDK's request-id lines. */
function commandText(escaped: string): string {
  const text = escaped.replace(/%0D/g, '\r').replace(/%0A/g, '\n').replace(/%25/g, '%');
  return text
    .split(/\r?\n/)
    .filter((line) => !/^(RequestId|Time):/.test(line))
    .join(' ')
    .replace(/^Failed to (?:restore|save): /, '')
    .replace(/^uploadCacheArchiveSDK: internal error uploading cache archive: /, 'uploading the cache archive failed: ')
    .trim();
}

/** Runs `fn` with the warnings and errors it prints held back; the first one says what failed. */
async function holdingProblems<T>(fn: () => Promise<T>): Promise<{ value: T; problem?: string }> {
  const problems: string[] = [];
  const write = process.stdout.write;
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    const match = PROBLEM.exec(text.trimEnd());
    if (!match) return Reflect.apply(write, process.stdout, [chunk, ...rest]) as boolean;
    problems.push(commandText(match[1] as string));
    const done = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
    done?.();
    return true;
  }) as typeof process.stdout.write;
  try {
    const value = await fn();
    return { value, problem: problems[0] };
  } finally {
    process.stdout.write = write;
  }
}

async function restore(paths: string[], primaryKey: string, restoreKeys?: string[]): Promise<string | undefined> {
  const { value, problem } = await holdingProblems(() => restoreCache(paths, primaryKey, restoreKeys));
  if (problem !== undefined) throw new Error(problem);
  return value;
}

async function save(paths: string[], key: string): Promise<number> {
  const { value, problem } = await holdingProblems(() => saveCache(paths, key));
  if (problem !== undefined) throw new Error(problem);
  return value;
}

export const githubCache: CacheModule = { isFeatureAvailable, restoreCache: restore, saveCache: save };
