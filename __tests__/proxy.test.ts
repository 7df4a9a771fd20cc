// Which requests go through which proxy: the environment read as @actions/http-client reads it.
import { createServer, type Socket } from 'node:net';
import { HttpProxyAgent } from 'http-proxy-agent';
import { HttpsProxyAgent } from 'https-proxy-agent';
import { afterEach, describe, expect, it } from 'vitest';
import { NetworkError, send } from '../src/registry/http.js';
import { closeProxyAgents, proxyFor, proxyRoute, proxySecrets } from '../src/registry/proxy.js';

const NAMES = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'NO_PROXY', 'no_proxy'];
const saved = Object.fromEntries(NAMES.map((n) => [n, process.env[n]]));

function setEnv(vars: Record<string, string>): void {
  for (const n of NAMES) delete process.env[n];
  Object.assign(process.env, vars);
}
afterEach(() => {
  for (const n of NAMES) {
    if (saved[n] === undefined) delete process.env[n];
    else process.env[n] = saved[n];
  }
  closeProxyAgents();
});

const via = (url: string) => proxyFor(new URL(url))?.host;

describe('proxyFor', () => {
  it('takes HTTPS_PROXY for https and HTTP_PROXY for http, lower-case first', () => {
    setEnv({ HTTPS_PROXY: 'http://upper:1', https_proxy: 'http://lower:2', HTTP_PROXY: 'plain:3' });
    expect(via('https://ghcr.io/v2/')).toBe('lower:2');
    expect(via('http://registry.example:5000/v2/')).toBe('plain:3');
  });

  it('reads a proxy without a scheme as http:// and refuses other schemes', () => {
    setEnv({ HTTPS_PROXY: 'proxy.corp:3128', HTTP_PROXY: 'socks5://proxy.corp:1080' });
    expect(proxyFor(new URL('https://ghcr.io/'))?.href).toBe('http://proxy.corp:3128/');
    expect(() => proxyFor(new URL('http://registry.corp/'))).toThrow(
      'HTTP_PROXY names a socks5 proxy, which is not supported; give an http:// or https:// proxy URL',
    );
  });

  it('sends nothing through a proxy when none is set', () => {
    setEnv({});
    expect(via('https://ghcr.io/v2/')).toBeUndefined();
  });

  it('goes direct for loopback whatever NO_PROXY says', () => {
    setEnv({ HTTPS_PROXY: 'http://proxy:3128', HTTP_PROXY: 'http://proxy:3128' });
    for (const url of ['http://localhost:5000/', 'https://127.0.0.1:5000/', 'http://127.8.9.1/', 'https://[::1]:5000/']) {
      expect(via(url), url).toBeUndefined();
    }
  });

  it.each([
    ['*', 'https://ghcr.io/', true],
    ['ghcr.io', 'https://ghcr.io/', true],
    ['ghcr.io', 'https://pkg.ghcr.io/', true],
    ['ghcr.io', 'https://notghcr.io/', false],
    ['.example.com', 'https://registry.example.com/', true],
    ['.example.com', 'https://example.com/', false],
    ['example.com', 'https://a.b.example.com/', true],
    ['registry.example.com:5000', 'https://registry.example.com:5000/', true],
    ['registry.example.com:5000', 'https://registry.example.com/', false],
    ['registry.example.com:443', 'https://registry.example.com/', true],
    [' other.org , REGISTRY.example.com ', 'https://registry.example.com/', true],
  ])('NO_PROXY=%s, %s bypasses: %s', (noProxy, url, bypass) => {
    setEnv({ HTTPS_PROXY: 'http://proxy:3128', no_proxy: noProxy });
    expect(via(url)).toBe(bypass ? undefined : 'proxy:3128');
  });
});

describe('proxyRoute', () => {
  it('tunnels https and forwards http, naming the proxy without its user info', async () => {
    setEnv({ HTTPS_PROXY: 'http://user:p%40ss@proxy.corp:3128', HTTP_PROXY: 'http://proxy.corp:8080' });
    const tunnel = await proxyRoute(new URL('https://ghcr.io/v2/'), 1000);
    expect(tunnel).toMatchObject({ proxy: 'http://proxy.corp:3128', variable: 'HTTPS_PROXY', authenticated: true });
    expect(tunnel?.agent).toBeInstanceOf(HttpsProxyAgent);
    const forward = await proxyRoute(new URL('http://registry.corp:5000/v2/'), 1000);
    expect(forward).toMatchObject({ proxy: 'http://proxy.corp:8080', variable: 'HTTP_PROXY', authenticated: false });
    expect(forward?.agent).toBeInstanceOf(HttpProxyAgent);
    // One agent per proxy, so connections are shared, also by requests that start together.
    expect((await proxyRoute(new URL('https://quay.io/v2/'), 1000))?.agent).toBe(tunnel?.agent);
    closeProxyAgents();
    const together = await Promise.all([1, 2, 3].map(() => proxyRoute(new URL('https://ghcr.io/v2/'), 1000)));
    expect(new Set(together.map((r) => r?.agent)).size).toBe(1);
  });

  it('lists proxy passwords (raw and decoded) for masking', () => {
    expect(proxySecrets({ HTTPS_PROXY: 'http://u:p%40ss@proxy:1', http_proxy: 'proxy:2' }).sort()).toEqual(['p%40ss', 'p@ss']);
  });
});

describe('a proxy that accepts but never answers CONNECT', () => {
  it('fails the request within its timeout and closes the connection to the proxy', async () => {
    const sockets = new Set<Socket>();
    const closed: Promise<void>[] = [];
    const silent = createServer((socket) => {
      sockets.add(socket);
      closed.push(new Promise((resolve) => socket.once('close', () => resolve())));
      socket.on('error', () => {});
      socket.resume(); // read the CONNECT, answer nothing
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = silent.address() as { port: number };
      setEnv({ HTTPS_PROXY: `http://127.0.0.1:${port}` });
      const err = await send({ method: 'GET', url: new URL('https://registry.invalid/v2/'), timeoutMs: 300 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NetworkError);
      expect((err as NetworkError).code).toBe('ETIMEDOUT');
      expect((err as NetworkError).describe()).toBe(
        `the proxy http://127.0.0.1:${port} did not answer within 300 ms for registry.invalid; check HTTPS_PROXY / HTTP_PROXY, or list the host in NO_PROXY`,
      );
      // The half-open tunnel is not left behind to keep the process alive.
      await Promise.all(closed);
      expect(sockets.size).toBe(1);
    } finally {
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });
});
