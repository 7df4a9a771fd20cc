import { createHash } from 'node:crypto';
import { PassThrough, type Writable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { extract, type Header } from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { buildCompatImage, buildOciImage, rfc3339, runtimeConfigBytes, type ImageSpec } from '../src/image/build.js';
import { writeCompatLayer } from '../src/image/compat-layer.js';
import { compatTarSize } from '../src/pack.js';
import { sha256Digest } from '../src/image/digest.js';
import { MediaType } from '../src/image/mediatypes.js';
import { imageBlobs, type Image } from '../src/image/types.js';
import type { Platform } from '../src/image/platform.js';
import { testSpec } from './helpers/spec.js';
import { jsonAs, type ConfigJson } from './helpers/json.js';

const MODULE = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x00, 0x03, 0x01, 0x61, 0x62]);

const spec = testSpec;

function collect(): { sink: Writable; bytes: () => Buffer } {
  const chunks: Buffer[] = [];
  const sink = new PassThrough();
  sink.on('data', (c: Buffer) => chunks.push(c));
  return { sink, bytes: () => Buffer.concat(chunks) };
}

async function compatLayer(s: ImageSpec, module: Uint8Array = MODULE, level = 6) {
  const { sink, bytes } = collect();
  const result = await writeCompatLayer(
    { module, moduleSize: module.byteLength, runtimeConfig: runtimeConfigBytes(s), mtime: s.created ?? 0, compressionLevel: level },
    sink,
  );
  return { result, gz: bytes() };
}

async function tarEntries(tar: Buffer) {
  const entries: Array<{ header: Header; body: Buffer }> = [];
  const ex = extract();
  const done = new Promise<void>((resolve, reject) => {
    ex.on('entry', (header, stream, next) => {
      const parts: Buffer[] = [];
      stream.on('data', (c: unknown) => parts.push(c as Buffer));
      stream.on('end', () => {
        entries.push({ header, body: Buffer.concat(parts) });
        next();
      });
    });
    ex.on('finish', resolve);
    ex.on('error', reject);
  });
  ex.end(tar);
  await done;
  return entries;
}

function manifestJson(image: Image): Record<string, unknown> {
  return JSON.parse(new TextDecoder().decode(image.manifestBytes)) as Record<string, unknown>;
}

function expectDescriptorsMatchBytes(image: Image): void {
  for (const blob of imageBlobs(image)) {
    if (blob.source.kind === 'bytes') {
      expect(blob.descriptor.digest).toBe(sha256Digest(blob.source.bytes));
      expect(blob.descriptor.size).toBe(blob.source.bytes.byteLength);
    }
  }
  expect(image.manifestDescriptor.digest).toBe(sha256Digest(image.manifestBytes));
  expect(image.manifestDescriptor.size).toBe(image.manifestBytes.byteLength);
}

describe('runtime config', () => {
  it('uses camelCase keys and leaves out empty lists', () => {
    expect(new TextDecoder().decode(runtimeConfigBytes(spec()))).toBe('{"type":"envoy_proxy","config":{}}');
    expect(
      new TextDecoder().decode(
        runtimeConfigBytes(spec({ abiVersions: ['v0-1', 'v0-2'], rootIds: ['root_a'], runtimeType: 'envoy_proxy' })),
      ),
    ).toBe('{"type":"envoy_proxy","abiVersions":["v0-1","v0-2"],"config":{"rootIds":["root_a"]}}');
  });
});

