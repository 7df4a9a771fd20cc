// Pushes an image to every tag: all blobs into every repository first (uploaded, mounted or found, and
// verified), and only then the manifest, once per tag. No tag can point at an incomplete image.
import { imageBlobs, type Blob, type Digest, type Image } from '../image/types.js';
import { pushScopes } from './auth.js';
import type { Logger, RegistryClient } from './client.js';
import { registryClient, type ClientSettings } from './clients.js';
import { describeAnswer, parseErrorBody, RegistryError, unexpectedResponse } from './errors.js';
import { getHeader, type HttpResponse } from './http.js';
import { formatDigestReference, formatReference, type ImageReference } from './reference.js';
import { DEFAULT_RETRY_POLICY, isRetryableStatus, noRetries, RetriesExhausted, withRetries } from './retry.js';
import { startEarlyUpload, type EarlyUpload, type ModuleFile } from './early-upload.js';
import { ensureBlob, requiresMonolithic, type UploadOutcome, type UploadSettings } from './upload.js';
import { checkBeforeUpload, UnloadableImage, verifyRepository, type ConsumerVariant, type VerifyMode } from './verify.js';

export interface PushOptions extends ClientSettings {
  /** Extra repositories (`registry/repository`) to mount blobs from. */
  mountFrom?: ImageReference[];
  /** Blobs up to this size go up in one PUT, larger ones in one streamed, resumable PATCH. */
  streamThreshold?: number;
  /** The largest PATCH body, as if every registry announced it in OCI-Chunk-Max-Length (tests). */
  maxChunk?: number;
  /** Blob uploads and manifest puts in flight at once. */
  concurrency?: number;
  /** The result of `connect`, when the caller started it early. */
  connection?: Promise<Registry[]>;
  /** Check the image against the consumers' rules: locally and by reading back its manifest, config and layer HEADs (light), or by reading every blob back (full). */
  verify?: VerifyMode;
  /**
   * The raw module (the oci and wasm variants' layer), whose upload `connect` may start while it is still
   * being hashed (early-upload.ts).
   */
  earlyModule?: ModuleFile;
  /** Runs a phase (authenticate, upload) as a log group; the default just runs it. */
  group?: <T>(name: string, fn: () => Promise<T>) => Promise<T>;
}

export interface PushResult {
  digest: Digest;
  /** `registry/repository:tag` of every pushed tag, in the order given. */
  pushed: string[];
  /** `registry/repository@digest` of the first tag. */
  image: string;
  blobs: Record<UploadOutcome, number>;
  /** What the verification found: the variant consumers detect, or why the image would not load. */
  verification: { variant: ConsumerVariant } | { error: string } | undefined;
}

/** Under this, one PUT costs a request less than POST + PATCH + PUT, and a resume would save little. */
const DEFAULT_STREAM_THRESHOLD = 32 * 1024 * 1024;

/** Runs `fn` over `items` with at most `limit` in flight; the first failure stops new work and is thrown. */
async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i]);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

export interface Registry {
  host: string;
  client: RegistryClient;
  /** Repositories in the order their tags were given. */
  repositories: string[];
  /** The module's upload into the first repository, started by `connect`. */
  early?: EarlyUpload;
}

interface RepositoryPlan {
  repository: string;
  /** Repositories to mount blobs from: for all but the first, the first one of the run. */
  mountFrom: string[];
}

/** The order repositories of one registry are filled in, and where each may mount blobs from. */
function repositoryPlan(registry: Registry, mountFrom: ImageReference[] | undefined): RepositoryPlan[] {
  const extra = (mountFrom ?? []).filter((m) => m.host === registry.host).map((m) => m.repository);
  const [first, ...rest] = registry.repositories as [string, ...string[]];
  return [{ repository: first, mountFrom: extra }, ...rest.map((repository) => ({ repository, mountFrom: [first, ...extra] }))];
}

/**
 * Pings every registry of `refs` and fetches the tokens the push will use, looking credentials up where a
 * registry challenges. Makes no change anywhere, so it can run while the image is still being packaged.
 */
