// A request that carries its own signal (the early upload's POST and PATCH) stops with it or with the
// client's, and leaves no listener behind on the client's signal, which lives as long as the run.
import { createServer, type Server } from 'node:http';
import { getEventListeners } from 'node:events';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RegistryClient } from '../src/registry/client.js';
import { closeIdleConnections } from '../src/registry/http.js';
import { anonymousClient } from './helpers/client.js';
import { listenOnLoopback, trackSockets } from './helpers/loopback.js';

let server: Server;
let host: string;
const sockets = new Set<Socket>();

beforeAll(async () => {
  // Answers the ping at once; /slow never answers, so only an abort ends a request for it.
  server = createServer((req, res) => {
    if (req.url === '/v2/slow') return;
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end('{}');
  });
  trackSockets(server, sockets);
  host = `127.0.0.1:${await listenOnLoopback(server)}`;
});

afterAll(async () => {
  closeIdleConnections();
  for (const s of sockets) s.destroy();
  await new Promise((r) => server.close(r));
});

function client(signal: AbortSignal): RegistryClient {
  return anonymousClient(host, { signal });
}

describe('a request with its own signal', () => {
  it('leaves no listener on the client signal once it has ended', async () => {
    const run = new AbortController();
    const c = client(run.signal);
    await c.ping();
    const before = getEventListeners(run.signal, 'abort').length;
    for (let i = 0; i < 5; i++) {
      const res = await c.request({ method: 'GET', target: '/v2/', scopes: [], signal: new AbortController().signal });
      expect(res.status).toBe(200);
    }
    expect(getEventListeners(run.signal, 'abort').length).toBe(before);
  });

  it('stops when its own signal aborts, and then releases the client signal too', async () => {
    const run = new AbortController();
    const c = client(run.signal);
    await c.ping();
    const before = getEventListeners(run.signal, 'abort').length;
    const own = new AbortController();
    const pending = c.request({ method: 'GET', target: '/v2/slow', scopes: [], signal: own.signal });
    own.abort();
    await expect(pending).rejects.toThrow();
    expect(getEventListeners(run.signal, 'abort').length).toBe(before);
  });

  it('stops when the client signal aborts', async () => {
    const run = new AbortController();
    const c = client(run.signal);
    await c.ping();
    const pending = c.request({ method: 'GET', target: '/v2/slow', scopes: [], signal: new AbortController().signal });
    setTimeout(() => run.abort(), 50);
    await expect(pending).rejects.toThrow();
  });
});
