// Whether a host that may be reached over plain HTTP speaks TLS at all, asked with an empty trust store:
// a plain-HTTP registry listed in insecure-registries is told apart without first loading the system's
// root certificates, which the verified HTTPS attempt would do (20-30 ms of a cold start).
// Only a definite "not TLS" answer counts; anything else is left to the real, verified request.
import { proxyFor } from './proxy.js';

// What a TLS handshake with a plain-HTTP server looks like: the server's HTTP answer read as a TLS record,
// or the connection dropped before the handshake finished.
const NOT_TLS =
  /WRONG_VERSION_NUMBER|PACKET_LENGTH_TOO_LONG|HTTP_REQUEST|wrong version number|packet length too long|EPROTO|before secure TLS connection was established/;

/** Whether the failure of a TLS attempt means the server answered in plain text. */
export function isNotTls(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as NodeJS.ErrnoException).code ?? '';
  return NOT_TLS.test(code) || NOT_TLS.test(err.message);
}

/**
 * 'plain' when `host` (host[:port]) answers a TLS handshake in plain text; 'unknown' otherwise (it speaks
 * TLS, is unreachable, is reached through a proxy, or did not answer within `timeoutMs`). No request and
 * no credential is sent: the connection is closed after the handshake.
 */
export async function probeTls(host: string, timeoutMs: number, signal?: AbortSignal): Promise<'plain' | 'unknown'> {
  const url = new URL(`https://${host}/v2/`);
  if (proxyFor(url)) return 'unknown';
  const hostname = url.hostname.replace(/^\[|\]$/g, '');
  const { connect } = await import('node:tls');
  if (signal?.aborted) return 'unknown';
  return new Promise((resolve) => {
    const socket = connect({
      host: hostname,
      port: Number(url.port || 443),
      // Certificates do not matter here: the handshake's outcome alone is read, and nothing is sent over it.
      ca: [],
      rejectUnauthorized: false,
      timeout: timeoutMs,
    });
    const done = (answer: 'plain' | 'unknown') => {
      signal?.removeEventListener('abort', stop);
      socket.destroy();
      resolve(answer);
    };
    const stop = () => done('unknown');
    signal?.addEventListener('abort', stop, { once: true });
    socket.once('secureConnect', () => done('unknown'));
    socket.once('timeout', () => done('unknown'));
    socket.once('error', (err) => done(isNotTls(err) ? 'plain' : 'unknown'));
  });
}
