// The real CNCF Distribution registry (Debian's docker-registry) on 127.0.0.1 for tests: anonymous, Basic
// (htpasswd, bcrypt) or Bearer token auth, optionally behind TLS with a self-signed certificate. Started
// with a config file written here, stopped by its PID.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, closeSync } from 'node:fs';
import { request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeCert } from './certs.js';
import { startTokenServer, type TokenServer } from './token-server.js';

export type RegistryAuth = 'none' | 'basic' | 'token';
export interface StartRegistryOptions {
  auth?: RegistryAuth;
  tls?: boolean;
  tokenTtlSeconds?: number;
  /** expires_in the token server announces, when it should lie about tokenTtlSeconds. */
  reportedTokenTtlSeconds?: number;
  username?: string;
  password?: string;
}
export interface RegistryFixture {
  host: string;
  url: string;
  auth: RegistryAuth;
  username?: string;
  password?: string;
  /** Refresh token the token server accepts (docker config `identitytoken`). */
  refreshToken?: string;
  caFile?: string;
  tokenServer?: TokenServer;
  dir: string;
  pid: number;
  accessLog(): string;
  stop(): Promise<void>;
}

export type { TokenServer };

const REGISTRY_BIN = '/usr/bin/docker-registry';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

function ping(url: string, caPem?: string): Promise<number> {
  return new Promise((resolve) => {
    const send = url.startsWith('https') ? httpsRequest : request;
    const r = send(`${url}/v2/`, { method: 'GET', timeout: 1000, ...(caPem ? { ca: caPem } : {}) }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    r.on('error', () => resolve(0));
    r.on('timeout', () => r.destroy());
    r.end();
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timedOut = await Promise.race([exited.then(() => false), sleep(5000).then(() => true)]);
  if (timedOut) {
    child.kill('SIGKILL');
    await exited;
  }
}

export async function startRegistry(opts: StartRegistryOptions = {}): Promise<RegistryFixture> {
  const auth = opts.auth ?? 'none';
  const dir = mkdtempSync(join(tmpdir(), 'registry-'));
  const port = await freePort();
  const username = auth === 'none' ? undefined : (opts.username ?? 'tester');
  const password = auth === 'none' ? undefined : (opts.password ?? `pw-${randomBytes(12).toString('hex')}`);
  const refreshToken = auth === 'token' ? `refresh-${randomBytes(12).toString('hex')}` : undefined;
  const lines = [
    'version: 0.1',
    'log:',
    '  level: info',
    '  accesslog:',
    '    disabled: false',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${join(dir, 'data')}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    `  secret: ${randomBytes(16).toString('hex')}`,
  ];
  let caFile: string | undefined;
  let caPem: string | undefined;
  if (opts.tls) {
    const cert = makeCert(dir, 'tls', '/CN=127.0.0.1', 'IP:127.0.0.1,DNS:localhost');
    caFile = cert.certFile;
    caPem = cert.certPem;
    lines.push('  tls:', `    certificate: ${cert.certFile}`, `    key: ${cert.keyFile}`);
  }
  let tokenServer: TokenServer | undefined;
  try {
    if (auth === 'basic') {
      const htpasswd = join(dir, 'htpasswd');
      writeFileSync(htpasswd, execFileSync('htpasswd', ['-Bbn', username as string, password as string]));
      lines.push('auth:', '  htpasswd:', '    realm: test-registry', `    path: ${htpasswd}`);
    } else if (auth === 'token') {
      const signer = makeCert(dir, 'issuer', '/CN=test-issuer');
      tokenServer = await startTokenServer({
        issuer: 'test-issuer',
        service: 'test-registry',
        signer,
        username: username as string,
        password: password as string,
        refreshToken: refreshToken as string,
        ttlSeconds: opts.tokenTtlSeconds ?? 300,
        reportedTtlSeconds: opts.reportedTokenTtlSeconds,
        // Short-lived test tokens must really expire: take Distribution's 60 s leeway off their exp.
        expiryLeewaySeconds: opts.tokenTtlSeconds !== undefined && opts.tokenTtlSeconds < 60 ? 60 : 0,
      });
      lines.push(
        'auth:',
        '  token:',
        `    realm: ${tokenServer.url}/token`,
        '    service: test-registry',
        '    issuer: test-issuer',
        `    rootcertbundle: ${signer.certFile}`,
      );
    }
    const config = join(dir, 'config.yml');
    writeFileSync(config, `${lines.join('\n')}\n`);
    const logFile = join(dir, 'registry.log');
    const fd = openSync(logFile, 'a');
    const child = spawn(REGISTRY_BIN, ['serve', config], { stdio: ['ignore', fd, fd], detached: false });
    closeSync(fd);
    const url = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
    const accessLog = () => {
      try {
        return readFileSync(logFile, 'utf8');
      } catch {
        return '';
      }
    };
    const deadline = Date.now() + 15_000;
    for (;;) {
      const status = await ping(url, caPem);
      if (status === 200 || status === 401) break;
      if (child.exitCode !== null || Date.now() > deadline) {
        await stopChild(child);
        throw new Error(`the registry did not start on ${url}:\n${accessLog()}`);
      }
      await sleep(50);
    }
    return {
      host: `127.0.0.1:${port}`,
      url,
      auth,
      username,
      password,
      refreshToken,
      caFile,
      tokenServer,
      dir,
      pid: child.pid as number,
      accessLog,
      stop: async () => {
        await stopChild(child);
        await tokenServer?.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await tokenServer?.stop();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
