// Post-push verification against the real registry, and the CNCF variant read back field by field.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Digest } from '../../src/image/digest.js';
import { jsonBytes } from '../../src/image/json.js';
import type { Image, Manifest } from '../../src/image/types.js';
import { packFixture, push } from '../helpers/push.js';
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
  it.each(['compat', 'oci'] as const)('a good %s push verifies as what consumers detect', async (variant) => {
    const packed = await packFixture(variant);
    const { result, log } = await push(packed, [`${reg.host}/verify/good-${variant}:1`, `${reg.host}/verify/good-${variant}:2`], {
      verify: true,
    });
    expect(result.verification).toEqual({ variant });
    expect(log.infos.join('\n')).toMatch(
      new RegExp(`verified .*good-${variant}:\\{1,2\\}: Istio and Envoy Gateway read it as the ${variant} variant`),
    );
  });

  it('reports an oci image with three layers as unloadable, with the reason', async () => {
    const packed = await packFixture('oci');
    const [configLayer, moduleLayer] = packed.image.layers as [Image['layers'][0], Image['layers'][0]];
    const broken = withManifest(
      packed.image,
      (m) => ({ ...m, layers: [configLayer.descriptor, configLayer.descriptor, moduleLayer.descriptor] }),
      [configLayer, configLayer, moduleLayer],
    );
    const { result } = await push({ ...packed, image: broken }, [`${reg.host}/verify/three-layers:1`], { verify: true });
    expect(result.verification).toEqual({ error: expect.stringMatching(/the oci variant needs exactly 2 layers, this image has 3/) });
  });

  it('reports a compat image whose last layer is a plain tar as unloadable', async () => {
    const packed = await packFixture('compat');
    const broken = withManifest(packed.image, (m) => ({
      ...m,
      layers: m.layers.map((l) => ({ ...l, mediaType: 'application/vnd.oci.image.layer.v1.tar' })),
    }));
    const { result } = await push({ ...packed, image: broken }, [`${reg.host}/verify/plain-tar:1`], { verify: true });
    expect(result.verification).toEqual({
      error: expect.stringMatching(
        /the last layer is application\/vnd\.oci\.image\.layer\.v1\.tar; compat needs application\/vnd\.oci\.image\.layer\.v1\.tar\+gzip/,
      ),
    });
  });

  it('reports a compat layer that holds no plugin.wasm', async () => {
    // The oci variant's raw module layer, relabelled as a compat tar+gzip layer: not gzip at all.
    const packed = await packFixture('oci');
    const moduleLayer = packed.image.layers[1] as Image['layers'][0];
    const relabelled = {
      ...moduleLayer,
      descriptor: {
        mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
        digest: moduleLayer.descriptor.digest,
        size: moduleLayer.descriptor.size,
      },
    };
    const broken = withManifest(packed.image, (m) => ({ ...m, layers: [relabelled.descriptor] }), [relabelled]);
    const { result } = await push({ ...packed, image: broken }, [`${reg.host}/verify/not-gzip:1`], { verify: true });
    expect(result.verification).toEqual({ error: expect.stringMatching(/not valid gzip|holds no plugin\.wasm/) });
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
    const { result } = await push(packed, [ref], { verify: true });
    expect(result.verification).toEqual({ variant: 'wasm' });
    const raw = (await exec('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${ref}`], { encoding: 'buffer' })).stdout;
    expect(sha256Digest(raw)).toBe(result.digest);
    const readConfig = JSON.parse((await exec('skopeo', ['inspect', '--config', '--raw', '--tls-verify=false', `docker://${ref}`])).stdout);
    expect(readConfig).toEqual(config);
  });

  it('marks a component as wasip2', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const path = join(mkdtempSync(join(tmpdir(), 'component-')), 'c.wasm');
    writeFileSync(path, Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00, 0x00, 0x04, 0x01, 0x61, 0x62, 0x63]));
    const packed = await packFixture('wasm', path);
    const config = JSON.parse(new TextDecoder().decode((packed.image.config.source as { bytes: Uint8Array }).bytes));
    expect(config.os).toBe('wasip2');
  });
});
