// The transport: one HTTP request over node:http(s) with keep-alive, an inactivity timeout and a progress
// deadline, bodies streamed or read up to a cap, and redirects followed here (bounded), so that credentials
// never travel to another host.
import { open } from 'node:fs/promises';
import type { Agent, ClientRequest, IncomingHttpHeaders, IncomingMessage, RequestOptions } from 'node:http';
import { ProgressDeadline, watchDeadline } from './deadline.js';
import { RegistryError } from './errors.js';
import { closeProxyAgents, proxyRoute, type ProxyRoute } from './proxy.js';

/** A request body that can be produced again for a retry or a redirect. */
export type RequestBody =
  | { kind: 'bytes'; bytes: Uint8Array }
  /** A byte range of a file, both ends inclusive. */
  | { kind: 'file'; path: string; start: number; end: number };

export function bodyLength(body: RequestBody | undefined): number {
  if (!body) return 0;
  return body.kind === 'bytes' ? body.bytes.byteLength : body.end - body.start + 1;
}

interface HttpRequest {
  method: string;
  url: URL;
  headers?: Record<string, string>;
  body?: RequestBody;
  /**
   * Abort when the connection is idle this long (connect, upload or download), or when the request (with its
   * redirects) makes no real progress for about twice this long (see deadline.ts).
   */
  timeoutMs: number;
  signal?: AbortSignal;
  /** Called with the response stream of a successful (2xx) answer instead of buffering it. */
  consume?: (res: IncomingMessage) => Promise<void>;
  /** Redirect hops to follow (0: return 3xx responses as they are). */
  maxRedirects?: number;
  /** Which hosts may receive the Authorization header; redirects elsewhere go without it. */
  authorizedOrigin?: string;
  /** The most bytes of a body read into memory (default 4 MiB, as containers/image and oras-go allow). */
  maxBodyBytes?: number;
  /** Throws to refuse a redirect before it is followed. */
  checkRedirect?: (next: URL, from: URL) => void;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The URL that answered, after redirects. */
  url: URL;
  /** The body, up to a cap, unless `consume` took it. */
  body: Buffer;
}

const CERT_PROBLEM = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ALTNAME|HOSTNAME|EXPIRED/;

/** A failure below HTTP: connection refused or reset, DNS, TLS, timeout. */
export class NetworkError extends Error {
  override name = 'NetworkError';
  constructor(
    message: string,
    readonly code: string,
    readonly url: URL,
    /** The proxy the request went through, when it did. */
    readonly proxy?: string,
  ) {
    super(message);
  }

  /** What happened, in words that say what to check, naming the host (and the proxy it went through). */
  describe(): string {
    if (!this.proxy) return this.describeDirect();
    // Through a proxy, a refused connection or an unknown host is the proxy's own: the proxy resolves
    // and connects to the registry, and answers 502 when it cannot.
    if (['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN'].includes(this.code) || this.message.startsWith('the proxy ')) {
      const what = this.message.startsWith('the proxy ') ? this.message : `cannot reach the proxy ${this.proxy} (${this.code})`;
      return `${what} for ${this.url.host}; check HTTPS_PROXY / HTTP_PROXY, or list the host in NO_PROXY`;
    }
    return `${this.describeDirect()} (through the proxy ${this.proxy})`;
  }

  private describeDirect(): string {
    const host = this.url.host;
    if (this.code === 'ENOTFOUND' || this.code === 'EAI_AGAIN')
      return `cannot resolve the host ${this.url.hostname} (${this.code}); check the registry name`;
    if (this.code === 'ECONNREFUSED') return `cannot connect to ${host}: connection refused; is the registry running and the port right?`;
    if (CERT_PROBLEM.test(this.code) || CERT_PROBLEM.test(this.message)) {
      return `TLS failure talking to ${host}: ${this.message} (${this.code}); if it uses a private CA, trust it with NODE_EXTRA_CA_CERTS`;
    }
    if (this.code === 'ETIMEDOUT')
      return `${host} did not answer in time: ${this.message}; raise request-timeout if the network is this slow`;
    if (this.code === BODY_TOO_LARGE || this.code === TOO_MANY_REDIRECTS) return `${host} ${this.message}`;
    return `network error talking to ${host}: ${this.message} (${this.code})`;
  }
}

