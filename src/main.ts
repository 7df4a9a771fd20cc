// Wiring only: options → module check → image → layout / registry → outputs and summary.
import * as core from '#actions-core';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { actionHost, failureTitle } from './action-host.js';
import { InputError } from './errors.js';
import { contextAnnotations } from './github-context.js';
import type { Host } from './host.js';
import type { ImageSpec } from './image/build.js';
import type { Image } from './image/types.js';
import { parseOptions, type Options } from './inputs.js';
import { checkLayoutTarget, layoutRefNames, writeLayout } from './layout.js';
import { printable } from './log-text.js';
import { checkFits, packModule } from './pack.js';
import { closeIdleConnections } from './registry/http.js';
import type { Logger } from './registry/client.js';
import type { ModuleFile } from './registry/early-upload.js';
import { cancelEarlyUploads, connect, pushImage, type PushOptions, type PushResult, type Registry } from './registry/push.js';
import { MountRefused } from './registry/upload.js';
import { buildOutputs, failureMarkdown, summaryMarkdown, type RunResult, type RunWarning } from './report.js';
import { readLayoutImage } from './source/layout.js';
import { moduleFacts, type ModuleFacts } from './source/module.js';
import { readRegistryImage, sourceClient, type DigestReference, type SourceOptions } from './source/registry-image.js';
import { inspectModuleFile, WasmFormatError, type ModuleInfo } from './wasm/inspect.js';
import { abiMismatch } from './wasm/istio.js';
import { checkModuleFile } from './wasm/module-file.js';

function imageSpec(options: Options, env: NodeJS.ProcessEnv): ImageSpec {
  // GitHub-context keys first, so that the user's annotations and labels win.
  const context = contextAnnotations({ env, tags: options.tags, sourceDateEpoch: options.sourceDateEpoch });
  const docker = options.flavour === 'docker';
  return {
    variant: options.variant,
    flavour: options.flavour,
    runtimeType: options.runtimeType,
    abiVersions: options.abiVersions,
    rootIds: options.rootIds,
    annotations: docker ? options.annotations : { ...context, ...options.annotations },
    labels: options.variant === 'compat' ? { ...context, ...options.labels } : options.labels,
    created: options.sourceDateEpoch,
    platform: options.platform,
  };
}

/** Logs what the module is, and warns where it will not suit the proxies it is meant for. */
function reportModule(info: ModuleInfo, options: Options, host: Host, variant = options.variant): void {
  const abi = info.proxyAbi ? `proxy-wasm ABI ${info.proxyAbi}` : 'no proxy-wasm ABI export';
  host.info(`module: ${info.kind}, ${info.size} bytes, ${info.imports} imports, ${info.exports} exports, ${abi}`);
  if (options.istio?.abi.kind === 'modern') {
    host.info(`Istio ${options.istio.version} reads the proxy-wasm ABI from the module itself; no abiVersions are written`);
  } else if (options.istio) {
    host.info(`Istio ${options.istio.version}: abi-versions ${options.abiVersions.join(', ')}`);
  }
  if (variant === 'wasm') return;
  if (!info.proxyAbi) {
    host.warning(
      `${options.wasm || 'the module'} exports no proxy_abi_version_* function, so it is probably not a proxy-wasm plugin; Envoy will refuse to load it as an HTTP or network filter`,
      'Not a proxy-wasm module?',
    );
  }
  const mismatch = abiMismatch(info.proxyAbi, options.abiVersions);
  if (mismatch) host.warning(`${mismatch}; the proxy may refuse the module`, 'ABI mismatch');
}

/**
 * Holds log lines of work that runs in the background, to print them in their own group later; once
 * replayed, it prints straight away (the clients it was given to log retries for the rest of the push).
 */
class BufferedLog implements Logger {
  private readonly lines: Array<['info' | 'warning', string]> = [];
  private replayed = false;
  constructor(private readonly host: Host) {}
  info(message: string): void {
    this.log('info', message);
  }
  warning(message: string): void {
    this.log('warning', message);
  }
  replay(): void {
    this.replayed = true;
    for (const [kind, message] of this.lines.splice(0)) this.host[kind](message);
  }
  private log(kind: 'info' | 'warning', message: string): void {
    if (this.replayed) this.host[kind](message);
    else this.lines.push([kind, message]);
  }
}

/** RUNNER_TEMP when set: the runner empties it after every job, even one whose process was killed. */
function tempRoot(): string {
  return process.env.RUNNER_TEMP || tmpdir();
}

/** An image ready to write or push, with the module facts where the module was read. */
interface SourcedImage {
  image: Image;
  facts: ModuleFacts | undefined;
  /** Whether the build cache hit; undefined when no build ran. */
  cacheHit: boolean | undefined;
  /** For blobs left in the registry to be mounted: the same image with every blob downloaded. */
  withBytes?: Finish;
}

