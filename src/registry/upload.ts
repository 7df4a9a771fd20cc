// Blob upload into one repository: HEAD first, cross-repository mount, then ONE retried operation that
// sends the blob in one request: a PUT of the whole blob (small blobs, GAR/GCR, registries that refuse
// PATCH), or one streamed PATCH that resumes from the registry's Range after a failure. Chunks only when the
// registry announces a maximum (OCI-Chunk-Max-Length). A module whose PATCH began before its digest was
// known (early-upload.ts) is completed from that session, or the session is cancelled if the blob is there.
import type { Blob, Digest } from '../image/types.js';
import type { RegistryClient } from './client.js';
import type { EarlyResult, EarlyUpload } from './early-upload.js';
import { RegistryError, unexpectedResponse } from './errors.js';
import { getHeader, type HttpResponse, type RequestBody } from './http.js';
import { isRetryableStatus, withRetries, type Attempt, type RetryPolicy } from './retry.js';

export interface UploadSettings {
  /** Blobs up to this size go up in one PUT; larger ones in a streamed PATCH that can resume. */
  streamThreshold: number;
  /** The largest PATCH body, as if the registry had announced it in OCI-Chunk-Max-Length. */
  maxChunk?: number;
  retry: RetryPolicy;
  warn: (message: string) => void;
  signal?: AbortSignal;
  /** Hosts that refused a PATCH during this push: their later blobs go up in one PUT straight away. */
  monolithicHosts: Set<string>;
}

export type UploadOutcome = 'exists' | 'mounted' | 'uploaded';

interface RepoTarget {
  client: RegistryClient;
  repository: string;
  scopes: string[];
}

/** An upload session: where to send bytes, and the chunk bounds the registry announced. */
export interface Session {
  url: URL;
  minChunk: number;
  maxChunk?: number;
}

/**
 * ECR refuses to complete an upload whose non-final part is under 5 MiB (LayerPartTooSmallException), so a
 * resume never keeps a shorter committed prefix: it starts again from byte 0 instead.
 */
const MIN_NONFINAL_PART = 5 * 1024 * 1024;
/** PATCH answers that say "no chunked uploads here": the blob goes up again in one PUT. */
const PATCH_REFUSED = new Set([400, 405, 416, 501]);
export const refusesPatch = (status: number) => PATCH_REFUSED.has(status);
/** Answers that accept fewer bytes than were sent, in a row, before the upload is given up as stuck. */
const MAX_SHORT_ANSWERS = 8;

function shortDigest(d: Digest): string {
  return d.slice(0, 19);
}

/**
 * Google Artifact Registry and Container Registry take no chunked uploads ("You must use monolithic uploads
 * when you push container images to Artifact Registry", cloud.google.com/artifact-registry/docs/reference/docker-api).
 */
export function requiresMonolithic(host: string): boolean {
  const name = host.toLowerCase().replace(/:\d+$/, '');
  return /(^|\.)pkg\.dev$/.test(name) || /(^|\.)gcr\.io$/.test(name);
}

function blobBody(blob: Blob, start = 0, end = blob.descriptor.size - 1): RequestBody {
  if (blob.source.kind === 'file') return { kind: 'file', path: blob.source.path, start, end };
  if (blob.source.kind === 'mount') throw new MountRefused(blob.descriptor.digest, blob.source.repository);
  return { kind: 'bytes', bytes: blob.source.bytes.subarray(start, end + 1) };
}