describe('oci variant', () => {
  const moduleDigest = sha256Digest(MODULE);
  const build = (s: ImageSpec) =>
    buildOciImage(s, { digest: moduleDigest, size: MODULE.byteLength, source: { kind: 'bytes', bytes: MODULE } });

  it('has the wasm config and exactly two layers: config, then the raw module', () => {
    const image = build(spec({ variant: 'oci', abiVersions: ['v0-4689a30309abf31aee9ae36e73d34b1bb182685f'], rootIds: ['r1'] }));
    const m = manifestJson(image);
    expect(m.schemaVersion).toBe(2);
    expect(m.mediaType).toBe(MediaType.ociManifest);
    expect(image.manifest.config.mediaType).toBe('application/vnd.module.wasm.config.v1+json');
    expect(image.manifest.layers).toHaveLength(2);
    const [configLayer, moduleLayer] = image.manifest.layers;
    expect(configLayer).toEqual({ ...image.manifest.config, annotations: { 'org.opencontainers.image.title': 'runtime-config.json' } });
    expect(moduleLayer).toEqual({
      mediaType: 'application/vnd.module.wasm.content.layer.v1+wasm',
      digest: moduleDigest,
      size: MODULE.byteLength,
      annotations: { 'org.opencontainers.image.title': 'filter.wasm' },
    });
    expect(m.annotations).toEqual({
      'module.wasm.runtime/abi_version': 'v0-4689a30309abf31aee9ae36e73d34b1bb182685f',
      'module.wasm.runtime/type': 'envoy_proxy',
    });
    const config = jsonAs<ConfigJson>((image.config.source as { bytes: Uint8Array }).bytes);
    expect(config).toEqual({
      type: 'envoy_proxy',
      abiVersions: ['v0-4689a30309abf31aee9ae36e73d34b1bb182685f'],
      config: { rootIds: ['r1'] },
    });
    expectDescriptorsMatchBytes(image);
    // The config blob is listed twice but stored once.
    expect(imageBlobs(image).map((b) => b.descriptor.digest)).toEqual([image.manifest.config.digest, moduleDigest]);
  });

  it('joins several ABI versions with commas and adds user annotations in sorted order', () => {
    const image = build(spec({ variant: 'oci', abiVersions: ['a', 'b'], annotations: { 'z.example/k': 'v', 'a.example/k': 'w' } }));
    const m = manifestJson(image);
    expect(Object.keys(m.annotations as object)).toEqual([
      'a.example/k',
      'module.wasm.runtime/abi_version',
      'module.wasm.runtime/type',
      'z.example/k',
    ]);
    expect((m.annotations as Record<string, string>)['module.wasm.runtime/abi_version']).toBe('a,b');
  });

  it('writes no abi_version annotation without ABI versions', () => {
    const m = manifestJson(build(spec({ variant: 'oci' })));
    expect(m.annotations).toEqual({ 'module.wasm.runtime/type': 'envoy_proxy' });
  });
});

describe('compat layer', () => {
  it('holds plugin.wasm and runtime-config.json at the root with fixed attributes', async () => {
    const s = spec({ rootIds: ['r'] });
    const { result, gz } = await compatLayer(s);
    const tar = gunzipSync(gz);
    expect(result.size).toBe(gz.length);
    expect(result.digest).toBe(sha256Digest(gz));
    expect(result.diffId).toBe(sha256Digest(tar));
    expect(result.tarSize).toBe(tar.length);
    expect(compatTarSize(MODULE.byteLength, runtimeConfigBytes(s).byteLength)).toBe(tar.length);
    expect(result.moduleDigest).toBe(sha256Digest(MODULE));
    const entries = await tarEntries(tar);
    expect(entries.map((e) => e.header.name)).toEqual(['plugin.wasm', 'runtime-config.json']);
    expect(Buffer.compare(entries[0].body, Buffer.from(MODULE))).toBe(0);
    expect(entries[1].body.toString()).toBe('{"type":"envoy_proxy","config":{"rootIds":["r"]}}');
    for (const { header } of entries) {
      expect(header.mode).toBe(0o644);
      expect(header.uid).toBe(0);
      expect(header.gid).toBe(0);
      expect(header.uname).toBe('');
      expect(header.gname).toBe('');
      expect(header.mtime.getTime()).toBe(0);
      expect(header.type).toBe('file');
    }
  });

  it('takes the entry mtime from SOURCE_DATE_EPOCH', async () => {
    const { gz } = await compatLayer(spec({ created: 1700000000 }));
    const entries = await tarEntries(gunzipSync(gz));
    expect(entries[0].header.mtime.getTime()).toBe(1700000000 * 1000);
  });

  it('writes a gzip header with mtime 0, no file name and the Unix OS byte', async () => {
    const { gz } = await compatLayer(spec());
    expect([gz[0], gz[1], gz[2]]).toEqual([0x1f, 0x8b, 8]);
    expect(gz[3]).toBe(0); // FLG: no FNAME, no FEXTRA, no FCOMMENT
    expect(gz.readUInt32LE(4)).toBe(0); // MTIME
    expect(gz[9]).toBe(3); // OS = Unix, whatever platform compressed it
  });

  it('is byte-identical across runs and changes with the compression level', async () => {
    const a = await compatLayer(spec());
    const b = await compatLayer(spec());
    expect(a.result.digest).toBe(b.result.digest);
    const big = new Uint8Array(200_000).map((_, i) => (i * 7) % 13);
    big.set(MODULE.subarray(0, 8));
    const l1 = await compatLayer(spec(), big, 1);
    const l9 = await compatLayer(spec(), big, 9);
    expect(l1.result.diffId).toBe(l9.result.diffId);
    expect(l1.result.digest).not.toBe(l9.result.digest);
  });
});

