// How the ping picks the scheme of a loopback registry with a port: plain HTTP is asked first (no TLS
// handshake for a `registry:2` service on localhost:5000); a TLS server's refusal of it leads on to the
// verified HTTPS request, so a TLS registry is never used over plain HTTP.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect, createServer as createTcpServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RegistryClient } from '../src/registry/client.js';
import { closeIdleConnections } from '../src/registry/http.js';
import { makeCert } from './helpers/certs.js';
import { anonymousClient } from './helpers/client.js';
import { listenOnLoopback, trackSockets } from './helpers/loopback.js';

const servers: Server[] = [];
const sockets = new Set<Socket>();
let dir: string;

/** Serves `server` on loopback; `firstBytes` gets the first byte of every connection (0x16 opens a TLS handshake). */
async function serve(server: Server, firstBytes?: number[]): Promise<string> {
  servers.push(server);
  trackSockets(server, sockets);
  if (firstBytes) server.on('connection', (s: Socket) => s.once('data', (d: Buffer) => firstBytes.push(d[0])));
  return `127.0.0.1:${await listenOnLoopback(server)}`;
}

function client(host: string, info: string[] = []): RegistryClient {
  return anonymousClient(host, { log: { info: (m) => info.push(m), warning: () => {} } });
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ping-scheme-'));
});

afterAll(async () => {
  closeIdleConnections();
  for (const s of sockets) s.destroy();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  rmSync(dir, { recursive: true, force: true });
});

describe('the ping of a loopback registry with a port', () => {
  it('asks a plain-HTTP registry in plain HTTP only: one request, no TLS handshake', async () => {
    const firstBytes: number[] = [];
    const requests: string[] = [];
    const host = await serve(
      createHttpServer((req, res) => {
        requests.push(`${req.method} ${req.url}`);
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end('{}');
      }),
      firstBytes,
    );
    const info: string[] = [];
    await client(host, info).ping();
    expect(requests).toEqual(['GET /v2/']);
    expect(firstBytes).not.toContain(0x16);
    expect(info).toEqual([`${host} has no TLS; using plain HTTP (insecure registry)`]);
  });

  it('takes a 5xx in plain HTTP as a plain registry that is busy (retried as such), not as a reason to try TLS', async () => {
    const firstBytes: number[] = [];
    const host = await serve(
      createHttpServer((_req, res) => {
        res.writeHead(503);
        res.end();
      }),
      firstBytes,
    );
    await expect(client(host).ping()).rejects.toThrow(/503/);
    expect(firstBytes).not.toContain(0x16);
  });

  it('goes on to verified HTTPS when the server speaks TLS, and never settles for plain HTTP', async () => {
    const cert = makeCert(dir, 'ping', '/CN=127.0.0.1', 'IP:127.0.0.1');
    const firstBytes: number[] = [];
    const tlsHost = await serve(createHttpsServer({ cert: cert.certPem, key: cert.keyPem }, (_req, res) => res.end('{}')));
    // A TCP relay in front of it sees each connection's first byte (the TLS server reads its socket itself).
    const relay = createTcpServer((s) =>
      s.once('data', (d: Buffer) => {
        firstBytes.push(d[0]);
        const up = connect(Number(tlsHost.split(':')[1]), '127.0.0.1');
        sockets.add(up);
        up.on('error', () => s.destroy());
        up.write(d);
        s.pipe(up).pipe(s);
      }),
    );
    const host = await serve(relay as unknown as Server);
    // The certificate is not trusted here: reaching the verification failure proves the client chose HTTPS.
    const failure = await client(host)
      .ping()
      .catch((err: unknown) => err);
    expect(String((failure as Error).message)).toMatch(/certificate|self.signed|issuer/i);
    expect(firstBytes[0]).toBe(0x47); // "G": the plain request came first ...
    expect(firstBytes).toContain(0x16); // ... then TLS
  });
});
