// A loopback GitHub Actions cache service (v2, the one hosted runners use) for the real @actions/cache
// client in the bundled action, with signed upload and download URLs served by Azurite (./azurite.ts).
//
// Protocol facts, read from the client this project ships (node_modules/@actions/cache 6.3: lib/cache.js,
// lib/internal/config.js, lib/internal/shared/cacheTwirpClient.js, lib/generated/results/api/v1/cache.js)
// and GitHub's "Dependency caching reference" (cache key matching):
// - The client speaks v2 when ACTIONS_CACHE_SERVICE_V2 is set and GITHUB_SERVER_URL is github.com (or
//   *.ghe.com / *.localhost; GHES stays on v1). isFeatureAvailable() is true when ACTIONS_RESULTS_URL is set.
// - Each call is `POST <ACTIONS_RESULTS_URL>/twirp/github.actions.results.api.v1.CacheService/<Method>` with
//   a JSON body in proto field names (snake_case, int64 as strings) and `Authorization: Bearer
//   <ACTIONS_RUNTIME_TOKEN>`. The client only forwards the token; on GitHub it is a JWT whose `ac` claim
//   lists the cache scopes (a ref and a permission mask: 1 read, 2 write), which the service enforces.
// - Errors are twirp JSON `{code, msg}` with an HTTP status. The client retries 500/502/503/504 and
//   unparsable bodies (5 attempts, 3 s then x1.5 with jitter: about 30 s), fails at once on other
//   statuses, on 429 and on connection errors.
// - CreateCacheEntry {key, version} -> {ok, signed_upload_url}; an existing key+version answers 409. After
//   the upload, FinalizeCacheEntryUpload {key, version, size_bytes} -> {ok, entry_id}.
// - GetCacheEntryDownloadURL {key, restore_keys, version} -> {ok, signed_download_url, matched_key}, or
//   {ok: false} for a miss. Matching: the exact key, then the key as a prefix, then each restore key as a
//   prefix in order, the newest entry first; always the same version (a hash of the paths and the
//   compression method).
// - Storage: the client uploads and downloads with the Azure SDK (Put Blob, or Put Block/Put Block List
//   over 128 MiB; Get Blob Properties, then ranged Get Blob in 128 MiB segments, each bounded by
//   SEGMENT_DOWNLOAD_TIMEOUT_MINS) only when the URL's host ends with .blob.core.windows.net; other hosts
//   get a plain HTTP GET. So the signed URLs name <account>.blob.core.windows.net, as on a hosted runner,
//   and `env` routes that host through HTTP_PROXY (the fault proxy, which only ever connects to Azurite
//   on 127.0.0.1) while NO_PROXY keeps everything on 127.0.0.1 direct.
import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import {
  BlobSASPermissions,
  BlobServiceClient,
  generateBlobSASQueryParameters,
  type ContainerClient,
  type StorageSharedKeyCredential,
} from '@azure/storage-blob';
import { AZURITE_ACCOUNT, startAzurite, type Azurite } from './azurite.js';
import { startFaultProxy, type FaultProxy } from './fault-proxy.js';
import { listenOnLoopback, trackSockets } from './loopback.js';

const SERVICE = '/twirp/github.actions.results.api.v1.CacheService/';
const CONTAINER = 'actions-cache';
const SCOPE = 'refs/heads/main';
const READ = 1;
const WRITE = 2;

export interface CacheEntry {
  id: number;
  key: string;
  version: string;
  scope: string;
  blob: string;
  /** Set by FinalizeCacheEntryUpload; only finalized entries are found. */
  sizeBytes?: number;
}

export interface CacheCall {
  method: string;
  body: Record<string, unknown>;
  status: number;
}

export interface CacheFaults {
  /** Answer every call with this status and a twirp `internal` error. */
  failWith?: number;
  /** Sign upload URLs for reading only, so that storage refuses the upload (403). */
  refuseUploads?: boolean;
  /** Answer CreateCacheEntry with 409, as when another job of the run reserved the key first. */
  reservedElsewhere?: boolean;
}