describe('compat image', () => {
  const layer = {
    digest: sha256Digest(new Uint8Array([1])),
    size: 1,
    diffId: sha256Digest(new Uint8Array([2])),
    source: { kind: 'bytes' as const, bytes: new Uint8Array([1]) },
  };

  it('is an OCI image with one tar+gzip layer, diff_ids and the variant annotation', () => {
    const image = buildCompatImage(spec({ labels: { 'b.example': '2', 'a.example': '1' }, annotations: { 'x.example/y': 'z' } }), layer);
    const m = manifestJson(image);
    expect(m.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    expect(image.manifest.config.mediaType).toBe('application/vnd.oci.image.config.v1+json');
    expect(image.manifest.layers).toEqual([{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layer.digest, size: 1 }]);
    expect(m.annotations).toEqual({ 'module.wasm.image/variant': 'compat', 'x.example/y': 'z' });
    const configText = new TextDecoder().decode((image.config.source as { bytes: Uint8Array }).bytes);
    expect(configText).toBe(
      `{"architecture":"amd64","os":"linux","config":{"Labels":{"a.example":"1","b.example":"2"}},"rootfs":{"type":"layers","diff_ids":["${layer.diffId}"]}}`,
    );
    expectDescriptorsMatchBytes(image);
  });

  it('writes the platform into the config, the variant after os as the OCI config orders them', () => {
    const config = (platform: Platform) =>
      new TextDecoder().decode((buildCompatImage(spec({ platform }), layer).config.source as { bytes: Uint8Array }).bytes);
    expect(config({ os: 'linux', architecture: 'arm', variant: 'v7' })).toMatch(
      /^\{"architecture":"arm","os":"linux","variant":"v7","rootfs"/,
    );
    expect(config({ os: 'wasip1', architecture: 'wasm' })).toMatch(/^\{"architecture":"wasm","os":"wasip1","rootfs"/);
  });

  it('writes created only from SOURCE_DATE_EPOCH', () => {
    const without = buildCompatImage(spec(), layer);
    expect(new TextDecoder().decode((without.config.source as { bytes: Uint8Array }).bytes)).not.toContain('created');
    const withEpoch = buildCompatImage(spec({ created: 1700000000 }), layer);
    const config = jsonAs<ConfigJson>((withEpoch.config.source as { bytes: Uint8Array }).bytes);
    expect(config.created).toBe('2023-11-14T22:13:20Z');
    expect(rfc3339(0)).toBe('1970-01-01T00:00:00Z');
  });

  it('uses only Docker media types and no annotations in the Docker flavour', () => {
    const image = buildCompatImage(spec({ flavour: 'docker', labels: { a: 'b' } }), layer);
    const m = manifestJson(image);
    expect(m.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    expect(image.manifest.config.mediaType).toBe('application/vnd.docker.container.image.v1+json');
    expect(image.manifest.layers[0].mediaType).toBe('application/vnd.docker.image.rootfs.diff.tar.gzip');
    expect(m).not.toHaveProperty('annotations');
    expect(JSON.stringify(m)).not.toContain('vnd.oci');
    expectDescriptorsMatchBytes(image);
  });

  it('has a digest that is the sha256 of the exact manifest bytes', () => {
    const image = buildCompatImage(spec(), layer);
    expect(image.manifestDescriptor.digest).toBe(`sha256:${createHash('sha256').update(image.manifestBytes).digest('hex')}`);
  });
});
