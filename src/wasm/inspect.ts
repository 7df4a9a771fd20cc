// A small reader of a WebAssembly binary's structure: the header, every section header, the import and
// export sections of a core module, and the section headers of a component. Nothing is executed and no
// code or function bodies are decoded. Every malformed or truncated input ends in a WasmFormatError that
// names the byte offset of the problem; the parser never reads past the data it was given and every loop
// advances by at least one byte, so it cannot hang.
//
// One parser serves both entry points: it is a generator that asks its driver for byte ranges.
// `inspectModule` answers from a Uint8Array already in memory; `inspectModuleFile` answers with positioned
// reads from a file handle, so only the header, the section headers and the import and export sections
// of a large module are ever read.
import { open } from 'node:fs/promises';

export type ModuleKind = 'core' | 'component';
/** The proxy-wasm ABI a module declares by exporting a function `proxy_abi_version_<major>_<minor>_<patch>`. */
export type ProxyAbi = '0.1.0' | '0.2.0' | '0.2.1';

export interface SectionInfo {
  /** Section id: for a core module 0 (custom) to 13 (tag); for a component 0 (custom) to 12. */
  id: number;
  /** Byte offset of the section's payload (just after its id byte and size field). */
  offset: number;
  /** Payload size in bytes. */
  size: number;
}

export interface ModuleInfo {
  kind: ModuleKind;
  /** Size of the whole binary in bytes. */
  size: number;
  /**
   * Number of imports. Core module: the entry count of the import section, every entry decoded.
   * Component: the sum of the counts that start its top-level import sections (nested components and
   * core modules are not descended into).
   */
  imports: number;
  /** Number of exports, counted the same way as `imports`. */
  exports: number;
  /** Export names in section order (core modules only; empty for a component). */
  exportNames: string[];
  /**
   * The proxy-wasm ABI from an exported *function* named `proxy_abi_version_0_1_0`, `_0_2_0` or `_0_2_1`
   * (exports of other kinds are ignored, as proxy-wasm hosts ignore them). If several are exported, the
   * highest. Always null for a component.
   */
  proxyAbi: ProxyAbi | null;
  /** Every section in file order, custom sections included. */
  sections: SectionInfo[];
}

/** The binary is not a well-formed Wasm module or component; `offset` is where the problem is. */
export class WasmFormatError extends Error {
  override name = 'WasmFormatError';
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(`${message} at byte offset ${offset}`);
  }
}

const MAGIC = [0x00, 0x61, 0x73, 0x6d] as const;
const CORE_VERSION = [0x01, 0x00, 0x00, 0x00] as const;
/** Component-model header: version 0x000d, layer 1. */
const COMPONENT_VERSION = [0x0d, 0x00, 0x01, 0x00] as const;

const CORE_MAX_SECTION_ID = 13; // 12 data count, 13 tag (exception handling)
const COMPONENT_MAX_SECTION_ID = 12; // 10 import, 11 export, 12 value
const CORE_IMPORT = 2;
const CORE_EXPORT = 7;
const COMPONENT_IMPORT = 10;
const COMPONENT_EXPORT = 11;
/**
 * A defensive cap: real modules have a few dozen sections. Without it a file made of millions of empty
 * custom sections would build an enormous `sections` array.
 */
export const MAX_SECTIONS = 100_000;

const ABI_EXPORTS: ReadonlyMap<string, ProxyAbi> = new Map([
  ['proxy_abi_version_0_1_0', '0.1.0'],
  ['proxy_abi_version_0_2_0', '0.2.0'],
  ['proxy_abi_version_0_2_1', '0.2.1'],
]);
const ABI_ORDER: readonly ProxyAbi[] = ['0.1.0', '0.2.0', '0.2.1'];

const EXTERNAL_KINDS = ['func', 'table', 'memory', 'global', 'tag'] as const;
const SECTION_NAMES = [
  'custom', 'type', 'import', 'function', 'table', 'memory', 'global', 'export', 'start', 'element', 'code',
  'data', 'data count', 'tag',
];

/** A request from the parser: the bytes [at, at + length), clipped by the driver to the end of the data. */
interface Need {
  at: number;
  length: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function hex(bytes: ArrayLike<number>): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
}

/**
 * Reads values from `buf`, whose first byte is at file offset `base`, never past `end` (an index into
 * `buf`). `where` describes the enclosing region for messages ("the export section", ...).
 */
class Cursor {
  pos = 0;
  constructor(
    private readonly buf: Uint8Array,
    private readonly base: number,
    private readonly end: number,
    private readonly where: string,
  ) {}

  /** File offset of the next byte. */
  get offset(): number {
    return this.base + this.pos;
  }

