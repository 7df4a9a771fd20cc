// A private Docker Engine (Debian's docker.io) for tests: its own data root, exec root (with its own
// managed containerd), pid file, unix socket and daemon.json, vfs storage, no iptables and no bridge, so it
// touches nothing of the machine's own daemon. Started under `setpriv --pdeathsig KILL` like the registry,
// stopped by PID.
import { execFile as execFileCb, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

const execFile = promisify(execFileCb);
const SETPRIV = '/usr/bin/setpriv';

export interface DockerdFixture {
  /** `unix:///tmp/.../docker.sock` */
  host: string;
  dir: string;
  pid: number;
  /** Runs the docker CLI against this daemon with a private DOCKER_CONFIG; never throws on a non-zero exit. */
  docker(args: string[], timeoutMs?: number): Promise<{ code: number; stdout: string; stderr: string }>;
  log(): string;
  stop(): Promise<void>;
}

function commandPath(name: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Why a daemon cannot run here (not root, or docker.io not installed), or undefined when it can. */
export function dockerdUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'dockerd needs root (a rootful daemon with its own data root); run the tests as root';
  if (!commandPath('dockerd') || !commandPath('docker')) return 'dockerd and docker are not installed (Debian package docker.io)';
  return undefined;
}

async function stopChild(child: ChildProcess, graceMs = 20_000): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  if ((await Promise.race([exited, sleep(graceMs).then(() => 'timeout' as const)])) === 'timeout') {
    child.kill('SIGKILL');
    await exited;
  }
}

function spawnDaemon(dir: string, socket: string, insecureRegistries: string[]): ChildProcess {
  const daemonJson = join(dir, 'daemon.json');
  // An empty daemon.json: the machine's /etc/docker/daemon.json must not change the test.
  writeFileSync(daemonJson, '{}\n');
  const args = [
    '--config-file', daemonJson,
    '--data-root', join(dir, 'data'),
    '--exec-root', join(dir, 'exec'),
    '--pidfile', join(dir, 'dockerd.pid'),
    '-H', `unix://${socket}`,
    '--storage-driver', 'vfs',
    '--iptables=false',
    '--bridge=none',
    '--log-level', 'warn',
    ...insecureRegistries.flatMap((r) => ['--insecure-registry', r]),
  ]; // prettier-ignore
  const dockerd = commandPath('dockerd') as string;
  const fd = openSync(join(dir, 'dockerd.log'), 'a');
  try {
    const [cmd, argv] = existsSync(SETPRIV) ? [SETPRIV, ['--pdeathsig', 'KILL', '--', dockerd, ...args]] : [dockerd, args];
    const child = spawn(cmd, argv, { stdio: ['ignore', fd, fd], env: { PATH: process.env.PATH, HOME: dir } });
    child.on('error', () => {}); // seen through exitCode in the readiness loop
    return child;
  } finally {
    closeSync(fd);
  }
}

export async function startDockerd(opts: { insecureRegistries?: string[]; startTimeoutMs?: number } = {}): Promise<DockerdFixture> {
  // Short: a unix socket path must fit in 108 bytes.
  const dir = mkdtempSync(join(tmpdir(), 'dockerd-'));
  const socket = join(dir, 'docker.sock');
  const clientConfig = join(dir, 'client');
  mkdirSync(clientConfig);
  const host = `unix://${socket}`;
  const log = () => (existsSync(join(dir, 'dockerd.log')) ? readFileSync(join(dir, 'dockerd.log'), 'utf8') : '');
  const docker: DockerdFixture['docker'] = async (args, timeoutMs = 60_000) => {
    const env = { PATH: process.env.PATH, HOME: dir, DOCKER_CONFIG: clientConfig, DOCKER_HOST: host };
    try {
      const { stdout, stderr } = await execFile('docker', args, { env, timeout: timeoutMs, maxBuffer: 64 << 20 });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(err) };
    }
  };
  const child = spawnDaemon(dir, socket, opts.insecureRegistries ?? []);
  process.once('exit', () => child.kill('SIGKILL'));
  const stop = async () => {
    await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + (opts.startTimeoutMs ?? 30_000);
  while (Date.now() < deadline && child.exitCode === null) {
    if (existsSync(socket) && (await docker(['version', '--format', '{{.Server.Version}}'], 5000)).code === 0) {
      return { host, dir, pid: child.pid as number, docker, log, stop };
    }
    await sleep(100);
  }
  const output = log();
  await stop();
  throw new Error(`dockerd did not start: ${output.slice(-2000)}`);
}
