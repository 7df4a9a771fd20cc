import { describe, expect, it } from 'vitest';
import { INPUT_DEFAULTS, parseKeyValues, parseList, parseOptions } from '../src/inputs.js';

const get = (inputs: Record<string, string>) => (name: string) => inputs[name] ?? '';

describe('list inputs', () => {
  it('split on newlines and commas, trim, and drop empty entries', () => {
    expect(parseList('a, b\n\n c ,,\n d')).toEqual(['a', 'b', 'c', 'd']);
    expect(parseList('')).toEqual([]);
  });
  it('keep commas inside double quotes', () => {
    expect(parseList('"k=a, b", c')).toEqual(['k=a, b', 'c']);
  });
  it('parse key=value entries, splitting at the first =', () => {
    expect(parseKeyValues('labels', 'a=1\nb.c/d = x=y')).toEqual({ a: '1', 'b.c/d': 'x=y' });
  });
});

describe('parseOptions', () => {
  it('applies the action.yml defaults', () => {
    const o = parseOptions(get({ wasm: 'f.wasm', push: 'false' }), {});
    expect(o).toMatchObject({ variant: 'compat', flavour: 'oci', runtimeType: 'envoy_proxy', push: false, tags: [], ociLayout: undefined });
  });

  it('reads every list', () => {
    const o = parseOptions(
      get({
        wasm: 'f.wasm',
        variant: 'OCI',
        tags: 'ghcr.io/a/b:1\nghcr.io/a/b:latest',
        'abi-versions': 'v1, v2',
        'root-ids': 'r1',
        annotations: 'a.b/c=d',
        push: 'false',
      }),
      { SOURCE_DATE_EPOCH: '1700000000' },
    );
    expect(o.variant).toBe('oci');
    expect(o.tags.map((t) => t.tag)).toEqual(['1', 'latest']);
    expect(o.abiVersions).toEqual(['v1', 'v2']);
    expect(o.rootIds).toEqual(['r1']);
    expect(o.annotations).toEqual({ 'a.b/c': 'd' });
    expect(o.sourceDateEpoch).toBe(1700000000);
  });

  it.each([
    [{}, /^Input `wasm`: is required/],
    [{ wasm: 'f', variant: 'wasi' }, /^Input `variant`: "wasi" is not supported; use one of: compat, oci/],
    [{ wasm: 'f', 'media-types': 'oras' }, /^Input `media-types`: "oras" is not supported/],
    [{ wasm: 'f', variant: 'oci', 'media-types': 'docker' }, /^Input `media-types`: "docker" applies only to variant compat/],
    [{ wasm: 'f', tags: 'ghcr.io/Acme/x:1', push: 'false' }, /^Input `tags`: .*upper-case.*"ghcr.io\/acme\/x:1"/],
    [{ wasm: 'f', tags: 'ghcr.io/a/x:bad tag', push: 'false' }, /^Input `tags`: .*white space/],
    [{ wasm: 'f', tags: 'ghcr.io/a/x:-1', push: 'false' }, /^Input `tags`: .*invalid tag/],
    [{ wasm: 'f' }, /^Input `tags`: is required when push is true/],
    [{ wasm: 'f', push: 'yes' }, /^Input `push`: "yes" is not a boolean/],
    [{ wasm: 'f', push: 'false', annotations: 'novalue' }, /^Input `annotations`: "novalue" is not key=value/],
    [{ wasm: 'f', push: 'false', labels: '=x' }, /^Input `labels`: "=x" is not key=value/],
    [{ wasm: 'f', push: 'false', labels: 'a b=x' }, /^Input `labels`: key "a b"/],
    [{ wasm: 'f', push: 'false', variant: 'oci', labels: 'a=b' }, /^Input `labels`: apply only to variant compat/],
    [{ wasm: 'f', push: 'false', 'media-types': 'docker', annotations: 'a=b' }, /^Input `annotations`: Docker manifests/],
  ])('refuses %j', (inputs, message) => {
    expect(() => parseOptions(get(inputs), {})).toThrow(message);
  });

  it('reads the build step with cache-timeout in seconds (600 by default), and refuses one that is not a positive whole number', () => {
    const build = (inputs: Record<string, string>) =>
      parseOptions(get({ wasm: 'f', push: 'false', 'build-command': 'make', ...inputs }), {}).build;
    expect(build({ 'cache-paths': 'target' })).toMatchObject({
      command: 'make',
      cachePaths: ['target'],
      cacheKey: 'wasm-image-build',
      cacheTimeoutMs: 600_000,
    });
    expect(build({ 'cache-timeout': '30' })?.cacheTimeoutMs).toBe(30_000);
    for (const bad of ['0', '-5', '1.5', 'ten'])
      expect(() => build({ 'cache-timeout': bad })).toThrow(/^Input `cache-timeout`: .*whole number from 1 to 21600/);
  });

  it('refuses a malformed SOURCE_DATE_EPOCH', () => {
    expect(() => parseOptions(get({ wasm: 'f', push: 'false' }), { SOURCE_DATE_EPOCH: 'yesterday' })).toThrow(/SOURCE_DATE_EPOCH/);
  });
});

