// Registry errors: the registry's own error code, message and detail (bounded and cleaned of control
// characters), plus a hint where a common cause is known.
import { MediaType } from '../image/mediatypes.js';
import { CONTROL } from '../log-text.js';
import { asObject, isObject, parseJson, type JsonObject } from '../json.js';
import type { HttpResponse } from './http.js';

interface RegistryErrorDetail {
  code: string;
  message: string;
  /** The `detail` member, as text (JSON when the registry sent an object); empty when absent. */
  detail: string;
}

const MAX_CODE = 64;
const MAX_TEXT = 300;

/**
 * Registry text made safe for one log line: ANSI escape sequences dropped, other control characters (newlines
 * included) turned into spaces, runs of spaces collapsed, and cut at `max` characters.
 */
export function cleanRegistryText(text: string, max = MAX_TEXT): string {
  const cleaned = text
    // eslint-disable-next-line no-control-regex -- control characters are what this removes
    .replace(/\u001b(?:\[[0-?]*[ -/]*[@-~]|\][^\u0007\u001b]*(?:\u0007|\u001b\\)?|[@-_])/g, '')
    .replace(CONTROL, ' ')
    // CONTROL leaves tabs, which printable() keeps; here they are blanks like any other.
    .replace(/[\t ]+/g, ' ')
    .trim();
  return cleaned.length > max ? `${cleaned.slice(0, max - 1)}…` : cleaned;
}

/** A `detail` member as text: a string as it is, `{"message": "..."}` (Quay) as its message, anything else as JSON. */
function detailText(detail: unknown): string {
  if (detail === undefined || detail === null) return '';
  if (typeof detail === 'string') return detail;
  const message = asObject(detail)?.message;
  if (typeof message === 'string' && Object.keys(detail).length === 1) return message;
  const json = JSON.stringify(detail);
  return json === '{}' || json === '[]' ? '' : json;
}

/** Parses `{"errors":[{"code":..,"message":..,"detail":..}]}`; anything else (HTML from a proxy, say) gives none. */
export function parseErrorBody(body: Buffer): RegistryErrorDetail[] {
  let parsed: unknown;
  try {
    parsed = parseJson(body);
  } catch {
    return [];
  }
  const errors = asObject(parsed)?.errors;
  if (!Array.isArray(errors)) return [];
  return errors
    .filter((e): e is JsonObject => isObject(e) && typeof e.code === 'string')
    .slice(0, 5)
    .map(errorDetail);
}

/** One member of `errors`, known to be an object with a string code. */
function errorDetail(e: JsonObject): RegistryErrorDetail {
  return {
    code: cleanRegistryText(String(e.code), MAX_CODE),
    message: typeof e.message === 'string' ? cleanRegistryText(e.message) : '',
    detail: cleanRegistryText(detailText(e.detail)),
  };
}

export class RegistryError extends Error {
  override name = 'RegistryError';
  constructor(
    message: string,
    readonly status: number,
    readonly codes: string[] = [],
  ) {
    super(message);
  }
}

/**
 * A token service busy for a moment (429, 5xx: auth.docker.io answers 503 at times), whether at the first
 * token or at a renewal in the middle of a push: the retry layer retries it as it does the registry.
 */
export class TokenServiceBusy extends RegistryError {
  override name = 'TokenServiceBusy';
  constructor(
    message: string,
    readonly response: HttpResponse,
  ) {
    super(message, response.status);
  }
}

/** What the request was about, for hints that depend on it. */
interface RefusalContext {
  /** A manifest being put (its media types decide some hints). */
  manifest?: ManifestTypes;
}

interface ManifestTypes {
  config: { mediaType: string };
  layers: Array<{ mediaType: string }>;
}

/** Config types every registry accepts as images; any other makes the manifest an artifact. */
const IMAGE_CONFIGS = new Set<string>([MediaType.ociConfig, MediaType.dockerConfig]);

