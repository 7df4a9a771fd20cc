// Registry errors: the registry's own error code and message, plus a hint where a common cause is known.
import type { HttpResponse } from './http.js';

export interface RegistryErrorDetail {
  code: string;
  message: string;
}

/** Parses `{"errors":[{"code":..,"message":..}]}`; anything else (HTML from a proxy, say) gives none. */
export function parseErrorBody(body: Buffer): RegistryErrorDetail[] {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { errors?: Array<{ code?: unknown; message?: unknown }> };
    return (parsed.errors ?? [])
      .filter((e) => typeof e.code === 'string')
      .map((e) => ({ code: e.code as string, message: typeof e.message === 'string' ? e.message : '' }));
  } catch {
    return [];
  }
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

function hint(host: string, status: number, codes: string[]): string | undefined {
  if (codes.includes('DENIED') && /(^|\.)ghcr\.io$/.test(host)) {
    return 'on ghcr.io give the job `permissions: packages: write`, and if the package already exists, grant this repository Actions access in the package settings (Manage Actions access)';
  }
  if (codes.includes('NAME_UNKNOWN') && /\.ecr\.[a-z0-9-]+\.amazonaws\.com$/.test(host)) {
    return 'ECR does not create repositories on push: create it first (aws ecr create-repository --repository-name <name>)';
  }
  if (codes.includes('TOOMANYREQUESTS') || status === 429)
    return 'the registry is rate limiting; log in (authenticated pulls and pushes get higher limits) or retry later';
  if (status === 413) return 'the registry refused the size; manifests must stay under 4 MiB';
  if (codes.includes('DENIED') || status === 403)
    return 'the credentials are valid but may not push to this repository; check the token scopes or repository permissions';
  return undefined;
}

/** A clear error for an unexpected answer: what was being done, the status, the registry's codes, and a hint. */
export function unexpectedResponse(what: string, host: string, res: HttpResponse): RegistryError {
  const details = parseErrorBody(res.body);
  const codes = details.map((d) => d.code);
  const contentType = String(res.headers['content-type'] ?? '');
  let text: string;
  if (details.length > 0) text = details.map((d) => (d.message ? `${d.code}: ${d.message}` : d.code)).join('; ');
  else if (contentType.includes('html'))
    text = 'an HTML page, not a registry answer (is this the registry API host, or a proxy or login page?)';
  else text = res.body.toString('utf8').trim().slice(0, 200) || 'no body';
  const h = hint(host, res.status, codes);
  return new RegistryError(`${what} on ${host} failed: HTTP ${res.status} ${text}${h ? ` (hint: ${h})` : ''}`, res.status, codes);
}
