// JSON from outside is checked before it is typed: the shared guards and each shape's reader refuse (or
// ignore, where the format allows) members of the wrong type instead of trusting a cast.
import { describe, expect, it } from 'vitest';
import { descriptorOf } from '../src/image/descriptor-json.js';
import { layoutIndexOf, layoutVersion, refNameOf } from '../src/image/layout-index.js';
import { jsonObject, stringRecord } from '../src/json.js';
import { cncfConfigOf, manifestLikeOf, UnloadableImage } from '../src/registry/verify.js';
import { ManifestProblem, manifestSummary, parseImageManifest } from '../src/source/manifest.js';

const DIGEST = `sha256:${'a'.repeat(64)}`;
const descriptor = { mediaType: 'application/wasm', digest: DIGEST, size: 8 };
const bytes = (value: unknown) => Buffer.from(JSON.stringify(value));
const manifest = (over: Record<string, unknown> = {}) =>
  bytes({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: descriptor, layers: [descriptor], ...over });

describe('shared guards', () => {
  it('jsonObject says whether the text is not JSON or not an object, in the words of the caller', () => {
    const fail = (problem: string) => new Error(`the thing ${problem}`);
    expect(jsonObject('{"a":1}', fail)).toEqual({ a: 1 });
    expect(() => jsonObject('{', fail)).toThrow('the thing is not valid JSON');
    expect(() => jsonObject('[]', fail)).toThrow('the thing is not a JSON object');
    expect(() => jsonObject('null', fail)).toThrow('the thing is not a JSON object');
  });

  it('stringRecord accepts only objects of strings', () => {
    expect(stringRecord({ a: 'x' })).toEqual({ a: 'x' });
    expect(stringRecord({ a: 1 })).toBeUndefined();
    expect(stringRecord(['x'])).toBeUndefined();
  });

  it('descriptorOf names what is wrong', () => {
    expect(descriptorOf(descriptor)).toEqual({ descriptor });
    expect(descriptorOf({ ...descriptor, digest: 'md5:00' })).toEqual({
      problem: 'is not a descriptor with a mediaType and a sha256 digest',
    });
    expect(descriptorOf({ ...descriptor, size: '8' })).toEqual({ problem: 'has no valid size' });
    expect(descriptorOf('sha256:00')).toHaveProperty('problem');
  });
});

describe('manifest readers', () => {
  it('parseImageManifest builds the manifest from checked members only', () => {
    expect(parseImageManifest(manifest({ annotations: { a: 'b' } }))).toEqual({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: descriptor,
      layers: [descriptor],
      annotations: { a: 'b' },
    });
    expect(() => parseImageManifest(Buffer.from('"x"'))).toThrow(new ManifestProblem('the manifest is not a JSON object'));
    expect(() => parseImageManifest(manifest({ layers: [descriptor, { digest: DIGEST }] }))).toThrow(/layer 1 is not a descriptor/);
    expect(() => parseImageManifest(manifest({ config: { ...descriptor, size: -1 } }))).toThrow(/the config has no valid size/);
  });

  it('manifestSummary shows what it can of anything', () => {
    expect(manifestSummary(Buffer.from('not json'))).toEqual({ mediaType: undefined, configMediaType: undefined, annotations: {} });
    expect(manifestSummary(manifest({ annotations: { a: 'b' } }))).toMatchObject({
      configMediaType: 'application/wasm',
      annotations: { a: 'b' },
    });
  });

  it('read-back manifests and CNCF configs of the wrong shape make the image unloadable', () => {
    expect(manifestLikeOf(manifest()).layers).toEqual([descriptor]);
    expect(() => manifestLikeOf(Buffer.from('<html>'))).toThrow(new UnloadableImage('the manifest is not valid JSON'));
    expect(() => manifestLikeOf(manifest({ layers: 'all of them' }))).toThrow(/has no layers list/);
    expect(() => manifestLikeOf(manifest({ config: 7 }))).toThrow(/the config is not a descriptor/);
    expect(cncfConfigOf(bytes({ os: 'wasip1' }))).toEqual({ os: 'wasip1' });
    expect(() => cncfConfigOf(bytes(['wasm']))).toThrow(new UnloadableImage('the config is not a JSON object'));
  });
});

describe('layout files', () => {
  it('read the marker version and an index of objects, keeping unknown members', () => {
    expect(layoutVersion({ imageLayoutVersion: '1.0.0' })).toBe('1.0.0');
    expect(layoutVersion({ imageLayoutVersion: 1 })).toBeUndefined();
    const index = layoutIndexOf({
      schemaVersion: 2,
      extra: true,
      manifests: [{ annotations: { 'org.opencontainers.image.ref.name': 'v1' } }],
    });
    expect(index).toMatchObject({ extra: true });
    expect(index && refNameOf(index.manifests[0])).toBe('v1');
    expect(layoutIndexOf({ manifests: [null] })).toBeUndefined();
    expect(layoutIndexOf({ manifests: {} })).toBeUndefined();
  });
});
