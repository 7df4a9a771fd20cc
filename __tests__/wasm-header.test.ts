// The one Wasm header check, which the module reader and the `wasm` input check both use.
import { describe, expect, it } from 'vitest';
import { readWasmHeader, wasmKind, WasmFormatError, type WasmHeader } from '../src/wasm/header.js';

const MAGIC = [0x00, 0x61, 0x73, 0x6d];

describe('readWasmHeader', () => {
  it.each<[string, number[], WasmHeader]>([
    ['a core module', [...MAGIC, 1, 0, 0, 0], { kind: 'core' }],
    ['a component (layer 1)', [...MAGIC, 0x0d, 0, 1, 0], { kind: 'component' }],
    ['a core module with more bytes after the header', [...MAGIC, 1, 0, 0, 0, 0, 3, 1, 0x61], { kind: 'core' }],
    ['nothing', [], { problem: 'truncated', offset: 0 }],
    ['half the magic', [0x00, 0x61], { problem: 'truncated', offset: 2 }],
    ['the magic alone', MAGIC, { problem: 'truncated', offset: 4 }],
    ['seven bytes', [...MAGIC, 1, 0, 0], { problem: 'truncated', offset: 7 }],
    ['text', [...Buffer.from('(module)')], { problem: 'magic', offset: 0 }],
    ['a wrong fourth byte, even when short', [0x00, 0x61, 0x73], { problem: 'truncated', offset: 3 }],
    ['a wrong fourth byte', [0x00, 0x61, 0x73, 0x6e, 1, 0, 0, 0], { problem: 'magic', offset: 3 }],
    ['version 2', [...MAGIC, 2, 0, 0, 0], { problem: 'version', offset: 4 }],
    ['component layer 2', [...MAGIC, 0x0d, 0, 2, 0], { problem: 'version', offset: 4 }],
  ])('%s', (_name, bytes, expected) => {
    expect(readWasmHeader(Uint8Array.from(bytes))).toEqual(expected);
  });

  it('wasmKind names the problem and its offset', () => {
    expect(wasmKind(Uint8Array.from([...MAGIC, 0x0d, 0, 1, 0]))).toBe('component');
    const cases: Array<[number[], RegExp]> = [
      [[0x00, 0x61], /^truncated: a WebAssembly binary starts with 00 61 73 6d .* at byte offset 2$/],
      [[...MAGIC, 1], /^truncated header: a WebAssembly binary holds at least 8 bytes at byte offset 5$/],
      [[0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0], /^not a WebAssembly binary: it starts with 7f 45 4c 46, not 00 61 73 6d at byte offset 0$/],
      [[...MAGIC, 2, 0, 0, 0], /^unsupported WebAssembly version 02 00 00 00 .* at byte offset 4$/],
    ];
    for (const [bytes, message] of cases) {
      const err = (() => {
        try {
          return wasmKind(Uint8Array.from(bytes));
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(WasmFormatError);
      expect((err as Error).message).toMatch(message);
    }
  });
});
