// The token realm gets the credentials, but never in clear text: a registry reached over HTTPS whose realm
// is plain HTTP, or whose token endpoint redirects to plain HTTP, is refused before anything is sent there.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorLines, FIXTURE_MODULE, runAction } from '../helpers/action.js';
import { makeCert } from '../helpers/certs.js';
import { expectNoSecrets } from '../helpers/consumer.js';
import { listenOnLoopback, trackSockets } from '../helpers/loopback.js';
import { startRegistry, type RegistryFixture } from '../helpers/registry.js';

let work: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'token-realm-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const USER = { username: 'tester', password: 'realm-secret-password' };

describe('an HTTPS registry with a plain-HTTP token realm', () => {
  let reg: RegistryFixture;
  beforeAll(async () => {
    // Distribution over TLS whose auth.token.realm is the token server on http://127.0.0.1.
    reg = await startRegistry({ auth: 'token', tls: true, ...USER });
  });
  afterAll(async () => {
    await reg?.stop();
  });

  it('is refused before the credentials are sent', async () => {
    const run = await runAction(
      { wasm: FIXTURE_MODULE, tags: `${reg.host}/realm/filter:1`, ...USER },
      { env: { HOME: work, NODE_EXTRA_CA_CERTS: reg.caFile } },
    );
    expect(run.code, run.stdout).toBe(1);
    expect(errorLines(run)[0]).toMatch(/names a plain-HTTP token realm http:\/\/127\.0\.0\.1:\d+\/token.*must use HTTPS/);
    expect(reg.tokenServer?.requests).toEqual([]);
    expect(run.outputs).toEqual({});
    expectNoSecrets([run.stdout, run.stderr], [USER.password]);
  });
});

/** A server that answers every request with `answer` and records what it got. */
async function hostileServer(tls: { cert: string; key: string } | undefined, answer: (req: IncomingMessage, res: ServerResponse) => void) {
  const requests: Array<{ url: string; authorization?: string }> = [];
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    requests.push({ url: req.url ?? '', authorization: req.headers.authorization });
    req.resume();
    answer(req, res);
  };
  const server = tls ? createHttpsServer(tls, handler) : createHttpServer(handler);
  const sockets = new Set<Socket>();
  trackSockets(server, sockets);
  const port = await listenOnLoopback(server);
  const stop = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  return { port, requests, stop };
}

describe('a token endpoint that redirects to plain HTTP', () => {
  it('is not followed', async () => {
    const cert = makeCert(work, 'registry', '/CN=127.0.0.1', 'IP:127.0.0.1');
    const plain = await hostileServer(undefined, (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ token: 'clear-text-token' }));
    });
    const registry = await hostileServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => {
      if (req.url?.startsWith('/token')) {
        res.writeHead(302, { Location: `http://127.0.0.1:${plain.port}${req.url}` }).end();
        return;
      }
      const realm = `https://127.0.0.1:${registry.port}/token`;
      res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="${realm}",service="hostile"` }).end();
    });
    try {
      const run = await runAction(
        { wasm: FIXTURE_MODULE, tags: `127.0.0.1:${registry.port}/realm/filter:1`, ...USER },
        { env: { HOME: work, NODE_EXTRA_CA_CERTS: cert.certFile } },
      );
      expect(run.code, run.stdout).toBe(1);
      expect(errorLines(run)[0]).toMatch(
        /redirects the token request from https:\/\/127\.0\.0\.1:\d+ to plain-HTTP http:\/\/127\.0\.0\.1:\d+\/token/,
      );
      // The HTTPS token endpoint got the credentials (it is the realm); the plain-HTTP one got nothing.
      expect(registry.requests.some((r) => r.url.startsWith('/token') && r.authorization?.startsWith('Basic '))).toBe(true);
      expect(plain.requests).toEqual([]);
      expectNoSecrets([run.stdout, run.stderr], [USER.password]);
    } finally {
      await Promise.all([registry.stop(), plain.stop()]);
    }
  });
});
