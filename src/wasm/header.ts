// The one check of a WebAssembly binary's 8-byte header (magic 00 61 73 6d, then a version), shared by the
// module reader, the input check and anything else that must tell a core module from a component.

export type ModuleKind = 'core' | 'component';

/** The binary is not a well-formed Wasm module or component; `offset` is where the problem was found. */
export class WasmFormatError extends Error {
  override name = 'WasmFormatError';
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(`${message} at byte offset ${offset}`);
  }
}

/** Bytes a header holds: the magic, then the version. */
export const WASM_HEADER_BYTES = 8;
const MAGIC = [0x00, 0x61, 0x73, 0x6d] as const;
const CORE_VERSION = [0x01, 0x00, 0x00, 0x00] as const;
/** Component-model preamble: version 0x000d, layer 1. */
const COMPONENT_VERSION = [0x0d, 0x00, 0x01, 0x00] as const;

/**
 * What the first bytes of a file say: a core module or a component, or the first problem and its offset.
 * `truncated`: fewer than 8 bytes (offset = the length, below 4 when even the magic is cut);
 * `magic`: a byte of the magic differs (offset = that byte); `version`: neither known version (offset 4).
 */
export type WasmHeader = { kind: ModuleKind } | { problem: 'truncated' | 'magic' | 'version'; offset: number };

/** Reads the header from `head`, the first bytes of a file (at least 8 when the file has them). */
export function readWasmHeader(head: Uint8Array): WasmHeader {
  for (let i = 0; i < MAGIC.length; i++) {
    if (i >= head.length) return { problem: 'truncated', offset: i };
    if (head[i] !== MAGIC[i]) return { problem: 'magic', offset: i };
  }
  if (head.length < WASM_HEADER_BYTES) return { problem: 'truncated', offset: head.length };
  const version = head.subarray(4, WASM_HEADER_BYTES);
  if (CORE_VERSION.every((b, i) => version[i] === b)) return { kind: 'core' };
  if (COMPONENT_VERSION.every((b, i) => version[i] === b)) return { kind: 'component' };
  return { problem: 'version', offset: 4 };
}

export function hex(bytes: ArrayLike<number>): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
}

/** The kind the header declares; a WasmFormatError naming the offset when it is not a Wasm header. */
export function wasmKind(head: Uint8Array): ModuleKind {
  const header = readWasmHeader(head);
  if ('kind' in header) return header.kind;
  const { problem, offset } = header;
  switch (problem) {
    case 'truncated':
      throw new WasmFormatError(
        offset < MAGIC.length
          ? 'truncated: a WebAssembly binary starts with 00 61 73 6d and holds at least 8 bytes'
          : 'truncated header: a WebAssembly binary holds at least 8 bytes',
        offset,
      );
    case 'magic':
      throw new WasmFormatError(`not a WebAssembly binary: it starts with ${hex(head.subarray(0, 4))}, not 00 61 73 6d`, offset);
    case 'version':
      throw new WasmFormatError(
        `unsupported WebAssembly version ${hex(head.subarray(4, 8))} (01 00 00 00 is a core module, 0d 00 01 00 a component)`,
        offset,
      );
  }
}
