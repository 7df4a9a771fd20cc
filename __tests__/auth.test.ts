import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Authenticator, parseWwwAuthenticate, pushScopes } from '../src/registry/auth.js';
import { basicToken, type Credentials } from '../src/registry/credentials.js';
import { closeIdleConnections } from '../src/registry/http.js';

describe('parseWwwAuthenticate', () => {
  it('reads a Docker Hub Bearer challenge', () => {
    expect(
      parseWwwAuthenticate(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/x:pull,push"',
      ),
    ).toEqual([
      {
        scheme: 'bearer',
        params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/x:pull,push' },
      },
    ]);
  });

  it('reads Basic, unquoted values, spaces around "=", and escaped quotes', () => {
    expect(parseWwwAuthenticate('Basic realm="Registry \\"Realm\\""')).toEqual([
      { scheme: 'basic', params: { realm: 'Registry "Realm"' } },
    ]);
    expect(parseWwwAuthenticate('Bearer realm = https://r.example/token , service=reg')).toEqual([
      { scheme: 'bearer', params: { realm: 'https://r.example/token', service: 'reg' } },
    ]);
  });

  it('splits several challenges in one header', () => {
    expect(parseWwwAuthenticate('Basic realm="a", Bearer realm="https://t.example/token",service="s"')).toEqual([
      { scheme: 'basic', params: { realm: 'a' } },
      { scheme: 'bearer', params: { realm: 'https://t.example/token', service: 's' } },
    ]);
  });

  it('survives garbage without hanging', () => {
    for (const junk of ['', '=', '==,,', 'Bearer', 'Bearer realm="unterminated', ',,,Basic', 'Bearer realm=']) {
      expect(() => parseWwwAuthenticate(junk)).not.toThrow();
    }
    expect(parseWwwAuthenticate('Bearer')).toEqual([{ scheme: 'bearer', params: {} }]);
  });

  it('asks for pull on mount sources', () => {
    expect(pushScopes('a/b', ['c/d', 'a/b'])).toEqual(['repository:a/b:pull,push', 'repository:c/d:pull']);
  });
});

describe('Authenticator token answers', () => {
  let answer = '';
  let served = 0;
  const masked: string[] = [];
  let server: Server;
  let realm = '';
  beforeAll(async () => {
    server = createServer((_req, res) => {
      served++;
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(answer);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    realm = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
  });
  afterAll(async () => {
    closeIdleConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const authenticator = (credentials: Credentials) => {
    const a = new Authenticator({
      host: '127.0.0.1',
      credentials: () => Promise.resolve(credentials),
      timeoutMs: 5000,
      mask: (s) => masked.push(s),
      plainHttp: () => true,
    });
    a.setChallenge({ scheme: 'bearer', params: { realm, service: 'test' } });
    return a;
  };
  const anonymous: Credentials = { kind: 'anonymous', source: 'anonymous' };

  it('takes the token, or access_token when token is not a string, and masks it', async () => {
    answer = JSON.stringify({ token: 5, access_token: 'tok-1', expires_in: '300' });
    expect(await authenticator(anonymous).authorization(['repository:a:pull'])).toBe('Bearer tok-1');
    expect(masked).toContain('tok-1');
  });

  it('refuses an answer that is not JSON, or JSON without a token', async () => {
    answer = '<html>';
    await expect(authenticator(anonymous).authorization(['s'])).rejects.toThrow(/did not answer with JSON/);
    for (const body of ['[]', '"tok"', 'null', '{"token":""}']) {
      answer = body;
      await expect(authenticator(anonymous).authorization(['s'])).rejects.toThrow(/answered without a token/);
    }
  });

  it('shares one token fetch among concurrent requests for the same scopes; a failed one is asked again', async () => {
    const a = authenticator(anonymous);
    answer = '<html>';
    served = 0;
    const failed = await Promise.allSettled([a.authorization(['s']), a.authorization(['s'])]);
    expect(failed.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(served).toBe(1);
    answer = JSON.stringify({ token: 'tok-shared', expires_in: 300 });
    const got = await Promise.all([a.authorization(['s']), a.authorization(['s']), a.authorization(['other'])]);
    expect(got).toEqual(['Bearer tok-shared', 'Bearer tok-shared', 'Bearer tok-shared']);
    // One fetch for `s` (the failure was not cached) and one for `other`; the cached token needs none.
    expect(served).toBe(3);
    expect(await a.authorization(['s'])).toBe('Bearer tok-shared');
    expect(served).toBe(3);
  });

  it('answers a Basic challenge with the base64 user:password', async () => {
    const a = authenticator({ kind: 'basic', username: 'u', password: 'p:w', source: 'inputs' });
    a.setChallenge({ scheme: 'basic', params: {} });
    expect(await a.authorization([])).toBe(`Basic ${basicToken('u', 'p:w')}`);
    expect(basicToken('u', 'p:w')).toBe(Buffer.from('u:p:w').toString('base64'));
  });
});
