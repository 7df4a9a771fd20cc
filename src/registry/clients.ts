// Builds a run's registry clients, the source's and the targets' alike, from one set of settings: where
// credentials come from, which hosts may be plain HTTP, retries, timeouts, cancellation, logging, masking.
import { RegistryClient, type Logger } from './client.js';
import { credentialLookup, secretsOf, type CredentialInputs, type Credentials } from './credentials.js';
import { proxySecrets } from './proxy.js';
import type { ImageReference } from './reference.js';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from './retry.js';

export interface ClientSettings {
  credentials: Omit<CredentialInputs, 'env'> & { env?: NodeJS.ProcessEnv };
  insecureRegistries: string[];
  retry?: Partial<RetryPolicy>;
  /** Inactivity timeout of one request. */
  timeoutMs?: number;
  signal?: AbortSignal;
  log: Logger;
  mask: (secret: string) => void;
  /** Hosts already said to be on plain HTTP; shared by a run's clients, so that is said once per host. */
  plainHttpNoted?: Set<string>;
}

const DEFAULT_TIMEOUT_MS = 60_000;

/**
 * A client for `ref`'s registry, with its credentials looked up on the first challenge (by the registry's
 * name, so the username/password inputs go only to the registry they are bound to); every secret is masked
 * before it could be printed. `found` is told which credentials were found.
 */
export function registryClient(
  ref: Pick<ImageReference, 'registry' | 'host'>,
  settings: ClientSettings,
  found?: (c: Credentials) => void,
): RegistryClient {
  const lookupInputs = {
    ...settings.credentials,
    env: settings.credentials.env ?? process.env,
    warn: (m: string) => settings.log.warning(m),
  };
  for (const secret of proxySecrets()) settings.mask(secret);
  const credentials = credentialLookup(ref.registry, lookupInputs, (c) => {
    for (const secret of secretsOf(c)) settings.mask(secret);
    found?.(c);
  });
  return new RegistryClient({
    host: ref.host,
    credentials,
    insecureRegistries: settings.insecureRegistries,
    retry: { ...DEFAULT_RETRY_POLICY, ...settings.retry },
    timeoutMs: settings.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    signal: settings.signal,
    log: settings.log,
    mask: settings.mask,
    plainHttpNoted: settings.plainHttpNoted,
  });
}