describe('platform', () => {
  const platformOf = (inputs: Record<string, string>) => parseOptions(get({ wasm: 'f', push: 'false', ...inputs }), {}).platform;

  it('is linux/amd64 by default, and takes os/architecture[/variant] with the names uname and Debian use', () => {
    expect(platformOf({})).toEqual({ os: 'linux', architecture: 'amd64' });
    expect(platformOf({ platform: 'linux/arm64' })).toEqual({ os: 'linux', architecture: 'arm64' });
    expect(platformOf({ platform: 'Linux/ARM/v7' })).toEqual({ os: 'linux', architecture: 'arm', variant: 'v7' });
    expect(platformOf({ platform: 'linux/x86_64' })).toEqual({ os: 'linux', architecture: 'amd64' });
    expect(platformOf({ platform: 'linux/aarch64' })).toEqual({ os: 'linux', architecture: 'arm64' });
    expect(platformOf({ platform: 'wasip1/wasm' })).toEqual({ os: 'wasip1', architecture: 'wasm' });
  });

  it.each([
    [{ platform: 'linux' }, /^Input `platform`: "linux" is not os\/architecture\[\/variant\]; write e\.g\. linux\/amd64/],
    [{ platform: 'linux/amd64/v2/x' }, /^Input `platform`: .* is not os\/architecture/],
    [{ platform: 'linux//v7' }, /^Input `platform`: .* is not os\/architecture/],
    [{ platform: 'linxu/amd64' }, /^Input `platform`: "linxu\/amd64" names an unknown os "linxu"; use linux/],
    [{ platform: 'linux/amd46' }, /^Input `platform`: "linux\/amd46" names an unknown architecture "amd46"/],
    [{ platform: 'linux/arm/v 7' }, /^Input `platform`: .*invalid variant/],
    [
      { platform: 'linux/arm64', variant: 'oci' },
      /^Input `platform`: applies only to variant compat \(its config is the Wasm runtime config/,
    ],
    [{ platform: 'wasip1/wasm', variant: 'wasm' }, /^Input `platform`: applies only to variant compat .*remove platform/],
  ])('refuses %j', (inputs, message) => {
    expect(() => platformOf(inputs)).toThrow(message);
  });

  it('accepts its default with the oci and wasm variants, which have no platform to write', () => {
    expect(platformOf({ variant: 'oci', platform: 'linux/amd64' })).toEqual({ os: 'linux', architecture: 'amd64' });
    expect(platformOf({ variant: 'wasm' })).toEqual({ os: 'linux', architecture: 'amd64' });
  });
});

describe('image source', () => {
  const DIGEST = `sha256:${'ab'.repeat(32)}`;
  // The runner passes every input, filled with its action.yml default when the workflow leaves it out.
  const runnerGet = (inputs: Record<string, string>) => (name: string) => inputs[name] ?? INPUT_DEFAULTS[name] ?? '';

  it('accepts from-image with every packaging input at its runner default', () => {
    const o = parseOptions(runnerGet({ 'from-image': `ghcr.io/acme/f@${DIGEST}`, tags: 'ghcr.io/acme/f:1.2.0' }), {});
    expect(o.source).toEqual({
      kind: 'registry',
      image: { ref: expect.objectContaining({ registry: 'ghcr.io', repository: 'acme/f' }), digest: DIGEST },
    });
  });

  it('refuses a from-image with user info without repeating the password', () => {
    for (const input of ['bob:s3cretpw@ghcr.io/a/b:1', `bob:s3cretpw@ghcr.io/a/b@${DIGEST}`]) {
      const error = (() => {
        try {
          parseOptions(runnerGet({ 'from-image': input, tags: 'ghcr.io/a/b:2' }), {});
        } catch (err) {
          return err as Error;
        }
        throw new Error('accepted');
      })();
      expect(error.message).toMatch(/^Input `from-image`: .*has credentials in it/);
      expect(error.message).not.toContain('s3cretpw');
    }
  });

  it('binds username and password to the from-image source registry when registry names it', () => {
    const inputs = { 'from-image': `quay.io/acme/f@${DIGEST}`, tags: 'ghcr.io/acme/f:1.2.0', username: 'u', password: 'p' };
    expect(parseOptions(runnerGet({ ...inputs, registry: 'quay.io' }), {}).registry).toBe('quay.io');
    expect(parseOptions(runnerGet(inputs), {}).registry).toBe('ghcr.io');
    expect(() => parseOptions(runnerGet({ ...inputs, registry: 'docker.io' }), {})).toThrow(
      /^Input `registry`: docker\.io is not the registry of any tag or of from-image \(ghcr\.io, quay\.io\)/,
    );
  });

  it('resolves a relative from-oci-layout against working-directory, with from-ref', () => {
    const o = parseOptions(
      get({ 'from-oci-layout': 'out/layout', 'from-ref': 'sha-1', 'working-directory': 'filters/a', push: 'false' }),
      {},
    );
    expect(o.source).toEqual({ kind: 'layout', dir: 'filters/a/out/layout', ref: 'sha-1' });
  });

  it.each([
    [{}, /Input `wasm`: is required: .*or from-oci-layout or from-image/],
    [{ wasm: 'f.wasm', 'from-oci-layout': 'l' }, /Input `from-oci-layout`: and wasm both name the image/],
    [{ 'from-oci-layout': 'l', 'from-image': `r/x@${DIGEST}` }, /Input `from-image`: and from-oci-layout both name the image/],
    [{ wasm: 'f.wasm', 'from-ref': 'a' }, /Input `from-ref`: names an entry of from-oci-layout/],
    [
      { 'from-oci-layout': 'l', labels: 'a=b' },
      /Input `labels`: shapes a packaged module; from-oci-layout publishes an existing image byte for byte/,
    ],
    [{ 'from-image': `r/x@${DIGEST}`, platform: 'linux/arm64' }, /Input `platform`: shapes a packaged module; from-image publishes/],
    [{ 'from-image': 'ghcr.io/acme/f:1.0' }, /Input `from-image`: "ghcr.io\/acme\/f:1.0" does not name an image by digest/],
    [{ 'from-image': `GHCR.io/Acme/f@${DIGEST}` }, /Input `from-image`: .*upper-case letters in its repository/],
  ])('refuses %o', (inputs, message) => {
    expect(() => parseOptions(get({ push: 'false', ...inputs }), {})).toThrow(message);
  });
});

describe('input registry', () => {
  const creds = { wasm: 'f.wasm', username: 'u', password: 'p' };
  const registryOf = (inputs: Record<string, string>) => parseOptions(get({ ...creds, ...inputs }), {}).registry;

  it('defaults to the one registry all tags share', () => {
    expect(registryOf({ tags: 'ghcr.io/a/b:1, ghcr.io/c/d:2' })).toBe('ghcr.io');
    expect(registryOf({ tags: 'acme/filter:1' })).toBe('docker.io');
  });

  it('is normalised as a reference names it: no scheme or path, lower case, Docker Hub aliases as docker.io', () => {
    const tags = 'ghcr.io/a/b:1\nacme/b:1\nregistry.example.com:5000/b:1';
    expect(registryOf({ tags, registry: 'GHCR.io' })).toBe('ghcr.io');
    expect(registryOf({ tags, registry: 'https://index.docker.io/v1/' })).toBe('docker.io');
    expect(registryOf({ tags, registry: 'registry-1.docker.io' })).toBe('docker.io');
    expect(registryOf({ tags, registry: 'registry.example.com:5000' })).toBe('registry.example.com:5000');
  });

  it('is empty without username/password', () => {
    expect(parseOptions(get({ wasm: 'f', tags: 'ghcr.io/a/b:1\nquay.io/a/b:1' }), {}).registry).toBe('');
  });

  it.each([
    [
      { tags: 'ghcr.io/a/b:1\nquay.io/a/b:1' },
      /^Input `registry`: is required when username and password are set and the tags name several registries \(ghcr\.io, quay\.io\): set registry .* docker\/login-action/,
    ],
    [{ tags: 'ghcr.io/a/b:1', registry: 'quay.io' }, /^Input `registry`: quay\.io is not the registry of any tag \(ghcr\.io\)/],
    [{ tags: 'ghcr.io/a/b:1', registry: 'not a host' }, /^Input `registry`: "not a host" is not a registry host/],
    [
      { tags: 'ghcr.io/a/b:1', registry: 'ghcr.io', username: '', password: '' },
      /^Input `registry`: names the registry username and password are for: set username and password too/,
    ],
  ])('refuses %o', (inputs, message) => {
    expect(() => parseOptions(get({ ...creds, ...inputs }), {})).toThrow(message);
  });
});

describe('verify', () => {
  it('is light by default and for true, full for full, off for false; anything else names the three', () => {
    const verify = (value: string) => parseOptions(get({ wasm: 'f.wasm', push: 'false', verify: value }), {}).verify;
    expect([verify(''), verify('true'), verify('TRUE'), verify('full'), verify(' Full '), verify('false')]).toEqual([
      'light',
      'light',
      'light',
      'full',
      'full',
      'off',
    ]);
    for (const bad of ['yes', 'constructor', 'light'])
      expect(() => verify(bad)).toThrow(/Input `verify`: .* use true .*, full .* or false/);
  });
});