  get atEnd(): boolean {
    return this.pos >= this.end;
  }

  fail(message: string, at = this.offset): never {
    throw new WasmFormatError(message, at);
  }

  private truncated(what: string): never {
    this.fail(`${what} runs past the end of ${this.where}`);
  }

  byte(what: string): number {
    if (this.pos >= this.end) this.truncated(what);
    return this.buf[this.pos++] as number;
  }

  /** An unsigned LEB128 of at most `bits` bits (32 or 64), padded to at most ceil(bits / 7) bytes. */
  private uleb(what: string, bits: 32 | 64): number | bigint {
    const start = this.offset;
    const maxBytes = Math.ceil(bits / 7);
    let result = 0n;
    for (let i = 0; i < maxBytes; i++) {
      const b = this.byte(what);
      if (i === maxBytes - 1) {
        if (b & 0x80) this.fail(`${what}: LEB128 longer than ${maxBytes} bytes`, start);
        // The unused high bits of the last byte must be zero.
        const used = bits - 7 * i;
        if (b >> used !== 0) this.fail(`${what}: LEB128 value does not fit in ${bits} bits`, start);
      }
      result |= BigInt(b & 0x7f) << BigInt(7 * i);
      if ((b & 0x80) === 0) return bits === 32 ? Number(result) : result;
    }
    /* c8 ignore next */
    return this.fail(`${what}: LEB128 longer than ${maxBytes} bytes`, start);
  }

  u32(what: string): number {
    return this.uleb(what, 32) as number;
  }

  u64(what: string): bigint {
    return this.uleb(what, 64) as bigint;
  }

  /** A signed 33-bit LEB128 (a heap type or block type), at most 5 bytes. */
  s33(what: string): number {
    const start = this.offset;
    let result = 0;
    for (let i = 0; i < 5; i++) {
      const b = this.byte(what);
      if (i === 4) {
        if (b & 0x80) this.fail(`${what}: LEB128 longer than 5 bytes`, start);
        // Bits 33 and 34 (byte bits 5 and 6) must repeat the sign bit 32 (byte bit 4).
        const top = b & 0x70;
        if (top !== 0 && top !== 0x70) this.fail(`${what}: LEB128 value does not fit in 33 bits`, start);
      }
      result += (b & 0x7f) * 2 ** (7 * i);
      if ((b & 0x80) === 0) {
        const width = 7 * (i + 1);
        return b & 0x40 ? result - 2 ** Math.min(width, 35) : result;
      }
    }
    /* c8 ignore next */
    return this.fail(`${what}: LEB128 longer than 5 bytes`, start);
  }

  skip(n: number, what: string): void {
    if (n > this.end - this.pos) this.truncated(what);
    this.pos += n;
  }

  /** A name: a u32 byte length, then that many bytes of valid UTF-8. */
  name(what: string): string {
    const len = this.u32(`${what} length`);
    const at = this.offset;
    if (len > this.end - this.pos) this.truncated(what);
    const raw = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    try {
      return utf8.decode(raw);
    } catch {
      return this.fail(`${what} is not valid UTF-8`, at);
    }
  }
}

/** A value type: number, vector or reference type. */
function skipValType(c: Cursor, what: string): void {
  const at = c.offset;
  const t = c.byte(what);
  if (t >= 0x7b && t <= 0x7f) return; // v128 f64 f32 i64 i32
  if (!skipRefTypeAfter(c, t, what)) c.fail(`${what}: unknown value type 0x${hex([t])}`, at);
}

/**
 * Finishes a reference type whose first byte `t` was read: the short forms of the abstract heap types
 * (funcref 0x70, externref 0x6f, and the GC / exception-handling ones 0x69..0x74), or `ref` / `ref null`
 * (0x64 / 0x63) followed by a heap type. Returns false when `t` starts no reference type.
 */
function skipRefTypeAfter(c: Cursor, t: number, what: string): boolean {
  if (t >= 0x69 && t <= 0x74 && t !== 0x6f + 0 - 0 && t !== 0x70) return true; // GC/EH abstract shorthands
  if (t === 0x6f || t === 0x70) return true;
  if (t === 0x63 || t === 0x64) {
    const at = c.offset;
    const heap = c.s33(`${what} heap type`);
    // A heap type is a type index (>= 0) or an abstract heap type, encoded as a negative one-byte value.
    if (heap < 0 && (heap < -0x40 || heap > -1)) c.fail(`${what}: invalid heap type`, at);
    return true;
  }
  return false;
}

function skipRefType(c: Cursor, what: string): void {
  const at = c.offset;
  const t = c.byte(what);
  if (!skipRefTypeAfter(c, t, what)) c.fail(`${what}: unknown reference type 0x${hex([t])}`, at);
}