export async function connect(refs: ImageReference[], opts: PushOptions): Promise<Registry[]> {
  const registries: Registry[] = [];
  for (const [host, group] of groupByRegistry(refs)) {
    const name = group[0].registry;
    const client = registryClient(group[0], opts, (found) =>
      opts.log.info(`${name}: ${found.kind === 'anonymous' ? 'no credentials (anonymous)' : `credentials from ${found.source}`}`),
    );
    await client.ping();
    const registry: Registry = { host, client, repositories: [...new Set(group.map((r) => r.repository))] };
    await Promise.all(repositoryPlan(registry, opts.mountFrom).map((p) => client.authorize(pushScopes(p.repository, p.mountFrom))));
    registries.push({ ...registry, early: earlyUpload(registry, group, opts) });
  }
  return registries;
}

/** Stops the early uploads that no blob took over, and deletes their sessions. */
export async function cancelEarlyUploads(registries: Registry[]): Promise<void> {
  await Promise.all(registries.flatMap((r) => (r.early ? [r.early.cancel()] : [])));
}

/**
 * Starts the module's upload into the registry's first repository, where it would go up in one streamed
 * PATCH: large enough to be streamed, no chunks, no single PUT, and nothing to mount it from instead.
 */
function earlyUpload(registry: Registry, refs: ImageReference[], opts: PushOptions): EarlyUpload | undefined {
  const module = opts.earlyModule;
  const [first] = repositoryPlan(registry, opts.mountFrom);
  const streamed = module && module.size > (opts.streamThreshold ?? DEFAULT_STREAM_THRESHOLD);
  if (!streamed || opts.maxChunk || requiresMonolithic(registry.host) || first.mountFrom.length > 0) return undefined;
  const tag = (refs.find((r) => r.repository === first.repository) as ImageReference).tag;
  const target = { client: registry.client, repository: first.repository, scopes: pushScopes(first.repository, first.mountFrom) };
  return startEarlyUpload(target, tag, module, opts.log);
}

/**
 * The token scopes of each repository (`host/repository`), as `connect` fetched them: every request of the push
 * into a repository uses them, so one token serves its uploads, manifests and verification.
 */
function scopesByRepository(registries: Registry[], mountFrom: ImageReference[] | undefined): Map<string, string[]> {
  const scopes = new Map<string, string[]>();
  for (const registry of registries) {
    for (const p of repositoryPlan(registry, mountFrom))
      scopes.set(`${registry.host}/${p.repository}`, pushScopes(p.repository, p.mountFrom));
  }
  return scopes;
}

function groupByRegistry(refs: ImageReference[]): Map<string, ImageReference[]> {
  const groups = new Map<string, ImageReference[]>();
  for (const ref of refs) groups.set(ref.host, [...(groups.get(ref.host) ?? []), ref]);
  return groups;
}

/** Verifies every repository at once; reports them, and the first failure, in the order the tags were given. */
async function verifyAll(
  image: Image,
  refs: ImageReference[],
  registries: Registry[],
  scopes: Map<string, string[]>,
  mode: Exclude<VerifyMode, 'off'>,
  log: Logger,
): Promise<PushResult['verification']> {
  const repositories = registries.flatMap((registry) => registry.repositories.map((repository) => ({ registry, repository })));
  // The pushed manifest's bytes: the blobs they name are read alongside the read-back, in one round trip.
  const manifest = { bytes: image.manifestBytes, served: false };
  const target = { digest: image.manifestDescriptor.digest, mediaType: image.manifest.mediaType, cncf: image.variant === 'wasm', manifest };
  const tagsOf = (host: string, repository: string) => refs.filter((r) => r.host === host && r.repository === repository).map((r) => r.tag);
  const results = await Promise.allSettled(
    repositories.map(({ registry, repository }) => {
      const repoScopes = scopes.get(`${registry.host}/${repository}`) ?? pushScopes(repository);
      return verifyRepository(registry.client, repository, tagsOf(registry.host, repository), { ...target, scopes: repoScopes }, mode, log);
    }),
  );
  let variant: ConsumerVariant | undefined;
  for (const [i, { registry, repository }] of repositories.entries()) {
    const result = results[i];
    if (result.status === 'rejected') {
      if (result.reason instanceof UnloadableImage) return { error: `${registry.host}/${repository}: ${result.reason.message}` };
      throw result.reason;
    }
    variant = result.value;
    const who = variant === 'wasm' ? 'CNCF Wasm artifact rules' : `Istio and Envoy Gateway read it as the ${variant} variant`;
    log.info(`verified ${registry.host}/${repository}:{${tagsOf(registry.host, repository).join(',')}}: ${who}`);
  }
  return variant ? { variant } : undefined;
}