/** Thrown before any output is written: a failed run leaves only cache-hit, set once the build step ran. */
class VerificationError extends Error {
  override name = 'VerificationError';
}

/** A step that needs the network (packaging overlaps with authentication; a promotion reads the source). */
type Finish = () => Promise<SourcedImage>;

/** The image's finishing step, and the raw module (oci, wasm) that can start going up while it is hashed. */
interface Prepared {
  finish: Finish;
  rawModule?: ModuleFile;
}

/**
 * The module path: build, check and inspect `options.wasm` now, before any network call; the returned
 * step logs what the module is and packages it.
 */
async function prepareModule(options: Options, host: Host, workDir: string, signal?: AbortSignal): Promise<Prepared> {
  const build = options.build;
  // Loaded only when there is a build to run (it brings @actions/exec): a run without one starts faster.
  const built = build
    ? await host.group('Build', async () => (await import('./build-step.js')).runBuildStep(build, host, { signal }))
    : undefined;
  // Set as soon as it is known, so a later failure still reports it.
  if (built) host.setOutput('cache-hit', String(built.cacheHit));
  const module = await checkModuleFile(options.wasm, options.variant === 'wasm').catch((err: unknown) => {
    if (build && err instanceof InputError && !existsSync(options.wasm)) {
      throw new InputError(
        'wasm',
        `${options.wasm} does not exist after build-command ran; check the build's output path (relative to working-directory)`,
      );
    }
    throw err;
  });
  if (options.variant === 'wasm') warnNotEnvoy(host);
  const spec = imageSpec(options, process.env);
  checkFits(module, spec);
  const info = await inspectModuleFile(module.path).catch((err: unknown) => {
    if (err instanceof WasmFormatError) throw new InputError('wasm', `${module.path} is not a well-formed Wasm module: ${err.message}`);
    throw err;
  });
  const finish = async () => {
    // Logged here, once the connection has started: every check above ran before it, and the log lines are
    // no reason to hold its first request back.
    reportModule(info, options, host);
    const packed = await host.group('Package', async () => {
      const started = Date.now();
      const p = await packModule(module, spec, workDir, options.compressionLevel);
      host.info(
        `${p.image.variant} image ${p.image.manifestDescriptor.digest} from ${module.path} (${module.size} bytes) in ${Date.now() - started} ms`,
      );
      return p;
    });
    return { image: packed.image, facts: { wasm: packed.wasm, module: info }, cacheHit: built?.cacheHit };
  };
  return { finish, ...(options.variant === 'compat' ? {} : { rawModule: { path: module.path, size: module.size } }) };
}

function warnNotEnvoy(host: Host): void {
  host.warning(
    'variant wasm is the CNCF Wasm OCI artifact for wasmtime-based runtimes (runwasi, Spin, wkg); Istio and Envoy Gateway cannot load it: use compat or oci for Envoy',
    'Not loadable by Envoy',
  );
}

/** Module facts of an existing image, where its module is on disk here. */
async function existingFacts(image: Image, options: Options, host: Host, workDir: string): Promise<SourcedImage> {
  const facts = await moduleFacts(image, workDir);
  if (facts) reportModule(facts.module, options, host, image.variant);
  return { image, facts, cacheHit: undefined };
}

/** A layout is read and checked whole before any network call. */
async function prepareLayout(options: Options, host: Host, workDir: string, dir: string, ref: string | undefined): Promise<Prepared> {
  const image = await host.group('Read image', async () => {
    const img = await readLayoutImage(dir, ref);
    host.info(`${img.variant} image ${img.manifestDescriptor.digest} from the OCI layout ${dir}`);
    return img;
  });
  if (image.variant === 'wasm') warnNotEnvoy(host);
  const sourced = await existingFacts(image, options, host, workDir);
  return { finish: () => Promise.resolve(sourced) };
}

/** An image in a registry: within one registry every blob is mounted; a layout or another registry needs the bytes here. */
function prepareRegistryImage(options: Options, host: Host, workDir: string, source: SourceOptions, from: DigestReference): Prepared {
  const { ref, digest } = from;
  const read = async (download: boolean, retry = false): Promise<SourcedImage> => {
    const image = await host.group('Read image', async () => {
      const client = await sourceClient(ref, source);
      const img = await readRegistryImage(client, from, { download, workDir });
      host.info(
        `${img.variant} image ${digest} from ${ref.registry}/${ref.repository}${download ? ', blobs downloaded' : ', blobs to be mounted'}`,
      );
      return img;
    });
    // Once per run: a refused mount reads the image a second time.
    if (image.variant === 'wasm' && !retry) warnNotEnvoy(host);
    const sourced = await existingFacts(image, options, host, workDir);
    return download ? sourced : { ...sourced, withBytes: () => read(true, true) };
  };
  return { finish: () => read(options.ociLayout !== undefined || !options.push || options.tags.some((t) => t.host !== ref.host)) };
}