/**
 * Limits of a table or memory. Flags: bit 0 a maximum follows, bit 1 shared (threads), bit 2 64-bit
 * (memory64 / table64) so the bounds are u64; 0..7 are accepted.
 */
function skipLimits(c: Cursor, what: string): void {
  const at = c.offset;
  const flags = c.byte(`${what} limits flags`);
  if (flags > 7) c.fail(`${what}: invalid limits flags 0x${hex([flags])} (0x00..0x07 are defined)`, at);
  const wide = (flags & 0x04) !== 0;
  const read = (part: string) => (wide ? c.u64(`${what} ${part}`) : c.u32(`${what} ${part}`));
  read('minimum');
  if (flags & 0x01) read('maximum');
}

function skipImportDesc(c: Cursor, what: string): void {
  const at = c.offset;
  const kind = c.byte(`${what} kind`);
  switch (kind) {
    case 0x00: // func: type index
      c.u32(`${what} type index`);
      return;
    case 0x01: // table: reference type + limits
      skipRefType(c, `${what} table element type`);
      skipLimits(c, `${what} table`);
      return;
    case 0x02: // memory: limits
      skipLimits(c, `${what} memory`);
      return;
    case 0x03: {
      // global: value type + mutability
      skipValType(c, `${what} global type`);
      const mutAt = c.offset;
      const mut = c.byte(`${what} global mutability`);
      if (mut > 1) c.fail(`${what}: invalid global mutability 0x${hex([mut])}`, mutAt);
      return;
    }
    case 0x04: {
      // tag: attribute (0 = exception) + type index
      const attrAt = c.offset;
      const attr = c.byte(`${what} tag attribute`);
      if (attr !== 0) c.fail(`${what}: invalid tag attribute 0x${hex([attr])}`, attrAt);
      c.u32(`${what} type index`);
      return;
    }
    default:
      c.fail(`${what}: unknown import kind 0x${hex([kind])}`, at);
  }
}

function parseImports(c: Cursor): number {
  const count = c.u32('import count');
  for (let i = 0; i < count; i++) {
    const what = `import ${i}`;
    c.name(`${what} module name`);
    c.name(`${what} field name`);
    skipImportDesc(c, what);
  }
  return count;
}

function parseExports(c: Cursor): { names: string[]; abi: ProxyAbi | null } {
  const count = c.u32('export count');
  const names: string[] = [];
  let abi: ProxyAbi | null = null;
  for (let i = 0; i < count; i++) {
    const what = `export ${i}`;
    const name = c.name(`${what} name`);
    const kindAt = c.offset;
    const kind = c.byte(`${what} kind`);
    if (kind >= EXTERNAL_KINDS.length) c.fail(`${what} ("${name}"): unknown export kind 0x${hex([kind])}`, kindAt);
    c.u32(`${what} index`);
    names.push(name);
    const declared = kind === 0 ? ABI_EXPORTS.get(name) : undefined;
    if (declared && (abi === null || ABI_ORDER.indexOf(declared) > ABI_ORDER.indexOf(abi))) abi = declared;
  }
  return { names, abi };
}

function sectionLabel(kind: ModuleKind, id: number): string {
  return kind === 'core' ? `${SECTION_NAMES[id] ?? 'unknown'} section (id ${id})` : `component section (id ${id})`;
}

/** Checks that a sub-parser consumed its section exactly. */
function expectEnd(c: Cursor, label: string): void {
  if (!c.atEnd) c.fail(`unexpected bytes after the last entry of the ${label}`);
}