/** Quay (and registries like it) accept an artifact only when an administrator allowed its media types. */
function artifactTypesHint(manifest: ManifestTypes): string {
  const config = manifest.config.mediaType;
  const layers = [...new Set(manifest.layers.map((l) => l.mediaType))].join(', ');
  return (
    `this registry does not accept the artifact type ${config}. Quay and Red Hat Quay accept only ` +
    `config types listed in ALLOWED_OCI_ARTIFACT_TYPES (with FEATURE_GENERAL_OCI_SUPPORT: true): an administrator ` +
    `must allow config type ${config} with layer types ${layers}; or push with \`variant: compat\`, an ` +
    'ordinary container image that every registry accepts and Istio and Envoy Gateway load'
  );
}

function hint(host: string, status: number, details: RegistryErrorDetail[], context: RefusalContext): string | undefined {
  const codes = details.map((d) => d.code);
  const said = details.map((d) => `${d.message} ${d.detail}`).join(' ');
  if (codes.includes('MANIFEST_INVALID') && context.manifest && !IMAGE_CONFIGS.has(context.manifest.config.mediaType)) {
    return artifactTypesHint(context.manifest);
  }
  if (codes.includes('DENIED') && (/(^|\.)ghcr\.io$/.test(host) || /write_package/.test(said))) {
    return 'on ghcr.io give the job `permissions: packages: write`, and if the package already exists, grant this repository Actions access in the package settings (Manage Actions access)';
  }
  if (codes.includes('NAME_UNKNOWN')) {
    return /\.ecr\.[a-z0-9-]+\.amazonaws\.com$/.test(host) || /registry with id/.test(said)
      ? 'ECR does not create repositories on push: create it first (aws ecr create-repository --repository-name <name>)'
      : 'the repository does not exist and this registry does not create repositories on push (ECR, for one, does not): create it first';
  }
  if (codes.includes('TOOMANYREQUESTS') || status === 429)
    return 'the registry is rate limiting; log in (authenticated pulls and pushes get higher limits) or retry later';
  if (status === 413) return 'the registry refused the size; manifests must stay under 4 MiB';
  if (codes.includes('DENIED') || status === 403)
    return 'the credentials are valid but may not push to this repository; check the token scopes or repository permissions';
  return undefined;
}

/** The answer in words: the registry's codes, messages and details, or what the body looks like. */
export function describeAnswer(res: HttpResponse): string {
  const details = parseErrorBody(res.body);
  if (details.length > 0) {
    return details
      .map((d) => `${d.code}${d.message ? `: ${d.message}` : ''}${d.detail && d.detail !== d.message ? ` (${d.detail})` : ''}`)
      .join('; ');
  }
  if (String(res.headers['content-type'] ?? '').includes('html'))
    return 'an HTML page, not a registry answer (is this the registry API host, or a proxy or login page?)';
  return cleanRegistryText(res.body.toString('utf8'), 200) || 'no body';
}

/** The hint for an answer, if a common cause is known. */
function hintFor(host: string, res: HttpResponse, context: RefusalContext = {}): string | undefined {
  return hint(host, res.status, parseErrorBody(res.body), context);
}

/** A clear error for an unexpected answer: what was being done, the status, the registry's words, and a hint. */
export function unexpectedResponse(what: string, host: string, res: HttpResponse, context: RefusalContext = {}): RegistryError {
  const codes = parseErrorBody(res.body).map((d) => d.code);
  const h = hintFor(host, res, context);
  return new RegistryError(
    `${what} on ${host} failed: HTTP ${res.status} ${describeAnswer(res)}${h ? ` (hint: ${h})` : ''}`,
    res.status,
    codes,
  );
}

/**
 * A refusal that outlasted the retries (Docker Hub's rate limit): the retry layer's message, which quotes the
 * registry's words (see describeAnswer), plus the hint for the last answer.
 */
export function refusedThroughRetries(message: string, host: string, last: HttpResponse): RegistryError {
  const h = hintFor(host, last);
  return new RegistryError(
    `${message}${h ? ` (hint: ${h})` : ''}`,
    last.status,
    parseErrorBody(last.body).map((d) => d.code),
  );
}
