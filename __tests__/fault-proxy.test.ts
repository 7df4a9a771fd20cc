// Self-test of the fault-injection fixtures (helpers/fault-proxy.ts, helpers/redirect-server.ts) against a
// tiny echo server, with plain `fetch` and `http.request` as clients: each fault does what it says, and
// the proxy forwards faithfully and survives clients and upstreams that go away.
import { createHash } from 'node:crypto';
import { createServer, request, type IncomingHttpHeaders, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy.js';
import { redirectBlobsTo, startStorageServer, type StorageServer } from './helpers/redirect-server.js';

const MiB = 1024 * 1024;
const BIG = Buffer.alloc(10 * MiB);
for (let i = 0; i < BIG.length; i += 4) BIG.writeUInt32LE(i, i);
const BIG_DIGEST = `sha256:${createHash('sha256').update(BIG).digest('hex')}`;
const DIGEST = `sha256:${'ab'.repeat(32)}`;

interface Seen {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  bodyBytes: number;
  /** Resolves when the upstream's answer closes: true if it was sent in full. */
  closed: Promise<boolean>;
}

// The upstream: echoes what it got as JSON, with a Location on itself and a Docker-Content-Digest.
let upstream: Server;
let upstreamUrl: string;
const seen: Seen[] = [];
let releaseDrip: () => void = () => {};
let dripReleased: Promise<void> = Promise.resolve();
let streamFirstData: Promise<void> = Promise.resolve();
let onStreamFirstData: () => void = () => {};
const armDrip = () => {
  dripReleased = new Promise((r) => (releaseDrip = r));
  streamFirstData = new Promise((r) => (onStreamFirstData = r));
};

let proxy: FaultProxy;

beforeAll(async () => {
  upstream = createServer((req, res) => {
    const closed = new Promise<boolean>((r) => res.on('close', () => r(res.writableFinished)));
    const s: Seen = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, bodyBytes: 0, closed };
    seen.push(s);
    if (req.url === '/big') {
      res.writeHead(200, { 'Content-Length': String(BIG.length), 'Docker-Content-Digest': BIG_DIGEST });
      res.end(req.method === 'HEAD' ? undefined : BIG);
      return;
    }
    if (req.url === '/drip') {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.write('first');
      void dripReleased.then(() => res.end('rest'));
      return;
    }
    req.on('data', (c: Buffer) => {
      if (s.bodyBytes === 0 && req.url === '/stream') onStreamFirstData();
      s.bodyBytes += c.length;
    });
    req.on('end', () => {
      const location =
        req.url === '/relative'
          ? '/v2/x/blobs/uploads/u2?_state=rel'
          : req.url === '/elsewhere'
            ? 'http://127.0.0.1:1/v2/x/blobs/uploads/u3'
            : `${upstreamUrl}/v2/x/blobs/uploads/u1?_state=a%2Bb%2F%3D%3D&x=1`;
      res.setHeader('WWW-Authenticate', ['Bearer realm="http://127.0.0.1:1/token"', 'Basic realm="r"']);
      res.writeHead(req.method === 'PUT' ? 201 : 202, {
        'Content-Type': 'application/json',
        Location: location,
        'Docker-Content-Digest': DIGEST,
        'Content-Range': '0-99',
      });
      res.end(JSON.stringify({ method: req.method, path: req.url, bodyBytes: s.bodyBytes, headers: req.headers }));
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  proxy = await startFaultProxy(upstreamUrl);
});

afterAll(async () => {
  releaseDrip();
  await proxy?.stop();
  upstream.closeAllConnections();
  await new Promise<void>((r) => upstream.close(() => r()));
});

beforeEach(() => {
  proxy.clearRules();
  proxy.setRandomFaults(null);
  armDrip();
});

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
}

/** One request on its own connection; rejects on any network error. Bounded by `timeoutMs`. */
function send(
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: Buffer; timeoutMs?: number } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: opts.method ?? 'GET', headers: opts.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks) }),
      );
    });
    req.setTimeout(opts.timeoutMs ?? 5000, () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
    req.end(opts.body);
  });
}

