import { describe, expect, it } from 'vitest';
import { NetworkError, type HttpResponse } from '../src/registry/http.js';
import { RegistryError } from '../src/registry/errors.js';
import {
  backoffMs,
  isRetryableError,
  isRetryableStatus,
  noRetries,
  RetriesExhausted,
  retryAfterMs,
  SYSTEM_CLOCK,
  withRetries,
  type RetryClock,
  type RetryPolicy,
} from '../src/registry/retry.js';

const res = (status: number, headers: Record<string, string> = {}): HttpResponse => ({
  status,
  headers,
  url: new URL('http://x/'),
  body: Buffer.alloc(0),
});
const fast: RetryPolicy = { retries: 3, baseDelayMs: 1, maxDelayMs: 5, maxRetryAfterMs: 50 };

/** A clock that records every wait asked of it and returns at once: no assertion depends on real time. */
function recordingClock(now = 0, random = 0): { clock: RetryClock; waits: number[]; signals: Array<AbortSignal | undefined> } {
  const waits: number[] = [];
  const signals: Array<AbortSignal | undefined> = [];
  const clock: RetryClock = {
    now: () => now,
    sleep: (ms, signal) => {
      waits.push(ms);
      signals.push(signal);
      return Promise.resolve();
    },
    random: () => random,
  };
  return { clock, waits, signals };
}