export interface CacheService {
  /**
   * The HTTP proxy (HTTP_PROXY in `env`) through which the client reaches the signed URLs' host,
   * <account>.blob.core.windows.net, served by Azurite: the fault proxy, for storage faults.
   */
  storageProxy: FaultProxy;
  /** ACTIONS_RESULTS_URL, with its trailing slash as on a runner. */
  url: string;
  /** The variables a runner sets for the cache client. */
  env: NodeJS.ProcessEnv;
  entries: CacheEntry[];
  calls: CacheCall[];
  /** The `sig` of every signed URL handed out: secrets the client must mask. */
  signatures: string[];
  azurite: Azurite;
  faults: CacheFaults;
  stop(): Promise<void>;
}

/** An HS256 JWT shaped like the runner's ACTIONS_RUNTIME_TOKEN (the claims the cache service reads). */
function runtimeToken(secret: Buffer): string {
  const b64 = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const claims = { ac: JSON.stringify([{ Scope: SCOPE, Permission: 3 }]), scp: 'Actions.Results:1:1', nbf: now - 60, exp: now + 3600 };
  const unsigned = `${b64({ typ: 'JWT', alg: 'HS256' })}.${b64(claims)}`;
  return `${unsigned}.${createHmac('sha256', secret).update(unsigned).digest('base64url')}`;
}

function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > 1 << 20) req.destroy(new Error('request body over 1 MiB'));
      else chunks.push(c);
    });
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>);
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
    req.on('error', reject);
  });
}

/** The newest finalized entry the service would restore for this lookup. */
export function findEntry(entries: CacheEntry[], key: string, restoreKeys: string[], version: string): CacheEntry | undefined {
  const usable = entries.filter((e) => e.version === version && e.sizeBytes !== undefined).sort((a, b) => b.id - a.id);
  return (
    usable.find((e) => e.key === key) ??
    [key, ...restoreKeys].map((prefix) => usable.find((e) => e.key.startsWith(prefix))).find((e) => e !== undefined)
  );
}

/** Checks a bearer JWT's signature and its `ac` scopes; answers [status, message] when it is refused. */
function authorizer(secret: Buffer): (header: string | undefined, need: number) => [number, string] | undefined {
  return (header, need) => {
    const [head, claims, signature] = (header?.startsWith('Bearer ') ? header.slice(7) : '').split('.');
    const expected = createHmac('sha256', secret).update(`${head}.${claims}`).digest('base64url');
    if (!signature || signature !== expected) return [401, 'invalid runtime token'];
    const { ac } = JSON.parse(Buffer.from(claims, 'base64url').toString()) as { ac: string };
    const scopes = JSON.parse(ac) as Array<{ Scope: string; Permission: number }>;
    return scopes.some((s) => s.Scope === SCOPE && (s.Permission & need) === need)
      ? undefined
      : [403, `the token may not ${need === READ ? 'read' : 'write'} the cache`];
  };
}

/** What the service keeps: its entries, the blobs behind them in Azurite, the faults to play. */
interface Backend {
  entries: CacheEntry[];
  signatures: string[];
  container: ContainerClient;
  credential: StorageSharedKeyCredential;
  faults: () => CacheFaults;
}

/** A SAS URL for one blob, on the storage host name a hosted runner sees. */
function signedUrl(backend: Backend, blob: string, permissions: string): string {
  const sas = generateBlobSASQueryParameters(
    {
      containerName: CONTAINER,
      blobName: blob,
      permissions: BlobSASPermissions.parse(permissions),
      expiresOn: new Date(Date.now() + 3600_000),
    },
    backend.credential,
  );
  if (sas.signature) backend.signatures.push(sas.signature);
  return `http://${AZURITE_ACCOUNT}.blob.core.windows.net/${CONTAINER}/${blob}?${sas.toString()}`;
}

type Rpc = (body: Record<string, unknown>) => Promise<[number, object]>;

