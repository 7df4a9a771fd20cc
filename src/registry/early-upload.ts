// The module's upload, started while the module is still being hashed: a fresh push of a large raw module
// (oci, wasm) overlaps the hash and the upload instead of doing one after the other. The bytes go up in one
// streamed PATCH to a session of their own; only the closing `PUT ?digest=` (upload.ts, once the digest is
// known and the registry said it lacks the blob) makes them a blob, so a cancelled or failed early upload
// leaves nothing anyone can see. A push whose tag already holds a layer of the module's size is probably a
// re-push: it hashes first, as every other push does, rather than send bytes the registry may have.
import { manifestLikeOf } from './verify.js';
import { MANIFEST_ACCEPT } from '../image/mediatypes.js';
import type { Blob } from '../image/types.js';
import type { Logger, RegistryClient } from './client.js';
import { acceptedOffset, deleteSession, openSession, refusesPatch, uploadLocation, type Session } from './upload.js';

export interface ModuleFile {
  path: string;
  size: number;
}

interface Target {
  client: RegistryClient;
  repository: string;
  scopes: string[];
}

/**
 * What an early upload left: a session holding the first `offset` bytes of the module (`offset` undefined:
 * ask the registry), or the status of a PATCH the registry refused as such (it takes one PUT per blob).
 */
export type EarlyResult = { session: Session; offset?: number } | { refused: number };

export interface EarlyUpload {
  /** Whether `blob` is the module this upload sends. */
  carries(blob: Blob): boolean;
  /** Waits for the PATCH to end and takes its session over; undefined when nothing usable came of it. */
  handOver(): Promise<EarlyResult | undefined>;
  /** Stops the upload (unless it was handed over) and deletes its session; never throws. */
  cancel(): Promise<void>;
}

/**
 * Whether `tag` already holds a layer of `size` bytes (then the module is probably there too), or cannot be
 * told: only a tag that is absent, or holds no such layer, makes an early upload worth its bytes. A `HEAD`
 * first: an absent tag (a release) costs no `GET`, which Docker Hub would count as a pull.
 */
async function mayHoldModule(target: Target, tag: string, size: number): Promise<boolean> {
  const manifest = (method: 'HEAD' | 'GET') =>
    target.client.request({
      method,
      target: `/v2/${target.repository}/manifests/${tag}`,
      scopes: target.scopes,
      headers: { Accept: MANIFEST_ACCEPT },
    });
  try {
    const head = await manifest('HEAD');
    if (head.status === 404) return false;
    const res = head.status === 200 ? await manifest('GET') : head;
    if (res.status !== 200) return true;
    const layers = manifestLikeOf(res.body).layers;
    return !layers || layers.some((l) => l.size === size);
  } catch {
    return true;
  }
}

/** The whole module in one PATCH: the session and how much of it the registry took, or undefined. */
async function patchWhole(target: Target, file: ModuleFile, signal: AbortSignal): Promise<EarlyResult | undefined> {
  const { client, scopes } = target;
  let session: Session | undefined;
  try {
    session = await openSession(target, signal);
    // A registry that announces a largest chunk gets the module in chunks, by the upload, from byte 0.
    if (session.maxChunk) return { session, offset: 0 };
    const res = await client.request({
      method: 'PATCH',
      target: session.url,
      scopes,
      headers: { 'Content-Type': 'application/octet-stream' },
      body: { kind: 'file', path: file.path, start: 0, end: file.size - 1 },
      signal,
    });
    if (refusesPatch(res.status)) {
      await deleteSession(target, session);
      return { refused: res.status };
    }
    // 202 per the spec, 201 from ECR; any other answer: the upload asks the registry where the session stands.
    if (res.status !== 202 && res.status !== 201) return { session };
    session.url = uploadLocation(res, 'uploading the module', client.host) ?? session.url;
    return { session, offset: acceptedOffset(res, 0, file.size - 1) };
  } catch {
    // A failed PATCH may have left a prefix in its session: the upload resumes from what the registry says
    // it holds (or, when cancelled, the session is deleted).
    return session && { session };
  }
}

/**
 * Starts uploading `file` into `target` unless `tag` suggests a re-push. The caller leaves out registries
 * known to need one PUT per blob; one that announces chunks in its session's answer gets none sent here.
 */
export function startEarlyUpload(target: Target, tag: string, file: ModuleFile, log: Logger): EarlyUpload {
  const stop = new AbortController();
  let handedOver = false;
  const sent = (async () => {
    if (await mayHoldModule(target, tag, file.size)) return undefined;
    if (stop.signal.aborted) return undefined;
    log.info(`${target.client.host}/${target.repository}: uploading ${file.path} while it is hashed`);
    return patchWhole(target, file, stop.signal);
  })();
  return {
    carries: (blob) => blob.source.kind === 'file' && blob.source.path === file.path && blob.descriptor.size === file.size,
    handOver: () => {
      handedOver = true;
      return sent;
    },
    cancel: async () => {
      if (handedOver) return;
      handedOver = true;
      stop.abort();
      const left = await sent;
      if (left && 'session' in left) await deleteSession(target, left.session);
    },
  };
}
