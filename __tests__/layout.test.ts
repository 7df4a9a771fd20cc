// OCI layouts are added to, as skopeo and oras do: this image's blobs and index entries go in, entries with
// another ref name and files this did not write stay, and skopeo and umoci read every image afterwards.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Annotation } from '../src/image/mediatypes.js';
import { checkLayoutTarget, writeLayout } from '../src/layout.js';
import type { PackedImage } from '../src/pack.js';
import { packFixture } from './helpers/push.js';
import { readIndex } from './helpers/json.js';

let dir: string;
let compat: PackedImage;
let oci: PackedImage;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'layout-'));
  [compat, oci] = await Promise.all([packFixture('compat'), packFixture('oci')]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const refs = (layout: string): Array<[string, string]> =>
  readIndex(layout).manifests.map((m) => [m.annotations?.[Annotation.refName] ?? '', m.digest]);
const skopeoDigest = (ref: string) =>
  `sha256:${
    execFileSync('sha256sum', { input: execFileSync('skopeo', ['inspect', '--raw', ref]) })
      .toString()
      .split(' ')[0]
  }`;
const files = (layout: string) => readdirSync(layout, { recursive: true }).map(String).sort();

describe('writeLayout into an existing layout', () => {
  it('adds to a layout skopeo wrote, keeping its images and files, and both tools read all of them', async () => {
    const source = join(dir, 'source');
    await writeLayout(source, compat.image, ['src']);
    const layout = join(dir, 'skopeo-made');
    execFileSync('skopeo', ['copy', '--quiet', `oci:${source}:src`, `oci:${layout}:from-skopeo`]);
    writeFileSync(join(layout, 'NOTES.txt'), 'not ours');
    const before = files(layout);
    const skopeoIndex = readIndex(layout);

    await writeLayout(layout, oci.image, ['1.0', 'latest']);

    const oursDigest = oci.image.manifestDescriptor.digest;
    expect(refs(layout)).toEqual([
      ['from-skopeo', skopeoIndex.manifests[0].digest],
      ['1.0', oursDigest],
      ['latest', oursDigest],
    ]);
    // Every file that was there is still there; nothing but blobs and index.json was added.
    expect(files(layout)).toEqual(expect.arrayContaining(before));
    expect(readFileSync(join(layout, 'NOTES.txt'), 'utf8')).toBe('not ours');
    expect(files(layout).filter((f) => !before.includes(f) && !f.startsWith('blobs/'))).toEqual([]);
    expect(readdirSync(layout).filter((n) => n.includes('.tmp'))).toEqual([]);
    // The fields skopeo wrote in index.json are kept as they were.
    const withoutManifests = (index: Record<string, unknown>) => ({ ...index, manifests: undefined });
    expect(withoutManifests(readIndex(layout))).toEqual(withoutManifests(skopeoIndex));

    expect(skopeoDigest(`oci:${layout}:from-skopeo`)).toBe(skopeoIndex.manifests[0].digest);
    expect(skopeoDigest(`oci:${layout}:1.0`)).toBe(oursDigest);
    const listed = execFileSync('umoci', ['ls', '--layout', layout]).toString().split('\n').filter(Boolean).sort();
    expect(listed).toEqual(['1.0', 'from-skopeo', 'latest']);
    const unpacked = join(dir, 'unpacked');
    execFileSync('umoci', ['raw', 'unpack', '--rootless', '--image', `${layout}:from-skopeo`, unpacked], { stdio: 'pipe' });
    expect(readdirSync(unpacked)).toContain('plugin.wasm');
  });

  it('replaces only the entries with the same ref name, and deletes no blob', async () => {
    const layout = join(dir, 'same-ref');
    await writeLayout(layout, compat.image, ['1.0', 'keep']);
    const blobsBefore = readdirSync(join(layout, 'blobs', 'sha256'));
    await writeLayout(layout, oci.image, ['1.0']);
    expect(refs(layout)).toEqual([
      ['keep', compat.image.manifestDescriptor.digest],
      ['1.0', oci.image.manifestDescriptor.digest],
    ]);
    expect(readdirSync(join(layout, 'blobs', 'sha256'))).toEqual(expect.arrayContaining(blobsBefore));
    expect(skopeoDigest(`oci:${layout}:keep`)).toBe(compat.image.manifestDescriptor.digest);
    expect(skopeoDigest(`oci:${layout}:1.0`)).toBe(oci.image.manifestDescriptor.digest);
  });

  it('writes a layout into an empty directory in place', async () => {
    const layout = join(dir, 'empty');
    mkdirSync(layout);
    await writeLayout(layout, oci.image, ['x']);
    expect(JSON.parse(readFileSync(join(layout, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
    expect(skopeoDigest(`oci:${layout}:x`)).toBe(oci.image.manifestDescriptor.digest);
  });

  it('leaves an existing layout as it was, and no new one, when writing fails', async () => {
    // A layer whose file has gone: the blobs before it are written, then the copy fails.
    const [layer] = compat.image.layers as [PackedImage['image']['layers'][0]];
    const gone = { ...compat.image, layers: [{ ...layer, source: { kind: 'file' as const, path: join(dir, 'no-such-file') } }] };
    const layout = join(dir, 'kept');
    await writeLayout(layout, oci.image, ['1.0']);
    const before = files(layout);
    const index = readFileSync(join(layout, 'index.json'), 'utf8');
    await expect(writeLayout(layout, gone, ['2.0'])).rejects.toThrow(/no-such-file/);
    expect(files(layout)).toEqual(before);
    expect(readFileSync(join(layout, 'index.json'), 'utf8')).toBe(index);
    const fresh = join(dir, 'never-made');
    await expect(writeLayout(fresh, gone, ['2.0'])).rejects.toThrow(/no-such-file/);
    expect(readdirSync(dir)).not.toContain('never-made');
  });

  it.each([
    ['a foreign directory', { 'README.md': 'mine' }, /exists and is not an OCI image layout/],
    ['a layout of another version', { 'oci-layout': '{"imageLayoutVersion":"2.0.0"}' }, /imageLayoutVersion 1\.x/],
    ['a layout with a broken index.json', { 'oci-layout': '{"imageLayoutVersion":"1.0.0"}', 'index.json': '{' }, /not an OCI image index/],
    ['a layout whose marker is not an object', { 'oci-layout': '["1.0.0"]' }, /imageLayoutVersion 1\.x/],
    [
      'a layout whose index lists something other than descriptors',
      { 'oci-layout': '{"imageLayoutVersion":"1.0.0"}', 'index.json': '{"manifests":[{"digest":"sha256:00"},"sha256:00"]}' },
      /not an OCI image index/,
    ],
  ])('refuses %s and leaves it as it was', async (name, content: Record<string, string>, message) => {
    const layout = join(dir, name.replace(/ /g, '-'));
    mkdirSync(layout);
    for (const [file, text] of Object.entries(content)) writeFileSync(join(layout, file), text);
    await expect(checkLayoutTarget(layout)).rejects.toThrow(message);
    await expect(writeLayout(layout, oci.image, ['x'])).rejects.toThrow(/Input `oci-layout`/);
    expect(readdirSync(layout).sort()).toEqual(Object.keys(content).sort());
  });
});

describe('writeLayout blob files', () => {
  const blobFile = (layout: string, digest: string) => join(layout, 'blobs', 'sha256', digest.slice('sha256:'.length));

  it("links a file from the run's work directory and copies any other file", async () => {
    const layer = compat.image.layers[0];
    const module = oci.image.layers[1];
    if (layer.source.kind !== 'file' || module.source.kind !== 'file') throw new Error('fixtures are files');
    const workDir = dirname(layer.source.path);
    const layout = join(dir, 'linked');
    await writeLayout(layout, compat.image, ['compat'], workDir);
    await writeLayout(layout, oci.image, ['oci'], workDir);
    // The layer is the work directory's file under a second name; the user's module is a copy of it.
    expect(statSync(blobFile(layout, layer.descriptor.digest)).ino).toBe(statSync(layer.source.path).ino);
    expect(statSync(blobFile(layout, module.descriptor.digest)).ino).not.toBe(statSync(module.source.path).ino);
    expect(readFileSync(blobFile(layout, module.descriptor.digest)).equals(readFileSync(module.source.path))).toBe(true);
    // Without a work directory every file is copied.
    const copied = join(dir, 'copied');
    await writeLayout(copied, compat.image, ['compat']);
    expect(statSync(blobFile(copied, layer.descriptor.digest)).ino).not.toBe(statSync(layer.source.path).ino);
  });
});
