// A small reader of a WebAssembly binary's structure: the header, every section header, the import and
// export sections of a core module, and the section headers of a component. Nothing is executed and no
// function bodies are decoded. Malformed or truncated input always ends in a WasmFormatError naming the
// byte offset of the problem: the parser never indexes past the bytes it was given, never allocates from a
// count it read, and every loop consumes at least one byte per turn, so it cannot hang.
//
// One parser serves both entry points. It is a generator that asks its driver for byte ranges:
// `inspectModule` answers from a Uint8Array already in memory, `inspectModuleFile` with positioned reads
// from a file handle, so of a large module only the header, the section headers, the first bytes of a few
// sections and the import and export sections are ever read.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { hex, wasmKind, WasmFormatError, type ModuleKind } from './header.js';

export { WasmFormatError, type ModuleKind };
/** The proxy-wasm ABI a module declares by exporting a function `proxy_abi_version_<major>_<minor>_<patch>`. */
export type ProxyAbi = '0.1.0' | '0.2.0' | '0.2.1';

interface SectionInfo {
  /** Section id. Core module: 0 (custom) to 13 (tag). Component: 0 (custom) to 12. */
  id: number;
  /** Byte offset of the section's payload, just after its id byte and size field. */
  offset: number;
  /** Payload size in bytes; the section ends at `offset + size`. */
  size: number;
}

export interface ModuleInfo {
  kind: ModuleKind;
  /** Size of the whole binary in bytes. */
  size: number;
  /**
   * Number of imports. Core module: the import section's entry count, every entry decoded and checked.
   * Component: the sum of the counts that open its top-level import sections; the entries are not
   * decoded, and nested components and core modules are not descended into.
   */
  imports: number;
  /** Number of exports, counted as `imports` is. */
  exports: number;
  /** Export names in section order. Core modules only: always empty for a component. */
  exportNames: string[];
  /**
   * The proxy-wasm ABI from an exported function named `proxy_abi_version_0_1_0`, `_0_2_0` or `_0_2_1`
   * (an export of another kind with such a name does not count; proxy-wasm hosts ignore those too). When
   * several are exported, the highest. Always null for a component.
   */
  proxyAbi: ProxyAbi | null;
  /** Every section in file order, custom sections included. */
  sections: SectionInfo[];
}

/**
 * A defensive cap on the number of sections. Real modules have a few dozen; without a cap a file made of
 * millions of tiny custom sections would build an enormous `sections` array.
 */
const MAX_SECTIONS = 100_000;

/** Core section ids. */
const Core = { Custom: 0, Import: 2, Function: 3, Export: 7, Code: 10, Data: 11, DataCount: 12, Tag: 13 } as const;
/** Component section ids: 0 custom ... 10 import, 11 export, 12 value. */
const COMPONENT_IMPORT = 10;
const COMPONENT_EXPORT = 11;
const COMPONENT_MAX_ID = 12;

const CORE_SECTION_NAMES = [
  'custom',
  'type',
  'import',
  'function',
  'table',
  'memory',
  'global',
  'export',
  'start',
  'element',
  'code',
  'data',
  'data count',
  'tag',
];
const EXPORT_KINDS = 5; // func, table, memory, global, tag

const ABI_EXPORTS: ReadonlyMap<string, ProxyAbi> = new Map([
  ['proxy_abi_version_0_1_0', '0.1.0'],
  ['proxy_abi_version_0_2_0', '0.2.0'],
  ['proxy_abi_version_0_2_1', '0.2.1'],
]);
const ABI_ORDER: readonly ProxyAbi[] = ['0.1.0', '0.2.0', '0.2.1'];

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Reads values from `buf`, whose first byte sits at file offset `base`, never at or past index `end`.
 * `region` names what `end` is the end of, for messages ("the export section", "the file").
 */
class Cursor {
  pos = 0;
  constructor(
    private readonly buf: Uint8Array,
    private readonly base: number,
    private readonly end: number,
    private readonly region: string,
  ) {}