function prepareImage(options: Options, host: Host, workDir: string, source: SourceOptions): Promise<Prepared> | Prepared {
  const from = options.source;
  if (from.kind === 'module') return prepareModule(options, host, workDir, source.signal);
  if (from.kind === 'layout') return prepareLayout(options, host, workDir, from.dir, from.ref);
  return prepareRegistryImage(options, host, workDir, source, from.image);
}

/** Wraps the host so warnings are kept for the summary and the current step is known when something fails. */
function tracking(host: Host): { host: Host; warnings: RunWarning[]; step: () => string } {
  const warnings: RunWarning[] = [];
  let step = 'Check inputs';
  return {
    warnings,
    step: () => step,
    host: {
      ...host,
      warning: (message, title) => {
        warnings.push({ title: title ?? 'Warning', message });
        host.warning(message, title);
      },
      group: (name, fn) => {
        step = name;
        return host.group(name, fn);
      },
    },
  };
}

/** The typed core that the action and the CLI share: one job from parsed options, through a Host. */
export async function runJob(options: Options, outerHost: Host, signal?: AbortSignal): Promise<RunResult> {
  for (const secret of [options.password, options.githubToken]) if (secret) outerHost.setSecret(secret);
  const { host, warnings, step } = tracking(outerHost);
  try {
    return await publish(options, host, warnings, signal);
  } catch (err) {
    // A summary that cannot be written must not hide the error it describes.
    if (options.summary) await outerHost.writeSummary(failureMarkdown(step(), err, warnings)).catch(() => undefined);
    throw err;
  }
}

/** Registry settings shared by the source (from-image) and the targets. */
function registrySettings(options: Options, host: Host, signal: AbortSignal | undefined): SourceOptions {
  return {
    credentials: {
      username: options.username,
      password: options.password,
      registry: options.registry || undefined,
      githubToken: options.githubToken,
      githubActor: process.env.GITHUB_ACTOR,
    },
    insecureRegistries: options.insecureRegistries,
    retry: { retries: options.retries },
    timeoutMs: options.requestTimeoutMs,
    signal,
    log: host,
    mask: (s: string) => host.setSecret(s),
    // The source's client and a target's for the same host each ping it: one note about plain HTTP is enough.
    plainHttpNoted: new Set<string>(),
  };
}

function pushSettings(options: Options, host: Host, common: SourceOptions): PushOptions | undefined {
  if (!options.push) return undefined;
  // A promotion within one registry mounts every blob from the source repository.
  const mountSource = options.source.kind === 'registry' ? [options.source.image.ref] : [];
  return {
    ...common,
    mountFrom: [...options.mountFrom, ...mountSource],
    group: (name, fn) => host.group(name, fn),
    verify: options.verify,
  };
}

/**
 * The connection to the target registries. Credentials, ping and tokens change nothing anywhere, so they run
 * in the background while the image is packaged or read; a failure there is reported only when the push
 * awaits it, after any failure of the image, which the user sees first.
 */
interface Connecting {
  /**
   * Starts connecting, once; resolves two event-loop turns later, by which a registry nearby has its first
   * request, so that the connection's round trips overlap the packaging, which keeps the thread busy. Once
   * connected, the raw module given starts going up (early-upload.ts).
   */
  start(rawModule?: ModuleFile): Promise<void>;
  /** The registries, the connection's log lines replayed in their own group. */
  registries(): Promise<Registry[]>;
  /** Stops a connection the push will not use, and waits until its requests have ended. */
  cancel(): Promise<void>;
}

function connecting(tags: Options['tags'], pushOptions: PushOptions, host: Host): Connecting {
  const stop = new AbortController();
  const log = new BufferedLog(host);
  // The run's own cancellation stops it too (AbortSignal.any needs Node 20.3).
  if (pushOptions.signal?.aborted) stop.abort();
  pushOptions.signal?.addEventListener('abort', () => stop.abort(), { once: true });
  let pending: Promise<Registry[]> | undefined;
  const start = (rawModule?: ModuleFile) => {
    if (!pending) {
      pending = connect(tags, { ...pushOptions, log, signal: stop.signal, earlyModule: rawModule });
      // Handled where it is awaited (registries, cancel), never an unhandled rejection meanwhile.
      pending.catch(() => undefined);
    }
    // Two turns of the event loop before the packaging takes the thread. The first ends the current turn,
    // in whose microtasks the request was made and its socket opened; in the second, the poll phase watches
    // that socket, so a connect that is already done (a registry nearby) sends the request right away.
    return new Promise<void>((resolve) => setImmediate(() => setImmediate(resolve)));
  };
  return {
    start,
    registries: () => {
      void start();
      return host.group('Authenticate', async () => {
        try {
          return await (pending as Promise<Registry[]>);
        } finally {
          log.replay();
        }
      });
    },
    cancel: async () => {
      stop.abort();
      await cancelEarlyUploads((await pending?.catch(() => undefined)) ?? []);
    },
  };
}

