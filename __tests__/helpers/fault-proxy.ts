// A fault-injecting reverse proxy for tests: plain HTTP on 127.0.0.1, in front of an upstream
// `http://127.0.0.1:PORT` (the real Distribution registry in the e2e tests). It forwards every request,
// except those a rule or the seeded random generator picks, which it answers with a fault instead.
//
// Forwarding
// - Bodies are streamed both ways with back-pressure (`pipe`), never buffered: blobs may be 256 MiB.
// - Headers are forwarded from `rawHeaders`, so their case, order and repeats (two `WWW-Authenticate`
//   lines stay two lines) survive. Only hop-by-hop headers (`Connection`, `Keep-Alive`, `TE`, `Trailer`,
//   `Upgrade`, `Proxy-Connection` and whatever `Connection` names) are dropped; `Authorization`, `Range`,
//   `Content-Range`, `Docker-Content-Digest`, `Transfer-Encoding`, `Content-Length`... pass untouched.
// - The client's `Host` is passed through unchanged. Distribution builds absolute `Location` URLs from
//   `Host` (or `X-Forwarded-Host`), so it then answers with URLs on the very host the client used (the
//   proxy), and a client that compares hosts before sending credentials sees no host change. Setting
//   `Host` to the upstream's own address would make every Location point past the proxy.
// - Safety net for upstreams that ignore `Host` (the self-test's echo server): an absolute `Location`
//   whose scheme and authority are the upstream's is rewritten to `http://<the client's Host>` followed
//   by the original path and query, byte for byte (upload `_state` tokens are kept exactly). Relative
//   Locations and Locations on other hosts are left alone. `rewriteLocation: false` turns this off.
//
// Faults (see `Fault`)
// - status:         the upstream never sees the request; the body is drained, then the canned answer
//                   (default body: a registry `UNAVAILABLE` error) is sent.
// - reset-request:  reads `afterBytes` (default 16 KiB) of the body, or all of it if it ends first, or
//                   whatever came within 100 ms of silence; then resets the connection (TCP RST). The
//                   upstream never sees the request.
// - reset-response: forwards; sends the status line, headers and part of the body (half the first chunk,
//                   at most `afterBytes`, default 64 KiB), then resets. For an answer without a body
//                   (HEAD, 204, 304, length 0) it sends only a truncated status line, so the cut is
//                   always visible to the client.
// - stall:          says nothing for `ms` (the body is drained), then closes the connection.
// - delay:          waits `ms`, then forwards normally (slow networks, token expiry mid-push).
// - header:         forwards, replacing every copy of one response header with `value`.
// - redirect:       answers `status` (default 307) with `Location: to(path, request)` and an empty body;
//                   see redirect-server.ts for blob storage behind such redirects.
// - drip:           a hostile answer: `status` (default 200) and `headers` at once, then `chunk` (default one
//                   byte) every `everyMs` (0: as fast as the client reads), until `totalBytes` went out, or
//                   forever when it is not given (until the client leaves or `stop()`).
// - respond:        reads the whole request body, then asks `answer` (a registry profile, see
//                   refusal-profiles.ts): a canned answer it returns is sent, `undefined` forwards the request
//                   with the body it read.
//
// Registry profiles (`setProfile`, see registry-profiles.ts): a registry's own upload behaviour layered over
// the upstream. Requests no rule or random draw faulted go to the profile first: it may answer with a fault
// of its own (refusing a PATCH, say), or let the request through and then edit the forwarded answer's
// status and headers (ECR's 201 to a PATCH and its stale Range).
//
// Rules are tried in the order they were added; the first rule whose method (case-insensitive) and path
// regex (tested against path + query) match, and whose `times` is not used up, faults the request.
// Random faults (`setRandomFaults`): every request that no rule faulted draws one number from a seeded
// mulberry32 generator and is faulted when it is below `rate`; a second draw then picks one of `kinds`
// (default `DEFAULT_RANDOM_FAULTS`). So a rate of 0.3 faults about 30 % of the requests no rule faulted,
// and the same seed over the same request sequence faults exactly the same requests.
//
// Nothing here throws into the test process: every stream has an error listener, a client that goes
// away tears down its upstream request, an unreachable upstream gets a 502, and `stop()` clears every
// timer, destroys every connection (client and upstream side) and closes the server.
import {
  Agent,
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { Socket } from 'node:net';
import { listenOnLoopback, trackSockets } from './loopback.js';

export type { StorageServer, StorageRequest, StorageServerOptions, BlobSource, RedirectBlobsOptions } from './redirect-server.js';
export { startStorageServer, redirectBlobsTo } from './redirect-server.js';
export * from './refusal-profiles.js';

/** What a redirect target function learns about the request it redirects. */
export interface RedirectRequest {
  method: string;
  /** Path and query, as the client sent them. */
  path: string;
  headers: IncomingHttpHeaders;
}

export type Fault =
  | { kind: 'status'; status: number; headers?: Record<string, string>; body?: string }
  | { kind: 'reset-request'; afterBytes?: number }
  | { kind: 'reset-response'; afterBytes?: number }
  | { kind: 'stall'; ms: number }
  | { kind: 'delay'; ms: number }
  | { kind: 'header'; name: string; value: string }
  | { kind: 'redirect'; to: (path: string, req: RedirectRequest) => string; status?: 307 | 302 | 303 }
  | { kind: 'drip'; status?: number; headers?: Record<string, string>; chunk?: string; everyMs?: number; totalBytes?: number }
  | { kind: 'respond'; answer: (req: RespondRequest) => CannedAnswer | undefined };

/** A request as a `respond` fault sees it: the whole body read. */
export interface RespondRequest extends RedirectRequest {
  body: Buffer;
}

/** What a registry profile answers instead of the upstream. */
export interface CannedAnswer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

/** What a registry profile sees of a request (path and query, as the client sent them). */
export type ProfileRequest = RedirectRequest;

/** A registry's own behaviour over the upstream's. */
export interface RegistryProfile {
  name: string;
  /** A fault to answer with instead of forwarding, or undefined to forward. */
  answer?(req: ProfileRequest): Fault | undefined;
  /** Edits a forwarded answer: `headers` is the flat [name, value, ...] list (edit it in place); returns the status to send. */
  rewrite?(req: ProfileRequest, status: number, headers: string[]): number;
}

export interface FaultRule {
  match: { method?: string; path?: RegExp };
  fault: Fault;
  /** How many matching requests to fault (default 1; `Infinity` for all of them). */
  times?: number;
}

export interface RandomFaults {
  /** Probability, 0..1, that a request no rule faulted is faulted. */
  rate: number;
  seed: number;
  /** Faults to pick from, uniformly (default `DEFAULT_RANDOM_FAULTS`). */
  kinds?: Fault[];
}

/** Transient faults a well-behaved client must retry through. */
export const DEFAULT_RANDOM_FAULTS: readonly Fault[] = [
  { kind: 'status', status: 503 },
  { kind: 'status', status: 500 },
  {
    kind: 'status',
    status: 429,
    headers: { 'Retry-After': '0' },
    body: JSON.stringify({ errors: [{ code: 'TOOMANYREQUESTS', message: 'injected fault' }] }),
  },
  { kind: 'reset-request' },
  { kind: 'reset-response' },
];

export interface ProxyRequestRecord {
  method: string;
  /** Path and query. */
  path: string;
  /** The status the client was sent; 0 until known (and if the client went away first). */
  status: number | 'reset' | 'stall';
  faulted?: Fault['kind'];
  /** The request's headers as the client sent them. */
  headers: IncomingHttpHeaders;
}

export interface FaultProxy {
  /** `http://127.0.0.1:P` */
  url: string;
  /** `127.0.0.1:P` */
  host: string;
  addRule(rule: FaultRule): void;
  clearRules(): void;
  setRandomFaults(opts: RandomFaults | null): void;
  /** Simulate a registry's behaviour (null: plain forwarding). */
  setProfile(profile: RegistryProfile | null): void;
  /** Every request seen, in arrival order. */
  requests: ProxyRequestRecord[];
  stop(): Promise<void>;
}

export interface FaultProxyOptions {
  /** Rewrite absolute Locations that point at the upstream to point at the proxy (default true). */
  rewriteLocation?: boolean;
}

/** mulberry32: a tiny seeded PRNG, uniform in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade']);

/** Raw header pairs minus hop-by-hop ones, as a flat [name, value, name, value...] list. */
function endToEnd(raw: string[]): string[] {
  const drop = new Set(HOP_BY_HOP);
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].toLowerCase() === 'connection') {
      for (const token of raw[i + 1].split(',')) drop.add(token.trim().toLowerCase());
    }
  }
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    if (!drop.has(raw[i].toLowerCase())) out.push(raw[i], raw[i + 1]);
  }
  return out;
}

