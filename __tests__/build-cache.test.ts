// The cache worker runner: answers, the client's warnings turned into one error, and the deadline that
// stops the worker together with the processes it started (tar, in real use).
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCacheRequest, passThrough, runWorker } from '../src/build-cache.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cache-worker-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function script(name: string, body: string): string {
  const path = join(dir, `${name}.mjs`);
  writeFileSync(path, `import { writeFileSync, writeSync } from 'node:fs';\nimport { spawn } from 'node:child_process';\n${body}\n`);
  return path;
}

/** True while the process exists and is not a zombie waiting to be reaped. */
function alive(pid: number): boolean {
  const stat = `/proc/${pid}/stat`;
  if (!existsSync(stat)) return false;
  return readFileSync(stat, 'utf8').split(') ')[1]?.[0] !== 'Z';
}

describe('runWorker', () => {
  it('returns what the worker answers on fd 3', async () => {
    const worker = script('answer', `writeSync(3, JSON.stringify({ value: JSON.parse(process.argv[2]).key }));`);
    expect(await runWorker({ op: 'save', paths: ['/x'], key: 'k-1' }, { timeoutMs: 10_000, script: worker })).toEqual({ value: 'k-1' });
  });

  it("turns the client's first warning or error into the answer's error, unescaped and without Azure request ids", async () => {
    const worker = script(
      'warns',
      [
        `console.log('::warning::uploadCacheArchiveSDK: internal error uploading cache archive: refused.%0ARequestId:abc%0ATime:now');`,
        `console.log('::warning::Failed to save: refused.');`,
        `writeSync(3, JSON.stringify({ value: -1 }));`,
      ].join('\n'),
    );
    expect(await runWorker({ op: 'save', paths: ['/x'], key: 'k' }, { timeoutMs: 10_000, script: worker })).toEqual({
      error: 'uploading the cache archive failed: refused.',
    });
  });

  it('stops the worker and every process it started at the deadline', async () => {
    const pidFile = join(dir, 'grandchild.pid');
    const worker = script(
      'hangs',
      `const c = spawn('sleep', ['300'], { stdio: 'ignore' });\nwriteFileSync(${JSON.stringify(pidFile)}, String(c.pid));\nsetInterval(() => {}, 1000);`,
    );
    const started = Date.now();
    const answer = await runWorker({ op: 'restore', paths: ['/x'], key: 'k', restoreKeys: [] }, { timeoutMs: 1500, script: worker });
    expect(answer).toEqual({ error: 'not finished after 1.5 s (cache-timeout), so stopped' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
    const grandchild = Number(readFileSync(pidFile, 'utf8'));
    try {
      // SIGKILL is delivered at once, but the kernel may take a moment to finish the process.
      for (let i = 0; i < 50 && alive(grandchild); i++) await sleep(20);
      expect(alive(grandchild)).toBe(false);
    } finally {
      if (alive(grandchild)) process.kill(grandchild, 'SIGKILL');
    }
  });

  it('stops the worker when the job is cancelled', async () => {
    const worker = script('waits', `setInterval(() => {}, 1000);`);
    const cancel = new AbortController();
    const pending = runWorker({ op: 'save', paths: ['/x'], key: 'k' }, { timeoutMs: 60_000, signal: cancel.signal, script: worker });
    setTimeout(() => cancel.abort(), 200);
    expect(await pending).toEqual({ error: 'cancelled' });
    expect(await runWorker({ op: 'available' }, { timeoutMs: 60_000, signal: cancel.signal, script: worker })).toEqual({
      error: 'cancelled',
    });
  });

  it('names a missing worker script instead of starting it', async () => {
    const missing = join(dir, 'cache-worker', 'index.js');
    expect(await runWorker({ op: 'available' }, { timeoutMs: 10_000, script: missing })).toEqual({
      error: `the cache worker ${missing} is missing; run npm run build`,
    });
  });

  it('says so when the worker ends without an answer', async () => {
    const worker = script('silent', `process.exit(0);`);
    expect(await runWorker({ op: 'available' }, { timeoutMs: 10_000, script: worker })).toEqual({
      error: 'the cache worker ended without an answer',
    });
  });

  it('turns an answer of the wrong shape into an error answer', async () => {
    for (const [name, sent] of [
      ['not-json', '"{oops"'],
      ['array', '"[1]"'],
      ['object-value', 'JSON.stringify({ value: { hit: true } })'],
    ]) {
      const worker = script(name, `writeSync(3, ${sent});`);
      expect(await runWorker({ op: 'available' }, { timeoutMs: 10_000, script: worker })).toEqual({
        error: 'the cache worker answered something that is not a cache answer',
      });
    }
  });

  it('reads only a whole request on the worker side', () => {
    const restore = { op: 'restore', paths: ['/p'], key: 'k', restoreKeys: ['r-'] };
    expect(parseCacheRequest(JSON.stringify(restore))).toEqual(restore);
    expect(parseCacheRequest('{"op":"available"}')).toEqual({ op: 'available' });
    expect(() => parseCacheRequest(JSON.stringify({ ...restore, restoreKeys: undefined }))).toThrow(/no valid request/);
    expect(() => parseCacheRequest(JSON.stringify({ op: 'save', paths: [1], key: 'k' }))).toThrow(/no valid request/);
    expect(() => parseCacheRequest('')).toThrow(SyntaxError);
  });

  it("passes the client's mask and debug commands on, and defuses any other line that would read as a command", () => {
    expect(passThrough('::add-mask::s3cr3t')).toBe('::add-mask::s3cr3t');
    expect(passThrough('::debug::Cache Paths:')).toBe('::debug::Cache Paths:');
    expect(passThrough('Cache hit for: k')).toBe('Cache hit for: k');
    expect(passThrough('::set-output name=x::y')).toBe('\\x3a:set-output name=x::y');
    expect(passThrough('  ::stop-commands::t')).toBe('  \\x3a:stop-commands::t');
    expect(passThrough('Failed: ##[error]x')).toBe('Failed: ##\\x5berror]x');
  });
});