/** The run was cancelled (SIGINT/SIGTERM). Not a network failure: nothing retries or resumes after it. */
export class Cancelled extends Error {
  override name = 'Cancelled';
  constructor(readonly url: URL) {
    super(`cancelled while talking to ${url.host}`);
  }
}

/** Error codes of the limits this side enforces (neither is retried: the same request would do the same). */
export const BODY_TOO_LARGE = 'ERR_BODY_TOO_LARGE';
export const TOO_MANY_REDIRECTS = 'ERR_TOO_MANY_REDIRECTS';

const MAX_BUFFERED_BODY = 4 * 1024 * 1024;

/** node:http or node:https with its keep-alive agent. */
interface Transport {
  request: (url: URL, options: RequestOptions) => ClientRequest;
  agent: Agent;
}
const transports = new Map<'http:' | 'https:', Transport>();

/**
 * The transport for a scheme, loaded at its first request: a run that pushes nothing (`wasm-image build`,
 * `push: false`) never loads node:http, node:https or TLS.
 */
async function transportFor(url: URL): Promise<Transport> {
  const scheme = url.protocol === 'https:' ? 'https:' : 'http:';
  const module = scheme === 'https:' ? await import('node:https') : await import('node:http');
  // Looked up after the import: requests that start together share one agent, which closeIdleConnections reaches.
  let transport = transports.get(scheme);
  if (!transport) {
    transport = { request: module.request, agent: new module.Agent({ keepAlive: true, maxSockets: 16 }) };
    transports.set(scheme, transport);
  }
  return transport;
}

/** Closes idle keep-alive sockets so the process can exit promptly. */
export function closeIdleConnections(): void {
  for (const { agent } of transports.values()) agent.destroy();
  closeProxyAgents();
}

/**
 * What a proxy's refusal means: a CONNECT (`tunnel`) answered with anything but 200, or a 407 to a
 * forwarded request. 502-504 are the proxy failing to reach the registry (retried); the rest say what to fix.
 */
function proxyRefusal(route: ProxyRoute, url: URL, status: number, tunnel: boolean): Error {
  const what = `the proxy ${route.proxy} (from ${route.variable}) answered HTTP ${status} for ${url.host}`;
  // Some proxies (tinyproxy) answer a CONNECT with bad credentials 401 instead of 407.
  if (status === 407 || (tunnel && status === 401)) {
    const fix = route.authenticated
      ? `it refused the user and password in ${route.variable}; check them (percent-encode special characters)`
      : `it requires authentication; put the user and password in ${route.variable} (http://user:password@proxy:port)`;
    return new RegistryError(`${what}: ${fix}`, status);
  }
  if (status >= 502 && status <= 504) return new NetworkError(`${what}: it could not reach the registry`, 'ECONNRESET', url, route.proxy);
  return new RegistryError(
    `${what}: it refused the connection; ask its administrator to allow ${url.host}, or list the host in NO_PROXY`,
    status,
  );
}

