// A fault-injecting reverse proxy on loopback, in front of the real registry: it answers chosen requests
// with errors, resets or stalls connections, rewrites headers, redirects blob traffic, and records every
// request. The Host header is passed through, so the registry builds upload Locations that point back at
// the proxy and every later request of an upload goes through it too.
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export type Fault =
  | { kind: 'status'; status: number; headers?: Record<string, string>; body?: string }
  | { kind: 'reset-request' }
  | { kind: 'reset-response' }
  | { kind: 'stall'; ms: number }
  | { kind: 'delay'; ms: number }
  | { kind: 'header'; name: string; value: string }
  | { kind: 'redirect'; to: (path: string) => string; status?: 307 | 302 };

export interface FaultRule {
  match: { method?: string; path?: RegExp };
  fault: Fault;
  /** How many matching requests to fault (default 1). */
  times?: number;
}

export interface ProxyRequestRecord {
  method: string;
  path: string;
  status: number | 'reset' | 'stall';
  faulted?: Fault['kind'];
  headers: IncomingMessage['headers'];
}

export interface FaultProxy {
  url: string;
  host: string;
  addRule(rule: FaultRule): void;
  clearRules(): void;
  /** Faults this fraction of the requests no rule faulted, with a seeded PRNG so a run repeats exactly. */
  setRandomFaults(opts: { rate: number; seed: number; kinds: Fault[] } | null): void;
  requests: ProxyRequestRecord[];
  stop(): Promise<void>;
}

/** mulberry32: a tiny deterministic PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function startFaultProxy(upstream: string): Promise<FaultProxy> {
  const up = new URL(upstream);
  const rules: Array<FaultRule & { left: number }> = [];
  const requests: ProxyRequestRecord[] = [];
  let random: { rate: number; next: () => number; kinds: Fault[] } | null = null;
  const sockets = new Set<Socket>();

  const pick = (req: IncomingMessage): Fault | undefined => {
    const path = req.url ?? '/';
    const rule = rules.find(
      (r) => r.left > 0 && (!r.match.method || r.match.method === req.method) && (!r.match.path || r.match.path.test(path)),
    );
    if (rule) {
      rule.left--;
      return rule.fault;
    }
    if (random && random.next() < random.rate) return random.kinds[Math.floor(random.next() * random.kinds.length)];
    return undefined;
  };

  const forward = (req: IncomingMessage, res: ServerResponse, record: ProxyRequestRecord, fault: Fault | undefined) => {
    const upstreamReq = request({ host: up.hostname, port: up.port, method: req.method, path: req.url, headers: req.headers }, (upRes) => {
      const headers = { ...upRes.headers };
      if (fault?.kind === 'header') headers[fault.name.toLowerCase()] = fault.value;
      record.status = upRes.statusCode ?? 0;
      res.writeHead(upRes.statusCode ?? 502, headers);
      if (fault?.kind === 'reset-response') {
        record.status = 'reset';
        // Send the head and a little of the body, then cut the connection.
        let sent = 0;
        upRes.on('data', (c: Buffer) => {
          if (sent === 0) res.write(c.subarray(0, Math.max(1, Math.floor(c.length / 2))));
          sent += c.length;
          req.socket.destroy();
        });
        upRes.on('end', () => req.socket.destroy());
        return;
      }
      upRes.pipe(res);
    });
    upstreamReq.on('error', () => req.socket.destroy());
    req.pipe(upstreamReq);
  };

  const server: Server = createServer((req, res) => {
    const record: ProxyRequestRecord = { method: req.method ?? '', path: req.url ?? '', status: 0, headers: req.headers };
    requests.push(record);
    const fault = pick(req);
    if (fault) record.faulted = fault.kind;
    void (async () => {
      switch (fault?.kind) {
        case 'status': {
          req.resume();
          record.status = fault.status;
          res.writeHead(fault.status, { 'Content-Type': 'application/json', ...fault.headers });
          res.end(fault.body ?? JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: 'injected fault' }] }));
          return;
        }
        case 'reset-request': {
          record.status = 'reset';
          // Take some of the body first, so the client is mid-upload when the connection drops.
          let seen = 0;
          req.on('data', (c: Buffer) => {
            seen += c.length;
            if (seen > 1024) req.socket.destroy();
          });
          req.on('end', () => req.socket.destroy());
          setTimeout(() => req.socket.destroy(), 50);
          return;
        }
        case 'stall':
          record.status = 'stall';
          await sleep(fault.ms);
          req.socket.destroy();
          return;
        case 'delay':
          await sleep(fault.ms);
          return forward(req, res, record, fault);
        case 'redirect':
          req.resume();
          record.status = fault.status ?? 307;
          res.writeHead(fault.status ?? 307, { Location: fault.to(req.url ?? '/'), 'Content-Length': '0' });
          res.end();
          return;
        default:
          return forward(req, res, record, fault);
      }
    })().catch(() => req.socket.destroy());
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    addRule: (rule) => rules.push({ ...rule, left: rule.times ?? 1 }),
    clearRules: () => {
      rules.length = 0;
    },
    setRandomFaults: (opts) => {
      random = opts ? { rate: opts.rate, next: prng(opts.seed), kinds: opts.kinds } : null;
    },
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A second loopback server standing for blob storage behind a redirect: records headers, serves bytes. */
export interface StorageServer {
  url: string;
  requests: Array<{ method: string; path: string; headers: IncomingMessage['headers'] }>;
  stop(): Promise<void>;
}

/** `fetch(path)` gets the real bytes (the test knows how to read the registry); the client never does. */
export async function startStorageServer(fetchBlob: (path: string) => Promise<Buffer>): Promise<StorageServer> {
  const requests: StorageServer['requests'] = [];
  const server = createServer((req, res) => {
    requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers });
    fetchBlob(req.url ?? '/').then(
      (bytes) => {
        res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(bytes.length) });
        res.end(req.method === 'HEAD' ? undefined : bytes);
      },
      () => {
        res.writeHead(404);
        res.end();
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
