// The target registry connection runs in the background while the image is packaged or read: a failure of
// the image is reported as such, and the connection's requests end with the run instead of outliving it.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { errorLines, runAction } from '../helpers/action.js';
import { listenOnLoopback, trackSockets } from '../helpers/loopback.js';

const servers: Array<{ server: Server; sockets: Set<Socket> }> = [];
afterEach(async () => {
  for (const { server, sockets } of servers.splice(0)) {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
});

/** A plain-HTTP server on loopback; returns its `127.0.0.1:PORT`. */
async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const server = createServer(handler);
  const sockets = new Set<Socket>();
  trackSockets(server, sockets);
  servers.push({ server, sockets });
  return `127.0.0.1:${await listenOnLoopback(server)}`;
}

/** A source registry whose manifest answer (a 404) waits until the target has seen a request. */
async function failingSource(targetSeen: Promise<void>): Promise<string> {
  return serve((req, res) => {
    if (req.url === '/v2/') return void res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
    void targetSeen.then(() =>
      res
        .writeHead(404, { 'Content-Type': 'application/json' })
        .end(JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] })),
    );
  });
}

const SOURCE_ERROR = /src\/filter.*(404|MANIFEST_UNKNOWN|manifest unknown)/;

describe('the background connection to the target registry', () => {
  it('ends with a run whose source read failed, which fails with the source error', async () => {
    // The target never answers: only the run's own cancellation ends its requests (the ping, and the
    // retries a cut connection would otherwise get, each waiting for the hour-long request timeout).
    let pinged: () => void = () => undefined;
    const targetPinged = new Promise<void>((resolve) => (pinged = resolve));
    const target = await serve(() => pinged());
    const source = await failingSource(targetPinged);
    const run = await runAction(
      {
        'from-image': `${source}/src/filter@sha256:${'a'.repeat(64)}`,
        tags: `${target}/dst/filter:1`,
        'request-timeout': '3600',
      },
      { timeoutMs: 40_000 },
    );
    // A run whose connection outlived it would still be waiting on the target, and be killed.
    expect(run.code, run.stdout).toBe(1);
    const errors = errorLines(run);
    expect(errors, run.stdout).toHaveLength(1);
    expect(errors[0]).toMatch(SOURCE_ERROR);
  });

  it('reports the source error, not the target failure met meanwhile', async () => {
    let refused: () => void = () => undefined;
    const targetRefused = new Promise<void>((resolve) => (refused = resolve));
    // Not a registry: a 401 without a challenge fails the connection at once.
    const target = await serve((_req, res) => {
      res.writeHead(401).end();
      refused();
    });
    const source = await failingSource(targetRefused);
    const run = await runAction({ 'from-image': `${source}/src/filter@sha256:${'a'.repeat(64)}`, tags: `${target}/dst/filter:1` });
    expect(run.code, run.stdout).toBe(1);
    const errors = errorLines(run);
    expect(errors, run.stdout).toHaveLength(1);
    expect(errors[0]).toMatch(SOURCE_ERROR);
    expect(run.stdout).not.toMatch(/answered 401/);
  });
});
