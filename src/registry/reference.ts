// Image reference parsing and normalisation, following distribution/reference (the grammar docker uses).

export interface ImageReference {
  /** Registry as docker names it: lower-case (`docker.io`, `ghcr.io`, `localhost:5000`, `[::1]:5000`). */
  registry: string;
  /** host[:port] the client connects to (`registry-1.docker.io` for Docker Hub). */
  host: string;
  /** Repository path, already lower-case-checked, with `library/` for official Docker Hub images. */
  repository: string;
  /** Tag; `latest` when the reference names none. */
  tag: string;
}

export class ReferenceError extends Error {
  override name = 'ReferenceError';
}

const DOCKER_HUB = 'docker.io';
const DOCKER_HUB_HOST = 'registry-1.docker.io';
const COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const DOMAIN_NAME = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\.(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?))*(?::[0-9]+)?$/;
// As in distribution/reference: hex and colons only, so no zone id and no dotted (IPv4-mapped) form.
const DOMAIN_IPV6 = /^\[[0-9A-Fa-f:]+\](?::[0-9]+)?$/;
// A bare 64-hex string is an image ID to docker, never a repository name.
const IMAGE_ID = /^[a-f0-9]{64}$/;
const MAX_NAME_LENGTH = 255;

/** Splits `name` into domain and path the way docker does: the first part is a domain if it looks like one. */
function splitDomain(name: string): [string, string] {
  const slash = name.indexOf('/');
  const first = slash === -1 ? '' : name.slice(0, slash);
  const isDomain =
    slash !== -1 &&
    (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('[') || first !== first.toLowerCase());
  return isDomain ? [first, name.slice(slash + 1)] : [DOCKER_HUB, name];
}

/** The registry as compared and shown everywhere: lower-case (host names are case-insensitive), Docker Hub as docker.io. */
function checkDomain(ref: string, domain: string): string {
  if (!DOMAIN_NAME.test(domain) && !DOMAIN_IPV6.test(domain)) {
    throw new ReferenceError(`"${ref}" has an invalid registry host "${domain}"`);
  }
  const registry = domain.toLowerCase();
  return registry === 'index.docker.io' ? DOCKER_HUB : registry;
}

function checkRepository(ref: string, registry: string, repository: string, tag: string): void {
  if (repository === '' || repository.split('/').some((c) => c === '')) {
    throw new ReferenceError(`"${ref}" has an empty repository path component`);
  }
  const bad = repository.split('/').find((c) => !COMPONENT.test(c));
  if (bad === undefined) return;
  const lower = repository.toLowerCase();
  if (lower !== repository && lower.split('/').every((c) => COMPONENT.test(c))) {
    const fixed = formatReference({ registry, host: registry, repository: lower, tag });
    throw new ReferenceError(
      `"${ref}" has upper-case letters in its repository; registries accept only lower case: use "${fixed}" ` +
        '(in a workflow, lower-case ${{ github.repository }} in an earlier step)',
    );
  }
  throw new ReferenceError(
    `"${ref}" has an invalid repository component "${bad}": use lower-case letters and digits separated by '.', '_', '__' or '-'`,
  );
}

const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;
const DIGEST_SUFFIX = /@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9A-Fa-f]{32,}$/;

/**
 * Refuses `user:password@host/...` (with or without a scheme), showing the user info as `***`. Any '@'
 * that does not start a trailing digest, and is not inside a leading `[IPv6%zone]`, is taken as user info.
 */
/** Refuses a reference with user info before any message can quote it: it may hold a password. */
export function refuseUserInfo(ref: string): void {
  const digest = DIGEST_SUFFIX.exec(ref)?.[0] ?? '';
  const name = ref.slice(0, ref.length - digest.length);
  const at = name.lastIndexOf('@');
  if (at === -1 || at < (/^\[[^\]]*\]/.exec(name)?.[0].length ?? 0)) return;
  const redacted = `${SCHEME.exec(name)?.[0] ?? ''}***${name.slice(at)}${digest}`;
  throw new ReferenceError(
    `"${redacted}" has credentials in it (user info before '@'); remove them and give the username and password inputs (or log in first)`,
  );
}