/** A refused CONNECT is the proxy's word, not the registry's: fail the request with what it means. */
function watchTunnel(r: ClientRequest, route: ProxyRoute, url: URL): void {
  r.on('proxyConnect', (connect: { statusCode?: number }) => {
    if (connect.statusCode !== undefined && connect.statusCode !== 200) r.destroy(proxyRefusal(route, url, connect.statusCode, true));
  });
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

export function getHeader(res: HttpResponse, name: string): string | undefined {
  return header(res.headers, name);
}

function once(req: HttpRequest, deadline: ProgressDeadline, route: ProxyRoute | undefined, transport: Transport): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const { url } = req;
    const headers: Record<string, string> = { 'User-Agent': 'wasm-image-action', ...req.headers };
    if (req.body || ['PUT', 'POST', 'PATCH'].includes(req.method)) headers['Content-Length'] = String(bodyLength(req.body));
    let settled = false;
    // Why this side stopped the request (timeout, deadline, cap): reported instead of the reset it causes.
    let reason: NetworkError | undefined;
    const finish = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      unwatch();
      deadline.settle();
      outcome();
    };
    const fail = (err: Error) => finish(() => reject(reason ?? err));
    const r = transport.request(url, { method: req.method, headers, agent: route?.agent ?? transport.agent, signal: req.signal });
    const stop = (why: NetworkError) => {
      reason ??= why;
      r.destroy(why);
    };
    const unwatch = watchDeadline(deadline, () => stop(new NetworkError(deadline.describe(), 'ETIMEDOUT', url, route?.proxy)));
    r.on('socket', (socket) => deadline.track(socket));
    r.setTimeout(req.timeoutMs, () => stop(new NetworkError(`no data for ${req.timeoutMs} ms`, 'ETIMEDOUT', url, route?.proxy)));
    r.on('error', (err: NodeJS.ErrnoException) => {
      if (err instanceof NetworkError || err instanceof RegistryError) return fail(err);
      if (err.name === 'AbortError') return fail(new Cancelled(url));
      fail(new NetworkError(err.message, err.code ?? 'ERR_NETWORK', url, route?.proxy));
    });
    if (route) watchTunnel(r, route, url);
    r.on('response', (res) => {
      const status = res.statusCode ?? 0;
      const done = (body: Buffer) => finish(() => resolve({ status, headers: res.headers, url, body }));
      res.on('error', (err: NodeJS.ErrnoException) => fail(new NetworkError(err.message, err.code ?? 'ECONNRESET', url)));
      if (req.consume && status >= 200 && status < 300) consumeBody(req.consume, res, url, done, fail);
      else bufferBody(req, res, done, fail, stop);
    });
    if (!req.body) {
      r.end();
    } else if (req.body.kind === 'bytes') {
      r.end(req.body.bytes);
    } else {
      writeFileRange(r, req.body).catch((err: Error) => r.destroy(err));
    }
  });
}

function consumeBody(
  consume: (res: IncomingMessage) => Promise<void>,
  res: IncomingMessage,
  url: URL,
  done: (body: Buffer) => void,
  fail: (err: Error) => void,
): void {
  consume(res).then(
    () => done(Buffer.alloc(0)),
    (err: NodeJS.ErrnoException) => {
      res.destroy();
      // A stream failure is a network error (retried); what the consumer found wrong is not.
      fail(err instanceof NetworkError || err.code === undefined ? err : new NetworkError(err.message, err.code, url));
    },
  );
}

/** Reads a body into memory, up to the request's cap: past it, the request stops with a clear error. */
function bufferBody(
  req: HttpRequest,
  res: IncomingMessage,
  done: (body: Buffer) => void,
  fail: (err: Error) => void,
  stop: (why: NetworkError) => void,
): void {
  const cap = req.maxBodyBytes ?? MAX_BUFFERED_BODY;
  const tooLarge = () => stop(bodyTooLarge(req, res.statusCode ?? 0, cap));
  // A HEAD answer's Content-Length is the size of what a GET would send, not a body.
  if (req.method !== 'HEAD' && Number(res.headers['content-length'] ?? 0) > cap) return tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  res.on('data', (c: Buffer) => {
    size += c.length;
    if (size > cap) tooLarge();
    else chunks.push(c);
  });
  res.on('end', () => {
    if (!res.complete) fail(new NetworkError('the response ended early', 'ECONNRESET', req.url));
    else done(Buffer.concat(chunks));
  });
  res.on('aborted', () => fail(new NetworkError('the response was cut off', 'ECONNRESET', req.url)));
}

function bodyTooLarge(req: HttpRequest, status: number, cap: number): NetworkError {
  return new NetworkError(
    `answered ${req.method} ${req.url.pathname} (HTTP ${status}) with a body over ${formatBytes(cap)}, the most read for such an answer; stopped reading`,
    BODY_TOO_LARGE,
    req.url,
  );
}

function formatBytes(n: number): string {
  if (n >= 1024 * 1024 && n % (1024 * 1024) === 0) return `${n / (1024 * 1024)} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} bytes`;
}

/**
 * A pipeline stage for a body streamed to a consumer (a blob being verified): passes at most `limit` bytes and
 * fails at the first byte past it, so a server that sends more than the descriptor says cannot make the reader wait.
 */
