// The one retry layer: every operation (a ping, a request, a whole blob upload, a manifest put) runs its
// attempts here, so `retries: N` means at most N + 1 attempts of any one operation. Code inside an attempt
// never retries on its own (as go-containerregistry's transport marks the requests of a whole-upload retry),
// and network errors become registry errors here, once, naming the operation.
import { setTimeout as sleep } from 'node:timers/promises';
import { RegistryError, TokenServiceBusy } from './errors.js';
import { getHeader, NetworkError, type HttpResponse } from './http.js';

export interface RetryPolicy {
  /** Retries after the first attempt (0 disables). */
  retries: number;
  /** First back-off in ms; doubles each attempt. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** The longest Retry-After honoured. */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { retries: 4, baseDelayMs: 500, maxDelayMs: 10_000, maxRetryAfterMs: 60_000 };

/** Time and chance as the retry layer sees them: the system's, or a test's own so no test waits on a clock. */
export interface RetryClock {
  now(): number;
  /** Resolves after `ms`; rejects with an AbortError when `signal` aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** A number in [0, 1) for the back-off jitter. */
  random(): number;
}

export const SYSTEM_CLOCK: RetryClock = {
  now: () => Date.now(),
  sleep: (ms, signal) => sleep(ms, undefined, signal ? { signal } : undefined),
  random: () => Math.random(),
};

/** Network failures worth another try: the same request may well go through. */
const RETRYABLE_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
]);

export function isRetryableError(err: unknown): boolean {
  return err instanceof NetworkError && (RETRYABLE_CODES.has(err.code) || /socket hang up|ended early|cut off/.test(err.message));
}

export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status !== 501 && status !== 505);
}

/** Retry-After as seconds or an HTTP date, in ms; undefined when absent or unreadable. */
export function retryAfterMs(res: HttpResponse, now = Date.now()): number | undefined {
  const value = getHeader(res, 'retry-after')?.trim();
  if (!value) return undefined;
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

export function backoffMs(policy: RetryPolicy, attempt: number, random = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** The outcome of one attempt: a response to use, or a reason to try again. */
export type Attempt<T> = { done: T } | { retry: string; response?: HttpResponse };

export class RetriesExhausted extends RegistryError {
  override name = 'RetriesExhausted';
}

/** The same policy with no retries: for work nested inside an operation that already retries. */
export function noRetries(policy: RetryPolicy): RetryPolicy {
  return { ...policy, retries: 0 };
}

/**
 * Runs `attempt` until it is done, retrying retryable network errors and what it reports as retryable.
 * `what` names the step in warnings and in the final error. `clock` waits between attempts.
 */
export async function withRetries<T>(
  what: string,
  policy: RetryPolicy,
  warn: (message: string) => void,
  attempt: (n: number) => Promise<Attempt<T>>,
  signal?: AbortSignal,
  clock: RetryClock = SYSTEM_CLOCK,
): Promise<T> {
  for (let n = 0; ; n++) {
    let outcome: Attempt<T>;
    try {
      outcome = await attempt(n);
    } catch (err) {
      if (err instanceof TokenServiceBusy && !signal?.aborted) {
        outcome = { retry: err.message, response: err.response };
      } else {
        if (!(err instanceof NetworkError)) throw err;
        if (!isRetryableError(err) || signal?.aborted) throw new RegistryError(`${what}: ${err.describe()}`, 0);
        outcome = { retry: err.describe() };
      }
    }
    if ('done' in outcome) return outcome.done;
    const attempts = n + 1;
    if (n >= policy.retries) {
      const status = outcome.response?.status ?? 0;
      throw new RetriesExhausted(`${what} failed after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${outcome.retry}`, status);
    }
    const after = outcome.response ? retryAfterMs(outcome.response, clock.now()) : undefined;
    const delay = after !== undefined ? Math.min(after, policy.maxRetryAfterMs) : backoffMs(policy, n, () => clock.random());
    warn(`${what}: ${outcome.retry}; retrying in ${(delay / 1000).toFixed(1)} s (attempt ${attempts + 1} of ${policy.retries + 1})`);
    await clock.sleep(delay, signal);
  }
}
