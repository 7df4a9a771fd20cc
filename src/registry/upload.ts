// Blob upload into one repository: HEAD first, cross-repository mount, then a monolithic POST + PUT, or for
// large blobs a chunked PATCH upload that resumes from the registry's Range after a failure.
import type { Blob, Digest } from '../image/types.js';
import type { RegistryClient } from './client.js';
import { RegistryError, unexpectedResponse } from './errors.js';
import { getHeader, NetworkError, type HttpResponse, type RequestBody } from './http.js';
import { isRetryableStatus, withRetries, type Attempt, type RetryPolicy } from './retry.js';

export interface UploadSettings {
  /** Blobs larger than this go up in chunks. */
  chunkThreshold: number;
  /** Chunk size (raised to the registry's OCI-Chunk-Min-Length when it asks for more). */
  chunkSize: number;
  retry: RetryPolicy;
  warn: (message: string) => void;
  signal?: AbortSignal;
}

export type UploadOutcome = 'exists' | 'mounted' | 'uploaded';

export interface RepoTarget {
  client: RegistryClient;
  repository: string;
  scopes: string[];
}

function shortDigest(d: Digest): string {
  return d.slice(0, 19);
}

function blobBody(blob: Blob, start = 0, end = blob.descriptor.size - 1): RequestBody {
  if (blob.source.kind === 'file') return { kind: 'file', path: blob.source.path, start, end };
  return { kind: 'bytes', bytes: blob.source.bytes.subarray(start, end + 1) };
}

function location(res: HttpResponse, what: string, host: string): URL {
  const value = getHeader(res, 'location');
  if (!value) throw new RegistryError(`${what} on ${host}: the registry answered ${res.status} without a Location header`, res.status);
  return new URL(value, res.url);
}

function withDigest(url: URL, digest: Digest): URL {
  const u = new URL(url);
  u.searchParams.set('digest', digest);
  return u;
}

/** The end of the committed range `0-N` as the next offset; "0-0" is read as nothing committed. */
export function nextOffset(res: HttpResponse): number | undefined {
  const m = /^(?:bytes=)?0-(\d+)$/.exec(getHeader(res, 'range')?.trim() ?? '');
  if (!m) return undefined;
  const end = Number(m[1]);
  return end === 0 ? 0 : end + 1;
}

function checkDigestHeader(res: HttpResponse, digest: Digest, host: string): void {
  const reported = getHeader(res, 'docker-content-digest');
  if (reported && reported !== digest) {
    throw new RegistryError(`${host} stored blob ${digest} as ${reported}; the upload was corrupted on the way`, res.status);
  }
}

async function startSession(target: RepoTarget): Promise<{ url: URL; minChunk: number }> {
  const { client, repository, scopes } = target;
  const res = await client.request({ method: 'POST', target: `/v2/${repository}/blobs/uploads/`, scopes });
  if (res.status !== 202) throw sessionError(res, `starting an upload to ${repository}`, client.host);
  return { url: location(res, 'starting an upload', client.host), minChunk: Number(getHeader(res, 'oci-chunk-min-length') ?? 0) || 0 };
}

function sessionError(res: HttpResponse, what: string, host: string): Error {
  return isRetryableStatus(res.status) ? new RetryableStatus(res) : unexpectedResponse(what, host, res);
}

/** A retryable HTTP answer thrown from inside an upload attempt, turned back into a retry outside. */
class RetryableStatus extends Error {
  constructor(readonly response: HttpResponse) {
    super(`HTTP ${response.status}`);
  }
}

async function putMonolithic(target: RepoTarget, url: URL, blob: Blob): Promise<void> {
  const { client, scopes } = target;
  const res = await client.request({
    method: 'PUT',
    target: withDigest(url, blob.descriptor.digest),
    scopes,
    headers: { 'Content-Type': 'application/octet-stream' },
    body: blobBody(blob),
  });
  if (res.status !== 201) throw sessionError(res, `uploading blob ${shortDigest(blob.descriptor.digest)}`, client.host);
  checkDigestHeader(res, blob.descriptor.digest, client.host);
}