export function atMost(limit: number, what: string): (source: AsyncIterable<Buffer>) => AsyncGenerator<Buffer> {
  return async function* (source) {
    let seen = 0;
    for await (const chunk of source) {
      seen += chunk.length;
      if (seen > limit) {
        throw Object.assign(new Error(`sent more than the ${limit} bytes of ${what}; stopped reading`), { code: BODY_TOO_LARGE });
      }
      yield chunk;
    }
  };
}

const WRITE_BUFFER = 512 * 1024;
/** Buffers in flight per upload: enough to keep the socket busy while the next one is read from disk. */
const WRITE_RING = 4;
/** Write buffers are kept for the next request: a chunked upload makes many, and garbage costs memory. */
const bufferPool: Buffer[] = [];

/**
 * Streams a file range into the request through a small ring of reused buffers: a buffer is refilled only
 * after the socket has taken it, so memory stays constant however large the blob (a read stream would
 * allocate a new buffer per chunk and leave them to the garbage collector).
 */
async function writeFileRange(r: ClientRequest, body: { path: string; start: number; end: number }): Promise<void> {
  const fh = await open(body.path, 'r');
  const ring = Array.from({ length: WRITE_RING }, () => ({
    buffer: bufferPool.pop() ?? Buffer.allocUnsafe(WRITE_BUFFER),
    written: Promise.resolve(),
  }));
  let reusable = false;
  try {
    const closed = new Promise<never>((_resolve, reject) => r.once('close', () => reject(new Error('the request closed'))));
    closed.catch(() => undefined);
    let position = body.start;
    for (let i = 0; position <= body.end; i = (i + 1) % WRITE_RING) {
      const slot = ring[i];
      // This buffer's previous write must be done before it is refilled.
      await Promise.race([slot.written, closed]);
      const { bytesRead } = await fh.read(slot.buffer, 0, Math.min(slot.buffer.length, body.end - position + 1), position);
      if (bytesRead === 0) throw new Error(`${body.path} is shorter than expected`);
      position += bytesRead;
      const chunk = slot.buffer.subarray(0, bytesRead);
      slot.written = new Promise<void>((resolve, reject) => r.write(chunk, (err) => (err ? reject(err) : resolve())));
      slot.written.catch(() => undefined);
    }
    await Promise.race([Promise.all(ring.map((s) => s.written)), closed]);
    r.end();
    reusable = true;
  } finally {
    // A buffer may still be queued on a failed socket: only buffers known to be written go back.
    if (reusable) bufferPool.push(...ring.map((s) => s.buffer));
    await fh.close();
  }
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * Sends a request and follows redirects itself. The Authorization header goes only to `authorizedOrigin`
 * (blob storage behind a redirect gets a bare request: S3 refuses two auth mechanisms).
 */
export async function send(req: HttpRequest): Promise<HttpResponse> {
  let current = req;
  // One deadline for the request and all its redirects: a redirect loop cannot restart the clock.
  const deadline = new ProgressDeadline(req.timeoutMs);
  const maxRedirects = req.maxRedirects ?? 5;
  for (let hop = 0; ; hop++) {
    const route = await proxyRoute(current.url, current.timeoutMs);
    const res = await once(current, deadline, route, await transportFor(current.url));
    // A forwarding proxy's 407 (no registry answers it): the proxy wants credentials.
    if (route && res.status === 407) throw proxyRefusal(route, current.url, 407, false);
    const location = getHeader(res, 'location');
    if (!REDIRECTS.has(res.status) || !location || maxRedirects === 0) return res;
    if (hop >= maxRedirects) {
      // Only origin and path: a redirect's query may carry a signature.
      throw new NetworkError(
        `redirected ${req.method} ${req.url.pathname} more than ${maxRedirects} times (the last redirect came from ${current.url.origin}${current.url.pathname}); is there a redirect loop?`,
        TOO_MANY_REDIRECTS,
        req.url,
      );
    }
    const next = new URL(location, current.url);
    req.checkRedirect?.(next, current.url);
    const headers = { ...current.headers };
    if (next.origin !== (req.authorizedOrigin ?? req.url.origin)) delete headers.Authorization;
    let { method, body } = current;
    if (res.status === 303 && method !== 'HEAD') {
      method = 'GET';
      body = undefined;
    }
    current = { ...current, method, body, url: next, headers };
  }
}