/** The registry must store the manifest as pushed: its digest is the action's output. */
async function checkManifestDigest(
  res: HttpResponse,
  image: Image,
  ref: ImageReference,
  client: RegistryClient,
  scopes: string[],
): Promise<void> {
  const digest = image.manifestDescriptor.digest;
  const reported = getHeader(res, 'docker-content-digest');
  if (reported !== undefined && reported !== digest) {
    throw new RegistryError(
      `${ref.registry} reports digest ${reported} for ${formatReference(ref)}, but the manifest pushed has digest ${digest}; ` +
        'the registry changed the manifest (it may not support this media type), so the digest output would be wrong',
      res.status,
    );
  }
  if (reported === undefined) {
    const check = await client.requestWithRetries(`checking the manifest of ${formatReference(ref)}`, {
      method: 'HEAD',
      target: `/v2/${ref.repository}/manifests/${digest}`,
      scopes,
      headers: { Accept: image.manifest.mediaType },
    });
    if (check.status !== 200)
      throw new RegistryError(`${ref.registry} accepted ${formatReference(ref)} but does not serve manifest ${digest}`, check.status);
  }
}

/**
 * Puts the manifest for one tag: one retried operation. A MANIFEST_BLOB_UNKNOWN answer makes the next
 * attempt check (and if need be upload) every blob again first.
 */
async function putManifest(
  image: Image,
  ref: ImageReference,
  client: RegistryClient,
  scopes: string[],
  blobs: Blob[],
  settings: UploadSettings,
  log: Logger,
): Promise<void> {
  const digest = image.manifestDescriptor.digest;
  const what = `putting the manifest for ${formatReference(ref)}`;
  const target = { client, repository: ref.repository, scopes };
  const res = await withRetries<HttpResponse>(
    what,
    settings.retry,
    settings.warn,
    async (attempt) => {
      if (attempt > 0) {
        // The registry lost a blob it had confirmed (concurrent pushes of the same blob race inside some
        // registries): check every blob again, as part of this attempt, with no retry of its own.
        try {
          for (const blob of blobs) await ensureBlob(target, blob, [], { ...settings, retry: noRetries(settings.retry) });
        } catch (err) {
          if (err instanceof RetriesExhausted) return { retry: err.message };
          throw err;
        }
      }
      const r = await client.request({
        method: 'PUT',
        target: `/v2/${ref.repository}/manifests/${ref.tag}`,
        scopes: target.scopes,
        headers: { 'Content-Type': image.manifest.mediaType },
        body: { kind: 'bytes', bytes: image.manifestBytes },
      });
      if (isRetryableStatus(r.status)) return { retry: `HTTP ${r.status} ${describeAnswer(r)}`, response: r };
      const codes = parseErrorBody(r.body).map((e) => e.code);
      if (r.status === 400 && (codes.includes('MANIFEST_BLOB_UNKNOWN') || codes.includes('BLOB_UNKNOWN'))) {
        return { retry: `the registry reports ${codes.join(', ')}; checking the blobs again`, response: r };
      }
      return { done: r };
    },
    settings.signal,
  ).catch((err: unknown) => {
    if (!(err instanceof RetriesExhausted) || err.status !== 400) throw err;
    throw new RegistryError(err.message, 400, ['MANIFEST_BLOB_UNKNOWN']);
  });
  if (res.status !== 201 && res.status !== 200) throw unexpectedResponse(what, ref.registry, res, { manifest: image.manifest });
  await checkManifestDigest(res, image, ref, client, scopes);
  log.info(`tagged   ${formatReference(ref)} → ${digest}`);
}

