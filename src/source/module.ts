// The module inside an existing image, read only where its bytes are on disk anyway (a layout, a copy across
// registries): the raw layer of the oci and wasm variants, or plugin.wasm unpacked from the compat layer.
import { createReadStream, createWriteStream } from 'node:fs';
import { basename, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Writable } from 'node:stream';
import { nodeZlib } from '../deferred-builtins.js';
import { HashCounter } from '../image/digest.js';
import { FileName, MAX_MODULE_BYTES } from '../image/mediatypes.js';
import type { Digest, Image } from '../image/types.js';
import { inspectModuleFile, type ModuleInfo } from '../wasm/inspect.js';
import { manifestVariant } from './manifest.js';

export interface ModuleFacts {
  wasm: { digest: Digest; size: number };
  module: ModuleInfo;
}

/** The module facts as JSON shows them (the `metadata` output, `wasm-image inspect`); null when unknown. */
export function moduleSummary(facts: ModuleFacts | undefined) {
  if (!facts) return null;
  const { kind, proxyAbi, imports, exports } = facts.module;
  return { ...facts.wasm, kind, proxyAbi, imports, exports };
}

/**
 * Unpacks the first entry named plugin.wasm (what consumers take) from a compat layer into `target`, hashing
 * it on the way; undefined when there is none.
 */
async function unpackPlugin(layerPath: string, target: string): Promise<ModuleFacts['wasm'] | undefined> {
  let found = false;
  // tar-stream only for a compat image read back: a push that builds its image never needs it.
  const { extract } = await import('tar-stream');
  const counter = new HashCounter();
  const tar = extract();
  tar.on('entry', (header, stream, next) => {
    const mine = !found && header.type === 'file' && basename(header.name) === FileName.compatModule;
    if (!mine || (header.size ?? 0) > MAX_MODULE_BYTES) {
      stream.on('end', next);
      stream.resume();
      return;
    }
    found = true;
    pipeline(stream, counter, createWriteStream(target)).then(() => next(), next);
  });
  await pipeline(createReadStream(layerPath), nodeZlib().createGunzip(), tar as unknown as Writable);
  return found ? { digest: counter.digest(), size: counter.bytes } : undefined;
}

/**
 * Module digest, size and inspection, when the image's module layer is a file here; undefined otherwise.
 * Every source checks a layer file against its descriptor before this (layout read, download), so a raw
 * module's digest is its layer's and the file is not read again to hash it.
 */
export async function moduleFacts(image: Image, workDir: string): Promise<ModuleFacts | undefined> {
  const { module } = manifestVariant(image.manifest);
  const layer = image.layers.find((l) => l.descriptor.digest === module.digest);
  if (layer?.source.kind !== 'file') return undefined;
  if (image.variant !== 'compat') {
    const { digest, size } = layer.descriptor;
    return { wasm: { digest, size }, module: await inspectModuleFile(layer.source.path) };
  }
  const path = join(workDir, FileName.compatModule);
  const wasm = await unpackPlugin(layer.source.path, path);
  return wasm && { wasm, module: await inspectModuleFile(path) };
}
