// Self-signed certificates for the test registry: its TLS server certificate and the token issuer's
// signing certificate. Made with the openssl command line, as CI has it installed anyway.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface CertPair {
  /** PEM certificate file (`<name>.crt`). */
  certFile: string;
  /** PEM private key file (`<name>.key`, unencrypted RSA 2048). */
  keyFile: string;
  certPem: string;
  keyPem: string;
}

/**
 * A self-signed RSA certificate valid for two days, written as `<dir>/<name>.crt` and `<dir>/<name>.key`.
 * `altNames` is an openssl subjectAltName value such as `IP:127.0.0.1,DNS:localhost`.
 */
export function makeCert(dir: string, name: string, subject: string, altNames?: string): CertPair {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  const args = ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '2'];
  args.push('-subj', subject, '-keyout', keyFile, '-out', certFile);
  if (altNames) args.push('-addext', `subjectAltName=${altNames}`);
  execFileSync('openssl', args, { stdio: 'pipe', timeout: 20_000 });
  return { certFile, keyFile, certPem: readFileSync(certFile, 'utf8'), keyPem: readFileSync(keyFile, 'utf8') };
}

/** The base64 DER body of the first certificate in a PEM text: the form a JWT `x5c` header entry takes. */
export function certDerBase64(pem: string): string {
  const m = /-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/.exec(pem);
  if (!m) throw new Error('no PEM certificate found');
  return m[1].replace(/\s+/g, '');
}