/** `http://upstream/x?y` -> `http://<clientHost>/x?y`; anything else unchanged. */
function rewriteLocation(value: string, upstream: URL, clientHost: string): string {
  const m = /^([a-z][a-z0-9+.-]*:)?\/\/([^/?#]*)(.*)$/is.exec(value);
  if (!m) return value; // relative
  const scheme = (m[1] ?? upstream.protocol).toLowerCase();
  let host: string;
  try {
    host = new URL(`${scheme}//${m[2] ?? ''}`).host;
  } catch {
    return value;
  }
  if (scheme !== upstream.protocol || host !== upstream.host) return value;
  return `http://${clientHost}${m[3] ?? ''}`;
}

function resetSocket(socket: Socket): void {
  if (socket.destroyed) return;
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}

export async function startFaultProxy(upstream: string, opts: FaultProxyOptions = {}): Promise<FaultProxy> {
  const up = new URL(upstream);
  if (up.protocol !== 'http:') throw new Error(`the fault proxy forwards to http:// upstreams only, not ${upstream}`);
  const rewrite = opts.rewriteLocation ?? true;
  const rules: Array<{ rule: FaultRule; left: number }> = [];
  const requests: ProxyRequestRecord[] = [];
  let random: { rate: number; next: () => number; kinds: readonly Fault[] } | null = null;
  let profile: RegistryProfile | null = null;
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const agent = new Agent({ keepAlive: true });
  let stopped = false;
  let selfHost = '';

  const later = (ms: number, fn: () => void): NodeJS.Timeout => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
    return t;
  };
  const cancel = (t: NodeJS.Timeout | undefined) => {
    if (t) {
      clearTimeout(t);
      timers.delete(t);
    }
  };

  const pick = (method: string, path: string, request: IncomingMessage): Fault | undefined => {
    for (const entry of rules) {
      const { match } = entry.rule;
      if (entry.left <= 0) continue;
      if (match.method && match.method.toUpperCase() !== method) continue;
      if (match.path) {
        match.path.lastIndex = 0; // a /g or /y regex would otherwise remember where it stopped
        if (!match.path.test(path)) continue;
      }
      entry.left--;
      return entry.rule.fault;
    }
    if (random && random.kinds.length > 0 && random.next() < random.rate) {
      return random.kinds[Math.floor(random.next() * random.kinds.length)];
    }
    return profile?.answer?.({ method, path, headers: request.headers });
  };

  /** Reads and discards the request body, then calls `then` (unless the client went away). */
  const drain = (req: IncomingMessage, then: () => void) => {
    if (req.complete) return then();
    req.once('end', then);
    req.resume();
  };

  const forward = (req: IncomingMessage, res: ServerResponse, record: ProxyRequestRecord, fault: Fault | undefined, body?: Buffer) => {
    const clientHost = req.headers.host ?? selfHost;
    const headers = endToEnd(req.rawHeaders);
    if (req.headers.host === undefined) headers.push('Host', up.host);
    let upRes: IncomingMessage | undefined;
    const upReq = httpRequest({ agent, host: up.hostname, port: up.port, method: req.method, path: req.url, headers });
    upReq.on('error', () => {
      if (res.headersSent || res.destroyed || req.socket.destroyed) {
        req.socket.destroy();
        return;
      }
      record.status = 502;
      res.writeHead(502, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: 'fault proxy: upstream unreachable' }] }));
    });
    // The client went away (or the proxy cut it): stop talking to the upstream for it.
    res.on('close', () => {
      if (!res.writableFinished) {
        upReq.destroy();
        upRes?.destroy();
      }
    });
    req.on('close', () => {
      if (!req.complete) upReq.destroy();
    });

    upReq.on('response', (r) => {
      upRes = r;
      r.on('error', () => {});
      let status = r.statusCode ?? 502;
      let out = endToEnd(r.rawHeaders);
      if (rewrite) {
        for (let i = 0; i < out.length; i += 2) {
          if (out[i].toLowerCase() === 'location') out[i + 1] = rewriteLocation(out[i + 1], up, clientHost);
        }
      }
      if (fault?.kind === 'header') {
        const name = fault.name.toLowerCase();
        out = out.filter((_, i) => (i % 2 === 0 ? out[i] : out[i - 1]).toLowerCase() !== name);
        out.push(fault.name, fault.value);
      }
      let message = r.statusMessage;
      if (profile?.rewrite) {
        const edited = profile.rewrite({ method: req.method ?? '', path: req.url ?? '/', headers: req.headers }, status, out);
        if (edited !== status) message = undefined;
        status = edited;
      }
      record.status = status;

      if (fault?.kind === 'reset-response') {
        record.status = 'reset';
        const socket = req.socket;
        const cut = () => later(20, () => resetSocket(socket));
        const length = r.headers['content-length'];
        if (req.method === 'HEAD' || status === 204 || status === 304 || length === '0') {
          r.destroy();
          const line = `HTTP/1.1 ${status} ${r.statusMessage ?? ''}\r\n`;
          socket.write(line.slice(0, Math.max(9, line.length - 4)), cut);
          return;
        }
        const limit = fault.afterBytes ?? 64 * 1024;
        res.writeHead(status, message, out);
        let done = false;
        r.on('data', (chunk: Buffer) => {
          if (done) return;
          done = true;
          r.destroy();
          res.write(chunk.subarray(0, Math.max(1, Math.min(limit, Math.floor(chunk.length / 2)))), cut);
        });
        r.on('end', () => {
          if (done) return;
          done = true;
          res.flushHeaders();
          cut();
        });
        return;
      }

      if (res.destroyed) {
        r.destroy();
        return;
      }
      res.writeHead(status, message, out);
      r.on('close', () => {
        if (!r.complete) res.destroy(); // the upstream cut its answer short: so do we
      });
      r.pipe(res);
    });

    if (body) upReq.end(body);
    else req.pipe(upReq);
  };

  /** Sends `status` and `headers`, then `chunk` every `everyMs` until `totalBytes` (or forever). */
  const drip = (req: IncomingMessage, res: ServerResponse, record: ProxyRequestRecord, fault: Extract<Fault, { kind: 'drip' }>) => {
    record.status = fault.status ?? 200;
    req.resume();
    res.writeHead(record.status, fault.headers ?? { 'Content-Type': 'application/json' });
    const chunk = Buffer.from(fault.chunk ?? ' ');
    let left = fault.totalBytes ?? Infinity;
    const next = () => {
      if (res.destroyed || stopped) return;
      if (left <= 0) return void res.end();
      const piece = chunk.subarray(0, Math.min(chunk.length, left));
      left -= piece.length;
      const drained = res.write(piece);
      if (fault.everyMs) later(fault.everyMs, next);
      else if (drained) setImmediate(next);
      else res.once('drain', next);
    };
    next();
  };

  /** Reads the whole request, then sends the profile's answer, or forwards with the body read. */
  const respond = (req: IncomingMessage, res: ServerResponse, record: ProxyRequestRecord, fault: Extract<Fault, { kind: 'respond' }>) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const canned = fault.answer({ method: req.method ?? '', path: req.url ?? '/', headers: req.headers, body });
      if (!canned) return forward(req, res, record, undefined, body);
      record.status = canned.status;
      res.writeHead(canned.status, { 'Content-Type': 'application/json', ...canned.headers });
      res.end(canned.body ?? '');
    });
  };

  const answer = (req: IncomingMessage, res: ServerResponse, record: ProxyRequestRecord, fault: Fault | undefined) => {
    switch (fault?.kind) {
      case undefined:
      case 'header':
      case 'reset-response':
        return forward(req, res, record, fault);
      case 'status':
        return drain(req, () => {
          record.status = fault.status;
          res.writeHead(fault.status, { 'Content-Type': 'application/json', ...fault.headers });
          res.end(fault.body ?? JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: 'injected fault' }] }));
        });
      case 'redirect':
        return drain(req, () => {
          const location = fault.to(req.url ?? '/', { method: req.method ?? '', path: req.url ?? '/', headers: req.headers });
          record.status = fault.status ?? 307;
          res.writeHead(record.status, { Location: location, 'Content-Length': '0' });
          res.end();
        });
      case 'reset-request': {
        record.status = 'reset';
        const limit = fault.afterBytes ?? 16 * 1024;
        const socket = req.socket;
        let idle: NodeJS.Timeout | undefined;
        const cut = () => {
          cancel(idle);
          req.removeAllListeners('data');
          resetSocket(socket);
        };
        let seen = 0;
        const arm = () => {
          cancel(idle);
          idle = later(100, cut);
        };
        req.on('data', (chunk: Buffer) => {
          seen += chunk.length;
          if (seen >= limit) cut();
          else arm();
        });
        req.on('end', cut);
        req.on('close', () => cancel(idle));
        arm();
        return;
      }
      case 'stall': {
        record.status = 'stall';
        req.resume();
        const socket = req.socket;
        const t = later(fault.ms, () => socket.destroy());
        socket.once('close', () => cancel(t));
        return;
      }
      case 'delay': {
        // The listener goes when the delay ends: a kept-alive socket carries many delayed requests.
        const onClose = () => cancel(t);
        const t = later(fault.ms, () => {
          req.socket.off('close', onClose);
          if (!req.socket.destroyed) forward(req, res, record, undefined);
        });
        req.socket.once('close', onClose);
        return;
      }
      case 'drip':
        return drip(req, res, record, fault);
      case 'respond':
        return respond(req, res, record, fault);
    }
  };

  const server = createServer((req, res) => {
    req.on('error', () => {});
    res.on('error', () => {});
    const method = req.method ?? '';
    const path = req.url ?? '/';
    const record: ProxyRequestRecord = { method, path, status: 0, headers: req.headers };
    requests.push(record);
    if (stopped) {
      req.socket.destroy();
      return;
    }
    let fault: Fault | undefined;
    try {
      fault = pick(method, path, req);
      if (fault) record.faulted = fault.kind;
      answer(req, res, record, fault);
    } catch (err) {
      // A broken rule (a throwing `to`, an invalid header value) is a test bug: say so, do not crash.
      if (!res.headersSent && !res.destroyed) {
        record.status = 500;
        res.writeHead(500, { 'Content-Type': 'text/plain' });
        res.end(`fault proxy: ${(err as Error).message}`);
      } else {
        req.socket.destroy();
      }
    }
  });
  trackSockets(server, sockets);

  const port = await listenOnLoopback(server);
  selfHost = `127.0.0.1:${port}`;

  let closed: Promise<void> | undefined;
  return {
    url: `http://${selfHost}`,
    host: selfHost,
    addRule: (rule) => {
      rules.push({ rule, left: Math.max(0, rule.times ?? 1) });
    },
    clearRules: () => {
      rules.length = 0;
    },
    setRandomFaults: (o) => {
      if (o && !(o.rate >= 0 && o.rate <= 1)) throw new Error(`random fault rate must be within 0..1, not ${o.rate}`);
      random = o ? { rate: o.rate, next: seededRandom(o.seed), kinds: o.kinds ?? DEFAULT_RANDOM_FAULTS } : null;
    },
    setProfile: (p) => {
      profile = p;
    },
    requests,
    stop: () => {
      closed ??= new Promise<void>((resolve) => {
        stopped = true;
        for (const t of timers) clearTimeout(t);
        timers.clear();
        server.close(() => resolve());
        server.closeAllConnections();
        for (const s of sockets) s.destroy();
        agent.destroy();
      });
      return closed;
    },
  };
}
