// Bounded responses and time (issue 11): hostile answers on the ping, a token, a manifest, a blob and an error
// body, from the fault proxy in front of the real registry. Every push ends with one clear error, reading at
// most the cap into memory, within about (retries + 1) × 2 × request-timeout. Timeouts are small to keep this
// quick; the time bounds are asserted with a wide margin, never tightly.
import type { VerifyMode } from '../../src/registry/verify.js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startFaultProxy, type Fault, type FaultProxy, type FaultRule } from '../helpers/fault-proxy.js';
import { errorLines, FIXTURE_MODULE, runAction } from '../helpers/action.js';
import { packFixture, push, pushError } from '../helpers/push.js';
import { startRegistry, type RegistryFixture } from '../helpers/registry.js';
import type { PackedImage } from '../../src/pack.js';

const TIMEOUT_MS = 300;
const RETRIES = 1;
/** What the issue allows: (retries + 1) × 2 × request-timeout. */
const BOUND_MS = (RETRIES + 1) * 2 * TIMEOUT_MS;
/** Room for back-off, process scheduling and a loaded machine: the point is "ends", not "ends fast". */
const MARGIN_MS = 4000;

let reg: RegistryFixture;
let proxy: FaultProxy;
let packed: PackedImage;
let n = 0;

beforeAll(async () => {
  reg = await startRegistry({ auth: 'basic' });
  proxy = await startFaultProxy(reg.url);
  packed = await packFixture('oci');
});
afterAll(async () => {
  await proxy?.stop();
  await reg?.stop();
});
beforeEach(() => {
  proxy.clearRules();
});

const creds = () => ({ username: reg.username as string, password: reg.password as string, env: { HOME: '/nonexistent' } });
const options = (verify: VerifyMode = 'off') => ({
  credentials: creds(),
  timeoutMs: TIMEOUT_MS,
  retry: { retries: RETRIES, baseDelayMs: 5, maxDelayMs: 20, maxRetryAfterMs: 100 },
  verify,
});

/** A byte every 50 ms, forever: the idle timer (300 ms) never fires. */
const trickle: Fault = { kind: 'drip', chunk: '{', everyMs: 50 };
/** Bytes as fast as the client takes them, forever. */
const flood = (status = 200): Fault => ({ kind: 'drip', status, chunk: 'x'.repeat(64 * 1024), everyMs: 0 });
const always = (match: FaultRule['match'], fault: Fault): FaultRule => ({ match, fault, times: Infinity });

/** The proxy as its own token service: the ping answers a Bearer challenge whose realm is the proxy's /token. */
const tokenChallenge = (): FaultRule =>
  always(
    { method: 'GET', path: /^\/v2\/$/ },
    {
      kind: 'status',
      status: 401,
      headers: { 'WWW-Authenticate': `Bearer realm="${proxy.url}/token",service="hostile"` },
      body: JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }),
    },
  );

interface Case {
  name: string;
  rules: () => FaultRule[];
  verify?: VerifyMode;
  message: RegExp;
  /** Requests the client made to paths matching this: retries + 1 when retried, 1 when not. */
  attempts?: { method?: string; path: RegExp; count: number };
}