/** Puts every blob into every repository of one registry: the first uploads, the others mount from it. */
async function uploadBlobs(
  registry: Registry,
  blobs: Blob[],
  settings: UploadSettings,
  opts: PushOptions,
  counts: Record<UploadOutcome, number>,
): Promise<void> {
  const concurrency = opts.concurrency ?? 4;
  const [first, ...rest] = repositoryPlan(registry, opts.mountFrom) as [RepositoryPlan, ...RepositoryPlan[]];
  const pushTo = async ({ repository, mountFrom }: RepositoryPlan) => {
    const target = { client: registry.client, repository, scopes: pushScopes(repository, mountFrom) };
    const early = repository === first.repository ? registry.early : undefined;
    await mapLimit(blobs, concurrency, async (blob) => {
      const outcome = await ensureBlob(target, blob, mountFrom, settings, early);
      counts[outcome]++;
      opts.log.info(`${outcome.padEnd(8)} ${blob.descriptor.digest} (${blob.descriptor.size} bytes) in ${registry.host}/${repository}`);
    });
  };
  await pushTo(first);
  await mapLimit(rest, concurrency, pushTo);
}

function uploadSettings(opts: PushOptions): UploadSettings {
  return {
    streamThreshold: opts.streamThreshold ?? DEFAULT_STREAM_THRESHOLD,
    ...(opts.maxChunk ? { maxChunk: opts.maxChunk } : {}),
    retry: { ...DEFAULT_RETRY_POLICY, ...opts.retry },
    warn: (m) => opts.log.warning(m),
    signal: opts.signal,
    monolithicHosts: new Set(),
  };
}

export async function pushImage(image: Image, refs: ImageReference[], opts: PushOptions): Promise<PushResult> {
  if (refs.length === 0) throw new Error('Input `tags`: nothing to push; give at least one image reference');
  const concurrency = opts.concurrency ?? 4;
  const settings = uploadSettings(opts);
  const digest = image.manifestDescriptor.digest;
  const blobs = imageBlobs(image);
  const counts: Record<UploadOutcome, number> = { exists: 0, mounted: 0, uploaded: 0 };

  const phase = opts.group ?? (<T>(_name: string, fn: () => Promise<T>) => fn());
  // 1. Credentials, a ping and a token per registry, before any upload: auth problems fail fast. The
  // caller may have started this already, to overlap it with packaging.
  const registries = await (opts.connection ?? phase('Authenticate', () => connect(refs, opts)));
  const scopes = scopesByRepository(registries, opts.mountFrom);
  let result: PushResult;
  try {
    // The light verification reads the layers' contents here, from the bytes about to be uploaded (after
    // the connection is awaited, so that its failure is never left unhandled meanwhile).
    if (opts.verify === 'light') await checkBeforeUpload(image);
    result = await phase('Upload', async () => {
      const started = Date.now();
      // 2. Blobs, every registry at once: the first repository of a registry uploads; the others mount from it.
      await mapLimit(registries, registries.length, (registry) => uploadBlobs(registry, blobs, settings, opts, counts));
      // 3. Manifests, only now that every blob everywhere is in place.
      const byHost = new Map(registries.map((r) => [r.host, r]));
      await mapLimit(refs, concurrency, (ref) => {
        const { client } = byHost.get(ref.host) as Registry;
        return putManifest(image, ref, client, scopes.get(`${ref.host}/${ref.repository}`) as string[], blobs, settings, opts.log);
      });
      const pushed = refs.map((r) => formatReference(r));
      opts.log.info(
        `pushed ${pushed.length} tag(s) in ${Date.now() - started} ms: ${counts.uploaded} blob(s) uploaded, ${counts.mounted} mounted, ${counts.exists} already present`,
      );
      return { digest, pushed, image: formatDigestReference(refs[0], digest), blobs: counts, verification: undefined };
    });
  } finally {
    // An early upload that no blob took over (a failure came first): stopped, and its session deleted.
    await cancelEarlyUploads(registries);
  }
  const mode = opts.verify ?? 'off';
  const verification = mode === 'off' ? undefined : await phase('Verify', () => verifyAll(image, refs, registries, scopes, mode, opts.log));
  return { ...result, verification };
}