/**
 * Pushes the image; when a registry refuses to mount a promoted image's blobs (not every registry mounts),
 * downloads them and pushes again. No tag was put yet: manifests go up only after every blob.
 */
async function pushOrCopy(
  sourced: SourcedImage,
  push: (image: Image) => Promise<PushResult>,
  host: Host,
): Promise<{ result: PushResult; sourced: SourcedImage }> {
  try {
    return { result: await push(sourced.image), sourced };
  } catch (err) {
    if (!(err instanceof MountRefused) || !sourced.withBytes) throw err;
    host.warning(`${err.message}; downloading the image's blobs to upload them instead`, 'Mount refused');
    const copied = await sourced.withBytes();
    return { result: await push(copied.image), sourced: copied };
  }
}

async function publish(options: Options, host: Host, warnings: RunWarning[], signal?: AbortSignal): Promise<RunResult> {
  if (options.ociLayout) await checkLayoutTarget(options.ociLayout);
  const common = registrySettings(options, host, signal);
  const pushOptions = pushSettings(options, host, common);
  const workDir = await mkdtemp(join(tempRoot(), 'wasm-image-'));
  const connection = pushOptions && connecting(options.tags, pushOptions, host);
  try {
    const { finish, rawModule } = await prepareImage(options, host, workDir, common);
    // Every local check passed: connect while the image is packaged (hashed) or read.
    if (connection) await connection.start(rawModule);
    const sourced = await finish();
    const { image } = sourced;

    if (options.ociLayout) {
      const refNames = layoutRefNames(options.tags.map((t) => t.tag));
      await writeLayout(options.ociLayout, image, refNames, workDir);
      host.info(`OCI layout written to ${options.ociLayout} (${refNames.join(', ')})`);
    }

    const connected = connection?.registries();
    const push = (img: Image) => pushImage(img, options.tags, { ...(pushOptions as PushOptions), connection: connected });
    const pushed = pushOptions ? await pushOrCopy(sourced, push, host) : undefined;
    const final = pushed?.sourced ?? sourced;
    const result: RunResult = {
      image: final.image,
      facts: final.facts,
      tags: options.tags,
      pushed: pushed?.result.pushed ?? [],
      imageRef: pushed?.result.image,
      ociLayout: options.ociLayout,
      verification: pushed?.result.verification,
      warnings,
    };
    if (result.verification && 'error' in result.verification) {
      throw new VerificationError(`the pushed image would not load: ${result.verification.error}`);
    }
    for (const [name, value] of Object.entries(buildOutputs(result))) host.setOutput(name, value);
    if (sourced.cacheHit === undefined) host.setOutput('cache-hit', 'false');
    if (options.summary) await host.writeSummary(summaryMarkdown(result));
    return result;
  } catch (err) {
    // No request outlives a failed run (packaging or a source read that failed while connecting).
    await connection?.cancel();
    throw err;
  } finally {
    closeIdleConnections();
    await rm(workDir, { recursive: true, force: true });
  }
}

/** Parses the inputs; a bad one fails before runJob, so its failure summary is written here. */
async function actionOptions(): Promise<Options> {
  try {
    return parseOptions((name) => core.getInput(name));
  } catch (err) {
    if (core.getInput('summary') !== 'false') {
      await actionHost.writeSummary(failureMarkdown('Check inputs', err, [])).catch(() => undefined);
    }
    throw err;
  }
}

/**
 * The action's entry, shaped like GitHub's typescript-action template (which `@github/local-action` runs):
 * reads the inputs, runs the job, and turns any error into a failed step.
 */
export async function run(): Promise<void> {
  // The runner cancels a job with SIGINT, then SIGTERM: stop requests, put no manifest, clean up.
  const cancel = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (cancel.signal.aborted) return;
    core.warning(`received ${sig}: cancelling`, { title: 'Cancelled' });
    cancel.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    // Mask secrets before anything else can print them.
    for (const name of ['password', 'github-token']) {
      const value = core.getInput(name);
      if (value) actionHost.setSecret(value);
    }
    await runJob(await actionOptions(), actionHost, cancel.signal);
  } catch (err) {
    const message = cancel.signal.aborted
      ? 'cancelled (SIGINT/SIGTERM): requests in flight were stopped and tags not yet put were left as they were'
      : err instanceof Error
        ? err.message
        : String(err);
    // What core.setFailed does, plus a title saying what kind of failure it is.
    core.error(printable(message), { title: failureTitle(err) });
    process.exitCode = 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
