// Registry profiles: how the big registries refuse a push, as fault-proxy rules answered in front of the
// real Distribution registry. Each names the public source of the behaviour it copies; the answers use
// the registry's error format ({"errors":[{"code","message","detail"}]}) and its words.
import type { CannedAnswer, FaultRule } from './fault-proxy.js';

const errors = (code: string, message: string, detail?: unknown) =>
  JSON.stringify({ errors: [{ code, message, ...(detail === undefined ? {} : { detail }) }] });

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Config types Quay stores as container images, whatever ALLOWED_OCI_ARTIFACT_TYPES says. */
const QUAY_IMAGE_CONFIGS = ['application/vnd.oci.image.config.v1+json', 'application/vnd.docker.container.image.v1+json'];

/**
 * Quay (quay.io, Red Hat Quay) accepts an OCI manifest whose config is not an image config only when
 * ALLOWED_OCI_ARTIFACT_TYPES maps that config type to its layer types (Red Hat Quay docs, "Configuring
 * artifact types", FEATURE_GENERAL_OCI_SUPPORT / ALLOWED_OCI_ARTIFACT_TYPES). Otherwise the manifest PUT
 * fails with 400 MANIFEST_INVALID, "manifest invalid", and the reason in `detail.message` (the answer's shape
 * as quoted in openshift/oc-mirror#253 and GoogleContainerTools/jib#698).
 */
export function quayArtifactTypes(allowed: Record<string, string[]> = {}): FaultRule {
  return {
    match: { method: 'PUT', path: /\/manifests\// },
    times: Infinity,
    fault: {
      kind: 'respond',
      answer: ({ body }): CannedAnswer | undefined => {
        const manifest = JSON.parse(body.toString('utf8')) as { config: { mediaType: string }; layers: Array<{ mediaType: string }> };
        const config = manifest.config.mediaType;
        if (QUAY_IMAGE_CONFIGS.includes(config)) return undefined;
        const layers = allowed[config];
        if (layers && manifest.layers.every((l) => layers.includes(l.mediaType))) return undefined;
        return {
          status: 400,
          body: errors('MANIFEST_INVALID', 'manifest invalid', {
            message: `failed to parse manifest: config media type ${config} is not an allowed artifact type`,
          }),
        };
      },
    },
  };
}

/**
 * Harbor issues a token to any good credentials, then answers 401 UNAUTHORIZED to every request on a
 * project that does not exist or that the account (or robot account) may not push to: "unauthorized to
 * access repository: <project>/<repo>, action: push" (goharbor/harbor#13115, #13988, #18806; the project
 * must be created first, #81). `challenge` is the registry's own WWW-Authenticate, so the client still sees
 * a Bearer challenge with the real token service's realm.
 */
export function harborMissingProject(opts: { projects: string[]; challenge: string }): FaultRule {
  const known = opts.projects.map(escapeRegExp).join('|');
  return {
    match: { path: new RegExp(`^/v2/(?!(?:${known})/)[^/]+/`) },
    times: Infinity,
    fault: {
      kind: 'respond',
      answer: ({ path }) => {
        const repository = /^\/v2\/(.+?)\/(?:blobs|manifests|tags)\//.exec(path)?.[1] ?? 'unknown';
        const words = `unauthorized to access repository: ${repository}, action: push`;
        return { status: 401, headers: { 'WWW-Authenticate': opts.challenge }, body: errors('UNAUTHORIZED', `${words}: ${words}`) };
      },
    },
  };
}

/**
 * Docker Hub's pull rate limit: 429 TOOMANYREQUESTS with the message that links the upgrade page, and the
 * RateLimit-Limit / RateLimit-Remaining headers, no Retry-After (Docker docs, "Docker Hub usage and rate
 * limits"; the message as quoted in docker/docs#20788 and in the many CI reports of it). A manifest GET is
 * what the limit counts as a pull (here: reading the pushed image back to verify it).
 */
export function dockerHubRateLimit(match: FaultRule['match'] = { method: 'GET', path: /\/manifests\// }): FaultRule {
  return {
    match,
    times: Infinity,
    fault: {
      kind: 'status',
      status: 429,
      headers: { 'RateLimit-Limit': '100;w=21600', 'RateLimit-Remaining': '0;w=21600' },
      body: errors(
        'TOOMANYREQUESTS',
        'You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit',
      ),
    },
  };
}

/**
 * Amazon ECR does not create repositories on push: every request on a repository that was not created
 * first is 404 NAME_UNKNOWN, "The repository with name '<name>' does not exist in the registry with id
 * '<account>'" (aws-actions/amazon-ecr-login#166, actions/starter-workflows#2647, regclient/regclient#869).
 */
export function ecrRepositoryNotFound(repository: string, registryId = '123456789012'): FaultRule {
  return {
    match: { path: new RegExp(`^/v2/${escapeRegExp(repository)}/`) },
    times: Infinity,
    fault: {
      kind: 'status',
      status: 404,
      body: errors('NAME_UNKNOWN', `The repository with name '${repository}' does not exist in the registry with id '${registryId}'`),
    },
  };
}

/**
 * ghcr.io refuses a push from a token without write access to the package (no `permissions: packages: write`,
 * or a package created elsewhere that has not granted this repository Actions access) with 403 DENIED
 * "permission_denied: write_package" (actions/runner#1039, Snowfork/snowbridge#1272, tridz-dev/huf#349).
 */
export function ghcrWritePackageDenied(): FaultRule {
  return {
    match: { method: 'POST', path: /\/blobs\/uploads\/(\?|$)/ },
    times: Infinity,
    fault: { kind: 'status', status: 403, body: errors('DENIED', 'permission_denied: write_package') },
  };
}