function* parse(size: number): Generator<Need, ModuleInfo, Uint8Array> {
  const head = yield { at: 0, length: 8 };
  for (let i = 0; i < 4; i++) {
    if (i >= head.length) {
      throw new WasmFormatError('truncated: a WebAssembly binary starts with 00 61 73 6d and holds at least 8 bytes', head.length);
    }
    if (head[i] !== MAGIC[i]) {
      throw new WasmFormatError(`not a WebAssembly binary: it starts with ${hex(head.subarray(0, 4))}, not 00 61 73 6d`, i);
    }
  }
  if (head.length < 8) {
    throw new WasmFormatError('truncated header: a WebAssembly binary holds at least 8 bytes', head.length);
  }
  const version = head.subarray(4, 8);
  let kind: ModuleKind;
  if (CORE_VERSION.every((b, i) => version[i] === b)) kind = 'core';
  else if (COMPONENT_VERSION.every((b, i) => version[i] === b)) kind = 'component';
  else {
    throw new WasmFormatError(
      `unsupported WebAssembly version ${hex(version)} (01 00 00 00 is a core module, 0d 00 01 00 a component)`,
      4,
    );
  }

  const maxId = kind === 'core' ? CORE_MAX_SECTION_ID : COMPONENT_MAX_SECTION_ID;
  const sections: SectionInfo[] = [];
  const seen = new Set<number>();
  let imports = 0;
  let exports = 0;
  let exportNames: string[] = [];
  let proxyAbi: ProxyAbi | null = null;

  let pos = 8;
  while (pos < size) {
    if (sections.length >= MAX_SECTIONS) {
      throw new WasmFormatError(`more than ${MAX_SECTIONS} sections`, pos);
    }
    // The id byte and up to 5 bytes of size.
    const header = yield { at: pos, length: 6 };
    const hc = new Cursor(header, pos, header.length, 'the file');
    const id = hc.byte('section id');
    if (id > maxId) hc.fail(`unknown section id ${id}`, pos);
    const sizeAt = hc.offset;
    const payloadSize = hc.u32(`${sectionLabel(kind, id)} size`);
    const start = hc.offset;
    if (payloadSize > size - start) {
      throw new WasmFormatError(
        `${sectionLabel(kind, id)} declares ${payloadSize} bytes but only ${size - start} remain in the file`,
        sizeAt,
      );
    }
    if (kind === 'core' && id !== 0) {
      if (seen.has(id)) throw new WasmFormatError(`duplicate ${sectionLabel(kind, id)}`, pos);
      seen.add(id);
    }
    sections.push({ id, offset: start, size: payloadSize });

    if (kind === 'core' && (id === CORE_IMPORT || id === CORE_EXPORT)) {
      const body = yield { at: start, length: payloadSize };
      const label = sectionLabel(kind, id);
      const c = new Cursor(body, start, payloadSize, `the ${label}`);
      if (id === CORE_IMPORT) {
        imports = parseImports(c);
      } else {
        const parsed = parseExports(c);
        exports = parsed.names.length;
        exportNames = parsed.names;
        proxyAbi = parsed.abi;
      }
      expectEnd(c, label);
    } else if (kind === 'component' && (id === COMPONENT_IMPORT || id === COMPONENT_EXPORT)) {
      // Only the leading vector count; the entries themselves are not decoded.
      const body = yield { at: start, length: Math.min(payloadSize, 5) };
      const c = new Cursor(body, start, body.length, `the ${sectionLabel(kind, id)}`);
      const count = c.u32(id === COMPONENT_IMPORT ? 'import count' : 'export count');
      if (id === COMPONENT_IMPORT) imports += count;
      else exports += count;
    }
    pos = start + payloadSize;
  }

  return { kind, size, imports, exports, exportNames, proxyAbi, sections };
}

/** Parses the structure of a Wasm binary held in memory. Throws WasmFormatError when it is malformed. */
export function inspectModule(bytes: Uint8Array): ModuleInfo {
  const gen = parse(bytes.length);
  let step = gen.next();
  while (!step.done) {
    const { at, length } = step.value;
    step = gen.next(bytes.subarray(at, Math.min(at + length, bytes.length)));
  }
  return step.value;
}

/** Bytes read around each small request, so consecutive section headers cost one read. */
const WINDOW = 64 * 1024;

/**
 * Parses the structure of the Wasm binary at `path` without loading it whole: the header and section
 * headers come from positioned reads through a 64 KiB window, and only the import and export sections
 * are read in full. File-system errors (ENOENT, EISDIR, ...) propagate unchanged.
 */
export async function inspectModuleFile(path: string): Promise<ModuleInfo> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    let window = new Uint8Array(0);
    let windowAt = 0;

    const readAt = async (at: number, length: number): Promise<Uint8Array> => {
      const want = Math.max(0, Math.min(length, size - at));
      if (at >= windowAt && at + want <= windowAt + window.length) {
        return window.subarray(at - windowAt, at - windowAt + want);
      }
      const small = want <= WINDOW / 4;
      const buf = new Uint8Array(small ? Math.min(WINDOW, size - at) : want);
      let filled = 0;
      while (filled < buf.length) {
        const { bytesRead } = await fh.read(buf, filled, buf.length - filled, at + filled);
        if (bytesRead === 0) break; // the file shrank under us; the parser sees a truncation
        filled += bytesRead;
      }
      const got = buf.subarray(0, filled);
      if (small) {
        window = got;
        windowAt = at;
      }
      return got.subarray(0, Math.min(want, filled));
    };

    const gen = parse(size);
    let step = gen.next();
    while (!step.done) {
      const { at, length } = step.value;
      step = gen.next(await readAt(at, length));
    }
    return step.value;
  } finally {
    await fh.close();
  }
}
