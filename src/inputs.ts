// Reads and validates the action's inputs (or the CLI's flags, which use the same names) into Options.
// Every input error is raised here, before any file is written or any request is made.
import type { MediaTypeFlavour, Variant } from './image/types.js';
import type { VerifyMode } from './registry/verify.js';
import type { BuildStepOptions } from './build-step.js';
import { InputError } from './errors.js';
import { DEFAULT_PLATFORM, formatPlatform, parsePlatform, PlatformError, type Platform } from './image/platform.js';
import { abiForIstioVersion, IstioVersionError, type IstioAbi } from './wasm/istio.js';
import { isAbsolute, join } from 'node:path';
import { parseReference, ReferenceError, type ImageReference } from './registry/reference.js';
import { parseDigestReference, type DigestReference } from './source/registry-image.js';

/** Where the image comes from: a module to package, a layout an earlier run wrote, or an image in a registry. */
type ImageSource =
  { kind: 'module' } | { kind: 'layout'; dir: string; ref: string | undefined } | { kind: 'registry'; image: DigestReference };

export interface Options {
  source: ImageSource;
  /** The module to package (empty unless source is a module). */
  wasm: string;
  variant: Variant;
  flavour: MediaTypeFlavour;
  /** The compat config's platform (the oci and wasm variants have none to set). */
  platform: Platform;
  tags: ImageReference[];
  abiVersions: string[];
  rootIds: string[];
  runtimeType: string;
  annotations: Record<string, string>;
  labels: Record<string, string>;
  push: boolean;
  ociLayout: string | undefined;
  /** Write the job summary. */
  summary: boolean;
  username: string;
  password: string;
  /** The registry (as tags name it: `docker.io`, `ghcr.io`, `host:port`) username/password are for; '' when none are given. */
  registry: string;
  githubToken: string;
  insecureRegistries: string[];
  /** Retries after a failed request (0 disables). */
  retries: number;
  /** Inactivity timeout of one request, in ms. */
  requestTimeoutMs: number;
  /** Repositories in the tags' registries to mount blobs from. */
  mountFrom: ImageReference[];
  /** gzip level of the compat layer. */
  compressionLevel: number;
  /** How pushed images are checked against the consumers' rules (input `verify`: true = light, false = off, full). */
  verify: VerifyMode;
  /** The Istio version `abi-versions` came from, and whether it reads the ABI from the module. */
  istio: { version: string; abi: IstioAbi } | undefined;
  /** The build to run before packaging, when `build-command` is given. */
  build: BuildStepOptions | undefined;
  /** Seconds since the epoch from SOURCE_DATE_EPOCH: the only source of timestamps, so images stay reproducible. */
  sourceDateEpoch: number | undefined;
}

/** Defaults for inputs the runner would fill from action.yml; applied here too so `node dist/index.js` and the CLI agree. */
export const INPUT_DEFAULTS: Readonly<Record<string, string>> = {
  variant: 'compat',
  'media-types': 'oci',
  platform: formatPlatform(DEFAULT_PLATFORM),
  'runtime-type': 'envoy_proxy',
  push: 'true',
  summary: 'true',
  retries: '4',
  'request-timeout': '60',
  'compression-level': '6',
  'working-directory': '.',
  'cache-key': 'wasm-image-build',
  'cache-timeout': '600',
  verify: 'true',
};

type InputGetter = (name: string) => string;

/**
 * Splits a list input as docker/build-push-action does: entries separated by newlines or commas, trimmed,
 * empty ones dropped. An entry in double quotes may hold commas (`"org.example/desc=a, b"`).
 */
export function parseList(value: string): string[] {
  const out: string[] = [];
  for (const line of value.split(/\r?\n/)) {
    let current = '';
    let quoted = false;
    for (const ch of line) {
      if (ch === '"') quoted = !quoted;
      else if (ch === ',' && !quoted) {
        out.push(current);
        current = '';
      } else current += ch;
    }
    out.push(current);
  }
  return out.map((s) => s.trim()).filter((s) => s !== '');
}

/** `key=value` list entries into a record; the value may contain '=' (split at the first one). */
export function parseKeyValues(input: string, value: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of parseList(value)) {
    const eq = entry.indexOf('=');
    if (eq <= 0) throw new InputError(input, `"${entry}" is not key=value; write entries such as org.opencontainers.image.vendor=Acme`);
    const key = entry.slice(0, eq).trim();
    if (!/^[A-Za-z0-9][A-Za-z0-9._/-]*$/.test(key)) {
      throw new InputError(input, `key "${key}" may hold only letters, digits, '.', '_', '-' and '/'`);
    }
    out[key] = entry.slice(eq + 1).trim();
  }
  return out;
}

