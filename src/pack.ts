// Turns the module file into an Image: streams what must be hashed (the module, the compat layer into a temp
// file) and hands descriptors to the pure builders.
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { buildCncfImage, buildCompatImage, buildOciImage, runtimeConfigBytes, type ImageSpec } from './image/build.js';
import { writeCompatLayer } from './image/compat-layer.js';
import { hashFile } from './image/digest.js';
import { InputError } from './errors.js';
import { MAX_MODULE_BYTES } from './image/mediatypes.js';
import type { Digest, Image } from './image/types.js';
import type { ModuleFile } from './wasm/module-file.js';

export interface PackedImage {
  image: Image;
  wasm: { digest: Digest; size: number };
}

const block = (n: number) => Math.ceil(n / 512) * 512;

/** The compat tar's exact size: a header and padded data per entry, then two zero blocks. */
export function compatTarSize(moduleSize: number, runtimeConfigSize: number): number {
  return 512 + block(moduleSize) + 512 + block(runtimeConfigSize) + 1024;
}

/**
 * Istio and Envoy Gateway cap a compat image's uncompressed tar stream, not just the module: a module near
 * the cap fits the oci variant but not compat. Checked before any work or request.
 */
export function checkFits(module: ModuleFile, spec: ImageSpec): void {
  if (spec.variant !== 'compat') return;
  const size = compatTarSize(module.size, runtimeConfigBytes(spec).byteLength);
  if (size > MAX_MODULE_BYTES) {
    throw new InputError(
      'wasm',
      `${module.path} is too large for the compat variant: its tar stream would be ${size} bytes, over the ${MAX_MODULE_BYTES}-byte cap Istio and Envoy Gateway apply to it; use variant: oci (the cap applies to the raw module there) or shrink the module`,
    );
  }
}

export async function packModule(module: ModuleFile, spec: ImageSpec, workDir: string, compressionLevel = 6): Promise<PackedImage> {
  if (spec.variant !== 'compat') {
    const { digest, size } = await hashFile(module.path);
    if (size !== module.size) throw new Error(`${module.path} changed while it was being read`);
    const blob = { digest, size, source: { kind: 'file' as const, path: module.path } };
    const image =
      spec.variant === 'oci' ? buildOciImage(spec, blob) : buildCncfImage(spec, blob, module.kind === 'component' ? 'wasip2' : 'wasip1');
    return { image, wasm: { digest, size } };
  }
  const layerPath = join(workDir, 'layer.tar.gz');
  // Room for a few compressed blocks, so a pending write rarely holds up the next block's dispatch.
  const out = createWriteStream(layerPath, { highWaterMark: 1 << 20 });
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
