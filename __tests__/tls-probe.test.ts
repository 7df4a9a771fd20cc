// The cheap "does it speak TLS?" probe for hosts that may be plain HTTP: only a plain-text answer says
// 'plain'; a TLS server (trusted or not), a closed port and a silent server all leave the decision to the
// verified HTTPS request.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeTls } from '../src/registry/tls-probe.js';
import { makeCert } from './helpers/certs.js';
import { listenOnLoopback, trackSockets } from './helpers/loopback.js';

const servers: Server[] = [];
const sockets = new Set<Socket>();
let dir: string;

async function serve(server: Server): Promise<string> {
  servers.push(server);
  trackSockets(server as Parameters<typeof trackSockets>[0], sockets);
  return `127.0.0.1:${await listenOnLoopback(server as Parameters<typeof listenOnLoopback>[0])}`;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tls-probe-'));
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  rmSync(dir, { recursive: true, force: true });
});

describe('probeTls', () => {
  it('says plain for a plain-HTTP server', async () => {
    const host = await serve(createHttpServer((_req, res) => res.end('{}')));
    expect(await probeTls(host, 5_000)).toBe('plain');
  });

  it('leaves a TLS server, even with an untrusted certificate, to the verified request', async () => {
    const cert = makeCert(dir, 'probe', '/CN=127.0.0.1', 'IP:127.0.0.1');
    const host = await serve(createTlsServer({ cert: cert.certPem, key: cert.keyPem }, (s) => s.end()));
    expect(await probeTls(host, 5_000)).toBe('unknown');
  });

  it('leaves a closed port and a server that never answers to the real request', async () => {
    const closed = await serve(createTcpServer());
    await new Promise((r) => servers.pop()!.close(r));
    expect(await probeTls(closed, 5_000)).toBe('unknown');
    const silent = await serve(createTcpServer(() => {}));
    expect(await probeTls(silent, 200)).toBe('unknown');
  });

  it('stops when the run is cancelled', async () => {
    const silent = await serve(createTcpServer(() => {}));
    const abort = new AbortController();
    const answer = probeTls(silent, 60_000, abort.signal);
    abort.abort();
    expect(await answer).toBe('unknown');
  });
});