function parseBoolean(input: string, value: string): boolean {
  const v = value.trim().toLowerCase();
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new InputError(input, `"${value}" is not a boolean; use true or false`);
}

function oneOf<T extends string>(input: string, value: string, allowed: readonly T[]): T {
  const v = value.trim().toLowerCase();
  if ((allowed as readonly string[]).includes(v)) return v as T;
  throw new InputError(input, `"${value}" is not supported; use one of: ${allowed.join(', ')}`);
}

function parseInteger(input: string, value: string, min: number, max: number, what: string): number {
  if (!/^\d+$/.test(value.trim()) || Number(value) < min || Number(value) > max) {
    throw new InputError(input, `"${value}" is not ${what}; use a whole number from ${min} to ${max}`);
  }
  return Number(value);
}

/** `retries`, shared with the CLI's inspect and verify. */
export function parseRetries(value: string): number {
  return parseInteger('retries', value || (INPUT_DEFAULTS.retries ?? ''), 0, 20, 'a retry count');
}

/** `request-timeout` in ms, shared with the CLI's inspect and verify. */
export function parseRequestTimeoutMs(value: string): number {
  return parseInteger('request-timeout', value || (INPUT_DEFAULTS['request-timeout'] ?? ''), 1, 3600, 'a number of seconds') * 1000;
}

function parseReferences(input: string, value: string): ImageReference[] {
  return parseList(value).map((entry) => {
    try {
      return parseReference(entry);
    } catch (err) {
      if (err instanceof ReferenceError) throw new InputError(input, err.message);
      throw err;
    }
  });
}

/** A host, host:port or [ipv6]:port, as written in insecure-registries (a scheme or path is refused). */
function parseHosts(input: string, value: string): string[] {
  return parseList(value).map((entry) => {
    if (!/^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/.test(entry)) {
      throw new InputError(input, `"${entry}" is not a host or host:port (write registry.example.com:5000, without http://)`);
    }
    return entry.toLowerCase();
  });
}

/** compat's platform; the other variants have no image platform, so only the default may be given with them. */
function parsePlatformInput(value: string, variant: Variant): Platform {
  let platform: Platform;
  try {
    platform = parsePlatform(value);
  } catch (err) {
    if (err instanceof PlatformError) throw new InputError('platform', err.message);
    throw err;
  }
  if (variant !== 'compat' && formatPlatform(platform) !== formatPlatform(DEFAULT_PLATFORM)) {
    const why =
      variant === 'oci'
        ? 'its config is the Wasm runtime config, which has no platform'
        : 'its config says wasip1 or wasip2, read from the module';
    throw new InputError('platform', `applies only to variant compat (${why}); remove platform, or use variant: compat`);
  }
  return platform;
}

const DOCKER_HUB_ALIASES = ['index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com'];