const CASES: Case[] = [
  {
    name: 'a ping that trickles a byte every 50 ms',
    rules: () => [always({ path: /^\/v2\/$/ }, trickle)],
    message: /connecting to 127\.0\.0\.1:\d+ failed after 2 attempts: 127\.0\.0\.1:\d+ did not answer in time: made no real progress/,
    attempts: { path: /^\/v2\/$/, count: RETRIES + 1 },
  },
  {
    name: 'a ping that accepts and never answers',
    rules: () => [always({ path: /^\/v2\/$/ }, { kind: 'stall', ms: 60_000 })],
    message: /failed after 2 attempts: 127\.0\.0\.1:\d+ did not answer in time: no data for 300 ms/,
    attempts: { path: /^\/v2\/$/, count: RETRIES + 1 },
  },
  {
    name: 'a ping that redirects to itself forever',
    rules: () => [always({ path: /^\/v2\/$/ }, { kind: 'redirect', status: 302, to: (p) => p })],
    message: /127\.0\.0\.1:\d+ redirected GET \/v2\/ more than 3 times .*is there a redirect loop\?/,
    attempts: { path: /^\/v2\/$/, count: 4 },
  },
  {
    name: 'an endless ping body',
    rules: () => [always({ path: /^\/v2\/$/ }, flood())],
    message: /answered GET \/v2\/ \(HTTP 200\) with a body over 64 KiB, the most read for such an answer; stopped reading/,
    attempts: { path: /^\/v2\/$/, count: 1 },
  },
  {
    name: 'a token endpoint that trickles',
    rules: () => [tokenChallenge(), always({ path: /^\/token/ }, trickle)],
    message: /127\.0\.0\.1:\d+ did not answer in time: made no real progress/,
    attempts: { path: /^\/token/, count: RETRIES + 1 },
  },
  {
    // Not a hostile answer but a busy one (auth.docker.io answers 503 at times): retried like the registry.
    name: 'a token endpoint answering 503',
    rules: () => [tokenChallenge(), always({ path: /^\/token/ }, { kind: 'status', status: 503 })],
    message: /authenticating to 127\.0\.0\.1:\d+ failed after \d+ attempts: getting a token on 127\.0\.0\.1:\d+ failed: HTTP 503/,
    attempts: { path: /^\/token/, count: RETRIES + 1 },
  },
  {
    name: 'an endless token answer (over the 1 MiB cap)',
    rules: () => [tokenChallenge(), always({ path: /^\/token/ }, flood())],
    message: /answered GET \/token \(HTTP 200\) with a body over 1 MiB, the most read for such an answer; stopped reading/,
    attempts: { path: /^\/token/, count: 1 },
  },
  {
    name: 'an endless error body on the upload',
    rules: () => [always({ method: 'POST', path: /\/blobs\/uploads\// }, flood(400))],
    message: /answered POST \/v2\/.*\/blobs\/uploads\/ \(HTTP 400\) with a body over 4 MiB/,
  },
  {
    name: 'an endless manifest when verifying',
    rules: () => [always({ method: 'GET', path: /\/manifests\// }, flood())],
    verify: 'light',
    message: /answered GET \/v2\/.*\/manifests\/\S+ \(HTTP 200\) with a body over 4 MiB/,
    attempts: { method: 'GET', path: /\/manifests\//, count: 1 },
  },
  {
    name: 'a manifest that trickles when verifying',
    rules: () => [always({ method: 'GET', path: /\/manifests\// }, trickle)],
    verify: 'light',
    message: /failed after 2 attempts: 127\.0\.0\.1:\d+ did not answer in time: made no real progress/,
  },
  {
    name: 'a blob that goes on past its size when verifying',
    rules: () => [always({ method: 'GET', path: /\/blobs\/sha256:/ }, flood())],
    verify: 'full',
    message: /127\.0\.0\.1:\d+ sent more than the \d+ bytes of blob sha256:[0-9a-f]{64}; stopped reading/,
  },
  {
    name: 'a blob that trickles when verifying',
    rules: () => [always({ method: 'GET', path: /\/blobs\/sha256:/ }, trickle)],
    verify: 'full',
    message: /failed after 2 attempts: 127\.0\.0\.1:\d+ did not answer in time: made no real progress/,
  },
];

describe('hostile answers end the push with one clear error, in bounded time', () => {
  it.each(CASES)(
    '$name',
    async (c) => {
      for (const rule of c.rules()) proxy.addRule(rule);
      const before = proxy.requests.length;
      const started = Date.now();
      const { error } = await pushError(packed, [`${proxy.host}/bounds/c${++n}:1`], options(c.verify));
      const elapsed = Date.now() - started;
      expect(error.message).toMatch(c.message);
      expect(error.message).not.toContain(reg.password as string);
      expect(elapsed).toBeLessThan(BOUND_MS + MARGIN_MS);
      if (c.attempts) {
        const { method, path, count } = c.attempts;
        expect(proxy.requests.slice(before).filter((r) => path.test(r.path) && (!method || r.method === method))).toHaveLength(count);
      }
    },
    20_000,
  );

  it('a 60 KiB body that arrives at 60 KiB/s is real progress and is read whole', async () => {
    // The same deadline must not cut a slow but honest answer: here the ping body takes about 1.1 s, past
    // 2 × request-timeout, and the push goes through (the body is JSON whitespace, which the ping ignores).
    proxy.addRule({
      match: { path: /^\/v2\/$/ },
      fault: { kind: 'drip', chunk: ' '.repeat(6 * 1024), everyMs: 100, totalBytes: 60 * 1024 },
    });
    const { result } = await push(packed, [`${proxy.host}/bounds/slow-honest:1`], options());
    expect(result.pushed).toHaveLength(1);
  }, 20_000);
});

describe('the action', () => {
  it('ends a run against a ping that trickles with one error, within (retries + 1) × 2 × request-timeout', async () => {
    // A byte every 0.4 s: well inside the 1 s idle timeout, so only the deadline can end it.
    proxy.addRule(always({ path: /^\/v2\/$/ }, { kind: 'drip', chunk: '{', everyMs: 400 }));
    const started = Date.now();
    const run = await runAction(
      {
        wasm: FIXTURE_MODULE,
        tags: `${proxy.host}/bounds/action:1`,
        username: reg.username as string,
        password: reg.password as string,
        'request-timeout': '1',
        retries: '1',
      },
      { env: { HOME: '/nonexistent' } },
    );
    const elapsed = Date.now() - started;
    expect(run.code).toBe(1);
    const errors = errorLines(run);
    expect(errors, run.stdout).toHaveLength(1);
    expect(errors[0]).toMatch(/connecting to 127\.0\.0\.1:\d+ failed after 2 attempts: .*did not answer in time: made no real progress/);
    // (1 + 1) × 2 × 1 s, plus node's start-up, back-off and a loaded machine.
    expect(elapsed).toBeLessThan(4000 + 6000);
  }, 30_000);
});