  /** File offset of the next byte. */
  get offset(): number {
    return this.base + this.pos;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  fail(message: string, at = this.offset): never {
    throw new WasmFormatError(message, at);
  }

  private truncated(what: string): never {
    return this.fail(`${what} runs past the end of ${this.region}`);
  }

  byte(what: string): number {
    if (this.pos >= this.end) this.truncated(what);
    return this.buf[this.pos++];
  }

  /**
   * An unsigned LEB128 of 32 bits: at most 5 bytes (padding with 0x80 is allowed, as in the spec), and the
   * fifth byte may carry only the top 4 bits of the value.
   */
  u32(what: string): number {
    const at = this.offset;
    let value = 0;
    for (let i = 0; i < 5; i++) {
      const b = this.byte(what);
      if (i === 4 && b > 0x0f) {
        this.fail(b & 0x80 ? `${what}: LEB128 longer than 5 bytes` : `${what}: LEB128 value does not fit in 32 bits`, at);
      }
      value += (b & 0x7f) * 2 ** (7 * i);
      if ((b & 0x80) === 0) return value;
    }
    /* c8 ignore next */
    return this.fail(`${what}: LEB128 longer than 5 bytes`, at);
  }

  /** Steps over an unsigned LEB128 of 64 bits: at most 10 bytes, the tenth holding only bit 63. */
  skipU64(what: string): void {
    const at = this.offset;
    for (let i = 0; i < 10; i++) {
      const b = this.byte(what);
      if (i === 9 && b > 0x01) {
        this.fail(b & 0x80 ? `${what}: LEB128 longer than 10 bytes` : `${what}: LEB128 value does not fit in 64 bits`, at);
      }
      if ((b & 0x80) === 0) return;
    }
  }

  /**
   * A signed 33-bit LEB128 (a heap type): at most 5 bytes, and in the fifth the bits above bit 32 must
   * repeat the sign.
   */
  s33(what: string): number {
    const at = this.offset;
    let value = 0;
    for (let i = 0; i < 5; i++) {
      const b = this.byte(what);
      if (i === 4) {
        if (b & 0x80) this.fail(`${what}: LEB128 longer than 5 bytes`, at);
        const high = b & 0x70;
        if (high !== 0x00 && high !== 0x70) this.fail(`${what}: LEB128 value does not fit in 33 bits`, at);
      }
      value += (b & 0x7f) * 2 ** (7 * i);
      if ((b & 0x80) === 0) return b & 0x40 ? value - 2 ** (7 * (i + 1)) : value;
    }
    /* c8 ignore next */
    return this.fail(`${what}: LEB128 longer than 5 bytes`, at);
  }

  /** A name: a u32 byte length, then that many bytes of valid UTF-8. */
  name(what: string): string {
    const length = this.u32(`${what} length`);
    const at = this.offset;
    if (length > this.remaining) this.truncated(what);
    const raw = this.buf.subarray(this.pos, this.pos + length);
    this.pos += length;
    try {
      return utf8.decode(raw);
    } catch {
      return this.fail(`${what} is not valid UTF-8`, at);
    }
  }
}

/**
 * Finishes a reference type whose first byte `t` was read: the one-byte abstract forms (funcref 0x70,
 * externref 0x6f, and the GC and exception-handling ones 0x69..0x74), or `ref` / `ref null` (0x64 / 0x63)
 * followed by a heap type. Returns false when `t` begins no reference type.
 */
function finishRefType(c: Cursor, t: number, what: string): boolean {
  if (t >= 0x69 && t <= 0x74) return true;
  if (t !== 0x63 && t !== 0x64) return false;
  const at = c.offset;
  const heap = c.s33(`${what} heap type`);
  // A type index (>= 0), or an abstract heap type: a negative value that fits in one byte.
  if (heap < -0x40) c.fail(`${what}: invalid heap type`, at);
  return true;
}

function skipRefType(c: Cursor, what: string): void {
  const at = c.offset;
  const t = c.byte(what);
  if (!finishRefType(c, t, what)) c.fail(`${what}: unknown reference type 0x${hex([t])}`, at);
}

function skipValType(c: Cursor, what: string): void {
  const at = c.offset;
  const t = c.byte(what);
  if (t >= 0x7b && t <= 0x7f) return; // v128, f64, f32, i64, i32
  if (!finishRefType(c, t, what)) c.fail(`${what}: unknown value type 0x${hex([t])}`, at);
}

/**
 * Limits of a table or memory. Flags 0x00..0x07: bit 0 a maximum follows, bit 1 shared (threads), bit 2
 * 64-bit bounds (memory64 / table64), whose minimum and maximum are then u64.
 */
function skipLimits(c: Cursor, what: string): void {
  const at = c.offset;
  const flags = c.byte(`${what} limits flags`);
  if (flags > 0x07) c.fail(`${what}: invalid limits flags 0x${hex([flags])}`, at);
  const bound = (part: string) => (flags & 0x04 ? c.skipU64(`${what} ${part}`) : c.u32(`${what} ${part}`));
  bound('minimum');
  if (flags & 0x01) bound('maximum');
}

function skipImportDescriptor(c: Cursor, what: string): void {
  const at = c.offset;
  const kind = c.byte(`${what} kind`);
  switch (kind) {
    case 0x00: // function: a type index
      c.u32(`${what} type index`);
      return;
    case 0x01: // table: element reference type, then limits
      skipRefType(c, `${what} table element type`);
      skipLimits(c, `${what} table`);
      return;
    case 0x02: // memory: limits
      skipLimits(c, `${what} memory`);
      return;
    case 0x03: {
      // global: value type, then mutability
      skipValType(c, `${what} global type`);
      const mutAt = c.offset;
      const mutability = c.byte(`${what} global mutability`);
      if (mutability > 1) c.fail(`${what}: invalid global mutability 0x${hex([mutability])}`, mutAt);
      return;
    }
    case 0x04: {
      // tag: attribute 0 (exception), then a type index
      const attrAt = c.offset;
      const attribute = c.byte(`${what} tag attribute`);
      if (attribute !== 0) c.fail(`${what}: invalid tag attribute 0x${hex([attribute])}`, attrAt);
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
    c.name(`import ${i} module name`);
    c.name(`import ${i} field name`);
    skipImportDescriptor(c, `import ${i}`);
  }
  return count;
}

function parseExports(c: Cursor): { names: string[]; proxyAbi: ProxyAbi | null } {
  const count = c.u32('export count');
  const names: string[] = [];
  let proxyAbi: ProxyAbi | null = null;
  for (let i = 0; i < count; i++) {
    const name = c.name(`export ${i} name`);
    const kindAt = c.offset;
    const kind = c.byte(`export ${i} kind`);
    if (kind >= EXPORT_KINDS) c.fail(`export ${i} (${JSON.stringify(name)}): unknown export kind 0x${hex([kind])}`, kindAt);
    c.u32(`export ${i} index`);
    names.push(name);
    const abi = kind === 0 ? ABI_EXPORTS.get(name) : undefined;
    if (abi && (proxyAbi === null || ABI_ORDER.indexOf(abi) > ABI_ORDER.indexOf(proxyAbi))) proxyAbi = abi;
  }
  return { names, proxyAbi };
}

function label(kind: ModuleKind, id: number): string {
  return kind === 'core' ? `${CORE_SECTION_NAMES[id] ?? 'unknown'} section (id ${id})` : `component section ${id}`;
}

/** A byte range the parser asks its driver for; the answer holds at most `length` bytes from `at`. */
interface Need {
  at: number;
  length: number;
}
/** A step of the parser: it yields the ranges it needs and is resumed with their bytes. */
type Reader<T> = Generator<Need, T, Uint8Array>;

/** A leading count of a core section and where its section starts. */
interface Count {
  count: number;
  at: number;
}
/** Counts that must agree in a core module; a cut at a section boundary usually breaks them. */
interface CoreCounts {
  functions?: Count;
  bodies?: Count;
  dataCount?: Count;
  dataSegments?: Count;
}
/** The core sections of which only the leading count is read, and where it is kept. */
const COUNTED: ReadonlyMap<number, keyof CoreCounts> = new Map([
  [Core.Function, 'functions'],
  [Core.Code, 'bodies'],
  [Core.Data, 'dataSegments'],
  [Core.DataCount, 'dataCount'],
]);

/** What the sections add up to, as they are read. */
interface Tally {
  imports: number;
  exports: number;
  exportNames: string[];
  proxyAbi: ProxyAbi | null;
  counts: CoreCounts;
}

function* parse(size: number): Reader<ModuleInfo> {
  const kind = wasmKind(yield { at: 0, length: 8 });
  const sections: SectionInfo[] = [];
  const seen = new Set<number>();
  const tally: Tally = { imports: 0, exports: 0, exportNames: [], proxyAbi: null, counts: {} };
  let pos = 8;
  while (pos < size) {
    if (sections.length >= MAX_SECTIONS) throw new WasmFormatError(`more than ${MAX_SECTIONS} sections`, pos);
    // The id byte and at most 5 bytes of size.
    const section = readSectionHeader(kind, size, pos, yield { at: pos, length: 6 });
    if (kind === 'core' && section.id !== Core.Custom) {
      if (seen.has(section.id)) throw new WasmFormatError(`a second ${label(kind, section.id)}`, pos);
      seen.add(section.id);
    }
    sections.push(section);
    yield* readSection(kind, section, tally);
    pos = section.offset + section.size;
  }
  if (kind === 'core') checkCoreCounts(tally.counts, size);
  const { imports, exports, exportNames, proxyAbi } = tally;
  return { kind, size, imports, exports, exportNames, proxyAbi, sections };
}

/** The id and payload of the section whose header starts at `pos`; `header` holds its first bytes. */
function readSectionHeader(kind: ModuleKind, size: number, pos: number, header: Uint8Array): SectionInfo {
  const hc = new Cursor(header, pos, header.length, 'the file');
  const id = hc.byte('section id');
  const maxId = kind === 'core' ? Core.Tag : COMPONENT_MAX_ID;
  if (id > maxId) hc.fail(`unknown section id ${id}`, pos);
  const sizeAt = hc.offset;
  const payload = hc.u32(`${label(kind, id)} size`);
  const start = hc.offset;
  if (payload > size - start) {
    throw new WasmFormatError(`${label(kind, id)} declares ${payload} bytes but only ${size - start} remain in the file`, sizeAt);
  }
  return { id, offset: start, size: payload };
}

/** Reads what the module's summary needs from one section's payload; other sections are skipped unread. */
function* readSection(kind: ModuleKind, section: SectionInfo, tally: Tally): Reader<void> {
  const { id } = section;
  const region = `the ${label(kind, id)}`;
  if (id === Core.Custom) {
    // Custom sections (the same in both layers) start with a name; the rest is opaque.
    const c = yield* opening(section, region);
    const nameLength = c.u32('custom section name length');
    if (nameLength > section.size - c.pos) c.fail(`custom section name runs past the end of ${region}`);
  } else if (kind === 'component') {
    if (id === COMPONENT_IMPORT || id === COMPONENT_EXPORT) yield* readComponentCount(section, region, tally);
  } else if (id === Core.Import || id === Core.Export) {
    yield* readCoreEntries(section, region, tally);
  } else {
    const key = COUNTED.get(id);
    if (key) tally.counts[key] = yield* readCoreCount(section, region);
  }
}

/** A cursor over the first bytes of a section: enough for a leading LEB128 count or name length. */
function* opening(section: SectionInfo, region: string): Reader<Cursor> {
  const bytes = yield { at: section.offset, length: Math.min(section.size, 5) };
  return new Cursor(bytes, section.offset, bytes.length, region);
}

/** A core import or export section, read whole and every entry decoded. */
function* readCoreEntries(section: SectionInfo, region: string, tally: Tally): Reader<void> {
  const body = yield { at: section.offset, length: section.size };
  const c = new Cursor(body, section.offset, section.size, region);
  if (section.id === Core.Import) {
    tally.imports = parseImports(c);
  } else {
    const parsed = parseExports(c);
    tally.exportNames = parsed.names;
    tally.exports = parsed.names.length;
    tally.proxyAbi = parsed.proxyAbi;
  }
  if (c.remaining > 0) c.fail(`unexpected bytes after the last entry of ${region}`);
}

/** Only the leading count of a function, code or data section (a data count section is nothing else). */
function* readCoreCount(section: SectionInfo, region: string): Reader<Count> {
  const isDataCount = section.id === Core.DataCount;
  const c = yield* opening(section, region);
  const count = { count: c.u32(isDataCount ? 'data count' : 'entry count'), at: section.offset };
  if (isDataCount && c.pos !== section.size) c.fail(`unexpected bytes after the count in ${region}`);
  return count;
}

/** Only the leading vector count of a component's import or export section; the entries are not decoded. */
function* readComponentCount(section: SectionInfo, region: string, tally: Tally): Reader<void> {
  const isImport = section.id === COMPONENT_IMPORT;
  const c = yield* opening(section, region);
  const count = c.u32(isImport ? 'import count' : 'export count');
  if (isImport) tally.imports += count;
  else tally.exports += count;
}

/** Function and code counts must agree, and the data count (when present) with the data section's. */
function checkCoreCounts(counts: CoreCounts, size: number): void {
  const { functions, bodies, dataCount, dataSegments } = counts;
  const declared = functions?.count ?? 0;
  const defined = bodies?.count ?? 0;
  if (declared !== defined) {
    throw new WasmFormatError(
      `the function section declares ${declared} functions but the code section holds ${defined} bodies (truncated?)`,
      bodies ? bodies.at : size,
    );
  }
  if (dataCount && dataCount.count !== (dataSegments?.count ?? 0)) {
    throw new WasmFormatError(
      `the data count section declares ${dataCount.count} segments but the data section holds ${dataSegments?.count ?? 0} (truncated?)`,
      dataSegments ? dataSegments.at : size,
    );
  }
}

/** Parses the structure of a Wasm binary held in memory. Throws WasmFormatError when it is malformed. */
export function inspectModule(bytes: Uint8Array): ModuleInfo {
  const parser = parse(bytes.length);
  let step = parser.next();
  while (!step.done) {
    const { at, length } = step.value;
    step = parser.next(bytes.subarray(at, Math.min(at + length, bytes.length)));
  }
  return step.value;
}

/** Small requests are served from a window of this many bytes, so consecutive section headers cost one read. */
const WINDOW = 64 * 1024;

/**
 * Parses the structure of the Wasm binary at `path` without loading it whole: the header, the section
 * headers and the first bytes of some sections come from positioned reads through a 64 KiB window, and
 * only the import and export sections are read in full. Throws WasmFormatError when it is malformed;
 * file-system errors (ENOENT, EISDIR, ...) are passed on unchanged. The reads are synchronous: a few small
 * reads from the page cache cost less than as many hops to libuv's threadpool and back, on the way to
 * the first block compressed.
 */
export function inspectModuleFile(path: string): Promise<ModuleInfo> {
  return new Promise((resolve) => resolve(inspectFileSync(path)));
}

function inspectFileSync(path: string): ModuleInfo {
  const fd = openSync(path, 'r');
  try {
    const { size } = fstatSync(fd);
    let window = new Uint8Array(0);
    let windowAt = 0;

    const readAt = (at: number, length: number): Uint8Array => {
      const wanted = Math.max(0, Math.min(length, size - at));
      if (at >= windowAt && at + wanted <= windowAt + window.length) {
        return window.subarray(at - windowAt, at - windowAt + wanted);
      }
      const small = wanted <= WINDOW / 4;
      const buffer = new Uint8Array(small ? Math.max(0, Math.min(WINDOW, size - at)) : wanted);
      let filled = 0;
      while (filled < buffer.length) {
        const bytesRead = readSync(fd, buffer, filled, buffer.length - filled, at + filled);
        if (bytesRead === 0) break; // the file shrank since stat(): the parser sees a truncation
        filled += bytesRead;
      }
      const got = buffer.subarray(0, filled);
      if (small) {
        window = got;
        windowAt = at;
      }
      return got.subarray(0, Math.min(wanted, filled));
    };

    const parser = parse(size);
    let step = parser.next();
    while (!step.done) {
      const { at, length } = step.value;
      step = parser.next(readAt(at, length));
    }
    return step.value;
  } finally {
    closeSync(fd);
  }
}
