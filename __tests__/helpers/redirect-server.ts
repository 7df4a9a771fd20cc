// Blob storage on "another host", for redirect tests. Registries such as Docker Hub, GHCR and ECR answer a
// blob GET/HEAD (and some upload requests) with a 307 to a CDN or S3 URL; a client must follow it and must
// never send the registry's `Authorization` there. Here the fault proxy does the redirecting (a
// `{ kind: 'redirect' }` fault, conveniently built by `redirectBlobsTo`) and a second loopback server,
// on its own port, plays the storage host.
//
// The design kept simple on purpose: `redirectBlobsTo` points the Location at
// `<storage url><the registry path and query>`, so the storage server knows which blob it is asked for
// without any shared state. It answers:
// - PUT / PATCH / POST: stores the body in memory under the path (PUT and POST replace, PATCH appends)
//   and answers 201 (PUT, POST) or 202 (PATCH) with an empty body.
// - GET / HEAD: what it holds for the path (seeded with `put(path, bytes)` or uploaded earlier); else
//   `fetchBlob(path)` when given; else, when `upstream` is given, the same path fetched from the
//   upstream registry, streamed, anonymously (only `Accept` and `Range` are passed on: the test that uses
//   this runs an anonymous registry, or supplies `fetchBlob` with its own credentials); else 404.
// Every request is recorded with its headers, so a test can assert that no `Authorization` arrived.
import { createHash } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { FaultRule } from './fault-proxy.js';
import { listenOnLoopback, trackSockets } from './loopback.js';

export interface StorageRequest {
  method: string;
  /** Path and query. */
  path: string;
  headers: IncomingHttpHeaders;
  /** Bytes of request body received. */
  bodyBytes: number;
  /** `sha256:<hex>` of the request body, for requests that had one. */
  bodyDigest?: string;
}

export interface StorageServer {
  url: string;
  requests: StorageRequest[];
  /** Serves `bytes` for GET/HEAD of `path` (path only; a query is ignored). */
  put(path: string, bytes: Buffer): void;
  /** What the server holds for a path, uploaded or seeded. */
  get(path: string): Buffer | undefined;
  stop(): Promise<void>;
}

/** Produces a blob's bytes for a path, or undefined (or a rejection) for 404. */
export type BlobSource = (path: string) => Promise<Buffer | undefined>;

export interface StorageServerOptions {
  /** `http://127.0.0.1:PORT` of an anonymous registry to read blobs from when the server holds none. */
  upstream?: string;
  fetchBlob?: BlobSource;
}

const pathOnly = (p: string) => p.split('?')[0];

