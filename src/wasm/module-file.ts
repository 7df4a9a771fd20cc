// File-level checks of the module the user points at, the same rules Istio and Envoy Gateway apply on load.
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { InputError } from '../errors.js';
import { MAX_MODULE_BYTES } from '../image/mediatypes.js';
import { hex, readWasmHeader, WASM_HEADER_BYTES } from './header.js';

export interface ModuleFile {
  path: string;
  size: number;
  /** A core module (version 1) or a component (layer 1), read from the header. */
  kind: 'core' | 'component';
}

/**
 * Checks that `path` is a readable Wasm binary within the consumers' size cap: a core module, or with
 * `allowComponent` (the CNCF variant) also a component. Synchronous file calls: a stat and an 8-byte read
 * cost less than hops to libuv's threadpool and back, on the way to the first block compressed.
 */
export function checkModuleFile(path: string, allowComponent = false): Promise<ModuleFile> {
  return new Promise((resolve) => resolve(checkSync(path, allowComponent)));
}

function checkSync(path: string, allowComponent: boolean): ModuleFile {
  let info;
  try {
    info = statSync(path);
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
  const head = readHead(path);
  const header = readWasmHeader(head);
  if ('problem' in header) {
    throw new InputError(
      'wasm',
      header.problem === 'version'
        ? `${path} has an unsupported WebAssembly version (${hex(head.subarray(4, 8))}); Envoy loads core modules of version 1`
        : `${path} is not a WebAssembly binary (it must start with 00 61 73 6d and hold at least 8 bytes; found ${hex(head) || 'nothing'}); if it is .wat text, compile it with wat2wasm`,
    );
  }
  if (header.kind === 'component' && !allowComponent) {
    throw new InputError(
      'wasm',
      `${path} is a WebAssembly component, which Envoy and Istio cannot load; build a core module (e.g. --target wasm32-wasip1 without componentizing), or use variant: wasm for wasmtime-based runtimes`,
    );
  }
  return { path, size: info.size, kind: header.kind };
}

/** The file's first bytes: its header, or all of it when it is shorter. */
function readHead(path: string): Uint8Array {
  const head = new Uint8Array(WASM_HEADER_BYTES);
  const fd = openSync(path, 'r');
  try {
    return head.subarray(0, readSync(fd, head, 0, head.length, 0));
  } finally {
    closeSync(fd);
  }
}
