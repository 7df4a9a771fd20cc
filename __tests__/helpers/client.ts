// A registry client for a test server on loopback: anonymous, no retries and a quiet log unless told.
import { RegistryClient, type ClientOptions } from '../../src/registry/client.js';

export function anonymousClient(host: string, options: Partial<ClientOptions> = {}): RegistryClient {
  return new RegistryClient({
    host,
    credentials: () => Promise.resolve({ kind: 'anonymous', source: 'anonymous' }),
    insecureRegistries: [],
    retry: { retries: 0, baseDelayMs: 1, maxDelayMs: 1, maxRetryAfterMs: 1 },
    timeoutMs: 5_000,
    log: { info: () => {}, warning: () => {} },
    mask: () => {},
    ...options,
  });
}
