// A token renewed in the middle of a push (the registry refused the token it had) from a token service that
// is busy for a moment (503) is retried by the one retry layer, as the first token is.
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeIdleConnections } from '../src/registry/http.js';
import { anonymousClient } from './helpers/client.js';
import { listenOnLoopback } from './helpers/loopback.js';

let server: Server;
let host: string;
const tokenAnswers: number[] = [];
let refuseNextToken = '';

beforeAll(async () => {
  let issued = 0;
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/token') {
      // The second token request (the renewal) meets a busy service once.
      const status = tokenAnswers.length === 1 ? 503 : 200;
      tokenAnswers.push(status);
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(status === 200 ? JSON.stringify({ token: `t${++issued}`, expires_in: 300 }) : '{"errors":[]}');
      return;
    }
    const auth = req.headers.authorization ?? '';
    if (!auth.startsWith('Bearer ') || auth === refuseNextToken) {
      res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="http://${host}/token",service="test"` });
      res.end('{"errors":[{"code":"UNAUTHORIZED"}]}');
      return;
    }
    res.writeHead(url.pathname === '/v2/' ? 200 : 404, { 'Content-Length': '0' });
    res.end();
  });
  host = `127.0.0.1:${await listenOnLoopback(server)}`;
});

afterAll(async () => {
  closeIdleConnections();
  await new Promise((r) => server.close(r));
});

describe('a token renewal in the middle of a push', () => {
  it('is retried when the token service answers 503, and the request then goes through', async () => {
    const warnings: string[] = [];
    const client = anonymousClient(host, {
      retry: { retries: 3, baseDelayMs: 1, maxDelayMs: 5, maxRetryAfterMs: 10 },
      log: { info: () => {}, warning: (m) => warnings.push(m) },
    });
    const scopes = ['repository:acme/x:pull,push'];
    await client.authorize(scopes);
    expect(tokenAnswers).toEqual([200]);

    // The registry stops taking the first token: the client renews it, meets the 503, and retries.
    refuseNextToken = 'Bearer t1';
    const res = await client.requestWithRetries('checking a blob', { method: 'HEAD', target: '/v2/acme/x/blobs/sha256:00', scopes });
    expect(res.status).toBe(404);
    expect(tokenAnswers).toEqual([200, 503, 200]);
    expect(warnings).toEqual([expect.stringMatching(/^checking a blob: getting a token on 127\.0\.0\.1:\d+ failed: HTTP 503.*retrying/)]);
  });
});
