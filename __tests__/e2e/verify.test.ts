// Post-push verification against the real registry, and the CNCF variant read back field by field.
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Digest } from '../../src/image/digest.js';
import { jsonBytes } from '../../src/image/json.js';
import type { Image, Manifest } from '../../src/image/types.js';
import type { PackedImage } from '../../src/pack.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { jsonAs, type ConfigJson } from '../helpers/json.js';
import { packFixture, push, pushError } from '../helpers/push.js';
import { startRegistry, type RegistryFixture } from '../helpers/registry.js';

const exec = promisify(execFile);
let reg: RegistryFixture;
beforeAll(async () => {
  reg = await startRegistry();
});
afterAll(async () => {
  await reg?.stop();
});

/** The same image with its manifest changed by `mutate` (bytes and digest recomputed). */
function withManifest(image: Image, mutate: (m: Manifest) => Manifest, layers = image.layers): Image {
  const manifest = mutate(structuredClone(image.manifest));
  const manifestBytes = jsonBytes(manifest);
  return {
    ...image,
    manifest,
    manifestBytes,
    layers,
    manifestDescriptor: { mediaType: manifest.mediaType, digest: sha256Digest(manifestBytes), size: manifestBytes.byteLength },
  };
}

describe('post-push verification', () => {
  it.each(['compat', 'oci'] as const)('a good %s push verifies as what consumers detect (light and full)', async (variant) => {
    const packed = await packFixture(variant);
    for (const verify of ['light', 'full'] as const) {
      const tags = [`${reg.host}/verify/good-${variant}-${verify}:1`, `${reg.host}/verify/good-${variant}-${verify}:2`];
      const { result, log } = await push(packed, tags, { verify });
      expect(result.verification).toEqual({ variant });
      expect(log.infos.join('\n')).toMatch(
        new RegExp(`verified .*good-${variant}-${verify}:\\{1,2\\}: Istio and Envoy Gateway read it as the ${variant} variant`),
      );
      expect(log.warnings).toEqual([]);
    }
  });

  it('light downloads no layer: the manifest by digest, the config, a HEAD per layer; full downloads them all', async () => {
    const proxy = await startFaultProxy(reg.url);
    try {
      for (const variant of ['compat', 'oci'] as const) {
        const packed = await packFixture(variant);
        const { digest } = packed.image.manifestDescriptor;
        const config = packed.image.manifest.config.digest;
        const layers = packed.image.manifest.layers.map((l) => l.digest).filter((d) => d !== config);
        const requests = async (verify: 'light' | 'full') => {
          const first = proxy.requests.length;
          let verifying = 0;
          await push(packed, [`${proxy.host}/verify/reads-${variant}-${verify}:1`], {
            verify,
            group: (name, fn) => {
              if (name === 'Verify') verifying = proxy.requests.length;
              return fn();
            },
          });
          expect(verifying).toBeGreaterThan(first);
          return proxy.requests.slice(verifying).map((r) => `${r.method} ${r.path.replace(/^\/v2\/[^]+?\/(manifests|blobs)\//, '$1/')}`);
        };
        // Sorted: independent reads go out together, so their order varies.
        expect((await requests('light')).sort()).toEqual(
          [`GET manifests/${digest}`, 'HEAD manifests/1', `GET blobs/${config}`, ...layers.map((d) => `HEAD blobs/${d}`)].sort(),
        );
        expect((await requests('full')).sort()).toEqual(
          [`GET manifests/${digest}`, 'HEAD manifests/1', `GET blobs/${config}`, ...layers.map((d) => `GET blobs/${d}`)].sort(),
        );
      }
    } finally {
      await proxy.stop();
    }
  });

  it('light sends every read at once: the config and layer reads go out although the read-back fails', async () => {
    const proxy = await startFaultProxy(reg.url);
    try {
      const packed = await packFixture('oci');
      const { digest } = packed.image.manifestDescriptor;
      const [config, module] = [packed.image.manifest.config.digest, packed.image.manifest.layers[1]?.digest as string];
      proxy.addRule({
        match: { method: 'GET', path: new RegExp(`/manifests/${digest}$`) },
        fault: { kind: 'status', status: 404, body: '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"gone"}]}' },
      });
      let verifying = 0;
      const { error } = await pushError(packed, [`${proxy.host}/verify/at-once:1`], {
        verify: 'light',
        group: (name, fn) => {
          if (name === 'Verify') verifying = proxy.requests.length;
          return fn();
        },
      });
      // The read-back's failure is the one reported, whatever answered first.
      expect(error.message).toMatch(/reading back verify\/at-once@sha256:\w+ .*HTTP 404/);
      const sent = proxy.requests.slice(verifying).map((r) => `${r.method} ${r.path.replace(/^\/v2\/verify\/at-once\//, '')}`);
      expect(sent.sort()).toEqual([`GET blobs/${config}`, `GET manifests/${digest}`, 'HEAD manifests/1', `HEAD blobs/${module}`].sort());
    } finally {
      await proxy.stop();
    }
  });

  it('light fails when a layer is missing from the registry or has another size', async () => {
    const proxy = await startFaultProxy(reg.url);
    try {
      const packed = await packFixture('oci');
      const module = packed.image.manifest.layers[1]?.digest as string;
      const faults = [
        [{ kind: 'status', status: 404, body: '' }, /blob sha256:\w+ is missing from verify\/missing-1/],
        [{ kind: 'header', name: 'content-length', value: '3' }, /blob sha256:\w+ is 3 bytes in verify\/missing-2, expected \d+/],
      ] as const;
      let i = 0;
      for (const [fault, message] of faults) {
        const { result } = await push(packed, [`${proxy.host}/verify/missing-${++i}:1`], {
          verify: 'light',
          group: (name, fn) => {
            // Only verification's HEAD sees the fault, not the upload's.
            if (name === 'Verify') proxy.addRule({ match: { method: 'HEAD', path: new RegExp(`/blobs/${module}$`) }, fault, times: 1 });
            return fn();
          },
        });
        expect(result.verification).toEqual({ error: expect.stringMatching(message) });
      }
    } finally {
      await proxy.stop();
    }
  });

  it('warns and does not fail when another push moved a tag before verification (the last writer wins)', async () => {
    const [mine, theirs] = [await packFixture('oci'), await packFixture('compat')];
    const tag = `${reg.host}/verify/moved:latest`;
    for (const verify of ['light', 'full'] as const) {
      const { result, log } = await push(mine, [tag, `${reg.host}/verify/moved:mine-${verify}`], {
        verify,
        group: async (name, fn) => {
          if (name === 'Verify') await push(theirs, [tag]);
          return fn();
        },
      });
      expect(result.verification).toEqual({ variant: 'oci' });
      expect(log.warnings).toEqual([
        `${tag} now points at ${theirs.image.manifestDescriptor.digest}, not at the pushed ${mine.image.manifestDescriptor.digest}: another push changed the tag after this one (the last writer wins); the pushed image was verified by its digest`,
      ]);
    }
  });

  /** Whether the registry knows the repository at all (light verification must push nothing). */
  const tagList = async (repository: string) =>
    (await fetch(`${reg.url}/v2/${repository}/tags/list`, { signal: AbortSignal.timeout(5000) })).status;

  const threeLayers = (packed: PackedImage) => {
    const [configLayer, moduleLayer] = packed.image.layers as [Image['layers'][0], Image['layers'][0]];
    return withManifest(packed.image, (m) => ({ ...m, layers: [configLayer.descriptor, configLayer.descriptor, moduleLayer.descriptor] }), [
      configLayer,
      configLayer,
      moduleLayer,
    ]);
  };
  const plainTar = (packed: PackedImage) =>
    withManifest(packed.image, (m) => ({
      ...m,
      layers: m.layers.map((l) => ({ ...l, mediaType: 'application/vnd.oci.image.layer.v1.tar' })),
    }));
  /** The oci variant's raw module layer, relabelled as a compat tar+gzip layer: not gzip at all. */
  const notGzip = (packed: PackedImage) => {
    const moduleLayer = packed.image.layers[1];
    const relabelled = {
      ...moduleLayer,
      descriptor: { ...moduleLayer.descriptor, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' },
    };
    delete relabelled.descriptor.annotations;
    return withManifest(packed.image, (m) => ({ ...m, layers: [relabelled.descriptor] }), [relabelled]);
  };
  const broken = [
    ['an oci image with three layers', 'oci', threeLayers, /the oci variant needs exactly 2 layers, this image has 3/],
    [
      'a compat image whose last layer is a plain tar',
      'compat',
      plainTar,
      /the last layer is application\/vnd\.oci\.image\.layer\.v1\.tar; compat needs application\/vnd\.oci\.image\.layer\.v1\.tar\+gzip/,
    ],
    ['a compat layer that is not gzip', 'oci', notGzip, /not a valid tar\+gzip stream|not valid gzip|holds no plugin\.wasm/],
  ] as const;

  it.each(broken)('light: %s is refused before anything is uploaded', async (_name, variant, breakIt, message) => {
    const packed = await packFixture(variant);
    const repository = `verify/local-${variant}-${breakIt.name.toLowerCase()}`;
    const { error } = await pushError({ ...packed, image: breakIt(packed) }, [`${reg.host}/${repository}:1`], { verify: 'light' });
    expect(error.message).toMatch(/^the image would not load, so nothing was pushed: /);
    expect(error.message).toMatch(message);
    expect(await tagList(repository)).toBe(404);
  });

  it.each(broken)('full: %s is pushed, read back and reported as unloadable', async (_name, variant, breakIt, message) => {
    const packed = await packFixture(variant);
    const { result } = await push(
      { ...packed, image: breakIt(packed) },
      [`${reg.host}/verify/full-${variant}-${breakIt.name.toLowerCase()}:1`],
      {
        verify: 'full',
      },
    );
    expect(result.verification).toEqual({ error: expect.stringMatching(message) });
  });
});

describe('the CNCF Wasm artifact (variant wasm)', () => {
  it('has the config and layer of the TAG-Runtime layout, field by field, and reads back', async () => {
    const packed = await packFixture('wasm');
    const { image } = packed;
    const manifest = JSON.parse(new TextDecoder().decode(image.manifestBytes));
    expect(manifest).toEqual({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.wasm.config.v0+json',
        digest: image.config.descriptor.digest,
        size: image.config.descriptor.size,
      },
      layers: [{ mediaType: 'application/wasm', digest: packed.wasm.digest, size: packed.wasm.size }],
    });
    const config = JSON.parse(new TextDecoder().decode((image.config.source as { bytes: Uint8Array }).bytes));
    expect(config).toEqual({ created: '1970-01-01T00:00:00Z', architecture: 'wasm', os: 'wasip1', layerDigests: [packed.wasm.digest] });

    const ref = `${reg.host}/cncf/filter:1`;
    const { result } = await push(packed, [ref], { verify: 'light' });
    expect(result.verification).toEqual({ variant: 'wasm' });
    const raw = (await exec('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${ref}`], { encoding: 'buffer' })).stdout;
    expect(sha256Digest(raw)).toBe(result.digest);
    const readConfig = JSON.parse((await exec('skopeo', ['inspect', '--config', '--raw', '--tls-verify=false', `docker://${ref}`])).stdout);
    expect(readConfig).toEqual(config);
  });

  it('marks a component as wasip2', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'component-')), 'c.wasm');
    writeFileSync(path, Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00, 0x00, 0x04, 0x01, 0x61, 0x62, 0x63]));
    const packed = await packFixture('wasm', path);
    const config = jsonAs<ConfigJson>((packed.image.config.source as { bytes: Uint8Array }).bytes);
    expect(config.os).toBe('wasip2');
  });
});
