// Azurite, the Azure Storage emulator (npm `azurite`, a dev dependency), serving blob storage on 127.0.0.1
// from a temp dir, as the signed-URL storage behind the cache service fixture (./cache-service.ts).
// Started under `setpriv --pdeathsig KILL` when it exists and stopped by PID, like the registry fixture.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { StorageSharedKeyCredential } from '@azure/storage-blob';
import { stopChild, track } from './registry.js';

/** The storage account each Azurite gets (AZURITE_ACCOUNTS), with a fresh random key. */
export const AZURITE_ACCOUNT = 'cacheaccount';

export interface Azurite {
  /** `http://127.0.0.1:PORT/devstoreaccount1`: path-style account URL. */
  blobEndpoint: string;
  credential: StorageSharedKeyCredential;
  pid: number;
  /** Everything Azurite printed (its access log). */
  log(): string;
  stop(): Promise<void>;
}

function azuriteMain(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('azurite/package.json')), 'dist', 'src', 'blob', 'main.js');
}

export async function startAzurite(startTimeoutMs = 20_000): Promise<Azurite> {
  const dir = mkdtempSync(join(tmpdir(), 'azurite-'));
  // Port 0: Azurite prints the port it got, so there is no race for a free one. No telemetry: it
  // would try to reach applicationinsights.azure.com.
  const args = [
    azuriteMain(),
    ...['--blobHost', '127.0.0.1', '--blobPort', '0', '--location', dir],
    ...['--skipApiVersionCheck', '--loose', '--disableTelemetry'],
  ];
  const [cmd, argv] = existsSync('/usr/bin/setpriv')
    ? ['/usr/bin/setpriv', ['--pdeathsig', 'KILL', '--', process.execPath, ...args]]
    : [process.execPath, args];
  const key = randomBytes(64).toString('base64');
  const env = { ...process.env, AZURITE_ACCOUNTS: `${AZURITE_ACCOUNT}:${key}` };
  const child: ChildProcess = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], env });
  child.on('error', () => {});
  track(child);
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  try {
    const port = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`Azurite did not start in ${startTimeoutMs} ms:\n${output}`)), startTimeoutMs);
      const check = () => {
        const m = /successfully listens on http:\/\/127\.0\.0\.1:(\d+)/.exec(output);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      };
      child.stdout?.on('data', check);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`Azurite exited (${code}) before listening:\n${output}`));
      });
    });
    let stopping: Promise<void> | undefined;
    return {
      blobEndpoint: `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`,
      credential: new StorageSharedKeyCredential(AZURITE_ACCOUNT, key),
      pid: child.pid as number,
      log: () => output,
      stop: () =>
        (stopping ??= (async () => {
          await stopChild(child);
          rmSync(dir, { recursive: true, force: true });
        })()),
    };
  } catch (err) {
    await stopChild(child, 2000);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