/** The `registry` input as a reference names it: scheme and path dropped (`https://index.docker.io/v1/` is docker.io). */
function parseRegistry(value: string): string {
  if (value === '') return '';
  const host = value
    .replace(/^https?:\/\//i, '')
    .replace(/\/.*$/, '')
    .toLowerCase();
  if (!/^(?:[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::\d{1,5})?$/.test(host)) {
    throw new InputError(
      'registry',
      `"${value}" is not a registry host; write it as the tags do (ghcr.io, docker.io, registry.example.com:5000)`,
    );
  }
  return DOCKER_HUB_ALIASES.includes(host) ? 'docker.io' : host;
}

/**
 * Which registry username/password are for: the `registry` input (a tag's registry, or a from-image source's),
 * or the tags' one registry. Credentials never go to a registry they were not given for (a Docker Hub password
 * must not reach ghcr.io).
 */
function credentialRegistry(given: string, username: string, tags: ImageReference[], push: boolean, source: ImageSource): string {
  if (!username) {
    if (given)
      throw new InputError(
        'registry',
        'names the registry username and password are for: set username and password too, or remove registry',
      );
    return '';
  }
  const registries = [...new Set(tags.map((t) => t.registry.toLowerCase()))];
  if (!push || registries.length === 0) return given;
  if (given) {
    const sourceRegistry = source.kind === 'registry' ? source.image.ref.registry : undefined;
    if (!registries.includes(given) && given !== sourceRegistry) {
      const named = sourceRegistry
        ? `any tag or of from-image (${[...registries, sourceRegistry].join(', ')})`
        : `any tag (${registries.join(', ')})`;
      throw new InputError('registry', `${given} is not the registry of ${named}; set it to the registry username and password are for`);
    }
    return given;
  }
  if (registries.length > 1) {
    throw new InputError(
      'registry',
      `is required when username and password are set and the tags name several registries (${registries.join(', ')}): ` +
        'set registry to the one they are for, or log in to each registry with docker/login-action and leave username and password empty',
    );
  }
  return registries[0];
}

const VERIFY_MODES = new Map<string, VerifyMode>([
  ['true', 'light'],
  ['false', 'off'],
  ['full', 'full'],
]);

function parseVerify(value: string): VerifyMode {
  const mode = VERIFY_MODES.get(value.trim().toLowerCase());
  if (mode) return mode;
  throw new InputError(
    'verify',
    `"${value}" is not supported; use true (check the pushed image without downloading it), full (read every blob back) or false`,
  );
}

function parseSourceDateEpoch(env: NodeJS.ProcessEnv): number | undefined {
  const raw = env.SOURCE_DATE_EPOCH?.trim();
  if (raw === undefined || raw === '') return undefined;
  if (!/^\d{1,12}$/.test(raw)) {
    throw new InputError('SOURCE_DATE_EPOCH', `"${raw}" is not a whole number of seconds since 1970-01-01 UTC`);
  }
  return Number(raw);
}

/** The build step's inputs: `build-command` and, with it only, the build cache. */
function parseBuildStep(read: InputGetter, workingDirectory: string): BuildStepOptions | undefined {
  const command = read('build-command');
  const cachePaths = parseList(read('cache-paths'));
  if (!command && cachePaths.length > 0) {
    throw new InputError('cache-paths', 'caches the output of build-command; set build-command too, or remove cache-paths');
  }
  if (!command) return undefined;
  return {
    command,
    workingDirectory,
    cachePaths,
    cacheKey: read('cache-key'),
    cacheKeyFiles: parseList(read('cache-key-files')),
    cacheTimeoutMs: parseInteger('cache-timeout', read('cache-timeout'), 1, 21600, 'a number of seconds') * 1000,
  };
}

/** Inputs that shape a packaged image: an existing image is published as it is, so they cannot apply. */
const PACKAGING_INPUTS = [
  'variant',
  'media-types',
  'abi-versions',
  'istio-version',
  'root-ids',
  'runtime-type',
  'annotations',
  'labels',
  'compression-level',
  'build-command',
  'platform',
];

/** Relative paths are relative to working-directory (the workspace by default), like the build command. */
function resolveIn(workingDirectory: string, path: string): string {
  return workingDirectory === '.' || isAbsolute(path) ? path : join(workingDirectory, path);
}

/** Exactly one of wasm, from-oci-layout and from-image. */
function parseSource(read: (name: string) => string, resolvePath: (p: string) => string): ImageSource {
  const given = ['wasm', 'from-oci-layout', 'from-image'].filter((n) => read(n) !== '');
  if (given.length === 0) {
    throw new InputError(
      'wasm',
      'is required: give the path of the compiled .wasm module (or from-oci-layout or from-image to publish an existing image)',
    );
  }
  if (given.length > 1)
    throw new InputError(given[1], `and ${given[0]} both name the image; give exactly one of wasm, from-oci-layout, from-image`);
  const fromRef = read('from-ref');
  if (fromRef && given[0] !== 'from-oci-layout')
    throw new InputError('from-ref', 'names an entry of from-oci-layout; set from-oci-layout too, or remove from-ref');
  if (given[0] === 'wasm') return { kind: 'module' };
  for (const name of PACKAGING_INPUTS) {
    if (read(name) !== (INPUT_DEFAULTS[name] ?? '')) {
      throw new InputError(name, `shapes a packaged module; ${given[0]} publishes an existing image byte for byte, so remove ${name}`);
    }
  }
  if (given[0] === 'from-image') return { kind: 'registry', image: parseDigestReference(read('from-image')) };
  return { kind: 'layout', dir: resolvePath(read('from-oci-layout')), ref: fromRef || undefined };
}

type Read = (name: string) => string;

/** What the image says about itself: variant, media types, platform, annotations, labels, ABI versions. */
function parseImageShape(read: Read) {
  const variant = oneOf<Variant>('variant', read('variant'), ['compat', 'oci', 'wasm']);
  const flavour = oneOf<MediaTypeFlavour>('media-types', read('media-types'), ['oci', 'docker']);
  if (variant !== 'compat' && flavour === 'docker') {
    throw new InputError(
      'media-types',
      `"docker" applies only to variant compat; the ${variant} variant needs OCI media types (remove media-types or use variant: compat)`,
    );
  }
  const annotations = parseKeyValues('annotations', read('annotations'));
  const labels = parseKeyValues('labels', read('labels'));
  if (variant !== 'compat' && Object.keys(labels).length > 0) {
    throw new InputError('labels', `apply only to variant compat (the ${variant} variant has no image config); use annotations instead`);
  }
  if (flavour === 'docker' && Object.keys(annotations).length > 0) {
    throw new InputError('annotations', 'Docker manifests (media-types: docker) have no annotations; use labels, or media-types: oci');
  }
  const { abiVersions, istio } = parseAbi(read, variant);
  return {
    variant,
    flavour,
    platform: parsePlatformInput(read('platform'), variant),
    abiVersions,
    istio,
    rootIds: parseList(read('root-ids')),
    runtimeType: read('runtime-type'),
    annotations,
    labels,
  };
}

/** `abi-versions`, or the versions `istio-version` stands for (never both). */
function parseAbi(read: Read, variant: Variant): Pick<Options, 'abiVersions' | 'istio'> {
  const abiVersions = parseList(read('abi-versions'));
  const version = read('istio-version');
  if (!version) return { abiVersions, istio: undefined };
  if (abiVersions.length > 0)
    throw new InputError('istio-version', 'fills abi-versions from the known mapping; give istio-version or abi-versions, not both');
  if (variant === 'wasm')
    throw new InputError('istio-version', 'applies to the Envoy variants (compat, oci); variant wasm is not for Istio');
  let abi: IstioAbi;
  try {
    abi = abiForIstioVersion(version);
  } catch (err) {
    if (err instanceof IstioVersionError) throw new InputError('istio-version', err.message);
    throw err;
  }
  return { abiVersions: abi.kind === 'legacy' ? abi.abiVersions : [], istio: { version, abi } };
}

/** Where the image goes and with which credentials: tags, push, registry credentials, mounts, transport settings. */
function parsePushTarget(read: Read, source: ImageSource) {
  const tags = parseReferences('tags', read('tags'));
  const push = parseBoolean('push', read('push'));
  if (push && tags.length === 0) {
    throw new InputError('tags', 'is required when push is true: give at least one image reference such as ghcr.io/acme/filter:1.0.0');
  }
  const username = read('username');
  const password = read('password');
  if (password && !username) throw new InputError('username', 'is required when password is given');
  if (username && !password) throw new InputError('password', 'is required when username is given (pass it from a secret)');
  const mountFrom = parseReferences('mount-from', read('mount-from'));
  for (const m of mountFrom) {
    if (!tags.some((t) => t.host === m.host)) {
      throw new InputError(
        'mount-from',
        `${m.registry}/${m.repository} is not in the registry of any tag; blobs mount only within one registry`,
      );
    }
  }
  return {
    tags,
    push,
    username,
    password,
    registry: credentialRegistry(parseRegistry(read('registry')), username, tags, push, source),
    githubToken: read('github-token'),
    insecureRegistries: parseHosts('insecure-registries', read('insecure-registries')),
    retries: parseRetries(read('retries')),
    requestTimeoutMs: parseRequestTimeoutMs(read('request-timeout')),
    mountFrom,
  };
}

export function parseOptions(get: InputGetter, env: NodeJS.ProcessEnv = process.env): Options {
  const read: Read = (name) => {
    const v = get(name).trim();
    return v === '' ? (INPUT_DEFAULTS[name] ?? '') : v;
  };
  const workingDirectory = read('working-directory');
  const wasm = read('wasm') && resolveIn(workingDirectory, read('wasm'));
  const source = parseSource(read, (p) => resolveIn(workingDirectory, p));
  const shape = parseImageShape(read);
  const target = parsePushTarget(read, source);
  return {
    source,
    wasm,
    ...shape,
    ...target,
    ociLayout: read('oci-layout') || undefined,
    summary: parseBoolean('summary', read('summary')),
    compressionLevel: parseInteger('compression-level', read('compression-level'), 0, 9, 'a gzip level'),
    build: parseBuildStep(read, workingDirectory),
    verify: parseVerify(read('verify')),
    sourceDateEpoch: parseSourceDateEpoch(env),
  };
}
