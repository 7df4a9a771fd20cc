import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveCredentials } from '../src/registry/credentials.js';
import { formatDigestReference, formatReference, isLoopbackHost, parseReference } from '../src/registry/reference.js';

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

// Facts from distribution/reference (the grammar docker uses): the test vectors of reference_test.go
// (TestReferenceParse) and normalize_test.go (TestValidateReferenceName, TestValidateRemoteName,
// TestParseRepositoryInfo, TestNormalizedSplitHostname), read as docker reads a name: ParseNormalizedNamed.
// Where this action differs, it says so: digests are refused (it pushes tags), and the registry host is
// lower-cased (host names are case-insensitive; docker keeps the case as written).
describe('distribution/reference test vectors', () => {
  const hex64 = 'f'.repeat(64);
  const image = (registry: string, repository: string, tag = 'latest') => ({
    registry,
    host: registry === 'docker.io' ? 'registry-1.docker.io' : registry,
    repository,
    tag,
  });

  it.each([
    // reference_test.go, TestReferenceParse: names without a domain go to Docker Hub's library/.
    ['test_com', image('docker.io', 'library/test_com')],
    ['test.com:tag', image('docker.io', 'library/test.com', 'tag')],
    ['test.com:5000', image('docker.io', 'library/test.com', '5000')],
    ['test.com/repo:tag', image('test.com', 'repo', 'tag')],
    ['test:5000/repo', image('test:5000', 'repo')],
    ['test:5000/repo:tag', image('test:5000', 'repo', 'tag')],
    ['lowercase:Uppercase', image('docker.io', 'library/lowercase', 'Uppercase')],
    ['sub-dom1.foo.com/bar/baz/quux', image('sub-dom1.foo.com', 'bar/baz/quux')],
    ['sub-dom1.foo.com/bar/baz/quux:some-long-tag', image('sub-dom1.foo.com', 'bar/baz/quux', 'some-long-tag')],
    ['b.gcr.io/test.example.com/my-app:test.example.com', image('b.gcr.io', 'test.example.com/my-app', 'test.example.com')],
    ['xn--n3h.com/myimage:xn--n3h.com', image('xn--n3h.com', 'myimage', 'xn--n3h.com')],
    ['foo_bar.com:8080', image('docker.io', 'library/foo_bar.com', '8080')],
    ['foo/foo_bar.com:8080', image('docker.io', 'foo/foo_bar.com', '8080')],
    ['192.168.1.1', image('docker.io', 'library/192.168.1.1')],
    ['192.168.1.1:tag', image('docker.io', 'library/192.168.1.1', 'tag')],
    ['192.168.1.1:5000', image('docker.io', 'library/192.168.1.1', '5000')],
    ['192.168.1.1/repo', image('192.168.1.1', 'repo')],
    ['192.168.1.1:5000/repo', image('192.168.1.1:5000', 'repo')],
    ['192.168.1.1:5000/repo:5050', image('192.168.1.1:5000', 'repo', '5050')],
    ['[2001:db8::1]/repo', image('[2001:db8::1]', 'repo')],
    ['[2001:db8:1:2:3:4:5:6]/repo:tag', image('[2001:db8:1:2:3:4:5:6]', 'repo', 'tag')],
    ['[2001:db8::1]:5000/repo', image('[2001:db8::1]:5000', 'repo')],
    ['[2001:db8::1]:5000/repo:tag', image('[2001:db8::1]:5000', 'repo', 'tag')],
    ['[2001:db8::]:5000/repo', image('[2001:db8::]:5000', 'repo')],
    ['[::1]:5000/repo', image('[::1]:5000', 'repo')],
    // normalize_test.go, TestValidateReferenceName and TestValidateRemoteName.
    ['docker/docker', image('docker.io', 'docker/docker')],
    ['library/debian', image('docker.io', 'library/debian')],
    ['debian', image('docker.io', 'library/debian')],
    ['docker.io/docker/docker', image('docker.io', 'docker/docker')],
    ['docker.io/library/debian', image('docker.io', 'library/debian')],
    ['docker.io/debian', image('docker.io', 'library/debian')],
    ['index.docker.io/docker/docker', image('docker.io', 'docker/docker')],
    ['index.docker.io/library/debian', image('docker.io', 'library/debian')],
    ['index.docker.io/debian', image('docker.io', 'library/debian')],
    ['127.0.0.1:5000/docker/docker', image('127.0.0.1:5000', 'docker/docker')],
    ['127.0.0.1:5000/library/debian', image('127.0.0.1:5000', 'library/debian')],
    ['127.0.0.1:5000/debian', image('127.0.0.1:5000', 'debian')],
    ['192.168.0.1:8/debian', image('192.168.0.1:8', 'debian')],
    ['192.168.0.2:25000/debian', image('192.168.0.2:25000', 'debian')],
    [
      'thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev',
      image('docker.io', 'library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev'),
    ],
    ['[fc00::1]:5000/docker', image('[fc00::1]:5000', 'docker')],
    ['[fc00::1]:5000/docker/docker', image('[fc00::1]:5000', 'docker/docker')],
    ['[fc00:1:2:3:4:5:6:7]:5000/library/debian', image('[fc00:1:2:3:4:5:6:7]:5000', 'library/debian')],
    [
      'docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a',
      image('docker.io', 'library/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a'),
    ],
    ['localhost/library/debian', image('localhost', 'library/debian')],
    ['localhost/debian', image('localhost', 'debian')],
    ['docker-rules/docker', image('docker.io', 'docker-rules/docker')],
    ['docker---rules/docker', image('docker.io', 'docker---rules/docker')],
    ['doc/docker', image('docker.io', 'doc/docker')],
    ['d/docker', image('docker.io', 'd/docker')],
    ['jess/t', image('docker.io', 'jess/t')],
    ['dock__er/docker', image('docker.io', 'dock__er/docker')],
    // An upper-case first component is a domain; the host is lower-cased here.
    ['Docker/docker', image('docker', 'docker')],
    ['DOCKER/docker', image('docker', 'docker')],
    ['LOCALDOMAIN/library/debian', image('localdomain', 'library/debian')],
    // normalize_test.go, TestParseRepositoryInfo and TestNormalizedSplitHostname.
    ['fooo/bar', image('docker.io', 'fooo/bar')],
    ['ubuntu', image('docker.io', 'library/ubuntu')],
    ['library/ubuntu', image('docker.io', 'library/ubuntu')],
    ['nonlibrary/ubuntu', image('docker.io', 'nonlibrary/ubuntu')],
    ['other/library', image('docker.io', 'other/library')],
    ['127.0.0.1:8000/private/moonbase', image('127.0.0.1:8000', 'private/moonbase')],
    ['example.com:8000/privatebasee', image('example.com:8000', 'privatebasee')],
    ['ubuntu-12.04-base', image('docker.io', 'library/ubuntu-12.04-base')],
    ['index.docker.io/library/ubuntu-12.04-base', image('docker.io', 'library/ubuntu-12.04-base')],
    ['docker.io/foo', image('docker.io', 'library/foo')],
    ['docker.io/library/foo/bar', image('docker.io', 'library/foo/bar')],
    ['store/foo/bar', image('docker.io', 'store/foo/bar')],
    ['Foo/bar', image('foo', 'bar')],
    ['test-com:8080/foo', image('test-com:8080', 'foo')],
    ['xn--n3h.com:18080/foo', image('xn--n3h.com:18080', 'foo')],
    ['docker/migrator', image('docker.io', 'docker/migrator')],
  ])('parses %s', (input, expected) => {
    expect(parseReference(input)).toEqual(expected);
  });

  it.each([
    // reference_test.go
    ['', /empty/],
    [':justtag', /empty repository path component/],
    ['Uppercase:tag', /upper-case/],
    ['test:5000/Uppercase/lowercase:tag', /upper-case.*"test:5000\/uppercase\/lowercase:tag"/],
    ['a/'.repeat(128) + 'a:tag', /longer than 255/],
    // Valid to Parse, whose domain is "a"; docker normalises it to docker.io/a/..., 265 characters.
    ['a/'.repeat(127) + 'a:tag-puts-this-over-max', /longer than 255/],
    ['aa/asdf$$^/aa', /invalid repository component "asdf\$\$\^"/],
    ['[2001:db8::1]', /invalid tag/],
    ['[2001:db8::1]:5000', /invalid repository component/],
    ['[2001:db8::1]:tag', /invalid/],
    // normalize_test.go
    ['https://github.com/docker/docker', /URL scheme/],
    ['docker/Docker', /upper-case/],
    ['-docker', /invalid repository component "-docker"/],
    ['-docker/docker', /invalid repository component "-docker"/],
    ['-docker.io/docker/docker', /invalid registry host "-docker.io"/],
    ['docker///docker', /empty repository path component/],
    ['docker.io/docker/Docker', /upper-case/],
    ['docker.io/docker///docker', /empty repository path component/],
    ['[fc00::1]', /invalid tag/],
    ['[fc00::1]:5000', /invalid repository component/],
    ['fc00::1:5000/debian', /invalid registry host "fc00::1:5000"/],
    ['[2001:db8:3:4::192.0.2.33]:5000/debian', /invalid registry host/],
    ['1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a', /64-character hexadecimal image ID/],
    ['docker-/docker', /invalid repository component "docker-"/],
    ['-docker-/docker', /invalid repository component/],
    ['____/____', /invalid repository component "____"/],
    ['_docker/_docker', /invalid repository component "_docker"/],
    ['dock..er/docker', /invalid registry host "dock..er"/],
    ['dock_.er/docker', /invalid registry host/],
    ['dock-.er/docker', /invalid registry host/],
    ['docker/', /empty repository path component/],
    [
      'this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_'.repeat(3) +
        'this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255/docker',
      /longer than 255/,
    ],
  ])('refuses %j', (input, message) => {
    expect(() => parseReference(input)).toThrow(message);
  });

  it.each([
    `test:5000/repo@sha256:${hex64}`,
    `test:5000/repo:tag@sha256:${hex64}`,
    `[2001:db8::1]:5000/repo@sha256:${hex64}`,
    `busybox:latest@sha256:${hex64}`,
    `@sha256:${hex64}`,
    'repo@sha256:ffffffffffffffffffffffffffffffffff',
    `validname@invaliddigest:${hex64}`,
  ])('refuses the digest reference %s: the action pushes tags', (input) => {
    expect(() => parseReference(input)).toThrow(/names a digest; give a tag instead/);
  });

  it('refuses IPv6 zone ids with what to write instead, before anything else', () => {
    for (const input of ['[fe80::1%eth0]:5000/repo', '[fe80::1%25eth0]:5000/repo', '[fe80::1%@invalidzone]:5000/repo']) {
      expect(() => parseReference(input)).toThrow(
        /has an IPv6 zone id in its registry host "\[fe80::1%.*\]"; .*use a global address or a host name/,
      );
    }
  });

  it('lower-cases the registry host, so GHCR.IO is ghcr.io everywhere (github-token fallback, tags output)', () => {
    const ref = parseReference('GHCR.IO/acme/x');
    expect(ref).toEqual(image('ghcr.io', 'acme/x'));
    expect(formatReference(ref)).toBe('ghcr.io/acme/x:latest');
    expect(parseReference('Index.Docker.IO/acme/x:1')).toEqual(image('docker.io', 'acme/x', '1'));
    expect(parseReference('LocalHost:5000/a:T')).toEqual(image('localhost:5000', 'a', 'T'));
  });

  it('so an upper-case GHCR.IO gets the github-token fallback', async () => {
    const home = mkdtempSync(join(tmpdir(), 'ref-creds-'));
    const env = { HOME: home, DOCKER_CONFIG: join(home, 'none') };
    try {
      const { registry } = parseReference('GHCR.IO/acme/x:1');
      expect(await resolveCredentials(registry, { githubToken: 'ghs_x', githubActor: 'octocat', env })).toMatchObject({
        source: 'github-token',
      });
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});

describe('a reference with user info', () => {
  it.each([
    ['user:s3cret-pw@ghcr.io/acme/filter:1', '"***@ghcr.io/acme/filter:1"'],
    ['https://user:s3cret-pw@ghcr.io/acme/filter:1', '"https://***@ghcr.io/acme/filter:1"'],
    ['oauth2:s3cret-pw@localhost:5000/f', '"***@localhost:5000/f"'],
    ['user:s3cr/et@pw@ghcr.io/acme/filter', '"***@ghcr.io/acme/filter"'],
    ['user:s3cret pw@ghcr.io/acme/filter', '"***@ghcr.io/acme/filter"'],
    [`user:s3cret-pw@ghcr.io/acme/filter@sha256:${'a'.repeat(64)}`, `"***@ghcr.io/acme/filter@sha256:${'a'.repeat(64)}"`],
  ])('%j is refused without repeating the secret', (input, shown) => {
    let message = '';
    try {
      parseReference(input);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain(`${shown} has credentials in it`);
    expect(message).toMatch(/username and password inputs/);
    expect(message).not.toMatch(/s3cr|user:/);
  });
});