const json = (a: Answer) =>
  JSON.parse(a.body.toString('utf8')) as { method: string; path: string; bodyBytes: number; headers: IncomingHttpHeaders };
const last = () => proxy.requests[proxy.requests.length - 1];
const seenPath = (path: string) => seen.filter((s) => s.path === path);

describe('forwarding', () => {
  it('passes headers through both ways, Host unchanged, repeated headers kept', async () => {
    const a = await send(`${proxy.url}/v2/`, {
      headers: { Authorization: 'Bearer secret-token', Range: 'bytes=0-9', 'X-Custom': 'kept' },
    });
    expect(a.status).toBe(202);
    const echo = json(a);
    expect(echo.headers.host).toBe(proxy.host);
    expect(echo.headers.authorization).toBe('Bearer secret-token');
    expect(echo.headers.range).toBe('bytes=0-9');
    expect(echo.headers['x-custom']).toBe('kept');
    expect(a.headers['docker-content-digest']).toBe(DIGEST);
    expect(a.headers['content-range']).toBe('0-99');
    const www = a.rawHeaders.filter((_, i) => i % 2 === 1 && a.rawHeaders[i - 1]?.toLowerCase() === 'www-authenticate');
    expect(www).toEqual(['Bearer realm="http://127.0.0.1:1/token"', 'Basic realm="r"']);
    expect(last()).toMatchObject({ method: 'GET', path: '/v2/', status: 202 });
    expect(last()?.faulted).toBeUndefined();
    expect(last()?.headers.authorization).toBe('Bearer secret-token');
  });

  it('rewrites absolute Locations on the upstream to the host the client used, keeping the query exactly', async () => {
    const a = await send(`${proxy.url}/v2/x/blobs/uploads/`, { method: 'POST' });
    expect(a.headers.location).toBe(`${proxy.url}/v2/x/blobs/uploads/u1?_state=a%2Bb%2F%3D%3D&x=1`);
    const port = proxy.host.split(':')[1];
    const b = await send(`${proxy.url}/v2/x/blobs/uploads/`, { method: 'POST', headers: { Host: `localhost:${port}` } });
    expect(b.headers.location).toBe(`http://localhost:${port}/v2/x/blobs/uploads/u1?_state=a%2Bb%2F%3D%3D&x=1`);
    expect((await send(`${proxy.url}/relative`, { method: 'POST' })).headers.location).toBe('/v2/x/blobs/uploads/u2?_state=rel');
    expect((await send(`${proxy.url}/elsewhere`, { method: 'POST' })).headers.location).toBe('http://127.0.0.1:1/v2/x/blobs/uploads/u3');

    const plain = await startFaultProxy(upstreamUrl, { rewriteLocation: false });
    try {
      const c = await send(`${plain.url}/v2/x/blobs/uploads/`, { method: 'POST' });
      expect(c.headers.location).toBe(`${upstreamUrl}/v2/x/blobs/uploads/u1?_state=a%2Bb%2F%3D%3D&x=1`);
    } finally {
      await plain.stop();
    }
  });

  it('streams large bodies both ways, without waiting for their end', async () => {
    const up = Buffer.alloc(8 * MiB, 7);
    const put = await fetch(`${proxy.url}/v2/x/blobs/uploads/u1?digest=${DIGEST}`, {
      method: 'PUT',
      body: up,
      signal: AbortSignal.timeout(5000),
    });
    expect(put.status).toBe(201);
    expect(((await put.json()) as { bodyBytes: number }).bodyBytes).toBe(8 * MiB);

    const get = await fetch(`${proxy.url}/big`, { signal: AbortSignal.timeout(5000) });
    const bytes = Buffer.from(await get.arrayBuffer());
    expect(bytes.length).toBe(BIG.length);
    expect(`sha256:${createHash('sha256').update(bytes).digest('hex')}`).toBe(get.headers.get('docker-content-digest'));

    // The response: the client reads the first chunk while the upstream is still holding the rest back.
    const drip = await fetch(`${proxy.url}/drip`, { signal: AbortSignal.timeout(5000) });
    const reader = (drip.body as ReadableStream<Uint8Array>).getReader();
    expect(Buffer.from((await reader.read()).value ?? []).toString()).toBe('first');
    releaseDrip();
    let rest = '';
    for (let r = await reader.read(); !r.done; r = await reader.read()) rest += Buffer.from(r.value).toString();
    expect(rest).toBe('rest');

    // The request: the upstream sees the first bytes while the client has not finished sending.
    const answer = new Promise<number>((resolve, reject) => {
      const req = request(`${proxy.url}/stream`, { method: 'PUT', agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.setTimeout(5000, () => req.destroy(new Error('client timeout')));
      req.on('error', reject);
      req.write(Buffer.alloc(64 * 1024, 1));
      void streamFirstData.then(() => req.end(Buffer.alloc(1000, 2)));
    });
    expect(await answer).toBe(201);
    expect(seenPath('/stream')[0]?.bodyBytes).toBe(64 * 1024 + 1000);
  });

  it('answers 502 when the upstream is gone, and survives clients that leave mid-answer', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const dead = await startFaultProxy(`http://127.0.0.1:${port}`);
    try {
      const a = await send(`${dead.url}/v2/`);
      expect(a.status).toBe(502);
      expect(dead.requests[0]?.status).toBe(502);
    } finally {
      await dead.stop();
    }

    // A client that hangs up after the first chunk: the proxy lets go of the upstream answer too.
    await new Promise<void>((resolve, reject) => {
      const req = request(`${proxy.url}/drip`, { agent: false }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', () => {});
      req.setTimeout(5000, () => reject(new Error('no first chunk')));
      req.end();
    });
    expect(await within(1000, (seenPath('/drip').at(-1) as Seen).closed), 'the upstream answer was cut short').toBe(false);
    // A client that hangs up during a delay and during a stall.
    proxy.addRule({ match: { path: /^\/delayed$/ }, fault: { kind: 'delay', ms: 200 } });
    proxy.addRule({ match: { path: /^\/stalled$/ }, fault: { kind: 'stall', ms: 200 } });
    await expect(fetch(`${proxy.url}/delayed`, { signal: AbortSignal.timeout(50) })).rejects.toThrow();
    await expect(fetch(`${proxy.url}/stalled`, { signal: AbortSignal.timeout(50) })).rejects.toThrow();
    await new Promise((r) => setTimeout(r, 300));
    expect(seenPath('/delayed')).toEqual([]);
    expect((await send(`${proxy.url}/v2/`)).status).toBe(202);
  });
});

/** `p`, or a rejection after `ms`. */
function within<T>(ms: number, p: Promise<T>): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error(`not within ${ms} ms`)), ms)));
  return Promise.race([p, timeout]).finally(() => clearTimeout(t));
}

