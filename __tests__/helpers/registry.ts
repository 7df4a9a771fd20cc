// The real CNCF Distribution registry (Debian's docker-registry 2.8) on 127.0.0.1 for tests: anonymous,
// Basic (htpasswd, bcrypt) or Bearer token auth (./token-server.ts), optionally behind TLS with a
// self-signed certificate. Each one runs from its own temp dir (config, storage, log) and is stopped by PID.
//
// Child processes never outlive the test process: they are spawned under `setpriv --pdeathsig KILL`
// when setpriv exists (so even a SIGKILLed test worker takes its registries along), killed on the test
// process's `exit`, and killed when start-up fails.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeCert } from './certs.js';
import { startTokenServer, type TokenScope, type TokenServer } from './token-server.js';

export type RegistryAuth = 'none' | 'basic' | 'token';

export interface StartRegistryOptions {
  auth?: RegistryAuth;
  tls?: boolean;
  /** Real lifetime of the token server's tokens in seconds (default 300). */
  tokenTtlSeconds?: number;
  /** The expires_in the token server announces, when it should lie about tokenTtlSeconds. */
  reportedTokenTtlSeconds?: number;
  /** Which actions an account gets on a scope (token mode). Default: all asked for when authenticated, none when anonymous. */
  tokenGrant?: (account: string | undefined, scope: TokenScope) => string[];
  username?: string;
  password?: string;
  /** Extra DNS names in the TLS certificate (for a registry reached by another name, e.g. through a proxy). */
  tlsHostNames?: string[];
  /** How long to wait for `GET /v2/` to answer (default 15 s). */
  startTimeoutMs?: number;
}

export interface RegistryFixture {
  /** `127.0.0.1:PORT` */
  host: string;
  /** `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT` */
  url: string;
  auth: RegistryAuth;
  /** Set in basic and token modes. */
  username?: string;
  password?: string;
  /** Token mode: a refresh token the token server accepts (docker config `identitytoken`). */
  refreshToken?: string;
  /** TLS: PEM of the self-signed server certificate, which is its own CA (NODE_EXTRA_CA_CERTS, curl --cacert). */
  caFile?: string;
  /** TLS: a directory holding only `ca.crt`, for `skopeo --cert-dir` / `--dest-cert-dir`. */
  certDir?: string;
  tokenServer?: TokenServer;
  /** Temp dir with config.yml, storage (data/), registry.log and any certificates. */
  dir: string;
  configFile: string;
  pid: number;
  /** Everything the registry wrote so far (stdout and stderr: app log and access log lines). */
  accessLog(): string;
  /** Kills the registry (SIGTERM, SIGKILL after 5 s), stops the token server and removes dir. Idempotent. */
  stop(): Promise<void>;
}

export type { TokenScope, TokenServer };

const REGISTRY_BIN = '/usr/bin/docker-registry';
const SETPRIV = '/usr/bin/setpriv';
/** Distribution accepts a token up to this many seconds after its exp (and before its nbf). */
const DISTRIBUTION_TOKEN_LEEWAY_SECONDS = 60;

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
/** Kills `child` when this process exits (tests that start other daemons use it too). */
export function track(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of live) c.kill('SIGKILL');
    });
  }
}

/** PIDs of the registries this process started that have not exited yet. */
export function liveRegistryPids(): number[] {
  return [...live].map((c) => c.pid).filter((pid): pid is number => pid !== undefined);
}

/** A port that was free a moment ago on 127.0.0.1 (another process may still take it: callers retry). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** Status of `GET <url>/v2/`, 0 when there is no answer within a second. */
function ping(url: string, caPem?: string): Promise<number> {
  return new Promise((resolve) => {
    const send = url.startsWith('https:') ? httpsRequest : httpRequest;
    const r = send(`${url}/v2/`, { method: 'GET', timeout: 1000, ...(caPem ? { ca: caPem } : {}) }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    r.on('error', () => resolve(0));
    r.on('timeout', () => r.destroy());
    r.end();
  });
}

export async function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  // No pid: the spawn itself failed (ENOENT), there is nothing to stop.
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = sleep(graceMs).then(() => 'timeout' as const);
  if ((await Promise.race([exited, timer])) === 'timeout') {
    child.kill('SIGKILL');
    await exited;
  }
}

