// The GitHub cache (@actions/cache) as the build step's CacheModule, each call run in ./cache-worker.ts.
//
// Why a process of its own: the client cannot be cancelled, and some of its waits have no bound (the
// Azure SDK upload and the blob-properties request before a download have no client-side timeout). A
// worker can be stopped at the deadline (`cache-timeout`) with everything it started, including tar, so
// a stalled cache never holds the job and never extracts into the workspace while the build runs.
//
// Why its log is read: the client never throws for a failed restore or save. It logs the failure itself,
// often twice (the Azure upload and the save each warn) and sometimes as an error annotation (a 5xx while
// downloading), and returns "no match" or -1. The build cache is best effort, so the run gets one
// warning that says what happened: the worker's `::warning::` and `::error::` lines are held back and
// the first one becomes the call's error; every other line (progress, `::add-mask::` of the signed
// URLs, `::debug::`) goes to stdout, made printable unless it is one of those two (see passThrough).
//
// The client's own bounds still apply inside the deadline: each cache-service call makes at most
// 5 attempts (about 30 s in all); a download segment gives up after SEGMENT_DOWNLOAD_TIMEOUT_MINS
// (10 by default); the Azure SDK retries a failing storage request 4 times.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CacheModule } from './build-step.js';
import { asObject, parseJson, stringField } from './json.js';
import { printable } from './log-text.js';

export type CacheRequest =
  | { op: 'available' }
  | { op: 'restore'; paths: string[]; key: string; restoreKeys: string[] }
  | { op: 'save'; paths: string[]; key: string };

type CacheValue = boolean | string | number | null;
export type CacheAnswer = { value: CacheValue } | { error: string };

function stringList(value: unknown): string[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const list: unknown[] = value;
  return list.every((v): v is string => typeof v === 'string') ? list : undefined;
}

/** The request the worker was given on its command line; throws when it is not one. */
export function parseCacheRequest(text: string): CacheRequest {
  const o = asObject(parseJson(text));
  const op = stringField(o, 'op');
  const paths = stringList(o?.paths);
  const key = stringField(o, 'key');
  const restoreKeys = stringList(o?.restoreKeys);
  if (op === 'available') return { op };
  if (op === 'save' && paths && key !== undefined) return { op, paths, key };
  if (op === 'restore' && paths && key !== undefined && restoreKeys) return { op, paths, key, restoreKeys };
  throw new Error(`the cache worker was given no valid request: ${text.slice(0, 200)}`);
}

function isCacheValue(v: unknown): v is CacheValue {
  return v === null || typeof v === 'boolean' || typeof v === 'string' || typeof v === 'number';
}

/** The worker's answer; anything else is an error answer. */
function parseCacheAnswer(text: string): CacheAnswer {
  let o;
  try {
    o = asObject(parseJson(text));
  } catch {
    o = undefined;
  }
  const value = o?.value;
  const error = stringField(o, 'error');
  if (error !== undefined) return { error };
  if (isCacheValue(value)) return { value };
  return { error: 'the cache worker answered something that is not a cache answer' };
}

const PROBLEM = /^::(?:warning|error)(?: [^:]*)?::(.*)$/;

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

/**
 * A worker line for the runner: the client's own `::add-mask::` and `::debug::` commands as they are,
 * any other line made printable (server text split over lines must not start a workflow command).
 */
export function passThrough(line: string): string {
  return /^::(add-mask|debug)::/.test(line) ? line : printable(line);
}

/**
 * dist/cache-worker/index.js: next to the bundle that runs this code (dist/index.js or a chunk of it),
 * or, when src/ runs directly (@github/local-action), in the dist/ beside it.
 */
function workerScript(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, 'cache-worker', 'index.js'), join(here, '..', 'dist', 'cache-worker', 'index.js')];
  return candidates.find((path) => existsSync(path)) ?? candidates[0];
}

interface WorkerOptions {
  timeoutMs: number;
  /** Cancels the call (the runner cancelling the job). */
  signal?: AbortSignal;
  script?: string;
}

/** Starts a worker; `stop` kills it with everything it started. */
function spawnWorker(script: string, request: CacheRequest): { child: ChildProcess; stop: () => void } {
  // Its own process group (on POSIX), so that stopping it stops tar and whatever else the client started.
  const group = process.platform !== 'win32';
  const child = spawn(process.execPath, [script, JSON.stringify(request)], {
    stdio: ['ignore', 'pipe', 'inherit', 'pipe'],
    detached: group,
  });
  const stop = () => {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    try {
      if (group) process.kill(-child.pid, 'SIGKILL');
      else child.kill('SIGKILL');
    } catch {
      // Already gone.
    }
  };
  return { child, stop };
}

/** Runs one request in a worker; resolves with its answer, or an error saying what failed or stopped it. */
export function runWorker(request: CacheRequest, { timeoutMs, signal, script = workerScript() }: WorkerOptions): Promise<CacheAnswer> {
  if (!existsSync(script)) return Promise.resolve({ error: `the cache worker ${script} is missing; run npm run build` });
  if (signal?.aborted) return Promise.resolve({ error: 'cancelled' });
  return new Promise((resolve) => {
    const { child, stop } = spawnWorker(script, request);
    let stopped: string | undefined;
    const stopFor = (reason: string) => () => {
      stopped ??= reason;
      stop();
    };
    const timer = setTimeout(stopFor(`not finished after ${timeoutMs / 1000} s (cache-timeout), so stopped`), timeoutMs);
    const onAbort = stopFor('cancelled');
    signal?.addEventListener('abort', onAbort);
    process.once('exit', stop);
    const problems: string[] = [];
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      const match = PROBLEM.exec(line);
      if (match) problems.push(commandText(match[1]));
      else process.stdout.write(`${passThrough(line)}\n`);
    });
    let answer = '';
    (child.stdio[3] as NodeJS.ReadableStream).on('data', (d: Buffer) => (answer += d.toString()));
    child.on('error', (err) => problems.push(`the cache worker did not start: ${err.message}`));
    child.on('close', () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      process.off('exit', stop);
      const error = stopped ?? problems[0] ?? (answer ? undefined : 'the cache worker ended without an answer');
      resolve(error !== undefined ? { error } : parseCacheAnswer(answer));
    });
  });
}

async function call(request: CacheRequest, options: WorkerOptions): Promise<CacheValue> {
  const answer = await runWorker(request, options);
  if ('error' in answer) throw new Error(answer.error);
  return answer.value;
}

/** The GitHub cache, each call stopped after `timeoutMs` or when `signal` aborts. */
export function githubCache(timeoutMs: number, signal?: AbortSignal): CacheModule {
  const options: WorkerOptions = { timeoutMs, signal };
  return {
    isFeatureAvailable: async () => (await call({ op: 'available' }, options)) === true,
    restoreCache: async (paths, key, restoreKeys = []) => {
      const value = await call({ op: 'restore', paths, key, restoreKeys }, options);
      return typeof value === 'string' ? value : undefined;
    },
    saveCache: async (paths, key) => Number(await call({ op: 'save', paths, key }, options)),
  };
}
