// File-level checks of the module the user points at, the same rules Istio and Envoy Gateway apply on load.
import { open, stat } from 'node:fs/promises';
import { InputError } from '../errors.js';
import { MAX_MODULE_BYTES } from '../image/mediatypes.js';

const MAGIC = [0x00, 0x61, 0x73, 0x6d];
const CORE_VERSION = [0x01, 0x00, 0x00, 0x00];

export interface ModuleFile {
  path: string;
  size: number;
  /** A core module (version 1) or a component (layer 1), read from the header. */
  kind: 'core' | 'component';
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
}

/**
 * Checks that `path` is a readable Wasm binary within the consumers' size cap: a core module, or with
 * `allowComponent` (the CNCF variant) also a component.
 */
export async function checkModuleFile(path: string, allowComponent = false): Promise<ModuleFile> {
  let info;
  try {
    info = await stat(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new InputError('wasm', `${path} does not exist; build the module first or fix the path`);
    throw new InputError('wasm', `cannot read ${path} (${code ?? String(err)})`);
  }
  if (info.isDirectory()) throw new InputError('wasm', `${path} is a directory; give the path of the .wasm file inside it`);
  if (!info.isFile()) throw new InputError('wasm', `${path} is not a regular file`);
  if (info.size > MAX_MODULE_BYTES) {
    throw new InputError(
      'wasm',
      `${path} is ${info.size} bytes, over the ${MAX_MODULE_BYTES}-byte limit Istio and Envoy Gateway load; strip debug sections (e.g. wasm-opt --strip-debug) or build in release mode`,
    );
  }
  const head = new Uint8Array(8);
  const fh = await open(path, 'r');
  let read: number;
  try {
    ({ bytesRead: read } = await fh.read(head, 0, 8, 0));
  } finally {
    await fh.close();
  }
  if (read < 8 || MAGIC.some((b, i) => head[i] !== b)) {
    throw new InputError(
      'wasm',
      `${path} is not a WebAssembly binary (it must start with 00 61 73 6d and hold at least 8 bytes; found ${hex(head.subarray(0, read)) || 'nothing'}); if it is .wat text, compile it with wat2wasm`,
    );
  }
  const component = head[4] === 0x0d && head[5] === 0x00 && head[6] === 0x01 && head[7] === 0x00;
  if (component && allowComponent) return { path, size: info.size, kind: 'component' };
  if (CORE_VERSION.some((b, i) => head[4 + i] !== b)) {
    throw new InputError(
      'wasm',
      component
        ? `${path} is a WebAssembly component, which Envoy and Istio cannot load; build a core module (e.g. --target wasm32-wasip1 without componentizing), or use variant: wasm for wasmtime-based runtimes`
        : `${path} has an unsupported WebAssembly version (${hex(head.subarray(4, 8))}); Envoy loads core modules of version 1`,
    );
  }
  return { path, size: info.size, kind: 'core' };
}