describe('retry policy', () => {
  it('retries 408, 429 and 5xx but not 4xx or 501', () => {
    for (const s of [408, 429, 500, 502, 503, 504]) expect(isRetryableStatus(s)).toBe(true);
    for (const s of [400, 401, 403, 404, 413, 416, 501]) expect(isRetryableStatus(s)).toBe(false);
  });

  it('retries connection resets and timeouts, not DNS or TLS failures', () => {
    const url = new URL('http://x/');
    expect(isRetryableError(new NetworkError('reset', 'ECONNRESET', url))).toBe(true);
    expect(isRetryableError(new NetworkError('idle', 'ETIMEDOUT', url))).toBe(true);
    expect(isRetryableError(new NetworkError('nx', 'ENOTFOUND', url))).toBe(false);
    expect(isRetryableError(new NetworkError('cert', 'DEPTH_ZERO_SELF_SIGNED_CERT', url))).toBe(false);
    expect(isRetryableError(new Error('plain'))).toBe(false);
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    expect(retryAfterMs(res(429, { 'retry-after': '3' }))).toBe(3000);
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(retryAfterMs(res(503, { 'retry-after': 'Thu, 01 Jan 2026 00:00:05 GMT' }), now)).toBe(5000);
    expect(retryAfterMs(res(503, { 'retry-after': 'soon' }))).toBeUndefined();
    expect(retryAfterMs(res(503))).toBeUndefined();
  });

  it('backs off exponentially with jitter, capped', () => {
    const p: RetryPolicy = { retries: 9, baseDelayMs: 100, maxDelayMs: 1000, maxRetryAfterMs: 0 };
    expect(backoffMs(p, 0, () => 0)).toBe(50);
    expect(backoffMs(p, 0, () => 1)).toBe(100);
    expect(backoffMs(p, 3, () => 1)).toBe(800);
    expect(backoffMs(p, 8, () => 1)).toBe(1000);
  });

  it('gives up after retries + 1 attempts and says so, backing off between them', async () => {
    const warnings: string[] = [];
    const { clock, waits } = recordingClock();
    let calls = 0;
    await expect(
      withRetries(
        'doing it',
        { retries: 3, baseDelayMs: 1000, maxDelayMs: 3000, maxRetryAfterMs: 60_000 },
        (m) => warnings.push(m),
        async () => {
          calls++;
          return { retry: 'HTTP 503', response: res(503) };
        },
        undefined,
        clock,
      ),
    ).rejects.toThrow('doing it failed after 4 attempts: HTTP 503');
    expect(calls).toBe(4);
    // Jitter 0: half of 1 s, 2 s, then the 3 s cap.
    expect(waits).toEqual([500, 1000, 1500]);
    expect(warnings).toEqual([
      'doing it: HTTP 503; retrying in 0.5 s (attempt 2 of 4)',
      'doing it: HTTP 503; retrying in 1.0 s (attempt 3 of 4)',
      'doing it: HTTP 503; retrying in 1.5 s (attempt 4 of 4)',
    ]);
  });

  it('honours Retry-After in seconds or as a date on its clock, up to the cap', async () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    const { clock, waits } = recordingClock(now, 1);
    const answers = [
      res(429, { 'retry-after': '100' }), // over the cap
      res(503, { 'retry-after': '2' }),
      res(503, { 'retry-after': 'Thu, 01 Jan 2026 00:00:05 GMT' }), // 5 s after the clock's now
      res(503, { 'retry-after': 'soon' }), // unreadable: the back-off instead
    ];
    let calls = 0;
    const value = await withRetries(
      'x',
      { retries: 4, baseDelayMs: 100, maxDelayMs: 1000, maxRetryAfterMs: 30_000 },
      () => undefined,
      async () => {
        const response = answers[calls++];
        return response ? { retry: String(response.status), response } : { done: 'ok' };
      },
      undefined,
      clock,
    );
    expect(value).toBe('ok');
    expect(calls).toBe(5);
    expect(waits).toEqual([30_000, 2000, 5000, 800]);
  });

  it('hands the cancellation signal to the wait; the system clock stops waiting when it aborts', async () => {
    const { clock, signals } = recordingClock();
    const controller = new AbortController();
    let calls = 0;
    await withRetries(
      'x',
      fast,
      () => undefined,
      async () => (++calls === 1 ? { retry: '503' } : { done: 'ok' }),
      controller.signal,
      clock,
    );
    expect(signals).toEqual([controller.signal]);
    await expect(SYSTEM_CLOCK.sleep(60_000, AbortSignal.abort())).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('does not retry with retries: 0', async () => {
    let calls = 0;
    await expect(
      withRetries(
        'x',
        { ...fast, retries: 0 },
        () => undefined,
        async () => (calls++, { retry: 'boom' }),
      ),
    ).rejects.toThrow('after 1 attempt: boom');
    expect(calls).toBe(1);
  });
});

describe('the retry layer owns network errors', () => {
  const url = new URL('http://r.example/');

  /** Runs an operation whose every attempt throws `err`; returns how many attempts it made and what it threw. */
  async function alwaysFailing(err: NetworkError): Promise<{ calls: number; error: unknown }> {
    let calls = 0;
    const error = await withRetries(
      'pushing x',
      fast,
      () => undefined,
      async () => {
        calls++;
        throw err;
      },
    ).catch((e: unknown) => e);
    return { calls, error };
  }

  it('turns a network error it will not retry into a registry error naming the operation, after one attempt', async () => {
    const { calls, error } = await alwaysFailing(new NetworkError('getaddrinfo ENOTFOUND', 'ENOTFOUND', url));
    expect(calls).toBe(1);
    expect(error).toBeInstanceOf(RegistryError);
    expect((error as Error).message).toBe('pushing x: cannot resolve the host r.example (ENOTFOUND); check the registry name');
  });

  it('retries network errors it may, then gives up with a registry error', async () => {
    const { calls, error } = await alwaysFailing(new NetworkError('socket hang up', 'ECONNRESET', url));
    expect(calls).toBe(4);
    expect(error).toBeInstanceOf(RetriesExhausted);
    expect(error).toBeInstanceOf(RegistryError);
    expect((error as Error).message).toMatch(/^pushing x failed after 4 attempts: network error talking to r\.example: socket hang up/);
  });

  it('passes other errors through untouched, without retrying', async () => {
    let calls = 0;
    const original = new Error('a bug');
    await expect(
      withRetries(
        'x',
        fast,
        () => undefined,
        async () => (calls++, Promise.reject(original)),
      ),
    ).rejects.toBe(original);
    expect(calls).toBe(1);
  });

  it('noRetries keeps the timings and allows one attempt', () => {
    expect(noRetries(fast)).toEqual({ ...fast, retries: 0 });
  });
});