function yamlConfig(o: {
  dir: string;
  port: number;
  tls?: { certificate: string; key: string };
  auth?: { htpasswd: string } | { realm: string; rootcertbundle: string };
}): string {
  const q = (s: string) => JSON.stringify(s); // JSON strings are YAML strings
  const lines = [
    'version: 0.1',
    'log:',
    '  level: info',
    '  formatter: text',
    '  accesslog:',
    '    disabled: false',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${q(join(o.dir, 'data'))}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: ${q(`127.0.0.1:${o.port}`)}`,
    `  secret: ${q(randomBytes(24).toString('hex'))}`,
  ];
  if (o.tls) lines.push('  tls:', `    certificate: ${q(o.tls.certificate)}`, `    key: ${q(o.tls.key)}`);
  if (o.auth && 'htpasswd' in o.auth) {
    lines.push('auth:', '  htpasswd:', '    realm: "test-registry"', `    path: ${q(o.auth.htpasswd)}`);
  } else if (o.auth) {
    lines.push(
      'auth:',
      '  token:',
      `    realm: ${q(o.auth.realm)}`,
      '    service: "test-registry"',
      '    issuer: "test-issuer"',
      `    rootcertbundle: ${q(o.auth.rootcertbundle)}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

function spawnRegistry(config: string, logFile: string): ChildProcess {
  const fd = openSync(logFile, 'a');
  try {
    const [cmd, args] = existsSync(SETPRIV)
      ? [SETPRIV, ['--pdeathsig', 'KILL', '--', REGISTRY_BIN, 'serve', config]]
      : [REGISTRY_BIN, ['serve', config]];
    const child = spawn(cmd, args, { stdio: ['ignore', fd, fd] });
    child.on('error', () => {}); // reported through exitCode/the readiness loop
    track(child);
    return child;
  } finally {
    closeSync(fd);
  }
}

export async function startRegistry(opts: StartRegistryOptions = {}): Promise<RegistryFixture> {
  const auth = opts.auth ?? 'none';
  const dir = mkdtempSync(join(tmpdir(), 'registry-'));
  const username = auth === 'none' ? undefined : (opts.username ?? 'tester');
  const password = auth === 'none' ? undefined : (opts.password ?? `pw-${randomBytes(12).toString('hex')}`);
  const configFile = join(dir, 'config.yml');
  const logFile = join(dir, 'registry.log');
  let child: ChildProcess | undefined;
  let tokenServer: TokenServer | undefined;
  const readLog = () => {
    try {
      return readFileSync(logFile, 'utf8');
    } catch {
      return '';
    }
  };
  try {
    let tls: { certificate: string; key: string } | undefined;
    let caFile: string | undefined;
    let certDir: string | undefined;
    let caPem: string | undefined;
    if (opts.tls) {
      const names = ['IP:127.0.0.1', 'DNS:localhost', ...(opts.tlsHostNames ?? []).map((n) => `DNS:${n}`)];
      const cert = makeCert(dir, 'tls', '/CN=127.0.0.1', names.join(','));
      tls = { certificate: cert.certFile, key: cert.keyFile };
      caFile = cert.certFile;
      caPem = cert.certPem;
      certDir = join(dir, 'certs.d');
      mkdirSync(certDir);
      copyFileSync(cert.certFile, join(certDir, 'ca.crt'));
    }
    let authConfig: { htpasswd: string } | { realm: string; rootcertbundle: string } | undefined;
    if (auth === 'basic') {
      const htpasswd = join(dir, 'htpasswd');
      // Distribution only understands bcrypt entries.
      writeFileSync(htpasswd, execFileSync('htpasswd', ['-Bbn', username as string, password as string], { timeout: 20_000 }));
      authConfig = { htpasswd };
    } else if (auth === 'token') {
      const signer = makeCert(dir, 'token-signer', '/CN=test-issuer');
      const ttl = opts.tokenTtlSeconds ?? 300;
      tokenServer = await startTokenServer({
        issuer: 'test-issuer',
        service: 'test-registry',
        signer,
        username: username as string,
        password: password as string,
        ttlSeconds: ttl,
        expiryLeewaySeconds: DISTRIBUTION_TOKEN_LEEWAY_SECONDS,
        reportedTtlSeconds: opts.reportedTokenTtlSeconds,
        grant: opts.tokenGrant,
      });
      authConfig = { realm: `${tokenServer.url}/token`, rootcertbundle: signer.certFile };
    }

    const url = (port: number) => `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
    const deadline = Date.now() + (opts.startTimeoutMs ?? 15_000);
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      writeFileSync(configFile, yamlConfig({ dir, port, tls, auth: authConfig }));
      const logStart = readLog().length;
      child = spawnRegistry(configFile, logFile);
      const exited = new Promise<void>((resolve) => child?.once('exit', () => resolve()));
      let ready = false;
      while (!ready && child.pid !== undefined && child.exitCode === null && child.signalCode === null && Date.now() < deadline) {
        const status = await Promise.race([ping(url(port), caPem), exited.then(() => 0)]);
        // The answer must come from this child (which logs "listening on" once bound), not from another
        // process that won the race for the port.
        ready =
          (status === 200 || status === 401) &&
          child.exitCode === null &&
          readLog().slice(logStart).includes(`listening on 127.0.0.1:${port}`);
        if (!ready) await Promise.race([sleep(50), exited]);
      }
      if (ready) {
        const pid = child.pid as number;
        const running = child;
        const ts = tokenServer;
        let finalLog: string | undefined;
        let stopping: Promise<void> | undefined;
        return {
          host: `127.0.0.1:${port}`,
          url: url(port),
          auth,
          username,
          password,
          refreshToken: tokenServer?.refreshToken,
          caFile,
          certDir,
          tokenServer,
          dir,
          configFile,
          pid,
          accessLog: () => finalLog ?? readLog(),
          stop: () =>
            (stopping ??= (async () => {
              try {
                await stopChild(running);
                await ts?.stop();
              } finally {
                finalLog = readLog();
                rmSync(dir, { recursive: true, force: true });
              }
            })()),
        };
      }
      await stopChild(child, 2000);
      const log = readLog().slice(logStart);
      // Someone took the port between freePort() and the registry's bind: try another one.
      if (/address already in use/i.test(log) && attempt < 5 && Date.now() < deadline) continue;
      throw new Error(
        `the registry did not answer GET ${url(port)}/v2/ (exit ${child.exitCode ?? child.signalCode ?? 'none'}):\n${readLog()}`,
      );
    }
  } catch (err) {
    if (child) await stopChild(child, 2000);
    await tokenServer?.stop();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