/** Collects a response until it ends or breaks; never rejects once the head has arrived. */
function readUntilBroken(
  url: string,
  method = 'GET',
): Promise<{ head?: IncomingMessage; bytes: number; complete: boolean; error?: string }> {
  return new Promise((resolve) => {
    let bytes = 0;
    let head: IncomingMessage | undefined;
    let error: string | undefined;
    const req = request(url, { method, agent: false }, (res) => {
      head = res;
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('error', () => {});
    });
    req.setTimeout(5000, () => req.destroy(new Error('client timeout')));
    req.on('error', (err: NodeJS.ErrnoException) => (error ??= err.code ?? err.message));
    // 'close' comes last, after the response's own 'close' when there was one.
    req.on('close', () => setImmediate(() => resolve({ head, bytes, complete: head?.complete ?? false, error })));
    req.end();
  });
}

describe('faults', () => {
  it('status: a canned answer (429 + Retry-After, 500 HTML) the upstream never sees; times counts down', async () => {
    proxy.addRule({
      match: { method: 'head', path: /\/blobs\/sha256:/ },
      fault: { kind: 'status', status: 429, headers: { 'Retry-After': '2' } },
      times: 2,
    });
    proxy.addRule({
      match: { method: 'GET', path: /^\/html$/ },
      fault: { kind: 'status', status: 500, headers: { 'Content-Type': 'text/html' }, body: '<html>oops</html>' },
    });
    const url = `${proxy.url}/v2/x/blobs/${DIGEST}`;
    for (let i = 0; i < 2; i++) {
      const a = await send(url, { method: 'HEAD' });
      expect(a.status).toBe(429);
      expect(a.headers['retry-after']).toBe('2');
    }
    expect((await send(url, { method: 'HEAD' })).status).toBe(202);
    expect(seen.filter((s) => s.path === `/v2/x/blobs/${DIGEST}`)).toHaveLength(1);
    expect(proxy.requests.slice(-3).map((r) => [r.status, r.faulted])).toEqual([
      [429, 'status'],
      [429, 'status'],
      [202, undefined],
    ]);

    const html = await fetch(`${proxy.url}/html`, { signal: AbortSignal.timeout(5000) });
    expect(html.status).toBe(500);
    expect(html.headers.get('content-type')).toBe('text/html');
    expect(await html.text()).toBe('<html>oops</html>');
    proxy.addRule({ match: { path: /^\/plain$/ }, fault: { kind: 'status', status: 503 } });
    const json503 = await send(`${proxy.url}/plain`);
    expect(json503.status).toBe(503);
    expect(JSON.parse(json503.body.toString())).toEqual({ errors: [{ code: 'UNAVAILABLE', message: 'injected fault' }] });
    expect(seenPath('/html')).toEqual([]);
  });

  it('reset-request: cuts an 8 MiB upload part way; the upstream never sees it', async () => {
    proxy.addRule({ match: { method: 'PUT' }, fault: { kind: 'reset-request' } });
    const path = `/v2/x/blobs/uploads/reset?digest=${DIGEST}`;
    const err = await send(`${proxy.url}${path}`, { method: 'PUT', body: Buffer.alloc(8 * MiB, 3) }).then(
      () => 'answered',
      (e: NodeJS.ErrnoException) => e.code ?? e.message,
    );
    expect(['ECONNRESET', 'EPIPE']).toContain(err);
    expect(last()).toMatchObject({ method: 'PUT', path, status: 'reset', faulted: 'reset-request' });
    expect(seenPath(path)).toEqual([]);
    // And with fetch, as the action's client would see it.
    proxy.addRule({ match: { method: 'PUT' }, fault: { kind: 'reset-request' } });
    await expect(
      fetch(`${proxy.url}${path}`, { method: 'PUT', body: Buffer.alloc(8 * MiB), signal: AbortSignal.timeout(5000) }),
    ).rejects.toThrow(/fetch failed/);
    // A request without a body is reset at once.
    proxy.addRule({ match: { method: 'GET' }, fault: { kind: 'reset-request' } });
    expect(await send(`${proxy.url}/v2/`).catch((e: NodeJS.ErrnoException) => e.code)).toBe('ECONNRESET');
    // The next upload goes through.
    expect((await send(`${proxy.url}${path}`, { method: 'PUT', body: Buffer.alloc(MiB) })).status).toBe(201);
  });

  it('reset-response: the status, headers and part of the body arrive, then the connection dies', async () => {
    proxy.addRule({ match: { path: /^\/big$/ }, fault: { kind: 'reset-response' }, times: 2 });
    const got = await readUntilBroken(`${proxy.url}/big`);
    expect(got.head?.statusCode).toBe(200);
    expect(got.head?.headers['content-length']).toBe(String(BIG.length));
    expect(got.head?.headers['docker-content-digest']).toBe(BIG_DIGEST);
    expect(got.bytes).toBeGreaterThan(0);
    expect(got.bytes).toBeLessThanOrEqual(64 * 1024);
    expect(got.complete).toBe(false);
    expect(last()).toMatchObject({ path: '/big', status: 'reset', faulted: 'reset-response' });
    expect(seenPath('/big').at(-1)?.method, 'the upstream did answer').toBe('GET');

    // Without a body (HEAD) the status line itself is cut.
    const head = await readUntilBroken(`${proxy.url}/big`, 'HEAD');
    expect(head.head).toBeUndefined();
    expect(head.error).toBeDefined();
    expect(seenPath('/big').at(-1)?.method).toBe('HEAD');

    const whole = await readUntilBroken(`${proxy.url}/big`);
    expect([whole.bytes, whole.complete]).toEqual([BIG.length, true]);
  });

  it('stall: silence past the client timeout, then a closed connection', async () => {
    const upstreamBefore = seenPath('/v2/').length;
    proxy.addRule({ match: { path: /^\/v2\/$/ }, fault: { kind: 'stall', ms: 5000 } });
    const err = await fetch(`${proxy.url}/v2/`, { signal: AbortSignal.timeout(300) }).catch((e: Error) => e);
    // A TimeoutError, not a reset: the client's 300 ms timeout ended it while the proxy still held the request.
    expect((err as Error).name).toBe('TimeoutError');
    expect(last()).toMatchObject({ status: 'stall', faulted: 'stall' });

    proxy.addRule({ match: { path: /^\/v2\/$/ }, fault: { kind: 'stall', ms: 300 } });
    const t0 = Date.now();
    const code = await send(`${proxy.url}/v2/`, { timeoutMs: 3000 }).then(
      () => 'answered',
      (e: NodeJS.ErrnoException) => e.code ?? e.message,
    );
    expect(Date.now() - t0).toBeGreaterThanOrEqual(280);
    expect(code).toBe('ECONNRESET'); // "socket hang up": closed without an answer
    expect(seenPath('/v2/').length, 'a stalled request never reaches the upstream').toBe(upstreamBefore);
  });

  it('drip: the status and headers at once, then the chunk at the pace asked, up to totalBytes', async () => {
    proxy.addRule({
      match: { path: /^\/v2\/$/ },
      fault: { kind: 'drip', status: 202, headers: { 'X-Drip': '1' }, chunk: 'abc', everyMs: 50, totalBytes: 8 },
    });
    const started = Date.now();
    const a = await send(`${proxy.url}/v2/`);
    expect(a.status).toBe(202);
    expect(a.headers['x-drip']).toBe('1');
    expect(a.body.toString()).toBe('abcabcab');
    expect(Date.now() - started, 'three pieces, 50 ms apart').toBeGreaterThanOrEqual(90);
    expect(last()).toMatchObject({ status: 202, faulted: 'drip' });

    // Endless and fast: the client decides when it has had enough; stop() ends it too.
    proxy.addRule({ match: { path: /^\/v2\/$/ }, fault: { kind: 'drip', chunk: 'x'.repeat(1024), everyMs: 0 } });
    const res = await fetch(`${proxy.url}/v2/`, { signal: AbortSignal.timeout(5000) });
    let got = 0;
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      got += chunk.length;
      if (got > 4 * MiB) break;
    }
    expect(got).toBeGreaterThan(4 * MiB);
  });

  it('respond: a profile reads the body and answers, or forwards the request with the body it read', async () => {
    const bodies: string[] = [];
    proxy.addRule({
      match: { method: 'PUT', path: /\/manifests\// },
      times: 2,
      fault: {
        kind: 'respond',
        answer: ({ body }) => {
          bodies.push(body.toString());
          return body.toString() === 'refuse'
            ? { status: 400, body: '{"errors":[{"code":"MANIFEST_INVALID","message":"no"}]}' }
            : undefined;
        },
      },
    });
    const refused = await send(`${proxy.url}/v2/x/manifests/1`, { method: 'PUT', body: Buffer.from('refuse') });
    expect(refused.status).toBe(400);
    expect(refused.body.toString()).toContain('MANIFEST_INVALID');
    const forwarded = await send(`${proxy.url}/v2/x/manifests/1`, { method: 'PUT', body: Buffer.from('{"ok":true}') });
    expect(forwarded.status).toBe(201);
    expect(json(forwarded).bodyBytes, 'the upstream got the body the profile read').toBe(11);
    expect(bodies).toEqual(['refuse', '{"ok":true}']);
  });

  it('header: overwrites one response header, everything else intact', async () => {
    const wrong = `sha256:${'0'.repeat(64)}`;
    proxy.addRule({
      match: { method: 'PUT', path: /\/manifests\// },
      fault: { kind: 'header', name: 'docker-content-digest', value: wrong },
    });
    const a = await send(`${proxy.url}/v2/x/manifests/1`, { method: 'PUT', body: Buffer.from('{}') });
    expect(a.status).toBe(201);
    expect(a.headers['docker-content-digest']).toBe(wrong);
    expect(a.rawHeaders.filter((h) => h.toLowerCase() === 'docker-content-digest')).toHaveLength(1);
    expect(a.headers.location).toBe(`${proxy.url}/v2/x/blobs/uploads/u1?_state=a%2Bb%2F%3D%3D&x=1`);
    expect(a.headers['content-range']).toBe('0-99');
    expect(json(a).bodyBytes).toBe(2);
    expect(last()).toMatchObject({ status: 201, faulted: 'header' });
  });

  it('redirect: blob requests go to the storage host, which records what it gets and serves the bytes', async () => {
    let storage: StorageServer | undefined;
    try {
      storage = await startStorageServer({ upstream: upstreamUrl });
      for (const rule of redirectBlobsTo(storage, { uploads: true })) proxy.addRule(rule);
      const blobPath = `/v2/x/blobs/${DIGEST}`;

      // GET: 307 to <storage><path>; followed without Authorization, storage fetches it from the upstream.
      const a = await send(`${proxy.url}${blobPath}`, { headers: { Authorization: 'Basic c2VjcmV0' } });
      expect(a.status).toBe(307);
      expect(a.headers.location).toBe(`${storage.url}${blobPath}`);
      const b = await send(a.headers.location as string, { headers: { Accept: 'application/octet-stream' } });
      expect(b.status).toBe(202);
      expect(json(b)).toMatchObject({ method: 'GET', path: blobPath });
      expect(json(b).headers.authorization).toBeUndefined();
      expect(storage.requests.at(-1)).toMatchObject({ method: 'GET', path: blobPath, bodyBytes: 0 });
      expect(storage.requests.at(-1)?.headers.authorization).toBeUndefined();
      // The recorder does see credentials that are sent, so a test asserting their absence means it.
      await send(`${storage.url}${blobPath}`, { headers: { Authorization: 'Bearer leaked' } });
      expect(storage.requests.at(-1)?.headers.authorization).toBe('Bearer leaked');

      // HEAD is redirected too; the POST that opens an upload is not.
      expect((await send(`${proxy.url}${blobPath}`, { method: 'HEAD' })).status).toBe(307);
      expect((await send(`${proxy.url}/v2/x/blobs/uploads/`, { method: 'POST' })).status).toBe(202);

      // An upload PUT redirected with 307 is sent again, body and all, to storage, which keeps the bytes.
      const bytes = Buffer.alloc(MiB, 9);
      const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
      const uploadPath = `/v2/x/blobs/uploads/u1?_state=s&digest=${digest}`;
      const c = await send(`${proxy.url}${uploadPath}`, { method: 'PUT', body: bytes });
      expect(c.status).toBe(307);
      expect((await send(c.headers.location as string, { method: 'PUT', body: bytes })).status).toBe(201);
      expect(storage.requests.at(-1)).toMatchObject({ method: 'PUT', path: uploadPath, bodyBytes: MiB, bodyDigest: digest });
      expect(storage.get(uploadPath)?.equals(bytes)).toBe(true);
      expect((await send(`${storage.url}/v2/x/blobs/uploads/u1`)).body.equals(bytes)).toBe(true);

      // Seeded content, and a 302 / 303 variant.
      storage.put('/cdn/blob', Buffer.from('seeded'));
      expect((await send(`${storage.url}/cdn/blob?sig=1`)).body.toString()).toBe('seeded');
      proxy.clearRules();
      const target = storage.url;
      proxy.addRule({
        match: { path: /^\/cdn\// },
        fault: { kind: 'redirect', status: 303, to: (p, req) => `${target}${p.split('?')[0]}?m=${req.method}` },
      });
      const d = await fetch(`${proxy.url}/cdn/blob`, { signal: AbortSignal.timeout(5000) });
      expect([d.status, d.url, await d.text()]).toEqual([200, `${target}/cdn/blob?m=GET`, 'seeded']);
    } finally {
      await storage?.stop();
    }
  });
});

describe('rules and random faults', () => {
  it('first matching rule with uses left wins; Infinity never runs out; clearRules forgets them', async () => {
    proxy.addRule({ match: { path: /^\/r/ }, fault: { kind: 'status', status: 418 } });
    proxy.addRule({ match: { method: 'GET', path: /^\/r/g }, fault: { kind: 'status', status: 409 }, times: Infinity });
    const codes: number[] = [];
    for (let i = 0; i < 4; i++) codes.push((await send(`${proxy.url}/r${i}`)).status);
    expect(codes).toEqual([418, 409, 409, 409]);
    expect((await send(`${proxy.url}/r9`, { method: 'POST' })).status).toBe(202);
    proxy.clearRules();
    expect((await send(`${proxy.url}/r0`)).status).toBe(202);
  });

  it('rate 0.3 over 100 requests faults about 30, the same ones for the same seed', async () => {
    const run = async (seed: number) => {
      proxy.setRandomFaults({ rate: 0.3, seed });
      const from = proxy.requests.length;
      let failed = 0;
      for (let i = 0; i < 100; i++) {
        try {
          const r = await fetch(`${proxy.url}/rand/${i}`, { signal: AbortSignal.timeout(2000) });
          await r.arrayBuffer(); // a reset-response breaks the body, not the head
          if (r.status !== 202) failed++;
        } catch {
          failed++;
        }
      }
      const records = proxy.requests.slice(from);
      expect(records).toHaveLength(100);
      const faulted = records.flatMap((r, i) => (r.faulted ? [`${i}:${r.faulted}`] : []));
      expect(failed).toBe(faulted.length);
      return faulted;
    };
    const first = await run(1234);
    expect(first.length).toBeGreaterThanOrEqual(18);
    expect(first.length).toBeLessThanOrEqual(42);
    expect(new Set(first.map((f) => f.split(':')[1])).size).toBeGreaterThanOrEqual(3);
    expect(await run(1234)).toEqual(first);
    expect(await run(99)).not.toEqual(first);
  });

  it('a request a rule faulted is never also random-faulted, and draws nothing from the generator', async () => {
    const pattern = async (withRules: boolean) => {
      proxy.clearRules();
      if (withRules) proxy.addRule({ match: { path: /^\/ruled/ }, fault: { kind: 'status', status: 418 }, times: Infinity });
      proxy.setRandomFaults({ rate: 0.5, seed: 7, kinds: [{ kind: 'status', status: 503 }] });
      const out: number[] = [];
      for (let i = 0; i < 20; i++) {
        if (withRules) expect((await send(`${proxy.url}/ruled`)).status).toBe(418);
        out.push((await send(`${proxy.url}/free`)).status);
      }
      return out;
    };
    const plain = await pattern(false);
    expect(new Set(plain)).toEqual(new Set([202, 503]));
    expect(await pattern(true)).toEqual(plain);
    expect(proxy.requests.filter((r) => r.path === '/ruled').every((r) => r.status === 418)).toBe(true);
    expect(() => proxy.setRandomFaults({ rate: 1.5, seed: 1 })).toThrow(/rate/);
  });

  it('stop() ends stalls, delays and answers in flight at once', async () => {
    const p = await startFaultProxy(upstreamUrl);
    p.addRule({ match: { path: /^\/v2\/$/ }, fault: { kind: 'stall', ms: 30_000 } });
    p.addRule({ match: { path: /^\/slow$/ }, fault: { kind: 'delay', ms: 30_000 } });
    const outcomes = Promise.all(
      [`${p.url}/v2/`, `${p.url}/slow`, `${p.url}/drip`].map((u) =>
        send(u, { timeoutMs: 10_000 }).then(
          () => 'answered',
          () => 'cut',
        ),
      ),
    );
    await new Promise((r) => setTimeout(r, 200));
    const t0 = Date.now();
    await p.stop();
    expect(await outcomes).toEqual(['cut', 'cut', 'cut']);
    // Cut by stop(), well before the clients' own 10 s timeouts would have cut them (no tight bound: slow machines).
    expect(Date.now() - t0).toBeLessThan(5000);
    await p.stop(); // idempotent
  });
});
