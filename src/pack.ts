// Turns the module file into an Image: streams what must be hashed (the module, the compat layer into a temp
// file) and hands descriptors to the pure builders.
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { buildCncfImage, buildCompatImage, buildOciImage, runtimeConfigBytes, type ImageSpec } from './image/build.js';
import { writeCompatLayer } from './image/compat-layer.js';
import { hashFile } from './image/digest.js';
import type { Digest, Image } from './image/types.js';
import type { ModuleFile } from './wasm/module-file.js';

export interface PackedImage {
  image: Image;
  wasm: { digest: Digest; size: number };
}

export async function packModule(module: ModuleFile, spec: ImageSpec, workDir: string, compressionLevel = 6): Promise<PackedImage> {
  if (spec.variant !== 'compat') {
    const { digest, size } = await hashFile(module.path);
    if (size !== module.size) throw new Error(`${module.path} changed while it was being read`);
    const blob = { digest, size, source: { kind: 'file' as const, path: module.path } };
    const image = spec.variant === 'oci' ? buildOciImage(spec, blob) : buildCncfImage(spec, blob, module.kind === 'component' ? 'wasip2' : 'wasip1');
    return { image, wasm: { digest, size } };
  }
  const layerPath = join(workDir, 'layer.tar.gz');
  const out = createWriteStream(layerPath);
  const layer = await writeCompatLayer(
    {
      module: module.path,
      moduleSize: module.size,
      runtimeConfig: runtimeConfigBytes(spec),
      mtime: spec.created ?? 0,
      compressionLevel,
    },
    out,
  );
  const image = buildCompatImage(spec, {
    digest: layer.digest,
    size: layer.size,
    diffId: layer.diffId,
    source: { kind: 'file', path: layerPath },
  });
  return { image, wasm: { digest: layer.moduleDigest, size: module.size } };
}