function cacheRpcs(backend: Backend): Record<string, Rpc> {
  const { entries, container, faults } = backend;
  return {
    CreateCacheEntry: async (body) => {
      const { key, version } = body as { key: string; version: string };
      if (faults().reservedElsewhere || entries.some((e) => e.key === key && e.version === version && e.scope === SCOPE)) {
        return [409, { code: 'already_exists', msg: 'cache entry with the same key, version, and scope already exists' }];
      }
      const id = entries.length + 1;
      const entry: CacheEntry = { id, key, version, scope: SCOPE, blob: `${id}-${randomBytes(8).toString('hex')}` };
      entries.push(entry);
      return [200, { ok: true, signed_upload_url: signedUrl(backend, entry.blob, faults().refuseUploads ? 'r' : 'cw') }];
    },
    FinalizeCacheEntryUpload: async (body) => {
      const { key, version, size_bytes: size } = body as { key: string; version: string; size_bytes: string };
      const entry = entries.find((e) => e.key === key && e.version === version && e.sizeBytes === undefined);
      if (!entry) return [404, { code: 'not_found', msg: 'no cache entry is being created with this key and version' }];
      // The service checks that storage holds what the client says it uploaded.
      const stored = await container
        .getBlobClient(entry.blob)
        .getProperties()
        .catch(() => undefined);
      if (stored?.contentLength !== Number(size)) return [200, { ok: false, message: `the uploaded archive is not ${size} bytes` }];
      entry.sizeBytes = Number(size);
      return [200, { ok: true, entry_id: String(entry.id) }];
    },
    GetCacheEntryDownloadURL: async (body) => {
      const { key, restore_keys: restoreKeys = [], version } = body as { key: string; restore_keys?: string[]; version: string };
      const entry = findEntry(entries, key, restoreKeys, version);
      return [200, entry ? { ok: true, signed_download_url: signedUrl(backend, entry.blob, 'r'), matched_key: entry.key } : { ok: false }];
    },
  };
}

/** The twirp endpoint: routes, checks the token, plays a `failWith` fault, records every call. */
function twirpHandler(rpcs: Record<string, Rpc>, secret: Buffer, calls: CacheCall[], faults: () => CacheFaults) {
  const authorize = authorizer(secret);
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const method = req.url?.startsWith(SERVICE) ? req.url.slice(SERVICE.length) : '';
    const body = await readJson(req).catch(() => ({}));
    const answer = (status: number, json: object) => {
      calls.push({ method, body, status });
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(json));
    };
    const rpc = rpcs[method];
    if (req.method !== 'POST' || !rpc) return answer(404, { code: 'bad_route', msg: `no such method: ${req.method} ${req.url}` });
    const denied = authorize(req.headers.authorization, method === 'GetCacheEntryDownloadURL' ? READ : WRITE);
    if (denied) return answer(denied[0], { code: denied[0] === 401 ? 'unauthenticated' : 'permission_denied', msg: denied[1] });
    const failWith = faults().failWith;
    if (failWith) return answer(failWith, { code: 'internal', msg: 'the cache service is failing (test fault)' });
    const [status, json] = await rpc(body);
    return answer(status, json);
  };
}

export async function startCacheService(faults: CacheFaults = {}): Promise<CacheService> {
  const azurite = await startAzurite();
  let storageProxy: FaultProxy | undefined;
  const sockets = new Set<Socket>();
  const server = createServer();
  try {
    storageProxy = await startFaultProxy(new URL(azurite.blobEndpoint).origin);
    const container = new BlobServiceClient(azurite.blobEndpoint, azurite.credential).getContainerClient(CONTAINER);
    await container.create();
    const secret = randomBytes(32);
    const calls: CacheCall[] = [];
    const backend: Backend = { entries: [], signatures: [], container, credential: azurite.credential, faults: () => service.faults };
    const handle = twirpHandler(cacheRpcs(backend), secret, calls, backend.faults);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      handle(req, res).catch((err: Error) => res.writeHead(500).end(JSON.stringify({ code: 'internal', msg: err.message })));
    });
    trackSockets(server, sockets);
    const url = `http://127.0.0.1:${await listenOnLoopback(server)}/`;
    const proxy = storageProxy;
    let stopping: Promise<void> | undefined;
    const service: CacheService = {
      url,
      env: {
        ACTIONS_CACHE_SERVICE_V2: 'true',
        ACTIONS_RESULTS_URL: url,
        ACTIONS_RUNTIME_TOKEN: runtimeToken(secret),
        HTTP_PROXY: proxy.url,
        NO_PROXY: '127.0.0.1,localhost',
      },
      storageProxy: proxy,
      entries: backend.entries,
      calls,
      signatures: backend.signatures,
      azurite,
      faults,
      stop: () =>
        (stopping ??= (async () => {
          for (const s of sockets) s.destroy();
          await new Promise<void>((resolve) => server.close(() => resolve()));
          await Promise.all([azurite.stop(), proxy.stop()]);
        })()),
    };
    return service;
  } catch (err) {
    server.close();
    await Promise.all([azurite.stop(), storageProxy?.stop()]);
    throw err;
  }
}