/** Refusals that come before the grammar: what the action cannot push, or what is not a reference at all. */
function checkShape(ref: string): void {
  if (ref === '') throw new ReferenceError('empty image reference');
  refuseUserInfo(ref); // before any message that quotes the reference: it may hold a password
  if (/\s/.test(ref)) throw new ReferenceError(`"${ref}" contains white space`);
  // Before the '@' check: a zone id may hold one, and "names a digest" would mislead.
  const zoned = /^\[[^\]/]*%[^\]/]*\]/.exec(ref);
  if (zoned) {
    throw new ReferenceError(
      `"${ref}" has an IPv6 zone id in its registry host "${zoned[0]}"; image references cannot carry one (as in docker): use a global address or a host name`,
    );
  }
  if (ref.includes('@')) {
    throw new ReferenceError(`"${ref}" names a digest; give a tag instead (e.g. ghcr.io/acme/filter:1.0.0)`);
  }
  if (ref.includes('://')) {
    throw new ReferenceError(`"${ref}" has a URL scheme; give registry/repository:tag without "${ref.split('://')[0]}://"`);
  }
  if (IMAGE_ID.test(ref)) {
    throw new ReferenceError(`"${ref}" is a 64-character hexadecimal image ID, not a repository; give registry/repository:tag`);
  }
}

/**
 * Parses a full image reference such as `ghcr.io/acme/filter:1.2.0`, normalised as docker normalises it:
 * lower-case registry host, `docker.io` (and `library/`) for Docker Hub. Digest references are refused:
 * the action pushes tags. An upper-case repository is refused with the lower-cased reference to use instead.
 */
export function parseReference(input: string): ImageReference {
  const ref = input.trim();
  checkShape(ref);
  const [domain, path] = splitDomain(ref);
  // A tag is the part after the last ':' that has no '/' after it (a port sits before a '/').
  let repository = path;
  let tag = 'latest';
  const colon = path.lastIndexOf(':');
  if (colon !== -1) {
    tag = path.slice(colon + 1);
    repository = path.slice(0, colon);
    if (!TAG.test(tag)) {
      throw new ReferenceError(
        `"${ref}" has an invalid tag "${tag}": use up to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'`,
      );
    }
  }
  const registry = checkDomain(ref, domain);
  if (registry === DOCKER_HUB && !repository.includes('/')) repository = `library/${repository}`;
  checkRepository(ref, registry, repository, tag);
  if (`${registry}/${repository}`.length > MAX_NAME_LENGTH) {
    throw new ReferenceError(`"${ref}" is longer than ${MAX_NAME_LENGTH} characters`);
  }
  const host = registry === DOCKER_HUB ? DOCKER_HUB_HOST : registry;
  return { registry, host, repository, tag };
}

/** `registry/repository:tag`, normalised (lower-case registry, `docker.io/library/` for official images). */
export function formatReference(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}:${ref.tag}`;
}

/** `registry/repository@digest`: the immutable reference later steps should use. */
export function formatDigestReference(ref: ImageReference, digest: string): string {
  return `${ref.registry}/${ref.repository}@${digest}`;
}

/** Hostname without port or IPv6 brackets, for loopback checks and TLS servername. */
function hostName(host: string): string {
  if (host.startsWith('[')) return host.slice(1, host.indexOf(']'));
  const colon = host.lastIndexOf(':');
  return colon === -1 ? host : host.slice(0, colon);
}

/** True for `localhost`, 127.0.0.0/8 and ::1, which behave as insecure registries by default, as in docker. */
export function isLoopbackHost(host: string): boolean {
  const name = hostName(host).toLowerCase();
  return name === 'localhost' || name === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}
