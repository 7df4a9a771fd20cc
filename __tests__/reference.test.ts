import { describe, expect, it } from 'vitest';
import { formatDigestReference, isLoopbackHost, parseReference } from '../src/registry/reference.js';

describe('parseReference', () => {
  it.each([
    ['ghcr.io/acme/filter:1.2.0', { registry: 'ghcr.io', host: 'ghcr.io', repository: 'acme/filter', tag: '1.2.0' }],
    ['ghcr.io/acme/filter', { registry: 'ghcr.io', host: 'ghcr.io', repository: 'acme/filter', tag: 'latest' }],
    ['filter:1', { registry: 'docker.io', host: 'registry-1.docker.io', repository: 'library/filter', tag: '1' }],
    ['acme/filter:v1', { registry: 'docker.io', host: 'registry-1.docker.io', repository: 'acme/filter', tag: 'v1' }],
    ['docker.io/filter', { registry: 'docker.io', host: 'registry-1.docker.io', repository: 'library/filter', tag: 'latest' }],
    ['index.docker.io/acme/f:x', { registry: 'docker.io', host: 'registry-1.docker.io', repository: 'acme/f', tag: 'x' }],
    ['localhost:5000/f:Tag_1.0', { registry: 'localhost:5000', host: 'localhost:5000', repository: 'f', tag: 'Tag_1.0' }],
    ['localhost/a/b/c:1', { registry: 'localhost', host: 'localhost', repository: 'a/b/c', tag: '1' }],
    ['127.0.0.1:5000/a__b/c-d.e:1', { registry: '127.0.0.1:5000', host: '127.0.0.1:5000', repository: 'a__b/c-d.e', tag: '1' }],
    ['[::1]:5000/acme/f:2', { registry: '[::1]:5000', host: '[::1]:5000', repository: 'acme/f', tag: '2' }],
    [
      '123456789012.dkr.ecr.us-east-1.amazonaws.com/filter:1',
      {
        registry: '123456789012.dkr.ecr.us-east-1.amazonaws.com',
        host: '123456789012.dkr.ecr.us-east-1.amazonaws.com',
        repository: 'filter',
        tag: '1',
      },
    ],
  ])('%s', (input, expected) => {
    expect(parseReference(input)).toEqual(expected);
  });

  it('never lower-cases the tag', () => {
    expect(parseReference('ghcr.io/a/b:RC-1').tag).toBe('RC-1');
  });

  it('refuses an upper-case repository and shows the lower-cased reference', () => {
    expect(() => parseReference('ghcr.io/Acme/Filter:1.0')).toThrow(/upper-case.*use "ghcr\.io\/acme\/filter:1\.0"/);
  });

  it.each([
    ['', /empty/],
    ['ghcr.io/acme/filter:', /invalid tag ""/],
    ['ghcr.io/acme/filter:-x', /invalid tag/],
    ['ghcr.io/acme/filter:' + 'x'.repeat(129), /invalid tag/],
    ['ghcr.io/acme/filter@sha256:' + 'a'.repeat(64), /digest/],
    ['https://ghcr.io/acme/filter', /URL scheme/],
    ['ghcr.io//filter', /empty repository/],
    ['ghcr.io/acme/fil ter', /white space/],
    ['ghcr.io/acme/-filter', /invalid repository component "-filter"/],
    ['gh cr.io/a', /white space/],
    ['ghcr.io:port/a', /invalid registry host/],
  ])('refuses %j', (input, message) => {
    expect(() => parseReference(input)).toThrow(message);
  });

  it('formats digest references with the registry as written', () => {
    expect(formatDigestReference(parseReference('filter:1'), 'sha256:abc')).toBe('docker.io/library/filter@sha256:abc');
  });

  it('knows loopback hosts', () => {
    for (const h of ['localhost:5000', '127.0.0.1', '127.1.2.3:80', '[::1]:5000']) expect(isLoopbackHost(h)).toBe(true);
    for (const h of ['ghcr.io', '10.0.0.1:5000', 'localhost.example.com']) expect(isLoopbackHost(h)).toBe(false);
  });
});
