// A real forward proxy (Debian's tinyproxy) on 127.0.0.1 for tests. It runs in its own mount namespace
// with a bind-mounted hosts file, so it can resolve names (such as `registry.proxytest`) that nobody else
// on the machine can: a request that reaches a registry by such a name must have gone through the proxy.
// Config and log live in a temp dir; it runs in the foreground and is stopped by PID.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, stopChild, track } from './registry.js';

export interface TinyproxyOptions {
  /** Host names only the proxy resolves, mapped to addresses (`{ 'registry.proxytest': '127.0.0.1' }`). */
  hosts?: Record<string, string>;
  /** Require `Proxy-Authorization: Basic` with this user and password (tinyproxy BasicAuth). */
  basicAuth?: { username: string; password: string };
}

export interface Tinyproxy {
  /** `http://127.0.0.1:PORT` */
  url: string;
  port: number;
  pid: number;
  /** Everything tinyproxy logged so far (LogLevel Info: one line per CONNECT or forwarded request). */
  log(): string;
  /** Kills tinyproxy by PID and removes its temp dir. Idempotent. */
  stop(): Promise<void>;
}

function config(dir: string, port: number, opts: TinyproxyOptions): string {
  const lines = [
    `Port ${port}`,
    'Listen 127.0.0.1',
    'Timeout 30',
    `LogFile "${join(dir, 'tinyproxy.log')}"`,
    'LogLevel Info',
    'MaxClients 64',
    'Allow 127.0.0.1',
    'DisableViaHeader Yes',
  ];
  if (opts.basicAuth) lines.push(`BasicAuth ${opts.basicAuth.username} ${opts.basicAuth.password}`);
  return `${lines.join('\n')}\n`;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port, timeout: 1000 }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
    s.on('timeout', () => {
      s.destroy();
      resolve(false);
    });
  });
}

/**
 * `unshare` arguments for a private mount namespace (where /etc/hosts can be bind-mounted): root has the
 * right itself; another user (CI's runner) gets it inside a user namespace of its own.
 */
export function privateMountNamespace(): string[] {
  return process.getuid?.() === 0 ? ['unshare', '--mount', '--'] : ['unshare', '--user', '--map-root-user', '--mount', '--'];
}

function spawnTinyproxy(dir: string): ChildProcess {
  // unshare execs sh, which execs tinyproxy: one PID throughout, stopped by it.
  const script = 'mount --bind "$1" /etc/hosts && exec tinyproxy -d -c "$2"';
  const argv = [...privateMountNamespace(), 'sh', '-c', script, 'sh', join(dir, 'hosts'), join(dir, 'tinyproxy.conf')];
  const [cmd, ...args] = existsSync('/usr/bin/setpriv') ? ['/usr/bin/setpriv', '--pdeathsig', 'KILL', '--', ...argv] : argv;
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  child.on('error', () => {});
  track(child);
  return child;
}

export async function startTinyproxy(opts: TinyproxyOptions = {}): Promise<Tinyproxy> {
  const dir = mkdtempSync(join(tmpdir(), 'tinyproxy-'));
  const hostLines = Object.entries(opts.hosts ?? {}).map(([name, address]) => `${address} ${name}`);
  writeFileSync(join(dir, 'hosts'), ['127.0.0.1 localhost', ...hostLines, ''].join('\n'));
  const readLog = () => (existsSync(join(dir, 'tinyproxy.log')) ? readFileSync(join(dir, 'tinyproxy.log'), 'utf8') : '');
  for (let attempt = 1; attempt <= 5; attempt++) {
    const port = await freePort();
    writeFileSync(join(dir, 'tinyproxy.conf'), config(dir, port, opts));
    const logStart = readLog().length;
    const child = spawnTinyproxy(dir);
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const alive = () => child.exitCode === null && child.signalCode === null;
    // Ready when this child says it accepts connections and the port answers (not another process's port).
    const ready = async () => alive() && readLog().slice(logStart).includes('Accepting connections') && (await accepts(port));
    const deadline = Date.now() + 10_000;
    while (alive() && Date.now() < deadline && !(await ready())) await sleep(50);
    if (await ready()) {
      let stopping: Promise<void> | undefined;
      return {
        url: `http://127.0.0.1:${port}`,
        port,
        pid: child.pid as number,
        log: readLog,
        stop: () =>
          (stopping ??= (async () => {
            await stopChild(child);
            rmSync(dir, { recursive: true, force: true });
          })()),
      };
    }
    await stopChild(child, 2000);
    if (attempt === 5 || !/address already in use|bind/i.test(readLog() + stderr)) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`tinyproxy did not start (exit ${child.exitCode ?? child.signalCode}): ${stderr}${readLog()}`);
    }
  }
  throw new Error('unreachable');
}
