// Upload behaviours of real registries, played by the fault proxy (`setProfile`) in front of the real
// Distribution registry. Each profile names the public sources of what it simulates; where a source gives
// no exact status or body, the profile says what stands in for it.
import type { IncomingHttpHeaders } from 'node:http';
import type { Fault, ProfileRequest, RegistryProfile } from './fault-proxy.js';

const MiB = 1024 * 1024;

const registryError = (status: number, code: string, message: string): Fault => ({
  kind: 'status',
  status,
  body: JSON.stringify({ errors: [{ code, message }] }),
});

/** The upload session id in `/v2/<name>/blobs/uploads/<id>?...`; undefined for the POST that opens one. */
function uploadId(path: string): string | undefined {
  return /\/blobs\/uploads\/([^/?]+)/.exec(path)?.[1];
}

function bodyLength(headers: IncomingHttpHeaders): number {
  return Number(headers['content-length'] ?? 0) || 0;
}

function replaceHeader(headers: string[], name: string, value: string): void {
  for (let i = headers.length - 2; i >= 0; i -= 2) {
    if (headers[i].toLowerCase() === name.toLowerCase()) headers.splice(i, 2);
  }
  headers.push(name, value);
}

function headerValue(headers: string[], name: string): string | undefined {
  for (let i = 0; i < headers.length; i += 2) if (headers[i].toLowerCase() === name.toLowerCase()) return headers[i + 1];
  return undefined;
}

/**
 * Google Artifact Registry (and GCR): "Artifact Registry does not support Docker chunked uploads ... You must
 * use monolithic uploads" (cloud.google.com/artifact-registry/docs/reference/docker-api, quoted in
 * dotnet/sdk-container-builds#287; kitops-ml/kitops#777; skopeo#1101). The refusal's exact status is not
 * documented: 405 UNSUPPORTED stands in for it (the client treats 400, 405, 416 and 501 alike).
 */
export function garProfile(): RegistryProfile {
  return {
    name: 'gar',
    answer: (req) =>
      req.method === 'PATCH' ? registryError(405, 'UNSUPPORTED', 'chunked uploads are not supported; use a monolithic upload') : undefined,
  };
}

/**
 * ghcr.io: a PATCH with Content-Range whose body is over 4 MiB gets `416 REQUESTED_RANGE_NOT_SATISFIABLE:
 * the request body is too large and exceeds the maximum permissible limit of 4.00MiB`
 * (oras-project/rust-oci-client#35, wasmCloud/wash#268, ocx-sh/ocx#237). docker and podman stream a layer in
 * one PATCH without Content-Range (pulp/pulp_container#1274), which ghcr.io takes whatever the size.
 */
export function ghcrProfile(): RegistryProfile {
  return {
    name: 'ghcr',
    answer: (req) =>
      req.method === 'PATCH' && req.headers['content-range'] !== undefined && bodyLength(req.headers) > 4 * MiB
        ? registryError(
            416,
            'REQUESTED_RANGE_NOT_SATISFIABLE',
            'the request body is too large and exceeds the maximum permissible limit of 4.00MiB',
          )
        : undefined,
  };
}

export interface EcrProfile extends RegistryProfile {
  /** PATCH body sizes the registry stored, per upload session. */
  parts: Map<string, number[]>;
}

/**
 * Amazon ECR:
 * - answers a PATCH with 201, not 202 (dotnet/sdk-container-builds#279, openai/tart#273, kitops-ml/kitops#821);
 * - its PATCH `Range` sticks at the first part's end while later parts are stored (aws/containers-roadmap#2831);
 * - refuses completion when a non-final part is under 5 MiB: LayerPartTooSmallException "All layer parts
 *   except the last part should be at least 5MB" (dotnet/sdk-container-builds#424). The HTTP form of that
 *   refusal is not documented: 400 BLOB_UPLOAD_INVALID carrying that message stands in for it.
 */
export function ecrProfile(): EcrProfile {
  const parts = new Map<string, number[]>();
  const firstRange = new Map<string, string>();
  const tooSmall = (req: ProfileRequest): boolean => {
    const id = uploadId(req.path);
    if (req.method !== 'PUT' || !id) return false;
    const stored = [...(parts.get(id) ?? [])];
    if (bodyLength(req.headers) === 0) stored.pop(); // the last PATCH was the final part
    return stored.some((size) => size < 5 * MiB);
  };
  return {
    name: 'ecr',
    parts,
    answer: (req) =>
      tooSmall(req)
        ? registryError(
            400,
            'BLOB_UPLOAD_INVALID',
            'LayerPartTooSmallException: All layer parts except the last part should be at least 5MB',
          )
        : undefined,
    rewrite: (req, status, headers) => {
      const id = uploadId(req.path);
      if (req.method !== 'PATCH' || !id || status !== 202) return status;
      parts.set(id, [...(parts.get(id) ?? []), bodyLength(req.headers)]);
      const range = headerValue(headers, 'range');
      const first = firstRange.get(id);
      if (first === undefined && range !== undefined) firstRange.set(id, range);
      else if (first !== undefined) replaceHeader(headers, 'Range', first);
      return 201;
    },
  };
}
