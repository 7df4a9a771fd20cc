import { describe, expect, it } from 'vitest';
import { parseWwwAuthenticate, pushScopes } from '../src/registry/auth.js';

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