async function uploadChunked(
  target: RepoTarget,
  session: { url: URL; minChunk: number },
  blob: Blob,
  settings: UploadSettings,
): Promise<void> {
  const { client, scopes } = target;
  const size = blob.descriptor.size;
  const chunk = Math.max(settings.chunkSize, session.minChunk);
  let url = session.url;
  let offset = 0;
  let failures = 0;
  while (offset < size) {
    const end = Math.min(size, offset + chunk) - 1;
    let res: HttpResponse | undefined;
    let problem: string | undefined;
    try {
      res = await client.request({
        method: 'PATCH',
        target: url,
        scopes,
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${offset}-${end}` },
        body: blobBody(blob, offset, end),
      });
      if (res.status === 202) {
        url = location(res, 'uploading a chunk', client.host);
        offset = nextOffset(res) ?? end + 1;
        continue;
      }
      if (res.status !== 416 && !isRetryableStatus(res.status))
        throw unexpectedResponse(`uploading a chunk of ${shortDigest(blob.descriptor.digest)}`, client.host, res);
      problem = `HTTP ${res.status}`;
    } catch (err) {
      if (!(err instanceof NetworkError)) throw err;
      problem = `${err.code}: ${err.message}`;
    }
    // Resume: ask the registry how much it has, then carry on from there.
    if (++failures > settings.retry.retries) throw new ChunkResumesExhausted(problem);
    settings.warn(
      `uploading ${shortDigest(blob.descriptor.digest)} at byte ${offset}: ${problem}; resuming (attempt ${failures + 1} of ${settings.retry.retries + 1})`,
    );
    const status = await client.request({ method: 'GET', target: url, scopes });
    if (status.status === 204 || status.status === 202) {
      url = getHeader(status, 'location') ? location(status, 'resuming an upload', client.host) : url;
      offset = nextOffset(status) ?? 0;
    } else {
      throw new ChunkResumesExhausted(`the upload session is gone (HTTP ${status.status})`);
    }
  }
  const res = await client.request({
    method: 'PUT',
    target: withDigest(url, blob.descriptor.digest),
    scopes,
    body: { kind: 'bytes', bytes: new Uint8Array(0) },
  });
  if (res.status !== 201) throw sessionError(res, `finishing the upload of ${shortDigest(blob.descriptor.digest)}`, client.host);
  checkDigestHeader(res, blob.descriptor.digest, client.host);
}

/** Chunk resumes ran out: the whole upload restarts with a new session (the outer retry). */
class ChunkResumesExhausted extends Error {}

async function blobExists(target: RepoTarget, blob: Blob): Promise<boolean> {
  const { client, repository, scopes } = target;
  const res = await client.requestWithRetries(`checking blob ${shortDigest(blob.descriptor.digest)}`, {
    method: 'HEAD',
    target: `/v2/${repository}/blobs/${blob.descriptor.digest}`,
    scopes,
  });
  if (res.status === 404) return false;
  if (res.status !== 200)
    throw unexpectedResponse(`checking blob ${shortDigest(blob.descriptor.digest)} in ${repository}`, client.host, res);
  const length = getHeader(res, 'content-length');
  return length === undefined || Number(length) === blob.descriptor.size;
}

async function tryMount(
  target: RepoTarget,
  blob: Blob,
  from: string,
): Promise<{ mounted: true } | { mounted: false; session?: { url: URL; minChunk: number } }> {
  const { client, repository, scopes } = target;
  const query = new URLSearchParams({ mount: blob.descriptor.digest, from });
  const res = await client.requestWithRetries(`mounting ${shortDigest(blob.descriptor.digest)} from ${from}`, {
    method: 'POST',
    target: `/v2/${repository}/blobs/uploads/?${query.toString()}`,
    scopes,
  });
  if (res.status === 201) {
    checkDigestHeader(res, blob.descriptor.digest, client.host);
    return { mounted: true };
  }
  // 202: the registry could not mount and opened an ordinary upload session instead.
  if (res.status === 202 && getHeader(res, 'location')) {
    return {
      mounted: false,
      session: { url: location(res, 'mounting', client.host), minChunk: Number(getHeader(res, 'oci-chunk-min-length') ?? 0) || 0 },
    };
  }
  return { mounted: false };
}

/** Makes sure `blob` is in the target repository, and says how it got there. */
export async function ensureBlob(target: RepoTarget, blob: Blob, mountFrom: string[], settings: UploadSettings): Promise<UploadOutcome> {
  if (await blobExists(target, blob)) return 'exists';
  let session: { url: URL; minChunk: number } | undefined;
  for (const from of mountFrom) {
    if (from === target.repository) continue;
    const m = await tryMount(target, blob, from);
    if (m.mounted) return 'mounted';
    session = m.session;
    if (session) break;
  }
  const what = `uploading blob ${shortDigest(blob.descriptor.digest)} (${blob.descriptor.size} bytes) to ${target.repository}`;
  await withRetries<void>(
    what,
    settings.retry,
    settings.warn,
    async (): Promise<Attempt<void>> => {
      try {
        const s = session ?? (await startSession(target));
        session = undefined; // a failed attempt never reuses a session
        if (blob.descriptor.size > settings.chunkThreshold) await uploadChunked(target, s, blob, settings);
        else await putMonolithic(target, s.url, blob);
        return { done: undefined };
      } catch (err) {
        if (err instanceof RetryableStatus) return { retry: `HTTP ${err.response.status}`, response: err.response };
        if (err instanceof ChunkResumesExhausted) return { retry: err.message };
        throw err;
      }
    },
    settings.signal,
  ).catch((err: unknown) => {
    if (err instanceof RetryableStatus) throw unexpectedResponse(what, target.client.host, err.response);
    throw err;
  });
  return 'uploaded';
}