/** The Location of an upload answer, resolved against the request; only http(s) URLs are followed. */
export function uploadLocation(res: HttpResponse, what: string, host: string): URL | undefined {
  const value = getHeader(res, 'location');
  if (!value) return undefined;
  let url: URL;
  try {
    url = new URL(value, res.url);
  } catch {
    throw new RegistryError(
      `${what} on ${host}: the registry answered with an unreadable upload Location; this is a registry bug`,
      res.status,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new RegistryError(
      `${what} on ${host}: the registry sent an upload Location with the scheme ${url.protocol} (not http or https), which the action will not follow; check the registry (or a proxy in front of it) and its external URL settings`,
      res.status,
    );
  }
  return url;
}

function requiredLocation(res: HttpResponse, what: string, host: string): URL {
  const url = uploadLocation(res, what, host);
  if (!url) throw new RegistryError(`${what} on ${host}: the registry answered ${res.status} without a Location header`, res.status);
  return url;
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

/**
 * Where the next chunk starts after the registry took bytes `offset..end`: its Range when that moved forward
 * within what was sent (the bytes it really accepted), otherwise our own count. ECR's Range can stay at the
 * first chunk's end while it stores every later chunk (aws/containers-roadmap#2831).
 */
export function acceptedOffset(res: HttpResponse, offset: number, end: number): number {
  const reported = nextOffset(res);
  return reported !== undefined && reported > offset && reported <= end + 1 ? reported : end + 1;
}

function checkDigestHeader(res: HttpResponse, digest: Digest, host: string): void {
  const reported = getHeader(res, 'docker-content-digest');
  if (reported && reported !== digest) {
    throw new RegistryError(`${host} stored blob ${digest} as ${reported}; the upload was corrupted on the way`, res.status);
  }
}

/** A retryable HTTP answer inside an upload attempt: the attempt fails and the retry layer decides. */
class RetryableStatus extends Error {
  constructor(readonly response: HttpResponse) {
    super(`HTTP ${response.status}`);
  }
}

/** A PATCH the registry refused as such (no chunked uploads, a size cap): the blob goes up in one PUT. */
class PatchRefused extends Error {
  constructor(readonly response: HttpResponse) {
    super(`HTTP ${response.status}`);
  }
}

function failure(res: HttpResponse, what: string, host: string): Error {
  return isRetryableStatus(res.status) ? new RetryableStatus(res) : unexpectedResponse(what, host, res);
}

function sessionFrom(res: HttpResponse, what: string, host: string): Session {
  const max = Number(getHeader(res, 'oci-chunk-max-length') ?? 0) || 0;
  return {
    url: requiredLocation(res, what, host),
    minChunk: Number(getHeader(res, 'oci-chunk-min-length') ?? 0) || 0,
    ...(max > 0 ? { maxChunk: max } : {}),
  };
}

export async function openSession(target: RepoTarget, signal?: AbortSignal): Promise<Session> {
  const { client, repository, scopes } = target;
  const what = `starting an upload to ${repository}`;
  const res = await client.request({ method: 'POST', target: `/v2/${repository}/blobs/uploads/`, scopes, signal });
  if (res.status !== 202) throw failure(res, what, client.host);
  return sessionFrom(res, what, client.host);
}

async function putWhole(target: RepoTarget, session: Session, blob: Blob): Promise<void> {
  const { client, scopes } = target;
  const res = await client.request({
    method: 'PUT',
    target: withDigest(session.url, blob.descriptor.digest),
    scopes,
    headers: { 'Content-Type': 'application/octet-stream' },
    body: blobBody(blob),
  });
  if (res.status !== 201) throw failure(res, `uploading blob ${shortDigest(blob.descriptor.digest)}`, client.host);
  checkDigestHeader(res, blob.descriptor.digest, client.host);
}

/** The PATCH body length: the whole rest, unless the registry (or the caller) set a maximum. */
function chunkLength(session: Session, settings: Pick<UploadSettings, 'maxChunk'>, size: number): number {
  const max = session.maxChunk ?? settings.maxChunk;
  return max ? Math.max(max, session.minChunk) : size;
}

/** The shortest committed prefix worth resuming from (see MIN_NONFINAL_PART). */
export function resumeFloor(session: Session, settings: Pick<UploadSettings, 'maxChunk'>, size: number): number {
  return Math.max(session.minChunk, Math.min(MIN_NONFINAL_PART, chunkLength(session, settings, size)));
}

/**
 * Sends `offset..size-1` in PATCHes (one, unless chunks are bounded), then completes with `PUT ?digest=`.
 * A PATCH of the whole blob goes without Content-Range, as docker and podman stream it: ghcr.io refuses a
 * PATCH with Content-Range over 4 MiB. `session.url` follows every Location, for a resume.
 */
async function streamFrom(target: RepoTarget, session: Session, blob: Blob, offset: number, settings: UploadSettings): Promise<void> {
  const { client, scopes } = target;
  const { size, digest } = blob.descriptor;
  const chunk = chunkLength(session, settings, size);
  let short = 0;
  while (offset < size) {
    const end = Math.min(size, offset + chunk) - 1;
    const range: Record<string, string> = offset === 0 && end === size - 1 ? {} : { 'Content-Range': `${offset}-${end}` };
    const res = await client.request({
      method: 'PATCH',
      target: session.url,
      scopes,
      headers: { 'Content-Type': 'application/octet-stream', ...range },
      body: blobBody(blob, offset, end),
    });
    // 202 per the spec; ECR answers 201 (dotnet/sdk-container-builds#279).
    if (res.status !== 202 && res.status !== 201) {
      if (PATCH_REFUSED.has(res.status)) throw new PatchRefused(res);
      throw failure(res, `uploading ${shortDigest(digest)} at byte ${offset}`, client.host);
    }
    session.url = uploadLocation(res, 'uploading a chunk', client.host) ?? session.url;
    const next = acceptedOffset(res, offset, end);
    short = next <= end ? short + 1 : 0;
    if (short > MAX_SHORT_ANSWERS) {
      throw new RegistryError(
        `${client.host} keeps accepting only part of each chunk of ${shortDigest(digest)} (at byte ${next}); giving up`,
        res.status,
      );
    }
    offset = next;
  }
  const res = await client.request({
    method: 'PUT',
    target: withDigest(session.url, digest),
    scopes,
    body: { kind: 'bytes', bytes: new Uint8Array(0) },
  });
  if (res.status !== 201) throw failure(res, `finishing the upload of ${shortDigest(digest)}`, client.host);
  checkDigestHeader(res, digest, client.host);
}

/** Cancels a session this push will not complete; best effort (the registry drops abandoned ones in time). */
export async function deleteSession(target: RepoTarget, session: Session): Promise<void> {
  await target.client.request({ method: 'DELETE', target: session.url, scopes: target.scopes }).catch(() => undefined);
}

/** Asks the registry how much of a session it has; undefined when the session is gone or unusable. */
async function committedOffset(target: RepoTarget, session: Session): Promise<number | undefined> {
  const res = await target.client.request({ method: 'GET', target: session.url, scopes: target.scopes });
  if (res.status !== 204 && res.status !== 202) return undefined;
  session.url = uploadLocation(res, 'resuming an upload', target.client.host) ?? session.url;
  return nextOffset(res) ?? 0;
}

/** A blob that exists only in the registry (a promotion) could not be mounted, and has no bytes here to upload. */
export class MountRefused extends Error {
  override name = 'MountRefused';
  constructor(digest: Digest, from: string) {
    super(`the registry did not mount ${digest} from ${from}`);
  }
}

/** What one blob's upload carries from one attempt to the next. */
interface UploadState {
  /** A session to use: one a mount opened, or (with `resume`) one a failed attempt left behind. */
  session?: Session;
  resume: boolean;
  monolithic: boolean;
  /** What the session holds, as the registry's last answer said: a resume need not ask. */
  offset?: number;
}

/** Where a streamed attempt starts: the session a failed attempt left, at the registry's offset, or anew. */
async function startingPoint(target: RepoTarget, blob: Blob, state: UploadState, settings: UploadSettings): Promise<[Session, number]> {
  const left = state.session;
  const known = state.offset;
  state.session = undefined;
  state.offset = undefined;
  if (left && state.resume) {
    const at = known ?? (await committedOffset(target, left));
    if (at !== undefined && (at === 0 || at >= resumeFloor(left, settings, blob.descriptor.size))) {
      // A session handed over whole (an early upload) is no resume after a failure: nothing to warn about.
      if (at > 0 && known === undefined) {
        settings.warn(`uploading ${shortDigest(blob.descriptor.digest)}: resuming at byte ${at} of ${blob.descriptor.size}`);
      }
      return [left, at];
    }
  }
  return [left && !state.resume ? left : await openSession(target), 0];
}

/** One attempt of the upload operation. Nothing in here retries: the retry layer decides. */
async function attemptUpload(target: RepoTarget, blob: Blob, state: UploadState, settings: UploadSettings): Promise<void> {
  if (state.monolithic) {
    const session = state.session ?? (await openSession(target));
    state.session = undefined; // a failed PUT leaves its session in an unknown state: never reused
    return putWhole(target, session, blob);
  }
  const [session, offset] = await startingPoint(target, blob, state, settings);
  state.session = session;
  state.resume = true;
  try {
    await streamFrom(target, session, blob, offset, settings);
  } catch (err) {
    if (!(err instanceof PatchRefused)) throw err;
    takeNoPatch(target, blob, err.response.status, state, settings);
    await putWhole(target, await openSession(target), blob);
  }
}

/** The registry refused a PATCH as such: this blob and every later one on the host go up in one PUT. */
function takeNoPatch(target: RepoTarget, blob: Blob, status: number, state: UploadState, settings: UploadSettings): void {
  const { host } = target.client;
  settings.monolithicHosts.add(host);
  state.monolithic = true;
  state.session = undefined;
  settings.warn(`${host} refused a PATCH of ${shortDigest(blob.descriptor.digest)} (HTTP ${status}); uploading it in one PUT instead`);
}

/** How the upload goes on from what an early upload left (early-upload.ts). */
async function takeOver(target: RepoTarget, blob: Blob, left: EarlyResult, state: UploadState, settings: UploadSettings): Promise<void> {
  if ('refused' in left) return takeNoPatch(target, blob, left.refused, state, settings);
  if (state.session) await deleteSession(target, state.session);
  // Resumed from where its PATCH ended (at the end: only the closing PUT is left).
  Object.assign(state, { session: left.session, offset: left.offset, resume: true, monolithic: false });
}

async function blobExists(target: RepoTarget, blob: Blob, retry: RetryPolicy): Promise<boolean> {
  const { client, repository, scopes } = target;
  const res = await client.requestWithRetries(
    `checking blob ${shortDigest(blob.descriptor.digest)}`,
    { method: 'HEAD', target: `/v2/${repository}/blobs/${blob.descriptor.digest}`, scopes },
    retry,
  );
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
  settings: UploadSettings,
): Promise<{ mounted: true } | { mounted: false; session?: Session }> {
  const { client, repository, scopes } = target;
  const query = new URLSearchParams({ mount: blob.descriptor.digest, from });
  const res = await client.requestWithRetries(
    `mounting ${shortDigest(blob.descriptor.digest)} from ${from}`,
    { method: 'POST', target: `/v2/${repository}/blobs/uploads/?${query.toString()}`, scopes },
    settings.retry,
  );
  if (res.status === 201) {
    checkDigestHeader(res, blob.descriptor.digest, client.host);
    return { mounted: true };
  }
  // 202: the registry could not mount and opened an ordinary upload session instead.
  if (res.status === 202 && getHeader(res, 'location')) return { mounted: false, session: sessionFrom(res, 'mounting', client.host) };
  return { mounted: false };
}

/** Whether the blob is there already (found, or mounted now); else the session a refused mount opened, if any. */
async function present(
  target: RepoTarget,
  blob: Blob,
  mountFrom: string[],
  settings: UploadSettings,
): Promise<'exists' | 'mounted' | Session | undefined> {
  if (await blobExists(target, blob, settings.retry)) return 'exists';
  for (const from of mountFrom) {
    if (from === target.repository) continue;
    const m = await tryMount(target, blob, from, settings);
    if (m.mounted) return 'mounted';
    if (m.session) return m.session;
  }
  return undefined;
}

/**
 * Makes sure `blob` is in the target repository, and says how it got there. `early` is the module's upload
 * started before its digest was known (early-upload.ts): it completes this blob's upload, or is cancelled.
 */
export async function ensureBlob(
  target: RepoTarget,
  blob: Blob,
  mountFrom: string[],
  settings: UploadSettings,
  early?: EarlyUpload,
): Promise<UploadOutcome> {
  const mine = early?.carries(blob) ? early : undefined;
  const found = await present(target, blob, mountFrom, settings);
  if (found === 'exists' || found === 'mounted') {
    await mine?.cancel();
    return found;
  }
  if (blob.source.kind === 'mount') throw new MountRefused(blob.descriptor.digest, blob.source.repository);
  const { host } = target.client;
  const state: UploadState = {
    session: found,
    resume: false,
    monolithic: blob.descriptor.size <= settings.streamThreshold || requiresMonolithic(host) || settings.monolithicHosts.has(host),
  };
  const left = await mine?.handOver();
  if (left) await takeOver(target, blob, left, state, settings);
  const what = `uploading blob ${shortDigest(blob.descriptor.digest)} (${blob.descriptor.size} bytes) to ${target.repository}`;
  await withRetries<void>(
    what,
    settings.retry,
    settings.warn,
    async (): Promise<Attempt<void>> => {
      try {
        await attemptUpload(target, blob, state, settings);
        return { done: undefined };
      } catch (err) {
        if (err instanceof RetryableStatus) return { retry: `HTTP ${err.response.status}`, response: err.response };
        throw err;
      }
    },
    settings.signal,
  );
  return 'uploaded';
}