export async function startStorageServer(opts: StorageServerOptions | BlobSource = {}): Promise<StorageServer> {
  const { upstream, fetchBlob } = typeof opts === 'function' ? { upstream: undefined, fetchBlob: opts } : opts;
  const up = upstream ? new URL(upstream) : undefined;
  const objects = new Map<string, Buffer>();
  const requests: StorageRequest[] = [];
  const sockets = new Set<Socket>();

  const server = createServer((req, res) => {
    req.on('error', () => {});
    res.on('error', () => {});
    const record: StorageRequest = { method: req.method ?? '', path: req.url ?? '/', headers: req.headers, bodyBytes: 0 };
    requests.push(record);
    const key = pathOnly(record.path);
    const hash = createHash('sha256');
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      record.bodyBytes += c.length;
      hash.update(c);
      chunks.push(c);
    });
    req.on('end', () => {
      if (record.bodyBytes > 0) record.bodyDigest = `sha256:${hash.digest('hex')}`;
      const body = Buffer.concat(chunks);
      chunks.length = 0;
      const send = (status: number, bytes?: Buffer, headers: OutgoingHttpHeaders = {}) => {
        if (res.destroyed) return;
        res.writeHead(status, { 'Content-Length': String(bytes?.length ?? 0), ...headers });
        res.end(req.method === 'HEAD' ? undefined : bytes);
      };
      switch (req.method) {
        case 'PUT':
        case 'POST':
          objects.set(key, body);
          return send(201);
        case 'PATCH':
          objects.set(key, Buffer.concat([objects.get(key) ?? Buffer.alloc(0), body]));
          return send(202, undefined, { Range: `0-${(objects.get(key) as Buffer).length - 1}` });
        case 'GET':
        case 'HEAD': {
          const held = objects.get(key);
          const blobHeaders = { 'Content-Type': 'application/octet-stream' };
          if (held) return send(200, held, blobHeaders);
          if (fetchBlob) {
            fetchBlob(record.path).then(
              (bytes) => (bytes ? send(200, bytes, blobHeaders) : send(404)),
              () => send(404),
            );
            return;
          }
          if (up) {
            const headers: OutgoingHttpHeaders = {};
            if (req.headers.accept) headers.Accept = req.headers.accept;
            if (req.headers.range) headers.Range = req.headers.range;
            const upReq = httpRequest(
              { host: up.hostname, port: up.port, method: req.method, path: record.path, headers, timeout: 10_000 },
              (upRes) => {
                upRes.on('error', () => {});
                const pass: OutgoingHttpHeaders = {};
                for (const h of ['content-length', 'content-type', 'content-range', 'accept-ranges', 'docker-content-digest', 'etag']) {
                  if (upRes.headers[h] !== undefined) pass[h] = upRes.headers[h];
                }
                if (res.destroyed) return upRes.destroy();
                res.writeHead(upRes.statusCode ?? 502, pass);
                upRes.on('close', () => {
                  if (!upRes.complete) res.destroy();
                });
                upRes.pipe(res);
              },
            );
            upReq.on('timeout', () => upReq.destroy());
            upReq.on('error', () => (res.headersSent ? res.destroy() : send(502)));
            res.on('close', () => upReq.destroy());
            upReq.end();
            return;
          }
          return send(404);
        }
        default:
          return send(405);
      }
    });
  });
  trackSockets(server, sockets);
  const port = await listenOnLoopback(server);
  let closed: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    put: (path, bytes) => {
      objects.set(pathOnly(path), bytes);
    },
    get: (path) => objects.get(pathOnly(path)),
    stop: () => {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        for (const s of sockets) s.destroy();
      });
      return closed;
    },
  };
}

export interface RedirectBlobsOptions {
  /** Blob methods to redirect (default GET and HEAD). */
  methods?: Array<'GET' | 'HEAD'>;
  /** Also redirect upload PUTs and PATCHes (to `/v2/<name>/blobs/uploads/...`; the POST that opens an upload is not). */
  uploads?: boolean;
  status?: 307 | 302 | 303;
  /** Per rule (default Infinity). */
  times?: number;
}

/**
 * Rules that make a fault proxy answer blob requests with `<status> Location: <storage url><path>`.
 * Add them with `for (const r of redirectBlobsTo(storage)) proxy.addRule(r)`.
 */
export function redirectBlobsTo(storage: { url: string }, opts: RedirectBlobsOptions = {}): FaultRule[] {
  const to = (path: string) => `${storage.url}${path}`;
  const status = opts.status ?? 307;
  const times = opts.times ?? Infinity;
  const blob = /^\/v2\/.+\/blobs\/[a-z0-9]+(?:[+._-][a-z0-9]+)*(?::|%3A)[a-zA-Z0-9=_-]+(?:\?|$)/i;
  const rules: FaultRule[] = (opts.methods ?? ['GET', 'HEAD']).map((method) => ({
    match: { method, path: blob },
    fault: { kind: 'redirect', to, status },
    times,
  }));
  if (opts.uploads) {
    for (const method of ['PUT', 'PATCH']) {
      rules.push({ match: { method, path: /^\/v2\/.+\/blobs\/uploads\/[^?]+/ }, fault: { kind: 'redirect', to, status }, times });
    }
  }
  return rules;
}
